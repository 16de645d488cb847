//! The one place findings are rendered: [`human`] (stderr, for people),
//! [`json`] (stdout and `--report-file`, versioned schema), [`junit`]
//! (`--junit`) and [`github`] (`::error` workflow commands, the job
//! summary). It reads [`crate::findings`] and nothing else of leakcheck's:
//! `main` hands it the [`Options`]. Everything printed passes through
//! `mask_tokens` as a last guard.

mod files;
pub mod github;
pub mod human;
pub mod json;
pub mod junit;
pub mod progress;
pub mod rows;
pub mod style;
pub mod visible;

use std::io::Write;
use std::path::PathBuf;

use crate::findings::Snapshot;
use crate::findings::run::{CommandStatus, ReportMode, RunFindings};
use crate::findings::sweep::{SweepFindings, SweepPlan};

/// How much the human report says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verbosity {
    /// Only leaks and errors (`-q`).
    Quiet,
    /// The default.
    Normal,
    /// What was seen before and after, and each signal passed on (`-v`).
    Verbose,
    /// Also why each process was judged as it was, and whole command lines (`-vv`).
    VeryVerbose,
}

/// What the options ask of the renderers.
#[derive(Debug, Clone)]
pub struct Options {
    /// How much the human report says.
    pub verbosity: Verbosity,
    /// `--json` (or `--message-format json`): the report as JSON on stdout.
    pub json: bool,
    /// `--report-file`: the JSON report (every mode's, `snapshot`'s too).
    pub report_file: Option<PathBuf>,
    /// `--junit`: the JUnit XML report (run and check modes).
    pub junit: Option<PathBuf>,
    /// A `wrap` whose findings go to the run's records
    /// (`KITTY_LEAKCHECK_RECORDS`): its annotations and job summary are left
    /// to `check` (or the enclosing run), which reports the whole run once.
    pub recorded: bool,
}

/// A report file that could not be written (leakcheck then exits 1, unless
/// COMMAND's own failure wins).
#[derive(Debug, thiserror::Error)]
#[error("cannot write {what} {path}: {source}")]
pub struct SinkError {
    /// What kind of report.
    pub what: &'static str,
    /// The file.
    pub path: PathBuf,
    /// The cause.
    pub source: std::io::Error,
}

/// Prints `report` as the options ask, and writes the files they name:
/// `::error` annotations on stdout and a table in `$GITHUB_STEP_SUMMARY`
/// under `GITHUB_ACTIONS=true`; the JSON report to `--report-file` and on
/// stdout with `--json` (on a line of its own: COMMAND's output may not have
/// ended with one); the JUnit report to `--junit`; else the human report on
/// stderr. A `wrap` report says nothing on the terminal when nothing leaked
/// (nextest shows a passing test's output only on request), unless `-v` or
/// `--json`.
pub fn emit(report: &RunFindings, options: &Options) -> Vec<SinkError> {
    let mut errors = Vec::new();
    if let Some(path) = &options.report_file {
        errors.extend(files::write(path, "the JSON report", json::report(report) + "\n").err());
    }
    if let Some(path) = &options.junit {
        errors.extend(files::write(path, "the JUnit report", junit::report(report)).err());
    }
    // One table per run or check; a `wrap` (one per test) adds one only when
    // its test leaked, so a clean nextest run does not add a line per test.
    let summarize = match report.mode {
        ReportMode::Wrap => !report.leaks.is_empty() && !options.recorded,
        _ => true,
    };
    if github::enabled() && summarize {
        errors.extend(github::append_step_summary(&github::step_summary(report)).err());
    }
    let quiet_wrap = report.mode == ReportMode::Wrap
        && report.leaks.is_empty()
        && report
            .command_status
            .as_ref()
            .is_none_or(CommandStatus::started)
        && options.verbosity < Verbosity::Verbose
        // `--json` asked for the report whatever it holds.
        && !options.json;
    if quiet_wrap {
        return errors;
    }
    let mut stdout = std::io::stdout().lock();
    if github::enabled() && !(report.mode == ReportMode::Wrap && options.recorded) {
        let _ = stdout.write_all(github::annotations(report).as_bytes());
    }
    if options.json {
        let ran = report
            .command_status
            .as_ref()
            .is_some_and(CommandStatus::started);
        let lead = if ran { "\n" } else { "" };
        let _ = writeln!(stdout, "{lead}{}", json::report(report));
        let _ = stdout.flush();
        // COMMAND-could-not-start is also said on stderr, for people.
        if report.command_status.as_ref().is_some_and(|s| !s.started()) {
            let _ = write!(
                anstream::stderr(),
                "{}",
                human::report(report, Verbosity::Quiet)
            );
        }
        return errors;
    }
    let _ = stdout.flush();
    let _ = write!(
        anstream::stderr(),
        "{}",
        human::report(report, options.verbosity)
    );
    errors
}

/// Prints what `snapshot` did, and writes it as JSON (what `--json`
/// prints) to `--report-file`.
pub fn emit_snapshot(done: &Snapshot, options: &Options) -> Vec<SinkError> {
    let mut errors = Vec::new();
    if let Some(path) = &options.report_file {
        errors.extend(files::write(path, "the JSON report", json::snapshot(done) + "\n").err());
    }
    if options.verbosity > Verbosity::Quiet {
        let _ = write!(anstream::stderr(), "{}", human::snapshot(done));
    }
    if options.json {
        println!("{}", json::snapshot(done));
    }
    errors
}

/// Prints the listing `sweep` shows before it asks (on stdout, through the
/// same stream as its summary; not with `--json` or `-q`).
pub fn emit_sweep_listing(plan: &SweepPlan, options: &Options) {
    if options.json || options.verbosity <= Verbosity::Quiet {
        return;
    }
    let mut out = anstream::stdout();
    let _ = write!(out, "{}", human::sweep_listing(plan, options.verbosity));
    let _ = out.flush();
}

/// Prints what `sweep` did (its listing was printed before it asked), and
/// writes its JSON to `--report-file`.
pub fn emit_sweep(report: &SweepFindings, options: &Options) -> Vec<SinkError> {
    let mut errors = Vec::new();
    if let Some(path) = &options.report_file {
        errors.extend(files::write(path, "the JSON report", json::sweep(report) + "\n").err());
    }
    if options.json {
        println!("{}", json::sweep(report));
        return errors;
    }
    let (problems, summary) = human::sweep_result(report);
    let _ = write!(anstream::stderr(), "{problems}");
    if report.no_terminal() {
        let _ = write!(anstream::stderr(), "{summary}");
    } else {
        let _ = write!(anstream::stdout(), "{summary}");
    }
    errors
}
