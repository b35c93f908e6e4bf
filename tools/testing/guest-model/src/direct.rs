//! The direct transport: guest accesses become calls into the core, as the glue would make
//! them from a trap handler.

use gvt::model::host::HostGpu;
use gvt::model::vgpu::Vgpu;
use gvt::mpt::MptOps;

use crate::hv::MemHypervisor;
use crate::storage::VecStorage;
use crate::{Result, Transport};

/// One guest wired straight to its vGPU.
pub struct Direct<'a> {
    /// The vGPU.
    pub vgpu: &'a mut Vgpu<VecStorage>,
    /// The physical GPU.
    pub host: &'a dyn HostGpu,
    /// The VM's hypervisor.
    pub hv: &'a mut MemHypervisor,
    msi_seen: usize,
}

impl<'a> Direct<'a> {
    /// Wires a guest to a vGPU.
    pub fn new(vgpu: &'a mut Vgpu<VecStorage>, host: &'a dyn HostGpu, hv: &'a mut MemHypervisor) -> Direct<'a> {
        let msi_seen = hv.msis.len();
        Direct { vgpu, host, hv, msi_seen }
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
