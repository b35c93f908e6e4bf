//! The GPUs gvt.ko drives and the backends registered with it.
//!
//! One registry per module instance, published through a static pointer because the C ABI's
//! entry points have nowhere else to find it. A backend can only call in while gvt.ko is live
//! (it links against gvt.ko's symbols, so gvt.ko cannot unload under it), which bounds every use
//! of the pointer.

use core::ffi::c_void;
use core::ptr;
use core::sync::atomic::{AtomicPtr, Ordering};

use kernel::{new_mutex, prelude::*, sync::Mutex};

use super::abi::{device, gvt_backend, gvt_device};
use super::grants::Grants;
use super::to_kernel_error;
use crate::model::aperture::AperturePage;
use crate::model::error::{GvtError, Result as ModelResult};
use crate::model::gvt::Gvt;
use crate::model::host::HostGpu;
use crate::model::vgpu::GTT_PAGE_SIZE;

/// Most GPUs one gvt.ko drives at once.
pub(super) const MAX_DEVICES: usize = 4;
const _: () = assert!(MAX_DEVICES <= 32);
/// Most backends registered at once.
pub(super) const MAX_BACKENDS: usize = 8;

/// The physical GPU behind a device.
pub(super) enum Host {
    /// The software Gen9 GPU.
    #[cfg(gvt_sim)]
    Sim(Pin<KBox<super::sim::SimGpu>>),
    /// An Intel GPU i915 handed over.
    #[cfg(gvt_i915)]
    I915(Pin<KBox<super::i915::I915Gpu>>),
}

impl Host {
    pub(super) fn gpu(&self) -> &dyn HostGpu {
        match self {
            #[cfg(gvt_sim)]
            Host::Sim(s) => &s.host,
            #[cfg(gvt_i915)]
            Host::I915(g) => &**g,
        }
    }

    /// Copies `len` bytes between `buf` and the aperture at `offset` (a graphics address, within
    /// one page), which `page` backs; a page the sim reaches through the GGTT must lie in the
    /// vGPU's `grants`. `Fault` for a page this host cannot have.
    #[cfg_attr(not(gvt_sim), allow(unused_variables))]
    pub(super) fn aperture_rw(
        &self,
        page: AperturePage,
        offset: u64,
        grants: &Mutex<Grants>,
        buf: *mut u8,
        len: usize,
        write: bool,
    ) -> ModelResult {
        match (self, page) {
            #[cfg(gvt_sim)]
            (Host::Sim(_), AperturePage::Dma(addr)) => {
                let at = addr | (offset % GTT_PAGE_SIZE);
                if super::sim::rw_granted(grants, at, buf, len, write) {
                    Ok(())
                } else {
                    Err(GvtError::Fault)
                }
            }
            #[cfg(gvt_i915)]
            (Host::I915(g), AperturePage::Bar(_)) => g.aperture_rw(offset, buf, len, write),
            _ => Err(GvtError::Fault),
        }
    }

    /// Starts the GPU's worker, which runs `f(data)` whenever kicked.
    fn start(&self, f: unsafe extern "C" fn(*mut c_void), data: *mut c_void) -> Result {
        match self {
            #[cfg(gvt_sim)]
            Host::Sim(s) => s.start(f, data),
            #[cfg(gvt_i915)]
            Host::I915(g) => g.start(f, data),
        }
    }
}

/// A physical (or sim) GPU. C sees a pointer to it as `struct gvt_device *`.
#[pin_data]
pub(crate) struct GvtDevice {
    /// Its debugfs directory (first: it goes, waiting for its readers, before anything else).
    pub(super) debugfs: super::debugfs::GpuDir,
    /// The vblank clock of its vGPUs' displays (first: it stops before anything else goes).
    pub(super) clock: super::display::Clock,
    /// The struct device backends hang their objects on.
    pub(super) dev: *mut device,
    /// Unregisters `dev` when gvt.ko lets the GPU go.
    release: unsafe extern "C" fn(*mut device),
    /// The GPU.
    pub(super) host: Host,
    /// The device model's state of this GPU: its vGPUs' partitions and types.
    #[pin]
    pub(super) gvt: Mutex<Gvt>,
    /// Scheduling of its vGPUs' workloads.
    #[pin]
    pub(super) exec: Mutex<super::exec::DevExec>,
    /// Buffers of destroyed vGPUs for the next creations (a leaf lock).
    #[pin]
    pub(super) spares: Mutex<super::vgpu::Spares>,
}

// SAFETY: `dev` points to a refcounted kernel object that stays registered for the whole life of
// the `GvtDevice` (it is unregistered only after the device left the registry); the host is
// used only through `&self` methods made for sharing (atomics), and the rest is behind `gvt`.
unsafe impl Send for GvtDevice {}
// SAFETY: see `Send`.
unsafe impl Sync for GvtDevice {}

impl GvtDevice {
    /// Wraps a registered struct device. `release` is called exactly once, by the registry, when
    /// the device is dropped from it; if this fails, the caller still owns `dev`.
    fn new(
        dev: *mut device,
        release: unsafe extern "C" fn(*mut device),
        host: Host,
    ) -> Result<Pin<KBox<GvtDevice>>> {
        let mut gvt = Gvt::new(host.gpu()).map_err(to_kernel_error)?;
        gvt.set_plane_owners(plane_policy(host.gpu().info().platform)?)
            .map_err(to_kernel_error)?;
        KBox::pin_init(
            try_pin_init!(GvtDevice {
                debugfs: super::debugfs::GpuDir::new(),
                clock: super::display::Clock::new(),
                dev,
                release,
                host,
                gvt <- new_mutex!(gvt, "gvt_device::gvt"),
                exec <- new_mutex!(super::exec::DevExec::new(), "gvt_device::exec"),
                spares <- new_mutex!(super::vgpu::Spares::new(), "gvt_device::spares"),
            }),
            GFP_KERNEL,
        )
    }

    /// Host memory allocations the GPU holds (shadow tables, contexts, rings).
    #[cfg(gvt_kunit)]
    pub(super) fn host_pages(&self) -> usize {
        match &self.host {
            #[cfg(gvt_sim)]
            Host::Sim(s) => s.allocations(),
            #[cfg(gvt_i915)]
            Host::I915(g) => g.allocations(),
        }
    }

    /// GGTT entries the GPU has mapped for batch shadows.
    #[cfg(gvt_kunit)]
    pub(super) fn shadow_ggtt_entries(&self) -> usize {
        match &self.host {
            #[cfg(gvt_sim)]
            Host::Sim(s) => s.host.reserve_mapped(),
            #[cfg(gvt_i915)]
            Host::I915(g) => g.shadow_ggtt_entries(),
        }
    }

    /// The pointer C code holds for this device.
    pub(super) fn handle(&self) -> *mut gvt_device {
        ptr::from_ref(self).cast_mut().cast()
    }
}

/// A string module parameter, through its C accessor.
fn param(get: unsafe extern "C" fn(*mut usize) -> *const u8) -> Result<&'static str> {
    let mut len = 0usize;
    // SAFETY: the parameter is a string of `len` bytes that lives as long as the module
    // (read-only in sysfs, so nothing replaces it).
    let bytes = unsafe { core::slice::from_raw_parts(get(&mut len), len) };
    core::str::from_utf8(bytes).map_err(|_| EINVAL)
}

/// The plane ownership policy the module parameters give for a `platform` GPU.
fn plane_policy(
    platform: crate::model::hw::Platform,
) -> Result<crate::model::display::owner::OwnerPolicy> {
    let owners = param(super::ffi::gvt_param_domain_plane_owners)?;
    let avail = param(super::ffi::gvt_param_avail_planes_per_pipe)?;
    crate::model::display::owner::OwnerPolicy::parse(platform, owners, avail).map_err(|e| {
        pr_err!(
            "domain_plane_owners={} avail_planes_per_pipe={}: not a valid policy\n",
            owners,
            avail
        );
        to_kernel_error(e)
    })
}

