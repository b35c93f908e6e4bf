//! C functions of gvt.ko's own shims (`gvt/glue/shim.h`), as Rust sees them. Kernel objects
//! cross as opaque pointers.

use core::ffi::{c_int, c_void};

extern "C" {
    /// `vzalloc()`: zeroed vmalloc memory, or null.
    pub(crate) fn gvt_vzalloc(size: usize) -> *mut c_void;
    /// `vfree()`.
    pub(crate) fn gvt_vfree(p: *mut c_void);
    /// The `domain_plane_owners` module parameter: its bytes, their number in `*len`.
    pub(crate) fn gvt_param_domain_plane_owners(len: *mut usize) -> *const u8;
    /// The `avail_planes_per_pipe` module parameter, likewise.
    pub(crate) fn gvt_param_avail_planes_per_pipe(len: *mut usize) -> *const u8;
    /// A delayed work item running `f(data)`, idle until armed.
    pub(crate) fn gvt_clock_create(
        f: unsafe extern "C" fn(*mut c_void),
        data: *mut c_void,
    ) -> *mut c_void;
    /// Queues the clock to run after `delay_ns`, unless a run is pending.
    pub(crate) fn gvt_clock_arm(c: *mut c_void, delay_ns: u64);
    /// Queues the clock to run after `delay_ns`, replacing a pending run.
    pub(crate) fn gvt_clock_rearm(c: *mut c_void, delay_ns: u64);
    /// Runs a pending tick now and waits for it (and one in progress) to end.
    pub(crate) fn gvt_clock_sync(c: *mut c_void);
    /// Cancels the clock (waiting for a running tick) and frees it.
    pub(crate) fn gvt_clock_destroy(c: *mut c_void);
    /// `debugfs_create_dir("gvt", NULL)`, or null.
    pub(crate) fn gvt_debugfs_root_create() -> *mut c_void;
    /// `<dev_name(dev)>/` in `root` with a read-only `info` file whose show callback calls
    /// `gvt_gpu_debugfs_show(gpu, m)`; the directory, or null.
    pub(crate) fn gvt_debugfs_gpu_create(
        root: *mut c_void,
        dev: *mut c_void,
        gpu: *mut c_void,
    ) -> *mut c_void;
    /// `vgpu<id>/` in `root` with read-only `stats`, `status` and `mmio_diff` files whose show
    /// callbacks call `gvt_vgpu_debugfs_show(vgpu, m, which)`, and the read-write
    /// `scan_nonprivbb` (`gvt_vgpu_debugfs_scan_nonprivbb`); the directory, or null.
    pub(crate) fn gvt_debugfs_vgpu_create(
        root: *mut c_void,
        id: u32,
        vgpu: *mut c_void,
    ) -> *mut c_void;
    /// `debugfs_remove()`: the entry and what is in it, after reads in progress end; null is
    /// ignored.
    pub(crate) fn gvt_debugfs_remove(d: *mut c_void);
    /// `seq_write()`: 0, or -1 when the buffer overflowed (the show is called again).
    pub(crate) fn gvt_seq_write(m: *mut c_void, p: *const u8, len: usize) -> c_int;
    /// Fires the `gvt:mmio_trap` event (`gvt/glue/trace.h`, as are the ones below).
    pub(crate) fn gvt_trace_mmio_trap(
        id: u32,
        offset: u64,
        bytes: u32,
        write: bool,
        value: u64,
        ret: c_int,
    );
    /// `gvt:workload_submit`.
    pub(crate) fn gvt_trace_workload_submit(
        id: u32,
        engine: u32,
        tag: u32,
        context: u64,
        ring: u64,
        ring_len: u32,
        ret: c_int,
    );
    /// `gvt:workload_complete`.
    pub(crate) fn gvt_trace_workload_complete(
        id: u32,
        engine: u32,
        tag: u32,
        hang: bool,
        ret: c_int,
    );
    /// `gvt:gvt_command`; `command` is readable for `command_len` bytes (no NUL needed).
    pub(crate) fn gvt_trace_gvt_command(
        id: u32,
        engine: u32,
        ring_bytes: u32,
        result: c_int,
        user_interrupts: u32,
        stop_at: i64,
        command: *const u8,
        command_len: u32,
        header: u32,
        at: u32,
    );
    /// Whether `gvt:write_ir` is on.
    pub(crate) fn gvt_trace_write_ir_enabled() -> bool;
    /// `gvt:write_ir`.
    pub(crate) fn gvt_trace_write_ir(id: u32, reg: u32, written: u32, old: u32, new: u32);
    /// `gvt:propagate_event`.
    pub(crate) fn gvt_trace_propagate_event(id: u32, iir: u32, bit: u32);
    /// `gvt:inject_msi`.
    pub(crate) fn gvt_trace_inject_msi(id: u32, address: u64, data: u32, ret: c_int);
    /// Whether `gvt:render_mmio` is on.
    pub(crate) fn gvt_trace_render_mmio_enabled() -> bool;
    /// `gvt:render_mmio`.
    pub(crate) fn gvt_trace_render_mmio(
        old_owner: u32,
        new_owner: u32,
        engine: u32,
        reg: u32,
        value: u32,
    );
    /// Whether any of the shadow PPGTT events or `gvt:propagate_event` is on.
    pub(crate) fn gvt_trace_state_enabled() -> bool;
    /// `gvt:spt_alloc`.
    pub(crate) fn gvt_trace_spt_alloc(id: u32, count: u64, live: u64);
    /// `gvt:spt_free`.
    pub(crate) fn gvt_trace_spt_free(id: u32, count: u64, live: u64);
    /// `gvt:spt_change`.
    pub(crate) fn gvt_trace_spt_change(id: u32, trapped: u64, updated: u64, revalidated: u64);
    /// `gvt:oos_change`.
    pub(crate) fn gvt_trace_oos_change(id: u32, count: u64, live: u64);
    /// `gvt:oos_sync`.
    pub(crate) fn gvt_trace_oos_sync(id: u32, count: u64, live: u64);
    /// Turns `gvt:mmio_trap` on or off (`trace_set_clr_event`): 0 or a negative errno.
    #[cfg(gvt_kunit)]
    pub(crate) fn gvt_trace_set_mmio_trap(on: bool) -> c_int;
    /// The `sim_platform` module parameter (`len` receives its length).
    #[cfg(gvt_sim)]
    pub(crate) fn gvt_sim_param_platform(len: *mut usize) -> *const u8;
    /// Registers the sim GPU's platform driver and device; `*dev` receives its struct device.
    #[cfg(gvt_sim)]
    pub(crate) fn gvt_sim_register(dev: *mut *mut c_void) -> c_int;
    /// Unregisters what `gvt_sim_register` registered.
    #[cfg(gvt_sim)]
    pub(crate) fn gvt_sim_unregister(dev: *mut c_void);
    /// `pages` zeroed, physically contiguous pages; `*addr` receives their physical address.
    #[cfg(gvt_sim)]
    pub(crate) fn gvt_sim_pages_alloc(pages: u32, addr: *mut u64) -> c_int;
    /// Frees what `gvt_sim_pages_alloc` returned.
    #[cfg(gvt_sim)]
    pub(crate) fn gvt_sim_pages_free(addr: u64, pages: u32);
    /// Copies `len` bytes between `buf` and RAM at physical `addr`; false if a page is not RAM.
    #[cfg(gvt_sim)]
    pub(crate) fn gvt_sim_mem_rw(addr: u64, buf: *mut c_void, len: usize, write: bool) -> bool;
    /// An ordered workqueue running `f(data)` whenever kicked.
    #[cfg(gvt_sim)]
    pub(crate) fn gvt_sim_worker_create(
        f: unsafe extern "C" fn(*mut c_void),
        data: *mut c_void,
    ) -> *mut c_void;
    /// Queues the worker (a no-op while it is pending; it runs again if it is running).
    #[cfg(gvt_sim)]
    pub(crate) fn gvt_sim_worker_kick(w: *mut c_void);
    /// Called by the worker between rounds: sleeps a moment if `idle` (nothing completed),
    /// else only lets others run.
    #[cfg(gvt_sim)]
    pub(crate) fn gvt_sim_worker_rest(idle: bool);
    /// Waits until the worker is idle.
    #[cfg(gvt_sim)]
    pub(crate) fn gvt_sim_worker_flush(w: *mut c_void);
    /// Stops and frees the worker.
    #[cfg(gvt_sim)]
    pub(crate) fn gvt_sim_worker_destroy(w: *mut c_void);
    /// Hands i915 gvt.ko's `struct intel_vgpu_ops` (`intel_gvt_set_ops`).
    #[cfg(gvt_i915)]
    pub(crate) fn gvt_i915_register() -> c_int;
    /// Takes them back (`intel_gvt_clear_ops`); i915 cleans every device it gave us first.
    #[cfg(gvt_i915)]
    pub(crate) fn gvt_i915_unregister();
    /// The device's facts, read when i915 handed it over.
    #[cfg(gvt_i915)]
    pub(crate) fn gvt_i915_get_facts(gpu: *mut c_void, facts: *mut GvtI915Facts);
    /// The 256-byte config space read when i915 handed the device over.
    #[cfg(gvt_i915)]
    pub(crate) fn gvt_i915_cfg_snapshot(gpu: *mut c_void) -> *const u8;
    /// Reads every register of i915's MMIO table into `dst` (2 MiB), forcewake held.
    #[cfg(gvt_i915)]
    pub(crate) fn gvt_i915_mmio_snapshot(gpu: *mut c_void, dst: *mut u32) -> c_int;
    /// The PCI device's struct device, with a reference for the caller.
    #[cfg(gvt_i915)]
    pub(crate) fn gvt_i915_dev(gpu: *mut c_void) -> *mut c_void;
    /// Drops the reference `gvt_i915_dev` took.
    #[cfg(gvt_i915)]
    pub(crate) fn gvt_i915_put_dev(dev: *mut c_void);
    /// GGTT entry `idx` as the hardware has it.
    #[cfg(gvt_i915)]
    pub(crate) fn gvt_i915_ggtt_read(gpu: *mut c_void, idx: u64) -> u64;
    /// Writes GGTT entry `idx`, only inside a vGPU's reservation.
    #[cfg(gvt_i915)]
    pub(crate) fn gvt_i915_ggtt_write(gpu: *mut c_void, idx: u64, pte: u64);
    /// Invalidates the GGTT TLBs (GFX_FLSH_CNTL), through i915.
    #[cfg(gvt_i915)]
    pub(crate) fn gvt_i915_ggtt_flush(gpu: *mut c_void);
    /// Writes the fence register reserved as host fence `idx`.
    #[cfg(gvt_i915)]
    pub(crate) fn gvt_i915_fence_write(gpu: *mut c_void, idx: u32, value: u64);
    /// Takes a vGPU's partition out of i915's GGTT allocator and fence pool.
    #[cfg(gvt_i915)]
    pub(crate) fn gvt_i915_reserve(gpu: *mut c_void, p: *const GvtI915Partition) -> c_int;
    /// Gives it back.
    #[cfg(gvt_i915)]
    pub(crate) fn gvt_i915_release(gpu: *mut c_void, p: *const GvtI915Partition);
    /// Maps `pages` DMA pages from `dma` at a free GGTT range above the aperture; `*gm` gets
    /// its graphics address.
    #[cfg(gvt_i915)]
    pub(crate) fn gvt_i915_ggtt_map(gpu: *mut c_void, dma: u64, pages: u32, gm: *mut u64) -> c_int;
    /// Takes the mapping at `gm` back (its entries point at scratch again).
    #[cfg(gvt_i915)]
    pub(crate) fn gvt_i915_ggtt_unmap(gpu: *mut c_void, gm: u64);
    /// GGTT entries mapped by `gvt_i915_ggtt_map` now.
    #[cfg(all(gvt_i915, gvt_kunit))]
    pub(crate) fn gvt_i915_ggtt_mapped(gpu: *mut c_void) -> u64;
    /// `size` bytes of zeroed, DMA-coherent memory for the GPU; `*dma` gets its address.
    #[cfg(gvt_i915)]
    pub(crate) fn gvt_i915_dma_alloc(gpu: *mut c_void, size: usize, dma: *mut u64) -> *mut c_void;
    /// Frees what `gvt_i915_dma_alloc` returned.
    #[cfg(gvt_i915)]
    pub(crate) fn gvt_i915_dma_free(gpu: *mut c_void, size: usize, va: *mut c_void, dma: u64);
    /// Copies `len` bytes between `buf` and the aperture at graphics address `gm`, within one
    /// page: 0, or -EINVAL outside the aperture.
    #[cfg(gvt_i915)]
    pub(crate) fn gvt_i915_aperture_rw(
        gpu: *mut c_void,
        gm: u64,
        buf: *mut c_void,
        len: u32,
        write: bool,
    ) -> c_int;
    /// Reads a register (below 2 MiB), with the forcewake it needs.
    #[cfg(gvt_i915)]
    pub(crate) fn gvt_i915_mmio_read(gpu: *mut c_void, offset: u32) -> u32;
    /// Writes a register (below 2 MiB), with the forcewake it needs.
    #[cfg(gvt_i915)]
    pub(crate) fn gvt_i915_mmio_write(gpu: *mut c_void, offset: u32, value: u32);
    /// Creates a request on engine `idx`'s shadow context; `*state` gets its context image.
    #[cfg(gvt_i915)]
    pub(crate) fn gvt_i915_request_begin(
        gpu: *mut c_void,
        idx: u32,
        state: *mut *mut c_void,
        state_len: *mut usize,
    ) -> c_int;
    /// Emits `len` bytes of `ring` (padded to `dwords`) and adds the request; null `ring`
    /// adds it empty and fails (the caller could not load the context).
    #[cfg(gvt_i915)]
    pub(crate) fn gvt_i915_request_commit(
        gpu: *mut c_void,
        idx: u32,
        ring: *const c_void,
        len: u32,
        dwords: u32,
    ) -> c_int;
    /// Events recorded for the request in flight on engine `idx` (0 if none).
    #[cfg(gvt_i915)]
    pub(crate) fn gvt_i915_events(gpu: *mut c_void, idx: u32) -> u32;
    /// The context image of engine `idx`'s shadow context.
    #[cfg(gvt_i915)]
    pub(crate) fn gvt_i915_context_state(
        gpu: *mut c_void,
        idx: u32,
        state: *mut *mut c_void,
        state_len: *mut usize,
    ) -> c_int;
    /// Frees engine `idx` for the next request.
    #[cfg(gvt_i915)]
    pub(crate) fn gvt_i915_retire(gpu: *mut c_void, idx: u32);
    /// Waits up to `timeout_ms` for the request in flight on engine `idx`.
    #[cfg(gvt_i915)]
    pub(crate) fn gvt_i915_wait(gpu: *mut c_void, idx: u32, timeout_ms: u32) -> core::ffi::c_long;
    /// Creates the device's ordered work item running `f(data)` and hooks the engines'
    /// context-status notifiers.
    #[cfg(gvt_i915)]
    pub(crate) fn gvt_i915_start(
        gpu: *mut c_void,
        f: unsafe extern "C" fn(*mut c_void),
        data: *mut c_void,
    ) -> c_int;
    /// Queues the work item.
    #[cfg(gvt_i915)]
    pub(crate) fn gvt_i915_kick_worker(gpu: *mut c_void);
    /// Waits until the work item is idle.
    #[cfg(gvt_i915)]
    pub(crate) fn gvt_i915_flush_worker(gpu: *mut c_void);
    /// Unhooks the notifiers and stops the work item.
    #[cfg(gvt_i915)]
    pub(crate) fn gvt_i915_stop(gpu: *mut c_void);
}

