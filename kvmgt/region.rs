//! kvmgt's VFIO regions: which exist, their sizes and rights, and how a user-space transfer
//! becomes device accesses.
//!
//! QEMU (or any VFIO user) reads and writes a region at `index << 40 | offset` on the device
//! fd, with any length. The device model takes 1, 2, 4 or 8 bytes at a time, naturally aligned,
//! so a transfer to config space, BAR0 or the OpRegion is a run of such accesses
//! ([`transfer`]); anything past a region's end, or an offset that does not decode to a region,
//! is refused before the device model sees it. The loop is here, sans-I/O, so that host tests
//! and the fuzz target run the code kvmgt.ko runs: user memory comes in through [`User`], the
//! device model through [`Device`].
//!
//! BAR2 (the aperture) is reachable, for reads, writes and mmap, only inside the vGPU's slice
//! ([`in_slice`]), in chunks of at most a page ([`aperture_chunk`]); its copies go through
//! pages only the C side can reach. The EDID region is `edid.rs`'s.

use crate::error::{GvtError, Result};

/// Bits of a region offset inside its region (`VFIO_PCI_OFFSET_SHIFT`).
pub const OFFSET_SHIFT: u32 = 40;

/// Region indices: the PCI ones of `include/uapi/linux/vfio.h`, then kvmgt's own two.
pub mod index {
    /// `VFIO_PCI_BAR0_REGION_INDEX`: registers and the GGTT.
    pub const BAR0: u32 = 0;
    /// `VFIO_PCI_BAR2_REGION_INDEX`: the aperture.
    pub const BAR2: u32 = 2;
    /// `VFIO_PCI_CONFIG_REGION_INDEX`.
    pub const CONFIG: u32 = 7;
    /// `VFIO_PCI_NUM_REGIONS`: the first device-specific index, the OpRegion.
    pub const OPREGION: u32 = 9;
    /// The EDID region.
    pub const EDID: u32 = 10;
    /// How many regions the device reports.
    pub const NUM: u32 = 11;
}

/// A region the device has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Region {
    /// PCI config space.
    Config,
    /// BAR0: registers and the GGTT.
    Bar0,
    /// BAR2: the aperture.
    Bar2,
    /// The OpRegion (read-only).
    OpRegion,
    /// The EDID region.
    Edid,
}

/// The sizes of a vGPU's regions (from `struct gvt_vgpu_info`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sizes {
    /// BAR0.
    pub bar0: u64,
    /// BAR2, as the guest sizes it.
    pub aperture: u64,
    /// The vGPU's part of the aperture: `[slice_base, slice_base + slice_size)` of BAR2.
    pub slice_base: u64,
    /// Its size.
    pub slice_size: u64,
    /// The OpRegion.
    pub opregion: u64,
}

/// `PCI_CFG_SPACE_SIZE`.
const CONFIG_SIZE: u64 = 256;

impl Region {
    /// The region at `index`; `None` for an index the device has no region at (the other
    /// BARs, the ROM, VGA) or past the last.
    pub fn at(index: u64) -> Option<Region> {
        match u32::try_from(index).ok()? {
            index::CONFIG => Some(Region::Config),
            index::BAR0 => Some(Region::Bar0),
            index::BAR2 => Some(Region::Bar2),
            index::OPREGION => Some(Region::OpRegion),
            index::EDID => Some(Region::Edid),
            _ => None,
        }
    }

    /// Its size in bytes.
    pub fn size(self, s: &Sizes) -> u64 {
        match self {
            Region::Config => CONFIG_SIZE,
            Region::Bar0 => s.bar0,
            Region::Bar2 => s.aperture,
            Region::OpRegion => s.opregion,
            Region::Edid => crate::edid::REGION_SIZE,
        }
    }

    /// Whether user space may write it.
    pub fn writable(self) -> bool {
        self != Region::OpRegion
    }

    /// The largest device access a [`transfer`] makes; `None` for the regions with transfer
    /// paths of their own (BAR2, EDID).
    pub fn max_access(self) -> Option<u64> {
        match self {
            Region::Config => Some(4),
            Region::Bar0 | Region::OpRegion => Some(8),
            Region::Bar2 | Region::Edid => None,
        }
    }
}

/// A transfer's position decoded: the region index and the offset inside it.
pub fn decode(pos: u64) -> (u64, u64) {
    let mask = (1u64 << OFFSET_SHIFT).wrapping_sub(1);
    (pos >> OFFSET_SHIFT, pos & mask)
}

/// The region a file position is in, and the offset in it; `Invalid` for a negative position
/// or one in no region.
pub fn route(pos: i64) -> Result<(Region, u64)> {
    let (index, off) = decode(u64::try_from(pos).map_err(|_| GvtError::Invalid)?);
    Ok((Region::at(index).ok_or(GvtError::Invalid)?, off))
}

/// The length of the next access of a transfer at `off` with `remaining` bytes left, in a
/// region of `size` bytes whose accesses are at most `max` bytes: the largest power of two up
/// to `max` that is aligned at `off` and fits both. `None` when nothing fits (past the end, or
/// a zero-length transfer).
pub fn next_access(off: u64, remaining: u64, size: u64, max: u64) -> Option<u64> {
    let room = size.checked_sub(off)?.min(remaining);
    [8u64, 4, 2, 1]
        .into_iter()
        .find(|&n| n <= max && n <= room && off.trailing_zeros() >= n.trailing_zeros())
}

/// User memory of one transfer, in order: each call takes or gives the next bytes.
pub trait User {
    /// Copies the next `buf.len()` bytes of a write from user space.
    fn copy_in(&mut self, buf: &mut [u8]) -> Result;
    /// Copies the next `buf.len()` bytes of a read to user space.
    fn copy_out(&mut self, buf: &[u8]) -> Result;
}

/// The device model's side of a transfer: one access of 1, 2, 4 or 8 bytes.
pub trait Device {
    /// Reads `buf.len()` bytes of `region` at `off`.
    fn read(&mut self, region: Region, off: u64, buf: &mut [u8]) -> Result;
    /// Writes `buf` to `region` at `off`.
    fn write(&mut self, region: Region, off: u64, buf: &[u8]) -> Result;
}

/// A transfer of `count` bytes at `off` of `region` (config space, BAR0 or the OpRegion), split
/// into naturally aligned device accesses. Returns the bytes done: all of them, or those done
/// before the first access that did not fit or failed. With none done, that access's error
/// (`Invalid` when it did not fit, or the region takes no writes). A user memory fault is
/// `Fault` whatever was done, as the kernel's own copies report it.
pub fn transfer(
    sizes: &Sizes,
    region: Region,
    mut off: u64,
    count: u64,
    write: bool,
    user: &mut impl User,
    dev: &mut impl Device,
) -> Result<u64> {
    let max = region.max_access().ok_or(GvtError::Invalid)?;
    if write && !region.writable() {
        return Err(GvtError::Invalid);
    }
    let size = region.size(sizes);
    let mut done = 0u64;
    let mut buf = [0u8; 8];
    while done < count {
        let access = next_access(off, count.wrapping_sub(done), size, max)
            .and_then(|n| buf.get_mut(..usize::try_from(n).ok()?));
        let Some(access) = access else {
            return if done > 0 {
                Ok(done)
            } else {
                Err(GvtError::Invalid)
            };
        };
        let r = if write {
            user.copy_in(access)?;
            dev.write(region, off, access)
        } else {
            dev.read(region, off, access)
        };
        if let Err(e) = r {
            return if done > 0 { Ok(done) } else { Err(e) };
        }
        if !write {
            user.copy_out(access)?;
        }
        // At most 8 bytes, inside the region: neither wraps.
        let len = access.len() as u64;
        done = done.wrapping_add(len);
        off = off.wrapping_add(len);
    }
    Ok(done)
}

/// Whether `[off, off + len)` is a non-empty range inside the aperture slice
/// `[base, base + size)`: the only part of BAR2 a vGPU's user may read, write or map.
pub fn in_slice(base: u64, size: u64, off: u64, len: u64) -> bool {
    let (Some(end), Some(slice_end)) = (off.checked_add(len), base.checked_add(size)) else {
        return false;
    };
    len > 0 && off >= base && end <= slice_end
}

/// The most a BAR2 transfer moves through the device model at once (its bounce buffer).
pub const APERTURE_CHUNK: u64 = 256;
const PAGE_SIZE: u64 = 4096;

/// The length of the next chunk of a BAR2 transfer at `off` with `remaining` bytes left: at
/// most [`APERTURE_CHUNK`], and inside one page (each aperture page is backed separately).
pub fn aperture_chunk(off: u64, remaining: u64) -> u64 {
    let in_page = PAGE_SIZE.wrapping_sub(off % PAGE_SIZE);
    remaining.min(APERTURE_CHUNK).min(in_page)
}

#[cfg(test)]
mod tests {
    use super::*;
    extern crate std;
    use std::vec::Vec;

    #[test]
    fn positions_decode_to_index_and_offset() {
        assert_eq!(decode(7 << 40 | 0x10), (7, 0x10));
        assert_eq!(decode(u64::MAX), (0xff_ffff, (1 << 40) - 1));
        assert_eq!(route(7 << 40 | 0x10), Ok((Region::Config, 0x10)));
        assert_eq!(route(10 << 40), Ok((Region::Edid, 0)));
        assert_eq!(route(-1), Err(GvtError::Invalid), "negative");
        assert_eq!(route(1 << 40), Err(GvtError::Invalid), "BAR1: none");
        assert_eq!(route(11 << 40), Err(GvtError::Invalid), "past the last");
    }

    #[test]
    fn the_region_table() {
        let s = Sizes {
            bar0: 16 << 20,
            aperture: 256 << 20,
            slice_base: 0,
            slice_size: 64 << 20,
            opregion: 8192,
        };
        let all = [
            (index::CONFIG, Region::Config, 256, Some(4), true),
            (index::BAR0, Region::Bar0, 16 << 20, Some(8), true),
            (index::BAR2, Region::Bar2, 256 << 20, None, true),
            (index::OPREGION, Region::OpRegion, 8192, Some(8), false),
            (index::EDID, Region::Edid, 0x900, None, true),
        ];
        for (i, r, size, max, w) in all {
            assert_eq!(Region::at(u64::from(i)), Some(r));
            assert_eq!((r.size(&s), r.max_access(), r.writable()), (size, max, w));
        }
        for i in [1, 3, 4, 5, 6, 8, 11, u64::MAX] {
            assert_eq!(Region::at(i), None, "{i}");
        }
    }

    #[test]
    fn transfers_split_into_aligned_accesses() {
        // A 16-byte BAR0 read at 0x100: two 8-byte accesses.
        assert_eq!(next_access(0x100, 16, 16 << 20, 8), Some(8));
        // Config space takes at most 4 bytes.
        assert_eq!(next_access(0, 8, 256, 4), Some(4));
        // Misaligned starts take what alignment allows.
        assert_eq!(next_access(0x42, 4, 256, 4), Some(2));
        assert_eq!(next_access(0x3, 4, 256, 4), Some(1));
        // The end of a region bounds an access, and nothing starts past it.
        assert_eq!(next_access(252, 8, 256, 4), Some(4));
        assert_eq!(next_access(255, 8, 256, 4), Some(1));
        assert_eq!(next_access(256, 4, 256, 4), None);
        assert_eq!(next_access(u64::MAX, 4, 256, 4), None);
        assert_eq!(next_access(0, 0, 256, 4), None);
    }

