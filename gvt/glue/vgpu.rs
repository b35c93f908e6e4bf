//! vGPUs as backends hold them (`struct gvt_vgpu *`): the core's `Vgpu` and its execution half
//! `Exec` behind a mutex, their big buffers in vmalloc memory, the DMA grants its backend made,
//! and the MPT services of that backend.
//!
//! Lock order: gvt.ko's registry lock (held across a backend's device callbacks), then the
//! backend's own locks, then a device's `exec` lock, then a vGPU's lock, then its device's
//! `gvt` lock and the host's leaf locks (a vGPU's grants among them: backends grant under
//! their own locks, inside the vGPU lock when the core asked for the mapping). Nothing here
//! takes the registry lock. The guest's accesses take only the vGPU's lock: the host GPU is
//! shared through `&self` methods.

use core::ffi::{c_int, c_void};
use core::mem::MaybeUninit;
use core::pin::Pin;
use core::ptr;
use core::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, Ordering};

use kernel::{new_mutex, prelude::*, sync::Mutex};

use super::abi::{
    gvt_backend, gvt_backend_ops, gvt_device, gvt_plane_info, gvt_vgpu, gvt_vgpu_info,
    gvt_vgpu_params, GVT_EDID_MAX_SIZE, GVT_MPT_ABI_VERSION, GVT_VGPU_NAME_LEN,
};
use super::devices::GvtDevice;
use super::exec::{self, Submitter};
use super::grants::Grants;
use super::mpt_abi::{backend_name, c_bytes, device, MAX_NAME};
use super::trace;
use super::vbuf::VBuf;
use super::{model_from_c, model_to_c, to_kernel_error};
use crate::model::batch::{Shadow, ARENA_BYTES};
use crate::model::cmd_scanner::MAX_BATCHES;
use crate::model::display::edid::{Mode, EDID_MAX_SIZE};
use crate::model::display::plane::PlaneKind;
use crate::model::error::{GvtError, Result as ModelResult};
use crate::model::gvt::Gvt;
use crate::model::host::MMIO_DWORDS;
use crate::model::opregion::OPREGION_SIZE;
use crate::model::ppgtt::log::SptLog;
use crate::model::ppgtt::pool::{Chunks, Tables, CHUNK, INDEX_BUCKETS, MAX_CHUNKS};
use crate::model::ppgtt::Spt;
use crate::model::report::{Cause, Identity, RateLimit, LABEL_LEN};
use crate::model::resources::{Request, Span};
use crate::model::vgpu::{Buffers, Failsafe, Reset, Vgpu};
use crate::model::vgpu::{GEN8_PAGE_PRESENT, GTT_ADDR_MASK};
use crate::model::vgpu_type::{Resolution, VgpuConfig};
use crate::model::workload::{Exec, ExecBuffers, Gen9Scanner, Workload, SCRATCH_BYTES};
use crate::mpt::MptOps;

const _: () = assert!(GVT_EDID_MAX_SIZE as usize == EDID_MAX_SIZE);
// An identity holds the backend's name, ", " and the longest name a backend gives.
const _: () = assert!(MAX_NAME + 2 + GVT_VGPU_NAME_LEN as usize - 1 <= LABEL_LEN);

/// A vGPU's register file, virtual GGTT, OpRegion and EDID, in vmalloc memory.
pub(super) type Storage = Buffers<VBuf<u32>, VBuf<u64>, VBuf<u8>>;

fn new_storage(ggtt_entries: usize) -> Result<Storage> {
    Ok(Buffers {
        vreg: VBuf::new(MMIO_DWORDS)?,
        ggtt: VBuf::new(ggtt_entries)?,
        opregion: VBuf::new(OPREGION_SIZE)?,
        edid: VBuf::new(EDID_MAX_SIZE)?,
    })
}

/// A vGPU's shadow page tables in vmalloc chunks of [`CHUNK`] (1 MiB), allocated as its
/// PPGTT grows, up to [`MAX_CHUNKS`].
pub(super) struct SptChunks {
    chunks: KBox<[Option<VBuf<Spt>>; MAX_CHUNKS]>,
    count: usize,
}

impl SptChunks {
    fn new() -> Result<SptChunks> {
        Ok(SptChunks {
            chunks: KBox::new([const { None }; MAX_CHUNKS], GFP_KERNEL)?,
            count: 0,
        })
    }

    /// Frees the chunks past the first `keep`; only for a pool with no live table.
    fn trim(&mut self, keep: usize) {
        for c in self.chunks.iter_mut().skip(keep) {
            *c = None;
        }
        self.count = self.count.min(keep);
    }
}

impl Chunks for SptChunks {
    fn count(&self) -> usize {
        self.count
    }

    fn chunk(&self, k: usize) -> Option<&[Spt]> {
        self.chunks.get(k)?.as_deref()
    }

    fn chunk_mut(&mut self, k: usize) -> Option<&mut [Spt]> {
        self.chunks.get_mut(k)?.as_deref_mut()
    }

    fn grow(&mut self) -> bool {
        let Some(slot) = self.chunks.get_mut(self.count) else {
            return false;
        };
        match VBuf::new(CHUNK) {
            Ok(b) => {
                *slot = Some(b);
                self.count = self.count.wrapping_add(1);
                true
            }
            Err(_) => false,
        }
    }
}

/// Shadow table chunks a destroyed vGPU's spare storage keeps (256 tables, 2 MiB).
const SPARE_CHUNKS: usize = 2;
/// Workloads a vGPU may have queued or running.
const SLOTS: usize = 16;

/// The workload slots, on the heap.
pub(super) struct Slots(KBox<[Workload; SLOTS]>);

impl core::ops::Deref for Slots {
    type Target = [Workload];
    fn deref(&self) -> &[Workload] {
        &*self.0
    }
}

impl core::ops::DerefMut for Slots {
    fn deref_mut(&mut self) -> &mut [Workload] {
        &mut *self.0
    }
}

/// A vGPU's shadow tables, workload slots, scratch, batch arena and batch shadow records.
pub(super) type ExecStore =
    ExecBuffers<Tables<SptChunks, VBuf<u32>, KBox<SptLog>>, Slots, VBuf<u8>, VBuf<Shadow>>;

