#!/usr/bin/env bash
# Builds gvt.ko, kvmgt.ko and acrngt.ko out of tree against the cached kernel, with the KUnit
# suites in. With GVT_RS_STRICT=1 (as make test does) the build runs clippy through the kernel's
# own clippy-driver and fails on any warning, C or Rust.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
[ -f "$KDIR/.gvt-built" ] || die "no kernel build in $KDIR: run make setup"
opts=(M="$GVT_ROOT" CONFIG_GVT_RS=m CONFIG_GVT_RS_SIM=y CONFIG_GVT_RS_KVMGT=m
      CONFIG_GVT_RS_ACRNGT=m CONFIG_GVT_RS_KUNIT_TEST=y
      CONFIG_GVT_RS_VHM_SIM=m)
if [ "${GVT_RS_STRICT:-0}" = 1 ]; then
    opts+=(CLIPPY=1 GVT_RS_WERROR=y)
fi
kmake "${opts[@]}" modules
