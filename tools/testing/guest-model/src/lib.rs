//! A model of the guest i915 driver on a vGPU, for testing the device model without a VM.
//!
//! The guest side ([`probe`]) performs what i915 does when it binds to a GVT-g vGPU, as config
//! space and BAR0 accesses: BAR sizing and placement, MSI setup, the PVINFO check and
//! ballooning, forcewake, GT reset, PCODE, display power, interrupt setup and GGTT/fence
//! programming of its own partition. It talks through a small [`Transport`] so the same
//! sequence can run directly against the core (here, [`direct::Direct`]) and later over VFIO
//! or the ACRN ioreq path from user space.
//!
//! The display side ([`modeset`], `no_std` too) reads the monitor's EDID and DPCD, trains the
//! link, modesets a pipe and flips planes, waiting for vblanks through a [`Timer`]; [`readout`]
//! reads back, at probe, the pipe firmware left lit, as i915's hardware state readout does.
//!
//! The execution side ([`gpu`], `no_std` like the probe) builds a 4-level PPGTT, contexts,
//! rings and batches and submits through ELSP; [`machine::Machine`] runs several such guests
//! on one GPU at L0 with the test executor of [`exec_host`] and the real Gen9 command scanner.
//!
//! [`hv::MemHypervisor`] is the in-memory hypervisor behind the direct transport: guest RAM,
//! DMA mapping with reference counts, and a log of MSIs.

// A host-side test tool, never built into the kernel: a failed expectation may panic.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::unreachable,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::cast_possible_truncation
)]

pub mod direct;
pub mod exec_host;
pub mod gpu;
pub mod guest;
pub mod hv;
pub mod machine;
pub mod modeset;
pub mod probe;
pub mod readout;
pub mod recording;
pub mod rng;
pub mod sched_sim;
pub mod storage;
pub mod workload;

pub use guest::{Error, Result, Timer, Transport, TransportExt};

/// Copies `src` over `dst` (same length) one page of `dst` at a time, leaving alone the pages
/// whose bytes are already equal. The result is a plain copy; the point is that the model's
/// memory (guest RAM, host pages, the core's buffers it fills) is not written where nothing
/// changes, which is what the fuzz targets' snapshots pay for (a context image is mostly zero
/// pages, copied four times per workload).
pub fn copy_changed(dst: &mut [u8], src: &[u8]) {
    let mut off = 0;
    while off < dst.len() {
        let n = (4096 - (dst.as_ptr() as usize + off) % 4096).min(dst.len() - off);
        let (d, s) = (&mut dst[off..off + n], &src[off..off + n]);
        // Slice compares are memcmp: no instrumented loop under the fuzzers.
        if d != s {
            d.copy_from_slice(s);
        }
        off += n;
    }
}

/// The platform the whole-stack tests run on: `GVT_PLATFORM` (`bxt`, `skl`, `kbl`, `cfl`,
/// `cml`), Broxton when unset. `make test` runs them on each.
pub fn platform() -> gvt::model::hw::Platform {
    match std::env::var("GVT_PLATFORM") {
        Ok(name) => gvt::model::hw::Platform::from_name(&name)
            .unwrap_or_else(|| panic!("GVT_PLATFORM={name}: not a platform")),
        Err(_) => gvt::model::hw::Platform::Broxton,
    }
}

/// A sim host of [`platform`] with its GGTT on the heap.
pub fn sim_host() -> gvt::sim::SimHost<Box<[std::sync::atomic::AtomicU64]>> {
    sim_host_of(gvt::sim::info(platform()))
}

/// A sim host with `info`'s facts, its GGTT on the heap.
pub fn sim_host_of(
    info: gvt::model::host::HostInfo,
) -> gvt::sim::SimHost<Box<[std::sync::atomic::AtomicU64]>> {
    let ggtt = (0..gvt::sim::ggtt_entries(&info))
        .map(|_| std::sync::atomic::AtomicU64::new(0))
        .collect();
    gvt::sim::SimHost::new(info, ggtt).expect("the sim's own facts are consistent")
}
