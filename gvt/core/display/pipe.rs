//! Pipes, transcoders, DDIs, PLLs, PHYs and hotplug: the status bits a guest driver polls while
//! it modesets, and the state firmware would leave with the virtual monitor attached.
//!
//! Creation and device resets put the display where upstream's `emulate_monitor_status_change`
//! does: everything off except transcoder A driving the monitor's DDI in DP SST mode, the
//! monitor's PHY, PLL and buffer up, its hotplug line asserted; [`super::firmware`] then fills
//! in what upstream takes from the host (timings, M/N, dividers, CD clock). Later
//! writes follow: TRANSCONF state follows enable, DDI buffers go idle when disabled, the DP
//! transport reports idle patterns sent, and (handled with the other PLLs and PHYs in the
//! register table) PLL lock follows enable and PHY power good follows power-on.

use super::super::hw::{Phy, Platform};
use super::super::irq::Event;
use super::super::regs::{SDEISR, SKL_FUSE_STATUS};
use super::dpcd::Dpcd;
use super::edid::refresh_mhz;
use super::regs::*;
use super::{monitor_port, Pipe, Regs, RegsRef, PIPES};

/// Refresh rate used until the guest's timings say otherwise, in mHz.
pub const DEFAULT_REFRESH_MHZ: u32 = 60_000;
/// Refresh rates outside this range (mHz) are treated as garbage timings.
const REFRESH_RANGE: core::ops::RangeInclusive<u32> = 10_000..=240_000;

/// Puts the display registers in the state firmware leaves with the monitor plugged in
/// (`connected`) or not.
pub fn monitor_init(regs: &mut Regs<'_>, platform: Platform, connected: bool) {
    let port = monitor_port(platform);
    for pipe in 0..PIPES {
        regs.update(
            pipe_reg(TRANSCONF::OFFSET, pipe),
            TRANSCONF::TRANSCONF_ENABLE.mask() | TRANSCONF::TRANSCONF_STATE_ENABLE.mask(),
            0,
        );
        for plane in 0..2 {
            regs.update(
                plane_reg(PLANE_CTL::OFFSET, pipe, plane),
                PLANE_CTL::PLANE_CTL_ENABLE.mask(),
                0,
            );
        }
        regs.update(pipe_reg(CURCNTR::OFFSET, pipe), MCURSOR_MODE_MASK, 0);
    }
    let func_fields = TRANS_DDI_FUNC_CTL::TRANS_DDI_FUNC_ENABLE.mask()
        | TRANS_DDI_FUNC_CTL::TRANS_DDI_PORT_MASK.mask()
        | TRANS_DDI_FUNC_CTL::TRANS_DDI_MODE_SELECT_MASK.mask()
        | TRANS_DDI_FUNC_CTL::TRANS_DDI_BPC_MASK.mask();
    for t in 0..PIPES {
        regs.update(pipe_reg(TRANS_DDI_FUNC_CTL::OFFSET, t), func_fields, 0);
    }
    regs.update(TRANS_DDI_FUNC_CTL_EDP, func_fields, 0);
    if platform.hw().display.phy == Phy::Dpio {
        bxt_ports_off(regs);
    } else {
        regs.update(SDEISR::OFFSET, SDE_HOTPLUG_MASK_CPT | SDE_HOTPLUG_AE_SPT, 0);
    }
    // Transcoder A runs. Upstream's golden M/N (for 3.24 GHz, not the link it describes) is
    // left out: `firmware::light` programs the M/N of the mode it lights.
    regs.update(
        TRANSCONF::OFFSET,
        0,
        TRANSCONF::TRANSCONF_ENABLE.mask() | TRANSCONF::TRANSCONF_STATE_ENABLE.mask(),
    );
    if !connected {
        return;
    }
    let func = TRANS_DDI_FUNC_CTL(0)
        .with(TRANS_DDI_FUNC_CTL::TRANS_DDI_FUNC_ENABLE, 1)
        .with(TRANS_DDI_FUNC_CTL::TRANS_DDI_PORT_MASK, port)
        .with(
            TRANS_DDI_FUNC_CTL::TRANS_DDI_MODE_SELECT_MASK,
            TRANS_DDI_MODE_SELECT_DP_SST,
        );
    regs.update(TRANS_DDI_FUNC_CTL::OFFSET, 0, func.0);
    regs.update(
        port_reg(DDI_BUF_CTL::OFFSET, port),
        DDI_BUF_CTL::DDI_BUF_IS_IDLE.mask(),
        DDI_BUF_CTL::DDI_BUF_CTL_ENABLE.mask(),
    );
    if platform.hw().display.phy == Phy::Dpio {
        // PORT_B: PHY0 channel 0.
        regs.update(
            SFUSE_STRAP::OFFSET,
            0,
            SFUSE_STRAP::SFUSE_STRAP_DDIB_DETECTED.mask(),
        );
        regs.update(BXT_P_CR_GT_DISP_PWRON, 0, GT_DISP_PWRON_PHY0);
        regs.update(BXT_PORT_CL1CM_DW0[0], 0, PHY_POWER_GOOD);
        regs.update(BXT_PHY_CTL_FAMILY[0], 0, PHY_FAMILY_POWER_STATE);
        regs.update(
            bxt_phy_ctl(port),
            BXT_PHY_CTL::BXT_PHY_CMNLANE_POWERDOWN_ACK.mask()
                | BXT_PHY_CTL::BXT_PHY_LANE_POWERDOWN_ACK.mask(),
            BXT_PHY_CTL::BXT_PHY_LANE_ENABLED.mask(),
        );
        regs.update(bxt_pll(port), 0, pll_on());
        regs.update(
            PCH_PORT_HOTPLUG::OFFSET,
            0,
            PCH_PORT_HOTPLUG::PORTB_HOTPLUG_ENABLE.mask(),
        );
        regs.update(
            GEN8_DE_PORT_ISR::OFFSET,
            0,
            GEN8_DE_PORT_ISR::BXT_DE_PORT_HP_DDIB.mask(),
        );
    } else {
        // Power gates up. Upstream also routes DPLL0 at "1620" (a 3.24 GHz link) to the DDI;
        // `firmware` instead gives DPLL0 to the CD clock and DPLL1 to the DDI, as i915 does.
        let fuses = SKL_FUSE_STATUS::SKL_FUSE_DOWNLOAD_STATUS.mask()
            | SKL_FUSE_STATUS::SKL_FUSE_PG0_DIST_STATUS.mask()
            | SKL_FUSE_STATUS::SKL_FUSE_PG1_DIST_STATUS.mask()
            | SKL_FUSE_STATUS::SKL_FUSE_PG2_DIST_STATUS.mask();
        regs.update(SKL_FUSE_STATUS::OFFSET, 0, fuses);
        regs.update(
            SFUSE_STRAP::OFFSET,
            0,
            SFUSE_STRAP::SFUSE_STRAP_DDID_DETECTED.mask(),
        );
        regs.update(SDEISR::OFFSET, 0, SDE_PORTD_HOTPLUG_CPT);
    }
}

fn bxt_phy_ctl(port: u32) -> u32 {
    BXT_PHY_CTL::OFFSET.wrapping_add(port.wrapping_mul(0x10))
}

fn bxt_pll(port: u32) -> u32 {
    BXT_PORT_PLL_ENABLE::OFFSET.wrapping_add(port.wrapping_mul(4))
}

fn pll_on() -> u32 {
    BXT_PORT_PLL_ENABLE::PORT_PLL_ENABLE.mask()
        | BXT_PORT_PLL_ENABLE::PORT_PLL_LOCK.mask()
        | BXT_PORT_PLL_ENABLE::PORT_PLL_REF_SEL.mask()
        | BXT_PORT_PLL_ENABLE::PORT_PLL_POWER_ENABLE.mask()
        | BXT_PORT_PLL_ENABLE::PORT_PLL_POWER_STATE.mask()
}

/// Broxton: PHYs, port PLLs, DDI buffers and hotplug of ports A-C off.
fn bxt_ports_off(regs: &mut Regs<'_>) {
    let hp = GEN8_DE_PORT_ISR::BXT_DE_PORT_HP_DDIA.mask()
        | GEN8_DE_PORT_ISR::BXT_DE_PORT_HP_DDIB.mask()
        | GEN8_DE_PORT_ISR::BXT_DE_PORT_HP_DDIC.mask();
    regs.update(GEN8_DE_PORT_ISR::OFFSET, hp, 0);
    for port in 0..3 {
        regs.update(
            bxt_phy_ctl(port),
            BXT_PHY_CTL::BXT_PHY_LANE_ENABLED.mask(),
            BXT_PHY_CTL::BXT_PHY_CMNLANE_POWERDOWN_ACK.mask()
                | BXT_PHY_CTL::BXT_PHY_LANE_POWERDOWN_ACK.mask(),
        );
        regs.update(bxt_pll(port), pll_on(), 0);
        regs.update(
            port_reg(DDI_BUF_CTL::OFFSET, port),
            DDI_BUF_CTL::DDI_INIT_DISPLAY_DETECTED.mask() | DDI_BUF_CTL::DDI_BUF_CTL_ENABLE.mask(),
            DDI_BUF_CTL::DDI_BUF_IS_IDLE.mask(),
        );
    }
    let hotplug = PCH_PORT_HOTPLUG::PORTA_HOTPLUG_ENABLE.mask()
        | PCH_PORT_HOTPLUG::PORTA_HOTPLUG_STATUS_MASK.mask()
        | PCH_PORT_HOTPLUG::PORTB_HOTPLUG_ENABLE.mask()
        | PCH_PORT_HOTPLUG::PORTB_HOTPLUG_STATUS_MASK.mask()
        | PCH_PORT_HOTPLUG::PORTC_HOTPLUG_ENABLE.mask()
        | PCH_PORT_HOTPLUG::PORTC_HOTPLUG_STATUS_MASK.mask()
        | PCH_PORT_HOTPLUG::BXT_DDIA_HPD_INVERT.mask()
        | PCH_PORT_HOTPLUG::BXT_DDIB_HPD_INVERT.mask()
        | PCH_PORT_HOTPLUG::BXT_DDIC_HPD_INVERT.mask();
    regs.update(PCH_PORT_HOTPLUG::OFFSET, hotplug, 0);
    regs.update(BXT_P_CR_GT_DISP_PWRON, 3, 0);
    for phy in 0..2 {
        if let Some(&dw0) = BXT_PORT_CL1CM_DW0.get(phy) {
            regs.update(dw0, PHY_POWER_GOOD, 0);
        }
        if let Some(&fam) = BXT_PHY_CTL_FAMILY.get(phy) {
            regs.update(fam, PHY_FAMILY_POWER_STATE, 0);
        }
    }
    regs.update(
        SFUSE_STRAP::OFFSET,
        SFUSE_STRAP::SFUSE_STRAP_DDIB_DETECTED.mask()
            | SFUSE_STRAP::SFUSE_STRAP_DDIC_DETECTED.mask(),
        0,
    );
}

