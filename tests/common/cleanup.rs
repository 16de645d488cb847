//! What a test must stop or remove at its end, also when it fails first: the
//! processes are stopped only by identity (a reused pid is never signalled).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use kitty_core::spec_kitty::FoundDashboard;
use kitty_core::{self, ProcessIdentity, StopPolicy};
use kitty_fixtures::{Dashboard, KittyProject};

use super::reexec::Report;
use super::{assert_no_dashboard_under, dashboards_under, describe, identity, poll, port_free};

/// The policy of the end-of-test stops: quick, a leftover is already a failure.
const LEFTOVER: StopPolicy = StopPolicy {
    term_grace: Duration::from_secs(1),
    kill_grace: Duration::from_secs(2),
};

/// Stops `id` (and waits for `port` to close) if it is still the same
/// process: whatever a failing test left running.
pub fn stop_leftover(id: &ProcessIdentity, port: Option<u16>) {
    if id.is_still_alive() {
        eprintln!(
            "cleanup: stopping leftover pid {} (port {port:?})",
            id.pid()
        );
        if let Err(e) = stop_pinned(id, port, LEFTOVER) {
            eprintln!("cleanup: {e}");
        }
    }
}

/// The tests' own stop of a process they started (the crates' `stop` takes
/// a permit only their judge or spawner mints): pin `id` with a pidfd, check
/// after pinning that it is still the same process, SIGTERM it through the
/// pidfd, SIGKILL after `policy.term_grace`, then wait for `port` to close.
pub fn stop_pinned(
    id: &ProcessIdentity,
    port: Option<u16>,
    policy: StopPolicy,
) -> Result<(), String> {
    use rustix::event::{PollFd, PollFlags, Timespec};
    use rustix::process::{Pid, PidfdFlags, Signal, pidfd_open, pidfd_send_signal};
    let pid = Pid::from_raw(id.pid() as i32).ok_or("pid 0")?;
    let Ok(fd) = pidfd_open(pid, PidfdFlags::empty()) else {
        return Ok(()); // gone
    };
    if !id.is_still_alive() {
        return Ok(());
    }
    let exited = |limit: Duration| {
        let ts = Timespec {
            tv_sec: limit.as_secs() as i64,
            tv_nsec: i64::from(limit.subsec_nanos()),
        };
        let mut fds = [PollFd::new(&fd, PollFlags::IN)];
        matches!(rustix::event::poll(&mut fds, Some(&ts)), Ok(n) if n > 0)
    };
    let _ = pidfd_send_signal(&fd, Signal::TERM);
    if !exited(policy.term_grace) {
        let _ = pidfd_send_signal(&fd, Signal::KILL);
        if !exited(policy.kill_grace) {
            return Err(format!("pid {} survived SIGKILL", id.pid()));
        }
    }
    let _ = rustix::process::waitid(
        rustix::process::WaitId::PidFd(std::os::fd::AsFd::as_fd(&fd)),
        rustix::process::WaitIdOptions::EXITED | rustix::process::WaitIdOptions::NOHANG,
    );
    if let Some(port) = port
        && poll(Duration::from_secs(5), || port_free(port).then_some(())).is_none()
    {
        return Err(format!(
            "port {port} still held after pid {} ended",
            id.pid()
        ));
    }
    Ok(())
}

/// A process a test started or must not leave behind: stopped (whole group,
/// only if still the same process) when dropped.
pub struct ProcessGuard {
    /// Who it is.
    pub identity: ProcessIdentity,
    /// The port it listens on, if known (the stop waits until it is closed).
    pub port: Option<u16>,
}

impl ProcessGuard {
    /// Guards the running process `pid`.
    pub fn of(pid: u32, port: Option<u16>) -> ProcessGuard {
        ProcessGuard {
            identity: identity(pid),
            port,
        }
    }

    pub fn pid(&self) -> u32 {
        self.identity.pid()
    }

    pub fn alive(&self) -> bool {
        self.identity.is_still_alive()
    }

    /// Stops it now, as the test's own step: fails the test if it cannot.
    pub fn stop(self) {
        let stopped = stop_pinned(&self.identity, self.port, StopPolicy::default());
        assert!(
            stopped.is_ok(),
            "could not stop pid {}: {stopped:?}",
            self.pid()
        );
    }
}

impl Drop for ProcessGuard {
    fn drop(&mut self) {
        stop_leftover(&self.identity, self.port);
    }
}

/// The end state every stopped dashboard must reach: the process is gone (and
/// reaped when it was our child), nothing listens on its port.
pub fn assert_stopped(id: &ProcessIdentity, port: u16) {
    assert!(
        !id.is_still_alive(),
        "dashboard pid {} still running",
        id.pid()
    );
    assert!(
        port_free(port),
        "port {port} still held after pid {} was stopped",
        id.pid()
    );
}

