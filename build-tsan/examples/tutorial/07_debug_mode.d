build-tsan/examples/tutorial/07_debug_mode: \
 examples/tutorial/07_debug_mode.c examples/tutorial/tutorial.h \
 include/cio.h
examples/tutorial/tutorial.h:
include/cio.h:
