//! What `/proc` says about a process: its stat line, command line, owner,
//! directories, namespaces, environment, children and sockets; and the clock
//! its start time counts in.

use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::{self, Read};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

/// The fields of `/proc/PID/stat` that identify and place a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stat {
    pub state: char,
    pub ppid: u32,
    pub pgid: u32,
    pub sid: u32,
    /// Start time in clock ticks since boot: with the pid, it names one process.
    pub start_ticks: u64,
}

pub(crate) fn read_stat(pid: u32) -> io::Result<Stat> {
    let text = fs::read(format!("/proc/{pid}/stat"))?;
    parse_stat(&text).ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "odd /proc stat"))
}

pub(crate) fn parse_stat(text: &[u8]) -> Option<Stat> {
    // The command name may hold spaces and parentheses: fields start after the last ')'.
    let close = text.iter().rposition(|&b| b == b')')?;
    let rest = std::str::from_utf8(text.get(close + 2..)?).ok()?;
    let f: Vec<&str> = rest.split_ascii_whitespace().collect();
    Some(Stat {
        state: f.first()?.chars().next()?,
        ppid: f.get(1)?.parse().ok()?,
        pgid: f.get(2)?.parse().ok()?,
        sid: f.get(3)?.parse().ok()?,
        start_ticks: f.get(19)?.parse().ok()?,
    })
}

/// The command line of `pid`, byte for byte (arguments may be any bytes but NUL).
pub(crate) fn read_cmdline(pid: u32) -> io::Result<Vec<OsString>> {
    let raw = fs::read(format!("/proc/{pid}/cmdline"))?;
    Ok(split_cmdline(&raw))
}

/// Splits `/proc/PID/cmdline` on NUL. Each argument ends with a NUL, so only
/// the last, empty, piece is dropped: an empty argument in the middle stays.
pub(crate) fn split_cmdline(raw: &[u8]) -> Vec<OsString> {
    if raw.is_empty() {
        return Vec::new();
    }
    let body = raw.strip_suffix(b"\0").unwrap_or(raw);
    body.split(|&b| b == 0)
        .map(|s| OsString::from_vec(s.to_vec()))
        .collect()
}

/// The real uid of `pid`, from the `Uid:` line of `/proc/PID/status`.
pub(crate) fn read_uid(pid: u32) -> io::Result<u32> {
    let text = fs::read_to_string(format!("/proc/{pid}/status"))?;
    text.lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no Uid in status"))
}

pub(crate) fn read_cwd(pid: u32) -> Option<PathBuf> {
    fs::read_link(format!("/proc/{pid}/cwd")).ok()
}

/// The executable of `pid` (`None` when unreadable: another user's process).
pub(crate) fn read_exe(pid: u32) -> Option<PathBuf> {
    fs::read_link(format!("/proc/{pid}/exe")).ok()
}

/// The namespaces a process lives in, as the inode numbers of
/// `/proc/PID/ns/{pid,mnt,net}`. Two processes share a namespace exactly when
/// these numbers are equal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Namespaces {
    pub pid: u64,
    pub mnt: u64,
    pub net: u64,
}

/// The namespaces of `pid` (an error for another user's process when we are
/// not root: the kernel wants ptrace access to read them).
pub(crate) fn read_namespaces(pid: u32) -> io::Result<Namespaces> {
    let one = |kind: &str| -> io::Result<u64> {
        let link = fs::read_link(format!("/proc/{pid}/ns/{kind}"))?;
        parse_ns_link(link.as_os_str().as_bytes(), kind)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "odd namespace link"))
    };
    Ok(Namespaces {
        pid: one("pid")?,
        mnt: one("mnt")?,
        net: one("net")?,
    })
}

/// `pid:[4026531836]` -> 4026531836.
fn parse_ns_link(link: &[u8], kind: &str) -> Option<u64> {
    let inner = link
        .strip_prefix(kind.as_bytes())?
        .strip_prefix(b":[")?
        .strip_suffix(b"]")?;
    std::str::from_utf8(inner).ok()?.parse().ok()
}

/// The namespaces of this process, read once.
pub(crate) fn own_namespaces() -> Option<Namespaces> {
    static OWN: OnceLock<Option<Namespaces>> = OnceLock::new();
    *OWN.get_or_init(|| read_namespaces(std::process::id()).ok())
}

/// One variable of `pid`'s initial environment, byte for byte, if readable.
pub(crate) fn read_environ_var(pid: u32, name: &str) -> Option<OsString> {
    let mut raw = Vec::new();
    fs::File::open(format!("/proc/{pid}/environ"))
        .ok()?
        .take(1 << 20)
        .read_to_end(&mut raw)
        .ok()?;
    raw.split(|&b| b == 0).find_map(|kv| {
        let rest = kv.strip_prefix(name.as_bytes())?.strip_prefix(b"=")?;
        Some(OsString::from_vec(rest.to_vec()))
    })
}

pub(crate) fn list_pids() -> io::Result<Vec<u32>> {
    Ok(fs::read_dir("/proc")?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect())
}

