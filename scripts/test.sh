#!/usr/bin/env bash
# The test command: installs what is missing, builds everything with Clang, ASan + UBSan into
# build-sanitize/ (Clang for libFuzzer: STACKBENCH_FUZZ is on, so the suite includes a short
# fuzzing run), and runs the whole CTest suite. Its last line is CTest's summary.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
jobs=$(nproc 2>/dev/null || echo 2)
# CMake cannot switch compilers in a configured tree: a build-sanitize/ configured with another
# compiler is started afresh.
if [ -f build-sanitize/CMakeCache.txt ] &&
  ! grep -q '^CMAKE_C_COMPILER:[A-Z]*=.*clang' build-sanitize/CMakeCache.txt; then
  rm -rf build-sanitize
fi
cmake -S . -B build-sanitize -DCMAKE_BUILD_TYPE=Debug -DSTACKBENCH_SANITIZE=ON \
  -DSTACKBENCH_BENCH=ON -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ >/dev/null
cmake --build build-sanitize -j "$jobs"
cd build-sanitize
ctest --output-on-failure -j "$jobs"
