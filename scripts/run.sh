#!/usr/bin/env bash
# The main job (make run): boots QEMU with the gvt-rs modules on the sim GPU and shows vGPUs
# being created through both interfaces, then a stock i915 guest on a vGPU (nested QEMU, about
# 8 minutes): its checks, its selftests and a picture of its screen (build/l3-screen.png).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$GVT_ROOT"
bash scripts/setup.sh
mkdir -p build; bash scripts/modules.sh >build/modules.log 2>&1 || { tail -n 30 build/modules.log; die "module build failed"; }
bash scripts/static-client.sh vfio-client gvt-vfio-client >build/vfio-client.log 2>&1 || { tail -n 30 build/vfio-client.log; die "client build failed"; }
bash scripts/static-client.sh acrn-dm-client gvt-acrn-client >build/acrn-client.log 2>&1 || { tail -n 30 build/acrn-client.log; die "client build failed"; }
bash tools/testing/qemu/run.sh demo --show
# The stock guest: in a QEMU of its own, Debian's QEMU runs an unmodified i915 on an mdev vGPU.
bash tools/testing/qemu/run.sh l3 --show
