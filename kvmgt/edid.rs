//! The EDID region (`VFIO_REGION_TYPE_GFX`, `VFIO_REGION_SUBTYPE_GFX_EDID`): QEMU's protocol
//! for the virtual monitor, as a state machine.
//!
//! The region is `struct vfio_region_gfx_edid` (4-byte registers) and, at [`BLOB_OFFSET`], the
//! blob. User space stages a blob and its size, then writes the link state: link down unplugs
//! the monitor; link up hands the staged blob to gvt.ko, which validates it (a bad one is
//! refused and nothing changes here) and plugs the monitor in. A device reset plugs it back in
//! and keeps its EDID. [`EdidRegion`] holds the registers and the blob and decides; what
//! reaches the monitor goes through [`Monitor`] (gvt.ko in kvmgt.ko, a model in tests).

use crate::error::{GvtError, Result};

/// The largest blob (`GVT_EDID_MAX_SIZE`): two 128-byte blocks.
pub const MAX_SIZE: usize = MAX_SIZE_REG as usize;
const MAX_SIZE_REG: u32 = 256;
/// Where the blob starts in the region (`edid_offset`), after the registers.
pub const BLOB_OFFSET: u64 = BLOB_OFFSET_REG as u64;
const BLOB_OFFSET_REG: u32 = 0x800;
/// The region's size.
pub const REGION_SIZE: u64 = BLOB_OFFSET + MAX_SIZE as u64;

/// Offsets of the registers of `struct vfio_region_gfx_edid` (include/uapi/linux/vfio.h).
pub mod reg {
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
pub enum Access {
    /// One whole register, at this offset in the struct.
    Reg(u64),
    /// Bytes of the blob, from this offset in it.
    Blob(u64),
}

/// An access of `len` bytes at `off` in the EDID region: one register (4 bytes, aligned) or
/// bytes inside the blob. `None` for anything else (partial or several registers, the gap,
/// past the blob's end).
pub fn access(off: u64, len: u64) -> Option<Access> {
    if len == 4 && off % 4 == 0 && off < reg::END {
        return Some(Access::Reg(off));
    }
    let at = off.checked_sub(BLOB_OFFSET)?;
    (len > 0 && at.checked_add(len)? <= MAX_SIZE as u64).then_some(Access::Blob(at))
}

/// What a write of `value` to a register does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Write {
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

/// Decides a write of `value` to register `reg`. The blob itself is validated when the link
/// goes up.
pub fn write_decision(reg: u64, value: u32) -> Write {
    match reg {
        reg::SIZE if value <= MAX_SIZE_REG => Write::Size(value),
        reg::LINK_STATE if value == LINK_UP => Write::LinkUp,
        reg::LINK_STATE if value == LINK_DOWN => Write::LinkDown,
        reg::SIZE | reg::LINK_STATE => Write::Invalid,
        _ => Write::ReadOnly,
    }
}

/// The virtual monitor, as the EDID region drives it.
pub trait Monitor {
    /// Gives the monitor this EDID, or refuses it (an invalid blob) and keeps the old one.
    fn set_edid(&mut self, blob: &[u8]) -> Result;
    /// Plugs the monitor in or out.
    fn set_link(&mut self, up: bool) -> Result;
}

/// The EDID region's registers and staged blob.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EdidRegion {
    size: u32,
    max_xres: u32,
    max_yres: u32,
    link_state: u32,
    blob: [u8; MAX_SIZE],
}

impl EdidRegion {
    /// The region as a new user finds it: the monitor's current EDID `edid` (cut at
    /// [`MAX_SIZE`]), a display of at most `max_xres` x `max_yres`, link up.
    pub fn new(edid: &[u8], max_xres: u32, max_yres: u32) -> Self {
        let mut blob = [0; MAX_SIZE];
        let n = edid.len().min(MAX_SIZE);
        copy(&mut blob, edid);
        EdidRegion {
            size: u32::try_from(n).unwrap_or(0),
            max_xres,
            max_yres,
            link_state: LINK_UP,
            blob,
        }
    }

    /// The value of register `r`.
    fn reg(&self, r: u64) -> u32 {
        match r {
            reg::OFFSET => BLOB_OFFSET_REG,
            reg::MAX_SIZE => MAX_SIZE_REG,
            reg::SIZE => self.size,
            reg::MAX_XRES => self.max_xres,
            reg::MAX_YRES => self.max_yres,
            reg::LINK_STATE => self.link_state,
            _ => 0,
        }
    }

    /// The link state register.
    pub fn link_state(&self) -> u32 {
        self.link_state
    }

    /// The blob as staged, of its size register's length.
    pub fn staged(&self) -> &[u8] {
        self.blob.get(..self.size as usize).unwrap_or(&self.blob)
    }

    /// A read of `buf.len()` bytes at `off` in the region (register values are little-endian,
    /// as on the x86 hosts kvmgt runs on).
    pub fn read(&self, off: u64, buf: &mut [u8]) -> Result {
        match access(off, buf.len() as u64).ok_or(GvtError::Invalid)? {
            Access::Reg(r) => copy(buf, &self.reg(r).to_le_bytes()),
            Access::Blob(at) => copy(buf, blob_range(&self.blob, at, buf.len())?),
        }
        Ok(())
    }

    /// A write of `data` at `off` in the region: blob bytes are staged; a register write does
    /// what [`write_decision`] says, through `monitor`. A refused write changes nothing here.
    pub fn write(&mut self, off: u64, data: &[u8], monitor: &mut impl Monitor) -> Result {
        let reg = match access(off, data.len() as u64).ok_or(GvtError::Invalid)? {
            Access::Blob(at) => {
                let to = self
                    .blob
                    .get_mut(usize::try_from(at).map_err(|_| GvtError::Invalid)?..)
                    .and_then(|b| b.get_mut(..data.len()))
                    .ok_or(GvtError::Invalid)?;
                copy(to, data);
                return Ok(());
            }
            Access::Reg(r) => r,
        };
        let value = <[u8; 4]>::try_from(data).map_err(|_| GvtError::Invalid)?;
        let value = u32::from_le_bytes(value);
        match write_decision(reg, value) {
            Write::Size(n) => self.size = n,
            Write::LinkUp => {
                monitor.set_edid(self.staged())?;
                monitor.set_link(true)?;
                self.link_state = LINK_UP;
            }
            Write::LinkDown => {
                monitor.set_link(false)?;
                self.link_state = LINK_DOWN;
            }
            Write::Invalid => return Err(GvtError::Invalid),
            Write::ReadOnly => return Err(GvtError::NotPermitted),
        }
        Ok(())
    }

    /// A device reset: the monitor is plugged back in (gvt.ko's reset did it) with its EDID.
    pub fn reset(&mut self) {
        self.link_state = LINK_UP;
    }
}

/// Copies what fits of `from` to the start of `to` (without `copy_from_slice`'s length panic:
/// the callers' lengths match by construction).
fn copy(to: &mut [u8], from: &[u8]) {
    for (t, f) in to.iter_mut().zip(from) {
        *t = *f;
    }
}

fn blob_range(blob: &[u8], at: u64, len: usize) -> Result<&[u8]> {
    blob.get(usize::try_from(at).map_err(|_| GvtError::Invalid)?..)
        .and_then(|b| b.get(..len))
        .ok_or(GvtError::Invalid)
}

#[cfg(test)]
mod tests {
    use super::*;
    extern crate std;
    use std::vec::Vec;

    #[test]
    fn the_region_takes_whole_registers_and_blob_bytes() {
        use Access::*;
        for r in [0, 4, 8, 12, 16, 20] {
            assert_eq!(access(r, 4), Some(Reg(r)));
        }
        assert_eq!(access(2, 4), None, "misaligned");
        assert_eq!(access(8, 2), None, "half a register");
        assert_eq!(access(8, 8), None, "two registers");
        assert_eq!(access(24, 4), None, "past the struct");
        assert_eq!(access(0x400, 4), None, "the gap");
        assert_eq!(access(BLOB_OFFSET, 256), Some(Blob(0)));
        assert_eq!(access(BLOB_OFFSET + 3, 5), Some(Blob(3)));
        assert_eq!(access(BLOB_OFFSET + 200, 57), None, "past the blob");
        assert_eq!(access(BLOB_OFFSET, 0), None);
        assert_eq!(access(u64::MAX, 4), None);
        assert_eq!(access(BLOB_OFFSET + 1, u64::MAX), None);
    }

    #[test]
    fn register_write_decisions() {
        use Write::*;
        assert_eq!(write_decision(reg::SIZE, 128), Size(128));
        assert_eq!(write_decision(reg::SIZE, 256), Size(256));
        assert_eq!(write_decision(reg::SIZE, 257), Invalid);
        assert_eq!(write_decision(reg::LINK_STATE, LINK_UP), LinkUp);
        assert_eq!(write_decision(reg::LINK_STATE, LINK_DOWN), LinkDown);
        assert_eq!(write_decision(reg::LINK_STATE, 0), Invalid);
        assert_eq!(write_decision(reg::LINK_STATE, 3), Invalid);
        for ro in [reg::OFFSET, reg::MAX_SIZE, reg::MAX_XRES, reg::MAX_YRES] {
            assert_eq!(write_decision(ro, 1), ReadOnly);
        }
    }

    /// A monitor that takes EDIDs whose first byte is 0 (a stand-in for gvt.ko's check).
    #[derive(Default)]
    struct Mon {
        edid: Vec<u8>,
        up: Option<bool>,
        calls: usize,
    }

    impl Monitor for Mon {
        fn set_edid(&mut self, blob: &[u8]) -> Result {
            self.calls += 1;
            if blob.first() != Some(&0) {
                return Err(GvtError::Invalid);
            }
            self.edid = blob.into();
            Ok(())
        }

        fn set_link(&mut self, up: bool) -> Result {
            self.calls += 1;
            self.up = Some(up);
            Ok(())
        }
    }

    fn rd(e: &EdidRegion, r: u64) -> u32 {
        let mut b = [0; 4];
        e.read(r, &mut b).unwrap();
        u32::from_le_bytes(b)
    }

    fn wr(e: &mut EdidRegion, m: &mut Mon, r: u64, v: u32) -> Result {
        e.write(r, &v.to_le_bytes(), m)
    }

    #[test]
    fn a_new_region_shows_the_monitor_link_up() {
        let e = EdidRegion::new(&[0, 0xff, 0xff], 1920, 1200);
        let regs: Vec<_> = [0, 4, 8, 12, 16, 20].map(|r| rd(&e, r)).into();
        assert_eq!(regs, [0x800, 256, 3, 1920, 1200, LINK_UP]);
        let mut b = [9; 4];
        e.read(BLOB_OFFSET, &mut b).unwrap();
        assert_eq!(b, [0, 0xff, 0xff, 0]);
        assert_eq!(e.staged(), [0, 0xff, 0xff]);
        assert_eq!(EdidRegion::new(&[0; 300], 0, 0).staged().len(), 256);
        assert_eq!(e.read(0x400, &mut b), Err(GvtError::Invalid));
    }

    #[test]
    fn link_up_hands_over_the_staged_blob() {
        let mut e = EdidRegion::new(&[], 1024, 768);
        let mut m = Mon::default();
        assert_eq!(wr(&mut e, &mut m, reg::LINK_STATE, LINK_DOWN), Ok(()));
        assert_eq!((e.link_state(), m.up), (LINK_DOWN, Some(false)));
        e.write(BLOB_OFFSET + 1, &[7, 8], &mut m).unwrap();
        assert_eq!(wr(&mut e, &mut m, reg::SIZE, 3), Ok(()));
        assert_eq!(rd(&e, reg::SIZE), 3);
        assert_eq!(wr(&mut e, &mut m, reg::LINK_STATE, LINK_UP), Ok(()));
        assert_eq!(m.edid, [0, 7, 8]);
        assert_eq!((e.link_state(), m.up), (LINK_UP, Some(true)));
    }

    #[test]
    fn refused_writes_change_nothing() {
        let mut e = EdidRegion::new(&[0; 128], 1024, 768);
        let mut m = Mon::default();
        wr(&mut e, &mut m, reg::LINK_STATE, LINK_DOWN).unwrap();
        let calls = m.calls;
        // A size bigger than the blob can be.
        let before = e.clone();
        assert_eq!(wr(&mut e, &mut m, reg::SIZE, 257), Err(GvtError::Invalid));
        assert_eq!(e, before);
        // Link up with a blob the monitor refuses: still down, the link untouched.
        e.write(BLOB_OFFSET, &[1], &mut m).unwrap();
        let before = e.clone();
        assert_eq!(
            wr(&mut e, &mut m, reg::LINK_STATE, LINK_UP),
            Err(GvtError::Invalid)
        );
        assert_eq!((&e, m.up), (&before, Some(false)));
        assert_eq!(m.calls, calls + 1, "no set_link after a refused EDID");
        // Read-only registers, bad link values, partial registers, the gap.
        for r in [reg::OFFSET, reg::MAX_SIZE, reg::MAX_XRES, reg::MAX_YRES] {
            assert_eq!(wr(&mut e, &mut m, r, 1), Err(GvtError::NotPermitted));
        }
        assert_eq!(
            wr(&mut e, &mut m, reg::LINK_STATE, 0),
            Err(GvtError::Invalid)
        );
        assert_eq!(e.write(reg::SIZE, &[1, 0], &mut m), Err(GvtError::Invalid));
        assert_eq!(e.write(0x400, &[0; 4], &mut m), Err(GvtError::Invalid));
        assert_eq!(
            e.write(BLOB_OFFSET + 255, &[0; 2], &mut m),
            Err(GvtError::Invalid)
        );
        assert_eq!(e, before);
    }

    #[test]
    fn a_reset_puts_the_link_up_and_keeps_the_edid() {
        let mut e = EdidRegion::new(&[0, 1, 2], 1024, 768);
        let mut m = Mon::default();
        wr(&mut e, &mut m, reg::LINK_STATE, LINK_DOWN).unwrap();
        e.reset();
        assert_eq!(rd(&e, reg::LINK_STATE), LINK_UP);
        assert_eq!(e.staged(), [0, 1, 2]);
    }
}
