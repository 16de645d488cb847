//! The seam's operations on a target kitty-core does not support yet
//! (anything but Linux): each one that can fail says `Unsupported`, the
//! others report nothing (no process, no listener, no child), so the crates
//! build everywhere and the faces say at run time what they cannot do. A
//! port replaces this file by one that does the work (see `mod.rs`).

use std::collections::HashSet;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::Duration;

use super::Signal;
use super::types::{
    Arrived, BoundedReadError, DirState, ListeningSocket, Namespaces, PrivateDirError, Reaped, Stat,
};

fn unsupported() -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        format!(
            "kitty-core supports Linux only; this is {}",
            std::env::consts::OS
        ),
    )
}

/// POSIX's numbers, as macOS and the BSDs have them.
pub const SIGHUP: i32 = 1;
/// SIGINT.
pub const SIGINT: i32 = 2;
/// SIGKILL.
pub const SIGKILL: i32 = 9;
/// SIGTERM.
pub const SIGTERM: i32 = 15;
/// SIGCHLD (BSD numbering).
pub const SIGCHLD: i32 = 20;

/// Whether `raw` is one of the signals named here.
pub fn is_named_signal(raw: i32) -> bool {
    [SIGHUP, SIGINT, SIGKILL, SIGTERM, SIGCHLD].contains(&raw)
}

/// The name of signal `sig`.
pub fn signal_name(sig: i32) -> String {
    match sig {
        SIGHUP => "SIGHUP".into(),
        SIGINT => "SIGINT".into(),
        SIGKILL => "SIGKILL".into(),
        SIGTERM => "SIGTERM".into(),
        SIGCHLD => "SIGCHLD".into(),
        _ => format!("signal {sig}"),
    }
}

/// Does nothing here.
pub fn end_with_signal(_sig: i32) {}

/// Leaves `cmd` as it is.
pub fn unblocked(cmd: &mut std::process::Command) -> &mut std::process::Command {
    cmd
}

/// Signals as data: unsupported.
#[derive(Debug)]
pub struct SignalInbox(());

impl SignalInbox {
    /// The signals an inbox takes.
    pub const SIGNALS: [Signal; 4] = [Signal::INT, Signal::TERM, Signal::HUP, Signal::CHILD];

    /// Unsupported.
    pub fn open() -> io::Result<Self> {
        Err(unsupported())
    }

    /// Unsupported.
    pub fn wait(&self, _limit: Option<Duration>) -> io::Result<Vec<Arrived>> {
        Err(unsupported())
    }
}

/// A pinned process: none can be pinned here.
#[derive(Debug)]
pub(crate) struct Pidfd(());

impl Pidfd {
    pub(crate) fn open(_pid: u32) -> io::Result<Option<Self>> {
        Err(unsupported())
    }
    pub(crate) fn send_signal(&self, _sig: Signal) -> io::Result<()> {
        Err(unsupported())
    }
    pub(crate) fn reap_if_child(&self) -> bool {
        false
    }
    pub(crate) fn has_exited(&self) -> bool {
        true
    }
    pub(crate) fn wait_exit(&self, _timeout: Duration) -> bool {
        true
    }
}

/// Unsupported: no child is reaped here.
pub fn reap_if_child(_pid: u32) -> Option<ExitStatus> {
    None
}

/// Unsupported.
pub fn wait_child(_pid: u32) -> io::Result<ExitStatus> {
    Err(unsupported())
}

/// Unsupported.
pub fn become_child_subreaper() -> io::Result<()> {
    Err(unsupported())
}

/// Unsupported: `None`.
pub fn output_within(_cmd: &mut std::process::Command, _limit: Duration) -> Option<Vec<u8>> {
    None
}

/// Unsupported.
pub fn reap_any_child() -> io::Result<Reaped> {
    Err(unsupported())
}

/// 0: unknown here.
pub fn own_process_group() -> u32 {
    0
}

/// Does nothing here (no dashboard is ever started to stop at exit).
pub fn at_exit(_hook: extern "C" fn()) {}

/// Leaves `cmd` as it is (it is never spawned here: the fixtures refuse first).
pub fn spawn_detached_dying_with(_cmd: &mut std::process::Command, _parent: u32) {}

/// Whether `e` says the process no longer exists: never here.
pub fn is_no_such_process(_e: &io::Error) -> bool {
    false
}

/// No process is seen here.
pub fn scan_stats() -> Vec<(u32, Stat)> {
    Vec::new()
}

