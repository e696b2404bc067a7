build-tsan/tests/test_loop: tests/test_loop.c include/cio.h
include/cio.h:
