build-asan/bench/w1_spawn: bench/w1_spawn.c bench/bench.h include/cio.h
bench/bench.h:
include/cio.h:
