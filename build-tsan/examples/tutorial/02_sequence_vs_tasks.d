build-tsan/examples/tutorial/02_sequence_vs_tasks: \
 examples/tutorial/02_sequence_vs_tasks.c examples/tutorial/tutorial.h \
 include/cio.h
examples/tutorial/tutorial.h:
include/cio.h:
