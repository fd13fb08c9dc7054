#!/bin/sh
# `stackbench replay` on the command line: --help; every refusal is one line
# "stackbench replay: ..." on stderr, exit 2, nothing on stdout and no result file; a run writes
# summary.json and summary.csv with exactly the record's keys in order (checked with python3's
# json module when present), plus timeseries.csv and the --pcap-out capture on request; two runs
# give the same record but for wall_ns and measured_cpu_ns; a failed run leaves no summary.
# usage: test_cli.sh STACKBENCH TRACES_DIR WORK_DIR
set -u
sb=$1 traces=$2 work=$3
rm -rf "$work"
mkdir -p "$work"
fails=0
err="$work/stderr" outf="$work/stdout"
udp="$traces/udp-oneway.pcap"

fail() {
    echo "FAIL: $*"
    fails=$((fails + 1))
}

run() {
    want=$1
    shift
    "$sb" "$@" >"$outf" 2>"$err"
    got=$?
    [ "$got" = "$want" ] || fail "stackbench $*: exit $got, wanted $want ($(cat "$err"))"
}

# refused PATTERN ARGS...: exit 2, one line on stderr starting with PATTERN, no stdout, and no
# result in $work/bad.
refused() {
    pat=$1
    shift
    rm -rf "$work/bad"
    run 2 "$@"
    [ "$(wc -l <"$err")" -eq 1 ] || fail "stackbench $*: stderr is not one line: $(cat "$err")"
    grep -q "^$pat" "$err" || fail "stackbench $*: stderr '$(cat "$err")' does not start '$pat'"
    [ ! -s "$outf" ] || fail "stackbench $*: wrote to stdout"
    for f in summary.json summary.csv timeseries.csv summary.json.tmp summary.csv.tmp; do
        [ ! -e "$work/bad/$f" ] || fail "stackbench $*: left $work/bad/$f"
    done
}

keys="env,trace,mode,sched,pool_size,idle_interval_ns,rx_ring,seed,cost_profile,sim_duration_ns,frames_rx,frames_tx,bytes_delivered,goodput_bps,rx_drop_ring,rx_drop_pool,tx_alloc_fail,wakeups,empty_wakeups,socket_visits,cpu_busy_ns,cpu_util,pool_hwm,lat_p50_ns,lat_p99_ns,measured_cpu_ns,wall_ns"

# Help: every flag is there.
run 0 replay --help
for f in --trace --mode --sched --egress --pool --idle-us --rx-ring --tx-ring --irq-ns --burst \
    --link-rate --delay-us --loss --queue --cost --seed --out --pcap-out --timeseries \
    --ts-interval-us --speed --napi-budget --drain-ms --progress --no-skip-idle --quiet \
    --rx-csum-offload; do
    grep -q -- "$f" "$outf" || fail "replay --help does not explain $f"
done

# Refusals.
P="stackbench replay:"
B="$work/bad"
refused "$P no trace given" replay --out "$B"
refused "$P no output directory given" replay --trace "$udp"
refused "$P unknown option '--nope'" replay --trace "$udp" --out "$B" --nope
refused "$P option '--pool' needs a value" replay --trace "$udp" --out "$B" --pool
refused "$P unexpected argument 'extra'" replay --trace "$udp" --out "$B" extra
refused "$P --mode 'closed'" replay --trace "$udp" --out "$B" --mode closed
refused "$P --sched 'rtos'" replay --trace "$udp" --out "$B" --sched rtos
refused "$P --egress 'some'" replay --trace "$udp" --out "$B" --egress some
refused "$P --egress readylist applies to async and napi" replay --trace "$udp" --out "$B" \
    --egress readylist
refused "$P --pool '0'" replay --trace "$udp" --out "$B" --pool 0
refused "$P --pool '-3'" replay --trace "$udp" --out "$B" --pool -3
refused "$P --pool '12x'" replay --trace "$udp" --out "$B" --pool 12x
refused "$P --idle-us '1.0001'" replay --trace "$udp" --out "$B" --idle-us 1.0001
refused "$P --idle-us 'x'" replay --trace "$udp" --out "$B" --idle-us x
refused "$P --rx-ring '0'" replay --trace "$udp" --out "$B" --rx-ring 0
refused "$P --rx-ring '70000'" replay --trace "$udp" --out "$B" --rx-ring 70000
refused "$P --link-rate '100Q'" replay --trace "$udp" --out "$B" --link-rate 100Q
refused "$P --link-rate '0'" replay --trace "$udp" --out "$B" --link-rate 0
refused "$P --link-rate '20T'" replay --trace "$udp" --out "$B" --link-rate 20T
refused "$P --delay-us '-1'" replay --trace "$udp" --out "$B" --delay-us -1
refused "$P --loss '1.5'" replay --trace "$udp" --out "$B" --loss 1.5
refused "$P --loss 'nan'" replay --trace "$udp" --out "$B" --loss nan
refused "$P --speed '0'" replay --trace "$udp" --out "$B" --speed 0
refused "$P --napi-budget '0'" replay --trace "$udp" --out "$B" --napi-budget 0
refused "$P --seed 'abc'" replay --trace "$udp" --out "$B" --seed abc
refused "$P --seed '9223372036854775808'" replay --trace "$udp" --out "$B" \
    --seed 9223372036854775808
