//! Execution in gvt.ko: the core's `Exec` driven by the guest's writes, the scheduler and the
//! host's completions.
//!
//! A guest's BAR0 write runs `Exec::kick` under its vGPU lock (ELSP submissions become queued
//! workloads) and wakes the GPU's worker. The worker, on the sim GPU's ordered workqueue, runs
//! what the host queue holds, completes each workload to its vGPU, then lets the scheduler
//! pick the owner of the engines, switches the render MMIO state to it and dispatches its
//! queued workloads; it loops until nothing is queued anywhere.
//!
//! Lock order: the device's `exec` lock (scheduler and the list of vGPUs), then a vGPU's lock,
//! then the host's leaf locks (queue, engines, grants). Completions take only the vGPU lock.

use core::ffi::c_void;

use kernel::prelude::*;
use kernel::time::Ktime;

use super::devices::{GvtDevice, Host};
use super::trace;
use super::vgpu::{VgpuHandle, VgpuState};
use crate::model::error::{GvtError, Result as ModelResult};
#[cfg(gvt_sim)]
use crate::model::host::Completion;
use crate::model::host::{HostExec, HostWorkload};
use crate::model::mmio_context::{MmioContext, Owner};
use crate::model::regs::Engine;
use crate::model::resources::MAX_VGPUS;
use crate::model::sched::Scheduler;
#[cfg(gvt_sim)]
use crate::sim::exec::Step;

/// Rounds one run of the worker makes before it yields the workqueue to others.
const ROUNDS: usize = 64;

/// A GPU's execution state: the policy, the render MMIO owner and its vGPUs.
pub(super) struct DevExec {
    sched: Scheduler,
    mmio: MmioContext,
    /// `VgpuHandle` addresses (0: free).
    vgpus: [usize; MAX_VGPUS],
}

impl DevExec {
    pub(super) fn new() -> DevExec {
        DevExec {
            sched: Scheduler::default(),
            mmio: MmioContext::default(),
            vgpus: [0; MAX_VGPUS],
        }
    }
}

/// GPU time the scheduler charged vGPU `id` (ns), and the weights of all of `dev`'s vGPUs.
pub(super) fn share(dev: &GvtDevice, id: u32) -> (u64, u32) {
    let ex = dev.exec.lock();
    (ex.sched.used(id), ex.sched.total_weight())
}

/// The host's execution services on behalf of one vGPU: submissions complete to it.
pub(super) struct Submitter<'a> {
    host: &'a Host,
    owner: usize,
}

impl<'a> Submitter<'a> {
    pub(super) fn new(dev: &'a GvtDevice, h: &VgpuHandle) -> Submitter<'a> {
        Submitter {
            host: &dev.host,
            owner: core::ptr::from_ref(h) as usize,
        }
    }
}

impl HostExec for Submitter<'_> {
    fn alloc_pages(&self, pages: u32) -> ModelResult<u64> {
        match self.host {
            #[cfg(gvt_sim)]
            Host::Sim(s) => s.alloc_pages(pages),
            #[cfg(gvt_i915)]
            Host::I915(g) => g.alloc_pages(pages),
        }
    }
    fn free_pages(&self, addr: u64, pages: u32) {
        match self.host {
            #[cfg(gvt_sim)]
            Host::Sim(s) => s.free_pages(addr, pages),
            #[cfg(gvt_i915)]
            Host::I915(g) => g.free_pages(addr, pages),
        }
    }
    fn write_mem(&self, addr: u64, data: &[u8]) -> ModelResult {
        match self.host {
            #[cfg(gvt_sim)]
            Host::Sim(s) => s.rw_own(addr, data.as_ptr().cast_mut(), data.len(), true),
            #[cfg(gvt_i915)]
            Host::I915(g) => g.rw(addr, data.as_ptr().cast_mut(), data.len(), true),
        }
    }
    fn read_mem(&self, addr: u64, buf: &mut [u8]) -> ModelResult {
        match self.host {
            #[cfg(gvt_sim)]
            Host::Sim(s) => s.rw_own(addr, buf.as_mut_ptr(), buf.len(), false),
            #[cfg(gvt_i915)]
            Host::I915(g) => g.rw(addr, buf.as_mut_ptr(), buf.len(), false),
        }
    }
    fn map_ggtt(&self, addr: u64, pages: u32) -> ModelResult<u64> {
        match self.host {
            #[cfg(gvt_sim)]
            Host::Sim(s) => s.map_ggtt(addr, pages),
            #[cfg(gvt_i915)]
            Host::I915(g) => g.map_ggtt(addr, pages),
        }
    }
    fn unmap_ggtt(&self, gm: u64, pages: u32) {
        match self.host {
            #[cfg(gvt_sim)]
            Host::Sim(s) => s.unmap_ggtt(gm, pages),
            #[cfg(gvt_i915)]
            Host::I915(g) => g.unmap_ggtt(gm, pages),
        }
    }
    fn mmio_read(&self, offset: u32) -> u32 {
        match self.host {
            #[cfg(gvt_sim)]
            Host::Sim(s) => s.mmio_read(offset),
            #[cfg(gvt_i915)]
            Host::I915(g) => g.mmio_read(offset),
        }
    }
    fn mmio_write(&self, offset: u32, value: u32) {
        match self.host {
            #[cfg(gvt_sim)]
            Host::Sim(s) => s.mmio_write(offset, value),
            #[cfg(gvt_i915)]
            Host::I915(g) => g.mmio_write(offset, value),
        }
    }
    fn submit(&self, w: &HostWorkload) -> ModelResult {
        let r = match self.host {
            #[cfg(gvt_sim)]
            Host::Sim(s) => s.push(self.owner, w),
            #[cfg(gvt_i915)]
            Host::I915(g) => g.submit(self.owner, w),
        };
        trace::workload_submit(w, &r);
        r
    }
}

/// Wakes the worker of `dev`.
pub(super) fn kick(dev: &GvtDevice) {
    match &dev.host {
        #[cfg(gvt_sim)]
        Host::Sim(s) => s.kick(),
        #[cfg(gvt_i915)]
        Host::I915(g) => g.kick(),
    }
}

/// Picks up what the guest's last write latched; wakes the worker if work was queued.
pub(super) fn after_write(dev: &GvtDevice, h: &VgpuHandle, st: &mut VgpuState) {
    let sub = Submitter::new(dev, h);
    // A refused submission puts the vGPU in failsafe; the guest's write itself succeeded.
    let mut scanner = trace::Scanner {
        inner: &mut st.scanner,
        id: st.vgpu.id().get(),
    };
    let _ = st.exec.kick(&mut st.vgpu, &sub, &mut h.mpt(), &mut scanner);
    if st.exec.has_queued() {
        kick(dev);
    }
    super::display::after_write(dev, h, st);
}

/// The vGPUs of `dev` now (`VgpuHandle` addresses, 0 for a free slot). A handle stays valid
/// after the lock is dropped only for the display clock, which `remove` waits for.
pub(super) fn vgpus(dev: &GvtDevice) -> [usize; MAX_VGPUS] {
    dev.exec.lock().vgpus
}

/// Adds a new vGPU to its GPU's scheduling.
pub(super) fn add(dev: &GvtDevice, h: &VgpuHandle, id: u32, weight: u32) -> Result {
    let mut ex = dev.exec.lock();
    let slot = ex.vgpus.iter().position(|&v| v == 0).ok_or(ENOSPC)?;
    ex.sched.add(id, weight).map_err(super::to_kernel_error)?;
    if let Some(v) = ex.vgpus.get_mut(slot) {
        *v = core::ptr::from_ref(h) as usize;
    }
    Ok(())
}

/// Takes a vGPU out of scheduling and out of the host: its queued workloads complete as
/// hangs, and a run of the worker that may still use it finishes before this returns.
pub(super) fn remove(dev: &GvtDevice, h: &VgpuHandle, id: u32) {
    let me = core::ptr::from_ref(h) as usize;
    {
        let mut ex = dev.exec.lock();
        for v in ex.vgpus.iter_mut().filter(|v| **v == me) {
            *v = 0;
        }
        ex.sched.remove(id);
    }
    // A display tick may still hold the handle it listed before.
    dev.clock.sync();
    let sub = Submitter::new(dev, h);
    match &dev.host {
        #[cfg(gvt_sim)]
        Host::Sim(s) => {
            // Orphaned, a job between slices is not queued again; one the worker holds now
            // is back in the queue (or done) once its run is over, hence a second pass.
            if let Some(st) = h.state.lock().as_deref_mut() {
                st.exec.reset(&sub, &mut h.mpt());
            }
            for _ in 0..2 {
                let purged = s.purge(me);
                s.flush();
                if let Some(st) = h.state.lock().as_deref_mut() {
                    for q in purged.iter().flatten() {
                        let w = &q.job.w;
                        let r = st.exec.complete(
                            &mut st.vgpu,
                            &sub,
                            &mut h.mpt(),
                            w.engine,
                            w.tag,
                            Completion::Hang,
                        );
                        trace::workload_complete(w.vgpu, w.engine, w.tag, true, &r);
                    }
                }
            }
        }
        // On hardware a request cannot be taken back: wait until the vGPU's requests finish
        // (or i915's hang handling cancels them) and their completions are delivered.
        #[cfg(gvt_i915)]
        Host::I915(g) => g.drain(me),
    }
    if let Some(st) = h.state.lock().as_deref_mut() {
        st.exec.reset(&sub, &mut h.mpt());
    }
}

