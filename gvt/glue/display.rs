//! The virtual display's clock and the host side of plane ownership, in gvt.ko.
//!
//! The core emulates vblanks, flips and frame counters from the time it is given
//! (`Vgpu::display_tick`); a delayed work item per GPU gives it that time. Each run ticks every
//! vGPU whose deadline has passed and re-arms for the earliest next one; a late run loses no
//! frames, the core catches its counters up. The plane writes the core forwards (the vGPU owns
//! the plane under the `domain_plane_owners` policy) go to the host's registers, and a vGPU's
//! planes are turned off before it goes away.

use core::ffi::c_void;
use core::ptr;
use core::sync::atomic::{AtomicPtr, Ordering};

use kernel::prelude::*;
use kernel::time::Ktime;

use super::devices::GvtDevice;
use super::exec::{self, Submitter};
use super::ffi;
use super::vgpu::{VgpuHandle, VgpuState};
use crate::model::display::owner::PlaneWrites;
use crate::model::host::HostExec;

/// Now, on the clock the display runs on (monotonic ns).
pub(super) fn now_ns() -> u64 {
    u64::try_from(Ktime::ktime_get().to_ns()).unwrap_or(0)
}

/// A GPU's display clock: a delayed work item, started once its device is in place.
pub(super) struct Clock(AtomicPtr<ffi::gvt_clock>);

impl Clock {
    /// A clock not started yet.
    pub(super) const fn new() -> Clock {
        Clock(AtomicPtr::new(ptr::null_mut()))
    }

    /// Starts the clock of `dev` (which owns it and so outlives it); idle until armed.
    pub(super) fn start(&self, dev: &GvtDevice) -> Result {
        // SAFETY: `tick` matches the callback type; `dev` outlives the clock.
        let c = unsafe { ffi::gvt_clock_create(Some(tick), dev.handle().cast()) };
        if c.is_null() {
            return Err(ENOMEM);
        }
        self.0.store(c, Ordering::Release);
        Ok(())
    }

    /// Runs the clock within `delay_ns` (now, for 0), unless a run is pending already.
    fn arm(&self, delay_ns: u64) {
        let c = self.0.load(Ordering::Acquire);
        if !c.is_null() {
            // SAFETY: created in `start`, destroyed only in `drop`.
            unsafe { ffi::gvt_clock_arm(c, delay_ns) };
        }
    }

    /// Waits until a tick in progress (or pending) has run.
    pub(super) fn sync(&self) {
        let c = self.0.load(Ordering::Acquire);
        if !c.is_null() {
            // SAFETY: as in `arm`.
            unsafe { ffi::gvt_clock_sync(c) };
        }
    }

    /// Runs the clock after `delay_ns`, replacing any pending run.
    fn rearm(&self, delay_ns: u64) {
        let c = self.0.load(Ordering::Acquire);
        if !c.is_null() {
            // SAFETY: as in `arm`.
            unsafe { ffi::gvt_clock_rearm(c, delay_ns) };
        }
    }
}

impl Drop for Clock {
    fn drop(&mut self) {
        let c = self.0.load(Ordering::Acquire);
        if !c.is_null() {
            // SAFETY: created in `start`; waits for a running tick, then frees.
            unsafe { ffi::gvt_clock_destroy(c) };
        }
    }
}

/// Applies what the core forwards to the host's registers.
fn forward(sub: &Submitter<'_>, st: &mut VgpuState) {
    while let Some(f) = st.vgpu.take_forward() {
        sub.mmio_write(f.offset, f.value);
    }
}

/// After a guest write (or a reset): forwarded plane writes reach the host, and a pipe the
/// guest just enabled gets its clock.
pub(super) fn after_write(dev: &GvtDevice, h: &VgpuHandle, st: &mut VgpuState) {
    forward(&Submitter::new(dev, h), st);
    if st.vgpu.display_deadline().is_some() {
        dev.clock.arm(0);
    }
}

/// Turns off the host planes `st`'s vGPU owns (before it is destroyed).
pub(super) fn disable_planes(dev: &GvtDevice, h: &VgpuHandle, st: &VgpuState) {
    let writes: PlaneWrites = dev.gvt.lock().disable_planes_of(&st.vgpu);
    let sub = Submitter::new(dev, h);
    for w in writes {
        sub.mmio_write(w.offset, w.value);
    }
}

/// The clock's run: ticks every vGPU that is due, re-arms for the next deadline.
///
/// # Safety
///
/// `data` is the `GvtDevice` that created the clock, alive until the clock is destroyed.
unsafe extern "C" fn tick(data: *mut c_void) {
    // SAFETY: per the contract.
    let dev = unsafe { &*data.cast::<GvtDevice>() };
    let now = now_ns();
    let mut next: Option<u64> = None;
    // Not under the device's `exec` lock: a vGPU lock held long (a busy guest) must not stall
    // the engines' scheduling too. `exec::remove` waits for this tick instead.
    for &hp in exec::vgpus(dev).iter().filter(|&&v| v != 0) {
        // SAFETY: listed when this tick began; `exec::remove` unlists a handle, then waits for
        // the tick to end (`Clock::sync`) before the handle is freed.
        let h = unsafe { &*(hp as *const VgpuHandle) };
        let mut guard = h.state.lock();
        let Some(st) = guard.as_deref_mut() else {
            continue;
        };
        let due = match st.vgpu.display_deadline() {
            Some(d) if d <= now => st.vgpu.display_tick(&mut h.mpt(), now).unwrap_or(None),
            d => d,
        };
        forward(&Submitter::new(dev, h), st);
        if let Some(d) = due {
            next = Some(next.map_or(d, |n| n.min(d)));
        }
    }
    if let Some(n) = next {
        dev.clock.rearm(n.saturating_sub(now_ns()));
    }
}
