//! The guest i915 probe on a GVT-g vGPU, step by step, as config and MMIO operations.

use gvt::model::pvinfo::{field, VGT_CAPS_FULL_PPGTT, VGT_CAPS_HWSP_EMULATION, VGT_MAGIC};
use gvt::model::regs::*;
use gvt::model::vgpu::{GEN8_PAGE_PRESENT, GGTT_MMIO_OFFSET};

use super::guest::{Error, Result, Transport, TransportExt};
use super::readout::{self, PipeState};

/// Where the guest's firmware places the BARs and the MSI doorbell.
pub const BAR0_GPA: u64 = 0xe000_0000;
/// Guest physical address of BAR2 (the aperture).
pub const BAR2_GPA: u64 = 0x1_0000_0000;
/// MSI address the guest programs.
pub const MSI_ADDR: u32 = 0xfee0_0000;
/// MSI data the guest programs.
pub const MSI_DATA: u16 = 0x4041;
/// Guest RAM where the probe puts pages it maps through the GGTT.
pub const GGTT_PAGES_GPA: u64 = 0x10_0000;
/// How many GGTT entries the probe programs.
pub const GGTT_PAGES: u64 = 16;

/// What the guest learned and set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeReport {
    /// BAR0 size found by sizing.
    pub bar0_size: u64,
    /// BAR2 size found by sizing.
    pub bar2_size: u64,
    /// vGPU id from PVINFO.
    pub vgt_id: u32,
    /// Mappable graphics memory (base, size) from PVINFO.
    pub mappable: (u32, u32),
    /// Non-mappable graphics memory (base, size) from PVINFO.
    pub nonmappable: (u32, u32),
    /// Fences from PVINFO.
    pub fences: u32,
    /// Pipe A as firmware left it, read back and checked as i915 does (`None`: off).
    pub display: Option<PipeState>,
}

fn bar_size<T: Transport + ?Sized>(t: &mut T, bar: u32) -> Result<u64> {
    let lo = t.cfg_read32(bar)?;
    let hi = t.cfg_read32(bar + 4)?;
    t.cfg_write32(bar, u32::MAX)?;
    t.cfg_write32(bar + 4, u32::MAX)?;
    let size_lo = t.cfg_read32(bar)? & !0xf;
    let size_hi = t.cfg_read32(bar + 4)?;
    t.cfg_write32(bar, lo)?;
    t.cfg_write32(bar + 4, hi)?;
    let mask = (u64::from(size_hi) << 32) | u64::from(size_lo);
    Ok((!mask).wrapping_add(1))
}

fn find_cap<T: Transport + ?Sized>(t: &mut T, id: u8) -> Result<u32> {
    let mut p = [0u8; 1];
    t.cfg_read(0x34, &mut p)?;
    let mut off = u32::from(p[0]);
    for _ in 0..48 {
        if off < 0x40 {
            break;
        }
        let mut c = [0u8; 2];
        t.cfg_read(off, &mut c)?;
        if c[0] == id {
            return Ok(off);
        }
        off = u32::from(c[1]);
    }
    Err(Error::Probe("capability missing"))
}

/// PCI enumeration: identity, BAR sizing and placement, MSI, decoding and bus mastering.
pub fn pci_setup<T: Transport + ?Sized>(t: &mut T) -> Result<(u64, u64)> {
    let id = t.cfg_read32(0)?;
    if id & 0xffff != 0x8086 {
        return Err(Error::Probe("not an Intel device"));
    }
    let class = t.cfg_read32(0x08)? >> 8;
    if class != 0x030000 {
        return Err(Error::Probe("not a VGA controller"));
    }
    let mut gmch = [0u8; 2];
    t.cfg_read(0x50, &mut gmch)?;
    if gmch[1] != 0 {
        return Err(Error::Probe("vGPU claims stolen memory"));
    }
    let bar0 = bar_size(t, 0x10)?;
    let bar2 = bar_size(t, 0x18)?;
    t.cfg_write32(0x10, (BAR0_GPA as u32) | 0x4)?;
    t.cfg_write32(0x14, (BAR0_GPA >> 32) as u32)?;
    t.cfg_write32(0x18, (BAR2_GPA as u32) | 0xc)?;
    t.cfg_write32(0x1c, (BAR2_GPA >> 32) as u32)?;
    let msi = find_cap(t, 0x05)?;
    find_cap(t, 0x01)?;
    t.cfg_write32(msi + 4, MSI_ADDR)?;
    t.cfg_write(msi + 8, &MSI_DATA.to_le_bytes())?;
    t.cfg_write(msi + 2, &1u16.to_le_bytes())?;
    t.cfg_write(0x04, &0x0006u16.to_le_bytes())?;
    Ok((bar0, bar2))
}

/// What PVINFO tells the guest: id, mappable and non-mappable (base, size), fences.
pub type PvInfo = (u32, (u32, u32), (u32, u32), u32);

/// `i915_detect_vgpu` and `intel_vgt_balloon`: check PVINFO, read the ranges.
pub fn pvinfo<T: Transport + ?Sized>(t: &mut T) -> Result<PvInfo> {
    if t.read64(field::MAGIC)? != VGT_MAGIC {
        return Err(Error::Probe("no PVINFO magic"));
    }
    let ver = t.read32(field::VERSION)?;
    if ver & 0xffff != 1 || ver >> 16 != 0 {
        return Err(Error::Probe("unsupported PVINFO version"));
    }
    let caps = t.read32(field::VGT_CAPS)?;
    if caps & VGT_CAPS_FULL_PPGTT == 0 || caps & VGT_CAPS_HWSP_EMULATION == 0 {
        return Err(Error::Probe("vGPU lacks full PPGTT or HWSP emulation (-ENXIO)"));
    }
    let id = t.read32(field::VGT_ID)?;
    let m = (t.read32(field::MAPPABLE_BASE)?, t.read32(field::MAPPABLE_SIZE)?);
    let n = (t.read32(field::NONMAPPABLE_BASE)?, t.read32(field::NONMAPPABLE_SIZE)?);
    let fences = t.read32(field::FENCE_NUM)?;
    if m.1 == 0 || n.1 == 0 || fences == 0 {
        return Err(Error::Probe("empty ballooning ranges"));
    }
    Ok((id, m, n, fences))
}

/// Forcewake get on the three Gen9 domains.
pub fn forcewake<T: Transport + ?Sized>(t: &mut T) -> Result {
    for (req, ack) in [
        (FORCEWAKE_RENDER_GEN9::OFFSET, FORCEWAKE_ACK_RENDER_GEN9::OFFSET),
        (FORCEWAKE_GT_GEN9::OFFSET, FORCEWAKE_ACK_GT_GEN9::OFFSET),
        (FORCEWAKE_MEDIA_GEN9::OFFSET, FORCEWAKE_ACK_MEDIA_GEN9::OFFSET),
    ] {
        t.write32(req, masked_bit_enable(1))?;
        t.wait_for(ack, 1, 1, 10)?;
    }
    Ok(())
}

/// `intel_gt_reset` on Gen9: ready-to-reset handshake per engine, GDRST full, wait for it to
/// clear, release the handshake.
pub fn gt_reset<T: Transport + ?Sized>(t: &mut T) -> Result {
    for e in Engine::ALL {
        let off = RING_RESET_CTL::offset(e.base());
        t.write32(off, masked_bit_enable(1))?;
        t.wait_for(off, 2, 2, 10)?;
    }
    t.write32(GEN6_GDRST::OFFSET, GEN6_GDRST::GRDOM_FULL.mask())?;
    t.wait_for(GEN6_GDRST::OFFSET, 1, 0, 10)?;
    for e in Engine::ALL {
        t.write32(RING_RESET_CTL::offset(e.base()), masked_bit_disable(1))?;
    }
    // Per-engine reset of the render engine, as hangcheck would do.
    t.write32(GEN6_GDRST::OFFSET, GEN6_GDRST::GRDOM_RENDER.mask())?;
    t.wait_for(GEN6_GDRST::OFFSET, 2, 0, 10)?;
    Ok(())
}

/// GuC status, PCODE mailbox and display power-up as i915's early init does them.
pub fn pm_and_display<T: Transport + ?Sized>(t: &mut T, bxt: bool) -> Result {
    let guc = t.read32(GUC_STATUS::OFFSET)?;
    if guc & 1 == 0 {
        return Err(Error::Probe("GuC not held in reset"));
    }
    t.write32(GEN6_PCODE_DATA::OFFSET, 0)?;
    t.write32(GEN6_PCODE_MAILBOX::OFFSET, (1 << 31) | 0x6)?;
    t.wait_for(GEN6_PCODE_MAILBOX::OFFSET, 1 << 31, 0, 10)?;
    if t.read32(GEN6_PCODE_MAILBOX::OFFSET)? & 0xff != 0 {
        return Err(Error::Probe("PCODE error"));
    }
    if t.read32(GEN6_PCODE_DATA::OFFSET)? == 0 {
        return Err(Error::Probe("no memory latency from PCODE"));
    }
    t.write32(HSW_PWR_WELL_CTL2::OFFSET, (1 << 31) | (1 << 29))?;
    t.wait_for(HSW_PWR_WELL_CTL2::OFFSET, (1 << 30) | (1 << 28), (1 << 30) | (1 << 28), 10)?;
    t.write32(DBUF_CTL_S0::OFFSET, 1 << 31)?;
    t.wait_for(DBUF_CTL_S0::OFFSET, 1 << 30, 1 << 30, 10)?;
    if bxt {
        t.write32(BXT_P_CR_GT_DISP_PWRON::OFFSET, 1)?;
        t.wait_for(BXT_PORT_CL1CM_DW0_BC::OFFSET, 1 << 16, 1 << 16, 10)?;
        t.write32(PHY_CTL_FAMILY_DDI::OFFSET, 1 << 31)?;
        t.wait_for(BXT_PHY_CTL_DDI_B::OFFSET, 1 << 8, 1 << 8, 10)?;
        t.write32(BXT_DE_PLL_ENABLE::OFFSET, 1 << 31)?;
        t.wait_for(BXT_DE_PLL_ENABLE::OFFSET, 1 << 30, 1 << 30, 10)?;
        t.write32(BXT_PORT_PLL_ENABLE_A::OFFSET, 1 << 31)?;
        t.wait_for(BXT_PORT_PLL_ENABLE_A::OFFSET, 1 << 30, 1 << 30, 10)?;
    }
    Ok(())
}

/// `gen8_gt_irq_postinstall` and friends: unmask and enable the user interrupt of the render
/// engine and display vblank, then the master.
pub fn irq_setup<T: Transport + ?Sized>(t: &mut T) -> Result {
    t.write32(GEN8_MASTER_IRQ::OFFSET, 0)?;
    for base in [0x44300u32, 0x44310, 0x44330, 0x44400] {
        t.write32(base + 0x4, !1)?; // IMR
        t.write32(base + 0xc, 1)?; // IER
        t.write32(base + 0x8, u32::MAX)?; // IIR: clear stale bits
    }
    t.write32(GEN8_MASTER_IRQ::OFFSET, 1 << 31)?;
    Ok(())
}

/// GGTT setup inside the vGPU's own mappable range: scratch-out then map guest pages, with
/// 8-byte writes and split 4+4 ones, then one flush; fence 0 over the first 1 MiB.
pub fn ggtt_setup<T: Transport + ?Sized>(t: &mut T, mappable: (u32, u32)) -> Result {
    let first = u64::from(mappable.0) / 4096;
    for i in 0..GGTT_PAGES {
        let pte = (GGTT_PAGES_GPA + i * 4096) | GEN8_PAGE_PRESENT;
        let off = GGTT_MMIO_OFFSET + (first + i) * 8;
        if i % 2 == 0 {
            t.mmio_write(off, &pte.to_le_bytes())?;
        } else {
            t.mmio_write(off, &(pte as u32).to_le_bytes())?;
            t.mmio_write(off + 4, &((pte >> 32) as u32).to_le_bytes())?;
        }
        let mut back = [0u8; 8];
        t.mmio_read(off, &mut back)?;
        if u64::from_le_bytes(back) != pte {
            return Err(Error::Probe("GGTT entry did not read back"));
        }
    }
    t.write32(GFX_FLSH_CNTL_GEN6::OFFSET, 1)?;
    let start = mappable.0;
    let end = start + (1 << 20) - 4096;
    t.write32(FENCE_REG_GEN6_LO::OFFSET, 0)?;
    t.write32(FENCE_REG_GEN6_LO::OFFSET + 4, end)?;
    t.write32(FENCE_REG_GEN6_LO::OFFSET, start | 1)?;
    Ok(())
}

/// The whole probe.
pub fn probe<T: Transport + ?Sized>(t: &mut T, bxt: bool) -> Result<ProbeReport> {
    let (bar0_size, bar2_size) = pci_setup(t)?;
    let (vgt_id, mappable, nonmappable, fences) = pvinfo(t)?;
    forcewake(t)?;
    gt_reset(t)?;
    pm_and_display(t, bxt)?;
    irq_setup(t)?;
    ggtt_setup(t, mappable)?;
    // intel_modeset_setup_hw_state, once interrupts are up.
    let display = readout::initial_state(t, bxt)?;
    t.write32(field::DISPLAY_READY, 1)?;
    Ok(ProbeReport { bar0_size, bar2_size, vgt_id, mappable, nonmappable, fences, display })
}
