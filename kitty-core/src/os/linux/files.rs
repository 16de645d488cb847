//! Private directories and the files in them, never through a symlink: what
//! the port reservations (`reservation.rs`) stand on.
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

use crate::os::types::{BoundedReadError, PrivateDirError, Symlinks};
use rustix::fs::{AtFlags, FileType, Mode, OFlags};

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

    /// The names of the entries in it (`.` and `..` aside).
    pub fn names(&self) -> io::Result<Vec<String>> {
        let mut dir = rustix::fs::Dir::read_from(&self.fd)?;
        let mut names = Vec::new();
        while let Some(entry) = dir.read() {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy();
            if name != "." && name != ".." {
                names.push(name.into_owned());
            }
        }
        Ok(names)
    }

    /// Removes the directory itself when it is empty and `path` still names
    /// it (not a symlink, not a directory put in its place): `Ok(true)` when
    /// removed, `Ok(false)` when it is not empty or no longer at `path`.
    /// Whoever opened it meanwhile and then creates a file in it gets
    /// `ENOENT`, and must open it again (which creates it afresh).
    pub fn remove_if_empty(&self, path: &Path) -> io::Result<bool> {
        let (Ok(at_path), Ok(open)) = (rustix::fs::lstat(path), rustix::fs::fstat(&self.fd)) else {
            return Ok(false);
        };
        if (at_path.st_dev, at_path.st_ino) != (open.st_dev, open.st_ino) {
            return Ok(false);
        }
        match rustix::fs::unlinkat(rustix::fs::CWD, path, AtFlags::REMOVEDIR) {
            Ok(()) => Ok(true),
            Err(
                rustix::io::Errno::NOTEMPTY | rustix::io::Errno::EXIST | rustix::io::Errno::NOENT,
            ) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }
}

/// What a file that is not a regular one is, by its `st_mode`; `None` for a
/// regular file.
fn not_regular(mode: u32) -> Option<&'static str> {
    match FileType::from_raw_mode(mode) {
        FileType::RegularFile => None,
        FileType::Directory => Some("directory"),
        FileType::Fifo => Some("FIFO"),
        FileType::CharacterDevice => Some("character device"),
        FileType::BlockDevice => Some("block device"),
        FileType::Socket => Some("socket"),
        _ => Some("file of an unknown kind"),
    }
}

/// Appends `bytes` to a file a test runner hands us by name
/// (`$GITHUB_STEP_SUMMARY`, `$NEXTEST_ENV`): it is the runner's, so a
/// symlink there is followed, but it must be a regular file. Opened with
/// `O_NONBLOCK`, so a FIFO or device planted at the name is an error at
/// once, never a hang; created (0600) when missing.
///
/// # Errors
/// When it cannot be opened or written, or is not a regular file.
pub fn append_to_regular_file(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let flags = OFlags::WRONLY
        | OFlags::APPEND
        | OFlags::CREATE
        | OFlags::NONBLOCK
        | OFlags::NOCTTY
        | OFlags::CLOEXEC;
    let fd = match rustix::fs::open(path, flags, Mode::from_raw_mode(0o600)) {
        Ok(fd) => fd,
        // O_NONBLOCK's answer for a FIFO that nobody reads.
        Err(rustix::io::Errno::NXIO) => {
            return Err(io::Error::other(
                "it is not a regular file but a FIFO (or a device) that nobody reads",
            ));
        }
        Err(e) => return Err(e.into()),
    };
    let st = rustix::fs::fstat(&fd)?;
    if let Some(kind) = not_regular(st.st_mode) {
        return Err(io::Error::other(format!(
            "it is not a regular file but a {kind}"
        )));
    }
    let mut written = 0;
    while written < bytes.len() {
        match rustix::io::write(&fd, &bytes[written..]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => written += n,
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Reads the whole of the regular file at `path`, at most `limit` bytes.
///
/// Opened `O_NONBLOCK` (opening a FIFO returns at once instead of waiting
/// for a writer), `O_NOCTTY`, and with [`Symlinks::Refuse`] `O_NOFOLLOW`;
/// then `fstat` on what was opened: anything but a regular file is refused
/// before a byte is read (a FIFO, `/dev/zero`, a directory), and so is one
/// whose size is over `limit`; the read itself stops at `limit + 1` bytes, so
/// a file that grows meanwhile is refused too, never read without end.
pub fn read_bounded(
    path: &Path,
    limit: u64,
    symlinks: Symlinks,
) -> Result<Vec<u8>, BoundedReadError> {
    use std::io::Read;
    let mut flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
    if symlinks == Symlinks::Refuse {
        flags |= OFlags::NOFOLLOW;
    }
    let fd = match rustix::fs::open(path, flags, Mode::empty()) {
        Ok(fd) => fd,
        Err(rustix::io::Errno::NOENT) => return Err(BoundedReadError::Missing),
        Err(rustix::io::Errno::LOOP) if symlinks == Symlinks::Refuse => {
            return Err(BoundedReadError::Symlink);
        }
        Err(e) => return Err(io::Error::from(e).into()),
    };
    let st = rustix::fs::fstat(&fd).map_err(io::Error::from)?;
    if let Some(kind) = not_regular(st.st_mode) {
        return Err(BoundedReadError::NotRegular(kind));
    }
    if u64::try_from(st.st_size).unwrap_or(u64::MAX) > limit {
        return Err(BoundedReadError::TooLarge { limit });
    }
    let mut bytes = Vec::new();
    File::from(fd)
        .take(limit.saturating_add(1))
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(BoundedReadError::TooLarge { limit });
    }
    Ok(bytes)
}

/// Makes a FIFO at `path` (`0600`): for the tests of what reads a planted one.
#[cfg(test)]
pub(crate) fn make_fifo(path: &Path) -> io::Result<()> {
    rustix::fs::mkfifoat(rustix::fs::CWD, path, Mode::RUSR | Mode::WUSR).map_err(Into::into)
}

/// Creates a new file at `path` that only we can read and write (`0600`),
/// `O_CREAT | O_EXCL | O_NOFOLLOW`: never an existing file, never through
/// a symlink (a log file a server writes to).
pub fn create_private_file(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(OFlags::NOFOLLOW.bits() as i32)
        .open(path)
}

/// Writes `bytes` to `path` whole or not at all, never through a symlink.
///
/// The one writer of every file we write whole (leakcheck's reports and
/// baselines, `.kittify/.dashboard`). The directory is opened
/// once (`O_DIRECTORY`); in it a temporary file with an unpredictable name
/// (`.<name>.tmp.<16 random hex digits>`) is created `O_CREAT | O_EXCL |
/// O_NOFOLLOW`, mode `0600`; the bytes are written and synced, and the file
/// is renamed over `path` (`renameat`, relative to the same open directory).
/// On every error after the create the temporary file is removed (it is ours:
/// `O_EXCL` made it); a name that already exists (planted, even as a symlink)
/// is never opened, never written and never removed, and a fresh name is
/// tried. A symlink already at `path` itself is refused with an error
/// (neither followed nor replaced): in a shared directory it is someone
/// else's plant, and its target stays untouched.
pub fn write_file_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let (dir_path, name) = split_file_path(path)?;
    let dir = rustix::fs::open(dir_path, DIR_FLAGS, Mode::empty())?;
    write_in_dir(&dir, name, bytes)
}

/// [`write_file_atomically`], after creating the missing directories of
/// `path`'s parent, as cargo and nextest create their output directories
/// (a report file in `target/reports/` that does not exist yet).
///
/// Each missing directory is made `0755` (less the umask), one component
/// at a time, relative to its parent held open, and opened again
/// `O_NOFOLLOW`: a symlink found where a directory was to be made (a
/// dangling one, or one planted meanwhile) is refused with an error, never
/// followed, so nothing is ever created at a symlink's target. The
/// directories that already exist are the caller's path as given (a
/// `target` that is a symlink to a cache is followed, as cargo follows it).
/// The file itself is then written as [`write_file_atomically`] writes it,
/// in the directory held open (never looked up by path again).
pub fn write_file_atomically_creating_dirs(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let (dir_path, name) = split_file_path(path)?;
    let dir = open_creating_dirs(dir_path)?;
    write_in_dir(&dir, name, bytes)
}

/// How a directory is opened to work in.
const DIR_FLAGS: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::CLOEXEC);

