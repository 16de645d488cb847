//! The baseline a nextest setup script records (`snapshot`) and the step
//! after the run compares with (`check`, both in [`crate::modes::nextest`]):
//! the typed [`Baseline`], and its file.
//!
//! `snapshot` writes a [`Baseline`] (the listeners on the watched ports, the
//! dashboards alive then, the run label and the boot) and exports its path as
//! [`BASELINE_ENV`] and the label as `KITTY_LEAKCHECK_RUN` through `$NEXTEST_ENV`.

use std::path::{Path, PathBuf};

use kitty_core::Listener;
use kitty_core::PortSet;
use kitty_core::sys::boot_id;
use serde::{Deserialize, Serialize};

use crate::errors::Error;

/// The variable `snapshot` exports (through `$NEXTEST_ENV`) and `check` reads.
pub const BASELINE_ENV: &str = "KITTY_LEAKCHECK_BASELINE";

/// The symlink `snapshot` points at the newest baseline in its default directory.
pub const LATEST_BASELINE: &str = "baseline-latest.json";

/// The version of the baseline file's format.
pub const BASELINE_SCHEMA_VERSION: u32 = 1;

/// The baseline `snapshot` writes and `check` reads: its ports parsed once,
/// when it is read ([`read_baseline`]), spelled as `--ports` spells them
/// only in its file ([`write_baseline`]).
#[derive(Debug, Clone)]
pub struct Baseline {
    /// [`BASELINE_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// When it was taken (milliseconds since the Unix epoch): when the run began.
    pub started_at_ms: Option<u64>,
    /// Whether the wrappers record into an enclosing `cargo kitty-leakcheck`
    /// run's directory (which reports them) rather than the one beside this
    /// baseline ([`crate::records`]).
    pub records_by_enclosing_run: bool,
    /// The tool that wrote it.
    pub tool: String,
    /// Its version.
    pub tool_version: String,
    /// The watched ports.
    pub ports: PortSet,
    /// `NEXTEST_RUN_ID` when nextest ran the setup script.
    pub run_id: Option<String>,
    /// The run label exported to the tests (`KITTY_LEAKCHECK_RUN`): a dashboard
    /// carrying it was started by this run.
    pub run_label: Option<String>,
    /// The boot it was recorded under: under another one it means nothing.
    pub boot_id: Option<String>,
    /// The listeners on the watched ports.
    pub listeners: Vec<Listener>,
    /// The dashboard processes alive then (any port).
    pub dashboards: Vec<BaselineDashboard>,
}

/// A [`Baseline`] as its file holds it (JSON), the ports as `--ports`
/// spells them:
///
/// ```text
/// {
///   "schema_version": 1,
///   "started_at_ms": 1796000000000,              // when the run began
///   "records_by_enclosing_run": false,           // true: an enclosing run reports the wrappers' records
///   "tool": "cargo-kitty-leakcheck", "tool_version": "0.1.0",
///   "ports": "9237-9336",
///   "run_id": "<NEXTEST_RUN_ID>" | null,
///   "run_label": "lk-0123456789abcdef" | null,   // exported to the tests as KITTY_LEAKCHECK_RUN
///   "boot_id": "<boot id>" | null,
///   "listeners": [{"port": 9240, "addr": "127.0.0.1", "inode": 123, "uid": 1000}],
///   "dashboards": [{"pid": 4242, "start_ticks": 987, "port": 9240, "project_dir": "/p"}]
/// }
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
struct BaselineFile {
    /// [`BASELINE_SCHEMA_VERSION`].
    schema_version: u32,
    /// When it was taken (milliseconds since the Unix epoch).
    #[serde(default)]
    started_at_ms: Option<u64>,
    /// Whether the wrappers record into an enclosing run's directory.
    #[serde(default)]
    records_by_enclosing_run: bool,
    /// The tool that wrote it.
    #[serde(default)]
    tool: String,
    /// Its version.
    #[serde(default)]
    tool_version: String,
    /// The watched ports, as `--ports` spells them.
    ports: String,
    /// `NEXTEST_RUN_ID` when nextest ran the setup script.
    #[serde(default)]
    run_id: Option<String>,
    /// The run label exported to the tests (`KITTY_LEAKCHECK_RUN`): a dashboard
    /// carrying it was started by this run.
    #[serde(default)]
    run_label: Option<String>,
    /// The boot it was recorded under: under another one it means nothing.
    #[serde(default)]
    boot_id: Option<String>,
    /// The listeners on the watched ports.
    listeners: Vec<Listener>,
    /// The dashboard processes alive then (any port).
    dashboards: Vec<BaselineDashboard>,
}

/// One dashboard process of a [`Baseline`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BaselineDashboard {
    /// Its pid.
    pub pid: u32,
    /// Its start time (clock ticks after boot): with the pid, names it for life.
    pub start_ticks: u64,
    /// The port its command line names.
    pub port: Option<u16>,
    /// The project it serves (tokens masked).
    pub project_dir: String,
}

/// Where `snapshot` writes by default: `$CARGO_TARGET_DIR` (else `target`
/// under the current directory, which is the workspace root in a nextest
/// setup script) `/kitty-leakcheck/baseline-<NEXTEST_RUN_ID or pid>.json`,
/// with the symlink [`LATEST_BASELINE`] beside it.
pub fn default_baseline_path() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| "target".into());
    let id = std::env::var("NEXTEST_RUN_ID").unwrap_or_else(|_| std::process::id().to_string());
    let id: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let path = target
        .join("kitty-leakcheck")
        .join(format!("baseline-{id}.json"));
    std::path::absolute(&path).unwrap_or(path)
}

impl From<&Baseline> for BaselineFile {
    fn from(b: &Baseline) -> Self {
        BaselineFile {
            schema_version: b.schema_version,
            started_at_ms: b.started_at_ms,
            records_by_enclosing_run: b.records_by_enclosing_run,
            tool: b.tool.clone(),
            tool_version: b.tool_version.clone(),
            ports: b.ports.to_string(),
            run_id: b.run_id.clone(),
            run_label: b.run_label.clone(),
            boot_id: b.boot_id.clone(),
            listeners: b.listeners.clone(),
            dashboards: b.dashboards.clone(),
        }
    }
}

/// Writes `baseline` to `path` (pretty JSON).
pub fn write_baseline(path: &Path, baseline: &Baseline) -> Result<(), Error> {
    let bytes =
        serde_json::to_vec_pretty(&BaselineFile::from(baseline)).map_err(Error::EncodeBaseline)?;
    write_atomically(path, &bytes).map_err(|source| Error::WriteBaseline {
        path: path.to_path_buf(),
        source,
    })
}

/// Writes the baseline through the one writer of every file leakcheck
/// writes ([`write_file_atomically_creating_dirs`](kitty_core::sys::write_file_atomically_creating_dirs):
/// its missing directories made `0755`, never through a symlink; an
/// unpredictable `O_EXCL | O_NOFOLLOW` temporary file, `0600`, renamed into
/// place, removed on error), as the report files are written.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    kitty_core::sys::write_file_atomically_creating_dirs(path, bytes)
}

/// The largest baseline `check` reads: 16 MiB. A baseline holds a listener
/// per watched socket and a line per dashboard alive, about 100 bytes each:
/// 16 MiB is over 100,000 of them, far beyond any machine's; anything larger
/// is not a baseline, and is refused before it is read.
pub const MAX_BASELINE_BYTES: u64 = 16 << 20;

