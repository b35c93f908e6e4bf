//! `/sys/kernel/debug/gvt/`: per GPU a directory named after its device with a read-only
//! `info` file (facts, types, partition map); per vGPU a directory `vgpuN` after its id with
//! read-only `stats`, `status` and `mmio_diff` files and the `scan_nonprivbb` switch. The text comes from the core
//! (`VgpuStats`, `ExecStats`, `PpgttStats` `write_to`, `model::inspect`).
//! Documentation/ABI/testing/debugfs-gvt.
//!
//! The 6.12 kernel crate has no debugfs: the directories, the files and their seq_file
//! operations are C (`gvt/glue/shim.c`); a file's show callback calls back into
//! [`gvt_gpu_debugfs_show`] or [`gvt_vgpu_debugfs_show`] with the GPU or vGPU as its data.
//!
//! Lifetime: the root exists from module load to unload ([`Root`], a field of the `Driver`, so
//! it goes after every device and vGPU). A GPU's directory ([`GpuDir`], the device's first
//! field) is created once the device is pinned and removed first when it drops; a vGPU's is
//! created once the vGPU is fully made and removed first thing when it is destroyed.
//! `debugfs_remove` waits for reads in progress (debugfs's file proxy brackets each one with
//! `debugfs_file_get`/`_put`) and later ones fail with -EIO, so the object outlives every read
//! of it. A read takes one lock at a time (the device's `exec` lock for the scheduler's
//! figures, then the vGPU's lock, or the device's `gvt` lock) and no removal happens under
//! any of them, so waiting for a reader cannot deadlock.

use core::ffi::{c_int, c_void};
use core::ptr;
use core::sync::atomic::{AtomicPtr, Ordering};

use kernel::prelude::*;

use super::devices::{GvtDevice, Host};
use super::ffi;
use super::vgpu::VgpuHandle;
use crate::model::inspect::{self, Status};

/// The `gvt` directory, null without debugfs. Set before the registry is published (no
/// vGPU exists before), cleared after the last device left it (no vGPU exists after).
static ROOT: AtomicPtr<c_void> = AtomicPtr::new(ptr::null_mut());

/// Owns `/sys/kernel/debug/gvt/` for the life of the module.
pub(crate) struct Root(());

impl Root {
    /// Creates the directory. Without debugfs (or with it refused) there is none, and no
    /// GPU or vGPU gets a directory: debugfs is never a reason to fail.
    pub(crate) fn new() -> Root {
        // SAFETY: plain call; the result is a dentry or null.
        let d = unsafe { ffi::gvt_debugfs_root_create() };
        ROOT.store(d, Ordering::Release);
        Root(())
    }
}

impl Drop for Root {
    fn drop(&mut self) {
        // SAFETY: the root or null, removed once; its GPU and vGPU directories went with their
        // objects (devices, and so vGPUs, are gone before the driver's fields drop).
        unsafe { ffi::gvt_debugfs_remove(ROOT.swap(ptr::null_mut(), Ordering::AcqRel)) };
    }
}

/// A GPU's directory, removed when the device drops (it is the device's first field).
pub(super) struct GpuDir(AtomicPtr<c_void>);

impl GpuDir {
    /// None yet: [`GpuDir::add`] makes it once the device is pinned.
    pub(super) const fn new() -> GpuDir {
        GpuDir(AtomicPtr::new(ptr::null_mut()))
    }

    /// Creates `<device name>/info` for `dev`, whose field this is (so `dev` outlives it).
    pub(super) fn add(&self, dev: &GvtDevice) {
        let root = ROOT.load(Ordering::Acquire);
        if root.is_null() {
            return;
        }
        // SAFETY: `root` is live (it outlives every device); `dev.dev` is the device's
        // registered struct device; `dev` is pinned and outlives the directory, which its own
        // field removes when it drops; C keeps the pointer as the file's data only.
        let d = unsafe { ffi::gvt_debugfs_gpu_create(root, dev.dev, dev.handle().cast()) };
        self.0.store(d, Ordering::Release);
    }
}

impl Drop for GpuDir {
    fn drop(&mut self) {
        // SAFETY: what `add` made or null, removed once, here.
        unsafe { ffi::gvt_debugfs_remove(self.0.swap(ptr::null_mut(), Ordering::AcqRel)) };
    }
}

/// Creates `vgpu<id>/` and its files for `handle`; null if there is no root or debugfs
/// refused (another GPU's vGPU with the same id, for one).
///
/// # Safety
///
/// `handle` stays valid until [`remove`] returned for the result.
pub(super) unsafe fn add(id: u32, handle: &VgpuHandle) -> *mut c_void {
    let root = ROOT.load(Ordering::Acquire);
    if root.is_null() {
        return ptr::null_mut();
    }
    // SAFETY: `root` is the live root (it outlives every vGPU); the handle stays valid for
    // the directory's life (the caller's contract); C keeps it as the files' data only.
    unsafe { ffi::gvt_debugfs_vgpu_create(root, id, ptr::from_ref(handle).cast_mut().cast()) }
}

/// Removes what [`add`] created, waiting for reads in progress.
///
/// # Safety
///
/// `dir` is null or a directory [`add`] returned and not removed yet.
pub(super) unsafe fn remove(dir: *mut c_void) {
    // SAFETY: per the contract; `debugfs_remove` ignores null.
    unsafe { ffi::gvt_debugfs_remove(dir) };
}

