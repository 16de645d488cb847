//! A proof as a value: a [`Permit`] is one pinned process (a pidfd) and the
//! identity that was proved of it. [`Permit::signal`], private to this
//! module, is the one function in either crate that sends a signal, and it
//! takes a permit: nothing signals a pid number, a group number or "the
//! group" as such.
//!
//! Who mints permits:
//! - [`judge`](crate::judge), for a dashboard it found to be ours to clean
//!   up (see its rule), and [`judge_process`](crate::judge_process), for
//!   any other process of the run;
//! - [`Permit::for_child`], the spawner's, for a child we spawned and have
//!   not reaped (its pid cannot have been reused: we hold it);
//! - [`pin_run_group`], the forwarder's, for the processes of a run in our
//!   own process group, each pinned, then checked, as it is read;
//! - `stop`, for the members of a dashboard's group, each proved on its own
//!   (`Permit::prove_members`, by `stop::plan_members`).
//!
//! A permit is void once its process is gone: a pidfd names that process or
//! nobody, so nothing else is ever signalled in its name.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::io;
use std::sync::Arc;

use crate::os::{self as sys, Signal};

use crate::judge::Grounds;
use crate::process::ProcessIdentity;
use crate::process::table::{Kernel, ProcessTable};
use crate::spec_kitty::DashboardCommand;
use crate::stop::plan_members;

/// One pinned process and what was proved of it: the only thing a signal
/// can be sent through. Cloning a permit shares the same pidfd.
///
/// Obtained from [`judge`](crate::judge) (a found dashboard that is ours to
/// clean up), [`Permit::for_child`] (a child we spawned) or
/// [`pin_run_group`] (the run's processes in our group, for forwarding).
/// Stop its process with [`stop`](crate::stop); pass a signal on with
/// [`Permit::forward`].
#[derive(Clone)]
pub struct Permit {
    pidfd: Arc<sys::Pidfd>,
    identity: ProcessIdentity,
    grounds: Grounds,
    /// The dashboard it was proved to be, when it was: its group's members
    /// that are the same dashboard (a shim's real interpreter, a fork of the
    /// server) are proved by it.
    dashboard: Option<DashboardCommand>,
    /// A child of it that started at this boot tick or later was started by
    /// the program it was proved to run (after its exec): for a judged
    /// dashboard, the tick after it was seen running it; for our own child,
    /// its own start (we spawned it, and it forks nothing before its exec);
    /// `u64::MAX` (no child ever) for a judged process that is not a
    /// dashboard (`judge_process`): its children are judged on their own.
    children_since: u64,
}

impl fmt::Debug for Permit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit")
            .field("pid", &self.identity.pid())
            .field("start_ticks", &self.identity.start_ticks())
            .field("grounds", &self.grounds)
            .finish_non_exhaustive()
    }
}

/// Two permits are equal when they were proved of the same process on the
/// same grounds.
impl PartialEq for Permit {
    fn eq(&self, other: &Self) -> bool {
        self.identity.pid() == other.identity.pid()
            && self.identity.start_ticks() == other.identity.start_ticks()
            && self.grounds == other.grounds
    }
}

impl Eq for Permit {}

/// What a look through the pinned handle found, right before a signal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Recheck {
    /// Still the process proved, read again now.
    Same(ProcessIdentity),
    /// It has exited: the permit is void.
    Gone,
    /// Still alive, but no longer what was proved (it exec'd another program,
    /// changed owner or moved to another namespace or root).
    Changed,
}

/// Why a permit could not be pinned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PinFailed {
    /// The process exited before it was pinned.
    Gone,
    /// The pid now names another process, or it changed since it was read.
    Changed,
}

impl Permit {
    /// Pins `identity` (a process read a moment ago) and proves, after
    /// pinning, that the pinned process is still that one, ours and here.
    /// `dashboard`: the dashboard it was proved to be; `None` (a process
    /// judged by `judge_process`) proves no member of its group: neither as
    /// the same dashboard (there is none) nor as its child.
    pub(crate) fn pin(
        identity: &ProcessIdentity,
        grounds: Grounds,
        dashboard: Option<DashboardCommand>,
    ) -> Result<Permit, PinFailed> {
        let pidfd = match sys::Pidfd::open(identity.pid()) {
            Ok(Some(fd)) => fd,
            Ok(None) => return Err(PinFailed::Gone),
            Err(_) => return Err(PinFailed::Changed),
        };
        let permit = Permit {
            pidfd: Arc::new(pidfd),
            identity: identity.clone(),
            grounds,
            dashboard,
            children_since: u64::MAX,
        };
        match permit.recheck() {
            // Seen running what was proved by this read: whatever it starts
            // from the next tick on, that program started.
            Recheck::Same(now) => Ok(Permit {
                identity: now,
                children_since: if permit.dashboard.is_some() {
                    sys::boot_ticks_now() + 1
                } else {
                    u64::MAX
                },
                ..permit
            }),
            Recheck::Gone => Err(PinFailed::Gone),
            Recheck::Changed => Err(PinFailed::Changed),
        }
    }

    /// The spawner's permit for `child`, which we spawned and have not
    /// reaped: its pid is ours to hold until we wait for it, so the pidfd
    /// opened now names it. `dashboard`: the server command it runs, when
    /// it is one.
    ///
    /// # Errors
    /// When the pidfd cannot be opened (no pidfds: Linux before 5.3) or the
    /// child is no longer there to read (it exited at once).
    pub fn for_child(
        child: &std::process::Child,
        dashboard: Option<DashboardCommand>,
    ) -> io::Result<Permit> {
        let pid = child.id();
        let gone = || io::Error::new(io::ErrorKind::NotFound, format!("child {pid} exited"));
        let pidfd = sys::Pidfd::open(pid)?.ok_or_else(gone)?;
        let identity = ProcessIdentity::read(pid).ok_or_else(gone)?;
        if pidfd.has_exited() {
            return Err(gone());
        }
        Ok(Permit {
            pidfd: Arc::new(pidfd),
            children_since: identity.start_ticks(),
            identity,
            grounds: Grounds::OurChild,
            dashboard,
        })
    }

    /// The members of the group this permit's process leads (it leads its
    /// session; `now`: it, read again through this permit), each proved on
    /// its own by [`plan_members`]: `(their permits, the pids left alone)`.
    pub(crate) fn prove_members(&self, now: &ProcessIdentity) -> (Vec<Permit>, Vec<u32>) {
        let plan = plan_members(
            &Kernel,
            &self.pidfd,
            now,
            self.dashboard.as_ref(),
            self.children_since,
        );
        let proved = plan
            .proved
            .into_iter()
            .map(|(pidfd, identity)| Permit {
                pidfd: Arc::new(pidfd),
                identity,
                grounds: Grounds::GroupMember { leader: self.pid() },
                dashboard: self.dashboard.clone(),
                children_since: u64::MAX,
            })
            .collect();
        (proved, plan.left_alone)
    }

    /// Reaps the pinned process if it is our exited child (exactly it, by
    /// its pidfd).
    pub(crate) fn reap_if_child(&self) -> bool {
        self.pidfd.reap_if_child()
    }

    /// The process, as proved (for a child of ours: as last seen).
    pub fn identity(&self) -> &ProcessIdentity {
        &self.identity
    }

    /// Its pid.
    pub fn pid(&self) -> u32 {
        self.identity.pid()
    }

    /// What it was proved on.
    pub fn grounds(&self) -> &Grounds {
        &self.grounds
    }

    /// Whether the pinned process has exited (the permit is void).
    pub fn is_void(&self) -> bool {
        self.pidfd.has_exited()
    }

    /// A permit for our child that exec'd since it was minted (an
    /// interpreter shim that `exec`s the real Python): the same pinned
    /// process, read again. Only for [`Grounds::OurChild`].
    pub fn refreshed(&self) -> Permit {
        match self.recheck() {
            Recheck::Same(now) => Permit {
                identity: now,
                ..self.clone()
            },
            _ => self.clone(),
        }
    }

    /// Reads the process again through the pinned handle: the read is of
    /// the pinned process only when the pidfd says it is alive both before
    /// and after (while it lives, its pid is its own). Then it must still be
    /// what was proved: for a judged process the same pid, start time,
    /// owner, command line, namespaces and root, and ours and here; for a
    /// child of ours the same start time and owner, ours and here (it may
    /// have exec'd: we spawned it); for a run member the same start time,
    /// owner and process group.
    pub(crate) fn recheck(&self) -> Recheck {
        if self.pidfd.has_exited() {
            return Recheck::Gone;
        }
        let now = ProcessIdentity::read(self.identity.pid());
        if self.pidfd.has_exited() {
            return Recheck::Gone;
        }
        let Some(now) = now else {
            return Recheck::Gone;
        };
        let was = &self.identity;
        let same = match self.grounds {
            Grounds::OurChild => {
                now.start_ticks() == was.start_ticks()
                    && now.uid() == was.uid()
                    && now.is_ours()
                    && now.lives_here()
            }
            Grounds::RunMember => {
                now.start_ticks() == was.start_ticks()
                    && now.uid() == was.uid()
                    && now.pgid() == was.pgid()
            }
            _ => now.is_same_process(was) && now.is_ours() && now.lives_here(),
        };
        if same {
            Recheck::Same(now)
        } else {
            Recheck::Changed
        }
    }

    /// THE signalling function: re-checks the pinned process and, when it is
    /// still what was proved, sends `sig` through its pidfd. `Ok(false)` when
    /// it is gone (the permit is void; nothing is signalled).
    pub(crate) fn signal(&self, sig: Signal) -> Result<bool, SignalRefused> {
        match self.recheck() {
            Recheck::Same(_) => {}
            Recheck::Gone => return Ok(false),
            Recheck::Changed => return Err(SignalRefused::Changed),
        }
        match self.pidfd.send_signal(sig) {
            Ok(()) => Ok(true),
            Err(e) if sys::is_no_such_process(&e) => Ok(false),
            Err(e) => Err(SignalRefused::Kernel(e)),
        }
    }

    /// Passes `sig` on to the pinned process (forwarding an interrupt),
    /// after the same re-check as every signal. `Ok(false)` when it is gone.
    ///
    /// # Errors
    /// When it is no longer the process proved, or the kernel refused.
    pub fn forward(&self, sig: Signal) -> io::Result<bool> {
        self.signal(sig).map_err(|e| match e {
            SignalRefused::Changed => io::Error::other(format!(
                "pid {} is no longer the process that was pinned; not signalled",
                self.pid()
            )),
            SignalRefused::Kernel(e) => e,
        })
    }

    /// Waits until the pinned process has exited or `timeout` passes, on its
    /// pidfd (an event). Returns whether it exited.
    pub fn wait_exit(&self, timeout: std::time::Duration) -> bool {
        self.pidfd.wait_exit(timeout)
    }
}

/// Why [`Permit::signal`] sent nothing.
#[derive(Debug)]
pub(crate) enum SignalRefused {
    /// The pinned process is alive but no longer what was proved.
    Changed,
    /// The kernel refused the signal.
    Kernel(io::Error),
}

/// Pins the processes of the run below `root` (this process) that are in
/// process group `pgrp` (ours): what a terminal's Ctrl+C would reach. Each
/// is pinned, then read again and kept only when, after pinning, it is in
/// `pgrp`, started no earlier than its parent, and its parent is `root` or
/// a process already pinned and checked this way that still lives (so the
/// parent pid it reports is that process's own). A pid that exits and is reused between the look at the tree
/// and the pin is read again after pinning, and is then in another group or
/// has another parent: it is left out. `skip`: processes already handled
/// (by pid and start time).
pub fn pin_run_group(root: u32, pgrp: u32, skip: &HashSet<(u32, u64)>) -> Vec<Permit> {
    plan_run_group(&Kernel, root, pgrp, skip)
        .into_iter()
        .map(|(pidfd, identity)| Permit {
            pidfd,
            identity,
            grounds: Grounds::RunMember,
            dashboard: None,
            children_since: u64::MAX,
        })
        .collect()
}

