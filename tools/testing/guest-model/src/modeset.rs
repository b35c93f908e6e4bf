//! What a guest i915 does to light up the vGPU's monitor, as BAR0 accesses: find the monitor's
//! DDI, read the EDID over I2C-over-AUX and over GMBUS, read the DPCD, bring up the port's PLL
//! and DDI, train the link (clock recovery, then channel equalization), program transcoder A,
//! enable the pipe and the primary plane, then flip and wait for vblanks and flip-done
//! interrupts. Each platform family its own way, as i915 6.12 does it: Broxton's port PLLs and
//! north-display hotplug, the big cores' shared DPLLs, DDI IO power wells and PCH hotplug;
//! `no_std` and over any [`Transport`] + [`Timer`].

use gvt::model::display::edid::{Mode, EDID_ADDR, EDID_SIZE};
use gvt::model::display::regs::*;
use gvt::model::hw::Platform;
use gvt::model::regs::{DPLL_STATUS, HSW_PWR_WELL_CTL2, LCPLL1_CTL, LCPLL2_CTL, SDEISR};

use super::guest::{Error, Result, Timer, Transport, TransportExt};

/// Pipe A's interrupt mask, identity and enable registers.
pub const PIPE_A_IMR: u32 = 0x44404;
/// Pipe A IIR.
pub const PIPE_A_IIR: u32 = 0x44408;
/// Pipe A IER.
pub const PIPE_A_IER: u32 = 0x4440c;
/// DE port IMR, IIR, IER.
pub const DE_PORT_IMR: u32 = 0x44444;
/// DE port IIR.
pub const DE_PORT_IIR: u32 = 0x44448;
/// DE port IER.
pub const DE_PORT_IER: u32 = 0x4444c;
/// Pipe IIR: vblank.
pub const GEN8_PIPE_VBLANK: u32 = 1 << 0;
/// Pipe IIR: plane 1 flip done.
pub const PLANE1_FLIP_DONE: u32 = 1 << 3;

const POLLS: u32 = 100;

/// VESA 1280x1024 at 60 Hz: a monitor none of the vGPU types has, for custom EDIDs.
pub const SXGA: Mode = Mode {
    clock_khz: 108_000,
    hactive: 1280,
    hfp: 48,
    hsync: 112,
    hbp: 248,
    vactive: 1024,
    vfp: 1,
    vsync: 3,
    vbp: 38,
    hsync_positive: true,
    vsync_positive: true,
};

/// `hpd_spt`: the SDEISR hotplug bits of DDI A-E on Sunrise and Cannon Point.
const HPD_SPT: [u32; 5] = [1 << 24, 1 << 21, 1 << 22, SDE_PORTD_HOTPLUG_CPT, 1 << 25];
/// `skl_dpll_regs`: the control register of DPLL 0-3 (LCPLL1, LCPLL2, WRPLL1, WRPLL2).
const SKL_DPLL_CTL: [u32; 4] = [LCPLL1_CTL::OFFSET, LCPLL2_CTL::OFFSET, 0x46040, 0x46060];
/// `DPLL_CFGCR1(DPLL1)`; CFGCR2 follows, and DPLL2's pair 8 bytes on.
const SKL_DPLL1_CFGCR1: u32 = 0x6c040;
/// The DPLL i915 gives a DP DDI on the big cores: `skl_get_dpll` takes the first of DPLL1-3
/// (DPLL0 makes the CD clock).
pub const SKL_DP_DPLL: u32 = 1;

/// The monitor's output as i915 finds it: the platform (from the PCI device id, as i915 takes
/// it) and the DDI whose hotplug line is up. Everything else a guest does per platform follows
/// from these two.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Output {
    /// The GPU.
    pub platform: Platform,
    /// The monitor's DDI, which is also its AUX channel (0 = A).
    pub port: u32,
}

impl Output {
    /// i915's connector detection: the platform from the device id, then the first DDI whose
    /// live hotplug state is up (`bxt_digital_port_connected`, `ibx_digital_port_connected`).
    pub fn detect<T: Transport + ?Sized>(t: &mut T) -> Result<Output> {
        let device = (t.cfg_read32(0)? >> 16) as u16;
        let platform =
            Platform::from_device_id(device).ok_or(Error::Probe("not a Gen9 device id"))?;
        let o = Output { platform, port: 0 };
        let live = t.read32(o.hpd_isr())?;
        (0..5)
            .find(|&port| o.hpd_bit_of(port).is_some_and(|b| live & b != 0))
            .map(|port| Output { platform, port })
            .ok_or(Error::Probe("no DP monitor connected"))
    }

    /// Gen9 LP (`IS_GEN9_LP`): Broxton's DPIO PHYs and port PLLs, no PCH.
    pub fn lp(&self) -> bool {
        self.platform.hw().lp
    }

    /// The hotplug interrupt group's ISR (IMR, IIR and IER follow at +4, +8 and +0xc): the
    /// north display's port group on Broxton (`bxt_hpd_irq_setup`), the PCH's on the big cores
    /// (`spt_hpd_irq_setup`).
    pub fn hpd_isr(&self) -> u32 {
        if self.lp() {
            GEN8_DE_PORT_ISR::OFFSET
        } else {
            SDEISR::OFFSET
        }
    }

    /// The hotplug group's IIR, where the guest sees and acknowledges a pulse.
    pub fn hpd_iir(&self) -> u32 {
        self.hpd_isr() + 8
    }

    /// The hotplug bit of DDI `port` in [`Output::hpd_isr`]'s group (`hpd_bxt`, `hpd_spt`).
    pub fn hpd_bit_of(&self, port: u32) -> Option<u32> {
        if self.lp() {
            [
                GEN8_DE_PORT_ISR::BXT_DE_PORT_HP_DDIA,
                GEN8_DE_PORT_ISR::BXT_DE_PORT_HP_DDIB,
                GEN8_DE_PORT_ISR::BXT_DE_PORT_HP_DDIC,
            ]
            .get(port as usize)
            .map(|f| f.mask())
        } else {
            HPD_SPT.get(port as usize).copied()
        }
    }

    /// The monitor's hotplug bit.
    pub fn hpd_bit(&self) -> u32 {
        self.hpd_bit_of(self.port).unwrap_or(0)
    }

    /// The DE port IIR bit of the monitor's AUX channel (`gen8_de_port_aux_mask`).
    pub fn aux_done(&self) -> u32 {
        match self.port {
            0 => 1 << 0,
            p => 1 << (24 + p),
        }
    }

    /// The GMBUS pin of DDI `port`'s DDC (`intel_hdmi_default_ddc_pin`), for the PCH
    /// `intel_virt_detect_pch` gives a vGPU: Broxton's own pins, Sunrise Point's on Sky and
    /// Kaby Lake, Cannon Point's on Coffee and Comet Lake.
    pub fn gmbus_pin(&self, port: u32) -> Option<u32> {
        let pins: [Option<u32>; 3] = match self.platform {
            // bxt_encoder_to_ddc_pin: GMBUS_PIN_1_BXT, GMBUS_PIN_2_BXT.
            Platform::Broxton => [Some(1), Some(2), None],
            // g4x_encoder_to_ddc_pin: GMBUS_PIN_DPB, _DPC, _DPD.
            Platform::Skylake | Platform::KabyLake => [Some(5), Some(4), Some(6)],
            // cnp_encoder_to_ddc_pin: GMBUS_PIN_1_BXT, _2_BXT, GMBUS_PIN_4_CNP.
            Platform::CoffeeLake | Platform::CometLake => [Some(1), Some(2), Some(4)],
        };
        pins.get(port.checked_sub(1)? as usize).copied().flatten()
    }

    /// The GMBUS pin of the monitor's DDC.
    pub fn ddc_pin(&self) -> Result<u32> {
        self.gmbus_pin(self.port)
            .ok_or(Error::Probe("no GMBUS pin for the monitor's DDI"))
    }

    fn reg(&self, first: u32) -> u32 {
        port_reg(first, self.port)
    }
}

/// Runs one AUX transaction on the monitor's channel: `req` is the request (header and data,
/// at most 20 bytes). Returns the reply bytes and their count.
pub fn aux_transfer<T: Transport + ?Sized>(
    t: &mut T,
    o: &Output,
    req: &[u8],
    irq: bool,
) -> Result<([u8; 20], usize)> {
    aux_transfer_on(t, o.port, req, irq)
}

/// [`aux_transfer`] on the AUX channel of `port`.
pub fn aux_transfer_on<T: Transport + ?Sized>(
    t: &mut T,
    port: u32,
    req: &[u8],
    irq: bool,
) -> Result<([u8; 20], usize)> {
    let ctl = |first: u32| port_reg(first, port);
    if req.is_empty() || req.len() > 20 {
        return Err(Error::Probe("AUX request size"));
    }
    let mut buf = [0u8; 20];
    buf[..req.len()].copy_from_slice(req);
    for (i, chunk) in buf.chunks(4).enumerate() {
        let w = u32::from_be_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        t.write32(ctl(DP_AUX_CH_DATA::OFFSET) + 4 * i as u32, w)?;
    }
    let c = DP_AUX_CH_CTL(0)
        .with(DP_AUX_CH_CTL::DP_AUX_CH_CTL_SEND_BUSY, 1)
        .with(DP_AUX_CH_CTL::DP_AUX_CH_CTL_DONE, 1)
        .with(DP_AUX_CH_CTL::DP_AUX_CH_CTL_TIME_OUT_ERROR, 1)
        .with(DP_AUX_CH_CTL::DP_AUX_CH_CTL_RECEIVE_ERROR, 1)
        .with(DP_AUX_CH_CTL::DP_AUX_CH_CTL_INTERRUPT, u32::from(irq))
        .with(
            DP_AUX_CH_CTL::DP_AUX_CH_CTL_MESSAGE_SIZE_MASK,
            req.len() as u32,
        );
    t.write32(ctl(DP_AUX_CH_CTL::OFFSET), c.0)?;
    let status = DP_AUX_CH_CTL(t.wait_for(ctl(DP_AUX_CH_CTL::OFFSET), 1 << 31, 0, POLLS)?);
    if status.is_set(DP_AUX_CH_CTL::DP_AUX_CH_CTL_TIME_OUT_ERROR) {
        return Err(Error::Probe("AUX timeout"));
    }
    if status.is_set(DP_AUX_CH_CTL::DP_AUX_CH_CTL_RECEIVE_ERROR)
        || !status.is_set(DP_AUX_CH_CTL::DP_AUX_CH_CTL_DONE)
    {
        return Err(Error::Probe("AUX receive error"));
    }
    let n = status.get(DP_AUX_CH_CTL::DP_AUX_CH_CTL_MESSAGE_SIZE_MASK) as usize;
    if n == 0 || n > 20 {
        return Err(Error::Probe("AUX reply size"));
    }
    let mut reply = [0u8; 20];
    for (i, chunk) in reply.chunks_mut(4).enumerate() {
        chunk.copy_from_slice(
            &t.read32(ctl(DP_AUX_CH_DATA::OFFSET) + 4 * i as u32)?
                .to_be_bytes(),
        );
    }
    Ok((reply, n))
}

/// Reads `buf.len()` (at most 16) DPCD bytes from `addr`.
pub fn dpcd_read<T: Transport + ?Sized>(
    t: &mut T,
    o: &Output,
    addr: u32,
    buf: &mut [u8],
) -> Result {
    dpcd_read_on(t, o.port, addr, buf)
}

/// [`dpcd_read`] over the AUX channel of `port`.
pub fn dpcd_read_on<T: Transport + ?Sized>(
    t: &mut T,
    port: u32,
    addr: u32,
    buf: &mut [u8],
) -> Result {
    let req = [
        0x90 | (addr >> 16) as u8,
        (addr >> 8) as u8,
        addr as u8,
        (buf.len() - 1) as u8,
    ];
    let (r, n) = aux_transfer_on(t, port, &req, false)?;
    if r[0] & 0x30 != 0 || n != buf.len() + 1 {
        return Err(Error::Probe("DPCD read NAKed"));
    }
    buf.copy_from_slice(&r[1..n]);
    Ok(())
}

/// Writes `data` (at most 16 bytes) to the DPCD at `addr`.
pub fn dpcd_write<T: Transport + ?Sized>(t: &mut T, o: &Output, addr: u32, data: &[u8]) -> Result {
    let mut req = [0u8; 20];
    req[..4].copy_from_slice(&[
        0x80 | (addr >> 16) as u8,
        (addr >> 8) as u8,
        addr as u8,
        (data.len() - 1) as u8,
    ]);
    req[4..4 + data.len()].copy_from_slice(data);
    let (r, _) = aux_transfer(t, o, &req[..4 + data.len()], false)?;
    if r[0] & 0x30 != 0 {
        return Err(Error::Probe("DPCD write NAKed"));
    }
    Ok(())
}

/// Reads the EDID over I2C-over-AUX as drm's DDC code does: start, offset 0, 16-byte reads,
/// stop. The AUX-done interrupt is requested on the reads when `irq`.
pub fn edid_over_aux<T: Transport + ?Sized>(
    t: &mut T,
    o: &Output,
    irq: bool,
) -> Result<[u8; EDID_SIZE]> {
    let mut edid = [0u8; EDID_SIZE];
    // I2C write with MOT, address only: START to 0x50.
    aux_transfer(t, o, &[0x40, 0, EDID_ADDR], false)?;
    let (r, _) = aux_transfer(t, o, &[0x40, 0, EDID_ADDR, 0, 0], false)?;
    if r[0] != 0 {
        return Err(Error::Probe("EDID offset write NAKed"));
    }
    for chunk in edid.chunks_mut(16) {
        let (r, n) = aux_transfer(t, o, &[0x50, 0, EDID_ADDR, 15], irq)?;
        if r[0] != 0 || n != 17 {
            return Err(Error::Probe("EDID read NAKed or short"));
        }
        chunk.copy_from_slice(&r[1..17]);
    }
    // I2C read without MOT, address only: STOP.
    aux_transfer(t, o, &[0x10, 0, EDID_ADDR], false)?;
    Ok(edid)
}

/// Reads the EDID over GMBUS as i915's GMBUS code does: pin select, an index read cycle of 128
/// bytes, four bytes per HW_RDY, the wait phase, STOP, idle.
pub fn edid_over_gmbus<T: Transport + ?Sized>(t: &mut T, pin: u32) -> Result<[u8; EDID_SIZE]> {
    let mut edid = [0u8; EDID_SIZE];
    t.write32(GMBUS0::OFFSET, pin)?;
    let cmd = GMBUS1(0)
        .with(GMBUS1::GMBUS_SW_RDY, 1)
        .with(GMBUS1::GMBUS_CYCLE_MASK, 3) // index + wait
        .with(GMBUS1::GMBUS_BYTE_COUNT_MASK, EDID_SIZE as u32)
        .with(GMBUS1::GMBUS_SLAVE_INDEX_MASK, 0)
        .with(GMBUS1::GMBUS_SLAVE_ADDR_MASK, u32::from(EDID_ADDR))
        .with(GMBUS1::GMBUS_SLAVE_READ, 1);
    t.write32(GMBUS1::OFFSET, cmd.0)?;
    for chunk in edid.chunks_mut(4) {
        let st = GMBUS2(t.read32(GMBUS2::OFFSET)?);
        if st.is_set(GMBUS2::GMBUS_SATOER) {
            return Err(Error::Probe("GMBUS NAK"));
        }
        if !st.is_set(GMBUS2::GMBUS_HW_RDY) {
            return Err(Error::Probe("GMBUS not ready"));
        }
        chunk.copy_from_slice(&t.read32(GMBUS3::OFFSET)?.to_le_bytes());
    }
    let wait = GMBUS2::GMBUS_HW_WAIT_PHASE.mask();
    t.wait_for(GMBUS2::OFFSET, wait, wait, POLLS)?;
    t.write32(
        GMBUS1::OFFSET,
        GMBUS1(0)
            .with(GMBUS1::GMBUS_SW_RDY, 1)
            .with(GMBUS1::GMBUS_CYCLE_MASK, 4)
            .0,
    )?;
    t.wait_for(GMBUS2::OFFSET, GMBUS2::GMBUS_ACTIVE.mask(), 0, POLLS)?;
    t.write32(GMBUS2::OFFSET, GMBUS2::GMBUS_INUSE.mask())?;
    t.write32(GMBUS0::OFFSET, 0)?;
    Ok(edid)
}

/// The preferred mode: the first detailed timing descriptor of an EDID block.
pub fn preferred_mode(edid: &[u8; EDID_SIZE]) -> Result<Mode> {
    if edid[..8] != [0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0] {
        return Err(Error::Probe("EDID header"));
    }
    if edid.iter().fold(0u8, |a, &b| a.wrapping_add(b)) != 0 {
        return Err(Error::Probe("EDID checksum"));
    }
    let d = &edid[54..72];
    let clock = u32::from(u16::from_le_bytes([d[0], d[1]])) * 10;
    if clock == 0 {
        return Err(Error::Probe("no detailed timing"));
    }
    let hi = |b: u8, shift: u32| u32::from((b >> shift) & 0xf) << 8;
    let hactive = u32::from(d[2]) | hi(d[4], 4);
    let hblank = u32::from(d[3]) | hi(d[4], 0);
    let vactive = u32::from(d[5]) | hi(d[7], 4);
    let vblank = u32::from(d[6]) | hi(d[7], 0);
    let hfp = u32::from(d[8]) | (u32::from(d[11] >> 6) << 8);
    let hsync = u32::from(d[9]) | (u32::from((d[11] >> 4) & 3) << 8);
    let vfp = u32::from(d[10] >> 4) | (u32::from((d[11] >> 2) & 3) << 4);
    let vsync = u32::from(d[10] & 0xf) | (u32::from(d[11] & 3) << 4);
    Ok(Mode {
        clock_khz: clock,
        hactive,
        hfp,
        hsync,
        hbp: hblank - hfp - hsync,
        vactive,
        vfp,
        vsync,
        vbp: vblank - vfp - vsync,
        hsync_positive: d[17] & 2 != 0,
        vsync_positive: d[17] & 4 != 0,
    })
}

