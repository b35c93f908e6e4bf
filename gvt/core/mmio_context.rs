//! Render MMIO and MOCS context switch: the engine registers that are not saved in a context
//! image belong to whoever owns the engine (the host or one vGPU), so they are switched when
//! the owner changes.
//!
//! Why only the differences: upstream saves and rewrites the whole list on every switch
//! (about 60 registers plus 64 MOCS per engine), through forcewake, on the submission path. The
//! core remembers what the hardware holds ([`MmioContext`]) and writes only the registers whose
//! value differs for the next owner. That memory is exact because nothing else writes these
//! registers: the command scanner refuses guest LRIs to them and the host's values are read
//! back before the host gives an engine away.
//!
//! Registers saved in the context image are restored by the image, except for a context
//! created with restore inhibit: then [`restore_inhibit`] puts LRIs of the vGPU's values at the
//! head of its shadow ring, as upstream does.

use super::host::HostExec;
use super::num::u32_as_usize;
use super::regs::*;

/// Who an engine runs for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Owner {
    /// The host's own work.
    Host,
    /// A vGPU (by id).
    Vgpu(u32),
}

/// A switched register: engine, offset, masked ("mode") register.
type Reg = (Engine, u32, bool);

/// The render engine's force-to-non-privileged slot `i` (0-11).
const fn force_to_nonpriv(i: u32) -> u32 {
    RING_FORCE_TO_NONPRIV::offset(RENDER_RING_BASE).wrapping_add(i.wrapping_mul(4))
}

/// Gen9 engine registers outside the context image (upstream's gen9_engine_mmio_list entries
/// that are not in context, for the engines Gen9 GT2/BXT have).
const SWITCHED: [Reg; 34] = [
    (Engine::Rcs, RING_MODE_GEN7::offset(RENDER_RING_BASE), true),
    (Engine::Rcs, GEN9_CTX_PREEMPT_REG::OFFSET, false),
    (Engine::Rcs, RING_HWSTAM::offset(RENDER_RING_BASE), false),
    (Engine::Rcs, force_to_nonpriv(0), false),
    (Engine::Rcs, force_to_nonpriv(1), false),
    (Engine::Rcs, force_to_nonpriv(2), false),
    (Engine::Rcs, force_to_nonpriv(3), false),
    (Engine::Rcs, force_to_nonpriv(4), false),
    (Engine::Rcs, force_to_nonpriv(5), false),
    (Engine::Rcs, force_to_nonpriv(6), false),
    (Engine::Rcs, force_to_nonpriv(7), false),
    (Engine::Rcs, force_to_nonpriv(8), false),
    (Engine::Rcs, force_to_nonpriv(9), false),
    (Engine::Rcs, force_to_nonpriv(10), false),
    (Engine::Rcs, force_to_nonpriv(11), false),
    (Engine::Rcs, GEN8_PRIVATE_PAT_LO::OFFSET, false),
    (Engine::Rcs, GEN8_PRIVATE_PAT_HI::OFFSET, false),
    (Engine::Rcs, GEN9_CS_DEBUG_MODE1::OFFSET, true),
    (Engine::Rcs, GEN8_L3SQCREG4::OFFSET, false),
    (Engine::Rcs, GEN9_SCRATCH1::OFFSET, false),
    (Engine::Rcs, GEN9_SCRATCH_LNCF1::OFFSET, false),
    (Engine::Rcs, GEN7_UCGCTL4::OFFSET, false),
    (Engine::Rcs, GAMT_CHKN_BIT_REG::OFFSET, false),
    (Engine::Rcs, GEN9_GAMT_ECO_REG_RW_IA::OFFSET, false),
    (Engine::Rcs, CSFE_CHICKEN1::offset(RENDER_RING_BASE), true), // GEN9_CSFE_CHICKEN1_RCS
    (Engine::Rcs, GEN8_GARBCNTL::OFFSET, false),
    (Engine::Rcs, GEN7_FF_THREAD_MODE::OFFSET, false),
    (Engine::Rcs, FF_SLICE_CS_CHICKEN2::OFFSET, true),
    (Engine::Bcs, RING_MODE_GEN7::offset(BLT_RING_BASE), true), // RING_GFX_MODE
    (Engine::Bcs, RING_MI_MODE::offset(BLT_RING_BASE), true),
    (Engine::Bcs, RING_INSTPM::offset(BLT_RING_BASE), true),
    (Engine::Bcs, RING_HWSTAM::offset(BLT_RING_BASE), false),
    (Engine::Bcs, RING_EXCC::offset(BLT_RING_BASE), true),
    (Engine::Vecs, RING_EXCC::offset(VEBOX_RING_BASE), true),
];

