//! `screenshot`: the guest's screen as a PNG, read from a VFIO device another process (QEMU)
//! holds open, the way QEMU's `display=on` reads it.
//!
//! QEMU holds the only open of the VFIO group (a second open is EBUSY), so the device fd is
//! taken from it: `/proc/PID/fd/*` links to `anon_inode:[vfio-device]` (group.c:
//! `anon_inode_getfile("[vfio-device]", ...)`, named by fs/anon_inodes.c as
//! `"anon_inode:%s"`) or, for a device opened through its cdev (iommufd),
//! `/dev/vfio/devices/vfioN`; `pidfd_open(2)` + `pidfd_getfd(2)` copy it into this process.
//! Then `VFIO_DEVICE_QUERY_GFX_PLANE` (primary plane, dma-buf), `VFIO_DEVICE_GET_GFX_DMABUF`,
//! a read-only mmap of the dma-buf, a conversion to RGB and [`crate::png`].
//!
//! Formats: XRGB8888, ARGB8888, XBGR8888, ABGR8888 (alpha ignored), XRGB2101010,
//! XBGR2101010 and RGB565; layouts: linear, X-tiled and (legacy) Y-tiled, detiled in software
//! (Gen9 has no bit-6 swizzling to undo). Yf, compressed and other modifiers are refused.

use std::collections::HashSet;
use std::fs::File;
use std::os::fd::AsFd;
use std::path::Path;

use crate::png;
use crate::sys::{ioctl_arg, ioctl_u32_get_fd, map_and_copy, pidfd_getfd};
use crate::uapi::{self, GfxPlaneInfo};

/// Distinct colours are counted up to this many.
pub const COLOUR_CAP: usize = 4096;

/// `I915_FORMAT_MOD_X_TILED`.
pub const MOD_X_TILED: u64 = (1 << 56) | 1;
/// `I915_FORMAT_MOD_Y_TILED`.
pub const MOD_Y_TILED: u64 = (1 << 56) | 2;
/// `I915_FORMAT_MOD_Yf_TILED`.
pub const MOD_YF_TILED: u64 = (1 << 56) | 3;

/// What to do: `screenshot --pid PID --out FILE [--base64] [--fd N]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Args {
    /// The process holding the VFIO device (QEMU).
    pub pid: i32,
    /// Where the PNG goes.
    pub out: String,
    /// Also print it base64-framed on stdout ([`png::frame`]).
    pub base64: bool,
    /// That process's fd to use, instead of the first VFIO device fd with a primary plane.
    pub fd: Option<i32>,
}

/// A pixel format this module converts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `DRM_FORMAT_XRGB8888`: little-endian B, G, R, X bytes.
    Xrgb8888,
    /// `DRM_FORMAT_ARGB8888`.
    Argb8888,
    /// `DRM_FORMAT_XBGR8888`: R, G, B, X bytes.
    Xbgr8888,
    /// `DRM_FORMAT_ABGR8888`.
    Abgr8888,
    /// `DRM_FORMAT_XRGB2101010`: R in bits 29:20, B in 9:0.
    Xrgb2101010,
    /// `DRM_FORMAT_XBGR2101010`: B in bits 29:20, R in 9:0.
    Xbgr2101010,
    /// `DRM_FORMAT_RGB565`: R in bits 15:11, B in 4:0.
    Rgb565,
}

const fn fourcc(c: &[u8; 4]) -> u32 {
    u32::from_le_bytes(*c)
}

/// A fourcc as its four characters (`'?'` for the unprintable) and hex.
pub fn fourcc_name(f: u32) -> String {
    let s: String = f
        .to_le_bytes()
        .iter()
        .map(|&b| {
            if b.is_ascii_graphic() || b == b' ' {
                char::from(b)
            } else {
                '?'
            }
        })
        .collect();
    format!("'{s}' ({f:#010x})")
}

impl Format {
    /// The format of a DRM fourcc, if it is one this converts.
    pub fn from_fourcc(f: u32) -> Option<Format> {
        Some(match f {
            x if x == fourcc(b"XR24") => Format::Xrgb8888,
            x if x == fourcc(b"AR24") => Format::Argb8888,
            x if x == fourcc(b"XB24") => Format::Xbgr8888,
            x if x == fourcc(b"AB24") => Format::Abgr8888,
            x if x == fourcc(b"XR30") => Format::Xrgb2101010,
            x if x == fourcc(b"XB30") => Format::Xbgr2101010,
            x if x == fourcc(b"RG16") => Format::Rgb565,
            _ => return None,
        })
    }

    /// Name as DRM spells it (`DRM_FORMAT_` left off).
    pub fn name(self) -> &'static str {
        match self {
            Format::Xrgb8888 => "XRGB8888",
            Format::Argb8888 => "ARGB8888",
            Format::Xbgr8888 => "XBGR8888",
            Format::Abgr8888 => "ABGR8888",
            Format::Xrgb2101010 => "XRGB2101010",
            Format::Xbgr2101010 => "XBGR2101010",
            Format::Rgb565 => "RGB565",
        }
    }

    /// Bytes per pixel.
    pub fn cpp(self) -> usize {
        match self {
            Format::Rgb565 => 2,
            _ => 4,
        }
    }

    /// One pixel (`cpp` bytes, little endian) as 8-bit R, G, B.
    pub fn rgb(self, px: &[u8]) -> [u8; 3] {
        let b = |i: usize| px.get(i).copied().unwrap_or(0);
        let v = u32::from_le_bytes([b(0), b(1), b(2), b(3)]);
        // Each value is masked to at most 8 bits before the conversion.
        let byte = |x: u32| u8::try_from(x & 0xff).unwrap_or(0);
        match self {
            Format::Xrgb8888 | Format::Argb8888 => [b(2), b(1), b(0)],
            Format::Xbgr8888 | Format::Abgr8888 => [b(0), b(1), b(2)],
            Format::Xrgb2101010 => [byte(v >> 22), byte(v >> 12), byte(v >> 2)],
            Format::Xbgr2101010 => [byte(v >> 2), byte(v >> 12), byte(v >> 22)],
            Format::Rgb565 => {
                let (r, g, bl) = ((v >> 11) & 0x1f, (v >> 5) & 0x3f, v & 0x1f);
                [
                    byte((r << 3) | (r >> 2)),
                    byte((g << 2) | (g >> 4)),
                    byte((bl << 3) | (bl >> 2)),
                ]
            }
        }
    }
}

/// A surface layout this module reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tiling {
    /// Rows of `stride` bytes.
    Linear,
    /// 4 KiB tiles of 512 bytes x 8 rows, rows of tiles `stride` bytes wide.
    X,
    /// 4 KiB tiles of 128 bytes x 32 rows, each 8 columns of 16 bytes stored one after another.
    Y,
}

impl Tiling {
    /// The layout of a DRM format modifier; refuses the ones not handled.
    pub fn from_modifier(m: u64) -> Result<Tiling, String> {
        match m {
            0 => Ok(Tiling::Linear),
            MOD_X_TILED => Ok(Tiling::X),
            MOD_Y_TILED => Ok(Tiling::Y),
            MOD_YF_TILED => Err(format!(
                "modifier {m:#x} (Yf-tiled) is not supported (linear, X- and Y-tiled are)"
            )),
            _ => Err(format!(
                "modifier {m:#x} is not supported (linear, X- and Y-tiled are)"
            )),
        }
    }

    /// Name for the report.
    pub fn name(self) -> &'static str {
        match self {
            Tiling::Linear => "linear",
            Tiling::X => "x-tiled",
            Tiling::Y => "y-tiled",
        }
    }

    /// Tile width in bytes and height in rows (1 x 1 for linear).
    fn tile(self) -> (u64, u64) {
        match self {
            Tiling::Linear => (1, 1),
            Tiling::X => (512, 8),
            Tiling::Y => (128, 32),
        }
    }

    /// Offset in the surface of byte `xb` of row `y`; `stride` a multiple of the tile width.
    pub fn offset(self, stride: u64, xb: u64, y: u64) -> Option<u64> {
        let (tw, th) = self.tile();
        // Start of the row of tiles, plus whole tiles to the left.
        let tiles = y
            .checked_div(th)?
            .checked_mul(stride)?
            .checked_mul(th)?
            .checked_add(xb.checked_div(tw)?.checked_mul(tw.checked_mul(th)?)?)?;
        let (x, r) = (xb.checked_rem(tw)?, y.checked_rem(th)?);
        let inside = match self {
            Tiling::Linear => 0,
            Tiling::X => r.checked_mul(512)?.checked_add(x)?,
            // 16-byte columns of 32 rows each.
            Tiling::Y => (x / 16)
                .checked_mul(512)?
                .checked_add(r.checked_mul(16)?)?
                .checked_add(x % 16)?,
        };
        tiles.checked_add(inside)
    }
}

/// What the guest shows, as the plane query describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plane {
    /// Pixel format.
    pub format: Format,
    /// Layout.
    pub tiling: Tiling,
    /// Pixels.
    pub width: u32,
    /// Rows.
    pub height: u32,
    /// Bytes per row.
    pub stride: u32,
}

impl Plane {
    /// Checks a plane query's answer and returns what it describes, or why it cannot be shown:
    /// no plane, a disabled plane (no format or size), a format or modifier not handled, a
    /// stride too small for the width, or a surface larger than the dma-buf.
    pub fn from_info(p: &GfxPlaneInfo) -> Result<Plane, String> {
        if p.drm_format == 0 || p.dmabuf_id == 0 {
            return Err(format!(
                "the primary plane is disabled (drm_format {:#x}, dmabuf_id {})",
                p.drm_format, p.dmabuf_id
            ));
        }
        if p.width == 0 || p.height == 0 || p.stride == 0 || p.size == 0 {
            return Err(format!(
                "the primary plane is empty: {}x{}, stride {}, size {}",
                p.width, p.height, p.stride, p.size
            ));
        }
        let format = Format::from_fourcc(p.drm_format).ok_or_else(|| format!("drm_format {} cannot be converted (XRGB8888, ARGB8888, XBGR8888, ABGR8888, XRGB2101010, XBGR2101010, RGB565 can)", fourcc_name(p.drm_format)))?;
        let tiling = Tiling::from_modifier(p.drm_format_mod)?;
        let plane = Plane {
            format,
            tiling,
            width: p.width,
            height: p.height,
            stride: p.stride,
        };
        let need = plane.bytes().ok_or("the plane's size overflows")?;
        if u64::from(p.width).saturating_mul(plane.cpp()) > u64::from(p.stride) {
            return Err(format!(
                "stride {} is less than {} pixels of {} bytes",
                p.stride,
                p.width,
                plane.cpp()
            ));
        }
        let (tw, _) = tiling.tile();
        if u64::from(p.stride).checked_rem(tw) != Some(0) {
            return Err(format!(
                "stride {} of a {} surface is not a multiple of {tw}",
                p.stride,
                tiling.name()
            ));
        }
        if need > u64::from(p.size) {
            return Err(format!(
                "{}x{} at stride {} ({}) needs {need} bytes, the dma-buf has {}",
                p.width,
                p.height,
                p.stride,
                tiling.name(),
                p.size
            ));
        }
        Ok(plane)
    }

    fn cpp(&self) -> u64 {
        u64::try_from(self.format.cpp()).unwrap_or(4)
    }

    /// Bytes of the surface the pixels lie in.
    pub fn bytes(&self) -> Option<u64> {
        let (_, th) = self.tiling.tile();
        let (w, h, s) = (
            u64::from(self.width),
            u64::from(self.height),
            u64::from(self.stride),
        );
        match self.tiling {
            Tiling::Linear => h
                .checked_sub(1)?
                .checked_mul(s)?
                .checked_add(w.checked_mul(self.cpp())?),
            _ => h.checked_next_multiple_of(th)?.checked_mul(s),
        }
    }

    /// The surface `buf` (as the dma-buf holds it) as 8-bit RGB, row after row.
    pub fn to_rgb(&self, buf: &[u8]) -> Result<Vec<u8>, String> {
        let need = self
            .bytes()
            .and_then(|b| usize::try_from(b).ok())
            .ok_or("the plane's size overflows")?;
        if buf.len() < need {
            return Err(format!(
                "{} bytes of surface, the plane needs {need}",
                buf.len()
            ));
        }
        let cpp = self.format.cpp();
        let (w, h) = (
            usize::try_from(self.width).map_err(|e| e.to_string())?,
            usize::try_from(self.height).map_err(|e| e.to_string())?,
        );
        let mut out = Vec::with_capacity(w.saturating_mul(h).saturating_mul(3));
        let stride = u64::from(self.stride);
        let short = || "a pixel lies outside the surface".to_string();
        for y in 0..u64::from(self.height) {
            for x in 0..u64::from(self.width) {
                let off = x
                    .checked_mul(self.cpp())
                    .and_then(|xb| self.tiling.offset(stride, xb, y))
                    .and_then(|o| usize::try_from(o).ok())
                    .ok_or_else(short)?;
                let px = buf
                    .get(off..off.checked_add(cpp).ok_or_else(short)?)
                    .ok_or_else(short)?;
                out.extend_from_slice(&self.format.rgb(px));
            }
        }
        Ok(out)
    }
}

