//! Never kill what was not proved: one end-to-end test per hole a security
//! review found in how the tools signal processes. Each test starts the
//! would-be VICTIM, runs the tool (or the fixtures) the way a user would, and
//! then proves with [`Victim::assert_unharmed`] that the victim is alive,
//! unchanged (same pid and start time) and still serving.
//!
//! The rule they pin down: a signal goes only to one pinned (pidfd),
//! individually proved process. Not to "the members of its group" found by a
//! pgid or sid number, not to a pid read from an earlier look at the tree, not
//! to a process whose paths mean something else (another root), nor by a
//! spelling or a suffix of a path.
//!
//! | class | test |
//! | --- | --- |
//! | 1. a stale identity's number | `as_root::dropping_a_project_whose_dashboard_was_reaped_spares_the_session_that_reused_its_number` |
//! | 2. group members nobody judged | `run_mode_spares_a_helper_in_the_leaked_dashboards_group`, `sweep_spares_a_helper_in_the_orphaned_dashboards_group` |
//! | 3. a different root | `as_root::sweep_keeps_a_live_dashboard_of_another_root`, `as_root::check_keeps_a_live_dashboard_of_another_root` |
//! | 4. a suffix trusted | `sweep_keeps_a_live_dashboard_whose_project_name_ends_in_deleted` |
//! | 5. a path's spelling | `dropping_a_project_keeps_a_dashboard_spelled_through_it_into_another` |
//! | 6. a tree read earlier | `as_root::a_forwarded_signal_never_reaches_a_process_that_took_a_members_pid` |
//!
//! Ports: this file uses only 9780-9799, each test its own ports (see each
//! test), outside spec-kitty's range 9237-9336. Every test stops its victims
//! at the end by identity (also when it fails: the victims' drop) and ends
//! with nothing listening on its ports. The pid-namespace tests run their
//! scenario as the namespace's init: when it ends, the kernel ends whatever
//! is left in there. The root-only tests are in [`as_root`].

mod common;

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

use kitty_core::spec_kitty::DashboardFile;

use common::cleanup::ProcessGuard;
use common::detached::{TOKEN, dashboard_argv, spec_kitty_python};
use common::leakcheck::{after, assert_tool_exit, leakcheck, sweep};
use common::scene::Scene;
use common::victim::{Background, Script, Start, Victim, dashboard_victim};
use common::{
    MINUTE, assert_ports_free, bare_project, has_dashboard_file, identity, port_held, project_on,
    show, wait_for, wait_until,
};

/// A helper that a dashboard's session leader started before it `exec`ed
/// the server: a real HTTP listener (the venv's own Python's `http.server`)
/// on `port`, left in the server's process group, serving `serves` (a
/// directory that outlives the project, so that the helper is a live server
/// by its own class, not an orphan: a group member is judged on its own, and
/// the sweep stops an `http.server` whose served directory is gone).
/// Shell text for a script.
fn helper_line(port: u16, serves: &Path) -> Script {
    Script::new()
        .word(spec_kitty_python())
        .raw(&format!(
            " -m http.server {port} --bind 127.0.0.1 --directory "
        ))
        .word(serves)
        .raw(" </dev/null >/dev/null 2>&1 &\n")
}

/// The script `setsid sh SCRIPT` runs: `helper & exec <the real server>`,
/// writing the helper's pid to `helper_pid`. A script file, so that no
/// process's argv holds the dashboard's command line before the exec.
fn helper_then_server(dir: &Path, project: &Path, port: u16, helper: u16) -> PathBuf {
    let helper_pid = dir.join("helper.pid");
    helper_line(helper, dir)
        .raw("echo $! > ")
        .word(&helper_pid)
        .raw("\nexec ")
        .words(&dashboard_argv(project, port))
        .raw("\n")
        .write(&dir.join(format!("session-{port}.sh")))
}

/// The pid in `file` once it is there.
fn pid_in(file: &Path) -> u32 {
    wait_for(MINUTE, &format!("a pid in {}", file.display()), || {
        std::fs::read_to_string(file).ok()?.trim().parse().ok()
    })
}

// --- 2. Group members nobody judged -------------------------------------------------

/// Class 2, run mode. COMMAND leaks a real 3.2.7 dashboard started as
/// `setsid sh -c 'helper & exec python -m specify_cli.dashboard._server_main
/// DIR PORT TOKEN'`: the helper (a foreign HTTP listener) is in the
/// dashboard's process group. Proves that reaping the leaked dashboard stops
/// the dashboard and nothing else: the helper, never judged, stays alive,
/// unchanged and serving. Ports 9780 (the dashboard) and 9781 (the helper).
#[test]
fn run_mode_spares_a_helper_in_the_leaked_dashboards_group() {
    let scene = Scene::new("kitty-nkp-grun-", "9780-9781");
    let (port, helper_port) = (scene.port(0), scene.port(1));
    let root = scene.path();
    let project = bare_project(root, "leaked");
    let session = helper_then_server(root, &project, port, helper_port);
    let (dash_pid, go) = (root.join("dash.pid"), root.join("go"));
    let command = Script::new()
        .raw("setsid sh ")
        .word(&session)
        .raw(" </dev/null >/dev/null 2>&1 &\necho $! > ")
        .word(&dash_pid)
        .raw("\nuntil [ -e ")
        .word(&go)
        .raw(" ]; do sleep 0.01; done\n")
        .write(&root.join("command.sh"));
    let mut c = leakcheck();
    c.args(["--ports", scene.ports, "--grace", "0", "--", "sh"])
        .arg(&command)
        .env("NO_COLOR", "1");
    common::isolate_home(&mut c, scene.home());
    let run = Background::spawn(&mut c);
    let dashboard = ProcessGuard::of(pid_in(&dash_pid), Some(port));
    let helper = Victim::process(
        "a helper in the dashboard's group (started before its exec)",
        pid_in(&root.join("helper.pid")),
    )
    .serves_http(helper_port);
    helper.wait_serving();
    wait_until("the leaked dashboard to listen", || port_held(port));
    assert_eq!(
        identity(helper.pid()).pgid(),
        dashboard.pid(),
        "set-up: the helper is not in the dashboard's group"
    );
    std::fs::write(&go, "").expect("go");
    let o = run.finish(MINUTE);

    helper.assert_unharmed(&after("the run that leaked its group's dashboard", &o));
    assert!(
        !dashboard.alive(),
        "the leaked dashboard was not stopped\n{}",
        show(&o)
    );
    assert_tool_exit(&o, &[3]);
    helper.stop();
    drop(dashboard);
    scene.assert_clean();
}

/// Class 2, `sweep --yes`. An orphaned real 3.2.7 dashboard (its project
/// deleted) whose session leader started a helper before it `exec`ed the
/// server. Proves that the sweep stops the orphan alone: the helper in its
/// group stays alive, unchanged and serving. Ports 9782 (the dashboard) and
/// 9783 (the helper).
#[test]
fn sweep_spares_a_helper_in_the_orphaned_dashboards_group() {
    let scene = Scene::new("kitty-nkp-gsweep-", "9782-9783");
    let (port, helper_port) = (scene.port(0), scene.port(1));
    let root = scene.path();
    let project = bare_project(root, "orphaned");
    let session = helper_then_server(root, &project, port, helper_port);
    let pid = Start::new(vec!["sh".into(), session.into()], &project, scene.home())
        .runs(dashboard_argv(&project, port))
        .spawn();
    let dashboard = ProcessGuard::of(pid, Some(port));
    let helper = Victim::process(
        "a helper in the orphan's group (started before its exec)",
        pid_in(&root.join("helper.pid")),
    )
    .serves_http(helper_port);
    helper.wait_serving();
    wait_until("the dashboard to listen", || port_held(port));
    std::fs::remove_dir_all(&project).expect("delete the project: an orphan");

    let o = sweep(scene.ports);
    helper.assert_unharmed(&after("`sweep --yes` of its group's orphan", &o));
    assert!(
        !dashboard.alive(),
        "the orphan was not stopped\n{}",
        show(&o)
    );
    assert_tool_exit(&o, &[0]);
    helper.stop();
    drop(dashboard);
    scene.assert_clean();
}

// --- 4. A suffix trusted --------------------------------------------------------------

/// Class 4. A live real 3.2.7 dashboard whose project dir's name really ends
/// in ` (deleted)` (what `/proc` appends to a removed cwd), recorded in its
/// `.kittify/.dashboard`. Proves that the suffix is not taken as "gone":
/// `sweep --yes` leaves the dashboard alive, unchanged and serving, and its
/// `.kittify/.dashboard` as it was. Port 9785.
#[test]
fn sweep_keeps_a_live_dashboard_whose_project_name_ends_in_deleted() {
    let scene = Scene::new("kitty-nkp-suffix-", "9785");
    let project = bare_project(scene.path(), "proj (deleted)");
    let victim = dashboard_victim(
        "a live dashboard of `proj (deleted)`",
        &project,
        scene.port(0),
        scene.home(),
        true,
    );
    let file = Victim::file("its .kittify/.dashboard", &DashboardFile::path_in(&project));

    let o = sweep(scene.ports);
    common::victim::assert_all_unharmed(&[&victim, &file], &after("`sweep --yes`", &o));
    assert_tool_exit(&o, &[0]);
    victim.stop();
    scene.assert_clean();
}

// --- 5. A path's spelling --------------------------------------------------------------

/// Class 5. A live real 3.2.7 dashboard of ANOTHER project, `<tmp>/other`,
/// whose command line spells it `<project>/../<...>/other`, recorded in that
/// project's `.kittify/.dashboard`. Proves that dropping the `KittyProject`
/// at `<project>` (its drop stops every dashboard serving its dir) judges the
/// path, not its spelling: the other dashboard stays alive, unchanged and
/// serving. Ports 9786 (the other dashboard) and 9787 (the project's window).
#[test]
fn dropping_a_project_keeps_a_dashboard_spelled_through_it_into_another() {
    let scene = Scene::new("kitty-nkp-spell-", "9786-9787");
    let port = scene.port(0);
    let other = bare_project(scene.path(), "other");
    let project = project_on("9787");
    let spelled = project
        .path()
        .join("..")
        .join(scene.path().file_name().expect("a name"))
        .join("other");
    assert_eq!(
        spelled.canonicalize().expect("the spelling resolves"),
        other,
        "set-up: the project and the scene must share a parent"
    );
    assert!(spelled.starts_with(project.path()), "set-up: {spelled:?}");
    let pid = Start::new(dashboard_argv(&spelled, port), &other, scene.home()).spawn();
    let victim = Victim::process(
        "a live dashboard of another project, spelled through this one",
        pid,
    )
    .serves_dashboard(port, &other);
    victim.wait_serving();
    DashboardFile::new(port, Some(TOKEN.into()), Some(pid))
        .write(&other)
        .expect("write .kittify/.dashboard");
    let dropped = project.path().to_path_buf();

    drop(project);
    victim.assert_unharmed(&format!(
        "dropping the KittyProject at {}",
        dropped.display()
    ));
    assert!(has_dashboard_file(&other), "the other project's file went");
    victim.stop();
    scene.assert_clean();
}

