//! The one rule: a process is signalled only with positive proof that it is
//! the leaked dashboard of what we are cleaning up. Doubt means report,
//! never kill.
//!
//! Every mode (leakcheck's run, `wrap`, `check` and `sweep`, and the
//! fixtures' drop, at-exit hook and full-range sweep) asks [`judge`] before
//! it stops a dashboard it did not spawn, and reports the [`Doubt`] when the
//! answer is no. A yes is a [`Permit`]: the process pinned by a pidfd right
//! after the proof, and read again after pinning. [`stop`](crate::stop)
//! takes that permit and looks again through it right before each signal.
//!
//! What [`judge`] requires, in order:
//! 1. **It lives where we live**: our pid, mount and network namespaces,
//!    and our root directory (a `chroot`'s paths are not ours).
//! 2. **It is ours**: our uid.
//! 3. **It is not us**: not this process, nor one of its ancestors.
//! 4. **It belongs to what we clean up** ([`Scope`]).
//! 5. **It is still there to pin**: a pidfd on it, and the same process
//!    read through it ([`Doubt::Gone`], [`Doubt::Changed`] otherwise).
//!
//! That it is a dashboard server at all is proved before: [`FoundDashboard`]
//! holds a [`DashboardCommand`](crate::spec_kitty::DashboardCommand), recognised by
//! Python's argv grammar.
//!
//! Any other process (a leaked `http.server`, a language server, a plain
//! background `sleep`) is judged by [`judge_process`]: the same steps 1 to 3
//! and 5, and for step 4 only the run's own proof (it descends from the run
//! or carries its label). A generic process is never swept: only a
//! dashboard, or a server a profile recognises ([`judge_server`]: orphan when
//! the directory it serves is gone, unrecorded when its record file does not
//! name it), is ever an orphan, live or unrecorded.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::path::Path;
use std::time::Duration;

use crate::labels::RUN_LABEL_ENV;
use crate::permit::{Permit, PinFailed};
use crate::process::table::{Kernel, ProcessTable};
use crate::process::{Namespace, Place, ProcessIdentity};
use crate::spec_kitty::{
    DashboardClass, DashboardCommand, FoundDashboard, OrphanReason, classify_dashboard,
    serves_dir_in,
};

/// What a mode is cleaning up.
#[derive(Debug, Clone, Copy)]
pub enum Scope<'a> {
    /// A run (`cargo kitty-leakcheck -- COMMAND`, or `wrap` for one test):
    /// what descends from it (leakcheck is a child subreaper, so every orphan
    /// of the run is re-parented to it), or carries its label.
    Run {
        /// The run's live descendants.
        descendants: &'a HashSet<u32>,
        /// The run's label ([`RUN_LABEL_ENV`]), when it has one.
        label: Option<&'a OsStr>,
    },
    /// `check` after a nextest run: the dashboards carrying the label the
    /// setup script exported, and proven orphans.
    Check {
        /// The label recorded in the baseline, when it has one.
        label: Option<&'a OsStr>,
    },
    /// `sweep`: orphans and unrecorded dashboards; with `all`, live ones too.
    Sweep {
        /// `--all`.
        all: bool,
    },
    /// The fixtures' sweep of a full range: proven orphans only.
    Orphans,
    /// A project's own: the dashboards that serve its directory.
    Project {
        /// The project directory (canonical).
        dir: &'a Path,
    },
}

/// The positive proof on which a process (a dashboard, or any process of
/// the run: [`judge_process`]) may be stopped.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case", tag = "grounds")]
pub enum Grounds {
    /// It descends from the run.
    DescendsFromRun,
    /// Its environment carries the run's label.
    CarriesRunLabel,
    /// It is an orphan.
    Orphan {
        /// Why.
        #[serde(flatten)]
        reason: OrphanReason,
    },
    /// Its project exists but does not record it, and it is not starting.
    Unrecorded,
    /// It is live, and `--all` asked for live ones too.
    LiveWithAll,
    /// It serves the project being dropped.
    ServesProject,
    /// We spawned it and have not reaped it (the fixtures' own dashboard,
    /// leakcheck's COMMAND).
    OurChild,
    /// It is one of the run's processes in our own process group (what a
    /// forwarded interrupt reaches).
    RunMember,
    /// It is a member of a proved dashboard's group, proved on its own.
    GroupMember {
        /// The dashboard that leads the group.
        leader: u32,
    },
}

impl std::fmt::Display for Grounds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Grounds::DescendsFromRun => f.write_str("it descends from the run"),
            Grounds::CarriesRunLabel => write!(f, "it carries the run's {RUN_LABEL_ENV} label"),
            Grounds::Orphan {
                reason: OrphanReason::ProjectGone,
            } => f.write_str("an orphan: its project directory is gone"),
            Grounds::Orphan {
                reason: OrphanReason::OwnerDead { owner_pid },
            } => write!(
                f,
                "an orphan: the test process {owner_pid} that owned it is dead"
            ),
            Grounds::Orphan {
                reason: OrphanReason::ServedDirGone,
            } => f.write_str("an orphan: the directory it serves is gone"),
            Grounds::Unrecorded => f.write_str("unrecorded: its project does not record it"),
            Grounds::LiveWithAll => f.write_str("live, and --all asked for live ones"),
            Grounds::ServesProject => f.write_str("it serves this project"),
            Grounds::OurChild => f.write_str("we spawned it"),
            Grounds::RunMember => f.write_str("it is the run's, in our process group"),
            Grounds::GroupMember { leader } => {
                write!(f, "a proved member of the group of dashboard {leader}")
            }
        }
    }
}

/// Why a process (a dashboard, or any other: [`judge_process`]) is not
/// stopped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case", tag = "doubt")]
pub enum Doubt {
    /// It lives in another namespace (a container, `unshare`).
    #[error("it lives in another {} namespace: its pids and project dir mean nothing here", join(.namespaces))]
    Elsewhere {
        /// The namespaces it does not share with us.
        namespaces: Vec<Namespace>,
    },
    /// Its namespaces cannot be read.
    #[error("its namespaces cannot be read, so it may live in another container")]
    PlaceUnknown,
    /// It belongs to another user.
    #[error("it belongs to uid {uid}, not to us")]
    NotOurs {
        /// Its owner.
        uid: u32,
    },
    /// It is this process or one of its ancestors.
    #[error("it is this process or one of its ancestors")]
    Ancestor,
    /// It neither descends from the run nor carries its label.
    #[error(
        "it was not started by the run: it neither descends from it nor carries its label (stop it with `cargo kitty-leakcheck sweep` if it is an orphan)"
    )]
    NotFromRun,
    /// A live kitty-fixtures test outside the run holds its port reservation.
    #[error("its port reservation is held by the live pid {owner} outside the run")]
    HeldByLiveOwner {
        /// The owner.
        owner: u32,
    },
    /// Its project records it (sweep without `--all`), or its owner is alive.
    #[error("it is live: its project records it, or a live test owns it")]
    Live,
    /// It may still be starting.
    #[error("it may still be starting (spec-kitty records a dashboard only once it is healthy)")]
    Starting,
    /// Its `.kittify/.dashboard` or project dir could not be read.
    #[error("its state is unknown: {reason}")]
    Unknown {
        /// What could not be read.
        reason: String,
    },
    /// Not an orphan (the fixtures' full-range sweep stops orphans only).
    #[error("it is not an orphan")]
    NotAnOrphan,
    /// It does not serve the project.
    #[error("it does not serve this project")]
    NotThisProject,
    /// It exited before it could be pinned: there is nothing to signal.
    #[error("it exited before it could be pinned; nothing was signalled")]
    Gone,
    /// Its pid names another process now, or it changed since it was read.
    #[error("its pid names another process now, or it changed since it was read")]
    Changed,
}

fn join(namespaces: &[Namespace]) -> String {
    let names: Vec<String> = namespaces.iter().map(ToString::to_string).collect();
    names.join(" and ")
}

/// What [`judge`] found: the dashboard's class, and whether it may be stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Judgement {
    /// Whose it is (orphan, unrecorded, starting, live, unknown, elsewhere).
    pub class: DashboardClass,
    /// The permit to stop it (the pinned process and the grounds it was
    /// proved on), or the doubt that keeps it.
    pub verdict: Result<Permit, Doubt>,
}

impl Judgement {
    /// True when it may be stopped.
    pub fn may_stop(&self) -> bool {
        self.verdict.is_ok()
    }

    /// The grounds it may be stopped on, or the doubt that keeps it.
    pub fn grounds(&self) -> Result<&Grounds, &Doubt> {
        self.verdict.as_ref().map(Permit::grounds)
    }
}

/// Judges whether `dashboard` may be stopped by a mode cleaning up `scope`;
/// `protected` holds this process and its ancestors. `start_grace`: see
/// [`classify_dashboard`].
pub fn judge(
    dashboard: &FoundDashboard,
    scope: Scope<'_>,
    protected: &HashSet<u32>,
    start_grace: Duration,
) -> Judgement {
    let identity = &dashboard.identity;
    let class = classify_dashboard(identity, &dashboard.command, start_grace);
    let verdict = decide(&Kernel, dashboard, &class, scope, protected)
        .and_then(|grounds| pin(dashboard, grounds));
    Judgement { class, verdict }
}

/// Steps 1 to 4 of the rule, against `table`: the grounds on which
/// `dashboard` (of class `class`) may be pinned, or the doubt that keeps it.
pub(crate) fn decide<T: ProcessTable>(
    table: &T,
    dashboard: &FoundDashboard,
    class: &DashboardClass,
    scope: Scope<'_>,
    protected: &HashSet<u32>,
) -> Result<Grounds, Doubt> {
    place_and_owner(table, &dashboard.identity, protected)
        .and_then(|()| belongs(table, dashboard, class, scope))
}

/// Pins the proved dashboard: its permit, or why there is none.
fn pin(dashboard: &FoundDashboard, grounds: Grounds) -> Result<Permit, Doubt> {
    pin_identity(
        &dashboard.identity,
        grounds,
        Some(dashboard.command.clone()),
    )
}

fn pin_identity(
    identity: &ProcessIdentity,
    grounds: Grounds,
    dashboard: Option<DashboardCommand>,
) -> Result<Permit, Doubt> {
    Permit::pin(identity, grounds, dashboard).map_err(|e| match e {
        PinFailed::Gone => Doubt::Gone,
        PinFailed::Changed => Doubt::Changed,
    })
}

/// Judges whether `identity`, a process that is **not** a dashboard (a
/// leaked dev server, a background helper), may be stopped by a mode
/// cleaning up `scope`; `protected` holds this process and its ancestors.
///
/// The same rule as [`judge`]: it lives where we live (pid, mount and
/// network namespaces, root), it is ours (uid), it is not in `protected`;
/// then it belongs to what is cleaned up only on the run's own proof:
///
/// - [`Scope::Run`]: it is in `descendants` ([`Grounds::DescendsFromRun`])
///   or its environment carries `label` ([`Grounds::CarriesRunLabel`]);
/// - [`Scope::Check`]: it carries `label` ([`Grounds::CarriesRunLabel`]);
/// - every other scope ([`Scope::Sweep`], [`Scope::Orphans`],
///   [`Scope::Project`]): [`Doubt::NotFromRun`]. Orphan, unrecorded and
///   "serves this project" are facts about a dashboard's records; a generic
///   process has none, so it is never swept.
///
/// Its yes is a [`Permit`] pinned after the proof and read again through
/// the pidfd ([`Doubt::Gone`], [`Doubt::Changed`] otherwise). The permit
/// names no dashboard, so [`stop`](crate::stop) stops that one process: no
/// member of its group is proved through it (each is judged on its own, and
/// the unproved are reported in [`Stopped::left_alone`](crate::Stopped)).
/// A process that execs another program after the proof is no longer what
/// was proved: it is not signalled.
///
/// ```no_run
/// use std::collections::HashSet;
/// use kitty_core::{Grounds, ProcessIdentity, Scope, judge_process};
/// let leaked = ProcessIdentity::read(4242).expect("alive");
/// let descendants = HashSet::from([4242]);
/// let scope = Scope::Run { descendants: &descendants, label: None };
/// let permit = judge_process(&leaked, scope, &kitty_core::ancestors_and_self())?;
/// assert_eq!(permit.grounds(), &Grounds::DescendsFromRun);
/// # Ok::<(), kitty_core::Doubt>(())
/// ```
///
/// # Errors
/// The [`Doubt`] that keeps it: [`Doubt::Elsewhere`],
/// [`Doubt::PlaceUnknown`], [`Doubt::NotOurs`], [`Doubt::Ancestor`],
/// [`Doubt::NotFromRun`], [`Doubt::Gone`] or [`Doubt::Changed`].
pub fn judge_process(
    identity: &ProcessIdentity,
    scope: Scope<'_>,
    protected: &HashSet<u32>,
) -> Result<Permit, Doubt> {
    decide_process(&Kernel, identity, scope, protected)
        .and_then(|grounds| pin_identity(identity, grounds, None))
}

/// Judges whether `server`, a process a [`ServerProfile`](crate::server::ServerProfile)
/// recognises, may be stopped by `sweep` (or the fixtures' full-range
/// sweep); `protected` holds this process and its ancestors. Its class is
/// [`classify_server`](crate::server::classify_server)'s (`start_grace`:
/// see there).
///
/// The same rule as [`judge`]: steps 1 to 3, then for step 4
/// - [`Scope::Sweep`]: an orphan ([`Grounds::Orphan`]: the directory it serves
///   is gone) or an unrecorded server ([`Grounds::Unrecorded`]);
///   a live one never, `--all` or not: `--all` asks for live *dashboards*,
///   and a live server is someone's work;
/// - [`Scope::Orphans`]: an orphan only;
/// - [`Scope::Run`], [`Scope::Check`]: the run's own proof, as
///   [`judge_process`] has it;
/// - [`Scope::Project`]: never ([`Doubt::NotThisProject`]).
///
/// Its permit names no dashboard: [`stop`](crate::stop) stops that one
/// process, no member of its group.
pub fn judge_server(
    server: &crate::server::FoundServer,
    scope: Scope<'_>,
    protected: &HashSet<u32>,
    start_grace: Duration,
) -> Judgement {
    let identity = &server.identity;
    let class = crate::server::classify_server(identity, &server.profile, start_grace);
    let verdict = decide_server(&Kernel, identity, &class, scope, protected)
        .and_then(|grounds| pin_identity(identity, grounds, None));
    Judgement { class, verdict }
}

/// Steps 1 to 4 of [`judge_server`]'s rule, against `table`.
pub(crate) fn decide_server<T: ProcessTable>(
    table: &T,
    identity: &ProcessIdentity,
    class: &DashboardClass,
    scope: Scope<'_>,
    protected: &HashSet<u32>,
) -> Result<Grounds, Doubt> {
    match scope {
        Scope::Run { .. } | Scope::Check { .. } => {
            decide_process(table, identity, scope, protected)
        }
        Scope::Sweep { .. } | Scope::Orphans | Scope::Project { .. } => {
            place_and_owner(table, identity, protected)?;
            match (scope, class) {
                (Scope::Project { .. }, _) => Err(Doubt::NotThisProject),
                (_, DashboardClass::Orphan { reason }) => Ok(Grounds::Orphan {
                    reason: reason.clone(),
                }),
                (Scope::Sweep { .. }, DashboardClass::Unrecorded) => Ok(Grounds::Unrecorded),
                (_, other) => Err(doubt_of(other)),
            }
        }
    }
}

/// Steps 1 to 4 of [`judge_process`]'s rule, against `table`: the grounds
/// on which `identity` (not a dashboard) may be pinned, or the doubt that
/// keeps it.
pub(crate) fn decide_process<T: ProcessTable>(
    table: &T,
    identity: &ProcessIdentity,
    scope: Scope<'_>,
    protected: &HashSet<u32>,
) -> Result<Grounds, Doubt> {
    place_and_owner(table, identity, protected)?;
    match scope {
        Scope::Run { descendants, label } => {
            if descendants.contains(&identity.pid()) {
                Ok(Grounds::DescendsFromRun)
            } else if carries_label(table, identity, label) {
                Ok(Grounds::CarriesRunLabel)
            } else {
                Err(Doubt::NotFromRun)
            }
        }
        Scope::Check { label } if carries_label(table, identity, label) => {
            Ok(Grounds::CarriesRunLabel)
        }
        Scope::Check { .. } | Scope::Sweep { .. } | Scope::Orphans | Scope::Project { .. } => {
            Err(Doubt::NotFromRun)
        }
    }
}

fn place_and_owner<T: ProcessTable>(
    table: &T,
    identity: &ProcessIdentity,
    protected: &HashSet<u32>,
) -> Result<(), Doubt> {
    match table.place(identity) {
        Place::Here => {}
        Place::Elsewhere(namespaces) => return Err(Doubt::Elsewhere { namespaces }),
        Place::Unknown => return Err(Doubt::PlaceUnknown),
    }
    if !table.is_ours(identity) {
        return Err(Doubt::NotOurs {
            uid: identity.uid(),
        });
    }
    if protected.contains(&identity.pid()) {
        return Err(Doubt::Ancestor);
    }
    Ok(())
}

fn carries_label<T: ProcessTable>(
    table: &T,
    identity: &ProcessIdentity,
    label: Option<&OsStr>,
) -> bool {
    label.is_some_and(|want| table.env_var(identity.pid(), RUN_LABEL_ENV).as_deref() == Some(want))
}

