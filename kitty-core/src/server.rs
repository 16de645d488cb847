//! Server profiles: how to recognise a kind of dev server by its command
//! line, and which port it was told to serve on, as data.
//!
//! A [`ServerProfile`] is what [`spec_kitty::DashboardCommand`] is for
//! spec-kitty's dashboard, for any other server, described rather than
//! coded so that a config file can describe another one later:
//!
//! - **`program`**: globs on the file name of `argv[0]` (what follows its
//!   last `/`), `*` (any run of bytes) and `?` (one byte) only. `argv[0]`
//!   itself must match: `timeout 60 python3 -m http.server` and
//!   `bash -c 'python3 -m http.server'` are a `timeout` and a `bash`, not the
//!   server (they are judged, and reported, as what they are).
//! - **`args`**: tokens that must appear consecutively, byte for byte,
//!   somewhere in `argv[1..]` (`-m http.server`).
//! - **`port`** ([`PortArg`]): where the command line names its port, read
//!   from the arguments after `args` by a small option grammar
//!   ([`OptionGrammar`]): which options take a value, and whether long
//!   options may be abbreviated.
//! - **`ports`**, **`health`**: the ports it serves when the command line
//!   does not say, and a path to `GET` on its port.
//!
//! Everything is bytes: an argument that is not UTF-8 is compared as it is,
//! never decoded lossily.
//!
//! A profile recognises a *kind* of process; it proves nothing about whose
//! it is. Whether it may be stopped is [`judge_process`](crate::judge_process)'s
//! question, answered by the run's own proof alone.
//!
//! ```
//! use std::ffi::OsString;
//! use kitty_core::server::ServerProfile;
//! let argv = |words: &[&str]| words.iter().map(OsString::from).collect::<Vec<_>>();
//! let http = ServerProfile::python_http_server();
//! let served = argv(&["/usr/bin/python3.12", "-m", "http.server", "--bind", "127.0.0.1", "9000"]);
//! assert!(http.matches(&served));
//! assert_eq!(http.port_of(&served), Some(9000));
//! assert_eq!(http.port_of(&argv(&["python3", "-m", "http.server"])), Some(8000));
//! assert!(!http.matches(&argv(&["timeout", "60", "python3", "-m", "http.server"])));
//! ```
//!
//! [`spec_kitty::DashboardCommand`]: crate::spec_kitty::DashboardCommand

use std::ffi::OsString;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::os::{self as sys, BoundedReadError, DirState};
use crate::ports::PortSet;
use crate::process::ProcessIdentity;
use crate::spec_kitty::{DashboardClass, OrphanReason, StartingBecause};

/// How to recognise one kind of server by its command line, and where it
/// serves. See the [module](self) for the grammar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerProfile {
    /// Its name in reports (`http-server`).
    pub name: String,
    /// Globs on the file name of `argv[0]` (`*` and `?` only, on bytes): one
    /// must match (`python3*`).
    pub program: Vec<String>,
    /// Tokens that must appear consecutively in `argv[1..]`, byte for byte
    /// (`-m`, `http.server`); none: any arguments.
    pub args: Vec<OsString>,
    /// Where the command line names its port.
    pub port: PortArg,
    /// The ports it serves when its command line names none (`None`: not
    /// known).
    pub ports: Option<PortSet>,
    /// A path to `GET` on its port to see that it serves (`/`).
    pub health: Option<String>,
    /// A file, relative to its working directory, that records its pid
    /// while it serves (`.devserver.pid`; see [`classify_server`]). `None`:
    /// it keeps no record, and one whose directory exists is live.
    pub record: Option<PathBuf>,
    /// The options that name the directory it serves instead of its
    /// working directory (`http.server`'s `-d`/`--directory`), read by the
    /// port's option grammar; empty: it serves its working directory.
    pub directory: Vec<String>,
}

/// Where a server's command line names its port, in the arguments after
/// the profile's `args`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortArg {
    /// Its command line does not name a port ([`ServerProfile::port_of`] is
    /// `None`; its ports are the profile's `ports`).
    Unnamed,
    /// The one positional argument (`python3 -m http.server 8080`), read
    /// past the options of `options`; `default` when there is none. More
    /// than one positional argument is a command line the server refuses:
    /// no port.
    Positional {
        /// Which options take a value.
        options: OptionGrammar,
        /// The port when none is named (http.server: 8000).
        default: Option<u16>,
    },
    /// The value of an option: `--port N`, `--port=N`, `-p N`, `-pN` (the
    /// last one given wins); `default` when it is not given.
    Flag {
        /// The option's names (`--port`, `-p`).
        names: Vec<String>,
        /// Which other options take a value.
        options: OptionGrammar,
        /// The port when the option is not given.
        default: Option<u16>,
    },
}

/// The options of a server's command line, as far as reading its port
/// needs: which take a value. An argument that starts with `-` and is not
/// one of them is a flag; `--` ends the options; `-` alone and a negative
/// number are positional. An option with a value takes the next argument,
/// or its attached value (`--bind=X`, `-bX`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OptionGrammar {
    /// The options that take a value (`--bind`, `-b`).
    pub with_value: Vec<String>,
    /// Whether a long option may be given as a unique prefix of its name
    /// (`--dir` for `--directory`), as Python's argparse allows by default.
    /// A prefix of more than one option is a command line the server
    /// refuses: no port.
    pub abbreviations: bool,
}

impl ServerProfile {
    /// Python's `http.server` (`python3 -m http.server [options] [port]`):
    /// name `http-server`, program `python`, `python3` or `python3.*`, args
    /// `-m http.server`, the port positional (default 8000) past `-b`/`--bind`,
    /// `-d`/`--directory`, `-p`/`--protocol` and Python 3.14's
    /// `--tls-cert`, `--tls-key` and `--tls-password-file` (argparse:
    /// abbreviations allowed); no fixed ports; health `/` (its listing).
    pub fn python_http_server() -> Self {
        let with_value = [
            "--bind",
            "-b",
            "--directory",
            "-d",
            "--protocol",
            "-p",
            "--tls-cert",
            "--tls-key",
            "--tls-password-file",
        ];
        ServerProfile {
            name: "http-server".into(),
            program: ["python", "python3", "python3.*"]
                .map(String::from)
                .to_vec(),
            args: ["-m", "http.server"].map(OsString::from).to_vec(),
            port: PortArg::Positional {
                options: OptionGrammar {
                    with_value: with_value.map(String::from).to_vec(),
                    abbreviations: true,
                },
                default: Some(8000),
            },
            ports: None,
            health: Some("/".into()),
            record: None,
            directory: ["--directory", "-d"].map(String::from).to_vec(),
        }
    }

    /// Whether the server on `port` answers a `GET` of its
    /// [`health`](Self::health) path with 200 within `timeout`; `None` when
    /// the profile has no health path.
    pub fn answers(&self, port: u16, timeout: Duration) -> Option<bool> {
        let path = self.health.as_deref()?;
        Some(http_get(port, path, timeout).is_ok())
    }

    /// Whether `argv` is this kind of server: the file name of `argv[0]`
    /// matches one of `program`, and `args` appear consecutively in
    /// `argv[1..]`. Bytes are compared as they are.
    pub fn matches(&self, argv: &[OsString]) -> bool {
        self.after_args(argv).is_some()
    }

    /// The port `argv` names, by [`ServerProfile::port`]: `None` when it is
    /// not this kind of server, names no port (and there is no default), or
    /// names something that is not a port the server binds as told: not
    /// ASCII digits, out of range, or 0 (any free port); or when the
    /// command line is one the server refuses (an option's value missing,
    /// an ambiguous abbreviation, two positional arguments).
    pub fn port_of(&self, argv: &[OsString]) -> Option<u16> {
        let rest = self.after_args(argv)?;
        let rest: Vec<&[u8]> = rest.iter().map(|a| a.as_bytes()).collect();
        match &self.port {
            PortArg::Unnamed => None,
            PortArg::Positional { options, default } => {
                let scan = scan(&rest, options, &[])?;
                match scan.positional.as_slice() {
                    [] => *default,
                    [one] => ascii_port(one),
                    _ => None,
                }
            }
            PortArg::Flag {
                names,
                options,
                default,
            } => match scan(&rest, options, names)?.flag_value {
                Some(value) => ascii_port(value),
                None => *default,
            },
        }
    }

    /// The directory `argv` tells the server to serve through one of the
    /// [`directory`](Self::directory) options (the last one given), as
    /// written: relative to its working directory unless absolute. `None`
    /// when it names none (it serves its working directory), or the command
    /// line is one the server refuses.
    pub fn directory_of(&self, argv: &[OsString]) -> Option<OsString> {
        if self.directory.is_empty() {
            return None;
        }
        let rest = self.after_args(argv)?;
        let rest: Vec<&[u8]> = rest.iter().map(|a| a.as_bytes()).collect();
        // The port's grammar, its directory options read as the wanted one
        // (each name once: a name twice would make its abbreviation ambiguous).
        let mut grammar = match &self.port {
            PortArg::Unnamed => OptionGrammar::default(),
            PortArg::Positional { options, .. } => options.clone(),
            PortArg::Flag { options, names, .. } => {
                let mut o = options.clone();
                o.with_value.extend(names.iter().cloned());
                o
            }
        };
        grammar.with_value.retain(|o| !self.directory.contains(o));
        let value = scan(&rest, &grammar, &self.directory)?.flag_value?;
        Some(std::ffi::OsStr::from_bytes(value).to_os_string())
    }

    /// The arguments after the first run of `args` in `argv[1..]`, when
    /// `argv[0]` matches `program`.
    fn after_args<'a>(&self, argv: &'a [OsString]) -> Option<&'a [OsString]> {
        if !self.names_program(argv.first()?.as_bytes()) {
            return None;
        }
        let rest = &argv[1..];
        let n = self.args.len();
        if n == 0 {
            return Some(rest);
        }
        let at = rest.windows(n).position(|w| {
            w.iter()
                .zip(&self.args)
                .all(|(a, b)| a.as_bytes() == b.as_bytes())
        })?;
        Some(&rest[at + n..])
    }
}

impl ServerProfile {
    /// Whether the file name of `argv0` matches one of `program`.
    fn names_program(&self, argv0: &[u8]) -> bool {
        let name = argv0.rsplit(|&b| b == b'/').next().unwrap_or(argv0);
        self.program.iter().any(|p| glob(p.as_bytes(), name))
    }
}

/// A process a [`ServerProfile`] recognises, found by [`find_servers`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundServer {
    /// The process.
    pub identity: ProcessIdentity,
    /// The profile that recognised it (the first that does, in the order
    /// given).
    pub profile: ServerProfile,
}

impl FoundServer {
    /// The port its command line names (see [`ServerProfile::port_of`]).
    pub fn port(&self) -> Option<u16> {
        self.profile.port_of(self.identity.argv())
    }
}

/// Every process of every user that one of `profiles` recognises: one read
/// of each command line, and the full identity only of those that match
/// (matched again on the identity's own argv). Sorted by pid.
pub fn find_servers(profiles: &[ServerProfile]) -> Vec<FoundServer> {
    if profiles.is_empty() {
        return Vec::new();
    }
    sys::scan_command_lines(&|pid, raw| server_at(pid, raw, profiles))
        .into_iter()
        .map(|(_, found)| found)
        .collect()
}

/// The server `pid` is, when one of `profiles` recognises `raw`, its
/// command line as `/proc` gives it, and then its identity read afresh:
/// the look [`find_servers`] takes at each process. The first look, at the
/// program's name, splits nothing, so that a process no profile names (most
/// of them) costs no allocation.
pub(crate) fn server_at(pid: u32, raw: &[u8], profiles: &[ServerProfile]) -> Option<FoundServer> {
    let argv0 = raw.split(|&b| b == 0).next().unwrap_or(raw);
    if !profiles.iter().any(|p| p.names_program(argv0)) {
        return None;
    }
    let argv = sys::split_cmdline(raw);
    profiles.iter().find(|p| p.matches(&argv))?;
    let identity = ProcessIdentity::read(pid)?;
    let profile = profiles.iter().find(|p| p.matches(identity.argv()))?;
    Some(FoundServer {
        identity,
        profile: profile.clone(),
    })
}

/// The most of a server's record file read ([`ServerProfile::record`]).
pub const RECORD_FILE_LIMIT: u64 = 64 * 1024;

/// Classifies a server as [`classify_dashboard`](crate::spec_kitty::classify_dashboard)
/// classifies a dashboard, with the directory it serves for the project:
///
/// 1. [`Elsewhere`](DashboardClass::Elsewhere) when it does not share our
///    pid, mount and network namespaces and our root
///    ([`Unknown`](DashboardClass::Unknown) when they cannot be read);
/// 2. [`Orphan`](DashboardClass::Orphan) ([`OrphanReason::ServedDirGone`])
///    when the directory it serves was deleted (the temp dir a test served
///    from is gone): the one its command line names through a
///    [`directory`](ServerProfile::directory) option, else its working
///    directory; [`Unknown`](DashboardClass::Unknown) when that cannot
///    be read (another user's process);
/// 3. with no [`record`](ServerProfile::record): [`Live`](DashboardClass::Live);
/// 4. [`Live`](DashboardClass::Live) when the record file, read inside its
///    working directory (bounded, a symlink refused), names its pid as a
///    decimal number; [`Unknown`](DashboardClass::Unknown) when it cannot be
///    read (not a regular file, too large, a symlink);
/// 5. otherwise (no record, or one naming another pid)
///    [`Starting`](DashboardClass::Starting) while it is younger than
///    `start_grace`, else [`Unrecorded`](DashboardClass::Unrecorded).
pub fn classify_server(
    identity: &ProcessIdentity,
    profile: &ServerProfile,
    start_grace: Duration,
) -> DashboardClass {
    if let Some(class) = crate::spec_kitty::not_here(identity) {
        return class;
    }
    match served_dir_state(identity, profile) {
        DirState::Gone => {
            return DashboardClass::Orphan {
                reason: OrphanReason::ServedDirGone,
            };
        }
        DirState::Unknown => {
            return DashboardClass::Unknown {
                reason: "the directory it serves cannot be read".into(),
            };
        }
        DirState::Exists => {}
    }
    let Some(record) = &profile.record else {
        return DashboardClass::Live;
    };
    let names_it = match sys::read_in_cwd(identity.pid(), record, RECORD_FILE_LIMIT) {
        Ok(bytes) => names_pid(&bytes, identity.pid()),
        Err(BoundedReadError::Missing) => false,
        Err(e) => {
            return DashboardClass::Unknown {
                reason: format!("its record {}: {e}", record.display()),
            };
        }
    };
    if names_it {
        DashboardClass::Live
    } else if identity.age() < start_grace {
        DashboardClass::Starting {
            because: StartingBecause::Young,
        }
    } else {
        DashboardClass::Unrecorded
    }
}

/// Whether the directory a server serves still exists: the one its command
/// line names ([`ServerProfile::directory_of`]: absolute, or relative to its
/// working directory), else its working directory. A relative one inside a
/// deleted working directory is gone with it.
fn served_dir_state(identity: &ProcessIdentity, profile: &ServerProfile) -> DirState {
    let cwd = sys::cwd_state(identity.pid());
    let Some(named) = profile.directory_of(identity.argv()) else {
        return cwd;
    };
    let named = std::path::Path::new(&named);
    if named.is_absolute() {
        return sys::dir_state(named.as_os_str());
    }
    match (cwd, identity.cwd()) {
        (DirState::Exists, Some(cwd)) => sys::dir_state(cwd.join(named).as_os_str()),
        (DirState::Exists, None) => DirState::Unknown,
        (other, _) => other,
    }
}

/// Whether `bytes` hold `pid` as a whole decimal number (`4242`,
/// `{"pid": 4242}`, `4242\n`), never as a part of one (`14242`).
fn names_pid(bytes: &[u8], pid: u32) -> bool {
    let want = pid.to_string();
    bytes
        .split(|b| !b.is_ascii_digit())
        .any(|number| number == want.as_bytes())
}

/// A minimal loopback GET (HTTP/1.0) of `path` on `127.0.0.1:port`, the
/// whole exchange within `timeout`; returns the body of a 200 answer (at
/// most 1 MiB).
pub(crate) fn http_get(port: u16, path: &str, timeout: Duration) -> io::Result<Vec<u8>> {
    let deadline = Instant::now() + timeout;
    let left = || {
        deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or_else(|| io::Error::from(io::ErrorKind::TimedOut))
    };
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut s = TcpStream::connect_timeout(&addr, left()?)?;
    s.set_write_timeout(Some(left()?))?;
    // One write: `write!` on the stream would send each formatted piece in
    // a segment of its own (and Nagle holds the later ones for an ACK).
    let request =
        format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    s.write_all(request.as_bytes())?;
    let mut raw = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        s.set_read_timeout(Some(left()?))?;
        match s.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
        if raw.len() > 1 << 20 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "answer over 1 MiB",
            ));
        }
    }
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no HTTP header end"))?;
    let status_ok = raw.starts_with(b"HTTP/1.0 200") || raw.starts_with(b"HTTP/1.1 200");
    if !status_ok {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "HTTP status is not 200",
        ));
    }
    Ok(raw.split_off(split + 4))
}

/// What a read of the options found.
struct Scan<'a> {
    positional: Vec<&'a [u8]>,
    flag_value: Option<&'a [u8]>,
}

/// Reads `args` by `grammar`; `port_names`: the options whose value is the
/// port (they take a value too). `None` when the server would refuse the
/// command line (a value missing, an ambiguous abbreviation).
fn scan<'a>(args: &[&'a [u8]], grammar: &OptionGrammar, port_names: &[String]) -> Option<Scan<'a>> {
    let mut out = Scan {
        positional: Vec::new(),
        flag_value: None,
    };
    let mut i = 0;
    let mut options_done = false;
    while let Some(&arg) = args.get(i) {
        i += 1;
        let negative_number = arg.len() > 1 && arg[0] == b'-' && arg[1].is_ascii_digit();
        if options_done || !arg.starts_with(b"-") || arg == b"-" || negative_number {
            out.positional.push(arg);
            continue;
        }
        if arg == b"--" {
            options_done = true;
            continue;
        }
        let (name, attached): (&[u8], Option<&'a [u8]>) = if arg.starts_with(b"--") {
            match arg.iter().position(|&b| b == b'=') {
                Some(eq) => (&arg[..eq], Some(&arg[eq + 1..])),
                None => (arg, None),
            }
        } else if arg.len() > 2 {
            (&arg[..2], Some(&arg[2..]))
        } else {
            (arg, None)
        };
        let Some((takes_value, is_port)) = resolve(name, grammar, port_names)? else {
            continue; // a flag (or a cluster of short flags)
        };
        if !takes_value {
            continue;
        }
        let value = match attached {
            Some(v) => v,
            None => {
                let v = *args.get(i)?;
                i += 1;
                v
            }
        };
        if is_port {
            out.flag_value = Some(value);
        }
    }
    Some(out)
}

/// What option `name` is: `Some(Some((takes a value, names the port)))`,
/// `Some(None)` for a flag, `None` for an ambiguous abbreviation.
fn resolve(
    name: &[u8],
    grammar: &OptionGrammar,
    port_names: &[String],
) -> Option<Option<(bool, bool)>> {
    let known = port_names
        .iter()
        .map(|n| (n, true))
        .chain(grammar.with_value.iter().map(|n| (n, false)));
    if let Some((_, is_port)) = known.clone().find(|(n, _)| n.as_bytes() == name) {
        return Some(Some((true, is_port)));
    }
    // `-bX`: a short option with a value, and its attached value; any other
    // short cluster is flags.
    if !name.starts_with(b"--") || !grammar.abbreviations || name.len() <= 2 {
        return Some(None);
    }
    let mut found = known.filter(|(n, _)| n.starts_with("--") && n.as_bytes().starts_with(name));
    match (found.next(), found.next()) {
        (None, _) => Some(None),
        (Some((_, is_port)), None) => Some(Some((true, is_port))),
        (Some(_), Some(_)) => None,
    }
}

/// A port written in ASCII digits (leading zeros allowed), 1 to 65535.
fn ascii_port(b: &[u8]) -> Option<u16> {
    if b.is_empty() || b.len() > 16 || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n = b.iter().try_fold(0u32, |n, &d| {
        n.checked_mul(10)?.checked_add(u32::from(d - b'0'))
    })?;
    u16::try_from(n).ok().filter(|&p| p != 0)
}

