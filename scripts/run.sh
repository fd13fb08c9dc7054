#!/usr/bin/env bash
# The main job: installs what is missing, builds an optimised tree into build/, runs the buffer
# and protocol benchmarks (libustack beside Debian's lwIP in one binary each) and prints the
# comparison table with the performance checks.
# Output goes to out/ (override with OUT=dir).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
jobs=$(nproc 2>/dev/null || echo 2)
out=${OUT:-out}
mkdir -p "$out"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DSTACKBENCH_BENCH=ON >/dev/null
cmake --build build -j "$jobs"

# Timings on shared VMs swing between processes (neighbours, address aliasing), so the benchmark
# runs in three processes and the table takes each benchmark's median over them.
runs=3
files=()
for i in $(seq 1 $runs); do
  echo "run: buffer benchmarks, process $i of $runs (about 20 s each)"
  build/bench/bench_buf --benchmark_min_time=0.2 \
    --benchmark_out="$out/bench_buf.$i.json.tmp" --benchmark_out_format=json \
    >"$out/bench_buf.$i.log" 2>&1
  mv "$out/bench_buf.$i.json.tmp" "$out/bench_buf.$i.json"
  files+=("$out/bench_buf.$i.json")
  echo "run: protocol benchmarks, process $i of $runs (about 5 s each)"
  build/bench/bench_stack --benchmark_min_time=0.2 \
    --benchmark_out="$out/bench_stack.$i.json.tmp" --benchmark_out_format=json \
    >"$out/bench_stack.$i.log" 2>&1
  mv "$out/bench_stack.$i.json.tmp" "$out/bench_stack.$i.json"
  files+=("$out/bench_stack.$i.json")
done
python3 scripts/bench_table.py "${files[@]}" | tee "$out/bench.txt"
echo
echo "run: results in $out/ (bench_buf.N.json, bench_stack.N.json: Google Benchmark JSON per process; bench.txt: the table)"
