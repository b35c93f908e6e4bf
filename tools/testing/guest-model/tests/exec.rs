//! Execution end to end at L0: several guests run hundreds of workloads through their own
//! PPGTTs on one GPU, with every backend page-tracking style; hostile guests are contained.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::cast_possible_truncation,
    clippy::panic
)]

use guest_model::gpu::{self, PAGE};
use guest_model::hv::Tracking;
use guest_model::machine::{Guest, Machine, BATCH_GVA, DATA_GVA, DATA_PAGES, GUEST_RAM, RAM};
use guest_model::rng::Rng;
use guest_model::{Transport, TransportExt};
use gvt::model::execlist::csb;
use gvt::model::regs::RING_CONTEXT_STATUS_PTR;
use gvt::model::vgpu::Failsafe;
use gvt::mpt::MptOps;

fn read_u32(m: &mut Machine, vm: usize, gpa: u64) -> u32 {
    let mut b = [0u8; 4];
    m.vms[vm].hv.read_gpa(gpa, &mut b).unwrap();
    u32::from_le_bytes(b)
}

/// `vms` guests, `rounds` workloads each, a remap of one data page every `remap_every`
/// rounds (alternating 8-byte and split 4-byte PTE writes).
fn run(tracking: Tracking, vms: usize, rounds: u32, remap_every: u32) -> Machine {
    run_on(Machine::new(vms, tracking), rounds, remap_every)
}

fn run_on(mut m: Machine, rounds: u32, remap_every: u32) -> Machine {
    let vms = m.vms.len();
    let mut guests: Vec<Guest> = (0..vms)
        .map(|i| Guest::new(&mut m.guest(i), GUEST_RAM, RAM as u64, 100 + i as u32).unwrap())
        .collect();
    let mut rng = Rng::new(42);
    for round in 0..rounds {
        let mut expect = Vec::new();
        for (i, g) in guests.iter_mut().enumerate() {
            let mut t = m.guest(i);
            if round % remap_every == remap_every - 1 {
                // Move one data page to a fresh guest page, as the guest's VM would.
                let p = rng.below(DATA_PAGES);
                let page = g.alloc.ram(&mut t, 1).unwrap();
                let gva = DATA_GVA + p * PAGE;
                let pte = g.ppgtt.entry_addr(&mut t, &mut g.alloc, gva, 1).unwrap();
                let v = page | gpu::PTE_RW;
                if round % 2 == 0 {
                    t.ram_write(pte, &v.to_le_bytes()).unwrap();
                } else {
                    t.ram_write(pte, &(v as u32).to_le_bytes()).unwrap();
                    t.ram_write(pte + 4, &((v >> 32) as u32).to_le_bytes())
                        .unwrap();
                }
                g.data[p as usize] = page;
            }
            let p = rng.below(DATA_PAGES);
            let off = rng.below(PAGE / 4 - 1) * 4;
            let q = (p + 1) % DATA_PAGES;
            let value = ((i as u32 + 1) << 24) | (round << 4);
            g.submit(
                &mut t,
                &[DATA_GVA + p * PAGE + off],
                value,
                DATA_GVA + q * PAGE + off + 4,
            )
            .unwrap();
            expect.push((
                g.data[p as usize] + off,
                value,
                g.data[q as usize] + off + 4,
                value + 1,
            ));
        }
        m.run();
        assert_eq!(m.completion_errors, 0);
        for (i, g) in guests.iter_mut().enumerate() {
            assert_eq!(m.vms[i].vgpu.failsafe(), None, "vm {i} round {round}");
            let (a, va, b, vb) = expect[i];
            assert_eq!(
                read_u32(&mut m, i, a),
                va,
                "vm {i} round {round}: batch store"
            );
            assert_eq!(
                read_u32(&mut m, i, b),
                vb,
                "vm {i} round {round}: ring store"
            );
            let mut t = m.guest(i);
            let mut ev = [(0, 0); 6];
            let n = g.rcs.poll(&mut t, &mut ev).unwrap();
            assert_eq!(
                &ev[..n],
                &[
                    (csb::IDLE_TO_ACTIVE, 0),
                    (csb::ACTIVE_TO_IDLE | csb::COMPLETE, 100 + i as u32)
                ],
                "vm {i} round {round}"
            );
            assert!(t.wait_msi().is_some(), "vm {i} round {round}: no interrupt");
            while t.wait_msi().is_some() {}
            let iir = gpu::ack_gt(&mut t).unwrap();
            assert_eq!(iir[0] & 0x101, 0x101, "user interrupt and context switch");
            // The context image came back with ring head = tail.
            let mut h = [0u8; 4];
            t.ram_read(g.ctx.regs + 5 * 4, &mut h).unwrap();
            assert_eq!(u32::from_le_bytes(h) & 0x1f_fffc, g.ctx.tail);
            // The CSB registers agree with the HWSP copy.
            let ptr = t.read32(RING_CONTEXT_STATUS_PTR::offset(0x2000)).unwrap();
            assert_eq!(ptr & 7, g.rcs.csb_head);
        }
    }
    m
}

#[test]
fn workloads_without_page_tracking() {
    let mut m = run(Tracking::None, 3, 200, 7);
    for vm in &mut m.vms {
        assert!(vm.exec.ppgtt_stats().tables_revalidated > 0);
        assert_eq!(vm.hv.tracked_pages(), 0);
        assert_eq!(vm.exec.stats().completed, 200);
    }
}

#[test]
fn workloads_with_kvm_style_tracking() {
    let mut m = run(Tracking::AfterWrite, 3, 200, 5);
    for vm in &mut m.vms {
        assert_eq!(vm.exec.ppgtt_stats().tables_revalidated, 0);
        assert!(vm.exec.ppgtt_stats().trapped_writes >= 40);
        assert!(vm.hv.tracked_pages() >= 4);
        // One entry between submissions, even as two 4-byte halves, stays tracked.
        assert_eq!(vm.exec.ppgtt_stats().pages_unsynced, 0);
        // Every write-protect trap is counted as one.
        assert_eq!(
            vm.vgpu.stats().page_track_writes,
            vm.exec.ppgtt_stats().trapped_writes
        );
    }
}

#[test]
fn workloads_with_acrn_style_tracking() {
    let mut m = run(Tracking::Intercept, 3, 150, 3);
    for vm in &mut m.vms {
        assert!(vm.exec.ppgtt_stats().trapped_writes >= 50);
        assert_eq!(vm.exec.stats().completed, 150);
        assert_eq!(
            vm.vgpu.stats().page_track_writes,
            vm.exec.ppgtt_stats().trapped_writes
        );
    }
}

/// A guest that rebinds every data page between two workloads writes one page table eight
/// times: after `OOS_WRITES` traps the table goes out of sync, the other writes land untrapped,
/// and the next submission protects it again and honours all of them.
#[test]
fn bulk_page_table_writes_go_out_of_sync() {
    use gvt::model::ppgtt::OOS_WRITES;
    for tracking in [Tracking::AfterWrite, Tracking::Intercept] {
        let mut m = Machine::new(2, tracking);
        let mut guests: Vec<Guest> = (0..2)
            .map(|i| Guest::new(&mut m.guest(i), GUEST_RAM, RAM as u64, 30 + i as u32).unwrap())
            .collect();
        let rounds = 12u32;
        for round in 0..rounds {
            for (i, g) in guests.iter_mut().enumerate() {
                let traps = m.vms[i].traps;
                let mut t = m.guest(i);
                let pt = g
                    .ppgtt
                    .entry_addr(&mut t, &mut g.alloc, DATA_GVA, 1)
                    .unwrap()
                    >> 12;
                // The first round shadows the tables; from then on the table is tracked.
                for p in 0..DATA_PAGES as usize {
                    g.remap(&mut t, p).unwrap();
                }
                let value = 0x0b00_0000 | (i as u32) << 16 | round;
                let gvas: Vec<u64> = (0..DATA_PAGES)
                    .map(|p| DATA_GVA + p * PAGE + u64::from(round) * 4)
                    .collect();
                if round > 0 {
                    assert_eq!(
                        m.vms[i].traps - traps,
                        u64::from(OOS_WRITES),
                        "{tracking:?} vm {i} round {round}"
                    );
                    assert!(
                        !m.vms[i].hv.is_tracked(pt),
                        "out of sync until the next submission"
                    );
                }
                let mut t = m.guest(i);
                g.submit(&mut t, &gvas, value, DATA_GVA + 0x800).unwrap();
                assert!(
                    m.vms[i].hv.is_tracked(pt),
                    "protected again before the submission"
                );
            }
            m.run();
            assert_eq!(m.completion_errors, 0);
            for (i, g) in guests.iter().enumerate() {
                assert_eq!(m.vms[i].vgpu.failsafe(), None);
                for (p, &page) in g.data.iter().enumerate() {
                    let want = 0x0b00_0000 | (i as u32) << 16 | round;
                    assert_eq!(
                        read_u32(&mut m, i, page + u64::from(round) * 4),
                        want,
                        "{tracking:?} vm {i} round {round} page {p}"
                    );
                }
            }
        }
        for vm in &m.vms {
            let s = vm.exec.ppgtt_stats();
            assert_eq!(s.pages_unsynced, u64::from(rounds - 1));
            assert!(s.tables_resynced >= u64::from(rounds - 1));
            assert_eq!(s.tables_revalidated, 0);
        }
    }
}

/// A store to an out-of-sync table that lands as the table is protected again is honoured:
/// the table is re-read only after it is protected.
#[test]
fn out_of_sync_table_is_protected_before_it_is_read() {
    let mut m = Machine::new(1, Tracking::AfterWrite);
    let mut g = Guest::new(&mut m.guest(0), GUEST_RAM, RAM as u64, 41).unwrap();
    let mut t = m.guest(0);
    g.submit(&mut t, &[DATA_GVA], 1, DATA_GVA + 4).unwrap();
    m.run();
    let mut t = m.guest(0);
    for p in 0..DATA_PAGES as usize {
        g.remap(&mut t, p).unwrap();
    }
    assert_eq!(m.vms[0].exec.ppgtt_stats().pages_unsynced, 1);
    let mut t = m.guest(0);
    let late = g.alloc.ram(&mut t, 1).unwrap();
    let pte = g
        .ppgtt
        .entry_addr(&mut t, &mut g.alloc, DATA_GVA, 1)
        .unwrap();
    m.vms[0].hv.race = Some((pte, late | gpu::PTE_RW));
    let mut t = m.guest(0);
    g.submit(&mut t, &[DATA_GVA + 8], 0x1a7e, DATA_GVA + 4)
        .unwrap();
    m.run();
    assert!(
        m.vms[0].hv.race.is_none(),
        "the store raced with the protection"
    );
    assert_eq!(read_u32(&mut m, 0, late + 8), 0x1a7e);
    assert_eq!(m.vms[0].vgpu.failsafe(), None);
}

/// No more than `MAX_OOS` pages of a vGPU go out of sync between two submissions; writes to
/// the rest keep trapping, and every write is honoured either way.
#[test]
fn out_of_sync_pages_are_bounded() {
    use gvt::model::ppgtt::{MAX_OOS, OOS_WRITES};
    let tables = MAX_OOS as u64 + 6;
    // One page table per 2 MiB of graphics address space.
    let gva = |k: u64| 0x3_0000_0000 + (k << 21);
    let mut m = Machine::new(1, Tracking::AfterWrite);
    let mut g = Guest::new(&mut m.guest(0), GUEST_RAM, RAM as u64, 40).unwrap();
    let mut t = m.guest(0);
    let pages: Vec<u64> = (0..tables)
        .map(|k| {
            let page = g.alloc.ram(&mut t, 1).unwrap();
            g.ppgtt.map(&mut t, &mut g.alloc, gva(k), page).unwrap();
            page
        })
        .collect();
    g.submit(&mut t, &[DATA_GVA], 1, DATA_GVA + 4).unwrap();
    m.run();
    // Bind more than OOS_WRITES pages in each table, then point the first entry at a new page.
    let writes = u64::from(OOS_WRITES) + 2;
    let traps = m.vms[0].traps;
    let mut t = m.guest(0);
    let mut fresh = Vec::new();
    for k in 0..tables {
        for e in 1..writes {
            let page = g.alloc.ram(&mut t, 1).unwrap();
            g.ppgtt
                .map(&mut t, &mut g.alloc, gva(k) + e * PAGE, page)
                .unwrap();
        }
        let page = g.alloc.ram(&mut t, 1).unwrap();
        g.ppgtt.map(&mut t, &mut g.alloc, gva(k), page).unwrap();
        fresh.push(page);
    }
    let unsynced = m.vms[0].exec.ppgtt_stats().pages_unsynced;
    assert_eq!(unsynced, u64::from(MAX_OOS));
    // The pages that went out of sync trapped OOS_WRITES times; the others every time.
    let oos = u64::from(MAX_OOS);
    assert_eq!(
        m.vms[0].traps - traps,
        oos * u64::from(OOS_WRITES) + (tables - oos) * writes
    );
    for chunk in (0..tables).collect::<Vec<_>>().chunks(16) {
        let gvas: Vec<u64> = chunk.iter().map(|&k| gva(k) + 8).collect();
        let mut t = m.guest(0);
        g.submit(&mut t, &gvas, 0x5eed, DATA_GVA + 4).unwrap();
        m.run();
        for &k in chunk {
            assert_eq!(
                read_u32(&mut m, 0, fresh[k as usize] + 8),
                0x5eed,
                "table {k}"
            );
            assert_eq!(
                read_u32(&mut m, 0, pages[k as usize] + 8),
                0,
                "table {k}: the old page"
            );
        }
    }
    assert_eq!(m.vms[0].vgpu.failsafe(), None);
}

#[test]
fn two_element_submission_and_lite_restore() {
    let mut m = Machine::new(1, Tracking::AfterWrite);
    let mut t = m.guest(0);
    let mut g = Guest::new(&mut t, GUEST_RAM, RAM as u64, 7).unwrap();
    t.write32(0xc800, 0x1234).unwrap(); // a render MOCS entry, restored by LRI for inhibit contexts
    let mut other = gpu::Context::new(
        &mut t,
        &mut g.alloc,
        gvt::model::regs::Engine::Rcs,
        8,
        &g.ppgtt,
        4,
        false,
    )
    .unwrap();
    g.ctx
        .emit(&mut t, &[gpu::mi::STORE_DATA_IMM, DATA_GVA as u32, 1, 11])
        .unwrap();
    g.ctx.publish(&mut t).unwrap();
    other
        .emit(
            &mut t,
            &[gpu::mi::STORE_DATA_IMM, (DATA_GVA + 8) as u32, 1, 22],
        )
        .unwrap();
    other.publish(&mut t).unwrap();
    g.rcs.submit(&mut t, &g.ctx, Some(&other)).unwrap();
    m.run();
    let mut t = m.guest(0);
    let mut ev = [(0, 0); 6];
    let n = g.rcs.poll(&mut t, &mut ev).unwrap();
    assert_eq!(
        &ev[..n],
        &[
            (csb::IDLE_TO_ACTIVE, 0),
            (csb::ELEMENT_SWITCH | csb::COMPLETE, 7),
            (csb::ACTIVE_TO_IDLE | csb::COMPLETE, 8)
        ]
    );
    // The same context twice before the GPU runs it: the second is a lite restore, reported
    // as soon as it is submitted (i915 submits it only once the first was promoted).
    g.ctx
        .emit(
            &mut t,
            &[gpu::mi::STORE_DATA_IMM, (DATA_GVA + 16) as u32, 1, 33],
        )
        .unwrap();
    g.ctx.publish(&mut t).unwrap();
    g.rcs.submit(&mut t, &g.ctx, None).unwrap();
    g.ctx
        .emit(
            &mut t,
            &[gpu::mi::STORE_DATA_IMM, (DATA_GVA + 24) as u32, 1, 44],
        )
        .unwrap();
    g.ctx.publish(&mut t).unwrap();
    g.rcs.submit(&mut t, &g.ctx, None).unwrap();
    let n = g.rcs.poll(&mut t, &mut ev).unwrap();
    assert_eq!(&ev[..n], &[(csb::LITE_RESTORE | csb::PREEMPTED, 7)]);
    m.run();
    let mut t = m.guest(0);
    let n = g.rcs.poll(&mut t, &mut ev).unwrap();
    assert_eq!(&ev[..n], &[(csb::ACTIVE_TO_IDLE | csb::COMPLETE, 7)]);
    assert!(g.rcs.idle());
    assert_eq!(m.engines[0].reg(0xc800), Some(0x1234));
    for (k, v) in [11u32, 22, 33, 44].into_iter().enumerate() {
        assert_eq!(read_u32(&mut m, 0, g.data[0] + 8 * k as u64), v);
    }
}

/// Sets up three guests, lets guest 0 do something hostile, then checks that the others still
/// run their work and guest 0 is in failsafe with nothing of it on the host.
fn contained(tracking: Tracking, hostile: impl FnOnce(&mut Machine, &mut Guest)) {
    let mut m = Machine::new(3, tracking);
    let mut guests: Vec<Guest> = (0..3)
        .map(|i| Guest::new(&mut m.guest(i), GUEST_RAM, RAM as u64, 50 + i as u32).unwrap())
        .collect();
    let others: Vec<Vec<u8>> = (1..3)
        .map(|i| {
            let mut b = vec![0u8; 64 << 20];
            m.vms[i].hv.read_gpa(0, &mut b).unwrap();
            b
        })
        .collect();
    hostile(&mut m, &mut guests[0]);
    m.run();
    assert_eq!(m.vms[0].vgpu.failsafe(), Some(Failsafe::GuestError));
    assert_eq!(
        m.vms[0].exec.stats().dispatched,
        0,
        "nothing of guest 0 reached the host"
    );
    assert_eq!(m.host.ggtt_mapped(), 0);
    // Guest 0's attack wrote nothing into the other VMs.
    for (k, i) in (1..3).enumerate() {
        let mut b = vec![0u8; 64 << 20];
        m.vms[i].hv.read_gpa(0, &mut b).unwrap();
        assert!(b == others[k], "vm {i} memory changed");
    }
    for (i, g) in guests.iter_mut().enumerate().skip(1) {
        let mut t = m.guest(i);
        g.submit(&mut t, &[DATA_GVA], 0x55, DATA_GVA + 4).unwrap();
    }
    let before = m.vms[0].exec.stats().dispatched;
    m.run();
    for (i, g) in guests.iter().enumerate().skip(1) {
        assert_eq!(read_u32(&mut m, i, g.data[0]), 0x55);
        assert_eq!(m.vms[i].vgpu.failsafe(), None);
    }
    assert_eq!(m.vms[0].exec.stats().dispatched, before);
}

#[test]
fn page_table_outside_ram_is_refused() {
    contained(Tracking::None, |m, g| {
        let mut t = m.guest(0);
        let pte = g
            .ppgtt
            .entry_addr(&mut t, &mut g.alloc, DATA_GVA, 1)
            .unwrap();
        // Guest frame far beyond the VM's 64 MiB: in another VM's DMA window if it were taken raw.
        t.ram_write(pte, &((2u64 << 40) | gpu::PTE_RW).to_le_bytes())
            .unwrap();
        g.submit(&mut t, &[DATA_GVA], 1, DATA_GVA + 4).unwrap();
    });
}

#[test]
fn one_gib_pages_are_refused() {
    contained(Tracking::AfterWrite, |m, g| {
        let mut t = m.guest(0);
        let pdpe = g
            .ppgtt
            .entry_addr(&mut t, &mut g.alloc, 0x40_0000_0000, 3)
            .unwrap();
        t.ram_write(pdpe, &(gpu::PTE_RW | (1 << 7)).to_le_bytes())
            .unwrap();
        g.submit(&mut t, &[DATA_GVA], 1, DATA_GVA + 4).unwrap();
    });
}

#[test]
fn elsp_garbage_is_refused() {
    contained(Tracking::None, |m, _| {
        let mut t = m.guest(0);
        for v in [0xdead_beef, 0x1234_5678, 0xffff_ffff, 0x0000_1001] {
            t.write32(0x2230, v).unwrap();
        }
    });
}

#[test]
fn a_register_commands_may_not_write_is_refused_in_the_ring() {
    contained(Tracking::None, |m, g| {
        let mut t = m.guest(0);
        // MI_LOAD_REGISTER_IMM of HWSTAM, which has no command access (upstream neither).
        g.ctx.emit(&mut t, &[0x1100_0001, 0x2098, 0]).unwrap();
        g.ctx.publish(&mut t).unwrap();
        gpu::submit(&mut t, &g.ctx, None).unwrap();
    });
}

#[test]
fn two_and_sixty_four_kib_pages() {
    let mut m = Machine::new(1, Tracking::AfterWrite);
    let mut t = m.guest(0);
    t.write32(0x4080, 0xf).unwrap(); // GAMW_ECO_DEV_RW_IA: 64 KiB IPS on
    let mut g = Guest::new(&mut t, GUEST_RAM, RAM as u64, 3).unwrap();
    let huge = 32u64 << 20;
    g.ppgtt
        .map_2m(&mut t, &mut g.alloc, 0x3_0000_0000, huge)
        .unwrap();
    let big = 48u64 << 20;
    g.ppgtt
        .map_64k(&mut t, &mut g.alloc, 0x4_0000_0000, big)
        .unwrap();
    g.submit(
        &mut t,
        &[0x3_0000_0000 + 0x12_3450, 0x4_0000_0000 + 0xf000],
        77,
        DATA_GVA,
    )
    .unwrap();
    m.run();
    assert_eq!(m.vms[0].vgpu.failsafe(), None);
    assert_eq!(read_u32(&mut m, 0, huge + 0x12_3450), 77);
    assert_eq!(read_u32(&mut m, 0, big + 0xf000), 77);
}

#[test]
fn hang_completes_nothing_and_reset_cleans_up() {
    let mut m = Machine::new(1, Tracking::None);
    let mut t = m.guest(0);
    let mut g = Guest::new(&mut t, GUEST_RAM, RAM as u64, 9).unwrap();
    // An unmapped address: the engine faults.
    g.submit(&mut t, &[0x7_0000_0000], 1, DATA_GVA).unwrap();
    m.run();
    let mut t = m.guest(0);
    let mut ev = [(0, 0); 6];
    let n = g.rcs.poll(&mut t, &mut ev).unwrap();
    assert_eq!(
        &ev[..n],
        &[(csb::IDLE_TO_ACTIVE, 0)],
        "switched in, never completed"
    );
    assert_eq!(m.vms[0].exec.stats().hangs, 1);
    // The guest resets the engine, skips the hung request and goes on.
    let mut t = m.guest(0);
    assert_eq!(
        g.rcs
            .reset(&mut t, gvt::model::regs::Engine::Rcs.mask())
            .unwrap(),
        Some(9)
    );
    let tail = g.ctx.tail;
    g.ctx.rewind(&mut t, tail).unwrap();
    g.submit(&mut t, &[DATA_GVA], 5, DATA_GVA + 4).unwrap();
    m.run();
    assert_eq!(read_u32(&mut m, 0, g.data[0]), 5);
    // A device reset drops every shadow and everything on the host.
    let vm = &mut m.vms[0];
    vm.vgpu
        .reset(&m.sim, &mut vm.hv, gvt::model::vgpu::Reset::DeviceModel)
        .unwrap();
    vm.exec.reset(&m.host, &mut vm.hv);
    assert_eq!(vm.exec.shadow_tables(), 0);
    assert_eq!(m.host.live_pages(), 0);
    assert_eq!(vm.hv.mapped_pages(), 0);
}

#[test]
fn unused_shadows_are_reclaimed() {
    let mut m = Machine::new(1, Tracking::AfterWrite);
    let mut g = Guest::new(&mut m.guest(0), GUEST_RAM, RAM as u64, 4).unwrap();
    // Twenty PPGTTs (more than the root limit), one workload each.
    for k in 0..20u32 {
        let page = {
            let mut t = m.guest(0);
            let p = gpu::Ppgtt::new(&mut t, &mut g.alloc).unwrap();
            let page = g.alloc.ram(&mut t, 1).unwrap();
            p.map(&mut t, &mut g.alloc, DATA_GVA, page).unwrap();
            let mut c = gpu::Context::new(
                &mut t,
                &mut g.alloc,
                gvt::model::regs::Engine::Rcs,
                200 + k,
                &p,
                1,
                false,
            )
            .unwrap();
            c.emit(&mut t, &[gpu::mi::STORE_DATA_IMM, DATA_GVA as u32, 1, k])
                .unwrap();
            c.publish(&mut t).unwrap();
            gpu::submit(&mut t, &c, None).unwrap();
            page
        };
        m.run();
        assert_eq!(read_u32(&mut m, 0, page), k);
    }
    assert!(m.vms[0].exec.ppgtt_stats().roots_reclaimed >= 4);
    assert!(m.vms[0].exec.ppgtt_roots() <= gvt::model::ppgtt::MAX_ROOTS);
}

#[test]
fn pvinfo_notifications_shadow_early_and_release() {
    use gvt::model::pvinfo::field;
    let mut m = Machine::new(1, Tracking::AfterWrite);
    let mut t = m.guest(0);
    let g = Guest::new(&mut t, GUEST_RAM, RAM as u64, 5).unwrap();
    t.write32(field::PDP0_LO, g.ppgtt.pml4 as u32).unwrap();
    t.write32(field::PDP0_LO + 4, (g.ppgtt.pml4 >> 32) as u32)
        .unwrap();
    t.write32(field::G2V_NOTIFY, 4).unwrap(); // VGT_G2V_PPGTT_L4_PAGE_TABLE_CREATE
    assert_eq!(m.vms[0].exec.ppgtt_roots(), 1);
    // PML4, PDP, PD and the two page tables (data and batch share a PD).
    assert!(m.vms[0].exec.shadow_tables() >= 4);
    assert!(m.vms[0].hv.tracked_pages() >= 4);
    let mut t = m.guest(0);
    t.write32(field::G2V_NOTIFY, 5).unwrap(); // ..._DESTROY
    assert_eq!(m.vms[0].exec.ppgtt_roots(), 0);
    assert_eq!(m.vms[0].exec.shadow_tables(), 0);
    assert_eq!(m.vms[0].hv.tracked_pages(), 0);
    assert_eq!(m.host.live_pages(), 0);
}

#[test]
fn csb_garbage_changes_nothing_the_engine_reports() {
    let mut m = Machine::new(1, Tracking::None);
    let mut t = m.guest(0);
    let mut g = Guest::new(&mut t, GUEST_RAM, RAM as u64, 6).unwrap();
    // The CSB and EXECLIST_STATUS are read-only. The pointers are the guest's to move, as
    // upstream lets it (i915's reset_csb_pointers writes 0xffff0505); an out-of-range write
    // pointer only means the next event lands in entry 0.
    for (off, v) in [
        (0x2370u32, 0xdead_beef),
        (0x2374, 1),
        (0x2234, 0xffff_ffff),
        (0x23a0, 0xffff_0606),
    ] {
        t.write32(off, v).unwrap();
    }
    assert_eq!(t.read32(0x2370).unwrap(), 0);
    assert_eq!(t.read32(0x2234).unwrap(), 0);
    assert_eq!(
        t.read32(0x23a0).unwrap(),
        0x0606,
        "masked write of both pointers"
    );
    g.submit(&mut t, &[DATA_GVA], 9, DATA_GVA + 4).unwrap();
    m.run();
    assert_eq!(m.vms[0].vgpu.failsafe(), None);
    assert_eq!(read_u32(&mut m, 0, g.data[0]), 9);
    let mut t = m.guest(0);
    let mut ev = [(0, 0); 6];
    assert_eq!(g.rcs.poll(&mut t, &mut ev).unwrap(), 2);
    assert_eq!(t.read32(0x23a0).unwrap() & 7, 1, "entries 0 and 1 written");
    // Garbage with the mask bits off changes nothing.
    t.write32(0x23a0, 0x0000_0707).unwrap();
    assert_eq!(t.read32(0x23a0).unwrap(), 0x0601);
}

