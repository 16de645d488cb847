//! Handles on processes (pidfds), signals to them and their groups, waiting
//! for and reaping children, and how children are spawned.

use std::io::{self, Read};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal as RawSignal};

use super::super::Signal;

use super::signals::{unblock_all_signals, unblocked};
use crate::os::types::Reaped;

fn pid_of(raw: u32) -> io::Result<Pid> {
    i32::try_from(raw)
        .ok()
        .and_then(Pid::from_raw)
        .ok_or_else(|| io::Error::from_raw_os_error(rustix::io::Errno::SRCH.raw_os_error()))
}

/// A pidfd: a handle on one process. Signals sent through it reach that
/// process or nobody, even if its pid is reused after it is reaped.
#[derive(Debug)]
pub(crate) struct Pidfd(OwnedFd);

impl Pidfd {
    /// `Ok(None)` when no such process exists.
    pub(crate) fn open(pid: u32) -> io::Result<Option<Self>> {
        let Ok(p) = pid_of(pid) else {
            return Ok(None);
        };
        match rustix::process::pidfd_open(p, rustix::process::PidfdFlags::empty()) {
            Ok(fd) => Ok(Some(Pidfd(fd))),
            Err(rustix::io::Errno::SRCH) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Sends `sig` to exactly the process this pidfd names. Called by
    /// `permit.rs` alone (a permit is a pidfd and the identity proved
    /// of its process): nothing else in either crate signals.
    pub(crate) fn send_signal(&self, sig: Signal) -> io::Result<()> {
        rustix::process::pidfd_send_signal(&self.0, super::signals::to_rustix(sig)?)
            .map_err(Into::into)
    }

    /// Reaps the process if it is our exited child: `waitid(P_PIDFD)`, so
    /// exactly this process is reaped (never another child of ours that got
    /// its pid after someone else reaped it). Returns whether it reaped.
    pub(crate) fn reap_if_child(&self) -> bool {
        use rustix::process::{WaitId, WaitIdOptions, waitid};
        matches!(
            waitid(
                WaitId::PidFd(self.0.as_fd()),
                WaitIdOptions::EXITED | WaitIdOptions::NOHANG
            ),
            Ok(Some(_))
        )
    }

    /// Whether the process has exited already (a zombie or reaped): one
    /// poll(2) that does not wait.
    pub(crate) fn has_exited(&self) -> bool {
        self.wait_exit(Duration::ZERO)
    }

    /// Waits until the process has exited (zombie or reaped) or `timeout`
    /// passes. Returns whether it exited. Event-driven: poll(2) on the pidfd.
    pub(crate) fn wait_exit(&self, timeout: Duration) -> bool {
        self.poll_for(rustix::event::PollFlags::IN, timeout)
    }

    /// poll(2) on the pidfd for `events` (`POLLHUP` is always reported).
    fn poll_for(&self, events: rustix::event::PollFlags, timeout: Duration) -> bool {
        use rustix::event::{PollFd, PollFlags, Timespec, poll};
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let ts = Timespec {
                tv_sec: left.as_secs() as i64,
                tv_nsec: i64::from(left.subsec_nanos()),
            };
            let mut fds = [PollFd::new(&self.0, events)];
            match poll(&mut fds, Some(&ts)) {
                Ok(n) if n > 0 => {
                    let got = fds[0].revents();
                    return got.intersects(events | PollFlags::HUP);
                }
                Ok(_) => return false,
                Err(rustix::io::Errno::INTR) => continue,
                Err(_) => return false,
            }
        }
    }
}

impl AsFd for Pidfd {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.0.as_fd()
    }
}

/// Reaps `pid` if it is our exited child; returns how it ended.
pub fn reap_if_child(pid: u32) -> Option<ExitStatus> {
    use rustix::process::{WaitOptions, waitpid};
    let p = pid_of(pid).ok()?;
    match waitpid(Some(p), WaitOptions::NOHANG) {
        Ok(Some((_, status))) => Some(ExitStatus::from_raw(status.as_raw())),
        _ => None,
    }
}

