build-tsan/obj/runtime/io.o: runtime/io.c runtime/loop.h include/cio.h \
 runtime/handle.h runtime/mpsc.h runtime/stack.h runtime/task.h \
 runtime/future.h runtime/uring.h
runtime/loop.h:
include/cio.h:
runtime/handle.h:
runtime/mpsc.h:
runtime/stack.h:
runtime/task.h:
runtime/future.h:
runtime/uring.h:
