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
//! A workload runs as a [`Job`], one slice at a time: a batch that spins until the CPU ends it
//! (i915's `igt_spinner`, a semaphore the CPU releases) keeps its engine as on hardware, while
//! the host goes on completing other engines' work between slices. Only a workload that holds
//! its engine past [`WATCHDOG_NS`] is ended as a hang, the host's stand-in for i915's heartbeat
//! reset; the guest's own hang check normally resets it first, which the core reports by
//! orphaning the workload.
//!
//! This is the sans-I/O half: the kernel glue keeps the queue, the memory and the thread, and
//! the L0 tests drive the same function over a page map.

use core::sync::atomic::AtomicU64;

use super::engine::{Clock, Cursor, Engine, HostMemory, Outcome, RingState, Space};
use crate::model::host::{Completion, HostWorkload};
use crate::model::num::usize_as_u64;
use crate::model::ppgtt::PAGE;
use crate::model::workload::{CTX_PDP0_LDW, CTX_PDP0_UDW};

/// Commands (and semaphore polls) one slice of a workload may spend before the engine lets
/// the host's other work (other engines, other vGPUs' completions) in: a few milliseconds
/// under TCG, which is also how long a slice keeps the memory grants locked.
pub const SLICE_BUDGET: u64 = 1 << 12;

/// Longest one slice may take by the kernel's clock. Under nested TCG a spinning batch's
/// 4,096 commands took a millisecond or more, in which a guest's GGTT write (its grants) and
/// the completion of another engine's request waited, where i915's reset and execlists
/// selftests give a request 50-100 ms and one takes 11-32 ms there.
pub const SLICE_NS: u64 = 500_000;

/// How long a workload may occupy its engine before the host gives up on it, as host i915's
/// heartbeat resets an engine whose request will not yield: long enough for a guest's own
/// hang check to reset its engine first (i915's heartbeat does in about 10 s).
pub const WATCHDOG_NS: u64 = 30_000_000_000;

/// A workload on a sim engine: where it is, so that it can run in slices.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Job {
    /// The workload.
    pub w: HostWorkload,
    /// Where its next slice starts; `None` before its first.
    at: Option<Cursor>,
    /// When its first slice started (the [`Clock`]'s time).
    since: u64,
}

/// What one slice of a job did.
#[derive(Debug)]
pub enum Step {
    /// The workload is over: the core's completion.
    Done(Completion),
    /// Its slice ended: run the job again later (it holds its engine meanwhile).
    Sliced(Job),
}

impl Job {
    /// `w`, not yet started.
    pub fn new(w: HostWorkload) -> Self {
        Job {
            w,
            at: None,
            since: 0,
        }
    }

    /// Runs the next slice of the job on `engine` (which must be the workload's), spending at
    /// most `budget`. The first slice restores the context; the last saves it when the ring
    /// ran to its end. A fault or bad command ends it as a hang, and so does the watchdog.
    pub fn step(
        self,
        engine: &mut Engine,
        mem: &mut dyn HostMemory,
        clock: &dyn Clock,
        ggtt: &[AtomicU64],
        budget: u64,
    ) -> Step {
        let w = self.w;
        let Some(root) = ppgtt_root(mem, w.context) else {
            return Step::Done(Completion::Hang);
        };
        engine.set_hwsp(w.context, Space::Phys);
        let state = w.context.wrapping_add(usize_as_u64(PAGE));
        let (at, since) = match self.at {
            Some(at) => (at, self.since),
            None => {
                engine.restore_context(mem, clock, state);
                (Cursor::at(0), clock.now_ns())
            }
        };
        // The ring is exactly the workload: a size past its tail keeps head from wrapping onto it.
        let ring = RingState {
            start: w.ring,
            space: Space::Phys,
            size: w.ring_len.saturating_add(4) & !3,
            head: 0,
            tail: w.ring_len,
        };
        let res = engine.run(
            mem,
            clock,
            ggtt,
            ring,
            Some(root).filter(|r| *r != 0),
            at,
            budget,
        );
        match res.outcome {
            Outcome::Completed => {
                engine.save_context(mem, clock, state);
                Step::Done(Completion::Done)
            }
            Outcome::Sliced if clock.now_ns().saturating_sub(since) < WATCHDOG_NS => {
                Step::Sliced(Job {
                    w,
                    at: Some(res.cursor),
                    since,
                })
            }
            // Reset: the image is dropped.
            _ => Step::Done(Completion::Hang),
        }
    }
}

/// The PML4 address in the ring context of the image at `context`, if readable.
fn ppgtt_root(mem: &mut dyn HostMemory, context: u64) -> Option<u64> {
    let dword = |mem: &mut dyn HostMemory, i: usize| {
        let mut b = [0u8; 4];
        let at = context
            .checked_add(usize_as_u64(PAGE))?
            .checked_add(u64::try_from(i).ok()?.checked_mul(4)?)?;
        mem.read(at, &mut b).then(|| u32::from_le_bytes(b))
    };
    let hi = dword(mem, CTX_PDP0_UDW)?;
    let lo = dword(mem, CTX_PDP0_LDW)?;
    Some((u64::from(hi) << 32) | u64::from(lo))
}
