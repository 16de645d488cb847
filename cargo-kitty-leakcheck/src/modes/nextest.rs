//! nextest integration: `wrap` (a per-test wrapper script), `snapshot` (the
//! setup script: writes the [`Baseline`]) and `check` (the step after the
//! run; nextest has no teardown scripts).
//!
//! # `wrap -- <test-binary> <args...>`
//!
//! nextest calls a wrapper script as `<wrapper> <test-binary> --exact <name>
//! --nocapture`, with `NEXTEST_TEST_NAME` and `NEXTEST_BINARY_ID` set. `wrap`
//! becomes a child subreaper, runs the test with inherited stdio in its own
//! process group (nextest's timeout signal reaches the test directly), and
//! waits for it, collecting re-parented orphans. Then:
//!
//! - **fast path**: when leakcheck has no child left, nothing descends from the
//!   test any more (every orphan of the test was re-parented to us), so nothing
//!   leaked: no `/proc` scan, no socket lookup;
//! - otherwise it finds the live dashboards that descend from it
//!   ([`detect_leaks`] with no port diff: blame comes from ancestry alone, so a
//!   dashboard of a test running in parallel is never blamed here), stops them
//!   ([`reap_leaks`]), naming the test.
//!
//! Exit status: the test's own when it failed (a test killed by a signal is
//! re-raised, so nextest still sees `SIGSEGV`, not 139); otherwise
//! `LEAKED` (or `REAP_FAILED`) when it leaked, which makes nextest mark that
//! test failed; 0 when it passed and leaked nothing.
//!
//! # `check --baseline FILE`
//!
//! Compares the watched ports now with the baseline ([`detect_leaks`] in
//! [`ReportMode::Check`]: a listener that is new since the baseline is a leak when
//! its process carries the run's label or is a proven orphan, unless it
//! belongs to a dashboard already alive then), and stops what leaked.

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use kitty_core::ListenerSnapshot;
use kitty_core::spec_kitty::find_dashboard_processes;
use kitty_core::sys::{become_child_subreaper, boot_id};
use kitty_core::{RUN_LABEL_ENV, new_run_label};

use super::command::{
    collect_exited_children, run_command, signal_during_cleanup, take_over_signals,
};
use super::detect::{Run, detect_leaks, test_label_of_this_process, wait_for_pending_exec};
use super::reap::{Tick, no_progress, reap_leaks};
use crate::baseline::{
    BASELINE_ENV, BASELINE_SCHEMA_VERSION, Baseline, BaselineDashboard, LATEST_BASELINE,
    default_baseline_path, read_baseline, write_baseline,
};
use crate::cli::{CheckArgs, CommonArgs, SnapshotArgs, WrapArgs};
use crate::config::Policy;
use crate::errors::Error;
use crate::findings::Snapshot;
use crate::findings::records::{Record, RecordedLeak};
use crate::findings::run::{Action, Leak, Leaks, Notice, ReportMode, RunFindings, Timing};
use crate::records;

/// How long `wrap` waits for a process below the test that names the
/// dashboard server to exec into one (it usually takes microseconds).
const PENDING_EXEC_LIMIT: Duration = Duration::from_secs(2);

/// `wrap -- <test-binary> <args...>`. `notify` hears what happens while the
/// test runs.
pub fn wrap(
    common: &CommonArgs,
    policy: &Policy,
    args: &WrapArgs,
    notify: &dyn Fn(Notice<'_>),
) -> Result<RunFindings, Error> {
    let clock = Timing::start();
    let inbox = take_over_signals()?;
    become_child_subreaper().map_err(Error::Subreaper)?;
    let finished = run_command(&args.command, notify, &[], &inbox)?;
    let findings = |before, leaks, inbox| RunFindings {
        mode: ReportMode::Wrap,
        ports: common.ports.clone(),
        command: args.command.clone(),
        command_status: Some(finished.status.clone()),
        interrupted_by: finished.forwarded,
        cleanup_interrupted_by: signal_during_cleanup(inbox),
        run_label: None,
        before,
        leaks,
        timing: clock.stop(),
        recorded: Vec::new(),
    };
    if !finished.status.started() || !collect_exited_children() {
        return Ok(findings(
            ListenerSnapshot::default(),
            Leaks::default(),
            &inbox,
        ));
    }
    // Something still descends from the test: look for dashboards among
    // it, once any that is still between fork and exec has exec'd.
    wait_for_pending_exec(std::process::id(), PENDING_EXEC_LIMIT);
    let now = ListenerSnapshot::take(&common.ports).map_err(Error::Listeners)?;
    // Blame is ancestry alone: the label is the whole nextest run's, and
    // a dashboard of a test running in parallel carries it too.
    let run = Run {
        root: std::process::id(),
        label: None,
        mode: ReportMode::Wrap,
        policy: policy.clone(),
    };
    let mut leaks = detect_leaks(&now, &now, &run, &common.ports);
    // What descends from this test: its dashboards, servers and other
    // processes (a listener held by another test's process is not its).
    leaks.leaks.retain(|l| l.from_run);
    leaks.appeared.clear();
    if let Some(test) = test_label_of_this_process() {
        for leak in &mut leaks.leaks {
            leak.test = Some(test.clone());
        }
    }
    reap_leaks(&mut leaks, args.no_reap, no_progress);
    // One that was already exiting when we came to stop it (the test
    // signalled it but did not wait) left nothing behind: not a leak.
    leaks
        .leaks
        .retain(|l| !matches!(l.action, Action::AlreadyGone { .. }));
    let _ = collect_exited_children();
    Ok(findings(now, leaks, &inbox))
}

/// `snapshot`: writes the baseline and exports it to nextest's tests.
pub fn snapshot(common: &CommonArgs, args: &SnapshotArgs) -> Result<Snapshot, Error> {
    let snap = ListenerSnapshot::take(&common.ports).map_err(Error::Listeners)?;
    // Inside a `cargo kitty-leakcheck` run, the tests share its label;
    // otherwise the nextest run gets one of its own.
    let label = match std::env::var_os(RUN_LABEL_ENV).filter(|l| !l.is_empty()) {
        Some(l) => l,
        None => new_run_label().map_err(Error::Label)?,
    };
    let path = args.output.clone().unwrap_or_else(default_baseline_path);
    // The run's records: the enclosing run's directory, else one beside the
    // baseline, emptied of an older run's records of the same name.
    let enclosing = records::of_enclosing_run();
    let records_dir = enclosing.clone().unwrap_or_else(|| records::beside(&path));
    let baseline = Baseline {
        schema_version: BASELINE_SCHEMA_VERSION,
        started_at_ms: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .ok()
            .map(|d| d.as_millis() as u64),
        records_by_enclosing_run: enclosing.is_some(),
        tool: env!("CARGO_PKG_NAME").into(),
        tool_version: env!("CARGO_PKG_VERSION").into(),
        ports: common.ports.clone(),
        run_id: std::env::var("NEXTEST_RUN_ID").ok(),
        run_label: Some(label.to_string_lossy().into_owned()),
        boot_id: boot_id(),
        listeners: snap.listeners().to_vec(),
        dashboards: find_dashboard_processes()
            .into_iter()
            .map(|d| BaselineDashboard {
                pid: d.identity.pid(),
                start_ticks: d.identity.start_ticks(),
                port: d.command.port,
                project_dir: kitty_core::mask_tokens(&d.command.project_dir.display().to_string()),
            })
            .collect(),
    };
    write_baseline(&path, &baseline)?;
    records::prepare(&records_dir, enclosing.is_none())?;
    if args.output.is_none() {
        // `check --baseline target/kitty-leakcheck/baseline-latest.json` in the CI step after the run.
        let latest = path.with_file_name(LATEST_BASELINE);
        let _ = std::fs::remove_file(&latest);
        let _ = std::os::unix::fs::symlink(path.file_name().unwrap_or_default(), &latest);
    }
    if let Some(env_file) = std::env::var_os("NEXTEST_ENV") {
        // One write of the three lines: nextest reads KEY=VALUE lines, so a
        // value (a path) with a newline in it cannot be passed on.
        let env_file = Path::new(&env_file);
        let mut lines = Vec::new();
        for (key, value) in [
            (BASELINE_ENV, path.as_os_str()),
            (RUN_LABEL_ENV, label.as_os_str()),
            (records::RECORDS_ENV, records_dir.as_os_str()),
        ] {
            if value.as_encoded_bytes().contains(&b'\n') {
                return Err(Error::NextestEnv {
                    path: env_file.to_path_buf(),
                    source: std::io::Error::new(
                        std::io::ErrorKind::InvalidInput,
                        format!("{key} would hold a newline, which $NEXTEST_ENV cannot carry"),
                    ),
                });
            }
            lines.extend_from_slice(key.as_bytes());
            lines.push(b'=');
            lines.extend_from_slice(value.as_encoded_bytes());
            lines.push(b'\n');
        }
        kitty_core::sys::append_to_regular_file(env_file, &lines).map_err(|source| {
            Error::NextestEnv {
                path: env_file.to_path_buf(),
                source,
            }
        })?;
    }
    Ok(Snapshot {
        path,
        ports: common.ports.clone(),
        listeners: baseline.listeners.len(),
        dashboards: baseline.dashboards.len(),
    })
}

/// `check --baseline FILE`: the ports are the baseline's. `progress` makes
/// the [`Tick`] for the stops.
pub fn check(
    args: &CheckArgs,
    policy: &Policy,
    progress: impl FnOnce(usize) -> Tick,
) -> Result<RunFindings, Error> {
    let clock = Timing::start();
    // A signal while leaks are stopped waits until they are (then exit 128 + N).
    let inbox = take_over_signals()?;
    let baseline = read_baseline(&args.baseline)?;
    let ports = baseline.ports;
    let before = ListenerSnapshot::from_listeners(baseline.listeners);
    let now = ListenerSnapshot::take(&ports).map_err(Error::Listeners)?;
    let run = Run {
        root: std::process::id(),
        label: baseline.run_label.clone().map(Into::into),
        mode: ReportMode::Check,
        policy: policy.clone(),
    };
    let mut leaks = detect_leaks(&before, &now, &run, &ports);
    // A dashboard that was already alive at the baseline (still starting, it
    // bound its port later) is not the run's leak.
    let known: HashSet<(u32, u64)> = baseline
        .dashboards
        .iter()
        .map(|d| (d.pid, d.start_ticks))
        .collect();
    let known_then = |l: &Leak| {
        l.identity
            .as_ref()
            .is_some_and(|id| known.contains(&(id.pid(), id.start_ticks())))
    };
    leaks.leaks.retain(|l| !known_then(l));
    leaks.appeared.retain(|l| !known_then(l));
    // What the wrappers found and recorded: read before anything is
    // stopped, so a bad record stops `check` before it acts.
    let records = if baseline.records_by_enclosing_run {
        Vec::new()
    } else {
        let real = std::fs::canonicalize(&args.baseline).unwrap_or_else(|_| args.baseline.clone());
        records::read_all(&records::beside(&real))?
    };
    let recorded = merge_recorded(&mut leaks, records);
    reap_leaks(&mut leaks, args.no_reap, progress);
    let timing = match baseline.started_at_ms {
        Some(ms) => {
            let started = std::time::UNIX_EPOCH + Duration::from_millis(ms);
            Timing {
                started,
                elapsed: std::time::SystemTime::now()
                    .duration_since(started)
                    .unwrap_or_default(),
            }
        }
        None => clock.stop(),
    };
    Ok(RunFindings {
        mode: ReportMode::Check,
        ports,
        command: Vec::new(),
        command_status: None,
        interrupted_by: None,
        cleanup_interrupted_by: signal_during_cleanup(&inbox),
        run_label: baseline.run_label,
        before,
        leaks,
        timing,
        recorded,
    })
}

/// The leaks the records hold, less those found again among `leaks` (a
/// dashboard a wrapper left running under `--no-reap`, or could not stop):
/// such a leak is reported once, as found now, named after the record's
/// test when its own environment names none.
pub fn merge_recorded(leaks: &mut Leaks, records: Vec<Record>) -> Vec<RecordedLeak> {
    let mut recorded = Vec::new();
    for leak in records.into_iter().flat_map(|r| r.leaks) {
        let again = leaks.leaks.iter_mut().find(|l| {
            l.identity.as_ref().is_some_and(|id| {
                Some(id.pid()) == leak.pid && Some(id.start_ticks()) == leak.start_ticks
            })
        });
        match again {
            Some(live) => {
                if live.test.is_none() {
                    live.test = leak.test;
                }
            }
            None => recorded.push(leak),
        }
    }
    recorded
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::findings::records::{RECORD_SCHEMA_VERSION, RecordedResult};
    use crate::findings::run::{LeakKind, Runner, TestLabel};
    use kitty_core::ProcessIdentity;

    fn recorded(pid: u32, start_ticks: u64) -> RecordedLeak {
        RecordedLeak {
            test: Some(TestLabel {
                name: Some("leaks_one".into()),
                binary_id: Some("mini::it".into()),
                runner: Runner::Nextest,
            }),
            kind: LeakKind::Dashboard,
            pid: Some(pid),
            start_ticks: Some(start_ticks),
            port: Some(9240),
            project: None,
            command_line: None,
            headline: "dashboard".into(),
            done: "not reaped (--no-reap)".into(),
            result: RecordedResult::NotReaped,
            elapsed_ms: None,
            fails: true,
            report: serde_json::Value::Null,
        }
    }

    #[test]
    fn a_recorded_leak_found_again_is_reported_once_with_the_record_s_test() {
        let me = ProcessIdentity::read(std::process::id()).expect("this process");
        let mut live = crate::report::human::tests::leak();
        live.test = None;
        live.identity = Some(me.clone());
        let mut leaks = Leaks {
            leaks: vec![live],
            ..Leaks::default()
        };
        let record = Record {
            schema_version: RECORD_SCHEMA_VERSION,
            test: None,
            exit_code: 3,
            // Found again (same pid and start), and one whose pid was reused.
            leaks: vec![
                recorded(me.pid(), me.start_ticks()),
                recorded(me.pid(), me.start_ticks() + 1),
            ],
        };
        let left = merge_recorded(&mut leaks, vec![record]);
        assert_eq!(left.len(), 1, "only the other process stays a record");
        assert_eq!(left[0].start_ticks, Some(me.start_ticks() + 1));
        assert_eq!(
            leaks.leaks[0].test.as_ref().and_then(|t| t.name.as_deref()),
            Some("leaks_one"),
            "the live leak takes the record's test"
        );
    }
}
