//! `gvt-acrn-client`: see the library documentation and `cli::USAGE`.

use std::process::ExitCode;

use acrn_dm_client::cli::{self, Command};
use acrn_dm_client::{bad_input, commands, fill, selftest};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (cmd, tag) = match cli::parse(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("gvt-acrn-client: {e}\n{}", cli::USAGE);
            return ExitCode::from(2);
        }
    };
    let checks = match cmd {
        Command::Run(vmid, sizes) => commands::run(vmid, sizes, tag),
        Command::BadInput(vmid) => bad_input::bad_input(vmid, tag),
        Command::SelfTest(vmid) => selftest::selftest(vmid, tag),
        Command::Fill(vmid, n, sizes) => fill::fill(vmid, n, sizes, tag),
        Command::Bench(vmid, n) => {
            return match commands::bench(vmid, n, tag.as_deref()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("gvt-acrn-client: bench: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    };
    println!(
        "gvt-acrn-client: {} passed, {} failed",
        checks.passed, checks.failed
    );
    if checks.all_passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
