//! `sim` engines: the command streamers of the software Gen9 GPU.
//!
//! A guest driver only completes a workload when its commands have visible effects: the
//! breadcrumb it polls, the interrupt it waits for, the ring head it reads back. An [`Engine`]
//! executes the subset of MI and `PIPE_CONTROL` commands a driver relies on for that, through
//! the GGTT and a 4-level PPGTT, and skips every other valid command by its length (3D, media,
//! blitter state has no effect on the model). Lengths and engine validity come from the command
//! scanner's descriptor table, so the sim and the scanner agree on what a command stream is.
//!
//! Execution is sliced: every command, and every poll of a semaphore, spends one unit of the
//! caller's budget. When it runs out, or the engine's time slice ([`Engine::set_slice_ns`]) is
//! over, the run stops as [`Outcome::Sliced`] with a [`Cursor`] to go on from, so a spinning batch or a semaphore wait occupies the engine as on hardware but
//! never stalls the host; whether it has run too long is the caller's decision. Untranslatable
//! addresses end as [`Outcome::Fault`].
//!
//! Like a command streamer, an engine prefetches: commands are read from a copy of up to
//! [`PREFETCH`] dwords (never past a page) taken with one memory access, and the last PPGTT
//! translation is kept, so a command costs no page walk and no memory access of its own. Both
//! live for one run and are dropped whenever the engine writes memory, which may be the
//! commands ahead or a page table; a run of `MI_NOOP`s in the copy is spent in one step. What
//! a run does is exactly what fetching every dword through a fresh walk would do.
//!
//! Registers: commands load them (`MI_LOAD_REGISTER_IMM`/`_MEM`/`_REG`, `PIPE_CONTROL`'s
//! register write), store them to memory (`MI_STORE_REGISTER_MEM`), and compute on the 16
//! 64-bit `CS_GPR`s with `MI_MATH`. An engine keeps what was loaded in a register file; the
//! clocks are computed, not stored: `RING_TIMESTAMP` (+`_UDW`) counts at the command
//! streamer's timestamp frequency from the [`Clock`]'s origin, `RING_CTX_TIMESTAMP` at the
//! same rate while a context runs. A context's registers are restored from the `MI_LOAD_
//! REGISTER_IMM` list of its register state page when it starts ([`Engine::restore_context`])
//! and `CTX_TIMESTAMP` and the GPRs are saved back into it when it completes
//! ([`Engine::save_context`]), as the hardware does; a register neither loaded nor computed
//! reads 0.
//!
//! Interface for the sim host: [`Engine::run`] over a [`HostMemory`] (the sim's memory by DMA
//! address: a page map in tests, real pages in gvt.ko), the host GGTT entries (DMA address in
//! bits 12 and up, present bit 0, as `vgpu::ggtt` writes them) and a [`RingState`], with an
//! optional PML4 address for PPGTT batches.

use core::sync::atomic::{AtomicU64, Ordering};

use crate::model::cmd_scanner::{decode, Check};
use crate::model::hw::Platform;
use crate::model::num::{u32_as_usize, u64_as_usize};
use crate::model::ppgtt::{ADDR_MASK as PPGTT_ADDR_MASK, PTE_PS, PTE_RW};
use crate::model::regs::Engine as EngineId;
use crate::model::vgpu::{GEN8_PAGE_PRESENT, GTT_ADDR_MASK, GTT_PAGE_SIZE};

/// The sim's time: a monotonic clock in nanoseconds. In gvt.ko it is the kernel's ktime; tests
/// and models pass a fixed time (`u64`) or one they move (`Cell<u64>`).
pub trait Clock {
    /// Nanoseconds since an arbitrary origin, never going back.
    fn now_ns(&self) -> u64;
}

impl Clock for u64 {
    fn now_ns(&self) -> u64 {
        *self
    }
}

impl Clock for core::cell::Cell<u64> {
    fn now_ns(&self) -> u64 {
        self.get()
    }
}

/// The sim's memory, by host DMA (physical) address.
pub trait HostMemory {
    /// Reads `buf.len()` bytes at `addr`; `false` if any byte is not backed.
    fn read(&mut self, addr: u64, buf: &mut [u8]) -> bool;
    /// Writes `data` at `addr`; `false` if any byte is not backed.
    fn write(&mut self, addr: u64, data: &[u8]) -> bool;
}

/// How an address reaches memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Space {
    /// Through the GGTT.
    Ggtt,
    /// Through the context's 4-level PPGTT.
    Ppgtt,
    /// Host memory directly: where the host keeps shadow rings and context images (the GPU
    /// reaches them through host GGTT entries the sim does not model).
    Phys,
}

/// The ring an engine runs: an address range and the head/tail offsets in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RingState {
    /// Address of the ring's first byte.
    pub start: u64,
    /// The space `start` is in ([`Space::Ggtt`] or [`Space::Phys`]).
    pub space: Space,
    /// Ring size in bytes (a multiple of 4).
    pub size: u32,
    /// Offset of the next command.
    pub head: u32,
    /// Offset past the last command.
    pub tail: u32,
}

/// Why a run stopped early.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The ring ran to its tail.
    Completed,
    /// The budget ran out (a long batch, a loop, a semaphore not yet true): [`RunResult::cursor`]
    /// says where to go on.
    Sliced,
    /// An address did not translate (GGTT entry absent or out of range, PPGTT not present,
    /// 1 GiB page, no PPGTT) or its memory is not backed.
    Fault {
        /// The graphics address.
        addr: u64,
        /// Whether it was a PPGTT address.
        ppgtt: bool,
    },
    /// A header no engine command matches, or one not valid on this engine.
    BadCommand(u32),
    /// A batch start deeper than the hardware nests (a second-level batch starting one).
    BadNesting,
}

