//! Parallel tests of one binary share spec-kitty's default range 9237-9336,
//! as a user's suite does: fixture starts (`start_dashboard()`, which takes
//! ports from the top of the range downward) and spec-kitty's own CLI
//! (`spec-kitty dashboard` without `--port`, which takes the first free port
//! upward from 9237, knowing nothing of our reservations) at the same time.
//!
//! - No `start_dashboard()` fails while the range has free ports (before the
//!   fix fixtures took ports upward too, and lost them to the CLI: StartFailed
//!   "port N answered for <other project>", or the server's EADDRINUSE).
//! - Every dashboard, fixture or CLI, serves its own project.
//! - Afterwards nothing is left: no dashboard process of these projects, none
//!   of the sockets they listened on, no reservation naming them.
//!
//! Several `#[test]`s of this one binary run the rounds at once (nextest runs
//! them in parallel processes, `cargo test` in parallel threads), and each
//! round itself runs its fixture starts and CLI starts in parallel threads.
//! Fixture threads keep starting, checking and dropping dashboards while the
//! round's CLIs look for their port.
//!
//! spec-kitty's CLIs race EACH OTHER for the same port (its port search is
//! check-then-bind, and the server binds a second later); the loser fails, and
//! 0.5.3 then SIGKILLs every dashboard in the range that answers its health
//! fingerprint. That is spec-kitty's bug, not under test here: the CLIs of
//! these tests take turns (a lock file in the target dir, across processes)
//! from their start until their server listens, while the fixtures run
//! freely beside them.
//!
//! Other test files may start default-range dashboards too: the checks are
//! only about these tests' own projects and the sockets they saw them use.
//!
//! Ports: the default range 9237-9336 (no window of its own).

mod common;

use std::any::Any;
use std::fs::File;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use common::cleanup::*;
use common::*;
use kitty_core::PortSet;
use kitty_core::reservation::{read_reservation, reservation_dir};
use kitty_core::{self, ListenerSnapshot, ProcessIdentity};
use kitty_fixtures::{KittyProject, Origin};

/// Each fixture thread starts at least this many dashboards a round, and goes
/// on while the round's CLIs are still looking for a port, up to the most.
const FIXTURE_CYCLES: (usize, usize) = (1, 2);
/// A start on a loaded 2-core machine, beside a dozen others: a hang, not a
/// timing assertion.
const START_TIMEOUT: Duration = Duration::from_secs(120);

/// A project on the default range, as `KittyProject::new()` makes it (but
/// never from `KITTY_PORTS`: spec-kitty's CLI has no such setting), with a
/// start timeout for a loaded machine.
fn shared_project() -> KittyProject {
    KittyProject::builder()
        .ports(PortSet::spec_kitty())
        .start_timeout(START_TIMEOUT)
        .build()
        .expect("project")
}

/// One dashboard a test saw running: who, on which port and socket, for which project.
#[derive(Debug, Clone)]
struct Seen {
    how: &'static str,
    identity: ProcessIdentity,
    port: u16,
    inode: u64,
    dir: PathBuf,
    home: PathBuf,
}

impl Seen {
    /// Records the dashboard `pid` on `port` of `project`, checking that it
    /// answers for that project (and, when given, with that token).
    fn check(
        how: &'static str,
        pid: u32,
        port: u16,
        token: Option<&str>,
        project: &KittyProject,
    ) -> Seen {
        let health = kitty_core::spec_kitty::fetch_health(port, Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("{how} dashboard pid {pid}: no health on {port}: {e}"));
        assert_eq!(
            health.project_path.as_deref(),
            Some(project.path()),
            "the {how} dashboard on {port} serves another project"
        );
        if let Some(token) = token {
            assert_eq!(
                health.token(),
                Some(token),
                "another dashboard answers on {port}"
            );
        }
        let identity = identity(pid);
        let mine = identity.socket_inodes();
        let inode = ListenerSnapshot::take(&PortSet::single(port))
            .expect("snapshot")
            .listeners()
            .iter()
            .find(|l| mine.contains(&l.inode))
            .unwrap_or_else(|| panic!("{how} dashboard pid {pid} holds no listener on {port}"))
            .inode;
        Seen {
            how,
            identity,
            port,
            inode,
            dir: project.path().to_path_buf(),
            home: project.home().to_path_buf(),
        }
    }

