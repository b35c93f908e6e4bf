//! `GVT-CHECK:` lines, the form the QEMU harness (tools/testing/qemu/results.py) counts.

use std::fmt::Display;

/// The line for one check. `why` is flattened to one line so the harness sees all of it.
pub fn line(name: &str, why: Option<&dyn Display>) -> String {
    match why {
        None => format!("GVT-CHECK: PASS {name}"),
        Some(w) => format!(
            "GVT-CHECK: FAIL {name}: {}",
            w.to_string().replace(['\n', '\r'], " ")
        ),
    }
}

/// Checks printed as they are made, and counted.
#[derive(Debug, Default)]
pub struct Checks {
    /// Put before every check name, to tell several vGPUs' checks apart in one log.
    pub tag: Option<String>,
    /// How many passed.
    pub passed: usize,
    /// How many failed.
    pub failed: usize,
}

impl Checks {
    /// Checks named with `tag`.
    pub fn tagged(tag: Option<String>) -> Checks {
        Checks {
            tag,
            ..Checks::default()
        }
    }

    fn name(&self, name: &str) -> String {
        match &self.tag {
            Some(t) => format!("{t}: {name}"),
            None => name.to_string(),
        }
    }

    /// A passed check.
    pub fn pass(&mut self, name: &str) {
        println!("{}", line(&self.name(name), None));
        self.passed = self.passed.saturating_add(1);
    }

    /// A failed check and why.
    pub fn fail(&mut self, name: &str, why: impl Display) {
        println!("{}", line(&self.name(name), Some(&why)));
        self.failed = self.failed.saturating_add(1);
    }

    /// Passes on `Ok`, fails with the message on `Err`; returns whether it passed.
    pub fn check<E: Display>(&mut self, name: &str, r: Result<(), E>) -> bool {
        match r {
            Ok(()) => {
                self.pass(name);
                true
            }
            Err(e) => {
                self.fail(name, e);
                false
            }
        }
    }

    /// Passes if `cond`, else fails with `why()`.
    pub fn expect(&mut self, name: &str, cond: bool, why: impl FnOnce() -> String) -> bool {
        self.check(name, if cond { Ok(()) } else { Err(why()) })
    }

    /// Whether every check passed (and there was at least one).
    pub fn all_passed(&self) -> bool {
        self.failed == 0 && self.passed > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_counts() {
        assert_eq!(line("probe", None), "GVT-CHECK: PASS probe");
        assert_eq!(line("probe", Some(&"a\nb")), "GVT-CHECK: FAIL probe: a b");
        let mut c = Checks::default();
        assert!(!c.all_passed());
        assert!(c.expect("x", true, String::new));
        assert!(c.all_passed());
        assert!(!c.check("y", Err("no")));
        assert_eq!((c.passed, c.failed, c.all_passed()), (1, 1, false));
        assert_eq!(Checks::tagged(Some("A".into())).name("probe"), "A: probe");
    }
}
