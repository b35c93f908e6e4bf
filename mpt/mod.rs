//! The hypervisor boundary (MPT: mediated pass-through).
//!
//! Backends (kvmgt.ko, acrngt.ko, or a third party's) live in other modules, and Rust types
//! cannot cross `.ko` boundaries, so the contract between modules is a C ABI:
//! `include/gvt/mpt.h`, which the modules see through bindgen (`mpt/abi.rs`, built into the
//! modules only). Inside gvt.ko the core sees a backend only as an [`MptOps`] implementation,
//! which the glue builds on top of that ABI for each vGPU.
//!
//! The trait is deliberately narrow (upstream's MPT layer was removed in 2022 because it had
//! grown into a second VFIO): guest memory access, DMA mapping of guest pages, MSI injection,
//! and the two hooks ACRN needs because it has no VFIO (BAR0 trapping, aperture mapping).
//! The reverse direction (backend → core) is the `Vgpu` entry points in `crate::model`.

use crate::model::error::Result;

/// What the device model needs from the hypervisor for one vGPU.
///
/// Called with the vGPU's lock held; implementations may sleep. All addresses are guest
/// physical (GPA) unless named `dma`. Errors are reported, never panicked on: the core turns a
/// failure into failsafe or a scratch mapping, never into a host write it cannot justify.
pub trait MptOps {
    /// Copies `buf.len()` bytes of guest memory at `gpa` into `buf`.
    fn read_gpa(&mut self, gpa: u64, buf: &mut [u8]) -> Result;

    /// Copies `buf` into guest memory at `gpa`.
    fn write_gpa(&mut self, gpa: u64, buf: &[u8]) -> Result;

    /// Pins the guest page frame `gfn` (of `size` bytes, 4 KiB or 2 MiB) and maps it for the
    /// GPU; returns the DMA address the host GGTT may point at. Mapping the same frame twice
    /// takes a second reference.
    fn dma_map_guest_page(&mut self, gfn: u64, size: u64) -> Result<u64>;

    /// Drops one reference taken by [`MptOps::dma_map_guest_page`] on the mapping at `dma`.
    fn dma_unmap_guest_page(&mut self, dma: u64);

    /// Delivers one MSI with the address and data the guest programmed into the vGPU's MSI
    /// capability.
    fn inject_msi(&mut self, addr: u64, data: u32) -> Result;

    /// Starts (`trap`) or stops trapping guest accesses to `[start, end)`: the guest's BAR0
    /// (registers and GGTT). Called when the guest enables or disables memory decoding or moves
    /// BAR0. Backends that trap the BAR by construction (VFIO regions) do nothing.
    fn set_trap_area(&mut self, start: u64, end: u64, trap: bool) -> Result;

    /// Maps (`map`) or unmaps `nr` pages of guest physical space starting at frame `gfn` onto
    /// host frames starting at `mfn`: the vGPU's slice of the host aperture behind the guest's
    /// BAR2. Backends that map the BAR by mmap (VFIO sparse mmap) do nothing.
    fn map_aperture(&mut self, gfn: u64, mfn: u64, nr: u64, map: bool) -> Result;

    /// The host GGTT entries behind `[gm, gm + size)` of the vGPU's aperture slice changed, on
    /// a host whose aperture the device model translates (`HostGpu::has_aperture_bar` is
    /// false): CPU mappings of those aperture pages the backend handed out (VFIO's BAR2 mmap)
    /// must go, so that the next access finds the new page. Called after the new entries are
    /// written and before the pages they replace are unmapped. Backends that map nothing keep
    /// the default.
    fn aperture_invalidate(&mut self, gm: u64, size: u64) {
        let _ = (gm, size);
    }

    /// Whether this backend can write-protect guest pages and report the writes
    /// ([`MptOps::page_track_add`]). A backend that cannot (KVMGT with no KVM attached, as under
    /// QEMU TCG) keeps the default: the core then re-reads the shadowed guest page tables before
    /// every submission instead.
    fn page_track_supported(&self) -> bool {
        false
    }

    /// Starts write-protecting guest page `gfn`: every guest write to it is reported to the
    /// vGPU's page-track write entry point (with or without the write already committed). The
    /// core calls it once per page, however many shadow tables the page backs.
    fn page_track_add(&mut self, gfn: u64) -> Result {
        let _ = gfn;
        Err(crate::model::error::GvtError::NotSupported)
    }

    /// Stops write-protecting guest page `gfn`.
    fn page_track_remove(&mut self, gfn: u64) {
        let _ = gfn;
    }
}

/// Copies `s` into a fixed C string field (the ABI's names), truncating so that a NUL always
/// ends it.
pub fn fill_c_name(dst: &mut [u8], s: &str) {
    dst.fill(0);
    let room = dst.len().saturating_sub(1);
    for (d, b) in dst.iter_mut().take(room).zip(s.bytes()) {
        *d = b;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_always_nul_terminated() {
        let mut n = [0xffu8; 16];
        fill_c_name(&mut n, "GVTg_V5_8");
        assert_eq!(&n[..10], b"GVTg_V5_8\0");
        fill_c_name(&mut n, "a-name-much-longer-than-sixteen");
        assert_eq!(n[15], 0);
        assert_eq!(&n[..15], b"a-name-much-lon");
    }
}
