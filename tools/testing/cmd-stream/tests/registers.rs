//! The sim engines' registers at L0: what i915 6.12's live selftests read back through
//! commands (gt/selftest_engine_pm.c `__measure_timestamps`, gt/selftest_lrc.c `live_lrc_gpr`
//! and `live_lrc_timestamp`, gt/selftest_timeline.c `emit_read_hwsp`), spelled as i915 emits
//! it and run as gvt.ko runs a workload (`sim::exec::Job` over a shadow context image and
//! ring), with the CPU's side of each test played by the memory the engine polls.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::cast_possible_truncation
)]

use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicU64, Ordering};

use cmd_stream::{alu, mi, sem, PageMemory, Stream};
use gvt::model::host::{Completion, HostWorkload};
use gvt::model::regs::Engine as Id;
use gvt::sim::engine::{Engine, HostMemory};
use gvt::sim::exec::{Job, Step, WATCHDOG_NS};

/// The engine's status page (GGTT), as `engine->status_page.vma`.
const HWSP: u64 = 0x20_0000;
/// A GGTT scratch object.
const SCRATCH: u64 = 0x30_0000;
const PML4: u64 = 0x9000_0000;
/// PPGTT addresses mapped with 4 KiB pages.
const PP4K: u64 = 0x7f_c040_0000;
/// Where the shadow rings go (host memory).
const RINGS: u64 = 0x6000_0000;
/// Bytes of one shadow ring.
const RING_BYTES: u64 = 0x2000;

/// `STACK_MAGIC` (include/linux/kernel.h), what `gpr_make_dirty` loads.
const STACK_MAGIC: u32 = 0xdead_beef;
/// `NUM_GPR_DW` (gt/selftest_lrc.c): 16 64-bit GPRs.
const NUM_GPR_DW: u32 = 32;
/// `CTX_TIMESTAMP` (gt/intel_lrc_reg.h): dword of the register state page.
const CTX_TIMESTAMP: u64 = 0x22 + 1;
/// BXT's command streamer timestamp frequency (gen9_read_clock_frequency, 19.2 MHz on LP).
const BXT_HZ: u64 = 19_200_000;

const RING_TIMESTAMP: u32 = 0x358;
const RING_CTX_TIMESTAMP: u32 = 0x3a8;

fn cs_gpr(e: Id, n: u32) -> u32 {
    e.base() + 0x600 + 4 * n
}

struct Gpu {
    mem: PageMemory,
    ggtt: Vec<AtomicU64>,
    engines: [Engine; 4],
    rings: u64,
}

impl Gpu {
    fn new() -> Gpu {
        let mut g = Gpu {
            mem: PageMemory::default(),
            ggtt: (0..4096).map(|_| AtomicU64::new(0)).collect(),
            engines: [Id::Rcs, Id::Bcs, Id::Vcs, Id::Vecs].map(|e| Engine::new(e, 0)),
            rings: RINGS,
        };
        for gma in [HWSP, SCRATCH, SCRATCH + 0x1000] {
            let pa = 0x1000_0000 + gma;
            g.mem.add_page(pa);
            g.ggtt[(gma >> 12) as usize].store(pa | 1, Ordering::Relaxed);
        }
        let (pdp, pd, pt) = (PML4 + 0x1000, PML4 + 0x2000, PML4 + 0x3000);
        for t in [PML4, pdp, pd, pt] {
            g.mem.add_page(t);
        }
        let idx = |va: u64, shift: u32| (va >> shift) & 0x1ff;
        g.put_qw(PML4 + idx(PP4K, 39) * 8, pdp | 3);
        g.put_qw(pdp + idx(PP4K, 30) * 8, pd | 3);
        g.put_qw(pd + idx(PP4K, 21) * 8, pt | 3);
        for i in 0..4 {
            let pa = 0xa000_0000 + i * 0x1000;
            g.mem.add_page(pa);
            g.put_qw(pt + (idx(PP4K, 12) + i) * 8, pa | 3);
        }
        g
    }

    fn put_qw(&mut self, pa: u64, v: u64) {
        assert!(self.mem.write(pa, &v.to_le_bytes()));
    }

    fn ggtt_pa(&self, gma: u64) -> u64 {
        (self.ggtt[(gma >> 12) as usize].load(Ordering::Relaxed) & !0xfff) | (gma & 0xfff)
    }

    fn dw(&self, gma: u64) -> u32 {
        self.mem.dw(self.ggtt_pa(gma))
    }

    fn set_dw(&mut self, gma: u64, v: u32) {
        let pa = self.ggtt_pa(gma);
        assert!(self.mem.write(pa, &v.to_le_bytes()));
    }

    /// A new context of engine `e` at host address `at`: the per-process status page, then
    /// the register state page as i915 6.12 writes it for Gen9 (intel_lrc.c `set_offsets`
    /// over `gen9_xcs_offsets`; the render engine's `gen9_rcs_offsets` differ only in the
    /// third block, one register), values zero but the PPGTT root.
    fn context(&mut self, e: Id, at: u64) -> u64 {
        self.mem.add_page(at);
        self.mem.add_page(at + 0x1000);
        let mut d = vec![0u32; 1024];
        let gprs: Vec<u32> = (0..NUM_GPR_DW).map(|n| 0x600 + 4 * n).collect();
        let mut last = vec![
            0x28, 0x9c, 0xc0, 0x178, 0x17c, 0x358, 0x170, 0x150, 0x154, 0x158, 0x41c,
        ];
        last.extend(gprs);
        last.push(0x68);
        let third: u32 = if e == Id::Rcs { 0xc8 } else { 0x200 };
        let blocks: [(usize, Vec<u32>); 4] = [
            (
                1,
                vec![
                    0x244, 0x34, 0x30, 0x38, 0x3c, 0x168, 0x140, 0x110, 0x11c, 0x114, 0x118, 0x1c0,
                    0x1c4, 0x1c8,
                ],
            ),
            (
                33,
                vec![
                    0x3a8, 0x28c, 0x288, 0x284, 0x280, 0x27c, 0x278, 0x274, 0x270,
                ],
            ),
            (65, vec![third]),
            (81, last),
        ];
        for (at, regs) in blocks {
            d[at] = mi(0x22, 2 * regs.len() as u32 - 1) | (1 << 12);
            for (i, r) in regs.iter().enumerate() {
                d[at + 1 + 2 * i] = e.base() + r;
            }
        }
        d[0x31] = (PML4 >> 32) as u32;
        d[0x33] = PML4 as u32;
        for (i, v) in d.iter().enumerate() {
            assert!(self.mem.write(at + 0x1000 + 4 * i as u64, &v.to_le_bytes()));
        }
        at
    }

    fn ctx_dw(&self, ctx: u64, i: u64) -> u32 {
        self.mem.dw(ctx + 0x1000 + 4 * i)
    }

    fn set_ctx_dw(&mut self, ctx: u64, i: u64, v: u32) {
        assert!(self.mem.write(ctx + 0x1000 + 4 * i, &v.to_le_bytes()));
    }

    /// `ring` in a new shadow ring, as a workload of context `ctx` on engine `e`.
    fn workload(&mut self, e: Id, ctx: u64, ring: &Stream) -> HostWorkload {
        let at = self.rings;
        self.rings += RING_BYTES;
        self.mem.add_page(at);
        self.mem.add_page(at + 0x1000);
        for (i, d) in ring.dw.iter().enumerate() {
            assert!(self.mem.write(at + 4 * i as u64, &d.to_le_bytes()));
        }
        HostWorkload {
            vgpu: 1,
            engine: e,
            tag: 1,
            context: ctx,
            context_pages: 2,
            ring: at,
            ring_len: ring.len_bytes(),
        }
    }

    /// Runs `ring` as a workload of context `ctx` on engine `e`, as gvt.ko does, with `cpu`
    /// playing the CPU while the engine polls the GGTT dword at `watch`.
    fn submit(
        &mut self,
        e: Id,
        ctx: u64,
        ring: &Stream,
        clock: &Cell<u64>,
        watch: u64,
        cpu: &dyn Fn(&mut Gpu, &Cell<u64>),
    ) -> Completion {
        let w = self.workload(e, ctx, ring);
        let watch = self.ggtt_pa(watch);
        let mut engines = std::mem::replace(
            &mut self.engines,
            [Id::Rcs, Id::Bcs, Id::Vcs, Id::Vecs].map(|e| Engine::new(e, 0)),
        );
        let ggtt = std::mem::take(&mut self.ggtt);
        let r = {
            let mut mem = Cpu {
                gpu: RefCell::new(self),
                clock,
                watch,
                cpu,
            };
            // Slices of 25,000 (gvt.ko's are longer), at most four, as one 100,000 before.
            let mut job = Job::new(w);
            let mut how = Completion::Hang;
            for _ in 0..4 {
                match job.step(&mut engines[e as usize], &mut mem, clock, &ggtt, 25_000) {
                    Step::Done(c) => {
                        how = c;
                        break;
                    }
                    Step::Sliced(next) => job = next,
                }
            }
            how
        };
        self.engines = engines;
        self.ggtt = ggtt;
        r
    }
}

/// The engine's memory while a test's CPU side runs beside it: every poll of the watched
/// dword takes a microsecond and lets the CPU act, every write takes 100 ns.
struct Cpu<'a, 'g> {
    gpu: RefCell<&'g mut Gpu>,
    clock: &'a Cell<u64>,
    watch: u64,
    cpu: &'a dyn Fn(&mut Gpu, &Cell<u64>),
}

impl HostMemory for Cpu<'_, '_> {
    fn read(&mut self, addr: u64, buf: &mut [u8]) -> bool {
        if addr == self.watch && buf.len() == 4 {
            self.clock.set(self.clock.get() + 1000);
            let mut g = self.gpu.borrow_mut();
            // The GGTT is lent to the engine meanwhile: the CPU reaches the watched page by
            // its host address.
            (self.cpu)(&mut g, self.clock);
        }
        self.gpu.borrow().mem.peek(addr, buf)
    }

    fn write(&mut self, addr: u64, data: &[u8]) -> bool {
        self.clock.set(self.clock.get() + 100);
        self.gpu.borrow_mut().mem.write(addr, data)
    }
}

/// The status page dword `i` of the `sema` array at byte 4000, by host address.
fn sema_pa(i: u64) -> u64 {
    0x1000_0000 + HWSP + 4000 + 4 * i
}

fn host_dw(g: &Gpu, pa: u64) -> u32 {
    g.mem.dw(pa)
}

fn set_host_dw(g: &mut Gpu, pa: u64, v: u32) {
    assert!(g.mem.write(pa, &v.to_le_bytes()));
}

/// i915's `intel_gt_clock_interval_to_ns` (intel_gt_clock_utils.c): ticks to ns, rounded up.
fn ticks_to_ns(ticks: u64, hz: u64) -> u64 {
    (ticks * 1_000_000_000).div_ceil(hz)
}

/// gt/selftest_engine_pm.c `__measure_timestamps` and the checks of `__live_engine_timestamps`.
#[test]
fn live_engine_timestamps_srm_lands_and_the_clocks_agree() {
    for e in [Id::Rcs, Id::Bcs, Id::Vcs, Id::Vecs] {
        let mut g = Gpu::new();
        let ctx = g.context(e, 0x5000_0000);
        let clock = Cell::new(3_600_000_000_000);
        let offset = HWSP;
        let (mut s_ring, mut s_ctx, mut st) = (vec![], vec![], vec![]);
        let mut last_ctx = 0u32;
        for _ in 0..5 {
            for i in 0..5 {
                set_host_dw(&mut g, sema_pa(i), 0);
            }
            let mut cs = Stream::new();
            // Signal & wait for start.
            cs.sdi(offset + 4008, true, 1)
                .semaphore_wait(offset + 4008, sem::NEQ, 1);
            cs.srm(e.base() + RING_TIMESTAMP, offset + 4000, true).srm(
                e.base() + RING_CTX_TIMESTAMP,
                offset + 4004,
                true,
            );
            // Busy wait.
            cs.semaphore_wait(offset + 4008, sem::EQ, 1);
            cs.srm(e.base() + RING_TIMESTAMP, offset + 4016, true).srm(
                e.base() + RING_CTX_TIMESTAMP,
                offset + 4012,
                true,
            );
            // The CPU: sees sema[2], clears it with interrupts off, spins until sema[1] (the
            // context timestamp) lands, waits 100 us, sets sema[2].
            let step = Cell::new(0u8);
            let cpu = |g: &mut Gpu, clock: &Cell<u64>| match step.get() {
                0 if host_dw(g, sema_pa(2)) != 0 => {
                    set_host_dw(g, sema_pa(2), 0);
                    step.set(1);
                }
                1 if host_dw(g, sema_pa(1)) != 0 => {
                    clock.set(clock.get() + 100_000);
                    set_host_dw(g, sema_pa(2), 1);
                    step.set(2);
                }
                _ => {}
            };
            let how = g.submit(e, ctx, &cs, &clock, offset + 4008, &cpu);
            assert_eq!((how, step.get()), (Completion::Done, 2), "{e:?}");
            let sema: Vec<u32> = (0..5).map(|i| host_dw(&g, sema_pa(i))).collect();
            assert_ne!(sema[1], 0, "{e:?}: the CPU would spin forever");
            // The context's time goes on from where its last run left it.
            assert!(sema[1] > last_ctx, "{e:?}: {sema:x?} after {last_ctx:x}");
            last_ctx = g.ctx_dw(ctx, CTX_TIMESTAMP);
            assert!(last_ctx > sema[3], "{e:?}: saved {last_ctx:x} {sema:x?}");
            s_ring.push(u64::from(sema[4].wrapping_sub(sema[0])));
            s_ctx.push(u64::from(sema[3].wrapping_sub(sema[1])));
            st.push(100_000u64);
        }
        let tri = |a: &mut Vec<u64>| {
            a.sort();
            (a[1] + 2 * a[2] + a[3]) >> 2
        };
        let (dt, d_ring, d_ctx) = (tri(&mut st), tri(&mut s_ring), tri(&mut s_ctx));
        let ring_ns = ticks_to_ns(d_ring, BXT_HZ);
        assert!(
            !(3 * dt > 4 * ring_ns || 4 * dt < 3 * ring_ns),
            "{e:?}: ring {ring_ns} ns vs walltime {dt} ns"
        );
        assert!(
            !(3 * d_ctx > 4 * d_ring || 4 * d_ctx < 3 * d_ring),
            "{e:?}: ctx {d_ctx} vs ring {d_ring}"
        );
        // 100 us, a poll of 1 us and two 100 ns writes between the samples, at 19.2 MHz.
        assert!((1943..=1944).contains(&d_ring), "{e:?}: {d_ring}");
    }
}

/// gt/selftest_lrc.c `live_lrc_gpr` (the simple variant): GPRs dirtied by one context
/// (`gpr_make_dirty`) are not seen by a new one (`__gpr_read`), and come back to the first.
#[test]
fn live_lrc_gpr_registers_are_per_context() {
    for e in [Id::Rcs, Id::Bcs, Id::Vcs, Id::Vecs] {
        let mut g = Gpu::new();
        let clock = Cell::new(1_000_000);
        let kernel = g.context(e, 0x5000_0000);
        let fresh = g.context(e, 0x5001_0000);
        let nothing = |_: &mut Gpu, _: &Cell<u64>| {};
        let mut dirty = Stream::new();
        let pairs: Vec<(u32, u32)> = (0..NUM_GPR_DW)
            .map(|n| (cs_gpr(e, n), STACK_MAGIC))
            .collect();
        dirty.lri(&pairs).noop();
        let how = g.submit(e, kernel, &dirty, &clock, HWSP, &nothing);
        assert_eq!(how, Completion::Done);
        // Saved with the context, as the hardware saves it.
        assert_eq!(g.ctx_dw(kernel, 0x69 + 2 * 5), STACK_MAGIC, "{e:?}");

        for n in 0..NUM_GPR_DW {
            g.set_dw(SCRATCH + 4 * u64::from(n), 0x5a5a_5a5a);
        }
        let slot = HWSP + 4000;
        g.set_dw(slot, 0);
        let mut read = Stream::new();
        read.arb(true).noop().semaphore_wait(slot, sem::NEQ, 0);
        for n in 0..NUM_GPR_DW {
            read.srm(cs_gpr(e, n), SCRATCH + 4 * u64::from(n), true);
        }
        let release = |g: &mut Gpu, _: &Cell<u64>| set_host_dw(g, sema_pa(0), 1);
        let how = g.submit(e, fresh, &read, &clock, slot, &release);
        assert_eq!(how, Completion::Done, "{e:?}");
        for n in 0..NUM_GPR_DW {
            assert_eq!(
                g.dw(SCRATCH + 4 * u64::from(n)),
                0,
                "{e:?}: GPR dword {n} of a new context"
            );
        }
        // The dirty context gets its own values back.
        let mut back = Stream::new();
        back.srm(cs_gpr(e, 7), SCRATCH + 0x1000, true);
        g.submit(e, kernel, &back, &clock, HWSP, &nothing);
        assert_eq!(g.dw(SCRATCH + 0x1000), STACK_MAGIC, "{e:?}");
    }
}

/// gt/selftest_lrc.c `__lrc_timestamp` (simple): CTX_TIMESTAMP is restored from the image,
/// advances while the context runs and is saved back, across the 32-bit boundaries.
#[test]
fn live_lrc_timestamp_is_restored_advanced_and_saved() {
    let advanced = |start: u32, end: u32| (end.wrapping_sub(start) as i32) > 0;
    for e in [Id::Rcs, Id::Bcs, Id::Vcs, Id::Vecs] {
        for poison in [0, i32::MAX as u32, i32::MAX as u32 + 1, u32::MAX] {
            let mut g = Gpu::new();
            let clock = Cell::new(5_000_000_000);
            let ctx = g.context(e, 0x5000_0000);
            g.set_ctx_dw(ctx, CTX_TIMESTAMP, poison);
            let slot = HWSP + 4000;
            for i in 0..4 {
                g.set_dw(slot + 4 * i, 0);
            }
            let mut cs = Stream::new();
            cs.arb(true).noop().semaphore_wait(slot, sem::NEQ, 0).srm(
                e.base() + RING_CTX_TIMESTAMP,
                slot + 4,
                true,
            );
            let release = |g: &mut Gpu, _: &Cell<u64>| set_host_dw(g, sema_pa(0), 1);
            let how = g.submit(e, ctx, &cs, &clock, slot, &release);
            assert_eq!(how, Completion::Done);
            let read = g.dw(slot + 4);
            let saved = g.ctx_dw(ctx, CTX_TIMESTAMP);
            assert!(
                advanced(poison, read),
                "{e:?}: invalid timestamp on restore, context:{poison:x}, request:{read:x}"
            );
            assert!(
                advanced(read, saved),
                "{e:?}: invalid timestamp on save, request:{read:x}, context:{saved:x}"
            );
        }
    }
}

/// RING_TIMESTAMP counts at 19.2 MHz from the clock's origin, 64 bits through its UDW;
/// CTX_TIMESTAMP loaded by a command counts on from the value loaded.
#[test]
fn ring_timestamp_runs_at_the_command_streamer_clock() {
    let mut g = Gpu::new();
    let ctx = g.context(Id::Vcs, 0x5000_0000);
    let base = Id::Vcs.base();
    // 300 s: past 32 bits of 19.2 MHz ticks (224 s).
    let clock = Cell::new(300_000_000_000);
    let mut cs = Stream::new();
    cs.srm(base + RING_TIMESTAMP, SCRATCH, true)
        .srm(base + RING_TIMESTAMP + 4, SCRATCH + 4, true);
    cs.lri(&[(base + RING_CTX_TIMESTAMP, 1000)]);
    for i in 0..10 {
        cs.sdi(SCRATCH + 0x100 + 4 * i, true, 0);
    }
    cs.srm(base + RING_CTX_TIMESTAMP, SCRATCH + 8, true);
    let nothing = |_: &mut Gpu, _: &Cell<u64>| {};
    let how = g.submit(Id::Vcs, ctx, &cs, &clock, HWSP, &nothing);
    assert_eq!(how, Completion::Done);
    assert_eq!(
        (g.dw(SCRATCH), g.dw(SCRATCH + 4)),
        ((300 * BXT_HZ) as u32, ((300 * BXT_HZ) >> 32) as u32)
    );
    // Loaded 1000, read ten 100 ns writes later: 19.2 ticks.
    assert!(
        (1019..=1020).contains(&g.dw(SCRATCH + 8)),
        "{}",
        g.dw(SCRATCH + 8)
    );
}

/// gt/selftest_timeline.c `emit_read_hwsp` (LRM of a status page dword into CS_GPR0, SRM of
/// it back), LRR between GPRs, the 64-bit halves, a PPGTT SRM from a user batch, and
/// MI_COPY_MEM_MEM.
#[test]
fn lrm_lrr_srm_and_copy_round_trip() {
    let mut g = Gpu::new();
    let e = Id::Rcs;
    let ctx = g.context(e, 0x5000_0000);
    let clock = Cell::new(0);
    g.set_dw(HWSP + 0x100, 0x1234_5678);
    g.set_dw(SCRATCH + 0x800, 0xcafe_f00d);
    let pp_batch = 0xa000_0000;
    let mut batch = Stream::new();
    // A user batch: SRM and LRM through the PPGTT even with the GGTT bit set.
    batch
        .srm(cs_gpr(e, 0), PP4K + 0x1000, true)
        .lrm(cs_gpr(e, 6), PP4K + 0x1000, false)
        .bb_end();
    for (i, d) in batch.dw.iter().enumerate() {
        assert!(g.mem.write(pp_batch + 4 * i as u64, &d.to_le_bytes()));
    }
    let mut cs = Stream::new();
    cs.sdi(SCRATCH, true, 42);
    cs.lrm(cs_gpr(e, 0), HWSP + 0x100, true)
        .srm(cs_gpr(e, 0), SCRATCH + 4, true);
    cs.lrr(cs_gpr(e, 0), cs_gpr(e, 3))
        .srm(cs_gpr(e, 3), SCRATCH + 8, true);
    cs.lrm(cs_gpr(e, 3), SCRATCH + 0x800, true)
        .srm(cs_gpr(e, 3), SCRATCH + 12, true);
    cs.bb_start(PP4K, true, false)
        .srm(cs_gpr(e, 6), SCRATCH + 16, true);
    cs.copy_mem_mem(SCRATCH + 20, true, SCRATCH + 0x800, true);
    cs.copy_mem_mem(PP4K + 0x1004, false, HWSP + 0x100, true);
    cs.copy_mem_mem(SCRATCH + 24, true, PP4K + 0x1004, false);
    let nothing = |_: &mut Gpu, _: &Cell<u64>| {};
    let how = g.submit(e, ctx, &cs, &clock, HWSP, &nothing);
    assert_eq!(how, Completion::Done);
    let got: Vec<u32> = (0..7).map(|i| g.dw(SCRATCH + 4 * i)).collect();
    assert_eq!(
        got,
        [
            42,
            0x1234_5678,
            0x1234_5678,
            0xcafe_f00d,
            0x1234_5678,
            0xcafe_f00d,
            0x1234_5678
        ]
    );
    assert_eq!(g.mem.dw(0xa000_1000), 0x1234_5678);
    // GPR0's upper half was never loaded; saved with the context.
    assert_eq!(g.ctx_dw(ctx, 0x69), 0x1234_5678);
    assert_eq!(g.ctx_dw(ctx, 0x69 + 2), 0);
}

/// MI_MATH with the Gen9 ALU: `live_preempt_user`'s GPR[i]++ (gt/selftest_execlists.c) and
/// the other operations, on 64-bit GPRs.
#[test]
fn mi_math_runs_the_gen9_alu() {
    let mut g = Gpu::new();
    let e = Id::Bcs;
    let ctx = g.context(e, 0x5000_0000);
    let clock = Cell::new(0);
    let gpr = |n: u32| cs_gpr(e, 2 * n);
    let mut cs = Stream::new();
    cs.lri(&[
        (gpr(0), 1),
        (gpr(1), 0xffff_ffff),
        (gpr(2), 5),
        (gpr(3), 0xf0f0),
        (gpr(4), 0x0ff0),
    ]);
    // GPR1 += GPR0: carries into the upper dword.
    cs.math(&[
        alu::load(alu::SRCA, 1),
        alu::load(alu::SRCB, 0),
        alu::ADD,
        alu::store(1, alu::ACCU),
    ]);
    // GPR5 = GPR0 - GPR2 (borrow: CF), GPR6 = CF, GPR7 = !ZF.
    cs.math(&[
        alu::load(alu::SRCA, 0),
        alu::load(alu::SRCB, 2),
        alu::SUB,
        alu::store(5, alu::ACCU),
        alu::store(6, alu::CF),
        alu::storeinv(7, alu::ZF),
    ]);
    // GPR8 = GPR3 & GPR4, GPR9 = |, GPR10 = ^, GPR11 = ~GPR4 & 1 via LOADINV/LOAD1.
    cs.math(&[
        alu::load(alu::SRCA, 3),
        alu::load(alu::SRCB, 4),
        alu::AND,
        alu::store(8, alu::ACCU),
        alu::OR,
        alu::store(9, alu::ACCU),
        alu::XOR,
        alu::store(10, alu::ACCU),
    ]);
    cs.math(&[
        alu::loadinv(alu::SRCA, 4),
        alu::load1(alu::SRCB),
        alu::AND,
        alu::store(11, alu::ACCU),
        alu::load0(alu::SRCA),
        alu::load0(alu::SRCB),
        alu::ADD,
        alu::store(12, alu::ZF),
    ]);
    for n in 0..26 {
        cs.srm(cs_gpr(e, n), SCRATCH + 4 * u64::from(n), true);
    }
    let nothing = |_: &mut Gpu, _: &Cell<u64>| {};
    let how = g.submit(e, ctx, &cs, &clock, HWSP, &nothing);
    assert_eq!(how, Completion::Done);
    let q =
        |n: u64| u64::from(g.dw(SCRATCH + 8 * n)) | (u64::from(g.dw(SCRATCH + 8 * n + 4)) << 32);
    assert_eq!(q(1), 0x1_0000_0000);
    assert_eq!(
        (q(5), q(6), q(7)),
        (1u64.wrapping_sub(5), u64::MAX, u64::MAX)
    );
    assert_eq!((q(8), q(9), q(10)), (0x00f0, 0xfff0, 0xff00));
    assert_eq!((q(11), q(12)), (1, u64::MAX));
}

/// gt/selftest_lrc.c `__live_lrc_state`: RING_START and RING_TAIL read back as the context
/// image loaded them (CTX_RING_START 0x09, CTX_RING_TAIL 0x07, gt/intel_lrc_reg.h).
#[test]
fn live_lrc_state_ring_registers_come_from_the_image() {
    let mut g = Gpu::new();
    let e = Id::Vecs;
    let ctx = g.context(e, 0x5000_0000);
    g.set_ctx_dw(ctx, 0x09, 0x0012_3000);
    g.set_ctx_dw(ctx, 0x07, 0x1a8);
    let mut cs = Stream::new();
    cs.srm(e.base() + 0x38, SCRATCH, true)
        .srm(e.base() + 0x30, SCRATCH + 4, true);
    let nothing = |_: &mut Gpu, _: &Cell<u64>| {};
    let how = g.submit(e, ctx, &cs, &Cell::new(0), HWSP, &nothing);
    assert_eq!(how, Completion::Done);
    assert_eq!((g.dw(SCRATCH), g.dw(SCRATCH + 4)), (0x0012_3000, 0x1a8));
}

/// A spinner (gt/selftest_engine_pm.c `live_engine_busy_stats`' igt_spinner) holds its engine
/// slice after slice for as long as the CPU lets it, and is ended as a hang only when it has
/// held the engine past the host's watchdog.
#[test]
fn a_spinner_holds_its_engine_until_the_watchdog() {
    let mut g = Gpu::new();
    let ctx = g.context(Id::Rcs, 0x5000_0000);
    let mut spin = Stream::new();
    spin.arb_check().bb_start(SCRATCH + 0x1000, false, false);
    for (i, d) in spin.dw.iter().enumerate() {
        g.set_dw(SCRATCH + 0x1000 + 4 * i as u64, *d);
    }
    let mut ring = Stream::new();
    ring.bb_start(SCRATCH + 0x1000, false, false)
        .sdi(SCRATCH, true, 7);
    let w = g.workload(Id::Rcs, ctx, &ring);
    let clock = Cell::new(1_000_000);
    let mut job = Job::new(w);
    let mut slices = 0u64;
    let how = loop {
        match job.step(&mut g.engines[0], &mut g.mem, &clock, &g.ggtt, 10_000) {
            Step::Done(how) => break how,
            Step::Sliced(next) => job = next,
        }
        slices += 1;
        clock.set(clock.get() + 1_000_000_000);
    };
    assert_eq!(
        (how, slices),
        (Completion::Hang, WATCHDOG_NS / 1_000_000_000)
    );
    assert_eq!(g.dw(SCRATCH), 0);
}
