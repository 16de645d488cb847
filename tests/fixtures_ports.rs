//! Guarantee 4 of issue 3: ports.
//!
//! - Projects in parallel, in one process (threads) and across processes,
//!   never get the same port.
//! - A range full of orphans (project dir deleted, or reserving owner dead) is
//!   swept and the start succeeds.
//! - A range full of live dashboards, unrecorded dashboards of existing
//!   projects, dashboards whose recorded identity does not match, and foreign
//!   listeners is an error naming the range and the holders, quickly, and
//!   nothing is killed.
//! - A `.kittify/.dashboard` naming an unrelated live process never gets it
//!   signalled.
//!
//! Ports: 9540-9559, one sub-window per test (see tests/common).

mod common;

use std::collections::HashSet;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::time::Instant;

use common::cleanup::*;
use common::detached::start_dashboard;
use common::reexec::*;
use common::*;
use kitty_core::ProcessIdentity;
use kitty_core::reservation::{Reservation, ReservationRecord, read_reservation, reservation_dir};
use kitty_core::spec_kitty::DashboardFile;
use kitty_fixtures::{Error, KittyProject};

fn project(ports: &str) -> KittyProject {
    project_on(ports)
}

// --- Parallel projects ------------------------------------------------------

const PARALLEL: &str = "9540-9547";

#[test]
#[ignore = "scenario: run by parallel_projects_in_threads_and_processes_never_share_a_port in a child process"]
fn scenario_ports_hold_one() {
    if !scenario_is("scenario_ports_hold_one") {
        return;
    }
    // KITTY_PORTS comes from the outer test: the env path of the port range.
    let project = KittyProject::new().expect("project");
    serve_and_hold(&project);
}

#[test]
fn parallel_projects_in_threads_and_processes_never_share_a_port() {
    common::export_spec_kitty();
    let mut cleanup = Cleanup::new();
    let mut children: Vec<Scenario> = (0..3)
        .map(|_| Scenario::spawn("scenario_ports_hold_one", &[("KITTY_PORTS", PARALLEL)]))
        .collect();
    let threads: Vec<_> = (0..3)
        .map(|_| {
            std::thread::spawn(|| {
                let p = project(PARALLEL);
                let d = p.start_dashboard().expect("dashboard");
                (p, d)
            })
        })
        .collect();
    let mine: Vec<(KittyProject, kitty_fixtures::Dashboard)> = threads
        .into_iter()
        .map(|t| t.join().expect("thread"))
        .collect();
    let mut all: Vec<(u32, u16, PathBuf)> = Vec::new();
    for (p, d) in &mine {
        cleanup.dashboard(d);
        all.push((d.pid(), d.port(), p.path().to_path_buf()));
    }
    for c in &mut children {
        let r = c.next_report();
        cleanup.report(&r);
        all.push((r.pid, r.port, r.dir));
    }

    let ports: HashSet<u16> = all.iter().map(|(_, port, _)| *port).collect();
    assert_eq!(
        ports.len(),
        all.len(),
        "a port was handed out twice: {all:?}"
    );
    let window: kitty_core::PortSet = PARALLEL.parse().expect("ports");
    for (pid, port, dir) in &all {
        assert!(window.contains(*port), "{port} outside {PARALLEL}");
        // Each answers for its own project (and so is not sharing a socket).
        assert_serves(*port, dir);
        let state = read_reservation(*port).expect("a reservation record");
        assert!(
            state.owner_alive && state.record.dashboard_pid == Some(*pid),
            "{port}: {:?}",
            state.record
        );
    }

    for c in &mut children {
        c.release();
        c.wait_success();
    }
    let dirs: Vec<PathBuf> = all.iter().map(|(_, _, d)| d.clone()).collect();
    drop(mine);
    for (_, port, dir) in &all {
        assert!(port_free(*port), "port {port} still held");
        assert!(!dir.exists(), "{} not deleted", dir.display());
    }
    for d in &dirs {
        common::assert_no_dashboard_under(d);
    }
}

// --- A range full of orphans -----------------------------------------------

const ORPHANS: &str = "9548-9550";

/// Reserves `KITTY_E2E_PORT` for `KITTY_E2E_DIR`, starts a detached dashboard
/// there, records it in the reservation, prints it, and waits to be killed:
/// its death releases the lock and leaves an orphan with a dead owner.
#[test]
#[ignore = "scenario: run by a_range_full_of_orphans_is_swept_and_the_start_succeeds in a child process"]
fn scenario_ports_reserve_and_die() {
    if !scenario_is("scenario_ports_reserve_and_die") {
        return;
    }
    let port: u16 = std::env::var("KITTY_E2E_PORT")
        .expect("port")
        .parse()
        .expect("port");
    let dir = PathBuf::from(std::env::var("KITTY_E2E_DIR").expect("dir"));
    let mut reservation = Reservation::try_acquire(port, &dir)
        .expect("io")
        .expect("port free");
    let d = start_dashboard(&dir, port, &dir);
    reservation.record_dashboard(&d.identity).expect("record");
    report_line(d.pid(), port, &dir, &dir);
    hold();
}

#[test]
fn a_range_full_of_orphans_is_swept_and_the_start_succeeds() {
    common::export_spec_kitty();
    let root = temp_root("kitty-e2e-orphans-");
    let mut cleanup = Cleanup::new();
    let gone = [
        bare_project(root.path(), "gone-a"),
        bare_project(root.path(), "gone-b"),
    ];
    let owned = bare_project(root.path(), "owner-died");

    // Orphan 1: a test process reserved 9549, started a dashboard, and died.
    let owner_env = [
        ("KITTY_E2E_PORT", "9549"),
        ("KITTY_E2E_DIR", owned.to_str().expect("utf-8")),
    ];
    let mut owner = Scenario::spawn("scenario_ports_reserve_and_die", &owner_env);
    // Orphans 2 and 3: dashboards whose project dirs were deleted.
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| start_dashboard(&gone[0], 9548, root.path()));
        let b = s.spawn(|| start_dashboard(&gone[1], 9550, root.path()));
        (a.join().expect("a"), b.join().expect("b"))
    });
    let r = owner.next_report();
    let orphans = [
        cleanup.guard(a),
        cleanup.process(r.pid, Some(9549)),
        cleanup.guard(b),
    ];
    owner.signal(libc::SIGKILL, false);
    owner.wait();
    for g in &gone {
        std::fs::remove_dir_all(g).expect("delete the project");
    }
    let state = read_reservation(9549).expect("the dead owner's record");
    assert!(
        !state.owner_alive && state.record.dashboard_pid == Some(r.pid),
        "{state:?}"
    );
    assert!(owned.is_dir());
    for o in &orphans {
        assert!(o.is_still_alive());
    }
    assert!(
        [9548, 9549, 9550].iter().all(|p| port_held(*p)),
        "the range is not full"
    );

    let project = project(ORPHANS);
    let d = project
        .start_dashboard()
        .expect("the orphans are swept, then the start succeeds");
    let id = cleanup.dashboard(&d);
    for o in &orphans {
        assert!(!o.is_still_alive(), "orphan pid {} was not swept", o.pid());
    }
    assert_serves(d.port(), project.path());
    drop_and_assert_stopped(project, &[(&id, d.port())]);
    assert_nothing_left(ORPHANS, root.path());
}

// --- A range full of things that are not orphans ----------------------------

const FULL: &str = "9551-9554";

/// Writes the reservation record of `port` by hand, with no lock held (so its
/// owner reads as dead).
fn write_stale_reservation(port: u16, record: &ReservationRecord) {
    let dir = reservation_dir();
    let path = dir.join(format!("{port}.lock"));
    let json = serde_json::to_vec(record).expect("json");
    // The last release of another test may remove the (empty) directory
    // between the two: make it again.
    for attempt in 1.. {
        std::fs::create_dir_all(&dir).expect("reservation dir");
        match std::fs::write(&path, &json) {
            Ok(()) => break,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && attempt < 10 => {}
            Err(e) => panic!("write the record {}: {e}", path.display()),
        }
    }
}

#[test]
fn a_range_full_of_live_dashboards_and_foreign_listeners_is_an_error_naming_them() {
    common::export_spec_kitty();
    let root = temp_root("kitty-e2e-full-");
    let mut cleanup = Cleanup::new();
    // 9551: a live dashboard of another project of this process.
    let live = project("9551");
    let live_d = live.start_dashboard().expect("live dashboard");
    let live_id = cleanup.dashboard(&live_d);
    // 9552: a listener that is not a dashboard at all.
    let foreign = TcpListener::bind((Ipv4Addr::LOCALHOST, 9552)).expect("bind 9552");
    // 9553: an unrecorded dashboard of an existing project (an interrupted start-up).
    // 9554: a dashboard of an existing project whose reservation record names
    //       its pid, with a dead owner, but another start time: the record is
    //       about some earlier process with that pid, so it proves nothing.
    let (unrecorded, reused) = (
        bare_project(root.path(), "unrecorded"),
        bare_project(root.path(), "reused"),
    );
    let (u, m) = std::thread::scope(|s| {
        let u = s.spawn(|| start_dashboard(&unrecorded, 9553, root.path()));
        let m = s.spawn(|| start_dashboard(&reused, 9554, root.path()));
        (u.join().expect("u"), m.join().expect("m"))
    });
    let (u_id, m_id) = (cleanup.guard(u), cleanup.guard(m));
    let (u, m) = (u_id.pid(), m_id.pid());
    write_stale_reservation(
        9554,
        &ReservationRecord {
            port: 9554,
            owner_pid: dead_pid(),
            owner_start_ticks: 1,
            dashboard_pid: Some(m),
            dashboard_start_ticks: Some(m_id.start_ticks() + 1),
            project_dir: reused.clone(),
        },
    );
    let state = read_reservation(9554).expect("record");
    assert!(!state.owner_alive);

    let project = project(FULL);
    let began = Instant::now();
    let err = project
        .start_dashboard()
        .expect_err("the range is full of non-orphans");
    let took = began.elapsed();
    let shown = err.to_string();
    match &err {
        Error::PortRangeFull { range, holders } => {
            assert_eq!(range.to_string(), FULL);
            for (port, pid) in [
                (9551, live_d.pid()),
                (9552, std::process::id()),
                (9553, u),
                (9554, m),
            ] {
                assert!(
                    holders.contains(&format!("{port} pid {pid}")),
                    "{port} pid {pid} not named: {holders}"
                );
            }
            assert!(
                holders.contains(&format!("dashboard of {}", live.path().display())),
                "{holders}"
            );
        }
        other => panic!("expected PortRangeFull, got {other:?}"),
    }
    assert!(shown.contains(FULL), "{shown}");
    assert!(!shows_a_token(&shown), "{shown}");
    // The guarantee is "within 2 s" (spec-kitty takes 32 s); a generous
    // deadline keeps a loaded machine from failing the test; the time is printed.
    eprintln!("PortRangeFull after {took:?}");
    assert!(took < DEADLINE, "PortRangeFull took {took:?}");

    // Nothing was killed.
    for (id, port) in [(&live_id, 9551), (&u_id, 9553), (&m_id, 9554)] {
        assert!(
            id.is_still_alive() && port_held(port),
            "the holder of {port} was stopped"
        );
    }
    assert!(
        TcpStream::connect((Ipv4Addr::LOCALHOST, 9552)).is_ok(),
        "the foreign listener is gone"
    );
    assert_serves(9551, live.path());
    assert!(project.dashboards().is_empty() && !has_dashboard_file(project.path()));

    drop(foreign);
    drop(live);
    assert_stopped(&live_id, 9551);
    drop(cleanup);
    assert_nothing_left(FULL, root.path());
}

// --- A .dashboard naming an unrelated process -------------------------------

#[test]
fn a_dashboard_file_naming_an_unrelated_process_never_gets_it_signalled() {
    common::export_spec_kitty();
    let mut guard = Cleanup::new();
    let sleep = guard.sentinel();
    let sleep_pid = sleep.id();
    let alive = |s: &mut std::process::Child| matches!(s.try_wait(), Ok(None));

    // A project with no dashboard, whose file names the sleep (spec-kitty #4767:
    // a stale pid now used by someone else).
    let idle = project("9555-9556");
    DashboardFile::new(9555, Some(random_token()), Some(sleep_pid))
        .write(idle.path())
        .expect("write");
    assert!(idle.dashboards().is_empty());
    let report = idle.stop_dashboards().expect("nothing to stop is fine");
    assert!(report.stopped.is_empty(), "{report:?}");
    drop(idle);
    assert!(alive(sleep), "the sleep was signalled");

    // A project with a real dashboard whose file was overwritten to name the sleep.
    let mut cleanup = Cleanup::new();
    let served = project("9555-9556");
    let d = served.start_dashboard().expect("dashboard");
    let id = cleanup.dashboard(&d);
    DashboardFile::new(d.port(), Some(random_token()), Some(sleep_pid))
        .write(served.path())
        .expect("write");
    let listed: Vec<u32> = served.dashboards().iter().map(|x| x.pid()).collect();
    assert_eq!(listed, vec![d.pid()]);
    drop_and_assert_stopped(served, &[(&id, d.port())]);
    assert!(alive(sleep), "the sleep was signalled");
    assert!(ProcessIdentity::read(sleep_pid).is_some());
}
