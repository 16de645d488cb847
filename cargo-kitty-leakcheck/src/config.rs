//! `.config/kitty-leakcheck.toml`: what fails a run and what is stopped,
//! in profiles, nextest-style (issue 19).
//!
//! [`load`] finds the file (or takes `--config FILE`), reads it bounded,
//! checks every profile and server in it, and returns the [`Policy`] of the
//! profile asked for (`--profile`, `KITTY_LEAKCHECK_PROFILE`, else
//! `default`). Every error in the file is a [`ConfigError`] that names its
//! line. The format is documented in the README ("Configuration"); without
//! a file the [`Policy::default`] is today's behaviour.
//!
//! This module is data only: the modes read the [`Policy`]; the matcher of
//! a [`ServerSpec`] lives in kitty-core.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use kitty_core::PortSet;
use kitty_core::sys::{BoundedReadError, Symlinks, read_bounded};
use serde::Deserialize;
use toml::Spanned;

/// Where the file is looked for, relative to each directory from the
/// current one up to the repository root.
pub const CONFIG_PATH: &str = ".config/kitty-leakcheck.toml";

/// The profile used when none is asked for; every other profile inherits
/// from it what it does not set.
pub const DEFAULT_PROFILE: &str = "default";

/// The cap on the file's size: a config file is a few hundred bytes.
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// A kind of leak, as the config names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A spec-kitty dashboard the run left (the built-in server profile).
    Dashboards,
    /// A new listener on a watched port (whoever holds it).
    Listeners,
    /// A process the run left that a `[[server]]` profile recognises.
    Servers,
    /// Any other process the run left.
    Processes,
}

impl Kind {
    /// Every kind, in the order the config and the messages list them.
    pub const ALL: [Kind; 4] = [
        Kind::Dashboards,
        Kind::Listeners,
        Kind::Servers,
        Kind::Processes,
    ];

    /// Its name in the config.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Dashboards => "dashboards",
            Kind::Listeners => "listeners",
            Kind::Servers => "servers",
            Kind::Processes => "processes",
        }
    }

    /// Whether `stop` may name it: a listener is only a socket, and its
    /// holder is stopped (or not) as the dashboard, server or process it is.
    fn stoppable(self) -> bool {
        self != Kind::Listeners
    }

    fn from_name(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == name)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of [`Kind`]s (`fail`, `stop`).
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct KindSet(u8);

impl KindSet {
    /// No kind.
    pub const EMPTY: KindSet = KindSet(0);

    /// The set of `kinds`.
    pub fn of(kinds: &[Kind]) -> KindSet {
        kinds.iter().fold(KindSet::EMPTY, |s, &k| s.with(k))
    }

    /// This set and `kind`.
    pub fn with(self, kind: Kind) -> KindSet {
        KindSet(self.0 | Self::bit(kind))
    }

    /// Whether `kind` is in the set.
    pub fn contains(self, kind: Kind) -> bool {
        self.0 & Self::bit(kind) != 0
    }

    /// The kinds in the set, in [`Kind::ALL`]'s order.
    pub fn iter(self) -> impl Iterator<Item = Kind> {
        Kind::ALL.into_iter().filter(move |&k| self.contains(k))
    }

    fn bit(kind: Kind) -> u8 {
        1 << kind as u8
    }
}

/// `dashboards,listeners`, or `nothing`.
impl fmt::Display for KindSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == 0 {
            return f.write_str("nothing");
        }
        let names: Vec<_> = self.iter().map(Kind::name).collect();
        f.write_str(&names.join(","))
    }
}

impl fmt::Debug for KindSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

/// A glob on a command line's bytes: `*` is any run of characters (none
/// too), `?` one character (one UTF-8 character, or one byte that is not
/// part of one); every other character stands for itself. The whole text
/// must match (`sccache*` matches `sccache --start-server`, not
/// `/usr/bin/sccache`).
///
/// The text is a process's command line, its arguments joined by single
/// spaces, as `ps` shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Pattern {
    source: String,
    tokens: Vec<Token>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Literal(Vec<u8>),
    One,
    Any,
}

impl Pattern {
    /// Compiles `source`. Refused: an empty pattern (it would match only an
    /// empty command line), a NUL (no command line, joined by spaces, has
    /// one), and `[` or `\` (other globs' classes and escapes, which this
    /// one has not: write `?` for a character you cannot name).
    pub fn new(source: &str) -> Result<Pattern, String> {
        if source.is_empty() {
            return Err("an empty pattern matches only an empty command line".into());
        }
        if let Some(c) = source.chars().find(|c| matches!(c, '[' | '\\' | '\0')) {
            return Err(format!(
                "{c:?} is not allowed in a pattern: only `*` (any characters) and `?` \
                 (one character) are special, and there are no classes or escapes \
                 (write `?` for it)"
            ));
        }
        let mut tokens = Vec::new();
        for c in source.chars() {
            match c {
                '*' => {
                    if tokens.last() != Some(&Token::Any) {
                        tokens.push(Token::Any);
                    }
                }
                '?' => tokens.push(Token::One),
                c => {
                    let mut buf = [0; 4];
                    let bytes = c.encode_utf8(&mut buf).as_bytes();
                    if let Some(Token::Literal(l)) = tokens.last_mut() {
                        l.extend_from_slice(bytes);
                    } else {
                        tokens.push(Token::Literal(bytes.to_vec()));
                    }
                }
            }
        }
        Ok(Pattern {
            source: source.to_owned(),
            tokens,
        })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Whether the whole of `text` matches (the leak judgement,
    /// `modes/detect.rs`, asks it of each leak's command line).
    ///
    /// The classic wildcard walk: on a mismatch, only the last `*` seen
    /// takes one more character and the rest is tried again, so the time is
    /// at most pattern length x text length, never exponential.
    pub fn matches(&self, text: &[u8]) -> bool {
        let tokens = &self.tokens;
        let (mut t, mut i) = (0, 0);
        // The token after the last `*`, and where in `text` it is tried.
        let mut star: Option<(usize, usize)> = None;
        loop {
            if let Some(token) = tokens.get(t) {
                match token {
                    Token::Any => {
                        star = Some((t + 1, i));
                        t += 1;
                        continue;
                    }
                    Token::One if i < text.len() => {
                        i += char_len(&text[i..]);
                        t += 1;
                        continue;
                    }
                    Token::Literal(l) if text[i..].starts_with(l) => {
                        i += l.len();
                        t += 1;
                        continue;
                    }
                    _ => {}
                }
            } else if i == text.len() {
                return true;
            }
            match star {
                Some((after, at)) if at < text.len() => {
                    let next = at + char_len(&text[at..]);
                    star = Some((after, next));
                    t = after;
                    i = next;
                }
                _ => return false,
            }
        }
    }
}

impl fmt::Debug for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pattern({:?})", self.source)
    }
}

/// The length of the character `bytes` starts with: a whole UTF-8
/// sequence, else one byte.
fn char_len(bytes: &[u8]) -> usize {
    let width = match bytes.first() {
        Some(0xC2..=0xDF) => 2,
        Some(0xE0..=0xEF) => 3,
        Some(0xF0..=0xF4) => 4,
        _ => return 1,
    };
    match bytes.get(..width) {
        Some(seq) if std::str::from_utf8(seq).is_ok() => width,
        _ => 1,
    }
}

/// Where a server's port is on its command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortArgSpec {
    /// After this flag: `--port 5173` or `--port=5173` (`{ flag = "--port" }`).
    Flag(String),
    /// The first positional argument after the program and its `args`,
    /// passing over each of these flags and the value after it
    /// (`{ positional = true, skip = ["--bind", "-b"] }`: `http.server -b ::1 8000`).
    Positional {
        /// Flags that take a value, passed over with it.
        skip: Vec<String>,
    },
}

/// Another kind of dev server (`[[server]]`), recognised as the built-in
/// spec-kitty profile recognises dashboards. Plain data: the matcher is
/// kitty-core's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSpec {
    /// What reports call it (`vite`); unique in the file.
    pub name: String,
    /// Globs ([`Pattern`]) on argv\[0\]'s file name; any may match (`node`, `python3*`).
    pub program: Vec<String>,
    /// Tokens that must appear consecutively among the arguments
    /// (`node_modules/.bin/vite`; `-m`, `http.server`); may be empty.
    pub args: Vec<String>,
    /// Where its port is on the command line.
    pub port: PortArgSpec,
    /// A path to `GET` on its port to see that it serves (`/`, `/health`).
    pub health: Option<String>,
    /// A file, relative to its working directory, that records its pid
    /// while it serves (`.devserver.pid`): a live server's record names it.
    pub record: Option<PathBuf>,
}

/// What the profile in force says: which leaks fail the run, which are
/// stopped, which are intended survivors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// The watched ports (`--ports`/`KITTY_PORTS` win); `None`: the default.
    pub ports: Option<PortSet>,
    /// The kinds of leak that fail the run.
    pub fail: KindSet,
    /// The kinds of leak that are stopped (only ever through the proof
    /// rule); never [`Kind::Listeners`].
    pub stop: KindSet,
    /// Command lines of intended survivors: such a leak is reported as
    /// allowed, never stopped, never a failure.
    pub allow: Vec<Pattern>,
    /// The `[[server]]` profiles (every profile has them all).
    pub servers: Vec<ServerSpec>,
    /// The file it came from, as shown in messages; `None`: no file.
    pub source: Option<PathBuf>,
    /// The profile's name.
    pub profile: String,
}

/// Today's behaviour: dashboards fail the run and are stopped, a new
/// listener on a watched port fails it and is never stopped; servers and
/// other processes the run left are reported, but neither fail the run nor
/// are stopped (a `cargo test` under sccache leaves its server running, and
/// that is no failure the user asked for).
impl Default for Policy {
    fn default() -> Policy {
        Policy {
            ports: None,
            fail: KindSet::of(&[Kind::Dashboards, Kind::Listeners]),
            stop: KindSet::of(&[Kind::Dashboards]),
            allow: Vec::new(),
            servers: Vec::new(),
            source: None,
            profile: DEFAULT_PROFILE.to_owned(),
        }
    }
}

impl Policy {
    /// One line for `-v`: `profile ci from .config/kitty-leakcheck.toml:
    /// fail dashboards,listeners; stop dashboards; allow 2 patterns`
    /// (and the ports and servers when it sets them).
    pub fn describe(&self) -> String {
        let from = match &self.source {
            Some(p) => format!("from {}", p.display()),
            None => format!("(built in: no {CONFIG_PATH})"),
        };
        let mut text = format!("profile {} {from}:", self.profile);
        if let Some(ports) = &self.ports {
            text.push_str(&format!(" ports {ports};"));
        }
        text.push_str(&format!(" fail {}; stop {}; allow ", self.fail, self.stop));
        text.push_str(&match self.allow.len() {
            0 => "nothing".to_owned(),
            1 => "1 pattern".to_owned(),
            n => format!("{n} patterns"),
        });
        if !self.allow.is_empty() {
            let patterns: Vec<_> = self.allow.iter().map(Pattern::as_str).collect();
            text.push_str(&format!(" ({})", patterns.join(" ")));
        }
        if !self.servers.is_empty() {
            let servers: Vec<_> = self.servers.iter().map(describe_server).collect();
            text.push_str(&format!("; servers {}", servers.join(", ")));
        }
        text
    }
}

/// `vite (node node_modules/.bin/vite, port after --port)`.
fn describe_server(s: &ServerSpec) -> String {
    let mut words = vec![s.program.join("|")];
    words.extend(s.args.iter().cloned());
    let port = match &s.port {
        PortArgSpec::Flag(flag) => format!("port after {flag}"),
        PortArgSpec::Positional { skip } if skip.is_empty() => "port positional".to_owned(),
        PortArgSpec::Positional { skip } => format!("port positional past {}", skip.join(" ")),
    };
    format!("{} ({}, {port})", s.name, words.join(" "))
}

/// Why the configuration cannot be used: one line to print (exit 2, bad
/// usage); `{:?}` also shows the line of the file and where the format is
/// documented.
#[derive(thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read: missing (`--config`), not a regular file
    /// (a FIFO, a directory), larger than [`MAX_CONFIG_BYTES`].
    #[error("cannot read the config file {}: {reason}", .path.display())]
    Read {
        /// The file, as shown.
        path: PathBuf,
        /// Why (one line).
        reason: BoundedReadError,
    },
    /// Something in the file is wrong: the line, and what.
    #[error("{}:{}: {message}", .path.display(), .line)]
    Invalid {
        /// The file, as shown.
        path: PathBuf,
        /// The line (from 1).
        line: usize,
        /// What is wrong.
        message: String,
        /// The line's text.
        text: String,
    },
    /// The file has no such profile.
    #[error("{}: no profile {profile:?} (it has {})", .path.display(), .known.join(", "))]
    UnknownProfile {
        /// The file, as shown.
        path: PathBuf,
        /// The profile asked for.
        profile: String,
        /// The profiles it has (`default` always).
        known: Vec<String>,
    },
    /// A profile other than `default` was asked for, and there is no file.
    #[error(
        "no profile {profile:?}: no {CONFIG_PATH} in {} or above it (up to the repository root), \
         and only the built-in profile \"default\" exists without one (or give --config FILE)",
        .searched_from.display()
    )]
    NoConfigFile {
        /// The profile asked for.
        profile: String,
        /// Where the search began.
        searched_from: PathBuf,
    },
}

impl fmt::Debug for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{self}")?;
        match self {
            ConfigError::Invalid { line, text, .. } => {
                writeln!(f, "{line:>5} | {text}")?;
            }
            ConfigError::Read { .. } => {
                writeln!(
                    f,
                    "  the config file must be a regular file of at most {MAX_CONFIG_BYTES} bytes \
                     (a symlink to one is followed)"
                )?;
            }
            ConfigError::UnknownProfile { .. } | ConfigError::NoConfigFile { .. } => {
                writeln!(
                    f,
                    "  a profile is a [profile.NAME] table; it comes from --profile or \
                     KITTY_LEAKCHECK_PROFILE, else it is \"default\""
                )?;
            }
        }
        write!(
            f,
            "  the format: cargo-kitty-leakcheck's README, \"Configuration: {CONFIG_PATH}\""
        )
    }
}

/// The config file for `cwd`: `.config/kitty-leakcheck.toml` in `cwd` or
/// the nearest directory above it that has one, looking no higher than the
/// repository root (the first directory that has a `.git`, a directory or
/// a worktree's file) or `/`.
pub fn find(cwd: &Path) -> Option<PathBuf> {
    let mut dir = Some(cwd);
    while let Some(d) = dir {
        let candidate = d.join(CONFIG_PATH);
        // Anything there is it: a dangling symlink or a FIFO is an error
        // when it is read, never a reason to look further up.
        if candidate.symlink_metadata().is_ok() {
            return Some(candidate);
        }
        if d.join(".git").symlink_metadata().is_ok() {
            return None;
        }
        dir = d.parent();
    }
    None
}

/// The [`Policy`] of `profile`: from `config` (`--config FILE`, relative to
/// `cwd`) if given, else from the file [`find`] finds, else the built-in
/// [`Policy::default`] (only `default` exists then).
pub fn load(config: Option<&Path>, profile: &str, cwd: &Path) -> Result<Policy, ConfigError> {
    let (path, shown) = match config {
        Some(file) => (cwd.join(file), file.to_path_buf()),
        None => match find(cwd) {
            Some(found) => {
                let shown = found.strip_prefix(cwd).unwrap_or(&found).to_path_buf();
                (found, shown)
            }
            None if profile == DEFAULT_PROFILE => return Ok(Policy::default()),
            None => {
                return Err(ConfigError::NoConfigFile {
                    profile: profile.to_owned(),
                    searched_from: cwd.to_path_buf(),
                });
            }
        },
    };
    let bytes = read_bounded(&path, MAX_CONFIG_BYTES, Symlinks::Follow).map_err(|reason| {
        ConfigError::Read {
            path: shown.clone(),
            reason,
        }
    })?;
    parse(&bytes, &shown, profile)
}

/// The file as written: every key optional but `[[server]]`'s.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    profile: BTreeMap<String, RawProfile>,
    #[serde(default)]
    server: Vec<RawServer>,
}

type Strings = Spanned<Vec<Spanned<String>>>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProfile {
    ports: Option<Spanned<String>>,
    fail: Option<Strings>,
    stop: Option<Strings>,
    allow: Option<Strings>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServer {
    name: Spanned<String>,
    program: Strings,
    #[serde(default)]
    args: Vec<Spanned<String>>,
    port: Spanned<RawPort>,
    health: Option<Spanned<String>>,
    record: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPort {
    flag: Option<Spanned<String>>,
    positional: Option<Spanned<bool>>,
    skip: Option<Strings>,
}

/// What one `[profile.NAME]` sets.
#[derive(Default)]
struct Layer {
    ports: Option<PortSet>,
    fail: Option<KindSet>,
    stop: Option<KindSet>,
    allow: Option<Vec<Pattern>>,
}

impl Layer {
    fn apply_to(self, policy: &mut Policy) {
        if let Some(p) = self.ports {
            policy.ports = Some(p);
        }
        if let Some(k) = self.fail {
            policy.fail = k;
        }
        if let Some(k) = self.stop {
            policy.stop = k;
        }
        if let Some(a) = self.allow {
            policy.allow = a;
        }
    }
}

/// The file's text, for the line of a byte offset.
struct Source<'a> {
    text: &'a str,
    path: &'a Path,
}

impl Source<'_> {
    fn error(&self, span: Range<usize>, message: impl Into<String>) -> ConfigError {
        let at = span.start.min(self.text.len());
        let line = self.text[..at].bytes().filter(|&b| b == b'\n').count() + 1;
        let text = self.text.lines().nth(line - 1).unwrap_or("").to_owned();
        ConfigError::Invalid {
            path: self.path.to_path_buf(),
            line,
            message: message.into(),
            text,
        }
    }
}

