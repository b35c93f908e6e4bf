//! acrngt.ko: gvt-rs vGPUs for ACRN User VMs.
//!
//! ACRN-DM creates and destroys a User VM's vGPU through `/sys/kernel/gvt/control/
//! create_gvt_instance` and reads its id from `/sys/kernel/gvt/vmN/vgpu_id`. The protocol is
//! parsed by `control` (pure, host-tested), the instance table is `instances`, and the sysfs
//! nodes are C (`sysfs.c`). Each instance is a VHM ioreq client (`ioreq.c`) whose requests
//! `ioreq` decodes and checks before gvt.ko emulates them.

use kernel::prelude::*;

#[path = "../mpt/abi.rs"]
mod gvt;

pub mod control;
#[path = "../gvt/core/error.rs"]
pub mod error;
mod ffi;
mod instances;
pub mod ioreq;
#[cfg(gvt_kunit)]
mod tests;

module! {
    type: Acrngt,
    name: "acrngt",
    author: "gvt-rs developers",
    description: "gvt-rs vGPUs for ACRN through the VHM API",
    license: "GPL",
}

struct Acrngt {
    _instances: instances::Instances,
}

impl kernel::Module for Acrngt {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        Ok(Acrngt {
            _instances: instances::Instances::new()?,
        })
    }
}

/// `ioreq::Request::decode` for ioreq.c: 0 and `*out`, or -EINVAL for a refused request.
///
/// # Safety
///
/// `out` is writable.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
unsafe extern "C" fn acrngt_decode(
    kind: u32,
    direction: u32,
    address: u64,
    size: i64,
    bus: i32,
    dev: i32,
    func: i32,
    reg: i32,
    bar0_start: u64,
    bar0_end: u64,
    out: *mut ffi::acrngt_access,
) -> core::ffi::c_int {
    let req = ioreq::Request {
        kind,
        direction,
        address,
        size,
        bdf: (bus, dev, func),
        reg,
    };
    let window = (bar0_end != 0).then_some((bar0_start, bar0_end));
    let a = match req.decode(window) {
        Ok(ioreq::Access::Cfg { write, offset, len }) => ffi::acrngt_access {
            kind: ffi::ACRNGT_ACCESS_CFG,
            write: write.into(),
            offset: offset.into(),
            len,
            reserved: 0,
        },
        Ok(ioreq::Access::Mmio { write, offset, len }) => ffi::acrngt_access {
            kind: ffi::ACRNGT_ACCESS_MMIO,
            write: write.into(),
            offset,
            len,
            reserved: 0,
        },
        Ok(ioreq::Access::WpWrite { gpa, len }) => ffi::acrngt_access {
            kind: ffi::ACRNGT_ACCESS_WP,
            write: 1,
            offset: gpa,
            len,
            reserved: 0,
        },
        Err(_) => return EINVAL.to_errno(),
    };
    // SAFETY: per the contract.
    unsafe { *out = a };
    0
}
