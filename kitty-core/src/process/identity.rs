//! Who a process is: [`ProcessIdentity`], read from `/proc`, and the process tree.
//!
//! Why one file of over 500 lines: the identity and the tree are one fact (who
//! a process is, and whose child); about 100 lines are tests.

use std::collections::{HashMap, HashSet};
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::os as sys;
use crate::token::mask_tokens;

/// A namespace that two processes may or may not share.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum Namespace {
    /// The pid namespace: pids in a `.kittify/.dashboard` written there mean
    /// nothing here.
    Pid,
    /// The mount namespace: its project directory may exist only there.
    Mnt,
    /// The network namespace: its ports are not ours.
    Net,
    /// Not a namespace but as much a place: its root directory (`chroot`).
    /// Its paths do not mean what ours mean, even in our mount namespace.
    Root,
}

impl fmt::Display for Namespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Namespace::Pid => "pid",
            Namespace::Mnt => "mount",
            Namespace::Net => "network",
            Namespace::Root => "root directory",
        })
    }
}

/// Where a process lives, seen from this one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// In our pid, mount and network namespaces, under our root directory.
    Here,
    /// In at least one other namespace (another container, `unshare`, ...)
    /// or under another root directory (`chroot`).
    Elsewhere(Vec<Namespace>),
    /// Its namespaces could not be read (another user's process, seen by a
    /// user who is not root): no proof either way.
    Unknown,
}

/// A command line, byte for byte. `Debug` shows it joined, tokens masked.
#[derive(Clone, PartialEq, Eq)]
struct Argv(Vec<OsString>);

impl Argv {
    fn masked(&self) -> String {
        let words: Vec<String> = self
            .0
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        mask_tokens(&words.join(" "))
    }
}

impl fmt::Debug for Argv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.masked(), f)
    }
}

/// What names one process for its whole life: pid, start time, owner,
/// command line and namespaces. PIDs are reused; these together are not.
///
/// Read it with [`ProcessIdentity::read`]; before any signal, compare a fresh
/// read with the one you recorded ([`ProcessIdentity::is_same_process`]).
/// The command line is kept byte for byte ([`OsString`]); `Debug` and
/// [`ProcessIdentity::command_line`] mask dashboard tokens.
///
/// ```
/// use kitty_core::{Place, ProcessIdentity};
/// let me = ProcessIdentity::read(std::process::id()).expect("we exist");
/// assert!(me.is_same_process(&ProcessIdentity::read(me.pid()).unwrap()));
/// assert_eq!(me.place(), Place::Here);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessIdentity {
    pid: u32,
    ppid: u32,
    pgid: u32,
    sid: u32,
    start_ticks: u64,
    uid: u32,
    argv: Argv,
    exe: Option<PathBuf>,
    cwd: Option<PathBuf>,
    namespaces: Option<sys::Namespaces>,
}

/// How long [`ProcessIdentity::read`] waits for a process caught in its
/// `execve` to have a command line again (the window lasts microseconds; the
/// deadline covers a loaded machine descheduling it).
const EXEC_WINDOW: std::time::Duration = std::time::Duration::from_millis(200);

impl ProcessIdentity {
    /// Reads the identity of `pid` now. `None` when it does not exist, is a
    /// zombie (it already exited), or cannot be read.
    ///
    /// A process in the middle of an `execve` has, for a moment, no command
    /// line and no environment (the kernel has swapped in its new memory but
    /// not yet copied its arguments there). That moment is waited out, up to
    /// 200 ms: there is no event that tells another process an exec
    /// finished, so the command line is re-read, a millisecond apart. Its
    /// identity is then the program it became. An exiting process (its
    /// memory already released) is `None`, like a zombie; only a kernel
    /// thread, or a process still in its exec at the deadline, has an empty
    /// [`argv`](Self::argv).
    pub fn read(pid: u32) -> Option<Self> {
        let stat = sys::read_stat(pid).ok()?;
        if stat.state == 'Z' || stat.state == 'X' || stat.is_exiting() {
            return None;
        }
        let mut argv = Argv(sys::read_cmdline(pid).ok()?);
        if argv.0.is_empty() && !stat.is_kernel_thread() {
            let deadline = std::time::Instant::now() + EXEC_WINDOW;
            while argv.0.is_empty() && std::time::Instant::now() < deadline {
                std::thread::sleep(std::time::Duration::from_millis(1));
                let now = sys::read_stat(pid).ok()?;
                if now.start_ticks != stat.start_ticks || now.state == 'Z' || now.is_exiting() {
                    return None;
                }
                argv = Argv(sys::read_cmdline(pid).ok()?);
            }
        }
        let uid = sys::read_uid(pid).ok()?;
        let namespaces = sys::read_namespaces(pid).ok();
        let exe = sys::read_exe(pid);
        let cwd = sys::read_cwd(pid);
        // Re-read stat: if the pid was recycled between the reads the start time differs.
        let again = sys::read_stat(pid).ok()?;
        if again.start_ticks != stat.start_ticks || again.state == 'Z' {
            return None;
        }
        Some(ProcessIdentity {
            pid,
            ppid: stat.ppid,
            pgid: stat.pgid,
            sid: stat.sid,
            start_ticks: stat.start_ticks,
            uid,
            argv,
            exe,
            cwd,
            namespaces,
        })
    }

    /// An identity made up, for the model of the process table (tests).
    #[cfg(test)]
    #[allow(clippy::too_many_arguments, reason = "one per field")]
    pub(crate) fn modelled(
        pid: u32,
        ppid: u32,
        pgid: u32,
        sid: u32,
        start_ticks: u64,
        uid: u32,
        argv: Vec<OsString>,
        cwd: Option<PathBuf>,
        namespaces: Option<sys::Namespaces>,
    ) -> Self {
        ProcessIdentity {
            pid,
            ppid,
            pgid,
            sid,
            start_ticks,
            uid,
            exe: argv.first().map(PathBuf::from),
            argv: Argv(argv),
            cwd,
            namespaces,
        }
    }

    /// True when `other` is the same process: same pid, start time, owner,
    /// command line and namespaces. (Parent and group may change over a
    /// life; they are not compared.)
    pub fn is_same_process(&self, other: &ProcessIdentity) -> bool {
        self.pid == other.pid
            && self.start_ticks == other.start_ticks
            && self.uid == other.uid
            && self.argv == other.argv
            && self.namespaces == other.namespaces
    }

    /// Whether its pid still names a live process started when this one
    /// was (one read of `/proc/PID/stat`): the pid was not recycled since.
    /// Less than [`ProcessIdentity::is_still_alive`], which reads it all
    /// again; enough to reuse an identity read a moment ago.
    pub fn started_as_read(&self) -> bool {
        sys::read_stat(self.pid).is_ok_and(|st| {
            st.start_ticks == self.start_ticks && st.state != 'Z' && st.state != 'X'
        })
    }

    /// Reads the process again and says whether it is still this one.
    pub fn is_still_alive(&self) -> bool {
        Self::read(self.pid).is_some_and(|now| self.is_same_process(&now))
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }
    /// The parent's pid when this was read.
    pub fn ppid(&self) -> u32 {
        self.ppid
    }
    /// The process group id.
    pub fn pgid(&self) -> u32 {
        self.pgid
    }
    /// The session id.
    pub fn sid(&self) -> u32 {
        self.sid
    }
    /// Start time in clock ticks after boot (`/proc/PID/stat` field 22).
    pub fn start_ticks(&self) -> u64 {
        self.start_ticks
    }
    /// How long ago it started.
    pub fn age(&self) -> Duration {
        sys::age_of(self.start_ticks)
    }
    /// The real uid of the owner.
    pub fn uid(&self) -> u32 {
        self.uid
    }
    /// True when the process belongs to the user running this code.
    pub fn is_ours(&self) -> bool {
        self.uid == sys::current_uid()
    }
    /// Where it lives: in our namespaces, elsewhere, or unknown.
    pub fn place(&self) -> Place {
        self.place_from(sys::own_namespaces())
    }
    /// Where it lives, seen from a process whose namespaces and root are
    /// `ours` (`None`: unreadable).
    pub(crate) fn place_from(&self, ours: Option<sys::Namespaces>) -> Place {
        match (self.namespaces, ours) {
            (Some(theirs), Some(ours)) => {
                let mut differ = Vec::new();
                if theirs.pid != ours.pid {
                    differ.push(Namespace::Pid);
                }
                if theirs.mnt != ours.mnt {
                    differ.push(Namespace::Mnt);
                }
                if theirs.net != ours.net {
                    differ.push(Namespace::Net);
                }
                if theirs.root != ours.root {
                    differ.push(Namespace::Root);
                }
                if differ.is_empty() {
                    Place::Here
                } else {
                    Place::Elsewhere(differ)
                }
            }
            _ => Place::Unknown,
        }
    }
    /// True when it lives in our pid, mount and network namespaces, under
    /// our root directory.
    pub fn lives_here(&self) -> bool {
        self.place() == Place::Here
    }
    /// True when the process leads its own session (and so its group): every
    /// other member of its group was forked inside that session, by it or its
    /// descendants. spec-kitty starts its dashboards this way, and so do the
    /// fixtures; only then is signalling the whole group covered by the proof
    /// about the leader.
    pub fn leads_its_session(&self) -> bool {
        self.sid == self.pid && self.pgid == self.pid
    }
    /// The raw arguments, byte for byte. They may contain a dashboard token:
    /// never print them; print [`ProcessIdentity::command_line`] instead.
    pub fn argv(&self) -> &[OsString] {
        &self.argv.0
    }
    /// The executable (`None` when unreadable: another user's process).
    pub fn exe(&self) -> Option<&Path> {
        self.exe.as_deref()
    }
    /// True when it is a Python interpreter: its executable, or its `argv[0]`,
    /// is named `python*`.
    pub fn is_python(&self) -> bool {
        let named_python = |p: &OsStr| {
            Path::new(p)
                .file_name()
                .is_some_and(|n| n.as_bytes().starts_with(b"python"))
        };
        self.exe
            .as_deref()
            .is_some_and(|e| named_python(e.as_os_str()))
            || self.argv.0.first().is_some_and(|a| named_python(a))
    }
    /// The command line joined by spaces (not valid UTF-8 shown as U+FFFD)
    /// with every token masked as `<token>`.
    pub fn command_line(&self) -> String {
        self.argv.masked()
    }
    /// [`ProcessIdentity::command_line`] on one line, for people: an argument
    /// of more than one line (a `python -c` script) shows as
    /// `<script: its last statement>`, which for spec-kitty's server script is
    /// the call that names the project, port and token.
    ///
    /// ```
    /// # use kitty_core::ProcessIdentity;
    /// let me = ProcessIdentity::read(std::process::id()).unwrap();
    /// assert!(!me.short_command_line().contains('\n'));
    /// ```
    pub fn short_command_line(&self) -> String {
        let words: Vec<String> = self
            .argv
            .0
            .iter()
            .map(|a| {
                let a = a.to_string_lossy();
                if !a.contains('\n') {
                    return a.into_owned();
                }
                let last = a
                    .lines()
                    .map(str::trim)
                    .rfind(|l| !l.is_empty())
                    .unwrap_or("");
                format!("<script: {last}>")
            })
            .collect();
        mask_tokens(&words.join(" "))
    }
    /// The working directory, when readable (`" (deleted)"` marks a removed one).
    pub fn cwd(&self) -> Option<&Path> {
        self.cwd.as_deref()
    }
    /// One variable of the process's initial environment (`/proc/PID/environ`),
    /// for labels such as `NEXTEST_TEST_NAME`. `None` when unset or unreadable.
    pub fn env_var(&self, name: &str) -> Option<OsString> {
        sys::read_environ_var(self.pid, name)
    }
    /// The inodes of the sockets the process holds now (empty when unreadable).
    pub fn socket_inodes(&self) -> Vec<u64> {
        sys::socket_inodes(self.pid)
    }
}

/// A cheap picture of the process tree: pid -> (parent, group), from one
/// read of `/proc/PID/stat` per process.
#[derive(Debug, Clone, Default)]
pub struct ProcessTree {
    parent: HashMap<u32, u32>,
    group: HashMap<u32, u32>,
}

impl ProcessTree {
    /// Reads every process's parent and group now (one `/proc/PID/stat`
    /// each, the processes spread over the CPUs).
    pub fn read() -> Self {
        let mut tree = ProcessTree::default();
        let live = sys::scan_stats();
        tree.parent.reserve(live.len());
        tree.group.reserve(live.len());
        for (pid, st) in live {
            tree.parent.insert(pid, st.ppid);
            tree.group.insert(pid, st.pgid);
        }
        tree
    }

    /// Like [`ProcessTree::read`], but shared by the threads that ask at
    /// the same time: returns a tree whose read began after this call (so it
    /// is as fresh as one read now), started by this caller or by another.
    /// While one read runs, those who asked after it began wait for the next,
    /// which one of them starts: many concurrent stops (a sweep of a hundred
    /// dashboards) cost a few reads of `/proc`, not one each.
    pub fn read_shared() -> std::sync::Arc<Self> {
        use std::sync::{Arc, Condvar, Mutex};
        use std::time::Instant;
        #[derive(Default)]
        struct State {
            latest: Option<(Instant, Arc<ProcessTree>)>,
            running: bool,
        }
        static SHARED: (Mutex<Option<State>>, Condvar) = (Mutex::new(None), Condvar::new());
        struct Done<'a>(
            &'a (Mutex<Option<State>>, Condvar),
            Option<(Instant, Arc<ProcessTree>)>,
        );
        impl Drop for Done<'_> {
            fn drop(&mut self) {
                let mut st = self.0.0.lock().unwrap_or_else(|e| e.into_inner());
                let st = st.get_or_insert_with(State::default);
                st.running = false;
                if let Some(latest) = self.1.take() {
                    st.latest = Some(latest);
                }
                self.0.1.notify_all();
            }
        }
        let asked = Instant::now();
        let (lock, cv) = &SHARED;
        let mut guard = lock.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            let st = guard.get_or_insert_with(State::default);
            if let Some((began, tree)) = &st.latest
                && *began >= asked
            {
                return Arc::clone(tree);
            }
            if !st.running {
                st.running = true;
                drop(guard);
                let mut done = Done(&SHARED, None);
                let began = Instant::now();
                let tree = Arc::new(ProcessTree::read());
                done.1 = Some((began, Arc::clone(&tree)));
                return tree;
            }
            guard = cv.wait(guard).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Reads only the processes below `root`, following each one's
    /// `/proc/PID/task/TID/children`: the cost grows with the subtree, not
    /// with the machine (a full [`ProcessTree::read`] costs about 25 µs per
    /// process: ~40 ms at 1,500). Falls back to the full read on kernels
    /// without those files. The result knows nothing outside the subtree
    /// (no ancestors; groups only through their members below `root`).
    pub fn read_below(root: u32) -> Self {
        if sys::children_of(root).is_none() {
            return Self::read();
        }
        let mut tree = ProcessTree::default();
        let mut todo = vec![root];
        let mut seen = HashSet::from([root]);
        while let Some(pid) = todo.pop() {
            for child in sys::children_of(pid).unwrap_or_default() {
                if !seen.insert(child) {
                    continue;
                }
                match sys::read_stat(child) {
                    Ok(st) if st.state != 'Z' => {
                        tree.parent.insert(child, st.ppid);
                        tree.group.insert(child, st.pgid);
                        todo.push(child);
                    }
                    _ => {}
                }
            }
        }
        tree
    }

    /// Every live process below `root` (not `root` itself).
    pub fn descendants_of(&self, root: u32) -> Vec<u32> {
        let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
        for (&pid, &ppid) in &self.parent {
            children.entry(ppid).or_default().push(pid);
        }
        let mut out = Vec::new();
        let mut todo = vec![root];
        while let Some(p) = todo.pop() {
            for &c in children.get(&p).map(Vec::as_slice).unwrap_or(&[]) {
                out.push(c);
                todo.push(c);
            }
        }
        out.sort_unstable();
        out
    }

    /// Every pid in the tree.
    pub fn pids(&self) -> impl Iterator<Item = u32> + '_ {
        self.parent.keys().copied()
    }

    /// The parent of `pid` when the tree was read.
    pub fn parent_of(&self, pid: u32) -> Option<u32> {
        self.parent.get(&pid).copied()
    }

    /// The processes whose group was `pgid` when the tree was read (a
    /// number: pin and check each before believing it).
    pub fn group_members(&self, pgid: u32) -> Vec<u32> {
        self.group
            .iter()
            .filter(|&(_, &g)| g == pgid)
            .map(|(&p, _)| p)
            .collect()
    }
}

