//! Finding spec-kitty and its interpreter, building the server command, and
//! waiting for readiness.

use std::fs;
use std::io::{self, Read, Seek, SeekFrom};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::probe::{self, CommandForm, SERVER_MODULE};

/// The environment variable naming the `spec-kitty` executable.
pub const SPEC_KITTY_ENV: &str = "KITTY_SPEC_KITTY";

/// One spec-kitty installation: its CLI, its Python, and which child command
/// line its release uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecKitty {
    /// The `spec-kitty` executable.
    pub executable: PathBuf,
    /// The interpreter its console script runs with.
    pub python: PathBuf,
    /// `Module` for releases that ship `specify_cli.dashboard._server_main` (3.x), else `Script`.
    pub form: CommandForm,
}

impl SpecKitty {
    /// Finds spec-kitty: `explicit`, else `KITTY_SPEC_KITTY`, else `spec-kitty` on `PATH`.
    pub fn locate(explicit: Option<&Path>) -> Result<SpecKitty, Error> {
        let executable = match explicit {
            Some(p) => existing(p, "the builder")?,
            None => match std::env::var_os(SPEC_KITTY_ENV) {
                Some(p) if !p.is_empty() => existing(Path::new(&p), SPEC_KITTY_ENV)?,
                _ => on_path("spec-kitty").ok_or(Error::SpecKittyNotFound)?,
            },
        };
        let python = interpreter_of(&executable)?;
        let form = if ships_server_module(&python) {
            CommandForm::Module
        } else {
            CommandForm::Script
        };
        Ok(SpecKitty {
            executable,
            python,
            form,
        })
    }

    /// The dashboard server for `project_dir` on `port` with `token`, exactly
    /// as this release's `spec-kitty dashboard` spawns it (minus the new session:
    /// the caller decides the process group).
    pub fn server_command(&self, project_dir: &Path, port: u16, token: &str) -> Command {
        let mut cmd = Command::new(&self.python);
        match self.form {
            CommandForm::Module => {
                cmd.arg("-m")
                    .arg(SERVER_MODULE)
                    .arg(project_dir)
                    .arg(port.to_string())
                    .arg(token);
            }
            CommandForm::Script => {
                cmd.arg("-c").arg(format!(
                    "from pathlib import Path\nfrom specify_cli.dashboard.server import run_dashboard_server\n\
                     run_dashboard_server(Path({}), {port}, {})\n",
                    py_repr(&project_dir.to_string_lossy()),
                    py_repr(token)
                ));
            }
        }
        cmd
    }
}

fn existing(p: &Path, source_name: &'static str) -> Result<PathBuf, Error> {
    if p.is_file() {
        Ok(p.to_path_buf())
    } else {
        Err(Error::SpecKittyMissing {
            path: p.to_path_buf(),
            source_name,
        })
    }
}

fn on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// Reads the interpreter from a console script: `#!/venv/bin/python3`, or
/// pip's long-path form `#!/bin/sh` + `'''exec' "/venv/bin/python3" "$0" "$@"`;
/// falls back to a `python3` next to the script.
fn interpreter_of(script: &Path) -> Result<PathBuf, Error> {
    let mut head = Vec::new();
    fs::File::open(script)
        .and_then(|f| f.take(4096).read_to_end(&mut head))
        .map_err(|e| Error::InterpreterNotFound {
            spec_kitty: script.to_path_buf(),
            reason: e.to_string(),
        })?;
    let text = String::from_utf8_lossy(&head);
    let mut lines = text.lines();
    let first = lines.next().unwrap_or_default();
    let from_shebang = first.strip_prefix("#!").map(str::trim).and_then(|s| {
        if s.ends_with("/sh") || s == "/bin/sh" {
            let exec = lines.next()?;
            let start = exec.find("exec' \"")? + "exec' \"".len();
            let end = start + exec[start..].find('"')?;
            Some(PathBuf::from(&exec[start..end]))
        } else if s.contains("python") && !s.starts_with("/usr/bin/env") {
            Some(PathBuf::from(s.split_whitespace().next()?))
        } else if let Some(name) = s.strip_prefix("/usr/bin/env").map(str::trim) {
            on_path(name.split_whitespace().next()?)
        } else {
            None
        }
    });
    let sibling = script
        .parent()
        .map(|d| d.join("python3"))
        .filter(|p| p.is_file());
    from_shebang
        .filter(|p| p.is_file())
        .or(sibling)
        .ok_or_else(|| Error::InterpreterNotFound {
            spec_kitty: script.to_path_buf(),
            reason: format!(
                "its first line {first:?} names no Python, and no python3 sits next to it"
            ),
        })
}

/// Whether the installation behind `python` (a venv or prefix) ships the 3.x
/// server module. Looked up on disk: starting Python to ask costs ~50 ms.
fn ships_server_module(python: &Path) -> bool {
    let Some(prefix) = python.parent().and_then(Path::parent) else {
        return false;
    };
    let Ok(libs) = fs::read_dir(prefix.join("lib")) else {
        return false;
    };
    libs.filter_map(Result::ok).any(|lib| {
        lib.path()
            .join("site-packages/specify_cli/dashboard/_server_main.py")
            .is_file()
    })
}

/// A Python string literal, as `repr` writes one with single quotes.
fn py_repr(s: &str) -> String {
    let mut out = String::from("'");
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// Why a spawned dashboard is not ready.
pub(crate) enum NotReady {
    /// The child exited with this raw wait status.
    Exited(i32),
    /// It listens on another port.
    WrongPort(u16),
    /// Something answered on the port, but not this dashboard.
    SomeoneElse(String),
    /// The deadline passed.
    Timeout,
}

/// Waits until `/api/health` on `port` answers with `project_dir` and `token`.
///
/// Each round (every 5 ms) checks whether the child exited (`waitpid`
/// WNOHANG), then tries to connect (refused at once until the server listens),
/// and asks for health once a connection succeeds. Readiness is therefore seen
/// within ~5 ms of the server answering. Every 20th round it also checks that
/// the child has not bound some other port.
pub(crate) fn wait_ready(
    pid: u32,
    port: u16,
    project_dir: &Path,
    token: &str,
    timeout: Duration,
) -> Result<(), NotReady> {
    let deadline = Instant::now() + timeout;
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    for round in 0u64.. {
        if let Some(status) = probe::reap_if_child(pid) {
            return Err(NotReady::Exited(status));
        }
        if TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok() {
            match probe::fetch_health(port, Duration::from_secs(2)) {
                Ok(h)
                    if h.project_path.as_deref() == Some(project_dir)
                        && h.token() == Some(token) =>
                {
                    return Ok(());
                }
                Ok(h) => {
                    return Err(NotReady::SomeoneElse(format!(
                        "port {port} answered for {:?}",
                        h.project_path.unwrap_or_default()
                    )));
                }
                Err(_) => {}
            }
        } else if round % 20 == 19
            && let Some(other) = listening_elsewhere(pid, port)
        {
            return Err(NotReady::WrongPort(other));
        }
        if Instant::now() >= deadline {
            return Err(NotReady::Timeout);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Err(NotReady::Timeout)
}

/// A port other than `port` on which `pid`, or a member of the process group
/// it leads, listens, if any. The group counts because an interpreter shim
/// (pyenv's `python3`) forks the real Python, which then holds the socket.
fn listening_elsewhere(pid: u32, port: u16) -> Option<u16> {
    let mut mine: std::collections::HashSet<u64> =
        probe::sys::socket_inodes(pid).into_iter().collect();
    for member in probe::ProcessTree::read().group_members(pid) {
        if member != pid {
            mine.extend(probe::sys::socket_inodes(member));
        }
    }
    if mine.is_empty() {
        return None;
    }
    let all = probe::sys::listening_sockets(&|_| true).ok()?;
    all.into_iter()
        .find(|l| mine.contains(&l.inode) && l.port != port)
        .map(|l| l.port)
}

/// The last `max` bytes of a log file, lossy UTF-8, tokens masked.
pub(crate) fn log_tail(path: &Path, max: u64) -> String {
    let read = || -> io::Result<String> {
        let mut f = fs::File::open(path)?;
        let len = f.metadata()?.len();
        f.seek(SeekFrom::Start(len.saturating_sub(max)))?;
        let mut buf = Vec::new();
        f.read_to_end(&mut buf)?;
        Ok(String::from_utf8_lossy(&buf).trim().to_string())
    };
    read().map(|t| probe::mask_tokens(&t)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repr_quotes_like_python() {
        assert_eq!(py_repr("/tmp/it's"), "'/tmp/it\\'s'");
        assert_eq!(py_repr("a\\b"), "'a\\\\b'");
    }

    #[test]
    fn script_form_round_trips_through_the_parser() {
        let sk = SpecKitty {
            executable: "/x/spec-kitty".into(),
            python: "/x/python3".into(),
            form: CommandForm::Script,
        };
        let cmd = sk.server_command(
            Path::new("/tmp/it's here"),
            9300,
            "0123456789abcdef0123456789abcdef",
        );
        let argv: Vec<String> = std::iter::once(cmd.get_program())
            .chain(cmd.get_args())
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let parsed = probe::DashboardCommand::parse(&argv).expect("recognised");
        assert_eq!(parsed.project_dir, Path::new("/tmp/it's here"));
        assert_eq!(parsed.port, Some(9300));
        assert_eq!(parsed.token(), Some("0123456789abcdef0123456789abcdef"));
    }

    #[test]
    fn interpreter_from_both_shebang_forms() {
        let dir = tempfile::tempdir().expect("tmp");
        let py = dir.path().join("python3");
        fs::write(&py, "").expect("py");
        let a = dir.path().join("a");
        fs::write(&a, format!("#!{}\nimport sys\n", py.display())).expect("a");
        assert_eq!(interpreter_of(&a).expect("a"), py);
        let b = dir.path().join("b");
        fs::write(
            &b,
            format!(
                "#!/bin/sh\n'''exec' \"{}\" \"$0\" \"$@\"\n' '''\n",
                py.display()
            ),
        )
        .expect("b");
        assert_eq!(interpreter_of(&b).expect("b"), py);
        let other = tempfile::tempdir().expect("tmp");
        let c = other.path().join("c");
        fs::write(&c, "#!/bin/false\n").expect("c");
        assert!(matches!(
            interpreter_of(&c),
            Err(Error::InterpreterNotFound { .. })
        ));
    }
}
