//! `cargo kitty-leakcheck`: wrap any test run, fail it on leaked spec-kitty
//! dashboards, stop them, and touch nothing the run did not leak.
//!
//! Each mode computes a plain result ([`report::Report`],
//! [`sweep::SweepReport`], [`baseline::Snapshot`]); [`report`] prints it, and
//! the result's outcome gives the exit status ([`exit_codes`]). Detection,
//! identification and stopping live in [`kitty_fixtures::shared`]; all kernel
//! access in [`kitty_fixtures::os`].
#![deny(unsafe_code)]

mod baseline;
mod cli;
mod command;
mod exit_codes;
mod leak;
mod leaks;
mod nextest;
mod report;
mod run;
mod stop_leaks;
mod sweep;

use std::ffi::OsString;

use clap::Parser;
use kitty_fixtures::shared::mask_tokens;

use crate::cli::{Cli, CommonArgs, Mode};
use crate::exit_codes::LeakcheckExitCode;
use crate::report::{Report, emit};

fn main() {
    let mut args: Vec<OsString> = std::env::args_os().collect();
    // `cargo kitty-leakcheck ...` runs us as `cargo-kitty-leakcheck kitty-leakcheck ...`.
    if args.get(1).is_some_and(|a| a == "kitty-leakcheck") {
        args.remove(1);
    }
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) if e.use_stderr() => {
            // Bad usage: one line (clap's first paragraph, without the usage and help tip).
            let text = e.render().to_string();
            let first: Vec<&str> = text
                .lines()
                .take_while(|l| !l.trim().is_empty())
                .map(str::trim)
                .collect();
            eprintln!("{}", mask_tokens(&first.join(" ")));
            std::process::exit(LeakcheckExitCode::USAGE);
        }
        Err(e) => {
            // --help, --version.
            let _ = e.print();
            std::process::exit(LeakcheckExitCode::OK);
        }
    };
    let code = match dispatch(&cli) {
        Ok(code) => code,
        Err(e) => {
            let usage = e.downcast_ref::<nextest::BadBaseline>().is_some();
            eprintln!("error: {}", mask_tokens(&format!("{e:#}")));
            if usage {
                LeakcheckExitCode::USAGE
            } else {
                LeakcheckExitCode::INTERNAL_ERROR
            }
        }
    };
    std::process::exit(code);
}

/// Runs the mode, prints its result, and returns the exit status.
fn dispatch(cli: &Cli) -> anyhow::Result<i32> {
    let common = &cli.common;
    match &cli.mode {
        None => match run::run(common, &cli.run) {
            Ok(report) => Ok(finish(&report, common)),
            Err(run::RunError::After { error, report }) => {
                // Nothing could be checked; COMMAND's failure still wins.
                eprintln!("kitty-leakcheck: error: {error}");
                let failed = report.command_status.as_ref().is_some_and(|s| !s.passed());
                Ok(if failed {
                    report.outcome().exit_code()
                } else {
                    LeakcheckExitCode::INTERNAL_ERROR
                })
            }
            Err(e) => Err(e.into()),
        },
        Some(Mode::Wrap(a)) => {
            let report = nextest::wrap(common, a)?;
            let code = finish(&report, common);
            // A test killed by a signal: end as it ended, so nextest says SIGSEGV.
            if let Some(sig) = report.command_status.as_ref().and_then(|s| s.signal()) {
                kitty_fixtures::os::end_with_signal(sig);
            }
            Ok(code)
        }
        Some(Mode::Snapshot(a)) => {
            let done = baseline::snapshot(common, a)?;
            report::emit_snapshot(&done, common);
            Ok(LeakcheckExitCode::OK)
        }
        Some(Mode::Check(a)) => Ok(finish(&nextest::check(common, a)?, common)),
        Some(Mode::Sweep(a)) => {
            let report = sweep::sweep(common, a)?;
            report::emit_sweep(&report, common);
            Ok(report.outcome().exit_code())
        }
    }
}

fn finish(report: &Report, common: &CommonArgs) -> i32 {
    emit(report, common);
    report.outcome().exit_code()
}
