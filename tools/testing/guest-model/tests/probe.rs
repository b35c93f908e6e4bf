//! The guest i915 probe against the core, on one vGPU and on sixteen, plus life-cycle, reset,
//! config-space, interrupt and GGTT checks seen from the guest.
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
use guest_model::modeset::{self, Output};
use guest_model::probe::{
    self, BAR0_GPA, BAR2_GPA, GGTT_PAGES, GGTT_PAGES_GPA, MSI_ADDR, MSI_DATA,
};
use guest_model::storage::{vec_storage, VecStorage};
use guest_model::{platform, sim_host, Transport, TransportExt};
use gvt::model::error::GvtError;
use gvt::model::gvt::Gvt;
use gvt::model::host::HostGpu;
use gvt::model::irq::Event;
use gvt::model::pvinfo::field;
use gvt::model::regs::*;
use gvt::model::vgpu::{Failsafe, Reset, Vgpu, GGTT_MMIO_OFFSET};
use gvt::model::vgpu_type::{find_type, VgpuConfig};

fn v5_8() -> VgpuConfig {
    find_type("GVTg_V5_8").unwrap().config
}

fn create(gvt: &mut Gvt, host: &dyn HostGpu, cfg: &VgpuConfig) -> Vgpu<VecStorage> {
    let n = Gvt::ggtt_entries_for(cfg).unwrap();
    gvt.create_vgpu(host, cfg, vec_storage(n))
        .map_err(|(e, _)| e)
        .unwrap()
}

fn check_probe(v: &mut Vgpu<VecStorage>, host: &dyn HostGpu, hv: &mut MemHypervisor) {
    v.activate();
    let mut t = Direct::new(v, host, hv);
    let r = probe::probe(&mut t).expect("probe");
    assert_eq!(r.bar0_size, 16 << 20);
    assert_eq!(r.bar2_size, 1 << 30);
    let part = *t.vgpu.partition();
    assert_eq!(r.vgt_id, t.vgpu.id().get());
    assert_eq!(u64::from(r.mappable.0), part.low.start);
    assert_eq!(u64::from(r.nonmappable.1), part.high.size);
    assert_eq!(u64::from(r.fences), part.fences.size);
    assert!(t.vgpu.pv_notified() && t.vgpu.display_ready() && t.vgpu.failsafe().is_none());
    // The GGTT entries landed in the host, pointing at this VM's DMA pages.
    let first = part.low.start / 4096;
    for i in 0..GGTT_PAGES {
        let gfn = (GGTT_PAGES_GPA >> 12) + i;
        assert_eq!(host.ggtt_read(first + i), t.hv.dma_of(gfn) | 1);
    }
    // BAR0 trapped and the aperture slice mapped, exactly once each.
    assert_eq!(t.hv.traps, vec![(BAR0_GPA, BAR0_GPA + (16 << 20), true)]);
    assert_eq!(
        t.hv.aperture_maps,
        vec![(
            (BAR2_GPA + part.low.start) >> 12,
            (host.info().aperture_pa + part.low.start) >> 12,
            part.low.size >> 12,
            true
        )]
    );
    // Every trap of the probe is counted by kind; no page is write-protected yet.
    let s = *t.vgpu.stats();
    assert!(
        s.cfg_reads > 0 && s.cfg_writes > 0 && s.mmio_reads > 0 && s.mmio_writes > 0,
        "{s:?}"
    );
    assert!(s.ggtt_writes >= GGTT_PAGES, "{s:?}");
    assert_eq!(s.page_track_writes, 0);
    // An interrupt arrives after setup.
    t.vgpu.raise_event(t.hv, Event::RcsMiUserInterrupt).unwrap();
    assert_eq!(
        t.wait_msi(),
        Some((u64::from(MSI_ADDR), u32::from(MSI_DATA)))
    );
    assert_eq!(t.wait_msi(), None);
}

#[test]
fn probe_passes_on_one_vgpu() {
    let host = sim_host();
    let mut gvt = Gvt::new(&host).unwrap();
    let mut v = create(&mut gvt, &host, &v5_8());
    let mut hv = MemHypervisor::new(1, 16 << 20);
    check_probe(&mut v, &host, &mut hv);
    // Fence 0 is this vGPU's first host fence.
    let f = host.fence(u32::try_from(v.partition().fences.start).unwrap());
    assert_eq!(f as u32, (v.partition().low.start as u32) | 1);
    let store = gvt.destroy_vgpu(&host, &mut hv, v);
    assert_eq!(hv.mapped_pages(), 0, "destroy drops every DMA mapping");
    assert_eq!(gvt.vgpu_count(), 0);
    drop(store);
}

