build-asan/examples/tutorial/03_completion_order: \
 examples/tutorial/03_completion_order.c examples/tutorial/tutorial.h \
 include/cio.h
examples/tutorial/tutorial.h:
include/cio.h:
