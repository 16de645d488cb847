//! The JSON report: one object on one line (schema version
//! [`SCHEMA_VERSION`]: `schema/report-v1.json` and `schema/sweep-v1.json`, generated
//! from the types below), tokens masked.

use kitty_core::spec_kitty::{DashboardClass, OrphanReason};
use kitty_core::sys::signal_name;
use kitty_core::{Doubt, Grounds, Listener, StopSignal, mask_tokens};
use serde::Serialize;

use crate::findings::Snapshot;
use std::path::PathBuf;

use crate::findings::run::{
    self as found, Action, CommandStatus, LeakKind, ReportMode, RunFindings, Summary, TestLabel,
};
use crate::findings::sweep::SweepFindings;

/// The version of the JSON reports' schema. It changes only when a field is
/// removed or changes meaning; new fields may appear within a version.
pub const SCHEMA_VERSION: u32 = 1;

/// How COMMAND ended (`null` in `check` mode).
#[derive(Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
struct Status {
    /// False when it could not start (not found, not executable).
    started: bool,
    /// Its exit code, when it exited.
    code: Option<i32>,
    /// The signal that ended it (`SIGINT`), when one did.
    signal: Option<String>,
    /// Why it could not start.
    error: Option<String>,
}

/// One leaked process (or one listener whose holder could not be found).
#[derive(Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
struct Leak {
    /// What leaked.
    kind: LeakKind,
    /// The process, when known.
    pid: Option<u32>,
    /// The main port: its first new listener's, else the port its command line names.
    port: Option<u16>,
    /// Its new listeners on watched ports (empty for a dashboard that never bound a watched port).
    listeners: Vec<Listener>,
    /// The command line with every token masked.
    command_line: Option<String>,
    /// The project a dashboard serves.
    project_dir: Option<PathBuf>,
    /// Whether that project directory still exists.
    project_exists: Option<bool>,
    /// The dashboard's class (orphan / unrecorded / starting / live /
    /// unknown / elsewhere), as `sweep` would see it.
    class: Option<DashboardClass>,
    /// The second opinion of a listening dashboard: whether its own
    /// `/api/health` names the project its command line names. `None` when it
    /// did not answer (or listens on no watched port). For a server whose
    /// profile has a health path: whether it answered it with 200.
    health: Option<bool>,
    /// Whether the process descends from the run (a child subreaper knows).
    from_run: bool,
    /// Whether its environment carries the run's label (`KITTY_LEAKCHECK_RUN`).
    carries_label: bool,
    /// The live process outside the run whose port reservation holds this
    /// dashboard (a kitty-fixtures test of another run): it is never stopped.
    held_by: Option<u32>,
    /// The test that started it, when its environment says.
    test: Option<TestLabel>,
    /// The proof on which a dashboard may be stopped.
    grounds: Option<Grounds>,
    /// Why it may not be touched (the first rule that failed).
    doubt: Option<Doubt>,
    /// What was done about it.
    action: Action,
    /// The server profile that recognised it (`http-server`), for a `server`.
    profile: Option<String>,
    /// How long it had run when it was found, in milliseconds.
    age_ms: Option<f64>,
    /// Whether it fails the run (the profile's `fail`; an allowed survivor
    /// never does). Before `fails` existed every leak failed the run.
    fails: bool,
    /// The `allow` pattern its command line matched: an intended survivor,
    /// reported, never touched.
    allowed: Option<String>,
    /// Which mode found it: `wrap` for a leak a nextest wrapper found,
    /// stopped and recorded for `check` (or the enclosing run), which repeats
    /// it here as the wrapper reported it.
    found_by: ReportMode,
}

impl Leak {
    fn of(l: &found::Leak, mode: ReportMode) -> Self {
        Leak {
            kind: l.kind,
            pid: l.pid,
            port: l.port,
            listeners: l.listeners.clone(),
            command_line: l.command_line.clone(),
            project_dir: l.project_dir.clone(),
            project_exists: l.project_exists,
            class: l.class.clone(),
            health: l.health,
            from_run: l.from_run,
            carries_label: l.carries_label,
            held_by: l.held_by(),
            test: l.test.clone(),
            grounds: l.grounds().cloned(),
            doubt: l.doubt().cloned(),
            action: l.action.clone(),
            profile: l.profile.clone(),
            age_ms: l.age.map(|a| a.as_secs_f64() * 1000.0),
            fails: l.fails,
            allowed: l.allowed.clone(),
            found_by: mode,
        }
    }
}

