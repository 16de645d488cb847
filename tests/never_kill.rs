//! The standing "never kill" suite of `cargo-kitty-leakcheck`: every test
//! starts a would-be VICTIM (a real spec-kitty dashboard wherever possible,
//! else a real process that serves HTTP, or a file), runs the tool the way a
//! user would (`sweep --yes`, the default run mode, `check --baseline`), and
//! then proves with [`Victim::assert_unharmed`] that the victim is alive,
//! unchanged (same pid and start time) and still serving.
//!
//! Assertions on what the tool prints are kept to one place
//! ([`assert_tool_exit`]): its report may change; what matters is the victim.
//! A failure message lists every harmed victim and then the tool's output.
//!
//! Ports: this file uses only 9700-9749, each test its own sub-window (the
//! tool's `--ports` names it), so the tests run in parallel and never touch
//! spec-kitty's own range 9237-9336. Every test stops its victims at the end
//! by identity (also when it fails: the victims' drop) and ends with nothing
//! listening on its window and no dashboard of its projects alive. A missing
//! spec-kitty or tool (unshare, runuser, ...) FAILS the test; nothing is skipped.
//! The namespace and user tests need root.

mod common;

use std::ffi::{OsStr, OsString};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use kitty_core::PortSet;
use kitty_core::spec_kitty::{DashboardFile, SERVER_MODULE};
use kitty_fixtures::KittyProject;

use common::cleanup::Cleanup;
use common::detached::{TOKEN, dashboard_argv, spec_kitty_python};
use common::leakcheck::{
    after, assert_tool_exit, leakcheck, leakcheck_bin, os, sweep, tool, tool_with,
    without_nextest_env,
};
use common::reexec::{Scenario, scenario_is};
use common::scene::Scene;
use common::victim::{
    Background, LeftoverServers, OTHER_USER, Script, Start, Victim, argv_bytes, as_user,
    assert_all_unharmed, dashboard_victim, descendants_of, env_prefix, executable_by_all, lchown,
    looks_like_a_server, nobody, other_user, path_from_bytes, python_for_user, raw_argv,
    require_root, require_tool, wait_child_runs,
};
use common::{
    MINUTE, bare_project, dead_pid, has_dashboard_file, identity, isolate_home, port_free, show,
    spec_kitty, wait_for,
};

/// A project dir that exists nowhere.
const NOWHERE: &str = "/nonexistent-kitty-never-kill-dir";

/// How long the real `spec-kitty dashboard` CLI may take (3.2.7 imports for
/// 3 s; when its server dies during start-up it health-checks for 20 s more).
const CLI: Duration = Duration::from_secs(120);

/// `unshare`'s options for an ordinary user: a user namespace of its own in
/// which it is root, so that it may make the other namespaces too (root needs
/// none). Either way the victim lives in namespaces that are not ours.
fn user_namespace_unless_root() -> &'static [&'static str] {
    if rustix::process::geteuid().is_root() {
        &[]
    } else {
        &["--user", "--map-root-user"]
    }
}

/// The real `spec-kitty dashboard --port PORT` CLI in `project`, its home
/// isolated in `home`, no browser.
fn dashboard_cli(project: &Path, port: u16, home: &Path) -> Command {
    assert!(
        port_free(port),
        "port {port} is taken: spec-kitty would fall back to 9237 upward"
    );
    let mut c = Command::new(spec_kitty());
    c.args(["dashboard", "--port", &port.to_string()])
        .current_dir(project)
        .env("BROWSER", "true");
    isolate_home(&mut c, home);
    c
}

/// The server pid a `.kittify/.dashboard` names (after the CLI wrote it).
fn recorded_pid(project: &Path, port: u16) -> u32 {
    let f = DashboardFile::read(project)
        .expect("readable .kittify/.dashboard")
        .unwrap_or_else(|| panic!("no .kittify/.dashboard in {project:?}"));
    assert_eq!(
        f.port,
        Some(port),
        "spec-kitty used another port than --port"
    );
    f.pid.expect("a pid in .kittify/.dashboard")
}

// --- 1. Run mode and check mode: a dashboard someone else starts meanwhile ---------

#[test]
fn run_mode_keeps_a_live_dashboard_someone_else_starts_during_the_run() {
    let scene = Scene::new("kitty-nk-run-", "9700-9701");
    let root = scene.path();
    let (started, flag) = (root.join("started"), root.join("flag"));
    let mut run = Background::spawn(
        leakcheck()
            .args(["--ports", scene.ports, "--grace", "0", "--", "sh", "-c"])
            .arg("touch \"$1\"; until [ -e \"$2\" ]; do sleep 0.01; done")
            .arg("sh")
            .arg(&started)
            .arg(&flag)
            .env("NO_COLOR", "1"),
    );
    wait_for(MINUTE, "COMMAND to start", || {
        assert!(run.exited().is_none(), "leakcheck ended before COMMAND ran");
        started.exists().then_some(())
    });
    // From this test process: not a descendant of leakcheck, no label.
    let project = bare_project(root, "live");
    let victim = dashboard_victim(
        "a live dashboard someone else started during the run",
        &project,
        scene.port(0),
        scene.home(),
        true,
    );
    std::fs::write(&flag, "").expect("flag");
    let o = run.finish(MINUTE);

    victim.assert_unharmed(&after("the run ended", &o));
    assert!(
        has_dashboard_file(&project),
        "the live project's .kittify/.dashboard was removed\n{}",
        show(&o)
    );
    assert_tool_exit(&o, &[0, 3]);
    victim.stop();
    scene.assert_clean();
}

#[test]
fn check_keeps_a_live_dashboard_someone_else_starts_after_the_baseline() {
    let scene = Scene::new("kitty-nk-check-", "9702-9703");
    let baseline = scene.path().join("baseline.json");
    let o = tool(&[
        OsStr::new("snapshot"),
        OsStr::new("--ports"),
        OsStr::new(scene.ports),
        OsStr::new("--output"),
        baseline.as_os_str(),
    ]);
    assert!(o.status.success(), "snapshot failed\n{}", show(&o));
    let project = bare_project(scene.path(), "live");
    let victim = dashboard_victim(
        "a live dashboard someone else started after the baseline",
        &project,
        scene.port(0),
        scene.home(),
        true,
    );

    let o = tool(&[
        OsStr::new("check"),
        OsStr::new("--baseline"),
        baseline.as_os_str(),
    ]);
    victim.assert_unharmed(&after("`check --baseline`", &o));
    assert!(
        has_dashboard_file(&project),
        "the live project's .kittify/.dashboard was removed\n{}",
        show(&o)
    );
    assert_tool_exit(&o, &[0, 3]);
    victim.stop();
    scene.assert_clean();
}

// --- 2. Another mount + pid namespace ------------------------------------------------

#[test]
fn sweep_keeps_a_live_dashboard_of_another_mount_and_pid_namespace() {
    let unshare = require_tool("unshare");
    let scene = Scene::new("kitty-nk-mntns-", "9704-9705");
    let port = scene.port(0);
    let mnt = scene.path().join("ns-mnt");
    std::fs::create_dir(&mnt).expect("mount point");
    // The project lives on a tmpfs mounted inside the namespace only.
    let project = mnt.join("proj");
    let server = dashboard_argv(&project, port);
    // A script file: the server's command line must not be in the argv of
    // unshare or of the namespace's shell (that would make them wrappers, see 4.).
    let script = Script::new()
        .raw("mount -t tmpfs kitty-never-kill ")
        .word(&mnt)
        .raw(" || exit 1\nmkdir -p ")
        .word(project.join(".kittify"))
        .raw(" ")
        .word(project.join("kitty-specs"))
        .raw("\ncd ")
        .word(&project)
        .raw("\nsetsid ")
        .words(&server)
        .raw(" </dev/null >/dev/null 2>&1 &\n")
        .raw(&format!(
            "printf 'http://127.0.0.1:%s\\n%s\\n%s\\n%s\\n' {port} {port} {TOKEN} \"$!\" > "
        ))
        .word(DashboardFile::path_in(&project))
        .raw("\nwait\n")
        .write(&scene.path().join("ns.sh"));
    let mut cmd = Command::new(&unshare);
    cmd.args(user_namespace_unless_root())
        .args([
            "--kill-child",
            "--pid",
            "--fork",
            "--mount-proc",
            "--mount",
            "--propagation",
            "private",
            "sh",
        ])
        .arg(&script)
        .current_dir(scene.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    isolate_home(&mut cmd, scene.home());
    // Killed on drop; --kill-child then takes the namespace down with it.
    let unshare = Background::spawn(&mut cmd);
    let init = wait_for(MINUTE, "the namespace's init", || {
        common::victim::children_of(unshare.pid()).first().copied()
    });
    let pid = wait_child_runs(init, &argv_bytes(&server));
    let victim = Victim::process("a live dashboard of another mount+pid namespace", pid)
        .serves_dashboard(port, &project)
        .stop_also(init)
        .own(unshare);
    victim.wait_serving();
    // The set-up is what it should be: the project is not in our mount
    // namespace; inside it, .kittify/.dashboard names the server by its pid there.
    assert!(
        !project.exists(),
        "{project:?} leaks into our mount namespace"
    );
    let inside = PathBuf::from(format!("/proc/{pid}/root"))
        .join(project.strip_prefix("/").expect("absolute"));
    let recorded = wait_for(MINUTE, "the namespace's .kittify/.dashboard", || {
        DashboardFile::read(&inside)
            .ok()
            .flatten()
            .and_then(|f| f.pid)
    });
    assert_ne!(recorded, pid, "expected the pid of the namespace, not ours");

    let o = sweep(scene.ports);
    victim.assert_unharmed(&after("`sweep --yes` from our namespace", &o));
    assert_tool_exit(&o, &[0]);
    victim.stop();
    scene.assert_clean();
}

// --- 3. Another network namespace ------------------------------------------------------

#[test]
fn sweep_keeps_a_dashboard_of_another_network_namespace() {
    let unshare = require_tool("unshare");
    let ip = require_tool("ip");
    let scene = Scene::new("kitty-nk-netns-", "9706-9707");
    let port = scene.port(0);
    // In our mount namespace, with no .kittify/.dashboard ("unrecorded").
    let project = bare_project(scene.path(), "netns");
    let server = dashboard_argv(&project, port);
    let mut argv: Vec<OsString> = vec![unshare.into()];
    argv.extend(user_namespace_unless_root().iter().map(OsString::from));
    argv.extend([
        "--net".into(),
        "sh".into(),
        "-c".into(),
        "\"$1\" link set lo up || exit 1; shift; exec \"$@\"".into(),
        "sh".into(),
        ip.into(),
    ]);
    argv.extend(server.iter().cloned());
    let pid = Start::new(argv, &project, scene.home())
        .runs(server)
        .spawn();
    let victim = Victim::process("an unrecorded dashboard of another network namespace", pid)
        .serves_dashboard(port, &project)
        .in_its_netns();
    victim.wait_serving();
    assert!(
        port_free(port),
        "port {port} is held in OUR network namespace: the set-up is wrong"
    );

    let o = sweep(scene.ports);
    victim.assert_unharmed(&after(
        "`sweep --yes` from our network namespace (checked from inside its own)",
        &o,
    ));
    assert_tool_exit(&o, &[0]);
    victim.stop();
    scene.assert_clean();
}

// --- 4. Wrappers whose argv merely contains a dashboard command line --------------------

/// A bash script (not exec'd: `& wait`) that serves HTTP on `port` through
/// `py -m http.server`, with `args` as bash's own arguments after `$0` (a
/// dashboard's command line, or its look-alike); the script takes the port
/// from the positional parameter that holds it.
fn bash_serving_http(
    label: &str,
    (bash, py, port): (&std::path::Path, &OsString, u16),
    args: Vec<OsString>,
    (root, home): (&std::path::Path, &std::path::Path),
) -> Victim {
    let http_server: Vec<OsString> = vec![
        py.clone(),
        "-m".into(),
        "http.server".into(),
        "--bind".into(),
        "127.0.0.1".into(),
        port.to_string().into(),
    ];
    let at = args
        .iter()
        .position(|a| a.as_os_str() == std::ffi::OsStr::new(&port.to_string()))
        .expect("the port is one of the arguments");
    let mut argv: Vec<OsString> = vec![
        bash.into(),
        "-c".into(),
        format!(
            "\"$PY\" -m http.server --bind 127.0.0.1 \"${}\" & wait",
            at + 1
        )
        .into(),
        "bash".into(),
    ];
    argv.extend(args);
    let bash_pid = Start::new(argv, root, home).env("PY", py).spawn();
    let v = Victim::process(label, bash_pid);
    let child = wait_child_runs(bash_pid, &argv_bytes(&http_server));
    v.with("its python http.server child", child)
        .serves_http(port)
}

#[test]
fn sweep_keeps_wrappers_whose_argv_merely_contains_a_dashboard_command_line() {
    let bash = require_tool("bash");
    let timeout = require_tool("timeout");
    let scene = Scene::new("kitty-nk-wrap-", "9708-9711");
    let (root, home) = (scene.path(), scene.home());
    let py: OsString = spec_kitty_python().into();
    let (pa, pb, pc) = (scene.port(0), scene.port(1), scene.port(2));

    // (a) A bash script (not exec'd: `& wait`) that serves HTTP; the module
    // and a dashboard's arguments are separate argv elements of bash itself.
    let a = bash_serving_http(
        "(a) `bash -c SCRIPT bash -m <module> /nonexistent <port> <token>`",
        (bash.as_path(), &py, pa),
        vec![
            "-m".into(),
            SERVER_MODULE.into(),
            NOWHERE.into(),
            pa.to_string().into(),
            TOKEN.into(),
        ],
        (root, home),
    );

    // (b) `timeout 600 <server>`: the real dashboard is timeout's child, and
    // the live project's .kittify/.dashboard names that child.
    let live = bare_project(root, "timeout-live");
    let server = dashboard_argv(&live, pb);
    let mut argv: Vec<OsString> = vec![timeout.into(), "600".into()];
    argv.extend(server.iter().cloned());
    let timeout_pid = Start::new(argv, &live, home).spawn();
    let b = Victim::process("(b) `timeout 600 <the real dashboard>`", timeout_pid);
    let real = wait_child_runs(timeout_pid, &argv_bytes(&server));
    let b = b
        .with("the live dashboard (timeout's child)", real)
        .serves_dashboard(pb, &live);
    DashboardFile::new(pb, Some(TOKEN.into()), Some(real))
        .write(&live)
        .expect("write .kittify/.dashboard");

    // (c) `python3 -c CODE -m <module> ...`: the first -c ends Python's
    // options; the rest is sys.argv. It serves HTTP, it is no dashboard.
    let code = "import sys, http.server as h\n\
                h.HTTPServer(('127.0.0.1', int(sys.argv[4])), h.SimpleHTTPRequestHandler).serve_forever()";
    let argv: Vec<OsString> = vec![
        py.clone(),
        "-c".into(),
        code.into(),
        "-m".into(),
        SERVER_MODULE.into(),
        NOWHERE.into(),
        pc.to_string().into(),
        TOKEN.into(),
    ];
    let c = Victim::process(
        "(c) `python3 -c CODE -m <module> /nonexistent <port> <token>`",
        Start::new(argv, root, home).spawn(),
    )
    .serves_http(pc);
    for v in [&a, &b, &c] {
        v.wait_serving();
    }

    let o = sweep(scene.ports);
    assert_all_unharmed(&[&a, &b, &c], &after("`sweep --yes`", &o));
    assert_tool_exit(&o, &[0]);
    drop((a, b, c));
    scene.assert_clean();
}

/// The same for 4.0.0rc1-rc4's flag form (`--project-dir D --port N`):
/// (a) bash with the flags as its own arguments, (b) `python3 -c CODE -m
/// <module> --project-dir ...`, where the first `-c` ends Python's options.
/// Both serve HTTP; neither is a dashboard, whichever release is installed.
#[test]
fn sweep_keeps_wrappers_whose_argv_contains_the_4x_flag_form() {
    let bash = require_tool("bash");
    let scene = Scene::new("kitty-nk-flags-", "9734-9735");
    let (root, home) = (scene.path(), scene.home());
    let py: OsString = spec_kitty_python().into();
    let (pa, pb) = (scene.port(0), scene.port(1));
    let flags = |port: u16| -> Vec<OsString> {
        vec![
            "-m".into(),
            SERVER_MODULE.into(),
            "--project-dir".into(),
            NOWHERE.into(),
            "--port".into(),
            port.to_string().into(),
            "--token".into(),
            TOKEN.into(),
        ]
    };

    let a = bash_serving_http(
        "(a) `bash -c SCRIPT bash -m <module> --project-dir /nonexistent --port <port> --token <token>`",
        (bash.as_path(), &py, pa),
        flags(pa),
        (root, home),
    );

    let code = "import sys, http.server as h\n\
                h.HTTPServer(('127.0.0.1', int(sys.argv[6])), h.SimpleHTTPRequestHandler).serve_forever()";
    let mut argv: Vec<OsString> = vec![py.clone(), "-c".into(), code.into()];
    argv.extend(flags(pb));
    let b = Victim::process(
        "(b) `python3 -c CODE -m <module> --project-dir /nonexistent --port <port> --token <token>`",
        Start::new(argv, root, home).spawn(),
    )
    .serves_http(pb);
    for v in [&a, &b] {
        v.wait_serving();
    }

    let o = sweep(scene.ports);
    assert_all_unharmed(&[&a, &b], &after("`sweep --yes`", &o));
    assert_tool_exit(&o, &[0]);
    drop((a, b));
    scene.assert_clean();
}

// --- 5. Odd project paths, started by the real CLI -----------------------------------------

#[test]
fn sweep_keeps_live_dashboards_of_odd_project_paths() {
    let scene = Scene::new("kitty-nk-odd-", "9712-9715");
    let cases: [(&str, &[u8], u16); 2] = [
        (
            "a project dir whose name is not UTF-8",
            b"proj-\xff\xfe",
            scene.port(0),
        ),
        (
            "a project dir with quotes, spaces and a zero-width space",
            "it's \"odd\" dir\u{200b}".as_bytes(),
            scene.port(1),
        ),
    ];
    let _leftovers = LeftoverServers(cases.iter().map(|c| c.2).collect());
    let mut runs = Vec::new();
    for (i, (_, name, port)) in cases.iter().enumerate() {
        let dir = scene.path().join(path_from_bytes(name));
        for sub in [".kittify", "kitty-specs"] {
            std::fs::create_dir_all(dir.join(sub)).expect("mkdir");
        }
        let home = scene.home().join(format!("home-{i}"));
        std::fs::create_dir_all(&home).expect("home");
        runs.push((
            dir.clone(),
            Background::spawn(&mut dashboard_cli(&dir, *port, &home)),
        ));
    }
    let mut victims = Vec::new();
    for ((label, _, port), (dir, run)) in cases.iter().zip(runs) {
        let o = run.finish(CLI);
        assert!(
            o.status.success(),
            "spec-kitty dashboard in {dir:?}\n{}",
            show(&o)
        );
        let pid = recorded_pid(&dir, *port);
        assert!(
            raw_argv(pid).is_some_and(|a| looks_like_a_server(&a)),
            "the pid in .kittify/.dashboard is no dashboard server"
        );
        let v = Victim::process(label, pid).serves_dashboard(*port, &dir);
        v.wait_serving();
        victims.push(v);
    }

    let o = sweep(scene.ports);
    let all: Vec<&Victim> = victims.iter().collect();
    assert_all_unharmed(&all, &after("`sweep --yes`", &o));
    assert_tool_exit(&o, &[0]);
    drop(victims);
    scene.assert_clean();
}

// --- 6. A .kittify/.dashboard that spec-kitty reads fine -----------------------------------

#[test]
fn sweep_keeps_a_live_dashboard_whose_file_has_crlf_trailing_spaces_and_a_fifth_line() {
    let scene = Scene::new("kitty-nk-crlf-", "9716-9717");
    let port = scene.port(0);
    let project = bare_project(scene.path(), "crlf");
    let victim = dashboard_victim(
        "a live dashboard whose .kittify/.dashboard has CRLF, trailing spaces, a 5th line",
        &project,
        port,
        scene.home(),
        false,
    );
    let file = DashboardFile::path_in(&project);
    std::fs::write(
        &file,
        format!(
            "http://127.0.0.1:{port}  \r\n{port} \r\n{TOKEN}\t \r\n{}  \r\nsome-later-field=1\r\n",
            victim.pid()
        ),
    )
    .expect("write .kittify/.dashboard");
    // spec-kitty itself reads the pid out of it.
    let mut c = Command::new(spec_kitty_python());
    c.args([
        "-c",
        "import sys\nfrom pathlib import Path\n\
         from specify_cli.dashboard.lifecycle import _parse_dashboard_file\n\
         print(_parse_dashboard_file(Path(sys.argv[1]))[3])",
    ])
    .arg(&file)
    .stdin(Stdio::null());
    isolate_home(&mut c, scene.home());
    let read = c.output().expect("python");
    assert_eq!(
        String::from_utf8_lossy(&read.stdout).trim(),
        victim.pid().to_string(),
        "spec-kitty does not read this file as naming its dashboard: {read:?}"
    );

    let o = sweep(scene.ports);
    victim.assert_unharmed(&after("`sweep --yes`", &o));
    assert!(
        file.exists(),
        "its .kittify/.dashboard was removed\n{}",
        show(&o)
    );
    assert_tool_exit(&o, &[0]);
    victim.stop();
    scene.assert_clean();
}

// --- 7. A dashboard still starting under a concurrent sweep --------------------------------

#[test]
fn sweep_keeps_a_dashboard_the_real_cli_is_still_starting() {
    let scene = Scene::new("kitty-nk-starting-", "9718-9719");
    let port = scene.port(0);
    let project = bare_project(scene.path(), "starting");
    let _leftovers = LeftoverServers(vec![port]);
    let mut cli = Background::spawn(&mut dashboard_cli(&project, port, scene.home()));
    // Its server process appears seconds before .kittify/.dashboard is written.
    let server = wait_for(MINUTE, "the CLI's server process", || {
        if let Some(status) = cli.exited() {
            panic!("spec-kitty dashboard ended ({status}) before its server appeared");
        }
        descendants_of(cli.pid())
            .into_iter()
            .find(|&p| raw_argv(p).is_some_and(|a| looks_like_a_server(&a)))
    });
    let victim = Victim::process("a dashboard spec-kitty is still starting", server)
        .serves_dashboard(port, &project);
    let recorded_before = has_dashboard_file(&project);
    let o = sweep(scene.ports);
    let cli_out = cli.finish(CLI);

    victim.assert_unharmed(&format!(
        "`sweep --yes` ran while it started (.kittify/.dashboard written then: \
         {recorded_before}), then the CLI ended\n--- cargo-kitty-leakcheck\n{}\n--- spec-kitty dashboard\n{}",
        show(&o),
        show(&cli_out)
    ));
    assert!(
        cli_out.status.success(),
        "spec-kitty dashboard failed\n{}",
        show(&cli_out)
    );
    assert_eq!(recorded_pid(&project, port), server);
    assert_tool_exit(&o, &[0]);
    victim.stop();
    scene.assert_clean();
}

/// The cases that need root: files planted by, and dashboards of, another
/// user. The ordinary-user pass (`scripts/test-as-user`) leaves this module
/// out (`-E 'not test(/^as_root::/)'`); the root pass runs it, and its 9b
/// runs the tool itself as an ordinary user.
mod as_root {
    use super::*;

    // --- 8. Planted reservation files ------------------------------------------------------------

    /// The line the reservation scenario prints about its start.
    const START_LINE: &str = "NK-START";

    #[test]
    fn a_planted_reservation_symlink_never_overwrites_a_file_of_ours() {
        require_root();
        let scene = Scene::new("kitty-nk-plant-", "9720-9721");
        let port = scene.port(0);
        let (nobody_uid, nobody_gid) = nobody();
        // The default reservation dir of a process whose TMPDIR is `tmp`, made
        // first by another user, world-writable, with a symlink planted in it.
        let tmp = scene.path().join("tmp");
        std::fs::create_dir(&tmp).expect("tmp");
        // SAFETY: geteuid cannot fail.
        let dir = tmp.join(format!("kitty-fixtures-{}", unsafe { libc::geteuid() }));
        std::fs::create_dir(&dir).expect("reservation dir");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).expect("chmod");
        lchown(&dir, nobody_uid, nobody_gid);
        let precious = scene.path().join("precious.txt");
        std::fs::write(&precious, "precious data of ours\n").expect("victim file");
        let link = dir.join(format!("{port}.lock"));
        std::os::unix::fs::symlink(&precious, &link).expect("plant the symlink");
        lchown(&link, nobody_uid, nobody_gid);
        let victim = Victim::file("our file, the target of a planted <port>.lock", &precious);
        let _leftovers = LeftoverServers(vec![port]);

        let mut s = Scenario::spawn_with(
            "as_root::scenario_start_with_a_planted_reservation_dir",
            |c| {
                c.env("TMPDIR", &tmp)
                    .env("NK_PORT", port.to_string())
                    .env("KITTY_SPEC_KITTY", spec_kitty())
                    .env_remove("KITTY_RESERVATIONS_DIR")
                    .env_remove("KITTY_PORTS");
            },
        );
        let status = s.wait();
        let out = s.output();
        victim.assert_unharmed(&format!(
            "KittyProject::start_dashboard() on port {port} with the planted {}\n{out}",
            dir.display()
        ));
        assert!(status.success(), "the scenario failed: {status}\n{out}");
        let line = out
            .lines()
            .find_map(|l| l.split_once(START_LINE).map(|(_, r)| r.trim().to_string()))
            .unwrap_or_else(|| panic!("the scenario printed no {START_LINE} line\n{out}"));
        // Either outcome is right: a clear one-line error naming the directory,
        // or a start that used a private directory instead.
        if let Some(err) = line.strip_prefix("err ") {
            let (lines, msg) = err.split_once(' ').expect("lines and message");
            assert_eq!(lines, "lines=1", "a multi-line error: {msg}");
            assert!(
                msg.contains(&dir.display().to_string()),
                "the error does not name {}: {msg}",
                dir.display()
            );
        } else {
            assert!(line.starts_with("ok"), "{line}");
        }
        scene.assert_clean();
    }

    /// Run by [`a_planted_reservation_symlink_never_overwrites_a_file_of_ours`]
    /// with `TMPDIR` set: starts one dashboard on `NK_PORT` and says how it went.
    #[test]
    #[ignore = "a scenario, run by a_planted_reservation_symlink_never_overwrites_a_file_of_ours"]
    fn scenario_start_with_a_planted_reservation_dir() {
        if !scenario_is("as_root::scenario_start_with_a_planted_reservation_dir") {
            return;
        }
        let port: u16 = std::env::var("NK_PORT")
            .expect("NK_PORT")
            .parse()
            .expect("a port");
        let project = KittyProject::builder()
            .spec_kitty(spec_kitty())
            .ports(PortSet::single(port))
            .build()
            .expect("project");
        match project.start_dashboard() {
            Ok(d) => println!("{START_LINE} ok pid={} port={}", d.pid(), d.port()),
            Err(e) => {
                let msg = e.to_string();
                println!(
                    "{START_LINE} err lines={} {}",
                    msg.lines().count(),
                    msg.replace('\n', "\\n")
                );
            }
        }
        drop(project);
    }

    #[test]
    fn sweep_ignores_a_forged_reservation_in_a_dir_another_user_owns() {
        require_root();
        let scene = Scene::new("kitty-nk-forged-", "9722-9723");
        let port = scene.port(0);
        let project = bare_project(scene.path(), "live");
        let victim = dashboard_victim(
            "a live dashboard named by a forged reservation with a dead owner",
            &project,
            port,
            scene.home(),
            true,
        );
        let (nobody_uid, nobody_gid) = nobody();
        let dir = scene.path().join("reservations");
        std::fs::create_dir(&dir).expect("dir");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).expect("chmod");
        lchown(&dir, nobody_uid, nobody_gid);
        let forged = dir.join(format!("{port}.lock"));
        let record = serde_json::json!({
            "port": port,
            "owner_pid": dead_pid(),
            "owner_start_ticks": 1,
            "dashboard_pid": victim.pid(),
            "dashboard_start_ticks": identity(victim.pid()).start_ticks(),
            "project_dir": project,
        });
        std::fs::write(&forged, record.to_string()).expect("forge");
        std::fs::set_permissions(&forged, std::fs::Permissions::from_mode(0o666)).expect("chmod");
        lchown(&forged, nobody_uid, nobody_gid);

        let o = tool_with(
            &os(&["sweep", "--yes", "--ports", scene.ports]),
            &[("KITTY_RESERVATIONS_DIR", dir.as_os_str())],
        );
        victim.assert_unharmed(&after(
            "`sweep --yes` with KITTY_RESERVATIONS_DIR on a dir another user owns",
            &o,
        ));
        assert_tool_exit(&o, &[0]);
        victim.stop();
        scene.assert_clean();
    }

    /// The other user's corner of a scene: `root` made traversable (0711),
    /// `root/other` and its `home` owned by `uid:gid`, and a Python with
    /// spec-kitty that the user can run (with the `PYTHONPATH` it needs).
    struct OtherUsersDir {
        dir: PathBuf,
        home: PathBuf,
        python: PathBuf,
        pythonpath: Option<PathBuf>,
    }

    fn other_users_dir(root: &Path, uid: u32, gid: u32) -> OtherUsersDir {
        std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o711)).expect("chmod root");
        let dir = root.join("other");
        let home = dir.join("home");
        std::fs::create_dir_all(&home).expect("the other user's dirs");
        for d in [&dir, &home] {
            lchown(d, uid, gid);
        }
        let (python, pythonpath) = python_for_user(uid, gid, &spec_kitty_python(), &home);
        OtherUsersDir {
            dir,
            home,
            python,
            pythonpath,
        }
    }

    // --- 9. Other users ----------------------------------------------------------------------------

    #[test]
    fn roots_sweep_never_touches_another_users_dashboards() {
        require_root();
        let runuser = require_tool("runuser");
        let (uid, gid) = other_user();
        let scene = Scene::new("kitty-nk-users-", "9724-9726");
        let (root, home) = (scene.path(), scene.home());
        let OtherUsersDir {
            dir: other,
            home: ohome,
            python: py,
            pythonpath,
        } = other_users_dir(root, uid, gid);
        let spec_home = ohome.join(".spec-kitty");
        let mut envs: Vec<(&str, &OsStr)> = vec![
            ("HOME", ohome.as_os_str()),
            ("SPEC_KITTY_HOME", spec_home.as_os_str()),
        ];
        if let Some(pp) = &pythonpath {
            envs.push(("PYTHONPATH", pp.as_os_str()));
        }
        // A project of the other user, its server command line run by `py`.
        let their_project = |name: &str, port: u16| {
            let p = other.join(name);
            for sub in [".kittify", "kitty-specs"] {
                std::fs::create_dir_all(p.join(sub)).expect("mkdir");
                lchown(&p.join(sub), uid, gid);
            }
            lchown(&p, uid, gid);
            let mut server = dashboard_argv(&p, port);
            server[0] = py.clone().into();
            (p, server)
        };

        // (i) Started straight as the other user (setpriv execs: no wrapper stays).
        let (p1, server1) = their_project("orphan-setpriv", scene.port(0));
        let mut argv = as_user(uid, gid, &envs);
        argv.extend(server1.iter().cloned());
        let pid1 = Start::new(argv, &other, home).runs(server1).spawn();
        let v1 = Victim::process("another user's orphaned dashboard", pid1)
            .serves_dashboard(scene.port(0), &p1);
        // (ii) Under `runuser`: a root-owned runuser stays, its argv holding the
        // whole command line; it forwards signals to the other user's dashboard.
        let (p2, server2) = their_project("orphan-runuser", scene.port(1));
        let mut argv: Vec<OsString> = vec![
            runuser.clone().into(),
            "-u".into(),
            OTHER_USER.into(),
            "--".into(),
        ];
        argv.extend(env_prefix(&envs));
        argv.extend(server2.iter().cloned());
        let pid2 = Start::new(argv, &other, home).spawn();
        let v2 = Victim::process(
            "the root-owned `runuser -u <other> -- <dashboard>` wrapper",
            pid2,
        );
        let child2 = wait_child_runs(pid2, &argv_bytes(&server2));
        let v2 = v2
            .with("another user's orphaned dashboard under runuser", child2)
            .serves_dashboard(scene.port(1), &p2);
        for v in [&v1, &v2] {
            v.wait_serving();
        }
        assert_eq!(
            identity(pid1).uid(),
            uid,
            "(i) does not run as the other user"
        );
        assert_eq!(
            identity(child2).uid(),
            uid,
            "(ii) does not run as the other user"
        );
        // Orphans: their projects are deleted.
        std::fs::remove_dir_all(&p1).expect("rm");
        std::fs::remove_dir_all(&p2).expect("rm");

        let o = sweep("9724-9726");
        assert_all_unharmed(&[&v1, &v2], &after("root's `sweep --yes`", &o));
        assert_tool_exit(&o, &[0]);

        drop((v1, v2));
        scene.assert_clean();
    }

    #[test]
    fn an_ordinary_users_sweep_never_touches_roots_dashboards() {
        require_root();
        let runuser = require_tool("runuser");
        other_user();
        let scene = Scene::new("kitty-nk-user-sweep-", "9727-9729");
        let root = scene.path();
        std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o711)).expect("chmod root");
        let gone = bare_project(root, "root-orphan");
        let victim = dashboard_victim(
            "root's orphaned dashboard",
            &gone,
            scene.port(0),
            scene.home(),
            false,
        );
        std::fs::remove_dir_all(&gone).expect("rm");
        let bin = executable_by_all(&leakcheck_bin(), root);
        let mut c = Command::new(&runuser);
        c.args(["-u", OTHER_USER, "--"])
            .arg(&bin)
            .args(["sweep", "--yes", "--ports", scene.ports])
            .current_dir("/")
            .env("NO_COLOR", "1")
            .env_remove("KITTY_PORTS");
        without_nextest_env(&mut c);
        let o = Background::spawn(&mut c).finish(MINUTE);
        victim.assert_unharmed(&after(
            &format!("`runuser -u {OTHER_USER} -- cargo-kitty-leakcheck sweep --yes`"),
            &o,
        ));
        assert_tool_exit(&o, &[0]);
        victim.stop();
        scene.assert_clean();
    }

    /// Servers a profile recognises (Python's `http.server`) are swept only
    /// when they are the sweeper's: root's sweep never touches another
    /// user's orphaned server, and that user's sweep never touches root's,
    /// each an orphan (the directory it serves deleted) on a watched port.
    #[test]
    fn a_sweep_never_touches_another_users_orphaned_server() {
        require_root();
        let runuser = require_tool("runuser");
        let (uid, gid) = other_user();
        let scene = Scene::new("kitty-nk-user-servers-", "9736-9737");
        let (root, home) = (scene.path(), scene.home());
        let OtherUsersDir {
            dir: other,
            home: ohome,
            python: py,
            pythonpath,
        } = other_users_dir(root, uid, gid);
        let mut envs: Vec<(&str, &OsStr)> = vec![("HOME", ohome.as_os_str())];
        if let Some(pp) = &pythonpath {
            envs.push(("PYTHONPATH", pp.as_os_str()));
        }
        let serve = |python: &Path, port: u16| -> Vec<OsString> {
            vec![
                python.into(),
                "-m".into(),
                "http.server".into(),
                "--bind".into(),
                "127.0.0.1".into(),
                port.to_string().into(),
            ]
        };
        let (theirs_port, ours_port) = (scene.port(0), scene.port(1));
        // The other user's, started straight as them, from a dir of theirs.
        let their_dir = other.join("served");
        std::fs::create_dir(&their_dir).expect("mkdir");
        lchown(&their_dir, uid, gid);
        let server = serve(&py, theirs_port);
        let mut argv = as_user(uid, gid, &envs);
        argv.extend(server.iter().cloned());
        let theirs = Start::new(argv, &their_dir, home).runs(server).spawn();
        let theirs =
            Victim::process("another user's orphaned http.server", theirs).serves_http(theirs_port);
        // Root's, from a dir of root's.
        let our_dir = bare_project(root, "root-served");
        let ours = Start::new(serve(&spec_kitty_python(), ours_port), &our_dir, home).spawn();
        let ours = Victim::process("root's orphaned http.server", ours).serves_http(ours_port);
        theirs.wait_serving();
        ours.wait_serving();
        assert_eq!(
            identity(theirs.pid()).uid(),
            uid,
            "it does not run as the other user"
        );
        // Orphans, both: their directories are deleted.
        std::fs::remove_dir_all(&their_dir).expect("rm");
        std::fs::remove_dir_all(&our_dir).expect("rm");

        let o = sweep(&theirs_port.to_string());
        theirs.assert_unharmed(&after("root's `sweep --yes`", &o));
        assert_tool_exit(&o, &[0]);

        let bin = executable_by_all(&leakcheck_bin(), root);
        let mut c = Command::new(&runuser);
        c.args(["-u", OTHER_USER, "--"])
            .arg(&bin)
            .args(["sweep", "--yes", "--ports"])
            .arg(ours_port.to_string())
            .current_dir("/")
            .env("NO_COLOR", "1")
            .env_remove("KITTY_PORTS");
        without_nextest_env(&mut c);
        let o = Background::spawn(&mut c).finish(MINUTE);
        ours.assert_unharmed(&after(
            &format!("`runuser -u {OTHER_USER} -- cargo-kitty-leakcheck sweep --yes`"),
            &o,
        ));
        assert_tool_exit(&o, &[0]);
        drop((theirs, ours));
        scene.assert_clean();
    }
}

// --- 10. A stale .kittify/.dashboard naming an unrelated process --------------------------------

#[test]
fn a_stale_dashboard_file_never_gets_the_process_it_names_signalled() {
    let scene = Scene::new("kitty-nk-stale-", "9730-9733");
    let (root, home) = (scene.path(), scene.home());
    let mut cleanup = Cleanup::new();
    let sleep_pid = cleanup.sentinel().id();
    let sleeper = Victim::process(
        "our `sleep 300`, named by stale .kittify/.dashboard files",
        sleep_pid,
    );
    let _leftovers = LeftoverServers(vec![scene.port(0), scene.port(2)]);

    // sweep: an unrecorded dashboard of the project (so that the sweep reads
    // its file, which names the sleep). That dashboard's fate is not asserted.
    let p = bare_project(root, "stale-sweep");
    DashboardFile::new(scene.port(0), Some(TOKEN.into()), Some(sleep_pid))
        .write(&p)
        .expect("write .kittify/.dashboard");
    let bait = Start::new(dashboard_argv(&p, scene.port(0)), &p, home).spawn();
    cleanup.process(bait, Some(scene.port(0)));
    let o = sweep("9730-9731");
    sleeper.assert_unharmed(&after("`sweep --yes`", &o));
    assert_tool_exit(&o, &[0]);

    // The run mode: COMMAND writes such a file and leaks a dashboard of that project.
    let q = bare_project(root, "stale-run");
    let port = scene.port(2);
    // COMMAND is a script file: its argv must not hold the dashboard's command line.
    let url = DashboardFile::new(port, None, None).url;
    let script = Script::new()
        .raw(&format!(
            "printf '%s\\n%s\\n%s\\n%s\\n' {url} {port} {TOKEN} {sleep_pid} > "
        ))
        .word(DashboardFile::path_in(&q))
        .raw("\nsetsid ")
        .words(&dashboard_argv(&q, port))
        .raw(" </dev/null >/dev/null 2>&1 &\n")
        // Exit only once it listens: a COMMAND that exits while its child is
        // still between fork and exec makes leakcheck miss the leak (a race
        // of its own, not this test's subject).
        .raw("i=0\nuntil ")
        .word(spec_kitty_python())
        .raw(&format!(
            " -c 'import socket; socket.create_connection((\"127.0.0.1\", {port}), 1)' 2>/dev/null\n"
        ))
        .raw("do i=$((i+1)); [ $i -lt 1200 ] || exit 1; sleep 0.05; done\n")
        .write(&root.join("stale-run.sh"));
    let argv = [
        OsStr::new("--ports"),
        OsStr::new("9732-9733"),
        OsStr::new("--"),
        OsStr::new("sh"),
        script.as_os_str(),
    ];
    let o = tool(&argv);
    sleeper.assert_unharmed(&after(
        "a run whose COMMAND wrote a .kittify/.dashboard naming it",
        &o,
    ));
    assert_tool_exit(&o, &[0, 3]);
    drop(cleanup);
    drop(sleeper);
    scene.assert_clean();
}
