//! The EDID region as QEMU's vfio display drives it (`struct vfio_region_gfx_edid`, then the
//! blob): it starts with the monitor's own EDID and the link up; an update is link down, the
//! size and the blob, link up, and the guest sees the monitor unplugged and plugged back with
//! the new EDID, which it reads over AUX and GMBUS. A corrupted blob is refused at link up and
//! the monitor keeps its EDID; malformed register accesses are refused.

use std::os::unix::fs::FileExt;

use guest_model::modeset::{self, Output, SXGA};
use guest_model::TransportExt;
use gvt::model::display::edid;

use crate::checks::Checks;
use crate::transport::{Region, RegionIo, VfioTransport};
use crate::uapi::{self, edid_reg};
use crate::vfio::Vfio;

fn reg(v: &Vfio, r: &Region, off: u64) -> std::io::Result<u32> {
    let mut b = [0u8; 4];
    v.device.read_exact_at(&mut b, r.offset.wrapping_add(off))?;
    Ok(u32::from_le_bytes(b))
}

fn set(v: &Vfio, r: &Region, off: u64, val: u32) -> std::io::Result<()> {
    v.device
        .write_all_at(&val.to_le_bytes(), r.offset.wrapping_add(off))
}

fn errno<T>(r: std::io::Result<T>) -> Option<i32> {
    r.err().and_then(|e| e.raw_os_error())
}

/// The guest's view of the monitor's hotplug (Broxton's north display or the big cores' PCH):
/// (live status, latched interrupt), clearing the latch.
fn hotplug<D: RegionIo>(t: &mut VfioTransport<'_, D>, o: &Output) -> Option<(bool, bool)> {
    let hpd = o.hpd_bit();
    let live = t.read32(o.hpd_isr()).ok()? & hpd != 0;
    let latched = t.read32(o.hpd_iir()).ok()? & hpd != 0;
    t.write32(o.hpd_iir(), hpd).ok()?;
    Some((live, latched))
}

/// The checks. Run after the display checks: the guest has modeset and enabled its hotplug
/// interrupt, whose status and latch it reads as its interrupt handler would.
pub fn check<D: RegionIo>(c: &mut Checks, v: &Vfio, t: &mut VfioTransport<'_, D>, o: &Output) {
    let r = match v.find_region(uapi::REGION_TYPE_GFX, uapi::REGION_SUBTYPE_GFX_EDID) {
        Ok(Some(r)) => r,
        Ok(None) => return c.fail("edid region", "no region of type 1 subtype 1 (GFX EDID)"),
        Err(e) => return c.fail("edid region", e),
    };
    let rw = uapi::REGION_INFO_FLAG_READ | uapi::REGION_INFO_FLAG_WRITE;
    let regs = [
        edid_reg::OFFSET,
        edid_reg::MAX_SIZE,
        edid_reg::SIZE,
        edid_reg::MAX_XRES,
        edid_reg::MAX_YRES,
        edid_reg::LINK_STATE,
    ]
    .map(|o| reg(v, &r, o).ok());
    let [Some(blob_at), Some(max), Some(size), Some(xres), Some(yres), Some(link)] = regs else {
        return c.fail("edid region registers", format!("{regs:?}"));
    };
    c.expect(
        "edid region: read/write, 256-byte blob after the registers, link up",
        r.flags & rw == rw
            && max == 256
            && u64::from(blob_at) >= 24
            && link == uapi::GFX_LINK_STATE_UP,
        || {
            format!(
                "flags {:#x}, edid_offset {blob_at:#x}, max {max}, link {link}",
                r.flags
            )
        },
    );
    let blob_off = u64::from(blob_at);
    let mut blob = vec![0u8; usize::try_from(size).unwrap_or(0).min(256)];
    let read = v
        .device
        .read_exact_at(&mut blob, r.offset.wrapping_add(blob_off));
    let aux = modeset::edid_over_aux(t, o, false);
    c.expect(
        "edid region holds the monitor's EDID (as the guest reads it over AUX)",
        read.is_ok() && size == 128 && aux.as_ref().is_ok_and(|a| a[..] == blob[..]),
        || format!("{read:?}, {size} bytes, AUX {:?}", aux.as_ref().err()),
    );
    let mode = aux.ok().and_then(|a| modeset::preferred_mode(&a).ok());
    c.expect(
        "edid region: max resolution is the monitor's",
        mode.is_some_and(|m| (m.hactive, m.vactive) == (xres, yres)),
        || format!("{xres}x{yres}, EDID {mode:?}"),
    );

    // An update as QEMU makes it: link down, size, blob, link up.
    let _ = hotplug(t, o);
    let custom = edid::block_for_mode(&SXGA);
    c.check(
        "link down",
        set(v, &r, edid_reg::LINK_STATE, uapi::GFX_LINK_STATE_DOWN).map_err(|e| e.to_string()),
    );
    c.expect(
        "link down: the guest sees the monitor unplugged",
        hotplug(t, o) == Some((false, true)),
        || "no hotplug".into(),
    );
    let staged = set(v, &r, edid_reg::SIZE, 128).and_then(|()| {
        v.device
            .write_all_at(&custom, r.offset.wrapping_add(blob_off))
    });
    c.check(
        "new EDID staged (1280x1024)",
        staged.map_err(|e| e.to_string()),
    );
    c.check(
        "link up",
        set(v, &r, edid_reg::LINK_STATE, uapi::GFX_LINK_STATE_UP).map_err(|e| e.to_string()),
    );
    c.expect(
        "link up: the guest sees the monitor plugged in",
        hotplug(t, o) == Some((true, true)),
        || "no hotplug".into(),
    );
    let aux = modeset::edid_over_aux(t, o, false);
    let gmbus = o.ddc_pin().and_then(|pin| modeset::edid_over_gmbus(t, pin));
    c.expect(
        "the guest reads the new EDID over AUX and GMBUS",
        aux == Ok(custom) && gmbus == Ok(custom),
        || format!("AUX {:?}, GMBUS {:?}", aux.err(), gmbus.err()),
    );
    let mode = modeset::preferred_mode(&custom).ok();
    c.expect(
        "the new EDID's preferred mode is 1280x1024",
        mode == Some(SXGA),
        || format!("{mode:?}"),
    );

    // A corrupted blob: refused at link up, and the monitor keeps the EDID it had.
    let mut bad = custom;
    bad[70] ^= 0x10;
    let _ = v.device.write_all_at(&bad, r.offset.wrapping_add(blob_off));
    let einval = |r: Option<i32>| r == Some(libc::EINVAL);
    c.expect(
        "corrupted EDID refused at link up (EINVAL)",
        einval(errno(set(
            v,
            &r,
            edid_reg::LINK_STATE,
            uapi::GFX_LINK_STATE_UP,
        ))),
        || "not EINVAL".into(),
    );
    c.expect(
        "after a refused EDID the guest still reads the old one",
        modeset::edid_over_aux(t, o, false) == Ok(custom),
        || "changed".into(),
    );
    let _ = set(v, &r, edid_reg::SIZE, 100);
    let _ = v
        .device
        .write_all_at(&custom, r.offset.wrapping_add(blob_off));
    c.expect(
        "EDID of 100 bytes refused at link up (EINVAL)",
        einval(errno(set(
            v,
            &r,
            edid_reg::LINK_STATE,
            uapi::GFX_LINK_STATE_UP,
        ))),
        || "not EINVAL".into(),
    );
    let _ = set(v, &r, edid_reg::SIZE, 128);

    // Malformed register accesses.
    c.expect(
        "edid_size past the maximum refused (EINVAL)",
        einval(errno(set(v, &r, edid_reg::SIZE, 257))),
        || "not EINVAL".into(),
    );
    c.expect(
        "unknown link state refused (EINVAL)",
        einval(errno(set(v, &r, edid_reg::LINK_STATE, 3))),
        || "not EINVAL".into(),
    );
    c.expect(
        "read-only register write refused (EPERM)",
        errno(set(v, &r, edid_reg::MAX_XRES, 4096)) == Some(libc::EPERM),
        || "not EPERM".into(),
    );
    let mut two = [0u8; 2];
    c.expect(
        "half-register read refused (EINVAL)",
        einval(errno(
            v.device
                .read_at(&mut two, r.offset.wrapping_add(edid_reg::SIZE)),
        )),
        || "not EINVAL".into(),
    );
    let mut past = [0u8; 8];
    c.expect(
        "blob read past its maximum refused (EINVAL)",
        einval(errno(v.device.read_at(
            &mut past,
            r.offset.wrapping_add(blob_off).wrapping_add(252),
        ))),
        || "not EINVAL".into(),
    );
    c.expect(
        "read between registers and blob refused (EINVAL)",
        einval(errno(
            v.device.read_at(&mut past, r.offset.wrapping_add(0x100)),
        )),
        || "not EINVAL".into(),
    );
}
