//! Recognising a spec-kitty dashboard: its command line (both forms) and its
//! `.kittify/.dashboard` file.

use std::fmt;
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use super::mask::mask_tokens;

/// The module 3.x runs as the dashboard child.
pub const SERVER_MODULE: &str = "specify_cli.dashboard._server_main";
/// The function every release runs as the dashboard server.
pub const SERVER_FUNCTION: &str = "run_dashboard_server";

/// Which of spec-kitty's two child command lines a dashboard was started with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CommandForm {
    /// `python -m specify_cli.dashboard._server_main <project_dir> <port> [<token>]` (3.x).
    Module,
    /// `python -c "...run_dashboard_server(Path('<dir>'), <port>, '<token>')"` (0.5.x to 3.2.6).
    Script,
}

/// What a dashboard's command line says: which project it serves, on which port.
///
/// ```
/// use kitty_fixtures::probe::{CommandForm, DashboardCommand};
/// let argv = ["/venv/bin/python3", "-m", "specify_cli.dashboard._server_main", "/tmp/p", "9237", "abc"];
/// let cmd = DashboardCommand::parse(&argv).expect("a dashboard");
/// assert_eq!((cmd.form, cmd.port), (CommandForm::Module, Some(9237)));
/// assert_eq!(cmd.project_dir, std::path::Path::new("/tmp/p"));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct DashboardCommand {
    /// The command-line form.
    pub form: CommandForm,
    /// The project directory the server serves.
    pub project_dir: PathBuf,
    /// The port it was told to bind.
    pub port: Option<u16>,
    token: Option<String>,
}

impl DashboardCommand {
    /// Recognises a dashboard server's argv; `None` for anything else (the sync
    /// daemon included: it never matches).
    pub fn parse<S: AsRef<str>>(argv: &[S]) -> Option<Self> {
        let argv: Vec<&str> = argv.iter().map(AsRef::as_ref).collect();
        if is_sync_daemon(&argv) {
            return None;
        }
        if let Some(i) = argv
            .windows(2)
            .position(|w| w[0] == "-m" && w[1] == SERVER_MODULE)
        {
            let rest = &argv[i + 2..];
            if !(2..=3).contains(&rest.len()) {
                return None;
            }
            return Some(DashboardCommand {
                form: CommandForm::Module,
                project_dir: PathBuf::from(rest[0]),
                port: rest[1].parse().ok(),
                token: rest.get(2).map(|t| t.to_string()),
            });
        }
        let i = argv.iter().position(|a| *a == "-c")?;
        let script = argv.get(i + 1)?;
        parse_script(script)
    }

    /// The token from the command line. Never print it.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }
}

impl fmt::Debug for DashboardCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DashboardCommand")
            .field("form", &self.form)
            .field("project_dir", &self.project_dir)
            .field("port", &self.port)
            .field("token", &self.token.as_ref().map(|_| "<token>"))
            .finish()
    }
}

/// True for spec-kitty's sync daemon, which is never a dashboard.
pub fn is_sync_daemon<S: AsRef<str>>(argv: &[S]) -> bool {
    argv.iter().any(|a| {
        let a = a.as_ref();
        a.contains("run_sync_daemon") || a.starts_with("--spec-kitty-daemon-root")
    })
}

/// Parses `run_dashboard_server(Path('<dir>'), <port>, '<token>'|None)` out of a `-c` script.
fn parse_script(script: &str) -> Option<DashboardCommand> {
    let call = format!("{SERVER_FUNCTION}(");
    let at = script.rfind(&call)? + call.len();
    let mut rest = script[at..].trim_start();
    rest = rest.strip_prefix("Path(")?;
    let (dir, after) = python_str(rest.trim_start())?;
    rest = after
        .trim_start()
        .strip_prefix(')')?
        .trim_start()
        .strip_prefix(',')?
        .trim_start();
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let port = digits.parse().ok();
    rest = rest[digits.len()..]
        .trim_start()
        .strip_prefix(',')?
        .trim_start();
    let token = if rest.starts_with("None") {
        None
    } else {
        Some(python_str(rest)?.0)
    };
    Some(DashboardCommand {
        form: CommandForm::Script,
        project_dir: PathBuf::from(dir),
        port,
        token,
    })
}

/// Reads one Python string literal (`'...'` or `"..."`, as `repr` writes it).
fn python_str(s: &str) -> Option<(String, &str)> {
    let quote = s.chars().next().filter(|c| *c == '\'' || *c == '"')?;
    let mut out = String::new();
    let mut chars = s[1..].char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => match chars.next()?.1 {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                other => out.push(other),
            },
            c if c == quote => return Some((out, &s[1 + i + 1..])),
            c => out.push(c),
        }
    }
    None
}

/// The largest `.kittify/.dashboard` we read; real ones are under 100 bytes.
pub const DASHBOARD_FILE_LIMIT: u64 = 4096;

