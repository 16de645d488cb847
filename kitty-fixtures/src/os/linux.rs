//! Linux: netlink `sock_diag`, `/proc`, pidfds, prctl, signalfd, namespaces.

use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::{self, Read};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal};

use crate::probe::Listener;

/// How long one netlink dump may take before it is an error (a dump of a
/// few hundred sockets takes well under a millisecond).
const NETLINK_TIMEOUT: Duration = Duration::from_secs(2);

/// Every listening TCP socket (IPv4 and IPv6) of this network namespace
/// whose port passes `keep`.
///
/// Netlink `sock_diag` first (about 0.07 ms whatever the process count);
/// `/proc/net/tcp{,6}` when netlink is not allowed (some sandboxes).
pub(crate) fn listening_sockets(keep: &dyn Fn(u16) -> bool) -> io::Result<Vec<Listener>> {
    match netlink_listeners(keep) {
        Ok(list) => Ok(list),
        Err(_) => proc_net_listeners(keep),
    }
}

const SOCK_DIAG_BY_FAMILY: u16 = 20;
const TCP_LISTEN: u32 = 10;
const NLMSG_HDR: usize = 16;
const INET_DIAG_REQ_V2: usize = 56;
const INET_DIAG_MSG: usize = 72;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_DUMP: u16 = 0x300;
const AF_INET: u8 = 2;
const AF_INET6: u8 = 10;
const IPPROTO_TCP: u8 = 6;

fn netlink_listeners(keep: &dyn Fn(u16) -> bool) -> io::Result<Vec<Listener>> {
    use rustix::net::{
        AddressFamily, RecvFlags, SendFlags, SocketFlags, SocketType, netlink, recv, send,
        socket_with, sockopt,
    };
    let fd = socket_with(
        AddressFamily::NETLINK,
        SocketType::DGRAM,
        SocketFlags::CLOEXEC,
        Some(netlink::SOCK_DIAG),
    )?;
    // A kernel that never answers must not hang a drop or a report.
    sockopt::set_socket_timeout(&fd, sockopt::Timeout::Recv, Some(NETLINK_TIMEOUT))?;
    let mut out = Vec::new();
    for family in [AF_INET, AF_INET6] {
        let mut req = [0u8; NLMSG_HDR + INET_DIAG_REQ_V2];
        let len = req.len() as u32;
        req[0..4].copy_from_slice(&len.to_ne_bytes());
        req[4..6].copy_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
        req[6..8].copy_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
        req[8..12].copy_from_slice(&1u32.to_ne_bytes());
        let body = &mut req[NLMSG_HDR..];
        body[0] = family;
        body[1] = IPPROTO_TCP;
        body[4..8].copy_from_slice(&(1u32 << TCP_LISTEN).to_ne_bytes());
        send(&fd, &req, SendFlags::empty())?;
        let deadline = Instant::now() + NETLINK_TIMEOUT;
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            let n = match recv(&fd, &mut buf[..], RecvFlags::empty()) {
                Ok((n, _)) => n,
                Err(rustix::io::Errno::INTR) if Instant::now() < deadline => continue,
                Err(e) => return Err(e.into()),
            };
            if parse_dump(&buf[..n], family, keep, &mut out)? {
                break;
            }
        }
    }
    Ok(out)
}

/// Parses one datagram of a sock_diag dump into `out`; `Ok(true)` at its end.
fn parse_dump(
    mut rest: &[u8],
    family: u8,
    keep: &dyn Fn(u16) -> bool,
    out: &mut Vec<Listener>,
) -> io::Result<bool> {
    let short = || io::Error::new(io::ErrorKind::InvalidData, "short netlink message");
    let u32_at = |b: &[u8], at: usize| -> Option<u32> {
        Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
    };
    while rest.len() >= NLMSG_HDR {
        let len = u32_at(rest, 0).ok_or_else(short)? as usize;
        let kind = u16::from_ne_bytes([rest[4], rest[5]]);
        if len < NLMSG_HDR || len > rest.len() {
            return Err(short());
        }
        match kind {
            NLMSG_DONE => return Ok(true),
            NLMSG_ERROR => {
                let code = u32_at(rest, NLMSG_HDR).map_or(-22, |c| c as i32);
                return Err(io::Error::from_raw_os_error(-code));
            }
            _ => {
                let msg = &rest[NLMSG_HDR..len];
                if msg.len() >= INET_DIAG_MSG {
                    let port = u16::from_be_bytes([msg[4], msg[5]]);
                    if keep(port) {
                        let addr = if family == AF_INET {
                            IpAddr::V4(Ipv4Addr::new(msg[8], msg[9], msg[10], msg[11]))
                        } else {
                            let mut a = [0u8; 16];
                            a.copy_from_slice(&msg[8..24]);
                            IpAddr::V6(Ipv6Addr::from(a))
                        };
                        out.push(Listener {
                            port,
                            addr,
                            uid: u32_at(msg, 64).ok_or_else(short)?,
                            inode: u64::from(u32_at(msg, 68).ok_or_else(short)?),
                        });
                    }
                }
            }
        }
        let aligned = (len + 3) & !3;
        rest = rest.get(aligned..).unwrap_or(&[]);
    }
    Ok(false)
}

fn proc_net_listeners(keep: &dyn Fn(u16) -> bool) -> io::Result<Vec<Listener>> {
    let mut out = Vec::new();
    for (file, v6) in [("/proc/net/tcp", false), ("/proc/net/tcp6", true)] {
        let text = match fs::read_to_string(file) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        out.extend(
            text.lines()
                .skip(1)
                .filter_map(|l| parse_proc_net_line(l, v6, keep)),
        );
    }
    Ok(out)
}

fn parse_proc_net_line(line: &str, v6: bool, keep: &dyn Fn(u16) -> bool) -> Option<Listener> {
    let f: Vec<&str> = line.split_whitespace().collect();
    if f.get(3)? != &"0A" {
        return None;
    }
    let (addr_hex, port_hex) = f.get(1)?.split_once(':')?;
    let port = u16::from_str_radix(port_hex, 16).ok()?;
    if !keep(port) {
        return None;
    }
    let addr = if v6 {
        let mut a = [0u8; 16];
        for (i, chunk) in a.chunks_mut(4).enumerate() {
            let word = u32::from_str_radix(addr_hex.get(i * 8..i * 8 + 8)?, 16).ok()?;
            chunk.copy_from_slice(&word.to_ne_bytes());
        }
        IpAddr::V6(Ipv6Addr::from(a))
    } else {
        IpAddr::V4(Ipv4Addr::from(
            u32::from_str_radix(addr_hex, 16).ok()?.to_ne_bytes(),
        ))
    };
    Some(Listener {
        port,
        addr,
        uid: f.get(7)?.parse().ok()?,
        inode: f.get(9)?.parse().ok()?,
    })
}

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

fn pid_of(raw: u32) -> io::Result<Pid> {
    i32::try_from(raw)
        .ok()
        .and_then(Pid::from_raw)
        .ok_or_else(|| io::Error::from_raw_os_error(rustix::io::Errno::SRCH.raw_os_error()))
}

/// The result of signalling a group through a pidfd.
#[derive(Debug)]
pub(crate) enum GroupSignal {
    /// Sent (or the group was already gone).
    Sent,
    /// This kernel has no `PIDFD_SIGNAL_PROCESS_GROUP` (before Linux 6.9).
    Unsupported,
}

/// A pidfd: a handle on one process. Signals sent through it reach that
/// process or nobody, even if its pid is reused after it is reaped.
#[derive(Debug)]
pub(crate) struct Pidfd(OwnedFd);

impl Pidfd {
    /// `Ok(None)` when no such process exists.
    pub(crate) fn open(pid: u32) -> io::Result<Option<Self>> {
        let Ok(p) = pid_of(pid) else {
            return Ok(None);
        };
        match rustix::process::pidfd_open(p, rustix::process::PidfdFlags::empty()) {
            Ok(fd) => Ok(Some(Pidfd(fd))),
            Err(rustix::io::Errno::SRCH) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Sends `sig` to exactly the process this pidfd names.
    pub(crate) fn send_signal(&self, sig: Signal) -> io::Result<()> {
        rustix::process::pidfd_send_signal(&self.0, sig).map_err(Into::into)
    }

    /// Sends `sig` to the process group of the process this pidfd names
    /// (`PIDFD_SIGNAL_PROCESS_GROUP`, Linux 6.9+): no group id that could be
    /// reused stands between the check and the signal.
    pub(crate) fn send_group_signal(&self, sig: Signal) -> io::Result<GroupSignal> {
        const PIDFD_SIGNAL_PROCESS_GROUP: libc::c_uint = 1 << 2;
        // rustix's pidfd_send_signal takes no flags.
        // SAFETY: a valid pidfd we own, a valid signal number, a NULL siginfo
        // (allowed: the kernel then fills it in as kill(2) would) and a flag
        // the kernel checks; the call reads no memory of ours.
        let r = unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                self.0.as_raw_fd(),
                sig.as_raw(),
                std::ptr::null::<libc::siginfo_t>(),
                PIDFD_SIGNAL_PROCESS_GROUP,
            )
        };
        if r == 0 {
            return Ok(GroupSignal::Sent);
        }
        let err = io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::EINVAL) => Ok(GroupSignal::Unsupported),
            _ => Err(err),
        }
    }

    /// Waits until the process has exited (zombie or reaped) or `timeout`
    /// passes. Returns whether it exited. Event-driven: poll(2) on the pidfd.
    pub(crate) fn wait_exit(&self, timeout: Duration) -> bool {
        use rustix::event::{PollFd, PollFlags, Timespec, poll};
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let ts = Timespec {
                tv_sec: left.as_secs() as i64,
                tv_nsec: i64::from(left.subsec_nanos()),
            };
            let mut fds = [PollFd::new(&self.0, PollFlags::IN)];
            match poll(&mut fds, Some(&ts)) {
                Ok(n) if n > 0 => return true,
                Ok(_) => return false,
                Err(rustix::io::Errno::INTR) => continue,
                Err(_) => return false,
            }
        }
    }
}

impl AsFd for Pidfd {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.0.as_fd()
    }
}

/// `killpg(pgid, sig)`: the fallback where pidfds cannot signal groups.
pub(crate) fn signal_group(pgid: u32, sig: Signal) -> io::Result<()> {
    rustix::process::kill_process_group(pid_of(pgid)?, sig).map_err(Into::into)
}

/// Whether any process (zombies included) is in process group `pgid`:
/// `kill(-pgid, 0)`, one syscall.
pub(crate) fn group_exists(pgid: u32) -> bool {
    let Ok(p) = pid_of(pgid) else {
        return false;
    };
    match rustix::process::test_kill_process_group(p) {
        Ok(()) => true,
        Err(e) => e == rustix::io::Errno::PERM,
    }
}

/// Reaps `pid` if it is our exited child; returns how it ended.
pub fn reap_if_child(pid: u32) -> Option<ExitStatus> {
    use rustix::process::{WaitOptions, waitpid};
    let p = pid_of(pid).ok()?;
    match waitpid(Some(p), WaitOptions::NOHANG) {
        Ok(Some((_, status))) => Some(ExitStatus::from_raw(status.as_raw())),
        _ => None,
    }
}

