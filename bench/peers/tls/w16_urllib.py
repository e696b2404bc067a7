"""W16's Python peer: N concurrent downloads with urllib on asyncio's default
thread pool (asyncio.to_thread), every body compared with the served file.
Prints the seconds. Run by <build>/bench/w16_curl.

Usage: w16_urllib.py BASE_URL N EXPECTED_FILE
"""
import asyncio
import sys
import time
import urllib.request


def fetch(url):
    with urllib.request.urlopen(url) as r:
        return r.read()


async def main(base, n, expected):
    t0 = time.monotonic()
    bodies = await asyncio.gather(
        *(asyncio.to_thread(fetch, f"{base}/f{i}.bin") for i in range(n)))
    dt = time.monotonic() - t0
    if any(b != expected for b in bodies):
        sys.exit("w16_urllib: a body differs")
    print(f"{dt:.6f}", flush=True)


if __name__ == "__main__":
    with open(sys.argv[3], "rb") as f:
        asyncio.run(main(sys.argv[1], int(sys.argv[2]), f.read()))
