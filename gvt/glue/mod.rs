//! The kernel side of gvt.ko: the only place with `unsafe`, kernel bindings, locks and
//! allocation. It owns the core's state behind kernel locks and implements the C ABI.

mod devices;
mod ffi;
mod mpt_abi;
#[cfg(gvt_kunit)]
mod tests;

pub(crate) use devices::Gvt;

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
