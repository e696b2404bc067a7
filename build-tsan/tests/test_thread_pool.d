build-tsan/tests/test_thread_pool: tests/test_thread_pool.c include/cio.h
include/cio.h:
