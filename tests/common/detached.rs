//! Real dashboards started the way spec-kitty starts them: the server command
//! of the installed release (`SpecKitty::server_command`), in a session of its
//! own (`setsid`), stdio on /dev/null, in the background, so that it is
//! re-parented away from whoever started it: a real leak, but without the
//! CLI's 3 s of imports.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use kitty_core::ProcessIdentity;
use kitty_fixtures::SpecKitty;

use super::cleanup::ProcessGuard;
use super::{MINUTE, isolate_home, port_held, spec_kitty, wait_for, wait_until};

/// The token of every dashboard the tests start themselves (32 hex digits,
/// like spec-kitty's), to check that none is ever printed.
pub const TOKEN: &str = "0123456789abcdef0123456789abcdef";

/// The spec-kitty under test: its executable, python and command form.
pub fn installation() -> SpecKitty {
    SpecKitty::locate(Some(&spec_kitty())).expect("spec-kitty")
}

/// The python interpreter of the spec-kitty under test.
pub fn spec_kitty_python() -> PathBuf {
    installation().python
}

/// The command line of the dashboard server of `project` on `port` (with
/// [`TOKEN`]), exactly as this release's `spec-kitty dashboard` spawns it.
pub fn dashboard_argv(project: &Path, port: u16) -> Vec<OsString> {
    let server = installation()
        .server_command(project, port, TOKEN)
        .expect("a release with a dashboard");
    std::iter::once(server.get_program())
        .chain(server.get_args())
        .map(OsStr::to_owned)
        .collect()
}

/// One shell word.
fn sh_quote(word: &OsStr) -> String {
    format!("'{}'", word.to_string_lossy().replace('\'', r"'\''"))
}

/// The shell line that starts `argv` detached as spec-kitty does (its own
/// session, stdio on /dev/null, in the background: `$!` is its pid).
pub fn setsid_line(argv: &[impl AsRef<OsStr>]) -> String {
    let words: Vec<String> = argv.iter().map(|w| sh_quote(w.as_ref())).collect();
    format!("setsid {} </dev/null >/dev/null 2>&1 &", words.join(" "))
}

/// Starts `argv` detached (see [`setsid_line`]) with its home isolated in
/// `home`, re-parented away from this process; returns it once it runs `argv`.
pub fn spawn_detached(argv: &[impl AsRef<OsStr>], home: &Path) -> ProcessGuard {
    spawn_detached_in(argv, None, home)
}

/// [`spawn_detached`] in the working directory `cwd`.
pub fn spawn_detached_in(
    argv: &[impl AsRef<OsStr>],
    cwd: Option<&Path>,
    home: &Path,
) -> ProcessGuard {
    spawn_detached_with(argv, cwd, home, None, &[])
}

/// [`spawn_detached`] with `env` added to its environment.
pub fn spawn_detached_env(
    argv: &[impl AsRef<OsStr>],
    home: &Path,
    env: &[(&str, &OsStr)],
) -> ProcessGuard {
    spawn_detached_with(argv, None, home, None, env)
}

/// [`spawn_detached_in`], carrying the leakcheck run label `label` in its
/// environment (as every process of a labelled run does).
fn spawn_detached_with(
    argv: &[impl AsRef<OsStr>],
    cwd: Option<&Path>,
    home: &Path,
    label: Option<&str>,
    env: &[(&str, &OsStr)],
) -> ProcessGuard {
    let mut sh = Command::new("sh");
    sh.arg("-c")
        .arg(format!("{}\necho $!", setsid_line(argv)))
        .stdin(Stdio::null())
        .stderr(Stdio::inherit());
    if let Some(cwd) = cwd {
        sh.current_dir(cwd);
    }
    isolate_home(&mut sh, home);
    if let Some(label) = label {
        sh.env(kitty_core::RUN_LABEL_ENV, label);
    }
    sh.envs(env.iter().copied());
    let out = sh.output().expect("run sh");
    assert!(out.status.success(), "sh failed: {out:?}");
    let pid: u32 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("a pid");
    // The exec may not have happened yet (sh, then setsid, then the program in
    // the same pid): wait for the command line to be the one we asked for.
    let want: Vec<OsString> = argv.iter().map(|a| a.as_ref().to_owned()).collect();
    let identity = wait_for(MINUTE, &format!("pid {pid} to run {want:?}"), || {
        ProcessIdentity::read(pid).filter(|id| id.argv() == want.as_slice())
    });
    ProcessGuard {
        identity,
        port: None,
    }
}

