//! End-to-end tests of the leaks that are not dashboards (issue 19): a
//! server a profile recognises (Python's `http.server`, the built-in
//! `http-server` profile) and a plain background process, left by a real
//! pytest run under `cargo kitty-leakcheck`: reported with their tests,
//! failing and stopped only as `.config/kitty-leakcheck.toml`'s profile
//! says, always through a permit; and the never-kill promises of the new
//! cases: an allowed survivor, a process of the run's parent, a daemon the
//! run merely contacted, each checked alive, unchanged and still serving.
//!
//! Ports 9697-9699 (see tests/common).

mod common;

use std::ffi::OsString;
use std::process::{Command, Output};

use kitty_core::ProcessIdentity;
use serde_json::Value;

use common::leakcheck::{LEAKED, in_scene, json_report, leaks};
use common::scene::Scene;
use common::show;
use common::victim::{Start, Victim};

/// The pytest suite: one test leaves an `http.server` on `$LEAK_PORT`, one
/// a sleeping process, both in sessions of their own (as a dev server is
/// started), one passes; `$LEAK_MARK` is an argument of the sleeper.
const SUITE: &str = r#"import os
import socket
import subprocess
import sys
import time


def detached(argv):
    return subprocess.Popen(argv, start_new_session=True, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def test_serves():
    port = int(os.environ["LEAK_PORT"])
    detached([sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port)])
    deadline = time.time() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port)).close()
            break
        except OSError:
            assert time.time() < deadline, "http.server did not listen"
            time.sleep(0.02)


def test_sleeps():
    detached([sys.executable, "-c", "import time; time.sleep(300)", os.environ["LEAK_MARK"]])
    time.sleep(0.2)


def test_passes():
    pass
"#;

/// Runs the suite under `cargo-kitty-leakcheck --json [--config CONFIG]`.
fn run_suite(scene: &Scene, config: Option<&str>, mark: &str) -> (Output, Value) {
    let suite = scene.path().join("suite");
    std::fs::create_dir_all(&suite).expect("suite dir");
    std::fs::write(suite.join("test_leaky.py"), SUITE).expect("suite");
    let mut args: Vec<OsString> = vec!["--json".into()];
    if let Some(text) = config {
        let file = scene.path().join("kitty-leakcheck.toml");
        std::fs::write(&file, text).expect("config");
        args.extend(["--config".into(), file.into_os_string()]);
    }
    let pytest = common::pytest();
    args.extend([
        "--".into(),
        pytest.into_os_string(),
        "-q".into(),
        "-p".into(),
        "no:cacheprovider".into(),
    ]);
    let words: Vec<&str> = args.iter().map(|a| a.to_str().expect("utf-8")).collect();
    let mut cmd = in_scene(scene, None, &words);
    cmd.current_dir(&suite)
        .env("LEAK_PORT", scene.port(0).to_string())
        .env("LEAK_MARK", mark)
        .env("PYTHONDONTWRITEBYTECODE", "1");
    let out = cmd.output().expect("run leakcheck");
    let report = json_report(&out);
    (out, report)
}

/// The leak whose test is `name` (`test_leaky.py::name`).
fn leak_of<'a>(report: &'a Value, name: &str) -> &'a Value {
    let id = format!("test_leaky.py::{name}");
    leaks(report)
        .iter()
        .find(|l| l["test"]["name"] == id.as_str())
        .unwrap_or_else(|| panic!("no leak of {id}: {report:#}"))
}

/// Runs `checks`, then stops whatever of `pids` the suite left (by
/// identity, as the victims are stopped), on every path; a failed check
/// fails the test after that.
fn checked_then_stopped(pids: &[Option<u64>], checks: impl FnOnce()) {
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(checks));
    for pid in pids.iter().flatten() {
        let pid = *pid as u32;
        if ProcessIdentity::read(pid).is_some() {
            Victim::process("left by the test", pid).stop();
        }
    }
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}

#[test]
fn by_default_a_leaked_server_and_process_are_reported_with_their_tests_not_failed_not_stopped() {
    let scene = Scene::new("kitty-e2e-processes-", "9697-9697");
    let (out, report) = run_suite(&scene, None, "kitty-default-mark");
    let server = leak_of(&report, "test_serves");
    let sleeper = leak_of(&report, "test_sleeps");
    let pids = [server["pid"].as_u64(), sleeper["pid"].as_u64()];
    checked_then_stopped(&pids, || {
        assert_eq!(out.status.code(), Some(0), "{}", show(&out));
        assert_eq!(server["kind"], "server", "{server:#}");
        assert_eq!(server["profile"], "http-server", "{server:#}");
        assert_eq!(server["port"], scene.port(0), "{server:#}");
        assert_eq!(server["listeners"][0]["port"], scene.port(0), "{server:#}");
        // The built-in profile's health path, `/`, asked on its port: it answers.
        assert_eq!(server["health"], true, "{server:#}");
        assert_eq!(sleeper["kind"], "process", "{sleeper:#}");
        assert_eq!(sleeper["health"], Value::Null, "{sleeper:#}");
        for leak in [server, sleeper] {
            assert_eq!(leak["fails"], false, "{leak:#}");
            assert_eq!(leak["from_run"], true, "{leak:#}");
            assert_eq!(leak["action"]["result"], "left-alone", "{leak:#}");
            assert!(leak["age_ms"].as_f64().is_some_and(|a| a > 0.0), "{leak:#}");
        }
        assert_eq!(report["outcome"], "ok", "{report:#}");
        // Still running: nothing was stopped.
        for pid in pids.into_iter().flatten() {
            assert!(
                ProcessIdentity::read(pid as u32).is_some(),
                "pid {pid} was stopped"
            );
        }
    });
    scene.assert_clean();
}