#[test]
fn probe_passes_on_sixteen_vgpus() {
    let host = sim_host();
    let mut gvt = Gvt::new(&host).unwrap();
    let cfg = Gvt::acrn_config(32, 64, 1).unwrap();
    assert!(gvt.available(&cfg) >= 16);
    let mut vgpus: Vec<_> = (0..16).map(|_| create(&mut gvt, &host, &cfg)).collect();
    let mut hvs: Vec<_> = (1..=16).map(|i| MemHypervisor::new(i, 16 << 20)).collect();
    for (v, hv) in vgpus.iter_mut().zip(hvs.iter_mut()) {
        check_probe(v, &host, hv);
    }
    let ids: std::collections::BTreeSet<_> = vgpus.iter().map(|v| v.id().get()).collect();
    assert_eq!(ids.len(), 16);
}

/// i915 sizes its GGTT from GMCH's GGMS and refuses ballooning past it: every vGPU of every
/// type, the GPU filled up so that one sits at the top of graphics memory, passes; the same
/// ranges under the 1 GiB GGTT that GGMS = 1 describes are refused, as a stock i915 refused
/// them ("Invalid ballooning configuration!").
#[test]
fn ballooning_fits_the_ggtt_that_gmch_describes() {
    use gvt::model::vgpu_type::VGPU_TYPES;
    let host = sim_host();
    for ty in VGPU_TYPES {
        let mut gvt = Gvt::new(&host).unwrap();
        let n = gvt.available(&ty.config);
        assert!(n > 0, "{} fits", ty.name);
        let mut vgpus: Vec<_> = (0..n)
            .map(|_| create(&mut gvt, &host, &ty.config))
            .collect();
        let mut top = 0;
        for (i, v) in vgpus.iter_mut().enumerate() {
            let mut hv = MemHypervisor::new(i as u64 + 1, 16 << 20);
            let mut t = Direct::new(v, &host, &mut hv);
            let (_, bar2) = probe::pci_setup(&mut t).unwrap();
            let total = probe::ggtt_total(&mut t).unwrap();
            assert_eq!(total, host.info().gm_size, "GGMS describes the whole GGTT");
            let (_, _, n, _) = probe::pvinfo(&mut t, bar2, total).expect("ballooning accepted");
            top = top.max(u64::from(n.0) + u64::from(n.1));
            assert_eq!(
                probe::pvinfo(&mut t, bar2, 1 << 30).err(),
                (u64::from(n.0) + u64::from(n.1) > 1 << 30).then_some(guest_model::Error::Probe(
                    "Invalid ballooning configuration! (-EINVAL)"
                ))
            );
        }
        assert!(top > 1 << 30, "{}: some vGPU lies above 1 GiB", ty.name);
    }
}

/// The VBT describes the ports the vGPU has: the monitor's, and no port the platform lacks (a
/// stock i915 on Broxton warned "Platform does not support port D" at the four ports A-D).
#[test]
fn vbt_describes_only_the_monitors_port() {
    use gvt::model::display::monitor_port;
    for p in gvt::model::hw::PLATFORMS {
        // Broxton has DDI A-C, the big cores A-E.
        let (info, valid) = (
            gvt::sim::info(p),
            if p.hw().lp { 0b111u32 } else { 0b11111 },
        );
        let ggtt = (0..gvt::sim::ggtt_entries(&info))
            .map(|_| std::sync::atomic::AtomicU64::new(0))
            .collect::<Box<[_]>>();
        let host = gvt::sim::SimHost::new(info, ggtt).unwrap();
        let mut gvt = Gvt::new(&host).unwrap();
        let v = create(&mut gvt, &host, &v5_8());
        let ports = probe::vbt_ddi_ports(v.opregion()).expect("a VBT i915 can parse");
        assert_eq!(ports & !valid, 0, "{:?}: ports {ports:#b}", info.platform);
        assert_eq!(
            ports,
            1 << monitor_port(info.platform),
            "{:?}",
            info.platform
        );
    }
}

#[test]
fn creation_that_cannot_fit_changes_nothing() {
    let host = sim_host();
    let mut gvt = Gvt::new(&host).unwrap();
    let big = find_type("GVTg_V5_1").unwrap().config;
    let before = gvt.available(&v5_8());
    let _a = create(&mut gvt, &host, &big);
    let n = Gvt::ggtt_entries_for(&big).unwrap();
    let (e, store) = gvt
        .create_vgpu(&host, &big, vec_storage(n))
        .map(|_| ())
        .unwrap_err();
    assert_eq!(e, GvtError::NoSpace);
    drop(store);
    assert_eq!(gvt.vgpu_count(), 1);
    // Wrong storage size: refused, slot not leaked.
    let (e, _) = gvt
        .create_vgpu(&host, &v5_8(), vec_storage(3))
        .map(|_| ())
        .unwrap_err();
    assert_eq!(e, GvtError::Invalid);
    assert_eq!(gvt.vgpu_count(), 1);
    assert!(gvt.available(&v5_8()) < before);
    assert_eq!(Gvt::acrn_config(0, 64, 1), Err(GvtError::Invalid));
    assert_eq!(Gvt::acrn_config(u64::MAX, 64, 1), Err(GvtError::Invalid));
}

#[test]
fn guest_that_skips_pvinfo_goes_failsafe_and_stops_reaching_the_host() {
    let host = sim_host();
    let mut gvt = Gvt::new(&host).unwrap();
    let mut v = create(&mut gvt, &host, &v5_8());
    let mut hv = MemHypervisor::new(1, 16 << 20);
    let mut t = Direct::new(&mut v, &host, &mut hv);
    probe::pci_setup(&mut t).unwrap();
    // Enabling execlists without having read PVINFO: not a GVT-aware guest.
    t.write32(
        RING_MODE_GEN7::offset(RENDER_RING_BASE),
        masked_bit_enable(1 << 15),
    )
    .unwrap();
    assert_eq!(t.vgpu.failsafe(), Some(Failsafe::UnsupportedGuest));
    let first = t.vgpu.partition().low.start / 4096;
    let before = host.ggtt_read(first);
    t.mmio_write(GGTT_MMIO_OFFSET + first * 8, &0x1001u64.to_le_bytes())
        .unwrap();
    assert_eq!(host.ggtt_read(first), before);
    // A device-model reset brings it back.
    let (vgpu, hv) = (&mut *t.vgpu, &mut *t.hv);
    vgpu.reset(&host, hv, Reset::DeviceModel).unwrap();
    assert_eq!(vgpu.failsafe(), None);
}

#[test]
fn resets_have_their_upstream_effects() {
    let host = sim_host();
    let mut gvt = Gvt::new(&host).unwrap();
    let mut v = create(&mut gvt, &host, &v5_8());
    let mut hv = MemHypervisor::new(1, 16 << 20);
    check_probe(&mut v, &host, &mut hv);
    let chicken = 0x7004u32; // CACHE_MODE_1, below 0x44200
    let irq_reg = 0x44304; // GT0 IMR, above
    v.mmio_write(
        &host,
        &mut hv,
        u64::from(chicken),
        &masked_bit_enable(0x40).to_le_bytes(),
    )
    .unwrap();
    assert_eq!(v.vreg(chicken), 0x40);
    // Per-engine GDRST: registers untouched.
    v.reset(&host, &mut hv, Reset::GdrstEngines(Engine::Rcs.mask()))
        .unwrap();
    assert_eq!(v.vreg(chicken), 0x40);
    // Full GDRST: the engine range returns to the snapshot, interrupts and GGTT stay.
    v.reset(&host, &mut hv, Reset::GdrstFull).unwrap();
    assert_eq!(v.vreg(chicken), 0);
    assert_eq!(v.vreg(irq_reg), !1);
    assert!(v.pv_notified());
    let first = v.partition().low.start / 4096;
    assert_eq!(host.ggtt_read(first) & 1, 1);
    // FLR: everything, including the GGTT (host entries back to scratch) and fences.
    v.reset(&host, &mut hv, Reset::Flr).unwrap();
    assert_eq!(v.vreg(irq_reg), 0);
    assert_eq!(host.ggtt_read(first), host.info().scratch_page);
    assert_eq!(hv.mapped_pages(), 0);
    assert_eq!(
        host.fence(u32::try_from(v.partition().fences.start).unwrap()),
        0
    );
    assert!(!v.pv_notified());
    assert_eq!(v.vreg(field::VGT_ID), v.id().get());
    let mut cmd = [0u8; 2];
    v.cfg_read(4, &mut cmd).unwrap();
    assert_eq!(cmd, [0, 0]);
    let o = Output {
        platform: platform(),
        port: platform().hw().display.monitor_port,
    };
    if o.lp() {
        // BXT sanitization: display PHYs off except PHY0, which the virtual monitor on port B
        // brings back up (upstream's display reset after the MMIO one).
        assert_eq!(v.vreg(BXT_P_CR_GT_DISP_PWRON::OFFSET), 1);
        assert_eq!(v.vreg(BXT_PORT_CL1CM_DW0_A::OFFSET) & (1 << 16), 0);
        assert_eq!(v.vreg(BXT_PORT_CL1CM_DW0_BC::OFFSET) & (1 << 16), 1 << 16);
    } else {
        // The big cores: the monitor's DDI back on DPLL1, DPLL0 back to the CD clock, the
        // monitor's PCH hotplug line up.
        assert_eq!(v.vreg(LCPLL1_CTL::OFFSET) >> 30, 3);
        assert_ne!(
            v.vreg(LCPLL2_CTL::OFFSET) & LCPLL1_CTL::LCPLL_PLL_ENABLE.mask(),
            0
        );
        let ctrl2 = v.vreg(gvt::model::display::regs::DPLL_CTRL2::OFFSET);
        assert_eq!((ctrl2 >> (o.port * 3)) & 7, (modeset::SKL_DP_DPLL << 1) | 1);
        assert_eq!(v.vreg(SDEISR::OFFSET) & o.hpd_bit(), o.hpd_bit());
    }
    // GuC in reset, core in C0.
    assert_eq!(v.vreg(GUC_STATUS::OFFSET) & 1, 1);
    assert_eq!(v.vreg(GEN6_GT_CORE_STATUS::OFFSET), 0);
}

#[test]
fn config_space_semantics() {
    let host = sim_host();
    let mut gvt = Gvt::new(&host).unwrap();
    let mut v = create(&mut gvt, &host, &v5_8());
    let mut hv = MemHypervisor::new(1, 16 << 20);
    let mut t = Direct::new(&mut v, &host, &mut hv);
    // Read-only identity.
    t.cfg_write32(0, 0x1234_5678).unwrap();
    assert_eq!(
        t.cfg_read32(0).unwrap(),
        (u32::from(platform().hw().sim.device) << 16) | 0x8086
    );
    // Writing zeros to STATUS changes nothing (its high byte is RW1C, tested in the core).
    t.cfg_write(6, &[0x00, 0x00]).unwrap();
    assert_eq!(t.cfg_read32(4).unwrap() >> 16, 0x0010);
    // ROM: no ROM, size 0.
    t.cfg_write32(0x30, 0xffff_f800).unwrap();
    assert_eq!(t.cfg_read32(0x30).unwrap(), 0);
    // BAR4: unimplemented, reads 0 after sizing.
    t.cfg_write32(0x20, u32::MAX).unwrap();
    assert_eq!(t.cfg_read32(0x20).unwrap(), 0);
    // Malformed accesses are refused.
    assert!(t.cfg_write(0x11, &[1, 2, 3, 4]).is_err());
    assert!(t.cfg_read(4095, &mut [0u8; 4]).is_err());
    assert!(t.cfg_write(0x10, &[0u8; 3]).is_err());
    // Decoding off again: the BAR is untrapped and the aperture unmapped.
    probe::pci_setup(&mut t).unwrap();
    t.cfg_write(4, &[0, 0]).unwrap();
    assert!(!t.hv.traps.last().unwrap().2);
    assert!(!t.hv.aperture_maps.last().unwrap().3);
    // PM: D3hot is remembered.
    t.cfg_write(0xd4, &[3, 0]).unwrap();
    assert!(t.vgpu.cfg().d3_entered);
}

#[test]
fn swsci_capability_query_through_the_opregion() {
    let host = sim_host();
    let mut gvt = Gvt::new(&host).unwrap();
    let mut v = create(&mut gvt, &host, &v5_8());
    let mut hv = MemHypervisor::new(1, 16 << 20);
    assert_eq!(&v.opregion()[..16], b"IntelGraphicsMem");
    let mut t = Direct::new(&mut v, &host, &mut hv);
    let asls = 0x8000u64;
    t.cfg_write32(0xfc, asls as u32).unwrap();
    t.ram_write(asls + 0x200, &((4u32 << 1) | 1).to_le_bytes())
        .unwrap();
    t.ram_write(asls + 0x204, &0xdeadu32.to_le_bytes()).unwrap();
    t.cfg_write32(0xe8, (1 << 15) | 1).unwrap();
    let mut b = [0u8; 4];
    t.ram_read(asls + 0x200, &mut b).unwrap();
    assert_eq!(u32::from_le_bytes(b), 0);
    t.ram_read(asls + 0x204, &mut b).unwrap();
    assert_eq!(u32::from_le_bytes(b), 0);
}

#[test]
fn msi_only_when_enabled_unmasked_pending_and_active() {
    let host = sim_host();
    let mut gvt = Gvt::new(&host).unwrap();
    let mut v = create(&mut gvt, &host, &v5_8());
    let mut hv = MemHypervisor::new(1, 16 << 20);
    let mut t = Direct::new(&mut v, &host, &mut hv);
    probe::pci_setup(&mut t).unwrap();
    probe::irq_setup(&mut t).unwrap();
    // Not active yet: nothing is delivered.
    t.vgpu.raise_event(t.hv, Event::RcsMiUserInterrupt).unwrap();
    assert_eq!(t.wait_msi(), None);
    t.vgpu.activate();
    // A masked event sets nothing, but the check it triggers delivers the user interrupt
    // still pending from before activation.
    t.vgpu.raise_event(t.hv, Event::RcsPipeControl).unwrap();
    assert!(t.wait_msi().is_some());
    assert_eq!(
        t.read32(0x44308).unwrap(),
        1,
        "masked PIPE_CONTROL not latched"
    );
    // The guest handler: master off, ack, master on. No new MSI since nothing is pending.
    t.write32(GEN8_MASTER_IRQ::OFFSET, 0).unwrap();
    t.write32(0x44308, 1).unwrap();
    t.write32(GEN8_MASTER_IRQ::OFFSET, 1 << 31).unwrap();
    assert_eq!(t.wait_msi(), None);
    // Late unmask: the guest masks, an event is dropped while masked, unmasking brings nothing;
    // an event while IER is off is latched and delivered when IER is enabled.
    t.write32(0x4430c, 0).unwrap();
    t.vgpu.raise_event(t.hv, Event::RcsMiUserInterrupt).unwrap();
    assert_eq!(t.wait_msi(), None);
    t.write32(0x4430c, 1).unwrap();
    assert!(t.wait_msi().is_some());
}

#[test]
fn ggtt_outside_partition_and_split_writes() {
    let host = sim_host();
    let mut gvt = Gvt::new(&host).unwrap();
    let mut a = create(&mut gvt, &host, &v5_8());
    let b = create(&mut gvt, &host, &v5_8());
    let mut hv = MemHypervisor::new(1, 16 << 20);
    let theirs = b.partition().low.start / 4096;
    let before = host.ggtt_read(theirs);
    a.mmio_write(
        &host,
        &mut hv,
        GGTT_MMIO_OFFSET + theirs * 8,
        &0x3001u64.to_le_bytes(),
    )
    .unwrap();
    assert_eq!(host.ggtt_read(theirs), before);
    assert_eq!(a.stats().ggtt_out_of_range, 1);
    let mut r = [0u8; 8];
    a.mmio_read(GGTT_MMIO_OFFSET + theirs * 8, &mut r).unwrap();
    assert_eq!(r, [0; 8]);
    // A half-written entry is scratch on the host until the other half arrives.
    let mine = a.partition().low.start / 4096;
    a.mmio_write(
        &host,
        &mut hv,
        GGTT_MMIO_OFFSET + mine * 8 + 4,
        &0u32.to_le_bytes(),
    )
    .unwrap();
    assert_eq!(host.ggtt_read(mine), host.info().scratch_page);
    a.mmio_write(
        &host,
        &mut hv,
        GGTT_MMIO_OFFSET + mine * 8,
        &0x5001u32.to_le_bytes(),
    )
    .unwrap();
    assert_eq!(host.ggtt_read(mine), hv.dma_of(5) | 1);
    // Unmappable page (beyond guest RAM): scratch, counted.
    a.mmio_write(
        &host,
        &mut hv,
        GGTT_MMIO_OFFSET + mine * 8,
        &(0xfff_ffff_f001u64).to_le_bytes(),
    )
    .unwrap();
    assert_eq!(host.ggtt_read(mine), host.info().scratch_page | 1);
    assert_eq!(a.stats().ggtt_map_failures, 1);
    assert_eq!(hv.mapped_pages(), 0);
    // Flushes are batched: one per guest flush, not per PTE.
    let flushes = host.flush_count();
    for i in 0..8u64 {
        a.mmio_write(
            &host,
            &mut hv,
            GGTT_MMIO_OFFSET + (mine + i) * 8,
            &((i << 12) | 1).to_le_bytes(),
        )
        .unwrap();
    }
    assert_eq!(host.flush_count(), flushes);
    a.mmio_write(
        &host,
        &mut hv,
        u64::from(GFX_FLSH_CNTL_GEN6::OFFSET),
        &1u32.to_le_bytes(),
    )
    .unwrap();
    assert_eq!(host.flush_count(), flushes + 1);
}

#[test]
fn fences_are_partitioned_and_audited() {
    let host = sim_host();
    let mut gvt = Gvt::new(&host).unwrap();
    let mut v = create(&mut gvt, &host, &Gvt::acrn_config(64, 64, 2).unwrap());
    let mut hv = MemHypervisor::new(1, 16 << 20);
    let mut t = Direct::new(&mut v, &host, &mut hv);
    probe::pci_setup(&mut t).unwrap();
    probe::pvinfo(&mut t, 1 << 30, 4 << 30).unwrap();
    let first_host = u32::try_from(t.vgpu.partition().fences.start).unwrap();
    // Fence 2 does not exist for this vGPU: ignored, reads 0, counted.
    t.write32(0x100010, 0x1001).unwrap();
    assert_eq!(t.read32(0x100010).unwrap(), 0);
    assert_eq!(host.fence(first_host + 2), 0);
    // A fence over another vGPU's aperture is written as disabled.
    t.write32(0x100004, 0x0000_1000).unwrap();
    t.write32(0x100000, 0x0000_0001).unwrap();
    assert_eq!(host.fence(first_host), 0);
    assert!(t.vgpu.stats().fence_violations >= 2);
    assert!(
        t.vgpu.failsafe().is_none(),
        "a PVINFO-aware guest is not put in failsafe"
    );
}

#[test]
fn masked_registers_and_read_only_bits() {
    let host = sim_host();
    let mut gvt = Gvt::new(&host).unwrap();
    let mut v = create(&mut gvt, &host, &v5_8());
    let mut hv = MemHypervisor::new(1, 16 << 20);
    let mut t = Direct::new(&mut v, &host, &mut hv);
    let mi_mode = RING_MI_MODE::offset(RENDER_RING_BASE);
    t.write32(mi_mode, masked_bit_enable(0x100)).unwrap();
    t.write32(mi_mode, 0x0000_ffff).unwrap(); // no mask bits: no change
    assert_eq!(t.read32(mi_mode).unwrap(), 0x100 | 0x200);
    // CSB is read-only.
    let csb = RING_CONTEXT_STATUS_BUF::offset(RENDER_RING_BASE);
    t.write32(csb, 0x1234).unwrap();
    assert_eq!(t.read32(csb).unwrap(), 0);
    // Untracked offsets are plain storage, sub-dword accesses merge.
    t.write32(0x1_0000, 0x1122_3344).unwrap();
    t.mmio_write(0x1_0001, &[0xaa]).unwrap();
    assert_eq!(t.read32(0x1_0000).unwrap(), 0x1122_aa44);
    let mut two = [0u8; 2];
    t.mmio_read(0x1_0002, &mut two).unwrap();
    assert_eq!(two, [0x22, 0x11]);
    // Bad accesses: refused, never panic.
    assert!(t.mmio_write(0x1_0003, &[0, 0]).is_err());
    assert!(t.mmio_write(0x20_0000, &[0; 4]).is_err());
    assert!(t.mmio_read(0x7f_fffc, &mut [0; 4]).is_err());
    assert!(t.mmio_write(u64::MAX - 3, &[0; 4]).is_err());
    assert!(t.mmio_write(GGTT_MMIO_OFFSET + 2, &[0; 4]).is_err());
    // GuC status: MIA_IN_RESET clears after the first read.
    assert_eq!(t.read32(GUC_STATUS::OFFSET).unwrap() & 1, 1);
    assert_eq!(t.read32(GUC_STATUS::OFFSET).unwrap() & 1, 0);
    // PVINFO rsv5 write: failsafe.
    t.write32(field::RSV5, 1).unwrap();
    assert_eq!(t.vgpu.failsafe(), Some(Failsafe::InsufficientResource));
}

