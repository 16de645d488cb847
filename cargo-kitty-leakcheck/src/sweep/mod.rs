//! `sweep`: clean a machine that already leaked, in six steps.
//!
//! 1. [`survey`]: the listeners on the watched ports (netlink) with their
//!    owners, and every dashboard process of every user (one read of each
//!    command line).
//! 2. **Select** (in [`survey`]): [`judge`] each dashboard with
//!    [`Scope::Sweep`]: orphans and unrecorded dashboards (and live ones with
//!    `--all`) that are ours, live in our namespaces and are not our
//!    ancestors; starting, unknown and elsewhere ones never. Only dashboards
//!    *in scope* (they listen on a watched port, or their command line names
//!    one) are selected; the rest are listed, never touched. Foreign
//!    listeners and the sync daemon are never selected.
//! 3. [`confirm`]: ask on a terminal, or require `--yes`.
//! 4. [`stop_selected`], in parallel: each is judged once more right before (a
//!    prompt may have taken minutes), then stopped with
//!    [`stop_dashboard`] with the fresh permit, which looks again through
//!    the pidfd before each signal.
//! 5. [`clean_files`]: the `.kittify/.dashboard` files that name a dashboard
//!    we stopped or a process that is no longer that project's dashboard
//!    (never signalling it), in projects of ours that no dashboard of another
//!    namespace serves.
//! 6. Render: [`crate::report::human`] and [`crate::report::json`].
//!
//! The result is a [`SweepReport`]; its [`SweepOutcome`] gives the exit status.

use std::collections::{BTreeMap, HashSet};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use kitty_core::PortSet;
use kitty_core::spec_kitty::{
    DashboardFile, FoundDashboard, ProcessKind, find_dashboard_processes, identify_listeners_among,
    project_dir_of,
};
use kitty_core::sys::Signal;
use kitty_core::{
    Doubt, Judgement, Listener, ListenerSnapshot, ProcessIdentity, Scope, StopError, Stopped,
    ancestors_and_self, judge,
};

use crate::cli::{CommonArgs, SweepArgs};
use crate::command::{signal_during_cleanup, take_over_signals};
use crate::exit_codes::LeakcheckExitCode;
use crate::leak::Action;
use crate::report;
use crate::report::progress::Progress;
use crate::stop_leaks::{in_parallel, stop_dashboard};

mod files;

use files::{clean_files, stale_dashboard_files};

/// One dashboard process, as the sweep sees it.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The process and its command line.
    pub found: FoundDashboard,
    /// Its listeners on watched ports.
    pub listening: Vec<Listener>,
    /// Its class, and whether it may be stopped.
    pub judgement: Judgement,
    /// It listens on a watched port, or its command line names one.
    pub in_scope: bool,
    /// In scope and judged stoppable.
    pub selected: bool,
    /// What was done (or, for a dry run or an unconfirmed one, would be).
    pub action: Action,
}

impl Entry {
    /// The process.
    pub fn identity(&self) -> &ProcessIdentity {
        &self.found.identity
    }

    /// The project dir, absolute as the process sees it (a relative `.` names its cwd).
    pub fn project_dir(&self) -> PathBuf {
        project_dir_of(&self.found.identity, &self.found.command)
            .unwrap_or_else(|| self.found.command.project_dir.clone())
    }

    /// Its first watched listener's port, else the port its command line names.
    pub fn port(&self) -> Option<u16> {
        self.listening
            .first()
            .map(|l| l.port)
            .or(self.found.command.port)
    }
}

/// A listener on a watched port that is not a dashboard.
#[derive(Debug, Clone)]
pub struct OtherListener {
    /// The socket.
    pub listener: Listener,
    /// Its holder, when visible.
    pub owner: Option<ProcessIdentity>,
    /// `foreign`, `sync-daemon`, or `unknown` (owner not visible: another
    /// user's, or it just closed).
    pub kind: &'static str,
}

/// Everything one sweep saw, decided and did.
#[derive(Debug, Clone)]
pub struct SweepReport {
    /// The watched ports.
    pub ports: PortSet,
    /// `--dry-run`.
    pub dry_run: bool,
    /// `--all`.
    pub all: bool,
    /// Stopping was allowed (`--yes`, or "y" on the terminal).
    pub confirmed: bool,
    /// There was something to do but no terminal to ask and no `--yes`.
    pub no_terminal: bool,
    /// Every dashboard process, the ones in scope first.
    pub entries: Vec<Entry>,
    /// The other listeners on the watched ports.
    pub others: Vec<OtherListener>,
    /// `.kittify/.dashboard` files removed.
    pub files_removed: Vec<PathBuf>,
    /// Stale `.kittify/.dashboard` files left (nothing was done, or removal failed).
    pub files_stale: Vec<PathBuf>,
    /// The whole sweep.
    pub elapsed: Duration,
    /// A SIGINT, SIGTERM or SIGHUP that came while the confirmed stops ran:
    /// they were finished first, and the sweep then exits `128 + N`.
    pub cleanup_interrupted_by: Option<Signal>,
}

/// How a sweep ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SweepOutcome {
    /// Nothing left to do, or done.
    Done,
    /// Something to stop, but no terminal to ask and no `--yes`: nothing done.
    NeedsConfirmation,
    /// A selected dashboard could not be stopped.
    StopFailed,
}

impl SweepOutcome {
    /// The exit status.
    pub fn exit_code(self) -> i32 {
        match self {
            SweepOutcome::Done => LeakcheckExitCode::OK,
            SweepOutcome::NeedsConfirmation => LeakcheckExitCode::NEEDS_CONFIRMATION,
            SweepOutcome::StopFailed => LeakcheckExitCode::REAP_FAILED,
        }
    }
}

impl SweepReport {
    /// How many dashboards were selected.
    pub fn to_stop(&self) -> usize {
        self.entries.iter().filter(|e| e.selected).count()
    }

    /// How many were stopped (or found gone).
    pub fn stopped(&self) -> usize {
        self.entries
            .iter()
            .filter(|e| matches!(e.action, Action::Reaped { .. } | Action::AlreadyGone { .. }))
            .count()
    }

    /// How many could not be stopped.
    pub fn failed(&self) -> usize {
        self.entries
            .iter()
            .filter(|e| matches!(e.action, Action::Failed { .. }))
            .count()
    }

    /// The status the sweep exits with: `128 + N` when signal N came during
    /// the stops ([`SweepReport::cleanup_interrupted_by`]), else the
    /// outcome's.
    pub fn exit_code(&self) -> i32 {
        match self.cleanup_interrupted_by {
            Some(sig) => LeakcheckExitCode::SIGNAL_BASE + sig.as_raw(),
            None => self.outcome().exit_code(),
        }
    }

    /// The verdict.
    pub fn outcome(&self) -> SweepOutcome {
        if self.failed() > 0 {
            SweepOutcome::StopFailed
        } else if self.no_terminal {
            SweepOutcome::NeedsConfirmation
        } else {
            SweepOutcome::Done
        }
    }
}

/// `sweep`: the six steps; prints the listing before asking, and the report.
pub fn sweep(common: &CommonArgs, args: &SweepArgs) -> anyhow::Result<SweepReport> {
    let started = Instant::now();
    let mut report = survey(common, args)?;
    let stale = stale_dashboard_files(&report.entries, &HashSet::new(), true);
    report.files_stale = stale
        .iter()
        .map(|(d, ..)| DashboardFile::path_in(d))
        .collect();
    report::emit_sweep_listing(&report, common);
    let has_work = report.to_stop() > 0 || !stale.is_empty();
    (report.confirmed, report.no_terminal) = confirm(&report, args, has_work, stale.len());
    let not_done = if args.dry_run {
        "dry run"
    } else {
        "not confirmed"
    };
    if report.confirmed && report.to_stop() > 0 {
        // From here on an interrupt waits until the stops under way (and the
        // files they leave stale) are done: a half-finished sweep says less
        // than a finished one, and no stop has to be cut short. Not before:
        // Ctrl+C at the question ends the sweep at once, as it should.
        let inbox = take_over_signals()?;
        stop_selected(&mut report.entries, args, common.json() || common.quiet);
        (report.files_removed, report.files_stale) = clean_files(&report.entries);
        report.cleanup_interrupted_by = signal_during_cleanup(&inbox);
    } else {
        for e in report.entries.iter_mut().filter(|e| e.selected) {
            e.action = Action::NotReaped {
                reason: not_done.into(),
            };
        }
    }
    if report.confirmed && report.to_stop() == 0 {
        (report.files_removed, report.files_stale) = clean_files(&report.entries);
    }
    report.elapsed = started.elapsed();
    Ok(report)
}

