//! `cargo kitty-leakcheck`: wrap any test run, fail it on leaked spec-kitty
//! dashboards, stop them, and touch nothing the run did not leak.
//!
//! Each mode computes a plain result ([`report::Report`],
//! [`sweep::SweepReport`], [`baseline::Snapshot`]); [`report`] prints it, and
//! the result's outcome gives the exit status ([`exit_codes`]). Detection,
//! identification and stopping live in [`kitty_core`]; all kernel
//! access in [`kitty_core::sys`].
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

use std::path::PathBuf;

use clap::{CommandFactory, FromArgMatches};
use kitty_core::mask_tokens;

use crate::cli::{Cli, CommonArgs, Mode};
use crate::exit_codes::LeakcheckExitCode;
use crate::report::visible::visible;
use crate::report::{Report, Sinks, emit};

fn main() {
    let mut args: Vec<OsString> = std::env::args_os().collect();
    // `cargo kitty-leakcheck ...` runs us as `cargo-kitty-leakcheck kitty-leakcheck ...`.
    if args.get(1).is_some_and(|a| a == "kitty-leakcheck") {
        args.remove(1);
    }
    // The colour choice first, so that clap's own help and errors follow it.
    let cargo_term_color = std::env::var("CARGO_TERM_COLOR").ok();
    let color = report::style::choose(cli::color_choice(&args, cargo_term_color.as_deref()));
    let mut command = Cli::command().color(color);
    let matches = command.try_get_matches_from_mut(args).and_then(|m| {
        cli::reject_run_options_with_a_mode(&mut command, &m)?;
        Ok(m)
    });
    let cli = match matches.and_then(|m| Cli::from_arg_matches(&m)) {
        Ok(cli) => cli,
        Err(e) => {
            // Bad usage: clap's error, its usage line and "For more information,
            // try '--help'" (exit 2); --help and --version (exit 0).
            let _ = e.print();
            std::process::exit(if e.use_stderr() {
                LeakcheckExitCode::USAGE
            } else {
                LeakcheckExitCode::OK
            });
        }
    };
    let code = match dispatch(&cli) {
        Ok(code) => code,
        Err(e) => {
            let usage = e.downcast_ref::<nextest::BadBaseline>().is_some();
            eprintln!("error: {}", visible(&mask_tokens(&format!("{e:#}"))));
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
    let sinks = |junit: Option<&PathBuf>| Sinks {
        report_file: common.report_file.clone(),
        junit: junit.cloned(),
    };
    match &cli.mode {
        None => match run::run(common, &cli.run) {
            Ok(report) => Ok(finish(&report, common, &sinks(cli.run.junit.as_ref()))),
            Err(run::RunError::After { error, report }) => {
                // Nothing could be checked; COMMAND's failure still wins.
                eprintln!(
                    "kitty-leakcheck: error: {}",
                    visible(&mask_tokens(&error.to_string()))
                );
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
            let code = finish(&report, common, &sinks(None));
            // A signal that came during the clean-up, else a test killed by
            // a signal: end as it would have ended us, so nextest says SIGTERM
            // (SIGSEGV).
            let signal = report
                .cleanup_interrupted_by
                .map(|s| s.as_raw())
                .or_else(|| report.command_status.as_ref().and_then(|s| s.signal()));
            if let Some(sig) = signal {
                kitty_core::sys::end_with_signal(sig);
            }
            Ok(code)
        }
        Some(Mode::Snapshot(a)) => {
            let done = baseline::snapshot(common, a)?;
            report::emit_snapshot(&done, common);
            Ok(LeakcheckExitCode::OK)
        }
        Some(Mode::Check(a)) => Ok(finish(
            &nextest::check(common, a)?,
            common,
            &sinks(a.junit.as_ref()),
        )),
        Some(Mode::Sweep(a)) => {
            let report = sweep::sweep(common, a)?;
            let errors = report::emit_sweep(&report, common);
            Ok(with_sink_errors(report.exit_code(), &errors))
        }
    }
}

/// Prints `report`, writes its files, and returns the exit status.
fn finish(report: &Report, common: &CommonArgs, sinks: &Sinks) -> i32 {
    let errors = emit(report, common, sinks);
    with_sink_errors(report.exit_code(), &errors)
}

/// A report file that could not be written makes a passing run fail with 1
/// (a CI step must not read a stale file); COMMAND's own failure still wins.
fn with_sink_errors(code: i32, errors: &[report::SinkError]) -> i32 {
    for e in errors {
        eprintln!("kitty-leakcheck: error: {}", visible(&e.to_string()));
    }
    if errors.is_empty() || code != LeakcheckExitCode::OK {
        code
    } else {
        LeakcheckExitCode::INTERNAL_ERROR
    }
}
