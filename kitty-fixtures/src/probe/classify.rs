//! Putting it together: who holds a listener, is it a dashboard, and whose.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::ports::read_reservation;

use super::dashboard::{DashboardCommand, DashboardFile, is_sync_daemon};
use super::health::fetch_health;
use super::listeners::Listener;
use super::process::{ProcessIdentity, socket_owners};
use super::sys;

/// What kind of process holds a listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProcessKind {
    /// A spec-kitty dashboard server.
    Dashboard(DashboardCommand),
    /// spec-kitty's sync daemon: never a dashboard, never touched.
    SyncDaemon,
    /// Anything else.
    Foreign,
}

impl ProcessKind {
    /// Classifies a process by its command line.
    pub fn of(identity: &ProcessIdentity) -> Self {
        if is_sync_daemon(identity.argv()) {
            ProcessKind::SyncDaemon
        } else if let Some(cmd) = DashboardCommand::parse(identity.argv()) {
            ProcessKind::Dashboard(cmd)
        } else {
            ProcessKind::Foreign
        }
    }
}

/// A listener with the process that holds it, when that could be found.
#[derive(Debug, Clone)]
pub struct OwnedListener {
    /// The socket.
    pub listener: Listener,
    /// The process holding it (`None`: another user's, or it closed meanwhile).
    pub owner: Option<ProcessIdentity>,
    /// What the owner is.
    pub kind: ProcessKind,
}

/// Finds the owners of `listeners` (looking first among `first_look`, e.g. a
/// run's descendants) and classifies them.
pub fn identify_listeners(listeners: &[Listener], first_look: &[u32]) -> Vec<OwnedListener> {
    let inodes: HashSet<u64> = listeners.iter().map(|l| l.inode).collect();
    let owners = socket_owners(&inodes, first_look);
    let mut cache: HashMap<u32, Option<ProcessIdentity>> = HashMap::new();
    listeners
        .iter()
        .map(|l| {
            // Several processes may share a socket (a forking shim): prefer a dashboard.
            let candidates: Vec<ProcessIdentity> = owners
                .get(&l.inode)
                .into_iter()
                .flatten()
                .filter_map(|&pid| {
                    cache
                        .entry(pid)
                        .or_insert_with(|| ProcessIdentity::read(pid))
                        .clone()
                })
                .collect();
            let best = candidates
                .iter()
                .find(|id| matches!(ProcessKind::of(id), ProcessKind::Dashboard(_)))
                .or(candidates.first())
                .cloned();
            let kind = best
                .as_ref()
                .map(ProcessKind::of)
                .unwrap_or(ProcessKind::Foreign);
            OwnedListener {
                listener: l.clone(),
                owner: best,
                kind,
            }
        })
        .collect()
}

/// A dashboard process found on this machine, listening or not.
#[derive(Debug, Clone)]
pub struct FoundDashboard {
    /// Who it is.
    pub identity: ProcessIdentity,
    /// What its command line says.
    pub command: DashboardCommand,
}

impl FoundDashboard {
    /// The project dir as the process sees it (see [`project_dir_of`]).
    pub fn project_dir(&self) -> Option<PathBuf> {
        project_dir_of(&self.identity, &self.command)
    }

    /// Whether it serves `dir` or a directory below it (see [`serves_dir`]).
    pub fn serves(&self, dir: &Path) -> bool {
        serves_dir(&self.identity, &self.command, dir)
    }
}

/// The project dir a dashboard's command line names, made absolute against
/// the process's working directory when it is relative (`.`). `None` when it
/// is relative and the working directory cannot be read or was deleted.
pub fn project_dir_of(identity: &ProcessIdentity, command: &DashboardCommand) -> Option<PathBuf> {
    let named = &command.project_dir;
    if named.is_absolute() {
        return Some(named.clone());
    }
    let cwd = identity.cwd()?;
    sys::dir_exists(cwd.as_os_str()).then(|| cwd.join(named))
}

/// Whether the dashboard serves `dir` or a directory below it: by the path its
/// command line names (made absolute, see [`project_dir_of`]), or by that
/// path with its symlinks resolved. `dir` should be canonical.
pub fn serves_dir(identity: &ProcessIdentity, command: &DashboardCommand, dir: &Path) -> bool {
    project_dir_of(identity, command)
        .is_some_and(|p| p.starts_with(dir) || p.canonicalize().is_ok_and(|c| c.starts_with(dir)))
}

