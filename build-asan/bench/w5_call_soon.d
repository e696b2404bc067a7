build-asan/bench/w5_call_soon: bench/w5_call_soon.c bench/bench.h \
 include/cio.h
bench/bench.h:
include/cio.h:
