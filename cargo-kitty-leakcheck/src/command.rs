//! Running COMMAND (a whole test run, or one test under `wrap`) as a child
//! subreaper: wait for it, reap every orphan of it that exits meanwhile, and
//! pass on the signals a process sends us.
//!
//! # Signals
//!
//! SIGINT, SIGTERM and SIGHUP never end leakcheck while COMMAND runs: it must
//! still check and clean up afterwards. They are blocked and read from a
//! `signalfd` ([`SignalInbox`]), so the wait loop wakes on them, and on
//! SIGCHLD, as events. When such a signal comes from a process (`kill`, a CI
//! runner cancelling a job: `si_code` SI_USER/SI_QUEUE), leakcheck passes it
//! on the way a terminal's Ctrl+C reaches a foreground job: to COMMAND, and to
//! the run's other processes in leakcheck's own process group (a shell
//! COMMAND waits for its foreground child before it exits, so COMMAND alone is
//! not enough), and once more after COMMAND is reaped, when its children are
//! ours and none can slip between two of its exiting threads' children lists
//! (each pid is sent the signal at most once). A Ctrl+C typed in a terminal
//! comes from the kernel and has already reached that whole group, so it is
//! not sent twice. leakcheck's ancestors and processes in other groups or
//! sessions (dashboards, nextest's per-test groups) are never signalled by
//! forwarding; leaked dashboards are stopped afterwards like any other leak.
//!
//! After COMMAND has ended the signals stay blocked and wait in the same
//! inbox while leakcheck checks and stops leaks: a clean-up under way is
//! never cut short. [`signal_during_cleanup`] reads them once it is done;
//! the report records the first, and leakcheck then exits as that signal
//! would (`128 + N`; `wrap` re-raises it, as it does a test's signal).

use std::collections::HashSet;
use std::ffi::{OsStr, OsString};
use std::io;
use std::process::{Command, ExitStatus};

use kitty_core::sys::{self, Reaped, Signal, SignalInbox};
use kitty_core::{Permit, mask_tokens, pin_run_group};

/// How COMMAND ended (or why it never started).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandStatus {
    /// It ran and ended so.
    Ran(ExitStatus),
    /// It was not found (exit status 127).
    NotFound,
    /// It exists but could not be executed (exit status 126); the OS error.
    NotExecutable(String),
}

impl CommandStatus {
    /// True when it exited 0.
    pub fn passed(&self) -> bool {
        matches!(self, CommandStatus::Ran(s) if s.success())
    }

    /// True when it ran at all.
    pub fn started(&self) -> bool {
        matches!(self, CommandStatus::Ran(_))
    }

    /// The signal that ended it, if one did.
    pub fn signal(&self) -> Option<i32> {
        use std::os::unix::process::ExitStatusExt;
        match self {
            CommandStatus::Ran(s) => s.signal(),
            _ => None,
        }
    }

    /// Its exit code, if it exited.
    pub fn code(&self) -> Option<i32> {
        match self {
            CommandStatus::Ran(s) => s.code(),
            _ => None,
        }
    }
}

/// How a COMMAND run under [`run_command`] ended.
#[derive(Debug, Clone)]
pub struct Finished {
    /// Its status (or why it never started).
    pub status: CommandStatus,
    /// The last signal leakcheck received from a process and passed on.
    pub forwarded: Option<Signal>,
    /// How many other (re-parented) processes were reaped while waiting.
    pub orphans_reaped: usize,
}

/// leakcheck's own failures while running COMMAND.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// The signals could not be blocked and read (signalfd).
    #[error("cannot take over SIGINT, SIGTERM, SIGHUP and SIGCHLD: {0}")]
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

/// Takes over SIGINT, SIGTERM, SIGHUP and SIGCHLD for the rest of the
/// process (see [`SignalInbox`]): call it first, before any thread starts.
pub fn take_over_signals() -> Result<SignalInbox, CommandError> {
    SignalInbox::open().map_err(CommandError::Signals)
}

/// The first SIGINT, SIGTERM or SIGHUP that reached leakcheck since the
/// inbox was last read (from a process or from the terminal, but not from
/// leakcheck itself), without waiting: what interrupted the clean-up.
pub fn signal_during_cleanup(inbox: &SignalInbox) -> Option<Signal> {
    let me = std::process::id();
    inbox
        .wait(Some(std::time::Duration::ZERO))
        .ok()?
        .into_iter()
        .find(|a| a.signal != Signal::CHILD && !(a.from_a_process && a.sender == me))
        .map(|a| a.signal)
}

/// Runs `argv` (with `env` added) with inherited stdio until it exits,
/// reaping every re-parented orphan that exits meanwhile and passing on
/// SIGINT, SIGTERM and SIGHUP sent by a process (see the module docs;
/// `verbose` prints each one passed on). Call
/// [`become_child_subreaper`](kitty_core::sys::become_child_subreaper)
/// first to collect the run's orphans. Returns [`CommandStatus::NotFound`] /
/// [`CommandStatus::NotExecutable`] when it cannot start. `inbox`
/// ([`take_over_signals`]) is opened first: a signal that comes before the
/// child exists waits there. The signals stay blocked, so leakcheck survives
/// them while it checks and cleans up afterwards.
pub fn run_command(
    argv: &[OsString],
    verbose: bool,
    env: &[(&str, &OsStr)],
    inbox: &SignalInbox,
) -> Result<Finished, CommandError> {
    let masked = || shell_line(argv);
    let Some((program, args)) = argv.split_first() else {
        return Ok(Finished {
            status: CommandStatus::NotFound,
            forwarded: None,
            orphans_reaped: 0,
        });
    };
    // COMMAND starts with no signal blocked: it sees signals as usual.
    let mut cmd = Command::new(program);
    cmd.args(args).envs(env.iter().copied());
    let child = match sys::unblocked(&mut cmd).spawn() {
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
    let pid = child.id();
    // The spawner's permit: COMMAND is our unreaped child, so the pidfd opened
    // now names it. (None when it already exited: nothing to pass signals to.)
    let command = Permit::for_child(&child, None).ok();
    // We wait with waitpid ourselves; `Child` is only dropped (which waits for nothing).
    drop(child);

    let mut forwarder = Forwarder {
        command,
        signalled: HashSet::new(),
        last: None,
        verbose,
    };
    let mut orphans_reaped = 0;
    let status = 'wait: loop {
        let mut ended = None;
        loop {
            match sys::reap_any_child() {
                Ok(Reaped::Child(p, s)) if p == pid => ended = Some(s),
                Ok(Reaped::Child(..)) => orphans_reaped += 1,
                Ok(Reaped::NoneExited | Reaped::NoChildren) => break,
                Err(source) => {
                    return Err(CommandError::Wait {
                        command: masked(),
                        source,
                    });
                }
            }
        }
        if let Some(s) = ended {
            break 'wait s;
        }
        let arrived = inbox.wait(None).map_err(|source| CommandError::Wait {
            command: masked(),
            source,
        })?;
        for a in arrived {
            // From the terminal (it already reached the whole group) or from ourselves.
            if a.signal == Signal::CHILD || !a.from_a_process || a.sender == std::process::id() {
                continue;
            }
            forwarder.pass_on(a.signal, &masked());
        }
    };
    if let Some(sig) = forwarder.last {
        // COMMAND is gone and reaped, so its children are ours now and the
        // tree holds still: reach any that a look taken while it was exiting
        // missed (its threads hand children to each other as they exit).
        forwarder.reach_our_group(sig);
    }
    Ok(Finished {
        status: CommandStatus::Ran(status),
        forwarded: forwarder.last,
        orphans_reaped,
    })
}

/// Passes signals on to COMMAND and the rest of the run in our group, each
/// through a permit: COMMAND's is the spawner's, the others' are pinned (and
/// checked after pinning) as the tree is read ([`pin_run_group`]).
struct Forwarder {
    command: Option<Permit>,
    /// (pid, start ticks, signal) already sent.
    signalled: HashSet<(u32, u64, i32)>,
    last: Option<Signal>,
    verbose: bool,
}

impl Forwarder {
    fn pass_on(&mut self, sig: Signal, command_line: &str) {
        self.last = Some(sig);
        if let Some(command) = self.command.clone()
            && self.first_time(&command, sig)
        {
            let _ = command.forward(sig);
            if self.verbose {
                eprintln!(
                    "kitty-leakcheck: forwarded {} to `{}` (pid {})",
                    sys::signal_name(sig.as_raw()),
                    crate::report::visible::visible(command_line),
                    command.pid()
                );
            }
        }
        self.reach_our_group(sig);
    }

    /// Whether `sig` has not been sent to `p` yet (and records that it is).
    fn first_time(&mut self, p: &Permit, sig: Signal) -> bool {
        self.signalled
            .insert((p.pid(), p.identity().start_ticks(), sig.as_raw()))
    }

    /// Sends `sig` to the run's processes in our own process group, each at
    /// most once: what a terminal's Ctrl+C would have reached.
    fn reach_our_group(&mut self, sig: Signal) {
        let me = std::process::id();
        let skip: HashSet<(u32, u64)> = self
            .signalled
            .iter()
            .filter(|(_, _, s)| *s == sig.as_raw())
            .map(|&(pid, start, _)| (pid, start))
            .collect();
        for member in pin_run_group(me, sys::own_process_group(), &skip) {
            if !self.first_time(&member, sig) {
                continue;
            }
            if self.verbose {
                eprintln!(
                    "kitty-leakcheck: forwarded {} to pid {} (the run, in our process group)",
                    sys::signal_name(sig.as_raw()),
                    member.pid()
                );
            }
            let _ = member.forward(sig);
        }
    }
}

/// Reaps every exited child without waiting (re-parented orphans included).
/// No zombie outlives a look. Returns whether live children remain (so
/// something may still descend from the run).
pub fn reap_exited_children() -> bool {
    loop {
        match sys::reap_any_child() {
            Ok(Reaped::Child(..)) => continue,
            Ok(Reaped::NoneExited) => return true,
            Ok(Reaped::NoChildren) | Err(_) => return false,
        }
    }
}

/// `argv` as a shell would need it typed (single quotes where needed), tokens
/// masked; bytes that are not UTF-8 shown as U+FFFD.
pub fn shell_line(argv: &[OsString]) -> String {
    let quote = |a: &OsString| {
        let a = a.to_string_lossy();
        let plain = !a.is_empty()
            && a.chars()
                .all(|c| c.is_ascii_alphanumeric() || "_@%+=:,./-<>".contains(c));
        if plain {
            a.into_owned()
        } else {
            format!("'{}'", a.replace('\'', r"'\''"))
        }
    };
    mask_tokens(&argv.iter().map(quote).collect::<Vec<_>>().join(" "))
}
