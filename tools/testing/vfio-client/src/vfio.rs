//! Opening an mdev vGPU the way QEMU does with the legacy container/group interface, and the
//! device ioctls the client needs. Every step's failure says which step and why.

use std::ffi::CString;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsFd;
use std::path::Path;

use crate::sys::{self, GuestRam};
use crate::transport::Region;
use crate::uapi::{self, Cap, DeviceInfo, DmaMap, GroupStatus, IrqInfo, IrqSetEventfd, RegionInfo};

/// Where the mdev bus lists devices.
pub const MDEV_DEVICES: &str = "/sys/bus/mdev/devices";

/// Whether `s` is a UUID in the canonical 8-4-4-4-12 hex form mdev uses for names.
pub fn valid_uuid(s: &str) -> bool {
    s.len() == 36
        && s.char_indices().all(|(i, c)| {
            if matches!(i, 8 | 13 | 18 | 23) {
                c == '-'
            } else {
                c.is_ascii_hexdigit()
            }
        })
}

/// The IOMMU group number in an `iommu_group` link target (`.../kernel/iommu_groups/N`).
pub fn group_from_link(target: &Path) -> Option<u32> {
    target.file_name()?.to_str()?.parse().ok()
}

/// A vGPU opened through VFIO, with the guest RAM mapped for its DMA at IOVA 0.
/// Field order is drop order: the device closes before its group and container, and the RAM
/// is unmapped last.
#[derive(Debug)]
pub struct Vfio {
    /// The device fd: regions are read and written with pread/pwrite on it.
    pub device: File,
    group: File,
    container: File,
    /// Guest RAM, GPA == IOVA from 0.
    pub ram: GuestRam,
    /// `VFIO_DEVICE_GET_INFO`.
    pub info: DeviceInfo,
    /// IOMMU group number.
    pub group_id: u32,
}

fn rw(path: &str) -> io::Result<File> {
    OpenOptions::new().read(true).write(true).open(path)
}

fn step<T>(what: &str, r: io::Result<T>) -> Result<T, String> {
    r.map_err(|e| format!("{what}: {e}"))
}

/// Maps guest RAM for the device at IOVA 0.
fn map_ram(container: &File, ram: &GuestRam) -> Result<(), String> {
    let mut map = DmaMap {
        argsz: uapi::size32::<DmaMap>(),
        flags: uapi::DMA_MAP_FLAG_READ | uapi::DMA_MAP_FLAG_WRITE,
        vaddr: ram.vaddr(),
        iova: 0,
        size: u64::try_from(ram.size()).unwrap_or(u64::MAX),
    };
    step(
        "VFIO_IOMMU_MAP_DMA",
        sys::ioctl_arg(container.as_fd(), uapi::IOMMU_MAP_DMA, &mut map),
    )
    .map(drop)
}

impl Vfio {
    /// Opens mdev `uuid`: container, group, type1 IOMMU, `ram_size` bytes of guest RAM mapped
    /// at IOVA 0, then the device fd and its info.
    pub fn open(uuid: &str, ram_size: usize) -> Result<Vfio, String> {
        if !valid_uuid(uuid) {
            return Err(format!("'{uuid}' is not a UUID"));
        }
        let link = format!("{MDEV_DEVICES}/{uuid}/iommu_group");
        let target = step(&format!("read {link}"), std::fs::read_link(&link))?;
        let group_id = group_from_link(&target)
            .ok_or_else(|| format!("{link} -> {}: no group number", target.display()))?;

        let container = step("open /dev/vfio/vfio", rw("/dev/vfio/vfio"))?;
        let api = step(
            "VFIO_GET_API_VERSION",
            sys::ioctl_val(container.as_fd(), uapi::GET_API_VERSION, 0),
        )?;
        if api != uapi::API_VERSION {
            return Err(format!(
                "VFIO API version {api}, want {}",
                uapi::API_VERSION
            ));
        }
        let has = |ext: u32| {
            sys::ioctl_val(
                container.as_fd(),
                uapi::CHECK_EXTENSION,
                libc::c_ulong::from(ext),
            )
            .is_ok_and(|r| r > 0)
        };
        let iommu = if has(uapi::TYPE1V2_IOMMU) {
            uapi::TYPE1V2_IOMMU
        } else if has(uapi::TYPE1_IOMMU) {
            uapi::TYPE1_IOMMU
        } else {
            return Err("VFIO_CHECK_EXTENSION: no type1 IOMMU".into());
        };

        let gpath = format!("/dev/vfio/{group_id}");
        let group = step(&format!("open {gpath}"), rw(&gpath))?;
        let mut st = GroupStatus {
            argsz: uapi::size32::<GroupStatus>(),
            flags: 0,
        };
        step(
            "VFIO_GROUP_GET_STATUS",
            sys::ioctl_arg(group.as_fd(), uapi::GROUP_GET_STATUS, &mut st),
        )?;
        if st.flags & uapi::GROUP_FLAGS_VIABLE == 0 {
            return Err(format!(
                "group {group_id} is not viable (flags {:#x})",
                st.flags
            ));
        }
        let cfd = std::os::fd::AsRawFd::as_raw_fd(&container);
        step(
            "VFIO_GROUP_SET_CONTAINER",
            sys::ioctl_int_in(group.as_fd(), uapi::GROUP_SET_CONTAINER, &cfd),
        )?;
        step(
            "VFIO_SET_IOMMU",
            sys::ioctl_val(
                container.as_fd(),
                uapi::SET_IOMMU,
                libc::c_ulong::from(iommu),
            ),
        )?;

        let ram = step("mmap guest RAM", GuestRam::new(ram_size))?;
        map_ram(&container, &ram)?;

        let name = CString::new(uuid).map_err(|_| "UUID with NUL".to_string())?;
        let device = step(
            "VFIO_GROUP_GET_DEVICE_FD",
            sys::ioctl_get_fd(group.as_fd(), uapi::GROUP_GET_DEVICE_FD, &name),
        )?;
        let mut info = DeviceInfo {
            argsz: uapi::size32::<DeviceInfo>(),
            ..DeviceInfo::default()
        };
        step(
            "VFIO_DEVICE_GET_INFO",
            sys::ioctl_arg(device.as_fd(), uapi::DEVICE_GET_INFO, &mut info),
        )?;
        Ok(Vfio {
            device,
            group,
            container,
            ram,
            info,
            group_id,
        })
    }

