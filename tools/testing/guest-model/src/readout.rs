//! What i915 reads back of the display firmware left, at probe (`intel_modeset_setup_hw_state`),
//! for pipe A and the monitor's DDI: the CD clock (`bxt_get_cdclk`, `skl_get_cdclk`), the
//! transcoder (`hsw_get_transcoder_state`, `intel_get_transcoder_timings`,
//! `intel_get_pipe_src_size`), the DDI function (`intel_ddi_read_func_ctl`: bpp, lanes, sync,
//! M/N), the PLL (`bxt_ddi_pll_get_hw_state` + `bxt_ddi_pll_get_freq`, `skl_ddi_get_pll` +
//! `skl_ddi_lcpll_get_freq`) and the dot clock from them (`intel_dotclock_calculate`).
//!
//! [`check`] then refuses what makes i915 warn or divide by zero on an enabled pipe (a 0 kHz
//! dot clock or pixel rate, PLL off under a running DDI) and what it would find inconsistent:
//! timings out of order, a pipe source unlike the active area, M/N or PLL dividers other than
//! the ones i915 computes for that mode and link (the state checker compares them), a refresh
//! rate no monitor has, a CD clock below the pixel rate, a sink not trained at that link.
//! Written from the i915 6.12 sources, independently of the device model's own computation.

use gvt::model::display::regs::*;

use super::guest::{Error, Result, Transport, TransportExt};
use super::modeset::{self, Output};

/// Transcoder timings as i915 holds them (`crtc_*`, 1-based: register fields + 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Timings {
    /// Active pixels.
    pub hdisplay: u32,
    /// First blank pixel.
    pub hblank_start: u32,
    /// Last blank pixel.
    pub hblank_end: u32,
    /// Sync start.
    pub hsync_start: u32,
    /// Sync end.
    pub hsync_end: u32,
    /// Pixels per line.
    pub htotal: u32,
    /// Active lines.
    pub vdisplay: u32,
    /// First blank line.
    pub vblank_start: u32,
    /// Last blank line.
    pub vblank_end: u32,
    /// Sync start line.
    pub vsync_start: u32,
    /// Sync end line.
    pub vsync_end: u32,
    /// Lines per frame.
    pub vtotal: u32,
}

/// Transcoder M/N as read (`intel_get_m_n`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MN {
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

/// The BXT port PLL state i915 reads (`struct bxt_dpll_hw_state`, masked as it masks).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BxtPllState {
    /// EBB_0: P1, P2.
    pub ebb0: u32,
    /// EBB_4: 10-bit clock.
    pub ebb4: u32,
    /// PLL dwords 0, 1, 2, 3, 6, 8, 9, 10.
    pub pll: [u32; 8],
    /// PCS DW12 lane stagger.
    pub pcsdw12: u32,
}

/// What i915 learned of pipe A.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PipeState {
    /// CD clock, kHz.
    pub cdclk_khz: u32,
    /// The DDI the transcoder drives.
    pub port: u32,
    /// DP lanes.
    pub lanes: u32,
    /// Bits per pixel.
    pub pipe_bpp: u32,
    /// Positive horizontal and vertical sync.
    pub sync_positive: (bool, bool),
    /// Timings.
    pub timings: Timings,
    /// Pipe source width and height.
    pub src: (u32, u32),
    /// M/N.
    pub m_n: MN,
    /// Link rate from the PLL, kHz (`port_clock`).
    pub port_clock: u32,
    /// Pixel clock from the link rate and link M/N, kHz.
    pub dotclock_khz: u32,
    /// Refresh rate, mHz.
    pub refresh_mhz: u32,
    /// BXT: the port PLL's state; SKL: DPLL_CTRL1 of the DDI's DPLL in `ebb0`.
    pub pll: BxtPllState,
    /// SKL: the DPLL feeding the DDI.
    pub skl_dpll: Option<u32>,
    /// BXT: lanes with latency optimization.
    pub lane_lat_optim: u32,
    /// Enhanced framing in DP_TP_CTL.
    pub enhanced_framing: bool,
}

fn field(v: u32, hi: u32, lo: u32) -> u32 {
    (v >> lo) & (u32::MAX >> (31 - (hi - lo)))
}

fn div_round_closest(n: u64, d: u64) -> u64 {
    (n + d / 2).checked_div(d).unwrap_or(0)
}

/// `bxt_get_cdclk` / `skl_get_cdclk`; errors where they warn or hit MISSING_CASE.
pub fn cdclk<T: Transport + ?Sized>(t: &mut T, bxt: bool) -> Result<u32> {
    let ctl = t.read32(CDCLK_CTL::OFFSET)?;
    if bxt {
        let (reference, bypass) = (19_200u64, 19_200u32);
        let en = t.read32(0x46070)?; // BXT_DE_PLL_ENABLE
        if en & (3 << 30) != 3 << 30 {
            return Ok(bypass);
        }
        let vco = u64::from(t.read32(BXT_DE_PLL_CTL::OFFSET)? & 0xff) * reference;
        if vco == 0 {
            return Ok(bypass);
        }
        let div = match field(ctl, 23, 22) {
            0 => 2,
            1 => 3,
            2 => 4,
            _ => 8,
        };
        Ok(div_round_closest(vco, div) as u32)
    } else {
        let reference = 24_000u32;
        let lcpll1 = t.read32(0x46010)?;
        if lcpll1 & (1 << 31) == 0 {
            return Ok(reference);
        }
        if lcpll1 & (1 << 30) == 0 {
            return Err(Error::Probe(
                "skl_dpll0_update: LCPLL1 enabled but not locked (WARN)",
            ));
        }
        let ctrl1 = t.read32(DPLL_CTRL1::OFFSET)? & 0x3f;
        if ctrl1 & 0x31 != 0x01 {
            return Err(Error::Probe(
                "skl_dpll0_update: DPLL0 not in overridden DP mode (WARN)",
            ));
        }
        let vco8640 = match field(ctrl1, 3, 1) {
            0..=3 => false,
            4 | 5 => true,
            _ => {
                return Err(Error::Probe(
                    "skl_dpll0_update: DPLL0 link rate (MISSING_CASE)",
                ))
            }
        };
        Ok(match (field(ctl, 27, 26), vco8640) {
            (0, false) => 450_000,
            (0, true) => 432_000,
            (1, _) => 540_000,
            (2, false) => 337_500,
            (2, true) => 308_571,
            (_, false) => 675_000,
            (_, true) => 617_143,
        })
    }
}

/// The CD clocks each platform runs at (`bxt_cdclk_table`; SKL's two VCOs).
fn cdclk_legal(bxt: bool, khz: u32) -> bool {
    if bxt {
        [144_000, 288_000, 384_000, 576_000, 624_000].contains(&khz)
    } else {
        [
            308_571, 337_500, 432_000, 450_000, 540_000, 617_143, 675_000,
        ]
        .contains(&khz)
    }
}

/// BXT port PLL registers of port B (PHY0 channel 0).
const BXT_PLL_DWORDS: [u32; 8] = [
    0x6c100, 0x6c104, 0x6c108, 0x6c10c, 0x6c118, 0x6c120, 0x6c124, 0x6c128,
];
/// What i915 keeps of each PLL dword (M2 int, N, M2 frac, frac enable, coefficients, target
/// count, lock threshold, DCO amplitude).
const BXT_PLL_MASKS: [u32; 8] = [
    0xff,
    0xf00,
    0x3f_ffff,
    1 << 16,
    0x7_1f0f,
    0x3ff,
    0xe,
    (1 << 27) | (0xf << 10),
];

fn bxt_pll_state<T: Transport + ?Sized>(t: &mut T) -> Result<BxtPllState> {
    let mut s = BxtPllState {
        ebb0: t.read32(0x6c034)? & 0xff00,
        ebb4: t.read32(0x6c038)? & (1 << 13),
        ..BxtPllState::default()
    };
    for (i, off) in BXT_PLL_DWORDS.iter().enumerate() {
        s.pll[i] = t.read32(*off)? & BXT_PLL_MASKS[i];
    }
    s.pcsdw12 = t.read32(0x6c430)? & 0x5f;
    Ok(s)
}

/// `bxt_ddi_pll_get_freq` (via `chv_calc_dpll_params`, 100 MHz reference, M1 = 2).
pub fn bxt_pll_freq(s: &BxtPllState) -> u32 {
    let mut m2 = u64::from(s.pll[0]) << 22;
    if s.pll[3] & (1 << 16) != 0 {
        m2 |= u64::from(s.pll[2]);
    }
    let n = u64::from(field(s.pll[1], 11, 8));
    let p = u64::from(field(s.ebb0, 15, 13)) * u64::from(field(s.ebb0, 12, 8)) * 5;
    let vco = if n == 0 {
        0
    } else {
        div_round_closest(100_000 * 2 * m2, n << 22)
    };
    div_round_closest(vco, p) as u32
}

/// The state `bxt_ddi_set_dpll_hw_state` computes for a DP link rate (`bxt_dp_clk_val`).
pub fn bxt_pll_expected(port_clock: u32) -> Option<BxtPllState> {
    let (p1, p2, m2): (u32, u32, u32) = match port_clock {
        162_000 => (4, 2, 0x819_999a),
        270_000 => (4, 1, 0x6c0_0000),
        540_000 => (2, 1, 0x6c0_0000),
        216_000 => (3, 2, 0x819_999a),
        243_000 => (4, 1, 0x613_3333),
        324_000 => (4, 1, 0x819_999a),
        432_000 => (3, 1, 0x819_999a),
        _ => return None,
    };
    let vco = div_round_closest(100_000 * 2 * u64::from(m2), 1 << 22);
    let (prop, int, gain, targ): (u32, u32, u32, u32) = if (6_200_000..=6_700_000).contains(&vco) {
        (4, 9, 3, 8)
    } else if vco == 5_400_000 {
        (3, 8, 1, 9)
    } else if (4_800_000..6_200_000).contains(&vco) {
        (5, 11, 3, 9)
    } else {
        return None;
    };
    let stagger = match port_clock {
        c if c > 270_000 => 0x18,
        c if c > 135_000 => 0x0d,
        c if c > 67_000 => 0x07,
        c if c > 33_000 => 0x04,
        _ => 0x02,
    };
    let frac = m2 & 0x3f_ffff;
    Some(BxtPllState {
        ebb0: (p1 << 13) | (p2 << 8),
        ebb4: 1 << 13,
        pll: [
            m2 >> 22,
            1 << 8,
            frac,
            if frac != 0 { 1 << 16 } else { 0 },
            prop | (int << 8) | (gain << 16),
            targ,
            5 << 1,
            (15 << 10) | (1 << 27),
        ],
        pcsdw12: (1 << 6) | stagger,
    })
}

/// `skl_ddi_lcpll_get_freq`: DPLL_CTRL1 field (shifted to DPLL 0's place) to port clock.
fn skl_lcpll_freq(ctrl1: u32) -> Option<u32> {
    let link = match field(ctrl1, 3, 1) {
        2 => 81_000,
        4 => 108_000,
        1 => 135_000,
        3 => 162_000,
        5 => 216_000,
        0 => 270_000,
        _ => return None,
    };
    Some(link * 2)
}

/// `intel_link_compute_m_n` for `bpp` over `lanes` at `port_clock`, no FEC.
pub fn link_m_n(bpp: u32, lanes: u32, pixel_khz: u32, port_clock: u32) -> MN {
    fn compute(m: u64, n: u64, fixed: u64) -> (u32, u32) {
        let mut rm = (m * fixed).checked_div(n).unwrap_or(0);
        let mut rn = fixed;
        while rm > 0xff_ffff || rn > 0xff_ffff {
            rm >>= 1;
            rn >>= 1;
        }
        (rm as u32, rn as u32)
    }
    let data = (u64::from(pixel_khz) * u64::from(bpp)).div_ceil(8);
    let (data_m, data_n) = compute(data, u64::from(port_clock) * u64::from(lanes), 0x800_0000);
    let (link_m, link_n) = compute(u64::from(pixel_khz), u64::from(port_clock), 0x8_0000);
    MN {
        tu: 64,
        data_m,
        data_n,
        link_m,
        link_n,
    }
}

/// Reads pipe A back as i915 does for the monitor's output `o`: `None` if its transcoder is
/// off. Broxton's registers or the big cores', as `o`'s platform has them.
pub fn pipe_a<T: Transport + ?Sized>(t: &mut T, o: &Output) -> Result<Option<PipeState>> {
    let bxt = o.lp();
    let cdclk_khz = cdclk(t, bxt)?;
    let func = t.read32(TRANS_DDI_FUNC_CTL::OFFSET)?;
    if func & (1 << 31) == 0 || t.read32(TRANSCONF::OFFSET)? & (1 << 31) == 0 {
        return Ok(None);
    }
    let pair = |v: u32| (field(v, 15, 0) + 1, field(v, 31, 16) + 1);
    let (hdisplay, htotal) = pair(t.read32(TRANS_HTOTAL::OFFSET)?);
    let (hblank_start, hblank_end) = pair(t.read32(TRANS_HBLANK::OFFSET)?);
    let (hsync_start, hsync_end) = pair(t.read32(TRANS_HSYNC::OFFSET)?);
    let (vdisplay, vtotal) = pair(t.read32(TRANS_VTOTAL::OFFSET)?);
    let (vblank_start, vblank_end) = pair(t.read32(TRANS_VBLANK::OFFSET)?);
    let (vsync_start, vsync_end) = pair(t.read32(TRANS_VSYNC::OFFSET)?);
    let timings = Timings {
        hdisplay,
        hblank_start,
        hblank_end,
        hsync_start,
        hsync_end,
        htotal,
        vdisplay,
        vblank_start,
        vblank_end,
        vsync_start,
        vsync_end,
        vtotal,
    };
    let (src_h, src_w) = pair(t.read32(PIPESRC::OFFSET)?);
    let port = field(func, 30, 28);
    if port != o.port {
        return Err(Error::Probe(
            "transcoder A drives a DDI without the monitor",
        ));
    }
    // intel_ddi_get_hw_state: the encoder is on when its buffer is.
    if t.read32(port_reg(DDI_BUF_CTL::OFFSET, port))? & (1 << 31) == 0 {
        return Err(Error::Probe("transcoder A runs but its DDI buffer is off"));
    }
    if field(func, 26, 24) != TRANS_DDI_MODE_SELECT_DP_SST {
        return Err(Error::Probe("the DP monitor's DDI is not in DP SST mode"));
    }
    let pipe_bpp = match field(func, 22, 20) {
        0 => 24,
        1 => 30,
        2 => 18,
        3 => 36,
        _ => 0,
    };
    let lanes = field(func, 3, 1) + 1;
    let sync_positive = (func & (1 << 16) != 0, func & (1 << 17) != 0);
    let data_m1 = t.read32(PIPE_DATA_M1::OFFSET)?;
    let m_n = MN {
        tu: field(data_m1, 30, 25) + 1,
        data_m: data_m1 & 0xff_ffff,
        data_n: t.read32(PIPE_DATA_N1::OFFSET)? & 0xff_ffff,
        link_m: t.read32(PIPE_LINK_M1::OFFSET)? & 0xff_ffff,
        link_n: t.read32(PIPE_LINK_N1::OFFSET)? & 0xff_ffff,
    };
    let enhanced_framing = t.read32(port_reg(DP_TP_CTL::OFFSET, port))? & (1 << 18) != 0;
    // intel_ddi_get_clock: the DDI's PLL must run (WARN_ON(!pll_active)).
    let (pll, skl_dpll, port_clock, lane_lat_optim) = if bxt {
        if t.read32(0x46074 + 4 * port)? & (1 << 31) == 0 {
            return Err(Error::Probe("intel_ddi_get_clock: port PLL off (WARN)"));
        }
        let s = bxt_pll_state(t)?;
        let mut optim = 0;
        for lane in 0..4 {
            if t.read32(bxt_lane_reg(PORT_TX_DW14_LN0_B::OFFSET, lane))? & (1 << 30) != 0 {
                optim |= 1 << lane;
            }
        }
        (s, None, bxt_pll_freq(&s), optim)
    } else {
        let ctrl2 = t.read32(DPLL_CTRL2::OFFSET)?;
        if ctrl2 & (1 << (port * 3)) == 0 {
            return Err(Error::Probe("skl_ddi_get_pll: no DPLL for the DDI (WARN)"));
        }
        let id = field(ctrl2, port * 3 + 2, port * 3 + 1);
        let ctl = [0x46010, 0x46014, 0x46040, 0x46060][id as usize];
        if t.read32(ctl)? & (1 << 31) == 0 {
            return Err(Error::Probe("intel_ddi_get_clock: DPLL off (WARN)"));
        }
        let ctrl1 = (t.read32(DPLL_CTRL1::OFFSET)? >> (id * 6)) & 0x3f;
        if ctrl1 & (1 << 5) != 0 {
            return Err(Error::Probe("the DP monitor's DPLL is in HDMI mode"));
        }
        let clock = skl_lcpll_freq(ctrl1).ok_or(Error::Probe(
            "skl_ddi_lcpll_get_freq: unsupported link rate (WARN)",
        ))?;
        (
            BxtPllState {
                ebb0: ctrl1,
                ..BxtPllState::default()
            },
            Some(id),
            clock,
            0,
        )
    };
    // intel_dotclock_calculate (8b/10b: link symbol size 10).
    let dotclock_khz = if m_n.link_n == 0 {
        0
    } else {
        (u64::from(m_n.link_m) * u64::from(port_clock) * 10).div_ceil(u64::from(m_n.link_n) * 10)
            as u32
    };
    let frame = u64::from(htotal) * u64::from(vtotal);
    let refresh_mhz = div_round_closest(u64::from(dotclock_khz) * 1_000_000, frame) as u32;
    Ok(Some(PipeState {
        cdclk_khz,
        port,
        lanes,
        pipe_bpp,
        sync_positive,
        timings,
        src: (src_w, src_h),
        m_n,
        port_clock,
        dotclock_khz,
        refresh_mhz,
        pll,
        skl_dpll,
        lane_lat_optim,
        enhanced_framing,
    }))
}

/// Refuses a read-back state i915 would trip over or find inconsistent (see the module doc).
pub fn check<T: Transport + ?Sized>(t: &mut T, o: &Output, s: &PipeState) -> Result {
    let bxt = o.lp();
    if s.dotclock_khz == 0 {
        return Err(Error::Probe("Can't calculate constants, dotclock = 0!"));
    }
    if s.port_clock == 0 {
        return Err(Error::Probe("port clock 0 from the PLL"));
    }
    let tm = &s.timings;
    // active <= blank start <= blank end <= total, active <= sync start < sync end <= total.
    let ordered = |active: u32, blank: (u32, u32), sync: (u32, u32), total: u32| {
        active <= blank.0
            && blank.0 <= blank.1
            && blank.1 <= total
            && active <= sync.0
            && sync.0 < sync.1
            && sync.1 <= total
            && total > active
    };
    let h_ok = ordered(
        tm.hdisplay,
        (tm.hblank_start, tm.hblank_end),
        (tm.hsync_start, tm.hsync_end),
        tm.htotal,
    );
    let v_ok = ordered(
        tm.vdisplay,
        (tm.vblank_start, tm.vblank_end),
        (tm.vsync_start, tm.vsync_end),
        tm.vtotal,
    );
    if !h_ok || !v_ok || tm.htotal <= 1 || tm.vtotal <= 1 {
        return Err(Error::Probe("transcoder timings out of order"));
    }
    if s.src != (tm.hdisplay, tm.vdisplay) {
        return Err(Error::Probe(
            "pipe source differs from the active area (no scaler)",
        ));
    }
    if ![1, 2, 4].contains(&s.lanes) {
        return Err(Error::Probe("lane count"));
    }
    if ![18, 24, 30, 36].contains(&s.pipe_bpp) {
        return Err(Error::Probe("pipe bpp"));
    }
    if !(10_000..=240_000).contains(&s.refresh_mhz) {
        return Err(Error::Probe("refresh rate out of any monitor's range"));
    }
    // The link carries the stream, with the M/N i915 computes for it (the state checker's
    // dp_m_n) and a rate this source and sink both do.
    let rates = [162_000, 270_000, 540_000];
    if !rates.contains(&s.port_clock) {
        return Err(Error::Probe("link rate the source and sink do not share"));
    }
    if u64::from(s.dotclock_khz) * u64::from(s.pipe_bpp)
        > u64::from(s.port_clock) * u64::from(s.lanes) * 8
    {
        return Err(Error::Probe("the link cannot carry the mode"));
    }
    if s.m_n != link_m_n(s.pipe_bpp, s.lanes, s.dotclock_khz, s.port_clock) {
        return Err(Error::Probe(
            "M/N differ from what i915 computes for this mode and link",
        ));
    }
    // The PLL state i915 computes for the link (the state checker's dpll_hw_state).
    if bxt {
        if Some(s.pll) != bxt_pll_expected(s.port_clock) {
            return Err(Error::Probe(
                "port PLL dividers differ from i915's for the link rate",
            ));
        }
        let optim = match s.lanes {
            2 => 0b0101,
            4 => 0b1101,
            _ => 0,
        };
        if s.lane_lat_optim != optim {
            return Err(Error::Probe(
                "lane latency optimization differs from i915's",
            ));
        }
    } else if s.skl_dpll == Some(0) {
        return Err(Error::Probe(
            "DP DDI on DPLL0, which i915 keeps for eDP and the CD clock",
        ));
    }
    // Gen9 takes one pixel per CD clock: a running pipe needs at least its pixel rate.
    if !cdclk_legal(bxt, s.cdclk_khz) || s.cdclk_khz < s.dotclock_khz {
        return Err(Error::Probe(
            "CD clock not a platform value or below the pixel rate",
        ));
    }
    // The sink was trained at that link, with enhanced framing as the DDI sends it.
    let mut caps = [0u8; 3];
    modeset::dpcd_read_on(t, s.port, 0x000, &mut caps)?;
    let mut link = [0u8; 2];
    modeset::dpcd_read_on(t, s.port, 0x100, &mut link)?;
    let mut status = [0u8; 3];
    modeset::dpcd_read_on(t, s.port, 0x202, &mut status)?;
    if u32::from(link[0]) * 27_000 != s.port_clock || u32::from(link[1] & 0x1f) != s.lanes {
        return Err(Error::Probe("the sink is set to another link than the DDI"));
    }
    let lanes_ok = status[0] == 0x77 && (s.lanes < 4 || status[1] == 0x77) && status[2] & 1 != 0;
    if !lanes_ok {
        return Err(Error::Probe(
            "the sink's link is not trained (i915 would retrain)",
        ));
    }
    if s.enhanced_framing != (caps[2] & 0x80 != 0) || (link[1] & 0x80 != 0) != s.enhanced_framing {
        return Err(Error::Probe(
            "enhanced framing differs between DDI, sink setting and caps",
        ));
    }
    Ok(())
}

/// The readout and its checks: the pipe's state if it runs.
pub fn initial_state<T: Transport + ?Sized>(t: &mut T, o: &Output) -> Result<Option<PipeState>> {
    let s = pipe_a(t, o)?;
    if let Some(s) = &s {
        check(t, o, s)?;
    }
    Ok(s)
}
