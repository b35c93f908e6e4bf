//! The guest i915's execution side on a vGPU, as memory and register operations: a 4-level
//! PPGTT in guest RAM, logical ring contexts with their rings and hardware status pages bound
//! in the GGTT, batch buffers, ELSP submission, and the CSB read back from the HWSP with its
//! interrupts. `no_std` and allocation-free like [`super::probe`], so gvt.ko's KUnit suite can
//! run it in the kernel.

use gvt::model::execlist::{
    csb, CTX_MODE_L4, CTX_PRIVILEGE, CTX_VALID, HWS_CSB_BUF0, HWS_CSB_WRITE_INDEX,
};
use gvt::model::ppgtt::{ADDR_MASK, PDE_IPS_64K, PTE_PRESENT, PTE_PS};
use gvt::model::regs::{
    masked_bit_disable, Engine, RING_CONTEXT_STATUS_BUF, RING_CONTEXT_STATUS_PTR, RING_ELSP,
    RING_EXECLIST_STATUS_LO, RING_HWS_PGA, RING_MI_MODE,
};
use gvt::model::vgpu::{GEN8_PAGE_PRESENT, GGTT_MMIO_OFFSET};
use gvt::model::workload::context_pages;

use super::guest::{Error, Result, Transport, TransportExt};

/// Bytes per page.
pub const PAGE: u64 = 4096;
/// PTE bits the guest uses for ordinary pages (present, writable).
pub const PTE_RW: u64 = PTE_PRESENT | 2;

/// The MI commands the guest model emits.
pub mod mi {
    /// No operation.
    pub const NOOP: u32 = 0;
    /// Raise the user interrupt.
    pub const USER_INTERRUPT: u32 = 0x02 << 23;
    /// End of a batch buffer.
    pub const BATCH_BUFFER_END: u32 = 0x0a << 23;
    /// Store one dword at a PPGTT address (4 dwords: header, address low, high, value).
    pub const STORE_DATA_IMM: u32 = (0x20 << 23) | 2;
    /// Start a PPGTT batch buffer (3 dwords: header, address low, high).
    pub const BATCH_BUFFER_START_PPGTT: u32 = (0x31 << 23) | (1 << 8) | 1;
    /// Start a privileged (GGTT) batch buffer.
    pub const BATCH_BUFFER_START_GGTT: u32 = (0x31 << 23) | 1;
    /// Call a second-level batch buffer from a first-level one (GGTT).
    pub const BATCH_BUFFER_CALL_GGTT: u32 = BATCH_BUFFER_START_GGTT | (1 << 22);
    /// Store one dword at a GGTT address (privileged buffers only).
    pub const STORE_DATA_IMM_GGTT: u32 = STORE_DATA_IMM | (1 << 22);
}

/// Guest RAM and graphics memory handed out page by page, never freed (a guest model does
/// not need more).
#[derive(Debug, Clone, Copy)]
pub struct Alloc {
    next_gpa: u64,
    end_gpa: u64,
    next_gm: u64,
    end_gm: u64,
}

impl Alloc {
    /// Pages from guest RAM `[gpa, gpa_end)` and graphics memory `[gm, gm_end)`.
    pub fn new(gpa: u64, gpa_end: u64, gm: u64, gm_end: u64) -> Alloc {
        Alloc {
            next_gpa: gpa,
            end_gpa: gpa_end,
            next_gm: gm,
            end_gm: gm_end,
        }
    }

    /// `n` contiguous zeroed pages of guest RAM.
    pub fn ram<T: Transport + ?Sized>(&mut self, t: &mut T, n: u64) -> Result<u64> {
        let at = self.next_gpa;
        let end = at
            .checked_add(n * PAGE)
            .filter(|&e| e <= self.end_gpa)
            .ok_or(Error::Probe("guest RAM exhausted"))?;
        // Small chunks: this also runs on a kernel stack.
        let zero = [0u8; 256];
        for off in (0..n * PAGE).step_by(zero.len()) {
            t.ram_write(at + off, &zero)?;
        }
        self.next_gpa = end;
        Ok(at)
    }

