//! The `/dev/vhm_sim` ioctls (tools/testing/vhm_sim/vhm_sim_uapi.h) and the request constants of
//! include/acrn/vhm.h, as `#[repr(C)]` mirrors. The unit tests pin the sizes and request numbers
//! against the header's layout.

/// `VHM_SIM_UAPI_VERSION`: the first field of every argument struct.
pub const VERSION: u32 = 1;
/// Largest vmid.
pub const MAX_VMID: u32 = 0xffff;
/// Most vCPUs (request-buffer slots) of a VM.
pub const MAX_VCPUS: u32 = 16;
/// Largest guest RAM.
pub const MAX_RAM: u64 = 256 << 20;
/// Most bytes one `MEM_READ`/`MEM_WRITE` moves.
pub const MAX_MEM_IO: u64 = 1 << 20;
/// Longest timeout, ms.
pub const MAX_TIMEOUT_MS: u32 = 60_000;
/// MSIs the log keeps.
pub const MSI_LOG: u32 = 64;

/// `REQ_PORTIO`.
pub const REQ_PORTIO: u32 = 0;
/// `REQ_MMIO`.
pub const REQ_MMIO: u32 = 1;
/// `REQ_PCICFG`.
pub const REQ_PCICFG: u32 = 2;
/// `REQ_WP`: a store to a write-protected page.
pub const REQ_WP: u32 = 3;
/// `REQUEST_READ`.
pub const READ: u32 = 0;
/// `REQUEST_WRITE`.
pub const WRITE: u32 = 1;
/// `VHM_SIM_REQ_UNCHECKED`: deliver any size, as a hostile hypervisor would.
pub const REQ_UNCHECKED: u32 = 1;

/// `struct vhm_sim_vm_create`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
#[allow(missing_docs)]
pub struct VmCreate {
    pub version: u32,
    pub vmid: u32,
    pub vcpus: u32,
    pub flags: u32,
    pub ram_size: u64,
}

/// `struct vhm_sim_vm_id`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
#[allow(missing_docs)]
pub struct VmId {
    pub version: u32,
    pub vmid: u32,
}

/// `struct vhm_sim_vm_info`: what the in-kernel side set up on a VM.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub struct VmInfo {
    pub version: u32,
    pub vmid: u32,
    pub ram_size: u64,
    pub vcpus: u32,
    pub clients: u32,
    pub ranges: u32,
    pub bdf_intercepts: u32,
    pub wp_pages: u32,
    pub regions: u32,
    pub msi_queued: u32,
    pub refs: u32,
    pub msi_total: u64,
    pub requests: u64,
}

/// `struct vhm_sim_request`: one ioreq of one vCPU.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub struct Request {
    pub version: u32,
    pub vmid: u32,
    pub vcpu: u32,
    pub kind: u32,
    pub direction: u32,
    pub size: u32,
    pub address: u64,
    pub value: u64,
    pub bus: i32,
    pub dev: i32,
    pub func: i32,
    pub reg: i32,
    pub timeout_ms: u32,
    pub flags: u32,
    pub client: u32,
    pub reserved: u32,
}

impl Request {
    /// A config cycle of `size` bytes at `reg` of 00:02.0.
    pub fn pcicfg(vmid: u32, direction: u32, reg: u32, size: u32, value: u64) -> Request {
        Request {
            version: VERSION,
            vmid,
            kind: REQ_PCICFG,
            direction,
            size,
            value,
            dev: 2,
            reg: i32::try_from(reg).unwrap_or(i32::MAX),
            ..Request::default()
        }
    }

    /// An MMIO access of `size` bytes at guest physical `address`.
    pub fn mmio(vmid: u32, direction: u32, address: u64, size: u32, value: u64) -> Request {
        Request {
            version: VERSION,
            vmid,
            kind: REQ_MMIO,
            direction,
            size,
            address,
            value,
            ..Request::default()
        }
    }
}

/// `struct vhm_sim_mem`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
#[allow(missing_docs)]
pub struct Mem {
    pub version: u32,
    pub vmid: u32,
    pub vcpu: u32,
    pub timeout_ms: u32,
    pub gpa: u64,
    pub len: u64,
    pub buf: u64,
    pub wp_requests: u64,
}

/// `struct vhm_sim_msi`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
#[allow(missing_docs)]
pub struct Msi {
    pub version: u32,
    pub vmid: u32,
    pub timeout_ms: u32,
    pub reserved: u32,
    pub addr: u64,
    pub data: u64,
    pub dropped: u64,
}

/// `struct vhm_sim_wp`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
#[allow(missing_docs)]
pub struct Wp {
    pub version: u32,
    pub vmid: u32,
    pub gpa: u64,
    pub set: u32,
    pub reserved: u32,
}

const MAGIC: u32 = 0xA3;

const fn ioc(dir: u32, nr: u32, size: usize) -> libc::Ioctl {
    // Sizes are the structs' below, all far under the 14 bits the encoding has.
    #[allow(clippy::cast_possible_truncation)]
    let size = size as u32;
    ((dir << 30) | (size << 16) | (MAGIC << 8) | nr) as libc::Ioctl
}
const W: u32 = 1;
const R: u32 = 2;

/// `VHM_SIM_GET_VERSION`.
pub const GET_VERSION: libc::Ioctl = ioc(R, 0, 4);
/// `VHM_SIM_CREATE_VM`.
pub const CREATE_VM: libc::Ioctl = ioc(W, 1, size_of::<VmCreate>());
/// `VHM_SIM_DESTROY_VM`.
pub const DESTROY_VM: libc::Ioctl = ioc(W, 2, size_of::<VmId>());
/// `VHM_SIM_VM_INFO`.
pub const VM_INFO: libc::Ioctl = ioc(R | W, 3, size_of::<VmInfo>());
/// `VHM_SIM_REQUEST`.
pub const REQUEST: libc::Ioctl = ioc(R | W, 4, size_of::<Request>());
/// `VHM_SIM_MEM_READ`.
pub const MEM_READ: libc::Ioctl = ioc(R | W, 5, size_of::<Mem>());
/// `VHM_SIM_MEM_WRITE`.
pub const MEM_WRITE: libc::Ioctl = ioc(R | W, 6, size_of::<Mem>());
/// `VHM_SIM_WAIT_MSI`.
pub const WAIT_MSI: libc::Ioctl = ioc(R | W, 7, size_of::<Msi>());
/// `VHM_SIM_INJECT_MSI`.
pub const INJECT_MSI: libc::Ioctl = ioc(W, 8, size_of::<Msi>());
/// `VHM_SIM_WRITE_PROTECT`.
pub const WRITE_PROTECT: libc::Ioctl = ioc(W, 9, size_of::<Wp>());

/// The argument structs: plain data the kernel may read and write whole.
pub trait Arg: Copy {}
impl Arg for VmCreate {}
impl Arg for VmId {}
impl Arg for VmInfo {}
impl Arg for Request {}
impl Arg for Msi {}
impl Arg for Wp {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_match_the_header() {
        assert_eq!(size_of::<VmCreate>(), 24);
        assert_eq!(size_of::<VmId>(), 8);
        assert_eq!(size_of::<VmInfo>(), 64);
        assert_eq!(size_of::<Request>(), 72);
        assert_eq!(size_of::<Mem>(), 48);
        assert_eq!(size_of::<Msi>(), 40);
        assert_eq!(size_of::<Wp>(), 24);
        assert_eq!(std::mem::offset_of!(Request, bus), 40);
        assert_eq!(std::mem::offset_of!(Request, timeout_ms), 56);
        assert_eq!(std::mem::offset_of!(VmInfo, msi_total), 48);
    }

    #[test]
    fn request_numbers() {
        // _IOR(0xA3, 0, __u32) and _IOWR(0xA3, 4, 72 bytes), as the C macros compute them.
        assert_eq!(GET_VERSION, 0x8004_a300);
        assert_eq!(REQUEST, 0xc048_a304);
        assert_eq!(CREATE_VM, 0x4018_a301);
    }

    #[test]
    fn request_builders() {
        let r = Request::pcicfg(3, READ, 0x10, 4, 0);
        assert_eq!(
            (r.kind, r.bus, r.dev, r.func, r.reg, r.address),
            (REQ_PCICFG, 0, 2, 0, 0x10, 0)
        );
        let m = Request::mmio(3, WRITE, 0xe000_0000, 8, 5);
        assert_eq!((m.kind, m.size, m.value, m.dev), (REQ_MMIO, 8, 5, 0));
        assert_eq!(Request::pcicfg(1, READ, u32::MAX, 4, 0).reg, i32::MAX);
    }
}