fn new_exec_store() -> Result<ExecStore> {
    Ok(ExecBuffers {
        spts: Tables {
            chunks: SptChunks::new()?,
            by_gfn: VBuf::new(INDEX_BUCKETS)?,
            by_host: VBuf::new(INDEX_BUCKETS)?,
            cursor: 0,
            live: 0,
            log: KBox::new(SptLog::default(), GFP_KERNEL)?,
        },
        queue: Slots(KBox::new([Workload::default(); SLOTS], GFP_KERNEL)?),
        scratch: VBuf::new(SCRATCH_BYTES)?,
        batches: VBuf::new(ARENA_BYTES)?,
        shadows: VBuf::new(SLOTS.checked_mul(MAX_BATCHES).ok_or(ENOMEM)?)?,
    })
}

/// Destroyed vGPUs' buffers a GPU keeps for its next creations.
const SPARES: usize = 2;

/// The buffers of destroyed vGPUs, kept for the next ones (at most [`SPARES`], about 5 MiB
/// each). Allocating and zeroing them is nearly all a creation costs, and freeing them most of
/// a destruction (tens of milliseconds under QEMU TCG); reusing them costs nothing, because the
/// core hands them back clean: the virtual GGTT zeroed where the guest wrote it, the register
/// file, OpRegion and EDID rewritten at creation, the execution half empty (`Exec::is_clean`).
pub(super) struct Spares([Option<(Storage, ExecStore)>; SPARES]);

impl Spares {
    pub(super) const fn new() -> Spares {
        Spares([const { None }; SPARES])
    }

    /// Buffers for a vGPU with `ggtt_entries` GGTT entries: a spare's (with its virtual GGTT
    /// reallocated if its size differs), else new ones.
    fn take(&mut self, ggtt_entries: usize) -> Result<(Storage, ExecStore)> {
        let exact = self.0.iter_mut().find(|s| {
            s.as_ref()
                .is_some_and(|(st, _)| st.ggtt.len() == ggtt_entries)
        });
        let found = match exact {
            Some(s) => s.take(),
            None => self.0.iter_mut().find_map(Option::take),
        };
        match found {
            Some((mut store, exec)) => {
                if store.ggtt.len() != ggtt_entries {
                    store.ggtt = VBuf::new(ggtt_entries)?;
                }
                Ok((store, exec))
            }
            None => Ok((new_storage(ggtt_entries)?, new_exec_store()?)),
        }
    }

    /// Keeps a destroyed vGPU's buffers if there is room; they are freed otherwise.
    fn give(&mut self, store: Storage, mut exec: ExecStore) {
        if let Some(slot) = self.0.iter_mut().find(|s| s.is_none()) {
            // A guest that bound gigabytes grew its shadow tables; the next one starts small.
            exec.spts.chunks.trim(SPARE_CHUNKS);
            *slot = Some((store, exec));
        }
    }
}

/// What a vGPU's lock protects: the device model of the vGPU and its execution half.
pub(super) struct VgpuState {
    pub(super) vgpu: Vgpu<Storage>,
    pub(super) exec: Exec<ExecStore>,
    pub(super) scanner: Gen9Scanner,
    /// Who the vGPU is in the log.
    pub(super) identity: Identity,
    /// The failsafe cause last reported to the log.
    reported: Option<Cause>,
    /// The guest resets out of failsafe already reported (`VgpuStats::failsafe_guest_resets`).
    reported_guest_resets: u64,
    /// The vGPU's rate limits, one per kind of line, so that its guest's noise never silences
    /// its failsafe entries (nor another vGPU's lines).
    failsafe_log: RateLimit,
    notice_log: RateLimit,
    debug_log: RateLimit,
    /// What the trace events derived from the core's counters last saw.
    traced: trace::Seen,
}

impl VgpuState {
    fn new(
        vgpu: Vgpu<Storage>,
        exec: Exec<ExecStore>,
        scanner: Gen9Scanner,
        backend: &[u8],
    ) -> VgpuState {
        let identity = Identity::new(vgpu.id().get(), backend);
        VgpuState {
            vgpu,
            exec,
            scanner,
            identity,
            reported: None,
            reported_guest_resets: 0,
            failsafe_log: RateLimit::DEFAULT,
            notice_log: RateLimit::DEFAULT,
            debug_log: RateLimit::DEFAULT,
            traced: trace::Seen::default(),
        }
    }

    /// Logs what the vGPU has to tell the host since the last call (after every trap and
    /// workload event), each kind rate-limited per vGPU: its entry into failsafe with the
    /// cause and what the guest sees, once per entry (an error when the host's limits caused
    /// it, else a warning); its way out by the guest's own reset; what the guest did that it
    /// refused or ignored (`Notice`: info, or debug for the harmless). The clock is read only
    /// when there is something to log: this runs on the trap path.
    pub(super) fn report(&mut self) {
        let vgpu = &self.vgpu;
        self.traced.report(
            trace::state_enabled(),
            vgpu.id().get(),
            &mut self.exec,
            |r| vgpu.vreg(r),
        );
        let who = &self.identity;
        let cleared = self.vgpu.stats().failsafe_guest_resets;
        if cleared != self.reported_guest_resets {
            self.reported_guest_resets = cleared;
            // The next entry is a new one, whatever its cause.
            self.reported = None;
            if let Some(held) = self.failsafe_log.admit(super::display::now_ns()) {
                pr_info!("{who}: guest reset cleared failsafe{held}\n");
            }
        }
        let cause = self.vgpu.failsafe_cause();
        if cause != self.reported {
            self.reported = cause;
            if let Some(c) = cause {
                if let Some(held) = self.failsafe_log.admit(super::display::now_ns()) {
                    let consequence = Failsafe::CONSEQUENCE;
                    if c.is_host_fault() {
                        pr_err!("{who} entered failsafe: {c}; {consequence}{held}\n");
                    } else {
                        pr_warn!("{who} entered failsafe: {c}; {consequence}{held}\n");
                    }
                }
            }
        }
        if let Some(n) = self.vgpu.take_notice() {
            let log = if n.is_debug() {
                &mut self.debug_log
            } else {
                &mut self.notice_log
            };
            if let Some(held) = log.admit(super::display::now_ns()) {
                if n.is_debug() {
                    pr_debug!("{who}: {n}{held}\n");
                } else {
                    pr_info!("{who}: {n}{held}\n");
                }
            }
        }
    }
}

