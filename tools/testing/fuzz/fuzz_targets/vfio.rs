#![no_main]
//! kvmgt's VFIO region decoding (`kvmgt/region.rs`, what `kvmgt_main.rs` exports to vfio.c):
//! file positions, the split of a transfer into device accesses, the aperture slice check, and
//! the EDID region's access and register-write decisions, each against a plain reference
//! computed in `u128`; and transfers to config space and BAR0 split as vfio.c's `kvmgt_rw`
//! splits them, into the fuzzed vGPU (host writes stay in its partition).
//!
//! What is C only and not reached here: vfio.c's ioctls (`VFIO_DEVICE_GET_REGION_INFO`,
//! `SET_IRQS`, the plane query), `region_size`, the OpRegion/EDID region indices, and the copy
//! loops around the decisions below.
use gvt::model::display::edid::EDID_MAX_SIZE;
use kvmgt::region::{
    decode, edid_access, edid_reg, edid_write, in_slice, next_access, EdidAccess, EdidWrite,
    EDID_BLOB_OFFSET, LINK_DOWN, LINK_UP, OFFSET_SHIFT,
};
use libfuzzer_sys::fuzz_target;

/// `VFIO_PCI_BAR0_REGION_INDEX`, `VFIO_PCI_CONFIG_REGION_INDEX` (include/uapi/linux/vfio.h).
const BAR0: u64 = 0;
const CONFIG: u64 = 7;
/// `sizeof(struct vfio_region_gfx_edid)`: what vfio.c copies a register from.
const EDID_STRUCT: u64 = 24;

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
}

fn check_edid(off: u64, len: u64, value: u32) {
    let max = EDID_MAX_SIZE as u64;
    let got = edid_access(off, len, max);
    let want = if len == 4 && off % 4 == 0 && off < edid_reg::END {
        Some(EdidAccess::Reg(off))
    } else if off >= EDID_BLOB_OFFSET
        && len > 0
        && u128::from(off - EDID_BLOB_OFFSET) + u128::from(len) <= u128::from(max)
    {
        Some(EdidAccess::Blob(off - EDID_BLOB_OFFSET))
    } else {
        None
    };
    assert_eq!(got, want, "edid_access({off:#x}, {len})");
    match got {
        // vfio.c copies `len` bytes from the register struct or into its 256-byte blob.
        Some(EdidAccess::Reg(r)) => assert!(r + len <= EDID_STRUCT),
        Some(EdidAccess::Blob(at)) => assert!(at + len <= max),
        None => {}
    }
    if let Some(EdidAccess::Reg(r)) = got {
        let got = edid_write(r, value, max as u32);
        let want = match r {
            edid_reg::SIZE if value <= max as u32 => EdidWrite::Size(value),
            edid_reg::SIZE => EdidWrite::Invalid,
            edid_reg::LINK_STATE if value == LINK_UP => EdidWrite::LinkUp,
            edid_reg::LINK_STATE if value == LINK_DOWN => EdidWrite::LinkDown,
            edid_reg::LINK_STATE => EdidWrite::Invalid,
            _ => EdidWrite::ReadOnly,
        };
        assert_eq!(got, want, "edid_write({r}, {value:#x})");
    }
}

fuzz_target!(|data: &[u8]| {
    let mut w = gvt_fuzz::world().lock().unwrap();
    let w = &mut *w;
    w.clear_logs();
    let host = w.fenced();
    let bar0_size = w.vgpu.cfg().bar0.size;
    for op in data.chunks_exact(32) {
        let (a, b, c) = (u64_at(op, 8), u64_at(op, 16), u64_at(op, 24));
        match op[0] & 3 {
            // The decisions on arbitrary arguments.
            0 => {
                let (index, off) = decode(a);
                assert_eq!(index << OFFSET_SHIFT | off, a, "decode({a:#x})");
                assert!(off < 1 << OFFSET_SHIFT);
                check_next(a, b, c, u64::from(op[1] & 15));
                check_slice(a, b, c, u64_at(op, 0) >> 8);
            }
            1 => check_edid(a % 0x1000, b % 0x300, c as u32),
            // A transfer of up to 64 bytes to config space or BAR0, split as vfio.c does.
            _ => {
                let write = op[1] & 1 != 0;
                let (index, size, max) = if op[1] & 2 == 0 {
                    (CONFIG, 256, 4)
                } else {
                    (BAR0, bar0_size, 8)
                };
                let pos = index << OFFSET_SHIFT | (a & ((1 << OFFSET_SHIFT) - 1));
                let (i, mut off) = decode(pos);
                assert_eq!(i, index);
                let count = u64::from(op[2] % 65);
                let mut done = 0;
                while let Some(len) = check_next(off, count - done, size, max) {
                    let mut buf = b.to_le_bytes();
                    let buf = &mut buf[..len as usize];
                    let r = match (index, write) {
                        (CONFIG, true) => w.vgpu.cfg_write(&mut w.hv, off as u32, buf),
                        (CONFIG, false) => w.vgpu.cfg_read(off as u32, buf),
                        (_, true) => w.vgpu.mmio_write(&host, &mut w.hv, off, buf),
                        (_, false) => w.vgpu.mmio_read(off, buf),
                    };
                    if r.is_err() {
                        break;
                    }
                    done += len;
                    off += len;
                }
                assert!(done <= count);
            }
        }
    }
});
