#!/usr/bin/env bash
# The closing table of `stackbench replay`: every canonical trace in traces/ under each scheduler
# (sync at 100 µs idle, async, napi) at the default pool, open mode, from one build; printed as
# Markdown: goodput, wakeups, empty wakeups, cpu_util, p99 latency and drops, then the replay speed
# (trace frames per wall second, the pcap read included). The figures come from each run's
# summary.json. Not part of CI: wall-clock speed depends on the machine and its load.
#
#   scripts/replay_table.sh [--build DIR] [--out DIR] [--min-wall S] [--no-big]
#
#   --build DIR   the build whose stackbench runs (default build)
#   --out DIR     keep every run's result directory there (default: a temporary directory,
#                 removed at the end)
#   --min-wall S  speed: repeat a run until its wall times add up to S seconds, at least 3 runs
#                 (default 0.2); a canonical trace replays in a millisecond or two, so one
#                 run's speed would be mostly set-up
#   --no-big      skip the speed runs on a 1 000 000-frame udp-oneway generated for the purpose
#                 (about 120 MB in the output directory, a few seconds per scheduler)
#
# Python 3 (standard library only) does the work; bash only hands over the arguments.
set -euo pipefail
cd "$(dirname "$0")/.."
exec python3 - "$@" <<'PY'
import json
import os
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile

PROG = "replay_table.sh"
SCHEDS = [("sync", ["--sched", "sync", "--idle-us", "100"]),
          ("async", ["--sched", "async"]),
          ("napi", ["--sched", "napi"])]
DROP_COLUMNS = [("rx_drop_ring", "ring"), ("rx_drop_pool", "pool")]
BIG = ("udp-oneway, 1 M frames", ["udp-oneway", "--seed", "1", "--duration", "10",
                                   "--rate", "100000"])


def fail(msg, code=2):
    print(f"{PROG}: {msg}", file=sys.stderr)
    sys.exit(code)


def parse_args(argv):
    opts = {"build": "build", "out": None, "min_wall": 0.2, "big": True}
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in ("--build", "--out", "--min-wall"):
            if i + 1 >= len(argv):
                fail(f"{a} needs a value")
            v = argv[i + 1]
            i += 2
            if a == "--build":
                opts["build"] = v
            elif a == "--out":
                opts["out"] = v
            else:
                try:
                    opts["min_wall"] = float(v)
                except ValueError:
                    fail(f"--min-wall '{v}': not a number of seconds")
                if not opts["min_wall"] > 0:
                    fail(f"--min-wall '{v}': must be above 0")
        elif a == "--no-big":
            opts["big"] = False
            i += 1
        elif a in ("-h", "--help"):
            print("usage: scripts/replay_table.sh [--build DIR] [--out DIR] [--min-wall S] "
                  "[--no-big]\n(see the comment at the top of the script)")
            sys.exit(0)
        else:
            fail(f"unknown argument '{a}' (try --help)")
    return opts


def pcap_frames(path):
    """Records in a classic pcap file: the trace frames a replay reads (every canonical trace's
    records are IPv4 or ARP, all kept)."""
    with open(path, "rb") as f:
        hdr = f.read(24)
        if len(hdr) < 24:
            fail(f"{path}: not a pcap file")
        magic = struct.unpack("<I", hdr[:4])[0]
        if magic in (0xA1B2C3D4, 0xA1B23C4D):
            end = "<"
        elif magic in (0xD4C3B2A1, 0x4D3CB2A1):
            end = ">"
        else:
            fail(f"{path}: not a classic pcap file")
        n = 0
        while True:
            rec = f.read(16)
            if len(rec) < 16:
                return n
            caplen = struct.unpack(end + "I", rec[8:12])[0]
            f.seek(caplen, os.SEEK_CUR)
            n += 1


def replay(sb, trace, sched_args, out):
    cmd = [sb, "replay", "--trace", trace, "--mode", "open", "--out", out, "--quiet"] + sched_args
    r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        fail(f"{' '.join(cmd)}: {r.stderr.strip() or 'exit ' + str(r.returncode)}", 1)
    with open(os.path.join(out, "summary.json")) as f:
        return json.load(f)


