//! The one safe way to stop a process group: prove who it is, then signal.

use std::collections::HashSet;
use std::io;
use std::time::{Duration, Instant};

use crate::ports::PortSet;

use super::listeners::ListenerSnapshot;
use super::process::{ProcessIdentity, ProcessTree};
use crate::os::{self as sys, Signal};

/// How long to wait at each step of [`stop_process_group`].
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

/// What [`stop_process_group`] did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Stopped {
    /// The process.
    pub pid: u32,
    /// The last signal sent; `None` when it was already gone.
    pub signal: Option<StopSignal>,
    /// Whether SIGTERM was not enough and SIGKILL followed.
    pub escalated: bool,
    /// Whether the whole group was signalled (the process led it) or only the process.
    pub group: bool,
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

/// Stops `expected` and, when the proof covers it, its process group:
///
/// 1. open a pidfd on the pid (signals through it reach that process or
///    nobody, even if the pid is reused);
/// 2. re-read `/proc` and require the same pid, start time, uid, command
///    line and namespaces as `expected`, our own uid and our own namespaces;
///    otherwise refuse;
/// 3. SIGTERM the whole group only when the process leads its own session
///    (then every member of its group was forked inside that session, by it
///    or its descendants: spec-kitty and the fixtures start dashboards so),
///    through the pidfd (`PIDFD_SIGNAL_PROCESS_GROUP`, Linux 6.9+; `killpg`
///    before), else the process alone;
/// 4. wait for exit on the pidfd (an event, not a sleep); after
///    `policy.term_grace`, prove its identity again and SIGKILL;
/// 5. reap it if it is our child; stop the other members of its group that
///    outlive it (each pinned by a pidfd and checked to be ours, here, in
///    its group and session, and younger than it), also when the leader was
///    already gone when we came;
/// 6. if `port` is given, wait (5 ms polls of a 0.1 ms netlink snapshot)
///    until the sockets it held have closed.
///
/// ```no_run
/// use kitty_fixtures::shared::{stop_process_group, ProcessIdentity, StopPolicy};
/// let id = ProcessIdentity::read(12345).expect("running");
/// let stopped = stop_process_group(&id, Some(9237), StopPolicy::default())?;
/// println!("stopped {} with {:?} in {:?}", stopped.pid, stopped.signal, stopped.elapsed);
/// # Ok::<(), kitty_fixtures::shared::StopError>(())
/// ```
pub fn stop_process_group(
    expected: &ProcessIdentity,
    port: Option<u16>,
    policy: StopPolicy,
) -> Result<Stopped, StopError> {
    let started = Instant::now();
    let pid = expected.pid();
    let mut stopped = Stopped {
        pid,
        signal: None,
        escalated: false,
        group: false,
        elapsed: Duration::ZERO,
    };
    let pidfd = match sys::Pidfd::open(pid) {
        Ok(fd) => fd,
        Err(source) => return Err(StopError::Signal { pid, source }),
    };
    let now = match &pidfd {
        Some(_) => verify(expected)?,
        None => None,
    };
    match (&pidfd, now) {
        (Some(pidfd), Some(now)) => {
            let group = now.leads_its_session();
            stopped.group = group;
            let mut held = sockets_of(pid, group);
            send(pidfd, &now, group, Signal::TERM)?;
            stopped.signal = Some(StopSignal::Term);
            if !pidfd.wait_exit(policy.term_grace) {
                // Still there: prove again that it is the same process, then SIGKILL.
                if let Some(again) = verify(expected)? {
                    send(pidfd, &again, group, Signal::KILL)?;
                    stopped.signal = Some(StopSignal::Kill);
                    stopped.escalated = true;
                    if !pidfd.wait_exit(policy.kill_grace) {
                        return Err(StopError::Survived {
                            pid,
                            waited: started.elapsed(),
                        });
                    }
                }
            }
            sys::reap_if_child(pid);
            if group {
                held.extend(stop_members(expected, Some(pidfd), policy, &mut stopped)?);
            }
            if let Some(port) = port {
                wait_port_closed(pid, port, &held, policy.kill_grace)?;
            }
        }
        // Gone (or it exited between the open and the read): its group may live on.
        _ => {
            sys::reap_if_child(pid);
            if expected.leads_its_session() {
                let held = stop_members(expected, pidfd.as_ref(), policy, &mut stopped)?;
                if let Some(port) = port {
                    wait_port_closed(pid, port, &held, policy.kill_grace)?;
                }
            }
        }
    }
    stopped.elapsed = started.elapsed();
    Ok(stopped)
}

/// Stops the members of the group `leader` led that outlive it: they got the
/// group's signal (an interpreter shim's real Python, a forked helper), or
/// the leader was already gone. Each is pinned by a pidfd, then checked; one
/// that outlives `policy.term_grace` after SIGTERM gets SIGKILL. Usually
/// there are none, and one `kill(-pgid, 0)` says so. Returns the sockets the
/// members held (their ports must close too). `leader_fd`: the exited
/// leader's pidfd, when it was still a zombie when pinned.
fn stop_members(
    leader: &ProcessIdentity,
    leader_fd: Option<&sys::Pidfd>,
    policy: StopPolicy,
    stopped: &mut Stopped,
) -> Result<HashSet<u64>, StopError> {
    let pgid = leader.pid();
    if !group_outlives_leader(pgid, leader_fd) {
        return Ok(HashSet::new());
    }
    let members = pinned_members(leader);
    let held: HashSet<u64> = members
        .iter()
        .flat_map(|(m, _)| sys::socket_inodes(*m))
        .collect();
    // Members the leader's group signal reached are exiting already.
    let reached = stopped.signal.is_some();
    for (member, fd) in &members {
        if !reached {
            let _ = fd.send_signal(Signal::TERM);
            stopped.signal.get_or_insert(StopSignal::Term);
            stopped.group = true;
        }
        if !fd.wait_exit(policy.term_grace) {
            let _ = fd.send_signal(Signal::KILL);
            stopped.signal = Some(StopSignal::Kill);
            stopped.escalated = true;
            if !fd.wait_exit(policy.kill_grace) {
                return Err(StopError::Survived {
                    pid: *member,
                    waited: policy.term_grace + policy.kill_grace,
                });
            }
        }
        sys::reap_if_child(*member);
    }
    Ok(held)
}

/// How long an exited leader's parent gets to reap it before its group's
/// members are looked for in all of `/proc`. A parent that waits for its
/// children reaps within microseconds; some init processes reap only every
/// second or two (then the scan, shared by concurrent stops, decides).
const LEADER_REAP_WAIT: Duration = Duration::from_millis(20);

/// Whether group `pgid` has members besides its exited leader. A leader that
/// is not our child stays a zombie until its parent reaps it, and
/// `kill(-pgid, 0)` counts zombies: wait (on the leader's pidfd, an event:
/// it reports `POLLHUP` once the leader is reaped) up to [`LEADER_REAP_WAIT`]
/// for the parent to reap it, then ask again; if it is still not reaped, the
/// members are looked for.
fn group_outlives_leader(pgid: u32, leader_fd: Option<&sys::Pidfd>) -> bool {
    if !sys::group_exists(pgid) {
        return false;
    }
    match leader_fd {
        Some(fd) if fd.wait_reaped(LEADER_REAP_WAIT) => sys::group_exists(pgid),
        _ => true,
    }
}

/// The live members of the group `leader` led, each pinned by a pidfd and
/// checked after pinning: still in the group and the leader's session, ours,
/// in our namespaces, and started no earlier than the leader. While any
/// member lives, the group id (the leader's pid) stays in use and cannot be
/// handed out again, so what has that group id and session is the group.
fn pinned_members(leader: &ProcessIdentity) -> Vec<(u32, sys::Pidfd)> {
    let pgid = leader.pid();
    // A look at every process that begins after this call (the leader has
    // exited by now), shared with the stops running beside this one.
    ProcessTree::read_shared()
        .group_members(pgid)
        .into_iter()
        .filter(|&m| m != pgid)
        .filter_map(|m| {
            let fd = sys::Pidfd::open(m).ok()??;
            let id = ProcessIdentity::read(m)?;
            (id.pgid() == pgid
                && id.sid() == leader.sid()
                && id.start_ticks() >= leader.start_ticks()
                && id.is_ours()
                && id.lives_here())
            .then_some((m, fd))
        })
        .collect()
}

/// `Ok(Some(fresh))` when `expected` is still alive, ours and here;
/// `Ok(None)` when it is gone; an error when the pid is someone else now.
fn verify(expected: &ProcessIdentity) -> Result<Option<ProcessIdentity>, StopError> {
    let pid = expected.pid();
    let Some(now) = ProcessIdentity::read(pid) else {
        return Ok(None);
    };
    if !now.is_same_process(expected) {
        return Err(StopError::IdentityChanged { pid });
    }
    if !now.is_ours() {
        return Err(StopError::NotOurs {
            pid,
            uid: now.uid(),
        });
    }
    if !now.lives_here() {
        return Err(StopError::Elsewhere { pid });
    }
    Ok(Some(now))
}

fn send(
    pidfd: &sys::Pidfd,
    who: &ProcessIdentity,
    group: bool,
    sig: Signal,
) -> Result<(), StopError> {
    let pid = who.pid();
    let r = if group {
        match pidfd.send_group_signal(sig) {
            Ok(sys::GroupSignal::Sent) => Ok(()),
            // Before Linux 6.9. The leader is alive (we hold its pidfd and
            // just verified it), so its pid is not free to be another group's id.
            Ok(sys::GroupSignal::Unsupported) => sys::signal_group(pid, sig),
            Err(e) => Err(e),
        }
    } else {
        pidfd.send_signal(sig)
    };
    match r {
        Ok(()) => Ok(()),
        // ESRCH: it is gone already (exited between the check and the signal).
        Err(e) if sys::is_no_such_process(&e) => Ok(()),
        Err(source) => Err(StopError::Signal { pid, source }),
    }
}

/// The sockets held by `pid`, or, when it holds none and leads its group (a
/// python shim whose child holds the port), by its descendants.
fn sockets_of(pid: u32, group: bool) -> HashSet<u64> {
    let mut held: HashSet<u64> = sys::socket_inodes(pid).into_iter().collect();
    if held.is_empty() && group {
        for child in ProcessTree::read_below(pid).descendants_of(pid) {
            held.extend(sys::socket_inodes(child));
        }
    }
    held
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
