//! End-to-end tests of `cargo kitty-leakcheck sweep` with real dashboards.
//!
//! Each test watches its own window of ports (`--ports`), starts its dashboards
//! with explicit ports inside it, and ends with nothing on the window and no
//! dashboard of its projects alive. Dashboards are started the way spec-kitty
//! starts them (the server module, in its own session, re-parented away from
//! the test: a real leak), but directly, to be fast.

mod common;

use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use kitty_fixtures::ports::PortSet;
use kitty_fixtures::probe::{DashboardFile, ListenerSnapshot, ProcessIdentity};
use serde_json::Value;

const TOKEN: &str = "0123456789abcdef0123456789abcdef";

/// The python interpreter of the spec-kitty under test (its shebang).
fn spec_kitty_python() -> PathBuf {
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
struct Started {
    identity: ProcessIdentity,
}

impl Started {
    fn pid(&self) -> u32 {
        self.identity.pid()
    }
    fn alive(&self) -> bool {
        self.identity.is_still_alive()
    }
}

impl Drop for Started {
    fn drop(&mut self) {
        if self.identity.is_still_alive() {
            let pid = self.identity.pid() as i32;
            // SAFETY: plain kill(2) of a process (group) we started and just re-identified.
            unsafe {
                if self.identity.leads_its_group() {
                    libc::kill(-pid, libc::SIGKILL);
                } else {
                    libc::kill(pid, libc::SIGKILL);
                }
            }
            while self.identity.is_still_alive() {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    }
}

/// Starts `argv` detached like spec-kitty does (own session, stdio to
/// /dev/null) and re-parented away from this process; returns its identity.
fn spawn_detached(argv: &[&std::ffi::OsStr], home: &Path) -> Started {
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
fn start_dashboard(project: &Path, port: u16, home: &Path) -> Started {
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

fn wait_until(mut cond: impl FnMut() -> bool, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !cond() {
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn listening(port: u16) -> bool {
    ListenerSnapshot::take(&PortSet::single(port))
        .expect("snapshot")
        .holds(port)
}

/// A temp root holding the projects and the fake HOME of one test.
fn temp_root() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("kitty-sweep-")
        .tempdir()
        .expect("temp dir")
}

fn project(root: &Path, name: &str) -> PathBuf {
    let p = root.join(name);
    std::fs::create_dir_all(p.join(".kittify")).expect("project dir");
    p
}

fn sweep(ports: &str, args: &[&str]) -> Output {
    Command::new(common::leakcheck_bin())
        .arg("sweep")
        .args(["--ports", ports])
        .args(args)
        .env_remove("KITTY_PORTS")
        .stdin(Stdio::null())
        .output()
        .expect("run cargo-kitty-leakcheck sweep")
}

fn show(o: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn json_of(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", show(o)))
}

fn entry(report: &Value, pid: u32) -> &Value {
    report["dashboards"]
        .as_array()
        .expect("dashboards")
        .iter()
        .find(|d| d["pid"] == pid)
        .unwrap_or_else(|| panic!("pid {pid} not in the report: {report:#}"))
}

fn assert_window_empty(ports: &str) {
    let set: PortSet = ports.parse().expect("ports");
    let left = ListenerSnapshot::take(&set).expect("snapshot");
    assert!(
        left.listeners().is_empty(),
        "listeners left on {ports}: {:?}",
        left.listeners()
    );
}

#[test]
fn sweep_stops_orphans_and_unrecorded_only_and_asks_first() {
    let ports = "9320-9324";
    let root = temp_root();
    let home = root.path().join("home");
    std::fs::create_dir_all(&home).expect("home");

    // An orphan: its project is deleted while it runs.
    let gone = project(root.path(), "gone");
    let orphan = start_dashboard(&gone, 9320, &home);
    std::fs::remove_dir_all(&gone).expect("delete the project");
    // An unrecorded one: the project exists, no .kittify/.dashboard names it.
    let unrecorded = start_dashboard(&project(root.path(), "unrecorded"), 9321, &home);
    // A live one: its project records it.
    let live_dir = project(root.path(), "live");
    let live = start_dashboard(&live_dir, 9322, &home);
    DashboardFile::new(9322, Some(TOKEN.into()), Some(live.pid()))
        .write(&live_dir)
        .expect("write .dashboard");
    // A foreign listener.
    let foreign =
        TcpListener::bind((Ipv4Addr::LOCALHOST, 9323)).expect("bind the foreign listener");

    // No terminal, no --yes: list, stop nothing, exit 4.
    let o = sweep(ports, &[]);
    assert_eq!(o.status.code(), Some(4), "{}", show(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("orphan (project gone)") && text.contains("unrecorded"),
        "{}",
        show(&o)
    );
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("--yes"),
        "{}",
        show(&o)
    );
    assert!(!text.contains(TOKEN), "token printed: {}", show(&o));
    assert!(orphan.alive() && unrecorded.alive() && live.alive());

    // --dry-run: list, stop nothing, exit 0.
    let o = sweep(ports, &["--dry-run"]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert!(orphan.alive() && unrecorded.alive() && live.alive());

    // --json --dry-run: the classes, parseable.
    let o = sweep(ports, &["--dry-run", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert!(
        !String::from_utf8_lossy(&o.stdout).contains(TOKEN),
        "token printed: {}",
        show(&o)
    );
    let r = json_of(&o);
    assert_eq!(r["schema_version"], 1);
    assert_eq!(entry(&r, orphan.pid())["class"], "orphan");
    assert_eq!(entry(&r, orphan.pid())["reason"], "project-gone");
    assert_eq!(entry(&r, orphan.pid())["action"], "would-stop");
    assert_eq!(entry(&r, unrecorded.pid())["class"], "unrecorded");
    assert_eq!(entry(&r, live.pid())["class"], "live");
    assert_eq!(entry(&r, live.pid())["action"], "kept");
    assert_eq!(r["to_stop"], 2);
    let foreign_json = r["foreign"].as_array().expect("foreign");
    assert!(
        foreign_json
            .iter()
            .any(|f| f["port"] == 9323 && f["pid"] == std::process::id()),
        "the foreign listener is not listed: {r:#}"
    );
    assert!(orphan.alive() && unrecorded.alive() && live.alive());

    // --yes: the orphan and the unrecorded one are stopped; live and foreign stay.
    let o = sweep(ports, &["--yes", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let r = json_of(&o);
    assert_eq!(entry(&r, orphan.pid())["action"], "stopped");
    assert_eq!(entry(&r, unrecorded.pid())["action"], "stopped");
    assert_eq!(entry(&r, live.pid())["action"], "kept");
    assert!(!orphan.alive() && !unrecorded.alive(), "{}", show(&o));
    assert!(live.alive(), "the live dashboard was stopped");
    assert!(!listening(9320) && !listening(9321) && listening(9322) && listening(9323));

    // --all --yes stops the live one too and removes the .dashboard that named it.
    let o = sweep(ports, &["--all", "--yes", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let r = json_of(&o);
    assert_eq!(entry(&r, live.pid())["action"], "stopped");
    assert_eq!(
        r["dashboard_files_removed"].as_array().map(Vec::len),
        Some(1),
        "{r:#}"
    );
    assert!(!live.alive());
    assert!(!DashboardFile::path_in(&live_dir).exists());
    assert!(listening(9323), "the foreign listener was touched");

    drop(foreign);
    assert_window_empty(ports);
    common::assert_no_dashboard_under(root.path());
}

#[test]
fn sweep_does_not_trust_a_dashboard_file_that_names_another_pid() {
    let ports = "9325-9327";
    let root = temp_root();
    let home = root.path().join("home");
    std::fs::create_dir_all(&home).expect("home");

    // The project's .dashboard names a pid that is alive but is not its dashboard
    // (a reused pid): spec-kitty would SIGKILL it. It must survive.
    let stranger = spawn_detached(&["sleep".as_ref(), "600".as_ref()], &home);
    let p = project(root.path(), "stale");
    let d = start_dashboard(&p, 9325, &home);
    DashboardFile::new(9325, Some(TOKEN.into()), Some(stranger.pid()))
        .write(&p)
        .expect("write .dashboard");
    // Another project whose .dashboard names a dead process.
    let dead_pid = {
        let mut c = Command::new("true").spawn().expect("true");
        let pid = c.id();
        c.wait().expect("wait");
        pid
    };
    let q = project(root.path(), "dead");
    let e = start_dashboard(&q, 9326, &home);
    DashboardFile::new(9326, Some(TOKEN.into()), Some(dead_pid))
        .write(&q)
        .expect("write .dashboard");

    let o = sweep(ports, &["--dry-run", "--json"]);
    let r = json_of(&o);
    assert_eq!(entry(&r, d.pid())["class"], "unrecorded", "{r:#}");
    assert_eq!(entry(&r, e.pid())["class"], "unrecorded", "{r:#}");
    assert_eq!(
        r["dashboard_files_stale"].as_array().map(Vec::len),
        Some(2),
        "{r:#}"
    );

    let o = sweep(ports, &["--yes"]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("removed 2 .kittify/.dashboard files"),
        "{}",
        show(&o)
    );
    assert!(!d.alive() && !e.alive(), "{}", show(&o));
    assert!(
        stranger.alive(),
        "the process named by a stale .dashboard was signalled"
    );
    assert!(!DashboardFile::path_in(&p).exists() && !DashboardFile::path_in(&q).exists());

    // Nothing left: a second sweep has nothing to do.
    let o = sweep(ports, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("nothing to stop"),
        "{}",
        show(&o)
    );

    drop(stranger);
    assert_window_empty(ports);
    common::assert_no_dashboard_under(root.path());
}
