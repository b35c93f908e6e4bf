//! `sim` engines: the command streamers of the software Gen9 GPU.
//!
//! A guest driver only completes a workload when its commands have visible effects: the
//! breadcrumb it polls, the interrupt it waits for, the ring head it reads back. An [`Engine`]
//! executes the subset of MI and `PIPE_CONTROL` commands a driver relies on for that, through
//! the GGTT and a 4-level PPGTT, and skips every other valid command by its length (3D, media,
//! blitter state has no effect on the model). Lengths and engine validity come from the command
//! scanner's descriptor table, so the sim and the scanner agree on what a command stream is.
//!
//! Execution is bounded: every command, and every poll of a semaphore, spends one unit of the
//! caller's budget, so a loop or an unsatisfied wait ends as [`Outcome::Hang`], never as a host
//! stall. Untranslatable addresses end as [`Outcome::Fault`].
//!
//! Like a command streamer, an engine prefetches: commands are read from a copy of up to
//! [`PREFETCH`] dwords (never past a page) taken with one memory access, and the last PPGTT
//! translation is kept, so a command costs no page walk and no memory access of its own. Both
//! live for one run and are dropped whenever the engine writes memory, which may be the
//! commands ahead or a page table; a run of `MI_NOOP`s in the copy is spent in one step. What
//! a run does is exactly what fetching every dword through a fresh walk would do.
//!
//! Interface for the sim host: [`Engine::run`] over a [`HostMemory`] (the sim's memory by DMA
//! address: a page map in tests, real pages in gvt.ko), the host GGTT entries (DMA address in
//! bits 12 and up, present bit 0, as `vgpu::ggtt` writes them) and a [`RingState`], with an
//! optional PML4 address for PPGTT batches.

use core::sync::atomic::{AtomicU64, Ordering};

use crate::model::cmd_scanner::{decode, Check};
use crate::model::ppgtt::ADDR_MASK as PPGTT_ADDR_MASK;
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
    fn read(&self, addr: u64, buf: &mut [u8]) -> bool;
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
    /// The budget ran out: a loop, or a semaphore that never came true.
    Hang,
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
}

/// Registers an engine keeps from `MI_LOAD_REGISTER_IMM` (distinct offsets).
pub const MAX_REGS: usize = 64;

/// Command dwords an engine reads ahead at once (fewer at the end of a page).
pub const PREFETCH: usize = 128;

/// Slots of the register file's index: twice [`MAX_REGS`], so lookups probe about once.
const REG_SLOTS: usize = 2 * MAX_REGS;

/// One engine: which one it is, its status page and the registers commands loaded, found
/// through a hash index (a restore-inhibit prefix alone loads ~120 registers per workload).
pub struct Engine {
    id: EngineId,
    hwsp: u64,
    hwsp_space: Space,
    regs: [(u32, u32); MAX_REGS],
    nregs: usize,
    /// Open addressing over register offsets: position in `regs` plus one, 0 for empty.
    index: [u8; REG_SLOTS],
}

/// Where commands are fetched from.
#[derive(Clone, Copy)]
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
        Outcome::Fault { addr: self.addr, ppgtt: self.space == Space::Ppgtt }
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
    #[allow(dead_code)] // read by the timestamp registers
    clock: &'a dyn Clock,
    ggtt: &'a [AtomicU64],
    ring: RingState,
    ppgtt_root: Option<u64>,
    prefetch: Prefetch,
    /// The last PPGTT translation: graphics page and the host page behind it.
    tlb: Option<(u64, u64)>,
}

type Exec<T> = Result<T, Outcome>;