/// A backend's MPT services for one vGPU.
pub(super) struct BackendMpt {
    ops: *const gvt_backend_ops,
    priv_: *mut c_void,
    /// The vGPU's id, for trace events.
    id: u32,
}

impl BackendMpt {
    fn ops(&self) -> &gvt_backend_ops {
        // SAFETY: `ops` comes from a registered backend, whose ops table outlives its vGPUs.
        unsafe { &*self.ops }
    }
}

impl MptOps for BackendMpt {
    fn read_gpa(&mut self, gpa: u64, buf: &mut [u8]) -> ModelResult {
        let f = self.ops().read_gpa.ok_or(GvtError::NotSupported)?;
        // SAFETY: the backend's service, with its own pointer and a buffer of `len` bytes.
        model_from_c(unsafe { f(self.priv_, gpa, buf.as_mut_ptr().cast(), buf.len()) })
    }

    fn write_gpa(&mut self, gpa: u64, buf: &[u8]) -> ModelResult {
        let f = self.ops().write_gpa.ok_or(GvtError::NotSupported)?;
        // SAFETY: as in `read_gpa`.
        model_from_c(unsafe { f(self.priv_, gpa, buf.as_ptr().cast(), buf.len()) })
    }

    fn dma_map_guest_page(&mut self, gfn: u64, size: u64) -> ModelResult<u64> {
        let f = self
            .ops()
            .dma_map_guest_page
            .ok_or(GvtError::NotSupported)?;
        let mut dma = 0u64;
        // SAFETY: the backend's service; `dma` is a valid out-pointer.
        model_from_c(unsafe { f(self.priv_, gfn, size, &mut dma) })?;
        Ok(dma)
    }

    fn dma_unmap_guest_page(&mut self, dma: u64) {
        if let Some(f) = self.ops().dma_unmap_guest_page {
            // SAFETY: the backend's service.
            unsafe { f(self.priv_, dma) };
        }
    }

    fn inject_msi(&mut self, addr: u64, data: u32) -> ModelResult {
        let f = self.ops().inject_msi.ok_or(GvtError::NotSupported)?;
        // SAFETY: the backend's service.
        let r = model_from_c(unsafe { f(self.priv_, addr, data) });
        trace::inject_msi(self.id, addr, data, &r);
        r
    }

    fn set_trap_area(&mut self, start: u64, end: u64, trap: bool) -> ModelResult {
        match self.ops().set_trap_area {
            // SAFETY: the backend's service.
            Some(f) => model_from_c(unsafe { f(self.priv_, start, end, trap) }),
            // Optional: VFIO traps BAR0 through its region, whatever the guest maps.
            None => Ok(()),
        }
    }

    fn page_track_supported(&self) -> bool {
        self.ops().page_track_supported.is_some_and(|f| {
            // SAFETY: the backend's service.
            unsafe { f(self.priv_) }
        })
    }

    fn page_track_add(&mut self, gfn: u64) -> ModelResult {
        let f = self.ops().page_track_add.ok_or(GvtError::NotSupported)?;
        // SAFETY: the backend's service.
        model_from_c(unsafe { f(self.priv_, gfn) })
    }

    fn page_track_remove(&mut self, gfn: u64) {
        if let Some(f) = self.ops().page_track_remove {
            // SAFETY: the backend's service.
            unsafe { f(self.priv_, gfn) };
        }
    }

    fn map_aperture(&mut self, gfn: u64, mfn: u64, nr: u64, map: bool) -> ModelResult {
        match self.ops().map_aperture {
            // SAFETY: the backend's service.
            Some(f) => model_from_c(unsafe { f(self.priv_, gfn, mfn, nr, map) }),
            // Optional: VFIO maps the aperture through its region's mmap.
            None => Ok(()),
        }
    }

    fn aperture_invalidate(&mut self, gm: u64, size: u64) {
        if let Some(f) = self.ops().aperture_invalidate {
            // SAFETY: the backend's service.
            unsafe { f(self.priv_, gm, size) };
        }
    }
}

/// What `struct gvt_vgpu *` points to.
#[pin_data]
pub(super) struct VgpuHandle {
    dev: *const GvtDevice,
    ops: *const gvt_backend_ops,
    priv_: *mut c_void,
    /// `None` only while being created or destroyed. Boxed: the state is kilobytes, and moving
    /// it through the frames that create and destroy it would take the kernel stack.
    #[pin]
    pub(super) state: Mutex<Option<KBox<VgpuState>>>,
    /// Guest memory the backend mapped for the GPU.
    #[pin]
    pub(super) grants: Mutex<Grants>,
    /// The vGPU's aperture slice (start, size), set once at creation: aperture accesses come
    /// from page faults and must not wait for `state`.
    aperture: (AtomicU64, AtomicU64),
    /// The vGPU's id (0 until it is created), for trace events outside its lock.
    id: AtomicU32,
    /// Its debugfs directory (`debugfs::add`), null if none; set once it is fully created,
    /// taken when it is destroyed.
    debugfs: AtomicPtr<c_void>,
}

// SAFETY: the device outlives its vGPUs, the ops table its backend's registration, and `priv_`
// is only handed back to the backend; the core state is behind the mutex.
unsafe impl Send for VgpuHandle {}
// SAFETY: see `Send`.
unsafe impl Sync for VgpuHandle {}

impl VgpuHandle {
    pub(super) fn mpt(&self) -> BackendMpt {
        BackendMpt {
            ops: self.ops,
            priv_: self.priv_,
            id: self.id.load(Ordering::Relaxed),
        }
    }

    /// The vGPU's id (0 while it is being created).
    pub(super) fn id(&self) -> u32 {
        self.id.load(Ordering::Relaxed)
    }

    pub(super) fn device(&self) -> &GvtDevice {
        // SAFETY: a device outlives its vGPUs (backends destroy them before `device_removed`).
        unsafe { &*self.dev }
    }

