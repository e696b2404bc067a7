build-tsan/obj/executors/thread_pool.o: executors/thread_pool.c \
 runtime/future.h include/cio.h runtime/handle.h runtime/loop.h \
 runtime/mpsc.h runtime/stack.h runtime/task.h runtime/future.h \
 runtime/uring.h runtime/task.h
runtime/future.h:
include/cio.h:
runtime/handle.h:
runtime/loop.h:
runtime/mpsc.h:
runtime/stack.h:
runtime/task.h:
runtime/future.h:
runtime/uring.h:
runtime/task.h:
