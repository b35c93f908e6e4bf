//! The command scanner at L0: what a stock i915 and Mesa emit on Gen9 is accepted on the engine
//! it runs on; hostile streams are refused with the command and offset named.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::cast_possible_truncation
)]

use std::collections::HashMap;

use cmd_stream::{blt, gfx, i915, mesa, mi, pc, BatchMem, Stream};
use gvt::model::cmd_scanner::*;
use gvt::model::hw::Platform;
use gvt::model::regs::Engine;
use gvt::model::resources::{Partition, Span};

const LOW: u64 = 0x0800_0000;
const HIGH: u64 = 0x4000_0000;
const HWSP: u64 = LOW + 0x1000;
const SCRATCH: u64 = HIGH + 0x2000;

fn part() -> Partition {
    Partition {
        low: Span {
            start: LOW,
            size: 64 << 20,
        },
        high: Span {
            start: HIGH,
            size: 128 << 20,
        },
        fences: Span { start: 4, size: 4 },
    }
}

fn scan_on(
    e: Engine,
    ring: &Stream,
    mem: &mut BatchMem,
    policy: Policy,
) -> Result<ScanReport, ScanError> {
    let p = part();
    let s = Scanner::new(Platform::Broxton, e, &p, policy);
    s.scan_ring(&ring.bytes(), mem, &mut |_| true)
}

fn scan(e: Engine, ring: &Stream, mem: &mut BatchMem) -> Result<ScanReport, ScanError> {
    scan_on(e, ring, mem, Policy { scan_ppgtt: true })
}

fn batch(f: impl FnOnce(&mut Stream)) -> Vec<u8> {
    let mut s = Stream::new();
    f(&mut s);
    s.bb_end();
    s.bytes()
}

#[test]
fn i915_requests_on_every_engine_are_accepted() {
    let mut mem = BatchMem::default();
    mem.put(true, 0x1_0000, batch(|s| mesa::draw(s, 0x10_0000)));
    let mut ring = Stream::new();
    i915::init_context(&mut ring);
    for seq in 1..=3 {
        i915::request_rcs(&mut ring, HWSP, 0x1_0000, seq);
    }
    i915::preempt_busywait(&mut ring, HWSP);
    let r = scan(Engine::Rcs, &ring, &mut mem).unwrap();
    assert_eq!(r.user_interrupts, 3);
    assert_eq!(r.batches().count(), 3);
    assert!(r
        .batches()
        .all(|b| b.space == AddrSpace::Ppgtt && b.level == 1));

    for (e, f) in [
        (Engine::Bcs, i915::blit_batch as fn(&mut Stream)),
        (Engine::Vcs, mesa::decode_avc),
        (Engine::Vecs, mesa::vebox),
    ] {
        let mut mem = BatchMem::default();
        mem.put(true, 0x2_0000, batch(f));
        let mut ring = Stream::new();
        i915::request_xcs(&mut ring, HWSP, 0x2_0000, 7);
        let r = scan(e, &ring, &mut mem).unwrap_or_else(|err| panic!("{e:?}: {err:?}"));
        assert_eq!(r.user_interrupts, 1, "{e:?}");
    }
}

#[test]
fn mesa_compute_and_draw_batches_are_accepted_when_scanned() {
    let mut mem = BatchMem::default();
    mem.put(
        true,
        0x3_0000,
        batch(|s| {
            mesa::draw(s, 0x10_0000);
            mesa::compute(s);
            mesa::draw(s, 0x10_1000);
        }),
    );
    let mut ring = Stream::new();
    i915::request_rcs(&mut ring, HWSP, 0x3_0000, 1);
    let r = scan(Engine::Rcs, &ring, &mut mem).unwrap();
    assert!(r.commands > 150, "{}", r.commands);
    // Unscanned by default, as upstream: counted, not loaded.
    let mut mem2 = BatchMem::default();
    let r = scan_on(Engine::Rcs, &ring, &mut mem2, Policy { scan_ppgtt: false }).unwrap();
    assert_eq!(
        (r.unscanned_batches, mem2.loads, r.batches().count()),
        (1, 0, 0)
    );
}

#[test]
fn privileged_batches_are_recorded_for_shadowing() {
    // i915's Gen9 blitter command parser runs its shadow as a privileged GGTT batch; the
    // indirect context batch is privileged too.
    let bb = LOW + 0x4_0000;
    let wa = LOW + 0x5_0000;
    let mut mem = BatchMem::default();
    let mut b = Stream::new();
    i915::blit_batch(&mut b);
    b.bb_end();
    let blen = b.len_bytes();
    let mut junk = b.bytes();
    junk.extend_from_slice(&[0xff; 64]); // past the end: never looked at
    mem.put(false, bb, junk);
    let mut w = Stream::new();
    i915::indirect_ctx(&mut w, SCRATCH);
    mem.put(false, wa, w.bytes());

    let mut ring = Stream::new();
    ring.arb_check()
        .noop()
        .raw(&[mi(0x31, 1), bb as u32, 0])
        .noop();
    let r = scan(Engine::Bcs, &ring, &mut mem).unwrap();
    let rec = r.batches().next().unwrap();
    assert_eq!(
        (rec.space, rec.addr, rec.len, rec.level),
        (AddrSpace::Ggtt, bb, blen, 1)
    );
    assert_eq!(
        rec.started_at,
        At {
            buf: Buf::Ring,
            offset: 8
        }
    );

    let p = part();
    let s = Scanner::new(
        Platform::Broxton,
        Engine::Rcs,
        &p,
        Policy { scan_ppgtt: false },
    );
    let r = s
        .scan_batch(AddrSpace::Ggtt, wa, &mut mem, &mut |_| true)
        .unwrap();
    assert_eq!(r.batches().next().unwrap().len, w.len_bytes());
}

#[test]
fn second_level_and_chained_batches_are_followed() {
    let (a, b, c) = (LOW + 0x1_0000, LOW + 0x2_0000, LOW + 0x3_0000);
    let mut mem = BatchMem::default();
    let mut first = Stream::new();
    first.sdi(LOW + 0x100, true, 1).bb_start(b, false, true);
    let call_at = first.len_bytes() - 12;
    first.user_interrupt().bb_start(c, false, false);
    let first_len = first.len_bytes();
    first.raw(&[0xdead_beef, 0xdead_beef]); // after a chain: never runs
    mem.put(false, a, first.bytes());
    mem.put(
        false,
        b,
        batch(|s| {
            s.user_interrupt();
        }),
    );
    mem.put(
        false,
        c,
        batch(|s| {
            s.pipe_control(pc::CS_STALL | pc::NOTIFY, 0, 0);
        }),
    );
    let mut ring = Stream::new();
    ring.bb_start(a, false, false).user_interrupt();
    let r = scan(Engine::Rcs, &ring, &mut mem).unwrap();
    let recs: Vec<_> = r.batches().copied().collect();
    assert_eq!(recs.len(), 3);
    assert_eq!(
        (recs[0].addr, recs[0].len, recs[0].level),
        (a, first_len, 1)
    );
    assert_eq!(
        (recs[1].addr, recs[1].level, recs[1].started_at),
        (
            b,
            2,
            At {
                buf: Buf::Batch(0),
                offset: call_at
            }
        )
    );
    assert_eq!((recs[2].addr, recs[2].level), (c, 1));
    assert_eq!((r.user_interrupts, r.pipe_control_notifies), (3, 1));
}

#[test]
fn mediated_register_writes_are_reported() {
    let mut ring = Stream::new();
    ring.lri(&[
        (0x7004, 1),
        (0x2270, 0x1000),
        (0x229c, 0x8000_8000),
        (0xc804, 3),
    ]);
    let p = part();
    let s = Scanner::new(
        Platform::Broxton,
        Engine::Rcs,
        &p,
        Policy { scan_ppgtt: false },
    );
    let mut seen = Vec::new();
    let bytes = ring.bytes();
    s.scan_ring(&bytes, &mut NoBatches, &mut |w| {
        seen.push(*w);
        true
    })
    .unwrap();
    let whys: Vec<_> = seen
        .iter()
        .map(|w| (w.reg, w.why, w.value_at.offset))
        .collect();
    assert_eq!(
        whys,
        [
            (0x2270, Mediation::PpgttRoot, 16),
            (0x229c, Mediation::WritePatch, 24),
            (0xc804, Mediation::Mocs, 32)
        ]
    );
    let e = s
        .scan_ring(&bytes, &mut NoBatches, &mut |w| w.reg != 0x229c)
        .unwrap_err();
    assert_eq!(
        (e.command, e.reason),
        ("MI_LOAD_REGISTER_IMM", Reason::Mediation(0x229c))
    );
}

