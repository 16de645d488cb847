//! Command-line options.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use kitty_core::PortSet;

use crate::config::Policy;
use crate::exit_codes::{HelpOf, status_table};

/// Wraps a test run, fails it on leaked spec-kitty dashboards, stops them, and
/// touches nothing the run did not leak.
#[derive(Debug, Parser)]
#[command(
    name = "cargo-kitty-leakcheck",
    bin_name = "cargo kitty-leakcheck",
    version,
    subcommand_value_name = "MODE",
    subcommand_help_heading = "Modes",
    override_usage = "cargo kitty-leakcheck [OPTIONS] [-- <COMMAND>...]\n       \
                      cargo kitty-leakcheck [OPTIONS] <MODE> [MODE OPTIONS]"
)]
pub struct Cli {
    /// Options shared by every mode.
    #[command(flatten)]
    pub common: CommonArgs,

    /// Options of the default mode (wrap a whole run).
    #[command(flatten)]
    pub run: RunArgs,

    /// The other modes.
    #[command(subcommand)]
    pub mode: Option<Mode>,
}

/// Options every mode takes.
#[derive(Debug, Args, Clone)]
pub struct CommonArgs {
    /// Watched ports, inclusive ranges separated by commas (default:
    /// spec-kitty's range, the one kitty-fixtures uses).
    #[arg(long, env = "KITTY_PORTS", default_value_t = PortSet::spec_kitty(), value_parser = parse_ports, global = true)]
    pub ports: PortSet,

    /// Whether `--ports` or `KITTY_PORTS` gave [`CommonArgs::ports`] (set
    /// by `main` from the matches, [`ports_given`]): if not, the profile's
    /// `ports` apply ([`CommonArgs::with_policy`]).
    #[arg(skip)]
    pub ports_given: bool,

    /// The profile of .config/kitty-leakcheck.toml to use: what fails the
    /// run and what is stopped.
    #[arg(long, value_name = "NAME", env = "KITTY_LEAKCHECK_PROFILE", default_value = crate::config::DEFAULT_PROFILE, global = true)]
    pub profile: String,

    /// Read the profiles from FILE instead of the .config/kitty-leakcheck.toml
    /// found from the current directory up to the repository root.
    #[arg(long, value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,

    /// Print the report as JSON (schema version 1) on stdout, on a line of its own.
    #[arg(long, global = true)]
    pub json: bool,

    /// `human` (default) or `json`, as cargo spells it.
    #[arg(long, value_enum, global = true)]
    pub message_format: Option<MessageFormat>,

    /// Also write the JSON report to FILE, alone, whatever COMMAND prints
    /// (schema/report-v1.json); missing directories are made.
    #[arg(long, value_name = "FILE", global = true)]
    pub report_file: Option<PathBuf>,

    /// When to colour: auto (a terminal, and NO_COLOR, CLICOLOR, CLICOLOR_FORCE
    /// and TERM allow it), always, never. Default: CARGO_TERM_COLOR, else auto.
    #[arg(long, value_enum, global = true)]
    pub color: Option<ColorChoice>,

    /// Say less: only leaks and errors (also CARGO_TERM_QUIET=true).
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    /// Say more: -v what was seen and each signal passed on, -vv also why each
    /// process was judged as it was (also CARGO_TERM_VERBOSE=true).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

impl CommonArgs {
    /// Whether the report is JSON on stdout.
    pub fn json(&self) -> bool {
        self.json || self.message_format == Some(MessageFormat::Json)
    }

    /// How many `-v` (after `-q`, `-v`, `CARGO_TERM_QUIET`, `CARGO_TERM_VERBOSE`):
    /// -1 quiet, 0 normal, 1 verbose, 2 very verbose.
    pub fn verbosity(&self) -> i8 {
        let env_true = |k: &str| std::env::var(k).is_ok_and(|v| v == "true");
        if self.quiet {
            -1
        } else if self.verbose > 0 {
            self.verbose.min(2) as i8
        } else if env_true("CARGO_TERM_QUIET") {
            -1
        } else if env_true("CARGO_TERM_VERBOSE") {
            1
        } else {
            0
        }
    }

    /// Whether -v (or more) is in force.
    pub fn is_verbose(&self) -> bool {
        self.verbosity() > 0
    }

    /// These options with the profile's watched ports when neither
    /// `--ports` nor `KITTY_PORTS` gave them (those win over the file).
    /// `check` reads its ports from the baseline, never from these.
    pub fn with_policy(&self, policy: &Policy) -> CommonArgs {
        let mut common = self.clone();
        if !self.ports_given
            && let Some(ports) = &policy.ports
        {
            common.ports = ports.clone();
        }
        common
    }
}

/// Whether `--ports` (before or after the MODE) or `KITTY_PORTS` set the
/// watched ports, rather than their default.
pub fn ports_given(matches: &clap::ArgMatches) -> bool {
    use clap::parser::ValueSource;
    let mut level = Some(matches);
    while let Some(m) = level {
        if m.try_get_raw("ports").is_ok()
            && matches!(
                m.value_source("ports"),
                Some(ValueSource::CommandLine | ValueSource::EnvVariable)
            )
        {
            return true;
        }
        level = m.subcommand().map(|(_, sub)| sub);
    }
    false
}

/// `--message-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MessageFormat {
    /// For people.
    Human,
    /// For scripts (the JSON report).
    Json,
}

/// `--color`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// Colour on a terminal, unless NO_COLOR, CLICOLOR=0 or TERM=dumb say
    /// otherwise (CLICOLOR_FORCE=1 colours off a terminal too).
    Auto,
    /// Always colour.
    Always,
    /// Never colour.
    Never,
}

/// The colour choice cargo would make: `--color` (the last one in `args`),
/// else `CARGO_TERM_COLOR`, else auto. Looked at before the arguments are
/// parsed, so that clap's own help and errors follow it too.
pub fn color_choice(args: &[OsString], cargo_term_color: Option<&str>) -> ColorChoice {
    let mut flag = None;
    let mut it = args.iter().map(|a| a.to_string_lossy());
    while let Some(a) = it.next() {
        if a == "--" {
            break;
        }
        let value = match a.strip_prefix("--color") {
            Some("") => it.next().map(|v| v.into_owned()),
            Some(rest) => rest.strip_prefix('=').map(str::to_owned),
            None => None,
        };
        if let Some(v) = value {
            flag = ColorChoice::from_str(&v, true).ok().or(flag);
        }
    }
    flag.or(match cargo_term_color {
        Some("always") => Some(ColorChoice::Always),
        Some("never") => Some(ColorChoice::Never),
        _ => None,
    })
    .unwrap_or(ColorChoice::Auto)
}

/// Sets the colour choice for every stream leakcheck writes to (clap's too):
/// `always` and `never` as given; `auto` leaves it to anstream, which colours
/// a terminal unless `NO_COLOR`, `CLICOLOR=0` or `TERM=dumb`, and colours
/// anything under `CLICOLOR_FORCE=1`.
pub fn choose_color(choice: ColorChoice) -> clap::ColorChoice {
    use ColorChoice as C;
    let (ours, clap) = match choice {
        C::Always => (anstream::ColorChoice::Always, clap::ColorChoice::Always),
        C::Never => (anstream::ColorChoice::Never, clap::ColorChoice::Never),
        C::Auto => (anstream::ColorChoice::Auto, clap::ColorChoice::Auto),
    };
    ours.write_global();
    clap
}

/// `--report-file`'s help in each mode's `--help`, in that mode's words
/// (the top-level help, the default mode's, is the option's own doc).
const REPORT_FILE_HELP: [(&str, &str); 4] = [
    (
        "wrap",
        "Also write this test's JSON report to FILE, alone, whatever the test prints \
         (schema/report-v1.json); missing directories are made",
    ),
    (
        "snapshot",
        "Also write what snapshot did as JSON to FILE, alone (schema_version, baseline, \
         listeners, dashboards: what --json prints); missing directories are made",
    ),
    (
        "check",
        "Also write the check's JSON report to FILE, alone (schema/report-v1.json); \
         missing directories are made",
    ),
    (
        "sweep",
        "Also write the sweep's JSON report to FILE, alone (schema/sweep-v1.json); \
         missing directories are made",
    ),
];

