//! The report: human lines on stderr, a JSON object (versioned schema) on
//! stdout, and `::error` annotations on stdout under `GITHUB_ACTIONS=true`.
//!
//! Every mode fills one [`Report`] and calls [`emit`]. Everything printed
//! passes through [`mask_tokens`] as a last guard, on top of the command lines
//! that are masked when they are read.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::io::{IsTerminal, Write};

use kitty_fixtures::ports::PortSet;
use kitty_fixtures::probe::{Listener, ListenerSnapshot, mask_tokens};

use crate::cli::{ColorChoice, CommonArgs};
use crate::exit_codes::LeakcheckExitCode;
use crate::leaks::{Action, Leak, LeakKind, Leaks};

/// The version of the JSON report's schema. It changes only when a field is
/// removed or changes meaning; new fields may appear within a version.
pub const SCHEMA_VERSION: u32 = 1;

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

/// How COMMAND ended (or why it never started).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandStatus {
    /// It exited with this code.
    Exited(i32),
    /// A signal (this number) ended it.
    Signaled(i32),
    /// It was not found (exit status 127).
    NotFound,
    /// It exists but could not be executed (exit status 126); the OS error.
    NotExecutable(String),
}

impl CommandStatus {
    /// Decodes a raw `waitpid` status.
    pub fn from_wait_status(raw: i32) -> Self {
        if libc::WIFSIGNALED(raw) {
            CommandStatus::Signaled(libc::WTERMSIG(raw))
        } else {
            CommandStatus::Exited(libc::WEXITSTATUS(raw))
        }
    }

    /// True when it exited 0.
    pub fn passed(&self) -> bool {
        *self == CommandStatus::Exited(0)
    }

    /// True when it ran at all.
    pub fn started(&self) -> bool {
        matches!(self, CommandStatus::Exited(_) | CommandStatus::Signaled(_))
    }

    /// The status leakcheck exits with for it: its code, 128 + N for signal N,
    /// 127 not found, 126 not executable.
    pub fn exit_code(&self) -> i32 {
        match self {
            CommandStatus::Exited(c) => *c,
            CommandStatus::Signaled(n) => 128 + n,
            CommandStatus::NotFound => LeakcheckExitCode::COMMAND_NOT_FOUND,
            CommandStatus::NotExecutable(_) => LeakcheckExitCode::COMMAND_NOT_EXECUTABLE,
        }
    }

    fn describe(&self) -> String {
        match self {
            CommandStatus::Exited(c) => format!("exited with status {c}"),
            CommandStatus::Signaled(n) => format!("was killed by {}", signal_name(*n)),
            CommandStatus::NotFound => "was not found".into(),
            CommandStatus::NotExecutable(e) => format!("could not be executed: {e}"),
        }
    }
}

/// What nextest means by its exit code, when COMMAND is `cargo nextest`
/// (leakcheck passes the code on unchanged; this only names it).
fn nextest_meaning(command: &str, status: &CommandStatus) -> Option<String> {
    use nextest_metadata::NextestExitCode as N;
    let CommandStatus::Exited(code) = status else {
        return None;
    };
    if !command.contains("nextest") {
        return None;
    }
    let name = match *code {
        N::TEST_RUN_FAILED => "a test failed",
        N::SETUP_SCRIPT_FAILED => "a setup script failed",
        N::BUILD_FAILED => "the build failed",
        N::NO_TESTS_RUN => "no tests ran",
        N::INCOMPLETE_RUN => "the run was cancelled",
        N::EXPERIMENTAL_FEATURE_NOT_ENABLED => "an experimental feature is not enabled",
        N::TEST_LIST_CREATION_FAILED => "listing the tests failed",
        _ => return None,
    };
    Some(format!(" (nextest: {name})"))
}

/// The name of signal `n` (`SIGINT`), or `signal N`.
pub fn signal_name(n: i32) -> String {
    let name = match n {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGABRT => "SIGABRT",
        libc::SIGKILL => "SIGKILL",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGTERM => "SIGTERM",
        _ => return format!("signal {n}"),
    };
    name.to_string()
}

/// The overall verdict, the `outcome` field of the JSON report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// COMMAND passed (or there was none) and nothing leaked.
    Ok,
    /// COMMAND passed but something leaked.
    Leaked,
    /// COMMAND passed but a leaked dashboard could not be stopped.
    ReapFailed,
    /// COMMAND failed; leaks, if any, were still reported and reaped.
    CommandFailed,
    /// COMMAND was not found; nothing was checked or reaped.
    CommandNotFound,
    /// COMMAND could not be executed; nothing was checked or reaped.
    CommandNotExecutable,
}

/// One report of one mode. Fill the public fields, then call [`emit`];
/// [`Report::exit_code`] is the status to exit with.
///
/// # JSON schema, version 1
///
/// With `--json` (or `--message-format json`) the report is printed on
/// **stdout** as one JSON object on **one line, the last line leakcheck
/// prints** (COMMAND shares stdout, so read the last line). Tokens are masked
/// as `<token>` everywhere. Fields may be added within a version; none is
/// removed or changes meaning without a new `schema_version`.
///
/// ```text
/// {
///   "schema_version": 1,
///   "tool": "cargo-kitty-leakcheck",
///   "tool_version": "0.1.0",
///   "mode": "run" | "wrap" | "check",
///   "ports": "9237-9337",                   // the watched set, as --ports spells it
///   "command": ["cargo", "test"],           // [] in check mode
///   "command_status": null | {              // null in check mode
///     "started": bool,                      // false: not found / not executable
///     "code": int | null,                   // its exit code when it exited
///     "signal": "SIGINT" | null,            // the signal that ended it
///     "error": string | null                // why it could not start
///   },
///   "interrupted_by": "SIGINT" | null,      // a signal leakcheck received and forwarded
///   "exit_code": int,                       // leakcheck's own exit status
///   "outcome": "ok" | "leaked" | "reap-failed" | "command-failed"
///            | "command-not-found" | "command-not-executable",
///   "before": [Listener],                   // watched listeners before the run
///   "after":  [Listener],                   // watched listeners after it, before reaping
///   "leaks": [{
///     "kind": "dashboard" | "foreign" | "sync-daemon",
///     "pid": int | null,                    // null: the socket's holder was not found
///     "port": int | null,                   // first new listener, else the port its command names
///     "listeners": [Listener],              // its new listeners on watched ports
///     "command_line": string | null,        // tokens masked
///     "project_dir": string | null,         // dashboards only
///     "project_exists": bool | null,
///     "class": null | {"class": "orphan", "reason": "project-gone"}
///            | {"class": "orphan", "reason": "owner-dead", "owner_pid": int}
///            | {"class": "unrecorded"} | {"class": "live"},
///     "health": bool | null,              // its /api/health names that project (second opinion); null: no answer
///     "health": bool | null,                // its /api/health names that project; null: no answer
///     "from_run": bool,                     // descends from the run
///     "held_by": int | null,                // live reservation owner outside the run (never stopped)
///     "test": null | {"name": string | null, "binary_id": string | null},
///     "action": {"result": "pending"}                              // not reaped yet
///             | {"result": "left-alone", "reason": string}         // never touched
///             | {"result": "not-reaped", "reason": "--no-reap"}
///             | {"result": "reaped", "pid": int, "signal": "SIGTERM" | "SIGKILL",
///                "escalated": bool, "group": bool, "elapsed_ms": float,
///                "dashboard_file_removed": bool}
///             | {"result": "already-gone", "dashboard_file_removed": bool}
///             | {"result": "failed", "error": string}
///   }],
///   "summary": {"leaks": int, "dashboards": int, "foreign": int,
///               "reaped": int, "reap_failed": int, "left_alone": int}
/// }
/// Listener = {"port": int, "addr": "127.0.0.1" | "::1" | ..., "inode": int, "uid": int}
/// ```
///
/// `summary.foreign` counts every leak that is not a dashboard (foreign
/// listeners and the sync daemon): they fail a passing run like dashboards
/// do (status 3) but are never stopped. The README's "JSON report" section
/// repeats this with an example.
#[derive(Debug, Clone)]
pub struct Report {
    /// Which mode.
    pub mode: ReportMode,
    /// The watched ports.
    pub ports: PortSet,
    /// COMMAND, masked (empty in `check` mode).
    pub command: Vec<String>,
    /// How COMMAND ended; `None` in `check` mode.
    pub command_status: Option<CommandStatus>,
    /// The signal leakcheck received from a process and forwarded to COMMAND.
    pub interrupted_by: Option<i32>,
    /// The label the run's processes carry (`KITTY_LEAKCHECK_RUN`).
    pub run_label: Option<String>,
    /// The watched listeners before the run.
    pub before: ListenerSnapshot,
    /// What leaked (and, after reaping, what was done about it).
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

    /// Sets COMMAND (masked; non-UTF-8 bytes replaced).
    pub fn with_command(mut self, argv: &[OsString]) -> Self {
        self.command = argv
            .iter()
            .map(|a| mask_tokens(&a.to_string_lossy()))
            .collect();
        self
    }

    /// The verdict.
    pub fn outcome(&self) -> Outcome {
        match &self.command_status {
            Some(CommandStatus::NotFound) => Outcome::CommandNotFound,
            Some(CommandStatus::NotExecutable(_)) => Outcome::CommandNotExecutable,
            Some(s) if !s.passed() => Outcome::CommandFailed,
            _ => match self.leaks.status() {
                LeakcheckExitCode::OK => Outcome::Ok,
                LeakcheckExitCode::REAP_FAILED => Outcome::ReapFailed,
                _ => Outcome::Leaked,
            },
        }
    }

    /// The status to exit with: COMMAND's own when it failed (128 + N for a
    /// signal, 127/126 when it could not start), else what the leaks call for
    /// ([`Leaks::status`]).
    pub fn exit_code(&self) -> i32 {
        match &self.command_status {
            Some(s) if !s.passed() => s.exit_code(),
            _ => self.leaks.status(),
        }
    }

    fn summary(&self) -> Summary {
        let leaks = &self.leaks.leaks;
        let count = |f: &dyn Fn(&Leak) -> bool| leaks.iter().filter(|l| f(l)).count();
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

    /// The report as one line of JSON (schema [`SCHEMA_VERSION`]), tokens masked.
    pub fn to_json(&self) -> String {
        let status = self.command_status.as_ref().map(|s| JsonStatus {
            started: s.started(),
            code: match s {
                CommandStatus::Exited(c) => Some(*c),
                _ => None,
            },
            signal: match s {
                CommandStatus::Signaled(n) => Some(signal_name(*n)),
                _ => None,
            },
            error: match s {
                CommandStatus::NotFound => Some("command not found".to_string()),
                CommandStatus::NotExecutable(e) => Some(e.clone()),
                _ => None,
            },
        });
        let json = JsonReport {
            schema_version: SCHEMA_VERSION,
            tool: env!("CARGO_PKG_NAME"),
            tool_version: env!("CARGO_PKG_VERSION"),
            mode: self.mode,
            ports: self.ports.to_string(),
            command: &self.command,
            command_status: status,
            interrupted_by: self.interrupted_by.map(signal_name),
            exit_code: self.exit_code(),
            outcome: self.outcome(),
            before: self.before.listeners(),
            after: self.leaks.after.listeners(),
            leaks: &self.leaks.leaks,
            appeared: &self.leaks.appeared,
            run_label: self.run_label.as_deref(),
            summary: self.summary(),
        };
        let text = serde_json::to_string(&json).unwrap_or_else(|e| {
            format!(r#"{{"schema_version":{SCHEMA_VERSION},"error":"cannot serialize the report: {e}"}}"#)
        });
        mask_tokens(&text)
    }

    /// The human report (one string, lines ending in `\n`), tokens masked.
    pub fn to_human(&self, style: &Style, quiet: bool, verbose: bool) -> String {
        let mut out = String::new();
        let tag = "kitty-leakcheck:";
        let command = shell_words(&self.command);
        if let Some(s @ (CommandStatus::NotFound | CommandStatus::NotExecutable(_))) =
            &self.command_status
        {
            let _ = writeln!(
                out,
                "{tag} {} `{command}` {}",
                style.error("error:"),
                s.describe()
            );
            return mask_tokens(&out);
        }
        if verbose {
            let _ = writeln!(out, "{tag} watched ports {}", self.ports);
            list_listeners(&mut out, tag, "before", self.before.listeners());
            list_listeners(&mut out, tag, "after", self.leaks.after.listeners());
        }
        for leak in &self.leaks.leaks {
            if self.mode == ReportMode::Wrap && !verbose {
                // nextest shows this under the failed test: one line per leak.
                blame_line(&mut out, tag, style, leak);
            } else {
                describe_leak(&mut out, tag, style, leak);
            }
        }
        for seen in &self.leaks.appeared {
            let when = match self.mode {
                ReportMode::Check => "since the baseline",
                _ => "during the run",
            };
            let _ = writeln!(
                out,
                "{tag} {} {} appeared {when} but was not started by it; left alone{}",
                style.warn("note:"),
                headline(seen),
                seen.project_dir
                    .as_ref()
                    .map(|d| format!(" (project {})", d.display()))
                    .unwrap_or_default(),
            );
        }
        let interrupted = self
            .interrupted_by
            .map(|n| format!(" (interrupted: {} forwarded)", signal_name(n)));
        let ran = match &self.command_status {
            Some(s) => format!(
                "`{command}` {}{}{}",
                s.describe(),
                nextest_meaning(&command, s).unwrap_or_default(),
                interrupted.unwrap_or_default()
            ),
            None => "the check".into(),
        };
        let code = self.exit_code();
        let sum = self.summary();
        if sum.leaks == 0 {
            if !quiet {
                let _ = writeln!(
                    out,
                    "{tag} {} nothing leaked on ports {}; {ran}",
                    style.ok("ok:"),
                    self.ports
                );
            }
        } else {
            let _ = writeln!(
                out,
                "{tag} {} {} leak{} on ports {} ({} dashboard{}, {} foreign): {} reaped, {} left alone, {} \
                 could not be stopped; {ran}; exit status {code}",
                style.error("error:"),
                sum.leaks,
                plural(sum.leaks),
                self.ports,
                sum.dashboards,
                plural(sum.dashboards),
                sum.foreign,
                sum.reaped,
                sum.left_alone,
                sum.reap_failed,
            );
        }
        mask_tokens(&out)
    }

    /// GitHub Actions `::error` workflow commands, one per leak.
    pub fn to_github_annotations(&self) -> String {
        let mut out = String::new();
        for leak in &self.leaks.leaks {
            let mut msg = headline(leak);
            if let Some(dir) = &leak.project_dir {
                let _ = write!(msg, "; project {}", dir.display());
            }
            if let Some(t) = leak.test.as_ref().and_then(|t| t.name.as_deref()) {
                let _ = write!(msg, "; test {t}");
            }
            let _ = write!(msg, "; {}", action_text(&leak.action));
            let _ = writeln!(
                out,
                "::error title={}::{}",
                escape_property("kitty-leakcheck: leak"),
                escape_data(&mask_tokens(&msg))
            );
        }
        out
    }
}

#[derive(serde::Serialize)]
struct JsonStatus {
    started: bool,
    code: Option<i32>,
    signal: Option<String>,
    error: Option<String>,
}

#[derive(Debug, Clone, Copy, serde::Serialize)]
struct Summary {
    leaks: usize,
    appeared: usize,
    dashboards: usize,
    foreign: usize,
    reaped: usize,
    reap_failed: usize,
    left_alone: usize,
}

#[derive(serde::Serialize)]
struct JsonReport<'a> {
    schema_version: u32,
    tool: &'static str,
    tool_version: &'static str,
    mode: ReportMode,
    ports: String,
    command: &'a [String],
    command_status: Option<JsonStatus>,
    interrupted_by: Option<String>,
    exit_code: i32,
    outcome: Outcome,
    before: &'a [Listener],
    after: &'a [Listener],
    leaks: &'a [Leak],
    appeared: &'a [Leak],
    run_label: Option<&'a str>,
    summary: Summary,
}

/// Prints `report` as the common options ask: the human report on stderr
/// (or, with `--json`, the JSON line on stdout), preceded by `::error`
/// annotations on stdout when `GITHUB_ACTIONS=true`.
pub fn emit(report: &Report, common: &CommonArgs) {
    let mut stdout = std::io::stdout().lock();
    if std::env::var_os("GITHUB_ACTIONS").is_some_and(|v| v == "true") {
        let _ = stdout.write_all(report.to_github_annotations().as_bytes());
    }
    if common.json() {
        let _ = writeln!(stdout, "{}", report.to_json());
        let _ = stdout.flush();
        // COMMAND-could-not-start is also said on stderr, for people.
        if report.command_status.as_ref().is_some_and(|s| !s.started()) {
            eprint!("{}", report.to_human(&Style::plain(), true, false));
        }
        return;
    }
    let _ = stdout.flush();
    let style = Style::new(color_enabled(common.color));
    eprint!("{}", report.to_human(&style, common.quiet, common.verbose));
}

/// Whether to colour the human report: `--color` first, then
/// `CARGO_TERM_COLOR` (`always`/`never`/`auto`), then `auto`, which colours
/// only when stderr is a terminal and `NO_COLOR` is unset or empty.
pub fn color_enabled(flag: Option<ColorChoice>) -> bool {
    let env = |k: &str| std::env::var(k).ok();
    color_decision(
        flag,
        env("CARGO_TERM_COLOR").as_deref(),
        env("NO_COLOR").as_deref(),
        std::io::stderr().is_terminal(),
    )
}

fn color_decision(
    flag: Option<ColorChoice>,
    cargo_term_color: Option<&str>,
    no_color: Option<&str>,
    tty: bool,
) -> bool {
    let choice = flag.or(match cargo_term_color {
        Some("always") => Some(ColorChoice::Always),
        Some("never") => Some(ColorChoice::Never),
        _ => None,
    });
    match choice {
        Some(ColorChoice::Always) => true,
        Some(ColorChoice::Never) => false,
        Some(ColorChoice::Auto) | None => tty && no_color.is_none_or(str::is_empty),
    }
}

/// ANSI styling for the human report (or none).
#[derive(Debug, Clone, Copy)]
pub struct Style {
    color: bool,
}

impl Style {
    /// Colours when `color`.
    pub fn new(color: bool) -> Self {
        Style { color }
    }
    /// No colour.
    pub fn plain() -> Self {
        Style { color: false }
    }
    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
    /// Bold red.
    pub fn error(&self, text: &str) -> String {
        self.paint("1;31", text)
    }
    /// Bold green.
    pub fn ok(&self, text: &str) -> String {
        self.paint("1;32", text)
    }
    /// Bold yellow.
    pub fn warn(&self, text: &str) -> String {
        self.paint("1;33", text)
    }
    /// Dim.
    pub fn dim(&self, text: &str) -> String {
        self.paint("2", text)
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// `argv` as a shell would need it typed (single quotes where needed).
fn shell_words(argv: &[String]) -> String {
    let quote = |a: &String| {
        let plain = !a.is_empty()
            && a.chars()
                .all(|c| c.is_ascii_alphanumeric() || "_@%+=:,./-<>".contains(c));
        if plain {
            a.clone()
        } else {
            format!("'{}'", a.replace('\'', r"'\''"))
        }
    };
    argv.iter().map(quote).collect::<Vec<_>>().join(" ")
}

fn list_listeners(out: &mut String, tag: &str, when: &str, listeners: &[Listener]) {
    let _ = writeln!(
        out,
        "{tag} {when}: {} listener{}",
        listeners.len(),
        plural(listeners.len())
    );
    for l in listeners {
        let _ = writeln!(
            out,
            "  {}:{} inode {} uid {}",
            l.addr, l.port, l.inode, l.uid
        );
    }
}

fn headline(leak: &Leak) -> String {
    let what = match leak.kind {
        LeakKind::Dashboard => "dashboard",
        LeakKind::SyncDaemon => "sync daemon",
        LeakKind::Foreign => "foreign listener",
    };
    let who = leak.pid.map(|p| format!(" pid {p}")).unwrap_or_default();
    let on = if leak.listeners.is_empty() {
        match leak.port {
            Some(p) => format!(" (not listening on a watched port; told to use port {p})"),
            None => " (not listening on a watched port)".to_string(),
        }
    } else {
        let addrs: Vec<String> = leak
            .listeners
            .iter()
            .map(|l| format!("{}:{}", l.addr, l.port))
            .collect();
        format!(" on {}", addrs.join(", "))
    };
    let origin = if leak.from_run {
        ", started by the run"
    } else {
        ", not a descendant of the run"
    };
    format!("{what}{who}{on}{origin}")
}

fn action_text(action: &Action) -> String {
    match action {
        Action::Pending => "not reaped".into(),
        Action::LeftAlone { reason } => format!("left alone: {reason}"),
        Action::NotReaped { reason } => format!("not reaped ({reason})"),
        Action::Reaped {
            stopped,
            dashboard_file_removed,
        } => {
            let target = if stopped.group {
                "its process group"
            } else {
                "it"
            };
            let signal = match (stopped.signal, stopped.escalated) {
                (Some(s), true) => format!("SIGTERM then {s}"),
                (Some(s), false) => s.to_string(),
                (None, _) => "no signal".into(),
            };
            let file = if *dashboard_file_removed {
                "; removed its .kittify/.dashboard"
            } else {
                ""
            };
            format!(
                "reaped: {signal} to {target}, gone and port free after {:.1} ms{file}",
                stopped.elapsed.as_secs_f64() * 1000.0
            )
        }
        Action::AlreadyGone {
            dashboard_file_removed,
        } => {
            let file = if *dashboard_file_removed {
                "; removed its .kittify/.dashboard"
            } else {
                ""
            };
            format!("already gone{file}")
        }
        Action::Failed { error } => format!("could not be stopped: {error}"),
    }
}

fn describe_leak(out: &mut String, tag: &str, style: &Style, leak: &Leak) {
    let _ = writeln!(out, "{tag} {} {}", style.error("LEAK:"), headline(leak));
    if let Some(cmd) = &leak.command_line {
        let _ = writeln!(out, "  {} {cmd}", style.dim("command:"));
    }
    if let Some(dir) = &leak.project_dir {
        let state = match leak.project_exists {
            Some(true) => "exists",
            Some(false) => "gone",
            None => "unknown",
        };
        let _ = writeln!(
            out,
            "  {} {} ({state})",
            style.dim("project:"),
            dir.display()
        );
        let health = match leak.health {
            Some(true) => Some("its /api/health names this project too"),
            Some(false) => Some("its /api/health names another project"),
            None => None,
        };
        if let Some(h) = health {
            let _ = writeln!(out, "  {} {h}", style.dim("health:"));
        }
    }
    if let Some(t) = &leak.test {
        let name = t.name.as_deref().unwrap_or("?");
        let bin = t
            .binary_id
            .as_deref()
            .map(|b| format!(" in {b}"))
            .unwrap_or_default();
        let _ = writeln!(out, "  {} {name}{bin}", style.dim("test:"));
    }
    let text = action_text(&leak.action);
    let text = match leak.action {
        Action::Failed { .. } => style.error(&text),
        Action::LeftAlone { .. } | Action::NotReaped { .. } => style.warn(&text),
        _ => text,
    };
    let _ = writeln!(out, "  {} {text}", style.dim("action:"));
}

/// One line naming the test, the port, the pid and the project (`wrap` mode).
fn blame_line(out: &mut String, tag: &str, style: &Style, leak: &Leak) {
    let test = match &leak.test {
        Some(t) => {
            let bin = t
                .binary_id
                .as_deref()
                .map(|b| format!(" in {b}"))
                .unwrap_or_default();
            format!("test {}{bin} leaked a ", t.name.as_deref().unwrap_or("?"))
        }
        None => String::new(),
    };
    let project = match (&leak.project_dir, leak.project_exists) {
        (Some(dir), Some(false)) => format!("; project {} (gone)", dir.display()),
        (Some(dir), _) => format!("; project {}", dir.display()),
        (None, _) => String::new(),
    };
    let _ = writeln!(
        out,
        "{tag} {} {test}{}{project}; {}",
        style.error("LEAK:"),
        headline(leak),
        action_text(&leak.action)
    );
}

/// Escapes the message of a workflow command.
fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a property of a workflow command.
fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::leaks::TestLabel;

    const TOKEN: &str = "0123456789abcdef0123456789abcdef";

    fn leak() -> Leak {
        Leak {
            kind: LeakKind::Dashboard,
            pid: Some(4242),
            port: Some(9240),
            listeners: vec![Listener {
                port: 9240,
                addr: [127, 0, 0, 1].into(),
                inode: 7,
                uid: 1000,
            }],
            command_line: Some(format!(
                "python -m specify_cli.dashboard._server_main /tmp/p 9240 {TOKEN}"
            )),
            project_dir: Some("/tmp/p".into()),
            project_exists: Some(false),
            class: None,
            health: Some(true),
            from_run: true,
            carries_label: false,
            held_by: None,
            grounds: None,
            doubt: None,
            test: Some(TestLabel {
                name: Some("leaks_one".into()),
                binary_id: Some("mini::it".into()),
            }),
            action: Action::Failed {
                error: format!("token {TOKEN}"),
            },
            identity: None,
        }
    }

    fn report() -> Report {
        let mut r = Report::new(ReportMode::Run, &"9237-9337".parse().expect("ports"))
            .with_command(&["cargo".into(), "test".into(), TOKEN.into()]);
        r.command_status = Some(CommandStatus::Exited(0));
        r.leaks.leaks.push(leak());
        r
    }

    #[test]
    fn json_is_versioned_and_token_free() {
        let r = report();
        let text = r.to_json();
        assert!(!text.contains(TOKEN), "{text}");
        assert!(!text.contains('\n'));
        let v: serde_json::Value = serde_json::from_str(&text).expect("json");
        assert_eq!(v["schema_version"], 1);
        assert_eq!(v["outcome"], "reap-failed");
        assert_eq!(v["exit_code"], LeakcheckExitCode::REAP_FAILED);
        assert_eq!(v["leaks"][0]["kind"], "dashboard");
        assert_eq!(v["leaks"][0]["project_exists"], false);
        assert_eq!(v["leaks"][0]["test"]["name"], "leaks_one");
        assert_eq!(v["leaks"][0]["action"]["result"], "failed");
        assert_eq!(v["command_status"]["code"], 0);
        assert_eq!(v["summary"]["reap_failed"], 1);
    }

    #[test]
    fn a_failed_command_keeps_its_status() {
        let mut r = report();
        r.command_status = Some(CommandStatus::Signaled(libc::SIGINT));
        assert_eq!(r.exit_code(), 130);
        assert_eq!(r.outcome(), Outcome::CommandFailed);
        r.command_status = Some(CommandStatus::NotFound);
        assert_eq!(r.exit_code(), 127);
        let human = r.to_human(&Style::plain(), false, false);
        assert_eq!(human.lines().count(), 1, "{human}");
    }

    #[test]
    fn human_and_annotations_are_token_free() {
        let r = report();
        let human = r.to_human(&Style::new(true), false, true);
        assert!(
            !human.contains(TOKEN) && human.contains("LEAK:") && human.contains("leaks_one"),
            "{human}"
        );
        let gh = r.to_github_annotations();
        assert!(
            gh.starts_with("::error title=kitty-leakcheck%3A leak::dashboard pid 4242"),
            "{gh}"
        );
        assert!(!gh.contains(TOKEN));
        assert_eq!(escape_data("a%b\nc"), "a%25b%0Ac");
    }

    #[test]
    fn colour_precedence() {
        assert!(color_decision(
            Some(ColorChoice::Always),
            Some("never"),
            Some("1"),
            false
        ));
        assert!(!color_decision(Some(ColorChoice::Never), None, None, true));
        assert!(color_decision(None, Some("always"), Some("1"), false));
        assert!(!color_decision(None, None, Some("1"), true));
        assert!(color_decision(None, None, Some(""), true));
        assert!(!color_decision(None, Some("auto"), None, false));
    }

    #[test]
    fn nextest_codes_are_named_only_for_nextest() {
        let failed = CommandStatus::Exited(nextest_metadata::NextestExitCode::TEST_RUN_FAILED);
        assert_eq!(
            nextest_meaning("cargo nextest run", &failed).as_deref(),
            Some(" (nextest: a test failed)")
        );
        assert_eq!(nextest_meaning("cargo test", &failed), None);
        assert_eq!(
            nextest_meaning("cargo nextest run", &CommandStatus::Exited(0)),
            None
        );
    }
}