/// What a run did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunResult {
    /// How it ended.
    pub outcome: Outcome,
    /// Ring head after the run: the tail when completed, else the ring command being executed.
    pub head: u32,
    /// `MI_USER_INTERRUPT`s executed.
    pub user_interrupts: u32,
    /// `PIPE_CONTROL` and `MI_FLUSH_DW` notifies executed.
    pub notifies: u32,
    /// Budget spent.
    pub spent: u64,
    /// Where the run stopped: the command to execute next (the semaphore still waiting).
    pub cursor: Cursor,
}

/// Where an engine is in a workload: the ring offset, the batches it is in and the command
/// each goes on with. A run resumed from it refetches everything, so memory the CPU changed
/// meanwhile (a spinner's end) is seen, as a command streamer's prefetch eventually does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cursor {
    stack: [Loc; 3],
    depth: u8,
}

impl Cursor {
    /// The start of a ring at `head`.
    pub fn at(head: u32) -> Self {
        Cursor {
            stack: [Loc::Ring(head); 3],
            depth: 0,
        }
    }
}

/// Registers an engine keeps (distinct offsets): a context image lists 68 on Gen9, the
/// restore-inhibit prefix ~120 (many the same), the guest's own LRIs the rest.
pub const MAX_REGS: usize = 256;

/// Command dwords an engine reads ahead at once (fewer at the end of a page).
pub const PREFETCH: usize = 128;

/// Units of budget between two readings of the clock in a run with a time slice.
const CLOCK_EVERY: u64 = 32;

/// Slots of the register file's index: twice [`MAX_REGS`], so lookups probe about once.
const REG_SLOTS: usize = 2 * MAX_REGS;

/// Ticks of a `hz` clock from 0 to `ns` (wrapping past 64 bits, centuries away).
fn ticks(ns: u64, hz: u64) -> u64 {
    const NS: u64 = 1_000_000_000;
    ns.wrapping_div(NS)
        .wrapping_mul(hz)
        .wrapping_add(ns.wrapping_rem(NS).wrapping_mul(hz).wrapping_div(NS))
}

/// One engine: which one it is, its status page and the registers commands loaded, found
/// through a hash index (a restore-inhibit prefix alone loads ~120 registers per workload).
pub struct Engine {
    id: EngineId,
    hwsp: u64,
    hwsp_space: Space,
    regs: [(u32, u32); MAX_REGS],
    nregs: usize,
    /// Open addressing over register offsets: position in `regs` plus one, 0 for empty.
    index: [u16; REG_SLOTS],
    /// Timestamp ticks per second.
    ts_hz: u64,
    /// `RING_CTX_TIMESTAMP` as of `ctx_since` (ns).
    ctx_ts: u32,
    ctx_since: u64,
    /// Longest a run may take by the [`Clock`] (ns), 0 for no limit.
    slice_ns: u64,
    /// The ALU's registers: source A and B, accumulator, zero and carry flags (all ones when
    /// set, as the ALU stores them).
    alu: [u64; 5],
}

/// Register offsets from the engine's base (gt/intel_engine_regs.h).
mod reg {
    pub(super) const RING_TIMESTAMP: u32 = 0x358;
    pub(super) const RING_TIMESTAMP_UDW: u32 = 0x35c;
    pub(super) const RING_CTX_TIMESTAMP: u32 = 0x3a8;
    /// `GEN8_RING_CS_GPR(base, 0)`: 16 GPRs of 64 bits, low dword first.
    pub(super) const CS_GPR: u32 = 0x600;
    pub(super) const CS_GPR_END: u32 = 0x680;
}

/// `CTX_CONTEXT_CONTROL` (gt/intel_lrc_reg.h): the dword of the register state page holding
/// the context control value; bit 0 is `CTX_CTRL_ENGINE_CTX_RESTORE_INHIBIT`.
const CTX_CONTEXT_CONTROL: u64 = 0x03;

/// `MI_LOAD_REGISTER_IMM`, any length and flags.
const LRI_MASK: u32 = 0xff80_0000;
const LRI: u32 = 0x22 << 23;

/// `MI_MATH`'s opcode.
const MI_MATH: u16 = 0x1a;

/// Dwords of the register state page read at once when restoring or saving.
const STATE_CHUNK: usize = 64;

/// Where commands are fetched from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Loc {
    /// Ring offset.
    Ring(u32),
    /// Batch address and whether it is a PPGTT (unprivileged) batch.
    Batch { addr: u64, ppgtt: bool },
}

/// A graphics address and its space.
#[derive(Clone, Copy)]
struct Gma {
    addr: u64,
    space: Space,
}

impl Gma {
    fn fault(self) -> Outcome {
        Outcome::Fault {
            addr: self.addr,
            ppgtt: self.space == Space::Ppgtt,
        }
    }
}

/// The command dwords read ahead: `len` bytes of `buf` copied from `start`.
struct Prefetch {
    start: Gma,
    len: usize,
    buf: [u8; PREFETCH * 4],
}

impl Prefetch {
    /// The byte offset of `g` in the copy, if a whole dword there was read.
    fn offset(&self, g: Gma) -> Option<usize> {
        if g.space != self.start.space {
            return None;
        }
        let off = usize::try_from(g.addr.wrapping_sub(self.start.addr)).ok()?;
        (off % 4 == 0 && off < self.len).then_some(off)
    }

    fn dword(&self, off: usize) -> Option<u32> {
        let b = self.buf.get(off..off.wrapping_add(4))?;
        <[u8; 4]>::try_from(b).ok().map(u32::from_le_bytes)
    }

    /// How many dwords from byte `off` on are zero (`MI_NOOP`).
    fn zeros(&self, off: usize) -> usize {
        const ZERO: [u8; PREFETCH * 4] = [0; PREFETCH * 4];
        // A lone MI_NOOP (ring padding) is the common case: no compare of the whole rest.
        if self.dword(off).is_some_and(|d| d != 0) {
            return 0;
        }
        let rest = self.buf.get(off..self.len).unwrap_or(&[]);
        // A slice compare is one memcmp, not a loop over dwords.
        if rest == ZERO.get(..rest.len()).unwrap_or(&[]) {
            return rest.len() / 4;
        }
        rest.chunks_exact(4).take_while(|d| *d == [0; 4]).count()
    }
}

struct Ctx<'a> {
    mem: &'a mut dyn HostMemory,
    clock: &'a dyn Clock,
    ggtt: &'a [AtomicU64],
    ring: RingState,
    ppgtt_root: Option<u64>,
    prefetch: Prefetch,
    /// When the run's time is over (the [`Clock`]'s ns), `u64::MAX` for never.
    deadline: u64,
    /// The budget spent when the clock is read next (every [`CLOCK_EVERY`] units).
    next_clock: u64,
    /// The last PPGTT translation: graphics page, the host page behind it, and whether it is
    /// writable.
    tlb: Option<(u64, u64, bool)>,
}

type Exec<T> = Result<T, Outcome>;

impl Ctx<'_> {
    /// Whether a run that spent `spent` must stop: its budget is gone, or its time.
    fn over(&mut self, spent: u64, budget: u64) -> bool {
        if spent >= budget {
            return true;
        }
        if self.deadline == u64::MAX || spent < self.next_clock {
            return false;
        }
        self.next_clock = spent.saturating_add(CLOCK_EVERY);
        self.clock.now_ns() >= self.deadline
    }

    fn translate(&mut self, g: Gma) -> Exec<u64> {
        self.translate_rw(g).map(|(pa, _)| pa)
    }

    /// The host address of `g` and whether the GPU may write it: PPGTT pages can be read-only
    /// (`GEN8_PAGE_RW` clear at any level, as i915 maps `PTE_READ_ONLY` objects); the GGTT
    /// has no such bit.
    fn translate_rw(&mut self, g: Gma) -> Exec<(u64, bool)> {
        let fault = g.fault();
        if g.space == Space::Phys {
            return Ok((g.addr, true));
        }
        if g.space == Space::Ggtt {
            let e = usize::try_from(g.addr / GTT_PAGE_SIZE)
                .ok()
                .and_then(|i| self.ggtt.get(i))
                .ok_or(fault)?;
            let pte = e.load(Ordering::Acquire);
            if pte & GEN8_PAGE_PRESENT == 0 {
                return Err(fault);
            }
            return Ok(((pte & GTT_ADDR_MASK) | (g.addr & (GTT_PAGE_SIZE - 1)), true));
        }
        let page = g.addr / GTT_PAGE_SIZE;
        let in_page = g.addr & (GTT_PAGE_SIZE - 1);
        if let Some((_, host, rw)) = self.tlb.filter(|t| t.0 == page) {
            return Ok((host | in_page, rw));
        }
        let (pa, rw) = self.walk(g)?;
        self.tlb = Some((page, pa & !(GTT_PAGE_SIZE - 1), rw));
        Ok((pa, rw))
    }

    /// Translates a PPGTT address through the tables in memory; also says whether every level
    /// allows writes.
    fn walk(&mut self, g: Gma) -> Exec<(u64, bool)> {
        let fault = g.fault();
        if g.addr >> 48 != 0 {
            return Err(fault);
        }
        let mut table = self.ppgtt_root.ok_or(fault)?;
        let mut rw = true;
        // PML4 (bits 47:39), PDP (38:30), PD (29:21), PT (20:12).
        for (level, shift) in [(4u8, 39u32), (3, 30), (2, 21), (1, 12)] {
            let index = (g.addr >> shift) & 0x1ff;
            let mut b = [0u8; 8];
            if !self
                .mem
                .read(table.wrapping_add(index.wrapping_mul(8)), &mut b)
            {
                return Err(fault);
            }
            let pte = u64::from_le_bytes(b);
            if pte & GEN8_PAGE_PRESENT == 0 {
                return Err(fault);
            }
            rw &= pte & PTE_RW != 0;
            let large = pte & PTE_PS != 0;
            match (level, large) {
                (3, true) => return Err(fault), // 1 GiB pages: not supported, as upstream
                (2, true) => {
                    let base = pte & PPGTT_ADDR_MASK & !((1 << 21) - 1);
                    return Ok((base | (g.addr & ((1 << 21) - 1)), rw));
                }
                (1, _) => {
                    return Ok(((pte & PPGTT_ADDR_MASK) | (g.addr & (GTT_PAGE_SIZE - 1)), rw))
                }
                _ => table = pte & PPGTT_ADDR_MASK,
            }
        }
        Err(fault)
    }

    fn read_dw(&mut self, g: Gma) -> Exec<u32> {
        let pa = self.translate(g)?;
        let mut b = [0u8; 4];
        if self.mem.read(pa, &mut b) {
            Ok(u32::from_le_bytes(b))
        } else {
            Err(g.fault())
        }
    }

    fn write_dw(&mut self, g: Gma, v: u32) -> Exec<()> {
        // The write may change the commands read ahead or a page table.
        self.prefetch.len = 0;
        self.tlb = None;
        let (pa, rw) = self.translate_rw(g)?;
        if !rw {
            // Dropped, as the hardware drops writes to a read-only page.
            return Ok(());
        }
        if self.mem.write(pa, &v.to_le_bytes()) {
            Ok(())
        } else {
            Err(g.fault())
        }
    }

    /// The command dword at `g`, from the prefetched copy (refilled from `g` on a miss).
    fn command_dw(&mut self, g: Gma) -> Exec<u32> {
        if let Some(v) = self.prefetch.offset(g).and_then(|o| self.prefetch.dword(o)) {
            return Ok(v);
        }
        self.prefetch.len = 0;
        let pa = self.translate(g)?;
        // Up to the end of the page: one translation covers it. A dword that straddles the
        // page end is read on its own, as before prefetching.
        let to_end =
            usize::try_from(GTT_PAGE_SIZE.wrapping_sub(g.addr & (GTT_PAGE_SIZE - 1))).unwrap_or(0);
        let n = (to_end & !3).clamp(4, PREFETCH * 4);
        let len = if self
            .prefetch
            .buf
            .get_mut(..n)
            .is_some_and(|b| self.mem.read(pa, b))
        {
            n
        } else if self
            .prefetch
            .buf
            .get_mut(..4)
            .is_some_and(|b| self.mem.read(pa, b))
        {
            4
        } else {
            return Err(g.fault());
        };
        self.prefetch.start = g;
        self.prefetch.len = len;
        self.prefetch.dword(0).ok_or(g.fault())
    }

    /// Writes dwords at consecutive addresses (each dword translated on its own, so a write
    /// may straddle pages).
    fn write(&mut self, g: Gma, vals: &[u32]) -> Exec<()> {
        for (i, &v) in (0u64..).zip(vals) {
            self.write_dw(
                Gma {
                    addr: g.addr.wrapping_add(i.wrapping_mul(4)),
                    space: g.space,
                },
                v,
            )?;
        }
        Ok(())
    }

    /// Where dword `i` of the command at `loc` is.
    fn locate(&self, loc: Loc, i: u32) -> Gma {
        match loc {
            Loc::Ring(off) => {
                let o = ring_add(off, i.wrapping_mul(4), self.ring.size.max(4));
                Gma {
                    addr: self.ring.start.wrapping_add(u64::from(o)),
                    space: self.ring.space,
                }
            }
            Loc::Batch { addr, ppgtt } => Gma {
                addr: addr.wrapping_add(u64::from(i).wrapping_mul(4)),
                space: space(ppgtt),
            },
        }
    }

    /// Dword `i` of the command at `loc`.
    fn fetch(&mut self, loc: Loc, i: u32) -> Exec<u32> {
        self.command_dw(self.locate(loc, i))
    }

    /// Dwords `i..` of the command at `loc`, at most `max`, as far as the prefetched copy has
    /// them in a row (refilled at dword `i` if it does not have that one; never past the
    /// ring's end, where the next dword is the ring's first).
    fn fetch_run(&mut self, loc: Loc, i: u32, max: usize) -> Exec<&[u8]> {
        let g = self.locate(loc, i);
        let off = match self.prefetch.offset(g) {
            Some(off) => off,
            None => {
                self.command_dw(g)?;
                self.prefetch.offset(g).ok_or(g.fault())?
            }
        };
        let mut end = self
            .prefetch
            .len
            .min(off.saturating_add(max.saturating_mul(4)));
        if let Loc::Ring(at) = loc {
            let o = ring_add(at, i.wrapping_mul(4), self.ring.size.max(4));
            let to_ring_end = usize::try_from(self.ring.size.max(4).saturating_sub(o)).unwrap_or(0);
            end = end.min(off.saturating_add(to_ring_end & !3));
        }
        Ok(self.prefetch.buf.get(off..end).unwrap_or(&[]))
    }

    /// How many `MI_NOOP`s follow the one at `loc` in the prefetched copy, without passing the
    /// ring's tail or end.
    fn noops_after(&self, loc: Loc) -> u32 {
        let Some(off) = self.prefetch.offset(self.locate(loc, 0)) else {
            return 0;
        };
        let zeros = u32::try_from(self.prefetch.zeros(off.wrapping_add(4))).unwrap_or(0);
        match loc {
            Loc::Batch { .. } => zeros,
            Loc::Ring(at) => {
                let size = self.ring.size.max(4);
                let limit = if self.ring.tail > at {
                    self.ring.tail.min(size)
                } else {
                    size
                };
                zeros.min(limit.saturating_sub(at).saturating_sub(4) / 4)
            }
        }
    }
}

