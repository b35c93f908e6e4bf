//! kvmgt.ko: gvt-rs vGPUs for KVM users through VFIO/mdev.
//!
//! kvmgt registers with gvt.ko as a backend and puts an mdev parent on every GPU gvt.ko offers,
//! so that a KVM user creates a vGPU by writing a UUID under `mdev_supported_types` (or with
//! mdevctl). The mdev and VFIO registration is C (`mdev.c`): it is ops tables and embedded
//! structs; sizes and accounting come from gvt.ko through the MPT ABI.

use core::ffi::c_int;

use kernel::prelude::*;

#[path = "../mpt/abi.rs"]
mod gvt;

mod dma;
pub mod dma_cache;
mod ffi;
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

/// `region::decode` for vfio.c.
///
/// # Safety
///
/// `index` and `offset` are writable.
#[no_mangle]
unsafe extern "C" fn kvmgt_region_decode(pos: u64, index: *mut u64, offset: *mut u64) {
    let (i, o) = region::decode(pos);
    // SAFETY: per the contract.
    unsafe {
        *index = i;
        *offset = o;
    }
}

/// `region::next_access` for vfio.c: 0 when no access fits.
///
/// # Safety
///
/// None: it takes values only.
#[no_mangle]
unsafe extern "C" fn kvmgt_region_next(offset: u64, remaining: u64, size: u64, max: u64) -> u64 {
    region::next_access(offset, remaining, size, max).unwrap_or(0)
}

/// `region::in_slice` for vfio.c.
///
/// # Safety
///
/// None: it takes values only.
#[no_mangle]
unsafe extern "C" fn kvmgt_aperture_in_slice(base: u64, size: u64, off: u64, len: u64) -> bool {
    region::in_slice(base, size, off, len)
}

/// `region::edid_access` for vfio.c: `KVMGT_EDID_REG` or `KVMGT_EDID_BLOB` (ffi.h) with the
/// offset in `*at`, or -EINVAL.
///
/// # Safety
///
/// `at` is writable.
#[no_mangle]
unsafe extern "C" fn kvmgt_edid_access(off: u64, len: u64, max_size: u64, at: *mut u64) -> c_int {
    let (kind, o) = match region::edid_access(off, len, max_size) {
        Some(region::EdidAccess::Reg(o)) => (ffi::KVMGT_EDID_REG, o),
        Some(region::EdidAccess::Blob(o)) => (ffi::KVMGT_EDID_BLOB, o),
        None => return EINVAL.to_errno(),
    };
    // SAFETY: per the contract.
    unsafe { *at = o };
    kind as c_int
}

/// `region::edid_write` for vfio.c: `KVMGT_EDID_SIZE`, `KVMGT_EDID_LINK_UP` or
/// `KVMGT_EDID_LINK_DOWN` (ffi.h), or -EINVAL or -EPERM.
///
/// # Safety
///
/// None: it takes values only.
#[no_mangle]
unsafe extern "C" fn kvmgt_edid_write(reg: u64, value: u32, max_size: u32) -> c_int {
    match region::edid_write(reg, value, max_size) {
        region::EdidWrite::Size(_) => ffi::KVMGT_EDID_SIZE as c_int,
        region::EdidWrite::LinkUp => ffi::KVMGT_EDID_LINK_UP as c_int,
        region::EdidWrite::LinkDown => ffi::KVMGT_EDID_LINK_DOWN as c_int,
        region::EdidWrite::Invalid => EINVAL.to_errno(),
        region::EdidWrite::ReadOnly => EPERM.to_errno(),
    }
}