/// Drops `project` (its `Drop` is what is under test), then checks that each
/// of its `dashboards` (identity, port) reached the end state of
/// [`assert_stopped`] and that no dashboard serving its dir is left. Returns the dir.
pub fn drop_and_assert_stopped(
    project: KittyProject,
    dashboards: &[(&ProcessIdentity, u16)],
) -> PathBuf {
    let dir = project.path().to_path_buf();
    drop(project);
    for (id, port) in dashboards {
        assert_stopped(id, *port);
    }
    assert_no_dashboard_under(&dir);
    dir
}

/// Everything a test started that must not outlive it, stopped (by identity
/// only) or removed when the guard drops, also when the test fails.
#[derive(Default)]
pub struct Cleanup {
    processes: Vec<ProcessGuard>,
    children: Vec<Child>,
    dirs: Vec<PathBuf>,
}

impl Cleanup {
    /// A new, empty guard.
    pub fn new() -> Self {
        Self::default()
    }

    /// Stops `pid` (with its group, and waits for `port`) at the end if it is
    /// still the same process.
    pub fn process(&mut self, pid: u32, port: Option<u16>) -> ProcessIdentity {
        self.guard(ProcessGuard::of(pid, port))
    }

    /// Stops what `guard` guards at the end (with the rest, in order).
    pub fn guard(&mut self, guard: ProcessGuard) -> ProcessIdentity {
        let id = guard.identity.clone();
        self.processes.push(guard);
        id
    }

    /// Stops the dashboard `d` at the end.
    pub fn dashboard(&mut self, d: &Dashboard) -> ProcessIdentity {
        self.process(d.pid(), Some(d.port()))
    }

    /// Stops the dashboard a scenario reported, and removes its project dir
    /// and home, at the end.
    pub fn report(&mut self, r: &Report) -> ProcessIdentity {
        self.dir(&r.dir);
        self.dir(&r.home);
        self.process(r.pid, Some(r.port))
    }

    /// Every live dashboard serving a project under `dir`, each stopped at the end.
    pub fn dashboards_under(&mut self, dir: &Path) -> Vec<FoundDashboard> {
        let found = dashboards_under(dir);
        for d in &found {
            self.guard(ProcessGuard {
                identity: d.identity.clone(),
                port: d.command.port,
            });
        }
        found
    }

    /// Runs `cmd` (a `spec-kitty dashboard` in `dir`) to its end, stops at the
    /// end whatever dashboard it left under `dir` (also when it failed), and
    /// fails the test unless it succeeded. Returns those dashboards and its output.
    pub fn dashboard_cli(
        &mut self,
        cmd: &mut Command,
        dir: &Path,
    ) -> (Vec<FoundDashboard>, String) {
        let (status, out) = run_with_deadline(cmd, Duration::from_secs(60));
        let found = self.dashboards_under(dir);
        assert!(
            status.success(),
            "spec-kitty dashboard: {}\n{out}",
            describe(status)
        );
        (found, out)
    }

    /// Kills and reaps `child` at the end.
    pub fn child(&mut self, child: Child) -> &mut Child {
        self.children.push(child);
        self.children.last_mut().expect("just pushed")
    }

    /// An unrelated process (`sleep 300`, our child) that nothing may signal;
    /// killed and reaped at the end.
    pub fn sentinel(&mut self) -> &mut Child {
        let sleep = Command::new("sleep")
            .arg("300")
            .stdin(Stdio::null())
            .spawn()
            .expect("sleep");
        self.child(sleep)
    }

    /// Removes `dir` at the end (after the processes are stopped).
    pub fn dir(&mut self, dir: impl Into<PathBuf>) {
        self.dirs.push(dir.into());
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        self.processes.clear();
        for d in &self.dirs {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

/// Runs `cmd` to its end (stdio to temp files), killing it after `limit`.
/// Returns its status and its output (stdout then stderr), tokens masked.
pub fn run_with_deadline(cmd: &mut Command, limit: Duration) -> (ExitStatus, String) {
    use std::io::{Read, Seek};
    let out = tempfile::tempfile().expect("temp file");
    let err = tempfile::tempfile().expect("temp file");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(out.try_clone().expect("dup"))
        .stderr(err.try_clone().expect("dup"))
        .spawn()
        .expect("spawn");
    let Some(status) = poll(limit, || child.try_wait().expect("try_wait")) else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("{cmd:?} did not end within {limit:?}");
    };
    let read = |mut f: std::fs::File| {
        let mut s = String::new();
        let _ = f.rewind();
        let _ = f.read_to_string(&mut s);
        s
    };
    (status, kitty_core::mask_tokens(&(read(out) + &read(err))))
}
