//! What each mode found, decided and did, as plain data every renderer
//! reads: [`run`] (the default mode, `wrap`, `check`), [`records`] (what
//! each `wrap` recorded for the whole run), [`sweep`] (its plan and what it
//! did) and [`Snapshot`] (what `snapshot` wrote). The modes
//! ([`crate::modes`]) build them and never print; [`crate::report`] renders
//! them and imports nothing else of leakcheck's.

pub mod records;
pub mod run;
pub mod sweep;

use std::path::PathBuf;

use kitty_core::PortSet;

/// What `snapshot` recorded, and where.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// The file written.
    pub path: PathBuf,
    /// The watched ports.
    pub ports: PortSet,
    /// How many listeners it holds.
    pub listeners: usize,
    /// How many dashboards were alive.
    pub dashboards: usize,
}
