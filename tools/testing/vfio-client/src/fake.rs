//! For unit tests: the device model behind a pretend device fd that behaves as kvmgt's
//! (kvmgt/vfio.c, region.rs): region index in the offset bits from 40 up
//! (`VFIO_PCI_OFFSET_SHIFT`), transfers of any length split into naturally aligned accesses,
//! MSIs signalled on an eventfd as the kernel's `eventfd_signal` would.

use std::io;

use guest_model::direct::Direct;
use guest_model::hv::MemHypervisor;
use guest_model::storage::vec_storage;
use guest_model::{sim_host, Transport};
use gvt::model::error::GvtError;
use gvt::model::gvt::Gvt;
use gvt::model::irq::Event;
use gvt::model::vgpu_type::find_type;

use crate::sys::EventFd;
use crate::transport::{Region, RegionIo};
use crate::uapi;

const SHIFT: u32 = 40;

/// The config region as kvmgt reports it.
pub fn cfg() -> Region {
    Region {
        index: uapi::PCI_CONFIG_REGION_INDEX,
        offset: 7 << SHIFT,
        size: 256,
        flags: 3,
    }
}

/// The BAR0 region as kvmgt reports it.
pub fn bar0() -> Region {
    Region {
        index: uapi::PCI_BAR0_REGION_INDEX,
        offset: 0,
        size: 16 << 20,
        flags: 3,
    }
}

/// A vGPU behind a pretend VFIO device fd.
pub struct FakeKvmgt<'a> {
    t: Direct<'a>,
    signal: Option<&'a EventFd>,
    /// Region accesses that reached the device.
    pub accesses: usize,
}

fn errno(e: GvtError) -> io::Error {
    io::Error::from_raw_os_error(e.errno())
}

impl FakeKvmgt<'_> {
    /// Runs `f` with a fresh, active V5_8 vGPU on a Broxton sim host, signalling MSIs on
    /// `signal`.
    pub fn with<R>(signal: Option<&EventFd>, f: impl for<'a> FnOnce(FakeKvmgt<'a>) -> R) -> R {
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
        f(FakeKvmgt {
            t: Direct::new(&mut v, &host, &mut hv),
            signal,
            accesses: 0,
        })
    }

    /// The device model raises an interrupt event.
    pub fn raise(&mut self, e: Event) {
        self.t.vgpu.raise_event(self.t.hv, e).unwrap();
        self.deliver();
    }

    fn deliver(&mut self) {
        while self.t.wait_msi().is_some() {
            if let Some(s) = self.signal {
                s.signal().unwrap();
            }
        }
    }

    /// The region and the offset in it, and the largest access the region takes, for a
    /// transfer at `off`.
    fn decode(&mut self, off: u64) -> io::Result<(u32, u64, u64, usize)> {
        self.accesses += 1;
        let index = u32::try_from(off >> SHIFT).map_err(|_| errno(GvtError::Invalid))?;
        let (size, max) = match index {
            uapi::PCI_CONFIG_REGION_INDEX => (cfg().size, 4),
            uapi::PCI_BAR0_REGION_INDEX => (bar0().size, 8),
            _ => return Err(errno(GvtError::Invalid)),
        };
        Ok((index, off & ((1 << SHIFT) - 1), size, max))
    }

    /// kvmgt's transfer loop: the largest naturally aligned 8/4/2/1-byte access that fits, one
    /// after the other; a short count once something was done, else the error.
    fn transfer(
        &mut self,
        offset: u64,
        len: usize,
        mut op: impl FnMut(&mut Direct<'_>, u32, u64, std::ops::Range<usize>) -> guest_model::Result,
    ) -> io::Result<usize> {
        let (index, mut off, size, max) = self.decode(offset)?;
        let mut done = 0;
        while done < len {
            let room = size.saturating_sub(off).min((len - done) as u64);
            let Some(n) = [8usize, 4, 2, 1]
                .into_iter()
                .find(|&n| n <= max && n as u64 <= room && off % n as u64 == 0)
            else {
                break;
            };
            if op(&mut self.t, index, off, done..done + n).is_err() {
                break;
            }
            done += n;
            off += n as u64;
        }
        match done {
            0 => Err(errno(GvtError::Invalid)),
            n => Ok(n),
        }
    }
}

impl RegionIo for FakeKvmgt<'_> {
    fn read_at(&mut self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        self.transfer(offset, buf.len(), |t, index, off, r| {
            if index == uapi::PCI_CONFIG_REGION_INDEX {
                t.cfg_read(off as u32, &mut buf[r])
            } else {
                t.mmio_read(off, &mut buf[r])
            }
        })
    }

    fn write_at(&mut self, data: &[u8], offset: u64) -> io::Result<usize> {
        let n = self.transfer(offset, data.len(), |t, index, off, r| {
            if index == uapi::PCI_CONFIG_REGION_INDEX {
                t.cfg_write(off as u32, &data[r])
            } else {
                t.mmio_write(off, &data[r])
            }
        });
        self.deliver();
        n
    }
}
