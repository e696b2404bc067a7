build-tsan/examples/tutorial/04_blocking_pitfall: \
 examples/tutorial/04_blocking_pitfall.c examples/tutorial/tutorial.h \
 include/cio.h
examples/tutorial/tutorial.h:
include/cio.h:
