#!/usr/bin/env bash
# Runs every BENCH.md workload with cio and its peers (Python asyncio, uvloop,
# libuv) in one go and prints one table: workload, cio, each peer, cio/peer.
# Writes bench/results/latest.md and, when gnuplot is there, latest.png.
# QUICK=1 divides every count by 10 (and says so in the table).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
build=${BUILD:-$top/build}
out=$here/results
mkdir -p "$out"
raw=$(mktemp)
trap 'rm -f "$raw"' EXIT
q=()
[ "${QUICK:-0}" = 1 ] && q=(-q)
py=/usr/bin/python3
[ -x "$py" ] || py=python3

run() { # label, command...
    local label=$1
    shift
    echo "== $label" >&2
    if ! "$@" >>"$raw"; then
        echo "!! $label failed" >&2
        echo "FAILED $label" >>"$raw"
    fi
}

for b in "$build"/bench/w*; do
    [ -x "$b" ] && run "cio $(basename "$b")" "$b" "${q[@]}"
done
for b in "$build"/bench/peers/libuv/*; do
    [ -x "$b" ] && run "libuv $(basename "$b")" "$b" "${q[@]}"
done
for p in "$here"/peers/python/*.py; do
    run "asyncio $(basename "$p")" "$py" "$p" "${q[@]}"
    if "$py" -c 'import uvloop' 2>/dev/null; then
        run "uvloop $(basename "$p")" "$py" "$p" --uvloop "${q[@]}"
    fi
done

"$py" - "$raw" "$out" "${QUICK:-0}" <<'PY'
import collections, datetime, os, platform, subprocess, sys

raw, out, quick = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
res = collections.OrderedDict()
units, failed = {}, []
for line in open(raw):
    parts = line.split()
    if parts[:1] == ["FAILED"]:
        failed.append(" ".join(parts[1:]))
    if len(parts) < 5 or parts[0] != "RESULT":
        continue
    _, wl, impl, value, unit = parts[:5]
    res.setdefault(wl, {})[impl] = float(value)
    units[wl] = unit

# Lower is better for times and bytes; W3's figure is its overhead over 0.999 s.
def lower_better(unit):
    return unit in ("s", "bytes", "bytes/task", "bytes/conn", "us", "µs")

for impls in [res[w] for w in res if w == "W3"]:
    for k in impls:
        impls[k] = max(impls[k] - 0.999, 1e-6)
units_disp = dict(units)
if "W3" in units_disp:
    units_disp["W3"] = "s over 0.999"

peers = ["asyncio", "uvloop", "libuv", "threads", "processes", "dd", "fio"]
seen = [p for p in peers if any(p in v for v in res.values())]
others = sorted({k for v in res.values() for k in v} - set(peers) - {"cio"})
cols = seen + others
def fmt(x):
    if x is None:
        return "–"
    if abs(x) >= 1e5 or (abs(x) < 1e-2 and x != 0):
        return f"{x:.3g}"
    return f"{x:,.3f}".rstrip("0").rstrip(".")

lines = []
host = platform.node()
cpu = ""
try:
    cpu = [l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")][0]
except Exception:
    pass
lines.append(f"# cio benchmark results\n")
lines.append(f"{datetime.datetime.now():%Y-%m-%d %H:%M}, {host}, {os.cpu_count()} CPUs, {cpu}, "
             f"kernel {platform.release()}{', QUICK run: counts / 10' if quick else ''}\n")
lines.append("ratio = cio's figure against the peer's, oriented so that > 1 means cio is better "
             "(peer/cio for times and bytes).\n")
head = "| workload | unit | cio | " + " | ".join(cols) + " | " + " | ".join(f"cio vs {c}" for c in cols) + " |"
lines.append(head)
lines.append("|" + "---|" * (3 + 2 * len(cols)))
chart = []
for wl, impls in res.items():
    c = impls.get("cio")
    row = [wl, units_disp[wl], fmt(c)] + [fmt(impls.get(p)) for p in cols]
    ratios = []
    for p in cols:
        v = impls.get(p)
        if c is None or v is None or c == 0 or v == 0:
            ratios.append("–")
            continue
        r = v / c if lower_better(units[wl]) else c / v
        ratios.append(f"{r:.2f}x")
        chart.append((f"{wl} vs {p}", r))
    lines.append("| " + " | ".join(row + ratios) + " |")
if failed:
    lines.append("\nFailed runs: " + ", ".join(failed))
text = "\n".join(lines) + "\n"
print(text)
open(os.path.join(out, "latest.md"), "w").write(text)

dat = os.path.join(out, "latest.dat")
with open(dat, "w") as f:
    for i, (name, r) in enumerate(chart):
        f.write(f'{i} "{name}" {r}\n')
try:
    gp = f"""set terminal pngcairo size 1400,{300 + 18 * len(chart)} font ",10"
set output '{os.path.join(out, "latest.png")}'
set title 'cio against its peers (ratio, > 1: cio better; log scale)'
set style fill solid 0.8
set logscale x
set ytics nomirror
set grid xtics
set yrange [-1:{len(chart)}]
unset key
set arrow from 1, graph 0 to 1, graph 1 nohead lc rgb 'black'
plot '{dat}' using (($3)):1:(1):($3):($1-0.4):($1+0.4):yticlabels(2) with boxxyerror lc rgb '#3a7bd5'
"""
    subprocess.run(["gnuplot"], input=gp.encode(), check=True, stderr=subprocess.DEVNULL)
    os.remove(dat)
    print(f"chart: {os.path.join(out, 'latest.png')}")
except (OSError, subprocess.CalledProcessError):
    print("(gnuplot not available: no chart)")
sys.exit(1 if failed else 0)
PY
