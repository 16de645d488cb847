//! Would-be victims of `cargo-kitty-leakcheck` (real dashboards wherever
//! possible, else real processes that serve HTTP, or a file), and the one
//! check that the tool left them alone: [`Victim::assert_unharmed`] (many at
//! once: [`assert_all_unharmed`]).
//!
//! A process victim is ALIVE (its pid exists and is not a zombie), UNCHANGED
//! (same pid and same start time, `/proc/PID/stat` field 22, for every process
//! it is made of: a wrapper and its child, say) and STILL SERVING (an HTTP GET
//! answers on its port; for a dashboard, `GET /api/health` names its project,
//! byte for byte). A file victim has the same bytes, inode, mode and mtime.
//!
//! Everything here reads `/proc` and speaks HTTP by itself, without the
//! recognition code under test, and stops its victims at the end by identity
//! (a pidfd, then the start time checked again before each signal), whoever
//! owns them (another user's, another namespace's), also when the test failed.
//!
//! The other helpers: processes started in a session of their own with any
//! argv (raw bytes included), the children of a process, HTTP inside another
//! network namespace, the system user `kitty-e2e-other` and a Python it can
//! run, a command running in the background with its output captured, and a
//! leftover catcher for the dashboards a CLI may leave on a port.

use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::{self, Read, Seek, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use kitty_core::{ProcessIdentity, mask_tokens};

use kitty_core::spec_kitty::DashboardFile;

use super::detached::{TOKEN, dashboard_argv};
use super::{MINUTE, POLL, isolate_home, poll, port_free, target_dir};

/// How long a victim gets to answer one HTTP request (a loaded machine).
const HTTP_TIMEOUT: Duration = Duration::from_secs(5);

// --- Tools ---------------------------------------------------------------------

/// The full path of the executable `name` (on `PATH`, or in the sbin dirs);
/// fails the test (never skips) when it is missing.
pub fn require_tool(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!("`{name}` is required by this test and is not installed (not on PATH)")
        })
}

/// Fails the test unless it runs as root (namespaces, other users).
pub fn require_root() {
    // SAFETY: geteuid cannot fail.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(
        euid, 0,
        "this test needs root (namespaces, other users); it runs as uid {euid}"
    );
}

// --- /proc, by hand ------------------------------------------------------------

/// The raw argv of `pid` (bytes, as the kernel has them); `None` when it is
/// gone, a zombie, or has no command line (yet).
pub fn raw_argv(pid: u32) -> Option<Vec<Vec<u8>>> {
    let raw = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    if raw.is_empty() {
        return None;
    }
    let body = raw.strip_suffix(&[0]).unwrap_or(&raw);
    Some(body.split(|&b| b == 0).map(<[u8]>::to_vec).collect())
}

/// `argv` as raw bytes, to compare with [`raw_argv`].
pub fn argv_bytes(argv: &[impl AsRef<OsStr>]) -> Vec<Vec<u8>> {
    argv.iter()
        .map(|a| a.as_ref().as_bytes().to_vec())
        .collect()
}