/// A fresh vGPU of the sim GPU, PCI-enabled and PVINFO-checked as i915 would before its
/// register reads.
fn probed_until_pvinfo(
    host: &dyn HostGpu,
    gvt: &mut Gvt,
    hv: &mut MemHypervisor,
) -> Vgpu<VecStorage> {
    let mut v = create(gvt, host, &v5_8());
    v.activate();
    let mut t = Direct::new(&mut v, host, hv);
    probe::pci_setup(&mut t).unwrap();
    probe::pvinfo(&mut t, 1 << 30, 4 << 30).unwrap();
    v
}

#[test]
fn dram_registers_decode_to_memory() {
    let host = sim_host();
    let mut gvt = Gvt::new(&host).unwrap();
    let mut hv = MemHypervisor::new(1, 16 << 20);
    let mut v = probed_until_pvinfo(&host, &mut gvt, &mut hv);
    let mut t = Direct::new(&mut v, &host, &mut hv);
    if platform().hw().lp {
        let d = probe::dram_info(&mut t).expect("bxt_get_dram_info without WARN");
        // Four LPDDR4 channels of 8 Gbit (1 GiB), 4 GiB in all.
        assert_eq!(
            d,
            probe::DramInfo {
                channels: 4,
                kind: 2,
                total_gbit: 32
            }
        );
    } else {
        let d = probe::skl_dram_info(&mut t).expect("skl_get_dram_info without WARN");
        // Two DDR4 channels, one 8 GiB DIMM each: 16 GiB.
        assert_eq!(
            d,
            probe::DramInfo {
                channels: 2,
                kind: 0,
                total_gbit: 128
            }
        );
    }
}

/// The sim's parts: HD Graphics 505 (3 subslices of 6 EUs) on Broxton, a GT2 (3 of the 4
/// possible subslices, 8 EUs each: HD 530, HD 630, UHD 630) on the big cores.
#[test]
fn fuses_give_the_parts_slice_subslices_and_eus() {
    let host = sim_host();
    let mut gvt = Gvt::new(&host).unwrap();
    let mut hv = MemHypervisor::new(1, 16 << 20);
    let mut v = probed_until_pvinfo(&host, &mut gvt, &mut hv);
    let mut t = Direct::new(&mut v, &host, &mut hv);
    let lp = platform().hw().lp;
    let s = probe::sseu(&mut t, lp).expect("gen9_sseu_info_init finds the GT");
    let eu_total = if lp { 18 } else { 24 };
    assert_eq!(
        s,
        probe::Sseu {
            slice_mask: 1,
            subslice_mask: 0b111,
            eu_total
        }
    );
}

/// Broxton's DPIO PHYs. The big cores have none: their port clocks are the shared DPLLs, which
/// `dplls_lock_once_enabled_and_ddi_io_wells_follow_requests` covers (and the modeset test in
/// tests/display.rs, with the DDI buffer).
#[test]
fn phy1_grc_is_done_once_powered_and_phy0_verifies() {
    if !platform().hw().lp {
        return;
    }
    let host = sim_host();
    let mut gvt = Gvt::new(&host).unwrap();
    let mut hv = MemHypervisor::new(1, 16 << 20);
    let mut v = probed_until_pvinfo(&host, &mut gvt, &mut hv);
    // A fresh vGPU's PHY1 is off (sanitized), so its calibration is not done either.
    assert_eq!(
        v.vreg(BXT_PORT_REF_DW3_A::OFFSET) & BXT_PORT_REF_DW3_A::GRC_DONE.mask(),
        0
    );
    let mut t = Direct::new(&mut v, &host, &mut hv);
    let grc = probe::display_phy(&mut t).expect("PHY init without GRC timeout");
    assert!(grc != 0 && grc != 0xff, "implausible GRC code {grc:#x}");
    // PHY1 went down again after lending its code: calibration status goes with it.
    assert_eq!(
        t.read32(BXT_PORT_CL1CM_DW0_A::OFFSET).unwrap()
            & BXT_PORT_CL1CM_DW0_BC::PHY_POWER_GOOD.mask(),
        0
    );
    assert_eq!(
        t.read32(BXT_PORT_REF_DW3_A::OFFSET).unwrap() & BXT_PORT_REF_DW3_A::GRC_DONE.mask(),
        0
    );
    // Powering it again calibrates again.
    t.write32(BXT_P_CR_GT_DISP_PWRON::OFFSET, 0x3).unwrap();
    t.wait_for(BXT_PORT_REF_DW3_A::OFFSET, 1 << 22, 1 << 22, 1)
        .unwrap();
}

/// The big cores' counterpart of Broxton's PHY bring-up (which
/// `phy1_grc_is_done_once_powered_and_phy0_verifies` covers): DPLL0 locked for the CD clock
/// as firmware left it; a DP DPLL locks once enabled (`skl_ddi_pll_enable` waits for
/// DPLL_STATUS) and unlocks when disabled, each DPLL alone; a DDI IO power well reports its
/// state once requested (`hsw_wait_for_power_well_enable`).
#[test]
fn dplls_lock_once_enabled_and_ddi_io_wells_follow_requests() {
    if platform().hw().lp {
        return;
    }
    let host = sim_host();
    let mut gvt = Gvt::new(&host).unwrap();
    let mut hv = MemHypervisor::new(1, 16 << 20);
    let mut v = probed_until_pvinfo(&host, &mut gvt, &mut hv);
    let mut t = Direct::new(&mut v, &host, &mut hv);
    let status = |t: &mut Direct<'_>| t.read32(DPLL_STATUS::OFFSET).unwrap() & 0x0101_0101;
    // DPLL0 (the CD clock) and DPLL1 (the lit monitor) run; DPLL2 and 3 are off.
    assert_eq!(status(&mut t), 0x0000_0101);
    modeset::skl_dpll_enable(&mut t, 2, 270_000).expect("DPLL2 locks");
    assert_eq!(status(&mut t), 0x0001_0101);
    let ctrl1 = t
        .read32(gvt::model::display::regs::DPLL_CTRL1::OFFSET)
        .unwrap();
    assert_eq!(
        (ctrl1 >> 12) & 0x3f,
        1 | (1 << 1),
        "DPLL2: overridden, 1350 MHz, no SSC, DP"
    );
    modeset::skl_dpll_disable(&mut t, 1).unwrap();
    assert_eq!(status(&mut t), 0x0001_0001);
    modeset::skl_dpll_disable(&mut t, 2).unwrap();
    assert_eq!(status(&mut t), 0x0000_0001);
    // DDI C's IO well (SKL_PW_CTL_IDX_DDI_C): off as firmware left it, on once requested.
    let o = Output {
        platform: platform(),
        port: 2,
    };
    assert_eq!(t.read32(HSW_PWR_WELL_CTL2::OFFSET).unwrap() & (3 << 6), 0);
    modeset::ddi_io_power_get(&mut t, &o).expect("the well comes up");
    assert_eq!(
        t.read32(HSW_PWR_WELL_CTL2::OFFSET).unwrap() & (3 << 6),
        3 << 6
    );
}

#[test]
fn ring_eir_is_write_one_to_clear() {
    let host = sim_host();
    let mut gvt = Gvt::new(&host).unwrap();
    let mut hv = MemHypervisor::new(1, 16 << 20);
    let mut v = probed_until_pvinfo(&host, &mut gvt, &mut hv);
    let mut t = Direct::new(&mut v, &host, &mut hv);
    probe::engine_errors(&mut t).expect("EIR clears on write-1");
    for e in Engine::ALL {
        let eir = RING_EIR::offset(e.base());
        t.write32(eir, 0x8000_0001).unwrap();
        assert_eq!(t.read32(eir).unwrap(), 0, "{e:?}");
        // EMR stays a plain mask register.
        assert_eq!(t.read32(RING_EMR::offset(e.base())).unwrap(), !0);
    }
}

#[test]
fn every_idle_engine_stops_at_once() {
    let host = sim_host();
    let mut gvt = Gvt::new(&host).unwrap();
    let mut hv = MemHypervisor::new(1, 16 << 20);
    let mut v = probed_until_pvinfo(&host, &mut gvt, &mut hv);
    let mut t = Direct::new(&mut v, &host, &mut hv);
    probe::stop_engines(&mut t).expect("intel_engine_stop_cs without a timeout");
}