/// Steps 1 and 2: see, then judge.
fn survey(common: &CommonArgs, args: &SweepArgs) -> anyhow::Result<SweepReport> {
    let snapshot =
        ListenerSnapshot::take(&common.ports).context("cannot read the listening sockets")?;
    // Every dashboard process, merged with the owners of listeners on watched ports.
    let mut dashboards: BTreeMap<u32, (FoundDashboard, Vec<Listener>)> = BTreeMap::new();
    for d in find_dashboard_processes() {
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
    let protected = ancestors_and_self();
    let scope = Scope::Sweep { all: args.all };
    let mut entries: Vec<Entry> = dashboards
        .into_values()
        .map(|(found, listening)| {
            let judgement = judge(&found, scope, &protected, args.start_grace);
            let in_scope = !listening.is_empty()
                || found.command.port.is_some_and(|p| common.ports.contains(p));
            let selected = in_scope && judgement.may_stop();
            let action = Action::LeftAlone {
                reason: match (&judgement.verdict, in_scope) {
                    (_, false) => "outside the watched ports".into(),
                    (Err(doubt), _) => doubt.to_string(),
                    (Ok(_), true) => String::new(),
                },
            };
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
    Ok(SweepReport {
        ports: common.ports.clone(),
        dry_run: args.dry_run,
        all: args.all,
        confirmed: false,
        no_terminal: false,
        entries,
        others,
        files_removed: Vec::new(),
        files_stale: Vec::new(),
        elapsed: Duration::ZERO,
        cleanup_interrupted_by: None,
    })
}

/// Step 3: `(confirmed, no terminal to ask)`.
fn confirm(report: &SweepReport, args: &SweepArgs, has_work: bool, stale: usize) -> (bool, bool) {
    if args.dry_run || !has_work {
        return (false, false);
    }
    if args.yes {
        return (true, false);
    }
    if !std::io::stdin().is_terminal() {
        return (false, true);
    }
    let to_stop = report.to_stop();
    let live = report
        .entries
        .iter()
        .filter(|e| e.selected && e.judgement.class == kitty_core::spec_kitty::DashboardClass::Live)
        .count();
    let question = if to_stop == 0 {
        format!("Remove {stale} stale .kittify/.dashboard files?")
    } else if live > 0 {
        format!("Stop {to_stop} dashboards ({live} of them live)?")
    } else {
        format!("Stop {to_stop} orphaned dashboards?")
    };
    (report::ask(&question), false)
}

/// Step 4: stops the selected dashboards in parallel, recording each action.
fn stop_selected(entries: &mut [Entry], args: &SweepArgs, quiet: bool) {
    let selected: Vec<usize> = (0..entries.len())
        .filter(|&i| entries[i].selected)
        .collect();
    let protected = ancestors_and_self();
    let progress = Progress::new("stopping dashboards", selected.len(), quiet);
    let chosen: Vec<&Entry> = selected.iter().map(|&i| &entries[i]).collect();
    let actions = in_parallel(&chosen, &progress, |e| stop_one(e, args, &protected));
    drop(progress);
    for (i, action) in selected.into_iter().zip(actions) {
        entries[i].action = action;
    }
}

/// Stops one dashboard, after judging it once more (a fresh permit: the
/// process pinned again, its class looked at again).
fn stop_one(e: &Entry, args: &SweepArgs, protected: &HashSet<u32>) -> Action {
    let Some(now) = ProcessIdentity::read(e.identity().pid()) else {
        return Action::AlreadyGone {
            dashboard_file_removed: false,
        };
    };
    if !now.is_same_process(e.identity()) {
        return Action::LeftAlone {
            reason: "the pid now names another process; not signalled".into(),
        };
    }
    let fresh = FoundDashboard {
        identity: now,
        command: e.found.command.clone(),
    };
    let scope = Scope::Sweep { all: args.all };
    let permit = match judge(&fresh, scope, protected, args.start_grace).verdict {
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
    let port = e.listening.first().map(|l| l.port);
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
