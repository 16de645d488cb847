//! Shared helpers of the end-to-end tests (every test file declares `mod common;`).
//! Tests that need spec-kitty FAIL when it is missing (never skip): run
//! `scripts/spec-kitty-env` or `scripts/test-all`.
//!
//! Where each idea lives:
//! - here: paths, spec-kitty and its isolated home, temp roots, polling,
//!   ports, processes, the end-of-test "nothing left" checks, output in messages;
//! - [`cleanup`]: what a test must stop or remove even when it fails
//!   ([`cleanup::ProcessGuard`], [`cleanup::Cleanup`]);
//! - [`detached`]: real dashboards started the way spec-kitty starts them;
//! - [`fakes`]: venvs whose interpreter is a named fake, for start-up faults;
//! - [`reexec`]: this test binary re-executed to run one scenario;
//! - [`scene`]: a leakcheck test's temp root, fake HOME and port window;
//! - [`mini`]: small crates made for one test;
//! - [`pty`]: a command's output on a pseudo-terminal;
//! - [`leakcheck`]: the `cargo-kitty-leakcheck` binary and its JSON report;
//! - [`victim`]: what the tool must never harm (a dashboard of another
//!   namespace or user, a wrapper, a file) and the one check that it did not.
//!
//! Ports. spec-kitty's default range 9237-9336 is shared on purpose: tests
//! that start dashboards with default options (and spec-kitty's own CLI,
//! which picks the first free port upward from 9237) run there side by side,
//! as a user's suite does. Every other test file uses its own window outside
//! it, so that the whole suite can run in parallel under `cargo test` and
//! `cargo nextest run`: fixtures_bad_input 9500-9503, fixtures_versions
//! 9504-9509, fixtures_drop 9510-9519, fixtures_startup 9520-9529 and 9598,
//! fixtures_exit_paths 9530-9539, fixtures_ports 9540-9559, leakcheck_sweep
//! 9560-9567, 9589-9590, 9595, 9694 and 9695-9696, leakcheck_nextest 9568-9577, 9682-9683 and 9596-9597, leakcheck_run
//! 9601-9681, 9599 and 9591, fixtures_processes 9684-9693, leakcheck_processes
//! 9697-9699, never_kill 9700-9749,
//! leakcheck_reports 9760-9779 and 9592-9594, leakcheck_hardening 9580-9588,
//! never_kill_proofs 9780-9799 (the benchmarks use 9750-9759 and
//! 9800-9999); fixtures_shared_range runs in the default range on purpose.
#![allow(dead_code)]

pub mod cleanup;
pub mod detached;
pub mod fakes;
pub mod leakcheck;
pub mod mini;
pub mod pty;
pub mod reexec;
pub mod scene;
pub mod victim;

use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Output};
use std::time::{Duration, Instant};

use kitty_core::PortSet;
use kitty_core::spec_kitty::{DashboardFile, FoundDashboard};
use kitty_core::{self, ListenerSnapshot, ProcessIdentity};
use kitty_fixtures::KittyProject;

// --- Paths and spec-kitty ----------------------------------------------------

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The target directory the workspace builds into.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|p| {
            if p.is_absolute() {
                p
            } else {
                workspace_root().join(p)
            }
        })
        .unwrap_or_else(|| workspace_root().join("target"))
}

/// The `spec-kitty` executable: `KITTY_SPEC_KITTY`, else `spec-kitty` on `PATH`,
/// else the project's own venv for 3.2.7. Panics (fails the test) when none exists.
/// The pinned spec-kitty `version` that `scripts/spec-kitty-env VERSION`
/// installs under the target dir, for a test of that release whichever one
/// the suite runs with. Missing is a failure, never a skip.
pub fn pinned_spec_kitty(version: &str) -> PathBuf {
    let p = target_dir()
        .join("spec-kitty")
        .join(version)
        .join("bin/spec-kitty");
    assert!(
        p.is_file(),
        "spec-kitty {version} is not installed at {}: run scripts/spec-kitty-env {version}",
        p.display()
    );
    p
}

pub fn spec_kitty() -> PathBuf {
    if let Some(p) = std::env::var_os("KITTY_SPEC_KITTY") {
        let p = PathBuf::from(p);
        assert!(
            p.is_file(),
            "KITTY_SPEC_KITTY={} does not exist; run scripts/spec-kitty-env",
            p.display()
        );
        return p;
    }
    if let Some(p) = std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|d| d.join("spec-kitty"))
        .find(|p| p.is_file())
    {
        return p;
    }
    let venv = target_dir().join("spec-kitty/3.2.7/bin/spec-kitty");
    assert!(
        venv.is_file(),
        "spec-kitty is not installed: set KITTY_SPEC_KITTY or put spec-kitty on PATH; \
         install the pinned one with `scripts/spec-kitty-env` (scripts/test-all does it)"
    );
    venv
}

/// The suite's pinned pytest (`scripts/spec-kitty-env pytest`): `KITTY_PYTEST`,
/// else `target/spec-kitty/pytest-8.4.2/bin/pytest`. Panics (fails the test)
/// when it is missing.
pub fn pytest() -> PathBuf {
    let p = std::env::var_os("KITTY_PYTEST")
        .map(PathBuf::from)
        .unwrap_or_else(|| target_dir().join("spec-kitty/pytest-8.4.2/bin/pytest"));
    assert!(
        p.is_file(),
        "pytest is not installed at {}: run `scripts/spec-kitty-env pytest` \
         (scripts/test-all does it) or set KITTY_PYTEST",
        p.display()
    );
    p
}

/// Sets `KITTY_SPEC_KITTY` for this process when it is not set, so that the
/// fixtures find the same spec-kitty as [`spec_kitty`].
pub fn export_spec_kitty() -> PathBuf {
    let p = spec_kitty();
    if std::env::var_os("KITTY_SPEC_KITTY").is_none() {
        // SAFETY: called before any test thread reads the environment concurrently
        // is not guaranteed in general; tests call it first thing, and the value is
        // the same in every thread.
        unsafe { std::env::set_var("KITTY_SPEC_KITTY", &p) };
    }
    p
}

/// Isolates the spec-kitty (or dashboard) that `cmd` starts in the fake home
/// `home`: `HOME=home`, `SPEC_KITTY_HOME=home/.spec-kitty`, as kitty-fixtures
/// does for its projects. `SPEC_KITTY_HOME` must not be a temp dir directly
/// under /tmp: spec-kitty deletes every `.kittify_update_*` staging dir beside
/// it, and there those are other runs' dirs. (The mini crates' generated test
/// sources cannot call this; they set the same two variables by hand.)
///
/// It also drops the run label of the suite's own leakcheck run
/// (`KITTY_LEAKCHECK_RUN`): what a test starts is "someone else" to the
/// leakcheck run the test itself starts, unless the test says otherwise.
pub fn isolate_home<'a>(cmd: &'a mut Command, home: &Path) -> &'a mut Command {
    cmd.env("HOME", home)
        .env("SPEC_KITTY_HOME", home.join(".spec-kitty"))
        .env_remove(kitty_core::RUN_LABEL_ENV)
}

// --- Temp roots and projects -------------------------------------------------

/// A temp dir of one test, for its own projects (outside any KittyProject).
pub fn temp_root(prefix: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .expect("temp dir")
}

/// [`temp_root`] with a fake HOME inside (`<root>/home`) for spec-kitty.
pub fn root_and_home(prefix: &str) -> (tempfile::TempDir, PathBuf) {
    let root = temp_root(prefix);
    let home = root.path().join("home");
    std::fs::create_dir_all(&home).expect("home");
    (root, home)
}

/// A minimal project (`.kittify/`, `kitty-specs/`) `<root>/<name>`, canonical.
pub fn bare_project(root: &Path, name: &str) -> PathBuf {
    let p = root.join(name);
    std::fs::create_dir_all(p.join(".kittify")).expect("mkdir");
    std::fs::create_dir_all(p.join("kitty-specs")).expect("mkdir");
    p.canonicalize().expect("canonical")
}

/// A scaffold whose dashboards use the ports `ports`.
pub fn project_on(ports: &str) -> KittyProject {
    KittyProject::builder()
        .ports(ports.parse().expect("ports"))
        .build()
        .expect("project")
}

/// True when `.kittify/.dashboard` exists in `dir`.
pub fn has_dashboard_file(dir: &Path) -> bool {
    DashboardFile::path_in(dir).exists()
}

// --- Polling -------------------------------------------------------------------

/// How often conditions are polled.
pub const POLL: Duration = Duration::from_millis(5);
/// A deadline for things the guarantees say happen "within a second" (or at
/// once): generous, so that a loaded machine never fails a test; the measured
/// time is printed instead.
pub const DEADLINE: Duration = Duration::from_secs(5);
/// How long to wait for what must happen before a test can go on (a
/// dashboard's start, a child's end): a hang, not a timing assertion.
pub const MINUTE: Duration = Duration::from_secs(60);

