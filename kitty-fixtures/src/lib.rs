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
//! # What a test author uses
//!
//! [`KittyProject`] (and its [`KittyProjectBuilder`]), the [`Dashboard`]s it
//! starts or adopts, the [`StopReport`] of stopping them, [`Error`], the
//! rstest fixtures [`kitty_project`] and [`kitty_served_project`], and
//! [`PortSet`]. Build with `default-features = false` to leave rstest out.
//!
//! # Resource leaking
//!
//! Dropping a project stops every dashboard that serves it before its
//! directory is deleted, on every exit path a test can take: see
//! [`KittyProject`].
//!
//! # Security
//!
//! - A process is signalled only on positive proof that it is a dashboard of
//!   what is being cleaned up (its pid, start time, uid, command line,
//!   namespaces and root), and only through a pidfd pinned when it was
//!   proved and looked through again right before each signal. That rule
//!   lives in `kitty-core` (its `judge`, whose yes is a `Permit`, and
//!   `stop`), shared with `cargo-kitty-leakcheck`. Doubt means it is left
//!   alone.
//! - Project dirs and spec-kitty homes are private temp dirs (`tempfile`,
//!   `0700`). The cross-process port reservations live in a private `0700`
//!   directory (under `$XDG_RUNTIME_DIR` when set), opened without following
//!   symlinks and refused when someone else owns it; `.kittify/.dashboard` is
//!   written whole through an `O_EXCL | O_NOFOLLOW` temporary file.
//! - A dashboard's token is never printed: errors and log tails shown are
//!   masked.
//!
//! # Platforms
//!
//! Linux. The crate builds on other targets, where [`KittyProjectBuilder::build`]
//! and [`KittyProject::start_dashboard`] return [`Error::Unsupported`].
#![warn(missing_docs)]
#![deny(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod dashboard;
mod error;
#[cfg(feature = "rstest")]
mod fixtures;
mod installation;
mod launch;
mod project;
mod registry;

pub use dashboard::{Dashboard, Origin, StopReport, StoppedDashboard};
pub use error::Error;
#[cfg(feature = "rstest")]
#[cfg_attr(docsrs, doc(cfg(feature = "rstest")))]
pub use fixtures::{ServedProject, kitty_project, kitty_served_project};
pub use installation::{SPEC_KITTY_ENV, SpecKitty};
pub use kitty_core::spec_kitty::{CommandForm, Release};
pub use kitty_core::{PortSet, StopSignal, Stopped, TEST_ENV};
pub use project::{KittyProject, KittyProjectBuilder, OWNER_ENV};
