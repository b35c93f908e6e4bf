//! For unit tests: the device model behind a pretend VHM that distributes ioreqs as vhm_sim and
//! acrngt do together: `REQ_PCICFG` for 00:02.0 to config emulation, `REQ_MMIO` inside BAR0
//! (once the guest enabled memory decode) to MMIO emulation, everything else unclaimed (ENODEV).

use std::io;

use guest_model::direct::Direct;
use guest_model::hv::MemHypervisor;
use guest_model::storage::vec_storage;
use guest_model::{sim_host, Transport};
use gvt::model::gvt::Gvt;
use gvt::model::irq::Event;
use gvt::model::vgpu_type::find_type;

use crate::uapi::{self, Request};
use crate::vhm::VhmIo;

/// A vGPU behind a pretend VHM.
pub struct FakeVhm<'a> {
    t: Direct<'a>,
    /// Config requests that reached the device.
    pub pcicfg: usize,
    /// MMIO requests that reached the device.
    pub mmio: usize,
}

fn errno(n: i32) -> io::Error {
    io::Error::from_raw_os_error(n)
}

impl FakeVhm<'_> {
    /// Runs `f` with a fresh, active V5_8 vGPU on a Broxton sim host.
    pub fn with<R>(f: impl for<'a> FnOnce(FakeVhm<'a>) -> R) -> R {
        let host = sim_host();
        let mut gvt = Gvt::new(&host).unwrap();
        let cfg = find_type("GVTg_V5_8").unwrap().config;
        let n = Gvt::ggtt_entries_for(&cfg).unwrap();
        let mut v = gvt
            .create_vgpu(&host, &cfg, vec_storage(n))
            .map_err(|(e, _)| e)
            .unwrap();
        v.activate();
        let mut hv = MemHypervisor::new(1, 16 << 20);
        f(FakeVhm {
            t: Direct::new(&mut v, &host, &mut hv),
            pcicfg: 0,
            mmio: 0,
        })
    }

    /// The device model raises an interrupt event.
    pub fn raise(&mut self, e: Event) {
        self.t.vgpu.raise_event(self.t.hv, e).unwrap();
    }

    fn bar0_claimed(&mut self, addr: u64, size: u64) -> Option<u64> {
        let mut c = [0u8; 4];
        self.t.cfg_read(0x04, &mut c).ok()?;
        if c[0] & 2 == 0 {
            return None;
        }
        self.t.cfg_read(0x10, &mut c).ok()?;
        let lo = u64::from(u32::from_le_bytes(c) & !0xf);
        self.t.cfg_read(0x14, &mut c).ok()?;
        let base = lo | (u64::from(u32::from_le_bytes(c)) << 32);
        let off = addr.checked_sub(base)?;
        (off + size <= 16 << 20).then_some(off)
    }
}

impl VhmIo for FakeVhm<'_> {
    fn request(&mut self, r: &mut Request) -> io::Result<()> {
        let n = r.size as usize;
        let mut b = r.value.to_le_bytes();
        let buf = b.get_mut(..n).ok_or_else(|| errno(libc::EINVAL))?;
        let res = match r.kind {
            uapi::REQ_PCICFG if (r.bus, r.dev, r.func) == (0, 2, 0) => {
                self.pcicfg += 1;
                if r.direction == uapi::READ {
                    self.t.cfg_read(r.reg as u32, buf)
                } else {
                    self.t.cfg_write(r.reg as u32, buf)
                }
            }
            uapi::REQ_MMIO => {
                let off = self
                    .bar0_claimed(r.address, u64::from(r.size))
                    .ok_or_else(|| errno(libc::ENODEV))?;
                self.mmio += 1;
                if r.direction == uapi::READ {
                    self.t.mmio_read(off, buf)
                } else {
                    self.t.mmio_write(off, buf)
                }
            }
            _ => return Err(errno(libc::ENODEV)),
        };
        // acrngt completes failed emulation too (failsafe); the vCPU then reads what it reads.
        drop(res);
        if r.direction == uapi::READ {
            let mut v = [0u8; 8];
            v[..n].copy_from_slice(&b[..n]);
            r.value = u64::from_le_bytes(v);
        }
        Ok(())
    }

    fn mem_read(&mut self, gpa: u64, buf: &mut [u8]) -> io::Result<()> {
        self.t.ram_read(gpa, buf).map_err(|_| errno(libc::EFAULT))
    }

    fn mem_write(&mut self, gpa: u64, data: &[u8]) -> io::Result<u64> {
        self.t
            .ram_write(gpa, data)
            .map(|()| 0)
            .map_err(|_| errno(libc::EFAULT))
    }

    fn wait_msi(&mut self, _timeout_ms: u32) -> io::Result<Option<(u64, u64)>> {
        Ok(self.t.wait_msi().map(|(a, d)| (a, u64::from(d))))
    }
}
