//! The subset of `include/uapi/linux/vfio.h` (Linux 6.12) this client uses, written by hand:
//! ioctl numbers, flags and `#[repr(C)]` argument structs. Sizes are asserted at compile time
//! against the C layout; the tests check the ioctl numbers against values derived from the
//! header's `_IO(VFIO_TYPE, VFIO_BASE + n)`.

/// `VFIO_API_VERSION`.
pub const API_VERSION: i32 = 0;
/// `VFIO_TYPE1_IOMMU`.
pub const TYPE1_IOMMU: u32 = 1;
/// `VFIO_TYPE1v2_IOMMU`.
pub const TYPE1V2_IOMMU: u32 = 3;

/// `VFIO_TYPE`, the ioctl type character `';'`.
const TYPE: u32 = b';' as u32;
/// `VFIO_BASE`.
const BASE: u32 = 100;

/// `_IO(VFIO_TYPE, VFIO_BASE + n)`: direction and size bits are zero for every VFIO ioctl.
const fn io(n: u32) -> libc::Ioctl {
    // `_IOC(_IOC_NONE, type, nr, 0)` = `type << 8 | nr`.
    ((TYPE << 8) | BASE.wrapping_add(n)) as libc::Ioctl
}

/// `VFIO_GET_API_VERSION`.
pub const GET_API_VERSION: libc::Ioctl = io(0);
/// `VFIO_CHECK_EXTENSION`.
pub const CHECK_EXTENSION: libc::Ioctl = io(1);
/// `VFIO_SET_IOMMU`.
pub const SET_IOMMU: libc::Ioctl = io(2);
/// `VFIO_GROUP_GET_STATUS`.
pub const GROUP_GET_STATUS: libc::Ioctl = io(3);
/// `VFIO_GROUP_SET_CONTAINER`.
pub const GROUP_SET_CONTAINER: libc::Ioctl = io(4);
/// `VFIO_GROUP_GET_DEVICE_FD`.
pub const GROUP_GET_DEVICE_FD: libc::Ioctl = io(6);
/// `VFIO_DEVICE_GET_INFO`.
pub const DEVICE_GET_INFO: libc::Ioctl = io(7);
/// `VFIO_DEVICE_GET_REGION_INFO`.
pub const DEVICE_GET_REGION_INFO: libc::Ioctl = io(8);
/// `VFIO_DEVICE_GET_IRQ_INFO`.
pub const DEVICE_GET_IRQ_INFO: libc::Ioctl = io(9);
/// `VFIO_DEVICE_SET_IRQS`.
pub const DEVICE_SET_IRQS: libc::Ioctl = io(10);
/// `VFIO_IOMMU_MAP_DMA`.
pub const IOMMU_MAP_DMA: libc::Ioctl = io(13);
/// `VFIO_IOMMU_UNMAP_DMA` (on the container; the same number as the device's next one).
pub const IOMMU_UNMAP_DMA: libc::Ioctl = io(14);
/// `VFIO_DEVICE_QUERY_GFX_PLANE`.
pub const DEVICE_QUERY_GFX_PLANE: libc::Ioctl = io(14);
/// `VFIO_DEVICE_GET_GFX_DMABUF`.
pub const DEVICE_GET_GFX_DMABUF: libc::Ioctl = io(15);
/// `VFIO_GFX_PLANE_TYPE_PROBE`.
pub const GFX_PLANE_TYPE_PROBE: u32 = 1 << 0;
/// `VFIO_GFX_PLANE_TYPE_DMABUF`.
pub const GFX_PLANE_TYPE_DMABUF: u32 = 1 << 1;
/// `VFIO_GFX_PLANE_TYPE_REGION`.
pub const GFX_PLANE_TYPE_REGION: u32 = 1 << 2;
/// `DRM_PLANE_TYPE_PRIMARY`.
pub const DRM_PLANE_TYPE_PRIMARY: u32 = 1;
/// `DRM_PLANE_TYPE_CURSOR`.
pub const DRM_PLANE_TYPE_CURSOR: u32 = 2;
/// `DRM_FORMAT_XRGB8888` (`'XR24'`).
pub const DRM_FORMAT_XRGB8888: u32 = u32::from_le_bytes(*b"XR24");
/// An ioctl number no VFIO fd implements (`VFIO_BASE + 60`), for the bad-input checks.
pub const UNKNOWN_IOCTL: libc::Ioctl = io(60);

/// `VFIO_GROUP_FLAGS_VIABLE`.
pub const GROUP_FLAGS_VIABLE: u32 = 1 << 0;
/// `VFIO_DEVICE_FLAGS_PCI`.
pub const DEVICE_FLAGS_PCI: u32 = 1 << 1;
/// `VFIO_REGION_INFO_FLAG_READ`.
pub const REGION_INFO_FLAG_READ: u32 = 1 << 0;
/// `VFIO_REGION_INFO_FLAG_WRITE`.
pub const REGION_INFO_FLAG_WRITE: u32 = 1 << 1;
/// `VFIO_REGION_INFO_FLAG_MMAP`.
pub const REGION_INFO_FLAG_MMAP: u32 = 1 << 2;
/// `VFIO_REGION_INFO_FLAG_CAPS`.
pub const REGION_INFO_FLAG_CAPS: u32 = 1 << 3;
/// `VFIO_REGION_INFO_CAP_SPARSE_MMAP`.
pub const REGION_INFO_CAP_SPARSE_MMAP: u16 = 1;
/// `VFIO_REGION_INFO_CAP_TYPE`.
pub const REGION_INFO_CAP_TYPE: u16 = 2;
/// `VFIO_REGION_TYPE_GFX`.
pub const REGION_TYPE_GFX: u32 = 1;
/// `VFIO_REGION_SUBTYPE_GFX_EDID`.
pub const REGION_SUBTYPE_GFX_EDID: u32 = 1;
/// Offsets of the registers of `struct vfio_region_gfx_edid`.
pub mod edid_reg {
    /// `edid_offset`: where the blob starts in the region.
    pub const OFFSET: u64 = 0;
    /// `edid_max_size`.
    pub const MAX_SIZE: u64 = 4;
    /// `edid_size`.
    pub const SIZE: u64 = 8;
    /// `max_xres`.
    pub const MAX_XRES: u64 = 12;
    /// `max_yres`.
    pub const MAX_YRES: u64 = 16;
    /// `link_state`.
    pub const LINK_STATE: u64 = 20;
}
/// `VFIO_DEVICE_GFX_LINK_STATE_UP`.
pub const GFX_LINK_STATE_UP: u32 = 1;
/// `VFIO_DEVICE_GFX_LINK_STATE_DOWN`.
pub const GFX_LINK_STATE_DOWN: u32 = 2;
/// `VFIO_REGION_TYPE_PCI_VENDOR_TYPE | 0x8086`: Intel's device-specific regions.
pub const REGION_TYPE_INTEL: u32 = (1 << 31) | 0x8086;
/// `VFIO_REGION_SUBTYPE_INTEL_IGD_OPREGION`.
pub const REGION_SUBTYPE_INTEL_IGD_OPREGION: u32 = 1;
/// `VFIO_IRQ_INFO_EVENTFD`.
pub const IRQ_INFO_EVENTFD: u32 = 1 << 0;
/// `VFIO_IRQ_SET_DATA_NONE`.
pub const IRQ_SET_DATA_NONE: u32 = 1 << 0;
/// `VFIO_IRQ_SET_DATA_EVENTFD`.
pub const IRQ_SET_DATA_EVENTFD: u32 = 1 << 2;
/// `VFIO_IRQ_SET_ACTION_TRIGGER`.
pub const IRQ_SET_ACTION_TRIGGER: u32 = 1 << 5;
/// `VFIO_DMA_MAP_FLAG_READ`.
pub const DMA_MAP_FLAG_READ: u32 = 1 << 0;
/// `VFIO_DMA_MAP_FLAG_WRITE`.
pub const DMA_MAP_FLAG_WRITE: u32 = 1 << 1;

/// `VFIO_PCI_BAR0_REGION_INDEX`.
pub const PCI_BAR0_REGION_INDEX: u32 = 0;
/// `VFIO_PCI_BAR2_REGION_INDEX`.
pub const PCI_BAR2_REGION_INDEX: u32 = 2;
/// `VFIO_PCI_CONFIG_REGION_INDEX`.
pub const PCI_CONFIG_REGION_INDEX: u32 = 7;
/// `VFIO_PCI_NUM_REGIONS`: indexes from here on are device specific.
pub const PCI_NUM_REGIONS: u32 = 9;
/// `VFIO_PCI_INTX_IRQ_INDEX`.
pub const PCI_INTX_IRQ_INDEX: u32 = 0;
/// `VFIO_PCI_MSI_IRQ_INDEX`.
pub const PCI_MSI_IRQ_INDEX: u32 = 1;

/// Argument structs that start with `argsz`, the size the kernel may read and write.
pub trait Argsz: Sized {
    /// The `argsz` field as set by the caller.
    fn argsz(&self) -> u32;
}

macro_rules! argsz {
    ($($t:ty),*) => {$(impl Argsz for $t { fn argsz(&self) -> u32 { self.argsz } })*};
}

/// The size of `T` as an `argsz` value.
pub fn size32<T>() -> u32 {
    // Every struct here is a few dozen bytes (asserted below).
    u32::try_from(core::mem::size_of::<T>()).unwrap_or(u32::MAX)
}

/// `struct vfio_group_status`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct GroupStatus {
    /// Size of this struct.
    pub argsz: u32,
    /// `VFIO_GROUP_FLAGS_*`.
    pub flags: u32,
}

/// `struct vfio_device_info`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct DeviceInfo {
    /// Size of this struct.
    pub argsz: u32,
    /// `VFIO_DEVICE_FLAGS_*`.
    pub flags: u32,
    /// Max region index + 1.
    pub num_regions: u32,
    /// Max IRQ index + 1.
    pub num_irqs: u32,
    /// Offset of the first capability.
    pub cap_offset: u32,
    /// Padding.
    pub pad: u32,
}

/// `struct vfio_region_info`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct RegionInfo {
    /// Size of this struct plus room for capabilities.
    pub argsz: u32,
    /// `VFIO_REGION_INFO_FLAG_*`.
    pub flags: u32,
    /// Region index.
    pub index: u32,
    /// Offset of the first capability in the argument buffer, 0 if none.
    pub cap_offset: u32,
    /// Region size in bytes.
    pub size: u64,
    /// Region offset from the start of the device fd.
    pub offset: u64,
}

/// `struct vfio_irq_info`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct IrqInfo {
    /// Size of this struct.
    pub argsz: u32,
    /// `VFIO_IRQ_INFO_*`.
    pub flags: u32,
    /// IRQ index.
    pub index: u32,
    /// Number of IRQs within this index.
    pub count: u32,
}

/// `struct vfio_irq_set` followed by one `__s32` eventfd (the only data this client sends).
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct IrqSetEventfd {
    /// Size of the header plus data.
    pub argsz: u32,
    /// `VFIO_IRQ_SET_DATA_*` | `VFIO_IRQ_SET_ACTION_*`.
    pub flags: u32,
    /// IRQ index.
    pub index: u32,
    /// First IRQ of the index.
    pub start: u32,
    /// Number of IRQs (and of data items).
    pub count: u32,
    /// The eventfd (`data[0]`).
    pub fd: i32,
}

/// `struct vfio_iommu_type1_dma_map`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct DmaMap {
    /// Size of this struct.
    pub argsz: u32,
    /// `VFIO_DMA_MAP_FLAG_*`.
    pub flags: u32,
    /// Process virtual address.
    pub vaddr: u64,
    /// IO virtual address.
    pub iova: u64,
    /// Size of the mapping in bytes.
    pub size: u64,
}

/// `struct vfio_iommu_type1_dma_unmap` without the dirty-bitmap data.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct DmaUnmap {
    /// Size of this struct.
    pub argsz: u32,
    /// `VFIO_DMA_UNMAP_FLAG_*`.
    pub flags: u32,
    /// IO virtual address.
    pub iova: u64,
    /// Size of the range in bytes.
    pub size: u64,
}

/// `struct vfio_device_gfx_plane_info`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct GfxPlaneInfo {
    /// Size of this struct.
    pub argsz: u32,
    /// `VFIO_GFX_PLANE_TYPE_*`.
    pub flags: u32,
    /// In: `DRM_PLANE_TYPE_*`.
    pub drm_plane_type: u32,
    /// DRM fourcc.
    pub drm_format: u32,
    /// DRM format modifier.
    pub drm_format_mod: u64,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Bytes per row.
    pub stride: u32,
    /// Bytes, page aligned.
    pub size: u32,
    /// Cursor position.
    pub x_pos: u32,
    /// Cursor position.
    pub y_pos: u32,
    /// Cursor hotspot.
    pub x_hot: u32,
    /// Cursor hotspot.
    pub y_hot: u32,
    /// The dma-buf id (the union's `region_index` for region planes).
    pub dmabuf_id: u32,
    /// Zero.
    pub reserved: u32,
}

