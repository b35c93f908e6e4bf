//! Comet Lake (Gen9.5): UHD Graphics 610-630 on 10th-generation Core. To the device model it is
//! a Coffee Lake with its own ids: same PCH family, same register rows (`D_CFL`), same
//! `GFX_MODE` rule.

use super::{cfl, skl, DeviceIds, Hw, Platform, SimPart};
use crate::model::mmio_table::D_CFL;
use crate::model::vgpu_type::VGPU_TYPES;

/// `INTEL_CML_IDS`, by GT level.
const IDS: DeviceIds = &[
    (1, &[0x9BA2, 0x9BA4, 0x9BA5, 0x9BA8, 0x9B21, 0x9BAA, 0x9BAC]),
    (
        2,
        &[
            0x9BC2, 0x9BC4, 0x9BC5, 0x9BC6, 0x9BC8, 0x9BE6, 0x9BF6, 0x9B41, 0x9BCA, 0x9BCC,
        ],
    ),
];

/// Comet Lake.
pub(super) const HW: Hw = Hw {
    platform: Platform::CometLake,
    name: "cml",
    ids: IDS,
    lp: false,
    mmio_bit: D_CFL,
    gfx_mode_refused: cfl::GFX_MODE_REFUSED,
    fences: skl::FENCES,
    timestamp_hz: skl::TIMESTAMP_HZ,
    display: cfl::DISPLAY,
    pcode: skl::PCODE,
    golden: &[skl::GT2, skl::MEMORY, skl::DISPLAY_STATE, skl::CLOCKS],
    types: &VGPU_TYPES,
    // UHD Graphics 630 (desktop CML-S GT2). No stepping table for Comet Lake in i915 either.
    sim: SimPart {
        device: 0x9BC5,
        revision: 0x00,
    },
};