impl Ctx<'_> {
    fn translate(&mut self, g: Gma) -> Exec<u64> {
        let fault = g.fault();
        if g.space == Space::Phys {
            return Ok(g.addr);
        }
        if g.space == Space::Ggtt {
            let e = usize::try_from(g.addr / GTT_PAGE_SIZE).ok().and_then(|i| self.ggtt.get(i)).ok_or(fault)?;
            let pte = e.load(Ordering::Acquire);
            if pte & GEN8_PAGE_PRESENT == 0 {
                return Err(fault);
            }
            return Ok((pte & GTT_ADDR_MASK) | (g.addr & (GTT_PAGE_SIZE - 1)));
        }
        let page = g.addr / GTT_PAGE_SIZE;
        let in_page = g.addr & (GTT_PAGE_SIZE - 1);
        if let Some((_, host)) = self.tlb.filter(|t| t.0 == page) {
            return Ok(host | in_page);
        }
        let pa = self.walk(g)?;
        self.tlb = Some((page, pa & !(GTT_PAGE_SIZE - 1)));
        Ok(pa)
    }

    /// Translates a PPGTT address through the tables in memory.
    fn walk(&self, g: Gma) -> Exec<u64> {
        let fault = g.fault();
        if g.addr >> 48 != 0 {
            return Err(fault);
        }
        let mut table = self.ppgtt_root.ok_or(fault)?;
        // PML4 (bits 47:39), PDP (38:30), PD (29:21), PT (20:12).
        for (level, shift) in [(4u8, 39u32), (3, 30), (2, 21), (1, 12)] {
            let index = (g.addr >> shift) & 0x1ff;
            let mut b = [0u8; 8];
            if !self.mem.read(table.wrapping_add(index.wrapping_mul(8)), &mut b) {
                return Err(fault);
            }
            let pte = u64::from_le_bytes(b);
            if pte & GEN8_PAGE_PRESENT == 0 {
                return Err(fault);
            }
            let large = pte & (1 << 7) != 0;
            match (level, large) {
                (3, true) => return Err(fault), // 1 GiB pages: not supported, as upstream
                (2, true) => {
                    let base = pte & PPGTT_ADDR_MASK & !((1 << 21) - 1);
                    return Ok(base | (g.addr & ((1 << 21) - 1)));
                }
                (1, _) => return Ok((pte & PPGTT_ADDR_MASK) | (g.addr & (GTT_PAGE_SIZE - 1))),
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
        let pa = self.translate(g)?;
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
        let to_end = usize::try_from(GTT_PAGE_SIZE.wrapping_sub(g.addr & (GTT_PAGE_SIZE - 1))).unwrap_or(0);
        let n = (to_end & !3).clamp(4, PREFETCH * 4);
        let len = if self.prefetch.buf.get_mut(..n).is_some_and(|b| self.mem.read(pa, b)) {
            n
        } else if self.prefetch.buf.get_mut(..4).is_some_and(|b| self.mem.read(pa, b)) {
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
            self.write_dw(Gma { addr: g.addr.wrapping_add(i.wrapping_mul(4)), space: g.space }, v)?;
        }
        Ok(())
    }

    /// Where dword `i` of the command at `loc` is.
    fn locate(&self, loc: Loc, i: u32) -> Gma {
        match loc {
            Loc::Ring(off) => {
                let o = ring_add(off, i.wrapping_mul(4), self.ring.size.max(4));
                Gma { addr: self.ring.start.wrapping_add(u64::from(o)), space: self.ring.space }
            }
            Loc::Batch { addr, ppgtt } => Gma { addr: addr.wrapping_add(u64::from(i).wrapping_mul(4)), space: space(ppgtt) },
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
        let mut end = self.prefetch.len.min(off.saturating_add(max.saturating_mul(4)));
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
        let Some(off) = self.prefetch.offset(self.locate(loc, 0)) else { return 0 };
        let zeros = u32::try_from(self.prefetch.zeros(off.wrapping_add(4))).unwrap_or(0);
        match loc {
            Loc::Batch { .. } => zeros,
            Loc::Ring(at) => {
                let size = self.ring.size.max(4);
                let limit = if self.ring.tail > at { self.ring.tail.min(size) } else { size };
                zeros.min(limit.saturating_sub(at).saturating_sub(4) / 4)
            }
        }
    }
}

impl Engine {
    /// An engine whose status page (for `MI_STORE_DWORD_INDEX` and index-mode post-syncs) is
    /// the GGTT page at `hwsp`.
    pub fn new(id: EngineId, hwsp: u64) -> Engine {
        Engine { id, hwsp, hwsp_space: Space::Ggtt, regs: [(0, 0); MAX_REGS], nregs: 0, index: [0; REG_SLOTS] }
    }

    /// Moves the status page (a new context) to `hwsp` in `space`.
    pub fn set_hwsp(&mut self, hwsp: u64, space: Space) {
        self.hwsp = hwsp;
        self.hwsp_space = space;
    }

    /// Where register `reg` is in the register file, or the empty index slot it would take.
    fn find_reg(&self, reg: u32) -> core::result::Result<usize, usize> {
        let mut slot = ((reg >> 2).wrapping_mul(0x9e37_79b1) >> 25) as usize % REG_SLOTS;
        // The index is never full (MAX_REGS of REG_SLOTS), so an empty slot ends the probe.
        for _ in 0..REG_SLOTS {
            let at = usize::from(self.index.get(slot).copied().unwrap_or(0));
            let Some(pos) = at.checked_sub(1) else { return Err(slot) };
            if self.regs.get(pos).is_some_and(|r| r.0 == reg) {
                return Ok(pos);
            }
            slot = slot.wrapping_add(1) % REG_SLOTS;
        }
        Err(REG_SLOTS)
    }

    /// The value a command last loaded into register `reg`, if any.
    pub fn reg(&self, reg: u32) -> Option<u32> {
        self.find_reg(reg).ok().and_then(|i| self.regs.get(i)).map(|r| r.1)
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
                if let (Some(r), Some(s), Ok(at)) = (self.regs.get_mut(pos), self.index.get_mut(slot), u8::try_from(pos.wrapping_add(1))) {
                    *r = (reg, val);
                    *s = at;
                    self.nregs = pos.wrapping_add(1);
                }
            }
        }
    }

    /// Runs `ring` from head to tail, spending at most `budget` (one unit per command or
    /// semaphore poll), with `clock` as the GPU's time. PPGTT batches translate through the
    /// 4-level table at `ppgtt_root`.
    pub fn run(
        &mut self,
        mem: &mut dyn HostMemory,
        clock: &dyn Clock,
        ggtt: &[AtomicU64],
        ring: RingState,
        ppgtt_root: Option<u64>,
        budget: u64,
    ) -> RunResult {
        let prefetch = Prefetch { start: Gma { addr: 0, space: Space::Phys }, len: 0, buf: [0; PREFETCH * 4] };
        let mut cx = Ctx { mem, clock, ggtt, ring, ppgtt_root, prefetch, tlb: None };
        let mut res = RunResult { outcome: Outcome::Completed, head: ring.head, user_interrupts: 0, notifies: 0, spent: 0 };
        res.outcome = match self.exec(&mut cx, &mut res, budget) {
            Ok(()) => Outcome::Completed,
            Err(o) => o,
        };
        res
    }

    fn exec(&mut self, cx: &mut Ctx<'_>, res: &mut RunResult, budget: u64) -> Exec<()> {
        // The ring, then up to a first- and a second-level batch, each with its next command.
        let mut stack = [Loc::Ring(res.head); 3];
        let mut depth = 0usize;
        let size = cx.ring.size.max(4);
        loop {
            let loc = *stack.get(depth).ok_or(Outcome::BadNesting)?;
            if let Loc::Ring(off) = loc {
                res.head = off;
                if off == cx.ring.tail {
                    return Ok(());
                }
            }
            if res.spent >= budget {
                return Err(Outcome::Hang);
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
                Loc::Batch { addr, ppgtt } => Loc::Batch { addr: addr.wrapping_add(u64::from(bytes)), ppgtt },
            };
            let priv_ok = !matches!(loc, Loc::Batch { ppgtt: true, .. });
            // Address operand at dwords lo, lo+1; GGTT only where the buffer is privileged.
            let gma = |cx: &mut Ctx<'_>, lo: u32, ggtt: bool, mask: u32| -> Exec<Gma> {
                let hi = cx.fetch(loc, lo.wrapping_add(1))? & 0xffff;
                let a = u64::from(cx.fetch(loc, lo)? & mask) | (u64::from(hi) << 32);
                Ok(Gma { addr: a, space: space(!(ggtt && priv_ok)) })
            };
            let slot = stack.get_mut(depth).ok_or(Outcome::BadNesting)?;
            *slot = next;
            match d.check {
                Check::BatchStart => {
                    let target = gma(cx, 1, h & (1 << 8) == 0, !3)?;
                    let b = Loc::Batch { addr: target.addr, ppgtt: target.space == Space::Ppgtt };
                    let second = h & (1 << 22) != 0;
                    if depth == 0 || (second && depth == 1) {
                        depth = depth.wrapping_add(1);
                    } else if depth == 2 {
                        return Err(Outcome::BadNesting);
                    }
                    *stack.get_mut(depth).ok_or(Outcome::BadNesting)? = b;
                }
                Check::BatchEnd => {
                    depth = depth.checked_sub(1).ok_or(Outcome::BadCommand(h))?;
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
                    let dst = Gma { addr: self.hwsp.wrapping_add(u64::from(off)), space: self.hwsp_space };
                    let v0 = cx.fetch(loc, 2)?;
                    if h & (1 << 21) != 0 {
                        let v1 = cx.fetch(loc, 3)?;
                        cx.write(dst, &[v0, v1])?;
                    } else {
                        cx.write(dst, &[v0])?;
                    }
                }
                Check::Lri => {
                    let mut i = 1u32;
                    while i.wrapping_add(1) < n {
                        // The (offset, value) pairs the prefetched copy holds, at once; a pair
                        // across its end dword by dword.
                        let want = usize::try_from(n.wrapping_sub(i) & !1).unwrap_or(0);
                        let run = cx.fetch_run(loc, i, want)?;
                        let mut pairs = 0u32;
                        for p in run.chunks_exact(8) {
                            let (r, v) = p.split_at(4);
                            let (Ok(r), Ok(v)) = (<[u8; 4]>::try_from(r), <[u8; 4]>::try_from(v)) else { break };
                            self.set_reg(u32::from_le_bytes(r) & 0x7f_fffc, u32::from_le_bytes(v));
                            pairs = pairs.wrapping_add(1);
                        }
                        if pairs == 0 {
                            let reg = cx.fetch(loc, i)? & 0x7f_fffc;
                            let val = cx.fetch(loc, i.wrapping_add(1))?;
                            self.set_reg(reg, val);
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
                            dst = Gma { addr: self.hwsp.wrapping_add(dst.addr & 0xff8), space: self.hwsp_space };
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
                        self.set_reg(reg, val);
                    } else if post != 0 {
                        let mut dst = gma(cx, 2, flags & (1 << 24) != 0, !7)?;
                        if flags & (1 << 21) != 0 {
                            dst = Gma { addr: self.hwsp.wrapping_add(dst.addr & 0xff8), space: self.hwsp_space };
                        }
                        let vals = match post {
                            1 => [cx.fetch(loc, 4)?, cx.fetch(loc, 5)?],
                            // Depth count and timestamp: the model's clock is the budget spent.
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
                        if res.spent >= budget {
                            return Err(Outcome::Hang);
                        }
                        res.spent = res.spent.wrapping_add(1);
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
    sum.checked_rem(u64::from(size)).and_then(|v| u32::try_from(v).ok()).unwrap_or(0)
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
