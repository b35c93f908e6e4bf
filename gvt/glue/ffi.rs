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
    pub(crate) fn gvt_clock_create(f: unsafe extern "C" fn(*mut c_void), data: *mut c_void) -> *mut c_void;
    /// Queues the clock to run after `delay_ns`, unless a run is pending.
    pub(crate) fn gvt_clock_arm(c: *mut c_void, delay_ns: u64);
    /// Queues the clock to run after `delay_ns`, replacing a pending run.
    pub(crate) fn gvt_clock_rearm(c: *mut c_void, delay_ns: u64);
    /// Cancels the clock (waiting for a running tick) and frees it.
    pub(crate) fn gvt_clock_destroy(c: *mut c_void);
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
    pub(crate) fn gvt_sim_worker_create(f: unsafe extern "C" fn(*mut c_void), data: *mut c_void) -> *mut c_void;
    /// Queues the worker (a no-op while it is pending; it runs again if it is running).
    #[cfg(gvt_sim)]
    pub(crate) fn gvt_sim_worker_kick(w: *mut c_void);
    /// Waits until the worker is idle.
    #[cfg(gvt_sim)]
    pub(crate) fn gvt_sim_worker_flush(w: *mut c_void);
    /// Stops and frees the worker.
    #[cfg(gvt_sim)]
    pub(crate) fn gvt_sim_worker_destroy(w: *mut c_void);
}
