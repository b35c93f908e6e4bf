//! The command line: `gvt-acrn-client run|bad-input|bench|selftest VMID ... [--tag NAME]`.

use crate::control::{Sizes, DEFAULT_SIZES};

/// Usage text.
pub const USAGE: &str = "usage: gvt-acrn-client run VMID [LOW HIGH FENCES]   ACRN-DM's sequence: VM in vhm_sim, create_gvt_instance
                                                     (default 64 448 8), i915 probe over ioreqs, destroy
       gvt-acrn-client bad-input VMID    hostile control strings and ioreqs; errnos as the sysfs ABI says
       gvt-acrn-client bench VMID [N]    ioreq round-trip cost: N (default 10000) config and MMIO reads
       gvt-acrn-client selftest VMID     vhm_sim alone (no acrngt): its ioctls, errnos, WP routing, MSI log
       gvt-acrn-client fill VMID N [LOW HIGH FENCES]   up to N instances at once on VMs VMID.. (default 32 96 1)
  --tag NAME   prefix check names with \"NAME: \" (several instances in one log)";

/// Small instances, so that many fit: 32 MiB mappable, 96 MiB non-mappable, 1 fence.
pub const FILL_SIZES: Sizes = Sizes {
    low_mb: 32,
    high_mb: 96,
    fences: 1,
};

/// Default number of ioreqs per bench figure.
pub const BENCH_DEFAULT: u32 = 10_000;

/// What to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// ACRN-DM's sequence with these sizes.
    Run(u32, Sizes),
    /// Hostile input.
    BadInput(u32),
    /// ioreq timing, with the number of requests.
    Bench(u32, u32),
    /// vhm_sim's own checks.
    SelfTest(u32),
    /// Up to N instances at once on VMs from the first vmid.
    Fill(u32, u32, Sizes),
}

/// Parses the arguments after the program name: the command and the `--tag`, if any.
pub fn parse(args: &[String]) -> Result<(Command, Option<String>), String> {
    match args.iter().position(|a| a == "--tag") {
        None => Ok((parse_command(args)?, None)),
        Some(i) => {
            let tag = args
                .get(i.saturating_add(1))
                .filter(|t| !t.is_empty() && !t.starts_with('-'))
                .ok_or("--tag needs a name")?;
            let rest: Vec<String> = args
                .iter()
                .enumerate()
                .filter(|&(j, _)| j != i && j != i.saturating_add(1))
                .map(|(_, a)| a.clone())
                .collect();
            Ok((parse_command(&rest)?, Some(tag.clone())))
        }
    }
}

fn vmid(s: &str) -> Result<u32, String> {
    match s.parse::<u32>() {
        Ok(v) if (1..=crate::uapi::MAX_VMID).contains(&v) => Ok(v),
        _ => Err(format!("'{s}' is not a vmid (1..65535)")),
    }
}

fn positive(s: &str) -> Result<u32, String> {
    match s.parse::<u32>() {
        Ok(v) if v > 0 => Ok(v),
        _ => Err(format!("'{s}' is not a positive number")),
    }
}

fn parse_command(args: &[String]) -> Result<Command, String> {
    let (cmd, rest) = args.split_first().ok_or("missing command")?;
    let cmd = match (cmd.as_str(), rest) {
        ("run", [v]) => Command::Run(vmid(v)?, DEFAULT_SIZES),
        ("run", [v, l, h, f]) => Command::Run(
            vmid(v)?,
            Sizes {
                low_mb: positive(l)?,
                high_mb: positive(h)?,
                fences: positive(f)?,
            },
        ),
        ("run", [_, ..]) => return Err("run takes VMID and optionally LOW HIGH FENCES".into()),
        ("bad-input", [v]) => Command::BadInput(vmid(v)?),
        ("selftest", [v]) => Command::SelfTest(vmid(v)?),
        ("bench", [v]) => Command::Bench(vmid(v)?, BENCH_DEFAULT),
        ("bench", [v, n]) => Command::Bench(vmid(v)?, positive(n)?),
        ("fill", [v, n]) => Command::Fill(vmid(v)?, positive(n)?, FILL_SIZES),
        ("fill", [v, n, l, h, f]) => Command::Fill(
            vmid(v)?,
            positive(n)?,
            Sizes {
                low_mb: positive(l)?,
                high_mb: positive(h)?,
                fences: positive(f)?,
            },
        ),
        ("fill", _) => return Err("fill takes VMID N and optionally LOW HIGH FENCES".into()),
        ("run" | "bad-input" | "bench" | "selftest", []) => return Err("missing VMID".into()),
        ("bad-input" | "bench" | "selftest", _) => return Err("too many arguments".into()),
        (c, _) => return Err(format!("unknown command '{c}'")),
    };
    Ok(cmd)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(a: &[&str]) -> Result<Command, String> {
        parse(&a.iter().map(|s| s.to_string()).collect::<Vec<_>>()).map(|(c, _)| c)
    }

    #[test]
    fn commands() {
        assert_eq!(p(&["run", "3"]), Ok(Command::Run(3, DEFAULT_SIZES)));
        assert_eq!(
            p(&["run", "4", "128", "384", "4"]),
            Ok(Command::Run(
                4,
                Sizes {
                    low_mb: 128,
                    high_mb: 384,
                    fences: 4
                }
            ))
        );
        assert_eq!(p(&["bad-input", "5"]), Ok(Command::BadInput(5)));
        assert_eq!(p(&["bench", "5"]), Ok(Command::Bench(5, BENCH_DEFAULT)));
        assert_eq!(p(&["bench", "5", "100"]), Ok(Command::Bench(5, 100)));
        assert_eq!(p(&["selftest", "65535"]), Ok(Command::SelfTest(65535)));
        assert_eq!(
            p(&["fill", "10", "20"]),
            Ok(Command::Fill(10, 20, FILL_SIZES))
        );
        assert_eq!(
            p(&["fill", "10", "20", "16", "64", "1"]),
            Ok(Command::Fill(
                10,
                20,
                Sizes {
                    low_mb: 16,
                    high_mb: 64,
                    fences: 1
                }
            ))
        );
        assert!(p(&["fill", "10"]).is_err());
        let args = ["run", "3", "--tag", "A"].map(String::from);
        assert_eq!(
            parse(&args),
            Ok((Command::Run(3, DEFAULT_SIZES), Some("A".into())))
        );
    }

    #[test]
    fn bad_arguments() {
        for bad in [
            &[][..],
            &["run"],
            &["run", "0"],
            &["run", "65536"],
            &["run", "-1"],
            &["run", "3", "64"],
            &["run", "3", "64", "448", "0"],
            &["run", "3", "64", "448", "8", "9"],
            &["bench", "3", "0"],
            &["bench", "3", "x"],
            &["bad-input", "3", "4"],
            &["destroy", "3"],
            &["run", "3", "--tag"],
        ] {
            assert!(p(bad).is_err(), "{bad:?}");
        }
    }
}