/// The children of `pid` now (every thread's `children` file).
pub fn children_of(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    if let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) {
        for t in tasks.flatten() {
            if let Ok(s) = fs::read_to_string(t.path().join("children")) {
                out.extend(s.split_whitespace().filter_map(|w| w.parse::<u32>().ok()));
            }
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// Every process below `pid` now.
pub fn descendants_of(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let mut todo = vec![pid];
    while let Some(p) = todo.pop() {
        for c in children_of(p) {
            if !out.contains(&c) {
                out.push(c);
                todo.push(c);
            }
        }
    }
    out
}

/// True when `argv` looks like a dashboard server of any release (the module
/// or the server function), by the raw bytes, whatever the tool thinks.
pub fn looks_like_a_server(argv: &[Vec<u8>]) -> bool {
    argv.iter().any(|a| {
        a.as_slice() == b"specify_cli.dashboard._server_main"
            || a.windows(20).any(|w| w == b"run_dashboard_server")
    })
}

/// Waits until `pid` runs exactly `argv` (an exec chain such as
/// `setsid setpriv env python ...` ends in the same pid); fails at once when it
/// is gone, and after a minute (stopping it first).
pub fn wait_runs(pid: u32, argv: &[Vec<u8>]) {
    let start = Instant::now();
    loop {
        match raw_argv(pid) {
            Some(now) if now.as_slice() == argv => return,
            Some(_) => {}
            None if !Path::new(&format!("/proc/{pid}")).exists() => panic!(
                "pid {pid} ended before it ran {:?}",
                argv.iter()
                    .map(|a| mask_tokens(&String::from_utf8_lossy(a)))
                    .collect::<Vec<_>>()
            ),
            None => {}
        }
        if start.elapsed() >= MINUTE {
            if let Some(id) = ProcessIdentity::read(pid) {
                end_by_identity(&id);
            }
            panic!("pid {pid} never ran the expected command line");
        }
        std::thread::sleep(POLL);
    }
}

/// Waits until a child of `parent` runs exactly `argv`; returns its pid.
pub fn wait_child_runs(parent: u32, argv: &[Vec<u8>]) -> u32 {
    let found = poll(MINUTE, || {
        children_of(parent)
            .into_iter()
            .find(|&c| raw_argv(c).is_some_and(|a| a.as_slice() == argv))
    });
    found.unwrap_or_else(|| panic!("no child of pid {parent} ran the expected command line"))
}

// --- Starting processes ----------------------------------------------------------

/// How to start one process in a session of its own.
pub struct Start<'a> {
    /// What to run.
    pub argv: Vec<OsString>,
    /// The argv the exec chain ends in, in the same pid (`None`: `argv`).
    pub runs: Option<Vec<OsString>>,
    /// Its working directory.
    pub cwd: &'a Path,
    /// Its isolated spec-kitty home (see [`isolate_home`]).
    pub home: &'a Path,
    /// More environment.
    pub envs: Vec<(OsString, OsString)>,
}

impl<'a> Start<'a> {
    /// `argv` in `cwd` with its home in `home`.
    pub fn new(argv: Vec<OsString>, cwd: &'a Path, home: &'a Path) -> Self {
        Start {
            argv,
            runs: None,
            cwd,
            home,
            envs: Vec::new(),
        }
    }

    /// The exec chain ends in `runs`.
    pub fn runs(mut self, runs: Vec<OsString>) -> Self {
        self.runs = Some(runs);
        self
    }

    /// One more environment variable.
    pub fn env(mut self, k: impl Into<OsString>, v: impl Into<OsString>) -> Self {
        self.envs.push((k.into(), v.into()));
        self
    }

    /// Starts it as spec-kitty starts a dashboard: `setsid`, stdio on
    /// /dev/null, in the background of a shell that exits at once, so that it
    /// is re-parented away from this process (nobody's child, no label).
    /// The argv is passed as the shell's positional parameters: any bytes work.
    /// Returns its pid once it runs [`Start::runs`].
    pub fn spawn(self) -> u32 {
        require_tool("setsid");
        let mut sh = Command::new("sh");
        sh.arg("-c")
            .arg("setsid \"$@\" </dev/null >/dev/null 2>&1 &\necho $!")
            .arg("sh")
            .args(&self.argv)
            .current_dir(self.cwd)
            .stdin(Stdio::null())
            .stderr(Stdio::inherit());
        isolate_home(&mut sh, self.home);
        for (k, v) in &self.envs {
            sh.env(k, v);
        }
        let out = sh.output().expect("run sh");
        assert!(out.status.success(), "sh failed: {out:?}");
        let pid: u32 = String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .expect("a pid from sh");
        let runs = self.runs.as_ref().unwrap_or(&self.argv);
        wait_runs(pid, &argv_bytes(runs));
        pid
    }
}

/// One shell word for any bytes (single quotes; `'` written as `'\''`).
pub fn sh_word(word: &OsStr) -> Vec<u8> {
    let mut out = vec![b'\''];
    for &b in word.as_bytes() {
        if b == b'\'' {
            out.extend_from_slice(b"'\\''");
        } else {
            out.push(b);
        }
    }
    out.push(b'\'');
    out
}

/// A shell script built from literal text and quoted words, written to a
/// file: a command line kept out of argv (a shell whose argv holds a
/// dashboard's command line looks like a dashboard wrapper).
#[derive(Default)]
pub struct Script(Vec<u8>);

impl Script {
    /// An empty script.
    pub fn new() -> Script {
        Script::default()
    }

    /// Literal shell text.
    pub fn raw(mut self, text: &str) -> Script {
        self.0.extend_from_slice(text.as_bytes());
        self
    }

    /// One quoted word (see [`sh_word`]).
    pub fn word(mut self, word: impl AsRef<OsStr>) -> Script {
        self.0.extend(sh_word(word.as_ref()));
        self
    }

    /// A quoted command line.
    pub fn words(mut self, argv: &[impl AsRef<OsStr>]) -> Script {
        for (i, w) in argv.iter().enumerate() {
            if i > 0 {
                self.0.push(b' ');
            }
            self.0.extend(sh_word(w.as_ref()));
        }
        self
    }

    /// Writes it to `path`; returns `path`.
    pub fn write(&self, path: &Path) -> PathBuf {
        fs::write(path, &self.0).expect("write the script");
        path.to_path_buf()
    }
}

// --- HTTP --------------------------------------------------------------------------

/// One HTTP answer.
#[derive(Debug, Clone)]
pub struct HttpAnswer {
    /// E.g. 200.
    pub status: u16,
    /// The body (after the blank line).
    pub body: Vec<u8>,
}

/// `GET path` from `127.0.0.1:port` (HTTP/1.0, any status), in this
/// process's network namespace.
pub fn http_get(port: u16, path: &str) -> io::Result<HttpAnswer> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut s = TcpStream::connect_timeout(&addr, HTTP_TIMEOUT)?;
    s.set_read_timeout(Some(HTTP_TIMEOUT))?;
    s.set_write_timeout(Some(HTTP_TIMEOUT))?;
    write!(
        s,
        "GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    s.take(4 << 20).read_to_end(&mut raw)?;
    parse_http(raw)
}

/// An HTTP answer's status and body.
fn parse_http(mut raw: Vec<u8>) -> io::Result<HttpAnswer> {
    let bad = |why: &str| io::Error::new(io::ErrorKind::InvalidData, why.to_string());
    if !raw.starts_with(b"HTTP/") {
        return Err(bad("the answer is not HTTP"));
    }
    let status = raw
        .split(|&b| b == b' ')
        .nth(1)
        .and_then(|s| std::str::from_utf8(s).ok())
        .and_then(|s| s.trim().parse().ok())
        .ok_or_else(|| bad("no HTTP status"))?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| bad("no end of the HTTP header"))?;
    Ok(HttpAnswer {
        status,
        body: raw.split_off(split + 4),
    })
}