def speed(sb, trace, frames, sched_args, out, min_wall):
    """Repeat until the runs' wall times add up to min_wall (at least 3 runs): frames per wall
    second over all of them, and the best single run."""
    walls = []
    while len(walls) < 3 or sum(walls) < min_wall:
        walls.append(replay(sb, trace, sched_args, out)["wall_ns"] / 1e9)
    total = frames * len(walls) / sum(walls)
    return total, frames / min(walls), len(walls)


def si(v):
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if v >= scale:
            return f"{v / scale:.3g} {unit}"
    return f"{v:.3g}"


def main():
    o = parse_args(sys.argv[1:])
    sb = os.path.join(o["build"], "sim", "replay", "stackbench")
    if not os.access(sb, os.X_OK):
        fail(f"{sb}: no stackbench there (build first, or give --build DIR)")
    traces = sorted(os.path.join("traces", t) for t in os.listdir("traces") if t.endswith(".pcap"))
    if not traces:
        fail("no canonical traces in traces/")
    out = o["out"] or tempfile.mkdtemp(prefix="replay_table.")
    if os.path.exists(out) and not os.path.isdir(out):
        fail(f"--out {out}: exists and is not a directory")
    try:
        os.makedirs(out, exist_ok=True)
    except OSError as e:
        fail(f"--out {out}: {e.strerror}")
    try:
        rows, speeds = [], []
        for t in traces:
            name = os.path.basename(t)[:-len(".pcap")]
            frames = pcap_frames(t)
            for s, args in SCHEDS:
                print(f"{PROG}: {name} {s}", file=sys.stderr)
                d = os.path.join(out, f"{name}-{s}")
                rows.append((name, s, replay(sb, t, args, d)))
                speeds.append((name, frames, s) + speed(sb, t, frames, args, d, o["min_wall"]))
        if o["big"]:
            big = os.path.join(out, "udp-oneway-1M.pcap")
            print(f"{PROG}: generating {big}", file=sys.stderr)
            r = subprocess.run([sb, "gen"] + BIG[1][:1] + ["--out", big] + BIG[1][1:],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            if r.returncode != 0:
                fail(f"stackbench gen: {r.stderr.strip()}", 1)
            frames = pcap_frames(big)
            for s, args in SCHEDS:
                print(f"{PROG}: {BIG[0]} {s}", file=sys.stderr)
                d = os.path.join(out, f"udp-oneway-1M-{s}")
                speeds.append((BIG[0], frames, s) + speed(sb, big, frames, args, d,
                                                          o["min_wall"]))
            os.remove(big)

        print("| trace | scheduler | goodput (bit/s) | wakeups | empty wakeups | cpu_util | "
              "p99 latency (ns) | drops |")
        print("|---|---|---:|---:|---:|---:|---:|---|")
        for name, s, j in rows:
            parts = [f"{label} {j[k]}" for k, label in DROP_COLUMNS if j[k]]
            total = sum(j[k] for k, _ in DROP_COLUMNS)
            drops = f"{total} ({', '.join(parts)})" if parts else "0"
            if j["tx_alloc_fail"]:
                drops += f"; tx refused {j['tx_alloc_fail']}"
            print(f"| {name} | {s} | {j['goodput_bps']} | {j['wakeups']} | {j['empty_wakeups']} "
                  f"| {j['cpu_util']:.6f} | {j['lat_p99_ns']} | {drops} |")
        print()
        print("Open mode, default pool (32) and RX ring (16), sync at 100 µs idle; drops = "
              "rx_drop_ring + rx_drop_pool (which in brackets); tx refused = tx_alloc_fail "
              "(retried, not a loss).")
        print()
        print("| trace | frames | scheduler | trace frames/s | best run | runs |")
        print("|---|---:|---|---:|---:|---:|")
        for name, frames, s, total, best, n in speeds:
            print(f"| {name} | {frames} | {s} | {si(total)} | {si(best)} | {n} |")
        print()
        print(f"Replay speed: trace frames per wall second, reading the pcap included (wall_ns), "
              f"over runs repeated until they add up to {o['min_wall']:g} s (at least 3); best "
              f"run beside. A canonical trace is a few hundred frames replayed in a millisecond "
              f"or two, so its figure is mostly per-run set-up (stack, applications, "
              f"reading the file); the 1 M-frame udp-oneway is the replay speed proper. Wall "
              f"time on a shared machine swings by up to 2x between runs.")
    finally:
        if o["out"] is None:
            shutil.rmtree(out, ignore_errors=True)


main()
PY
