//! The core that `kitty-fixtures` and `cargo-kitty-leakcheck` share: see
//! what runs and listens and who it is, recognise what it is, judge whether
//! it is ours to clean up, and signal only the process that was proved,
//! through a handle pinned while proving it.
//!
//! Two halves, told apart by where they live:
//!
//! - **Generic process machinery**, at the crate root: a process's identity
//!   and the tree ([`process`]), the listeners on a set of ports
//!   ([`ListenerSnapshot`], [`PortSet`]), the rule ([`judge`]) whose yes is
//!   a [`Permit`] (and [`judge_process`] for a process that is not a
//!   dashboard), the one way to stop ([`stop`]), server profiles
//!   ([`server`]), port reservations
//!   ([`reservation`]), tokens kept out of what is printed ([`Token`]), and
//!   the few other operations on the system the two faces need ([`sys`]).
//! - **spec-kitty's own knowledge**, in [`spec_kitty`] alone: each release
//!   family's dashboard command line (what we write and what we recognise),
//!   `.kittify/.dashboard`, the health payload, init flags and how a
//!   release is told apart.
//!
//! The kernel is reached only through a private `os` module (Linux today;
//! on other targets, where [`sys::SUPPORTED`] is false, every operation
//! that can fail says `Unsupported`).
//!
//! | question | where |
//! | --- | --- |
//! | what listens on these ports? | [`ListenerSnapshot::take`] |
//! | who is that process? | [`ProcessIdentity::read`], [`ProcessTree`], [`socket_owners`] |
//! | where is a dashboard recognised, and written? | [`spec_kitty::DashboardCommand`] |
//! | what does its project record? | [`spec_kitty::DashboardFile`], [`spec_kitty::fetch_health`] |
//! | whose is it? | [`spec_kitty::classify_dashboard`] |
//! | may it be signalled? | [`judge()`], the one rule every mode asks; its yes is a [`Permit`]; [`judge_process`] for any other process of the run |
//! | what kind of dev server is it, on which port? | [`server::ServerProfile`] |
//! | where is the signal sent? | `permit.rs`: `Permit::signal`, the only function that signals; it re-checks through the pidfd first |
//! | how is a dashboard stopped? | [`stop()`] (a group only as individually proved members) |
//! | where is a port reserved? | [`reservation::Reservation`] |
//! | how is a token kept out of what we print? | [`Token`], [`mask_tokens`] |
//!
//! This crate is for the two faces and for tools built like them; a test
//! author uses `kitty-fixtures`.
#![warn(missing_docs)]
#![deny(unsafe_code)]

// The crate-private parsers of untrusted bytes, for the fuzz targets in fuzz/.
#[cfg(target_os = "linux")]
#[doc(hidden)]
pub mod fuzzing;
mod judge;
mod labels;
#[cfg(test)]
mod model_tests;
// The only code that calls the kernel. Private: everything above it works on
// the plain data its operations return; `sys` re-exports the few operations
// the faces need.
mod os;
mod permit;
mod ports;
pub mod process;
pub mod reservation;
pub mod server;
pub mod spec_kitty;
mod stop;
pub mod sys;
mod token;

pub use judge::{Doubt, Grounds, Judgement, Scope, judge, judge_process, judge_server};
pub use labels::{RUN_LABEL_ENV, TEST_ENV, new_run_label};
pub use permit::{Permit, pin_run_group};
pub use ports::{PortSet, PortSetError};
pub use process::{
    Listener, ListenerSnapshot, Namespace, Place, ProcessIdentity, ProcessTree, ancestors_and_self,
    socket_owners,
};
pub use stop::{StopError, StopPolicy, StopSignal, Stopped, stop};
pub use token::{Token, mask_tokens};
