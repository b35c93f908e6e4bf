//! A strict command scanner for the execution tests, standing in for the real one (written in
//! parallel): it accepts only what the guest model emits and checks it for real. Ring:
//! MI_NOOP, MI_STORE_DATA_IMM to PPGTT addresses, PPGTT MI_BATCH_BUFFER_START, MI_USER_INTERRUPT
//! (taken out, reported for delivery at completion). Batches, read through the PPGTT: MI_NOOP,
//! MI_STORE_DATA_IMM, ending in MI_BATCH_BUFFER_END within 64 KiB. Anything else is refused,
//! named as the real scanner names it (the command is "unknown" to the allow-list).

use gvt::model::batch::Copies;
use gvt::model::cmd_scanner::{AddrSpace, At, Buf, Reason, ScanError};
use gvt::model::regs::Engine;
use gvt::model::workload::{CommandScanner, GuestMem, ScanFailure, ScanReport};

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

/// The refusal of the command `header` at `offset` of the ring, or of the PPGTT `batch`.
fn refuse(header: u32, offset: u64, batch: Option<u64>, reason: Reason) -> ScanFailure {
    let buf = if batch.is_some() {
        Buf::Batch(0)
    } else {
        Buf::Ring
    };
    let at = At {
        buf,
        offset: offset as u32,
    };
    ScanFailure::Refused(ScanError {
        command: "unknown",
        header,
        at,
        batch: batch.map(|b| (AddrSpace::Ppgtt, b)),
        reason,
    })
}

impl AllowList {
    /// Scans the batch at `start`, which the ring's batch start `(header, offset)` runs.
    fn scan_batch(
        &mut self,
        mem: &mut dyn GuestMem,
        start: u64,
        from: (u32, u64),
    ) -> Result<(), ScanFailure> {
        let mut at = start;
        while at - start < BATCH_LIMIT {
            let mut b = [0u8; 16];
            if mem.read_ppgtt(at, &mut b[..4]).is_err() {
                return Err(refuse(from.0, from.1, None, Reason::BatchFault(start)));
            }
            let h = u32::from_le_bytes(b[..4].try_into().unwrap());
            self.commands += 1;
            match h {
                mi::NOOP => at += 4,
                mi::BATCH_BUFFER_END => return Ok(()),
                _ if store_ok(h) => at += 16,
                _ => return Err(refuse(h, at - start, Some(start), Reason::UnknownCommand)),
            }
        }
        Err(refuse(from.0, from.1, None, Reason::Truncated))
    }
}

impl CommandScanner for AllowList {
    fn scan(
        &mut self,
        _engine: Engine,
        ring: &mut [u8],
        mem: &mut dyn GuestMem,
        _batches: &mut Copies<'_>,
    ) -> Result<ScanReport, ScanFailure> {
        let mut report = ScanReport::default();
        let mut i = 0;
        let dw = |r: &[u8], i: usize| {
            r.get(i..i + 4)
                .map(|b| u32::from_le_bytes(b.try_into().unwrap()))
        };
        let truncated = |h: u32, i: usize| refuse(h, i as u64, None, Reason::Truncated);
        while i < ring.len() {
            let h = dw(ring, i).ok_or_else(|| truncated(0, i))?;
            self.commands += 1;
            let len = match h {
                mi::NOOP | mi::BATCH_BUFFER_END => 4,
                mi::USER_INTERRUPT => {
                    ring[i..i + 4].copy_from_slice(&mi::NOOP.to_le_bytes());
                    report.user_interrupts += 1;
                    4
                }
                mi::BATCH_BUFFER_START_PPGTT => {
                    let lo = dw(ring, i + 4).ok_or_else(|| truncated(h, i))?;
                    let hi = dw(ring, i + 8).ok_or_else(|| truncated(h, i))?;
                    self.scan_batch(mem, u64::from(lo) | (u64::from(hi) << 32), (h, i as u64))?;
                    12
                }
                _ if store_ok(h) => 16,
                _ => return Err(refuse(h, i as u64, None, Reason::UnknownCommand)),
            };
            if i + len > ring.len() {
                return Err(truncated(h, i));
            }
            i += len;
        }
        Ok(report)
    }
}
