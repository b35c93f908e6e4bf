//! Rust mirror of `include/gvt/mpt.h`. Keep the two in step: the sizes are asserted here and in
//! the C shim, so a drift fails the build rather than corrupting memory.

use core::ffi::{c_int, c_void};

/// `GVT_MPT_ABI_VERSION`: bumped on any incompatible change to the header.
pub const GVT_MPT_ABI_VERSION: u32 = 2;

/// `GVT_NAME_LEN`.
pub const GVT_NAME_LEN: usize = 16;

/// `GVT_EDID_MAX_SIZE`.
pub const GVT_EDID_MAX_SIZE: usize = 256;

/// `GVT_VGPU_NAME_LEN`: the longest name `gvt_vgpu_set_name` takes, with its NUL.
pub const GVT_VGPU_NAME_LEN: usize = 48;

/// `struct gvt_type_info`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GvtTypeInfo {
    /// NUL-terminated type name.
    pub name: [u8; GVT_NAME_LEN],
    /// Bytes of aperture.
    pub low_gm_size: u64,
    /// Bytes of hidden graphics memory.
    pub high_gm_size: u64,
    /// Fence registers.
    pub fences: u32,
    /// Scheduling weight.
    pub weight: u32,
    /// NUL-terminated "WxH".
    pub resolution: [u8; GVT_NAME_LEN],
}

/// `struct gvt_vgpu_info`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GvtVgpuInfo {
    /// Size of BAR0 (registers and GGTT).
    pub bar0_size: u64,
    /// Size of BAR2 as the guest sizes it.
    pub aperture_size: u64,
    /// Offset of the vGPU's own slice in BAR2.
    pub aperture_slice_base: u64,
    /// Size of the vGPU's own slice.
    pub aperture_slice_size: u64,
    /// Size of the OpRegion.
    pub opregion_size: u32,
    /// Width of the virtual monitor's resolution.
    pub display_xres: u32,
    /// Height of the virtual monitor's resolution.
    pub display_yres: u32,
    /// Zero.
    pub reserved: u32,
}

/// `struct gvt_plane_info`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GvtPlaneInfo {
    /// DRM fourcc.
    pub drm_format: u32,
    /// Zero.
    pub reserved: u32,
    /// DRM format modifier.
    pub modifier: u64,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Bytes per row.
    pub stride: u32,
    /// Bytes the scanout reads, page aligned.
    pub size: u32,
    /// Horizontal position.
    pub x_pos: u32,
    /// Vertical position.
    pub y_pos: u32,
    /// Cursor hotspot, or `u32::MAX`.
    pub x_hot: u32,
    /// Cursor hotspot, or `u32::MAX`.
    pub y_hot: u32,
    /// Graphics address of the surface.
    pub gm: u64,
}

/// `struct gvt_vgpu_params`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GvtVgpuParams {
    /// Bytes of aperture.
    pub low_gm_size: u64,
    /// Bytes of hidden graphics memory.
    pub high_gm_size: u64,
    /// Fence registers.
    pub fences: u32,
    /// Scheduling weight, 1..=16.
    pub weight: u32,
}

/// Opaque `struct gvt_device` as C sees it.
pub type GvtDeviceHandle = c_void;

/// Opaque `struct gvt_vgpu` as C sees it.
pub type GvtVgpuHandle = c_void;

