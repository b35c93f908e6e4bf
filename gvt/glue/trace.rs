//! gvt.ko's trace events: safe functions over the tracepoints of `gvt/glue/trace.h`.
//!
//! The 6.12 kernel crate has no tracepoints (nor static keys), so the events are C
//! (`TRACE_EVENT` in `trace.h`, created in `trace.c`), each fired through a tiny C function
//! that calls `trace_<event>()`. Disabled, an event costs that call and the tracepoint's
//! static branch; where gathering an event's fields costs more than that, the glue first asks
//! `*_enabled()` (also a static branch) and gathers nothing while it is off.
//!
//! Where each event's data comes from, without the core calling the kernel (it stays
//! sans-I/O and unchanged):
//! - what crosses the glue already: MMIO traps (`vgpu::access`), workload submission
//!   (`HostExec::submit` of the glue's `Submitter`) and completion (the worker), MSIs (the
//!   glue's `MptOps::inject_msi`);
//! - what the core asks of a trait the glue implements: the per-workload scan summary
//!   ([`Scanner`] wraps the `CommandScanner` the core calls) and the render MMIO switch's
//!   register writes ([`SwitchHost`] wraps the `HostExec` it writes through, only while
//!   `render_mmio` is on);
//! - what the core records or holds: the shadow PPGTT events, one per table, come from the
//!   record the core keeps while they are on (`ppgtt::log`), and `propagate_event` from the
//!   interrupt bits newly set in the vGPU's IIRs, both drawn in `VgpuState::report` after
//!   every trap, page-track write and workload event; `write_ir` reads the register before
//!   and after the guest's write. An interrupt bit set again while still pending is not seen.

use core::ffi::c_int;

use super::ffi;
use crate::model::batch::Copies;
use crate::model::error::Result as ModelResult;
use crate::model::host::{HostExec, HostWorkload};
use crate::model::mmio_context::Owner;
use crate::model::ppgtt::log::{SptEvent, SptEventKind};
use crate::model::regs::Engine;
use crate::model::workload::{
    CommandScanner, Exec, ExecStorage, GuestMem, ScanFailure, ScanReport,
};

/// The engine's number in events: its place in [`Engine::ALL`] (rcs, vcs, bcs, vecs).
fn engine_no(e: Engine) -> u32 {
    Engine::ALL
        .iter()
        .position(|&x| x == e)
        .and_then(|i| u32::try_from(i).ok())
        .unwrap_or(u32::MAX)
}

/// A result as events show it: 0 or a negative errno.
fn ret(r: &ModelResult) -> c_int {
    match r {
        Ok(()) => 0,
        Err(e) => -e.errno(),
    }
}

/// A guest BAR0 access: `bytes` as read back or written (little endian).
pub(super) fn mmio_trap(id: u32, offset: u64, bytes: &[u8], write: bool, ret: c_int) {
    let mut v = [0u8; 8];
    for (d, s) in v.iter_mut().zip(bytes) {
        *d = *s;
    }
    let len = u32::try_from(bytes.len()).unwrap_or(0);
    // SAFETY: plain values.
    unsafe { ffi::gvt_trace_mmio_trap(id, offset, len, write, u64::from_le_bytes(v), ret) };
}

/// A workload handed to the host.
pub(super) fn workload_submit(w: &HostWorkload, r: &ModelResult) {
    // SAFETY: plain values.
    unsafe {
        ffi::gvt_trace_workload_submit(
            w.vgpu,
            engine_no(w.engine),
            w.tag,
            w.context,
            w.ring,
            w.ring_len,
            ret(r),
        )
    };
}

/// A workload the host finished, delivered to its vGPU with result `r`.
pub(super) fn workload_complete(id: u32, engine: Engine, tag: u32, hang: bool, r: &ModelResult) {
    // SAFETY: plain values.
    unsafe { ffi::gvt_trace_workload_complete(id, engine_no(engine), tag, hang, ret(r)) };
}

