//! PVINFO: the page at MMIO 0x78000 that tells a guest i915 it runs on a vGPU (`struct vgt_if`
//! in i915_pvinfo.h). The guest reads its id, capabilities and ballooning ranges here, and
//! writes notifications back.

use super::mmio_table::PVINFO_BASE;

/// "vGTvGTvG".
pub const VGT_MAGIC: u64 = 0x4776_5447_7654_4776;
/// The guest supports and the vGPU requires full PPGTT.
pub const VGT_CAPS_FULL_PPGTT: u32 = 1 << 2;
/// The vGPU mirrors the CSB into the guest's hardware status page.
pub const VGT_CAPS_HWSP_EMULATION: u32 = 1 << 3;
/// The vGPU handles huge GTT pages.
pub const VGT_CAPS_HUGE_GTT: u32 = 1 << 4;

/// Offsets of the `vgt_if` fields in the MMIO window.
pub mod field {
    use super::PVINFO_BASE;
    /// `magic` (u64).
    pub const MAGIC: u32 = PVINFO_BASE;
    /// `version_major` (u16) and `version_minor` (u16, at +2).
    pub const VERSION: u32 = PVINFO_BASE + 0x8;
    /// `vgt_id`.
    pub const VGT_ID: u32 = PVINFO_BASE + 0xc;
    /// `vgt_caps`.
    pub const VGT_CAPS: u32 = PVINFO_BASE + 0x10;
    /// `avail_rs.mappable_gmadr.base`.
    pub const MAPPABLE_BASE: u32 = PVINFO_BASE + 0x40;
    /// `avail_rs.mappable_gmadr.size`.
    pub const MAPPABLE_SIZE: u32 = PVINFO_BASE + 0x44;
    /// `avail_rs.nonmappable_gmadr.base`.
    pub const NONMAPPABLE_BASE: u32 = PVINFO_BASE + 0x48;
    /// `avail_rs.nonmappable_gmadr.size`.
    pub const NONMAPPABLE_SIZE: u32 = PVINFO_BASE + 0x4c;
    /// `avail_rs.fence_num`.
    pub const FENCE_NUM: u32 = PVINFO_BASE + 0x50;
    /// `display_ready`.
    pub const DISPLAY_READY: u32 = PVINFO_BASE + 0x804;
    /// `rsv5[0]`: a guest write here means it lacks resources (failsafe).
    pub const RSV5: u32 = PVINFO_BASE + 0x808;
    /// `g2v_notify`.
    pub const G2V_NOTIFY: u32 = PVINFO_BASE + 0x818;
    /// `cursor_x_hot`.
    pub const CURSOR_X_HOT: u32 = PVINFO_BASE + 0x830;
    /// `cursor_y_hot`.
    pub const CURSOR_Y_HOT: u32 = PVINFO_BASE + 0x834;
    /// `pdp[0].lo`; four {lo, hi} pairs follow.
    pub const PDP0_LO: u32 = PVINFO_BASE + 0x838;
    /// `execlist_context_descriptor_lo`.
    pub const EXECLIST_DESC_LO: u32 = PVINFO_BASE + 0x858;
    /// `execlist_context_descriptor_hi`.
    pub const EXECLIST_DESC_HI: u32 = PVINFO_BASE + 0x85c;
}

/// Guest → host notifications written to `g2v_notify`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum G2vNotify {
    /// A 3-level PPGTT was created (roots in `pdp[]`).
    PpgttL3Create,
    /// A 3-level PPGTT was destroyed.
    PpgttL3Destroy,
    /// A 4-level PPGTT was created (PML4 in `pdp[0]`).
    PpgttL4Create,
    /// A 4-level PPGTT was destroyed.
    PpgttL4Destroy,
    /// An execlist context was created (ignored).
    ExeclistContextCreate,
    /// An execlist context was destroyed (ignored).
    ExeclistContextDestroy,
}

impl G2vNotify {
    /// Decodes a `g2v_notify` value.
    pub const fn from_u32(v: u32) -> Option<G2vNotify> {
        match v {
            2 => Some(G2vNotify::PpgttL3Create),
            3 => Some(G2vNotify::PpgttL3Destroy),
            4 => Some(G2vNotify::PpgttL4Create),
            5 => Some(G2vNotify::PpgttL4Destroy),
            6 => Some(G2vNotify::ExeclistContextCreate),
            7 => Some(G2vNotify::ExeclistContextDestroy),
            _ => None,
        }
    }
}

/// Whether a guest write at `offset` of the PVINFO page is one the guest may make.
pub fn guest_writable(offset: u32) -> bool {
    use field::*;
    matches!(
        offset,
        DISPLAY_READY
            | G2V_NOTIFY
            | CURSOR_X_HOT
            | CURSOR_Y_HOT
            | EXECLIST_DESC_LO
            | EXECLIST_DESC_HI
    ) || (PDP0_LO..PDP0_LO + 32).contains(&offset)
}