/// Registers in the render context image (restored by LRI for restore-inhibit contexts).
const RCS_IN_CONTEXT: [u32; 24] = [
    RING_INSTPM::offset(RENDER_RING_BASE),
    CACHE_MODE_1::OFFSET,
    GEN7_GT_MODE::OFFSET,
    CACHE_MODE_0_GEN7::OFFSET,
    GEN7_COMMON_SLICE_CHICKEN1::OFFSET,
    HDC_CHICKEN0::OFFSET,
    VF_GUARDBAND::OFFSET,
    GEN8_CS_CHICKEN1::OFFSET,
    COMMON_SLICE_CHICKEN2::OFFSET,
    GEN7_HALF_SLICE_CHICKEN1::OFFSET,
    HALF_SLICE_CHICKEN2::OFFSET,
    HSW_HALF_SLICE_CHICKEN3::OFFSET,
    GEN9_HALF_SLICE_CHICKEN5::OFFSET,
    GEN9_HALF_SLICE_CHICKEN7::OFFSET,
    GEN8_ROW_CHICKEN::OFFSET,
    TRVATTL3PTRDW::OFFSET,
    TRVATTL3PTRDW::OFFSET.wrapping_add(4),
    TRVATTL3PTRDW::OFFSET.wrapping_add(8),
    TRVATTL3PTRDW::OFFSET.wrapping_add(0xc),
    TRVADR::OFFSET,
    TRTTE::OFFSET,
    0x4dfc,
    GEN8_HDC_CHICKEN1::OFFSET,
    0x20d8,
];

const RCS_IN_CONTEXT_COUNT: u32 = 24;
const _: () = assert!(RCS_IN_CONTEXT.len() == u32_as_usize(RCS_IN_CONTEXT_COUNT));

/// MOCS registers per engine.
pub const MOCS_REGS: u32 = 64;
/// L3 cache control registers (pairs of MOCS entries), render only.
pub const L3CC_REGS: u32 = 32;
const L3CC_BASE: u32 = GEN9_LNCFCMOCS::OFFSET;

/// The MOCS block of `e`. Render MOCS live in the context image on Gen9.
pub const fn mocs_base(e: Engine) -> u32 {
    match e {
        Engine::Rcs => GEN9_GFX_MOCS::OFFSET,
        Engine::Vcs => GEN9_MFX0_MOCS::OFFSET,
        Engine::Vecs => GEN9_VEBOX_MOCS::OFFSET,
        Engine::Bcs => GEN9_BLT_MOCS::OFFSET,
    }
}

const MOCS_SWITCHED: [Engine; 3] = [Engine::Vcs, Engine::Vecs, Engine::Bcs];
/// Registers switched across all engines (what upstream rewrites on every switch).
pub const SWITCHED_REGS: usize = SWITCHED.len() + MOCS_SWITCHED.len() * u32_as_usize(MOCS_REGS);
const SLOTS: usize = SWITCHED_REGS;

/// Every switched register: the list, then the MOCS of the non-render engines. Evaluated at
/// compile time (the indexing below cannot fail at run time).
#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
const ALL: [Reg; SLOTS] = {
    let mut t = [(Engine::Rcs, 0, false); SLOTS];
    let mut i = 0;
    while i < SWITCHED.len() {
        t[i] = SWITCHED[i];
        i += 1;
    }
    let mut e = 0;
    while e < MOCS_SWITCHED.len() {
        let mut r = 0;
        while r < MOCS_REGS {
            let engine = MOCS_SWITCHED[e];
            t[SWITCHED.len() + e * u32_as_usize(MOCS_REGS) + u32_as_usize(r)] =
                (engine, mocs_base(engine) + 4 * r, false);
            r += 1;
        }
        e += 1;
    }
    t
};

/// Counters of the switch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SwitchStats {
    /// Owner changes.
    pub switches: u64,
    /// Registers written in all.
    pub writes: u64,
}

