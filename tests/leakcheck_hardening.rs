//! leakcheck against hostile input and hard conditions (issue 15, items
//! 7-12): process data full of terminal escapes, baselines that are no
//! regular file, files planted where it writes, a run label far into the
//! environment, a signal while leaks are being stopped, and dashboards that
//! take their whole grace period to stop. Ports 9580-9588.
//!
//! The dashboards that must ignore SIGTERM are FAKE servers
//! (`tests/fakes/fake-server-ignores-sigterm`, see its README): the real one
//! dies of SIGTERM. The run label test uses the real spec-kitty dashboard.

mod common;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use common::cleanup::{run_with_deadline, stop_leftover};
use common::detached::{TOKEN, dashboard_argv, setsid_line, spec_kitty_python};
use common::leakcheck::{
    LEAKED, Schema, USAGE, in_scene, json_report, leakcheck, leakcheck_bin, leaks,
    valid_report_file,
};
use common::pty::capture;
use common::scene::Scene;
use common::{
    MINUTE, bare_project, dashboards_under, isolate_home, port_free, port_held, reaped, show,
    wait_for, wait_until, workspace_root,
};

/// The FAKE dashboard server that ignores SIGTERM (a Python package put first
/// on `PYTHONPATH`, run with the real venv's python as the 3.x command line).
fn fake_server() -> PathBuf {
    workspace_root().join("tests/fakes/fake-server-ignores-sigterm")
}

/// The fake's command line for `project` on `port`: the real 3.x form.
fn fake_argv(project: &Path, port: u16) -> Vec<OsString> {
    vec![
        spec_kitty_python().into_os_string(),
        "-m".into(),
        "specify_cli.dashboard._server_main".into(),
        project.as_os_str().to_owned(),
        port.to_string().into(),
        TOKEN.into(),
    ]
}

/// A COMMAND (`sh -c` script) that leaves each of `servers` running detached,
/// as spec-kitty does, and ends once all of them listen (each fake appends
/// its pid to `pidfile` after it binds).
fn leaving(servers: &[Vec<OsString>], pidfile: &Path) -> String {
    let starts: Vec<String> = servers.iter().map(|s| setsid_line(s)).collect();
    format!(
        "{}\nfor _ in $(seq 6000); do [ \"$(cat '{pids}' 2>/dev/null | wc -l)\" -ge {n} ] && exit 0; sleep 0.01; done; exit 99",
        starts.join("\n"),
        pids = pidfile.display(),
        n = servers.len()
    )
}

/// What the fakes of one test need in the environment of leakcheck (and so
/// of COMMAND, and of the fakes).
fn fake_env<'a>(cmd: &'a mut Command, pidfile: &Path, termfile: &Path) -> &'a mut Command {
    cmd.env("PYTHONPATH", fake_server())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("FAKE_PIDFILE", pidfile)
        .env("FAKE_TERMFILE", termfile)
}

fn pids_in(pidfile: &Path) -> Vec<u32> {
    std::fs::read_to_string(pidfile)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

fn arg(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 path")
}

// --- 7. Terminal injection ----------------------------------------------------------

/// A project dir (and test name) built to take over a terminal: clear the
/// screen, set the window title (ESC ] ... BEL), return the carriage, a C1 CSI.
const EVIL: &str = "p\u{1b}[2J\u{1b}]0;x\u{7}\r\u{9b}31mq";

/// Fails when `text` (what leakcheck wrote, on a terminal when `terminal`,
/// where every `\n` arrives as `\r\n`) holds a control character from
/// process data; and when the escaped form of [`EVIL`] is not there (the
/// data must still be shown, visibly).
fn assert_no_raw_controls(text: &str, terminal: bool, what: &str) {
    let text = if terminal {
        text.replace("\r\n", "\n")
    } else {
        text.to_string()
    };
    let raw: Vec<char> = text
        .chars()
        .filter(|&c| matches!(c, '\u{1b}' | '\u{7}' | '\r' | '\u{9b}'))
        .collect();
    assert!(
        raw.is_empty(),
        "{what}: raw control characters {raw:?} reached the output:\n{text:?}"
    );
    assert!(
        text.contains(r"p\x1b[2J\x1b]0;x\x07\r\u{9b}31mq"),
        "{what}: the project dir is not shown escaped:\n{text}"
    );
}

/// Issue 15 item 7: a leaked process whose project dir (argv) and test name
/// (environment) carry terminal escapes; the human report of a run and the
/// listing of `sweep --dry-run`, into a pipe and on a pseudo-terminal, show
/// them as visible escapes and never raw. The JSON keeps them exact.
#[test]
fn process_data_never_puts_control_characters_on_the_terminal() {
    let scene = Scene::new("kitty-e2e-hardening-esc-", "9580-9581");
    let project = scene.path().join(EVIL);
    std::fs::create_dir_all(project.join(".kittify")).expect("the evil project");
    let (run_port, sweep_port) = (scene.port(0), scene.port(1));

    for terminal in [false, true] {
        let what = format!("run, {}", if terminal { "on a terminal" } else { "piped" });
        let pidfile = scene.path().join(format!("pids-run-{terminal}"));
        let script = leaving(&[fake_argv(&project, run_port)], &pidfile);
        let mut c = in_scene(&scene, None, &["-vv", "--", "sh", "-c", &script]);
        fake_env(&mut c, &pidfile, &scene.path().join("term")).env(
            "PYTEST_CURRENT_TEST",
            format!("tests/t{EVIL}.py::test_x (call)"),
        );
        let out = capture(c, terminal);
        assert_eq!(out.code, Some(LEAKED), "{what}:\n{}", out.text);
        assert_no_raw_controls(&out.text, terminal, &what);
        assert!(
            out.text.contains(r"tests/tp\x1b[2J"),
            "{what}: the test name:\n{}",
            out.text
        );
        assert!(port_free(run_port), "{what}: the leak was not stopped");
    }

    // The JSON report keeps the project dir exact (serde escapes it).
    let pidfile = scene.path().join("pids-json");
    let script = leaving(&[fake_argv(&project, run_port)], &pidfile);
    let mut c = in_scene(&scene, None, &["--json", "--", "sh", "-c", &script]);
    let out = fake_env(&mut c, &pidfile, &scene.path().join("term"))
        .output()
        .expect("run leakcheck");
    let report = json_report(&out);
    assert_eq!(
        leaks(&report)[0]["project_dir"].as_str(),
        project.to_str(),
        "{report:#}"
    );

    // sweep's listing: an orphan (its project is gone) with the same argv.
    let gone = scene.path().join(format!("gone-{EVIL}"));
    let pidfile = scene.path().join("pids-sweep");
    let mut sh = Command::new("sh");
    sh.arg("-c")
        .arg(leaving(&[fake_argv(&gone, sweep_port)], &pidfile))
        .stdin(Stdio::null());
    isolate_home(&mut sh, scene.home());
    let started = fake_env(&mut sh, &pidfile, &scene.path().join("term"))
        .status()
        .expect("start the fake");
    assert!(started.success(), "the fake did not start");
    for terminal in [false, true] {
        let what = format!(
            "sweep --dry-run, {}",
            if terminal { "on a terminal" } else { "piped" }
        );
        let c = in_scene(&scene, None, &["sweep", "--dry-run", "-v"]);
        let out = capture(c, terminal);
        assert_eq!(out.code, Some(0), "{what}:\n{}", out.text);
        assert!(out.text.contains("orphan"), "{what}:\n{}", out.text);
        assert_no_raw_controls(&out.text, terminal, &what);
    }
    for d in dashboards_under(scene.path()) {
        stop_leftover(&d.identity, d.command.port);
    }
    scene.assert_clean();
}

// --- 8. Baselines that are not regular files ----------------------------------------

/// Issue 15 item 8: `check --baseline` on a FIFO, `/dev/zero`, a directory,
/// a huge (sparse) file, a symlink to `/dev/zero` and a symlink loop: each is
/// refused at once with one line and exit status 2 (bad usage), never read
/// (a FIFO never blocks, `/dev/zero` is never read until memory runs out:
/// the run is capped at 1 GiB of address space here so that the old code
/// fails instead of exhausting the machine).
#[test]
fn a_baseline_that_is_no_regular_file_is_a_one_line_error_at_once() {
    let scene = Scene::new("kitty-e2e-hardening-baseline-", "9587");
    let dir = scene.path();
    let fifo = dir.join("fifo.json");
    rustix::fs::mkfifoat(
        rustix::fs::CWD,
        &fifo,
        rustix::fs::Mode::RUSR | rustix::fs::Mode::WUSR,
    )
    .expect("fifo");
    let huge = dir.join("huge.json");
    std::fs::File::create(&huge)
        .and_then(|f| f.set_len(4 << 30))
        .expect("a sparse 4 GiB file");
    let to_zero = dir.join("zero.json");
    std::os::unix::fs::symlink("/dev/zero", &to_zero).expect("symlink");
    let looped = dir.join("loop.json");
    std::os::unix::fs::symlink(&looped, &looped).expect("symlink loop");
    let subdir = dir.join("dir.json");
    std::fs::create_dir(&subdir).expect("dir");
    let cases: [(&str, &Path); 6] = [
        ("a FIFO", &fifo),
        ("/dev/zero", Path::new("/dev/zero")),
        ("a directory", &subdir),
        ("a huge file", &huge),
        ("a symlink to /dev/zero", &to_zero),
        ("a symlink loop", &looped),
    ];
    for (what, path) in cases {
        let mut c = Command::new("sh");
        c.arg("-c")
            .arg(r#"ulimit -v 1048576; exec "$@""#)
            .arg("sh")
            .arg(leakcheck_bin())
            .args(["check", "--baseline"])
            .arg(path);
        common::leakcheck::without_nextest_env(&mut c);
        let started = Instant::now();
        let (status, text) = run_with_deadline(&mut c, Duration::from_secs(20));
        let took = started.elapsed();
        assert_eq!(status.code(), Some(USAGE), "{what}: {status:?}\n{text}");
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "{what}: not one line:\n{text}");
        assert!(
            lines[0].contains("baseline") && lines[0].contains(path.to_str().expect("utf-8")),
            "{what}: {text}"
        );
        assert!(took < Duration::from_secs(10), "{what} took {took:?}");
        eprintln!("{what}: {took:?}: {}", lines[0]);
    }
}

/// Issue 15 item 8, for the files a runner names: `$GITHUB_STEP_SUMMARY` and
/// `$NEXTEST_ENV` on a FIFO are a one-line error at once (they hung, a
/// blocking open of a FIFO nobody reads), and a regular file still gets
/// its lines.
#[test]
fn a_runner_file_that_is_a_fifo_is_an_error_at_once() {
    let scene = Scene::new("kitty-e2e-hardening-runner-files-", "9587");
    let fifo = scene.path().join("fifo");
    rustix::fs::mknodat(
        rustix::fs::CWD,
        &fifo,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
        0,
    )
    .expect("mkfifo");
    let base = scene.path().join("base.json");
    let cases: [(&str, Vec<&str>); 2] = [
        ("GITHUB_STEP_SUMMARY", vec!["--ports", "9587", "--", "true"]),
        (
            "NEXTEST_ENV",
            vec!["--ports", "9587", "snapshot", "--output", arg(&base)],
        ),
    ];
    for (var, args) in cases {
        let mut c = common::leakcheck::leakcheck();
        c.args(&args)
            .env("GITHUB_ACTIONS", "true")
            .env(var, &fifo)
            .stdin(Stdio::null());
        let (status, stderr) = run_with_deadline(&mut c, Duration::from_secs(20));
        assert_eq!(status.code(), Some(1), "{var}: {stderr}");
        assert!(
            stderr.contains("not a regular file"),
            "{var}: no clear error: {stderr}"
        );
        let _ = std::fs::remove_file(&base);
    }
    let env_file = scene.path().join("nextest-env");
    let (status, output) = run_with_deadline(
        common::leakcheck::leakcheck()
            .args(["--ports", "9587", "snapshot", "--output", arg(&base)])
            .env("NEXTEST_ENV", &env_file),
        Duration::from_secs(20),
    );
    assert!(status.success(), "{output}");
    let lines = std::fs::read_to_string(&env_file).expect("the env file");
    assert!(
        lines.contains("KITTY_LEAKCHECK_RUN=lk-"),
        "no run label in {lines:?}"
    );
    scene.assert_clean();
}

// --- 9. Files planted where leakcheck writes -----------------------------------------

/// Issue 15 item 9: `snapshot --output` in a shared directory. A symlink
/// planted at the old predictable temporary name (`<FILE>.tmp.<pid>`; `exec`
/// keeps the shell's pid, so the plant names leakcheck's pid) is never
/// followed or removed; one planted at FILE itself makes the command fail
/// with one line. The symlinks' target stays untouched either way, and the
/// file written is 0600.
#[test]
fn snapshot_output_never_writes_through_a_planted_symlink() {
    use std::os::unix::fs::PermissionsExt;
    let scene = Scene::new("kitty-e2e-hardening-plant-", "9587");
    let dir = scene.path();
    let precious = dir.join("precious");
    std::fs::write(&precious, "keep").expect("precious");
    // (plant at the temp name, plant at FILE, expected exit status)
    for (at_temp, at_file, want) in [(true, false, 0), (false, true, 1), (true, true, 1)] {
        let what = format!("plant at the temp name {at_temp}, at FILE {at_file}");
        let out = dir.join(format!("baseline-{at_temp}-{at_file}.json"));
        if at_file {
            std::os::unix::fs::symlink(&precious, &out).expect("plant");
        }
        let plant = if at_temp {
            format!("ln -s '{}' \"$1.tmp.$$\"; ", precious.display())
        } else {
            String::new()
        };
        let mut c = Command::new("sh");
        c.arg("-c")
            .arg(format!(
                r#"{plant}exec "$2" --ports 9587 snapshot --output "$1""#
            ))
            .arg("sh")
            .arg(&out)
            .arg(leakcheck_bin());
        common::leakcheck::without_nextest_env(&mut c).env_remove("NEXTEST_ENV");
        let (status, text) = run_with_deadline(&mut c, MINUTE);
        assert_eq!(status.code(), Some(want), "{what}: {text}");
        assert_eq!(
            std::fs::read_to_string(&precious).expect("read"),
            "keep",
            "{what}: the symlink's target was written"
        );
        if want == 0 {
            let meta = std::fs::symlink_metadata(&out).expect("the baseline");
            assert!(meta.is_file(), "{what}");
            assert_eq!(meta.permissions().mode() & 0o777, 0o600, "{what}");
        } else {
            let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
            assert_eq!(lines.len(), 1, "{what}: not one line:\n{text}");
            assert!(lines[0].contains("symlink"), "{what}: {text}");
            assert!(
                std::fs::symlink_metadata(&out)
                    .expect("the plant")
                    .file_type()
                    .is_symlink(),
                "{what}: the plant at FILE was replaced"
            );
        }
        // Every plant is still there: a temp file leakcheck did not create is never removed.
        let plants = std::fs::read_dir(dir)
            .expect("ls")
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_ok_and(|t| t.is_symlink()))
            .count();
        assert!(
            plants >= usize::from(at_temp) + usize::from(at_file),
            "{what}"
        );
    }
}

mod as_root {
    use super::*;

    /// Issue 15 item 9: a full disk (a 16 KiB tmpfs, filled, mounted in a
    /// private mount namespace that ends with the test) leaves no temporary
    /// file of `snapshot --output`: the command fails with one line and the
    /// directory holds only what was there.
    #[test]
    fn a_full_disk_leaves_no_temporary_file() {
        common::victim::require_root();
        let scene = Scene::new("kitty-e2e-hardening-full-", "9587");
        let mnt = scene.path().join("small");
        std::fs::create_dir(&mnt).expect("mount point");
        let script = r#"
            mount -t tmpfs -o size=16k,mode=0700 kitty-full "$1" || exit 99
            head -c 1000000 /dev/zero > "$1/fill" 2>/dev/null
            "$2" --ports 9587 snapshot --output "$1/baseline.json"
            echo "status $?"
            ls -A "$1" | sed 's/^/entry /'
            umount "$1"
        "#;
        let mut c = Command::new(common::victim::require_tool("unshare"));
        c.args([
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            script,
            "sh",
        ])
        .arg(&mnt)
        .arg(leakcheck_bin());
        common::leakcheck::without_nextest_env(&mut c).env_remove("NEXTEST_ENV");
        let (status, text) = run_with_deadline(&mut c, MINUTE);
        assert!(status.success(), "{text}");
        assert!(text.contains("status 1"), "the write must fail:\n{text}");
        let entries: Vec<&str> = text.lines().filter(|l| l.starts_with("entry ")).collect();
        assert_eq!(
            entries,
            ["entry fill"],
            "a temporary file was left:\n{text}"
        );
        let errors: Vec<&str> = text.lines().filter(|l| l.contains("error")).collect();
        assert_eq!(errors.len(), 1, "{text}");
        assert!(errors[0].contains("baseline.json"), "{text}");
    }
}

