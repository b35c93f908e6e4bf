//! The MPT C ABI exported by gvt.ko (`include/gvt/mpt.h`): backend registration and the device
//! queries backends make. The C shim exports these symbols; their layouts live in `mpt/abi.rs`.

use core::ffi::c_int;

use kernel::{prelude::*, str::BStr};

use super::abi::{self, c_signatures, gvt_backend, gvt_device, gvt_type_info, GVT_MPT_ABI_VERSION};
use super::devices::{registry, BackendSlot, GvtDevice, Registry};
use super::to_c;
use crate::mpt::fill_c_name;

// The ABI's functions are defined here and in `vgpu.rs` and `aperture.rs`, each as
// `include/gvt/mpt.h` declares it (a missing one fails at modpost).
c_signatures!(super::abi => super::mpt_abi: gvt_register_backend, gvt_unregister_backend, gvt_device_dev,
    gvt_device_type_count, gvt_device_type_info, gvt_device_type_available,
    gvt_device_plane_owner_show);
c_signatures!(super::abi => super::aperture: gvt_vgpu_aperture_pfn, gvt_vgpu_aperture_rw);
c_signatures!(super::abi => super::vgpu: gvt_vgpu_create_typed, gvt_vgpu_create, gvt_vgpu_destroy,
    gvt_vgpu_id, gvt_vgpu_set_name, gvt_vgpu_cfg_read, gvt_vgpu_cfg_write, gvt_vgpu_mmio_read,
    gvt_vgpu_mmio_write, gvt_vgpu_page_track_write, gvt_vgpu_dma_grant, gvt_vgpu_dma_revoke,
    gvt_vgpu_set_display_domain, gvt_vgpu_query_plane, gvt_vgpu_gm_pages, gvt_vgpu_get_info,
    gvt_vgpu_get_edid, gvt_vgpu_set_edid, gvt_vgpu_set_link, gvt_vgpu_opregion_read,
    gvt_vgpu_activate, gvt_vgpu_deactivate, gvt_vgpu_reset, gvt_vgpu_debugfs_dir);

/// Longest backend name shown in logs.
pub(super) const MAX_NAME: usize = 32;

/// The bytes of the C string at `p` up to its NUL, read without trusting its length: at most
/// `max` bytes (all `max` of them if there is no NUL among them).
///
/// # Safety
///
/// `p` is non-null and readable up to its NUL or `max` bytes, whichever comes first, for `'a`.
pub(super) unsafe fn c_bytes<'a>(p: *const u8, max: usize) -> &'a [u8] {
    let mut len = 0usize;
    // SAFETY: per the contract, up to the NUL or `max` bytes are readable.
    while len < max && unsafe { *p.add(len) } != 0 {
        len = len.wrapping_add(1);
    }
    // SAFETY: the `len` bytes at `p` were just read, and live for `'a`.
    unsafe { core::slice::from_raw_parts(p, len) }
}

/// The backend's name for logs: at most [`MAX_NAME`] bytes.
pub(super) fn backend_name(be: &gvt_backend) -> &BStr {
    // SAFETY: registration checked `name` is non-null, and the ABI requires a NUL-terminated
    // string that lives as long as the registration.
    BStr::from_bytes(unsafe { c_bytes(be.name, MAX_NAME) })
}

/// Offers device slot `i` to a backend; true if the backend took it.
pub(super) fn offer(be: &gvt_backend, dev: &GvtDevice) -> bool {
    // SAFETY: registration checked `ops` is non-null; it points to the backend's ops table.
    let ops = unsafe { &*be.ops };
    let Some(added) = ops.device_added else {
        return false;
    };
    // SAFETY: the callback gets a device pointer that stays valid until `device_removed`.
    let ret = unsafe { added(dev.handle()) };
    if ret != 0 {
        pr_info!("backend {} refused a device ({})\n", backend_name(be), ret);
    }
    ret == 0
}

pub(super) fn withdraw(be: &gvt_backend, dev: &GvtDevice) {
    // SAFETY: as in `offer`.
    let ops = unsafe { &*be.ops };
    if let Some(removed) = ops.device_removed {
        // SAFETY: the device was accepted by this backend and is still alive.
        unsafe { removed(dev.handle()) };
    }
}

fn register(be_ptr: *const gvt_backend) -> Result {
    // SAFETY: the caller passes null or a valid `struct gvt_backend` that outlives its
    // registration (ABI contract).
    let be = unsafe { be_ptr.as_ref() }.ok_or(EINVAL)?;
    if be.abi_version != GVT_MPT_ABI_VERSION || be.ops.is_null() || be.name.is_null() {
        return Err(EINVAL);
    }
    let mut reg = registry().ok_or(ENODEV)?.lock();
    if reg
        .backends
        .iter()
        .flatten()
        .any(|s| core::ptr::eq(s.be, be_ptr))
    {
        return Err(EEXIST);
    }
    let free = super::devices::first_index(&reg.backends, Option::is_none).ok_or(ENOSPC)?;
    let (mut added, mut bit) = (0u32, 1u32);
    for dev in reg.devices.iter() {
        if let Some(dev) = dev {
            if offer(be, dev) {
                added |= bit;
            }
        }
        bit = bit.wrapping_shl(1);
    }
    let slot = reg.backends.get_mut(free).ok_or(ENOSPC)?;
    *slot = Some(BackendSlot { be: be_ptr, added });
    pr_info!("backend {} registered\n", backend_name(be));
    Ok(())
}

/// Registers a hypervisor backend; see `include/gvt/mpt.h`.
///
/// # Safety
///
/// `be` is null or points to a `struct gvt_backend` (with its name and ops) that stays valid
/// until `gvt_unregister_backend(be)` returns.
#[no_mangle]
pub(crate) unsafe extern "C" fn gvt_register_backend(be: *const gvt_backend) -> c_int {
    to_c(register(be))
}

