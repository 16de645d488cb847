//! The one way to stop a process: through its [`Permit`], and a group only
//! as its individually proved members.

use std::collections::HashSet;
use std::io;
use std::time::{Duration, Instant};

use crate::ports::PortSet;

use crate::os::{self as sys, Signal};
use crate::permit::{Permit, Recheck, SignalRefused};
use crate::process::ProcessIdentity;
use crate::process::listeners::ListenerSnapshot;
use crate::process::table::ProcessTable;
use crate::spec_kitty::DashboardCommand;

/// How long to wait at each step of [`stop`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StopPolicy {
    /// After SIGTERM, how long to wait before SIGKILL (a dashboard needs ~5 ms).
    pub term_grace: Duration,
    /// After SIGKILL, how long to wait before giving up.
    pub kill_grace: Duration,
}

impl Default for StopPolicy {
    fn default() -> Self {
        StopPolicy {
            term_grace: Duration::from_secs(2),
            kill_grace: Duration::from_secs(2),
        }
    }
}

/// A signal this crate sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum StopSignal {
    /// `SIGTERM`, always first.
    #[serde(rename = "SIGTERM")]
    Term,
    /// `SIGKILL`, when SIGTERM was not enough.
    #[serde(rename = "SIGKILL")]
    Kill,
}

impl std::fmt::Display for StopSignal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            StopSignal::Term => "SIGTERM",
            StopSignal::Kill => "SIGKILL",
        })
    }
}

/// What [`stop`] did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Stopped {
    /// The process.
    pub pid: u32,
    /// The last signal sent; `None` when it was already gone (its permit
    /// was void: nothing was signalled in its name).
    pub signal: Option<StopSignal>,
    /// Whether SIGTERM was not enough and SIGKILL followed.
    pub escalated: bool,
    /// Whether members of its group were signalled too (each proved on its
    /// own: see [`stop`]).
    pub group: bool,
    /// The members of its group that were proved and signalled.
    pub members: Vec<u32>,
    /// The members of its group that were not proved to be part of it (a
    /// helper its session started before it became the server, another
    /// user's process): reported, never signalled.
    pub left_alone: Vec<u32>,
    /// From the first check to "reaped and port free".
    #[serde(serialize_with = "ser_millis", rename = "elapsed_ms")]
    #[cfg_attr(feature = "schema", schemars(with = "f64"))]
    pub elapsed: Duration,
}

fn ser_millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64() * 1000.0)
}

/// Why a process was not stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StopError {
    /// The pid now names a different process (or its command line changed): it was not signalled.
    #[error(
        "pid {pid} is no longer the process that was recorded (pid reused?); it was not signalled"
    )]
    IdentityChanged {
        /// The pid.
        pid: u32,
    },
    /// The process belongs to another user: it is never signalled.
    #[error("pid {pid} belongs to uid {uid}, not to us; it was not signalled")]
    NotOurs {
        /// The pid.
        pid: u32,
        /// Its owner.
        uid: u32,
    },
    /// Even SIGKILL did not end it in time.
    #[error("pid {pid} survived SIGKILL for {waited:?}")]
    Survived {
        /// The pid.
        pid: u32,
        /// How long we waited.
        waited: Duration,
    },
    /// It ended, but its port is still held.
    #[error("pid {pid} ended but port {port} is still held after {waited:?}")]
    PortStillHeld {
        /// The pid.
        pid: u32,
        /// The port.
        port: u16,
        /// How long we waited.
        waited: Duration,
    },
    /// The process now lives in another namespace than ours: it was not signalled.
    #[error("pid {pid} lives in another namespace; it was not signalled")]
    Elsewhere {
        /// The pid.
        pid: u32,
    },
    /// The kernel refused the signal.
    #[error("cannot signal pid {pid}: {source}")]
    Signal {
        /// The pid.
        pid: u32,
        /// The cause.
        source: io::Error,
    },
}

/// Stops the process `permit` pins, and the members of its group that are
/// proved on their own:
///
/// 1. look again through the pinned handle: when the process is gone, the
///    permit is void and nothing is signalled (`signal: None`); when it is
///    alive but no longer what was proved, nothing is signalled either
///    ([`StopError::IdentityChanged`]);
/// 2. when it leads its own session, its group's members are each pinned,
///    read again, and proved while it still lives (so its pid is still the
///    group's id): in its group and session, ours, here, started no earlier
///    than it, and either the same dashboard (a shim's real interpreter, a
///    fork of the server) or its child started after it exec'd what was
///    proved (for our own child: any child of it; for a judged one: started
///    after the read that proved it). Every other member is reported in
///    [`Stopped::left_alone`] and never signalled;
/// 3. SIGTERM each, through its own permit (a re-check right before each
///    signal); wait for every exit on the pidfds (an event, not a sleep);
///    after `policy.term_grace`, SIGKILL those left (re-checked again);
/// 4. reap those that are our children (`waitid` on the pidfd: exactly that
///    process);
/// 5. if `port` is given, wait (5 ms polls of a 0.1 ms netlink snapshot)
///    until the sockets they held have closed.
///
/// ```no_run
/// use kitty_core::{judge, stop, Scope, StopPolicy};
/// use kitty_core::spec_kitty::find_dashboard_processes;
/// let protected = kitty_core::ancestors_and_self();
/// for d in find_dashboard_processes() {
///     let judgement = judge(&d, Scope::Orphans, &protected, kitty_core::spec_kitty::START_GRACE);
///     if let Ok(permit) = &judgement.verdict {
///         let stopped = stop(permit, d.command.port, StopPolicy::default())?;
///         println!("stopped {} with {:?} in {:?}", stopped.pid, stopped.signal, stopped.elapsed);
///     }
/// }
/// # Ok::<(), kitty_core::StopError>(())
/// ```
///
/// # Errors
/// [`StopError::IdentityChanged`] when the pinned process is no longer what
/// was proved; [`StopError::Survived`] / [`StopError::PortStillHeld`] when
/// it (or a member) outlived SIGKILL or its port stayed held;
/// [`StopError::Signal`] when the kernel refused.
pub fn stop(permit: &Permit, port: Option<u16>, policy: StopPolicy) -> Result<Stopped, StopError> {
    let started = Instant::now();
    let pid = permit.pid();
    let mut stopped = Stopped {
        pid,
        signal: None,
        escalated: false,
        group: false,
        members: Vec::new(),
        left_alone: Vec::new(),
        elapsed: Duration::ZERO,
    };
    let leader = match permit.recheck() {
        Recheck::Same(now) => now,
        Recheck::Gone => {
            permit.reap_if_child();
            stopped.elapsed = started.elapsed();
            return Ok(stopped);
        }
        Recheck::Changed => return Err(StopError::IdentityChanged { pid }),
    };
    let members = if leader.leads_its_session() {
        let (proved, unproved) = permit.prove_members(&leader);
        stopped.left_alone = unproved;
        proved
    } else {
        Vec::new()
    };
    let all: Vec<&Permit> = std::iter::once(permit).chain(members.iter()).collect();
    let mut held: HashSet<u64> = HashSet::new();
    for p in &all {
        held.extend(sys::socket_inodes(p.pid()));
    }
    // SIGTERM each, the leader first.
    let mut live: Vec<&Permit> = Vec::new();
    for p in &all {
        match p.signal(Signal::TERM) {
            Ok(true) => {
                stopped.signal = Some(StopSignal::Term);
                live.push(p);
                if p.pid() != pid {
                    stopped.members.push(p.pid());
                }
            }
            Ok(false) => {}
            Err(SignalRefused::Changed) if p.pid() == pid => {
                return Err(StopError::IdentityChanged { pid });
            }
            Err(SignalRefused::Changed) => stopped.left_alone.push(p.pid()),
            Err(SignalRefused::Kernel(source)) => {
                return Err(StopError::Signal {
                    pid: p.pid(),
                    source,
                });
            }
        }
    }
    stopped.group = !stopped.members.is_empty();
    let left = wait_all(&live, policy.term_grace);
    if !left.is_empty() {
        let mut killed = Vec::new();
        for p in left {
            match p.signal(Signal::KILL) {
                Ok(true) => {
                    stopped.signal = Some(StopSignal::Kill);
                    stopped.escalated = true;
                    killed.push(p);
                }
                Ok(false) => {}
                Err(SignalRefused::Changed) => {
                    return Err(StopError::IdentityChanged { pid: p.pid() });
                }
                Err(SignalRefused::Kernel(source)) => {
                    return Err(StopError::Signal {
                        pid: p.pid(),
                        source,
                    });
                }
            }
        }
        if let Some(survivor) = wait_all(&killed, policy.kill_grace).first() {
            return Err(StopError::Survived {
                pid: survivor.pid(),
                waited: started.elapsed(),
            });
        }
    }
    for p in &all {
        p.reap_if_child();
    }
    if let Some(port) = port {
        wait_port_closed(pid, port, &held, policy.kill_grace)?;
    }
    stopped.elapsed = started.elapsed();
    Ok(stopped)
}

/// Waits, up to `limit` for all of them, until every one of `permits` has
/// exited; returns those still alive then.
fn wait_all<'a>(permits: &[&'a Permit], limit: Duration) -> Vec<&'a Permit> {
    let deadline = Instant::now() + limit;
    permits
        .iter()
        .filter(|p| !p.wait_exit(deadline.saturating_duration_since(Instant::now())))
        .copied()
        .collect()
}

/// The members of the group `leader` leads that a plan proved: each pinned,
/// read again through its pin, and proved on its own. Built by
/// [`plan_members`]; `permit.rs` turns each pin into a permit.
#[derive(Debug)]
pub(crate) struct GroupPlan<P> {
    /// The proved members: each pin, and what was read of it after pinning.
    pub(crate) proved: Vec<(P, ProcessIdentity)>,
    /// The members seen in the group but not proved: never signalled.
    pub(crate) left_alone: Vec<u32>,
}

/// Which members of the group that `leader` (pinned by `leader_pin`, read
/// as `leader`, leading its own session) leads are proved, in `table`: each
/// member seen in a look at the group is pinned, read again, and proved
/// while the leader is still alive (its pid is the group's id only while it
/// lives; once it is gone the number proves nothing, and nothing at all is
/// planned): in its group and session, ours, here, started no earlier than
/// it, and either running `dashboard` or its child started at tick
/// `children_since` or later. Every other member seen live is left alone.
pub(crate) fn plan_members<T: ProcessTable>(
    table: &T,
    leader_pin: &T::Pin,
    leader: &ProcessIdentity,
    dashboard: Option<&DashboardCommand>,
    children_since: u64,
) -> GroupPlan<T::Pin> {
    let nothing = || GroupPlan {
        proved: Vec::new(),
        left_alone: Vec::new(),
    };
    let pgid = leader.pid();
    let numbers = table.group_members(pgid);
    let mut plan = nothing();
    for m in numbers.into_iter().filter(|&m| m != pgid) {
        let Some((pin, id)) = table.pin_and_read(m) else {
            continue;
        };
        if table.exited(leader_pin) {
            // The group's id is a free number now: nothing is proved by it.
            return nothing();
        }
        if id.pgid() != pgid || id.sid() != leader.sid() {
            continue; // not a member (any more): the number was stale
        }
        let same_dashboard =
            dashboard.is_some_and(|d| DashboardCommand::of(&id).as_ref() == Some(d));
        let its_child_since = id.ppid() == pgid && id.start_ticks() >= children_since;
        if table.is_ours(&id)
            && table.lives_here(&id)
            && id.start_ticks() >= leader.start_ticks()
            && (same_dashboard || its_child_since)
        {
            plan.proved.push((pin, id));
        } else {
            plan.left_alone.push(m);
        }
    }
    plan
}

