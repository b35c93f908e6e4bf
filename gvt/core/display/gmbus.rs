//! The GMBUS I2C controller (GMBUS0-3; GMBUS4 and 5 are plain registers), serving the
//! monitor's EDID on the pin of its port, with upstream's state machine: GMBUS0 selects a pin
//! and readies the controller (HW_RDY, WAIT phase; SATOER, a NAK, when no monitor answers);
//! GMBUS1 starts a cycle (index, byte count, target, direction) or a STOP; each GMBUS3 read
//! hands over the next four bytes and the last one ends the cycle; reading GMBUS2 claims the
//! controller (INUSE) and writing INUSE back releases it.
//!
//! Unlike upstream, which answers only HDMI/DVI ports here, the DP monitor's EDID is also
//! served on its pin (as a dual-mode DP++ sink answers DDC). Byte counts past the EDID (up to
//! GMBUS1's 511) read 0xff; addresses other than 0x50 are NAKed.

use super::super::hw::Platform;
use super::ddc::Source;
use super::edid::EDID_ADDR;
use super::regs::*;
use super::{monitor_port, Display, Regs};

/// GMBUS1 bus cycles (upstream's `gmbus_cycle_type`).
const GMBUS_NOCYCLE: u8 = 0;
const GMBUS_STOP: u8 = 4;
const NIDX_STOP: u8 = 5;
const IDX_STOP: u8 = 7;
/// GMBUS1: the index cycle bit of the bus cycle.
const CYCLE_INDEX: u8 = 2;

/// Where the controller is in a cycle.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Phase {
    /// No cycle.
    #[default]
    Idle,
    /// Transferring data.
    Data,
    /// Data done, waiting for a new cycle or a stop.
    Wait,
}

/// The GMBUS controller's state beyond its registers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Gmbus {
    /// Bytes the current cycle transfers.
    pub total: u16,
    /// Bytes transferred so far.
    pub done: u16,
    /// The current cycle type.
    pub cycle: u8,
    /// The phase.
    pub phase: Phase,
}

impl Gmbus {
    /// An idle controller.
    pub const fn new() -> Gmbus {
        Gmbus {
            total: 0,
            done: 0,
            cycle: 0,
            phase: Phase::Idle,
        }
    }
}

/// The DDI port a GMBUS pin reaches.
fn port_of_pin(platform: Platform, pin: u32) -> Option<u32> {
    platform
        .hw()
        .display
        .gmbus_pins
        .iter()
        .find(|p| p.0 == pin)
        .map(|p| p.1)
}

fn reset_controller(d: &mut Display, regs: &mut Regs<'_>) {
    let nak = if d.ddc.available {
        0
    } else {
        GMBUS2::GMBUS_SATOER.mask()
    };
    regs.set(GMBUS2::OFFSET, GMBUS2::GMBUS_HW_RDY.mask() | nak);
    d.gmbus.phase = Phase::Idle;
}

/// Emulates a guest write to GMBUS0-3.
pub fn write(d: &mut Display, regs: &mut Regs<'_>, platform: Platform, off: u32, v: u32) {
    match off {
        GMBUS0::OFFSET => {
            regs.set(off, v);
            d.ddc.reset();
            d.gmbus = Gmbus::new();
            let pin = GMBUS0(v).get(GMBUS0::GMBUS_PIN_SEL_MASK);
            if pin == 0 {
                return;
            }
            d.ddc.source = Source::Gmbus;
            let answers = port_of_pin(platform, pin) == Some(monitor_port(platform)) && d.connected;
            d.ddc.available = answers;
            let nak = if answers {
                0
            } else {
                GMBUS2::GMBUS_SATOER.mask()
            };
            regs.update(
                GMBUS2::OFFSET,
                GMBUS2::GMBUS_ACTIVE.mask() | GMBUS2::GMBUS_SATOER.mask(),
                GMBUS2::GMBUS_HW_RDY.mask() | GMBUS2::GMBUS_HW_WAIT_PHASE.mask() | nak,
            );
        }
        GMBUS1::OFFSET => gmbus1_write(d, regs, v),
        GMBUS2::OFFSET => {
            // Only INUSE is writable: writing it releases the controller.
            if GMBUS2(v).is_set(GMBUS2::GMBUS_INUSE) {
                regs.update(off, GMBUS2::GMBUS_INUSE.mask(), 0);
            }
        }
        _ => regs.set(off, v),
    }
}

fn gmbus1_write(d: &mut Display, regs: &mut Regs<'_>, v: u32) {
    let old = GMBUS1(regs.get(GMBUS1::OFFSET));
    let w = GMBUS1(v);
    if old.is_set(GMBUS1::GMBUS_SW_CLR_INT) {
        // Held in reset until SW_CLR_INT drops.
        if !w.is_set(GMBUS1::GMBUS_SW_CLR_INT) {
            regs.set(GMBUS1::OFFSET, old.0 & !GMBUS1::GMBUS_SW_CLR_INT.mask());
            reset_controller(d, regs);
        }
        return;
    }
    if w.is_set(GMBUS1::GMBUS_SW_CLR_INT) {
        regs.update(
            GMBUS2::OFFSET,
            GMBUS2::GMBUS_INT.mask(),
            GMBUS2::GMBUS_HW_RDY.mask(),
        );
    }
    // The virtual controller is always ready: it takes SW_RDY at once.
    let w = w.with(GMBUS1::GMBUS_SW_RDY, 0);
    d.gmbus.total = u16::try_from(w.get(GMBUS1::GMBUS_BYTE_COUNT_MASK)).unwrap_or(0);
    d.gmbus.done = 0;
    let target = w.get(GMBUS1::GMBUS_SLAVE_ADDR_MASK);
    if target == u32::from(EDID_ADDR) {
        d.ddc.selected = true;
    } else if target != 0 {
        regs.update(GMBUS2::OFFSET, 0, GMBUS2::GMBUS_SATOER.mask());
    }
    let cycle = u8::try_from(w.get(GMBUS1::GMBUS_CYCLE_MASK)).unwrap_or(0);
    if cycle & CYCLE_INDEX != 0 {
        d.ddc.offset = u8::try_from(w.get(GMBUS1::GMBUS_SLAVE_INDEX_MASK)).unwrap_or(0);
    }
    d.gmbus.cycle = cycle;
    match cycle {
        GMBUS_NOCYCLE => {}
        GMBUS_STOP if old.get(GMBUS1::GMBUS_CYCLE_MASK) != u32::from(GMBUS_NOCYCLE) => {
            d.ddc.selected = false;
            d.ddc.offset = 0;
            d.gmbus.phase = Phase::Idle;
            regs.update(GMBUS2::OFFSET, GMBUS2::GMBUS_ACTIVE.mask(), 0);
        }
        // Wait, index+wait, and their stop variants: START (INDEX) DATA.
        1 | 3 | NIDX_STOP | IDX_STOP => {
            d.gmbus.phase = Phase::Data;
            regs.update(GMBUS2::OFFSET, 0, GMBUS2::GMBUS_ACTIVE.mask());
        }
        // Reserved cycles do nothing.
        _ => {}
    }
    regs.set(GMBUS1::OFFSET, w.0);
}

/// Emulates a guest read of GMBUS0-3 for a monitor whose EDID is `edid`.
pub fn read(d: &mut Display, regs: &mut Regs<'_>, edid: &[u8], off: u32) -> u32 {
    match off {
        GMBUS2::OFFSET => {
            let v = regs.get(off);
            regs.set(off, v | GMBUS2::GMBUS_INUSE.mask());
            v
        }
        GMBUS3::OFFSET => gmbus3_read(d, regs, edid),
        _ => regs.get(off),
    }
}

fn gmbus3_read(d: &mut Display, regs: &mut Regs<'_>, edid: &[u8]) -> u32 {
    let cmd = GMBUS1(regs.get(GMBUS1::OFFSET));
    let left = d.gmbus.total.saturating_sub(d.gmbus.done);
    if !cmd.is_set(GMBUS1::GMBUS_SLAVE_READ) || d.gmbus.phase != Phase::Data || left == 0 {
        return regs.get(GMBUS3::OFFSET);
    }
    let n = left.min(4);
    let mut bytes = [0u8; 4];
    for b in bytes.iter_mut().take(usize::from(n)) {
        *b = d.ddc.read(edid);
    }
    let v = u32::from_le_bytes(bytes);
    regs.set(GMBUS3::OFFSET, v);
    d.gmbus.done = d.gmbus.done.saturating_add(n);
    if left <= 4 {
        d.gmbus.phase = if matches!(d.gmbus.cycle, NIDX_STOP | IDX_STOP) {
            Phase::Idle
        } else {
            Phase::Wait
        };
        let active = if d.gmbus.phase == Phase::Idle {
            GMBUS2::GMBUS_ACTIVE.mask()
        } else {
            0
        };
        regs.update(GMBUS2::OFFSET, active, GMBUS2::GMBUS_HW_WAIT_PHASE.mask());
    }
    v
}
