//! `/sys/kernel/debug/gvt/`: one directory per vGPU, `vgpuN` after its id, with a read-only
//! `stats` file (the core's `VgpuStats`, `ExecStats` and `PpgttStats` `write_to`). Documentation/ABI/testing/debugfs-gvt.
//!
//! The 6.12 kernel crate has no debugfs: the directories, the file and its seq_file
//! operations are C (`gvt/glue/shim.c`); the file's show callback calls back into
//! [`gvt_vgpu_debugfs_show`] with the vGPU handle as the file's data.
//!
//! Lifetime: the root exists from module load to unload ([`Root`], a field of the `Driver`, so
//! it goes after every device and vGPU). A vGPU's directory is created once the vGPU is fully
//! made and removed first thing when it is destroyed: `debugfs_remove` waits for reads in
//! progress (debugfs's file proxy brackets each one with `debugfs_file_get`/`_put`) and later
//! ones fail with -EIO, so the handle outlives every read of it. A read takes the vGPU's lock
//! only to copy the counters out, and nothing else: destruction removes the file holding no
//! vGPU lock, so waiting for a reader cannot deadlock.

use core::ffi::{c_int, c_void};
use core::ptr;
use core::sync::atomic::{AtomicPtr, Ordering};

use kernel::prelude::*;

use super::ffi;
use super::vgpu::VgpuHandle;

/// The `gvt` directory, null without debugfs. Set before the registry is published (no
/// vGPU exists before), cleared after the last device left it (no vGPU exists after).
static ROOT: AtomicPtr<c_void> = AtomicPtr::new(ptr::null_mut());

/// Owns `/sys/kernel/debug/gvt/` for the life of the module.
pub(crate) struct Root(());

impl Root {
    /// Creates the directory. Without debugfs (or with it refused) there is none, and no
    /// vGPU gets a directory: debugfs is never a reason to fail.
    pub(crate) fn new() -> Root {
        // SAFETY: plain call; the result is a dentry or null.
        let d = unsafe { ffi::gvt_debugfs_root_create() };
        ROOT.store(d, Ordering::Release);
        Root(())
    }
}

impl Drop for Root {
    fn drop(&mut self) {
        // SAFETY: the root or null, removed once; its vGPU directories went with their vGPUs
        // (devices, and so vGPUs, are gone before the driver's fields drop).
        unsafe { ffi::gvt_debugfs_remove(ROOT.swap(ptr::null_mut(), Ordering::AcqRel)) };
    }
}

/// Creates `vgpu<id>/stats` for `handle`; null if there is no root or debugfs refused
/// (another GPU's vGPU with the same id, for one).
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
    // the directory's life (the caller's contract); C keeps it as the file's data only.
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

/// Shows a vGPU's `stats` file (called by the seq_file show callback in `shim.c`).
///
/// # Safety
///
/// `vgpu` is the data [`add`] gave the file, read inside debugfs's file proxy (so before its
/// `remove` returned); `m` is the seq_file being shown.
#[no_mangle]
pub(crate) unsafe extern "C" fn gvt_vgpu_debugfs_show(vgpu: *mut c_void, m: *mut c_void) -> c_int {
    // SAFETY: the handle is live while its file exists (contract of `add`, and the proxy
    // holds off its removal until this returns).
    let h = unsafe { &*vgpu.cast::<VgpuHandle>() };
    // A copy under the lock; the text is made outside it.
    let snap = h.state.lock().as_deref().map(|st| {
        (
            *st.vgpu.stats(),
            st.vgpu.failsafe_cause(),
            *st.exec.stats(),
            *st.exec.ppgtt_stats(),
        )
    });
    let Some((stats, failsafe, exec, ppgtt)) = snap else {
        return ENODEV.to_errno();
    };
    let out = &mut SeqFile(m);
    // An error is an overflow, which seq_file handles by calling again.
    let _ = stats
        .write_to(failsafe, out)
        .and_then(|()| exec.write_to(out))
        .and_then(|()| ppgtt.write_to(out));
    0
}