fn belongs<T: ProcessTable>(
    table: &T,
    dashboard: &FoundDashboard,
    class: &DashboardClass,
    scope: Scope<'_>,
) -> Result<Grounds, Doubt> {
    match scope {
        Scope::Run { descendants, label } => {
            let grounds = if descendants.contains(&dashboard.identity.pid()) {
                Grounds::DescendsFromRun
            } else if carries_label(table, &dashboard.identity, label) {
                Grounds::CarriesRunLabel
            } else {
                return Err(Doubt::NotFromRun);
            };
            match table.live_reservation_owner(&dashboard.identity, &dashboard.command) {
                Some(owner) if !descendants.contains(&owner) => {
                    Err(Doubt::HeldByLiveOwner { owner })
                }
                _ => Ok(grounds),
            }
        }
        Scope::Check { label } => {
            if carries_label(table, &dashboard.identity, label) {
                Ok(Grounds::CarriesRunLabel)
            } else if let DashboardClass::Orphan { reason } = class {
                Ok(Grounds::Orphan {
                    reason: reason.clone(),
                })
            } else {
                Err(Doubt::NotFromRun)
            }
        }
        Scope::Sweep { all } => match class {
            DashboardClass::Orphan { reason } => Ok(Grounds::Orphan {
                reason: reason.clone(),
            }),
            DashboardClass::Unrecorded => Ok(Grounds::Unrecorded),
            DashboardClass::Live if all => Ok(Grounds::LiveWithAll),
            other => Err(doubt_of(other)),
        },
        Scope::Orphans => match class {
            DashboardClass::Orphan { reason } => Ok(Grounds::Orphan {
                reason: reason.clone(),
            }),
            DashboardClass::Unrecorded => Err(Doubt::NotAnOrphan),
            other => Err(doubt_of(other)),
        },
        Scope::Project { dir } => {
            if serves_dir_in(table, &dashboard.identity, &dashboard.command, dir) {
                Ok(Grounds::ServesProject)
            } else {
                Err(Doubt::NotThisProject)
            }
        }
    }
}

fn doubt_of(class: &DashboardClass) -> Doubt {
    match class {
        DashboardClass::Live => Doubt::Live,
        DashboardClass::Starting { .. } => Doubt::Starting,
        DashboardClass::Unknown { reason } => Doubt::Unknown {
            reason: reason.clone(),
        },
        DashboardClass::Elsewhere { namespaces } => Doubt::Elsewhere {
            namespaces: namespaces.clone(),
        },
        DashboardClass::Orphan { .. } | DashboardClass::Unrecorded => Doubt::NotAnOrphan,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ProcessIdentity;
    use crate::spec_kitty::{DashboardCommand, SERVER_MODULE};

    fn me_as_dashboard(dir: &str) -> FoundDashboard {
        FoundDashboard {
            identity: ProcessIdentity::read(std::process::id()).expect("self"),
            command: DashboardCommand::parse(&["python", "-m", SERVER_MODULE, dir, "9300"])
                .expect("dashboard"),
        }
    }

    #[test]
    fn a_run_stops_only_what_descends_from_it_or_carries_its_label() {
        let d = me_as_dashboard("/nonexistent-kitty-dir");
        let none = HashSet::new();
        let run = Scope::Run {
            descendants: &none,
            label: Some(OsStr::new("lk-not-ours")),
        };
        let j = judge(&d, run, &HashSet::new(), Duration::ZERO);
        assert_eq!(j.grounds(), Err(&Doubt::NotFromRun));
        assert!(j.class.is_orphan(), "an orphan, and still not the run's");
        let ours = HashSet::from([d.identity.pid()]);
        let run = Scope::Run {
            descendants: &ours,
            label: None,
        };
        let j = judge(&d, run, &HashSet::new(), Duration::ZERO);
        assert_eq!(j.grounds(), Ok(&Grounds::DescendsFromRun));
        let permit = j.verdict.expect("a permit");
        assert_eq!(
            permit.pid(),
            d.identity.pid(),
            "the permit pins the process judged"
        );
        assert_eq!(
            judge(&d, run, &ours, Duration::ZERO).grounds(),
            Err(&Doubt::Ancestor)
        );
    }

    #[test]
    fn sweeps_stop_orphans_and_keep_what_is_starting() {
        let gone = me_as_dashboard("/nonexistent-kitty-dir");
        let j = judge(
            &gone,
            Scope::Sweep { all: false },
            &HashSet::new(),
            Duration::ZERO,
        );
        assert_eq!(
            j.grounds(),
            Ok(&Grounds::Orphan {
                reason: OrphanReason::ProjectGone
            })
        );
        let tmp = tempfile::tempdir().expect("tmp");
        let here = me_as_dashboard(tmp.path().to_str().expect("utf-8"));
        let young = judge(
            &here,
            Scope::Sweep { all: true },
            &HashSet::new(),
            Duration::from_secs(3600),
        );
        assert_eq!(young.grounds(), Err(&Doubt::Starting));
        let old = judge(&here, Scope::Orphans, &HashSet::new(), Duration::ZERO);
        assert_eq!(old.grounds(), Err(&Doubt::NotAnOrphan));
    }
}
