//! `run` and `bench`: ACRN-DM's sequence for one User VM, and the cost of an ioreq.

use std::io;
use std::time::Instant;

use guest_model::probe::{self, GGTT_PAGES, GGTT_PAGES_GPA};
use guest_model::TransportExt;
use gvt::model::pvinfo::field;
use vfio_client::checks::Checks;
use vfio_client::timing::{time_per_op, Timing};

use crate::control::{self, Sizes};
use crate::transport::AcrnTransport;
use crate::uapi::{self, Request, VmInfo};
use crate::vhm::{Vhm, VhmIo};

/// Guest RAM of the VM: room for the pages the probe maps through the GGTT.
pub const RAM_SIZE: u64 = 4 << 20;
const _: () = assert!(GGTT_PAGES_GPA + GGTT_PAGES * 4096 <= RAM_SIZE);
/// vCPUs of the VM (two, so one can raise ioreqs while another is busy).
pub const VCPUS: u32 = 2;
/// BAR0 size of a Gen9 vGPU.
pub const BAR0_SIZE: u64 = 16 << 20;
/// Per-ioreq timeout, ms: generous, QEMU TCG is slow.
pub const TIMEOUT_MS: u32 = 10_000;

/// Opens `/dev/vhm_sim` and checks the uAPI version.
pub fn open(c: &mut Checks) -> Option<Vhm> {
    let vhm = match Vhm::open() {
        Ok(v) => v,
        Err(e) => {
            c.fail("vhm_sim open", format!("{}: {e}", crate::vhm::DEVICE));
            return None;
        }
    };
    let ok = c.check(
        "vhm_sim uapi version",
        match vhm.version() {
            Ok(uapi::VERSION) => Ok(()),
            Ok(v) => Err(format!("version {v}, want {}", uapi::VERSION)),
            Err(e) => Err(e.to_string()),
        },
    );
    ok.then_some(vhm)
}

/// Creates the VM in the VHM, as ACRN-DM does before it asks for a vGPU.
pub fn create_vm(c: &mut Checks, vhm: &Vhm, vmid: u32) -> bool {
    c.check(
        "vhm_sim create VM",
        vhm.create_vm(vmid, RAM_SIZE, VCPUS)
            .map_err(|e| format!("vmid {vmid}: {}", control::errno_name(&e))),
    )
}

/// `create_gvt_instance` with ACRN-DM's text, then `vmN/vgpu_id`.
pub fn create_instance(c: &mut Checks, vmid: u32, s: Sizes) -> Option<u32> {
    let text = control::create_text(vmid, s);
    if !c.check(
        "create_gvt_instance",
        control::write_control(text.as_bytes())
            .map_err(|e| format!("{text:?}: {}", control::errno_name(&e))),
    ) {
        return None;
    }
    match control::vgpu_id(vmid) {
        Ok(id) => {
            c.expect("vgpu_id", (1..=32).contains(&id), || {
                format!("id {id} out of 1..32")
            });
            Some(id)
        }
        Err(e) => {
            c.fail("vgpu_id", e);
            None
        }
    }
}

/// `"-vmid\n"`, and the instance's directory is gone.
pub fn destroy_instance(c: &mut Checks, vmid: u32) -> bool {
    let text = control::destroy_text(vmid);
    let ok = c.check(
        "destroy through create_gvt_instance",
        control::write_control(text.as_bytes())
            .map_err(|e| format!("{text:?}: {}", control::errno_name(&e))),
    );
    c.expect(
        "vmN directory removed",
        !std::path::Path::new(&control::vm_dir(vmid)).exists(),
        || format!("{} still exists", control::vm_dir(vmid)),
    );
    ok
}

/// The VHM state acrngt must leave behind when its instance is gone: nothing but the VM.
pub fn check_released(c: &mut Checks, vhm: &Vhm, vmid: u32) {
    c.check(
        "acrngt released everything in the VHM",
        match vhm.info(vmid) {
            Ok(i)
                if i.clients == 0
                    && i.ranges == 0
                    && i.bdf_intercepts == 0
                    && i.wp_pages == 0
                    && i.regions == 0
                    && i.refs == 1 =>
            {
                Ok(())
            }
            Ok(i) => Err(describe(&i)),
            Err(e) => Err(e.to_string()),
        },
    );
}

/// The counters of a VM, for messages.
pub fn describe(i: &VmInfo) -> String {
    format!(
        "clients {}, ranges {}, bdf intercepts {}, wp pages {}, regions {}, refs {}, requests {}, msis {}",
        i.clients, i.ranges, i.bdf_intercepts, i.wp_pages, i.regions, i.refs, i.requests, i.msi_total
    )
}

fn probe_checks<V: VhmIo>(
    c: &mut Checks,
    t: &mut AcrnTransport<V>,
    id: Option<u32>,
    s: Sizes,
) -> bool {
    let report = probe::probe(t);
    let detail = t.last_error.take();
    let r = match report {
        Err(e) => {
            c.fail(
                "probe",
                format!(
                    "{e:?}{}",
                    detail.map(|d| format!(" ({d})")).unwrap_or_default()
                ),
            );
            return false;
        }
        Ok(r) => r,
    };
    c.pass("probe");
    c.expect(
        "pvinfo vgt_id is vmN/vgpu_id",
        id.is_none_or(|id| id == r.vgt_id) && r.vgt_id > 0,
        || format!("PVINFO {}, sysfs {id:?}", r.vgt_id),
    );
    c.expect("bar0 size 16 MiB", r.bar0_size == BAR0_SIZE, || {
        format!("{:#x}", r.bar0_size)
    });
    c.expect(
        "bar2 size is the aperture",
        r.bar2_size >= u64::from(s.low_mb) << 20 && r.bar2_size.is_power_of_two(),
        || format!("{:#x}", r.bar2_size),
    );
    c.expect(
        "pvinfo mappable size",
        u64::from(r.mappable.1) == u64::from(s.low_mb) << 20,
        || format!("PVINFO {:#x}, asked {} MiB", r.mappable.1, s.low_mb),
    );
    c.expect(
        "pvinfo non-mappable size",
        u64::from(r.nonmappable.1) == u64::from(s.high_mb) << 20,
        || format!("PVINFO {:#x}, asked {} MiB", r.nonmappable.1, s.high_mb),
    );
    c.expect("pvinfo fence count", r.fences == s.fences, || {
        format!("PVINFO {}, asked {}", r.fences, s.fences)
    });
    let again = t.read32(field::VGT_ID);
    c.check(
        "pvinfo stable",
        match again {
            Ok(v) if v == r.vgt_id => Ok(()),
            Ok(v) => Err(format!("vgt_id now {v}, was {}", r.vgt_id)),
            Err(e) => Err(format!("{e:?} {}", t.last_error.take().unwrap_or_default())),
        },
    );
    true
}

/// `run VMID [LOW HIGH FENCES]`: ACRN-DM's sequence.
pub fn run(vmid: u32, s: Sizes, tag: Option<String>) -> Checks {
    let mut c = Checks::tagged(tag);
    let Some(vhm) = open(&mut c) else { return c };
    if !create_vm(&mut c, &vhm, vmid) {
        return c;
    }
    let id = create_instance(&mut c, vmid, s);
    if id.is_some() {
        c.check(
            "acrngt attached an ioreq client for 00:02.0",
            match vhm.info(vmid) {
                Ok(i) if i.clients == 1 && i.bdf_intercepts == 1 => Ok(()),
                Ok(i) => Err(describe(&i)),
                Err(e) => Err(e.to_string()),
            },
        );
        let mut vm = vhm.vm(vmid);
        vm.timeout_ms = TIMEOUT_MS;
        let mut t = AcrnTransport::new(vm);
        let t0 = Instant::now();
        let probed = probe_checks(&mut c, &mut t, id, s);
        let probe_ms = t0.elapsed().as_millis();
        if probed {
            if let Ok(i) = vhm.info(vmid) {
                println!(
                    "gvt-acrn-client: vm {vmid} after the probe: {}",
                    describe(&i)
                );
            }
            c.check(
                "vgpu_bar_info: the BARs where the guest put them, 16 MiB and the aperture",
                match control::bar_info(vmid) {
                    Ok([b0, s0, b2, s2])
                        if b0 == probe::BAR0_GPA
                            && s0 == BAR0_SIZE
                            && b2 == probe::BAR2_GPA
                            && s2.is_power_of_two()
                            && s2 >= u64::from(s.low_mb) << 20 =>
                    {
                        Ok(())
                    }
                    Ok(b) => Err(format!("{b:#x?}")),
                    Err(e) => Err(e),
                },
            );
            c.check(
                "BAR0 trapped once memory decode is on",
                match vhm.info(vmid) {
                    Ok(i) if i.ranges >= 1 => Ok(()),
                    Ok(i) => Err(describe(&i)),
                    Err(e) => Err(e.to_string()),
                },
            );
        }
        ram_round_trip(&mut c, &mut t);
        if probed {
            let detail = |t: &mut AcrnTransport<_>| t.last_error.take();
            let rounds = vfio_client::workloads::ROUNDS;
            if let Some(mut g) =
                vfio_client::workloads::run_rounds(&mut c, &mut t, RAM_SIZE, vmid, rounds, &detail)
            {
                // The guest's page tables were write-protected through write_protect_page and
                // its PTE updates came to gvt.ko as REQ_WP requests.
                let (wp0, pages0) = (t.wp_requests, vhm.info(vmid).map(|i| i.wp_pages));
                c.check(
                    "page tables write-protected, PTE writes trapped as REQ_WP",
                    match (&pages0, wp0) {
                        (Ok(p), wp) if *p > 0 && wp > 0 => Ok(()),
                        (Ok(p), wp) => Err(format!("{p} pages, {wp} WP requests")),
                        (Err(e), _) => Err(e.to_string()),
                    },
                );
                let pages0 = pages0.unwrap_or(0);
                // Rebinding the whole buffer: after a few trapped writes gvt.ko lifts the
                // table's protection (out of sync); the next submission restores it.
                let oos = u64::from(gvt::model::ppgtt::OOS_WRITES);
                vfio_client::workloads::rebind_round(
                    &mut c,
                    &mut t,
                    &mut g,
                    rounds,
                    |c, t| {
                        let wp = t.wp_requests.wrapping_sub(wp0);
                        c.check("a buffer rebound whole: its page table out of sync after a few REQ_WP", match vhm.info(vmid) {
                        Ok(i) if wp == oos && i.wp_pages.checked_add(1) == Some(pages0) => Ok(()),
                        Ok(i) => Err(format!("{wp} WP requests (want {oos}), {} protected pages (was {pages0})", i.wp_pages)),
                        Err(e) => Err(e.to_string()),
                    });
                    },
                    &detail,
                );
                c.check(
                    "the next submission protected the page table again",
                    match vhm.info(vmid) {
                        Ok(i) if i.wp_pages == pages0 => Ok(()),
                        Ok(i) => Err(format!("{} protected pages (was {pages0})", i.wp_pages)),
                        Err(e) => Err(e.to_string()),
                    },
                );
            }
        }
        if let (true, Some(id)) = (probed, id) {
            // What an integrator sees of a running VM; read here, before the destroy.
            let path = control::ioreq_debugfs(id);
            let view = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"));
            if let Ok(v) = &view {
                print!("gvt-acrn-client: vm {vmid}: {path}:\n{v}");
            }
            let bar0 = (probe::BAR0_GPA, probe::BAR0_GPA.wrapping_add(BAR0_SIZE - 1));
            c.check(
                "debugfs acrngt_ioreq: client attached, BAR0 trapped, requests served",
                view.and_then(|v| control::check_ioreq_view(&v, vmid, bar0)),
            );
        }
        c.check(
            "no ioreq timed out or failed",
            match t.last_error.take() {
                None => Ok(()),
                Some(e) => Err(e),
            },
        );
        println!(
            "gvt-acrn-client: vm {vmid}: probe and checks in {probe_ms} ms, {} ioreqs in all",
            t.ioreqs
        );
        destroy_instance(&mut c, vmid);
        check_released(&mut c, &vhm, vmid);
        let mut r = Request::pcicfg(0, uapi::READ, 0, 4, 0);
        c.check(
            "ioreq after destroy is unclaimed (ENODEV)",
            control::want_errno(t.vhm().request(&mut r), libc::ENODEV),
        );
    }
    c.check(
        "vhm_sim destroy VM",
        vhm.destroy_vm(vmid).map_err(|e| control::errno_name(&e)),
    );
    c
}

fn ram_round_trip<V: VhmIo>(c: &mut Checks, t: &mut AcrnTransport<V>) {
    use guest_model::Transport;
    let pattern: Vec<u8> = (0..=255u8).cycle().take(6000).collect();
    let gpa = 0x3_0800;
    let mut back = vec![0u8; pattern.len()];
    let r = t
        .ram_write(gpa, &pattern)
        .and_then(|()| t.ram_read(gpa, &mut back));
    c.check(
        "guest RAM through the VHM",
        match r {
            Ok(()) if back == pattern => Ok(()),
            Ok(()) => Err("read back differs".to_string()),
            Err(e) => Err(format!("{e:?} {}", t.last_error.take().unwrap_or_default())),
        },
    );
}

/// `bench VMID N`: the round trip of an ioreq (vCPU → VHM → acrngt's thread → gvt.ko → back).
pub fn bench(vmid: u32, n: u32, tag: Option<&str>) -> Result<(), String> {
    let vhm = Vhm::open().map_err(|e| format!("{}: {e}", crate::vhm::DEVICE))?;
    vhm.create_vm(vmid, RAM_SIZE, VCPUS)
        .map_err(|e| format!("create VM {vmid}: {e}"))?;
    control::write_control(control::create_text(vmid, control::DEFAULT_SIZES).as_bytes())
        .map_err(|e| format!("create_gvt_instance: {e}"))?;
    let mut vm = vhm.vm(vmid);
    vm.timeout_ms = TIMEOUT_MS;
    let mut t = AcrnTransport::new(vm);
    let result = bench_runs(&mut t, n, tag);
    let destroyed = control::write_control(control::destroy_text(vmid).as_bytes())
        .map_err(|e| format!("destroy: {e}"));
    vhm.destroy_vm(vmid)
        .map_err(|e| format!("destroy VM: {e}"))?;
    result.and(destroyed)
}

fn bench_runs<V: VhmIo>(t: &mut AcrnTransport<V>, n: u32, tag: Option<&str>) -> Result<(), String> {
    probe::pci_setup(t).map_err(|e| {
        format!(
            "pci setup: {e:?} {}",
            t.last_error.take().unwrap_or_default()
        )
    })?;
    let bar0 = t.bar0().map_err(|e| format!("BAR0: {e:?}"))?;
    let tag = tag.map(|t| format!("{t}, ")).unwrap_or_default();
    let print = |what: &str, t: Timing| {
        println!(
            "ioreq round trip: {} ns/op median, {} ns mean, {} ns p90 ({tag}{what}, {n} ops)",
            t.median, t.mean, t.p90
        );
    };
    let unclaimed = time_per_op(n, || {
        let mut r = Request::pcicfg(0, uapi::READ, 0, 4, 0);
        r.dev = 3;
        match t.vhm().request(&mut r) {
            Err(e) if e.raw_os_error() == Some(libc::ENODEV) => Ok(()),
            Err(e) => Err(format!("unclaimed request: {e}")),
            Ok(()) => Err("a request for 00:03.0 was claimed".into()),
        }
    })?;
    print("unclaimed, VHM only", unclaimed);
    let cfg = time_per_op(n, || one(t, Request::pcicfg(0, uapi::READ, 0, 4, 0)))?;
    print("config read, 4 bytes", cfg);
    let mmio = time_per_op(n, || {
        one(
            t,
            Request::mmio(
                0,
                uapi::READ,
                bar0.wrapping_add(u64::from(field::VGT_ID)),
                4,
                0,
            ),
        )
    })?;
    print("BAR0 PVINFO read, 4 bytes", mmio);
    let mmio8 = time_per_op(n, || {
        one(
            t,
            Request::mmio(
                0,
                uapi::READ,
                bar0.wrapping_add(u64::from(field::MAGIC)),
                8,
                0,
            ),
        )
    })?;
    print("BAR0 PVINFO magic read, 8 bytes", mmio8);
    Ok(())
}

fn one<V: VhmIo>(t: &mut AcrnTransport<V>, mut r: Request) -> Result<(), String> {
    t.vhm()
        .request(&mut r)
        .map_err(|e: io::Error| format!("{r:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::FakeVhm;

    #[test]
    fn probe_checks_pass_on_the_device_model() {
        FakeVhm::with(|f| {
            let mut t = AcrnTransport::new(f);
            let mut c = Checks::default();
            // The fake's vGPU is a V5_8: 64 MiB mappable, 384 MiB non-mappable, 4 fences.
            assert!(probe_checks(
                &mut c,
                &mut t,
                None,
                Sizes {
                    low_mb: 64,
                    high_mb: 384,
                    fences: 4
                }
            ));
            ram_round_trip(&mut c, &mut t);
            assert_eq!(c.failed, 0);
            assert!(c.passed >= 8);
        });
    }

    #[test]
    fn bench_runs_on_the_device_model() {
        FakeVhm::with(|f| {
            let mut t = AcrnTransport::new(f);
            bench_runs(&mut t, 5, Some("x")).unwrap();
        });
    }
}
