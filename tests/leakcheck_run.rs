//! End-to-end tests of `cargo kitty-leakcheck`'s default mode: real cargo runs
//! of small crates made for each test (`common::MiniCrate`), real spec-kitty
//! dashboards, the real binary.
//!
//! Each test watches its own window of ports outside spec-kitty's range
//! (`--ports`, and `KITTY_PORTS` for the fixtures inside the mini crates), so
//! parallel tests never see each other's listeners; the leaking mini tests run
//! `spec-kitty dashboard --port N` inside that window, in projects under the
//! test's own temp root. Every test ends by proving that nothing is left: no
//! listener on its window and no dashboard serving a project under its root
//! (and a guard stops whatever is left if an assertion fails first).

mod common;

use std::ffi::OsStr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::MiniCrate;
use kitty_fixtures::ports::PortSet;
use kitty_fixtures::probe::{
    ListenerSnapshot, ProcessIdentity, SERVER_MODULE, StopPolicy, stop_process_group,
};
use serde_json::Value;

const TOKEN: &str = "fedcba9876543210fedcba9876543210";

/// Helpers every mini crate's tests share (the old, leaky way of testing).
const PRELUDE: &str = r#"
#![allow(unused_imports, dead_code)]
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn env_path(k: &str) -> PathBuf {
    PathBuf::from(std::env::var_os(k).unwrap_or_else(|| panic!("{k} is not set")))
}

fn env_port(k: &str) -> u16 {
    std::env::var(k).unwrap_or_else(|_| panic!("{k} is not set")).parse().expect("a port")
}

/// A plain TempDir project (an empty .kittify/) under $LEAK_ROOT.
fn plain_project() -> tempfile::TempDir {
    let dir = tempfile::tempdir_in(env_path("LEAK_ROOT")).expect("temp dir");
    std::fs::create_dir(dir.path().join(".kittify")).expect(".kittify");
    dir
}

/// `spec-kitty dashboard --port PORT` in `project`, with HOME isolated. Its
/// runtime goes to `<home>/.kittify`: spec-kitty deletes every `.kittify_update_*`
/// staging dir beside SPEC_KITTY_HOME, so two runs must not share that parent.
fn dashboard_command(project: &Path, port: u16, home: &Path) -> Command {
    let mut c = Command::new(env_path("KITTY_SPEC_KITTY"));
    c.args(["dashboard", "--port", &port.to_string()])
        .current_dir(project)
        .env("HOME", home)
        .env("SPEC_KITTY_HOME", home.join(".kittify"))
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    c
}

/// Starts a dashboard with the CLI and lets the TempDir go: the dashboard lives on.
fn leak_a_dashboard(port_var: &str) {
    let project = plain_project();
    let home = tempfile::tempdir_in(env_path("LEAK_ROOT")).expect("home");
    let status = dashboard_command(project.path(), env_port(port_var), home.path()).status().expect("spec-kitty runs");
    assert!(status.success(), "spec-kitty dashboard failed: {status}");
}
"#;

/// One test's scene: a temp root for projects and HOMEs, and a port window.
/// Dropping it stops any dashboard left under the root (only reached when an
/// assertion failed before the test's own checks).
struct Scene {
    root: tempfile::TempDir,
    ports: &'static str,
}

impl Scene {
    fn new(ports: &'static str) -> Scene {
        let root = tempfile::Builder::new()
            .prefix("kitty-e2e-run-")
            .tempdir()
            .expect("temp root");
        // Canonical, so that it matches the project dirs spec-kitty resolves.
        let canonical = root.path().canonicalize().expect("canonical root");
        assert_eq!(
            canonical,
            root.path(),
            "the temp root must not sit behind a symlink"
        );
        Scene { root, ports }
    }

    fn path(&self) -> &Path {
        self.root.path()
    }

    fn port_set(&self) -> PortSet {
        self.ports.parse().expect("ports")
    }

    fn port(&self, i: u16) -> u16 {
        self.port_set()
            .iter()
            .nth(usize::from(i))
            .expect("a port of the window")
    }

    /// `cargo-kitty-leakcheck --ports <window> <args>` run in `mini` (its
    /// cargo and spec-kitty set up as `MiniCrate::cargo` does), with a clean
    /// environment: no outer nextest labels, no GITHUB_ACTIONS, no colour.
    fn leakcheck(&self, mini: Option<&MiniCrate>, args: &[&str]) -> Command {
        let mut c = Command::new(common::leakcheck_bin());
        c.args(["--ports", self.ports]).args(args);
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("NEXTEST") {
                c.env_remove(k);
            }
        }
        c.env_remove("GITHUB_ACTIONS")
            .env_remove("CARGO_MAKEFLAGS")
            .env_remove("CARGO_TERM_COLOR")
            .env("NO_COLOR", "1")
            .env("KITTY_PORTS", self.ports)
            .env("LEAK_ROOT", self.path())
            .stdin(Stdio::null());
        if let Some(m) = mini {
            c.current_dir(m.path())
                .env("CARGO_TARGET_DIR", MiniCrate::shared_target())
                .env("KITTY_SPEC_KITTY", common::spec_kitty());
        }
        c
    }

    /// Nothing listens on the window and no dashboard serves a project under the root.
    fn assert_clean(&self) {
        common::assert_no_dashboard_under(self.path());
        let left = ListenerSnapshot::take(&self.port_set()).expect("snapshot");
        assert!(
            left.listeners().is_empty(),
            "listeners left on {}: {:?}",
            self.ports,
            left.listeners()
        );
    }
}

impl Drop for Scene {
    fn drop(&mut self) {
        for d in common::dashboards_under(self.root.path()) {
            let _ = stop_process_group(&d.identity, d.command.port, StopPolicy::default());
        }
    }
}

/// A process this test started itself (in its own process group); stopped
/// by the safe group stop when dropped, if it is still the same process.
struct Started {
    child: Child,
    identity: ProcessIdentity,
}

impl Started {
    fn spawn(argv: &[&OsStr], home: &Path) -> Started {
        let (program, args) = argv.split_first().expect("a program");
        let child = Command::new(program)
            .args(args)
            .env("HOME", home)
            .env("SPEC_KITTY_HOME", home.join(".kittify"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("spawn");
        let identity = wait_for(
            || ProcessIdentity::read(child.id()).filter(|id| id.argv().len() == argv.len()),
            "exec",
        );
        Started { child, identity }
    }

    fn stop(mut self, port: u16) {
        let stopped = stop_process_group(&self.identity, Some(port), StopPolicy::default());
        assert!(
            stopped.is_ok(),
            "could not stop pid {}: {stopped:?}",
            self.identity.pid()
        );
        let _ = self.child.wait();
    }
}

impl Drop for Started {
    fn drop(&mut self) {
        if self.identity.is_still_alive() {
            let _ = stop_process_group(&self.identity, None, StopPolicy::default());
        }
        let _ = self.child.try_wait();
    }
}

/// The python of the spec-kitty under test (beside it in its venv).
fn spec_kitty_python() -> PathBuf {
    let exe = common::spec_kitty()
        .canonicalize()
        .expect("spec-kitty path");
    let py = exe.with_file_name("python");
    assert!(py.is_file(), "no python beside {}", exe.display());
    py
}

/// Polls `f` every 10 ms until it gives a value (at most 4 minutes: a cold
/// build of a mini crate included).
fn wait_for<T>(mut f: impl FnMut() -> Option<T>, what: &str) -> T {
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn listening(port: u16) -> bool {
    ListenerSnapshot::take(&PortSet::single(port))
        .expect("snapshot")
        .holds(port)
}

fn show(o: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The JSON report: the last line of stdout.
fn report_of(o: &Output) -> Value {
    let text = String::from_utf8_lossy(&o.stdout);
    let last = text
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default();
    let v: Value =
        serde_json::from_str(last).unwrap_or_else(|e| panic!("no JSON report ({e}):\n{}", show(o)));
    assert_eq!(v["schema_version"], 1, "{v:#}");
    v
}

fn leaks(report: &Value) -> &Vec<Value> {
    report["leaks"].as_array().expect("leaks")
}

fn leak_on(report: &Value, port: u16) -> &Value {
    leaks(report)
        .iter()
        .find(|l| l["port"] == port)
        .unwrap_or_else(|| panic!("no leak on port {port}: {report:#}"))
}

/// No token in anything, and nothing token-like in what leakcheck itself
/// printed (its report at the end of stderr, its JSON line); COMMAND's own
/// output (a rustc commit hash in a backtrace) is not ours to mask.
fn assert_no_token(o: &Output) {
    let stdout = String::from_utf8_lossy(&o.stdout);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        !stdout.contains(TOKEN) && !stderr.contains(TOKEN),
        "a token was printed:\n{}",
        show(o)
    );
    let ours = stderr
        .find("kitty-leakcheck:")
        .map(|i| &stderr[i..])
        .unwrap_or_default();
    let json = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .unwrap_or_default();
    for text in [ours, json] {
        let long_hex = text
            .split(|c: char| !c.is_ascii_hexdigit())
            .find(|run| run.len() >= 32);
        assert!(
            long_hex.is_none(),
            "something token-like was printed: {long_hex:?}\n{}",
            show(o)
        );
    }
}

#[test]
fn leaked_and_interrupted_dashboards_of_cargo_test_are_reported_and_reaped() {
    let scene = Scene::new("9601-9609");
    let source = format!(
        r#"{PRELUDE}
#[test]
fn passes() {{}}

/// Leaks: the TempDir project is deleted, its dashboard lives on.
#[test]
fn leaks_a_dashboard() {{
    leak_a_dashboard("LEAK_PORT");
}}

/// Interrupts `spec-kitty dashboard` after it spawned the server but before
/// `.kittify/.dashboard` is written; the project is kept.
#[test]
fn interrupts_a_dashboard_start() {{
    let project = plain_project();
    let dir = project.path().canonicalize().expect("canonical");
    let home = tempfile::tempdir_in(env_path("LEAK_ROOT")).expect("home");
    let mut cli = dashboard_command(&dir, env_port("INTERRUPT_PORT"), home.path()).spawn().expect("spec-kitty");
    let deadline = Instant::now() + Duration::from_secs(120);
    while !kitty_fixtures::probe::find_dashboard_processes().iter().any(|d| d.command.project_dir == dir) {{
        assert!(cli.try_wait().expect("try_wait").is_none(), "spec-kitty exited before spawning the server");
        assert!(Instant::now() < deadline, "the server never appeared");
        std::thread::sleep(Duration::from_millis(5));
    }}
    let kill = Command::new("kill").args(["-INT", &cli.id().to_string()]).status().expect("kill");
    assert!(kill.success());
    let status = cli.wait().expect("wait");
    assert!(!status.success(), "spec-kitty was not interrupted: {{status}}");
    assert!(!dir.join(".kittify/.dashboard").exists(), "interrupted too late: .dashboard was written");
    let _ = project.keep();
}}
"#
    );
    let mini = MiniCrate::new("kitty_mini_leaky", &source);
    let out = scene
        .leakcheck(Some(&mini), &["--json", "--", "cargo", "test", "--offline"])
        .env("LEAK_PORT", scene.port(0).to_string())
        .env("INTERRUPT_PORT", scene.port(1).to_string())
        .output()
        .expect("run leakcheck");
    let report = report_of(&out);
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    assert_eq!(report["outcome"], "leaked");
    assert_eq!(report["command_status"]["code"], 0);
    assert_eq!(leaks(&report).len(), 2, "{report:#}");

    let dropped = leak_on(&report, scene.port(0));
    assert_eq!(dropped["kind"], "dashboard");
    assert_eq!(dropped["from_run"], true);
    assert_eq!(
        dropped["project_exists"], false,
        "its TempDir was dropped: {dropped:#}"
    );
    assert_eq!(dropped["action"]["result"], "reaped", "{dropped:#}");
    assert!(
        dropped["command_line"]
            .as_str()
            .is_some_and(|c| c.contains(SERVER_MODULE) && c.contains("<token>"))
    );

    let interrupted = leak_on(&report, scene.port(1));
    assert_eq!(interrupted["kind"], "dashboard");
    assert_eq!(interrupted["from_run"], true);
    assert_eq!(interrupted["project_exists"], true);
    assert_eq!(
        interrupted["class"]["class"], "unrecorded",
        "{interrupted:#}"
    );
    assert_eq!(interrupted["action"]["result"], "reaped", "{interrupted:#}");
    assert_no_token(&out);
    scene.assert_clean();
}

#[test]
fn a_failing_suite_that_leaks_keeps_its_status_and_the_leak_is_reaped() {
    let scene = Scene::new("9611-9619");
    let source = format!(
        r#"{PRELUDE}
#[test]
fn leaks_a_dashboard() {{
    leak_a_dashboard("LEAK_PORT");
}}

#[test]
fn fails() {{
    panic!("this test fails on purpose");
}}
"#
    );
    let mini = MiniCrate::new("kitty_mini_failing", &source);
    let out = scene
        .leakcheck(Some(&mini), &["--", "cargo", "test", "--offline"])
        .env("LEAK_PORT", scene.port(0).to_string())
        .output()
        .expect("run leakcheck");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(101),
        "cargo test's own status wins:\n{}",
        show(&out)
    );
    assert!(stderr.contains("LEAK: dashboard pid"), "{}", show(&out));
    assert!(stderr.contains("reaped: SIGTERM"), "{}", show(&out));
    assert!(
        stderr.contains("(gone)"),
        "the project is gone:\n{}",
        show(&out)
    );
    assert_no_token(&out);
    scene.assert_clean();
}

#[test]
fn a_clean_fixture_suite_passes_and_what_ran_before_is_untouched() {
    let scene = Scene::new("9621-9629");
    let home = tempfile::tempdir_in(scene.path()).expect("home");
    let project = scene.path().join("before");
    std::fs::create_dir_all(project.join(".kittify")).expect("project");
    let (dash_port, foreign_port) = (scene.port(0), scene.port(1));
    let py = spec_kitty_python();
    let dash_port_s = dash_port.to_string();
    let dashboard = Started::spawn(
        &[
            py.as_os_str(),
            "-m".as_ref(),
            SERVER_MODULE.as_ref(),
            project.as_os_str(),
            dash_port_s.as_ref(),
            TOKEN.as_ref(),
        ],
        home.path(),
    );
    let foreign_port_s = foreign_port.to_string();
    let foreign = Started::spawn(
        &[
            py.as_os_str(),
            "-m".as_ref(),
            "http.server".as_ref(),
            foreign_port_s.as_ref(),
            "--bind".as_ref(),
            "127.0.0.1".as_ref(),
        ],
        home.path(),
    );
    wait_for(
        || (listening(dash_port) && listening(foreign_port)).then_some(()),
        "both to listen",
    );

    let source = r#"
use kitty_fixtures::{kitty_project, KittyProject};
use rstest::rstest;

#[rstest]
fn serves_the_project(kitty_project: KittyProject) {
    let dashboard = kitty_project.start_dashboard().expect("the dashboard starts");
    assert!(dashboard.url().starts_with("http://127.0.0.1:"));
}
"#;
    let mini = MiniCrate::new("kitty_mini_clean", source);
    let out = scene
        .leakcheck(Some(&mini), &["--json", "--", "cargo", "test", "--offline"])
        .output()
        .expect("run leakcheck");
    let report = report_of(&out);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(report["outcome"], "ok");
    assert!(leaks(&report).is_empty(), "{report:#}");
    let before: Vec<&Value> = report["before"]
        .as_array()
        .expect("before")
        .iter()
        .collect();
    assert!(
        before.iter().any(|l| l["port"] == dash_port)
            && before.iter().any(|l| l["port"] == foreign_port)
    );

    assert!(
        dashboard.identity.is_still_alive(),
        "the dashboard that ran before was touched"
    );
    assert!(
        foreign.identity.is_still_alive(),
        "the foreign listener that ran before was touched"
    );
    assert!(listening(dash_port) && listening(foreign_port));
    assert_no_token(&out);
    dashboard.stop(dash_port);
    foreign.stop(foreign_port);
    scene.assert_clean();
}

#[test]
fn a_leak_under_cargo_nextest_is_blamed_on_its_test() {
    let scene = Scene::new("9631-9639");
    let source = format!(
        r#"{PRELUDE}
#[test]
fn leaks_under_nextest() {{
    leak_a_dashboard("LEAK_PORT");
}}

#[test]
fn passes() {{}}
"#
    );
    let mini = MiniCrate::new("kitty_mini_nextest", &source);
    let out = scene
        .leakcheck(
            Some(&mini),
            &["--json", "--", "cargo", "nextest", "run", "--offline"],
        )
        .env("LEAK_PORT", scene.port(0).to_string())
        .env("GITHUB_ACTIONS", "true")
        .output()
        .expect("run leakcheck");
    let report = report_of(&out);
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    let leak = leak_on(&report, scene.port(0));
    assert_eq!(leak["kind"], "dashboard");
    assert_eq!(leak["test"]["name"], "leaks_under_nextest", "{leak:#}");
    assert_eq!(
        leak["test"]["binary_id"], "kitty_mini_nextest::it",
        "{leak:#}"
    );
    assert_eq!(leak["action"]["result"], "reaped");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("::error title=") && l.contains("leaks_under_nextest")),
        "no GitHub annotation:\n{}",
        show(&out)
    );
    assert_no_token(&out);
    scene.assert_clean();
}

#[test]
fn a_foreign_listener_left_by_the_run_is_reported_and_not_killed() {
    let scene = Scene::new("9641-9649");
    let port = scene.port(0);
    // Binds, forks a child that keeps the socket in its own session (stdio
    // on /dev/null, so leakcheck's pipes close), and exits: the listener is
    // up before COMMAND ends.
    let script = format!(
        "import os, socket, time\n\
         s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
         s.bind(('127.0.0.1', {port})); s.listen()\n\
         if os.fork() == 0:\n\
         \x20   os.setsid(); null = os.open(os.devnull, os.O_RDWR)\n\
         \x20   for fd in (0, 1, 2): os.dup2(null, fd)\n\
         \x20   time.sleep(600)\n\
         os._exit(0)\n"
    );
    let py = spec_kitty_python();
    let out = scene
        .leakcheck(None, &["--json", "--"])
        .arg(&py)
        .args(["-c", &script])
        .output()
        .expect("run leakcheck");
    let report = report_of(&out);
    assert_eq!(
        out.status.code(),
        Some(3),
        "a foreign leak fails the run:\n{}",
        show(&out)
    );
    let leak = leak_on(&report, port);
    assert_eq!(leak["kind"], "foreign");
    assert_eq!(leak["from_run"], true);
    assert_eq!(leak["action"]["result"], "left-alone", "{leak:#}");
    let pid = leak["pid"]
        .as_u64()
        .and_then(|p| u32::try_from(p).ok())
        .expect("its pid");
    let holder = ProcessIdentity::read(pid).expect("the foreign listener is still alive");
    assert!(listening(port));
    let stopped = stop_process_group(&holder, Some(port), StopPolicy::default());
    assert!(stopped.is_ok(), "{stopped:?}");
    scene.assert_clean();
}

