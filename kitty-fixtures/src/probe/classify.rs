//! Putting it together: who holds a listener, is it a dashboard, and whose.

use std::collections::{HashMap, HashSet};
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
    if !sys::dir_exists(command.project_dir.as_os_str()) {
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
    match DashboardFile::read(&command.project_dir) {
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
