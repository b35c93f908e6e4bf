#!/usr/bin/env bash
# Builds a test client as a static binary (the QEMU initramfs and the L3 guest's have busybox
# and no libc) and puts it in build/bin/, which tools/testing/qemu/run.sh copies into the
# initramfs /bin (and l3.payload into the guest's).
#   scripts/static-client.sh PACKAGE BINARY
set -euo pipefail
pkg=${1:?usage: static-client.sh PACKAGE BINARY} bin=${2:?usage: static-client.sh PACKAGE BINARY}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
RUSTFLAGS='-C target-feature=+crt-static' cargo build --release -p "$pkg" --target x86_64-unknown-linux-gnu
mkdir -p build/bin
# Stripped: a quarter of the size, and the nested guest unpacks its initramfs at TCG speed.
strip -o "build/bin/$bin" "target/x86_64-unknown-linux-gnu/release/$bin"
echo "build/bin/$bin"
