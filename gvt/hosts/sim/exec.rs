//! The sim host running the core's workloads.
//!
//! A workload arrives as a shadow context image and a shadow ring in host memory
//! ([`HostWorkload`]). A real GPU would reach both through host GGTT entries i915 pins; the sim
//! reads them by host address instead ([`Space::Phys`]), and everything the commands address
//! goes through the host GGTT and the shadow PPGTT whose root the context image carries, as on
//! hardware. The per-process status page (page 0 of the image) takes `MI_STORE_DWORD_INDEX`
//! and index-mode post-syncs; the register state page (page 1) restores the context's
//! registers when it starts and takes its timestamp and GPRs back when it completes.
//!
//! This is the sans-I/O half: the kernel glue keeps the queue, the memory and the thread, and
//! the L0 tests drive the same function over a page map.

use core::sync::atomic::AtomicU64;

use super::engine::{Clock, Engine, HostMemory, Outcome, RingState, RunResult, Space};
use crate::model::host::{Completion, HostWorkload};
use crate::model::ppgtt::PAGE;
use crate::model::workload::{CTX_PDP0_LDW, CTX_PDP0_UDW};

/// Commands (and semaphore polls) one workload may spend before it counts as hung.
pub const WORKLOAD_BUDGET: u64 = 1 << 20;

/// The PML4 address in the ring context of the image at `context`, if readable.
fn ppgtt_root(mem: &mut dyn HostMemory, context: u64) -> Option<u64> {
    let dword = |mem: &mut dyn HostMemory, i: usize| {
        let mut b = [0u8; 4];
        let at = context.checked_add(PAGE as u64)?.checked_add(u64::try_from(i).ok()?.checked_mul(4)?)?;
        mem.read(at, &mut b).then(|| u32::from_le_bytes(b))
    };
    let hi = dword(mem, CTX_PDP0_UDW)?;
    let lo = dword(mem, CTX_PDP0_LDW)?;
    Some((u64::from(hi) << 32) | u64::from(lo))
}

/// Runs `w` on `engine` (which must be `w.engine`'s) to the end of its ring or until it
/// faults, hangs or meets a bad command; anything but the end is a hang for the core. `clock`
/// is the GPU's time.
pub fn run(engine: &mut Engine, mem: &mut dyn HostMemory, clock: &dyn Clock, ggtt: &[AtomicU64], w: &HostWorkload, budget: u64) -> (Completion, RunResult) {
    let stuck = RunResult { outcome: Outcome::Fault { addr: w.context, ppgtt: false }, head: 0, user_interrupts: 0, notifies: 0, spent: 0 };
    let Some(root) = ppgtt_root(mem, w.context) else { return (Completion::Hang, stuck) };
    engine.set_hwsp(w.context, Space::Phys);
    let state = w.context.wrapping_add(PAGE as u64);
    engine.restore_context(mem, clock, state);
    // The ring is exactly the workload: a size past its tail keeps head from wrapping onto it.
    let ring = RingState { start: w.ring, space: Space::Phys, size: w.ring_len.saturating_add(4) & !3, head: 0, tail: w.ring_len };
    let res = engine.run(mem, clock, ggtt, ring, Some(root).filter(|r| *r != 0), budget);
    // Saved when the context completes; a hung one is reset and its image dropped.
    if res.outcome == Outcome::Completed {
        engine.save_context(mem, clock, state);
    }
    let how = if res.outcome == Outcome::Completed { Completion::Done } else { Completion::Hang };
    (how, res)
}
