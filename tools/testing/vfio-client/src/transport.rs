//! The guest model's [`Transport`] over VFIO: config and BAR0 accesses become pread/pwrite on
//! the device fd at `region offset + offset` (as QEMU's vfio-pci does them), MSIs arrive on an
//! eventfd, and guest RAM is the buffer mapped for DMA.
//!
//! The device fd is reached through [`RegionIo`], so the unit tests can put the device model
//! itself behind it and run the whole probe without a kernel.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::time::Duration;

use guest_model::{Error, Result, Transport};
use gvt::model::error::GvtError;

use crate::sys::{EventFd, GuestRam};

/// Positional reads and writes on a VFIO device fd.
pub trait RegionIo {
    /// `pread(2)`: bytes read.
    fn read_at(&mut self, buf: &mut [u8], offset: u64) -> io::Result<usize>;
    /// `pwrite(2)`: bytes written.
    fn write_at(&mut self, data: &[u8], offset: u64) -> io::Result<usize>;
}

impl RegionIo for &File {
    fn read_at(&mut self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        FileExt::read_at(*self, buf, offset)
    }
    fn write_at(&mut self, data: &[u8], offset: u64) -> io::Result<usize> {
        FileExt::write_at(*self, data, offset)
    }
}

/// A VFIO region as `VFIO_DEVICE_GET_REGION_INFO` describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region {
    /// Region index.
    pub index: u32,
    /// Where the region starts in the device fd.
    pub offset: u64,
    /// Size in bytes.
    pub size: u64,
    /// `VFIO_REGION_INFO_FLAG_*`.
    pub flags: u32,
}

impl Region {
    /// The device-fd offset of `len` bytes at `off` in this region, if they lie inside it.
    pub fn file_offset(&self, off: u64, len: usize) -> Option<u64> {
        let end = off.checked_add(u64::try_from(len).ok()?)?;
        (end <= self.size).then(|| self.offset.checked_add(off))?
    }
}

/// The errno the kernel returned, as the device model's error: gvt.ko's own through its one
/// map (`GvtError::try_from_errno`), and what the kernel's layers around it add.
pub fn gvt_error(e: &io::Error) -> GvtError {
    let n = e.raw_os_error();
    match n {
        Some(libc::EOVERFLOW) => GvtError::Invalid,
        Some(libc::EAGAIN) => GvtError::Busy,
        Some(libc::ENXIO | libc::EIO) => GvtError::NoDevice,
        _ => n
            .and_then(GvtError::try_from_errno)
            .unwrap_or(GvtError::NotSupported),
    }
}

/// How long [`Transport::wait_msi`] waits for an interrupt the kernel may deliver late.
pub const MSI_WAIT: Duration = Duration::from_millis(100);

/// One guest on one vGPU through VFIO.
pub struct VfioTransport<'a, D: RegionIo> {
    dev: D,
    cfg: Region,
    bar0: Region,
    ram: &'a GuestRam,
    msi: Option<&'a EventFd>,
    msi_pending: u64,
    /// What went wrong in the last failed access, in words (the guest model's errors are
    /// codes only).
    pub last_error: Option<String>,
}

impl<'a, D: RegionIo> VfioTransport<'a, D> {
    /// A guest reaching config space and BAR0 through `dev`, with MSIs on `msi`.
    pub fn new(
        dev: D,
        cfg: Region,
        bar0: Region,
        ram: &'a GuestRam,
        msi: Option<&'a EventFd>,
    ) -> Self {
        VfioTransport {
            dev,
            cfg,
            bar0,
            ram,
            msi,
            msi_pending: 0,
            last_error: None,
        }
    }

    /// The device behind the transport.
    #[cfg(test)]
    pub fn device(&mut self) -> &mut D {
        &mut self.dev
    }

    fn fail(&mut self, e: GvtError, why: String) -> Error {
        self.last_error = Some(why);
        Error::Device(e)
    }

    fn access(
        &mut self,
        region: Region,
        off: u64,
        read: Option<&mut [u8]>,
        write: &[u8],
    ) -> Result {
        let (what, len) = match &read {
            Some(b) => ("read", b.len()),
            None => ("write", write.len()),
        };
        let Some(at) = region.file_offset(off, len) else {
            return Err(self.fail(
                GvtError::Invalid,
                format!(
                    "{what} of {len} bytes at {off:#x} outside region {} ({:#x} bytes)",
                    region.index, region.size
                ),
            ));
        };
        let r = match read {
            Some(b) => self.dev.read_at(b, at),
            None => self.dev.write_at(write, at),
        };
        match r {
            Ok(n) if n == len => Ok(()),
            Ok(n) => Err(self.fail(
                GvtError::Fault,
                format!(
                    "short {what} of region {} at {off:#x}: {n} of {len} bytes",
                    region.index
                ),
            )),
            Err(e) => Err(self.fail(
                gvt_error(&e),
                format!(
                    "{what} of region {} at {off:#x}, {len} bytes: {e}",
                    region.index
                ),
            )),
        }
    }

    fn cfg_size(&mut self, len: usize) -> Result {
        if matches!(len, 1 | 2 | 4) {
            Ok(())
        } else {
            Err(self.fail(GvtError::Invalid, format!("config access of {len} bytes")))
        }
    }

    fn mmio_size(&mut self, len: usize) -> Result {
        if matches!(len, 1 | 2 | 4 | 8) {
            Ok(())
        } else {
            Err(self.fail(GvtError::Invalid, format!("BAR0 access of {len} bytes")))
        }
    }

    fn cfg_u8(&mut self, off: u32) -> Option<u8> {
        let mut b = [0u8; 1];
        self.cfg_read(off, &mut b).ok()?;
        Some(b[0])
    }

    fn cfg_u32(&mut self, off: u32) -> Option<u32> {
        let mut b = [0u8; 4];
        self.cfg_read(off, &mut b).ok()?;
        Some(u32::from_le_bytes(b))
    }

    /// The MSI address and data the guest programmed, read back from its config space (the
    /// eventfd says only that an interrupt came).
    fn msi_message(&mut self) -> Option<(u64, u32)> {
        let mut cap = u32::from(self.cfg_u8(0x34)?);
        for _ in 0..48 {
            if cap < 0x40 {
                return None;
            }
            let head = self.cfg_u32(cap)?;
            if head & 0xff == 0x05 {
                let is64 = head & (1 << 23) != 0;
                let lo = u64::from(self.cfg_u32(cap.checked_add(4)?)?);
                let (hi, data_at) = if is64 {
                    (self.cfg_u32(cap.checked_add(8)?)?, 12)
                } else {
                    (0, 8)
                };
                let data = self.cfg_u32(cap.checked_add(data_at)?)? & 0xffff;
                return Some((lo | (u64::from(hi) << 32), data));
            }
            cap = (head >> 8) & 0xfc;
        }
        None
    }
}

/// The guest's clock: real time (its vblanks come from gvt.ko's display clock).
impl<D: RegionIo> guest_model::guest::Timer for VfioTransport<'_, D> {
    fn now_ns(&mut self) -> u64 {
        static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
        u64::try_from(
            START
                .get_or_init(std::time::Instant::now)
                .elapsed()
                .as_nanos(),
        )
        .unwrap_or(u64::MAX)
    }
    fn sleep_ns(&mut self, ns: u64) -> Result {
        std::thread::sleep(Duration::from_nanos(ns));
        Ok(())
    }
}

impl<D: RegionIo> Transport for VfioTransport<'_, D> {
    fn cfg_read(&mut self, offset: u32, buf: &mut [u8]) -> Result {
        self.cfg_size(buf.len())?;
        self.access(self.cfg, u64::from(offset), Some(buf), &[])
    }
    fn cfg_write(&mut self, offset: u32, data: &[u8]) -> Result {
        self.cfg_size(data.len())?;
        self.access(self.cfg, u64::from(offset), None, data)
    }
    fn mmio_read(&mut self, offset: u64, buf: &mut [u8]) -> Result {
        self.mmio_size(buf.len())?;
        self.access(self.bar0, offset, Some(buf), &[])
    }
    fn mmio_write(&mut self, offset: u64, data: &[u8]) -> Result {
        self.mmio_size(data.len())?;
        self.access(self.bar0, offset, None, data)
    }
    fn wait_msi(&mut self) -> Option<(u64, u32)> {
        if self.msi_pending == 0 {
            match self.msi?.wait(MSI_WAIT) {
                Ok(n) => self.msi_pending = n,
                Err(e) => {
                    self.last_error = Some(format!("MSI eventfd: {e}"));
                    return None;
                }
            }
        }
        self.msi_pending = self.msi_pending.checked_sub(1)?;
        self.msi_message()
    }
    fn ram_read(&mut self, gpa: u64, buf: &mut [u8]) -> Result {
        if self.ram.read(gpa, buf) {
            Ok(())
        } else {
            Err(self.fail(
                GvtError::Fault,
                format!(
                    "RAM read of {} bytes at {gpa:#x} beyond guest RAM",
                    buf.len()
                ),
            ))
        }
    }
    fn ram_write(&mut self, gpa: u64, data: &[u8]) -> Result {
        if self.ram.write(gpa, data) {
            Ok(())
        } else {
            Err(self.fail(
                GvtError::Fault,
                format!(
                    "RAM write of {} bytes at {gpa:#x} beyond guest RAM",
                    data.len()
                ),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::{bar0, cfg, FakeKvmgt};
    use guest_model::probe::{self, MSI_ADDR, MSI_DATA};
    use guest_model::TransportExt;
    use gvt::model::irq::Event;
    use gvt::model::pvinfo::{field, VGT_MAGIC};

    #[test]
    fn file_offsets_stay_inside_the_region() {
        let r = Region {
            index: 0,
            offset: 0x100_0000_0000,
            size: 16 << 20,
            flags: 3,
        };
        assert_eq!(r.file_offset(0, 4), Some(0x100_0000_0000));
        assert_eq!(
            r.file_offset((16 << 20) - 8, 8),
            Some(0x100_0000_0000 + (16 << 20) - 8)
        );
        assert_eq!(r.file_offset((16 << 20) - 4, 8), None);
        assert_eq!(
            r.file_offset(16 << 20, 0),
            Some(0x100_0000_0000 + (16 << 20))
        );
        assert_eq!(r.file_offset(u64::MAX, 1), None);
        let top = Region {
            index: 7,
            offset: u64::MAX - 3,
            size: 16,
            flags: 3,
        };
        assert_eq!(top.file_offset(8, 4), None);
    }

    #[test]
    fn errnos_map_to_device_errors() {
        let e = |n| gvt_error(&io::Error::from_raw_os_error(n));
        assert_eq!(e(libc::EINVAL), GvtError::Invalid);
        assert_eq!(e(libc::EFAULT), GvtError::Fault);
        assert_eq!(e(libc::ENOMEM), GvtError::NoMemory);
        assert_eq!(e(libc::ENODEV), GvtError::NoDevice);
        assert_eq!(e(libc::ENOTTY), GvtError::NotSupported);
        assert_eq!(gvt_error(&io::Error::other("x")), GvtError::NotSupported);
    }

    #[test]
    fn probe_runs_over_the_transport() {
        let ram = GuestRam::new(4 << 20).unwrap();
        let msi = EventFd::new().unwrap();
        FakeKvmgt::with(Some(&msi), |k| {
            let mut t = VfioTransport::new(k, cfg(), bar0(), &ram, Some(&msi));
            let r = probe::probe(&mut t).unwrap();
            assert_eq!(r.bar0_size, 16 << 20);
            assert!(r.vgt_id > 0);
            assert_eq!(t.read64(field::MAGIC).unwrap(), VGT_MAGIC);
            // No interrupt yet; then one from the device model arrives on the eventfd with
            // the message the guest programmed.
            assert_eq!(t.wait_msi(), None);
            t.device().raise(Event::RcsMiUserInterrupt);
            assert_eq!(
                t.wait_msi(),
                Some((u64::from(MSI_ADDR), u32::from(MSI_DATA)))
            );
            assert_eq!(t.wait_msi(), None);
        });
    }

    #[test]
    fn bad_sizes_and_offsets_fail_before_the_kernel() {
        let ram = GuestRam::new(4 << 20).unwrap();
        FakeKvmgt::with(None, |k| {
            let mut t = VfioTransport::new(k, cfg(), bar0(), &ram, None);
            let mut b = [0u8; 16];
            for n in [0usize, 3, 5, 8, 16] {
                assert_eq!(
                    t.cfg_read(0, &mut b[..n]),
                    Err(Error::Device(GvtError::Invalid)),
                    "{n}"
                );
            }
            for n in [0usize, 3, 5, 16] {
                assert_eq!(
                    t.mmio_read(0, &mut b[..n]),
                    Err(Error::Device(GvtError::Invalid)),
                    "{n}"
                );
            }
            assert_eq!(
                t.cfg_read(254, &mut b[..4]),
                Err(Error::Device(GvtError::Invalid))
            );
            assert_eq!(
                t.mmio_write((16 << 20) - 4, &[0; 8]),
                Err(Error::Device(GvtError::Invalid))
            );
            assert!(t
                .last_error
                .as_deref()
                .is_some_and(|e| e.contains("outside region 0")));
            assert_eq!(t.device().accesses, 0, "nothing reached the device");
            assert_eq!(t.cfg_read32(0).unwrap() & 0xffff, 0x8086);
            assert_eq!(t.device().accesses, 1);
        });
        // The kernel's refusals come back as the device model's errors.
        FakeKvmgt::with(None, |k| {
            let nowhere = Region {
                index: 5,
                offset: 5 << 40,
                size: 16 << 20,
                flags: 3,
            };
            let mut t = VfioTransport::new(k, cfg(), nowhere, &ram, None);
            assert_eq!(
                t.mmio_read(0, &mut [0u8; 4]),
                Err(Error::Device(GvtError::Invalid))
            );
            assert!(t
                .last_error
                .as_deref()
                .is_some_and(|e| e.contains("Invalid argument")));
        });
    }

    #[test]
    fn guest_ram_is_the_dma_buffer() {
        let ram = GuestRam::new(1 << 20).unwrap();
        FakeKvmgt::with(None, |k| {
            let mut t = VfioTransport::new(k, cfg(), bar0(), &ram, None);
            t.ram_write(0x1000, b"ring").unwrap();
            let mut b = [0u8; 4];
            assert!(ram.read(0x1000, &mut b));
            assert_eq!(&b, b"ring");
            assert_eq!(
                t.ram_read(1 << 20, &mut b),
                Err(Error::Device(GvtError::Fault))
            );
        });
    }
}
