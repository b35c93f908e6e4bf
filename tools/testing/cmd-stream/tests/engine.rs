//! The sim engines at L0: real command streams executed through the GGTT and a 4-level PPGTT,
//! results checked in memory; faults and hangs detected.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::cast_possible_truncation
)]

use std::sync::atomic::{AtomicU64, Ordering};

use cmd_stream::{i915, mesa, mi, pc, BatchMem, PageMemory, Stream};
use gvt::model::cmd_scanner::{Policy, Scanner};
use gvt::model::hw::Platform;
use gvt::model::regs::Engine as Id;
use gvt::model::resources::{Partition, Span};
use gvt::sim::engine::{
    Cursor, Engine, HostMemory, Outcome, RingState, RunResult, Space, MAX_REGS,
};

const RING: u64 = 0x10_0000;
const HWSP: u64 = 0x20_0000;
const DATA: u64 = 0x30_0000;
const PML4: u64 = 0x9000_0000;
/// PPGTT addresses mapped with 4 KiB pages, and one 2 MiB page.
const PP4K: u64 = 0x7f_c040_0000;
const PP2M: u64 = 0x80_1000_0000;
/// A PPGTT page at a low address, and its host page.
const LOW: u64 = 0x10_0000;
const LOW_PA: u64 = 0xc000_0000;

struct Gpu {
    mem: PageMemory,
    ggtt: Vec<AtomicU64>,
}

impl Gpu {
    fn new() -> Gpu {
        let mut g = Gpu {
            mem: PageMemory::default(),
            ggtt: (0..4096).map(|_| AtomicU64::new(0)).collect(),
        };
        for gma in [
            RING,
            RING + 0x1000,
            HWSP,
            DATA,
            DATA + 0x1000,
            DATA + 0x2000,
        ] {
            g.map_ggtt(gma);
        }
        // PML4 -> PDP -> PD -> PT for PP4K (16 pages), and a 2 MiB PD entry for PP2M.
        let (pdp, pd, pt) = (PML4 + 0x1000, PML4 + 0x2000, PML4 + 0x3000);
        for t in [PML4, pdp, pd, pt] {
            g.mem.add_page(t);
        }
        let idx = |va: u64, shift: u32| (va >> shift) & 0x1ff;
        g.pte(PML4, idx(PP4K, 39), pdp | 3);
        g.pte(pdp, idx(PP4K, 30), pd | 3);
        g.pte(pd, idx(PP4K, 21), pt | 3);
        for i in 0..16 {
            let pa = 0xa000_0000 + i * 0x1000;
            g.mem.add_page(pa);
            g.pte(pt, idx(PP4K, 12) + i, pa | 3);
        }
        let (pdp2, pd2) = (PML4 + 0x4000, PML4 + 0x5000);
        g.mem.add_page(pdp2);
        g.mem.add_page(pd2);
        g.pte(PML4, idx(PP2M, 39), pdp2 | 3);
        g.pte(pdp2, idx(PP2M, 30), pd2 | 3);
        g.pte(pd2, idx(PP2M, 21), 0xb000_0000 | (1 << 7) | 3);
        g.mem.add_page(0xb000_0000 + 0x1_5000);
        // The page i915's blitter batch stores its timestamps in (PPGTT 0x10_0000).
        let (pd3, pt3) = (PML4 + 0x7000, PML4 + 0x8000);
        for t in [pd3, pt3, LOW_PA] {
            g.mem.add_page(t);
        }
        assert_eq!(
            (idx(LOW, 39), idx(LOW, 30), idx(PP4K, 39), idx(PP4K, 30)),
            (0, 0, 0, 511)
        );
        g.pte(pdp, 0, pd3 | 3);
        g.pte(pd3, 0, pt3 | 3);
        g.pte(pt3, idx(LOW, 12), LOW_PA | 3);
        g
    }

    fn map_ggtt(&mut self, gma: u64) {
        let pa = 0x1000_0000 + gma;
        self.mem.add_page(pa);
        self.ggtt[(gma >> 12) as usize].store(pa | 1, Ordering::Relaxed);
    }

    fn pte(&mut self, table: u64, i: u64, v: u64) {
        assert!(self.mem.write(table + i * 8, &v.to_le_bytes()));
    }

