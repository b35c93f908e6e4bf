//! The MPT ABI as a backend written in Rust sees it: the structs, and the functions gvt.ko
//! exports (`include/gvt/mpt.h`). Included by backend crate roots only, as `mod gvt`; gvt.ko
//! defines the functions in `gvt/glue/mpt_abi.rs`.

use core::ffi::{c_int, c_void};

#[path = "abi.rs"]
pub mod abi;

use abi::{GvtBackend, GvtDeviceHandle, GvtTypeInfo, GvtVgpuHandle, GvtVgpuInfo, GvtVgpuParams};

extern "C" {
    /// `gvt_register_backend`.
    pub fn gvt_register_backend(be: *const GvtBackend) -> c_int;
    /// `gvt_unregister_backend`.
    pub fn gvt_unregister_backend(be: *const GvtBackend);
    /// `gvt_device_type_count`.
    pub fn gvt_device_type_count(gd: *mut GvtDeviceHandle) -> u32;
    /// `gvt_device_type_info`.
    pub fn gvt_device_type_info(
        gd: *mut GvtDeviceHandle,
        idx: u32,
        info: *mut GvtTypeInfo,
    ) -> c_int;
    /// `gvt_device_type_available`.
    pub fn gvt_device_type_available(gd: *mut GvtDeviceHandle, idx: u32) -> u32;
    /// `gvt_vgpu_create_typed`.
    pub fn gvt_vgpu_create_typed(
        be: *const GvtBackend,
        gd: *mut GvtDeviceHandle,
        type_idx: u32,
        priv_: *mut c_void,
        vgpu: *mut *mut GvtVgpuHandle,
    ) -> c_int;
    /// `gvt_vgpu_create`.
    pub fn gvt_vgpu_create(
        be: *const GvtBackend,
        gd: *mut GvtDeviceHandle,
        params: *const GvtVgpuParams,
        priv_: *mut c_void,
        vgpu: *mut *mut GvtVgpuHandle,
    ) -> c_int;
    /// `gvt_vgpu_destroy`.
    pub fn gvt_vgpu_destroy(vgpu: *mut GvtVgpuHandle);
    /// `gvt_vgpu_id`.
    pub fn gvt_vgpu_id(vgpu: *mut GvtVgpuHandle) -> u32;
    /// `gvt_vgpu_cfg_read`.
    pub fn gvt_vgpu_cfg_read(
        vgpu: *mut GvtVgpuHandle,
        offset: u32,
        buf: *mut c_void,
        len: u32,
    ) -> c_int;
    /// `gvt_vgpu_cfg_write`.
    pub fn gvt_vgpu_cfg_write(
        vgpu: *mut GvtVgpuHandle,
        offset: u32,
        buf: *const c_void,
        len: u32,
    ) -> c_int;
    /// `gvt_vgpu_mmio_read`.
    pub fn gvt_vgpu_mmio_read(
        vgpu: *mut GvtVgpuHandle,
        offset: u64,
        buf: *mut c_void,
        len: u32,
    ) -> c_int;
    /// `gvt_vgpu_get_info`.
    pub fn gvt_vgpu_get_info(vgpu: *mut GvtVgpuHandle, info: *mut GvtVgpuInfo) -> c_int;
    /// `gvt_vgpu_opregion_read`.
    pub fn gvt_vgpu_opregion_read(
        vgpu: *mut GvtVgpuHandle,
        offset: u32,
        buf: *mut c_void,
        len: u32,
    ) -> c_int;
    /// `gvt_vgpu_activate`.
    pub fn gvt_vgpu_activate(vgpu: *mut GvtVgpuHandle) -> c_int;
    /// `gvt_vgpu_deactivate`.
    pub fn gvt_vgpu_deactivate(vgpu: *mut GvtVgpuHandle) -> c_int;
    /// `gvt_vgpu_reset`.
    pub fn gvt_vgpu_reset(vgpu: *mut GvtVgpuHandle) -> c_int;
    /// `gvt_vgpu_mmio_write`.
    pub fn gvt_vgpu_mmio_write(
        vgpu: *mut GvtVgpuHandle,
        offset: u64,
        buf: *const c_void,
        len: u32,
    ) -> c_int;
}
