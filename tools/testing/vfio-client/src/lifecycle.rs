//! vGPU life-cycle figures as a KVM user's management stack sees them: how long creating and
//! removing an mdev takes (one `write` to a type's `create`, one to the device's `remove`), and
//! whether `available_instances` is exactly how many more fit.

use std::time::Instant;

use crate::checks::Checks;
use crate::timing::percentile;

/// A deterministic UUID for the `n`th vGPU of a run.
pub fn uuid(n: u32) -> String {
    format!("6d646576-0000-4000-8000-{n:012x}")
}

fn micros(ns: u64) -> String {
    format!("{}.{:03}", ns.div_euclid(1000), ns.rem_euclid(1000))
}

fn timed(f: impl FnOnce() -> std::io::Result<()>) -> std::io::Result<u64> {
    let t = Instant::now();
    f()?;
    Ok(u64::try_from(t.elapsed().as_nanos()).unwrap_or(u64::MAX))
}

fn available(type_dir: &str) -> Result<u32, String> {
    let s = std::fs::read_to_string(format!("{type_dir}/available_instances"))
        .map_err(|e| format!("available_instances: {e}"))?;
    s.trim()
        .parse()
        .map_err(|_| format!("available_instances reads '{}'", s.trim()))
}

fn create(type_dir: &str, u: &str) -> std::io::Result<()> {
    std::fs::write(format!("{type_dir}/create"), u)
}

fn remove(u: &str) -> std::io::Result<()> {
    std::fs::write(format!("/sys/bus/mdev/devices/{u}/remove"), "1")
}

/// Times `n` create/remove cycles of the type at `type_dir`, then fills the GPU with it.
pub fn lifecycle(type_dir: &str, n: u32, tag: Option<String>) -> Checks {
    let mut c = Checks::tagged(tag);
    let (mut made, mut gone) = (Vec::new(), Vec::new());
    for i in 0..n {
        let u = uuid(i);
        match timed(|| create(type_dir, &u)).and_then(|a| Ok((a, timed(|| remove(&u))?))) {
            Ok((a, b)) => {
                made.push(a);
                gone.push(b);
            }
            Err(e) => {
                c.fail("create/remove cycles", format!("cycle {i}: {e}"));
                return c;
            }
        }
    }
    c.pass("create/remove cycles");
    made.sort_unstable();
    gone.sort_unstable();
    for (what, v) in [("create", &made), ("remove", &gone)] {
        println!(
            "vgpu {what}: p50 {} us, p99 {} us, max {} us ({n} cycles)",
            micros(percentile(v, 50)),
            micros(percentile(v, 99)),
            micros(v.last().copied().unwrap_or(0))
        );
    }

    // available_instances must be exactly how many more fit, and the next one must get ENOSPC.
    let before = match available(type_dir) {
        Ok(a) => a,
        Err(e) => {
            c.fail("available_instances", e);
            return c;
        }
    };
    let mut live = Vec::new();
    let refusal = loop {
        let u = uuid(n.saturating_add(u32::try_from(live.len()).unwrap_or(u32::MAX)));
        match create(type_dir, &u) {
            Ok(()) => live.push(u),
            Err(e) => break e,
        }
        if live.len() > 64 {
            break std::io::Error::other("more than 64 vGPUs created");
        }
    };
    println!("vgpus at once: {} of {type_dir}", live.len());
    let fit = live.len();
    c.expect(
        "available_instances was exact",
        u32::try_from(fit) == Ok(before),
        || format!("said {before}, {fit} fit"),
    );
    c.expect(
        "the one too many gets ENOSPC",
        refusal.raw_os_error() == Some(28),
        || format!("got {refusal}"),
    );
    let full = available(type_dir);
    c.expect("available_instances 0 when full", full == Ok(0), || {
        format!("{full:?}")
    });
    let removed = live.iter().all(|u| remove(u).is_ok());
    c.expect("all removed", removed, || "a remove failed".into());
    let after = available(type_dir);
    c.expect("available_instances back", after == Ok(before), || {
        format!("{after:?}")
    });
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_are_valid_and_distinct() {
        assert!(crate::vfio::valid_uuid(&uuid(0)));
        assert!(crate::vfio::valid_uuid(&uuid(u32::MAX)));
        assert_ne!(uuid(1), uuid(2));
    }
}
