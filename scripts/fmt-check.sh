#!/usr/bin/env bash
# Every tracked Rust file is formatted as rustfmt 1.85 (Debian's, pinned beside the kernel's
# rustc) formats it with the kernel's .rustfmt.toml. Generated tables (an `@generated` first
# line) keep their generator's layout. Fix with: scripts/fmt-check.sh --fix
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$GVT_ROOT"
mapfile -t files < <(git ls-files '*.rs' | xargs grep -L '^// @generated')
if [ "${1:-}" = --fix ]; then
    "$KRUSTFMT" --edition 2021 "${files[@]}"
else
    "$KRUSTFMT" --edition 2021 --check "${files[@]}"
fi
