//! The shared core of the fixtures and `cargo-kitty-leakcheck`: see what
//! listens, know who it is, recognise a dashboard, judge whether it may be
//! signalled, and stop it only after proving it is still the same process.
//! A test author never needs this module.
//!
//! | question | where |
//! | --- | --- |
//! | what listens on these ports? | `listeners.rs`: [`ListenerSnapshot::take`] |
//! | who is that process? | `process.rs`: [`ProcessIdentity::read`], [`ProcessTree`], [`socket_owners`] |
//! | where is a dashboard recognised? | `recognise.rs`: [`DashboardCommand::of`] (Python's argv grammar) |
//! | what does its project record? | `dashboard_file.rs`: [`DashboardFile`]; `health.rs`: [`fetch_health`] |
//! | whose is it? | `classify.rs`: [`classify_dashboard`] |
//! | may it be signalled? | `judge.rs`: [`judge`], the one rule every mode asks; its yes is a [`Permit`] |
//! | where is the signal sent? | `permit.rs`: `Permit::signal`, the only function that signals, re-checks through the pidfd first |
//! | how is a dashboard stopped? | `stop.rs`: [`stop`] (a group only as individually proved members) |
//! | where is a port reserved? | `reservation.rs`: [`reservation::Reservation`] |
//! | how is a token kept out of what we print? | `token.rs`: [`Token`], [`mask_tokens`] |

mod classify;
mod dashboard_file;
mod health;
mod judge;
mod listeners;
#[cfg(test)]
mod model_tests;
mod permit;
mod process;
mod recognise;
pub mod reservation;
mod stop;
mod table;
mod token;

pub use classify::{
    DashboardClass, FoundDashboard, OrphanReason, OwnedListener, ProcessKind, START_GRACE,
    StartingBecause, classify_dashboard, find_dashboard_processes, health_confirms,
    identify_listeners, identify_listeners_among, names_the_server, project_dir_of, serves_dir,
};
pub use dashboard_file::{DASHBOARD_FILE_LIMIT, DashboardFile, DashboardFileError};
pub use health::{Health, fetch_health};
pub use judge::{Doubt, Grounds, Judgement, RUN_LABEL_ENV, Scope, judge, new_run_label};
pub use listeners::{Listener, ListenerSnapshot};
pub use permit::{Permit, pin_run_group};
pub use process::{
    Namespace, Place, ProcessIdentity, ProcessTree, ancestors_and_self, socket_owners,
};
pub use recognise::{
    CommandForm, DashboardCommand, SERVER_FUNCTION, SERVER_MODULE, is_sync_daemon,
};
pub use stop::{StopError, StopPolicy, StopSignal, Stopped, stop};
pub use token::{Token, mask_tokens};