    /// Unmaps guest RAM from the device (as a VMM does when it removes a memory region): kvmgt
    /// must drop every page it pinned there.
    pub fn unmap_ram(&self) -> Result<(), String> {
        let size = u64::try_from(self.ram.size()).unwrap_or(u64::MAX);
        let mut unmap = uapi::DmaUnmap {
            argsz: uapi::size32::<uapi::DmaUnmap>(),
            flags: 0,
            iova: 0,
            size,
        };
        step(
            "VFIO_IOMMU_UNMAP_DMA",
            sys::ioctl_arg(self.container.as_fd(), uapi::IOMMU_UNMAP_DMA, &mut unmap),
        )
        .map(drop)
    }

    /// Maps guest RAM again after [`Vfio::unmap_ram`], at the same place.
    pub fn remap_ram(&self) -> Result<(), String> {
        map_ram(&self.container, &self.ram)
    }

    /// The group fd (for the bad-input checks).
    pub fn group(&self) -> &File {
        &self.group
    }

    /// The container fd (for the bad-input checks).
    pub fn container(&self) -> &File {
        &self.container
    }

    /// `VFIO_DEVICE_GET_REGION_INFO` for `index`, with its capability chain.
    pub fn region_info(&self, index: u32) -> Result<(Region, Vec<Cap>), String> {
        let what = format!("VFIO_DEVICE_GET_REGION_INFO({index})");
        let mut info = RegionInfo::request(index);
        step(
            &what,
            sys::ioctl_arg(self.device.as_fd(), uapi::DEVICE_GET_REGION_INFO, &mut info),
        )?;
        let mut caps = Vec::new();
        if info.flags & uapi::REGION_INFO_FLAG_CAPS != 0
            && info.argsz > uapi::size32::<RegionInfo>()
        {
            // The kernel said how much room the chain needs: ask again with that much.
            if info.argsz > 64 * 1024 {
                return Err(format!("{what}: capability chain of {} bytes", info.argsz));
            }
            let len =
                usize::try_from(info.argsz).map_err(|_| format!("{what}: argsz overflows"))?;
            let mut buf = RegionInfo {
                argsz: info.argsz,
                ..RegionInfo::request(index)
            }
            .to_bytes();
            buf.resize(len, 0);
            step(
                &what,
                sys::ioctl_buf(self.device.as_fd(), uapi::DEVICE_GET_REGION_INFO, &mut buf),
            )?;
            info = RegionInfo::from_bytes(&buf).ok_or_else(|| format!("{what}: short reply"))?;
            caps = uapi::parse_caps(&buf, info.cap_offset).map_err(|e| format!("{what}: {e}"))?;
        }
        Ok((
            Region {
                index,
                offset: info.offset,
                size: info.size,
                flags: info.flags,
            },
            caps,
        ))
    }

    /// The device-specific region (index >= `VFIO_PCI_NUM_REGIONS`) of a type and subtype.
    pub fn find_region(&self, ty: u32, subtype: u32) -> Result<Option<Region>, String> {
        for index in uapi::PCI_NUM_REGIONS..self.info.num_regions.min(64) {
            let (r, caps) = self.region_info(index)?;
            if caps
                .iter()
                .any(|c| uapi::cap_type(c) == Some((ty, subtype)))
            {
                return Ok(Some(r));
            }
        }
        Ok(None)
    }

    /// `VFIO_DEVICE_GET_IRQ_INFO` for `index`.
    pub fn irq_info(&self, index: u32) -> io::Result<IrqInfo> {
        let mut info = IrqInfo {
            argsz: uapi::size32::<IrqInfo>(),
            index,
            ..IrqInfo::default()
        };
        sys::ioctl_arg(self.device.as_fd(), uapi::DEVICE_GET_IRQ_INFO, &mut info)?;
        Ok(info)
    }

    /// `VFIO_DEVICE_SET_IRQS` with `arg` as given (the bad-input checks forge it).
    pub fn set_irqs(&self, arg: &mut IrqSetEventfd) -> io::Result<()> {
        sys::ioctl_arg(self.device.as_fd(), uapi::DEVICE_SET_IRQS, arg).map(drop)
    }

    /// Triggers `eventfd` on interrupt 0 of `index`.
    pub fn set_irq_eventfd(&self, index: u32, eventfd: i32) -> io::Result<()> {
        self.set_irqs(&mut eventfd_trigger(index, eventfd))
    }

    /// Tears down the triggers of `index` (`DATA_NONE | ACTION_TRIGGER`, count 0).
    pub fn disable_irq(&self, index: u32) -> io::Result<()> {
        let mut a = IrqSetEventfd {
            argsz: uapi::IRQ_SET_HDR_SIZE,
            flags: uapi::IRQ_SET_DATA_NONE | uapi::IRQ_SET_ACTION_TRIGGER,
            index,
            ..IrqSetEventfd::default()
        };
        self.set_irqs(&mut a)
    }
}

/// The `VFIO_DEVICE_SET_IRQS` argument binding one eventfd to interrupt 0 of `index`.
pub fn eventfd_trigger(index: u32, eventfd: i32) -> IrqSetEventfd {
    IrqSetEventfd {
        argsz: uapi::size32::<IrqSetEventfd>(),
        flags: uapi::IRQ_SET_DATA_EVENTFD | uapi::IRQ_SET_ACTION_TRIGGER,
        index,
        start: 0,
        count: 1,
        fd: eventfd,
    }
}

/// The GM sizes and fences an mdev type's `description` promises, in bytes and count:
/// `low_gm_size: 64MB`, `high_gm_size: 384MB`, `fence: 4` (one per line, as upstream).
pub fn parse_type_description(s: &str) -> Option<(u64, u64, u64)> {
    let mut words = s.split_whitespace();
    let (mut low, mut high, mut fence) = (None, None, None);
    while let Some(key) = words.next() {
        let slot = match key {
            "low_gm_size:" => &mut low,
            "high_gm_size:" => &mut high,
            "fence:" => &mut fence,
            _ => continue,
        };
        *slot = words.next();
    }
    let mb = |v: &str| {
        v.strip_suffix("MB")?
            .parse::<u64>()
            .ok()?
            .checked_mul(1 << 20)
    };
    Some((mb(low?)?, mb(high?)?, fence?.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids() {
        assert!(valid_uuid("0b5a9b9c-2c2f-4d0e-9f6a-3f4a5b6c7d8e"));
        assert!(valid_uuid("0B5A9B9C-2C2F-4D0E-9F6A-3F4A5B6C7D8E"));
        assert!(!valid_uuid("0b5a9b9c-2c2f-4d0e-9f6a-3f4a5b6c7d8"));
        assert!(!valid_uuid("0b5a9b9c+2c2f-4d0e-9f6a-3f4a5b6c7d8e"));
        assert!(!valid_uuid("0b5a9b9c-2c2f-4d0e-9f6a-3f4a5b6c7d8g"));
        assert!(!valid_uuid("../../../../etc/passwd-xxxxxxxxxxxxxxxx"));
        assert!(!valid_uuid(""));
        // Multi-byte characters must not confuse the positions.
        assert!(!valid_uuid("0b5a9b9c-2c2f-4d0e-9f6a-3f4a5b6c7d\u{e9}"));
    }

    #[test]
    fn group_links() {
        assert_eq!(
            group_from_link(Path::new("../../../../kernel/iommu_groups/12")),
            Some(12)
        );
        assert_eq!(
            group_from_link(Path::new("/sys/kernel/iommu_groups/x")),
            None
        );
        assert_eq!(group_from_link(Path::new("/")), None);
    }

    #[test]
    fn type_descriptions() {
        let d =
            "low_gm_size: 64MB\nhigh_gm_size: 384MB\nfence: 4\nresolution: 1024x768\nweight: 2\n";
        assert_eq!(parse_type_description(d), Some((64 << 20, 384 << 20, 4)));
        assert_eq!(parse_type_description("low_gm_size: 64MB fence: 4"), None);
        assert_eq!(
            parse_type_description("low_gm_size: 64 high_gm_size: 384MB fence: 4"),
            None
        );
        assert_eq!(parse_type_description("low_gm_size:"), None);
    }

    #[test]
    fn eventfd_trigger_is_one_irq() {
        let a = eventfd_trigger(uapi::PCI_MSI_IRQ_INDEX, 7);
        assert_eq!(
            (a.argsz, a.flags, a.index, a.start, a.count, a.fd),
            (24, 0x24, 1, 0, 1, 7)
        );
    }
}
