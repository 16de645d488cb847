//! What `/proc` says about a process: its stat line, command line, owner,
//! directories, namespaces, environment, children and sockets; and the clock
//! its start time counts in.
//!
//! Every file of a process is read relative to one `/proc` opened once, with
//! one `openat`, one `read` (more only when the buffer fills) and one
//! `close`: no `statx` for a size hint, no path walk through `/proc` itself.
//! The scans over every process ([`scan_pid_files`], [`find_socket_holders`])
//! spread the processes over the CPUs.
//!
//! Why one file of 600 lines: every reader here shares the `/proc` handle, the
//! one-read file reader and the scan over all CPUs; split, each piece would
//! import the others. About 110 lines are tests.

use std::ffi::{CStr, CString, OsStr, OsString};
use std::fs;
use std::io::{self, Write as _};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use crate::os::types::{DirState, Namespaces, Stat};
use rustix::fs::{Mode, OFlags};

/// `/proc`, opened once for the life of the process.
fn proc_root() -> io::Result<BorrowedFd<'static>> {
    static ROOT: OnceLock<Option<OwnedFd>> = OnceLock::new();
    ROOT.get_or_init(|| {
        rustix::fs::open(
            "/proc",
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .ok()
    })
    .as_ref()
    .map(|fd| fd.as_fd())
    .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "/proc cannot be opened"))
}

/// Calls `f` with `PID/NAME` as a C string, built on the stack (no allocation
/// unless it is unusually long).
fn with_pid_path<R>(pid: u32, name: &str, f: impl FnOnce(&CStr) -> io::Result<R>) -> io::Result<R> {
    let mut buf = [0u8; 80];
    let room = buf.len();
    let mut w = &mut buf[..];
    if write!(w, "{pid}/{name}\0").is_ok() {
        let len = room - w.len();
        let path = CStr::from_bytes_with_nul(&buf[..len])
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in a /proc path"))?;
        return f(path);
    }
    let path = CString::new(format!("{pid}/{name}"))
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in a /proc path"))?;
    f(&path)
}

/// Opens `/proc/PID/NAME` relative to the `/proc` opened once.
fn open_pid_file(pid: u32, name: &str, flags: OFlags) -> io::Result<OwnedFd> {
    let root = proc_root()?;
    with_pid_path(pid, name, |path| {
        rustix::fs::openat(root, path, flags | OFlags::CLOEXEC, Mode::empty()).map_err(Into::into)
    })
}

/// When a read of a `/proc` file has reached its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ends {
    /// At a read that did not fill the buffer: files the kernel produces in
    /// one piece (`stat`, `status`: one seq_file record) or copies until the
    /// end or the count (`cmdline`, `environ`).
    AtShortRead,
    /// Only at a read of 0 bytes (seq_files of many records, `children`).
    AtZero,
}

/// Reads `/proc/PID/NAME` into `buf` (cleared first), at most `limit` bytes.
fn read_pid_file(
    pid: u32,
    name: &str,
    ends: Ends,
    limit: usize,
    buf: &mut Vec<u8>,
) -> io::Result<()> {
    let fd = open_pid_file(pid, name, OFlags::RDONLY | OFlags::NOCTTY)?;
    buf.clear();
    if buf.capacity() < 1024 {
        buf.reserve(4096);
    }
    while buf.len() < limit {
        if buf.len() == buf.capacity() {
            buf.reserve(buf.capacity());
        }
        let room = buf.capacity() - buf.len();
        match rustix::io::read(&fd, rustix::buffer::spare_capacity(buf)) {
            Ok(0) => break,
            Ok(n) if n < room && ends == Ends::AtShortRead => break,
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    buf.truncate(limit);
    Ok(())
}

/// Reads a whole small `/proc/PID/NAME` into a fresh buffer.
fn read_small(pid: u32, name: &str, ends: Ends) -> io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    read_pid_file(pid, name, ends, usize::MAX, &mut buf)?;
    Ok(buf)
}

/// The target of the symlink `/proc/PID/NAME`, as bytes.
fn read_pid_link(pid: u32, name: &str) -> io::Result<Vec<u8>> {
    let root = proc_root()?;
    let link = with_pid_path(pid, name, |path| {
        rustix::fs::readlinkat(root, path, Vec::new()).map_err(Into::into)
    })?;
    Ok(link.into_bytes())
}

/// How many threads a scan over every process uses: two per CPU this
/// process may run on (one when there are few processes: a thread costs more
/// than reading a hundred small files).
///
/// Two per CPU, not one: a thread reading `/proc` often waits in the kernel
/// (for the target's memory map, to read its `cmdline`), and a CPU whose only
/// scanning thread waits is idle. Measured on 2 CPUs at 1,500 processes
/// (`sweep --dry-run`, hyperfine, 40 runs, means): 1 thread 24.7 ms, 2
/// threads 24.1 ms, 3 threads 18.5 ms, 4 threads 17.9 ms, 6-8 threads 19.5 ms.
fn scan_threads(items: usize) -> usize {
    static CPUS: OnceLock<usize> = OnceLock::new();
    let cpus = *CPUS.get_or_init(|| {
        rustix::thread::sched_getaffinity(None)
            .map(|set| set.count() as usize)
            .unwrap_or(1)
            .clamp(1, 16)
    });
    (2 * cpus).min(items / 200 + 1)
}

/// What a scan does with one item: it may use the thread's read buffer and
/// push what it keeps.
type ScanWork<'a, I, T> = dyn Fn(&I, &mut Vec<u8>, &mut Vec<T>) + Sync + 'a;

/// Runs `work` on every item of `items`, on [`scan_threads`] threads that
/// take chunks in turn, until `stop` is set; returns what each thread
/// collected.
fn on_all_cpus<I: Sync, T: Send>(items: &[I], stop: &AtomicBool, work: &ScanWork<I, T>) -> Vec<T> {
    const CHUNK: usize = 32;
    let next = AtomicUsize::new(0);
    let run = || {
        let mut buf = Vec::with_capacity(4096);
        let mut out = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            let at = next.fetch_add(CHUNK, Ordering::Relaxed);
            let Some(chunk) = items.get(at..(at + CHUNK).min(items.len())) else {
                break;
            };
            if chunk.is_empty() {
                break;
            }
            for item in chunk {
                work(item, &mut buf, &mut out);
            }
        }
        out
    };
    let threads = scan_threads(items.len());
    if threads <= 1 {
        return run();
    }
    std::thread::scope(|scope| {
        let helpers: Vec<_> = (1..threads)
            .filter_map(|_| {
                std::thread::Builder::new()
                    .stack_size(256 * 1024)
                    .spawn_scoped(scope, run)
                    .ok()
            })
            .collect();
        let mut all = run();
        for h in helpers {
            // A helper that panicked lost only its part; the caller's own
            // look (the fallback) covers it.
            if let Ok(part) = h.join() {
                all.extend(part);
            }
        }
        all
    })
}

/// Reads `/proc/PID/NAME` (a small file: `cmdline`, `stat`) of every process,
/// spread over the CPUs. `keep` sees each pid and the file's bytes (a process
/// that is gone or unreadable is skipped) and returns what to keep. Sorted by
/// pid. One `openat`, `read` and `close` per process: the cost grows with the
/// number of processes, divided by the CPUs.
fn scan_pid_files<T: Send>(
    name: &str,
    keep: &(dyn Fn(u32, &[u8]) -> Option<T> + Sync),
) -> Vec<(u32, T)> {
    let pids = list_pids().unwrap_or_default();
    let never = AtomicBool::new(false);
    let mut out = on_all_cpus(&pids, &never, &|&pid, buf, out| {
        if read_pid_file(pid, name, Ends::AtShortRead, usize::MAX, buf).is_ok()
            && let Some(t) = keep(pid, buf)
        {
            out.push((pid, t));
        }
    });
    out.sort_unstable_by_key(|(pid, _)| *pid);
    out
}

/// Every live process's status (zombies left out), sorted by pid: one
/// `/proc/PID/stat` read each, spread over the CPUs.
pub fn scan_stats() -> Vec<(u32, Stat)> {
    scan_pid_files("stat", &|_, raw| {
        parse_stat(raw).filter(|st| st.state != 'Z')
    })
}

/// Every process's command line as the kernel keeps it (the argv words,
/// each ended by a NUL), offered to `keep`, which returns what to keep:
/// one `/proc/PID/cmdline` read each, spread over the CPUs; a process that
/// is gone or unreadable is skipped. Sorted by pid.
pub fn scan_command_lines<T: Send>(
    keep: &(dyn Fn(u32, &[u8]) -> Option<T> + Sync),
) -> Vec<(u32, T)> {
    scan_pid_files("cmdline", keep)
}

pub(crate) fn read_stat(pid: u32) -> io::Result<Stat> {
    let text = read_small(pid, "stat", Ends::AtShortRead)?;
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
        flags: f.get(6)?.parse().ok()?,
    })
}

/// The command line of `pid`, byte for byte (arguments may be any bytes but NUL).
pub(crate) fn read_cmdline(pid: u32) -> io::Result<Vec<OsString>> {
    let raw = read_small(pid, "cmdline", Ends::AtShortRead)?;
    Ok(crate::os::split_cmdline(&raw))
}

/// The real uid of `pid`, from the `Uid:` line of `/proc/PID/status`.
pub(crate) fn read_uid(pid: u32) -> io::Result<u32> {
    let raw = read_small(pid, "status", Ends::AtShortRead)?;
    String::from_utf8_lossy(&raw)
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no Uid in status"))
}

pub(crate) fn read_cwd(pid: u32) -> Option<PathBuf> {
    read_pid_link(pid, "cwd")
        .ok()
        .map(|b| PathBuf::from(OsString::from_vec(b)))
}

/// The executable of `pid` (`None` when unreadable: another user's process).
pub(crate) fn read_exe(pid: u32) -> Option<PathBuf> {
    read_pid_link(pid, "exe")
        .ok()
        .map(|b| PathBuf::from(OsString::from_vec(b)))
}

/// The namespaces of `pid` (an error for another user's process when we are
/// not root: the kernel wants ptrace access to read them).
pub(crate) fn read_namespaces(pid: u32) -> io::Result<Namespaces> {
    let one = |kind: &str| -> io::Result<u64> {
        let link = read_pid_link(pid, &format!("ns/{kind}"))?;
        parse_ns_link(&link, kind)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "odd namespace link"))
    };
    Ok(Namespaces {
        pid: one("pid")?,
        mnt: one("mnt")?,
        net: one("net")?,
        root: root_of(pid)?,
    })
}

/// `(st_dev, st_ino)` of the directory `/proc/PID/root` leads to (the kernel
/// follows the magic link to the process's root, whatever its name there).
fn root_of(pid: u32) -> io::Result<(u64, u64)> {
    let root = proc_root()?;
    let st = with_pid_path(pid, "root", |path| {
        rustix::fs::statat(root, path, rustix::fs::AtFlags::empty()).map_err(Into::into)
    })?;
    Ok((st.st_dev, st.st_ino))
}

/// What `/proc/PID/cwd` leads to: a directory that still exists, one that
/// was removed (the kernel keeps it alive for the process with no links
/// left), or unknown (not ours to look at, or the process is gone). Asked of
/// the directory itself, never of the spelling of its path: a directory may
/// well be named `x (deleted)`.
/// Reads the file `rel` inside `pid`'s working directory, through
/// `/proc/PID/cwd` (the directory it has, whatever path names it now),
/// bounded as [`read_bounded`](super::files::read_bounded) is, a symlink at
/// `rel`'s last component refused.
pub(crate) fn read_in_cwd(
    pid: u32,
    rel: &Path,
    limit: u64,
) -> Result<Vec<u8>, crate::os::types::BoundedReadError> {
    let path = PathBuf::from(format!("/proc/{pid}/cwd")).join(rel);
    super::files::read_bounded(&path, limit, crate::os::types::Symlinks::Refuse)
}