/// No process is seen here.
pub fn scan_command_lines<T: Send>(
    _keep: &(dyn Fn(u32, &[u8]) -> Option<T> + Sync),
) -> Vec<(u32, T)> {
    Vec::new()
}

pub(crate) fn read_stat(_pid: u32) -> io::Result<Stat> {
    Err(unsupported())
}
pub(crate) fn read_cmdline(_pid: u32) -> io::Result<Vec<OsString>> {
    Err(unsupported())
}
pub(crate) fn read_uid(_pid: u32) -> io::Result<u32> {
    Err(unsupported())
}
pub(crate) fn read_cwd(_pid: u32) -> Option<PathBuf> {
    None
}
pub(crate) fn read_exe(_pid: u32) -> Option<PathBuf> {
    None
}
pub(crate) fn read_namespaces(_pid: u32) -> io::Result<Namespaces> {
    Err(unsupported())
}
pub(crate) fn read_in_cwd(
    _pid: u32,
    _rel: &Path,
    _limit: u64,
) -> Result<Vec<u8>, BoundedReadError> {
    Err(BoundedReadError::Io(unsupported()))
}
pub(crate) fn cwd_state(_pid: u32) -> DirState {
    DirState::Unknown
}
pub(crate) fn own_namespaces() -> Option<Namespaces> {
    None
}
pub(crate) fn read_environ_var(_pid: u32, _name: &str) -> Option<OsString> {
    None
}
pub(crate) fn list_pids() -> io::Result<Vec<u32>> {
    Err(unsupported())
}
/// `None`: children cannot be listed here.
pub fn children_of(_pid: u32) -> Option<Vec<u32>> {
    None
}
pub(crate) fn socket_inodes(_pid: u32) -> Vec<u64> {
    Vec::new()
}
pub(crate) fn find_socket_holders(
    _pids: &[u32],
    _inodes: &HashSet<u64>,
    _all_holders: bool,
) -> Vec<(u64, u32)> {
    Vec::new()
}
pub(crate) fn current_uid() -> u32 {
    u32::MAX
}
/// `None`: unknown here.
pub fn boot_id() -> Option<String> {
    None
}
pub(crate) fn boot_ticks_now() -> u64 {
    0
}
pub(crate) fn age_of(_start_ticks: u64) -> Duration {
    Duration::ZERO
}
pub(crate) fn dir_state(_path: &OsStr) -> DirState {
    DirState::Unknown
}
pub(crate) fn listening_sockets(_keep: &dyn Fn(u16) -> bool) -> io::Result<Vec<ListeningSocket>> {
    Err(unsupported())
}

/// Unsupported.
pub fn random_hex(_bytes: usize) -> io::Result<String> {
    Err(unsupported())
}

/// A private directory: none can be opened here.
#[derive(Debug)]
pub struct PrivateDir(());

impl PrivateDir {
    /// Unsupported.
    pub fn open(_path: &Path, _create: bool) -> Result<Option<PrivateDir>, PrivateDirError> {
        Err(PrivateDirError::Io(unsupported()))
    }
    /// Unsupported.
    pub fn open_file(&self, _name: &str, _create: bool) -> io::Result<Option<File>> {
        Err(unsupported())
    }
    /// Never.
    pub fn still_names(&self, _name: &str, _file: &File) -> bool {
        false
    }
    /// Unsupported.
    pub fn remove(&self, _name: &str) -> io::Result<()> {
        Err(unsupported())
    }
    /// Unsupported.
    pub fn names(&self) -> io::Result<Vec<String>> {
        Err(unsupported())
    }
    /// Unsupported.
    pub fn remove_if_empty(&self, _path: &Path) -> io::Result<bool> {
        Err(unsupported())
    }
}

/// Unsupported.
pub fn append_to_regular_file(_path: &Path, _bytes: &[u8]) -> io::Result<()> {
    Err(unsupported())
}

/// Unsupported.
pub fn read_bounded(
    _path: &Path,
    _limit: u64,
    _symlinks: super::types::Symlinks,
) -> Result<Vec<u8>, BoundedReadError> {
    Err(BoundedReadError::Io(unsupported()))
}

/// Unsupported.
pub fn create_private_file(_path: &Path) -> io::Result<File> {
    Err(unsupported())
}

/// Unsupported.
pub fn write_file_atomically(_path: &Path, _bytes: &[u8]) -> io::Result<()> {
    Err(unsupported())
}

/// Unsupported.
pub fn write_file_atomically_creating_dirs(_path: &Path, _bytes: &[u8]) -> io::Result<()> {
    Err(unsupported())
}
