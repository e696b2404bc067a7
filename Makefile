# cio — build, test, install.
#
# `make demo` and `make test` are the README's two set-up commands; both first
# install whatever Debian packages are missing (scripts/deps.sh).
#
# Sources are found by wildcard: adding a file never needs an edit here.
#   runtime/*.c runtime/*.S executors/*.c  -> $(BUILD)/libcio.a, $(BUILD)/libcio.so
#   tests/test_*.c                          -> $(BUILD)/tests/test_*   (cmocka, `make test`)
#   tests/stress_*.c                        -> $(BUILD)/tests/stress_* (`make stress`)
#   tests/fault_*.c                         -> build-fault/tests/fault_* (`make fault`)
#   examples/<name>/*.c                     -> $(BUILD)/examples/<name> (one binary per directory)
#   examples/common/*.c                     -> linked into every examples/<name> binary
#   examples/tutorial/*.c                   -> $(BUILD)/examples/tutorial/<file> (one per file)
#   bench/*.c                               -> $(BUILD)/bench/<file>
#   bench/peers/libuv/*.c                   -> $(BUILD)/bench/peers/libuv/<file> (-luv, no cio)
#
# One set of rules serves the three builds: build/ (default), build-asan/
# (SAN=asan: ASan+UBSan) and build-tsan/ (SAN=tsan).

MAKEFLAGS += --no-builtin-rules --no-print-directory
.SUFFIXES:
.DELETE_ON_ERROR:
.SECONDEXPANSION:

SAN ?=
ifeq ($(SAN),)
  SAN_CFLAGS :=
else ifeq ($(SAN),asan)
  SAN_CFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else ifeq ($(SAN),tsan)
  SAN_CFLAGS := -fsanitize=thread
else
  $(error SAN must be empty, asan or tsan (got '$(SAN)'))
endif
SAN_LDFLAGS := $(SAN_CFLAGS)

# FAULT=1 compiles the fault-injection points in (-DCIO_FAULT_INJECTION,
# runtime/fault.h); `make fault` uses it with SAN=asan in build-fault/.
FAULT ?=
ifneq ($(FAULT),)
  SAN_CFLAGS += -DCIO_FAULT_INJECTION
  BUILD ?= build-fault
endif
ifneq ($(SAN),)
  BUILD ?= build-$(SAN)
endif
BUILD ?= build

PREFIX ?= /usr/local
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
DESTDIR ?=

VERSION := 0.1.0
SOMAJOR := 0
SONAME := libcio.so.$(SOMAJOR)
REALNAME := libcio.so.$(VERSION)

AR ?= ar
NM ?= nm

# CFLAGS / LDFLAGS given on the command line are appended to ours.
WARN := -Wall -Wextra -Werror
BASE_CFLAGS := -std=gnu11 -O2 -g $(WARN) -D_GNU_SOURCE -Iinclude -MMD -MP $(SAN_CFLAGS)
LIB_CFLAGS := $(BASE_CFLAGS) -fPIC -fvisibility=hidden -Iruntime -Iexecutors $(CFLAGS)
# Unit tests may include internal headers and call hidden functions (they link
# the static library); examples and benchmarks see only the public API.
TEST_CFLAGS := $(BASE_CFLAGS) -Iruntime -Iexecutors $(CFLAGS)
APP_CFLAGS := $(BASE_CFLAGS) $(CFLAGS)
LIB_LIBS := -luring -lpthread

RUNNER := bash tests/run-tests.sh
DEPS := bash scripts/deps.sh

# ---- what there is ----

LIB_SRCS := $(sort $(wildcard runtime/*.c executors/*.c) $(wildcard runtime/*.S))
LIB_OBJS := $(patsubst %,$(BUILD)/obj/%.o,$(basename $(LIB_SRCS)))
ifneq ($(words $(LIB_OBJS)),$(words $(sort $(LIB_OBJS))))
  $(error two library sources share a name (foo.c and foo.S): $(LIB_SRCS))
endif
STATIC := $(BUILD)/libcio.a
SHARED := $(BUILD)/$(REALNAME)
SHARED_LINKS := $(BUILD)/$(SONAME) $(BUILD)/libcio.so

TEST_SRCS := $(sort $(wildcard tests/test_*.c))
STRESS_SRCS := $(sort $(wildcard tests/stress_*.c))
FAULT_SRCS := $(sort $(wildcard tests/fault_*.c))
TESTS := $(TEST_SRCS:tests/%.c=$(BUILD)/tests/%)
# `make check` runs every test binary once per backend (CIO_BACKEND=...);
# backend_probe says whether a backend can start on this host.
CIO_BACKENDS ?= io_uring epoll
PROBE := $(BUILD)/tests/backend_probe
STRESS := $(STRESS_SRCS:tests/%.c=$(BUILD)/tests/%)
FAULTS := $(FAULT_SRCS:tests/%.c=$(BUILD)/tests/%)
TEST_OBJS := $(patsubst %.c,$(BUILD)/obj/%.o,$(TEST_SRCS) $(STRESS_SRCS) $(FAULT_SRCS) tests/backend_probe.c)

EXAMPLE_DIRS := $(filter-out tutorial common,$(sort $(patsubst examples/%/,%,$(dir $(wildcard examples/*/*.c)))))
EXAMPLE_COMMON_OBJS := $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard examples/common/*.c))
EXAMPLES := $(EXAMPLE_DIRS:%=$(BUILD)/examples/%)
EXAMPLE_OBJS := $(patsubst %.c,$(BUILD)/obj/%.o,$(foreach d,$(EXAMPLE_DIRS),$(wildcard examples/$(d)/*.c))) $(EXAMPLE_COMMON_OBJS)
TUTORIAL_SRCS := $(sort $(wildcard examples/tutorial/*.c))
TUTORIAL := $(TUTORIAL_SRCS:examples/tutorial/%.c=$(BUILD)/examples/tutorial/%)

BENCH_SRCS := $(sort $(wildcard bench/*.c))
BENCH := $(BENCH_SRCS:bench/%.c=$(BUILD)/bench/%)
BENCH_UV_SRCS := $(sort $(wildcard bench/peers/libuv/*.c))
BENCH_UV := $(BENCH_UV_SRCS:bench/peers/libuv/%.c=$(BUILD)/bench/peers/libuv/%)
# Plain C peers (no library of ours): bench/peers/c/*.c -> $(BUILD)/bench/peers/c/*
BENCH_C_SRCS := $(sort $(wildcard bench/peers/c/*.c))
BENCH_C := $(BENCH_C_SRCS:bench/peers/c/%.c=$(BUILD)/bench/peers/c/%)
APP_OBJS := $(EXAMPLE_OBJS) $(patsubst %.c,$(BUILD)/obj/%.o,$(TUTORIAL_SRCS) $(BENCH_SRCS) $(BENCH_UV_SRCS))

ALL_OBJS := $(LIB_OBJS) $(TEST_OBJS) $(APP_OBJS)
ALL_BINS := $(STATIC) $(SHARED) $(PROBE) $(TESTS) $(STRESS) $(FAULTS) $(EXAMPLES) $(TUTORIAL) $(BENCH) $(BENCH_UV)
BUILD_DIRS := $(sort $(BUILD) $(patsubst %/,%,$(dir $(ALL_OBJS) $(ALL_BINS))))

# The switch-level test (native, and aarch64 under qemu-user) comes from
# mk/switch.mk when that file exists; it provides switch-test and
# switch-test-aarch64 and may use BUILD, SAN_CFLAGS and SAN_LDFLAGS.
HAVE_SWITCH_MK := $(wildcard mk/switch.mk)

.PHONY: all lib tests programs examples bench-build check-exports \
        test check asan tsan stress stress-run fault fault-run demo demo-run bench bench-run \
        install uninstall format format-check clean

all: lib

lib: $(STATIC) $(SHARED_LINKS) $$(MODULE_LIBS)
tests: $(TESTS)
examples: $(EXAMPLES) $(TUTORIAL)
bench-build: $(BENCH) $(BENCH_UV) $(BENCH_C)
programs: lib tests $(STRESS) examples bench-build

# ---- compiling ----

$(LIB_OBJS): OBJ_CFLAGS = $(LIB_CFLAGS)
$(TEST_OBJS): OBJ_CFLAGS = $(TEST_CFLAGS)
$(APP_OBJS): OBJ_CFLAGS = $(APP_CFLAGS)

$(BUILD)/obj/%.o: %.c | $$(@D)
	$(CC) $(OBJ_CFLAGS) -c -o $@ $<

$(BUILD)/obj/%.o: %.S | $$(@D)
	$(CC) $(OBJ_CFLAGS) -c -o $@ $<

$(BUILD_DIRS):
	@mkdir -p $@

# ---- the library ----

$(STATIC): $(LIB_OBJS) | $(BUILD)
	@rm -f $@
	$(AR) rcs $@ $^

$(SHARED): $(LIB_OBJS) | $(BUILD)
	$(CC) -shared -Wl,-soname,$(SONAME) -Wl,-z,noexecstack -Wl,-z,defs -o $@ $^ \
	    $(LIB_LIBS) $(SAN_LDFLAGS) $(LDFLAGS)

$(BUILD)/$(SONAME): $(SHARED)
	ln -sf $(REALNAME) $@

$(BUILD)/libcio.so: $(BUILD)/$(SONAME)
	ln -sf $(SONAME) $@

# Only cio_* may leave the shared library (CIO_API in include/cio.h).
check-exports: $(SHARED)
	@syms=$$($(NM) -D --defined-only $(SHARED) | awk 'NF >= 3 { print $$3 }'); \
	bad=$$(printf '%s\n' "$$syms" | grep -v -e '^cio_' -e '^$$' || true); \
	if [ -n "$$bad" ]; then \
	    echo "check-exports: $(SHARED) exports symbols without the cio_ prefix:"; \
	    printf '    %s\n' $$bad; \
	    echo "(mark only public API with CIO_API; name it cio_*)"; exit 1; \
	fi; \
	echo "check-exports: $$(printf '%s\n' "$$syms" | grep -c '^cio_') exported symbols, all cio_*"

# ---- programs ----

$(BUILD)/tests/%: $(BUILD)/obj/tests/%.o $(STATIC) | $$(@D)
	$(CC) -o $@ $< $(STATIC) -lcmocka $(LIB_LIBS) -lm $(SAN_LDFLAGS) $(LDFLAGS)

$(PROBE): $(BUILD)/obj/tests/backend_probe.o $(STATIC) | $$(@D)
	$(CC) -o $@ $< $(STATIC) $(LIB_LIBS) $(SAN_LDFLAGS) $(LDFLAGS)

define example_rule
$(BUILD)/examples/$(1): $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard examples/$(1)/*.c)) $(EXAMPLE_COMMON_OBJS) $(STATIC) | $(BUILD)/examples
	$$(CC) -o $$@ $$(filter %.o,$$^) $(STATIC) $$(EXAMPLE_LIBS_$(1)) $(LIB_LIBS) -lm $(SAN_LDFLAGS) $(LDFLAGS)
endef
# Libraries an example needs beyond cio (Debian's stb for image formats).
EXAMPLE_LIBS_image_pipeline := -lstb
$(foreach d,$(EXAMPLE_DIRS),$(eval $(call example_rule,$(d))))

$(BUILD)/examples/tutorial/%: $(BUILD)/obj/examples/tutorial/%.o $(STATIC) | $$(@D)
	$(CC) -o $@ $< $(STATIC) $(LIB_LIBS) -lm $(SAN_LDFLAGS) $(LDFLAGS)

$(BUILD)/bench/peers/libuv/%: $(BUILD)/obj/bench/peers/libuv/%.o | $$(@D)
	$(CC) -o $@ $< -luv -lpthread -lm $(SAN_LDFLAGS) $(LDFLAGS)

$(BUILD)/bench/peers/c/%: bench/peers/c/%.c
	@mkdir -p $(@D)
	$(CC) $(filter-out -MMD -MP,$(BASE_CFLAGS)) -o $@ $< $(SAN_LDFLAGS) $(LDFLAGS)

$(BUILD)/bench/%: $(BUILD)/obj/bench/%.o $(STATIC) | $$(@D)
	$(CC) -o $@ $< $(STATIC) $(LIB_LIBS) -lm $(SAN_LDFLAGS) $(LDFLAGS)

-include $(ALL_OBJS:.o=.d)

# Every mk/*.mk is part of the build. An optional module (cio-tls, cio-curl,
# cio-mpi, ...) brings its own mk/<module>.mk and plugs in by appending to:
#   MODULE_LIBS      its libraries (built by `make lib`)
#   MODULE_TESTS     its test binaries (run by `make check` beside $(TESTS))
#   MODULE_PROGRAMS  its examples and other programs (built by `make check`)
#   MODULE_INSTALL   install targets (run by `make install`)
#   MODULE_DEPS      scripts/deps.sh groups that `make test` installs too
# A module's packages are listed in scripts/deps.d/<module>.txt.
MODULE_LIBS :=
MODULE_TESTS :=
MODULE_PROGRAMS :=
MODULE_INSTALL :=
MODULE_DEPS :=
include $(sort $(wildcard mk/*.mk))

# ---- what people run ----
# Each public target installs its packages first, then runs a second make so
# that nothing compiles (even with -j) before the packages are there.

test:
	@$(DEPS) build test cross $(MODULE_DEPS)
	@$(MAKE) check

# check = `make test` without the package step. Runs everything, then fails
# if anything failed: exported symbols, the switch-level tests, every unit test.
# It also compiles (never runs) the tutorial and the cio benchmarks, which need
# no package beyond the library's, so API changes that break them fail here.
check: lib $(PROBE) $(TESTS) $(TUTORIAL) $(BENCH) $(EXAMPLES) $(MODULE_TESTS) $(MODULE_PROGRAMS)
	@rc=0; \
	if [ -z "$(SAN)" ]; then $(MAKE) check-exports || rc=1; fi; \
	if [ -n "$(HAVE_SWITCH_MK)" ]; then \
	    $(MAKE) switch-test || { rc=1; echo "switch-test FAILED"; }; \
	    if [ -z "$(SAN)" ]; then \
	        if command -v aarch64-linux-gnu-gcc >/dev/null && command -v qemu-aarch64 >/dev/null; then \
	            $(MAKE) switch-test-aarch64 || { rc=1; echo "switch-test-aarch64 FAILED"; }; \
	        else echo "switch-test-aarch64 skipped: no aarch64-linux-gnu-gcc or qemu-aarch64"; fi; \
	    fi; \
	fi; \
	for b in $(CIO_BACKENDS); do \
	    if $(PROBE) $$b >/dev/null; then \
	        echo "== tests on the $$b backend ($(BUILD))"; \
	        CIO_BACKEND=$$b $(RUNNER) $(TESTS) $(MODULE_TESTS) || rc=1; \
	    else echo "== tests on the $$b backend SKIPPED: $$($(PROBE) $$b)"; fi; \
	done; \
	if [ $$rc -ne 0 ]; then echo "make check ($(BUILD)): FAILED"; fi; \
	exit $$rc

asan:
	@$(DEPS) build test
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	 CIO_TEST_TIMEOUT=$${CIO_TEST_TIMEOUT:-2} \
	 $(MAKE) SAN=asan BUILD=build-asan check

tsan:
	@$(DEPS) build test
	@TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
	 CIO_TEST_TIMEOUT=$${CIO_TEST_TIMEOUT:-3} \
	 $(MAKE) SAN=tsan BUILD=build-tsan check

stress:
	@$(DEPS) build test
	@$(MAKE) stress-run

stress-run: $(STRESS) $(PROBE)
	@rc=0; for b in $(CIO_BACKENDS); do \
	    if $(PROBE) $$b >/dev/null; then \
	        echo "== stress on the $$b backend"; CIO_BACKEND=$$b $(RUNNER) $(STRESS) || rc=1; \
	    else echo "== stress on the $$b backend SKIPPED: $$($(PROBE) $$b)"; fi; \
	done; exit $$rc

# Fault injection under ASan+UBSan: every tests/fault_*.c, in build-fault/.
fault:
	@$(DEPS) build test
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	 $(MAKE) SAN=asan FAULT=1 BUILD=build-fault fault-run

ifeq ($(FAULT),)
fault-run:
	@echo "fault-run: needs FAULT=1 (use make fault)"; exit 1
else
fault-run: $(FAULTS) $(PROBE)
	@rc=0; for b in $(CIO_BACKENDS); do \
	    if $(PROBE) $$b >/dev/null; then \
	        echo "== fault injection on the $$b backend"; \
	        CIO_BACKEND=$$b $(RUNNER) $(FAULTS) || rc=1; \
	    else echo "== fault injection on the $$b backend SKIPPED: $$($(PROBE) $$b)"; fi; \
	done; exit $$rc
endif

demo:
	@$(DEPS) build examples $(MODULE_DEPS)
	@$(MAKE) demo-run

demo-run: lib examples
	@if [ -f examples/demo.sh ]; then bash examples/demo.sh $(BUILD); \
	else echo "make demo: built $(words $(EXAMPLES) $(TUTORIAL)) example(s); nothing to run yet (no examples/demo.sh)"; fi

# QUICK=1 (from the command line or the environment) reaches bench/run.sh.
ifdef QUICK
export QUICK
endif
bench:
	@$(DEPS) build bench
	@$(MAKE) bench-run

bench-run: lib bench-build
	@if [ -f bench/run.sh ]; then BUILD=$(abspath $(BUILD)) bash bench/run.sh; \
	else echo "make bench: built $(words $(BENCH) $(BENCH_UV)) benchmark(s); nothing to run yet (no bench/run.sh)"; fi

# ---- install ----

install: lib $(MODULE_INSTALL)
	install -d $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(PKGCONFIGDIR)
	install -m 644 include/cio.h $(DESTDIR)$(INCLUDEDIR)/cio.h
	install -m 644 $(STATIC) $(DESTDIR)$(LIBDIR)/libcio.a
	install -m 755 $(SHARED) $(DESTDIR)$(LIBDIR)/$(REALNAME)
	ln -sf $(REALNAME) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libcio.so
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' \
	    -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|g' -e 's|@VERSION@|$(VERSION)|g' \
	    cio.pc.in > $(DESTDIR)$(PKGCONFIGDIR)/cio.pc
	chmod 644 $(DESTDIR)$(PKGCONFIGDIR)/cio.pc

uninstall:
	rm -f $(DESTDIR)$(INCLUDEDIR)/cio.h $(DESTDIR)$(LIBDIR)/libcio.a \
	    $(DESTDIR)$(LIBDIR)/$(REALNAME) $(DESTDIR)$(LIBDIR)/$(SONAME) \
	    $(DESTDIR)$(LIBDIR)/libcio.so $(DESTDIR)$(PKGCONFIGDIR)/cio.pc

# ---- housekeeping ----

FORMAT_FILES = $(shell find include runtime executors tests examples bench -name '*.[ch]' 2>/dev/null | sort)

format:
	@command -v clang-format >/dev/null || { echo "format: clang-format is not installed (apt-get install clang-format)"; exit 1; }
	clang-format -i $(FORMAT_FILES)

format-check:
	@command -v clang-format >/dev/null || { echo "format-check: clang-format is not installed (apt-get install clang-format)"; exit 1; }
	clang-format --dry-run -Werror $(FORMAT_FILES)

clean:
	rm -rf build build-asan build-tsan build-fault $(BUILD)
