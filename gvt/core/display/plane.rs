//! Plane decoding: what a vGPU's universal planes and cursors show, as a host needs it to
//! export or composite the guest's framebuffer (kvmgt's VFIO_DEVICE_QUERY_GFX_PLANE and dmabuf).
//!
//! Everything here comes from guest registers and is checked: the format and tiling must be
//! ones the host can import, the stride must hold the visible width, and the whole surface
//! (stride times the tile-aligned rows the scanout touches) must lie in the vGPU's graphics
//! memory, computed without overflow. The same check gates PLANE_SURF writes forwarded to the
//! hardware for planes the vGPU owns.

use super::super::error::{GvtError, Result};
use super::super::resources::Partition;
use super::regs::*;
use super::{pipe, Pipe, RegsRef, MAX_PLANES};

/// Builds a DRM fourcc code.
pub const fn fourcc(c: &[u8; 4]) -> u32 {
    u32::from_le_bytes(*c)
}

/// DRM_FORMAT_C8.
pub const DRM_FORMAT_C8: u32 = fourcc(b"C8  ");
/// DRM_FORMAT_RGB565.
pub const DRM_FORMAT_RGB565: u32 = fourcc(b"RG16");
/// DRM_FORMAT_XRGB8888.
pub const DRM_FORMAT_XRGB8888: u32 = fourcc(b"XR24");
/// DRM_FORMAT_XBGR8888.
pub const DRM_FORMAT_XBGR8888: u32 = fourcc(b"XB24");
/// DRM_FORMAT_ARGB8888.
pub const DRM_FORMAT_ARGB8888: u32 = fourcc(b"AR24");
/// DRM_FORMAT_ABGR8888.
pub const DRM_FORMAT_ABGR8888: u32 = fourcc(b"AB24");
/// DRM_FORMAT_XRGB2101010.
pub const DRM_FORMAT_XRGB2101010: u32 = fourcc(b"XR30");
/// DRM_FORMAT_XBGR2101010.
pub const DRM_FORMAT_XBGR2101010: u32 = fourcc(b"XB30");
/// DRM_FORMAT_YUYV.
pub const DRM_FORMAT_YUYV: u32 = fourcc(b"YUYV");
/// DRM_FORMAT_UYVY.
pub const DRM_FORMAT_UYVY: u32 = fourcc(b"UYVY");
/// DRM_FORMAT_YVYU.
pub const DRM_FORMAT_YVYU: u32 = fourcc(b"YVYU");
/// DRM_FORMAT_VYUY.
pub const DRM_FORMAT_VYUY: u32 = fourcc(b"VYUY");

/// Surface tiling.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tiling {
    /// Linear.
    Linear,
    /// X-major tiles (512 bytes x 8 rows).
    X,
    /// Legacy Y-major tiles (128 bytes x 32 rows).
    Y,
    /// Yf tiles (4 KiB).
    Yf,
}

impl Tiling {
    /// The DRM format modifier (`I915_FORMAT_MOD_*`).
    pub const fn modifier(self) -> u64 {
        let intel = 0x01u64 << 56;
        match self {
            Tiling::Linear => 0,
            Tiling::X => intel | 1,
            Tiling::Y => intel | 2,
            Tiling::Yf => intel | 3,
        }
    }

    /// Bytes per PLANE_STRIDE unit.
    const fn stride_unit(self, cpp: u32) -> u32 {
        match self {
            Tiling::Linear => 64,
            Tiling::X => 512,
            Tiling::Y => 128,
            Tiling::Yf if cpp == 1 => 64,
            Tiling::Yf => 128,
        }
    }

    /// Rows per tile.
    const fn rows(self, cpp: u32) -> u32 {
        match self {
            Tiling::Linear => 1,
            Tiling::X => 8,
            Tiling::Y => 32,
            Tiling::Yf if cpp == 1 => 64,
            Tiling::Yf => 32,
        }
    }
}

/// Which plane a host asks about (the types of VFIO_DEVICE_QUERY_GFX_PLANE, plus sprites).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlaneKind {
    /// Plane 1 of the first running pipe.
    Primary,
    /// Plane 2 of the first running pipe.
    Sprite,
    /// The cursor of the first running pipe.
    Cursor,
}

/// A decoded plane.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlaneInfo {
    /// The pipe it is on.
    pub pipe: Pipe,
    /// DRM fourcc.
    pub drm_format: u32,
    /// Bits per pixel.
    pub bpp: u32,
    /// Tiling.
    pub tiling: Tiling,
    /// Visible width in pixels.
    pub width: u32,
    /// Visible height in lines.
    pub height: u32,
    /// Bytes per row (or per tile row).
    pub stride: u32,
    /// Bytes of graphics memory the scanout reads, from `gm`.
    pub size: u64,
    /// Graphics (GGTT) address of the surface, inside the vGPU's memory.
    pub gm: u64,
    /// First visible pixel inside the surface.
    pub x_offset: u32,
    /// First visible line inside the surface.
    pub y_offset: u32,
    /// Position on the pipe.
    pub x_pos: i32,
    /// Position on the pipe.
    pub y_pos: i32,
    /// Cursor hotspot (the guest's PVINFO value; `u32::MAX` when unset or not a cursor).
    pub x_hot: u32,
    /// Cursor hotspot.
    pub y_hot: u32,
}

/// The pipe, plane index and offset inside the plane's register block of a universal plane
/// register.
pub fn locate(off: u32) -> Option<(Pipe, u32, u32)> {
    let rel = off.checked_sub(PLANE_CTL::OFFSET)?;
    let pipe = Pipe::from_index(rel >> 12)?;
    let inside = rel & 0xfff;
    let (plane, reg) = (inside >> 8, inside & 0xff);
    (plane < MAX_PLANES && reg < 0x48).then_some((pipe, plane, reg))
}

/// Whether a plane register (offset inside the plane's block) is one a direct-display owner's
/// writes reach the hardware through (PLANE_SURF is checked on its own; SURFLIVE is read-only,
/// the watermarks and DDB allocation stay the host's).
pub fn forwardable(reg: u32) -> bool {
    matches!(
        reg,
        0x00 | 0x08 | 0x0c | 0x10 | 0x14 | 0x18 | 0x20 | 0x24 | 0x40 | 0x44
    )
}

fn format(ctl: PLANE_CTL) -> Result<(u32, u32)> {
    let rgbx = ctl.is_set(PLANE_CTL::PLANE_CTL_ORDER_RGBX);
    let alpha = ctl.get(PLANE_CTL::PLANE_CTL_ALPHA_MASK) != 0;
    let f = match ctl.get(PLANE_CTL::PLANE_CTL_FORMAT_MASK_SKL) {
        0 => match ctl.get(PLANE_CTL::PLANE_CTL_YUV422_ORDER_MASK) {
            0 => (DRM_FORMAT_YUYV, 16),
            1 => (DRM_FORMAT_UYVY, 16),
            2 => (DRM_FORMAT_YVYU, 16),
            _ => (DRM_FORMAT_VYUY, 16),
        },
        2 if rgbx => (DRM_FORMAT_XBGR2101010, 32),
        2 => (DRM_FORMAT_XRGB2101010, 32),
        4 => match (rgbx, alpha) {
            (true, true) => (DRM_FORMAT_ABGR8888, 32),
            (true, false) => (DRM_FORMAT_XBGR8888, 32),
            (false, true) => (DRM_FORMAT_ARGB8888, 32),
            (false, false) => (DRM_FORMAT_XRGB8888, 32),
        },
        12 => (DRM_FORMAT_C8, 8),
        14 => (DRM_FORMAT_RGB565, 16),
        _ => return Err(GvtError::NotSupported),
    };
    Ok(f)
}

fn tiling(ctl: PLANE_CTL) -> Result<Tiling> {
    match ctl.get(PLANE_CTL::PLANE_CTL_TILED_MASK) {
        0 => Ok(Tiling::Linear),
        1 => Ok(Tiling::X),
        4 => Ok(Tiling::Y),
        5 => Ok(Tiling::Yf),
        _ => Err(GvtError::NotSupported),
    }
}

/// Bytes a surface of `rows` rows (aligned up to whole tiles) of `stride` bytes spans.
fn span(stride: u32, rows: u32, tile_rows: u32) -> Result<u64> {
    let rows = u64::from(rows)
        .checked_next_multiple_of(u64::from(tile_rows.max(1)))
        .ok_or(GvtError::Invalid)?;
    u64::from(stride).checked_mul(rows).ok_or(GvtError::Invalid)
}

/// Decodes universal plane `plane` (0 = plane 1) of `pipe`; errors: `NoDevice` when disabled,
/// `NotSupported` for formats, tilings or rotations a host cannot import, `Invalid` when the
/// surface does not fit the vGPU's memory.
pub fn decode(regs: &RegsRef<'_>, part: &Partition, p: Pipe, plane: u32) -> Result<PlaneInfo> {
    if plane >= MAX_PLANES {
        return Err(GvtError::Invalid);
    }
    let at = |first: u32| regs.get(plane_reg(first, p.index(), plane));
    let ctl = PLANE_CTL(at(PLANE_CTL::OFFSET));
    if !ctl.is_set(PLANE_CTL::PLANE_CTL_ENABLE) {
        return Err(GvtError::NoDevice);
    }
    // 90/270 degree rotation scans a rotated GGTT view; compression needs the aux surface.
    if ctl.get(PLANE_CTL::PLANE_CTL_ROTATE_MASK) & 1 != 0
        || ctl.is_set(PLANE_CTL::PLANE_CTL_RENDER_DECOMPRESSION_ENABLE)
    {
        return Err(GvtError::NotSupported);
    }
    let (drm_format, bpp) = format(ctl)?;
    let cpp = bpp / 8;
    let tiling = tiling(ctl)?;
    let stride = PLANE_STRIDE(at(PLANE_STRIDE::OFFSET))
        .get(PLANE_STRIDE::PLANE_STRIDE__MASK)
        .saturating_mul(tiling.stride_unit(cpp));
    let size = PLANE_SIZE(at(PLANE_SIZE::OFFSET));
    let width = size.get(PLANE_SIZE::PLANE_WIDTH_MASK).saturating_add(1);
    let height = size.get(PLANE_SIZE::PLANE_HEIGHT_MASK).saturating_add(1);
    let offset = PLANE_OFFSET(at(PLANE_OFFSET::OFFSET));
    let x_offset = offset.get(PLANE_OFFSET::PLANE_OFFSET_X_MASK);
    let y_offset = offset.get(PLANE_OFFSET::PLANE_OFFSET_Y_MASK);
    let pos = PLANE_POS(at(PLANE_POS::OFFSET));
    let gm =
        u64::from(PLANE_SURF(at(PLANE_SURF::OFFSET)).0 & PLANE_SURF::PLANE_SURF_ADDR_MASK.mask());
    let row_bytes = u64::from(x_offset.saturating_add(width)).saturating_mul(u64::from(cpp));
    if stride == 0 || row_bytes > u64::from(stride) {
        return Err(GvtError::Invalid);
    }
    let bytes = span(stride, y_offset.saturating_add(height), tiling.rows(cpp))?;
    if !part.owns_gm(gm, bytes) {
        return Err(GvtError::Invalid);
    }
    Ok(PlaneInfo {
        pipe: p,
        drm_format,
        bpp,
        tiling,
        width,
        height,
        stride,
        size: bytes,
        gm,
        x_offset,
        y_offset,
        x_pos: i32::try_from(pos.get(PLANE_POS::PLANE_POS_X_MASK)).unwrap_or(0),
        y_pos: i32::try_from(pos.get(PLANE_POS::PLANE_POS_Y_MASK)).unwrap_or(0),
        x_hot: u32::MAX,
        y_hot: u32::MAX,
    })
}

/// Decodes the cursor of `pipe`, with the guest's hotspot `hot` (from PVINFO).
pub fn decode_cursor(
    regs: &RegsRef<'_>,
    part: &Partition,
    p: Pipe,
    hot: (u32, u32),
) -> Result<PlaneInfo> {
    let ctl = regs.get(pipe_reg(CURCNTR::OFFSET, p.index()));
    let (side, stride) = match ctl & MCURSOR_MODE_MASK {
        0 => return Err(GvtError::NoDevice),
        MCURSOR_MODE_64_ARGB_AX | MCURSOR_MODE_64_32B_AX => (64, 256),
        MCURSOR_MODE_128_ARGB_AX => (128, 512),
        MCURSOR_MODE_256_ARGB_AX => (256, 1024),
        _ => return Err(GvtError::NotSupported),
    };
    let gm = u64::from(
        CURBASE(regs.get(pipe_reg(CURBASE::OFFSET, p.index()))).0
            & CURBASE::CURSOR_BASE_MASK.mask(),
    );
    let bytes = span(stride, side, 1)?;
    if !part.owns_gm(gm, bytes) {
        return Err(GvtError::Invalid);
    }
    let pos = CURPOS(regs.get(pipe_reg(CURPOS::OFFSET, p.index())));
    let signed = |mag: u32, neg: bool| {
        let m = i32::try_from(mag).unwrap_or(0);
        if neg {
            m.wrapping_neg()
        } else {
            m
        }
    };
    Ok(PlaneInfo {
        pipe: p,
        drm_format: DRM_FORMAT_ARGB8888,
        bpp: 32,
        tiling: Tiling::Linear,
        width: side,
        height: side,
        stride,
        size: bytes,
        gm,
        x_offset: 0,
        y_offset: 0,
        x_pos: signed(
            pos.get(CURPOS::CURSOR_POS_X_MASK),
            pos.is_set(CURPOS::CURSOR_POS_X_SIGN),
        ),
        y_pos: signed(
            pos.get(CURPOS::CURSOR_POS_Y_MASK),
            pos.is_set(CURPOS::CURSOR_POS_Y_SIGN),
        ),
        x_hot: hot.0,
        y_hot: hot.1,
    })
}

/// Decodes a plane of the first running pipe, as upstream's plane query does.
pub fn query(
    regs: &RegsRef<'_>,
    part: &Partition,
    kind: PlaneKind,
    hot: (u32, u32),
) -> Result<PlaneInfo> {
    let p = Pipe::ALL
        .iter()
        .copied()
        .find(|&p| pipe::pipe_enabled(regs, p))
        .ok_or(GvtError::NoDevice)?;
    match kind {
        PlaneKind::Primary => decode(regs, part, p, 0),
        PlaneKind::Sprite => decode(regs, part, p, 1),
        PlaneKind::Cursor => decode_cursor(regs, part, p, hot),
    }
}

/// Whether plane `plane` of `pipe`, as its registers stand, may be armed on the hardware: a
/// disabled plane always may, an enabled one only with a surface inside the vGPU's memory.
pub fn surface_fits(regs: &RegsRef<'_>, part: &Partition, p: Pipe, plane: u32) -> bool {
    match decode(regs, part, p, plane) {
        Ok(_) | Err(GvtError::NoDevice) => true,
        Err(_) => false,
    }
}
