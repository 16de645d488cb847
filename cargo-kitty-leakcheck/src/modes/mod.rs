//! The modes: each computes its findings ([`crate::findings`]) and never
//! prints; what must be said while it runs goes to a callback `main` hands
//! in (a [`Notice`](crate::findings::run::Notice), a progress
//! [`Tick`](reap::Tick)).
//!
//! - [`run`]: the default mode (wrap a whole run);
//! - [`nextest`]: `wrap`, `snapshot` and `check`;
//! - [`sweep`]: survey, plan, then (once `main` has asked) execute;
//! - [`command`]: spawning COMMAND and passing signals on;
//! - [`detect`]: what leaked, and whose it is;
//! - [`reap`]: stopping the proved leaks through [`kitty_core::stop`].

pub mod command;
pub mod detect;
pub mod nextest;
pub mod reap;
pub mod run;
pub mod sweep;
