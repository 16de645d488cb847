//! Helpers shared by the `tests/fixtures_*.rs` end-to-end tests of
//! kitty-fixtures: port and process checks, a clean-up guard that stops what a
//! failing test left by identity, and re-executing the test binary to run one
//! scenario in a child process (for the ways a test process can end).
//!
//! Each test file uses its own window of ports so that the whole suite can run
//! in parallel under `cargo test` and `cargo nextest run`:
//! bad_input 9260-9263, versions 9264-9269, drop 9270-9279,
//! startup 9280-9289, exit_paths 9290-9299, ports 9300-9319
//! (the benchmark uses 9250-9259).
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kitty_fixtures::ports::PortSet;
use kitty_fixtures::probe::{self, DashboardFile, ListenerSnapshot, ProcessIdentity, StopPolicy};

/// The environment variable naming the scenario a re-executed test binary runs.
pub const SCENARIO_ENV: &str = "KITTY_E2E_SCENARIO";
/// The prefix of the line a scenario prints for each dashboard it started.
pub const REPORT: &str = "KITTY_E2E_REPORT";
/// How often conditions are polled.
pub const POLL: Duration = Duration::from_millis(5);
/// A deadline for things the guarantees say happen "within a second" (or at
/// once): generous, so that a loaded machine never fails a test; the measured
/// time is printed instead.
pub const DEADLINE: Duration = Duration::from_secs(5);

/// True when some socket listens on `port`.
pub fn port_held(port: u16) -> bool {
    ListenerSnapshot::take(&PortSet::single(port))
        .map(|s| !s.listeners().is_empty())
        .unwrap_or(true)
}

/// True when nothing listens on `port`.
pub fn port_free(port: u16) -> bool {
    !port_held(port)
}

/// Asserts that nothing listens on any port of `ports`.
pub fn assert_ports_free(ports: &str) {
    let set: PortSet = ports.parse().expect("port set");
    let held = ListenerSnapshot::take(&set).expect("listeners");
    assert!(
        held.listeners().is_empty(),
        "ports {ports} still held: {:?}",
        held.ports()
    );
}

/// True when `/proc/PID` no longer exists: the process exited and was reaped.
pub fn reaped(pid: u32) -> bool {
    !Path::new(&format!("/proc/{pid}")).exists()
}

/// Polls `cond` every [`POLL`] until it holds or `limit` passes; returns how
/// long it took, or `None`.
pub fn eventually(limit: Duration, mut cond: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    loop {
        if cond() {
            return Some(start.elapsed());
        }
        if start.elapsed() >= limit {
            return None;
        }
        std::thread::sleep(POLL);
    }
}

/// The identity of `pid` now; panics when it is not running.
pub fn identity(pid: u32) -> ProcessIdentity {
    ProcessIdentity::read(pid).unwrap_or_else(|| panic!("pid {pid} is not running"))
}

/// Everything a test started that must not outlive it, stopped (by identity
/// only) or removed when the guard drops, also when the test fails.
#[derive(Default)]
pub struct Cleanup {
    processes: Vec<(ProcessIdentity, Option<u16>)>,
    children: Vec<Child>,
    dirs: Vec<PathBuf>,
}

impl Cleanup {
    /// A new, empty guard.
    pub fn new() -> Self {
        Self::default()
    }

    /// Stops `pid` (with its group, and waits for `port`) at the end if it is
    /// still the same process.
    pub fn process(&mut self, pid: u32, port: Option<u16>) -> ProcessIdentity {
        let id = identity(pid);
        self.processes.push((id.clone(), port));
        id
    }

    /// Kills and reaps `child` at the end.
    pub fn child(&mut self, child: Child) -> &mut Child {
        self.children.push(child);
        self.children.last_mut().expect("just pushed")
    }

    /// Removes `dir` at the end (after the processes are stopped).
    pub fn dir(&mut self, dir: impl Into<PathBuf>) {
        self.dirs.push(dir.into());
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        let policy = StopPolicy {
            term_grace: Duration::from_secs(1),
            kill_grace: Duration::from_secs(2),
        };
        for (id, port) in &self.processes {
            if id.is_still_alive() {
                eprintln!(
                    "cleanup: stopping leftover pid {} (port {port:?})",
                    id.pid()
                );
                if let Err(e) = probe::stop_process_group(id, *port, policy) {
                    eprintln!("cleanup: {e}");
                }
            }
        }
        for d in &self.dirs {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

/// What a scenario printed about one dashboard it started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The dashboard's pid.
    pub pid: u32,
    /// Its port.
    pub port: u16,
    /// The project's isolated spec-kitty home.
    pub home: PathBuf,
    /// The project dir.
    pub dir: PathBuf,
}

/// Prints the [`Report`] line of a dashboard of `project` (never its token).
pub fn report(dashboard: &kitty_fixtures::Dashboard, project: &kitty_fixtures::KittyProject) {
    println!(
        "{REPORT} pid={} port={} home={} dir={}",
        dashboard.pid(),
        dashboard.port(),
        project.home().display(),
        project.path().display()
    );
}

fn parse_report(line: &str) -> Option<Report> {
    // libtest may have printed `test name ... ` on the same line first.
    let rest = line[line.find(REPORT)? + REPORT.len()..].trim();
    let (head, dir) = rest.split_once(" dir=")?;
    let (head, home) = head.split_once(" home=")?;
    let mut pid = None;
    let mut port = None;
    for part in head.split(' ') {
        if let Some(v) = part.strip_prefix("pid=") {
            pid = v.parse().ok();
        } else if let Some(v) = part.strip_prefix("port=") {
            port = v.parse().ok();
        }
    }
    Some(Report {
        pid: pid?,
        port: port?,
        home: home.into(),
        dir: dir.into(),
    })
}

/// True in a scenario test when this process was started to run `name`.
/// Scenario tests are `#[ignore]`d and return at once unless this holds.
pub fn scenario_is(name: &str) -> bool {
    std::env::var(SCENARIO_ENV).as_deref() == Ok(name)
}

/// In a scenario: blocks until the outer test closes our stdin (or dies).
pub fn hold() {
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
}

/// A child process running one scenario test of this test binary.
pub struct Scenario {
    name: String,
    child: Child,
    lines: Receiver<String>,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
}

impl Scenario {
    /// Re-executes this test binary to run the `#[ignore]`d test `name` alone,
    /// with `SCENARIO_ENV=name`, `KITTY_SPEC_KITTY` set, core dumps off, in its
    /// own process group (as nextest runs a test), stdin a pipe (see [`hold`]).
    pub fn spawn(name: &str, envs: &[(&str, &str)]) -> Scenario {
        Self::spawn_with(name, |c| {
            c.envs(envs.iter().copied());
        })
    }

    /// [`Scenario::spawn`] with full control of the command (e.g. to remove variables).
    pub fn spawn_with(name: &str, tweak: impl FnOnce(&mut Command)) -> Scenario {
        let exe = std::env::current_exe().expect("current exe");
        let mut cmd = Command::new(exe);
        cmd.args([
            "--exact",
            name,
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(SCENARIO_ENV, name)
        .env_remove("RUST_BACKTRACE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
        if let Some(sk) = std::env::var_os("KITTY_SPEC_KITTY") {
            cmd.env("KITTY_SPEC_KITTY", sk);
        }
        // SAFETY: setrlimit is async-signal-safe; no allocation in the closure.
        unsafe {
            cmd.pre_exec(|| {
                let zero = libc::rlimit {
                    rlim_cur: 0,
                    rlim_max: 0,
                };
                libc::setrlimit(libc::RLIMIT_CORE, &zero);
                Ok(())
            });
        }
        tweak(&mut cmd);
        let mut child = cmd.spawn().expect("re-execute the test binary");
        let stdout = Arc::new(Mutex::new(String::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let (tx, lines) = mpsc::channel();
        let out = child.stdout.take().expect("stdout");
        let all = Arc::clone(&stdout);
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                all.lock().expect("lock").push_str(&format!("{line}\n"));
                let _ = tx.send(line);
            }
        });
        let err = child.stderr.take().expect("stderr");
        let all = Arc::clone(&stderr);
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = BufReader::new(err).read_to_string(&mut text);
            all.lock().expect("lock").push_str(&text);
        });
        Scenario {
            name: name.into(),
            child,
            lines,
            stdout,
            stderr,
        }
    }

    /// The child's pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything the child printed so far (for failure messages).
    pub fn output(&self) -> String {
        format!(
            "--- {} stdout ---\n{}--- stderr ---\n{}",
            self.name,
            self.stdout.lock().expect("lock"),
            self.stderr.lock().expect("lock")
        )
    }

    /// Waits (up to 60 s) for the next [`Report`] line.
    pub fn next_report(&mut self) -> Report {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    if let Some(r) = parse_report(&line) {
                        return r;
                    }
                }
                Err(_) => panic!("no report from scenario {}:\n{}", self.name, self.output()),
            }
        }
    }

    /// Closes the child's stdin (ends [`hold`]).
    pub fn release(&mut self) {
        drop(self.child.stdin.take());
    }

    /// Sends `sig` to the child process, or to its whole group.
    pub fn signal(&self, sig: libc::c_int, whole_group: bool) {
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: plain kill(2) of our own unreaped child (or its group).
        let r = unsafe { libc::kill(if whole_group { -pid } else { pid }, sig) };
        assert_eq!(r, 0, "kill: {}", std::io::Error::last_os_error());
    }

    /// Waits (up to 60 s) for the child to end and for its output to be read.
    pub fn wait(&mut self) -> ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                // Let the reader threads catch the last lines.
                let _ = eventually(Duration::from_secs(2), || {
                    Arc::strong_count(&self.stderr) == 1 && Arc::strong_count(&self.stdout) == 1
                });
                return status;
            }
            if start.elapsed() > Duration::from_secs(60) {
                let _ = self.child.kill();
                panic!("scenario {} did not end:\n{}", self.name, self.output());
            }
            std::thread::sleep(POLL);
        }
    }
}