    fn ggtt_pa(&self, gma: u64) -> u64 {
        (self.ggtt[(gma >> 12) as usize].load(Ordering::Relaxed) & !0xfff) | (gma & 0xfff)
    }

    fn pp_pa(gma: u64) -> u64 {
        if gma >= PP2M {
            0xb000_0000 + (gma - PP2M)
        } else {
            0xa000_0000 + (gma - PP4K)
        }
    }

    fn put_ggtt(&mut self, gma: u64, s: &Stream) {
        for (i, d) in s.dw.iter().enumerate() {
            let a = self.ggtt_pa(gma + 4 * i as u64);
            assert!(self.mem.write(a, &d.to_le_bytes()));
        }
    }

    fn put_pp(&mut self, gma: u64, s: &Stream) {
        for (i, d) in s.dw.iter().enumerate() {
            assert!(self
                .mem
                .write(Gpu::pp_pa(gma + 4 * i as u64), &d.to_le_bytes()));
        }
    }

    fn run(&mut self, e: Id, ring: &Stream, head: u32, budget: u64) -> (RunResult, Engine) {
        // The ring is written at `head` and may wrap around its 8 KiB.
        for (i, d) in ring.dw.iter().enumerate() {
            let off = (u64::from(head) + 4 * i as u64) % 0x2000;
            let a = self.ggtt_pa(RING + off);
            assert!(self.mem.write(a, &d.to_le_bytes()));
        }
        let tail = ((u64::from(head) + u64::from(ring.len_bytes())) % 0x2000) as u32;
        let state = RingState {
            start: RING,
            space: Space::Ggtt,
            size: 0x2000,
            head,
            tail,
        };
        let mut eng = Engine::new(e, HWSP);
        let r = eng.run(
            &mut self.mem,
            &0u64,
            &self.ggtt,
            state,
            Some(PML4),
            Cursor::at(head),
            budget,
        );
        (r, eng)
    }
}

#[test]
fn i915_requests_complete_with_breadcrumbs_in_memory() {
    let mut g = Gpu::new();
    // The user batch: Mesa state (skipped by length), stores through 4 KiB and 2 MiB pages, a
    // second-level call and a chain.
    let mut b1 = Stream::new();
    mesa::draw(&mut b1, PP4K + 0x2000);
    b1.sdi(PP4K + 0x1000, false, 0x1111)
        .sqi(PP2M + 0x1_5008, false, 0x2222_0000_3333);
    b1.bb_start(PP4K + 0x8000, true, true)
        .sdi(PP4K + 0x1004, false, 0x4444);
    b1.bb_start(PP4K + 0x9000, true, false).raw(&[0xffff_ffff]);
    g.put_pp(PP4K, &b1);
    g.put_pp(
        PP4K + 0x8000,
        &s(|s| {
            s.sdi(PP4K + 0x1008, false, 0x5555).bb_end();
        }),
    );
    g.put_pp(
        PP4K + 0x9000,
        &s(|s| {
            s.pipe_control(pc::CS_STALL | pc::QW_WRITE, PP4K + 0x1010, 0x6666)
                .bb_end();
        }),
    );

    let mut ring = Stream::new();
    i915::init_context(&mut ring);
    i915::request_rcs(&mut ring, HWSP, PP4K, 42);
    ring.store_index(0x40, 0x77).lri(&[(0x2580, 9)]);
    ring.flush_dw(DATA + 0x18, true, 0x88, true);
    let (r, eng) = g.run(Id::Rcs, &ring, 0, 10_000);
    assert_eq!(r.outcome, Outcome::Completed, "{r:?}");
    assert_eq!(r.head, ring.len_bytes());
    assert_eq!((r.user_interrupts, r.notifies), (1, 1));
    let m = &g.mem;
    assert_eq!(m.dw(g.ggtt_pa(HWSP)), 42);
    assert_eq!(m.dw(g.ggtt_pa(HWSP + 8)), 41);
    assert_eq!(m.dw(g.ggtt_pa(HWSP + 0x40)), 0x77);
    assert_eq!(m.dw(g.ggtt_pa(DATA + 0x18)), 0x88);
    assert_eq!(m.dw(Gpu::pp_pa(PP4K + 0x1000)), 0x1111);
    assert_eq!(m.qw(Gpu::pp_pa(PP2M + 0x1_5008)), 0x2222_0000_3333);
    assert_eq!(m.dw(Gpu::pp_pa(PP4K + 0x1008)), 0x5555);
    assert_eq!(m.dw(Gpu::pp_pa(PP4K + 0x1004)), 0x4444);
    assert_eq!(m.qw(Gpu::pp_pa(PP4K + 0x1010)), 0x6666);
    // Mesa's LRI in the batch comes after i915's workaround LRI in the ring.
    assert_eq!(
        (eng.reg(0x2580), eng.reg(0x7004), eng.reg(0xc804)),
        (Some(9), Some(0x0800_0800), Some(0x3b))
    );
}

