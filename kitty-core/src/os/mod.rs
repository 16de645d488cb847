//! The one module that calls the kernel, private to kitty-core.
//!
//! Its seam is a set of operations, the same on every target, on the plain
//! data of `types.rs`; it imports nothing from the code above it:
//!
//! | operation | functions |
//! | --- | --- |
//! | processes | `list_pids`, `scan_stats`, `scan_command_lines` |
//! | identity of a pid | `read_stat`, `read_cmdline`, `read_uid`, `read_exe`, `read_cwd`, `read_environ_var`, `age_of`, `current_uid` |
//! | children | `children_of` |
//! | place | `read_namespaces`, `own_namespaces`, `cwd_state`, `dir_state`, `read_in_cwd` |
//! | listeners | `listening_sockets`, `socket_inodes`, `find_socket_holders` |
//! | a pinned process | `Pidfd` (`open`, `send_signal`, `has_exited`, `wait_exit`, `reap_if_child`) |
//! | our children | `reap_if_child`, `wait_child`, `reap_any_child`, `become_child_subreaper`, `spawn_detached_dying_with`, `output_within`, `at_exit` |
//! | signals as data | `SignalInbox`, `signal_name`, `end_with_signal`, `unblocked` |
//! | private files | `PrivateDir`, `read_bounded`, `write_file_atomically`, `create_private_file`, `append_to_regular_file` |
//!
//! Signals go out through one call, `Pidfd::send_signal`, whose only
//! caller is `permit.rs`: there is no `kill` of a pid number and no group
//! signal here. On Linux (`linux/`) it is built on safe wrappers: rustix
//! for the system calls, nix where rustix has none (`signalfd`), std for the
//! rest. The few `unsafe` blocks left are in `linux/processes.rs` and
//! `linux/signals.rs`, the only files with `#[allow(unsafe_code)]`, each
//! block with its SAFETY comment: `atexit(3)`, two `pre_exec` closures, and
//! setting a signal's disposition back to the default.
//!
//! On other targets `unsupported.rs` fills the same operations: each one
//! that can fail returns an error of kind `Unsupported`, and the others say
//! "nothing" (no process, no listener), so the crates build there and say at
//! run time what they cannot do. A port (macOS: libproc, kqueue's
//! `EVFILT_PROC` for the pinned handle, `proc_pidfdinfo` for sockets)
//! replaces that file by one that does the work, and touches no caller.
//!
//! Pids are `u32`, as std has them (`std::process::id`, `Child::id`);
//! signals are [`Signal`]; how a child ended is [`std::process::ExitStatus`].

mod types;
pub use types::*;

#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "linux")]
pub use linux::*;

#[cfg(not(target_os = "linux"))]
mod unsupported;
#[cfg(not(target_os = "linux"))]
pub use unsupported::*;

use std::fmt;

/// Splits `/proc/PID/cmdline` on NUL. Each argument ends with a NUL, so only
/// the last, empty, piece is dropped: an empty argument in the middle stays.
pub(crate) fn split_cmdline(raw: &[u8]) -> Vec<std::ffi::OsString> {
    use std::os::unix::ffi::OsStringExt;
    if raw.is_empty() {
        return Vec::new();
    }
    let body = raw.strip_suffix(b"\0").unwrap_or(raw);
    body.split(|&b| b == 0)
        .map(|s| std::ffi::OsString::from_vec(s.to_vec()))
        .collect()
}

/// A signal, by its number on this system. Ours rather than a system
/// crate's, so the public types do not move with that crate's versions.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Signal(i32);

impl Signal {
    /// SIGINT.
    pub const INT: Signal = Signal(SIGINT);
    /// SIGTERM.
    pub const TERM: Signal = Signal(SIGTERM);
    /// SIGHUP.
    pub const HUP: Signal = Signal(SIGHUP);
    /// SIGKILL.
    pub const KILL: Signal = Signal(SIGKILL);
    /// SIGCHLD.
    pub const CHILD: Signal = Signal(SIGCHLD);

    /// Its number.
    pub const fn as_raw(self) -> i32 {
        self.0
    }

    /// The signal numbered `raw`, when it is one of the named signals here.
    pub fn from_raw(raw: i32) -> Option<Signal> {
        is_named_signal(raw).then_some(Signal(raw))
    }
}

impl fmt::Debug for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&signal_name(self.0))
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&signal_name(self.0))
    }
}
