//! The one safe way to stop a process group: prove who it is, then signal.

use std::collections::HashSet;
use std::io;
use std::time::{Duration, Instant};

use crate::ports::PortSet;

use super::listeners::ListenerSnapshot;
use super::process::{ProcessIdentity, ProcessTree};
use super::sys;

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
    /// The kernel refused the signal.
    #[error("cannot signal pid {pid}: {source}")]
    Signal {
        /// The pid.
        pid: u32,
        /// The cause.
        source: io::Error,
    },
}

/// Stops `expected` and its process group, safely:
///
/// 1. open a pidfd on the pid (from here on the pid cannot be reused under us);
/// 2. re-read `/proc` and require the same pid, start time, uid and command
///    line as `expected`, and our own uid; otherwise refuse;
/// 3. SIGTERM the group when the process leads it, else the process alone;
/// 4. wait for exit on the pidfd (an event, not a sleep); after
///    `policy.term_grace`, check identity again and SIGKILL;
/// 5. reap it if it is our child; wait until the other members of its group
///    are gone too (pinned by pidfds), SIGKILLing any that outlive
///    `policy.term_grace`;
/// 6. if `port` is given, wait (5 ms polls of a 0.1 ms netlink snapshot)
///    until the sockets it held have closed.
///
/// ```no_run
/// use kitty_fixtures::probe::{stop_process_group, ProcessIdentity, StopPolicy};
/// let id = ProcessIdentity::read(12345).expect("running");
/// let stopped = stop_process_group(&id, Some(9237), StopPolicy::default())?;
/// println!("stopped {} with {:?} in {:?}", stopped.pid, stopped.signal, stopped.elapsed);
/// # Ok::<(), kitty_fixtures::probe::StopError>(())
/// ```
pub fn stop_process_group(
    expected: &ProcessIdentity,
    port: Option<u16>,
    policy: StopPolicy,
) -> Result<Stopped, StopError> {
    let started = Instant::now();
    let pid = expected.pid();
    let gone = |signal, escalated, group| Stopped {
        pid,
        signal,
        escalated,
        group,
        elapsed: started.elapsed(),
    };
    let pidfd = match sys::Pidfd::open(pid) {
        Ok(Some(fd)) => fd,
        Ok(None) => return Ok(gone(None, false, false)),
        Err(source) => return Err(StopError::Signal { pid, source }),
    };
    let Some(now) = verify(expected)? else {
        sys::reap_if_child(pid);
        return Ok(gone(None, false, false));
    };
    let group = now.leads_its_group();
    let held = sockets_of(pid, group);

    send(&pidfd, &now, group, libc::SIGTERM)?;
    let mut signal = StopSignal::Term;
    let mut escalated = false;
    if !pidfd.wait_exit(policy.term_grace) {
        // Still there: prove again that it is the same process, then SIGKILL.
        if let Some(again) = verify(expected)? {
            send(&pidfd, &again, group, libc::SIGKILL)?;
            signal = StopSignal::Kill;
            escalated = true;
            if !pidfd.wait_exit(policy.kill_grace) {
                return Err(StopError::Survived {
                    pid,
                    waited: started.elapsed(),
                });
            }
        }
    }
    sys::reap_if_child(pid);
    // The group is stopped when its other members are gone too (an
    // interpreter shim's real Python, a forked helper). They got the group's
    // signal; SIGKILL, through each one's own pidfd, any that outlive the
    // grace. Usually there are none: one kill(-pgid, 0) says so.
    let members = if group && sys::group_exists(pid) {
        pinned_members(pid)
    } else {
        Vec::new()
    };
    for (member, fd) in &members {
        if !fd.wait_exit(policy.term_grace) {
            let _ = fd.send_signal(libc::SIGKILL);
            signal = StopSignal::Kill;
            escalated = true;
            if !fd.wait_exit(policy.kill_grace) {
                return Err(StopError::Survived {
                    pid: *member,
                    waited: started.elapsed(),
                });
            }
        }
        sys::reap_if_child(*member);
    }
    if let Some(port) = port {
        wait_port_closed(pid, port, &held, policy.kill_grace)?;
    }
    Ok(gone(Some(signal), escalated, group))
}

/// The other members of the group `leader` led, each pinned by a pidfd and
/// checked after pinning to be in the group and to belong to us. While any member lives, the
/// group id (the leader's pid) stays in use and cannot be handed out again,
/// so what has that group id is the group.
fn pinned_members(leader: u32) -> Vec<(u32, sys::Pidfd)> {
    ProcessTree::read()
        .group_members(leader)
        .into_iter()
        .filter(|&m| m != leader)
        .filter_map(|m| {
            let fd = sys::Pidfd::open(m).ok()??;
            // Pinned first, then checked: still in the group, and ours.
            let id = ProcessIdentity::read(m)?;
            (id.pgid() == leader && id.is_ours()).then_some((m, fd))
        })
        .collect()
}

/// `Ok(Some(fresh))` when `expected` is still alive and ours; `Ok(None)` when it
/// is gone; an error when the pid is someone else now.
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
    Ok(Some(now))
}

fn send(
    pidfd: &sys::Pidfd,
    who: &ProcessIdentity,
    group: bool,
    sig: libc::c_int,
) -> Result<(), StopError> {
    let pid = who.pid();
    let r = if group {
        // The leader is alive (we hold its pidfd and just verified it), so its
        // pid cannot have been reused as a group id by anyone else.
        sys::signal_group(pid, sig)
    } else {
        pidfd.send_signal(sig)
    };
    match r {
        Ok(()) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::ESRCH) => Ok(()),
        Err(source) => Err(StopError::Signal { pid, source }),
    }
}

/// The sockets held by `pid`, or, when it holds none and leads a group (a
/// python shim whose child holds the port), by the members of its group.
fn sockets_of(pid: u32, group: bool) -> HashSet<u64> {
    let mut held: HashSet<u64> = sys::socket_inodes(pid).into_iter().collect();
    if held.is_empty() && group {
        for member in ProcessTree::read().group_members(pid) {
            held.extend(sys::socket_inodes(member));
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