/// Whether `name` matches `pattern`: `*` any run of bytes, `?` one byte,
/// every other byte itself. Linear backtracking on the last `*`: at most
/// `pattern.len() * name.len()` steps.
fn glob(pattern: &[u8], name: &[u8]) -> bool {
    let (mut p, mut n) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, n));
                p += 1;
            }
            Some(&c) if c == b'?' || c == name[n] => {
                p += 1;
                n += 1;
            }
            _ => match star {
                Some((sp, sn)) => {
                    p = sp + 1;
                    n = sn + 1;
                    star = Some((sp, sn + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use std::os::unix::ffi::OsStringExt;

    use super::*;

    fn argv(words: &[&str]) -> Vec<OsString> {
        words.iter().map(OsString::from).collect()
    }

    fn http() -> ServerProfile {
        ServerProfile::python_http_server()
    }

    #[test]
    fn http_server_serves_the_directory_its_command_line_names() {
        let argv = |words: &[&str]| words.iter().map(OsString::from).collect::<Vec<_>>();
        let dir = |words: &[&str]| http().directory_of(&argv(words));
        let py = ["python3", "-m", "http.server"];
        let with = |rest: &[&'static str]| -> Vec<&'static str> { [&py[..], rest].concat() };
        assert_eq!(dir(&with(&["8000"])), None, "its working directory");
        assert_eq!(dir(&with(&["-d", "/srv"])), Some("/srv".into()));
        assert_eq!(dir(&with(&["--directory=rel", "8000"])), Some("rel".into()));
        assert_eq!(
            dir(&with(&["--dir", "/a", "-d/b"])),
            Some("/b".into()),
            "the last wins"
        );
        assert_eq!(dir(&with(&["-d"])), None, "a value missing: refused");
        assert_eq!(
            dir(&["timeout", "60", "python3", "-m", "http.server", "-d", "/x"]),
            None
        );
        // It is no port, and the port is still read past it.
        assert_eq!(
            http().port_of(&argv(&with(&["-d", "9000", "8001"]))),
            Some(8001)
        );
    }

    #[test]
    fn globs_match_bytes_with_star_and_question_mark() {
        for (pat, name, want) in [
            ("python3*", "python3", true),
            ("python3*", "python3.12", true),
            ("python3.*", "python3.12", true),
            ("python3.*", "python3", false),
            ("python", "python", true),
            ("python", "python3", false),
            ("py?hon", "python", true),
            ("py?hon", "pyhon", false),
            ("*", "", true),
            ("", "", true),
            ("", "x", false),
            ("a*b*c", "aXXbYYc", true),
            ("a*b*c", "aXXbYY", false),
            ("*.*", "python3.12", true),
            ("**?", "", false),
        ] {
            assert_eq!(glob(pat.as_bytes(), name.as_bytes()), want, "{pat} {name}");
        }
        assert!(glob(b"py?hon", b"py\xffhon"), "? is one byte");
        assert!(glob(b"py*", b"py\xff\xfe"));
    }

    #[test]
    fn http_server_is_recognised_by_its_interpreter_and_module() {
        for words in [
            &["python3", "-m", "http.server"][..],
            &["python", "-m", "http.server", "8080"],
            &["/usr/bin/python3.12", "-m", "http.server"],
            &["/venv/bin/python3", "-u", "-m", "http.server", "9000"],
        ] {
            assert!(http().matches(&argv(words)), "{words:?}");
        }
        for words in [
            // Wrappers: argv[0] is the wrapper.
            &["timeout", "60", "python3", "-m", "http.server"][..],
            &["bash", "-c", "python3 -m http.server"],
            &["sudo", "python3", "-m", "http.server"],
            // Other interpreters, modules, or the tokens apart.
            &["python2", "-m", "http.server"],
            &["python3x", "-m", "http.server"],
            &["python3", "-m", "http.server2"],
            &["python3", "-m", "SimpleHTTPServer"],
            &["python3", "-m", "-m", "x", "http.server"],
            &["python3", "http.server", "-m"],
            &["python3"],
            &[],
        ] {
            assert!(!http().matches(&argv(words)), "{words:?}");
        }
    }

    #[test]
    fn http_servers_port_is_its_positional_argument() {
        for (words, want) in [
            (&["python3", "-m", "http.server"][..], Some(8000)),
            (&["python3", "-m", "http.server", "8080"], Some(8080)),
            (
                &[
                    "python3",
                    "-m",
                    "http.server",
                    "--bind",
                    "127.0.0.1",
                    "9001",
                ],
                Some(9001),
            ),
            (
                &["python3", "-m", "http.server", "9001", "-b", "::1"],
                Some(9001),
            ),
            (
                &[
                    "python3",
                    "-m",
                    "http.server",
                    "-d",
                    "/srv",
                    "-p",
                    "HTTP/1.1",
                    "9002",
                ],
                Some(9002),
            ),
            (
                &["python3", "-m", "http.server", "--directory", "8080"],
                Some(8000),
            ),
            (
                &["python3", "-m", "http.server", "--directory=/x", "9003"],
                Some(9003),
            ),
            (
                &["python3", "-m", "http.server", "-b127.0.0.1", "9004"],
                Some(9004),
            ),
            (
                &["python3", "-m", "http.server", "--cgi", "9005"],
                Some(9005),
            ),
            (&["python3", "-m", "http.server", "--", "9006"], Some(9006)),
            // argparse abbreviations: `--dir` is `--directory`.
            (
                &["python3", "-m", "http.server", "--dir", "9999"],
                Some(8000),
            ),
            (
                &["python3", "-m", "http.server", "--bi=::", "9007"],
                Some(9007),
            ),
            // Python 3.14's options with a value.
            (
                &[
                    "python3",
                    "-m",
                    "http.server",
                    "--tls-cert",
                    "c.pem",
                    "9443",
                ],
                Some(9443),
            ),
            // Ambiguous (`--tls-cert`, `--tls-key`, ...): refused, no port.
            (
                &["python3", "-m", "http.server", "--tls", "x", "9443"],
                None,
            ),
            // A value missing: refused.
            (&["python3", "-m", "http.server", "9008", "--bind"], None),
            // Two positional arguments: refused.
            (&["python3", "-m", "http.server", "9009", "9010"], None),
            // Not a port the server binds as told.
            (&["python3", "-m", "http.server", "0"], None),
            (&["python3", "-m", "http.server", "65536"], None),
            (&["python3", "-m", "http.server", "+8080"], None),
            (&["python3", "-m", "http.server", "-1"], None),
            (&["python3", "-m", "http.server", "80a"], None),
            (&["python3", "-m", "http.server", "080"], Some(80)),
            // Not the server at all.
            (
                &["timeout", "60", "python3", "-m", "http.server", "8080"],
                None,
            ),
        ] {
            assert_eq!(http().port_of(&argv(words)), want, "{words:?}");
        }
    }

    #[test]
    fn argv_that_is_not_utf8_is_compared_as_bytes() {
        let raw = |b: &[u8]| OsString::from_vec(b.to_vec());
        // A directory that is not UTF-8, and an interpreter path that is not.
        let served = vec![
            raw(b"/opt/\xff\xfe/bin/python3"),
            raw(b"-m"),
            raw(b"http.server"),
            raw(b"-d"),
            raw(b"/srv/\x80\x81"),
            raw(b"9100"),
        ];
        assert!(http().matches(&served));
        assert_eq!(http().port_of(&served), Some(9100));
        // A byte that is not UTF-8 in the module's name is another module:
        // a lossy decode would have made it U+FFFD and still not matched,
        // but a profile with such a byte matches it exactly.
        let odd = vec![raw(b"python3"), raw(b"-m"), raw(b"http.serv\xffr")];
        assert!(!http().matches(&odd));
        let mut profile = http();
        profile.args = vec![raw(b"-m"), raw(b"http.serv\xffr")];
        assert!(profile.matches(&odd));
        let replaced = vec![
            raw(b"python3"),
            raw(b"-m"),
            raw("http.serv\u{fffd}r".as_bytes()),
        ];
        assert!(!profile.matches(&replaced), "U+FFFD is not the byte 0xff");
        // A port that is not ASCII digits is no port.
        let port = vec![
            raw(b"python3"),
            raw(b"-m"),
            raw(b"http.server"),
            raw(b"80\xff"),
        ];
        assert_eq!(http().port_of(&port), None);
        // A program name that is not UTF-8.
        profile.program = vec!["py*".into()];
        assert!(profile.matches(&[raw(b"py\xff"), raw(b"-m"), raw(b"http.serv\xffr")]));
    }

    #[test]
    fn a_flag_profile_reads_its_option() {
        let node = ServerProfile {
            name: "vite".into(),
            program: vec!["node".into()],
            args: vec!["vite".into()],
            port: PortArg::Flag {
                names: vec!["--port".into(), "-p".into()],
                options: OptionGrammar {
                    with_value: vec!["--host".into(), "--config".into(), "-c".into()],
                    abbreviations: false,
                },
                default: Some(5173),
            },
            ports: Some(PortSet::single(5173)),
            health: None,
            record: None,
            directory: Vec::new(),
        };
        for (words, want) in [
            (&["node", "vite"][..], Some(5173)),
            (&["node", "vite", "--port", "3000"], Some(3000)),
            (&["node", "vite", "--port=3001"], Some(3001)),
            (&["node", "vite", "-p3002"], Some(3002)),
            (&["node", "vite", "-p", "1", "--port", "3003"], Some(3003)),
            // `--host`'s value is not the option.
            (&["node", "vite", "--host", "--port", "3004"], Some(5173)),
            // No abbreviations: `--po` is a flag.
            (&["node", "vite", "--po", "3005"], Some(5173)),
            (&["node", "vite", "--port"], None),
            (&["node", "vite", "--port", "x"], None),
            (&["/usr/bin/node", "x", "vite", "serve"], Some(5173)),
            (&["bun", "vite"], None),
        ] {
            assert_eq!(node.port_of(&argv(words)), want, "{words:?}");
        }
        let any_args = ServerProfile {
            args: Vec::new(),
            port: PortArg::Unnamed,
            ..node
        };
        assert!(any_args.matches(&argv(&["node"])));
        assert_eq!(any_args.port_of(&argv(&["node", "--port", "1"])), None);
    }

    #[cfg(target_os = "linux")]
    /// A child serving from `dir` (a `sleep` there, matched by a profile of
    /// `sleep` whose record file is `.srv.pid`).
    fn serving_from(dir: &std::path::Path) -> (std::process::Child, FoundServer) {
        let child = std::process::Command::new("sleep")
            .arg("30")
            .current_dir(dir)
            .spawn()
            .expect("sleep");
        let identity = ProcessIdentity::read(child.id()).expect("child");
        let profile = ServerProfile {
            name: "sleeper".into(),
            program: vec!["sleep".into()],
            args: Vec::new(),
            port: PortArg::Unnamed,
            ports: None,
            health: None,
            record: Some(".srv.pid".into()),
            directory: Vec::new(),
        };
        (child, FoundServer { identity, profile })
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn a_server_is_an_orphan_when_its_dir_is_gone_and_unrecorded_when_its_record_names_another() {
        use crate::judge::{Grounds, Scope, judge_server};
        use std::collections::HashSet;
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut child, found) = serving_from(dir.path());
        let pid = found.identity.pid();
        let class = |grace| classify_server(&found.identity, &found.profile, grace);
        let sweep = Scope::Sweep { all: true };
        let none = HashSet::new();
        // No record yet: starting while young, then unrecorded.
        assert!(matches!(
            class(Duration::from_secs(600)),
            DashboardClass::Starting { .. }
        ));
        assert_eq!(class(Duration::ZERO), DashboardClass::Unrecorded);
        // A record naming another pid (one that contains its digits too).
        std::fs::write(dir.path().join(".srv.pid"), format!("1{pid}\n")).expect("record");
        assert_eq!(class(Duration::ZERO), DashboardClass::Unrecorded);
        let j = judge_server(&found, sweep, &none, Duration::ZERO);
        assert_eq!(j.grounds(), Ok(&Grounds::Unrecorded));
        // Its own record: live, never swept, --all or not.
        std::fs::write(dir.path().join(".srv.pid"), format!("{{\"pid\": {pid}}}")).expect("record");
        assert_eq!(class(Duration::ZERO), DashboardClass::Live);
        let j = judge_server(&found, sweep, &none, Duration::ZERO);
        assert_eq!(j.grounds(), Err(&crate::Doubt::Live));
        // A symlink for a record is refused: unknown, never swept.
        std::fs::remove_file(dir.path().join(".srv.pid")).expect("rm");
        std::os::unix::fs::symlink("/etc/hostname", dir.path().join(".srv.pid")).expect("symlink");
        assert!(matches!(
            class(Duration::ZERO),
            DashboardClass::Unknown { .. }
        ));
        assert!(!judge_server(&found, sweep, &none, Duration::ZERO).may_stop());
        // A FIFO: refused at once, never waited on.
        std::fs::remove_file(dir.path().join(".srv.pid")).expect("rm");
        crate::os::make_fifo(&dir.path().join(".srv.pid")).expect("fifo");
        assert!(matches!(
            class(Duration::ZERO),
            DashboardClass::Unknown { .. }
        ));
        // Its directory deleted: an orphan, for the sweep and the fixtures'.
        drop(dir);
        assert_eq!(
            class(Duration::ZERO),
            DashboardClass::Orphan {
                reason: OrphanReason::ServedDirGone
            }
        );
        for scope in [sweep, Scope::Orphans] {
            let j = judge_server(&found, scope, &none, Duration::ZERO);
            assert_eq!(
                j.grounds(),
                Ok(&Grounds::Orphan {
                    reason: OrphanReason::ServedDirGone
                })
            );
        }
        // Never for a project, and never our own ancestor.
        let project = Scope::Project {
            dir: std::path::Path::new("/"),
        };
        assert!(!judge_server(&found, project, &none, Duration::ZERO).may_stop());
        let protected = HashSet::from([pid]);
        assert_eq!(
            judge_server(&found, sweep, &protected, Duration::ZERO).grounds(),
            Err(&crate::Doubt::Ancestor)
        );
        child.kill().expect("kill");
        child.wait().expect("wait");
        // Gone: nothing to prove, nothing signalled.
        assert!(!judge_server(&found, sweep, &none, Duration::ZERO).may_stop());
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn find_servers_finds_a_server_by_its_profile_and_nothing_else() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut child, found) = serving_from(dir.path());
        let all = find_servers(std::slice::from_ref(&found.profile));
        assert!(all.iter().any(|s| s.identity.pid() == found.identity.pid()));
        assert!(
            all.iter()
                .all(|s| s.identity.argv()[0].as_bytes().ends_with(b"sleep"))
        );
        assert!(find_servers(&[]).is_empty());
        child.kill().expect("kill");
        child.wait().expect("wait");
    }

    #[test]
    fn a_health_path_is_asked_on_the_port() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = l.local_addr().expect("addr").port();
        let server = std::thread::spawn(move || {
            let (mut c, _) = l.accept().expect("accept");
            // The request may come in pieces (one write per formatted part).
            let mut request = Vec::new();
            let mut buf = [0u8; 512];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = c.read(&mut buf).expect("read");
                assert!(n > 0, "the request ended early: {request:?}");
                request.extend_from_slice(&buf[..n]);
            }
            assert!(
                request.starts_with(b"GET /healthz HTTP/1.0\r\n"),
                "{request:?}"
            );
            c.write_all(b"HTTP/1.0 200 OK\r\n\r\nok").expect("write");
        });
        let mut p = ServerProfile::python_http_server();
        p.health = Some("/healthz".into());
        assert_eq!(p.answers(port, Duration::from_secs(5)), Some(true));
        server.join().expect("server");
        p.health = None;
        assert_eq!(p.answers(port, Duration::from_secs(5)), None);
    }
}
