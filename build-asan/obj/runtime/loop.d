build-asan/obj/runtime/loop.o: runtime/loop.c runtime/loop.h \
 include/cio.h runtime/handle.h runtime/mpsc.h runtime/stack.h \
 runtime/task.h runtime/future.h runtime/uring.h runtime/debug.h
runtime/loop.h:
include/cio.h:
runtime/handle.h:
runtime/mpsc.h:
runtime/stack.h:
runtime/task.h:
runtime/future.h:
runtime/uring.h:
runtime/debug.h:
