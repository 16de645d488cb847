//! What `sweep` saw and planned ([`SweepPlan`]: the listing shown before it
//! asks), and what it then did ([`SweepFindings`], with its [`SweepOutcome`]),
//! as plain data. [`crate::modes::sweep`] computes them; [`crate::report`]
//! renders them.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use kitty_core::PortSet;
use kitty_core::server::FoundServer;
use kitty_core::spec_kitty::{DashboardClass, FoundDashboard, project_dir_of};
use kitty_core::sys::Signal;
use kitty_core::{Judgement, Listener, ProcessIdentity};

use crate::exit_codes::LeakcheckExitCode;
use crate::findings::run::Action;

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
/// A server a profile recognises (`http.server`, a `[[server]]` of the
/// config), as `sweep` saw it, judged it ([`kitty_core::judge_server`]) and
/// what it did.
#[derive(Debug, Clone)]
pub struct ServerEntry {
    /// The process and the profile that recognised it.
    pub found: FoundServer,
    /// Its listeners, on any port.
    pub listening: Vec<Listener>,
    /// Its class (orphan when its working directory is gone), and whether
    /// it may be stopped.
    pub judgement: Judgement,
    /// Whether it answered its profile's health path (`None`: no health
    /// path, or nothing to ask it on).
    pub answers: Option<bool>,
    /// It listens on a watched port, or its command line names one: as
    /// for dashboards, only those are ever stopped.
    pub in_scope: bool,
    /// In scope and judged stoppable.
    pub selected: bool,
    /// What was done (or, for a dry run or an unconfirmed one, would be).
    pub action: Action,
}

impl ServerEntry {
    /// The process.
    pub fn identity(&self) -> &ProcessIdentity {
        &self.found.identity
    }

    /// Its first listener's port, else the port its command line names.
    pub fn port(&self) -> Option<u16> {
        self.listening
            .first()
            .map(|l| l.port)
            .or_else(|| self.found.port())
    }
}

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

/// What the survey saw and what the sweep would do: every dashboard with
/// its judgement and whether it is selected, the other listeners, and the
/// `.kittify/.dashboard` files that would be left stale. `main` shows it
/// and asks before anything is done.
#[derive(Debug, Clone)]
pub struct SweepPlan {
    /// The watched ports.
    pub ports: PortSet,
    /// `--dry-run`.
    pub dry_run: bool,
    /// `--all`.
    pub all: bool,
    /// Every dashboard process, the ones in scope first.
    pub entries: Vec<Entry>,
    /// The other listeners on the watched ports.
    pub others: Vec<OtherListener>,
    /// Every server a profile recognises, by pid.
    pub servers: Vec<ServerEntry>,
    /// The stale `.kittify/.dashboard` files once the selected dashboards
    /// are stopped (the prediction); after the sweep, the ones left.
    pub files_stale: Vec<PathBuf>,
    /// When the sweep started (its `elapsed` counts the question too).
    pub started: Instant,
}

impl SweepPlan {
    /// How many dashboards were selected.
    pub fn to_stop(&self) -> usize {
        self.entries.iter().filter(|e| e.selected).count()
    }

    /// How many servers were selected (orphans and unrecorded ones).
    pub fn servers_to_stop(&self) -> usize {
        self.servers.iter().filter(|e| e.selected).count()
    }

    /// How many of the selected ones are live (only with `--all`).
    pub fn live_to_stop(&self) -> usize {
        self.entries
            .iter()
            .filter(|e| e.selected && e.judgement.class == DashboardClass::Live)
            .count()
    }

    /// Whether there is anything to do: a dashboard or server to stop, or a
    /// stale file.
    pub fn has_work(&self) -> bool {
        self.to_stop() + self.servers_to_stop() > 0 || !self.files_stale.is_empty()
    }
}

/// Whether the sweep may act on its plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Consent {
    /// Nothing was asked: a dry run, or nothing to do.
    NotAsked,
    /// `--yes`, or "y" on the terminal.
    Given,
    /// The answer on the terminal was not "y".
    Refused,
    /// There was something to do but no terminal to ask and no `--yes`.
    NoTerminal,
}

/// Everything one sweep saw, decided and did.
#[derive(Debug, Clone)]
pub struct SweepFindings {
    /// What it saw and planned, each entry's action now what was done.
    pub plan: SweepPlan,
    /// Whether it was allowed to act.
    pub consent: Consent,
    /// `.kittify/.dashboard` files removed.
    pub files_removed: Vec<PathBuf>,
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
    /// Something to stop, but not confirmed: the answer on the terminal was
    /// not `y`, or there was no terminal to ask and no `--yes`; nothing done
    /// (`NEEDS_CONFIRMATION`: what is left needs a `y` or `--yes`).
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

impl SweepFindings {
    /// Stopping was allowed (`--yes`, or "y" on the terminal).
    pub fn confirmed(&self) -> bool {
        self.consent == Consent::Given
    }

    /// There was something to do but no terminal to ask and no `--yes`.
    pub fn no_terminal(&self) -> bool {
        self.consent == Consent::NoTerminal
    }

    /// How many dashboards were stopped (or found gone).
    pub fn stopped(&self) -> usize {
        self.plan
            .entries
            .iter()
            .filter(|e| e.action.stopped())
            .count()
    }

    /// How many servers were stopped (or found gone).
    pub fn servers_stopped(&self) -> usize {
        self.plan
            .servers
            .iter()
            .filter(|e| e.action.stopped())
            .count()
    }

    /// How many dashboards and servers could not be stopped.
    pub fn failed(&self) -> usize {
        let failed = |a: &Action| matches!(a, Action::Failed { .. });
        self.plan
            .entries
            .iter()
            .filter(|e| failed(&e.action))
            .count()
            + self
                .plan
                .servers
                .iter()
                .filter(|e| failed(&e.action))
                .count()
    }

    /// The status the sweep exits with: `128 + N` when signal N came during
    /// the stops ([`SweepFindings::cleanup_interrupted_by`]), else the
    /// outcome's.
    pub fn exit_code(&self) -> i32 {
        LeakcheckExitCode::after_cleanup(self.cleanup_interrupted_by, self.outcome().exit_code())
    }

    /// The verdict.
    pub fn outcome(&self) -> SweepOutcome {
        if self.failed() > 0 {
            SweepOutcome::StopFailed
        } else if self.no_terminal() || self.consent == Consent::Refused {
            SweepOutcome::NeedsConfirmation
        } else {
            SweepOutcome::Done
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn findings(consent: Consent, dry_run: bool) -> SweepFindings {
        SweepFindings {
            plan: SweepPlan {
                ports: PortSet::single(9695),
                dry_run,
                all: false,
                entries: Vec::new(),
                others: Vec::new(),
                servers: Vec::new(),
                files_stale: vec!["/gone/.kittify/.dashboard".into()],
                started: Instant::now(),
            },
            consent,
            files_removed: Vec::new(),
            elapsed: Duration::ZERO,
            cleanup_interrupted_by: None,
        }
    }

    /// 0 is "nothing left to stop": a sweep that leaves its work undone
    /// because it was not confirmed (the answer was not y, or it could not
    /// ask) exits 4, like one that had no terminal to ask; a dry run asked
    /// for nothing to be done.
    #[test]
    fn a_refused_sweep_exits_as_one_that_needs_confirmation() {
        use LeakcheckExitCode as C;
        assert_eq!(
            findings(Consent::Refused, false).exit_code(),
            C::NEEDS_CONFIRMATION
        );
        assert_eq!(
            findings(Consent::NoTerminal, false).exit_code(),
            C::NEEDS_CONFIRMATION
        );
        assert_eq!(findings(Consent::NotAsked, true).exit_code(), C::OK);
        assert_eq!(findings(Consent::Given, false).exit_code(), C::OK);
    }
}
