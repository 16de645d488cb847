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

pub mod github;
pub mod human;
pub mod json;
pub mod style;

use std::ffi::OsString;
use std::io::Write;

use kitty_fixtures::os::Signal;
use kitty_fixtures::ports::PortSet;
use kitty_fixtures::shared::ListenerSnapshot;

use crate::cli::CommonArgs;
use crate::command::{CommandStatus, shell_line};
use crate::exit_codes::LeakcheckExitCode;
use crate::leak::{Action, LeakKind, Leaks, Verdict};

/// Which mode made the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
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
            run_label: None,
            before: ListenerSnapshot::default(),
            leaks: Leaks::default(),
        }
    }

    /// The verdict.
    pub fn outcome(&self) -> Outcome {
        Outcome::of(self.command_status.as_ref(), self.leaks.verdict())
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
}

impl Verbosity {
    /// From the common options.
    pub fn of(common: &CommonArgs) -> Self {
        if common.quiet {
            Verbosity::Quiet
        } else if common.verbose {
            Verbosity::Verbose
        } else {
            Verbosity::Normal
        }
    }
}

/// Prints `report` as the common options ask: the human report on stderr
/// (or, with `--json`, the JSON line on stdout), preceded by `::error`
/// annotations on stdout when `GITHUB_ACTIONS=true`. A `wrap` report says
/// nothing when nothing leaked (nextest shows a passing test's output only
/// on request), unless `-v`.
pub fn emit(report: &Report, common: &CommonArgs) {
    if report.mode == ReportMode::Wrap
        && report.leaks.is_empty()
        && report
            .command_status
            .as_ref()
            .is_none_or(CommandStatus::started)
        && !common.verbose
    {
        return;
    }
    let mut stdout = std::io::stdout().lock();
    if github::enabled() {
        let _ = stdout.write_all(github::annotations(report).as_bytes());
    }
    if common.json() {
        let _ = writeln!(stdout, "{}", json::report(report));
        let _ = stdout.flush();
        // COMMAND-could-not-start is also said on stderr, for people.
        if report.command_status.as_ref().is_some_and(|s| !s.started()) {
            eprint!(
                "{}",
                human::report(report, &style::Style::plain(), Verbosity::Quiet)
            );
        }
        return;
    }
    let _ = stdout.flush();
    let style = style::Style::for_stderr(common.color);
    eprint!("{}", human::report(report, &style, Verbosity::of(common)));
}

/// Prints what `snapshot` did.
pub fn emit_snapshot(done: &crate::baseline::Snapshot, common: &CommonArgs) {
    if !common.quiet {
        eprint!("{}", human::snapshot(done));
    }
    if common.json() {
        println!("{}", json::snapshot(done));
    }
}

/// Prints what `sweep` did (its listing was printed before it asked).
pub fn emit_sweep(report: &crate::sweep::SweepReport, common: &CommonArgs) {
    if common.json() {
        println!("{}", json::sweep(report));
        return;
    }
    let (problems, summary) = human::sweep_result(report);
    eprint!("{problems}");
    if report.no_terminal {
        eprint!("{summary}");
    } else {
        print!("{summary}");
    }
}
