//! Benchmarks of the execution side (plain `cargo bench`, figures printed): shadowing one fully
//! populated 512-entry page table, re-validating it without page tracking, the same for one
//! submission among many shadowed trees, scheduler share
//! error over 10 s of simulated time, MMIO traps per submission, registers written per
//! render MMIO context switch, traps and submission time when a guest binds a whole page
//! table (out-of-sync pages), privileged batch shadowing throughput.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::float_arithmetic,
    clippy::cast_precision_loss
)]

use std::time::Instant;

use guest_model::exec_host::ExecHost;
use guest_model::gpu::{self, PAGE};
use guest_model::hv::{MemHypervisor, Tracking};
use guest_model::machine::{Guest, Machine, DATA_GVA, GUEST_RAM, RAM};
use guest_model::sched_sim::{share_error_ppm, simulate};
use guest_model::storage::{vec_tables, VecTables};
use guest_model::{Transport, TransportExt};
use gvt::model::mmio_context::{MmioContext, Owner};
use gvt::model::ppgtt::pool::SptStorage;
use gvt::model::ppgtt::{Env, Ppgtt, MAX_ROOTS, PTE_PRESENT};
use gvt::model::regs::Engine;
use gvt::mpt::MptOps;

/// The median of `v`, in µs (from seconds): a preemption on a loaded machine moves the mean,
/// not the median.
fn median_us(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2] * 1e6
}

/// A 4-level tree in guest memory whose PD points at `pts` fully populated page tables, with
/// what shadowing it needs.
struct Tree {
    hv: MemHypervisor,
    host: ExecHost,
    spts: VecTables,
    scratch: [u8; 4096],
    ppgtt: Ppgtt,
    pml4: u64,
}

impl Tree {
    fn new(pts: u64) -> Tree {
        let mut hv = MemHypervisor::new(1, 64 << 20);
        let (pml4, pdp, pd) = (0x10_0000u64, 0x10_1000u64, 0x10_2000u64);
        hv.write_gpa(pml4, &(pdp | 3).to_le_bytes()).unwrap();
        hv.write_gpa(pdp, &(pd | 3).to_le_bytes()).unwrap();
        for k in 0..pts {
            let pt = 0x10_3000 + k * PAGE;
            hv.write_gpa(pd + 8 * k, &(pt | 3).to_le_bytes()).unwrap();
            let entries: Vec<u8> = (0..512u64)
                .flat_map(|i| ((0x20_0000 + (k * 512 + i) * PAGE) | PTE_PRESENT | 2).to_le_bytes())
                .collect();
            hv.write_gpa(pt, &entries).unwrap();
        }
        Tree {
            hv,
            host: ExecHost::default(),
            spts: vec_tables(64),
            scratch: [0; 4096],
            ppgtt: Ppgtt::default(),
            pml4,
        }
    }

    /// Shadows, re-validates and tears down the tree once: the seconds each took.
    fn round(&mut self) -> [f64; 3] {
        let mut env = Env {
            spts: self.spts.pool(),
            scratch: &mut self.scratch,
            host: &self.host,
            mpt: &mut self.hv,
            ips: false,
        };
        let t = Instant::now();
        let (r, _) = self.ppgtt.pin(&mut env, self.pml4).unwrap();
        let build = t.elapsed().as_secs_f64();
        let t = Instant::now();
        self.ppgtt.sync(&mut env, &[r]).unwrap();
        let reval = t.elapsed().as_secs_f64();
        self.ppgtt.unpin(r);
        let t = Instant::now();
        self.ppgtt.forget_unpinned(&mut env);
        [build, reval, t.elapsed().as_secs_f64()]
    }
}

/// Per phase (build, re-validation, tear-down), the median over many rounds of a tree with two
/// full page tables less the same round of a tree with one, in µs. The two trees take turns,
/// so both see the same machine, and the median of the differences leaves out rounds a
/// preemption hit.
fn one_table() -> ([f64; 3], [f64; 3]) {
    let (mut one, mut two) = (Tree::new(1), Tree::new(2));
    let mut per_phase: [Vec<f64>; 3] = Default::default();
    let mut whole: [Vec<f64>; 3] = Default::default();
    for _ in 0..20_000 {
        let (a, b) = (one.round(), two.round());
        for p in 0..3 {
            per_phase[p].push(b[p] - a[p]);
            whole[p].push(a[p]);
        }
    }
    (
        per_phase.map(|mut v| median_us(&mut v)),
        whole.map(|mut v| median_us(&mut v)),
    )
}

fn shadowing() {
    let ([b, r, t], [b1, r1, t1]) = one_table();
    println!("shadow one fully populated 512-entry page table (1 bulk guest read, 512 DMA maps, 1 host write): {b:.2} us median (goal <= 5 us; upstream: 512 separate guest reads)");
    println!("  whole 4-level tree with one such table: {b1:.2} us; tear-down {t1:.2} us ({t:.2} us per table)");
    println!("  re-validation without page tracking, nothing changed: {r:.2} us per 512-entry table (one bulk read + compare), {r1:.2} us for the 4-table tree");
}

/// A submission without page tracking when the vGPU has [`MAX_ROOTS`] trees shadowed (a
/// guest with many contexts): what it re-reads, its own tree or every tree.
fn sync_among_trees() {
    let mut hv = MemHypervisor::new(1, 64 << 20);
    let pml4s: Vec<u64> = (0..MAX_ROOTS as u64)
        .map(|k| 0x10_0000 + k * 0x10_000)
        .collect();
    for &pml4 in &pml4s {
        for l in 0..3 {
            hv.write_gpa(
                pml4 + l * PAGE,
                &((pml4 + (l + 1) * PAGE) | 3).to_le_bytes(),
            )
            .unwrap();
        }
        let entries: Vec<u8> = (0..64u64)
            .flat_map(|i| ((0x200_0000 + i * PAGE) | 3).to_le_bytes())
            .collect();
        hv.write_gpa(pml4 + 3 * PAGE, &entries).unwrap();
    }
    let host = ExecHost::default();
    let (mut spts, mut scratch, mut ppgtt) =
        (vec_tables(4 * MAX_ROOTS), [0u8; 4096], Ppgtt::default());
    let mut env = Env {
        spts: spts.pool(),
        scratch: &mut scratch,
        host: &host,
        mpt: &mut hv,
        ips: false,
    };
    let roots: Vec<usize> = pml4s
        .iter()
        .map(|&p| ppgtt.pin(&mut env, p).unwrap().0)
        .collect();
    let mut time = |which: &[usize]| {
        let mut v: Vec<f64> = (0..5_000)
            .map(|_| {
                let t = Instant::now();
                ppgtt.sync(&mut env, which).unwrap();
                t.elapsed().as_secs_f64()
            })
            .collect();
        median_us(&mut v)
    };
    let (own, all) = (time(&roots[..1]), time(&roots));
    println!("sync before a submission, no page tracking, {MAX_ROOTS} trees of 4 tables shadowed: {own:.2} us re-reading the submitted tree, {all:.2} us re-reading every tree (before: every tree, every submission, twice)");
}

fn scheduler() {
    let weights = [1, 2, 4, 8, 16];
    let t = Instant::now();
    let got = simulate(&weights, 10_000_000_000, 1_500_000, 7);
    let dt = t.elapsed();
    let total: u64 = got.iter().sum();
    let wsum: u32 = weights.iter().sum();
    for (w, g) in weights.iter().zip(&got) {
        println!(
            "  weight {w:2}: {:6.3}% of GPU time (fair {:6.3}%)",
            *g as f64 * 100.0 / total as f64,
            f64::from(*w) * 100.0 / f64::from(wsum)
        );
    }
    let err = share_error_ppm(&weights, &got);
    println!("scheduler share error over 10 s simulated (weights 1,2,4,8,16; workloads 50 us-1.5 ms): {:.3}% of the fair share (goal <= 2%), simulated in {:.1} ms", err as f64 / 1e4, dt.as_secs_f64() * 1e3);
    let weights = [2, 2, 4, 16];
    let got = simulate(&weights, 10_000_000_000, 400_000, 11);
    println!(
        "  weights 2,2,4,16 with workloads 50-400 us: {:.3}%",
        share_error_ppm(&weights, &got) as f64 / 1e4
    );
}

