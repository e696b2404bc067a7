"""W1-W5 of BENCH.md on Python asyncio (or uvloop with --uvloop).

Usage: core.py [W1|W2|W3|W4|W5 ...] [--uvloop] [-q]   (no workload: all five)
Prints the same RESULT lines as the cio programs.
"""
import asyncio
import resource
import sys
import time

QUICK = "-q" in sys.argv
IMPL = "uvloop" if "--uvloop" in sys.argv else "asyncio"


def scale(n):
    if QUICK:
        print("quick run: counts divided by 10", file=sys.stderr)
        return n // 10
    return n


def result(workload, value, unit):
    print(f"RESULT {workload} {IMPL} {value:.6g} {unit}")


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


async def ret_index(i):
    return i


async def w1():
    n = scale(1_000_000)
    total = 0
    t0 = time.perf_counter()
    for base in range(0, n, 10_000):
        tasks = [asyncio.create_task(ret_index(base + i)) for i in range(10_000)]
        total += sum(await asyncio.gather(*tasks))
    dt = time.perf_counter() - t0
    assert total == n * (n - 1) // 2
    result("W1", n / dt, "tasks/s")


async def w2():
    n = scale(1_000_000)
    last = [None]
    errors = [0]

    async def yielder(ident):
        for i in range(n):
            if i and last[0] == ident:
                errors[0] += 1
            last[0] = ident
            await asyncio.sleep(0)

    t0 = time.perf_counter()
    await asyncio.gather(yielder(0), yielder(1))
    dt = time.perf_counter() - t0
    assert errors[0] == 0
    result("W2", 2 * n / dt, "yields/s")


def w3():
    n = scale(1_000_000)
    t0, cpu0 = time.perf_counter(), time.process_time()
    loop = asyncio.new_event_loop()
    fired = [0]

    def fire():
        fired[0] += 1
        if fired[0] == n:
            loop.stop()

    for i in range(n):
        loop.call_later((i % 1000) / 1000.0, fire)
    loop.run_forever()
    dt, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    loop.close()
    assert fired[0] == n
    result("W3-wall", dt, "s")
    result("W3-cpu", cpu, "s")
    result("W3-rss", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, "bytes")


async def w4():
    n = scale(100_000)
    before = rss_bytes()
    during = [0]

    async def sleeper():
        await asyncio.sleep(1.0)
        return None

    asyncio.get_running_loop().call_later(0.5, lambda: during.__setitem__(0, rss_bytes()))
    t0 = time.perf_counter()
    tasks = [asyncio.create_task(sleeper()) for _ in range(n)]
    results = await asyncio.gather(*tasks)
    dt = time.perf_counter() - t0
    assert len(results) == n
    result("W4", dt, "s")
    result("W4-rss", (during[0] - before) / n, "bytes/task")


def w5():
    n = scale(10_000_000)
    loop = asyncio.new_event_loop()
    remaining = [n]

    def link():
        remaining[0] -= 1
        if remaining[0] > 0:
            loop.call_soon(link)
        else:
            loop.stop()

    t0 = time.perf_counter()
    loop.call_soon(link)
    loop.run_forever()
    dt = time.perf_counter() - t0
    loop.close()
    assert remaining[0] == 0
    result("W5", n / dt, "callbacks/s")


def main():
    if IMPL == "uvloop":
        import uvloop
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    chosen = [a for a in sys.argv[1:] if a.startswith("W")]
    if not chosen:
        # One process per workload, so that RSS figures do not inherit a heap.
        import subprocess
        for which in ("W1", "W2", "W3", "W4", "W5"):
            subprocess.run([sys.executable, __file__, which] + sys.argv[1:], check=True)
        return
    for which in chosen:
        if which in ("W3", "W5"):
            {"W3": w3, "W5": w5}[which]()
        else:
            asyncio.run({"W1": w1, "W2": w2, "W4": w4}[which]())


if __name__ == "__main__":
    main()