// --- 10. The run label far into the environment --------------------------------------

/// Issue 15 item 10: a real spec-kitty dashboard whose environment holds
/// 1.2 MiB before its run label (`A_PAD_*` sort before
/// `KITTY_LEAKCHECK_RUN`; `setsid` and python keep the order), leaked past a
/// nextest-style `snapshot` -> `check`: it carries the label, so it is a
/// leak, reaped, and `check` exits 3.
#[test]
fn a_run_label_past_the_first_mebibyte_of_the_environment_is_found() {
    let scene = Scene::new("kitty-e2e-hardening-environ-", "9582");
    let port = scene.port(0);
    let project = bare_project(scene.path(), "far-label");
    let label = "lk-0f0e0d0c0b0a0908";
    let baseline = scene.path().join("baseline.json");
    let mut snap = leakcheck();
    snap.args(["--ports", scene.ports, "snapshot", "--output"])
        .arg(&baseline)
        .env(kitty_core::RUN_LABEL_ENV, label)
        .env_remove("NEXTEST_ENV");
    let out = snap.output().expect("snapshot");
    assert!(out.status.success(), "{}", show(&out));

    // `setsid --fork`: the dashboard leaves for init (or the nearest
    // subreaper) at once, with the environment exactly as given.
    let mut start = Command::new("setsid");
    start
        .arg("--fork")
        .args(dashboard_argv(&project, port))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    isolate_home(&mut start, scene.home());
    for i in 0..12 {
        start.env(format!("A_PAD_{i:02}"), "x".repeat(100 * 1024));
    }
    start.env(kitty_core::RUN_LABEL_ENV, label);
    assert!(start.status().expect("setsid").success());
    wait_until("the dashboard to listen", || port_held(port));
    let dashboard = wait_for(MINUTE, "the dashboard process", || {
        dashboards_under(scene.path()).into_iter().next()
    });
    let environ = std::fs::read(format!("/proc/{}/environ", dashboard.identity.pid()))
        .expect("its environment");
    let at = environ
        .windows(kitty_core::RUN_LABEL_ENV.len())
        .position(|w| w == kitty_core::RUN_LABEL_ENV.as_bytes())
        .expect("the label is in its environment");
    assert!(at > 1 << 20, "the label sits at byte {at}, not past 1 MiB");

    let mut check = leakcheck();
    check
        .args(["check", "--json", "--baseline"])
        .arg(&baseline)
        .env("NO_COLOR", "1");
    let out = check.output().expect("check");
    let report = json_report(&out);
    assert_eq!(out.status.code(), Some(LEAKED), "{}", show(&out));
    let leak = leaks(&report)
        .iter()
        .find(|l| l["pid"] == dashboard.identity.pid())
        .unwrap_or_else(|| panic!("the dashboard is no leak: {report:#}"));
    assert_eq!(leak["carries_label"], true, "{leak:#}");
    assert_eq!(leak["action"]["result"], "reaped", "{leak:#}");
    assert!(reaped(dashboard.identity.pid()) || !dashboard.identity.is_still_alive());
    scene.assert_clean();
}

// --- 11. A signal while leaks are being stopped --------------------------------------

/// Issue 15 item 11: COMMAND leaks a FAKE dashboard that ignores SIGTERM, so
/// its stop takes the 2 s grace before the SIGKILL; leakcheck gets SIGTERM
/// in that window. The stop is finished all the same, the report records the
/// signal (`cleanup_interrupted_by`), and leakcheck exits 128 + 15.
#[test]
fn a_signal_during_the_clean_up_is_recorded_and_ends_leakcheck_after_it() {
    let scene = Scene::new("kitty-e2e-hardening-signal-", "9583");
    let port = scene.port(0);
    let project = bare_project(scene.path(), "ignores-term");
    let (pidfile, termfile) = (scene.path().join("pids"), scene.path().join("terms"));
    let file = scene.path().join("report.json");
    let script = leaving(&[fake_argv(&project, port)], &pidfile);
    let mut c = in_scene(
        &scene,
        None,
        &["--report-file", arg(&file), "--", "sh", "-c", &script],
    );
    fake_env(&mut c, &pidfile, &termfile)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let child = c.spawn().expect("leakcheck");
    wait_until("leakcheck to send the fake SIGTERM", || {
        std::fs::read_to_string(&termfile).is_ok_and(|t| t.contains("TERM"))
    });
    let sent = std::time::Instant::now();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .expect("SIGTERM to leakcheck");
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("leakcheck ended {:?} after the signal", sent.elapsed());
    assert_eq!(out.status.code(), Some(128 + 15), "{stderr}");
    let report = valid_report_file(&file, Schema::Report);
    assert_eq!(report["cleanup_interrupted_by"], "SIGTERM", "{report:#}");
    assert_eq!(report["exit_code"], 128 + 15, "{report:#}");
    let fake = pids_in(&pidfile)[0];
    let leak = leaks(&report)
        .iter()
        .find(|l| l["pid"] == fake)
        .unwrap_or_else(|| panic!("the fake is no leak: {report:#}"));
    assert_eq!(leak["action"]["result"], "reaped", "{leak:#}");
    assert_eq!(leak["action"]["escalated"], true, "{leak:#}");
    assert!(
        stderr.contains("SIGTERM came during the clean-up"),
        "{stderr}"
    );
    assert!(reaped(fake), "the fake {fake} is still there");
    scene.assert_clean();
}