impl Drop for Scenario {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            // SAFETY: kill(2) of the group of our own unreaped child.
            unsafe { libc::kill(-(self.child.id() as libc::pid_t), libc::SIGKILL) };
        }
        let _ = self.child.wait();
    }
}

/// How an exit status reads in a message: `exit 0`, `signal 9`.
pub fn describe(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(c), _) => format!("exit {c}"),
        (_, Some(s)) => format!("signal {s}"),
        _ => format!("{status:?}"),
    }
}

/// True when `.kittify/.dashboard` exists in `dir`.
pub fn has_dashboard_file(dir: &Path) -> bool {
    DashboardFile::path_in(dir).exists()
}

/// The end state every stopped dashboard must reach: the process is gone (and
/// reaped when it was our child), nothing listens on its port.
pub fn assert_stopped(id: &ProcessIdentity, port: u16) {
    assert!(
        !id.is_still_alive(),
        "dashboard pid {} still running",
        id.pid()
    );
    assert!(
        port_free(port),
        "port {port} still held after pid {} was stopped",
        id.pid()
    );
}

/// True when `text` contains a run of 32 or more hex digits (a token).
pub fn shows_a_token(text: &str) -> bool {
    let mut run = 0;
    for c in text.chars() {
        run = if c.is_ascii_hexdigit() { run + 1 } else { 0 };
        if run >= 32 {
            return true;
        }
    }
    false
}

/// A random 32-hex-digit token (for dashboards a test starts itself).
pub fn random_token() -> String {
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .expect("urandom");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Starts the real dashboard server for `project` on `port` the way spec-kitty
/// does (its own session, stdio to /dev/null), re-parented away from this
/// process (a real leak, not our child). Waits until it listens. The caller
/// registers it in a [`Cleanup`].
pub fn spawn_detached_dashboard(project: &Path, port: u16, home: &Path) -> u32 {
    spawn_detached_dashboard_in(project, project, port, home)
}

/// [`spawn_detached_dashboard`] with the project named as `project` on the
/// command line (e.g. `.`) and the process started in `cwd`.
pub fn spawn_detached_dashboard_in(project: &Path, cwd: &Path, port: u16, home: &Path) -> u32 {
    let sk = kitty_fixtures::SpecKitty::locate(None).expect("spec-kitty");
    let server = sk.server_command(project, port, &random_token());
    let out = Command::new("sh")
        .arg("-c")
        .arg(r#"setsid "$@" </dev/null >/dev/null 2>&1 & echo $!"#)
        .arg("sh")
        .arg(server.get_program())
        .args(server.get_args())
        .current_dir(cwd)
        .env("HOME", home)
        .env("SPEC_KITTY_HOME", home)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .expect("sh");
    let pid: u32 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("pid from sh");
    let listening = eventually(Duration::from_secs(60), || {
        port_held(port) || ProcessIdentity::read(pid).is_none()
    });
    assert!(
        listening.is_some() && port_held(port),
        "detached dashboard pid {pid} never listened on {port}"
    );
    pid
}

/// A temp dir for a test's own projects (outside any KittyProject).
pub fn temp_root(prefix: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .expect("temp dir")
}

/// A minimal project (`.kittify/`, `kitty-specs/`) under `root`.
pub fn bare_project(root: &Path, name: &str) -> PathBuf {
    let p = root.join(name);
    std::fs::create_dir_all(p.join(".kittify")).expect("mkdir");
    std::fs::create_dir_all(p.join("kitty-specs")).expect("mkdir");
    p.canonicalize().expect("canonical")
}

/// Runs `cmd` to its end (stdio to temp files), killing it after `limit`.
/// Returns its status and its output (stdout then stderr), tokens masked.
pub fn run_with_deadline(cmd: &mut Command, limit: Duration) -> (ExitStatus, String) {
    let out = tempfile::tempfile().expect("temp file");
    let err = tempfile::tempfile().expect("temp file");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(out.try_clone().expect("dup"))
        .stderr(err.try_clone().expect("dup"))
        .spawn()
        .expect("spawn");
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("try_wait") {
            break s;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} did not end within {limit:?}");
        }
        std::thread::sleep(POLL);
    };
    let read = |mut f: std::fs::File| {
        use std::io::Seek;
        let mut s = String::new();
        let _ = f.rewind();
        let _ = f.read_to_string(&mut s);
        s
    };
    (status, probe::mask_tokens(&(read(out) + &read(err))))
}
