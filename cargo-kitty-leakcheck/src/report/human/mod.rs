//! The human report: lines for people, tokens masked.

use std::fmt::Write as _;

use kitty_core::sys::signal_name;
use kitty_core::{Listener, mask_tokens};

use super::Verbosity;
use super::rows::LeakRow;
use super::style;
use super::visible::{visible, visible_path};
use crate::findings::Snapshot;
use crate::findings::run::{
    Action, CommandStatus, Leak, LeakKind, Notice, ReportMode, RunFindings, TestLabel,
};

mod sweep;

pub use sweep::{sweep_listing, sweep_question, sweep_result};

const TAG: &str = "kitty-leakcheck:";

/// The README section a leak's hint points to: the two ways to leak nothing.
pub(crate) const FIX_SECTION: &str = "cargo-kitty-leakcheck/README.md#fixing-a-leak";

/// What to do about a leak of `kind`, in one line (the human report gives
/// it under each leak).
pub(crate) fn fix_hint(kind: LeakKind) -> String {
    match kind {
        LeakKind::Dashboard => format!(
            "start the dashboard through kitty-fixtures (dropping the project stops it), \
             or stop it in the test (`spec-kitty dashboard --kill`); see {FIX_SECTION}"
        ),
        LeakKind::SyncDaemon => format!(
            "stop spec-kitty's sync daemon in the test that started it (leakcheck never does); \
             see {FIX_SECTION}"
        ),
        LeakKind::Foreign => format!(
            "close this listener (or stop its process) before the test ends; see {FIX_SECTION}"
        ),
        LeakKind::Server | LeakKind::Process => format!(
            "stop (and wait for) what the test started before it ends, or name it in `allow` \
             (.config/kitty-leakcheck.toml) if it is meant to outlive the run; see {FIX_SECTION}"
        ),
    }
}

/// The report of the run, `wrap` or `check` mode (lines ending in `\n`).
pub fn report(report: &RunFindings, verbosity: Verbosity) -> String {
    let mut out = String::new();
    // Process data (COMMAND, command lines, paths, test names, errors) is
    // shown through `visible`: no control character reaches the terminal.
    let command = visible(&report.command_line()).into_owned();
    if let Some(s @ (CommandStatus::NotFound | CommandStatus::NotExecutable(_))) =
        &report.command_status
    {
        let _ = writeln!(
            out,
            "{TAG} {} `{command}` {}",
            style::error("error:"),
            describe_status(s)
        );
        return mask_tokens(&out);
    }
    let verbose = verbosity >= Verbosity::Verbose;
    if verbose {
        let _ = writeln!(out, "{TAG} watched ports {}", report.ports);
        list_listeners(&mut out, "before", report.before.listeners());
        list_listeners(&mut out, "after", report.leaks.after.listeners());
    }
    for leak in &report.leaks.leaks {
        if !leak.fails {
            // Reported, not a failure: an allowed survivor, or a kind the
            // profile's `fail` does not name (by default servers and other
            // processes).
            let _ = writeln!(
                out,
                "{TAG} {} left by the run, not a failure: {}; {}",
                style::warn("note:"),
                headline(leak),
                action_text(&leak.action)
            );
            if verbose && let Some(cmd) = &leak.command_line {
                let _ = writeln!(out, "  {} {}", style::dim("command:"), visible(cmd));
            }
            continue;
        }
        if report.mode == ReportMode::Wrap && !verbose {
            // nextest shows this under the failed test: one line per leak.
            blame_line(&mut out, leak);
        } else {
            describe_leak(&mut out, leak, verbosity);
        }
    }
    // What the run's nextest wrappers found, stopped and recorded: each
    // already failed its test; here it is counted with the run's.
    for recorded in &report.recorded {
        let row = LeakRow::of_recorded(recorded);
        let project = row
            .project
            .as_ref()
            .map(|p| format!("; project {p}"))
            .unwrap_or_default();
        let done = format!("its wrapper: {}", row.done);
        blame(
            &mut out,
            row.test.as_ref(),
            &row.headline,
            &project,
            &done,
            row.kind,
        );
    }
    for seen in &report.leaks.appeared {
        let when = match report.mode {
            ReportMode::Check => "since the baseline",
            _ => "during the run",
        };
        let project = seen
            .project_dir
            .as_ref()
            .map(|d| format!(" (project {})", visible_path(d)))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "{TAG} {} {} appeared {when} but was not started by it; left alone{project}",
            style::warn("note:"),
            headline(seen),
        );
    }
    // `; `cargo test` exited with status 0`, or nothing for `check` (it ran
    // no COMMAND); then a signal that came during the clean-up.
    let failed = report.command_status.as_ref().is_some_and(|s| !s.passed());
    let ran = match &report.command_status {
        Some(s) => {
            let interrupted = report
                .interrupted_by
                .map(|n| format!(" (interrupted: {} forwarded)", signal_name(n.as_raw())))
                .unwrap_or_default();
            let how = if failed {
                describe_failure(s)
            } else {
                describe_status(s)
            };
            format!(
                "; `{command}` {how}{}{interrupted}",
                nextest_meaning(&command, s).unwrap_or_default(),
            )
        }
        None => String::new(),
    } + &cleanup_line(report);
    let since = match report.mode {
        ReportMode::Check => " since the baseline",
        _ => "",
    };
    let sum = report.summary();
    if sum.failing == 0 {
        if verbosity > Verbosity::Quiet && failed {
            // Not "ok": COMMAND failed, and a leak the tests reported
            // themselves (a nextest wrapper's) is theirs to show.
            let beyond = match report.mode {
                ReportMode::Run => " beyond what the tests themselves reported",
                _ => "",
            };
            let _ = writeln!(
                out,
                "{TAG} {} nothing leaked on ports {}{beyond}{ran}",
                style::warn("note:"),
                report.ports
            );
        } else if verbosity > Verbosity::Quiet {
            let _ = writeln!(
                out,
                "{TAG} {} nothing leaked on ports {}{since}{ran}",
                style::ok("ok:"),
                report.ports
            );
        }
    } else {
        let _ = writeln!(
            out,
            "{TAG} {} {} leak{} on ports {}{since} ({} dashboard{}, {} foreign{}): {} reaped, {} left alone, {} \
             could not be stopped{ran}; exit status {}",
            style::error("error:"),
            sum.leaks,
            plural(sum.leaks),
            report.ports,
            sum.dashboards,
            plural(sum.dashboards),
            sum.foreign,
            if sum.processes > 0 {
                format!(
                    ", {} server{} or process{}",
                    sum.processes,
                    plural(sum.processes),
                    if sum.processes == 1 { "" } else { "es" }
                )
            } else {
                String::new()
            },
            sum.reaped,
            sum.left_alone,
            sum.reap_failed,
            report.exit_code(),
        );
        let unnamed = report.leaks.leaks.iter().any(|l| l.test.is_none());
        if unnamed && report.mode != ReportMode::Wrap && verbosity > Verbosity::Quiet {
            let _ = writeln!(
                out,
                "{TAG} {} to name the test that leaked each dashboard, run the tests with cargo nextest \
                 and the kitty-leakcheck wrapper script (cargo-kitty-leakcheck README: \"nextest: blame the exact test\")",
                style::dim("hint:")
            );
        }
    }
    mask_tokens(&out)
}

/// `; SIGTERM came during the clean-up: finished it, exit status 143`.
fn cleanup_line(report: &RunFindings) -> String {
    report
        .cleanup_interrupted_by
        .map(|n| {
            format!(
                "; {} came during the clean-up: finished it, exit status {}",
                signal_name(n.as_raw()),
                report.exit_code()
            )
        })
        .unwrap_or_default()
}

/// How a COMMAND that did not pass ended: `failed with status 100`, `was
/// killed by SIGSEGV`.
fn describe_failure(s: &CommandStatus) -> String {
    match (s, s.code()) {
        (CommandStatus::Ran(_), Some(c)) => format!("failed with status {c}"),
        _ => describe_status(s),
    }
}

fn describe_status(s: &CommandStatus) -> String {
    match s {
        CommandStatus::Ran(_) => match (s.code(), s.signal()) {
            (Some(c), _) => format!("exited with status {c}"),
            (_, Some(n)) => format!("was killed by {}", signal_name(n)),
            _ => "ended".into(),
        },
        CommandStatus::NotFound => "was not found".into(),
        CommandStatus::NotExecutable(e) => format!("could not be executed: {}", visible(e)),
    }
}

/// nextest's documented exit codes (`nextest_metadata::NextestExitCode`) and
/// what they mean. Copied as numbers rather than depending on
/// `nextest-metadata`, which would add 8 crates and a Rust 1.91 floor to the
/// binary for seven constants; a unit test checks this table against
/// `nextest-metadata` itself (a dev-dependency).
const NEXTEST_EXIT_CODES: [(i32, &str); 7] = [
    (100, "a test failed"),
    (105, "a setup script failed"),
    (101, "the build failed"),
    (4, "no tests ran"),
    (106, "the run was cancelled"),
    (95, "an experimental feature is not enabled"),
    (104, "listing the tests failed"),
];

/// What nextest means by its exit code, when COMMAND is `cargo nextest`
/// (leakcheck passes the code on unchanged; this only names it).
fn nextest_meaning(command: &str, status: &CommandStatus) -> Option<String> {
    let code = status.code()?;
    if !command.contains("nextest") {
        return None;
    }
    let (_, name) = NEXTEST_EXIT_CODES.iter().find(|(c, _)| *c == code)?;
    Some(format!(" (nextest: {name})"))
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn list_listeners(out: &mut String, when: &str, listeners: &[Listener]) {
    let _ = writeln!(
        out,
        "{TAG} {when}: {} listener{}",
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

/// `dashboard pid 42 on 127.0.0.1:9237, started by the run`.
pub(crate) fn headline(leak: &Leak) -> String {
    let what = match (leak.kind, &leak.profile) {
        (LeakKind::Server, Some(profile)) => format!("{} server", visible(profile)),
        (kind, _) => kind_name(kind).to_string(),
    };
    let who = leak.pid.map(|p| format!(" pid {p}")).unwrap_or_default();
    let generic = matches!(leak.kind, LeakKind::Server | LeakKind::Process);
    let on = if leak.listeners.is_empty() {
        match leak.port {
            _ if generic => " (listening on no port)".to_string(),
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
    } else if leak.carries_label {
        ", carrying the run's label"
    } else {
        ", not a descendant of the run"
    };
    let age = match (generic, leak.age) {
        (true, Some(age)) => format!(", {:.1} s old", age.as_secs_f64()),
        _ => String::new(),
    };
    let allowed = leak
        .allowed
        .as_ref()
        .map(|p| format!(", allowed by {:?}", visible(p)))
        .unwrap_or_default();
    format!("{what}{who}{on}{origin}{age}{allowed}")
}

/// `dashboard`, `sync daemon`, `foreign listener`, `server`, `process`.
pub(crate) fn kind_name(kind: LeakKind) -> &'static str {
    match kind {
        LeakKind::Dashboard => "dashboard",
        LeakKind::SyncDaemon => "sync daemon",
        LeakKind::Foreign => "foreign listener",
        LeakKind::Server => "server",
        LeakKind::Process => "process",
    }
}

/// What was done, in words.
pub(crate) fn action_text(action: &Action) -> String {
    let file = |removed: bool| {
        if removed {
            "; removed its .kittify/.dashboard"
        } else {
            ""
        }
    };
    match action {
        Action::Pending => "not reaped".into(),
        Action::LeftAlone { reason } => format!("left alone: {}", visible(reason)),
        Action::NotReaped { reason } => format!("not reaped ({})", visible(reason)),
        Action::Reaped {
            stopped,
            dashboard_file_removed,
        } => {
            let target = match stopped.members.as_slice() {
                [] => "it".to_string(),
                [one] => format!("it and pid {one} of its group (proved on its own)"),
                many => format!(
                    "it and pids {} of its group (each proved on its own)",
                    join_pids(many)
                ),
            };
            let alone = match stopped.left_alone.as_slice() {
                [] => String::new(),
                pids => format!(
                    "; left alone in its group, not proved: pid {}",
                    join_pids(pids)
                ),
            };
            let signal = match (stopped.signal, stopped.escalated) {
                (Some(s), true) => format!("SIGTERM then {s}"),
                (Some(s), false) => s.to_string(),
                (None, _) => "no signal".into(),
            };
            format!(
                "reaped: {signal} to {target}, gone and port free after {:.1} ms{alone}{}",
                stopped.elapsed.as_secs_f64() * 1000.0,
                file(*dashboard_file_removed)
            )
        }
        Action::AlreadyGone {
            dashboard_file_removed,
        } => format!("already gone{}", file(*dashboard_file_removed)),
        Action::Failed { error } => format!("could not be stopped: {}", visible(error)),
    }
}

fn join_pids(pids: &[u32]) -> String {
    pids.iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn describe_leak(out: &mut String, leak: &Leak, verbosity: Verbosity) {
    let _ = writeln!(out, "{TAG} {} {}", style::error("LEAK:"), headline(leak));
    // One line: a `-c` script shows as `<script: its last statement>`
    // (`-vv` prints all of it).
    let command = match (&leak.identity, verbosity) {
        (Some(id), v) if v < Verbosity::VeryVerbose => Some(id.short_command_line()),
        _ => leak.command_line.clone(),
    };
    if let Some(cmd) = command {
        let _ = writeln!(out, "  {} {}", style::dim("command:"), visible(&cmd));
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
            style::dim("project:"),
            visible_path(dir)
        );
        let health = match leak.health {
            Some(true) => Some("its /api/health confirms it serves this project"),
            Some(false) => Some("its /api/health names another project"),
            None => None,
        };
        if let Some(h) = health {
            let _ = writeln!(out, "  {} {h}", style::dim("health:"));
        }
    }
    if let Some(t) = &leak.test {
        let _ = writeln!(out, "  {} {}", style::dim("test:"), visible(&t.describe()));
    }
    if verbosity >= Verbosity::VeryVerbose {
        let why = match (leak.grounds(), leak.doubt()) {
            (Some(g), _) => format!("the run's: {}", visible(&g.to_string())),
            (None, Some(d)) => format!("kept: {}", visible(&d.to_string())),
            (None, None) => "not a dashboard: never stopped".into(),
        };
        let _ = writeln!(out, "  {} {why}", style::dim("judged:"));
    }
    let text = action_text(&leak.action);
    let text = match leak.action {
        Action::Failed { .. } => style::error(&text),
        Action::LeftAlone { .. } | Action::NotReaped { .. } => style::warn(&text),
        _ => text,
    };
    let _ = writeln!(out, "  {} {text}", style::dim("action:"));
    let _ = writeln!(out, "  {} {}", style::dim("hint:"), fix_hint(leak.kind));
}

/// One line naming the test, the port, the pid and the project (`wrap` mode).
fn blame_line(out: &mut String, leak: &Leak) {
    let project = match (&leak.project_dir, leak.project_exists) {
        (Some(dir), Some(false)) => format!("; project {} (gone)", visible_path(dir)),
        (Some(dir), _) => format!("; project {}", visible_path(dir)),
        (None, _) => String::new(),
    };
    let done = action_text(&leak.action);
    blame(
        out,
        leak.test.as_ref(),
        &headline(leak),
        &project,
        &done,
        leak.kind,
    );
}

/// The one-line blame of a leak (`LEAK: test T leaked a ...; project P;
/// what was done`) and its hint: a leak found now, or one a wrapper recorded.
fn blame(
    out: &mut String,
    test: Option<&TestLabel>,
    headline: &str,
    project: &str,
    done: &str,
    kind: LeakKind,
) {
    let test = match test {
        Some(t) => format!("test {} leaked a ", visible(&t.describe())),
        None => String::new(),
    };
    let _ = writeln!(
        out,
        "{TAG} {} {test}{headline}{project}; {done}",
        style::error("LEAK:")
    );
    let _ = writeln!(out, "{TAG} {} {}", style::dim("hint:"), fix_hint(kind));
}

/// The line `snapshot` prints on stderr.
pub fn snapshot(done: &Snapshot) -> String {
    mask_tokens(&format!(
        "{TAG} baseline of ports {}: {} listener(s), {} dashboard(s) alive; written to {}\n",
        done.ports,
        done.listeners,
        done.dashboards,
        visible_path(&done.path)
    ))
}

/// The line a [`Notice`] prints under `-v`, as it happens.
pub fn notice(notice: &Notice<'_>) -> String {
    let line = match notice {
        Notice::ForwardedToCommand {
            signal,
            command_line,
            pid,
        } => format!(
            "{TAG} forwarded {} to `{}` (pid {pid})",
            signal_name(signal.as_raw()),
            visible(command_line)
        ),
        Notice::ForwardedToGroup { signal, pid } => format!(
            "{TAG} forwarded {} to pid {pid} (the run, in our process group)",
            signal_name(signal.as_raw())
        ),
        // "reaped" as the line always said; in the code this is collecting
        // exited children, not stopping anything.
        Notice::OrphansCollected(n) => format!("{TAG} reaped {n} exited orphan(s) of the run"),
    };
    line + "\n"
}

/// The findings the renderers' tests share.
#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::findings::run::{Leaks, Refusal, Runner, TestLabel, Timing};
    use kitty_core::Listener;
    use kitty_core::ListenerSnapshot;

    /// A token that must never be printed.
    pub(crate) const TOKEN: &str = "0123456789abcdef0123456789abcdef";

    /// A dashboard of the run that could not be stopped, its command line carrying [`TOKEN`].
    pub(crate) fn leak() -> Leak {
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
            test: Some(TestLabel {
                name: Some("leaks_one".into()),
                binary_id: Some("mini::it".into()),
                runner: Runner::Nextest,
            }),
            judgement: Err(Refusal::Foreign),
            action: Action::Failed {
                error: format!("token {TOKEN}"),
            },
            identity: None,
            profile: None,
            age: None,
            fails: true,
            allowed: None,
        }
    }

    /// A passing run that leaked [`leak`].
    pub(crate) fn report_with_a_leak() -> RunFindings {
        RunFindings {
            mode: ReportMode::Run,
            ports: "9237-9336".parse().expect("ports"),
            command: vec!["cargo".into(), "test".into(), TOKEN.into()],
            command_status: Some(CommandStatus::Ran(
                std::os::unix::process::ExitStatusExt::from_raw(0),
            )),
            interrupted_by: None,
            cleanup_interrupted_by: None,
            run_label: None,
            before: ListenerSnapshot::default(),
            leaks: Leaks {
                leaks: vec![leak()],
                ..Leaks::default()
            },
            timing: Timing {
                started: std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_796_000_000),
                elapsed: std::time::Duration::from_millis(1234),
            },
            recorded: Vec::new(),
        }
    }

    #[test]
    fn human_is_token_free() {
        let r = report_with_a_leak();
        let human = report(&r, Verbosity::Verbose);
        assert!(
            !human.contains(TOKEN) && human.contains("LEAK:") && human.contains("leaks_one"),
            "{human}"
        );
    }

    /// `report`, its styles stripped.
    fn plain(findings: &RunFindings, verbosity: Verbosity) -> String {
        anstream::adapter::strip_str(&report(findings, verbosity)).to_string()
    }

    /// A run with no leak of its own.
    fn clean(mode: ReportMode, status: Option<i32>) -> RunFindings {
        use std::os::unix::process::ExitStatusExt;
        let mut r = report_with_a_leak();
        r.mode = mode;
        r.leaks = Leaks::default();
        r.command = vec!["cargo".into(), "nextest".into(), "run".into()];
        r.command_status =
            status.map(|c| CommandStatus::Ran(std::process::ExitStatus::from_raw(c << 8)));
        r
    }

    #[test]
    fn a_failed_run_that_leaked_nothing_is_no_ok() {
        let human = plain(&clean(ReportMode::Run, Some(100)), Verbosity::Normal);
        assert_eq!(
            human,
            "kitty-leakcheck: note: nothing leaked on ports 9237-9336 beyond what the tests themselves \
             reported; `cargo nextest run` failed with status 100 (nextest: a test failed)\n"
        );
        let human = plain(&clean(ReportMode::Run, Some(0)), Verbosity::Normal);
        assert_eq!(
            human,
            "kitty-leakcheck: ok: nothing leaked on ports 9237-9336; `cargo nextest run` exited with status 0\n"
        );
    }

    #[test]
    fn the_check_s_lines_end_as_sentences() {
        let human = plain(&clean(ReportMode::Check, None), Verbosity::Normal);
        assert_eq!(
            human,
            "kitty-leakcheck: ok: nothing leaked on ports 9237-9336 since the baseline\n"
        );
        let mut leaked = report_with_a_leak();
        leaked.mode = ReportMode::Check;
        leaked.command_status = None;
        leaked.command = Vec::new();
        let human = plain(&leaked, Verbosity::Normal);
        let last = human
            .lines()
            .rfind(|l| l.contains("error:"))
            .expect("summary");
        assert!(
            last.contains("on ports 9237-9336 since the baseline (1 dashboard")
                && last.ends_with("0 left alone, 1 could not be stopped; exit status 5"),
            "{last}"
        );
    }

    #[test]
    fn each_leak_says_what_to_do_with_the_readme_section() {
        let r = report_with_a_leak();
        for verbosity in [Verbosity::Quiet, Verbosity::Normal, Verbosity::VeryVerbose] {
            let human = plain(&r, verbosity);
            let hints: Vec<&str> = human
                .lines()
                .filter(|l| l.contains("hint: start"))
                .collect();
            assert_eq!(hints.len(), 1, "{human}");
            assert!(
                hints[0].contains("kitty-fixtures") && hints[0].ends_with(FIX_SECTION),
                "{human}"
            );
        }
        let mut wrap = report_with_a_leak();
        wrap.mode = ReportMode::Wrap;
        let human = plain(&wrap, Verbosity::Normal);
        assert!(
            human
                .lines()
                .any(|l| l.starts_with("kitty-leakcheck: hint: start the dashboard")),
            "{human}"
        );
        for kind in [LeakKind::SyncDaemon, LeakKind::Foreign] {
            assert!(fix_hint(kind).ends_with(FIX_SECTION));
        }
    }

    #[test]
    fn a_command_that_cannot_start_is_one_line() {
        let mut r = report_with_a_leak();
        r.command_status = Some(CommandStatus::NotFound);
        let human = report(&r, Verbosity::Normal);
        assert_eq!(human.lines().count(), 1, "{human}");
    }

    #[test]
    fn nextest_codes_are_nextests() {
        use nextest_metadata::NextestExitCode as N;
        assert_eq!(
            NEXTEST_EXIT_CODES.map(|(code, _)| code),
            [
                N::TEST_RUN_FAILED,
                N::SETUP_SCRIPT_FAILED,
                N::BUILD_FAILED,
                N::NO_TESTS_RUN,
                N::INCOMPLETE_RUN,
                N::EXPERIMENTAL_FEATURE_NOT_ENABLED,
                N::TEST_LIST_CREATION_FAILED,
            ]
        );
    }

    #[test]
    fn nextest_codes_are_named_only_for_nextest() {
        use std::os::unix::process::ExitStatusExt;
        let failed = CommandStatus::Ran(std::process::ExitStatus::from_raw(100 << 8));
        assert_eq!(
            nextest_meaning("cargo nextest run", &failed).as_deref(),
            Some(" (nextest: a test failed)")
        );
        assert_eq!(nextest_meaning("cargo test", &failed), None);
    }
}
