//! CPU access to a vGPU's aperture slice: which host page backs a page of BAR2.
//!
//! BAR2 offset X is graphics address X, and a vGPU owns the slice of it that is its low
//! graphics memory. On a real GPU the aperture is host memory-mapped I/O that the hardware
//! translates through the GGTT, so the slice is a fixed range of host physical addresses. The
//! sim GPU has no aperture: an access is translated here, through the host GGTT entry the
//! device model wrote after auditing the guest's, to the guest page it maps. The glue checks
//! that page against the vGPU's DMA grants before it touches it or hands it to a backend.
//!
//! Nothing outside the slice is reachable, and on the sim nothing an entry does not map: an
//! entry on the scratch page (not present, or its guest page could not be mapped) reaches
//! nothing, because the scratch page is shared by every vGPU. Backends show a page of their
//! own there instead, private to the vGPU (kvmgt's "sink"), as hardware shows scratch.
//!
//! When the host GGTT entries behind the slice change, the core tells the backend through
//! `MptOps::aperture_invalidate` (see `vgpu::ggtt`), so CPU mappings follow the GGTT.

use super::error::{GvtError, Result};
use super::host::HostGpu;
use super::resources::Span;
use super::vgpu::{GEN8_PAGE_PRESENT, GTT_ADDR_MASK, GTT_PAGE_SIZE};

/// What backs one page of a vGPU's aperture slice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AperturePage {
    /// Host physical address of the page in the GPU's aperture BAR.
    Bar(u64),
    /// DMA address the host GGTT entry points at (the sim: a guest page the vGPU mapped).
    Dma(u64),
}

/// The page backing BAR2 offset `offset` (any byte of the page) of a vGPU whose low graphics
/// memory is `low`. `Invalid` outside the slice, `Fault` where the GGTT maps no page.
pub fn page(host: &dyn HostGpu, low: &Span, offset: u64) -> Result<AperturePage> {
    if !low.contains_range(offset, 1) {
        return Err(GvtError::Invalid);
    }
    let page = offset & !(GTT_PAGE_SIZE - 1);
    let info = host.info();
    if host.has_aperture_bar() {
        return info
            .aperture_pa
            .checked_add(page)
            .map(AperturePage::Bar)
            .ok_or(GvtError::Invalid);
    }
    let pte = host.ggtt_read(page / GTT_PAGE_SIZE);
    let addr = pte & GTT_ADDR_MASK;
    if pte & GEN8_PAGE_PRESENT == 0 || addr == info.scratch_page & GTT_ADDR_MASK {
        return Err(GvtError::Fault);
    }
    Ok(AperturePage::Dma(addr))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::gvt::Gvt;
    use crate::model::test_support::Mpt;
    use crate::model::vgpu::GGTT_MMIO_OFFSET;
    use crate::model::vgpu_type::find_type;
    use crate::sim::tests::bxt;
    use std::vec;

    struct Bar<'a>(&'a dyn HostGpu);

    impl HostGpu for Bar<'_> {
        fn info(&self) -> &crate::model::host::HostInfo {
            self.0.info()
        }
        fn cfg_snapshot(&self) -> &[u8; crate::model::host::CFG_SPACE_SIZE] {
            self.0.cfg_snapshot()
        }
        fn mmio_snapshot(&self, first: usize, dst: &mut [u32]) {
            self.0.mmio_snapshot(first, dst)
        }
        fn ggtt_read(&self, index: u64) -> u64 {
            self.0.ggtt_read(index)
        }
        fn ggtt_write(&self, index: u64, pte: u64) {
            self.0.ggtt_write(index, pte)
        }
        fn ggtt_flush(&self) {}
        fn fence_write(&self, _: u32, _: u64) {}
    }

    #[test]
    fn the_sim_translates_through_the_ggtt_and_a_bar_is_fixed() {
        let host = bxt();
        let mut gvt = Gvt::new(&host).unwrap();
        let cfg = find_type("GVTg_V5_8").unwrap().config;
        let n = Gvt::ggtt_entries_for(&cfg).unwrap();
        let store = crate::model::vgpu::Buffers {
            vreg: vec![0; crate::model::host::MMIO_DWORDS],
            ggtt: vec![0; n],
            opregion: vec![0; crate::model::opregion::OPREGION_SIZE],
            edid: vec![0; crate::model::display::edid::EDID_MAX_SIZE],
        };
        let mut v = gvt
            .create_vgpu(&host, &cfg, store)
            .map_err(|(e, _)| e)
            .unwrap();
        let mut mpt = Mpt::default();
        let low = v.partition().low;
        let gm = low.start + 5 * 4096;
        // Scratch at creation: nothing behind the slice yet.
        assert_eq!(page(&host, &low, gm), Err(GvtError::Fault));
        v.mmio_write(
            &host,
            &mut mpt,
            GGTT_MMIO_OFFSET + gm / 4096 * 8,
            &0x7003u64.to_le_bytes(),
        )
        .unwrap();
        assert_eq!(
            page(&host, &low, gm + 0x123),
            Ok(AperturePage::Dma((7 << 12) | (1 << 40)))
        );
        assert_eq!(
            mpt.invalidated,
            vec![(gm, 4096, 1)],
            "the backend dropped its CPU mappings of the page"
        );
        // A guest page that cannot be mapped leaves the entry on scratch: still nothing.
        v.mmio_write(
            &host,
            &mut mpt,
            GGTT_MMIO_OFFSET + gm / 4096 * 8,
            &((1u64 << 40) | 1).to_le_bytes(),
        )
        .unwrap();
        assert_eq!(page(&host, &low, gm), Err(GvtError::Fault));
        // Outside the slice: refused, whatever the GGTT holds there.
        for off in [
            low.start - 1,
            low.end(),
            0,
            v.partition().high.start,
            u64::MAX,
        ] {
            assert_eq!(page(&host, &low, off), Err(GvtError::Invalid), "{off:#x}");
        }
        // A GPU with an aperture BAR: the slice is a fixed range of it.
        let bar = Bar(&host);
        let pa = host.info().aperture_pa;
        assert_eq!(page(&bar, &low, gm + 8), Ok(AperturePage::Bar(pa + gm)));
        assert_eq!(page(&bar, &low, low.end()), Err(GvtError::Invalid));
        // ... whose mappings follow the GGTT by themselves: nothing to invalidate.
        let seen = mpt.invalidated.len();
        v.mmio_write(
            &bar,
            &mut mpt,
            GGTT_MMIO_OFFSET + gm / 4096 * 8,
            &0x9003u64.to_le_bytes(),
        )
        .unwrap();
        assert_eq!(mpt.invalidated.len(), seen);
        let _store = gvt.destroy_vgpu(&host, &mut mpt, v);
    }
}
