//! This test binary, re-executed to run one `#[ignore]`d scenario test in a
//! child process (for the ways a test process can end, and for what is
//! process-wide, such as the environment). A scenario prints a [`Report`] line
//! for each dashboard it started and waits ([`hold`]) until the outer test has
//! recorded it and closes its stdin.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kitty_fixtures::{Dashboard, KittyProject};

use super::{MINUTE, describe, eventually, poll};

/// The environment variable naming the scenario a re-executed test binary runs.
pub const SCENARIO_ENV: &str = "KITTY_E2E_SCENARIO";
/// The prefix of the line a scenario prints for each dashboard it started.
pub const REPORT: &str = "KITTY_E2E_REPORT";

/// What a scenario printed about one dashboard it started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The dashboard's pid.
    pub pid: u32,
    /// Its port.
    pub port: u16,
    /// The project's isolated spec-kitty home.
    pub home: PathBuf,
    /// The project dir.
    pub dir: PathBuf,
}

/// Prints the [`Report`] line of a dashboard (never its token).
pub fn report_line(pid: u32, port: u16, home: &Path, dir: &Path) {
    println!(
        "{REPORT} pid={pid} port={port} home={} dir={}",
        home.display(),
        dir.display()
    );
}

/// In a scenario: reports `dashboard` of `project`, then [`hold`]s.
pub fn report_and_hold(dashboard: &Dashboard, project: &KittyProject) {
    report_line(
        dashboard.pid(),
        dashboard.port(),
        project.home(),
        project.path(),
    );
    hold();
}

/// In a scenario: starts a dashboard of `project`, reports it and [`hold`]s.
pub fn serve_and_hold(project: &KittyProject) -> Dashboard {
    let d = project.start_dashboard().expect("dashboard");
    report_and_hold(&d, project);
    d
}

fn parse_report(line: &str) -> Option<Report> {
    // libtest may have printed `test name ... ` on the same line first.
    let rest = line[line.find(REPORT)? + REPORT.len()..].trim();
    let (head, dir) = rest.split_once(" dir=")?;
    let (head, home) = head.split_once(" home=")?;
    let mut pid = None;
    let mut port = None;
    for part in head.split(' ') {
        if let Some(v) = part.strip_prefix("pid=") {
            pid = v.parse().ok();
        } else if let Some(v) = part.strip_prefix("port=") {
            port = v.parse().ok();
        }
    }
    Some(Report {
        pid: pid?,
        port: port?,
        home: home.into(),
        dir: dir.into(),
    })
}

/// True in a scenario test when this process was started to run `name`.
/// Scenario tests are `#[ignore]`d and return at once unless this holds.
pub fn scenario_is(name: &str) -> bool {
    std::env::var(SCENARIO_ENV).as_deref() == Ok(name)
}

/// In a scenario: blocks until the outer test closes our stdin (or dies).
pub fn hold() {
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
}

/// A child process running one scenario test of this test binary.
pub struct Scenario {
    name: String,
    child: Child,
    lines: Receiver<String>,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
}

impl Scenario {
    /// Re-executes this test binary to run the `#[ignore]`d test `name` alone,
    /// with `SCENARIO_ENV=name`, `KITTY_SPEC_KITTY` set, core dumps off, in its
    /// own process group (as nextest runs a test), stdin a pipe (see [`hold`]).
    pub fn spawn(name: &str, envs: &[(&str, &str)]) -> Scenario {
        Self::spawn_with(name, |c| {
            c.envs(envs.iter().copied());
        })
    }

    /// [`Scenario::spawn`] with full control of the command (e.g. to remove variables).
    pub fn spawn_with(name: &str, tweak: impl FnOnce(&mut Command)) -> Scenario {
        Self::spawn_under(&[], name, tweak)
    }

