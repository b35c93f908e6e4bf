//! CPU access to a vGPU's aperture slice for its backend (VFIO's BAR2 region and mmap):
//! `gvt_vgpu_aperture_pfn` and `gvt_vgpu_aperture_rw`.
//!
//! The core says which page backs an aperture page (`model::aperture`). A page of a GPU's
//! aperture BAR is always there. A page the sim reaches through the GGTT must be one the
//! vGPU's backend granted: the check and the access happen under the grants lock, so a page
//! is never touched after its grant is revoked, and a page frame is handed out only while it
//! is granted (the backend zaps its mappings after revoking, before unpinning).
//!
//! Neither takes the vGPU's lock: a backend calls them from page faults, under the faulting
//! process's mm locks, and the vGPU's lock is held around guest memory accesses that may fault
//! in that same mm (`vfio_dma_rw`). The slice comes from the handle, the GGTT entry from the
//! host (atomic), the grants under their own leaf lock.

use core::ffi::{c_int, c_void};

use kernel::prelude::*;

use super::abi::gvt_vgpu;
use super::model_to_c;
use super::vgpu::handle;
use crate::model::aperture::{self, AperturePage};
use crate::model::error::GvtError;
use crate::model::vgpu::GTT_PAGE_SIZE;

/// A page, as `Grants` measure lengths.
const PAGE: usize = 4096;
const _: () = assert!(PAGE as u64 == GTT_PAGE_SIZE);

/// The host page frame behind BAR2 offset `offset` of the vGPU; see `include/gvt/mpt.h`.
///
/// # Safety
///
/// `vgpu` came from a `gvt_vgpu_create*` and was not destroyed yet; `pfn` is null or writable.
#[no_mangle]
pub(crate) unsafe extern "C" fn gvt_vgpu_aperture_pfn(
    vgpu: *mut gvt_vgpu,
    offset: u64,
    pfn: *mut u64,
) -> c_int {
    // SAFETY: the caller passes null or a writable u64.
    let Some(out) = (unsafe { pfn.as_mut() }) else {
        return EINVAL.to_errno();
    };
    // SAFETY: per the contract.
    let h = unsafe { handle(vgpu) };
    let r = match aperture::page(h.device().host.gpu(), &h.aperture(), offset) {
        Ok(AperturePage::Bar(pa)) => Ok(pa),
        Ok(AperturePage::Dma(addr)) => {
            // The sim's DMA addresses are physical: no IOMMU sits in front of it.
            let granted = h.grants.lock().covers(addr, PAGE);
            if granted {
                Ok(addr)
            } else {
                Err(GvtError::Fault)
            }
        }
        Err(e) => Err(e),
    };
    model_to_c(r.map(|addr| *out = addr / GTT_PAGE_SIZE))
}

/// Copies `len` bytes between `buf` and BAR2 offset `offset` of the vGPU, within one page;
/// see `include/gvt/mpt.h`.
///
/// # Safety
///
/// `vgpu` as for `gvt_vgpu_aperture_pfn`; `buf` is null or valid for `len` bytes (writable
/// unless `write`).
#[no_mangle]
pub(crate) unsafe extern "C" fn gvt_vgpu_aperture_rw(
    vgpu: *mut gvt_vgpu,
    offset: u64,
    buf: *mut c_void,
    len: u32,
    write: bool,
) -> c_int {
    let in_page = offset % GTT_PAGE_SIZE;
    if buf.is_null() || len == 0 || u64::from(len) > GTT_PAGE_SIZE - in_page {
        return EINVAL.to_errno();
    }
    // SAFETY: per the contract.
    let h = unsafe { handle(vgpu) };
    let dev = h.device();
    let r = aperture::page(dev.host.gpu(), &h.aperture(), offset).and_then(|page| {
        dev.host
            .aperture_rw(page, offset, &h.grants, buf.cast(), len as usize, write)
    });
    model_to_c(r)
}
