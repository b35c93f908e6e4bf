//! An ACRN-DM-like client for acrngt vGPUs, the L2 half of the guest model on ACRN.
//!
//! The QEMU scenario runs it (as the static binary `gvt-acrn-client`) in a busybox initramfs
//! with gvt.ko, vhm_sim.ko (the simulated ACRN VHM) and acrngt.ko loaded. It does what ACRN-DM
//! does for a User VM with `-s 2,pci-gvt -G "64 448 8"`: creates the VM in the VHM
//! (`/dev/vhm_sim`, [`vhm`]), writes `"vmid,64,448,8\n"` to
//! `/sys/kernel/gvt/control/create_gvt_instance` and reads `vmN/vgpu_id` ([`control`]), then
//! plays the guest's vCPU: the guest model's i915 probe runs over ioreqs ([`transport`]),
//! config cycles as `REQ_PCICFG` for 00:02.0, BAR0 accesses as `REQ_MMIO`, which acrngt's
//! ioreq client serves. Then `"-vmid\n"` and the VM is destroyed.
//!
//! ```text
//! gvt-acrn-client run VMID [LOW HIGH FENCES] [--tag NAME]   exit 0 iff every check passed
//! gvt-acrn-client bad-input VMID [--tag NAME]               exit 0 iff every check passed
//! gvt-acrn-client bench VMID [N] [--tag NAME]               "ioreq round trip: X ns/op (...)"
//! gvt-acrn-client selftest VMID [--tag NAME]                vhm_sim.ko alone, no acrngt
//! gvt-acrn-client fill VMID N [LOW HIGH FENCES] [--tag NAME] how many instances fit at once
//! ```
//!
//! Results are `GVT-CHECK: PASS|FAIL` lines (vfio-client's [`vfio_client::checks`]), then
//! `gvt-acrn-client: N passed, N failed`. Data from the kernel is never trusted to be
//! well-formed: no panics on it. Build the static binary with `scripts/static-client.sh`.

// Test code may panic on a failed expectation and index freely.
#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects,
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss
    )
)]

pub mod bad_input;
pub mod cli;
pub mod commands;
pub mod control;
#[cfg(test)]
mod fake;
pub mod fill;
pub mod selftest;
// ioctl needs unsafe; it is confined to this module.
#[allow(unsafe_code)]
pub mod sys;
pub mod transport;
pub mod uapi;
pub mod vhm;
