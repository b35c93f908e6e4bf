#!/usr/bin/env bash
# The tables generated from upstream's C (tools/testing/{mmio-table,cmd-table}/gen.py) are what
# the generators make from the kernel source today: a hand edit or a stale table fails here.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$GVT_ROOT"
rc=0
for pair in mmio-table:gvt/core/mmio_list.rs cmd-table:gvt/core/cmd_scanner/table.rs; do
    gen=tools/testing/${pair%%:*}/gen.py out=${pair#*:}
    fresh=$(mktemp)
    python3 "$gen" "$KSRC" > "$fresh"
    if diff -u "$out" "$fresh"; then
        echo "$out: current"
    else
        echo "$out: differs from what $gen makes (regenerate: python3 $gen \$KSRC > $out)"
        rc=1
    fi
    rm -f "$fresh"
done
exit $rc
