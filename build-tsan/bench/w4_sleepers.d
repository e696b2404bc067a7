build-tsan/bench/w4_sleepers: bench/w4_sleepers.c bench/bench.h \
 include/cio.h
bench/bench.h:
include/cio.h:
