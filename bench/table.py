"""The table of bench/run.sh: reads the raw lines of a run and writes
bench/results/latest.md (and latest.png with gnuplot).

Raw lines:
  RESULT <figure> <impl> <value> <unit>   one measurement (one round)
  SKIP <figure> <impl> <reason...>        the implementation could not run
  FAILED <figure> <impl> <why...>         it ran and failed (wrong result, crash)
  BACKEND <io_uring|epoll> <what the cio programs reported>
  PEER <name> ok|unavailable ...          how the compiled peers were built

Usage: table.py RAW OUTDIR QUICK ROUNDS
"""
import collections
import datetime
import os
import platform
import statistics
import subprocess
import sys

LOWER_BETTER = {"s", "ms", "us", "bytes", "bytes/task", "bytes/conn"}
CIO = ["cio-io_uring", "cio-epoll"]
PEER_ORDER = ["tokio", "go", "libuv", "libuv-idle", "libuv-bare-timers", "uvloop", "asyncio",
              "nginx", "dd", "fio"]


def fmt(x):
    """Four significant digits (five near 1, where W3's wall time lives)."""
    if x is None:
        return "–"
    if abs(x) >= 1e5 or (abs(x) < 1e-2 and x != 0):
        return f"{x:.3g}"
    return f"{x:.5g}" if 0.5 <= abs(x) < 10 else f"{x:.4g}"


def ratio(unit, cio, other):
    """> 1 means cio is better."""
    if cio is None or other is None or cio == 0 or other == 0:
        return None
    return other / cio if unit in LOWER_BETTER else cio / other


def main():
    raw, out, quick, rounds = sys.argv[1], sys.argv[2], sys.argv[3] == "1", sys.argv[4]
    vals = collections.OrderedDict()  # figure -> impl -> [values]
    units, notes = {}, collections.OrderedDict()  # (figure, impl) -> note
    backends, peers, failed = {}, [], []
    for line in open(raw):
        p = line.split()
        if not p:
            continue
        if p[0] == "RESULT" and len(p) >= 5:
            vals.setdefault(p[1], collections.OrderedDict()).setdefault(p[2], []).append(float(p[3]))
            units[p[1]] = p[4]
        elif p[0] in ("SKIP", "FAILED") and len(p) >= 3:
            vals.setdefault(p[1], collections.OrderedDict()).setdefault(p[2], [])
            why = " ".join(p[3:])
            note = ("not run: " if p[0] == "SKIP" else "FAILED: ") + why
            notes.setdefault((p[1], p[2]), [])
            if note not in notes[(p[1], p[2])]:
                notes[(p[1], p[2])].append(note)
            if p[0] == "FAILED":
                failed.append(f"{p[1]} {p[2]} ({why})")
        elif p[0] == "BACKEND":
            backends[p[1]] = " ".join(p[2:])
        elif p[0] == "PEER":
            peers.append(" ".join(p[1:]))

    lines = ["# cio benchmark results\n"]
    cpu = ""
    try:
        cpu = [l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
               if l.startswith("model name")][0]
    except (OSError, IndexError):
        pass
    lines.append(f"{datetime.datetime.now():%Y-%m-%d %H:%M}, {platform.node()}, "
                 f"{os.cpu_count()} CPUs, {cpu}, kernel {platform.release()}"
                 f"{', QUICK run: counts / 10' if quick else ''}; {rounds} interleaved rounds "
                 "per row, min / median / max of them.\n")
    for b, name in backends.items():
        lines.append(f"- cio-{b}: CIO_BACKEND={b}; the cio programs report: {name}")
    for p in peers:
        lines.append(f"- peer {p}")
    lines.append("\nRatios are of medians, oriented so that > 1 means that cio (on the backend "
                 "of the column) is better: peer/cio for times and bytes, cio/peer for rates. "
                 "Tokio runs its current-thread runtime and Go GOMAXPROCS=1 (one loop each, as "
                 "cio); W4's libuv peer is bare timers, not tasks; W5's libuv peer is a uv_idle "
                 "handle. Every echoed byte of W9 and W11 is checked, and W14's responses "
                 "are checked byte for byte before wrk runs. W9's and W11's client (the same "
                 "for every server) does its ping-pong on io_uring: an epoll client cost as "
                 "much per message as the servers and W9 measured it (bench/echo_uring.h).\n")
    lines.append("| figure | unit | impl | n | min | median | max | cio-io_uring vs it | "
                 "cio-epoll vs it |")
    lines.append("|---|---|---|---|---|---|---|---|---|")
    chart = []
    for fig, impls in vals.items():
        unit = units.get(fig, "")
        order = [i for i in CIO if i in impls] + [i for i in PEER_ORDER if i in impls]
        order += sorted(set(impls) - set(order))
        med = {i: statistics.median(v) if v else None for i, v in impls.items()}
        for impl in order:
            v = impls[impl]
            cells = [fig, unit, impl, str(len(v))]
            if v:
                cells += [fmt(min(v)), fmt(med[impl]), fmt(max(v))]
            else:
                cells += ["–", "–", "–"]
            for c in CIO:
                r = ratio(unit, med.get(c), med[impl]) if c != impl else None
                cells.append(f"{r:.2f}x" if r is not None else "–")
                if r is not None and not impl.startswith("cio"):
                    chart.append((f"{fig}: {c[4:]} vs {impl}", r, c))
            note = "; ".join(notes.get((fig, impl), []))
            if note:
                cells[-1] += f" ({note})" if v else ""
                if not v:
                    cells[4] = note
            lines.append("| " + " | ".join(cells) + " |")
    if failed:
        lines.append("\nFailed runs: " + "; ".join(failed))
    text = "\n".join(lines) + "\n"
    print(text)
    with open(os.path.join(out, "latest.md"), "w") as f:
        f.write(text)
    plot(out, chart)
    sys.exit(1 if failed else 0)


def plot(out, chart):
    if not chart:
        return
    dat = os.path.join(out, "latest.dat")
    with open(dat, "w") as f:
        for i, (name, r, c) in enumerate(chart):
            y = len(chart) - 1 - i  # the table's first row at the top
            f.write(f'{y} "{name}" {r} {1 if c == "cio-io_uring" else 2}\n')
    gp = f"""set terminal pngcairo noenhanced size 1400,{300 + 16 * len(chart)} font ",9"
set output '{os.path.join(out, "latest.png")}'
set title 'cio against its peers: ratio of medians (> 1: cio better; log scale); blue io_uring, orange epoll'
set style fill solid 0.8
set logscale x
set ytics nomirror
set grid xtics
set yrange [-1:{len(chart)}]
unset key
set arrow from 1, graph 0 to 1, graph 1 nohead lc rgb 'black'
plot '{dat}' using (($3)):1:(1):($3):($1-0.4):($1+0.4):($4 == 1 ? 0x3a7bd5 : 0xe8883a):yticlabels(2) \
     with boxxyerror lc rgb variable
"""
    try:
        subprocess.run(["gnuplot"], input=gp.encode(), check=True, stderr=subprocess.PIPE)
        print(f"chart: {os.path.join(out, 'latest.png')}")
    except (OSError, subprocess.CalledProcessError) as e:
        print(f"(no chart: gnuplot {'is not installed' if isinstance(e, OSError) else 'failed'})")
    finally:
        os.remove(dat)


if __name__ == "__main__":
    main()
