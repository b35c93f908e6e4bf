//! The guest's workload, the same at every rung: L0 ([`super::machine`]), L1 (gvt.ko's KUnit
//! suite, through the MPT ABI) and L2 (the VFIO and ACRN clients in QEMU).
//!
//! A guest with a render context on a 4-level PPGTT, [`DATA_PAGES`] data pages and a batch
//! buffer. Each round is one submission: a PPGTT batch storing a value into the data pages, a
//! store from the ring itself, and a user interrupt. [`Guest::round`] submits one and waits for
//! the engine to report it idle again, then checks that every value landed in guest RAM.
//! `no_std` and allocation-free, like [`super::probe`], so the kernel can run it.

use gvt::model::execlist::csb;
use gvt::model::pvinfo;
use gvt::model::regs::Engine;

use super::gpu::{mi, store_batch, Alloc, Context, GuestEngine, Ppgtt, PAGE, PTE_RW};
use super::guest::{Error, Result, Transport, TransportExt};

/// Graphics virtual address of the guest's data pages.
pub const DATA_GVA: u64 = 0x1_0000_0000;
/// Graphics virtual address of its batch buffer.
pub const BATCH_GVA: u64 = 0x2_0000_0000;
/// Data pages mapped at [`DATA_GVA`].
pub const DATA_PAGES: u64 = 8;
/// Graphics memory the guest's contexts and rings are bound in (from the start of its
/// non-mappable range).
const GM_BYTES: u64 = 64 << 20;
/// How many times [`Guest::round`] waits for an interrupt before it calls the GPU hung.
const WAITS: u32 = 2000;

/// The guest's execution side.
#[derive(Debug, Clone, Copy)]
pub struct Guest {
    /// Its page allocator.
    pub alloc: Alloc,
    /// Its PPGTT.
    pub ppgtt: Ppgtt,
    /// Its render engine.
    pub rcs: GuestEngine,
    /// Its context.
    pub ctx: Context,
    /// Guest page behind each data page.
    pub data: [u64; DATA_PAGES as usize],
    /// Guest page of the batch.
    pub batch: u64,
}

impl Guest {
    /// Sets up the guest's execution side on a probed vGPU, with pages from guest RAM
    /// `[ram_start, ram_end)`; `id` is its context id.
    pub fn new<T: Transport + ?Sized>(
        t: &mut T,
        ram_start: u64,
        ram_end: u64,
        id: u32,
    ) -> Result<Guest> {
        let gm = u64::from(t.read32(pvinfo::field::NONMAPPABLE_BASE)?);
        let mut alloc = Alloc::new(ram_start, ram_end, gm, gm + GM_BYTES);
        super::gpu::irq_setup(t)?;
        let ppgtt = Ppgtt::new(t, &mut alloc)?;
        let rcs = GuestEngine::new(t, &mut alloc, Engine::Rcs)?;
        let ctx = Context::new(t, &mut alloc, Engine::Rcs, id, &ppgtt, 4, true)?;
        let mut data = [0u64; DATA_PAGES as usize];
        for (p, slot) in (0u64..).zip(data.iter_mut()) {
            *slot = alloc.ram(t, 1)?;
            ppgtt.map(t, &mut alloc, DATA_GVA + p * PAGE, *slot)?;
        }
        let batch = alloc.ram(t, 1)?;
        ppgtt.map(t, &mut alloc, BATCH_GVA, batch)?;
        Ok(Guest {
            alloc,
            ppgtt,
            rcs,
            ctx,
            data,
            batch,
        })
    }

    /// Queues one workload: a batch storing `value` at `gvas`, a store of `value + 1` to
    /// `ring_gva` from the ring itself, and a user interrupt; then ELSP.
    pub fn submit<T: Transport + ?Sized>(
        &mut self,
        t: &mut T,
        gvas: &[u64],
        value: u32,
        ring_gva: u64,
    ) -> Result {
        let mut cmds = [0u32; 128];
        let n = store_batch(gvas, value, &mut cmds)?;
        for (i, c) in (0u64..).zip(cmds.get(..n).ok_or(Error::Probe("batch too long"))?) {
            t.ram_write(self.batch + i * 4, &c.to_le_bytes())?;
        }
        self.ctx.emit(
            t,
            &[
                mi::BATCH_BUFFER_START_PPGTT,
                BATCH_GVA as u32,
                (BATCH_GVA >> 32) as u32,
                mi::STORE_DATA_IMM,
                ring_gva as u32,
                (ring_gva >> 32) as u32,
                value.wrapping_add(1),
                mi::USER_INTERRUPT,
            ],
        )?;
        self.ctx.publish(t)?;
        self.rcs.submit(t, &self.ctx, None)
    }