/// Whether this kernel has `/proc/PID/task/TID/children` (CONFIG_PROC_CHILDREN).
pub(crate) fn has_children_files() -> bool {
    static HAS: OnceLock<bool> = OnceLock::new();
    *HAS.get_or_init(|| {
        let me = std::process::id();
        Path::new(&format!("/proc/{me}/task/{me}/children")).exists()
    })
}

/// The direct children of `pid`: the union of its threads' `children` files
/// (a thread whose file cannot be read, e.g. it just exited, adds nothing).
pub(crate) fn read_children(pid: u32) -> Vec<u32> {
    let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .filter_map(|t| fs::read_to_string(t.ok()?.path().join("children")).ok())
        .flat_map(|text| {
            text.split_ascii_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect::<Vec<u32>>()
        })
        .collect()
}

/// The inodes of the sockets `pid` holds open (empty when unreadable).
pub(crate) fn socket_inodes(pid: u32) -> Vec<u64> {
    let Ok(dir) = fs::read_dir(format!("/proc/{pid}/fd")) else {
        return Vec::new();
    };
    dir.filter_map(|e| {
        let target = fs::read_link(e.ok()?.path()).ok()?;
        let s = target.as_os_str().as_bytes();
        let inner = s.strip_prefix(b"socket:[")?.strip_suffix(b"]")?;
        std::str::from_utf8(inner).ok()?.parse().ok()
    })
    .collect()
}

/// The real uid of this process.
pub(crate) fn current_uid() -> u32 {
    rustix::process::getuid().as_raw()
}

/// This boot's id (`/proc/sys/kernel/random/boot_id`): pids, start times
/// and socket inodes recorded under another boot mean nothing now.
pub fn boot_id() -> Option<String> {
    let id = fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    Some(id.trim().to_string()).filter(|s| !s.is_empty())
}

/// Clock ticks since boot now, in the unit of `/proc/PID/stat`'s start time
/// (CLOCK_BOOTTIME, which counts suspend, like the kernel's start time).
pub(crate) fn boot_ticks_now() -> u64 {
    let now = rustix::time::clock_gettime(rustix::time::ClockId::Boottime);
    let hz = rustix::param::clock_ticks_per_second();
    (now.tv_sec as u64) * hz + (now.tv_nsec as u64) * hz / 1_000_000_000
}

/// How long ago a process that started at `start_ticks` started.
pub(crate) fn age_of(start_ticks: u64) -> Duration {
    let hz = rustix::param::clock_ticks_per_second().max(1);
    let ticks = boot_ticks_now().saturating_sub(start_ticks);
    Duration::from_millis(ticks.saturating_mul(1000) / hz)
}

/// What a path read from a process says about a directory in our mount
/// namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DirState {
    /// It is a directory.
    Exists,
    /// Nothing is there (or `/proc` marked it " (deleted)"), or it is not a directory.
    Gone,
    /// It could not be looked at (permission): neither proof of life nor of death.
    Unknown,
}

/// What is at `path` (a path read from `/proc`, which marks removed
/// directories with a " (deleted)" suffix).
pub(crate) fn dir_state(path: &OsStr) -> DirState {
    if path.as_bytes().ends_with(b" (deleted)") {
        return DirState::Gone;
    }
    match fs::metadata(path) {
        Ok(m) if m.is_dir() => DirState::Exists,
        Ok(_) => DirState::Gone,
        Err(e) => {
            let errno = e.raw_os_error().map(rustix::io::Errno::from_raw_os_error);
            match errno {
                Some(rustix::io::Errno::NOENT) | Some(rustix::io::Errno::NOTDIR) => DirState::Gone,
                _ => DirState::Unknown,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_spaces_and_parens_in_the_name() {
        let line =
            b"4242 (py (x) y) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10";
        let s = parse_stat(line).expect("parses");
        assert_eq!(
            (s.state, s.ppid, s.pgid, s.sid, s.start_ticks),
            ('S', 1, 4242, 4242, 987654)
        );
        assert!(parse_stat(b"garbage").is_none());
    }

    #[test]
    fn cmdline_keeps_bytes_and_empty_arguments() {
        let args = split_cmdline(b"python\0-c\0\0x\xff\0");
        assert_eq!(
            args,
            [
                OsString::from("python"),
                "-c".into(),
                "".into(),
                OsString::from_vec(b"x\xff".to_vec())
            ]
        );
        assert!(split_cmdline(b"").is_empty());
    }

    #[test]
    fn namespaces_of_ourselves_are_our_own() {
        let me = read_namespaces(std::process::id()).expect("readable");
        assert_eq!(Some(me), own_namespaces());
        assert_eq!(parse_ns_link(b"net:[4026531840]", "net"), Some(4026531840));
        assert_eq!(parse_ns_link(b"net:[4026531840]", "pid"), None);
    }

    #[test]
    fn our_age_is_small_and_positive() {
        let me = read_stat(std::process::id()).expect("stat");
        assert!(age_of(me.start_ticks) < Duration::from_secs(24 * 3600));
    }

    #[test]
    fn dir_states() {
        assert_eq!(dir_state(OsStr::new("/")), DirState::Exists);
        assert_eq!(dir_state(OsStr::new("/nonexistent-kitty")), DirState::Gone);
        assert_eq!(dir_state(OsStr::new("/tmp (deleted)")), DirState::Gone);
    }
}
