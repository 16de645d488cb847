//! Recognising a spec-kitty dashboard server by its command line: Python's
//! own argv grammar, both of spec-kitty's child command lines, and Python's
//! `repr` of a path, decoded to its bytes.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use crate::process::ProcessIdentity;
use crate::token::Token;

/// The module 3.2.7 and 4.0.0rc1-rc4 run as the dashboard child.
pub const SERVER_MODULE: &str = "specify_cli.dashboard._server_main";
/// The function every release runs as the dashboard server.
pub const SERVER_FUNCTION: &str = "run_dashboard_server";
/// The import line of the `-c` script of releases before 3.x.
const SERVER_IMPORT: &str = "from specify_cli.dashboard.server import run_dashboard_server";

/// Which of spec-kitty's child command lines a dashboard was started with:
/// one per release family (4.0.0rc5 and later have no dashboard at all).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum CommandForm {
    /// `python -m specify_cli.dashboard._server_main <project_dir> <port> [<token>]` (3.2.7).
    Module,
    /// `python -m specify_cli.dashboard._server_main --project-dir <dir> --port <port>
    /// [--token <t>] [--port-report-file <f>]` (4.0.0rc1-rc4: argparse; each
    /// flag as `--flag value` or `--flag=value`, in any order).
    ModuleFlags,
    /// `python -c "...run_dashboard_server(Path('<dir>'), <port>, '<token>')"` (0.5.x to 3.2.6).
    Script,
}

impl CommandForm {
    /// The arguments after the interpreter with which this family's
    /// `spec-kitty dashboard` starts the server for `project_dir` on `port`
    /// with `token`: what [`DashboardCommand::parse`] recognises (a
    /// round trip, tested per form). Paths are bytes, kept exactly.
    pub fn server_args(self, project_dir: &Path, port: u16, token: &str) -> Vec<OsString> {
        match self {
            CommandForm::Module => vec![
                "-m".into(),
                SERVER_MODULE.into(),
                project_dir.as_os_str().to_os_string(),
                port.to_string().into(),
                token.into(),
            ],
            CommandForm::ModuleFlags => vec![
                "-m".into(),
                SERVER_MODULE.into(),
                "--project-dir".into(),
                project_dir.as_os_str().to_os_string(),
                "--port".into(),
                port.to_string().into(),
                "--token".into(),
                token.into(),
            ],
            CommandForm::Script => {
                let mut script = b"from pathlib import Path\n\
                    from specify_cli.dashboard.server import run_dashboard_server\n\
                    run_dashboard_server(Path("
                    .to_vec();
                script.extend_from_slice(py_repr(project_dir.as_os_str().as_bytes()).as_bytes());
                script.extend_from_slice(
                    format!("), {port}, {})\n", py_repr(token.as_bytes())).as_bytes(),
                );
                vec!["-c".into(), OsString::from_vec(script)]
            }
        }
    }
}

/// A Python string literal of `bytes` that `os.fsencode` turns back into
/// exactly those bytes: ASCII only, `\uNNNN` for other characters and
/// `\udcNN` (`surrogateescape`) for bytes that are not valid UTF-8.
fn py_repr(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut out = String::from("'");
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            let _ = match c {
                '\\' => write!(out, "\\\\"),
                '\'' => write!(out, "\\'"),
                '\n' => write!(out, "\\n"),
                '\r' => write!(out, "\\r"),
                '\t' => write!(out, "\\t"),
                ' '..='~' => write!(out, "{c}"),
                c if u32::from(c) < 0x100 => write!(out, "\\x{:02x}", u32::from(c)),
                c if u32::from(c) < 0x10000 => write!(out, "\\u{:04x}", u32::from(c)),
                c => write!(out, "\\U{:08x}", u32::from(c)),
            };
        }
        for b in chunk.invalid() {
            let _ = write!(out, "\\udc{b:02x}");
        }
    }
    out.push('\'');
    out
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
/// use kitty_core::spec_kitty::{CommandForm, DashboardCommand};
/// let argv = ["/venv/bin/python3", "-m", "specify_cli.dashboard._server_main", "/tmp/p", "9237", "abc"];
/// let cmd = DashboardCommand::parse(&argv).expect("a dashboard");
/// assert_eq!((cmd.form, cmd.port), (CommandForm::Module, Some(9237)));
/// assert_eq!(cmd.project_dir, std::path::Path::new("/tmp/p"));
/// let wrapped = ["timeout", "60", "python3", "-m", "specify_cli.dashboard._server_main", "/tmp/p", "9237"];
/// assert!(DashboardCommand::parse(&wrapped).is_none());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DashboardCommand {
    /// The command-line form.
    pub form: CommandForm,
    /// The project directory the server serves, as the command line names
    /// it (maybe relative: see [`project_dir_of`](crate::spec_kitty::project_dir_of)).
    pub project_dir: PathBuf,
    /// The port it was told to bind.
    pub port: Option<u16>,
    token: Option<Token>,
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
            PythonRuns::Module(module, rest) if module == SERVER_MODULE.as_bytes() => {
                if rest.first().is_some_and(|a| a.starts_with(b"-")) {
                    return parse_flags(rest);
                }
                if !(2..=3).contains(&rest.len()) {
                    return None;
                }
                Some(DashboardCommand {
                    form: CommandForm::Module,
                    project_dir: PathBuf::from(std::ffi::OsString::from_vec(rest[0].to_vec())),
                    port: Some(ascii_port(rest[1])?),
                    token: rest.get(2).map(|t| Token::new(String::from_utf8_lossy(t))),
                })
            }
            PythonRuns::Module(..) => None,
            PythonRuns::Code(code, []) => parse_script(code),
            PythonRuns::Code(..) => None,
        }
    }

    /// The token from the command line. Never print it.
    pub fn token(&self) -> Option<&str> {
        self.token.as_ref().map(Token::expose)
    }
}

/// A port as the server parses it (`int()`, here strictly ASCII digits).
fn ascii_port(b: &[u8]) -> Option<u16> {
    if b.is_empty() || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(b).ok()?.parse().ok().filter(|p| *p > 0)
}

/// Reads the 4.0.0rc1-rc4 server's own arguments as its argparse parser
/// does, as far as it matters: each of `--project-dir` (required), `--port`
/// (required), `--token` and `--port-report-file` at most once, as `--flag
/// value` or `--flag=value`, in any order. Anything else is not a dashboard:
/// an unknown or abbreviated flag (argparse would accept a unique prefix;
/// spec-kitty never writes one), a flag given twice, a value that starts
/// with `-` in the `--flag value` form (argparse takes it for an option), a
/// positional argument, `--`, `-h`, a port that is not plain ASCII digits.
/// `--port 0` asks the OS for a port: then the port is unknown here (`None`)
/// and is read from the listener the server holds.
fn parse_flags(args: &[&[u8]]) -> Option<DashboardCommand> {
    let mut project_dir: Option<&[u8]> = None;
    let mut port: Option<&[u8]> = None;
    let mut token: Option<&[u8]> = None;
    let mut report: Option<&[u8]> = None;
    let mut i = 0;
    while let Some(&arg) = args.get(i) {
        i += 1;
        let flag = arg.strip_prefix(b"--").filter(|f| !f.is_empty())?;
        let (name, value) = match flag.iter().position(|&b| b == b'=') {
            Some(eq) => (&flag[..eq], &flag[eq + 1..]),
            None => {
                let v = *args.get(i)?;
                if v.starts_with(b"-") {
                    return None;
                }
                i += 1;
                (flag, v)
            }
        };
        let slot = match name {
            b"project-dir" => &mut project_dir,
            b"port" => &mut port,
            b"token" => &mut token,
            b"port-report-file" => &mut report,
            _ => return None,
        };
        if slot.replace(value).is_some() {
            return None;
        }
    }
    let port = port?;
    let port = if port == b"0" {
        None
    } else {
        Some(ascii_port(port)?)
    };
    Some(DashboardCommand {
        form: CommandForm::ModuleFlags,
        project_dir: PathBuf::from(std::ffi::OsString::from_vec(project_dir?.to_vec())),
        port,
        token: token.map(|t| Token::new(String::from_utf8_lossy(t))),
    })
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
        (Some(Token::new(String::from_utf8_lossy(&t))), after)
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

#[cfg(test)]
mod writer_tests {
    use super::*;

    #[test]
    fn repr_quotes_like_python_and_keeps_every_byte() {
        assert_eq!(py_repr(b"/tmp/it's"), r"'/tmp/it\'s'");
        assert_eq!(py_repr(br"a\b"), r"'a\\b'");
        assert_eq!(py_repr("zero\u{200b}é".as_bytes()), r"'zero\u200b\xe9'");
        assert_eq!(py_repr(b"raw\xff"), r"'raw\udcff'");
    }

    /// What the writer writes, the parser recognises, for every form and
    /// odd path (quotes, spaces, a zero-width space, bytes that are not UTF-8).
    #[test]
    fn every_form_round_trips_through_the_parser() {
        for form in [
            CommandForm::Module,
            CommandForm::ModuleFlags,
            CommandForm::Script,
        ] {
            for dir in [
                &b"/tmp/it's here"[..],
                "/tmp/\"odd\" dir\u{200b}".as_bytes(),
                b"/tmp/raw-\xff\xfe",
            ] {
                let dir = Path::new(OsStr::from_bytes(dir));
                let mut argv: Vec<OsString> = vec!["/x/python3".into()];
                argv.extend(form.server_args(dir, 9300, "0123456789abcdef0123456789abcdef"));
                let parsed = DashboardCommand::parse(&argv).expect("recognised");
                assert_eq!(parsed.form, form);
                assert_eq!(parsed.project_dir, dir, "{form:?}");
                assert_eq!(parsed.port, Some(9300));
                assert_eq!(parsed.token(), Some("0123456789abcdef0123456789abcdef"));
            }
        }
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

    /// 4.0.0rc1-rc4's argparse flags: either spelling, any order, the
    /// token optional, `--port 0` an unknown port; what argparse would
    /// refuse, or might read another way, is not a dashboard.
    #[test]
    fn module_flags_form() {
        let m = ["python3", "-m", SERVER_MODULE];
        let with = |rest: &[&str]| parse(&[&m[..], rest].concat());
        let c = with(&[
            "--project-dir",
            "/tmp/p",
            "--port",
            "9237",
            "--token",
            TOKEN,
        ])
        .expect("what 4.0.0rc4 writes");
        assert_eq!(
            (c.form, c.port, c.token()),
            (CommandForm::ModuleFlags, Some(9237), Some(TOKEN))
        );
        assert_eq!(c.project_dir, Path::new("/tmp/p"));
        for rest in [
            &["--port=9237", "--project-dir=/tmp/p"][..],
            &[
                "--port",
                "9237",
                "--project-dir",
                "/tmp/p",
                "--port-report-file",
                "/tmp/r",
            ],
            &["--project-dir=/tmp/p", "--token=", "--port", "9237"],
        ] {
            let c = with(rest).expect("argparse reads these");
            assert_eq!(
                (c.port, c.project_dir.as_path()),
                (Some(9237), Path::new("/tmp/p")),
                "{rest:?}"
            );
        }
        let c = with(&[
            "--project-dir",
            "/tmp/p",
            "--port",
            "0",
            "--port-report-file",
            "/tmp/r",
        ])
        .expect("an OS-assigned port");
        assert_eq!(c.port, None, "the port comes from the listener");
        // `--project-dir=-x` is a value; `--project-dir -x` is not (argparse
        // takes `-x` for an option).
        assert!(with(&["--project-dir=-x", "--port", "9237"]).is_some());
        for rest in [
            &["--project-dir", "-x", "--port", "9237"][..],
            &["--project-dir", "/tmp/p"], // no port
            &["--port", "9237"],          // no project
            &[
                "--project-dir",
                "/tmp/p",
                "--port",
                "9237",
                "--port",
                "9238",
            ], // twice
            &["--project", "/tmp/p", "--port", "9237"], // abbreviated
            &["--project-dir", "/tmp/p", "--port", "9237", "--verbose"],
            &["--project-dir", "/tmp/p", "--port", "+9237"],
            &["--project-dir", "/tmp/p", "--port", "00"],
            &["--project-dir", "/tmp/p", "--port"],
            &["--project-dir", "/tmp/p", "--port", "9237", "extra"],
            &["--project-dir", "/tmp/p", "--", "--port", "9237"],
            &["-h", "--project-dir", "/tmp/p", "--port", "9237"],
        ] {
            assert!(with(rest).is_none(), "{rest:?}");
        }
        // The flags in a wrapper's argv, or after another program's `-c`.
        let wrapped = [
            "timeout",
            "60",
            "python3",
            "-m",
            SERVER_MODULE,
            "--project-dir",
            "/p",
            "--port",
            "9237",
        ];
        assert!(parse(&wrapped).is_none());
        let other = [
            "python3",
            "-c",
            "pass",
            "-m",
            SERVER_MODULE,
            "--project-dir",
            "/p",
            "--port",
            "9237",
        ];
        assert!(parse(&other).is_none());
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
}
