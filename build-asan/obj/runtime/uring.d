build-asan/obj/runtime/uring.o: runtime/uring.c runtime/uring.h
runtime/uring.h:
