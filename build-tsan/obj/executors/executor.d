build-tsan/obj/executors/executor.o: executors/executor.c runtime/loop.h \
 include/cio.h runtime/handle.h runtime/mpsc.h runtime/stack.h \
 runtime/task.h runtime/future.h runtime/uring.h runtime/task.h
runtime/loop.h:
include/cio.h:
runtime/handle.h:
runtime/mpsc.h:
runtime/stack.h:
runtime/task.h:
runtime/future.h:
runtime/uring.h:
runtime/task.h:
