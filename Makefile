# cio — build, test, install. `make demo` and `make test` are the README's
# two set-up commands; both install missing Debian packages first.
#
# Sources are found by wildcard, so adding a file needs no edit here:
#   runtime/*.c runtime/*.S executors/*.c   -> libcio.a, libcio.so
#   tests/test_*.c                           -> one cmocka binary each
#   tests/stress_*.c                         -> `make stress`
#   examples/<dir>/*.c                       -> one binary per directory
#   examples/tutorial/*.c, bench/*.c         -> one binary per file
#   bench/peers/libuv/*.c                    -> libuv peers (-luv)

BUILD ?= build
SAN ?=
PREFIX ?= /usr/local
DESTDIR ?=
VERSION := 0.1.0

OPT := -O2
SAN_CFLAGS :=
ifeq ($(SAN),asan)
  OPT := -O1
  SAN_CFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
endif
ifeq ($(SAN),tsan)
  OPT := -O1
  SAN_CFLAGS := -fsanitize=thread
endif
SAN_LDFLAGS := $(SAN_CFLAGS)

WARN := -Wall -Wextra -Werror
CFLAGS_BASE := -std=gnu11 $(OPT) -g $(WARN) -D_GNU_SOURCE -Iinclude $(SAN_CFLAGS)
LIB_CFLAGS := $(CFLAGS_BASE) -fPIC -fvisibility=hidden -Iruntime -Iexecutors -MMD -MP
APP_CFLAGS := $(CFLAGS_BASE) -MMD -MP
LIBS := -luring -lpthread

