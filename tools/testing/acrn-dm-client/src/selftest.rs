//! `selftest VMID`: vhm_sim.ko alone, no acrngt: the control interface's validation and errnos,
//! unclaimed ioreqs, guest RAM, REQ_WP routing without a client, the MSI log, teardown.

use std::io;
use std::os::fd::AsFd;

use vfio_client::checks::Checks;

use crate::commands::{self, RAM_SIZE, VCPUS};
use crate::control::{errno_name, want_errno};
use crate::sys;
use crate::uapi::{self, Mem, Request, VmCreate, VmId};
use crate::vhm::{Vhm, VhmIo};

fn create_raw(vhm: &Vhm, a: VmCreate) -> io::Result<()> {
    let mut a = a;
    vhm.ioctl(uapi::CREATE_VM, &mut a)
}

/// Every check on VM `vmid` (which must not exist yet) and on `vmid + 1`'s absence.
pub fn selftest(vmid: u32, tag: Option<String>) -> Checks {
    let mut c = Checks::tagged(tag);
    let Some(vhm) = commands::open(&mut c) else {
        return c;
    };
    let good = VmCreate {
        version: uapi::VERSION,
        vmid,
        vcpus: VCPUS,
        flags: 0,
        ram_size: RAM_SIZE,
    };
    let bad: [(&str, VmCreate, i32); 9] = [
        (
            "create: version 2",
            VmCreate { version: 2, ..good },
            libc::EPROTO,
        ),
        ("create: vmid 0", VmCreate { vmid: 0, ..good }, libc::EINVAL),
        (
            "create: vmid 65536",
            VmCreate {
                vmid: 65536,
                ..good
            },
            libc::EINVAL,
        ),
        (
            "create: 0 vCPUs",
            VmCreate { vcpus: 0, ..good },
            libc::EINVAL,
        ),
        (
            "create: 17 vCPUs",
            VmCreate { vcpus: 17, ..good },
            libc::EINVAL,
        ),
        (
            "create: no RAM",
            VmCreate {
                ram_size: 0,
                ..good
            },
            libc::EINVAL,
        ),
        (
            "create: RAM not whole pages",
            VmCreate {
                ram_size: RAM_SIZE + 1,
                ..good
            },
            libc::EINVAL,
        ),
        (
            "create: RAM above 256 MiB",
            VmCreate {
                ram_size: uapi::MAX_RAM + 4096,
                ..good
            },
            libc::EINVAL,
        ),
        ("create: flags", VmCreate { flags: 1, ..good }, libc::EINVAL),
    ];
    for (name, a, errno) in bad {
        c.check(name, want_errno(create_raw(&vhm, a), errno));
    }
    if !c.check(
        "create VM",
        create_raw(&vhm, good).map_err(|e| errno_name(&e)),
    ) {
        return c;
    }
    c.check(
        "create: same vmid again",
        want_errno(create_raw(&vhm, good), libc::EEXIST),
    );
    c.check(
        "VM info",
        match vhm.info(vmid) {
            Ok(i)
                if i.ram_size == RAM_SIZE
                    && i.vcpus == VCPUS
                    && i.clients == 0
                    && i.refs == 1
                    && i.requests == 0 =>
            {
                Ok(())
            }
            Ok(i) => Err(format!("{i:?}")),
            Err(e) => Err(errno_name(&e)),
        },
    );
    let other = if vmid == uapi::MAX_VMID {
        1
    } else {
        vmid.saturating_add(1)
    };
    c.check(
        "VM info: unknown vmid",
        want_errno(vhm.info(other), libc::ENOENT),
    );

    requests(&mut c, &vhm, vmid, other);
    memory(&mut c, &vhm, vmid);
    msi_log(&mut c, &vhm, vmid);

    let fd = vhm.file.as_fd();
    c.check(
        "unknown ioctl",
        want_errno(
            sys::ioctl_arg(
                fd,
                uapi::GET_VERSION.wrapping_add(0x7f),
                &mut VmId::default(),
            ),
            libc::ENOTTY,
        ),
    );
    c.check(
        "unmapped argument",
        want_errno(sys::ioctl_unmapped(fd, uapi::REQUEST), libc::EFAULT),
    );
    c.check(
        "destroy VM",
        vhm.destroy_vm(vmid).map_err(|e| errno_name(&e)),
    );
    c.check(
        "destroyed VM is gone",
        want_errno(vhm.info(vmid), libc::ENOENT),
    );
    c.check(
        "destroy again",
        want_errno(vhm.destroy_vm(vmid), libc::ENOENT),
    );
    let mut r = Request::pcicfg(vmid, uapi::READ, 0, 4, 0);
    c.check(
        "request to a destroyed VM",
        want_errno(vhm.vm(vmid).request(&mut r), libc::ENOENT),
    );

    // ACRN-DM exiting: closing the file that created a VM destroys it.
    let closed = Vhm::open().and_then(|v| v.create_vm(vmid, RAM_SIZE, 1));
    c.check(
        "VM destroyed when its file is closed",
        match closed {
            Ok(()) => want_errno(vhm.info(vmid), libc::ENOENT),
            Err(e) => Err(errno_name(&e)),
        },
    );
    c
}

fn requests(c: &mut Checks, vhm: &Vhm, vmid: u32, other: u32) {
    let mut vm = vhm.vm(vmid);
    let mut r = Request::pcicfg(0, uapi::READ, 0, 4, 0);
    c.check(
        "PCICFG nobody claims: ENODEV",
        want_errno(vm.request(&mut r), libc::ENODEV),
    );
    let mut r = Request::mmio(0, uapi::WRITE, 0xe000_0000, 8, u64::MAX);
    c.check(
        "MMIO nobody claims: ENODEV",
        want_errno(vm.request(&mut r), libc::ENODEV),
    );
    let mut r = Request {
        kind: uapi::REQ_WP,
        ..Request::mmio(0, uapi::WRITE, 0x1000, 4, 1)
    };
    c.check(
        "REQ_WP nobody claims: ENODEV",
        want_errno(vm.request(&mut r), libc::ENODEV),
    );
    let mut r = Request {
        kind: uapi::REQ_PORTIO,
        ..Request::mmio(0, uapi::READ, 0xcf8, 4, 0)
    };
    c.check(
        "PORTIO nobody claims: ENODEV",
        want_errno(vm.request(&mut r), libc::ENODEV),
    );

    let cfg = Request::pcicfg(vmid, uapi::READ, 0, 4, 0);
    let mmio = Request::mmio(vmid, uapi::READ, 0xe000_0000, 4, 0);
    let raw = |r: Request| -> io::Result<()> {
        let mut r = r;
        vhm.ioctl(uapi::REQUEST, &mut r)
    };
    let bad: [(&str, Request, i32); 20] = [
        (
            "request: version 0",
            Request { version: 0, ..cfg },
            libc::EPROTO,
        ),
        ("request: vmid 0", Request { vmid: 0, ..cfg }, libc::EINVAL),
        (
            "request: unknown vmid",
            Request { vmid: other, ..cfg },
            libc::ENOENT,
        ),
        (
            "request: vCPU beyond the VM's",
            Request { vcpu: VCPUS, ..cfg },
            libc::EINVAL,
        ),
        ("request: type 4", Request { kind: 4, ..cfg }, libc::EINVAL),
        (
            "request: direction 2",
            Request {
                direction: 2,
                ..cfg
            },
            libc::EINVAL,
        ),
        (
            "request: PCICFG size 3",
            Request { size: 3, ..cfg },
            libc::EINVAL,
        ),
        (
            "request: PCICFG size 8",
            Request { size: 8, ..cfg },
            libc::EINVAL,
        ),
        (
            "request: MMIO size 16",
            Request { size: 16, ..mmio },
            libc::EINVAL,
        ),
        (
            "request: MMIO size 0",
            Request { size: 0, ..mmio },
            libc::EINVAL,
        ),
        (
            "request: bus 256",
            Request { bus: 256, ..cfg },
            libc::EINVAL,
        ),
        ("request: dev -1", Request { dev: -1, ..cfg }, libc::EINVAL),
        ("request: func 8", Request { func: 8, ..cfg }, libc::EINVAL),
        (
            "request: reg 4096",
            Request { reg: 4096, ..cfg },
            libc::EINVAL,
        ),
        (
            "request: reg 4094 size 4",
            Request { reg: 4094, ..cfg },
            libc::EINVAL,
        ),
        (
            "request: PCICFG with an address",
            Request { address: 4, ..cfg },
            libc::EINVAL,
        ),
        (
            "request: MMIO with a BDF",
            Request { dev: 2, ..mmio },
            libc::EINVAL,
        ),
        (
            "request: MMIO wrapping the address space",
            Request {
                address: u64::MAX - 2,
                ..mmio
            },
            libc::EINVAL,
        ),
        (
            "request: written value wider than the size",
            Request {
                direction: uapi::WRITE,
                value: 0x1_0000_0000,
                ..cfg
            },
            libc::EINVAL,
        ),
        (
            "request: timeout above 60 s",
            Request {
                timeout_ms: uapi::MAX_TIMEOUT_MS + 1,
                ..cfg
            },
            libc::EINVAL,
        ),
    ];
    for (name, r, errno) in bad {
        c.check(name, want_errno(raw(r), errno));
    }
    c.check(
        "request: unknown flag",
        want_errno(raw(Request { flags: 2, ..cfg }), libc::EINVAL),
    );
    c.check(
        "request: reserved field",
        want_errno(raw(Request { reserved: 1, ..cfg }), libc::EINVAL),
    );
    c.check(
        "request: unchecked size 3 is still unclaimed",
        want_errno(
            raw(Request {
                size: 3,
                flags: uapi::REQ_UNCHECKED,
                ..cfg
            }),
            libc::ENODEV,
        ),
    );
    c.check(
        "VM counted no distributed request",
        match vhm.info(vmid) {
            Ok(i) if i.requests == 0 => Ok(()),
            Ok(i) => Err(format!("{} requests", i.requests)),
            Err(e) => Err(errno_name(&e)),
        },
    );
}

fn memory(c: &mut Checks, vhm: &Vhm, vmid: u32) {
    let mut vm = vhm.vm(vmid);
    let data: Vec<u8> = (1..=200u8).collect();
    // Across a page boundary.
    let gpa = 0x1000 - 100;
    let mut back = vec![0u8; data.len()];
    let r = vm
        .mem_write(gpa, &data)
        .and_then(|wp| vm.mem_read(gpa, &mut back).map(|()| wp));
    c.check(
        "guest RAM write and read back",
        match r {
            Ok(0) if back == data => Ok(()),
            Ok(0) => Err("read back differs".into()),
            Ok(n) => Err(format!("{n} REQ_WP requests without protected pages")),
            Err(e) => Err(errno_name(&e)),
        },
    );
    let mut b = [0u8; 8];
    c.check(
        "RAM read past the end",
        want_errno(vm.mem_read(RAM_SIZE - 4, &mut b), libc::EFAULT),
    );
    c.check(
        "RAM write past the end",
        want_errno(vm.mem_write(RAM_SIZE, &b), libc::EFAULT),
    );
    c.check(
        "RAM read at a huge address",
        want_errno(vm.mem_read(u64::MAX - 3, &mut b), libc::EFAULT),
    );
    let fd = vhm.file.as_fd();
    let m = Mem {
        version: uapi::VERSION,
        vmid,
        gpa: 0,
        ..Mem::default()
    };
    c.check(
        "RAM read of 0 bytes",
        want_errno(
            sys::mem_raw(
                fd,
                uapi::MEM_READ,
                &mut Mem {
                    len: 0,
                    buf: 8,
                    ..m
                },
            ),
            libc::EINVAL,
        ),
    );
    c.check(
        "RAM read above 1 MiB",
        want_errno(
            sys::mem_raw(
                fd,
                uapi::MEM_READ,
                &mut Mem {
                    len: uapi::MAX_MEM_IO + 1,
                    buf: 8,
                    ..m
                },
            ),
            libc::E2BIG,
        ),
    );
    c.check(
        "RAM read into an unmapped buffer",
        want_errno(
            sys::mem_raw(
                fd,
                uapi::MEM_READ,
                &mut Mem {
                    len: 16,
                    buf: 8,
                    ..m
                },
            ),
            libc::EFAULT,
        ),
    );
    c.check(
        "RAM write from an unmapped buffer",
        want_errno(
            sys::mem_raw(
                fd,
                uapi::MEM_WRITE,
                &mut Mem {
                    len: 16,
                    buf: 8,
                    ..m
                },
            ),
            libc::EFAULT,
        ),
    );
    c.check(
        "RAM access from a vCPU beyond the VM's",
        want_errno(
            sys::mem_raw(
                fd,
                uapi::MEM_READ,
                &mut Mem {
                    vcpu: VCPUS,
                    len: 16,
                    buf: 8,
                    ..m
                },
            ),
            libc::EINVAL,
        ),
    );

    // A store to a write-protected page with no client tracking it: a REQ_WP nobody claims,
    // and the page keeps its contents (VHM never performs a protected write).
    let page = 0x2000u64;
    c.check(
        "write-protect a page",
        vhm.write_protect(vmid, page, true)
            .map_err(|e| errno_name(&e)),
    );
    c.check(
        "write-protect outside RAM",
        want_errno(vhm.write_protect(vmid, RAM_SIZE, true), libc::EINVAL),
    );
    c.check(
        "VM info counts the page",
        match vhm.info(vmid) {
            Ok(i) if i.wp_pages == 1 => Ok(()),
            Ok(i) => Err(format!("{} pages", i.wp_pages)),
            Err(e) => Err(errno_name(&e)),
        },
    );
    let before = read(&mut vm, page, 8);
    c.check(
        "store to a protected page is a REQ_WP nobody claims",
        want_errno(vm.mem_write(page + 8, &[0xaa; 4]), libc::ENODEV),
    );
    c.check(
        "protected page unchanged",
        match read(&mut vm, page, 8) {
            Ok(b) if Ok(&b) == before.as_ref() => Ok(()),
            Ok(b) => Err(format!("now {b:?}")),
            Err(e) => Err(e),
        },
    );
    // A store that starts in an unprotected page: its first part lands, then the REQ_WP fails.
    c.check(
        "store running into a protected page",
        want_errno(vm.mem_write(page - 4, &[0x55; 8]), libc::ENODEV),
    );
    c.check(
        "the unprotected part landed",
        match read(&mut vm, page - 4, 4) {
            Ok(b) if b == [0x55; 4] => Ok(()),
            Ok(b) => Err(format!("{b:?}")),
            Err(e) => Err(e),
        },
    );
    c.check(
        "unprotect",
        vhm.write_protect(vmid, page, false)
            .map_err(|e| errno_name(&e)),
    );
    c.check(
        "store after unprotect lands",
        match vm
            .mem_write(page + 8, &[0xaa; 4])
            .map_err(|e| errno_name(&e))
            .and_then(|_| read(&mut vm, page + 8, 4))
        {
            Ok(b) if b == [0xaa; 4] => Ok(()),
            Ok(b) => Err(format!("{b:?}")),
            Err(e) => Err(e),
        },
    );
}

fn read(vm: &mut impl VhmIo, gpa: u64, n: usize) -> Result<Vec<u8>, String> {
    let mut b = vec![0u8; n];
    vm.mem_read(gpa, &mut b).map_err(|e| errno_name(&e))?;
    Ok(b)
}

fn msi_log(c: &mut Checks, vhm: &Vhm, vmid: u32) {
    let mut vm = vhm.vm(vmid);
    c.check(
        "no MSI yet (no wait)",
        match vm.wait_msi(0) {
            Ok(None) => Ok(()),
            Ok(m) => Err(format!("{m:?}")),
            Err(e) => Err(errno_name(&e)),
        },
    );
    c.check(
        "no MSI yet (20 ms wait)",
        match vm.wait_msi(20) {
            Ok(None) => Ok(()),
            Ok(m) => Err(format!("{m:?}")),
            Err(e) => Err(errno_name(&e)),
        },
    );
    let injected = (0..70u64).try_for_each(|i| vhm.inject_msi(vmid, 0xfee0_0000, 0x4000 | i));
    c.check("inject 70 MSIs", injected.map_err(|e| errno_name(&e)));
    // The log keeps the last 64: the oldest left is the 7th.
    c.check(
        "MSI log keeps the newest, in order",
        (6..70u64).try_for_each(|i| match vm.wait_msi(0) {
            Ok(Some((0xfee0_0000, d))) if d == 0x4000 | i => Ok(()),
            other => Err(format!("MSI {i}: {other:?}")),
        }),
    );
    c.check(
        "MSI log empty again",
        match (vm.wait_msi(0), vhm.info(vmid)) {
            (Ok(None), Ok(i)) if i.msi_total == 70 && i.msi_queued == 0 => Ok(()),
            (m, i) => Err(format!("{m:?} {i:?}")),
        },
    );
}
