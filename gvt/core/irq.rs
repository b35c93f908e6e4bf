//! Virtual interrupts: the Gen8+ two-level interrupt tree in the vGPU's registers.
//!
//! Second-level groups (GT0-3, display pipes A-C, DE port, DE misc, PCU, PCH/SDE) each have
//! ISR/IMR/IIR/IER at +0/+4/+8/+0xc. An event sets its IIR bit unless IMR masks it; a group's
//! `IIR & IER` drives its bit(s) in GEN8_MASTER_IRQ; when the master enable (bit 31) is set and
//! any master status bit is pending, an MSI is due. The check runs after every write to an
//! interrupt register and every event, so unmasking or enabling late also delivers.
//! State lives only in the register file; this module is pure functions over it.

use super::display::regs::GEN8_DE_PORT_ISR;
use super::num::u32_as_usize;
use super::regs::{
    GEN8_DE_MISC_ISR, GEN8_DE_PIPE_ISR, GEN8_GT_ISR, GEN8_MASTER_IRQ, GEN8_PCU_ISR, SDEISR,
};

/// An interrupt register group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IrqGroup {
    /// GT interrupts 0 (render, blitter).
    Gt0,
    /// GT interrupts 1 (video).
    Gt1,
    /// GT interrupts 2 (PM).
    Gt2,
    /// GT interrupts 3 (video enhancement).
    Gt3,
    /// Display pipe A.
    PipeA,
    /// Display pipe B.
    PipeB,
    /// Display pipe C.
    PipeC,
    /// Display ports.
    DePort,
    /// Display miscellaneous.
    DeMisc,
    /// Power control unit.
    Pcu,
    /// South display engine (PCH).
    Pch,
}

impl IrqGroup {
    /// All groups.
    pub const ALL: [IrqGroup; 11] = [
        IrqGroup::Gt0,
        IrqGroup::Gt1,
        IrqGroup::Gt2,
        IrqGroup::Gt3,
        IrqGroup::PipeA,
        IrqGroup::PipeB,
        IrqGroup::PipeC,
        IrqGroup::DePort,
        IrqGroup::DeMisc,
        IrqGroup::Pcu,
        IrqGroup::Pch,
    ];

    /// Offset of the group's ISR (IMR, IIR and IER follow at +4, +8, +0xc).
    pub const fn base(self) -> u32 {
        match self {
            IrqGroup::Gt0 => GEN8_GT_ISR::OFFSET,
            IrqGroup::Gt1 => GEN8_GT_ISR::OFFSET + 0x10,
            IrqGroup::Gt2 => GEN8_GT_ISR::OFFSET + 0x20,
            IrqGroup::Gt3 => GEN8_GT_ISR::OFFSET + 0x30,
            IrqGroup::PipeA => GEN8_DE_PIPE_ISR::OFFSET,
            IrqGroup::PipeB => GEN8_DE_PIPE_ISR::OFFSET + 0x10,
            IrqGroup::PipeC => GEN8_DE_PIPE_ISR::OFFSET + 0x20,
            IrqGroup::DePort => GEN8_DE_PORT_ISR::OFFSET,
            IrqGroup::DeMisc => GEN8_DE_MISC_ISR::OFFSET,
            IrqGroup::Pcu => GEN8_PCU_ISR::OFFSET,
            IrqGroup::Pch => SDEISR::OFFSET,
        }
    }

    /// The master bits this group drives, each with the group's IIR bits that feed it.
    const fn upstream(self) -> &'static [(u32, u32)] {
        match self {
            IrqGroup::Gt0 => &[(0, 0x0000_ffff), (1, 0xffff_0000)],
            IrqGroup::Gt1 => &[(2, 0x0000_ffff), (3, 0xffff_0000)],
            IrqGroup::Gt2 => &[(4, 0x0000_ffff)],
            IrqGroup::Gt3 => &[(6, 0x0000_ffff)],
            IrqGroup::PipeA => &[(16, !0)],
            IrqGroup::PipeB => &[(17, !0)],
            IrqGroup::PipeC => &[(18, !0)],
            IrqGroup::DePort => &[(20, !0)],
            IrqGroup::DeMisc => &[(22, !0)],
            IrqGroup::Pch => &[(23, !0)],
            IrqGroup::Pcu => &[(30, !0)],
        }
    }

    /// The group whose IMR/IIR/IER is at `offset`.
    pub fn of_reg(offset: u32) -> Option<IrqGroup> {
        IrqGroup::ALL
            .into_iter()
            .find(|g| offset & !0xf == g.base())
    }
}

