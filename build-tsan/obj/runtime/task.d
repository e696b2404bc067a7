build-tsan/obj/runtime/task.o: runtime/task.c runtime/task.h \
 runtime/future.h include/cio.h runtime/handle.h runtime/uring.h \
 runtime/debug.h runtime/loop.h runtime/mpsc.h runtime/stack.h \
 runtime/switch.h
runtime/task.h:
runtime/future.h:
include/cio.h:
runtime/handle.h:
runtime/uring.h:
runtime/debug.h:
runtime/loop.h:
runtime/mpsc.h:
runtime/stack.h:
runtime/switch.h:
