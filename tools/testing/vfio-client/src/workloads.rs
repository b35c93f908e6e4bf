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

fn why<T>(t: &mut T, e: guest_model::Error, detail: &impl Fn(&mut T) -> Option<String>) -> String {
    format!(
        "{e:?}{}",
        detail(t).map(|d| format!(" ({d})")).unwrap_or_default()
    )
}

/// Sets up the guest's execution side and runs `rounds` rounds, stopping at the first error;
/// `detail` adds the transport's last error to a failure. Prints the time per round. Then a
/// round after the guest rebinds its whole buffer ([`rebind_round`], nothing in between).
pub fn run<T: Transport>(
    c: &mut Checks,
    t: &mut T,
    ram_end: u64,
    ctx_id: u32,
    rounds: u32,
    detail: impl Fn(&mut T) -> Option<String>,
) {
    if let Some(mut g) = run_rounds(c, t, ram_end, ctx_id, rounds, &detail) {
        rebind_round(c, t, &mut g, rounds, |_, _| {}, &detail);
    }
}

/// [`run`]'s rounds: the guest, for more rounds, if every one passed.
pub fn run_rounds<T: Transport>(
    c: &mut Checks,
    t: &mut T,
    ram_end: u64,
    ctx_id: u32,
    rounds: u32,
    detail: &impl Fn(&mut T) -> Option<String>,
) -> Option<Guest> {
    let mut g = match Guest::new(t, RAM_START, ram_end, ctx_id) {
        Ok(g) => g,
        Err(e) => {
            let w = why(t, e, detail);
            c.fail("workload set-up", w);
            return None;
        }
    };
    let t0 = Instant::now();
    for round in 0..rounds {
        if let Err(e) = g.round(t, round, 0xc0de_0000 | round) {
            let w = why(t, e, detail);
            c.fail("workloads", format!("round {round}: {w}"));
            return None;
        }
    }
    let us = t0
        .elapsed()
        .as_micros()
        .checked_div(u128::from(rounds))
        .unwrap_or(0);
    c.pass(&format!("workloads: {rounds} rounds, every store landed"));
    let tag = c.tag.clone().map(|t| format!("{t}, ")).unwrap_or_default();
    println!(
        "workload round: {us} us/round ({tag}{rounds} rounds, submit to CSB idle and checked)"
    );
    Some(g)
}

/// The guest moves every data page to a new guest page (one PTE write each, all in one page
/// table, as a driver rebinding a buffer), `between` looks at the result, then round `round`
/// must store through the new pages. With write protection the table goes out of sync after a
/// few trapped writes and this round protects it again.
pub fn rebind_round<T: Transport>(
    c: &mut Checks,
    t: &mut T,
    g: &mut Guest,
    round: u32,
    between: impl FnOnce(&mut Checks, &mut T),
    detail: &impl Fn(&mut T) -> Option<String>,
) {
    if let Err(e) = (0..g.data.len()).try_for_each(|p| g.remap(t, p)) {
        let w = why(t, e, detail);
        c.fail("rebind a whole buffer", w);
        return;
    }
    between(c, t);
    match g.round(t, round, 0xb1d0_0000 | round) {
        Ok(()) => c.pass(&format!(
            "workload after rebinding all {} data pages: every store landed",
            g.data.len()
        )),
        Err(e) => {
            let w = why(t, e, detail);
            c.fail("workload after rebinding a whole buffer", w);
        }
    }
}