    /// The vGPU's aperture slice.
    pub(super) fn aperture(&self) -> Span {
        Span {
            start: self.aperture.0.load(Ordering::Relaxed),
            size: self.aperture.1.load(Ordering::Relaxed),
        }
    }
}

fn create(
    be: *const gvt_backend,
    gd: *mut gvt_device,
    config: &VgpuConfig,
    priv_: *mut c_void,
) -> Result<*mut gvt_vgpu> {
    // The backend is the caller's own, registered one (ABI contract). Not checked against the
    // registry: backends call this under their own locks, which the registry lock nests
    // outside of (device_added runs under it).
    // SAFETY: the caller passes null or its valid backend.
    let be = unsafe { be.as_ref() }.ok_or(EINVAL)?;
    if be.abi_version != GVT_MPT_ABI_VERSION || be.ops.is_null() {
        return Err(EINVAL);
    }
    let ops = be.ops;
    // SAFETY: the caller passes a live device (ABI contract).
    let dev = unsafe { device(gd) };
    // The state's home, before anything exists that a failure would have to undo.
    let home = KBox::<VgpuState>::new_uninit(GFP_KERNEL)?;
    let (store, exec_store) = dev
        .spares
        .lock()
        .take(Gvt::ggtt_entries_for(config).map_err(to_kernel_error)?)?;
    let exec = Exec::new(exec_store).map_err(|(e, _)| to_kernel_error(e))?;
    // The handle first, so that nothing can fail once the vGPU exists but scheduling.
    let handle = KBox::pin_init(
        pin_init!(VgpuHandle {
            dev: ptr::from_ref(dev),
            ops,
            priv_,
            state <- new_mutex!(None, "gvt_vgpu"),
            grants <- new_mutex!(Grants::new(), "gvt_vgpu::grants"),
            aperture: (AtomicU64::new(0), AtomicU64::new(0)),
            id: AtomicU32::new(0),
            debugfs: AtomicPtr::new(ptr::null_mut()),
        }),
        GFP_KERNEL,
    )?;
    let vgpu = dev
        .gvt
        .lock()
        .create_vgpu(dev.host.gpu(), config, store)
        .map_err(|(e, _store)| to_kernel_error(e))?;
    let id = vgpu.id().get();
    // Published with the handle, which C gets only when this returns.
    let low = vgpu.partition().low;
    handle.aperture.0.store(low.start, Ordering::Relaxed);
    handle.aperture.1.store(low.size, Ordering::Relaxed);
    handle.id.store(id, Ordering::Relaxed);
    let scanner = Gen9Scanner::new(dev.host.gpu().info().platform, *vgpu.partition());
    *handle.state.lock() = Some(install(home, vgpu, exec, scanner, backend_name(be)));
    if let Err(e) = exec::add(dev, &handle, id, config.weight) {
        if let Some(st) = handle.state.lock().take() {
            retire(dev, &handle, st);
        }
        return Err(e);
    }
    // SAFETY: the handle lives until `gvt_vgpu_destroy`, which removes the directory first.
    let dir = unsafe { super::debugfs::add(id, &handle) };
    handle.debugfs.store(dir, Ordering::Release);
    // SAFETY: the handle is never moved: C holds the pointer and `destroy` re-pins it.
    Ok(KBox::into_raw(unsafe { Pin::into_inner_unchecked(handle) }).cast())
}

/// Writes the result of a creation to `*out`.
///
/// # Safety
///
/// `out` is null or writable.
unsafe fn created(r: Result<*mut gvt_vgpu>, out: *mut *mut gvt_vgpu) -> c_int {
    match r {
        Ok(v) => {
            // SAFETY: checked non-null by the callers, writable per the contract.
            unsafe { *out = v };
            0
        }
        Err(e) => e.to_errno(),
    }
}

/// Creates a vGPU of a type; see `include/gvt/mpt.h`.
///
/// # Safety
///
/// `be` and `gd` as for `gvt_vgpu_create`; `vgpu` is null or writable.
#[no_mangle]
pub(crate) unsafe extern "C" fn gvt_vgpu_create_typed(
    be: *const gvt_backend,
    gd: *mut gvt_device,
    type_idx: u32,
    priv_: *mut c_void,
    vgpu: *mut *mut gvt_vgpu,
) -> c_int {
    if vgpu.is_null() || gd.is_null() {
        return EINVAL.to_errno();
    }
    // SAFETY: the caller passes a live device.
    let types = unsafe { device(gd) }.gvt.lock().types();
    let r = match usize::try_from(type_idx).ok().and_then(|i| types.get(i)) {
        Some(t) => create(be, gd, &t.config, priv_),
        None => Err(EINVAL),
    };
    // SAFETY: `vgpu` is non-null and writable.
    unsafe { created(r, vgpu) }
}

/// Creates a vGPU of a free-form size; see `include/gvt/mpt.h`.
///
/// # Safety
///
/// `be` is null or a backend; `gd` is a live device pointer; `params` is null or valid; `vgpu`
/// is null or writable.
#[no_mangle]
pub(crate) unsafe extern "C" fn gvt_vgpu_create(
    be: *const gvt_backend,
    gd: *mut gvt_device,
    params: *const gvt_vgpu_params,
    priv_: *mut c_void,
    vgpu: *mut *mut gvt_vgpu,
) -> c_int {
    if vgpu.is_null() || gd.is_null() {
        return EINVAL.to_errno();
    }
    // SAFETY: the caller passes null or valid params.
    let r = match unsafe { params.as_ref() } {
        Some(p) => {
            let config = VgpuConfig {
                resources: Request {
                    low_gm: p.low_gm_size,
                    high_gm: p.high_gm_size,
                    fences: p.fences,
                },
                weight: p.weight,
                resolution: Resolution::R1024x768,
            };
            create(be, gd, &config, priv_)
        }
        None => Err(EINVAL),
    };
    // SAFETY: `vgpu` is non-null and writable.
    unsafe { created(r, vgpu) }
}

