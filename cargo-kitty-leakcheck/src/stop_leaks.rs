//! Stopping leaked dashboards, and only them. (The JSON calls a stopped
//! leak "reaped", as it always has; in the code "reap" is only `waitpid`.)
//!
//! Every stop goes through [`kitty_fixtures::shared::stop`] with the permit
//! [`crate::leaks::find_leaks`] got from the judge (the process pinned when
//! it was proved the run's). `stop` looks again through the pinned handle
//! right before each signal, signals the group only as members proved on
//! their own, SIGKILLs after a timeout and waits until the port is free. A
//! dashboard gone by then leaves its permit void: nothing is signalled, and
//! the report says it was already gone. This module only decides *whether* a
//! leak may be stopped, and cleans up the `.kittify/.dashboard` that names a
//! reaped dashboard.

use kitty_fixtures::ports::PortSet;
use kitty_fixtures::shared::{DashboardFile, ListenerSnapshot, StopPolicy, mask_tokens, stop};

use crate::leak::{Action, Leak, LeakKind, Leaks};
use crate::report::progress::Progress;

/// Decides and carries out what to do with every leak, recording it in
/// [`Leak::action`]: a dashboard is stopped (unless `no_reap`) only when
/// [`find_leaks`](crate::leaks::find_leaks) judged it the run's with positive
/// proof ([`Leak::grounds`]); everything else is left alone with the reason.
/// What merely appeared beside the run is left alone too.
pub fn stop_leaks(leaks: &mut Leaks, no_reap: bool) {
    stop_leaks_showing(leaks, no_reap, |_| Progress::hidden());
}

/// [`stop_leaks`], ticking the `Progress` that `progress` makes for the
/// number of dashboards to stop (a bar on a terminal when there are many).
pub fn stop_leaks_showing(
    leaks: &mut Leaks,
    no_reap: bool,
    progress: impl FnOnce(usize) -> Progress,
) {
    let to_stop = leaks.leaks.iter().filter(|l| refusal(l).is_none()).count();
    let bar = progress(if no_reap { 0 } else { to_stop });
    for leak in &mut leaks.leaks {
        leak.action = match refusal(leak) {
            Some(reason) => Action::LeftAlone { reason },
            None if no_reap => Action::NotReaped {
                reason: "--no-reap".into(),
            },
            None => {
                let action = stop_one(leak);
                bar.tick();
                action
            }
        };
    }
    drop(bar);
    for seen in &mut leaks.appeared {
        seen.action = Action::LeftAlone {
            reason: refusal(seen).unwrap_or_else(|| "not started by the run".into()),
        };
    }
}

/// Why `leak` must not be stopped, or `None` when it may be.
fn refusal(leak: &Leak) -> Option<String> {
    if let Some(doubt) = &leak.doubt {
        return Some(doubt.to_string());
    }
    match leak.kind {
        LeakKind::Foreign if leak.pid.is_none() => {
            let uid = leak.listeners.first().map(|l| l.uid);
            Some(format!(
                "its holder could not be found (socket uid {})",
                uid.unwrap_or_default()
            ))
        }
        LeakKind::Foreign => Some("not a dashboard: foreign processes are never stopped".into()),
        LeakKind::SyncDaemon => Some("spec-kitty's sync daemon is never stopped".into()),
        LeakKind::Dashboard if leak.permit.is_none() => {
            Some("no proof that it is the run's".into())
        }
        LeakKind::Dashboard => None,
    }
}

/// Stops one dashboard, confirms its listeners are closed, and removes the
/// `.kittify/.dashboard` that names it.
fn stop_one(leak: &Leak) -> Action {
    let Some(permit) = &leak.permit else {
        return Action::LeftAlone {
            reason: "no proof that it is the run's".into(),
        };
    };
    let pid = permit.pid();
    let stopped = match stop(permit, leak.port, StopPolicy::default()) {
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