#[test]
fn gen9_scanner_on_the_workload_path() {
    use gvt::model::regs::Engine;
    use gvt::model::workload::{CommandScanner, Gen9Scanner, GuestMem};
    struct NoMem;
    impl GuestMem for NoMem {
        fn read_ggtt(&mut self, _: u64, _: &mut [u8]) -> gvt::model::error::Result {
            Err(gvt::model::error::GvtError::Fault)
        }
        fn read_ppgtt(&mut self, _: u64, _: &mut [u8]) -> gvt::model::error::Result {
            Err(gvt::model::error::GvtError::Fault)
        }
    }
    let m = Machine::new(1, Tracking::None);
    let mut s = Gen9Scanner::new(
        gvt::model::hw::Platform::Broxton,
        *m.vms[0].vgpu.partition(),
    );
    let bytes = |d: &[u32]| d.iter().flat_map(|c| c.to_le_bytes()).collect::<Vec<u8>>();
    let mut arena = vec![0u8; gvt::model::batch::ARENA_BYTES];
    let mut copies = gvt::model::batch::Copies::new(&mut arena);
    let mut ok = bytes(&[
        gpu::mi::STORE_DATA_IMM,
        0x1000,
        1,
        5,
        gpu::mi::BATCH_BUFFER_START_PPGTT,
        0,
        2,
        gpu::mi::USER_INTERRUPT,
        0,
        0,
    ]);
    let r = s
        .scan(Engine::Rcs, &mut ok, &mut NoMem, &mut copies)
        .unwrap();
    assert_eq!(r.user_interrupts, 1);
    // GDRST through an LRI, a privileged store outside the partition, and a privileged batch
    // that cannot be read: refused.
    let mut lri = bytes(&[0x1100_0001, 0x941c, 1, 0]);
    assert!(s
        .scan(Engine::Rcs, &mut lri, &mut NoMem, &mut copies)
        .is_err());
    let mut ggtt = bytes(&[gpu::mi::STORE_DATA_IMM | (1 << 22), 0x1000, 0, 5]);
    assert!(s
        .scan(Engine::Rcs, &mut ggtt, &mut NoMem, &mut copies)
        .is_err());
    let low = m.vms[0].vgpu.partition().low.start as u32;
    let mut bb = bytes(&[gpu::mi::BATCH_BUFFER_START_GGTT, low, 0, 0]);
    assert!(s
        .scan(Engine::Rcs, &mut bb, &mut NoMem, &mut copies)
        .is_err());
}

/// The fuzzers' machine: small vGPUs, register snapshots from the cached copy. Workloads run on
/// every tracking style, and after a device reset a fresh guest runs again, with the registers
/// exactly as the sim's own snapshot gives them.
#[test]
fn small_vgpus_with_a_cached_snapshot() {
    let mut cfg = gvt::model::vgpu_type::find_type("GVTg_V5_8")
        .unwrap()
        .config;
    cfg.resources.low_gm = 8 << 20;
    cfg.resources.high_gm = 8 << 20;
    let mut m = Machine::with_config(3, Tracking::None, &cfg);
    m.vms[1].hv.tracking = Tracking::AfterWrite;
    m.vms[2].hv.tracking = Tracking::Intercept;
    m.cache_mmio_snapshot();
    let mut m = run_on(m, 16, 4);
    m.device_reset(1).unwrap();
    let mut fresh = vec![0u32; gvt::model::host::MMIO_DWORDS];
    gvt::model::host::HostGpu::mmio_snapshot(&m.sim, 0, &mut fresh);
    let mut cached = vec![0u32; gvt::model::host::MMIO_DWORDS];
    gvt::model::host::HostGpu::mmio_snapshot(&m.host_gpu(), 0, &mut cached);
    assert!(fresh == cached);
    let mut g = Guest::new(&mut m.guest(1), GUEST_RAM, RAM as u64, 77).unwrap();
    for value in 0x100..0x104 {
        g.submit(&mut m.guest(1), &[DATA_GVA], value, DATA_GVA + 4)
            .unwrap();
        m.run();
        assert_eq!(m.vms[1].vgpu.failsafe(), None);
        assert_eq!(read_u32(&mut m, 1, g.data[0]), value);
        assert_eq!(read_u32(&mut m, 1, g.data[0] + 4), value + 1);
    }
}

/// Writes `cmds` into guest RAM at `gpa`.
fn put(t: &mut impl Transport, gpa: u64, cmds: &[u32]) {
    for (i, c) in (0u64..).zip(cmds) {
        t.ram_write(gpa + i * 4, &c.to_le_bytes()).unwrap();
    }
}

/// Appends `cmds` to guest `g`'s ring and submits it.
fn run_ring(t: &mut impl Transport, g: &mut Guest, cmds: &[u32]) {
    g.ctx.emit(t, cmds).unwrap();
    g.ctx.publish(t).unwrap();
    gpu::submit(t, &g.ctx, None).unwrap();
}

const SDI_GGTT: u32 = gpu::mi::STORE_DATA_IMM_GGTT;
const BB_GGTT: u32 = gpu::mi::BATCH_BUFFER_START_GGTT;
const BB_CALL: u32 = gpu::mi::BATCH_BUFFER_CALL_GGTT;
const BB_END: u32 = gpu::mi::BATCH_BUFFER_END;