fn traps_and_switches() {
    let mut m = Machine::new(2, Tracking::AfterWrite);
    let mut guests: Vec<Guest> = (0..2)
        .map(|i| Guest::new(&mut m.guest(i), GUEST_RAM, RAM as u64, 1 + i as u32).unwrap())
        .collect();
    // The guests program their MOCS and PAT differently, as two drivers would.
    for i in 0..2 {
        let mut t = m.guest(i);
        for r in 0..64u32 {
            t.write32(0xcc00 + 4 * r, 0x30 + r * (i as u32 + 1))
                .unwrap();
        }
        t.write32(0x40e0, 0x1000 + i as u32).unwrap();
    }
    m.run();
    let rounds = 200u64;
    let before: Vec<u64> = m.vms.iter().map(|v| v.traps).collect();
    for r in 0..rounds {
        for (i, g) in guests.iter_mut().enumerate() {
            g.submit(&mut m.guest(i), &[DATA_GVA], r as u32, DATA_GVA + 4)
                .unwrap();
        }
        m.run();
    }
    let submit_traps: u64 = m.vms.iter().zip(&before).map(|(v, b)| v.traps - b).sum();
    println!("traps per submission: {:.1} (ELSP dwords; the ring, context and batch are read in bulk, never trapped)", submit_traps as f64 / (2 * rounds) as f64);
    let before = m.vms[0].traps;
    gpu::ack_gt(&mut m.guest(0)).unwrap();
    println!("  plus the guest's interrupt handler: {} MMIO writes per interrupt (master off and on, 3 GT IIR clears)", m.vms[0].traps - before);

    // Registers written per render MMIO switch: a fresh tracker, host -> A -> B -> A -> host.
    let host = ExecHost::default();
    let mut ctx = MmioContext::default();
    let a = &m.vms[0].vgpu;
    let b = &m.vms[1].vgpu;
    let mut line = Vec::new();
    for (name, owner, v) in [
        ("host->A", Owner::Vgpu(1), a),
        ("A->B", Owner::Vgpu(2), b),
        ("B->A", Owner::Vgpu(1), a),
    ] {
        let n: u32 = Engine::ALL
            .iter()
            .map(|&e| ctx.switch(&host, e, owner, |r| v.vreg(r)))
            .sum();
        line.push(format!("{name} {n}"));
    }
    let n: u32 = Engine::ALL
        .iter()
        .map(|&e| ctx.switch(&host, e, Owner::Host, |_| 0))
        .sum();
    line.push(format!("A->host {n}"));
    println!("registers written per context switch (all 4 engines; upstream rewrites all {} every time): {}", gvt::model::mmio_context::SWITCHED_REGS, line.join(", "));
    let s = m.mmio.stats();
    println!(
        "  in the 2-vGPU run above: {} switches, {:.1} registers per switch",
        s.switches,
        s.writes as f64 / s.switches.max(1) as f64
    );
}

/// A guest binding 2 MiB (all 512 entries of one page table) between two submissions, as i915
/// binds a buffer: the traps that takes, and the submission after it (table protected again,
/// re-read, 512 entries re-shadowed) against one after no page-table write.
fn bulk_binding() {
    let mut m = Machine::new(1, Tracking::AfterWrite);
    let mut g = Guest::new(&mut m.guest(0), GUEST_RAM, RAM as u64, 1).unwrap();
    let base = 0x4_0000_0000u64;
    let mut t = m.guest(0);
    let pages = [
        g.alloc.ram(&mut t, 1).unwrap(),
        g.alloc.ram(&mut t, 1).unwrap(),
    ];
    g.ppgtt.map(&mut t, &mut g.alloc, base, pages[0]).unwrap();
    g.submit(&mut t, &[base], 0, DATA_GVA).unwrap();
    m.run();
    let (mut traps, mut bound, mut idle) = (0, Vec::new(), Vec::new());
    let rounds = 41u64;
    for r in 0..rounds {
        if r % 2 == 1 {
            let before = m.vms[0].traps;
            let mut t = m.guest(0);
            for i in 0..512u64 {
                g.ppgtt
                    .map(
                        &mut t,
                        &mut g.alloc,
                        base + i * PAGE,
                        pages[(r / 2 % 2) as usize],
                    )
                    .unwrap();
            }
            traps += m.vms[0].traps - before;
        }
        let mut t = m.guest(0);
        let start = Instant::now();
        g.submit(&mut t, &[base + 8], r as u32, DATA_GVA).unwrap();
        let dt = start.elapsed().as_secs_f64();
        if r % 2 == 1 {
            bound.push(dt);
        } else {
            idle.push(dt);
        }
        m.run();
    }
    let s = m.vms[0].exec.ppgtt_stats();
    println!(
        "binding 512 pages in one page table between submissions: {:.1} traps (512 without out-of-sync pages, one per write); submission after it {:.1} us, after no binding {:.1} us (medians; {} tables resynced)",
        traps as f64 / (rounds / 2) as f64,
        median_us(&mut bound),
        median_us(&mut idle),
        s.tables_resynced
    );
}

/// Mean time from the ELSP write to a queued workload (ring and context copied, ring and
/// privileged batch scanned, batch shadowed) for a privileged batch of `dwords` (GGTT stores
/// and MI_NOOPs, then its end); and the bytes shadowed per submission.
fn privileged_submission(dwords: usize) -> (f64, u64) {
    let mut m = Machine::new(1, Tracking::AfterWrite);
    let mut t = m.guest(0);
    let mut g = Guest::new(&mut t, GUEST_RAM, RAM as u64, 1).unwrap();
    let data = g.bind(&mut t, 1).unwrap();
    let batch = g.bind(&mut t, 16).unwrap();
    let sdi = [
        gpu::mi::STORE_DATA_IMM_GGTT,
        data.0 as u32,
        0,
        7,
        0,
        0,
        0,
        0,
    ];
    let mut cmds: Vec<u32> = sdi.iter().copied().cycle().take(dwords - 1).collect();
    cmds.push(gpu::mi::BATCH_BUFFER_END);
    for (i, c) in cmds.iter().enumerate() {
        t.ram_write(batch.1 + 4 * i as u64, &c.to_le_bytes())
            .unwrap();
    }
    let rounds = 300u32;
    let mut secs = 0f64;
    for _ in 0..rounds {
        let mut t = m.guest(0);
        g.ctx
            .emit(
                &mut t,
                &[
                    gpu::mi::BATCH_BUFFER_START_GGTT,
                    batch.0 as u32,
                    0,
                    gpu::mi::NOOP,
                ],
            )
            .unwrap();
        g.ctx.publish(&mut t).unwrap();
        let start = Instant::now();
        gpu::submit(&mut t, &g.ctx, None).unwrap();
        secs += start.elapsed().as_secs_f64();
        m.run();
    }
    let s = m.vms[0].exec.stats();
    assert_eq!(
        (s.batches_shadowed, m.vms[0].vgpu.failsafe()),
        (u64::from(rounds), None)
    );
    (secs / f64::from(rounds), s.batch_bytes / u64::from(rounds))
}

fn privileged_batches() {
    let (small, small_bytes) = privileged_submission(5);
    let (big, big_bytes) = privileged_submission(16 * 1024);
    println!(
        "render submission with a privileged batch: {:.1} us with {small_bytes} bytes, {:.1} us with {} KiB; the batch (copied a page at a time, scanned, shadowed into host pages + GGTT) at {:.0} MB/s",
        small * 1e6,
        big * 1e6,
        big_bytes / 1024,
        (big_bytes - small_bytes) as f64 / (big - small) / 1e6
    );
}

fn main() {
    shadowing();
    sync_among_trees();
    scheduler();
    traps_and_switches();
    bulk_binding();
    privileged_batches();
}