/// Reaps `pid` (our child), waiting for it.
pub fn wait_child(pid: u32) -> io::Result<ExitStatus> {
    use rustix::process::{WaitOptions, waitpid};
    let p = pid_of(pid)?;
    loop {
        match waitpid(Some(p), WaitOptions::empty()) {
            Ok(Some((_, status))) => return Ok(ExitStatus::from_raw(status.as_raw())),
            Ok(None) => continue,
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// In a freshly forked child (async-signal-safe: system calls only): start
/// with no signal blocked (a mask is inherited through exec, and whoever
/// started us may have blocked SIGTERM), lead a new session (as spec-kitty
/// starts its dashboards), die with SIGKILL when the spawning thread dies,
/// and bail out if that already happened.
fn detach_and_die_with_parent(parent: u32) -> io::Result<()> {
    unblock_all_signals()?;
    rustix::process::setsid()?;
    rustix::process::set_parent_process_death_signal(Some(RawSignal::KILL))?;
    let ppid = rustix::process::getppid().map(|p| p.as_raw_nonzero().get());
    if ppid != i32::try_from(parent).ok() {
        // No allocation after fork: a plain errno.
        return Err(rustix::io::Errno::SRCH.into());
    }
    Ok(())
}

/// Makes this process a child subreaper: orphaned descendants are re-parented to it.
pub fn become_child_subreaper() -> io::Result<()> {
    rustix::process::set_child_subreaper(Some(rustix::process::getpid())).map_err(Into::into)
}

/// Runs `cmd` (stdout piped) and returns its stdout when it exits within
/// `limit`; kills and reaps it and returns `None` otherwise. Waits on a pidfd
/// (an event), not by polling.
pub fn output_within(cmd: &mut std::process::Command, limit: Duration) -> Option<Vec<u8>> {
    // A blocked SIGCHLD would hang a shell that waits (an interpreter shim).
    let mut child = unblocked(cmd).spawn().ok()?;
    let exited = match Pidfd::open(child.id()) {
        Ok(Some(fd)) => fd.wait_exit(limit),
        // Already reaped cannot be (we have not waited): it exited.
        _ => true,
    };
    if !exited {
        let _ = child.kill();
        let _ = child.wait();
        return None;
    }
    let mut out = Vec::new();
    if let Some(mut stdout) = child.stdout.take() {
        // A grandchild may still hold the pipe: take what is there, never block.
        let _ = rustix::fs::fcntl_setfl(&stdout, rustix::fs::OFlags::NONBLOCK);
        let _ = stdout.read_to_end(&mut out);
    }
    let status = child.wait().ok()?;
    status.success().then_some(out)
}

/// `waitpid(-1, WNOHANG)`: reaps one exited child, if any.
pub fn reap_any_child() -> io::Result<Reaped> {
    use rustix::process::{WaitOptions, wait};
    loop {
        return match wait(WaitOptions::NOHANG) {
            Ok(Some((pid, status))) => Ok(Reaped::Child(
                pid.as_raw_nonzero().get() as u32,
                ExitStatus::from_raw(status.as_raw()),
            )),
            Ok(None) => Ok(Reaped::NoneExited),
            Err(rustix::io::Errno::CHILD) => Ok(Reaped::NoChildren),
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => Err(e.into()),
        };
    }
}

/// The process group of this process, as `/proc/self/stat` numbers it: 0
/// when its leader lives outside our pid namespace (`unshare --pid` run from
/// a shell), where `getpgrp(2)` also says 0 (and rustix's wrapper, which
/// wants a non-zero pid, would panic). The members of that group see the
/// same 0 in their own `stat`, so comparing by it still tells them apart.
pub fn own_process_group() -> u32 {
    std::fs::read("/proc/self/stat")
        .ok()
        .and_then(|raw| super::procfs::parse_stat(&raw))
        .map_or(0, |st| st.pgid)
}

/// Registers `hook` to run at `exit(3)` (normal exit, `std::process::exit`,
/// the end of `main`), in the process that registers it.
pub fn at_exit(hook: extern "C" fn()) {
    // SAFETY: atexit(3) takes a plain `extern "C" fn()` and keeps it for the
    // life of the process; `hook` is a Rust fn item, valid for ever.
    unsafe {
        libc::atexit(hook);
    }
}

/// Makes `cmd`'s child lead a session of its own and die with SIGKILL when
/// the thread that spawns it ends (`detach_and_die_with_parent`).
pub fn spawn_detached_dying_with(cmd: &mut std::process::Command, parent: u32) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs between fork and exec; it only makes raw
    // system calls (setsid, prctl, getppid), which are async-signal-safe, and
    // allocates nothing.
    unsafe {
        cmd.pre_exec(move || detach_and_die_with_parent(parent));
    }
}

/// Whether `e` is `ESRCH`: the process (or group) signalled no longer exists.
pub fn is_no_such_process(e: &io::Error) -> bool {
    e.raw_os_error() == Some(rustix::io::Errno::SRCH.raw_os_error())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::zombie_processes, reason = "reaped by its pidfd")]
    fn a_pidfd_tells_exit_and_reaps_exactly_its_process() {
        let child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .expect("sleep");
        let fd = Pidfd::open(child.id()).expect("pidfd").expect("alive");
        assert!(!fd.wait_exit(Duration::from_millis(1)), "still running");
        fd.send_signal(Signal::TERM).expect("signal");
        assert!(fd.wait_exit(Duration::from_secs(5)), "exited");
        // A zombie of ours until we reap it, by its pidfd.
        assert!(fd.has_exited());
        assert!(fd.reap_if_child(), "reaped through the pidfd");
        assert!(!fd.reap_if_child(), "and only once");
        assert!(reap_if_child(child.id()).is_none(), "nothing left to reap");
    }
}
