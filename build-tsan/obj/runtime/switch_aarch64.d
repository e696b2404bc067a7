build-tsan/obj/runtime/switch_aarch64.o: runtime/switch_aarch64.S
