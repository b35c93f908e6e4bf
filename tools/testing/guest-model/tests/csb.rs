//! The context status buffer and execlist status as i915 6.12 reads them
//! (gt/intel_execlists_submission.c): `process_csb` promotes its pending ELSP submission at
//! the first IDLE_TO_ACTIVE or PREEMPTED event, `reset_csb_pointers` expects the first event
//! after an engine reset in entry 0, and the reset path finds the guilty context by the id in
//! RING_EXECLIST_STATUS_HI. The guest side is the model's i915 bookkeeping
//! (`GuestEngine::{submit, poll, reset}`), which refuses what i915 could not account for.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::arithmetic_side_effects, clippy::cast_possible_truncation, clippy::panic)]

use guest_model::gpu::{self, Context};
use guest_model::hv::Tracking;
use guest_model::machine::{Guest, Machine, DATA_GVA, GUEST_RAM, RAM};
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
    t.ram_read(g.rcs.hwsp.1 + HWS_CSB_WRITE_INDEX * 4, &mut b).unwrap();
    assert_eq!(u32::from_le_bytes(b), reg, "HWSP write index mirrors RING_CONTEXT_STATUS_PTR");
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
    c.emit(t, &[gpu::mi::STORE_DATA_IMM, gva as u32, (gva >> 32) as u32, v]).unwrap();
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
        assert_eq!(&ev[..n], &[(csb::IDLE_TO_ACTIVE, 0)], "round {round}: ELSP acknowledged at once");
        assert_eq!((g.rcs.pending, g.rcs.active_ctx()), ([None; 2], Some(A)), "round {round}: promoted");
        assert_eq!(interrupts(&mut t).map(|iir| iir & RCS_CTX_SWITCH), Some(RCS_CTX_SWITCH), "round {round}");
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
                assert_eq!(&ev[..n], &[(csb::LITE_RESTORE | csb::PREEMPTED, A)], "round {round}");
                assert_eq!(interrupts(&mut t).map(|iir| iir & RCS_CTX_SWITCH), Some(RCS_CTX_SWITCH));
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
                assert_eq!(&ev[..n], &[(csb::LITE_RESTORE | csb::PREEMPTED, A)], "round {round}");
                assert_eq!(g.rcs.inflight, [Some(A), Some(B)]);
                &[(csb::ELEMENT_SWITCH | csb::COMPLETE, A), (csb::ACTIVE_TO_IDLE | csb::COMPLETE, B)]
            }
        };
        m.run();
        assert_eq!(m.completion_errors, 0);
        let mut t = m.guest(0);
        let n = g.rcs.poll(&mut t, &mut ev).unwrap();
        assert_eq!(&ev[..n], expect, "round {round}");
        assert!(g.rcs.idle(), "round {round}");
        assert_eq!(interrupts(&mut t).map(|iir| iir & RCS_CTX_SWITCH), Some(RCS_CTX_SWITCH));
        mirror(&mut t, &g);
        assert_eq!(status_hi(&mut t), 0, "round {round}: idle");
        assert_eq!(m.vms[0].vgpu.failsafe(), None);
        let data = g.data[0];
        assert_eq!(read_u32(&mut m, 0, data + u64::from(round) * 16), round);
        match round % 3 {
            1 => assert_eq!(read_u32(&mut m, 0, data + u64::from(round) * 16 + 4), round + 1000),
            2 => assert_eq!(read_u32(&mut m, 0, data + u64::from(round) * 16 + 8), round + 2000),
            _ => {}
        }
    }
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
    assert_eq!(&ev[..n], &[(csb::IDLE_TO_ACTIVE, 0), (csb::ELEMENT_SWITCH | csb::COMPLETE, A), (csb::ACTIVE_TO_IDLE | csb::COMPLETE, B)]);
    assert!(g.rcs.idle());
}