/// Issue 15 item 11, for `sweep`: an orphaned FAKE dashboard that ignores
/// SIGTERM takes its 2 s grace to stop; `sweep --yes` gets SIGTERM in that
/// window. The stop is finished, the JSON records the signal, and the sweep
/// exits 128 + 15 (before this, the signal ended it mid-stop).
#[test]
fn a_signal_during_sweeps_stops_is_recorded_and_ends_it_after_them() {
    let scene = Scene::new("kitty-e2e-hardening-sweep-signal-", "9588");
    let port = scene.port(0);
    let project = bare_project(scene.path(), "orphan-ignores-term");
    let (pidfile, termfile) = (scene.path().join("pids"), scene.path().join("terms"));
    let script = leaving(&[fake_argv(&project, port)], &pidfile);
    let mut start = Command::new("sh");
    start.args(["-c", &script]);
    let started = fake_env(&mut start, &pidfile, &termfile)
        .status()
        .expect("start the fake");
    assert!(started.success(), "the fake did not start");
    let fake = pids_in(&pidfile)[0];
    let fake_id = kitty_core::ProcessIdentity::read(fake).expect("the fake runs");
    std::fs::remove_dir_all(&project).expect("orphan it");
    let mut c = common::leakcheck::leakcheck();
    c.args(["--ports", "9588", "sweep", "--yes", "--json"])
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = c.spawn().expect("sweep");
    wait_until("sweep to send the fake SIGTERM", || {
        std::fs::read_to_string(&termfile).is_ok_and(|t| t.contains("TERM"))
    });
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .expect("SIGTERM to sweep");
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(128 + 15), "{stdout}\n{stderr}");
    let report: Value = serde_json::from_str(stdout.trim()).expect("one line of JSON");
    assert_eq!(report["cleanup_interrupted_by"], "SIGTERM", "{report:#}");
    assert_eq!(report["exit_code"], 128 + 15, "{report:#}");
    assert_eq!(report["stopped"], 1, "{report:#}");
    assert!(
        !fake_id.is_still_alive(),
        "the orphan {fake} was not stopped"
    );
    scene.assert_clean();
}

// --- 12. Stops in parallel -------------------------------------------------------------

/// Issue 15 item 12: three leaked FAKE dashboards that ignore SIGTERM (each
/// stop takes the whole grace) are stopped at once: the run ends sooner
/// than the three stops' elapsed times added up, which only stops that
/// overlapped can do.
#[test]
fn leaked_dashboards_that_hang_are_stopped_in_parallel() {
    let scene = Scene::new("kitty-e2e-hardening-parallel-", "9584-9586");
    let servers: Vec<Vec<OsString>> = (0..3)
        .map(|i| {
            let project = bare_project(scene.path(), &format!("hung-{i}"));
            fake_argv(&project, scene.port(i))
        })
        .collect();
    let (pidfile, termfile) = (scene.path().join("pids"), scene.path().join("terms"));
    let script = leaving(&servers, &pidfile);
    let mut c = in_scene(&scene, None, &["--json", "--", "sh", "-c", &script]);
    fake_env(&mut c, &pidfile, &termfile);
    let started = Instant::now();
    let out = c.output().expect("run leakcheck");
    let total = started.elapsed();
    assert_eq!(out.status.code(), Some(LEAKED), "{}", show(&out));
    let report = json_report(&out);
    let stops: Vec<&Value> = leaks(&report).iter().map(|l| &l["action"]).collect();
    assert_eq!(stops.len(), 3, "{report:#}");
    let mut sum = 0.0;
    for a in &stops {
        assert_eq!(a["result"], "reaped", "{report:#}");
        assert_eq!(a["escalated"], true, "each took its grace: {report:#}");
        sum += a["elapsed_ms"].as_f64().expect("elapsed_ms");
    }
    eprintln!("the run took {total:?}; the three stops {sum:.0} ms added up");
    assert!(
        total.as_secs_f64() * 1000.0 < sum,
        "the stops did not overlap: the run took {total:?}, the stops {sum:.0} ms together"
    );
    for pid in pids_in(&pidfile) {
        assert!(reaped(pid), "pid {pid} is still there");
    }
    scene.assert_clean();
}
