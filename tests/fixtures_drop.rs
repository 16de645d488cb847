//! Guarantee 1 of issue 3, with the real dashboard: dropping a project stops
//! every dashboard serving it (started or adopted), reaps the process group,
//! checks the port is free, removes `.kittify/.dashboard`, and only then
//! deletes the temp dir; on return, failed assertion, panic, `#[should_panic]`
//! and with the rstest fixtures.
//!
//! Ports: 9510-9519 (see tests/common).

mod common;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use common::cleanup::*;
use common::detached::{start_dashboard, start_dashboard_in};
use common::reexec::*;
use common::*;
use kitty_core::spec_kitty::DashboardFile;
use kitty_core::{ProcessIdentity, ProcessTree, StopSignal};
use kitty_fixtures::{KittyProject, Origin, ServedProject, kitty_project, kitty_served_project};
use rstest::rstest;

/// Where this file's projects start dashboards; 9515-9519 are for the
/// dashboards its tests start by other means, on fixed ports.
const WINDOW: &str = "9510-9514";

fn project() -> KittyProject {
    project_on(WINDOW)
}

/// One look at everything the drop order is about.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Sample {
    alive: Vec<bool>,
    port_held: Vec<bool>,
    file: bool,
    dir: bool,
}

/// Reads the facts in the reverse of the order the drop must change them
/// (dir, file, ports, processes): each step is final (a stopped process does
/// not come back), so a sample can only show an order violation that really
/// happened, never one made up by the time between its reads.
fn sample(ids: &[ProcessIdentity], ports: &[u16], dir: &Path) -> Sample {
    let dir_exists = dir.exists();
    let file = DashboardFile::path_in(dir).exists();
    let port_held = ports.iter().map(|p| port_held(*p)).collect();
    let alive = ids.iter().map(ProcessIdentity::is_still_alive).collect();
    Sample {
        alive,
        port_held,
        file,
        dir: dir_exists,
    }
}

/// Drops `project` while another thread samples, as fast as it can, whether
/// each dashboard runs, each port is held, `.kittify/.dashboard` and the dir
/// exist. Returns the samples in order (the first taken before the drop, the
/// last after it).
fn watch_drop(project: KittyProject, ids: &[ProcessIdentity], ports: &[u16]) -> Vec<Sample> {
    let dir = project.path().to_path_buf();
    let done = Arc::new(AtomicBool::new(false));
    let go = Arc::new(Barrier::new(2));
    let sampler = {
        let (ids, ports, dir, done, go) = (
            ids.to_vec(),
            ports.to_vec(),
            dir.clone(),
            done.clone(),
            go.clone(),
        );
        std::thread::spawn(move || {
            let mut out = vec![sample(&ids, &ports, &dir)];
            go.wait();
            while !done.load(Ordering::SeqCst) {
                out.push(sample(&ids, &ports, &dir));
            }
            out.push(sample(&ids, &ports, &dir));
            out
        })
    };
    go.wait();
    drop(project);
    done.store(true, Ordering::SeqCst);
    sampler.join().expect("sampler")
}