/// Checks the whole file (every profile and server, not just the one asked
/// for: a typo in `ci` fails a local run too) and returns `profile`'s policy.
fn parse(bytes: &[u8], shown: &Path, profile: &str) -> Result<Policy, ConfigError> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let good = std::str::from_utf8(&bytes[..e.valid_up_to()]).unwrap_or("");
        Source {
            text: good,
            path: shown,
        }
        .error(good.len()..good.len(), "not UTF-8 (a TOML file is UTF-8)")
    })?;
    let src = Source { text, path: shown };
    let raw: RawFile = toml::from_str(text).map_err(|e| {
        let message = e.message().trim().replace('\n', " ");
        src.error(e.span().unwrap_or(0..0), message)
    })?;
    let mut layers = BTreeMap::new();
    for (name, p) in raw.profile {
        layers.insert(name, layer(&src, p)?);
    }
    let servers = servers(&src, raw.server)?;
    let mut policy = Policy {
        servers,
        source: Some(shown.to_path_buf()),
        profile: profile.to_owned(),
        ..Policy::default()
    };
    if profile != DEFAULT_PROFILE && !layers.contains_key(profile) {
        let mut known: Vec<String> = layers.keys().cloned().collect();
        if !layers.contains_key(DEFAULT_PROFILE) {
            known.insert(0, DEFAULT_PROFILE.to_owned());
        }
        return Err(ConfigError::UnknownProfile {
            path: shown.to_path_buf(),
            profile: profile.to_owned(),
            known,
        });
    }
    if let Some(default) = layers.remove(DEFAULT_PROFILE) {
        default.apply_to(&mut policy);
    }
    if let Some(own) = layers.remove(profile) {
        own.apply_to(&mut policy);
    }
    Ok(policy)
}

fn layer(src: &Source<'_>, p: RawProfile) -> Result<Layer, ConfigError> {
    let ports = match p.ports {
        None => None,
        Some(s) => Some(
            s.get_ref()
                .parse::<PortSet>()
                .map_err(|e| src.error(s.span(), format!("bad ports {:?}: {e}", s.get_ref())))?,
        ),
    };
    let kinds = |list: Option<Strings>, key: &str| -> Result<Option<KindSet>, ConfigError> {
        let Some(list) = list else { return Ok(None) };
        let mut set = KindSet::EMPTY;
        for item in list.into_inner() {
            let name = item.get_ref();
            let expected: Vec<_> = Kind::ALL
                .into_iter()
                .filter(|k| key != "stop" || k.stoppable())
                .map(Kind::name)
                .collect();
            let kind = Kind::from_name(name).ok_or_else(|| {
                src.error(
                    item.span(),
                    format!(
                        "unknown kind {name:?} in {key} (expected {})",
                        expected.join(", ")
                    ),
                )
            })?;
            if key == "stop" && !kind.stoppable() {
                return Err(src.error(
                    item.span(),
                    format!(
                        "{name:?} cannot be in stop: a listener's holder is stopped only as the \
                         dashboard, server or process of the run it is, never for its socket \
                         (expected {})",
                        expected.join(", ")
                    ),
                ));
            }
            set = set.with(kind);
        }
        Ok(Some(set))
    };
    let fail = kinds(p.fail, "fail")?;
    let stop = kinds(p.stop, "stop")?;
    let allow = match p.allow {
        None => None,
        Some(list) => Some(patterns(src, list, "allow")?),
    };
    Ok(Layer {
        ports,
        fail,
        stop,
        allow,
    })
}

fn patterns(src: &Source<'_>, list: Strings, key: &str) -> Result<Vec<Pattern>, ConfigError> {
    list.into_inner()
        .into_iter()
        .map(|item| {
            Pattern::new(item.get_ref()).map_err(|e| {
                src.error(
                    item.span(),
                    format!("bad pattern {:?} in {key}: {e}", item.get_ref()),
                )
            })
        })
        .collect()
}

fn servers(src: &Source<'_>, raw: Vec<RawServer>) -> Result<Vec<ServerSpec>, ConfigError> {
    let mut out: Vec<ServerSpec> = Vec::new();
    let mut lines = BTreeMap::new();
    let line_of = |span: Range<usize>| match src.error(span, "") {
        ConfigError::Invalid { line, .. } => line,
        _ => 0,
    };
    for s in raw {
        let name = s.name.get_ref().clone();
        if name.trim().is_empty() {
            return Err(src.error(s.name.span(), "a server's name may not be empty"));
        }
        if let Some(first) = lines.get(&name) {
            return Err(src.error(
                s.name.span(),
                format!("server {name:?} is defined twice (first on line {first})"),
            ));
        }
        lines.insert(name.clone(), line_of(s.name.span()));
        if s.program.get_ref().is_empty() {
            return Err(src.error(
                s.program.span(),
                format!("server {name:?}: program must name at least one glob"),
            ));
        }
        let program_span = s.program.span();
        let program: Vec<Spanned<String>> = s.program.into_inner();
        for p in &program {
            if p.get_ref().contains('/') {
                return Err(src.error(
                    p.span(),
                    format!(
                        "server {name:?}: program {:?} has a `/`, but it is matched on \
                         argv[0]'s file name (put path parts in args)",
                        p.get_ref()
                    ),
                ));
            }
        }
        let key = format!("server {name:?}'s program");
        patterns(src, Spanned::new(program_span, program.clone()), &key)?;
        for a in &s.args {
            if a.get_ref().is_empty() {
                return Err(src.error(
                    a.span(),
                    format!("server {name:?}: an argument token may not be empty"),
                ));
            }
        }
        let port = port_spec(src, &name, s.port)?;
        if let Some(h) = &s.health
            && (!h.get_ref().starts_with('/')
                || h.get_ref()
                    .chars()
                    .any(|c| c.is_ascii_control() || c == ' '))
        {
            return Err(src.error(
                h.span(),
                format!(
                    "server {name:?}: health {:?} is not a path on its port (e.g. \"/health\")",
                    h.get_ref()
                ),
            ));
        }
        if let Some(r) = &s.record {
            let path = Path::new(r.get_ref());
            let plain = !r.get_ref().is_empty()
                && path
                    .components()
                    .all(|c| matches!(c, std::path::Component::Normal(_)));
            if !plain {
                return Err(src.error(
                    r.span(),
                    format!(
                        "server {name:?}: record {:?} must be a relative path inside its working \
                         directory (no `/` at the start, no `..`)",
                        r.get_ref()
                    ),
                ));
            }
        }
        out.push(ServerSpec {
            name,
            program: program.into_iter().map(Spanned::into_inner).collect(),
            args: s.args.into_iter().map(Spanned::into_inner).collect(),
            port,
            health: s.health.map(Spanned::into_inner),
            record: s.record.map(|r| PathBuf::from(r.into_inner())),
        });
    }
    Ok(out)
}

