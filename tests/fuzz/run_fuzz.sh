#!/bin/sh
# run_fuzz.sh FUZZER WORKDIR CORPUS SECONDS: fuzz for SECONDS from CORPUS with a fixed seed. New
# inputs go to WORKDIR/new (emptied first; the committed corpus is only read), crash reproducers to
# WORKDIR/artifacts/. Exit status: libFuzzer's (non-zero on a crash, leak or timeout).
set -eu
fuzzer=$1 work=$2 corpus=$3 secs=$4
rm -rf "$work"
mkdir -p "$work/new" "$work/artifacts"
exec "$fuzzer" -seed=1 -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
  -print_final_stats=1 -artifact_prefix="$work/artifacts/" "$work/new" "$corpus"
