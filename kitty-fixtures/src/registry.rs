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
//!   Each leads a session of its own, as spec-kitty's do, so stopping its
//!   group is covered by the proof about it.
//! - All of this belongs to the process that made it. A `fork()`ed child
//!   inherits a copy of the registry and the at-exit hook but not the spawner
//!   thread: in it the hook does nothing (it would stop its parent's
//!   dashboards when it calls `exit()`), and spawning is refused with an
//!   error rather than waiting forever for a thread that is not there.

use std::io;
use std::path::PathBuf;
use std::process::{Child, Command};
use std::sync::mpsc;
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use kitty_core::reservation::Reservation;
use kitty_core::{self, Permit, ProcessIdentity, Scope, StopError, StopPolicy, Stopped};

/// One dashboard this process spawned.
#[derive(Debug)]
pub(crate) struct Entry {
    pub project: u64,
    /// The spawner's permit for the dashboard (our child).
    pub permit: Permit,
    pub port: u16,
    pub project_dir: PathBuf,
    pub policy: StopPolicy,
    /// Held for the dashboard's life; dropped after it is stopped.
    pub reservation: Option<Reservation>,
}

static ENTRIES: Mutex<Vec<Entry>> = Mutex::new(Vec::new());
/// The process that installed the at-exit hook (and so owns the registry).
static HOOK_OWNER: OnceLock<u32> = OnceLock::new();

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
    HOOK_OWNER.get_or_init(|| {
        kitty_core::sys::at_exit(stop_all_at_exit);
        std::process::id()
    });
}

/// True in the process that owns the registry (or before anything was
/// registered); false in a `fork()`ed child of it.
pub(crate) fn in_owner_process() -> bool {
    HOOK_OWNER
        .get()
        .is_none_or(|&owner| owner == std::process::id())
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
        .map(|e| (e.permit.identity().clone(), e.port))
        .collect()
}

/// Stops one entry through its permit (and the members of its group proved
/// on their own), then the port check, then its `.dashboard`, then the
/// reservation is released. A dashboard that was already gone (a test that
/// reaped it itself) leaves its permit void: nothing is signalled.
pub(crate) fn stop_entry(entry: Entry) -> Result<Stopped, StopError> {
    // Our child may have exec'd since the permit was minted (an interpreter
    // shim that execs the real Python): the same pinned process, read again.
    let permit = entry.permit.refreshed();
    let result = kitty_core::stop(&permit, Some(entry.port), entry.policy);
    if result.is_ok() {
        kitty_core::spec_kitty::DashboardFile::remove_if_names(
            &entry.project_dir,
            permit.pid(),
            Some(entry.port),
        );
    }
    drop(entry.reservation);
    result
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
    // A forked child calling exit() must not stop its parent's dashboards.
    if !in_owner_process() {
        return;
    }
    let deadline = Instant::now() + Duration::from_millis(500);
    match take_at_exit(&ENTRIES, deadline) {
        Some(taken) => {
            for entry in taken {
                let pid = entry.permit.pid();
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
    let protected = kitty_core::ancestors_and_self();
    for d in kitty_core::spec_kitty::find_dashboard_processes() {
        let Some((p, permit)) = projects.iter().find_map(|p| {
            let j = kitty_core::judge(
                &d,
                Scope::Project { dir: &p.path },
                &protected,
                kitty_core::spec_kitty::START_GRACE,
            );
            Some((p, j.verdict.ok()?))
        }) else {
            continue;
        };
        match kitty_core::stop(&permit, d.command.port, p.policy) {
            // A stale file naming a pid invites spec-kitty to signal whoever gets it next.
            Ok(_) => {
                kitty_core::spec_kitty::DashboardFile::remove_if_names(
                    &p.path,
                    d.identity.pid(),
                    d.command.port,
                );
            }
            Err(e) => eprintln!(
                "kitty-fixtures: at exit, could not stop dashboard pid {}: {e}",
                d.identity.pid()
            ),
        }
    }
}

type SpawnRequest = (Command, mpsc::Sender<io::Result<Child>>);

/// Why [`spawn`] did not spawn.
#[derive(Debug)]
pub(crate) enum SpawnError {
    /// This is a `fork()`ed child of the process that started the spawner
    /// thread: the thread is not here (fork copies only the calling thread).
    ForkedChild,
    /// The spawn itself failed.
    Io(io::Error),
}

/// Spawns `cmd` from the long-lived spawner thread, leading a new session,
/// with a parent-death SIGKILL.
pub(crate) fn spawn(mut cmd: Command) -> Result<Child, SpawnError> {
    static SPAWNER: OnceLock<(u32, Mutex<mpsc::Sender<SpawnRequest>>)> = OnceLock::new();
    let (owner, sender) = SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<SpawnRequest>();
        std::thread::Builder::new()
            .name("kitty-fixtures-spawner".into())
            .spawn(move || {
                for (mut cmd, reply) in rx {
                    let _ = reply.send(cmd.spawn());
                }
            })
            .expect("kitty-fixtures: cannot start the spawner thread");
        (std::process::id(), Mutex::new(tx))
    });
    if *owner != std::process::id() || !in_owner_process() {
        return Err(SpawnError::ForkedChild);
    }
    let parent = std::process::id();
    kitty_core::sys::spawn_detached_dying_with(&mut cmd, parent);
    let (reply_tx, reply_rx) = mpsc::channel();
    let gone = || SpawnError::Io(io::Error::other("the spawner thread is gone"));
    sender
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .send((cmd, reply_tx))
        .map_err(|_| gone())?;
    reply_rx.recv().map_err(|_| gone())?.map_err(SpawnError::Io)
}