/// Destroys a vGPU: its host GGTT entries and fences are cleared, its partition freed.
///
/// # Safety
///
/// `vgpu` is null or came from a `gvt_vgpu_create*` and was not destroyed yet.
#[no_mangle]
pub(crate) unsafe extern "C" fn gvt_vgpu_destroy(vgpu: *mut gvt_vgpu) {
    if vgpu.is_null() {
        return;
    }
    // SAFETY: per the contract, `vgpu` is a pinned `KBox<VgpuHandle>` leaked by `create`.
    let handle = unsafe { Pin::new_unchecked(KBox::from_raw(vgpu.cast::<VgpuHandle>())) };
    // First: no debugfs read may start after this, and the ones in progress are over.
    // SAFETY: what `create` stored, taken out here only, so removed once.
    unsafe { super::debugfs::remove(handle.debugfs.swap(ptr::null_mut(), Ordering::AcqRel)) };
    let dev = handle.device();
    let id = handle
        .state
        .lock()
        .as_ref()
        .map_or(0, |st| st.vgpu.id().get());
    exec::remove(dev, &handle, id);
    let taken = handle.state.lock().take();
    if let Some(st) = taken {
        super::display::disable_planes(dev, &handle, &st);
        retire(dev, &handle, st);
    }
}

/// Moves a new vGPU's state into its home. Out of line, so that only this frame holds the
/// state on the stack.
#[inline(never)]
fn install(
    home: KBox<MaybeUninit<VgpuState>>,
    vgpu: Vgpu<Storage>,
    exec: Exec<ExecStore>,
    scanner: Gen9Scanner,
    backend: &[u8],
) -> KBox<VgpuState> {
    KBox::write(home, VgpuState::new(vgpu, exec, scanner, backend))
}

/// Gives a vGPU's resources back to its GPU and keeps its buffers for the next one if its
/// execution half was reset (`exec::remove`); if anything survived, the buffers go. Out of
/// line, so that only this frame holds the unboxed state.
#[inline(never)]
fn retire(dev: &GvtDevice, handle: &VgpuHandle, st: KBox<VgpuState>) {
    let mut st = KBox::into_inner(st);
    let store = dev
        .gvt
        .lock()
        .destroy_vgpu(dev.host.gpu(), &mut handle.mpt(), st.vgpu);
    if st.exec.is_clean() {
        dev.spares.lock().give(store, st.exec.into_storage());
    }
}

/// # Safety
///
/// `vgpu` came from a `gvt_vgpu_create*` and was not destroyed yet.
pub(super) unsafe fn handle<'a>(vgpu: *mut gvt_vgpu) -> &'a VgpuHandle {
    // SAFETY: per the contract.
    unsafe { &*vgpu.cast::<VgpuHandle>() }
}

/// The vGPU's id.
///
/// # Safety
///
/// `vgpu` came from a `gvt_vgpu_create*` and was not destroyed yet.
#[no_mangle]
pub(crate) unsafe extern "C" fn gvt_vgpu_id(vgpu: *mut gvt_vgpu) -> u32 {
    // SAFETY: per the contract.
    let h = unsafe { handle(vgpu) };
    h.state.lock().as_deref().map_or(0, |st| st.vgpu.id().get())
}

/// The vGPU's debugfs directory, or null; see `include/gvt/mpt.h`.
///
/// # Safety
///
/// `vgpu` came from a `gvt_vgpu_create*` and was not destroyed yet.
#[no_mangle]
pub(crate) unsafe extern "C" fn gvt_vgpu_debugfs_dir(
    vgpu: *mut gvt_vgpu,
) -> *mut super::abi::dentry {
    if vgpu.is_null() {
        return ptr::null_mut();
    }
    // SAFETY: per the contract.
    unsafe { handle(vgpu) }
        .debugfs
        .load(Ordering::Acquire)
        .cast()
}

/// Names the vGPU for the host log; see `include/gvt/mpt.h`.
///
/// # Safety
///
/// `vgpu` as for `gvt_vgpu_id`; `name` is null or a NUL-terminated string.
#[no_mangle]
pub(crate) unsafe extern "C" fn gvt_vgpu_set_name(vgpu: *mut gvt_vgpu, name: *const u8) -> c_int {
    if name.is_null() {
        return EINVAL.to_errno();
    }
    // SAFETY: `name` is NUL-terminated (contract); at most the first GVT_VGPU_NAME_LEN bytes
    // are read.
    let bytes = unsafe { c_bytes(name, GVT_VGPU_NAME_LEN as usize) };
    if bytes.len() == GVT_VGPU_NAME_LEN as usize {
        return EINVAL.to_errno();
    }
    // SAFETY: forwarded contract.
    unsafe {
        with_vgpu(vgpu, |_, st| {
            st.identity.name(bytes);
            Ok(())
        })
    }
}

/// `DRM_PLANE_TYPE_PRIMARY` and `_CURSOR` (include/drm/drm_plane.h).
const DRM_PLANE_TYPE_PRIMARY: u32 = 1;
const DRM_PLANE_TYPE_CURSOR: u32 = 2;

/// Largest access the device has (a GGTT entry).
const MAX_ACCESS: u32 = 8;

/// Runs `f` on the vGPU and a copy of the caller's buffer, copied back if `read`; -EINVAL for
/// a null or oversized buffer. The copy means a guest-visible buffer is read exactly once.
/// `bar0`: the access is the BAR0 trap at that offset, fired as a `mmio_trap` event.
///
/// # Safety
///
/// `vgpu` as for `gvt_vgpu_id`; `buf` is null or readable for `len` bytes, and writable too if
/// `read`.
unsafe fn access(
    vgpu: *mut gvt_vgpu,
    buf: *mut u8,
    len: u32,
    read: bool,
    bar0: Option<u64>,
    f: impl FnOnce(&VgpuHandle, &mut VgpuState, &mut [u8]) -> ModelResult,
) -> c_int {
    if buf.is_null() || len == 0 || len > MAX_ACCESS {
        return EINVAL.to_errno();
    }
    // SAFETY: per the contract.
    let h = unsafe { handle(vgpu) };
    let mut bytes = [0u8; MAX_ACCESS as usize];
    let Some(b) = bytes.get_mut(..len as usize) else {
        return EINVAL.to_errno();
    };
    if !read {
        // SAFETY: `buf` is readable for `len` bytes.
        b.copy_from_slice(unsafe { core::slice::from_raw_parts(buf, b.len()) });
    }
    let r = match h.state.lock().as_deref_mut() {
        Some(st) => {
            let r = f(h, st, b);
            if let Some(offset) = bar0 {
                trace::mmio_trap(st.vgpu.id().get(), offset, b, !read, model_to_c(r));
            }
            st.report();
            r
        }
        None => Err(GvtError::NoDevice),
    };
    if read {
        // SAFETY: `buf` is writable for `len` bytes when `read`.
        unsafe { ptr::copy_nonoverlapping(b.as_ptr(), buf, b.len()) };
    }
    model_to_c(r)
}

/// Emulates a config-space read.
///
/// # Safety
///
/// `vgpu` as for `gvt_vgpu_id`; `buf` is null or writable for `len` bytes.
#[no_mangle]
pub(crate) unsafe extern "C" fn gvt_vgpu_cfg_read(
    vgpu: *mut gvt_vgpu,
    offset: u32,
    buf: *mut c_void,
    len: u32,
) -> c_int {
    // SAFETY: forwarded contract.
    unsafe {
        access(vgpu, buf.cast(), len, true, None, |_, st, b| {
            st.vgpu.cfg_read(offset, b)
        })
    }
}

/// Emulates a config-space write.
///
/// # Safety
///
/// `vgpu` as for `gvt_vgpu_id`; `buf` is null or readable for `len` bytes.
#[no_mangle]
pub(crate) unsafe extern "C" fn gvt_vgpu_cfg_write(
    vgpu: *mut gvt_vgpu,
    offset: u32,
    buf: *const c_void,
    len: u32,
) -> c_int {
    // SAFETY: forwarded contract; with `read` false, `buf` is only read.
    unsafe {
        access(vgpu, buf.cast_mut().cast(), len, false, None, |h, st, b| {
            st.vgpu.cfg_write(&mut h.mpt(), offset, b)?;
            exec::after_write(h.device(), h, st);
            Ok(())
        })
    }
}

/// Emulates a BAR0 read.
///
/// # Safety
///
/// `vgpu` as for `gvt_vgpu_id`; `buf` is null or writable for `len` bytes.
#[no_mangle]
pub(crate) unsafe extern "C" fn gvt_vgpu_mmio_read(
    vgpu: *mut gvt_vgpu,
    offset: u64,
    buf: *mut c_void,
    len: u32,
) -> c_int {
    // SAFETY: forwarded contract.
    unsafe {
        access(vgpu, buf.cast(), len, true, Some(offset), |_, st, b| {
            st.vgpu.mmio_read(offset, b)
        })
    }
}

/// Emulates a BAR0 write.
///
/// # Safety
///
/// `vgpu` as for `gvt_vgpu_id`; `buf` is null or readable for `len` bytes.
#[no_mangle]
pub(crate) unsafe extern "C" fn gvt_vgpu_mmio_write(
    vgpu: *mut gvt_vgpu,
    offset: u64,
    buf: *const c_void,
    len: u32,
) -> c_int {
    // SAFETY: forwarded contract; with `read` false, `buf` is only read.
    unsafe {
        access(
            vgpu,
            buf.cast_mut().cast(),
            len,
            false,
            Some(offset),
            |h, st, b| {
                // An interrupt register's value before and after, only while `write_ir` is on.
                let ir = trace::is_irq_reg(offset)
                    .filter(|_| trace::write_ir_enabled())
                    .map(|r| (r, st.vgpu.vreg(r)));
                st.vgpu
                    .mmio_write(h.device().host.gpu(), &mut h.mpt(), offset, b)?;
                if let Some((reg, old)) = ir {
                    let mut v = [0u8; 4];
                    for (d, s) in v.iter_mut().zip(b.iter()) {
                        *d = *s;
                    }
                    trace::write_ir(
                        st.vgpu.id().get(),
                        reg,
                        u32::from_le_bytes(v),
                        old,
                        st.vgpu.vreg(reg),
                    );
                }
                exec::after_write(h.device(), h, st);
                Ok(())
            },
        )
    }
}

/// Runs `f` on a live vGPU.
///
/// # Safety
///
/// `vgpu` as for `gvt_vgpu_id`.
unsafe fn with_vgpu(
    vgpu: *mut gvt_vgpu,
    f: impl FnOnce(&VgpuHandle, &mut VgpuState) -> ModelResult,
) -> c_int {
    // SAFETY: per the contract.
    let h = unsafe { handle(vgpu) };
    let r = match h.state.lock().as_deref_mut() {
        Some(st) => f(h, st),
        None => Err(GvtError::NoDevice),
    };
    model_to_c(r)
}

/// Describes the vGPU's PCI device for its backend.
///
/// # Safety
///
/// `vgpu` as for `gvt_vgpu_id`; `info` is null or writable.
#[no_mangle]
pub(crate) unsafe extern "C" fn gvt_vgpu_get_info(
    vgpu: *mut gvt_vgpu,
    info: *mut gvt_vgpu_info,
) -> c_int {
    // SAFETY: the caller passes null or a writable `struct gvt_vgpu_info`.
    let Some(out) = (unsafe { info.as_mut() }) else {
        return EINVAL.to_errno();
    };
    // SAFETY: forwarded contract.
    unsafe {
        with_vgpu(vgpu, |h, st| {
            let host = h.device().host.gpu().info();
            let low = st.vgpu.partition().low;
            let monitor = Mode::of(st.vgpu.config().resolution);
            *out = gvt_vgpu_info {
                bar0_size: host.bar0_size,
                aperture_size: host.aperture_size,
                aperture_slice_base: low.start,
                aperture_slice_size: low.size,
                opregion_size: u32::try_from(OPREGION_SIZE).unwrap_or(0),
                display_xres: monitor.hactive,
                display_yres: monitor.vactive,
                reserved: 0,
            };
            Ok(())
        })
    }
}

/// Reads the OpRegion.
///
/// # Safety
///
/// `vgpu` as for `gvt_vgpu_id`; `buf` is null or writable for `len` bytes.
#[no_mangle]
pub(crate) unsafe extern "C" fn gvt_vgpu_opregion_read(
    vgpu: *mut gvt_vgpu,
    offset: u32,
    buf: *mut c_void,
    len: u32,
) -> c_int {
    if buf.is_null() {
        return EINVAL.to_errno();
    }
    let read = |_: &VgpuHandle, st: &mut VgpuState| {
        let start = usize::try_from(offset).map_err(|_| GvtError::Invalid)?;
        let end = start
            .checked_add(usize::try_from(len).map_err(|_| GvtError::Invalid)?)
            .ok_or(GvtError::Invalid)?;
        let src = st
            .vgpu
            .opregion()
            .get(start..end)
            .ok_or(GvtError::Invalid)?;
        // SAFETY: `buf` is writable for `len` bytes (contract), `src` has `len` bytes.
        unsafe { ptr::copy_nonoverlapping(src.as_ptr(), buf.cast::<u8>(), src.len()) };
        Ok(())
    };
    // SAFETY: forwarded contract.
    unsafe { with_vgpu(vgpu, read) }
}

/// The guest attached: MSIs flow.
///
/// # Safety
///
/// `vgpu` as for `gvt_vgpu_id`.
#[no_mangle]
pub(crate) unsafe extern "C" fn gvt_vgpu_activate(vgpu: *mut gvt_vgpu) -> c_int {
    // SAFETY: forwarded contract.
    unsafe {
        with_vgpu(vgpu, |_, st| {
            st.vgpu.activate();
            Ok(())
        })
    }
}

/// The guest detached: no more MSIs, traps and aperture mappings undone.
///
/// # Safety
///
/// `vgpu` as for `gvt_vgpu_id`.
#[no_mangle]
pub(crate) unsafe extern "C" fn gvt_vgpu_deactivate(vgpu: *mut gvt_vgpu) -> c_int {
    // SAFETY: forwarded contract.
    unsafe { with_vgpu(vgpu, |h, st| st.vgpu.deactivate(&mut h.mpt())) }
}

/// Device-model level reset.
///
/// # Safety
///
/// `vgpu` as for `gvt_vgpu_id`.
#[no_mangle]
pub(crate) unsafe extern "C" fn gvt_vgpu_reset(vgpu: *mut gvt_vgpu) -> c_int {
    // SAFETY: forwarded contract.
    unsafe {
        with_vgpu(vgpu, |h, st| {
            st.exec.reset(&Submitter::new(h.device(), h), &mut h.mpt());
            let r = st
                .vgpu
                .reset(h.device().host.gpu(), &mut h.mpt(), Reset::DeviceModel);
            // A reset turns the vGPU's own planes off on the host.
            exec::after_write(h.device(), h, st);
            // The log sees the vGPU out of failsafe: a new entry is logged, whatever its cause.
            st.report();
            r
        })
    }
}

/// A trapped guest write to a tracked page; see `include/gvt/mpt.h`. The shadow page tables
/// follow it; a write the hypervisor did not perform (ACRN) is committed here.
///
/// # Safety
///
/// `vgpu` as for `gvt_vgpu_id`; `buf` is null or readable for `len` bytes.
#[no_mangle]
pub(crate) unsafe extern "C" fn gvt_vgpu_page_track_write(
    vgpu: *mut gvt_vgpu,
    gpa: u64,
    buf: *const c_void,
    len: u32,
    committed: bool,
) -> c_int {
    if buf.is_null() || len == 0 || len > MAX_ACCESS {
        return EINVAL.to_errno();
    }
    // SAFETY: `buf` is readable for `len` bytes (contract), at most `MAX_ACCESS`.
    let data = unsafe { core::slice::from_raw_parts(buf.cast::<u8>(), len as usize) };
    // SAFETY: forwarded contract.
    unsafe {
        with_vgpu(vgpu, |h, st| {
            let sub = Submitter::new(h.device(), h);
            let r = st
                .exec
                .page_write(&mut st.vgpu, &sub, &mut h.mpt(), gpa, data, committed);
            st.report();
            r
        })
    }
}

/// The backend mapped `[dma_addr, dma_addr + size)` for the vGPU's guest; see
/// `include/gvt/mpt.h`.
///
/// # Safety
///
/// `vgpu` as for `gvt_vgpu_id`.
#[no_mangle]
pub(crate) unsafe extern "C" fn gvt_vgpu_dma_grant(
    vgpu: *mut gvt_vgpu,
    dma_addr: u64,
    size: u64,
) -> c_int {
    // SAFETY: per the contract.
    let h = unsafe { handle(vgpu) };
    super::to_c(h.grants.lock().grant(dma_addr, size))
}

/// The backend is about to unmap what it granted at `dma_addr`.
///
/// # Safety
///
/// `vgpu` as for `gvt_vgpu_id`.
#[no_mangle]
pub(crate) unsafe extern "C" fn gvt_vgpu_dma_revoke(vgpu: *mut gvt_vgpu, dma_addr: u64) {
    // SAFETY: per the contract.
    let h = unsafe { handle(vgpu) };
    h.grants.lock().revoke(dma_addr);
}

/// Makes the vGPU display domain `domain` for plane ownership (ACRN: the VM id; by default a
/// vGPU's domain is its id); see `include/gvt/mpt.h`.
///
/// # Safety
///
/// `vgpu` as for `gvt_vgpu_id`.
#[no_mangle]
pub(crate) unsafe extern "C" fn gvt_vgpu_set_display_domain(
    vgpu: *mut gvt_vgpu,
    domain: u32,
) -> c_int {
    // SAFETY: forwarded contract.
    unsafe {
        with_vgpu(vgpu, |h, st| {
            h.device()
                .gvt
                .lock()
                .bind_display_domain(&mut st.vgpu, domain);
            Ok(())
        })
    }
}