/// What the picture holds, for a test to tell a real screen from a blank or garbage one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    /// Distinct colours, counted up to [`COLOUR_CAP`].
    pub distinct: usize,
    /// Pixels that are not black, in tenths of a percent (rounded down).
    pub nonblack_permille: u64,
}

impl Stats {
    /// The stats of 8-bit RGB pixels.
    pub fn of(rgb: &[u8]) -> Stats {
        let mut colours: HashSet<[u8; 3]> = HashSet::new();
        let (mut total, mut nonblack) = (0u64, 0u64);
        for px in rgb.chunks_exact(3) {
            let c = [
                px.first().copied().unwrap_or(0),
                px.get(1).copied().unwrap_or(0),
                px.get(2).copied().unwrap_or(0),
            ];
            if colours.len() < COLOUR_CAP {
                colours.insert(c);
            }
            total = total.saturating_add(1);
            if c != [0, 0, 0] {
                nonblack = nonblack.saturating_add(1);
            }
        }
        let nonblack_permille = nonblack
            .saturating_mul(1000)
            .checked_div(total)
            .unwrap_or(0);
        Stats {
            distinct: colours.len(),
            nonblack_permille,
        }
    }

    /// `nonblack` as a percentage with one decimal: `12.3`.
    pub fn nonblack(&self) -> String {
        format!(
            "{}.{}",
            self.nonblack_permille / 10,
            self.nonblack_permille % 10
        )
    }
}

/// The summary line: `screenshot: WxH format=F stride=S distinct_colors=N nonblack=P% -> FILE`.
pub fn summary(p: &Plane, s: &Stats, out: &str) -> String {
    format!(
        "screenshot: {}x{} format={} stride={} distinct_colors={} nonblack={}% -> {out}",
        p.width,
        p.height,
        p.format.name(),
        p.stride,
        s.distinct,
        s.nonblack()
    )
}

/// Whether a `/proc/PID/fd/N` link names a VFIO device fd: one from
/// `VFIO_GROUP_GET_DEVICE_FD` (an anonymous inode) or an open of the device's cdev.
pub fn is_vfio_device_link(link: &str) -> bool {
    link == "anon_inode:[vfio-device]"
        || link
            .strip_prefix("/dev/vfio/devices/vfio")
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// The VFIO device fds of process `pid`, lowest first, with their links.
pub fn vfio_fds(proc_root: &Path, pid: i32) -> Result<Vec<(i32, String)>, String> {
    let dir = proc_root.join(pid.to_string()).join("fd");
    let entries = std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut fds: Vec<(i32, String)> = entries
        .filter_map(|e| {
            let e = e.ok()?;
            let fd = e.file_name().to_str()?.parse::<i32>().ok()?;
            let link = std::fs::read_link(e.path())
                .ok()?
                .to_string_lossy()
                .into_owned();
            is_vfio_device_link(&link).then_some((fd, link))
        })
        .collect();
    fds.sort();
    Ok(fds)
}

fn query(device: &File, flags: u32) -> std::io::Result<GfxPlaneInfo> {
    let mut p = GfxPlaneInfo {
        argsz: uapi::size32::<GfxPlaneInfo>(),
        flags,
        drm_plane_type: uapi::DRM_PLANE_TYPE_PRIMARY,
        ..GfxPlaneInfo::default()
    };
    ioctl_arg(device.as_fd(), uapi::DEVICE_QUERY_GFX_PLANE, &mut p).map(|_| p)
}

/// The device fd to use: `--fd`, or the first VFIO device fd of `pid` that supports dma-buf
/// planes. Returns the copy, its fd number in `pid` and its link.
fn take_device(a: &Args) -> Result<(File, i32, String), String> {
    let fds = vfio_fds(Path::new("/proc"), a.pid)?;
    let candidates: Vec<(i32, String)> = match a.fd {
        Some(n) => vec![fds.into_iter().find(|(fd, _)| *fd == n).ok_or_else(|| format!("fd {n} of pid {} is not a VFIO device ('anon_inode:[vfio-device]' or '/dev/vfio/devices/vfioN')", a.pid))?],
        None if fds.is_empty() => return Err(format!("pid {} holds no VFIO device fd (no /proc/{}/fd link is 'anon_inode:[vfio-device]' or '/dev/vfio/devices/vfioN')", a.pid, a.pid)),
        None => fds,
    };
    let mut why = Vec::new();
    for (fd, link) in candidates {
        let f = pidfd_getfd(a.pid, fd)
            .map_err(|e| format!("pidfd_getfd of pid {} fd {fd}: {e}", a.pid))?;
        match query(&f, uapi::GFX_PLANE_TYPE_PROBE | uapi::GFX_PLANE_TYPE_DMABUF) {
            Ok(_) => return Ok((f, fd, link)),
            Err(e) => why.push(format!("fd {fd}: {e}")),
        }
    }
    Err(format!(
        "no VFIO device of pid {} offers dma-buf planes ({})",
        a.pid,
        why.join("; ")
    ))
}

/// Takes the screenshot; prints the plane, the summary line and, with `--base64`, the framed
/// PNG. Any failure is an error.
pub fn screenshot(a: &Args) -> Result<(), String> {
    let name = Path::new(&a.out)
        .file_name()
        .and_then(|n| n.to_str())
        .filter(|n| png::valid_name(n))
        .ok_or_else(|| {
            format!(
                "--out '{}': the file name must be letters, digits, '.', '_', '-'",
                a.out
            )
        })?;
    let (device, fd, link) = take_device(a)?;
    let info = match query(&device, uapi::GFX_PLANE_TYPE_DMABUF) {
        Ok(p) => p,
        Err(e) if e.raw_os_error() == Some(libc::ENODEV) => {
            return Err(
                "no primary plane: the guest shows nothing (QUERY_GFX_PLANE: ENODEV)".into(),
            )
        }
        Err(e) => {
            return Err(format!(
                "VFIO_DEVICE_QUERY_GFX_PLANE (primary, dma-buf): {e}"
            ))
        }
    };
    println!(
        "screenshot-plane: pid {} fd {fd} ({link}): {}x{} drm_format={} modifier={:#x} stride={} size={} dmabuf_id={}",
        a.pid,
        info.width,
        info.height,
        fourcc_name(info.drm_format),
        info.drm_format_mod,
        info.stride,
        info.size,
        info.dmabuf_id
    );
    let plane = Plane::from_info(&info)?;
    let dmabuf = ioctl_u32_get_fd(device.as_fd(), uapi::DEVICE_GET_GFX_DMABUF, &info.dmabuf_id)
        .map_err(|e| format!("VFIO_DEVICE_GET_GFX_DMABUF {}: {e}", info.dmabuf_id))?;
    let size = usize::try_from(info.size).map_err(|e| e.to_string())?;
    let surface = map_and_copy(&dmabuf, size)
        .map_err(|e| format!("mmap of the dma-buf ({size} bytes): {e}"))?;
    drop(dmabuf);
    drop(device);
    let rgb = plane.to_rgb(&surface)?;
    let stats = Stats::of(&rgb);
    let file = png::encode(plane.width, plane.height, &rgb)?;
    std::fs::write(&a.out, &file).map_err(|e| format!("{}: {e}", a.out))?;
    println!("{}", summary(&plane, &stats, &a.out));
    if a.base64 {
        print!("{}", png::frame(name, &file)?);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(fmt: &[u8; 4], modifier: u64, w: u32, h: u32, stride: u32, size: u32) -> GfxPlaneInfo {
        GfxPlaneInfo {
            drm_format: fourcc(fmt),
            drm_format_mod: modifier,
            width: w,
            height: h,
            stride,
            size,
            dmabuf_id: 3,
            ..GfxPlaneInfo::default()
        }
    }

    #[test]
    fn pixel_formats() {
        // The same colour, R=0x12 G=0x34 B=0x56, in each format's memory layout.
        let rgb = [0x12, 0x34, 0x56];
        assert_eq!(Format::Xrgb8888.rgb(&[0x56, 0x34, 0x12, 0x00]), rgb);
        assert_eq!(Format::Argb8888.rgb(&[0x56, 0x34, 0x12, 0x80]), rgb);
        assert_eq!(Format::Xbgr8888.rgb(&[0x12, 0x34, 0x56, 0xff]), rgb);
        assert_eq!(Format::Abgr8888.rgb(&[0x12, 0x34, 0x56, 0x00]), rgb);
        let v10 = |a: u32, b: u32, c: u32| ((a << 22) | (b << 12) | (c << 2) | 0x3).to_le_bytes();
        assert_eq!(Format::Xrgb2101010.rgb(&v10(0x12, 0x34, 0x56)), rgb);
        assert_eq!(Format::Xbgr2101010.rgb(&v10(0x56, 0x34, 0x12)), rgb);
        // RGB565 widens with the top bits repeated: full scale stays full scale.
        assert_eq!(
            Format::Rgb565.rgb(&0xffffu16.to_le_bytes()),
            [0xff, 0xff, 0xff]
        );
        assert_eq!(Format::Rgb565.rgb(&0xf800u16.to_le_bytes()), [0xff, 0, 0]);
        assert_eq!(Format::Rgb565.rgb(&0x07e0u16.to_le_bytes()), [0, 0xff, 0]);
        assert_eq!(Format::Rgb565.rgb(&0x001fu16.to_le_bytes()), [0, 0, 0xff]);
        assert_eq!(
            Format::Rgb565.rgb(&((0x10u16 << 11) | (0x20 << 5) | 0x08).to_le_bytes()),
            [0x84, 0x82, 0x42]
        );
    }

    #[test]
    fn fourccs() {
        for f in [
            Format::Xrgb8888,
            Format::Argb8888,
            Format::Xbgr8888,
            Format::Abgr8888,
            Format::Xrgb2101010,
            Format::Xbgr2101010,
            Format::Rgb565,
        ] {
            let code = match f {
                Format::Xrgb8888 => b"XR24",
                Format::Argb8888 => b"AR24",
                Format::Xbgr8888 => b"XB24",
                Format::Abgr8888 => b"AB24",
                Format::Xrgb2101010 => b"XR30",
                Format::Xbgr2101010 => b"XB30",
                Format::Rgb565 => b"RG16",
            };
            assert_eq!(Format::from_fourcc(fourcc(code)), Some(f));
        }
        assert_eq!(
            Format::from_fourcc(uapi::DRM_FORMAT_XRGB8888),
            Some(Format::Xrgb8888)
        );
        assert_eq!(Format::from_fourcc(fourcc(b"C8  ")), None);
        assert_eq!(fourcc_name(fourcc(b"YUYV")), "'YUYV' (0x56595559)");
    }

    /// A surface where every pixel's colour says where it is: R = x, G = y, B = 0x5a.
    fn surface(p: &Plane, bytes: usize) -> Vec<u8> {
        let mut buf = vec![0xeeu8; bytes];
        for y in 0..p.height as u64 {
            for x in 0..p.width as u64 {
                let off = p.tiling.offset(p.stride as u64, x * 4, y).unwrap() as usize;
                let px = match p.format {
                    Format::Xrgb8888 => [0x5a, y as u8, x as u8, 0],
                    Format::Xbgr8888 => [x as u8, y as u8, 0x5a, 0],
                    f => panic!("no test surface in {f:?}"),
                };
                buf[off..off + 4].copy_from_slice(&px);
            }
        }
        buf
    }

    fn expected(w: u32, h: u32) -> Vec<u8> {
        (0..h)
            .flat_map(|y| (0..w).flat_map(move |x| [x as u8, y as u8, 0x5a]))
            .collect()
    }

    #[test]
    fn linear_conversion_skips_the_stride_padding() {
        let p = Plane::from_info(&info(b"XR24", 0, 5, 3, 32, 4096)).unwrap();
        assert_eq!(p.bytes(), Some(2 * 32 + 20));
        assert_eq!(p.to_rgb(&surface(&p, 4096)).unwrap(), expected(5, 3));
        let p = Plane::from_info(&info(b"XB24", 0, 5, 3, 20, 4096)).unwrap();
        assert_eq!(p.to_rgb(&surface(&p, 4096)).unwrap(), expected(5, 3));
        // XBGR bytes read as XRGB have red and blue swapped.
        let wrong = Plane {
            format: Format::Xrgb8888,
            ..p
        }
        .to_rgb(&surface(&p, 4096))
        .unwrap();
        assert_eq!(
            wrong,
            (0..3u8)
                .flat_map(|y| (0..5u8).flat_map(move |x| [0x5a, y, x]))
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn tile_offsets() {
        // X: 512 x 8 tiles; a 1024-byte stride holds two tiles per tile row.
        assert_eq!(Tiling::X.offset(1024, 0, 0), Some(0));
        assert_eq!(Tiling::X.offset(1024, 511, 0), Some(511));
        assert_eq!(Tiling::X.offset(1024, 512, 0), Some(4096));
        assert_eq!(Tiling::X.offset(1024, 4, 1), Some(516));
        assert_eq!(Tiling::X.offset(1024, 0, 8), Some(8192));
        assert_eq!(Tiling::X.offset(1024, 516, 9), Some(8192 + 4096 + 512 + 4));
        // Y: 128 x 32 tiles of 16-byte columns, each column 32 rows (512 bytes).
        assert_eq!(Tiling::Y.offset(256, 15, 0), Some(15));
        assert_eq!(Tiling::Y.offset(256, 16, 0), Some(512));
        assert_eq!(Tiling::Y.offset(256, 0, 1), Some(16));
        assert_eq!(Tiling::Y.offset(256, 127, 31), Some(7 * 512 + 31 * 16 + 15));
        assert_eq!(Tiling::Y.offset(256, 128, 0), Some(4096));
        assert_eq!(Tiling::Y.offset(256, 0, 32), Some(8192));
        assert_eq!(Tiling::Linear.offset(100, 7, 3), Some(307));
    }

    #[test]
    fn tiled_layouts_cover_the_surface_once() {
        for t in [Tiling::X, Tiling::Y] {
            let (stride, rows) = (1024u64, 64u64);
            let mut seen = vec![false; (stride * rows) as usize];
            for y in 0..rows {
                for xb in 0..stride {
                    let o = t.offset(stride, xb, y).unwrap() as usize;
                    assert!(!seen[o], "{t:?} {xb},{y}");
                    seen[o] = true;
                }
            }
        }
    }

    #[test]
    fn tiled_conversion() {
        // 200x20 at 4 bytes: X needs a stride of 1024 and 24 rows (3 tile rows).
        let p = Plane::from_info(&info(b"XR24", MOD_X_TILED, 200, 20, 1024, 6 * 4096)).unwrap();
        assert_eq!(p.bytes(), Some(24 * 1024));
        assert_eq!(p.to_rgb(&surface(&p, 6 * 4096)).unwrap(), expected(200, 20));
        let p = Plane::from_info(&info(b"XB24", MOD_Y_TILED, 200, 40, 896, 14 * 4096)).unwrap();
        assert_eq!(
            p.to_rgb(&surface(&p, 14 * 4096)).unwrap(),
            expected(200, 40)
        );
    }

    #[test]
    fn planes_refused() {
        let err = |i: GfxPlaneInfo| Plane::from_info(&i).unwrap_err();
        assert!(err(GfxPlaneInfo {
            dmabuf_id: 0,
            ..info(b"XR24", 0, 4, 4, 16, 4096)
        })
        .contains("disabled"));
        assert!(err(GfxPlaneInfo {
            drm_format: 0,
            ..info(b"XR24", 0, 4, 4, 16, 4096)
        })
        .contains("disabled"));
        assert!(err(info(b"XR24", 0, 0, 4, 16, 4096)).contains("empty"));
        assert!(err(info(b"XR24", 0, 4, 4, 0, 4096)).contains("empty"));
        assert!(err(info(b"C8  ", 0, 4, 4, 16, 4096)).contains("'C8  '"));
        assert!(err(info(b"YUYV", 0, 4, 4, 16, 4096)).contains("cannot be converted"));
        assert!(err(info(b"XR24", MOD_YF_TILED, 4, 4, 512, 1 << 20)).contains("Yf"));
        assert!(err(info(b"XR24", (1 << 56) | 4, 4, 4, 512, 1 << 20)).contains("0x100000000000004"));
        assert!(err(info(b"XR24", 0, 5, 4, 16, 4096)).contains("stride 16 is less"));
        assert!(err(info(b"XR24", MOD_X_TILED, 4, 4, 256, 1 << 20)).contains("multiple of 512"));
        assert!(err(info(b"XR24", 0, 1024, 768, 4096, 768 * 4096 - 4096)).contains("needs"));
        // 9 rows of X tiles span 2 tile rows of 4 KiB.
        assert!(Plane::from_info(&info(b"XR24", MOD_X_TILED, 128, 9, 512, 8192)).is_ok());
        assert!(err(info(b"XR24", MOD_X_TILED, 128, 9, 512, 4096)).contains("needs 8192"));
        // A short buffer is refused, not read past.
        let p = Plane::from_info(&info(b"XR24", 0, 4, 4, 16, 4096)).unwrap();
        assert!(p.to_rgb(&[0; 63]).is_err());
    }

    #[test]
    fn stats_and_summary() {
        let s = Stats::of(&[
            0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 9, 9, 9, 9, 9, 9, 0, 0, 0,
        ]);
        assert_eq!(
            s,
            Stats {
                distinct: 3,
                nonblack_permille: 428
            }
        );
        assert_eq!(s.nonblack(), "42.8");
        assert_eq!(
            Stats::of(&[]),
            Stats {
                distinct: 0,
                nonblack_permille: 0
            }
        );
        let all: Vec<u8> = (0..10_000u32)
            .flat_map(|i| [(i >> 8) as u8, i as u8, 1])
            .collect();
        assert_eq!(
            Stats::of(&all),
            Stats {
                distinct: COLOUR_CAP,
                nonblack_permille: 1000
            }
        );
        let p = Plane {
            format: Format::Xrgb8888,
            tiling: Tiling::Linear,
            width: 1024,
            height: 768,
            stride: 4096,
        };
        assert_eq!(summary(&p, &s, "/tmp/a.png"), "screenshot: 1024x768 format=XRGB8888 stride=4096 distinct_colors=3 nonblack=42.8% -> /tmp/a.png");
    }

    #[test]
    fn vfio_device_links() {
        assert!(is_vfio_device_link("anon_inode:[vfio-device]"));
        assert!(is_vfio_device_link("/dev/vfio/devices/vfio0"));
        assert!(is_vfio_device_link("/dev/vfio/devices/vfio12"));
        for l in [
            "/dev/vfio/7",
            "/dev/vfio/vfio",
            "anon_inode:[vfio-device",
            "anon_inode:vfio-device",
            "/dev/vfio/devices/vfio",
            "/dev/vfio/devices/vfio1x",
            "anon_inode:[eventfd]",
        ] {
            assert!(!is_vfio_device_link(l), "{l}");
        }
    }

    #[test]
    fn vfio_fds_from_a_proc_tree() {
        let root = std::env::temp_dir().join(format!("gvt-shot-proc-{}", std::process::id()));
        let fd = root.join("42/fd");
        std::fs::create_dir_all(&fd).unwrap();
        for (n, target) in [
            ("3", "/dev/vfio/vfio"),
            ("17", "anon_inode:[vfio-device]"),
            ("9", "anon_inode:[vfio-device]"),
            ("5", "/dev/vfio/devices/vfio2"),
            ("x", "anon_inode:[vfio-device]"),
        ] {
            std::os::unix::fs::symlink(target, fd.join(n)).unwrap();
        }
        let got = vfio_fds(&root, 42);
        std::fs::remove_dir_all(&root).unwrap();
        assert_eq!(
            got.unwrap(),
            [
                (5, "/dev/vfio/devices/vfio2".to_string()),
                (9, "anon_inode:[vfio-device]".into()),
                (17, "anon_inode:[vfio-device]".into())
            ]
        );
        assert!(vfio_fds(&root, 42).unwrap_err().contains("/42/fd"));
    }

    #[test]
    fn no_such_process() {
        let a = Args {
            pid: i32::MAX,
            out: "/nonexistent/x.png".into(),
            base64: false,
            fd: None,
        };
        assert!(screenshot(&a).unwrap_err().contains("fd"));
        let a = Args {
            out: "/tmp/bad name.png".into(),
            ..a
        };
        assert!(screenshot(&a).unwrap_err().contains("file name"));
    }
}
