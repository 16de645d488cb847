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
//! (`kill`, a CI runner cancelling a job: `si_code` `SI_USER`/`SI_QUEUE`), the
//! handler forwards it to COMMAND at once (kill(2) is async-signal-safe), and
//! once COMMAND has exited, leakcheck sends it on to the run's processes still
//! in its own process group (an orphaned test binary): exactly what a
//! terminal's Ctrl+C would have reached. A Ctrl+C typed in a terminal comes
//! from the kernel (`SI_KERNEL`) and has already reached the whole foreground
//! group, so it is not sent twice. Processes in their own sessions (dashboards,
//! nextest's per-test groups) are never signalled by forwarding; leaked
//! dashboards are reaped afterwards like any other leak.

use std::ffi::OsString;
use std::io;
use std::process::Command;
use std::sync::atomic::{AtomicI32, Ordering};

use kitty_fixtures::probe::{ListenerSnapshot, ProcessTree, become_child_subreaper, mask_tokens};

use crate::cli::{CommonArgs, RunArgs};
use crate::exit_codes::LeakcheckExitCode;
use crate::leaks::settle;
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

    let mut report = Report::new(ReportMode::Run, ports).with_command(&argv);
    report.before = before;
    let finished = run_command(&argv, common.verbose)?;
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

    report.leaks = match settle(&report.before, ports, std::process::id(), args.grace) {
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
    reap_exited_children();
    reap_all(&mut report.leaks, args.no_reap);
    reap_exited_children();
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

extern "C" fn on_signal(sig: libc::c_int, info: *mut libc::siginfo_t, _ctx: *mut libc::c_void) {
    // Async-signal-safe only: atomics, getpid, kill.
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
    } else {
        PENDING.store(sig, Ordering::SeqCst);
    }
}

fn install_handlers() -> nix::Result<()> {
    use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};
    // No SA_RESTART: a blocked waitpid returns EINTR and the loop looks again.
    let action = SigAction::new(
        SigHandler::SigAction(on_signal),
        SaFlags::SA_SIGINFO,
        SigSet::empty(),
    );
    for sig in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        // SAFETY: the handler only touches atomics and calls getpid/kill, which are async-signal-safe.
        unsafe { sigaction(sig, &action) }?;
    }
    Ok(())
}

/// Runs `argv` with inherited stdio and waits for it with `waitpid(-1)`,
/// reaping every re-parented orphan that exits meanwhile; forwards SIGINT,
/// SIGTERM and SIGHUP sent by a process (see the module docs; `verbose`
/// prints each signal sent on). Call
/// [`become_child_subreaper`] first to collect the run's orphans. Returns
/// [`CommandStatus::NotFound`] / [`CommandStatus::NotExecutable`] when it
/// cannot start. Call it once per process (the handlers stay installed, so
/// leakcheck survives those signals while it checks and reaps afterwards).
pub fn run_command(argv: &[OsString], verbose: bool) -> Result<Finished, RunError> {
    install_handlers().map_err(|e| RunError::Signals(e.into()))?;
    let masked = || {
        mask_tokens(
            &argv
                .iter()
                .map(|a| a.to_string_lossy())
                .collect::<Vec<_>>()
                .join(" "),
        )
    };
    let Some((program, args)) = argv.split_first() else {
        return Ok(Finished {
            status: CommandStatus::NotFound,
            forwarded: None,
            orphans_reaped: 0,
        });
    };
    let child = match Command::new(program).args(args).spawn() {
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
    }

    let mut orphans_reaped = 0;
    let raw = loop {
        let mut raw = 0;
        // SAFETY: waitpid for any child, blocking.
        let r = unsafe { libc::waitpid(-1, &mut raw, 0) };
        if r == pid {
            break raw;
        }
        if r > 0 {
            orphans_reaped += 1;
            continue;
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            CHILD.store(0, Ordering::SeqCst);
            return Err(RunError::Wait {
                command: masked(),
                source: err,
            });
        }
    };
    CHILD.store(0, Ordering::SeqCst);
    let forwarded = match FORWARDED.load(Ordering::SeqCst) {
        0 => None,
        sig => {
            if verbose {
                eprintln!(
                    "kitty-leakcheck: forwarded {} to `{}` (pid {pid})",
                    signal_name(sig),
                    masked()
                );
            }
            forward_to_our_group(sig, verbose);
            Some(sig)
        }
    };
    orphans_reaped += reap_exited_children();
    Ok(Finished {
        status: CommandStatus::from_wait_status(raw),
        forwarded,
        orphans_reaped,
    })
}

/// Sends `sig` to our descendants still in our own process group (what a
/// terminal's Ctrl+C would have reached), after COMMAND itself exited.
fn forward_to_our_group(sig: i32, verbose: bool) {
    let me = std::process::id();
    // SAFETY: getpgrp cannot fail.
    let pgrp = unsafe { libc::getpgrp() } as u32;
    let tree = ProcessTree::read();
    let group: std::collections::HashSet<u32> = tree.group_members(pgrp).into_iter().collect();
    for pid in tree
        .descendants_of(me)
        .into_iter()
        .filter(|p| group.contains(p))
    {
        if verbose {
            eprintln!(
                "kitty-leakcheck: sending {} to pid {pid} (the run, in our process group)",
                signal_name(sig)
            );
        }
        // SAFETY: plain kill(2); `pid` descends from us and was alive just now.
        unsafe { libc::kill(pid as libc::pid_t, sig) };
    }
}

/// Reaps every exited child without waiting (re-parented orphans included);
/// returns how many. No zombie outlives a look.
pub fn reap_exited_children() -> usize {
    let mut n = 0;
    loop {
        let mut raw = 0;
        // SAFETY: waitpid for any child, non-blocking.
        let r = unsafe { libc::waitpid(-1, &mut raw, libc::WNOHANG) };
        if r <= 0 {
            return n;
        }
        n += 1;
    }
}
