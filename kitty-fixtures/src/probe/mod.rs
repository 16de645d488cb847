//! The shared core: see what listens, know who it is, decide whether it is a
//! dashboard and whose, and stop it only after proving it is still the same
//! process. `cargo-kitty-leakcheck` uses this module (with
//! `default-features = false`); the fixtures are a thin face over it.
//!
//! | question | answer |
//! | --- | --- |
//! | what listens on these ports? | [`ListenerSnapshot::take`] |
//! | who is that process? | [`ProcessIdentity::read`], [`ProcessTree`], [`socket_owners`] |
//! | is it a dashboard, and whose? | [`DashboardCommand::parse`], [`ProcessKind::of`], [`classify_dashboard`], [`fetch_health`] |
//! | how do I stop it safely? | [`stop_process_group`] |
//! | how do I print it? | [`mask_tokens`] |

mod classify;
mod dashboard;
mod health;
mod listeners;
mod mask;
mod process;
mod stop;
pub(crate) mod sys;

pub use classify::{
    DashboardClass, FoundDashboard, OrphanReason, OwnedListener, ProcessKind, classify_dashboard,
    find_dashboard_processes, health_confirms, identify_listeners, project_dir_of, serves_dir,
};
pub use dashboard::{
    CommandForm, DASHBOARD_FILE_LIMIT, DashboardCommand, DashboardFile, DashboardFileError,
    SERVER_FUNCTION, SERVER_MODULE, is_sync_daemon,
};
pub use health::{Health, fetch_health};
pub use listeners::{Listener, ListenerSnapshot};
pub use mask::{mask_secret, mask_tokens};
pub use process::{ProcessIdentity, ProcessTree, socket_owners};
pub use stop::{StopError, StopPolicy, StopSignal, Stopped, stop_process_group};

/// Makes the calling process a child subreaper (Linux `PR_SET_CHILD_SUBREAPER`):
/// every process its descendants orphan is re-parented to it, so it knows they
/// descend from it and must reap them.
pub fn become_child_subreaper() -> std::io::Result<()> {
    sys::become_child_subreaper()
}

/// Reaps `pid` if it is an exited child of this process. Returns its raw wait status.
pub fn reap_if_child(pid: u32) -> Option<i32> {
    sys::reap_if_child(pid)
}
