//! The process-wide registry of dashboards this process started and of the
//! projects not dropped yet, the at-exit hook that stops whatever is still in
//! it, and the spawner thread.
//!
//! Why each piece exists:
//! - A dashboard is registered the moment it is spawned, before its health
//!   check, so a failed or interrupted start-up is still stopped.
//! - The at-exit hook (`atexit(3)`, registered on first use, so it cannot be
//!   dropped at link time and never runs in processes that made no project)
//!   stops what a project never dropped: `std::mem::forget`, statics, rstest
//!   `#[once]`, `std::process::exit`, a `#[timeout]` that abandoned its test.
//!   That is the dashboards it started, and the ones serving it that it did
//!   not start (`spec-kitty dashboard` detaches them: no parent-death signal
//!   reaches them), found by command line like `KittyProject::dashboards`.
//! - The spawner thread lives as long as the process. Dashboards are forked
//!   from it with `PR_SET_PDEATHSIG = SIGKILL`, which Linux ties to the forking
//!   *thread*: forked from a test's own thread they would die when that test
//!   ends. So when the process dies by SIGKILL, SIGTERM, SIGINT or abort (no
//!   hook runs), the kernel still kills every dashboard it spawned directly.

use std::io;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command};
use std::sync::mpsc;
use std::sync::{Mutex, MutexGuard, Once, OnceLock};
use std::time::{Duration, Instant};

use crate::ports::Reservation;
use crate::probe::{self, ProcessIdentity, StopError, StopPolicy, Stopped};

/// One dashboard this process spawned.
#[derive(Debug)]
pub(crate) struct Entry {
    pub project: u64,
    pub identity: ProcessIdentity,
    pub port: u16,
    pub project_dir: PathBuf,
    pub policy: StopPolicy,
    /// Held for the dashboard's life; dropped after it is stopped.
    pub reservation: Option<Reservation>,
}

static ENTRIES: Mutex<Vec<Entry>> = Mutex::new(Vec::new());
static AT_EXIT: Once = Once::new();

/// A project not dropped yet: at exit, the dashboards serving it that it did
/// not start (`spec-kitty dashboard`, detached by spec-kitty, so no
/// parent-death signal reaches them) are found by command line and stopped.
struct LiveProject {
    id: u64,
    path: PathBuf,
    policy: StopPolicy,
}

static PROJECTS: Mutex<Vec<LiveProject>> = Mutex::new(Vec::new());

fn install_at_exit_hook() {
    AT_EXIT.call_once(|| {
        // SAFETY: registering a plain `extern "C" fn()` with atexit(3).
        unsafe { libc::atexit(stop_all_at_exit) };
    });
}

/// Registers a live project (and installs the at-exit hook once).
pub(crate) fn register_project(id: u64, path: PathBuf, policy: StopPolicy) {
    install_at_exit_hook();
    PROJECTS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(LiveProject { id, path, policy });
}

/// Forgets a dropped project.
pub(crate) fn unregister_project(id: u64) {
    PROJECTS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .retain(|p| p.id != id);
}

fn entries() -> MutexGuard<'static, Vec<Entry>> {
    // A panic while holding the lock must not stop the clean-up.
    ENTRIES
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Registers a spawned dashboard (and installs the at-exit hook once).
pub(crate) fn register(entry: Entry) {
    install_at_exit_hook();
    entries().push(entry);
}

/// Removes and returns the entries that match `pred`.
pub(crate) fn take_where(pred: impl Fn(&Entry) -> bool) -> Vec<Entry> {
    let mut all = entries();
    let (taken, kept): (Vec<Entry>, Vec<Entry>) =
        std::mem::take(&mut *all).into_iter().partition(|e| pred(e));
    *all = kept;
    taken
}

/// The pids and ports of `project`'s registered dashboards.
pub(crate) fn snapshot(project: u64) -> Vec<(ProcessIdentity, u16)> {
    entries()
        .iter()
        .filter(|e| e.project == project)
        .map(|e| (e.identity.clone(), e.port))
        .collect()
}

/// Stops one entry: the group, then the port check, then its `.dashboard`, then
/// the reservation is released.
pub(crate) fn stop_entry(entry: Entry) -> Result<Stopped, StopError> {
    let identity = refreshed(&entry.identity);
    let result = probe::stop_process_group(&identity, Some(entry.port), entry.policy);
    if result.is_ok() {
        probe::DashboardFile::remove_if_names(
            &entry.project_dir,
            entry.identity.pid(),
            Some(entry.port),
        );
    }
    drop(entry.reservation);
    result
}

