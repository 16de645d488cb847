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
//! that is how its orphan is recognised later. Such a file is removed by the
//! next release in the directory once it is evidence of nothing (unlocked,
//! its owner and its dashboard both gone; taken under its lock), and the
//! directory itself is removed when the last file in it is: once no
//! reservation is held and no orphan is alive, nothing is left. A reserver
//! that opened the directory just before it was removed finds it gone when
//! it creates its file (`ENOENT`) and opens it again, which creates it.

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
    fn open(path: &Path, create: bool) -> Result<Option<Self>, ReservationError> {
        let path = path.to_path_buf();
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
        Self::try_acquire_in(&reservation_dir(), port, project_dir)
    }

    /// [`try_acquire`](Self::try_acquire) in the directory `at`.
    fn try_acquire_in(
        at: &Path,
        port: u16,
        project_dir: &Path,
    ) -> Result<Option<Self>, ReservationError> {
        // A release may remove the (empty) directory between our opening
        // it and creating our file in it: then open it afresh.
        let mut attempts = 0;
        let (dir, file) = loop {
            attempts += 1;
            let dir = PrivateDir::open(at, true)?.ok_or_else(|| ReservationError::Io {
                path: at.to_path_buf(),
                source: io::ErrorKind::NotFound.into(),
            })?;
            match dir.open_file(port, true) {
                Ok(Some(file)) => break (dir, file),
                Ok(None) => return Ok(None),
                Err(e) if e.kind() == io::ErrorKind::NotFound && attempts < 10 => continue,
                Err(source) => {
                    return Err(ReservationError::Io {
                        path: dir.path.join(file_name(port)),
                        source,
                    });
                }
            }
        };
        let file_path = dir.path.join(file_name(port));
        let file_err = |source: io::Error| ReservationError::Io {
            path: file_path.clone(),
            source,
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
        remove_stale_records(&self.dir.0, self.port);
        // Last one out: the directory too (kept while any file is in it).
        let _ = self.dir.0.dir.remove_if_empty(&self.dir.0.path);
        // Closing the file releases the lock.
    }
}

/// How old a dead holder's file must be before a release removes it.
const STALE_AFTER: std::time::Duration = std::time::Duration::from_secs(10);

/// Whether the process `pid` that started at `start_ticks` still runs.
fn runs(pid: u32, start_ticks: u64) -> bool {
    ProcessIdentity::read(pid).is_some_and(|p| p.start_ticks() == start_ticks)
}

/// Removes the files of `dir` (other than `ours`) that are evidence of
/// nothing any more: left by a holder that died (the lock is free, taken
/// here before anything is read), whose owner and dashboard no longer run,
/// or that hold no record at all; and that are older than [`STALE_AFTER`]
/// (a file just created is locked a moment later). A file whose dashboard
/// still runs is kept:
/// it is how that orphan is recognised.
fn remove_stale_records(dir: &PrivateDir, ours: u16) {
    let Ok(names) = dir.dir.names() else {
        return;
    };
    for name in names {
        let Some(port) = name
            .strip_suffix(".lock")
            .and_then(|p| p.parse::<u16>().ok())
        else {
            continue;
        };
        if port == ours || name != file_name(port) {
            continue;
        }
        let Ok(Some(mut file)) = dir.open_file(port, false) else {
            continue;
        };
        if file.try_lock().is_err() {
            continue; // held: a live reservation
        }
        let mut text = Vec::new();
        if (&mut file).take(64 * 1024).read_to_end(&mut text).is_err() {
            continue;
        }
        // A file younger than that may be one being made (created, not yet
        // locked) or written by hand a moment ago: left for a later release.
        let old = file
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > STALE_AFTER);
        if !old {
            continue;
        }
        let stale = match serde_json::from_slice::<ReservationRecord>(&text) {
            Ok(r) => {
                !runs(r.owner_pid, r.owner_start_ticks)
                    && !r
                        .dashboard_pid
                        .zip(r.dashboard_start_ticks)
                        .is_some_and(|(pid, ticks)| runs(pid, ticks))
            }
            // Empty or unreadable: its holder died before it wrote a record.
            Err(_) => true,
        };
        if stale && dir.still_names(port, &file) {
            let _ = dir.dir.remove(&name);
        }
        // Dropping `file` releases the lock.
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
    let dir = PrivateDir::open(&reservation_dir(), false).ok()??;
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

    /// A reservation dir of its own, not yet created, in a temp dir.
    fn own_dir() -> (tempfile::TempDir, PathBuf) {
        let tmp = tempfile::tempdir().expect("tmp");
        let at = tmp.path().join("reservations");
        (tmp, at)
    }

    fn acquire(at: &Path, port: u16) -> Reservation {
        Reservation::try_acquire_in(at, port, at)
            .expect("usable dir")
            .expect("free")
    }

    /// A record file as a holder killed by a signal leaves it: unlocked, 0600.
    fn leave_record(at: &Path, record: &ReservationRecord) -> PathBuf {
        use std::os::unix::fs::OpenOptionsExt;
        let path = at.join(file_name(record.port));
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .expect("record file");
        f.write_all(&serde_json::to_vec(record).expect("json"))
            .expect("write");
        backdate(&f);
        path
    }

    /// Makes `f` older than [`STALE_AFTER`].
    fn backdate(f: &File) {
        let then = std::time::SystemTime::now() - STALE_AFTER * 2;
        f.set_modified(then).expect("set mtime");
    }

    fn record(port: u16, owner: (u32, u64), dashboard: Option<(u32, u64)>) -> ReservationRecord {
        ReservationRecord {
            port,
            owner_pid: owner.0,
            owner_start_ticks: owner.1,
            dashboard_pid: dashboard.map(|d| d.0),
            dashboard_start_ticks: dashboard.map(|d| d.1),
            project_dir: PathBuf::from("/nonexistent"),
        }
    }

    /// A pid and start time that name no running process.
    fn dead() -> (u32, u64) {
        let me = ProcessIdentity::read(std::process::id()).expect("self");
        (std::process::id(), me.start_ticks() + 1)
    }

    fn me() -> (u32, u64) {
        let me = ProcessIdentity::read(std::process::id()).expect("self");
        (std::process::id(), me.start_ticks())
    }

    #[test]
    fn the_last_release_removes_the_directory_too() {
        let (_tmp, at) = own_dir();
        let (a, b) = (free_port(), free_port());
        let ra = acquire(&at, a);
        let rb = acquire(&at, b);
        drop(ra);
        assert!(at.is_dir(), "a reservation is still held in it");
        assert!(at.join(file_name(b)).is_file());
        drop(rb);
        assert!(
            !at.exists(),
            "nothing is held: the directory is left behind"
        );
        // And it is made again, private, by the next reservation.
        let again = acquire(&at, a);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&at).expect("dir").permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        drop(again);
        assert!(!at.exists());
    }

    #[test]
    fn a_release_removes_the_records_of_dead_holders_but_keeps_an_orphans() {
        let (_tmp, at) = own_dir();
        let (stale, orphan, empty, ours) = (free_port(), free_port(), free_port(), free_port());
        // Create the directory (private) the way the library does.
        drop(acquire(&at, ours));
        std::fs::create_dir(&at).expect("mkdir");
        std::fs::set_permissions(&at, std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .expect("chmod");
        let stale_file = leave_record(&at, &record(stale, dead(), Some(dead())));
        // Its owner died, its dashboard (here: this process) still runs.
        let orphan_file = leave_record(&at, &record(orphan, dead(), Some(me())));
        // A dead holder's record written a moment ago: left for later.
        let fresh = free_port();
        let fresh_file = at.join(file_name(fresh));
        std::fs::write(
            &fresh_file,
            serde_json::to_vec(&record(fresh, dead(), None)).expect("json"),
        )
        .expect("fresh");
        // An empty file just created: maybe a reservation being made.
        let empty_file = at.join(file_name(empty));
        std::fs::write(&empty_file, b"").expect("empty");
        // An old empty one: its holder died before writing a record.
        let old_empty = free_port();
        let old_empty_file = at.join(file_name(old_empty));
        backdate(&File::create(&old_empty_file).expect("old empty"));
        drop(acquire(&at, ours));
        assert!(!stale_file.exists(), "the dead holder's record is left");
        assert!(orphan_file.exists(), "the orphan's record is gone");
        assert!(empty_file.exists(), "a fresh empty file is taken for stale");
        assert!(fresh_file.exists(), "a fresh record is taken for stale");
        assert!(!old_empty_file.exists(), "an old empty file is left");
        std::fs::remove_file(&fresh_file).expect("rm");
        assert!(at.is_dir(), "removed with an orphan's record in it");
        // Once the orphan is gone, the next release leaves nothing.
        std::fs::remove_file(&empty_file).expect("rm");
        std::fs::remove_file(&orphan_file).expect("rm");
        leave_record(&at, &record(orphan, dead(), Some(dead())));
        drop(acquire(&at, ours));
        assert!(!at.exists(), "stale records keep the directory");
    }

    #[test]
    fn a_held_reservation_is_never_swept() {
        let (_tmp, at) = own_dir();
        let (held, other) = (free_port(), free_port());
        let r = acquire(&at, held);
        drop(acquire(&at, other));
        assert!(at.join(file_name(held)).is_file());
        assert!(read_reservation_in(&at, held).is_some());
        drop(r);
        assert!(!at.exists());
    }

    #[test]
    fn a_directory_removed_under_a_reserver_is_made_again() {
        let (_tmp, at) = own_dir();
        let port = free_port();
        // The race: a reserver opened the directory; the last release removed it.
        let opened = PrivateDir::open(&at, true).expect("dir").expect("made");
        let other = PrivateDir::open(&at, false).expect("dir").expect("there");
        assert!(other.dir.remove_if_empty(&at).expect("rmdir"));
        let err = opened
            .open_file(port, true)
            .expect_err("the directory is gone");
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        // try_acquire retries on that ENOENT with a fresh directory.
        let r = acquire(&at, port);
        assert!(at.join(file_name(port)).is_file());
        drop(r);
        assert!(!at.exists());
    }

    /// read_reservation in the directory `at`: the lock is held by someone.
    fn read_reservation_in(at: &Path, port: u16) -> Option<()> {
        let dir = PrivateDir::open(at, false).ok()??;
        let file = dir.open_file(port, false).ok()??;
        file.try_lock().is_err().then_some(())
    }
}
