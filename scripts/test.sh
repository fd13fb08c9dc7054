#!/usr/bin/env bash
# The test command: installs what is missing, builds everything with ASan + UBSan into
# build-sanitize/, and runs the whole CTest suite. Its last line is CTest's summary.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
jobs=$(nproc 2>/dev/null || echo 2)
cmake -S . -B build-sanitize -DCMAKE_BUILD_TYPE=Debug -DSTACKBENCH_SANITIZE=ON \
  -DSTACKBENCH_BENCH=ON >/dev/null
cmake --build build-sanitize -j "$jobs"
cd build-sanitize
ctest --output-on-failure -j "$jobs"
