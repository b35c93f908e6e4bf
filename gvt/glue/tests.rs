//! KUnit cases for gvt.ko's glue, run inside a real kernel when the module loads (the suite
//! table is in kunit.c). The core has its own host-side tests; these check what only a kernel
//! can: the sim device in the driver model, the MPT ABI as backends call it, and that the core
//! compiled by the kernel's rustc gives the answers the host build gives.

use core::ffi::{c_int, c_void};
use core::ptr;
use core::sync::atomic::{AtomicI32, AtomicU32, Ordering::Relaxed};

use kernel::{bindings, c_str, str::CStr};

use kernel::prelude::*;

use super::abi::{
    gvt_backend, gvt_backend_ops, gvt_device, gvt_type_info, gvt_vgpu, GVT_MPT_ABI_VERSION,
};
use super::aperture::{gvt_vgpu_aperture_pfn, gvt_vgpu_aperture_rw};
use super::devices::registry;
use super::ffi;
use super::guest::TransportExt;
use super::mpt_abi::{
    device, gvt_device_dev, gvt_device_type_available, gvt_device_type_count, gvt_device_type_info,
    gvt_register_backend, gvt_unregister_backend,
};
use super::vgpu::{
    gvt_vgpu_activate, gvt_vgpu_cfg_read, gvt_vgpu_cfg_write, gvt_vgpu_create_typed,
    gvt_vgpu_destroy, gvt_vgpu_dma_grant, gvt_vgpu_dma_revoke, gvt_vgpu_get_edid, gvt_vgpu_id,
    gvt_vgpu_mmio_read, gvt_vgpu_mmio_write, gvt_vgpu_set_edid, gvt_vgpu_set_link,
};
use super::{guest, modeset, probe, workload};
use crate::model::vgpu::{GGTT_MMIO_OFFSET, GTT_ADDR_MASK};

const EINVAL: c_int = -(bindings::EINVAL as c_int);
const EEXIST: c_int = -(bindings::EEXIST as c_int);
const EFAULT: c_int = -(bindings::EFAULT as c_int);
const ENOSPC: c_int = -(bindings::ENOSPC as c_int);
const MB: u64 = 1 << 20;
/// Index of `GVTg_V5_8` in the sim GPU's type table (`VGPU_TYPES`, smallest first).
const V5_8: u32 = 1;

macro_rules! kassert {
    ($cond:expr) => {
        kernel::kunit_assert!("gvt", "gvt/glue/tests.rs", 0, $cond)
    };
}

fn sim_handle() -> *mut gvt_device {
    registry()
        .and_then(|r| r.lock().devices.iter().flatten().next().map(|d| d.handle()))
        .unwrap_or(ptr::null_mut())
}

/// # Safety
///
/// `p` is a valid NUL-terminated string.
unsafe fn name_is(p: *const u8, want: &[u8]) -> bool {
    // SAFETY: forwarded contract.
    !p.is_null() && unsafe { CStr::from_char_ptr(p) }.as_bytes() == want
}

/// The sim GPU is a registered device, bound to the driver whose name mdev puts in type names.
#[no_mangle]
pub(crate) extern "C" fn gvt_kunit_sim_device(_test: *mut bindings::kunit) {
    let gd = sim_handle();
    kassert!(!gd.is_null());
    // SAFETY: `gd` is the sim device, registered while gvt.ko is loaded.
    let dev = unsafe { gvt_device_dev(gd) }.cast::<bindings::device>();
    kassert!(!dev.is_null());
    // SAFETY: `dev` is a registered device: its kobject name and driver are set and stable.
    unsafe {
        kassert!(name_is((*dev).kobj.name, b"gvt_sim.0"));
        kassert!(!(*dev).driver.is_null() && name_is((*(*dev).driver).name, b"i915"));
    }
}

/// The ABI reports the core's type table and accounting, bounds-checked.
#[no_mangle]
pub(crate) extern "C" fn gvt_kunit_types_match_core(_test: *mut bindings::kunit) {
    let gd = sim_handle();
    kassert!(!gd.is_null());
    let mut info = gvt_type_info::default();
    // SAFETY: `gd` is live; `info` is a writable `struct gvt_type_info`.
    unsafe {
        // 1 GiB aperture less the 128 MiB host reserve fits even GVTg_V5_1's 512 MiB.
        kassert!(gvt_device_type_count(gd) == 5);
        kassert!(gvt_device_type_info(gd, V5_8, &mut info) == 0);
        kassert!(info.name.starts_with(b"GVTg_V5_8\0"));
        kassert!(info.resolution.starts_with(b"1024x768\0"));
        kassert!(info.low_gm_size == 64 * MB && info.high_gm_size == 384 * MB);
        kassert!(info.fences == 4 && info.weight == 2);
        kassert!(gvt_device_type_info(gd, 5, &mut info) == EINVAL);
        kassert!(gvt_device_type_info(gd, u32::MAX, &mut info) == EINVAL);
        kassert!(gvt_device_type_info(gd, 0, ptr::null_mut()) == EINVAL);
        // GVTg_V5_16: high GM, (3072 MiB hidden - 384 reserved) / 160 = 16.
        kassert!(gvt_device_type_available(gd, 0) == 16);
        // High GM bounds GVTg_V5_8: 2688 / 384 = 7.
        kassert!(gvt_device_type_available(gd, V5_8) == 7);
        // GVTg_V5_1: low (896 / 512) = 1.
        kassert!(gvt_device_type_available(gd, 4) == 1);
        kassert!(gvt_device_type_available(gd, 5) == 0);
    }
}

