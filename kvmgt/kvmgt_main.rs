//! kvmgt.ko: gvt-rs vGPUs for KVM users through VFIO/mdev.
//!
//! kvmgt registers with gvt.ko as a backend and puts an mdev parent on every GPU gvt.ko offers,
//! so that a KVM user creates a vGPU by writing a UUID under `mdev_supported_types` (or with
//! mdevctl). The mdev and VFIO registration is C (`mdev.c`): it is ops tables and embedded
//! structs; sizes and accounting come from gvt.ko through the MPT ABI. The VFIO device's
//! reads, writes and ioctls are decided in Rust (`device.rs` over the host-tested `region`,
//! `edid` and `ioctl`), its DMA pin cache is `dma.rs`; `vfio.c` keeps ops tables and copies.

use kernel::prelude::*;

#[path = "../mpt/abi.rs"]
mod gvt;

mod device;
mod dma;
pub mod dma_cache;
pub mod edid;
#[path = "../gvt/core/error.rs"]
pub mod error;
mod ffi;
pub mod ioctl;
pub mod region;
#[cfg(gvt_kunit)]
mod tests;

module! {
    type: Kvmgt,
    name: "kvmgt",
    author: "gvt-rs developers",
    description: "gvt-rs vGPUs for KVM through VFIO/mdev",
    license: "GPL",
}

struct Kvmgt;

impl kernel::Module for Kvmgt {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        // SAFETY: called once, at module init; undone in `Drop`.
        kernel::error::to_result(unsafe { ffi::kvmgt_register() })?;
        Ok(Kvmgt)
    }
}

impl Drop for Kvmgt {
    fn drop(&mut self) {
        // SAFETY: `kvmgt_register` succeeded in `init`.
        unsafe { ffi::kvmgt_unregister() };
    }
}
