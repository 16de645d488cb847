//! The few operations on the system, other than proving and stopping a
//! process, that the fixtures and `cargo-kitty-leakcheck` need: private
//! files, being a subreaper, signals taken as data, and spawning a server
//! that dies with its spawner. Each is a thin face over the private `os`
//! module, which alone calls the kernel.
//!
//! On a target other than Linux ([`SUPPORTED`] is false) each of them that
//! can fail returns an [`std::io::Error`] of kind `Unsupported`, so the
//! crates build there and say at run time what they cannot do.

pub use crate::os::{
    Arrived, BoundedReadError, PrivateDirError, Reaped, Signal, SignalInbox, Symlinks,
    append_to_regular_file, become_child_subreaper, boot_id, create_private_file, end_with_signal,
    output_within, own_process_group, random_hex, read_bounded, reap_any_child, reap_if_child,
    signal_name, unblocked, wait_child, write_file_atomically, write_file_atomically_creating_dirs,
};
pub use crate::os::{at_exit, spawn_detached_dying_with};

/// Makes `path` (and its parents) a directory of ours alone (`0700`), or
/// checks the one already there: a directory, not a symlink, owned by our
/// effective uid (one of ours that others may read is made `0700`). With
/// `create` false, `Ok(false)` when nothing is there.
pub fn private_dir(path: &std::path::Path, create: bool) -> Result<bool, PrivateDirError> {
    Ok(crate::os::PrivateDir::open(path, create)?.is_some())
}

/// Whether this target is one the crate supports (Linux).
pub const SUPPORTED: bool = cfg!(target_os = "linux");