impl Engine {
    /// An engine whose status page (for `MI_STORE_DWORD_INDEX` and index-mode post-syncs) is
    /// the GGTT page at `hwsp`.
    pub fn new(id: EngineId, hwsp: u64) -> Engine {
        Engine {
            id,
            hwsp,
            hwsp_space: Space::Ggtt,
            regs: [(0, 0); MAX_REGS],
            nregs: 0,
            index: [0; REG_SLOTS],
            ts_hz: Platform::Broxton.hw().timestamp_hz,
            ctx_ts: 0,
            ctx_since: 0,
            slice_ns: 0,
            alu: [0; 5],
        }
    }

    /// Bounds a run's time by the [`Clock`] as well as by its budget: under emulation a unit
    /// of budget can cost a thousand times what it does on a CPU, and the host's other work
    /// waits for the run (0: no limit, the default).
    pub fn set_slice_ns(&mut self, ns: u64) {
        self.slice_ns = ns;
    }

    /// Sets the timestamp frequency (default Broxton's, `hw::Hw::timestamp_hz`).
    pub fn set_timestamp_hz(&mut self, hz: u64) {
        self.ts_hz = hz;
    }

    /// Moves the status page (a new context) to `hwsp` in `space`.
    pub fn set_hwsp(&mut self, hwsp: u64, space: Space) {
        self.hwsp = hwsp;
        self.hwsp_space = space;
    }

    /// Where register `reg` is in the register file, or the empty index slot it would take.
    fn find_reg(&self, reg: u32) -> core::result::Result<usize, usize> {
        let mut slot = u32_as_usize((reg >> 2).wrapping_mul(0x9e37_79b1) >> 23) % REG_SLOTS;
        // The index is never full (MAX_REGS of REG_SLOTS), so an empty slot ends the probe.
        for _ in 0..REG_SLOTS {
            let at = usize::from(self.index.get(slot).copied().unwrap_or(0));
            let Some(pos) = at.checked_sub(1) else {
                return Err(slot);
            };
            if self.regs.get(pos).is_some_and(|r| r.0 == reg) {
                return Ok(pos);
            }
            slot = slot.wrapping_add(1) % REG_SLOTS;
        }
        Err(REG_SLOTS)
    }

    /// The value a command last loaded into register `reg`, if any.
    pub fn reg(&self, reg: u32) -> Option<u32> {
        self.find_reg(reg)
            .ok()
            .and_then(|i| self.regs.get(i))
            .map(|r| r.1)
    }

    fn set_reg(&mut self, reg: u32, val: u32) {
        match self.find_reg(reg) {
            Ok(i) => {
                if let Some(r) = self.regs.get_mut(i) {
                    r.1 = val;
                }
            }
            // A full register file drops new registers: the model keeps what drivers read back.
            Err(_) if self.nregs >= MAX_REGS => {}
            Err(slot) => {
                let pos = self.nregs;
                if let (Some(r), Some(s), Ok(at)) = (
                    self.regs.get_mut(pos),
                    self.index.get_mut(slot),
                    u16::try_from(pos.wrapping_add(1)),
                ) {
                    *r = (reg, val);
                    *s = at;
                    self.nregs = pos.wrapping_add(1);
                }
            }
        }
    }

    /// The offset of `r` from this engine's base, if it is one of this engine's registers.
    fn own(&self, r: u32) -> Option<u32> {
        r.checked_sub(self.id.base()).filter(|o| *o < 0x1000)
    }

    /// `RING_CTX_TIMESTAMP` at `now` (ns).
    fn ctx_timestamp(&self, now: u64) -> u32 {
        let run = ticks(now, self.ts_hz).wrapping_sub(ticks(self.ctx_since, self.ts_hz));
        self.ctx_ts.wrapping_add(low32(run))
    }

    /// What a command reads from register `r`.
    pub fn read_reg(&self, r: u32, clock: &dyn Clock) -> u32 {
        match self.own(r) {
            Some(reg::RING_TIMESTAMP) => low32(ticks(clock.now_ns(), self.ts_hz)),
            Some(reg::RING_TIMESTAMP_UDW) => low32(ticks(clock.now_ns(), self.ts_hz) >> 32),
            Some(reg::RING_CTX_TIMESTAMP) => self.ctx_timestamp(clock.now_ns()),
            _ => self.reg(r).unwrap_or(0),
        }
    }

    /// A command loads `val` into register `r`. The free-running timestamp ignores loads;
    /// the context timestamp counts on from the value loaded.
    fn write_reg(&mut self, r: u32, val: u32, clock: &dyn Clock) {
        match self.own(r) {
            Some(reg::RING_TIMESTAMP | reg::RING_TIMESTAMP_UDW) => {}
            Some(reg::RING_CTX_TIMESTAMP) => {
                self.ctx_ts = val;
                self.ctx_since = clock.now_ns();
            }
            _ => self.set_reg(r, val),
        }
    }

    /// 64-bit GPR `n` (0..16).
    fn gpr(&self, n: u32) -> u64 {
        let lo = self
            .id
            .base()
            .wrapping_add(reg::CS_GPR)
            .wrapping_add(n.wrapping_mul(8));
        u64::from(self.reg(lo).unwrap_or(0))
            | (u64::from(self.reg(lo.wrapping_add(4)).unwrap_or(0)) << 32)
    }

    fn set_gpr(&mut self, n: u32, v: u64) {
        let lo = self
            .id
            .base()
            .wrapping_add(reg::CS_GPR)
            .wrapping_add(n.wrapping_mul(8));
        self.set_reg(lo, low32(v));
        self.set_reg(lo.wrapping_add(4), low32(v >> 32));
    }

    /// An ALU operand: GPR 0..15, SRCA 0x20, SRCB 0x21, ACCU 0x31, ZF 0x32, CF 0x33
    /// (`MI_MATH_REG*`, gt/intel_gpu_commands.h); anything else reads 0.
    fn alu_get(&self, op: u32) -> u64 {
        let at = match op {
            0..=15 => return self.gpr(op),
            0x20 => 0,
            0x21 => 1,
            0x31 => 2,
            0x32 => 3,
            0x33 => 4,
            _ => return 0,
        };
        self.alu.get(at).copied().unwrap_or(0)
    }

    /// One `MI_MATH` ALU instruction: opcode bits 31:20, operands 19:10 and 9:0. Gen9 has
    /// LOAD/LOADINV/LOAD0/LOAD1 into SRCA/SRCB, ADD/SUB/AND/OR/XOR into ACCU with ZF and CF,
    /// STORE/STOREINV into a GPR (the `MI_MATH_*` set of gt/intel_gpu_commands.h; the shifts
    /// came with Gen12). Anything else does nothing.
    fn alu_op(&mut self, ins: u32) {
        let (op, a, b) = (ins >> 20, (ins >> 10) & 0x3ff, ins & 0x3ff);
        let flag = |f: bool| if f { u64::MAX } else { 0 };
        let load = |e: &mut Engine, v: u64| {
            if let Some(slot) = match a {
                0x20 => e.alu.get_mut(0),
                0x21 => e.alu.get_mut(1),
                _ => None,
            } {
                *slot = v;
            }
        };
        let (x, y) = (self.alu_get(0x20), self.alu_get(0x21));
        let result = match op {
            0x080 => return load(self, self.alu_get(b)),
            0x480 => return load(self, !self.alu_get(b)),
            0x081 => return load(self, 0),
            0x481 => return load(self, 1),
            0x180 | 0x580 => {
                let v = if op == 0x580 {
                    !self.alu_get(b)
                } else {
                    self.alu_get(b)
                };
                if a < 16 {
                    self.set_gpr(a, v);
                }
                return;
            }
            0x100 => x.overflowing_add(y),
            0x101 => x.overflowing_sub(y),
            0x102 => (x & y, false),
            0x103 => (x | y, false),
            0x104 => (x ^ y, false),
            _ => return,
        };
        self.alu = [x, y, result.0, flag(result.0 == 0), flag(result.1)];
    }

    /// Visits the `(register, value address)` pairs of the `MI_LOAD_REGISTER_IMM` list in
    /// the register state page at `state` (i915's layout, intel_lrc.c `set_offsets`: LRIs
    /// and `MI_NOOP`s up to `MI_BATCH_BUFFER_END` or anything else), with each value.
    fn state_list(
        mem: &mut dyn HostMemory,
        state: u64,
        mut f: impl FnMut(&mut dyn HostMemory, u32, u64, u32),
    ) {
        let mut buf = [0u8; STATE_CHUNK * 4];
        let (mut chunk_at, mut chunk_len) = (usize::MAX, 0usize);
        let mut dword = |mem: &mut dyn HostMemory, i: usize| -> Option<u32> {
            let base = i.wrapping_div(STATE_CHUNK).wrapping_mul(STATE_CHUNK);
            if base != chunk_at {
                let addr = state.checked_add(u64::try_from(base.checked_mul(4)?).ok()?)?;
                chunk_len = if mem.read(addr, &mut buf) {
                    STATE_CHUNK
                } else {
                    0
                };
                chunk_at = base;
            }
            let off = i.wrapping_sub(base);
            let b = buf
                .get(off.wrapping_mul(4)..off.wrapping_mul(4).wrapping_add(4))
                .filter(|_| off < chunk_len)?;
            <[u8; 4]>::try_from(b).ok().map(u32::from_le_bytes)
        };
        const PAGE_DWORDS: usize = u64_as_usize(GTT_PAGE_SIZE / 4);
        let mut i = 0usize;
        while i < PAGE_DWORDS {
            let Some(h) = dword(mem, i) else { return };
            if h == 0 {
                i = i.wrapping_add(1);
                continue;
            }
            if h & LRI_MASK != LRI {
                return;
            }
            let n = usize::try_from(h & 0xff).unwrap_or(0).wrapping_add(2);
            let mut k = 1usize;
            while k.wrapping_add(1) < n && i.wrapping_add(k).wrapping_add(1) < PAGE_DWORDS {
                let at = i.wrapping_add(k);
                let (Some(r), Some(v)) = (dword(mem, at), dword(mem, at.wrapping_add(1))) else {
                    return;
                };
                let value_at = state.wrapping_add(
                    u64::try_from(at.wrapping_add(1))
                        .unwrap_or(0)
                        .wrapping_mul(4),
                );
                f(mem, r & 0x7f_fffc, value_at, v);
                k = k.wrapping_add(2);
            }
            i = i.wrapping_add(n);
        }
    }

    /// A context starts: its registers are restored from the register state page at `state`
    /// unless its context control says restore-inhibit. An inhibited context starts its
    /// listed registers at zero (hardware would keep the previous context's; the sim lets no
    /// context see another's) and its timestamp at zero.
    pub fn restore_context(&mut self, mem: &mut dyn HostMemory, clock: &dyn Clock, state: u64) {
        let mut ctl = [0u8; 4];
        let at = state.wrapping_add(CTX_CONTEXT_CONTROL.wrapping_mul(4));
        let inhibit = mem.read(at, &mut ctl) && u32::from_le_bytes(ctl) & 1 != 0;
        self.ctx_ts = 0;
        self.ctx_since = clock.now_ns();
        for n in 0..16 {
            self.set_gpr(n, 0);
        }
        Self::state_list(mem, state, |_, r, _, v| {
            self.write_reg(r, if inhibit { 0 } else { v }, clock)
        });
    }

    /// A context completes: `CTX_TIMESTAMP` and the GPRs listed in its register state page at
    /// `state` are saved into it. (The other registers are not: what the device model needs
    /// of the image it keeps itself, and i915 reprograms the rest.)
    pub fn save_context(&self, mem: &mut dyn HostMemory, clock: &dyn Clock, state: u64) {
        let mut saves = [(0u64, 0u32); 48];
        let mut n = 0usize;
        Self::state_list(mem, state, |_, r, value_at, _| {
            let own = self.own(r);
            let saved = own == Some(reg::RING_CTX_TIMESTAMP)
                || own.is_some_and(|o| (reg::CS_GPR..reg::CS_GPR_END).contains(&o));
            if let Some(s) = saves.get_mut(n).filter(|_| saved) {
                *s = (value_at, self.read_reg(r, clock));
                n = n.wrapping_add(1);
            }
        });
        for &(at, v) in saves.iter().take(n) {
            mem.write(at, &v.to_le_bytes());
        }
    }

    /// Runs `ring` from `at` (a fresh [`Cursor::at`] its head, or where a sliced run stopped)
    /// to its tail, spending at most `budget` (one unit per command or semaphore poll), with
    /// `clock` as the GPU's time. PPGTT batches translate through the 4-level table at
    /// `ppgtt_root`.
    #[allow(clippy::too_many_arguments)]
    pub fn run(
        &mut self,
        mem: &mut dyn HostMemory,
        clock: &dyn Clock,
        ggtt: &[AtomicU64],
        ring: RingState,
        ppgtt_root: Option<u64>,
        at: Cursor,
        budget: u64,
    ) -> RunResult {
        let prefetch = Prefetch {
            start: Gma {
                addr: 0,
                space: Space::Phys,
            },
            len: 0,
            buf: [0; PREFETCH * 4],
        };
        let mut cx = Ctx {
            mem,
            clock,
            ggtt,
            ring,
            ppgtt_root,
            prefetch,
            deadline: match self.slice_ns {
                0 => u64::MAX,
                ns => clock.now_ns().saturating_add(ns),
            },
            next_clock: CLOCK_EVERY,
            tlb: None,
        };
        let head = match at.stack.first() {
            Some(Loc::Ring(off)) => *off,
            _ => ring.head,
        };
        let mut res = RunResult {
            outcome: Outcome::Completed,
            head,
            user_interrupts: 0,
            notifies: 0,
            spent: 0,
            cursor: at,
        };
        res.outcome = match self.exec(&mut cx, &mut res, budget) {
            Ok(()) => Outcome::Completed,
            Err(o) => o,
        };
        res
    }

