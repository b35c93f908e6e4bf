//! The context status buffer and execlist status as i915 6.12 reads them
//! (gt/intel_execlists_submission.c): `process_csb` promotes its pending ELSP submission at
//! the first IDLE_TO_ACTIVE or PREEMPTED event, `reset_csb_pointers` expects the first event
//! after an engine reset in entry 0, and the reset path finds the guilty context by the id in
//! RING_EXECLIST_STATUS_HI. The guest side is the model's i915 bookkeeping
//! (`GuestEngine::{submit, poll, reset}`), which refuses what i915 could not account for.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::cast_possible_truncation,
    clippy::panic
)]

use guest_model::gpu::{self, Context, CSB_RESET_VALUE};
use guest_model::hv::Tracking;
use guest_model::machine::{Guest, Machine, DATA_GVA, GUEST_RAM, RAM};
use guest_model::probe;
use guest_model::{Transport, TransportExt};
use gvt::model::execlist::{csb, HWS_CSB_WRITE_INDEX};
use gvt::model::regs::{Engine, RING_CONTEXT_STATUS_PTR, RING_EXECLIST_STATUS_LO};
use gvt::mpt::MptOps;

const RCS: u32 = 0x2000;
/// GT0 IIR: the render engine's context-switch interrupt.
const RCS_CTX_SWITCH: u32 = 1 << 8;
/// Context ids as i915 6.12 makes them on Gen9: `(1 + tag) << 5` (`__execlists_schedule_in`).
const A: u32 = 1 << 5;
const B: u32 = 2 << 5;

fn read_u32(m: &mut Machine, vm: usize, gpa: u64) -> u32 {
    let mut b = [0u8; 4];
    m.vms[vm].hv.read_gpa(gpa, &mut b).unwrap();
    u32::from_le_bytes(b)
}

fn status_hi(t: &mut impl Transport) -> u32 {
    t.read32(RING_EXECLIST_STATUS_LO::offset(RCS) + 4).unwrap()
}

/// The CSB write pointer in the register and its mirror in the HWSP agree.
fn mirror(t: &mut impl Transport, g: &Guest) -> u32 {
    let reg = t.read32(RING_CONTEXT_STATUS_PTR::offset(RCS)).unwrap() & 7;
    let mut b = [0u8; 4];
    t.ram_read(g.rcs.hwsp.1 + HWS_CSB_WRITE_INDEX * 4, &mut b)
        .unwrap();
    assert_eq!(
        u32::from_le_bytes(b),
        reg,
        "HWSP write index mirrors RING_CONTEXT_STATUS_PTR"
    );
    reg
}

/// Takes the interrupts raised so far; the GT0 identity bits they set.
fn interrupts(t: &mut impl Transport) -> Option<u32> {
    let mut any = false;
    while t.wait_msi().is_some() {
        any = true;
    }
    any.then(|| gpu::ack_gt(t).unwrap()[0])
}

fn store(t: &mut impl Transport, c: &mut Context, gva: u64, v: u32) {
    c.emit(
        t,
        &[gpu::mi::STORE_DATA_IMM, gva as u32, (gva >> 32) as u32, v],
    )
    .unwrap();
    c.publish(t).unwrap();
}

/// i915's `process_csb` over many submissions: every ELSP write is acknowledged at once
/// (IDLE_TO_ACTIVE, or PREEMPTED with LITE_RESTORE when the running context is resubmitted,
/// with or without a second context behind it) so that i915 promotes it and may submit
/// again while the first still runs; completions follow when the host is done. The CSB wraps
/// several times; every event comes with the context-switch interrupt and its HWSP mirror.
#[test]
fn i915_process_csb_over_many_submissions() {
    let mut m = Machine::new(1, Tracking::AfterWrite);
    let mut t = m.guest(0);
    let mut g = Guest::new(&mut t, GUEST_RAM, RAM as u64, A).unwrap();
    let mut b = Context::new(&mut t, &mut g.alloc, Engine::Rcs, B, &g.ppgtt, 4, false).unwrap();
    interrupts(&mut t);
    let mut ev = [(0, 0); 6];
    for round in 0..24u32 {
        let gva = DATA_GVA + u64::from(round) * 16;
        let mut t = m.guest(0);
        store(&mut t, &mut g.ctx, gva, round);
        g.rcs.submit(&mut t, &g.ctx, None).unwrap();
        // Accepted: the context switched in, before the host ran anything.
        let n = g.rcs.poll(&mut t, &mut ev).unwrap();
        assert_eq!(
            &ev[..n],
            &[(csb::IDLE_TO_ACTIVE, 0)],
            "round {round}: ELSP acknowledged at once"
        );
        assert_eq!(
            (g.rcs.pending, g.rcs.active_ctx()),
            ([None; 2], Some(A)),
            "round {round}: promoted"
        );
        assert_eq!(
            interrupts(&mut t).map(|iir| iir & RCS_CTX_SWITCH),
            Some(RCS_CTX_SWITCH),
            "round {round}"
        );
        mirror(&mut t, &g);
        let expect: &[(u32, u32)] = match round % 3 {
            0 => &[(csb::ACTIVE_TO_IDLE | csb::COMPLETE, A)],
            1 => {
                // On the host when i915 adds a request to the running context: a lite restore.
                assert_eq!(m.dispatch(0), Engine::Rcs.mask());
                let mut t = m.guest(0);
                store(&mut t, &mut g.ctx, gva + 4, round + 1000);
                g.rcs.submit(&mut t, &g.ctx, None).unwrap();
                let n = g.rcs.poll(&mut t, &mut ev).unwrap();
                assert_eq!(
                    &ev[..n],
                    &[(csb::LITE_RESTORE | csb::PREEMPTED, A)],
                    "round {round}"
                );
                assert_eq!(
                    interrupts(&mut t).map(|iir| iir & RCS_CTX_SWITCH),
                    Some(RCS_CTX_SWITCH)
                );
                mirror(&mut t, &g);
                &[(csb::ACTIVE_TO_IDLE | csb::COMPLETE, A)]
            }
            _ => {
                // A request of another context: i915 resubmits the running one (same tail) in
                // port 0 with the new one behind it (`execlists_dequeue`).
                let mut t = m.guest(0);
                store(&mut t, &mut b, gva + 8, round + 2000);
                g.rcs.submit(&mut t, &g.ctx, Some(&b)).unwrap();
                let n = g.rcs.poll(&mut t, &mut ev).unwrap();
                assert_eq!(
                    &ev[..n],
                    &[(csb::LITE_RESTORE | csb::PREEMPTED, A)],
                    "round {round}"
                );
                assert_eq!(g.rcs.inflight, [Some(A), Some(B)]);
                &[
                    (csb::ELEMENT_SWITCH | csb::COMPLETE, A),
                    (csb::ACTIVE_TO_IDLE | csb::COMPLETE, B),
                ]
            }
        };
        m.run();
        assert_eq!(m.completion_errors, 0);
        let mut t = m.guest(0);
        let n = g.rcs.poll(&mut t, &mut ev).unwrap();
        assert_eq!(&ev[..n], expect, "round {round}");
        assert!(g.rcs.idle(), "round {round}");
        assert_eq!(
            interrupts(&mut t).map(|iir| iir & RCS_CTX_SWITCH),
            Some(RCS_CTX_SWITCH)
        );
        mirror(&mut t, &g);
        assert_eq!(status_hi(&mut t), 0, "round {round}: idle");
        assert_eq!(m.vms[0].vgpu.failsafe(), None);
        let data = g.data[0];
        assert_eq!(read_u32(&mut m, 0, data + u64::from(round) * 16), round);
        match round % 3 {
            1 => assert_eq!(
                read_u32(&mut m, 0, data + u64::from(round) * 16 + 4),
                round + 1000
            ),
            2 => assert_eq!(
                read_u32(&mut m, 0, data + u64::from(round) * 16 + 8),
                round + 2000
            ),
            _ => {}
        }
    }
}

/// Runs two workloads of guest `g` to completion: the CSB write pointer is then at 3.
fn two_rounds(m: &mut Machine, g: &mut Guest) {
    let mut ev = [(0, 0); 6];
    for v in 1..=2u32 {
        g.submit(&mut m.guest(0), &[DATA_GVA], v, DATA_GVA + 4)
            .unwrap();
        m.run();
        let n = g.rcs.poll(&mut m.guest(0), &mut ev).unwrap();
        assert_eq!(
            &ev[..n],
            &[
                (csb::IDLE_TO_ACTIVE, 0),
                (csb::ACTIVE_TO_IDLE | csb::COMPLETE, g.ctx.id)
            ]
        );
    }
    assert_eq!(mirror(&mut m.guest(0), g), 3);
}

/// An engine reset (per-engine GDRST, or the full GT reset) while a workload is on the host,
/// as i915's `__intel_engine_reset_bh` runs it (`GuestEngine::reset`): the running context
/// is found guilty by RING_EXECLIST_STATUS_HI, read before the reset; `reset_csb_pointers`
/// writes 5 to both CSB pointers and the next event must land in entry 0. The hung
/// workload's late completion is silent.
fn reset_mid_flight(domains: u8) {
    let mut m = Machine::new(1, Tracking::AfterWrite);
    let mut g = Guest::new(&mut m.guest(0), GUEST_RAM, RAM as u64, A).unwrap();
    let mut ev = [(0, 0); 6];
    two_rounds(&mut m, &mut g);
    // On the host when the guest resets the engine.
    g.submit(&mut m.guest(0), &[DATA_GVA + 0x100], 3, DATA_GVA + 0x104)
        .unwrap();
    assert_eq!(m.dispatch(0), Engine::Rcs.mask());
    let mut t = m.guest(0);
    assert_eq!(
        status_hi(&mut t),
        A,
        "EXECLIST_STATUS_HI names the running context"
    );
    assert_eq!(
        g.rcs.reset(&mut t, domains).unwrap(),
        Some(A),
        "the guilty context is found"
    );
    assert_eq!(status_hi(&mut t), 0, "the engine is idle after its reset");
    let ptr = t.read32(RING_CONTEXT_STATUS_PTR::offset(RCS)).unwrap();
    assert_eq!(
        ptr & 0x707,
        (CSB_RESET_VALUE << 8) | CSB_RESET_VALUE,
        "i915's pointers stand"
    );
    // i915 skips the guilty request: the context replays from its end.
    let tail = g.ctx.tail;
    g.ctx.rewind(&mut t, tail).unwrap();
    // The hung workload ends on the host: the guest hears nothing of it.
    m.run();
    assert_eq!(g.rcs.poll(&mut m.guest(0), &mut ev).unwrap(), 0);
    // New submissions: the first event lands in entry 0, then on as before.
    for v in 4..12u32 {
        let mut t = m.guest(0);
        g.submit(&mut t, &[DATA_GVA + u64::from(v) * 8], v, DATA_GVA + 0x800)
            .unwrap();
        if v == 4 {
            assert_eq!(
                mirror(&mut t, &g),
                0,
                "first event after the reset in entry 0"
            );
        }
        m.run();
        let n = g.rcs.poll(&mut m.guest(0), &mut ev).unwrap();
        assert_eq!(
            &ev[..n],
            &[
                (csb::IDLE_TO_ACTIVE, 0),
                (csb::ACTIVE_TO_IDLE | csb::COMPLETE, A)
            ],
            "v {v}"
        );
        assert!(g.rcs.idle());
        assert_eq!(read_u32(&mut m, 0, g.data[0] + u64::from(v) * 8), v);
    }
    assert_eq!(m.vms[0].vgpu.failsafe(), None);
    assert_eq!(m.completion_errors, 0);
}

/// The reset itself puts the engine's CSB write pointer at its reset value (7: "nothing
/// written", the next event in entry 0; upstream's `init_vgpu_execlist`) and leaves the
/// HWSP copy alone: i915 rewrites that itself (`reset_csb_pointers`), and a 7 there would
/// send its `process_csb` drain round the 6 entries for ever.
fn gdrst_resets_the_write_pointer(domains: u8) {
    let mut m = Machine::new(1, Tracking::AfterWrite);
    let mut g = Guest::new(&mut m.guest(0), GUEST_RAM, RAM as u64, A).unwrap();
    two_rounds(&mut m, &mut g);
    g.submit(&mut m.guest(0), &[DATA_GVA], 3, DATA_GVA + 4)
        .unwrap();
    let mut t = m.guest(0);
    let before = mirror(&mut t, &g);
    probe::stop_cs(&mut t, Engine::Rcs).unwrap();
    probe::intel_gt_reset(&mut t, domains).unwrap();
    assert_eq!(
        t.read32(RING_CONTEXT_STATUS_PTR::offset(RCS)).unwrap() & 7,
        7
    );
    let mut b = [0u8; 4];
    t.ram_read(g.rcs.hwsp.1 + HWS_CSB_WRITE_INDEX * 4, &mut b)
        .unwrap();
    assert_eq!(
        u32::from_le_bytes(b),
        before,
        "the HWSP keeps the last index written"
    );
    assert_eq!(status_hi(&mut t), 0);
}

#[test]
fn gdrst_engine_resets_the_csb_write_pointer() {
    gdrst_resets_the_write_pointer(Engine::Rcs.mask());
}

#[test]
fn gdrst_full_resets_the_csb_write_pointer() {
    gdrst_resets_the_write_pointer(probe::all_engines());
}

/// An engine reset with nothing running (hangcheck's `igt_reset_idle_engine`,
/// `igt_reset_nop_engine`): no guilty context, and the submissions after it are reported
/// where i915 reads after `reset_csb_pointers`.
#[test]
fn idle_engine_reset_then_new_submissions() {
    let mut m = Machine::new(1, Tracking::AfterWrite);
    let mut g = Guest::new(&mut m.guest(0), GUEST_RAM, RAM as u64, A).unwrap();
    let mut ev = [(0, 0); 6];
    two_rounds(&mut m, &mut g);
    for reset in 0..3u32 {
        assert_eq!(
            g.rcs.reset(&mut m.guest(0), Engine::Rcs.mask()).unwrap(),
            None,
            "reset {reset}"
        );
        for v in 0..(reset + 1) {
            g.submit(
                &mut m.guest(0),
                &[DATA_GVA + u64::from(v) * 4],
                reset << 8 | v,
                DATA_GVA + 0x800,
            )
            .unwrap();
            m.run();
            let n = g.rcs.poll(&mut m.guest(0), &mut ev).unwrap();
            assert_eq!(
                &ev[..n],
                &[
                    (csb::IDLE_TO_ACTIVE, 0),
                    (csb::ACTIVE_TO_IDLE | csb::COMPLETE, A)
                ],
                "reset {reset} v {v}"
            );
            assert_eq!(
                read_u32(&mut m, 0, g.data[0] + u64::from(v) * 4),
                reset << 8 | v
            );
        }
    }
}

#[test]
fn engine_reset_mid_flight_then_reset_csb_pointers() {
    reset_mid_flight(Engine::Rcs.mask());
}

#[test]
fn full_reset_mid_flight_then_reset_csb_pointers() {
    reset_mid_flight(probe::all_engines());
}

/// The model's whole `__intel_engine_reset_bh` (`GuestEngine::reset`) on a hung workload: the
/// guilty context is found, the engine goes on with the next submissions.
#[test]
fn i915_engine_reset_finds_the_hung_context() {
    let mut m = Machine::new(1, Tracking::None);
    let mut g = Guest::new(&mut m.guest(0), GUEST_RAM, RAM as u64, B).unwrap();
    let mut ev = [(0, 0); 6];
    g.submit(&mut m.guest(0), &[DATA_GVA], 1, DATA_GVA + 4)
        .unwrap();
    m.run();
    // An unmapped address: the engine faults and the workload hangs, with no completion.
    g.submit(&mut m.guest(0), &[0x7_0000_0000], 2, DATA_GVA + 4)
        .unwrap();
    m.run();
    assert_eq!(m.vms[0].exec.stats().hangs, 1);
    let n = g.rcs.poll(&mut m.guest(0), &mut ev).unwrap();
    assert_eq!(&ev[..n], &[(csb::IDLE_TO_ACTIVE, 0)]);
    assert_eq!(g.rcs.active_ctx(), Some(B), "switched in, never completed");
    let mut t = m.guest(0);
    assert_eq!(
        g.rcs.reset(&mut t, Engine::Rcs.mask()).unwrap(),
        Some(B),
        "guilty"
    );
    let tail = g.ctx.tail;
    g.ctx.rewind(&mut t, tail).unwrap();
    goes_on(&mut m, &mut g, 3..10);
}

/// After an engine reset: requests `values` (each storing its value) run to completion and the
/// vGPU is out of failsafe.
fn goes_on(m: &mut Machine, g: &mut Guest, values: std::ops::Range<u32>) {
    let mut ev = [(0, 0); 6];
    for v in values {
        g.submit(
            &mut m.guest(0),
            &[DATA_GVA + u64::from(v) * 4],
            v,
            DATA_GVA + 0x800,
        )
        .unwrap();
        m.run();
        g.rcs.poll(&mut m.guest(0), &mut ev).unwrap();
        assert!(g.rcs.idle(), "v {v}");
        assert_eq!(read_u32(m, 0, g.data[0] + u64::from(v) * 4), v);
    }
    assert_eq!(m.vms[0].vgpu.failsafe(), None);
}

/// RING_EXECLIST_STATUS_HI names the context the engine runs from the moment its ELSP is
/// accepted, follows the element switch, and is 0 when the engine is idle.
#[test]
fn execlist_status_follows_the_running_context() {
    let mut m = Machine::new(1, Tracking::AfterWrite);
    let mut t = m.guest(0);
    let mut g = Guest::new(&mut t, GUEST_RAM, RAM as u64, A).unwrap();
    let mut b = Context::new(&mut t, &mut g.alloc, Engine::Rcs, B, &g.ppgtt, 4, false).unwrap();
    assert_eq!(status_hi(&mut t), 0);
    store(&mut t, &mut g.ctx, DATA_GVA, 1);
    store(&mut t, &mut b, DATA_GVA + 4, 2);
    g.rcs.submit(&mut t, &g.ctx, Some(&b)).unwrap();
    assert_eq!(status_hi(&mut t), A, "accepted");
    assert_eq!(m.dispatch(0), Engine::Rcs.mask());
    assert_eq!(status_hi(&mut m.guest(0)), A, "on the host");
    assert!(m.execute_one());
    assert_eq!(status_hi(&mut m.guest(0)), B, "element switch");
    assert_eq!(m.dispatch(0), Engine::Rcs.mask());
    assert_eq!(status_hi(&mut m.guest(0)), B);
    assert!(m.execute_one());
    assert_eq!(status_hi(&mut m.guest(0)), 0, "idle");
    let mut ev = [(0, 0); 6];
    let n = g.rcs.poll(&mut m.guest(0), &mut ev).unwrap();
    assert_eq!(
        &ev[..n],
        &[
            (csb::IDLE_TO_ACTIVE, 0),
            (csb::ELEMENT_SWITCH | csb::COMPLETE, A),
            (csb::ACTIVE_TO_IDLE | csb::COMPLETE, B)
        ]
    );
    assert!(g.rcs.idle());
}

/// i915's `live_error_interrupt` (gt/selftest_execlists.c): a request whose ring holds an
/// invalid instruction (`0xdeadbeef`) after its first commands. As on hardware, what precedes
/// it runs, the engine stops there with `I915_ERROR_INSTRUCTION` latched in `RING_EIR` and the
/// CS error interrupt raised, and no context switch completes; i915's reset from that
/// interrupt finds the context guilty and the engine goes on. The vGPU stays out of failsafe.
#[test]
fn an_invalid_instruction_stops_the_engine_with_a_cs_error() {
    const EIR: u32 = RCS + 0xb0;
    const EMR: u32 = RCS + 0xb4;
    const CS_ERROR: u32 = 1 << 3;
    let mut m = Machine::new(1, Tracking::None);
    let mut t = m.guest(0);
    let mut g = Guest::new(&mut t, GUEST_RAM, RAM as u64, B).unwrap();
    interrupts(&mut t);
    // enable_error_interrupt: only the instruction error is unmasked.
    t.write32(EMR, !1).unwrap();
    let data = g.data[0];
    g.ctx
        .emit(
            &mut t,
            &[
                gpu::mi::STORE_DATA_IMM,
                DATA_GVA as u32,
                (DATA_GVA >> 32) as u32,
                7,
            ],
        )
        .unwrap();
    let bad = g.ctx.tail;
    g.ctx.emit(&mut t, &[0xdead_beef, 0xdead_beef]).unwrap();
    store(&mut t, &mut g.ctx, DATA_GVA + 4, 9);
    g.rcs.submit(&mut t, &g.ctx, None).unwrap();
    m.run();
    assert_eq!(
        (read_u32(&mut m, 0, data), read_u32(&mut m, 0, data + 4)),
        (7, 0),
        "what precedes it runs, nothing after"
    );
    let mut t = m.guest(0);
    let mut ev = [(0, 0); 6];
    let n = g.rcs.poll(&mut t, &mut ev).unwrap();
    assert_eq!(
        &ev[..n],
        &[(csb::IDLE_TO_ACTIVE, 0)],
        "switched in, never completed"
    );
    assert_eq!(interrupts(&mut t).map(|iir| iir & CS_ERROR), Some(CS_ERROR));
    assert_eq!(t.read32(EIR).unwrap(), 1, "I915_ERROR_INSTRUCTION");
    assert_eq!(
        t.read32(RCS + 0x34).unwrap() & 0x1f_fffc,
        bad,
        "RING_HEAD at the instruction"
    );
    assert_eq!(status_hi(&mut t), B);
    assert_eq!(
        m.vms[0].exec.busy(),
        Engine::Rcs.mask(),
        "the engine stays stopped"
    );
    assert_eq!(
        (m.vms[0].exec.stats().cs_errors, m.vms[0].vgpu.failsafe()),
        (1, None)
    );
    // i915's interrupt handler masks and clears the error; its tasklet resets the engine.
    let mut t = m.guest(0);
    t.write32(EMR, !0).unwrap();
    t.write32(EIR, 1).unwrap();
    assert_eq!(t.read32(EIR).unwrap(), 0);
    assert_eq!(
        g.rcs.reset(&mut t, Engine::Rcs.mask()).unwrap(),
        Some(B),
        "guilty"
    );
    let tail = g.ctx.tail;
    g.ctx.rewind(&mut t, tail).unwrap();
    goes_on(&mut m, &mut g, 3..6);
}

/// The context image a workload writes back keeps its layout: the register state page the
/// guest gave (LRI header, register offsets) comes back with only values changed, even when
/// the submission re-read the guest's page tables first, as it does for every submission when
/// the hypervisor cannot write-protect them (kvmgt without KVM, the L3 rung). (The core read
/// those tables through the scratch page that held the image, and i915's recorded default
/// context state came back as a page of page-table entries: gt/selftest_lrc.c
/// `live_lrc_layout` caught it.)
#[test]
fn the_context_image_keeps_its_layout_when_tables_are_revalidated() {
    let mut m = Machine::new(1, Tracking::None);
    let mut t = m.guest(0);
    let mut g = Guest::new(&mut t, GUEST_RAM, RAM as u64, A).unwrap();
    let before: Vec<u32> = (0..0x40u64)
        .map(|i| {
            let mut b = [0u8; 4];
            t.ram_read(g.ctx.regs + i * 4, &mut b).unwrap();
            u32::from_le_bytes(b)
        })
        .collect();
    for v in 1..=3u32 {
        let mut t = m.guest(0);
        store(&mut t, &mut g.ctx, DATA_GVA + u64::from(v) * 4, v);
        g.rcs.submit(&mut t, &g.ctx, None).unwrap();
        m.run();
        let mut ev = [(0, 0); 6];
        g.rcs.poll(&mut m.guest(0), &mut ev).unwrap();
        let after: Vec<u32> = (0..0x40u64)
            .map(|i| read_u32(&mut m, 0, g.ctx.regs + i * 4))
            .collect();
        // Dword 1 is the LRI header, then (offset, value) pairs: every offset stands.
        assert_eq!(after[1], before[1], "submission {v}: LRI header");
        for i in (2..0x40).step_by(2) {
            assert_eq!(
                after[i], before[i],
                "submission {v}: register offset at dword {i}"
            );
        }
        assert_eq!(read_u32(&mut m, 0, g.data[0] + u64::from(v) * 4), v);
    }
}

/// A guest whose context A runs one request (a store of `value` at `DATA_GVA`): acknowledged
/// (IDLE_TO_ACTIVE) and handed to the host, not yet run.
fn a_running(m: &mut Machine, value: u32) -> Guest {
    let mut t = m.guest(0);
    let mut g = Guest::new(&mut t, GUEST_RAM, RAM as u64, A).unwrap();
    let mut ev = [(0, 0); 6];
    store(&mut t, &mut g.ctx, DATA_GVA, value);
    g.rcs.submit(&mut t, &g.ctx, None).unwrap();
    let n = g.rcs.poll(&mut t, &mut ev).unwrap();
    assert_eq!(&ev[..n], &[(csb::IDLE_TO_ACTIVE, 0)]);
    assert_eq!(m.dispatch(0), Engine::Rcs.mask());
    g
}

/// i915's `live_unlite_switch` (gt/selftest_execlists.c): A runs; i915 resubmits it (same
/// tail) with B behind it; once A's element switch is seen, B runs and i915 resubmits B (same
/// tail) with A's next request behind it, while the host has not finished B. Every request
/// runs once, from where its context left off, and the CSB tells i915 each switch.
#[test]
fn lite_restore_of_the_second_context_with_the_first_behind_it() {
    let mut m = Machine::new(1, Tracking::AfterWrite);
    let mut g = a_running(&mut m, 11);
    let mut t = m.guest(0);
    let mut b = Context::new(&mut t, &mut g.alloc, Engine::Rcs, B, &g.ppgtt, 4, false).unwrap();
    let mut ev = [(0, 0); 6];
    store(&mut t, &mut b, DATA_GVA + 8, 22);
    g.rcs.submit(&mut t, &g.ctx, Some(&b)).unwrap();
    let n = g.rcs.poll(&mut t, &mut ev).unwrap();
    assert_eq!(&ev[..n], &[(csb::LITE_RESTORE | csb::PREEMPTED, A)]);
    // A's first workload, then its empty resubmission: the element switch to B.
    let mut switched = false;
    for _ in 0..4 {
        m.dispatch(0);
        assert!(m.execute_one());
        let mut t = m.guest(0);
        let n = g.rcs.poll(&mut t, &mut ev).unwrap();
        if n > 0 {
            assert_eq!(&ev[..n], &[(csb::ELEMENT_SWITCH | csb::COMPLETE, A)]);
            switched = true;
            break;
        }
    }
    assert!(switched, "A's element switch reported");
    // B is handed to the host but not finished when i915 resubmits it with A behind it.
    m.dispatch(0);
    let mut t = m.guest(0);
    store(&mut t, &mut g.ctx, DATA_GVA + 16, 33);
    g.rcs.submit(&mut t, &b, Some(&g.ctx)).unwrap();
    let n = g.rcs.poll(&mut t, &mut ev).unwrap();
    assert_eq!(&ev[..n], &[(csb::LITE_RESTORE | csb::PREEMPTED, B)]);
    run_to_idle(
        &mut m,
        &mut g,
        &[
            (csb::ELEMENT_SWITCH | csb::COMPLETE, B),
            (csb::ACTIVE_TO_IDLE | csb::COMPLETE, A),
        ],
        &[11, 22, 33],
    );
}

/// Runs the machine until it is idle. The guest then reads `events` from the CSB and has
/// nothing in flight, the vGPU is not in failsafe, and request k stored `values[k]` at
/// `DATA_GVA + 8 * k`.
fn run_to_idle(m: &mut Machine, g: &mut Guest, events: &[(u32, u32)], values: &[u32]) {
    m.run();
    assert_eq!(m.completion_errors, 0);
    let mut t = m.guest(0);
    let mut ev = [(0, 0); 6];
    let n = g.rcs.poll(&mut t, &mut ev).unwrap();
    assert_eq!(&ev[..n], events);
    assert!(g.rcs.idle());
    assert_eq!(status_hi(&mut t), 0);
    assert_eq!(m.vms[0].vgpu.failsafe(), None);
    for (k, &v) in values.iter().enumerate() {
        assert_eq!(read_u32(m, 0, g.data[0] + 8 * k as u64), v, "request {k}");
    }
}

/// i915's `nop_virtual_engine` on a new context: bursts of 1, 2, 3, 5, 7, ... requests in its
/// default 4 KiB ring, some added while the context runs (lite restores), until the ring has
/// wrapped several times. Every request's store lands and every burst completes. (In L3 a
/// stock i915 timed out at the request where its ring first wrapped, seqno 58 on vcs0.)
#[test]
fn bursts_of_requests_across_ring_wraps_all_complete() {
    for e in [Engine::Rcs, Engine::Bcs, Engine::Vcs, Engine::Vecs] {
        bursts_across_ring_wraps(e);
    }
}

fn bursts_across_ring_wraps(e: Engine) {
    let mut m = Machine::new(1, Tracking::AfterWrite);
    let mut t = m.guest(0);
    let mut g = Guest::new(&mut t, GUEST_RAM, RAM as u64, A).unwrap();
    let mut port = gpu::GuestEngine::new(&mut t, &mut g.alloc, e).unwrap();
    let mut c = Context::new(&mut t, &mut g.alloc, e, B, &g.ppgtt, 1, false).unwrap();
    interrupts(&mut t);
    let mut ev = [(0, 0); 6];
    let mut value = 0u32;
    let mut expect = Vec::new();
    let mut wraps = 0;
    for (burst, n) in [1u32, 2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31]
        .into_iter()
        .cycle()
        .take(60)
        .enumerate()
    {
        let mut t = m.guest(0);
        let lite = burst % 2 == 1;
        let before = c.tail;
        for k in 0..n {
            // A request: a store and the 8-byte padding i915's requests end with.
            value += 1;
            let gva = DATA_GVA + u64::from(value % 1024) * 4;
            store(&mut t, &mut c, gva, value);
            expect.push((gva, value));
            if lite && k == n / 2 {
                // Half the burst goes in now; the rest is added while it runs.
                port.submit(&mut t, &c, None).unwrap();
                let got = port.poll(&mut t, &mut ev).unwrap();
                assert_eq!(
                    &ev[..got],
                    &[(csb::IDLE_TO_ACTIVE, 0)],
                    "{e:?} burst {burst}"
                );
                assert_eq!(m.dispatch(0), e.mask(), "{e:?} burst {burst}");
                t = m.guest(0);
            }
        }
        if c.tail < before {
            wraps += 1;
        }
        port.submit(&mut t, &c, None).unwrap();
        let got = port.poll(&mut t, &mut ev).unwrap();
        let first = if lite {
            (csb::LITE_RESTORE | csb::PREEMPTED, B)
        } else {
            (csb::IDLE_TO_ACTIVE, 0)
        };
        assert_eq!(&ev[..got], &[first], "{e:?} burst {burst}");
        m.run();
        assert_eq!(m.completion_errors, 0, "{e:?} burst {burst}");
        let mut t = m.guest(0);
        let got = port.poll(&mut t, &mut ev).unwrap();
        assert_eq!(
            &ev[..got],
            &[(csb::ACTIVE_TO_IDLE | csb::COMPLETE, B)],
            "{e:?} burst {burst}: completes"
        );
        assert!(port.idle(), "{e:?} burst {burst}");
        assert_eq!(m.vms[0].vgpu.failsafe(), None, "{e:?} burst {burst}");
        for &(gva, v) in expect.iter().rev().take(n as usize) {
            let page = ((gva - DATA_GVA) / 4096) as usize;
            assert_eq!(
                read_u32(&mut m, 0, g.data[page] + (gva & 0xfff)),
                v,
                "{e:?} burst {burst}: request {v}"
            );
        }
    }
    assert!(wraps >= 3, "{e:?}: the ring wrapped {wraps} times");
}

/// i915's `execlists_update_context` writes the new RING_TAIL into the context image, then
/// writes ELSP. Under nested TCG the engine finished the context's previous request between
/// the two (seen in L3: an ELSP submission of 0 bytes, the request in it lost until the next
/// one came, and a GT that never idled when none came). The write-back of that completion
/// must leave the guest's tail alone, so the submission runs the new request.
#[test]
fn a_completion_between_the_tail_write_and_elsp_loses_no_request() {
    let mut m = Machine::new(1, Tracking::AfterWrite);
    let mut g = a_running(&mut m, 1);
    // The next request and its tail in the image; the first request ends before the ELSP.
    let mut t = m.guest(0);
    store(&mut t, &mut g.ctx, DATA_GVA + 8, 2);
    assert!(m.execute_one());
    let mut t = m.guest(0);
    g.rcs.submit(&mut t, &g.ctx, None).unwrap();
    run_to_idle(
        &mut m,
        &mut g,
        &[
            (csb::IDLE_TO_ACTIVE, 0),
            (csb::ACTIVE_TO_IDLE | csb::COMPLETE, A),
        ],
        &[1, 2],
    );
}
