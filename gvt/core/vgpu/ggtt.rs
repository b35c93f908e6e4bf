//! GGTT emulation: the upper half of BAR0. Guest PTEs (8-byte or split 4+4-byte writes) are kept
//! in the virtual GGTT; those inside the vGPU's graphics memory are DMA-mapped through the
//! hypervisor and written to the host GGTT, everything else is refused and counted; flushes are
//! batched.

use super::*;

impl<S: VgpuStorage> Vgpu<S> {
    /// Index into the virtual GGTT of the global GGTT entry `index`, if the vGPU owns it.
    pub(super) fn local_index(&self, index: u64) -> Option<usize> {
        let low_first = self.part.low.start / GTT_PAGE_SIZE;
        let low_n = self.part.low.size / GTT_PAGE_SIZE;
        let high_first = self.part.high.start / GTT_PAGE_SIZE;
        let high_n = self.part.high.size / GTT_PAGE_SIZE;
        let local = if let Some(i) = index.checked_sub(low_first).filter(|&i| i < low_n) {
            i
        } else if let Some(i) = index.checked_sub(high_first).filter(|&i| i < high_n) {
            low_n.checked_add(i)?
        } else {
            return None;
        };
        usize::try_from(local).ok()
    }

    pub(super) fn ggtt_read(&mut self, off: u64, buf: &mut [u8]) -> Result {
        let size = self.info.bar0_size.saturating_sub(GGTT_MMIO_OFFSET);
        let len = usize_as_u64(buf.len());
        if !matches!(buf.len(), 4 | 8) || off.checked_rem(len) != Some(0) || off >= size {
            return Err(GvtError::Invalid);
        }
        let e = self
            .local_index(off / 8)
            .and_then(|i| self.store.ggtt().get(i).copied())
            .unwrap_or(0);
        let bytes = e.to_le_bytes();
        let start = u64_as_usize(off % 8);
        buf.copy_from_slice(
            bytes
                .get(start..start.saturating_add(buf.len()))
                .ok_or(GvtError::Invalid)?,
        );
        Ok(())
    }

    pub(super) fn ggtt_write(
        &mut self,
        host: &dyn HostGpu,
        mpt: &mut dyn MptOps,
        off: u64,
        data: &[u8],
    ) -> Result {
        let size = self.info.bar0_size.saturating_sub(GGTT_MMIO_OFFSET);
        let len = usize_as_u64(data.len());
        if !matches!(data.len(), 4 | 8) || off.checked_rem(len) != Some(0) || off >= size {
            return Err(GvtError::Invalid);
        }
        let index = off / 8;
        let Some(local) = self.local_index(index) else {
            // Ballooned away: the guest must not touch it. Ignored, never reaches the host.
            self.stats.ggtt_out_of_range = self.stats.ggtt_out_of_range.saturating_add(1);
            return Ok(());
        };
        let old = self.store.ggtt().get(local).copied().unwrap_or(0);
        let (pte, complete) = if data.len() == 8 {
            let b: [u8; 8] = data.try_into().map_err(|_| GvtError::Invalid)?;
            (u64::from_le_bytes(b), true)
        } else {
            let b: [u8; 4] = data.try_into().map_err(|_| GvtError::Invalid)?;
            let half = u64::from(u32::from_le_bytes(b));
            let high = off % 8 != 0;
            let pte = if high {
                (old & 0xffff_ffff) | (half << 32)
            } else {
                (old & !0xffff_ffff) | half
            };
            (pte, self.note_half(index, if high { 2 } else { 1 }))
        };
        if let Some(e) = self.store.ggtt_mut().get_mut(local) {
            *e = pte;
            self.ggtt_touched = if self.ggtt_touched.is_empty() {
                local..local.saturating_add(1)
            } else {
                self.ggtt_touched.start.min(local)
                    ..self.ggtt_touched.end.max(local.saturating_add(1))
            };
        }
        if self.failsafe.is_some() {
            let l = u32::try_from(local).unwrap_or(u32::MAX);
            self.failsafe_ggtt = if self.failsafe_ggtt.is_empty() {
                l..l.saturating_add(1)
            } else {
                self.failsafe_ggtt.start.min(l)..self.failsafe_ggtt.end.max(l.saturating_add(1))
            };
            return Ok(());
        }
        // A half-written entry points at scratch until its other half arrives.
        let host_pte = if complete {
            self.map_pte(mpt, pte)
        } else {
            self.info.scratch_page
        };
        self.set_host_pte(host, mpt, index, host_pte);
        Ok(())
    }

    /// Records a 4-byte half of entry `index`; returns whether both halves are now written.
    pub(super) fn note_half(&mut self, index: u64, half: u8) -> bool {
        // GGTT indices are below 2^20 (8 MiB of entries in BAR0); u32 keeps `Vgpu` small.
        let Ok(index) = u32::try_from(index) else {
            return true;
        };
        for slot in self.partial.iter_mut() {
            if let Some((i, seen)) = slot {
                if *i == index {
                    if *seen | half == 3 {
                        *slot = None;
                        return true;
                    }
                    *seen |= half;
                    return false;
                }
            }
        }
        // Oldest first out: the list only needs to hold entries being written right now.
        self.partial.rotate_right(1);
        if let Some(first) = self.partial.first_mut() {
            *first = Some((index, half));
        }
        false
    }

    /// The host entry for a complete guest entry: its page DMA-mapped, or scratch.
    pub(super) fn map_pte(&mut self, mpt: &mut dyn MptOps, pte: u64) -> u64 {
        if pte & GEN8_PAGE_PRESENT == 0 {
            return self.info.scratch_page;
        }
        match mpt.dma_map_guest_page((pte & GTT_ADDR_MASK) >> 12, GTT_PAGE_SIZE) {
            Ok(dma) => (pte & !GTT_ADDR_MASK) | (dma & GTT_ADDR_MASK),
            Err(_) => {
                self.stats.ggtt_map_failures = self.stats.ggtt_map_failures.saturating_add(1);
                self.info.scratch_page | GEN8_PAGE_PRESENT
            }
        }
    }

