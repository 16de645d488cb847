//! Reaping leaked dashboards, and only them.
//!
//! Every stop goes through [`kitty_fixtures::probe::stop_process_group`], which
//! re-reads the process right before each signal (pid, start time, uid and
//! command line must match what [`crate::leaks::find_leaks`] recorded),
//! SIGTERMs the process group, SIGKILLs it after a timeout and waits until the
//! port is free. This module only decides *whether* a leak may be stopped, and
//! cleans up the `.kittify/.dashboard` that names a reaped dashboard.

use std::collections::HashSet;

use kitty_fixtures::ports::PortSet;
use kitty_fixtures::probe::{
    DashboardFile, ListenerSnapshot, ProcessTree, StopPolicy, mask_tokens, stop_process_group,
};

use crate::leaks::{Action, Leak, LeakKind, Leaks};

/// What [`reap_all`] did, in numbers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct ReapSummary {
    /// Dashboards stopped (or found already gone).
    pub reaped: usize,
    /// Dashboards that could not be stopped.
    pub failed: usize,
    /// Leaks never touched (foreign, sync daemon, others' processes, `--no-reap`).
    pub left_alone: usize,
}

/// Decides and carries out what to do with every leak, recording it in
/// [`Leak::action`]: dashboards are stopped (unless `no_reap`); everything
/// else is left alone with a reason. Never signals a process that is not a
/// dashboard, belongs to another user, is leakcheck or one of its ancestors,
/// or is held by a live kitty-fixtures owner outside the run.
pub fn reap_all(leaks: &mut Leaks, no_reap: bool) -> ReapSummary {
    let me = std::process::id();
    let mut protected = HashSet::from([me]);
    if leaks.leaks.iter().any(Leak::is_dashboard) {
        protected.extend(ProcessTree::read().ancestors_of(me));
    }
    let mut summary = ReapSummary::default();
    for leak in &mut leaks.leaks {
        leak.action = match refusal(leak, &protected) {
            Some(reason) => Action::LeftAlone { reason },
            None if no_reap => Action::NotReaped {
                reason: "--no-reap".into(),
            },
            None => reap_one(leak),
        };
        match leak.action {
            Action::Reaped { .. } | Action::AlreadyGone { .. } => summary.reaped += 1,
            Action::Failed { .. } => summary.failed += 1,
            _ => summary.left_alone += 1,
        }
    }
    summary
}

/// Why `leak` must not be stopped, or `None` when it may be.
fn refusal(leak: &Leak, protected: &HashSet<u32>) -> Option<String> {
    match leak.kind {
        LeakKind::Foreign if leak.pid.is_none() => {
            let uid = leak.listeners.first().map(|l| l.uid);
            return Some(format!(
                "its holder could not be found (socket uid {})",
                uid.unwrap_or_default()
            ));
        }
        LeakKind::Foreign => {
            return Some("not a dashboard: foreign processes are never stopped".into());
        }
        LeakKind::SyncDaemon => return Some("spec-kitty's sync daemon is never stopped".into()),
        LeakKind::Dashboard => {}
    }
    let Some(identity) = &leak.identity else {
        return Some("its identity could not be read".into());
    };
    if !identity.is_ours() {
        return Some(format!("it belongs to uid {}, not to us", identity.uid()));
    }
    if protected.contains(&identity.pid()) {
        return Some("it is leakcheck itself or one of its ancestors".into());
    }
    leak.held_by
        .map(|owner| format!("its port reservation is held by live pid {owner} outside the run"))
}

/// Stops one dashboard, confirms its listeners are closed, and removes the
/// `.kittify/.dashboard` that names it.
fn reap_one(leak: &Leak) -> Action {
    let Some(identity) = &leak.identity else {
        return Action::LeftAlone {
            reason: "its identity could not be read".into(),
        };
    };
    let pid = identity.pid();
    let stopped = match stop_process_group(identity, leak.port, StopPolicy::default()) {
        Ok(s) => s,
        Err(e) => {
            return Action::Failed {
                error: mask_tokens(&e.to_string()),
            };
        }
    };
    if let Some(port) = still_held(leak) {
        return Action::Failed {
            error: format!("pid {pid} was stopped but port {port} is still held"),
        };
    }
    let dashboard_file_removed = match (&leak.project_dir, leak.project_exists) {
        (Some(dir), Some(true)) => DashboardFile::remove_if_names(dir, pid, leak.port),
        _ => false,
    };
    match stopped.signal {
        None => Action::AlreadyGone {
            dashboard_file_removed,
        },
        Some(_) => Action::Reaped {
            stopped,
            dashboard_file_removed,
        },
    }
}

/// A port on which one of the leak's sockets still listens.
fn still_held(leak: &Leak) -> Option<u16> {
    leak.listeners.iter().find_map(|l| {
        let now = ListenerSnapshot::take(&PortSet::single(l.port)).ok()?;
        now.listeners()
            .iter()
            .any(|n| n.inode == l.inode)
            .then_some(l.port)
    })
}
