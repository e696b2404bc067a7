#!/usr/bin/env bash
# Runs each test binary given under a timeout (a hang fails instead of
# stalling CI), one line per binary, and ends with "N passed, N failed".
# CIO_TEST_TIMEOUT multiplies the default limit of 120 s per binary.
set -u
limit=$(awk -v m="${CIO_TEST_TIMEOUT:-1}" 'BEGIN { printf "%d", 120 * m }')
pass=0
fail=0
failed=()
log_dir=$(mktemp -d)
trap 'rm -rf "$log_dir"' EXIT
for t in "$@"; do
    name=$(basename "$t")
    log="$log_dir/$name.log"
    start=$(date +%s.%N)
    timeout --kill-after=10 "$limit" "$t" >"$log" 2>&1
    rc=$?
    secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
    if [ $rc -eq 0 ]; then
        pass=$((pass + 1))
        printf 'ok   %-28s %6ss\n' "$name" "$secs"
    else
        fail=$((fail + 1))
        failed+=("$name")
        why="exit $rc"
        [ $rc -eq 124 ] && why="timed out after ${limit}s"
        printf 'FAIL %-28s %6ss (%s)\n' "$name" "$secs" "$why"
        sed 's/^/    /' "$log" | tail -40
    fi
done
[ $fail -gt 0 ] && echo "failed: ${failed[*]}"
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