    /// Moves data page `p` to a fresh guest page: one 8-byte PTE write in guest RAM, which the
    /// device model must honour before the next submission.
    pub fn remap<T: Transport + ?Sized>(&mut self, t: &mut T, p: usize) -> Result {
        let page = self.alloc.ram(t, 1)?;
        let gva = DATA_GVA + (p as u64) * PAGE;
        let pte = self.ppgtt.entry_addr(t, &mut self.alloc, gva, 1)?;
        t.ram_write(pte, &(page | PTE_RW).to_le_bytes())?;
        *self
            .data
            .get_mut(p)
            .ok_or(Error::Probe("no such data page"))? = page;
        Ok(())
    }

    /// One round, end to end: every eighth round first remaps a data page; `value` stored at
    /// offset `4 * (round % 511)` of every data page by the batch, `value + 1` at the next
    /// dword of data page 0 by the ring; waits for the CSB to report the context complete and
    /// the engine idle, then checks guest RAM.
    pub fn round<T: Transport + ?Sized>(&mut self, t: &mut T, round: u32, value: u32) -> Result {
        if round % 8 == 7 {
            self.remap(t, (round / 8) as usize % self.data.len())?;
        }
        let off = u64::from(round % 511) * 4;
        let mut gvas = [0u64; DATA_PAGES as usize];
        for (p, g) in (0u64..).zip(gvas.iter_mut()) {
            *g = DATA_GVA + p * PAGE + off;
        }
        self.submit(t, &gvas, value, DATA_GVA + off + 4)?;
        self.wait_idle(t)?;
        for &page in &self.data {
            let mut b = [0u8; 4];
            t.ram_read(page + off, &mut b)?;
            if u32::from_le_bytes(b) != value {
                return Err(Error::Probe("a batch store did not land"));
            }
        }
        let mut b = [0u8; 4];
        t.ram_read(self.data[0] + off + 4, &mut b)?;
        if u32::from_le_bytes(b) != value.wrapping_add(1) {
            return Err(Error::Probe("the ring store did not land"));
        }
        Ok(())
    }

    /// Binds `pages` zeroed pages of guest RAM in the GGTT, for a privileged batch or the
    /// memory one writes: (graphics address, guest address).
    pub fn bind<T: Transport + ?Sized>(&mut self, t: &mut T, pages: u64) -> Result<(u64, u64)> {
        self.alloc.bound(t, pages)
    }

    /// Queues a privileged workload, as i915 runs its golden render state: a GGTT batch storing
    /// `value` at the start of `data` (GGTT) then ending, started from the ring with a user
    /// interrupt after it. `batch` and `data` are pages from [`Guest::bind`].
    pub fn submit_privileged<T: Transport + ?Sized>(
        &mut self,
        t: &mut T,
        batch: (u64, u64),
        data: (u64, u64),
        value: u32,
    ) -> Result {
        let cmds = [
            mi::STORE_DATA_IMM_GGTT,
            data.0 as u32,
            (data.0 >> 32) as u32,
            value,
            mi::BATCH_BUFFER_END,
        ];
        for (i, c) in (0u64..).zip(cmds) {
            t.ram_write(batch.1 + i * 4, &c.to_le_bytes())?;
        }
        self.ctx.emit(
            t,
            &[
                mi::BATCH_BUFFER_START_GGTT,
                batch.0 as u32,
                (batch.0 >> 32) as u32,
                mi::USER_INTERRUPT,
            ],
        )?;
        self.ctx.publish(t)?;
        self.rcs.submit(t, &self.ctx, None)
    }

    /// One privileged round end to end: [`Guest::submit_privileged`], then waits for the
    /// completion and checks the value in guest RAM.
    pub fn privileged_round<T: Transport + ?Sized>(
        &mut self,
        t: &mut T,
        batch: (u64, u64),
        data: (u64, u64),
        value: u32,
    ) -> Result {
        self.submit_privileged(t, batch, data, value)?;
        self.wait_idle(t)?;
        let mut b = [0u8; 4];
        t.ram_read(data.1, &mut b)?;
        if u32::from_le_bytes(b) != value {
            return Err(Error::Probe("the privileged batch's store did not land"));
        }
        Ok(())
    }

    /// Waits (on interrupts) until the CSB reports the engine idle with the context complete,
    /// consuming the events as i915 does ([`GuestEngine::poll`]).
    pub fn wait_idle<T: Transport + ?Sized>(&mut self, t: &mut T) -> Result {
        let mut ev = [(0u32, 0u32); 6];
        for _ in 0..WAITS {
            let n = self.rcs.poll(t, &mut ev)?;
            for &(status, id) in ev.get(..n).unwrap_or(&[]) {
                if status & csb::ACTIVE_TO_IDLE != 0 && status & csb::COMPLETE != 0 {
                    return if id == self.ctx.id {
                        Ok(())
                    } else {
                        Err(Error::Probe("another context completed"))
                    };
                }
            }
            if t.wait_msi().is_some() {
                super::gpu::ack_gt(t)?;
            }
        }
        Err(Error::Probe("no completion: the workload hung"))
    }
}
