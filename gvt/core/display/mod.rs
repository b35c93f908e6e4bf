//! Display virtualization: the virtual DisplayPort monitor, the display engine state a guest
//! i915 modesets against, vblank and flip emulation, plane decoding for the host (dmabuf, plane
//! query) and plane-based ownership for the direct display model.
//!
//! Every vGPU sees one DP monitor on the platform's port (PORT_B on Broxton, PORT_D on Skylake
//! and Kaby Lake, as upstream): its EDID ([`edid`]) over I2C-over-AUX ([`aux`]) and GMBUS
//! ([`gmbus`]), its DPCD with link training ([`dpcd`]), and the DDI, PLL, PHY, transcoder and
//! hotplug state a driver polls ([`pipe`]). The display engine itself is not run: planes are
//! registers only, scanout happens elsewhere (a host compositor through [`plane`] decoding, or
//! the real hardware for planes the vGPU owns under [`owner`]).
//!
//! Like the rest of the core this is sans-I/O: state lives in the register file plus a small
//! [`Display`] inside the vGPU; time comes in through `tick` ([`vblank`]); writes that should
//! reach the hardware come out as [`owner::Forward`] decisions the glue applies.

pub mod aux;
pub mod ddc;
pub mod dpcd;
pub mod edid;
pub mod firmware;
pub mod gmbus;
pub mod owner;
pub mod pipe;
pub mod plane;
#[allow(non_camel_case_types, non_upper_case_globals)]
pub mod regs;
pub mod vblank;

use super::error::Result;
use super::hw::Platform;
use super::irq::{self, Event};
use super::mmio_table::Handler;
use super::num::{u16_as_usize, u32_as_usize};
use super::resources::Partition;
use super::vgpu::Written;
use super::vgpu_type::Resolution;
use ddc::Ddc;
use dpcd::Dpcd;
use gmbus::Gmbus;
use owner::{Forward, PlaneWrites};
use regs::*;
use vblank::PipeClock;

/// Display pipes.
pub const PIPES: u32 = 3;
/// Most universal planes on one pipe (Broxton pipes A and B).
pub const MAX_PLANES: u32 = 4;
/// Forward decisions a vGPU holds until the glue takes them (one access makes at most two).
const FORWARDS: usize = 2;
/// [`edid::EDID_SIZE`] as the display counts EDID bytes.
const BLOCK_LEN: u16 = 128;
const _: () = assert!(u16_as_usize(BLOCK_LEN) == edid::EDID_SIZE);

/// A display pipe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pipe {
    /// Pipe A.
    A,
    /// Pipe B.
    B,
    /// Pipe C.
    C,
}

impl Pipe {
    /// All pipes.
    pub const ALL: [Pipe; 3] = [Pipe::A, Pipe::B, Pipe::C];

    /// 0 for A, 1 for B, 2 for C.
    pub const fn index(self) -> u32 {
        match self {
            Pipe::A => 0,
            Pipe::B => 1,
            Pipe::C => 2,
        }
    }

    /// The pipe of index 0-2.
    pub const fn from_index(i: u32) -> Option<Pipe> {
        match i {
            0 => Some(Pipe::A),
            1 => Some(Pipe::B),
            2 => Some(Pipe::C),
            _ => None,
        }
    }

    /// Its letter.
    pub const fn name(self) -> char {
        match self {
            Pipe::A => 'A',
            Pipe::B => 'B',
            Pipe::C => 'C',
        }
    }
}

/// Universal planes on `pipe` of `platform`.
pub const fn planes_on(platform: Platform, pipe: Pipe) -> u32 {
    let [a, b, c] = platform.hw().display.planes;
    match pipe {
        Pipe::A => a,
        Pipe::B => b,
        Pipe::C => c,
    }
}

/// The DDI port of the platform's virtual monitor.
pub const fn monitor_port(platform: Platform) -> u32 {
    platform.hw().display.monitor_port
}

/// Counters of display requests the emulation refused or dropped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DisplayStats {
    /// Malformed AUX transactions (bad message size or length).
    pub bad_aux: u32,
    /// Plane surface writes not forwarded because the surface is outside the vGPU's memory.
    pub bad_surfaces: u32,
    /// Forward decisions dropped because the glue did not take them in time.
    pub dropped_forwards: u32,
    /// Vblanks emulated (all pipes).
    pub vblanks: u32,
}

