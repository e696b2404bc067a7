build-tsan/obj/runtime/handle.o: runtime/handle.c runtime/handle.h \
 include/cio.h
runtime/handle.h:
include/cio.h:
