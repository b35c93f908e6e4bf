//! kvmgt.ko's C <-> Rust contract (`kvmgt/ffi.h`), generated from the header by Kbuild. The
//! functions C calls in Rust (`device.rs`, `dma.rs`) are checked against it here, and so are
//! the constants the host-tested `region`, `edid` and `ioctl` keep (the minimum `argsz` of an
//! ioctl is where the header's last answered field ends).

#[allow(
    clippy::all,
    clippy::undocumented_unsafe_blocks,
    dead_code,
    missing_docs,
    non_camel_case_types,
    non_upper_case_globals,
    unreachable_pub,
    unsafe_op_in_unsafe_fn
)]
mod generated {
    use crate::gvt::*;
    include!(concat!(env!("GVT_RS_OBJ"), "/kvmgt/ffi_generated.rs"));
}

pub(crate) use generated::*;

use core::mem::{offset_of, size_of};
use core::pin::Pin;

use kernel::prelude::*;

use crate::gvt::{c_signatures, GVT_EDID_MAX_SIZE};
use crate::{edid, ioctl, region};

c_signatures!(crate::ffi => crate::device: kvmgt_edid_new, kvmgt_edid_free, kvmgt_edid_open,
    kvmgt_edid_reset, kvmgt_region_rw, kvmgt_aperture_in_slice, kvmgt_aperture_chunk,
    kvmgt_device_info, kvmgt_region_info, kvmgt_irq_info, kvmgt_irq_set);
c_signatures!(crate::ffi => crate::dma: kvmgt_cache_new, kvmgt_cache_free, kvmgt_cache_map,
    kvmgt_cache_unmap, kvmgt_cache_user_unmap, kvmgt_cache_flush, kvmgt_cache_get_page,
    kvmgt_cache_stats);

/// Each constant of the host-tested modules equals the header's.
macro_rules! same {
    ($($ours:expr => $theirs:expr),* $(,)?) => {
        $(const _: () = assert!($ours as u64 == $theirs as u64);)*
    };
}

same!(
    region::OFFSET_SHIFT => KVMGT_OFFSET_SHIFT,
    region::APERTURE_CHUNK => KVMGT_APERTURE_CHUNK,
    region::index::BAR0 => VFIO_PCI_BAR0_REGION_INDEX,
    region::index::BAR2 => VFIO_PCI_BAR2_REGION_INDEX,
    region::index::CONFIG => VFIO_PCI_CONFIG_REGION_INDEX,
    region::index::OPREGION => VFIO_PCI_NUM_REGIONS,
    edid::MAX_SIZE => GVT_EDID_MAX_SIZE,
    edid::reg::OFFSET => offset_of!(vfio_region_gfx_edid, edid_offset),
    edid::reg::MAX_SIZE => offset_of!(vfio_region_gfx_edid, edid_max_size),
    edid::reg::SIZE => offset_of!(vfio_region_gfx_edid, edid_size),
    edid::reg::MAX_XRES => offset_of!(vfio_region_gfx_edid, max_xres),
    edid::reg::MAX_YRES => offset_of!(vfio_region_gfx_edid, max_yres),
    edid::reg::LINK_STATE => offset_of!(vfio_region_gfx_edid, link_state),
    edid::reg::END => size_of::<vfio_region_gfx_edid>(),
    edid::LINK_UP => VFIO_DEVICE_GFX_LINK_STATE_UP,
    edid::LINK_DOWN => VFIO_DEVICE_GFX_LINK_STATE_DOWN,
    ioctl::DEVICE_FLAGS_RESET => VFIO_DEVICE_FLAGS_RESET,
    ioctl::DEVICE_FLAGS_PCI => VFIO_DEVICE_FLAGS_PCI,
    ioctl::REGION_READ => VFIO_REGION_INFO_FLAG_READ,
    ioctl::REGION_WRITE => VFIO_REGION_INFO_FLAG_WRITE,
    ioctl::REGION_MMAP => VFIO_REGION_INFO_FLAG_MMAP,
    ioctl::REGION_CAPS => VFIO_REGION_INFO_FLAG_CAPS,
    ioctl::REGION_TYPE_PCI_VENDOR => VFIO_REGION_TYPE_PCI_VENDOR_TYPE,
    ioctl::VENDOR_INTEL => PCI_VENDOR_ID_INTEL,
    ioctl::SUBTYPE_IGD_OPREGION => VFIO_REGION_SUBTYPE_INTEL_IGD_OPREGION,
    ioctl::REGION_TYPE_GFX => VFIO_REGION_TYPE_GFX,
    ioctl::SUBTYPE_GFX_EDID => VFIO_REGION_SUBTYPE_GFX_EDID,
    ioctl::IRQ_INTX => VFIO_PCI_INTX_IRQ_INDEX,
    ioctl::IRQ_MSI => VFIO_PCI_MSI_IRQ_INDEX,
    ioctl::NUM_IRQS => VFIO_PCI_NUM_IRQS,
    ioctl::IRQ_INFO_EVENTFD => VFIO_IRQ_INFO_EVENTFD,
    ioctl::IRQ_INFO_MASKABLE => VFIO_IRQ_INFO_MASKABLE,
    ioctl::IRQ_INFO_AUTOMASKED => VFIO_IRQ_INFO_AUTOMASKED,
    ioctl::IRQ_INFO_NORESIZE => VFIO_IRQ_INFO_NORESIZE,
    ioctl::SET_DATA_NONE => VFIO_IRQ_SET_DATA_NONE,
    ioctl::SET_DATA_BOOL => VFIO_IRQ_SET_DATA_BOOL,
    ioctl::SET_DATA_EVENTFD => VFIO_IRQ_SET_DATA_EVENTFD,
    ioctl::SET_ACTION_MASK => VFIO_IRQ_SET_ACTION_MASK,
    ioctl::SET_ACTION_UNMASK => VFIO_IRQ_SET_ACTION_UNMASK,
    ioctl::SET_ACTION_TRIGGER => VFIO_IRQ_SET_ACTION_TRIGGER,
    ioctl::SET_DATA_TYPE_MASK => VFIO_IRQ_SET_DATA_TYPE_MASK,
    ioctl::SET_ACTION_TYPE_MASK => VFIO_IRQ_SET_ACTION_TYPE_MASK,
    ioctl::DEVICE_INFO_MINSZ => offset_of!(vfio_device_info, num_irqs) + 4,
    ioctl::REGION_INFO_MINSZ => offset_of!(vfio_region_info, offset) + 8,
    ioctl::IRQ_INFO_MINSZ => offset_of!(vfio_irq_info, count) + 4,
    ioctl::IRQ_SET_MINSZ => offset_of!(vfio_irq_set, count) + 4,
);
const _: () = assert!(edid::reg::END <= edid::BLOB_OFFSET);

/// Hands a pinned object to C as an opaque handle (null if it could not be made), which C
/// gives back to [`free_opaque`] once.
pub(crate) fn into_opaque<T, C, E>(made: core::result::Result<Pin<KBox<T>>, E>) -> *mut C {
    match made {
        // SAFETY: never moved again: C holds the pointer until `free_opaque` drops it in place.
        Ok(b) => KBox::into_raw(unsafe { Pin::into_inner_unchecked(b) }).cast(),
        Err(_) => core::ptr::null_mut(),
    }
}

/// Drops what [`into_opaque`] made of a `T`.
///
/// # Safety
///
/// `h` is null or came from [`into_opaque`] for a `T` and is not used again.
pub(crate) unsafe fn free_opaque<T, C>(h: *mut C) {
    if !h.is_null() {
        // SAFETY: per the contract, the box `into_opaque` leaked.
        drop(unsafe { KBox::from_raw(h.cast::<T>()) });
    }
}
