//! The one module that talks to the kernel.
//!
//! Everything else in this crate and in `cargo-kitty-leakcheck` works on
//! the plain data these functions return. Signals go out through one call,
//! `Pidfd::send_signal` (crate-private), whose only caller is
//! `shared::permit`: there is no `kill` of a pid number and no group signal
//! here. Built on safe wrappers: [`rustix`] for the system calls, `nix`
//! where rustix has none (`signalfd`), std for the rest (`File::try_lock`,
//! `ExitStatusExt`, `IsTerminal`). The few `unsafe` blocks left are here
//! alone, each with its SAFETY comment: `atexit(3)`, a `pre_exec` closure (a
//! child starts with no signal blocked), and setting a signal's disposition
//! back to the default. Both crates `#![deny(unsafe_code)]`; this
//! module is the single `#[allow]`.
//!
//! Platform code sits behind `cfg(target_os = "linux")` in this module only.
//! A macOS port adds `macos.rs` beside `linux.rs` with the same functions and
//! touches no caller: see the README's "A macOS port" for what each needs.
//!
//! Pids are `u32`, as std has them (`std::process::id`, `Child::id`);
//! signals are [`Signal`]; how a child ended is [`std::process::ExitStatus`].

#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "linux")]
pub use linux::*;

#[cfg(not(target_os = "linux"))]
compile_error!(
    "kitty-fixtures supports Linux only for now; a port adds a sibling of os/linux.rs (see the README)"
);

pub use rustix::process::Signal;
