//! `fill VMID N [LOW HIGH FENCES]`: how many ACRN instances fit at once (issue 6's figure; the
//! goal is at least 16, upstream's ACRN fork stopped at 15). Creates VMs VMID.. in the VHM and
//! an instance for each until N are up or `create_gvt_instance` refuses one (ENOSPC once the
//! GPU is full), checks every instance answers a config cycle, then destroys them all.

use std::time::Instant;

use vfio_client::checks::Checks;

use crate::commands::{check_released, open, RAM_SIZE, TIMEOUT_MS};
use crate::control::{self, errno_name, Sizes};
use crate::uapi::{self, Request};
use crate::vhm::VhmIo;

/// The goal of the issue.
pub const GOAL: u32 = 16;

/// Creates up to `n` instances of `s` on VMs `first..`; see the module documentation.
pub fn fill(first: u32, n: u32, s: Sizes, tag: Option<String>) -> Checks {
    let mut c = Checks::tagged(tag);
    let Some(vhm) = open(&mut c) else { return c };
    let mut up: Vec<u32> = Vec::new();
    let mut stop = String::from("reached N");
    let t0 = Instant::now();
    for i in 0..n {
        let Some(vmid) = first.checked_add(i).filter(|v| *v <= uapi::MAX_VMID) else {
            stop = "ran out of vmids".into();
            break;
        };
        if let Err(e) = vhm.create_vm(vmid, RAM_SIZE, 1) {
            stop = format!("VHM VM {vmid}: {}", errno_name(&e));
            break;
        }
        if let Err(e) = control::write_control(control::create_text(vmid, s).as_bytes()) {
            stop = format!("instance {}: {}", i.saturating_add(1), errno_name(&e));
            let _ = vhm.destroy_vm(vmid);
            break;
        }
        up.push(vmid);
    }
    let create_ms = t0.elapsed().as_millis();
    let count = u32::try_from(up.len()).unwrap_or(u32::MAX);
    println!(
        "gvt-acrn-client: instances at once: {count} of {},{},{} ({stop}); created in {create_ms} ms",
        s.low_mb, s.high_mb, s.fences
    );
    c.expect("instances at once", count >= n.min(GOAL), || {
        format!("{count} ({stop}), goal {}", n.min(GOAL))
    });
    let mut answered = 0u32;
    for &vmid in &up {
        let mut vm = vhm.vm(vmid);
        vm.timeout_ms = TIMEOUT_MS;
        let mut r = Request::pcicfg(0, uapi::READ, 0, 4, 0);
        if vm.request(&mut r).is_ok() && r.value & 0xffff == 0x8086 {
            answered = answered.saturating_add(1);
        }
    }
    c.expect(
        "every instance answers a config cycle",
        answered == count,
        || format!("{answered} of {count}"),
    );
    let t1 = Instant::now();
    let mut destroyed = 0u32;
    for &vmid in &up {
        if control::write_control(control::destroy_text(vmid).as_bytes()).is_ok() {
            destroyed = destroyed.saturating_add(1);
        }
    }
    println!(
        "gvt-acrn-client: {destroyed} instances destroyed in {} ms",
        t1.elapsed().as_millis()
    );
    c.expect("every instance destroyed", destroyed == count, || {
        format!("{destroyed} of {count}")
    });
    if let Some(&last) = up.last() {
        check_released(&mut c, &vhm, last);
    }
    for &vmid in &up {
        let _ = vhm.destroy_vm(vmid);
    }
    c
}
