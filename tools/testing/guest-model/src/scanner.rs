//! A strict command scanner for the execution tests, standing in for the real one (written in
//! parallel): it accepts only what the guest model emits and checks it for real. Ring:
//! MI_NOOP, MI_STORE_DATA_IMM to PPGTT addresses, PPGTT MI_BATCH_BUFFER_START, MI_USER_INTERRUPT
//! (taken out, reported for delivery at completion). Batches, read through the PPGTT: MI_NOOP,
//! MI_STORE_DATA_IMM, ending in MI_BATCH_BUFFER_END within 64 KiB. Anything else is refused.

use gvt::model::error::{GvtError, Result};
use gvt::model::regs::Engine;
use gvt::model::batch::Copies;
use gvt::model::workload::{CommandScanner, GuestMem, ScanReport};

use crate::gpu::mi;

/// The allow-list scanner.
#[derive(Default)]
pub struct AllowList {
    /// Commands scanned.
    pub commands: u64,
}

const BATCH_LIMIT: u64 = 64 << 10;

fn store_ok(h: u32) -> bool {
    h >> 23 == 0x20 && h & (1 << 22) == 0 && h & 0x3ff == 2
}

impl AllowList {
    fn scan_batch(&mut self, mem: &mut dyn GuestMem, start: u64) -> Result {
        let mut at = start;
        while at - start < BATCH_LIMIT {
            let mut b = [0u8; 16];
            mem.read_ppgtt(at, &mut b[..4])?;
            let h = u32::from_le_bytes(b[..4].try_into().unwrap());
            self.commands += 1;
            match h {
                mi::NOOP => at += 4,
                mi::BATCH_BUFFER_END => return Ok(()),
                _ if store_ok(h) => at += 16,
                _ => return Err(GvtError::Invalid),
            }
        }
        Err(GvtError::Invalid)
    }
}

impl CommandScanner for AllowList {
    fn scan(&mut self, _engine: Engine, ring: &mut [u8], mem: &mut dyn GuestMem, _batches: &mut Copies<'_>) -> Result<ScanReport> {
        let mut report = ScanReport::default();
        let mut i = 0;
        let dw = |r: &[u8], i: usize| r.get(i..i + 4).map(|b| u32::from_le_bytes(b.try_into().unwrap()));
        while i < ring.len() {
            let h = dw(ring, i).ok_or(GvtError::Invalid)?;
            self.commands += 1;
            let len = match h {
                mi::NOOP | mi::BATCH_BUFFER_END => 4,
                mi::USER_INTERRUPT => {
                    ring[i..i + 4].copy_from_slice(&mi::NOOP.to_le_bytes());
                    report.user_interrupts += 1;
                    4
                }
                mi::BATCH_BUFFER_START_PPGTT => {
                    let lo = dw(ring, i + 4).ok_or(GvtError::Invalid)?;
                    let hi = dw(ring, i + 8).ok_or(GvtError::Invalid)?;
                    self.scan_batch(mem, u64::from(lo) | (u64::from(hi) << 32))?;
                    12
                }
                _ if store_ok(h) => 16,
                _ => return Err(GvtError::Invalid),
            };
            if i + len > ring.len() {
                return Err(GvtError::Invalid);
            }
            i += len;
        }
        Ok(report)
    }
}