refused "$P --drain-ms 'soon'" replay --trace "$udp" --out "$B" --drain-ms soon
refused "$P --ts-interval-us '0'" replay --trace "$udp" --out "$B" --ts-interval-us 0
refused "$P $work/none.pcap" replay --trace "$work/none.pcap" --out "$B"
printf 'not a pcap file at all, just text\n' >"$work/text.pcap"
refused "$P $work/text.pcap" replay --trace "$work/text.pcap" --out "$B"
refused "$P $work/none.ini" replay --trace "$udp" --out "$B" --cost "$work/none.ini"
printf 'name = x\nwake_ns = 1\n' >"$work/short.ini"
refused "$P $work/short.ini" replay --trace "$udp" --out "$B" --cost "$work/short.ini"
: >"$work/afile"
refused "$P $work/afile/sub" replay --trace "$udp" --out "$work/afile/sub"

# A run: both files, the keys in order, the values of the config echo.
D="$work/ok"
run 0 replay --trace "$udp" --out "$D" --sched async --pool 16 --rx-ring 8 --seed 5 \
    --timeseries --ts-interval-us 500 --pcap-out "$work/tx.pcap"
[ -s "$D/summary.json" ] || fail "no summary.json"
[ -s "$D/summary.csv" ] || fail "no summary.csv"
[ -s "$D/timeseries.csv" ] || fail "no timeseries.csv"
[ -s "$work/tx.pcap" ] || fail "no --pcap-out capture"
ls "$D" | grep -q '\.tmp$' && fail "temporary files left in $D"
[ -e "$work/tx.pcap.tmp" ] && fail "temporary capture left"
[ "$(head -1 "$D/summary.csv")" = "$keys" ] || fail "summary.csv header: $(head -1 "$D/summary.csv")"
[ "$(wc -l <"$D/summary.csv")" -eq 2 ] || fail "summary.csv is not header + one row"
row=$(sed -n 2p "$D/summary.csv")
case "$row" in
replay,udp-oneway.pcap,open,async,16,100000,8,5,cortex-m7-400mhz-estimate,*) ;;
*) fail "summary.csv row: $row" ;;
esac
grep -q '"cpu_util": 0\.[0-9]\{6\},' "$D/summary.json" || fail "cpu_util is not fixed 6 decimals"
[ "$(head -1 "$D/timeseries.csv")" = "t_ns,goodput_bps,cpu_busy_ns,pool_in_use" ] ||
    fail "timeseries.csv header"
grep -q "^  .* frames in" "$outf" || fail "no human summary on stdout: $(cat "$outf")"
[ ! -s "$err" ] || fail "a run wrote to stderr: $(cat "$err")"
if command -v python3 >/dev/null; then
    python3 - "$D/summary.json" "$D/summary.csv" "$keys" <<'EOF' || fail "summary.json check"
import csv, json, sys
j = json.load(open(sys.argv[1]))
keys = sys.argv[3].split(",")
assert list(j.keys()) == keys, list(j.keys())
for k, v in j.items():
    if k in ("env", "trace", "mode", "sched", "cost_profile"):
        assert isinstance(v, str), k
    elif k == "cpu_util":
        assert isinstance(v, float) and 0 <= v <= 1, v
    else:
        assert isinstance(v, int) and v >= 0, (k, v)
row = list(csv.reader(open(sys.argv[2])))[1]
assert len(row) == len(keys)
assert j["frames_rx"] > 1900 and j["bytes_delivered"] == 127360, j
EOF
fi
"$sb" info "$work/tx.pcap" >"$outf" 2>"$err" || fail "the capture does not read back: $(cat "$err")"

# Determinism through the command line: the same record but for the two measured fields.
run 0 replay --trace "$traces/tcp-rr.pcap" --out "$work/d1" --mode flow --sched napi --seed 3 \
    --loss 0.01
run 0 replay --trace "$traces/tcp-rr.pcap" --out "$work/d2" --mode flow --sched napi --seed 3 \
    --loss 0.01
grep -v -e wall_ns -e measured_cpu_ns "$work/d1/summary.json" >"$work/d1.txt"
grep -v -e wall_ns -e measured_cpu_ns "$work/d2/summary.json" >"$work/d2.txt"
cmp -s "$work/d1.txt" "$work/d2.txt" || fail "two runs differ: $(diff "$work/d1.txt" "$work/d2.txt")"

# Rate suffixes and decimal flags are taken.
run 0 replay --trace "$udp" --out "$work/r" --link-rate 1.5Gbit/s --idle-us 12.5 --quiet \
    --delay-us 0.5 --drain-ms 1.25 --speed 2
[ ! -s "$outf" ] || fail "--quiet wrote to stdout"
run 0 replay --trace "$udp" --out "$work/r" --link-rate 250000kbps --mode flow --quiet
run 0 replay --trace "$udp" --out "$work/r" --cost default --quiet

# A new run replaces an old result; a refused one leaves nothing behind, not even the old one's
# temporaries.
run 0 replay --trace "$udp" --out "$work/again" --quiet
run 0 replay --trace "$udp" --out "$work/again" --quiet --sched napi
grep -q '"sched": "napi"' "$work/again/summary.json" || fail "the second run did not replace it"

if [ "$fails" -ne 0 ]; then
    echo "$fails failed"
    exit 1
fi
echo "replay_cli: all passed"
