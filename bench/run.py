#!/usr/bin/env python3
"""bench/run.py: `make bench` — every row of docs/performance.md in one invocation.

Runs each part of the suite once (synack's macro rows, its TUN row, its micro benchmarks,
the Linux kernel's and lwIP's comparators), collects the JSON lines they print
({"key", "value", "unit", "note"}), prints the table with the ratio synack/comparator and
the target of each row, and writes bench-results.json at the repository root.

    bench/run.py [--build build/release] [--quick] [--out bench-results.json]

Needs root (network namespaces for the kernel's rows and the TUN row). A part that fails is
reported and its rows are left empty; the exit status is then 1.
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# (name, synack key, comparator key, unit, better, target)
#   better: "higher" or "lower" (for the verdict);
#   target: ("ratio", x) — synack/comparator at least x (higher) or at most x (lower);
#           ("abs", x)   — synack's own value at least (higher) / at most (lower) x;
#           None.
ROWS = [
    ("bulk in-memory per-cpu vs kernel loopback", "synack.bulk_mem_gbps_per_cpu_s",
     "kernel.bulk_loopback_gbps_per_cpu_s", "Gbit/s per CPU-s", "higher", ("ratio", 1.0)),
    ("bulk in-memory per-cpu vs kernel loopback (MTU 1500)",
     "synack.bulk_mem_mtu1500_gbps_per_cpu_s", "kernel.bulk_loopback_mtu1500_gbps_per_cpu_s",
     "Gbit/s per CPU-s", "higher", ("ratio", 1.0)),
    ("bulk in-memory vs lwip", "synack.bulk_mem_mtu1500_gbps_per_cpu_s",
     "lwip.bulk_mem_gbps_per_cpu_s", "Gbit/s per CPU-s", "higher", ("ratio", 3.0)),
    ("bulk tun vs kernel veth", "synack.tun_tx_gbps", "kernel.veth_bulk_gbps", "Gbit/s",
     "higher", ("abs", 10.0)),
    ("bulk tun vs kernel veth (synack receives)", "synack.tun_rx_gbps", "kernel.veth_bulk_gbps",
     "Gbit/s", "higher", ("abs", 10.0)),
    ("conn rate vs kernel loopback", "synack.conn_rate_per_s", "kernel.conn_rate_per_s",
     "conn/s", "higher", ("ratio", 10.0)),
    ("latency p50 vs kernel loopback", "synack.latency_p50_us", "kernel.latency_p50_us", "us",
     "lower", ("ratio", 0.1)),
    ("latency p99 vs kernel loopback", "synack.latency_p99_us", "kernel.latency_p99_us", "us",
     "lower", ("ratio", 0.1)),
    ("memory per conn vs kernel", "synack.mem_per_conn_default_bytes", "kernel.mem_per_conn_bytes",
     "bytes", "lower", ("abs", 2048)),
    ("memory per conn vs kernel (minimal buffers)", "synack.mem_per_conn_minimal_bytes",
     "kernel.mem_per_conn_bytes", "bytes", "lower", ("abs", 2048)),
    ("checksum GB/s", "synack.checksum_gbps", "lwip.checksum_gbps", "GB/s", "higher", None),
    ("checksum GB/s (64 KiB)", "synack.checksum_64k_gbps", "lwip.checksum_64k_gbps", "GB/s",
     "higher", None),
    ("parse ns/packet", "synack.parse_ns_per_packet", None, "ns", "lower", None),
    ("demux ns/lookup", "synack.demux_ns_per_lookup", "lwip.demux_ns_per_lookup", "ns", "lower",
     None),
    ("timer wheel ops/s", "synack.timer_ops_per_s", "lwip.timer_ops_per_s", "ops/s", "higher",
     None),
    ("send path ns/segment", "synack.send_path_ns_per_segment", "lwip.send_path_ns_per_segment",
     "ns", "lower", None),
]
# The memory target is "at most 1 KiB per idle connection beyond buffers"; a connection here
# is both of its ends, so 2 KiB.


def parts(build, quick):
    """(label, argv) of every part, in the order they run."""
    q = ["--quick"] if quick else []
    # The bulk rows move the same bytes in synack, the kernel and lwIP.
    n = ["--bytes", str((256 if quick else 4096) << 20)]
    b = lambda *p: os.path.join(build, "bench", *p)  # noqa: E731
    return [
        ("synack macro", [b("synack", "bench_synack")] + q + n),
        ("synack tun", [os.path.join(ROOT, "bench", "synack", "tun.sh"),
                        os.path.join(build, "synack")] + q),
        ("synack micro", [b("micro", "bench_micro")] + q),
        # CUBIC, Linux's default (this machine's is BBR, which paces even on loopback: a
        # third of CUBIC's bulk figure per CPU-second; `bench_kernel --cc bbr` shows it).
        ("kernel", [b("kernel", "bench_kernel"), "--cc", "cubic"] + q + n),
        ("lwip bulk", [b("lwip", "bench_lwip")] + q + n),
        ("lwip micro", [b("lwip", "bench_lwip_micro")] + q),
    ]


def run_part(label, argv, timeout):
    """Runs one part; returns ({key: result}, error or None)."""
    if not os.access(argv[0], os.X_OK):
        return {}, f"{argv[0]} is not built"
    start = time.monotonic()
    try:
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return {}, f"timed out after {timeout} s"
    results = {}
    for line in p.stdout.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            r = json.loads(line)
            results[r["key"]] = r
        except (ValueError, KeyError):
            pass
    sys.stderr.write(f"  {label}: {len(results)} results in {time.monotonic() - start:.1f} s\n")
    if p.returncode != 0:
        tail = "\n".join(p.stderr.strip().splitlines()[-5:])
        return results, f"exit status {p.returncode}: {tail}"
    return results, None


def verdict(synack, comparator, better, target):
    if target is None or synack is None:
        return ""
    kind, x = target
    if kind == "ratio":
        if comparator in (None, 0):
            return ""
        value = synack / comparator
        ok = value >= x if better == "higher" else value <= x
        shown = f"ratio {'>=' if better == 'higher' else '<='} {x:g}"
    else:
        value = synack
        ok = value >= x if better == "higher" else value <= x
        shown = f"{'>=' if better == 'higher' else '<='} {x:g}"
    if ok:
        return f"{shown}: met"
    missed = (x / value if better == "higher" else value / x) if value else float("inf")
    return f"{shown}: missed ({missed:.1f}x off)"


def fmt(v):
    if v is None:
        return "-"
    if abs(v) >= 1e5:
        return f"{v:,.0f}"
    if abs(v) >= 100:
        return f"{v:.0f}"
    return f"{v:.3g}"


def machine():
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cpus, Linux {platform.release()}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build", "release"))
    ap.add_argument("--quick", action="store_true", help="a smoke run of a few seconds per part")
    ap.add_argument("--out", default=os.path.join(ROOT, "bench-results.json"))
    args = ap.parse_args()
    build = os.path.abspath(args.build)
    if os.geteuid() != 0:
        sys.stderr.write("bench: needs root (network namespaces, TUN)\n")
        return 1

    sys.stderr.write(f"bench: {machine()}\n")
    results, errors = {}, {}
    start = time.monotonic()
    for label, argv in parts(build, args.quick):
        got, err = run_part(label, argv, timeout=120 if args.quick else 300)
        results.update(got)
        if err:
            errors[label] = err
            sys.stderr.write(f"  {label}: FAILED: {err}\n")

    rows = []
    for name, skey, ckey, unit, better, target in ROWS:
        s = results.get(skey, {}).get("value")
        c = results.get(ckey, {}).get("value") if ckey else None
        ratio = s / c if s is not None and c not in (None, 0) else None
        rows.append({
            "name": name, "synack": s, "comparator": c, "unit": unit, "ratio": ratio,
            "better": better, "target": verdict(s, c, better, target),
            "synack_note": results.get(skey, {}).get("note", ""),
            "comparator_note": results.get(ckey, {}).get("note", "") if ckey else "",
        })

    width = max(len(r["name"]) for r in rows)
    print(f"{'row':<{width}}  {'synack':>12}  {'comparator':>12}  {'unit':<16} {'ratio':>7}  target")
    for r in rows:
        ratio = f"{r['ratio']:.2f}" if r["ratio"] is not None else "-"
        print(f"{r['name']:<{width}}  {fmt(r['synack']):>12}  {fmt(r['comparator']):>12}  "
              f"{r['unit']:<16} {ratio:>7}  {r['target']}")
    print(f"({time.monotonic() - start:.0f} s; comparators: the Linux kernel, lwIP "
          f"{'2.1.3 ' if results.get('lwip.bulk_mem_gbps_per_cpu_s') else ''}for the lwip and "
          f"micro rows)")

    out = {"machine": machine(), "quick": args.quick, "rows": rows,
           "results": results, "errors": errors}
    with open(args.out, "w") as f:
        json.dump(out, f, indent=2)
        f.write("\n")
    sys.stderr.write(f"bench: written {args.out}\n")
    for label, err in errors.items():
        sys.stderr.write(f"bench: {label} failed: {err}\n")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
