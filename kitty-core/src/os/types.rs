//! The plain data the seam's operations return, the same on every target:
//! what each platform file fills in, and what the code above reads.

use std::io;
use std::net::IpAddr;
use std::process::ExitStatus;

use super::Signal;

/// Why a directory cannot be used as a private one.
#[derive(Debug)]
#[cfg_attr(not(target_os = "linux"), allow(dead_code))] // built by linux/ only
pub enum PrivateDirError {
    /// It is not ours alone: the reason, for a person.
    NotPrivate(String),
    /// It could not be created, opened or checked.
    Io(io::Error),
}

/// Why [`read_bounded`](super::read_bounded) refused a file or could not read it. Each message is
/// one line, for a person, and says what the file is instead.
#[derive(Debug, thiserror::Error)]
pub enum BoundedReadError {
    /// There is nothing at the path.
    #[error("it does not exist")]
    Missing,
    /// It is a symlink, and this file may not be one.
    #[error("it is a symlink (refused: a file of ours is never read through one)")]
    Symlink,
    /// It is something other than a regular file: a FIFO, a device, a
    /// directory, a socket.
    #[error("it is not a regular file but a {0}")]
    NotRegular(&'static str),
    /// It is larger than the cap.
    #[error("it is larger than {limit} bytes (the cap on this kind of file)")]
    TooLarge {
        /// The cap.
        limit: u64,
    },
    /// Opening or reading it failed.
    #[error("{0}")]
    Io(#[from] io::Error),
}

/// Whether [`read_bounded`](super::read_bounded) follows a symlink at the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Symlinks {
    /// Follow one (a path the user named, such as `baseline-latest.json`,
    /// which is one on purpose); what it points at is checked all the same.
    Follow,
    /// Refuse one (`O_NOFOLLOW`): a file of ours.
    Refuse,
}

/// The fields of a process's status that identify and place it (on Linux,
/// `/proc/PID/stat`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    /// The scheduler state (`R`, `S`, `Z`...).
    pub state: char,
    /// The parent's pid.
    pub ppid: u32,
    /// The process group.
    pub pgid: u32,
    /// The session.
    pub sid: u32,
    /// Start time in clock ticks since boot: with the pid, it names one process.
    pub start_ticks: u64,
    /// The kernel's flags for the task (`PF_*`; on Linux field 9 of `stat`).
    pub flags: u32,
}

impl Stat {
    /// A kernel thread: it has no command line, ever.
    pub fn is_kernel_thread(&self) -> bool {
        self.flags & PF_KTHREAD != 0
    }
    /// The task is exiting: its memory (and with it its command line and
    /// environment) may already be gone, before it turns into a zombie.
    pub fn is_exiting(&self) -> bool {
        self.flags & PF_EXITING != 0
    }
}

/// `PF_EXITING` of `include/linux/sched.h`: getting shut down.
const PF_EXITING: u32 = 0x0000_0004;
/// `PF_KTHREAD` of `include/linux/sched.h`: a kernel thread.
const PF_KTHREAD: u32 = 0x0020_0000;

/// The namespaces a process lives in, as the inode numbers of
/// `/proc/PID/ns/{pid,mnt,net}`, and its root directory (device and inode of
/// what `/proc/PID/root` leads to). Two processes share a namespace exactly
/// when these numbers are equal; two processes in one mount namespace mean
/// the same by a path only when their roots are equal too (a chroot shares
/// every namespace with us).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Namespaces {
    /// The pid namespace's inode.
    pub pid: u64,
    /// The mount namespace's inode.
    pub mnt: u64,
    /// The network namespace's inode.
    pub net: u64,
    /// `(st_dev, st_ino)` of the process's root directory.
    pub root: (u64, u64),
}

/// What a path read from a process says about a directory in our mount
/// namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(not(target_os = "linux"), allow(dead_code))] // built by linux/ only
pub enum DirState {
    /// It is a directory.
    Exists,
    /// Nothing is there, or it is not a directory.
    Gone,
    /// It could not be looked at (permission): neither proof of life nor of death.
    Unknown,
}

/// One listening TCP socket, as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListeningSocket {
    /// The local port.
    pub port: u16,
    /// The local address.
    pub addr: IpAddr,
    /// The socket's inode.
    pub inode: u64,
    /// The uid that created the socket.
    pub uid: u32,
}

/// How [`reap_any_child`](super::reap_any_child) found our children.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reaped {
    /// This child exited, and is reaped now.
    Child(u32, ExitStatus),
    /// Children are alive, none has exited.
    NoneExited,
    /// No child at all.
    NoChildren,
}

/// A signal read from a [`SignalInbox`](super::SignalInbox).
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