/// An MSI injected through the backend.
pub(super) fn inject_msi(id: u32, addr: u64, data: u32, r: &ModelResult) {
    // SAFETY: plain values.
    unsafe { ffi::gvt_trace_inject_msi(id, addr, data, ret(r)) };
}

/// Whether `write_ir` is on.
pub(super) fn write_ir_enabled() -> bool {
    // SAFETY: no arguments.
    unsafe { ffi::gvt_trace_write_ir_enabled() }
}

/// A guest write of `written` to interrupt register `reg`, which held `old` and now `new`.
pub(super) fn write_ir(id: u32, reg: u32, written: u32, old: u32, new: u32) {
    // SAFETY: plain values.
    unsafe { ffi::gvt_trace_write_ir(id, reg, written, old, new) };
}

/// Whether the interrupt register at BAR0 `offset` is one `write_ir` reports.
pub(super) fn is_irq_reg(offset: u64) -> Option<u32> {
    let off = u32::try_from(offset).ok()?;
    let master = crate::model::regs::GEN8_MASTER_IRQ::OFFSET;
    (off == master || crate::model::irq::IrqGroup::of_reg(off).is_some_and(|_| off & 0xf != 0))
        .then_some(off)
}

/// Whether any of the events [`Seen`] reports is on.
pub(super) fn state_enabled() -> bool {
    // SAFETY: no arguments.
    unsafe { ffi::gvt_trace_state_enabled() }
}

/// What a vGPU's report draws events from: the core's record of shadow table events, and
/// the vGPU's interrupt registers as of its last report.
#[derive(Default)]
pub(super) struct Seen {
    /// The snapshot is current (tracing was on at the last report).
    on: bool,
    iir: [u32; 11],
}

impl Seen {
    /// Fires the shadow PPGTT events `exec` recorded since the last report and
    /// `propagate_event` for the interrupt bits set since then (`iir(offset)` reads the
    /// vGPU's register); `on` says whether the events are wanted ([`state_enabled`]). The
    /// first report after they were turned on only starts the record and takes the snapshot.
    pub(super) fn report<T: ExecStorage>(
        &mut self,
        on: bool,
        id: u32,
        exec: &mut Exec<T>,
        iir: impl Fn(u32) -> u32,
    ) {
        let fire = on && self.on;
        let dropped = exec.spt_events(on, |e| {
            if fire {
                spt(id, e);
            }
        });
        if fire && dropped != 0 {
            // SAFETY: plain values.
            unsafe { ffi::gvt_trace_spt_dropped(id, dropped) };
        }
        self.on = on;
        if !on {
            return;
        }
        let mut now = [0u32; 11];
        for (v, g) in now.iter_mut().zip(crate::model::irq::IrqGroup::ALL) {
            *v = iir(g.base().wrapping_add(8));
        }
        if fire {
            for ((&was, &is), g) in self
                .iir
                .iter()
                .zip(now.iter())
                .zip(crate::model::irq::IrqGroup::ALL)
            {
                let mut new = is & !was;
                while new != 0 {
                    let bit = new.trailing_zeros();
                    new &= new.wrapping_sub(1);
                    // SAFETY: plain values.
                    unsafe { ffi::gvt_trace_propagate_event(id, g.base().wrapping_add(8), bit) };
                }
            }
        }
        self.iir = now;
    }
}

/// One shadow table's event.
fn spt(id: u32, e: &SptEvent) {
    let f = match e.kind {
        SptEventKind::Alloc => ffi::gvt_trace_spt_alloc,
        SptEventKind::Free => ffi::gvt_trace_spt_free,
        SptEventKind::GuestWrite => ffi::gvt_trace_spt_guest_change,
        SptEventKind::Reread => ffi::gvt_trace_spt_change,
        SptEventKind::Unsync => ffi::gvt_trace_oos_change,
        SptEventKind::Resync => ffi::gvt_trace_oos_sync,
    };
    // SAFETY: plain values.
    unsafe { f(id, e.slot, u32::from(e.level), e.gfn, e.arg) };
}

/// The vGPU's command scanner, with a `gvt_command` event per scanned workload.
pub(super) struct Scanner<'a, S: CommandScanner> {
    pub(super) inner: &'a mut S,
    pub(super) id: u32,
}

impl<S: CommandScanner> CommandScanner for Scanner<'_, S> {
    fn scan(
        &mut self,
        engine: Engine,
        ring: &mut [u8],
        mem: &mut dyn GuestMem,
        batches: &mut Copies<'_>,
    ) -> Result<ScanReport, ScanFailure> {
        let bytes = u32::try_from(ring.len()).unwrap_or(u32::MAX);
        let r = self.inner.scan(engine, ring, mem, batches);
        let (result, irqs, stop, name, header, at) = match &r {
            Ok(rep) => (
                0,
                rep.user_interrupts,
                rep.stop_at.map_or(-1, i64::from),
                "",
                0,
                0,
            ),
            Err(ScanFailure::Refused(e)) => (1, 0, -1, e.command, e.header, e.at.offset),
            Err(ScanFailure::Error(e)) => (-e.errno(), 0, -1, "", 0, 0),
        };
        let len = u32::try_from(name.len()).unwrap_or(0);
        // SAFETY: `name` is readable for `len` bytes; the rest are plain values.
        unsafe {
            ffi::gvt_trace_gvt_command(
                self.id,
                engine_no(engine),
                bytes,
                result,
                irqs,
                stop,
                name.as_ptr(),
                len,
                header,
                at,
            )
        };
        r
    }
}

/// Whether `render_mmio` is on.
pub(super) fn render_mmio_enabled() -> bool {
    // SAFETY: no arguments.
    unsafe { ffi::gvt_trace_render_mmio_enabled() }
}

fn owner_no(o: Owner) -> u32 {
    match o {
        Owner::Host => 0,
        Owner::Vgpu(id) => id,
    }
}

/// The host as the render MMIO switch writes through it, with a `render_mmio` event per
/// register written.
pub(super) struct SwitchHost<'a> {
    pub(super) inner: &'a dyn HostExec,
    pub(super) from: Owner,
    pub(super) to: Owner,
    pub(super) engine: Engine,
}

impl HostExec for SwitchHost<'_> {
    fn alloc_pages(&self, pages: u32) -> ModelResult<u64> {
        self.inner.alloc_pages(pages)
    }
    fn free_pages(&self, addr: u64, pages: u32) {
        self.inner.free_pages(addr, pages)
    }
    fn write_mem(&self, addr: u64, data: &[u8]) -> ModelResult {
        self.inner.write_mem(addr, data)
    }
    fn read_mem(&self, addr: u64, buf: &mut [u8]) -> ModelResult {
        self.inner.read_mem(addr, buf)
    }
    fn map_ggtt(&self, addr: u64, pages: u32) -> ModelResult<u64> {
        self.inner.map_ggtt(addr, pages)
    }
    fn unmap_ggtt(&self, gm: u64, pages: u32) {
        self.inner.unmap_ggtt(gm, pages)
    }
    fn mmio_read(&self, offset: u32) -> u32 {
        self.inner.mmio_read(offset)
    }
    fn mmio_write(&self, offset: u32, value: u32) {
        self.inner.mmio_write(offset, value);
        // SAFETY: plain values.
        unsafe {
            ffi::gvt_trace_render_mmio(
                owner_no(self.from),
                owner_no(self.to),
                engine_no(self.engine),
                offset,
                value,
            )
        };
    }
    fn submit(&self, w: &HostWorkload) -> ModelResult {
        self.inner.submit(w)
    }
}

/// Turns `mmio_trap` on or off, for the KUnit bench.
#[cfg(gvt_kunit)]
pub(super) fn set_mmio_trap(on: bool) -> bool {
    // SAFETY: plain value; process context (a KUnit case).
    unsafe { ffi::gvt_trace_set_mmio_trap(on) == 0 }
}