/// This process and its ancestors (a walk up the parent links, one
/// `/proc/PID/stat` read each): what no mode may ever signal.
pub fn ancestors_and_self() -> HashSet<u32> {
    let mut out = HashSet::from([std::process::id()]);
    let mut cur = std::process::id();
    while let Ok(st) = sys::read_stat(cur) {
        if st.ppid == 0 || !out.insert(st.ppid) {
            break;
        }
        cur = st.ppid;
    }
    out
}

/// Finds which processes hold the sockets `inodes`: first every holder
/// among `first_look` (for example the descendants of a test run, or the
/// dashboards), then, for the sockets still without one, the other
/// processes, newest pid first (a listener on a dashboard port is usually
/// younger than the machine's daemons), spread over the CPUs, until each has
/// a holder. The cost grows with the processes read before the last holder
/// is found: none beyond `first_look` when it holds them all, every process
/// when a socket's holder cannot be seen (another user's).
pub fn socket_owners(inodes: &HashSet<u64>, first_look: &[u32]) -> HashMap<u64, Vec<u32>> {
    let mut found: HashMap<u64, Vec<u32>> = HashMap::new();
    if inodes.is_empty() {
        return found;
    }
    for (ino, pid) in sys::find_socket_holders(first_look, inodes, true) {
        found.entry(ino).or_default().push(pid);
    }
    let missing: HashSet<u64> = inodes
        .iter()
        .filter(|i| !found.contains_key(i))
        .copied()
        .collect();
    if !missing.is_empty() {
        let first: HashSet<u32> = first_look.iter().copied().collect();
        let mut rest: Vec<u32> = sys::list_pids()
            .unwrap_or_default()
            .into_iter()
            .filter(|p| !first.contains(p))
            .collect();
        rest.sort_unstable_by(|a, b| b.cmp(a));
        for (ino, pid) in sys::find_socket_holders(&rest, &missing, false) {
            found.entry(ino).or_default().push(pid);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_itself_and_a_child() {
        let me = ProcessIdentity::read(std::process::id()).expect("self");
        assert!(me.is_ours());
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .expect("sleep");
        // Right after spawn the child may still be in its exec: one read
        // waits that out.
        let c = ProcessIdentity::read(child.id()).expect("child");
        assert_eq!(c.ppid(), me.pid());
        assert_eq!(c.argv(), [OsString::from("sleep"), "5".into()]);
        assert!(!c.is_python());
        let tree = ProcessTree::read();
        assert!(tree.descendants_of(me.pid()).contains(&child.id()));
        assert!(ancestors_and_self().contains(&me.pid()));
        let below = ProcessTree::read_below(me.pid());
        assert!(below.descendants_of(me.pid()).contains(&child.id()));
        assert!(
            below
                .pids()
                .all(|p| tree.descendants_of(me.pid()).contains(&p) || p == child.id())
        );
        child.kill().expect("kill");
        child.wait().expect("wait");
        assert!(ProcessIdentity::read(c.pid()).is_none());
        assert!(!c.is_still_alive());
    }

    /// The window this guards against is real: `spawn` returns when the
    /// child's exec closed its close-on-exec pipe, which the kernel does
    /// after swapping in the new memory and before copying the arguments
    /// there. A process caught there once read as having no command line
    /// (a kernel thread, to `detect`), and a leak went unreported (CI, stop
    /// 22). Every read right after a spawn now has the program's argv.
    #[test]
    fn a_process_caught_in_its_exec_is_read_as_the_program_it_becomes() {
        let mut caught_empty = 0;
        for _ in 0..200 {
            let mut child = std::process::Command::new("sleep")
                .arg("5")
                .spawn()
                .expect("sleep");
            if sys::read_cmdline(child.id()).is_ok_and(|a| a.is_empty()) {
                caught_empty += 1;
            }
            let c = ProcessIdentity::read(child.id()).expect("child");
            child.kill().expect("kill");
            child.wait().expect("wait");
            assert_eq!(c.argv(), [OsString::from("sleep"), "5".into()]);
        }
        eprintln!("raw command line empty right after spawn: {caught_empty}/200");
    }

    #[test]
    fn a_shared_tree_is_read_after_it_is_asked_for() {
        let trees: Vec<_> = std::thread::scope(|s| {
            let asks: Vec<_> = (0..4).map(|_| s.spawn(ProcessTree::read_shared)).collect();
            asks.into_iter().map(|a| a.join().expect("read")).collect()
        });
        assert!(
            trees
                .iter()
                .all(|t| t.pids().any(|p| p == std::process::id()))
        );
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .expect("sleep");
        assert!(
            ProcessTree::read_shared().pids().any(|p| p == child.id()),
            "a tree asked for after the spawn sees the child"
        );
        child.kill().expect("kill");
        child.wait().expect("wait");
    }

    #[test]
    fn a_different_start_time_is_a_different_process() {
        let me = ProcessIdentity::read(std::process::id()).expect("self");
        let mut other = me.clone();
        other.start_ticks += 1;
        assert!(!me.is_same_process(&other));
    }

    #[test]
    fn a_script_is_shortened_to_its_last_statement() {
        let mut me = ProcessIdentity::read(std::process::id()).expect("self");
        me.argv = Argv(
            [
                "python3",
                "-c",
                "import x\nrun_dashboard_server(Path('/tmp/p'), 9237, '0123456789abcdef0123456789abcdef')\n",
            ]
            .map(OsString::from)
            .to_vec(),
        );
        assert_eq!(
            me.short_command_line(),
            "python3 -c <script: run_dashboard_server(Path('/tmp/p'), 9237, '<token>')>"
        );
    }

    #[test]
    fn debug_masks_tokens() {
        let mut me = ProcessIdentity::read(std::process::id()).expect("self");
        me.argv = Argv(
            ["python", "-m", "x", "0123456789abcdef0123456789abcdef"]
                .map(OsString::from)
                .to_vec(),
        );
        let dbg = format!("{me:?}");
        assert!(!dbg.contains("0123456789abcdef0123456789abcdef"), "{dbg}");
        assert!(dbg.contains("<token>"));
    }
}