fn unregister(reg: &mut Registry, be_ptr: *const gvt_backend) -> Option<BackendSlot> {
    let slot = reg
        .backends
        .iter_mut()
        .find(|s| s.as_ref().is_some_and(|s| core::ptr::eq(s.be, be_ptr)))?;
    let s = slot.take()?;
    // SAFETY: `s.be` was valid at registration and stays valid until this call returns.
    let be = unsafe { &*s.be };
    for (i, dev) in reg.devices.iter().enumerate() {
        let bit = 1u32
            .checked_shl(u32::try_from(i).unwrap_or(u32::MAX))
            .unwrap_or(0);
        if let (Some(dev), true) = (dev, s.added & bit != 0) {
            withdraw(be, dev);
        }
    }
    pr_info!("backend {} unregistered\n", backend_name(be));
    Some(s)
}

/// Unregisters a backend: every device it accepted is withdrawn first.
///
/// # Safety
///
/// `be` was passed to a successful `gvt_register_backend` (anything else is ignored).
#[no_mangle]
pub(crate) unsafe extern "C" fn gvt_unregister_backend(be: *const gvt_backend) {
    if let Some(reg) = registry() {
        unregister(&mut reg.lock(), be);
    }
}

/// # Safety
///
/// `gd` is a device pointer gvt.ko handed to the caller and has not been withdrawn.
pub(super) unsafe fn device<'a>(gd: *mut gvt_device) -> &'a GvtDevice {
    // SAFETY: per this function's contract, `gd` came from `GvtDevice::handle` and the device is
    // still in the registry.
    unsafe { &*gd.cast::<GvtDevice>() }
}

/// The struct device of a GPU.
///
/// # Safety
///
/// `gd` is a device pointer gvt.ko handed to the caller and has not been withdrawn.
#[no_mangle]
pub(crate) unsafe extern "C" fn gvt_device_dev(gd: *mut gvt_device) -> *mut abi::device {
    // SAFETY: forwarded contract.
    unsafe { device(gd) }.dev
}

/// Number of vGPU types a GPU offers.
///
/// # Safety
///
/// `gd` is a device pointer gvt.ko handed to the caller and has not been withdrawn.
#[no_mangle]
pub(crate) unsafe extern "C" fn gvt_device_type_count(gd: *mut gvt_device) -> u32 {
    // SAFETY: forwarded contract.
    u32::try_from(unsafe { device(gd) }.gvt.lock().types().len()).unwrap_or(0)
}

/// Describes vGPU type `idx`.
///
/// # Safety
///
/// `gd` as for `gvt_device_dev`; `info` is null or valid for writing a `struct gvt_type_info`.
#[no_mangle]
pub(crate) unsafe extern "C" fn gvt_device_type_info(
    gd: *mut gvt_device,
    idx: u32,
    info: *mut gvt_type_info,
) -> c_int {
    // SAFETY: forwarded contract.
    let types = unsafe { device(gd) }.gvt.lock().types();
    let Some(t) = usize::try_from(idx).ok().and_then(|i| types.get(i)) else {
        return EINVAL.to_errno();
    };
    // SAFETY: the caller passes null or a writable `struct gvt_type_info`.
    let Some(out) = (unsafe { info.as_mut() }) else {
        return EINVAL.to_errno();
    };
    *out = gvt_type_info::default();
    fill_c_name(&mut out.name, t.name);
    out.low_gm_size = t.config.resources.low_gm;
    out.high_gm_size = t.config.resources.high_gm;
    out.fences = t.config.resources.fences;
    out.weight = t.config.weight;
    fill_c_name(&mut out.resolution, t.config.resolution.as_str());
    0
}

/// How many more vGPUs of type `idx` fit now.
///
/// # Safety
///
/// `gd` is a device pointer gvt.ko handed to the caller and has not been withdrawn.
#[no_mangle]
pub(crate) unsafe extern "C" fn gvt_device_type_available(gd: *mut gvt_device, idx: u32) -> u32 {
    // SAFETY: forwarded contract.
    let gvt = unsafe { device(gd) }.gvt.lock();
    match usize::try_from(idx).ok().and_then(|i| gvt.types().get(i)) {
        Some(t) => gvt.available(&t.config),
        None => 0,
    }
}

/// The plane ownership policy as text (`plane_owner_show`), NUL-terminated in `buf`; returns
/// its length without the NUL, or -EINVAL (null buffer) / -ENOSPC (too small).
///
/// # Safety
///
/// `gd` as for `gvt_device_type_available`; `buf` is null or writable for `len` bytes.
#[no_mangle]
pub(crate) unsafe extern "C" fn gvt_device_plane_owner_show(
    gd: *mut gvt_device,
    buf: *mut u8,
    len: usize,
) -> isize {
    if buf.is_null() || len == 0 {
        return EINVAL.to_errno() as isize;
    }
    // SAFETY: `buf` is writable for `len` bytes (contract).
    let out = unsafe { core::slice::from_raw_parts_mut(buf, len) };
    let Some((last, text)) = out.split_last_mut() else {
        return EINVAL.to_errno() as isize;
    };
    // SAFETY: the caller passes a live device.
    let r = unsafe { device(gd) }.gvt.lock().plane_owners().show(text);
    match r {
        Ok(n) => {
            // Terminates the text (or the buffer, if the text filled it).
            *text.get_mut(n).unwrap_or(last) = 0;
            isize::try_from(n).unwrap_or(isize::MAX)
        }
        Err(e) => -(e.errno() as isize),
    }
}
