//! C functions of gvt.ko's own shims (`gvt/glue/shim.h`), as Rust sees them. Kernel objects
//! cross as opaque pointers.

use core::ffi::{c_int, c_void};

extern "C" {
    /// `vzalloc()`: zeroed vmalloc memory, or null.
    pub(crate) fn gvt_vzalloc(size: usize) -> *mut c_void;
    /// `vfree()`.
    pub(crate) fn gvt_vfree(p: *mut c_void);
    /// Registers the sim GPU's platform driver and device; `*dev` receives its struct device.
    #[cfg(gvt_sim)]
    pub(crate) fn gvt_sim_register(dev: *mut *mut c_void) -> c_int;
    /// Unregisters what `gvt_sim_register` registered.
    #[cfg(gvt_sim)]
    pub(crate) fn gvt_sim_unregister(dev: *mut c_void);
}
