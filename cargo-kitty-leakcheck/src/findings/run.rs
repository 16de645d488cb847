//! What the run, `wrap` and `check` modes found and did, as plain data:
//! each [`Leak`] with its [`Action`], the run's [`Leaks`] and their
//! [`Verdict`], how COMMAND ended ([`CommandStatus`]), and the whole
//! [`RunFindings`] with its [`Outcome`]. [`crate::modes`] computes them;
//! [`crate::report`] renders them; `sweep` records its own actions in
//! [`Action`] too.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitStatus;

use kitty_core::sys::Signal;
use kitty_core::{PortSet, mask_tokens};

use kitty_core::spec_kitty::DashboardClass;
use kitty_core::{Doubt, Grounds, Listener, ListenerSnapshot, Permit, ProcessIdentity, Stopped};

use super::records::{RecordedLeak, RecordedResult};
use crate::exit_codes::LeakcheckExitCode;

/// What kind of process leaked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum LeakKind {
    /// A spec-kitty dashboard server: reaped unless `--no-reap`.
    Dashboard,
    /// spec-kitty's sync daemon listening on a watched port: never touched.
    SyncDaemon,
    /// Anything else listening on a watched port (or a listener whose
    /// holder could not be found): never touched.
    Foreign,
    /// A process of the run that a server profile recognises (the built-in
    /// `http-server`, or a `[[server]]` of `.config/kitty-leakcheck.toml`),
    /// alive after the run, listening on any port or none: stopped only when
    /// the profile's `stop` names servers.
    Server,
    /// Any other process of the run alive after it: stopped only when the
    /// profile's `stop` names processes.
    Process,
}

/// Which test runner named a test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum Runner {
    /// `cargo nextest` (`NEXTEST_TEST_NAME`, `NEXTEST_BINARY_ID`).
    Nextest,
    /// pytest (`PYTEST_CURRENT_TEST`).
    Pytest,
    /// A kitty-fixtures project (`KITTY_FIXTURES_TEST`: libtest names each
    /// test's thread after the test).
    KittyFixtures,
}

/// The test that started a process, as its environment says: nextest's
/// `NEXTEST_TEST_NAME` and `NEXTEST_BINARY_ID`, else pytest's
/// `PYTEST_CURRENT_TEST` (`tests/x.py::test_name (call)`, named without the
/// phase), else the `KITTY_FIXTURES_TEST` a kitty-fixtures project sets on
/// the dashboards it starts (`cargo test` itself sets nothing).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct TestLabel {
    /// The test's name.
    pub name: Option<String>,
    /// `NEXTEST_BINARY_ID`.
    pub binary_id: Option<String>,
    /// Which runner said so.
    pub runner: Runner,
}

impl TestLabel {
    /// `leaks_one in mini::it`, `tests/x.py::test_y`.
    pub fn describe(&self) -> String {
        let name = self.name.as_deref().unwrap_or("?");
        match &self.binary_id {
            Some(b) => format!("{name} in {b}"),
            None => name.to_string(),
        }
    }
}

/// What was done about a leak (set by [`crate::modes::reap::reap_leaks`]) or a
/// dashboard `sweep` saw.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
// The published schema v1 describes it in the words it had when reaping
// lived in `stop_leaks.rs`; the schema must not change within a version.
#[cfg_attr(
    test,
    schemars(
        description = "What was done about a leak (set by [`crate::stop_leaks::stop_leaks`]) or a\ndashboard `sweep` saw."
    )
)]
#[serde(rename_all = "kebab-case", tag = "result")]
pub enum Action {
    /// Nothing decided yet (before reaping).
    Pending,
    /// Never touched, and why (not a dashboard, another user's, in another
    /// namespace, not started by the run, an ancestor of leakcheck).
    LeftAlone {
        /// Why.
        reason: String,
    },
    /// A dashboard that was not stopped because of `--no-reap`.
    NotReaped {
        /// Why.
        reason: String,
    },
    /// Stopped, its port confirmed free.
    Reaped {
        /// What `stop` did (last signal, escalation, proved members, members left alone, elapsed ms).
        #[serde(flatten)]
        stopped: Stopped,
        /// Whether the project's `.kittify/.dashboard` named it and was removed.
        dashboard_file_removed: bool,
    },
    /// It had already exited when we came to stop it.
    AlreadyGone {
        /// Whether the project's `.kittify/.dashboard` named it and was removed.
        dashboard_file_removed: bool,
    },
    /// Stopping it failed: it may still be running (exit status REAP_FAILED).
    Failed {
        /// Why (token-free).
        error: String,
    },
}

impl Action {
    /// Stopped, or found already gone.
    pub fn stopped(&self) -> bool {
        matches!(self, Action::Reaped { .. } | Action::AlreadyGone { .. })
    }
}

/// One leaked process (or one listener whose holder could not be found).
/// The JSON report shows it as its own `Leak` ([`crate::report::json`]).
#[derive(Debug, Clone)]
pub struct Leak {
    /// What leaked.
    pub kind: LeakKind,
    /// The process, when known.
    pub pid: Option<u32>,
    /// The main port: its first new listener's, else the port its command line names.
    pub port: Option<u16>,
    /// Its new listeners on watched ports (empty for a dashboard that never bound a watched port).
    pub listeners: Vec<Listener>,
    /// The command line with every token masked.
    pub command_line: Option<String>,
    /// The project a dashboard serves.
    pub project_dir: Option<PathBuf>,
    /// Whether that project directory still exists.
    pub project_exists: Option<bool>,
    /// The dashboard's class (orphan / unrecorded / starting / live /
    /// unknown / elsewhere), as `sweep` would see it.
    pub class: Option<DashboardClass>,
    /// The second opinion of a listening dashboard: whether its own
    /// `/api/health` names the project its command line names. `None` when it
    /// did not answer (or listens on no watched port). For a server whose
    /// profile has a health path: whether it answered it with 200.
    pub health: Option<bool>,
    /// Whether the process descends from the run (a child subreaper knows).
    pub from_run: bool,
    /// Whether its environment carries the run's label (`KITTY_LEAKCHECK_RUN`).
    pub carries_label: bool,
    /// The test that started it, when its environment says.
    pub test: Option<TestLabel>,
    /// Whether it may be stopped, decided once when it was found: the
    /// permit to stop it (the process pinned when it was proved the run's,
    /// its grounds inside), or why it may never be touched.
    pub judgement: Result<Permit, Refusal>,
    /// What was done about it.
    pub action: Action,
    /// Who it is (as read when it was found).
    pub identity: Option<ProcessIdentity>,
    /// The server profile that recognised it (`http-server`), for a
    /// [`LeakKind::Server`].
    pub profile: Option<String>,
    /// How long it had run when it was found.
    pub age: Option<std::time::Duration>,
    /// Whether it fails the run (the profile's `fail`; an allowed survivor never does).
    pub fails: bool,
    /// The `allow` pattern its command line matched: an intended survivor,
    /// reported, never touched, never a failure.
    pub allowed: Option<String>,
}

/// Why a leak (or what appeared beside the run) may never be touched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The judge's doubt (the first rule that failed), or that the run did
    /// not start it ([`Doubt::NotFromRun`]).
    Doubt(Doubt),
    /// A listener whose holder could not be found, with the socket's uid.
    HolderUnknown {
        /// The socket's owner.
        uid: u32,
    },
    /// A process that is not a dashboard.
    Foreign,
    /// spec-kitty's sync daemon.
    SyncDaemon,
    /// A server or process of the run whose kind the profile's `stop` does
    /// not name (by default only dashboards are stopped).
    NotStopped {
        /// `servers` or `processes`.
        kind: &'static str,
    },
    /// A command line an `allow` pattern matches: an intended survivor.
    Allowed {
        /// The pattern.
        pattern: String,
    },
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Doubt(doubt) => write!(f, "{doubt}"),
            Refusal::HolderUnknown { uid } => {
                write!(f, "its holder could not be found (socket uid {uid})")
            }
            Refusal::Foreign => f.write_str("not a dashboard: foreign processes are never stopped"),
            Refusal::SyncDaemon => f.write_str("spec-kitty's sync daemon is never stopped"),
            Refusal::NotStopped { kind } => write!(
                f,
                "{kind} are stopped only when the profile's `stop` names them"
            ),
            Refusal::Allowed { pattern } => write!(f, "allowed by the pattern {pattern:?}"),
        }
    }
}

impl Leak {
    /// True when this leak is a dashboard.
    pub fn is_dashboard(&self) -> bool {
        self.kind == LeakKind::Dashboard
    }

    /// True when it appeared but provably was not started by the run.
    pub fn not_from_run(&self) -> bool {
        self.doubt() == Some(&Doubt::NotFromRun)
    }

    /// The proof on which a dashboard may be stopped.
    pub fn grounds(&self) -> Option<&Grounds> {
        self.judgement.as_ref().ok().map(Permit::grounds)
    }

    /// Why it may not be touched, when the judge (or its origin) said so.
    pub fn doubt(&self) -> Option<&Doubt> {
        match &self.judgement {
            Err(Refusal::Doubt(doubt)) => Some(doubt),
            _ => None,
        }
    }

    /// The live process outside the run whose port reservation holds this
    /// dashboard (a kitty-fixtures test of another run).
    pub fn held_by(&self) -> Option<u32> {
        match self.doubt() {
            Some(Doubt::HeldByLiveOwner { owner }) => Some(*owner),
            _ => None,
        }
    }
}

/// Everything a run leaked, what appeared beside it, and the snapshot it was found in.
#[derive(Debug, Clone, Default)]
pub struct Leaks {
    /// The leaks, dashboards first, then by port.
    pub leaks: Vec<Leak>,
    /// What appeared during the run (or since the baseline) but was not
    /// started by it: reported, never touched, not a failure.
    pub appeared: Vec<Leak>,
    /// The listeners on the watched ports after the run.
    pub after: ListenerSnapshot,
}

impl Leaks {
    /// True when nothing leaked.
    pub fn is_empty(&self) -> bool {
        self.leaks.is_empty()
    }

    /// The leaks that fail the run (see [`Leak::fails`]).
    pub fn failing(&self) -> impl Iterator<Item = &Leak> {
        self.leaks.iter().filter(|l| l.fails)
    }

    /// What the leaks come to: none, some (stopped, left with `--no-reap`,
    /// or never to be touched), or a dashboard that could not be stopped.
    /// What merely appeared beside the run does not count.
    pub fn verdict(&self) -> Verdict {
        if self
            .leaks
            .iter()
            .any(|l| matches!(l.action, Action::Failed { .. }))
        {
            Verdict::StopFailed
        } else if self.failing().next().is_some() {
            Verdict::Leaked
        } else {
            Verdict::Clean
        }
    }
}

/// What a run's leaks come to (see [`Leaks::verdict`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing leaked.
    Clean,
    /// Something leaked; every leaked dashboard we could stop is stopped.
    Leaked,
    /// A leaked dashboard could not be stopped.
    StopFailed,
}

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
                    .or_else(|| s.signal().map(LeakcheckExitCode::of_signal))
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

/// What the run, `wrap` or `check` mode found and did: built once, at the
/// end of the mode, from what it saw (no mode parks values in it and reads
/// them back).
#[derive(Debug, Clone)]
pub struct RunFindings {
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
    /// the signal's ([`RunFindings::exit_code`]).
    pub cleanup_interrupted_by: Option<Signal>,
    /// The label the run's processes carry (`KITTY_LEAKCHECK_RUN`).
    pub run_label: Option<String>,
    /// The watched listeners before the run.
    pub before: ListenerSnapshot,
    /// What leaked (and what was done about it), and what appeared beside it.
    pub leaks: Leaks,
    /// When the mode began and how long it took (JUnit's `timestamp` and `time`).
    pub timing: Timing,
    /// The leaks the run's wrappers found and recorded, each with its test
    /// (`check`, and a run whose COMMAND ran nextest with leakcheck's
    /// scripts; empty otherwise). A leak a wrapper left running and that is
    /// found again here is in [`Leaks::leaks`] only.
    pub recorded: Vec<RecordedLeak>,
}

/// When a mode began (wall clock) and how long it ran (monotonic).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// When it began.
    pub started: std::time::SystemTime,
    /// How long it ran.
    pub elapsed: std::time::Duration,
}

impl Timing {
    /// A clock started now: [`Clock::stop`] gives the [`Timing`].
    pub fn start() -> Clock {
        Clock {
            started: std::time::SystemTime::now(),
            monotonic: std::time::Instant::now(),
        }
    }
}

/// A running [`Timing`].
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    started: std::time::SystemTime,
    monotonic: std::time::Instant,
}

impl Clock {
    /// The timing from the start until now.
    pub fn stop(&self) -> Timing {
        Timing {
            started: self.started,
            elapsed: self.monotonic.elapsed(),
        }
    }
}

impl RunFindings {
    /// The verdict.
    pub fn outcome(&self) -> Outcome {
        Outcome::of(self.command_status.as_ref(), self.verdict())
    }

    /// What the leaks come to, those the wrappers recorded included: a
    /// test that leaked under nextest fails `check` too.
    pub fn verdict(&self) -> Verdict {
        let recorded_failed = self
            .recorded
            .iter()
            .any(|r| r.result == RecordedResult::Failed);
        match self.leaks.verdict() {
            Verdict::StopFailed => Verdict::StopFailed,
            _ if recorded_failed => Verdict::StopFailed,
            Verdict::Clean if self.recorded.iter().any(|r| r.fails) => Verdict::Leaked,
            v => v,
        }
    }

    /// The status leakcheck exits with: `128 + N` when signal N interrupted
    /// the clean-up ([`RunFindings::cleanup_interrupted_by`]; it wins, as a shell
    /// reports a job it was told to end; `wrap` then re-raises the signal
    /// itself), else the outcome's ([`Outcome::exit_code`]).
    pub fn exit_code(&self) -> i32 {
        LeakcheckExitCode::after_cleanup(self.cleanup_interrupted_by, self.outcome().exit_code())
    }

    /// COMMAND as a shell line, tokens masked.
    pub fn command_line(&self) -> String {
        shell_line(&self.command)
    }

    /// The counts the JSON `summary` and the human last line give.
    pub fn summary(&self) -> Summary {
        let leaks = &self.leaks.leaks;
        let recorded = &self.recorded;
        let count = |f: &dyn Fn(&Leak) -> bool, g: &dyn Fn(&RecordedLeak) -> bool| {
            leaks.iter().filter(|l| f(l)).count() + recorded.iter().filter(|r| g(r)).count()
        };
        use RecordedResult as R;
        Summary {
            leaks: leaks.len() + recorded.len(),
            appeared: self.leaks.appeared.len(),
            dashboards: count(&|l| l.kind == LeakKind::Dashboard, &|r| {
                r.kind == LeakKind::Dashboard
            }),
            foreign: count(
                &|l| matches!(l.kind, LeakKind::Foreign | LeakKind::SyncDaemon),
                &|r| matches!(r.kind, LeakKind::Foreign | LeakKind::SyncDaemon),
            ),
            reaped: count(
                &|l| matches!(l.action, Action::Reaped { .. } | Action::AlreadyGone { .. }),
                &|r| matches!(r.result, R::Reaped | R::AlreadyGone),
            ),
            reap_failed: count(&|l| matches!(l.action, Action::Failed { .. }), &|r| {
                r.result == R::Failed
            }),
            left_alone: count(
                &|l| {
                    matches!(
                        l.action,
                        Action::LeftAlone { .. } | Action::NotReaped { .. }
                    )
                },
                &|r| matches!(r.result, R::LeftAlone | R::NotReaped),
            ),
            recorded: recorded.len(),
            failing: count(&|l| l.fails, &|r| r.fails),
            allowed: leaks.iter().filter(|l| l.allowed.is_some()).count(),
            processes: count(
                &|l| matches!(l.kind, LeakKind::Server | LeakKind::Process),
                &|r| matches!(r.kind, LeakKind::Server | LeakKind::Process),
            ),
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
    /// Of the leaks, those the run's wrappers found and recorded (each
    /// already failed its test under nextest).
    pub recorded: usize,
    /// Of the leaks, those that fail the run (the profile's `fail`).
    pub failing: usize,
    /// Of the leaks, the intended survivors an `allow` pattern names.
    pub allowed: usize,
    /// Of the leaks, servers and other processes (not dashboards or listeners).
    pub processes: usize,
}

/// How COMMAND ended (or why it never started).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandStatus {
    /// It ran and ended so.
    Ran(ExitStatus),
    /// It was not found (exit status 127).
    NotFound,
    /// It exists but could not be executed (exit status 126); the OS error.
    NotExecutable(String),
}

impl CommandStatus {
    /// True when it exited 0.
    pub fn passed(&self) -> bool {
        matches!(self, CommandStatus::Ran(s) if s.success())
    }

    /// True when it ran at all.
    pub fn started(&self) -> bool {
        matches!(self, CommandStatus::Ran(_))
    }

    /// The signal that ended it, if one did.
    pub fn signal(&self) -> Option<i32> {
        use std::os::unix::process::ExitStatusExt;
        match self {
            CommandStatus::Ran(s) => s.signal(),
            _ => None,
        }
    }

    /// Its exit code, if it exited.
    pub fn code(&self) -> Option<i32> {
        match self {
            CommandStatus::Ran(s) => s.code(),
            _ => None,
        }
    }
}

/// `argv` as a shell would need it typed (single quotes where needed), tokens
/// masked; bytes that are not UTF-8 shown as U+FFFD.
pub fn shell_line(argv: &[OsString]) -> String {
    let quote = |a: &OsString| {
        let a = a.to_string_lossy();
        let plain = !a.is_empty()
            && a.chars()
                .all(|c| c.is_ascii_alphanumeric() || "_@%+=:,./-<>".contains(c));
        if plain {
            a.into_owned()
        } else {
            format!("'{}'", a.replace('\'', r"'\''"))
        }
    };
    mask_tokens(&argv.iter().map(quote).collect::<Vec<_>>().join(" "))
}

/// What a mode tells as it happens, for `main` to print at once under `-v`
/// (COMMAND's own output is still going past: it cannot wait for the report).
#[derive(Debug, Clone, Copy)]
pub enum Notice<'a> {
    /// A signal passed on to COMMAND.
    ForwardedToCommand {
        /// The signal.
        signal: Signal,
        /// COMMAND as a shell line, tokens masked.
        command_line: &'a str,
        /// Its pid.
        pid: u32,
    },
    /// A signal passed on to a process of the run in leakcheck's own process group.
    ForwardedToGroup {
        /// The signal.
        signal: Signal,
        /// Its pid.
        pid: u32,
    },
    /// Exited orphans of the run collected (`waitpid`) while COMMAND ran.
    OrphansCollected(usize),
}