/// [`http_get`] from inside the network namespace of `pid`. As root a
/// thread joins it with `setns(CLONE_NEWNET)` (the thread then ends). An
/// ordinary user's namespace belongs to a user namespace of its own, which a
/// threaded process cannot join: then `nsenter --user --net` runs the same
/// request in a Python of its own.
pub fn http_get_in_netns_of(pid: u32, port: u16, path: &str) -> io::Result<HttpAnswer> {
    if !rustix::process::geteuid().is_root() {
        return http_get_via_nsenter(pid, port, path);
    }
    let ns = fs::File::open(format!("/proc/{pid}/ns/net"))?;
    let path = path.to_string();
    std::thread::spawn(move || {
        // SAFETY: setns(2) on an open namespace fd; it only moves this thread.
        if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            return Err(io::Error::last_os_error());
        }
        http_get(port, &path)
    })
    .join()
    .unwrap_or_else(|_| Err(io::Error::other("the netns thread panicked")))
}

/// [`http_get_in_netns_of`] for an ordinary user: the raw answer, read by a
/// `python3` run inside the target's user and network namespaces.
fn http_get_via_nsenter(pid: u32, port: u16, path: &str) -> io::Result<HttpAnswer> {
    let script = "import socket, sys\n\
        s = socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=5)\n\
        s.sendall(('GET %s HTTP/1.0\\r\\nConnection: close\\r\\n\\r\\n' % sys.argv[2]).encode())\n\
        out = b''\n\
        while True:\n    b = s.recv(65536)\n    if not b: break\n    out += b\n\
        sys.stdout.buffer.write(out)\n";
    let o = Command::new("nsenter")
        .args([
            "--target",
            &pid.to_string(),
            "--user",
            "--net",
            "--preserve-credentials",
        ])
        .args(["/usr/bin/python3", "-c", script, &port.to_string(), path])
        .stdin(std::process::Stdio::null())
        .output()?;
    if !o.status.success() {
        return Err(io::Error::other(format!(
            "nsenter into the namespaces of {pid}: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        )));
    }
    parse_http(o.stdout)
}

/// The string field `key` of a JSON object, as bytes. JSON `\uDC80`-`\uDCFF`
/// escapes of lone surrogates (what Python's `json.dumps` writes for the
/// undecodable bytes of a path, through surrogateescape) become those bytes,
/// so a non-UTF-8 project path compares exactly. `None` when absent.
pub fn json_field_bytes(body: &[u8], key: &str) -> Option<Vec<u8>> {
    let needle = format!("\"{key}\"");
    let at = body
        .windows(needle.len())
        .position(|w| w == needle.as_bytes())?;
    let mut rest = &body[at + needle.len()..];
    let skip_ws = |r: &mut &[u8]| {
        while let [b' ' | b'\t' | b'\r' | b'\n', tail @ ..] = *r {
            *r = tail;
        }
    };
    skip_ws(&mut rest);
    rest = rest.strip_prefix(b":")?;
    skip_ws(&mut rest);
    rest = rest.strip_prefix(b"\"")?;
    let hex4 = |r: &[u8]| -> Option<u32> {
        u32::from_str_radix(std::str::from_utf8(r.get(..4)?).ok()?, 16).ok()
    };
    let mut out = Vec::new();
    let mut i = 0;
    while i < rest.len() {
        match rest[i] {
            b'"' => return Some(out),
            b'\\' => {
                let e = *rest.get(i + 1)?;
                i += 2;
                match e {
                    b'"' | b'\\' | b'/' => out.push(e),
                    b'b' => out.push(8),
                    b'f' => out.push(12),
                    b'n' => out.push(b'\n'),
                    b'r' => out.push(b'\r'),
                    b't' => out.push(b'\t'),
                    b'u' => {
                        let v = hex4(&rest[i..])?;
                        i += 4;
                        let low = (rest.get(i..i + 2) == Some(b"\\u"))
                            .then(|| hex4(&rest[i + 2..]))
                            .flatten()
                            .filter(|l| (0xDC00..=0xDFFF).contains(l));
                        let c = match (v, low) {
                            (0xD800..=0xDBFF, Some(l)) => {
                                i += 6;
                                char::from_u32(0x10000 + ((v - 0xD800) << 10) + (l - 0xDC00))?
                            }
                            (0xDC80..=0xDCFF, _) => {
                                out.push((v - 0xDC00) as u8);
                                continue;
                            }
                            _ => char::from_u32(v)?,
                        };
                        out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
                    }
                    _ => return None,
                }
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    None
}

// --- Victims -------------------------------------------------------------------------

/// What a process victim must still be doing.
#[derive(Debug, Clone)]
pub enum Serving {
    /// Nothing to check beyond being alive and unchanged (a `sleep`).
    Nothing,
    /// Some HTTP answer (any status) to `GET /` on this port.
    Http(u16),
    /// A spec-kitty dashboard: `GET /api/health` answers 200, `"status": "ok"`
    /// and a `project_path` equal (byte for byte) to `project`.
    Dashboard {
        /// Its port.
        port: u16,
        /// The project dir as the dashboard was given it.
        project: PathBuf,
    },
}

struct Member {
    role: String,
    identity: ProcessIdentity,
}

struct FileState {
    bytes: Vec<u8>,
    ino: u64,
    mode: u32,
    mtime: (i64, i64),
}

impl FileState {
    fn read(path: &Path) -> io::Result<FileState> {
        let m = fs::symlink_metadata(path)?;
        Ok(FileState {
            bytes: fs::read(path)?,
            ino: m.ino(),
            mode: m.mode(),
            mtime: (m.mtime(), m.mtime_nsec()),
        })
    }
}

enum Kind {
    Processes {
        members: Vec<Member>,
        serving: Serving,
        netns_of: Option<u32>,
        also_stop: Vec<ProcessIdentity>,
        children: Vec<Background>,
    },
    File {
        path: PathBuf,
        before: FileState,
    },
}

/// Something the tool must leave alone. Dropping a process victim stops all
/// its processes (and whatever [`Victim::stop_also`] added), by identity.
pub struct Victim {
    label: String,
    kind: Kind,
}

impl Victim {
    /// The running process `pid` (its identity is recorded now), which must
    /// serve nothing until told ([`Victim::serves_http`], [`Victim::serves_dashboard`]).
    pub fn process(label: &str, pid: u32) -> Victim {
        Victim {
            label: label.to_string(),
            kind: Kind::Processes {
                members: vec![member("its process", pid)],
                serving: Serving::Nothing,
                netns_of: None,
                also_stop: Vec::new(),
                children: Vec::new(),
            },
        }
    }

    /// The file `path` as it is now: it must keep its bytes, inode, mode and mtime.
    pub fn file(label: &str, path: &Path) -> Victim {
        let before =
            FileState::read(path).unwrap_or_else(|e| panic!("victim file {}: {e}", path.display()));
        Victim {
            label: label.to_string(),
            kind: Kind::File {
                path: path.to_path_buf(),
                before,
            },
        }
    }

    fn parts(&mut self) -> (&mut Vec<Member>, &mut Serving, &mut Option<u32>) {
        match &mut self.kind {
            Kind::Processes {
                members,
                serving,
                netns_of,
                ..
            } => (members, serving, netns_of),
            Kind::File { .. } => panic!("{} is a file victim", self.label),
        }
    }

    /// One more process the victim is made of (a wrapper's child): it must
    /// stay alive and unchanged too.
    pub fn with(mut self, role: &str, pid: u32) -> Victim {
        let m = member(role, pid);
        self.parts().0.push(m);
        self
    }

    /// It must answer HTTP on `port`.
    pub fn serves_http(mut self, port: u16) -> Victim {
        *self.parts().1 = Serving::Http(port);
        self
    }

    /// It must answer `/api/health` on `port` naming `project`.
    pub fn serves_dashboard(mut self, port: u16, project: &Path) -> Victim {
        *self.parts().1 = Serving::Dashboard {
            port,
            project: project.to_path_buf(),
        };
        self
    }

    /// Its port lives in its own network namespace: ask from inside it.
    pub fn in_its_netns(mut self) -> Victim {
        let pid = self.pid();
        *self.parts().2 = Some(pid);
        self
    }

    /// Also stop `pid` at the end (a namespace's init), without checking it.
    pub fn stop_also(mut self, pid: u32) -> Victim {
        if let Kind::Processes { also_stop, .. } = &mut self.kind {
            also_stop.push(super::identity(pid));
        }
        self
    }

    /// Also kill and reap our child `child` at the end (an `unshare`).
    pub fn own(mut self, child: Background) -> Victim {
        if let Kind::Processes { children, .. } = &mut self.kind {
            children.push(child);
        }
        self
    }

    /// The pid of its main process.
    pub fn pid(&self) -> u32 {
        match &self.kind {
            Kind::Processes { members, .. } => members[0].identity.pid(),
            Kind::File { .. } => panic!("{} is a file victim", self.label),
        }
    }

    /// The pid of its process playing `role`.
    pub fn pid_of(&self, role: &str) -> u32 {
        match &self.kind {
            Kind::Processes { members, .. } => members
                .iter()
                .find(|m| m.role == role)
                .map(|m| m.identity.pid())
                .unwrap_or_else(|| panic!("{} has no {role}", self.label)),
            Kind::File { .. } => panic!("{} is a file victim", self.label),
        }
    }

    /// What is wrong with it now; empty when it is unharmed.
    pub fn harm(&self) -> Vec<String> {
        match &self.kind {
            Kind::File { path, before } => match FileState::read(path) {
                Err(e) => vec![format!("{} is gone: {e}", path.display())],
                Ok(now) => {
                    let mut out = Vec::new();
                    if now.bytes != before.bytes {
                        out.push(format!(
                            "{} was rewritten: {:?} (was {:?})",
                            path.display(),
                            mask_tokens(&String::from_utf8_lossy(&now.bytes)),
                            String::from_utf8_lossy(&before.bytes)
                        ));
                    }
                    if now.ino != before.ino {
                        out.push(format!("{} was replaced (new inode)", path.display()));
                    }
                    if now.mode != before.mode {
                        out.push(format!(
                            "{} mode {:o} (was {:o})",
                            path.display(),
                            now.mode,
                            before.mode
                        ));
                    }
                    if now.mtime != before.mtime && out.is_empty() {
                        out.push(format!("{} was written to (mtime changed)", path.display()));
                    }
                    out
                }
            },
            Kind::Processes {
                members,
                serving,
                netns_of,
                ..
            } => {
                let mut out = Vec::new();
                for m in members {
                    let pid = m.identity.pid();
                    match ProcessIdentity::read(pid) {
                        None => out.push(format!("{} (pid {pid}) is DEAD", m.role)),
                        Some(now) if now.start_ticks() != m.identity.start_ticks() => {
                            out.push(format!(
                                "{} (pid {pid}) was replaced: start time {} (was {})",
                                m.role,
                                now.start_ticks(),
                                m.identity.start_ticks()
                            ))
                        }
                        Some(_) => {}
                    }
                }
                if out.is_empty()
                    && let Some(why) = serving_problem(serving, *netns_of)
                {
                    out.push(why);
                }
                out
            }
        }
    }

    /// Fails the test unless it is unharmed; `after` says what just happened
    /// (and carries the tool's output).
    pub fn assert_unharmed(&self, after: &str) {
        assert_all_unharmed(&[self], after);
    }

    /// Waits (up to a minute) until it serves; fails at once when a process of
    /// it died. For set-ups: the tool runs only once the victim is ready.
    pub fn wait_serving(&self) {
        let start = Instant::now();
        loop {
            let harm = self.harm();
            if harm.is_empty() {
                return;
            }
            let dead = harm
                .iter()
                .any(|h| h.contains(" is DEAD") || h.contains("replaced"));
            assert!(
                !dead && start.elapsed() < MINUTE,
                "{}: never became ready: {harm:?}",
                self.label
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Stops it now (what drop does), as the test's last step.
    pub fn stop(self) {
        drop(self);
    }
}

/// Fails the test unless every one of `victims` is unharmed, listing each
/// harmed one (so one run tells which of several died).
pub fn assert_all_unharmed(victims: &[&Victim], after: &str) {
    let harmed: Vec<String> = victims
        .iter()
        .filter_map(|v| {
            let h = v.harm();
            (!h.is_empty()).then(|| format!("  - {}: {}", v.label, h.join("; ")))
        })
        .collect();
    assert!(
        harmed.is_empty(),
        "HARMED:\n{}\nafter {after}",
        harmed.join("\n")
    );
}

fn member(role: &str, pid: u32) -> Member {
    Member {
        role: role.to_string(),
        identity: ProcessIdentity::read(pid)
            .unwrap_or_else(|| panic!("{role}: pid {pid} is not running")),
    }
}

fn serving_problem(serving: &Serving, netns_of: Option<u32>) -> Option<String> {
    let get = |port: u16, path: &str| match netns_of {
        Some(pid) => http_get_in_netns_of(pid, port, path),
        None => http_get(port, path),
    };
    match serving {
        Serving::Nothing => None,
        Serving::Http(port) => get(*port, "/")
            .err()
            .map(|e| format!("nothing answers HTTP on port {port}: {e}")),
        Serving::Dashboard { port, project } => {
            let a = match get(*port, "/api/health") {
                Ok(a) => a,
                Err(e) => return Some(format!("no /api/health on port {port}: {e}")),
            };
            let body = || mask_tokens(&String::from_utf8_lossy(&a.body));
            let want = project.as_os_str().as_bytes();
            if a.status != 200 {
                Some(format!("/api/health on {port} answered {}", a.status))
            } else if json_field_bytes(&a.body, "status").as_deref() != Some(b"ok") {
                Some(format!("/api/health on {port} is not ok: {}", body()))
            } else if json_field_bytes(&a.body, "project_path").as_deref() != Some(want) {
                Some(format!(
                    "/api/health on {port} names another project than {:?}: {}",
                    project,
                    body()
                ))
            } else {
                None
            }
        }
    }
}

impl Drop for Victim {
    fn drop(&mut self) {
        if let Kind::Processes {
            members,
            also_stop,
            children,
            ..
        } = &mut self.kind
        {
            // Inner processes first: a wrapper then exits by itself.
            for id in members
                .iter()
                .rev()
                .map(|m| &m.identity)
                .chain(also_stop.iter())
            {
                end_by_identity(id);
            }
            children.clear();
        }
    }
}

// --- A real dashboard as a victim ------------------------------------------------

/// A real dashboard server of `project` on `port` (this spec-kitty's own
/// command line), started detached as spec-kitty starts it (own session,
/// re-parented away from us), ready; recorded in its `.kittify/.dashboard`
/// (so: live) when `record`.
pub fn dashboard_victim(
    label: &str,
    project: &Path,
    port: u16,
    home: &Path,
    record: bool,
) -> Victim {
    assert!(port_free(port), "port {port} is taken before the test");
    let pid = Start::new(dashboard_argv(project, port), project, home).spawn();
    let v = Victim::process(label, pid).serves_dashboard(port, project);
    v.wait_serving();
    if record {
        DashboardFile::new(port, Some(TOKEN.into()), Some(pid))
            .write(project)
            .expect("write .kittify/.dashboard");
    }
    v
}

// --- Stopping anyone's process, by identity -------------------------------------------

fn pidfd_open(pid: u32) -> Option<OwnedFd> {
    // SAFETY: pidfd_open(2) takes a pid and flags, returns a new fd or -1.
    let r = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    // SAFETY: a fresh descriptor from the kernel.
    (r >= 0).then(|| unsafe { OwnedFd::from_raw_fd(r as i32) })
}

fn pidfd_signal(fd: &OwnedFd, sig: libc::c_int) {
    // SAFETY: a valid pidfd, a signal number, no siginfo, no flags.
    unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            fd.as_raw_fd(),
            sig,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
}

fn pidfd_wait(fd: &OwnedFd, limit: Duration) -> bool {
    let mut pfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    unsafe { libc::poll(&mut pfd, 1, limit.as_millis() as i32) > 0 }
}

/// Stops `id` if it is still that process (same pid and start time), whoever
/// owns it: SIGTERM (to its group too when it leads one), SIGKILL after 2 s.
/// Pinned by a pidfd first; the start time is checked again before each signal.
pub fn end_by_identity(id: &ProcessIdentity) {
    let pid = id.pid();
    let Some(fd) = pidfd_open(pid) else {
        return;
    };
    let same = || ProcessIdentity::read(pid).is_some_and(|n| n.start_ticks() == id.start_ticks());
    let reap = || {
        let mut status = 0;
        // SAFETY: waitpid(2) of one pid, without blocking.
        unsafe { libc::waitpid(pid as libc::pid_t, &mut status, libc::WNOHANG) };
    };
    let leader = id.pgid() == pid;
    let send = |sig| {
        if same() {
            pidfd_signal(&fd, sig);
            if leader {
                // SAFETY: killpg(2) of the group its live, pinned leader leads.
                unsafe { libc::killpg(pid as libc::pid_t, sig) };
            }
        }
    };
    if !same() {
        reap();
        return;
    }
    eprintln!("cleanup: stopping pid {pid} ({})", id.command_line());
    send(libc::SIGTERM);
    if !pidfd_wait(&fd, Duration::from_secs(2)) {
        send(libc::SIGKILL);
        if !pidfd_wait(&fd, Duration::from_secs(2)) {
            eprintln!("cleanup: pid {pid} survived SIGKILL");
        }
    }
    reap();
}

/// Stops, by identity, every process that looks like a dashboard server
/// ([`looks_like_a_server`]) and names `port` in its argv: what a CLI may
/// leave on a port when a test fails before its victim was recorded.
pub struct LeftoverServers(pub Vec<u16>);

impl Drop for LeftoverServers {
    fn drop(&mut self) {
        let Ok(dir) = fs::read_dir("/proc") else {
            return;
        };
        for e in dir.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            let Some(argv) = raw_argv(pid) else { continue };
            let names_port = self.0.iter().any(|p| {
                let p = p.to_string();
                argv.iter().any(|a| {
                    a.as_slice() == p.as_bytes()
                        || a.windows(p.len() + 2)
                            .any(|w| w == format!(", {p}").as_bytes())
                })
            });
            if looks_like_a_server(&argv)
                && names_port
                && let Some(id) = ProcessIdentity::read(pid)
            {
                end_by_identity(&id);
            }
        }
    }
}

// --- Another user -----------------------------------------------------------------------

/// The system user the tests use as "another user".
pub const OTHER_USER: &str = "kitty-e2e-other";

/// The file [`other_user`] creates (in the target dir) when it made
/// [`OTHER_USER`]: scripts/test-all removes the user at its end only when
/// this file says a test of its run created it, never a user that existed.
pub const OTHER_USER_CREATED: &str = "kitty-e2e-other.created";

/// The uid and gid of [`OTHER_USER`], created first if missing
/// (`useradd --system`), under a file lock so that parallel tests (threads
/// or processes) never race on it. Creating it leaves
/// [`OTHER_USER_CREATED`] in the target dir, for scripts/test-all to undo.
pub fn other_user() -> (u32, u32) {
    require_root();
    let useradd = require_tool("useradd");
    fs::create_dir_all(target_dir()).expect("target dir");
    let lock = fs::File::create(target_dir().join("kitty-e2e-useradd.lock")).expect("lock file");
    lock.lock().expect("flock");
    let id = |flag: &str| -> Option<u32> {
        let o = Command::new("id").args([flag, OTHER_USER]).output().ok()?;
        o.status
            .success()
            .then(|| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .flatten()
    };
    if id("-u").is_none() {
        let o = Command::new(useradd)
            .args([
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                OTHER_USER,
            ])
            .output()
            .expect("useradd");
        // 9: the user exists (created meanwhile by someone without our lock).
        assert!(
            o.status.success() || o.status.code() == Some(9),
            "useradd {OTHER_USER}: {o:?}"
        );
        if o.status.success() {
            // Written before the lock is released: whoever finds the user
            // made by us also finds the file.
            fs::write(
                target_dir().join(OTHER_USER_CREATED),
                format!(
                    "{OTHER_USER} created by the tests (pid {})\n",
                    std::process::id()
                ),
            )
            .expect("record that the tests created the other user");
        }
    }
    let ids = (
        id("-u").expect("the other user's uid"),
        id("-g").expect("the other user's gid"),
    );
    drop(lock);
    ids
}

/// `setpriv` to `uid`/`gid` with no supplementary groups, then `env ENVS`:
/// the prefix of an argv that runs as that user (no wrapper process stays).
pub fn as_user(uid: u32, gid: u32, envs: &[(&str, &OsStr)]) -> Vec<OsString> {
    let mut v: Vec<OsString> = vec![
        require_tool("setpriv").into(),
        format!("--reuid={uid}").into(),
        format!("--regid={gid}").into(),
        "--clear-groups".into(),
        "--".into(),
    ];
    v.extend(env_prefix(envs));
    v
}

/// `env K=V ...` as argv words.
pub fn env_prefix(envs: &[(&str, &OsStr)]) -> Vec<OsString> {
    let mut v: Vec<OsString> = vec!["env".into()];
    for (k, val) in envs {
        let mut kv = OsString::from(format!("{k}="));
        kv.push(val);
        v.push(kv);
    }
    v
}

/// A Python that `uid` can run with spec-kitty importable: the venv's own
/// interpreter when that user can run it, else `/usr/bin/python3` with the
/// venv's site-packages on `PYTHONPATH` (root's pyenv, where the venv's
/// python points, is not readable by other users). Fails the test when
/// neither works. Returns the interpreter and the `PYTHONPATH` it needs.
pub fn python_for_user(
    uid: u32,
    gid: u32,
    venv_python: &Path,
    home: &Path,
) -> (PathBuf, Option<PathBuf>) {
    let check = |python: &Path, pythonpath: Option<&Path>| {
        let mut envs: Vec<(&str, &OsStr)> = vec![("HOME", home.as_os_str())];
        if let Some(pp) = pythonpath {
            envs.push(("PYTHONPATH", pp.as_os_str()));
        }
        let mut argv = as_user(uid, gid, &envs);
        argv.push(python.into());
        argv.extend(["-c".into(), "import specify_cli.dashboard.server".into()]);
        Command::new(&argv[0])
            .args(&argv[1..])
            .current_dir("/")
            .stdin(Stdio::null())
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    };
    if check(venv_python, None) {
        return (venv_python.to_path_buf(), None);
    }
    let prefix = venv_python
        .parent()
        .and_then(Path::parent)
        .expect("a venv python in <venv>/bin");
    let site = fs::read_dir(prefix.join("lib"))
        .expect("the venv's lib dir")
        .flatten()
        .map(|e| e.path().join("site-packages"))
        .find(|p| p.join("specify_cli").is_dir())
        .expect("the venv's site-packages with specify_cli");
    let system = PathBuf::from("/usr/bin/python3");
    assert!(
        check(&system, Some(&site)),
        "user {uid} can run neither {} nor /usr/bin/python3 with PYTHONPATH={} \
         (install a python3 of the same minor version as the venv's)",
        venv_python.display(),
        site.display()
    );
    (system, Some(site))
}

/// `path`, made executable by every user: itself when every directory above
/// it and it are, else a copy in a fresh world-readable dir under `root`.
pub fn executable_by_all(path: &Path, root: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let ok = |p: &Path, bits: u32| fs::metadata(p).is_ok_and(|m| m.mode() & bits == bits);
    let dirs_ok = path
        .ancestors()
        .skip(1)
        .all(|d| d.as_os_str().is_empty() || ok(d, 0o001));
    if dirs_ok && ok(path, 0o005) {
        return path.to_path_buf();
    }
    let dir = root.join("bin");
    fs::create_dir_all(&dir).expect("bin dir");
    let copy = dir.join(path.file_name().expect("a file name"));
    fs::copy(path, &copy).expect("copy the binary");
    fs::set_permissions(&copy, fs::Permissions::from_mode(0o755)).expect("chmod");
    for d in copy.ancestors().skip(1) {
        if d.starts_with(root) {
            fs::set_permissions(d, fs::Permissions::from_mode(0o755)).expect("chmod");
        }
    }
    copy
}

/// `chown` (not following symlinks).
pub fn lchown(path: &Path, uid: u32, gid: u32) {
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).expect("no NUL");
    // SAFETY: lchown(2) with a valid C string.
    let r = unsafe { libc::lchown(c.as_ptr(), uid, gid) };
    assert_eq!(
        r,
        0,
        "lchown {}: {}",
        path.display(),
        io::Error::last_os_error()
    );
}

/// The uid of `nobody` (65534 when it has no entry).
pub fn nobody() -> (u32, u32) {
    let id = |flag: &str| {
        Command::new("id")
            .args([flag, "nobody"])
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
    };
    (id("-u").unwrap_or(65534), id("-g").unwrap_or(65534))
}

// --- A command in the background ---------------------------------------------------------

/// A command running in the background, its stdout and stderr in temp files;
/// killed and reaped on drop if still running.
pub struct Background {
    child: Child,
    out: fs::File,
    err: fs::File,
    what: String,
}

impl Background {
    /// Spawns `cmd` (stdin /dev/null).
    pub fn spawn(cmd: &mut Command) -> Background {
        let out = tempfile::tempfile().expect("temp file");
        let err = tempfile::tempfile().expect("temp file");
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("dup"))
            .stderr(err.try_clone().expect("dup"))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
        Background {
            child,
            out,
            err,
            what: format!("{:?}", cmd.get_program()),
        }
    }

    /// Its pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether it has exited (reaps it then).
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().expect("try_wait")
    }

    /// Waits (up to `limit`) for it to end; returns its output. Fails the test
    /// (after killing it) when it does not end in time.
    pub fn finish(mut self, limit: Duration) -> Output {
        let status = poll(limit, || self.child.try_wait().expect("try_wait"));
        let Some(status) = status else {
            let _ = self.child.kill();
            let _ = self.child.wait();
            let partial = self.read();
            panic!(
                "{} did not end within {limit:?}:\n{}",
                self.what,
                super::show(&partial)
            );
        };
        let mut o = self.read();
        o.status = status;
        o
    }

    fn read(&mut self) -> Output {
        let read = |f: &mut fs::File| {
            let mut v = Vec::new();
            let _ = f.rewind();
            let _ = f.read_to_end(&mut v);
            v
        };
        Output {
            status: ExitStatus::default(),
            stdout: read(&mut self.out),
            stderr: read(&mut self.err),
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `path` as a `PathBuf` from raw bytes (non-UTF-8 names).
pub fn path_from_bytes(bytes: &[u8]) -> PathBuf {
    PathBuf::from(OsString::from_vec(bytes.to_vec()))
}
