//! Recognising a spec-kitty dashboard: its command line (both forms) and its
//! `.kittify/.dashboard` file.

use std::ffi::OsStr;
use std::fmt;
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use super::mask::mask_tokens;
use super::process::ProcessIdentity;

/// The module 3.x runs as the dashboard child.
pub const SERVER_MODULE: &str = "specify_cli.dashboard._server_main";
/// The function every release runs as the dashboard server.
pub const SERVER_FUNCTION: &str = "run_dashboard_server";
/// The import line of the `-c` script of releases before 3.x.
const SERVER_IMPORT: &str = "from specify_cli.dashboard.server import run_dashboard_server";

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
/// Recognition follows Python's own argv grammar: argv\[0\] must be a Python
/// interpreter, and `-m specify_cli.dashboard._server_main` (or a `-c`
/// script that is spec-kitty's server script) must be the *interpreter's*
/// option. The first `-c`/`-m` ends the interpreter's options, so in
/// `python3 -c '<other code>' -m specify_cli...` the `-m` is the program's
/// argument, and a wrapper (`timeout`, `sudo`, `bash -c`, `ssh`) whose
/// arguments merely contain a dashboard command line is not a dashboard.
/// Paths are bytes: a project dir that is not valid UTF-8 is kept exactly.
///
/// ```
/// use kitty_fixtures::probe::{CommandForm, DashboardCommand};
/// let argv = ["/venv/bin/python3", "-m", "specify_cli.dashboard._server_main", "/tmp/p", "9237", "abc"];
/// let cmd = DashboardCommand::parse(&argv).expect("a dashboard");
/// assert_eq!((cmd.form, cmd.port), (CommandForm::Module, Some(9237)));
/// assert_eq!(cmd.project_dir, std::path::Path::new("/tmp/p"));
/// let wrapped = ["timeout", "60", "python3", "-m", "specify_cli.dashboard._server_main", "/tmp/p", "9237"];
/// assert!(DashboardCommand::parse(&wrapped).is_none());
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct DashboardCommand {
    /// The command-line form.
    pub form: CommandForm,
    /// The project directory the server serves, as the command line names
    /// it (maybe relative: see [`project_dir_of`](super::project_dir_of)).
    pub project_dir: PathBuf,
    /// The port it was told to bind.
    pub port: Option<u16>,
    token: Option<String>,
}

