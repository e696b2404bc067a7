"""W7 on Python: 50,000 calls of x+1 through a 2-worker ProcessPoolExecutor,
at most 64 in flight, awaited from asyncio (or uvloop with --uvloop)."""
import asyncio
import concurrent.futures
import sys
import time

QUICK = "-q" in sys.argv
IMPL = "uvloop" if "--uvloop" in sys.argv else "asyncio"


def plus_one(x):
    return x + 1


async def main():
    n = 5_000 if QUICK else 50_000
    loop = asyncio.get_running_loop()
    sem = asyncio.Semaphore(64)
    total = 0
    with concurrent.futures.ProcessPoolExecutor(max_workers=2) as pool:
        await loop.run_in_executor(pool, plus_one, 0)  # workers up before timing

        async def one(i):
            nonlocal total
            async with sem:
                r = await loop.run_in_executor(pool, plus_one, i)
            total += r

        t0 = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(n)))
        dt = time.perf_counter() - t0
    assert total == n * (n - 1) // 2 + n
    print(f"RESULT W7 {IMPL} {n / dt:.6g} calls/s")


if __name__ == "__main__":
    if IMPL == "uvloop":
        import uvloop
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    asyncio.run(main())
