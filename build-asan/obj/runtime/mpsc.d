build-asan/obj/runtime/mpsc.o: runtime/mpsc.c runtime/mpsc.h
runtime/mpsc.h:
