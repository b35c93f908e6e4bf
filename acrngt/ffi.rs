//! C functions of acrngt.ko (`acrngt/acrngt.h`), as Rust sees them.

use core::ffi::{c_int, c_void};

use crate::gvt::abi::GvtVgpuParams;

extern "C" {
    /// gvt.ko's `gvt_device_plane_owner_show` (include/gvt/mpt.h).
    pub(crate) fn gvt_device_plane_owner_show(gd: *mut c_void, buf: *mut u8, len: usize) -> isize;
    /// Creates /sys/kernel/gvt and its control node and registers with gvt.ko.
    pub(crate) fn acrngt_register() -> c_int;
    /// Undoes `acrngt_register`.
    pub(crate) fn acrngt_unregister();
    /// Creates /sys/kernel/gvt/vm`vmid` for instance `inst` (which must outlive it); null on
    /// failure.
    pub(crate) fn acrngt_vm_create(vmid: u32, inst: *mut c_void) -> *mut c_void;
    /// Sends the dom0_ready uevent: ACRN-DM may start User VMs with vGPUs.
    pub(crate) fn acrngt_dom0_ready();
    /// Removes what `acrngt_vm_create` made.
    pub(crate) fn acrngt_vm_destroy(vm: *mut c_void);
    /// Creates an instance for `vmid` on `gd`: its vGPU, VHM client and thread; null and
    /// `*err` on failure (nothing created).
    pub(crate) fn acrngt_instance_create(
        gd: *mut c_void,
        vmid: u32,
        params: *const GvtVgpuParams,
        err: *mut c_int,
    ) -> *mut c_void;
    /// The id of an instance's vGPU.
    pub(crate) fn acrngt_instance_vgpu_id(inst: *mut c_void) -> u32;
    /// Stops an instance's thread and client and destroys its vGPU.
    pub(crate) fn acrngt_instance_destroy(inst: *mut c_void);
}
