//! Signals this process takes as data (`signalfd`), their names, and how a
//! process ends the way its child did.

use std::io;
use std::time::Duration;

use super::super::Signal;
use crate::os::types::Arrived;

/// The raw numbers of the named signals ([`Signal`]'s constants).
pub const SIGINT: i32 = rustix::process::Signal::INT.as_raw();
/// SIGTERM's number.
pub const SIGTERM: i32 = rustix::process::Signal::TERM.as_raw();
/// SIGHUP's number.
pub const SIGHUP: i32 = rustix::process::Signal::HUP.as_raw();
/// SIGKILL's number.
pub const SIGKILL: i32 = rustix::process::Signal::KILL.as_raw();
/// SIGCHLD's number.
pub const SIGCHLD: i32 = rustix::process::Signal::CHILD.as_raw();

/// Whether `raw` is a signal this system names.
pub fn is_named_signal(raw: i32) -> bool {
    rustix::process::Signal::from_named_raw(raw).is_some()
}

/// rustix's signal for ours (every [`Signal`] is a named one, so `None`
/// never happens; it is an error rather than some other signal if it did).
pub(super) fn to_rustix(sig: Signal) -> io::Result<rustix::process::Signal> {
    rustix::process::Signal::from_named_raw(sig.as_raw())
        .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))
}

/// SIGINT, SIGTERM, SIGHUP and SIGCHLD, received as data from a `signalfd`
/// instead of by handlers: they are blocked for this process, so none of them
/// ends it, and the wait loop reads them when they come, one poll away. A
/// blocked mask is inherited through fork and exec (and some shells hand the
/// mask they started with to their background jobs): spawn children with
/// [`unblocked`]. Open it while the process is single-threaded
/// (the mask is the calling thread's, inherited by threads made after).
#[derive(Debug)]
pub struct SignalInbox {
    fd: nix::sys::signalfd::SignalFd,
}

impl SignalInbox {
    /// The signals an inbox takes.
    pub const SIGNALS: [Signal; 4] = [Signal::INT, Signal::TERM, Signal::HUP, Signal::CHILD];

    /// Blocks [`SignalInbox::SIGNALS`] and opens the signalfd for them.
    pub fn open() -> io::Result<Self> {
        use nix::sys::signal::{SigSet, SigmaskHow, Signal as N, sigprocmask};
        use nix::sys::signalfd::{SfdFlags, SignalFd};
        let mut set = SigSet::empty();
        for sig in [N::SIGINT, N::SIGTERM, N::SIGHUP, N::SIGCHLD] {
            set.add(sig);
        }
        sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), None).map_err(io::Error::from)?;
        let fd = SignalFd::with_flags(&set, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
            .map_err(io::Error::from)?;
        Ok(SignalInbox { fd })
    }

    /// Waits until at least one signal is there, or `limit` passes (`None`:
    /// no limit), and returns those that came, oldest first.
    pub fn wait(&self, limit: Option<Duration>) -> io::Result<Vec<Arrived>> {
        use rustix::event::{PollFd, PollFlags, Timespec, poll};
        let ts = limit.map(|l| Timespec {
            tv_sec: l.as_secs() as i64,
            tv_nsec: i64::from(l.subsec_nanos()),
        });
        let mut fds = [PollFd::new(&self.fd, PollFlags::IN)];
        match poll(&mut fds, ts.as_ref()) {
            Ok(_) | Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
        let mut out = Vec::new();
        while let Some(info) = self.fd.read_signal().map_err(io::Error::from)? {
            let Some(signal) = Signal::from_raw(info.ssi_signo as i32) else {
                continue;
            };
            let code = info.ssi_code;
            out.push(Arrived {
                signal,
                from_a_process: code == libc::SI_USER || code == libc::SI_QUEUE,
                sender: info.ssi_pid,
            });
        }
        Ok(out)
    }
}

/// The name of signal `sig` (`SIGINT`), or `signal N`.
pub fn signal_name(sig: i32) -> String {
    nix::sys::signal::Signal::try_from(sig)
        .map(|s| s.as_str().to_string())
        .unwrap_or_else(|_| format!("signal {sig}"))
}

/// Ends this process with `sig`, the way a child ended, so that whoever waits
/// for us sees that signal (with no core dump of our own): its disposition
/// back to the default, unblocked, then sent to ourselves. Returns only if
/// the signal did not end us.
pub fn end_with_signal(sig: i32) {
    use nix::sys::signal::{SigHandler, SigSet, SigmaskHow, sigprocmask};
    let Ok(nix_sig) = nix::sys::signal::Signal::try_from(sig) else {
        return;
    };
    let _ = rustix::process::setrlimit(
        rustix::process::Resource::Core,
        rustix::process::Rlimit {
            current: Some(0),
            maximum: None,
        },
    );
    // SAFETY: SIG_DFL installs no handler of ours: nothing runs in signal
    // context. std ignores SIGPIPE at start, so this is what lets SIGPIPE end us.
    unsafe {
        let _ = nix::sys::signal::signal(nix_sig, SigHandler::SigDfl);
    }
    let mut set = SigSet::empty();
    set.add(nix_sig);
    let _ = sigprocmask(SigmaskHow::SIG_UNBLOCK, Some(&set), None);
    if let Some(s) = rustix::process::Signal::from_named_raw(sig) {
        let _ = rustix::process::kill_process(rustix::process::getpid(), s);
    }
}

/// Sets an empty signal mask (sigprocmask(2): async-signal-safe, no allocation).
pub(super) fn unblock_all_signals() -> io::Result<()> {
    use nix::sys::signal::{SigSet, SigmaskHow, sigprocmask};
    sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None).map_err(io::Error::from)
}

/// Makes `cmd`'s child start with no signal blocked, as if this process had
/// never blocked any (what leakcheck's COMMAND and the fixtures' servers need).
pub fn unblocked(cmd: &mut std::process::Command) -> &mut std::process::Command {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs between fork and exec and only calls
    // sigprocmask(2), which is async-signal-safe; it allocates nothing (an
    // empty SigSet lives on the stack).
    unsafe { cmd.pre_exec(unblock_all_signals) }
}

#[cfg(test)]
mod tests {
    /// A child spawned through [`unblocked`] starts with no signal blocked,
    /// though the thread that spawns it blocks some (as leakcheck blocks
    /// SIGINT, SIGTERM, SIGHUP and SIGCHLD for its signalfd). Without it
    /// the child inherits them: measured here with std's own spawn, whose
    /// child showed `SigBlk: 0000000000014003` (HUP, INT, TERM, CHLD).
    #[test]
    fn a_child_starts_with_no_signal_blocked_though_its_parent_blocks_some() {
        use nix::sys::signal::{SigSet, SigmaskHow, Signal, pthread_sigmask};
        std::thread::spawn(|| {
            let mut set = SigSet::empty();
            for s in [
                Signal::SIGINT,
                Signal::SIGTERM,
                Signal::SIGHUP,
                Signal::SIGCHLD,
            ] {
                set.add(s);
            }
            pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&set), None).expect("block");
            let mut grep = std::process::Command::new("grep");
            grep.args(["-E", "^Sig(Blk|Ign)", "/proc/self/status"]);
            let out = super::unblocked(&mut grep).output().expect("grep");
            let status = String::from_utf8_lossy(&out.stdout).into_owned();
            assert!(status.contains("SigBlk:\t0000000000000000"), "{status}");
        })
        .join()
        .expect("the spawning thread");
    }
}
