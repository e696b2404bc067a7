build-tsan/obj/runtime/switch_x86_64.o: runtime/switch_x86_64.S
