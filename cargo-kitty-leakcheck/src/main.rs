//! `cargo kitty-leakcheck`: wrap any test run, fail it on leaked spec-kitty
//! dashboards, reap them, and touch nothing the run did not leak.
//!
//! The detection, identification and stopping live in
//! [`kitty_fixtures::probe`]; this binary only runs commands, diffs and reports.

mod cli;
mod exit_codes;
mod leaks;
mod nextest;
mod reap;
mod report;
mod run;
mod sweep;

use std::ffi::OsString;

use clap::Parser;

use crate::cli::{Cli, Mode};
use crate::exit_codes::LeakcheckExitCode;

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
            eprintln!("{}", kitty_fixtures::probe::mask_tokens(&first.join(" ")));
            std::process::exit(LeakcheckExitCode::USAGE);
        }
        Err(e) => {
            // --help, --version.
            let _ = e.print();
            std::process::exit(LeakcheckExitCode::OK);
        }
    };
    let result = match &cli.mode {
        None => run::run(&cli.common, &cli.run),
        Some(Mode::Wrap(a)) => nextest::wrap(&cli.common, a),
        Some(Mode::Snapshot(a)) => nextest::snapshot(&cli.common, a),
        Some(Mode::Check(a)) => nextest::check(&cli.common, a),
        Some(Mode::Sweep(a)) => sweep::sweep(&cli.common, a),
    };
    match result {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!(
                "error: {}",
                kitty_fixtures::probe::mask_tokens(&format!("{e:#}"))
            );
            std::process::exit(LeakcheckExitCode::INTERNAL_ERROR);
        }
    }
}
