//! An in-memory hypervisor: one VM's RAM, DMA mappings and MSI log, implementing `MptOps`.

use gvt::model::error::{GvtError, Result};
use gvt::mpt::MptOps;

/// Where a VM's pages appear in DMA space: each VM gets its own 1 TiB window, so a DMA
/// address tells which VM's page it is.
pub const DMA_WINDOW: u64 = 1 << 40;

/// One VM as the hypervisor sees it.
pub struct MemHypervisor {
    vm: u64,
    ram: Vec<u8>,
    /// Mapping reference count of each guest page.
    dma: Vec<u32>,
    mapped: usize,
    /// MSIs delivered, oldest first.
    pub msis: Vec<(u64, u32)>,
    /// Trap requests for BAR0: (start, end, on).
    pub traps: Vec<(u64, u64, bool)>,
    /// Aperture mapping requests: (gfn, mfn, pages, on).
    pub aperture_maps: Vec<(u64, u64, u64, bool)>,
    /// How this hypervisor reports writes to guest pages it write-protects.
    pub tracking: Tracking,
    /// Write-protected guest pages.
    tracked: std::collections::BTreeSet<u64>,
    /// A vCPU store (gpa, value) that lands untrapped at the moment its page is next
    /// write-protected: what a guest racing with the protection can do.
    pub race: Option<(u64, u64)>,
}

/// Page tracking as a backend provides it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tracking {
    /// No write protection (KVMGT without KVM): the core re-validates.
    None,
    /// Writes land, then are reported (KVM).
    AfterWrite,
    /// Writes are reported instead of landing; the device model commits them (ACRN).
    Intercept,
}

impl MemHypervisor {
    /// VM number `vm` (1-based) with `ram_bytes` of RAM at GPA 0.
    pub fn new(vm: u64, ram_bytes: usize) -> MemHypervisor {
        MemHypervisor {
            vm,
            ram: vec![0; ram_bytes],
            dma: vec![0; ram_bytes / 4096],
            mapped: 0,
            msis: Vec::new(),
            traps: Vec::new(),
            aperture_maps: Vec::new(),
            tracking: Tracking::None,
            tracked: std::collections::BTreeSet::new(),
            race: None,
        }
    }

    /// The DMA address of guest page `gfn` of this VM.
    pub fn dma_of(&self, gfn: u64) -> u64 {
        self.vm * DMA_WINDOW + (gfn << 12)
    }

    /// Number of guest pages currently mapped.
    pub fn mapped_pages(&self) -> usize {
        self.mapped
    }

    /// Whether guest page `gfn` is write-protected.
    pub fn is_tracked(&self, gfn: u64) -> bool {
        self.tracked.contains(&gfn)
    }

    /// Number of write-protected pages.
    pub fn tracked_pages(&self) -> usize {
        self.tracked.len()
    }

    /// The guest address behind DMA address `dma` if it is this VM's and the page (or the
    /// 2 MiB page it belongs to) is mapped.
    pub fn dma_to_gpa(&self, dma: u64) -> Option<u64> {
        let gpa = dma
            .checked_sub(self.vm * DMA_WINDOW)
            .filter(|&o| o < DMA_WINDOW)?;
        let mapped = |g: u64| {
            usize::try_from(g)
                .ok()
                .and_then(|g| self.dma.get(g))
                .is_some_and(|&n| n > 0)
        };
        (mapped(gpa >> 12) || mapped((gpa >> 21) << 9)).then_some(gpa)
    }

    /// Reads guest RAM without the `MptOps` borrow (what a device's DMA read does).
    pub fn peek_gpa(&self, gpa: u64, buf: &mut [u8]) -> Result {
        let r = self.range(gpa, buf.len())?;
        crate::copy_changed(buf, self.ram.get(r).ok_or(GvtError::Fault)?);
        Ok(())
    }

    fn range(&self, gpa: u64, len: usize) -> Result<std::ops::Range<usize>> {
        let start = usize::try_from(gpa).map_err(|_| GvtError::Fault)?;
        let end = start.checked_add(len).ok_or(GvtError::Fault)?;
        if end > self.ram.len() {
            return Err(GvtError::Fault);
        }
        Ok(start..end)
    }
}

impl MptOps for MemHypervisor {
    fn read_gpa(&mut self, gpa: u64, buf: &mut [u8]) -> Result {
        self.peek_gpa(gpa, buf)
    }

    fn write_gpa(&mut self, gpa: u64, buf: &[u8]) -> Result {
        let r = self.range(gpa, buf.len())?;
        crate::copy_changed(self.ram.get_mut(r).ok_or(GvtError::Fault)?, buf);
        Ok(())
    }

    fn dma_map_guest_page(&mut self, gfn: u64, size: u64) -> Result<u64> {
        let gpa = gfn.checked_mul(4096).ok_or(GvtError::Fault)?;
        self.range(gpa, usize::try_from(size).map_err(|_| GvtError::Fault)?)?;
        let n = self
            .dma
            .get_mut(usize::try_from(gfn).map_err(|_| GvtError::Fault)?)
            .ok_or(GvtError::Fault)?;
        if *n == 0 {
            self.mapped += 1;
        }
        *n += 1;
        Ok(self.dma_of(gfn))
    }

    fn dma_unmap_guest_page(&mut self, dma: u64) {
        let Some(off) = dma
            .checked_sub(self.vm * DMA_WINDOW)
            .filter(|&o| o < DMA_WINDOW)
        else {
            return;
        };
        if let Some(n) = usize::try_from(off >> 12)
            .ok()
            .and_then(|g| self.dma.get_mut(g))
        {
            if *n > 0 {
                *n -= 1;
                if *n == 0 {
                    self.mapped -= 1;
                }
            }
        }
    }

    fn inject_msi(&mut self, addr: u64, data: u32) -> Result {
        self.msis.push((addr, data));
        Ok(())
    }

    fn set_trap_area(&mut self, start: u64, end: u64, trap: bool) -> Result {
        self.traps.push((start, end, trap));
        Ok(())
    }

    fn map_aperture(&mut self, gfn: u64, mfn: u64, nr: u64, map: bool) -> Result {
        self.aperture_maps.push((gfn, mfn, nr, map));
        Ok(())
    }

    fn page_track_supported(&self) -> bool {
        self.tracking != Tracking::None
    }

    fn page_track_add(&mut self, gfn: u64) -> Result {
        if self.tracking == Tracking::None || !self.tracked.insert(gfn) {
            return Err(GvtError::Invalid);
        }
        if let Some((gpa, v)) = self.race.take_if(|(gpa, _)| *gpa >> 12 == gfn) {
            self.write_gpa(gpa, &v.to_le_bytes())?;
        }
        Ok(())
    }

    fn page_track_remove(&mut self, gfn: u64) {
        self.tracked.remove(&gfn);
    }
}
