#!/usr/bin/env bash
# Records the MPT ABI (include/gvt/mpt.h) as its current GVT_MPT_ABI_VERSION has it, in
# mpt/abi_frozen.rs: every struct's size and field offsets (bindgen's asserts), every field's
# type and every function's signature, which gvt.ko and the backends then check against the
# header they build with. Third-party backends are built against a version, so a change
# without a version bump fails the build. Run after bumping GVT_MPT_ABI_VERSION and building
# once (make modules).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$GVT_ROOT"
gen=mpt/mpt_generated.rs
[ -f "$gen" ] || die "no $gen: build the modules first"
python3 scripts/abi-freeze.py "$gen" > mpt/abi_frozen.rs
log "mpt/abi_frozen.rs: $(head -n 1 mpt/abi_frozen.rs)"