/// The contents of `.kittify/.dashboard`: spec-kitty's four lines
/// `url`, `port`, `token`, `pid` (token and pid may be missing in old files).
#[derive(Clone, PartialEq, Eq)]
pub struct DashboardFile {
    /// Line 1, e.g. `http://127.0.0.1:9237`.
    pub url: String,
    /// Line 2.
    pub port: u16,
    token: Option<String>,
    /// Line 4 (or 3 in files without a token).
    pub pid: Option<u32>,
}

/// Why a `.kittify/.dashboard` could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DashboardFileError {
    /// It could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// It is not a dashboard file.
    #[error("{path} is not a spec-kitty dashboard file: {reason}")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
}

impl DashboardFile {
    /// The file's place inside a project.
    pub fn path_in(project_dir: &Path) -> PathBuf {
        project_dir.join(".kittify").join(".dashboard")
    }

    /// Builds the record for a dashboard on `port` run by `pid`.
    pub fn new(port: u16, token: Option<String>, pid: Option<u32>) -> Self {
        DashboardFile {
            url: format!("http://127.0.0.1:{port}"),
            port,
            token,
            pid,
        }
    }

    /// The token. Never print it.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// Parses the text the way spec-kitty does, but strictly: every number must
    /// be in range, nothing panics, and odd files are errors, not guesses.
    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        if bytes.len() as u64 > DASHBOARD_FILE_LIMIT {
            return Err(format!("larger than {DASHBOARD_FILE_LIMIT} bytes"));
        }
        let text = std::str::from_utf8(bytes).map_err(|_| "not UTF-8".to_string())?;
        let lines: Vec<&str> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        let (url, port) = match lines.as_slice() {
            [] => return Err("empty".into()),
            [_] => return Err("no port line".into()),
            [url, port, ..] => (*url, *port),
        };
        if lines.len() > 4 {
            return Err(format!("{} lines, expected at most 4", lines.len()));
        }
        let port: u16 = port
            .parse()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| format!("port {:?} is not in 1-65535", mask_tokens(port)))?;
        let (token, pid) = match lines.get(2..) {
            Some([token, pid]) => (Some(token.to_string()), Some(parse_pid(pid)?)),
            Some([token]) => (Some(token.to_string()), None),
            _ => (None, None),
        };
        Ok(DashboardFile {
            url: url.to_string(),
            port,
            token,
            pid,
        })
    }

    /// Reads the file of `project_dir`. `Ok(None)` when there is none.
    pub fn read(project_dir: &Path) -> Result<Option<Self>, DashboardFileError> {
        use std::os::unix::fs::OpenOptionsExt;
        let path = Self::path_in(project_dir);
        // O_NONBLOCK: a FIFO put there must not block the open (and so a drop) forever.
        let file = match fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&path)
        {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(DashboardFileError::Io { path, source }),
        };
        match file.metadata() {
            Ok(m) if m.is_file() => {}
            Ok(_) => {
                return Err(DashboardFileError::Malformed {
                    path,
                    reason: "not a regular file".into(),
                });
            }
            Err(source) => return Err(DashboardFileError::Io { path, source }),
        }
        let mut bytes = Vec::new();
        file.take(DASHBOARD_FILE_LIMIT + 1)
            .read_to_end(&mut bytes)
            .map_err(|source| DashboardFileError::Io {
                path: path.clone(),
                source,
            })?;
        Self::parse(&bytes)
            .map(Some)
            .map_err(|reason| DashboardFileError::Malformed { path, reason })
    }

    /// Writes the file in spec-kitty's format (mode 0600, atomically).
    pub fn write(&self, project_dir: &Path) -> io::Result<()> {
        use std::os::unix::fs::OpenOptionsExt;
        let path = Self::path_in(project_dir);
        let dir = path.parent().unwrap_or(project_dir);
        fs::create_dir_all(dir)?;
        let tmp = dir.join(format!(".dashboard.tmp.{}", std::process::id()));
        let mut text = format!("{}\n{}\n", self.url, self.port);
        if let Some(t) = &self.token {
            text.push_str(t);
            text.push('\n');
        }
        if let Some(p) = self.pid {
            text.push_str(&p.to_string());
            text.push('\n');
        }
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(text.as_bytes())?;
        fs::rename(&tmp, &path)
    }

    /// Removes the file of `project_dir` if it still names `pid` (or names no pid
    /// and `port`). Returns whether it removed it.
    pub fn remove_if_names(project_dir: &Path, pid: u32, port: Option<u16>) -> bool {
        let names_it = match Self::read(project_dir) {
            Ok(Some(f)) => f.pid == Some(pid) || (f.pid.is_none() && Some(f.port) == port),
            Ok(None) => false,
            // A malformed file cannot name anything; leave it for its owner.
            Err(_) => false,
        };
        names_it && fs::remove_file(Self::path_in(project_dir)).is_ok()
    }
}

fn parse_pid(s: &str) -> Result<u32, String> {
    s.parse::<u32>()
        .ok()
        .filter(|p| *p > 1 && *p <= 4_194_304)
        .ok_or_else(|| format!("pid {:?} is not a process id", mask_tokens(s)))
}