/// What one physical GPU's engines hold in their switched registers, and the host's values.
#[derive(Clone, Debug)]
pub struct MmioContext {
    hw: [u32; SLOTS],
    known: [bool; SLOTS],
    host: [u32; SLOTS],
    owner: [Owner; 4],
    stats: SwitchStats,
}

impl Default for MmioContext {
    fn default() -> Self {
        MmioContext {
            hw: [0; SLOTS],
            known: [false; SLOTS],
            host: [0; SLOTS],
            owner: [Owner::Host; 4],
            stats: SwitchStats::default(),
        }
    }
}

fn engine_slot(e: Engine) -> usize {
    match e {
        Engine::Rcs => 0,
        Engine::Vcs => 1,
        Engine::Bcs => 2,
        Engine::Vecs => 3,
    }
}

impl MmioContext {
    /// Counters.
    pub fn stats(&self) -> &SwitchStats {
        &self.stats
    }

    /// Who owns `e` now.
    pub fn owner(&self, e: Engine) -> Owner {
        self.owner
            .get(engine_slot(e))
            .copied()
            .unwrap_or(Owner::Host)
    }

    /// Gives idle engine `e` to `next`, whose register values `vreg` gives for a vGPU (the
    /// host's own values are those read when it last gave the engine away). Returns the
    /// number of registers written.
    pub fn switch(
        &mut self,
        host: &dyn HostExec,
        e: Engine,
        next: Owner,
        vreg: impl Fn(u32) -> u32,
    ) -> u32 {
        let prev = self.owner(e);
        if prev == next {
            return 0;
        }
        let mut written = 0u32;
        // Zipped rather than indexed: the arrays have the table's length by construction.
        let slots = self
            .hw
            .iter_mut()
            .zip(self.known.iter_mut())
            .zip(self.host.iter_mut());
        for (&(engine, off, masked), ((hw, known), hostv)) in ALL.iter().zip(slots) {
            if engine != e {
                continue;
            }
            if prev == Owner::Host {
                *hostv = host.mmio_read(off);
                *hw = *hostv;
                *known = true;
            }
            let want = match next {
                Owner::Host => *hostv,
                Owner::Vgpu(_) => vreg(off),
            };
            let want = if masked { want & 0xffff } else { want };
            let have = if masked { *hw & 0xffff } else { *hw };
            if !*known || have != want {
                host.mmio_write(off, if masked { want | 0xffff_0000 } else { want });
                *hw = want;
                *known = true;
                written = written.saturating_add(1);
            }
        }
        if let Some(o) = self.owner.get_mut(engine_slot(e)) {
            *o = next;
        }
        self.stats.switches = self.stats.switches.saturating_add(1);
        self.stats.writes = self.stats.writes.saturating_add(u64::from(written));
        written
    }
}

const MI_LOAD_REGISTER_IMM: u32 = 0x22 << 23;
const MI_ARB_ON_OFF: u32 = 0x08 << 23;

/// Writes into `out` the commands that load a restore-inhibit context's registers from the
/// vGPU's values (`vreg`): arbitration off, LRIs of the render in-context registers, MOCS and
/// L3CC, arbitration on. Returns the bytes written (0 if `out` is too small, or for engines
/// with nothing in their image to restore).
pub fn restore_inhibit(e: Engine, vreg: impl Fn(u32) -> u32, out: &mut [u8]) -> usize {
    if e != Engine::Rcs {
        return 0;
    }
    let mut w = Dwords {
        out: out.chunks_exact_mut(4),
        n: 0,
        ok: true,
    };
    w.put(MI_ARB_ON_OFF);
    w.lri(RCS_IN_CONTEXT.iter().copied(), RCS_IN_CONTEXT_COUNT, &vreg);
    let mocs = mocs_base(Engine::Rcs);
    w.lri(
        (0..MOCS_REGS).map(|i| mocs.wrapping_add(i.wrapping_mul(4))),
        MOCS_REGS,
        &vreg,
    );
    w.lri(
        (0..L3CC_REGS).map(|i| L3CC_BASE.wrapping_add(i.wrapping_mul(4))),
        L3CC_REGS,
        &vreg,
    );
    w.put(MI_ARB_ON_OFF | 1);
    if w.ok {
        w.n.wrapping_mul(4)
    } else {
        0
    }
}