static ADDED: AtomicU32 = AtomicU32::new(0);
static REMOVED: AtomicU32 = AtomicU32::new(0);

/// # Safety
///
/// `gd` is a live device (gvt.ko's `device_added` contract).
unsafe extern "C" fn count_added(gd: *mut gvt_device) -> c_int {
    // A backend may query the device it is offered.
    // SAFETY: gvt.ko passes a live device.
    if unsafe { gvt_device_type_count(gd) } > 0 {
        ADDED.fetch_add(1, Relaxed);
    }
    0
}

/// # Safety
///
/// None: the device is not touched.
unsafe extern "C" fn refuse(_gd: *mut gvt_device) -> c_int {
    -19
}

/// # Safety
///
/// None: the device is not touched.
unsafe extern "C" fn count_removed(_gd: *mut gvt_device) {
    REMOVED.fetch_add(1, Relaxed);
}

/// No callbacks: the base of the test backends' ops tables.
// SAFETY: every field is an `Option` of a function pointer, for which zeroes are `None`.
const NO_OPS: gvt_backend_ops = unsafe { core::mem::zeroed() };

static OPS: gvt_backend_ops = gvt_backend_ops {
    device_added: Some(count_added),
    device_removed: Some(count_removed),
    ..NO_OPS
};
static REFUSING_OPS: gvt_backend_ops = gvt_backend_ops {
    device_added: Some(refuse),
    device_removed: Some(count_removed),
    ..NO_OPS
};

/// A backend struct in static storage, as a real backend's is.
struct StaticBackend(gvt_backend);
// SAFETY: the pointers inside are to static, immutable data.
unsafe impl Sync for StaticBackend {}

const fn backend(ops: &'static gvt_backend_ops, abi_version: u32) -> StaticBackend {
    StaticBackend(gvt_backend {
        abi_version,
        name: c_str!("kunit").as_char_ptr(),
        owner: ptr::null_mut(),
        ops,
    })
}

static GOOD: StaticBackend = backend(&OPS, GVT_MPT_ABI_VERSION);
static REFUSING: StaticBackend = backend(&REFUSING_OPS, GVT_MPT_ABI_VERSION);
static OLD_ABI: StaticBackend = backend(&OPS, GVT_MPT_ABI_VERSION + 1);

/// A backend is offered every device, exactly once, and each accepted one is withdrawn.
#[no_mangle]
pub(crate) extern "C" fn gvt_kunit_backend_registration(_test: *mut bindings::kunit) {
    ADDED.store(0, Relaxed);
    REMOVED.store(0, Relaxed);
    // SAFETY: the backends are static and unregistered before the test ends.
    unsafe {
        kassert!(gvt_register_backend(&GOOD.0) == 0);
        kassert!(ADDED.load(Relaxed) == 1);
        kassert!(gvt_register_backend(&GOOD.0) == EEXIST);
        kassert!(ADDED.load(Relaxed) == 1);
        gvt_unregister_backend(&GOOD.0);
        kassert!(REMOVED.load(Relaxed) == 1);
        // Unregistering twice is harmless.
        gvt_unregister_backend(&GOOD.0);
        kassert!(REMOVED.load(Relaxed) == 1);
        // A device a backend refused is not withdrawn from it.
        kassert!(gvt_register_backend(&REFUSING.0) == 0);
        gvt_unregister_backend(&REFUSING.0);
        kassert!(REMOVED.load(Relaxed) == 1);
    }
}

/// Malformed registrations are refused with EINVAL and leave nothing registered.
#[no_mangle]
pub(crate) extern "C" fn gvt_kunit_bad_backends(_test: *mut bindings::kunit) {
    ADDED.store(0, Relaxed);
    // SAFETY: null and static backends only.
    unsafe {
        kassert!(gvt_register_backend(ptr::null()) == EINVAL);
        kassert!(gvt_register_backend(&OLD_ABI.0) == EINVAL);
        kassert!(ADDED.load(Relaxed) == 0);
    }
    let live = registry()
        .map(|r| r.lock().backends.iter().flatten().count())
        .unwrap_or(usize::MAX);
    kassert!(live == 0);
}

/// A guest for the probe and the workload: physically contiguous RAM (its DMA address is its
/// physical one, as without an IOMMU), its vGPU for the grants, and what the device model did
/// through the MPT services. The GPU's worker calls in concurrently: counters are atomic.
struct TestGuest {
    base: u64,
    vgpu: *mut gvt_vgpu,
    msis: AtomicU32,
    mapped: AtomicI32,
    invalidated: AtomicU32,
}

const GUEST_RAM: u64 = 2 << 20;
/// Where the workload's pages start (above the probe's GGTT pages).
const WORKLOAD_RAM: u64 = 0x14_0000;

impl TestGuest {
    fn rw(&self, gpa: u64, buf: *mut c_void, len: usize, write: bool) -> c_int {
        let ok = u64::try_from(len)
            .ok()
            .and_then(|l| gpa.checked_add(l))
            .is_some_and(|end| end <= GUEST_RAM);
        // SAFETY: `[base + gpa, + len)` is inside the guest's RAM; `buf` is valid for `len`
        // bytes (the MPT contract).
        if ok && unsafe { ffi::gvt_sim_mem_rw(self.base.wrapping_add(gpa), buf, len, write) } {
            0
        } else {
            -14
        }
    }
}

/// # Safety
///
/// `priv_` is the test's `TestGuest`; `buf` is writable for `len` bytes.
unsafe extern "C" fn guest_read(
    priv_: *mut c_void,
    gpa: u64,
    buf: *mut c_void,
    len: usize,
) -> c_int {
    // SAFETY: per the contract.
    unsafe { &*priv_.cast::<TestGuest>() }.rw(gpa, buf, len, false)
}

/// # Safety
///
/// `priv_` is the test's `TestGuest`; `buf` is readable for `len` bytes.
unsafe extern "C" fn guest_write(
    priv_: *mut c_void,
    gpa: u64,
    buf: *const c_void,
    len: usize,
) -> c_int {
    // SAFETY: per the contract; with `write`, `buf` is only read.
    unsafe { &*priv_.cast::<TestGuest>() }.rw(gpa, buf.cast_mut(), len, true)
}

/// Maps a guest page as a machine without an IOMMU would, and grants it to the GPU.
///
/// # Safety
///
/// `priv_` is the test's `TestGuest`; `dma` is writable.
unsafe extern "C" fn guest_dma_map(
    priv_: *mut c_void,
    gfn: u64,
    size: u64,
    dma: *mut u64,
) -> c_int {
    // SAFETY: per the contract.
    let g = unsafe { &*priv_.cast::<TestGuest>() };
    let gpa = gfn
        .checked_mul(4096)
        .filter(|a| a.checked_add(size).is_some_and(|e| e <= GUEST_RAM));
    let Some(addr) = gpa.map(|a| g.base.wrapping_add(a)) else {
        return -14;
    };
    // SAFETY: the vGPU is live while the core maps pages for it.
    let ret = unsafe { gvt_vgpu_dma_grant(g.vgpu, addr, size) };
    if ret == 0 {
        // SAFETY: `dma` is writable.
        unsafe { *dma = addr };
        g.mapped.fetch_add(1, Relaxed);
    }
    ret
}

/// # Safety
///
/// `priv_` is the test's `TestGuest`.
unsafe extern "C" fn guest_dma_unmap(priv_: *mut c_void, dma: u64) {
    // SAFETY: per the contract.
    let g = unsafe { &*priv_.cast::<TestGuest>() };
    // SAFETY: as in `guest_dma_map`.
    unsafe { gvt_vgpu_dma_revoke(g.vgpu, dma) };
    g.mapped.fetch_sub(1, Relaxed);
}

/// # Safety
///
/// `priv_` is the test's `TestGuest`.
unsafe extern "C" fn guest_msi(priv_: *mut c_void, _addr: u64, _data: u32) -> c_int {
    // SAFETY: per the contract.
    unsafe { &*priv_.cast::<TestGuest>() }
        .msis
        .fetch_add(1, Relaxed);
    0
}

/// # Safety
///
/// `priv_` is the test's `TestGuest`.
unsafe extern "C" fn guest_aperture_invalidate(priv_: *mut c_void, _offset: u64, _size: u64) {
    // SAFETY: per the contract.
    unsafe { &*priv_.cast::<TestGuest>() }
        .invalidated
        .fetch_add(1, Relaxed);
}