/// A registered backend and the devices it accepted (bit i: device slot i).
pub(super) struct BackendSlot {
    pub(super) be: *const gvt_backend,
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

/// The index of the first element of `items` that satisfies `f`. Unlike `Iterator::position`,
/// whose counter carries an overflow check, this has no panic path.
pub(super) fn first_index<T>(items: &[T], f: impl Fn(&T) -> bool) -> Option<usize> {
    (0..items.len()).find(|&i| items.get(i).is_some_and(&f))
}

static REGISTRY: AtomicPtr<Mutex<Registry>> = AtomicPtr::new(ptr::null_mut());

/// The registry, while gvt.ko is live.
pub(super) fn registry() -> Option<&'static Mutex<Registry>> {
    let p = REGISTRY.load(Ordering::Acquire);
    // SAFETY: `p` is null or `Driver::registry` (pinned), published by `Driver::new` and cleared
    // first in `Drop`; callers (gvt.ko, backends linked to it) cannot outlive gvt.ko.
    unsafe { p.as_ref() }
}

/// gvt.ko's state for the life of the module.
pub(crate) struct Driver {
    registry: Pin<KBox<Mutex<Registry>>>,
    /// `/sys/kernel/debug/gvt/`; dropped after `Drop::drop` let every device (and vGPU) go.
    _debugfs: super::debugfs::Root,
}

impl Driver {
    /// Brings up the GPUs gvt.ko drives and publishes the registry to backends.
    pub(crate) fn new() -> Result<Driver> {
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
        let driver = Driver {
            registry,
            _debugfs: super::debugfs::Root::new(),
        };
        #[cfg(gvt_sim)]
        driver.add_sim()?;
        REGISTRY.store(
            ptr::from_ref(&*driver.registry).cast_mut(),
            Ordering::Release,
        );
        // i915 adds its devices from in here (the registry must be published); on failure the
        // driver's drop undoes everything.
        #[cfg(gvt_i915)]
        super::i915::register()?;
        Ok(driver)
    }

    #[cfg(gvt_sim)]
    fn add_sim(&self) -> Result {
        let name = param(super::ffi::gvt_sim_param_platform)?;
        let Some(platform) = crate::model::hw::Platform::from_name(name) else {
            pr_err!(
                "sim_platform={}: not one of bxt, skl, kbl, cfl, cml\n",
                name
            );
            return Err(EINVAL);
        };
        let host = Host::Sim(super::sim::SimGpu::new(crate::sim::info(platform))?);

        let mut dev = ptr::null_mut();
        // SAFETY: `dev` is a valid out-pointer; on success it receives a registered device that we
        // unregister exactly once, in `Drop` (or below if we cannot keep it).
        kernel::error::to_result(unsafe { super::ffi::gvt_sim_register(&mut dev) })?;
        let release = super::ffi::gvt_sim_unregister;
        let device = match GvtDevice::new(dev, release, host) {
            Ok(d) => d,
            Err(e) => {
                // SAFETY: registered just above and not stored anywhere.
                unsafe { release(dev) };
                return Err(e);
            }
        };
        let types = device.gvt.lock().types().len();
        // The device is pinned and outlives its worker and clock, which it destroys on drop.
        if let Err(e) = device
            .host
            .start(super::exec::run_gpu, device.handle().cast())
            .and_then(|()| device.clock.start(&device))
        {
            drop(device);
            // SAFETY: registered just above and not stored anywhere.
            unsafe { release(dev) };
            return Err(e);
        }
        device.debugfs.add(&device);
        let mut reg = self.registry.lock();
        match reg.devices.iter_mut().find(|d| d.is_none()) {
            Some(slot) => *slot = Some(device),
            None => {
                // SAFETY: registered just above and not stored anywhere.
                unsafe { release(dev) };
                return Err(ENOSPC);
            }
        }
        let id = crate::sim::info(platform).pci.device;
        pr_info!(
            "sim GPU ready: {} ({:#06x}), {} vGPU types\n",
            platform.name(),
            id,
            types
        );
        Ok(())
    }
}

/// Adds the device i915 hands over (`init_device`) and offers it to the registered backends.
#[cfg(gvt_i915)]
pub(super) fn add_i915(raw: *mut super::ffi::gvt_i915) -> Result {
    let registry = registry().ok_or(ENODEV)?;
    let host = Host::I915(super::i915::I915Gpu::new(raw)?);
    // SAFETY: `raw` is the live device being handed over; we own the reference we get and drop
    // it exactly once, through `release`, when the device leaves the registry (or below).
    let dev = unsafe { super::ffi::gvt_i915_dev(raw) };
    let release = super::ffi::gvt_i915_put_dev;
    let device = match GvtDevice::new(dev, release, host) {
        Ok(d) => d,
        Err(e) => {
            // SAFETY: taken just above and not stored anywhere.
            unsafe { release(dev) };
            return Err(e);
        }
    };
    // The device is pinned and outlives its worker and clock, which it destroys on drop.
    if let Err(e) = device
        .host
        .start(super::exec::run_gpu, device.handle().cast())
        .and_then(|()| device.clock.start(&device))
    {
        drop(device);
        // SAFETY: taken above and not stored anywhere.
        unsafe { release(dev) };
        return Err(e);
    }
    device.debugfs.add(&device);
    let types = device.gvt.lock().types().len();
    let mut reg = registry.lock();
    let Some(slot) = first_index(&reg.devices, Option::is_none) else {
        drop(reg);
        drop(device);
        // SAFETY: taken above and not stored anywhere.
        unsafe { release(dev) };
        return Err(ENOSPC);
    };
    let bit = 1u32
        .checked_shl(u32::try_from(slot).unwrap_or(u32::MAX))
        .unwrap_or(0);
    for be in reg.backends.iter_mut().flatten() {
        // SAFETY: a registered backend stays valid until it unregisters, under this lock.
        if super::mpt_abi::offer(unsafe { &*be.be }, &device) {
            be.added |= bit;
        }
    }
    if let Some(s) = reg.devices.get_mut(slot) {
        *s = Some(device);
    }
    pr_info!("i915 GPU ready, {} vGPU types\n", types);
    Ok(())
}

/// Takes the device i915 takes back (`clean_device`) out of the registry: the backends that
/// accepted it give up its vGPUs, then it is released.
#[cfg(gvt_i915)]
pub(super) fn remove_i915(raw: *mut super::ffi::gvt_i915) {
    let Some(registry) = registry() else { return };
    let mut reg = registry.lock();
    let Some(slot) = first_index(&reg.devices, |d| {
        d.as_ref()
            .is_some_and(|d| matches!(&d.host, Host::I915(g) if g.is(raw)))
    }) else {
        return;
    };
    let bit = 1u32
        .checked_shl(u32::try_from(slot).unwrap_or(u32::MAX))
        .unwrap_or(0);
    let Registry { devices, backends } = &mut *reg;
    let Some(device) = devices.get_mut(slot).and_then(Option::take) else {
        return;
    };
    for be in backends.iter_mut().flatten().filter(|b| b.added & bit != 0) {
        // SAFETY: as in `add_i915`.
        super::mpt_abi::withdraw(unsafe { &*be.be }, &device);
        be.added &= !bit;
    }
    let (release, dev) = (device.release, device.dev);
    drop(device);
    // SAFETY: `release` drops the reference `add_i915` took, once, after the device is gone.
    unsafe { release(dev) };
}

impl Drop for Driver {
    fn drop(&mut self) {
        // i915 cleans its devices (`remove_i915`) while the registry is still published.
        #[cfg(gvt_i915)]
        super::i915::unregister();
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
