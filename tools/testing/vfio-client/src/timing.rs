//! Timing for the clients' figures (`bench` here and in gvt-acrn-client, `lifecycle`): calls
//! timed one by one, summarized by mean and nearest-rank percentiles.

use std::time::Instant;

/// Cost of one call, over a run: mean, median and 90th percentile, ns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// Mean.
    pub mean: u128,
    /// Median.
    pub median: u128,
    /// 90th percentile.
    pub p90: u128,
}

/// The `p`th percentile (nearest rank) of sorted values; the default for none.
pub fn percentile<T: Copy + Default>(sorted: &[T], p: usize) -> T {
    let rank = sorted.len().saturating_mul(p).div_ceil(100).max(1);
    sorted
        .get(rank.saturating_sub(1))
        .copied()
        .unwrap_or_default()
}

/// Times `n` calls of `f` one by one; the first error stops the run.
pub fn time_per_op(n: u32, mut f: impl FnMut() -> Result<(), String>) -> Result<Timing, String> {
    let mut each = Vec::with_capacity(usize::try_from(n).unwrap_or(0));
    let t0 = Instant::now();
    for _ in 0..n {
        let t = Instant::now();
        f()?;
        each.push(t.elapsed().as_nanos());
    }
    let mean = t0
        .elapsed()
        .as_nanos()
        .checked_div(u128::from(n))
        .ok_or_else(|| "no calls".to_string())?;
    each.sort_unstable();
    Ok(Timing {
        mean,
        median: percentile(&each, 50),
        p90: percentile(&each, 90),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 50), 50);
        assert_eq!(percentile(&v, 99), 99);
        assert_eq!(percentile(&[7u64], 99), 7);
        assert_eq!(percentile::<u64>(&[], 50), 0);
    }

    #[test]
    fn timing_counts_and_stops_on_error() {
        let mut calls = 0u32;
        assert!(time_per_op(10, || {
            calls += 1;
            Ok(())
        })
        .is_ok());
        assert_eq!(calls, 10);
        assert!(time_per_op(0, || Ok(())).is_err());
        let mut calls = 0u32;
        assert_eq!(
            time_per_op(10, || {
                calls += 1;
                Err("EINVAL".into())
            }),
            Err("EINVAL".to_string())
        );
        assert_eq!(calls, 1);
        let mut calls = 0u32;
        let t = time_per_op(5, || {
            calls += 1;
            std::thread::sleep(std::time::Duration::from_millis(if calls == 5 {
                20
            } else {
                1
            }));
            Ok(())
        })
        .unwrap();
        assert!(
            t.median < 10_000_000 && t.p90 >= 20_000_000 && t.mean > t.median,
            "{t:?}"
        );
    }
}