argsz!(
    GroupStatus,
    DeviceInfo,
    RegionInfo,
    IrqInfo,
    IrqSetEventfd,
    DmaMap,
    DmaUnmap,
    GfxPlaneInfo
);

/// Size of `struct vfio_irq_set` without data (`offsetofend(count)`).
pub const IRQ_SET_HDR_SIZE: u32 = 20;
/// Size of `struct vfio_info_cap_header`.
pub const CAP_HEADER_SIZE: usize = 8;

// The C layouts: sizes from vfio.h (two u32 per 8 bytes, __aligned_u64 fields).
const _: () = assert!(core::mem::size_of::<GroupStatus>() == 8);
const _: () = assert!(core::mem::size_of::<DeviceInfo>() == 24);
const _: () = assert!(core::mem::size_of::<RegionInfo>() == 32);
const _: () = assert!(core::mem::offset_of!(RegionInfo, size) == 16);
const _: () = assert!(core::mem::offset_of!(RegionInfo, offset) == 24);
const _: () = assert!(core::mem::size_of::<IrqInfo>() == 16);
const _: () = assert!(core::mem::size_of::<IrqSetEventfd>() == 24);
const _: () = assert!(core::mem::offset_of!(IrqSetEventfd, fd) == IRQ_SET_HDR_SIZE as usize);
const _: () = assert!(core::mem::size_of::<DmaMap>() == 32);
const _: () = assert!(core::mem::size_of::<GfxPlaneInfo>() == 64);
const _: () = assert!(core::mem::offset_of!(GfxPlaneInfo, drm_format_mod) == 16);
const _: () = assert!(core::mem::offset_of!(GfxPlaneInfo, dmabuf_id) == 56);

impl RegionInfo {
    /// A request for region `index`, with no room for capabilities.
    pub fn request(index: u32) -> RegionInfo {
        RegionInfo {
            argsz: size32::<RegionInfo>(),
            index,
            ..RegionInfo::default()
        }
    }

    /// Decodes the fixed part from an argument buffer the kernel filled (native endianness,
    /// the C layout above). `None` if the buffer is too short.
    pub fn from_bytes(b: &[u8]) -> Option<RegionInfo> {
        let u32_at = |o: usize| {
            Some(u32::from_ne_bytes(
                b.get(o..o.checked_add(4)?)?.try_into().ok()?,
            ))
        };
        let u64_at = |o: usize| {
            Some(u64::from_ne_bytes(
                b.get(o..o.checked_add(8)?)?.try_into().ok()?,
            ))
        };
        Some(RegionInfo {
            argsz: u32_at(0)?,
            flags: u32_at(4)?,
            index: u32_at(8)?,
            cap_offset: u32_at(12)?,
            size: u64_at(16)?,
            offset: u64_at(24)?,
        })
    }

    /// Encodes the fixed part, the start of an argument buffer.
    pub fn to_bytes(self) -> Vec<u8> {
        let mut b = Vec::with_capacity(32);
        for w in [self.argsz, self.flags, self.index, self.cap_offset] {
            b.extend_from_slice(&w.to_ne_bytes());
        }
        b.extend_from_slice(&self.size.to_ne_bytes());
        b.extend_from_slice(&self.offset.to_ne_bytes());
        b
    }
}

/// One capability of an info chain: id, version and its bytes after the header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cap {
    /// `VFIO_*_INFO_CAP_*` id.
    pub id: u16,
    /// Version of the capability.
    pub version: u16,
    /// The bytes that follow the header, up to the next capability or the end of the buffer.
    pub body: Vec<u8>,
}

/// Walks the capability chain of an info buffer from `first` (an offset from the start of
/// the buffer, 0 = none). Offsets come from the kernel: each is bounds-checked, the chain must
/// move forward (no loops), and a broken link is an error.
pub fn parse_caps(buf: &[u8], first: u32) -> Result<Vec<Cap>, String> {
    let mut caps = Vec::new();
    let mut off = first;
    let mut prev = 0u32;
    while off != 0 {
        if off <= prev && prev != 0 {
            return Err(format!(
                "capability chain goes backwards ({prev:#x} -> {off:#x})"
            ));
        }
        let at = usize::try_from(off).map_err(|_| "capability offset overflows".to_string())?;
        let hdr = at
            .checked_add(CAP_HEADER_SIZE)
            .and_then(|end| buf.get(at..end))
            .ok_or_else(|| {
                format!(
                    "capability at {off:#x} beyond the {}-byte buffer",
                    buf.len()
                )
            })?;
        let (id, version, next) = match hdr {
            [a, b, c, d, e, f, g, h] => (
                u16::from_ne_bytes([*a, *b]),
                u16::from_ne_bytes([*c, *d]),
                u32::from_ne_bytes([*e, *f, *g, *h]),
            ),
            _ => return Err("short capability header".into()),
        };
        let body_start = at.saturating_add(CAP_HEADER_SIZE);
        let body_end = if next == 0 {
            buf.len()
        } else {
            usize::try_from(next).unwrap_or(usize::MAX).min(buf.len())
        };
        let body = buf
            .get(body_start..body_end.max(body_start))
            .unwrap_or_default()
            .to_vec();
        caps.push(Cap { id, version, body });
        prev = off;
        off = next;
    }
    Ok(caps)
}

/// The (type, subtype) of a `VFIO_REGION_INFO_CAP_TYPE` capability body.
pub fn cap_type(cap: &Cap) -> Option<(u32, u32)> {
    if cap.id != REGION_INFO_CAP_TYPE {
        return None;
    }
    match cap.body.get(..8)? {
        [a, b, c, d, e, f, g, h] => Some((
            u32::from_ne_bytes([*a, *b, *c, *d]),
            u32::from_ne_bytes([*e, *f, *g, *h]),
        )),
        _ => None,
    }
}

/// The (offset, size) areas of a `VFIO_REGION_INFO_CAP_SPARSE_MMAP` capability body
/// (`nr_areas`, reserved, then the areas); `None` if it is another capability or truncated.
pub fn cap_sparse_areas(cap: &Cap) -> Option<Vec<(u64, u64)>> {
    if cap.id != REGION_INFO_CAP_SPARSE_MMAP {
        return None;
    }
    let u64_at = |o: usize| {
        Some(u64::from_ne_bytes(
            cap.body.get(o..o.checked_add(8)?)?.try_into().ok()?,
        ))
    };
    let n = u32::from_ne_bytes(cap.body.get(..4)?.try_into().ok()?);
    (0..usize::try_from(n).ok()?.min(64))
        .map(|i| {
            let at = i.checked_mul(16)?.checked_add(8)?;
            Some((u64_at(at)?, u64_at(at.checked_add(8)?)?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `_IOC(dir, type, nr, size)` from include/uapi/asm-generic/ioctl.h, for cross-checking.
    fn ioc(dir: libc::Ioctl, ty: libc::Ioctl, nr: libc::Ioctl, size: libc::Ioctl) -> libc::Ioctl {
        (dir << 30) | (size << 16) | (ty << 8) | nr
    }

    #[test]
    fn ioctl_numbers_match_vfio_h() {
        // VFIO_TYPE is ';' (0x3b) and VFIO_BASE is 100 (0x64); all are _IO (no dir, no size).
        let want = |n: libc::Ioctl| ioc(0, 0x3b, 100 + n, 0);
        assert_eq!(GET_API_VERSION, 0x3b64);
        assert_eq!(GET_API_VERSION, want(0));
        assert_eq!(CHECK_EXTENSION, want(1));
        assert_eq!(SET_IOMMU, want(2));
        assert_eq!(GROUP_GET_STATUS, want(3));
        assert_eq!(GROUP_SET_CONTAINER, want(4));
        assert_eq!(GROUP_GET_DEVICE_FD, 0x3b6a);
        assert_eq!(DEVICE_GET_INFO, want(7));
        assert_eq!(DEVICE_GET_REGION_INFO, 0x3b6c);
        assert_eq!(DEVICE_GET_IRQ_INFO, want(9));
        assert_eq!(DEVICE_QUERY_GFX_PLANE, want(14));
        assert_eq!(DEVICE_GET_GFX_DMABUF, want(15));
        assert_eq!(DEVICE_SET_IRQS, 0x3b6e);
        assert_eq!(IOMMU_MAP_DMA, 0x3b71);
        assert_eq!(UNKNOWN_IOCTL, want(60));
    }

    #[test]
    fn flags_match_vfio_h() {
        assert_eq!(REGION_TYPE_INTEL, 0x8000_8086);
        assert_eq!(IRQ_SET_DATA_EVENTFD | IRQ_SET_ACTION_TRIGGER, 0x24);
        assert_eq!(REGION_INFO_FLAG_CAPS, 8);
        assert_eq!((TYPE1_IOMMU, TYPE1V2_IOMMU), (1, 3));
    }

    #[test]
    fn region_info_bytes_round_trip() {
        let r = RegionInfo {
            argsz: 80,
            flags: 0xb,
            index: 9,
            cap_offset: 32,
            size: 8192,
            offset: 9 << 40,
        };
        let b = r.to_bytes();
        let back = RegionInfo::from_bytes(&b).unwrap();
        assert_eq!(
            (
                back.argsz,
                back.flags,
                back.index,
                back.cap_offset,
                back.size,
                back.offset
            ),
            (80, 0xb, 9, 32, 8192, 9 << 40)
        );
        assert!(RegionInfo::from_bytes(&b[..31]).is_none());
    }

    fn cap_bytes(id: u16, next: u32, body: &[u8]) -> Vec<u8> {
        let mut v = id.to_ne_bytes().to_vec();
        v.extend_from_slice(&1u16.to_ne_bytes());
        v.extend_from_slice(&next.to_ne_bytes());
        v.extend_from_slice(body);
        v
    }

    #[test]
    fn cap_chain_is_walked_and_bounded() {
        // Region info, then a sparse-mmap cap (id 1) at 32, then a type cap at 56.
        let mut buf = RegionInfo::default().to_bytes();
        buf.extend(cap_bytes(1, 56, &[0; 16]));
        let mut body = REGION_TYPE_INTEL.to_ne_bytes().to_vec();
        body.extend_from_slice(&REGION_SUBTYPE_INTEL_IGD_OPREGION.to_ne_bytes());
        buf.extend(cap_bytes(REGION_INFO_CAP_TYPE, 0, &body));
        let caps = parse_caps(&buf, 32).unwrap();
        assert_eq!(caps.len(), 2);
        assert_eq!(caps[0].body.len(), 16);
        assert_eq!(cap_type(&caps[0]), None);
        assert_eq!(cap_type(&caps[1]), Some((0x8000_8086, 1)));
        assert_eq!(parse_caps(&buf, 0).unwrap(), vec![]);
        // A loop, a link past the end and a truncated type cap are caught, not followed.
        let mut looping = buf.clone();
        looping[32 + 4..32 + 8].copy_from_slice(&32u32.to_ne_bytes());
        assert!(parse_caps(&looping, 32).is_err());
        assert!(parse_caps(&buf, 1000).is_err());
        assert!(parse_caps(&buf, u32::MAX).is_err());
        let mut short = vec![0u8; 8];
        short.extend(cap_bytes(REGION_INFO_CAP_TYPE, 0, &[1, 2, 3]));
        let caps = parse_caps(&short, 8).unwrap();
        assert_eq!((caps.len(), cap_type(&caps[0])), (1, None));
    }

    #[test]
    fn sparse_mmap_areas() {
        let mut body = 2u32.to_ne_bytes().to_vec();
        body.extend_from_slice(&0u32.to_ne_bytes());
        for v in [0x800_0000u64, 0x400_0000, 0x1000_0000, 0x1000] {
            body.extend_from_slice(&v.to_ne_bytes());
        }
        let cap = Cap {
            id: REGION_INFO_CAP_SPARSE_MMAP,
            version: 1,
            body: body.clone(),
        };
        assert_eq!(
            cap_sparse_areas(&cap),
            Some(vec![(0x800_0000, 0x400_0000), (0x1000_0000, 0x1000)])
        );
        assert_eq!(
            cap_sparse_areas(&Cap {
                body: body[..30].to_vec(),
                ..cap.clone()
            }),
            None,
            "truncated"
        );
        assert_eq!(
            cap_sparse_areas(&Cap {
                id: REGION_INFO_CAP_TYPE,
                ..cap
            }),
            None
        );
    }
}
