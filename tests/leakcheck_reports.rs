//! End-to-end tests of what `cargo kitty-leakcheck` reports, in every form:
//! the JSON report on stdout and in `--report-file`, validated against the
//! committed JSON Schemas (a clean run, a leak, a reap failure, `wrap`,
//! `check`, `sweep`); the JUnit file, validated against the Jenkins
//! `junit-10.xsd` (the schema pytest checks its own JUnit with) and compared
//! with nextest's and pytest's own; the GitHub job summary and annotations;
//! the test each leak is blamed on under pytest and under plain `cargo test`
//! with kitty-fixtures; and colour, under a pseudo-terminal, as cargo's.
//!
//! Ports: 9760-9779 and 9592-9594 (see `common`'s port map); each test has
//! its own window.
//! Every test ends by proving nothing is left on its window or under its root.

mod common;

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use common::detached::{
    TOKEN, dashboard_argv, setsid_line, spec_kitty_python, start_dashboard,
    start_labelled_dashboard,
};
use common::leakcheck::{
    LEAKED, REAP_FAILED, Schema, USAGE, assert_no_token, in_scene, json_report, leak_on, leakcheck,
    leaks, valid_report_file,
};
use common::mini::MiniCrate;
use common::pty::{OnTerminal, capture};
use common::scene::Scene;
use common::victim::Victim;
use common::{bare_project, port_held, show, wait_until, workspace_root};

/// A shell line that waits (up to 30 s) until the process `$!` runs `program`
/// (the detached dashboard has replaced `setsid` in that pid).
fn wait_exec_line(program: &Path) -> String {
    format!(
        r#"for _ in $(seq 3000); do
    [ "$(tr '\0' '\n' </proc/$!/cmdline | head -n 1)" = '{}' ] && break
    sleep 0.01
done"#,
        program.display()
    )
}

/// `sh -c` that starts a real dashboard for `project` on `port` detached, as
/// spec-kitty does, and exits once it runs: the run leaks it.
fn leaking_script(project: &Path, port: u16) -> String {
    format!(
        "{}\n{}",
        setsid_line(&dashboard_argv(project, port)),
        wait_exec_line(&spec_kitty_python())
    )
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn arg(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 temp path")
}

/// GitHub Actions as a job step sees it: `GITHUB_ACTIONS=true` and a step
/// summary file.
fn as_github_step<'a>(c: &'a mut Command, summary: &Path) -> &'a mut Command {
    c.env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", summary)
}

#[test]
fn a_report_file_is_valid_json_whatever_command_prints() {
    let scene = Scene::new("kitty-e2e-reports-", "9760-9761");
    let file = scene.path().join("report.json");

    // --json and --report-file: COMMAND's output ends without a newline; the
    // report on stdout starts on a line of its own, and the file is the same
    // report, alone.
    let out = in_scene(
        &scene,
        None,
        &[
            "--json",
            "--report-file",
            arg(&file),
            "--",
            "printf",
            "partial",
        ],
    )
    .output()
    .expect("run leakcheck");
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.starts_with("partial\n{"), "{}", show(&out));
    let from_file = valid_report_file(&file, Schema::Report);
    assert_eq!(from_file, json_report(&out));
    assert_eq!(from_file["outcome"], "ok");
    assert_eq!(from_file["mode"], "run");

    // --report-file alone: stdout is COMMAND's, exactly; people get the human
    // report on stderr.
    let out = in_scene(
        &scene,
        None,
        &["--report-file", arg(&file), "--", "printf", "partial"],
    )
    .output()
    .expect("run leakcheck");
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(out.stdout, b"partial", "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing leaked"));
    valid_report_file(&file, Schema::Report);

    // The `wrap` mode writes one per test (`{test}` in its name), though it
    // prints nothing when clean; without `{test}` it is a usage error.
    let out = in_scene(
        &scene,
        None,
        &["wrap", "--report-file", arg(&file), "--", "true"],
    )
    .output()
    .expect("run leakcheck wrap");
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let pattern = scene.path().join("wrap-{test}.json");
    let out = in_scene(
        &scene,
        None,
        &[
            "wrap",
            "--report-file",
            arg(&pattern),
            "--",
            "printf",
            "partial",
        ],
    )
    .output()
    .expect("run leakcheck wrap");
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(out.stdout, b"partial", "{}", show(&out));
    let per_test = scene.path().join("wrap-unknown.unknown.json");
    assert_eq!(valid_report_file(&per_test, Schema::Report)["mode"], "wrap");

    // A report file in a directory that does not exist yet: the directories
    // are made, as nextest makes its output dirs.
    let nested = scene.path().join("no/such/dir/report.json");
    let out = in_scene(&scene, None, &["--report-file", arg(&nested), "--", "true"])
        .output()
        .expect("run leakcheck");
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(valid_report_file(&nested, Schema::Report)["mode"], "run");

    // A report file that cannot be written (its "directory" is a file) is an
    // error of leakcheck's (1), unless COMMAND failed: its status wins.
    let a_file = scene.path().join("a-file");
    std::fs::write(&a_file, "").expect("a file");
    let nowhere = a_file.join("report.json");
    for (command, code) in [("exit 0", 1), ("exit 7", 7)] {
        let out = in_scene(
            &scene,
            None,
            &["--report-file", arg(&nowhere), "--", "sh", "-c", command],
        )
        .output()
        .expect("run leakcheck");
        assert_eq!(out.status.code(), Some(code), "{}", show(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("error: cannot write the JSON report")
                && stderr.contains(arg(&nowhere)),
            "{}",
            show(&out)
        );
    }
    scene.assert_clean();
}

/// A leak, in every form: the JSON report (stdout and file), the JUnit file,
/// the job summary and the `::error` annotation. Kept with `--no-reap`, the
/// dashboard then loses its project and `sweep` stops it: its report
/// validates too.
#[test]
fn a_leak_is_reported_in_json_junit_and_the_job_summary_and_sweep_reports_validate() {
    let scene = Scene::new("kitty-e2e-reports-", "9762-9763");
    let project = bare_project(scene.path(), "leaky");
    let port = scene.port(0);
    let (file, junit, summary) = (
        scene.path().join("report.json"),
        scene.path().join("junit.xml"),
        scene.path().join("summary.md"),
    );
    let script = leaking_script(&project, port);
    let out = as_github_step(
        &mut in_scene(
            &scene,
            None,
            &[
                "--no-reap",
                "--json",
                "--report-file",
                arg(&file),
                "--junit",
                arg(&junit),
                "--",
                "sh",
                "-c",
                &script,
            ],
        ),
        &summary,
    )
    .output()
    .expect("run leakcheck");
    assert_eq!(out.status.code(), Some(LEAKED), "{}", show(&out));
    assert_no_token(&out);

    let report = valid_report_file(&file, Schema::Report);
    assert_eq!(report, json_report(&out));
    assert_eq!(report["outcome"], "leaked");
    let leak = leak_on(&report, port);
    assert_eq!(leak["kind"], "dashboard");
    assert_eq!(leak["action"]["result"], "not-reaped", "{leak:#}");
    let pid = leak["pid"].as_u64().expect("a pid");

    let stdout = String::from_utf8_lossy(&out.stdout);
    let annotation = stdout
        .lines()
        .find(|l| l.starts_with("::error title=kitty-leakcheck%3A leak::"))
        .unwrap_or_else(|| panic!("no annotation:\n{}", show(&out)));
    // It names the port as its address when the dashboard already listened
    // (`on 127.0.0.1:PORT`, quick with 0.5.3), else as the port it was told.
    assert!(
        annotation.contains(&format!(":{port},")) || annotation.contains(&format!("port {port}")),
        "{annotation}"
    );

    let xml = valid_junit(&junit);
    for want in [
        r#"<testsuite name="kitty-leakcheck (ports 9762-9763)" tests="1""#,
        r#"failures="1""#,
        // Named after what leaked and where (no test names it), never its pid.
        &format!(
            r#"<testcase name="dashboard of {} on port {port}" classname="kitty-leakcheck" time="0.000">"#,
            project.display()
        ),
        r#" type="leak">"#,
    ] {
        assert!(xml.contains(want), "no {want:?} in\n{xml}");
    }
    let md = read(&summary);
    assert!(
        md.contains("### kitty-leakcheck: 1 leak on ports 9762-9763")
            && md.contains(&format!(
                "| dashboard | {port} | {pid} | {}",
                project.display()
            )),
        "{md}"
    );
    for text in [&xml, &md] {
        assert!(!text.contains(TOKEN), "a token in\n{text}");
    }

    // The classic leak: the project is deleted, the dashboard lives on.
    wait_until("the kept dashboard to listen", || port_held(port));
    std::fs::remove_dir_all(&project).expect("remove the project");
    let sweep_file = scene.path().join("sweep.json");
    let out = common::leakcheck::leakcheck()
        .args([
            "sweep",
            "--ports",
            scene.ports,
            "--yes",
            "--json",
            "--report-file",
        ])
        .arg(&sweep_file)
        .env("NO_COLOR", "1")
        .output()
        .expect("run sweep");
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let swept = valid_report_file(&sweep_file, Schema::Sweep);
    assert_eq!(swept, json_report(&out), "stdout and the file differ");
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 1);
    assert_eq!(swept["tool"], "cargo-kitty-leakcheck");
    assert!(swept["tool_version"].is_string(), "{swept:#}");
    let entry = swept["dashboards"]
        .as_array()
        .and_then(|d| d.iter().find(|d| d["pid"] == pid))
        .unwrap_or_else(|| panic!("pid {pid} not in {swept:#}"));
    assert_eq!(entry["class"], "orphan", "{entry:#}");
    assert_eq!(entry["action"], "stopped", "{entry:#}");
    scene.assert_clean();
}

/// A dashboard whose port stays held after it is stopped (a named FAKE
/// server, tests/fakes/README.md: the real one cannot be made to do this):
/// exit status 5, a `failed` action in every form, and the helper holding
/// the socket, which nothing proves is a dashboard, untouched.
#[test]
fn a_reap_failure_is_status_5_in_every_report_form() {
    let scene = Scene::new("kitty-e2e-reports-", "9764-9765");
    let project = bare_project(scene.path(), "kept-socket");
    let port = scene.port(0);
    let pidfile = scene.path().join("fake-pids");
    let fake = workspace_root().join("tests/fakes/fake-server-keeps-its-socket");
    let python = spec_kitty_python();
    let port_s = port.to_string();
    let server = [
        python.as_os_str(),
        OsStr::new("-m"),
        OsStr::new("specify_cli.dashboard._server_main"),
        project.as_os_str(),
        OsStr::new(&port_s),
        OsStr::new(TOKEN),
    ];
    let script = format!(
        "{}\nfor _ in $(seq 3000); do [ \"$(cat '{pids}' 2>/dev/null | wc -l)\" = 2 ] && break; sleep 0.01; done",
        setsid_line(&server),
        pids = pidfile.display()
    );
    let (file, junit, summary) = (
        scene.path().join("report.json"),
        scene.path().join("junit.xml"),
        scene.path().join("summary.md"),
    );
    let mut cmd = in_scene(
        &scene,
        None,
        &[
            "--report-file",
            arg(&file),
            "--junit",
            arg(&junit),
            "--",
            "sh",
            "-c",
            &script,
        ],
    );
    cmd.env("PYTHONPATH", &fake)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("FAKE_PIDFILE", &pidfile);
    let out = as_github_step(&mut cmd, &summary)
        .output()
        .expect("run leakcheck");
    let pids: Vec<u32> = read(&pidfile)
        .lines()
        .filter_map(|l| l.parse().ok())
        .collect();
    let [dashboard, holder] = pids[..] else {
        panic!("the fake recorded {pids:?}\n{}", show(&out));
    };
    let helper = Victim::process("the helper holding the fake's socket", holder);
    assert_eq!(out.status.code(), Some(REAP_FAILED), "{}", show(&out));
    assert_no_token(&out);

    let report = valid_report_file(&file, Schema::Report);
    assert_eq!(report["outcome"], "reap-failed", "{report:#}");
    assert_eq!(report["exit_code"], REAP_FAILED);
    assert_eq!(report["summary"]["reap_failed"], 1, "{report:#}");
    let leak = leaks(&report)
        .iter()
        .find(|l| l["pid"] == dashboard)
        .unwrap_or_else(|| panic!("the fake dashboard {dashboard} is no leak: {report:#}"));
    assert_eq!(leak["action"]["result"], "failed", "{leak:#}");
    assert!(
        !leaks(&report)
            .iter()
            .any(|l| l["pid"] == holder && l["action"]["result"] != "left-alone"),
        "the helper was acted on: {report:#}"
    );
    let xml = valid_junit(&junit);
    assert!(
        xml.contains(&format!(
            r#"<testcase name="dashboard of {} on port {port}" classname="kitty-leakcheck""#,
            project.display()
        )),
        "{xml}"
    );
    let md = read(&summary);
    assert!(
        md.contains(&format!("| dashboard | {port} | {dashboard} |")),
        "{md}"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("could not be stopped"), "{}", show(&out));

    helper.assert_unharmed("leakcheck's reap failed");
    assert!(
        kitty_core::ProcessIdentity::read(dashboard).is_none(),
        "the fake dashboard itself was not stopped"
    );
    helper.stop();
    scene.assert_clean();
}

/// `check`'s report and JUnit file: a dashboard carrying the baseline's run
/// label is a leak, reaped.
#[test]
fn a_check_report_validates_and_its_junit_names_the_leak() {
    let scene = Scene::new("kitty-e2e-reports-", "9766-9767");
    let baseline = scene.path().join("baseline.json");
    let out = in_scene(&scene, None, &["snapshot", "--output", arg(&baseline)])
        .output()
        .expect("snapshot");
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let b: Value = serde_json::from_str(&read(&baseline)).expect("the baseline is JSON");
    let label = b["run_label"].as_str().expect("a run label");
    let port = scene.port(1);
    let leaked = start_labelled_dashboard(
        &bare_project(scene.path(), "labelled"),
        port,
        scene.home(),
        label,
    );
    let (file, junit) = (
        scene.path().join("check.json"),
        scene.path().join("check.xml"),
    );
    let out = in_scene(
        &scene,
        None,
        &[
            "check",
            "--baseline",
            arg(&baseline),
            "--report-file",
            arg(&file),
            "--junit",
            arg(&junit),
        ],
    )
    .output()
    .expect("check");
    assert_eq!(out.status.code(), Some(LEAKED), "{}", show(&out));
    let report = valid_report_file(&file, Schema::Report);
    assert_eq!(report["mode"], "check");
    assert_eq!(
        leak_on(&report, port)["action"]["result"],
        "reaped",
        "{report:#}"
    );
    // The case is named after the test the dashboard's environment names
    // (this one's, under nextest), else after the process.
    let xml = valid_junit(&junit);
    assert!(
        xml.contains("kitty-leakcheck check (ports 9766-9767)")
            && xml.contains(&format!(
                "leaked a dashboard pid {} on 127.0.0.1:{port}",
                leaked.pid()
            )),
        "{xml}"
    );
    assert!(!leaked.alive(), "the leak was not reaped");
    scene.assert_clean();
}

/// pytest names each test in `PYTEST_CURRENT_TEST`, which a dashboard its
/// test starts inherits: every report form names the test.
#[test]
fn a_pytest_run_names_each_leaking_test() {
    let scene = Scene::new("kitty-e2e-reports-", "9768-9770");
    let suite = scene.path().join("suite");
    std::fs::create_dir(&suite).expect("suite dir");
    std::fs::write(
        suite.join("test_leaky.py"),
        r#"import os
import subprocess

SPEC_KITTY = os.environ["KITTY_SPEC_KITTY"]
PORTS = [int(p) for p in os.environ["LEAK_PORTS"].split(",")]


def start_dashboard(tmp_path, port):
    """`spec-kitty dashboard` in a fresh project: it detaches the server,
    which outlives the test (the bug this tool exists for)."""
    project = tmp_path / "project"
    (project / ".kittify").mkdir(parents=True)
    home = tmp_path / "home"
    home.mkdir()
    env = dict(os.environ, HOME=str(home), SPEC_KITTY_HOME=str(home / ".spec-kitty"))
    subprocess.run(
        [SPEC_KITTY, "dashboard", "--port", str(port)],
        cwd=project, env=env, check=True,
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
    )


def test_leaks_first(tmp_path):
    start_dashboard(tmp_path, PORTS[0])


def test_passes():
    pass


def test_leaks_second(tmp_path):
    start_dashboard(tmp_path, PORTS[1])
"#,
    )
    .expect("write the suite");
    let (first, second) = (scene.port(0), scene.port(1));
    let (file, junit, summary) = (
        scene.path().join("report.json"),
        scene.path().join("junit.xml"),
        scene.path().join("summary.md"),
    );
    let pytest = common::pytest();
    let basetemp = scene.path().join("pytest-tmp");
    let mut cmd = in_scene(
        &scene,
        None,
        &[
            "--report-file",
            arg(&file),
            "--junit",
            arg(&junit),
            "--",
            arg(&pytest),
            "-q",
            "-p",
            "no:cacheprovider",
            "--basetemp",
            arg(&basetemp),
        ],
    );
    cmd.current_dir(&suite)
        .env("KITTY_SPEC_KITTY", common::spec_kitty())
        .env("LEAK_PORTS", format!("{first},{second}"))
        .env("PYTHONDONTWRITEBYTECODE", "1");
    let out = as_github_step(&mut cmd, &summary)
        .output()
        .expect("run leakcheck");
    assert_eq!(out.status.code(), Some(LEAKED), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("3 passed"),
        "{}",
        show(&out)
    );
    assert_no_token(&out);

    let report = valid_report_file(&file, Schema::Report);
    let xml = valid_junit(&junit);
    let md = read(&summary);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    for (port, test, function) in [
        (first, "test_leaky.py::test_leaks_first", "test_leaks_first"),
        (
            second,
            "test_leaky.py::test_leaks_second",
            "test_leaks_second",
        ),
    ] {
        let leak = leak_on(&report, port);
        assert_eq!(leak["test"]["name"], test, "{leak:#}");
        assert_eq!(leak["test"]["runner"], "pytest", "{leak:#}");
        assert_eq!(leak["action"]["result"], "reaped", "{leak:#}");
        // As pytest's own JUnit names it.
        assert!(
            xml.contains(&format!(
                r#"<testcase name="{function}" classname="test_leaky" time=""#
            )) && xml.contains(r#" file="test_leaky.py">"#),
            "{xml}"
        );
        // Markdown punctuation in the cell is escaped (`_` as `\_`).
        let cell = test.replace('_', "\\_");
        assert!(md.contains(&format!("| {cell} |")), "{md}");
        assert!(stdout.contains(&format!("test {test}")), "{}", show(&out));
        assert!(stderr.contains(test), "{}", show(&out));
    }
    assert_eq!(leaks(&report).len(), 2, "{report:#}");
    assert!(!xml.contains("test_passes"), "{xml}");
    scene.assert_clean();
}

/// A kitty-fixtures dashboard carries its test's name (libtest names the
/// test's thread): one that leaks because the test process was killed, so no
/// drop and no at-exit hook ran, is blamed on its test under plain `cargo test`.
#[test]
fn a_fixture_dashboard_that_leaks_is_named_after_its_test() {
    let scene = Scene::new("kitty-e2e-reports-", "9771-9772");
    let source = r#"
use kitty_fixtures::KittyProject;

#[test]
fn killed_while_its_dashboard_runs() {
    let project = KittyProject::new().expect("a project");
    let port = std::env::var("LEAK_PORT").expect("LEAK_PORT");
    // Nothing will run to delete its isolated home: the outer test does.
    let home_file = std::env::var("LEAK_HOME_FILE").expect("LEAK_HOME_FILE");
    let home = project.home().as_os_str().as_encoded_bytes();
    std::fs::write(home_file, home).expect("home file");
    // `spec-kitty dashboard` detaches the server (no parent-death signal
    // reaches it); SIGKILL then leaves no drop and no at-exit hook to run.
    let status = project
        .spec_kitty(["dashboard", "--port", &port])
        .stdout(std::process::Stdio::null())
        .status()
        .expect("spec-kitty runs");
    assert!(status.success(), "{status}");
    std::process::Command::new("kill")
        .args(["-KILL", &std::process::id().to_string()])
        .status()
        .expect("kill");
    std::thread::sleep(std::time::Duration::from_secs(60));
}
"#;
    let mini = MiniCrate::new("kitty_mini_fixture_blame", source);
    let port = scene.port(0);
    let (file, junit) = (
        scene.path().join("report.json"),
        scene.path().join("junit.xml"),
    );
    let out = in_scene(
        &scene,
        Some(&mini),
        &[
            "--report-file",
            arg(&file),
            "--junit",
            arg(&junit),
            "--",
            "cargo",
            "test",
            "--offline",
        ],
    )
    .env("LEAK_PORT", port.to_string())
    .env(
        "LEAK_HOME_FILE",
        scene.path().join("home-of-the-killed-test"),
    )
    .output()
    .expect("run leakcheck");
    // The killed test's isolated home (spec-kitty wrote its agent files
    // there) is left, as its project dir is: removed, whatever else fails.
    let home = std::fs::read(scene.path().join("home-of-the-killed-test")).map(|b| {
        PathBuf::from(<std::ffi::OsString as std::os::unix::ffi::OsStringExt>::from_vec(b))
    });
    if let Ok(home) = &home {
        assert!(home.starts_with(std::env::temp_dir()), "{}", home.display());
        let _ = std::fs::remove_dir_all(home);
    }
    // cargo test fails (its test binary was killed); leakcheck keeps that status.
    assert_eq!(out.status.code(), Some(101), "{}", show(&out));
    let report = valid_report_file(&file, Schema::Report);
    assert_eq!(report["outcome"], "command-failed");
    let leak = leak_on(&report, port);
    assert_eq!(
        leak["test"]["name"], "killed_while_its_dashboard_runs",
        "{leak:#}"
    );
    assert_eq!(leak["test"]["runner"], "kitty-fixtures", "{leak:#}");
    assert_eq!(leak["action"]["result"], "reaped", "{leak:#}");
    let xml = valid_junit(&junit);
    assert!(
        xml.contains(r#"<testcase name="killed_while_its_dashboard_runs""#),
        "{xml}"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("test: killed_while_its_dashboard_runs"),
        "{}",
        show(&out)
    );
    // The project's temp dir is left (nothing ran to delete it): remove it.
    if let Some(dir) = leak["project_dir"].as_str() {
        let _ = std::fs::remove_dir_all(dir);
    }
    scene.assert_clean();
}

// --- JUnit, against the Jenkins schema and nextest's and pytest's own -------------

/// The attributes our JUnit may carry beyond `junit-10.xsd`, each one that
/// its own runner's JUnit carries too: nextest's file has `skipped` and
/// `timestamp` on `testsuites` (quick-junit always writes `skipped`), and
/// pytest's (`junit_family=xunit1`) has `file` on `testcase`. Every other
/// departure from the schema fails.
const BEYOND_THE_SCHEMA: [(&str, &str); 3] = [
    ("testsuites", "skipped"),
    ("testsuites", "timestamp"),
    ("testcase", "file"),
];

/// The venv of `scripts/spec-kitty-env junit-xsd`: xmlschema and the
/// Jenkins `junit-10.xsd` from pytest 8.4.2's sdist. `KITTY_JUNIT_XSD`,
/// else `target/spec-kitty/junit-xsd`. Fails the test when it is missing
/// (a test that needs a test dependency fails, never skips).
fn junit_xsd_venv() -> PathBuf {
    let venv = std::env::var_os("KITTY_JUNIT_XSD")
        .map(PathBuf::from)
        .unwrap_or_else(|| common::target_dir().join("spec-kitty/junit-xsd"));
    assert!(
        venv.join("bin/python").is_file() && venv.join("junit-10.xsd").is_file(),
        "the JUnit schema and its validator are not installed in {}: run \
         `scripts/spec-kitty-env junit-xsd` (scripts/test-all does it) or set KITTY_JUNIT_XSD",
        venv.display()
    );
    venv
}

/// One JUnit file as the validator read it: its departures from
/// `junit-10.xsd`, its root's and suites' attributes, and its cases.
struct Junit {
    /// `(element, attribute)` of each attribute the schema does not allow;
    /// any other violation, as the validator words it.
    not_allowed: BTreeSet<(String, String)>,
    other_errors: Vec<String>,
    root: Value,
    suites: Vec<Value>,
    /// Each case's attributes, and `result`: `failure`, `skipped` or `passed`.
    cases: Vec<Value>,
}

impl Junit {
    /// The case named `name` (with `classname`).
    fn case(&self, classname: &str, name: &str) -> &Value {
        self.cases
            .iter()
            .find(|c| c["classname"] == classname && c["name"] == name)
            .unwrap_or_else(|| panic!("no case {classname} / {name} in {:#?}", self.cases))
    }
}

/// `files` validated against `junit-10.xsd` by xmlschema (one python run).
fn read_junit(files: &[&Path]) -> Vec<Junit> {
    let venv = junit_xsd_venv();
    let out = Command::new(venv.join("bin/python"))
        .arg("-c")
        .arg(
            r#"
import json, re, sys
import xml.etree.ElementTree as ET
import xmlschema
schema = xmlschema.XMLSchema(sys.argv[1])
for path in sys.argv[2:]:
    not_allowed, other = [], []
    for e in schema.iter_errors(path):
        m = re.match(r"'([^']+)' attribute not allowed for element", e.reason or "")
        if m and e.elem is not None:
            not_allowed.append([e.elem.tag, m.group(1)])
        else:
            other.append(f"{e.path}: {e.reason}")
    root = ET.parse(path).getroot()
    cases = []
    for c in root.iter("testcase"):
        result = "passed"
        for kind in ("failure", "error", "skipped"):
            if c.find(kind) is not None:
                result = kind
        cases.append(dict(c.attrib, result=result))
    print(json.dumps({
        "not_allowed": not_allowed, "other": other, "root": dict(root.attrib),
        "suites": [dict(s.attrib) for s in root.iter("testsuite")], "cases": cases,
    }))
"#,
        )
        .arg(venv.join("junit-10.xsd"))
        .args(files)
        .output()
        .expect("run the JUnit validator");
    assert!(
        out.status.success(),
        "the validator failed:\n{}",
        show(&out)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("the validator's JSON"))
        .collect();
    assert_eq!(lines.len(), files.len(), "{}", show(&out));
    lines
        .into_iter()
        .map(|v| Junit {
            not_allowed: v["not_allowed"]
                .as_array()
                .expect("not_allowed")
                .iter()
                .map(|p| {
                    let s = |i: usize| p[i].as_str().expect("a name").to_string();
                    (s(0), s(1))
                })
                .collect(),
            other_errors: serde_json::from_value(v["other"].clone()).expect("other"),
            root: v["root"].clone(),
            suites: serde_json::from_value(v["suites"].clone()).expect("suites"),
            cases: serde_json::from_value(v["cases"].clone()).expect("cases"),
        })
        .collect()
}

/// Asserts that our JUnit file `path` is valid under `junit-10.xsd` but for
/// [`BEYOND_THE_SCHEMA`], and carries a timestamp and times everywhere
/// consumers read them; returns its text.
fn valid_junit(path: &Path) -> String {
    let [junit] = &read_junit(&[path])[..] else {
        unreachable!("one file, one answer")
    };
    assert_valid_junit(path, junit);
    read(path)
}

fn assert_valid_junit(path: &Path, junit: &Junit) {
    let beyond: BTreeSet<(String, String)> = BEYOND_THE_SCHEMA
        .iter()
        .map(|(e, a)| (e.to_string(), a.to_string()))
        .collect();
    let wrong: Vec<_> = junit.not_allowed.difference(&beyond).collect();
    assert!(
        wrong.is_empty() && junit.other_errors.is_empty(),
        "{} is not valid under junit-10.xsd: {wrong:?} {:?}\n{}",
        path.display(),
        junit.other_errors,
        read(path)
    );
    for (what, attrs) in std::iter::once(("testsuites", &junit.root))
        .chain(junit.suites.iter().map(|s| ("testsuite", s)))
    {
        for attr in [
            "name",
            "tests",
            "failures",
            "errors",
            "skipped",
            "time",
            "timestamp",
        ] {
            assert!(attrs[attr].is_string(), "<{what}> has no {attr}: {attrs}");
        }
    }
    for case in &junit.cases {
        for attr in ["name", "classname", "time"] {
            assert!(case[attr].is_string(), "a case has no {attr}: {case}");
        }
    }
}

/// The JUnit of a clean run, of a leaked dashboard no test names, and of a
/// pytest leak (a method of a class, with a parameter), each valid under the
/// Jenkins `junit-10.xsd` but for what nextest's and pytest's own files carry
/// beyond it; the pytest leak's case has the very classname and name of the
/// test in pytest's own JUnit of the same run (so the two merge); and
/// nextest's own file (the committed sample) departs from the schema by at
/// least as much as ours does.
#[test]
fn junit_files_validate_against_the_jenkins_schema_and_merge_with_pytest_s() {
    // The validator first: without it the test fails before starting anything.
    junit_xsd_venv();
    let scene = Scene::new("kitty-e2e-reports-", "9592-9594");
    let (dashboard_port, pytest_port) = (scene.port(0), scene.port(1));
    let clean = scene.path().join("clean.xml");
    let leaked = scene.path().join("leaked.xml");
    let from_pytest = scene.path().join("pytest-leak.xml");
    let pytest_own = scene.path().join("pytest-own.xml");

    // A clean run.
    let out = in_scene(&scene, None, &["--junit", arg(&clean), "--", "true"])
        .output()
        .expect("run leakcheck");
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));

    // A leaked dashboard, reaped: no test names it.
    let project = bare_project(scene.path(), "leaky");
    let script = leaking_script(&project, dashboard_port);
    let out = in_scene(
        &scene,
        None,
        &["--junit", arg(&leaked), "--", "sh", "-c", &script],
    )
    .output()
    .expect("run leakcheck");
    assert_eq!(out.status.code(), Some(LEAKED), "{}", show(&out));

    // pytest: a parametrized method of a class, in a package directory,
    // whose test starts a dashboard server in its own session (the server
    // inherits PYTEST_CURRENT_TEST); pytest writes its own JUnit too.
    let suite = scene.path().join("suite");
    std::fs::create_dir_all(suite.join("tests")).expect("suite dir");
    std::fs::write(suite.join("pytest.ini"), "[pytest]\n").expect("pytest.ini");
    std::fs::write(
        suite.join("tests/test_leaky.py"),
        r#"import json
import os
import subprocess

import pytest


class TestLeaky:
    @pytest.mark.parametrize("how", ["detached"])
    def test_leaks(self, how):
        subprocess.Popen(
            json.loads(os.environ["LEAK_ARGV"]), start_new_session=True,
            env=dict(os.environ, HOME=os.environ["LEAK_HOME"]),
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
"#,
    )
    .expect("write the suite");
    let server = bare_project(scene.path(), "from-pytest");
    let argv: Vec<String> = dashboard_argv(&server, pytest_port)
        .iter()
        .map(|w| w.to_str().expect("a UTF-8 argv").to_string())
        .collect();
    let pytest = common::pytest();
    let basetemp = scene.path().join("pytest-tmp");
    let junitxml = format!("--junitxml={}", arg(&pytest_own));
    let mut cmd = in_scene(
        &scene,
        None,
        &[
            "--junit",
            arg(&from_pytest),
            "--",
            arg(&pytest),
            "-q",
            "-p",
            "no:cacheprovider",
            "--basetemp",
            arg(&basetemp),
            &junitxml,
        ],
    );
    cmd.current_dir(&suite)
        .env("LEAK_ARGV", serde_json::to_string(&argv).expect("JSON"))
        .env("LEAK_HOME", scene.home())
        .env("PYTHONDONTWRITEBYTECODE", "1");
    let out = cmd.output().expect("run leakcheck");
    assert_eq!(out.status.code(), Some(LEAKED), "{}", show(&out));
    assert_no_token(&out);

    let nextest_sample =
        workspace_root().join("cargo-kitty-leakcheck/tests-data/nextest-0.9.143-junit.xml");
    let files = [&clean, &leaked, &from_pytest, &pytest_own, &nextest_sample];
    let files: Vec<&Path> = files.iter().map(|p| p.as_path()).collect();
    let [clean_j, leaked_j, from_pytest_j, pytest_j, nextest_j] = &read_junit(&files)[..] else {
        unreachable!("one answer per file")
    };
    for (path, junit) in [
        (&clean, clean_j),
        (&leaked, leaked_j),
        (&from_pytest, from_pytest_j),
    ] {
        assert_valid_junit(path, junit);
        assert!(!read(path).contains(TOKEN), "a token in {}", path.display());
    }

    // What the schema does not allow in ours, nextest's own file has too
    // (pytest's `file` aside); pytest's own (xunit2) is valid as it is.
    for attr in ["skipped", "timestamp"] {
        assert!(
            nextest_j
                .not_allowed
                .contains(&("testsuites".into(), attr.into())),
            "{:?}",
            nextest_j.not_allowed
        );
    }
    assert!(
        pytest_j.not_allowed.is_empty() && pytest_j.other_errors.is_empty(),
        "pytest's own JUnit: {:?} {:?}",
        pytest_j.not_allowed,
        pytest_j.other_errors
    );

    let ok = clean_j.case("kitty-leakcheck", "no leaked dashboards");
    assert_eq!(ok["result"], "passed", "{ok}");
    assert_eq!(clean_j.root["failures"], "0", "{}", clean_j.root);

    let case = leaked_j.case(
        "kitty-leakcheck",
        &format!(
            "dashboard of {} on port {dashboard_port}",
            project.display()
        ),
    );
    assert_eq!(case["result"], "failure", "{case}");
    assert_ne!(case["time"], "0.000", "reaped: the stop's time: {case}");

    // Our case is pytest's own, by classname and name.
    let theirs = pytest_j.case("tests.test_leaky.TestLeaky", "test_leaks[detached]");
    assert_eq!(theirs["result"], "passed", "{theirs}");
    let ours = from_pytest_j.case("tests.test_leaky.TestLeaky", "test_leaks[detached]");
    assert_eq!(ours["result"], "failure", "{ours}");
    assert_eq!(ours["file"], "tests/test_leaky.py", "{ours}");
    assert_ne!(ours["time"], "0.000", "reaped: the stop's time: {ours}");
    for junit in [clean_j, leaked_j, from_pytest_j] {
        for case in &junit.cases {
            let name = case["name"].as_str().unwrap_or_default();
            assert!(!name.contains("pid"), "a pid in a case name: {case}");
        }
    }
    scene.assert_clean();
}

// --- Colour, as cargo's -------------------------------------------------------

/// Runs leakcheck with `args` and `env` (every other colour variable
/// removed) with stdout and stderr on a new pseudo-terminal, or on pipes
/// when `terminal` is false.
fn run_colour(args: &[&str], env: &[(&str, &str)], terminal: bool) -> OnTerminal {
    let mut c = common::leakcheck::leakcheck();
    c.args(args);
    for k in [
        "NO_COLOR",
        "CLICOLOR",
        "CLICOLOR_FORCE",
        "CARGO_TERM_COLOR",
        "TERM",
        "CI",
        "GITHUB_ACTIONS",
    ] {
        c.env_remove(k);
    }
    c.env("TERM", "xterm-256color");
    for (k, v) in env {
        c.env(k, v);
    }
    capture(c, terminal)
}

fn coloured(text: &str) -> bool {
    text.contains("\x1b[")
}

/// The colour choice follows cargo's: `--color` first, then
/// `CARGO_TERM_COLOR`, then the terminal conventions (`NO_COLOR`,
/// `CLICOLOR=0`, `CLICOLOR_FORCE=1`, `TERM=dumb`); applied to the report,
/// to clap's help and to clap's errors alike.
#[test]
fn colour_follows_cargo_s_choice_under_a_pseudo_terminal() {
    let run = ["--ports", "9773-9774", "--", "true"];
    let help = ["--help"];
    let usage = ["--no-such-option"];
    // (what, args, env, on a terminal, coloured?)
    type Case<'a> = (&'a str, &'a [&'a str], &'a [(&'a str, &'a str)], bool, bool);
    let cases: &[Case] = &[
        ("a terminal", &run, &[], true, true),
        ("a pipe", &run, &[], false, false),
        ("NO_COLOR", &run, &[("NO_COLOR", "1")], true, false),
        ("CLICOLOR=0", &run, &[("CLICOLOR", "0")], true, false),
        ("TERM=dumb", &run, &[("TERM", "dumb")], true, false),
        (
            "CLICOLOR_FORCE=1 on a pipe",
            &run,
            &[("CLICOLOR_FORCE", "1")],
            false,
            true,
        ),
        (
            "NO_COLOR beats CLICOLOR_FORCE",
            &run,
            &[("NO_COLOR", "1"), ("CLICOLOR_FORCE", "1")],
            false,
            false,
        ),
        (
            "CARGO_TERM_COLOR=always on a pipe",
            &run,
            &[("CARGO_TERM_COLOR", "always")],
            false,
            true,
        ),
        (
            "CARGO_TERM_COLOR=never",
            &run,
            &[("CARGO_TERM_COLOR", "never")],
            true,
            false,
        ),
        (
            "CARGO_TERM_COLOR=always beats NO_COLOR",
            &run,
            &[("CARGO_TERM_COLOR", "always"), ("NO_COLOR", "1")],
            false,
            true,
        ),
        (
            "--color never beats CARGO_TERM_COLOR=always",
            &["--color", "never", "--ports", "9773-9774", "--", "true"],
            &[("CARGO_TERM_COLOR", "always")],
            true,
            false,
        ),
        (
            "--color=always on a pipe",
            &["--color=always", "--ports", "9773-9774", "--", "true"],
            &[],
            false,
            true,
        ),
        ("help on a terminal", &help, &[], true, true),
        (
            "help with NO_COLOR",
            &help,
            &[("NO_COLOR", "1")],
            true,
            false,
        ),
        (
            "help, --color always, on a pipe",
            &["--color", "always", "--help"],
            &[],
            false,
            true,
        ),
        ("a usage error on a terminal", &usage, &[], true, true),
        (
            "a usage error with CLICOLOR=0",
            &usage,
            &[("CLICOLOR", "0")],
            true,
            false,
        ),
    ];
    let mut wrong = Vec::new();
    for (what, args, env, terminal, want) in cases {
        let got = run_colour(args, env, *terminal);
        let expected_code = if args.contains(&"--no-such-option") {
            USAGE
        } else {
            0
        };
        assert_eq!(got.code, Some(expected_code), "{what}: {}", got.text);
        if coloured(&got.text) != *want {
            wrong.push(format!(
                "{what}: coloured {} (want {want}):\n{}",
                coloured(&got.text),
                got.text
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    common::assert_ports_free("9773-9774");
}

/// Stopping many leaked dashboards shows a progress bar on a terminal, and
/// nothing extra when stderr is not one.
#[test]
fn a_progress_bar_shows_on_a_terminal_only() {
    let scene = Scene::new("kitty-e2e-reports-", "9775-9779");
    for terminal in [true, false] {
        let mut script = String::new();
        let ports: Vec<u16> = (0..3).map(|i| scene.port(i)).collect();
        for (i, port) in ports.iter().enumerate() {
            let project = bare_project(scene.path(), &format!("many-{terminal}-{i}"));
            script.push_str(&setsid_line(&dashboard_argv(&project, *port)));
            script.push_str("\npids=\"$pids $!\"\n");
        }
        // Wait until each runs the server (has replaced setsid in its pid).
        script.push_str(&format!(
            r#"for p in $pids; do
    for _ in $(seq 3000); do
        [ "$(tr '\0' '\n' </proc/$p/cmdline | head -n 1)" = '{}' ] && break
        sleep 0.01
    done
done"#,
            spec_kitty_python().display()
        ));
        let mut c = in_scene(&scene, None, &["--", "sh", "-c", &script]);
        // A terminal that can redraw a line (CI and scripts/test-as-user
        // set TERM=dumb, which draws no bar).
        c.env_remove("NO_COLOR").env("TERM", "xterm-256color");
        let got = capture(c, terminal);
        assert_eq!(got.code, Some(LEAKED), "{}", got.text);
        assert!(got.text.contains("3 reaped"), "{}", got.text);
        let bar = got.text.contains("stopping leaked dashboards");
        assert_eq!(
            bar, terminal,
            "terminal {terminal}, bar {bar}:\n{}",
            got.text
        );
    }
    // `sweep --yes` over three orphans: the same, and no progress line of
    // any kind when stderr is not a terminal.
    for terminal in [true, false] {
        let guards: Vec<_> = (0..3)
            .map(|i| {
                let project = bare_project(scene.path(), &format!("orphan-{terminal}-{i}"));
                let guard = start_dashboard(&project, scene.port(i), scene.home());
                std::fs::remove_dir_all(&project).expect("remove the project");
                guard
            })
            .collect();
        let mut c = leakcheck();
        c.args(["sweep", "--ports", scene.ports, "--yes"])
            .env_remove("NO_COLOR")
            .env("TERM", "xterm-256color");
        let got = capture(c, terminal);
        assert_eq!(got.code, Some(0), "{}", got.text);
        assert!(
            guards.iter().all(|g| !g.alive()),
            "sweep stopped every orphan:\n{}",
            got.text
        );
        let bar = got.text.contains("stopping dashboards");
        assert_eq!(
            bar, terminal,
            "sweep: terminal {terminal}, bar {bar}:\n{}",
            got.text
        );
        if !terminal {
            assert!(
                !got.text.contains("done after"),
                "no progress line in a pipe:\n{}",
                got.text
            );
        }
    }
    scene.assert_clean();
}