LIB_SRCS := $(wildcard runtime/*.c executors/*.c)
LIB_ASM := $(wildcard runtime/*.S)
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/obj/%.o) $(LIB_ASM:%.S=$(BUILD)/obj/%.o)
STATIC := $(BUILD)/libcio.a
SHARED := $(BUILD)/libcio.so.$(VERSION)

TESTS := $(patsubst tests/%.c,$(BUILD)/tests/%,$(wildcard tests/test_*.c))
STRESS := $(patsubst tests/%.c,$(BUILD)/tests/%,$(wildcard tests/stress_*.c))
EXAMPLE_DIRS := $(filter-out tutorial,$(sort $(notdir $(patsubst %/,%,$(dir $(wildcard examples/*/*.c))))))
EXAMPLES := $(EXAMPLE_DIRS:%=$(BUILD)/examples/%)
TUTORIAL := $(patsubst examples/tutorial/%.c,$(BUILD)/examples/tutorial/%,$(wildcard examples/tutorial/*.c))
BENCH := $(patsubst bench/%.c,$(BUILD)/bench/%,$(wildcard bench/*.c))
BENCH_UV := $(patsubst bench/peers/libuv/%.c,$(BUILD)/bench/peers/libuv/%,$(wildcard bench/peers/libuv/*.c))

.PHONY: all lib test test-run check-exports asan tsan demo bench stress install format clean \
        deps-build deps-test deps-examples deps-bench

all: lib
lib: $(STATIC) $(BUILD)/libcio.so

# ---- the library ----

$(BUILD)/obj/%.o: %.c | $(BUILD)/obj/runtime $(BUILD)/obj/executors
	$(CC) $(LIB_CFLAGS) -c -o $@ $<

$(BUILD)/obj/%.o: %.S | $(BUILD)/obj/runtime
	$(CC) $(LIB_CFLAGS) -c -o $@ $<

$(STATIC): $(LIB_OBJS)
	@rm -f $@
	$(AR) rcs $@ $^

$(SHARED): $(LIB_OBJS)
	$(CC) -shared -Wl,-soname,libcio.so.0 -Wl,-z,noexecstack -o $@ $^ $(LIBS) $(SAN_LDFLAGS)

$(BUILD)/libcio.so: $(SHARED)
	ln -sf libcio.so.$(VERSION) $(BUILD)/libcio.so.0
	ln -sf libcio.so.$(VERSION) $@

$(BUILD)/obj/runtime $(BUILD)/obj/executors $(BUILD)/tests $(BUILD)/examples/tutorial \
$(BUILD)/bench/peers/libuv:
	@mkdir -p $@

# Only cio_* may leave the shared library.
check-exports: $(BUILD)/libcio.so
	@bad=$$(nm -D --defined-only $(SHARED) | awk '{print $$3}' | grep -v '^cio_' | grep -v '^_\(init\|fini\|edata\|end\|_bss_start\)$$' || true); \
	if [ -n "$$bad" ]; then echo "exported symbols without the cio_ prefix:"; echo "$$bad"; exit 1; fi; \
	echo "exports: $$(nm -D --defined-only $(SHARED) | grep -c ' cio_') cio_ symbols, nothing else"

# ---- programs ----

$(BUILD)/tests/%: tests/%.c $(STATIC) | $(BUILD)/tests
	$(CC) $(APP_CFLAGS) -Iruntime -o $@ $< $(STATIC) -lcmocka $(LIBS) -lm $(SAN_LDFLAGS)

define example_rule
$(BUILD)/examples/$(1): $(wildcard examples/$(1)/*.c) $(wildcard examples/$(1)/*.h) $(STATIC)
	@mkdir -p $(BUILD)/examples
	$(CC) $(APP_CFLAGS) -o $$@ $(wildcard examples/$(1)/*.c) $(STATIC) $(LIBS) -lm $(SAN_LDFLAGS)
endef
$(foreach d,$(EXAMPLE_DIRS),$(eval $(call example_rule,$(d))))

$(BUILD)/examples/tutorial/%: examples/tutorial/%.c $(STATIC) | $(BUILD)/examples/tutorial
	$(CC) $(APP_CFLAGS) -o $@ $< $(STATIC) $(LIBS) -lm $(SAN_LDFLAGS)

$(BUILD)/bench/%: bench/%.c $(STATIC) | $(BUILD)/bench/peers/libuv
	$(CC) $(APP_CFLAGS) -o $@ $< $(STATIC) $(LIBS) -lm $(SAN_LDFLAGS)

$(BUILD)/bench/peers/libuv/%: bench/peers/libuv/%.c | $(BUILD)/bench/peers/libuv
	$(CC) $(APP_CFLAGS) -o $@ $< -luv -lpthread -lm

# ---- what people run ----

deps-build:
	@scripts/deps.sh build
deps-test:
	@scripts/deps.sh build test cross
deps-examples:
	@scripts/deps.sh build examples
deps-bench:
	@scripts/deps.sh build examples bench

include mk/switch.mk

test: deps-test
	@$(MAKE) --no-print-directory test-run
	@$(MAKE) --no-print-directory switch-test
	@if command -v aarch64-linux-gnu-gcc >/dev/null && command -v qemu-aarch64 >/dev/null; then \
	    $(MAKE) --no-print-directory switch-test-aarch64; \
	else echo "aarch64 switch test skipped: no cross compiler or qemu-user"; fi

test-run: lib $(TESTS) $(TUTORIAL) $(EXAMPLES) $(BENCH)
	@if [ -z "$(SAN)" ]; then $(MAKE) --no-print-directory check-exports; fi
	@tests/run-tests.sh $(TESTS)

asan: deps-test
	@$(MAKE) --no-print-directory BUILD=build-asan SAN=asan test-run
	@$(MAKE) --no-print-directory BUILD=build-asan SAN=asan switch-test

# The switch-level test switches stacks without the fiber API TSan needs;
# the loop's tests cover the annotated switch under TSan.
tsan: deps-test
	@$(MAKE) --no-print-directory BUILD=build-tsan SAN=tsan test-run

stress: deps-test lib $(STRESS)
	@tests/run-tests.sh $(STRESS)

demo: deps-examples lib $(EXAMPLES) $(TUTORIAL)
	@examples/demo.sh $(BUILD)

bench: deps-bench lib $(BENCH) $(BENCH_UV)
	@BUILD=$(abspath $(BUILD)) bench/run.sh

install: lib
	install -d $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 644 include/cio.h $(DESTDIR)$(PREFIX)/include/cio.h
	install -m 644 $(STATIC) $(DESTDIR)$(PREFIX)/lib/libcio.a
	install -m 755 $(SHARED) $(DESTDIR)$(PREFIX)/lib/libcio.so.$(VERSION)
	ln -sf libcio.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/libcio.so.0
	ln -sf libcio.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/libcio.so
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(VERSION)|g' cio.pc.in \
	    > $(DESTDIR)$(PREFIX)/lib/pkgconfig/cio.pc

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build build-asan build-tsan

-include $(shell find $(BUILD)/obj $(BUILD)/tests $(BUILD)/examples $(BUILD)/bench -name '*.d' 2>/dev/null)