/// The plane the guest scans out; see `include/gvt/mpt.h`.
///
/// # Safety
///
/// `vgpu` as for `gvt_vgpu_id`; `info` is null or writable.
#[no_mangle]
pub(crate) unsafe extern "C" fn gvt_vgpu_query_plane(
    vgpu: *mut gvt_vgpu,
    drm_plane_type: u32,
    info: *mut gvt_plane_info,
) -> c_int {
    // SAFETY: the caller passes null or a writable `struct gvt_plane_info`.
    let Some(out) = (unsafe { info.as_mut() }) else {
        return EINVAL.to_errno();
    };
    let kind = match drm_plane_type {
        DRM_PLANE_TYPE_PRIMARY => PlaneKind::Primary,
        DRM_PLANE_TYPE_CURSOR => PlaneKind::Cursor,
        _ => return EINVAL.to_errno(),
    };
    // SAFETY: forwarded contract.
    unsafe {
        with_vgpu(vgpu, |_, st| {
            let p = st.vgpu.query_plane(kind)?;
            // VFIO takes whole pages from the surface's start.
            let size = p
                .size
                .checked_add(4095)
                .map(|s| s & !4095)
                .and_then(|s| u32::try_from(s).ok())
                .ok_or(GvtError::Invalid)?;
            if p.gm & 4095 != 0 {
                return Err(GvtError::Invalid);
            }
            let signed = |v: i32| u32::try_from(v).unwrap_or(0);
            *out = gvt_plane_info {
                drm_format: p.drm_format,
                reserved: 0,
                modifier: p.tiling.modifier(),
                width: p.width,
                height: p.height,
                stride: p.stride,
                size,
                x_pos: signed(p.x_pos),
                y_pos: signed(p.y_pos),
                x_hot: p.x_hot,
                y_hot: p.y_hot,
                gm: p.gm,
            };
            Ok(())
        })
    }
}

/// The DMA addresses behind `npages` pages of the vGPU's graphics memory from `gm`; see
/// `include/gvt/mpt.h`.
///
/// # Safety
///
/// `vgpu` as for `gvt_vgpu_id`; `dma_addr` is null or writable for `npages` entries.
#[no_mangle]
pub(crate) unsafe extern "C" fn gvt_vgpu_gm_pages(
    vgpu: *mut gvt_vgpu,
    gm: u64,
    npages: u32,
    dma_addr: *mut u64,
) -> c_int {
    if dma_addr.is_null() || npages == 0 || gm & 4095 != 0 {
        return EINVAL.to_errno();
    }
    // SAFETY: writable for `npages` entries (contract).
    let out = unsafe { core::slice::from_raw_parts_mut(dma_addr, npages as usize) };
    // SAFETY: forwarded contract.
    unsafe {
        with_vgpu(vgpu, |h, st| {
            let bytes = u64::from(npages)
                .checked_mul(4096)
                .ok_or(GvtError::Invalid)?;
            if !st.vgpu.partition().owns_gm(gm, bytes) {
                return Err(GvtError::Invalid);
            }
            let host = h.device().host.gpu();
            let scratch = host.info().scratch_page & GTT_ADDR_MASK;
            for (slot, index) in out.iter_mut().zip(gm / 4096..) {
                let pte = host.ggtt_read(index);
                let addr = pte & GTT_ADDR_MASK;
                if pte & GEN8_PAGE_PRESENT == 0 || addr == scratch {
                    return Err(GvtError::Fault);
                }
                *slot = addr;
            }
            Ok(())
        })
    }
}

/// Copies the monitor's EDID into `buf`; returns its size. See `include/gvt/mpt.h`.
///
/// # Safety
///
/// `vgpu` as for `gvt_vgpu_id`; `buf` is null or writable for `len` bytes.
#[no_mangle]
pub(crate) unsafe extern "C" fn gvt_vgpu_get_edid(
    vgpu: *mut gvt_vgpu,
    buf: *mut c_void,
    len: u32,
) -> c_int {
    if buf.is_null() {
        return EINVAL.to_errno();
    }
    let mut size = 0usize;
    let copy = |_: &VgpuHandle, st: &mut VgpuState| {
        let edid = st.vgpu.edid();
        if edid.len() > len as usize {
            return Err(GvtError::NoSpace);
        }
        // SAFETY: `buf` is writable for `len` bytes (contract), at least `edid.len()`.
        unsafe { ptr::copy_nonoverlapping(edid.as_ptr(), buf.cast::<u8>(), edid.len()) };
        size = edid.len();
        Ok(())
    };
    // SAFETY: forwarded contract.
    match unsafe { with_vgpu(vgpu, copy) } {
        0 => c_int::try_from(size).unwrap_or(0),
        e => e,
    }
}

/// Gives the monitor an EDID, or its own back for a null `edid`. See `include/gvt/mpt.h`.
///
/// # Safety
///
/// `vgpu` as for `gvt_vgpu_id`; `edid` is null or readable for `size` bytes.
#[no_mangle]
pub(crate) unsafe extern "C" fn gvt_vgpu_set_edid(
    vgpu: *mut gvt_vgpu,
    edid: *const c_void,
    size: u32,
) -> c_int {
    if size as usize > EDID_MAX_SIZE {
        return EINVAL.to_errno();
    }
    // A copy: what is validated is what the monitor gets.
    let mut blob = [0u8; EDID_MAX_SIZE];
    let blob = match (edid.is_null(), blob.get_mut(..size as usize)) {
        (true, _) => None,
        (false, Some(b)) => {
            // SAFETY: `edid` is readable for `size` bytes (contract), `b` has `size` bytes.
            unsafe { ptr::copy_nonoverlapping(edid.cast::<u8>(), b.as_mut_ptr(), b.len()) };
            Some(&*b)
        }
        (false, None) => return EINVAL.to_errno(),
    };
    // SAFETY: forwarded contract.
    unsafe { with_vgpu(vgpu, |_, st| st.vgpu.set_edid(blob)) }
}

/// Plugs the monitor in or out. See `include/gvt/mpt.h`.
///
/// # Safety
///
/// `vgpu` as for `gvt_vgpu_id`.
#[no_mangle]
pub(crate) unsafe extern "C" fn gvt_vgpu_set_link(vgpu: *mut gvt_vgpu, up: bool) -> c_int {
    // SAFETY: forwarded contract.
    unsafe { with_vgpu(vgpu, |h, st| st.vgpu.display_hotplug(&mut h.mpt(), up)) }
}
