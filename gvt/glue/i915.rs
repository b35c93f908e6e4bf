//! The i915 host in gvt.ko: a real Gen9 GPU, reached through the C shim
//! (`gvt/hosts/i915/i915_host.c`), which is the only code that sees i915's structures.
//!
//! i915 hands gvt.ko each device it drives with `enable_gvt=1` (`init_device`, which ends in
//! [`gvt_i915_device_added`]) and takes it back before it lets go (`clean_device`,
//! [`gvt_i915_device_removed`]). In between, [`I915Gpu`] is the device's `HostGpu` (its facts,
//! the config space and register snapshot taken when it arrived, its GGTT and fences, and the
//! reservation of each vGPU's partition in i915's allocators) and its execution host (DMA
//! memory for the core's shadow tables, contexts, rings and batch shadows; GGTT ranges for the
//! batch shadows; engine registers; submission of a workload as an i915 request, and its
//! completion).
//!
//! Completion: the shim records, from atomic context, when the request's fence signals and
//! when its context switches out, then queues the device's work item (`exec::run_gpu`), which
//! asks [`I915Gpu::take_done`] for finished workloads: their context state comes back into the
//! core's image and the core completes them, in process context, as for the sim.

use core::ffi::{c_int, c_void};
use core::ptr;

use kernel::{new_mutex, prelude::*, rbtree::RBTree, sync::Mutex};

use super::ffi::{self, gvt_i915, gvt_i915_facts, gvt_i915_partition};
use super::vbuf::VBuf;
use super::{model_from_c, to_kernel_error};
use crate::i915::{self as pure, Facts};
use crate::model::error::{GvtError, Result as ModelResult};
use crate::model::host::{
    Completion, HostGpu, HostInfo, HostWorkload, CFG_SPACE_SIZE, MMIO_DWORDS,
};
use crate::model::regs::Engine;
use crate::model::resources::{Partition, VgpuId};

const PAGE: u64 = 4096;
/// Engines the shim drives, by the core's engine bit index (render, video, blitter, video
/// enhancement).
const ENGINES: usize = ffi::GVT_I915_ENGINES as usize;
/// How long one wait for a vGPU's request lasts while the vGPU is being destroyed.
const DRAIN_WAIT_MS: u32 = 100;

/// The shim's index of an engine: its bit in the core's engine mask.
fn engine_index(e: Engine) -> u32 {
    e.mask().trailing_zeros()
}

/// A workload on an engine and the vGPU (its `VgpuHandle` address) it completes to.
#[derive(Clone, Copy)]
pub(super) struct Inflight {
    pub(super) owner: usize,
    pub(super) w: HostWorkload,
    /// Whether its context was loaded; if not, the request ran empty and completes as a hang.
    loaded: bool,
}

/// DMA memory handed to the core: DMA address → (kernel address, pages).
type Allocations = RBTree<u64, (usize, u32)>;

/// The kernel address of `[addr, addr + len)` if it lies in one allocation.
fn find(mem: &mut Allocations, addr: u64, len: usize) -> Option<*mut u8> {
    let end = addr.checked_add(u64::try_from(len).ok()?)?;
    let cursor = match addr.checked_add(1).and_then(|k| mem.cursor_lower_bound(&k)) {
        Some(c) => c.move_prev(),
        None => mem.cursor_back(),
    }?;
    let (&start, &(va, pages)) = cursor.current();
    let size = u64::from(pages).checked_mul(PAGE)?;
    if addr < start || end > start.checked_add(size)? {
        return None;
    }
    let off = usize::try_from(addr.wrapping_sub(start)).ok()?;
    Some(va.wrapping_add(off) as *mut u8)
}

/// An i915 device gvt.ko drives.
#[pin_data(PinnedDrop)]
pub(crate) struct I915Gpu {
    /// The shim's `struct gvt_i915`, alive until `clean_device` returns (after this is gone).
    raw: *mut gvt_i915,
    info: HostInfo,
    cfg: [u8; CFG_SPACE_SIZE],
    mmio: VBuf<u32>,
    #[pin]
    mem: Mutex<Allocations>,
    #[pin]
    inflight: Mutex<[Option<Inflight>; ENGINES]>,
}

// SAFETY: `raw` is used only through the shim's functions, which lock what they share; the rest
// is plain data or behind the mutexes.
unsafe impl Send for I915Gpu {}
// SAFETY: see `Send`.
unsafe impl Sync for I915Gpu {}

impl I915Gpu {
    /// The host of the shim's device `raw`: its facts checked, its snapshots taken.
    pub(super) fn new(raw: *mut gvt_i915) -> Result<Pin<KBox<I915Gpu>>> {
        let mut f = gvt_i915_facts::default();
        // SAFETY: `raw` is the live device i915 is handing over; `f` is a valid out-pointer.
        unsafe { ffi::gvt_i915_get_facts(raw, &mut f) };
        let facts = Facts {
            vendor: f.vendor,
            device: f.device,
            revision: f.revision,
            subsystem_vendor: f.subsystem_vendor,
            subsystem_device: f.subsystem_device,
            bar0_size: f.bar0_size,
            aperture_pa: f.aperture_pa,
            aperture_size: f.aperture_size,
            ggtt_size: f.ggtt_size,
            fence_count: f.fence_count,
            engines: f.engines,
            scratch_pte: f.scratch_pte,
        };
        let info = pure::host_info(&facts).map_err(to_kernel_error)?;
        let mut cfg = [0u8; CFG_SPACE_SIZE];
        // SAFETY: the shim's snapshot is `GVT_I915_CFG_SIZE` (= CFG_SPACE_SIZE) bytes, alive
        // as long as the device.
        let src = unsafe { ffi::gvt_i915_cfg_snapshot(raw) };
        // SAFETY: as above; `cfg` is a distinct local buffer of the same size.
        unsafe { ptr::copy_nonoverlapping(src, cfg.as_mut_ptr(), CFG_SPACE_SIZE) };
        let mut mmio = VBuf::<u32>::new(MMIO_DWORDS)?;
        // SAFETY: `mmio` has the 2 MiB the shim fills (it writes below GVT_I915_MMIO_SIZE only).
        kernel::error::to_result(unsafe { ffi::gvt_i915_mmio_snapshot(raw, mmio.as_mut_ptr()) })?;
        KBox::pin_init(
            try_pin_init!(I915Gpu {
                raw,
                info,
                cfg,
                mmio,
                mem <- new_mutex!(RBTree::new(), "gvt_i915::mem"),
                inflight <- new_mutex!([None; ENGINES], "gvt_i915::inflight"),
            }),
            GFP_KERNEL,
        )
    }

    /// Starts the device's work item, which runs `f(data)` whenever kicked (a completion, a
    /// guest submission), and hooks the engines' notifiers.
    pub(super) fn start(&self, f: unsafe extern "C" fn(*mut c_void), data: *mut c_void) -> Result {
        // SAFETY: `f` and `data` stay valid until `PinnedDrop` stops the work item (the device
        // passing itself as `data` owns this host).
        kernel::error::to_result(unsafe { ffi::gvt_i915_start(self.raw, Some(f), data) })
    }

    /// Whether the shim's device is `raw`.
    pub(super) fn is(&self, raw: *mut gvt_i915) -> bool {
        self.raw == raw
    }

    /// Queues the work item.
    pub(super) fn kick(&self) {
        // SAFETY: the device is live while this host exists.
        unsafe { ffi::gvt_i915_kick_worker(self.raw) };
    }

    /// Waits until the work item is idle.
    pub(super) fn flush(&self) {
        // SAFETY: as in `kick`.
        unsafe { ffi::gvt_i915_flush_worker(self.raw) };
    }

    /// DMA allocations outstanding.
    #[cfg(gvt_kunit)]
    pub(super) fn allocations(&self) -> usize {
        self.mem
            .lock()
            .iter()
            .fold(0usize, |n, _| n.saturating_add(1))
    }

    pub(super) fn alloc_pages(&self, pages: u32) -> ModelResult<u64> {
        let pages = pages.max(1);
        let size =
            usize::try_from(u64::from(pages).wrapping_mul(PAGE)).map_err(|_| GvtError::NoMemory)?;
        let mut dma = 0u64;
        // SAFETY: the device is live; `dma` is a valid out-pointer.
        let va = unsafe { ffi::gvt_i915_dma_alloc(self.raw, size, &mut dma) };
        if va.is_null() {
            return Err(GvtError::NoMemory);
        }
        if self
            .mem
            .lock()
            .try_create_and_insert(dma, (va as usize, pages), GFP_KERNEL)
            .is_err()
        {
            // SAFETY: just allocated with this size, not handed out.
            unsafe { ffi::gvt_i915_dma_free(self.raw, size, va, dma) };
            return Err(GvtError::NoMemory);
        }
        Ok(dma)
    }

    pub(super) fn free_pages(&self, addr: u64, _pages: u32) {
        // Only what `alloc_pages` handed out, once: the table is the proof, and has the size.
        let Some((va, pages)) = self.mem.lock().remove(&addr) else {
            return;
        };
        let size = usize::try_from(u64::from(pages).wrapping_mul(PAGE)).unwrap_or(0);
        // SAFETY: allocated by `alloc_pages` with this size; no longer in the table.
        unsafe { ffi::gvt_i915_dma_free(self.raw, size, va as *mut c_void, addr) };
    }

    pub(super) fn rw(&self, addr: u64, buf: *mut u8, len: usize, write: bool) -> ModelResult {
        let mut mem = self.mem.lock();
        let at = find(&mut mem, addr, len).ok_or(GvtError::Fault)?;
        // SAFETY: `at` has `len` bytes of one live allocation (the table lock keeps it); `buf`
        // has `len` bytes (callers pass a slice) and is not DMA memory of ours.
        unsafe {
            if write {
                ptr::copy_nonoverlapping(buf.cast_const(), at, len);
            } else {
                ptr::copy_nonoverlapping(at.cast_const(), buf, len);
            }
        }
        Ok(())
    }

    /// Maps DMA memory the core allocated into i915's GGTT, for the GPU to run a privileged
    /// batch's shadow from.
    pub(super) fn map_ggtt(&self, addr: u64, pages: u32) -> ModelResult<u64> {
        let len =
            usize::try_from(u64::from(pages).wrapping_mul(PAGE)).map_err(|_| GvtError::Invalid)?;
        // Only our own allocations: a guest page there would be a privileged batch the guest
        // could still change.
        find(&mut self.mem.lock(), addr, len).ok_or(GvtError::Fault)?;
        let mut gm = 0u64;
        // SAFETY: the device is live; `gm` is a valid out-pointer.
        model_from_c(unsafe { ffi::gvt_i915_ggtt_map(self.raw, addr, pages, &mut gm) })?;
        Ok(gm)
    }

    pub(super) fn unmap_ggtt(&self, gm: u64, _pages: u32) {
        // SAFETY: the device is live; the shim ignores an address it did not map.
        unsafe { ffi::gvt_i915_ggtt_unmap(self.raw, gm) }
    }

    /// GGTT entries mapped for batch shadows.
    #[cfg(gvt_kunit)]
    pub(super) fn shadow_ggtt_entries(&self) -> usize {
        // SAFETY: the device is live.
        usize::try_from(unsafe { ffi::gvt_i915_ggtt_mapped(self.raw) }).unwrap_or(usize::MAX)
    }

    /// Copies `len` bytes between `buf` and the aperture at graphics address `gm` (within one
    /// page), through i915's write-combined mapping of it.
    pub(super) fn aperture_rw(
        &self,
        gm: u64,
        buf: *mut u8,
        len: usize,
        write: bool,
    ) -> ModelResult {
        let len = u32::try_from(len).map_err(|_| GvtError::Invalid)?;
        // SAFETY: `buf` is valid for `len` bytes (callers pass their own buffer); the shim
        // checks `gm` against the aperture.
        model_from_c(unsafe { ffi::gvt_i915_aperture_rw(self.raw, gm, buf.cast(), len, write) })
    }

    pub(super) fn mmio_read(&self, offset: u32) -> u32 {
        // SAFETY: the device is live; the shim ignores offsets past the register window.
        unsafe { ffi::gvt_i915_mmio_read(self.raw, offset) }
    }

    pub(super) fn mmio_write(&self, offset: u32, value: u32) {
        // SAFETY: as in `mmio_read`.
        unsafe { ffi::gvt_i915_mmio_write(self.raw, offset, value) }
    }

    /// Runs `w` as an i915 request on its engine, for the vGPU whose handle is at `owner`.
    pub(super) fn submit(&self, owner: usize, w: &HostWorkload) -> ModelResult {
        let idx = engine_index(w.engine);
        let mut inflight = self.inflight.lock();
        let slot = inflight
            .get_mut(usize::try_from(idx).map_err(|_| GvtError::Invalid)?)
            .ok_or(GvtError::Invalid)?;
        if slot.is_some() {
            return Err(GvtError::Busy);
        }
        let ring_len = usize::try_from(w.ring_len).map_err(|_| GvtError::Invalid)?;
        let ctx_len = usize::try_from(u64::from(w.context_pages).wrapping_mul(PAGE))
            .map_err(|_| GvtError::Invalid)?;
        let dwords = pure::ring_dwords(w.ring_len)?;
        // The workload's own allocations: the core frees them only after its completion.
        let (ring, ctx) = {
            let mut mem = self.mem.lock();
            (
                find(&mut mem, w.ring, ring_len).ok_or(GvtError::Fault)?,
                find(&mut mem, w.context, ctx_len).ok_or(GvtError::Fault)?,
            )
        };
        let mut state: *mut c_void = ptr::null_mut();
        let mut state_len = 0usize;
        // SAFETY: the device is live; the out-pointers are valid.
        model_from_c(unsafe {
            ffi::gvt_i915_request_begin(self.raw, idx, &mut state, &mut state_len)
        })?;
        let loaded = {
            // SAFETY: `ctx` has `ctx_len` bytes of the workload's allocation (see above).
            let core = unsafe { core::slice::from_raw_parts(ctx.cast_const(), ctx_len) };
            // SAFETY: the engine's pinned shadow context image, `state_len` bytes; nothing else
            // touches it while no request of it is in flight (this one is not added yet).
            let image = unsafe { core::slice::from_raw_parts_mut(state.cast::<u8>(), state_len) };
            pure::load_context(w.engine, core, image)
        };
        // The request must be added either way; without its context loaded it runs empty and
        // completes as a hang, so the guest sees what hardware does with an image it cannot load.
        let loaded = loaded.is_ok();
        let (ring_ptr, len) = if loaded {
            (ring.cast_const().cast::<c_void>(), w.ring_len)
        } else {
            (ptr::null(), 0)
        };
        // SAFETY: the request was begun above; `ring_ptr` is null or has `len` bytes.
        model_from_c(unsafe {
            ffi::gvt_i915_request_commit(self.raw, idx, ring_ptr, len, dwords)
        })?;
        *slot = Some(Inflight {
            owner,
            w: *w,
            loaded,
        });
        Ok(())
    }

    /// A workload the hardware finished, with how, its context state already copied back
    /// into the core's image; the engine is free again.
    pub(super) fn take_done(&self) -> Option<(Inflight, Completion)> {
        for idx in 0..ENGINES {
            let i = u32::try_from(idx).unwrap_or(0);
            // SAFETY: the device is live.
            let events = unsafe { ffi::gvt_i915_events(self.raw, i) };
            let Some(mut how) = pure::completion(events) else {
                continue;
            };
            let taken = self.inflight.lock().get_mut(idx).and_then(Option::take);
            if let (Some(t), Completion::Done) = (&taken, how) {
                if !t.loaded || self.save(i, &t.w).is_err() {
                    how = Completion::Hang;
                }
            }
            // SAFETY: the device is live; the request is finished and its state saved.
            unsafe { ffi::gvt_i915_retire(self.raw, i) };
            if let Some(t) = taken {
                return Some((t, how));
            }
        }
        None
    }

    /// Copies the engine's context state back into the workload's image.
    fn save(&self, idx: u32, w: &HostWorkload) -> ModelResult {
        let mut state: *mut c_void = ptr::null_mut();
        let mut state_len = 0usize;
        // SAFETY: the device is live; the out-pointers are valid.
        model_from_c(unsafe {
            ffi::gvt_i915_context_state(self.raw, idx, &mut state, &mut state_len)
        })?;
        let ctx_len = usize::try_from(u64::from(w.context_pages).wrapping_mul(PAGE))
            .map_err(|_| GvtError::Invalid)?;
        let ctx = find(&mut self.mem.lock(), w.context, ctx_len).ok_or(GvtError::Fault)?;
        // SAFETY: the shim's pinned context image, not in use (the request finished and the
        // engine is not retired yet, so nothing new is built on it).
        let image =
            unsafe { core::slice::from_raw_parts(state.cast_const().cast::<u8>(), state_len) };
        // SAFETY: the workload's image, alive until the core completes it.
        let core = unsafe { core::slice::from_raw_parts_mut(ctx, ctx_len) };
        pure::save_context(image, core)
    }

    /// Whether no workload is on the hardware.
    pub(super) fn idle(&self) -> bool {
        self.inflight.lock().iter().all(Option::is_none)
    }

    /// Waits until no workload of `owner` is on the hardware: each finishes (or i915's hang
    /// handling cancels it) and the work item delivers it.
    pub(super) fn drain(&self, owner: usize) {
        let mut rounds = 0u32;
        loop {
            let mine: [bool; ENGINES] = {
                let inflight = self.inflight.lock();
                core::array::from_fn(|i| {
                    inflight
                        .get(i)
                        .copied()
                        .flatten()
                        .is_some_and(|t| t.owner == owner)
                })
            };
            if !mine.iter().any(|&b| b) {
                return;
            }
            for i in (0..ENGINES).filter(|&i| mine.get(i) == Some(&true)) {
                // SAFETY: the device is live.
                let _ = unsafe {
                    ffi::gvt_i915_wait(self.raw, u32::try_from(i).unwrap_or(0), DRAIN_WAIT_MS)
                };
            }
            self.kick();
            self.flush();
            rounds = rounds.wrapping_add(1);
            if rounds % 100 == 0 {
                pr_warn!("i915: still waiting for a vGPU's requests to finish\n");
            }
            // SAFETY: plain sleep in process context.
            unsafe { kernel::bindings::msleep(1) };
        }
    }
}

impl HostGpu for I915Gpu {
    fn info(&self) -> &HostInfo {
        &self.info
    }

    fn cfg_snapshot(&self) -> &[u8; CFG_SPACE_SIZE] {
        &self.cfg
    }

    fn mmio_snapshot(&self, first_dword: usize, dst: &mut [u32]) {
        let src = self.mmio.get(first_dword..).unwrap_or(&[]);
        let n = src.len().min(dst.len());
        if let (Some(d), Some(s)) = (dst.get_mut(..n), src.get(..n)) {
            d.copy_from_slice(s);
        }
    }

    fn ggtt_read(&self, index: u64) -> u64 {
        // SAFETY: the device is live; the shim checks the index.
        unsafe { ffi::gvt_i915_ggtt_read(self.raw, index) }
    }

    fn ggtt_write(&self, index: u64, pte: u64) {
        // SAFETY: the device is live; the shim writes only inside a vGPU's reservation.
        unsafe { ffi::gvt_i915_ggtt_write(self.raw, index, pte) }
    }

    fn ggtt_flush(&self) {
        // SAFETY: the device is live.
        unsafe { ffi::gvt_i915_ggtt_flush(self.raw) }
    }

    fn fence_write(&self, index: u32, value: u64) {
        // SAFETY: the device is live; the shim writes only fences reserved for a vGPU.
        unsafe { ffi::gvt_i915_fence_write(self.raw, index, value) }
    }

    fn reserve(&self, id: VgpuId, part: &Partition) -> ModelResult {
        let p = partition(&self.info, id, part)?;
        // SAFETY: the device is live; `p` is a valid partition description.
        let ret = unsafe { ffi::gvt_i915_reserve(self.raw, &p) };
        // i915 has something in the range, or no fence to spare: no room for this vGPU.
        model_from_c(ret).map_err(|e| {
            if e == GvtError::Busy {
                GvtError::NoSpace
            } else {
                e
            }
        })
    }

    fn release(&self, id: VgpuId, part: &Partition) {
        if let Ok(p) = partition(&self.info, id, part) {
            // SAFETY: the device is live; `p` is a valid partition description.
            unsafe { ffi::gvt_i915_release(self.raw, &p) };
        }
    }
}

/// The shim's description of a partition, checked against the GPU's layout.
fn partition(info: &HostInfo, id: VgpuId, part: &Partition) -> ModelResult<gvt_i915_partition> {
    let [low, high] = pure::gm_nodes(info, part)?;
    let fences = pure::fence_range(info, part)?;
    Ok(gvt_i915_partition {
        id: id.get(),
        fence_first: fences.start,
        fence_count: fences.end.wrapping_sub(fences.start),
        reserved: 0,
        low_start: low.start,
        low_size: low.size,
        high_start: high.start,
        high_size: high.size,
    })
}

#[pinned_drop]
impl PinnedDrop for I915Gpu {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: the device is live until `clean_device` returns, after this drop; nothing
        // kicks the work item any more (the device left the registry, its vGPUs are gone).
        unsafe { ffi::gvt_i915_stop(self.raw) };
        let mut mem = self.mem.lock();
        let mut left = 0usize;
        while let Some(c) = mem.cursor_front() {
            let (&dma, &(va, pages)) = c.current();
            let size = usize::try_from(u64::from(pages).wrapping_mul(PAGE)).unwrap_or(0);
            // SAFETY: allocated by `alloc_pages` with this size; the GPU no longer uses it.
            unsafe { ffi::gvt_i915_dma_free(self.raw, size, va as *mut c_void, dma) };
            c.remove_current();
            left = left.saturating_add(1);
        }
        if left > 0 {
            pr_warn!("i915: {} host allocations left at teardown\n", left);
        }
    }
}

/// Hands gvt.ko's ops to i915; i915 calls `init_device` for its devices from in here.
pub(super) fn register() -> Result {
    // SAFETY: plain call; the registry is published, so devices can be added.
    kernel::error::to_result(unsafe { ffi::gvt_i915_register() }).inspect_err(|_| {
        pr_err!("i915 GVT ops are taken: is i915's own kvmgt.ko loaded?\n");
    })
}

/// Takes the ops back; i915 calls `clean_device` for each device first.
pub(super) fn unregister() {
    // SAFETY: plain call; harmless if `register` failed (i915 ignores other ops).
    unsafe { ffi::gvt_i915_unregister() };
}

/// i915 hands gvt.ko a device (`init_device`).
///
/// # Safety
///
/// `gpu` is the shim's device, live until [`gvt_i915_device_removed`] returns for it.
#[no_mangle]
pub(crate) unsafe extern "C" fn gvt_i915_device_added(gpu: *mut gvt_i915) -> c_int {
    let r = super::devices::add_i915(gpu);
    if let Err(e) = &r {
        pr_info!("i915 device not driven ({:?})\n", e);
    }
    super::to_c(r)
}

/// i915 takes the device back (`clean_device`): backends give up its vGPUs, then it goes.
///
/// # Safety
///
/// `gpu` was accepted by [`gvt_i915_device_added`].
#[no_mangle]
pub(crate) unsafe extern "C" fn gvt_i915_device_removed(gpu: *mut gvt_i915) {
    super::devices::remove_i915(gpu);
}
