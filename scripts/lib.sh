# Shared settings for gvt-rs scripts: where the cached kernel lives and how to call its build.
# Sourced, not run. Everything here can be overridden from the environment.
GVT_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
GVT_RS_CACHE=${GVT_RS_CACHE:-$HOME/.cache/gvt-rs}
KSRC=${KSRC:-$GVT_RS_CACHE/linux-source-6.12}
KDIR=${KDIR:-$GVT_RS_CACHE/kbuild}
# The kernel's pinned toolchain. rustup's newer rustc comes first on PATH and has no rust-src, so
# every kernel make names the tools explicitly.
KRUSTC=/usr/bin/rustc
KRUSTDOC=/usr/bin/rustdoc
KRUSTFMT=/usr/bin/rustfmt
BINDGEN=${BINDGEN:-${CARGO_HOME:-$HOME/.cargo}/bin/bindgen}
JOBS=${JOBS:-$(nproc)}
kmake() {
    make -C "$KSRC" O="$KDIR" LLVM=1 RUSTC="$KRUSTC" RUSTDOC="$KRUSTDOC" BINDGEN="$BINDGEN" \
        CLIPPY_DRIVER=/usr/bin/clippy-driver -j"$JOBS" "$@"
}
log() { printf '[gvt-rs] %s\n' "$*" >&2; }
die() { printf '[gvt-rs] error: %s\n' "$*" >&2; exit 1; }