static PROBE_OPS: gvt_backend_ops = gvt_backend_ops {
    read_gpa: Some(guest_read),
    write_gpa: Some(guest_write),
    dma_map_guest_page: Some(guest_dma_map),
    dma_unmap_guest_page: Some(guest_dma_unmap),
    inject_msi: Some(guest_msi),
    aperture_invalidate: Some(guest_aperture_invalidate),
    ..NO_OPS
};
static PROBE_BACKEND: StaticBackend = backend(&PROBE_OPS, GVT_MPT_ABI_VERSION);

/// The guest's side of the MPT ABI, as a backend drives it.
struct AbiTransport {
    vgpu: *mut gvt_vgpu,
    guest: *mut TestGuest,
}

fn res(ret: c_int) -> guest::Result {
    super::model_from_c(ret).map_err(guest::Error::Device)
}

fn len32(b: &[u8]) -> u32 {
    u32::try_from(b.len()).unwrap_or(u32::MAX)
}

impl guest::Transport for AbiTransport {
    fn cfg_read(&mut self, offset: u32, buf: &mut [u8]) -> guest::Result {
        // SAFETY: a live vGPU and a buffer of the length given.
        res(unsafe { gvt_vgpu_cfg_read(self.vgpu, offset, buf.as_mut_ptr().cast(), len32(buf)) })
    }
    fn cfg_write(&mut self, offset: u32, data: &[u8]) -> guest::Result {
        // SAFETY: as above.
        res(unsafe { gvt_vgpu_cfg_write(self.vgpu, offset, data.as_ptr().cast(), len32(data)) })
    }
    fn mmio_read(&mut self, offset: u64, buf: &mut [u8]) -> guest::Result {
        // SAFETY: as above.
        res(unsafe { gvt_vgpu_mmio_read(self.vgpu, offset, buf.as_mut_ptr().cast(), len32(buf)) })
    }
    fn mmio_write(&mut self, offset: u64, data: &[u8]) -> guest::Result {
        // SAFETY: as above.
        res(unsafe { gvt_vgpu_mmio_write(self.vgpu, offset, data.as_ptr().cast(), len32(data)) })
    }
    fn wait_msi(&mut self) -> Option<(u64, u32)> {
        // SAFETY: the guest outlives the transport.
        let g = unsafe { &*self.guest };
        let took = g
            .msis
            .fetch_update(Relaxed, Relaxed, |n| n.checked_sub(1))
            .is_ok();
        // Sleep either way: this kernel does not preempt, and a guest looping on its own
        // interrupts would keep the GPU's workers off this CPU. Without an interrupt, sleep
        // longer: the worker completes on its own time, slow under TCG on a loaded host.
        // SAFETY: a KUnit case runs in process context and may sleep.
        unsafe { bindings::msleep(if took { 1 } else { 5 }) };
        took.then_some((u64::from(probe::MSI_ADDR), u32::from(probe::MSI_DATA)))
    }
    fn ram_read(&mut self, gpa: u64, buf: &mut [u8]) -> guest::Result {
        // SAFETY: as in `wait_msi`; `buf` is writable for its length.
        res(unsafe { guest_read(self.guest.cast(), gpa, buf.as_mut_ptr().cast(), buf.len()) })
    }
    fn ram_write(&mut self, gpa: u64, data: &[u8]) -> guest::Result {
        // SAFETY: as above.
        res(unsafe { guest_write(self.guest.cast(), gpa, data.as_ptr().cast(), data.len()) })
    }
}

/// Runs `f` with a fresh guest that has a live `GVTg_V5_8` vGPU on the sim GPU, through the
/// MPT ABI as a backend drives it, then destroys it and checks it left nothing mapped.
fn with_guest(f: impl FnOnce(*mut gvt_vgpu, &mut AbiTransport, u64)) {
    let gd = sim_handle();
    kassert!(!gd.is_null());
    let mut base = 0u64;
    let pages = u32::try_from(GUEST_RAM / 4096).unwrap_or(0);
    // SAFETY: `base` is a valid out-pointer.
    let rc = unsafe { ffi::gvt_sim_pages_alloc(pages, &mut base) };
    kassert!(rc == 0);
    let guest = KBox::new(
        TestGuest {
            base,
            vgpu: ptr::null_mut(),
            msis: AtomicU32::new(0),
            mapped: AtomicI32::new(0),
            invalidated: AtomicU32::new(0),
        },
        GFP_KERNEL,
    );
    kassert!(guest.is_ok());
    let Ok(guest) = guest else { return };
    let guest = KBox::into_raw(guest);
    // SAFETY: `gd` is the live sim device; `PROBE_BACKEND` is static and unregistered below; the
    // guest lives until the vGPU is destroyed, and its RAM after that.
    unsafe {
        kassert!(gvt_register_backend(&PROBE_BACKEND.0) == 0);
        let mut vgpu = ptr::null_mut();
        kassert!(gvt_vgpu_create_typed(&PROBE_BACKEND.0, gd, V5_8, guest.cast(), &mut vgpu) == 0);
        (*guest).vgpu = vgpu;
        // Attached, as a backend's open does: MSIs flow, the display runs.
        kassert!(gvt_vgpu_activate(vgpu) == 0);
        let mut t = AbiTransport { vgpu, guest };
        f(vgpu, &mut t, base);
        gvt_vgpu_destroy(vgpu);
        kassert!((*guest).mapped.load(Relaxed) == 0);
        gvt_unregister_backend(&PROBE_BACKEND.0);
        drop(KBox::from_raw(guest));
        ffi::gvt_sim_pages_free(base, u32::try_from(GUEST_RAM / 4096).unwrap_or(0));
    }
}

