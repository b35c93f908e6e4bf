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
        let len = buf.len() as u64;
        if !matches!(buf.len(), 4 | 8) || off.checked_rem(len) != Some(0) || off >= size {
            return Err(GvtError::Invalid);
        }
        let e = self.local_index(off / 8).and_then(|i| self.store.ggtt().get(i).copied()).unwrap_or(0);
        let bytes = e.to_le_bytes();
        let start = (off % 8) as usize;
        buf.copy_from_slice(bytes.get(start..start.saturating_add(buf.len())).ok_or(GvtError::Invalid)?);
        Ok(())
    }

    pub(super) fn ggtt_write(&mut self, host: &dyn HostGpu, mpt: &mut dyn MptOps, off: u64, data: &[u8]) -> Result {
        let size = self.info.bar0_size.saturating_sub(GGTT_MMIO_OFFSET);
        let len = data.len() as u64;
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
            let pte = if high { (old & 0xffff_ffff) | (half << 32) } else { (old & !0xffff_ffff) | half };
            (pte, self.note_half(index, if high { 2 } else { 1 }))
        };
        if let Some(e) = self.store.ggtt_mut().get_mut(local) {
            *e = pte;
        }
        if self.failsafe.is_some() {
            return Ok(());
        }
        // A half-written entry points at scratch until its other half arrives.
        let host_pte = if complete { self.map_pte(mpt, pte) } else { self.info.scratch_page };
        self.set_host_pte(host, mpt, index, host_pte);
        Ok(())
    }

    /// Records a 4-byte half of entry `index`; returns whether both halves are now written.
    pub(super) fn note_half(&mut self, index: u64, half: u8) -> bool {
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

    /// Replaces a host entry of the vGPU, dropping the mapping the old one held.
    pub(super) fn set_host_pte(&mut self, host: &dyn HostGpu, mpt: &mut dyn MptOps, index: u64, pte: u64) {
        let old = host.ggtt_read(index);
        let old_addr = old & GTT_ADDR_MASK;
        if old & GEN8_PAGE_PRESENT != 0 && old_addr != self.info.scratch_page & GTT_ADDR_MASK {
            mpt.dma_unmap_guest_page(old_addr);
        }
        // An entry that already holds `pte` (a reset finds most on scratch) is not rewritten:
        // on hardware each write is an uncached access to the GGTT.
        if old != pte {
            host.ggtt_write(index, pte);
        }
        self.ggtt_dirty = true;
    }

    /// Makes the vGPU's GGTT updates visible to the GPU, if there are any. Called when the
    /// guest flushes (GFX_FLSH_CNTL) and by the glue before it submits work for this vGPU.
    pub fn flush_ggtt(&mut self, host: &dyn HostGpu) {
        if self.ggtt_dirty {
            host.ggtt_flush();
            self.ggtt_dirty = false;
        }
    }

    /// Points every host entry of the vGPU at scratch and forgets the guest's entries.
    pub(super) fn reset_ggtt(&mut self, host: &dyn HostGpu, mpt: &mut dyn MptOps) {
        for span in [self.part.low, self.part.high] {
            let first = span.start / GTT_PAGE_SIZE;
            for index in first..first.saturating_add(span.size / GTT_PAGE_SIZE) {
                self.set_host_pte(host, mpt, index, self.info.scratch_page);
            }
        }
        for e in self.store.ggtt_mut().iter_mut() {
            *e = 0;
        }
        self.partial = [None; PARTIAL_PTES];
        self.flush_ggtt(host);
    }
}