/// A long hotplug pulse on the monitor's port: live state, strap and pulse status, then the
/// port's hotplug interrupt. Returns whether the event latched.
pub fn hotplug(regs: &mut Regs<'_>, platform: Platform, connected: bool) -> bool {
    let set_if = |on: bool, bits: u32| if on { (0, bits) } else { (bits, 0) };
    if platform.hw().display.phy == Phy::Dpio {
        let (c, s) = set_if(connected, GEN8_DE_PORT_ISR::BXT_DE_PORT_HP_DDIB.mask());
        regs.update(GEN8_DE_PORT_ISR::OFFSET, c, s);
        let (c, s) = set_if(connected, SFUSE_STRAP::SFUSE_STRAP_DDIB_DETECTED.mask());
        regs.update(SFUSE_STRAP::OFFSET, c, s);
        let status = PCH_PORT_HOTPLUG(0)
            .with(PCH_PORT_HOTPLUG::PORTB_HOTPLUG_STATUS_MASK, 2)
            .0;
        regs.update(
            PCH_PORT_HOTPLUG::OFFSET,
            PCH_PORT_HOTPLUG::PORTB_HOTPLUG_STATUS_MASK.mask(),
            status,
        );
        regs.raise(Event::DpBHotplugBxt)
    } else {
        let (c, s) = set_if(connected, SDE_PORTD_HOTPLUG_CPT);
        regs.update(SDEISR::OFFSET, c, s);
        let (c, s) = set_if(connected, SFUSE_STRAP::SFUSE_STRAP_DDID_DETECTED.mask());
        regs.update(SFUSE_STRAP::OFFSET, c, s);
        let status = PCH_PORT_HOTPLUG(0)
            .with(PCH_PORT_HOTPLUG::PORTD_HOTPLUG_STATUS_MASK, 2)
            .0;
        regs.update(
            PCH_PORT_HOTPLUG::OFFSET,
            PCH_PORT_HOTPLUG::PORTD_HOTPLUG_STATUS_MASK.mask(),
            status,
        );
        regs.raise(Event::DpDHotplug)
    }
}

/// TRANSCONF: the state bit follows the enable bit.
pub fn transconf_write(regs: &mut Regs<'_>, off: u32, v: u32) {
    let state = TRANSCONF::TRANSCONF_STATE_ENABLE.mask();
    let on = TRANSCONF(v).is_set(TRANSCONF::TRANSCONF_ENABLE);
    regs.set(off, if on { v | state } else { v & !state });
}

/// Whether transcoder (and pipe) `pipe` runs.
pub fn pipe_enabled(regs: &RegsRef<'_>, pipe: Pipe) -> bool {
    TRANSCONF(regs.get(pipe_reg(TRANSCONF::OFFSET, pipe.index())))
        .is_set(TRANSCONF::TRANSCONF_ENABLE)
}

/// DDI_BUF_CTL: the buffer is idle exactly when disabled.
pub fn ddi_buf_ctl_write(regs: &mut Regs<'_>, off: u32, v: u32) {
    let idle = DDI_BUF_CTL::DDI_BUF_IS_IDLE.mask();
    let on = DDI_BUF_CTL(v).is_set(DDI_BUF_CTL::DDI_BUF_CTL_ENABLE);
    regs.set(off, if on { v & !idle } else { v | idle });
}

/// DP_TP_CTL: choosing the idle pattern reports idle patterns sent in DP_TP_STATUS.
pub fn dp_tp_ctl_write(regs: &mut Regs<'_>, off: u32, v: u32) {
    regs.set(off, v);
    if DP_TP_CTL(v).get(DP_TP_CTL::DP_TP_CTL_LINK_TRAIN_MASK) == DP_TP_CTL_LINK_TRAIN_IDLE {
        let status = off.wrapping_add(DP_TP_STATUS::OFFSET.wrapping_sub(DP_TP_CTL::OFFSET));
        regs.update(status, 0, DP_TP_STATUS::DP_TP_STATUS_IDLE_DONE.mask());
    }
}

/// DP_TP_STATUS: the sticky error bits are write-1-to-clear, the rest plain.
pub fn dp_tp_status_write(regs: &mut Regs<'_>, off: u32, v: u32) {
    let old = regs.get(off);
    regs.set(
        off,
        (v & !DP_TP_STATUS_STICKY) | (old & DP_TP_STATUS_STICKY & !v),
    );
}

/// The refresh rate (mHz) pipe `pipe`'s transcoder timings give: pixel clock (link symbol
/// clock from the trained DPCD link rate, times link M over N) over htotal x vtotal. Falls
/// back to 60 Hz when the timings are unset or absurd.
pub fn refresh_of(regs: &RegsRef<'_>, dpcd: &Dpcd, pipe: Pipe) -> u32 {
    let p = pipe.index();
    let m = PIPE_LINK_M1(regs.get(pipe_reg(PIPE_LINK_M1::OFFSET, p)))
        .get(PIPE_LINK_M1::DATA_LINK_M_N_MASK);
    let n = regs.get(pipe_reg(PIPE_LINK_N1::OFFSET, p)) & PIPE_LINK_M1::DATA_LINK_M_N_MASK.mask();
    let h =
        TRANS_HTOTAL(regs.get(pipe_reg(TRANS_HTOTAL::OFFSET, p))).get(TRANS_HTOTAL::HTOTAL_MASK);
    let v =
        TRANS_VTOTAL(regs.get(pipe_reg(TRANS_VTOTAL::OFFSET, p))).get(TRANS_VTOTAL::VTOTAL_MASK);
    let ls = u64::from(dpcd.link_clock_khz());
    let clock = ls
        .saturating_mul(u64::from(m))
        .checked_div(u64::from(n))
        .unwrap_or(0);
    let r = refresh_mhz(clock, h.saturating_add(1), v.saturating_add(1));
    if REFRESH_RANGE.contains(&r) {
        r
    } else {
        DEFAULT_REFRESH_MHZ
    }
}