impl fmt::Debug for DashboardFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DashboardFile")
            .field("url", &self.url)
            .field("port", &self.port)
            .field("token", &self.token.as_ref().map(|_| "<token>"))
            .field("pid", &self.pid)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn module_form() {
        let argv = [
            "/v/bin/python3",
            "-m",
            SERVER_MODULE,
            "/tmp/p x",
            "9240",
            TOKEN,
        ];
        let c = DashboardCommand::parse(&argv).expect("dashboard");
        assert_eq!(c.form, CommandForm::Module);
        assert_eq!(c.project_dir, Path::new("/tmp/p x"));
        assert_eq!(c.port, Some(9240));
        assert_eq!(c.token(), Some(TOKEN));
        assert!(!format!("{c:?}").contains(TOKEN));
        let no_token = ["python", "-m", SERVER_MODULE, "/p", "9240"];
        assert_eq!(
            DashboardCommand::parse(&no_token)
                .expect("dashboard")
                .token(),
            None
        );
        assert!(DashboardCommand::parse(&["python", "-m", SERVER_MODULE]).is_none());
    }

    #[test]
    fn script_form_as_0_5_3_writes_it() {
        let script = format!(
            "\nimport sys\nfrom pathlib import Path\nrepo_root = Path('/v/lib/python3.11/site-packages')\n\
             sys.path.insert(0, str(repo_root))\nfrom specify_cli.dashboard.server import run_dashboard_server\n\
             run_dashboard_server(Path('/tmp/it\\'s'), 9237, '{TOKEN}')\n"
        );
        let argv = ["/v/bin/python3", "-c", script.as_str()];
        let c = DashboardCommand::parse(&argv).expect("dashboard");
        assert_eq!(c.form, CommandForm::Script);
        assert_eq!(c.project_dir, Path::new("/tmp/it's"));
        assert_eq!(c.port, Some(9237));
        assert_eq!(c.token(), Some(TOKEN));
        let none = "run_dashboard_server(Path(\"/p\"), 9300, None)";
        let c = DashboardCommand::parse(&["python", "-c", none]).expect("dashboard");
        assert_eq!((c.port, c.token()), (Some(9300), None));
    }

    #[test]
    fn others_are_not_dashboards() {
        let daemon = [
            "python",
            "-c",
            "from x import run_sync_daemon; run_sync_daemon()",
            "--spec-kitty-daemon-root=/h",
        ];
        assert!(DashboardCommand::parse(&daemon).is_none());
        assert!(DashboardCommand::parse(&["python3", "-m", "http.server", "9237"]).is_none());
        assert!(DashboardCommand::parse(&["grep", "run_dashboard_server"]).is_none());
        assert!(DashboardCommand::parse(&["python", "-c", "run_dashboard_server(oops"]).is_none());
        assert!(DashboardCommand::parse::<&str>(&[]).is_none());
    }

    #[test]
    fn dashboard_file_round_trip() {
        let dir = tempfile::tempdir().expect("tmp");
        let f = DashboardFile::new(9237, Some(TOKEN.into()), Some(4242));
        f.write(dir.path()).expect("write");
        let text = fs::read_to_string(DashboardFile::path_in(dir.path())).expect("read");
        assert_eq!(
            text,
            format!("http://127.0.0.1:9237\n9237\n{TOKEN}\n4242\n")
        );
        assert_eq!(DashboardFile::read(dir.path()).expect("ok"), Some(f));
        assert!(!DashboardFile::remove_if_names(dir.path(), 1, None));
        assert!(DashboardFile::remove_if_names(dir.path(), 4242, None));
        assert_eq!(DashboardFile::read(dir.path()).expect("ok"), None);
    }

    #[test]
    fn malformed_files_are_errors_not_panics() {
        let bad: &[&[u8]] = &[
            b"",
            b"\n\n",
            b"garbage",
            b"\xff\xfe\x00",
            b"http://x\n-1\n",
            b"http://x\n70000\n",
            b"http://x\n0\n",
            b"http://x\n9237\ntok\n-5\n",
            b"http://x\n9237\ntok\n99999999999\n",
            b"http://x\n9237\ntok\n1\n",
            b"a\nb\nc\nd\ne\n",
        ];
        for b in bad {
            assert!(
                DashboardFile::parse(b).is_err(),
                "{:?}",
                String::from_utf8_lossy(b)
            );
        }
        let dir = tempfile::tempdir().expect("tmp");
        fs::create_dir_all(dir.path().join(".kittify")).expect("mkdir");
        let fifo =
            std::ffi::CString::new(DashboardFile::path_in(dir.path()).to_str().expect("utf-8"))
                .expect("c");
        // SAFETY: mkfifo(3) with a valid C string.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
        assert!(matches!(
            DashboardFile::read(dir.path()),
            Err(DashboardFileError::Malformed { .. })
        ));
        let huge = vec![b'9'; 1 << 20];
        assert!(DashboardFile::parse(&huge).is_err());
        let old = DashboardFile::parse(b"http://127.0.0.1:9237\n9237\n").expect("old format");
        assert_eq!((old.port, old.token(), old.pid), (9237, None, None));
    }
}
