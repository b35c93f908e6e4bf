//! A user-space VFIO client for kvmgt vGPUs, the L2 half of the guest model.
//!
//! The QEMU scenario runs it (as the static binary `gvt-vfio-client`) in a busybox initramfs
//! against an mdev that kvmgt.ko created. It opens the vGPU through the VFIO container/group
//! interface as QEMU does ([`vfio`]), maps guest RAM for DMA at IOVA 0, and runs the guest
//! model's i915 probe over region reads and writes and the MSI eventfd ([`transport`]): the
//! same probe the L0 tests run directly against the device model. It also throws hostile input
//! at the device ([`bad_input`]) and times region accesses ([`commands::bench`]). Beside a
//! running QEMU it saves its guest's screen as a PNG ([`screenshot`], [`png`]).
//!
//! ```text
//! gvt-vfio-client probe UUID [--tag NAME]       exit 0 iff every check passed
//! gvt-vfio-client bad-input UUID [--tag NAME]   exit 0 iff every check passed
//! gvt-vfio-client bench UUID [N] [--tag NAME]   "region access: X ns/op (...)" lines
//! gvt-vfio-client hold UUID SECS [--tag NAME]   keeps the vGPU open (remove-while-open tests)
//! gvt-vfio-client failsafe KIND UUID N          puts the vGPU in failsafe N times over
//! gvt-vfio-client lifecycle TYPE_DIR N          create/remove times; how many fit
//! gvt-vfio-client screenshot --pid PID --out FILE.png [--base64] [--fd N]
//!                                               the screen of the guest QEMU PID runs, as PNG
//! ```
//!
//! Results are `GVT-CHECK: PASS|FAIL` lines ([`checks`]). Data from the kernel is never
//! trusted to be well-formed: no panics on it, every failure is reported as a failed check.
//! Build the static binary for the initramfs with `scripts/static-client.sh` (into `build/bin/`).

// Test code may panic on a failed expectation and index freely.
#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects,
        clippy::cast_possible_truncation
    )
)]

pub mod aperture;
pub mod bad_input;
pub mod checks;
pub mod cli;
pub mod commands;
pub mod display;
pub mod edid;
pub mod failsafe;
#[cfg(test)]
mod fake;
pub mod lifecycle;
pub mod png;
pub mod screenshot;
// ioctl, mmap, eventfd and poll need unsafe; it is confined to this module.
#[allow(unsafe_code)]
pub mod sys;
pub mod timing;
pub mod transport;
pub mod uapi;
pub mod vfio;
pub mod workloads;