pub(crate) fn cwd_state(pid: u32) -> DirState {
    let Ok(root) = proc_root() else {
        return DirState::Unknown;
    };
    let st = with_pid_path(pid, "cwd", |path| {
        rustix::fs::statat(root, path, rustix::fs::AtFlags::empty()).map_err(io::Error::from)
    });
    match st {
        Ok(st) if st.st_nlink == 0 => DirState::Gone,
        Ok(_) => DirState::Exists,
        Err(_) => DirState::Unknown,
    }
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

/// How much of `/proc/PID/environ` is read: all of it. The kernel caps a
/// process's arguments and environment together at a quarter of its stack
/// limit, and never above 6 MiB (3/4 of the 8 MiB `_STK_LIM`, Linux 4.13 and
/// later; `ARG_MAX` is 2 MiB with the usual 8 MiB stack), so 8 MiB is more
/// than any environment can be; a process whose stack limit differs from
/// ours may have a larger `ARG_MAX` than our `sysconf(_SC_ARG_MAX)`, which is
/// why this is not ours. Only the file's actual size is ever allocated.
pub(crate) const ENVIRON_LIMIT: usize = 8 << 20;

/// One variable of `pid`'s initial environment, byte for byte, if readable.
/// The whole environment is scanned (up to [`ENVIRON_LIMIT`], above what the
/// kernel allows), however far into it the variable sits.
pub(crate) fn read_environ_var(pid: u32, name: &str) -> Option<OsString> {
    let mut raw = Vec::new();
    read_pid_file(pid, "environ", Ends::AtShortRead, ENVIRON_LIMIT, &mut raw).ok()?;
    raw.split(|&b| b == 0).find_map(|kv| {
        let rest = kv.strip_prefix(name.as_bytes())?.strip_prefix(b"=")?;
        Some(OsString::from_vec(rest.to_vec()))
    })
}

pub(crate) fn list_pids() -> io::Result<Vec<u32>> {
    let dir = rustix::fs::Dir::read_from(proc_root()?)?;
    Ok(dir
        .filter_map(|e| {
            std::str::from_utf8(e.ok()?.file_name().to_bytes())
                .ok()?
                .parse()
                .ok()
        })
        .collect())
}

/// The numeric names in the directory `/proc/PID/NAME` (`fd`, `task`), with
/// the directory itself, to open them relative to.
fn pid_dir_entries(pid: u32, name: &str) -> io::Result<(rustix::fs::Dir, Vec<CString>)> {
    let fd = open_pid_file(pid, name, OFlags::RDONLY | OFlags::DIRECTORY)?;
    let mut dir = rustix::fs::Dir::new(fd)?;
    let mut names = Vec::new();
    while let Some(entry) = dir.read() {
        let Ok(entry) = entry else { break };
        if entry
            .file_name()
            .to_bytes()
            .first()
            .is_some_and(u8::is_ascii_digit)
        {
            names.push(entry.file_name().to_owned());
        }
    }
    Ok((dir, names))
}

/// Whether this kernel has `/proc/PID/task/TID/children` (CONFIG_PROC_CHILDREN).
fn has_children_files() -> bool {
    static HAS: OnceLock<bool> = OnceLock::new();
    *HAS.get_or_init(|| {
        let me = std::process::id();
        Path::new(&format!("/proc/{me}/task/{me}/children")).exists()
    })
}

/// The direct children of `pid`: the union of its threads' `children` files
/// (a thread whose file cannot be read, e.g. it just exited, adds nothing).
fn read_children(pid: u32) -> Vec<u32> {
    let Ok((_, tids)) = pid_dir_entries(pid, "task") else {
        return Vec::new();
    };
    let mut buf = Vec::new();
    let mut out = Vec::new();
    for tid in tids {
        let name = format!("task/{}/children", tid.to_string_lossy());
        if read_pid_file(pid, &name, Ends::AtZero, usize::MAX, &mut buf).is_ok() {
            out.extend(
                buf.split(u8::is_ascii_whitespace)
                    .filter_map(|p| std::str::from_utf8(p).ok()?.parse::<u32>().ok()),
            );
        }
    }
    out
}

/// The children of `pid` (every thread's), or `None` when this kernel
/// cannot list a process's children directly (no `/proc/PID/task/TID/children`):
/// then only a scan of every process finds them.
pub fn children_of(pid: u32) -> Option<Vec<u32>> {
    has_children_files().then(|| read_children(pid))
}

/// `socket:[12345]` -> 12345.
fn parse_socket_link(link: &[u8]) -> Option<u64> {
    let inner = link.strip_prefix(b"socket:[")?.strip_suffix(b"]")?;
    std::str::from_utf8(inner).ok()?.parse().ok()
}

/// Calls `each` with the inode of every socket `pid` holds open (nothing
/// when unreadable). One open of `/proc/PID/fd`, one `readlinkat` per fd.
fn each_socket_inode(pid: u32, link: &mut [u8], each: &mut dyn FnMut(u64)) {
    let Ok((dir, fds)) = pid_dir_entries(pid, "fd") else {
        return;
    };
    let Ok(dir) = dir.fd() else { return };
    for fd in fds {
        // A socket's link is short ("socket:[N]"); a longer target is cut
        // short here and is no socket anyway (it starts with '/').
        if let Ok(n) = rustix::fs::readlinkat_raw(dir, fd.as_c_str(), &mut *link)
            && let Some(ino) = parse_socket_link(&link[..n])
        {
            each(ino);
        }
    }
}

/// The inodes of the sockets `pid` holds open (empty when unreadable).
pub(crate) fn socket_inodes(pid: u32) -> Vec<u64> {
    let mut link = [0u8; 64];
    let mut out = Vec::new();
    each_socket_inode(pid, &mut link, &mut |ino| out.push(ino));
    out
}

/// Which of `pids` hold which of the sockets `inodes`: each pid's `fd`
/// directory is read in turn (spread over the CPUs, in the order given),
/// and the scan ends once every socket has a holder (`all_holders`: only
/// after the last pid). Returns `(inode, pid)` pairs, in the order of `pids`.
pub(crate) fn find_socket_holders(
    pids: &[u32],
    inodes: &std::collections::HashSet<u64>,
    all_holders: bool,
) -> Vec<(u64, u32)> {
    if inodes.is_empty() {
        return Vec::new();
    }
    let stop = AtomicBool::new(false);
    let found = std::sync::Mutex::new(std::collections::HashSet::new());
    let order: std::collections::HashMap<u32, usize> =
        pids.iter().enumerate().map(|(i, &p)| (p, i)).collect();
    let mut out = on_all_cpus(pids, &stop, &|&pid, _buf, out| {
        let mut link = [0u8; 64];
        let mut mine = Vec::new();
        each_socket_inode(pid, &mut link, &mut |ino| {
            if inodes.contains(&ino) {
                mine.push(ino);
            }
        });
        if mine.is_empty() {
            return;
        }
        if !all_holders {
            let mut seen = found.lock().unwrap_or_else(|e| e.into_inner());
            seen.extend(mine.iter().copied());
            if seen.len() >= inodes.len() {
                stop.store(true, Ordering::Relaxed);
            }
        }
        out.extend(mine.into_iter().map(|ino| (ino, pid)));
    });
    out.sort_by_key(|&(_, pid)| order.get(&pid).copied().unwrap_or(usize::MAX));
    out
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

/// What is at `path` in our root, asked of the file system: a name is
/// taken as it is spelled, so a directory really named `x (deleted)` exists.
/// (Whether a process's working directory was removed is [`cwd_state`]'s
/// question, asked of the directory, not of how `/proc` spells it.)
pub(crate) fn dir_state(path: &OsStr) -> DirState {
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
        assert_eq!(s.flags, 4194560);
        assert!(!s.is_kernel_thread() && !s.is_exiting());
        // kthreadd's own line: PF_KTHREAD (0x200000) among its flags.
        let kthreadd = b"2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0 0 0 0 0 20 0 1 0 1 0 0";
        assert!(parse_stat(kthreadd).expect("parses").is_kernel_thread());
        assert!(parse_stat(b"garbage").is_none());
    }

    #[test]
    fn cmdline_keeps_bytes_and_empty_arguments() {
        let args = crate::os::split_cmdline(b"python\0-c\0\0x\xff\0");
        assert_eq!(
            args,
            [
                OsString::from("python"),
                "-c".into(),
                "".into(),
                OsString::from_vec(b"x\xff".to_vec())
            ]
        );
        assert!(crate::os::split_cmdline(b"").is_empty());
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
        // A name is taken as spelled: only /proc's own links carry the suffix.
        let tmp = tempfile::tempdir().expect("tmp");
        let odd = tmp.path().join("proj (deleted)");
        fs::create_dir(&odd).expect("mkdir");
        assert_eq!(dir_state(odd.as_os_str()), DirState::Exists);
        assert_eq!(cwd_state(std::process::id()), DirState::Exists);
    }

    #[test]
    fn a_scan_sees_every_process_once_and_ourselves_as_a_read_does() {
        let me = std::process::id();
        let all = scan_pid_files("cmdline", &|pid, raw| Some((pid, raw.to_vec())));
        assert!(
            all.windows(2).all(|w| w[0].0 < w[1].0),
            "sorted, no repeats"
        );
        let mine = all.iter().find(|(p, _)| *p == me).expect("ourselves");
        assert_eq!(
            crate::os::split_cmdline(&mine.1.1),
            read_cmdline(me).expect("cmdline")
        );
        let stats = scan_pid_files("stat", &|_, raw| parse_stat(raw));
        assert!(
            stats
                .iter()
                .any(|(p, st)| *p == me
                    && st.start_ticks == read_stat(me).expect("stat").start_ticks)
        );
        assert!(stats.len() + 16 >= all.len() && all.len() + 16 >= stats.len());
    }

    #[test]
    fn a_long_file_is_read_whole() {
        let mut buf = Vec::with_capacity(16);
        read_pid_file(
            std::process::id(),
            "status",
            Ends::AtZero,
            usize::MAX,
            &mut buf,
        )
        .expect("status");
        let small = read_small(std::process::id(), "status", Ends::AtShortRead).expect("status");
        assert!(buf.starts_with(b"Name:") && small.starts_with(b"Name:"));
        assert!(String::from_utf8_lossy(&small).contains("\nUid:"));
        let mut cut = Vec::new();
        read_pid_file(std::process::id(), "status", Ends::AtZero, 10, &mut cut).expect("status");
        assert_eq!(cut.len(), 10);
    }

    #[test]
    fn a_variable_past_the_first_mebibyte_of_the_environment_is_found() {
        use std::process::{Command, Stdio};
        // std sorts the environment by name when it changes it: the pads
        // (`A...`) come before the variable (`KITTY_...`).
        let mut cmd = Command::new("sleep");
        cmd.arg("30").stdin(Stdio::null()).env_clear();
        for i in 0..12 {
            cmd.env(format!("A_PAD_{i:02}"), "x".repeat(100 * 1024));
        }
        cmd.env("KITTY_ENV_PROBE", "found");
        let mut child = cmd.spawn().expect("sleep");
        let pid = child.id();
        let found = read_environ_var(pid, "KITTY_ENV_PROBE");
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(found.as_deref(), Some(OsStr::new("found")));
    }

    #[test]
    fn the_holder_of_a_socket_is_found_and_the_scan_ends_there() {
        use std::collections::HashSet;
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let me = std::process::id();
        let mine: HashSet<u64> = socket_inodes(me).into_iter().collect();
        assert!(!mine.is_empty(), "our listener is a socket we hold");
        let mut pids = list_pids().expect("pids");
        pids.sort_unstable();
        let found = find_socket_holders(&pids, &mine, false);
        assert!(
            found
                .iter()
                .all(|&(ino, pid)| pid == me && mine.contains(&ino))
        );
        assert_eq!(
            found.iter().map(|&(i, _)| i).collect::<HashSet<_>>(),
            mine,
            "every socket has its holder"
        );
        assert!(find_socket_holders(&pids, &HashSet::from([u64::MAX]), true).is_empty());
        drop(l);
    }
}