fn port_spec(
    src: &Source<'_>,
    name: &str,
    port: Spanned<RawPort>,
) -> Result<PortArgSpec, ConfigError> {
    let span = port.span();
    let p = port.into_inner();
    let either = format!(
        "server {name:?}: port is {{ flag = \"--port\" }} or {{ positional = true, skip = [...] }}"
    );
    match (p.flag, p.positional) {
        (Some(flag), None) => {
            if let Some(skip) = p.skip {
                return Err(src.error(skip.span(), format!("{either}: skip goes with positional")));
            }
            let f = flag.get_ref();
            if !f.starts_with('-') || f.trim_start_matches('-').is_empty() || f.contains(' ') {
                return Err(src.error(
                    flag.span(),
                    format!("server {name:?}: flag {f:?} is not a flag (e.g. \"--port\")"),
                ));
            }
            Ok(PortArgSpec::Flag(flag.into_inner()))
        }
        (None, Some(positional)) if *positional.get_ref() => {
            let skip = p.skip.map(Spanned::into_inner).unwrap_or_default();
            for s in &skip {
                if !s.get_ref().starts_with('-') {
                    return Err(src.error(
                        s.span(),
                        format!("server {name:?}: skip {:?} is not a flag", s.get_ref()),
                    ));
                }
            }
            Ok(PortArgSpec::Positional {
                skip: skip.into_iter().map(Spanned::into_inner).collect(),
            })
        }
        (None, Some(positional)) => Err(src.error(
            positional.span(),
            format!("{either}: positional = false says nowhere"),
        )),
        (Some(flag), Some(_)) => Err(src.error(flag.span(), format!("{either}, not both"))),
        (None, None) => Err(src.error(span, either)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_dir::TempDir;

    const FILE: &str = ".config/kitty-leakcheck.toml";

    fn policy(text: &str, profile: &str) -> Result<Policy, ConfigError> {
        parse(text.as_bytes(), Path::new(FILE), profile)
    }

    /// The one line of the error `text` makes.
    fn error(text: &str, profile: &str) -> String {
        policy(text, profile).expect_err("a bad config").to_string()
    }

    fn pattern(p: &str) -> Pattern {
        Pattern::new(p).expect("a pattern")
    }

    const EXAMPLE: &str = r#"# kitty-leakcheck's policy
[profile.default]
ports = "9237-9336"
fail = ["dashboards", "listeners"]
stop = ["dashboards"]
allow = ["*sccache*", "*GradleDaemon*"]

[profile.ci]
fail = ["dashboards", "listeners", "servers", "processes"]
stop = ["dashboards", "servers"]

[[server]]
name = "vite"
program = ["node"]
args = ["node_modules/.bin/vite"]
port = { flag = "--port" }
health = "/"
record = ".vite.pid"

[[server]]
name = "http.server"
program = ["python3*", "python"]
args = ["-m", "http.server"]
port = { positional = true, skip = ["--bind", "-b", "--directory", "-d"] }
"#;

    /// The README's example is a working file, and says what it says.
    #[test]
    fn the_readme_example_is_a_working_file() {
        let readme =
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
                .expect("README");
        let block = readme
            .split("```toml\n")
            .skip(1)
            .filter_map(|b| b.split("```").next())
            .find(|b| b.starts_with("# .config/kitty-leakcheck.toml"))
            .expect("the README's config example");
        let default = policy(block, "default").expect("default");
        assert_eq!(
            default.allow,
            vec![pattern("*sccache*"), pattern("*GradleDaemon*")]
        );
        let ci = policy(block, "ci").expect("ci");
        assert_eq!(ci.fail, KindSet::of(&Kind::ALL));
        assert_eq!(ci.stop, KindSet::of(&[Kind::Dashboards, Kind::Servers]));
        assert_eq!((ci.ports, ci.allow), (default.ports, default.allow));
        assert_eq!(ci.servers.len(), 2);
        assert_eq!(
            ci.servers[1],
            ServerSpec {
                name: "django".into(),
                program: vec!["python3*".into(), "python".into()],
                args: vec!["manage.py".into(), "runserver".into()],
                port: PortArgSpec::Positional {
                    skip: vec!["--settings".into(), "--pythonpath".into()],
                },
                health: None,
                record: None,
            }
        );
    }

    #[test]
    fn no_file_is_todays_behaviour() {
        let p = Policy::default();
        assert_eq!(p.fail, KindSet::of(&[Kind::Dashboards, Kind::Listeners]));
        assert_eq!(p.stop, KindSet::of(&[Kind::Dashboards]));
        assert!(!p.fail.contains(Kind::Servers) && !p.fail.contains(Kind::Processes));
        assert!(!p.stop.contains(Kind::Listeners));
        assert_eq!((p.ports, p.allow.len(), p.servers.len()), (None, 0, 0));
        assert_eq!((p.source, p.profile.as_str()), (None, "default"));
        assert_eq!(
            policy("", "default").expect("an empty file"),
            Policy {
                source: Some(FILE.into()),
                ..Policy::default()
            }
        );
    }

    #[test]
    fn every_key_is_read() {
        let p = policy(EXAMPLE, "default").expect("the example");
        assert_eq!(p.ports, Some("9237-9336".parse().expect("ports")));
        assert_eq!(p.fail, KindSet::of(&[Kind::Dashboards, Kind::Listeners]));
        assert_eq!(p.stop, KindSet::of(&[Kind::Dashboards]));
        assert_eq!(
            p.allow,
            vec![pattern("*sccache*"), pattern("*GradleDaemon*")]
        );
        assert_eq!(
            p.servers,
            vec![
                ServerSpec {
                    name: "vite".into(),
                    program: vec!["node".into()],
                    args: vec!["node_modules/.bin/vite".into()],
                    port: PortArgSpec::Flag("--port".into()),
                    health: Some("/".into()),
                    record: Some(".vite.pid".into()),
                },
                ServerSpec {
                    name: "http.server".into(),
                    program: vec!["python3*".into(), "python".into()],
                    args: vec!["-m".into(), "http.server".into()],
                    port: PortArgSpec::Positional {
                        skip: vec![
                            "--bind".into(),
                            "-b".into(),
                            "--directory".into(),
                            "-d".into()
                        ],
                    },
                    health: None,
                    record: None,
                },
            ]
        );
        assert_eq!(p.source.as_deref(), Some(Path::new(FILE)));
        assert_eq!(p.profile, "default");
        let empty = policy(
            "[profile.default]\nfail = []\nstop = []\nallow = []\n",
            "default",
        )
        .expect("empty lists");
        assert_eq!((empty.fail, empty.stop), (KindSet::EMPTY, KindSet::EMPTY));
    }

    #[test]
    fn a_profile_inherits_from_default_what_it_does_not_set() {
        let ci = policy(EXAMPLE, "ci").expect("ci");
        assert_eq!(ci.profile, "ci");
        assert_eq!(ci.fail, KindSet::of(&Kind::ALL), "its own fail");
        assert_eq!(ci.stop, KindSet::of(&[Kind::Dashboards, Kind::Servers]));
        assert_eq!(
            ci.ports,
            Some("9237-9336".parse().expect("ports")),
            "default's"
        );
        assert_eq!(ci.allow.len(), 2, "default's");
        assert_eq!(ci.servers.len(), 2, "every profile has the servers");
        // Without a [profile.default], a profile inherits the built-in one.
        let only = policy("[profile.ci]\nallow = [\"x*\"]\n", "ci").expect("ci");
        assert_eq!(
            (only.fail, only.stop),
            (Policy::default().fail, Policy::default().stop)
        );
        assert_eq!(only.allow, vec![pattern("x*")]);
        assert_eq!(only.ports, None);
        // `default` is there without a table of its own.
        assert_eq!(
            policy("[profile.ci]\n", "default").expect("default").fail,
            Policy::default().fail
        );
    }

    #[test]
    fn an_unknown_profile_is_an_error_that_lists_the_profiles() {
        assert_eq!(
            error(EXAMPLE, "cii"),
            ".config/kitty-leakcheck.toml: no profile \"cii\" (it has ci, default)"
        );
        assert_eq!(
            error("[profile.ci]\n", "local"),
            ".config/kitty-leakcheck.toml: no profile \"local\" (it has default, ci)"
        );
        let dir = TempDir::new("no-file");
        std::fs::create_dir(dir.path().join(".git")).expect("a repo");
        let e = load(None, "ci", dir.path()).expect_err("no file, no ci");
        assert!(matches!(e, ConfigError::NoConfigFile { .. }), "{e:?}");
        assert!(
            e.to_string()
                .starts_with("no profile \"ci\": no .config/kitty-leakcheck.toml in "),
            "{e}"
        );
        assert_eq!(
            load(None, "default", dir.path()).expect("built in"),
            Policy::default()
        );
    }

    #[test]
    fn every_error_names_its_line() {
        let cases: &[(&str, &str)] = &[
            (
                "[profile.default]\n\n[profile.ci]\nfail = [\"dashbords\"]\n",
                "4: unknown kind \"dashbords\" in fail (expected dashboards, listeners, servers, processes)",
            ),
            (
                "[profile.default]\nstop = [\"dashboards\",\n  \"listeners\"]\n",
                "3: \"listeners\" cannot be in stop: a listener's holder is stopped only as the \
                 dashboard, server or process of the run it is, never for its socket \
                 (expected dashboards, servers, processes)",
            ),
            (
                "[profile.default]\nstop = [\"dashbords\"]\n",
                "2: unknown kind \"dashbords\" in stop (expected dashboards, servers, processes)",
            ),
            (
                "[profile.default]\nfail = []\nports = \"9237-\"\n",
                "3: bad ports \"9237-\": ",
            ),
            (
                "[profile.default]\nports = 9240\n",
                "2: invalid type: integer `9240`, expected a string",
            ),
            (
                "[profile.default]\n\nfial = []\n",
                "3: unknown field `fial`, expected one of `ports`, `fail`, `stop`, `allow`",
            ),
            (
                "[profiles.ci]\n",
                "1: unknown field `profiles`, expected `profile` or `server`",
            ),
            (
                "[profile.default]\nfail = \"dashboards\"\n",
                "2: invalid type: string \"dashboards\", expected a sequence",
            ),
            (
                "[profile.default]\nallow = [\"ok*\", \"\"]\n",
                "2: bad pattern \"\" in allow: an empty pattern",
            ),
            (
                "[profile.default]\nallow = [\n\"[abc]*\"]\n",
                "3: bad pattern \"[abc]*\" in allow: '[' is not allowed",
            ),
            ("[profile.default]\nfail = [\n", "2: "),
            ("a = 1\nb = = 2\n", "2: "),
            (
                "\n\n[[server]]\nname = \"vite\"\nprogram = [\"node\"]\n",
                "3: missing field `port`",
            ),
            (
                "[[server]]\nname = \"a\"\nprogram = [\"node\"]\nport = { flag = \"--port\" }\n\
                 [[server]]\nname = \"a\"\nprogram = [\"x\"]\nport = { flag = \"-p\" }\n",
                "6: server \"a\" is defined twice (first on line 2)",
            ),
            (
                "[[server]]\nname = \"a\"\nprogram = []\nport = { flag = \"--port\" }\n",
                "3: server \"a\": program must name at least one glob",
            ),
            (
                "[[server]]\nname = \"a\"\nprogram = [\"bin/node\"]\nport = { flag = \"--port\" }\n",
                "3: server \"a\": program \"bin/node\" has a `/`",
            ),
            (
                "[[server]]\nname = \"a\"\nprogram = [\"no\\\\de\"]\nport = { flag = \"--port\" }\n",
                "3: bad pattern \"no\\\\de\" in server \"a\"'s program: '\\\\' is not allowed",
            ),
            (
                "[[server]]\nname = \"a\"\nprogram = [\"n\"]\nargs = [\"\"]\nport = { flag = \"--port\" }\n",
                "4: server \"a\": an argument token may not be empty",
            ),
            (
                "[[server]]\nname = \"a\"\nprogram = [\"n\"]\nport = { flag = \"port\" }\n",
                "4: server \"a\": flag \"port\" is not a flag",
            ),
            (
                "[[server]]\nname = \"a\"\nprogram = [\"n\"]\nport = { flag = \"-p\", positional = true }\n",
                "4: server \"a\": port is { flag = \"--port\" } or { positional = true, skip = [...] }, not both",
            ),
            (
                "[[server]]\nname = \"a\"\nprogram = [\"n\"]\nport = { positional = false }\n",
                "4: server \"a\": port is",
            ),
            (
                "[[server]]\nname = \"a\"\nprogram = [\"n\"]\nport = {}\n",
                "4: server \"a\": port is",
            ),
            (
                "[[server]]\nname = \"a\"\nprogram = [\"n\"]\nport = { flag = \"-p\", skip = [\"-b\"] }\n",
                "4: server \"a\": port is { flag = \"--port\" } or { positional = true, skip = [...] }: skip goes with positional",
            ),
            (
                "[[server]]\nname = \"a\"\nprogram = [\"n\"]\nport = { positional = true, skip = [\"b\"] }\n",
                "4: server \"a\": skip \"b\" is not a flag",
            ),
            (
                "[[server]]\nname = \"a\"\nprogram = [\"n\"]\nport = { flag = \"-p\", default = 1 }\n",
                "4: unknown field `default`",
            ),
            (
                "[[server]]\nname = \"\"\nprogram = [\"n\"]\nport = { flag = \"-p\" }\n",
                "2: a server's name may not be empty",
            ),
            (
                "[[server]]\nname = \"v\"\nprogram = [\"n\"]\nport = { flag = \"-p\" }\nhealth = \"health\"\n",
                "5: server \"v\": health \"health\" is not a path on its port (e.g. \"/health\")",
            ),
            (
                "[[server]]\nname = \"v\"\nprogram = [\"n\"]\nport = { flag = \"-p\" }\nrecord = \"../v.pid\"\n",
                "5: server \"v\": record \"../v.pid\" must be a relative path inside its working directory",
            ),
            (
                "[[server]]\nname = \"v\"\nprogram = [\"n\"]\nport = { flag = \"-p\" }\nrecord = \"/run/v.pid\"\n",
                "5: server \"v\": record \"/run/v.pid\" must be a relative path",
            ),
        ];
        for (text, want) in cases {
            // Every profile is checked, whichever is asked for.
            for profile in ["default", "ci"] {
                let e = match policy(text, profile) {
                    Err(e @ ConfigError::Invalid { .. }) => e,
                    other => panic!("{text:?}: {other:?}"),
                };
                let line = e.to_string();
                let want = format!("{FILE}:{want}");
                assert!(
                    line.starts_with(&want),
                    "{text:?}\n got: {line}\nwant: {want}"
                );
                assert!(!line.contains('\n'), "one line: {line}");
                let debug = format!("{e:?}");
                assert!(debug.starts_with(&line) && debug.contains(" | "), "{debug}");
                assert!(debug.contains("README"), "{debug}");
            }
        }
    }

    #[test]
    fn a_file_that_is_not_utf8_names_the_line() {
        let e = parse(
            b"[profile.default]\nallow = [\"\xff\"]\n",
            Path::new(FILE),
            "default",
        )
        .expect_err("not UTF-8");
        assert_eq!(
            e.to_string(),
            format!("{FILE}:2: not UTF-8 (a TOML file is UTF-8)")
        );
    }

    #[test]
    fn the_file_is_found_from_below_up_to_the_repository_root() {
        let root = TempDir::new("walk");
        let repo = root.path().join("repo");
        let deep = repo.join("a/b/c");
        std::fs::create_dir_all(&deep).expect("dirs");
        std::fs::create_dir(repo.join(".git")).expect("a repo");
        // Above the repository root: never found.
        std::fs::create_dir_all(root.path().join(".config")).expect(".config");
        std::fs::write(root.path().join(FILE), "[profile.outside]\n").expect("write");
        assert_eq!(find(&deep), None);
        assert_eq!(
            load(None, "default", &deep).expect("built in"),
            Policy::default()
        );
        // In the repository root, found from below; the nearest one wins.
        std::fs::create_dir_all(repo.join(".config")).expect(".config");
        std::fs::write(repo.join(FILE), "[profile.ci]\nfail = []\n").expect("write");
        assert_eq!(find(&deep), Some(repo.join(FILE)));
        let ci = load(None, "ci", &deep).expect("ci");
        assert_eq!(
            (ci.fail, ci.source),
            (KindSet::EMPTY, Some(repo.join(FILE)))
        );
        assert_eq!(
            load(None, "ci", &repo).expect("ci").source.as_deref(),
            Some(Path::new(FILE)),
            "shown relative to the current directory"
        );
        std::fs::create_dir_all(repo.join("a/.config")).expect(".config");
        std::fs::write(repo.join("a").join(FILE), "[profile.local]\n").expect("write");
        assert_eq!(find(&deep), Some(repo.join("a").join(FILE)));
        assert!(
            load(None, "ci", &deep).is_err(),
            "the nearest file has no ci"
        );
        // A worktree's `.git` is a file: it is a root too.
        std::fs::remove_dir(repo.join(".git")).expect("rm .git");
        std::fs::write(repo.join("a/b/.git"), "gitdir: /elsewhere\n").expect("write");
        assert_eq!(find(&deep), None);
        // Without any `.git`, the walk goes up to `/` (and finds the outer file).
        std::fs::remove_file(repo.join("a/b/.git")).expect("rm .git");
        std::fs::remove_dir_all(repo.join("a/.config")).expect("rm");
        std::fs::remove_dir_all(repo.join(".config")).expect("rm");
        assert_eq!(find(&deep), Some(root.path().join(FILE)));
        // --config wins over the search, relative to the current directory.
        std::fs::write(deep.join("mine.toml"), "[profile.mine]\nstop = []\n").expect("write");
        let mine = load(Some(Path::new("mine.toml")), "mine", &deep).expect("mine");
        assert_eq!(
            (mine.stop, mine.source),
            (KindSet::EMPTY, Some("mine.toml".into()))
        );
    }

    #[test]
    fn a_config_file_that_cannot_be_read_is_a_one_line_error() {
        let dir = TempDir::new("unreadable");
        let missing =
            load(Some(Path::new("nope.toml")), "default", dir.path()).expect_err("missing");
        assert_eq!(
            missing.to_string(),
            "cannot read the config file nope.toml: it does not exist"
        );
        let fifo = dir.path().join("fifo.toml");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("mkfifo");
        assert!(made.success());
        let e = load(Some(&fifo), "default", dir.path()).expect_err("a FIFO, at once");
        assert!(
            e.to_string()
                .ends_with("it is not a regular file but a FIFO"),
            "{e}"
        );
        let huge = dir.path().join("huge.toml");
        std::fs::write(&huge, vec![b'#'; MAX_CONFIG_BYTES as usize + 1]).expect("write");
        let e = load(Some(&huge), "default", dir.path()).expect_err("too large");
        assert!(e.to_string().contains("larger than 1048576 bytes"), "{e}");
        let e = load(Some(dir.path()), "default", dir.path()).expect_err("a directory");
        assert!(!e.to_string().contains('\n'), "{e}");
        assert!(
            format!("{e:?}").contains("regular file of at most"),
            "{e:?}"
        );
        // A found file that cannot be read is an error too, not a reason to look further.
        std::fs::create_dir_all(dir.path().join(FILE)).expect("a directory where the file goes");
        assert!(matches!(
            load(None, "default", dir.path()),
            Err(ConfigError::Read { .. })
        ));
        // A symlink the user names is followed.
        let real = dir.path().join("real.toml");
        std::fs::write(&real, "[profile.x]\n").expect("write");
        let link = dir.path().join("link.toml");
        std::os::unix::fs::symlink(&real, &link).expect("symlink");
        assert_eq!(
            load(Some(&link), "x", dir.path())
                .expect("followed")
                .profile,
            "x"
        );
    }

    #[test]
    fn patterns_match_whole_command_lines() {
        let m = |p: &str, t: &[u8]| pattern(p).matches(t);
        assert!(m("sccache*", b"sccache --start-server"));
        assert!(
            !m("sccache*", b"/usr/bin/sccache --start-server"),
            "anchored at the start"
        );
        assert!(m("*sccache*", b"/usr/bin/sccache --start-server"));
        assert!(m(
            "*GradleDaemon*",
            b"java -cp x org.gradle.launcher.daemon.bootstrap.GradleDaemon 8.5"
        ));
        assert!(!m("node", b"node x"), "anchored at the end");
        assert!(m("node", b"node"));
        assert!(m("*", b""));
        assert!(m("**", b"anything"));
        assert!(!m("?", b""));
        assert!(m("?", b"x"));
        assert!(m("a?c", b"abc") && !m("a?c", b"ac") && !m("a?c", b"abbc"));
        assert!(m("*a*b*c*", b"xxaxxbxxcxx"));
        assert!(!m("*a*b*c*", b"xxcxxbxxaxx"));
        assert!(m("*ab", b"aab"), "the star backtracks");
        assert!(m("a*a*a*a*b", b"aaaaaaaaaab"));
        assert!(!m("a*a*a*a*b", &[b'a'; 200]), "no exponential walk either");
        // Bytes: a non-UTF-8 command line matches, `?` is one byte of it.
        assert!(m("caf?", b"caf\xe9"), "a Latin-1 byte");
        assert!(m("caf?", "café".as_bytes()), "one UTF-8 character");
        assert!(!m("caf??", "café".as_bytes()));
        assert!(m("*\u{e9}*", "un café noir".as_bytes()));
        assert!(
            !m("*\u{e9}*", b"un caf\xe9 noir"),
            "é is its UTF-8 bytes, not Latin-1's"
        );
        assert!(m("run * \u{2603}", b"run \xff\xfe \xe2\x98\x83"));
        assert!(m("??x", b"\xe2\x98x"), "a cut sequence is a byte each");
        assert!(!m("?x", b"\xe2\x98x"));
        assert!(!m("?x", b"\xe2\x98\x83\xe2x"));
        assert_eq!(pattern("a*?").as_str(), "a*?");
        for bad in ["", "[ab]", "a\\*", "nul\0"] {
            assert!(Pattern::new(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn kind_sets_hold_their_kinds() {
        let s = KindSet::of(&[Kind::Processes, Kind::Dashboards]);
        assert!(s.contains(Kind::Dashboards) && s.contains(Kind::Processes));
        assert!(!s.contains(Kind::Listeners) && !s.contains(Kind::Servers));
        assert_eq!(s.to_string(), "dashboards,processes");
        assert_eq!(format!("{s:?}"), "{Dashboards, Processes}");
        assert_eq!(KindSet::EMPTY.to_string(), "nothing");
        assert_eq!(KindSet::of(&Kind::ALL).iter().count(), 4);
        assert_eq!(Kind::Servers.to_string(), "servers");
    }

    #[test]
    fn describe_is_one_line_for_verbose_output() {
        let ci = policy(EXAMPLE, "ci").expect("ci");
        assert_eq!(
            ci.describe(),
            "profile ci from .config/kitty-leakcheck.toml: ports 9237-9336; \
             fail dashboards,listeners,servers,processes; stop dashboards,servers; \
             allow 2 patterns (*sccache* *GradleDaemon*); \
             servers vite (node node_modules/.bin/vite, port after --port), \
             http.server (python3*|python -m http.server, port positional past --bind -b --directory -d)"
        );
        let text = "[profile.default]\nallow = [\"x\"]\n[[server]]\nname = \"s\"\nprogram = [\"s\"]\nport = { positional = true }\n";
        assert_eq!(
            policy(text, "default").expect("one").describe(),
            "profile default from .config/kitty-leakcheck.toml: fail dashboards,listeners; \
             stop dashboards; allow 1 pattern (x); servers s (s, port positional)"
        );
        assert_eq!(
            Policy::default().describe(),
            "profile default (built in: no .config/kitty-leakcheck.toml): fail dashboards,listeners; \
             stop dashboards; allow nothing"
        );
    }
}