/// Named interrupt events raised by the device model's components.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// Render MI_USER_INTERRUPT.
    RcsMiUserInterrupt,
    /// Render PIPE_CONTROL notify.
    RcsPipeControl,
    /// Render context switch.
    RcsContextSwitch,
    /// Blitter MI_USER_INTERRUPT.
    BcsMiUserInterrupt,
    /// Blitter MI_FLUSH_DW notify.
    BcsMiFlushDw,
    /// Blitter context switch.
    BcsContextSwitch,
    /// Video MI_USER_INTERRUPT.
    VcsMiUserInterrupt,
    /// Video MI_FLUSH_DW notify.
    VcsMiFlushDw,
    /// Video context switch.
    VcsContextSwitch,
    /// Video enhancement MI_USER_INTERRUPT.
    VecsMiUserInterrupt,
    /// Video enhancement MI_FLUSH_DW notify.
    VecsMiFlushDw,
    /// Video enhancement context switch.
    VecsContextSwitch,
    /// Render command streamer error (`GT_CS_MASTER_ERROR_INTERRUPT`: an unmasked `RING_EIR`
    /// bit, such as an invalid instruction).
    RcsCsError,
    /// Blitter command streamer error.
    BcsCsError,
    /// Video command streamer error.
    VcsCsError,
    /// Video enhancement command streamer error.
    VecsCsError,
    /// Vblank on pipe A.
    PipeAVblank,
    /// Vblank on pipe B.
    PipeBVblank,
    /// Vblank on pipe C.
    PipeCVblank,
    /// Primary plane flip done on pipe A (Gen9).
    PrimaryAFlipDone,
    /// Primary plane flip done on pipe B (Gen9).
    PrimaryBFlipDone,
    /// Primary plane flip done on pipe C (Gen9).
    PrimaryCFlipDone,
    /// Sprite flip done on pipe A (Gen9).
    SpriteAFlipDone,
    /// Sprite flip done on pipe B (Gen9).
    SpriteBFlipDone,
    /// Sprite flip done on pipe C (Gen9).
    SpriteCFlipDone,
    /// Flip done of universal plane `plane` (0 = plane 1, the primary) on pipe `pipe` (0 = A):
    /// Gen9's per-plane flip-done bits 3-6 of the pipe's interrupt registers.
    PlaneFlipDone {
        /// Pipe index, 0-2.
        pipe: u32,
        /// Plane index, 0-3.
        plane: u32,
    },
    /// AUX channel A done.
    AuxChannelA,
    /// AUX channel B done (Gen9: DE port).
    AuxChannelB,
    /// AUX channel C done.
    AuxChannelC,
    /// AUX channel D done.
    AuxChannelD,
    /// DP A hotplug.
    DpAHotplug,
    /// DDI B hotplug on Broxton (BXT_DE_PORT_HP_DDIB in the DE port registers).
    DpBHotplugBxt,
    /// GSE (DE misc).
    Gse,
    /// GMBUS done (PCH).
    Gmbus,
    /// CRT hotplug (PCH).
    CrtHotplug,
    /// DP B hotplug (PCH).
    DpBHotplug,
    /// DP C hotplug (PCH).
    DpCHotplug,
    /// DP D hotplug (PCH).
    DpDHotplug,
    /// PCU thermal event.
    PcuThermal,
    /// PCODE → driver mailbox event.
    PcuPcode2DriverMailbox,
}

impl Event {
    /// The group and bit the event sets (Gen9 layout).
    pub const fn bit(self) -> (IrqGroup, u32) {
        use Event::*;
        use IrqGroup::*;
        match self {
            RcsMiUserInterrupt => (Gt0, 0),
            RcsPipeControl => (Gt0, 4),
            RcsContextSwitch => (Gt0, 8),
            BcsMiUserInterrupt => (Gt0, 16),
            BcsMiFlushDw => (Gt0, 20),
            BcsContextSwitch => (Gt0, 24),
            VcsMiUserInterrupt => (Gt1, 0),
            VcsMiFlushDw => (Gt1, 4),
            VcsContextSwitch => (Gt1, 8),
            VecsMiUserInterrupt => (Gt3, 0),
            VecsMiFlushDw => (Gt3, 4),
            VecsContextSwitch => (Gt3, 8),
            RcsCsError => (Gt0, 3),
            BcsCsError => (Gt0, 19),
            VcsCsError => (Gt1, 3),
            VecsCsError => (Gt3, 3),
            PipeAVblank => (PipeA, 0),
            PipeBVblank => (PipeB, 0),
            PipeCVblank => (PipeC, 0),
            PrimaryAFlipDone => (PipeA, 3),
            PrimaryBFlipDone => (PipeB, 3),
            PrimaryCFlipDone => (PipeC, 3),
            SpriteAFlipDone => (PipeA, 4),
            SpriteBFlipDone => (PipeB, 4),
            SpriteCFlipDone => (PipeC, 4),
            PlaneFlipDone { pipe, plane } => {
                let g = match pipe {
                    0 => PipeA,
                    1 => PipeB,
                    _ => PipeC,
                };
                (g, 3u32.wrapping_add(plane & 3))
            }
            AuxChannelA => (DePort, 0),
            AuxChannelB => (DePort, 25),
            AuxChannelC => (DePort, 26),
            AuxChannelD => (DePort, 27),
            DpAHotplug => (DePort, 3),
            DpBHotplugBxt => (DePort, 4),
            Gse => (DeMisc, 0),
            Gmbus => (Pch, 17),
            CrtHotplug => (Pch, 19),
            DpBHotplug => (Pch, 21),
            DpCHotplug => (Pch, 22),
            DpDHotplug => (Pch, 23),
            PcuThermal => (Pcu, 24),
            PcuPcode2DriverMailbox => (Pcu, 25),
        }
    }
}

fn get(vreg: &[u32], off: u32) -> u32 {
    vreg.get(u32_as_usize(off >> 2)).copied().unwrap_or(0)
}

fn set(vreg: &mut [u32], off: u32, v: u32) {
    if let Some(r) = vreg.get_mut(u32_as_usize(off >> 2)) {
        *r = v;
    }
}

const MASTER: u32 = GEN8_MASTER_IRQ::OFFSET;
const MASTER_ENABLE: u32 = 1 << 31;

/// Recomputes the master status bits a group drives from its `IIR & IER`.
pub fn update_upstream(vreg: &mut [u32], g: IrqGroup) {
    let b = g.base();
    let pending = get(vreg, b.wrapping_add(8)) & get(vreg, b.wrapping_add(0xc));
    let mut master = get(vreg, MASTER);
    for &(bit, mask) in g.upstream() {
        let m = 1u32.wrapping_shl(bit);
        if pending & mask != 0 {
            master |= m;
        } else {
            master &= !m;
        }
    }
    set(vreg, MASTER, master);
}

/// Whether an MSI is due now: the master is enabled and some master status bit is pending.
/// Refreshes the master status bits first.
pub fn check_pending(vreg: &mut [u32]) -> bool {
    if get(vreg, MASTER) & MASTER_ENABLE == 0 {
        return false;
    }
    for g in IrqGroup::ALL {
        update_upstream(vreg, g);
    }
    get(vreg, MASTER) & !MASTER_ENABLE != 0
}

/// Sets an event's IIR bit unless it is masked. Returns whether the bit was set.
pub fn propagate(vreg: &mut [u32], e: Event) -> bool {
    let (g, bit) = e.bit();
    let m = 1u32.wrapping_shl(bit);
    let b = g.base();
    if get(vreg, b.wrapping_add(4)) & m != 0 {
        return false;
    }
    set(vreg, b.wrapping_add(8), get(vreg, b.wrapping_add(8)) | m);
    update_upstream(vreg, g);
    true
}

/// Emulates a guest write to an interrupt register (IMR, IER, IIR or the master). Returns
/// whether an MSI is due afterwards.
pub fn write(vreg: &mut [u32], offset: u32, v: u32) -> bool {
    if offset == MASTER {
        // Only the enable bit is guest-writable; the status bits are ours.
        set(
            vreg,
            MASTER,
            (get(vreg, MASTER) & !MASTER_ENABLE) | (v & MASTER_ENABLE),
        );
        return check_pending(vreg);
    }
    let Some(g) = IrqGroup::of_reg(offset) else {
        return false;
    };
    match offset & 0xf {
        0x4 => set(vreg, offset, v),
        0x8 => {
            set(vreg, offset, get(vreg, offset) & !v);
            update_upstream(vreg, g);
        }
        0xc => {
            set(vreg, offset, v);
            update_upstream(vreg, g);
        }
        _ => set(vreg, offset, v),
    }
    check_pending(vreg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec;

    fn regs() -> std::vec::Vec<u32> {
        vec![0u32; 0x80000]
    }

    #[test]
    fn msi_due_exactly_when_enabled_unmasked_and_pending() {
        let mut r = regs();
        // Everything masked: the event is dropped.
        set(&mut r, 0x44304, !0);
        assert!(!propagate(&mut r, Event::RcsMiUserInterrupt));
        // Unmask and enable at the group, but the master is off.
        assert!(!write(&mut r, 0x44304, !1));
        assert!(!write(&mut r, 0x4430c, 1));
        assert!(propagate(&mut r, Event::RcsMiUserInterrupt));
        assert!(!check_pending(&mut r));
        // Master enable: now an MSI is due.
        assert!(write(&mut r, MASTER, MASTER_ENABLE | 0x1234));
        assert_eq!(get(&r, MASTER), MASTER_ENABLE | 1);
        // Clearing IIR drops it.
        assert!(!write(&mut r, 0x44308, 1));
        assert_eq!(get(&r, MASTER), MASTER_ENABLE);
    }

    #[test]
    fn late_ier_enable_delivers() {
        let mut r = regs();
        write(&mut r, MASTER, MASTER_ENABLE);
        assert!(propagate(&mut r, Event::PipeBVblank));
        assert!(!check_pending(&mut r));
        assert!(write(&mut r, 0x4441c, 1));
        assert_eq!(get(&r, MASTER) & (1 << 17), 1 << 17);
    }

    #[test]
    fn gt_halves_drive_separate_master_bits() {
        let mut r = regs();
        write(&mut r, 0x4430c, !0);
        write(&mut r, MASTER, MASTER_ENABLE);
        propagate(&mut r, Event::BcsContextSwitch);
        assert!(check_pending(&mut r));
        assert_eq!(get(&r, MASTER), MASTER_ENABLE | 2);
        write(&mut r, 0xc400c, !0);
        propagate(&mut r, Event::DpBHotplug);
        assert_eq!(get(&r, MASTER), MASTER_ENABLE | 2 | (1 << 23));
    }
}
