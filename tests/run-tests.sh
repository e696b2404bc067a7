#!/usr/bin/env bash
# Runs each test binary given on the command line under `timeout`, one line
# per binary (ok/FAIL and its time), and ends with exactly "N passed, N failed".
# Exits non-zero when any binary failed, timed out or died on a signal.
#
#   CIO_TEST_TIMEOUT   multiplies the per-binary limit of 120 s (e.g. 3 under TSan)
#   CIO_TEST_VERBOSE=1 shows every binary's output, not only the failures'
#
# A binary's output is kept and shown (its last 60 lines) only when it fails.
# Tests run from the current directory with stdin from /dev/null.
set -u

limit=$(awk -v m="${CIO_TEST_TIMEOUT:-1}" 'BEGIN { s = 120 * m; if (s < 1) s = 1; printf "%d", s }')
verbose=${CIO_TEST_VERBOSE:-0}
pass=0
fail=0
failed=()
log_dir=$(mktemp -d)
trap 'rm -rf "$log_dir"' EXIT

for t in "$@"; do
    name=$(basename "$t")
    log="$log_dir/$name.log"
    start=$(date +%s.%N)
    if [ ! -x "$t" ]; then
        echo "not an executable: $t" >"$log"
        rc=127
    else
        timeout --kill-after=10 "$limit" "$t" </dev/null >"$log" 2>&1
        rc=$?
    fi
    secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
    if [ "$rc" -eq 0 ]; then
        pass=$((pass + 1))
        printf 'ok   %-32s %8ss\n' "$name" "$secs"
        [ "$verbose" = 1 ] && sed 's/^/    /' "$log"
    else
        fail=$((fail + 1))
        failed+=("$name")
        case $rc in
        124 | 137) why="timed out after ${limit}s" ;;
        127) why="could not run" ;;
        *)
            if [ "$rc" -gt 128 ]; then
                why="killed by SIG$(kill -l $((rc - 128)) 2>/dev/null || echo $((rc - 128)))"
            else
                why="exit $rc"
            fi
            ;;
        esac
        printf 'FAIL %-32s %8ss (%s)\n' "$name" "$secs" "$why"
        if [ "$verbose" = 1 ]; then
            sed 's/^/    /' "$log"
        else
            tail -n 60 "$log" | sed 's/^/    /'
        fi
    fi
done

[ "$fail" -gt 0 ] && echo "failed: ${failed[*]}"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
