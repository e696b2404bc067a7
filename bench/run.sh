#!/usr/bin/env bash
# Runs the BENCH.md workloads with cio and its peers and prints one table
# (bench/results/latest.md; latest.png when gnuplot is there; every RESULT
# line in latest.raw).
#
# The rules of BENCH.md's second round: every row runs ROUNDS times (default
# 3), interleaved (round 1 of every row, then round 2, ...), so that a noisy
# moment of a shared machine hits every implementation alike; the table gives
# min / median / max, and ratios are of medians. Every cio program runs once
# per backend, CIO_BACKEND=io_uring and CIO_BACKEND=epoll in its environment,
# as two columns ("cio-io_uring", "cio-epoll"); the header says which backend
# each one reported.
#
# Environment:
#   QUICK=1      counts divided by 10 (and shorter wrk runs); said in the table
#   ROUNDS=N     rounds per row (default 3)
#   ONLY="W9 W14" only these workloads
#   BUILD=dir    the build directory (default: build)
#
# Rows are a registry: `row NAME` registers a function row_NAME, run once per
# round. Inside a row, `cio FIGS PROG ARGS...` runs BUILD/bench/PROG on each
# backend and `peer FIGS IMPL PATH ARGS...` runs one peer; both skip with a
# printed reason (kept in the table) when the program is not there. FIGS are
# the figures the program would print (W9-msgs,W9-bulk), so that a skipped or
# failed run still has its line in the table.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
build=${BUILD:-$top/build}
export BUILD=$build
out=$here/results
mkdir -p "$out"
raw=$(mktemp)
work=$(mktemp -d)
trap 'rm -rf "$raw" "$work"' EXIT
rounds=${ROUNDS:-3}
quick=${QUICK:-0}
q=()
[ "$quick" = 1 ] && q=(-q)
backends=(io_uring epoll)
py=/usr/bin/python3
[ -x "$py" ] || py=python3
bin=$build/bench
peers=$bin/peers
round=0

# ---- helpers ----

rows=()
row() { rows+=("$1"); }

wanted() { # workload id: is it in ONLY (or is ONLY empty)?
    [ -z "${ONLY:-}" ] && return 0
    case " $ONLY " in *" $1 "*) return 0 ;; esac
    return 1
}

