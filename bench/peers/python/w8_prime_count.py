"""W8 on Python: primes below 1,000,000 by trial division in 64 chunks, in
the event loop's thread, in 2 threads, in 2 processes (ProcessPoolExecutor)."""
import asyncio
import concurrent.futures
import sys
import time

IMPL = "uvloop" if "--uvloop" in sys.argv else "asyncio"
LIMIT, CHUNKS = 1_000_000, 64


def count_chunk(i):
    lo, hi = LIMIT * i // CHUNKS, LIMIT * (i + 1) // CHUNKS
    n = 0
    for x in range(max(lo, 2), hi):
        d = 2
        while d * d <= x:
            if x % d == 0:
                break
            d += 1
        else:
            n += 1
    return n


async def in_pool(pool):
    loop = asyncio.get_running_loop()
    return sum(await asyncio.gather(*(loop.run_in_executor(pool, count_chunk, i)
                                      for i in range(CHUNKS))))


async def main():
    t0 = time.perf_counter()
    assert sum(count_chunk(i) for i in range(CHUNKS)) == 78498
    seq = time.perf_counter() - t0
    with concurrent.futures.ThreadPoolExecutor(2) as tp:
        t0 = time.perf_counter()
        assert await in_pool(tp) == 78498
        thr = time.perf_counter() - t0
    with concurrent.futures.ProcessPoolExecutor(2) as pp:
        await asyncio.get_running_loop().run_in_executor(pp, count_chunk, 0)  # workers up
        t0 = time.perf_counter()
        assert await in_pool(pp) == 78498
        prc = time.perf_counter() - t0
    for name, v in (("W8-loop", seq), ("W8-threads", thr), ("W8-processes", prc)):
        print(f"RESULT {name} {IMPL} {v:.6g} s")
    print(f"RESULT W8-speedup-threads {IMPL} {seq / thr:.6g} x")
    print(f"RESULT W8-speedup-processes {IMPL} {seq / prc:.6g} x")


if __name__ == "__main__":
    if IMPL == "uvloop":
        import uvloop
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    asyncio.run(main())