/// Reads a baseline; the error is [`Error::BadBaseline`], the one line to
/// print (exit 2). The file must be a regular file of at most
/// [`MAX_BASELINE_BYTES`]: a FIFO, a device (`/dev/zero`), a directory or a
/// huge file is refused at once, without blocking or reading it. A symlink
/// is followed (the default `baseline-latest.json` is one) and what it names
/// is checked the same way.
pub fn read_baseline(path: &Path) -> Result<Baseline, Error> {
    let shown = || crate::report::visible::visible_path(path);
    let bad = Error::BadBaseline;
    let bytes =
        kitty_core::sys::read_bounded(path, MAX_BASELINE_BYTES, kitty_core::sys::Symlinks::Follow)
            .map_err(|e| bad(format!("cannot read the baseline {}: {e}", shown())))?;
    let b: BaselineFile = serde_json::from_slice(&bytes).map_err(|e| {
        bad(format!(
            "{} is not a kitty-leakcheck baseline: {e}",
            shown()
        ))
    })?;
    if b.schema_version != BASELINE_SCHEMA_VERSION {
        return Err(bad(format!(
            "{} has baseline schema version {}, this cargo-kitty-leakcheck reads {BASELINE_SCHEMA_VERSION}",
            shown(),
            b.schema_version
        )));
    }
    let ports = b
        .ports
        .parse::<PortSet>()
        .map_err(|e| bad(format!("{}: bad ports {:?}: {e}", shown(), b.ports)))?;
    if let (Some(then), Some(now)) = (&b.boot_id, boot_id())
        && *then != now
    {
        return Err(bad(format!(
            "{} was recorded before the machine last booted; its pids and sockets mean nothing now (take a new one with `cargo-kitty-leakcheck snapshot`)",
            shown()
        )));
    }
    Ok(Baseline {
        schema_version: b.schema_version,
        started_at_ms: b.started_at_ms,
        records_by_enclosing_run: b.records_by_enclosing_run,
        tool: b.tool,
        tool_version: b.tool_version,
        ports,
        run_id: b.run_id,
        run_label: b.run_label,
        boot_id: b.boot_id,
        listeners: b.listeners,
        dashboards: b.dashboards,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_dir::TempDir;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).expect("write");
        p
    }

    #[test]
    fn baselines_round_trip_and_bad_ones_are_one_line_errors() {
        let dir = TempDir::new("baselines");
        let good = Baseline {
            schema_version: BASELINE_SCHEMA_VERSION,
            started_at_ms: Some(1_796_000_000_000),
            records_by_enclosing_run: false,
            tool: "cargo-kitty-leakcheck".into(),
            tool_version: "0.1.0".into(),
            ports: "9237-9336".parse().expect("ports"),
            run_id: Some("abc".into()),
            run_label: Some("lk-0123456789abcdef".into()),
            boot_id: boot_id(),
            listeners: vec![Listener {
                port: 9240,
                addr: [127, 0, 0, 1].into(),
                inode: 7,
                uid: 1000,
            }],
            dashboards: vec![BaselineDashboard {
                pid: 42,
                start_ticks: 9,
                port: Some(9240),
                project_dir: "/p".into(),
            }],
        };
        let p = dir.path().join("b.json");
        write_baseline(&p, &good).expect("write");
        let back = read_baseline(&p).expect("reads");
        assert_eq!((back.listeners[0].inode, back.dashboards[0].pid), (7, 42));
        assert_eq!(back.ports, good.ports, "the ports come back typed");

        let bad = [
            dir.path().join("missing.json"),
            write(dir.path(), "empty.json", ""),
            write(dir.path(), "cut.json", r#"{"schema_version": 1, "ports": "#),
            write(
                dir.path(),
                "v2.json",
                r#"{"schema_version": 2, "ports": "9237", "listeners": [], "dashboards": []}"#,
            ),
            write(
                dir.path(),
                "ports.json",
                r#"{"schema_version": 1, "ports": "x", "listeners": [], "dashboards": []}"#,
            ),
        ];
        for p in bad {
            let e = read_baseline(&p).expect_err("refused");
            assert!(matches!(e, Error::BadBaseline(_)), "{e:?}");
            let e = e.to_string();
            assert!(
                !e.contains('\n') && e.contains(&p.display().to_string()),
                "{e}"
            );
        }
    }

    #[test]
    fn the_default_baseline_is_under_the_target_dir() {
        let p = default_baseline_path();
        assert!(p.is_absolute(), "{}", p.display());
        assert_eq!(
            p.parent().and_then(Path::file_name),
            Some(std::ffi::OsStr::new("kitty-leakcheck"))
        );
        assert!(
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("baseline-"))
        );
    }
}
