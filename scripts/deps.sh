#!/usr/bin/env bash
# Installs the Debian packages stackbench needs, only those missing. Run by run.sh and
# test.sh; safe to run again. Needs root (or sudo) only when something is missing.
set -euo pipefail

# Build and test: compiler, CMake, the test framework, libpcap (traces), Google Benchmark and
# Debian's lwIP (the peer stack in the comparisons), gnuplot (plots), clang (fuzzing), tshark
# (checks that generated traces dissect cleanly), libjansson (the replay's summary.json).
STACKBENCH_PACKAGES=(
  build-essential cmake pkg-config python3
  libcmocka-dev libpcap-dev libbenchmark-dev liblwip-dev libinih-dev libjansson-dev
  gnuplot-nox clang tshark
)

missing=()
for p in "${STACKBENCH_PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "deps: all ${#STACKBENCH_PACKAGES[@]} packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "deps: need root to install: ${missing[*]}" >&2; exit 1; }
  SUDO=sudo
fi
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "deps: done"
