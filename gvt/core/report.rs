//! What the device model tells the host's log, made so that a person can act on it, and so
//! that no guest can flood it.
//!
//! The core only makes the text and keeps the count; the glue picks the log level, adds the
//! time and prints. A guest decides how often the things it causes happen, so every message
//! a guest can cause goes through a [`RateLimit`], one per vGPU and kind of message: one
//! guest's flood then silences neither another vGPU's messages nor its own failsafe entry.

use core::fmt;

/// At most `burst` messages per `interval` nanoseconds, as the kernel's `___ratelimit` counts
/// them (`DEFAULT_RATELIMIT_INTERVAL`, `DEFAULT_RATELIMIT_BURST` in [`RateLimit::DEFAULT`]),
/// with the time passed in. Unlike printk's, one limiter belongs to one vGPU, and the count of
/// the messages it held back goes out with the next one it lets through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    interval_ns: u64,
    burst: u32,
    /// Start of the current interval (`None` before the first message).
    begin: Option<u64>,
    /// Messages let through in the current interval.
    passed: u32,
    /// Messages held back since the last one let through.
    held: u32,
}

impl RateLimit {
    /// Ten messages per five seconds, the kernel's default.
    pub const DEFAULT: RateLimit = RateLimit::new(5_000_000_000, 10);

    /// A limiter of `burst` messages per `interval_ns`.
    pub const fn new(interval_ns: u64, burst: u32) -> RateLimit {
        RateLimit { interval_ns, burst, begin: None, passed: 0, held: 0 }
    }

    /// Whether a message may go out at `now_ns`: `Some` with the number of messages held back
    /// before it, or `None` if it must be dropped. A clock that goes back stays in the current
    /// interval.
    pub fn admit(&mut self, now_ns: u64) -> Option<Held> {
        let begin = *self.begin.get_or_insert(now_ns);
        if now_ns.saturating_sub(begin) >= self.interval_ns {
            self.begin = Some(now_ns);
            self.passed = 0;
        }
        if self.passed >= self.burst {
            self.held = self.held.saturating_add(1);
            return None;
        }
        self.passed = self.passed.saturating_add(1);
        Some(Held(core::mem::take(&mut self.held)))
    }
}

/// How many messages a [`RateLimit`] held back before the one it let through. Shown at the
/// end of that message: nothing for none, else ` (N earlier messages suppressed)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Held(pub u32);

impl fmt::Display for Held {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            0 => Ok(()),
            1 => f.write_str(" (1 earlier message suppressed)"),
            n => write!(f, " ({n} earlier messages suppressed)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;

    const SECOND: u64 = 1_000_000_000;

    #[test]
    fn a_flood_gets_a_burst_per_interval_and_the_count_of_the_rest() {
        let mut l = RateLimit::DEFAULT;
        // A guest trapping every microsecond for one second: ten lines, not a million.
        let through: std::vec::Vec<Held> = (0..1_000_000u64).filter_map(|i| l.admit(7 * SECOND + i * 1000)).collect();
        assert_eq!(through, [Held(0); 10]);
        // Still inside the interval: nothing.
        assert_eq!(l.admit(7 * SECOND + 5 * SECOND - 1), None);
        // The next interval lets the next one through, with the count of what was dropped.
        assert_eq!(l.admit(12 * SECOND), Some(Held(999_991)));
        assert_eq!(l.admit(12 * SECOND + 1), Some(Held(0)));
    }

    #[test]
    fn a_clock_going_back_stays_in_the_interval() {
        let mut l = RateLimit::new(SECOND, 1);
        assert_eq!(l.admit(10 * SECOND), Some(Held(0)));
        assert_eq!(l.admit(SECOND), None);
        assert_eq!(l.admit(11 * SECOND), Some(Held(1)));
    }

    #[test]
    fn limiters_are_independent() {
        let (mut a, mut b) = (RateLimit::new(SECOND, 2), RateLimit::new(SECOND, 2));
        for t in 0..100 {
            let _ = a.admit(t);
        }
        assert_eq!(b.admit(100), Some(Held(0)), "one vGPU's flood leaves another's limiter alone");
    }

    #[test]
    fn held_messages_are_counted_in_words() {
        assert_eq!(Held(0).to_string(), "");
        assert_eq!(Held(1).to_string(), " (1 earlier message suppressed)");
        assert_eq!(Held(42).to_string(), " (42 earlier messages suppressed)");
    }
}