/// `leak` as a `leaks[]` object of the report of mode `mode`, tokens masked
/// (what a `wrap` records, for the run's report to repeat).
pub fn leak_value(leak: &found::Leak, mode: ReportMode) -> serde_json::Value {
    let text = one_line(&Leak::of(leak, mode));
    serde_json::from_str(&text).unwrap_or(serde_json::Value::Null)
}

/// The report of `cargo kitty-leakcheck` (the default mode), `wrap` and
/// `check`: one object on one line. Tokens are masked as `<token>`
/// everywhere. Fields may be added within a version; none is removed or
/// changes meaning without a new `schema_version`.
#[derive(Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[cfg_attr(
    test,
    schemars(title = "cargo-kitty-leakcheck report, schema version 1")
)]
struct RunJson<'a> {
    /// 1.
    schema_version: u32,
    /// `cargo-kitty-leakcheck`.
    tool: &'static str,
    /// Its version.
    tool_version: &'static str,
    /// Which mode made the report.
    mode: ReportMode,
    /// The watched ports, as `--ports` spells them.
    ports: String,
    /// COMMAND (`[]` in `check` mode), tokens masked.
    command: Vec<String>,
    /// How COMMAND ended.
    command_status: Option<Status>,
    /// A signal leakcheck received from a process and passed on to COMMAND.
    interrupted_by: Option<String>,
    /// A signal (`SIGTERM`) leakcheck received after COMMAND ended (in
    /// `check`: at any time), while it checked and stopped leaks. The
    /// clean-up under way was finished; `exit_code` is then 128 + N (`wrap`
    /// re-raises the signal).
    cleanup_interrupted_by: Option<String>,
    /// leakcheck's own exit status.
    exit_code: i32,
    /// `ok`, `leaked`, `reap-failed`, `command-failed`, `command-not-found`,
    /// `command-not-executable`.
    outcome: &'static str,
    /// The watched listeners before the run (or at the baseline).
    before: &'a [Listener],
    /// The watched listeners after it, before anything was stopped.
    after: &'a [Listener],
    /// The run's leaks and what was done about each: those found now, then
    /// those the run's nextest wrappers recorded (`found_by: "wrap"`).
    #[cfg_attr(test, schemars(with = "Vec<Leak>"))]
    leaks: Vec<serde_json::Value>,
    /// What appeared during the run (or since the baseline) but was not
    /// started by it: always left alone, never a failure.
    appeared: Vec<Leak>,
    /// The label the run's processes carry (`KITTY_LEAKCHECK_RUN`).
    run_label: Option<&'a str>,
    /// The counts.
    summary: Summary,
}

/// The report of the run, `wrap` or `check` mode as one line of JSON.
pub fn report(report: &RunFindings) -> String {
    let status = report.command_status.as_ref().map(|s| Status {
        started: s.started(),
        code: s.code(),
        signal: s.signal().map(signal_name),
        error: match s {
            CommandStatus::NotFound => Some("command not found".to_string()),
            CommandStatus::NotExecutable(e) => Some(e.clone()),
            CommandStatus::Ran(_) => None,
        },
    });
    let outcome = report.outcome();
    let json = RunJson {
        schema_version: SCHEMA_VERSION,
        tool: env!("CARGO_PKG_NAME"),
        tool_version: env!("CARGO_PKG_VERSION"),
        mode: report.mode,
        ports: report.ports.to_string(),
        command: report
            .command
            .iter()
            .map(|a| mask_tokens(&a.to_string_lossy()))
            .collect(),
        command_status: status,
        interrupted_by: report.interrupted_by.map(|s| signal_name(s.as_raw())),
        cleanup_interrupted_by: report
            .cleanup_interrupted_by
            .map(|s| signal_name(s.as_raw())),
        exit_code: report.exit_code(),
        outcome: outcome.name(),
        before: report.before.listeners(),
        after: report.leaks.after.listeners(),
        leaks: report
            .leaks
            .leaks
            .iter()
            .map(|l| leak_value(l, report.mode))
            .chain(report.recorded.iter().map(|r| r.report.clone()))
            .collect(),
        appeared: report
            .leaks
            .appeared
            .iter()
            .map(|l| Leak::of(l, report.mode))
            .collect(),
        run_label: report.run_label.as_deref(),
        summary: report.summary(),
    };
    one_line(&json)
}

fn one_line(value: &impl Serialize) -> String {
    let text = serde_json::to_string(value).unwrap_or_else(|e| {
        format!(
            r#"{{"schema_version":{SCHEMA_VERSION},"error":"cannot serialize the report: {e}"}}"#
        )
    });
    mask_tokens(&text)
}

/// What `snapshot --json` prints.
pub fn snapshot(done: &Snapshot) -> String {
    one_line(&serde_json::json!({
        "schema_version": SCHEMA_VERSION,
        "baseline": done.path,
        "listeners": done.listeners,
        "dashboards": done.dashboards,
    }))
}

/// One dashboard process `sweep` saw.
#[derive(Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
struct SweepDashboard {
    /// Its pid.
    pid: u32,
    /// Its owner.
    uid: u32,
    /// Whether it is ours.
    ours: bool,
    /// Its first watched listener's port, else the port its command line names.
    port: Option<u16>,
    /// Whether it listens on a watched port.
    listening: bool,
    /// The addresses it listens on.
    addrs: Vec<String>,
    /// The project it serves, as it sees it.
    project_dir: String,
    /// Whether that directory exists here.
    project_exists: bool,
    /// Its class (`orphan`, `unrecorded`, `starting`, `live`, `unknown`, `elsewhere`).
    #[serde(flatten)]
    class: DashboardClass,
    /// It listens on a watched port or its command line names one.
    in_scope: bool,
    /// In scope and judged stoppable.
    selected: bool,
    /// Why it is kept, when it is.
    doubt: Option<Doubt>,
    /// What the sweep did with it.
    #[serde(flatten)]
    swept: Swept,
    /// Its command line, tokens masked.
    command_line: String,
}

/// A server a profile recognises, as `sweep` saw it (any port).
#[derive(Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
struct SweepServer {
    /// Its pid.
    pid: u32,
    /// Its owner.
    uid: u32,
    /// Whether it is ours.
    ours: bool,
    /// The profile that recognised it (`http-server`, a `[[server]]` name).
    profile: String,
    /// Its first listener's port, else the port its command line names.
    port: Option<u16>,
    /// The addresses it listens on.
    addrs: Vec<String>,
    /// Its working directory, as it sees it (`null`: not visible).
    working_dir: Option<String>,
    /// Its class (`orphan` with reason `served-dir-gone`, `unrecorded`,
    /// `starting`, `live`, `unknown`, `elsewhere`).
    #[serde(flatten)]
    class: DashboardClass,
    /// It listens on a watched port, or its command line names one.
    in_scope: bool,
    /// In scope and judged stoppable (an orphan or unrecorded one of ours).
    selected: bool,
    /// Why it is kept, when it is.
    doubt: Option<Doubt>,
    /// Whether it answered its profile's health path (`null`: none asked).
    answers: Option<bool>,
    /// What the sweep did with it.
    #[serde(flatten)]
    swept: Swept,
    /// Its command line, tokens masked.
    command_line: String,
}

/// What a sweep did with one dashboard or server.
#[derive(Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
struct Swept {
    /// `kept`, `would-stop`, `stopped`, `skipped`, `failed`.
    action: &'static str,
    /// The last signal sent.
    signal: Option<StopSignal>,
    /// Whether SIGKILL followed SIGTERM.
    escalated: bool,
    /// How long the stop took, in milliseconds.
    stop_ms: Option<f64>,
    /// Why it was skipped or failed.
    note: Option<String>,
}

impl Swept {
    /// What `action` says was done with a process the sweep `selected` (or not).
    fn of(action: &Action, selected: bool) -> Swept {
        let (action, signal, escalated, stop_ms, note) = match (action, selected) {
            (Action::Reaped { stopped, .. }, _) => (
                "stopped",
                stopped.signal,
                stopped.escalated,
                Some(stopped.elapsed.as_secs_f64() * 1000.0),
                None,
            ),
            (Action::AlreadyGone { .. }, _) => ("stopped", None, false, Some(0.0), None),
            (Action::NotReaped { .. }, _) => ("would-stop", None, false, None, None),
            (Action::Failed { error }, _) => ("failed", None, false, None, Some(error.clone())),
            (Action::LeftAlone { reason }, true) => {
                ("skipped", None, false, None, Some(reason.clone()))
            }
            _ => ("kept", None, false, None, None),
        };
        Swept {
            action,
            signal,
            escalated,
            stop_ms,
            note,
        }
    }
}

/// A listener on a watched port that is not a dashboard (never touched).
#[derive(Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
struct SweepOther {
    /// The port.
    port: u16,
    /// The local address.
    addr: String,
    /// The socket's uid.
    uid: u32,
    /// Its holder, when visible.
    pid: Option<u32>,
    /// `foreign`, `sync-daemon`, or `unknown` (its holder is not visible).
    kind: &'static str,
    /// The holder's command line, tokens masked.
    command_line: Option<String>,
}

/// The report of `sweep`: one object on one line. Tokens are masked as
/// `<token>` everywhere; fields may be added within a version.
#[derive(Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[cfg_attr(
    test,
    schemars(title = "cargo-kitty-leakcheck sweep report, schema version 1")
)]
struct SweepJson {
    /// 1.
    schema_version: u32,
    /// `cargo-kitty-leakcheck`.
    tool: &'static str,
    /// Its version.
    tool_version: &'static str,
    /// `sweep`.
    mode: &'static str,
    /// The watched ports.
    ports: String,
    /// `--dry-run`.
    dry_run: bool,
    /// `--all`.
    all: bool,
    /// Whether stopping was allowed (`--yes`, or "y" on the terminal).
    confirmed: bool,
    /// Every dashboard process, the ones in scope first.
    dashboards: Vec<SweepDashboard>,
    /// The other listeners on the watched ports (servers a profile
    /// recognises are in `servers` instead).
    foreign: Vec<SweepOther>,
    /// Every server a profile recognises, by pid.
    servers: Vec<SweepServer>,
    /// How many dashboards were selected.
    to_stop: usize,
    /// How many were stopped (or found gone).
    stopped: usize,
    /// How many servers were selected.
    servers_to_stop: usize,
    /// How many servers were stopped (or found gone).
    servers_stopped: usize,
    /// How many dashboards and servers could not be stopped.
    failed: usize,
    /// `.kittify/.dashboard` files removed.
    dashboard_files_removed: Vec<String>,
    /// Stale `.kittify/.dashboard` files left.
    dashboard_files_stale: Vec<String>,
    /// The whole sweep, in milliseconds.
    elapsed_ms: f64,
    /// A signal (`SIGTERM`) that came while the confirmed stops ran: they
    /// were finished first; `exit_code` is then 128 + N.
    cleanup_interrupted_by: Option<String>,
    /// leakcheck's own exit status.
    exit_code: i32,
}

/// The sweep report as one line of JSON.
pub fn sweep(report: &SweepFindings) -> String {
    let path = |p: &std::path::PathBuf| mask_tokens(&p.display().to_string());
    let plan = &report.plan;
    let dashboards = plan
        .entries
        .iter()
        .map(|e| SweepDashboard {
            pid: e.identity().pid(),
            uid: e.identity().uid(),
            ours: e.identity().is_ours(),
            port: e.port(),
            listening: !e.listening.is_empty(),
            addrs: e.listening.iter().map(|l| l.addr.to_string()).collect(),
            project_dir: path(&e.project_dir()),
            project_exists: !matches!(
                e.judgement.class,
                DashboardClass::Orphan {
                    reason: OrphanReason::ProjectGone
                }
            ),
            class: e.judgement.class.clone(),
            in_scope: e.in_scope,
            selected: e.selected,
            doubt: e.judgement.verdict.clone().err(),
            swept: Swept::of(&e.action, e.selected),
            command_line: e.identity().command_line(),
        })
        .collect();
    let servers = plan
        .servers
        .iter()
        .map(|e| SweepServer {
            pid: e.identity().pid(),
            uid: e.identity().uid(),
            ours: e.identity().is_ours(),
            profile: e.found.profile.name.clone(),
            port: e.port(),
            addrs: e.listening.iter().map(|l| l.addr.to_string()).collect(),
            working_dir: e.identity().cwd().map(|d| path(&d.to_path_buf())),
            class: e.judgement.class.clone(),
            in_scope: e.in_scope,
            selected: e.selected,
            doubt: e.judgement.verdict.clone().err(),
            answers: e.answers,
            swept: Swept::of(&e.action, e.selected),
            command_line: e.identity().command_line(),
        })
        .collect();
    let json = SweepJson {
        schema_version: SCHEMA_VERSION,
        tool: env!("CARGO_PKG_NAME"),
        tool_version: env!("CARGO_PKG_VERSION"),
        mode: "sweep",
        ports: plan.ports.to_string(),
        dry_run: plan.dry_run,
        all: plan.all,
        confirmed: report.confirmed(),
        dashboards,
        foreign: plan
            .others
            .iter()
            .map(|o| SweepOther {
                port: o.listener.port,
                addr: o.listener.addr.to_string(),
                uid: o.listener.uid,
                pid: o.owner.as_ref().map(|p| p.pid()),
                kind: o.kind,
                command_line: o.owner.as_ref().map(|p| p.command_line()),
            })
            .collect(),
        servers,
        to_stop: plan.to_stop(),
        stopped: report.stopped(),
        servers_to_stop: plan.servers_to_stop(),
        servers_stopped: report.servers_stopped(),
        failed: report.failed(),
        dashboard_files_removed: report.files_removed.iter().map(path).collect(),
        dashboard_files_stale: plan.files_stale.iter().map(path).collect(),
        elapsed_ms: report.elapsed.as_secs_f64() * 1000.0,
        cleanup_interrupted_by: report
            .cleanup_interrupted_by
            .map(|s| signal_name(s.as_raw())),
        exit_code: report.exit_code(),
    };
    one_line(&json)
}

/// The JSON Schema of the run, `wrap` and `check` report
/// (`schema/report-v1.json`), generated from the types that serialize it.
#[cfg(test)]
pub fn report_schema() -> String {
    pretty(schemars::schema_for!(RunJson<'static>))
}

/// The JSON Schema of the sweep report (`schema/sweep-v1.json`).
#[cfg(test)]
pub fn sweep_schema() -> String {
    pretty(schemars::schema_for!(SweepJson))
}

#[cfg(test)]
fn pretty(schema: schemars::Schema) -> String {
    serde_json::to_string_pretty(&schema).unwrap_or_default() + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exit_codes::LeakcheckExitCode;
    use crate::report::human::tests::{TOKEN, report_with_a_leak};

    /// The committed schemas are the ones the types generate. To update
    /// them after changing a report type: `KITTY_WRITE_SCHEMA=1 cargo test
    /// -p cargo-kitty-leakcheck committed_schemas`.
    #[test]
    fn committed_schemas_match_the_types() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schema");
        for (file, generated) in [
            ("report-v1.json", report_schema()),
            ("sweep-v1.json", sweep_schema()),
        ] {
            let path = dir.join(file);
            if std::env::var_os("KITTY_WRITE_SCHEMA").is_some() {
                std::fs::create_dir_all(&dir).expect("schema dir");
                std::fs::write(&path, &generated).expect("write schema");
            }
            let committed = std::fs::read_to_string(&path).unwrap_or_default();
            assert!(
                committed == generated,
                "{} is not what the report types generate: run `KITTY_WRITE_SCHEMA=1 cargo test -p cargo-kitty-leakcheck committed_schemas` and commit it",
                path.display()
            );
        }
    }

    #[test]
    fn json_is_versioned_and_token_free() {
        let r = report_with_a_leak();
        let text = report(&r);
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
}