/// `cargo-kitty-leakcheck` output with the filler of the stderr pipe removed
/// (see class 6), for messages.
fn without_filler(text: &[u8]) -> String {
    String::from_utf8_lossy(text)
        .lines()
        .filter(|l| !l.starts_with(FILLER))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The byte that fills leakcheck's stderr pipe in class 6.
const FILLER: &str = "#";

/// The root-only cases: pid namespaces steered with `ns_last_pid`, and bind
/// mounts for a chroot. The ordinary-user pass leaves this module out
/// (`-E 'not test(/^as_root::/)'`).
mod as_root {
    use super::*;

    use std::fs;
    use std::io::{Read, Write};
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::os::unix::process::CommandExt;
    use std::process::{Command, Stdio};
    use std::time::Duration;

    use kitty_core::PortSet;
    use kitty_fixtures::KittyProject;

    use common::leakcheck::{leakcheck_bin, tool};
    use common::reexec::{Scenario, scenario_is};
    use common::victim::{require_root, require_tool};
    use common::{isolate_home, reaped, spec_kitty};

    /// Makes the next fork in this pid namespace get `pid` (root, in a pid
    /// namespace of our own where nothing else forks meanwhile).
    fn next_pid_is(pid: u32) {
        fs::write("/proc/sys/kernel/ns_last_pid", format!("{}", pid - 1))
            .expect("write /proc/sys/kernel/ns_last_pid (root, in our own pid namespace)");
    }

    /// Runs the `#[ignore]`d scenario `name` as the init of a new pid (and
    /// mount, for its /proc) namespace, to its end; fails unless it passed.
    /// Its `TMPDIR` is a temp dir of ours, removed here even when the
    /// scenario was killed before it could clean up.
    fn run_in_pid_namespace(name: &str) -> String {
        require_root();
        let unshare = require_tool("unshare");
        let tmp = common::temp_root("kitty-nkp-ns-");
        let mut s = Scenario::spawn_under(
            &[
                unshare.as_os_str(),
                OsStr::new("--pid"),
                OsStr::new("--fork"),
                OsStr::new("--mount-proc"),
                OsStr::new("--kill-child"),
            ],
            name,
            |c| {
                c.env("KITTY_SPEC_KITTY", spec_kitty())
                    .env("TMPDIR", tmp.path())
                    .env_remove("KITTY_RESERVATIONS_DIR");
            },
        );
        s.release();
        let out = s.wait_success();
        drop(s);
        drop(tmp);
        out
    }

    // --- 1. A stale identity's number ---------------------------------------------------

    /// Class 1. In a pid namespace of its own (so that `ns_last_pid` steers
    /// deterministically) the scenario starts a real 3.2.7 dashboard with
    /// `KittyProject::start_dashboard`, then kills it and reaps it behind the
    /// fixtures' back (a test that waits for all its children). Its pid D is
    /// free: a double-forked daemon takes it (fork -> pid D, setsid, fork,
    /// the leader exits), so a new session and group numbered D live on with
    /// one member, a real dashboard of another project, recorded there.
    /// Proves that dropping the project stops nothing by the dead dashboard's
    /// group or session NUMBER: that member stays alive, unchanged and
    /// serving. Ports 9788 (the reaped dashboard) and 9789 (the member).
    #[test]
    fn dropping_a_project_whose_dashboard_was_reaped_spares_the_session_that_reused_its_number() {
        let out = run_in_pid_namespace("as_root::scenario_reaped_dashboard_then_its_number_reused");
        assert!(out.contains("NKP-SET-UP ok"), "{out}");
        assert_ports_free("9788-9789");
    }

    /// The inside of
    /// [`dropping_a_project_whose_dashboard_was_reaped_spares_the_session_that_reused_its_number`]
    /// (the init of its pid namespace).
    #[test]
    #[ignore = "a scenario, run by dropping_a_project_whose_dashboard_was_reaped_spares_the_session_that_reused_its_number"]
    fn scenario_reaped_dashboard_then_its_number_reused() {
        if !scenario_is("as_root::scenario_reaped_dashboard_then_its_number_reused") {
            return;
        }
        assert_eq!(std::process::id(), 1, "not the init of a pid namespace");
        let (port, member_port) = (9788, 9789);
        let (root, home) = common::root_and_home("kitty-nkp-stale-");
        let other = bare_project(root.path(), "other");
        let project = KittyProject::builder()
            .spec_kitty(spec_kitty())
            .ports(PortSet::single(port))
            .build()
            .expect("project");
        let d = project.start_dashboard().expect("dashboard");
        let dead = d.pid();
        // It exits, and the test's own wait for any child reaps it.
        // SAFETY: kill(2) of our own child, then waitpid(2) for any child.
        unsafe { libc::kill(dead as libc::pid_t, libc::SIGKILL) };
        wait_until(
            "the dashboard to be reaped by our wait for any child",
            || {
                let mut status = 0;
                // SAFETY: waitpid(2) for any child, without blocking.
                unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
                reaped(dead)
            },
        );
        // The double-forked daemon: its leader gets pid `dead`, calls setsid
        // (sid = pgid = dead), forks the member (a real dashboard of
        // `other`, stdio on /dev/null) and exits.
        let daemon = "import os, sys\n\
            os.setsid()\n\
            pid = os.fork()\n\
            if pid == 0:\n    \
                fd = os.open(os.devnull, os.O_RDWR)\n    \
                [os.dup2(fd, i) for i in (0, 1, 2)]\n    \
                os.execv(sys.argv[1], sys.argv[1:])\n\
            print(pid, flush=True)\n";
        let mut leader = Command::new(spec_kitty_python());
        leader
            .arg("-c")
            .arg(daemon)
            .args(dashboard_argv(&other, member_port))
            .current_dir(&other)
            .stdin(Stdio::null())
            .stderr(Stdio::inherit());
        isolate_home(&mut leader, &home);
        next_pid_is(dead);
        let o = leader.output().expect("the daemon's leader");
        assert!(o.status.success(), "the daemon's leader: {}", show(&o));
        let member: u32 = String::from_utf8_lossy(&o.stdout)
            .trim()
            .parse()
            .expect("the member's pid");
        let id = identity(member);
        assert_eq!(
            (id.sid(), id.pgid()),
            (dead, dead),
            "set-up: the steered fork did not get pid {dead} (something else forked)"
        );
        let victim = Victim::process(
            "the member of a new session that reused the reaped dashboard's number",
            member,
        )
        .serves_dashboard(member_port, &other);
        victim.wait_serving();
        DashboardFile::new(member_port, Some(TOKEN.into()), Some(member))
            .write(&other)
            .expect("write .kittify/.dashboard");
        println!("NKP-SET-UP ok: dashboard {dead} reaped; session {dead} has member {member}");

        drop(project);
        victim.assert_unharmed(&format!(
            "dropping the KittyProject whose dashboard pid {dead} was already reaped"
        ));
        victim.stop();
        drop(root);
    }

    // --- 3. A different root ------------------------------------------------------------

    /// A directory to `chroot` into that shares every namespace with us: the
    /// host's `/usr`, the Python prefix and the venv of spec-kitty
    /// bind-mounted read-only (and `/bin`, `/lib`, `/lib64` as the host has
    /// them), a project and a home inside. Dropping it unmounts everything
    /// (lazily if it must), and removes the directory only when nothing is
    /// mounted below it any more.
    struct Chroot {
        root: PathBuf,
        mounts: Vec<PathBuf>,
    }

    impl Chroot {
        fn new() -> Chroot {
            require_root();
            let mount = require_tool("mount");
            let root = tempfile::Builder::new()
                .prefix("kitty-nkp-chroot-")
                .tempdir()
                .expect("temp dir")
                .keep();
            let mut c = Chroot {
                root,
                mounts: Vec::new(),
            };
            let python = spec_kitty_python();
            let venv = python
                .parent()
                .and_then(Path::parent)
                .expect("<venv>/bin/python");
            let real = python.canonicalize().expect("the real python");
            let prefix = real
                .parent()
                .and_then(Path::parent)
                .expect("<prefix>/bin/python");
            let mut sources: Vec<PathBuf> = vec!["/usr".into(), prefix.into(), venv.into()];
            for top in ["/bin", "/lib", "/lib64", "/sbin"] {
                let inside = c.inside(Path::new(top));
                match fs::read_link(top) {
                    Ok(target) => std::os::unix::fs::symlink(target, inside).expect("symlink"),
                    Err(_) if Path::new(top).is_dir() => sources.push(top.into()),
                    Err(_) => {}
                }
            }
            for src in sources {
                if c.mounts.iter().any(|m| c.inside(&src).starts_with(m)) {
                    continue;
                }
                let dst = c.inside(&src);
                fs::create_dir_all(&dst).expect("mount point");
                for args in [
                    vec![OsStr::new("--bind"), src.as_os_str(), dst.as_os_str()],
                    vec![
                        OsStr::new("-o"),
                        OsStr::new("remount,bind,ro"),
                        dst.as_os_str(),
                    ],
                ] {
                    let o = Command::new(&mount).args(&args).output().expect("mount");
                    if args[0] == "--bind" && o.status.success() {
                        c.mounts.push(dst.clone());
                    }
                    assert!(o.status.success(), "mount {args:?}: {}", show(&o));
                }
            }
            c
        }

        /// Where `path` (absolute, as the chroot sees it) is in our root.
        fn inside(&self, path: &Path) -> PathBuf {
            self.root
                .join(path.strip_prefix("/").expect("an absolute path"))
        }

        fn mounted_below(&self) -> Vec<String> {
            let root = self.root.to_string_lossy().into_owned();
            fs::read_to_string("/proc/self/mountinfo")
                .unwrap_or_default()
                .lines()
                .filter_map(|l| l.split(' ').nth(4).map(str::to_string))
                .filter(|m| m.starts_with(&root))
                .collect()
        }
    }

    impl Drop for Chroot {
        fn drop(&mut self) {
            for m in self.mounts.iter().rev() {
                let ok = Command::new("umount")
                    .arg(m)
                    .status()
                    .is_ok_and(|s| s.success());
                if !ok {
                    let _ = Command::new("umount").arg("-l").arg(m).status();
                }
            }
            let left = self.mounted_below();
            if left.is_empty() {
                let _ = fs::remove_dir_all(&self.root);
            } else {
                eprintln!(
                    "cleanup: still mounted under {}: {left:?}; not removing it",
                    self.root.display()
                );
            }
        }
    }

    /// A live real 3.2.7 dashboard running `chroot`ed into `chroot` (same
    /// pid, mount and network namespaces, another root), of the project
    /// `/<name>/proj` that exists only in that root, recorded in its
    /// `.kittify/.dashboard` there.
    fn dashboard_in_a_chroot(chroot: &Chroot, port: u16) -> Victim {
        let name = chroot.root.file_name().expect("a name").to_owned();
        let project = Path::new("/").join(&name).join("proj");
        let home = Path::new("/").join(&name).join("home");
        for d in [".kittify", "kitty-specs"] {
            fs::create_dir_all(chroot.inside(&project).join(d)).expect("project");
        }
        fs::create_dir_all(chroot.inside(&home)).expect("home");
        assert!(
            !project.exists(),
            "set-up: {project:?} must not exist in our root"
        );
        let server = dashboard_argv(&project, port);
        let mut argv: Vec<OsString> =
            vec![require_tool("chroot").into(), chroot.root.clone().into()];
        argv.extend(server.iter().cloned());
        let pid = Start::new(argv, &chroot.root, &chroot.root)
            .runs(server)
            .env("HOME", &home)
            .env("SPEC_KITTY_HOME", home.join(".spec-kitty"))
            .spawn();
        let victim = Victim::process("a live dashboard in a chroot (another root)", pid)
            .serves_dashboard(port, &project);
        victim.wait_serving();
        DashboardFile::new(port, Some(TOKEN.into()), Some(pid))
            .write(&chroot.inside(&project))
            .expect("write .kittify/.dashboard");
        victim
    }

    /// Class 3, `sweep --yes`. A live real 3.2.7 dashboard in a chroot: its
    /// project dir does not exist in OUR root (it does in its own, and
    /// records it). Proves that "its project dir is gone" is never concluded
    /// from a path that means something else there: the dashboard stays
    /// alive, unchanged and serving (the sweep should say it lives in
    /// another root). Port 9784.
    #[test]
    fn sweep_keeps_a_live_dashboard_of_another_root() {
        let chroot = Chroot::new();
        let victim = dashboard_in_a_chroot(&chroot, 9784);
        let o = sweep("9784");
        victim.assert_unharmed(&after("`sweep --yes` from our root", &o));
        assert_tool_exit(&o, &[0]);
        victim.stop();
        drop(chroot);
        assert_ports_free("9784");
    }

    /// Class 3, `check`. As
    /// [`sweep_keeps_a_live_dashboard_of_another_root`], for `check
    /// --baseline` after a baseline taken before the dashboard started.
    /// Port 9793.
    #[test]
    fn check_keeps_a_live_dashboard_of_another_root() {
        let chroot = Chroot::new();
        let baseline = chroot.root.join("baseline.json");
        let o = tool(&[
            OsStr::new("snapshot"),
            OsStr::new("--ports"),
            OsStr::new("9793"),
            OsStr::new("--output"),
            baseline.as_os_str(),
        ]);
        assert!(o.status.success(), "snapshot failed\n{}", show(&o));
        let victim = dashboard_in_a_chroot(&chroot, 9793);
        let o = tool(&[
            OsStr::new("check"),
            OsStr::new("--baseline"),
            baseline.as_os_str(),
        ]);
        victim.assert_unharmed(&after("`check --baseline` from our root", &o));
        assert_tool_exit(&o, &[0, 3]);
        victim.stop();
        drop(chroot);
        assert_ports_free("9793");
    }

    // --- 6. A tree read earlier ---------------------------------------------------------

    /// Class 6. In a pid namespace of its own, the scenario runs
    /// `cargo-kitty-leakcheck -v --ports 9790-9791 -- python COMMAND` with its
    /// stderr on a pipe the scenario holds, nearly full. COMMAND (in
    /// leakcheck's group, ignoring SIGTERM) forks 60 `sleep`s and then one
    /// more, M, the highest pid. The scenario SIGTERMs leakcheck: it passes
    /// the signal to COMMAND, reads the run's tree, and blocks writing the
    /// `-v` line of one of the first sleeps (the pipe is full): the tree is
    /// read, M is not signalled yet. Then M is killed and reaped, and its pid
    /// goes (`ns_last_pid`) to a real dashboard of another project that the
    /// scenario starts in a session of its own, recorded there. The pipe is
    /// drained; leakcheck goes on. Proves, deterministically, that a pid from
    /// an earlier look at the tree is never signalled without proving it is
    /// still that process: the dashboard stays alive, unchanged and serving.
    #[test]
    fn a_forwarded_signal_never_reaches_a_process_that_took_a_members_pid() {
        let out = run_in_pid_namespace("as_root::scenario_forwarding_after_a_pid_was_reused");
        assert!(out.contains("NKP-SET-UP ok"), "{out}");
        assert_ports_free("9790-9791");
    }

    /// How many `sleep`s COMMAND forks before the member whose pid is reused.
    const DECOYS: usize = 60;
    /// Room left in leakcheck's stderr pipe: COMMAND's `-v` line fits, not
    /// those of all the decoys (about 85 bytes each).
    const ROOM: usize = 2048;

    /// The inside of
    /// [`a_forwarded_signal_never_reaches_a_process_that_took_a_members_pid`]
    /// (the init of its pid namespace).
    #[test]
    #[ignore = "a scenario, run by a_forwarded_signal_never_reaches_a_process_that_took_a_members_pid"]
    fn scenario_forwarding_after_a_pid_was_reused() {
        if !scenario_is("as_root::scenario_forwarding_after_a_pid_was_reused") {
            return;
        }
        assert_eq!(std::process::id(), 1, "not the init of a pid namespace");
        let port = 9790;
        let (root, home) = common::root_and_home("kitty-nkp-fwd-");
        let other = bare_project(root.path(), "other");
        let ready = root.path().join("ready");
        let command = root.path().join("command.py");
        fs::write(
            &command,
            format!(
                "import os, signal\n\
                 kids = []\n\
                 for i in range({n}):\n    \
                     pid = os.fork()\n    \
                     if pid == 0:\n        \
                         os.execv('/bin/sleep', ['sleep', '300'])\n    \
                     kids.append(pid)\n\
                 signal.signal(signal.SIGTERM, signal.SIG_IGN)\n\
                 kids.sort()\n\
                 open({ready:?}, 'w').write(' '.join(map(str, kids)))\n\
                 while True:\n    \
                     try:\n        \
                         os.wait()\n    \
                     except ChildProcessError:\n        \
                         break\n",
                n = DECOYS + 1,
                ready = ready.to_str().expect("utf-8"),
            ),
        )
        .expect("COMMAND");
        // The pipe for leakcheck's stderr: we read it, and keep a writer.
        let mut fds = [0; 2];
        // SAFETY: pipe2(2) into a two-int array.
        assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
        // SAFETY: fresh descriptors from the kernel, owned from here on.
        let (reader, writer) =
            unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        // SAFETY: fcntl(2) on our own pipe.
        let size = unsafe { libc::fcntl(writer.as_raw_fd(), libc::F_SETPIPE_SZ, 65536) };
        assert_eq!(size, 65536, "set-up: the pipe's size");
        let mut filler = fs::File::from(writer.try_clone().expect("dup"));
        let mut stdout = tempfile::tempfile().expect("temp file");
        let mut lk = Command::new(leakcheck_bin());
        common::leakcheck::without_nextest_env(&mut lk)
            .args(["-v", "--ports", "9790-9791", "--grace", "0", "--"])
            .arg(spec_kitty_python())
            .arg(&command)
            .env("NO_COLOR", "1")
            .env_remove("KITTY_PORTS")
            .stdin(Stdio::null())
            .stdout(stdout.try_clone().expect("dup"))
            .stderr(Stdio::from(writer))
            // Its own group, as a shell's job: the namespace's init is in a
            // group whose leader is outside the namespace (getpgrp says 0).
            .process_group(0);
        let spawned = lk.spawn().expect("cargo-kitty-leakcheck");
        // The builder holds a copy of the pipe's write end: without it, the
        // pipe ends when leakcheck and its run are gone.
        drop(lk);
        let mut lk = spawned;
        let kids: Vec<u32> = wait_for(MINUTE, "COMMAND's sleeps", || {
            let s = fs::read_to_string(&ready).ok()?;
            let v: Vec<u32> = s.split(' ').filter_map(|w| w.parse().ok()).collect();
            (v.len() == DECOYS + 1).then_some(v)
        });
        let member = *kids.last().expect("the member");
        // Empty the pipe (nothing else writes now), then fill it but for ROOM bytes.
        set_nonblocking(&reader, true);
        let mut head = Vec::new();
        let mut r = fs::File::from(reader.try_clone().expect("dup"));
        let mut buf = [0u8; 65536];
        while let Ok(n) = r.read(&mut buf) {
            if n == 0 {
                break;
            }
            head.extend_from_slice(&buf[..n]);
        }
        let mut fill = FILLER.repeat(65536 - ROOM - 1).into_bytes();
        fill.push(b'\n');
        filler.write_all(&fill).expect("fill the pipe");
        drop(filler);

        // SAFETY: kill(2) of our own child.
        unsafe { libc::kill(lk.id() as libc::pid_t, libc::SIGTERM) };
        let blocked = common::poll(Duration::from_secs(20), || {
            if let Some(status) = lk.try_wait().expect("try_wait") {
                return Some(Err(status));
            }
            (blocked_writing_stderr(lk.id()) && reaped(kids[0])).then_some(Ok(()))
        });
        if !matches!(blocked, Some(Ok(()))) {
            let mut err = head.clone();
            let _ = r.read_to_end(&mut err);
            let _ = std::io::Seek::rewind(&mut stdout);
            let mut out = String::new();
            let _ = stdout.read_to_string(&mut out);
            panic!(
                "set-up: leakcheck did not block on its stderr after passing SIGTERM on \
                 ({blocked:?}; /proc/PID/syscall {:?})\n--- stdout\n{out}\n--- stderr\n{}",
                fs::read_to_string(format!("/proc/{}/syscall", lk.id())),
                without_filler(&err)
            );
        }
        assert!(
            !reaped(member),
            "set-up: the member was signalled before leakcheck blocked"
        );
        // The member exits and COMMAND reaps it; its pid goes to a dashboard
        // of another project, in a session of its own, our child.
        // SAFETY: kill(2) of a process of our namespace we know.
        unsafe { libc::kill(member as libc::pid_t, libc::SIGKILL) };
        wait_until("the member to be reaped", || reaped(member));
        let server = dashboard_argv(&other, port);
        let mut cmd = Command::new(&server[0]);
        cmd.args(&server[1..])
            .current_dir(&other)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        isolate_home(&mut cmd, &home);
        // SAFETY: setsid(2) is async-signal-safe.
        unsafe {
            cmd.pre_exec(|| {
                libc::setsid();
                Ok(())
            });
        }
        next_pid_is(member);
        let mut dashboard = cmd.spawn().expect("the dashboard");
        assert_eq!(
            dashboard.id(),
            member,
            "set-up: the steered fork did not get the member's pid"
        );
        let victim = Victim::process(
            "a dashboard in another session that took a run member's pid",
            member,
        )
        .serves_dashboard(port, &other);
        victim.wait_serving();
        DashboardFile::new(port, Some(TOKEN.into()), Some(member))
            .write(&other)
            .expect("write .kittify/.dashboard");
        println!("NKP-SET-UP ok: leakcheck blocked; pid {member} is now a dashboard");

        // Drain the pipe: leakcheck goes on with the tree it read.
        set_nonblocking(&reader, false);
        let drain = std::thread::spawn(move || {
            let mut all = head;
            let _ = r.read_to_end(&mut all);
            all
        });
        let status = wait_for(MINUTE, "leakcheck to end", || lk.try_wait().expect("wait"));
        let err = drain.join().expect("the drain");
        let mut out = String::new();
        let _ = std::io::Seek::rewind(&mut stdout);
        let _ = stdout.read_to_string(&mut out);
        victim.assert_unharmed(&format!(
            "leakcheck passed SIGTERM on ({status:?})\n--- stdout\n{out}\n--- stderr (filler removed)\n{}",
            without_filler(&err)
        ));
        victim.stop();
        let _ = dashboard.wait();
        drop(root);
    }

    fn set_nonblocking(fd: &OwnedFd, on: bool) {
        // SAFETY: fcntl(2) on our own descriptor.
        unsafe {
            let flags = libc::fcntl(fd.as_raw_fd(), libc::F_GETFL);
            let flags = if on {
                flags | libc::O_NONBLOCK
            } else {
                flags & !libc::O_NONBLOCK
            };
            libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags);
        }
    }

    /// Whether `pid` sleeps in a `write(2)` to its fd 2 (`/proc/PID/syscall`).
    fn blocked_writing_stderr(pid: u32) -> bool {
        let s = fs::read_to_string(format!("/proc/{pid}/syscall")).unwrap_or_default();
        let mut w = s.split_whitespace();
        w.next() == Some(&libc::SYS_write.to_string()) && w.next() == Some("0x2")
    }
}
