//! The guest i915 probe on a GVT-g vGPU, step by step, as config and MMIO operations.

use gvt::model::pvinfo::{field, VGT_CAPS_FULL_PPGTT, VGT_CAPS_HWSP_EMULATION, VGT_MAGIC};
use gvt::model::regs::*;
use gvt::model::vgpu::{GEN8_PAGE_PRESENT, GGTT_MMIO_OFFSET};

use super::guest::{Error, Result, Transport, TransportExt};
use super::modeset::Output;
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
    /// The monitor's output, as connector detection found it.
    pub output: Output,
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

/// `gen8_gmch_probe`: the GGTT's size in bytes of graphics memory, from GMCH's GGMS field
/// (bits 7:6, `1 << GGMS` MiB of 8-byte PTEs; 0 means none), as `gen8_get_total_gtt_size`
/// decodes it.
pub fn ggtt_total<T: Transport + ?Sized>(t: &mut T) -> Result<u64> {
    let mut gmch = [0u8; 2];
    t.cfg_read(0x50, &mut gmch)?;
    let ggms = (u16::from_le_bytes(gmch) >> 6) & 3;
    let pte_bytes = if ggms == 0 { 0 } else { (1u64 << ggms) << 20 };
    Ok(pte_bytes / 8 * 4096)
}

/// `i915_detect_vgpu` and `intel_vgt_balloon`: check PVINFO, read the ranges, and refuse them
/// ("Invalid ballooning configuration!", -EINVAL) unless the mappable range ends inside the
/// aperture and the non-mappable one lies between the aperture's end and the GGTT's.
pub fn pvinfo<T: Transport + ?Sized>(t: &mut T, aperture: u64, ggtt_total: u64) -> Result<PvInfo> {
    if t.read64(field::MAGIC)? != VGT_MAGIC {
        return Err(Error::Probe("no PVINFO magic"));
    }
    let ver = t.read32(field::VERSION)?;
    if ver & 0xffff != 1 || ver >> 16 != 0 {
        return Err(Error::Probe("unsupported PVINFO version"));
    }
    let caps = t.read32(field::VGT_CAPS)?;
    if caps & VGT_CAPS_FULL_PPGTT == 0 || caps & VGT_CAPS_HWSP_EMULATION == 0 {
        return Err(Error::Probe(
            "vGPU lacks full PPGTT or HWSP emulation (-ENXIO)",
        ));
    }
    let id = t.read32(field::VGT_ID)?;
    let m = (
        t.read32(field::MAPPABLE_BASE)?,
        t.read32(field::MAPPABLE_SIZE)?,
    );
    let n = (
        t.read32(field::NONMAPPABLE_BASE)?,
        t.read32(field::NONMAPPABLE_SIZE)?,
    );
    let fences = t.read32(field::FENCE_NUM)?;
    if m.1 == 0 || n.1 == 0 || fences == 0 {
        return Err(Error::Probe("empty ballooning ranges"));
    }
    let end = |r: (u32, u32)| u64::from(r.0) + u64::from(r.1);
    if end(m) > aperture || u64::from(n.0) < aperture || end(n) > ggtt_total {
        return Err(Error::Probe("Invalid ballooning configuration! (-EINVAL)"));
    }
    Ok((id, m, n, fences))
}

/// Forcewake get on the three Gen9 domains.
pub fn forcewake<T: Transport + ?Sized>(t: &mut T) -> Result {
    for (req, ack) in [
        (
            FORCEWAKE_RENDER_GEN9::OFFSET,
            FORCEWAKE_ACK_RENDER_GEN9::OFFSET,
        ),
        (FORCEWAKE_GT_GEN9::OFFSET, FORCEWAKE_ACK_GT_GEN9::OFFSET),
        (
            FORCEWAKE_MEDIA_GEN9::OFFSET,
            FORCEWAKE_ACK_MEDIA_GEN9::OFFSET,
        ),
    ] {
        t.write32(req, masked_bit_enable(1))?;
        t.wait_for(ack, 1, 1, 10)?;
    }
    Ok(())
}

/// Poll budgets of i915's reset path, as register reads: a trapped MMIO read takes at least a
/// microsecond, so a budget of N us is at most N polls (fewer on real hardware, never more).
pub mod budget {
    /// `gen8_engine_reset_prepare`: RESET_CTL_READY_TO_RESET within 700 us.
    pub const READY_TO_RESET: u32 = 700;
    /// `gen6_hw_domain_reset`: GDRST bits clear within 2000 us (engines, full GT, GuC).
    pub const GDRST: u32 = 2000;
    /// `intel_engine_stop_cs`: MODE_IDLE within 1000 us before the 100 ms slow wait.
    pub const STOP_CS_FAST: u32 = 1000;
    /// `__intel_gt_reset`: attempts of a full reset that timed out (RESET_MAX_RETRIES).
    pub const FULL_RESET_TRIES: u32 = 3;
}

/// The GDRST domain of an engine (`engine->reset_domain` on Gen9).
pub fn reset_domain(e: Engine) -> u32 {
    match e {
        Engine::Rcs => GEN6_GDRST::GRDOM_RENDER.mask(),
        Engine::Vcs => GEN6_GDRST::GRDOM_MEDIA.mask(),
        Engine::Bcs => GEN6_GDRST::GRDOM_BLT.mask(),
        Engine::Vecs => GEN6_GDRST::GRDOM_VECS.mask(),
    }
}

/// `gen8_engine_reset_prepare`: unless the engine already is, ask it to get ready for reset
/// and wait 700 us for it (a catastrophic error instead is acknowledged and must clear).
pub fn engine_reset_prepare<T: Transport + ?Sized>(t: &mut T, e: Engine) -> Result {
    let reg = RING_RESET_CTL::offset(e.base());
    let ack = RING_RESET_CTL(t.read32(reg)?);
    let (request, mask, want) = if ack.is_set(RING_RESET_CTL::RESET_CTL_CAT_ERROR) {
        let cat = RING_RESET_CTL::RESET_CTL_CAT_ERROR.mask();
        (cat, cat, 0)
    } else if !ack.is_set(RING_RESET_CTL::RESET_CTL_READY_TO_RESET) {
        let ready = RING_RESET_CTL::RESET_CTL_READY_TO_RESET.mask();
        (RING_RESET_CTL::RESET_CTL_REQUEST_RESET.mask(), ready, ready)
    } else {
        return Ok(());
    };
    t.write32(reg, masked_bit_enable(request))?;
    t.wait_for(reg, mask, want, budget::READY_TO_RESET)
        .map(|_| ())
        .map_err(|_| Error::Probe("reset request timed out"))
}

/// `gen8_engine_reset_cancel`.
pub fn engine_reset_cancel<T: Transport + ?Sized>(t: &mut T, e: Engine) -> Result {
    t.write32(
        RING_RESET_CTL::offset(e.base()),
        masked_bit_disable(RING_RESET_CTL::RESET_CTL_REQUEST_RESET.mask()),
    )
}

/// `gen6_hw_domain_reset`: write the domains to GDRST and wait for the device to clear them,
/// twice before Gen12.70 (the second serialises with the first).
pub fn hw_domain_reset<T: Transport + ?Sized>(t: &mut T, domains: u32) -> Result {
    for _ in 0..2 {
        t.write32(GEN6_GDRST::OFFSET, domains)?;
        t.wait_for(GEN6_GDRST::OFFSET, domains, 0, budget::GDRST)
            .map_err(|_| Error::Probe("Wait for engines reset failed"))?;
    }
    Ok(())
}

/// `gen8_reset_engines` for the engines in `mask` (all of them: a full GT reset): the ready
/// handshake on each (a failed one skips the reset on the first try), the GDRST domains, and
/// the handshake released on each whatever happened.
pub fn reset_engines<T: Transport + ?Sized>(t: &mut T, mask: u8, retry: u32) -> Result {
    let mut ret = Ok(());
    let mut skip = false;
    let mut domains = 0;
    for e in Engine::ALL.into_iter().filter(|e| e.mask() & mask != 0) {
        ret = engine_reset_prepare(t, e);
        if ret.is_err() && retry == 0 {
            skip = true;
            break;
        }
        domains |= reset_domain(e);
    }
    if !skip {
        let all = Engine::ALL.into_iter().all(|e| e.mask() & mask != 0);
        ret = hw_domain_reset(
            t,
            if all {
                GEN6_GDRST::GRDOM_FULL.mask()
            } else {
                domains
            },
        );
    }
    for e in Engine::ALL.into_iter().filter(|e| e.mask() & mask != 0) {
        engine_reset_cancel(t, e)?;
    }
    ret
}

/// `__intel_gt_reset`: a full reset is tried up to three times while it times out, an engine
/// reset once.
pub fn intel_gt_reset<T: Transport + ?Sized>(t: &mut T, mask: u8) -> Result {
    let all = Engine::ALL.into_iter().all(|e| e.mask() & mask != 0);
    let tries = if all { budget::FULL_RESET_TRIES } else { 1 };
    let mut ret = Err(Error::Probe("no reset attempted"));
    for retry in 0..tries {
        ret = reset_engines(t, mask, retry);
        if ret.is_ok() {
            break;
        }
    }
    ret
}

/// The mask of every Gen9 engine (`ALL_ENGINES`).
pub fn all_engines() -> u8 {
    Engine::ALL.into_iter().fold(0, |m, e| m | e.mask())
}

/// `intel_reset_guc` and the check after it in `__intel_uc_reset_hw`: the GuC domain reset
/// (its GDRST bit self-clears, GuC submission or not), then the GuC core held in reset.
pub fn reset_guc<T: Transport + ?Sized>(t: &mut T) -> Result {
    hw_domain_reset(t, GEN6_GDRST::GRDOM_GUC.mask())
        .map_err(|_| Error::Probe("Failed to reset GuC, ret = -110"))?;
    if !GUC_STATUS(t.read32(GUC_STATUS::OFFSET)?).is_set(GUC_STATUS::GS_MIA_IN_RESET) {
        return Err(Error::Probe("GuC status: MIA core expected to be in reset"));
    }
    Ok(())
}

/// `intel_engine_reset` with execlists: stop the command streamer (`execlists_reset_prepare`),
/// reset the engine alone, let the ring run again (`enable_execlists` at resume).
pub fn engine_reset<T: Transport + ?Sized>(t: &mut T, e: Engine) -> Result {
    stop_cs(t, e)?;
    intel_gt_reset(t, e.mask())?;
    t.write32(
        RING_MI_MODE::offset(e.base()),
        masked_bit_disable(RING_MI_MODE::STOP_RING.mask()),
    )
}

/// `intel_gt_reset` on Gen9 as i915 does it at probe (`intel_gt_sanitize`, `__uc_sanitize`)
/// and at hang recovery: the full reset with every engine's handshake, the GuC reset, then a
/// per-engine reset of the render engine, as hangcheck would do.
pub fn gt_reset<T: Transport + ?Sized>(t: &mut T) -> Result {
    intel_gt_reset(t, all_engines())?;
    reset_guc(t)?;
    engine_reset(t, Engine::Rcs)
}

/// `intel_engine_stop_cs`: ask the ring to stop and wait for MODE_IDLE. An idle engine reports
/// idle at once; without it i915 waits out `stop_timeout_ms` (100 ms) per engine on every
/// reset (and fails it when HEAD and TAIL differ).
pub fn stop_cs<T: Transport + ?Sized>(t: &mut T, e: Engine) -> Result {
    let mode = RING_MI_MODE::offset(e.base());
    let idle = RING_MI_MODE::MODE_IDLE.mask();
    t.write32(mode, masked_bit_enable(RING_MI_MODE::STOP_RING.mask()))?;
    t.wait_for(mode, idle, idle, budget::STOP_CS_FAST)
        .map_err(|_| Error::Probe("timed out on STOP_RING -> IDLE"))?;
    Ok(())
}

/// `intel_engine_stop_cs` on every engine (reset prepare, `intel_gt_sanitize` at probe), then
/// `intel_engine_cancel_stop_cs`.
pub fn stop_engines<T: Transport + ?Sized>(t: &mut T) -> Result {
    for e in Engine::ALL {
        stop_cs(t, e)?;
        t.write32(
            RING_MI_MODE::offset(e.base()),
            masked_bit_disable(RING_MI_MODE::STOP_RING.mask()),
        )?;
    }
    Ok(())
}

/// PCODE mailbox and display power-up as i915's early init does them (the GuC status is
/// checked where i915 checks it, after its reset: [`reset_guc`]; the read clears the bit).
/// Power wells are requested by read-modify-write, leaving the others' requests alone: PW1
/// and PW2, and on the big cores MISC IO (`skl_display_core_init`).
pub fn pm_and_display<T: Transport + ?Sized>(t: &mut T, bxt: bool) -> Result {
    t.write32(GEN6_PCODE_DATA::OFFSET, 0)?;
    t.write32(GEN6_PCODE_MAILBOX::OFFSET, (1 << 31) | 0x6)?;
    t.wait_for(GEN6_PCODE_MAILBOX::OFFSET, 1 << 31, 0, 10)?;
    if t.read32(GEN6_PCODE_MAILBOX::OFFSET)? & 0xff != 0 {
        return Err(Error::Probe("PCODE error"));
    }
    if t.read32(GEN6_PCODE_DATA::OFFSET)? == 0 {
        return Err(Error::Probe("no memory latency from PCODE"));
    }
    // SKL_PW_CTL_IDX_PW_2 and _PW_1, and _MISC_IO: request bit 2 * index + 1, state below it.
    let requests = (1 << 31) | (1 << 29) | if bxt { 0 } else { 1 << 1 };
    t.rmw(HSW_PWR_WELL_CTL2::OFFSET, 0, requests)?;
    t.wait_for(HSW_PWR_WELL_CTL2::OFFSET, requests >> 1, requests >> 1, 10)?;
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

/// What `bxt_get_dram_info` decodes from the D-unit's rank population registers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DramInfo {
    /// Channels that are not all ones.
    pub channels: u32,
    /// The DRAM type field (2 = LPDDR4).
    pub kind: u32,
    /// Memory over all channels, in Gbit.
    pub total_gbit: u32,
}

/// `intel_dram_detect` on Broxton (`bxt_get_dram_info`): every decode that is not a known
/// case is a `MISSING_CASE` WARN in i915, and no rank or type leaves the driver without DRAM
/// information (wrong watermarks).
pub fn dram_info<T: Transport + ?Sized>(t: &mut T) -> Result<DramInfo> {
    use gvt::model::regs::BXT_D_CR_DRP0_DUNIT8 as D;
    let mut info = DramInfo {
        channels: 0,
        kind: u32::MAX,
        total_gbit: 0,
    };
    let mut valid_ranks = 0;
    for ch in 0..4u32 {
        let v = t.read32(D::OFFSET + ch * 0x200)?;
        if v == u32::MAX {
            continue;
        }
        info.channels = info.channels.saturating_add(1);
        let density = match D(v).get(D::BXT_DRAM_SIZE) {
            0 => 4,
            1 => 6,
            2 => 8,
            3 => 12,
            4 => 16,
            _ => return Err(Error::Probe("DRAM density: MISSING_CASE WARN")),
        };
        let ranks = match D(v).get(D::BXT_DRAM_RANK) {
            1 => 1,
            3 => 2,
            _ => return Err(Error::Probe("DRAM ranks: MISSING_CASE WARN")),
        };
        let kind = D(v).get(D::BXT_DRAM_TYPE);
        if !matches!(kind, 0 | 1 | 2 | 4) {
            return Err(Error::Probe("DRAM type: MISSING_CASE WARN"));
        }
        if info.kind != u32::MAX && info.kind != kind {
            return Err(Error::Probe("DRAM types differ between channels (WARN)"));
        }
        info.kind = kind;
        let width = 8 << D(v).get(D::BXT_DRAM_WIDTH);
        // Devices per channel: ranks * 64 / width (intel_dimm_num_devices).
        info.total_gbit = info.total_gbit.saturating_add(density * ranks * 64 / width);
        if valid_ranks == 0 {
            valid_ranks = ranks;
        }
    }
    if info.kind == u32::MAX || valid_ranks == 0 {
        return Err(Error::Probe("couldn't get memory information"));
    }
    Ok(info)
}

/// `intel_dram_detect` on the big cores (`skl_get_dram_info`): a DIMM width i915 does not know
/// is a `MISSING_CASE` WARN; no populated channel leaves the driver without DRAM information
/// ("Number of memory channels is zero"); channels that differ are not an error, but lose
/// i915's symmetric-memory features, so a vGPU that models one desktop reports them equal.
pub fn skl_dram_info<T: Transport + ?Sized>(t: &mut T) -> Result<DramInfo> {
    use gvt::model::regs::SKL_MAD_DIMM_CH0_0_0_0_MCHBAR_MCMAIN as Dimm;
    let kind = SKL_MAD_INTER_CHANNEL_0_0_0_MCHBAR_MCMAIN(
        t.read32(SKL_MAD_INTER_CHANNEL_0_0_0_MCHBAR_MCMAIN::OFFSET)?,
    )
    .get(SKL_MAD_INTER_CHANNEL_0_0_0_MCHBAR_MCMAIN::SKL_DRAM_DDR_TYPE);
    let mut info = DramInfo {
        channels: 0,
        kind,
        total_gbit: 0,
    };
    let ch0 = t.read32(Dimm::OFFSET)?;
    let ch1 = t.read32(SKL_MAD_DIMM_CH1_0_0_0_MCHBAR_MCMAIN::OFFSET)?;
    for ch in [ch0, ch1] {
        let mut populated = false;
        for dimm in [Dimm(ch & 0xffff), Dimm(ch >> 16)] {
            let gb = dimm.get(Dimm::SKL_DRAM_SIZE);
            if gb == 0 {
                continue;
            }
            if dimm.get(Dimm::SKL_DRAM_WIDTH) == 3 {
                return Err(Error::Probe("DIMM width: MISSING_CASE WARN"));
            }
            populated = true;
            info.total_gbit = info.total_gbit.saturating_add(gb * 8);
        }
        info.channels += u32::from(populated);
    }
    if info.channels == 0 {
        return Err(Error::Probe("Number of memory channels is zero"));
    }
    if ch0 != ch1 {
        return Err(Error::Probe("memory channels differ: not symmetric"));
    }
    Ok(info)
}

/// `skl_sagv_disable` from `intel_sagv_init`: PCODE must report SAGV disabled (bit 0 of the
/// reply), or i915 logs "Failed to disable SAGV" and then WARNs.
pub fn sagv_disable<T: Transport + ?Sized>(t: &mut T) -> Result {
    t.write32(GEN6_PCODE_DATA::OFFSET, 0)?;
    t.write32(GEN6_PCODE_MAILBOX::OFFSET, (1 << 31) | 0x21)?;
    t.wait_for(GEN6_PCODE_MAILBOX::OFFSET, 1 << 31, 0, 10)?;
    if t.read32(GEN6_PCODE_MAILBOX::OFFSET)? & 0xff != 0
        || t.read32(GEN6_PCODE_DATA::OFFSET)? & 1 == 0
    {
        return Err(Error::Probe("Failed to disable SAGV"));
    }
    Ok(())
}

/// The slice/subslice/EU configuration `gen9_sseu_info_init` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sseu {
    /// Enabled slices.
    pub slice_mask: u32,
    /// Enabled subslices of slice 0.
    pub subslice_mask: u32,
    /// Enabled EUs in all.
    pub eu_total: u32,
}

/// `gen9_sseu_info_init` (at most 3 subslices of 8 EUs on Broxton, 4 on the big cores, 1 slice
/// on a GT2): without a slice, `intel_sseu_get_hsw_subslices` WARNs (the MCR workaround asks
/// for slice -1); without a subslice or an EU the GT cannot run anything.
pub fn sseu<T: Transport + ?Sized>(t: &mut T, lp: bool) -> Result<Sseu> {
    let fuse2 = GEN8_FUSE2(t.read32(GEN8_FUSE2::OFFSET)?);
    let slice_mask = fuse2.get(GEN8_FUSE2::GEN8_F2_S_ENA);
    if slice_mask & 1 == 0 {
        return Err(Error::Probe(
            "no slice 0: intel_sseu_get_hsw_subslices WARN",
        ));
    }
    let max_subslices = if lp { 3 } else { 4 };
    let subslice_mask = ((1 << max_subslices) - 1) & !fuse2.get(GEN8_FUSE2::GEN9_F2_SS_DIS);
    if subslice_mask == 0 {
        return Err(Error::Probe("no subslice enabled"));
    }
    let eu_disable = t.read32(GEN9_EU_DISABLE0::OFFSET)?;
    let eu_total = (0..max_subslices)
        .filter(|ss| subslice_mask & (1 << ss) != 0)
        .map(|ss| 8u32.saturating_sub(((eu_disable >> (ss * 8)) & 0xff).count_ones()))
        .sum();
    if eu_total == 0 {
        return Err(Error::Probe("no EU enabled"));
    }
    Ok(Sseu {
        slice_mask,
        subslice_mask,
        eu_total,
    })
}

/// `bxt_dpio_phy_init(PHY0)` while PHY1 is off: power PHY1 (it owns the RCOMP resistor),
/// power PHY0, wait for PHY1's GRC calibration, copy its code into PHY0 (GRC_DIS), take PHY0
/// out of reset, power PHY1 down again; then `bxt_dpio_phy_verify_state(PHY0)`. The GRC code
/// read, or the timeout i915 logs ("timeout waiting for PHY1 GRC").
pub fn display_phy<T: Transport + ?Sized>(t: &mut T) -> Result<u32> {
    type Dw0 = BXT_PORT_CL1CM_DW0_BC;
    type Dw28 = BXT_PORT_CL1CM_DW28_BC;
    type Dw8 = BXT_PORT_REF_DW8_BC;
    use gvt::model::regs::BXT_PORT_REF_DW6_A as Dw6;
    const PHY1: u32 = BXT_PORT_CL1CM_DW0_A::OFFSET - BXT_PORT_CL1CM_DW0_BC::OFFSET;
    let good = Dw0::PHY_POWER_GOOD.mask();
    let settled = good | Dw0::PHY_RESERVED.mask();
    let rmw = |t: &mut T, off: u32, clr: u32, set: u32| -> Result {
        let v = t.read32(off)?;
        t.write32(off, (v & !clr) | set)
    };
    let pwron = BXT_P_CR_GT_DISP_PWRON::OFFSET;
    let reset_dis = PHY_CTL_FAMILY_DDI::COMMON_RESET_DIS.mask();
    let dw28 = Dw28::OCL1_POWER_DOWN_EN.mask()
        | Dw28::DW28_OLDO_DYN_PWR_DOWN_EN.mask()
        | Dw28::SUS_CLK_CONFIG.mask();
    let iref = BXT_PORT_CL1CM_DW9_BC::IREF0RC_OFFSET;
    let common = |t: &mut T, base: u32| -> Result {
        rmw(
            t,
            BXT_PORT_CL1CM_DW9_BC::OFFSET + base,
            iref.mask(),
            iref.set(0, 0xe4),
        )?;
        rmw(
            t,
            BXT_PORT_CL1CM_DW10_BC::OFFSET + base,
            iref.mask(),
            iref.set(0, 0xe4),
        )?;
        rmw(t, Dw28::OFFSET + base, 0, dw28)
    };
    // PHY1 first: it has its own RCOMP, so nothing to wait for but power.
    rmw(t, pwron, 0, BXT_P_CR_GT_DISP_PWRON::PHY1.mask())?;
    t.wait_for(Dw0::OFFSET + PHY1, settled, good, 10)
        .map_err(|_| Error::Probe("timeout during PHY1 power on"))?;
    common(t, PHY1)?;
    rmw(t, PHY_CTL_FAMILY_EDP::OFFSET, 0, reset_dis)?;
    // PHY0.
    rmw(t, pwron, 0, BXT_P_CR_GT_DISP_PWRON::PHY0.mask())?;
    t.wait_for(Dw0::OFFSET, settled, good, 10)
        .map_err(|_| Error::Probe("timeout during PHY0 power on"))?;
    common(t, 0)?;
    rmw(
        t,
        BXT_PORT_CL2CM_DW6_BC::OFFSET,
        0,
        BXT_PORT_CL2CM_DW6_BC::DW6_OLDO_DYN_PWR_DOWN_EN.mask(),
    )?;
    let done = BXT_PORT_REF_DW3_A::GRC_DONE.mask();
    t.wait_for(BXT_PORT_REF_DW3_A::OFFSET, done, done, 10)
        .map_err(|_| Error::Probe("timeout waiting for PHY1 GRC"))?;
    let grc = Dw6(t.read32(Dw6::OFFSET)?).get(Dw6::GRC_CODE);
    let code = Dw6::GRC_CODE_FAST.set(0, grc)
        | Dw6::GRC_CODE_SLOW.set(0, grc)
        | Dw6::GRC_CODE_NOM.set(0, grc);
    t.write32(BXT_PORT_REF_DW6_BC::OFFSET, code)?;
    let grc_dis = Dw8::GRC_DIS.mask() | Dw8::GRC_RDY_OVRD.mask();
    rmw(t, Dw8::OFFSET, 0, grc_dis)?;
    rmw(t, PHY_CTL_FAMILY_DDI::OFFSET, 0, reset_dis)?;
    // bxt_dpio_phy_uninit(PHY1).
    rmw(t, PHY_CTL_FAMILY_EDP::OFFSET, reset_dis, 0)?;
    rmw(t, pwron, BXT_P_CR_GT_DISP_PWRON::PHY1.mask(), 0)?;
    // bxt_dpio_phy_is_enabled(PHY0) and bxt_dpio_phy_verify_state(PHY0).
    let enabled = t.read32(pwron)? & BXT_P_CR_GT_DISP_PWRON::PHY0.mask() != 0
        && t.read32(Dw0::OFFSET)? & settled == good
        && t.read32(PHY_CTL_FAMILY_DDI::OFFSET)? & reset_dis != 0;
    let checks = [
        (
            BXT_PORT_CL1CM_DW9_BC::OFFSET,
            iref.mask(),
            iref.set(0, 0xe4),
        ),
        (
            BXT_PORT_CL1CM_DW10_BC::OFFSET,
            iref.mask(),
            iref.set(0, 0xe4),
        ),
        (Dw28::OFFSET, dw28, dw28),
        (
            BXT_PORT_CL2CM_DW6_BC::OFFSET,
            BXT_PORT_CL2CM_DW6_BC::DW6_OLDO_DYN_PWR_DOWN_EN.mask(),
            BXT_PORT_CL2CM_DW6_BC::DW6_OLDO_DYN_PWR_DOWN_EN.mask(),
        ),
        (BXT_PORT_REF_DW6_BC::OFFSET, 0x00ff_ffff, code),
        (Dw8::OFFSET, grc_dis, grc_dis),
    ];
    let mut ok = enabled;
    for (off, mask, want) in checks {
        ok &= t.read32(off)? & mask == want;
    }
    if !ok {
        return Err(Error::Probe("DDI PHY 0 state mismatch after init"));
    }
    Ok(grc)
}

/// `enable_error_interrupt` and the CS error handler: RING_EIR is write-1-to-clear, so after
/// the driver writes back what it read (or ~0 at resume) the engine reports no error. A RAM
/// register would keep ~0 and every later read would look like a CS error.
pub fn engine_errors<T: Transport + ?Sized>(t: &mut T) -> Result {
    for e in Engine::ALL {
        t.write32(RING_EMR::offset(e.base()), !0)?;
        t.write32(RING_EIR::offset(e.base()), !0)?;
        if t.read32(RING_EIR::offset(e.base()))? != 0 {
            return Err(Error::Probe(
                "RING_EIR kept written bits: errors never clear",
            ));
        }
    }
    // intel_gt_clear_error_registers: writing 0 leaves EIR alone (nothing to clear).
    t.write32(RING_EIR::offset(RENDER_RING_BASE), 0)?;
    if t.read32(RING_EIR::offset(RENDER_RING_BASE))? != 0 {
        return Err(Error::Probe("EIR stuck"));
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

/// The whole probe, as i915 runs it for the platform its device id names.
pub fn probe<T: Transport + ?Sized>(t: &mut T) -> Result<ProbeReport> {
    let device = (t.cfg_read32(0)? >> 16) as u16;
    let platform = gvt::model::hw::Platform::from_device_id(device)
        .ok_or(Error::Probe("not a Gen9 device id"))?;
    let bxt = platform.hw().lp;
    let (bar0_size, bar2_size) = pci_setup(t)?;
    let total = ggtt_total(t)?;
    let (vgt_id, mappable, nonmappable, fences) = pvinfo(t, bar2_size, total)?;
    forcewake(t)?;
    stop_engines(t)?;
    gt_reset(t)?;
    pm_and_display(t, bxt)?;
    if bxt {
        dram_info(t)?;
        display_phy(t)?;
    } else {
        skl_dram_info(t)?;
        sagv_disable(t)?;
    }
    sseu(t, bxt)?;
    engine_errors(t)?;
    irq_setup(t)?;
    ggtt_setup(t, mappable)?;
    // intel_modeset_setup_hw_state, once interrupts are up.
    let output = Output::detect(t)?;
    let display = readout::initial_state(t, &output)?;
    t.write32(field::DISPLAY_READY, 1)?;
    Ok(ProbeReport {
        bar0_size,
        bar2_size,
        vgt_id,
        mappable,
        nonmappable,
        fences,
        output,
        display,
    })
}

/// `intel_bios_init` / `parse_ddi_ports`: the DDI ports (bit 0 = A) of the child devices in the
/// OpRegion's VBT, found as i915 finds it (the mailbox's VBT at 0x400, the BDB, block 2's
/// child devices of `child_dev_size` bytes, DVO port at +16). `None` if the VBT is malformed.
pub fn vbt_ddi_ports(opregion: &[u8]) -> Option<u32> {
    let u16_at =
        |b: &[u8], o: usize| Some(u16::from_le_bytes([*b.get(o)?, *b.get(o + 1)?]) as usize);
    let vbt = opregion.get(0x400..)?;
    if vbt.get(..4)? != b"$VBT" {
        return None;
    }
    let bdb = vbt.get(u32::from_le_bytes(vbt.get(28..32)?.try_into().ok()?) as usize..)?;
    if bdb.get(..15)? != b"BIOS_DATA_BLOCK" {
        return None;
    }
    let (mut p, end) = (u16_at(bdb, 18)?, u16_at(bdb, 20)?);
    let mut ports = 0u32;
    while p + 3 <= end {
        let (id, size) = (*bdb.get(p)?, u16_at(bdb, p + 1)?);
        if id == 2 {
            let child_size = usize::from(*bdb.get(p + 3 + 4)?);
            let mut c = p + 3 + 5;
            while child_size > 0 && c + child_size <= p + 3 + size {
                if u16_at(bdb, c + 2)? != 0 {
                    // DVO_PORT_DPA..DPD are 10, 7, 8, 9 (intel_vbt_defs.h).
                    ports |= match *bdb.get(c + 16)? {
                        10 => 1,
                        7 => 2,
                        8 => 4,
                        9 => 8,
                        _ => return None,
                    };
                }
                c += child_size;
            }
        }
        p += 3 + size;
    }
    Some(ports)
}
