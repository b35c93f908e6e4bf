//! `bad-input VMID`: what a hostile or buggy ACRN-DM, guest or hypervisor can throw at acrngt.
//! Control strings get the errno Documentation/ABI/testing/sysfs-kernel-gvt gives and change
//! nothing; ioreqs of odd sizes, for other devices or addresses, or after destroy, never crash
//! the host or hang a vCPU, and the vGPU answers afterwards.

use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use guest_model::probe;
use guest_model::TransportExt;
use gvt::model::pvinfo::{field, VGT_MAGIC};
use vfio_client::checks::Checks;

use crate::commands::{
    self, check_released, create_instance, describe, destroy_instance, open, RAM_SIZE, TIMEOUT_MS,
    VCPUS,
};
use crate::control::{self, errno_name, want_errno, DEFAULT_SIZES};
use crate::transport::AcrnTransport;
use crate::uapi::{self, Request};
use crate::vhm::{Vhm, VhmIo, VhmVm};

/// Control strings and the errno each must get. `{v}` is a vmid with no instance.
pub fn control_cases(v: u32) -> Vec<(String, i32)> {
    let e = |s: String, n| (s, n);
    vec![
        e("0,64,448,8".into(), libc::EINVAL),
        e("0,64,448,8\n".into(), libc::EINVAL),
        e(format!("{v},-64,448,8\n"), libc::EINVAL),
        e(format!("{v},64,-448,8\n"), libc::EINVAL),
        e(format!("{v},64,448,-8\n"), libc::EINVAL),
        e(format!("{v},64,448\n"), libc::EINVAL),
        e(format!("{v},64\n"), libc::EINVAL),
        e(format!("{v}\n"), libc::EINVAL),
        e("\n".into(), libc::EINVAL),
        e(format!("{v},64,448,8x\n"), libc::EINVAL),
        e(format!("{v},64,448,8,9\n"), libc::EINVAL),
        e(format!("{v},64,448,8\n\n"), libc::EINVAL),
        e(format!("{v},64,448,8 \n"), libc::EINVAL),
        e(format!("{v}, 64,448,8\n"), libc::EINVAL),
        e(format!("+{v},64,448,8\n"), libc::EINVAL),
        e(format!("{v},0,448,8\n"), libc::EINVAL),
        e(format!("{v},64,0,8\n"), libc::EINVAL),
        e(format!("{v},64,448,0\n"), libc::EINVAL),
        e(format!("{v},0x40,448,8\n"), libc::EINVAL),
        e("-0\n".into(), libc::EINVAL),
        e(format!("--{v}\n"), libc::EINVAL),
        e(format!("-{v},1\n"), libc::EINVAL),
        e(format!("{v},99999999999,448,8\n"), libc::ERANGE),
        e(format!("{v},64,4294967296,8\n"), libc::ERANGE),
        e(format!("{v},64,448,99999999999999999999\n"), libc::ERANGE),
        e("65536,64,448,8\n".into(), libc::ERANGE),
        e("99999999999,64,448,8\n".into(), libc::ERANGE),
        e("-70000\n".into(), libc::ERANGE),
        e(format!("-{v}\n"), libc::ENOENT),
    ]
}

fn write(text: &str) -> io::Result<()> {
    control::write_control(text.as_bytes())
}

