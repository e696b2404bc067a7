"""W6 on asyncio / uvloop: to_thread throughput (64 in flight) and round trips."""
import asyncio
import statistics
import sys
import time

QUICK = "-q" in sys.argv
IMPL = "uvloop" if "--uvloop" in sys.argv else "asyncio"


def plus_one(x):
    return x + 1


async def main():
    n = 20_000 if QUICK else 200_000
    sem = asyncio.Semaphore(64)
    total = 0

    async def one(i):
        nonlocal total
        async with sem:
            r = await asyncio.to_thread(plus_one, i)
        total += r

    t0 = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(n)))
    dt = time.perf_counter() - t0
    assert total == n * (n - 1) // 2 + n
    print(f"RESULT W6 {IMPL} {n / dt:.6g} calls/s")
    rtts = []
    for i in range(1_000 if QUICK else 10_000):
        t0 = time.perf_counter()
        assert await asyncio.to_thread(plus_one, i) == i + 1
        rtts.append(time.perf_counter() - t0)
    print(f"RESULT W6-rtt {IMPL} {statistics.median(rtts) * 1e6:.6g} us")


if __name__ == "__main__":
    if IMPL == "uvloop":
        import uvloop
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    asyncio.run(main())
