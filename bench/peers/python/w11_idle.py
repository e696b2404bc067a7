"""W11 on Python asyncio (or uvloop with --uvloop): 10,000 idle connections
to an asyncio streams echo server, measured by the same client as cio's
(build/bench/w11_idle client).

Usage: w11_idle.py [--uvloop] [-q]
"""
import sys

import w9_echo

if __name__ == "__main__":
    if "--serve" in sys.argv:
        w9_echo.server_main()
    else:
        w9_echo.run("w11_idle", with_pid=True)