impl guest::Timer for AbiTransport {
    fn now_ns(&mut self) -> u64 {
        u64::try_from(kernel::time::Ktime::ktime_get().to_ns()).unwrap_or(0)
    }
    fn sleep_ns(&mut self, ns: u64) -> guest::Result {
        let ms = u32::try_from(ns.div_ceil(1_000_000))
            .unwrap_or(u32::MAX)
            .max(1);
        // SAFETY: a KUnit case runs in process context and may sleep.
        unsafe { bindings::msleep(ms) };
        Ok(())
    }
}

/// L1: the guest i915's probe, the sequence the host-side tests run, inside gvt.ko on the sim
/// GPU through the MPT ABI, with the host GGTT checked after it and after destroy.
#[no_mangle]
pub(crate) extern "C" fn gvt_kunit_probe(_test: *mut bindings::kunit) {
    // SAFETY: the sim device is live for the whole suite.
    let host = unsafe { device(sim_handle()) }.host.gpu();
    let scratch = host.info().scratch_page;
    let mut first = 0;
    with_guest(|vgpu, t, base| {
        let report = probe::probe(t);
        kassert!(report.is_ok());
        first = report
            .as_ref()
            .map_or(0, |r| u64::from(r.mappable.0) / 4096);
        if let Ok(r) = &report {
            // SAFETY: the vGPU is live inside `with_guest`.
            kassert!(r.vgt_id == unsafe { gvt_vgpu_id(vgpu) });
            kassert!(r.bar0_size == 16 << 20);
            kassert!(r.mappable.1 == 64 << 20 && r.fences == 4);
            // The probe mapped guest pages into its own GGTT: the host GGTT now points at them.
            for i in 0..probe::GGTT_PAGES {
                let pte = host.ggtt_read(first + i);
                kassert!(pte & GTT_ADDR_MASK == base + probe::GGTT_PAGES_GPA + i * 4096);
            }
        }
        // An entry in the host's own graphics memory: accepted from the guest, never written.
        let evil = (0x2000u64 | 1).to_le_bytes();
        // SAFETY: as above.
        let rc = unsafe { gvt_vgpu_mmio_write(vgpu, GGTT_MMIO_OFFSET, evil.as_ptr().cast(), 8) };
        kassert!(rc == 0);
        kassert!(host.ggtt_read(0) == scratch);
    });
    // Destroy pointed the vGPU's host GGTT back at scratch.
    kassert!(host.ggtt_read(first) == scratch);
}

/// Rounds of the L1 workload.
const ROUNDS: u32 = 64;

/// L1: the guest's workload (PPGTT batches, ring stores, ELSP, CSB and MSI), then a privileged
/// batch, executed by the sim GPU's engines inside gvt.ko; every store is checked in guest
/// RAM, and the sim's host memory and GGTT reserve are back where they were once the vGPU is
/// gone.
#[no_mangle]
pub(crate) extern "C" fn gvt_kunit_workload(_test: *mut bindings::kunit) {
    // SAFETY: the sim device is live for the whole suite.
    let dev = unsafe { device(sim_handle()) };
    let before = dev.host_pages();
    with_guest(|vgpu, t, _| {
        kassert!(probe::probe(t).is_ok());
        let g = workload::Guest::new(t, WORKLOAD_RAM, GUEST_RAM, 1);
        kassert!(g.is_ok());
        let Ok(mut g) = g else { return };
        for round in 0..ROUNDS {
            let r = g.round(t, round, 0x1000_0000 | round);
            if let Err(e) = &r {
                // SAFETY: the vGPU is live inside `with_guest`.
                let h = unsafe { &*vgpu.cast::<super::vgpu::VgpuHandle>() };
                if let Some(st) = h.state.lock().as_deref_mut() {
                    let (busy, queued) = (st.exec.busy(), st.exec.has_queued());
                    pr_err!(
                        "workload round {}: {:?}; failsafe {:?}, {:?}, busy {:#x}, queued {}, host idle {}\n",
                        round,
                        e,
                        st.vgpu.failsafe(),
                        st.exec.stats(),
                        busy,
                        queued,
                        super::exec::idle(dev)
                    );
                }
            }
            kassert!(r.is_ok());
            if r.is_err() {
                break;
            }
        }
        // A privileged batch, as i915 runs its golden render state: shadowed, run from the
        // host's GGTT, its store landing in the guest's GGTT memory.
        let pages = (g.bind(t, 1), g.bind(t, 1));
        kassert!(pages.0.is_ok() && pages.1.is_ok());
        if let (Ok(batch), Ok(data)) = pages {
            kassert!(g.privileged_round(t, batch, data, 0x5afe_ba7c).is_ok());
        }
    });
    kassert!(dev.host_pages() == before);
    kassert!(dev.shadow_ggtt_entries() == 0);
}

