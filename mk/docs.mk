# The reference: HTML and man pages (section 3) from include/*.h with Doxygen.
#
#   make docs          installs doxygen if missing, then writes
#                      $(BUILD)/docs/html/index.html and $(BUILD)/docs/man/man3/*.3
#   make docs-check    fails when a public declaration has no comment (always),
#                      or when Doxygen warns (when doxygen is installed)
#   make install       also installs the man pages (and the HTML) when doxygen
#                      is installed
#
# The headers keep plain comments; scripts/cio-doc-filter.py (Doxygen's
# INPUT_FILTER) reads them as doc comments and their banners as groups, and
# scripts/cio-man.py writes one page per function, type and macro from
# Doxygen's XML. `make test` runs tests/docs-check.sh (the check above, plus
# the man pages' sections) and tests/guide-test.sh (every ```c block of
# docs/guide.md that has a main() is compiled against this tree and run).

DOCS_DIR := $(BUILD)/docs
DOCS_HEADERS := $(sort $(wildcard include/*.h))
DOCS_STAMP := $(DOCS_DIR)/.built
MANDIR ?= $(PREFIX)/share/man
DOCDIR ?= $(PREFIX)/share/doc/cio

.PHONY: docs docs-build docs-check install-docs

docs:
	@$(DEPS) docs
	@$(MAKE) docs-build

docs-build: $(DOCS_STAMP)

$(DOCS_STAMP): $(DOCS_HEADERS) docs/Doxyfile scripts/cio-doc-filter.py scripts/cio-man.py
	@rm -rf $(DOCS_DIR)/html $(DOCS_DIR)/xml $(DOCS_DIR)/man $@
	@mkdir -p $(DOCS_DIR)
	python3 scripts/cio-doc-filter.py --check $(DOCS_HEADERS)
	CIO_DOCS_VERSION=$(VERSION) CIO_DOCS_OUT=$(DOCS_DIR) CIO_DOCS_INPUT="$(DOCS_HEADERS)" \
	    CIO_DOCS_HTML=YES CIO_DOCS_WARN_AS_ERROR=FAIL_ON_WARNINGS doxygen docs/Doxyfile || \
	    { cat $(DOCS_DIR)/warnings.log; echo "docs: Doxygen warned (see above)"; exit 1; }
	python3 scripts/cio-man.py $(DOCS_DIR)/xml include $(DOCS_DIR)/man $(VERSION)
	@touch $@

docs-check:
	@bash tests/docs-check.sh

install-docs:
	@if command -v doxygen >/dev/null && command -v python3 >/dev/null; then \
	    $(MAKE) docs-build && \
	    install -d $(DESTDIR)$(MANDIR)/man3 $(DESTDIR)$(DOCDIR)/html && \
	    install -m 644 $(DOCS_DIR)/man/man3/*.3 $(DESTDIR)$(MANDIR)/man3/ && \
	    cp -R $(DOCS_DIR)/html/. $(DESTDIR)$(DOCDIR)/html/ && \
	    find $(DESTDIR)$(DOCDIR)/html -type f -exec chmod 644 {} +; \
	else echo "install-docs: doxygen or python3 is not installed: no man pages (make docs installs them)"; fi

MODULE_INSTALL += install-docs

# The tests: small wrappers so that tests/run-tests.sh runs them beside the
# unit tests (from the top of the tree), linked like them.
DOCS_TESTS := $(BUILD)/tests/docs_check $(BUILD)/tests/guide_test

$(BUILD)/tests/docs_check: tests/docs-check.sh | $(BUILD)/tests
	printf '#!/bin/sh\nexec bash tests/docs-check.sh\n' > $@
	chmod +x $@

$(BUILD)/tests/guide_test: tests/guide-test.sh docs/guide.md $(STATIC) | $(BUILD)/tests
	printf '#!/bin/sh\nexec bash tests/guide-test.sh "%s" "%s" "%s"\n' \
	    '$(STATIC)' '$(CC)' '$(strip $(SAN_CFLAGS) $(CFLAGS))' > $@
	chmod +x $@

MODULE_TESTS += $(DOCS_TESTS)