/// What a Python command line runs.
enum PythonRuns<'a> {
    /// `-m MODULE args...`
    Module(&'a [u8], &'a [&'a [u8]]),
    /// `-c CODE args...`
    Code(&'a [u8], &'a [&'a [u8]]),
}

/// Reads Python's interpreter options (CPython 3.x `python --help`) up to the
/// first `-c` or `-m`. `None` for a script, stdin, `--help`, `--version`, an
/// unknown option or a missing argument.
fn python_runs<'a>(args: &'a [&'a [u8]]) -> Option<PythonRuns<'a>> {
    let mut i = 0;
    while let Some(&arg) = args.get(i) {
        i += 1;
        if arg == b"--check-hash-based-pycs" {
            args.get(i)?;
            i += 1;
            continue;
        }
        if arg.starts_with(b"--") {
            // `--` ends the options (a script follows); --help, --version: no server.
            return None;
        }
        let cluster = arg.strip_prefix(b"-").filter(|c| !c.is_empty())?;
        let mut j = 0;
        while let Some(&flag) = cluster.get(j) {
            j += 1;
            match flag {
                b'c' | b'm' | b'W' | b'X' => {
                    let attached = &cluster[j..];
                    let value: &'a [u8] = if attached.is_empty() {
                        let v = *args.get(i)?;
                        i += 1;
                        v
                    } else {
                        attached
                    };
                    let rest = &args[i..];
                    match flag {
                        b'c' => return Some(PythonRuns::Code(value, rest)),
                        b'm' => return Some(PythonRuns::Module(value, rest)),
                        _ => break,
                    }
                }
                b'b' | b'B' | b'd' | b'E' | b'i' | b'I' | b'O' | b'P' | b'q' | b'R' | b's'
                | b'S' | b'u' | b'v' | b'x' => {}
                _ => return None,
            }
        }
    }
    None
}

impl DashboardCommand {
    /// Recognises a dashboard server's argv (argv\[0\] named `python*`);
    /// `None` for anything else (the sync daemon and wrappers included).
    pub fn parse<S: AsRef<OsStr>>(argv: &[S]) -> Option<Self> {
        let first = Path::new(argv.first()?.as_ref()).file_name()?;
        if !first.as_bytes().starts_with(b"python") {
            return None;
        }
        Self::parse_args(argv)
    }

    /// Recognises the process `identity`: a Python interpreter (its
    /// executable or its argv\[0\]) running spec-kitty's server.
    pub fn of(identity: &ProcessIdentity) -> Option<Self> {
        if !identity.is_python() {
            return None;
        }
        Self::parse_args(identity.argv())
    }

    fn parse_args<S: AsRef<OsStr>>(argv: &[S]) -> Option<Self> {
        let bytes: Vec<&[u8]> = argv.iter().map(|a| a.as_ref().as_bytes()).collect();
        match python_runs(bytes.get(1..)?)? {
            PythonRuns::Module(module, rest) => {
                if module != SERVER_MODULE.as_bytes() || !(2..=3).contains(&rest.len()) {
                    return None;
                }
                Some(DashboardCommand {
                    form: CommandForm::Module,
                    project_dir: PathBuf::from(std::ffi::OsString::from_vec(rest[0].to_vec())),
                    port: Some(ascii_port(rest[1])?),
                    token: rest.get(2).map(|t| String::from_utf8_lossy(t).into_owned()),
                })
            }
            PythonRuns::Code(code, []) => parse_script(code),
            PythonRuns::Code(..) => None,
        }
    }

    /// The token from the command line. Never print it.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }
}

/// A port as the server parses it (`int()`, here strictly ASCII digits).
fn ascii_port(b: &[u8]) -> Option<u16> {
    if b.is_empty() || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(b).ok()?.parse().ok().filter(|p| *p > 0)
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
pub fn is_sync_daemon<S: AsRef<OsStr>>(argv: &[S]) -> bool {
    argv.iter().any(|a| {
        let a = a.as_ref().as_bytes();
        a.windows(b"run_sync_daemon".len())
            .any(|w| w == b"run_sync_daemon")
            || a.starts_with(b"--spec-kitty-daemon-root")
    })
}

/// Recognises spec-kitty's `-c` server script: it imports
/// `run_dashboard_server` from `specify_cli.dashboard.server`, and its last
/// statement is `run_dashboard_server(Path(<str>), <port>, <str> | None)`.
fn parse_script(script: &[u8]) -> Option<DashboardCommand> {
    let lines: Vec<&[u8]> = script
        .split(|&b| b == b'\n')
        .map(<[u8]>::trim_ascii)
        .filter(|l| !l.is_empty())
        .collect();
    if !lines.iter().any(|l| *l == SERVER_IMPORT.as_bytes()) {
        return None;
    }
    let call = lines.last()?;
    let mut rest = call
        .strip_prefix(SERVER_FUNCTION.as_bytes())?
        .trim_ascii_start();
    rest = rest.strip_prefix(b"(")?.trim_ascii_start();
    rest = rest.strip_prefix(b"Path(")?.trim_ascii_start();
    let (dir, after) = python_str(rest)?;
    rest = after
        .trim_ascii_start()
        .strip_prefix(b")")?
        .trim_ascii_start()
        .strip_prefix(b",")?
        .trim_ascii_start();
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    let port = ascii_port(&rest[..digits])?;
    rest = rest[digits..]
        .trim_ascii_start()
        .strip_prefix(b",")?
        .trim_ascii_start();
    let (token, after) = if let Some(after) = rest.strip_prefix(b"None") {
        (None, after)
    } else {
        let (t, after) = python_str(rest)?;
        (Some(String::from_utf8_lossy(&t).into_owned()), after)
    };
    if after.trim_ascii() != b")" {
        return None;
    }
    Some(DashboardCommand {
        form: CommandForm::Script,
        project_dir: PathBuf::from(std::ffi::OsString::from_vec(dir)),
        port: Some(port),
        token,
    })
}

/// Reads one Python string literal as `repr(str)` writes it (`'...'` or
/// `"..."`, escapes `\\ \' \" \n \r \t \xNN \uNNNN \UNNNNNNNN`) and returns
/// the bytes `os.fsencode` would give for it: UTF-8, except that the
/// surrogates U+DC80..U+DCFF stand for the raw bytes 0x80..0xFF
/// (`surrogateescape`, how Python keeps a path that is not valid UTF-8).
/// `None` for anything `repr` would not write.
pub(crate) fn python_str(s: &[u8]) -> Option<(Vec<u8>, &[u8])> {
    let quote = *s.first().filter(|c| **c == b'\'' || **c == b'"')?;
    let mut out = Vec::new();
    let mut i = 1;
    let hex = |digits: &[u8]| -> Option<u32> {
        u32::from_str_radix(std::str::from_utf8(digits).ok()?, 16).ok()
    };
    let push_code_point = |out: &mut Vec<u8>, cp: u32| -> Option<()> {
        match cp {
            0xDC80..=0xDCFF => out.push((cp - 0xDC00) as u8),
            0xD800..=0xDFFF => return None,
            _ => {
                let c = char::from_u32(cp)?;
                out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
            }
        }
        Some(())
    };
    while let Some(&b) = s.get(i) {
        i += 1;
        match b {
            b'\\' => {
                let e = *s.get(i)?;
                i += 1;
                match e {
                    b'\\' | b'\'' | b'"' => out.push(e),
                    b'n' => out.push(b'\n'),
                    b'r' => out.push(b'\r'),
                    b't' => out.push(b'\t'),
                    b'x' | b'u' | b'U' => {
                        let n = match e {
                            b'x' => 2,
                            b'u' => 4,
                            _ => 8,
                        };
                        let cp = hex(s.get(i..i + n)?)?;
                        i += n;
                        push_code_point(&mut out, cp)?;
                    }
                    _ => return None,
                }
            }
            b'\n' => return None,
            c if c == quote => return Some((out, &s[i..])),
            c => out.push(c),
        }
    }
    None
}

/// The largest `.kittify/.dashboard` we read; real ones are under 100 bytes.
pub const DASHBOARD_FILE_LIMIT: u64 = 4096;

/// The contents of `.kittify/.dashboard`, read the way spec-kitty reads it:
/// non-empty lines, each stripped; line 1 the url, line 2 the port, line 3
/// the token, line 4 the pid; extra lines, trailing spaces and CRLF are fine,
/// and a line that is not a number leaves its field empty (as spec-kitty's
/// `int()` failing does).
#[derive(Clone, PartialEq, Eq)]
pub struct DashboardFile {
    /// Line 1, e.g. `http://127.0.0.1:9237`.
    pub url: String,
    /// Line 2, when it is a port.
    pub port: Option<u16>,
    token: Option<String>,
    /// Line 4, when it is a number.
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

/// Python's `str.splitlines()` line ends.
fn is_line_end(c: char) -> bool {
    matches!(
        c,
        '\n' | '\r'
            | '\x0b'
            | '\x0c'
            | '\x1c'
            | '\x1d'
            | '\x1e'
            | '\u{85}'
            | '\u{2028}'
            | '\u{2029}'
    )
}

/// Python's `str.strip()` whitespace.
fn is_py_space(c: char) -> bool {
    c.is_whitespace() || ('\x1c'..='\x1f').contains(&c)
}

/// Python's `int()` of a stripped line, for the ASCII forms it accepts
/// (`+9237`, `9_237`); `None` where it would raise.
fn py_int(s: &str) -> Option<i64> {
    let digits = s.strip_prefix('+').unwrap_or(s);
    let ok = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit() || b == b'_')
        && !digits.starts_with('_')
        && !digits.ends_with('_')
        && !digits.contains("__");
    if !ok {
        return None;
    }
    digits.replace('_', "").parse().ok()
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
            port: Some(port),
            token,
            pid,
        }
    }

    /// The token. Never print it.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// Whether the file records the dashboard `pid` listening on `port`: it
    /// names that pid, or (an old file without a pid) that port.
    pub fn names(&self, pid: u32, port: Option<u16>) -> bool {
        match self.pid {
            Some(p) => p == pid,
            None => self.port.is_some() && self.port == port,
        }
    }

    /// Parses the text as spec-kitty does. Errors only where spec-kitty gets
    /// nothing at all out of the file: not UTF-8, no non-empty line, too large.
    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        if bytes.len() as u64 > DASHBOARD_FILE_LIMIT {
            return Err(format!("larger than {DASHBOARD_FILE_LIMIT} bytes"));
        }
        let text = std::str::from_utf8(bytes).map_err(|_| "not UTF-8".to_string())?;
        let lines: Vec<&str> = text
            .split(is_line_end)
            .map(|l| l.trim_matches(is_py_space))
            .filter(|l| !l.is_empty())
            .collect();
        let Some(url) = lines.first() else {
            return Err("empty".into());
        };
        let port = lines
            .get(1)
            .and_then(|l| py_int(l))
            .and_then(|p| u16::try_from(p).ok())
            .filter(|p| *p > 0);
        let token = lines.get(2).map(|t| t.to_string());
        let pid = lines
            .get(3)
            .and_then(|l| py_int(l))
            .and_then(|p| u32::try_from(p).ok())
            .filter(|p| *p > 0);
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
            .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
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

    /// Writes the file in spec-kitty's format (mode 0600, atomically: a
    /// fresh temp file, never following a symlink, renamed into place).
    pub fn write(&self, project_dir: &Path) -> io::Result<()> {
        use std::os::unix::fs::OpenOptionsExt;
        let path = Self::path_in(project_dir);
        let dir = path.parent().unwrap_or(project_dir);
        fs::create_dir_all(dir)?;
        let tmp = dir.join(format!(".dashboard.tmp.{}", std::process::id()));
        let mut text = self.url.clone();
        text.push('\n');
        if let Some(p) = self.port {
            text.push_str(&p.to_string());
        }
        text.push('\n');
        if let Some(t) = &self.token {
            text.push_str(t);
            text.push('\n');
        }
        if let Some(p) = self.pid {
            text.push_str(&p.to_string());
            text.push('\n');
        }
        let _ = fs::remove_file(&tmp);
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
            .open(&tmp)?;
        f.write_all(text.as_bytes())?;
        fs::rename(&tmp, &path)
    }

    /// Removes the file of `project_dir` if it still records the dashboard
    /// `pid` on `port` ([`DashboardFile::names`]). Returns whether it removed it.
    pub fn remove_if_names(project_dir: &Path, pid: u32, port: Option<u16>) -> bool {
        let names_it = match Self::read(project_dir) {
            Ok(Some(f)) => f.names(pid, port),
            Ok(None) => false,
            // An unreadable file cannot name anything; leave it for its owner.
            Err(_) => false,
        };
        names_it && fs::remove_file(Self::path_in(project_dir)).is_ok()
    }
}

impl fmt::Debug for DashboardFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DashboardFile")
            .field("url", &mask_tokens(&self.url))
            .field("port", &self.port)
            .field("token", &self.token.as_ref().map(|_| "<token>"))
            .field("pid", &self.pid)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;

    const TOKEN: &str = "0123456789abcdef0123456789abcdef";

    fn parse(argv: &[&str]) -> Option<DashboardCommand> {
        DashboardCommand::parse(argv)
    }

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
        let c = parse(&argv).expect("dashboard");
        assert_eq!(c.form, CommandForm::Module);
        assert_eq!(c.project_dir, Path::new("/tmp/p x"));
        assert_eq!(c.port, Some(9240));
        assert_eq!(c.token(), Some(TOKEN));
        assert!(!format!("{c:?}").contains(TOKEN));
        let no_token = ["python", "-m", SERVER_MODULE, "/p", "9240"];
        assert_eq!(parse(&no_token).expect("dashboard").token(), None);
        assert!(parse(&["python", "-m", SERVER_MODULE]).is_none());
        assert!(parse(&["python", "-m", SERVER_MODULE, "/p", "x"]).is_none());
        assert!(parse(&["python", "-m", SERVER_MODULE, "/p", "9240", TOKEN, "more"]).is_none());
    }

    #[test]
    fn interpreter_options_follow_pythons_grammar() {
        for argv in [
            &["python3.11", "-I", "-u", "-m", SERVER_MODULE, "/p", "9240"][..],
            &["python3", "-Esm", SERVER_MODULE, "/p", "9240"],
            &[
                "python3",
                "-X",
                "dev",
                "-W",
                "ignore",
                "-m",
                SERVER_MODULE,
                "/p",
                "9240",
            ],
            &["python3", "-Wignore", "-m", SERVER_MODULE, "/p", "9240"],
            &[
                "python3",
                "--check-hash-based-pycs",
                "never",
                "-m",
                SERVER_MODULE,
                "/p",
                "9240",
            ],
            &["python3", &format!("-m{SERVER_MODULE}"), "/p", "9240"],
        ] {
            assert!(parse(argv).is_some(), "{argv:?}");
        }
        for argv in [
            // The first -c ends the options: the -m is the program's argv.
            &[
                "python3",
                "-c",
                "import http.server",
                "-m",
                SERVER_MODULE,
                "/p",
                "9240",
            ][..],
            // A script, then its arguments.
            &["python3", "serve.py", "-m", SERVER_MODULE, "/p", "9240"],
            &["python3", "--", "-m", SERVER_MODULE, "/p", "9240"],
            &["python3", "-", "-m", SERVER_MODULE, "/p", "9240"],
            &["python3", "--version"],
            &["python3", "-Z", "-m", SERVER_MODULE, "/p", "9240"],
            &["python3", "-m", "http.server", "9240"],
            &["python3", "-m"],
        ] {
            assert!(parse(argv).is_none(), "{argv:?}");
        }
    }

    #[test]
    fn wrappers_are_not_dashboards() {
        let inner = ["python3", "-m", SERVER_MODULE, "/p", "9240", TOKEN];
        for wrapper in [
            &["timeout", "60"][..],
            &["sudo", "-u", "x"],
            &["runuser", "-u", "x", "--"],
            &["ssh", "-L", "9240:localhost:9240", "host"],
            &["docker", "exec", "c"],
            &["env", "A=1"],
            &["setsid"],
        ] {
            let argv: Vec<&str> = wrapper.iter().chain(&inner).copied().collect();
            assert!(parse(&argv).is_none(), "{argv:?}");
        }
        let sh = [
            "bash",
            "-c",
            "python3 \"$@\"",
            "bash",
            "-m",
            SERVER_MODULE,
            "/p",
            "9240",
        ];
        assert!(parse(&sh).is_none());
    }

    fn script(dir_repr: &str, tail: &str) -> String {
        format!(
            "\nimport sys\nfrom pathlib import Path\nrepo_root = Path('/v/lib/python3.11/site-packages')\n\
             sys.path.insert(0, str(repo_root))\n{SERVER_IMPORT}\n\
             run_dashboard_server(Path({dir_repr}), 9237, {tail})\n"
        )
    }

    #[test]
    fn script_form_as_0_5_3_writes_it() {
        let s = script(r#""/tmp/it's""#, &format!("'{TOKEN}'"));
        let c = parse(&["/v/bin/python3", "-c", &s]).expect("dashboard");
        assert_eq!(c.form, CommandForm::Script);
        assert_eq!(c.project_dir, Path::new("/tmp/it's"));
        assert_eq!((c.port, c.token()), (Some(9237), Some(TOKEN)));
        let c = parse(&["python", "-c", &script("'/p'", "None")]).expect("dashboard");
        assert_eq!((c.port, c.token()), (Some(9237), None));
        // Attached: -cCODE.
        assert!(parse(&["python", &format!("-c{}", script("'/p'", "None"))]).is_some());
        // Extra program arguments, other code, a call that is not the last statement.
        assert!(parse(&["python", "-c", &script("'/p'", "None"), "x"]).is_none());
        let other = format!("print('{SERVER_FUNCTION}(Path(\"/p\"), 9237, None)')");
        assert!(parse(&["python", "-c", &other]).is_none());
        let not_last = format!("{}print(1)\n", script("'/p'", "None"));
        assert!(parse(&["python", "-c", &not_last]).is_none());
        let no_import = format!("{SERVER_FUNCTION}(Path('/p'), 9237, None)");
        assert!(parse(&["python", "-c", &no_import]).is_none());
    }

    #[test]
    fn python_repr_is_decoded_to_the_bytes_of_the_path() {
        let cases: &[(&str, &[u8])] = &[
            (r"'/tmp/plain'", b"/tmp/plain"),
            (r#""it's""#, b"it's"),
            (r#"'both \' and "'"#, b"both ' and \""),
            (r"'back\\slash'", b"back\\slash"),
            (r"'tab\there\nnl\rcr'", b"tab\there\nnl\rcr"),
            (r"'del\x7f nbsp\xa0'", "del\u{7f} nbsp\u{a0}".as_bytes()),
            (r"'zero\u200bwidth'", "zero\u{200b}width".as_bytes()),
            (r"'astral\U0001f600'", "astral\u{1f600}".as_bytes()),
            ("'caf\u{e9}'", "caf\u{e9}".as_bytes()),
            (r"'raw\udcff\udcfe'", b"raw\xff\xfe"),
        ];
        for (repr, want) in cases {
            let (got, rest) = python_str(repr.as_bytes()).expect(repr);
            assert_eq!((got.as_slice(), rest), (*want, &b""[..]), "{repr}");
        }
        for bad in [r"'open", r"'\q'", r"'\ud800'", r"'\x4'", "x'"] {
            assert!(python_str(bad.as_bytes()).is_none(), "{bad}");
        }
    }

    #[test]
    fn paths_that_are_not_utf8_stay_bytes_in_both_forms() {
        let dir = OsString::from_vec(b"/tmp/proj-\xff\xfe".to_vec());
        let argv = [
            OsString::from("python3"),
            "-m".into(),
            SERVER_MODULE.into(),
            dir.clone(),
            "9240".into(),
        ];
        let c = DashboardCommand::parse(&argv).expect("dashboard");
        assert_eq!(c.project_dir.as_os_str(), dir.as_os_str());
        let s = script(r"'/tmp/proj-\udcff\udcfe'", "None");
        let c = parse(&["python3", "-c", &s]).expect("dashboard");
        assert_eq!(c.project_dir.as_os_str(), dir.as_os_str());
    }

    #[test]
    fn others_are_not_dashboards() {
        let daemon = [
            "python",
            "-c",
            "from x import run_sync_daemon; run_sync_daemon()",
            "--spec-kitty-daemon-root=/h",
        ];
        assert!(parse(&daemon).is_none());
        assert!(is_sync_daemon(&daemon));
        assert!(parse(&["python3", "-m", "http.server", "9237"]).is_none());
        assert!(parse(&["grep", "run_dashboard_server"]).is_none());
        assert!(parse(&["python", "-c", "run_dashboard_server(oops"]).is_none());
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
    fn dashboard_files_are_read_the_way_spec_kitty_reads_them() {
        let read = |b: &[u8]| DashboardFile::parse(b).expect("parses");
        let crlf = read(b"http://127.0.0.1:9237  \r\n 9237\r\n\r\ntok \r\n4242\r\nextra line\n");
        assert_eq!(
            (crlf.port, crlf.token(), crlf.pid),
            (Some(9237), Some("tok"), Some(4242))
        );
        assert!(crlf.names(4242, None) && !crlf.names(4243, Some(9237)));
        let old = read(b"http://127.0.0.1:9237\n9237\n");
        assert_eq!((old.port, old.token(), old.pid), (Some(9237), None, None));
        assert!(old.names(1, Some(9237)) && !old.names(1, Some(9238)));
        let odd = read(b"http://x\nnot a port\ntok\nnot a pid\n");
        assert_eq!((odd.port, odd.pid), (None, None));
        assert!(!odd.names(1, Some(9237)));
        assert_eq!(read(b"u\n+9_237\nt\n42\n").port, Some(9237));
        assert_eq!(read(b"u\n70000\nt\n42\n").port, None);
        for bad in [&b""[..], b"\n \n", b"\xff\xfe\x00"] {
            assert!(DashboardFile::parse(bad).is_err(), "{bad:?}");
        }
        assert!(DashboardFile::parse(&vec![b'9'; 1 << 20]).is_err());
    }

    #[test]
    fn a_fifo_is_an_error_not_a_hang() {
        let dir = tempfile::tempdir().expect("tmp");
        fs::create_dir_all(dir.path().join(".kittify")).expect("mkdir");
        rustix::fs::mkfifoat(
            rustix::fs::CWD,
            DashboardFile::path_in(dir.path()).as_path(),
            rustix::fs::Mode::from_raw_mode(0o600),
        )
        .expect("mkfifo");
        assert!(matches!(
            DashboardFile::read(dir.path()),
            Err(DashboardFileError::Malformed { .. })
        ));
    }
}
