//! Broxton / Apollo Lake (Gen9 LP): HD Graphics 500 and 505, the ACRN target.

use super::{skl, DeviceIds, Display, Hw, Pcode, Phy, Platform, SimPart};
use crate::model::display::regs::{BXT_DE_PLL_CTL, CDCLK_CTL, SFUSE_STRAP};
use crate::model::mmio_table::D_BXT;
use crate::model::regs::{
    BXT_DE_PLL_ENABLE, BXT_D_CR_DRP0_DUNIT8, BXT_PHY_CTL_DDI_A, BXT_PHY_CTL_DDI_B,
    BXT_PORT_CL1CM_DW0_A, BXT_PORT_CL1CM_DW0_BC, BXT_PORT_PLL_ENABLE_A, BXT_PORT_REF_DW3_A,
    BXT_PORT_REF_DW6_A, BXT_P_CR_GT_DISP_PWRON, CTC_MODE, GEN8_FUSE2, GEN9_EU_DISABLE0,
    PHY_CTL_FAMILY_DDI, PHY_CTL_FAMILY_EDP,
};
use crate::model::vgpu_type::VGPU_TYPES;

/// `INTEL_BXT_IDS`. i915 grades no GT level on Broxton.
const IDS: DeviceIds = &[(0, &[0x0A84, 0x1A84, 0x1A85, 0x5A84, 0x5A85])];

/// The display and PHY state firmware leaves on an Apollo Lake board with a DP panel on DDI B:
/// DE PLL and port PLL A locked, both DPIO PHYs powered with their common lanes up. Decoded
/// as i915 6.12 reads it back (`bxt_get_cdclk`, `bxt_ddi_pll_get_hw_state`,
/// `bxt_ddi_phy_is_enabled` in display/intel_dpio_phy.c).
const DISPLAY: &[(u32, u32)] = &[
    (BXT_DE_PLL_ENABLE::OFFSET, 0xc000_0000), // enabled, locked
    (BXT_PORT_PLL_ENABLE_A::OFFSET, 0xc000_0000),
    (
        BXT_PHY_CTL_DDI_A::OFFSET,
        BXT_PHY_CTL_DDI_A::BXT_PHY_LANE_ENABLED.mask(),
    ),
    (
        BXT_PHY_CTL_DDI_B::OFFSET,
        BXT_PHY_CTL_DDI_A::BXT_PHY_LANE_ENABLED.mask(),
    ),
    (PHY_CTL_FAMILY_EDP::OFFSET, 0xc000_0000), // PHY1
    (PHY_CTL_FAMILY_DDI::OFFSET, 0xc000_0000), // PHY0
    (
        BXT_PORT_CL1CM_DW0_BC::OFFSET,
        BXT_PORT_CL1CM_DW0_BC::PHY_POWER_GOOD.mask(),
    ), // PHY0
    (
        BXT_PORT_CL1CM_DW0_A::OFFSET,
        BXT_PORT_CL1CM_DW0_BC::PHY_POWER_GOOD.mask(),
    ), // PHY1
    (BXT_P_CR_GT_DISP_PWRON::OFFSET, 0x0000_0003), // both PHYs powered
    (
        SFUSE_STRAP::OFFSET,
        SFUSE_STRAP(0)
            .with(SFUSE_STRAP::SFUSE_STRAP_DDIB_DETECTED, 1)
            .0,
    ),
    // The CD clock (see `display::firmware::cdclk_init`).
    (CDCLK_CTL::OFFSET, 0x0031_04de), // CD2X divider 1, no pipe, SSA precharge, 624 MHz
    (BXT_DE_PLL_CTL::OFFSET, 0x0000_0041), // ratio 65 (1248 MHz VCO off 19.2 MHz)
];

/// What an Apollo Lake's fuses, memory controller and PHY calibration report. Values follow
/// the decode in i915 6.12 (cited per line); where no public register dump of a real part was
/// found, the value is the one consistent with the part's published configuration, and says
/// so.
const PART: &[(u32, u32)] = &[
    // Slice 0 enabled (GEN8_F2_S_ENA, bits 27:25), no subslice disabled
    // (GEN9_F2_SS_DIS, 23:20): HD Graphics 505 is the full Broxton GT, 1 slice x 3 subslices
    // (gen9_sseu_info_init, intel_sseu.c; Intel ARK: HD 505 has 18 EUs).
    (
        GEN8_FUSE2::OFFSET,
        GEN8_FUSE2(0).with(GEN8_FUSE2::GEN8_F2_S_ENA, 1).0,
    ),
    // 2 of 8 EU bits off per subslice, 6 EUs each, 18 in all (HD 505);
    // which two is not public, the top pair is assumed.
    (GEN9_EU_DISABLE0::OFFSET, 0x00c0_c0c0),
    // BXT_D_CR_DRP0_DUNIT8..11 (one per channel, every 0x200): four LPDDR4 channels,
    // type 2 (bits 24:22), 4 Gbit devices (size 0, bits 8:6), x32 (width 2, bits 5:4), single
    // rank (1, bits 1:0). bxt_get_dram_info (soc/intel_dram.c) reads 2 devices x 4 Gbit = 1 GiB
    // per channel, 4 GiB in all: the common Apollo Lake configuration (4 x32 LPDDR4
    // channels). Constructed from i915's decode; no public dump found.
    (BXT_D_CR_DRP0_DUNIT8::OFFSET, 0x0080_0021),
    (BXT_D_CR_DRP0_DUNIT8::OFFSET + 0x200, 0x0080_0021),
    (BXT_D_CR_DRP0_DUNIT8::OFFSET + 0x400, 0x0080_0021),
    (BXT_D_CR_DRP0_DUNIT8::OFFSET + 0x600, 0x0080_0021),
    // PHY1's GRC calibration done, PHY1 being powered above.
    (
        BXT_PORT_REF_DW3_A::OFFSET,
        BXT_PORT_REF_DW3_A::GRC_DONE.mask(),
    ),
    // PHY1's calibrated GRC code (bits 31:24) i915 copies into PHY0
    // (_bxt_dpio_phy_init); a mid-scale code, no public dump found.
    (BXT_PORT_REF_DW6_A::OFFSET, 0x8200_0000),
    // Timestamps from the crystal (bit 0 clear), shift parameter (bits 2:1) 3, so a
    // guest's gen9_read_clock_frequency (gt/intel_gt_clock_utils.c) finds 19.2 MHz >> 0 (the
    // 19.2 MHz crystal of GEN9_LP), the rate Mesa and i915 perf give Broxton.
    (
        CTC_MODE::OFFSET,
        CTC_MODE(0).with(CTC_MODE::CTC_SHIFT_PARAMETER_MASK, 3).0,
    ),
];

/// Broxton.
pub(super) const HW: Hw = Hw {
    platform: Platform::Broxton,
    name: "bxt",
    ids: IDS,
    lp: true,
    mmio_bit: D_BXT,
    gfx_mode_refused: 1 << 0,
    fences: skl::FENCES,
    timestamp_hz: 19_200_000,
    display: Display {
        phy: Phy::Dpio,
        // bxt_calc_cdclk's top: 624 MHz off the 1248 MHz DE PLL.
        cdclk_khz: 624_000,
        // Three sprites on pipes A and B, two on C (RUNTIME_INFO num_sprites, i915_pci.c).
        planes: [4, 4, 3],
        monitor_port: 1,
        // GMBUS_PIN_1_BXT..GMBUS_PIN_3_BXT reach DDI B-D (gmbus_pins_bxt, intel_gmbus.c).
        gmbus_pins: &[(1, 1), (2, 2), (3, 3)],
        // PW2 and PW1 (SKL_PW_CTL_IDX_PW_2/1); Broxton has no DDI IO wells of its own.
        power_well_requests: (1 << 31) | (1 << 29),
    },
    // Upstream GVT-g's mailbox_write: latencies read from a Broxton board.
    pcode: Pcode {
        mem_latency: [0x1608_0707, 0x1616_1616],
        cdclk_control: false,
        sagv: false,
    },
    golden: &[DISPLAY, PART],
    // Upstream's Gen9 types and ours, as on every Gen9 GPU (vgpu_type.rs).
    types: &VGPU_TYPES,
    // HD Graphics 505, revision B0 (0x0B, what lspci shows on N4200 boards).
    sim: SimPart {
        device: 0x5A84,
        revision: 0x0B,
    },
};
