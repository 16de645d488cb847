//! What each mode found, decided and did, as plain data, and the one place it
//! is printed.
//!
//! The modes compute a [`Report`] (run, `wrap`, `check`) or a
//! [`SweepReport`](crate::sweep::SweepReport) and never print; the
//! [`Outcome`] is decided from the data first and then mapped to an exit
//! status. The renderers beside this module turn the data into text: [`human`]
//! (stderr, for people), [`json`] (stdout, versioned schema) and [`github`]
//! (`::error` workflow commands). Everything printed passes through
//! `mask_tokens` as a last guard.

mod files;
pub mod github;
pub mod human;
pub mod json;
pub mod junit;
pub mod progress;
pub mod style;
pub mod visible;

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;

use kitty_core::ListenerSnapshot;
use kitty_core::PortSet;
use kitty_core::sys::Signal;

use crate::cli::CommonArgs;
use crate::command::{CommandStatus, shell_line};
use crate::exit_codes::LeakcheckExitCode;
use crate::leak::{Action, LeakKind, Leaks, Verdict};

/// Which mode made the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum ReportMode {
    /// The default mode: a whole run under `cargo kitty-leakcheck`.
    Run,
    /// `wrap`: one test under a nextest wrapper script.
    Wrap,
    /// `check`: the watched ports against a baseline.
    Check,
}

/// The overall verdict, decided from what was seen and done; the exit status
/// follows from it ([`Outcome::exit_code`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// COMMAND passed (or there was none) and nothing leaked.
    Ok,
    /// COMMAND passed but something leaked.
    Leaked,
    /// COMMAND passed but a leaked dashboard could not be stopped.
    ReapFailed,
    /// COMMAND failed, with this exit status (128 + N for signal N); leaks,
    /// if any, were still reported and stopped.
    CommandFailed(i32),
    /// COMMAND was not found; nothing was checked or stopped.
    CommandNotFound,
    /// COMMAND could not be executed; nothing was checked or stopped.
    CommandNotExecutable,
}

impl Outcome {
    /// The outcome of a run whose COMMAND ended with `command` (`None`:
    /// `check`, which runs none) and whose leaks came to `leaks`.
    pub fn of(command: Option<&CommandStatus>, leaks: Verdict) -> Self {
        match command {
            Some(CommandStatus::NotFound) => Outcome::CommandNotFound,
            Some(CommandStatus::NotExecutable(_)) => Outcome::CommandNotExecutable,
            Some(s) if !s.passed() => Outcome::CommandFailed(
                s.code()
                    .or_else(|| s.signal().map(|n| 128 + n))
                    .unwrap_or(LeakcheckExitCode::INTERNAL_ERROR),
            ),
            _ => match leaks {
                Verdict::Clean => Outcome::Ok,
                Verdict::Leaked => Outcome::Leaked,
                Verdict::StopFailed => Outcome::ReapFailed,
            },
        }
    }

    /// The status leakcheck exits with (see [`LeakcheckExitCode`]).
    pub fn exit_code(self) -> i32 {
        match self {
            Outcome::Ok => LeakcheckExitCode::OK,
            Outcome::Leaked => LeakcheckExitCode::LEAKED,
            Outcome::ReapFailed => LeakcheckExitCode::REAP_FAILED,
            Outcome::CommandFailed(code) => code,
            Outcome::CommandNotFound => LeakcheckExitCode::COMMAND_NOT_FOUND,
            Outcome::CommandNotExecutable => LeakcheckExitCode::COMMAND_NOT_EXECUTABLE,
        }
    }

    /// The `outcome` field of the JSON report.
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Leaked => "leaked",
            Outcome::ReapFailed => "reap-failed",
            Outcome::CommandFailed(_) => "command-failed",
            Outcome::CommandNotFound => "command-not-found",
            Outcome::CommandNotExecutable => "command-not-executable",
        }
    }
}

/// One report of the run, `wrap` or `check` mode.
#[derive(Debug, Clone)]
pub struct Report {
    /// Which mode.
    pub mode: ReportMode,
    /// The watched ports.
    pub ports: PortSet,
    /// COMMAND as given (empty in `check` mode).
    pub command: Vec<OsString>,
    /// How COMMAND ended; `None` in `check` mode.
    pub command_status: Option<CommandStatus>,
    /// The signal leakcheck received from a process and passed on to COMMAND.
    pub interrupted_by: Option<Signal>,
    /// A signal (SIGINT, SIGTERM, SIGHUP) that reached leakcheck after
    /// COMMAND ended (in `check`, at any time) while it checked and stopped
    /// leaks: the clean-up was finished first, and the exit status is then
    /// the signal's ([`Report::exit_code`]).
    pub cleanup_interrupted_by: Option<Signal>,
    /// The label the run's processes carry (`KITTY_LEAKCHECK_RUN`).
    pub run_label: Option<String>,
    /// The watched listeners before the run.
    pub before: ListenerSnapshot,
    /// What leaked (and what was done about it), and what appeared beside it.
    pub leaks: Leaks,
}

impl Report {
    /// An empty report of `mode` on `ports`.
    pub fn new(mode: ReportMode, ports: &PortSet) -> Self {
        Report {
            mode,
            ports: ports.clone(),
            command: Vec::new(),
            command_status: None,
            interrupted_by: None,
            cleanup_interrupted_by: None,
            run_label: None,
            before: ListenerSnapshot::default(),
            leaks: Leaks::default(),
        }
    }

    /// The verdict.
    pub fn outcome(&self) -> Outcome {
        Outcome::of(self.command_status.as_ref(), self.leaks.verdict())
    }

    /// The status leakcheck exits with: `128 + N` when signal N interrupted
    /// the clean-up ([`Report::cleanup_interrupted_by`]; it wins, as a shell
    /// reports a job it was told to end; `wrap` then re-raises the signal
    /// itself), else the outcome's ([`Outcome::exit_code`]).
    pub fn exit_code(&self) -> i32 {
        match self.cleanup_interrupted_by {
            Some(sig) => LeakcheckExitCode::SIGNAL_BASE + sig.as_raw(),
            None => self.outcome().exit_code(),
        }
    }

    /// COMMAND as a shell line, tokens masked.
    pub fn command_line(&self) -> String {
        shell_line(&self.command)
    }

    /// The counts the JSON `summary` and the human last line give.
    pub fn summary(&self) -> Summary {
        let leaks = &self.leaks.leaks;
        let count = |f: &dyn Fn(&crate::leak::Leak) -> bool| leaks.iter().filter(|l| f(l)).count();
        Summary {
            leaks: leaks.len(),
            appeared: self.leaks.appeared.len(),
            dashboards: count(&|l| l.kind == LeakKind::Dashboard),
            foreign: count(&|l| l.kind != LeakKind::Dashboard),
            reaped: count(&|l| {
                matches!(l.action, Action::Reaped { .. } | Action::AlreadyGone { .. })
            }),
            reap_failed: count(&|l| matches!(l.action, Action::Failed { .. })),
            left_alone: count(&|l| {
                matches!(
                    l.action,
                    Action::LeftAlone { .. } | Action::NotReaped { .. }
                )
            }),
        }
    }
}

/// How many leaks, and what became of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct Summary {
    /// Leaks of the run.
    pub leaks: usize,
    /// What appeared beside the run, not started by it.
    pub appeared: usize,
    /// Leaks that are dashboards.
    pub dashboards: usize,
    /// Leaks that are not (foreign listeners, the sync daemon).
    pub foreign: usize,
    /// Dashboards stopped (or found already gone).
    pub reaped: usize,
    /// Dashboards that could not be stopped.
    pub reap_failed: usize,
    /// Leaks never touched.
    pub left_alone: usize,
}

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

impl Verbosity {
    /// From the common options (flags first, then `CARGO_TERM_QUIET`/`CARGO_TERM_VERBOSE`).
    pub fn of(common: &CommonArgs) -> Self {
        match common.verbosity() {
            ..=-1 => Verbosity::Quiet,
            0 => Verbosity::Normal,
            1 => Verbosity::Verbose,
            _ => Verbosity::VeryVerbose,
        }
    }
}

/// Where a report goes besides the terminal: the files the options name.
#[derive(Debug, Clone, Default)]
pub struct Sinks {
    /// `--report-file`: the JSON report.
    pub report_file: Option<PathBuf>,
    /// `--junit`: the JUnit XML report (run and check modes).
    pub junit: Option<PathBuf>,
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
/// (nextest shows a passing test's output only on request), unless `-v`.
pub fn emit(report: &Report, common: &CommonArgs, sinks: &Sinks) -> Vec<SinkError> {
    let mut errors = Vec::new();
    if let Some(path) = &sinks.report_file {
        errors.extend(files::write(path, "the JSON report", json::report(report) + "\n").err());
    }
    if let Some(path) = &sinks.junit {
        errors.extend(files::write(path, "the JUnit report", junit::report(report)).err());
    }
    // One table per run or check; a `wrap` (one per test) adds one only when
    // its test leaked, so a clean nextest run does not add a line per test.
    let summarize = report.mode != ReportMode::Wrap || !report.leaks.is_empty();
    if github::enabled() && summarize {
        errors.extend(github::append_step_summary(&github::step_summary(report)).err());
    }
    let quiet_wrap = report.mode == ReportMode::Wrap
        && report.leaks.is_empty()
        && report
            .command_status
            .as_ref()
            .is_none_or(CommandStatus::started)
        && !common.is_verbose();
    if quiet_wrap {
        return errors;
    }
    let mut stdout = std::io::stdout().lock();
    if github::enabled() {
        let _ = stdout.write_all(github::annotations(report).as_bytes());
    }
    if common.json() {
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
        human::report(report, Verbosity::of(common))
    );
    errors
}

/// Prints what `snapshot` did.
pub fn emit_snapshot(done: &crate::baseline::Snapshot, common: &CommonArgs) {
    if Verbosity::of(common) > Verbosity::Quiet {
        let _ = write!(anstream::stderr(), "{}", human::snapshot(done));
    }
    if common.json() {
        println!("{}", json::snapshot(done));
    }
}

/// Prints the listing `sweep` shows before it asks (on stdout, through the
/// same stream as its summary; not with `--json` or `-q`).
pub fn emit_sweep_listing(report: &crate::sweep::SweepReport, common: &CommonArgs) {
    if common.json() || Verbosity::of(common) <= Verbosity::Quiet {
        return;
    }
    let mut out = anstream::stdout();
    let _ = write!(
        out,
        "{}",
        human::sweep_listing(report, Verbosity::of(common))
    );
    let _ = out.flush();
}

/// Asks `question [y/N]` on stderr (the question is ours: counts, no process
/// data) and reads one line from stdin; true for `y` or `yes`.
pub fn ask(question: &str) -> bool {
    use std::io::BufRead;
    let mut err = anstream::stderr();
    let _ = write!(err, "{} [y/N] ", visible::visible(question));
    let _ = err.flush();
    let mut line = String::new();
    if std::io::stdin().lock().read_line(&mut line).is_err() {
        return false;
    }
    matches!(line.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}

/// Prints what `sweep` did (its listing was printed before it asked), and
/// writes its JSON to `--report-file`.
pub fn emit_sweep(report: &crate::sweep::SweepReport, common: &CommonArgs) -> Vec<SinkError> {
    let mut errors = Vec::new();
    if let Some(path) = &common.report_file {
        errors.extend(files::write(path, "the JSON report", json::sweep(report) + "\n").err());
    }
    if common.json() {
        println!("{}", json::sweep(report));
        return errors;
    }
    let (problems, summary) = human::sweep_result(report);
    let _ = write!(anstream::stderr(), "{problems}");
    if report.no_terminal {
        let _ = write!(anstream::stderr(), "{summary}");
    } else {
        let _ = write!(anstream::stdout(), "{summary}");
    }
    errors
}
