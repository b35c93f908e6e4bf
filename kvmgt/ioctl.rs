//! The VFIO device ioctls' decisions: `VFIO_DEVICE_GET_INFO`, `GET_REGION_INFO`,
//! `GET_IRQ_INFO` and `SET_IRQS`, from the argument's header (user-controlled, so every field
//! is checked) to the answer or a [`GvtError`].
//!
//! The C side copies the header in and the answer out, builds the capability chain a region's
//! [`Cap`] names and handles eventfds; which answer, and whether there is one, is decided here,
//! host-tested and fuzzed. The numbers are those of `include/uapi/linux/vfio.h`; kvmgt.ko
//! checks each against the header (`ffi.rs`).

use crate::error::{GvtError, Result};
use crate::region::{index, Region, Sizes, OFFSET_SHIFT};

/// `VFIO_DEVICE_FLAGS_RESET`.
pub const DEVICE_FLAGS_RESET: u32 = 1 << 0;
/// `VFIO_DEVICE_FLAGS_PCI`.
pub const DEVICE_FLAGS_PCI: u32 = 1 << 1;

/// `VFIO_REGION_INFO_FLAG_READ`.
pub const REGION_READ: u32 = 1 << 0;
/// `VFIO_REGION_INFO_FLAG_WRITE`.
pub const REGION_WRITE: u32 = 1 << 1;
/// `VFIO_REGION_INFO_FLAG_MMAP`.
pub const REGION_MMAP: u32 = 1 << 2;
/// `VFIO_REGION_INFO_FLAG_CAPS`.
pub const REGION_CAPS: u32 = 1 << 3;
/// `VFIO_REGION_TYPE_PCI_VENDOR_TYPE`, or'ed with the vendor ID.
pub const REGION_TYPE_PCI_VENDOR: u32 = 1 << 31;
/// `PCI_VENDOR_ID_INTEL`.
pub const VENDOR_INTEL: u32 = 0x8086;
/// `VFIO_REGION_SUBTYPE_INTEL_IGD_OPREGION`.
pub const SUBTYPE_IGD_OPREGION: u32 = 1;
/// `VFIO_REGION_TYPE_GFX`.
pub const REGION_TYPE_GFX: u32 = 1;
/// `VFIO_REGION_SUBTYPE_GFX_EDID`.
pub const SUBTYPE_GFX_EDID: u32 = 1;

/// `VFIO_PCI_INTX_IRQ_INDEX`.
pub const IRQ_INTX: u32 = 0;
/// `VFIO_PCI_MSI_IRQ_INDEX`.
pub const IRQ_MSI: u32 = 1;
/// `VFIO_PCI_NUM_IRQS`.
pub const NUM_IRQS: u32 = 5;
/// `VFIO_IRQ_INFO_EVENTFD`.
pub const IRQ_INFO_EVENTFD: u32 = 1 << 0;
/// `VFIO_IRQ_INFO_MASKABLE`.
pub const IRQ_INFO_MASKABLE: u32 = 1 << 1;
/// `VFIO_IRQ_INFO_AUTOMASKED`.
pub const IRQ_INFO_AUTOMASKED: u32 = 1 << 2;
/// `VFIO_IRQ_INFO_NORESIZE`.
pub const IRQ_INFO_NORESIZE: u32 = 1 << 3;
/// `VFIO_IRQ_SET_DATA_NONE`.
pub const SET_DATA_NONE: u32 = 1 << 0;
/// `VFIO_IRQ_SET_DATA_BOOL`.
pub const SET_DATA_BOOL: u32 = 1 << 1;
/// `VFIO_IRQ_SET_DATA_EVENTFD`.
pub const SET_DATA_EVENTFD: u32 = 1 << 2;
/// `VFIO_IRQ_SET_ACTION_MASK`.
pub const SET_ACTION_MASK: u32 = 1 << 3;
/// `VFIO_IRQ_SET_ACTION_UNMASK`.
pub const SET_ACTION_UNMASK: u32 = 1 << 4;
/// `VFIO_IRQ_SET_ACTION_TRIGGER`.
pub const SET_ACTION_TRIGGER: u32 = 1 << 5;
/// `VFIO_IRQ_SET_DATA_TYPE_MASK`.
pub const SET_DATA_TYPE_MASK: u32 = SET_DATA_NONE | SET_DATA_BOOL | SET_DATA_EVENTFD;
/// `VFIO_IRQ_SET_ACTION_TYPE_MASK`.
pub const SET_ACTION_TYPE_MASK: u32 = SET_ACTION_MASK | SET_ACTION_UNMASK | SET_ACTION_TRIGGER;

