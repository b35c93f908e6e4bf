//! The Gen9 MMIO register tables: which offsets the device model tracks, with which
//! attributes (read-only masks, masked "mode" registers, …) and which special handler.
//!
//! Upstream splits this between i915 (the list of tracked offsets, also used to snapshot the
//! host) and GVT (attributes and handlers layered on top). Here the same two layers are
//! [`GEN9_TRACKED`] (upstream's offsets, generated) and the attribute tables below, merged at
//! compile time into one open-addressing hash per platform, so a lookup on the MMIO fast path
//! is a multiply, a shift and (almost always) one probe. A duplicate offset in the attribute
//! tables is a build error rather than upstream's "dup mmio definition" init failure
//! (gvt-linux #84). Offsets not tracked are plain storage in the vGPU's register file.

use super::display::regs::{
    pipe_reg, plane_reg, port_reg, CURBASE, CURSURFLIVE, DDI_BUF_CTL, DP_AUX_CH_CTL, DP_TP_CTL,
    DP_TP_STATUS, EDP_PSR_IIR, EDP_PSR_IMR, GMBUS0, PCH_GPIO_BASE, PCH_PORT_HOTPLUG,
    PIPE_FRMCOUNT_G4X, PLANE_CTL, TRANSCONF,
};
use super::host::MMIO_SIZE;
use super::hw::Platform;
use super::mmio_list::GEN9_TRACKED;
use super::num::{lower_16_bits, u16_as_usize, u32_as_usize};
use super::regs::*;

/// Attribute: the register (or the bits in `ro_mask`) cannot be written by the guest.
pub const F_RO: u8 = 1 << 0;
/// Attribute: a masked register: bits 31:16 of a write select which bits 15:0 change.
pub const F_MODE_MASK: u8 = 1 << 2;
/// Attribute: command buffers may access the register (LRI/SRM/LRM whitelist).
pub const F_CMD_ACCESS: u8 = 1 << 3;
/// Attribute: an LRI to this register goes through its write handler.
pub const F_CMD_WRITE_PATCH: u8 = 1 << 7;
// Upstream's other attributes have no counterpart here. F_GMADR is set but never read, there
// too. F_PM_SAVE has upstream rewrite TRTTE and 0x4dfc from the vGPU's registers after a host
// resume: both are in the render context image (`mmio_context`), which every submission loads,
// so nothing is lost. F_UNALIGN lets upstream take misaligned accesses to the PCH GPIO
// registers: i915 makes none, and every misaligned access is refused here (`reg_offset`).

/// Platform mask bit of Skylake.
pub const D_SKL: u8 = 1 << 0;
/// Platform mask bit of Broxton.
pub const D_BXT: u8 = 1 << 1;
/// Platform mask bit of Kaby Lake.
pub const D_KBL: u8 = 1 << 2;
/// Platform mask bit of Coffee Lake and Comet Lake.
pub const D_CFL: u8 = 1 << 3;
/// Every Gen9 platform.
pub const D_ALL: u8 = D_SKL | D_BXT | D_KBL | D_CFL;

/// What emulates a tracked register beyond plain storage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Handler {
    /// Plain storage with the entry's attributes.
    Default,
    /// Interrupt mask register.
    Imr,
    /// Interrupt enable register.
    Ier,
    /// Interrupt identity register (write 1 to clear).
    Iir,
    /// GEN8_MASTER_IRQ.
    MasterIrq,
    /// Forcewake request: mirrored into its ack register.
    ForceWake,
    /// GEN6_GDRST: engine/full reset, self-clearing.
    Gdrst,
    /// Fence registers: forwarded to the vGPU's host fences.
    Fence,
    /// The PVINFO page.
    Pvinfo,
    /// PCODE mailbox: always ready, always succeeds.
    PcodeMailbox,
    /// Display power well control: state follows request.
    PowerWellCtl,
    /// DBUF control: state follows request.
    DbufCtl,
    /// BXT DE PLL enable: lock follows enable.
    BxtDePllEnable,
    /// BXT port PLL enable: lock follows enable.
    BxtPortPllEnable,
    /// BXT PHY family control: lane state follows common reset.
    BxtPhyCtlFamily,
    /// BXT PCS DW12 group write: fans out to the lane registers.
    BxtPcsDw12Grp,
    /// BXT TX DW3 read: hides UNIQUE_TRANGE_EN_METHOD.
    BxtPortTxDw3Read,
    /// BXT display PHY power-on: PHY power good (and PHY1's GRC calibration) follow the
    /// request bits.
    BxtGtDispPwron,
    /// RING_EIR: error bits are write-1-to-clear.
    RingEir,
    /// BXT private PPAT: forces snoop on the entries guests use for batch buffers.
    BxtPpatLow,
    /// GUC_STATUS read: MIA_IN_RESET clears after the first read.
    GucStatusRead,
    /// RING_RESET_CTL: ready-to-reset follows request; never a catastrophic error.
    RingResetCtl,
    /// RING_MI_MODE: the ring is always idle (MODE_IDLE), so STOP_RING completes at once.
    RingMiMode,
    /// GFX_MODE: execlist/PPGTT enable checks.
    RingMode,
    /// CSFE_CHICKEN1: some bits are refused.
    CsfeChicken1,
    /// GAMW_ECO_DEV_RW_IA: 64 KiB IPS all-or-nothing.
    GamwEchoDevRwIa,
    /// TRTTE: physical-address mode refused.
    Trtte,
    /// SKL LCPLL: lock follows enable, other bits MBZ.
    SklLcpll,
    /// DPLL_STATUS read: computed from the LCPLL enables.
    DpllStatusRead,
    /// PSR IMR/IIR: always zero (PSR is not emulated).
    EdpPsrImrIir,
    /// TLB invalidation control: self-clearing.
    TlbControl,
    /// GFX_FLSH_CNTL: flushes the vGPU's pending GGTT updates.
    GgttFlush,
    /// RING_HWS_PGA: must be a page inside the vGPU's graphics memory.
    HwsPga,
    /// GEN6_MBCTL: boot fetch requests are dropped.
    Mbctl,
    /// FPGA_DBG: the unclaimed-access bit clears when written.
    FpgaDbg,
    /// ELSP: four dwords make one execlist submission.
    Elsp,
    /// RCS FORCE_TO_NONPRIV slots: only registers on [`FORCE_NONPRIV_WHITELIST`] (or the
    /// engine's NOPID) may be opened to unprivileged batches.
    ForceNonpriv,
    /// TRANSCONF: state follows enable; starts and stops the pipe's vblank clock.
    Transconf,
    /// DDI_BUF_CTL: idle follows disable.
    DdiBufCtl,
    /// DP_TP_CTL: the idle pattern reports done in DP_TP_STATUS.
    DpTpCtl,
    /// DP_TP_STATUS: sticky bits are write-1-to-clear.
    DpTpStatus,
    /// DP_AUX_CH_CTL: runs the AUX transaction in the data registers.
    DpAuxCtl,
    /// GMBUS0-3: the I2C controller serving the EDID (reads have effects too).
    Gmbus,
    /// A universal plane's registers: flips, and forwards for planes the vGPU owns.
    Plane,
    /// CURBASE: the cursor surface goes live.
    CurBase,
}

impl Handler {
    /// Whether the handler still runs when the vGPU is in failsafe (where every other
    /// register is plain storage): the status handshakes i915's reset path polls (forcewake
    /// acks, GDRST, the engine reset handshake, STOP_RING, the GuC reset status). They only
    /// move the vGPU's own register bits, and a full GDRST is how a guest leaves failsafe.
    pub const fn answers_in_failsafe(self) -> bool {
        matches!(
            self,
            Handler::ForceWake
                | Handler::Gdrst
                | Handler::RingResetCtl
                | Handler::RingMiMode
                | Handler::GucStatusRead
        )
    }
}

/// Registers a guest may expose to its unprivileged batch buffers through FORCE_TO_NONPRIV:
/// what i915's Gen9 workarounds and whitelists need, nothing that reaches outside the context.
pub const FORCE_NONPRIV_WHITELIST: [u32; 31] = [
    0xd80,
    GEN9_CS_DEBUG_MODE1::OFFSET,
    GEN9_CTX_PREEMPT_REG::OFFSET,
    CL_PRIMITIVES_COUNT::OFFSET,
    PS_INVOCATION_COUNT::OFFSET,
    PS_DEPTH_COUNT::OFFSET,
    GEN8_CS_CHICKEN1::OFFSET,
    0x2690,
    0x2694,
    0x2698,
    0x2754,
    0x28a0,
    TRVATTL3PTRDW::OFFSET,
    0x4de4,
    0x4dfc,
    GEN7_COMMON_SLICE_CHICKEN1::OFFSET,
    COMMON_SLICE_CHICKEN2::OFFSET,
    HDC_CHICKEN0::OFFSET,
    GEN8_HDC_CHICKEN1::OFFSET,
    0x7700,
    0x7704,
    0x7708,
    0x770c,
    0x83a8,
    0xb110,
    GEN8_L3SQCREG4::OFFSET,
    GEN7_HALF_SLICE_CHICKEN1::OFFSET,
    0xe18c,
    0xe48c,
    0xe5f4,
    0x64844,
];

/// One tracked register or range.
#[derive(Clone, Copy, Debug)]
pub struct MmioDef {
    /// Offset (absolute, or relative to an engine base for [`GEN9_RING_MMIO`]).
    pub offset: u32,
    /// Size in bytes (a multiple of 4).
    pub size: u32,
    /// `F_*` attributes.
    pub flags: u8,
    /// Bits the guest cannot change.
    pub ro_mask: u32,
    /// Platforms the entry applies to (`D_*`).
    pub platforms: u8,
    /// Special handler.
    pub handler: Handler,
}

const fn d(offset: u32, platforms: u8, flags: u8, handler: Handler) -> MmioDef {
    MmioDef {
        offset,
        size: 4,
        flags,
        ro_mask: 0,
        platforms,
        handler,
    }
}

const fn f(offset: u32, size: u32, platforms: u8, flags: u8, handler: Handler) -> MmioDef {
    MmioDef {
        offset,
        size,
        flags,
        ro_mask: 0,
        platforms,
        handler,
    }
}

const fn ro(
    offset: u32,
    size: u32,
    platforms: u8,
    flags: u8,
    ro_mask: u32,
    handler: Handler,
) -> MmioDef {
    MmioDef {
        offset,
        size,
        flags: flags | F_RO,
        ro_mask,
        platforms,
        handler,
    }
}

use Handler as H;

const MC: u8 = F_MODE_MASK | F_CMD_ACCESS;
const C: u8 = F_CMD_ACCESS;

/// Per-engine registers, relative to each engine's base (expanded for RCS, BCS, VCS, VECS).
pub const GEN9_RING_MMIO: &[MmioDef] = &[
    d(RING_IMR::REL, D_ALL, 0, H::Imr),
    d(0x28, D_ALL, C, H::Default),
    d(0x134, D_ALL, C, H::Default),
    d(RING_START::REL, D_ALL, 0, H::Default),
    d(
        RING_MODE_GEN7::REL,
        D_ALL,
        MC | F_CMD_WRITE_PATCH,
        H::RingMode,
    ),
    d(RING_MI_MODE::REL, D_ALL, MC, H::RingMiMode),
    d(RING_INSTPM::REL, D_ALL, MC, H::Default),
    d(RING_TIMESTAMP::REL, D_ALL, C, H::Default),
    d(RING_TIMESTAMP_UDW::REL, D_ALL, C, H::Default),
    d(RING_BBADDR::REL, D_ALL, 0, H::Default),
    d(RING_SYNC_0::REL, D_ALL, C, H::Default),
    d(RING_SYNC_1::REL, D_ALL, C, H::Default),
    ro(
        RING_RESET_CTL::REL,
        4,
        D_ALL,
        0,
        !masked_bit_enable(1),
        H::RingResetCtl,
    ),
    d(RING_ELSP::REL, D_ALL, 0, H::Elsp),
    ro(RING_EXECLIST_STATUS_LO::REL, 8, D_ALL, 0, !0, H::Default),
    d(0x244, D_ALL, C, H::Default),
    ro(RING_CONTEXT_STATUS_BUF::REL, 48, D_ALL, 0, !0, H::Default),
    // Both pointers are guest-writable, masked (upstream's handlers.c: MMIO_RING_DFH(0x3a0,
    // F_MODE_MASK)): i915's reset_csb_pointers writes read and write pointer to the last
    // entry and reads the next event from entry 0. A write pointer out of range (6, 7) also
    // makes the next event land in entry 0 (`execlist::report`).
    d(RING_CONTEXT_STATUS_PTR::REL, D_ALL, F_MODE_MASK, H::Default),
    f(0x270, 32, D_ALL, C, H::Default),
    d(RING_HWS_PGA::REL, D_ALL, 0, H::HwsPga),
    d(CSFE_CHICKEN1::REL, D_ALL, MC, H::CsfeChicken1),
    f(GEN8_RING_CS_GPR::REL, 0x40, D_BXT, C, H::Default),
];

/// Registers at fixed offsets with attributes or handlers; plain tracked registers come from
/// [`GEN9_TRACKED`]. Interrupt groups are ISR/IMR/IIR/IER at +0/+4/+8/+0xc.
pub const GEN9_MMIO: &[MmioDef] = &[
    // Interrupts (§3.12).
    d(SDEIMR::OFFSET, D_ALL, 0, H::Imr),
    d(SDEIER::OFFSET, D_ALL, 0, H::Ier),
    d(SDEIIR::OFFSET, D_ALL, 0, H::Iir),
    d(GEN8_MASTER_IRQ::OFFSET, D_ALL, 0, H::MasterIrq),
    d(0x44304, D_ALL, 0, H::Imr),
    d(0x44308, D_ALL, 0, H::Iir),
    d(0x4430c, D_ALL, 0, H::Ier),
    d(0x44314, D_ALL, 0, H::Imr),
    d(0x44318, D_ALL, 0, H::Iir),
    d(0x4431c, D_ALL, 0, H::Ier),
    d(0x44324, D_ALL, 0, H::Imr),
    d(0x44328, D_ALL, 0, H::Iir),
    d(0x4432c, D_ALL, 0, H::Ier),
    d(0x44334, D_ALL, 0, H::Imr),
    d(0x44338, D_ALL, 0, H::Iir),
    d(0x4433c, D_ALL, 0, H::Ier),
    d(0x44404, D_ALL, 0, H::Imr),
    d(0x44408, D_ALL, 0, H::Iir),
    d(0x4440c, D_ALL, 0, H::Ier),
    d(0x44414, D_ALL, 0, H::Imr),
    d(0x44418, D_ALL, 0, H::Iir),
    d(0x4441c, D_ALL, 0, H::Ier),
    d(0x44424, D_ALL, 0, H::Imr),
    d(0x44428, D_ALL, 0, H::Iir),
    d(0x4442c, D_ALL, 0, H::Ier),
    d(0x44444, D_ALL, 0, H::Imr),
    d(0x44448, D_ALL, 0, H::Iir),
    d(0x4444c, D_ALL, 0, H::Ier),
    d(0x44464, D_ALL, 0, H::Imr),
    d(0x44468, D_ALL, 0, H::Iir),
    d(0x4446c, D_ALL, 0, H::Ier),
    d(0x444e4, D_ALL, 0, H::Imr),
    d(0x444e8, D_ALL, 0, H::Iir),
    d(0x444ec, D_ALL, 0, H::Ier),
    // GT and power management.
    d(
        GEN8_GAMW_ECO_DEV_RW_IA::OFFSET,
        D_ALL,
        0,
        H::GamwEchoDevRwIa,
    ),
    d(BSD_HWS_PGA_GEN7::OFFSET, D_ALL, C, H::Default),
    d(BLT_HWS_PGA_GEN7::OFFSET, D_ALL, C, H::Default),
    d(VEBOX_HWS_PGA_GEN7::OFFSET, D_ALL, C, H::Default),
    d(0x2148, D_ALL, C, H::Default),
    d(CCID::offset(RENDER_RING_BASE), D_ALL, C, H::Default),
    d(0x12198, D_ALL, C, H::Default),
    d(GEN7_GT_MODE::OFFSET, D_ALL, MC, H::Default),
    d(CACHE_MODE_0_GEN7::OFFSET, D_ALL, MC, H::Default),
    d(CACHE_MODE_1::OFFSET, D_ALL, MC, H::Default),
    d(CACHE_MODE_0::OFFSET, D_ALL, MC, H::Default),
    d(0x2124, D_ALL, MC, H::Default),
    d(0x20dc, D_ALL, MC, H::Default),
    d(_3D_CHICKEN3::OFFSET, D_ALL, MC, H::Default),
    d(0x2088, D_ALL, MC, H::Default),
    d(FF_SLICE_CS_CHICKEN2::OFFSET, D_ALL, MC, H::Default),
    d(0x2470, D_ALL, MC, H::Default),
    d(GAM_ECOCHK::OFFSET, D_ALL, C, H::Default),
    d(GEN7_COMMON_SLICE_CHICKEN1::OFFSET, D_ALL, MC, H::Default),
    d(COMMON_SLICE_CHICKEN2::OFFSET, D_ALL, MC, H::Default),
    d(0x9030, D_ALL, C, H::Default),
    d(GEN7_FF_THREAD_MODE::OFFSET, D_ALL, C, H::Default),
    d(0x2420, D_ALL, C, H::Default),
    d(0x2430, D_ALL, C, H::Default),
    d(0x2434, D_ALL, C, H::Default),
    d(0x2438, D_ALL, C, H::Default),
    d(0x243c, D_ALL, C, H::Default),
    d(0x7018, D_ALL, MC, H::Default),
    d(HSW_HALF_SLICE_CHICKEN3::OFFSET, D_ALL, MC, H::Default),
    d(GEN7_HALF_SLICE_CHICKEN1::OFFSET, D_ALL, MC, H::Default),
    d(FORCEWAKE_GT_GEN9::OFFSET, D_ALL, 0, H::ForceWake),
    d(FORCEWAKE_RENDER_GEN9::OFFSET, D_ALL, 0, H::ForceWake),
    d(FORCEWAKE_MEDIA_GEN9::OFFSET, D_ALL, 0, H::ForceWake),
    d(GTFIFODBG::OFFSET, D_ALL, C, H::Default),
    d(GTFIFOCTL::OFFSET, D_ALL, C, H::Default),
    d(GEN6_GDRST::OFFSET, D_ALL, 0, H::Gdrst),
    d(RING_EIR::offset(RENDER_RING_BASE), D_ALL, 0, H::RingEir), // EIR
    d(RING_EIR::offset(BLT_RING_BASE), D_ALL, 0, H::RingEir),
    d(RING_EIR::offset(GEN6_BSD_RING_BASE), D_ALL, 0, H::RingEir),
    d(RING_EIR::offset(VEBOX_RING_BASE), D_ALL, 0, H::RingEir),
    f(FENCE_REG_GEN6_LO::OFFSET, 0x80, D_ALL, 0, H::Fence),
    d(GFX_FLSH_CNTL_GEN6::OFFSET, D_ALL, 0, H::GgttFlush),
    d(GEN6_MBCTL::OFFSET, D_ALL, 0, H::Mbctl),
    d(FPGA_DBG::OFFSET, D_ALL, 0, H::FpgaDbg),
    d(GEN7_UCGCTL4::OFFSET, D_ALL, C, H::Default),
    d(0x215c, D_ALL, C, H::Default),
    d(0x2178, D_ALL, C, H::Default),
    d(0x217c, D_ALL, C, H::Default),
    d(0x12178, D_ALL, C, H::Default),
    d(0x1217c, D_ALL, C, H::Default),
    f(0x2290, 8, D_ALL, C, H::Default),
    f(0x5200, 32, D_ALL, C, H::Default),
    f(0x5240, 32, D_ALL, C, H::Default),
    f(0x5280, 16, D_ALL, C, H::Default),
    d(0x1c17c, D_ALL, C, H::Default),
    d(0x1c178, D_ALL, C, H::Default),
    d(BCS_SWCTRL::OFFSET, D_ALL, C, H::Default),
    f(HS_INVOCATION_COUNT::OFFSET, 8, D_ALL, C, H::Default),
    f(DS_INVOCATION_COUNT::OFFSET, 8, D_ALL, C, H::Default),
    f(IA_VERTICES_COUNT::OFFSET, 8, D_ALL, C, H::Default),
    f(IA_PRIMITIVES_COUNT::OFFSET, 8, D_ALL, C, H::Default),
    f(VS_INVOCATION_COUNT::OFFSET, 8, D_ALL, C, H::Default),
    f(GS_INVOCATION_COUNT::OFFSET, 8, D_ALL, C, H::Default),
    f(GS_PRIMITIVES_COUNT::OFFSET, 8, D_ALL, C, H::Default),
    f(CL_INVOCATION_COUNT::OFFSET, 8, D_ALL, C, H::Default),
    f(CL_PRIMITIVES_COUNT::OFFSET, 8, D_ALL, C, H::Default),
    f(PS_INVOCATION_COUNT::OFFSET, 8, D_ALL, C, H::Default),
    f(PS_DEPTH_COUNT::OFFSET, 8, D_ALL, C, H::Default),
    d(GEN8_RTCR::OFFSET, D_ALL, 0, H::TlbControl),
    d(GEN8_M1TCR::OFFSET, D_ALL, 0, H::TlbControl),
    d(GEN8_M2TCR::OFFSET, D_ALL, 0, H::TlbControl),
    d(GEN8_BTCR::OFFSET, D_ALL, 0, H::TlbControl),
    d(GEN8_VTCR::OFFSET, D_ALL, 0, H::TlbControl),
    d(0x4094, D_ALL, C, H::Default),
    d(ARB_MODE::OFFSET, D_ALL, MC, H::Default),
    d(0x2220, D_ALL, C, H::Default),
    d(0x12220, D_ALL, C, H::Default),
    d(0x22220, D_ALL, C, H::Default),
    d(0x22178, D_ALL, C, H::Default),
    d(0x1a178, D_ALL, C, H::Default),
    d(0x1a17c, D_ALL, C, H::Default),
    d(0x2217c, D_ALL, C, H::Default),
    d(EDP_PSR_IMR::OFFSET, D_ALL, 0, H::EdpPsrImrIir),
    d(EDP_PSR_IIR::OFFSET, D_ALL, 0, H::EdpPsrImrIir),
    d(GUC_STATUS::OFFSET, D_ALL, 0, H::GucStatusRead),
    d(GEN6_PCODE_MAILBOX::OFFSET, D_ALL, 0, H::PcodeMailbox),
    d(HDC_CHICKEN0::OFFSET, D_ALL, MC, H::Default),
    d(GEN8_ROW_CHICKEN::OFFSET, D_ALL, MC, H::Default),
    d(GEN7_ROW_CHICKEN2::OFFSET, D_ALL, MC, H::Default),
    d(GEN8_UCGCTL6::OFFSET, D_ALL, C, H::Default),
    d(GEN8_L3SQCREG4::OFFSET, D_ALL, C, H::Default),
    f(
        RING_FORCE_TO_NONPRIV::offset(RENDER_RING_BASE),
        48,
        D_ALL,
        C | F_CMD_WRITE_PATCH,
        H::ForceNonpriv,
    ),
    d(GEN9_HALF_SLICE_CHICKEN7::OFFSET, D_ALL, MC, H::Default),
    d(GEN9_HALF_SLICE_CHICKEN5::OFFSET, D_ALL, MC, H::Default),
    d(HALF_SLICE_CHICKEN2::OFFSET, D_ALL, MC, H::Default),
    d(GEN8_CS_CHICKEN1::OFFSET, D_ALL, MC, H::Default),
    d(0xe220, D_ALL, C, H::Default),
    d(0xe230, D_ALL, C, H::Default),
    d(0xe240, D_ALL, C, H::Default),
    d(0xe260, D_ALL, C, H::Default),
    d(0xe270, D_ALL, C, H::Default),
    d(0xe280, D_ALL, C, H::Default),
    d(0xe2a0, D_ALL, C, H::Default),
    d(0xe2b0, D_ALL, C, H::Default),
    d(0xe2c0, D_ALL, C, H::Default),
    d(0x21f0, D_ALL, C, H::Default),
    d(GEN9_GAMT_ECO_REG_RW_IA::OFFSET, D_ALL, C, H::Default),
    d(MMCD_MISC_CTRL::OFFSET, D_ALL, C, H::Default),
    d(GEN9_SCRATCH1::OFFSET, D_ALL, C, H::Default),
    f(GEN9_GFX_MOCS::OFFSET, 0x7f8, D_ALL, C, H::Default),
    f(GEN9_LNCFCMOCS::OFFSET, 0x80, D_ALL, C, H::Default),
    d(GEN7_FF_SLICE_CS_CHICKEN1::OFFSET, D_ALL, MC, H::Default),
    d(GEN9_CS_DEBUG_MODE1::OFFSET, D_ALL, MC, H::Default),
    d(TRVATTL3PTRDW::OFFSET, D_ALL, C, H::Default),
    d(0x4de4, D_ALL, C, H::Default),
    d(0x4de8, D_ALL, C, H::Default),
    d(0x4dec, D_ALL, C, H::Default),
    d(TRVADR::OFFSET, D_ALL, C, H::Default),
    d(TRTTE::OFFSET, D_ALL, C, H::Trtte),
    d(0x4dfc, D_ALL, 0, H::Default),
    d(GEN8_GARBCNTL::OFFSET, D_ALL, C, H::Default),
    d(DMA_CTRL::OFFSET, D_ALL, F_MODE_MASK, H::Default),
    d(GEN8_HDC_CHICKEN1::OFFSET, D_ALL, MC, H::Default),
    d(GEN9_WM_CHICKEN3::OFFSET, D_ALL, MC, H::Default),
    d(GAMT_CHKN_BIT_REG::OFFSET, D_KBL | D_CFL, C, H::Default),
    d(0xe4cc, D_ALL, C, H::Default),
    // Display: power wells, PLLs, buffers, fuses.
    d(HSW_PWR_WELL_CTL2::OFFSET, D_ALL, 0, H::PowerWellCtl),
    d(DBUF_CTL_S0::OFFSET, D_ALL, 0, H::DbufCtl),
    d(LCPLL1_CTL::OFFSET, D_SKL | D_KBL | D_CFL, 0, H::SklLcpll),
    d(LCPLL2_CTL::OFFSET, D_SKL | D_KBL | D_CFL, 0, H::SklLcpll),
    d(
        DPLL_STATUS::OFFSET,
        D_SKL | D_KBL | D_CFL,
        0,
        H::DpllStatusRead,
    ),
    ro(
        PCH_PORT_HOTPLUG::OFFSET,
        4,
        D_ALL,
        0,
        0x0303_0303,
        H::Default,
    ), // status bits RO
    f(PCH_GPIO_BASE::OFFSET, 6 * 4, D_ALL, 0, H::Default),
    // BXT display PHYs and PLLs (§6).
    d(BXT_P_CR_GT_DISP_PWRON::OFFSET, D_BXT, 0, H::BxtGtDispPwron),
    d(PHY_CTL_FAMILY_DDI::OFFSET, D_BXT, 0, H::BxtPhyCtlFamily),
    d(PHY_CTL_FAMILY_EDP::OFFSET, D_BXT, 0, H::BxtPhyCtlFamily),
    d(BXT_PORT_PLL_ENABLE_A::OFFSET, D_BXT, 0, H::BxtPortPllEnable),
    d(BXT_PORT_PLL_ENABLE_B::OFFSET, D_BXT, 0, H::BxtPortPllEnable),
    d(BXT_PORT_PLL_ENABLE_C::OFFSET, D_BXT, 0, H::BxtPortPllEnable),
    d(PORT_PCS_DW12_GRP_B::OFFSET, D_BXT, 0, H::BxtPcsDw12Grp),
    d(PORT_PCS_DW12_GRP_C::OFFSET, D_BXT, 0, H::BxtPcsDw12Grp),
    d(PORT_PCS_DW12_GRP_A::OFFSET, D_BXT, 0, H::BxtPcsDw12Grp),
    d(PORT_TX_DW3_LN0_B::OFFSET, D_BXT, 0, H::BxtPortTxDw3Read),
    d(PORT_TX_DW3_LN0_C::OFFSET, D_BXT, 0, H::BxtPortTxDw3Read),
    d(PORT_TX_DW3_LN0_A::OFFSET, D_BXT, 0, H::BxtPortTxDw3Read),
    d(BXT_DE_PLL_ENABLE::OFFSET, D_BXT, 0, H::BxtDePllEnable),
    d(GEN8_L3SQCREG1::OFFSET, D_BXT, C, H::Default),
    d(GEN8_L3CNTLREG::OFFSET, D_BXT, C, H::Default),
    d(0x20d8, D_BXT, C, H::Default),
    d(GEN9_CTX_PREEMPT_REG::OFFSET, D_BXT, C, H::Default),
    d(GEN8_PRIVATE_PAT_LO::OFFSET, D_BXT, 0, H::BxtPpatLow),
    // Display (§3.13, `display`): transcoders, DDIs, AUX channels, GMBUS, planes, cursors.
    d(TRANSCONF::OFFSET, D_ALL, 0, H::Transconf), // pipe A
    ro(PIPE_FRMCOUNT_G4X::OFFSET, 8, D_ALL, 0, !0, H::Default), // and PIPE_FLIPCOUNT_G4X
    d(CURBASE::OFFSET, D_ALL, 0, H::CurBase),     // pipe A
    ro(CURSURFLIVE::OFFSET, 4, D_ALL, 0, !0, H::Default), // pipe A
    f(PLANE_CTL::OFFSET, 0x48, D_ALL, 0, H::Plane), // (A, 1)..PLANE_AUX_OFFSET
    f(plane_reg(PLANE_CTL::OFFSET, 0, 1), 0x48, D_ALL, 0, H::Plane), // ..PLANE_AUX_OFFSET
    f(plane_reg(PLANE_CTL::OFFSET, 0, 2), 0x48, D_ALL, 0, H::Plane), // ..PLANE_AUX_OFFSET
    f(plane_reg(PLANE_CTL::OFFSET, 0, 3), 0x48, D_BXT, 0, H::Plane), // ..PLANE_AUX_OFFSET
    d(pipe_reg(TRANSCONF::OFFSET, 1), D_ALL, 0, H::Transconf),
    ro(
        pipe_reg(PIPE_FRMCOUNT_G4X::OFFSET, 1),
        8,
        D_ALL,
        0,
        !0,
        H::Default,
    ), // and PIPE_FLIPCOUNT_G4X
    d(pipe_reg(CURBASE::OFFSET, 1), D_ALL, 0, H::CurBase),
    ro(
        pipe_reg(CURSURFLIVE::OFFSET, 1),
        4,
        D_ALL,
        0,
        !0,
        H::Default,
    ),
    f(plane_reg(PLANE_CTL::OFFSET, 1, 0), 0x48, D_ALL, 0, H::Plane), // ..PLANE_AUX_OFFSET
    f(plane_reg(PLANE_CTL::OFFSET, 1, 1), 0x48, D_ALL, 0, H::Plane), // ..PLANE_AUX_OFFSET
    f(plane_reg(PLANE_CTL::OFFSET, 1, 2), 0x48, D_ALL, 0, H::Plane), // ..PLANE_AUX_OFFSET
    f(plane_reg(PLANE_CTL::OFFSET, 1, 3), 0x48, D_BXT, 0, H::Plane), // ..PLANE_AUX_OFFSET
    d(pipe_reg(TRANSCONF::OFFSET, 2), D_ALL, 0, H::Transconf),
    ro(
        pipe_reg(PIPE_FRMCOUNT_G4X::OFFSET, 2),
        8,
        D_ALL,
        0,
        !0,
        H::Default,
    ), // and PIPE_FLIPCOUNT_G4X
    d(pipe_reg(CURBASE::OFFSET, 2), D_ALL, 0, H::CurBase),
    ro(
        pipe_reg(CURSURFLIVE::OFFSET, 2),
        4,
        D_ALL,
        0,
        !0,
        H::Default,
    ),
    f(plane_reg(PLANE_CTL::OFFSET, 2, 0), 0x48, D_ALL, 0, H::Plane), // ..PLANE_AUX_OFFSET
    f(plane_reg(PLANE_CTL::OFFSET, 2, 1), 0x48, D_ALL, 0, H::Plane), // ..PLANE_AUX_OFFSET
    f(plane_reg(PLANE_CTL::OFFSET, 2, 2), 0x48, D_ALL, 0, H::Plane), // ..PLANE_AUX_OFFSET
    d(0x7f008, D_ALL, 0, H::Transconf),                              // TRANSCONF(EDP)
    d(DDI_BUF_CTL::OFFSET, D_ALL, 0, H::DdiBufCtl),                  // port A
    d(DP_AUX_CH_CTL::OFFSET, D_ALL, 0, H::DpAuxCtl),                 // port A
    d(DP_TP_CTL::OFFSET, D_ALL, 0, H::DpTpCtl),                      // port A
    d(DP_TP_STATUS::OFFSET, D_ALL, 0, H::DpTpStatus),                // port A
    d(port_reg(DDI_BUF_CTL::OFFSET, 1), D_ALL, 0, H::DdiBufCtl),
    d(port_reg(DP_AUX_CH_CTL::OFFSET, 1), D_ALL, 0, H::DpAuxCtl),
    d(port_reg(DP_TP_CTL::OFFSET, 1), D_ALL, 0, H::DpTpCtl),
    d(port_reg(DP_TP_STATUS::OFFSET, 1), D_ALL, 0, H::DpTpStatus),
    d(port_reg(DDI_BUF_CTL::OFFSET, 2), D_ALL, 0, H::DdiBufCtl),
    d(port_reg(DP_AUX_CH_CTL::OFFSET, 2), D_ALL, 0, H::DpAuxCtl),
    d(port_reg(DP_TP_CTL::OFFSET, 2), D_ALL, 0, H::DpTpCtl),
    d(port_reg(DP_TP_STATUS::OFFSET, 2), D_ALL, 0, H::DpTpStatus),
    d(port_reg(DDI_BUF_CTL::OFFSET, 3), D_ALL, 0, H::DdiBufCtl),
    d(port_reg(DP_AUX_CH_CTL::OFFSET, 3), D_ALL, 0, H::DpAuxCtl),
    d(port_reg(DP_TP_CTL::OFFSET, 3), D_ALL, 0, H::DpTpCtl),
    d(port_reg(DP_TP_STATUS::OFFSET, 3), D_ALL, 0, H::DpTpStatus),
    d(port_reg(DDI_BUF_CTL::OFFSET, 4), D_ALL, 0, H::DdiBufCtl),
    d(port_reg(DP_TP_CTL::OFFSET, 4), D_ALL, 0, H::DpTpCtl),
    d(port_reg(DP_TP_STATUS::OFFSET, 4), D_ALL, 0, H::DpTpStatus),
    f(GMBUS0::OFFSET, 16, D_ALL, 0, H::Gmbus), // GMBUS0-3
];

/// Base of the PVINFO page in the MMIO window.
pub const PVINFO_BASE: u32 = 0x78000;
/// Size of the PVINFO page.
pub const PVINFO_SIZE: u32 = 0x1000;

/// A large tracked range handled as a whole (upstream's `gvt_mmio_block`).
#[derive(Clone, Copy, Debug)]
pub struct MmioBlock {
    /// First offset.
    pub start: u32,
    /// Size in bytes.
    pub size: u32,
    /// Platforms the block applies to.
    pub platforms: u8,
    /// Handler for the whole block.
    pub handler: Handler,
}

/// The special blocks: PVINFO, the MCHBAR mirror, the DMC firmware range and the legacy palettes.
pub const GEN9_BLOCKS: &[MmioBlock] = &[
    MmioBlock {
        start: PVINFO_BASE,
        size: PVINFO_SIZE,
        platforms: D_ALL,
        handler: Handler::Pvinfo,
    },
    MmioBlock {
        start: 0x140000,
        size: 0x40000,
        platforms: D_ALL,
        handler: Handler::Default,
    },
    MmioBlock {
        start: 0x80000,
        size: 0x3000,
        platforms: D_ALL,
        handler: Handler::Default,
    },
    MmioBlock {
        start: 0x4a000,
        size: 0x400,
        platforms: D_ALL,
        handler: Handler::Default,
    },
    MmioBlock {
        start: 0x4a800,
        size: 0x400,
        platforms: D_ALL,
        handler: Handler::Default,
    },
    MmioBlock {
        start: 0x4b000,
        size: 0x400,
        platforms: D_ALL,
        handler: Handler::Default,
    },
];

const SLOTS: usize = 8192;
const RING_TAG: u16 = 0x8000;
/// Value of a slot filled from [`GEN9_TRACKED`] alone: default handler, no attributes.
const PLAIN_TAG: u16 = 0x7fff;

/// The entry of registers upstream tracks without attributes or handlers.
static PLAIN_DEF: MmioDef = MmioDef {
    offset: 0,
    size: 4,
    flags: 0,
    ro_mask: 0,
    platforms: D_ALL,
    handler: Handler::Default,
};

const fn slot_of(dword: u32) -> usize {
    u32_as_usize(dword.wrapping_mul(0x9e37_79b1) >> 19)
}

/// One platform's register table, hashed by dword offset. Built at compile time.
pub struct MmioIndex {
    /// `dword + 1` of the register in each slot, 0 for an empty slot. Twice as many slots as
    /// registers keeps probe chains short.
    keys: [u32; SLOTS],
    /// Index into [`GEN9_MMIO`], or into [`GEN9_RING_MMIO`] with `RING_TAG` set.
    vals: [u16; SLOTS],
    platform: u8,
    stats: TableStats,
}

/// How big a platform's table is (compare upstream's BXT: 2,262 tracked dwords, 7 blocks,
/// 260 dwords with special handlers).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TableStats {
    /// Tracked dword registers (not counting blocks).
    pub tracked: u32,
    /// Of those, how many have a special handler.
    pub special: u32,
    /// Of those, how many are masked ("mode") registers.
    pub mode_mask: u32,
    /// Of those, how many have read-only bits.
    pub read_only: u32,
    /// Special blocks.
    pub blocks: u32,
}

#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
// Only evaluated in the `static` tables below: an out-of-range index, an overflow or a
// duplicate offset is a compile-time error, never a runtime panic.
const fn insert(idx: &mut MmioIndex, offset: u32, val: u16, def: &MmioDef) {
    assert!(
        offset % 4 == 0 && offset < MMIO_SIZE,
        "register outside the MMIO window"
    );
    let key = offset / 4 + 1;
    let mut s = slot_of(offset / 4);
    loop {
        if idx.keys[s] == 0 {
            idx.keys[s] = key;
            idx.vals[s] = val;
            break;
        }
        if idx.keys[s] == key {
            // Upstream's plain list may name a register this table describes: ours wins.
            assert!(val == PLAIN_TAG, "duplicate tracked MMIO offset");
            return;
        }
        s = (s + 1) % SLOTS;
    }
    idx.stats.tracked += 1;
    if !matches!(def.handler, Handler::Default) {
        idx.stats.special += 1;
    }
    if def.flags & F_MODE_MASK != 0 {
        idx.stats.mode_mask += 1;
    }
    if def.flags & F_RO != 0 {
        idx.stats.read_only += 1;
    }
}

impl MmioIndex {
    #[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
    // Compile-time only, see `insert`.
    const fn build(platform: u8) -> MmioIndex {
        let mut idx = MmioIndex {
            keys: [0; SLOTS],
            vals: [0; SLOTS],
            platform,
            stats: TableStats {
                tracked: 0,
                special: 0,
                mode_mask: 0,
                read_only: 0,
                blocks: 0,
            },
        };
        // `vals` holds table indices as u16, below the tags.
        assert!(
            GEN9_MMIO.len() <= u16_as_usize(PLAIN_TAG),
            "GEN9_MMIO index does not fit"
        );
        assert!(
            GEN9_RING_MMIO.len() <= u16_as_usize(RING_TAG),
            "GEN9_RING_MMIO index does not fit"
        );
        let mut i = 0;
        while i < GEN9_MMIO.len() {
            let def = &GEN9_MMIO[i];
            if def.platforms & platform != 0 {
                let mut o = 0;
                while o < def.size {
                    insert(&mut idx, def.offset + o, lower_16_bits(i), def);
                    o += 4;
                }
            }
            i += 1;
        }
        let bases = [
            RENDER_RING_BASE,
            BLT_RING_BASE,
            GEN6_BSD_RING_BASE,
            VEBOX_RING_BASE,
        ];
        let mut i = 0;
        while i < GEN9_RING_MMIO.len() {
            let def = &GEN9_RING_MMIO[i];
            if def.platforms & platform != 0 {
                let mut b = 0;
                while b < bases.len() {
                    let mut o = 0;
                    while o < def.size {
                        insert(
                            &mut idx,
                            bases[b] + def.offset + o,
                            RING_TAG | lower_16_bits(i),
                            def,
                        );
                        o += 4;
                    }
                    b += 1;
                }
            }
            i += 1;
        }
        let mut i = 0;
        while i < GEN9_TRACKED.len() {
            let (offset, size, platforms) = GEN9_TRACKED[i];
            if platforms & platform != 0 {
                let mut o = 0;
                while o < size {
                    insert(&mut idx, offset + o, PLAIN_TAG, &PLAIN_DEF);
                    o += 4;
                }
            }
            i += 1;
        }
        let mut i = 0;
        while i < GEN9_BLOCKS.len() {
            if GEN9_BLOCKS[i].platforms & platform != 0 {
                idx.stats.blocks += 1;
            }
            i += 1;
        }
        idx
    }

    /// The tracked register at `offset` (dword-aligned), if any.
    #[inline]
    pub fn lookup(&self, offset: u32) -> Option<&'static MmioDef> {
        let key = (offset >> 2).wrapping_add(1);
        let mut s = slot_of(offset >> 2);
        for _ in 0..SLOTS {
            let k = *self.keys.get(s)?;
            if k == key {
                let v = *self.vals.get(s)?;
                return if v == PLAIN_TAG {
                    Some(&PLAIN_DEF)
                } else if v & RING_TAG != 0 {
                    GEN9_RING_MMIO.get(usize::from(v & !RING_TAG))
                } else {
                    GEN9_MMIO.get(usize::from(v))
                };
            }
            if k == 0 {
                return None;
            }
            s = s.wrapping_add(1) % SLOTS;
        }
        None
    }

    /// The special block containing `offset`, if any.
    pub fn block(&self, offset: u32) -> Option<&'static MmioBlock> {
        GEN9_BLOCKS.iter().find(|b| {
            b.platforms & self.platform != 0
                && offset >= b.start
                && offset.wrapping_sub(b.start) < b.size
        })
    }

    /// Whether `offset` is tracked (a register or inside a block).
    pub fn is_tracked(&self, offset: u32) -> bool {
        self.lookup(offset & !3).is_some() || self.block(offset).is_some()
    }

    /// The table's size figures.
    pub const fn stats(&self) -> TableStats {
        self.stats
    }
}

/// One table per platform bit, in bit order.
static MMIO_INDEXES: [MmioIndex; 4] = [
    MmioIndex::build(D_SKL),
    MmioIndex::build(D_BXT),
    MmioIndex::build(D_KBL),
    MmioIndex::build(D_CFL),
];

/// The register table of a platform.
pub fn mmio_index(p: Platform) -> &'static MmioIndex {
    let [skl, bxt, kbl, cfl] = &MMIO_INDEXES;
    match p.hw().mmio_bit {
        D_SKL => skl,
        D_BXT => bxt,
        D_KBL => kbl,
        _ => cfl,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::println;

    #[test]
    fn lookups_find_fixed_ring_and_block_entries() {
        let t = mmio_index(Platform::Broxton);
        assert_eq!(
            t.lookup(GEN6_GDRST::OFFSET).unwrap().handler,
            Handler::Gdrst
        );
        let mode = t.lookup(RING_MODE_GEN7::offset(BLT_RING_BASE)).unwrap();
        assert_eq!(mode.handler, Handler::RingMode);
        assert!(mode.flags & F_MODE_MASK != 0);
        assert_eq!(t.lookup(0x100004).unwrap().handler, Handler::Fence);
        assert!(t.lookup(0x100080).is_none());
        assert_eq!(t.block(0x78010).unwrap().handler, Handler::Pvinfo);
        assert!(t.lookup(0x1234).is_none() && t.block(0x1234).is_none());
        assert!(t.lookup(0xffff_fffc).is_none());
    }

    #[test]
    fn platforms_differ_by_their_own_registers() {
        let bxt = mmio_index(Platform::Broxton);
        let skl = mmio_index(Platform::Skylake);
        let kbl = mmio_index(Platform::KabyLake);
        let cfl = mmio_index(Platform::CoffeeLake);
        assert!(
            core::ptr::eq(cfl, mmio_index(Platform::CometLake)),
            "one table for D_CFL"
        );
        assert!(bxt.lookup(BXT_DE_PLL_ENABLE::OFFSET).is_some());
        assert!(skl.lookup(BXT_DE_PLL_ENABLE::OFFSET).is_none());
        assert!(skl.lookup(LCPLL1_CTL::OFFSET).is_some());
        assert!(kbl.lookup(0x4ab8).is_some() && skl.lookup(0x4ab8).is_none());
        // Coffee Lake has Kaby Lake's rows (GAMT_CHKN_BIT_REG) and the big cores' DPLLs.
        assert!(cfl.lookup(0x4ab8).is_some() && cfl.lookup(LCPLL1_CTL::OFFSET).is_some());
        assert!(cfl.lookup(BXT_DE_PLL_ENABLE::OFFSET).is_none());
        for (name, t) in [("bxt", bxt), ("skl", skl), ("kbl", kbl), ("cfl", cfl)] {
            let s = t.stats();
            println!("{name}: {s:?}");
            assert!(s.special > 100 && s.blocks == 6);
        }
        // Upstream's counts for the same tables (6.12, no second video engine), plus the
        // display registers emulated here that upstream leaves plain (the rest of the plane
        // blocks, Broxton's fourth planes, DDI E's transport).
        let extra = |p: u8| {
            let upstream = |o: u32| {
                GEN9_TRACKED
                    .iter()
                    .any(|&(a, s, pl)| pl & p != 0 && (a..a + s).contains(&o))
            };
            GEN9_MMIO
                .iter()
                .filter(|d| d.platforms & p != 0)
                .flat_map(|d| (d.offset..d.offset + d.size).step_by(4))
                .filter(|&o| !upstream(o))
                .count() as u32
        };
        assert_eq!(bxt.stats().tracked, 2262 + extra(D_BXT));
        assert_eq!(skl.stats().tracked, 2019 + extra(D_SKL));
        assert_eq!(kbl.stats().tracked, 2020 + extra(D_KBL));
        assert_eq!(cfl.stats().tracked, 2020 + extra(D_CFL));
        assert_eq!(extra(D_BXT), 107);
    }

    #[test]
    fn special_blocks_are_not_shadowed_by_registers() {
        // Plain blocks may overlap registers: the MCHBAR mirror range holds BXT's PHY1
        // registers, whose handlers run here (upstream checks blocks first and skips them).
        for b in GEN9_BLOCKS.iter().filter(|b| b.handler != Handler::Default) {
            let t = mmio_index(Platform::Broxton);
            for off in (b.start..b.start + b.size).step_by(4) {
                assert!(
                    t.lookup(off).is_none(),
                    "{off:#x} hides block {:#x}",
                    b.start
                );
            }
        }
    }

    #[test]
    fn nonpriv_whitelist_is_sorted_for_binary_search() {
        assert!(FORCE_NONPRIV_WHITELIST.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn every_entry_is_findable() {
        let t = mmio_index(Platform::Broxton);
        for &(off, size, _) in GEN9_TRACKED.iter().filter(|e| e.2 & D_BXT != 0) {
            for o in (0..size).step_by(4) {
                assert!(t.lookup(off + o).is_some(), "{:#x}", off + o);
            }
        }
        for def in GEN9_MMIO.iter().filter(|d| d.platforms & D_BXT != 0) {
            for o in (0..def.size).step_by(4) {
                assert!(t.lookup(def.offset + o).is_some(), "{:#x}", def.offset + o);
            }
        }
    }
}
