//! Kaby Lake (Gen9.5): HD Graphics 610-650, with Amber Lake's KBL-based ids. To the device
//! model it is a Skylake with its own register rows (upstream's `D_KBL`).

use super::{skl, DeviceIds, Hw, Platform, SimPart};
use crate::model::mmio_table::D_KBL;
use crate::model::vgpu_type::VGPU_TYPES;

/// `INTEL_KBL_IDS` (with `INTEL_AML_KBL_GT2_IDS`), by GT level.
const IDS: DeviceIds = &[
    (
        1,
        &[
            0x5906, 0x5913, 0x590E, 0x5915, 0x5902, 0x5908, 0x590A, 0x590B,
        ],
    ),
    (
        2,
        &[
            0x5916, 0x5921, 0x591E, 0x5912, 0x5917, 0x591A, 0x591B, 0x591D, 0x591C, 0x87C0,
        ],
    ),
    (3, &[0x5926, 0x5923, 0x5927]),
    (4, &[0x593B]),
];

/// Kaby Lake.
pub(super) const HW: Hw = Hw {
    platform: Platform::KabyLake,
    name: "kbl",
    ids: IDS,
    lp: false,
    mmio_bit: D_KBL,
    gfx_mode_refused: 1 << 0,
    fences: skl::FENCES,
    timestamp_hz: skl::TIMESTAMP_HZ,
    display: skl::DISPLAY,
    pcode: skl::PCODE,
    golden: &[skl::GT2, skl::MEMORY, skl::DISPLAY_STATE, skl::CLOCKS],
    types: &VGPU_TYPES,
    // HD Graphics 630 (desktop GT2), revision 04 (KBL_REVID_C0 in i915's kbl_revids).
    sim: SimPart {
        device: 0x5912,
        revision: 0x04,
    },
};
