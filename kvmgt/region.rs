//! VFIO region offsets and how a user-space transfer splits into device accesses.
//!
//! QEMU (or any VFIO user) reads and writes a region at `index << 40 | offset` on the device
//! fd, with any length. The device model takes 1, 2, 4 or 8 bytes at a time, naturally aligned,
//! so a transfer becomes a run of such accesses; anything past a region's end, or an offset that
//! does not decode to a region, is refused before the device model sees it.

/// Bits of a region offset inside its region (`VFIO_PCI_OFFSET_SHIFT`).
pub const OFFSET_SHIFT: u32 = 40;

/// A transfer's position decoded: the region index and the offset inside it.
pub fn decode(pos: u64) -> (u64, u64) {
    let mask = (1u64 << OFFSET_SHIFT).wrapping_sub(1);
    (pos >> OFFSET_SHIFT, pos & mask)
}

/// The length of the next access of a transfer at `off` with `remaining` bytes left, in a
/// region of `size` bytes whose accesses are at most `max` bytes: the largest power of two up
/// to `max` that is aligned at `off` and fits both. `None` when nothing fits (past the end, or
/// a zero-length transfer).
pub fn next_access(off: u64, remaining: u64, size: u64, max: u64) -> Option<u64> {
    let room = size.checked_sub(off)?.min(remaining);
    [8u64, 4, 2, 1].into_iter().find(|&n| n <= max && n <= room && off.trailing_zeros() >= n.trailing_zeros())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_decode_to_index_and_offset() {
        assert_eq!(decode(7 << 40 | 0x10), (7, 0x10));
        assert_eq!(decode(u64::MAX), (0xff_ffff, (1 << 40) - 1));
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
}
