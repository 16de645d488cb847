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
//!   proved and looked through again right before each signal: see
//!   [`shared::judge`] (whose yes is a [`shared::Permit`]) and
//!   [`shared::stop`]. Doubt means it is reported, never touched.
//! - Project dirs and spec-kitty homes are private temp dirs (`tempfile`,
//!   `0700`). The cross-process port reservations live in a private `0700`
//!   directory (under `$XDG_RUNTIME_DIR` when set), opened without following
//!   symlinks and refused when someone else owns it; `.kittify/.dashboard` is
//!   written with `O_NOFOLLOW`.
//! - A dashboard's token is never printed: [`shared::Token`] masks itself in
//!   `Debug` and `Display`, and every command line and log tail shown passes
//!   through [`shared::mask_tokens`].
//!
//! # The shared core
//!
//! Two modules are the core that `cargo-kitty-leakcheck` shares with the
//! fixtures; a test author never needs them: [`shared`] (see what listens,
//! know who it is, recognise a dashboard, judge whether it may be signalled,
//! stop it safely, reserve ports) and [`os`] (the one module that talks to
//! the kernel).
#![warn(missing_docs)]
#![deny(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod dashboard;
mod error;
#[cfg(feature = "rstest")]
mod fixtures;
// The crate-private parsers of untrusted bytes, for the fuzz targets in fuzz/.
#[doc(hidden)]
pub mod fuzzing;
mod installation;
mod launch;
#[allow(unsafe_code)]
pub mod os;
pub mod ports;
mod project;
mod registry;
pub mod shared;

pub use dashboard::{Dashboard, Origin, StopReport, StoppedDashboard};
pub use error::{Error, INSTALL_HINT};
#[cfg(feature = "rstest")]
#[cfg_attr(docsrs, doc(cfg(feature = "rstest")))]
pub use fixtures::{ServedProject, kitty_project, kitty_served_project};
pub use installation::{SPEC_KITTY_ENV, SpecKitty};
pub use ports::PortSet;
pub use project::{KittyProject, KittyProjectBuilder, OWNER_ENV, TEST_ENV};