    /// `n` pages of RAM bound contiguously in the GGTT: (graphics address, guest address).
    pub fn bound<T: Transport + ?Sized>(&mut self, t: &mut T, n: u64) -> Result<(u64, u64)> {
        let gpa = self.ram(t, n)?;
        let gm = self.next_gm;
        self.next_gm = gm
            .checked_add(n * PAGE)
            .filter(|&e| e <= self.end_gm)
            .ok_or(Error::Probe("GM exhausted"))?;
        for p in 0..n {
            let pte = (gpa + p * PAGE) | GEN8_PAGE_PRESENT;
            t.mmio_write(GGTT_MMIO_OFFSET + (gm / PAGE + p) * 8, &pte.to_le_bytes())?;
        }
        Ok((gm, gpa))
    }
}

fn read64<T: Transport + ?Sized>(t: &mut T, gpa: u64) -> Result<u64> {
    let mut b = [0u8; 8];
    t.ram_read(gpa, &mut b)?;
    Ok(u64::from_le_bytes(b))
}

fn write32<T: Transport + ?Sized>(t: &mut T, gpa: u64, v: u32) -> Result {
    t.ram_write(gpa, &v.to_le_bytes())
}

fn read32<T: Transport + ?Sized>(t: &mut T, gpa: u64) -> Result<u32> {
    let mut b = [0u8; 4];
    t.ram_read(gpa, &mut b)?;
    Ok(u32::from_le_bytes(b))
}

/// A 4-level PPGTT in guest RAM.
#[derive(Debug, Clone, Copy)]
pub struct Ppgtt {
    /// Guest physical address of the PML4.
    pub pml4: u64,
}

fn index(gva: u64, level: u32) -> u64 {
    (gva >> (12 + 9 * (level - 1))) & 0x1ff
}

impl Ppgtt {
    /// An empty PPGTT.
    pub fn new<T: Transport + ?Sized>(t: &mut T, a: &mut Alloc) -> Result<Ppgtt> {
        Ok(Ppgtt { pml4: a.ram(t, 1)? })
    }

    /// The address of the entry for `gva` at `level` (1 = PTE), creating tables above it.
    pub fn entry_addr<T: Transport + ?Sized>(
        &self,
        t: &mut T,
        a: &mut Alloc,
        gva: u64,
        level: u32,
    ) -> Result<u64> {
        let mut table = self.pml4;
        for l in (level + 1..=4).rev() {
            let at = table + index(gva, l) * 8;
            let e = read64(t, at)?;
            table = if e & PTE_PRESENT != 0 {
                e & ADDR_MASK
            } else {
                let next = a.ram(t, 1)?;
                t.ram_write(at, &(next | PTE_RW).to_le_bytes())?;
                next
            };
        }
        Ok(table + index(gva, level) * 8)
    }

    /// Maps the 4 KiB page at `gva` to guest page `gpa` (one 8-byte PTE write).
    pub fn map<T: Transport + ?Sized>(
        &self,
        t: &mut T,
        a: &mut Alloc,
        gva: u64,
        gpa: u64,
    ) -> Result {
        let at = self.entry_addr(t, a, gva, 1)?;
        t.ram_write(at, &(gpa | PTE_RW).to_le_bytes())
    }

    /// Maps the 2 MiB page at `gva` to guest RAM at `gpa` (2 MiB aligned).
    pub fn map_2m<T: Transport + ?Sized>(
        &self,
        t: &mut T,
        a: &mut Alloc,
        gva: u64,
        gpa: u64,
    ) -> Result {
        let at = self.entry_addr(t, a, gva, 2)?;
        t.ram_write(at, &(gpa | PTE_RW | PTE_PS).to_le_bytes())
    }

    /// Maps the 2 MiB of `gva` with a page table of 64 KiB pages, the first one at `gpa`
    /// (64 KiB aligned); the rest of the table is empty.
    pub fn map_64k<T: Transport + ?Sized>(
        &self,
        t: &mut T,
        a: &mut Alloc,
        gva: u64,
        gpa: u64,
    ) -> Result {
        let pde = self.entry_addr(t, a, gva, 2)?;
        let pt = a.ram(t, 1)?;
        t.ram_write(
            pt + index(gva, 1) / 16 * 16 * 8,
            &(gpa | PTE_RW).to_le_bytes(),
        )?;
        t.ram_write(pde, &(pt | PTE_RW | PDE_IPS_64K).to_le_bytes())
    }
}