/// L1: the aperture slice through the ABI, as kvmgt's BAR2 reaches it: a page bound in the
/// guest's GGTT is the guest page (its frame, reads and writes), rebinding tells the backend,
/// a revoked grant or an unbound page reaches nothing, the rest of BAR2 is refused.
#[no_mangle]
pub(crate) extern "C" fn gvt_kunit_aperture(_test: *mut bindings::kunit) {
    with_guest(|vgpu, t, base| {
        let report = probe::probe(t);
        kassert!(report.is_ok());
        let Ok(r) = report else { return };
        let (start, size) = (u64::from(r.mappable.0), u64::from(r.mappable.1));
        let gm = start + size - 4096;
        let entry = GGTT_MMIO_OFFSET + gm / 4096 * 8;
        let page = WORKLOAD_RAM;
        // SAFETY: the vGPU is live inside `with_guest`; buffers are local and of the lengths given.
        unsafe {
            let g = &*t.guest;
            let before = g.invalidated.load(Relaxed);
            let pte = (page | 1).to_le_bytes();
            kassert!(gvt_vgpu_mmio_write(vgpu, entry, pte.as_ptr().cast(), 8) == 0);
            kassert!(g.invalidated.load(Relaxed) == before + 1);
            let mut pfn = 0u64;
            kassert!(
                gvt_vgpu_aperture_pfn(vgpu, gm + 5, &mut pfn) == 0 && pfn == (base + page) / 4096
            );
            let mut word = 0x1234_5678u32.to_le_bytes();
            kassert!(gvt_vgpu_aperture_rw(vgpu, gm + 8, word.as_mut_ptr().cast(), 4, true) == 0);
            let mut ram = [0u8; 4];
            kassert!(
                guest::Transport::ram_read(t, page + 8, &mut ram).is_ok()
                    && u32::from_le_bytes(ram) == 0x1234_5678
            );
            kassert!(guest::Transport::ram_write(t, page + 16, &0xabcdu32.to_le_bytes()).is_ok());
            kassert!(gvt_vgpu_aperture_rw(vgpu, gm + 16, word.as_mut_ptr().cast(), 4, false) == 0);
            kassert!(u32::from_le_bytes(word) == 0xabcd);
            // Across a page end, or past the slice: refused.
            kassert!(
                gvt_vgpu_aperture_rw(vgpu, gm + 4094, word.as_mut_ptr().cast(), 4, false) == EINVAL
            );
            kassert!(gvt_vgpu_aperture_pfn(vgpu, gm + 4096, &mut pfn) == EINVAL);
            kassert!(gvt_vgpu_aperture_pfn(vgpu, start - 4096, &mut pfn) == EINVAL);
            // The backend revoked its grant (user space unmapped the memory): nothing there.
            gvt_vgpu_dma_revoke(vgpu, base + page);
            kassert!(gvt_vgpu_aperture_pfn(vgpu, gm, &mut pfn) == EFAULT);
            kassert!(gvt_vgpu_aperture_rw(vgpu, gm, word.as_mut_ptr().cast(), 4, false) == EFAULT);
            kassert!(gvt_vgpu_dma_grant(vgpu, base + page, 4096) == 0);
            // Unbound: the entry is on scratch, which no vGPU may reach.
            let none = 0u64.to_le_bytes();
            kassert!(gvt_vgpu_mmio_write(vgpu, entry, none.as_ptr().cast(), 8) == 0);
            kassert!(g.invalidated.load(Relaxed) == before + 2);
            kassert!(gvt_vgpu_aperture_pfn(vgpu, gm, &mut pfn) == EFAULT);
        }
    });
}

