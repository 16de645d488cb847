//! Guarantee 5 of issue 3: bad input.
//!
//! - spec-kitty not installed: an error naming `KITTY_SPEC_KITTY`, `PATH` and
//!   the install command (in a child process whose environment has neither).
//! - A malformed `.kittify/.dashboard` (empty, garbage, not UTF-8, huge,
//!   negative or out-of-range port or pid, the pid of an unrelated process, not
//!   even a file) is handled without panicking and without signalling anything
//!   it did not identify; real dashboards of such projects are still stopped.
//! - A bad `KITTY_PORTS` is a clear error (in child processes: the
//!   environment is process-wide).
//!
//! Ports: 9500-9503 (see tests/common).

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::cleanup::*;
use common::reexec::*;
use common::*;
use kitty_core::spec_kitty::DashboardFile;
use kitty_fixtures::{Error, KittyProject};

const WINDOW: &str = "9500-9503";

// --- spec-kitty missing -----------------------------------------------------

const ERROR_LINE: &str = "KITTY_E2E_ERROR";

/// Prints what each entry point says when spec-kitty cannot be found.
#[test]
#[ignore = "scenario: run by spec_kitty_not_installed_names_the_variable_path_and_install_command"]
fn scenario_bad_input_no_spec_kitty() {
    if !scenario_is("scenario_bad_input_no_spec_kitty") {
        return;
    }
    let project = KittyProject::new().expect("a scaffold needs no spec-kitty");
    let err = project.start_dashboard().expect_err("no spec-kitty");
    println!("{ERROR_LINE} start_dashboard {err}");
    let err = project.installation().expect_err("no spec-kitty");
    println!("{ERROR_LINE} installation {err}");
    let spawn = project
        .spec_kitty(["--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    println!("{ERROR_LINE} spec_kitty {:?}", spawn.map_err(|e| e.kind()));
}

fn error_lines(out: &str, what: &str) -> String {
    let prefix = format!("{ERROR_LINE} {what} ");
    out.lines()
        .find_map(|l| l.find(&prefix).map(|i| l[i + prefix.len()..].to_string()))
        .unwrap_or_else(|| panic!("no {what} line in:\n{out}"))
}

fn assert_names_the_fix(msg: &str) {
    for needle in [
        "KITTY_SPEC_KITTY",
        "PATH",
        "pip install spec-kitty-cli",
        "kitty-fixtures README",
    ] {
        assert!(msg.contains(needle), "{needle:?} missing from: {msg}");
    }
}

/// Runs `scenario_bad_input_no_spec_kitty` with the environment `tweak`
/// makes; fails unless it passed and its `start_dashboard` error names the
/// fix. Returns its output and that error.
fn without_spec_kitty(tweak: impl FnOnce(&mut Command)) -> (String, String) {
    let mut child = Scenario::spawn_with("scenario_bad_input_no_spec_kitty", |c| {
        tweak(c);
        c.env("KITTY_PORTS", WINDOW);
    });
    let out = child.wait_success();
    let start = error_lines(&out, "start_dashboard");
    assert_names_the_fix(&start);
    (out, start)
}

#[test]
fn spec_kitty_not_installed_names_the_variable_path_and_install_command() {
    let empty = temp_root("kitty-e2e-empty-path-");
    let (out, start) = without_spec_kitty(|c| {
        c.env_remove("KITTY_SPEC_KITTY").env("PATH", empty.path());
    });
    assert!(start.starts_with("spec-kitty not found"), "{start}");
    assert_eq!(error_lines(&out, "installation"), start);
    assert_eq!(error_lines(&out, "spec_kitty"), "Err(NotFound)");
}

#[test]
fn a_spec_kitty_path_that_does_not_exist_names_the_variable_path_and_install_command() {
    let (_, start) = without_spec_kitty(|c| {
        c.env("KITTY_SPEC_KITTY", "/nonexistent/bin/spec-kitty");
    });
    assert!(
        start.contains("/nonexistent/bin/spec-kitty") && start.contains("from KITTY_SPEC_KITTY"),
        "{start}"
    );

    // The same through the builder, in process.
    let p = KittyProject::builder()
        .spec_kitty("/nonexistent/bin/spec-kitty")
        .build()
        .expect("scaffold");
    let err = p.start_dashboard().expect_err("missing");
    assert!(matches!(err, Error::SpecKittyMissing { .. }), "{err:?}");
    assert_names_the_fix(&err.to_string());
}

// --- Malformed .kittify/.dashboard ------------------------------------------

/// What to put at `.kittify/.dashboard`.
enum Content {
    Bytes(Vec<u8>),
    Dir,
    Fifo,
    Symlink(&'static str),
}

fn put(project: &Path, content: &Content) {
    let path = DashboardFile::path_in(project);
    let _ = std::fs::remove_file(&path);
    match content {
        Content::Bytes(b) => std::fs::write(&path, b).expect("write"),
        Content::Dir => std::fs::create_dir(&path).expect("mkdir"),
        Content::Fifo => {
            let c = std::ffi::CString::new(path.to_str().expect("utf-8")).expect("c string");
            // SAFETY: mkfifo(3) with a valid C string.
            assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
        }
        Content::Symlink(target) => std::os::unix::fs::symlink(target, &path).expect("symlink"),
    }
}

fn malformed(sentinel: u32) -> Vec<(&'static str, Content)> {
    let line = |rest: &str| Content::Bytes(format!("http://127.0.0.1:9500\n{rest}").into_bytes());
    vec![
        ("empty", Content::Bytes(Vec::new())),
        ("blank lines", Content::Bytes(b"\n\n\n\n".to_vec())),
        (
            "garbage",
            Content::Bytes(b"garbage \x01 everywhere".to_vec()),
        ),
        (
            "not UTF-8",
            Content::Bytes(b"\xff\xfe\x00\x80\n9260\n".to_vec()),
        ),
        ("huge", Content::Bytes(vec![b'9'; 8 << 20])),
        (
            "huge lines",
            Content::Bytes(format!("{}\n9260\n", "x".repeat(1 << 20)).into_bytes()),
        ),
        ("negative port", line("-1\n")),
        ("port out of range", line("70000\n")),
        ("port zero", line("0\n")),
        (
            "negative pid",
            line("9500\n0123456789abcdef0123456789abcdef\n-5\n"),
        ),
        (
            "pid out of range",
            line("9500\n0123456789abcdef0123456789abcdef\n99999999999\n"),
        ),
        ("pid 1", line("9500\n0123456789abcdef0123456789abcdef\n1\n")),
        (
            "pid of an unrelated process",
            line(&format!(
                "9500\n0123456789abcdef0123456789abcdef\n{sentinel}\n"
            )),
        ),
        (
            "pid of this test process",
            line(&format!(
                "9500\n0123456789abcdef0123456789abcdef\n{}\n",
                std::process::id()
            )),
        ),
        (
            "too many lines",
            line(&format!("9500\ntok\n{sentinel}\nmore\nlines\n")),
        ),
        ("a directory", Content::Dir),
        ("a FIFO", Content::Fifo),
        ("a symlink to /dev/zero", Content::Symlink("/dev/zero")),
        (
            "a dangling symlink",
            Content::Symlink("/nonexistent/.dashboard"),
        ),
    ]
}

/// Runs `f` on another thread and fails (instead of hanging) after 30 s.
fn within_30s<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(30))
        .unwrap_or_else(|_| panic!("{what} hung"))
}

#[test]
fn malformed_dashboard_files_never_panic_nor_get_anything_signalled() {
    let mut guard = Cleanup::new();
    let sleep = guard.sentinel();
    let sleep_pid = sleep.id();
    for (name, content) in malformed(sleep_pid) {
        let project = KittyProject::builder()
            .ports(WINDOW.parse().expect("ports"))
            .spec_kitty("/nonexistent/spec-kitty")
            .build()
            .expect("scaffold");
        put(project.path(), &content);
        let dir = project.path().to_path_buf();
        let (listed, stopped) = within_30s(name, move || {
            let listed = project.dashboards().len();
            let stopped = project
                .stop_dashboards()
                .map(|r| r.stopped.len())
                .map_err(|e| e.to_string());
            drop(project);
            (listed, stopped)
        });
        assert_eq!((listed, stopped), (0, Ok(0)), "{name}");
        assert!(!dir.exists(), "{name}: the dir was not deleted");
        assert!(
            matches!(sleep.try_wait(), Ok(None)),
            "{name}: the unrelated process was signalled"
        );
    }
}

#[test]
fn a_real_dashboard_is_still_stopped_whatever_its_dashboard_file_became() {
    common::export_spec_kitty();
    let mut guard = Cleanup::new();
    let sleep = guard.sentinel();
    let sleep_pid = sleep.id();
    let mut cleanup = Cleanup::new();
    let cases: Vec<(&str, Content)> = vec![
        (
            "pid of an unrelated process",
            Content::Bytes(
                format!(
                    "http://127.0.0.1:9500\n9260\n0123456789abcdef0123456789abcdef\n{sleep_pid}\n"
                )
                .into_bytes(),
            ),
        ),
        ("a FIFO", Content::Fifo),
        ("not UTF-8", Content::Bytes(b"\xff\xfe\x00\x80".to_vec())),
    ];
    // Start the three at once (each takes about a second).
    let projects: Vec<(KittyProject, kitty_fixtures::Dashboard)> = std::thread::scope(|s| {
        let handles: Vec<_> = cases
            .iter()
            .map(|_| {
                s.spawn(|| {
                    let p = project_on(WINDOW);
                    let d = p.start_dashboard().expect("dashboard");
                    (p, d)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("start"))
            .collect()
    });
    for ((name, content), (project, d)) in cases.iter().zip(projects) {
        let id = cleanup.dashboard(&d);
        put(project.path(), content);
        let dir = project.path().to_path_buf();
        let listed = within_30s(name, move || {
            let listed: Vec<u32> = project.dashboards().iter().map(|x| x.pid()).collect();
            drop(project);
            listed
        });
        assert_eq!(listed, vec![d.pid()], "{name}");
        assert_stopped(&id, d.port());
        assert!(!dir.exists(), "{name}: the dir was not deleted");
        assert!(
            matches!(sleep.try_wait(), Ok(None)),
            "{name}: the unrelated process was signalled"
        );
        common::assert_no_dashboard_under(&dir);
    }
}

// --- Bad KITTY_PORTS ---------------------------------------------------------

#[test]
#[ignore = "scenario: run by a_bad_kitty_ports_is_a_clear_error"]
fn scenario_bad_input_kitty_ports() {
    if !scenario_is("scenario_bad_input_kitty_ports") {
        return;
    }
    match KittyProject::new() {
        Ok(p) => println!("{ERROR_LINE} new accepted, ports {}", p.ports()),
        Err(e @ Error::Ports(_)) => println!("{ERROR_LINE} new {e}"),
        Err(e) => println!("{ERROR_LINE} new another error: {e}"),
    }
}

#[test]
fn a_bad_kitty_ports_is_a_clear_error() {
    let cases = [
        ("x", "\"x\" is not a port or a range"),
        ("", "empty port list"),
        ("9540-", "\"9540-\" is not a port or a range"),
        ("-5", "\"-5\" is not a port or a range"),
        ("9550-9540", "range 9550-9540 is backwards"),
        ("70000", "\"70000\" is out of range"),
        ("0", "\"0\" is out of range"),
        ("9540,,9541", "empty port list"),
        ("9540 9541", "\"9540 9541\" is not a port or a range"),
    ];
    let mut children: Vec<Scenario> = cases
        .iter()
        .map(|(value, _)| {
            Scenario::spawn("scenario_bad_input_kitty_ports", &[("KITTY_PORTS", value)])
        })
        .collect();
    for ((value, expected), child) in cases.iter().zip(&mut children) {
        let out = child.wait_success();
        let msg = error_lines(&out, "new");
        assert!(
            msg.starts_with("bad KITTY_PORTS: "),
            "KITTY_PORTS={value:?}: {msg}"
        );
        assert!(msg.contains(expected), "KITTY_PORTS={value:?}: {msg}");
    }
    // And a good value is used.
    let mut good = Scenario::spawn(
        "scenario_bad_input_kitty_ports",
        &[("KITTY_PORTS", "9500-9503,9990")],
    );
    good.wait();
    assert_eq!(
        error_lines(&good.output(), "new"),
        "accepted, ports 9500-9503,9990"
    );
}
