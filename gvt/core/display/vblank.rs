//! Vblank and flip emulation, driven by time the glue passes in.
//!
//! Each running pipe has a vblank clock at its refresh rate (recomputed from the guest's
//! timings whenever TRANSCONF enables it, 60 Hz by default). [`Display::tick`] catches every
//! pipe up to `now`: for each vblank passed it counts a frame in PIPE_FRMCOUNT_G4X; once per
//! tick and pipe it completes the flips that waited for the vblank (SURFLIVE, the primary
//! plane's flip counter, the plane's flip-done event, in that order before the vblank event,
//! as upstream delivers them) and raises the vblank event. Flips with PLANE_CTL's async bit,
//! or on a pipe that does not run, complete at the PLANE_SURF write.
//!
//! The glue arms one timer per vGPU at [`Display::deadline`] (`Some(0)`: as soon as possible,
//! after a pipe was enabled) and calls `tick` when it fires; a late timer loses no frames.

use super::super::irq::Event;
use super::super::num::u32_as_usize;
use super::pipe;
use super::regs::*;
use super::{Display, Pipe, Regs};

const NS_PER_MHZ_PERIOD: u64 = 1_000_000_000_000;

/// Where a pipe's vblank clock stands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Clock {
    /// The pipe does not run.
    #[default]
    Off,
    /// The pipe was just enabled: the first tick starts the clock.
    Starting,
    /// The next vblank is due at this time (ns).
    Next(u64),
}

/// One pipe's vblank clock and the flips waiting for its next vblank.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PipeClock {
    /// The clock.
    pub clock: Clock,
    /// Refresh rate in mHz.
    pub refresh_mhz: u32,
    /// Universal planes (bit = plane index) with a flip waiting for the vblank.
    pub pending: u8,
}

impl PipeClock {
    /// A stopped clock at the default rate.
    pub const fn new() -> PipeClock {
        PipeClock {
            clock: Clock::Off,
            refresh_mhz: pipe::DEFAULT_REFRESH_MHZ,
            pending: 0,
        }
    }

    /// Nanoseconds per frame.
    pub fn period_ns(&self) -> u64 {
        NS_PER_MHZ_PERIOD
            .checked_div(u64::from(self.refresh_mhz))
            .unwrap_or(0)
            .max(1)
    }
}

impl Display {
    /// Starts or stops each pipe's clock to match its TRANSCONF (after a write or a reset).
    pub(super) fn sync_clocks(&mut self, regs: &Regs<'_>) {
        let view = regs.view();
        for &p in &Pipe::ALL {
            let on = pipe::pipe_enabled(&view, p);
            let refresh = if on {
                pipe::refresh_of(&view, &self.dpcd, p)
            } else {
                0
            };
            let Some(pc) = self.pipes.get_mut(u32_as_usize(p.index())) else {
                continue;
            };
            match (on, pc.clock) {
                (false, _) => *pc = PipeClock::new(),
                (true, Clock::Off) => {
                    pc.clock = Clock::Starting;
                    pc.refresh_mhz = refresh;
                }
                (true, _) if pc.refresh_mhz != refresh => {
                    // New timings: restart the clock at the new rate.
                    pc.clock = Clock::Starting;
                    pc.refresh_mhz = refresh;
                }
                _ => {}
            }
        }
    }

    /// The refresh rate (mHz) of a running pipe.
    pub fn refresh_mhz(&self, pipe: Pipe) -> Option<u32> {
        self.pipes
            .get(u32_as_usize(pipe.index()))
            .filter(|pc| pc.clock != Clock::Off)
            .map(|pc| pc.refresh_mhz)
    }

    /// When [`Display::tick`] is next due (ns; 0 for "now"), or `None` with every pipe off.
    pub fn deadline(&self) -> Option<u64> {
        self.pipes
            .iter()
            .filter_map(|pc| match pc.clock {
                Clock::Off => None,
                Clock::Starting => Some(0),
                Clock::Next(t) => Some(t),
            })
            .min()
    }

    /// Emulates the vblanks due by `now_ns`. Returns whether an interrupt event latched.
    pub fn tick(&mut self, regs: &mut Regs<'_>, now_ns: u64) -> bool {
        let mut raised = false;
        for &p in &Pipe::ALL {
            let Some(pc) = self.pipes.get_mut(u32_as_usize(p.index())) else {
                continue;
            };
            let period = pc.period_ns();
            let due = match pc.clock {
                Clock::Off => continue,
                Clock::Starting => {
                    pc.clock = Clock::Next(now_ns.saturating_add(period));
                    continue;
                }
                Clock::Next(t) if t > now_ns => continue,
                Clock::Next(t) => t,
            };
            let frames = now_ns
                .saturating_sub(due)
                .checked_div(period)
                .unwrap_or(0)
                .saturating_add(1);
            pc.clock = Clock::Next(due.saturating_add(frames.saturating_mul(period)));
            let pending = core::mem::take(&mut pc.pending);
            let count = u32::try_from(frames & u64::from(u32::MAX)).unwrap_or(0);
            self.stats.vblanks = self.stats.vblanks.saturating_add(count);
            for plane in 0..8u32 {
                if pending & (1u8 << plane) != 0 {
                    raised |= complete_flip(regs, p, plane);
                }
            }
            let fc = pipe_reg(PIPE_FRMCOUNT_G4X::OFFSET, p.index());
            regs.set(fc, regs.get(fc).wrapping_add(count));
            raised |= regs.raise(vblank_event(p));
        }
        raised
    }

    /// A PLANE_SURF write on `pipe`, plane index `plane`: completes at once for async flips and
    /// stopped pipes, else at the next vblank. Returns whether an interrupt event latched.
    pub(super) fn flip(&mut self, regs: &mut Regs<'_>, pipe: Pipe, plane: u32) -> bool {
        let ctl = PLANE_CTL(regs.get(plane_reg(PLANE_CTL::OFFSET, pipe.index(), plane)));
        let running = self
            .pipes
            .get(u32_as_usize(pipe.index()))
            .is_some_and(|pc| pc.clock != Clock::Off);
        if ctl.is_set(PLANE_CTL::PLANE_CTL_ASYNC_FLIP) && running {
            return complete_flip(regs, pipe, plane);
        }
        match self.pipes.get_mut(u32_as_usize(pipe.index())) {
            Some(pc) if running => {
                pc.pending |= 1u8.wrapping_shl(plane);
                false
            }
            _ => {
                latch_surface(regs, pipe, plane);
                false
            }
        }
    }
}

fn vblank_event(p: Pipe) -> Event {
    match p {
        Pipe::A => Event::PipeAVblank,
        Pipe::B => Event::PipeBVblank,
        Pipe::C => Event::PipeCVblank,
    }
}

fn latch_surface(regs: &mut Regs<'_>, pipe: Pipe, plane: u32) {
    let surf = regs.get(plane_reg(PLANE_SURF::OFFSET, pipe.index(), plane));
    regs.set(plane_reg(PLANE_SURFLIVE::OFFSET, pipe.index(), plane), surf);
    if plane == 0 {
        let fc = pipe_reg(PIPE_FLIPCOUNT_G4X::OFFSET, pipe.index());
        regs.set(fc, regs.get(fc).wrapping_add(1));
    }
}

fn complete_flip(regs: &mut Regs<'_>, pipe: Pipe, plane: u32) -> bool {
    latch_surface(regs, pipe, plane);
    regs.raise(Event::PlaneFlipDone {
        pipe: pipe.index(),
        plane,
    })
}
