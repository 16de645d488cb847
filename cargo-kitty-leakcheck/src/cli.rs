//! Command-line options.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use kitty_fixtures::ports::PortSet;

/// The default watched ports: spec-kitty's range plus the 9337 its error message names.
pub const DEFAULT_PORTS: &str = "9237-9337";

/// Wraps a test run, fails it on leaked spec-kitty dashboards, reaps them, and
/// touches nothing the run did not leak.
#[derive(Debug, Parser)]
#[command(
    name = "cargo-kitty-leakcheck",
    bin_name = "cargo kitty-leakcheck",
    version,
    args_conflicts_with_subcommands = true,
    after_help = "Exit status: COMMAND's own status when it fails; 3 when it passed but leaked; 0 when \
                  it passed and nothing leaked; 2 bad usage; 4 sweep needs --yes; 5 a leak survived \
                  reaping; 126/127 COMMAND not executable / not found; 1 internal error."
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
    /// Watched ports, inclusive ranges separated by commas.
    #[arg(long, env = "KITTY_PORTS", default_value = DEFAULT_PORTS, value_parser = parse_ports, global = true)]
    pub ports: PortSet,

    /// Print the report as JSON (schema version 1) on stdout.
    #[arg(long, global = true)]
    pub json: bool,

    /// `human` (default) or `json`, as cargo spells it.
    #[arg(long, value_enum, global = true)]
    pub message_format: Option<MessageFormat>,

    /// When to colour the human report; honours NO_COLOR and CARGO_TERM_COLOR.
    #[arg(long, value_enum, global = true)]
    pub color: Option<ColorChoice>,

    /// Print only leaks and errors.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    /// Print what was seen before and after, and each signal sent.
    #[arg(short, long, global = true)]
    pub verbose: bool,
}

impl CommonArgs {
    /// Whether the report is JSON.
    pub fn json(&self) -> bool {
        self.json || self.message_format == Some(MessageFormat::Json)
    }
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
    /// Colour when stderr is a terminal and NO_COLOR is unset.
    Auto,
    /// Always colour.
    Always,
    /// Never colour.
    Never,
}

/// Options of the default mode and of `wrap`.
#[derive(Debug, Args, Clone)]
pub struct RunArgs {
    /// After COMMAND exits, wait up to this long for listeners still closing (e.g. 500ms, 2s, 0).
    #[arg(long, default_value = "500ms", value_parser = parse_duration)]
    pub grace: Duration,

    /// Report leaks but stop nothing.
    #[arg(long)]
    pub no_reap: bool,

    /// The command to run (default: `cargo test`).
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<OsString>,
}

/// The modes besides the default one.
#[derive(Debug, Subcommand)]
pub enum Mode {
    /// For a nextest wrapper script: run one test, blame and reap the dashboards it leaked.
    Wrap(WrapArgs),
    /// For a nextest setup script: record the listeners on the watched ports as a baseline.
    Snapshot(SnapshotArgs),
    /// After a run: compare the watched ports with a baseline; report, reap and fail like a run.
    Check(CheckArgs),
    /// Clean a machine that already leaked: list dashboards by class and stop the orphans.
    Sweep(SweepArgs),
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
    /// Where to write the baseline (default: a file under target/, exported through $NEXTEST_ENV).
    #[arg(long, short)]
    pub output: Option<PathBuf>,
}

/// `check --baseline FILE`.
#[derive(Debug, Args, Clone)]
pub struct CheckArgs {
    /// The baseline written by `snapshot` (also from KITTY_LEAKCHECK_BASELINE).
    #[arg(long, env = "KITTY_LEAKCHECK_BASELINE")]
    pub baseline: PathBuf,

    /// Report leaks but stop nothing.
    #[arg(long)]
    pub no_reap: bool,
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

    /// List only; stop nothing.
    #[arg(long)]
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
    fn clap_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
