#!/usr/bin/env bash
# cio-mpi's test, as `make check` runs it (copied next to test_mpi):
#   1. the cmocka suite on 3 ranks (mpirun --oversubscribe -np 3);
#   2. a job that crashes its rank: the run must end, non-zero, naming the job;
#   3. ranks running different binaries: refused at start, with a clear error;
#   4. rank 0's main returning with jobs in flight: every rank ends cleanly;
#   5. image_pipeline --executor mpi computes what its process-pool mode does.
# Each run has its own time limit, so a hang fails instead of blocking.
set -u
dir=$(cd "$(dirname "$0")" && pwd)
bin=$dir/test_mpi
mpirun=(mpirun --oversubscribe)
[ "$(id -u)" -eq 0 ] && mpirun+=(--allow-run-as-root)
# Shared-memory transfers without ptrace rights (containers): copy-in/copy-out.
export OMPI_MCA_btl_vader_single_copy_mechanism=${OMPI_MCA_btl_vader_single_copy_mechanism:-none}
# Under ASan and TSan: Open MPI's own leaks and lock order are suppressed
# (ASan: whole stacks, so that the libraries behind its unloaded plugins show).
export LSAN_OPTIONS="suppressions=$dir/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}fast_unwind_on_malloc=0"
export TSAN_OPTIONS="suppressions=$dir/tsan.supp${TSAN_OPTIONS:+:$TSAN_OPTIONS}"
limit=${CIO_MPI_TEST_LIMIT:-90}
fail=0

echo "== suite: mpirun -np 3 test_mpi"
if ! timeout --kill-after=5 "$limit" "${mpirun[@]}" -np 3 "$bin"; then
    echo "FAIL: the suite"
    fail=1
fi

echo "== rank 0's main returns with jobs queued and running"
if ! timeout --kill-after=5 "$limit" "${mpirun[@]}" -np 3 "$bin" --leave; then
    echo "FAIL: the run did not end cleanly"
    fail=1
fi

echo "== a crashing job"
out=$(timeout --kill-after=5 "$limit" "${mpirun[@]}" -np 3 "$bin" --crash 2>&1)
rc=$?
if [ "$rc" -eq 0 ] || [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ] ||
    ! grep -q "job crash_job crashed" <<<"$out"; then
    echo "FAIL: a crashing job (exit $rc; wanted non-zero, no timeout, the job named):"
    printf '%s\n' "$out" | tail -n 30
    fail=1
else
    grep "cio-mpi:" <<<"$out"
fi

echo "== a mismatched binary"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp "$bin" "$tmp/test_mpi_other"
printf 'x' >>"$tmp/test_mpi_other" # still runs; its bytes differ
out=$(timeout --kill-after=5 "$limit" "${mpirun[@]}" -np 1 "$bin" : -np 2 "$tmp/test_mpi_other" 2>&1)
rc=$?
if [ "$rc" -eq 0 ] || [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ] ||
    ! grep -q "a different binary" <<<"$out" || ! grep -q "ENOEXEC\|Exec format" <<<"$out"; then
    echo "FAIL: a mismatched binary (exit $rc; wanted non-zero, no timeout, refused):"
    printf '%s\n' "$out" | tail -n 30
    fail=1
else
    grep "cio-mpi:\|cio_mpi_main" <<<"$out"
fi
echo "== image_pipeline --executor mpi beside --executor process"
pipeline=$dir/../../examples/image_pipeline
out_pp=$(timeout --kill-after=5 "$limit" "$pipeline" --executor process -n 6 -W 96 -H 64 -w 2 \
    -d "$tmp/pp" --check 2>&1)
rc_pp=$?
out_mpi=$(timeout --kill-after=5 "$limit" "${mpirun[@]}" -np 3 "$pipeline" --executor mpi -n 6 \
    -W 96 -H 64 -d "$tmp/mpi" --check 2>&1)
rc_mpi=$?
checks_pp=$(grep '^check img' <<<"$out_pp")
checks_mpi=$(grep '^check img' <<<"$out_mpi")
same_files=1
for f in "$tmp"/pp/served/* "$tmp"/pp/processed/* "$tmp/pp/contact_sheet.png"; do
    cmp -s "$f" "$tmp/mpi/${f#"$tmp"/pp/}" || same_files=0
done
if [ "$rc_pp" -ne 0 ] || [ "$rc_mpi" -ne 0 ] || [ "$(wc -l <<<"$checks_mpi")" -ne 6 ] ||
    [ "$checks_pp" != "$checks_mpi" ] || ! grep -q "2 MPI worker ranks" <<<"$out_mpi" ||
    [ "$same_files" -ne 1 ]; then
    echo "FAIL: image_pipeline (exit $rc_pp / $rc_mpi; results or files differ):"
    diff <(printf '%s\n' "$checks_pp") <(printf '%s\n' "$checks_mpi")
    printf '%s\n' "$out_mpi" | tail -n 30
    fail=1
else
    echo "same 6 results and files as the process pool"
fi
exit $fail