/// The identity to stop `recorded` by. A dashboard we spawned is our child
/// until we reap it, so its pid cannot be reused under us: when the process
/// with that pid is still our child and started at the recorded time, it is
/// the same process even if its command line changed since it was recorded
/// (an interpreter shim that `exec`s the real Python, read before the exec).
/// Anything else keeps the recorded identity, which the stop re-verifies.
fn refreshed(recorded: &ProcessIdentity) -> ProcessIdentity {
    match ProcessIdentity::read(recorded.pid()) {
        Some(now)
            if now.start_ticks() == recorded.start_ticks()
                && now.uid() == recorded.uid()
                && now.ppid() == std::process::id() =>
        {
            now
        }
        _ => recorded.clone(),
    }
}

/// Takes everything out of `lock`. Another thread (an abandoned test) may
/// hold it forever: try for a moment, then go on without it rather than hang
/// the exit.
fn take_at_exit<T>(lock: &Mutex<Vec<T>>, deadline: Instant) -> Option<Vec<T>> {
    loop {
        match lock.try_lock() {
            Ok(mut g) => return Some(std::mem::take(&mut *g)),
            Err(std::sync::TryLockError::Poisoned(p)) => {
                return Some(std::mem::take(&mut *p.into_inner()));
            }
            Err(std::sync::TryLockError::WouldBlock) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(std::sync::TryLockError::WouldBlock) => return None,
        }
    }
}

extern "C" fn stop_all_at_exit() {
    let deadline = Instant::now() + Duration::from_millis(500);
    match take_at_exit(&ENTRIES, deadline) {
        Some(taken) => {
            for entry in taken {
                let pid = entry.identity.pid();
                if let Err(e) = stop_entry(entry) {
                    eprintln!("kitty-fixtures: at exit, could not stop dashboard pid {pid}: {e}");
                }
            }
        }
        None => eprintln!(
            "kitty-fixtures: registry busy at exit; dashboards rely on the parent-death signal"
        ),
    }
    // Dashboards of never-dropped projects that they did not start.
    let projects = take_at_exit(&PROJECTS, deadline).unwrap_or_default();
    if projects.is_empty() {
        return;
    }
    for d in probe::find_dashboard_processes() {
        if !d.identity.is_ours() {
            continue;
        }
        let Some(p) = projects.iter().find(|p| d.serves(&p.path)) else {
            continue;
        };
        match probe::stop_process_group(&d.identity, d.command.port, p.policy) {
            // A stale file naming a pid invites spec-kitty to signal whoever gets it next.
            Ok(_) => {
                probe::DashboardFile::remove_if_names(&p.path, d.identity.pid(), d.command.port);
            }
            Err(e) => eprintln!(
                "kitty-fixtures: at exit, could not stop dashboard pid {}: {e}",
                d.identity.pid()
            ),
        }
    }
}

type SpawnRequest = (Command, mpsc::Sender<io::Result<Child>>);

/// Spawns `cmd` from the long-lived spawner thread, in its own process group,
/// with a parent-death SIGKILL.
pub(crate) fn spawn(mut cmd: Command) -> io::Result<Child> {
    static SPAWNER: OnceLock<Mutex<mpsc::Sender<SpawnRequest>>> = OnceLock::new();
    let sender = SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<SpawnRequest>();
        std::thread::Builder::new()
            .name("kitty-fixtures-spawner".into())
            .spawn(move || {
                for (mut cmd, reply) in rx {
                    let _ = reply.send(cmd.spawn());
                }
            })
            .expect("kitty-fixtures: cannot start the spawner thread");
        Mutex::new(tx)
    });
    let parent = std::process::id();
    cmd.process_group(0);
    // SAFETY: the closure only calls async-signal-safe functions (prctl, getppid).
    unsafe {
        cmd.pre_exec(move || probe::sys::die_with_parent(parent));
    }
    let (reply_tx, reply_rx) = mpsc::channel();
    sender
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .send((cmd, reply_tx))
        .map_err(|_| io::Error::other("the spawner thread is gone"))?;
    reply_rx
        .recv()
        .map_err(|_| io::Error::other("the spawner thread is gone"))?
}