/// CSB entries on Gen9 (`GEN8_CSB_ENTRIES`, gt/intel_lrc_reg.h).
pub const CSB_ENTRIES: u32 = 6;
/// What i915's `reset_csb_pointers()` puts in both CSB pointers: the last entry
/// (`csb_size - 1`), so that the first event after a reset is read from entry 0.
pub const CSB_RESET_VALUE: u32 = CSB_ENTRIES - 1;

/// One engine as the guest drives it: its HWSP, where it has read the CSB to, and i915's
/// execlists bookkeeping (`struct intel_engine_execlists`): the contexts (by context id, i915's
/// `lrc.ccid`, the descriptor's upper dword) of the last ELSP write not yet acknowledged
/// (`pending[]`) and of the one the engine runs (`inflight[]`, from `active` on).
#[derive(Debug, Clone, Copy)]
pub struct GuestEngine {
    /// The engine.
    pub engine: Engine,
    /// HWSP graphics and guest address.
    pub hwsp: (u64, u64),
    /// Last CSB entry consumed (`execlists->csb_head`).
    pub csb_head: u32,
    /// Submitted, waiting for the CSB event that promotes them (`execlists->pending[]`).
    pub pending: [Option<u32>; 2],
    /// On the engine (`execlists->inflight[]`).
    pub inflight: [Option<u32>; 2],
    /// The first of `inflight` not completed (`execlists->active - execlists->inflight`).
    pub active: usize,
}

impl GuestEngine {
    /// Sets up the HWSP and resets the CSB pointers, as i915 does at engine init
    /// (`enable_execlists`, then `reset_csb_pointers` from `execlists_sanitize`).
    pub fn new<T: Transport + ?Sized>(
        t: &mut T,
        a: &mut Alloc,
        engine: Engine,
    ) -> Result<GuestEngine> {
        let hwsp = a.bound(t, 1)?;
        t.write32(RING_HWS_PGA::offset(engine.base()), hwsp.0 as u32)?;
        let mut g = GuestEngine {
            engine,
            hwsp,
            csb_head: CSB_RESET_VALUE,
            pending: [None; 2],
            inflight: [None; 2],
            active: 0,
        };
        g.reset_csb_pointers(t)?;
        Ok(g)
    }

    /// i915's `reset_csb_pointers()`: both pointers of RING_CONTEXT_STATUS_PTR set to the last
    /// entry (written twice, with a posting read), the head and the HWSP write index there
    /// too, and the HWSP entries poisoned with -1 so that a stale entry is noticed.
    pub fn reset_csb_pointers<T: Transport + ?Sized>(&mut self, t: &mut T) -> Result {
        let ptr = RING_CONTEXT_STATUS_PTR::offset(self.engine.base());
        let v = 0xffff_0000 | (CSB_RESET_VALUE << 8) | CSB_RESET_VALUE;
        t.write32(ptr, v)?;
        t.read32(ptr)?;
        self.csb_head = CSB_RESET_VALUE;
        write32(t, self.hwsp.1 + HWS_CSB_WRITE_INDEX * 4, CSB_RESET_VALUE)?;
        for i in 0..u64::from(CSB_ENTRIES) {
            t.ram_write(
                self.hwsp.1 + (HWS_CSB_BUF0 + i * 2) * 4,
                &u64::MAX.to_le_bytes(),
            )?;
        }
        t.write32(ptr, v)?;
        t.read32(ptr)?;
        Ok(())
    }

    /// The context the engine runs as i915 believes it (`*execlists->active`).
    pub fn active_ctx(&self) -> Option<u32> {
        self.inflight.get(self.active).copied().flatten()
    }

    /// Nothing submitted and nothing in flight.
    pub fn idle(&self) -> bool {
        self.pending[0].is_none() && self.active_ctx().is_none()
    }

