"""W15's peer servers: the asyncio streams echo server of W9 behind TLS
(Python's ssl, the same OpenSSL), on asyncio or uvloop (--uvloop). Prints
its port, then serves until killed. Started by <build>/bench/w15_tls.

Usage: w15_server.py CERT KEY [--uvloop]
"""
import asyncio
import ssl
import sys


async def echo(reader, writer):
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, ssl.SSLError):
        pass
    writer.close()


async def serve(ctx):
    server = await asyncio.start_server(echo, "127.0.0.1", 0, ssl=ctx, backlog=4096)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()


def main():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(sys.argv[1], sys.argv[2])
    if "--uvloop" in sys.argv:
        import uvloop
        uvloop.install()
    asyncio.run(serve(ctx))


if __name__ == "__main__":
    main()