/// `path`'s directory (`.` when it has none) and its file name.
fn split_file_path(path: &Path) -> io::Result<(&Path, &std::ffi::OsStr)> {
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "the path names no file"))?;
    let dir_path = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    Ok((dir_path, name))
}

/// Opens the directory `dir`, first making what is missing of it (see
/// [`write_file_atomically_creating_dirs`]).
fn open_creating_dirs(dir: &Path) -> io::Result<OwnedFd> {
    use std::path::Component;
    match rustix::fs::open(dir, DIR_FLAGS, Mode::empty()) {
        Err(rustix::io::Errno::NOENT) => {}
        done => return done.map_err(Into::into),
    }
    let start = if dir.is_absolute() { "/" } else { "." };
    let mut at = rustix::fs::open(start, DIR_FLAGS, Mode::empty())?;
    let mut walked = std::path::PathBuf::new();
    for part in dir.components() {
        let name: &std::ffi::OsStr = match part {
            Component::Normal(name) => name,
            Component::ParentDir => "..".as_ref(),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {
                walked.push(part);
                continue;
            }
        };
        walked.push(name);
        at = match rustix::fs::openat(&at, name, DIR_FLAGS, Mode::empty()) {
            Ok(fd) => fd,
            Err(rustix::io::Errno::NOENT) => {
                // Made here, or by someone else meanwhile: either way it is
                // opened without following a symlink.
                match rustix::fs::mkdirat(&at, name, Mode::from_raw_mode(0o755)) {
                    Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                    Err(e) => return Err(e.into()),
                }
                match rustix::fs::openat(&at, name, DIR_FLAGS | OFlags::NOFOLLOW, Mode::empty()) {
                    Ok(fd) => fd,
                    Err(rustix::io::Errno::LOOP | rustix::io::Errno::NOTDIR) => {
                        return Err(io::Error::other(format!(
                            "{} is a symlink (or not a directory) where a missing directory was to be made: \
                             refused, never followed",
                            walked.display()
                        )));
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            Err(e) => return Err(e.into()),
        };
    }
    Ok(at)
}

/// The body of [`write_file_atomically`]: `name` in the directory `dir`,
/// held open.
fn write_in_dir(dir: &OwnedFd, name: &std::ffi::OsStr, bytes: &[u8]) -> io::Result<()> {
    use std::io::Write;
    match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::Symlink => {
            return Err(io::Error::other(
                "a symlink is there (refused: never written through, never replaced)",
            ));
        }
        _ => {}
    }
    let (tmp, fd) = {
        let mut tries = 0;
        loop {
            let mut tmp = std::ffi::OsString::from(".");
            tmp.push(name);
            tmp.push(format!(".tmp.{}", super::random_hex(8)?));
            let flags = OFlags::WRONLY
                | OFlags::CREATE
                | OFlags::EXCL
                | OFlags::NOFOLLOW
                | OFlags::NOCTTY
                | OFlags::CLOEXEC;
            match rustix::fs::openat(dir, tmp.as_os_str(), flags, Mode::RUSR | Mode::WUSR) {
                Ok(fd) => break (tmp, fd),
                Err(rustix::io::Errno::EXIST) if tries < 8 => tries += 1,
                Err(e) => return Err(e.into()),
            }
        }
    };
    let written = (|| {
        let mut f = File::from(fd);
        f.write_all(bytes)?;
        f.sync_data()?;
        drop(f);
        rustix::fs::renameat(dir, tmp.as_os_str(), dir, name).map_err(io::Error::from)
    })();
    if written.is_err() {
        // Ours: O_EXCL created it. A full disk leaves no empty file behind.
        let _ = rustix::fs::unlinkat(dir, tmp.as_os_str(), AtFlags::empty());
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> std::path::PathBuf {
        let p = std::env::temp_dir().join(format!("kitty-os-files-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("dir");
        p
    }

    #[test]
    fn bounded_reads_refuse_what_is_no_small_regular_file() {
        let dir = temp("read");
        let file = dir.join("f");
        std::fs::write(&file, "12345").expect("write");
        assert_eq!(
            read_bounded(&file, 5, Symlinks::Refuse).expect("reads"),
            b"12345"
        );
        assert!(matches!(
            read_bounded(&file, 4, Symlinks::Refuse),
            Err(BoundedReadError::TooLarge { limit: 4 })
        ));
        let fifo = dir.join("fifo");
        make_fifo(&fifo).expect("fifo");
        assert!(matches!(
            read_bounded(&fifo, 5, Symlinks::Follow),
            Err(BoundedReadError::NotRegular("FIFO"))
        ));
        assert!(matches!(
            read_bounded(Path::new("/dev/zero"), 5, Symlinks::Follow),
            Err(BoundedReadError::NotRegular("character device"))
        ));
        assert!(matches!(
            read_bounded(&dir, 5, Symlinks::Follow),
            Err(BoundedReadError::NotRegular("directory"))
        ));
        let link = dir.join("link");
        std::os::unix::fs::symlink(&file, &link).expect("symlink");
        assert!(matches!(
            read_bounded(&link, 5, Symlinks::Refuse),
            Err(BoundedReadError::Symlink)
        ));
        assert_eq!(
            read_bounded(&link, 5, Symlinks::Follow).expect("reads"),
            b"12345"
        );
        assert!(matches!(
            read_bounded(&dir.join("none"), 5, Symlinks::Follow),
            Err(BoundedReadError::Missing)
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_writer_leaves_one_private_file_and_refuses_a_symlink() {
        use std::os::unix::fs::PermissionsExt;
        let dir = temp("write");
        let out = dir.join("out.json");
        write_file_atomically(&out, b"one").expect("written");
        write_file_atomically(&out, b"two").expect("replaced");
        assert_eq!(std::fs::read(&out).expect("read"), b"two");
        let mode = std::fs::metadata(&out).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let names: Vec<_> = std::fs::read_dir(&dir)
            .expect("ls")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, ["out.json"], "no temporary file left");
        let precious = dir.join("precious");
        std::fs::write(&precious, "keep").expect("write");
        let planted = dir.join("planted.json");
        std::os::unix::fs::symlink(&precious, &planted).expect("plant");
        let e = write_file_atomically(&planted, b"x").expect_err("refused");
        assert!(e.to_string().contains("symlink"), "{e}");
        assert_eq!(std::fs::read(&precious).expect("read"), b"keep");
        assert!(
            std::fs::symlink_metadata(&planted)
                .expect("meta")
                .file_type()
                .is_symlink()
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn missing_directories_are_made_but_never_through_a_symlink() {
        use std::os::unix::fs::PermissionsExt;
        let dir = temp("mkdirs");
        let out = dir.join("a/b/../c/report.json");
        write_file_atomically_creating_dirs(&out, b"one").expect("written");
        assert_eq!(
            std::fs::read(dir.join("a/c/report.json")).expect("read"),
            b"one"
        );
        let mode = std::fs::metadata(dir.join("a/c"))
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o700, 0o700, "{mode:o}");
        assert_eq!(mode & 0o022, 0, "{mode:o}");
        // An existing dir is written in as it is; so is a relative path.
        write_file_atomically_creating_dirs(&out, b"two").expect("replaced");
        assert_eq!(
            std::fs::read(dir.join("a/c/report.json")).expect("read"),
            b"two"
        );
        // A dangling symlink where a directory is missing: refused, and
        // nothing is made at its target.
        let target = dir.join("target-of-link");
        std::os::unix::fs::symlink(&target, dir.join("dangling")).expect("plant");
        let e = write_file_atomically_creating_dirs(&dir.join("dangling/x/r.json"), b"x")
            .expect_err("refused");
        assert!(e.to_string().contains("symlink"), "{e}");
        assert!(!target.exists());
        // A symlink to an existing directory is the caller's own path.
        std::fs::create_dir(dir.join("real")).expect("real");
        std::os::unix::fs::symlink(dir.join("real"), dir.join("link")).expect("link");
        write_file_atomically_creating_dirs(&dir.join("link/new/r.json"), b"y").expect("written");
        assert_eq!(
            std::fs::read(dir.join("real/new/r.json")).expect("read"),
            b"y"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
