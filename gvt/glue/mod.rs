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

use kernel::error::Error;

use crate::model::error::GvtError;

/// The one place a core error becomes a kernel error.
pub(crate) fn to_kernel_error(e: GvtError) -> Error {
    Error::from_errno(-e.errno())
}

/// A kernel result as the C ABI returns it: 0 or a negative errno.
pub(crate) fn to_c(r: Result<(), Error>) -> core::ffi::c_int {
    match r {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}
