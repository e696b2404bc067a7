#!/usr/bin/env bash
# Writes debian/libcio0.symbols from a built libcio.so (make deb-symbols):
# every exported symbol with the version that introduced it. A symbol that
# the file already lists keeps its version; a new one gets VERSION.
#
#   scripts/deb-symbols.sh LIBCIO_SO VERSION [SYMBOLS_FILE]
#
# The package build fails on any difference between the library and the
# file (DPKG_GENSYMBOLS_CHECK_LEVEL=4 in debian/rules), so an API change
# that was meant is followed by this script and a commit of the file.
set -euo pipefail

lib=${1:?usage: deb-symbols.sh LIBCIO_SO VERSION [SYMBOLS_FILE]}
version=${2:?usage: deb-symbols.sh LIBCIO_SO VERSION [SYMBOLS_FILE]}
file=${3:-debian/libcio0.symbols}
soname=$(objdump -p "$lib" | awk '$1 == "SONAME" { print $2 }')
[ -n "$soname" ] || { echo "deb-symbols: $lib has no SONAME" >&2; exit 1; }

declare -A known=()
if [ -f "$file" ]; then
    while read -r sym ver; do
        known[$sym]=$ver
    done < <(sed -n 's/^ \([^ *#][^ ]*\) \(.*\)$/\1 \2/p' "$file")
fi

tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
{
    echo "$soname libcio0 #MINVER#"
    echo "* Build-Depends-Package: libcio-dev"
    nm -D --defined-only "$lib" | awk 'NF >= 3 && $2 ~ /^[TDBRVWi]$/ { print $3 }' | LC_ALL=C sort -u |
        while read -r sym; do
            echo " $sym@Base ${known[$sym@Base]:-$version}"
        done
} >"$tmp"
added=$(comm -13 <(sed -n 's/^ \([^ ]*\) .*/\1/p' "$file" 2>/dev/null | sort) \
    <(sed -n 's/^ \([^ ]*\) .*/\1/p' "$tmp" | sort) | wc -l)
removed=$(comm -23 <(sed -n 's/^ \([^ ]*\) .*/\1/p' "$file" 2>/dev/null | sort) \
    <(sed -n 's/^ \([^ ]*\) .*/\1/p' "$tmp" | sort) | wc -l)
cp "$tmp" "$file"
echo "deb-symbols: $file: $(grep -c '^ ' "$file") symbols of $soname ($added added, $removed removed)"
[ "$removed" -eq 0 ] || echo "deb-symbols: symbols were removed: that breaks the ABI (bump SOMAJOR)" >&2