fn refused(e: Engine, ring: &Stream, mem: &mut BatchMem) -> ScanError {
    scan(e, ring, mem).expect_err("hostile stream accepted")
}

#[test]
fn hostile_registers_and_addresses_are_refused() {
    let mut m = BatchMem::default();
    // LRI to the ring tail, the master interrupt, past the MMIO window.
    for reg in [0x2030, 0x44200, 0x20_0000, 0x78000] {
        let mut s = Stream::new();
        s.noop().lri(&[(0x7000, 0), (reg, 0)]);
        let e = refused(Engine::Rcs, &s, &mut m);
        assert_eq!(
            (e.command, e.at.offset, e.reason),
            ("MI_LOAD_REGISTER_IMM", 4, Reason::Register(reg))
        );
    }
    let out = LOW - 8;
    let cases: Vec<(Stream, &str)> = vec![
        (
            s(|s| {
                s.sdi(out, true, 0);
            }),
            "MI_STORE_DATA_IMM",
        ),
        (
            s(|s| {
                s.sqi(HIGH + (128 << 20) - 4, true, 0);
            }),
            "MI_STORE_DATA_IMM",
        ),
        (
            s(|s| {
                s.pipe_control(pc::QW_WRITE | pc::GLOBAL_GTT, out, 0);
            }),
            "PIPE_CONTROL",
        ),
        (
            s(|s| {
                s.pipe_control(pc::TIMESTAMP | pc::GLOBAL_GTT, 0, 0);
            }),
            "PIPE_CONTROL",
        ),
        (
            s(|s| {
                s.pipe_control(
                    pc::QW_WRITE | pc::GLOBAL_GTT | pc::STORE_DATA_INDEX,
                    0x1000,
                    0,
                );
            }),
            "PIPE_CONTROL",
        ),
        (
            s(|s| {
                s.pipe_control(pc::MMIO_WRITE, 0x2034, 0);
            }),
            "PIPE_CONTROL",
        ),
        (
            s(|s| {
                s.flush_dw(0x1000, true, 0, false);
            }),
            "MI_FLUSH_DW",
        ),
        (
            s(|s| {
                s.srm(0x7000, out, true);
            }),
            "MI_STORE_REGISTER_MEM",
        ),
        (
            s(|s| {
                s.lrm(0x7000, out, true);
            }),
            "MI_LOAD_REGISTER_MEM",
        ),
        (
            s(|s| {
                s.lrm(0x229c, LOW, true);
            }),
            "MI_LOAD_REGISTER_MEM",
        ),
        (
            s(|s| {
                s.lrr(0x7000, 0x2030);
            }),
            "MI_LOAD_REGISTER_REG",
        ),
        (
            s(|s| {
                s.semaphore_wait_eq(0, 0);
            }),
            "MI_SEMAPHORE_WAIT",
        ),
        (
            s(|s| {
                s.raw(&[mi(0x2f, 1) | (1 << 22), 0x1000, 0]);
            }),
            "MI_OP_2F",
        ),
        (
            s(|s| {
                s.raw(&[mi(0x23, 1), 0, 0]);
            }),
            "MI_UPDATE_GTT",
        ),
        (
            s(|s| {
                s.raw(&[mi(0x2d, 2) | (1 << 22), 0, LOW as u32, 0]);
            }),
            "MI_STORE_URM_MEM",
        ),
        (
            s(|s| {
                s.raw(&[mi(0x14, 1), 0, 0]);
            }),
            "MI_DISPLAY_FLIP",
        ),
        (
            s(|s| {
                s.bb_start(out, false, false);
            }),
            "MI_BATCH_BUFFER_START",
        ),
        (
            s(|s| {
                s.bb_end();
            }),
            "MI_BATCH_BUFFER_END",
        ),
    ];
    for (ring, name) in cases {
        let e = refused(Engine::Rcs, &ring, &mut m);
        assert_eq!(e.command, name, "{e:?}");
    }
}

fn s(f: impl FnOnce(&mut Stream)) -> Stream {
    let mut s = Stream::new();
    f(&mut s);
    s
}

#[test]
fn malformed_streams_are_refused_where_they_break() {
    let mut m = BatchMem::default();
    // Unknown opcodes, commands of another engine.
    for (e, h) in [
        (Engine::Rcs, 0x2000_0000),
        (Engine::Rcs, 0xe000_0000),
        (Engine::Rcs, blt(0x53, 10)),
        (Engine::Bcs, gfx(3, 3, 0, 7)),
        (Engine::Vcs, gfx(3, 3, 0, 7)),
        (Engine::Vecs, mi(0x06, 0)), // MI_RS_CONTROL: render only
    ] {
        let e2 = refused(
            e,
            &s(|s| {
                s.noop().noop().cmd(h, 2);
            }),
            &mut m,
        );
        assert_eq!(
            (e2.at.offset, e2.reason, e2.header),
            (8, Reason::UnknownCommand, h),
            "{e:?}"
        );
    }
    // Length running off the ring, a partial dword, bad fixed lengths.
    let e = refused(
        Engine::Rcs,
        &s(|s| {
            s.raw(&[mi(0x22, 5), 0x7000, 0]);
        }),
        &mut m,
    );
    assert_eq!(
        (e.command, e.reason),
        ("MI_LOAD_REGISTER_IMM", Reason::Truncated)
    );
    let mut b = s(|s| {
        s.noop();
    })
    .bytes();
    b.push(0);
    let p = part();
    let sc = Scanner::new(
        Platform::Broxton,
        Engine::Rcs,
        &p,
        Policy { scan_ppgtt: true },
    );
    assert_eq!(
        sc.scan_ring(&b, &mut m, &mut |_| true).unwrap_err().reason,
        Reason::Truncated
    );
    let e = refused(
        Engine::Rcs,
        &s(|s| {
            s.raw(&[mi(0x24, 3), 0x7000, 0, 0, 0]);
        }),
        &mut m,
    );
    assert_eq!(
        (e.command, e.reason),
        ("MI_STORE_REGISTER_MEM", Reason::BadLength)
    );
    let e = refused(
        Engine::Rcs,
        &s(|s| {
            s.raw(&[mi(0x22, 2), 0x7000, 0, 0]);
        }),
        &mut m,
    );
    assert_eq!(e.reason, Reason::BadLength);
    let e = refused(
        Engine::Rcs,
        &s(|s| {
            s.cmd(gfx(3, 2, 0, 4), 4);
        }),
        &mut m,
    );
    assert_eq!((e.command, e.reason), ("PIPE_CONTROL", Reason::BadLength));
    // A batch without an end runs off its copy.
    m.put(
        false,
        LOW,
        s(|s| {
            s.noop().noop();
        })
        .bytes(),
    );
    let e = refused(
        Engine::Rcs,
        &s(|s| {
            s.bb_start(LOW, false, false);
        }),
        &mut m,
    );
    assert_eq!(
        (e.at, e.reason),
        (
            At {
                buf: Buf::Batch(0),
                offset: 8
            },
            Reason::Truncated
        )
    );
    // A batch that is not there.
    let e = refused(
        Engine::Rcs,
        &s(|s| {
            s.bb_start(LOW + 0x8000, false, false);
        }),
        &mut m,
    );
    assert_eq!(e.reason, Reason::BatchFault(LOW + 0x8000));
}

#[test]
fn batch_loops_and_deep_nesting_are_refused() {
    let mut m = BatchMem::default();
    // A batch chaining to itself: loaded again and again until the slots run out.
    m.put(
        false,
        LOW,
        s(|s| {
            s.noop().bb_start(LOW, false, false);
        })
        .bytes(),
    );
    let e = refused(
        Engine::Rcs,
        &s(|s| {
            s.bb_start(LOW, false, false);
        }),
        &mut m,
    );
    assert_eq!(e.reason, Reason::TooManyBatches);
    assert_eq!(m.loads, MAX_BATCHES);
    // A second-level batch starting another.
    let mut m = BatchMem::default();
    m.put(
        false,
        LOW,
        s(|s| {
            s.bb_start(LOW + 0x1000, false, true).bb_end();
        })
        .bytes(),
    );
    m.put(
        false,
        LOW + 0x1000,
        s(|s| {
            s.bb_start(LOW + 0x2000, false, true).bb_end();
        })
        .bytes(),
    );
    m.put(
        false,
        LOW + 0x2000,
        s(|s| {
            s.bb_end();
        })
        .bytes(),
    );
    let e = refused(
        Engine::Rcs,
        &s(|s| {
            s.bb_start(LOW, false, false);
        }),
        &mut m,
    );
    assert_eq!((e.reason, e.at.buf), (Reason::TooDeep, Buf::Batch(1)));
    // A PPGTT batch cannot reach GGTT addresses: its GGTT bits are ignored, so it passes, and
    // it cannot start a privileged batch.
    let mut m = BatchMem::default();
    m.put(
        true,
        0x1000,
        s(|s| {
            s.sdi(0, true, 0).bb_start(0x2000, false, true).bb_end();
        })
        .bytes(),
    );
    m.put(
        true,
        0x2000,
        s(|s| {
            s.bb_end();
        })
        .bytes(),
    );
    let r = scan(
        Engine::Rcs,
        &s(|s| {
            s.bb_start(0x1000, true, false);
        }),
        &mut m,
    )
    .unwrap();
    assert!(r.batches().all(|b| b.space == AddrSpace::Ppgtt));
}

#[test]
fn refusals_name_the_batch_they_are_in_and_say_why() {
    // A forbidden LRI in a second-level privileged batch: the slot is the scan's own number,
    // the address is what a person can find in the guest.
    let mut m = BatchMem::default();
    m.put(
        false,
        LOW,
        s(|s| {
            s.noop().bb_start(LOW + 0x3000, false, true).bb_end();
        })
        .bytes(),
    );
    m.put(
        false,
        LOW + 0x3000,
        s(|s| {
            s.noop().lri(&[(0x2030, 0)]).bb_end();
        })
        .bytes(),
    );
    let e = refused(
        Engine::Rcs,
        &s(|s| {
            s.bb_start(LOW, false, false);
        }),
        &mut m,
    );
    assert_eq!(
        (e.command, e.at, e.batch),
        (
            "MI_LOAD_REGISTER_IMM",
            At {
                buf: Buf::Batch(1),
                offset: 4
            },
            Some((AddrSpace::Ggtt, LOW + 0x3000))
        )
    );
    assert_eq!(e.reason.to_string(), "register 0x2030 not allowed");
    // In the ring: no batch.
    let e = refused(
        Engine::Rcs,
        &s(|s| {
            s.noop().lri(&[(0x2030, 0)]);
        }),
        &mut m,
    );
    assert_eq!(
        (e.at, e.batch),
        (
            At {
                buf: Buf::Ring,
                offset: 4
            },
            None
        )
    );
    for (r, text) in [
        (Reason::UnknownCommand, "no such command on this engine"),
        (
            Reason::Address(0x1000),
            "graphics address 0x1000 outside the vGPU's memory",
        ),
        (Reason::Forbidden, "never allowed from a vGPU"),
        (Reason::TooManyBatches, "more than 16 batch buffers"),
        (
            Reason::BatchFault(0xf000),
            "batch buffer at 0xf000 cannot be read",
        ),
        (
            Reason::Mediation(0x229c),
            "write to register 0x229c refused by the device model",
        ),
    ] {
        assert_eq!(r.to_string(), text);
    }
}

/// Batches copied in pieces as the scan reaches them: 8 bytes at first, 12 more each time.
struct Chunked<'a> {
    mem: &'a HashMap<u64, Vec<u8>>,
    slots: Vec<(u64, Vec<u8>)>,
    mores: usize,
}

impl BatchSource for Chunked<'_> {
    fn load(&mut self, slot: usize, _: AddrSpace, addr: u64) -> bool {
        let Some(b) = self.mem.get(&addr) else {
            return false;
        };
        self.slots
            .resize(self.slots.len().max(slot + 1), (0, Vec::new()));
        self.slots[slot] = (addr, b[..8.min(b.len())].to_vec());
        true
    }

    fn more(&mut self, slot: usize) -> bool {
        let (addr, copy) = &mut self.slots[slot];
        let b = &self.mem[addr];
        if copy.len() == b.len() {
            return false;
        }
        let end = (copy.len() + 12).min(b.len());
        copy.extend_from_slice(&b[copy.len()..end]);
        self.mores += 1;
        true
    }

    fn bytes(&self, slot: usize) -> &[u8] {
        self.slots.get(slot).map_or(&[], |s| s.1.as_slice())
    }
}

