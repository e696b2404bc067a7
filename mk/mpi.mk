# cio-mpi: an executor on MPI ranks (include/cio_mpi.h), its own library
# $(BUILD)/libcio-mpi.a / .so (pkg-config cio-mpi) on Open MPI, so that the
# core libcio never links MPI. Sources in executors/mpi/ (out of the core's
# executors/*.c wildcard), its test in tests/mpi/, its benchmark in bench/mpi/.
# Open MPI comes from scripts/deps.d/mpi.txt; while it is not installed the
# module is left out of the build (`make test` / `make demo` install it first).
#
# With the module, build/examples/prime_count links it too (--mode mpi);
# without it prime_count builds without that mode (a weak reference).

MPI_PKG_CFLAGS := $(shell pkg-config --cflags ompi-c 2>/dev/null)
MPI_PKG_LIBS := $(shell pkg-config --libs ompi-c 2>/dev/null)
HAVE_MPI := $(if $(MPI_PKG_LIBS),1,)

ifneq ($(HAVE_MPI),)

MPI_SRCS := $(sort $(wildcard executors/mpi/*.c))
MPI_OBJS := $(patsubst %.c,$(BUILD)/obj/%.o,$(MPI_SRCS))
MPI_STATIC := $(BUILD)/libcio-mpi.a
MPI_SONAME := libcio-mpi.so.$(SOMAJOR)
MPI_REALNAME := libcio-mpi.so.$(VERSION)
MPI_SHARED := $(BUILD)/$(MPI_REALNAME)
MPI_TEST := $(BUILD)/tests/mpi/test_mpi
MPI_TEST_RUN := $(BUILD)/tests/mpi/run_test_mpi
MPI_BENCH := $(BUILD)/bench/w17_mpi
MPI_APP_OBJS := $(BUILD)/obj/tests/mpi/test_mpi.o $(BUILD)/obj/bench/mpi/w17_mpi.o
MPI_DIRS := $(filter-out $(BUILD_DIRS),$(sort $(patsubst %/,%,$(dir $(MPI_OBJS) $(MPI_APP_OBJS) $(MPI_TEST) $(MPI_BENCH)))))

$(MPI_OBJS): OBJ_CFLAGS = $(LIB_CFLAGS) $(MPI_PKG_CFLAGS) -Iexecutors/mpi
$(MPI_APP_OBJS): OBJ_CFLAGS = $(APP_CFLAGS)

$(MPI_DIRS):
	@mkdir -p $@

$(MPI_STATIC): $(MPI_OBJS) | $(BUILD)
	@rm -f $@
	$(AR) rcs $@ $^

$(MPI_SHARED): $(MPI_OBJS) $(SHARED_LINKS) | $(BUILD)
	$(CC) -shared -Wl,-soname,$(MPI_SONAME) -Wl,-z,noexecstack -Wl,-z,defs -o $@ $(MPI_OBJS) \
	    -L$(BUILD) -lcio $(MPI_PKG_LIBS) -ldl -lpthread $(SAN_LDFLAGS) $(LDFLAGS)

$(BUILD)/$(MPI_SONAME): $(MPI_SHARED)
	ln -sf $(MPI_REALNAME) $@

$(BUILD)/libcio-mpi.so: $(BUILD)/$(MPI_SONAME)
	ln -sf $(MPI_SONAME) $@

# Programs link the static libraries: the module before the core it uses.
MPI_PROGRAM_LIBS := $(MPI_STATIC) $(STATIC) $(MPI_PKG_LIBS) -ldl $(LIB_LIBS) -lm

$(MPI_TEST): $(BUILD)/obj/tests/mpi/test_mpi.o $(MPI_STATIC) $(STATIC) | $$(@D)
	$(CC) -rdynamic -o $@ $< $(MPI_STATIC) $(STATIC) -lcmocka $(MPI_PKG_LIBS) -ldl $(LIB_LIBS) -lm \
	    $(SAN_LDFLAGS) $(LDFLAGS)

# The runner starts the ranks: mpirun --oversubscribe -np 3 (and the checks
# that need their own runs: a crashing job, a mismatched binary).
# It also runs image_pipeline --executor mpi against its process-pool mode.
$(MPI_TEST_RUN): tests/mpi/run_test_mpi.sh tests/mpi/lsan.supp tests/mpi/tsan.supp $(MPI_TEST) \
    $(BUILD)/examples/image_pipeline | $$(@D)
	cp tests/mpi/lsan.supp tests/mpi/tsan.supp $(@D)/
	cp $< $@
	chmod +x $@

$(MPI_BENCH): $(BUILD)/obj/bench/mpi/w17_mpi.o $(MPI_STATIC) $(STATIC) | $$(@D)
	$(CC) -o $@ $< $(MPI_PROGRAM_LIBS) $(SAN_LDFLAGS) $(LDFLAGS)

# prime_count --mode mpi (EXAMPLE_LIBS_<name> is expanded when linking).
EXAMPLE_LIBS_prime_count := $(MPI_STATIC) $(STATIC) $(MPI_PKG_LIBS) -ldl
$(BUILD)/examples/prime_count: $(MPI_STATIC)
# image_pipeline --executor mpi likewise (its references are all weak: -u
# pulls the module in).
EXAMPLE_LIBS_image_pipeline += -Wl,-u,cio_mpi_main $(MPI_STATIC) $(STATIC) $(MPI_PKG_LIBS) -ldl
$(BUILD)/examples/image_pipeline: $(MPI_STATIC)

.PHONY: install-mpi uninstall-mpi
install-mpi: $(MPI_STATIC) $(BUILD)/libcio-mpi.so
	install -d $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(PKGCONFIGDIR)
	install -m 644 include/cio_mpi.h $(DESTDIR)$(INCLUDEDIR)/cio_mpi.h
	install -m 644 $(MPI_STATIC) $(DESTDIR)$(LIBDIR)/libcio-mpi.a
	install -m 755 $(MPI_SHARED) $(DESTDIR)$(LIBDIR)/$(MPI_REALNAME)
	ln -sf $(MPI_REALNAME) $(DESTDIR)$(LIBDIR)/$(MPI_SONAME)
	ln -sf $(MPI_SONAME) $(DESTDIR)$(LIBDIR)/libcio-mpi.so
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' \
	    -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|g' -e 's|@VERSION@|$(VERSION)|g' \
	    cio-mpi.pc.in > $(DESTDIR)$(PKGCONFIGDIR)/cio-mpi.pc
	chmod 644 $(DESTDIR)$(PKGCONFIGDIR)/cio-mpi.pc

uninstall-mpi:
	rm -f $(DESTDIR)$(INCLUDEDIR)/cio_mpi.h $(DESTDIR)$(LIBDIR)/libcio-mpi.a \
	    $(DESTDIR)$(LIBDIR)/$(MPI_REALNAME) $(DESTDIR)$(LIBDIR)/$(MPI_SONAME) \
	    $(DESTDIR)$(LIBDIR)/libcio-mpi.so $(DESTDIR)$(PKGCONFIGDIR)/cio-mpi.pc

MODULE_LIBS += $(MPI_STATIC) $(BUILD)/libcio-mpi.so
MODULE_TESTS += $(MPI_TEST_RUN)
MODULE_PROGRAMS += $(MPI_TEST) $(MPI_BENCH)
MODULE_INSTALL += install-mpi

-include $(MPI_OBJS:.o=.d) $(MPI_APP_OBJS:.o=.d)

endif