/// Dwords written into a byte buffer; `ok` turns false when one does not fit.
struct Dwords<'a> {
    out: core::slice::ChunksExactMut<'a, u8>,
    n: usize,
    ok: bool,
}

impl Dwords<'_> {
    fn put(&mut self, v: u32) {
        match self
            .out
            .next()
            .and_then(|d| <&mut [u8; 4]>::try_from(d).ok())
        {
            Some(d) => *d = v.to_le_bytes(),
            None => self.ok = false,
        }
        self.n = self.n.wrapping_add(1);
    }

    /// One MI_LOAD_REGISTER_IMM of the `count` registers `regs` with their values in `vreg`.
    fn lri(&mut self, regs: impl Iterator<Item = u32>, count: u32, vreg: &impl Fn(u32) -> u32) {
        self.put(MI_LOAD_REGISTER_IMM | count.wrapping_mul(2).wrapping_sub(1));
        for r in regs {
            self.put(r);
            self.put(vreg(r));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::error::Result;
    use crate::model::host::HostWorkload;
    use std::cell::RefCell;
    use std::collections::BTreeMap;

    #[derive(Default)]
    struct Regs(RefCell<BTreeMap<u32, u32>>, RefCell<u32>);

    impl HostExec for Regs {
        fn alloc_pages(&self, _: u32) -> Result<u64> {
            Err(crate::model::error::GvtError::NoMemory)
        }
        fn free_pages(&self, _: u64, _: u32) {}
        fn write_mem(&self, _: u64, _: &[u8]) -> Result {
            Ok(())
        }
        fn read_mem(&self, _: u64, _: &mut [u8]) -> Result {
            Ok(())
        }
        fn map_ggtt(&self, _: u64, _: u32) -> Result<u64> {
            Err(crate::model::error::GvtError::NoSpace)
        }
        fn unmap_ggtt(&self, _: u64, _: u32) {}
        fn mmio_read(&self, offset: u32) -> u32 {
            self.0.borrow().get(&offset).copied().unwrap_or(0)
        }
        fn mmio_write(&self, offset: u32, value: u32) {
            *self.1.borrow_mut() += 1;
            self.0.borrow_mut().insert(offset, value);
        }
        fn submit(&self, _: &HostWorkload) -> Result {
            Ok(())
        }
    }

    #[test]
    fn only_differences_are_written() {
        let host = Regs::default();
        host.0.borrow_mut().insert(0xcc00, 7);
        let mut c = MmioContext::default();
        let a = |r: u32| if r == 0xcc04 { 1 } else { 0 };
        let b = |r: u32| if r == 0xcc04 || r == 0xcc08 { 2 } else { 0 };
        // Host -> A on the blitter: its MOCS 0 (7 -> 0) and 1 (0 -> 1) change.
        assert_eq!(c.switch(&host, Engine::Bcs, Owner::Vgpu(1), a), 2);
        assert_eq!(c.switch(&host, Engine::Bcs, Owner::Vgpu(1), a), 0);
        assert_eq!(c.switch(&host, Engine::Bcs, Owner::Vgpu(2), b), 2);
        // Back to the host: its values return, masked registers with their mask.
        assert_eq!(c.switch(&host, Engine::Bcs, Owner::Host, b), 3);
        assert_eq!(host.mmio_read(0xcc00), 7);
        assert_eq!(host.mmio_read(0xcc08), 0);
        assert_eq!(c.stats().switches, 3);
        assert_eq!(c.stats().writes, 7);
    }

    #[test]
    fn inhibit_restore_loads_render_state() {
        let mut out = [0u8; 4096];
        let n = restore_inhibit(Engine::Rcs, |r| r ^ 0x5555, &mut out);
        // ARB off, 3 LRI headers, 120 pairs, ARB on.
        assert_eq!(n, (1 + 3 + 2 * (24 + 64 + 32) + 1) * 4);
        let dw = |i: usize| u32::from_le_bytes(out[i * 4..i * 4 + 4].try_into().unwrap());
        assert_eq!(dw(1), MI_LOAD_REGISTER_IMM | 47);
        assert_eq!((dw(2), dw(3)), (0x20c0, 0x20c0 ^ 0x5555));
        assert_eq!(restore_inhibit(Engine::Bcs, |_| 0, &mut out), 0);
        assert_eq!(restore_inhibit(Engine::Rcs, |_| 0, &mut out[..100]), 0);
    }
}
