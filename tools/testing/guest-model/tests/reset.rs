//! i915 6.12's reset sequences (gt/intel_reset.c) from the guest, against a vGPU that runs
//! normally and against one in failsafe: the engine handshake, GDRST domains, the GuC reset,
//! STOP_RING, and a full reset taking the vGPU out of failsafe without opening its partition.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::cast_possible_truncation
)]

use guest_model::direct::Direct;
use guest_model::hv::MemHypervisor;
use guest_model::probe;
use guest_model::storage::{vec_storage, VecStorage};
use guest_model::{sim_host, Transport, TransportExt};
use gvt::model::gvt::Gvt;
use gvt::model::host::{HostGpu, HostInfo, CFG_SPACE_SIZE};
use gvt::model::pvinfo::field;
use gvt::model::regs::*;
use gvt::model::report::Cause;
use gvt::model::vgpu::{Failsafe, Vgpu, GEN8_PAGE_PRESENT, GGTT_MMIO_OFFSET};
use gvt::model::vgpu_type::find_type;

fn create(gvt: &mut Gvt, host: &dyn HostGpu) -> Vgpu<VecStorage> {
    let cfg = find_type("GVTg_V5_8").unwrap().config;
    let n = Gvt::ggtt_entries_for(&cfg).unwrap();
    let mut v = gvt
        .create_vgpu(host, &cfg, vec_storage(n))
        .map_err(|(e, _)| e)
        .unwrap();
    v.activate();
    v
}

/// A vGPU whose guest probed it, as the stock i915 does.
fn probed(gvt: &mut Gvt, host: &dyn HostGpu, hv: &mut MemHypervisor) -> Vgpu<VecStorage> {
    let mut v = create(gvt, host);
    probe::probe(&mut Direct::new(&mut v, host, hv)).expect("probe");
    assert_eq!(v.failsafe(), None);
    v
}

/// The guest submits twice on `engine`'s ELSP without the first being taken (there is no
/// execution side here): a guest error, which names the engine.
fn guest_error(t: &mut Direct<'_>, engine: Engine) {
    for _ in 0..8 {
        t.write32(RING_ELSP::offset(engine.base()), 0x1000).unwrap();
    }
    assert_eq!(t.vgpu.failsafe(), Some(Failsafe::GuestError));
    let cause = t.vgpu.failsafe_cause();
    assert_eq!(cause, Some(Cause::ElspOverrun { engine }));
    assert_eq!(
        cause.map(|c| c.to_string()),
        Some(format!(
            "ELSP written while a submission was pending on {}",
            engine.name()
        ))
    );
}

/// A host whose register snapshot was taken with its engines busy (i915 takes it from the
/// hardware when it hands the GPU over): no MODE_IDLE, and a catastrophic-error bit latched.
struct BusyHost<H>(H);

impl<H: HostGpu> HostGpu for BusyHost<H> {
    fn info(&self) -> &HostInfo {
        self.0.info()
    }
    fn cfg_snapshot(&self) -> &[u8; CFG_SPACE_SIZE] {
        self.0.cfg_snapshot()
    }
    fn mmio_snapshot(&self, first_dword: usize, dst: &mut [u32]) {
        self.0.mmio_snapshot(first_dword, dst);
        for e in Engine::ALL {
            let fix = [
                (
                    RING_MI_MODE::offset(e.base()),
                    RING_MI_MODE::MODE_IDLE.mask(),
                    0,
                ),
                (
                    RING_RESET_CTL::offset(e.base()),
                    0,
                    RING_RESET_CTL::RESET_CTL_CAT_ERROR.mask(),
                ),
            ];
            for (off, clear, set) in fix {
                if let Some(d) = ((off / 4) as usize)
                    .checked_sub(first_dword)
                    .and_then(|i| dst.get_mut(i))
                {
                    *d = (*d & !clear) | set;
                }
            }
        }
    }
    fn ggtt_read(&self, index: u64) -> u64 {
        self.0.ggtt_read(index)
    }
    fn ggtt_write(&self, index: u64, pte: u64) {
        self.0.ggtt_write(index, pte)
    }
    fn ggtt_flush(&self) {
        self.0.ggtt_flush()
    }
    fn fence_write(&self, index: u32, value: u64) {
        self.0.fence_write(index, value)
    }
}

#[test]
fn every_engine_resets_with_the_handshake() {
    let host = sim_host();
    let mut gvt = Gvt::new(&host).unwrap();
    let mut hv = MemHypervisor::new(1, 16 << 20);
    let mut v = probed(&mut gvt, &host, &mut hv);
    let mut t = Direct::new(&mut v, &host, &mut hv);
    for e in Engine::ALL {
        probe::engine_reset(&mut t, e).unwrap_or_else(|err| panic!("{e:?}: {err:?}"));
        let ctl = RING_RESET_CTL(t.read32(RING_RESET_CTL::offset(e.base())).unwrap());
        assert!(
            !ctl.is_set(RING_RESET_CTL::RESET_CTL_READY_TO_RESET),
            "{e:?}: cancel clears ready"
        );
        assert!(
            !ctl.is_set(RING_RESET_CTL::RESET_CTL_REQUEST_RESET),
            "{e:?}"
        );
    }
    assert_eq!(t.read32(GEN6_GDRST::OFFSET).unwrap(), 0);
    probe::reset_guc(&mut t).expect("GRDOM_GUC self-clears without GuC submission");
    probe::intel_gt_reset(&mut t, probe::all_engines()).expect("full reset");
    assert_eq!(t.vgpu.failsafe(), None);
}

#[test]
fn resets_complete_whatever_state_the_host_snapshot_caught() {
    // The vGPU's engines never run a ring of their own and never have a catastrophic error:
    // MODE_IDLE and CAT_ERROR are the device model's, not the snapshot's.
    let host = BusyHost(sim_host());
    let mut gvt = Gvt::new(&host).unwrap();
    let mut hv = MemHypervisor::new(1, 16 << 20);
    let mut v = probed(&mut gvt, &host, &mut hv);
    let mut t = Direct::new(&mut v, &host, &mut hv);
    for e in Engine::ALL {
        probe::engine_reset(&mut t, e).unwrap_or_else(|err| panic!("{e:?}: {err:?}"));
    }
    probe::stop_engines(&mut t).expect("STOP_RING -> IDLE at once");
    assert_eq!(t.vgpu.failsafe(), None);
}

#[test]
fn failsafe_vgpu_answers_engine_and_guc_resets() {
    let host = sim_host();
    let mut gvt = Gvt::new(&host).unwrap();
    let mut hv = MemHypervisor::new(1, 16 << 20);
    let mut v = probed(&mut gvt, &host, &mut hv);
    let mut t = Direct::new(&mut v, &host, &mut hv);
    guest_error(&mut t, Engine::Vcs);
    for e in Engine::ALL {
        probe::engine_reset(&mut t, e).unwrap_or_else(|err| panic!("{e:?}: {err:?}"));
        let ctl = RING_RESET_CTL(t.read32(RING_RESET_CTL::offset(e.base())).unwrap());
        assert!(
            !ctl.is_set(RING_RESET_CTL::RESET_CTL_READY_TO_RESET),
            "{e:?}"
        );
    }
    probe::reset_guc(&mut t).expect("intel_reset_guc in failsafe");
    assert_eq!(t.read32(GEN6_GDRST::OFFSET).unwrap(), 0);
    // An engine reset is no way out of failsafe: only a full one (or the device model's).
    assert_eq!(t.vgpu.failsafe(), Some(Failsafe::GuestError));
    assert_eq!(t.vgpu.stats().failsafe_guest_resets, 0);
}

#[test]
fn full_reset_from_the_guest_leaves_failsafe_clean() {
    let host = sim_host();
    let mut gvt = Gvt::new(&host).unwrap();
    let mut hv = MemHypervisor::new(1, 16 << 20);
    let mut v = probed(&mut gvt, &host, &mut hv);
    let mut t = Direct::new(&mut v, &host, &mut hv);
    let chicken = 0x7004; // CACHE_MODE_1, an engine-range register
    t.write32(chicken, masked_bit_enable(0x40)).unwrap();
    guest_error(&mut t, Engine::Rcs);
    // In failsafe a write is plain storage: the mask half lands in the register.
    t.write32(chicken, masked_bit_enable(0x80)).unwrap();
    t.write32(field::MAGIC, 0).unwrap();
    probe::gt_reset(&mut t).expect("i915's full, GuC and engine resets");
    assert_eq!((t.vgpu.failsafe(), t.vgpu.failsafe_cause()), (None, None));
    assert_eq!(
        t.vgpu.stats().failsafe_guest_resets,
        1,
        "the glue logs it once"
    );
    assert_eq!(
        t.read32(chicken).unwrap(),
        0,
        "engine registers back to the snapshot"
    );
    assert_eq!(t.vgpu.vreg(field::MAGIC), 0x7654_4776, "PVINFO rebuilt");
    assert!(t.vgpu.pv_notified());
    // The submission latched before failsafe was dropped: a new one is no overrun.
    for _ in 0..4 {
        t.write32(RING_ELSP::offset(RENDER_RING_BASE), 0x1000)
            .unwrap();
    }
    assert_eq!(t.vgpu.failsafe(), None);
    // A second full reset out of normal mode is not counted.
    probe::intel_gt_reset(&mut t, probe::all_engines()).unwrap();
    assert_eq!(t.vgpu.stats().failsafe_guest_resets, 1);
}

#[test]
fn leaving_failsafe_by_a_guest_reset_keeps_the_partition() {
    let host = sim_host();
    let mut gvt = Gvt::new(&host).unwrap();
    let mut hv = MemHypervisor::new(1, 16 << 20);
    let mut v = probed(&mut gvt, &host, &mut hv);
    let part = *v.partition();
    let mut t = Direct::new(&mut v, &host, &mut hv);
    guest_error(&mut t, Engine::Rcs);
    // What the guest writes in failsafe reaches nothing on the host.
    let mine = part.high.start / 4096 + 3;
    let gfn = 0x345u64;
    let before = host.ggtt_read(mine);
    t.mmio_write(
        GGTT_MMIO_OFFSET + mine * 8,
        &((gfn << 12) | GEN8_PAGE_PRESENT).to_le_bytes(),
    )
    .unwrap();
    let theirs = part.high.end() / 4096 + 1; // past the partition: another vGPU's or the host's
    let theirs_before = host.ggtt_read(theirs);
    t.mmio_write(
        GGTT_MMIO_OFFSET + theirs * 8,
        &((gfn << 12) | GEN8_PAGE_PRESENT).to_le_bytes(),
    )
    .unwrap();
    // Fence 1 over the whole aperture, fence 2 over the vGPU's own first page.
    t.write32(FENCE_REG_GEN6_LO::OFFSET + 8 + 4, 0xffff_f000)
        .unwrap();
    t.write32(FENCE_REG_GEN6_LO::OFFSET + 8, 1).unwrap();
    let low = part.low.start as u32;
    t.write32(FENCE_REG_GEN6_LO::OFFSET + 16 + 4, low).unwrap();
    t.write32(FENCE_REG_GEN6_LO::OFFSET + 16, low | 1).unwrap();
    let hws = RING_HWS_PGA::offset(RENDER_RING_BASE);
    t.write32(hws, 0x1000).unwrap(); // the host's graphics memory
    assert_eq!(host.ggtt_read(mine), before);
    let fence = |n: u64| host.fence(u32::try_from(part.fences.start + n).unwrap());
    assert_eq!((fence(1), fence(2)), (0, 0));
    let violations = t.vgpu.stats().fence_violations;
    probe::intel_gt_reset(&mut t, probe::all_engines()).unwrap();
    assert_eq!(t.vgpu.failsafe(), None);
    // The guest's own entry and fence now reach the host, through the usual checks: the entry
    // mapped through the hypervisor, the fence inside the vGPU's aperture.
    assert_eq!(host.ggtt_read(mine), t.hv.dma_of(gfn) | GEN8_PAGE_PRESENT);
    assert_eq!(fence(2), (u64::from(low) << 32) | u64::from(low | 1));
    // What was never the vGPU's stays out of reach.
    assert_eq!(host.ggtt_read(theirs), theirs_before);
    assert_eq!(fence(1), 0);
    assert!(t.vgpu.stats().fence_violations > violations);
    assert_ne!(
        t.read32(hws).unwrap(),
        0x1000,
        "the engine range came back from the snapshot"
    );
}

#[test]
fn unaware_guest_can_reset_but_goes_failsafe_again() {
    let host = sim_host();
    let mut gvt = Gvt::new(&host).unwrap();
    let mut hv = MemHypervisor::new(1, 16 << 20);
    let mut v = create(&mut gvt, &host);
    let mut t = Direct::new(&mut v, &host, &mut hv);
    probe::pci_setup(&mut t).unwrap();
    // Execlists without PVINFO: not a GVT-aware guest.
    t.write32(
        RING_MODE_GEN7::offset(RENDER_RING_BASE),
        masked_bit_enable(1 << 15),
    )
    .unwrap();
    assert_eq!(t.vgpu.failsafe(), Some(Failsafe::UnsupportedGuest));
    // Such a guest has forcewake (i915 skips it only on a vGPU it knows of) and resets.
    probe::forcewake(&mut t).expect("forcewake acks in failsafe");
    probe::stop_engines(&mut t).expect("STOP_RING -> IDLE in failsafe");
    probe::intel_gt_reset(&mut t, probe::all_engines()).expect("full reset in failsafe");
    assert_eq!(t.vgpu.failsafe(), None);
    // The reset does not make it GVT-aware: the same step puts it back in failsafe.
    t.write32(
        RING_MODE_GEN7::offset(RENDER_RING_BASE),
        masked_bit_enable(1 << 15),
    )
    .unwrap();
    assert_eq!(t.vgpu.failsafe(), Some(Failsafe::UnsupportedGuest));
    assert_eq!(t.vgpu.stats().failsafe_guest_resets, 1);
}
