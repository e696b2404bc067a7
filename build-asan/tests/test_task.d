build-asan/tests/test_task: tests/test_task.c include/cio.h
include/cio.h:
