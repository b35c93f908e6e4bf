//! The guest model's [`Transport`] over the simulated VHM: config cycles become `REQ_PCICFG`
//! ioreqs for 00:02.0, BAR0 accesses `REQ_MMIO` ioreqs at BAR0's guest physical address (read
//! back from config space after the guest places it), MSIs come from the VM's MSI log, and
//! guest RAM is read and written through the VHM (stores to write-protected pages become
//! `REQ_WP` ioreqs there).

use std::io;

use guest_model::{Error, Result, Transport};
use gvt::model::error::GvtError;

use crate::uapi::{self, Request};
use crate::vhm::VhmIo;

/// How long [`Transport::wait_msi`] waits for an interrupt the kernel may deliver late, ms.
pub const MSI_WAIT_MS: u32 = 100;

/// The errno the kernel returned, as the device model's error: gvt.ko's own through its one
/// map (`GvtError::try_from_errno`), and what the kernel's layers around it add.
pub fn gvt_error(e: &io::Error) -> GvtError {
    let n = e.raw_os_error();
    match n {
        Some(libc::EOVERFLOW) => GvtError::Invalid,
        Some(libc::EAGAIN) => GvtError::Busy,
        Some(libc::ENXIO | libc::EIO | libc::ETIMEDOUT) => GvtError::NoDevice,
        _ => n
            .and_then(GvtError::try_from_errno)
            .unwrap_or(GvtError::NotSupported),
    }
}

/// One guest on one vGPU through the VHM.
pub struct AcrnTransport<V: VhmIo> {
    vhm: V,
    bar0: Option<u64>,
    /// What went wrong in the last failed access, in words.
    pub last_error: Option<String>,
    /// ioreqs raised.
    pub ioreqs: u64,
    /// Guest RAM stores that became write-protection (REQ_WP) requests.
    pub wp_requests: u64,
}

impl<V: VhmIo> AcrnTransport<V> {
    /// A guest reaching its vGPU through `vhm`.
    pub fn new(vhm: V) -> Self {
        AcrnTransport {
            vhm,
            bar0: None,
            last_error: None,
            ioreqs: 0,
            wp_requests: 0,
        }
    }

    /// The VHM behind the transport.
    pub fn vhm(&mut self) -> &mut V {
        &mut self.vhm
    }

    fn fail(&mut self, e: GvtError, why: String) -> Error {
        self.last_error = Some(why);
        Error::Device(e)
    }

    fn raise(&mut self, r: &mut Request, what: &str) -> Result {
        self.ioreqs = self.ioreqs.saturating_add(1);
        self.vhm.request(r).map_err(|e| {
            let why = format!("{what}: {e}");
            self.fail(gvt_error(&e), why)
        })
    }

    fn cfg(&mut self, offset: u32, len: usize, direction: u32, value: u64) -> Result<u64> {
        let size: u32 = match len {
            1 => 1,
            2 => 2,
            4 => 4,
            _ => return Err(self.fail(GvtError::Invalid, format!("config access of {len} bytes"))),
        };
        if offset >= 4096 || offset.saturating_add(size) > 4096 {
            return Err(self.fail(GvtError::Invalid, format!("config access at {offset:#x}")));
        }
        if direction == uapi::WRITE && (0x10..0x18).contains(&offset) {
            self.bar0 = None;
        }
        let mut r = Request::pcicfg(0, direction, offset, size, value);
        self.raise(
            &mut r,
            &format!(
                "PCICFG {} of {size} bytes at {offset:#x}",
                dir_name(direction)
            ),
        )?;
        Ok(r.value)
    }

    /// BAR0's guest physical address as the guest programmed it.
    pub fn bar0(&mut self) -> Result<u64> {
        if let Some(b) = self.bar0 {
            return Ok(b);
        }
        let lo = self.cfg(0x10, 4, uapi::READ, 0)?;
        let hi = self.cfg(0x14, 4, uapi::READ, 0)?;
        let base = (hi << 32) | (lo & !0xf);
        self.bar0 = Some(base);
        Ok(base)
    }

    fn mmio(&mut self, offset: u64, len: usize, direction: u32, value: u64) -> Result<u64> {
        let size: u32 = match len {
            1 => 1,
            2 => 2,
            4 => 4,
            8 => 8,
            _ => return Err(self.fail(GvtError::Invalid, format!("BAR0 access of {len} bytes"))),
        };
        let base = self.bar0()?;
        let Some(address) = base.checked_add(offset) else {
            return Err(self.fail(
                GvtError::Invalid,
                format!("BAR0 {base:#x} + {offset:#x} overflows"),
            ));
        };
        let mut r = Request::mmio(0, direction, address, size, value);
        self.raise(
            &mut r,
            &format!(
                "MMIO {} of {size} bytes at {address:#x}",
                dir_name(direction)
            ),
        )?;
        Ok(r.value)
    }
}

fn dir_name(d: u32) -> &'static str {
    if d == uapi::WRITE {
        "write"
    } else {
        "read"
    }
}

fn to_value(data: &[u8]) -> u64 {
    data.iter()
        .rev()
        .fold(0u64, |v, &b| (v << 8) | u64::from(b))
}

fn from_value(v: u64, buf: &mut [u8]) {
    for (b, x) in buf.iter_mut().zip(v.to_le_bytes()) {
        *b = x;
    }
}

impl<V: VhmIo> Transport for AcrnTransport<V> {
    fn cfg_read(&mut self, offset: u32, buf: &mut [u8]) -> Result {
        let v = self.cfg(offset, buf.len(), uapi::READ, 0)?;
        from_value(v, buf);
        Ok(())
    }
    fn cfg_write(&mut self, offset: u32, data: &[u8]) -> Result {
        self.cfg(offset, data.len(), uapi::WRITE, to_value(data))
            .map(drop)
    }
    fn mmio_read(&mut self, offset: u64, buf: &mut [u8]) -> Result {
        let v = self.mmio(offset, buf.len(), uapi::READ, 0)?;
        from_value(v, buf);
        Ok(())
    }
    fn mmio_write(&mut self, offset: u64, data: &[u8]) -> Result {
        self.mmio(offset, data.len(), uapi::WRITE, to_value(data))
            .map(drop)
    }
    fn wait_msi(&mut self) -> Option<(u64, u32)> {
        match self.vhm.wait_msi(MSI_WAIT_MS) {
            Ok(m) => m.map(|(a, d)| (a, (d & 0xffff_ffff) as u32)),
            Err(e) => {
                self.last_error = Some(format!("MSI log: {e}"));
                None
            }
        }
    }
    fn ram_read(&mut self, gpa: u64, buf: &mut [u8]) -> Result {
        self.vhm.mem_read(gpa, buf).map_err(|e| {
            let why = format!("RAM read of {} bytes at {gpa:#x}: {e}", buf.len());
            self.fail(gvt_error(&e), why)
        })
    }
    fn ram_write(&mut self, gpa: u64, data: &[u8]) -> Result {
        match self.vhm.mem_write(gpa, data) {
            Ok(n) => {
                self.wp_requests = self.wp_requests.saturating_add(n);
                Ok(())
            }
            Err(e) => {
                let why = format!("RAM write of {} bytes at {gpa:#x}: {e}", data.len());
                Err(self.fail(gvt_error(&e), why))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::FakeVhm;
    use guest_model::probe::{self, BAR0_GPA, MSI_ADDR, MSI_DATA};
    use guest_model::TransportExt;
    use gvt::model::irq::Event;
    use gvt::model::pvinfo::{field, VGT_MAGIC};

    #[test]
    fn values_are_little_endian() {
        assert_eq!(to_value(&[0x86, 0x80]), 0x8086);
        assert_eq!(to_value(&[1, 2, 3, 4, 5, 6, 7, 8]), 0x0807_0605_0403_0201);
        let mut b = [0u8; 2];
        from_value(0x1234_5678, &mut b);
        assert_eq!(b, [0x78, 0x56]);
    }

    #[test]
    fn probe_runs_over_ioreqs() {
        FakeVhm::with(|f| {
            let mut t = AcrnTransport::new(f);
            let r = probe::probe(&mut t).unwrap();
            assert_eq!(r.bar0_size, 16 << 20);
            assert!(r.vgt_id > 0);
            assert_eq!(t.bar0().unwrap(), BAR0_GPA);
            assert_eq!(t.read64(field::MAGIC).unwrap(), VGT_MAGIC);
            assert!(t.ioreqs > 100);
            assert!(t.vhm().pcicfg > 0 && t.vhm().mmio > 0);
            assert_eq!(t.wait_msi(), None);
            t.vhm().raise(Event::RcsMiUserInterrupt);
            assert_eq!(
                t.wait_msi(),
                Some((u64::from(MSI_ADDR), u32::from(MSI_DATA)))
            );
            assert_eq!(t.wait_msi(), None);
        });
    }

    #[test]
    fn bad_accesses_fail_before_the_kernel() {
        FakeVhm::with(|f| {
            let mut t = AcrnTransport::new(f);
            let mut b = [0u8; 16];
            for n in [0usize, 3, 8, 16] {
                assert_eq!(
                    t.cfg_read(0, &mut b[..n]),
                    Err(Error::Device(GvtError::Invalid)),
                    "{n}"
                );
            }
            assert_eq!(
                t.cfg_read(4094, &mut b[..4]),
                Err(Error::Device(GvtError::Invalid))
            );
            for n in [0usize, 3, 16] {
                assert_eq!(
                    t.mmio_read(0, &mut b[..n]),
                    Err(Error::Device(GvtError::Invalid)),
                    "{n}"
                );
            }
            assert_eq!(t.vhm().pcicfg + t.vhm().mmio, 0, "nothing reached the VHM");
            // BAR0 not placed yet: it reads as 0 and nothing claims MMIO there.
            assert_eq!(
                t.mmio_read(0, &mut b[..4]),
                Err(Error::Device(GvtError::NoDevice))
            );
            assert!(
                t.last_error
                    .as_deref()
                    .is_some_and(|e| e.contains("MMIO read of 4 bytes at 0x")),
                "{:?}",
                t.last_error
            );
            assert_eq!(t.cfg_read32(0).unwrap() & 0xffff, 0x8086);
        });
    }

    #[test]
    fn bar0_is_reread_after_the_guest_moves_it() {
        FakeVhm::with(|f| {
            let mut t = AcrnTransport::new(f);
            probe::probe(&mut t).unwrap();
            assert_eq!(t.bar0().unwrap(), BAR0_GPA);
            t.cfg_write32(0x10, 0xd000_0004).unwrap();
            assert_eq!(t.bar0().unwrap(), 0xd000_0000);
            assert_eq!(t.read64(field::MAGIC).unwrap(), VGT_MAGIC);
        });
    }

    #[test]
    fn guest_ram_goes_through_the_vhm() {
        FakeVhm::with(|f| {
            let mut t = AcrnTransport::new(f);
            t.ram_write(0x1000, b"ring").unwrap();
            let mut b = [0u8; 4];
            t.ram_read(0x1000, &mut b).unwrap();
            assert_eq!(&b, b"ring");
            assert_eq!(
                t.ram_read(16 << 20, &mut b),
                Err(Error::Device(GvtError::Fault))
            );
        });
    }

    #[test]
    fn errnos_map_to_device_errors() {
        let e = |n| gvt_error(&io::Error::from_raw_os_error(n));
        assert_eq!(e(libc::ENODEV), GvtError::NoDevice);
        assert_eq!(e(libc::ETIMEDOUT), GvtError::NoDevice);
        assert_eq!(e(libc::EINVAL), GvtError::Invalid);
        assert_eq!(e(libc::EFAULT), GvtError::Fault);
        assert_eq!(e(libc::ENOTTY), GvtError::NotSupported);
    }
}
