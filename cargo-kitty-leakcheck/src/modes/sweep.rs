//! `sweep`: clean a machine that already leaked: survey, plan, confirm,
//! execute. It never prints: `main` shows the plan, asks, and renders what
//! was done.
//!
//! 1. [`survey`]: the listeners on the watched ports (netlink) with their
//!    owners, and every dashboard process of every user (one read of each
//!    command line).
//! 2. [`plan`]: [`judge`] each dashboard with [`Scope::Sweep`]: orphans and
//!    unrecorded dashboards (and live ones with `--all`) that are ours, live
//!    in our namespaces and are not our ancestors; starting, unknown and
//!    elsewhere ones never. Only dashboards *in scope* (they listen on a
//!    watched port, or their command line names one) are selected; the rest
//!    are listed, never touched. Foreign listeners and the sync daemon are
//!    never selected. The `.kittify/.dashboard` files the stops would leave
//!    stale are predicted. Each server a profile recognises (Python's
//!    `http.server`, a `[[server]]` of the config) is judged with
//!    [`judge_server`]: an orphan (the directory it serves is gone) or an
//!    unrecorded one (its profile's record file does not name it) that is
//!    ours and in scope (it listens on a watched port, or its command line
//!    names one) is selected, a live one never (not even with `--all`), and
//!    one with a health path is asked it. The result is a [`SweepPlan`], which
//!    `main` shows.
//! 3. [`confirm`]: nothing to ask for a dry run or nothing to do; `--yes`;
//!    no terminal to ask; else the question `main` asks.
//! 4. [`execute`]: [`stop_selected`], in parallel: each is judged once more
//!    right before (a prompt may have taken minutes), then stopped with
//!    [`stop_dashboard`] with the fresh permit, which looks again through
//!    the pidfd before each signal; then [`clean_files`]: the
//!    `.kittify/.dashboard` files that name a dashboard we stopped or a
//!    process that is no longer that project's dashboard (never signalling
//!    it), in projects of ours that no dashboard of another namespace serves.
//!
//! The result is [`SweepFindings`]; its
//! [`SweepOutcome`](crate::findings::sweep::SweepOutcome) gives the exit
//! status.

use std::collections::{BTreeMap, HashSet};
use std::io::IsTerminal;
use std::time::Instant;

use kitty_core::server::{FoundServer, ServerProfile};
use kitty_core::spec_kitty::{
    DashboardFile, FoundDashboard, ProcessKind, find_dashboards_and_servers,
    identify_listeners_among,
};
use kitty_core::{
    Doubt, Judgement, Listener, ListenerSnapshot, ProcessIdentity, Scope, StopError, Stopped,
    ancestors_and_self, judge, judge_server,
};

use super::command::{signal_during_cleanup, take_over_signals};
use super::reap::{Tick, in_parallel, stop_dashboard};
use kitty_core::PortSet;

use crate::cli::SweepArgs;
use crate::errors::Error;
use crate::findings::run::Action;
use crate::findings::sweep::{
    Consent, Entry, OtherListener, ServerEntry, SweepFindings, SweepPlan,
};

mod files;

use files::{clean_files, stale_dashboard_files};

/// What the survey saw, before anything is judged: every dashboard process
/// with its listeners on the watched ports, and the other listeners there.
/// Only [`plan`] reads it.
#[derive(Debug)]
pub struct Survey {
    started: Instant,
    ports: PortSet,
    dashboards: Vec<(FoundDashboard, Vec<Listener>)>,
    others: Vec<OtherListener>,
    servers: Vec<(FoundServer, Vec<Listener>)>,
}

/// Step 1: see. The listeners on `ports` (netlink) with their owners,
/// every dashboard process of every user, and every process one of
/// `profiles` recognises, with its listeners on any port.
pub fn survey(ports: &PortSet, profiles: &[ServerProfile]) -> Result<Survey, Error> {
    let started = Instant::now();
    let snapshot = ListenerSnapshot::take(ports).map_err(Error::Listeners)?;
    // Every dashboard and server process, in one look at every command line.
    let found = find_dashboards_and_servers(profiles);
    // Every dashboard process, merged with the owners of listeners on watched ports.
    let mut dashboards: BTreeMap<u32, (FoundDashboard, Vec<Listener>)> = BTreeMap::new();
    for d in found.dashboards {
        dashboards.insert(d.identity.pid(), (d, Vec::new()));
    }
    let mut others = Vec::new();
    // The dashboards hold most watched listeners: their sockets are looked
    // for first, and the other processes only for what is left.
    let known: Vec<&ProcessIdentity> = dashboards.values().map(|(d, _)| &d.identity).collect();
    let owned = identify_listeners_among(snapshot.listeners(), &[], &known);
    for o in owned {
        match (o.owner, o.kind) {
            (Some(identity), ProcessKind::Dashboard(command)) => {
                dashboards
                    .entry(identity.pid())
                    .or_insert_with(|| (FoundDashboard { identity, command }, Vec::new()))
                    .1
                    .push(o.listener);
            }
            (owner, kind) => others.push(OtherListener {
                listener: o.listener,
                kind: match (&owner, kind) {
                    (None, _) => "unknown",
                    (_, ProcessKind::SyncDaemon) => "sync-daemon",
                    _ => "foreign",
                },
                owner,
            }),
        }
    }
    // A server is listed as a server, not as a foreign listener.
    let servers: Vec<FoundServer> = found
        .servers
        .into_iter()
        .filter(|s| !dashboards.contains_key(&s.identity.pid()))
        .collect();
    let server_pids: HashSet<u32> = servers.iter().map(|s| s.identity.pid()).collect();
    others.retain(|o| {
        o.owner
            .as_ref()
            .is_none_or(|p| !server_pids.contains(&p.pid()))
    });
    // Their sockets on any port: one more netlink dump, only when there are any.
    let everywhere = if servers.is_empty() {
        ListenerSnapshot::default()
    } else {
        ListenerSnapshot::take(&PortSet::range(1..=u16::MAX)).map_err(Error::Listeners)?
    };
    let servers = servers
        .into_iter()
        .map(|s| {
            let held: HashSet<u64> = s.identity.socket_inodes().into_iter().collect();
            let listening = everywhere
                .listeners()
                .iter()
                .filter(|l| held.contains(&l.inode))
                .cloned()
                .collect();
            (s, listening)
        })
        .collect();
    Ok(Survey {
        started,
        ports: ports.clone(),
        dashboards: dashboards.into_values().collect(),
        others,
        servers,
    })
}

/// Step 2: judge and select. Each dashboard is judged with
/// [`Scope::Sweep`]; one in scope that may be stopped is selected; the
/// `.kittify/.dashboard` files the stops would leave stale are predicted.
pub fn plan(survey: Survey, args: &SweepArgs) -> SweepPlan {
    let Survey {
        started,
        ports,
        dashboards,
        others,
        servers,
    } = survey;
    let protected = ancestors_and_self();
    let scope = Scope::Sweep { all: args.all };
    let mut entries: Vec<Entry> = dashboards
        .into_iter()
        .map(|(found, listening)| {
            let judgement = judge(&found, scope, &protected, args.start_grace);
            let in_scope =
                !listening.is_empty() || found.command.port.is_some_and(|p| ports.contains(p));
            let (selected, action) = planned(&judgement, in_scope);
            Entry {
                found,
                listening,
                judgement,
                in_scope,
                selected,
                action,
            }
        })
        .collect();
    entries.sort_by_key(|e| {
        (
            !e.in_scope,
            e.port().unwrap_or(u16::MAX),
            e.identity().pid(),
        )
    });
    let servers = servers
        .into_iter()
        .map(|(found, listening)| {
            let judgement = judge_server(&found, scope, &protected, args.start_grace);
            let answers = listening
                .first()
                .and_then(|l| found.profile.answers(l.port, HEALTH_TIMEOUT));
            let in_scope = listening.iter().any(|l| ports.contains(l.port))
                || found.port().is_some_and(|p| ports.contains(p));
            let (selected, action) = planned(&judgement, in_scope);
            ServerEntry {
                found,
                listening,
                judgement,
                answers,
                in_scope,
                selected,
                action,
            }
        })
        .collect();
    let files_stale = stale_dashboard_files(&entries, &HashSet::new(), true)
        .iter()
        .map(|(d, ..)| DashboardFile::path_in(d))
        .collect();
    SweepPlan {
        ports,
        dry_run: args.dry_run,
        all: args.all,
        entries,
        others,
        servers,
        files_stale,
        started,
    }
}

/// Whether a dashboard or server judged `judgement` is selected (in scope
/// and stoppable), and the action it starts with: left alone, and why
/// (outside the watched ports, or the doubt), until a stop decides.
fn planned(judgement: &Judgement, in_scope: bool) -> (bool, Action) {
    let action = Action::LeftAlone {
        reason: match (&judgement.verdict, in_scope) {
            (_, false) => "outside the watched ports".into(),
            (Err(doubt), _) => doubt.to_string(),
            (Ok(_), true) => String::new(),
        },
    };
    (in_scope && judgement.may_stop(), action)
}

/// How long a server gets to answer its profile's health path.
const HEALTH_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(300);

/// Step 3: whether the sweep may act on `plan`: not asked for a dry run or
/// when there is nothing to do; given by `--yes`; without a terminal to ask,
/// not given ([`Consent::NoTerminal`]); else `ask` decides (`main` puts the
/// question to the terminal).
pub fn confirm(
    plan: &SweepPlan,
    args: &SweepArgs,
    ask: impl FnOnce(&SweepPlan) -> bool,
) -> Consent {
    if args.dry_run || !plan.has_work() {
        Consent::NotAsked
    } else if args.yes {
        Consent::Given
    } else if !std::io::stdin().is_terminal() {
        Consent::NoTerminal
    } else if ask(plan) {
        Consent::Given
    } else {
        Consent::Refused
    }
}

/// Step 4: acts on `plan` as `consent` allows: stops the selected dashboards
/// and removes the stale files when it was given, else records why nothing
/// was done. `progress` makes the [`Tick`] for the stops.
pub fn execute(
    mut plan: SweepPlan,
    consent: Consent,
    args: &SweepArgs,
    progress: impl FnOnce(usize) -> Tick,
) -> Result<SweepFindings, Error> {
    let confirmed = consent == Consent::Given;
    let not_done = if args.dry_run {
        "dry run"
    } else {
        "not confirmed"
    };
    let mut files_removed = Vec::new();
    let mut cleanup_interrupted_by = None;
    if confirmed && plan.to_stop() + plan.servers_to_stop() > 0 {
        // From here on an interrupt waits until the stops under way (and the
        // files they leave stale) are done: a half-finished sweep says less
        // than a finished one, and no stop has to be cut short. Not before:
        // Ctrl+C at the question ends the sweep at once, as it should.
        let inbox = take_over_signals()?;
        stop_selected(&mut plan.entries, &mut plan.servers, args, progress);
        (files_removed, plan.files_stale) = clean_files(&plan.entries);
        cleanup_interrupted_by = signal_during_cleanup(&inbox);
    } else {
        let not_reaped = || Action::NotReaped {
            reason: not_done.into(),
        };
        for e in plan.entries.iter_mut().filter(|e| e.selected) {
            e.action = not_reaped();
        }
        for e in plan.servers.iter_mut().filter(|e| e.selected) {
            e.action = not_reaped();
        }
    }
    if confirmed && plan.to_stop() + plan.servers_to_stop() == 0 {
        (files_removed, plan.files_stale) = clean_files(&plan.entries);
    }
    let elapsed = plan.started.elapsed();
    Ok(SweepFindings {
        plan,
        consent,
        files_removed,
        elapsed,
        cleanup_interrupted_by,
    })
}

/// Step 4, first half: stops the selected dashboards and servers in
/// parallel, recording each action.
fn stop_selected(
    entries: &mut [Entry],
    servers: &mut [ServerEntry],
    args: &SweepArgs,
    progress: impl FnOnce(usize) -> Tick,
) {
    let protected = ancestors_and_self();
    let chosen: Vec<Selected<'_>> = entries
        .iter()
        .filter(|e| e.selected)
        .map(Selected::Dashboard)
        .chain(servers.iter().filter(|e| e.selected).map(Selected::Server))
        .collect();
    let tick = progress(chosen.len());
    let actions = in_parallel(&chosen, &tick, |s| match s {
        Selected::Dashboard(e) => stop_one(e, args, &protected),
        Selected::Server(e) => stop_server(e, args, &protected),
    });
    drop(tick);
    let mut actions = actions.into_iter();
    for e in entries.iter_mut().filter(|e| e.selected) {
        e.action = actions.next().unwrap_or(Action::Pending);
    }
    for e in servers.iter_mut().filter(|e| e.selected) {
        e.action = actions.next().unwrap_or(Action::Pending);
    }
}

/// One of the sweep's selected stops.
#[derive(Clone, Copy)]
enum Selected<'a> {
    Dashboard(&'a Entry),
    Server(&'a ServerEntry),
}

/// Stops one server, after judging it once more (a fresh permit).
fn stop_server(e: &ServerEntry, args: &SweepArgs, protected: &HashSet<u32>) -> Action {
    let scope = Scope::Sweep { all: args.all };
    match read_again(e.identity()) {
        Ok(identity) => {
            let fresh = FoundServer {
                identity,
                profile: e.found.profile.clone(),
            };
            stop_judged(
                judge_server(&fresh, scope, protected, args.start_grace),
                e.port(),
            )
        }
        Err(action) => action,
    }
}

/// Stops one dashboard, after judging it once more (a fresh permit: the
/// process pinned again, its class looked at again).
fn stop_one(e: &Entry, args: &SweepArgs, protected: &HashSet<u32>) -> Action {
    let scope = Scope::Sweep { all: args.all };
    match read_again(e.identity()) {
        Ok(identity) => {
            let fresh = FoundDashboard {
                identity,
                command: e.found.command.clone(),
            };
            let port = e.listening.first().map(|l| l.port);
            stop_judged(judge(&fresh, scope, protected, args.start_grace), port)
        }
        Err(action) => action,
    }
}

/// The process the plan saw, read again right before its stop: the same
/// one (pid and start time), or the action that ends it here (gone, or its
/// pid names another process now, which is never signalled).
fn read_again(seen: &ProcessIdentity) -> Result<ProcessIdentity, Action> {
    let Some(now) = ProcessIdentity::read(seen.pid()) else {
        return Err(Action::AlreadyGone {
            dashboard_file_removed: false,
        });
    };
    if !now.is_same_process(seen) {
        return Err(Action::LeftAlone {
            reason: "the pid now names another process; not signalled".into(),
        });
    }
    Ok(now)
}

/// Stops what `judgement` permits (its port: where it listened), or says
/// why it was not signalled.
fn stop_judged(judgement: Judgement, port: Option<u16>) -> Action {
    let permit = match judgement.verdict {
        Ok(permit) => permit,
        Err(Doubt::Gone) => {
            return Action::AlreadyGone {
                dashboard_file_removed: false,
            };
        }
        Err(doubt) => {
            return Action::LeftAlone {
                reason: format!("{doubt}; not signalled"),
            };
        }
    };
    match stop_dashboard(&permit, port) {
        Ok(
            stopped @ Stopped {
                signal: Some(_), ..
            },
        ) => Action::Reaped {
            stopped,
            dashboard_file_removed: false,
        },
        Ok(_) => Action::AlreadyGone {
            dashboard_file_removed: false,
        },
        Err(err @ StopError::IdentityChanged { .. }) => Action::LeftAlone {
            reason: err.to_string(),
        },
        Err(err) => Action::Failed {
            error: err.to_string(),
        },
    }
}