    /// User memory: the bytes a write takes, and those a read gave; faults from `fault_at`.
    #[derive(Default)]
    struct Mem {
        src: Vec<u8>,
        out: Vec<u8>,
        fault_at: Option<usize>,
    }

    impl User for Mem {
        fn copy_in(&mut self, buf: &mut [u8]) -> Result {
            let at = self.out.len();
            if self.fault_at.is_some_and(|f| at + buf.len() > f) {
                return Err(GvtError::Fault);
            }
            buf.copy_from_slice(&self.src[at..at + buf.len()]);
            // Consumed: `out` counts what a write took.
            self.out.extend_from_slice(buf);
            Ok(())
        }

        fn copy_out(&mut self, buf: &[u8]) -> Result {
            if self
                .fault_at
                .is_some_and(|f| self.out.len() + buf.len() > f)
            {
                return Err(GvtError::Fault);
            }
            self.out.extend_from_slice(buf);
            Ok(())
        }
    }

    /// A device whose bytes are their offsets' low bytes; it logs accesses and fails those
    /// at `fail_at` with `NoDevice`.
    #[derive(Default)]
    struct Dev {
        log: Vec<(Region, u64, usize, bool)>,
        written: Vec<u8>,
        fail_at: Option<u64>,
    }

    impl Dev {
        fn access(&mut self, r: Region, off: u64, len: usize, write: bool) -> Result {
            assert!(len.is_power_of_two() && len <= 8 && off % len as u64 == 0);
            if self.fail_at == Some(off) {
                return Err(GvtError::NoDevice);
            }
            self.log.push((r, off, len, write));
            Ok(())
        }
    }

    impl Device for Dev {
        fn read(&mut self, r: Region, off: u64, buf: &mut [u8]) -> Result {
            self.access(r, off, buf.len(), false)?;
            for (i, b) in buf.iter_mut().enumerate() {
                *b = (off + i as u64) as u8;
            }
            Ok(())
        }

        fn write(&mut self, r: Region, off: u64, buf: &[u8]) -> Result {
            self.access(r, off, buf.len(), true)?;
            self.written.extend_from_slice(buf);
            Ok(())
        }
    }

    fn sizes() -> Sizes {
        Sizes {
            bar0: 0x1000,
            opregion: 0x2000,
            ..Sizes::default()
        }
    }

    fn read(r: Region, off: u64, count: u64, dev: &mut Dev) -> (Result<u64>, Mem) {
        let mut m = Mem::default();
        (transfer(&sizes(), r, off, count, false, &mut m, dev), m)
    }

    #[test]
    fn a_transfer_crosses_access_sizes() {
        let mut d = Dev::default();
        let (r, m) = read(Region::Bar0, 0x3, 14, &mut d);
        assert_eq!(r, Ok(14));
        let lens: Vec<_> = d.log.iter().map(|a| (a.1, a.2)).collect();
        assert_eq!(lens, [(3, 1), (4, 4), (8, 8), (16, 1)]);
        assert_eq!(m.out, (3u8..17).collect::<Vec<_>>());
        // Config space: 4 bytes at most.
        let mut d = Dev::default();
        assert_eq!(read(Region::Config, 0, 8, &mut d).0, Ok(8));
        assert!(d.log.iter().all(|a| a.2 == 4));
    }

    #[test]
    fn a_transfer_stops_at_the_end() {
        let mut d = Dev::default();
        assert_eq!(read(Region::Config, 250, 16, &mut d).0, Ok(6), "cut");
        assert_eq!(
            read(Region::Config, 256, 1, &mut d).0,
            Err(GvtError::Invalid),
            "past the end"
        );
        assert_eq!(
            read(Region::Bar0, u64::MAX, 8, &mut d).0,
            Err(GvtError::Invalid)
        );
    }

    #[test]
    fn a_zero_length_transfer_does_nothing() {
        let mut d = Dev::default();
        assert_eq!(read(Region::Bar0, 0, 0, &mut d).0, Ok(0));
        assert_eq!(read(Region::Bar0, 1 << 30, 0, &mut d).0, Ok(0));
        assert!(d.log.is_empty());
    }

    #[test]
    fn a_failed_access_ends_the_transfer() {
        // First access: its error.
        let mut d = Dev {
            fail_at: Some(0x10),
            ..Dev::default()
        };
        assert_eq!(
            read(Region::Bar0, 0x10, 8, &mut d).0,
            Err(GvtError::NoDevice)
        );
        // A later one: the bytes before it.
        let (r, m) = read(Region::Bar0, 0x8, 24, &mut d);
        assert_eq!(r, Ok(8));
        assert_eq!(m.out.len(), 8);
    }

    #[test]
    fn writes_take_user_bytes_in_order() {
        let mut d = Dev::default();
        let mut m = Mem {
            src: (0u8..12).collect(),
            ..Mem::default()
        };
        let r = transfer(&sizes(), Region::Bar0, 2, 12, true, &mut m, &mut d);
        assert_eq!(r, Ok(12));
        assert_eq!(d.written, (0u8..12).collect::<Vec<_>>());
        assert!(d.log.iter().all(|a| a.3));
    }

    #[test]
    fn user_faults_and_read_only_regions() {
        let mut d = Dev::default();
        let mut m = Mem {
            src: [0; 16].into(),
            fault_at: Some(8),
            ..Mem::default()
        };
        let r = transfer(&sizes(), Region::Bar0, 0, 16, true, &mut m, &mut d);
        assert_eq!(r, Err(GvtError::Fault), "a fault after bytes were done");
        assert_eq!(d.log.len(), 1);
        let mut m = Mem {
            fault_at: Some(0),
            ..Mem::default()
        };
        let r = transfer(&sizes(), Region::Bar0, 0, 4, false, &mut m, &mut d);
        assert_eq!(r, Err(GvtError::Fault));
        let mut d = Dev::default();
        let mut m = Mem {
            src: [0; 8].into(),
            ..Mem::default()
        };
        let r = transfer(&sizes(), Region::OpRegion, 0, 8, true, &mut m, &mut d);
        assert_eq!(r, Err(GvtError::Invalid), "the OpRegion is read-only");
        assert!(d.log.is_empty());
        assert_eq!(read(Region::OpRegion, 0, 8, &mut d).0, Ok(8));
        for own in [Region::Bar2, Region::Edid] {
            assert_eq!(read(own, 0, 4, &mut d).0, Err(GvtError::Invalid));
        }
    }

    #[test]
    fn the_aperture_is_the_slice_only() {
        let (base, size) = (128 << 20, 64 << 20);
        assert!(in_slice(base, size, base, 4));
        assert!(in_slice(base, size, base, size), "the whole slice");
        assert!(in_slice(base, size, base + size - 8, 8));
        assert!(!in_slice(base, size, base - 4, 8), "straddles the start");
        assert!(
            !in_slice(base, size, base + size - 4, 8),
            "straddles the end"
        );
        assert!(!in_slice(base, size, base + size, 1));
        assert!(!in_slice(base, size, 0, 4096));
        assert!(!in_slice(base, size, base, 0), "empty");
        assert!(!in_slice(base, size, u64::MAX, 2));
        assert!(
            !in_slice(u64::MAX, 2, u64::MAX, 1),
            "a slice past the end of the space"
        );
    }

    #[test]
    fn aperture_chunks_stay_in_a_page() {
        assert_eq!(aperture_chunk(0, 4096), 256);
        assert_eq!(aperture_chunk(0, 10), 10);
        assert_eq!(aperture_chunk(4090, 100), 6);
        assert_eq!(aperture_chunk(4096, 100), 100);
        assert_eq!(aperture_chunk(u64::MAX, 100), 1);
        assert_eq!(aperture_chunk(0, 0), 0);
    }
}
