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
//! The crate also holds the shared core that `cargo-kitty-leakcheck` uses:
//! [`probe`] (listeners, process identity, dashboard recognition, safe stop)
//! and [`ports`] (port sets and reservations). Build it with
//! `default-features = false` to leave rstest out.
#![warn(missing_docs)]

pub mod ports;
pub mod probe;