#[test]
fn sigint_to_leakcheck_is_forwarded_and_the_leak_still_reaped() {
    let scene = Scene::new("9651-9659");
    let marker = scene.path().join("started");
    let source = format!(
        r#"{PRELUDE}
/// Leaks a dashboard (its project kept), says so, then waits to be interrupted.
#[test]
fn leaks_then_waits() {{
    let project = plain_project();
    let home = tempfile::tempdir_in(env_path("LEAK_ROOT")).expect("home");
    let status = dashboard_command(project.path(), env_port("LEAK_PORT"), home.path()).status().expect("spec-kitty");
    assert!(status.success());
    std::fs::write(env_path("MARKER"), std::process::id().to_string()).expect("marker");
    std::thread::sleep(Duration::from_secs(600));
}}
"#
    );
    let mini = MiniCrate::new("kitty_mini_interrupted", &source);
    let child = scene
        .leakcheck(Some(&mini), &["--json", "--", "cargo", "test", "--offline"])
        .env("LEAK_PORT", scene.port(0).to_string())
        .env("MARKER", &marker)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .expect("run leakcheck");
    let test_pid: u32 = wait_for(
        || std::fs::read_to_string(&marker).ok()?.trim().parse().ok(),
        "the mini test to leak",
    );
    let test_binary = ProcessIdentity::read(test_pid).expect("the test binary runs");
    // SAFETY: plain kill(2) of the leakcheck we spawned (not yet waited for).
    assert_eq!(
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) },
        0
    );
    let out = child.wait_with_output().expect("leakcheck ends");
    let report = report_of(&out);
    assert_eq!(report["interrupted_by"], "SIGINT", "{}", show(&out));
    assert_eq!(report["outcome"], "command-failed", "{}", show(&out));
    assert_ne!(out.status.code(), Some(0));
    assert_eq!(
        out.status.code(),
        Some(report["exit_code"].as_i64().expect("exit_code") as i32)
    );
    let leak = leak_on(&report, scene.port(0));
    assert_eq!(leak["action"]["result"], "reaped", "{leak:#}");
    assert_eq!(leak["action"]["dashboard_file_removed"], true, "{leak:#}");
    // The forwarded SIGINT reached the test binary too (as a terminal's Ctrl+C would).
    wait_for(
        || (!test_binary.is_still_alive()).then_some(()),
        "the test binary to end",
    );
    assert_no_token(&out);
    scene.assert_clean();
}

