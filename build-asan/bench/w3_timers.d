build-asan/bench/w3_timers: bench/w3_timers.c bench/bench.h include/cio.h
bench/bench.h:
include/cio.h:
