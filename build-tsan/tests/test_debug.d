build-tsan/tests/test_debug: tests/test_debug.c include/cio.h
include/cio.h:
