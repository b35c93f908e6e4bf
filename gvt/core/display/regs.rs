//! Display registers, typed with upstream i915 names. Registers that repeat per pipe, plane,
//! transcoder or port are declared at their first instance (pipe A, plane 1, transcoder A, port
//! or AUX channel A); the helpers at the bottom give the other instances' offsets.

use super::super::regs::Field;

register! {
    /// Transcoder configuration (the i965+ PIPECONF).
    TRANSCONF @ 0x70008 {
        /// The guest asks for the transcoder to run.
        31:31 TRANSCONF_ENABLE,
        /// The transcoder runs (follows the enable).
        30:30 TRANSCONF_STATE_ENABLE,
    };
    /// Frame counter: +1 per vblank.
    PIPE_FRMCOUNT_G4X @ 0x70040;
    /// Flip counter: +1 per completed primary plane flip.
    PIPE_FLIPCOUNT_G4X @ 0x70044;
    /// Horizontal total and active, minus one each.
    TRANS_HTOTAL @ 0x60000 { 31:16 HTOTAL_MASK, 15:0 HACTIVE_MASK };
    /// Horizontal blank end and start, minus one each.
    TRANS_HBLANK @ 0x60004 { 31:16 HBLANK_END_MASK, 15:0 HBLANK_START_MASK };
    /// Horizontal sync end and start, minus one each.
    TRANS_HSYNC @ 0x60008 { 31:16 HSYNC_END_MASK, 15:0 HSYNC_START_MASK };
    /// Vertical total and active, minus one each.
    TRANS_VTOTAL @ 0x6000c { 31:16 VTOTAL_MASK, 15:0 VACTIVE_MASK };
    /// Vertical blank end and start, minus one each.
    TRANS_VBLANK @ 0x60010 { 31:16 VBLANK_END_MASK, 15:0 VBLANK_START_MASK };
    /// Vertical sync end and start, minus one each.
    TRANS_VSYNC @ 0x60014 { 31:16 VSYNC_END_MASK, 15:0 VSYNC_START_MASK };
    /// Pipe source size (the planes' canvas), minus one each.
    PIPESRC @ 0x6001c { 31:16 PIPESRC_WIDTH_MASK, 15:0 PIPESRC_HEIGHT_MASK };
    /// Data M value (with the transfer unit size).
    PIPE_DATA_M1 @ 0x60030 { 30:25 TU_SIZE_MASK, 23:0 DATA_LINK_M_N_MASK };
    /// Data N value.
    PIPE_DATA_N1 @ 0x60034;
    /// Link M value: the pixel clock over the link symbol clock is M / N.
    PIPE_LINK_M1 @ 0x60040 { 23:0 DATA_LINK_M_N_MASK };
    /// Link N value.
    PIPE_LINK_N1 @ 0x60044;
    /// Transcoder DDI function control.
    TRANS_DDI_FUNC_CTL @ 0x60400 {
        /// The transcoder drives a DDI.
        31:31 TRANS_DDI_FUNC_ENABLE,
        /// Which DDI (port A = 0).
        30:28 TRANS_DDI_PORT_MASK,
        /// HDMI, DVI, DP SST (2), DP MST, FDI.
        26:24 TRANS_DDI_MODE_SELECT_MASK,
        /// Bits per colour (8 bpc = 0).
        22:20 TRANS_DDI_BPC_MASK,
        /// Positive vertical sync.
        17:17 TRANS_DDI_PVSYNC,
        /// Positive horizontal sync.
        16:16 TRANS_DDI_PHSYNC,
        /// Which pipe feeds transcoder EDP.
        14:12 TRANS_DDI_EDP_INPUT_MASK,
        /// DP lanes minus one.
        3:1 TRANS_DDI_PORT_WIDTH_MASK,
    };
    /// DDI buffer control.
    DDI_BUF_CTL @ 0x64000 {
        /// Buffer enabled.
        31:31 DDI_BUF_CTL_ENABLE,
        /// The buffer is idle (follows !enable).
        7:7 DDI_BUF_IS_IDLE,
        /// Lanes minus one (4 lanes = 3).
        3:1 DDI_PORT_WIDTH_MASK,
        /// Firmware found a display on port A.
        0:0 DDI_INIT_DISPLAY_DETECTED,
    };
    /// DisplayPort transport control.
    DP_TP_CTL @ 0x64040 {
        /// Transport enabled.
        31:31 DP_TP_CTL_ENABLE,
        /// Enhanced framing.
        18:18 DP_TP_CTL_ENHANCED_FRAME_ENABLE,
        /// Training pattern 1, 2, idle (2), normal (3), ...
        10:8 DP_TP_CTL_LINK_TRAIN_MASK,
    };
    /// DisplayPort transport status.
    DP_TP_STATUS @ 0x64044 {
        /// Idle patterns sent (after DP_TP_CTL chose the idle pattern).
        25:25 DP_TP_STATUS_IDLE_DONE,
    };
    /// AUX channel control (AUX A; +0x100 per channel).
    DP_AUX_CH_CTL @ 0x64010 {
        /// Written 1 to send; cleared when the reply is in.
        31:31 DP_AUX_CH_CTL_SEND_BUSY,
        /// The transaction finished (write 1 to clear).
        30:30 DP_AUX_CH_CTL_DONE,
        /// Raise the AUX interrupt when done.
        29:29 DP_AUX_CH_CTL_INTERRUPT,
        /// No reply (write 1 to clear).
        28:28 DP_AUX_CH_CTL_TIME_OUT_ERROR,
        /// Garbled reply (write 1 to clear).
        25:25 DP_AUX_CH_CTL_RECEIVE_ERROR,
        /// Bytes to send, then bytes received.
        24:20 DP_AUX_CH_CTL_MESSAGE_SIZE_MASK,
    };
    /// First of the five AUX data registers (bytes most significant first).
    DP_AUX_CH_DATA @ 0x64014;
    /// GMBUS pin and rate select.
    GMBUS0 @ 0xc5100 { 2:0 GMBUS_PIN_SEL_MASK };
    /// GMBUS command.
    GMBUS1 @ 0xc5104 {
        /// Clear the interrupt / reset the controller.
        31:31 GMBUS_SW_CLR_INT,
        /// Software ready: start the cycle.
        30:30 GMBUS_SW_RDY,
        /// Bus cycle: wait (1), index (2), stop (4), combined.
        27:25 GMBUS_CYCLE_MASK,
        /// Total bytes to transfer.
        24:16 GMBUS_BYTE_COUNT_MASK,
        /// Index (register offset in the target).
        15:8 GMBUS_SLAVE_INDEX_MASK,
        /// 7-bit target address.
        7:1 GMBUS_SLAVE_ADDR_MASK,
        /// Read (1) or write (0).
        0:0 GMBUS_SLAVE_READ,
    };
    /// GMBUS status.
    GMBUS2 @ 0xc5108 {
        /// The controller is claimed (set by a read, cleared by writing 1).
        15:15 GMBUS_INUSE,
        /// The cycle ended in its wait phase.
        14:14 GMBUS_HW_WAIT_PHASE,
        /// Interrupt status.
        12:12 GMBUS_INT,
        /// Ready for the next four data bytes.
        11:11 GMBUS_HW_RDY,
        /// The target did not acknowledge.
        10:10 GMBUS_SATOER,
        /// A cycle is in progress.
        9:9 GMBUS_ACTIVE,
    };
    /// GMBUS data (four bytes, least significant first).
    GMBUS3 @ 0xc510c;
    /// Universal plane control (plane 1 of pipe A: the primary).
    PLANE_CTL @ 0x70180 {
        /// Plane enabled.
        31:31 PLANE_CTL_ENABLE,
        /// Pixel format (pre-ICL encoding).
        27:24 PLANE_CTL_FORMAT_MASK_SKL,
        /// RGB component order: RGBX instead of BGRX.
        20:20 PLANE_CTL_ORDER_RGBX,
        /// YUV 4:2:2 byte order.
        17:16 PLANE_CTL_YUV422_ORDER_MASK,
        /// Render compression (needs an auxiliary surface).
        15:15 PLANE_CTL_RENDER_DECOMPRESSION_ENABLE,
        /// Linear, X, Y or Yf tiling.
        12:10 PLANE_CTL_TILED_MASK,
        /// Flip at once instead of at vblank.
        9:9 PLANE_CTL_ASYNC_FLIP,
        /// Alpha blending mode.
        5:4 PLANE_CTL_ALPHA_MASK,
        /// Rotation.
        1:0 PLANE_CTL_ROTATE_MASK,
    };
    /// Plane stride, in 64-byte (linear) or tile-row units.
    PLANE_STRIDE @ 0x70188 { 11:0 PLANE_STRIDE__MASK };
    /// Plane position on the pipe.
    PLANE_POS @ 0x7018c { 31:16 PLANE_POS_Y_MASK, 15:0 PLANE_POS_X_MASK };
    /// Plane size, minus one each.
    PLANE_SIZE @ 0x70190 { 31:16 PLANE_HEIGHT_MASK, 15:0 PLANE_WIDTH_MASK };
    /// Surface base address (a write arms the update of all plane registers).
    PLANE_SURF @ 0x7019c { 31:12 PLANE_SURF_ADDR_MASK };
    /// Start of the visible area inside the surface.
    PLANE_OFFSET @ 0x701a4 { 31:16 PLANE_OFFSET_Y_MASK, 15:0 PLANE_OFFSET_X_MASK };
    /// Surface address being scanned out.
    PLANE_SURFLIVE @ 0x701ac;
    /// Auxiliary surface offset, the last of a plane's registers a direct-display owner writes.
    PLANE_AUX_OFFSET @ 0x701c4;
    /// Cursor control; the mode is bits 5 and 2:0 (`MCURSOR_MODE_MASK`).
    CURCNTR @ 0x70080;
    /// Cursor surface base.
    CURBASE @ 0x70084 { 31:12 CURSOR_BASE_MASK };
    /// Cursor position: sign and magnitude per axis.
    CURPOS @ 0x70088 {
        /// Y is negative.
        31:31 CURSOR_POS_Y_SIGN,
        /// |Y|.
        30:16 CURSOR_POS_Y_MASK,
        /// X is negative.
        15:15 CURSOR_POS_X_SIGN,
        /// |X|.
        14:0 CURSOR_POS_X_MASK,
    };
    /// Cursor surface being scanned out.
    CURSURFLIVE @ 0x700ac;
    /// Display engine port interrupt status (live hotplug state on BXT).
    GEN8_DE_PORT_ISR @ 0x44440 {
        /// DDI A hotplug.
        3:3 BXT_DE_PORT_HP_DDIA,
        /// DDI B hotplug.
        4:4 BXT_DE_PORT_HP_DDIB,
        /// DDI C hotplug.
        5:5 BXT_DE_PORT_HP_DDIC,
    };
    /// Display strap fuses: which DDIs have a display.
    SFUSE_STRAP @ 0xc2014 {
        /// The PCH raw clock: set 24 MHz, clear 19.2 MHz (read on a Cannon Point PCH).
        8:8 SFUSE_STRAP_RAW_FREQUENCY,
        /// DDI B detected.
        2:2 SFUSE_STRAP_DDIB_DETECTED,
        /// DDI C detected.
        1:1 SFUSE_STRAP_DDIC_DETECTED,
        /// DDI D detected.
        0:0 SFUSE_STRAP_DDID_DETECTED,
    };
    /// The PCH raw clock in MHz (Sunrise Point reads it; Cannon Point writes it).
    PCH_RAWCLK_FREQ @ 0xc6204;
    /// South (or BXT) hotplug control.
    PCH_PORT_HOTPLUG @ 0xc4030 {
        /// Port A detection on.
        28:28 PORTA_HOTPLUG_ENABLE,
        /// BXT: port A HPD inverted.
        27:27 BXT_DDIA_HPD_INVERT,
        /// Port A pulse: short 1, long 2.
        25:24 PORTA_HOTPLUG_STATUS_MASK,
        /// Port D detection on.
        20:20 PORTD_HOTPLUG_ENABLE,
        /// Port D pulse.
        17:16 PORTD_HOTPLUG_STATUS_MASK,
        /// Port C detection on.
        12:12 PORTC_HOTPLUG_ENABLE,
        /// BXT: port C HPD inverted.
        11:11 BXT_DDIC_HPD_INVERT,
        /// Port C pulse.
        9:8 PORTC_HOTPLUG_STATUS_MASK,
        /// Port B detection on.
        4:4 PORTB_HOTPLUG_ENABLE,
        /// BXT: port B HPD inverted.
        3:3 BXT_DDIB_HPD_INVERT,
        /// Port B pulse.
        1:0 PORTB_HOTPLUG_STATUS_MASK,
    };
    /// BXT port PLL enable (port A; +4 per port).
    BXT_PORT_PLL_ENABLE @ 0x46074 {
        /// PLL enabled.
        31:31 PORT_PLL_ENABLE,
        /// PLL locked.
        30:30 PORT_PLL_LOCK,
        /// Reference clock select.
        27:27 PORT_PLL_REF_SEL,
        /// PLL power requested.
        26:26 PORT_PLL_POWER_ENABLE,
        /// PLL powered.
        25:25 PORT_PLL_POWER_STATE,
    };
    /// BXT DDI PHY control (port A; +0x10 per port).
    BXT_PHY_CTL @ 0x64c00 {
        /// Common lane powered down.
        10:10 BXT_PHY_CMNLANE_POWERDOWN_ACK,
        /// Data lanes powered down.
        9:9 BXT_PHY_LANE_POWERDOWN_ACK,
        /// Data lanes enabled.
        8:8 BXT_PHY_LANE_ENABLED,
    };
    /// SKL DPLL link rates and overrides (6 bits per DPLL).
    DPLL_CTRL1 @ 0x6c058;
    /// SKL DDI clock routing (DDI clock off at 15 + port; select and override 3 bits per port).
    DPLL_CTRL2 @ 0x6c05c;
    /// CD clock control.
    CDCLK_CTL @ 0x46000 {
        /// SKL: frequency select (675/617 MHz = 3).
        27:26 CDCLK_FREQ_SEL_MASK,
        /// BXT: CD2X divider (1 = 0, 1.5, 2, 4).
        23:22 BXT_CDCLK_CD2X_DIV_SEL_MASK,
        /// BXT: pipe the divider change syncs to (none = 3).
        21:20 BXT_CDCLK_CD2X_PIPE_MASK,
        /// BXT: SSA precharge, on at 500 MHz and above.
        16:16 BXT_CDCLK_SSA_PRECHARGE_ENABLE,
        /// The frequency in MHz minus one, in halves (`skl_cdclk_decimal`).
        10:0 CDCLK_FREQ_DECIMAL_MASK,
    };
    /// BXT display engine (CD clock) PLL ratio to the 19.2 MHz reference.
    BXT_DE_PLL_CTL @ 0x6d000 { 7:0 BXT_DE_PLL_RATIO_MASK };
    /// BXT port B PLL (PHY0 channel 0) post dividers.
    PORT_PLL_EBB_0_B @ 0x6c034 { 15:13 PORT_PLL_P1_MASK, 12:8 PORT_PLL_P2_MASK };
    /// BXT port B PLL: recalibrate and 10-bit clock.
    PORT_PLL_EBB_4_B @ 0x6c038 { 14:14 PORT_PLL_RECALIBRATE, 13:13 PORT_PLL_10BIT_CLK_ENABLE };
    /// BXT port B PLL dword 0 (`BXT_PORT_PLL(phy, ch, 0)`): M2 integer part.
    PORT_PLL_0_B @ 0x6c100 { 7:0 PORT_PLL_M2_INT_MASK };
    /// BXT port B PLL dword 1: N.
    PORT_PLL_1_B @ 0x6c104 { 11:8 PORT_PLL_N_MASK };
    /// BXT port B PLL dword 2: M2 fraction (22 bits).
    PORT_PLL_2_B @ 0x6c108 { 21:0 PORT_PLL_M2_FRAC_MASK };
    /// BXT port B PLL dword 3: M2 fraction enable.
    PORT_PLL_3_B @ 0x6c10c { 16:16 PORT_PLL_M2_FRAC_ENABLE };
    /// BXT port B PLL dword 6: loop filter coefficients.
    PORT_PLL_6_B @ 0x6c118 { 18:16 PORT_PLL_GAIN_CTL_MASK, 12:8 PORT_PLL_INT_COEFF_MASK, 3:0 PORT_PLL_PROP_COEFF_MASK };
    /// BXT port B PLL dword 8: calibration target count.
    PORT_PLL_8_B @ 0x6c120 { 9:0 PORT_PLL_TARGET_CNT_MASK };
    /// BXT port B PLL dword 9: lock threshold.
    PORT_PLL_9_B @ 0x6c124 { 3:1 PORT_PLL_LOCK_THRESHOLD_MASK };
    /// BXT port B PLL dword 10: DCO amplitude.
    PORT_PLL_10_B @ 0x6c128 { 27:27 PORT_PLL_DCO_AMP_OVR_EN_H, 13:10 PORT_PLL_DCO_AMP_MASK };
    /// BXT port B PCS DW12, lanes 0/1: lane stagger.
    PORT_PCS_DW12_LN01_B @ 0x6c430 { 6:6 LANESTAGGER_STRAP_OVRD, 4:0 LANE_STAGGER_MASK };
    /// BXT port B PCS DW12, lanes 2/3.
    PORT_PCS_DW12_LN23_B @ 0x6c630;
    /// BXT port B TX DW14, lane 0 (`bxt_lane_reg` for the others): latency optimization.
    PORT_TX_DW14_LN0_B @ 0x6c538 { 30:30 LATENCY_OPTIM };
    /// eDP panel self refresh interrupt mask.
    EDP_PSR_IMR @ 0x64834;
    /// eDP panel self refresh interrupt identity.
    EDP_PSR_IIR @ 0x64838;
    /// The first of the PCH's GPIO (DDC bit-banging) control registers (six).
    PCH_GPIO_BASE @ 0xc5010;
}

/// CURCNTR: the cursor mode bits (5 and 2:0).
pub const MCURSOR_MODE_MASK: u32 = 0x27;
/// CURCNTR mode: 64x64 ARGB.
pub const MCURSOR_MODE_64_ARGB_AX: u32 = 0x27;
/// CURCNTR mode: 64x64 32bpp AND/XOR.
pub const MCURSOR_MODE_64_32B_AX: u32 = 0x07;
/// CURCNTR mode: 128x128 ARGB.
pub const MCURSOR_MODE_128_ARGB_AX: u32 = 0x22;
/// CURCNTR mode: 256x256 ARGB.
pub const MCURSOR_MODE_256_ARGB_AX: u32 = 0x23;
/// TRANS_DDI_FUNC_CTL mode: DisplayPort SST.
pub const TRANS_DDI_MODE_SELECT_DP_SST: u32 = 2;
/// DP_TP_CTL training pattern: idle.
pub const DP_TP_CTL_LINK_TRAIN_IDLE: u32 = 2;
/// DP_TP_STATUS bits that are write-1-to-clear.
pub const DP_TP_STATUS_STICKY: u32 = (3 << 26) | (1 << 24);
/// SDEISR: port D hotplug (CPT and later PCHs).
pub const SDE_PORTD_HOTPLUG_CPT: u32 = 1 << 23;
/// SDEISR: ports B, C, D hotplug.
pub const SDE_HOTPLUG_MASK_CPT: u32 = (1 << 21) | (1 << 22) | (1 << 23);
/// SDEISR: ports A and E hotplug (SPT).
pub const SDE_HOTPLUG_AE_SPT: u32 = (1 << 24) | (1 << 25);
/// BXT_P_CR_GT_DISP_PWRON: PHY0 (DDI B/C) power.
pub const GT_DISP_PWRON_PHY0: u32 = 1 << 0;
/// BXT_PORT_CL1CM_DW0: PHY power good.
pub const PHY_POWER_GOOD: u32 = 1 << 16;
/// BXT PHY family control: PHY powered (bit 30).
pub const PHY_FAMILY_POWER_STATE: u32 = 1 << 30;
/// BXT_PORT_CL1CM_DW0 of PHY0 and PHY1.
pub const BXT_PORT_CL1CM_DW0: [u32; 2] = [0x6c000, 0x162000];
/// BXT_PHY_CTL_FAMILY of PHY0 and PHY1.
pub const BXT_PHY_CTL_FAMILY: [u32; 2] = [0x64c90, 0x64c80];
/// BXT_P_CR_GT_DISP_PWRON.
pub const BXT_P_CR_GT_DISP_PWRON: u32 = 0x138090;
/// DP_TP_CTL training pattern: normal (link trained).
pub const DP_TP_CTL_LINK_TRAIN_NORMAL: u32 = 3;
/// SKL DPLL_CTRL1 field of DPLL `id`: override (bit 0), link rate (3:1), SSC (4), HDMI (5).
pub const fn dpll_ctrl1_shift(id: u32) -> u32 {
    id.wrapping_mul(6)
}
/// SKL DPLL_CTRL1: the DPLL's own link rate is used (`DPLL_CTRL1_OVERRIDE`).
pub const DPLL_CTRL1_OVERRIDE: u32 = 1;
/// SKL DPLL_CTRL1 link rate codes (`DPLL_CTRL1_LINK_RATE_*`): 810 MHz for RBR.
pub const DPLL_CTRL1_LINK_RATE_810: u32 = 2;
/// 1350 MHz, for HBR.
pub const DPLL_CTRL1_LINK_RATE_1350: u32 = 1;
/// 2700 MHz, for HBR2.
pub const DPLL_CTRL1_LINK_RATE_2700: u32 = 0;
/// Transcoder EDP's TRANSCONF.
pub const TRANSCONF_EDP: u32 = 0x7f008;
/// Transcoder EDP's TRANS_DDI_FUNC_CTL.
pub const TRANS_DDI_FUNC_CTL_EDP: u32 = 0x6f400;

/// BXT DDI PHY lane register `first` (lane 0's) for `lane` 0-3 (`_BXT_LANE_OFFSET`).
pub const fn bxt_lane_reg(first: u32, lane: u32) -> u32 {
    first
        .wrapping_add((lane >> 1).wrapping_mul(0x200))
        .wrapping_add((lane & 1).wrapping_mul(0x80))
}

/// Offset of a per-pipe (or per-transcoder A-C) register for `pipe` (0-2).
pub const fn pipe_reg(first: u32, pipe: u32) -> u32 {
    first.wrapping_add(pipe.wrapping_mul(0x1000))
}

/// Offset of a universal plane register for `pipe` (0-2) and plane index `plane` (0 = plane 1).
pub const fn plane_reg(first: u32, pipe: u32, plane: u32) -> u32 {
    pipe_reg(first, pipe).wrapping_add(plane.wrapping_mul(0x100))
}

/// Offset of a per-port DDI register (DDI_BUF_CTL, DP_TP_*, DP_AUX_CH_*) for port index `port`.
pub const fn port_reg(first: u32, port: u32) -> u32 {
    first.wrapping_add(port.wrapping_mul(0x100))
}