/// Read-only register file access (out-of-range offsets read 0).
#[derive(Clone, Copy)]
pub struct RegsRef<'a>(pub &'a [u32]);

impl RegsRef<'_> {
    /// The register at `off`.
    pub fn get(&self, off: u32) -> u32 {
        self.0.get(u32_as_usize(off >> 2)).copied().unwrap_or(0)
    }
}

/// Register file access for the display code (out-of-range offsets read 0 and drop writes),
/// marking what it writes in the vGPU's [`Written`].
pub struct Regs<'a>(pub &'a mut [u32], pub &'a mut Written);

impl Regs<'_> {
    /// A read-only view.
    pub fn view(&self) -> RegsRef<'_> {
        RegsRef(self.0)
    }

    /// The register at `off`.
    pub fn get(&self, off: u32) -> u32 {
        self.view().get(off)
    }

    /// Sets the register at `off`.
    pub fn set(&mut self, off: u32, v: u32) {
        if let Some(r) = self.0.get_mut(u32_as_usize(off >> 2)) {
            *r = v;
            self.1.mark(off);
        }
    }

    /// Clears then sets bits of the register at `off`.
    pub fn update(&mut self, off: u32, clear: u32, set: u32) {
        let v = (self.get(off) & !clear) | set;
        self.set(off, v);
    }

    /// Raises an interrupt event; returns whether it latched.
    pub fn raise(&mut self, e: Event) -> bool {
        self.1.mark_irq();
        irq::propagate(self.0, e)
    }
}

/// What a vGPU's display needs besides its registers.
#[derive(Clone, Copy, Debug)]
pub struct Env<'a> {
    /// The platform.
    pub platform: Platform,
    /// The vGPU's graphics memory (plane surfaces must lie inside).
    pub part: &'a Partition,
    /// The monitor's EDID ([`Display::edid`] of the vGPU's EDID storage).
    pub edid: &'a [u8],
}

/// A vGPU's display state beyond its registers.
#[derive(Clone, Copy, Debug)]
pub struct Display {
    res: Resolution,
    /// Bytes of the EDID in the vGPU's EDID storage.
    edid_len: u16,
    connected: bool,
    dpcd: Dpcd,
    ddc: Ddc,
    gmbus: Gmbus,
    pipes: [PipeClock; u32_as_usize(PIPES)],
    owned: u16,
    disables: PlaneWrites,
    forwards: [Forward; FORWARDS],
    queued: u8,
    stats: DisplayStats,
}

impl Display {
    /// The display of a vGPU whose monitor has resolution `res`.
    pub const fn new(res: Resolution) -> Display {
        Display {
            res,
            edid_len: BLOCK_LEN,
            connected: true,
            dpcd: Dpcd::new(),
            ddc: Ddc {
                source: ddc::Source::None,
                selected: false,
                available: false,
                offset: 0,
            },
            gmbus: Gmbus::new(),
            pipes: [PipeClock::new(); u32_as_usize(PIPES)],
            owned: 0,
            disables: PlaneWrites::none(),
            forwards: [Forward {
                offset: 0,
                value: 0,
            }; FORWARDS],
            queued: 0,
            stats: DisplayStats {
                bad_aux: 0,
                bad_surfaces: 0,
                dropped_forwards: 0,
                vblanks: 0,
            },
        }
    }

    /// Plugs the monitor back in and puts the display registers in the state firmware leaves
    /// when it lit the monitor (upstream's `emulate_monitor_status_change`, completed by
    /// [`firmware`]): creation and device resets. Pipe A shows the preferred mode of the EDID
    /// in `store`, or the type's own if the sink cannot carry it. The planes the vGPU owns on
    /// the host are turned off through the forward queue. The monitor keeps its EDID: a VMM
    /// sets it once, not at every guest reboot.
    pub fn reset(&mut self, regs: &mut Regs<'_>, store: &[u8], platform: Platform) {
        let (owned, edid_len) = (self.owned, self.edid_len);
        *self = Display::new(self.res);
        self.owned = owned;
        self.edid_len = edid_len;
        self.disables = PlaneWrites::new(owned);
        let mode = edid::preferred_mode(self.edid(store))
            .filter(|m| firmware::usable(m, platform))
            .unwrap_or(edid::Mode::of(self.res));
        pipe::monitor_init(regs, platform, true);
        firmware::cdclk_init(regs, platform);
        if let Some(link) = firmware::light(regs, platform, &mode) {
            self.dpcd
                .set_trained(link.bw_code(), u8::try_from(link.lanes).unwrap_or(0));
        }
        self.sync_clocks(regs);
    }

    /// The monitor's resolution.
    pub fn resolution(&self) -> Resolution {
        self.res
    }

    /// The monitor's EDID, out of the vGPU's EDID storage `store`.
    pub fn edid<'a>(&self, store: &'a [u8]) -> &'a [u8] {
        store.get(..usize::from(self.edid_len)).unwrap_or(&[])
    }

    /// Gives the monitor the EDID `blob` (into `store`, [`edid::EDID_MAX_SIZE`] bytes) if
    /// [`edid::validate`] accepts it; otherwise `Invalid` and the EDID stays as it was. The
    /// guest reads it at its next DDC transaction; a backend changing monitors unplugs the
    /// old one first ([`Display::hotplug`]).
    pub fn set_edid(&mut self, store: &mut [u8], blob: &[u8]) -> Result {
        edid::validate(blob)?;
        let len = u16::try_from(blob.len()).map_err(|_| super::error::GvtError::Invalid)?;
        store
            .get_mut(..blob.len())
            .ok_or(super::error::GvtError::Invalid)?
            .copy_from_slice(blob);
        self.edid_len = len;
        Ok(())
    }

    /// Gives the monitor back its own EDID, the one of its resolution.
    pub fn default_edid(&mut self, store: &mut [u8]) {
        let block = edid::block(self.res);
        if let Some(dst) = store.get_mut(..block.len()) {
            dst.copy_from_slice(&block);
            self.edid_len = BLOCK_LEN;
        }
    }

    /// Whether the monitor is plugged in.
    pub fn connected(&self) -> bool {
        self.connected
    }

    /// Counters.
    pub fn stats(&self) -> &DisplayStats {
        &self.stats
    }

    /// The DPCD.
    pub fn dpcd(&self) -> &Dpcd {
        &self.dpcd
    }

    /// The planes this vGPU owns on the host (bit `pipe * 4 + plane index`).
    pub fn owned(&self) -> u16 {
        self.owned
    }

    /// Gives the vGPU the planes in `mask` on the host.
    pub fn set_owned(&mut self, mask: u16) {
        self.owned = mask;
    }

    fn owns(&self, pipe: u32, plane: u32) -> bool {
        let bit = pipe.wrapping_mul(MAX_PLANES).wrapping_add(plane);
        bit < 16 && self.owned & 1u16.wrapping_shl(bit) != 0
    }

    fn queue(&mut self, f: Forward) {
        match self.forwards.get_mut(usize::from(self.queued)) {
            Some(slot) => {
                *slot = f;
                self.queued = self.queued.wrapping_add(1);
            }
            None => self.stats.dropped_forwards = self.stats.dropped_forwards.saturating_add(1),
        }
    }

    /// The oldest write the host must apply: first the disables of owned planes a reset asked
    /// for, then forwarded plane writes in guest order.
    pub fn take_forward(&mut self) -> Option<Forward> {
        if let Some(f) = self.disables.next() {
            return Some(f);
        }
        if self.queued == 0 {
            return None;
        }
        let first = self.forwards.first().copied();
        self.forwards.rotate_left(1);
        self.queued = self.queued.wrapping_sub(1);
        first
    }

    /// The writes that turn off every plane the vGPU owns (for its destruction).
    pub fn plane_disables(&self) -> PlaneWrites {
        PlaneWrites::new(self.owned)
    }

    /// Unplugs or plugs the monitor; returns whether an interrupt event latched.
    pub fn hotplug(&mut self, regs: &mut Regs<'_>, platform: Platform, connected: bool) -> bool {
        self.connected = connected;
        if !connected {
            self.ddc.reset();
        }
        pipe::hotplug(regs, platform, connected)
    }

    /// Emulates a guest write to a display register with handler `h`. Returns whether an
    /// interrupt event latched (the caller then checks for an MSI).
    pub fn write(
        &mut self,
        regs: &mut Regs<'_>,
        env: Env<'_>,
        h: Handler,
        off: u32,
        v: u32,
    ) -> bool {
        match h {
            Handler::Transconf => {
                pipe::transconf_write(regs, off, v);
                self.sync_clocks(regs);
                false
            }
            Handler::DdiBufCtl => {
                pipe::ddi_buf_ctl_write(regs, off, v);
                false
            }
            Handler::DpTpCtl => {
                pipe::dp_tp_ctl_write(regs, off, v);
                false
            }
            Handler::DpTpStatus => {
                pipe::dp_tp_status_write(regs, off, v);
                false
            }
            Handler::DpAuxCtl => aux::ctl_write(self, regs, env.platform, env.edid, off, v),
            Handler::Gmbus => {
                gmbus::write(self, regs, env.platform, off, v);
                false
            }
            Handler::Plane => self.plane_write(regs, env, off, v),
            Handler::CurBase => {
                regs.set(off, v);
                regs.set(
                    off.wrapping_add(CURSURFLIVE::OFFSET.wrapping_sub(CURBASE::OFFSET)),
                    v,
                );
                false
            }
            _ => {
                regs.set(off, v);
                false
            }
        }
    }

    /// Emulates a guest read of a display register with handler `h`, for a monitor whose
    /// EDID is `edid`.
    pub fn read(&mut self, regs: &mut Regs<'_>, edid: &[u8], h: Handler, off: u32) -> u32 {
        match h {
            Handler::Gmbus => gmbus::read(self, regs, edid, off),
            _ => regs.get(off),
        }
    }

    fn plane_write(&mut self, regs: &mut Regs<'_>, env: Env<'_>, off: u32, v: u32) -> bool {
        let Some((pipe, plane, rel)) = plane::locate(off) else {
            regs.set(off, v);
            return false;
        };
        let surflive = PLANE_SURFLIVE::OFFSET.wrapping_sub(PLANE_CTL::OFFSET);
        let surf = PLANE_SURF::OFFSET.wrapping_sub(PLANE_CTL::OFFSET);
        if rel == surflive {
            return false;
        }
        regs.set(off, v);
        let forward = self.owns(pipe.index(), plane)
            && if rel == surf {
                let ok = plane::surface_fits(&regs.view(), env.part, pipe, plane);
                if !ok {
                    self.stats.bad_surfaces = self.stats.bad_surfaces.saturating_add(1);
                }
                ok
            } else {
                plane::forwardable(rel)
            };
        if forward {
            self.queue(Forward {
                offset: off,
                value: v,
            });
        }
        if rel == surf {
            self.flip(regs, pipe, plane)
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::host::MMIO_DWORDS;
    use crate::model::regs::SDEISR;
    use crate::model::resources::Span;
    use std::vec;

    fn part() -> Partition {
        Partition {
            low: Span {
                start: 0x800_0000,
                size: 0x400_0000,
            },
            high: Span {
                start: 0x1_0000_0000,
                size: 0x1000_0000,
            },
            fences: Span { start: 4, size: 4 },
        }
    }

    /// Sends one AUX request on channel `ch`; returns the control register and DATA1.
    fn aux(
        d: &mut Display,
        r: &mut Regs<'_>,
        p: Platform,
        ch: u32,
        req: u32,
        size: u32,
    ) -> (u32, u32) {
        let edid = edid::block(Resolution::R1920x1200);
        let env = Env {
            platform: p,
            part: &part(),
            edid: &edid,
        };
        let ctl = port_reg(DP_AUX_CH_CTL::OFFSET, ch);
        r.set(ctl.wrapping_add(4), req);
        d.write(r, env, Handler::DpAuxCtl, ctl, (1 << 31) | (size << 20));
        (r.get(ctl), r.get(ctl.wrapping_add(4)))
    }

    #[test]
    fn skylake_monitor_is_on_port_d() {
        let mut vreg = vec![0u32; MMIO_DWORDS];
        let mut written = Written::ALL;
        let mut r = Regs(&mut vreg, &mut written);
        let mut d = Display::new(Resolution::R1920x1200);
        d.reset(
            &mut r,
            &edid::block(Resolution::R1920x1200),
            Platform::Skylake,
        );
        assert_ne!(r.get(SDEISR::OFFSET) & SDE_PORTD_HOTPLUG_CPT, 0);
        assert_eq!(
            TRANS_DDI_FUNC_CTL(r.get(TRANS_DDI_FUNC_CTL::OFFSET))
                .get(TRANS_DDI_FUNC_CTL::TRANS_DDI_PORT_MASK),
            3
        );
        assert_eq!(r.get(port_reg(DDI_BUF_CTL::OFFSET, 3)) >> 31, 1);
        // DPCD revision over AUX D; AUX B has no sink here.
        let (c, data) = aux(&mut d, &mut r, Platform::Skylake, 3, 0x9000_0000, 4);
        assert_eq!(((c >> 30) & 1, (c >> 20) & 0x1f, data), (1, 2, 0x0012_0000));
        let (c, _) = aux(&mut d, &mut r, Platform::Skylake, 1, 0x9000_0000, 4);
        assert_ne!(c & DP_AUX_CH_CTL::DP_AUX_CH_CTL_TIME_OUT_ERROR.mask(), 0);
        // GMBUS pin 6 (DPD) answers with the EDID.
        let edid = edid::block(Resolution::R1920x1200);
        let env = Env {
            platform: Platform::Skylake,
            part: &part(),
            edid: &edid,
        };
        d.write(&mut r, env, Handler::Gmbus, GMBUS0::OFFSET, 6);
        assert_eq!(r.get(GMBUS2::OFFSET) & GMBUS2::GMBUS_SATOER.mask(), 0);
        d.write(
            &mut r,
            env,
            Handler::Gmbus,
            GMBUS1::OFFSET,
            (1 << 30) | (3 << 25) | (8 << 16) | (0x50 << 1) | 1,
        );
        assert_eq!(
            d.read(&mut r, &edid, Handler::Gmbus, GMBUS3::OFFSET),
            0xffff_ff00
        );
        assert_eq!(
            d.read(&mut r, &edid, Handler::Gmbus, GMBUS3::OFFSET),
            0x00ff_ffff
        );
        assert_ne!(
            r.get(GMBUS2::OFFSET) & GMBUS2::GMBUS_HW_WAIT_PHASE.mask(),
            0
        );
        d.write(&mut r, env, Handler::Gmbus, GMBUS0::OFFSET, 5);
        assert_ne!(
            r.get(GMBUS2::OFFSET) & GMBUS2::GMBUS_SATOER.mask(),
            0,
            "DPB: no monitor"
        );
    }

    #[test]
    fn forward_queue_holds_an_access_worth_and_counts_drops() {
        let mut vreg = vec![0u32; MMIO_DWORDS];
        let mut written = Written::ALL;
        let mut r = Regs(&mut vreg, &mut written);
        let mut d = Display::new(Resolution::R1024x768);
        d.set_owned(1);
        let env = Env {
            platform: Platform::Broxton,
            part: &part(),
            edid: &[],
        };
        for v in 0..3 {
            d.write(&mut r, env, Handler::Plane, PLANE_POS::OFFSET, v);
        }
        assert_eq!(
            d.take_forward(),
            Some(Forward {
                offset: PLANE_POS::OFFSET,
                value: 0
            })
        );
        assert_eq!(
            d.take_forward(),
            Some(Forward {
                offset: PLANE_POS::OFFSET,
                value: 1
            })
        );
        assert_eq!(d.take_forward(), None);
        assert_eq!(d.stats().dropped_forwards, 1);
        // A reset queues the owned plane's disable ahead of anything else.
        d.write(&mut r, env, Handler::Plane, PLANE_POS::OFFSET, 7);
        d.reset(
            &mut r,
            &edid::block(Resolution::R1024x768),
            Platform::Broxton,
        );
        assert_eq!(
            d.take_forward(),
            Some(Forward {
                offset: PLANE_CTL::OFFSET,
                value: 0
            })
        );
        assert_eq!(
            d.take_forward(),
            Some(Forward {
                offset: PLANE_SURF::OFFSET,
                value: 0
            })
        );
        assert_eq!(d.take_forward(), None, "the reset dropped what was queued");
    }
}
