//! Broxton / Apollo Lake (Gen9 LP): HD Graphics 500 and 505, the ACRN target.

use super::{Display, Hw, Pcode, Phy, Platform, SimPart, DeviceIds};
use crate::model::mmio_table::D_BXT;

/// `INTEL_BXT_IDS`. i915 grades no GT level on Broxton.
const IDS: DeviceIds = &[(0, &[0x0A84, 0x1A84, 0x1A85, 0x5A84, 0x5A85])];

/// The display and PHY state firmware leaves on an Apollo Lake board with a DP panel on DDI B:
/// DE PLL and port PLL A locked, both DPIO PHYs powered with their common lanes up. Decoded
/// as i915 6.12 reads it back (`bxt_get_cdclk`, `bxt_ddi_pll_get_hw_state`,
/// `bxt_ddi_phy_is_enabled` in display/intel_dpio_phy.c).
const DISPLAY: &[(u32, u32)] = &[
    (0x46070, 0xc000_0000),  // BXT_DE_PLL_ENABLE: enabled, locked
    (0x46074, 0xc000_0000),  // BXT_PORT_PLL_ENABLE(A)
    (0x64c00, 0x0000_0100),  // BXT_PHY_CTL(A): lanes enabled
    (0x64c10, 0x0000_0100),  // BXT_PHY_CTL(B)
    (0x64c80, 0xc000_0000),  // BXT_PHY_CTL_FAMILY(PHY1)
    (0x64c90, 0xc000_0000),  // BXT_PHY_CTL_FAMILY(PHY0)
    (0x6c000, 0x0001_0000),  // BXT_PORT_CL1CM_DW0(PHY0): power good
    (0x162000, 0x0001_0000), // BXT_PORT_CL1CM_DW0(PHY1): power good
    (0x138090, 0x0000_0003), // BXT_P_CR_GT_DISP_PWRON: both PHYs powered
    (0xc2014, 0x0000_0004),  // SFUSE_STRAP: DDI B detected
    // The CD clock (see `display::firmware::cdclk_init`).
    (0x46000, 0x0031_04de), // CDCLK_CTL: CD2X divider 1, no pipe, SSA precharge, 624 MHz
    (0x6d000, 0x0000_0041), // BXT_DE_PLL_CTL: ratio 65 (1248 MHz VCO off 19.2 MHz)
];

/// What an Apollo Lake's fuses, memory controller and PHY calibration report. Values follow
/// the decode in i915 6.12 (cited per line); where no public register dump of a real part was
/// found, the value is the one consistent with the part's published configuration, and says
/// so.
const PART: &[(u32, u32)] = &[
    // GEN8_FUSE2: slice 0 enabled (GEN8_F2_S_ENA, bits 27:25), no subslice disabled
    // (GEN9_F2_SS_DIS, 23:20): HD Graphics 505 is the full Broxton GT, 1 slice x 3 subslices
    // (gen9_sseu_info_init, intel_sseu.c; Intel ARK: HD 505 has 18 EUs).
    (0x9120, 0x0200_0000),
    // GEN9_EU_DISABLE(0): 2 of 8 EU bits off per subslice, 6 EUs each, 18 in all (HD 505);
    // which two is not public, the top pair is assumed.
    (0x9134, 0x00c0_c0c0),
    // BXT_D_CR_DRP0_DUNIT8..11 (MCHBAR mirror + 0x1000 + ch * 0x200): four LPDDR4 channels,
    // type 2 (bits 24:22), 4 Gbit devices (size 0, bits 8:6), x32 (width 2, bits 5:4), single
    // rank (1, bits 1:0). bxt_get_dram_info (soc/intel_dram.c) reads 2 devices x 4 Gbit = 1 GiB
    // per channel, 4 GiB in all: the common Apollo Lake configuration (4 x32 LPDDR4
    // channels). Constructed from i915's decode; no public dump found.
    (0x141000, 0x0080_0021),
    (0x141200, 0x0080_0021),
    (0x141400, 0x0080_0021),
    (0x141600, 0x0080_0021),
    // BXT_PORT_REF_DW3(PHY1): GRC_DONE (bit 22), PHY1 being powered above.
    (0x16218c, 0x0040_0000),
    // BXT_PORT_REF_DW6(PHY1): the calibrated GRC code (bits 31:24) i915 copies into PHY0
    // (_bxt_dpio_phy_init); a mid-scale code, no public dump found.
    (0x162198, 0x8200_0000),
    // CTC_MODE: timestamps from the crystal (bit 0 clear), shift parameter (bits 2:1) 3, so a
    // guest's gen9_read_clock_frequency (gt/intel_gt_clock_utils.c) finds 19.2 MHz >> 0 (the
    // 19.2 MHz crystal of GEN9_LP), the rate Mesa and i915 perf give Broxton.
    (0xa26c, 0x0000_0006),
];

/// Broxton.
pub(super) const HW: Hw = Hw {
    platform: Platform::Broxton,
    name: "bxt",
    ids: IDS,
    lp: true,
    mmio_bit: D_BXT,
    gfx_mode_refused: 1 << 0,
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
    pcode: Pcode { mem_latency: [0x1608_0707, 0x1616_1616], cdclk_control: false, sagv: false },
    golden: &[DISPLAY, PART],
    // HD Graphics 505, revision B0 (0x0B, what lspci shows on N4200 boards).
    sim: SimPart { device: 0x5A84, revision: 0x0B },
};
