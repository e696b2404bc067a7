# cio-tls: TLS streams on OpenSSL, its own library (libcio-tls.a/.so,
# include/cio_tls.h, pkg-config cio-tls). Sources in runtime/tls/, tests in
# tests/tls/, the example in examples/tls_echo/, the benchmark bench/w15_tls.c.
TLS_SRCS := $(sort $(wildcard runtime/tls/*.c))
TLS_OBJS := $(patsubst %.c,$(BUILD)/obj/%.o,$(TLS_SRCS))
TLS_STATIC := $(BUILD)/libcio-tls.a
TLS_SONAME := libcio-tls.so.$(SOMAJOR)
TLS_SHARED := $(BUILD)/libcio-tls.so.$(VERSION)
TLS_LIBS := -lssl -lcrypto
TLS_TEST_SRCS := $(sort $(wildcard tests/tls/test_*.c))
TLS_TESTS := $(TLS_TEST_SRCS:tests/%.c=$(BUILD)/tests/%)
TLS_TEST_OBJS := $(patsubst %.c,$(BUILD)/obj/%.o,$(TLS_TEST_SRCS))
TLS_BENCH_SRCS := $(wildcard bench/w15_tls.c)
TLS_BENCH_OBJS := $(patsubst %.c,$(BUILD)/obj/%.o,$(TLS_BENCH_SRCS))
TLS_DIRS := $(BUILD)/obj/runtime/tls $(BUILD)/obj/tests/tls $(BUILD)/tests/tls

$(TLS_OBJS): OBJ_CFLAGS = $(LIB_CFLAGS)
$(TLS_TEST_OBJS): OBJ_CFLAGS = $(TEST_CFLAGS)
$(TLS_OBJS) $(TLS_TEST_OBJS): | $(TLS_DIRS)
$(TLS_DIRS):
	@mkdir -p $@

$(TLS_STATIC): $(TLS_OBJS)
	@rm -f $@
	$(AR) rcs $@ $^

$(TLS_SHARED): $(TLS_OBJS) $(BUILD)/libcio.so
	$(CC) -shared -Wl,-soname,$(TLS_SONAME) -Wl,-z,noexecstack -Wl,-z,defs -o $@ $(TLS_OBJS) \
	    -L$(BUILD) -lcio $(TLS_LIBS) $(SAN_LDFLAGS) $(LDFLAGS)

$(BUILD)/$(TLS_SONAME): $(TLS_SHARED)
	ln -sf libcio-tls.so.$(VERSION) $@

$(BUILD)/libcio-tls.so: $(BUILD)/$(TLS_SONAME)
	ln -sf $(TLS_SONAME) $@

$(TLS_TESTS): $(BUILD)/tests/%: $(BUILD)/obj/tests/%.o $(TLS_STATIC) $(STATIC)
	$(CC) -o $@ $< $(TLS_STATIC) $(STATIC) -lcmocka $(TLS_LIBS) $(LIB_LIBS) -lm $(SAN_LDFLAGS) $(LDFLAGS)

# The TLS echo example: the generic example rule links $(EXAMPLE_LIBS_tls_echo).
EXAMPLE_LIBS_tls_echo := $(TLS_STATIC) $(STATIC) $(TLS_LIBS)
$(BUILD)/examples/tls_echo: $(TLS_STATIC)

# The benchmark links the module too (the generic bench rule cannot).
$(TLS_BENCH_OBJS:$(BUILD)/obj/bench/%.o=$(BUILD)/bench/%): $(BUILD)/bench/%: $(BUILD)/obj/bench/%.o $(TLS_STATIC) $(STATIC)
	@mkdir -p $(@D)
	$(CC) -o $@ $< $(TLS_STATIC) $(STATIC) $(TLS_LIBS) $(LIB_LIBS) -lm $(SAN_LDFLAGS) $(LDFLAGS)

.PHONY: install-tls
install-tls: $(TLS_STATIC) $(BUILD)/libcio-tls.so
	install -d $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(PKGCONFIGDIR)
	install -m 644 include/cio_tls.h $(DESTDIR)$(INCLUDEDIR)/cio_tls.h
	install -m 644 $(TLS_STATIC) $(DESTDIR)$(LIBDIR)/libcio-tls.a
	install -m 755 $(TLS_SHARED) $(DESTDIR)$(LIBDIR)/libcio-tls.so.$(VERSION)
	ln -sf libcio-tls.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(TLS_SONAME)
	ln -sf $(TLS_SONAME) $(DESTDIR)$(LIBDIR)/libcio-tls.so
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' \
	    -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|g' -e 's|@VERSION@|$(VERSION)|g' \
	    mk/cio-tls.pc.in > $(DESTDIR)$(PKGCONFIGDIR)/cio-tls.pc
	chmod 644 $(DESTDIR)$(PKGCONFIGDIR)/cio-tls.pc

MODULE_LIBS += $(TLS_STATIC) $(BUILD)/libcio-tls.so
MODULE_TESTS += $(TLS_TESTS)
MODULE_PROGRAMS += $(TLS_BENCH_OBJS:$(BUILD)/obj/bench/%.o=$(BUILD)/bench/%)
MODULE_INSTALL += install-tls
MODULE_DEPS += build

-include $(TLS_OBJS:.o=.d) $(TLS_TEST_OBJS:.o=.d)
