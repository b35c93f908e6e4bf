//! The vGPU's display entry points for the glue: the vblank clock (`display_tick` at
//! `display_deadline`), monitor hotplug, plane queries for the host, the EDID, and the writes
//! a direct-display owner's plane accesses must make on the hardware (`take_forward`).

use super::*;
use crate::model::display::owner::{Forward, PlaneWrites};
use crate::model::display::plane::{self, PlaneInfo, PlaneKind};
use crate::model::display::{DisplayStats, Env, Pipe, RegsRef};

impl<S: VgpuStorage> Vgpu<S> {
    /// Emulates the vblanks due by `now_ns` (a monotonic clock in ns) and injects an MSI if
    /// one is due. Returns when to call again ([`Vgpu::display_deadline`]).
    pub fn display_tick(&mut self, mpt: &mut dyn MptOps, now_ns: u64) -> Result<Option<u64>> {
        let raised = self
            .display
            .tick(&mut Regs(self.store.vreg_mut(), &mut self.written), now_ns);
        if raised {
            self.deliver(mpt)?;
        }
        Ok(self.display_deadline())
    }

    /// When the vblank clock wants [`Vgpu::display_tick`] (ns; `Some(0)` for at once, as after
    /// a guest enabled a pipe), or `None` with every pipe off or no VM attached (an inactive
    /// vGPU needs no timer; frames pile up and are counted at the first tick after
    /// activation). The glue checks it after MMIO writes, activation and each tick to (re)arm
    /// its timer.
    pub fn display_deadline(&self) -> Option<u64> {
        self.display.deadline().filter(|_| self.active)
    }

    /// Plugs the virtual monitor in or out (a VMM's display link up or down), with a hotplug
    /// interrupt.
    pub fn display_hotplug(&mut self, mpt: &mut dyn MptOps, connected: bool) -> Result {
        let raised = self.display.hotplug(
            &mut Regs(self.store.vreg_mut(), &mut self.written),
            self.info.platform,
            connected,
        );
        if raised {
            return self.deliver(mpt);
        }
        Ok(())
    }

    /// Decodes the primary plane, sprite or cursor of the first running pipe, as
    /// VFIO_DEVICE_QUERY_GFX_PLANE reports it. `NoDevice` when nothing is shown.
    pub fn query_plane(&self, kind: PlaneKind) -> Result<PlaneInfo> {
        let hot = (
            self.vreg(field::CURSOR_X_HOT),
            self.vreg(field::CURSOR_Y_HOT),
        );
        plane::query(&self.regs_view(), &self.part, kind, hot)
    }

    /// Decodes universal plane `plane` (0 = plane 1) of `pipe`.
    pub fn plane_info(&self, pipe: Pipe, plane: u32) -> Result<PlaneInfo> {
        plane::decode(&self.regs_view(), &self.part, pipe, plane)
    }

    /// The monitor's EDID (for a VFIO EDID region).
    pub fn edid(&self) -> &[u8] {
        self.display.edid(self.store.edid())
    }

    /// Gives the monitor the EDID `blob`, or back its own with `None`. A blob
    /// `display::edid::validate` refuses is `Invalid` and changes nothing. The monitor keeps
    /// it across resets; the guest reads it at its next DDC transaction, so a backend
    /// replacing the monitor unplugs it first and plugs it back after ([`Vgpu::display_hotplug`]).
    pub fn set_edid(&mut self, blob: Option<&[u8]>) -> Result {
        match blob {
            Some(b) => self.display.set_edid(self.store.edid_mut(), b),
            None => {
                self.display.default_edid(self.store.edid_mut());
                Ok(())
            }
        }
    }

    /// The refresh rate (mHz) of `pipe` if it runs.
    pub fn refresh_mhz(&self, pipe: Pipe) -> Option<u32> {
        self.display.refresh_mhz(pipe)
    }

    /// Display counters.
    pub fn display_stats(&self) -> &DisplayStats {
        self.display.stats()
    }

    /// The next write the host must apply to the hardware for this vGPU (see
    /// `display::owner`). The glue takes them all after every MMIO write and after resets.
    pub fn take_forward(&mut self) -> Option<Forward> {
        self.display.take_forward()
    }

    /// The writes that turn off the host planes this vGPU owns, for its destruction.
    pub fn plane_disables(&self) -> PlaneWrites {
        self.display.plane_disables()
    }

    /// The host planes this vGPU owns (bit `pipe * 4 + plane index`).
    pub fn planes_owned(&self) -> u16 {
        self.display.owned()
    }

    pub(crate) fn set_planes_owned(&mut self, mask: u16) {
        self.display.set_owned(mask);
    }

    /// Emulates a write to a display register (the table's display handlers).
    pub(super) fn display_write(
        &mut self,
        mpt: &mut dyn MptOps,
        h: Handler,
        off: u32,
        v: u32,
    ) -> Result {
        let (vreg, edid) = self.store.display_parts();
        let env = Env {
            platform: self.info.platform,
            part: &self.part,
            edid: self.display.edid(edid),
        };
        let raised = self
            .display
            .write(&mut Regs(vreg, &mut self.written), env, h, off, v);
        if raised {
            return self.deliver(mpt);
        }
        Ok(())
    }

    /// Emulates a read of a display register with side effects.
    pub(super) fn display_read(&mut self, h: Handler, off: u32) -> u32 {
        let (vreg, edid) = self.store.display_parts();
        let edid = self.display.edid(edid);
        self.display
            .read(&mut Regs(vreg, &mut self.written), edid, h, off)
    }

    fn regs_view(&self) -> RegsRef<'_> {
        RegsRef(self.store.vreg())
    }
}
