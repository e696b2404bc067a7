build-asan/bench/w2_switch: bench/w2_switch.c bench/bench.h include/cio.h
bench/bench.h:
include/cio.h:
