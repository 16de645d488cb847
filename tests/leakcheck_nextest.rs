//! End-to-end tests of the nextest integration of `cargo kitty-leakcheck`:
//! `wrap` (per-test blame by process ancestry), `snapshot` and `check`, and a
//! real `cargo nextest run` of a small crate whose `.config/nextest.toml` uses
//! them, with one leaking test among clean ones run in parallel.
//!
//! Each test watches its own window of ports (9568-9577) and ends with
//! nothing on it and no dashboard of its projects alive.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use nextest_metadata::{ListCommand, NextestExitCode, TestListSummary};

use common::detached::{
    PendingExec, TOKEN, dashboard_argv, pending_exec_line, setsid_line, spec_kitty_python,
    start_dashboard, start_labelled_dashboard,
};
use common::leakcheck::{LEAKED, USAGE, json_report, leakcheck_bin, without_nextest_env};
use common::mini::MiniCrate;
use common::scene::Scene;
use common::{bare_project, isolate_home, port_held, show, spec_kitty};

/// `cargo-kitty-leakcheck <args>` (see [`common::leakcheck::leakcheck`]) with
/// spec-kitty's home isolated in `home`.
fn leakcheck(args: &[&str], home: &Path) -> Command {
    let mut c = common::leakcheck::leakcheck();
    c.args(args);
    isolate_home(&mut c, home);
    c
}

/// `cargo nextest run` of a mini crate: all its tests, 4 at a time.
const NEXTEST_RUN: &[&str] = &[
    "nextest",
    "run",
    "--no-fail-fast",
    "--test-threads",
    "4",
    "--color",
    "never",
];

/// The environment of a cargo nextest run of [`MINI_TESTS`] in `scene`: none
/// of the outer run's nextest variables, spec-kitty's home isolated, the
/// projects under the scene's root, the ports from `port_base`.
fn mini_env<'a>(c: &'a mut Command, scene: &Scene, port_base: u16) -> &'a mut Command {
    without_nextest_env(c);
    isolate_home(c, scene.home())
        .env("MINI_ROOT", scene.path())
        .env("MINI_PORT_BASE", port_base.to_string())
        // The wrapper watches the scene's window (the tests' ports).
        .env("KITTY_PORTS", scene.ports)
        .stdin(Stdio::null())
}

/// Asserts that a `cargo nextest run` of the mini crate failed
/// ([`NextestExitCode::TEST_RUN_FAILED`]) with exactly `leaks_a_dashboard`
/// failing, blamed by the wrapper by name, binary and port. Returns the output.
fn assert_only_the_leaker_failed(o: &Output, binary_id: &str, port: u16) -> String {
    assert_eq!(
        o.status.code(),
        Some(NextestExitCode::TEST_RUN_FAILED),
        "{}",
        show(o)
    );
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let failed: BTreeSet<&str> = all
        .lines()
        .map(str::trim_start)
        .filter(|l| l.starts_with("FAIL ["))
        .filter_map(|l| l.split_whitespace().last())
        .collect();
    assert_eq!(failed, BTreeSet::from(["leaks_a_dashboard"]), "{}", show(o));
    let blame = format!("test leaks_a_dashboard in {binary_id} leaked a dashboard pid ");
    let line = all
        .lines()
        .find(|l| l.contains(&blame))
        .unwrap_or_else(|| panic!("no blame line: {}", show(o)));
    assert!(
        line.contains(&format!(":{port},")),
        "the leaked port is not named: {line}"
    );
    assert!(!all.contains(TOKEN), "token printed: {}", show(o));
    all
}

/// A shell command that starts a detached dashboard for `project` on `port`
/// (as spec-kitty does), waits until it listens, then exits with `status`.
fn leaking_shell(project: &Path, port: u16, status: i32) -> String {
    let py = spec_kitty_python();
    format!(
        r#"{start}
'{py}' -c 'import socket, sys, time
while True:
    try:
        socket.create_connection(("127.0.0.1", int(sys.argv[1]))).close(); break
    except OSError:
        time.sleep(0.01)' {port}
exit {status}"#,
        start = setsid_line(&dashboard_argv(project, port)),
        py = py.display(),
    )
}

#[test]
fn wrap_blames_the_test_reaps_and_keeps_a_failing_status() {
    let scene = Scene::new("kitty-wrap-", "9568-9570");
    let home = scene.home();

    // A clean command keeps its status 0, and says nothing.
    let o = leakcheck(&["wrap", "--", "true"], home)
        .output()
        .expect("wrap");
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert!(o.stderr.is_empty() && o.stdout.is_empty(), "{}", show(&o));

    // A passing test that leaks: LEAKED, one report naming the test, port, pid and project; reaped.
    let p = bare_project(scene.path(), "leaky");
    let script = leaking_shell(&p, 9568, 0);
    let o = leakcheck(
        &["wrap", "--ports", scene.ports, "--", "sh", "-c", &script],
        home,
    )
    .env("NEXTEST_TEST_NAME", "tests::leaks_one")
    .env("NEXTEST_BINARY_ID", "mini::it")
    .output()
    .expect("wrap");
    assert_eq!(o.status.code(), Some(LEAKED), "{}", show(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("tests::leaks_one") && err.contains("mini::it"),
        "{}",
        show(&o)
    );
    assert!(
        err.contains(":9568") && err.contains(&p.display().to_string()),
        "{}",
        show(&o)
    );
    assert!(err.contains("reaped"), "{}", show(&o));
    assert!(!err.contains(TOKEN), "token printed: {}", show(&o));
    assert!(!port_held(9568));
    common::assert_no_dashboard_under(scene.path());

    // A failing test that leaks keeps its own status; the leak is still reaped.
    let script = leaking_shell(&p, 9569, 7);
    let o = leakcheck(
        &[
            "wrap",
            "--ports",
            scene.ports,
            "--json",
            "--",
            "sh",
            "-c",
            &script,
        ],
        home,
    )
    .output()
    .expect("wrap");
    assert_eq!(o.status.code(), Some(7), "{}", show(&o));
    let report = json_report(&o);
    assert_eq!(report["mode"], "wrap");
    assert_eq!(report["leaks"][0]["port"], 9569, "{report:#}");
    assert_eq!(report["leaks"][0]["from_run"], true, "{report:#}");
    assert_eq!(
        report["leaks"][0]["action"]["result"], "reaped",
        "{report:#}"
    );

    scene.assert_clean();
}

#[test]
fn check_against_a_baseline_reports_and_reaps_what_is_new() {
    let scene = Scene::new("kitty-check-", "9571-9573");
    let (window, root, home) = (scene.ports, scene.path(), scene.home());
    let baseline = root.join("baseline.json");

    // A dashboard running before the baseline is not a leak, and is left alone.
    let before = start_dashboard(&bare_project(root, "before"), 9571, home);
    let env_file = root.join("nextest-env");
    let o = leakcheck(&["snapshot", "--ports", window, "--output"], home)
        .arg(&baseline)
        .env("NEXTEST_ENV", &env_file)
        .output()
        .expect("snapshot");
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let exported = std::fs::read_to_string(&env_file).expect("$NEXTEST_ENV written");
    let b: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&baseline).expect("baseline")).expect("json");
    // The baseline's path, and the run label every test then carries.
    let label = b["run_label"].as_str().expect("a run label");
    assert!(label.starts_with("lk-"), "{b:#}");
    assert_eq!(
        exported,
        format!(
            "KITTY_LEAKCHECK_BASELINE={}\nKITTY_LEAKCHECK_RUN={label}\nKITTY_LEAKCHECK_RECORDS={}\n",
            baseline.display(),
            baseline.with_extension("records").display()
        )
    );
    assert_eq!(b["schema_version"], 1);
    assert_eq!(b["ports"], window);
    assert!(
        b["listeners"]
            .as_array()
            .is_some_and(|l| l.iter().any(|l| l["port"] == 9571)),
        "{b:#}"
    );
    assert!(
        b["dashboards"]
            .as_array()
            .is_some_and(|d| d.iter().any(|d| d["pid"] == before.pid())),
        "{b:#}"
    );
    assert!(!String::from_utf8_lossy(&std::fs::read(&baseline).expect("baseline")).contains(TOKEN));

    // Nothing new: 0.
    let o = leakcheck(&["check", "--baseline"], home)
        .arg(&baseline)
        .output()
        .expect("check");
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));

    // A dashboard someone else started after the baseline: it appeared,
    // but carries no label of this run, so it is reported and left alone.
    let other = start_dashboard(&bare_project(root, "other"), 9573, home);
    let o = leakcheck(&["check", "--json"], home)
        .env("KITTY_LEAKCHECK_BASELINE", &baseline)
        .output()
        .expect("check");
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let report = json_report(&o);
    assert_eq!(
        report["leaks"].as_array().map(Vec::len),
        Some(0),
        "{report:#}"
    );
    assert_eq!(report["appeared"][0]["pid"], other.pid(), "{report:#}");
    assert!(
        other.alive() && port_held(9573),
        "someone else's dashboard was touched"
    );

    // A dashboard the run's tests started after the baseline (they carry its
    // label; this one is no longer a child of anyone here): LEAKED, reaped.
    let label = b["run_label"].as_str().expect("label");
    let after = start_labelled_dashboard(&bare_project(root, "after"), 9572, home, label);
    let o = leakcheck(&["check", "--json"], home)
        .env("KITTY_LEAKCHECK_BASELINE", &baseline)
        .output()
        .expect("check");
    assert_eq!(o.status.code(), Some(LEAKED), "{}", show(&o));
    let report = json_report(&o);
    assert_eq!(report["mode"], "check");
    assert_eq!(
        report["leaks"].as_array().map(Vec::len),
        Some(1),
        "{report:#}"
    );
    assert_eq!(report["leaks"][0]["pid"], after.pid(), "{report:#}");
    assert_eq!(
        report["leaks"][0]["action"]["result"], "reaped",
        "{report:#}"
    );
    assert!(!after.alive() && !port_held(9572));
    assert!(
        before.alive() && other.alive(),
        "a dashboard not started by the run was touched"
    );
    other.stop();

    // A missing or malformed baseline: one line, status 2.
    std::fs::write(&baseline, b"{\"schema_version\": 1, \"ports\": ").expect("write");
    for bad in [root.join("nope.json"), baseline] {
        let o = leakcheck(&["check", "--baseline"], home)
            .arg(&bad)
            .output()
            .expect("check");
        assert_eq!(o.status.code(), Some(USAGE), "{}", show(&o));
        assert_eq!(
            String::from_utf8_lossy(&o.stderr).lines().count(),
            1,
            "{}",
            show(&o)
        );
    }

    before.stop();
    scene.assert_clean();
}

/// The mini crate's tests: one leaks a dashboard, the others are clean (one
/// starts a dashboard and stops it properly).
const MINI_TESTS: &str = r##"
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use kitty_core::PortSet;
use kitty_core::ListenerSnapshot;


fn port(offset: u16) -> u16 {
    let base: u16 = std::env::var("MINI_PORT_BASE").expect("MINI_PORT_BASE").parse().expect("a port");
    base + offset
}

fn listening(port: u16) -> bool {
    ListenerSnapshot::take(&PortSet::single(port)).expect("snapshot").holds(port)
}

fn wait_until(mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !cond() {
        assert!(Instant::now() < deadline, "gave up waiting");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Starts a dashboard detached, as spec-kitty does; returns its pid once it listens.
fn start_dashboard(name: &str, port: u16) -> u32 {
    let project = PathBuf::from(std::env::var("MINI_ROOT").expect("MINI_ROOT")).join(name);
    std::fs::create_dir_all(project.join(".kittify")).expect("project");
    let sk = kitty_fixtures::SpecKitty::locate(None).expect("spec-kitty");
    let server = sk.server_command(&project, port, "0123456789abcdef0123456789abcdef").expect("a dashboard");
    let out = Command::new("sh")
        .arg("-c")
        .arg(r#"setsid "$@" </dev/null >/dev/null 2>&1 & echo $!"#)
        .arg("sh")
        // The installed spec-kitty's own child command line (3.x `-m`, older `-c`).
        .arg(server.get_program())
        .args(server.get_args())
        .output()
        .expect("sh");
    let pid: u32 = String::from_utf8_lossy(&out.stdout).trim().parse().expect("pid");
    wait_until(|| listening(port));
    pid
}

#[test]
fn clean_without_a_dashboard() {}

#[test]
fn clean_stops_its_dashboard() {
    let pid = start_dashboard("clean", port(0));
    let status = Command::new("kill").args(["-TERM", "--", &format!("-{pid}")]).status().expect("kill");
    assert!(status.success());
    // Gone or a zombie of the wrapper (its sockets are closed by then).
    wait_until(|| match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat.rsplit_once(')').is_none_or(|(_, rest)| rest.trim_start().starts_with('Z')),
    });
}

#[test]
fn leaks_a_dashboard() {
    start_dashboard("leaky", port(1));
}

#[test]
fn clean_as_well() {
    assert_eq!(1 + 1, 2);
}
"##;

#[test]
fn nextest_run_fails_exactly_the_leaking_test() {
    let scene = Scene::new("kitty-nextest-", "9574-9575");
    let window = scene.ports;
    let mini = MiniCrate::new("mini_leaky", MINI_TESTS);
    let bin = leakcheck_bin();
    let baseline = mini.path().join("baseline.json");
    let config = format!(
        r#"experimental = ["setup-scripts", "wrapper-scripts"]

[scripts.setup.kitty-snapshot]
command = [{bin:?}, "snapshot", "--ports", "{window}", "--output", {baseline:?}]

[scripts.wrapper.kitty-wrap]
command = [{bin:?}, "wrap", "--"]

[[profile.default.scripts]]
filter = "all()"
setup = "kitty-snapshot"
run-wrapper = "kitty-wrap"
"#,
        bin = bin.display().to_string(),
        baseline = baseline.display().to_string(),
    );
    std::fs::create_dir_all(mini.path().join(".config")).expect(".config");
    std::fs::write(mini.path().join(".config/nextest.toml"), config).expect("nextest.toml");

    // The test list, through nextest-metadata (current_dir, not manifest_path: cargo 1.95).
    let mut list = ListCommand::new();
    list.current_dir(mini.path().to_str().expect("utf-8 path"))
        .add_arg("--offline");
    let mut cmd = list.cargo_command();
    mini.setup(&mut cmd);
    mini_env(&mut cmd, &scene, 9574);
    let o = cmd.output().expect("cargo nextest list");
    assert!(o.status.success(), "{}", show(&o));
    let summary =
        TestListSummary::parse_json(String::from_utf8_lossy(&o.stdout)).expect("test list JSON");
    let names: BTreeSet<String> = summary
        .rust_suites
        .values()
        .flat_map(|s| s.test_cases.keys().map(|n| n.as_str().to_string()))
        .collect();
    assert_eq!(names.len(), 4, "{names:?}");

    // The run, in parallel.
    let mut cmd = mini.cargo(NEXTEST_RUN);
    mini_env(&mut cmd, &scene, 9574);
    let o: Output = cmd.output().expect("cargo nextest run");
    let all = assert_only_the_leaker_failed(&o, "mini_leaky::it", 9575);
    assert!(
        all.contains("4 tests run: 3 passed, 1 failed"),
        "{}",
        show(&o)
    );

    // The wrapper reaped it and recorded it: the check after the run finds
    // nothing new, and reports the wrapper's leak with its test (status 3:
    // the run leaked).
    let o = leakcheck(&["--json", "check", "--baseline"], scene.home())
        .arg(&baseline)
        .output()
        .expect("check");
    assert_eq!(o.status.code(), Some(LEAKED), "{}", show(&o));
    let report = json_report(&o);
    let leaks = common::leakcheck::leaks(&report);
    assert_eq!(leaks.len(), 1, "{report:#}");
    assert_eq!(
        (&leaks[0]["found_by"], &leaks[0]["test"]["name"]),
        (
            &serde_json::json!("wrap"),
            &serde_json::json!("leaks_a_dashboard")
        ),
        "{report:#}"
    );

    scene.assert_clean();
}

/// `cargo nextest archive` on the build machine, `--archive-file` in another
/// checkout: the wrapper travels in the archive (`archive.include`) and is
/// found relative to the extracted target dir (`relative-to = "target"`).
#[test]
fn an_archive_run_elsewhere_still_blames_the_leaking_test() {
    let scene = Scene::new("kitty-archive-", "9576-9577");
    let (window, root) = (scene.ports, scene.path());
    let mini = MiniCrate::new("mini_archived", MINI_TESTS);

    // The wrapper binary, copied under the (shared) target dir in a directory of this test's own.
    let target = MiniCrate::shared_target();
    let own = format!("kitty-leakcheck-{}", std::process::id());
    let bin_dir = target.join(&own);
    std::fs::create_dir_all(&bin_dir).expect("bin dir");
    std::fs::copy(leakcheck_bin(), bin_dir.join("cargo-kitty-leakcheck"))
        .expect("copy the wrapper");
    let config = format!(
        r#"experimental = ["setup-scripts", "wrapper-scripts"]

[scripts.setup.kitty-snapshot]
command = {{ command-line = "{own}/cargo-kitty-leakcheck snapshot --ports {window}", relative-to = "target" }}

[scripts.wrapper.kitty-wrap]
command = {{ command-line = "{own}/cargo-kitty-leakcheck wrap --", relative-to = "target" }}

[[profile.default.scripts]]
filter = "all()"
setup = "kitty-snapshot"
run-wrapper = "kitty-wrap"

[profile.default.archive]
include = [{{ path = "{own}/cargo-kitty-leakcheck", relative-to = "target", on-missing = "error" }}]
"#
    );
    std::fs::create_dir_all(mini.path().join(".config")).expect(".config");
    std::fs::write(mini.path().join(".config/nextest.toml"), config).expect("nextest.toml");

    let archive = root.join("tests.tar.zst");
    let archive_arg = archive.to_str().expect("utf-8 path");
    let mut cmd = mini.cargo(&["nextest", "archive", "--archive-file", archive_arg]);
    without_nextest_env(&mut cmd);
    let o = cmd.output().expect("archive");
    assert!(o.status.success(), "{}", show(&o));
    // The build machine's copy is gone: only the archive's can run.
    std::fs::remove_dir_all(&bin_dir).expect("remove the wrapper");

    // "Another machine": the same sources elsewhere, no target dir.
    let checkout = root.join("checkout");
    for rel in [
        "Cargo.toml",
        "Cargo.lock",
        "src/lib.rs",
        "tests/it.rs",
        ".config/nextest.toml",
    ] {
        let to = checkout.join(rel);
        std::fs::create_dir_all(to.parent().expect("parent")).expect("dir");
        std::fs::copy(mini.path().join(rel), to).expect("copy the sources");
    }
    let extract = root.join("extract");
    std::fs::create_dir_all(&extract).expect("extract dir");
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.args(NEXTEST_RUN)
        .arg("--archive-file")
        .arg(&archive)
        .arg("--workspace-remap")
        .arg(&checkout)
        .arg("--extract-to")
        .arg(&extract)
        .current_dir(&checkout)
        .env("KITTY_SPEC_KITTY", spec_kitty())
        .env_remove("CARGO_TARGET_DIR");
    mini_env(&mut cmd, &scene, 9576);
    let o = cmd.output().expect("cargo nextest run --archive-file");
    let all = assert_only_the_leaker_failed(&o, "mini_archived::it", 9577);
    assert!(
        all.contains(&format!(
            "{}/target/{own}/cargo-kitty-leakcheck",
            extract.display()
        )),
        "{}",
        show(&o)
    );

    scene.assert_clean();
}

/// `wrap`: a test whose dashboard is still between fork and exec when the
/// test exits is waited for and blamed: status 3, reaped. Before the fix
/// `wrap` saw only a shell below it, exited 0, and the dashboard leaked.
///
/// Ports: 9682-9683 (beside this file's 9568-9577).
#[test]
fn wrap_waits_for_a_dashboard_between_fork_and_exec_and_reaps_it() {
    let scene = Scene::new("kitty-wrap-", "9682-9683");
    let p = bare_project(scene.path(), "pending");
    let pidfile = scene.path().join("pending.pid");
    let script = pending_exec_line(&p, 9682, &pidfile);
    let o = leakcheck(
        &[
            "wrap",
            "--ports",
            scene.ports,
            "--json",
            "--",
            "sh",
            "-c",
            &script,
        ],
        scene.home(),
    )
    .env("NEXTEST_TEST_NAME", "tests::leaks_while_exec_pending")
    .env("NEXTEST_BINARY_ID", "mini::it")
    .output()
    .expect("wrap");
    let pending = PendingExec::of(&pidfile);
    let pid = pending.0;
    assert_eq!(
        o.status.code(),
        Some(LEAKED),
        "wrap did not wait for the pending dashboard:\n{}",
        show(&o)
    );
    let report = json_report(&o);
    assert_eq!(report["mode"], "wrap", "{report:#}");
    let leak = &report["leaks"][0];
    assert_eq!(leak["kind"], "dashboard", "{report:#}");
    assert_eq!(leak["pid"], pid, "{report:#}");
    assert_eq!(leak["port"], 9682, "{report:#}");
    assert_eq!(leak["from_run"], true, "{report:#}");
    assert_eq!(
        leak["test"]["name"], "tests::leaks_while_exec_pending",
        "{report:#}"
    );
    assert_eq!(leak["action"]["result"], "reaped", "{report:#}");
    assert!(common::reaped(pid), "pid {pid} is still there after wrap");
    assert!(!String::from_utf8_lossy(&o.stdout).contains(TOKEN));
    assert!(!String::from_utf8_lossy(&o.stderr).contains(TOKEN));
    drop(pending);
    scene.assert_clean();
}

/// The fenced block of `lang` in `text` whose body contains `marker`.
fn fenced_block(text: &str, lang: &str, marker: &str) -> String {
    let open = format!("```{lang}");
    let mut rest = text;
    while let Some(at) = rest.find(&open) {
        let body = &rest[at + open.len()..];
        let end = body.find("```").expect("a closed block");
        let block = &body[..end];
        if block.contains(marker) {
            // Dedent: the README's blocks sit in a numbered list.
            let indent = block
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(|l| l.len() - l.trim_start().len())
                .min()
                .unwrap_or(0);
            return block
                .lines()
                .map(|l| l.get(indent..).unwrap_or("").to_string())
                .collect::<Vec<_>>()
                .join("\n");
        }
        rest = &body[end + 3..];
    }
    panic!("no ```{lang} block containing {marker:?}")
}

/// One `run:` step of a GitHub Actions job: its command and whether it runs
/// after a failed step (`if: always()`).
struct Step {
    run: String,
    always: bool,
}

/// The `run:` steps of the README's GitHub Actions job, in order.
fn workflow_steps(yaml: &str) -> Vec<Step> {
    let mut steps: Vec<Step> = Vec::new();
    let mut current: Option<Step> = None;
    for line in yaml.lines() {
        let line = line.trim();
        if line.starts_with("- ") {
            steps.extend(current.take().filter(|s| !s.run.is_empty()));
            current = Some(Step {
                run: String::new(),
                always: false,
            });
        }
        let line = line.trim_start_matches("- ");
        if let Some(step) = current.as_mut() {
            if let Some(run) = line.strip_prefix("run: ") {
                step.run = run.to_string();
            } else if line == "if: always()" {
                step.always = true;
            }
        }
    }
    steps.extend(current.filter(|s| !s.run.is_empty()));
    steps
}

/// The README's CI recipe, run as a GitHub runner runs it: its
/// `.config/nextest.toml` block verbatim in a crate with a leaking test, then
/// each `run:` step of its workflow under `bash -e` in order, a failed step
/// skipping the rest but those marked `if: always()`. The test run fails,
/// `check` still runs, and its JSON, JUnit, job summary and annotations
/// name the leak with its test, once, and agree.
#[test]
fn the_readme_ci_recipe_runs_check_after_a_failing_run_and_every_report_names_the_leak() {
    let scene = Scene::new("kitty-recipe-", "9596-9597");
    let mini = MiniCrate::new("mini_recipe", MINI_TESTS);
    let readme = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("cargo-kitty-leakcheck/README.md"),
    )
    .expect("README");
    let config = fenced_block(&readme, "toml", "[scripts.setup.kitty-leakcheck-snapshot]");
    std::fs::create_dir_all(mini.path().join(".config")).expect(".config");
    std::fs::write(mini.path().join(".config/nextest.toml"), &config).expect("nextest.toml");
    let steps = workflow_steps(&fenced_block(&readme, "yaml", "- name: Leaked dashboards"));
    assert_eq!(steps.len(), 2, "the README's workflow has two run: steps");
    // The crate's `target` is the mini crates' shared one, so that the
    // commands' `target/...` paths are the run's own (no other test writes
    // the default baseline).
    let shared = MiniCrate::shared_target();
    std::fs::create_dir_all(&shared).expect("shared target");
    std::os::unix::fs::symlink(&shared, mini.path().join("target")).expect("target link");
    let _ = std::fs::remove_file(shared.join("kitty-leakcheck/report.json"));
    let _ = std::fs::remove_file(shared.join("kitty-leakcheck/junit.xml"));
    let summary = scene.path().join("step-summary.md");
    std::fs::write(&summary, "").expect("summary");
    let bin_dir = leakcheck_bin().parent().expect("bin dir").to_path_buf();
    let path = std::env::join_paths(std::iter::once(bin_dir).chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))
    .expect("PATH");

    let mut failed = false;
    let mut outputs = Vec::new();
    for step in &steps {
        if failed && !step.always {
            continue;
        }
        // GitHub's `run:` shell: bash --noprofile --norc -eo pipefail.
        let mut c = Command::new("bash");
        c.args(["--noprofile", "--norc", "-eo", "pipefail", "-c", &step.run]);
        mini.setup(&mut c);
        mini_env(&mut c, &scene, 9596)
            .env("PATH", &path)
            .env("GITHUB_ACTIONS", "true")
            .env("GITHUB_STEP_SUMMARY", &summary);
        let o = c.output().expect("a step");
        failed |= !o.status.success();
        outputs.push(o);
    }
    assert_eq!(outputs.len(), 2, "check ran after the failing test run");
    assert_only_the_leaker_failed(&outputs[0], "mini_recipe::it", 9597);
    let check = &outputs[1];
    assert_eq!(check.status.code(), Some(LEAKED), "{}", show(check));

    // The JSON report: the leak, its test, found by the wrapper.
    let report = common::leakcheck::valid_report_file(
        &shared.join("kitty-leakcheck/report.json"),
        common::leakcheck::Schema::Report,
    );
    let leaks = common::leakcheck::leaks(&report);
    assert_eq!(leaks.len(), 1, "{report}");
    assert_eq!(leaks[0]["test"]["name"], "leaks_a_dashboard", "{report}");
    assert_eq!(leaks[0]["test"]["binary_id"], "mini_recipe::it", "{report}");
    assert_eq!(leaks[0]["found_by"], "wrap", "{report}");
    assert_eq!(leaks[0]["action"]["result"], "reaped", "{report}");
    assert_eq!(
        (&report["summary"]["leaks"], &report["summary"]["recorded"]),
        (&serde_json::json!(1), &serde_json::json!(1)),
        "{report}"
    );

    // The JUnit file: the leak on the test's own row, as nextest names it.
    let junit = std::fs::read_to_string(shared.join("kitty-leakcheck/junit.xml")).expect("junit");
    let row = r#"<testcase name="leaks_a_dashboard" classname="mini_recipe::it""#;
    assert!(
        junit.contains(row) && junit.contains(r#"failures="1""#),
        "{junit}"
    );
    let nextest_junit =
        std::fs::read_to_string(shared.join("nextest/ci/junit.xml")).expect("nextest's junit");
    assert!(
        nextest_junit.contains(row),
        "the same row in nextest's own: {nextest_junit}"
    );

    // One job summary, agreeing with the report; one annotation.
    let md = std::fs::read_to_string(&summary).expect("summary");
    assert_eq!(md.matches("### ").count(), 1, "{md}");
    assert!(
        md.contains("1 leak on ports 9596-9597 since the baseline (1 reaped"),
        "{md}"
    );
    assert!(
        md.contains(r"| leaks\_a\_dashboard in mini\_recipe::it |"),
        "{md}"
    );
    let annotations: usize = outputs
        .iter()
        .map(|o| {
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            );
            text.lines()
                .filter(|l| l.trim_start().starts_with("::error"))
                .count()
        })
        .sum();
    assert_eq!(annotations, 1, "{}{}", show(&outputs[0]), show(check));
    assert!(!md.contains(TOKEN) && !junit.contains(TOKEN));
    scene.assert_clean();
}