    /// [`Scenario::spawn_with`], the test binary run by the command line
    /// `wrapper` (e.g. `unshare --pid --fork --mount-proc`: the scenario is
    /// then its namespace's init). An empty `wrapper` runs it directly.
    pub fn spawn_under(
        wrapper: &[&OsStr],
        name: &str,
        tweak: impl FnOnce(&mut Command),
    ) -> Scenario {
        let exe = std::env::current_exe().expect("current exe");
        let mut cmd = match wrapper.split_first() {
            Some((program, args)) => {
                let mut c = Command::new(program);
                c.args(args).arg(exe);
                c
            }
            None => Command::new(exe),
        };
        cmd.args([
            "--exact",
            name,
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(SCENARIO_ENV, name)
        .env_remove("RUST_BACKTRACE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
        if let Some(sk) = std::env::var_os("KITTY_SPEC_KITTY") {
            cmd.env("KITTY_SPEC_KITTY", sk);
        }
        // SAFETY: setrlimit is async-signal-safe; no allocation in the closure.
        unsafe {
            cmd.pre_exec(|| {
                let zero = libc::rlimit {
                    rlim_cur: 0,
                    rlim_max: 0,
                };
                libc::setrlimit(libc::RLIMIT_CORE, &zero);
                Ok(())
            });
        }
        tweak(&mut cmd);
        let mut child = cmd.spawn().expect("re-execute the test binary");
        let stdout = Arc::new(Mutex::new(String::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let (tx, lines) = mpsc::channel();
        let out = child.stdout.take().expect("stdout");
        let all = Arc::clone(&stdout);
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                all.lock().expect("lock").push_str(&format!("{line}\n"));
                let _ = tx.send(line);
            }
        });
        let err = child.stderr.take().expect("stderr");
        let all = Arc::clone(&stderr);
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = BufReader::new(err).read_to_string(&mut text);
            all.lock().expect("lock").push_str(&text);
        });
        Scenario {
            name: name.into(),
            child,
            lines,
            stdout,
            stderr,
        }
    }

    /// The child's pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything the child printed so far (for failure messages).
    pub fn output(&self) -> String {
        format!(
            "--- {} stdout ---\n{}--- stderr ---\n{}",
            self.name,
            self.stdout.lock().expect("lock"),
            self.stderr.lock().expect("lock")
        )
    }

    /// Waits (up to a minute) for the next [`Report`] line.
    pub fn next_report(&mut self) -> Report {
        let deadline = Instant::now() + MINUTE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    if let Some(r) = parse_report(&line) {
                        return r;
                    }
                }
                Err(_) => panic!("no report from scenario {}:\n{}", self.name, self.output()),
            }
        }
    }

    /// Closes the child's stdin (ends [`hold`]).
    pub fn release(&mut self) {
        drop(self.child.stdin.take());
    }

    /// Sends `sig` to the child process, or to its whole group.
    pub fn signal(&self, sig: libc::c_int, whole_group: bool) {
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: plain kill(2) of our own unreaped child (or its group).
        let r = unsafe { libc::kill(if whole_group { -pid } else { pid }, sig) };
        assert_eq!(r, 0, "kill: {}", std::io::Error::last_os_error());
    }

    /// Waits (up to a minute) for the child to end and for its output to be read.
    pub fn wait(&mut self) -> ExitStatus {
        let Some(status) = poll(MINUTE, || self.child.try_wait().expect("try_wait")) else {
            let _ = self.child.kill();
            panic!("scenario {} did not end:\n{}", self.name, self.output());
        };
        // Let the reader threads catch the last lines.
        let _ = eventually(Duration::from_secs(2), || {
            Arc::strong_count(&self.stderr) == 1 && Arc::strong_count(&self.stdout) == 1
        });
        status
    }

    /// [`Scenario::wait`], failing the test unless the scenario passed;
    /// returns its output.
    pub fn wait_success(&mut self) -> String {
        let status = self.wait();
        let out = self.output();
        assert!(status.success(), "{}\n{out}", describe(status));
        out
    }
}

impl Drop for Scenario {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            // SAFETY: kill(2) of the group of our own unreaped child.
            unsafe { libc::kill(-(self.child.id() as libc::pid_t), libc::SIGKILL) };
        }
        let _ = self.child.wait();
    }
}