/// Every dashboard process of every user (one read of each process's command
/// line). Zombies and unreadable processes are skipped.
pub fn find_dashboard_processes() -> Vec<FoundDashboard> {
    let mut out = Vec::new();
    for pid in sys::list_pids().unwrap_or_default() {
        let Ok(argv) = sys::read_cmdline(pid) else {
            continue;
        };
        if DashboardCommand::parse(&argv).is_none() {
            continue;
        }
        let Some(identity) = ProcessIdentity::read(pid) else {
            continue;
        };
        if let ProcessKind::Dashboard(command) = ProcessKind::of(&identity) {
            out.push(FoundDashboard { identity, command });
        }
    }
    out
}

/// Why a dashboard is an orphan.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case", tag = "reason")]
pub enum OrphanReason {
    /// Its project directory no longer exists.
    ProjectGone,
    /// The test process that reserved its port is dead.
    OwnerDead {
        /// The dead owner's pid.
        owner_pid: u32,
    },
}

/// Whose a dashboard is, for sweeping.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case", tag = "class")]
pub enum DashboardClass {
    /// Nobody will ever stop it: its project is gone or its owner died.
    Orphan {
        /// Why.
        #[serde(flatten)]
        reason: OrphanReason,
    },
    /// Its project exists but its `.kittify/.dashboard` does not name it (an
    /// interrupted start-up).
    Unrecorded,
    /// Its project records it, or a live test process owns it.
    Live,
}

/// Classifies a dashboard: [`DashboardClass::Orphan`] when its project dir is
/// gone or the reservation that names it has a dead owner;
/// [`DashboardClass::Live`] when a live owner holds its reservation or its
/// project's `.kittify/.dashboard` names its pid; else
/// [`DashboardClass::Unrecorded`].
pub fn classify_dashboard(
    identity: &ProcessIdentity,
    command: &DashboardCommand,
) -> DashboardClass {
    let Some(project_dir) = project_dir_of(identity, command) else {
        return DashboardClass::Orphan {
            reason: OrphanReason::ProjectGone,
        };
    };
    if !sys::dir_exists(project_dir.as_os_str()) {
        return DashboardClass::Orphan {
            reason: OrphanReason::ProjectGone,
        };
    }
    if let Some(port) = command.port
        && let Some(state) = read_reservation(port)
        && state.record.dashboard_pid == Some(identity.pid())
        && state.record.dashboard_start_ticks == Some(identity.start_ticks())
    {
        return if state.owner_alive {
            DashboardClass::Live
        } else {
            DashboardClass::Orphan {
                reason: OrphanReason::OwnerDead {
                    owner_pid: state.record.owner_pid,
                },
            }
        };
    }
    match DashboardFile::read(&project_dir) {
        Ok(Some(f)) if f.pid == Some(identity.pid()) => DashboardClass::Live,
        _ => DashboardClass::Unrecorded,
    }
}

/// The second opinion: does the server on `port` say it is a dashboard of
/// `command.project_dir`? `None` when it did not answer within `timeout`.
pub fn health_confirms(port: u16, command: &DashboardCommand, timeout: Duration) -> Option<bool> {
    let h = fetch_health(port, timeout).ok()?;
    Some(h.is_dashboard() && h.project_path.as_deref() == Some(command.project_dir.as_path()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::SERVER_MODULE;

    #[test]
    fn a_relative_project_dir_is_resolved_against_the_process_cwd() {
        let me = ProcessIdentity::read(std::process::id()).expect("self");
        let cwd = std::env::current_dir()
            .expect("cwd")
            .canonicalize()
            .expect("canonical");
        let dot = DashboardCommand::parse(&["python", "-m", SERVER_MODULE, ".", "9300"])
            .expect("dashboard");
        assert_eq!(
            project_dir_of(&me, &dot)
                .expect("resolved")
                .canonicalize()
                .expect("exists"),
            cwd
        );
        assert!(serves_dir(&me, &dot, &cwd));
        assert!(!serves_dir(&me, &dot, Path::new("/nonexistent-kitty-dir")));
        let abs = DashboardCommand::parse(&[
            "python",
            "-m",
            SERVER_MODULE,
            "/nonexistent-kitty-dir",
            "9300",
        ])
        .expect("dashboard");
        assert_eq!(
            classify_dashboard(&me, &abs),
            DashboardClass::Orphan {
                reason: OrphanReason::ProjectGone
            }
        );
    }
}