/// The whole command line interface: [`parser`]'s, with each `--help`
/// ending in its exit statuses (and `sweep --help` in its classes first).
///
/// `main` parses with [`parser`] and builds this only for a `--help`: the
/// tables are formatted from [`crate::exit_codes`] and would otherwise be
/// built on every start, which is most of what `wrap` costs a test before
/// it spawns it.
pub fn command() -> clap::Command {
    let mut cmd = parser().after_help(status_table(HelpOf::All));
    for (mode, of) in [
        ("wrap", HelpOf::Wrap),
        ("snapshot", HelpOf::Snapshot),
        ("check", HelpOf::Check),
    ] {
        cmd = cmd.mut_subcommand(mode, |m| m.after_help(status_table(of)));
    }
    cmd.mut_subcommand("sweep", |m| {
        m.after_help(status_table(HelpOf::Sweep))
            .after_long_help(sweep_after())
    })
}

/// Whether clap's `error` is a request for help (`-h`, `--help`, `help`,
/// or a bare `cargo kitty-leakcheck help`-like call with no MODE where one is
/// required), for which `main` parses again with [`command`].
pub fn asks_for_help(error: &clap::Error) -> bool {
    use clap::error::ErrorKind;
    matches!(
        error.kind(),
        ErrorKind::DisplayHelp | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    )
}

/// The command line parser: [`Cli`]'s, with `--report-file` worded for each
/// mode's `--help` (it is an option every mode shares, so clap would give
/// every mode the default mode's wording, which names a COMMAND they have not).
/// It parses exactly as [`command`] does; only its help has no endings.
pub fn parser() -> clap::Command {
    use clap::CommandFactory;
    let mut cmd = Cli::command();
    let Some(shared) = cmd
        .get_arguments()
        .find(|a| a.get_id() == "report_file")
        .cloned()
    else {
        return cmd;
    };
    // A mode's own copy of the shared option: clap gives a mode the shared
    // one only when it has none of that name, and passes its value up to
    // the shared one's either way.
    for (mode, help) in REPORT_FILE_HELP {
        let own = shared.clone().help(help);
        cmd = cmd.mut_subcommand(mode, |m| m.arg(own));
    }
    cmd
}

/// Options given where they would do nothing, as clap's usage error (exit
/// 2) naming the option, never a silent no-op:
///
/// - the default mode's own options (`--grace`, `--no-reap`, `--junit`)
///   together with a MODE, which would ignore them (the options every mode
///   shares, `--ports`, `--json`, ..., may stand before or after the MODE);
/// - `check --ports` on the command line: the baseline fixes the watched
///   ports (`snapshot --ports` sets them), and `check` compares the same
///   ports or it compares nothing. `KITTY_PORTS` in the environment is not
///   an error: a CI job sets it for every step.
pub fn reject_options_that_do_nothing(
    cmd: &mut clap::Command,
    matches: &clap::ArgMatches,
) -> Result<(), clap::Error> {
    let Some((mode, sub)) = matches.subcommand() else {
        return Ok(());
    };
    let on_command_line = |m: &clap::ArgMatches, id: &str| {
        m.try_get_raw(id).is_ok()
            && m.value_source(id) == Some(clap::parser::ValueSource::CommandLine)
    };
    if mode == "check" && (on_command_line(matches, "ports") || on_command_line(sub, "ports")) {
        return Err(cmd.error(
            clap::error::ErrorKind::ArgumentConflict,
            "--ports does nothing with `check`: the baseline fixes the watched ports \
             (give --ports to `snapshot`)",
        ));
    }
    if mode == "wrap"
        && let Some(file) = report_file_of(matches, sub)
        && !file.as_encoded_bytes().windows(6).any(|w| w == b"{test}")
    {
        return Err(cmd.error(
            clap::error::ErrorKind::ValueValidation,
            "`wrap --report-file` runs once per test: put {test} in FILE \
             (target/leaks/{test}.json), or take the whole run's report from \
             `check --report-file`",
        ));
    }
    let run_args = RunArgs::augment_args(clap::Command::new("run"));
    for arg in run_args.get_arguments() {
        if matches.value_source(arg.get_id().as_str())
            == Some(clap::parser::ValueSource::CommandLine)
        {
            let name = arg
                .get_long()
                .map_or_else(|| arg.get_id().to_string(), |l| format!("--{l}"));
            return Err(cmd.error(
                clap::error::ErrorKind::ArgumentConflict,
                format!("{name} is an option of the default mode and does nothing with `{mode}`"),
            ));
        }
    }
    Ok(())
}

/// The `--report-file` given to a mode (before it or after it).
fn report_file_of(
    matches: &clap::ArgMatches,
    sub: &clap::ArgMatches,
) -> Option<std::ffi::OsString> {
    [sub, matches].into_iter().find_map(|m| {
        m.try_get_raw("report_file")
            .ok()
            .flatten()
            .and_then(|mut v| v.next())
            .map(|v| v.to_os_string())
    })
}

/// `wrap --report-file FILE`'s file for the test this process runs: `{test}`
/// replaced by `<binary id>.<test name>` (`NEXTEST_BINARY_ID`,
/// `NEXTEST_TEST_NAME`), every byte outside `[A-Za-z0-9_-]` shown as `_`.
pub fn per_test_report_file(file: &std::path::Path) -> std::path::PathBuf {
    let clean = |var: &str| -> String {
        std::env::var_os(var)
            .unwrap_or_else(|| "unknown".into())
            .as_encoded_bytes()
            .iter()
            .map(|&b| {
                if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
                    b as char
                } else {
                    '_'
                }
            })
            .collect()
    };
    let test = format!(
        "{}.{}",
        clean("NEXTEST_BINARY_ID"),
        clean("NEXTEST_TEST_NAME")
    );
    let bytes = file.as_os_str().as_encoded_bytes();
    let mut out = Vec::with_capacity(bytes.len() + test.len());
    let mut rest = bytes;
    while let Some(at) = rest.windows(6).position(|w| w == b"{test}") {
        out.extend_from_slice(&rest[..at]);
        out.extend_from_slice(test.as_bytes());
        rest = &rest[at + 6..];
    }
    out.extend_from_slice(rest);
    std::path::PathBuf::from(<std::ffi::OsString as std::os::unix::ffi::OsStringExt>::from_vec(out))
}

/// Options of the default mode.
#[derive(Debug, Args, Clone)]
pub struct RunArgs {
    /// After COMMAND exits, wait up to this long for listeners still closing (e.g. 500ms, 2s, 0).
    #[arg(long, default_value = "500ms", value_parser = parse_duration)]
    pub grace: Duration,

    /// Report leaks but stop nothing.
    #[arg(long)]
    pub no_reap: bool,

    /// Also write a JUnit XML report to FILE: one test case per leak, named
    /// after the test that leaked it where its environment says.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,

    /// The command to run (default: `cargo test`).
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<OsString>,
}

/// The modes besides the default one.
#[derive(Debug, Subcommand)]
pub enum Mode {
    /// For a nextest wrapper script: run one test, blame and stop the dashboards it leaked.
    Wrap(WrapArgs),
    /// For a nextest setup script: record the listeners on the watched ports as a baseline.
    Snapshot(SnapshotArgs),
    /// After a run: compare the watched ports with a baseline; report, stop and fail like a run.
    Check(CheckArgs),
    /// Clean a machine that already leaked: list dashboards by class and stop the orphans.
    #[command(long_about = SWEEP_ABOUT)]
    Sweep(SweepArgs),
}

const SWEEP_ABOUT: &str = "\
Clean a machine that already leaked: list every spec-kitty dashboard by class,
with the other listeners on the watched ports, and stop the orphans.

It lists the dev servers a profile recognises too (Python's http.server, each
[[server]] of .config/kitty-leakcheck.toml) and stops those whose served
directory is gone (or, with a record file, that it does not name); a live
server never, not even with --all.

Only dashboards and servers that listen on a watched port, or whose command line
names one, are ever stopped; each is judged again right before, and only ours,
in our namespaces, is ever signalled.";

/// The classes `sweep --help` explains, before its exit statuses.
const SWEEP_CLASSES: &str = "\
Classes:
  orphan       its project dir is gone, or the test that reserved its port is dead   stopped
  unrecorded   its project exists but does not record it (an interrupted start-up)  stopped
  starting     not recorded yet, but younger than --start-grace or its CLI is alive never
  live         its project records it, or a live test owns it                       --all
  unknown      its .kittify/.dashboard, project or namespaces cannot be read        never
  elsewhere    it lives in another pid, mount or network namespace                  never
  foreign      a listener that is not a dashboard (the sync daemon included)        never
A server is an orphan when the directory it serves is gone, unrecorded when its
profile's record file does not name it; live otherwise, and then never stopped.";

/// What `sweep --help` ends with: the classes, when it asks, then the exit
/// statuses (built from the constants).
fn sweep_after() -> String {
    format!(
        "{SWEEP_CLASSES}

On a terminal it asks first; --yes does not ask. When there is something to
stop and the answer is not y, or there is no terminal to ask and no --yes, it
stops nothing and exits {}.

{}",
        crate::exit_codes::LeakcheckExitCode::NEEDS_CONFIRMATION,
        status_table(HelpOf::Sweep)
    )
}

/// `wrap -- <test-binary> <args...>`.
#[derive(Debug, Args, Clone)]
pub struct WrapArgs {
    /// Report leaks but stop nothing (the test still fails).
    #[arg(long)]
    pub no_reap: bool,

    /// The test binary and its arguments, as nextest passes them.
    #[arg(last = true, required = true, value_name = "TEST")]
    pub command: Vec<OsString>,
}

/// `snapshot [--output FILE]`.
#[derive(Debug, Args, Clone)]
pub struct SnapshotArgs {
    /// Where to write the baseline (default: a file under target/, exported through $NEXTEST_ENV);
    /// written 0600 through a fresh temporary file; a symlink at FILE is refused.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
}

/// `check --baseline FILE`.
#[derive(Debug, Args, Clone)]
pub struct CheckArgs {
    /// The baseline written by `snapshot` (also from KITTY_LEAKCHECK_BASELINE);
    /// it fixes the watched ports, so `--ports` is refused here.
    #[arg(long, env = "KITTY_LEAKCHECK_BASELINE")]
    pub baseline: PathBuf,

    /// Report leaks but stop nothing.
    #[arg(long)]
    pub no_reap: bool,

    /// Also write a JUnit XML report to FILE: one test case per leak.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
}

/// `sweep [--yes] [--all] [--dry-run]`.
#[derive(Debug, Args, Clone)]
pub struct SweepArgs {
    /// Do not ask; stop what the classes select.
    #[arg(long, short)]
    pub yes: bool,

    /// Also stop live dashboards (still asks unless --yes).
    #[arg(long)]
    pub all: bool,

    /// List only; stop nothing (not with --yes, which it would ignore).
    #[arg(long, conflicts_with = "yes")]
    pub dry_run: bool,

    /// A dashboard its project does not record yet counts as still starting
    /// (and is never stopped) until it is this old (spec-kitty records one
    /// only after its health check, which may take tens of seconds).
    #[arg(long, default_value = "60s", value_parser = parse_duration, value_name = "DURATION")]
    pub start_grace: Duration,
}

fn parse_ports(s: &str) -> Result<PortSet, String> {
    s.parse::<PortSet>().map_err(|e| e.to_string())
}

/// Parses `500ms`, `2s`, `1.5s`, `0`, `100us`, `1m`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let value: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration; expected e.g. 500ms or 2s"))?;
    let secs = match unit {
        "" if value == 0.0 => 0.0,
        "ms" => value / 1000.0,
        "us" => value / 1_000_000.0,
        "s" => value,
        "m" => value * 60.0,
        _ => {
            return Err(format!(
                "{s:?} is not a duration; expected e.g. 500ms or 2s"
            ));
        }
    };
    if !secs.is_finite() || !(0.0..=86_400.0).contains(&secs) {
        return Err(format!("{s:?} is out of range (0 to 24h)"));
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("x").is_err());
        assert!(parse_duration("-1s").is_err());
    }

    #[test]
    fn shared_options_go_either_side_of_a_mode_and_run_options_not_with_one() {
        let parse = |v: &[&str]| {
            let mut cmd = command();
            cmd.try_get_matches_from_mut(v.iter().copied())
                .and_then(|m| reject_options_that_do_nothing(&mut cmd, &m).map(|()| m))
        };
        assert!(parse(&["x", "--ports", "9240", "sweep", "--dry-run"]).is_ok());
        assert!(parse(&["x", "sweep", "--ports", "9240", "--dry-run"]).is_ok());
        assert!(parse(&["x", "--json", "wrap", "--", "t"]).is_ok());
        assert!(parse(&["x", "--grace", "1s", "--", "cargo", "test"]).is_ok());
        assert!(parse(&["x", "check", "--baseline", "b"]).is_ok());
        assert!(parse(&["x", "--ports", "9240", "snapshot"]).is_ok());
        let e = parse(&["x", "check", "--baseline", "b", "--ports", "9240"]).expect_err("no-op");
        assert!(
            e.to_string()
                .contains("the baseline fixes the watched ports"),
            "{e}"
        );
        for bad in [
            &["x", "--grace", "1s", "sweep"][..],
            &["x", "--no-reap", "wrap", "--", "t"],
            &["x", "--junit", "j.xml", "check", "--baseline", "b"],
            &["x", "check", "--baseline", "b", "--ports", "9240"],
            &["x", "--ports", "9240", "check", "--baseline", "b"],
            &["x", "sweep", "--yes", "--dry-run"],
        ] {
            let e = parse(bad).expect_err("a run option with a mode");
            assert_eq!(
                e.kind(),
                clap::error::ErrorKind::ArgumentConflict,
                "{bad:?}"
            );
        }
    }

    #[test]
    fn colour_follows_the_flag_then_cargo_term_color() {
        let args = |v: &[&str]| v.iter().map(OsString::from).collect::<Vec<_>>();
        assert_eq!(color_choice(&args(&["x"]), None), ColorChoice::Auto);
        assert_eq!(
            color_choice(&args(&["x"]), Some("never")),
            ColorChoice::Never
        );
        assert_eq!(
            color_choice(&args(&["x", "--color", "always"]), Some("never")),
            ColorChoice::Always
        );
        assert_eq!(
            color_choice(&args(&["x", "--color=never"]), Some("always")),
            ColorChoice::Never
        );
        assert_eq!(
            color_choice(&args(&["x", "--", "--color", "always"]), None),
            ColorChoice::Auto,
            "COMMAND's own --color is not ours"
        );
    }

    #[test]
    fn sweep_help_ends_with_its_classes_and_statuses() {
        assert_eq!(
            sweep_after(),
            format!(
                "\
Classes:
  orphan       its project dir is gone, or the test that reserved its port is dead   stopped
  unrecorded   its project exists but does not record it (an interrupted start-up)  stopped
  starting     not recorded yet, but younger than --start-grace or its CLI is alive never
  live         its project records it, or a live test owns it                       --all
  unknown      its .kittify/.dashboard, project or namespaces cannot be read        never
  elsewhere    it lives in another pid, mount or network namespace                  never
  foreign      a listener that is not a dashboard (the sync daemon included)        never
A server is an orphan when the directory it serves is gone, unrecorded when its
profile's record file does not name it; live otherwise, and then never stopped.

On a terminal it asks first; --yes does not ask. When there is something to
stop and the answer is not y, or there is no terminal to ask and no --yes, it
stops nothing and exits 4.

{}",
                status_table(HelpOf::Sweep)
            )
        );
    }

    /// Each mode's `--help`: `--report-file` in its words (no COMMAND where
    /// there is none), and its own exit statuses at the end.
    #[test]
    fn each_mode_help_words_report_file_its_way_and_ends_with_its_statuses() {
        for (mode, of) in [
            ("wrap", HelpOf::Wrap),
            ("snapshot", HelpOf::Snapshot),
            ("check", HelpOf::Check),
            ("sweep", HelpOf::Sweep),
        ] {
            let mut cmd = command();
            let sub = cmd.find_subcommand_mut(mode).expect("mode");
            let help = sub.render_long_help().to_string();
            let report_file = help
                .split("--report-file <FILE>")
                .nth(1)
                .and_then(|rest| rest.split("\n\n").next())
                .expect("--report-file in the help");
            assert!(!report_file.contains("COMMAND"), "{mode}: {report_file}");
            assert!(
                help.trim_end().ends_with(status_table(of).trim_end()),
                "{mode}: {help}"
            );
            let short = sub.render_help().to_string();
            assert!(short.contains("Exit status:"), "{mode} -h: {short}");
        }
        let top = command().render_long_help().to_string();
        assert!(top.contains("whatever COMMAND prints"), "{top}");
    }

    /// `main` parses with [`parser`] and builds [`command`] only for help:
    /// the two take every command line alike, and only a request for help
    /// is an error [`asks_for_help`] sends to [`command`].
    #[test]
    fn the_parser_parses_as_the_whole_command_does_and_help_goes_to_the_whole_command() {
        use clap::FromArgMatches;
        let outcome =
            |cmd: clap::Command, v: &[&str]| match cmd.try_get_matches_from(v.iter().copied()) {
                Ok(m) => format!("{:?}", Cli::from_arg_matches(&m).map(|c| format!("{c:?}"))),
                Err(e) => format!("{:?} {}", e.kind(), asks_for_help(&e)),
            };
        let lines: [&[&str]; 12] = [
            &["x"],
            &["x", "--", "cargo", "test"],
            &["x", "wrap", "--", "t", "--exact", "a"],
            &["x", "-q", "sweep", "--yes", "--ports", "9300-9310"],
            &["x", "check", "--baseline", "b.json"],
            &["x", "--bogus"],
            &["x", "wrap", "--no-reap"],
            &["x", "-h"],
            &["x", "--help"],
            &["x", "help", "sweep"],
            &["x", "sweep", "-vh"],
            &["x", "snapshot", "--help"],
        ];
        for v in lines {
            assert_eq!(outcome(parser(), v), outcome(command(), v), "{v:?}");
        }
        for v in [
            &["x", "-h"][..],
            &["x", "help", "sweep"],
            &["x", "sweep", "-vh"],
        ] {
            let e = parser()
                .try_get_matches_from(v.iter().copied())
                .expect_err("help");
            assert!(asks_for_help(&e), "{v:?}");
        }
        for v in [&["x", "--bogus"][..], &["x", "--version"], &["x", "wrap"]] {
            if let Err(e) = parser().try_get_matches_from(v.iter().copied()) {
                assert!(!asks_for_help(&e), "{v:?}: {:?}", e.kind());
            }
        }
    }

    /// `--profile`, `--config` either side of a mode; the profile's ports
    /// only where neither `--ports` nor `KITTY_PORTS` gave them.
    #[test]
    fn the_profile_and_its_ports() {
        use clap::FromArgMatches;
        let cli = |v: &[&str]| {
            let m = command()
                .try_get_matches_from(v.iter().copied())
                .expect("parses");
            let mut cli = Cli::from_arg_matches(&m).expect("a Cli");
            cli.common.ports_given = ports_given(&m);
            cli
        };
        // The tests run with whatever environment; these two must not be in it.
        if std::env::var_os("KITTY_PORTS").is_some()
            || std::env::var_os("KITTY_LEAKCHECK_PROFILE").is_some()
        {
            return;
        }
        let policy = Policy {
            ports: Some(PortSet::single(5173)),
            ..Policy::default()
        };
        let plain = cli(&["x", "sweep"]);
        assert!(!plain.common.ports_given);
        assert_eq!(plain.common.profile, "default");
        assert_eq!(plain.common.config, None);
        assert_eq!(
            plain.common.with_policy(&policy).ports,
            PortSet::single(5173)
        );
        assert_eq!(
            plain.common.with_policy(&Policy::default()).ports,
            PortSet::spec_kitty(),
            "no ports in the profile: the default"
        );
        for given in [
            &["x", "--ports", "9240", "sweep"][..],
            &["x", "sweep", "--ports", "9240"],
            &["x", "--ports=9240", "--", "cargo", "test"],
        ] {
            let c = cli(given);
            assert!(c.common.ports_given, "{given:?}");
            assert_eq!(
                c.common.with_policy(&policy).ports,
                PortSet::single(9240),
                "{given:?}"
            );
        }
        let c = cli(&["x", "--profile", "ci", "snapshot", "--config", "k.toml"]);
        assert_eq!(c.common.profile, "ci");
        assert_eq!(
            c.common.config.as_deref(),
            Some(std::path::Path::new("k.toml"))
        );
        let c = cli(&["x", "check", "--baseline", "b", "--profile=ci"]);
        assert_eq!(c.common.profile, "ci");
    }

    #[test]
    fn clap_is_consistent() {
        command().debug_assert();
    }
}
