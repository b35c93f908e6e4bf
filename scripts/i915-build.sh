#!/usr/bin/env bash
# Builds gvt.ko with the i915 host (CONFIG_GVT_RS_I915) against the cached kernel, strict
# (kernel clippy, C and Rust warnings are errors). It builds a copy of the sources in
# build/i915, so the default (sim) build's objects are not disturbed. It cannot run here (no
# Intel GPU): it proves the shim compiles against i915 6.12's private headers and that every
# i915 symbol gvt.ko uses resolves (modpost, I915_GVT namespace). Ends with the build time.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
[ -f "$KDIR/.gvt-built" ] || die "no kernel build in $KDIR: run make setup"
grep -q '^CONFIG_DRM_I915_GVT=y' "$KDIR/.config" || die "the kernel has no CONFIG_DRM_I915_GVT=y"
out=$GVT_ROOT/build/i915
rm -rf "$out"
mkdir -p "$out"
(cd "$GVT_ROOT" && tar cf - --exclude='*.o' --exclude='.*.cmd' --exclude='*.ko' --exclude='*.mod*' \
    Kbuild include mpt gvt tools/testing/guest-model/src) | tar xf - -C "$out"
t0=$SECONDS
kmake M="$out" CONFIG_GVT_RS=m CONFIG_GVT_RS_SIM=y CONFIG_GVT_RS_I915=y \
    CLIPPY=1 GVT_RS_WERROR=y modules
# modpost accepted the namespace import; say so from the module itself.
modinfo -F import_ns "$out/gvt.ko" | grep -qx I915_GVT || die "gvt.ko does not import I915_GVT"
secs=$((SECONDS - t0))
# The panic scan of this build, for information: scripts/panic-scan.sh is the gate (on the
# default build); this shows whether the i915 configuration adds a path.
allow=$GVT_ROOT/tools/testing/panic-allowlist.txt
pattern='4core9panicking|panic_bounds_check|unwrap_failed|expect_failed|_len_fail|_order_fail|panic_already_borrowed|panic_const|slice_index_fail|5panic[^a-z_]'
hits=$(nm -u "$out/gvt.ko" | awk '{print $2}' | grep -E "$pattern" | grep -vEf <(grep -vE '^\s*(#|$)' "$allow") || true)
echo "i915 host build: panic paths not allowlisted: ${hits:-none}" | tr '\n' ' '; echo
echo "i915 host build: gvt.ko in $secs s (imports: $(modinfo -F import_ns "$out/gvt.ko" | tr '\n' ' '))"
