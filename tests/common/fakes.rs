//! Venvs whose `python3` is a FAKE interpreter from `tests/fakes/` (see its
//! README): for start-up faults the real dashboard cannot show.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use kitty_core::ProcessIdentity;

use super::cleanup::stop_leftover;
use super::{temp_root, workspace_root};

/// A temp venv whose `bin/python3` is `tests/fakes/<fake>` (with `@PIDFILE@`
/// and the given placeholders filled in) and whose `bin/spec-kitty` names it
/// in its shebang.
///
/// It is the guard of everything the fake runs: dropping it, on every path
/// (a failed assertion's unwinding included), stops and waits for whatever
/// the fake ran that is still alive and ours, and waits for the port the
/// fake was told to bind (`PORT`) to close. "Ours" is either of two marks:
/// the pids the fake recorded that carry this process's pid in
/// `KITTY_FIXTURES_OWNER` (which kitty-fixtures sets on every dashboard), or
/// any process carrying [`FAKE_VENV_ENV`] with this venv's path, which the
/// fake exports before it starts anything (so a server it forked is found
/// even if it was not recorded, e.g. when the fake was killed first).
pub struct FakeVenv {
    dir: tempfile::TempDir,
    port: Option<u16>,
}

/// The environment variable each fake exports (the venv's path) before it
/// starts anything: every process it starts carries it.
pub const FAKE_VENV_ENV: &str = "KITTY_E2E_FAKE_VENV";

impl FakeVenv {
    /// The fake `fake`, with `@NAME@` replaced by each `(NAME, value)`.
    pub fn new(fake: &str, fill: &[(&str, String)]) -> FakeVenv {
        let dir = temp_root("kitty-e2e-fake-venv-");
        let bin = dir.path().join("bin");
        std::fs::create_dir_all(&bin).expect("bin");
        let source = workspace_root().join("tests/fakes").join(fake);
        let mut text = std::fs::read_to_string(&source)
            .expect("fake script")
            .replace("@PIDFILE@", &dir.path().join("pids").display().to_string());
        for (name, value) in fill {
            text = text.replace(&format!("@{name}@"), value);
        }
        // The mark of all the fake starts, right after the shebang.
        let mark = format!(
            "{FAKE_VENV_ENV}='{}'; export {FAKE_VENV_ENV}\n",
            dir.path().display()
        );
        let at = text.find('\n').map_or(0, |i| i + 1);
        text.insert_str(at, &mark);
        let port = fill
            .iter()
            .find(|(name, _)| *name == "PORT")
            .and_then(|(_, v)| v.parse::<u16>().ok())
            .filter(|p| *p != 0);
        let python = bin.join("python3");
        std::fs::write(&python, text).expect("write python3");
        make_executable(&python);
        let exe = bin.join("spec-kitty");
        std::fs::write(
            &exe,
            format!("#!{}\n# fake spec-kitty console script\n", python.display()),
        )
        .expect("spec-kitty");
        make_executable(&exe);
        FakeVenv { dir, port }
    }

    /// Links the real venv's `lib/` in, so that kitty-fixtures finds the
    /// release's command form next to the fake.
    pub fn with_lib_of(self, real_python: &Path) -> FakeVenv {
        std::os::unix::fs::symlink(
            venv_of(real_python).join("lib"),
            self.dir.path().join("lib"),
        )
        .expect("symlink lib/");
        self
    }

    /// Its `spec-kitty`.
    pub fn spec_kitty(&self) -> PathBuf {
        self.dir.path().join("bin/spec-kitty")
    }

    /// Every pid the fake recorded: itself, then what it forked.
    pub fn pids(&self) -> Vec<u32> {
        std::fs::read_to_string(self.dir.path().join("pids"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect()
    }
}

impl FakeVenv {
    /// What the fake ran that is still alive and ours (see [`FakeVenv`]).
    fn leftovers(&self) -> Vec<ProcessIdentity> {
        let me = std::process::id().to_string();
        let mark = self.dir.path().as_os_str();
        let recorded = self.pids();
        let mut pids = recorded.clone();
        if let Ok(dir) = std::fs::read_dir("/proc") {
            pids.extend(
                dir.flatten()
                    .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok()),
            );
        }
        pids.sort_unstable();
        pids.dedup();
        pids.into_iter()
            .filter(|pid| *pid != std::process::id())
            .filter_map(ProcessIdentity::read)
            .filter(|id| {
                id.env_var(FAKE_VENV_ENV).as_deref() == Some(mark)
                    || id.env_var(kitty_fixtures::OWNER_ENV).as_deref()
                        == Some(std::ffi::OsStr::new(&me))
                        && recorded.contains(&id.pid())
            })
            .collect()
    }
}

impl Drop for FakeVenv {
    fn drop(&mut self) {
        // A few rounds: a shell stopped mid-fork may have started one more.
        for _ in 0..3 {
            let left = self.leftovers();
            if left.is_empty() {
                break;
            }
            for id in &left {
                stop_leftover(id, None);
            }
        }
        // A recorded pid that is our child and already exited (the fake's
        // shell, once its server was stopped) is reaped: our own child's
        // pid cannot be reused before that.
        for pid in self.pids() {
            if is_our_child(pid)
                && let Some(pid) = rustix::process::Pid::from_raw(pid as i32)
            {
                let _ = rustix::process::waitpid(Some(pid), rustix::process::WaitOptions::NOHANG);
            }
        }
        if let Some(port) = self.port
            && super::poll(std::time::Duration::from_secs(5), || {
                super::port_free(port).then_some(())
            })
            .is_none()
        {
            eprintln!("cleanup: port {port} of the fake is still held");
        }
    }
}

/// Whether `pid` is a child of this process (its parent pid in /proc/PID/stat).
fn is_our_child(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
    stat.rsplit_once(") ")
        .and_then(|(_, rest)| rest.split_whitespace().nth(1))
        .and_then(|ppid| ppid.parse::<u32>().ok())
        == Some(std::process::id())
}

/// The venv of `<venv>/bin/python`.
pub fn venv_of(python: &Path) -> PathBuf {
    python
        .parent()
        .and_then(Path::parent)
        .expect("<venv>/bin/python")
        .to_path_buf()
}

/// `chmod 755`.
pub fn make_executable(path: &Path) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}
