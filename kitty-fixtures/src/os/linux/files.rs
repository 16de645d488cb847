//! Private directories and the files in them, never through a symlink: what
//! the port reservations (`shared::reservation`) stand on.
//!
//! A [`PrivateDir`] is opened once (`O_DIRECTORY | O_NOFOLLOW`), checked to be
//! ours and made `0700`; its files are opened relative to that open
//! directory with `O_NOFOLLOW`, checked to be regular files of ours and made
//! `0600`. A path swapped under us after the check is never followed, because
//! nothing is opened by path again.

use std::fs::File;
use std::io;
use std::os::fd::OwnedFd;
use std::path::Path;

use rustix::fs::{AtFlags, FileType, Mode, OFlags};

/// Why a directory cannot be used as a private one.
#[derive(Debug)]
pub enum PrivateDirError {
    /// It is not ours alone: the reason, for a person.
    NotPrivate(String),
    /// It could not be created, opened or checked.
    Io(io::Error),
}

/// A directory of ours alone, held open.
#[derive(Debug)]
pub struct PrivateDir {
    fd: OwnedFd,
}

impl PrivateDir {
    /// Opens `path` (with `create`, first creates it and its parents, `0700`)
    /// and checks it: a directory, not a symlink, owned by our effective uid;
    /// one of ours that others may read or write is made `0700`. `Ok(None)`
    /// when it does not exist and `create` is false.
    pub fn open(path: &Path, create: bool) -> Result<Option<PrivateDir>, PrivateDirError> {
        if create {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(PrivateDirError::Io)?;
            }
            match rustix::fs::mkdir(path, Mode::RWXU) {
                Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                Err(e) => return Err(PrivateDirError::Io(e.into())),
            }
        }
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd = match rustix::fs::open(path, flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(rustix::io::Errno::NOENT) if !create => return Ok(None),
            Err(rustix::io::Errno::LOOP) | Err(rustix::io::Errno::NOTDIR) => {
                return Err(PrivateDirError::NotPrivate(
                    "it is a symlink or not a directory".into(),
                ));
            }
            Err(e) => return Err(PrivateDirError::Io(e.into())),
        };
        let st = rustix::fs::fstat(&fd).map_err(|e| PrivateDirError::Io(e.into()))?;
        let me = rustix::process::geteuid().as_raw();
        if st.st_uid != me {
            return Err(PrivateDirError::NotPrivate(format!(
                "it belongs to uid {}, not to uid {me}",
                st.st_uid
            )));
        }
        if st.st_mode & 0o077 != 0 {
            // Ours, but others could read or write it: make it private first.
            rustix::fs::fchmod(&fd, Mode::RWXU).map_err(|e| PrivateDirError::Io(e.into()))?;
        }
        Ok(Some(PrivateDir { fd }))
    }

    /// Opens `name` in it for reading and writing (with `create`, creating
    /// it `0600`), never following a symlink, without blocking on a FIFO;
    /// checks it is a regular file of ours, and makes one left readable by
    /// others `0600`. `Ok(None)` when it does not exist and `create` is false.
    pub fn open_file(&self, name: &str, create: bool) -> io::Result<Option<File>> {
        let mut flags = OFlags::RDWR | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK;
        if create {
            flags |= OFlags::CREATE;
        }
        let fd = match rustix::fs::openat(&self.fd, name, flags, Mode::RUSR | Mode::WUSR) {
            Ok(fd) => fd,
            Err(rustix::io::Errno::NOENT) if !create => return Ok(None),
            Err(rustix::io::Errno::LOOP) => {
                return Err(io::Error::other(format!("{name} is a symlink")));
            }
            Err(e) => return Err(e.into()),
        };
        let st = rustix::fs::fstat(&fd)?;
        let regular = FileType::from_raw_mode(st.st_mode) == FileType::RegularFile;
        if !regular || st.st_uid != rustix::process::geteuid().as_raw() {
            return Err(io::Error::other(format!(
                "{name} is not a regular file of ours"
            )));
        }
        if st.st_mode & 0o077 != 0 {
            // Ours, in our private directory, left readable by an older version.
            rustix::fs::fchmod(&fd, Mode::RUSR | Mode::WUSR)?;
        }
        Ok(Some(File::from(fd)))
    }

    /// Whether `name` still names the inode `file` has open (not a symlink
    /// and not a file put in its place since it was opened).
    pub fn still_names(&self, name: &str, file: &File) -> bool {
        let (Ok(at_path), Ok(open)) = (
            rustix::fs::statat(&self.fd, name, AtFlags::SYMLINK_NOFOLLOW),
            rustix::fs::fstat(file),
        ) else {
            return false;
        };
        (at_path.st_dev, at_path.st_ino) == (open.st_dev, open.st_ino)
    }

    /// Removes `name` from it (not following a symlink: `unlinkat` removes
    /// the link itself).
    pub fn remove(&self, name: &str) -> io::Result<()> {
        rustix::fs::unlinkat(&self.fd, name, AtFlags::empty()).map_err(Into::into)
    }
}

/// Makes a FIFO at `path` (`0600`): for tests of what reads a planted one.
pub fn make_fifo(path: &Path) -> io::Result<()> {
    rustix::fs::mkfifoat(rustix::fs::CWD, path, Mode::RUSR | Mode::WUSR).map_err(Into::into)
}

/// `O_NONBLOCK`, for std's `OpenOptionsExt::custom_flags`: opening a FIFO
/// planted where a file should be returns at once instead of waiting for a
/// writer.
pub const O_NONBLOCK: i32 = OFlags::NONBLOCK.bits() as i32;

/// `O_NOFOLLOW`, for std's `OpenOptionsExt::custom_flags`: open a file we
/// create without following a symlink planted in its place.
pub const O_NOFOLLOW: i32 = OFlags::NOFOLLOW.bits() as i32;
