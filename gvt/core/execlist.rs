//! Execlist emulation: what the guest's ELSP submissions look like from its side.
//!
//! A real engine keeps two execlist slots (running, pending), reports every context switch
//! as an entry in its 6-entry context status buffer (CSB) and raises a context-switch
//! interrupt. The vGPU's engines do the same in [`Execlist`]. A submission is acknowledged
//! when the core accepts it, as upstream's `emulate_execlist_schedule_in` does: IDLE_TO_ACTIVE
//! on an idle engine, PREEMPTED with LITE_RESTORE when the running context is resubmitted, and
//! EXECLIST_STATUS names the context from then on. i915 needs that event to promote its
//! pending submission (`process_csb`, `gen8_csb_parse`): until it arrives it submits nothing
//! more, and its reset path looks the running context up by EXECLIST_STATUS_HI. Completions
//! (ELEMENT_SWITCH, ACTIVE_TO_IDLE, with COMPLETE) are reported when the host reports a
//! workload finished, never earlier, so the guest cannot see a context complete before its
//! work is in memory. Entries are mirrored into the guest's hardware status page (dword 0x10
//! on, write index at dword 0x1f), where a modern i915 reads them. A hang produces nothing:
//! the guest's own hang check notices and resets, which puts the CSB write pointer back at
//! [`CSB_WP_RESET`] (`Vgpu::reset`).

use super::error::{GvtError, Result};
use super::irq::Event;
use super::num::upper_32_bits;
use super::regs::{
    Engine, RING_CONTEXT_STATUS_BUF, RING_CONTEXT_STATUS_PTR, RING_EXECLIST_STATUS_LO, RING_HWS_PGA,
};
use super::vgpu::{Vgpu, VgpuStorage, CSB_WP_RESET};
use crate::mpt::MptOps;

/// Context descriptor bit: valid.
pub const CTX_VALID: u64 = 1;
/// Context descriptor bit: privileged (GGTT) access, which every GVT-g context has.
pub const CTX_PRIVILEGE: u64 = 1 << 8;
/// Context descriptor addressing mode of a 4-level (48-bit) PPGTT.
pub const CTX_MODE_L4: u64 = 3;
/// CSB entries.
pub const CSB_ENTRIES: u32 = 6;
/// HWSP dword of the first CSB entry.
pub const HWS_CSB_BUF0: u64 = 0x10;
/// HWSP dword of the CSB write index.
pub const HWS_CSB_WRITE_INDEX: u64 = 0x1f;

/// CSB status bits.
pub mod csb {
    /// The engine went from idle to a context.
    pub const IDLE_TO_ACTIVE: u32 = 1 << 0;
    /// The running context was preempted.
    pub const PREEMPTED: u32 = 1 << 1;
    /// The engine moved to the second element of the slot.
    pub const ELEMENT_SWITCH: u32 = 1 << 2;
    /// The engine went idle.
    pub const ACTIVE_TO_IDLE: u32 = 1 << 3;
    /// A context completed.
    pub const COMPLETE: u32 = 1 << 4;
    /// The running context was resubmitted (new tail).
    pub const LITE_RESTORE: u32 = 1 << 15;
}

/// A guest context descriptor (what the guest writes to ELSP, two dwords per element).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Desc(pub u64);

impl Desc {
    /// The element is present.
    pub fn valid(self) -> bool {
        self.0 & CTX_VALID != 0
    }
    /// Graphics address of the context image (its first page, the per-process HWSP).
    pub fn lrca(self) -> u64 {
        self.0 & 0xffff_f000
    }
    /// The guest's context id (reported back in CSB entries).
    pub fn ctx_id(self) -> u32 {
        upper_32_bits(self.0)
    }
    /// Addressing mode (bits 4:3).
    pub fn mode(self) -> u64 {
        (self.0 >> 3) & 3
    }
    /// Whether the core can run it: valid, privileged, 4-level PPGTT.
    pub fn check(self) -> Result {
        if self.valid() && self.0 & CTX_PRIVILEGE != 0 && self.mode() == CTX_MODE_L4 {
            Ok(())
        } else {
            Err(GvtError::Invalid)
        }
    }
}

/// What the completion of one element must report.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// The guest's context id.
    pub ctx_id: u32,
    /// The last element of its slot.
    pub last: bool,
    /// The guest resubmitted this context behind it (lite restore, already reported as
    /// preempted): it completes silently, the context goes on in its new submission.
    pub lite_next: bool,
}

/// CSB entries (status, context id) to report, in order: at most three at a time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Events {
    e: [(u32, u32); 3],
    n: usize,
}

impl Events {
    fn push(&mut self, status: u32, ctx: u32) {
        if let Some(o) = self.e.get_mut(self.n) {
            *o = (status, ctx);
            self.n = self.n.wrapping_add(1);
        }
    }

    /// The entries.
    pub fn as_slice(&self) -> &[(u32, u32)] {
        self.e.get(..self.n).unwrap_or(&[])
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Slot {
    ctx: [u32; 2],
    count: u8,
    done: u8,
}

impl Slot {
    fn current(&self) -> u32 {
        self.ctx.get(usize::from(self.done)).copied().unwrap_or(0)
    }
}

/// One engine's two execlist slots as the guest sees them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Execlist {
    running: Option<Slot>,
    pending: Option<Slot>,
}

/// How a submission relates to what runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Submitted {
    /// A new slot; the plans of its elements.
    Slot([Option<Plan>; 2]),
    /// The running context resubmitted: the previous workload of that context becomes
    /// `lite_next`.
    LiteRestore([Option<Plan>; 2]),
}

impl Execlist {
    /// Records an ELSP submission of checked descriptors and returns what the engine reports
    /// on accepting it (upstream's `emulate_execlist_schedule_in`): IDLE_TO_ACTIVE when it was
    /// idle; PREEMPTED | LITE_RESTORE (the running context's id) when the first element is
    /// the context it runs, whose slot the submission replaces; nothing when it waits behind
    /// the running slot. `Busy` when both slots are taken (a guest that does not wait for its
    /// CSB).
    pub fn submit(&mut self, d0: Desc, d1: Option<Desc>) -> Result<(Submitted, Events)> {
        let slot = Slot {
            ctx: [d0.ctx_id(), d1.map_or(0, Desc::ctx_id)],
            count: if d1.is_some() { 2 } else { 1 },
            done: 0,
        };
        let plans = [
            Some(Plan {
                ctx_id: d0.ctx_id(),
                last: d1.is_none(),
                lite_next: false,
            }),
            d1.map(|d| Plan {
                ctx_id: d.ctx_id(),
                last: true,
                lite_next: false,
            }),
        ];
        let mut ev = Events::default();
        match (self.running, self.pending) {
            (None, _) => {
                self.running = Some(slot);
                ev.push(csb::IDLE_TO_ACTIVE, 0);
                Ok((Submitted::Slot(plans), ev))
            }
            (Some(r), None) if r.current() == d0.ctx_id() => {
                self.running = Some(slot);
                ev.push(csb::LITE_RESTORE | csb::PREEMPTED, d0.ctx_id());
                Ok((Submitted::LiteRestore(plans), ev))
            }
            (Some(_), None) => {
                self.pending = Some(slot);
                Ok((Submitted::Slot(plans), ev))
            }
            (Some(_), Some(_)) => Err(GvtError::Busy),
        }
    }

    /// The CSB entries the completion of an element produces, in order: nothing for one a
    /// lite restore replaced; ELEMENT_SWITCH | COMPLETE for the first of two; ACTIVE_TO_IDLE |
    /// COMPLETE for the last, then IDLE_TO_ACTIVE if a slot was waiting behind it (it runs
    /// now).
    pub fn complete(&mut self, p: &Plan) -> Events {
        let mut ev = Events::default();
        if p.lite_next {
            return ev;
        }
        if !p.last {
            ev.push(csb::ELEMENT_SWITCH | csb::COMPLETE, p.ctx_id);
            if let Some(r) = self.running.as_mut() {
                r.done = r.done.saturating_add(1).min(r.count.saturating_sub(1));
            }
        } else {
            ev.push(csb::ACTIVE_TO_IDLE | csb::COMPLETE, p.ctx_id);
            self.running = self.pending.take();
            if self.running.is_some() {
                ev.push(csb::IDLE_TO_ACTIVE, 0);
            }
        }
        ev
    }

    /// Forgets both slots (engine reset or hang).
    pub fn reset(&mut self) {
        *self = Execlist::default();
    }

    /// EXECLIST_STATUS (low, high) as the guest reads it.
    pub fn status(&self) -> (u32, u32) {
        let Some(r) = self.running else { return (0, 0) };
        let cur = u32::from(r.done & 1);
        let full = u32::from(self.pending.is_some());
        let valid1 = u32::from(r.count > 1);
        let lo = cur
            | (full << 1)
            | (full << 2)
            | (valid1 << 3)
            | (1 << 4)
            | (1 << (18u32.wrapping_sub(cur)));
        (lo, r.current())
    }
}

/// The context-switch interrupt of `e`.
pub fn switch_event(e: Engine) -> Event {
    match e {
        Engine::Rcs => Event::RcsContextSwitch,
        Engine::Bcs => Event::BcsContextSwitch,
        Engine::Vcs => Event::VcsContextSwitch,
        Engine::Vecs => Event::VecsContextSwitch,
    }
}

/// The command streamer error interrupt of `e`.
pub fn error_event(e: Engine) -> Event {
    match e {
        Engine::Rcs => Event::RcsCsError,
        Engine::Bcs => Event::BcsCsError,
        Engine::Vcs => Event::VcsCsError,
        Engine::Vecs => Event::VecsCsError,
    }
}

/// The user interrupt of `e`.
pub fn user_event(e: Engine) -> Event {
    match e {
        Engine::Rcs => Event::RcsMiUserInterrupt,
        Engine::Bcs => Event::BcsMiUserInterrupt,
        Engine::Vcs => Event::VcsMiUserInterrupt,
        Engine::Vecs => Event::VecsMiUserInterrupt,
    }
}

/// Writes CSB entries for `engine` into the registers and the guest's HWSP (upstream's
/// `emulate_csb_update`: the write pointer moves to the next entry, from [`CSB_WP_RESET`] to
/// entry 0), updates EXECLIST_STATUS from `el`, and raises one context-switch interrupt if
/// there was an entry.
pub fn report<S: VgpuStorage>(
    vgpu: &mut Vgpu<S>,
    mpt: &mut dyn MptOps,
    engine: Engine,
    el: &Execlist,
    entries: &[(u32, u32)],
) -> Result {
    let base = engine.base();
    let ptr_off = RING_CONTEXT_STATUS_PTR::offset(base);
    let hws = u64::from(vgpu.vreg(RING_HWS_PGA::offset(base)));
    let mut hws_result = Ok(());
    for &(status, ctx) in entries {
        let ptr = vgpu.vreg(ptr_off);
        let wp = ptr & 7;
        let next = if wp == CSB_WP_RESET || wp.wrapping_add(1) >= CSB_ENTRIES {
            0
        } else {
            wp.wrapping_add(1)
        };
        let at = RING_CONTEXT_STATUS_BUF::offset(base).wrapping_add(next.wrapping_mul(8));
        vgpu.set_vreg(at, status);
        vgpu.set_vreg(at.wrapping_add(4), ctx);
        vgpu.set_vreg(ptr_off, (ptr & !7) | next);
        if hws != 0 {
            let entry = (u64::from(status) | (u64::from(ctx) << 32)).to_le_bytes();
            let e_gm = hws.wrapping_add(
                (HWS_CSB_BUF0.wrapping_add(u64::from(next).wrapping_mul(2))).wrapping_mul(4),
            );
            let w_gm = hws.wrapping_add(HWS_CSB_WRITE_INDEX.wrapping_mul(4));
            let r = match (vgpu.gm_to_gpa(e_gm), vgpu.gm_to_gpa(w_gm)) {
                (Some(e), Some(w)) => mpt
                    .write_gpa(e, &entry)
                    .and_then(|()| mpt.write_gpa(w, &next.to_le_bytes())),
                _ => Err(GvtError::Fault),
            };
            if r.is_err() {
                hws_result = r;
            }
        }
    }
    let (lo, hi) = el.status();
    let st = RING_EXECLIST_STATUS_LO::offset(base);
    vgpu.set_vreg(st, lo);
    vgpu.set_vreg(st.wrapping_add(4), hi);
    if !entries.is_empty() {
        vgpu.raise_event(mpt, switch_event(engine))?;
    }
    hws_result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(id: u32) -> Desc {
        Desc((u64::from(id) << 32) | 0x1000 | CTX_PRIVILEGE | (CTX_MODE_L4 << 3) | CTX_VALID)
    }

    #[test]
    fn single_element_from_idle() {
        let mut el = Execlist::default();
        let (Submitted::Slot([Some(p), None]), ev) = el.submit(d(5), None).unwrap() else {
            panic!()
        };
        assert_eq!(ev.as_slice(), &[(csb::IDLE_TO_ACTIVE, 0)]);
        assert!(p.last);
        assert_eq!(el.status().1, 5);
        assert_eq!(
            el.complete(&p).as_slice(),
            &[(csb::ACTIVE_TO_IDLE | csb::COMPLETE, 5)]
        );
        assert_eq!(el.status(), (0, 0));
    }

    #[test]
    fn two_elements_then_pending() {
        let mut el = Execlist::default();
        let (Submitted::Slot([Some(a), Some(b)]), ev) = el.submit(d(1), Some(d(2))).unwrap() else {
            panic!()
        };
        assert_eq!(ev.as_slice(), &[(csb::IDLE_TO_ACTIVE, 0)]);
        let (Submitted::Slot([Some(c), None]), ev) = el.submit(d(3), None).unwrap() else {
            panic!()
        };
        assert_eq!(ev.as_slice(), &[], "waits behind the running slot");
        assert_eq!(el.submit(d(4), None), Err(GvtError::Busy));
        assert_eq!(
            el.complete(&a).as_slice(),
            &[(csb::ELEMENT_SWITCH | csb::COMPLETE, 1)]
        );
        assert_eq!(el.status().1, 2);
        assert_eq!(
            el.complete(&b).as_slice(),
            &[
                (csb::ACTIVE_TO_IDLE | csb::COMPLETE, 2),
                (csb::IDLE_TO_ACTIVE, 0)
            ]
        );
        assert_eq!(el.status().1, 3);
        assert_eq!(
            el.complete(&c).as_slice(),
            &[(csb::ACTIVE_TO_IDLE | csb::COMPLETE, 3)]
        );
    }

    #[test]
    fn lite_restore() {
        let mut el = Execlist::default();
        let (Submitted::Slot([Some(mut a), None]), _) = el.submit(d(7), None).unwrap() else {
            panic!()
        };
        let (Submitted::LiteRestore([Some(b), None]), ev) = el.submit(d(7), None).unwrap() else {
            panic!()
        };
        assert_eq!(ev.as_slice(), &[(csb::LITE_RESTORE | csb::PREEMPTED, 7)]);
        a.lite_next = true;
        assert_eq!(el.complete(&a).as_slice(), &[]);
        assert_eq!(el.status().1, 7);
        assert_eq!(
            el.complete(&b).as_slice(),
            &[(csb::ACTIVE_TO_IDLE | csb::COMPLETE, 7)]
        );
    }

    #[test]
    fn lite_restore_with_a_second_context() {
        let mut el = Execlist::default();
        let (Submitted::Slot([Some(mut a), None]), _) = el.submit(d(7), None).unwrap() else {
            panic!()
        };
        let (Submitted::LiteRestore([Some(a2), Some(b)]), ev) =
            el.submit(d(7), Some(d(9))).unwrap()
        else {
            panic!()
        };
        assert_eq!(ev.as_slice(), &[(csb::LITE_RESTORE | csb::PREEMPTED, 7)]);
        a.lite_next = true;
        assert_eq!(el.complete(&a).as_slice(), &[]);
        assert_eq!(
            el.complete(&a2).as_slice(),
            &[(csb::ELEMENT_SWITCH | csb::COMPLETE, 7)]
        );
        assert_eq!(el.status().1, 9);
        assert_eq!(
            el.complete(&b).as_slice(),
            &[(csb::ACTIVE_TO_IDLE | csb::COMPLETE, 9)]
        );
        assert_eq!(el.status(), (0, 0));
    }

    #[test]
    fn descriptors_are_checked() {
        assert!(d(1).check().is_ok());
        assert!(Desc(d(1).0 & !CTX_PRIVILEGE).check().is_err());
        assert!(Desc(d(1).0 & !(3 << 3) | (1 << 3)).check().is_err());
        assert!(Desc(0).check().is_err());
    }
}