    fn exec(&mut self, cx: &mut Ctx<'_>, res: &mut RunResult, budget: u64) -> Exec<()> {
        // The ring, then up to a first- and a second-level batch, each with its next command;
        // kept in `res.cursor` so a sliced run goes on from there.
        let size = cx.ring.size.max(4);
        loop {
            let depth = usize::from(res.cursor.depth);
            let loc = *res.cursor.stack.get(depth).ok_or(Outcome::BadNesting)?;
            if let Loc::Ring(off) = loc {
                res.head = off;
                if off == cx.ring.tail {
                    return Ok(());
                }
            }
            if cx.over(res.spent, budget) {
                return Err(Outcome::Sliced);
            }
            res.spent = res.spent.wrapping_add(1);
            let h = cx.fetch(loc, 0)?;
            let d = decode(self.id, h).ok_or(Outcome::BadCommand(h))?;
            let mut n = d.dwords(h).ok_or(Outcome::BadCommand(h))?;
            if h == 0 {
                // The MI_NOOPs after this one, as many as the budget allows: one unit each.
                let more = u64::from(cx.noops_after(loc)).min(budget.saturating_sub(res.spent));
                res.spent = res.spent.wrapping_add(more);
                n = n.wrapping_add(low32(more));
            }
            let bytes = n.wrapping_mul(4);
            let next = match loc {
                Loc::Ring(off) => Loc::Ring(ring_add(off, bytes, size)),
                Loc::Batch { addr, ppgtt } => Loc::Batch {
                    addr: addr.wrapping_add(u64::from(bytes)),
                    ppgtt,
                },
            };
            let priv_ok = !matches!(loc, Loc::Batch { ppgtt: true, .. });
            // Address operand at dwords lo, lo+1; GGTT only where the buffer is privileged.
            let gma = |cx: &mut Ctx<'_>, lo: u32, ggtt: bool, mask: u32| -> Exec<Gma> {
                let hi = cx.fetch(loc, lo.wrapping_add(1))? & 0xffff;
                let a = u64::from(cx.fetch(loc, lo)? & mask) | (u64::from(hi) << 32);
                Ok(Gma {
                    addr: a,
                    space: space(!(ggtt && priv_ok)),
                })
            };
            let stack = &mut res.cursor.stack;
            *stack.get_mut(depth).ok_or(Outcome::BadNesting)? = next;
            match d.check {
                Check::BatchStart => {
                    let target = gma(cx, 1, h & (1 << 8) == 0, !3)?;
                    let b = Loc::Batch {
                        addr: target.addr,
                        ppgtt: target.space == Space::Ppgtt,
                    };
                    let second = h & (1 << 22) != 0;
                    let mut into = depth;
                    if depth == 0 || (second && depth == 1) {
                        into = depth.wrapping_add(1);
                    } else if depth == 2 {
                        return Err(Outcome::BadNesting);
                    }
                    *res.cursor.stack.get_mut(into).ok_or(Outcome::BadNesting)? = b;
                    res.cursor.depth = u8::try_from(into).map_err(|_| Outcome::BadNesting)?;
                }
                Check::BatchEnd => {
                    res.cursor.depth = res
                        .cursor
                        .depth
                        .checked_sub(1)
                        .ok_or(Outcome::BadCommand(h))?;
                }
                Check::UserInterrupt => res.user_interrupts = res.user_interrupts.saturating_add(1),
                Check::StoreDataImm => {
                    let dst = gma(cx, 1, h & (1 << 22) != 0, !3)?;
                    let v0 = cx.fetch(loc, 3)?;
                    if h & (1 << 21) != 0 {
                        let v1 = cx.fetch(loc, 4)?;
                        cx.write(dst, &[v0, v1])?;
                    } else {
                        cx.write(dst, &[v0])?;
                    }
                }
                Check::StoreDataIndex => {
                    let off = cx.fetch(loc, 1)? & 0xffc;
                    let dst = Gma {
                        addr: self.hwsp.wrapping_add(u64::from(off)),
                        space: self.hwsp_space,
                    };
                    let v0 = cx.fetch(loc, 2)?;
                    if h & (1 << 21) != 0 {
                        let v1 = cx.fetch(loc, 3)?;
                        cx.write(dst, &[v0, v1])?;
                    } else {
                        cx.write(dst, &[v0])?;
                    }
                }
                Check::Lri => {
                    let clock = cx.clock;
                    let mut i = 1u32;
                    while i.wrapping_add(1) < n {
                        // The (offset, value) pairs the prefetched copy holds, at once; a pair
                        // across its end dword by dword.
                        let want = usize::try_from(n.wrapping_sub(i) & !1).unwrap_or(0);
                        let run = cx.fetch_run(loc, i, want)?;
                        let mut pairs = 0u32;
                        for p in run.chunks_exact(8) {
                            let (r, v) = p.split_at(4);
                            let (Ok(r), Ok(v)) = (<[u8; 4]>::try_from(r), <[u8; 4]>::try_from(v))
                            else {
                                break;
                            };
                            self.write_reg(
                                u32::from_le_bytes(r) & 0x7f_fffc,
                                u32::from_le_bytes(v),
                                clock,
                            );
                            pairs = pairs.wrapping_add(1);
                        }
                        if pairs == 0 {
                            let reg = cx.fetch(loc, i)? & 0x7f_fffc;
                            let val = cx.fetch(loc, i.wrapping_add(1))?;
                            self.write_reg(reg, val, cx.clock);
                            pairs = 1;
                        }
                        i = i.wrapping_add(pairs.wrapping_mul(2));
                    }
                }
                Check::FlushDw => {
                    if (h >> 14) & 3 == 1 {
                        let ggtt = cx.fetch(loc, 1)? & (1 << 2) != 0;
                        let mut dst = gma(cx, 1, ggtt, !7)?;
                        if h & (1 << 21) != 0 {
                            dst = Gma {
                                addr: self.hwsp.wrapping_add(dst.addr & 0xff8),
                                space: self.hwsp_space,
                            };
                        }
                        let v0 = cx.fetch(loc, 3)?;
                        if n >= 5 {
                            let v1 = cx.fetch(loc, 4)?;
                            cx.write(dst, &[v0, v1])?;
                        } else {
                            cx.write(dst, &[v0])?;
                        }
                    }
                    if h & (1 << 8) != 0 {
                        res.notifies = res.notifies.saturating_add(1);
                    }
                }
                Check::PipeControl => {
                    let flags = cx.fetch(loc, 1)?;
                    let post = (flags >> 14) & 3;
                    if flags & (1 << 23) != 0 {
                        let reg = cx.fetch(loc, 2)? & 0x7f_fffc;
                        let val = cx.fetch(loc, 4)?;
                        self.write_reg(reg, val, cx.clock);
                    } else if post != 0 {
                        let mut dst = gma(cx, 2, flags & (1 << 24) != 0, !7)?;
                        if flags & (1 << 21) != 0 {
                            dst = Gma {
                                addr: self.hwsp.wrapping_add(dst.addr & 0xff8),
                                space: self.hwsp_space,
                            };
                        }
                        let vals = match post {
                            1 => [cx.fetch(loc, 4)?, cx.fetch(loc, 5)?],
                            // The timestamp, as RING_TIMESTAMP counts it.
                            3 => {
                                let t = ticks(cx.clock.now_ns(), self.ts_hz);
                                [low32(t), low32(t >> 32)]
                            }
                            // Depth count: the model has no pixels; the budget spent.
                            _ => [low32(res.spent), low32(res.spent >> 32)],
                        };
                        cx.write(dst, &vals)?;
                    }
                    if flags & (1 << 8) != 0 {
                        res.notifies = res.notifies.saturating_add(1);
                    }
                }
                Check::SemaphoreWait => {
                    let want = cx.fetch(loc, 1)?;
                    let sem = gma(cx, 2, h & (1 << 22) != 0, !3)?;
                    loop {
                        let v = cx.read_dw(sem)?;
                        let ok = match (h >> 12) & 7 {
                            0 => v > want,
                            1 => v >= want,
                            2 => v < want,
                            3 => v <= want,
                            4 => v == want,
                            5 => v != want,
                            _ => return Err(Outcome::BadCommand(h)),
                        };
                        if ok {
                            break;
                        }
                        if cx.over(res.spent, budget) {
                            // Still waiting: the next slice polls again.
                            *res.cursor.stack.get_mut(depth).ok_or(Outcome::BadNesting)? = loc;
                            return Err(Outcome::Sliced);
                        }
                        res.spent = res.spent.wrapping_add(1);
                    }
                }
                Check::Srm => {
                    let reg = cx.fetch(loc, 1)? & 0x7f_fffc;
                    let dst = gma(cx, 2, h & (1 << 22) != 0, !3)?;
                    let v = self.read_reg(reg, cx.clock);
                    cx.write(dst, &[v])?;
                }
                Check::Lrm => {
                    let reg = cx.fetch(loc, 1)? & 0x7f_fffc;
                    let src = gma(cx, 2, h & (1 << 22) != 0, !3)?;
                    let v = cx.read_dw(src)?;
                    self.write_reg(reg, v, cx.clock);
                }
                Check::Lrr => {
                    let src = cx.fetch(loc, 1)? & 0x7f_fffc;
                    let dst = cx.fetch(loc, 2)? & 0x7f_fffc;
                    let v = self.read_reg(src, cx.clock);
                    self.write_reg(dst, v, cx.clock);
                }
                // MI_COPY_MEM_MEM: destination at dwords 1-2 (GGTT: bit 21), source at 3-4
                // (GGTT: bit 22).
                Check::Op2e => {
                    let dst = gma(cx, 1, h & (1 << 21) != 0, !3)?;
                    let src = gma(cx, 3, h & (1 << 22) != 0, !3)?;
                    let v = cx.read_dw(src)?;
                    cx.write(dst, &[v])?;
                }
                // MI_MATH: one ALU instruction per dword after the header.
                Check::None if d.ty == 0 && d.key == MI_MATH => {
                    for i in 1..n {
                        let ins = cx.fetch(loc, i)?;
                        self.alu_op(ins);
                    }
                }
                // Everything else (arbitration, 3D/media/blitter state, ...) has no effect here.
                _ => {}
            }
        }
    }
}

/// `off + bytes` in a ring of `size` bytes (not zero), wrapping at its end.
fn ring_add(off: u32, bytes: u32, size: u32) -> u32 {
    let sum = u64::from(off).wrapping_add(u64::from(bytes));
    sum.checked_rem(u64::from(size))
        .and_then(|v| u32::try_from(v).ok())
        .unwrap_or(0)
}

/// The space of a batch or operand address: PPGTT, or GGTT.
fn space(ppgtt: bool) -> Space {
    if ppgtt {
        Space::Ppgtt
    } else {
        Space::Ggtt
    }
}

/// The low 32 bits.
fn low32(v: u64) -> u32 {
    u32::try_from(v & 0xffff_ffff).unwrap_or(0)
}
