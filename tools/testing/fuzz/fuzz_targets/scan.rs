#![no_main]
//! Command scanner: arbitrary ring slices on every engine, with arbitrary batch buffers behind
//! every batch start (first, second level and chained), and a mediation callback that refuses
//! some writes. Every input must be accepted or refused, never crash; accepted batches must lie
//! inside what was loaded.
use cmd_stream::BatchMem;
use gvt::model::cmd_scanner::{Policy, Scanner};
use gvt::model::hw::Platform;
use gvt::model::regs::Engine;
use gvt::model::resources::{Partition, Span};
use libfuzzer_sys::fuzz_target;

const LOW: u64 = 0x0800_0000;

fuzz_target!(|data: &[u8]| {
    let Some((&ctl, rest)) = data.split_first() else {
        return;
    };
    let part = Partition {
        low: Span {
            start: LOW,
            size: 64 << 20,
        },
        high: Span {
            start: 0x4000_0000,
            size: 128 << 20,
        },
        fences: Span { start: 4, size: 4 },
    };
    let engine = Engine::ALL[usize::from(ctl & 3)];
    let policy = Policy {
        scan_ppgtt: ctl & 4 != 0,
    };
    // The input is length-prefixed parts (u16 little-endian length, then bytes): the ring,
    // then batches placed at LOW, LOW + 0x1000, ... in both address spaces, so a batch start
    // to any of them finds bytes.
    let mut parts = Vec::new();
    let mut r = rest;
    while let [lo, hi, tail @ ..] = r {
        let n = usize::from(u16::from_le_bytes([*lo, *hi])).min(tail.len());
        let (p, next) = tail.split_at(n);
        parts.push(p);
        r = next;
    }
    let ring = parts.first().copied().unwrap_or(&[]);
    let mut mem = BatchMem::default();
    for (i, p) in parts.iter().skip(1).enumerate().take(8) {
        let addr = LOW + 0x1000 * i as u64;
        mem.put(false, addr, p.to_vec());
        mem.put(true, addr, p.to_vec());
    }
    let sc = Scanner::new(Platform::Broxton, engine, &part, policy);
    let mut n = 0u32;
    if let Ok(r) = sc.scan_ring(ring, &mut mem, &mut |_| {
        n += 1;
        ctl & 8 == 0 || n.is_multiple_of(2)
    }) {
        for b in r.batches() {
            assert!(
                b.len as usize
                    <= mem.bufs[&(b.space == gvt::model::cmd_scanner::AddrSpace::Ppgtt, b.addr)]
                        .len()
            );
        }
    }
});