#[test]
fn privileged_batches_store_through_the_ggtt() {
    let mut m = Machine::new(2, Tracking::AfterWrite);
    let mut guests: Vec<Guest> = (0..2)
        .map(|i| Guest::new(&mut m.guest(i), GUEST_RAM, RAM as u64, 60 + i as u32).unwrap())
        .collect();
    // A PPGTT workload first: its shadow page tables stay, the rest is measured against them.
    for (i, g) in guests.iter_mut().enumerate() {
        g.submit(&mut m.guest(i), &[DATA_GVA], 1, DATA_GVA + 4)
            .unwrap();
    }
    m.run();
    for (i, g) in guests.iter_mut().enumerate() {
        assert_eq!(g.rcs.poll(&mut m.guest(i), &mut [(0, 0); 6]).unwrap(), 2);
    }
    let pages = m.host.live_pages();
    let bound: Vec<_> = guests
        .iter_mut()
        .enumerate()
        .map(|(i, g)| {
            let mut t = m.guest(i);
            (g.bind(&mut t, 1).unwrap(), g.bind(&mut t, 1).unwrap())
        })
        .collect();
    for round in 0..50u32 {
        for (i, g) in guests.iter_mut().enumerate() {
            let (batch, data) = bound[i];
            g.submit_privileged(&mut m.guest(i), batch, data, (i as u32 + 1) << 16 | round)
                .unwrap();
        }
        m.run();
        for (i, g) in guests.iter_mut().enumerate() {
            assert_eq!(m.vms[i].vgpu.failsafe(), None, "vm {i} round {round}");
            assert_eq!(
                read_u32(&mut m, i, bound[i].1 .1),
                (i as u32 + 1) << 16 | round,
                "vm {i} round {round}"
            );
            let mut t = m.guest(i);
            let mut ev = [(0, 0); 6];
            let n = g.rcs.poll(&mut t, &mut ev).unwrap();
            assert_eq!(
                &ev[..n],
                &[
                    (csb::IDLE_TO_ACTIVE, 0),
                    (csb::ACTIVE_TO_IDLE | csb::COMPLETE, 60 + i as u32)
                ]
            );
        }
    }
    for vm in &m.vms {
        assert_eq!(
            (
                vm.exec.stats().batches_shadowed,
                vm.exec.stats().batch_bytes
            ),
            (50, 50 * 20)
        );
    }
    // Every shadow, its pages and its GGTT range, went back with its workload.
    assert_eq!(m.host.live_pages(), pages);
    assert_eq!(m.host.ggtt_mapped(), 0);
}

#[test]
fn chained_and_second_level_privileged_batches() {
    let mut m = Machine::new(1, Tracking::AfterWrite);
    let mut t = m.guest(0);
    let mut g = Guest::new(&mut t, GUEST_RAM, RAM as u64, 3).unwrap();
    let data = g.bind(&mut t, 1).unwrap();
    let (a, b, c) = (
        g.bind(&mut t, 2).unwrap(),
        g.bind(&mut t, 1).unwrap(),
        g.bind(&mut t, 1).unwrap(),
    );
    let d = |off: u64| (data.0 + off) as u32;
    // A starts 8 bytes before a page boundary, so its first commands straddle it.
    let (a_gm, a_gpa) = (a.0 + PAGE - 8, a.1 + PAGE - 8);
    put(
        &mut t,
        a_gpa,
        &[
            SDI_GGTT,
            d(0),
            0,
            1,
            BB_CALL,
            b.0 as u32,
            0,
            SDI_GGTT,
            d(4),
            0,
            3,
            BB_GGTT,
            c.0 as u32,
            0,
            0xdead_beef,
            0xdead_beef,
        ],
    );
    put(&mut t, b.1, &[SDI_GGTT, d(8), 0, 2, BB_END]);
    // C chains to the guest's PPGTT batch, which runs unscanned and unprivileged.
    put(
        &mut t,
        c.1,
        &[
            SDI_GGTT,
            d(12),
            0,
            4,
            gpu::mi::BATCH_BUFFER_START_PPGTT,
            BATCH_GVA as u32,
            (BATCH_GVA >> 32) as u32,
        ],
    );
    let mut p = [0u32; 8];
    let n = gpu::store_batch(&[DATA_GVA], 5, &mut p).unwrap();
    put(&mut t, g.batch, &p[..n]);
    run_ring(
        &mut t,
        &mut g,
        &[
            BB_GGTT,
            a_gm as u32,
            0,
            gpu::mi::STORE_DATA_IMM,
            (DATA_GVA + 4) as u32,
            (DATA_GVA >> 32) as u32,
            6,
            gpu::mi::USER_INTERRUPT,
        ],
    );
    m.run();
    assert_eq!(m.vms[0].vgpu.failsafe(), None);
    let got: Vec<u32> = (0..4)
        .map(|k| read_u32(&mut m, 0, data.1 + 4 * k))
        .collect();
    assert_eq!(got, [1, 3, 2, 4]);
    assert_eq!(
        (
            read_u32(&mut m, 0, g.data[0]),
            read_u32(&mut m, 0, g.data[0] + 4)
        ),
        (5, 6)
    );
    assert_eq!(m.vms[0].exec.stats().batches_shadowed, 3);
    assert_eq!(m.host.ggtt_mapped(), 0);
}

