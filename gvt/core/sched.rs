//! Scheduling policy: which vGPU owns the GPU's engines, by weighted time slices.
//!
//! As upstream's time-based scheduler: a 1 ms tick, weights 1-16 and a rebalance every 100 ms
//! that gives each vGPU `100 ms × weight / Σ weights` of credit (debt and surplus carry over,
//! bounded by one period). At each tick the busy vGPU with the most credit is chosen; the
//! owner changes only when the engines are idle (no mid-workload preemption), and until then
//! [`Scheduler::switch_pending`] tells the glue to stop feeding the current owner so they
//! drain. Time is an input (nanoseconds), never read from a clock, so the policy is tested in
//! deterministic simulation.

use super::error::{GvtError, Result};
use super::resources::MAX_VGPUS;

/// The scheduling tick.
pub const TICK_NS: u64 = 1_000_000;
/// The rebalance period.
pub const BALANCE_NS: u64 = 100_000_000;
/// The largest weight.
pub const MAX_WEIGHT: u32 = 16;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Entry {
    id: u32,
    weight: u32,
    credit: i64,
    used: u64,
}

/// The policy state of one physical GPU.
#[derive(Clone, Debug, Default)]
pub struct Scheduler {
    entries: [Option<Entry>; MAX_VGPUS],
    current: Option<u32>,
    wanted: Option<u32>,
    since: u64,
    next_balance: Option<u64>,
}

impl Scheduler {
    /// Adds vGPU `id` with `weight` (1..=16).
    pub fn add(&mut self, id: u32, weight: u32) -> Result {
        if weight == 0 || weight > MAX_WEIGHT || self.find(id).is_some() {
            return Err(GvtError::Invalid);
        }
        let slot = self
            .entries
            .iter_mut()
            .find(|e| e.is_none())
            .ok_or(GvtError::NoSpace)?;
        *slot = Some(Entry {
            id,
            weight,
            credit: 0,
            used: 0,
        });
        Ok(())
    }

    /// Removes vGPU `id` (it must have no workload on the host).
    pub fn remove(&mut self, id: u32) {
        if let Some(i) = self.find(id) {
            if let Some(e) = self.entries.get_mut(i) {
                *e = None;
            }
        }
        if self.current == Some(id) {
            self.current = None;
        }
        if self.wanted == Some(id) {
            self.wanted = None;
        }
    }

    fn find(&self, id: u32) -> Option<usize> {
        self.entries
            .iter()
            .position(|e| e.is_some_and(|e| e.id == id))
    }

    /// The vGPU that owns the engines (None: the host).
    pub fn owner(&self) -> Option<u32> {
        self.current
    }

    /// A different owner is chosen and waits for the engines to go idle: the glue dispatches
    /// nothing new for the current owner meanwhile.
    pub fn switch_pending(&self) -> bool {
        self.wanted.is_some() && self.wanted != self.current
    }

    /// GPU time vGPU `id` has been charged, in ns.
    pub fn used(&self, id: u32) -> u64 {
        self.find(id)
            .and_then(|i| self.entries.get(i).copied().flatten())
            .map_or(0, |e| e.used)
    }

    /// The weights of every vGPU together: a vGPU's share of the GPU is its weight of it.
    pub fn total_weight(&self) -> u32 {
        self.entries
            .iter()
            .flatten()
            .fold(0u32, |t, e| t.saturating_add(e.weight))
    }

    /// Runs the policy at time `now` (ns, monotonic): charges the owner, rebalances when a
    /// period ended, and picks among the vGPUs for which `busy` says work is queued. The owner
    /// changes only if `idle` (no engine runs a workload). Returns the owner. Called every
    /// [`TICK_NS`] and whenever the engines go idle.
    pub fn tick(&mut self, now: u64, busy: &dyn Fn(u32) -> bool, idle: bool) -> Option<u32> {
        let ran = now.saturating_sub(self.since);
        self.since = now;
        if let Some(cur) = self
            .current
            .and_then(|c| self.find(c))
            .and_then(|i| self.entries.get_mut(i))
            .and_then(|e| e.as_mut())
        {
            cur.used = cur.used.saturating_add(ran);
            cur.credit = cur
                .credit
                .saturating_sub(i64::try_from(ran).unwrap_or(i64::MAX));
        }
        let due = match self.next_balance {
            Some(t) => now >= t,
            None => true,
        };
        if due {
            self.balance();
            self.next_balance = Some(now.saturating_add(BALANCE_NS));
        }
        // Most credit first; ties go to the vGPU after the current one, round robin.
        let start = self
            .current
            .and_then(|c| self.find(c))
            .map_or(0, |i| i.wrapping_add(1));
        let n = self.entries.len();
        let mut best: Option<Entry> = None;
        for k in 0..n {
            let Some(Some(e)) = self
                .entries
                .get(start.wrapping_add(k).checked_rem(n).unwrap_or(0))
                .copied()
            else {
                continue;
            };
            let better = match best {
                Some(b) => e.credit > b.credit,
                None => true,
            };
            if busy(e.id) && better {
                best = Some(e);
            }
        }
        let keep = self
            .current
            .filter(|&c| busy(c) && best.is_some_and(|b| self.credit(c) >= b.credit));
        self.wanted = keep
            .or(best.map(|b| b.id))
            .or(if idle { None } else { self.current });
        if idle {
            self.current = self.wanted;
        }
        self.current
    }

    fn credit(&self, id: u32) -> i64 {
        self.find(id)
            .and_then(|i| self.entries.get(i).copied().flatten())
            .map_or(i64::MIN, |e| e.credit)
    }

    fn balance(&mut self) {
        let total = self
            .entries
            .iter()
            .flatten()
            .fold(0u64, |t, e| t.saturating_add(u64::from(e.weight)));
        if total == 0 {
            return;
        }
        let cap = i64::try_from(BALANCE_NS).unwrap_or(i64::MAX);
        for e in self.entries.iter_mut().flatten() {
            let share = BALANCE_NS
                .saturating_mul(u64::from(e.weight))
                .checked_div(total)
                .unwrap_or(0);
            let share = i64::try_from(share).unwrap_or(cap);
            e.credit = e
                .credit
                .saturating_add(share)
                .clamp(cap.saturating_neg(), cap);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_are_checked() {
        let mut s = Scheduler::default();
        assert!(s.add(1, 0).is_err());
        assert!(s.add(1, 17).is_err());
        s.add(1, 16).unwrap();
        assert!(s.add(1, 2).is_err());
        s.add(2, 3).unwrap();
        assert_eq!(s.total_weight(), 19);
        s.remove(1);
        assert_eq!(s.total_weight(), 3);
    }

    #[test]
    fn switches_only_when_idle() {
        let mut s = Scheduler::default();
        s.add(1, 1).unwrap();
        s.add(2, 1).unwrap();
        let all = |_: u32| true;
        assert_eq!(s.tick(0, &all, true), Some(1));
        // vGPU 1 spends its credit; 2 is wanted but the engines are busy.
        assert_eq!(s.tick(60_000_000, &all, false), Some(1));
        assert!(s.switch_pending());
        assert_eq!(s.tick(60_100_000, &all, true), Some(2));
        assert!(!s.switch_pending());
        // Nobody busy: the GPU goes back to the host at the next idle point.
        assert_eq!(s.tick(61_000_000, &|_| false, true), None);
    }
}
