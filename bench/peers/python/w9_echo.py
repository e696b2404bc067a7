"""W9 on Python asyncio (or uvloop with --uvloop): an asyncio streams echo
server in a child process, measured by the same C client as cio's and
libuv's servers (<build>/bench/w9_echo client ...). w11_idle.py reuses the
server from here.

Usage: w9_echo.py [--uvloop] [-q]
"""
import asyncio
import os
import resource
import subprocess
import sys

UVLOOP = "--uvloop" in sys.argv
IMPL = "uvloop" if UVLOOP else "asyncio"
QUICK = ["-q"] if "-q" in sys.argv else []
HERE = os.path.dirname(os.path.abspath(__file__))
BUILD = os.environ.get("BUILD", os.path.join(HERE, "..", "..", "..", "build"))


async def echo(reader, writer):
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    writer.close()


async def serve():
    server = await asyncio.start_server(echo, "127.0.0.1", 0, backlog=4096)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()


def server_main():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if UVLOOP:
        import uvloop
        uvloop.install()
    asyncio.run(serve())


def run(prog, with_pid):
    """Starts this script as the server, then the C client against it."""
    args = [sys.executable, sys.argv[0], "--serve"] + (["--uvloop"] if UVLOOP else [])
    srv = subprocess.Popen(args, stdout=subprocess.PIPE)
    try:
        port = srv.stdout.readline().decode().strip()
        client = [os.path.join(BUILD, "bench", prog), "client", port]
        if with_pid:
            client.append(str(srv.pid))
        rc = subprocess.call(client + [IMPL] + QUICK)
    finally:
        srv.kill()
        srv.wait()
    sys.exit(rc)


if __name__ == "__main__":
    if "--serve" in sys.argv:
        server_main()
    else:
        run("w9_echo", with_pid=False)
