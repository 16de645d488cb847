//! Running COMMAND (a whole test run, or one test under `wrap`) as a child
//! subreaper: wait for it, collect (`waitpid`) every orphan of it that exits
//! meanwhile, and pass on the signals a process sends us.
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
//! not enough), and once more after COMMAND is collected, when its children are
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
use std::process::Command;

use kitty_core::sys::{self, Reaped, Signal, SignalInbox};
use kitty_core::{Permit, pin_run_group};

use crate::errors::Error;
use crate::findings::run::{CommandStatus, Notice, shell_line};

/// How a COMMAND run under [`run_command`] ended.
#[derive(Debug, Clone)]
pub struct Finished {
    /// Its status (or why it never started).
    pub status: CommandStatus,
    /// The last signal leakcheck received from a process and passed on.
    pub forwarded: Option<Signal>,
    /// How many other (re-parented) processes were collected while waiting.
    pub orphans_collected: usize,
}

/// Takes over SIGINT, SIGTERM, SIGHUP and SIGCHLD for the rest of the
/// process (see [`SignalInbox`]): call it first, before any thread starts.
pub fn take_over_signals() -> Result<SignalInbox, Error> {
    SignalInbox::open().map_err(Error::Signals)
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
/// collecting every re-parented orphan that exits meanwhile and passing on
/// SIGINT, SIGTERM and SIGHUP sent by a process (see the module docs;
/// `notify` is told of each one passed on, as it happens). Call
/// [`become_child_subreaper`](kitty_core::sys::become_child_subreaper)
/// first to collect the run's orphans. Returns [`CommandStatus::NotFound`] /
/// [`CommandStatus::NotExecutable`] when it cannot start. `inbox`
/// ([`take_over_signals`]) is opened first: a signal that comes before the
/// child exists waits there. The signals stay blocked, so leakcheck survives
/// them while it checks and cleans up afterwards.
pub fn run_command(
    argv: &[OsString],
    notify: &dyn Fn(Notice<'_>),
    env: &[(&str, &OsStr)],
    inbox: &SignalInbox,
) -> Result<Finished, Error> {
    let masked = || shell_line(argv);
    let Some((program, args)) = argv.split_first() else {
        return Ok(Finished {
            status: CommandStatus::NotFound,
            forwarded: None,
            orphans_collected: 0,
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
                orphans_collected: 0,
            });
        }
    };
    let pid = child.id();
    // The spawner's permit: COMMAND is our child, not yet waited for, so the pidfd opened
    // now names it. (None when it already exited: nothing to pass signals to.)
    let command = Permit::for_child(&child, None).ok();
    // We wait with waitpid ourselves; `Child` is only dropped (which waits for nothing).
    drop(child);

    let mut forwarder = Forwarder {
        command,
        signalled: HashSet::new(),
        last: None,
        notify,
    };
    let mut orphans_collected = 0;
    let status = 'wait: loop {
        let mut ended = None;
        loop {
            match sys::reap_any_child() {
                Ok(Reaped::Child(p, s)) if p == pid => ended = Some(s),
                Ok(Reaped::Child(..)) => orphans_collected += 1,
                Ok(Reaped::NoneExited | Reaped::NoChildren) => break,
                Err(source) => {
                    return Err(Error::Wait {
                        command: masked(),
                        source,
                    });
                }
            }
        }
        if let Some(s) = ended {
            break 'wait s;
        }
        let arrived = inbox.wait(None).map_err(|source| Error::Wait {
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
        // COMMAND is gone and collected, so its children are ours now and the
        // tree holds still: reach any that a look taken while it was exiting
        // missed (its threads hand children to each other as they exit).
        forwarder.reach_our_group(sig);
    }
    Ok(Finished {
        status: CommandStatus::Ran(status),
        forwarded: forwarder.last,
        orphans_collected,
    })
}

/// Passes signals on to COMMAND and the rest of the run in our group, each
/// through a permit: COMMAND's is the spawner's, the others' are pinned (and
/// checked after pinning) as the tree is read ([`pin_run_group`]).
struct Forwarder<'n> {
    command: Option<Permit>,
    /// (pid, start ticks, signal) already sent.
    signalled: HashSet<(u32, u64, i32)>,
    last: Option<Signal>,
    notify: &'n dyn Fn(Notice<'_>),
}

impl Forwarder<'_> {
    fn pass_on(&mut self, sig: Signal, command_line: &str) {
        self.last = Some(sig);
        if let Some(command) = self.command.clone()
            && self.first_time(&command, sig)
        {
            let _ = command.forward(sig);
            (self.notify)(Notice::ForwardedToCommand {
                signal: sig,
                command_line,
                pid: command.pid(),
            });
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
            (self.notify)(Notice::ForwardedToGroup {
                signal: sig,
                pid: member.pid(),
            });
            let _ = member.forward(sig);
        }
    }
}

/// Collects every exited child without waiting (re-parented orphans
/// included), so no zombie outlives a look. Returns whether live children
/// remain (so something may still descend from the run).
pub fn collect_exited_children() -> bool {
    loop {
        match sys::reap_any_child() {
            Ok(Reaped::Child(..)) => continue,
            Ok(Reaped::NoneExited) => return true,
            Ok(Reaped::NoChildren) | Err(_) => return false,
        }
    }
}
