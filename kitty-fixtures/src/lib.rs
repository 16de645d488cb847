//! Temporary spec-kitty projects whose dashboards can never outlive them.
//!
//! ```no_run
//! use kitty_fixtures::{kitty_project, KittyProject};
//! use rstest::rstest;
//!
//! #[rstest]
//! fn serves_the_project(kitty_project: KittyProject) {
//!     let dashboard = kitty_project.start_dashboard().unwrap();
//!     assert!(dashboard.url().starts_with("http://127.0.0.1:"));
//! } // dropping the project stops the dashboard, then deletes the temp dir
//! ```
//!
//! spec-kitty is found through `KITTY_SPEC_KITTY` (the `spec-kitty`
//! executable), else `spec-kitty` on `PATH`; ports come from `KITTY_PORTS`
//! (default 9237-9336).
//!
//! The crate also holds the shared core that `cargo-kitty-leakcheck` uses:
//! [`probe`] (listeners, process identity, dashboard recognition, safe stop)
//! and [`ports`] (port sets and reservations). Build it with
//! `default-features = false` to leave rstest out.
#![warn(missing_docs)]
#![deny(unsafe_code)]

mod error;
#[cfg(feature = "rstest")]
mod fixtures;
mod installation;
mod launch;
#[allow(unsafe_code)]
pub mod os;
pub mod ports;
pub mod probe;
mod project;
mod registry;
pub mod reservation;

pub use error::{Error, INSTALL_HINT};
#[cfg(feature = "rstest")]
pub use fixtures::{ServedProject, kitty_project, kitty_served_project};
pub use installation::{SPEC_KITTY_ENV, SpecKitty};
pub use project::{
    Dashboard, KittyProject, KittyProjectBuilder, OWNER_ENV, Origin, StopReport, StoppedDashboard,
};