/// `struct gvt_backend_ops`: device notifications and the MPT services of a backend.
#[repr(C)]
pub struct GvtBackendOps {
    /// `device_added`.
    pub device_added: Option<unsafe extern "C" fn(gd: *mut GvtDeviceHandle) -> c_int>,
    /// `device_removed`.
    pub device_removed: Option<unsafe extern "C" fn(gd: *mut GvtDeviceHandle)>,
    /// `read_gpa`.
    pub read_gpa: Option<
        unsafe extern "C" fn(priv_: *mut c_void, gpa: u64, buf: *mut c_void, len: usize) -> c_int,
    >,
    /// `write_gpa`.
    pub write_gpa: Option<
        unsafe extern "C" fn(priv_: *mut c_void, gpa: u64, buf: *const c_void, len: usize) -> c_int,
    >,
    /// `dma_map_guest_page`.
    pub dma_map_guest_page: Option<
        unsafe extern "C" fn(priv_: *mut c_void, gfn: u64, size: u64, dma_addr: *mut u64) -> c_int,
    >,
    /// `dma_unmap_guest_page`.
    pub dma_unmap_guest_page: Option<unsafe extern "C" fn(priv_: *mut c_void, dma_addr: u64)>,
    /// `inject_msi`.
    pub inject_msi: Option<unsafe extern "C" fn(priv_: *mut c_void, addr: u64, data: u32) -> c_int>,
    /// `set_trap_area` (optional).
    pub set_trap_area:
        Option<unsafe extern "C" fn(priv_: *mut c_void, start: u64, end: u64, trap: bool) -> c_int>,
    /// `map_aperture` (optional).
    pub map_aperture: Option<
        unsafe extern "C" fn(priv_: *mut c_void, gfn: u64, mfn: u64, nr: u64, map: bool) -> c_int,
    >,
    /// `page_track_supported` (optional).
    pub page_track_supported: Option<unsafe extern "C" fn(priv_: *mut c_void) -> bool>,
    /// `page_track_add` (optional).
    pub page_track_add: Option<unsafe extern "C" fn(priv_: *mut c_void, gfn: u64) -> c_int>,
    /// `page_track_remove` (optional).
    pub page_track_remove: Option<unsafe extern "C" fn(priv_: *mut c_void, gfn: u64)>,
    /// `aperture_invalidate` (optional).
    pub aperture_invalidate:
        Option<unsafe extern "C" fn(priv_: *mut c_void, offset: u64, size: u64)>,
}

impl GvtBackendOps {
    /// No callbacks: a base for ops tables that leave some out.
    pub const NONE: GvtBackendOps = GvtBackendOps {
        device_added: None,
        device_removed: None,
        read_gpa: None,
        write_gpa: None,
        dma_map_guest_page: None,
        dma_unmap_guest_page: None,
        inject_msi: None,
        set_trap_area: None,
        map_aperture: None,
        page_track_supported: None,
        page_track_add: None,
        page_track_remove: None,
        aperture_invalidate: None,
    };
}

/// `struct gvt_backend`.
#[repr(C)]
pub struct GvtBackend {
    /// Must be [`GVT_MPT_ABI_VERSION`].
    pub abi_version: u32,
    /// NUL-terminated backend name (the kernel's `char` is unsigned).
    pub name: *const u8,
    /// `struct module *` of the backend.
    pub owner: *mut c_void,
    /// The backend's callbacks.
    pub ops: *const GvtBackendOps,
}

const _: () = assert!(core::mem::size_of::<GvtTypeInfo>() == 56);
const _: () = assert!(core::mem::size_of::<GvtVgpuParams>() == 24);
const _: () = assert!(core::mem::size_of::<GvtVgpuInfo>() == 48);
const _: () = assert!(core::mem::size_of::<GvtPlaneInfo>() == 56);
const _: () = assert!(core::mem::size_of::<GvtBackendOps>() == 104);
const _: () = assert!(core::mem::size_of::<GvtBackend>() == 32);

/// Copies `s` into a fixed C string field, truncating so that a NUL always ends it.
pub fn fill_c_name(dst: &mut [u8; GVT_NAME_LEN], s: &str) {
    *dst = [0; GVT_NAME_LEN];
    for (d, b) in dst
        .iter_mut()
        .take(GVT_NAME_LEN.saturating_sub(1))
        .zip(s.bytes())
    {
        *d = b;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_always_nul_terminated() {
        let mut n = [0xffu8; GVT_NAME_LEN];
        fill_c_name(&mut n, "GVTg_V5_8");
        assert_eq!(&n[..10], b"GVTg_V5_8\0");
        fill_c_name(&mut n, "a-name-much-longer-than-sixteen");
        assert_eq!(n[GVT_NAME_LEN - 1], 0);
        assert_eq!(&n[..15], b"a-name-much-lon");
    }
}
