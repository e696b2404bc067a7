#!/usr/bin/env bash
# Compiles and runs the programs of docs/guide.md, so that the guide cannot
# rot (make test runs it as guide_test).
#
#   tests/guide-test.sh STATIC_LIB CC "SANITIZER_AND_USER_CFLAGS"
#
# A program is a ```c block that contains "int main(". It is compiled against
# include/ and STATIC_LIB with -Wall -Wextra -Werror and run; it must exit 0.
# When the next fenced block is an ```output block (only blank lines or text
# between), the program's stdout must be exactly that block. Other ```c blocks
# (fragments, and the optional modules' code until they are in the tree) are
# not compiled; neither are blocks marked ```c <module> (an optional module's
# code, e.g. ```c cio-tls), whose API is not in every tree. Run from the top
# of the tree.
set -euo pipefail

lib=${1:?usage: guide-test.sh STATIC_LIB CC FLAGS}
cc=${2:-cc}
flags=${3:-}
guide=docs/guide.md
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Split the guide: prog_N.c for each program, prog_N.out for its output block.
awk -v dir="$work" '
    /^```/ && !inside {
        inside = 1; lang = substr($0, 4); body = ""; start = NR; next
    }
    /^```$/ && inside {
        inside = 0
        if (lang == "c" && body ~ /int main\(/) {
            n++; file = sprintf("%s/prog_%03d", dir, n); print body > (file ".c"); close(file ".c")
            print start > (file ".line"); close(file ".line"); last = file
        } else if (lang == "output" && last != "") {
            printf "%s", body > (last ".out"); close(last ".out")
        }
        if (lang != "c" || body !~ /int main\(/) last = ""
        next
    }
    inside { body = body $0 "\n" }
' "$guide"

progs=("$work"/prog_*.c)
if [ ! -e "${progs[0]}" ]; then
    echo "guide-test: no program found in $guide" >&2
    exit 1
fi
fail=0
count=0
for src in "${progs[@]}"; do
    base=${src%.c}
    line=$(cat "$base.line")
    count=$((count + 1))
    # shellcheck disable=SC2086
    if ! "$cc" -std=gnu11 -O1 -g -Wall -Wextra -Werror $flags -Iinclude -o "$base" "$src" \
        "$lib" -luring -lpthread -lm $flags 2>"$base.cc"; then
        echo "guide-test: $guide:$line: does not compile:"
        cat "$base.cc"
        fail=$((fail + 1))
        continue
    fi
    rc=0
    timeout 60 "$base" >"$base.stdout" 2>"$base.stderr" </dev/null || rc=$?
    if [ "$rc" -ne 0 ]; then
        echo "guide-test: $guide:$line: exit status $rc"
        cat "$base.stdout" "$base.stderr"
        fail=$((fail + 1))
    elif [ -f "$base.out" ] && ! diff -u "$base.out" "$base.stdout" >"$base.diff"; then
        echo "guide-test: $guide:$line: output differs from the guide's (--- guide, +++ program):"
        cat "$base.diff"
        fail=$((fail + 1))
    else
        echo "guide-test: $guide:$line: ok$([ -f "$base.out" ] && echo ", output as shown")"
    fi
done
echo "guide-test: $count program(s), $fail failed"
[ "$fail" -eq 0 ]
