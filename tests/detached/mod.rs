//! Real dashboards started the way spec-kitty starts them (the server module,
//! in its own session, stdio to /dev/null) and re-parented away from the test:
//! a real leak, but without the CLI's 3 s of imports. Shared by the leakcheck
//! end-to-end tests (`mod detached;`).
#![allow(dead_code)]

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use kitty_fixtures::ports::PortSet;
use kitty_fixtures::probe::{ListenerSnapshot, ProcessIdentity};

use crate::common;

/// The token every test dashboard uses (32 hex digits, like spec-kitty's).
pub const TOKEN: &str = "0123456789abcdef0123456789abcdef";

/// The python interpreter of the spec-kitty under test (its shebang).
pub fn spec_kitty_python() -> PathBuf {
    let exe = common::spec_kitty();
    let text = std::fs::read_to_string(&exe).expect("read the spec-kitty script");
    let line = text.lines().next().unwrap_or_default();
    let py = line.strip_prefix("#!").map(str::trim).unwrap_or_default();
    assert!(
        Path::new(py).is_file(),
        "cannot find the python of {}: first line {line:?}",
        exe.display()
    );
    PathBuf::from(py)
}

/// A process this test started, killed (whole group, only if still the same
/// process) when dropped, so that a failing assertion leaves nothing behind.
pub struct Started {
    pub identity: ProcessIdentity,
}

impl Started {
    pub fn pid(&self) -> u32 {
        self.identity.pid()
    }
    pub fn alive(&self) -> bool {
        self.identity.is_still_alive()
    }
}

impl Drop for Started {
    fn drop(&mut self) {
        if self.identity.is_still_alive() {
            let pid = self.identity.pid() as i32;
            let target = if self.identity.leads_its_group() {
                -pid
            } else {
                pid
            };
            // SAFETY: plain kill(2) of a process (group) we started and just re-identified.
            unsafe { libc::kill(target, libc::SIGKILL) };
            // Not `is_still_alive`: an exiting process loses its command line
            // (exit_mm) before it closes its sockets (exit_files).
            wait_until(|| exited(self.identity.pid()), "the killed process to exit");
        }
    }
}

/// True when `pid` is gone or a zombie (its sockets are closed by then).
pub fn exited(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .is_none_or(|(_, rest)| rest.trim_start().starts_with(['Z', 'X'])),
    }
}

/// Starts `argv` detached like spec-kitty does (own session, stdio to
/// /dev/null), re-parented away from this process; returns its identity.
pub fn spawn_detached(argv: &[&OsStr], home: &Path) -> Started {
    let out = Command::new("sh")
        .arg("-c")
        .arg(r#"setsid "$@" </dev/null >/dev/null 2>&1 & echo $!"#)
        .arg("sh")
        .args(argv)
        .env("HOME", home)
        .env("SPEC_KITTY_HOME", home)
        .stdin(Stdio::null())
        .output()
        .expect("run sh");
    assert!(out.status.success(), "sh failed: {out:?}");
    let pid: u32 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("a pid");
    // The exec may not have happened yet (sh, then setsid, then the program in
    // the same pid): wait for the command line to be the one we asked for.
    let want = argv
        .last()
        .map(|a| a.to_string_lossy().into_owned())
        .unwrap_or_default();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(id) = ProcessIdentity::read(pid)
            && id.argv().len() == argv.len()
            && id.argv().last() == Some(&want)
        {
            return Started { identity: id };
        }
        assert!(Instant::now() < deadline, "pid {pid} never ran {argv:?}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Starts a real dashboard server for `project` on `port` and waits until it listens.
pub fn start_dashboard(project: &Path, port: u16, home: &Path) -> Started {
    let py = spec_kitty_python();
    let port_s = port.to_string();
    let argv = [
        py.as_os_str(),
        "-m".as_ref(),
        "specify_cli.dashboard._server_main".as_ref(),
        project.as_os_str(),
        port_s.as_ref(),
        TOKEN.as_ref(),
    ];
    let d = spawn_detached(&argv, home);
    wait_until(|| listening(port) || !d.alive(), "the dashboard to listen");
    assert!(
        d.alive(),
        "the dashboard on {port} died at start-up (port taken?)"
    );
    d
}

/// Polls `cond` every 10 ms; fails the test after a minute (a hang, not a timing assertion).
pub fn wait_until(mut cond: impl FnMut() -> bool, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !cond() {
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Whether something listens on `port`.
pub fn listening(port: u16) -> bool {
    ListenerSnapshot::take(&PortSet::single(port))
        .expect("snapshot")
        .holds(port)
}

/// A temp root for the projects and the fake HOME of one test.
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

/// The end of every test: nothing listens on its window of `ports`, and no
/// dashboard serving a project under `root` is alive.
pub fn assert_nothing_left(ports: &str, root: &Path) {
    assert_window_empty(ports);
    common::assert_no_dashboard_under(root);
}

/// `<root>/<name>` with an empty `.kittify/`.
pub fn project(root: &Path, name: &str) -> PathBuf {
    let p = root.join(name);
    std::fs::create_dir_all(p.join(".kittify")).expect("project dir");
    p
}

/// Status and both outputs, for assertion messages.
pub fn show(o: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Fails the test when anything listens on `ports`.
pub fn assert_window_empty(ports: &str) {
    let set: PortSet = ports.parse().expect("ports");
    let left = ListenerSnapshot::take(&set).expect("snapshot");
    assert!(
        left.listeners().is_empty(),
        "listeners left on {ports}: {:?}",
        left.listeners()
    );
}
