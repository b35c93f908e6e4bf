//! Skylake (Gen9): HD Graphics 510-580. Its display, clocks and GT2 fuses are also Kaby
//! Lake's, Coffee Lake's and Comet Lake's, whose files take them from here.

use super::{DeviceIds, Display, Hw, Pcode, Phy, Platform, SimPart};
use crate::model::display::regs::{CDCLK_CTL, DPLL_CTRL1, PCH_RAWCLK_FREQ, SFUSE_STRAP};
use crate::model::mmio_table::D_SKL;
use crate::model::regs::{
    CTC_MODE, GEN8_FUSE2, HSW_PWR_WELL_CTL2, LCPLL1_CTL, SKL_MAD_DIMM_CH0_0_0_0_MCHBAR_MCMAIN,
    SKL_MAD_DIMM_CH1_0_0_0_MCHBAR_MCMAIN, SKL_MAD_INTER_CHANNEL_0_0_0_MCHBAR_MCMAIN,
};
use crate::model::vgpu_type::VGPU_TYPES;

/// `INTEL_SKL_IDS`, by GT level.
const IDS: DeviceIds = &[
    (
        1,
        &[
            0x1906, 0x1913, 0x190E, 0x1915, 0x1902, 0x190A, 0x190B, 0x1917,
        ],
    ),
    (2, &[0x1916, 0x1921, 0x191E, 0x1912, 0x191A, 0x191B, 0x191D]),
    (3, &[0x1923, 0x1926, 0x1927, 0x192A, 0x192B, 0x192D]),
    (4, &[0x1932, 0x193A, 0x193B, 0x193D]),
];

/// The display of the Gen9 big cores: DDIs clocked by DPLL0-3, a Sunrise Point (or Cannon
/// Point) PCH for hotplug, the virtual monitor on DDI D as upstream GVT-g puts it.
pub(super) const DISPLAY: Display = Display {
    phy: Phy::Ddi,
    // skl_calc_cdclk's top: 675 MHz (8.1 GHz VCO / 12).
    cdclk_khz: 675_000,
    // Two sprites on every pipe (i915_pci.c, GEN9_DISPLAY).
    planes: [3, 3, 3],
    monitor_port: 3,
    // GMBUS_PIN_DPB/DPC/DPD on a Sunrise Point PCH (gmbus_pins_skl, intel_gmbus.c).
    gmbus_pins: &[(5, 1), (4, 2), (6, 3)],
    // PW2, PW1, then the DDI D, C, B, A/E and MISC IO wells (SKL_PW_CTL_IDX_*: request bit
    // 2 * index + 1).
    power_well_requests: (1 << 31)
        | (1 << 29)
        | (1 << 9)
        | (1 << 7)
        | (1 << 5)
        | (1 << 3)
        | (1 << 1),
};

/// Upstream GVT-g's mailbox_write: latencies read from a Skylake board, given on every big
/// core; the CD clock change handshake; and SAGV, which upstream leaves unanswered, so that
/// its Kaby Lake guests log "Failed to disable SAGV (-110)" (intel-gvt-dev, 2021), and 6.12's
/// `intel_sagv_init` then warns as well (skl_watermark.c).
pub(super) const PCODE: Pcode = Pcode {
    mem_latency: [0x1e1a_1100, 0x6151_4b3d],
    cdclk_control: true,
    sagv: true,
};

/// A GT2's fuses: 1 slice, 3 of the 4 possible subslices (GEN9_F2_SS_DIS = 0b1000), 8 EUs
/// each, 24 in all, as HD 530 / HD 630 / UHD 630 (Intel ARK; gen9_sseu_info_init).
pub(super) const GT2: &[(u32, u32)] = &[(
    GEN8_FUSE2::OFFSET,
    GEN8_FUSE2(0)
        .with(GEN8_FUSE2::GEN8_F2_S_ENA, 1)
        .with(GEN8_FUSE2::GEN9_F2_SS_DIS, 0b1000)
        .0,
)];

/// The memory controller of a desktop with two 8 GiB single-rank DDR4 DIMMs, x8 devices of
/// 8 Gbit, one per channel: what `skl_get_dram_info` (soc/intel_dram.c) decodes as a
/// symmetric two-channel system, so no watermark workaround applies and IPC stays possible.
/// Constructed from i915's decode; no public dump found.
pub(super) const MEMORY: &[(u32, u32)] = {
    use SKL_MAD_DIMM_CH0_0_0_0_MCHBAR_MCMAIN as Dimm;
    // DIMM L: 8 GB, x8 (width 0), one rank; DIMM S empty.
    let dimm = Dimm(0).with(Dimm::SKL_DRAM_SIZE, 8).0;
    &[
        // DDR4: SKL_DRAM_DDR_TYPE 0.
        (SKL_MAD_INTER_CHANNEL_0_0_0_MCHBAR_MCMAIN::OFFSET, 0),
        (Dimm::OFFSET, dimm),
        (SKL_MAD_DIMM_CH1_0_0_0_MCHBAR_MCMAIN::OFFSET, dimm),
    ]
};

/// The display state a host that lit DDI D leaves, beyond the common snapshot.
pub(super) const DISPLAY_STATE: &[(u32, u32)] = &[
    // PW2, PW1, DDI D IO and MISC IO requested and on (SKL_PW_CTL_IDX_*: request bit
    // 2 * index + 1, state bit 2 * index; hsw_wait_for_power_well_enable polls each state).
    (HSW_PWR_WELL_CTL2::OFFSET, 0xf000_0303),
    // DDI D detected; the PCH raw clock at 24 MHz, which cnp_rawclk reads on a Cannon Point
    // PCH and nothing reads on Sunrise Point.
    (
        SFUSE_STRAP::OFFSET,
        SFUSE_STRAP(0)
            .with(SFUSE_STRAP::SFUSE_STRAP_DDID_DETECTED, 1)
            .with(SFUSE_STRAP::SFUSE_STRAP_RAW_FREQUENCY, 1)
            .0,
    ),
    // 24 MHz, what pch_rawclk reads on Sunrise Point (a Cannon Point guest writes it).
    (PCH_RAWCLK_FREQ::OFFSET, 24),
];

/// The clocks firmware leaves (see `display::firmware::cdclk_init`).
pub(super) const CLOCKS: &[(u32, u32)] = &[
    // The crystal, shift 2: the 24 MHz crystal >> 1 (gen9_read_clock_frequency,
    // gt/intel_gt_clock_utils.c), the 12 MHz Skylake's command streamers count at.
    (
        CTC_MODE::OFFSET,
        CTC_MODE(0).with(CTC_MODE::CTC_SHIFT_PARAMETER_MASK, 2).0,
    ),
    (CDCLK_CTL::OFFSET, 0x0c00_0544), // 675 MHz selected, decimal 675
    (
        LCPLL1_CTL::OFFSET,
        LCPLL1_CTL::LCPLL_PLL_ENABLE.mask() | LCPLL1_CTL::LCPLL_PLL_LOCK.mask(),
    ), // DPLL0
    (DPLL_CTRL1::OFFSET, 0x0000_0005), // DPLL0 overridden at link rate 810 (8.1 GHz VCO)
];

/// The timestamp rate [`CLOCKS`] describes.
pub(super) const TIMESTAMP_HZ: u64 = 12_000_000;

/// Fence registers: 32 on every Gen7+ GPU but Valleyview (i915's `intel_ggtt_init_fences`).
pub(super) const FENCES: u32 = 32;

/// Skylake.
pub(super) const HW: Hw = Hw {
    platform: Platform::Skylake,
    name: "skl",
    ids: IDS,
    lp: false,
    mmio_bit: D_SKL,
    gfx_mode_refused: 1 << 0,
    fences: FENCES,
    timestamp_hz: TIMESTAMP_HZ,
    display: DISPLAY,
    pcode: PCODE,
    golden: &[GT2, MEMORY, DISPLAY_STATE, CLOCKS],
    // Upstream's Gen9 types and ours (vgpu_type.rs).
    types: &VGPU_TYPES,
    // HD Graphics 530 (desktop GT2), revision 06 (SKL_REVID_G0 in i915's skl_revids).
    sim: SimPart {
        device: 0x1912,
        revision: 0x06,
    },
};