/// What link training saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkTraining {
    /// The sink's receiver capabilities (DPCD 0x000-0x00e).
    pub caps: [u8; 15],
    /// Lane status (0x202-0x207) after pattern 1.
    pub after_cr: [u8; 6],
    /// Lane status after pattern 2.
    pub after_eq: [u8; 6],
    /// Sink status after training ended.
    pub sink_status: u8,
}

/// DP link training at the sink's maximum rate and lane count, as intel_dp_link_training does.
pub fn train_link<T: Transport + ?Sized>(t: &mut T, o: &Output) -> Result<LinkTraining> {
    let mut caps = [0u8; 15];
    dpcd_read(t, o, 0x000, &mut caps)?;
    if caps[0] < 0x11 {
        return Err(Error::Probe("DPCD revision"));
    }
    let lanes = caps[2] & 0x1f;
    dpcd_write(t, o, 0x100, &[caps[1], lanes | 0x80])?;
    let tp = o.reg(DP_TP_CTL::OFFSET);
    t.write32(tp, DP_TP_CTL(0).with(DP_TP_CTL::DP_TP_CTL_ENABLE, 1).0)?;
    // Pattern 1, scrambling off, lanes at swing/pre-emphasis 0.
    dpcd_write(t, o, 0x102, &[0x21, 0, 0, 0, 0])?;
    let mut after_cr = [0u8; 6];
    dpcd_read(t, o, 0x202, &mut after_cr)?;
    if after_cr[0] & 0x11 != 0x11 || (lanes > 2 && after_cr[1] & 0x11 != 0x11) {
        return Err(Error::Probe("clock recovery failed"));
    }
    t.write32(
        tp,
        DP_TP_CTL(0)
            .with(DP_TP_CTL::DP_TP_CTL_ENABLE, 1)
            .with(DP_TP_CTL::DP_TP_CTL_LINK_TRAIN_MASK, 1)
            .0,
    )?;
    dpcd_write(t, o, 0x102, &[0x22, 0, 0, 0, 0])?;
    let mut after_eq = [0u8; 6];
    dpcd_read(t, o, 0x202, &mut after_eq)?;
    if after_eq[0] != 0x77 || (lanes > 2 && after_eq[1] != 0x77) || after_eq[2] & 1 == 0 {
        return Err(Error::Probe("channel equalization failed"));
    }
    t.write32(
        tp,
        DP_TP_CTL(0)
            .with(DP_TP_CTL::DP_TP_CTL_ENABLE, 1)
            .with(DP_TP_CTL::DP_TP_CTL_LINK_TRAIN_MASK, 2)
            .0,
    )?;
    let idle = DP_TP_STATUS::DP_TP_STATUS_IDLE_DONE.mask();
    t.wait_for(o.reg(DP_TP_STATUS::OFFSET), idle, idle, POLLS)?;
    dpcd_write(t, o, 0x102, &[0])?;
    let mut sink = [0u8; 1];
    dpcd_read(t, o, 0x205, &mut sink)?;
    t.write32(
        tp,
        DP_TP_CTL(0)
            .with(DP_TP_CTL::DP_TP_CTL_ENABLE, 1)
            .with(DP_TP_CTL::DP_TP_CTL_LINK_TRAIN_MASK, 3)
            .0,
    )?;
    Ok(LinkTraining {
        caps,
        after_cr,
        after_eq,
        sink_status: sink[0],
    })
}

/// A framebuffer to show: graphics address (inside the vGPU's memory), stride in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Framebuffer {
    /// Graphics address of the first pixel.
    pub gm: u32,
    /// Bytes per line (a multiple of 64).
    pub stride: u32,
}

/// `skl_ddi_pll_enable` for a DP link of `port_clock` kHz on DPLL `id` (1-3): its DPLL_CTRL1
/// field (override, the link rate, no SSC, not HDMI), CFGCR1/2 zero (they are HDMI's), enable,
/// then 5 ms for DPLL_STATUS to report the lock ("DPLL %d not locked").
pub fn skl_dpll_enable<T: Transport + ?Sized>(t: &mut T, id: u32, port_clock: u32) -> Result {
    let rate = match port_clock {
        162_000 => DPLL_CTRL1_LINK_RATE_810,
        270_000 => DPLL_CTRL1_LINK_RATE_1350,
        540_000 => DPLL_CTRL1_LINK_RATE_2700,
        _ => return Err(Error::Probe("no DPLL link rate for the port clock")),
    };
    let ctl = *SKL_DPLL_CTL
        .get(id as usize)
        .filter(|_| id > 0)
        .ok_or(Error::Probe("not a DP DPLL"))?;
    let shift = dpll_ctrl1_shift(id);
    // HDMI mode (5), SSC (4) and link rate (3:1) are replaced; the override bit is set.
    t.rmw(
        DPLL_CTRL1::OFFSET,
        0x3e << shift,
        (DPLL_CTRL1_OVERRIDE | (rate << 1)) << shift,
    )?;
    let cfgcr1 = SKL_DPLL1_CFGCR1 + (id - 1) * 8;
    t.write32(cfgcr1, 0)?;
    t.write32(cfgcr1 + 4, 0)?;
    t.rmw(ctl, 0, LCPLL1_CTL::LCPLL_PLL_ENABLE.mask())?;
    let lock = 1 << (id * 8);
    t.wait_for(DPLL_STATUS::OFFSET, lock, lock, POLLS)
        .map_err(|_| Error::Probe("DPLL not locked"))?;
    Ok(())
}

/// `skl_ddi_pll_disable`: the enable bit off, nothing waited for.
pub fn skl_dpll_disable<T: Transport + ?Sized>(t: &mut T, id: u32) -> Result {
    let ctl = *SKL_DPLL_CTL
        .get(id as usize)
        .ok_or(Error::Probe("not a DPLL"))?;
    t.rmw(ctl, LCPLL1_CTL::LCPLL_PLL_ENABLE.mask(), 0)
}

/// `skl_ddi_enable_clock` (DPLL `Some(id)` clocks the monitor's DDI, selection overridden) or
/// `skl_ddi_disable_clock` (`None`: the DDI's clock gated), in DPLL_CTRL2.
pub fn skl_ddi_clock<T: Transport + ?Sized>(t: &mut T, o: &Output, dpll: Option<u32>) -> Result {
    let clk_off = 1 << (o.port + 15);
    match dpll {
        Some(id) => t.rmw(
            DPLL_CTRL2::OFFSET,
            clk_off | (3 << (o.port * 3 + 1)),
            (id << (o.port * 3 + 1)) | (1 << (o.port * 3)),
        ),
        None => t.rmw(DPLL_CTRL2::OFFSET, 0, clk_off),
    }
}

/// `intel_display_power_get` of the monitor's DDI IO domain on the big cores: the DDI's IO
/// well (`SKL_PW_CTL_IDX_DDI_A_E`, `_B`, `_C`, `_D`) requested, then its state awaited.
pub fn ddi_io_power_get<T: Transport + ?Sized>(t: &mut T, o: &Output) -> Result {
    let idx = match o.port {
        0 | 4 => 1,
        p => p + 1,
    };
    let (req, state) = (2 << (2 * idx), 1 << (2 * idx));
    t.rmw(HSW_PWR_WELL_CTL2::OFFSET, 0, req)?;
    t.wait_for(HSW_PWR_WELL_CTL2::OFFSET, state, state, POLLS)
        .map_err(|_| Error::Probe("DDI IO power well timeout"))?;
    Ok(())
}

/// The monitor's port PLL on Broxton.
fn bxt_pll(o: &Output) -> u32 {
    BXT_PORT_PLL_ENABLE::OFFSET + 4 * o.port
}

/// Turns pipe A and the monitor's DDI off as a modeset's first half does, then the DDI's clock:
/// Broxton's port PLL, or the big cores' DDI clock gate and DPLL.
pub fn disable_output<T: Transport + ?Sized>(t: &mut T, o: &Output) -> Result {
    t.write32(PLANE_CTL::OFFSET, 0)?;
    t.write32(PLANE_SURF::OFFSET, 0)?;
    t.write32(TRANSCONF::OFFSET, 0)?;
    t.wait_for(
        TRANSCONF::OFFSET,
        TRANSCONF::TRANSCONF_STATE_ENABLE.mask(),
        0,
        POLLS,
    )?;
    t.write32(TRANS_DDI_FUNC_CTL::OFFSET, 0)?;
    t.write32(o.reg(DDI_BUF_CTL::OFFSET), 0)?;
    let idle = DDI_BUF_CTL::DDI_BUF_IS_IDLE.mask();
    t.wait_for(o.reg(DDI_BUF_CTL::OFFSET), idle, idle, POLLS)?;
    t.write32(o.reg(DP_TP_CTL::OFFSET), 0)?;
    if o.lp() {
        t.write32(bxt_pll(o), 0)?;
        t.wait_for(
            bxt_pll(o),
            BXT_PORT_PLL_ENABLE::PORT_PLL_LOCK.mask(),
            0,
            POLLS,
        )?;
    } else {
        skl_ddi_clock(t, o, None)?;
        skl_dpll_disable(t, SKL_DP_DPLL)?;
    }
    Ok(())
}

/// A full modeset of `mode` on pipe A / transcoder A / the monitor's DDI, showing `fb` on
/// plane 1, at the sink's highest link rate.
pub fn modeset<T: Transport + ?Sized>(
    t: &mut T,
    o: &Output,
    mode: &Mode,
    fb: Framebuffer,
) -> Result<LinkTraining> {
    disable_output(t, o)?;
    if o.lp() {
        t.write32(bxt_pll(o), BXT_PORT_PLL_ENABLE::PORT_PLL_ENABLE.mask())?;
        let lock = BXT_PORT_PLL_ENABLE::PORT_PLL_LOCK.mask();
        t.wait_for(bxt_pll(o), lock, lock, POLLS)?;
    } else {
        // The rate comes from the caps read at detection (intel_dp_get_dpcd), before the PLL.
        let mut rate = [0u8; 1];
        dpcd_read(t, o, 0x001, &mut rate)?;
        skl_dpll_enable(t, SKL_DP_DPLL, u32::from(rate[0]) * 27_000)?;
        skl_ddi_clock(t, o, Some(SKL_DP_DPLL))?;
        ddi_io_power_get(t, o)?;
    }
    // DDI_BUF_CTL: enabled, 4 lanes (port width field 3:1).
    t.write32(
        o.reg(DDI_BUF_CTL::OFFSET),
        DDI_BUF_CTL::DDI_BUF_CTL_ENABLE.mask() | (3 << 1),
    )?;
    t.wait_for(
        o.reg(DDI_BUF_CTL::OFFSET),
        DDI_BUF_CTL::DDI_BUF_IS_IDLE.mask(),
        0,
        POLLS,
    )?;
    let link = train_link(t, o)?;
    let (h, v) = (mode.htotal(), mode.vtotal());
    let pair = |hi: u32, lo: u32| ((hi - 1) << 16) | (lo - 1);
    t.write32(TRANS_HTOTAL::OFFSET, pair(h, mode.hactive))?;
    t.write32(0x60004, pair(h, mode.hactive))?; // TRANS_HBLANK
    t.write32(
        0x60008,
        pair(
            mode.hactive + mode.hfp + mode.hsync,
            mode.hactive + mode.hfp,
        ),
    )?; // TRANS_HSYNC
    t.write32(TRANS_VTOTAL::OFFSET, pair(v, mode.vactive))?;
    t.write32(0x60010, pair(v, mode.vactive))?; // TRANS_VBLANK
    t.write32(
        0x60014,
        pair(
            mode.vactive + mode.vfp + mode.vsync,
            mode.vactive + mode.vfp,
        ),
    )?; // TRANS_VSYNC
    t.write32(0x6001c, pair(mode.hactive, mode.vactive))?; // PIPESRC
                                                           // Link M/N: pixel clock over the link symbol clock, N fixed at 0x80000.
    let ls_khz = u64::from(link.caps[1]) * 27_000;
    let n = 0x8_0000u64;
    // Checked: a sink reporting no link rate is an error, not a division by zero.
    let div = |x: u64, d: u64| x.checked_div(d).ok_or(Error::Probe("DPCD link rate 0"));
    let m = div(u64::from(mode.clock_khz) * n, ls_khz)?;
    let data_m = div(u64::from(mode.clock_khz) * 24 * n, ls_khz * 8 * 4)?;
    t.write32(PIPE_DATA_M1::OFFSET, (63 << 25) | data_m as u32)?;
    t.write32(PIPE_DATA_N1::OFFSET, n as u32)?;
    t.write32(PIPE_LINK_M1::OFFSET, m as u32)?;
    t.write32(PIPE_LINK_N1::OFFSET, n as u32)?;
    let func = TRANS_DDI_FUNC_CTL(0)
        .with(TRANS_DDI_FUNC_CTL::TRANS_DDI_FUNC_ENABLE, 1)
        .with(TRANS_DDI_FUNC_CTL::TRANS_DDI_PORT_MASK, o.port)
        .with(
            TRANS_DDI_FUNC_CTL::TRANS_DDI_MODE_SELECT_MASK,
            TRANS_DDI_MODE_SELECT_DP_SST,
        );
    t.write32(TRANS_DDI_FUNC_CTL::OFFSET, func.0 | (3 << 1))?;
    t.write32(TRANSCONF::OFFSET, TRANSCONF::TRANSCONF_ENABLE.mask())?;
    let on = TRANSCONF::TRANSCONF_STATE_ENABLE.mask();
    t.wait_for(TRANSCONF::OFFSET, on, on, POLLS)?;
    enable_interrupts(t, o)?;
    enable_primary(t, mode, fb)?;
    Ok(link)
}

/// Unmasks and enables pipe A's vblank and plane 1 flip done, the monitor's AUX done, and its
/// hotplug: in the DE port group with detection enabled in PCH_PORT_HOTPLUG on Broxton
/// (`bxt_hpd_irq_setup`), in the PCH's with SDEIER all ones on the big cores
/// (`ibx_irq_postinstall`, `spt_hpd_irq_setup`).
pub fn enable_interrupts<T: Transport + ?Sized>(t: &mut T, o: &Output) -> Result {
    let pipe = GEN8_PIPE_VBLANK | PLANE1_FLIP_DONE;
    t.write32(PIPE_A_IMR, !pipe)?;
    t.write32(PIPE_A_IER, pipe)?;
    t.write32(PIPE_A_IIR, u32::MAX)?;
    let (port, sde) = if o.lp() {
        (o.aux_done() | o.hpd_bit(), 0)
    } else {
        (o.aux_done(), o.hpd_bit())
    };
    t.write32(DE_PORT_IMR, !port)?;
    t.write32(DE_PORT_IER, port)?;
    t.write32(DE_PORT_IIR, u32::MAX)?;
    if !o.lp() {
        let isr = o.hpd_isr();
        t.write32(isr + 4, !sde)?;
        t.write32(isr + 0xc, u32::MAX)?;
        t.write32(o.hpd_iir(), u32::MAX)?;
    }
    let enable = [
        PCH_PORT_HOTPLUG::PORTA_HOTPLUG_ENABLE,
        PCH_PORT_HOTPLUG::PORTB_HOTPLUG_ENABLE,
        PCH_PORT_HOTPLUG::PORTC_HOTPLUG_ENABLE,
        PCH_PORT_HOTPLUG::PORTD_HOTPLUG_ENABLE,
    ];
    if let Some(f) = enable.get(o.port as usize) {
        // A read-modify-write, as i915's detection setup does.
        t.rmw(PCH_PORT_HOTPLUG::OFFSET, 0, f.mask())?;
    }
    Ok(())
}

/// Shows `fb` (XRGB8888, linear) on plane 1 of pipe A at full size.
pub fn enable_primary<T: Transport + ?Sized>(t: &mut T, mode: &Mode, fb: Framebuffer) -> Result {
    t.write32(PLANE_STRIDE::OFFSET, fb.stride / 64)?;
    t.write32(PLANE_POS::OFFSET, 0)?;
    t.write32(
        PLANE_SIZE::OFFSET,
        ((mode.vactive - 1) << 16) | (mode.hactive - 1),
    )?;
    t.write32(PLANE_OFFSET::OFFSET, 0)?;
    let ctl = PLANE_CTL(0)
        .with(PLANE_CTL::PLANE_CTL_ENABLE, 1)
        .with(PLANE_CTL::PLANE_CTL_FORMAT_MASK_SKL, 4);
    t.write32(PLANE_CTL::OFFSET, ctl.0)?;
    t.write32(PLANE_SURF::OFFSET, fb.gm)?;
    Ok(())
}

/// Flips plane 1 of pipe A to `gm`, synchronously (at the next vblank) or at once.
pub fn flip<T: Transport + ?Sized>(t: &mut T, gm: u32, async_flip: bool) -> Result {
    let ctl = PLANE_CTL(t.read32(PLANE_CTL::OFFSET)?)
        .with(PLANE_CTL::PLANE_CTL_ASYNC_FLIP, u32::from(async_flip));
    t.write32(PLANE_CTL::OFFSET, ctl.0)?;
    t.write32(PLANE_SURF::OFFSET, gm)
}

/// Waits (up to 100 ms) for pipe A's next vblank; returns the new frame count.
pub fn wait_vblank<T: Transport + Timer + ?Sized>(t: &mut T) -> Result<u32> {
    let start = t.read32(PIPE_FRMCOUNT_G4X::OFFSET)?;
    for _ in 0..100 {
        t.sleep_ns(1_000_000)?;
        let now = t.read32(PIPE_FRMCOUNT_G4X::OFFSET)?;
        if now != start {
            return Ok(now);
        }
    }
    Err(Error::Probe("no vblank"))
}
