//! VFIO region offsets and how a user-space transfer splits into device accesses.
//!
//! QEMU (or any VFIO user) reads and writes a region at `index << 40 | offset` on the device
//! fd, with any length. The device model takes 1, 2, 4 or 8 bytes at a time, naturally aligned,
//! so a transfer becomes a run of such accesses; anything past a region's end, or an offset that
//! does not decode to a region, is refused before the device model sees it.
//!
//! BAR2 (the aperture) is reachable, for reads, writes and mmap, only inside the vGPU's slice
//! ([`in_slice`]). The EDID region (`struct vfio_region_gfx_edid`, then the blob at
//! [`EDID_BLOB_OFFSET`]) takes whole 4-byte registers and blob bytes ([`edid_access`]); what a
//! register write does is [`edid_write`]'s decision.

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
    [8u64, 4, 2, 1]
        .into_iter()
        .find(|&n| n <= max && n <= room && off.trailing_zeros() >= n.trailing_zeros())
}

/// Whether `[off, off + len)` is a non-empty range inside the aperture slice
/// `[base, base + size)`: the only part of BAR2 a vGPU's user may read, write or map.
pub fn in_slice(base: u64, size: u64, off: u64, len: u64) -> bool {
    let (Some(end), Some(slice_end)) = (off.checked_add(len), base.checked_add(size)) else {
        return false;
    };
    len > 0 && off >= base && end <= slice_end
}

/// Where the EDID blob starts in the EDID region (`edid_offset`), after the registers.
pub const EDID_BLOB_OFFSET: u64 = 0x800;

/// Offsets of the registers of `struct vfio_region_gfx_edid` (include/uapi/linux/vfio.h).
pub mod edid_reg {
    /// `edid_offset`, read-only.
    pub const OFFSET: u64 = 0;
    /// `edid_max_size`, read-only.
    pub const MAX_SIZE: u64 = 4;
    /// `edid_size`.
    pub const SIZE: u64 = 8;
    /// `max_xres`, read-only.
    pub const MAX_XRES: u64 = 12;
    /// `max_yres`, read-only.
    pub const MAX_YRES: u64 = 16;
    /// `link_state`.
    pub const LINK_STATE: u64 = 20;
    /// Size of the struct.
    pub const END: u64 = 24;
}

/// `VFIO_DEVICE_GFX_LINK_STATE_UP`.
pub const LINK_UP: u32 = 1;
/// `VFIO_DEVICE_GFX_LINK_STATE_DOWN`.
pub const LINK_DOWN: u32 = 2;

/// What an access to the EDID region is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EdidAccess {
    /// One whole register, at this offset in the struct.
    Reg(u64),
    /// Bytes of the blob, from this offset in it.
    Blob(u64),
}

/// An access of `len` bytes at `off` in the EDID region with a blob of at most `max_size`
/// bytes: one register (4 bytes, aligned) or bytes inside the blob. `None` for anything
/// else (partial or several registers, the gap, past the blob's end).
pub fn edid_access(off: u64, len: u64, max_size: u64) -> Option<EdidAccess> {
    if len == 4 && off % 4 == 0 && off < edid_reg::END {
        return Some(EdidAccess::Reg(off));
    }
    let at = off.checked_sub(EDID_BLOB_OFFSET)?;
    (len > 0 && at.checked_add(len)? <= max_size).then_some(EdidAccess::Blob(at))
}

/// What a write of `value` to EDID register `reg` does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EdidWrite {
    /// The blob's size is now `value`.
    Size(u32),
    /// Link up: the staged blob becomes the monitor's EDID (if valid), the monitor is plugged in.
    LinkUp,
    /// Link down: the monitor is unplugged.
    LinkDown,
    /// A value the register does not take (EINVAL).
    Invalid,
    /// A read-only register (EPERM, as upstream).
    ReadOnly,
}

/// Decides a write of `value` to register `reg` of an EDID region whose blob holds at most
/// `max_size` bytes. The blob itself is validated when the link goes up.
pub fn edid_write(reg: u64, value: u32, max_size: u32) -> EdidWrite {
    match reg {
        edid_reg::SIZE if value <= max_size => EdidWrite::Size(value),
        edid_reg::LINK_STATE if value == LINK_UP => EdidWrite::LinkUp,
        edid_reg::LINK_STATE if value == LINK_DOWN => EdidWrite::LinkDown,
        edid_reg::SIZE | edid_reg::LINK_STATE => EdidWrite::Invalid,
        _ => EdidWrite::ReadOnly,
    }
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
    fn edid_region_takes_whole_registers_and_blob_bytes() {
        use EdidAccess::*;
        for reg in [0, 4, 8, 12, 16, 20] {
            assert_eq!(edid_access(reg, 4, 256), Some(Reg(reg)));
        }
        assert_eq!(edid_access(2, 4, 256), None, "misaligned");
        assert_eq!(edid_access(8, 2, 256), None, "half a register");
        assert_eq!(edid_access(8, 8, 256), None, "two registers");
        assert_eq!(edid_access(24, 4, 256), None, "past the struct");
        assert_eq!(edid_access(0x400, 4, 256), None, "the gap");
        assert_eq!(edid_access(EDID_BLOB_OFFSET, 256, 256), Some(Blob(0)));
        assert_eq!(edid_access(EDID_BLOB_OFFSET + 3, 5, 256), Some(Blob(3)));
        assert_eq!(
            edid_access(EDID_BLOB_OFFSET + 200, 57, 256),
            None,
            "past the blob"
        );
        assert_eq!(edid_access(EDID_BLOB_OFFSET, 0, 256), None);
        assert_eq!(edid_access(u64::MAX, 4, 256), None);
        assert_eq!(edid_access(EDID_BLOB_OFFSET + 1, u64::MAX, 256), None);
    }

    #[test]
    fn edid_register_writes() {
        use EdidWrite::*;
        assert_eq!(edid_write(edid_reg::SIZE, 128, 256), Size(128));
        assert_eq!(edid_write(edid_reg::SIZE, 256, 256), Size(256));
        assert_eq!(edid_write(edid_reg::SIZE, 257, 256), Invalid);
        assert_eq!(edid_write(edid_reg::LINK_STATE, LINK_UP, 256), LinkUp);
        assert_eq!(edid_write(edid_reg::LINK_STATE, LINK_DOWN, 256), LinkDown);
        assert_eq!(edid_write(edid_reg::LINK_STATE, 0, 256), Invalid);
        assert_eq!(edid_write(edid_reg::LINK_STATE, 3, 256), Invalid);
        for ro in [
            edid_reg::OFFSET,
            edid_reg::MAX_SIZE,
            edid_reg::MAX_XRES,
            edid_reg::MAX_YRES,
        ] {
            assert_eq!(edid_write(ro, 1, 256), ReadOnly);
        }
    }
}