/// Starts a real dashboard server for `project` on `port` detached, as
/// spec-kitty does, with its home isolated in `home`, and waits until it listens.
pub fn start_dashboard(project: &Path, port: u16, home: &Path) -> ProcessGuard {
    start_dashboard_in(project, None, port, home)
}

/// [`start_dashboard`] carrying the leakcheck run label `label`.
pub fn start_labelled_dashboard(
    project: &Path,
    port: u16,
    home: &Path,
    label: &str,
) -> ProcessGuard {
    let mut d = spawn_detached_with(&dashboard_argv(project, port), None, home, Some(label), &[]);
    d.port = Some(port);
    wait_until(&format!("the dashboard on {port} to listen"), || {
        port_held(port) || !d.alive()
    });
    assert!(
        d.alive(),
        "detached dashboard pid {} on {port} died at start-up",
        d.pid()
    );
    d
}

/// [`start_dashboard`] with the project named as `project` on the command
/// line (e.g. `.`) and the process started in `cwd`.
pub fn start_dashboard_in(
    project: &Path,
    cwd: Option<&Path>,
    port: u16,
    home: &Path,
) -> ProcessGuard {
    let mut d = spawn_detached_in(&dashboard_argv(project, port), cwd, home);
    d.port = Some(port);
    wait_until(&format!("the dashboard on {port} to listen"), || {
        port_held(port) || !d.alive()
    });
    assert!(
        d.alive() && port_held(port),
        "detached dashboard pid {} on {port} died at start-up (port taken?)",
        d.pid()
    );
    d
}

/// A shell line (for a COMMAND) that starts, detached in its own session as
/// spec-kitty does, `sh -c 'sleep 0.3; exec <this release's dashboard command
/// line>'` with `$0` naming the server module (so the process names the
/// server before it is one), writes its pid to `pidfile`, and goes on: when
/// the COMMAND ends, the dashboard is still between fork and exec.
pub fn pending_exec_line(project: &Path, port: u16, pidfile: &Path) -> String {
    let server: Vec<String> = dashboard_argv(project, port)
        .iter()
        .map(|w| sh_quote(w))
        .collect();
    let inner = format!("sleep 0.3; exec {}", server.join(" "));
    format!(
        "{}\necho $! > {}",
        setsid_line(&[
            OsStr::new("sh"),
            OsStr::new("-c"),
            OsStr::new(&inner),
            OsStr::new(kitty_core::spec_kitty::SERVER_MODULE)
        ]),
        sh_quote(pidfile.as_os_str())
    )
}

/// The process [`pending_exec_line`] started: its pid is read from the pid
/// file, and when the guard drops (also when the test failed first) it is
/// given the time to exec, then stopped if it is a dashboard.
pub struct PendingExec(pub u32);

impl PendingExec {
    /// Waits for the pid file of [`pending_exec_line`].
    pub fn of(pidfile: &Path) -> PendingExec {
        PendingExec(wait_for(MINUTE, "the pending pid", || {
            std::fs::read_to_string(pidfile).ok()?.trim().parse().ok()
        }))
    }
}

impl Drop for PendingExec {
    fn drop(&mut self) {
        use kitty_core::spec_kitty::ProcessKind;
        // `sh -c 'sleep 0.3; exec python ...'`: not a dashboard (yet), or gone.
        let settled = super::poll(MINUTE, || match ProcessIdentity::read(self.0) {
            None => Some(None),
            Some(id) if matches!(ProcessKind::of(&id), ProcessKind::Dashboard(_)) => Some(Some(id)),
            Some(_) => None,
        });
        if let Some(Some(id)) = settled {
            super::cleanup::stop_leftover(&id, None);
        }
    }
}