skip() { # figs impl reason...
    local figs=$1 impl=$2
    shift 2
    echo "-- $impl ${figs//,/ }: skipped: $*" >&2
    local f
    for f in ${figs//,/ }; do echo "SKIP $f $impl $*" >>"$raw"; done
}

# Runs a command (stdout: RESULT lines) with a time limit; relabels the impl
# "cio" as "cio-<backend>" when a backend is given.
run_one() { # figs label backend command...
    local figs=$1 label=$2 backend=$3
    shift 3
    echo "== round $round: $label" >&2
    local tmp=$work/out
    if timeout 900 "$@" >"$tmp"; then
        if [ -n "$backend" ]; then
            sed "s/^RESULT \([^ ]*\) cio /RESULT \1 cio-$backend /" "$tmp" >>"$raw"
        else
            cat "$tmp" >>"$raw"
        fi
    else
        local rc=$?
        echo "!! $label failed (exit $rc)" >&2
        local f
        for f in ${figs//,/ }; do echo "FAILED $f ${label%% *} round $round: exit $rc" >>"$raw"; done
    fi
}

cio() { # figs prog args...: BUILD/bench/prog on each backend
    local figs=$1 prog=$2
    shift 2
    local b
    for b in "${backends[@]}"; do
        if [ -x "$bin/$prog" ]; then
            CIO_BACKEND=$b run_one "$figs" "cio-$b $prog" "$b" "$bin/$prog" "$@"
        else
            skip "$figs" "cio-$b" "$bin/$prog is not built"
        fi
    done
}

# A compiled peer: tokio and go may be unavailable (bench/peers/build.sh says why).
peer() { # figs impl path args...
    local figs=$1 impl=$2 path=$3
    shift 3
    local why
    why=$(grep -m1 "^$impl unavailable" "$peers/status" 2>/dev/null)
    if [ -n "$why" ]; then
        skip "$figs" "$impl" "${why#* unavailable: }"
    elif [ ! -x "$path" ]; then
        skip "$figs" "$impl" "$path is not built"
    else
        run_one "$figs" "$impl $(basename "$path")" "" "$path" "$@"
    fi
}

# A Python peer on asyncio, then on uvloop.
python_peer() { # figs script args...
    local figs=$1 script=$here/peers/python/$2
    shift 2
    run_one "$figs" "asyncio $(basename "$script")" "" "$py" "$script" "$@" "${q[@]}"
    if "$py" -c 'import uvloop' 2>/dev/null; then
        run_one "$figs" "uvloop $(basename "$script")" "" "$py" "$script" "$@" --uvloop "${q[@]}"
    else
        skip "$figs" uvloop "python3 cannot import uvloop (Debian: python3-uvloop)"
    fi
}

go_peer() { # figs path args...: Go with one P, to compare with one loop
    GOMAXPROCS=1 peer "$@"
}

# A peer's echo server measured by cio's client program (w9_echo, w11_idle).
echo_peer() { # figs impl client server
    local figs=$1 impl=$2 client=$3 server=$4
    if [ ! -x "$server" ]; then
        peer "$figs" "$impl" "$server" # says why it is not there
        return
    fi
    peer "$figs" "$impl" "$bin/$client" peer "$impl" "${q[@]}" -- "$server"
}

# ---- the rows ----

row_W1() {
    cio W1 w1_spawn "${q[@]}"
    peer W1 tokio "$peers/tokio/w1_spawn" "${q[@]}"
    go_peer W1 go "$peers/go/w1_spawn" "${q[@]}"
    python_peer W1 core.py W1
}
row W1

row_W2() {
    cio W2 w2_switch "${q[@]}"
    peer W2 tokio "$peers/tokio/w2_switch" "${q[@]}"
    go_peer W2 go "$peers/go/w2_switch" "${q[@]}"
    python_peer W2 core.py W2
}
row W2

row_W3() {
    cio W3-wall,W3-cpu,W3-rss w3_timers "${q[@]}"
    peer W3-wall,W3-cpu,W3-rss libuv "$peers/libuv/w3_timers" "${q[@]}"
    python_peer W3-wall,W3-cpu,W3-rss core.py W3
}
row W3

row_W4() {
    cio W4,W4-rss w4_sleepers "${q[@]}"
    peer W4,W4-rss libuv-bare-timers "$peers/libuv/w4_sleepers" "${q[@]}"
    python_peer W4,W4-rss core.py W4
}
row W4

row_W5() {
    cio W5 w5_call_soon "${q[@]}"
    peer W5 libuv-idle "$peers/libuv/w5_idle" "${q[@]}"
    python_peer W5 core.py W5
}
row W5

row_W6() {
    cio W6,W6-rtt w6_to_thread "${q[@]}"
    peer W6,W6-rtt libuv "$peers/libuv/w6_queue_work" "${q[@]}"
    python_peer W6,W6-rtt w6_to_thread.py
}
row W6

row_W7() {
    cio W7 w7_process_pool "${q[@]}"
    python_peer W7 w7_process_pool.py
}
row W7

row_W8() {
    local figs=W8-loop,W8-threads,W8-processes,W8-speedup-threads,W8-speedup-processes
    cio $figs w8_prime_count "${q[@]}"
    python_peer $figs w8_prime_count.py
}
row W8

row_W9() {
    local figs=W9-msgs,W9-bulk
    cio $figs w9_echo "${q[@]}"
    peer $figs libuv "$peers/libuv/w9_echo" "${q[@]}"
    echo_peer $figs tokio w9_echo "$peers/tokio/echo_server"
    GOMAXPROCS=1 echo_peer $figs go w9_echo "$peers/go/echo_server"
    python_peer $figs w9_echo.py
}
row W9

row_W10() {
    local figs=W10-warm,W10-cold
    cio $figs,W10-read_file w10_file_read "${q[@]}"
    if [ -x "$bin/w10_file_read" ]; then
        run_one $figs "dd+fio w10_file_read --peers" "" "$bin/w10_file_read" --peers "${q[@]}"
    fi
    command -v fio >/dev/null || skip $figs fio "fio is not installed (Debian: fio)"
}
row W10

row_W11() {
    local figs=W11-rss-idle,W11-rss-after,W11-round
    cio $figs w11_idle "${q[@]}"
    peer $figs libuv "$peers/libuv/w11_idle" "${q[@]}"
    echo_peer $figs tokio w11_idle "$peers/tokio/echo_server"
    GOMAXPROCS=1 echo_peer $figs go w11_idle "$peers/go/echo_server"
    python_peer $figs w11_idle.py
}
row W11

# Workloads whose programs other parts of cio bring (W12, W13: subprocesses;
# W15, W16: cio-tls, cio-curl; W17: cio-mpi): bench/w<N>_*.c, run on both
# backends when built, otherwise a printed skip. Their peers are added here
# beside them when they land.
optional_cio_row() { # id
    local id=$1 found=
    local p
    for p in "$bin"/"$(tr 'W' 'w' <<<"$id")"_*; do
        [ -x "$p" ] || continue
        found=1
        cio "$id" "$(basename "$p")" "${q[@]}"
    done
    [ -n "$found" ] || skip "$id" cio "no bench program $bin/$(tr 'W' 'w' <<<"$id")_* is built"
}
row_W12() { optional_cio_row W12; }
row W12
row_W13() { optional_cio_row W13; }
row W13

# shellcheck source=bench/w14_http.sh
. "$here/w14_http.sh"
row W14

row_W15() { optional_cio_row W15; }
row W15
row_W16() { optional_cio_row W16; }
row W16
row_W17() { optional_cio_row W17; }
row W17

# ---- the run ----

bash "$here/peers/build.sh" "$build"
for b in "${backends[@]}"; do
    name=$(CIO_BACKEND=$b "$bin/backend_name" 2>&1 | head -1)
    echo "BACKEND $b ${name:-unknown}" >>"$raw"
done
while read -r line; do echo "PEER $line" >>"$raw"; done <"$peers/status"

for ((round = 1; round <= rounds; round++)); do
    for r in "${rows[@]}"; do
        wanted "$r" && "row_$r"
    done
done
cp "$raw" "$out/latest.raw"

"$py" "$here/table.py" "$raw" "$out" "$quick" "$rounds"