/// `bad-input VMID`; uses VMID and VMID+1 (wrapping to 1).
pub fn bad_input(vmid: u32, tag: Option<String>) -> Checks {
    let mut c = Checks::tagged(tag);
    let Some(vhm) = open(&mut c) else { return c };
    let other = if vmid == uapi::MAX_VMID {
        1
    } else {
        vmid.saturating_add(1)
    };

    for (text, errno) in control_cases(other) {
        let r = write(&text);
        c.check(&format!("control {text:?}"), want_errno(r, errno));
    }
    // ACRN-DM creates the VM in VHM before its vGPU; a vGPU for a VM VHM does not know is
    // refused (the ABI document's ENODEV).
    c.check(
        "create for a VM VHM does not know",
        want_errno(
            write(&control::create_text(other, DEFAULT_SIZES)),
            libc::ENODEV,
        ),
    );
    c.expect(
        "failed writes created nothing",
        !Path::new(&control::vm_dir(other)).exists(),
        || format!("{} exists", control::vm_dir(other)),
    );

    if !commands::create_vm(&mut c, &vhm, vmid) {
        return c;
    }
    if create_instance(&mut c, vmid, DEFAULT_SIZES).is_none() {
        return c;
    }
    c.check(
        "double create",
        want_errno(
            write(&control::create_text(vmid, DEFAULT_SIZES)),
            libc::EEXIST,
        ),
    );
    c.check(
        "double create with other sizes",
        want_errno(
            write(&control::create_text(
                vmid,
                control::Sizes {
                    low_mb: 128,
                    high_mb: 384,
                    fences: 4,
                },
            )),
            libc::EEXIST,
        ),
    );
    c.check(
        "vgpu_id unchanged by the refused creates",
        match control::vgpu_id(vmid) {
            Ok(_) => Ok(()),
            Err(e) => Err(e),
        },
    );

    // More graphics memory than the GPU has, for a VM the VHM knows.
    if c.check(
        "vhm_sim create second VM",
        vhm.create_vm(other, RAM_SIZE, 1)
            .map_err(|e| errno_name(&e)),
    ) {
        c.check(
            "create larger than the GPU",
            want_errno(write(&format!("{other},4000,4000,8\n")), libc::ENOSPC),
        );
        c.check(
            "create with more fences than the GPU",
            want_errno(write(&format!("{other},64,448,4000\n")), libc::ENOSPC),
        );
        c.expect(
            "refused creates left no vmN",
            !Path::new(&control::vm_dir(other)).exists(),
            || format!("{} exists", control::vm_dir(other)),
        );
        vm_gone_under_instance(&mut c, &vhm, other);
    }

    let mut vm = vhm.vm(vmid);
    vm.timeout_ms = TIMEOUT_MS;
    hostile_ioreqs(&mut c, vm);

    teardown_in_flight(&mut c, &vhm, vmid);
    check_released(&mut c, &vhm, vmid);
    let mut vm = vhm.vm(vmid);
    vm.timeout_ms = TIMEOUT_MS;
    let mut r = Request::pcicfg(0, uapi::READ, 0, 4, 0);
    c.check(
        "config ioreq after destroy: ENODEV",
        want_errno(vm.request(&mut r), libc::ENODEV),
    );
    let mut r = Request::mmio(0, uapi::READ, probe::BAR0_GPA, 4, 0);
    c.check(
        "MMIO ioreq after destroy: ENODEV",
        want_errno(vm.request(&mut r), libc::ENODEV),
    );
    c.check(
        "destroy again: ENOENT",
        want_errno(write(&control::destroy_text(vmid)), libc::ENOENT),
    );

    // The VM can have a vGPU again, and it works.
    if create_instance(&mut c, vmid, DEFAULT_SIZES).is_some() {
        let mut t = AcrnTransport::new(vm);
        c.check(
            "re-created instance probes",
            probe::probe(&mut t)
                .map(drop)
                .map_err(|e| format!("{e:?} {}", t.last_error.take().unwrap_or_default())),
        );
        destroy_instance(&mut c, vmid);
        check_released(&mut c, &vhm, vmid);
    }
    c.check(
        "vhm_sim destroy VM",
        vhm.destroy_vm(vmid).map_err(|e| errno_name(&e)),
    );
    c
}

/// ACRN-DM dies under a running instance: the VM goes away in the VHM first, then `"-vmid"`.
fn vm_gone_under_instance(c: &mut Checks, vhm: &Vhm, vmid: u32) {
    if !c.check(
        "instance on the second VM",
        write(&control::create_text(
            vmid,
            control::Sizes {
                low_mb: 32,
                high_mb: 96,
                fences: 2,
            },
        ))
        .map_err(|e| errno_name(&e)),
    ) {
        let _ = vhm.destroy_vm(vmid);
        return;
    }
    c.check(
        "VM destroyed under its instance",
        vhm.destroy_vm(vmid).map_err(|e| errno_name(&e)),
    );
    c.check(
        "instance destroyed after its VM",
        write(&control::destroy_text(vmid)).map_err(|e| errno_name(&e)),
    );
    c.expect(
        "its vmN removed",
        !Path::new(&control::vm_dir(vmid)).exists(),
        || format!("{} exists", control::vm_dir(vmid)),
    );
}

/// Outcome of an ioreq acrngt must survive: completed (any value) or failed by it (EIO); never
/// a timeout, and never a crash.
fn survived(r: io::Result<()>) -> Result<(), String> {
    match r {
        Ok(()) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::EIO) => Ok(()),
        Err(e) => Err(errno_name(&e)),
    }
}

fn hostile_ioreqs(c: &mut Checks, vm: VhmVm<'_>) {
    let mut t = AcrnTransport::new(vm);
    let placed = probe::pci_setup(&mut t)
        .map_err(|e| format!("{e:?} {}", t.last_error.take().unwrap_or_default()));
    if !c.check("guest places BARs and enables decode", placed.map(drop)) {
        return;
    }
    let bar0 = probe::BAR0_GPA;
    let pv = bar0 + u64::from(field::VGT_ID);
    let v = t.vhm();
    let cfg = Request::pcicfg(0, uapi::READ, 0, 4, 0);
    let mmio = Request::mmio(0, uapi::READ, pv, 4, 0);
    let mut go = |r: Request| {
        let mut r = r;
        v.request(&mut r)
    };
    c.check(
        "config size 3 refused by the VHM",
        want_errno(go(Request { size: 3, ..cfg }), libc::EINVAL),
    );
    c.check(
        "MMIO size 16 refused by the VHM",
        want_errno(go(Request { size: 16, ..mmio }), libc::EINVAL),
    );
    let unchecked = |r: Request| Request {
        flags: uapi::REQ_UNCHECKED,
        ..r
    };
    for (name, r) in [
        (
            "hostile config read of 3 bytes",
            unchecked(Request { size: 3, ..cfg }),
        ),
        (
            "hostile config write of 3 bytes",
            unchecked(Request {
                size: 3,
                direction: uapi::WRITE,
                reg: 0x40,
                value: 0xff_ffff,
                ..cfg
            }),
        ),
        (
            "hostile config read of 8 bytes",
            unchecked(Request { size: 8, ..cfg }),
        ),
        (
            "hostile config read of 0 bytes",
            unchecked(Request { size: 0, ..cfg }),
        ),
        (
            "hostile config read of 16 bytes at 4092",
            unchecked(Request {
                size: 16,
                reg: 4092,
                ..cfg
            }),
        ),
        (
            "hostile MMIO read of 16 bytes",
            unchecked(Request { size: 16, ..mmio }),
        ),
        (
            "hostile MMIO write of 16 bytes",
            unchecked(Request {
                size: 16,
                direction: uapi::WRITE,
                address: bar0 + u64::from(field::MAGIC),
                ..mmio
            }),
        ),
        (
            "hostile MMIO read of 3 bytes",
            unchecked(Request { size: 3, ..mmio }),
        ),
        (
            "hostile MMIO read of 0 bytes",
            unchecked(Request { size: 0, ..mmio }),
        ),
        (
            "config read of extended space",
            Request { reg: 0x100, ..cfg },
        ),
        (
            "config write of extended space",
            Request {
                reg: 0xffc,
                direction: uapi::WRITE,
                value: 0xffff_ffff,
                ..cfg
            },
        ),
        ("misaligned config read", Request { reg: 0x3, ..cfg }),
        (
            "misaligned MMIO read",
            Request {
                address: pv.wrapping_add(1),
                ..mmio
            },
        ),
        (
            "MMIO read of BAR0's last bytes",
            Request {
                address: bar0.wrapping_add(commands::BAR0_SIZE - 8),
                size: 8,
                ..mmio
            },
        ),
    ] {
        c.check(name, survived(go(r)));
    }
    for (name, r) in [
        ("config for 00:03.0 is unclaimed", Request { dev: 3, ..cfg }),
        ("config for 01:02.0 is unclaimed", Request { bus: 1, ..cfg }),
        (
            "config for 00:02.1 is unclaimed",
            Request { func: 1, ..cfg },
        ),
        (
            "MMIO below BAR0 is unclaimed",
            Request {
                address: bar0 - 4,
                ..mmio
            },
        ),
        (
            "MMIO past BAR0 is unclaimed",
            Request {
                address: bar0 + commands::BAR0_SIZE,
                ..mmio
            },
        ),
        (
            "MMIO straddling BAR0's end is unclaimed",
            Request {
                address: bar0.wrapping_add(commands::BAR0_SIZE - 4),
                size: 8,
                ..mmio
            },
        ),
        ("MMIO at 0 is unclaimed", Request { address: 0, ..mmio }),
        (
            "port I/O is unclaimed",
            Request {
                kind: uapi::REQ_PORTIO,
                address: 0xcfc,
                ..mmio
            },
        ),
        (
            "REQ_WP on an untracked page is unclaimed",
            Request {
                kind: uapi::REQ_WP,
                direction: uapi::WRITE,
                address: 0x1000,
                ..mmio
            },
        ),
    ] {
        c.check(name, want_errno(go(r), libc::ENODEV));
    }
    // After all that, the vGPU still answers.
    let vendor = t
        .cfg_read32(0)
        .map_err(|e| format!("{e:?} {}", t.last_error.take().unwrap_or_default()));
    c.check(
        "vGPU answers config after hostile ioreqs",
        match vendor {
            Ok(v) if v & 0xffff == 0x8086 => Ok(()),
            Ok(v) => Err(format!("vendor/device {v:#x}")),
            Err(e) => Err(e),
        },
    );
    c.check(
        "vGPU answers MMIO after hostile ioreqs",
        match t.read64(field::MAGIC) {
            Ok(VGT_MAGIC) => Ok(()),
            Ok(m) => Err(format!("PVINFO magic {m:#x} (failsafe?)")),
            Err(e) => Err(format!("{e:?} {}", t.last_error.take().unwrap_or_default())),
        },
    );
}

/// A vCPU keeps raising ioreqs while the instance is destroyed: each one completes or ends in
/// ENODEV (its client went away), none hangs, and later ones are unclaimed.
fn teardown_in_flight(c: &mut Checks, vhm: &Vhm, vmid: u32) {
    const _: () = assert!(VCPUS >= 2);
    let mut vcpu1 = vhm.vm(vmid);
    vcpu1.vcpu = 1;
    vcpu1.timeout_ms = TIMEOUT_MS;
    let completed = AtomicU32::new(0);
    let result = std::thread::scope(|s| {
        let h = s.spawn(|| -> Result<(u32, u32), String> {
            let (mut done, mut gone) = (0u32, 0u32);
            let t0 = Instant::now();
            while gone < 20 && t0.elapsed() < Duration::from_secs(30) {
                let mut r = Request::pcicfg(0, uapi::READ, 0, 4, 0);
                match vcpu1.request(&mut r) {
                    Ok(()) => done = done.saturating_add(1),
                    Err(e) if e.raw_os_error() == Some(libc::ENODEV) => {
                        gone = gone.saturating_add(1)
                    }
                    Err(e) => return Err(format!("after {done} ioreqs: {}", errno_name(&e))),
                }
                completed.store(done, Ordering::Relaxed);
            }
            Ok((done, gone))
        });
        // Destroy once the vCPU is well under way.
        let t0 = Instant::now();
        while completed.load(Ordering::Relaxed) < 10 && t0.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(5));
        }
        destroy_instance(c, vmid);
        h.join()
    });
    c.check(
        "ioreqs in flight during destroy end in ENODEV",
        match result {
            Ok(Ok((done, gone))) if gone >= 20 && done >= 10 => {
                println!("gvt-acrn-client: vm {vmid}: {done} ioreqs completed before destroy");
                Ok(())
            }
            Ok(Ok((done, gone))) => Err(format!("{done} completed, {gone} ENODEV in 30 s")),
            Ok(Err(e)) => Err(e),
            Err(_) => Err("the vCPU thread panicked".into()),
        },
    );
    if let Ok(i) = vhm.info(vmid) {
        println!("gvt-acrn-client: vm {vmid}: {}", describe(&i));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_cases_are_distinct_and_documented_errnos() {
        let cases = control_cases(7);
        let mut texts: Vec<&String> = cases.iter().map(|(t, _)| t).collect();
        texts.sort();
        texts.dedup();
        assert_eq!(texts.len(), cases.len());
        assert!(cases
            .iter()
            .all(|(_, e)| [libc::EINVAL, libc::ERANGE, libc::ENOENT].contains(e)));
        assert!(cases.iter().any(|(t, _)| t == "0,64,448,8"));
    }

    #[test]
    fn survival_is_completion_or_eio() {
        assert!(survived(Ok(())).is_ok());
        assert!(survived(Err(io::Error::from_raw_os_error(libc::EIO))).is_ok());
        assert!(survived(Err(io::Error::from_raw_os_error(libc::ETIMEDOUT))).is_err());
        assert!(survived(Err(io::Error::from_raw_os_error(libc::ENODEV))).is_err());
    }
}
