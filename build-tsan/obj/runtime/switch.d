build-tsan/obj/runtime/switch.o: runtime/switch.c runtime/switch.h
runtime/switch.h:
