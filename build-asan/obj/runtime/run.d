build-asan/obj/runtime/run.o: runtime/run.c runtime/debug.h include/cio.h \
 runtime/loop.h runtime/handle.h runtime/mpsc.h runtime/stack.h \
 runtime/task.h runtime/future.h runtime/uring.h
runtime/debug.h:
include/cio.h:
runtime/loop.h:
runtime/handle.h:
runtime/mpsc.h:
runtime/stack.h:
runtime/task.h:
runtime/future.h:
runtime/uring.h:
