#!/usr/bin/env bash
# The reference cannot fall behind the headers (make docs-check; make test
# runs it as docs_check):
#   1. every public declaration of include/*.h has a comment
#      (scripts/cio-doc-filter.py --check);
#   2. when doxygen is installed: Doxygen reads the headers without a single
#      warning, every CIO_API function gets a man page with its NAME,
#      SYNOPSIS, DESCRIPTION, RETURN VALUE and ERRORS, and cio_run's page
#      renders with man -l without a warning.
# Run from the top of the tree. Needs python3.
set -euo pipefail

if ! command -v python3 >/dev/null; then
    echo "docs-check: python3 is not installed (scripts/deps.sh test installs it)" >&2
    exit 1
fi
headers=(include/*.h)
python3 scripts/cio-doc-filter.py --check "${headers[@]}"

if ! command -v doxygen >/dev/null; then
    echo "docs-check: doxygen is not installed: Doxygen's warnings and the man pages not checked (make docs installs it)"
    exit 0
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
if ! CIO_DOCS_VERSION=check CIO_DOCS_OUT="$out" CIO_DOCS_HTML=NO CIO_DOCS_INPUT="${headers[*]}" \
    CIO_DOCS_WARN_AS_ERROR=FAIL_ON_WARNINGS doxygen docs/Doxyfile; then
    cat "$out/warnings.log"
    echo "docs-check: Doxygen warned (see above)" >&2
    exit 1
fi
python3 scripts/cio-man.py "$out/xml" include "$out/man" check >/dev/null

# One awk over every page (not a process per function: the check runs under
# load with the other tests).
fns=$(sed -n 's/^CIO_API[^(]*[^a-z_0-9(]\([a-z_0-9]*\)(.*/\1/p' "${headers[@]}")
if ! (cd "$out/man/man3" && awk -v fns="$fns" '
    BEGIN { n = split(fns, f, "\n"); split("NAME SYNOPSIS DESCRIPTION ERRORS", need, " ") }
    /^\.SH / { sub(/^\.SH /, ""); have[FILENAME, $0] = 1 }
    END {
        bad = 0
        for (i = 1; i <= n; i++) {
            page = f[i] ".3"
            if (!((page, "NAME") in have)) { print "docs-check: no man page for " f[i]; bad++; continue }
            for (j = 1; j <= 4; j++)
                if (!((page, need[j]) in have)) { print "docs-check: " page " has no " need[j]; bad++ }
            if (!((page, "RETURN VALUE") in have)) { print "docs-check: " page " has no RETURN VALUE"; bad++ }
        }
        exit bad != 0
    }' *.3); then
    exit 1
fi

if command -v man >/dev/null; then
    warn=$(MANWIDTH=80 man --warnings -l "$out/man/man3/cio_run.3" 2>&1 >"$out/cio_run.txt") || true
    if [ -n "$warn" ] || ! grep -q "int cio_run(cio_fn main, void \*arg, void \*\*result);" "$out/cio_run.txt"; then
        echo "docs-check: man -l cio_run.3 does not render cleanly: $warn" >&2
        exit 1
    fi
fi
echo "docs-check: $(ls "$out/man/man3" | wc -l) man pages, Doxygen without warnings"