/// `core::fmt::Write` into a seq_file.
struct SeqFile(*mut c_void);

impl core::fmt::Write for SeqFile {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        // SAFETY: `self.0` is the seq_file of the show callback running this; `s` is readable
        // for its length.
        let r = unsafe { ffi::gvt_seq_write(self.0, s.as_ptr().cast(), s.len()) };
        // On overflow the seq_file is marked and the show runs again with a bigger buffer.
        if r == 0 {
            Ok(())
        } else {
            Err(core::fmt::Error)
        }
    }
}

/// Shows a GPU's `info` file (called by its seq_file show callback in `shim.c`).
///
/// # Safety
///
/// `gpu` is the data [`GpuDir::add`] gave the file, read inside debugfs's file proxy (so
/// before the directory's removal returned); `m` is the seq_file being shown.
#[no_mangle]
pub(crate) unsafe extern "C" fn gvt_gpu_debugfs_show(gpu: *mut c_void, m: *mut c_void) -> c_int {
    // SAFETY: the device is live while its file exists (see `GpuDir::add`).
    let dev = unsafe { &*gpu.cast::<GvtDevice>() };
    // An error is an overflow, which seq_file handles by calling again.
    let out = &mut SeqFile(m);
    let _ = inspect::write_gpu(&dev.gvt.lock(), out);
    match &dev.host {
        #[cfg(gvt_sim)]
        Host::Sim(s) => {
            let _ = s.write_slices(out);
        }
        #[cfg(gvt_i915)]
        Host::I915(_) => {}
    }
    0
}

/// `which` of shim.h's `GVT_DEBUGFS_*`.
const STATS: c_int = 0;
const STATUS: c_int = 1;
const MMIO_DIFF: c_int = 2;

/// Shows a vGPU's `stats`, `status` or `mmio_diff` file (`which`), called by the seq_file
/// show callbacks in `shim.c`.
///
/// # Safety
///
/// `vgpu` is the data [`add`] gave the file, read inside debugfs's file proxy (so before its
/// `remove` returned); `m` is the seq_file being shown.
#[no_mangle]
pub(crate) unsafe extern "C" fn gvt_vgpu_debugfs_show(
    vgpu: *mut c_void,
    m: *mut c_void,
    which: c_int,
) -> c_int {
    // SAFETY: the handle is live while its file exists (contract of `add`, and the proxy
    // holds off its removal until this returns).
    let h = unsafe { &*vgpu.cast::<VgpuHandle>() };
    let out = &mut SeqFile(m);
    // An error is an overflow, which seq_file handles by calling again.
    let shown = match which {
        STATS => {
            // A copy under the lock; the text is made outside it.
            let snap = h.state.lock().as_ref().map(|st| {
                (
                    *st.vgpu.stats(),
                    st.vgpu.failsafe_cause(),
                    *st.exec.stats(),
                    *st.exec.ppgtt_stats(),
                )
            });
            snap.map(|(stats, failsafe, exec, ppgtt)| {
                let _ = stats
                    .write_to(failsafe, out)
                    .and_then(|()| exec.write_to(out))
                    .and_then(|()| ppgtt.write_to(out));
            })
        }
        STATUS => {
            // The scheduler's figures first: the `exec` lock nests outside the vGPU's.
            let (used, total) = super::exec::share(h.device(), h.id());
            let snap = h
                .state
                .lock()
                .as_ref()
                .map(|st| Status::of(&st.vgpu, st.identity, used, total));
            snap.map(|s| {
                let _ = core::fmt::Write::write_fmt(out, format_args!("{s}"));
            })
        }
        // The whole register file is compared under the lock: a copy would be 2 MiB.
        MMIO_DIFF => h.state.lock().as_ref().map(|st| {
            let _ = st.vgpu.write_mmio_diff(h.device().host.gpu(), out);
        }),
        _ => None,
    };
    match shown {
        Some(()) => 0,
        None => ENODEV.to_errno(),
    }
}

/// Reads (`set` false) or writes (`set` true) a vGPU's `scan_nonprivbb` switch: the
/// [`Engine::mask`](crate::model::regs::Engine::mask) bits of the engines whose PPGTT batches
/// are scanned too. A value above 0xff is refused; bits of no engine are dropped.
///
/// # Safety
///
/// `vgpu` as for [`gvt_vgpu_debugfs_show`] (the attribute's proxy holds off the removal);
/// `val` is valid for reads and writes.
#[no_mangle]
pub(crate) unsafe extern "C" fn gvt_vgpu_debugfs_scan_nonprivbb(
    vgpu: *mut c_void,
    val: *mut u64,
    set: bool,
) -> c_int {
    // SAFETY: the handle is live while its file exists (contract of `add`).
    let h = unsafe { &*vgpu.cast::<VgpuHandle>() };
    // SAFETY: per the contract.
    let val = unsafe { &mut *val };
    let mut guard = h.state.lock();
    let Some(st) = guard.as_mut() else {
        return ENODEV.to_errno();
    };
    if !set {
        *val = u64::from(st.scanner.scan_ppgtt());
        return 0;
    }
    match u8::try_from(*val) {
        Ok(engines) => {
            st.scanner.set_scan_ppgtt(engines);
            0
        }
        Err(_) => EINVAL.to_errno(),
    }
}
