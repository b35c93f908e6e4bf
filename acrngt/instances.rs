//! ACRN instances: which User VM has which vGPU, and the control node's requests.
//!
//! The table is reached from C callbacks (sysfs stores, gvt.ko's device notifications), which
//! have nowhere to keep a Rust pointer, so it is published through a static while the module is
//! registered. The sysfs group is removed before the table goes away, and kernfs waits for
//! running stores, so no request can see a stale table.

use core::ffi::{c_int, c_void};
use core::ptr;
use core::sync::atomic::{AtomicPtr, Ordering};

use kernel::{error::to_result, new_mutex, prelude::*, sync::Mutex};

use crate::control::{Request, INSTANCE_WEIGHT};
use crate::ffi;
use crate::gvt::{gvt_device, gvt_device_plane_owner_show, gvt_vgpu_params};

/// Most instances at once: one per vGPU gvt.ko can carry.
const MAX_INSTANCES: usize = 32;
const MB: u64 = 1 << 20;

struct Instance {
    vmid: u32,
    /// The C instance: vGPU, VHM client and thread.
    inst: *mut c_void,
    /// The `vmN` sysfs directory.
    vm: *mut c_void,
}

pub(crate) struct Table {
    /// The GPU acrngt serves (ACRN machines have one), or null before gvt.ko offers one.
    gd: *mut gvt_device,
    slots: [Option<Instance>; MAX_INSTANCES],
}

// SAFETY: the raw pointers are gvt.ko and sysfs objects owned by this table, only used under its
// lock.
unsafe impl Send for Table {}

static TABLE: AtomicPtr<Mutex<Table>> = AtomicPtr::new(ptr::null_mut());

pub(crate) fn table() -> Option<&'static Mutex<Table>> {
    let p = TABLE.load(Ordering::Acquire);
    // SAFETY: non-null only while `Instances` is alive: published in `new` before anything can
    // call in, cleared in `drop` after the C side stopped calling in.
    unsafe { p.as_ref() }
}

impl Table {
    fn position(&self, vmid: u32) -> Option<usize> {
        self.slots
            .iter()
            .position(|s| s.as_ref().is_some_and(|i| i.vmid == vmid))
    }

    /// The vGPU id of `vmid`'s instance (what `vmN/vgpu_id` shows), for the KUnit cases.
    #[cfg(gvt_kunit)]
    pub(crate) fn vgpu_id(&self, vmid: u32) -> Option<u32> {
        let i = self.slots.get(self.position(vmid)?)?.as_ref()?;
        // SAFETY: `i.inst` is a live instance owned by this table.
        Some(unsafe { ffi::acrngt_instance_vgpu_id(i.inst) })
    }

    fn create(&mut self, vmid: u32, low_mb: u32, high_mb: u32, fences: u32) -> Result {
        if self.position(vmid).is_some() {
            return Err(EEXIST);
        }
        if self.gd.is_null() {
            return Err(ENODEV);
        }
        let free = self.slots.iter().position(Option::is_none).ok_or(ENOSPC)?;
        let params = gvt_vgpu_params {
            low_gm_size: u64::from(low_mb).checked_mul(MB).ok_or(ERANGE)?,
            high_gm_size: u64::from(high_mb).checked_mul(MB).ok_or(ERANGE)?,
            fences,
            weight: INSTANCE_WEIGHT,
        };
        let mut err: c_int = 0;
        // SAFETY: `gd` is the live device gvt.ko offered; the pointers are valid.
        let inst = unsafe { ffi::acrngt_instance_create(self.gd, vmid, &params, &mut err) };
        if inst.is_null() {
            return Err(Error::from_errno(err));
        }
        // SAFETY: `inst` was just created.
        let id = unsafe { ffi::acrngt_instance_vgpu_id(inst) };
        // SAFETY: `inst` is live and destroyed only after the sysfs node (`destroy`).
        let vm = unsafe { ffi::acrngt_vm_create(vmid, inst) };
        if vm.is_null() {
            // SAFETY: created above and not stored.
            unsafe { ffi::acrngt_instance_destroy(inst) };
            return Err(ENOMEM);
        }
        if let Some(slot) = self.slots.get_mut(free) {
            *slot = Some(Instance { vmid, inst, vm });
        }
        pr_info!("vm{} has vGPU {}\n", vmid, id);
        Ok(())
    }

    fn destroy_at(&mut self, i: usize) {
        if let Some(inst) = self.slots.get_mut(i).and_then(Option::take) {
            // SAFETY: both objects were created by `create` and are destroyed once, here.
            unsafe {
                ffi::acrngt_vm_destroy(inst.vm);
                ffi::acrngt_instance_destroy(inst.inst);
            }
            pr_info!("vm{} destroyed\n", inst.vmid);
        }
    }

    fn destroy_all(&mut self) {
        for i in 0..MAX_INSTANCES {
            self.destroy_at(i);
        }
    }
}

fn control(bytes: &[u8]) -> Result {
    let req = Request::parse(bytes).map_err(|e| Error::from_errno(-e.errno()))?;
    let mut t = table().ok_or(ENODEV)?.lock();
    match req {
        Request::Create {
            vmid,
            low_gm_mb,
            high_gm_mb,
            fences,
        } => t.create(vmid, low_gm_mb, high_gm_mb, fences),
        Request::Destroy { vmid } => {
            let i = t.position(vmid).ok_or(ENOENT)?;
            t.destroy_at(i);
            Ok(())
        }
    }
}

/// The `create_gvt_instance` store: returns `count` or a negative errno.
///
/// # Safety
///
/// `buf` points to `count` readable bytes.
#[no_mangle]
pub(crate) unsafe extern "C" fn acrngt_control_store(buf: *const u8, count: usize) -> isize {
    // SAFETY: sysfs passes a buffer of `count` bytes (this function's contract).
    let bytes = unsafe { core::slice::from_raw_parts(buf, count) };
    match control(bytes) {
        Ok(()) => isize::try_from(count).unwrap_or(isize::MAX),
        Err(e) => e.to_errno() as isize,
    }
}

/// `plane_owner_show` on the control node: gvt.ko's plane ownership policy of the GPU served.
///
/// # Safety
///
/// `buf` points to `len` writable bytes.
#[no_mangle]
pub(crate) unsafe extern "C" fn acrngt_plane_owner_show(buf: *mut u8, len: usize) -> isize {
    let Some(t) = table() else {
        return ENODEV.to_errno() as isize;
    };
    let t = t.lock();
    if t.gd.is_null() {
        return ENODEV.to_errno() as isize;
    }
    // SAFETY: `gd` is live while stored (cleared in `acrngt_device_removed` under this lock);
    // `buf` per the contract.
    unsafe { gvt_device_plane_owner_show(t.gd, buf, len) }
}

/// gvt.ko offers a GPU: serve the first one, and tell ACRN-DM (dom0_ready).
///
/// # Safety
///
/// `gd` is a live gvt device, valid until `acrngt_device_removed(gd)`.
#[no_mangle]
pub(crate) unsafe extern "C" fn acrngt_device_added(gd: *mut gvt_device) -> c_int {
    let Some(t) = table() else {
        return ENODEV.to_errno();
    };
    let mut t = t.lock();
    if !t.gd.is_null() {
        return EBUSY.to_errno();
    }
    t.gd = gd;
    // SAFETY: the control node exists: acrngt_register creates it before registering.
    unsafe { ffi::acrngt_dom0_ready() };
    0
}

/// The GPU goes away: its instances go first.
///
/// # Safety
///
/// `gd` was accepted by `acrngt_device_added`.
#[no_mangle]
pub(crate) unsafe extern "C" fn acrngt_device_removed(gd: *mut gvt_device) {
    if let Some(t) = table() {
        let mut t = t.lock();
        if t.gd == gd {
            t.destroy_all();
            t.gd = ptr::null_mut();
        }
    }
}

/// The module's instance table, published to the C callbacks for its lifetime.
pub(crate) struct Instances {
    table: Pin<KBox<Mutex<Table>>>,
}

impl Instances {
    pub(crate) fn new() -> Result<Instances> {
        let table = KBox::pin_init(
            new_mutex!(
                Table {
                    gd: ptr::null_mut(),
                    slots: [const { None }; MAX_INSTANCES]
                },
                "acrngt::instances"
            ),
            GFP_KERNEL,
        )?;
        TABLE.store(ptr::from_ref(&*table).cast_mut(), Ordering::Release);
        // SAFETY: the table is published, so the callbacks `acrngt_register` enables work.
        if let Err(e) = to_result(unsafe { ffi::acrngt_register() }) {
            TABLE.store(ptr::null_mut(), Ordering::Release);
            return Err(e);
        }
        Ok(Instances { table })
    }
}

impl Drop for Instances {
    fn drop(&mut self) {
        // SAFETY: `acrngt_register` succeeded in `new`. Afterwards no store or device callback
        // runs, and every instance was destroyed with the device.
        unsafe { ffi::acrngt_unregister() };
        self.table.lock().destroy_all();
        TABLE.store(ptr::null_mut(), Ordering::Release);
    }
}
