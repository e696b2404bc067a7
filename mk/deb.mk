# Debian packages: libcio0 (the shared library) and libcio-dev (header,
# static library, pkg-config file, man pages), from debian/.
#
#   make deb          installs the packaging tools if missing, copies the tree
#                     to $(BUILD)/deb/cio-$(VERSION)/, runs
#                     `dpkg-buildpackage -us -uc -b` there (the .debs land in
#                     $(BUILD)/deb/) and lintian (fails on errors)
#   make deb-test     installs the .debs of `make deb` into a temporary root
#                     with dpkg -x and builds and runs a program against them
#                     with pkg-config (tests/deb-test.sh)
#   make deb-symbols  rewrites debian/libcio0.symbols from $(BUILD)/libcio.so
#                     (after an intended API change; the package build fails
#                     on any symbol the file does not list)
#
# The copy keeps dpkg-buildpackage's outputs (it writes to ..) and its
# build-deb/ directory out of the working tree.

DEB_DIR := $(BUILD)/deb
DEB_SRC := $(DEB_DIR)/cio-$(VERSION)

.PHONY: deb deb-build deb-test deb-symbols

deb:
	@$(DEPS) deb
	@$(MAKE) deb-build

deb-build:
	@rm -rf $(DEB_DIR)
	@mkdir -p $(DEB_SRC)
	tar -cf - --exclude=./.git --exclude='./build*' --exclude=./image_pipeline_out . | \
	    tar -xf - -C $(DEB_SRC)
	cd $(DEB_SRC) && dpkg-buildpackage -us -uc -b
	lintian --fail-on error $(DEB_DIR)/libcio0_*.deb $(DEB_DIR)/libcio-dev_*.deb
	@ls $(DEB_DIR)/*.deb

deb-test:
	@bash tests/deb-test.sh $(DEB_DIR)

deb-symbols: $(SHARED)
	bash scripts/deb-symbols.sh $(SHARED) $(VERSION)
