//! `probe` and `bench`: what the QEMU scenario runs on a vGPU.

use std::os::unix::fs::FileExt;

use guest_model::probe::{self, GGTT_PAGES, GGTT_PAGES_GPA};
use gvt::model::pvinfo::field;
use gvt::model::vgpu::GGTT_MMIO_OFFSET;

use crate::checks::Checks;
use crate::sys::EventFd;
use crate::timing::time_per_op;
use crate::transport::{Region, VfioTransport};
use crate::uapi;
use crate::vfio::{parse_type_description, Vfio, MDEV_DEVICES};

/// Guest RAM mapped at IOVA 0: the probe's GGTT pages, the workloads' pages (from 2 MiB) and a
/// framebuffer of up to 1920x1200 (from 4 MiB).
pub const RAM_SIZE: usize = 16 << 20;
const _: () = assert!(GGTT_PAGES_GPA + GGTT_PAGES * 4096 <= RAM_SIZE as u64);

/// BAR0 size of a Gen9 vGPU: registers, then the GGTT from 8 MiB.
pub const BAR0_SIZE: u64 = 16 << 20;
/// Size of the OpRegion region.
pub const OPREGION_SIZE: u64 = 8 << 10;
/// How an OpRegion starts.
pub const OPREGION_SIGNATURE: &[u8; 16] = b"IntelGraphicsMem";

/// Opens `uuid`, reporting the open as a check.
pub fn open(c: &mut Checks, uuid: &str) -> Option<Vfio> {
    match Vfio::open(uuid, RAM_SIZE) {
        Ok(v) => {
            c.pass("vfio open");
            Some(v)
        }
        Err(e) => {
            c.fail("vfio open", e);
            None
        }
    }
}

/// An eventfd for the device's MSI (kept by the caller so that the guest's interrupts have
/// somewhere to go), and whether VFIO took it; `None` if there is no eventfd.
pub fn msi_eventfd(c: &mut Checks, v: &Vfio) -> Option<(EventFd, bool)> {
    let msi = match EventFd::new() {
        Ok(e) => e,
        Err(e) => {
            c.fail("msi eventfd", format!("eventfd: {e}"));
            return None;
        }
    };
    let on = c.check(
        "msi eventfd",
        v.set_irq_eventfd(uapi::PCI_MSI_IRQ_INDEX, msi.raw())
            .map_err(|e| format!("VFIO_DEVICE_SET_IRQS: {e}")),
    );
    Some((msi, on))
}

/// The config and BAR0 regions, checked for the sizes and access a guest needs.
pub fn main_regions(c: &mut Checks, v: &Vfio) -> Option<(Region, Region)> {
    let info = v.info;
    c.expect(
        "vfio device is PCI",
        info.flags & uapi::DEVICE_FLAGS_PCI != 0
            && info.num_regions >= uapi::PCI_NUM_REGIONS
            && info.num_irqs > uapi::PCI_MSI_IRQ_INDEX,
        || {
            format!(
                "flags {:#x}, {} regions, {} irqs",
                info.flags, info.num_regions, info.num_irqs
            )
        },
    );
    let rw = uapi::REGION_INFO_FLAG_READ | uapi::REGION_INFO_FLAG_WRITE;
    let cfg = match v.region_info(uapi::PCI_CONFIG_REGION_INDEX) {
        Ok((r, _)) => r,
        Err(e) => {
            c.fail("config region", e);
            return None;
        }
    };
    c.expect(
        "config region",
        cfg.size >= 256 && cfg.flags & rw == rw,
        || format!("{} bytes, flags {:#x}", cfg.size, cfg.flags),
    );
    let bar0 = match v.region_info(uapi::PCI_BAR0_REGION_INDEX) {
        Ok((r, _)) => r,
        Err(e) => {
            c.fail("bar0 region", e);
            return None;
        }
    };
    c.expect(
        "bar0 region",
        bar0.size == BAR0_SIZE && bar0.flags & rw == rw,
        || format!("{:#x} bytes, flags {:#x}", bar0.size, bar0.flags),
    );
    Some((cfg, bar0))
}

/// The OpRegion: a device-specific region of Intel's IGD type, 8 KiB, with its signature.
fn check_opregion(c: &mut Checks, v: &Vfio) {
    let r = match v.find_region(
        uapi::REGION_TYPE_INTEL,
        uapi::REGION_SUBTYPE_INTEL_IGD_OPREGION,
    ) {
        Ok(Some(r)) => r,
        Ok(None) => {
            c.fail(
                "opregion",
                "no region of type 0x80008086 subtype 1 (IGD OpRegion)",
            );
            return;
        }
        Err(e) => {
            c.fail("opregion", e);
            return;
        }
    };
    let mut sig = [0u8; 16];
    let r = pread(v, &r, 0, &mut sig).and_then(|()| {
        if r.size != OPREGION_SIZE {
            Err(format!(
                "region {} is {} bytes, want {OPREGION_SIZE}",
                r.index, r.size
            ))
        } else if &sig != OPREGION_SIGNATURE {
            Err(format!("starts with {:?}", String::from_utf8_lossy(&sig)))
        } else {
            Ok(())
        }
    });
    c.check("opregion", r);
}

/// `probe UUID`: open, enable MSI, run the guest i915 probe, check what it learned, then run
/// the guest's workloads.
pub fn probe(uuid: &str, user_unmap: bool, tag: Option<String>) -> Checks {
    let mut c = Checks::tagged(tag);
    let Some(v) = open(&mut c, uuid) else {
        return c;
    };
    let Some((cfg, bar0)) = main_regions(&mut c, &v) else {
        return c;
    };
    let bar2 = v.region_info(uapi::PCI_BAR2_REGION_INDEX);

    let msi_info = v.irq_info(uapi::PCI_MSI_IRQ_INDEX);
    c.check(
        "msi irq info",
        match msi_info {
            Ok(i) if i.count == 1 && i.flags & uapi::IRQ_INFO_EVENTFD != 0 => Ok(()),
            Ok(i) => Err(format!("count {}, flags {:#x}", i.count, i.flags)),
            Err(e) => Err(e.to_string()),
        },
    );
    let intx = v.irq_info(uapi::PCI_INTX_IRQ_INDEX);
    c.check(
        "intx irq info",
        match intx {
            Ok(i) if i.count == 1 => Ok(()),
            Ok(i) => Err(format!("count {}", i.count)),
            Err(e) => Err(e.to_string()),
        },
    );
    let Some((msi, msi_on)) = msi_eventfd(&mut c, &v) else {
        return c;
    };

    let mut t = VfioTransport::new(&v.device, cfg, bar0, &v.ram, msi_on.then_some(&msi));
    let report = probe::probe(&mut t);
    let detail = t.last_error.take();
    match report {
        Err(e) => c.fail(
            "probe",
            format!(
                "{e:?}{}",
                detail.map(|d| format!(" ({d})")).unwrap_or_default()
            ),
        ),
        Ok(r) => {
            c.pass("probe");
            c.expect("vgt_id > 0", r.vgt_id > 0, || {
                format!("vgt_id {}", r.vgt_id)
            });
            c.expect(
                "bar0 size 16 MiB",
                r.bar0_size == BAR0_SIZE && bar0.size == BAR0_SIZE,
                || {
                    format!(
                        "config sizing says {:#x}, region info {:#x}",
                        r.bar0_size, bar0.size
                    )
                },
            );
            c.check(
                "bar2 size",
                match &bar2 {
                    Ok((b, _)) if b.size == r.bar2_size => Ok(()),
                    Ok((b, _)) => Err(format!(
                        "config sizing says {:#x}, region info {:#x}",
                        r.bar2_size, b.size
                    )),
                    Err(e) => Err(e.clone()),
                },
            );
            check_type(&mut c, uuid, r.mappable.1, r.nonmappable.1, r.fences);
            // PVINFO read again after the probe, through the region: the vGPU kept its identity.
            let again = guest_model::TransportExt::read32(&mut t, field::VGT_ID);
            c.check(
                "pvinfo stable",
                match again {
                    Ok(id) if id == r.vgt_id => Ok(()),
                    Ok(id) => Err(format!("vgt_id now {id}, was {}", r.vgt_id)),
                    Err(e) => Err(format!("{e:?} {}", t.last_error.take().unwrap_or_default())),
                },
            );
            if msi_on {
                crate::workloads::run(
                    &mut c,
                    &mut t,
                    crate::display::FB_GPA,
                    r.vgt_id,
                    crate::workloads::ROUNDS,
                    |t| t.last_error.take(),
                );
                crate::display::check(&mut c, &v, &mut t, &r.output, r.mappable.0);
                crate::edid::check(&mut c, &v, &mut t, &r.output);
            }
            crate::aperture::check(&mut c, &v, &mut t, r.mappable, user_unmap);
        }
    }
    check_opregion(&mut c, &v);
    if msi_on {
        c.check(
            "msi eventfd released",
            v.disable_irq(uapi::PCI_MSI_IRQ_INDEX)
                .map_err(|e| e.to_string()),
        );
    }
    c
}

/// PVINFO's ballooning ranges and fences against what the mdev type promises.
fn check_type(c: &mut Checks, uuid: &str, mappable: u32, nonmappable: u32, fences: u32) {
    let path = format!("{MDEV_DEVICES}/{uuid}/mdev_type/description");
    let want = match std::fs::read_to_string(&path) {
        Ok(s) => parse_type_description(&s)
            .ok_or_else(|| format!("{path}: no low_gm_size/high_gm_size/fence in {s:?}")),
        Err(e) => Err(format!("{path}: {e}")),
    };
    match want {
        Err(e) => c.fail("pvinfo matches mdev type", e),
        Ok((low, high, fence)) => {
            c.expect("pvinfo mappable size", u64::from(mappable) == low, || {
                format!("PVINFO {mappable:#x}, type {low:#x}")
            });
            c.expect(
                "pvinfo non-mappable size",
                u64::from(nonmappable) == high,
                || format!("PVINFO {nonmappable:#x}, type {high:#x}"),
            );
            c.expect("pvinfo fence count", u64::from(fences) == fence, || {
                format!("PVINFO {fences}, type {fence}")
            });
        }
    }
}

/// `hold UUID SECS`: keeps the vGPU open (MSI on) for `secs`, then checks it still answers.
/// The scenario removes the mdev meanwhile: the removal must wait for the close, not pull the
/// device from under its user.
pub fn hold(uuid: &str, secs: u32, tag: Option<String>) -> Checks {
    let mut c = Checks::tagged(tag);
    let Some(v) = open(&mut c, uuid) else {
        return c;
    };
    let Some((cfg, _)) = main_regions(&mut c, &v) else {
        return c;
    };
    // Kept until the end: the eventfd stays installed while the device is held.
    let msi = EventFd::new().and_then(|m| {
        v.set_irq_eventfd(uapi::PCI_MSI_IRQ_INDEX, m.raw())
            .map(|()| m)
    });
    c.check(
        "msi eventfd",
        msi.as_ref().map(drop).map_err(ToString::to_string),
    );
    std::thread::sleep(std::time::Duration::from_secs(u64::from(secs)));
    let mut id = [0u8; 2];
    c.check(
        "device answers after the hold",
        pread(&v, &cfg, 0, &mut id).and_then(|()| match u16::from_le_bytes(id) {
            0x8086 => Ok(()),
            x => Err(format!("vendor id {x:#06x}")),
        }),
    );
    c
}

/// One pread of `buf.len()` bytes at `off` in region `r`.
pub fn pread(v: &Vfio, r: &Region, off: u64, buf: &mut [u8]) -> Result<(), String> {
    let at = r.file_offset(off, buf.len()).ok_or("outside the region")?;
    match v.device.read_at(buf, at) {
        Ok(n) if n == buf.len() => Ok(()),
        Ok(n) => Err(format!("short read: {n} bytes")),
        Err(e) => Err(e.to_string()),
    }
}

/// `bench UUID N`: the cost of a region access from user space, per access, and of the
/// aperture through its region and through its mmap.
pub fn bench(uuid: &str, n: u32, tag: Option<&str>) -> Result<(), String> {
    let v = Vfio::open(uuid, RAM_SIZE)?;
    let (cfg, _) = v.region_info(uapi::PCI_CONFIG_REGION_INDEX)?;
    let (bar0, _) = v.region_info(uapi::PCI_BAR0_REGION_INDEX)?;
    let mut b = [0u8; 8];
    let tag = tag.map(|t| format!("{t}, ")).unwrap_or_default();
    let runs: [(&str, &Region, u64, usize); 3] = [
        ("config read, 4 bytes", &cfg, 0, 4),
        (
            "BAR0 register read, 4 bytes",
            &bar0,
            u64::from(field::VGT_ID),
            4,
        ),
        (
            "BAR0 PVINFO magic read, 8 bytes",
            &bar0,
            u64::from(field::MAGIC),
            8,
        ),
    ];
    for (what, r, off, len) in runs {
        let buf = b.get_mut(..len).ok_or("buffer")?;
        pread(&v, r, off, buf).map_err(|e| format!("{what}: {e}"))?;
        let ns = time_per_op(n, || pread(&v, r, off, buf))
            .map_err(|e| format!("{what}: {e}"))?
            .mean;
        println!("region access: {ns} ns/op ({tag}{what}, {n} ops)");
    }
    bench_aperture(&v, &bar0, n, &tag)
}

/// The first page of the vGPU's aperture slice bound to a guest page, read through the BAR2
/// region and through the mmap; then that GGTT entry rewritten to the other of two guest pages,
/// alone and followed by a read through the mmap (the difference is the zap and the fault),
/// and for comparison an entry of hidden memory, which no aperture mapping shows. The next two
/// entries keep both pages mapped, so no rewrite pins or unpins a page.
fn bench_aperture(v: &Vfio, bar0: &Region, n: u32, tag: &str) -> Result<(), String> {
    let (bar2, caps) = v.region_info(uapi::PCI_BAR2_REGION_INDEX)?;
    let (gm, _) = caps
        .iter()
        .find_map(uapi::cap_sparse_areas)
        .and_then(|a| a.first().copied())
        .ok_or("BAR2: no sparse mmap area")?;
    let pages = [(15u64 << 20) | 1, ((15u64 << 20) + 4096) | 1];
    let bind = |index: u64, pte: u64| {
        let entry = GGTT_MMIO_OFFSET.saturating_add(index.saturating_mul(8));
        match v
            .device
            .write_at(&pte.to_le_bytes(), bar0.offset.saturating_add(entry))
        {
            Ok(8) => Ok(()),
            r => Err(format!("GGTT write: {r:?}")),
        }
    };
    let index = gm / 4096;
    for (i, pte) in (1u64..).zip(pages) {
        bind(index.saturating_add(i), pte)?;
    }
    bind(index, pages[0])?;
    let map = crate::sys::DeviceMap::new(&v.device, bar2.offset.saturating_add(gm), 4096)
        .map_err(|e| format!("BAR2 mmap: {e}"))?;
    let mut buf = [0u8; 8];
    let report =
        |what: &str, ns: u128| println!("aperture access: {ns} ns/op ({tag}{what}, {n} ops)");
    report(
        "BAR2 region read, 8 bytes",
        time_per_op(n, || pread(v, &bar2, gm, &mut buf))?.mean,
    );
    let read = || {
        map.read64(0)
            .map(drop)
            .ok_or_else(|| "mmap read".to_string())
    };
    report("BAR2 mmap read, 8 bytes", time_per_op(n, read)?.mean);
    let mut high = [0u8; 4];
    pread(v, bar0, u64::from(field::NONMAPPABLE_BASE), &mut high)?;
    let high = u64::from(u32::from_le_bytes(high)) / 4096;
    let mut i = 0usize;
    let mut flip = |at: u64| {
        i = i.wrapping_add(1);
        bind(at, pages.get(i % 2).copied().unwrap_or(0))
    };
    report(
        "GGTT entry rewrite in hidden memory (BAR0 write, 8 bytes)",
        time_per_op(n, || flip(high))?.mean,
    );
    report(
        "GGTT entry rewrite in the slice (BAR0 write, 8 bytes)",
        time_per_op(n, || flip(index))?.mean,
    );
    report(
        "GGTT entry rewrite in the slice, then an mmap read (zap, fault)",
        time_per_op(n, || flip(index).and_then(|()| read()))?.mean,
    );
    bind(high, 0)?;
    Ok(())
}