/// L1: the monitor's EDID through the ABI: the type's EDID, a custom one taken and served over
/// AUX, a corrupted one refused with the old kept, the link unplugging the monitor.
#[no_mangle]
pub(crate) extern "C" fn gvt_kunit_edid(_test: *mut bindings::kunit) {
    with_guest(|vgpu, t, _| {
        let report = probe::probe(t);
        kassert!(report.is_ok());
        let Ok(report) = report else { return };
        let o = &report.output;
        let mut buf = [0u8; 256];
        let custom = crate::model::display::edid::block_for_mode(&modeset::SXGA);
        // SAFETY: the vGPU is live inside `with_guest`; buffers are local and of the lengths given.
        unsafe {
            kassert!(gvt_vgpu_get_edid(vgpu, buf.as_mut_ptr().cast(), 256) == 128);
            kassert!(gvt_vgpu_get_edid(vgpu, buf.as_mut_ptr().cast(), 100) == ENOSPC);
            kassert!(modeset::edid_over_aux(t, o, false).is_ok_and(|e| e[..] == buf[..128]));
            kassert!(gvt_vgpu_set_edid(vgpu, custom.as_ptr().cast(), 128) == 0);
            kassert!(modeset::edid_over_aux(t, o, false) == Ok(custom));
            let mut bad = custom;
            bad[9] ^= 1;
            kassert!(gvt_vgpu_set_edid(vgpu, bad.as_ptr().cast(), 128) == EINVAL);
            kassert!(gvt_vgpu_set_edid(vgpu, custom.as_ptr().cast(), 300) == EINVAL);
            kassert!(modeset::edid_over_aux(t, o, false) == Ok(custom));
            kassert!(gvt_vgpu_set_link(vgpu, false) == 0);
            kassert!(modeset::edid_over_aux(t, o, false).is_err());
            kassert!(gvt_vgpu_set_link(vgpu, true) == 0);
            kassert!(gvt_vgpu_set_edid(vgpu, ptr::null(), 0) == 0);
            kassert!(gvt_vgpu_get_edid(vgpu, buf.as_mut_ptr().cast(), 256) == 128);
            kassert!(modeset::edid_over_aux(t, o, false)
                .is_ok_and(|e| e[..] == buf[..128] && e != custom));
        }
    });
}

/// L1: the guest's modeset (EDID over AUX, link training, pipe and plane enable) on a vGPU in
/// gvt.ko, then vblanks in real time from the display clock: the frame counter moves at the
/// mode's rate and the vblank interrupts arrive as MSIs; a flip lands on the next vblank.
#[no_mangle]
pub(crate) extern "C" fn gvt_kunit_display(_test: *mut bindings::kunit) {
    with_guest(|_, t, _| {
        let report = probe::probe(t);
        kassert!(report.is_ok());
        let Ok(report) = report else { return };
        let o = &report.output;
        let edid = modeset::edid_over_aux(t, o, false);
        kassert!(edid.is_ok());
        let Ok(edid) = edid else { return };
        let mode = modeset::preferred_mode(&edid);
        kassert!(mode.is_ok());
        let Ok(mode) = mode else { return };
        let fb = modeset::Framebuffer {
            gm: report.mappable.0,
            stride: mode.hactive * 4,
        };
        kassert!(modeset::modeset(t, o, &mode, fb).is_ok());
        let g = t.guest;
        let msis = || {
            // SAFETY: the guest lives as long as the transport.
            unsafe { &*g }.msis.load(Relaxed)
        };
        let before = msis();
        let first = modeset::wait_vblank(t);
        kassert!(first.is_ok());
        let start = guest::Timer::now_ns(t);
        guest::Timer::sleep_ns(t, 200_000_000).ok();
        let frames =
            TransportExt::read32(t, crate::model::display::regs::PIPE_FRMCOUNT_G4X::OFFSET)
                .map(|n| n.wrapping_sub(first.unwrap_or(0)));
        let elapsed = guest::Timer::now_ns(t).saturating_sub(start);
        // 60 Hz: about 12 frames in 200 ms; the clock may run late, never fast.
        let want = elapsed / 16_666_667;
        kassert!(frames
            .is_ok_and(|f| u64::from(f) <= want.saturating_add(1)
                && u64::from(f).saturating_mul(2) >= want));
        kassert!(msis() > before);
        let flip = modeset::flip(
            t,
            report
                .mappable
                .0
                .wrapping_add(fb.stride.wrapping_mul(mode.vactive)),
            false,
        );
        kassert!(flip.is_ok());
        kassert!(modeset::wait_vblank(t).is_ok());
    });
}

/// Create/destroy cycles timed by the lifecycle case.
const CYCLES: usize = 100;

/// The `pct`th percentile of `v` without sorting it (no panicking sort in module code): the
/// smallest value that at least `pct`% of the samples do not exceed.
fn percentile(v: &[i64], pct: usize) -> i64 {
    let need = v.len().saturating_mul(pct).div_ceil(100).max(1);
    v.iter()
        .copied()
        .filter(|&x| v.iter().filter(|&&y| y <= x).count() >= need)
        .min()
        .unwrap_or(0)
}

