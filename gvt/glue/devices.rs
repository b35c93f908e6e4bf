//! The GPUs gvt.ko drives and the backends registered with it.
//!
//! One registry per module instance, published through a static pointer because the C ABI's
//! entry points have nowhere else to find it. A backend can only call in while gvt.ko is live
//! (it links against gvt.ko's symbols, so gvt.ko cannot unload under it), which bounds every use
//! of the pointer.

use core::ptr;
use core::sync::atomic::{AtomicPtr, Ordering};

use core::ffi::c_void;

use kernel::{new_mutex, prelude::*, sync::Mutex};

use super::to_kernel_error;
use crate::model::host::HostInfo;
use crate::model::resources::ResourcePool;
use crate::model::vgpu_type::{offered_types, VgpuType};
use crate::mpt::abi::GvtBackend;

/// Most GPUs one gvt.ko drives at once.
pub(super) const MAX_DEVICES: usize = 4;
const _: () = assert!(MAX_DEVICES <= 32);
/// Most backends registered at once.
pub(super) const MAX_BACKENDS: usize = 8;

/// A physical (or sim) GPU. C sees a pointer to it as `struct gvt_device *`.
#[pin_data]
pub(crate) struct GvtDevice {
    /// The struct device backends hang their objects on.
    pub(super) dev: *mut c_void,
    /// Unregisters `dev` when gvt.ko lets the GPU go.
    release: unsafe extern "C" fn(*mut c_void),
    /// Static facts about the GPU.
    pub(super) info: HostInfo,
    /// The vGPU types it offers.
    pub(super) types: &'static [VgpuType],
    /// Its graphics memory and fences.
    #[pin]
    pub(super) pool: Mutex<ResourcePool>,
}

// SAFETY: `dev` points to a refcounted kernel object that stays registered for the whole life of
// the `GvtDevice` (it is unregistered only after the device left the registry); everything else
// is immutable or behind the `pool` mutex, so the device can be used from any thread.
unsafe impl Send for GvtDevice {}
// SAFETY: see `Send`; shared access only reads immutable fields or locks `pool`.
unsafe impl Sync for GvtDevice {}

impl GvtDevice {
    /// Wraps a registered struct device. `release` is called exactly once, by the registry, when
    /// the device is dropped from it; if this fails, the caller still owns `dev`.
    fn new(
        dev: *mut c_void,
        release: unsafe extern "C" fn(*mut c_void),
        info: HostInfo,
    ) -> Result<Pin<KBox<GvtDevice>>> {
        let pool = ResourcePool::new(&info).map_err(to_kernel_error)?;
        let low_for_vgpus = info.aperture_size.saturating_sub(info.reserve.low_gm);
        KBox::pin_init(
            try_pin_init!(GvtDevice {
                dev,
                release,
                info,
                types: offered_types(low_for_vgpus),
                pool <- new_mutex!(pool, "gvt_device::pool"),
            }),
            GFP_KERNEL,
        )
    }

    /// The pointer C code holds for this device.
    pub(super) fn handle(&self) -> *mut c_void {
        ptr::from_ref(self).cast_mut().cast()
    }
}

/// A registered backend and the devices it accepted (bit i: device slot i; at most 32 slots).
pub(super) struct BackendSlot {
    pub(super) be: *const GvtBackend,
    pub(super) added: u32,
}

/// What the registry mutex protects.
pub(super) struct Registry {
    pub(super) devices: [Option<Pin<KBox<GvtDevice>>>; MAX_DEVICES],
    pub(super) backends: [Option<BackendSlot>; MAX_BACKENDS],
}

// SAFETY: `BackendSlot::be` points to a backend's static `struct gvt_backend`, which the ABI
// requires to stay valid until it is unregistered; it is only used under the registry lock.
unsafe impl Send for Registry {}

static REGISTRY: AtomicPtr<Mutex<Registry>> = AtomicPtr::new(ptr::null_mut());

/// The registry, while gvt.ko is live.
pub(super) fn registry() -> Option<&'static Mutex<Registry>> {
    let p = REGISTRY.load(Ordering::Acquire);
    // SAFETY: `p` is null or points into `Gvt::registry`, which is pinned and outlives every
    // caller: it is published at the end of `Gvt::new` and cleared first thing in `Drop`, and
    // callers are gvt.ko itself or backends, which cannot outlive gvt.ko.
    unsafe { p.as_ref() }
}

/// gvt.ko's state for the life of the module.
pub(crate) struct Gvt {
    registry: Pin<KBox<Mutex<Registry>>>,
}

impl Gvt {
    /// Brings up the GPUs gvt.ko drives and publishes the registry to backends.
    pub(crate) fn new() -> Result<Gvt> {
        let registry = KBox::pin_init(
            new_mutex!(
                Registry {
                    devices: [const { None }; MAX_DEVICES],
                    backends: [const { None }; MAX_BACKENDS]
                },
                "gvt::registry"
            ),
            GFP_KERNEL,
        )?;
        let gvt = Gvt { registry };
        #[cfg(gvt_sim)]
        gvt.add_sim()?;
        REGISTRY.store(ptr::from_ref(&*gvt.registry).cast_mut(), Ordering::Release);
        Ok(gvt)
    }

    #[cfg(gvt_sim)]
    fn add_sim(&self) -> Result {
        use crate::model::host::HostGpu;
        use crate::sim::SimHost;

        let mut dev = ptr::null_mut();
        // SAFETY: `dev` is a valid out-pointer; on success it receives a registered device that we
        // unregister exactly once, in `Drop` (or below if we cannot keep it).
        kernel::error::to_result(unsafe { super::ffi::gvt_sim_register(&mut dev) })?;
        let release = super::ffi::gvt_sim_unregister;
        let device = match GvtDevice::new(dev, release, *SimHost::broxton().info()) {
            Ok(d) => d,
            Err(e) => {
                // SAFETY: registered just above and not stored anywhere.
                unsafe { super::ffi::gvt_sim_unregister(dev) };
                return Err(e);
            }
        };
        let types = device.types.len();
        let mut reg = self.registry.lock();
        match reg.devices.iter_mut().find(|d| d.is_none()) {
            Some(slot) => *slot = Some(device),
            None => {
                // SAFETY: registered just above and not stored anywhere.
                unsafe { super::ffi::gvt_sim_unregister(dev) };
                return Err(ENOSPC);
            }
        }
        pr_info!("sim GPU ready, {} vGPU types\n", types);
        Ok(())
    }
}

impl Drop for Gvt {
    fn drop(&mut self) {
        REGISTRY.store(ptr::null_mut(), Ordering::Release);
        let mut reg = self.registry.lock();
        for slot in reg.devices.iter_mut() {
            if let Some(d) = slot.take() {
                // SAFETY: `release` is the function that unregisters `dev`, called once, here,
                // after the device left the registry and no backend holds it any more.
                unsafe { (d.release)(d.dev) };
            }
        }
    }
}
