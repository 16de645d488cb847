//! End-to-end tests of `cargo kitty-leakcheck sweep` with real dashboards.
//!
//! Each test watches its own window of ports (`--ports`), starts its dashboards
//! with explicit ports inside it, and ends with nothing on the window and no
//! dashboard of its projects alive. Dashboards are started the way spec-kitty
//! starts them (the server module, in its own session, re-parented away from
//! the test: a real leak), but directly, to be fast.

mod common;

use std::net::{Ipv4Addr, TcpListener};
use std::process::Output;

use kitty_core::spec_kitty::DashboardFile;
use serde_json::Value;

use common::detached::{
    TOKEN, dashboard_argv, installation, spawn_detached, spawn_detached_env, start_dashboard,
};
use common::leakcheck::{json_report, leakcheck};
use common::scene::Scene;
use common::{assert_serves, bare_project, dead_pid, port_held, show, wait_until};

/// `sweep --ports PORTS ARGS`. The dashboards these tests start are seconds
/// old, so `--start-grace 0` lets an unrecorded one count as unrecorded
/// rather than starting (the never-kill suite tests the grace itself).
fn sweep(ports: &str, args: &[&str]) -> Output {
    leakcheck()
        .arg("sweep")
        .args(["--ports", ports, "--start-grace", "0s"])
        .args(args)
        .output()
        .expect("run cargo-kitty-leakcheck sweep")
}

fn entry(report: &Value, pid: u32) -> &Value {
    report["dashboards"]
        .as_array()
        .expect("dashboards")
        .iter()
        .find(|d| d["pid"] == pid)
        .unwrap_or_else(|| panic!("pid {pid} not in the report: {report:#}"))
}

#[test]
fn sweep_stops_orphans_and_unrecorded_only_and_asks_first() {
    let scene = Scene::new("kitty-sweep-", "9560-9564");
    let (ports, root, home) = (scene.ports, scene.path(), scene.home());

    // An orphan: its project is deleted while it runs.
    let gone = bare_project(root, "gone");
    let orphan = start_dashboard(&gone, 9560, home);
    std::fs::remove_dir_all(&gone).expect("delete the project");
    // An unrecorded one: the project exists, no .kittify/.dashboard names it.
    let unrecorded = start_dashboard(&bare_project(root, "unrecorded"), 9561, home);
    // A live one: its project records it.
    let live_dir = bare_project(root, "live");
    let live = start_dashboard(&live_dir, 9562, home);
    DashboardFile::new(9562, Some(TOKEN.into()), Some(live.pid()))
        .write(&live_dir)
        .expect("write .dashboard");
    // A foreign listener.
    let foreign =
        TcpListener::bind((Ipv4Addr::LOCALHOST, 9563)).expect("bind the foreign listener");

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
    let r = json_report(&o);
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
            .any(|f| f["port"] == 9563 && f["pid"] == std::process::id()),
        "the foreign listener is not listed: {r:#}"
    );
    assert!(orphan.alive() && unrecorded.alive() && live.alive());

    // --yes: the orphan and the unrecorded one are stopped; live and foreign stay.
    let o = sweep(ports, &["--yes", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let r = json_report(&o);
    assert_eq!(entry(&r, orphan.pid())["action"], "stopped");
    assert_eq!(entry(&r, unrecorded.pid())["action"], "stopped");
    assert_eq!(entry(&r, live.pid())["action"], "kept");
    assert!(!orphan.alive() && !unrecorded.alive(), "{}", show(&o));
    assert!(live.alive(), "the live dashboard was stopped");
    assert!(!port_held(9560) && !port_held(9561) && port_held(9562) && port_held(9563));

    // --all --yes stops the live one too and removes the .dashboard that named it.
    let o = sweep(ports, &["--all", "--yes", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let r = json_report(&o);
    assert_eq!(entry(&r, live.pid())["action"], "stopped");
    assert_eq!(
        r["dashboard_files_removed"].as_array().map(Vec::len),
        Some(1),
        "{r:#}"
    );
    assert!(!live.alive());
    assert!(!DashboardFile::path_in(&live_dir).exists());
    assert!(port_held(9563), "the foreign listener was touched");

    drop(foreign);
    scene.assert_clean();
}

#[test]
fn sweep_does_not_trust_a_dashboard_file_that_names_another_pid() {
    let scene = Scene::new("kitty-sweep-", "9565-9567");
    let (ports, root, home) = (scene.ports, scene.path(), scene.home());

    // The project's .dashboard names a pid that is alive but is not its dashboard
    // (a reused pid): spec-kitty would SIGKILL it. It must survive.
    let stranger = spawn_detached(&["sleep", "600"], home);
    let p = bare_project(root, "stale");
    let d = start_dashboard(&p, 9565, home);
    DashboardFile::new(9565, Some(TOKEN.into()), Some(stranger.pid()))
        .write(&p)
        .expect("write .dashboard");
    // Another project whose .dashboard names a dead process.
    let dead_pid = dead_pid();
    let q = bare_project(root, "dead");
    let e = start_dashboard(&q, 9566, home);
    DashboardFile::new(9566, Some(TOKEN.into()), Some(dead_pid))
        .write(&q)
        .expect("write .dashboard");

    let o = sweep(ports, &["--dry-run", "--json"]);
    let r = json_report(&o);
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

    stranger.stop();
    scene.assert_clean();
}

/// After an upgrade to a spec-kitty without a dashboard (4.0.0rc5 and later),
/// the dashboards an older release started live on, and nothing in
/// spec-kitty stops them; the interpreter that runs one may be gone too
/// (replaced by the upgrade: its exe reads `... (deleted)`). sweep still
/// finds such a dashboard by its command line: it stops the one whose
/// project is gone and keeps the live one, unchanged and serving.
#[test]
fn sweep_finds_dashboards_whose_interpreter_an_upgrade_replaced() {
    let scene = Scene::new("kitty-sweep-upgrade-", "9589-9590");
    let (ports, root, home) = (scene.ports, scene.path(), scene.home());
    let python = installation().python;
    let ask = |code: &str| -> std::ffi::OsString {
        let out = std::process::Command::new(&python)
            .args(["-c", code])
            .output()
            .expect("python");
        assert!(out.status.success(), "{out:?}");
        std::os::unix::ffi::OsStringExt::from_vec(out.stdout.trim_ascii().to_vec())
    };
    // A copy of the venv's interpreter, as an old venv made with --copies
    // holds, running the installed release's server.
    let home_of_python = ask("import sys; print(sys.base_prefix)");
    let site = ask(
        "import os, specify_cli; print(os.path.dirname(os.path.dirname(specify_cli.__file__)))",
    );
    let old_bin = root.join("old-venv/bin");
    std::fs::create_dir_all(&old_bin).expect("mkdir");
    let copied = old_bin.join("python3");
    std::fs::copy(
        std::fs::canonicalize(&python).expect("the interpreter"),
        &copied,
    )
    .expect("copy the interpreter");
    let env = [
        ("PYTHONHOME", home_of_python.as_os_str()),
        ("PYTHONPATH", site.as_os_str()),
    ];
    let start = |project: &std::path::Path, port: u16| {
        let mut argv = dashboard_argv(project, port);
        argv[0] = copied.clone().into_os_string();
        let mut d = spawn_detached_env(&argv, home, &env);
        d.port = Some(port);
        wait_until(&format!("the dashboard on {port} to listen"), || {
            port_held(port) || !d.alive()
        });
        assert!(d.alive(), "the dashboard on {port} died at start-up");
        d
    };
    let gone = bare_project(root, "gone");
    let orphan = start(&gone, 9589);
    let live_dir = bare_project(root, "live");
    let live = start(&live_dir, 9590);
    DashboardFile::new(9590, Some(TOKEN.into()), Some(live.pid()))
        .write(&live_dir)
        .expect("write .dashboard");

    // The upgrade: the old interpreter is replaced, the orphan's project deleted.
    std::fs::remove_file(&copied).expect("remove the old interpreter");
    for d in [&orphan, &live] {
        let now = kitty_core::ProcessIdentity::read(d.pid()).expect("still running");
        let exe = now
            .exe()
            .map(|e| e.as_os_str().to_string_lossy().into_owned());
        assert!(
            exe.as_deref().is_some_and(|e| e.ends_with(" (deleted)")),
            "the set-up is wrong: exe {exe:?}"
        );
    }
    std::fs::remove_dir_all(&gone).expect("delete the project");

    let o = sweep(ports, &["--yes", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let r = json_report(&o);
    assert_eq!(entry(&r, orphan.pid())["action"], "stopped", "{r:#}");
    assert_eq!(entry(&r, live.pid())["class"], "live", "{r:#}");
    assert_eq!(entry(&r, live.pid())["action"], "kept", "{r:#}");
    assert!(!orphan.alive(), "{}", show(&o));
    let now = kitty_core::ProcessIdentity::read(live.pid()).expect("the live dashboard runs");
    assert!(
        now.is_same_process(&live.identity),
        "the live dashboard changed"
    );
    assert_serves(9590, &live_dir);

    live.stop();
    scene.assert_clean();
}

/// Answering N at the question leaves the orphan alive and exits 4 (what is
/// left needs a `y` or `--yes`), never 0, which says nothing is left to stop.
/// The listing counts a dashboard of ours that merely listens outside the
/// watched ports as such, not as `elsewhere` (a class: another namespace).
#[test]
fn sweep_answered_no_stops_nothing_and_exits_4() {
    use std::io::Write;
    use std::process::Stdio;
    let scene = Scene::new("kitty-sweep-answer-", "9695-9696");
    let (root, home) = (scene.path(), scene.home());
    let gone = bare_project(root, "gone");
    let orphan = start_dashboard(&gone, 9695, home);
    std::fs::remove_dir_all(&gone).expect("delete the project");
    let outside_dir = bare_project(root, "outside");
    let outside = start_dashboard(&outside_dir, 9696, home);
    std::fs::remove_dir_all(&outside_dir).expect("delete the other project");

    // stdin on a terminal, so that it asks; the answer is typed ahead.
    let (master, slave) = common::pty::open_pty();
    let mut c = leakcheck();
    c.args(["sweep", "--ports", "9695", "--start-grace", "0s"])
        .env("NO_COLOR", "1")
        .stdin(Stdio::from(slave))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = c.spawn().expect("run cargo-kitty-leakcheck sweep");
    drop(c); // closes our copy of the slave side
    let mut terminal = std::fs::File::from(master);
    terminal.write_all(b"n\n").expect("answer n");
    let o = child.wait_with_output().expect("sweep");
    drop(terminal);
    let err = String::from_utf8_lossy(&o.stderr);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(4), "{}", show(&o));
    assert!(err.contains("[y/N]"), "it did not ask: {}", show(&o));
    assert!(
        out.contains("not confirmed") && out.contains("1 dashboard(s) left running"),
        "{}",
        show(&o)
    );
    assert!(
        out.contains("outside the watched ports, not touched") && !out.contains("elsewhere, not"),
        "{}",
        show(&o)
    );
    assert!(orphan.alive() && outside.alive(), "answered n, yet stopped");

    // --yes stops both (each in its own window).
    for port in ["9695", "9696"] {
        let o = sweep(port, &["--yes"]);
        assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    }
    assert!(!orphan.alive() && !outside.alive());
    scene.assert_clean();
}

/// A server a profile recognises (Python's `http.server`, the built-in
/// `http-server` profile; the real interpreter of the spec-kitty venv) is
/// swept as a dashboard is: one of ours whose working directory was deleted
/// (the temp dir a test served from) and which serves a watched port is an
/// orphan, stopped through its permit; an orphan outside the watched ports
/// and a live one (the directory its `--directory` names is there, though
/// its working directory is gone) are listed and never touched: alive,
/// unchanged and still serving.
#[test]
fn sweep_stops_an_http_server_whose_directory_is_gone_and_never_a_live_one() {
    use common::victim::{Start, Victim};
    let scene = Scene::new("kitty-sweep-servers-", "9595,9694");
    let (root, home) = (scene.path(), scene.home());
    let python = installation().python;
    let serve = |port: u16| -> Vec<std::ffi::OsString> {
        vec![
            python.clone().into_os_string(),
            "-m".into(),
            "http.server".into(),
            "--bind".into(),
            "127.0.0.1".into(),
            port.to_string().into(),
        ]
    };
    let (watched, other) = (scene.port(0), scene.port(1));
    let gone = bare_project(root, "served and deleted");
    let outside = bare_project(root, "served elsewhere and deleted");
    let orphan = Start::new(serve(watched), &gone, home).spawn();
    let orphan = Victim::process("an orphaned http.server", orphan).serves_http(watched);
    let elsewhere = Start::new(serve(other), &outside, home).spawn();
    let elsewhere =
        Victim::process("an orphan outside the watched ports", elsewhere).serves_http(other);
    orphan.wait_serving();
    elsewhere.wait_serving();
    std::fs::remove_dir_all(&gone).expect("delete its dir");
    std::fs::remove_dir_all(&outside).expect("delete its dir");

    // Watching only the first port: the orphan there is stopped.
    let out = sweep(&watched.to_string(), &["--yes", "--json"]);
    let report = json_report(&out);
    let result = std::panic::catch_unwind(|| {
        assert_eq!(out.status.code(), Some(0), "{}", show(&out));
        let server = |pid: u32| {
            report["servers"]
                .as_array()
                .expect("servers")
                .iter()
                .find(|s| s["pid"] == pid)
                .unwrap_or_else(|| panic!("pid {pid} not among the servers: {report:#}"))
                .clone()
        };
        let stopped = server(orphan.pid());
        assert_eq!(stopped["profile"], "http-server", "{stopped:#}");
        assert_eq!(stopped["class"], "orphan", "{stopped:#}");
        assert_eq!(stopped["reason"], "served-dir-gone", "{stopped:#}");
        // Its health path is `/`, its listing: gone with its directory (404).
        assert_eq!(stopped["answers"], false, "{stopped:#}");
        assert_eq!(stopped["action"], "stopped", "{stopped:#}");
        assert_eq!(stopped["signal"], "SIGTERM", "{stopped:#}");
        assert_eq!(report["servers_stopped"], 1, "{report:#}");
        assert!(!port_held(watched), "port {watched} is still held");
        let kept = server(elsewhere.pid());
        assert_eq!(kept["class"], "orphan", "{kept:#}");
        assert_eq!(kept["in_scope"], false, "{kept:#}");
        assert_eq!(kept["action"], "kept", "{kept:#}");
        elsewhere.assert_unharmed("it serves a port the sweep does not watch");
        assert!(
            report["foreign"]
                .as_array()
                .expect("foreign")
                .iter()
                .all(|f| f["pid"] != orphan.pid()),
            "a server is listed once, as a server: {report:#}"
        );
    });
    elsewhere.stop();
    orphan.stop();
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }

    // A live one, on a watched port: listed, never touched, `--all` or not.
    // Its working directory is deleted too, but it serves the directory its
    // `--directory` names, which is there.
    let live_dir = bare_project(root, "served and kept");
    let started_in = bare_project(root, "started here, then deleted");
    let mut argv = serve(watched);
    argv.extend(["--directory".into(), live_dir.clone().into_os_string()]);
    let live = Start::new(argv, &started_in, home).spawn();
    let live = Victim::process("a live http.server", live).serves_http(watched);
    live.wait_serving();
    std::fs::remove_dir_all(&started_in).expect("delete its working dir");
    let out = sweep(&watched.to_string(), &["--yes", "--all", "--json"]);
    let report = json_report(&out);
    let result = std::panic::catch_unwind(|| {
        assert_eq!(out.status.code(), Some(0), "{}", show(&out));
        let entry = report["servers"]
            .as_array()
            .expect("servers")
            .iter()
            .find(|s| s["pid"] == live.pid())
            .unwrap_or_else(|| panic!("the live server is not listed: {report:#}"))
            .clone();
        assert_eq!(entry["class"], "live", "{entry:#}");
        assert_eq!(entry["doubt"]["doubt"], "live", "{entry:#}");
        assert_eq!(entry["answers"], true, "{entry:#}");
        assert_eq!(entry["action"], "kept", "{entry:#}");
        live.assert_unharmed("its directory is there");
        // The human listing names it, its profile and where it serves from.
        let out = sweep(&watched.to_string(), &["--dry-run"]);
        let listing = String::from_utf8_lossy(&out.stdout);
        assert!(
            listing.contains("keep (live)") && listing.contains("http-server in "),
            "{}",
            show(&out)
        );
        live.assert_unharmed("a dry run touches nothing");
    });
    live.stop();
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
    scene.assert_clean();
}
