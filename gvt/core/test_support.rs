//! Test doubles shared by the core's unit tests.

use crate::model::error::{GvtError, Result};
use crate::mpt::MptOps;
use std::vec::Vec;

/// A hypervisor whose guest pages map to DMA `gfn << 12 | 1 << 40` and which records MSIs.
#[derive(Default)]
pub(crate) struct Mpt {
    pub(crate) msis: Vec<(u64, u32)>,
    pub(crate) mapped: i64,
    pub(crate) traps: Vec<(u64, u64, bool)>,
    pub(crate) maps: Vec<(u64, u64, u64, bool)>,
    /// Aperture invalidations: (gm, size, guest pages mapped at that moment).
    pub(crate) invalidated: Vec<(u64, u64, i64)>,
}

impl MptOps for Mpt {
    fn read_gpa(&mut self, _: u64, buf: &mut [u8]) -> Result {
        buf.fill(0);
        Ok(())
    }
    fn write_gpa(&mut self, _: u64, _: &[u8]) -> Result {
        Ok(())
    }
    fn dma_map_guest_page(&mut self, gfn: u64, _: u64) -> Result<u64> {
        if gfn >= 1 << 20 {
            return Err(GvtError::Fault);
        }
        self.mapped += 1;
        Ok((gfn << 12) | (1 << 40))
    }
    fn dma_unmap_guest_page(&mut self, _: u64) {
        self.mapped -= 1;
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
        self.maps.push((gfn, mfn, nr, map));
        Ok(())
    }
    fn aperture_invalidate(&mut self, gm: u64, size: u64) {
        self.invalidated.push((gm, size, self.mapped));
    }
}
