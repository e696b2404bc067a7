# The switch-level test: the context switch and the stack pool alone, with no
# loop and no io_uring, natively and for aarch64 under qemu-user.
CC ?= cc
BUILD ?= build
SWITCH_SRCS := runtime/switch.c runtime/stack.c runtime/stack_trim.c runtime/madv.c runtime/switch_x86_64.S runtime/switch_aarch64.S tests/switch_test.c
SWITCH_CFLAGS := -std=gnu11 -O2 -g -Wall -Wextra -Werror -D_GNU_SOURCE -Iruntime -Iinclude

.PHONY: switch-test switch-test-aarch64

$(BUILD)/tests/switch_test: $(SWITCH_SRCS) runtime/switch.h runtime/stack.h runtime/madv.h
	@mkdir -p $(dir $@)
	$(CC) $(SWITCH_CFLAGS) $(SAN_CFLAGS) -UCIO_FAULT_INJECTION -o $@ $(SWITCH_SRCS) -lm $(SAN_LDFLAGS)

switch-test: $(BUILD)/tests/switch_test
	$(BUILD)/tests/switch_test

$(BUILD)/tests/switch_test-aarch64: $(SWITCH_SRCS) runtime/switch.h runtime/stack.h runtime/madv.h
	@mkdir -p $(dir $@)
	aarch64-linux-gnu-gcc $(SWITCH_CFLAGS) -static -o $@ $(SWITCH_SRCS) -lm

switch-test-aarch64: $(BUILD)/tests/switch_test-aarch64
	qemu-aarch64 $(BUILD)/tests/switch_test-aarch64
