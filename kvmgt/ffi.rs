//! C functions of kvmgt.ko (`kvmgt/kvmgt.h`), as Rust sees them.

use core::ffi::c_int;

extern "C" {
    /// Registers the mdev driver and the backend with gvt.ko.
    pub(crate) fn kvmgt_register() -> c_int;
    /// Undoes `kvmgt_register`, removing every mdev and its vGPU.
    pub(crate) fn kvmgt_unregister();
}

#[cfg(gvt_kunit)]
extern "C" {
    /// The gvt device of the first mdev parent, or null.
    pub(crate) fn kvmgt_test_gd() -> *mut core::ffi::c_void;
    /// Number of mdev types of the first parent.
    pub(crate) fn kvmgt_test_nr_types() -> u32;
    /// The sysfs directory name mdev gave type `i` of the first parent.
    pub(crate) fn kvmgt_test_type_dir(i: u32) -> *const u8;
    /// `available_instances` of type `i` of the first parent, as mdev reads it.
    pub(crate) fn kvmgt_test_type_available(i: u32) -> u32;
}
