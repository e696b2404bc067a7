build-asan/examples/tutorial/06_callbacks: \
 examples/tutorial/06_callbacks.c examples/tutorial/tutorial.h \
 include/cio.h
examples/tutorial/tutorial.h:
include/cio.h:
