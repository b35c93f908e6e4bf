//! The sim GPU in gvt.ko: its memory, its engines, and the ordered workqueue they run on.
//!
//! The sans-I/O sim (`crate::sim`) models the GGTT and executes command streams; this adds
//! what needs the kernel. Host memory for shadow tables, contexts and rings is real pages,
//! named by physical address, which is also what a backend's DMA mapping of a guest page
//! returns without an IOMMU. Every access the engines make is checked against [`Grants`], so
//! the sim can only reach its own pages and the pages backends granted for the running
//! vGPU. Shadows of privileged batches are the sim's own pages mapped into the host's GGTT
//! reserve. Submissions are queued and run on the workqueue, outside the submitter's vGPU lock,
//! and their completions go back to the core from there (`super::exec`).

use core::ffi::c_void;
use core::ptr;
use core::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, Ordering};

use kernel::{
    new_mutex,
    prelude::*,
    sync::{
        lock::{mutex::MutexBackend, Guard},
        Mutex,
    },
};

use super::ffi;
use super::grants::Grants;
use super::vbuf::VBuf;
use crate::model::error::{GvtError, Result as ModelResult};
use crate::model::host::{Completion, HostInfo, HostWorkload, MMIO_DWORDS};
use crate::model::regs::Engine as EngineId;
use crate::sim::engine::{Clock, Engine, HostMemory};
use crate::sim::exec::{Job, Step, SLICE_BUDGET, SLICE_NS};
use crate::sim::SimHost;

/// Workloads waiting for the engines, all vGPUs together. The core keeps at most one per
/// engine of the scheduled vGPU on the host, so this is ample.
pub(super) const QUEUE: usize = 16;
const PAGE: u64 = 4096;

/// A queued workload (new, or between slices) and the vGPU (its `VgpuHandle` address) it
/// completes to.
#[derive(Clone, Copy)]
pub(super) struct Queued {
    pub(super) seq: u64,
    pub(super) owner: usize,
    pub(super) job: Job,
}

struct Queue {
    items: [Option<Queued>; QUEUE],
    seq: u64,
}

/// The sim GPU's kernel half.
#[pin_data(PinnedDrop)]
pub(crate) struct SimGpu {
    pub(super) host: SimHost<VBuf<AtomicU64>>,
    regs: VBuf<AtomicU32>,
    scratch: u64,
    #[pin]
    own: Mutex<Grants>,
    #[pin]
    engines: Mutex<KBox<[Engine; 4]>>,
    #[pin]
    queue: Mutex<Queue>,
    worker: AtomicPtr<ffi::gvt_sim_worker>,
    /// Slices run, their total and their longest time (ns): for the GPU's debugfs `info`.
    slices: AtomicU64,
    slice_ns: AtomicU64,
    slice_ns_max: AtomicU64,
}

/// Copies between `buf` and physical memory.
fn phys_rw(addr: u64, buf: *mut u8, len: usize, write: bool) -> bool {
    // SAFETY: `buf` is valid for `len` bytes (callers pass a slice); the address was checked
    // against the grants, whose lock the caller holds so the page cannot go away meanwhile.
    unsafe { ffi::gvt_sim_mem_rw(addr, buf.cast(), len, write) }
}

/// The engines' view of memory for one slice of a workload: the sim's pages and the vGPU's
/// grants, both locked for the slice. A semaphore poll is one memory access: taking two
/// locks for each (lockdep-checked in the test kernels) made the sim notice a CPU's write tens
/// of microseconds late, more than i915's timestamp selftest allows; revoking a grant waits
/// for the slice instead.
struct Mem<'a> {
    own: Guard<'a, Grants, MutexBackend>,
    guest: Guard<'a, Grants, MutexBackend>,
}

impl Mem<'_> {
    fn access(&mut self, addr: u64, buf: *mut u8, len: usize, write: bool) -> bool {
        (self.own.covers(addr, len) || self.guest.covers(addr, len))
            && phys_rw(addr, buf, len, write)
    }
}

/// Copies between `buf` and physical memory at `addr` if `grants` cover it, under their lock.
pub(super) fn rw_granted(
    grants: &Mutex<Grants>,
    addr: u64,
    buf: *mut u8,
    len: usize,
    write: bool,
) -> bool {
    let mut g = grants.lock();
    g.covers(addr, len) && phys_rw(addr, buf, len, write)
}

impl HostMemory for Mem<'_> {
    fn read(&mut self, addr: u64, buf: &mut [u8]) -> bool {
        self.access(addr, buf.as_mut_ptr(), buf.len(), false)
    }

    fn write(&mut self, addr: u64, data: &[u8]) -> bool {
        self.access(addr, data.as_ptr().cast_mut(), data.len(), true)
    }
}

/// The engines' time: the kernel's monotonic clock.
struct Ktime;

impl Clock for Ktime {
    fn now_ns(&self) -> u64 {
        u64::try_from(kernel::time::Ktime::ktime_get().to_ns()).unwrap_or(0)
    }
}

impl SimGpu {
    /// A sim GPU with `info`'s facts; its scratch page is a real page.
    pub(super) fn new(mut info: HostInfo) -> Result<Pin<KBox<SimGpu>>> {
        let mut scratch = 0u64;
        // SAFETY: `scratch` is a valid out-pointer.
        kernel::error::to_result(unsafe { ffi::gvt_sim_pages_alloc(1, &mut scratch) })?;
        info.scratch_page = scratch;
        let built = (|| -> Result<Pin<KBox<SimGpu>>> {
            let ggtt = VBuf::new(crate::sim::ggtt_entries(&info))?;
            let host = SimHost::new(info, ggtt).map_err(super::to_kernel_error)?;
            // Built in place, one engine at a time: four on the stack at once (12 KiB) overflow
            // the module's init stack.
            let engines = KBox::init::<Error>(
                kernel::init::init_array_from_fn(|i| {
                    let id = [EngineId::Rcs, EngineId::Bcs, EngineId::Vcs, EngineId::Vecs]
                        .get(i)
                        .copied();
                    let mut engine = Engine::new(id.unwrap_or(EngineId::Rcs), 0);
                    engine.set_timestamp_hz(info.platform.hw().timestamp_hz);
                    engine.set_slice_ns(SLICE_NS);
                    engine
                }),
                GFP_KERNEL,
            )?;
            let mut own = Grants::new();
            own.grant(scratch, PAGE)?;
            KBox::pin_init(
                try_pin_init!(SimGpu {
                    host,
                    regs: VBuf::new(MMIO_DWORDS)?,
                    scratch,
                    own <- new_mutex!(own, "gvt_sim::own"),
                    engines <- new_mutex!(engines, "gvt_sim::engines"),
                    queue <- new_mutex!(Queue { items: [None; QUEUE], seq: 0 }, "gvt_sim::queue"),
                    worker: AtomicPtr::new(ptr::null_mut()),
                    slices: AtomicU64::new(0),
                    slice_ns: AtomicU64::new(0),
                    slice_ns_max: AtomicU64::new(0),
                }),
                GFP_KERNEL,
            )
        })();
        if built.is_err() {
            // SAFETY: allocated above, referenced by nothing that survived.
            unsafe { ffi::gvt_sim_pages_free(scratch, 1) };
        }
        built
    }

    /// Starts the engines' workqueue, which runs `f(data)` whenever kicked.
    pub(super) fn start(&self, f: unsafe extern "C" fn(*mut c_void), data: *mut c_void) -> Result {
        // SAFETY: `f` and `data` stay valid until `PinnedDrop` destroys the worker (the device
        // that passes itself as `data` owns this `SimGpu`).
        let w = unsafe { ffi::gvt_sim_worker_create(Some(f), data) };
        if w.is_null() {
            return Err(ENOMEM);
        }
        self.worker.store(w, Ordering::Release);
        Ok(())
    }

    /// Makes the engines look at their queue (and the scheduler run) soon.
    pub(super) fn kick(&self) {
        let w = self.worker.load(Ordering::Acquire);
        if !w.is_null() {
            // SAFETY: created in `start`, destroyed only in `PinnedDrop`.
            unsafe { ffi::gvt_sim_worker_kick(w) };
        }
    }

    /// Between two rounds of the worker: a moment's sleep if the round completed nothing
    /// (`idle`: the engines only spun or polled), else a chance for others to run.
    pub(super) fn rest(&self, idle: bool) {
        // SAFETY: sleeps or reschedules; called from the worker, which holds no lock then.
        unsafe { ffi::gvt_sim_worker_rest(idle) };
    }

    /// Waits until the engines are idle (a run in progress finished).
    pub(super) fn flush(&self) {
        let w = self.worker.load(Ordering::Acquire);
        if !w.is_null() {
            // SAFETY: as in `kick`.
            unsafe { ffi::gvt_sim_worker_flush(w) };
        }
    }

    pub(super) fn alloc_pages(&self, pages: u32) -> ModelResult<u64> {
        let pages = pages.max(1);
        let mut addr = 0u64;
        // SAFETY: `addr` is a valid out-pointer.
        if unsafe { ffi::gvt_sim_pages_alloc(pages, &mut addr) } != 0 {
            return Err(GvtError::NoMemory);
        }
        let size = u64::from(pages).wrapping_mul(PAGE);
        if self.own.lock().grant(addr, size).is_err() {
            // SAFETY: just allocated, not handed out.
            unsafe { ffi::gvt_sim_pages_free(addr, pages) };
            return Err(GvtError::NoMemory);
        }
        Ok(addr)
    }

    pub(super) fn free_pages(&self, addr: u64, pages: u32) {
        let mut own = self.own.lock();
        // Only what `alloc_pages` handed out, once: the grant is the proof.
        if addr == self.scratch
            || !own.covers(
                addr,
                usize::try_from(u64::from(pages.max(1)).wrapping_mul(PAGE)).unwrap_or(usize::MAX),
            )
        {
            return;
        }
        own.revoke(addr);
        drop(own);
        // SAFETY: allocated by `alloc_pages` with this size and no longer granted.
        unsafe { ffi::gvt_sim_pages_free(addr, pages.max(1)) };
    }

    pub(super) fn rw_own(&self, addr: u64, buf: *mut u8, len: usize, write: bool) -> ModelResult {
        let mut own = self.own.lock();
        if own.covers(addr, len) && phys_rw(addr, buf, len, write) {
            Ok(())
        } else {
            Err(GvtError::Fault)
        }
    }

    /// Maps host memory the core allocated into the sim's GGTT reserve, for the engines to
    /// run a privileged batch's shadow from.
    pub(super) fn map_ggtt(&self, addr: u64, pages: u32) -> ModelResult<u64> {
        let len =
            usize::try_from(u64::from(pages).wrapping_mul(PAGE)).map_err(|_| GvtError::Invalid)?;
        // Only the sim's own pages: a guest page there would be a privileged batch the guest
        // could still change.
        if !self.own.lock().covers(addr, len) {
            return Err(GvtError::Fault);
        }
        self.host.map_ggtt(addr, pages)
    }

    pub(super) fn unmap_ggtt(&self, gm: u64, pages: u32) {
        self.host.unmap_ggtt(gm, pages);
    }

    pub(super) fn mmio_read(&self, offset: u32) -> u32 {
        self.regs
            .get((offset / 4) as usize)
            .map_or(0, |r| r.load(Ordering::Relaxed))
    }

    pub(super) fn mmio_write(&self, offset: u32, value: u32) {
        if let Some(r) = self.regs.get((offset / 4) as usize) {
            r.store(value, Ordering::Relaxed);
        }
    }

    /// Host memory allocations outstanding (the scratch page included).
    pub(super) fn allocations(&self) -> usize {
        self.own.lock().len()
    }

    /// Queues `w` for the vGPU whose handle is at `owner`.
    pub(super) fn push(&self, owner: usize, w: &HostWorkload) -> ModelResult {
        self.requeue(owner, Job::new(*w))
    }

    /// Queues `job` (new, or between its slices) behind everything queued.
    pub(super) fn requeue(&self, owner: usize, job: Job) -> ModelResult {
        let mut q = self.queue.lock();
        let seq = q.seq;
        let slot = q
            .items
            .iter_mut()
            .find(|i| i.is_none())
            .ok_or(GvtError::Busy)?;
        *slot = Some(Queued { seq, owner, job });
        q.seq = seq.wrapping_add(1);
        Ok(())
    }

    /// The next sequence number: what is queued from now on comes after it.
    pub(super) fn mark(&self) -> u64 {
        self.queue.lock().seq
    }

    /// The oldest queued workload queued before `mark`.
    pub(super) fn pop(&self, mark: u64) -> Option<Queued> {
        let mut q = self.queue.lock();
        let oldest = q
            .items
            .iter_mut()
            .filter(|i| i.is_some_and(|q| q.seq < mark))
            .min_by_key(|i| i.map_or(u64::MAX, |q| q.seq))?;
        oldest.take()
    }

    /// Whether nothing waits for the engines.
    pub(super) fn idle(&self) -> bool {
        self.queue.lock().items.iter().all(Option::is_none)
    }

    /// Takes the queued workloads of `owner` out.
    pub(super) fn purge(&self, owner: usize) -> [Option<Queued>; QUEUE] {
        let mut out = [None; QUEUE];
        let mut q = self.queue.lock();
        for (i, o) in q.items.iter_mut().zip(out.iter_mut()) {
            if i.is_some_and(|q| q.owner == owner) {
                *o = i.take();
            }
        }
        out
    }

    /// Runs a slice of `job` on its engine, reaching guest memory through `guest`'s grants.
    pub(super) fn execute(&self, guest: &Mutex<Grants>, job: Job) -> Step {
        let mut engines = self.engines.lock();
        let mut mem = Mem {
            own: self.own.lock(),
            guest: guest.lock(),
        };
        let start = Ktime.now_ns();
        let step = match engines.get_mut(job.w.engine as usize) {
            Some(engine) => job.step(engine, &mut mem, &Ktime, self.host.ggtt(), SLICE_BUDGET),
            None => Step::Done(Completion::Hang),
        };
        let took = Ktime.now_ns().saturating_sub(start);
        // Only the worker runs slices: plain read-modify-writes suffice.
        self.slices.fetch_add(1, Ordering::Relaxed);
        self.slice_ns.fetch_add(took, Ordering::Relaxed);
        self.slice_ns_max.fetch_max(took, Ordering::Relaxed);
        step
    }

    /// Writes the slices' figures (count, mean and longest time) for the GPU's `info`.
    pub(super) fn write_slices(&self, out: &mut impl core::fmt::Write) -> core::fmt::Result {
        let n = self.slices.load(Ordering::Relaxed);
        let total = self.slice_ns.load(Ordering::Relaxed);
        writeln!(
            out,
            "sim_slices: {n} mean_ns {} max_ns {}",
            total.checked_div(n).unwrap_or(0),
            self.slice_ns_max.load(Ordering::Relaxed)
        )
    }
}

#[pinned_drop]
impl PinnedDrop for SimGpu {
    fn drop(self: Pin<&mut Self>) {
        let w = self.worker.load(Ordering::Acquire);
        if !w.is_null() {
            // SAFETY: created in `start`; nothing kicks it any more (its device is going).
            unsafe { ffi::gvt_sim_worker_destroy(w) };
        }
        let left = self.allocations();
        if left > 1 {
            pr_warn!(
                "sim GPU: {} host allocations left at teardown\n",
                left.saturating_sub(1)
            );
        }
        let mapped = self.host.reserve_mapped();
        if mapped > 0 {
            pr_warn!(
                "sim GPU: {} GGTT entries of the host reserve left mapped at teardown\n",
                mapped
            );
        }
        // SAFETY: allocated in `new`; the engines are stopped.
        unsafe { ffi::gvt_sim_pages_free(self.scratch, 1) };
    }
}