#[test]
fn batches_copied_in_pieces_scan_as_whole_ones() {
    let (a, b) = (LOW + 0x1_0000, LOW + 0x2_0000);
    let mut bufs = HashMap::new();
    let mut first = Stream::new();
    first
        .lri(&[(0x7000, 1), (0x7004, 2)])
        .bb_start(b, false, true)
        .sdi(LOW + 0x100, true, 1)
        .bb_end();
    bufs.insert(a, first.bytes());
    bufs.insert(
        b,
        batch(|s| {
            i915::indirect_ctx(s, SCRATCH);
        }),
    );
    let ring = s(|s| {
        s.bb_start(a, false, false).user_interrupt();
    });
    let mut whole = BatchMem::default();
    for (&addr, bytes) in &bufs {
        whole.put(false, addr, bytes.clone());
    }
    let want = scan(Engine::Rcs, &ring, &mut whole).unwrap();
    let p = part();
    let sc = Scanner::new(
        Platform::Broxton,
        Engine::Rcs,
        &p,
        Policy { scan_ppgtt: false },
    );
    let mut src = Chunked {
        mem: &bufs,
        slots: Vec::new(),
        mores: 0,
    };
    let got = sc
        .scan_ring(&ring.bytes(), &mut src, &mut |_| true)
        .unwrap();
    assert_eq!(got.commands, want.commands);
    assert_eq!(
        got.batches().copied().collect::<Vec<_>>(),
        want.batches().copied().collect::<Vec<_>>()
    );
    assert!(src.mores >= 4, "{}", src.mores);
    // Without an end, the batch runs off what there is to copy.
    bufs.insert(
        a,
        s(|s| {
            s.noop().lri(&[(0x7000, 1)]);
        })
        .bytes(),
    );
    let mut src = Chunked {
        mem: &bufs,
        slots: Vec::new(),
        mores: 0,
    };
    let e = sc
        .scan_ring(&ring.bytes(), &mut src, &mut |_| true)
        .unwrap_err();
    assert_eq!(
        (e.at, e.reason),
        (
            At {
                buf: Buf::Batch(0),
                offset: 16
            },
            Reason::Truncated
        )
    );
}

#[test]
fn batch_starts_the_scanner_cannot_follow_are_refused() {
    let mut m = BatchMem::default();
    m.put(
        false,
        LOW,
        batch(|s| {
            s.noop();
        }),
    );
    m.put(
        true,
        0x1000,
        batch(|s| {
            s.noop();
        }),
    );
    // A second-level batch from the ring: its end would return to a stale first-level address.
    for ppgtt in [false, true] {
        let addr = if ppgtt { 0x1000 } else { LOW };
        let e = refused(
            Engine::Rcs,
            &s(|s| {
                s.bb_start(addr, ppgtt, true);
            }),
            &mut m,
        );
        assert_eq!((e.reason, e.at.offset), (Reason::BadBatchStart, 0));
    }
    // Add Offset Enable on a privileged batch: the hardware would run from LOW + BB_OFFSET.
    let e = refused(
        Engine::Rcs,
        &s(|s| {
            s.raw(&[mi(0x31, 1) | (1 << 16), LOW as u32, 0]);
        }),
        &mut m,
    );
    assert_eq!(e.reason, Reason::BadBatchStart);
    let e = refused(
        Engine::Rcs,
        &s(|s| {
            s.bb_start(LOW + 0x40, false, false);
        }),
        &mut BatchMem::default(),
    );
    assert_eq!(e.reason, Reason::BatchFault(LOW + 0x40));
    // The same inside a privileged batch; a PPGTT batch's offset stays in its PPGTT.
    m.put(
        false,
        LOW + 0x1000,
        s(|s| {
            s.raw(&[mi(0x31, 1) | (1 << 16), LOW as u32, 0]);
        })
        .bytes(),
    );
    let e = refused(
        Engine::Rcs,
        &s(|s| {
            s.bb_start(LOW + 0x1000, false, false);
        }),
        &mut m,
    );
    assert_eq!((e.reason, e.at.buf), (Reason::BadBatchStart, Buf::Batch(0)));
    assert!(scan_on(
        Engine::Rcs,
        &s(|s| {
            s.raw(&[mi(0x31, 1) | (1 << 16) | (1 << 8), 0x1000, 0]);
        }),
        &mut m,
        Policy { scan_ppgtt: false }
    )
    .is_ok());
}

