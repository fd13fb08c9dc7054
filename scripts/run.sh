#!/usr/bin/env bash
# The main job: installs what is missing, builds an optimised tree into build/, runs the buffer
# benchmarks (libustack beside Debian's lwIP in one binary) and prints the comparison table.
# Output goes to out/ (override with OUT=dir).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
jobs=$(nproc 2>/dev/null || echo 2)
out=${OUT:-out}
mkdir -p "$out"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DSTACKBENCH_BENCH=ON >/dev/null
cmake --build build -j "$jobs"

echo "run: buffer benchmarks (about a minute)"
build/bench/bench_buf --benchmark_min_time=0.2 \
  --benchmark_out="$out/bench_buf.json.tmp" --benchmark_out_format=json >/dev/null
mv "$out/bench_buf.json.tmp" "$out/bench_buf.json"
python3 scripts/bench_table.py "$out/bench_buf.json" | tee "$out/bench_buf.txt"
echo
echo "run: results in $out/ (bench_buf.json: Google Benchmark JSON, bench_buf.txt: the table)"
