//! Reaping: stopping leaked dashboards, and only them. "Reap" means that
//! here as in the CLI (`--no-reap`) and the JSON (`reaped`); collecting
//! exited children with `waitpid` is "collect" ([`super::command`]).
//!
//! Every stop goes through [`stop_dashboard`], the one caller of
//! [`kitty_core::stop`] in leakcheck, with the permit
//! [`super::detect::detect_leaks`] got from the judge (the process pinned when
//! it was proved the run's). `stop` looks again through the pinned handle
//! right before each signal, signals the group only as members proved on
//! their own, SIGKILLs after a timeout and waits until the port is free. A
//! dashboard gone by then leaves its permit void: nothing is signalled, and
//! the report says it was already gone. Whether a leak may be stopped was
//! decided once, when it was detected ([`Leak::judgement`]); this module
//! carries that out (or records `--no-reap`), and cleans up the
//! `.kittify/.dashboard` that names a reaped dashboard.
//!
//! The stops run in parallel ([`in_parallel`], for `sweep` too): N hung
//! dashboards cost one grace period, not N.

use std::sync::mpsc;

use kitty_core::PortSet;
use kitty_core::spec_kitty::DashboardFile;
use kitty_core::{ListenerSnapshot, Permit, StopError, StopPolicy, Stopped, mask_tokens, stop};

use crate::findings::run::{Action, Leak, Leaks};

/// How a mode shows progress through its stops without drawing anything:
/// called once per stop that ended, and dropped when all have (`main` hands
/// in the progress bar's tick; the bar clears itself when dropped).
pub type Tick = Box<dyn Fn() + Sync>;

/// A [`Tick`] that shows nothing.
pub fn no_progress(_stops: usize) -> Tick {
    Box::new(|| {})
}

/// Carries out what to do with every leak, recording it in
/// [`Leak::action`]: a dashboard is stopped (unless `no_reap`) only when
/// [`detect_leaks`](super::detect::detect_leaks) judged it the run's with
/// positive proof (a permit in [`Leak::judgement`]); everything else is left alone with
/// the reason. What merely appeared beside the run is left alone too.
/// `progress` makes the [`Tick`] for the number of dashboards to stop.
pub fn reap_leaks(leaks: &mut Leaks, no_reap: bool, progress: impl FnOnce(usize) -> Tick) {
    let mut to_stop = Vec::new();
    for (i, leak) in leaks.leaks.iter_mut().enumerate() {
        leak.action = match &leak.judgement {
            Err(refusal) => Action::LeftAlone {
                reason: refusal.to_string(),
            },
            Ok(_) if no_reap => Action::NotReaped {
                reason: "--no-reap".into(),
            },
            Ok(_) => {
                to_stop.push(i);
                Action::Pending
            }
        };
    }
    let tick = progress(to_stop.len());
    let chosen: Vec<&Leak> = to_stop.iter().map(|&i| &leaks.leaks[i]).collect();
    let actions = in_parallel(&chosen, &tick, |leak| stop_one(leak));
    drop(tick);
    for (i, action) in to_stop.into_iter().zip(actions) {
        leaks.leaks[i].action = action;
    }
    for seen in &mut leaks.appeared {
        seen.action = Action::LeftAlone {
            reason: match &seen.judgement {
                Err(refusal) => refusal.to_string(),
                Ok(_) => "not started by the run".into(),
            },
        };
    }
}

/// Runs `work` on every item at once, a thread each (every stop has its own
/// deadline, [`StopPolicy`], so the threads all end), calling `tick` as each
/// ends; returns the results in the order of `items`. A thread that could
/// not be started runs its item on the calling thread instead.
pub fn in_parallel<T: Sync, R: Send>(
    items: &[T],
    tick: &Tick,
    work: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    let mut results: Vec<Option<R>> = items.iter().map(|_| None).collect();
    let work = &work;
    std::thread::scope(|scope| {
        let (tx, rx) = mpsc::channel();
        for (i, item) in items.iter().enumerate() {
            let tx = tx.clone();
            let spawned = std::thread::Builder::new()
                .spawn_scoped(scope, move || {
                    let _ = tx.send((i, work(item)));
                })
                .is_ok();
            if !spawned {
                results[i] = Some(work(item));
                tick();
            }
        }
        drop(tx);
        // The channel ends when the last thread does.
        for (i, r) in rx {
            results[i] = Some(r);
            tick();
        }
    });
    results.into_iter().flatten().collect()
}

/// Stops the process `permit` pins (proved again before each signal), with
/// the port its listener was on: the one call of [`stop`] in leakcheck
/// (run, `wrap`, `check` and `sweep`).
pub fn stop_dashboard(permit: &Permit, port: Option<u16>) -> Result<Stopped, StopError> {
    stop(permit, port, StopPolicy::default())
}

/// Stops one dashboard, confirms its listeners are closed, and removes the
/// `.kittify/.dashboard` that names it.
fn stop_one(leak: &Leak) -> Action {
    let permit = match &leak.judgement {
        Ok(permit) => permit,
        Err(refusal) => {
            return Action::LeftAlone {
                reason: refusal.to_string(),
            };
        }
    };
    let pid = permit.pid();
    let stopped = match stop_dashboard(permit, leak.port) {
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
