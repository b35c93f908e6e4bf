//! Deterministic simulation of the scheduling policy: always-busy vGPUs with mixed weights
//! submit workloads of random length to one engine; the engine's busy time per vGPU is the
//! ground truth its share is measured by.

use gvt::model::sched::{Scheduler, TICK_NS};

use crate::rng::Rng;

/// GPU time each vGPU got, in ns, after `duration_ns` of simulated time with workloads of
/// 50 µs to `max_workload_ns`.
pub fn simulate(weights: &[u32], duration_ns: u64, max_workload_ns: u64, seed: u64) -> Vec<u64> {
    let mut s = Scheduler::default();
    for (i, &w) in weights.iter().enumerate() {
        s.add(i as u32 + 1, w).unwrap();
    }
    let mut rng = Rng::new(seed);
    let mut got = vec![0u64; weights.len()];
    let mut now = 0u64;
    let mut next_tick = 0u64;
    let mut running: Option<(u32, u64)> = None;
    let all = |_: u32| true;
    while now < duration_ns {
        let owner = match running {
            Some((_, end)) if end <= next_tick => {
                now = end;
                running = None;
                s.tick(now, &all, true)
            }
            _ => {
                now = next_tick;
                next_tick += TICK_NS;
                s.tick(now, &all, running.is_none())
            }
        };
        if let (None, Some(o), false) = (running, owner, s.switch_pending()) {
            let d = 50_000 + rng.below(max_workload_ns.saturating_sub(50_000));
            let end = now + d;
            got[o as usize - 1] += end.min(duration_ns).saturating_sub(now);
            running = Some((o, end));
        }
    }
    got
}

/// The largest relative deviation of the shares in `got` from `weights`, in parts per
/// million of each vGPU's fair share.
pub fn share_error_ppm(weights: &[u32], got: &[u64]) -> u64 {
    let total: u64 = got.iter().sum();
    let wsum: u64 = weights.iter().map(|&w| u64::from(w)).sum();
    weights
        .iter()
        .zip(got)
        .map(|(&w, &g)| {
            let fair = total * u64::from(w);
            let have = g * wsum;
            fair.abs_diff(have) * 1_000_000 / fair.max(1)
        })
        .max()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mixed_weights_get_their_share_within_two_percent() {
        let weights = [1, 2, 4, 8, 16];
        let got = simulate(&weights, 10_000_000_000, 1_500_000, 7);
        let err = share_error_ppm(&weights, &got);
        assert!(err <= 20_000, "share error {err} ppm: {got:?}");
        // The engine never idled while everyone had work.
        assert!(got.iter().sum::<u64>() >= 9_990_000_000);
    }
}
