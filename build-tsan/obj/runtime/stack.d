build-tsan/obj/runtime/stack.o: runtime/stack.c runtime/stack.h
runtime/stack.h:
