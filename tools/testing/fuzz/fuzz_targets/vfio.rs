#![no_main]
//! kvmgt's VFIO device as kvmgt.ko decides it (`kvmgt/region.rs`, `edid.rs`, `ioctl.rs`, what
//! `device.rs` runs in the kernel): file positions, the split of a transfer into device
//! accesses, the aperture slice and chunks, and the EDID region's access and register-write
//! decisions, each against a plain reference computed in `u128`; transfers through
//! `region::transfer` into the fuzzed vGPU (every access aligned and inside its region, the
//! bytes done as the accesses say; host writes stay in its partition); the EDID region's
//! state machine over the vGPU's own EDID validation (a refused write changes nothing); and the
//! ioctl decisions against their rules.
//!
//! What is C only and not reached here: copying ioctl headers and answers, the capability
//! chain, eventfds, the plane query, and BAR2's copies through its pages.
use gvt::model::display::edid::EDID_MAX_SIZE;
use kvmgt::edid::{self, access, reg, write_decision, Access, EdidRegion, Monitor, Write};
use kvmgt::error::{GvtError, Result};
use kvmgt::ioctl::{self, Cap, IrqSet};
use kvmgt::region::{
    aperture_chunk, decode, in_slice, index, next_access, route, transfer, Device, Region, Sizes,
    User, APERTURE_CHUNK, OFFSET_SHIFT,
};
use libfuzzer_sys::fuzz_target;

fn u64_at(b: &[u8], i: usize) -> u64 {
    u64::from_le_bytes(b[i..i + 8].try_into().unwrap())
}

/// `next_access` against its contract: the largest power of two up to `max` (at most 8) that
/// is aligned at `off` and fits both what remains and the region.
fn check_next(off: u64, remaining: u64, size: u64, max: u64) -> Option<u64> {
    let got = next_access(off, remaining, size, max);
    let room = u128::from(size)
        .saturating_sub(u128::from(off))
        .min(u128::from(remaining));
    let want = [8u64, 4, 2, 1]
        .into_iter()
        .find(|&n| n <= max && u128::from(n) <= room && off % n == 0);
    assert_eq!(
        got, want,
        "next_access({off:#x}, {remaining}, {size:#x}, {max})"
    );
    got
}

fn check_slice(base: u64, size: u64, off: u64, len: u64) {
    let (b, s, o, l) = (
        u128::from(base),
        u128::from(size),
        u128::from(off),
        u128::from(len),
    );
    // A slice reaching past the 64-bit space is no slice.
    let want = l > 0 && o >= b && o + l <= b + s && b + s <= u128::from(u64::MAX);
    assert_eq!(
        in_slice(base, size, off, len),
        want,
        "in_slice({base:#x}, {size:#x}, {off:#x}, {len:#x})"
    );
    let chunk = aperture_chunk(off, len);
    let want = len.min(APERTURE_CHUNK).min(4096 - off % 4096);
    assert_eq!(chunk, want, "aperture_chunk({off:#x}, {len})");
}

fn check_edid(off: u64, len: u64, value: u32) {
    let max = EDID_MAX_SIZE as u64;
    assert_eq!(edid::MAX_SIZE, EDID_MAX_SIZE);
    let got = access(off, len);
    let want = if len == 4 && off % 4 == 0 && off < reg::END {
        Some(Access::Reg(off))
    } else if off >= edid::BLOB_OFFSET
        && len > 0
        && u128::from(off - edid::BLOB_OFFSET) + u128::from(len) <= u128::from(max)
    {
        Some(Access::Blob(off - edid::BLOB_OFFSET))
    } else {
        None
    };
    assert_eq!(got, want, "edid::access({off:#x}, {len})");
    if let Some(Access::Reg(r)) = got {
        let got = write_decision(r, value);
        let want = match r {
            reg::SIZE if value <= max as u32 => Write::Size(value),
            reg::SIZE => Write::Invalid,
            reg::LINK_STATE if value == edid::LINK_UP => Write::LinkUp,
            reg::LINK_STATE if value == edid::LINK_DOWN => Write::LinkDown,
            reg::LINK_STATE => Write::Invalid,
            _ => Write::ReadOnly,
        };
        assert_eq!(got, want, "write_decision({r}, {value:#x})");
    }
}

/// The vGPU's monitor: gvt's own EDID validation; the link is only recorded.
struct Mon<'a> {
    vgpu: &'a mut gvt::model::vgpu::Vgpu<guest_model::storage::VecStorage>,
    link: Option<bool>,
}

fn kvmgt_err(e: gvt::model::error::GvtError) -> GvtError {
    GvtError::from_errno(e.errno())
}

impl Monitor for Mon<'_> {
    fn set_edid(&mut self, blob: &[u8]) -> Result {
        self.vgpu.set_edid(Some(blob)).map_err(kvmgt_err)
    }

    fn set_link(&mut self, up: bool) -> Result {
        self.link = Some(up);
        Ok(())
    }
}

/// One EDID region access on the region `e`: whatever it does, a refused one changes nothing,
/// an accepted one does what its decision says.
fn edid_op(e: &mut EdidRegion, mon: &mut Mon<'_>, off: u64, data: &[u8], write: bool) {
    let before = e.clone();
    if !write {
        let mut buf = vec![0; data.len()];
        let r = e.read(off, &mut buf);
        assert_eq!(r.is_ok(), access(off, data.len() as u64).is_some());
        return;
    }
    mon.link = None;
    let r = e.write(off, data, mon);
    let Err(err) = r else {
        if let Some(Access::Reg(reg::LINK_STATE)) = access(off, data.len() as u64) {
            let up = data == edid::LINK_UP.to_le_bytes();
            assert_eq!(mon.link, Some(up));
            assert_eq!(
                e.link_state(),
                if up { edid::LINK_UP } else { edid::LINK_DOWN }
            );
            if up {
                assert_eq!(
                    mon.vgpu.edid(),
                    e.staged(),
                    "link up hands over the staged blob"
                );
            }
        }
        return;
    };
    assert_eq!(
        e, &before,
        "a refused EDID write ({err:?}) changed the region"
    );
    let mut size = [0; 4];
    e.read(reg::SIZE, &mut size).unwrap();
    assert!(u32::from_le_bytes(size) as usize <= EDID_MAX_SIZE);
    assert!([edid::LINK_UP, edid::LINK_DOWN].contains(&e.link_state()));
}

/// User memory that faults from `fault_at` on.
struct Mem {
    src: [u8; 64],
    at: usize,
    fault_at: usize,
}

impl User for Mem {
    fn copy_in(&mut self, buf: &mut [u8]) -> Result {
        if self.at + buf.len() > self.fault_at {
            return Err(GvtError::Fault);
        }
        buf.copy_from_slice(&self.src[self.at..self.at + buf.len()]);
        self.at += buf.len();
        Ok(())
    }

    fn copy_out(&mut self, buf: &[u8]) -> Result {
        if self.at + buf.len() > self.fault_at {
            return Err(GvtError::Fault);
        }
        self.at += buf.len();
        Ok(())
    }
}

/// The fuzzed vGPU as transfers reach it, with the accesses that succeeded.
struct Dev<'a> {
    w: &'a mut gvt_fuzz::World,
    host: &'a gvt_fuzz::Fenced<'static>,
    sizes: Sizes,
    done: Vec<(u64, usize)>,
}

impl Dev<'_> {
    fn check(&self, region: Region, off: u64, len: usize) {
        let max = region.max_access().expect("a split region");
        let (off128, len64) = (u128::from(off), len as u64);
        assert!(len64.is_power_of_two() && len64 <= max && off % len64 == 0);
        assert!(off128 + u128::from(len64) <= u128::from(region.size(&self.sizes)));
    }
}

impl Device for Dev<'_> {
    fn read(&mut self, region: Region, off: u64, buf: &mut [u8]) -> Result {
        self.check(region, off, buf.len());
        let v = &mut self.w.vgpu;
        let r = match region {
            Region::Config => v.cfg_read(off as u32, buf),
            Region::Bar0 => v.mmio_read(off, buf),
            _ => {
                let src = v.opregion().get(off as usize..off as usize + buf.len());
                src.map(|s| buf.copy_from_slice(s))
                    .ok_or(gvt::model::error::GvtError::Invalid)
            }
        };
        r.map_err(kvmgt_err)?;
        self.done.push((off, buf.len()));
        Ok(())
    }

    fn write(&mut self, region: Region, off: u64, buf: &[u8]) -> Result {
        self.check(region, off, buf.len());
        assert!(region.writable());
        let w = &mut *self.w;
        let r = match region {
            Region::Config => w.vgpu.cfg_write(&mut w.hv, off as u32, buf),
            _ => w.vgpu.mmio_write(self.host, &mut w.hv, off, buf),
        };
        r.map_err(kvmgt_err)?;
        self.done.push((off, buf.len()));
        Ok(())
    }
}

/// A transfer of `count` bytes at `pos`, as kvmgt.ko runs it for config space, BAR0 and the
/// OpRegion: the bytes done are those of the accesses that succeeded, in a contiguous run from
/// `off`; an error means none did, or user memory faulted.
fn check_transfer(dev: &mut Dev<'_>, pos: i64, count: u64, write: bool, mem: &mut Mem) {
    dev.done.clear();
    let Ok((region, off)) = route(pos) else {
        assert!(pos < 0 || Region::at(decode(pos as u64).0).is_none());
        return;
    };
    let sizes = dev.sizes;
    let r = transfer(&sizes, region, off, count, write, mem, dev);
    let accessed: u64 = dev.done.iter().map(|a| a.1 as u64).sum();
    let mut at = off;
    for &(o, n) in &dev.done {
        assert_eq!(o, at, "accesses run on from the transfer's offset");
        at += n as u64;
    }
    match r {
        Ok(n) => {
            assert_eq!(n, accessed);
            assert!(n <= count);
            assert!(region.max_access().is_some());
            assert!(!write || region.writable());
        }
        // After accesses that succeeded, only user memory ends a transfer with an error.
        Err(e) => assert!(
            accessed == 0 || (e == GvtError::Fault && mem.fault_at < 64),
            "{e:?} after {accessed} bytes"
        ),
    }
}

fn check_ioctls(argsz: u32, flags: u32, idx: u32, start: u32, count: u32, sizes: &Sizes) {
    assert_eq!(ioctl::device_info(argsz).is_ok(), argsz >= 16);
    match ioctl::region_info(argsz, idx, sizes) {
        Ok(i) => {
            assert!(argsz >= 32 && idx < index::NUM && i.index == idx);
            assert_eq!(i.offset, u64::from(idx) << OFFSET_SHIFT);
            let region = Region::at(u64::from(idx));
            assert_eq!(i.size, region.map_or(0, |r| r.size(sizes)));
            let has_cap = matches!(idx, index::BAR2 | index::OPREGION | index::EDID);
            assert_eq!(i.cap != Cap::None, has_cap);
            assert_eq!(i.flags & ioctl::REGION_CAPS != 0, has_cap);
            assert_eq!(i.flags & ioctl::REGION_MMAP != 0, idx == index::BAR2);
            assert_eq!(
                i.flags & ioctl::REGION_WRITE != 0,
                region.is_some_and(Region::writable)
            );
        }
        Err(e) => {
            assert_eq!(e, GvtError::Invalid);
            assert!(argsz < 32 || idx >= index::NUM);
        }
    }
    match ioctl::irq_info(argsz, idx) {
        Ok(i) => assert_eq!(i.count, u32::from(idx < 2)),
        Err(_) => assert!(argsz < 16 || idx >= ioctl::NUM_IRQS),
    }
    let data = flags & ioctl::SET_DATA_TYPE_MASK;
    let action = flags & ioctl::SET_ACTION_TYPE_MASK;
    let sane = argsz >= ioctl::IRQ_SET_MINSZ
        && flags & !(ioctl::SET_DATA_TYPE_MASK | ioctl::SET_ACTION_TYPE_MASK) == 0
        && data.is_power_of_two()
        && idx < 2;
    let intx = idx == ioctl::IRQ_INTX;
    match ioctl::set_irqs(argsz, flags, idx, start, count) {
        Ok(IrqSet::Eventfd(irq)) => {
            assert!(sane && action == ioctl::SET_ACTION_TRIGGER);
            assert!(data == ioctl::SET_DATA_EVENTFD && start == 0 && count == 1);
            assert!(argsz >= ioctl::IRQ_SET_MINSZ + 4);
            assert_eq!(irq == ioctl::Irq::Intx, intx);
        }
        Ok(IrqSet::Remove(irq)) => {
            assert!(sane && action == ioctl::SET_ACTION_TRIGGER && count == 0);
            assert!(
                data != ioctl::SET_DATA_EVENTFD,
                "an eventfd removal is the fd's"
            );
            assert_eq!(irq == ioctl::Irq::Intx, intx);
        }
        Ok(IrqSet::Nothing) => {
            assert!(sane);
            let mask = action == ioctl::SET_ACTION_MASK || action == ioctl::SET_ACTION_UNMASK;
            assert!(
                (mask && intx)
                    || (action == ioctl::SET_ACTION_TRIGGER
                        && data == ioctl::SET_DATA_EVENTFD
                        && count == 0)
            );
        }
        Err(e) => assert_eq!(e, GvtError::Invalid),
    }
}

fuzz_target!(|data: &[u8]| {
    let mut w = gvt_fuzz::world().lock().unwrap();
    let w = &mut *w;
    w.clear_logs();
    let host = w.fenced();
    let c = w.vgpu.cfg();
    let sizes = Sizes {
        bar0: c.bar0.size,
        aperture: 256 << 20,
        slice_base: 0,
        slice_size: 64 << 20,
        opregion: w.vgpu.opregion().len() as u64,
    };
    let monitor = w.vgpu.edid().to_vec();
    let mut region = EdidRegion::new(&monitor, 1920, 1200);
    for op in data.chunks_exact(32) {
        let (a, b, c) = (u64_at(op, 8), u64_at(op, 16), u64_at(op, 24));
        match op[0] % 6 {
            // The decisions on arbitrary arguments.
            0 => {
                let (index, off) = decode(a);
                assert_eq!(index << OFFSET_SHIFT | off, a, "decode({a:#x})");
                assert!(off < 1 << OFFSET_SHIFT);
                check_next(a, b, c, u64::from(op[1] & 15));
                check_slice(a, b, c, u64_at(op, 0) >> 8);
            }
            1 => check_edid(a % 0x1000, b % 0x300, c as u32),
            // The EDID region's state machine: a register or blob bytes, from the fuzz input.
            2 => {
                let off = match op[1] & 1 {
                    0 => (a % 6) * 4,
                    _ => edid::BLOB_OFFSET + a % 0x110,
                };
                let len = if op[1] & 2 == 0 {
                    4
                } else {
                    (op[2] as usize) % 24 + 1
                };
                let mut bytes = [0u8; 24];
                bytes[..8].copy_from_slice(&b.to_le_bytes());
                bytes[8..16].copy_from_slice(&c.to_le_bytes());
                // Link writes mostly with the values that mean something.
                if op[1] & 4 != 0 {
                    bytes[..4].copy_from_slice(&(u32::from(op[3] & 3)).to_le_bytes());
                }
                let mut mon = Mon {
                    vgpu: &mut w.vgpu,
                    link: None,
                };
                edid_op(&mut region, &mut mon, off, &bytes[..len], op[1] & 8 != 0);
                if op[1] & 16 != 0 {
                    region.reset();
                    assert_eq!(region.link_state(), edid::LINK_UP);
                }
            }
            3 => check_ioctls(
                a as u32,
                (a >> 32) as u32 & 0x7f,
                (b as u32) % 16,
                (b >> 32) as u32 % 3,
                c as u32 % 4,
                &sizes,
            ),
            // A transfer of up to 64 bytes through kvmgt's loop, into the vGPU.
            _ => {
                let index = u64::from(op[1] % 12);
                let pos = (index << OFFSET_SHIFT | (a & 0xffff)) as i64;
                let pos = if op[3] & 0x80 != 0 { -pos - 1 } else { pos };
                let mut mem = Mem {
                    src: [0; 64],
                    at: 0,
                    fault_at: usize::from(op[4]),
                };
                for (i, s) in mem.src.iter_mut().enumerate() {
                    *s = op[i % 32];
                }
                let mut dev = Dev {
                    w,
                    host: &host,
                    sizes,
                    done: Vec::new(),
                };
                check_transfer(
                    &mut dev,
                    pos,
                    u64::from(op[2] % 65),
                    op[3] & 1 != 0,
                    &mut mem,
                );
            }
        }
    }
    // The next input starts from the monitor's own EDID.
    w.vgpu.set_edid(None).unwrap();
});
