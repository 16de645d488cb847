//! nextest integration: `wrap` (a per-test wrapper script) and `check` (the
//! step after the run; nextest has no teardown scripts). The setup script,
//! `snapshot`, is [`crate::baseline`].
//!
//! # `wrap -- <test-binary> <args...>`
//!
//! nextest calls a wrapper script as `<wrapper> <test-binary> --exact <name>
//! --nocapture`, with `NEXTEST_TEST_NAME` and `NEXTEST_BINARY_ID` set. `wrap`
//! becomes a child subreaper, runs the test with inherited stdio in its own
//! process group (nextest's timeout signal reaches the test directly), and
//! waits for it, reaping re-parented orphans. Then:
//!
//! - **fast path**: when leakcheck has no child left, nothing descends from the
//!   test any more (every orphan of the test was re-parented to us), so nothing
//!   leaked: no `/proc` scan, no socket lookup;
//! - otherwise it finds the live dashboards that descend from it
//!   ([`find_leaks`] with no port diff: blame comes from ancestry alone, so a
//!   dashboard of a test running in parallel is never blamed here), stops them
//!   ([`stop_leaks`]), naming the test.
//!
//! Exit status: the test's own when it failed (a test killed by a signal is
//! re-raised, so nextest still sees `SIGSEGV`, not 139); otherwise
//! `LEAKED` (or `REAP_FAILED`) when it leaked, which makes nextest mark that
//! test failed; 0 when it passed and leaked nothing.
//!
//! # `check --baseline FILE`
//!
//! Compares the watched ports now with the baseline ([`find_leaks`] in
//! [`Mode::Check`]: a listener that is new since the baseline is a leak when
//! its process carries the run's label or is a proven orphan, unless it
//! belongs to a dashboard already alive then), and stops what leaked.

use std::time::Duration;

use anyhow::Context;
use kitty_core::ListenerSnapshot;
use kitty_core::PortSet;
use kitty_core::sys::become_child_subreaper;

use crate::baseline::read_baseline;
use crate::cli::{CheckArgs, CommonArgs, WrapArgs};
use crate::command::{reap_exited_children, run_command, signal_during_cleanup, take_over_signals};
use crate::leak::{Action, Leak, TestLabel};
use crate::leaks::{Mode, Run, find_leaks, wait_for_pending_exec};
use crate::report::progress::Progress;
use crate::report::{Report, ReportMode};
use crate::stop_leaks::{stop_leaks, stop_leaks_showing};

/// How long `wrap` waits for a process below the test that names the
/// dashboard server to exec into one (it usually takes microseconds).
const PENDING_EXEC_LIMIT: Duration = Duration::from_secs(2);

/// `wrap -- <test-binary> <args...>`.
pub fn wrap(common: &CommonArgs, args: &WrapArgs) -> anyhow::Result<Report> {
    let inbox = take_over_signals()?;
    become_child_subreaper().context("cannot become a child subreaper")?;
    let finished = run_command(&args.command, common.is_verbose(), &[], &inbox)?;
    let mut report = Report::new(ReportMode::Wrap, &common.ports);
    report.command = args.command.clone();
    report.command_status = Some(finished.status.clone());
    report.interrupted_by = finished.forwarded;
    if !finished.status.started() || !reap_exited_children() {
        report.cleanup_interrupted_by = signal_during_cleanup(&inbox);
        return Ok(report);
    }
    // Something still descends from the test: look for dashboards among
    // it, once any that is still between fork and exec has exec'd.
    wait_for_pending_exec(std::process::id(), PENDING_EXEC_LIMIT);
    let now = ListenerSnapshot::take(&common.ports).context("cannot read the listening sockets")?;
    // Blame is ancestry alone: the label is the whole nextest run's, and
    // a dashboard of a test running in parallel carries it too.
    let run = Run {
        root: std::process::id(),
        label: None,
        mode: Mode::Run,
    };
    let mut leaks = find_leaks(&now, &now, &run, &common.ports);
    leaks.leaks.retain(|l| l.from_run && l.is_dashboard());
    leaks.appeared.clear();
    if let Some(test) = TestLabel::of_this_process() {
        for leak in &mut leaks.leaks {
            leak.test = Some(test.clone());
        }
    }
    stop_leaks(&mut leaks, args.no_reap);
    // One that was already exiting when we came to stop it (the test
    // signalled it but did not wait) left nothing behind: not a leak.
    leaks
        .leaks
        .retain(|l| !matches!(l.action, Action::AlreadyGone { .. }));
    let _ = reap_exited_children();
    report.before = now;
    report.leaks = leaks;
    report.cleanup_interrupted_by = signal_during_cleanup(&inbox);
    Ok(report)
}

/// Why `check` cannot use its baseline: the one line to print (exit 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BadBaseline(pub String);

/// `check --baseline FILE`: the ports are the baseline's.
pub fn check(common: &CommonArgs, args: &CheckArgs) -> anyhow::Result<Report> {
    // A signal while leaks are stopped waits until they are (then exit 128 + N).
    let inbox = take_over_signals()?;
    let baseline = read_baseline(&args.baseline).map_err(BadBaseline)?;
    let ports: PortSet = baseline.ports.parse().map_err(|e| anyhow::anyhow!("{e}"))?;
    let before = ListenerSnapshot::from_listeners(baseline.listeners.clone());
    let now = ListenerSnapshot::take(&ports).context("cannot read the listening sockets")?;
    let run = Run {
        root: std::process::id(),
        label: baseline.run_label.clone().map(Into::into),
        mode: Mode::Check,
    };
    let mut leaks = find_leaks(&before, &now, &run, &ports);
    // A dashboard that was already alive at the baseline (still starting, it
    // bound its port later) is not the run's leak.
    let known: std::collections::HashSet<(u32, u64)> = baseline
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
    let quiet = common.verbosity() < 0;
    stop_leaks_showing(&mut leaks, args.no_reap, |n| {
        Progress::new("stopping leaked dashboards", n, quiet)
    });
    let mut report = Report::new(ReportMode::Check, &ports);
    report.run_label = baseline.run_label.clone();
    report.before = before;
    report.leaks = leaks;
    report.cleanup_interrupted_by = signal_during_cleanup(&inbox);
    Ok(report)
}