#[test]
fn what_the_scanner_accepts_runs_to_completion() {
    // The two halves agree on what a command stream is: a scanned workload (ring, privileged
    // batch, PPGTT batch with a second level) executes to its tail.
    let mut g = Gpu::new();
    let mut mem = BatchMem::default();
    let user = s(|s| {
        mesa::draw(s, PP4K + 0x2000);
        mesa::compute(s);
        s.bb_start(PP4K + 0x8000, true, true).bb_end();
    });
    let second = s(|s| {
        s.sdi(PP4K + 0x1000, false, 1).bb_end();
    });
    let privileged = s(|s| {
        s.srm(0xb118, DATA + 0x40, true)
            .lri(&[(0xb118, 1)])
            .bb_end();
    });
    g.put_pp(PP4K, &user);
    g.put_pp(PP4K + 0x8000, &second);
    g.put_ggtt(DATA + 0x1000, &privileged);
    mem.put(true, PP4K, user.bytes());
    mem.put(true, PP4K + 0x8000, second.bytes());
    mem.put(false, DATA + 0x1000, privileged.bytes());
    let mut ring = Stream::new();
    i915::init_context(&mut ring);
    ring.bb_start(DATA + 0x1000, false, false);
    i915::request_rcs(&mut ring, HWSP, PP4K, 9);
    let part = Partition {
        low: Span {
            start: 0,
            size: 16 << 20,
        },
        high: Span::default(),
        fences: Span::default(),
    };
    let sc = Scanner::new(
        Platform::Broxton,
        Id::Rcs,
        &part,
        Policy { scan_ppgtt: true },
    );
    let rep = sc
        .scan_ring(&ring.bytes(), &mut mem, &mut |_| true)
        .unwrap();
    assert_eq!(rep.batches().count(), 3);
    let (r, _) = g.run(Id::Rcs, &ring, 0, 100_000);
    assert_eq!(
        (r.outcome, r.user_interrupts),
        (Outcome::Completed, rep.user_interrupts)
    );
    assert_eq!(g.mem.dw(g.ggtt_pa(HWSP)), 9);
}

#[test]
fn every_engine_runs_its_own_commands_and_the_ring_wraps() {
    for (e, f) in [
        (Id::Bcs, i915::blit_batch as fn(&mut Stream)),
        (Id::Vcs, mesa::decode_avc),
        (Id::Vecs, mesa::vebox),
    ] {
        let mut g = Gpu::new();
        let mut b = Stream::new();
        f(&mut b);
        b.flush_dw(DATA + 0x20, true, 5, true).bb_end();
        g.put_ggtt(DATA + 0x1000, &b);
        g.put_pp(
            PP4K,
            &s(|s| {
                s.bb_end();
            }),
        );
        assert!(g.mem.write(LOW_PA, &[0x5a; 12]));
        let mut ring = Stream::new();
        i915::request_xcs(&mut ring, HWSP, PP4K, 3);
        ring.bb_start(DATA + 0x1000, false, false);
        let head = 0x2000 - 24;
        let (r, _) = g.run(e, &ring, head, 10_000);
        assert_eq!(r.outcome, Outcome::Completed, "{e:?}: {r:?}");
        assert_eq!(r.head, (head + ring.len_bytes()) % 0x2000);
        assert_eq!(
            (g.mem.dw(g.ggtt_pa(HWSP)), g.mem.dw(g.ggtt_pa(DATA + 0x20))),
            (3, 5),
            "{e:?}"
        );
        assert_eq!((r.user_interrupts, r.notifies), (1, 1));
        if e == Id::Bcs {
            // The blitter batch's SRMs of RING_TIMESTAMP and CTX_TIMESTAMP landed (the clock
            // is at 0: both read 0 over the poison).
            assert_eq!((g.mem.dw(LOW_PA), g.mem.dw(LOW_PA + 8)), (0, 0));
        }
    }
}

#[test]
fn semaphores_pass_when_true_and_wait_across_slices_when_not() {
    let mut g = Gpu::new();
    let mut ring = Stream::new();
    ring.sdi(DATA, true, 7)
        .semaphore_wait_eq(DATA, 7)
        .sdi(DATA + 4, true, 1);
    let (r, _) = g.run(Id::Rcs, &ring, 0, 100);
    assert_eq!(r.outcome, Outcome::Completed);
    let mut ring = Stream::new();
    ring.semaphore_wait_eq(DATA, 8).sdi(DATA + 4, true, 2);
    let (r, mut eng) = g.run(Id::Rcs, &ring, 0, 1000);
    assert_eq!((r.outcome, r.head, r.spent), (Outcome::Sliced, 0, 1000));
    assert_eq!(g.mem.dw(g.ggtt_pa(DATA + 4)), 1);
    // Still waiting in the next slice; once the CPU writes the value the wait passes.
    let st = RingState {
        start: RING,
        space: Space::Ggtt,
        size: 0x2000,
        head: 0,
        tail: ring.len_bytes(),
    };
    let r = eng.run(&mut g.mem, &0u64, &g.ggtt, st, Some(PML4), r.cursor, 1000);
    assert_eq!((r.outcome, r.head), (Outcome::Sliced, 0));
    assert!(g.mem.write(g.ggtt_pa(DATA), &8u32.to_le_bytes()));
    let r = eng.run(&mut g.mem, &0u64, &g.ggtt, st, Some(PML4), r.cursor, 1000);
    assert_eq!((r.outcome, r.head), (Outcome::Completed, st.tail));
    assert_eq!(g.mem.dw(g.ggtt_pa(DATA + 4)), 2);
}

/// i915's igt_spinner in the GGTT: a store, an arbitration point, then a jump back to itself;
/// returns its address.
fn put_spinner(g: &mut Gpu) -> u64 {
    let spin = DATA + 0x1000;
    g.put_ggtt(
        spin,
        &s(|s| {
            s.sdi(DATA, true, 1)
                .arb_check()
                .bb_start(spin, false, false);
        }),
    );
    spin
}

#[test]
fn a_spinner_runs_across_slices_until_the_cpu_ends_it() {
    let mut g = Gpu::new();
    let spin = put_spinner(&mut g);
    let mut ring = Stream::new();
    ring.noop().bb_start(spin, false, false).user_interrupt();
    let (r, mut eng) = g.run(Id::Rcs, &ring, 0, 50_000);
    assert_eq!(
        (r.outcome, r.head, r.user_interrupts, r.spent),
        (Outcome::Sliced, 4, 0, 50_000)
    );
    let st = RingState {
        start: RING,
        space: Space::Ggtt,
        size: 0x2000,
        head: 0,
        tail: ring.len_bytes(),
    };
    let r = eng.run(&mut g.mem, &0u64, &g.ggtt, st, Some(PML4), r.cursor, 50_000);
    assert_eq!((r.outcome, r.user_interrupts), (Outcome::Sliced, 0));
    // The CPU ends it (igt_spinner_end writes MI_BATCH_BUFFER_END over its first command); the
    // next slice fetches afresh and leaves the batch.
    g.put_ggtt(
        spin,
        &s(|s| {
            s.bb_end();
        }),
    );
    let r = eng.run(&mut g.mem, &0u64, &g.ggtt, st, Some(PML4), r.cursor, 50_000);
    assert_eq!(
        (r.outcome, r.head, r.user_interrupts),
        (Outcome::Completed, st.tail, 1)
    );
}

/// A clock that moves 1 µs each time it is read.
struct Ticking(std::cell::Cell<u64>);

impl gvt::sim::engine::Clock for Ticking {
    fn now_ns(&self) -> u64 {
        let t = self.0.get() + 1000;
        self.0.set(t);
        t
    }
}

