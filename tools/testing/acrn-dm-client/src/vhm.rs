//! `/dev/vhm_sim`: the simulated VHM's control device, as ACRN-DM and the vCPUs use it.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsFd;

use crate::sys;
use crate::uapi::{self, Mem, Msi, Request, VmCreate, VmId, VmInfo, Wp};

/// The control device.
pub const DEVICE: &str = "/dev/vhm_sim";

/// What a guest's vCPUs and its device model need from the VHM; the transport works through
/// it, so unit tests can put the device model behind it.
pub trait VhmIo {
    /// Raises `r` and waits for its completion; `r.value` holds a read's result.
    fn request(&mut self, r: &mut Request) -> io::Result<()>;
    /// Copies guest RAM at `gpa` into `buf`.
    fn mem_read(&mut self, gpa: u64, buf: &mut [u8]) -> io::Result<()>;
    /// Stores `data` at `gpa` as a vCPU would; returns the REQ_WP requests it became.
    fn mem_write(&mut self, gpa: u64, data: &[u8]) -> io::Result<u64>;
    /// The oldest MSI (address, data) within `timeout_ms`, or `None`.
    fn wait_msi(&mut self, timeout_ms: u32) -> io::Result<Option<(u64, u64)>>;
}

/// An open `/dev/vhm_sim`. VMs created through it are destroyed when it is closed.
#[derive(Debug)]
pub struct Vhm {
    /// The device file.
    pub file: File,
}

impl Vhm {
    /// Opens the device.
    pub fn open() -> io::Result<Vhm> {
        Ok(Vhm {
            file: OpenOptions::new().read(true).write(true).open(DEVICE)?,
        })
    }

    /// The uAPI version the module speaks.
    pub fn version(&self) -> io::Result<u32> {
        sys::get_version(self.file.as_fd())
    }

    /// Creates VM `vmid` with `ram` bytes of RAM and `vcpus` vCPUs.
    pub fn create_vm(&self, vmid: u32, ram: u64, vcpus: u32) -> io::Result<()> {
        let mut a = VmCreate {
            version: uapi::VERSION,
            vmid,
            vcpus,
            flags: 0,
            ram_size: ram,
        };
        self.ioctl(uapi::CREATE_VM, &mut a)
    }

    /// Destroys VM `vmid`.
    pub fn destroy_vm(&self, vmid: u32) -> io::Result<()> {
        let mut a = VmId {
            version: uapi::VERSION,
            vmid,
        };
        self.ioctl(uapi::DESTROY_VM, &mut a)
    }

    /// What the in-kernel side has set up on VM `vmid`.
    pub fn info(&self, vmid: u32) -> io::Result<VmInfo> {
        let mut a = VmInfo {
            version: uapi::VERSION,
            vmid,
            ..VmInfo::default()
        };
        self.ioctl(uapi::VM_INFO, &mut a)?;
        Ok(a)
    }

    /// Injects an MSI as the hypervisor would (tests of the log).
    pub fn inject_msi(&self, vmid: u32, addr: u64, data: u64) -> io::Result<()> {
        let mut a = Msi {
            version: uapi::VERSION,
            vmid,
            addr,
            data,
            ..Msi::default()
        };
        self.ioctl(uapi::INJECT_MSI, &mut a)
    }

    /// Write-protects (or unprotects) the page at `gpa` (tests of REQ_WP routing).
    pub fn write_protect(&self, vmid: u32, gpa: u64, set: bool) -> io::Result<()> {
        let mut a = Wp {
            version: uapi::VERSION,
            vmid,
            gpa,
            set: u32::from(set),
            reserved: 0,
        };
        self.ioctl(uapi::WRITE_PROTECT, &mut a)
    }

    /// Any argument-struct ioctl.
    pub fn ioctl<T: uapi::Arg>(&self, req: libc::Ioctl, a: &mut T) -> io::Result<()> {
        sys::ioctl_arg(self.file.as_fd(), req, a).map(drop)
    }

    /// The vCPUs of VM `vmid`, through this device.
    pub fn vm(&self, vmid: u32) -> VhmVm<'_> {
        VhmVm {
            vhm: self,
            vmid,
            vcpu: 0,
            timeout_ms: 0,
        }
    }
}

/// One VM's vCPU (and its RAM) on an open device.
#[derive(Debug, Clone, Copy)]
pub struct VhmVm<'a> {
    /// The device.
    pub vhm: &'a Vhm,
    /// The VM.
    pub vmid: u32,
    /// The vCPU whose slot requests use.
    pub vcpu: u32,
    /// Per-request timeout, ms (0: the module's default).
    pub timeout_ms: u32,
}

impl VhmVm<'_> {
    fn mem(&self, gpa: u64) -> Mem {
        Mem {
            version: uapi::VERSION,
            vmid: self.vmid,
            vcpu: self.vcpu,
            timeout_ms: self.timeout_ms,
            gpa,
            ..Mem::default()
        }
    }
}

impl VhmIo for VhmVm<'_> {
    fn request(&mut self, r: &mut Request) -> io::Result<()> {
        r.version = uapi::VERSION;
        r.vmid = self.vmid;
        r.vcpu = self.vcpu;
        r.timeout_ms = self.timeout_ms;
        self.vhm.ioctl(uapi::REQUEST, r)
    }

    fn mem_read(&mut self, gpa: u64, buf: &mut [u8]) -> io::Result<()> {
        let mut m = self.mem(gpa);
        sys::mem_read(self.vhm.file.as_fd(), &mut m, buf)
    }

    fn mem_write(&mut self, gpa: u64, data: &[u8]) -> io::Result<u64> {
        let mut m = self.mem(gpa);
        sys::mem_write(self.vhm.file.as_fd(), &mut m, data)
    }

    fn wait_msi(&mut self, timeout_ms: u32) -> io::Result<Option<(u64, u64)>> {
        let mut a = Msi {
            version: uapi::VERSION,
            vmid: self.vmid,
            timeout_ms,
            ..Msi::default()
        };
        match self.vhm.ioctl(uapi::WAIT_MSI, &mut a) {
            Ok(()) => Ok(Some((a.addr, a.data))),
            Err(e) if e.raw_os_error() == Some(libc::ETIMEDOUT) => Ok(None),
            Err(e) => Err(e),
        }
    }
}
