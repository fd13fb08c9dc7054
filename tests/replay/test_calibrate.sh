#!/bin/sh
# `stackbench calibrate`: --help names every flag; a --quick run exits 0, prints a summary, leaves
# no .tmp, writes a profile whose five values are all > 0 and that `stackbench replay --cost` loads
# and runs with; every refusal is one line "stackbench calibrate: ..." on stderr, exit 2, nothing
# on stdout and no file left.
# usage: test_calibrate.sh STACKBENCH TRACES_DIR WORK_DIR
set -u
sb=$1 traces=$2 work=$3
rm -rf "$work"
mkdir -p "$work"
fails=0
err="$work/stderr" outf="$work/stdout"

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

# refused PATTERN FILE ARGS...: exit 2, one line on stderr starting with PATTERN, no stdout, and
# neither FILE nor FILE.tmp exists afterwards.
refused() {
    pat=$1 file=$2
    shift 2
    run 2 "$@"
    [ "$(wc -l <"$err")" -eq 1 ] || fail "stackbench $*: stderr is not one line: $(cat "$err")"
    grep -q "^$pat" "$err" || fail "stackbench $*: stderr '$(cat "$err")' does not start '$pat'"
    [ ! -s "$outf" ] || fail "stackbench $*: wrote to stdout"
    [ ! -e "$file" ] && [ ! -e "$file.tmp" ] || fail "stackbench $*: left $file or $file.tmp"
}

run 0 calibrate --help
for f in --out --name --iterations --quick --help; do
    grep -q -- "$f" "$outf" || fail "calibrate --help does not explain $f"
done

# A quick calibration.
x="$work/x.ini"
run 0 calibrate --quick --out "$x" --name test-profile
[ -s "$x" ] || fail "calibrate wrote no $x"
[ ! -e "$x.tmp" ] || fail "calibrate left $x.tmp"
grep -q "^wrote $x: test-profile" "$outf" || fail "calibrate summary: $(cat "$outf")"
grep -q "^name = test-profile$" "$x" || fail "$x: no name line"
grep -q "^# machine: " "$x" || fail "$x: no machine comment"
for k in wake_ns poll_ns socket_visit_ns frame_ns byte_ns; do
    v=$(sed -n "s/^$k *= *\([0-9.]*\).*/\1/p" "$x")
    [ -n "$v" ] || fail "$x: no $k"
    awk -v v="$v" 'BEGIN { exit !(v + 0 > 0) }' || fail "$x: $k = '$v' is not > 0"
done
# The existing loader takes it: a replay with it runs and names it in its record.
run 0 replay --trace "$traces/udp-oneway.pcap" --out "$work/r" --cost "$x" --quiet
[ -s "$work/r/summary.json" ] || fail "replay --cost $x wrote no summary.json"
grep -q "test-profile" "$work/r/summary.json" || fail "summary.json does not name the profile"
# Another run replaces the file (the default name is calibrated-MACHINE).
run 0 calibrate --quick --iterations 50 --out "$x"
grep -q "^name = calibrated-" "$x" || fail "default name: $(grep '^name' "$x")"
grep -q "50 operations per repetition" "$x" || fail "--iterations not stated in $x"

# Refusals.
P="stackbench calibrate:"
B="$work/bad.ini"
refused "$P no output file given" "$B" calibrate --quick
refused "$P unknown option '--nope'" "$B" calibrate --out "$B" --nope
refused "$P option '--out' needs a value" "$B" calibrate --out
refused "$P --iterations '0'" "$B" calibrate --out "$B" --iterations 0
refused "$P --iterations 'x'" "$B" calibrate --out "$B" --iterations x
refused "$P --name 'a;b'" "$B" calibrate --out "$B" --name 'a;b'
refused "$P --name ' a'" "$B" calibrate --out "$B" --name ' a'
refused "$P unexpected argument 'extra'" "$B" calibrate --out "$B" extra
refused "$P " "$work/no/such/dir/x.ini" calibrate --quick --out "$work/no/such/dir/x.ini"
mkdir -p "$work/ro"
chmod a-w "$work/ro"
if [ ! -w "$work/ro" ]; then # not as root
    refused "$P " "$work/ro/x.ini" calibrate --quick --out "$work/ro/x.ini"
fi
chmod u+w "$work/ro"

if [ "$fails" -ne 0 ]; then
    echo "$fails failure(s)"
    exit 1
fi
echo "calibrate cli: all passed"