#[test]
fn a_time_slice_ends_a_spinner_or_a_semaphore_wait_before_its_budget() {
    let mut g = Gpu::new();
    let spin = put_spinner(&mut g);
    let sem = s(|s| {
        s.semaphore_wait_eq(DATA + 0x800, 1);
    });
    let mut spinning = Stream::new();
    spinning
        .noop()
        .bb_start(spin, false, false)
        .user_interrupt();
    for ring in [&spinning, &sem] {
        for d in ring.dw.iter().enumerate() {
            let a = g.ggtt_pa(RING + 4 * d.0 as u64);
            assert!(g.mem.write(a, &d.1.to_le_bytes()));
        }
        let st = RingState {
            start: RING,
            space: Space::Ggtt,
            size: 0x2000,
            head: 0,
            tail: ring.len_bytes(),
        };
        let clock = Ticking(std::cell::Cell::new(0));
        let mut eng = Engine::new(Id::Rcs, HWSP);
        eng.set_slice_ns(100_000);
        let budget = 1 << 14;
        let r = eng.run(
            &mut g.mem,
            &clock,
            &g.ggtt,
            st,
            Some(PML4),
            Cursor::at(0),
            budget,
        );
        // The clock is read at the start and every 32 units: about 100 readings fit 100 µs.
        assert_eq!(r.outcome, Outcome::Sliced);
        assert!((32 * 90..=32 * 110).contains(&r.spent), "spent {}", r.spent);
        // Without a slice the same run takes its whole budget.
        eng.set_slice_ns(0);
        let r = eng.run(
            &mut g.mem,
            &clock,
            &g.ggtt,
            st,
            Some(PML4),
            r.cursor,
            budget,
        );
        assert_eq!((r.outcome, r.spent), (Outcome::Sliced, budget));
    }
}

#[test]
fn unmapped_addresses_fault() {
    let mut g = Gpu::new();
    let cases: [(Stream, Outcome); 6] = [
        (
            s(|s| {
                s.sdi(0x50_0000, true, 1);
            }),
            Outcome::Fault {
                addr: 0x50_0000,
                ppgtt: false,
            },
        ),
        (
            s(|s| {
                s.sdi(0x1_0000_0000, true, 1);
            }),
            Outcome::Fault {
                addr: 0x1_0000_0000,
                ppgtt: false,
            },
        ),
        (
            s(|s| {
                s.bb_start(PP4K + 0x20_0000, true, false);
            }),
            Outcome::Fault {
                addr: PP4K + 0x20_0000,
                ppgtt: true,
            },
        ),
        (
            s(|s| {
                s.pipe_control(pc::QW_WRITE, 0x4000_0000, 0);
            }),
            Outcome::Fault {
                addr: 0x4000_0000,
                ppgtt: true,
            },
        ),
        (
            s(|s| {
                s.raw(&[0xe000_0000]);
            }),
            Outcome::BadCommand(0xe000_0000),
        ),
        (
            s(|s| {
                s.bb_end();
            }),
            Outcome::BadCommand(mi(0x0a, 0)),
        ),
    ];
    for (ring, want) in cases {
        let (r, _) = g.run(Id::Rcs, &ring, 0, 100);
        assert_eq!((r.outcome, r.head), (want, 0));
    }
    // A 1 GiB page is refused.
    let mut g = Gpu::new();
    let pdp = PML4 + 0x1000;
    g.pte(pdp, 2, 0xc000_0000 | (1 << 7) | 3);
    let va = (PP4K & !((1 << 39) - 1)) | (2 << 30);
    let (r, _) = g.run(
        Id::Rcs,
        &s(|s| {
            s.sdi(va, false, 1);
        }),
        0,
        100,
    );
    assert_eq!(
        r.outcome,
        Outcome::Fault {
            addr: va,
            ppgtt: true
        }
    );
    // Without a PPGTT every PPGTT access faults.
    let mut g = Gpu::new();
    let ring = s(|s| {
        s.sdi(PP4K, false, 1);
    });
    g.put_ggtt(RING, &ring);
    let mut eng = Engine::new(Id::Rcs, HWSP);
    let st = RingState {
        start: RING,
        space: Space::Ggtt,
        size: 0x2000,
        head: 0,
        tail: ring.len_bytes(),
    };
    assert_eq!(
        eng.run(
            &mut g.mem,
            &0u64,
            &g.ggtt,
            st,
            None,
            Cursor::at(st.head),
            10
        )
        .outcome,
        Outcome::Fault {
            addr: PP4K,
            ppgtt: true
        }
    );
}

#[test]
fn nesting_beyond_second_level_is_an_error() {
    let mut g = Gpu::new();
    g.put_ggtt(
        DATA,
        &s(|s| {
            s.bb_start(DATA + 0x1000, false, true).bb_end();
        }),
    );
    g.put_ggtt(
        DATA + 0x1000,
        &s(|s| {
            s.bb_start(DATA + 0x2000, false, true).bb_end();
        }),
    );
    g.put_ggtt(
        DATA + 0x2000,
        &s(|s| {
            s.bb_end();
        }),
    );
    let (r, _) = g.run(
        Id::Rcs,
        &s(|s| {
            s.bb_start(DATA, false, false);
        }),
        0,
        100,
    );
    assert_eq!(r.outcome, Outcome::BadNesting);
    // A privileged-looking store in a PPGTT batch goes through the PPGTT.
    let mut g = Gpu::new();
    g.put_pp(
        PP4K,
        &s(|s| {
            s.sdi(PP4K + 0x100, true, 9).bb_end();
        }),
    );
    let (r, _) = g.run(
        Id::Rcs,
        &s(|s| {
            s.bb_start(PP4K, true, false);
        }),
        0,
        100,
    );
    assert_eq!(r.outcome, Outcome::Completed);
    assert_eq!(g.mem.dw(Gpu::pp_pa(PP4K + 0x100)), 9);
}

#[test]
fn noop_runs_spend_one_unit_each_and_stop_at_the_tail() {
    let mut g = Gpu::new();
    // 20 MI_NOOPs then the tail, in a ring that has more zeros after it.
    let (r, _) = g.run(
        Id::Rcs,
        &s(|s| {
            s.raw(&[0; 20]);
        }),
        0,
        100,
    );
    assert_eq!((r.outcome, r.head, r.spent), (Outcome::Completed, 80, 20));
    // Across the ring's end: four before the wrap, three and an interrupt after it.
    let (r, _) = g.run(
        Id::Rcs,
        &s(|s| {
            s.raw(&[0; 7]).user_interrupt();
        }),
        0x2000 - 16,
        100,
    );
    assert_eq!(
        (r.outcome, r.head, r.spent, r.user_interrupts),
        (Outcome::Completed, 16, 8, 1)
    );
    // A ring that ends inside a page, with a tail it never reaches: the run wraps at the
    // ring's end, not at the page's.
    let mut g = Gpu::new();
    let start = RING + 0x800;
    assert!(g.mem.write(g.ggtt_pa(start), &mi(0x02, 0).to_le_bytes()));
    let st = RingState {
        start,
        space: Space::Ggtt,
        size: 0x1000,
        head: 0xff0,
        tail: 0x1800,
    };
    let r = Engine::new(Id::Rcs, HWSP).run(
        &mut g.mem,
        &0u64,
        &g.ggtt,
        st,
        Some(PML4),
        Cursor::at(st.head),
        100,
    );
    assert_eq!(
        (r.outcome, r.head, r.user_interrupts),
        (Outcome::Sliced, 96 * 4, 1)
    );
    // A batch running into zero pages: every MI_NOOP counts against the budget, page after
    // page, until the budget ends or the first unmapped page faults.
    let ring = s(|s| {
        s.bb_start(PP4K + 0x3000, true, false);
    });
    let (r, _) = g.run(Id::Rcs, &ring, 0, 5000);
    assert_eq!((r.outcome, r.spent), (Outcome::Sliced, 5000));
    let (r, _) = g.run(Id::Rcs, &ring, 0, 100_000);
    assert_eq!(
        (r.outcome, r.spent),
        (
            Outcome::Fault {
                addr: PP4K + 0x1_0000,
                ppgtt: true
            },
            2 + 13 * 1024
        )
    );
}

#[test]
fn writes_reach_the_commands_ahead_and_the_page_tables() {
    // A batch that stores an MI_USER_INTERRUPT over its own next dword runs it.
    let mut g = Gpu::new();
    g.put_pp(
        PP4K,
        &s(|s| {
            s.sdi(PP4K + 16, false, mi(0x02, 0)).noop().bb_end();
        }),
    );
    let (r, _) = g.run(
        Id::Rcs,
        &s(|s| {
            s.bb_start(PP4K, true, false);
        }),
        0,
        100,
    );
    assert_eq!((r.outcome, r.user_interrupts), (Outcome::Completed, 1));
    // A store that rewrites a PTE (the page table is also mapped in the GGTT) moves the next
    // access through it.
    let mut g = Gpu::new();
    let (pt, moved) = (PML4 + 0x3000, 0xa000_5000);
    g.ggtt[(DATA + 0x3000) as usize >> 12].store(pt | 1, Ordering::Relaxed);
    let pte = DATA + 0x3000 + ((PP4K + 0x1000) >> 12 & 0x1ff) * 8;
    let ring = s(|s| {
        s.sdi(PP4K + 0x1000, false, 1)
            .sdi(pte, true, moved as u32 | 3)
            .sdi(PP4K + 0x1004, false, 2);
    });
    let (r, _) = g.run(Id::Rcs, &ring, 0, 100);
    assert_eq!(r.outcome, Outcome::Completed);
    assert_eq!(
        (
            g.mem.dw(0xa000_1000),
            g.mem.dw(0xa000_1004),
            g.mem.dw(moved + 4)
        ),
        (1, 0, 2)
    );
}

#[test]
fn the_register_file_keeps_the_first_registers_loaded() {
    let mut g = Gpu::new();
    // MAX_REGS + 6 distinct registers, highest offset first: the last six do not fit.
    let max = MAX_REGS as u32;
    let regs: Vec<(u32, u32)> = (0..max + 6).map(|i| (0x8000 - 4 * i, i)).collect();
    let ring = s(|s| {
        regs.chunks(100).for_each(|c| {
            s.lri(c);
        });
        s.lri(&[(0x8000 - 4 * (max - 1), 7), (0x8000 - 4 * max, 7)]);
    });
    let (r, eng) = g.run(Id::Rcs, &ring, 0, 100);
    assert_eq!(r.outcome, Outcome::Completed);
    assert_eq!(
        (eng.reg(0x8000), eng.reg(0x8000 - 4 * (max - 2))),
        (Some(0), Some(max - 2))
    );
    assert_eq!(
        (
            eng.reg(0x8000 - 4 * (max - 1)),
            eng.reg(0x8000 - 4 * max),
            eng.reg(0x8000 - 4 * (max + 5))
        ),
        (Some(7), None, None)
    );
}

fn s(f: impl FnOnce(&mut Stream)) -> Stream {
    let mut s = Stream::new();
    f(&mut s);
    s
}

/// gem/selftests/i915_gem_context.c `igt_ctx_readonly`: objects bound with `PTE_READ_ONLY`
/// (GEN8_PAGE_RW clear) are not written by a batch's stores; the batch goes on.
#[test]
fn stores_to_read_only_ppgtt_pages_are_dropped() {
    let mut g = Gpu::new();
    let pt = PML4 + 0x3000;
    let idx = (PP4K >> 12) & 0x1ff;
    // Page 1 read-only, page 2 writable.
    g.pte(pt, idx + 1, (0xa000_0000 + 0x1000) | 1);
    g.put_pp(
        PP4K,
        &s(|s| {
            s.sdi(PP4K + 0x1000, false, 0x1111)
                .sdi(PP4K + 0x2000, false, 0x2222)
                .bb_end();
        }),
    );
    let ring = s(|s| {
        s.bb_start(PP4K, true, false).user_interrupt();
    });
    let (r, _) = g.run(Id::Rcs, &ring, 0, 100);
    assert_eq!((r.outcome, r.user_interrupts), (Outcome::Completed, 1));
    assert_eq!(
        (
            g.mem.dw(Gpu::pp_pa(PP4K + 0x1000)),
            g.mem.dw(Gpu::pp_pa(PP4K + 0x2000))
        ),
        (0, 0x2222)
    );
    // A read-only level above the page makes it read-only too.
    g.pte(pt, idx + 1, (0xa000_0000 + 0x1000) | 3);
    let pd = PML4 + 0x2000;
    g.pte(pd, (PP4K >> 21) & 0x1ff, pt | 1);
    let (r, _) = g.run(Id::Rcs, &ring, 0, 100);
    assert_eq!(r.outcome, Outcome::Completed);
    assert_eq!(g.mem.dw(Gpu::pp_pa(PP4K + 0x1000)), 0);
}