/// The worker: runs the host queue and the scheduler until no vGPU has work.
///
/// # Safety
///
/// `data` is the `GvtDevice` that started the worker, alive until the worker is destroyed.
pub(super) unsafe extern "C" fn run_gpu(data: *mut c_void) {
    // SAFETY: per the contract.
    let dev = unsafe { &*data.cast::<GvtDevice>() };
    for _ in 0..ROUNDS {
        let done = run_host(dev);
        let sched = schedule(dev);
        if sched == Sched::Nothing && !worker_owes(dev) {
            return;
        }
        // A workload just dispatched runs in the next round, not after a sleep: that sleep
        // was most of a short request's time on the sim (ELSP to completion).
        rest(dev, done == 0 && sched != Sched::Dispatched);
    }
    kick(dev);
}

/// Runs every queued workload (a slice of each on the sim) and completes those that ended to
/// their vGPUs; returns how many ended.
fn run_host(dev: &GvtDevice) -> usize {
    let mut done = 0usize;
    match &dev.host {
        #[cfg(gvt_sim)]
        Host::Sim(s) => {
            // One slice of each job queued now: a job that goes on is queued behind them.
            let mark = s.mark();
            while let Some(q) = s.pop(mark) {
                // SAFETY: a queued workload's owner is a live handle: `remove` purges the queue
                // and waits for this worker before the handle is freed.
                let h = unsafe { &*(q.owner as *const VgpuHandle) };
                let w = q.job.w;
                let how = match s.execute(&h.grants, q.job) {
                    Step::Done(how) => how,
                    // Until the guest resets the engine (the core then orphans it) or its vGPU
                    // fails.
                    Step::Sliced(job) => {
                        let wanted = h.state.lock().as_deref_mut().is_some_and(|st| {
                            st.vgpu.failsafe().is_none() && st.exec.running(w.engine, w.tag)
                        });
                        if wanted && s.requeue(q.owner, job).is_ok() {
                            continue;
                        }
                        Completion::Hang
                    }
                };
                done = done.saturating_add(1);
                let sub = Submitter::new(dev, h);
                if let Some(st) = h.state.lock().as_deref_mut() {
                    let r =
                        st.exec
                            .complete(&mut st.vgpu, &sub, &mut h.mpt(), w.engine, w.tag, how);
                    trace::workload_complete(w.vgpu, w.engine, w.tag, how == Completion::Hang, &r);
                    if r.is_err() {
                        pr_debug!("vGPU {}: completion not delivered\n", w.vgpu);
                    }
                    st.report();
                }
            }
        }
        #[cfg(gvt_i915)]
        Host::I915(g) => {
            while let Some((q, how)) = g.take_done() {
                done = done.saturating_add(1);
                // SAFETY: a workload in flight belongs to a live handle: `remove` waits until
                // the vGPU has none before the handle is freed.
                let h = unsafe { &*(q.owner as *const VgpuHandle) };
                let sub = Submitter::new(dev, h);
                if let Some(st) = h.state.lock().as_deref_mut() {
                    let r = st.exec.complete(
                        &mut st.vgpu,
                        &sub,
                        &mut h.mpt(),
                        q.w.engine,
                        q.w.tag,
                        how,
                    );
                    trace::workload_complete(
                        q.w.vgpu,
                        q.w.engine,
                        q.w.tag,
                        how == crate::model::host::Completion::Hang,
                        &r,
                    );
                    if r.is_err() {
                        pr_debug!("vGPU {}: completion not delivered\n", q.w.vgpu);
                    }
                    st.report();
                }
            }
        }
    }
    done
}

/// Between two rounds of the worker (`idle`: the round completed nothing).
fn rest(dev: &GvtDevice, idle: bool) {
    match &dev.host {
        #[cfg(gvt_sim)]
        Host::Sim(s) => s.rest(idle),
        // i915's requests do not run on this worker.
        #[cfg(gvt_i915)]
        Host::I915(_) => {}
    }
}

/// Whether the host has work only the worker moves on: the sim's queue (jobs between their
/// slices among it). i915 completes its requests by itself and kicks the worker.
fn worker_owes(dev: &GvtDevice) -> bool {
    match &dev.host {
        #[cfg(gvt_sim)]
        Host::Sim(s) => !s.idle(),
        #[cfg(gvt_i915)]
        Host::I915(_) => false,
    }
}

/// Whether nothing waits for `dev`'s engines.
pub(super) fn idle(dev: &GvtDevice) -> bool {
    match &dev.host {
        #[cfg(gvt_sim)]
        Host::Sim(s) => s.idle(),
        #[cfg(gvt_i915)]
        Host::I915(g) => g.idle(),
    }
}

/// What one scheduling decision left the worker.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Sched {
    /// Nothing to run.
    Nothing,
    /// Work on the host's engines, none newly given to it.
    Waiting,
    /// A vGPU's workload went to the host.
    Dispatched,
}

/// One scheduling decision.
fn schedule(dev: &GvtDevice) -> Sched {
    let waiting = |idle: bool| if idle { Sched::Nothing } else { Sched::Waiting };
    let mut ex = dev.exec.lock();
    let mut busy = 0u64;
    let mut owner_of = [0usize; MAX_VGPUS];
    for &hp in ex.vgpus.iter().filter(|&&v| v != 0) {
        // SAFETY: listed handles are live: `remove` unlists them under this lock first.
        let h = unsafe { &*(hp as *const VgpuHandle) };
        if let Some(st) = h.state.lock().as_deref_mut() {
            let id = st.vgpu.id().get();
            if let Some(o) = usize::try_from(id)
                .ok()
                .and_then(|i| owner_of.get_mut(i.wrapping_sub(1)))
            {
                *o = hp;
            }
            if st.exec.has_queued() || st.exec.busy() != 0 {
                busy |= 1u64.checked_shl(id).unwrap_or(0);
            }
        }
    }
    if busy == 0 {
        return Sched::Nothing;
    }
    let now = u64::try_from(Ktime::ktime_get().to_ns()).unwrap_or(0);
    let is_busy = |id: u32| busy & 1u64.checked_shl(id).unwrap_or(0) != 0;
    let idle = idle(dev);
    let Some(o) = ex.sched.tick(now, &is_busy, idle) else {
        return Sched::Nothing;
    };
    if ex.sched.switch_pending() {
        return waiting(idle);
    }
    let Some(&hp) = usize::try_from(o)
        .ok()
        .and_then(|i| owner_of.get(i.wrapping_sub(1)))
        .filter(|&&v| v != 0)
    else {
        return Sched::Nothing;
    };
    // SAFETY: as above.
    let h = unsafe { &*(hp as *const VgpuHandle) };
    let sub = Submitter::new(dev, h);
    let mut guard = h.state.lock();
    let Some(st) = guard.as_deref_mut() else {
        return Sched::Nothing;
    };
    let traced = trace::render_mmio_enabled();
    for &e in &Engine::ALL {
        let vgpu = &st.vgpu;
        // One call site: a second instance of the switch's loop is compiled with an
        // overflow check (a panic path) the first one's inlining proves away.
        let from = if traced {
            ex.mmio.owner(e)
        } else {
            Owner::Host
        };
        let tracing = trace::SwitchHost {
            inner: &sub,
            from,
            to: Owner::Vgpu(o),
            engine: e,
        };
        let host: &dyn HostExec = if traced { &tracing } else { &sub };
        ex.mmio.switch(host, e, Owner::Vgpu(o), |r| vgpu.vreg(r));
    }
    let r = st.exec.dispatch(&mut st.vgpu, &sub, &mut h.mpt());
    st.report();
    match r {
        Ok(started) if started != 0 => Sched::Dispatched,
        Ok(_) | Err(GvtError::Busy) => waiting(idle),
        Err(_) => Sched::Nothing,
    }
}
