"""W12 on Python asyncio: `true` spawned with create_subprocess_exec and
waited 2,000 times, 32 at once.

Usage: w12_spawn.py [-q]
"""
import asyncio
import sys
import time

N = 200 if "-q" in sys.argv else 2000
AT_ONCE = 32


async def spawner(state):
    while state["left"] > 0:
        state["left"] -= 1
        p = await asyncio.create_subprocess_exec("/bin/true")
        rc = await p.wait()
        assert rc == 0, rc


async def main():
    state = {"left": N}
    await asyncio.gather(*(spawner(state) for _ in range(AT_ONCE)))


t0 = time.monotonic()
asyncio.run(main())
print(f"RESULT W12 asyncio {N / (time.monotonic() - t0):.6g} processes/s")
