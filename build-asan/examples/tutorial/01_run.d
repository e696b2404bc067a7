build-asan/examples/tutorial/01_run: examples/tutorial/01_run.c \
 examples/tutorial/tutorial.h include/cio.h
examples/tutorial/tutorial.h:
include/cio.h:
