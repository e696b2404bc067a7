# Fuzzing with libFuzzer: every fuzz/*.c is one target, linked with the whole
# library built again with clang and -fsanitize=fuzzer-no-link,address,undefined
# (the library's code is what gets the coverage feedback).
#
#   make fuzz                 builds $(BUILD)/fuzz/<target>, runs each one for
#                             FUZZ_SECONDS (default 20) from fuzz/corpus/<target>
#   make fuzz-build           builds only
#   make FUZZ_SECONDS=600 fuzz
#
# New inputs are kept in $(BUILD)/fuzz/corpus/<target> (the committed seeds
# stay as they are); crashes land in $(BUILD)/fuzz/ as crash-<sha1>.
# Examples' sources a target needs are #included by the target itself.

FUZZ_CC ?= clang
FUZZ_SECONDS ?= 20
FUZZ_FLAGS ?=
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_CFLAGS := -std=gnu11 -O1 -g -Wall -Wextra -Werror -D_GNU_SOURCE -Iinclude -Iruntime \
    -Iexecutors $(FUZZ_SAN)
FUZZ_DIR := $(BUILD)/fuzz

FUZZ_SRCS := $(sort $(wildcard fuzz/*.c))
FUZZ_BINS := $(FUZZ_SRCS:fuzz/%.c=$(FUZZ_DIR)/%)
FUZZ_LIB_OBJS := $(patsubst %,$(FUZZ_DIR)/obj/%.o,$(basename $(LIB_SRCS)))
FUZZ_LIB := $(FUZZ_DIR)/libcio-fuzz.a

.PHONY: fuzz fuzz-build fuzz-run

$(FUZZ_DIR)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -fvisibility=hidden -MMD -MP -c -o $@ $<

$(FUZZ_DIR)/obj/%.o: %.S
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -c -o $@ $<

$(FUZZ_LIB): $(FUZZ_LIB_OBJS)
	@rm -f $@
	$(AR) rcs $@ $^

$(FUZZ_BINS): $(FUZZ_DIR)/%: $(FUZZ_DIR)/obj/fuzz/%.o $(FUZZ_LIB)
	$(FUZZ_CC) -fsanitize=fuzzer $(FUZZ_SAN) -o $@ $< $(FUZZ_LIB) $(LIB_LIBS) -lm

-include $(FUZZ_LIB_OBJS:.o=.d) $(FUZZ_SRCS:fuzz/%.c=$(FUZZ_DIR)/obj/fuzz/%.d)

fuzz-build: $(FUZZ_BINS)

# clang and its runtime (clang, libclang-rt-dev) are not in scripts/deps.sh's
# groups: say so plainly instead of failing in the middle of a compile.
fuzz:
	@$(DEPS) build
	@command -v $(FUZZ_CC) >/dev/null || { echo "fuzz: $(FUZZ_CC) is not installed (apt-get install clang libclang-rt-dev)"; exit 1; }
	@$(MAKE) fuzz-run

# Each target runs for FUZZ_SECONDS; the first failure stops the run (and
# fails make) with the reproducer's path printed by libFuzzer.
fuzz-run: fuzz-build
	@set -e; for t in $(FUZZ_SRCS:fuzz/%.c=%); do \
	    mkdir -p $(FUZZ_DIR)/corpus/$$t; \
	    echo "fuzz: $$t for $(FUZZ_SECONDS) s"; \
	    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	    UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	    $(FUZZ_DIR)/$$t -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=2048 \
	        -max_len=12288 -print_final_stats=1 -artifact_prefix=$(FUZZ_DIR)/ $(FUZZ_FLAGS) \
	        $(FUZZ_DIR)/corpus/$$t fuzz/corpus/$$t; \
	done
