//! Guarantee 3 of issue 3: every other way a test process ends.
//!
//! - Never dropped (`std::mem::forget`, a static, rstest `#[once]`,
//!   `std::process::exit`, a `#[timeout]` that abandoned its test): the at-exit
//!   hook stops the dashboards when the test binary exits. Proof that it was
//!   the hook: the dashboard is gone as soon as the process is, and
//!   `.kittify/.dashboard` was removed (the kernel's parent-death signal kills
//!   but removes nothing), while the project dir is still there (nobody
//!   dropped the project).
//! - Killed (SIGKILL, SIGTERM to the whole group as nextest's timeout does,
//!   SIGINT, abort): no hook runs; the dashboards the process spawned die by
//!   the parent-death signal set from the spawner thread.
//!
//! Each way runs as a scenario in a child process: this test binary,
//! re-executed to run one `#[ignore]`d scenario test with `KITTY_PORTS` set to
//! this file's window. The scenario prints its dashboard and waits until the
//! outer test has recorded it (stdin closed), then ends its way.
//!
//! Ports: 9530-9539 (see tests/common).

mod common;

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use common::cleanup::*;
use common::reexec::*;
use common::*;
use kitty_fixtures::{KittyProject, ServedProject, kitty_served_project};
use rstest::{fixture, rstest};

/// The fixtures' ports in the scenarios; 9539 is left to spec-kitty's own CLI (the
/// fixtures take ports from the top of their range, so it must lie outside).
const WINDOW: &str = "9530-9538";

// --- The scenarios (each runs alone in a child process) ---------------------

#[test]
#[ignore = "scenario: run by a_dashboard_never_outlives_its_test_process in a child process"]
fn scenario_exit_forget() {
    if !scenario_is("scenario_exit_forget") {
        return;
    }
    let project = KittyProject::new().expect("project");
    serve_and_hold(&project);
    std::mem::forget(project);
}

static PROJECT: OnceLock<KittyProject> = OnceLock::new();

#[test]
#[ignore = "scenario: run by a_dashboard_never_outlives_its_test_process in a child process"]
fn scenario_exit_static() {
    if !scenario_is("scenario_exit_static") {
        return;
    }
    let project = PROJECT.get_or_init(|| KittyProject::new().expect("project"));
    serve_and_hold(project);
}

#[fixture]
#[once]
fn once_project() -> KittyProject {
    KittyProject::new().expect("project")
}

#[rstest]
#[ignore = "scenario: run by a_dashboard_never_outlives_its_test_process in a child process"]
fn scenario_exit_once(once_project: &KittyProject) {
    if !scenario_is("scenario_exit_once") {
        return;
    }
    serve_and_hold(once_project);
}

#[test]
#[ignore = "scenario: run by a_dashboard_never_outlives_its_test_process in a child process"]
fn scenario_exit_process_exit() {
    if !scenario_is("scenario_exit_process_exit") {
        return;
    }
    let project = KittyProject::new().expect("project");
    serve_and_hold(&project);
    std::process::exit(0);
}

/// The fixture (and its dashboard) is made before the timer starts; the body
/// never returns, so rstest abandons its thread, still holding the project.
#[rstest]
#[timeout(Duration::from_secs(1))]
#[ignore = "scenario: run by a_dashboard_never_outlives_its_test_process in a child process"]
fn scenario_exit_timeout(kitty_served_project: ServedProject) {
    if !scenario_is("scenario_exit_timeout") {
        return;
    }
    report_and_hold(&kitty_served_project.dashboard, &kitty_served_project);
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

/// A dashboard started by the real `spec-kitty dashboard` (detached by
/// spec-kitty: not our child, no parent-death signal), in a project that is
/// never dropped.
#[test]
#[ignore = "scenario: run by a_dashboard_never_outlives_its_test_process in a child process"]
fn scenario_exit_forget_adopted() {
    if !scenario_is("scenario_exit_forget_adopted") {
        return;
    }
    let project = KittyProject::new().expect("project");
    let status = project
        .spec_kitty(["dashboard", "--port", "9539"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .status()
        .expect("spec-kitty dashboard");
    assert!(status.success(), "spec-kitty dashboard: {status}");
    let found = project.dashboards();
    assert_eq!(found.len(), 1, "{found:?}");
    report_and_hold(&found[0], &project);
    std::mem::forget(project);
}

/// Waits to be killed by the outer test (SIGKILL, SIGTERM, SIGINT).
#[test]
#[ignore = "scenario: run by a_dashboard_never_outlives_its_test_process in a child process"]
fn scenario_exit_killed() {
    if !scenario_is("scenario_exit_killed") {
        return;
    }
    let project = KittyProject::new().expect("project");
    serve_and_hold(&project);
    // Only reached if the outer test died: end normally.
}

#[test]
#[ignore = "scenario: run by a_dashboard_never_outlives_its_test_process in a child process"]
fn scenario_exit_abort() {
    if !scenario_is("scenario_exit_abort") {
        return;
    }
    let project = KittyProject::new().expect("project");
    serve_and_hold(&project);
    std::process::abort();
}

// --- The outer test ---------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// The process ends by itself after the scenario; the at-exit hook runs.
    Exits { passes: bool },
    /// The outer test sends this signal (to the whole group when `group`).
    Signal { sig: libc::c_int, group: bool },
    /// The scenario aborts.
    Aborts,
}

#[rstest]
#[case::mem_forget("scenario_exit_forget", End::Exits { passes: true })]
#[case::mem_forget_adopted("scenario_exit_forget_adopted", End::Exits { passes: true })]
#[case::static_item("scenario_exit_static", End::Exits { passes: true })]
#[case::rstest_once("scenario_exit_once", End::Exits { passes: true })]
#[case::process_exit("scenario_exit_process_exit", End::Exits { passes: true })]
#[case::rstest_timeout("scenario_exit_timeout", End::Exits { passes: false })]
#[case::sigkill("scenario_exit_killed", End::Signal { sig: libc::SIGKILL, group: false })]
#[case::sigterm_to_the_group_as_nextest("scenario_exit_killed", End::Signal { sig: libc::SIGTERM, group: true })]
#[case::sigint("scenario_exit_killed", End::Signal { sig: libc::SIGINT, group: true })]
#[case::abort("scenario_exit_abort", End::Aborts)]
fn a_dashboard_never_outlives_its_test_process(#[case] scenario: &str, #[case] end: End) {
    common::export_spec_kitty();
    let mut cleanup = Cleanup::new();
    let mut child = Scenario::spawn(scenario, &[("KITTY_PORTS", WINDOW)]);
    let r = child.next_report();
    let id = cleanup.report(&r);
    assert!(id.is_still_alive() && port_held(r.port) && has_dashboard_file(&r.dir));
    let adopted = scenario.ends_with("_adopted");
    assert_eq!(
        id.ppid() == child.pid(),
        !adopted,
        "whose child is it? ppid {}",
        id.ppid()
    );

    if let End::Signal { sig, group } = end {
        child.signal(sig, group);
    } else {
        child.release();
    }
    let status = child.wait();
    let ended_at = Instant::now();
    let out = child.output();
    use std::os::unix::process::ExitStatusExt;
    match end {
        End::Exits { passes } => {
            assert_eq!(
                status.success(),
                passes,
                "{scenario}: {}\n{out}",
                describe(status)
            );
            if !passes {
                assert!(out.contains("Timeout 1s expired"), "{out}");
            }
            // The hook ran before the process was gone: nothing to wait for.
            assert_stopped(&id, r.port);
            assert!(
                !has_dashboard_file(&r.dir),
                "the at-exit hook did not remove .dashboard"
            );
            assert!(
                r.dir.is_dir(),
                "the project was dropped after all: this proves nothing"
            );
            assert!(
                !out.contains("kitty-fixtures:"),
                "the hook complained:\n{out}"
            );
        }
        End::Signal { sig, .. } => {
            assert_eq!(
                status.signal(),
                Some(sig),
                "{scenario}: {}\n{out}",
                describe(status)
            );
        }
        End::Aborts => {
            assert_eq!(
                status.signal(),
                Some(libc::SIGABRT),
                "{scenario}: {}\n{out}",
                describe(status)
            );
        }
    }
    if !matches!(end, End::Exits { .. }) {
        // The guarantee is "within a second"; the deadline is generous so a
        // loaded machine never fails the test; the time is printed.
        let took = eventually(DEADLINE, || !id.is_still_alive() && port_free(r.port));
        assert!(
            took.is_some(),
            "dashboard pid {} outlived its killed test process",
            r.pid
        );
        eprintln!(
            "{scenario} {end:?}: dashboard gone {:?} after the test process",
            ended_at.elapsed()
        );
        assert!(
            has_dashboard_file(&r.dir),
            "expected the kernel, not a hook, to have stopped it"
        );
    }
    common::assert_no_dashboard_under(&r.dir);
}

/// The parent-death signal is tied to the thread that forks: a dashboard
/// started from a short-lived thread must not die with that thread (the
/// spawner thread forks it), only with the process.
#[test]
fn a_dashboard_outlives_the_thread_that_started_it() {
    common::export_spec_kitty();
    let project = Arc::new(project_on(WINDOW));
    let mut cleanup = Cleanup::new();
    let d = {
        let project = Arc::clone(&project);
        std::thread::spawn(move || project.start_dashboard().expect("dashboard"))
            .join()
            .expect("thread")
    };
    let id = cleanup.dashboard(&d);
    // The thread is gone; a parent-death signal would arrive right after its exit.
    assert!(
        eventually(Duration::from_millis(200), || !id.is_still_alive()).is_none(),
        "the dashboard died with its thread"
    );
    assert_serves(d.port(), project.path());
    let project = Arc::into_inner(project).expect("the thread's handle is gone");
    drop_and_assert_stopped(project, &[(&id, d.port())]);
}