#[test]
fn drop_stops_reaps_and_frees_before_the_file_and_the_dir_go() {
    common::export_spec_kitty();
    let project = project();
    let mut cleanup = Cleanup::new();
    // Two dashboards on one project: the file names the second.
    let a = project.start_dashboard().expect("first dashboard");
    let ida = cleanup.dashboard(&a);
    let b = project.start_dashboard().expect("second dashboard");
    let idb = cleanup.dashboard(&b);
    assert_ne!(a.port(), b.port());
    let file = DashboardFile::read(project.path())
        .expect("readable")
        .expect("written");
    assert_eq!((file.port, file.pid), (Some(b.port()), Some(b.pid())));
    let dir = project.path().to_path_buf();

    let samples = watch_drop(project, &[ida.clone(), idb.clone()], &[a.port(), b.port()]);

    let first = samples.first().expect("a sample");
    assert_eq!(
        first,
        &Sample {
            alive: vec![true, true],
            port_held: vec![true, true],
            file: true,
            dir: true
        }
    );
    for s in &samples {
        let all_down = s.alive.iter().chain(&s.port_held).all(|x| !x);
        assert!(
            s.dir || all_down,
            "the dir was deleted before every dashboard was stopped: {s:?}"
        );
        // The file names the second dashboard: it goes only after that one is stopped and its port free.
        assert!(
            s.file || !s.dir || (!s.alive[1] && !s.port_held[1]),
            "the file went first: {s:?}"
        );
    }
    let last = samples.last().expect("a sample");
    assert_eq!(
        last,
        &Sample {
            alive: vec![false, false],
            port_held: vec![false, false],
            file: false,
            dir: false
        }
    );
    for id in [&ida, &idb] {
        assert!(reaped(id.pid()), "pid {} not reaped", id.pid());
        assert!(
            ProcessTree::read().group_members(id.pid()).is_empty(),
            "group {} not empty",
            id.pid()
        );
    }
    eprintln!("drop order held over {} samples", samples.len());
    common::assert_no_dashboard_under(&dir);
    assert!(port_free(a.port()) && port_free(b.port()));
}

#[test]
fn stop_dashboards_reports_what_it_stopped_and_the_project_starts_again() {
    common::export_spec_kitty();
    let project = project();
    let mut cleanup = Cleanup::new();
    let d = project.start_dashboard().expect("dashboard");
    let id = cleanup.dashboard(&d);
    assert_eq!(project.dashboards(), vec![d.clone()]);
    assert_eq!(d.origin(), Origin::Started);

    let report = project.stop_dashboards().expect("stop");
    assert_eq!(report.stopped.len(), 1, "{report:?}");
    let s = &report.stopped[0];
    assert_eq!(
        (
            s.stop.pid,
            s.port,
            s.stop.signal,
            s.stop.escalated,
            s.origin
        ),
        (
            d.pid(),
            Some(d.port()),
            Some(StopSignal::Term),
            false,
            Origin::Started
        )
    );
    assert!(report.elapsed >= s.stop.elapsed);
    assert!(report.removed_dashboard_file, "{report:?}");
    assert!(!has_dashboard_file(project.path()));
    assert!(reaped(d.pid()));
    assert_stopped(&id, d.port());
    assert!(
        project.path().is_dir(),
        "stop_dashboards must not delete the project"
    );
    assert!(project.dashboards().is_empty());

    // Nothing is left reserved: a new dashboard starts (on the freed port or another).
    let again = project.start_dashboard().expect("restart");
    let id2 = cleanup.dashboard(&again);
    let dir = drop_and_assert_stopped(project, &[(&id2, again.port())]);
    assert!(!dir.exists());
    assert!(port_free(d.port()));
}

#[test]
fn keep_keeps_the_dir_but_still_stops_the_dashboard() {
    common::export_spec_kitty();
    let project = KittyProject::builder()
        .ports(WINDOW.parse().expect("ports"))
        .keep(true)
        .build()
        .expect("project");
    let mut cleanup = Cleanup::new();
    cleanup.dir(project.path());
    cleanup.dir(project.home());
    let d = project.start_dashboard().expect("dashboard");
    let id = cleanup.dashboard(&d);
    let dir = drop_and_assert_stopped(project, &[(&id, d.port())]);
    assert!(dir.join(".kittify").is_dir(), "keep(true) deleted the dir");
    assert!(
        !has_dashboard_file(&dir),
        ".kittify/.dashboard survived the stop"
    );
}

// --- Every way a test function can end, in a real test harness -------------
//
// Each scenario below runs alone in a child process (this binary, re-executed
// with KITTY_PORTS set to this file's window); it prints its dashboard, waits
// until the outer test has recorded it (stdin closed), then ends its own way. The outer test checks, after the child has exited, that
// the dashboard is gone, its port free and the dir deleted: only `Drop`
// deletes the dir (the at-exit hook stops dashboards but deletes nothing), so
// a deleted dir proves the drop ran.

#[rstest]
#[ignore = "scenario: run by drop_runs_however_the_test_ends in a child process"]
fn scenario_drop_on_return(kitty_served_project: ServedProject) {
    if !scenario_is("scenario_drop_on_return") {
        return;
    }
    report_and_hold(&kitty_served_project.dashboard, &kitty_served_project);
}

#[rstest]
#[ignore = "scenario: run by drop_runs_however_the_test_ends in a child process"]
fn scenario_drop_on_failed_assertion(kitty_project: KittyProject) {
    if !scenario_is("scenario_drop_on_failed_assertion") {
        return;
    }
    let d = serve_and_hold(&kitty_project);
    assert_eq!(d.port(), 1, "this assertion fails on purpose");
}

#[test]
#[ignore = "scenario: run by drop_runs_however_the_test_ends in a child process"]
fn scenario_drop_on_panic() {
    if !scenario_is("scenario_drop_on_panic") {
        return;
    }
    let project = KittyProject::new().expect("project");
    serve_and_hold(&project);
    panic!("this test panics on purpose");
}

#[rstest]
#[ignore = "scenario: run by drop_runs_however_the_test_ends in a child process"]
#[should_panic(expected = "on purpose")]
fn scenario_drop_on_should_panic(kitty_served_project: ServedProject) {
    if !scenario_is("scenario_drop_on_should_panic") {
        panic!("on purpose (not a scenario run)");
    }
    report_and_hold(&kitty_served_project.dashboard, &kitty_served_project);
    panic!("this test panics on purpose");
}

#[rstest]
#[case::on_return("scenario_drop_on_return", true)]
#[case::failed_assertion("scenario_drop_on_failed_assertion", false)]
#[case::panic("scenario_drop_on_panic", false)]
#[case::should_panic("scenario_drop_on_should_panic", true)]
fn drop_runs_however_the_test_ends(#[case] scenario: &str, #[case] passes: bool) {
    common::export_spec_kitty();
    let mut cleanup = Cleanup::new();
    let mut child = Scenario::spawn(scenario, &[("KITTY_PORTS", WINDOW)]);
    let r = child.next_report();
    let id = cleanup.report(&r);
    assert!(id.is_still_alive() && port_held(r.port));
    child.release();
    let status = child.wait();
    assert_eq!(
        status.success(),
        passes,
        "{scenario} ended with {}:\n{}",
        describe(status),
        child.output()
    );
    assert!(
        !child.output().contains("kitty-fixtures:"),
        "the fixture complained:\n{}",
        child.output()
    );
    assert_stopped(&id, r.port);
    assert!(
        !r.dir.exists(),
        "{} was not deleted: the drop did not run",
        r.dir.display()
    );
    common::assert_no_dashboard_under(&r.dir);
}

// --- Adopted dashboards ----------------------------------------------------

#[test]
fn adopts_and_stops_a_dashboard_started_by_the_spec_kitty_cli() {
    common::export_spec_kitty();
    let project = project();
    let mut cleanup = Cleanup::new();
    let (_, out) = cleanup.dashboard_cli(
        &mut project.spec_kitty(["dashboard", "--port", "9517"]),
        project.path(),
    );
    let found = project.dashboards();
    assert_eq!(found.len(), 1, "{found:?}\n{out}");
    let d = &found[0];
    assert_eq!(d.origin(), Origin::Adopted);
    assert_ne!(d.port(), 0, "{d:?}");
    let file = DashboardFile::read(project.path())
        .expect("readable")
        .expect("spec-kitty wrote it");
    assert_eq!((file.port, file.pid), (Some(d.port()), Some(d.pid())));
    let id = identity(d.pid());

    let dir = drop_and_assert_stopped(project, &[(&id, d.port())]);
    assert!(!dir.exists());
}

#[test]
fn stops_a_dashboard_whose_command_line_names_the_dir_and_spares_the_others() {
    common::export_spec_kitty();
    let project = project();
    let elsewhere = temp_root("kitty-e2e-drop-");
    let other = bare_project(elsewhere.path(), "other");
    let mut cleanup = Cleanup::new();
    let mine_id = cleanup.guard(start_dashboard(project.path(), 9518, project.home()));
    let mine = mine_id.pid();
    let theirs_id = cleanup.guard(start_dashboard(&other, 9519, elsewhere.path()));
    assert_ne!(
        mine_id.ppid(),
        std::process::id(),
        "not a leak: still our child"
    );

    let found = project.dashboards();
    assert_eq!(
        found
            .iter()
            .map(|d| (d.pid(), d.port(), d.origin()))
            .collect::<Vec<_>>(),
        vec![(mine, 9518, Origin::Adopted)]
    );
    let dir = drop_and_assert_stopped(project, &[(&mine_id, 9518)]);
    assert!(!dir.exists());
    assert!(
        theirs_id.is_still_alive() && port_held(9519),
        "a dashboard of another project was stopped"
    );
    drop(cleanup);
    common::assert_no_dashboard_under(elsewhere.path());
    assert!(port_free(9518) && port_free(9519));
}

// --- The fixtures, as a user writes them (default port range) --------------

/// Exports `KITTY_SPEC_KITTY` (failing when spec-kitty is missing). rstest
/// resolves fixtures in argument order, so put it first.
#[rstest::fixture]
fn spec_kitty_exported() -> PathBuf {
    common::export_spec_kitty()
}

#[rstest]
fn the_served_fixture_serves_its_project_and_never_shows_its_token(
    kitty_served_project: ServedProject,
) {
    let d = &kitty_served_project.dashboard;
    let h = kitty_core::spec_kitty::fetch_health(d.port(), Duration::from_secs(5)).expect("health");
    assert_eq!(h.project_path.as_deref(), Some(kitty_served_project.path()));
    assert_eq!(h.token(), Some(d.token()));
    assert_eq!(d.url(), format!("http://127.0.0.1:{}", d.port()));
    assert_eq!(kitty_served_project.dashboards(), vec![d.clone()]);
    let shown = format!(
        "{kitty_served_project:?} {d:?} {:?} {:?} {h:?}",
        kitty_served_project.dashboards(),
        kitty_served_project.installation()
    );
    assert!(
        !shown.contains(d.token()) && !shows_a_token(&shown),
        "{shown}"
    );
}

#[rstest]
fn the_project_fixture_is_a_scaffold_that_can_start_a_dashboard(
    #[from(spec_kitty_exported)] _sk: PathBuf,
    kitty_project: KittyProject,
) {
    assert!(kitty_project.path().join(".kittify").is_dir());
    assert!(kitty_project.dashboards().is_empty());
    let d = kitty_project.start_dashboard().expect("dashboard");
    let report = kitty_project.stop_dashboards().expect("stop");
    assert!(!shows_a_token(&format!("{report:?}")));
    assert!(reaped(d.pid()) && port_free(d.port()));
}

#[test]
fn stops_a_dashboard_whose_command_line_names_the_dir_through_a_symlink_or_relative_path() {
    common::export_spec_kitty();
    let project = project();
    let links = temp_root("kitty-e2e-link-");
    let link = links.path().join("to-the-project");
    std::os::unix::fs::symlink(project.path(), &link).expect("symlink");
    let mut cleanup = Cleanup::new();
    let by_link_id = cleanup.guard(start_dashboard(&link, 9516, project.home()));
    let by_link = by_link_id.pid();
    // `.` from a process whose cwd is the project.
    let relative_id = cleanup.guard(start_dashboard_in(
        Path::new("."),
        Some(project.path()),
        9515,
        project.home(),
    ));
    let relative = relative_id.pid();

    let mut found: Vec<u32> = project.dashboards().iter().map(|d| d.pid()).collect();
    found.sort_unstable();
    let mut expected = vec![by_link, relative];
    expected.sort_unstable();
    assert_eq!(found, expected);
    let dir = drop_and_assert_stopped(project, &[(&by_link_id, 9516), (&relative_id, 9515)]);
    assert!(!dir.exists());
}
