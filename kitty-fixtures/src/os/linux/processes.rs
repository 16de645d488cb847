//! Handles on processes (pidfds), signals to them and their groups, waiting
//! for and reaping children, and how children are spawned.

use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal};

use super::signals::{unblock_all_signals, with_no_signal_blocked};

fn pid_of(raw: u32) -> io::Result<Pid> {
    i32::try_from(raw)
        .ok()
        .and_then(Pid::from_raw)
        .ok_or_else(|| io::Error::from_raw_os_error(rustix::io::Errno::SRCH.raw_os_error()))
}

/// The result of signalling a group through a pidfd.
#[derive(Debug)]
pub(crate) enum GroupSignal {
    /// Sent (or the group was already gone).
    Sent,
    /// This kernel has no `PIDFD_SIGNAL_PROCESS_GROUP` (before Linux 6.9).
    Unsupported,
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

    /// Sends `sig` to exactly the process this pidfd names.
    pub(crate) fn send_signal(&self, sig: Signal) -> io::Result<()> {
        rustix::process::pidfd_send_signal(&self.0, sig).map_err(Into::into)
    }

    /// Sends `sig` to the process group of the process this pidfd names
    /// (`PIDFD_SIGNAL_PROCESS_GROUP`, Linux 6.9+): no group id that could be
    /// reused stands between the check and the signal.
    pub(crate) fn send_group_signal(&self, sig: Signal) -> io::Result<GroupSignal> {
        const PIDFD_SIGNAL_PROCESS_GROUP: libc::c_uint = 1 << 2;
        // rustix's pidfd_send_signal takes no flags.
        // SAFETY: a valid pidfd we own, a valid signal number, a NULL siginfo
        // (allowed: the kernel then fills it in as kill(2) would) and a flag
        // the kernel checks; the call reads no memory of ours.
        let r = unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                self.0.as_raw_fd(),
                sig.as_raw(),
                std::ptr::null::<libc::siginfo_t>(),
                PIDFD_SIGNAL_PROCESS_GROUP,
            )
        };
        if r == 0 {
            return Ok(GroupSignal::Sent);
        }
        let err = io::Error::last_os_error();
        if err.raw_os_error() == Some(rustix::io::Errno::INVAL.raw_os_error()) {
            Ok(GroupSignal::Unsupported)
        } else {
            Err(err)
        }
    }

    /// Waits until the process has exited (zombie or reaped) or `timeout`
    /// passes. Returns whether it exited. Event-driven: poll(2) on the pidfd.
    pub(crate) fn wait_exit(&self, timeout: Duration) -> bool {
        self.poll_for(rustix::event::PollFlags::IN, timeout)
    }

    /// Waits until the exited process has been reaped by its parent (the
    /// pidfd reports `POLLHUP` once no task is left, Linux 6.9+; on older
    /// kernels this waits out `timeout`) or `timeout` passes. Returns whether
    /// it was reaped. Event-driven, like [`Pidfd::wait_exit`].
    pub(crate) fn wait_reaped(&self, timeout: Duration) -> bool {
        self.poll_for(rustix::event::PollFlags::empty(), timeout)
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

/// `killpg(pgid, sig)`: the fallback where pidfds cannot signal groups.
pub(crate) fn signal_group(pgid: u32, sig: Signal) -> io::Result<()> {
    rustix::process::kill_process_group(pid_of(pgid)?, sig).map_err(Into::into)
}

/// Whether any process (zombies included) is in process group `pgid`:
/// `kill(-pgid, 0)`, one syscall.
pub(crate) fn group_exists(pgid: u32) -> bool {
    let Ok(p) = pid_of(pgid) else {
        return false;
    };
    match rustix::process::test_kill_process_group(p) {
        Ok(()) => true,
        Err(e) => e == rustix::io::Errno::PERM,
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
    rustix::process::set_parent_process_death_signal(Some(Signal::KILL))?;
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
    let mut child = with_no_signal_blocked(cmd).spawn().ok()?;
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

/// How [`reap_any_child`] found our children.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reaped {
    /// This child exited, and is reaped now.
    Child(u32, ExitStatus),
    /// Children are alive, none has exited.
    NoneExited,
    /// No child at all.
    NoChildren,
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

/// The process group of this process.
pub fn own_process_group() -> u32 {
    rustix::process::getpgrp().as_raw_nonzero().get() as u32
}

/// Sends `sig` to `pid` through a pidfd (so a reused pid is never hit);
/// `Ok(false)` when it is gone. For signals passed on, not for stopping
/// anything: that is [`crate::shared::stop_process_group`]'s alone.
pub fn forward_signal(pid: u32, sig: Signal) -> io::Result<bool> {
    match Pidfd::open(pid)? {
        Some(fd) => match fd.send_signal(sig) {
            Ok(()) => Ok(true),
            Err(e) if e.raw_os_error() == Some(rustix::io::Errno::SRCH.raw_os_error()) => Ok(false),
            Err(e) => Err(e),
        },
        None => Ok(false),
    }
}

/// Registers `hook` to run at `exit(3)` (normal exit, `std::process::exit`,
/// the end of `main`), in the process that registers it.
pub(crate) fn at_exit(hook: extern "C" fn()) {
    // SAFETY: atexit(3) takes a plain `extern "C" fn()` and keeps it for the
    // life of the process; `hook` is a Rust fn item, valid for ever.
    unsafe {
        libc::atexit(hook);
    }
}

/// Makes `cmd`'s child lead a session of its own and die with SIGKILL when
/// the thread that spawns it ends (see [`detach_and_die_with_parent`]).
pub(crate) fn spawn_detached_dying_with(cmd: &mut std::process::Command, parent: u32) {
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
    #[allow(clippy::zombie_processes, reason = "reaped by reap_if_child, by pid")]
    fn a_pidfd_tells_exit_and_reaping_apart() {
        let child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .expect("sleep");
        let fd = Pidfd::open(child.id()).expect("pidfd").expect("alive");
        assert!(!fd.wait_exit(Duration::from_millis(1)), "still running");
        fd.send_signal(Signal::TERM).expect("signal");
        assert!(fd.wait_exit(Duration::from_secs(5)), "exited");
        // A zombie of ours until we reap it: exited, not reaped.
        assert!(!fd.wait_reaped(Duration::from_millis(5)));
        assert!(reap_if_child(child.id()).is_some());
        assert!(fd.wait_reaped(Duration::from_secs(1)), "reaped: POLLHUP");
    }
}
