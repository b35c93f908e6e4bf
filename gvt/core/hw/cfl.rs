//! Coffee Lake (Gen9.5): UHD Graphics 610-630 and Iris Plus 655, with Whiskey Lake's and Amber
//! Lake's CFL-based as i915 groups them. Its GT is Kaby Lake's; what differs is the
//! Cannon Point PCH (GMBUS pins) and one more `GFX_MODE` bit a guest must not set (upstream's
//! `ring_mode_mmio_write`). Upstream GVT-g serves it and Comet Lake under one mask, `D_CFL`.

use super::{skl, DeviceIds, Display, Hw, Platform, SimPart};
use crate::model::mmio_table::D_CFL;
use crate::model::vgpu_type::VGPU_TYPES;

/// `INTEL_CFL_IDS` (with `INTEL_AML_CFL_GT2_IDS`) and `INTEL_WHL_IDS`, by GT level.
const IDS: DeviceIds = &[
    (1, &[0x3E90, 0x3E93, 0x3E99, 0x3E9C, 0x3EA1, 0x3EA4]),
    (
        2,
        &[
            0x3E91, 0x3E92, 0x3E96, 0x3E98, 0x3E9A, 0x3E94, 0x3E9B, 0x3EA9, 0x87CA, 0x3EA0, 0x3EA3,
        ],
    ),
    (3, &[0x3EA5, 0x3EA6, 0x3EA7, 0x3EA8, 0x3EA2]),
];

/// The big-core display behind a Cannon Point PCH: GMBUS_PIN_1_BXT and _2_BXT reach DDI B and
/// C, GMBUS_PIN_4_CNP DDI D (gmbus_pins_cnp, intel_gmbus.c; upstream GVT-g's
/// cnp_get_port_from_gmbus0).
pub(super) const DISPLAY: Display = Display {
    gmbus_pins: &[(1, 1), (2, 2), (4, 3)],
    ..skl::DISPLAY
};

/// Bits 0 and 1 of `GFX_MODE`: upstream refuses the second one on Coffee and Comet Lake only.
pub(super) const GFX_MODE_REFUSED: u32 = (1 << 0) | (1 << 1);

/// Coffee Lake.
pub(super) const HW: Hw = Hw {
    platform: Platform::CoffeeLake,
    name: "cfl",
    ids: IDS,
    lp: false,
    mmio_bit: D_CFL,
    gfx_mode_refused: GFX_MODE_REFUSED,
    fences: skl::FENCES,
    timestamp_hz: skl::TIMESTAMP_HZ,
    display: DISPLAY,
    pcode: skl::PCODE,
    golden: &[skl::GT2, skl::MEMORY, skl::DISPLAY_STATE, skl::CLOCKS],
    types: &VGPU_TYPES,
    // UHD Graphics 630 (desktop CFL-S GT2). i915 keeps no stepping table for Coffee Lake
    // (intel_step.c), so the revision only has to be plausible.
    sim: SimPart {
        device: 0x3E92,
        revision: 0x00,
    },
};
