#!/bin/sh
# Regenerate one committed canonical trace with its exact command and check it is byte-identical
# to the committed file (the generator is deterministic), and that traces/README.md gives that
# exact command.
# usage: check_canonical.sh STACKBENCH SOURCE_DIR WORK_DIR KIND --out traces/NAME.pcap ARGS...
set -u
sb=$1 src=$2 work=$3
shift 3
cmd="stackbench gen $*"
if ! grep -qF -- "$cmd" "$src/traces/README.md"; then
    echo "traces/README.md does not give the command: $cmd"
    exit 1
fi
# The same arguments, the output moved under WORK_DIR.
n=$# expect_out=0 committed="" fresh=""
for a in "$@"; do
    if [ "$expect_out" = 1 ]; then
        committed="$src/$a"
        a="$work/$a"
        fresh=$a
        expect_out=0
    elif [ "$a" = "--out" ]; then
        expect_out=1
    fi
    set -- "$@" "$a"
done
shift "$n"
if [ -z "$fresh" ]; then
    echo "no --out in: $cmd"
    exit 1
fi
mkdir -p "$(dirname "$fresh")"
rm -f "$fresh"
"$sb" gen "$@" || exit 1
if ! cmp "$committed" "$fresh"; then
    echo "$committed differs from a fresh run of: $cmd"
    exit 1
fi
echo "identical: $cmd"
