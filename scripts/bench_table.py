#!/usr/bin/env python3
"""Pair stackbench's micro-benchmarks (BM_us_<op>/<arg> with BM_lwip_<op>/<arg>) from Google
Benchmark JSON files (bench_buf, bench_stack), print a Markdown table with the lwIP/us ratio, and
check the project's acceptance targets. Standard library only.

  build-bench/bench/bench_buf --benchmark_out=/tmp/b.json --benchmark_out_format=json
  build-bench/bench/bench_stack --benchmark_out=/tmp/s.json --benchmark_out_format=json
  scripts/bench_table.py /tmp/b.json /tmp/s.json [more.json ...] [--check]

Several files (one per process run, or one per binary) are merged: each benchmark's figure is the
median over all its runs, which damps the run-to-run swings of this VM (ASLR changes address
aliasing). A check whose benchmarks appear in none of the files is reported "n/a" (not a failure),
so the buffer and the protocol benchmarks can be checked apart or together.
"""
import argparse
import json
import statistics
import sys

US_PREFIX = "BM_us_"
LWIP_PREFIX = "BM_lwip_"

# Acceptance targets: (label, key of the pair, max ns for us, min lwIP/us ratio or None).
# pbuf_rx_frame/1514 is our POOL alloc+free of one 1514 B frame against the buffer lwIP is fed
# frames in (RAM: Debian's POOL pbufs overflow at 1514 B, see bench/bench_buf.cc).
# tcp_rx_segment/1460 is one in-order 1460 B segment received end to end (bench/bench_stack.cc).
CHECKS = [
    ("pbuf POOL 1514 alloc+free <= 8 ns and >= 4x lwIP", "pbuf_rx_frame/1514", 8.0, 4.0),
    ("pool get+put <= 3 ns", "pool_get_put", 3.0, None),
    ("TCP rx segment <= 300 ns and >= 2x lwIP", "tcp_rx_segment/1460", 300.0, 2.0),
]

# Targets on a user counter: (label, benchmark name, counter, min value, unit). The name matches
# with or without the suffixes Google Benchmark appends ("/real_time").
COUNTER_CHECKS = [
    ("two-stack bulk >= 10 Gbit/s", "BM_us_tcp_bulk_transfer", "Gbps", 10.0, "Gbit/s"),
]

TO_NS = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}


class InputError(Exception):
    """The input file is missing or is not Google Benchmark JSON."""


def load(path):
    """Benchmarks of the file as a list of dicts."""
    try:
        if path == "-":
            doc = json.load(sys.stdin)
        else:
            with open(path, encoding="utf-8") as f:
                doc = json.load(f)
    except OSError as e:
        raise InputError(f"cannot read {path}: {e.strerror}") from e
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InputError(f"{path} is not valid JSON: {e}") from e
    if not isinstance(doc, dict) or not isinstance(doc.get("benchmarks"), list):
        raise InputError(f"{path} is not Google Benchmark JSON (no \"benchmarks\" list)")
    return doc["benchmarks"]


def base_name(b):
    """The run's name without the aggregate suffix (run_name where the JSON has it)."""
    return b.get("run_name", b["name"])


def names(benchmarks):
    """Every run name present in the input, failed runs included."""
    return {base_name(b) for b in benchmarks if isinstance(b, dict) and "name" in b}


def collect(benchmarks, metric):
    """Map run name -> ns per iteration, or an error string for a failed run.

    The figure is the median of all iteration runs of that name (repetitions, several files);
    where only aggregates were reported, the median of the "median" aggregates."""
    runs, medians, errors = {}, {}, {}
    for b in benchmarks:
        if not isinstance(b, dict) or "name" not in b:
            continue
        name = base_name(b)
        if b.get("error_occurred"):
            errors[name] = "ERROR: " + str(b.get("error_message", "?"))
            continue
        try:
            ns = float(b[metric]) * TO_NS[b.get("time_unit", "ns")]
        except (KeyError, TypeError, ValueError):
            continue
        if b.get("run_type") == "aggregate":
            if b.get("aggregate_name") == "median":
                medians.setdefault(name, []).append(ns)
        else:
            runs.setdefault(name, []).append(ns)
    out = {name: statistics.median(v) for name, v in medians.items()}
    out.update({name: statistics.median(v) for name, v in runs.items()})
    out.update(errors)
    return out


def split(results):
    """(pairs key -> [us, lwip], others name -> value) with missing sides as None."""
    pairs, others = {}, {}
    for name, v in results.items():
        if name.startswith(US_PREFIX):
            pairs.setdefault(name[len(US_PREFIX):], [None, None])[0] = v
        elif name.startswith(LWIP_PREFIX):
            pairs.setdefault(name[len(LWIP_PREFIX):], [None, None])[1] = v
        else:
            others[name] = v
    return pairs, others


def fmt(v):
    if v is None:
        return "-"
    if isinstance(v, str):
        return v
    return f"{v:.2f}" if v < 100 else f"{v:.1f}"


def ratio(us, lw):
    if isinstance(us, float) and isinstance(lw, float) and us > 0:
        return lw / us
    return None


def sort_key(key):
    """Order by op, then numerically by argument."""
    op, _, arg = key.partition("/")
    try:
        return (op, 0, float(arg), arg)
    except ValueError:
        return (op, 1, 0.0, arg)


