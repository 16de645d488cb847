//! `cargo kitty-leakcheck`: wrap any test run, fail it on leaked spec-kitty
//! dashboards, stop them, and touch nothing the run did not leak.
//!
//! `main` parses the options ([`cli`]), runs the mode ([`modes`]), which
//! computes plain findings ([`findings`]) and never prints, renders them
//! ([`report`]), asks `sweep`'s question, and maps the outcome (or the
//! [`errors::Error`]) to the exit status ([`exit_codes`]). Detection,
//! identification and stopping live in [`kitty_core`]; all kernel access in
//! [`kitty_core::sys`].
#![deny(unsafe_code)]

mod baseline;
mod cli;
mod config;
mod errors;
mod exit_codes;
mod findings;
mod modes;
mod records;
mod report;
#[cfg(test)]
mod test_dir;

use std::ffi::OsString;
use std::io::{BufRead, Write};

use clap::FromArgMatches;
use kitty_core::mask_tokens;

use crate::cli::{Cli, CommonArgs, Mode};
use crate::errors::Error;
use crate::exit_codes::LeakcheckExitCode;
use crate::findings::run::{Notice, RunFindings};
use crate::findings::sweep::SweepPlan;
use crate::modes::reap::Tick;
use crate::report::progress::Progress;
use crate::report::visible::visible;
use crate::report::{Options, SinkError, Verbosity, emit, human};

fn main() {
    let mut args: Vec<OsString> = std::env::args_os().collect();
    // `cargo kitty-leakcheck ...` runs us as `cargo-kitty-leakcheck kitty-leakcheck ...`.
    if args.get(1).is_some_and(|a| a == "kitty-leakcheck") {
        args.remove(1);
    }
    // The colour choice first, so that clap's own help and errors follow it.
    let cargo_term_color = std::env::var("CARGO_TERM_COLOR").ok();
    let color = cli::choose_color(cli::color_choice(&args, cargo_term_color.as_deref()));
    // Parsed without the help's exit-status tables (formatting them is
    // most of the start-up); a request for help is parsed again with them.
    let parsed = match parse(cli::parser().color(color), &args) {
        Err(e) if cli::asks_for_help(&e) => parse(cli::command().color(color), &args),
        parsed => parsed,
    };
    let cli = match parsed {
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
    let code = dispatch(&cli).unwrap_or_else(|e| {
        match &e {
            Error::Unchecked { .. } => eprintln!(
                "kitty-leakcheck: error: {}",
                visible(&mask_tokens(&e.to_string()))
            ),
            _ => eprintln!("error: {}", visible(&mask_tokens(&e.with_causes()))),
        }
        e.exit_code()
    });
    std::process::exit(code);
}

/// The options `args` give, by `command`'s rules.
fn parse(mut command: clap::Command, args: &[OsString]) -> Result<Cli, clap::Error> {
    let matches = command.try_get_matches_from_mut(args)?;
    cli::reject_options_that_do_nothing(&mut command, &matches)?;
    let mut cli = Cli::from_arg_matches(&matches)?;
    cli.common.ports_given = cli::ports_given(&matches);
    Ok(cli)
}

/// Loads the profile, runs the mode, renders its findings, and returns the
/// exit status.
fn dispatch(cli: &Cli) -> Result<i32, Error> {
    // The profile first: a bad .config/kitty-leakcheck.toml stops every
    // mode before it starts anything (exit 2).
    let cwd = std::env::current_dir().unwrap_or_else(|_| std::path::PathBuf::from("."));
    let policy = config::load(cli.common.config.as_deref(), &cli.common.profile, &cwd)?;
    let common = &cli.common.with_policy(&policy);
    if common.is_verbose() {
        eprintln!(
            "kitty-leakcheck: {}",
            visible(&mask_tokens(&policy.describe()))
        );
    }
    let options = |junit: Option<&std::path::PathBuf>| Options {
        verbosity: verbosity(common),
        json: common.json(),
        report_file: common.report_file.clone(),
        junit: junit.cloned(),
        recorded: false,
    };
    let notify = |n: Notice<'_>| {
        if common.is_verbose() {
            eprint!("{}", human::notice(&n));
        }
    };
    // The bar over the stops of leaked dashboards (run, check): not under -q.
    let leak_progress = |n| progress("stopping leaked dashboards", n, common.verbosity() < 0);
    match &cli.mode {
        None => {
            let findings = modes::run::run(common, &policy, &cli.run, &notify, leak_progress)?;
            Ok(finish(&findings, &options(cli.run.junit.as_ref())))
        }
        Some(Mode::Wrap(a)) => {
            let findings = modes::nextest::wrap(common, &policy, a, &notify)?;
            let records_dir = records::from_env();
            let options = Options {
                recorded: records_dir.is_some(),
                report_file: common.report_file.as_deref().map(cli::per_test_report_file),
                ..options(None)
            };
            let mut code = finish(&findings, &options);
            // The record for `check` (or the enclosing run): the whole run's
            // reports are made from it.
            if let (Some(dir), Some(record)) = (records_dir, report::rows::record(&findings))
                && let Err(e) = records::write(&dir, &record)
            {
                eprintln!(
                    "kitty-leakcheck: error: {}",
                    visible(&mask_tokens(&e.to_string()))
                );
                if code == LeakcheckExitCode::OK {
                    code = LeakcheckExitCode::INTERNAL_ERROR;
                }
            }
            // A signal that came during the clean-up, else a test killed by
            // a signal: end as it would have ended us, so nextest says SIGTERM
            // (SIGSEGV).
            let signal = findings
                .cleanup_interrupted_by
                .map(|s| s.as_raw())
                .or_else(|| findings.command_status.as_ref().and_then(|s| s.signal()));
            if let Some(sig) = signal {
                kitty_core::sys::end_with_signal(sig);
            }
            Ok(code)
        }
        Some(Mode::Snapshot(a)) => {
            let done = modes::nextest::snapshot(common, a)?;
            let errors = report::emit_snapshot(&done, &options(None));
            Ok(with_sink_errors(LeakcheckExitCode::OK, &errors))
        }
        Some(Mode::Check(a)) => {
            let findings = modes::nextest::check(a, &policy, leak_progress)?;
            Ok(finish(&findings, &options(a.junit.as_ref())))
        }
        Some(Mode::Sweep(a)) => {
            let options = options(None);
            let profiles = modes::detect::server_profiles(&policy);
            let plan = modes::sweep::plan(modes::sweep::survey(&common.ports, &profiles)?, a);
            report::emit_sweep_listing(&plan, &options);
            let consent = modes::sweep::confirm(&plan, a, ask_to_sweep);
            // The sweep's bar: not with --json or -q.
            let quiet = common.json() || common.quiet;
            let done = modes::sweep::execute(plan, consent, a, |n| {
                progress("stopping dashboards", n, quiet)
            })?;
            let errors = report::emit_sweep(&done, &options);
            Ok(with_sink_errors(done.exit_code(), &errors))
        }
    }
}

/// How much the human report says: flags first, then
/// `CARGO_TERM_QUIET`/`CARGO_TERM_VERBOSE` ([`CommonArgs::verbosity`]).
fn verbosity(common: &CommonArgs) -> Verbosity {
    match common.verbosity() {
        ..=-1 => Verbosity::Quiet,
        0 => Verbosity::Normal,
        1 => Verbosity::Verbose,
        _ => Verbosity::VeryVerbose,
    }
}

/// The [`Tick`] a mode calls as each of its `n` stops ends: a bar saying
/// `what` on a terminal ([`Progress`]), cleared when the mode drops it.
fn progress(what: &'static str, n: usize, quiet: bool) -> Tick {
    let bar = Progress::new(what, n, quiet);
    Box::new(move || bar.tick())
}

/// Asks `sweep`'s question `... [y/N]` on stderr (the question is ours:
/// counts, no process data) and reads one line from stdin; true for `y` or
/// `yes`.
fn ask_to_sweep(plan: &SweepPlan) -> bool {
    let mut err = anstream::stderr();
    let _ = write!(err, "{} [y/N] ", visible(&human::sweep_question(plan)));
    let _ = err.flush();
    let mut line = String::new();
    if std::io::stdin().lock().read_line(&mut line).is_err() {
        return false;
    }
    matches!(line.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}

/// Renders `findings`, writes their files, and returns the exit status.
fn finish(findings: &RunFindings, options: &Options) -> i32 {
    let errors = emit(findings, options);
    with_sink_errors(findings.exit_code(), &errors)
}

/// A report file that could not be written makes a passing run fail with 1
/// (a CI step must not read a stale file); COMMAND's own failure still wins.
fn with_sink_errors(code: i32, errors: &[SinkError]) -> i32 {
    for e in errors {
        eprintln!("kitty-leakcheck: error: {}", visible(&e.to_string()));
    }
    if errors.is_empty() || code != LeakcheckExitCode::OK {
        code
    } else {
        LeakcheckExitCode::INTERNAL_ERROR
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// The code lines (comments and test modules left out) of every `.rs`
    /// file under `dir`, with their file names.
    fn code_lines(dir: &str) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut dirs = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("src").join(dir)];
        while let Some(d) = dirs.pop() {
            for entry in std::fs::read_dir(&d).expect("read src").flatten() {
                let path = entry.path();
                if path.is_dir() {
                    dirs.push(path);
                    continue;
                }
                let text = std::fs::read_to_string(&path).expect("read a source file");
                let code = text.split("#[cfg(test)]\nmod tests").next().unwrap_or("");
                let code = code
                    .split("#[cfg(test)]\npub(crate) mod tests")
                    .next()
                    .unwrap_or("");
                for line in code.lines() {
                    let trimmed = line.trim_start();
                    if !trimmed.starts_with("//") {
                        out.push((path.display().to_string(), line.to_string()));
                    }
                }
            }
        }
        out
    }

    /// No circle: the modes and the findings never reach into the
    /// renderers, and the renderers read only the findings.
    #[test]
    fn modes_and_findings_never_import_report_and_report_imports_only_findings() {
        for dir in ["modes", "findings"] {
            for (file, line) in code_lines(dir) {
                assert!(!line.contains("crate::report"), "{file}: {line}");
            }
        }
        for (file, line) in code_lines("report") {
            let mut rest = line.as_str();
            while let Some(at) = rest.find("crate::") {
                rest = &rest[at + "crate::".len()..];
                assert!(
                    rest.starts_with("findings") || rest.starts_with("report"),
                    "{file}: {line}"
                );
            }
        }
    }
}