#[test]
fn no_reap_reports_the_dashboard_and_leaves_it() {
    let scene = Scene::new("9661-9669");
    let project = scene.path().join("kept");
    std::fs::create_dir_all(project.join(".kittify")).expect("project");
    let port = scene.port(0);
    let py = spec_kitty_python();
    // Starts a dashboard detached from the run (as spec-kitty does) and exits
    // as soon as it runs, before it even listens: it is found as a descendant.
    let script = format!(
        "setsid {} -m {SERVER_MODULE} {} {port} {TOKEN} </dev/null >/dev/null 2>&1 &\n\
         until grep -q _server_main /proc/$!/cmdline; do sleep 0.01; done",
        py.display(),
        project.display()
    );
    let out = scene
        .leakcheck(None, &["--no-reap", "-v", "--", "sh", "-c", &script])
        .output()
        .expect("run leakcheck");
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("LEAK: dashboard pid") && stderr.contains("not reaped (--no-reap)"),
        "{}",
        show(&out)
    );
    assert_no_token(&out);
    let left = common::dashboards_under(scene.path());
    assert_eq!(left.len(), 1, "--no-reap stopped it: {left:?}");
    let d = &left[0];
    let stopped = stop_process_group(&d.identity, Some(port), StopPolicy::default());
    assert!(stopped.is_ok(), "{stopped:?}");
    scene.assert_clean();
}

#[test]
fn bad_arguments_exit_2_with_one_line() {
    let cases: &[(&[&str], Option<&str>)] = &[
        (&["--ports", "9337-9237"], None),
        (&["--ports", "x"], None),
        (&["--ports", "9237-70000"], None),
        (&["--ports", ""], None),
        (&["--grace", "5"], None),
        (&["--color", "sometimes"], None),
        (&["--no-such-option"], None),
        (&[], Some("x")),
    ];
    for (args, env_ports) in cases {
        let mut c = Command::new(common::leakcheck_bin());
        c.args(*args)
            .arg("--")
            .arg("true")
            .env_remove("KITTY_PORTS");
        if let Some(p) = env_ports {
            c.env("KITTY_PORTS", p);
        }
        let out = c.output().expect("run leakcheck");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}:\n{}", show(&out));
        assert_eq!(
            stderr.lines().count(),
            1,
            "{args:?}: not one line:\n{}",
            show(&out)
        );
        assert!(stderr.starts_with("error: "), "{args:?}:\n{}", show(&out));
        assert!(out.stdout.is_empty(), "{args:?}:\n{}", show(&out));
    }
}

#[test]
fn a_command_that_cannot_start_is_named_and_nothing_is_checked() {
    let dir = tempfile::tempdir().expect("temp dir");
    let not_exec = dir.path().join("not-executable");
    std::fs::write(&not_exec, "#!/bin/sh\n").expect("write");
    let cases = [
        ("kitty-no-such-command-4242", 127),
        (not_exec.to_str().expect("utf-8"), 126),
    ];
    for (command, code) in cases {
        let out = Command::new(common::leakcheck_bin())
            .args(["--ports", "9671-9679", "--", command, "arg"])
            .env_remove("KITTY_PORTS")
            .output()
            .expect("run leakcheck");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{}", show(&out));
        assert_eq!(stderr.lines().count(), 1, "{}", show(&out));
        assert!(
            stderr.contains(command) && stderr.contains("error:"),
            "{}",
            show(&out)
        );
    }
}