/// [`pin_run_group`]'s plan, in `table`: the pins of the run's processes in
/// `pgrp`, each with what was read of it after pinning.
pub(crate) fn plan_run_group<T: ProcessTable>(
    table: &T,
    root: u32,
    pgrp: u32,
    skip: &HashSet<(u32, u64)>,
) -> Vec<(Arc<T::Pin>, ProcessIdentity)> {
    // Parents before children: walk down from the root.
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    for (pid, parent) in table.below(root) {
        children.entry(parent).or_default().push(pid);
    }
    let root_start = table.read(root).map_or(0, |id| id.start_ticks());
    // pid -> (start ticks, pin): the processes checked so far (the root unpinned).
    type Verified<P> = HashMap<u32, (u64, Option<Arc<P>>)>;
    let mut verified: Verified<T::Pin> = HashMap::from([(root, (root_start, None))]);
    let mut out = Vec::new();
    let mut todo = vec![root];
    while let Some(parent) = todo.pop() {
        for &pid in children.get(&parent).map(Vec::as_slice).unwrap_or(&[]) {
            let Some((pin, now)) = table.pin_and_read(pid) else {
                continue;
            };
            // Its parent must be one we hold and that still lives, so the
            // parent pid it reports is that process.
            let Some((parent_start, parent_pin)) = verified.get(&now.ppid()) else {
                continue;
            };
            if parent_pin.as_ref().is_some_and(|p| table.exited(p))
                || now.start_ticks() < *parent_start
            {
                continue;
            }
            let pin = Arc::new(pin);
            verified.insert(pid, (now.start_ticks(), Some(Arc::clone(&pin))));
            todo.push(pid);
            if now.pgid() != pgrp || skip.contains(&(pid, now.start_ticks())) {
                continue;
            }
            out.push((pin, now));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    /// Every call that can send a signal, in the non-test code of both
    /// crates, with the one place each may stand. The compiler keeps the
    /// binary from signalling except through a [`Permit`](crate::Permit)
    /// (`os::Pidfd` is crate-private); inside this crate, this test keeps
    /// `Permit::signal` the only caller of the pidfd's `send_signal`.
    #[test]
    fn permit_signal_is_the_only_signalling_call() {
        const CALLS: [&str; 7] = [
            "send_signal(",
            "pidfd_send_signal",
            "kill_process",
            ".kill()",
            concat!("libc", "::kill"),
            "killpg",
            "signal::kill",
        ];
        // (file, call, why it may stand there)
        let allowed: [(&str, &str); 6] = [
            // THE signalling function.
            ("kitty-core/src/permit.rs", "send_signal("),
            // Its stand-in on unsupported targets (it sends nothing).
            ("kitty-core/src/os/unsupported.rs", "send_signal("),
            // Its definition in os, on rustix.
            ("kitty-core/src/os/linux/processes.rs", "send_signal("),
            ("kitty-core/src/os/linux/processes.rs", "pidfd_send_signal"),
            // output_within's own helper (`spec-kitty --version`), unreaped: std's Child::kill.
            ("kitty-core/src/os/linux/processes.rs", ".kill()"),
            // Re-raising a signal at ourselves (exit as the signal would).
            ("kitty-core/src/os/linux/signals.rs", "kill_process"),
        ];
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut files = Vec::new();
        for dir in [
            "kitty-core/src",
            "kitty-fixtures/src",
            "cargo-kitty-leakcheck/src",
        ] {
            collect_rs(&root.join(dir), &mut files);
        }
        assert!(!files.is_empty());
        let mut found = Vec::new();
        let mut seen_allowed = std::collections::HashSet::new();
        for file in &files {
            let text = std::fs::read_to_string(file).expect("read source");
            let rel = file
                .strip_prefix(&root)
                .expect("under the root")
                .to_string_lossy()
                .into_owned();
            // Unit tests sit at the end of each file, after `#[cfg(test)]`.
            let code = text.split("#[cfg(test)]").next().unwrap_or("");
            for line in code.lines() {
                let line = line.trim_start();
                if line.starts_with("//") {
                    continue;
                }
                for call in CALLS {
                    if !line.contains(call) {
                        continue;
                    }
                    if allowed.contains(&(rel.as_str(), call)) {
                        seen_allowed.insert((rel.clone(), call));
                    } else {
                        found.push(format!("{rel}: {line}"));
                    }
                }
            }
        }
        assert!(
            found.is_empty(),
            "signalling outside Permit::signal:\n{}",
            found.join("\n")
        );
        // A file moved or renamed must move its entry too: every allowed
        // place is still where the list says (else the scan looks nowhere).
        for (file, call) in allowed {
            assert!(
                seen_allowed.contains(&(file.to_string(), call)),
                "{file} no longer has {call}: update the list"
            );
        }
    }

    fn collect_rs(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return; // a packaged crate has no sibling
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                collect_rs(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
}
