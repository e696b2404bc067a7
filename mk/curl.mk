# cio-curl: libcurl transfers on the loop, its own library (libcio-curl.a/.so,
# include/cio_curl.h, pkg-config cio-curl). Sources in runtime/curl/, tests
# in tests/curl/, benchmark bench/w16_curl.c; examples/download links it.
CURL_SRCS := $(sort $(wildcard runtime/curl/*.c))
CURL_OBJS := $(patsubst %.c,$(BUILD)/obj/%.o,$(CURL_SRCS))
CURL_STATIC := $(BUILD)/libcio-curl.a
CURL_SONAME := libcio-curl.so.$(SOMAJOR)
CURL_SHARED := $(BUILD)/libcio-curl.so.$(VERSION)
CURL_LIBS := -lcurl
CURL_TEST_SRCS := $(sort $(wildcard tests/curl/test_*.c))
CURL_TESTS := $(CURL_TEST_SRCS:tests/%.c=$(BUILD)/tests/%)
CURL_TEST_OBJS := $(patsubst %.c,$(BUILD)/obj/%.o,$(CURL_TEST_SRCS))
CURL_BENCH_SRCS := $(wildcard bench/w16_curl.c)
CURL_BENCH_OBJS := $(patsubst %.c,$(BUILD)/obj/%.o,$(CURL_BENCH_SRCS))
CURL_BENCH := $(CURL_BENCH_OBJS:$(BUILD)/obj/bench/%.o=$(BUILD)/bench/%)
CURL_DIRS := $(BUILD)/obj/runtime/curl $(BUILD)/obj/tests/curl $(BUILD)/tests/curl

$(CURL_OBJS): OBJ_CFLAGS = $(LIB_CFLAGS)
$(CURL_TEST_OBJS): OBJ_CFLAGS = $(TEST_CFLAGS)
$(CURL_OBJS) $(CURL_TEST_OBJS): | $(CURL_DIRS)
$(CURL_DIRS):
	@mkdir -p $@

$(CURL_STATIC): $(CURL_OBJS)
	@rm -f $@
	$(AR) rcs $@ $^

$(CURL_SHARED): $(CURL_OBJS) $(BUILD)/libcio.so
	$(CC) -shared -Wl,-soname,$(CURL_SONAME) -Wl,-z,noexecstack -Wl,-z,defs -o $@ $(CURL_OBJS) \
	    -L$(BUILD) -lcio $(CURL_LIBS) $(SAN_LDFLAGS) $(LDFLAGS)

$(BUILD)/$(CURL_SONAME): $(CURL_SHARED)
	ln -sf libcio-curl.so.$(VERSION) $@

$(BUILD)/libcio-curl.so: $(BUILD)/$(CURL_SONAME)
	ln -sf $(CURL_SONAME) $@

$(CURL_TESTS): $(BUILD)/tests/%: $(BUILD)/obj/tests/%.o $(CURL_STATIC) $(STATIC)
	$(CC) -o $@ $< $(CURL_STATIC) $(STATIC) -lcmocka $(CURL_LIBS) $(LIB_LIBS) -lm $(SAN_LDFLAGS) $(LDFLAGS)

# examples/download and image_pipeline fetch through cio-curl.
EXAMPLE_LIBS_download := $(CURL_STATIC) $(STATIC) $(CURL_LIBS)
EXAMPLE_LIBS_image_pipeline += $(CURL_STATIC) $(STATIC) $(CURL_LIBS)
$(BUILD)/examples/download $(BUILD)/examples/image_pipeline: $(CURL_STATIC)

$(CURL_BENCH): $(BUILD)/bench/%: $(BUILD)/obj/bench/%.o $(CURL_STATIC) $(STATIC)
	@mkdir -p $(@D)
	$(CC) -o $@ $< $(CURL_STATIC) $(STATIC) $(CURL_LIBS) $(LIB_LIBS) -lm $(SAN_LDFLAGS) $(LDFLAGS)

.PHONY: install-curl
install-curl: $(CURL_STATIC) $(BUILD)/libcio-curl.so
	install -d $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(PKGCONFIGDIR)
	install -m 644 include/cio_curl.h $(DESTDIR)$(INCLUDEDIR)/cio_curl.h
	install -m 644 $(CURL_STATIC) $(DESTDIR)$(LIBDIR)/libcio-curl.a
	install -m 755 $(CURL_SHARED) $(DESTDIR)$(LIBDIR)/libcio-curl.so.$(VERSION)
	ln -sf libcio-curl.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(CURL_SONAME)
	ln -sf $(CURL_SONAME) $(DESTDIR)$(LIBDIR)/libcio-curl.so
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' \
	    -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|g' -e 's|@VERSION@|$(VERSION)|g' \
	    mk/cio-curl.pc.in > $(DESTDIR)$(PKGCONFIGDIR)/cio-curl.pc
	chmod 644 $(DESTDIR)$(PKGCONFIGDIR)/cio-curl.pc

MODULE_LIBS += $(CURL_STATIC) $(BUILD)/libcio-curl.so
MODULE_TESTS += $(CURL_TESTS)
MODULE_PROGRAMS += $(CURL_BENCH)
MODULE_INSTALL += install-curl
MODULE_DEPS += build

-include $(CURL_OBJS:.o=.d) $(CURL_TEST_OBJS:.o=.d)