    /// After its project was dropped: the process is gone, its socket closed,
    /// nothing serves the project, the dirs are deleted, and no reservation
    /// names it (the port itself may be someone else's by now).
    fn assert_gone(&self) {
        let Seen {
            how, port, inode, ..
        } = self;
        let pid = self.identity.pid();
        assert!(
            !self.identity.is_still_alive(),
            "{how} dashboard pid {pid} on {port} outlived its project"
        );
        let still = ListenerSnapshot::take(&PortSet::single(*port))
            .expect("snapshot")
            .listeners()
            .iter()
            .any(|l| l.inode == *inode);
        assert!(
            !still,
            "the socket of {how} dashboard pid {pid} still listens on {port}"
        );
        assert_no_dashboard_under(&self.dir);
        assert!(
            !self.dir.exists() && !self.home.exists(),
            "{} not deleted",
            self.dir.display()
        );
        if let Some(state) = read_reservation(*port) {
            assert_ne!(
                state.record.project_dir,
                self.dir,
                "{} still reserves {port} for the dropped project",
                reservation_dir().join(format!("{port}.lock")).display()
            );
        }
    }
}

/// Drops `project` and checks that each dashboard `seen` of it is gone.
fn drop_and_check(project: KittyProject, seen: &Seen) {
    drop(project);
    seen.assert_gone();
}

/// The turn of one spec-kitty CLI of these tests (see the module docs): an
/// exclusive `flock` on a file in the target dir, across threads and
/// processes.
struct CliTurn {
    _lock: File,
}

impl CliTurn {
    fn take() -> CliTurn {
        // In the target dir: every test binary of this checkout sees it, and
        // it is not left in /tmp.
        let path = target_dir().join("kitty-e2e-cli-port-search.lock");
        let file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        wait_for(
            Duration::from_secs(600),
            "the spec-kitty CLIs before this one to bind their ports",
            || match file.try_lock() {
                Ok(()) => Some(()),
                Err(std::fs::TryLockError::WouldBlock) => None,
                Err(std::fs::TryLockError::Error(e)) => panic!("{}: {e}", path.display()),
            },
        );
        CliTurn { _lock: file }
    }
}

/// Counts down the round's CLIs still looking for a port (also when one fails).
struct Searching(Arc<AtomicUsize>);

impl Drop for Searching {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// One fixture thread of a round: start, check, drop, check; again while the
/// round's CLIs are still looking for a port.
fn fixture_starts(barrier: &Barrier, searching: &AtomicUsize) -> Vec<Seen> {
    barrier.wait();
    let mut seen = Vec::new();
    for cycle in 1.. {
        let project = shared_project();
        let d = project.start_dashboard().unwrap_or_else(|e| {
            let held = ListenerSnapshot::take(&PortSet::spec_kitty())
                .map(|s| s.listeners().len())
                .unwrap_or(0);
            panic!("start_dashboard() failed with {held} of the 100 ports held: {e}")
        });
        let s = Seen::check("fixture", d.pid(), d.port(), Some(d.token()), &project);
        drop_and_check(project, &s);
        seen.push(s);
        let cli_waits = searching.load(Ordering::SeqCst) > 0;
        if cycle >= FIXTURE_CYCLES.1 || (cycle >= FIXTURE_CYCLES.0 && !cli_waits) {
            break;
        }
    }
    seen
}

/// One CLI thread of a round: `spec-kitty dashboard` (no `--port`) in a
/// project of its own, which must succeed and leave one adopted dashboard
/// serving that project; then the project is dropped.
fn cli_start(barrier: &Barrier, searching: Searching) -> Vec<Seen> {
    barrier.wait();
    let project = shared_project();
    let dir = project.path().to_path_buf();
    let mut cleanup = Cleanup::new();
    let output = tempfile::tempfile().expect("temp file");
    let asked = std::time::Instant::now();
    let turn = CliTurn::take();
    let turned = asked.elapsed();
    let cli = project
        .spec_kitty(["dashboard"])
        .stdin(Stdio::null())
        .stdout(output.try_clone().expect("dup"))
        .stderr(output.try_clone().expect("dup"))
        .spawn()
        .expect("spawn spec-kitty dashboard");
    let cli = cleanup.child(cli);
    // Its turn lasts until its server listens (or it ended).
    let ended = poll(MINUTE * 2, || {
        if cli.try_wait().expect("try_wait").is_some() {
            return Some(true);
        }
        common::dashboards_under(&dir)
            .iter()
            .any(|d| d.command.port.is_some_and(port_held))
            .then_some(false)
    });
    drop(turn);
    drop(searching);
    let listening = asked.elapsed();
    let status = poll(MINUTE * 2, || cli.try_wait().expect("try_wait"));
    eprintln!(
        "spec-kitty dashboard: its turn after {turned:?}, its server listening after {listening:?}, done after {:?}",
        asked.elapsed()
    );
    let found = cleanup.dashboards_under(&dir);
    let text = {
        use std::io::{Read, Seek};
        let mut f = output;
        let mut s = String::new();
        let _ = f.rewind();
        let _ = f.read_to_string(&mut s);
        kitty_core::mask_tokens(&s)
    };
    let status = status.unwrap_or_else(|| {
        panic!("spec-kitty dashboard did not end (server seen: {ended:?}):\n{text}")
    });
    assert!(
        status.success(),
        "spec-kitty dashboard failed ({}):\n{text}",
        describe(status)
    );
    let listed = project.dashboards();
    assert_eq!(
        listed.len(),
        1,
        "not one dashboard for the CLI's project: {listed:?}; found {found:?}\n{text}"
    );
    let d = &listed[0];
    assert_eq!(d.origin(), Origin::Adopted, "{d:?}");
    let s = Seen::check("cli", d.pid(), d.port(), None, &project);
    drop_and_check(project, &s);
    vec![s]
}

fn panic_text(p: &(dyn Any + Send)) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_string()))
        .unwrap_or_else(|| "a panic".into())
}

/// `rounds` rounds of `fixtures` fixture threads and `clis` CLI threads, all
/// let go at once; then nothing of theirs is left.
fn share_the_range(fixtures: usize, clis: usize, rounds: usize) {
    common::export_spec_kitty();
    let mut all: Vec<Seen> = Vec::new();
    for round in 1..=rounds {
        let began = std::time::Instant::now();
        let barrier = Arc::new(Barrier::new(fixtures + clis));
        let searching = Arc::new(AtomicUsize::new(clis));
        let mut threads = Vec::new();
        for _ in 0..fixtures {
            let (b, s) = (Arc::clone(&barrier), Arc::clone(&searching));
            threads.push(std::thread::spawn(move || fixture_starts(&b, &s)));
        }
        for _ in 0..clis {
            let (b, s) = (Arc::clone(&barrier), Searching(Arc::clone(&searching)));
            threads.push(std::thread::spawn(move || cli_start(&b, s)));
        }
        let mut failures = Vec::new();
        for t in threads {
            match t.join() {
                Ok(seen) => all.extend(seen),
                Err(p) => failures.push(panic_text(&*p)),
            }
        }
        assert!(
            failures.is_empty(),
            "round {round} of {fixtures} fixture and {clis} CLI starts:\n{}",
            failures.join("\n")
        );
        eprintln!("round {round}: {:?}", began.elapsed());
    }
    for s in &all {
        s.assert_gone();
    }
    let ports = |how: &str| -> Vec<u16> {
        let mut p: Vec<u16> = all
            .iter()
            .filter(|s| s.how == how)
            .map(|s| s.port)
            .collect();
        p.sort_unstable();
        p.dedup();
        p
    };
    eprintln!(
        "{} dashboards; fixtures used ports {:?}, the CLI {:?}",
        all.len(),
        ports("fixture"),
        ports("cli")
    );
}

// A spec-kitty CLI costs about 9 s (5 s of CPU) and the CLIs of these tests
// take turns: few of them, many fixture starts around them.

#[test]
fn four_fixture_starts_and_three_spec_kitty_clis_at_once_share_the_default_range() {
    share_the_range(4, 3, 2);
}

#[test]
fn six_fixture_starts_and_a_spec_kitty_cli_at_once_share_the_default_range() {
    share_the_range(6, 1, 2);
}

#[test]
fn seven_fixture_starts_at_once_share_the_default_range_with_the_other_tests() {
    share_the_range(7, 0, 3);
}