    /// Replaces a host entry of the vGPU. The new entry goes in first, then the backend drops
    /// its CPU mappings of the aperture page (where the device model translates the aperture:
    /// a BAR's mappings follow the GGTT by themselves), then the guest page the old entry held
    /// is unmapped: nothing reaches a page once it may be unpinned.
    pub(super) fn set_host_pte(
        &mut self,
        host: &dyn HostGpu,
        mpt: &mut dyn MptOps,
        index: u64,
        pte: u64,
    ) {
        let old = host.ggtt_read(index);
        // An entry that already holds `pte` (a reset finds most on scratch) is not rewritten:
        // on hardware each write is an uncached access to the GGTT.
        if old != pte {
            host.ggtt_write(index, pte);
        }
        self.ggtt_dirty = true;
        let gm = index.saturating_mul(GTT_PAGE_SIZE);
        if old != pte && !host.has_aperture_bar() && self.part.low.contains_range(gm, GTT_PAGE_SIZE)
        {
            mpt.aperture_invalidate(gm, GTT_PAGE_SIZE);
        }
        if let Some(addr) = mapped_page(old, self.info.scratch_page) {
            mpt.dma_unmap_guest_page(addr);
        }
    }

    /// Sends the virtual GGTT entries written in failsafe to the host, each as a guest write
    /// out of failsafe would have (a half-written one points at scratch), then flushes. Only
    /// the vGPU's own entries are in the span: it holds indices of the virtual GGTT.
    pub(super) fn resync_ggtt(&mut self, host: &dyn HostGpu, mpt: &mut dyn MptOps) {
        let span = core::mem::replace(&mut self.failsafe_ggtt, 0..0);
        for local in span.filter_map(|l| usize::try_from(l).ok()) {
            let Some(pte) = self.store.ggtt().get(local).copied() else {
                break;
            };
            let index = self.global_index(local);
            let half = self
                .partial
                .iter()
                .flatten()
                .any(|&(i, _)| u64::from(i) == index);
            let host_pte = if half {
                self.info.scratch_page
            } else {
                self.map_pte(mpt, pte)
            };
            self.set_host_pte(host, mpt, index, host_pte);
        }
        self.flush_ggtt(host);
    }

    /// Makes the vGPU's GGTT updates visible to the GPU, if there are any. Called when the
    /// guest flushes (GFX_FLSH_CNTL) and by the glue before it submits work for this vGPU.
    pub fn flush_ggtt(&mut self, host: &dyn HostGpu) {
        if self.ggtt_dirty {
            host.ggtt_flush();
            self.ggtt_dirty = false;
        }
    }

    /// Global GGTT entry of the virtual GGTT's entry `local` (the inverse of `local_index`).
    fn global_index(&self, local: usize) -> u64 {
        let low_n = self.part.low.size / GTT_PAGE_SIZE;
        let local = usize_as_u64(local);
        match local.checked_sub(low_n) {
            None => (self.part.low.start / GTT_PAGE_SIZE).saturating_add(local),
            Some(i) => (self.part.high.start / GTT_PAGE_SIZE).saturating_add(i),
        }
    }

    /// Points every host entry of the vGPU at scratch and forgets the guest's entries, in the
    /// order `set_host_pte` keeps but with one flush and one aperture invalidation. Only the
    /// span the guest wrote since the last reset is touched: the rest is scratch on the host
    /// (`HostGpu::reserve`'s promise) and zero in the virtual GGTT (`VgpuStorage`'s). The
    /// virtual GGTT, cleared anyway, holds the old host entries until their pages are unmapped.
    pub(super) fn reset_ggtt(&mut self, host: &dyn HostGpu, mpt: &mut dyn MptOps) {
        let scratch = self.info.scratch_page;
        let touched = core::mem::replace(&mut self.ggtt_touched, 0..0);
        for local in touched.clone() {
            let index = self.global_index(local);
            let old = host.ggtt_read(index);
            host.ggtt_write(index, scratch);
            if let Some(e) = self.store.ggtt_mut().get_mut(local) {
                *e = old;
            }
            self.ggtt_dirty = true;
        }
        self.flush_ggtt(host);
        // The virtual GGTT holds the low span's entries first: those are the aperture's.
        let low_n = usize::try_from(self.part.low.size / GTT_PAGE_SIZE).unwrap_or(usize::MAX);
        let low = touched.start.min(low_n)..touched.end.min(low_n);
        // Not `len()`: its assertion would be a panic path.
        if let (false, false, Ok(n)) = (
            low.is_empty(),
            host.has_aperture_bar(),
            u64::try_from(low.end.saturating_sub(low.start)),
        ) {
            mpt.aperture_invalidate(
                self.global_index(low.start).saturating_mul(GTT_PAGE_SIZE),
                n.saturating_mul(GTT_PAGE_SIZE),
            );
        }
        for e in self.store.ggtt_mut().get_mut(touched).into_iter().flatten() {
            if let Some(addr) = mapped_page(core::mem::take(e), scratch) {
                mpt.dma_unmap_guest_page(addr);
            }
        }
        self.partial = [None; PARTIAL_PTES];
    }
}

/// The guest page a host entry maps (its DMA address), if it maps one.
fn mapped_page(pte: u64, scratch: u64) -> Option<u64> {
    let addr = pte & GTT_ADDR_MASK;
    (pte & GEN8_PAGE_PRESENT != 0 && addr != scratch & GTT_ADDR_MASK).then_some(addr)
}
