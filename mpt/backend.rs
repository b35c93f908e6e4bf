//! The MPT ABI as a backend written in Rust sees it: the structs, and the functions gvt.ko
//! exports (`include/gvt/mpt.h`). Included by backend crate roots only, as `mod gvt`; gvt.ko
//! defines the functions in `gvt/glue/mpt_abi.rs`.

use core::ffi::{c_int, c_void};

#[path = "abi.rs"]
pub mod abi;

use abi::{GvtBackend, GvtTypeInfo, GvtVgpuParams};

extern "C" {
    /// `gvt_register_backend`.
    pub fn gvt_register_backend(be: *const GvtBackend) -> c_int;
    /// `gvt_unregister_backend`.
    pub fn gvt_unregister_backend(be: *const GvtBackend);
    /// `gvt_device_type_count`.
    pub fn gvt_device_type_count(gd: *mut c_void) -> u32;
    /// `gvt_device_type_info`.
    pub fn gvt_device_type_info(gd: *mut c_void, idx: u32, info: *mut GvtTypeInfo) -> c_int;
    /// `gvt_device_type_available`.
    pub fn gvt_device_type_available(gd: *mut c_void, idx: u32) -> u32;
    /// `gvt_vgpu_create`.
    pub fn gvt_vgpu_create(
        gd: *mut c_void,
        params: *const GvtVgpuParams,
        vgpu: *mut *mut c_void,
    ) -> c_int;
    /// `gvt_vgpu_destroy`.
    pub fn gvt_vgpu_destroy(vgpu: *mut c_void);
    /// `gvt_vgpu_id`.
    pub fn gvt_vgpu_id(vgpu: *mut c_void) -> u32;
}
