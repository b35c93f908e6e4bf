//! BAR2, the aperture, as QEMU's vfio-pci uses it: region info with a sparse-mmap capability
//! naming the vGPU's slice, an mmap of that slice, and region reads and writes. Behind an
//! aperture page is the guest page the guest's GGTT entry maps, so a store through the
//! mapping lands in guest RAM and a GGTT rewrite moves the mapping to the new page. Outside
//! the slice nothing is reachable. A page the GGTT does not map is, as on hardware, the vGPU's
//! scratch page (kvmgt's private "sink"): memory that keeps what is stored, zeroed for each
//! user of the device, and never guest RAM.

use std::os::unix::fs::FileExt;

use guest_model::Transport;
use gvt::model::vgpu::{GEN8_PAGE_PRESENT, GGTT_MMIO_OFFSET};

use crate::checks::Checks;
use crate::sys::{try_mmap, DeviceMap};
use crate::transport::{Region, RegionIo, VfioTransport};
use crate::uapi;
use crate::vfio::Vfio;

/// Guest RAM pages the checks put behind the aperture (above the framebuffer).
const PAGE_A: u64 = 15 << 20;
const PAGE_B: u64 = PAGE_A + 4096;
const PAGE_C: u64 = PAGE_B + 4096;
/// Where in its slice the checks use the aperture: its last pages, clear of the probe's
/// GGTT pages and the framebuffer's.
const FROM_END: u64 = 16 * 4096;

/// BAR2's region and its mmap area, as region info gives them.
pub fn slice(c: &mut Checks, v: &Vfio, mappable: (u32, u32)) -> Option<(Region, u64, u64)> {
    let (bar2, caps) = match v.region_info(uapi::PCI_BAR2_REGION_INDEX) {
        Ok(r) => r,
        Err(e) => {
            c.fail("bar2 region info", e);
            return None;
        }
    };
    let want = uapi::REGION_INFO_FLAG_READ
        | uapi::REGION_INFO_FLAG_WRITE
        | uapi::REGION_INFO_FLAG_MMAP
        | uapi::REGION_INFO_FLAG_CAPS;
    c.expect(
        "bar2 region: read, write, mmap, capabilities",
        bar2.flags & want == want,
        || format!("flags {:#x}", bar2.flags),
    );
    let areas: Vec<_> = caps.iter().filter_map(uapi::cap_sparse_areas).collect();
    let slice = (u64::from(mappable.0), u64::from(mappable.1));
    let ok = c.expect(
        "bar2 sparse mmap: one area, the vGPU's slice (PVINFO mappable base and size)",
        areas == [vec![slice]],
        || format!("areas {areas:x?}, PVINFO {slice:x?}"),
    );
    ok.then_some((bar2, slice.0, slice.1))
}

/// Writes GGTT entry `index` through BAR0 (the guest binding a page).
fn bind<D: RegionIo>(t: &mut VfioTransport<'_, D>, index: u64, pte: u64) -> Result<(), String> {
    t.mmio_write(
        GGTT_MMIO_OFFSET.saturating_add(index.saturating_mul(8)),
        &pte.to_le_bytes(),
    )
    .map_err(|e| {
        format!(
            "GGTT write: {e:?} {}",
            t.last_error.take().unwrap_or_default()
        )
    })
}

fn ram64<D: RegionIo>(t: &mut VfioTransport<'_, D>, gpa: u64) -> Option<u64> {
    let mut b = [0u8; 8];
    t.ram_read(gpa, &mut b).ok().map(|()| u64::from_le_bytes(b))
}

fn pread64(v: &Vfio, at: u64) -> std::io::Result<u64> {
    let mut b = [0u8; 8];
    match v.device.read_at(&mut b, at)? {
        8 => Ok(u64::from_le_bytes(b)),
        n => Err(std::io::Error::other(format!("short read: {n} bytes"))),
    }
}

fn errno<T>(r: std::io::Result<T>) -> Option<i32> {
    r.err().and_then(|e| e.raw_os_error())
}

/// The checks; `mappable` is PVINFO's (base, size).
/// With `user_unmap`, last of all, guest RAM is unmapped and mapped again under the vGPU
/// ([`user_unmap`]).
pub fn check<D: RegionIo>(
    c: &mut Checks,
    v: &Vfio,
    t: &mut VfioTransport<'_, D>,
    mappable: (u32, u32),
    user_unmap: bool,
) {
    let Some((bar2, base, size)) = slice(c, v, mappable) else {
        return;
    };
    let (Ok(len), Some(gm)) = (
        usize::try_from(size),
        base.checked_add(size).and_then(|e| e.checked_sub(FROM_END)),
    ) else {
        return c.fail("bar2 slice", format!("{size:#x} bytes at {base:#x}"));
    };
    let map = match DeviceMap::new(&v.device, bar2.offset.wrapping_add(base), len) {
        Ok(m) => m,
        Err(e) => return c.fail("bar2 mmap of the slice", e),
    };
    c.pass("bar2 mmap of the slice");
    // Offsets: `fd(x)` in the device fd at BAR2 offset x, `mm(x)` in the mapping past gm.
    let fd = |x: u64| bar2.offset.wrapping_add(x);
    let at = usize::try_from(gm.wrapping_sub(base)).unwrap_or(usize::MAX);
    let mm = |x: usize| at.wrapping_add(x);
    let (a, b) = (
        |x: u64| PAGE_A.wrapping_add(x),
        |x: u64| PAGE_B.wrapping_add(x),
    );
    let index = gm / 4096;
    // The guest binds PAGE_A at gm; a store through the mapping is a store to guest RAM.
    if let Err(e) = bind(t, index, PAGE_A | GEN8_PAGE_PRESENT) {
        return c.fail("aperture page bound", e);
    }
    let x = 0x5a5a_0001_dead_beefu64;
    map.write64(mm(0x10), x);
    c.expect(
        "store through the mmap lands in guest RAM",
        ram64(t, a(0x10)) == Some(x),
        || format!("RAM has {:x?}", ram64(t, a(0x10))),
    );
    let y = 0x0123_4567_89ab_cdefu64;
    let _ = t.ram_write(a(0x20), &y.to_le_bytes());
    c.expect(
        "guest RAM shows through the mmap",
        map.read64(mm(0x20)) == Some(y),
        || format!("mmap reads {:x?}", map.read64(mm(0x20))),
    );
    // Region reads and writes take the same way.
    c.expect(
        "bar2 region read: the same page",
        pread64(v, fd(gm.wrapping_add(0x10))).ok() == Some(x),
        || "different bytes".into(),
    );
    let z = 0x7777_0000_1111_2222u64;
    let wrote = v
        .device
        .write_at(&z.to_le_bytes(), fd(gm.wrapping_add(0x28)))
        .ok()
        == Some(8);
    c.expect(
        "bar2 region write lands in guest RAM",
        wrote && ram64(t, a(0x28)) == Some(z),
        || format!("wrote {wrote}, RAM has {:x?}", ram64(t, a(0x28))),
    );
    // The guest rebinds gm to PAGE_B: the mapping follows (the old one was zapped).
    let w = 0xbbbb_0000_0000_000bu64;
    let _ = t.ram_write(b(0x10), &w.to_le_bytes());
    if let Err(e) = bind(t, index, PAGE_B | GEN8_PAGE_PRESENT) {
        return c.fail("aperture page rebound", e);
    }
    c.expect(
        "GGTT rewrite: the mmap shows the new page",
        map.read64(mm(0x10)) == Some(w),
        || format!("mmap reads {:x?}", map.read64(mm(0x10))),
    );
    map.write64(mm(0x30), 0x3030);
    c.expect(
        "GGTT rewrite: stores reach the new page only",
        ram64(t, b(0x30)) == Some(0x3030) && ram64(t, a(0x30)) == Some(0),
        || {
            format!(
                "page B {:x?}, page A {:x?}",
                ram64(t, b(0x30)),
                ram64(t, a(0x30))
            )
        },
    );
    // A page the GGTT does not map: the sink, through the mmap and the region alike.
    let hole = gm.wrapping_add(4096);
    if let Err(e) = bind(t, index.wrapping_add(1), 0) {
        return c.fail("aperture page unbound", e);
    }
    let touch = map.read_in_child(mm(4096));
    if !c.expect(
        "unbound page: a touch through the mmap does not fault",
        matches!(touch, Ok(None)),
        || format!("{touch:?}"),
    ) {
        return;
    }
    let (h, q) = (
        |x: u64| hole.wrapping_add(x),
        |x: usize| mm(4096).wrapping_add(x),
    );
    c.expect(
        "unbound page: reads as zeros at first",
        pread64(v, fd(h(0x40))).ok() == Some(0) && map.read64(q(0x48)) == Some(0),
        || {
            format!(
                "region {:x?}, mmap {:x?}",
                pread64(v, fd(h(0x40))).ok(),
                map.read64(q(0x48))
            )
        },
    );
    let c_word = 0xcccc_0000_0000_00ccu64;
    let _ = t.ram_write(PAGE_C.wrapping_add(0x40), &c_word.to_le_bytes());
    let (s1, s2) = (0x51c0_0000_0000_0001u64, 0x51c0_0000_0000_0002u64);
    map.write64(q(0x40), s1);
    c.expect(
        "unbound page: a store through the mmap reads back through it",
        map.read64(q(0x40)) == Some(s1),
        || format!("mmap reads {:x?}", map.read64(q(0x40))),
    );
    c.expect(
        "unbound page: ... and through the region",
        pread64(v, fd(h(0x40))).ok() == Some(s1),
        || format!("region reads {:x?}", pread64(v, fd(h(0x40))).ok()),
    );
    let wrote = v.device.write_at(&s2.to_le_bytes(), fd(h(0x48))).ok() == Some(8);
    c.expect(
        "unbound page: a region write shows through the mmap",
        wrote && map.read64(q(0x48)) == Some(s2),
        || format!("wrote {wrote}, mmap reads {:x?}", map.read64(q(0x48))),
    );
    let ram: Vec<_> = [PAGE_A, PAGE_B, PAGE_C]
        .iter()
        .flat_map(|&p| [0x40u64, 0x48].map(|x| ram64(t, p.wrapping_add(x))))
        .collect();
    c.expect(
        "unbound page: the stores reach no guest RAM",
        ram.iter().all(|w| *w != Some(s1) && *w != Some(s2)),
        || format!("RAM has {ram:x?}"),
    );
    // The guest binds the page: the mmap leaves the sink for the guest page, and comes back.
    if let Err(e) = bind(t, index.wrapping_add(1), PAGE_C | GEN8_PAGE_PRESENT) {
        return c.fail("unbound page bound", e);
    }
    c.expect(
        "unbound page bound: the mmap shows the guest page",
        map.read64(q(0x40)) == Some(c_word),
        || format!("mmap reads {:x?}", map.read64(q(0x40))),
    );
    if let Err(e) = bind(t, index.wrapping_add(1), 0) {
        return c.fail("bound page unbound again", e);
    }
    c.expect(
        "unbound again: the mmap shows the sink as it was",
        map.read64(q(0x40)) == Some(s1),
        || format!("mmap reads {:x?}", map.read64(q(0x40))),
    );
    // Outside the slice.
    let end = base.wrapping_add(size);
    let einval = |r: Option<i32>| r == Some(libc::EINVAL);
    let not = || "not EINVAL".to_string();
    c.expect(
        "bar2 read below the slice refused (EINVAL)",
        einval(errno(pread64(v, fd(base.wrapping_sub(8))))),
        not,
    );
    c.expect(
        "bar2 read straddling the slice's end refused (EINVAL)",
        einval(errno(pread64(v, fd(end.wrapping_sub(4))))),
        not,
    );
    c.expect(
        "bar2 write at offset 0 refused (EINVAL)",
        einval(errno(v.device.write_at(&[0; 4], fd(0)))),
        not,
    );
    c.expect(
        "mmap below the slice refused (EINVAL)",
        einval(errno(try_mmap(&v.device, fd(0), 4096, false))),
        not,
    );
    c.expect(
        "mmap past the slice's end refused (EINVAL)",
        einval(errno(try_mmap(
            &v.device,
            fd(end.wrapping_sub(4096)),
            8192,
            false,
        ))),
        not,
    );
    c.expect(
        "private mmap of the slice refused (EINVAL)",
        einval(errno(try_mmap(&v.device, fd(base), 4096, true))),
        not,
    );
    c.expect(
        "mmap of bar0 refused (EINVAL)",
        einval(errno(try_mmap(&v.device, 0, 4096, false))),
        not,
    );
    if user_unmap {
        self::user_unmap(c, v, t, &map, index, mm(0));
    }
}

/// Last, because it pulls all guest RAM from under the vGPU: user space unmaps guest RAM, so
/// kvmgt must unpin every page (the aperture stops showing guest RAM), then maps it again and
/// the guest rebinds the same page. The reference gvt.ko still held to the page's old mapping
/// must not be taken from the new one (same page, same DMA address): the page stays mapped.
///
/// Under lockdep this provokes a report about vfio type1's own lock order (6.12): it registers
/// a device holding `iommu->lock` then `device_list_lock`, and calls the unmap notifier holding
/// `device_list_lock`, where drivers must unpin, which takes `iommu->lock`. Every mdev driver that
/// pins pages hits it; the vfio scenario runs this last and declares that report.
fn user_unmap<D: RegionIo>(
    c: &mut Checks,
    v: &Vfio,
    t: &mut VfioTransport<'_, D>,
    map: &DeviceMap,
    index: u64,
    at: usize,
) {
    let marker = 0x0a0a_0000_0000_00aau64;
    let _ = t.ram_write(PAGE_A.wrapping_add(0x50), &marker.to_le_bytes());
    if let Err(e) = bind(t, index, PAGE_A | GEN8_PAGE_PRESENT) {
        return c.fail("user unmap: page bound", e);
    }
    let shows = |m: &DeviceMap| m.read64(at.wrapping_add(0x50));
    c.expect(
        "user unmap: the aperture shows the page before",
        shows(map) == Some(marker),
        || format!("mmap reads {:x?}", shows(map)),
    );
    if let Err(e) = v.unmap_ram() {
        return c.fail("user unmap: VFIO_IOMMU_UNMAP_DMA", e);
    }
    c.expect(
        "user unmap: the aperture stops showing guest RAM",
        shows(map) != Some(marker),
        || "still the guest page".into(),
    );
    if let Err(e) = v.remap_ram() {
        return c.fail("user unmap: VFIO_IOMMU_MAP_DMA again", e);
    }
    if let Err(e) = bind(t, index, PAGE_A | GEN8_PAGE_PRESENT) {
        return c.fail("user unmap: page bound again", e);
    }
    c.expect(
        "user unmap: rebound after remap, the page stays mapped",
        shows(map) == Some(marker),
        || format!("mmap reads {:x?}", shows(map)),
    );
    let again = 0x0a0a_0000_0000_00bbu64;
    map.write64(at.wrapping_add(0x58), again);
    c.expect(
        "user unmap: stores through the aperture reach guest RAM again",
        ram64(t, PAGE_A.wrapping_add(0x58)) == Some(again),
        || format!("RAM has {:x?}", ram64(t, PAGE_A.wrapping_add(0x58))),
    );
    let _ = bind(t, index, 0);
}
