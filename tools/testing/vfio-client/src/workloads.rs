//! The guest model's workload over a real transport (VFIO here, VHM ioreqs in the ACRN
//! client): the same rounds L0 and KUnit run, reported as checks with their timing.

use std::time::Instant;

use guest_model::workload::Guest;
use guest_model::Transport;

use crate::checks::Checks;

/// Rounds each vGPU runs in the QEMU scenarios.
pub const ROUNDS: u32 = 100;
/// Where the workload's pages start in guest RAM (above the probe's GGTT pages).
pub const RAM_START: u64 = 2 << 20;

/// Sets up the guest's execution side and runs `rounds` rounds, stopping at the first error;
/// `detail` adds the transport's last error to a failure. Prints the time per round.
pub fn run<T: Transport>(c: &mut Checks, t: &mut T, ram_end: u64, ctx_id: u32, rounds: u32, detail: impl Fn(&mut T) -> Option<String>) {
    let why = |t: &mut T, e: guest_model::Error| format!("{e:?}{}", detail(t).map(|d| format!(" ({d})")).unwrap_or_default());
    let mut g = match Guest::new(t, RAM_START, ram_end, ctx_id) {
        Ok(g) => g,
        Err(e) => {
            let w = why(t, e);
            c.fail("workload set-up", w);
            return;
        }
    };
    let t0 = Instant::now();
    for round in 0..rounds {
        if let Err(e) = g.round(t, round, 0xc0de_0000 | round) {
            let w = why(t, e);
            c.fail("workloads", format!("round {round}: {w}"));
            return;
        }
    }
    let us = t0.elapsed().as_micros().checked_div(u128::from(rounds)).unwrap_or(0);
    c.pass(&format!("workloads: {rounds} rounds, every store landed"));
    let tag = c.tag.clone().map(|t| format!("{t}, ")).unwrap_or_default();
    println!("workload round: {us} us/round ({tag}{rounds} rounds, submit to CSB idle and checked)");
}
