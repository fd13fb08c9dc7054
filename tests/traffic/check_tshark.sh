#!/bin/sh
# Have tshark check every canonical trace: checksums verified (IPv4, TCP, UDP; ICMP always), and
# no frame may be malformed or carry an expert item of severity warning or error (bad checksum,
# ACK of an unseen segment, missing segment, window full, echo request without reply, ...).
# First a self-check: a copy of SELFCHECK with one payload byte changed must be caught, so a
# filter that silently matches nothing cannot pass. Exit 77 (skipped) without tshark.
# usage: check_tshark.sh WORK_DIR SELFCHECK_TRACE TRACE...
set -u
if ! command -v tshark >/dev/null 2>&1; then
    echo "tshark not installed: skipped"
    exit 77
fi
work=$1 selfcheck=$2
shift 2
filter='_ws.malformed || _ws.expert.severity >= warning'
check() { # prints the offending frames of $1; returns tshark's status
    tshark -n -r "$1" -o ip.check_checksum:TRUE -o tcp.check_checksum:TRUE \
        -o udp.check_checksum:TRUE -Y "$filter" 2>/dev/null
}
mkdir -p "$work"
bad="$work/selfcheck-corrupted.pcap"
cp "$selfcheck" "$bad"
# Byte 240: inside the payload of the first UDP datagram (after the ARP pair) of udp-oneway.pcap.
printf 'Z' | dd of="$bad" bs=1 seek=240 count=1 conv=notrunc 2>/dev/null
if [ -z "$(check "$bad")" ]; then
    echo "self-check failed: tshark did not flag a corrupted copy of $selfcheck"
    exit 1
fi
status=0
for f in "$@"; do
    out=$(check "$f") || { echo "$f: tshark failed"; status=1; continue; }
    if [ -n "$out" ]; then
        echo "$f: frames tshark flags:"
        echo "$out" | head -20
        status=1
    else
        echo "$f: clean ($(tshark -n -r "$f" 2>/dev/null | wc -l) frames)"
    fi
done
exit $status
