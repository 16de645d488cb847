//! Cross-process port reservations that nobody else can forge or break.
//!
//! A reservation is an exclusive `flock` on `<dir>/<port>.lock`, held for the
//! dashboard's whole life and released by the kernel when its holder dies,
//! however it dies. The file holds a JSON [`ReservationRecord`] (owner pid and
//! start time, dashboard pid and start time, project dir), so that an orphan
//! (owner dead, dashboard still running) can be told from a live dashboard.
//!
//! # Security
//!
//! The directory is private: created `0700`, and on every use opened without
//! following a symlink and checked to be a directory owned by us (one of ours
//! that others can read or write, as older versions left it, is made `0700`;
//! one owned by someone else is refused with [`ReservationError::NotPrivate`]).
//! Files are opened relative to that open directory with `O_NOFOLLOW` and
//! kept `0600`, so a planted symlink is never followed. A record is
//! evidence only together with the lock's state and the live process's
//! identity: see [`read_reservation`].
//!
//! # Resource leaking
//!
//! A released reservation removes its file (after checking that the path
//! still names the locked inode), so the directory does not collect one file
//! per port ever used. A holder killed by a signal leaves its file, unlocked:
//! that is how its orphan is recognised later.

use std::fs::File;
use std::io::{self, Read, Seek, Write};
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};

use crate::ProcessIdentity;
use crate::os as sys;

/// The environment variable that moves the reservation directory.
pub const RESERVATIONS_ENV: &str = "KITTY_RESERVATIONS_DIR";

/// Why the reservation directory cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReservationError {
    /// The directory is not ours alone: another user could plant or forge files in it.
    #[error(
        "the port reservation directory {path} is not private ({reason}): remove it, or set {RESERVATIONS_ENV} to a directory of your own"
    )]
    NotPrivate {
        /// The directory.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// It could not be created or read.
    #[error("cannot use the port reservation directory {path}: {source}")]
    Io {
        /// The directory (or the file in it).
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
}

/// Where reservations live: `$KITTY_RESERVATIONS_DIR`; else
/// `$XDG_RUNTIME_DIR/kitty-fixtures` (a per-user directory nobody else can
/// enter); else `<temp dir>/kitty-fixtures-<uid>` (one per user: others'
/// dashboards are never ours to judge).
pub fn reservation_dir() -> PathBuf {
    if let Some(d) = std::env::var_os(RESERVATIONS_ENV).filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    if let Some(run) = std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|d| d.is_absolute() && d.is_dir())
    {
        return run.join("kitty-fixtures");
    }
    std::env::temp_dir().join(format!("kitty-fixtures-{}", sys::current_uid()))
}

/// The reservation directory, open and checked (see the module's Security):
/// [`sys::PrivateDir`] with the path, for messages.
struct PrivateDir {
    dir: sys::PrivateDir,
    path: PathBuf,
}

impl PrivateDir {
    /// Opens (with `create`, first creates) the directory and checks it.
    /// `Ok(None)` when it does not exist and `create` is false.
    fn open(create: bool) -> Result<Option<Self>, ReservationError> {
        let path = reservation_dir();
        match sys::PrivateDir::open(&path, create) {
            Ok(Some(dir)) => Ok(Some(PrivateDir { dir, path })),
            Ok(None) => Ok(None),
            Err(sys::PrivateDirError::NotPrivate(reason)) => {
                Err(ReservationError::NotPrivate { path, reason })
            }
            Err(sys::PrivateDirError::Io(source)) => Err(ReservationError::Io { path, source }),
        }
    }

    /// Opens `<port>.lock` in it, never following a symlink; checks it is a
    /// regular file of ours.
    fn open_file(&self, port: u16, create: bool) -> io::Result<Option<File>> {
        self.dir
            .open_file(&file_name(port), create)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", self.path.display())))
    }

    /// Whether `<port>.lock` still names the inode `file` has open.
    fn still_names(&self, port: u16, file: &File) -> bool {
        self.dir.still_names(&file_name(port), file)
    }
}

fn file_name(port: u16) -> String {
    format!("{port}.lock")
}

/// What a reservation file says about its port.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ReservationRecord {
    /// The port.
    pub port: u16,
    /// The process holding the lock (the test process).
    pub owner_pid: u32,
    /// Its start time in clock ticks.
    pub owner_start_ticks: u64,
    /// The dashboard started on the port, once spawned.
    pub dashboard_pid: Option<u32>,
    /// Its start time in clock ticks.
    pub dashboard_start_ticks: Option<u64>,
    /// The project the dashboard serves.
    pub project_dir: PathBuf,
}

/// A port held for one dashboard, across threads and processes. Dropping it
/// releases the port and removes its file; so does the death of the process
/// holding it (which leaves the file, unlocked).
#[derive(Debug)]
pub struct Reservation {
    port: u16,
    dir: PrivateDirHandle,
    file: File,
    record: ReservationRecord,
}

/// The directory a [`Reservation`] lives in (kept open to remove its file).
struct PrivateDirHandle(PrivateDir);

impl std::fmt::Debug for PrivateDirHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.0.path)
    }
}

impl Reservation {
    /// Tries to reserve `port` for a dashboard of `project_dir`: takes the
    /// lock, checks the file is still the one at its path, and checks the
    /// port can be bound on 127.0.0.1. `Ok(None)` when someone else has it.
    ///
    /// # Errors
    /// [`ReservationError::NotPrivate`] when the directory is not ours alone.
    pub fn try_acquire(port: u16, project_dir: &Path) -> Result<Option<Self>, ReservationError> {
        let dir = PrivateDir::open(true)?.ok_or_else(|| ReservationError::Io {
            path: reservation_dir(),
            source: io::ErrorKind::NotFound.into(),
        })?;
        let file_path = dir.path.join(file_name(port));
        let file_err = |source: io::Error| ReservationError::Io {
            path: file_path.clone(),
            source,
        };
        let Some(file) = dir.open_file(port, true).map_err(file_err)? else {
            return Ok(None);
        };
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => return Ok(None),
            Err(std::fs::TryLockError::Error(e)) => return Err(file_err(e)),
        }
        // A holder that released it unlinked the path before unlocking: a
        // lock on an inode no longer at the path reserves nothing.
        if !dir.still_names(port, &file) {
            return Ok(None);
        }
        let mut r = Reservation {
            port,
            dir: PrivateDirHandle(dir),
            file,
            record: ReservationRecord {
                port,
                owner_pid: std::process::id(),
                owner_start_ticks: ProcessIdentity::read(std::process::id())
                    .map(|m| m.start_ticks())
                    .unwrap_or(0),
                dashboard_pid: None,
                dashboard_start_ticks: None,
                project_dir: project_dir.to_path_buf(),
            },
        };
        if TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_err() {
            return Ok(None); // dropping `r` removes the file again
        }
        r.persist().map_err(file_err)?;
        Ok(Some(r))
    }

    /// The reserved port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Records the dashboard now running on the port.
    pub fn record_dashboard(&mut self, dashboard: &ProcessIdentity) -> io::Result<()> {
        self.record.dashboard_pid = Some(dashboard.pid());
        self.record.dashboard_start_ticks = Some(dashboard.start_ticks());
        self.persist()
    }

    fn persist(&mut self) -> io::Result<()> {
        let text = serde_json::to_vec(&self.record).map_err(io::Error::other)?;
        self.file.set_len(0)?;
        self.file.rewind()?;
        self.file.write_all(&text)
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        // Unlink while still holding the lock, and only our own inode.
        if self.dir.0.still_names(self.port, &self.file) {
            let _ = self.dir.0.dir.remove(&file_name(self.port));
        }
        // Closing the file releases the lock.
    }
}

/// Someone's reservation of a port, as read from its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReservationState {
    /// What the file says.
    pub record: ReservationRecord,
    /// Whether its owner is alive: it holds the lock, or the process with the
    /// recorded pid and start time still runs.
    pub owner_alive: bool,
}

/// Reads the reservation of `port`: `None` unless the directory is private
/// and ours, the file is a regular file of ours (no symlink followed) and it
/// parses. A dead owner needs both proofs: the lock is free (the kernel
/// released it) and no process with the owner's pid and start time runs.
pub fn read_reservation(port: u16) -> Option<ReservationState> {
    let dir = PrivateDir::open(false).ok()??;
    let mut file = dir.open_file(port, false).ok()??;
    let mut text = Vec::new();
    (&mut file).take(64 * 1024).read_to_end(&mut text).ok()?;
    let record: ReservationRecord = serde_json::from_slice(&text).ok()?;
    if record.port != port {
        return None;
    }
    let lock_free = match file.try_lock() {
        Ok(()) => {
            let _ = file.unlock();
            true
        }
        Err(_) => false,
    };
    let owner_runs = ProcessIdentity::read(record.owner_pid)
        .is_some_and(|o| o.start_ticks() == record.owner_start_ticks);
    Some(ReservationState {
        owner_alive: !lock_free || owner_runs,
        record,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn free_port() -> u16 {
        let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
        l.local_addr().expect("addr").port()
    }

    #[test]
    fn a_reservation_excludes_others_until_dropped_and_then_leaves_no_file() {
        let dir = tempfile::tempdir().expect("tmp");
        let port = free_port();
        let r = Reservation::try_acquire(port, dir.path())
            .expect("usable dir")
            .expect("free");
        assert!(
            Reservation::try_acquire(port, dir.path())
                .expect("usable dir")
                .is_none()
        );
        let state = read_reservation(port).expect("record");
        assert!(state.owner_alive);
        assert_eq!(state.record.owner_pid, std::process::id());
        let file = reservation_dir().join(file_name(port));
        assert!(file.exists());
        drop(r);
        assert!(!file.exists(), "a released reservation removes its file");
        assert!(read_reservation(port).is_none());
        let again = Reservation::try_acquire(port, dir.path()).expect("usable dir");
        assert!(again.is_some());
    }
}