    /// i915's submission tasklet (`execlists_submission_tasklet`): the CSB is processed
    /// ([`GuestEngine::poll`]), then, only if no submission is pending any more, one or two
    /// contexts of this engine go through ELSP (`execlists_dequeue`, `execlists_submit_ports`)
    /// and are remembered as pending. i915 does not write ELSP while `pending[0]` is set; it
    /// waits for the next CSB event, so here that is an error: the guest would stall.
    pub fn submit<T: Transport + ?Sized>(
        &mut self,
        t: &mut T,
        c0: &Context,
        c1: Option<&Context>,
    ) -> Result {
        let mut ev = [(0u32, 0u32); CSB_ENTRIES as usize];
        self.poll(t, &mut ev)?;
        if self.pending[0].is_some() {
            return Err(Error::Probe(
                "ELSP not written: the previous submission was never promoted by a CSB event",
            ));
        }
        if c0.engine != self.engine || c1.is_some_and(|c| c.engine != self.engine) {
            return Err(Error::Probe("context of another engine"));
        }
        self.pending = [Some(c0.id), c1.map(|c| c.id)];
        submit(t, c0, c1)
    }

    /// i915's `process_csb()` on Gen9: reads the CSB entries (status, context id) written since
    /// the last call from the HWSP (a -1 entry, one the engine has not written, is read from
    /// the registers instead, as `wa_csb_read` does, and every entry read is poisoned again).
    /// An IDLE_TO_ACTIVE or PREEMPTED event promotes the pending submission to inflight
    /// (`gen8_csb_parse`); any other event completes the active context. An event i915 cannot
    /// account for (a promotion with nothing pending, a completion with nothing in flight) is
    /// its `ERROR_CSB`, which resets the engine: an error here.
    pub fn poll<T: Transport + ?Sized>(
        &mut self,
        t: &mut T,
        out: &mut [(u32, u32)],
    ) -> Result<usize> {
        let wp = read32(t, self.hwsp.1 + HWS_CSB_WRITE_INDEX * 4)?;
        if wp >= CSB_ENTRIES {
            return Err(Error::Probe("CSB write index out of range"));
        }
        let mut n = 0;
        while self.csb_head != wp {
            self.csb_head = (self.csb_head + 1) % CSB_ENTRIES;
            let at = self.hwsp.1 + (HWS_CSB_BUF0 + u64::from(self.csb_head) * 2) * 4;
            let mut e = read64(t, at)?;
            if e == u64::MAX {
                let reg = RING_CONTEXT_STATUS_BUF::offset(self.engine.base()) + self.csb_head * 8;
                e = u64::from(t.read32(reg)?) | (u64::from(t.read32(reg + 4)?) << 32);
            }
            t.ram_write(at, &u64::MAX.to_le_bytes())?;
            let (status, id) = (e as u32, (e >> 32) as u32);
            let slot = out
                .get_mut(n)
                .ok_or(Error::Probe("more CSB entries than expected"))?;
            *slot = (status, id);
            n += 1;
            if status & (csb::IDLE_TO_ACTIVE | csb::PREEMPTED) != 0 {
                if self.pending[0].is_none() {
                    return Err(Error::Probe(
                        "ERROR_CSB: CSB promotion with nothing pending",
                    ));
                }
                self.inflight = self.pending;
                self.active = 0;
                self.pending = [None; 2];
            } else {
                if self.active_ctx().is_none() {
                    return Err(Error::Probe(
                        "ERROR_CSB: CSB completion with nothing in flight",
                    ));
                }
                self.active += 1;
            }
        }
        Ok(n)
    }

    /// `__intel_engine_reset_bh` with execlists for this engine (`domains`: its own mask), or
    /// this engine's part of the full `intel_gt_reset` (`domains`: every engine): stop the
    /// command streamer and read the running context's id from RING_EXECLIST_STATUS_HI
    /// (`execlists_reset_prepare`), reset (GDRST with the ready handshake), drain the CSB and
    /// reset its pointers (`reset_csb`), look the context up in the ports (`active_context`:
    /// the request found is the guilty one), cancel the ports and let the ring run again
    /// (`enable_execlists`). Returns the guilty context's id, if found.
    pub fn reset<T: Transport + ?Sized>(&mut self, t: &mut T, domains: u8) -> Result<Option<u32>> {
        let base = self.engine.base();
        super::probe::stop_cs(t, self.engine)?;
        let ccid = t.read32(RING_EXECLIST_STATUS_LO::offset(base) + 4)?;
        super::probe::intel_gt_reset(t, domains)?;
        let mut ev = [(0u32, 0u32); CSB_ENTRIES as usize];
        self.poll(t, &mut ev)?;
        self.reset_csb_pointers(t)?;
        let live = self
            .inflight
            .iter()
            .skip(self.active)
            .chain(self.pending.iter());
        let guilty = live.copied().flatten().find(|&c| c == ccid);
        self.pending = [None; 2];
        self.inflight = [None; 2];
        self.active = 0;
        t.write32(
            RING_MI_MODE::offset(base),
            masked_bit_disable(RING_MI_MODE::STOP_RING.mask()),
        )?;
        t.write32(RING_HWS_PGA::offset(base), self.hwsp.0 as u32)?;
        Ok(guilty)
    }
}

