//! The kernel side of gvt.ko: the only place with `unsafe`, kernel bindings, locks and
//! allocation. It owns the core's state behind kernel locks and implements the C ABI.

#[path = "../../mpt/abi.rs"]
pub(crate) mod abi;
mod aperture;
mod debugfs;
mod devices;
mod display;
mod exec;
mod ffi;
mod grants;
#[cfg(gvt_i915)]
mod i915;
mod mpt_abi;
#[cfg(gvt_sim)]
mod sim;
#[cfg(gvt_kunit)]
mod tests;
mod trace;
mod vbuf;
mod vgpu;

// The guest model's probe, the one the host-side tests run, for the KUnit suite to run in the
// kernel over the MPT ABI.
#[cfg(gvt_kunit)]
#[path = "../../tools/testing/guest-model/src/gpu.rs"]
pub mod gpu;
#[cfg(gvt_kunit)]
#[path = "../../tools/testing/guest-model/src/guest.rs"]
pub mod guest;
#[cfg(gvt_kunit)]
#[path = "../../tools/testing/guest-model/src/modeset.rs"]
pub mod modeset;
#[cfg(gvt_kunit)]
#[path = "../../tools/testing/guest-model/src/probe.rs"]
pub mod probe;
#[cfg(gvt_kunit)]
#[path = "../../tools/testing/guest-model/src/readout.rs"]
pub mod readout;
#[cfg(gvt_kunit)]
#[path = "../../tools/testing/guest-model/src/workload.rs"]
pub mod workload;

pub(crate) use devices::Driver;

use core::ffi::c_int;

use kernel::{bindings, error::Error};

use crate::model::error::{errno, GvtError, Result as ModelResult};

// The core's errno numbers (the one map, `GvtError::errno`) are the kernel's.
const _: () = {
    assert!(errno::EPERM == bindings::EPERM as i32);
    assert!(errno::ENOENT == bindings::ENOENT as i32);
    assert!(errno::ENOMEM == bindings::ENOMEM as i32);
    assert!(errno::EFAULT == bindings::EFAULT as i32);
    assert!(errno::EBUSY == bindings::EBUSY as i32);
    assert!(errno::EEXIST == bindings::EEXIST as i32);
    assert!(errno::ENODEV == bindings::ENODEV as i32);
    assert!(errno::EINVAL == bindings::EINVAL as i32);
    assert!(errno::ENOSPC == bindings::ENOSPC as i32);
    assert!(errno::ERANGE == bindings::ERANGE as i32);
    assert!(errno::EOPNOTSUPP == bindings::EOPNOTSUPP as i32);
};

/// A core error as a kernel error.
pub(crate) fn to_kernel_error(e: GvtError) -> Error {
    Error::from_errno(-e.errno())
}

/// A kernel result as the C ABI returns it: 0 or a negative errno.
pub(crate) fn to_c(r: Result<(), Error>) -> c_int {
    match r {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// A core result as the C ABI returns it.
pub(crate) fn model_to_c(r: ModelResult) -> c_int {
    to_c(r.map_err(to_kernel_error))
}

/// A C return value (0 or a negative errno, from a backend or a shim) as the core sees it.
pub(crate) fn model_from_c(ret: c_int) -> ModelResult {
    match ret {
        0 => Ok(()),
        n => Err(GvtError::from_errno(n)),
    }
}
