//! C functions of acrngt.ko (`acrngt/acrngt.h`), as Rust sees them.

use core::ffi::{c_int, c_void};

use crate::gvt::abi::GvtBackend;

extern "C" {
    /// acrngt's backend, as registered with gvt.ko.
    pub(crate) static acrngt_backend: GvtBackend;
    /// Creates /sys/kernel/gvt and its control node and registers with gvt.ko.
    pub(crate) fn acrngt_register() -> c_int;
    /// Undoes `acrngt_register`.
    pub(crate) fn acrngt_unregister();
    /// Creates /sys/kernel/gvt/vm`vmid` reading back `vgpu_id`; null on failure.
    pub(crate) fn acrngt_vm_create(vmid: u32, vgpu_id: u32) -> *mut c_void;
    /// Removes what `acrngt_vm_create` made.
    pub(crate) fn acrngt_vm_destroy(vm: *mut c_void);
}