/// Polls `f` every [`POLL`] until it gives a value or `limit` passes.
pub fn poll<T>(limit: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if start.elapsed() >= limit {
            return None;
        }
        std::thread::sleep(POLL);
    }
}

/// Polls `cond` until it holds or `limit` passes; returns how long it took, or `None`.
pub fn eventually(limit: Duration, mut cond: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    poll(limit, || cond().then(|| start.elapsed()))
}

/// Polls `f` until it gives a value; fails the test after `limit`.
pub fn wait_for<T>(limit: Duration, what: &str, f: impl FnMut() -> Option<T>) -> T {
    poll(limit, f).unwrap_or_else(|| panic!("gave up waiting for {what} ({limit:?})"))
}

/// Polls `cond` until it holds; fails the test after a [`MINUTE`].
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    wait_for(MINUTE, what, || cond().then_some(()))
}

// --- Ports ---------------------------------------------------------------------

/// True when some socket listens on `port`.
pub fn port_held(port: u16) -> bool {
    ListenerSnapshot::take(&PortSet::single(port))
        .expect("snapshot")
        .holds(port)
}

/// True when nothing listens on `port`.
pub fn port_free(port: u16) -> bool {
    !port_held(port)
}

/// Fails the test when anything listens on a port of `ports`.
pub fn assert_ports_free(ports: &str) {
    let set: PortSet = ports.parse().expect("ports");
    let left = ListenerSnapshot::take(&set).expect("snapshot");
    assert!(
        left.listeners().is_empty(),
        "listeners left on {ports}: {:?}",
        left.listeners()
    );
}

/// That the dashboard on `port` answers `/api/health` for `dir`.
pub fn assert_serves(port: u16, dir: &Path) {
    let health = kitty_core::spec_kitty::fetch_health(port, Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("no health from {port}: {e}"));
    assert_eq!(
        health.project_path.as_deref(),
        Some(dir),
        "the dashboard on {port} serves another project"
    );
}

// --- Processes -------------------------------------------------------------------

/// The identity of `pid` now; panics when it is not running.
pub fn identity(pid: u32) -> ProcessIdentity {
    ProcessIdentity::read(pid).unwrap_or_else(|| panic!("pid {pid} is not running"))
}

/// True when `/proc/PID` no longer exists: the process exited and was reaped.
pub fn reaped(pid: u32) -> bool {
    !Path::new(&format!("/proc/{pid}")).exists()
}

/// The pid of a process that has exited and been reaped.
pub fn dead_pid() -> u32 {
    let mut c = Command::new("true").spawn().expect("true");
    let pid = c.id();
    c.wait().expect("wait");
    pid
}

// --- Nothing left ------------------------------------------------------------------

/// Every live dashboard process whose project dir lies under `root`.
pub fn dashboards_under(root: &Path) -> Vec<FoundDashboard> {
    kitty_core::spec_kitty::find_dashboard_processes()
        .into_iter()
        .filter(|d| d.command.project_dir.starts_with(root))
        .collect()
}

/// Fails the test if any dashboard serving a project under `root` is alive.
pub fn assert_no_dashboard_under(root: &Path) {
    let left = dashboards_under(root);
    assert!(
        left.is_empty(),
        "dashboards left behind under {}: {left:#?}",
        root.display()
    );
}

/// The end of a test: nothing listens on its window of `ports`, and no
/// dashboard serving a project under `root` is alive.
pub fn assert_nothing_left(ports: &str, root: &Path) {
    assert_ports_free(ports);
    assert_no_dashboard_under(root);
}

// --- Output in messages ------------------------------------------------------------

/// Status and both outputs, for assertion messages.
pub fn show(o: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// How an exit status reads in a message: `exit 0`, `signal 9`.
pub fn describe(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(c), _) => format!("exit {c}"),
        (_, Some(s)) => format!("signal {s}"),
        _ => format!("{status:?}"),
    }
}

/// The first run of 32 or more hex digits in `text` (a token, or something like one).
pub fn token_like(text: &str) -> Option<&str> {
    text.split(|c: char| !c.is_ascii_hexdigit())
        .find(|run| run.len() >= 32)
}

/// True when `text` contains a run of 32 or more hex digits (a token).
pub fn shows_a_token(text: &str) -> bool {
    token_like(text).is_some()
}

/// A random 32-hex-digit token.
pub fn random_token() -> String {
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .expect("urandom");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
