//! `failsafe KIND UUID N`: what a hostile or broken guest does to put its vGPU in failsafe,
//! N times over (a flood). The host's side (its log, debugfs, trace events) is what the
//! `failsafe` QEMU scenario checks; here only the guest's actions are, as checks that they
//! were made. Then the client keeps the device open until its standard input ends: closing it
//! resets the vGPU, and the scenario looks at the vGPU in failsafe meanwhile.
//!
//! The first round goes through the guest model as i915 would submit; the next ones write the
//! same submission to ELSP again without waiting for a CSB event, as only a hostile guest does.
//! - `command`: a ring with `MI_LOAD_REGISTER_IMM` of `GEN6_GDRST`, which the scanner refuses;
//! - `page-table`: a page directory entry pointing past guest RAM, then a submission;
//! - `ppgtt-batch`: `MI_LOAD_REGISTER_IMM` of `GEN6_GDRST` in a PPGTT (non-privileged) batch,
//!   which only a vGPU whose `scan_nonprivbb` switch names the render engine refuses;
//! - `elsp`: a full GPU reset (GDRST), which takes the vGPU out of failsafe, so that each
//!   round enters it anew; then four garbage dwords written to the render engine's ELSP.

use guest_model::gpu::{self, mi, PTE_RW};
use guest_model::probe;
use guest_model::workload::{Guest, BATCH_GVA, DATA_GVA};
use guest_model::{Transport, TransportExt};

use crate::checks::Checks;
use crate::commands::{main_regions, msi_eventfd, open};
use crate::transport::VfioTransport;
use crate::uapi;
use crate::workloads::RAM_START;

/// The render engine's ELSP.
const ELSP_RCS: u32 = 0x2230;
/// GEN6_GDRST and its full-reset bit.
const GDRST: u32 = 0x941c;
const GDRST_FULL: u32 = 1;

/// Which failure to provoke.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A command the scanner refuses.
    Command,
    /// A page table outside guest RAM.
    PageTable,
    /// A command the scanner refuses, in a PPGTT batch.
    PpgttBatch,
    /// A guest reset, then a hostile ELSP write.
    Elsp,
}

impl Kind {
    /// The kind a command line names.
    pub fn parse(s: &str) -> Option<Kind> {
        match s {
            "command" => Some(Kind::Command),
            "page-table" => Some(Kind::PageTable),
            "ppgtt-batch" => Some(Kind::PpgttBatch),
            "elsp" => Some(Kind::Elsp),
            _ => None,
        }
    }
}

/// Round `round` of `kind` on a set-up guest.
fn provoke<T: Transport>(t: &mut T, g: &mut Guest, kind: Kind, round: u32) -> guest_model::Result {
    match kind {
        Kind::Command | Kind::PageTable | Kind::PpgttBatch if round > 0 => {
            gpu::submit(t, &g.ctx, None)
        }
        Kind::Command => {
            g.ctx
                .emit(t, &[mi::NOOP, 0x1100_0001, GDRST, 1, mi::NOOP])?;
            g.ctx.publish(t)?;
            g.rcs.submit(t, &g.ctx, None)
        }
        Kind::PageTable => {
            let at = g.ppgtt.entry_addr(t, &mut g.alloc, DATA_GVA, 2)?;
            t.ram_write(at, &((2u64 << 40) | PTE_RW).to_le_bytes())?;
            g.submit(t, &[DATA_GVA], 1, DATA_GVA.wrapping_add(4))
        }
        Kind::PpgttBatch => {
            for (i, c) in (0u64..).zip([mi::NOOP, 0x1100_0001, GDRST, 1, mi::BATCH_BUFFER_END]) {
                t.ram_write(g.batch.wrapping_add(i.wrapping_mul(4)), &c.to_le_bytes())?;
            }
            let [lo, hi] = [BATCH_GVA, BATCH_GVA >> 32].map(|v| (v & 0xffff_ffff) as u32);
            g.ctx.emit(
                t,
                &[mi::BATCH_BUFFER_START_PPGTT, lo, hi, mi::USER_INTERRUPT],
            )?;
            g.ctx.publish(t)?;
            g.rcs.submit(t, &g.ctx, None)
        }
        Kind::Elsp => {
            t.write32(GDRST, GDRST_FULL)?;
            [0xdead_beef, 0x1234_5678, 0xffff_ffff, 0x0000_1001]
                .iter()
                .try_for_each(|&v| t.write32(ELSP_RCS, v))
        }
    }
}

/// `failsafe KIND UUID N`.
pub fn failsafe(kind: Kind, uuid: &str, rounds: u32, tag: Option<String>) -> Checks {
    let mut c = Checks::tagged(tag);
    let Some(v) = open(&mut c, uuid) else {
        return c;
    };
    let Some((cfg, bar0)) = main_regions(&mut c, &v) else {
        return c;
    };
    // Kept until the end: the guest's interrupts have somewhere to go.
    let Some((msi, msi_on)) = msi_eventfd(&mut c, &v) else {
        return c;
    };
    let mut t = VfioTransport::new(&v.device, cfg, bar0, &v.ram, msi_on.then_some(&msi));
    let id = match probe::probe(&mut t) {
        Ok(r) => r.vgt_id,
        Err(e) => {
            let d = t.last_error.take().unwrap_or_default();
            c.fail("probe", format!("{e:?} {d}"));
            return c;
        }
    };
    let mut g = match Guest::new(&mut t, RAM_START, crate::display::FB_GPA, id) {
        Ok(g) => g,
        Err(e) => {
            let d = t.last_error.take().unwrap_or_default();
            c.fail("guest set-up", format!("{e:?} {d}"));
            return c;
        }
    };
    let done = (0..rounds).try_for_each(|round| {
        provoke(&mut t, &mut g, kind, round).map_err(|e| {
            let d = t.last_error.take().unwrap_or_default();
            format!("round {round}: {e:?} {d}")
        })
    });
    c.check(&format!("{kind:?} provoked {rounds} times"), done);
    // Held open until standard input ends (any error ends it too).
    let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
    if msi_on {
        c.check(
            "msi eventfd released",
            v.disable_irq(uapi::PCI_MSI_IRQ_INDEX)
                .map_err(|e| e.to_string()),
        );
    }
    c
}