// Dword indices of the ring context (page 1 of the image).
const CTX_LRI_HEADER: u64 = 0x01;
const CTX_CONTEXT_CONTROL: u64 = 0x03;
const CTX_RING_HEAD: u64 = 0x05;
const CTX_RING_TAIL: u64 = 0x07;
const CTX_RING_START: u64 = 0x09;
const CTX_RING_CTL: u64 = 0x0b;
const CTX_PDP0_UDW: u64 = 0x31;
const CTX_PDP0_LDW: u64 = 0x33;

/// A logical ring context with its ring, on one engine and one PPGTT.
#[derive(Debug, Clone, Copy)]
pub struct Context {
    /// The engine.
    pub engine: Engine,
    /// The guest's context id.
    pub id: u32,
    /// Graphics address of the image.
    pub lrca: u64,
    /// Guest address of the register state page.
    pub regs: u64,
    /// Ring (graphics address, guest address, bytes).
    pub ring: (u64, u64, u32),
    /// Where the next command goes.
    pub tail: u32,
}

impl Context {
    /// A context with a `ring_pages` ring on `ppgtt`; `inhibit` makes its first load skip
    /// the image (restore inhibit), as i915 does for a new context.
    pub fn new<T: Transport + ?Sized>(
        t: &mut T,
        a: &mut Alloc,
        engine: Engine,
        id: u32,
        ppgtt: &Ppgtt,
        ring_pages: u32,
        inhibit: bool,
    ) -> Result<Context> {
        let (lrca, img) = a.bound(t, u64::from(context_pages(engine)))?;
        let ring = a.bound(t, u64::from(ring_pages))?;
        let regs = img + PAGE;
        let base = engine.base();
        let put = |t: &mut T, i: u64, reg: u32, v: u32| -> Result {
            write32(t, regs + (i - 1) * 4, base + reg)?;
            write32(t, regs + i * 4, v)
        };
        write32(
            t,
            regs + CTX_LRI_HEADER * 4,
            (0x22 << 23) | (1 << 12) | 0x1d,
        )?;
        let ctrl = if inhibit { 0x0001_0001 } else { 0x0001_0000 };
        put(t, CTX_CONTEXT_CONTROL, 0x244, ctrl)?;
        put(t, CTX_RING_HEAD, 0x34, 0)?;
        put(t, CTX_RING_TAIL, 0x30, 0)?;
        put(t, CTX_RING_START, 0x38, ring.0 as u32)?;
        put(t, CTX_RING_CTL, 0x3c, ((ring_pages - 1) << 12) | 1)?;
        put(t, CTX_PDP0_UDW, 0x274, (ppgtt.pml4 >> 32) as u32)?;
        put(t, CTX_PDP0_LDW, 0x270, ppgtt.pml4 as u32)?;
        Ok(Context {
            engine,
            id,
            lrca,
            regs,
            ring: (ring.0, ring.1, ring_pages * PAGE as u32),
            tail: 0,
        })
    }

    /// Appends commands to the ring (wrapping at its end).
    pub fn emit<T: Transport + ?Sized>(&mut self, t: &mut T, cmds: &[u32]) -> Result {
        for &c in cmds {
            write32(t, self.ring.1 + u64::from(self.tail), c)?;
            self.tail = (self.tail + 4) % self.ring.2;
        }
        Ok(())
    }

