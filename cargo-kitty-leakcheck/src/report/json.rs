//! The JSON report: one object on one line (schema version
//! [`SCHEMA_VERSION`]; the README's "JSON report" documents it), tokens masked.

use kitty_fixtures::os::signal_name;
use kitty_fixtures::shared::{
    DashboardClass, Doubt, Listener, OrphanReason, StopSignal, mask_tokens,
};
use serde::Serialize;

use super::{Report, ReportMode, Summary};
use crate::leak::{Action, Leak};
use crate::sweep::SweepReport;

/// The version of the JSON reports' schema. It changes only when a field is
/// removed or changes meaning; new fields may appear within a version.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Serialize)]
struct Status {
    started: bool,
    code: Option<i32>,
    signal: Option<String>,
    error: Option<String>,
}

#[derive(Serialize)]
struct RunJson<'a> {
    schema_version: u32,
    tool: &'static str,
    tool_version: &'static str,
    mode: ReportMode,
    ports: String,
    command: Vec<String>,
    command_status: Option<Status>,
    interrupted_by: Option<String>,
    exit_code: i32,
    outcome: &'static str,
    before: &'a [Listener],
    after: &'a [Listener],
    leaks: &'a [Leak],
    appeared: &'a [Leak],
    run_label: Option<&'a str>,
    summary: Summary,
}

/// The report of the run, `wrap` or `check` mode as one line of JSON.
pub fn report(report: &Report) -> String {
    use crate::command::CommandStatus;
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
        exit_code: outcome.exit_code(),
        outcome: outcome.name(),
        before: report.before.listeners(),
        after: report.leaks.after.listeners(),
        leaks: &report.leaks.leaks,
        appeared: &report.leaks.appeared,
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
pub fn snapshot(done: &crate::baseline::Snapshot) -> String {
    one_line(&serde_json::json!({
        "schema_version": SCHEMA_VERSION,
        "baseline": done.path,
        "listeners": done.listeners,
        "dashboards": done.dashboards,
    }))
}

#[derive(Serialize)]
struct SweepDashboard {
    pid: u32,
    uid: u32,
    ours: bool,
    port: Option<u16>,
    listening: bool,
    addrs: Vec<String>,
    project_dir: String,
    project_exists: bool,
    #[serde(flatten)]
    class: DashboardClass,
    in_scope: bool,
    selected: bool,
    /// Why it is kept, when it is.
    doubt: Option<Doubt>,
    /// `kept`, `would-stop`, `stopped`, `skipped`, `failed`.
    action: &'static str,
    signal: Option<StopSignal>,
    escalated: bool,
    stop_ms: Option<f64>,
    note: Option<String>,
    command_line: String,
}

#[derive(Serialize)]
struct SweepOther {
    port: u16,
    addr: String,
    uid: u32,
    pid: Option<u32>,
    kind: &'static str,
    command_line: Option<String>,
}

#[derive(Serialize)]
struct SweepJson {
    schema_version: u32,
    mode: &'static str,
    ports: String,
    dry_run: bool,
    all: bool,
    confirmed: bool,
    dashboards: Vec<SweepDashboard>,
    foreign: Vec<SweepOther>,
    to_stop: usize,
    stopped: usize,
    failed: usize,
    dashboard_files_removed: Vec<String>,
    dashboard_files_stale: Vec<String>,
    elapsed_ms: f64,
    exit_code: i32,
}

/// The sweep report as JSON (pretty-printed: it is all `sweep` prints).
pub fn sweep(report: &SweepReport) -> String {
    let path = |p: &std::path::PathBuf| mask_tokens(&p.display().to_string());
    let dashboards = report
        .entries
        .iter()
        .map(|e| {
            let (action, signal, escalated, stop_ms, note) = match (&e.action, e.selected) {
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
            SweepDashboard {
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
                action,
                signal,
                escalated,
                stop_ms,
                note,
                command_line: e.identity().command_line(),
            }
        })
        .collect();
    let json = SweepJson {
        schema_version: SCHEMA_VERSION,
        mode: "sweep",
        ports: report.ports.to_string(),
        dry_run: report.dry_run,
        all: report.all,
        confirmed: report.confirmed,
        dashboards,
        foreign: report
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
        to_stop: report.to_stop(),
        stopped: report.stopped(),
        failed: report.failed(),
        dashboard_files_removed: report.files_removed.iter().map(path).collect(),
        dashboard_files_stale: report.files_stale.iter().map(path).collect(),
        elapsed_ms: report.elapsed.as_secs_f64() * 1000.0,
        exit_code: report.outcome().exit_code(),
    };
    let text = serde_json::to_string_pretty(&json)
        .unwrap_or_else(|e| format!(r#"{{"schema_version":{SCHEMA_VERSION},"error":"{e}"}}"#));
    mask_tokens(&text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exit_codes::LeakcheckExitCode;
    use crate::report::human::tests::{TOKEN, report_with_a_leak};

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