/// `struct gvt_i915_facts` (`gvt/glue/shim.h`).
#[cfg(gvt_i915)]
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub(crate) struct GvtI915Facts {
    pub(crate) bar0_size: u64,
    pub(crate) aperture_pa: u64,
    pub(crate) aperture_size: u64,
    pub(crate) ggtt_size: u64,
    pub(crate) scratch_pte: u64,
    pub(crate) fence_count: u32,
    pub(crate) vendor: u16,
    pub(crate) device: u16,
    pub(crate) subsystem_vendor: u16,
    pub(crate) subsystem_device: u16,
    pub(crate) revision: u8,
    pub(crate) engines: u8,
    pub(crate) reserved: [u8; 2],
}

/// `struct gvt_i915_partition` (`gvt/glue/shim.h`).
#[cfg(gvt_i915)]
#[repr(C)]
pub(crate) struct GvtI915Partition {
    pub(crate) id: u32,
    pub(crate) fence_first: u32,
    pub(crate) fence_count: u32,
    pub(crate) reserved: u32,
    pub(crate) low_start: u64,
    pub(crate) low_size: u64,
    pub(crate) high_start: u64,
    pub(crate) high_size: u64,
}

#[cfg(gvt_i915)]
const _: () = assert!(core::mem::size_of::<GvtI915Facts>() == 56);
#[cfg(gvt_i915)]
const _: () = assert!(core::mem::size_of::<GvtI915Partition>() == 48);
