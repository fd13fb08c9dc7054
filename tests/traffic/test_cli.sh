#!/bin/sh
# The `stackbench` command line: help texts, every refusal of `gen` as one line
# "stackbench gen: ..." with exit 2 and no output file left, a successful run, sub-commands not
# written yet, and `info` on every public capture (read fine, or one line saying why not).
# usage: test_cli.sh STACKBENCH PUBLIC_TRACES_DIR WORK_DIR
set -u
sb=$1 pub=$2 work=$3
rm -rf "$work"
mkdir -p "$work"
fails=0
err="$work/stderr" outf="$work/stdout"

fail() {
    echo "FAIL: $*"
    fails=$((fails + 1))
}

# run EXPECTED_STATUS ARGS...: runs stackbench, checks its exit status.
run() {
    want=$1
    shift
    "$sb" "$@" >"$outf" 2>"$err"
    got=$?
    [ "$got" = "$want" ] || fail "stackbench $*: exit $got, wanted $want ($(cat "$err"))"
}

# refused PATTERN ARGS...: exit 2, exactly one line on stderr starting with PATTERN.
refused() {
    pat=$1
    shift
    run 2 "$@"
    [ "$(wc -l <"$err")" -eq 1 ] || fail "stackbench $*: stderr is not one line: $(cat "$err")"
    grep -q "^$pat" "$err" || fail "stackbench $*: stderr '$(cat "$err")' does not start '$pat'"
    [ ! -s "$outf" ] || fail "stackbench $*: wrote to stdout"
}

# Help.
run 0 --help
grep -q "gen" "$outf" || fail "--help does not list gen"
run 0 gen --help
for flag in --out --seed --duration --rate --size --resp-size --conns --burst --link-mbps --help; do
    grep -q -- "$flag" "$outf" || fail "gen --help does not document $flag"
done
for kind in udp-oneway tcp-bulk tcp-rr icmp-ping iot-mix bursty idle-heavy; do
    grep -q -- "$kind" "$outf" || fail "gen --help does not describe $kind"
done
grep -q "default 1)" "$outf" || fail "gen --help does not give the default duration"
run 0 info --help

# gen refusals: one line, exit 2, nothing left behind.
o="$work/x.pcap"
refused "stackbench gen: unknown option '--bogus'" gen udp-oneway --out "$o" --seed 1 --bogus
refused "stackbench gen: unknown kind 'udp-twoway'" gen udp-twoway --out "$o" --seed 1
refused "stackbench gen: no KIND given" gen --out "$o" --seed 1
refused "stackbench gen: no seed given" gen udp-oneway --out "$o"
refused "stackbench gen: no output file given" gen udp-oneway --seed 1
refused "stackbench gen: option '--out' needs a value" gen udp-oneway --seed 1 --out
refused "stackbench gen: --rate 'abc'" gen udp-oneway --out "$o" --seed 1 --rate abc
refused "stackbench gen: --rate '-5'" gen udp-oneway --out "$o" --seed 1 --rate -5
refused "stackbench gen: --seed 'x1'" gen udp-oneway --out "$o" --seed x1
refused "stackbench gen: --duration '0'" gen udp-oneway --out "$o" --seed 1 --duration 0
refused "stackbench gen: --duration '1e3'" gen udp-oneway --out "$o" --seed 1 --duration 1e3
refused "stackbench gen: --size 2000: must be 1 to 1472 for udp-oneway" \
    gen udp-oneway --out "$o" --seed 1 --size 2000
refused "stackbench gen: --burst does not apply to tcp-rr" gen tcp-rr --out "$o" --seed 1 --burst 5
refused "stackbench gen: --conns 0: must be 1 to 1000" gen tcp-rr --out "$o" --seed 1 --conns 0
refused "stackbench gen: unexpected argument 'extra'" gen udp-oneway extra --out "$o" --seed 1
refused "stackbench gen: cannot write $work/no/such/dir/x.pcap: No such file or directory" \
    gen udp-oneway --out "$work/no/such/dir/x.pcap" --seed 1
refused "stackbench gen: the trace would have about" \
    gen udp-oneway --out "$o" --seed 1 --rate 1000000 --duration 3600
[ ! -e "$o" ] && [ ! -e "$o.tmp" ] || fail "a refused gen left $o or $o.tmp behind"
[ -z "$(ls "$work" | grep -v -e '^stderr$' -e '^stdout$')" ] || fail "files left: $(ls "$work")"

# A good run: the file, no .tmp, a summary on stdout.
run 0 gen icmp-ping --out "$o" --seed 9 --duration 0.1 --rate 50 --size 32
[ -s "$o" ] || fail "gen icmp-ping wrote no file"
[ ! -e "$o.tmp" ] || fail "gen left $o.tmp"
grep -q "^wrote $o: icmp-ping, 12 frames" "$outf" || fail "gen summary: $(cat "$outf")"
run 0 info "$o"
grep -q "^flows: 1 (tcp 0, udp 0, icmp echo 1)" "$outf" || fail "info on a generated trace"

# Top level.
refused "stackbench: unknown command 'frobnicate'" frobnicate
refused "stackbench: no command given" 
for c in sweep plot; do
    refused "stackbench $c: not implemented yet" $c
done
refused "stackbench info: no FILE given" info
refused "stackbench info: unknown option '--nope'" info --nope "$o"

# info: every public capture reads fine, or is refused / partly read with one line on stderr.
if [ -d "$pub" ]; then
    for f in "$pub"/*.pcap "$pub"/*.pcapng; do
        "$sb" info "$f" >"$outf" 2>"$err"
        st=$?
        case $st in
        0) [ ! -s "$err" ] || fail "info $f: exit 0 with stderr: $(cat "$err")"
           grep -q "^frames: " "$outf" || fail "info $f: no frames line" ;;
        1) [ "$(wc -l <"$err")" -eq 1 ] || fail "info $f: stderr is not one line: $(cat "$err")"
           grep -q "^stackbench info: $f: " "$err" || fail "info $f: reason '$(cat "$err")'" ;;
        *) fail "info $f: exit $st" ;;
        esac
    done
    "$sb" info "$pub/three_http_streams.pcap" >"$outf" 2>"$err"
    grep -q "^frames: 28 read, 28 kept" "$outf" || fail "info three_http_streams: $(cat "$outf")"
    grep -q "^flows: 3 (tcp 3, udp 0, icmp echo 0)" "$outf" || fail "info three_http_streams flows"
    run 1 info "$pub/pcapng-example.pcapng"
    grep -q "read 59 frames, then: an interface has a type 113" "$err" || fail "pcapng reason"
    grep -q "^frames: 59 read, 59 kept" "$outf" || fail "pcapng: partial summary missing"
    run 1 info --strict "$pub/pcapng-example.pcapng"
    [ ! -s "$outf" ] || fail "info --strict printed a summary of a partial file"
else
    echo "public captures not found in $pub: their part skipped"
fi
echo "not a capture" >"$work/text.pcap"
run 1 info "$work/text.pcap"
grep -q "^stackbench info: $work/text.pcap: not a readable pcap file" "$err" || fail "non-pcap"
run 1 info "$work/missing.pcap"
grep -q "^stackbench info: $work/missing.pcap: cannot open: No such file or directory$" "$err" ||
    fail "missing file: $(cat "$err")"

if [ "$fails" -ne 0 ]; then
    echo "$fails check(s) failed"
    exit 1
fi
echo "all command-line checks passed"
