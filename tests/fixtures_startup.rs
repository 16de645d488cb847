//! Guarantee 2 of issue 3: a dashboard is tracked from the moment it is
//! spawned, not from its health check. A child that exits early, never binds,
//! or binds the wrong port is stopped (its whole group) and reported with its
//! exit status and the tail of its log; a `spec-kitty dashboard` CLI
//! interrupted before it wrote `.kittify/.dashboard` leaves nothing behind
//! once the project is dropped.
//!
//! The real dashboard cannot be made to fail on purpose, so the first three
//! use FAKE interpreters from `tests/fakes/` (see its README); the interrupted
//! CLI is the real spec-kitty.
//!
//! Ports: 9520-9529 and 9598 (see tests/common).

mod common;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use common::cleanup::*;
use common::fakes::FakeVenv;
use common::*;
use kitty_core::ProcessIdentity;
use kitty_fixtures::{Error, KittyProject, Origin};

/// A project whose dashboards the fake serves on `ports`, given up after `start_timeout`.
fn project_with(fake: &FakeVenv, ports: &str, start_timeout: Duration) -> KittyProject {
    KittyProject::builder()
        .spec_kitty(fake.spec_kitty())
        .ports(ports.parse().expect("ports"))
        .start_timeout(start_timeout)
        .build()
        .expect("project")
}

/// After a failed start: nothing the fake ran is left (the direct child is
/// reaped, what it forked is gone), no port of `ports` is held, nothing is
/// listed, no `.dashboard` was written. The error never shows a token.
fn assert_the_fake_left_nothing(
    project: &KittyProject,
    fake: &FakeVenv,
    ports: &[u16],
    err: &Error,
) {
    let pids = fake.pids();
    assert!(!pids.is_empty(), "the fake never ran");
    assert!(
        reaped(pids[0]),
        "the spawned child {} was not reaped",
        pids[0]
    );
    for pid in &pids {
        assert!(
            ProcessIdentity::read(*pid).is_none(),
            "pid {pid} of the fake is still running"
        );
    }
    for port in ports {
        assert!(port_free(*port), "port {port} is still held");
    }
    assert!(
        project.dashboards().is_empty(),
        "{:?}",
        project.dashboards()
    );
    assert!(!has_dashboard_file(project.path()));
    let shown = format!("{err} {err:?}");
    assert!(!shows_a_token(&shown), "a token is shown: {shown}");
}

#[test]
fn a_child_that_exits_early_is_reported_with_its_status_and_log_tail() {
    let fake = FakeVenv::new("fake-spec-kitty-exits-3.sh", &[("PORT", "0".into())]);
    let project = project_with(&fake, "9520-9521", Duration::from_secs(1));
    let err = project.start_dashboard().expect_err("the fake exits");
    match &err {
        Error::StartFailed {
            port,
            reason,
            exit_status,
            log_tail,
        } => {
            assert!((9520..=9521).contains(port), "{err}");
            assert_eq!(*exit_status, Some(3), "{err}");
            assert!(reason.contains("exit status 3"), "{reason}");
            assert!(
                log_tail.contains("cannot import specify_cli, exiting 3"),
                "{log_tail}"
            );
            // The fake echoed its arguments, token included: the tail masks it.
            assert!(
                log_tail.contains("run_dashboard_server") && log_tail.contains("<token>"),
                "{log_tail}"
            );
        }
        other => panic!("expected StartFailed, got {other:?}"),
    }
    let shown = err.to_string();
    assert!(
        shown.contains("exit status 3")
            && shown.contains("log tail")
            && shown.contains("exiting 3"),
        "{shown}"
    );
    assert_the_fake_left_nothing(&project, &fake, &[9520, 9521], &err);
}

#[test]
fn a_child_that_never_binds_is_stopped_with_its_group_and_reported() {
    let fake = FakeVenv::new("fake-spec-kitty-never-binds.sh", &[("PORT", "0".into())]);
    let project = project_with(&fake, "9522", Duration::from_secs(1));
    let err = project.start_dashboard().expect_err("the fake never binds");
    match &err {
        Error::StartTimeout { port, log_tail, .. } => {
            assert_eq!(*port, 9522);
            assert!(log_tail.contains("hanging without binding"), "{log_tail}");
        }
        other => panic!("expected StartTimeout, got {other:?}"),
    }
    assert_eq!(fake.pids().len(), 2, "the shell and the sleep it forked");
    assert_the_fake_left_nothing(&project, &fake, &[9522], &err);
}

#[test]
fn a_child_that_never_binds_and_execs_something_else_is_still_stopped() {
    let fake = FakeVenv::new(
        "fake-spec-kitty-never-binds-exec.sh",
        &[("PORT", "0".into())],
    );
    let project = project_with(&fake, "9523", Duration::from_secs(1));
    let err = project.start_dashboard().expect_err("the fake never binds");
    assert!(
        matches!(err, Error::StartTimeout { port: 9523, .. }),
        "{err:?}"
    );
    assert_the_fake_left_nothing(&project, &fake, &[9523], &err);
}

#[test]
fn a_child_that_binds_the_wrong_port_is_stopped_and_reported() {
    let fake = FakeVenv::new("fake-spec-kitty-wrong-port.sh", &[("PORT", "9526".into())]);
    let project = project_with(&fake, "9524", Duration::from_secs(30));
    let err = project.start_dashboard().expect_err("the fake binds 9526");
    match &err {
        Error::StartFailed {
            port: 9524,
            reason,
            log_tail,
            ..
        } => {
            assert!(reason.contains("bound port 9526 instead"), "{reason}");
            assert!(log_tail.contains("binding 9526 instead"), "{log_tail}");
        }
        other => panic!("expected StartFailed on 9524, got {other:?}"),
    }
    assert_the_fake_left_nothing(&project, &fake, &[9524, 9526], &err);
}

/// The fake venv is the guard of what its fake runs: a test that fails
/// while the fake's forked server listens (started here without
/// kitty-fixtures, so only the fake's own mark names it) leaves neither the
/// server nor its port once the unwinding dropped the guard.
#[test]
fn a_failing_test_leaves_no_fake_server_behind() {
    let seen = std::sync::Mutex::new(Vec::new());
    let failed = std::panic::catch_unwind(|| {
        let fake = FakeVenv::new("fake-spec-kitty-wrong-port.sh", &[("PORT", "9598".into())]);
        let python = fake.spec_kitty().with_file_name("python3");
        // Not waited for here: the fake's guard stops it and reaps it
        // (waitid through its pidfd), which is what this test checks; a
        // second reaper (Child::kill/wait) could signal a reused pid.
        #[allow(clippy::zombie_processes)]
        let _child = std::process::Command::new(python)
            .args(["-c", "import nothing"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the fake");
        wait_until("the fake's server listens on 9598", || port_held(9598));
        if let Ok(mut s) = seen.lock() {
            *s = fake.pids();
        }
        panic!("a test failing while the fake's server runs");
    });
    assert!(failed.is_err(), "the scenario was meant to panic");
    let pids = seen.lock().map(|s| s.clone()).unwrap_or_default();
    assert_eq!(pids.len(), 2, "the fake and its server: {pids:?}");
    assert!(reaped(pids[0]), "the fake {} was not reaped", pids[0]);
    for pid in &pids {
        assert!(
            ProcessIdentity::read(*pid).is_none(),
            "pid {pid} of the fake outlived its guard"
        );
    }
    assert!(port_free(9598), "the fake's server still holds 9598");
}

#[test]
fn a_child_that_execs_a_listener_on_the_wrong_port_is_stopped_and_reported() {
    let fake = FakeVenv::new(
        "fake-spec-kitty-wrong-port-exec.sh",
        &[("PORT", "9527".into())],
    );
    let project = project_with(&fake, "9525", Duration::from_secs(30));
    let err = project.start_dashboard().expect_err("the fake binds 9527");
    match &err {
        Error::StartFailed {
            port: 9525, reason, ..
        } => assert!(reason.contains("bound port 9527 instead"), "{reason}"),
        other => panic!("expected StartFailed on 9525, got {other:?}"),
    }
    assert_the_fake_left_nothing(&project, &fake, &[9525, 9527], &err);
}

#[test]
fn an_interrupted_spec_kitty_dashboard_cli_leaves_nothing_once_the_project_is_dropped() {
    common::export_spec_kitty();
    let project = project_on("9528-9529");
    let dir: PathBuf = project.path().to_path_buf();
    let mut cleanup = Cleanup::new();
    let cli = project
        .spec_kitty(["dashboard", "--port", "9528"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spec-kitty dashboard");
    let cli_pid = cli.id();
    let mut cli_guard = Cleanup::new();
    let cli = cli_guard.child(cli);

    // Interrupt the CLI as soon as its server child exists (the CLI then waits
    // for health before it writes .dashboard).
    let spawned = eventually(MINUTE, || {
        !common::dashboards_under(&dir).is_empty() || matches!(cli.try_wait(), Ok(Some(_)))
    });
    let found = cleanup.dashboards_under(&dir);
    assert!(
        spawned.is_some() && found.len() == 1,
        "the CLI spawned no dashboard: {found:?}"
    );
    let file_before = has_dashboard_file(&dir);
    // SAFETY: kill(2) of our own unreaped child.
    assert_eq!(
        unsafe { libc::kill(cli_pid as libc::pid_t, libc::SIGINT) },
        0
    );
    let status = poll(Duration::from_secs(30), || cli.try_wait().ok().flatten())
        .expect("the CLI did not end after SIGINT");
    assert!(
        !status.success(),
        "the CLI succeeded despite the interrupt: {}",
        describe(status)
    );
    assert!(
        !file_before && !has_dashboard_file(&dir),
        "spec-kitty wrote .kittify/.dashboard before the interrupt; the test proves nothing"
    );

    // spec-kitty's bug: the server outlives its interrupted CLI, unrecorded.
    let server = &found[0];
    assert!(
        server.identity.is_still_alive(),
        "the server died with its CLI; nothing to prove"
    );
    let port = server.command.port.expect("port in the command line");
    let listed = project.dashboards();
    assert!(
        listed
            .iter()
            .any(|d| d.pid() == server.identity.pid() && d.origin() == Origin::Adopted),
        "{listed:?}"
    );

    drop_and_assert_stopped(project, &[(&server.identity, port)]);
    assert!(!dir.exists());
}