def same_benchmark(name, base):
    """name is base itself or base with suffixes ("BM_x/real_time")."""
    return name == base or name.startswith(base + "/")


def collect_counter(benchmarks, base, counter):
    """Median of a user counter over the iteration runs of benchmark base (else over its "median"
    aggregates); an error string if a run failed; None if the benchmark is absent."""
    runs, medians = [], []
    for b in benchmarks:
        if not isinstance(b, dict) or "name" not in b or not same_benchmark(base_name(b), base):
            continue
        if b.get("error_occurred"):
            return "ERROR: " + str(b.get("error_message", "?"))
        try:
            v = float(b[counter])
        except (KeyError, TypeError, ValueError):
            continue
        if b.get("run_type") == "aggregate":
            if b.get("aggregate_name") == "median":
                medians.append(v)
        else:
            runs.append(v)
    if runs:
        return statistics.median(runs)
    if medians:
        return statistics.median(medians)
    return None


def run_checks(pairs, benchmarks=None):
    """List of (label, passed, detail); passed is None ("n/a") for a check none of whose
    benchmarks is in the input (when benchmarks, the raw list, is given)."""
    present = names(benchmarks) if benchmarks is not None else None
    out = []
    for label, key, max_ns, min_ratio in CHECKS:
        if present is not None and not any(
                same_benchmark(n, p + key) for n in present for p in (US_PREFIX, LWIP_PREFIX)):
            out.append((label, None, f"no {US_PREFIX}{key} in the input"))
            continue
        us, lw = pairs.get(key, [None, None])
        if not isinstance(us, float):
            out.append((label, False, f"BM_us_{key}: {fmt(us) if us else 'missing'}"))
            continue
        ok = us <= max_ns
        detail = f"us {us:.2f} ns (limit {max_ns:g}: {'ok' if ok else f'{us / max_ns:.2f}x over'})"
        if min_ratio is not None:
            r = ratio(us, lw)
            if r is None:
                ok = False
                detail += f"; BM_lwip_{key}: {fmt(lw) if lw else 'missing'}"
            else:
                ok = ok and r >= min_ratio
                detail += f"; lwIP {lw:.2f} ns, lwIP/us {r:.1f}x (min {min_ratio:g}x)"
        out.append((label, ok, detail))
    for label, base, counter, min_v, unit in COUNTER_CHECKS:
        if present is not None and not any(same_benchmark(n, base) for n in present):
            out.append((label, None, f"no {base} in the input"))
            continue
        v = collect_counter(benchmarks or [], base, counter)
        if not isinstance(v, float):
            out.append((label, False, f"{base}: {v if v else f'no {counter} counter'}"))
            continue
        ok = v >= min_v
        out.append((label, ok, f"{v:.2f} {unit} (min {min_v:g}"
                    f"{'' if ok else f': {min_v / v:.2f}x short' if v > 0 else ''})"))
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(
        description="Pair BM_us_X with BM_lwip_X from Google Benchmark JSON, print a table "
        "(op/arg | us ns | lwIP ns | lwIP/us) and check the acceptance targets.")
    ap.add_argument("json", nargs="+",
                    help="Google Benchmark JSON (--benchmark_out_format=json), - for stdin; "
                    "several files: median per benchmark")
    ap.add_argument("--metric", choices=("real_time", "cpu_time"), default="real_time",
                    help="time per iteration to compare (default real_time)")
    ap.add_argument("--check", action="store_true",
                    help="exit 1 if a check fails (n/a, benchmark absent, is no failure)")
    args = ap.parse_args(argv)

    try:
        benchmarks = [b for path in args.json for b in load(path)]
    except InputError as e:
        print(f"bench_table: {e}", file=sys.stderr)
        return 2
    results = collect(benchmarks, args.metric)
    if not results:
        print(f"bench_table: {' '.join(args.json)} holds no benchmark results", file=sys.stderr)
        return 2

    pairs, others = split(results)
    paired = {k: v for k, v in pairs.items() if v[0] is not None and v[1] is not None}
    unpaired = {k: v for k, v in pairs.items() if k not in paired}

    print(f"| op/arg | us ns | lwIP ns | lwIP/us |  ({args.metric}, ns per iteration)")
    print("|---|---:|---:|---:|")
    for key in sorted(paired, key=sort_key):
        us, lw = paired[key]
        r = ratio(us, lw)
        print(f"| {key} | {fmt(us)} | {fmt(lw)} | {f'{r:.1f}x' if r is not None else '-'} |")

    if unpaired or others:
        print("\nUnpaired (no counterpart in this run):\n")
        print("| benchmark | ns |")
        print("|---|---:|")
        for key in sorted(unpaired, key=sort_key):
            us, lw = unpaired[key]
            name, v = (US_PREFIX + key, us) if us is not None else (LWIP_PREFIX + key, lw)
            print(f"| {name} | {fmt(v)} |")
        for name in sorted(others):
            print(f"| {name} | {fmt(others[name])} |")

    print("\nChecks:\n")
    checks = run_checks(pairs, benchmarks)
    for label, ok, detail in checks:
        print(f"- {'n/a ' if ok is None else 'PASS' if ok else 'FAIL'}  {label}: {detail}")

    if args.check and any(ok is False for _, ok, _ in checks):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