#[test]
fn i915_context_workaround_registers_are_whitelisted_on_every_gen9() {
    for p in [Platform::Skylake, Platform::Broxton, Platform::KabyLake] {
        let pt = part();
        let sc = Scanner::new(p, Engine::Rcs, &pt, Policy { scan_ppgtt: false });
        let mut ring = Stream::new();
        i915::init_context(&mut ring);
        ring.lri(&[(0x7034, 0), (0xb118, 0)])
            .srm(0xb118, SCRATCH, true)
            .srm(0x21f0, SCRATCH, true);
        sc.scan_ring(&ring.bytes(), &mut NoBatches, &mut |_| true)
            .unwrap_or_else(|e| panic!("{p:?}: {e:?}"));
    }
}

/// The registers i915 6.12's live selftests read through commands in their rings, on every
/// engine: `__measure_timestamps` (RING_TIMESTAMP, RING_CTX_TIMESTAMP), `live_lrc_state`
/// (RING_START, RING_TAIL), `live_lrc_gpr` and `emit_read_hwsp` (CS_GPR, loaded from memory
/// too), and the 64-bit halves. A refusal would put the vGPU in failsafe.
#[test]
fn i915_selftest_register_reads_are_accepted_and_ring_registers_stay_unloadable() {
    for e in [Engine::Rcs, Engine::Bcs, Engine::Vcs, Engine::Vecs] {
        let b = e.base();
        let mut ring = Stream::new();
        ring.sdi(HWSP + 4008, true, 1);
        for r in [0x358, 0x35c, 0x3a8, 0x38, 0x30, 0x34, 0x3c, 0x9c] {
            ring.srm(b + r, HWSP + 4000, true);
        }
        for n in 0..32 {
            ring.srm(b + 0x600 + 4 * n, SCRATCH + 4 * u64::from(n), true)
                .lrm(b + 0x600 + 4 * n, HWSP, true);
        }
        ring.lrr(b + 0x3a8, b + 0x600)
            .lrr(b + 0x38, b + 0x604)
            .lri(&[(b + 0x600, 0xdead_beef)]);
        scan(e, &ring, &mut BatchMem::default()).unwrap_or_else(|err| panic!("{e:?}: {err:?}"));
        // Read, never loaded: the ring registers are the device model's.
        for r in [0x30, 0x34, 0x38, 0x3c] {
            for bad in [
                s(|s| {
                    s.lrm(b + r, HWSP, true);
                }),
                s(|s| {
                    s.lrr(b + 0x600, b + r);
                }),
                s(|s| {
                    s.lri(&[(b + r, 0)]);
                }),
            ] {
                assert_eq!(
                    refused(e, &bad, &mut BatchMem::default()).reason,
                    Reason::Register(b + r),
                    "{e:?} {r:x}"
                );
            }
        }
        // Another engine's ring is not this one's to read.
        let other = if e == Engine::Rcs {
            Engine::Bcs
        } else {
            Engine::Rcs
        };
        assert!(scan(
            e,
            &s(|s| {
                s.srm(other.base() + 0x38, SCRATCH, true);
            }),
            &mut BatchMem::default()
        )
        .is_err());
    }
}

#[test]
fn random_streams_never_panic() {
    let mut x = 0x1234_5678_9abc_def0u64;
    let p = part();
    let mut m = BatchMem::default();
    m.put(
        false,
        LOW,
        s(|s| {
            s.noop().bb_end();
        })
        .bytes(),
    );
    for e in Engine::ALL {
        let sc = Scanner::new(Platform::Broxton, e, &p, Policy { scan_ppgtt: true });
        for _ in 0..20_000 {
            let mut buf = Vec::new();
            for _ in 0..16 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                // Keep the top bits plausible so decoding gets past the header often.
                let d = match x & 3 {
                    0 => (x >> 8) as u32 & 0x1fff_ffff,
                    1 => 0x6000_0000 | ((x >> 8) as u32 & 0x1fff_ff0f),
                    2 => (LOW as u32) | ((x >> 20) as u32 & 0xfff),
                    _ => (x >> 16) as u32,
                };
                buf.extend_from_slice(&d.to_le_bytes());
            }
            let _ = sc.scan_ring(&buf, &mut m, &mut |_| x & 1 == 0);
        }
    }
}