#[test]
fn a_batch_rewritten_after_submission_runs_as_scanned() {
    let mut m = Machine::new(2, Tracking::AfterWrite);
    let mut g = Guest::new(&mut m.guest(0), GUEST_RAM, RAM as u64, 1).unwrap();
    let mut other = Guest::new(&mut m.guest(1), GUEST_RAM, RAM as u64, 2).unwrap();
    let victim = other.bind(&mut m.guest(1), 1).unwrap();
    let mut t = m.guest(0);
    let (batch, data) = (g.bind(&mut t, 1).unwrap(), g.bind(&mut t, 1).unwrap());
    g.submit_privileged(&mut t, batch, data, 0x600d).unwrap();
    // Scanned and shadowed at submission; before the GPU gets to it, the guest turns it into
    // a store into VM 1's memory and a GPU reset.
    put(
        &mut t,
        batch.1,
        &[
            SDI_GGTT,
            victim.0 as u32,
            0,
            0xbad,
            0x1100_0001,
            0x941c,
            1,
            BB_END,
        ],
    );
    m.run();
    assert_eq!(m.vms[0].vgpu.failsafe(), None);
    assert_eq!(read_u32(&mut m, 0, data.1), 0x600d);
    assert_eq!(read_u32(&mut m, 1, victim.1), 0);
    assert_eq!(m.engines[0].reg(0x941c), None);
}

/// A ring starting the privileged batch `cmds` (bound at a fresh page of guest 0).
fn hostile_batch(cmds: &'static [u32]) -> impl FnOnce(&mut Machine, &mut Guest) {
    move |m, g| {
        let mut t = m.guest(0);
        let batch = g.bind(&mut t, 1).unwrap();
        let cmds: Vec<u32> = cmds
            .iter()
            .map(|&c| if c == SELF { batch.0 as u32 } else { c })
            .collect();
        put(&mut t, batch.1, &cmds);
        run_ring(
            &mut t,
            g,
            &[BB_GGTT, batch.0 as u32, 0, gpu::mi::USER_INTERRUPT],
        );
    }
}

/// Stands for the batch's own graphics address in [`hostile_batch`].
const SELF: u32 = 0x5e1f_5e1f;

#[test]
fn privileged_batch_with_a_forbidden_register_is_refused() {
    contained(
        Tracking::AfterWrite,
        hostile_batch(&[0x1100_0001, 0x941c, 1, BB_END]),
    ); // LRI GDRST
}

#[test]
fn privileged_batch_running_off_its_mapping_is_refused() {
    // MI_NOOPs to the end of the last page the guest bound, and no end.
    contained(Tracking::AfterWrite, hostile_batch(&[]));
}

#[test]
fn privileged_batch_chaining_to_itself_is_refused() {
    contained(
        Tracking::AfterWrite,
        hostile_batch(&[gpu::mi::NOOP, BB_GGTT, SELF, 0]),
    );
}

#[test]
fn privileged_batches_nested_too_deep_are_refused() {
    contained(Tracking::AfterWrite, |m, g| {
        let mut t = m.guest(0);
        let (a, b, c) = (
            g.bind(&mut t, 1).unwrap(),
            g.bind(&mut t, 1).unwrap(),
            g.bind(&mut t, 1).unwrap(),
        );
        put(&mut t, a.1, &[BB_CALL, b.0 as u32, 0, BB_END]);
        put(&mut t, b.1, &[BB_CALL, c.0 as u32, 0, BB_END]);
        put(&mut t, c.1, &[BB_END]);
        run_ring(&mut t, g, &[BB_GGTT, a.0 as u32, 0, gpu::mi::NOOP]);
    });
    // A second-level batch started from the ring.
    contained(Tracking::AfterWrite, |m, g| {
        let mut t = m.guest(0);
        let a = g.bind(&mut t, 1).unwrap();
        put(&mut t, a.1, &[BB_END]);
        run_ring(&mut t, g, &[BB_CALL, a.0 as u32, 0, gpu::mi::NOOP]);
    });
}

#[test]
fn privileged_batch_outside_the_partition_is_refused() {
    contained(Tracking::AfterWrite, |m, g| {
        let theirs = m.vms[1].vgpu.partition().high.start;
        let mut t = m.guest(0);
        run_ring(
            &mut t,
            g,
            &[BB_GGTT, theirs as u32, (theirs >> 32) as u32, gpu::mi::NOOP],
        );
    });
}

#[test]
fn batch_shadows_go_with_reset_workloads() {
    let mut m = Machine::new(1, Tracking::AfterWrite);
    let mut g = Guest::new(&mut m.guest(0), GUEST_RAM, RAM as u64, 4).unwrap();
    let mut t = m.guest(0);
    let (batch, data) = (g.bind(&mut t, 1).unwrap(), g.bind(&mut t, 1).unwrap());
    g.submit_privileged(&mut t, batch, data, 7).unwrap();
    // On the host when the vGPU resets: the shadow stays mapped until the host is done.
    let vm = &mut m.vms[0];
    assert_eq!(
        vm.exec.dispatch(&mut vm.vgpu, &m.host, &mut vm.hv).unwrap(),
        1
    );
    m.device_reset(0).unwrap();
    assert_eq!(
        m.host.ggtt_mapped(),
        2,
        "one page of commands, one of prefetch"
    );
    m.run();
    assert_eq!(m.host.ggtt_mapped(), 0);
    // Queued when the vGPU resets: it goes at once.
    let mut g = Guest::new(&mut m.guest(0), GUEST_RAM, RAM as u64, 5).unwrap();
    let mut t = m.guest(0);
    let (batch, data) = (g.bind(&mut t, 1).unwrap(), g.bind(&mut t, 1).unwrap());
    g.submit_privileged(&mut t, batch, data, 8).unwrap();
    assert_eq!(m.host.ggtt_mapped(), 2);
    m.device_reset(0).unwrap();
    assert_eq!(m.host.ggtt_mapped(), 0);
    assert_eq!(m.host.live_pages(), 0);
}
