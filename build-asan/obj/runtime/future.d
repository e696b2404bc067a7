build-asan/obj/runtime/future.o: runtime/future.c runtime/future.h \
 include/cio.h runtime/handle.h runtime/debug.h runtime/loop.h \
 runtime/mpsc.h runtime/stack.h runtime/task.h runtime/uring.h
runtime/future.h:
include/cio.h:
runtime/handle.h:
runtime/debug.h:
runtime/loop.h:
runtime/mpsc.h:
runtime/stack.h:
runtime/task.h:
runtime/uring.h:
