//! Command scanner throughput on a realistic Gen9 mix (plain `cargo bench`, figures printed):
//! i915 request emission in the ring and Mesa draw/compute batches (scanned, as a vGPU with
//! PPGTT batch scanning on would), in bytes and commands per second, beside memcpy bandwidth
//! measured in the same run (the cost of the one bulk copy the scan replaces re-reading).
//! Rates are per second of this thread's time on a CPU (`/proc/thread-self/schedstat`), so a
//! loaded machine does not skew the comparison; wall-clock rates are printed too.
#![allow(
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::float_arithmetic,
    clippy::cast_precision_loss
)]

use std::hint::black_box;
use std::time::Instant;

use cmd_stream::{i915, mesa, Stream};
use gvt::model::cmd_scanner::{AddrSpace, BatchSource, Policy, Scanner};
use gvt::model::hw::Platform;
use gvt::model::regs::Engine;
use gvt::model::resources::{Partition, Span};

/// Every batch start finds the same pre-copied batch (the copy is the caller's, timed apart).
struct Preloaded(Vec<u8>);

/// Nanoseconds this thread has run on a CPU.
fn cpu_ns() -> u64 {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").expect("schedstat");
    s.split_whitespace()
        .next()
        .and_then(|v| v.parse().ok())
        .expect("schedstat field")
}

/// Times `f`: (seconds on CPU, seconds of wall clock).
fn timed(f: impl FnOnce()) -> (f64, f64) {
    let (c, t) = (cpu_ns(), Instant::now());
    f();
    ((cpu_ns() - c) as f64 / 1e9, t.elapsed().as_secs_f64())
}

impl BatchSource for Preloaded {
    fn load(&mut self, _: usize, _: AddrSpace, _: u64) -> bool {
        true
    }
    fn bytes(&self, _: usize) -> &[u8] {
        &self.0
    }
}

fn main() {
    let part = Partition {
        low: Span {
            start: 0x0800_0000,
            size: 64 << 20,
        },
        high: Span {
            start: 0x4000_0000,
            size: 128 << 20,
        },
        fences: Span { start: 4, size: 4 },
    };
    let mut b = Stream::new();
    while b.len_bytes() < 60 << 10 {
        mesa::draw(&mut b, 0x10_0000);
        mesa::compute(&mut b);
    }
    b.bb_end();
    let mut src = Preloaded(b.bytes());
    let mut ring = Stream::new();
    i915::init_context(&mut ring);
    for seq in 1..=14 {
        i915::request_rcs(&mut ring, 0x0800_1000, 0x1_0000, seq);
    }
    let ring = ring.bytes();
    let sc = Scanner::new(
        Platform::Broxton,
        Engine::Rcs,
        &part,
        Policy { scan_ppgtt: true },
    );

    let one = sc
        .scan_ring(&ring, &mut src, &mut |_| true)
        .expect("corpus accepted");
    let bytes_per = ring.len() as u64 + one.batches().map(|r| u64::from(r.len)).sum::<u64>();
    let cmds_per = u64::from(one.commands);
    let iters = 4000u64;
    let (cpu, wall) = timed(|| {
        for _ in 0..iters {
            black_box(
                sc.scan_ring(black_box(&ring), &mut src, &mut |_| true)
                    .expect("scan"),
            );
        }
    });
    let bytes = (bytes_per * iters) as f64;
    let cmds = (cmds_per * iters) as f64;
    println!(
        "scanner, realistic Gen9 mix ({} KiB and {} commands per workload, {:.1} bytes/command): \
         {:.2} GB/s, {:.0} M commands/s ({:.2} GB/s, {:.0} M/s wall clock)",
        bytes_per >> 10,
        cmds_per,
        bytes_per as f64 / cmds_per as f64,
        bytes / cpu / 1e9,
        cmds / cpu / 1e6,
        bytes / wall / 1e9,
        cmds / wall / 1e6
    );

    // memcpy of the same amount of data, in 64 KiB batch-sized copies.
    let from = vec![0x5au8; 64 << 20];
    let mut to = vec![0u8; 64 << 10];
    let n = to.len();
    let rounds = (bytes as usize) / n;
    let (cpu, wall) = timed(|| {
        for i in 0..rounds {
            let off = (i * n) % from.len();
            to.copy_from_slice(&from[off..off + n]);
            black_box(&to);
        }
    });
    let b = (rounds * n) as f64;
    println!(
        "memcpy, 64 KiB copies from a 64 MiB buffer: {:.2} GB/s ({:.2} GB/s wall clock)",
        b / cpu / 1e9,
        b / wall / 1e9
    );
}