#[test]
fn a_profile_that_fails_and_stops_servers_and_processes_stops_both_through_their_permits() {
    let scene = Scene::new("kitty-e2e-processes-", "9698-9698");
    let config = r#"
[profile.default]
fail = ["dashboards", "listeners", "servers", "processes"]
stop = ["dashboards", "servers", "processes"]
"#;
    let (out, report) = run_suite(&scene, Some(config), "kitty-stop-mark");
    let server = leak_of(&report, "test_serves");
    let sleeper = leak_of(&report, "test_sleeps");
    let pids = [server["pid"].as_u64(), sleeper["pid"].as_u64()];
    checked_then_stopped(&pids, || {
        assert_eq!(out.status.code(), Some(LEAKED), "{}", show(&out));
        for leak in [server, sleeper] {
            assert_eq!(leak["fails"], true, "{leak:#}");
            assert_eq!(leak["action"]["result"], "reaped", "{leak:#}");
            assert_eq!(leak["grounds"]["grounds"], "descends-from-run", "{leak:#}");
        }
        for pid in pids.into_iter().flatten() {
            assert!(
                ProcessIdentity::read(pid as u32).is_none(),
                "pid {pid} is alive"
            );
        }
        assert!(common::port_free(scene.port(0)));
    });
    scene.assert_clean();
}

#[test]
fn never_kills_an_allowed_survivor_a_process_of_the_run_s_parent_or_a_daemon_the_run_contacted() {
    let scene = Scene::new("kitty-e2e-processes-", "9699-9699");
    let home = scene.home().to_path_buf();
    let py = common::detached::spec_kitty_python();
    // A daemon outside the run (this test's own, detached: no label), which
    // the run contacts; and a process of the run's parent (this test's child).
    let port = scene.port(0);
    let daemon_argv: Vec<OsString> = vec![
        py.clone().into_os_string(),
        "-m".into(),
        "http.server".into(),
        "--bind".into(),
        "127.0.0.1".into(),
        port.to_string().into(),
    ];
    let daemon = Start::new(daemon_argv, scene.path(), &home).spawn();
    let daemon = Victim::process("a daemon the run contacts", daemon).serves_http(port);
    daemon.wait_serving();
    let mut parents_child = Command::new("sleep").arg("300").spawn().expect("sleep");
    let parents = Victim::process("a process of the run's parent", parents_child.id());
    // The run: contacts the daemon, and leaves a survivor the profile allows.
    let config = r#"
[profile.default]
fail = ["dashboards", "listeners", "servers", "processes"]
stop = ["dashboards", "servers", "processes"]
allow = ["*kitty-allowed-survivor*"]
"#;
    let file = scene.path().join("kitty-leakcheck.toml");
    std::fs::write(&file, config).expect("config");
    let script = format!(
        "'{py}' -c 'import urllib.request; urllib.request.urlopen(\"http://127.0.0.1:{port}/\").read()'\n\
         setsid '{py}' -c 'import time; time.sleep(300)' kitty-allowed-survivor </dev/null >/dev/null 2>&1 &\n\
         echo $!",
        py = py.display()
    );
    let out = in_scene(
        &scene,
        None,
        &[
            "--json",
            "--config",
            file.to_str().expect("utf-8"),
            "--",
            "sh",
            "-c",
            &script,
        ],
    )
    .output()
    .expect("run leakcheck");
    let report = json_report(&out);
    let survivor_pid: Option<u32> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .and_then(|l| l.trim().parse().ok());
    let survivor = survivor_pid.map(|pid| Victim::process("an allowed survivor", pid));
    let result = std::panic::catch_unwind(|| {
        assert_eq!(out.status.code(), Some(0), "{}", show(&out));
        let all = leaks(&report);
        assert_eq!(all.len(), 1, "only the survivor is the run's: {report:#}");
        assert_eq!(all[0]["allowed"], "*kitty-allowed-survivor*", "{report:#}");
        assert_eq!(all[0]["fails"], false, "{report:#}");
        assert_eq!(all[0]["action"]["result"], "left-alone", "{report:#}");
        daemon.assert_unharmed("the run contacted it");
        parents.assert_unharmed("its parent ran the run");
        survivor
            .as_ref()
            .expect("the survivor's pid")
            .assert_unharmed("the profile allows it");
    });
    if let Some(s) = survivor {
        s.stop();
    }
    parents.stop();
    let _ = parents_child.wait();
    daemon.stop();
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
    scene.assert_clean();
}
