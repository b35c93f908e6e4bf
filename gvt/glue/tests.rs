//! KUnit cases for gvt.ko's glue, run inside a real kernel when the module loads (the suite
//! table is in kunit.c). The core has its own host-side tests; these check what only a kernel
//! can: the sim device in the driver model, the MPT ABI as backends call it, and that the core
//! compiled by the kernel's rustc gives the answers the host build gives.

use core::ffi::{c_int, c_void};
use core::ptr;
use core::sync::atomic::{AtomicU32, Ordering::Relaxed};

use kernel::{bindings, c_str, str::CStr};

use super::devices::registry;
use super::mpt_abi::{
    gvt_device_dev, gvt_device_type_available, gvt_device_type_count, gvt_device_type_info,
    gvt_register_backend, gvt_unregister_backend,
};
use crate::mpt::abi::{GvtBackend, GvtBackendOps, GvtTypeInfo, GVT_MPT_ABI_VERSION};

const EINVAL: c_int = -22;
const EEXIST: c_int = -17;
const MB: u64 = 1 << 20;

macro_rules! kassert {
    ($cond:expr) => {
        kernel::kunit_assert!("gvt", "gvt/glue/tests.rs", 0, $cond)
    };
}

fn sim_handle() -> *mut c_void {
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
    let mut info = GvtTypeInfo::default();
    // SAFETY: `gd` is live; `info` is a writable `struct gvt_type_info`.
    unsafe {
        // 1 GiB aperture less the 128 MiB host reserve fits even GVTg_V5_1's 512 MiB.
        kassert!(gvt_device_type_count(gd) == 4);
        kassert!(gvt_device_type_info(gd, 0, &mut info) == 0);
        kassert!(info.name.starts_with(b"GVTg_V5_8\0"));
        kassert!(info.resolution.starts_with(b"1024x768\0"));
        kassert!(info.low_gm_size == 64 * MB && info.high_gm_size == 384 * MB);
        kassert!(info.fences == 4 && info.weight == 2);
        kassert!(gvt_device_type_info(gd, 4, &mut info) == EINVAL);
        kassert!(gvt_device_type_info(gd, u32::MAX, &mut info) == EINVAL);
        kassert!(gvt_device_type_info(gd, 0, ptr::null_mut()) == EINVAL);
        // High GM bounds GVTg_V5_8: (3072 MiB hidden - 384 reserved) / 384 = 7.
        kassert!(gvt_device_type_available(gd, 0) == 7);
        // GVTg_V5_1: low (896 / 512) = 1.
        kassert!(gvt_device_type_available(gd, 3) == 1);
        kassert!(gvt_device_type_available(gd, 4) == 0);
    }
}

static ADDED: AtomicU32 = AtomicU32::new(0);
static REMOVED: AtomicU32 = AtomicU32::new(0);

/// # Safety
///
/// `gd` is a live device (gvt.ko's `device_added` contract).
unsafe extern "C" fn count_added(gd: *mut c_void) -> c_int {
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
unsafe extern "C" fn refuse(_gd: *mut c_void) -> c_int {
    -19
}

/// # Safety
///
/// None: the device is not touched.
unsafe extern "C" fn count_removed(_gd: *mut c_void) {
    REMOVED.fetch_add(1, Relaxed);
}

static OPS: GvtBackendOps = GvtBackendOps {
    device_added: Some(count_added),
    device_removed: Some(count_removed),
};
static REFUSING_OPS: GvtBackendOps = GvtBackendOps {
    device_added: Some(refuse),
    device_removed: Some(count_removed),
};

/// A backend struct in static storage, as a real backend's is.
struct StaticBackend(GvtBackend);
// SAFETY: the pointers inside are to static, immutable data.
unsafe impl Sync for StaticBackend {}

const fn backend(ops: &'static GvtBackendOps, abi_version: u32) -> StaticBackend {
    StaticBackend(GvtBackend {
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
