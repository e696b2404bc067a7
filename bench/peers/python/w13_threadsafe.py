"""W13 on Python asyncio: a plain thread submits a coroutine to the running
loop with run_coroutine_threadsafe and waits for Future.result(), 10,000
times in sequence; the median round trip in µs.

Usage: w13_threadsafe.py [-q]
"""
import asyncio
import statistics
import sys
import threading
import time

N = 1000 if "-q" in sys.argv else 10000


async def plus_one(x):
    return x + 1


def submitter(loop, out):
    rt = []
    for i in range(N):
        t0 = time.perf_counter()
        r = asyncio.run_coroutine_threadsafe(plus_one(i), loop).result()
        rt.append(time.perf_counter() - t0)
        assert r == i + 1
    out.append(statistics.median(rt))


async def main():
    out = []
    t = threading.Thread(target=submitter, args=(asyncio.get_running_loop(), out))
    t.start()
    await asyncio.to_thread(t.join)
    return out[0]


median = asyncio.run(main())
print(f"RESULT W13 asyncio {median * 1e6:.6g} us")
