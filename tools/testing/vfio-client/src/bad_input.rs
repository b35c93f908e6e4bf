//! `bad-input`: what a hostile or buggy VFIO user can throw at the vGPU. Nothing may crash
//! the host or warn in the kernel log, and the device must work afterwards.
//!
//! Garbage ioctls (bad indexes, flags, counts, argsz, eventfds, pointers, request numbers,
//! device names) must fail with an errno. Region transfers are judged by what QEMU needs and
//! upstream KVMGT does ([`Expect`]): an offset that names no region fails; a transfer running
//! past a region's end fails or stops at the end; transfers of any length inside a region are
//! split into aligned accesses (QEMU reads all of config space and the OpRegion with one
//! pread), so odd sizes and misaligned offsets either fail or return exactly the bytes that
//! byte-by-byte reads give.

use std::ffi::CString;
use std::fmt::Display;
use std::io;
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::fs::FileExt;

use gvt::model::pvinfo::{field, VGT_MAGIC};

use crate::checks::Checks;
use crate::commands::{main_regions, open, pread};
use crate::sys;
use crate::transport::{Region, RegionIo};
use crate::uapi::{self, DeviceInfo, IrqInfo, IrqSetEventfd, RegionInfo};
use crate::vfio::{eventfd_trigger, Vfio};

/// Where kvmgt (like vfio-pci) puts the region index in a device-fd offset
/// (`VFIO_PCI_OFFSET_SHIFT`). Not uAPI: used only to aim at indexes that do not exist.
pub const INDEX_SHIFT: u32 = 40;

/// A register whose writes are harmless if the kernel wrongly accepts one: PVINFO's magic.
const HARMLESS: u64 = field::MAGIC as u64;

/// What a clean answer to a hostile region access is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// An error: the offset names no region.
    Refused,
    /// An error, or a short transfer of at most this many bytes: the access runs past the
    /// region's end and must not touch anything beyond it.
    AtMost(usize),
    /// Done in full, with the bytes byte-by-byte reads give: QEMU reads all of config space
    /// (and the OpRegion) with one pread, so a VFIO device must split long transfers.
    Exact,
    /// An error, or a transfer (maybe short) whose bytes are those byte-by-byte reads give:
    /// odd sizes and misaligned offsets, which kvmgt (like upstream) splits into aligned
    /// accesses, stopping at the first one the device model refuses.
    Clean,
}

/// One hostile region access: a pread or pwrite of `len` bytes at device-fd offset `at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    /// Check name.
    pub name: String,
    /// A write rather than a read. Writes put back what byte-by-byte reads found there, so
    /// one the kernel accepts changes nothing.
    pub write: bool,
    /// Device-fd offset.
    pub at: u64,
    /// Bytes.
    pub len: usize,
    /// The clean outcomes.
    pub expect: Expect,
}

fn acc(name: impl Display, write: bool, at: u64, len: usize, expect: Expect) -> Access {
    Access {
        name: name.to_string(),
        write,
        at,
        len,
        expect,
    }
}

/// The hostile region accesses for a device with these config and BAR0 regions and
/// `num_regions` regions. Offsets wrap rather than overflow: they are meant to be absurd.
pub fn region_cases(cfg: &Region, bar0: &Region, num_regions: u32) -> Vec<Access> {
    use Expect::*;
    let c = |off: u64| cfg.offset.wrapping_add(off);
    let b = |off: u64| bar0.offset.wrapping_add(off);
    let whole = usize::try_from(cfg.size).unwrap_or(0).min(4096);
    let mut v = vec![
        acc("config read past end", false, c(cfg.size), 4, AtMost(0)),
        acc(
            "config read straddling end",
            false,
            c(cfg.size.wrapping_sub(2)),
            4,
            AtMost(2),
        ),
        acc(
            "config write straddling end",
            true,
            c(cfg.size.wrapping_sub(2)),
            4,
            AtMost(2),
        ),
        acc("bar0 read past end", false, b(bar0.size), 4, AtMost(0)),
        acc(
            "bar0 read straddling end",
            false,
            b(bar0.size.wrapping_sub(4)),
            8,
            AtMost(4),
        ),
        acc(
            "bar0 write straddling end",
            true,
            b(bar0.size.wrapping_sub(4)),
            8,
            AtMost(4),
        ),
        acc(
            "bar0 read 4 GiB past start",
            false,
            b(1 << 32),
            4,
            AtMost(0),
        ),
        acc("bar0 read of 1 MiB", false, b(0), 1 << 20, AtMost(1 << 20)),
        acc("config read of all config space", false, c(0), whole, Exact),
    ];
    for n in [3usize, 5, 16] {
        v.push(acc(
            format_args!("config read of {n} bytes"),
            false,
            c(0),
            n,
            Clean,
        ));
        v.push(acc(
            format_args!("config write of {n} bytes"),
            true,
            c(0),
            n,
            Clean,
        ));
        v.push(acc(
            format_args!("bar0 read of {n} bytes"),
            false,
            b(HARMLESS),
            n,
            Clean,
        ));
        v.push(acc(
            format_args!("bar0 write of {n} bytes"),
            true,
            b(HARMLESS),
            n,
            Clean,
        ));
    }
    v.extend([
        acc("config read misaligned (4 at 0x2)", false, c(2), 4, Clean),
        acc("config write misaligned (2 at 0x3)", true, c(3), 2, Clean),
        acc(
            "bar0 read misaligned (4 at +2)",
            false,
            b(HARMLESS + 2),
            4,
            Clean,
        ),
        acc(
            "bar0 read misaligned (8 at +4)",
            false,
            b(HARMLESS + 4),
            8,
            Clean,
        ),
        acc(
            "bar0 write misaligned (4 at +1)",
            true,
            b(HARMLESS + 1),
            4,
            Clean,
        ),
        acc(
            "unknown region index",
            false,
            u64::from(num_regions) << INDEX_SHIFT,
            4,
            Refused,
        ),
        acc(
            "region index 0xffff",
            false,
            0xffff << INDEX_SHIFT,
            4,
            Refused,
        ),
        acc(
            "offset beyond the index encoding",
            false,
            c(0) | (1 << 62),
            4,
            Refused,
        ),
        acc("offset with bit 63 set", true, c(0) | (1 << 63), 4, Refused),
        acc("offset u64::MAX", false, u64::MAX, 4, Refused),
    ]);
    v
}

/// Whether the outcome `r` of access `a` is clean. `got` is what a read returned and
/// `reference` what byte-by-byte reads of the same range gave (as far as they went).
/// `Ok` carries a note for the log.
pub fn judge(
    a: &Access,
    r: &io::Result<usize>,
    got: &[u8],
    reference: &[u8],
) -> Result<String, String> {
    let n = match r {
        Err(e) => {
            return match a.expect {
                Expect::Exact => Err(format!(
                    "refused ({}), but QEMU relies on it",
                    errno_name(e)
                )),
                _ => Ok(errno_name(e)),
            }
        }
        Ok(n) => *n,
    };
    if n > a.len {
        return Err(format!("{n} bytes for a {}-byte transfer", a.len));
    }
    match a.expect {
        Expect::Refused => return Err(format!("accepted ({n} bytes)")),
        Expect::AtMost(max) if n <= max => return Ok(format!("{n} bytes")),
        Expect::AtMost(max) => return Err(format!("{n} bytes, only {max} inside the region")),
        Expect::Exact if n != a.len => {
            return Err(format!("{n} of {} bytes, but QEMU relies on all", a.len))
        }
        Expect::Exact | Expect::Clean => {}
    }
    if a.write {
        return Ok(format!("{n} of {} bytes written", a.len));
    }
    match (got.get(..n), reference.get(..n)) {
        (Some(g), Some(want)) if g == want => {
            Ok(format!("{n} of {} bytes, as byte reads give", a.len))
        }
        (Some(g), Some(want)) => Err(format!(
            "read {:02x?}, byte reads give {:02x?}",
            g.get(..32),
            want.get(..32)
        )),
        _ => Err(format!(
            "{n} bytes read, but byte-by-byte reads of them failed"
        )),
    }
}

/// Reads up to `len` bytes at `at` one byte at a time, as far as the kernel allows.
fn byte_reads(dev: &mut impl RegionIo, at: u64, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    for i in 0..len {
        let mut b = 0u8;
        let Some(pos) = u64::try_from(i).ok().and_then(|i| at.checked_add(i)) else {
            break;
        };
        match dev.read_at(std::slice::from_mut(&mut b), pos) {
            Ok(1) => out.push(b),
            _ => break,
        }
    }
    out
}

fn errno_name(e: &io::Error) -> String {
    let n = e.raw_os_error().unwrap_or(0);
    let name = match n {
        libc::EINVAL => "EINVAL",
        libc::EFAULT => "EFAULT",
        libc::ENOTTY => "ENOTTY",
        libc::EBADF => "EBADF",
        libc::ENODEV => "ENODEV",
        libc::ENOENT => "ENOENT",
        libc::EPERM => "EPERM",
        libc::ENXIO => "ENXIO",
        libc::EIO => "EIO",
        _ => "",
    };
    format!("{name} ({e})")
}

/// Passes if the kernel refused; the errno is shown beside the line for the log.
fn refused<T: std::fmt::Debug>(c: &mut Checks, name: &str, r: io::Result<T>) {
    match r {
        Err(e) => {
            println!("  {name}: {}", errno_name(&e));
            c.pass(name);
        }
        Ok(v) => c.fail(name, format!("accepted (returned {v:?})")),
    }
}

/// Runs one hostile access on `dev` and judges it.
pub fn run_case(c: &mut Checks, dev: &mut impl RegionIo, a: &Access) {
    // Only ranges inside a region get a reference; huge ones are not compared.
    let reference = if a.len <= 64 << 10 && !matches!(a.expect, Expect::Refused | Expect::AtMost(_))
    {
        byte_reads(dev, a.at, a.len)
    } else {
        Vec::new()
    };
    let mut buf = vec![0u8; a.len];
    let r = if a.write {
        for (d, s) in buf.iter_mut().zip(&reference) {
            *d = *s;
        }
        dev.write_at(&buf, a.at)
    } else {
        dev.read_at(&mut buf, a.at)
    };
    match judge(a, &r, &buf, &reference) {
        Ok(note) => {
            println!("  {}: {note}", a.name);
            c.pass(&a.name);
        }
        Err(why) => c.fail(&a.name, why),
    }
}

fn ioctl_cases(c: &mut Checks, v: &Vfio, uuid: &str) {
    let dev = v.device.as_fd();
    let mut ri = RegionInfo::request(0xffff);
    refused(
        c,
        "GET_REGION_INFO bad index",
        sys::ioctl_arg(dev, uapi::DEVICE_GET_REGION_INFO, &mut ri),
    );
    let mut ri = RegionInfo {
        argsz: 8,
        ..RegionInfo::request(0)
    };
    refused(
        c,
        "GET_REGION_INFO argsz too small",
        sys::ioctl_arg(dev, uapi::DEVICE_GET_REGION_INFO, &mut ri),
    );
    refused(
        c,
        "GET_REGION_INFO unmapped argument",
        sys::ioctl_unmapped(dev, uapi::DEVICE_GET_REGION_INFO),
    );
    let mut di = DeviceInfo {
        argsz: 4,
        ..DeviceInfo::default()
    };
    refused(
        c,
        "GET_INFO argsz too small",
        sys::ioctl_arg(dev, uapi::DEVICE_GET_INFO, &mut di),
    );
    let mut ii = IrqInfo {
        argsz: uapi::size32::<IrqInfo>(),
        index: 99,
        ..IrqInfo::default()
    };
    refused(
        c,
        "GET_IRQ_INFO bad index",
        sys::ioctl_arg(dev, uapi::DEVICE_GET_IRQ_INFO, &mut ii),
    );
    let mut ii = IrqInfo {
        argsz: 8,
        index: uapi::PCI_MSI_IRQ_INDEX,
        ..IrqInfo::default()
    };
    refused(
        c,
        "GET_IRQ_INFO argsz too small",
        sys::ioctl_arg(dev, uapi::DEVICE_GET_IRQ_INFO, &mut ii),
    );

    let efd = match sys::EventFd::new() {
        Ok(e) => e,
        Err(e) => {
            c.fail("eventfd for SET_IRQS cases", e);
            return;
        }
    };
    let msi = || eventfd_trigger(uapi::PCI_MSI_IRQ_INDEX, efd.raw());
    let cases: [(&str, IrqSetEventfd); 9] = [
        ("SET_IRQS bad index", IrqSetEventfd { index: 99, ..msi() }),
        (
            "SET_IRQS index 0xffffffff",
            IrqSetEventfd {
                index: u32::MAX,
                ..msi()
            },
        ),
        ("SET_IRQS bad count", IrqSetEventfd { count: 2, ..msi() }),
        (
            "SET_IRQS start beyond count",
            IrqSetEventfd { start: 1, ..msi() },
        ),
        (
            "SET_IRQS two data types",
            IrqSetEventfd {
                flags: msi().flags | uapi::IRQ_SET_DATA_NONE,
                ..msi()
            },
        ),
        (
            "SET_IRQS unknown flag bits",
            IrqSetEventfd {
                flags: msi().flags | (1 << 10),
                ..msi()
            },
        ),
        (
            "SET_IRQS argsz too small",
            IrqSetEventfd { argsz: 8, ..msi() },
        ),
        (
            "SET_IRQS invalid eventfd",
            IrqSetEventfd {
                fd: 1_000_000,
                ..msi()
            },
        ),
        (
            "SET_IRQS fd that is not an eventfd",
            IrqSetEventfd {
                fd: v.container().as_raw_fd(),
                ..msi()
            },
        ),
    ];
    for (name, mut arg) in cases {
        refused(c, name, v.set_irqs(&mut arg));
    }
    refused(
        c,
        "SET_IRQS unmapped argument",
        sys::ioctl_unmapped(dev, uapi::DEVICE_SET_IRQS),
    );

    refused(
        c,
        "unknown ioctl on device",
        sys::ioctl_val(dev, uapi::UNKNOWN_IOCTL, 0),
    );
    refused(
        c,
        "garbage ioctl number on device",
        sys::ioctl_val(dev, 0xdead_beef, 0),
    );
    refused(
        c,
        "unknown ioctl on group",
        sys::ioctl_val(v.group().as_fd(), uapi::UNKNOWN_IOCTL, 0),
    );
    refused(
        c,
        "unknown ioctl on container",
        sys::ioctl_val(v.container().as_fd(), uapi::UNKNOWN_IOCTL, 0),
    );

    let other = other_uuid(uuid);
    for (name, dev_name) in [
        ("GET_DEVICE_FD wrong name", "not-a-uuid"),
        ("GET_DEVICE_FD other UUID", other.as_str()),
        ("GET_DEVICE_FD empty name", ""),
    ] {
        match CString::new(dev_name) {
            Ok(s) => refused(
                c,
                name,
                sys::ioctl_get_fd(v.group().as_fd(), uapi::GROUP_GET_DEVICE_FD, &s),
            ),
            Err(e) => c.fail(name, e),
        }
    }
}

/// A UUID that differs from `uuid` in its last digit.
pub fn other_uuid(uuid: &str) -> String {
    let mut s: String = uuid
        .chars()
        .take(uuid.chars().count().saturating_sub(1))
        .collect();
    s.push(if uuid.ends_with('0') { '1' } else { '0' });
    s
}

/// Device-specific regions: the OpRegion is read-only to the guest, and ends where it says.
fn opregion_cases(c: &mut Checks, v: &Vfio) {
    let r = match v.find_region(
        uapi::REGION_TYPE_INTEL,
        uapi::REGION_SUBTYPE_INTEL_IGD_OPREGION,
    ) {
        Ok(Some(r)) => r,
        Ok(None) => return c.fail("opregion read past end", "no OpRegion region"),
        Err(e) => return c.fail("opregion read past end", e),
    };
    run_case(
        c,
        &mut &v.device,
        &acc(
            "opregion read past end",
            false,
            r.offset.wrapping_add(r.size),
            4,
            Expect::AtMost(0),
        ),
    );
    let whole = usize::try_from(r.size).unwrap_or(0).min(64 << 10);
    run_case(
        c,
        &mut &v.device,
        &acc(
            "opregion read whole (as QEMU does)",
            false,
            r.offset,
            whole,
            Expect::Exact,
        ),
    );
    if r.flags & uapi::REGION_INFO_FLAG_WRITE == 0 {
        refused(
            c,
            "opregion write refused",
            v.device.write_at(&[0u8; 4], r.offset),
        );
    }
}

/// `bad-input UUID`.
pub fn bad_input(uuid: &str, tag: Option<String>) -> Checks {
    let mut c = Checks::tagged(tag);
    let Some(v) = open(&mut c, uuid) else {
        return c;
    };
    let Some((cfg, bar0)) = main_regions(&mut c, &v) else {
        return c;
    };
    if cfg.offset != u64::from(uapi::PCI_CONFIG_REGION_INDEX) << INDEX_SHIFT {
        println!(
            "  note: config region at {:#x}, not at index << {INDEX_SHIFT}: index cases aim blind",
            cfg.offset
        );
    }
    for a in region_cases(&cfg, &bar0, v.info.num_regions) {
        run_case(&mut c, &mut &v.device, &a);
    }
    if let Ok((bar2, _)) = v.region_info(uapi::PCI_BAR2_REGION_INDEX) {
        if bar2.size > 0 {
            run_case(
                &mut c,
                &mut &v.device,
                &acc(
                    "bar2 read past end",
                    false,
                    bar2.offset.wrapping_add(bar2.size),
                    4,
                    Expect::AtMost(0),
                ),
            );
        }
    }
    opregion_cases(&mut c, &v);
    ioctl_cases(&mut c, &v, uuid);

    // The device still works.
    let mut id = [0u8; 2];
    c.check(
        "device works afterwards: vendor id",
        pread(&v, &cfg, 0, &mut id).and_then(|()| match u16::from_le_bytes(id) {
            0x8086 => Ok(()),
            x => Err(format!("vendor id {x:#06x}")),
        }),
    );
    let mut magic = [0u8; 8];
    c.check(
        "device works afterwards: PVINFO magic",
        pread(&v, &bar0, HARMLESS, &mut magic).and_then(|()| match u64::from_le_bytes(magic) {
            VGT_MAGIC => Ok(()),
            x => Err(format!("magic {x:#x}")),
        }),
    );
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::{bar0, cfg, FakeKvmgt};
    use crate::transport::RegionIo;

    #[test]
    fn other_uuid_differs_only_at_the_end() {
        let u = "0b5a9b9c-2c2f-4d0e-9f6a-3f4a5b6c7d8e";
        assert_eq!(other_uuid(u), "0b5a9b9c-2c2f-4d0e-9f6a-3f4a5b6c7d80");
        assert_eq!(
            other_uuid("0b5a9b9c-2c2f-4d0e-9f6a-3f4a5b6c7d80"),
            "0b5a9b9c-2c2f-4d0e-9f6a-3f4a5b6c7d81"
        );
        assert!(crate::vfio::valid_uuid(&other_uuid(u)));
    }

    #[test]
    fn region_cases_get_clean_answers_from_kvmgts_transfer_rules() {
        let cases = region_cases(&cfg(), &bar0(), 10);
        assert_eq!(cases.len(), 31);
        let names: std::collections::HashSet<_> = cases.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names.len(), cases.len(), "names are unique");
        FakeKvmgt::with(None, |mut k| {
            let mut c = Checks::default();
            for a in &cases {
                run_case(&mut c, &mut k, a);
            }
            assert_eq!((c.passed, c.failed), (cases.len(), 0));
            // The accepted hostile writes put back what was there.
            let mut id = [0u8; 4];
            assert_eq!(k.read_at(&mut id, cfg().offset).unwrap(), 4);
            assert_eq!(u16::from_le_bytes([id[0], id[1]]), 0x8086);
        });
    }

    fn case(expect: Expect, write: bool) -> Access {
        acc("x", write, 0, 4, expect)
    }

    #[test]
    fn judging() {
        let einval = || Err(io::Error::from_raw_os_error(libc::EINVAL));
        let (ok4, ok2, ok0, ok8) = (Ok(4), Ok(2), Ok(0), Ok(8));
        let d = [1u8, 2, 3, 4];
        let j = |e, w, r: &io::Result<usize>, reference: &[u8]| {
            judge(&case(e, w), r, &d, reference).is_ok()
        };
        assert!(j(Expect::Refused, false, &einval(), &[]));
        assert!(!j(Expect::Refused, false, &ok0, &[]));
        assert!(j(Expect::AtMost(2), false, &ok2, &[]));
        assert!(!j(Expect::AtMost(2), false, &ok4, &[]));
        assert!(j(Expect::AtMost(0), true, &einval(), &[]));
        assert!(!j(Expect::Exact, false, &einval(), &d));
        assert!(j(Expect::Exact, false, &ok4, &d));
        assert!(!j(Expect::Exact, false, &ok2, &d));
        assert!(!j(Expect::Exact, false, &ok4, &[1, 2, 3, 5]));
        assert!(!j(Expect::Exact, false, &ok4, &[1, 2]));
        assert!(j(Expect::Clean, false, &einval(), &[]));
        assert!(j(Expect::Clean, false, &ok2, &[1, 2]));
        assert!(!j(Expect::Clean, false, &ok2, &[1, 9]));
        assert!(j(Expect::Clean, true, &ok2, &[]));
        assert!(!j(Expect::Clean, true, &ok8, &[]));
    }
}