/// The smallest `argsz` of each ioctl: its header up to its last field the answer fills.
/// `struct vfio_device_info` to `num_irqs`.
pub const DEVICE_INFO_MINSZ: u32 = 16;
/// `struct vfio_region_info` to `offset`.
pub const REGION_INFO_MINSZ: u32 = 32;
/// `struct vfio_irq_info` to `count`.
pub const IRQ_INFO_MINSZ: u32 = 16;
/// `struct vfio_irq_set` to `count`; the data follows.
pub const IRQ_SET_MINSZ: u32 = 20;

/// `index` if it is below `n`, else `None`; the index returned is also clamped to 0 when the
/// CPU runs ahead of the comparison (Spectre v1), with a mask computed without a branch, so a
/// table look-up with it cannot read past `n` even speculatively.
pub fn index_nospec(index: u32, n: u32) -> Option<u32> {
    if index >= n {
        return None;
    }
    let (i, n) = (core::hint::black_box(u64::from(index)), u64::from(n));
    // All ones when i < n (i - n borrows into the top bit), else 0.
    let mask = 0u64.wrapping_sub(i.wrapping_sub(n) >> 63);
    u32::try_from(i & mask).ok()
}

/// `VFIO_DEVICE_GET_INFO`'s answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeviceInfo {
    /// A resettable PCI device.
    pub flags: u32,
    /// [`index::NUM`].
    pub num_regions: u32,
    /// [`NUM_IRQS`].
    pub num_irqs: u32,
}

/// `VFIO_DEVICE_GET_INFO` with this `argsz`.
pub fn device_info(argsz: u32) -> Result<DeviceInfo> {
    if argsz < DEVICE_INFO_MINSZ {
        return Err(GvtError::Invalid);
    }
    Ok(DeviceInfo {
        flags: DEVICE_FLAGS_PCI | DEVICE_FLAGS_RESET,
        num_regions: index::NUM,
        num_irqs: NUM_IRQS,
    })
}

/// The capability a region's info carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cap {
    /// None.
    None,
    /// `VFIO_REGION_INFO_CAP_SPARSE_MMAP` with one area: the only part that may be mapped.
    SparseMmap {
        /// Offset of the area in the region.
        offset: u64,
        /// Its size.
        size: u64,
    },
    /// `VFIO_REGION_INFO_CAP_TYPE`: what a device-specific region is.
    Type {
        /// `type`.
        ty: u32,
        /// `subtype`.
        subtype: u32,
    },
}

/// `VFIO_DEVICE_GET_REGION_INFO`'s answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RegionInfo {
    /// The index asked for, clamped as [`index_nospec`] does.
    pub index: u32,
    /// `VFIO_REGION_INFO_FLAG_*`; `REGION_CAPS` when [`RegionInfo::cap`] is not `None`.
    pub flags: u32,
    /// The region's size (0: the device has no region there).
    pub size: u64,
    /// Where it is in the device fd.
    pub offset: u64,
    /// Its capability.
    pub cap: Cap,
}

/// `VFIO_DEVICE_GET_REGION_INFO` for `index` with this `argsz`, for a vGPU of these sizes.
pub fn region_info(argsz: u32, index: u32, sizes: &Sizes) -> Result<RegionInfo> {
    if argsz < REGION_INFO_MINSZ {
        return Err(GvtError::Invalid);
    }
    let index = index_nospec(index, index::NUM).ok_or(GvtError::Invalid)?;
    let mut info = RegionInfo {
        index,
        flags: 0,
        size: 0,
        offset: u64::from(index) << OFFSET_SHIFT,
        cap: Cap::None,
    };
    let Some(region) = Region::at(u64::from(index)) else {
        return Ok(info);
    };
    info.size = region.size(sizes);
    info.flags = REGION_READ;
    if region.writable() {
        info.flags |= REGION_WRITE;
    }
    info.cap = match region {
        Region::Bar2 => {
            info.flags |= REGION_MMAP;
            Cap::SparseMmap {
                offset: sizes.slice_base,
                size: sizes.slice_size,
            }
        }
        Region::OpRegion => Cap::Type {
            ty: REGION_TYPE_PCI_VENDOR | VENDOR_INTEL,
            subtype: SUBTYPE_IGD_OPREGION,
        },
        Region::Edid => Cap::Type {
            ty: REGION_TYPE_GFX,
            subtype: SUBTYPE_GFX_EDID,
        },
        Region::Config | Region::Bar0 => Cap::None,
    };
    if info.cap != Cap::None {
        info.flags |= REGION_CAPS;
    }
    Ok(info)
}

/// `VFIO_DEVICE_GET_IRQ_INFO`'s answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IrqInfo {
    /// `VFIO_IRQ_INFO_*`.
    pub flags: u32,
    /// How many interrupts the index has.
    pub count: u32,
}

/// `VFIO_DEVICE_GET_IRQ_INFO` for `index` with this `argsz`: one INTx (advertised, as
/// upstream, though never fired) and one MSI; none of the other kinds.
pub fn irq_info(argsz: u32, index: u32) -> Result<IrqInfo> {
    if argsz < IRQ_INFO_MINSZ || index >= NUM_IRQS {
        return Err(GvtError::Invalid);
    }
    Ok(match index {
        IRQ_INTX => IrqInfo {
            flags: IRQ_INFO_EVENTFD | IRQ_INFO_MASKABLE | IRQ_INFO_AUTOMASKED,
            count: 1,
        },
        IRQ_MSI => IrqInfo {
            flags: IRQ_INFO_EVENTFD | IRQ_INFO_NORESIZE,
            count: 1,
        },
        _ => IrqInfo { flags: 0, count: 0 },
    })
}

/// An interrupt the device has a trigger for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Irq {
    /// INTx.
    Intx,
    /// MSI.
    Msi,
}

/// What a `VFIO_DEVICE_SET_IRQS` does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IrqSet {
    /// Nothing: masking INTx, which never fires, or an eventfd action with no eventfd.
    Nothing,
    /// Remove the interrupt's trigger.
    Remove(Irq),
    /// Install the eventfd after the header as the trigger (-1: remove it).
    Eventfd(Irq),
}

/// `VFIO_DEVICE_SET_IRQS` with this header. Each index has one interrupt; the header's flags
/// name exactly one data type and one action; the data must fit in `argsz`. Firing an
/// interrupt from user space (`DATA_NONE`/`DATA_BOOL` with a count) is refused: the guest did
/// not ask for it.
pub fn set_irqs(argsz: u32, flags: u32, index: u32, start: u32, count: u32) -> Result<IrqSet> {
    let bad = argsz < IRQ_SET_MINSZ
        || index >= NUM_IRQS
        || flags & !(SET_DATA_TYPE_MASK | SET_ACTION_TYPE_MASK) != 0
        || start.checked_add(count).is_none();
    if bad {
        return Err(GvtError::Invalid);
    }
    let data_size: u32 = match flags & SET_DATA_TYPE_MASK {
        SET_DATA_NONE => 0,
        SET_DATA_BOOL => 1,
        SET_DATA_EVENTFD => 4,
        _ => return Err(GvtError::Invalid),
    };
    if data_size > 0 {
        let room = argsz.wrapping_sub(IRQ_SET_MINSZ);
        let fits = count.checked_mul(data_size).is_some_and(|n| n <= room);
        if !fits || start >= 1 || start.wrapping_add(count) > 1 {
            return Err(GvtError::Invalid);
        }
    }
    let irq = match index {
        IRQ_INTX => Irq::Intx,
        IRQ_MSI => Irq::Msi,
        _ => return Err(GvtError::Invalid),
    };
    match flags & SET_ACTION_TYPE_MASK {
        SET_ACTION_TRIGGER => {}
        // INTx never fires, so masking it has nothing to do.
        SET_ACTION_MASK | SET_ACTION_UNMASK if irq == Irq::Intx => return Ok(IrqSet::Nothing),
        _ => return Err(GvtError::Invalid),
    }
    Ok(match (flags & SET_DATA_TYPE_MASK, count) {
        (SET_DATA_EVENTFD, 0) => IrqSet::Nothing,
        (SET_DATA_EVENTFD, _) => IrqSet::Eventfd(irq),
        (_, 0) => IrqSet::Remove(irq),
        _ => return Err(GvtError::Invalid),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIZES: Sizes = Sizes {
        bar0: 2 << 20,
        aperture: 256 << 20,
        slice_base: 64 << 20,
        slice_size: 32 << 20,
        opregion: 8192,
    };

    #[test]
    fn indices_are_clamped_without_a_branch() {
        for n in [1, 5, 11] {
            for i in 0..n {
                assert_eq!(index_nospec(i, n), Some(i));
            }
            for i in [n, n + 1, u32::MAX] {
                assert_eq!(index_nospec(i, n), None);
            }
        }
    }

    #[test]
    fn device_info_wants_its_header() {
        assert_eq!(device_info(15), Err(GvtError::Invalid));
        for argsz in [16, 4096, u32::MAX] {
            let i = device_info(argsz).unwrap();
            assert_eq!((i.num_regions, i.num_irqs), (11, 5));
            assert_eq!(i.flags, DEVICE_FLAGS_PCI | DEVICE_FLAGS_RESET);
        }
    }

    #[test]
    fn region_info_answers() {
        assert_eq!(region_info(31, 0, &SIZES), Err(GvtError::Invalid), "short");
        assert_eq!(region_info(32, 11, &SIZES), Err(GvtError::Invalid));
        assert_eq!(region_info(32, u32::MAX, &SIZES), Err(GvtError::Invalid));
        let rw = REGION_READ | REGION_WRITE;
        let at = |i: u32| region_info(32, i, &SIZES).unwrap();
        let c = at(index::CONFIG);
        assert_eq!(
            (c.size, c.flags, c.cap, c.offset),
            (256, rw, Cap::None, 7 << 40)
        );
        let b = at(index::BAR0);
        assert_eq!((b.size, b.flags, b.cap), (2 << 20, rw, Cap::None));
        let a = at(index::BAR2);
        assert_eq!(a.size, 256 << 20);
        assert_eq!(a.flags, rw | REGION_MMAP | REGION_CAPS);
        assert_eq!(
            a.cap,
            Cap::SparseMmap {
                offset: 64 << 20,
                size: 32 << 20
            }
        );
        let o = at(index::OPREGION);
        assert_eq!((o.size, o.flags), (8192, REGION_READ | REGION_CAPS));
        assert_eq!(
            o.cap,
            Cap::Type {
                ty: 0x8000_8086,
                subtype: SUBTYPE_IGD_OPREGION
            }
        );
        let e = at(index::EDID);
        assert_eq!((e.size, e.flags), (0x900, rw | REGION_CAPS));
        assert_eq!(
            e.cap,
            Cap::Type {
                ty: REGION_TYPE_GFX,
                subtype: SUBTYPE_GFX_EDID
            }
        );
        for none in [1, 3, 4, 5, 6, 8] {
            let r = at(none);
            assert_eq!((r.size, r.flags, r.cap, r.index), (0, 0, Cap::None, none));
            assert_eq!(r.offset, u64::from(none) << 40);
        }
    }

    #[test]
    fn irq_info_answers() {
        assert_eq!(irq_info(15, 0), Err(GvtError::Invalid));
        assert_eq!(irq_info(16, 5), Err(GvtError::Invalid));
        assert_eq!(irq_info(16, 0).unwrap().count, 1);
        assert_eq!(
            irq_info(16, 1).unwrap(),
            IrqInfo {
                flags: IRQ_INFO_EVENTFD | IRQ_INFO_NORESIZE,
                count: 1
            }
        );
        for i in 2..5 {
            assert_eq!(irq_info(16, i), Ok(IrqInfo { flags: 0, count: 0 }));
        }
    }

    #[test]
    fn set_irqs_combinations() {
        use IrqSet::*;
        let (t, efd) = (SET_ACTION_TRIGGER, SET_DATA_EVENTFD);
        // MSI on and off, as QEMU does it.
        assert_eq!(set_irqs(24, t | efd, IRQ_MSI, 0, 1), Ok(Eventfd(Irq::Msi)));
        assert_eq!(
            set_irqs(20, t | SET_DATA_NONE, IRQ_MSI, 0, 0),
            Ok(Remove(Irq::Msi))
        );
        assert_eq!(
            set_irqs(24, t | efd, IRQ_INTX, 0, 1),
            Ok(Eventfd(Irq::Intx))
        );
        assert_eq!(set_irqs(24, t | efd, IRQ_MSI, 0, 0), Ok(Nothing));
        // Firing from user space.
        for data in [SET_DATA_NONE, SET_DATA_BOOL] {
            assert_eq!(
                set_irqs(24, t | data, IRQ_MSI, 0, 1),
                Err(GvtError::Invalid)
            );
        }
        assert_eq!(
            set_irqs(20, t | SET_DATA_BOOL, IRQ_MSI, 0, 0),
            Ok(Remove(Irq::Msi))
        );
        // Masking: INTx only, and it does nothing.
        for a in [SET_ACTION_MASK, SET_ACTION_UNMASK] {
            assert_eq!(set_irqs(20, a | SET_DATA_NONE, IRQ_INTX, 0, 0), Ok(Nothing));
            assert_eq!(
                set_irqs(20, a | SET_DATA_NONE, IRQ_MSI, 0, 0),
                Err(GvtError::Invalid)
            );
        }
        let bad = [
            (19, t | SET_DATA_NONE, IRQ_MSI, 0, 0),       // short header
            (23, t | efd, IRQ_MSI, 0, 1),                 // no room for the fd
            (28, t | efd, IRQ_MSI, 0, 2),                 // two vectors
            (24, t | efd, IRQ_MSI, 1, 1),                 // past the one vector
            (24, t | efd, 2, 0, 1),                       // MSI-X
            (24, t | efd, 5, 0, 1),                       // past the indices
            (24, t | efd | SET_DATA_NONE, IRQ_MSI, 0, 1), // two data types
            (24, efd, IRQ_MSI, 0, 1),                     // no action
            (24, t | SET_ACTION_MASK | efd, IRQ_INTX, 0, 1), // two actions
            (24, t | efd | 1 << 6, IRQ_MSI, 0, 1),        // an unknown flag
            (24, t | SET_DATA_NONE, IRQ_MSI, u32::MAX, 1), // start + count wraps
            (u32::MAX, t | efd, IRQ_MSI, 0, u32::MAX),    // count * 4 wraps
        ];
        for (argsz, flags, index, start, count) in bad {
            assert_eq!(
                set_irqs(argsz, flags, index, start, count),
                Err(GvtError::Invalid),
                "{argsz} {flags:#x} {index} {start} {count}"
            );
        }
    }
}
