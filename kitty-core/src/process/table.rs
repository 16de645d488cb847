//! The process table as the decisions see it: a few operations, behind
//! [`ProcessTable`], so that each decision of the rule is written once and
//! runs both against the kernel ([`Kernel`], through `crate::os`) and, in
//! the tests below, against a simulated table whose processes exit, exec,
//! move and hand their pids on between any two operations.
//!
//! The decisions over it:
//! - `judge::decide`: place, owner, not an ancestor, scope (with
//!   `classify::serves_dir_in` for `Scope::Project`);
//! - `stop::plan_members`: which members of a dashboard's group are proved;
//! - `permit::plan_run_group`: which of the run's processes a forwarded
//!   signal reaches.
//!
//! Each returns a plan (pins and the identities read through them); only
//! `permit.rs` turns a pin into a [`Permit`](crate::Permit).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::os::{self as sys, DirState};
use crate::process::{Place, ProcessIdentity, ProcessTree};
use crate::spec_kitty::DashboardCommand;

/// What the decisions may ask of the process table. A look at the tree or
/// at a group is of numbers, and may be stale by the time it is used;
/// [`ProcessTable::pin`] holds whatever process has a pid now, and
/// [`ProcessTable::read`] shows whatever process has it now (not
/// necessarily the pinned one: only a pin that has not exited after the
/// read proves the read was of it).
pub(crate) trait ProcessTable {
    /// A handle on one process (a pidfd): it names that process or nobody.
    type Pin;

    /// The pids in group `pgid` at some recent look.
    fn group_members(&self, pgid: u32) -> Vec<u32>;
    /// The processes below `root` at one look: `(pid, parent)`, pids
    /// ascending.
    fn below(&self, root: u32) -> Vec<(u32, u32)>;
    /// A handle on the process that has `pid` now (alive or exited but not
    /// reaped); `None` when there is none.
    fn pin(&self, pid: u32) -> Option<Self::Pin>;
    /// What has `pid` now; `None` when nothing live does.
    fn read(&self, pid: u32) -> Option<ProcessIdentity>;
    /// Whether the pinned process has exited.
    fn exited(&self, pin: &Self::Pin) -> bool;
    /// Our uid.
    fn own_uid(&self) -> u32;
    /// Our namespaces and root (`None` when unreadable).
    fn own_namespaces(&self) -> Option<sys::Namespaces>;
    /// Whether `pid`'s working directory exists (asked of the directory).
    fn cwd_state(&self, pid: u32) -> DirState;
    /// `path` with `.`, `..` and symlinks resolved; `None` when it cannot be.
    fn canonicalize(&self, path: &Path) -> Option<PathBuf>;
    /// One variable of `pid`'s initial environment.
    fn env_var(&self, pid: u32, name: &str) -> Option<OsString>;
    /// The live owner (a test process) whose port reservation names this
    /// very dashboard (pid and start time).
    fn live_reservation_owner(
        &self,
        identity: &ProcessIdentity,
        command: &DashboardCommand,
    ) -> Option<u32>;

    /// Pins the process that has `pid` now and reads it through the pin:
    /// the read is of the pinned process only when the pin has not exited
    /// after it (while a process lives, its pid is its own). `None` when
    /// nothing has the pid, or the pinned process exited meanwhile.
    fn pin_and_read(&self, pid: u32) -> Option<(Self::Pin, ProcessIdentity)> {
        let pin = self.pin(pid)?;
        let id = self.read(pid)?;
        (!self.exited(&pin)).then_some((pin, id))
    }

    /// Whether it is ours: our uid.
    fn is_ours(&self, id: &ProcessIdentity) -> bool {
        id.uid() == self.own_uid()
    }
    /// Where it lives, seen from us.
    fn place(&self, id: &ProcessIdentity) -> Place {
        id.place_from(self.own_namespaces())
    }
    /// Whether it lives here: our namespaces and root.
    fn lives_here(&self, id: &ProcessIdentity) -> bool {
        self.place(id) == Place::Here
    }
}

/// The kernel's process table, through `crate::os`.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Kernel;

impl ProcessTable for Kernel {
    type Pin = sys::Pidfd;

    fn group_members(&self, pgid: u32) -> Vec<u32> {
        ProcessTree::read_shared().group_members(pgid)
    }

    fn below(&self, root: u32) -> Vec<(u32, u32)> {
        let tree = ProcessTree::read_below(root);
        tree.descendants_of(root)
            .into_iter()
            .filter_map(|pid| Some((pid, tree.parent_of(pid)?)))
            .collect()
    }

    fn pin(&self, pid: u32) -> Option<sys::Pidfd> {
        sys::Pidfd::open(pid).ok().flatten()
    }

    fn read(&self, pid: u32) -> Option<ProcessIdentity> {
        ProcessIdentity::read(pid)
    }

    fn exited(&self, pin: &sys::Pidfd) -> bool {
        pin.has_exited()
    }

    fn own_uid(&self) -> u32 {
        sys::current_uid()
    }

    fn own_namespaces(&self) -> Option<sys::Namespaces> {
        sys::own_namespaces()
    }

    fn cwd_state(&self, pid: u32) -> DirState {
        sys::cwd_state(pid)
    }

    fn canonicalize(&self, path: &Path) -> Option<PathBuf> {
        path.canonicalize().ok()
    }

    fn env_var(&self, pid: u32, name: &str) -> Option<OsString> {
        sys::read_environ_var(pid, name)
    }

    fn live_reservation_owner(
        &self,
        identity: &ProcessIdentity,
        command: &DashboardCommand,
    ) -> Option<u32> {
        let port = command.port?;
        let state = crate::reservation::read_reservation(port)?;
        (state.owner_alive
            && state.record.dashboard_pid == Some(identity.pid())
            && state.record.dashboard_start_ticks == Some(identity.start_ticks()))
        .then_some(state.record.owner_pid)
    }
}
