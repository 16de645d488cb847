//! Everything this project knows about spec-kitty, and nothing else does.
//!
//! | what | where |
//! | --- | --- |
//! | each release family's dashboard command line, parsed and written | `command.rs`: [`DashboardCommand`], [`CommandForm`] |
//! | which release an installation is, its init flags, what it writes | `release.rs`: [`Release::of_installation`], [`Release::init_args`]; `command.rs`: [`CommandForm::server_args`] |
//! | `.kittify/.dashboard` | `dashboard_file.rs`: [`DashboardFile`] |
//! | the `/api/health` payload | `health.rs`: [`Health`], [`fetch_health`] |
//! | whose a dashboard is (live, starting, orphan) | `classify.rs`: [`classify_dashboard`] |
//!
//! A new release family is a change here and in this module's tests alone.

/// The ports spec-kitty's CLI picks a dashboard's from: `range(9237, 9337)`
/// (every release family with a dashboard), 9237-9336 inclusive.
///
/// The one default port range of both crates: the ports kitty-fixtures
/// reserves from and the ports `cargo kitty-leakcheck` watches (each through
/// `KITTY_PORTS` when set). 9337 is not in it: spec-kitty never picks it; it
/// only appears in spec-kitty's own texts, which print the exclusive end of
/// that Python range ("Could not find free port in range 9237-9337", "the
/// dashboard range (9237-9337)"), and leakcheck once watched it for that
/// reason alone. A dashboard told `--port 9337` is outside the default
/// range, like any other explicit port: watch it with `--ports`.
pub const DASHBOARD_PORTS: std::ops::RangeInclusive<u16> = 9237..=9336;

mod classify;
pub(crate) use classify::not_here;
mod command;
mod dashboard_file;
mod health;
mod release;

pub(crate) use classify::serves_dir_in;
pub use classify::{
    DashboardClass, DashboardsAndServers, FoundDashboard, OrphanReason, OwnedListener, ProcessKind,
    START_GRACE, StartingBecause, classify_dashboard, find_dashboard_processes,
    find_dashboards_and_servers, health_confirms, identify_listeners, identify_listeners_among,
    names_the_server, project_dir_of, serves_dir,
};
pub use command::{CommandForm, DashboardCommand, SERVER_FUNCTION, SERVER_MODULE, is_sync_daemon};
pub use dashboard_file::{DASHBOARD_FILE_LIMIT, DashboardFile, DashboardFileError};
pub use health::{Health, fetch_health};
pub use release::Release;
