//! The direct transport: guest accesses become calls into the core, as the glue would make
//! them from a trap handler.

use gvt::model::host::HostGpu;
use gvt::model::vgpu::Vgpu;
use gvt::mpt::MptOps;

use crate::guest::Timer;
use crate::hv::MemHypervisor;
use crate::storage::VecStorage;
use crate::{Error, Result, Transport};

/// One guest wired straight to its vGPU.
pub struct Direct<'a> {
    /// The vGPU.
    pub vgpu: &'a mut Vgpu<VecStorage>,
    /// The physical GPU.
    pub host: &'a dyn HostGpu,
    /// The VM's hypervisor.
    pub hv: &'a mut MemHypervisor,
    msi_seen: usize,
    now_ns: u64,
}

impl<'a> Direct<'a> {
    /// Wires a guest to a vGPU.
    pub fn new(
        vgpu: &'a mut Vgpu<VecStorage>,
        host: &'a dyn HostGpu,
        hv: &'a mut MemHypervisor,
    ) -> Direct<'a> {
        let msi_seen = hv.msis.len();
        Direct {
            vgpu,
            host,
            hv,
            msi_seen,
            now_ns: 0,
        }
    }

    /// Starts the simulated clock at `ns` (a transport rebuilt mid-test keeps its time).
    pub fn at(mut self, ns: u64) -> Self {
        self.now_ns = ns;
        self
    }
}

/// Simulated time: sleeping runs the vGPU's vblank clock as the glue's timer would, calling
/// `display_tick` at every deadline up to the end of the sleep.
impl Timer for Direct<'_> {
    fn now_ns(&mut self) -> u64 {
        self.now_ns
    }

    fn sleep_ns(&mut self, ns: u64) -> Result {
        let end = self.now_ns.saturating_add(ns);
        // A deadline never repeats, so this ends; the bound only guards against a core bug.
        for _ in 0..1_000_000 {
            match self.vgpu.display_deadline() {
                Some(d) if d <= end => {
                    self.now_ns = self.now_ns.max(d);
                    self.vgpu.display_tick(self.hv, self.now_ns)?;
                }
                _ => {
                    self.now_ns = end;
                    return Ok(());
                }
            }
        }
        Err(Error::Probe("vblank clock does not advance"))
    }
}

impl Transport for Direct<'_> {
    fn cfg_read(&mut self, offset: u32, buf: &mut [u8]) -> Result {
        Ok(self.vgpu.cfg_read(offset, buf)?)
    }
    fn cfg_write(&mut self, offset: u32, data: &[u8]) -> Result {
        Ok(self.vgpu.cfg_write(self.hv, offset, data)?)
    }
    fn mmio_read(&mut self, offset: u64, buf: &mut [u8]) -> Result {
        Ok(self.vgpu.mmio_read(offset, buf)?)
    }
    fn mmio_write(&mut self, offset: u64, data: &[u8]) -> Result {
        Ok(self.vgpu.mmio_write(self.host, self.hv, offset, data)?)
    }
    fn wait_msi(&mut self) -> Option<(u64, u32)> {
        let m = self.hv.msis.get(self.msi_seen).copied();
        if m.is_some() {
            self.msi_seen += 1;
        }
        m
    }
    fn ram_read(&mut self, gpa: u64, buf: &mut [u8]) -> Result {
        Ok(self.hv.read_gpa(gpa, buf)?)
    }
    fn ram_write(&mut self, gpa: u64, data: &[u8]) -> Result {
        Ok(self.hv.write_gpa(gpa, data)?)
    }
}
