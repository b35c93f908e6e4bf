//! `gvt-vfio-client`: see the library documentation and `cli::USAGE`.

use std::process::ExitCode;

use vfio_client::cli::{self, Command};
use vfio_client::{bad_input, commands, failsafe, lifecycle, screenshot};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (cmd, tag) = match cli::parse(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("gvt-vfio-client: {e}\n{}", cli::USAGE);
            return ExitCode::from(2);
        }
    };
    let checks = match cmd {
        Command::Probe(uuid) => commands::probe(&uuid, false, tag),
        Command::UserUnmap(uuid) => commands::probe(&uuid, true, tag),
        Command::BadInput(uuid) => bad_input::bad_input(&uuid, tag),
        Command::Hold(uuid, secs) => commands::hold(&uuid, secs, tag),
        Command::Failsafe(kind, uuid, n) => failsafe::failsafe(kind, &uuid, n, tag),
        Command::Lifecycle(dir, n) => lifecycle::lifecycle(&dir, n, tag),
        Command::Screenshot(a) => {
            return match screenshot::screenshot(&a) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("gvt-vfio-client: screenshot: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Bench(uuid, n) => {
            return match commands::bench(&uuid, n, tag.as_deref()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("gvt-vfio-client: bench: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    };
    println!(
        "gvt-vfio-client: {} passed, {} failed",
        checks.passed, checks.failed
    );
    if checks.all_passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
