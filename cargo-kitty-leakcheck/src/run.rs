//! The default mode: snapshot, run COMMAND as a child subreaper, snapshot,
//! diff, reap, report.
//!
//! 1. Snapshot the listeners on the watched ports (netlink, no process scan).
//! 2. Become a child subreaper, so that everything the run orphans is
//!    re-parented to leakcheck and known to descend from it.
//! 3. Run COMMAND (default `cargo test`, or `$CARGO test` under cargo) with
//!    inherited stdio, in leakcheck's own process group (a terminal's Ctrl+C
//!    reaches it directly). Wait with `waitpid(-1)` so that re-parented
//!    orphans that exit are reaped too.
//! 4. [`settle`]: the snapshot after, with `--grace` for listeners still closing.
//! 5. [`reap_all`], then [`emit`] the report.
//!
//! # Signals
//!
//! SIGINT, SIGTERM and SIGHUP never end leakcheck while COMMAND runs: it must
//! still check and reap afterwards. When such a signal comes from a process
//! (`kill`, a CI runner cancelling a job: `si_code` `SI_USER`/`SI_QUEUE`),
//! leakcheck passes it on the way a terminal's Ctrl+C reaches a foreground
//! job: the handler sends it to COMMAND at once (kill(2) is
//! async-signal-safe), and the main loop, woken through a self-pipe, sends it
//! to the run's other processes in leakcheck's own process group (a shell
//! COMMAND waits for its foreground child before it exits, so COMMAND alone
//! is not enough), and once more after COMMAND is reaped, when its
//! children are ours and none can slip between two of its exiting threads'
//! children lists (each pid is sent the signal at most once). A Ctrl+C typed in a terminal comes from the kernel
//! (`SI_KERNEL`) and has already reached that whole group, so it is not sent
//! twice; a signal some process sent to the whole group is (harmlessly) sent
//! twice. leakcheck's ancestors and processes in other groups or sessions
//! (dashboards, nextest's per-test groups) are never signalled by
//! forwarding; leaked dashboards are reaped afterwards like any other leak.
//!
//! SIGCHLD also wakes the main loop, which reaps every exited child with
//! `waitpid(-1, WNOHANG)`: re-parented orphans never pile up as zombies.

use std::ffi::OsString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::Command;
use std::sync::atomic::{AtomicI32, Ordering};

use kitty_fixtures::probe::{
    ListenerSnapshot, ProcessTree, RUN_LABEL_ENV, become_child_subreaper, mask_tokens,
    new_run_label,
};

use crate::cli::{CommonArgs, RunArgs};
use crate::exit_codes::LeakcheckExitCode;
use crate::leaks::{Mode, Run, settle};
use crate::reap::reap_all;
use crate::report::{CommandStatus, Report, ReportMode, emit, signal_name};

/// leakcheck's own failures (not COMMAND's).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The listeners could not be read (netlink sock_diag).
    #[error("cannot read the TCP listeners on ports {ports}: {source}")]
    Snapshot {
        /// The watched ports.
        ports: String,
        /// The cause.
        source: io::Error,
    },
    /// `PR_SET_CHILD_SUBREAPER` failed.
    #[error("cannot become a child subreaper: {0}")]
    Subreaper(io::Error),
    /// The signal handlers could not be installed.
    #[error("cannot install the signal handlers: {0}")]
    Signals(io::Error),
    /// No run label could be made (the kernel's random bytes).
    #[error("cannot make a run label: {0}")]
    Label(io::Error),
    /// Waiting for COMMAND failed.
    #[error("cannot wait for `{command}`: {source}")]
    Wait {
        /// COMMAND, masked.
        command: String,
        /// The cause.
        source: io::Error,
    },
}

/// Runs the default mode; returns the exit status.
pub fn run(common: &CommonArgs, args: &RunArgs) -> anyhow::Result<i32> {
    let argv = command_or_default(&args.command);
    let ports = &common.ports;
    let snapshot_error = |source| RunError::Snapshot {
        ports: ports.to_string(),
        source,
    };
    let before = ListenerSnapshot::take(ports).map_err(snapshot_error)?;
    become_child_subreaper().map_err(RunError::Subreaper)?;
    let label = new_run_label().map_err(RunError::Label)?;

    let mut report = Report::new(ReportMode::Run, ports).with_command(&argv);
    report.before = before;
    report.run_label = Some(label.to_string_lossy().into_owned());
    let finished = run_command(&argv, common.verbose, &[(RUN_LABEL_ENV, label.as_os_str())])?;
    report.command_status = Some(finished.status.clone());
    report.interrupted_by = finished.forwarded;
    if common.verbose && finished.orphans_reaped > 0 {
        eprintln!(
            "kitty-leakcheck: reaped {} exited orphan(s) of the run",
            finished.orphans_reaped
        );
    }
    if !finished.status.started() {
        emit(&report, common);
        return Ok(report.exit_code());
    }

    let run = Run {
        root: std::process::id(),
        label: Some(label),
        mode: Mode::Run,
    };
    report.leaks = match settle(&report.before, ports, &run, args.grace) {
        Ok(leaks) => leaks,
        Err(source) => {
            // Nothing can be checked; COMMAND's failure still wins.
            eprintln!("kitty-leakcheck: error: {}", snapshot_error(source));
            let failed = !finished.status.passed();
            return Ok(if failed {
                finished.status.exit_code()
            } else {
                LeakcheckExitCode::INTERNAL_ERROR
            });
        }
    };
    let _ = reap_exited_children();
    reap_all(&mut report.leaks, args.no_reap);
    let _ = reap_exited_children();
    emit(&report, common);
    Ok(report.exit_code())
}

/// COMMAND, or `cargo test` (`$CARGO test` when cargo runs us) when none was given.
pub fn command_or_default(command: &[OsString]) -> Vec<OsString> {
    if command.is_empty() {
        vec![
            std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()),
            "test".into(),
        ]
    } else {
        command.to_vec()
    }
}

/// How a COMMAND run under [`run_command`] ended.
#[derive(Debug, Clone)]
pub struct Finished {
    /// Its status (or why it never started).
    pub status: CommandStatus,
    /// The last signal leakcheck received from a process and forwarded to it.
    pub forwarded: Option<i32>,
    /// How many other (re-parented) processes were reaped while waiting.
    pub orphans_reaped: usize,
}

/// The child signals are forwarded to (0: none yet).
static CHILD: AtomicI32 = AtomicI32::new(0);
/// A signal from a process that arrived before there was a child to forward it to.
static PENDING: AtomicI32 = AtomicI32::new(0);
/// The last signal forwarded (or pending).
static FORWARDED: AtomicI32 = AtomicI32::new(0);
/// A forwarded signal the main loop still has to send to the rest of the run.
static GROUP_PENDING: AtomicI32 = AtomicI32::new(0);
/// The write end of the self-pipe that wakes the main loop (-1: none).
static WAKE_FD: AtomicI32 = AtomicI32::new(-1);

/// Writes one byte to the self-pipe. Async-signal-safe; keeps `errno`.
fn wake() {
    // SAFETY: __errno_location returns this thread's errno; write(2) on a
    // non-blocking pipe is async-signal-safe (a full pipe is already awake).
    unsafe {
        let saved = *libc::__errno_location();
        let fd = WAKE_FD.load(Ordering::SeqCst);
        if fd >= 0 {
            let byte = 0u8;
            libc::write(fd, (&raw const byte).cast(), 1);
        }
        *libc::__errno_location() = saved;
    }
}

extern "C" fn on_signal(sig: libc::c_int, info: *mut libc::siginfo_t, _ctx: *mut libc::c_void) {
    // Async-signal-safe only: atomics, getpid, kill, write.
    if info.is_null() {
        return;
    }
    // SAFETY: the kernel passes a valid siginfo_t to an SA_SIGINFO handler.
    let (code, sender) = unsafe { ((*info).si_code, (*info).si_pid()) };
    // SAFETY: getpid cannot fail.
    let me = unsafe { libc::getpid() };
    if !(code == libc::SI_USER || code == libc::SI_QUEUE) || sender == me {
        return; // from the terminal (already reached the whole group) or from ourselves
    }
    FORWARDED.store(sig, Ordering::SeqCst);
    let child = CHILD.load(Ordering::SeqCst);
    if child > 0 {
        // SAFETY: kill(2) is async-signal-safe; `child` is our unreaped child, so its pid is not reused.
        unsafe { libc::kill(child, sig) };
        GROUP_PENDING.store(sig, Ordering::SeqCst);
        wake();
    } else {
        PENDING.store(sig, Ordering::SeqCst);
    }
}

extern "C" fn on_sigchld(_sig: libc::c_int) {
    wake();
}

fn install_handlers() -> nix::Result<()> {
    use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};
    let forward = SigAction::new(
        SigHandler::SigAction(on_signal),
        SaFlags::SA_SIGINFO | SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    let child = SigAction::new(
        SigHandler::Handler(on_sigchld),
        SaFlags::SA_NOCLDSTOP | SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    // SAFETY: the handlers only touch atomics and call getpid/kill/write, which are async-signal-safe.
    unsafe {
        for sig in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
            sigaction(sig, &forward)?;
        }
        sigaction(Signal::SIGCHLD, &child)?;
    }
    Ok(())
}

/// The self-pipe: the read end (returned) and the write end (in [`WAKE_FD`]).
struct WakePipe {
    read: OwnedFd,
    _write: OwnedFd,
}

impl WakePipe {
    fn open() -> io::Result<Self> {
        let mut fds = [0; 2];
        // SAFETY: pipe2 fills two descriptors.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: both descriptors are fresh and ours.
        let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        WAKE_FD.store(write.as_raw_fd(), Ordering::SeqCst);
        Ok(WakePipe {
            read,
            _write: write,
        })
    }

    /// Blocks until a byte arrives, then drains the pipe.
    fn wait(&self) {
        let mut pfd = libc::pollfd {
            fd: self.read.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd; EINTR just means "look again".
        unsafe { libc::poll(&mut pfd, 1, -1) };
        let mut buf = [0u8; 64];
        // SAFETY: reading into a local buffer from our non-blocking pipe.
        while unsafe { libc::read(self.read.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) } > 0 {
        }
    }
}

impl Drop for WakePipe {
    fn drop(&mut self) {
        // The handlers run on this (only) thread: after this store none uses the fd.
        WAKE_FD.store(-1, Ordering::SeqCst);
    }
}

/// Runs `argv` with inherited stdio until it exits, reaping every
/// re-parented orphan that exits meanwhile (`waitpid(-1)`, woken by SIGCHLD),
/// and forwarding SIGINT, SIGTERM and SIGHUP sent by a process (see the
/// module docs; `verbose` prints each one passed on). Call
/// [`become_child_subreaper`] first to collect the run's orphans. Returns
/// [`CommandStatus::NotFound`] / [`CommandStatus::NotExecutable`] when it
/// cannot start. Call it once per process (the handlers stay installed, so
/// leakcheck survives those signals while it checks and reaps afterwards).
pub fn run_command(
    argv: &[OsString],
    verbose: bool,
    env: &[(&str, &std::ffi::OsStr)],
) -> Result<Finished, RunError> {
    let masked = || {
        mask_tokens(
            &argv
                .iter()
                .map(|a| a.to_string_lossy())
                .collect::<Vec<_>>()
                .join(" "),
        )
    };
    let pipe = WakePipe::open().map_err(RunError::Signals)?;
    install_handlers().map_err(|e| RunError::Signals(e.into()))?;
    let Some((program, args)) = argv.split_first() else {
        return Ok(Finished {
            status: CommandStatus::NotFound,
            forwarded: None,
            orphans_reaped: 0,
        });
    };
    let child = match Command::new(program)
        .args(args)
        .envs(env.iter().copied())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            let status = match e.kind() {
                io::ErrorKind::NotFound => CommandStatus::NotFound,
                _ => CommandStatus::NotExecutable(e.to_string()),
            };
            return Ok(Finished {
                status,
                forwarded: None,
                orphans_reaped: 0,
            });
        }
    };
    let pid = child.id() as libc::pid_t;
    // We wait with waitpid ourselves; `Child` is only dropped (which waits for nothing).
    drop(child);
    CHILD.store(pid, Ordering::SeqCst);
    let pending = PENDING.swap(0, Ordering::SeqCst);
    if pending != 0 {
        // SAFETY: plain kill(2) of our unreaped child.
        unsafe { libc::kill(pid, pending) };
        GROUP_PENDING.store(pending, Ordering::SeqCst);
    }

    let mut orphans_reaped = 0;
    let mut signalled = std::collections::HashSet::new();
    let raw = loop {
        let mut status = None;
        loop {
            let mut raw = 0;
            // SAFETY: waitpid for any child, non-blocking.
            let r = unsafe { libc::waitpid(-1, &mut raw, libc::WNOHANG) };
            if r == pid {
                status = Some(raw);
            } else if r > 0 {
                orphans_reaped += 1;
            } else if r == 0 || status.is_some() {
                break;
            } else {
                let err = io::Error::last_os_error();
                if err.kind() != io::ErrorKind::Interrupted {
                    CHILD.store(0, Ordering::SeqCst);
                    return Err(RunError::Wait {
                        command: masked(),
                        source: err,
                    });
                }
            }
        }
        let sig = GROUP_PENDING.swap(0, Ordering::SeqCst);
        if sig != 0 {
            if verbose {
                eprintln!(
                    "kitty-leakcheck: forwarded {} to `{}` (pid {pid})",
                    signal_name(sig),
                    masked()
                );
            }
            forward_to_our_group(sig, pid as u32, &mut signalled, verbose);
        }
        if let Some(raw) = status {
            break raw;
        }
        pipe.wait();
    };
    CHILD.store(0, Ordering::SeqCst);
    drop(pipe);
    let forwarded = match FORWARDED.load(Ordering::SeqCst) {
        0 => None,
        sig => Some(sig),
    };
    if let Some(sig) = forwarded {
        // COMMAND is gone and reaped, so its children are ours now and the
        // tree holds still: reach any that a look taken while it was exiting
        // missed (its threads hand children to each other as they exit).
        forward_to_our_group(sig, pid as u32, &mut signalled, verbose);
    }
    Ok(Finished {
        status: CommandStatus::from_wait_status(raw),
        forwarded,
        orphans_reaped,
    })
}

/// Sends `sig` to the run's processes in our own process group other than
/// COMMAND (`command_pid`, already signalled) and those in `signalled`
/// (which it extends): what a terminal's Ctrl+C would have reached.
fn forward_to_our_group(
    sig: i32,
    command_pid: u32,
    signalled: &mut std::collections::HashSet<u32>,
    verbose: bool,
) {
    let me = std::process::id();
    // SAFETY: getpgrp cannot fail.
    let pgrp = unsafe { libc::getpgrp() } as u32;
    let tree = ProcessTree::read_below(me);
    let group: std::collections::HashSet<u32> = tree.group_members(pgrp).into_iter().collect();
    for pid in tree
        .descendants_of(me)
        .into_iter()
        .filter(|p| group.contains(p) && *p != command_pid)
    {
        if !signalled.insert(pid) {
            continue;
        }
        if verbose {
            eprintln!(
                "kitty-leakcheck: forwarded {} to pid {pid} (the run, in our process group)",
                signal_name(sig)
            );
        }
        // SAFETY: plain kill(2); `pid` descends from us and was alive just now.
        unsafe { libc::kill(pid as libc::pid_t, sig) };
    }
}

/// Reaps every exited child without waiting (re-parented orphans included).
/// No zombie outlives a look. Returns whether live children remain (so
/// something may still descend from the run).
pub fn reap_exited_children() -> bool {
    loop {
        let mut raw = 0;
        // SAFETY: waitpid for any child, non-blocking.
        let r = unsafe { libc::waitpid(-1, &mut raw, libc::WNOHANG) };
        match r {
            0 => return true,
            r if r > 0 => continue,
            _ => return io::Error::last_os_error().raw_os_error() != Some(libc::ECHILD),
        }
    }
}