    /// Pads the ring to an 8-byte tail (the hardware's tail granularity) and publishes it in
    /// the context image.
    pub fn publish<T: Transport + ?Sized>(&mut self, t: &mut T) -> Result {
        if self.tail % 8 != 0 {
            self.emit(t, &[mi::NOOP])?;
        }
        write32(t, self.regs + CTX_RING_TAIL * 4, self.tail)
    }

    /// Points the image's ring head at `head`, as i915's `lrc_update_regs` does after a reset
    /// to replay from there (past a guilty request: its ring tail).
    pub fn rewind<T: Transport + ?Sized>(&mut self, t: &mut T, head: u32) -> Result {
        write32(t, self.regs + CTX_RING_HEAD * 4, head)
    }

    /// The context descriptor i915 writes to ELSP for it.
    pub fn desc(&self) -> u64 {
        (u64::from(self.id) << 32) | self.lrca | CTX_PRIVILEGE | (CTX_MODE_L4 << 3) | CTX_VALID
    }
}

/// Submits one or two contexts (same engine) through ELSP: four dword writes.
pub fn submit<T: Transport + ?Sized>(t: &mut T, c0: &Context, c1: Option<&Context>) -> Result {
    let elsp = RING_ELSP::offset(c0.engine.base());
    let d1 = c1.map_or(0, Context::desc);
    let d0 = c0.desc();
    for v in [(d1 >> 32) as u32, d1 as u32, (d0 >> 32) as u32, d0 as u32] {
        t.write32(elsp, v)?;
    }
    Ok(())
}

/// The commands of a batch that stores `value` at each of `gvas`, then ends.
pub fn store_batch(gvas: &[u64], value: u32, out: &mut [u32]) -> Result<usize> {
    let mut n = 0;
    for &gva in gvas {
        let cmd = [mi::STORE_DATA_IMM, gva as u32, (gva >> 32) as u32, value];
        out.get_mut(n..n + 4)
            .ok_or(Error::Probe("batch too long"))?
            .copy_from_slice(&cmd);
        n += 4;
    }
    *out.get_mut(n).ok_or(Error::Probe("batch too long"))? = mi::BATCH_BUFFER_END;
    Ok(n + 1)
}

/// GT interrupt registers (ISR base) of GT0, GT1 and GT3, and the bits i915 6.12 enables
/// there (`gen8_gt_irq_postinstall`): CS master error (3), user interrupt (0), context switch
/// (8) and wait semaphore (11), at RCS/BCS shifts 0/16, VCS0/VCS1 0/16, VECS 0.
const GT_IRQS: [(u32, u32); 3] = [
    (0x44300, 0x0909_0909),
    (0x44310, 0x0909_0909),
    (0x44330, 0x0000_0909),
];

/// Unmasks and enables the engines' interrupts as i915 does.
pub fn irq_setup<T: Transport + ?Sized>(t: &mut T) -> Result {
    for (base, bits) in GT_IRQS {
        t.write32(base + 0x4, !bits)?;
        t.write32(base + 0xc, bits)?;
    }
    Ok(())
}

/// Display identity registers `gen8_de_irq_handler` reads and clears: pipes A-C, the DE port
/// (AUX, hotplug), DE misc.
const DE_IIRS: [u32; 5] = [0x44408, 0x44418, 0x44428, 0x44448, 0x44468];

/// The interrupt handler's register part: with the master interrupt off, reads and clears the
/// GT identity registers (GT0, GT1, GT3, returned) and the display ones, as
/// `gen8_irq_handler` does. An identity bit left set would raise the interrupt again as soon
/// as the master is back on.
pub fn ack_gt<T: Transport + ?Sized>(t: &mut T) -> Result<[u32; 3]> {
    t.write32(0x44200, 0)?;
    let mut iir = [0u32; 3];
    for (slot, (base, _)) in iir.iter_mut().zip(GT_IRQS) {
        *slot = t.read32(base + 0x8)?;
        t.write32(base + 0x8, *slot)?;
    }
    for de in DE_IIRS {
        let v = t.read32(de)?;
        if v != 0 {
            t.write32(de, v)?;
        }
    }
    t.write32(0x44200, 1 << 31)?;
    Ok(iir)
}