/// Waits until none of `held` (the sockets the group had) listens on `port`.
fn wait_port_closed(
    pid: u32,
    port: u16,
    held: &HashSet<u64>,
    limit: Duration,
) -> Result<(), StopError> {
    if held.is_empty() {
        return Ok(());
    }
    let deadline = Instant::now() + limit;
    let only = PortSet::single(port);
    loop {
        let still = match ListenerSnapshot::take(&only) {
            Ok(s) => s.listeners().iter().any(|l| held.contains(&l.inode)),
            Err(_) => false,
        };
        if !still {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(StopError::PortStillHeld {
                pid,
                port,
                waited: limit,
            });
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::ffi::OsString;
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};

    use super::*;
    use crate::judge::{Grounds, Scope, judge_process};
    use crate::process::{ProcessTree, ancestors_and_self};

    /// Waits until `f` holds (or panics after 20 s).
    fn until<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(v) = f() {
                return v;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// A process judged by `judge_process` leads its own session and, after
    /// it was judged, starts a child in its group: `stop` stops the judged
    /// process alone; the child (not proved on its own) is reported as left
    /// alone and still lives. It is then stopped through its own permit.
    #[test]
    fn a_permit_without_a_dashboard_stops_its_process_alone() {
        // Our child is no group leader, so setsid execs the shell in a new
        // session: the shell leads it. It waits for the go file before it
        // starts its child, so the child starts after the judgement.
        let tmp = tempfile::tempdir().expect("tmp");
        let go = tmp.path().join("go");
        let script = format!(
            "while [ ! -e '{}' ]; do sleep 0.01; done; sleep 30 & wait",
            go.display()
        );
        let leader = Command::new("setsid")
            .args(["sh", "-c", &script])
            .stdin(Stdio::null())
            .spawn()
            .expect("setsid sh");
        let pid = leader.id();
        let identity = until("the shell to lead its session", || {
            ProcessIdentity::read(pid).filter(|id| {
                id.leads_its_session() && id.argv().first() == Some(&OsString::from("sh"))
            })
        });
        let descendants = HashSet::from([pid]);
        let scope = Scope::Run {
            descendants: &descendants,
            label: None,
        };
        let permit = judge_process(&identity, scope, &ancestors_and_self()).expect("the run's");
        assert_eq!(permit.grounds(), &Grounds::DescendsFromRun);
        // Some clock ticks after the proof: a dashboard's permit would prove
        // this child (its child, started after the read that proved it).
        std::thread::sleep(Duration::from_millis(50));
        std::fs::write(&go, b"").expect("go");
        let child = until("the shell's sleep", || {
            ProcessTree::read()
                .group_members(pid)
                .into_iter()
                .filter_map(ProcessIdentity::read)
                .find(|m| m.ppid() == pid && m.argv().iter().any(|a| a == "30"))
        });
        let stopped = stop(
            &permit,
            None,
            StopPolicy {
                term_grace: Duration::from_secs(5),
                kill_grace: Duration::from_secs(5),
            },
        )
        .expect("stopped");
        assert_eq!(stopped.pid, pid);
        assert!(stopped.members.is_empty(), "{stopped:?}");
        assert!(!stopped.group, "{stopped:?}");
        assert!(stopped.left_alone.contains(&child.pid()), "{stopped:?}");
        assert!(permit.is_void(), "the judged process is stopped");
        drop(leader); // reaped by stop, through its pidfd
        assert!(child.is_still_alive(), "the unproved member was signalled");
        // Its own judgement: now it is stopped too.
        let own = HashSet::from([child.pid()]);
        let scope = Scope::Run {
            descendants: &own,
            label: None,
        };
        let permit = judge_process(&child, scope, &ancestors_and_self()).expect("the run's");
        stop(&permit, None, StopPolicy::default()).expect("stopped");
        assert!(!child.is_still_alive());
    }

    /// In a sweep, an orphans' sweep or a project's drop, a process that is
    /// not a dashboard is never the run's, even ours and here.
    #[test]
    fn a_generic_process_is_never_swept() {
        let mut child = Command::new("sleep").arg("30").spawn().expect("sleep");
        let identity = until("sleep", || ProcessIdentity::read(child.id()));
        let protected = ancestors_and_self();
        let dir = std::path::Path::new("/");
        for scope in [
            Scope::Sweep { all: true },
            Scope::Orphans,
            Scope::Project { dir },
            Scope::Check { label: None },
        ] {
            assert_eq!(
                judge_process(&identity, scope, &protected),
                Err(crate::Doubt::NotFromRun),
                "{scope:?}"
            );
        }
        let me = ProcessIdentity::read(std::process::id()).expect("self");
        let mine = HashSet::from([me.pid()]);
        let run = Scope::Run {
            descendants: &mine,
            label: None,
        };
        assert_eq!(
            judge_process(&me, run, &protected),
            Err(crate::Doubt::Ancestor)
        );
        child.kill().expect("kill");
        child.wait().expect("wait");
    }
}
