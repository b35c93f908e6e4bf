//! The guest's display over VFIO, as QEMU's vfio display uses it: the guest modesets its
//! monitor (EDID over AUX, link training, pipe and plane) and shows a framebuffer from its own
//! RAM; the client queries the plane (`VFIO_DEVICE_QUERY_GFX_PLANE`), takes a dma-buf of it
//! (`VFIO_DEVICE_GET_GFX_DMABUF`) and reads the guest's pixels back through it; after a flip
//! the plane has a new id. Then the ioctls' bad input.

use std::os::fd::AsFd;

use guest_model::modeset::{self, Framebuffer, Output};
use guest_model::Transport;
use gvt::model::vgpu::{GEN8_PAGE_PRESENT, GGTT_MMIO_OFFSET};

use crate::checks::Checks;
use crate::sys::{ioctl_arg, ioctl_u32_get_fd, map_and_copy};
use crate::transport::{RegionIo, VfioTransport};
use crate::uapi::{self, GfxPlaneInfo};
use crate::vfio::Vfio;

/// Where the framebuffer lives in guest RAM (above the workloads' pages).
pub const FB_GPA: u64 = 4 << 20;
/// Where the guest binds it in its mappable graphics memory (above the probe's pages).
const FB_GM_OFFSET: u32 = 1 << 20;

fn query(v: &Vfio, flags: u32, plane: u32) -> std::io::Result<GfxPlaneInfo> {
    let mut p = GfxPlaneInfo {
        argsz: uapi::size32::<GfxPlaneInfo>(),
        flags,
        drm_plane_type: plane,
        ..GfxPlaneInfo::default()
    };
    ioctl_arg(v.device.as_fd(), uapi::DEVICE_QUERY_GFX_PLANE, &mut p).map(|_| p)
}

/// The pixel the guest puts at byte offset `i` of its framebuffer (one dword per pixel).
fn pixel(i: usize) -> u32 {
    u32::try_from(i / 4)
        .unwrap_or(0)
        .wrapping_mul(2_654_435_761)
        | 0xff00_0000
}

/// Modesets, shows a framebuffer, reads it back through a dma-buf, flips; `mappable` is the
/// vGPU's mappable graphics memory base (PVINFO), `o` the monitor's output the probe found. The RAM must hold [`FB_GPA`] plus the
/// framebuffer of the monitor's preferred mode.
pub fn check<D: RegionIo>(
    c: &mut Checks,
    v: &Vfio,
    t: &mut VfioTransport<'_, D>,
    o: &Output,
    mappable: u32,
) {
    c.check(
        "gfx plane probe: dma-buf planes",
        query(
            v,
            uapi::GFX_PLANE_TYPE_PROBE | uapi::GFX_PLANE_TYPE_DMABUF,
            uapi::DRM_PLANE_TYPE_PRIMARY,
        )
        .map(drop)
        .map_err(|e| e.to_string()),
    );
    let shown = (|| -> Result<(modeset::Framebuffer, u32, u32, usize), String> {
        let err = |t: &mut VfioTransport<'_, D>, e: guest_model::Error| {
            format!("{e:?} {}", t.last_error.take().unwrap_or_default())
        };
        let edid = modeset::edid_over_aux(t, o, false).map_err(|e| err(t, e))?;
        let mode = modeset::preferred_mode(&edid).map_err(|e| err(t, e))?;
        // An EDID mode is at most 4095x4095: none of this overflows.
        let stride = mode.hactive.checked_mul(4).ok_or("mode too wide")?;
        let bytes = stride
            .checked_mul(mode.vactive)
            .and_then(|b| usize::try_from(b).ok())
            .ok_or("mode too big")?;
        let pages = u64::try_from(bytes.div_ceil(4096)).map_err(|e| e.to_string())?;
        // The framebuffer's guest pages, bound twice: at gm and after it (for the flip).
        let gm = mappable
            .checked_add(FB_GM_OFFSET)
            .ok_or("no room for the framebuffer")?;
        let first = u64::from(gm) / 4096;
        for index in first..first.saturating_add(pages.saturating_mul(2)) {
            let p = index.wrapping_sub(first).checked_rem(pages).unwrap_or(0);
            let pte = FB_GPA.saturating_add(p.saturating_mul(4096)) | GEN8_PAGE_PRESENT;
            t.mmio_write(
                GGTT_MMIO_OFFSET.saturating_add(index.saturating_mul(8)),
                &pte.to_le_bytes(),
            )
            .map_err(|e| err(t, e))?;
        }
        let image: Vec<u8> = (0..bytes)
            .step_by(4)
            .flat_map(|i| pixel(i).to_le_bytes())
            .collect();
        t.ram_write(FB_GPA, &image).map_err(|e| err(t, e))?;
        let fb = Framebuffer { gm, stride };
        modeset::modeset(t, o, &mode, fb).map_err(|e| err(t, e))?;
        modeset::wait_vblank(t).map_err(|e| err(t, e))?;
        Ok((fb, mode.hactive, mode.vactive, bytes))
    })();
    let (fb, width, height, bytes) = match shown {
        Ok(s) => s,
        Err(e) => {
            c.fail("guest modeset over VFIO", e);
            return;
        }
    };
    c.pass("guest modeset over VFIO (EDID over AUX, link training, pipe, plane, vblank)");
    let p = match query(v, uapi::GFX_PLANE_TYPE_DMABUF, uapi::DRM_PLANE_TYPE_PRIMARY) {
        Ok(p) => p,
        Err(e) => {
            c.fail("gfx plane query", e);
            return;
        }
    };
    let size = bytes.next_multiple_of(4096);
    let size32 = u32::try_from(size).unwrap_or(u32::MAX);
    c.expect(
        "gfx plane: XRGB8888, the mode's size, linear",
        p.drm_format == uapi::DRM_FORMAT_XRGB8888
            && p.width == width
            && p.height == height
            && p.stride == fb.stride
            && p.drm_format_mod == 0
            && p.size == size32
            && p.dmabuf_id != 0,
        || format!("{p:?}"),
    );
    c.expect(
        "gfx plane: the same framebuffer keeps its id",
        query(v, uapi::GFX_PLANE_TYPE_DMABUF, uapi::DRM_PLANE_TYPE_PRIMARY)
            .is_ok_and(|q| q.dmabuf_id == p.dmabuf_id),
        || "id changed".into(),
    );
    let pixels = ioctl_u32_get_fd(v.device.as_fd(), uapi::DEVICE_GET_GFX_DMABUF, &p.dmabuf_id)
        .and_then(|f| map_and_copy(&f, size));
    c.check(
        "dma-buf holds the guest's framebuffer",
        match pixels {
            Ok(px) => match px
                .chunks_exact(4)
                .take(bytes / 4)
                .zip((0..bytes).step_by(4))
                .find(|(d, i)| d != &pixel(*i).to_le_bytes().as_slice())
            {
                None => Ok(()),
                Some((_, i)) => Err(format!("byte {i}: the pixel differs")),
            },
            Err(e) => Err(format!("GET_GFX_DMABUF/mmap: {e}")),
        },
    );
    let flipped = modeset::flip(t, fb.gm.saturating_add(size32), false)
        .and_then(|()| modeset::wait_vblank(t).map(drop));
    c.check("flip", flipped.map_err(|e| format!("{e:?}")));
    c.expect(
        "gfx plane after the flip: a new id",
        query(v, uapi::GFX_PLANE_TYPE_DMABUF, uapi::DRM_PLANE_TYPE_PRIMARY)
            .is_ok_and(|q| q.dmabuf_id != p.dmabuf_id && q.width == width),
        || "same id".into(),
    );
    bad_input(c, v);
}

/// Hostile display ioctls: each a clear errno.
fn bad_input(c: &mut Checks, v: &Vfio) {
    let errno = |r: std::io::Result<GfxPlaneInfo>| r.err().and_then(|e| e.raw_os_error());
    c.expect(
        "gfx plane query: region planes refused (EINVAL)",
        errno(query(
            v,
            uapi::GFX_PLANE_TYPE_REGION,
            uapi::DRM_PLANE_TYPE_PRIMARY,
        )) == Some(libc::EINVAL),
        || "not EINVAL".into(),
    );
    c.expect(
        "gfx plane query: unknown plane type refused (EINVAL)",
        errno(query(v, uapi::GFX_PLANE_TYPE_DMABUF, 7)) == Some(libc::EINVAL),
        || "not EINVAL".into(),
    );
    c.expect(
        "gfx plane query: cursor off (ENODEV)",
        errno(query(
            v,
            uapi::GFX_PLANE_TYPE_DMABUF,
            uapi::DRM_PLANE_TYPE_CURSOR,
        )) == Some(libc::ENODEV),
        || "not ENODEV".into(),
    );
    let mut short = GfxPlaneInfo {
        argsz: 8,
        flags: uapi::GFX_PLANE_TYPE_DMABUF,
        drm_plane_type: 1,
        ..GfxPlaneInfo::default()
    };
    c.expect(
        "gfx plane query: short argsz refused (EINVAL)",
        ioctl_arg(v.device.as_fd(), uapi::DEVICE_QUERY_GFX_PLANE, &mut short)
            .err()
            .and_then(|e| e.raw_os_error())
            == Some(libc::EINVAL),
        || "not EINVAL".into(),
    );
    c.expect(
        "dma-buf of an unknown id refused (ENOENT)",
        ioctl_u32_get_fd(v.device.as_fd(), uapi::DEVICE_GET_GFX_DMABUF, &0xdead_beef)
            .err()
            .and_then(|e| e.raw_os_error())
            == Some(libc::ENOENT),
        || "not ENOENT".into(),
    );
}
