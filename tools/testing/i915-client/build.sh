#!/usr/bin/env bash
# Builds gvt-i915-client as a static binary for the nested (L2) guest's initramfs (no libc there)
# and puts it in build/bin/, next to the other test binaries.
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
cd "$root"
RUSTFLAGS='-C target-feature=+crt-static' cargo build --release -p i915-client --target x86_64-unknown-linux-gnu
mkdir -p build/bin
cp target/x86_64-unknown-linux-gnu/release/gvt-i915-client build/bin/gvt-i915-client
echo "build/bin/gvt-i915-client"
