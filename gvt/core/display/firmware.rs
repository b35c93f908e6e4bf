//! The display state a vGPU starts in: what firmware (the GOP) leaves when it lit the virtual
//! DP monitor, complete enough that a guest i915 reads back a working pipe.
//!
//! Upstream 6.12's `emulate_monitor_status_change` turns transcoder A on, on the monitor's DDI
//! with its PLL locked, and leaves everything else (timings, PLL dividers, CD clock) to the
//! host's register snapshot. Where the host's pipe A is off, and always on the sim, those read
//! zero and i915's readout (`intel_modeset_setup_hw_state`) computes a 0 kHz dot clock, then
//! divides by it. So the vGPU gets the whole lit state, derived from the monitor's preferred
//! mode the way i915 6.12 would program it itself: link rate and lane count
//! (`intel_dp_compute_link_config_wide`), link M/N (`intel_link_compute_m_n`), PLL dividers
//! (`bxt_ddi_set_dpll_hw_state`, `skl_ddi_dp_set_dpll_hw_state`), timings, pipe source, sync
//! polarity, 8 bpc, lane latency and enhanced framing, and a CD clock above the pixel rate.
//! A guest i915 can then keep the pipe (fastset) or modeset it; both are valid. Planes stay off:
//! a firmware framebuffer would live in stolen memory, which a vGPU does not have.

use super::super::hw::{Phy, Platform};
use super::super::regs::{BXT_DE_PLL_ENABLE, LCPLL1_CTL, LCPLL2_CTL};
use super::edid::Mode;
use super::regs::*;
use super::{monitor_port, Regs};

/// Bits per pixel of the lit pipe: 8 bpc, what the monitor's EDID declares.
pub const BPP: u32 = 24;
/// Link rates (kHz, i915's `port_clock`) source and sink share: the sink's DPCD says HBR2
/// without a rate table, hence RBR, HBR and HBR2 (all in `bxt_rates` and `skl_rates`).
pub const LINK_RATES: [u32; 3] = [162_000, 270_000, 540_000];
/// Lane counts i915 tries, fewest first (the sink has 4).
pub const LANE_COUNTS: [u32; 3] = [1, 2, 4];
/// Largest timings gen9 takes (`intel_mode_valid`: 8192 wide and total, 4096 high).
const MAX_H: u32 = 8192;
const MAX_VACTIVE: u32 = 4096;
const MAX_VTOTAL: u32 = 8192;
/// The data M/N denominator i915 starts from, and the link M/N one (`intel_link_compute_m_n`).
const DATA_N: u64 = 0x800_0000;
const LINK_N: u64 = 0x8_0000;
/// M and N registers hold 24 bits (`DATA_LINK_M_N_MASK`).
const M_N_MAX: u64 = 0xff_ffff;
/// Transfer unit size i915 programs (`TU_SIZE(64)`).
pub const TU: u32 = 64;

/// A DP link configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Link {
    /// Link rate in kHz (i915's `port_clock`; the link symbol clock for 8b/10b).
    pub port_clock: u32,
    /// Lanes.
    pub lanes: u32,
}

impl Link {
    /// DPCD `LINK_BW_SET` code of the rate (rate / 270 Mbps).
    pub fn bw_code(&self) -> u8 {
        u8::try_from(self.port_clock / 27_000).unwrap_or(0)
    }
}

/// Transcoder M/N values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinkMN {
    /// Transfer unit size.
    pub tu: u32,
    /// Data M.
    pub data_m: u32,
    /// Data N.
    pub data_n: u32,
    /// Link M.
    pub link_m: u32,
    /// Link N.
    pub link_n: u32,
}

/// The largest pixel clock (kHz) the platform's fastest CD clock drives: gen9 takes one pixel
/// per CD clock (`intel_compute_max_dotclk`).
pub const fn max_dotclock_khz(platform: Platform) -> u32 {
    platform.hw().display.cdclk_khz
}

/// Whether `mode` is one i915 accepts and this sink carries at 8 bpc.
pub fn usable(mode: &Mode, platform: Platform) -> bool {
    let (h, v) = (mode.htotal(), mode.vtotal());
    mode.clock_khz > 0
        && mode.clock_khz <= max_dotclock_khz(platform)
        && (1..=MAX_H).contains(&mode.hactive)
        && (1..=MAX_VACTIVE).contains(&mode.vactive)
        && h > mode.hactive
        && h <= MAX_H
        && v > mode.vactive
        && v <= MAX_VTOTAL
        && mode.hsync > 0
        && mode.vsync > 0
        && link_for(mode).is_some()
}

/// The link i915 6.12 picks for `mode` at [`BPP`]: the lowest rate, then the fewest lanes, whose
/// data rate (`rate * lanes` kB/s after 8b/10b) carries the mode's (`clock * bpp / 8`)
/// (`intel_dp_compute_link_config_wide`, `intel_dp_link_required`,
/// `drm_dp_max_dprx_data_rate`).
pub fn link_for(mode: &Mode) -> Option<Link> {
    let need = u64::from(mode.clock_khz)
        .saturating_mul(u64::from(BPP))
        .div_ceil(8);
    LINK_RATES.iter().find_map(|&rate| {
        LANE_COUNTS
            .iter()
            .find(|&&lanes| need <= u64::from(rate).saturating_mul(u64::from(lanes)))
            .map(|&lanes| Link {
                port_clock: rate,
                lanes,
            })
    })
}

/// `compute_m_n`: M over a fixed N, both halved until they fit 24 bits.
fn m_n(m: u64, n: u64, fixed_n: u64) -> (u32, u32) {
    let mut rm = m.saturating_mul(fixed_n).checked_div(n).unwrap_or(0);
    let mut rn = fixed_n;
    while rm > M_N_MAX || rn > M_N_MAX {
        rm >>= 1;
        rn >>= 1;
    }
    (
        u32::try_from(rm).unwrap_or(0),
        u32::try_from(rn).unwrap_or(0),
    )
}

/// The M/N i915 programs for a `pixel_khz` stream at `bpp` over `link`
/// (`intel_link_compute_m_n`, no FEC): data M/N is the stream's over the link's data rate,
/// link M/N the pixel clock over the link symbol clock.
pub fn link_m_n(bpp: u32, link: Link, pixel_khz: u32) -> LinkMN {
    let data = u64::from(pixel_khz)
        .saturating_mul(u64::from(bpp))
        .div_ceil(8);
    let capacity = u64::from(link.port_clock).saturating_mul(u64::from(link.lanes));
    let (data_m, data_n) = m_n(data, capacity, DATA_N);
    let (link_m, link_n) = m_n(u64::from(pixel_khz), u64::from(link.port_clock), LINK_N);
    LinkMN {
        tu: TU,
        data_m,
        data_n,
        link_m,
        link_n,
    }
}

/// BXT DE PLL ratio for its fastest CD clock, 624 MHz (`bxt_cdclk_table`: ratio 65 of the
/// 19.2 MHz reference, CD2X divider 1).
pub const BXT_DE_PLL_RATIO: u32 = 65;
/// SKL CDCLK_CTL frequency select for 675 MHz (`CDCLK_FREQ_675_617`).
const CDCLK_FREQ_675_617: u32 = 3;
/// BXT_CDCLK_CD2X_PIPE_NONE.
const BXT_CDCLK_CD2X_PIPE_NONE: u32 = 3;

/// `skl_cdclk_decimal`: the CDCLK_CTL decimal field of `khz`.
pub const fn cdclk_decimal(khz: u32) -> u32 {
    khz.saturating_sub(1000).saturating_add(250) / 500
}

/// Puts the CD clock where firmware leaves it: BXT's DE PLL at ratio 65 with the CD2X divider
/// at 1 (`bxt_cdclk_ctl`), the big cores' DPLL0 at 8.1 GHz (link rate 810,
/// `skl_dpll0_link_rate`) with 675 MHz selected. Both are the platform's top CD clock, above
/// any pixel rate the lit pipe has.
pub fn cdclk_init(regs: &mut Regs<'_>, platform: Platform) {
    let khz = platform.hw().display.cdclk_khz;
    if platform.hw().display.phy == Phy::Dpio {
        regs.set(
            BXT_DE_PLL_CTL::OFFSET,
            BXT_DE_PLL_CTL(0)
                .with(BXT_DE_PLL_CTL::BXT_DE_PLL_RATIO_MASK, BXT_DE_PLL_RATIO)
                .0,
        );
        let on = BXT_DE_PLL_ENABLE::BXT_DE_PLL_PLL_ENABLE.mask()
            | BXT_DE_PLL_ENABLE::BXT_DE_PLL_LOCK.mask();
        regs.update(BXT_DE_PLL_ENABLE::OFFSET, 0, on);
        let ctl = CDCLK_CTL(0)
            .with(CDCLK_CTL::BXT_CDCLK_CD2X_DIV_SEL_MASK, 0)
            .with(
                CDCLK_CTL::BXT_CDCLK_CD2X_PIPE_MASK,
                BXT_CDCLK_CD2X_PIPE_NONE,
            )
            .with(CDCLK_CTL::BXT_CDCLK_SSA_PRECHARGE_ENABLE, 1)
            .with(CDCLK_CTL::CDCLK_FREQ_DECIMAL_MASK, cdclk_decimal(khz));
        regs.set(CDCLK_CTL::OFFSET, ctl.0);
    } else {
        regs.set(
            LCPLL1_CTL::OFFSET,
            LCPLL1_CTL::LCPLL_PLL_ENABLE.mask() | LCPLL1_CTL::LCPLL_PLL_LOCK.mask(),
        );
        set_skl_dpll_ctrl1(regs, 0, DPLL_CTRL1_LINK_RATE_810);
        let ctl = CDCLK_CTL(0)
            .with(CDCLK_CTL::CDCLK_FREQ_SEL_MASK, CDCLK_FREQ_675_617)
            .with(CDCLK_CTL::CDCLK_FREQ_DECIMAL_MASK, cdclk_decimal(khz));
        regs.set(CDCLK_CTL::OFFSET, ctl.0);
    }
}

/// DPLL_CTRL1 of SKL DPLL `id`: overridden, DP mode, no SSC, link rate code `rate`.
fn set_skl_dpll_ctrl1(regs: &mut Regs<'_>, id: u32, rate: u32) {
    let shift = dpll_ctrl1_shift(id);
    let field = DPLL_CTRL1_OVERRIDE | (rate << 1);
    regs.update(
        DPLL_CTRL1::OFFSET,
        0x3fu32.wrapping_shl(shift),
        field.wrapping_shl(shift),
    );
}

/// SKL DPLL_CTRL1 link rate code for a DP port clock (`skl_ddi_dp_set_dpll_hw_state`).
pub const fn skl_link_rate(port_clock: u32) -> Option<u32> {
    match port_clock {
        162_000 => Some(DPLL_CTRL1_LINK_RATE_810),
        270_000 => Some(DPLL_CTRL1_LINK_RATE_1350),
        540_000 => Some(DPLL_CTRL1_LINK_RATE_2700),
        _ => None,
    }
}

/// The SKL DPLL driving the monitor's DDI: DPLL1, the first i915 picks for a DP port
/// (`skl_get_dpll`: DPLL0 is kept for eDP and the CD clock).
pub const SKL_MONITOR_DPLL: u32 = 1;

/// A BXT port PLL setting, as `bxt_ddi_set_dpll_hw_state` derives it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BxtPll {
    /// Post divider P1.
    pub p1: u32,
    /// Post divider P2.
    pub p2: u32,
    /// Feedback divider M2 (.22 binary fixed point; M1 is 2).
    pub m2: u32,
    /// Input divider N.
    pub n: u32,
    /// Proportional, integral coefficients and gain of the loop filter.
    pub prop: u32,
    /// Integral coefficient.
    pub int: u32,
    /// Gain.
    pub gain: u32,
    /// Calibration target count.
    pub targ_cnt: u32,
    /// Lane stagger.
    pub lanestagger: u32,
}

/// BXT's non-SSC PLL reference, kHz (`bxt_update_dpll_ref_clks`).
pub const BXT_PLL_REF_KHZ: u64 = 100_000;

/// The BXT PLL setting for a DP port clock (`bxt_dp_clk_val`, then the coefficients by VCO and
/// the lane stagger by clock of `bxt_ddi_set_dpll_hw_state`).
pub fn bxt_pll(port_clock: u32) -> Option<BxtPll> {
    // (dot, p1, p2, m2); n = 1, m1 = 2 throughout.
    const CLK_VAL: [(u32, u32, u32, u32); 7] = [
        (162_000, 4, 2, 0x819_999a),
        (270_000, 4, 1, 0x6c0_0000),
        (540_000, 2, 1, 0x6c0_0000),
        (216_000, 3, 2, 0x819_999a),
        (243_000, 4, 1, 0x613_3333),
        (324_000, 4, 1, 0x819_999a),
        (432_000, 3, 1, 0x819_999a),
    ];
    let &(_, p1, p2, m2) = CLK_VAL.iter().find(|e| e.0 == port_clock)?;
    let n = 1u32;
    let vco = bxt_vco_khz(m2, n)?;
    let (prop, int, gain, targ_cnt) = match vco {
        6_200_000..=6_700_000 => (4, 9, 3, 8),
        4_800_000..=5_399_999 | 5_400_001..=6_199_999 => (5, 11, 3, 9),
        5_400_000 => (3, 8, 1, 9),
        _ => return None,
    };
    let lanestagger = match port_clock {
        270_001.. => 0x18,
        135_001.. => 0x0d,
        67_001.. => 0x07,
        33_001.. => 0x04,
        _ => 0x02,
    };
    Some(BxtPll {
        p1,
        p2,
        m2,
        n,
        prop,
        int,
        gain,
        targ_cnt,
        lanestagger,
    })
}

/// `chv_calc_dpll_params`' VCO (kHz) for M1 = 2 and `m2`, `n`.
pub fn bxt_vco_khz(m2: u32, n: u32) -> Option<u64> {
    let m = u64::from(m2).checked_mul(2)?;
    let den = u64::from(n).checked_shl(22)?;
    BXT_PLL_REF_KHZ
        .checked_mul(m)?
        .checked_add(den / 2)?
        .checked_div(den)
}

/// The latency optimization lanes of a lane count (`bxt_dpio_phy_calc_lane_lat_optim_mask`).
pub const fn bxt_lane_lat_optim_mask(lanes: u32) -> u32 {
    match lanes {
        2 => 0b0101,
        4 => 0b1101,
        _ => 0,
    }
}

fn pair(hi: u32, lo: u32) -> u32 {
    (hi.saturating_sub(1) << 16) | (lo.saturating_sub(1) & 0xffff)
}

/// Lights transcoder and pipe A with `mode` on the monitor's DDI, as i915 would have: returns
/// the link, or `None` (and the transcoder off) if the mode is not [`usable`].
pub fn light(regs: &mut Regs<'_>, platform: Platform, mode: &Mode) -> Option<Link> {
    let Some(link) = link_for(mode).filter(|_| usable(mode, platform)) else {
        regs.update(
            TRANSCONF::OFFSET,
            TRANSCONF::TRANSCONF_ENABLE.mask() | TRANSCONF::TRANSCONF_STATE_ENABLE.mask(),
            0,
        );
        regs.update(
            TRANS_DDI_FUNC_CTL::OFFSET,
            TRANS_DDI_FUNC_CTL::TRANS_DDI_FUNC_ENABLE.mask(),
            0,
        );
        return None;
    };
    let port = monitor_port(platform);
    // Timings (`intel_set_transcoder_timings`): progressive, blanking = border-less totals.
    let (h, v) = (mode.htotal(), mode.vtotal());
    let hs = mode.hactive.saturating_add(mode.hfp);
    let vs = mode.vactive.saturating_add(mode.vfp);
    regs.set(TRANS_HTOTAL::OFFSET, pair(h, mode.hactive));
    regs.set(TRANS_HBLANK::OFFSET, pair(h, mode.hactive));
    regs.set(TRANS_HSYNC::OFFSET, pair(hs.saturating_add(mode.hsync), hs));
    regs.set(TRANS_VTOTAL::OFFSET, pair(v, mode.vactive));
    regs.set(TRANS_VBLANK::OFFSET, pair(v, mode.vactive));
    regs.set(TRANS_VSYNC::OFFSET, pair(vs.saturating_add(mode.vsync), vs));
    regs.set(PIPESRC::OFFSET, pair(mode.hactive, mode.vactive));
    let mn = link_m_n(BPP, link, mode.clock_khz);
    regs.set(
        PIPE_DATA_M1::OFFSET,
        PIPE_DATA_M1(mn.data_m)
            .with(PIPE_DATA_M1::TU_SIZE_MASK, mn.tu.saturating_sub(1))
            .0,
    );
    regs.set(PIPE_DATA_N1::OFFSET, mn.data_n);
    regs.set(PIPE_LINK_M1::OFFSET, mn.link_m);
    regs.set(PIPE_LINK_N1::OFFSET, mn.link_n);
    let func = TRANS_DDI_FUNC_CTL(0)
        .with(TRANS_DDI_FUNC_CTL::TRANS_DDI_FUNC_ENABLE, 1)
        .with(TRANS_DDI_FUNC_CTL::TRANS_DDI_PORT_MASK, port)
        .with(
            TRANS_DDI_FUNC_CTL::TRANS_DDI_MODE_SELECT_MASK,
            TRANS_DDI_MODE_SELECT_DP_SST,
        )
        .with(TRANS_DDI_FUNC_CTL::TRANS_DDI_BPC_MASK, 0)
        .with(
            TRANS_DDI_FUNC_CTL::TRANS_DDI_PVSYNC,
            u32::from(mode.vsync_positive),
        )
        .with(
            TRANS_DDI_FUNC_CTL::TRANS_DDI_PHSYNC,
            u32::from(mode.hsync_positive),
        )
        .with(
            TRANS_DDI_FUNC_CTL::TRANS_DDI_PORT_WIDTH_MASK,
            link.lanes.saturating_sub(1),
        );
    regs.set(TRANS_DDI_FUNC_CTL::OFFSET, func.0);
    let on = TRANSCONF::TRANSCONF_ENABLE.mask() | TRANSCONF::TRANSCONF_STATE_ENABLE.mask();
    regs.set(TRANSCONF::OFFSET, on);
    let buf = DDI_BUF_CTL(0)
        .with(DDI_BUF_CTL::DDI_BUF_CTL_ENABLE, 1)
        .with(
            DDI_BUF_CTL::DDI_PORT_WIDTH_MASK,
            link.lanes.saturating_sub(1),
        );
    regs.set(port_reg(DDI_BUF_CTL::OFFSET, port), buf.0);
    let tp = DP_TP_CTL(0)
        .with(DP_TP_CTL::DP_TP_CTL_ENABLE, 1)
        .with(DP_TP_CTL::DP_TP_CTL_ENHANCED_FRAME_ENABLE, 1)
        .with(
            DP_TP_CTL::DP_TP_CTL_LINK_TRAIN_MASK,
            DP_TP_CTL_LINK_TRAIN_NORMAL,
        );
    regs.set(port_reg(DP_TP_CTL::OFFSET, port), tp.0);
    if platform.hw().display.phy == Phy::Dpio {
        bxt_program_pll(regs, link)?;
    } else {
        let rate = skl_link_rate(link.port_clock)?;
        set_skl_dpll_ctrl1(regs, SKL_MONITOR_DPLL, rate);
        regs.update(LCPLL2_CTL::OFFSET, 0, LCPLL1_CTL::LCPLL_PLL_ENABLE.mask());
        // DPLL_CTRL2: DDI clock on, taken from the DPLL, selection overridden.
        let sel = port.wrapping_mul(3);
        let clk_off = 1u32.wrapping_shl(port.wrapping_add(15));
        regs.update(
            DPLL_CTRL2::OFFSET,
            clk_off | 7u32.wrapping_shl(sel),
            ((SKL_MONITOR_DPLL << 1) | 1).wrapping_shl(sel),
        );
    }
    Some(link)
}

/// The port B PLL registers as `bxt_ddi_pll_enable` leaves them, and the lane latency
/// optimization `bxt_dpio_phy_set_lane_optim_mask` sets.
fn bxt_program_pll(regs: &mut Regs<'_>, link: Link) -> Option<()> {
    let p = bxt_pll(link.port_clock)?;
    let field = |regs: &mut Regs<'_>, off: u32, f: super::super::regs::Field, v: u32| {
        regs.update(off, f.mask(), f.set(0, v));
    };
    field(
        regs,
        PORT_PLL_EBB_0_B::OFFSET,
        PORT_PLL_EBB_0_B::PORT_PLL_P1_MASK,
        p.p1,
    );
    field(
        regs,
        PORT_PLL_EBB_0_B::OFFSET,
        PORT_PLL_EBB_0_B::PORT_PLL_P2_MASK,
        p.p2,
    );
    field(
        regs,
        PORT_PLL_EBB_4_B::OFFSET,
        PORT_PLL_EBB_4_B::PORT_PLL_RECALIBRATE,
        0,
    );
    field(
        regs,
        PORT_PLL_EBB_4_B::OFFSET,
        PORT_PLL_EBB_4_B::PORT_PLL_10BIT_CLK_ENABLE,
        1,
    );
    field(
        regs,
        PORT_PLL_0_B::OFFSET,
        PORT_PLL_0_B::PORT_PLL_M2_INT_MASK,
        p.m2 >> 22,
    );
    field(
        regs,
        PORT_PLL_1_B::OFFSET,
        PORT_PLL_1_B::PORT_PLL_N_MASK,
        p.n,
    );
    let frac = p.m2 & 0x3f_ffff;
    field(
        regs,
        PORT_PLL_2_B::OFFSET,
        PORT_PLL_2_B::PORT_PLL_M2_FRAC_MASK,
        frac,
    );
    field(
        regs,
        PORT_PLL_3_B::OFFSET,
        PORT_PLL_3_B::PORT_PLL_M2_FRAC_ENABLE,
        u32::from(frac != 0),
    );
    field(
        regs,
        PORT_PLL_6_B::OFFSET,
        PORT_PLL_6_B::PORT_PLL_PROP_COEFF_MASK,
        p.prop,
    );
    field(
        regs,
        PORT_PLL_6_B::OFFSET,
        PORT_PLL_6_B::PORT_PLL_INT_COEFF_MASK,
        p.int,
    );
    field(
        regs,
        PORT_PLL_6_B::OFFSET,
        PORT_PLL_6_B::PORT_PLL_GAIN_CTL_MASK,
        p.gain,
    );
    field(
        regs,
        PORT_PLL_8_B::OFFSET,
        PORT_PLL_8_B::PORT_PLL_TARGET_CNT_MASK,
        p.targ_cnt,
    );
    field(
        regs,
        PORT_PLL_9_B::OFFSET,
        PORT_PLL_9_B::PORT_PLL_LOCK_THRESHOLD_MASK,
        5,
    );
    field(
        regs,
        PORT_PLL_10_B::OFFSET,
        PORT_PLL_10_B::PORT_PLL_DCO_AMP_MASK,
        15,
    );
    field(
        regs,
        PORT_PLL_10_B::OFFSET,
        PORT_PLL_10_B::PORT_PLL_DCO_AMP_OVR_EN_H,
        1,
    );
    // Written through the group register, which reaches every lane pair.
    for off in [
        PORT_PCS_DW12_LN01_B::OFFSET,
        PORT_PCS_DW12_LN23_B::OFFSET,
        super::super::regs::PORT_PCS_DW12_GRP_B::OFFSET,
    ] {
        field(
            regs,
            off,
            PORT_PCS_DW12_LN01_B::LANE_STAGGER_MASK,
            p.lanestagger,
        );
        field(regs, off, PORT_PCS_DW12_LN01_B::LANESTAGGER_STRAP_OVRD, 1);
    }
    let mask = bxt_lane_lat_optim_mask(link.lanes);
    for lane in 0..4u32 {
        let on = (mask >> lane) & 1;
        field(
            regs,
            bxt_lane_reg(PORT_TX_DW14_LN0_B::OFFSET, lane),
            PORT_TX_DW14_LN0_B::LATENCY_OPTIM,
            on,
        );
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::vgpu_type::Resolution;

    #[test]
    fn links_and_m_n_are_i915s() {
        let wide = Mode::of(Resolution::R1920x1200);
        assert_eq!(
            link_for(&wide),
            Some(Link {
                port_clock: 162_000,
                lanes: 4
            })
        );
        let mn = link_m_n(
            BPP,
            Link {
                port_clock: 162_000,
                lanes: 4,
            },
            wide.clock_khz,
        );
        // Data M/N is upstream's golden value; link M/N is 154 / 162 over 0x80000.
        assert_eq!((mn.data_m, mn.data_n), (0x5b_425e, 0x80_0000));
        assert_eq!((mn.link_m, mn.link_n), (498_397, 0x8_0000));
        let xga = Mode::of(Resolution::R1024x768);
        assert_eq!(
            link_for(&xga),
            Some(Link {
                port_clock: 162_000,
                lanes: 2
            })
        );
        let huge = Mode {
            clock_khz: 800_000,
            ..wide
        };
        assert_eq!(link_for(&huge), None);
        assert!(!usable(&huge, Platform::Broxton));
        assert!(!usable(
            &Mode {
                clock_khz: 0,
                ..wide
            },
            Platform::Skylake
        ));
    }

    #[test]
    fn bxt_pll_gives_the_port_clock() {
        for rate in LINK_RATES {
            let p = bxt_pll(rate).unwrap();
            let vco = bxt_vco_khz(p.m2, p.n).unwrap();
            let dot = (vco + u64::from(p.p1 * p.p2 * 5) / 2) / u64::from(p.p1 * p.p2 * 5);
            assert_eq!(dot, u64::from(rate));
        }
        let rbr = bxt_pll(162_000).unwrap();
        assert_eq!(
            (rbr.prop, rbr.int, rbr.gain, rbr.targ_cnt, rbr.lanestagger),
            (4, 9, 3, 8, 0x0d)
        );
        let hbr = bxt_pll(270_000).unwrap();
        assert_eq!((hbr.prop, hbr.int, hbr.gain, hbr.targ_cnt), (3, 8, 1, 9));
        assert_eq!(bxt_pll(100_000), None);
        assert_eq!(cdclk_decimal(624_000), 1246);
        assert_eq!(cdclk_decimal(675_000), 1348);
    }
}
