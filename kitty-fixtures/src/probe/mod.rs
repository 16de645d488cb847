//! The shared core: see what listens, know who it is, decide whether it is a
//! dashboard and whose, and stop it only after proving it is still the same
//! process. `cargo-kitty-leakcheck` uses this module (with
//! `default-features = false`); the fixtures are a thin face over it.
//!
//! | question | answer |
//! | --- | --- |
//! | what listens on these ports? | [`ListenerSnapshot::take`] |
//! | who is that process? | [`ProcessIdentity::read`], [`ProcessTree`], [`socket_owners`] |
//! | is it a dashboard, and whose? | [`DashboardCommand::of`], [`ProcessKind::of`], [`classify_dashboard`], [`fetch_health`] |
//! | may it be signalled? | [`judge`] (the one rule: positive proof, or report) |
//! | how do I stop it safely? | [`stop_process_group`] |
//! | how do I print it? | [`mask_tokens`] |

mod classify;
mod dashboard;
mod health;
mod listeners;
mod mask;
mod process;
mod proof;
mod stop;

pub use classify::{
    DashboardClass, FoundDashboard, OrphanReason, OwnedListener, ProcessKind, START_GRACE,
    StartingBecause, classify_dashboard, find_dashboard_processes, health_confirms,
    identify_listeners, names_the_server, project_dir_of, serves_dir,
};
pub use dashboard::{
    CommandForm, DASHBOARD_FILE_LIMIT, DashboardCommand, DashboardFile, DashboardFileError,
    SERVER_FUNCTION, SERVER_MODULE, is_sync_daemon,
};
pub use health::{Health, fetch_health};
pub use listeners::{Listener, ListenerSnapshot};
pub use mask::{mask_secret, mask_tokens};
pub use process::{
    Namespace, Place, ProcessIdentity, ProcessTree, ancestors_and_self, socket_owners,
};
pub use proof::{Doubt, Grounds, Judgement, RUN_LABEL_ENV, Scope, judge, new_run_label};
pub use stop::{StopError, StopPolicy, StopSignal, Stopped, stop_process_group};