/// A figure, not a timed test: gvt.ko's own share of creating and destroying a vGPU (what a
/// backend's create/remove costs before the driver core, mdev and VFIO add theirs), printed as
/// percentiles. Checks that every cycle succeeds and that the GPU's host memory and available
/// instances are back where they were.
#[no_mangle]
pub(crate) extern "C" fn gvt_kunit_lifecycle(_test: *mut bindings::kunit) {
    let gd = sim_handle();
    kassert!(!gd.is_null());
    // SAFETY: the sim device is live for the whole suite.
    let dev = unsafe { device(gd) };
    // SAFETY: `gd` is the live sim device.
    let available = || unsafe { gvt_device_type_available(gd, 0) };
    let (pages, avail) = (dev.host_pages(), available());
    let guest = TestGuest {
        base: 0,
        vgpu: ptr::null_mut(),
        msis: AtomicU32::new(0),
        mapped: AtomicI32::new(0),
        invalidated: AtomicU32::new(0),
    };
    let priv_ = ptr::from_ref(&guest).cast_mut().cast();
    let now = kernel::time::Ktime::ktime_get;
    // On the heap: a creation is gvt.ko's deepest call path, and this case's frame sits under it
    // (two arrays here made the kthread's stack overflow when an interrupt came at the bottom).
    let (Ok(mut made), Ok(mut gone)) = (
        KVec::<i64>::with_capacity(CYCLES, GFP_KERNEL),
        KVec::<i64>::with_capacity(CYCLES, GFP_KERNEL),
    ) else {
        kassert!(false);
        return;
    };
    // SAFETY: `PROBE_BACKEND` is static and unregistered below; `guest` outlives every vGPU.
    unsafe {
        kassert!(gvt_register_backend(&PROBE_BACKEND.0) == 0);
        for _ in 0..CYCLES {
            let mut vgpu = ptr::null_mut();
            let t0 = now();
            let ret = gvt_vgpu_create_typed(&PROBE_BACKEND.0, gd, 0, priv_, &mut vgpu);
            let t1 = now();
            kassert!(ret == 0);
            if ret != 0 {
                break;
            }
            gvt_vgpu_destroy(vgpu);
            // Within the capacity: no allocation, no failure.
            let _ = made.push((t1 - t0).to_ns(), GFP_KERNEL);
            let _ = gone.push((now() - t1).to_ns(), GFP_KERNEL);
        }
        gvt_unregister_backend(&PROBE_BACKEND.0);
    }
    kassert!(dev.host_pages() == pages && available() == avail);
    for (what, v) in [("create", &made), ("destroy", &gone)] {
        pr_info!(
            "vgpu {} in gvt.ko: p50 {} us, p99 {} us, max {} us ({} cycles)\n",
            what,
            percentile(v, 50) / 1000,
            percentile(v, 99) / 1000,
            percentile(v, 100) / 1000,
            CYCLES
        );
    }
}

/// MMIO reads timed per bench pass.
const BENCH_TRAPS: u32 = 20_000;
/// A plain register (CACHE_MODE_1: stored, no handler).
const BENCH_REG: u64 = 0x7004;

/// Nanoseconds per trap of `BENCH_TRAPS` reads of [`BENCH_REG`] through `gvt_vgpu_mmio_read`,
/// the entry point both backends call.
fn bench_traps(vgpu: *mut gvt_vgpu) -> i64 {
    let mut buf = [0u8; 4];
    let t0 = kernel::time::Ktime::ktime_get();
    for _ in 0..BENCH_TRAPS {
        // SAFETY: the vGPU is live inside `with_guest`; `buf` is writable for 4 bytes.
        kassert!(unsafe { gvt_vgpu_mmio_read(vgpu, BENCH_REG, buf.as_mut_ptr().cast(), 4) } == 0);
    }
    (kernel::time::Ktime::ktime_get() - t0).to_ns() / i64::from(BENCH_TRAPS)
}

/// A figure, not a timed test: the trap path's cost with the `gvt:mmio_trap` event disabled
/// (its static branch) and enabled (recorded into the trace buffer), printed as
/// `GVT-BENCH: mmio trap ns disabled=X enabled=Y`. Leaves the event off.
#[no_mangle]
pub(crate) extern "C" fn gvt_kunit_trace_bench(_test: *mut bindings::kunit) {
    with_guest(|vgpu, _, _| {
        kassert!(super::trace::set_mmio_trap(false));
        // A first pass warms the caches; the second is the figure.
        let _ = bench_traps(vgpu);
        let disabled = bench_traps(vgpu);
        kassert!(super::trace::set_mmio_trap(true));
        let enabled = bench_traps(vgpu);
        kassert!(super::trace::set_mmio_trap(false));
        pr_info!(
            "GVT-BENCH: mmio trap ns disabled={} enabled={} ({} reads of 0x{:x})\n",
            disabled,
            enabled,
            BENCH_TRAPS,
            BENCH_REG
        );
    });
}
