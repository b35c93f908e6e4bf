#!/usr/bin/env bash
# Builds gvt-acrn-client as a static binary for the QEMU initramfs (busybox, no libc there) and
# puts it in build/bin/, which tools/testing/qemu/run.sh copies into the initramfs /bin.
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
cd "$root"
RUSTFLAGS='-C target-feature=+crt-static' cargo build --release -p acrn-dm-client --target x86_64-unknown-linux-gnu
mkdir -p build/bin
cp target/x86_64-unknown-linux-gnu/release/gvt-acrn-client build/bin/gvt-acrn-client
echo "build/bin/gvt-acrn-client"
