#!/usr/bin/env bash
# Installs everything gvt-rs needs on a Debian 12 machine and builds the kernel it runs on.
# Idempotent: each step checks whether it is already done. The kernel tree and its build directory
# live in $GVT_RS_CACHE (default ~/.cache/gvt-rs), outside the clone, and are reused.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

RUST_VER=1.85.0+dfsg3-1~deb12u3
PINNED=(rustc-web libstd-rust-web-dev rust-web-src rust-web-clippy rustfmt-web)
PKGS=(
    "${PINNED[@]}"
    linux-source-6.12 qemu-system-x86 libclang-dev clang lld llvm
    flex bison bc libelf-dev libssl-dev cpio busybox-static kmod python3 mdevctl
)

packages() {
    local missing=() p
    for p in "${PKGS[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
    done
    for p in "${PINNED[@]}"; do
        [ "$(dpkg-query -W -f='${Version}' "$p" 2>/dev/null)" = "$RUST_VER" ] || missing+=("$p")
    done
    if [ ${#missing[@]} -eq 0 ]; then log "packages: already installed"; return; fi
    log "packages: installing ${missing[*]}"
    local sudo=; [ "$(id -u)" = 0 ] || sudo=sudo
    local apt=("${PKGS[@]}")
    for p in "${PINNED[@]}"; do apt=("${apt[@]/#$p/$p=$RUST_VER}"); done
    $sudo apt-mark unhold "${PINNED[@]}" >/dev/null 2>&1 || true
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
        --allow-downgrades --allow-change-held-packages "${apt[@]}"
    # The kernel's .rmeta files and every module must come from the same rustc: keep 1.85.
    $sudo apt-mark hold "${PINNED[@]}" >/dev/null
}

bindgen() {
    if [ -x "$BINDGEN" ] && "$BINDGEN" --version 2>/dev/null | grep -q ' 0\.70\.1$'; then
        log "bindgen: 0.70.1 already installed"; return
    fi
    log "bindgen: installing bindgen-cli 0.70.1 (Debian's 0.60 is too old for 6.12)"
    cargo install bindgen-cli --version 0.70.1 --locked --root "$(dirname "$(dirname "$BINDGEN")")"
}

kernel_source() {
    if [ -f "$KSRC/.gvt-unpacked" ]; then log "kernel source: already unpacked"; return; fi
    log "kernel source: unpacking /usr/src/linux-source-6.12.tar.xz"
    mkdir -p "$GVT_RS_CACHE"
    rm -rf "$KSRC"
    tar -C "$GVT_RS_CACHE" -xf /usr/src/linux-source-6.12.tar.xz
    touch "$KSRC/.gvt-unpacked"
}

kernel_config() {
    local frag=$GVT_ROOT/tools/testing/kconfig/gvt-qemu.config
    local want; want=$(sha256sum "$frag" | cut -d' ' -f1)
    if [ -f "$KDIR/.config" ] && [ "$(cat "$KDIR/.gvt-config" 2>/dev/null)" = "$want" ]; then
        log "kernel config: up to date"; return
    fi
    log "kernel config: applying $frag"
    mkdir -p "$KDIR"
    kmake rustavailable >/dev/null || die "the kernel does not accept this Rust toolchain"
    cp "$frag" "$KDIR/.config"
    kmake olddefconfig >/dev/null
    # Like kunit.py: every option we asked for must have survived olddefconfig.
    local bad=0 line name
    while IFS= read -r line; do
        case "$line" in
            CONFIG_*=*) grep -qxF "$line" "$KDIR/.config" || { log "lost: $line"; bad=1; } ;;
            "# CONFIG_"*" is not set")
                name=${line#\# }; name=${name%% *}
                ! grep -q "^$name=" "$KDIR/.config" || { log "lost: $line"; bad=1; } ;;
        esac
    done < "$frag"
    [ $bad = 0 ] || die "kernel config: options above were dropped by olddefconfig"
    echo "$want" > "$KDIR/.gvt-config"
    rm -f "$KDIR/.gvt-built"
}

kernel_build() {
    if [ -f "$KDIR/.gvt-built" ] && [ "$KDIR/.gvt-built" -nt "$KDIR/.config" ]; then
        log "kernel build: up to date"; return
    fi
    log "kernel build: building in $KDIR (a cold build takes 15-25 minutes on 2 cores)"
    local t0=$SECONDS
    kmake >"$KDIR/build.log" 2>&1 || { tail -n 40 "$KDIR/build.log"; die "kernel build failed"; }
    log "kernel build: done in $((SECONDS - t0)) s"
    touch "$KDIR/.gvt-built"
}

packages
bindgen
kernel_source
kernel_config
kernel_build
log "setup complete: kernel build tree in $KDIR"
