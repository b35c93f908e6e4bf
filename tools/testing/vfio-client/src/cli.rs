//! The command line: `gvt-vfio-client probe|user-unmap|bad-input|bench UUID [N] [--tag NAME]`,
//! `gvt-vfio-client failsafe KIND UUID N`,
//! `gvt-vfio-client screenshot --pid PID --out FILE [--base64] [--fd N]`.

use crate::screenshot;
use crate::vfio::valid_uuid;

/// Usage text.
pub const USAGE: &str =
    "usage: gvt-vfio-client probe UUID       run the i915 probe on mdev UUID over VFIO
       gvt-vfio-client user-unmap UUID  the probe, then guest RAM unmapped and mapped again under it
       gvt-vfio-client bad-input UUID   hostile region accesses and ioctls; the device must survive
       gvt-vfio-client bench UUID [N]   time N (default 10000) config and BAR0 reads
       gvt-vfio-client hold UUID SECS   keep the vGPU open SECS seconds (remove-while-open tests)
       gvt-vfio-client failsafe command|page-table|ppgtt-batch|elsp UUID N
                                        put the vGPU in failsafe that way, N times over
       gvt-vfio-client lifecycle TYPE_DIR N   time N create/remove cycles of an mdev type; fill it
       gvt-vfio-client screenshot --pid PID --out FILE.png [--base64] [--fd N]
                  save the screen of the guest that process PID (QEMU) shows through its VFIO
                  device as a PNG; --base64 also prints it framed in GVT-PNG lines; --fd picks
                  which of its fds (default: the first VFIO device with a primary plane)
  --tag NAME   prefix check names with \"NAME: \" (several vGPUs in one log)";

/// Default number of accesses per bench figure.
pub const BENCH_DEFAULT: u32 = 10_000;

/// What to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// The probe and its checks.
    Probe(String),
    /// The probe, then guest RAM unmapped from the device and mapped again.
    UserUnmap(String),
    /// Hostile input checks.
    BadInput(String),
    /// Region access timing, with the number of accesses.
    Bench(String, u32),
    /// Keep the device open for this many seconds.
    Hold(String, u32),
    /// Provoke a failure this many times.
    Failsafe(crate::failsafe::Kind, String, u32),
    /// Time create/remove cycles of the mdev type at this sysfs directory, then fill it.
    Lifecycle(String, u32),
    /// Save the screen of the guest another process runs.
    Screenshot(screenshot::Args),
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

fn parse_command(args: &[String]) -> Result<Command, String> {
    let uuid = |a: Option<&String>| match a {
        Some(u) if valid_uuid(u) => Ok(u.clone()),
        Some(u) => Err(format!("'{u}' is not a UUID (8-4-4-4-12 hex digits)")),
        None => Err("missing UUID".into()),
    };
    let (cmd, rest) = args.split_first().ok_or("missing command")?;
    let cmd = match (cmd.as_str(), rest) {
        ("probe", [u]) => Command::Probe(uuid(Some(u))?),
        ("user-unmap", [u]) => Command::UserUnmap(uuid(Some(u))?),
        ("bad-input", [u]) => Command::BadInput(uuid(Some(u))?),
        ("bench", [u]) => Command::Bench(uuid(Some(u))?, BENCH_DEFAULT),
        ("bench", [u, n]) => match n.parse::<u32>() {
            Ok(n) if n > 0 => Command::Bench(uuid(Some(u))?, n),
            _ => return Err(format!("'{n}' is not a positive count")),
        },
        ("hold", [u, n]) => match n.parse::<u32>() {
            Ok(n) => Command::Hold(uuid(Some(u))?, n),
            _ => return Err(format!("'{n}' is not a number of seconds")),
        },
        ("hold", [_]) => return Err("missing seconds".into()),
        ("failsafe", [k, u, n]) => {
            let kind = crate::failsafe::Kind::parse(k).ok_or(format!(
                "'{k}' is not command, page-table, ppgtt-batch or elsp"
            ))?;
            match n.parse::<u32>() {
                Ok(n) if n > 0 => Command::Failsafe(kind, uuid(Some(u))?, n),
                _ => return Err(format!("'{n}' is not a positive count")),
            }
        }
        ("failsafe", _) => return Err("failsafe needs a kind, a UUID and a count".into()),
        ("lifecycle", [dir, n]) => match n.parse::<u32>() {
            Ok(n) if n > 0 && dir.contains("mdev_supported_types/") => {
                Command::Lifecycle(dir.clone(), n)
            }
            _ => return Err("lifecycle needs an mdev type directory and a positive count".into()),
        },
        ("screenshot", opts) => Command::Screenshot(parse_screenshot(opts)?),
        ("probe" | "user-unmap" | "bad-input" | "bench" | "hold", []) => {
            return Err("missing UUID".into())
        }
        ("probe" | "user-unmap" | "bad-input" | "bench" | "hold", _) => {
            return Err("too many arguments".into())
        }
        ("lifecycle", _) => {
            return Err("lifecycle needs an mdev type directory and a positive count".into())
        }
        (c, _) => return Err(format!("unknown command '{c}'")),
    };
    Ok(cmd)
}

/// `--pid PID --out FILE [--base64] [--fd N]`, in any order.
fn parse_screenshot(args: &[String]) -> Result<screenshot::Args, String> {
    let (mut pid, mut out, mut base64, mut fd) = (None, None, false, None);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |what: &str| {
            it.next()
                .filter(|v| !v.starts_with("--"))
                .ok_or(format!("{a} needs {what}"))
        };
        match a.as_str() {
            "--pid" => {
                pid = Some(
                    value("a process id")?
                        .parse::<i32>()
                        .ok()
                        .filter(|&p| p > 0)
                        .ok_or(format!("{a}: not a process id"))?,
                )
            }
            "--out" => out = Some(value("a file name")?.clone()).filter(|o| !o.is_empty()),
            "--fd" => {
                fd = Some(
                    value("an fd number")?
                        .parse::<i32>()
                        .ok()
                        .filter(|&f| f >= 0)
                        .ok_or(format!("{a}: not an fd number"))?,
                )
            }
            "--base64" => base64 = true,
            _ => return Err(format!("screenshot: unknown argument '{a}'")),
        }
    }
    Ok(screenshot::Args {
        pid: pid.ok_or("screenshot needs --pid PID")?,
        out: out.ok_or("screenshot needs --out FILE")?,
        base64,
        fd,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const U: &str = "0b5a9b9c-2c2f-4d0e-9f6a-3f4a5b6c7d8e";

    fn p(a: &[&str]) -> Result<Command, String> {
        parse(&a.iter().map(|s| s.to_string()).collect::<Vec<_>>()).map(|(c, _)| c)
    }

    #[test]
    fn tags() {
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            parse(&args(&["probe", U, "--tag", "A"])),
            Ok((Command::Probe(U.into()), Some("A".into())))
        );
        assert_eq!(
            parse(&args(&["--tag", "B", "bench", U, "5"])),
            Ok((Command::Bench(U.into(), 5), Some("B".into())))
        );
        assert!(parse(&args(&["probe", U, "--tag"])).is_err());
        assert!(parse(&args(&["probe", U, "--tag", "--tag"])).is_err());
    }

    #[test]
    fn commands() {
        assert_eq!(p(&["probe", U]), Ok(Command::Probe(U.into())));
        assert_eq!(p(&["bad-input", U]), Ok(Command::BadInput(U.into())));
        assert_eq!(
            p(&["bench", U]),
            Ok(Command::Bench(U.into(), BENCH_DEFAULT))
        );
        assert_eq!(p(&["bench", U, "500"]), Ok(Command::Bench(U.into(), 500)));
        assert_eq!(p(&["hold", U, "3"]), Ok(Command::Hold(U.into(), 3)));
        assert_eq!(
            p(&["failsafe", "page-table", U, "20"]),
            Ok(Command::Failsafe(
                crate::failsafe::Kind::PageTable,
                U.into(),
                20
            ))
        );
        assert!(p(&["failsafe", "elsp", U, "0"]).is_err());
        assert!(p(&["failsafe", "ring", U, "1"]).is_err());
        assert!(p(&["failsafe", "elsp", U]).is_err());
    }

    #[test]
    fn screenshot() {
        let shot = |pid, out: &str, base64, fd| {
            Ok(Command::Screenshot(screenshot::Args {
                pid,
                out: out.into(),
                base64,
                fd,
            }))
        };
        assert_eq!(
            p(&["screenshot", "--pid", "42", "--out", "/tmp/s.png"]),
            shot(42, "/tmp/s.png", false, None)
        );
        assert_eq!(
            p(&[
                "screenshot",
                "--base64",
                "--out",
                "s.png",
                "--fd",
                "0",
                "--pid",
                "7"
            ]),
            shot(7, "s.png", true, Some(0))
        );
        let (c, tag) =
            parse(&["screenshot", "--tag", "L1", "--pid", "1", "--out", "a.png"].map(String::from))
                .unwrap();
        assert_eq!(
            (Ok(c), tag),
            (shot(1, "a.png", false, None), Some("L1".into()))
        );
        for bad in [
            &["screenshot"][..],
            &["screenshot", "--pid", "42"],
            &["screenshot", "--out", "a.png"],
            &["screenshot", "--pid", "0", "--out", "a.png"],
            &["screenshot", "--pid", "x", "--out", "a.png"],
            &["screenshot", "--pid", "--out", "a.png"],
            &["screenshot", "--pid", "1", "--out"],
            &["screenshot", "--pid", "1", "--out", ""],
            &["screenshot", "--pid", "1", "--out", "a.png", "--fd", "-1"],
            &["screenshot", "--pid", "1", "--out", "a.png", "extra"],
        ] {
            assert!(p(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn bad_arguments() {
        assert!(p(&[]).is_err());
        assert!(p(&["probe"]).is_err());
        assert!(p(&["probe", "not-a-uuid"]).is_err());
        assert!(p(&["probe", U, U]).is_err());
        assert!(p(&["bench", U, "0"]).is_err());
        assert!(p(&["bench", U, "-1"]).is_err());
        assert!(p(&["bench", U, "99999999999"]).is_err());
        assert!(p(&["reset", U]).is_err());
        assert!(p(&["hold", U]).is_err());
        assert!(p(&["hold", U, "x"]).is_err());
    }
}