/// Reaps `pid` (our child), waiting for it.
pub fn wait_child(pid: u32) -> io::Result<ExitStatus> {
    use rustix::process::{WaitOptions, waitpid};
    let p = pid_of(pid)?;
    loop {
        match waitpid(Some(p), WaitOptions::empty()) {
            Ok(Some((_, status))) => return Ok(ExitStatus::from_raw(status.as_raw())),
            Ok(None) => continue,
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// In a freshly forked child (async-signal-safe: system calls only): start
/// with no signal blocked (a mask is inherited through exec, and whoever
/// started us may have blocked SIGTERM), lead a new session (as spec-kitty
/// starts its dashboards), die with SIGKILL when the spawning thread dies,
/// and bail out if that already happened.
fn detach_and_die_with_parent(parent: u32) -> io::Result<()> {
    unblock_all_signals()?;
    rustix::process::setsid()?;
    rustix::process::set_parent_process_death_signal(Some(Signal::KILL))?;
    let ppid = rustix::process::getppid().map(|p| p.as_raw_nonzero().get());
    if ppid != i32::try_from(parent).ok() {
        // No allocation after fork: a plain errno.
        return Err(io::Error::from_raw_os_error(libc::ESRCH));
    }
    Ok(())
}

/// Makes this process a child subreaper: orphaned descendants are re-parented to it.
pub fn become_child_subreaper() -> io::Result<()> {
    rustix::process::set_child_subreaper(Some(rustix::process::getpid())).map_err(Into::into)
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
        Err(e) => match e.raw_os_error() {
            Some(libc::ENOENT) | Some(libc::ENOTDIR) => DirState::Gone,
            _ => DirState::Unknown,
        },
    }
}

/// Runs `cmd` (stdout piped) and returns its stdout when it exits within
/// `limit`; kills and reaps it and returns `None` otherwise. Waits on a pidfd
/// (an event), not by polling.
pub fn output_within(cmd: &mut std::process::Command, limit: Duration) -> Option<Vec<u8>> {
    // A blocked SIGCHLD would hang a shell that waits (an interpreter shim).
    let mut child = with_no_signal_blocked(cmd).spawn().ok()?;
    let exited = match Pidfd::open(child.id()) {
        Ok(Some(fd)) => fd.wait_exit(limit),
        // Already reaped cannot be (we have not waited): it exited.
        _ => true,
    };
    if !exited {
        let _ = child.kill();
        let _ = child.wait();
        return None;
    }
    let mut out = Vec::new();
    if let Some(mut stdout) = child.stdout.take() {
        // A grandchild may still hold the pipe: take what is there, never block.
        let _ = rustix::fs::fcntl_setfl(&stdout, rustix::fs::OFlags::NONBLOCK);
        let _ = stdout.read_to_end(&mut out);
    }
    let status = child.wait().ok()?;
    status.success().then_some(out)
}

/// `bytes` random bytes from the kernel, as lowercase hex digits.
pub fn random_hex(bytes: usize) -> io::Result<String> {
    let mut buf = vec![0u8; bytes];
    let mut filled = 0;
    while filled < bytes {
        match rustix::rand::getrandom(&mut buf[filled..], rustix::rand::GetRandomFlags::empty()) {
            Ok(n) => filled += n,
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

/// How [`reap_any_child`] found our children.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reaped {
    /// This child exited, and is reaped now.
    Child(u32, ExitStatus),
    /// Children are alive, none has exited.
    NoneExited,
    /// No child at all.
    NoChildren,
}

/// `waitpid(-1, WNOHANG)`: reaps one exited child, if any.
pub fn reap_any_child() -> io::Result<Reaped> {
    use rustix::process::{WaitOptions, wait};
    loop {
        return match wait(WaitOptions::NOHANG) {
            Ok(Some((pid, status))) => Ok(Reaped::Child(
                pid.as_raw_nonzero().get() as u32,
                ExitStatus::from_raw(status.as_raw()),
            )),
            Ok(None) => Ok(Reaped::NoneExited),
            Err(rustix::io::Errno::CHILD) => Ok(Reaped::NoChildren),
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => Err(e.into()),
        };
    }
}

/// The process group of this process.
pub fn own_process_group() -> u32 {
    rustix::process::getpgrp().as_raw_nonzero().get() as u32
}

/// Sends `sig` to `pid` through a pidfd (so a reused pid is never hit);
/// `Ok(false)` when it is gone. For signals passed on, not for stopping
/// anything: that is [`crate::probe::stop_process_group`]'s alone.
pub fn forward_signal(pid: u32, sig: Signal) -> io::Result<bool> {
    match Pidfd::open(pid)? {
        Some(fd) => match fd.send_signal(sig) {
            Ok(()) => Ok(true),
            Err(e) if e.raw_os_error() == Some(rustix::io::Errno::SRCH.raw_os_error()) => Ok(false),
            Err(e) => Err(e),
        },
        None => Ok(false),
    }
}

/// A signal read from a [`SignalInbox`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arrived {
    /// Which.
    pub signal: Signal,
    /// Sent by a process (`kill`, `si_code` SI_USER or SI_QUEUE), rather than
    /// by the kernel (a terminal's Ctrl+C, a child's exit).
    pub from_a_process: bool,
    /// The sender's pid, when a process sent it.
    pub sender: u32,
}

/// SIGINT, SIGTERM, SIGHUP and SIGCHLD, received as data from a `signalfd`
/// instead of by handlers: they are blocked for this process, so none of them
/// ends it, and the wait loop reads them when they come, one poll away. A
/// blocked mask is inherited through fork and exec (and some shells hand the
/// mask they started with to their background jobs): spawn children with
/// [`SignalInbox::unblocked`]. Open it while the process is single-threaded
/// (the mask is the calling thread's, inherited by threads made after).
#[derive(Debug)]
pub struct SignalInbox {
    fd: nix::sys::signalfd::SignalFd,
}

impl SignalInbox {
    /// The signals an inbox takes.
    pub const SIGNALS: [Signal; 4] = [Signal::INT, Signal::TERM, Signal::HUP, Signal::CHILD];

    /// Blocks [`SignalInbox::SIGNALS`] and opens the signalfd for them.
    pub fn open() -> io::Result<Self> {
        use nix::sys::signal::{SigSet, SigmaskHow, Signal as N, sigprocmask};
        use nix::sys::signalfd::{SfdFlags, SignalFd};
        let mut set = SigSet::empty();
        for sig in [N::SIGINT, N::SIGTERM, N::SIGHUP, N::SIGCHLD] {
            set.add(sig);
        }
        sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), None).map_err(io::Error::from)?;
        let fd = SignalFd::with_flags(&set, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
            .map_err(io::Error::from)?;
        Ok(SignalInbox { fd })
    }

    /// Makes `cmd`'s child start with no signal blocked, as if this process
    /// had never blocked any.
    pub fn unblocked(cmd: &mut std::process::Command) -> &mut std::process::Command {
        with_no_signal_blocked(cmd)
    }

    /// Waits until at least one signal is there, or `limit` passes (`None`:
    /// no limit), and returns those that came, oldest first.
    pub fn wait(&self, limit: Option<Duration>) -> io::Result<Vec<Arrived>> {
        use rustix::event::{PollFd, PollFlags, Timespec, poll};
        let ts = limit.map(|l| Timespec {
            tv_sec: l.as_secs() as i64,
            tv_nsec: i64::from(l.subsec_nanos()),
        });
        let mut fds = [PollFd::new(&self.fd, PollFlags::IN)];
        match poll(&mut fds, ts.as_ref()) {
            Ok(_) | Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
        let mut out = Vec::new();
        while let Some(info) = self.fd.read_signal().map_err(io::Error::from)? {
            let Some(signal) = Signal::from_named_raw(info.ssi_signo as i32) else {
                continue;
            };
            let code = info.ssi_code;
            out.push(Arrived {
                signal,
                from_a_process: code == libc::SI_USER || code == libc::SI_QUEUE,
                sender: info.ssi_pid,
            });
        }
        Ok(out)
    }
}

/// The name of signal `sig` (`SIGINT`), or `signal N`.
pub fn signal_name(sig: i32) -> String {
    nix::sys::signal::Signal::try_from(sig)
        .map(|s| s.as_str().to_string())
        .unwrap_or_else(|_| format!("signal {sig}"))
}

/// Ends this process with `sig`, the way a child ended, so that whoever waits
/// for us sees that signal (with no core dump of our own): its disposition
/// back to the default, unblocked, then sent to ourselves. Returns only if
/// the signal did not end us.
pub fn end_with_signal(sig: i32) {
    use nix::sys::signal::{SigHandler, SigSet, SigmaskHow, sigprocmask};
    let Ok(nix_sig) = nix::sys::signal::Signal::try_from(sig) else {
        return;
    };
    let _ = rustix::process::setrlimit(
        rustix::process::Resource::Core,
        rustix::process::Rlimit {
            current: Some(0),
            maximum: None,
        },
    );
    // SAFETY: SIG_DFL installs no handler of ours: nothing runs in signal
    // context. std ignores SIGPIPE at start, so this is what lets SIGPIPE end us.
    unsafe {
        let _ = nix::sys::signal::signal(nix_sig, SigHandler::SigDfl);
    }
    let mut set = SigSet::empty();
    set.add(nix_sig);
    let _ = sigprocmask(SigmaskHow::SIG_UNBLOCK, Some(&set), None);
    if let Some(s) = Signal::from_named_raw(sig) {
        let _ = rustix::process::kill_process(rustix::process::getpid(), s);
    }
}

/// Sets an empty signal mask (sigprocmask(2): async-signal-safe, no allocation).
fn unblock_all_signals() -> io::Result<()> {
    use nix::sys::signal::{SigSet, SigmaskHow, sigprocmask};
    sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None).map_err(io::Error::from)
}

/// Makes `cmd`'s child start with no signal blocked.
pub(crate) fn with_no_signal_blocked(
    cmd: &mut std::process::Command,
) -> &mut std::process::Command {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs between fork and exec and only calls
    // sigprocmask(2), which is async-signal-safe; it allocates nothing (an
    // empty SigSet lives on the stack).
    unsafe { cmd.pre_exec(unblock_all_signals) }
}

/// Registers `hook` to run at `exit(3)` (normal exit, `std::process::exit`,
/// the end of `main`), in the process that registers it.
pub(crate) fn at_exit(hook: extern "C" fn()) {
    // SAFETY: atexit(3) takes a plain `extern "C" fn()` and keeps it for the
    // life of the process; `hook` is a Rust fn item, valid for ever.
    unsafe {
        libc::atexit(hook);
    }
}

/// Makes `cmd`'s child lead a session of its own and die with SIGKILL when
/// the thread that spawns it ends (see [`detach_and_die_with_parent`]).
pub(crate) fn spawn_detached_dying_with(cmd: &mut std::process::Command, parent: u32) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs between fork and exec; it only makes raw
    // system calls (setsid, prctl, getppid), which are async-signal-safe, and
    // allocates nothing.
    unsafe {
        cmd.pre_exec(move || detach_and_die_with_parent(parent));
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
    fn proc_net_line() {
        let l = "   1: 0100007F:2415 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 123456 1 0000000000000000 100 0 0 10 0";
        let got = parse_proc_net_line(l, false, &|p| p == 9237).expect("listener");
        assert_eq!(got.port, 9237);
        assert_eq!(got.addr, IpAddr::V4(Ipv4Addr::LOCALHOST));
        assert_eq!(got.inode, 123456);
        assert!(parse_proc_net_line(l, false, &|p| p == 1).is_none());
    }

    #[test]
    fn netlink_sees_a_listener_we_open() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = l.local_addr().expect("addr").port();
        let found = netlink_listeners(&|p| p == port).expect("netlink");
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(socket_inodes(std::process::id()).contains(&found[0].inode));
        let via_proc = proc_net_listeners(&|p| p == port).expect("proc");
        assert_eq!(via_proc, found);
    }

    #[test]
    fn dir_states() {
        assert_eq!(dir_state(OsStr::new("/")), DirState::Exists);
        assert_eq!(dir_state(OsStr::new("/nonexistent-kitty")), DirState::Gone);
        assert_eq!(dir_state(OsStr::new("/tmp (deleted)")), DirState::Gone);
    }
}
