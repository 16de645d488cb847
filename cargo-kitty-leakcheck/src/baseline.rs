//! The baseline a nextest setup script records (`snapshot`) and the step
//! after the run compares with (`check`, in [`crate::nextest`]).
//!
//! `snapshot` writes a [`Baseline`] (the listeners on the watched ports, the
//! dashboards alive then, the run label and the boot) and exports its path as
//! [`BASELINE_ENV`] and the label as `KITTY_LEAKCHECK_RUN` through `$NEXTEST_ENV`.

use std::path::{Path, PathBuf};

use anyhow::Context;
use kitty_core::PortSet;
use kitty_core::spec_kitty::find_dashboard_processes;
use kitty_core::sys::boot_id;
use kitty_core::{Listener, ListenerSnapshot, RUN_LABEL_ENV, new_run_label};
use serde::{Deserialize, Serialize};

use crate::cli::{CommonArgs, SnapshotArgs};

/// The variable `snapshot` exports (through `$NEXTEST_ENV`) and `check` reads.
pub const BASELINE_ENV: &str = "KITTY_LEAKCHECK_BASELINE";

/// The symlink `snapshot` points at the newest baseline in its default directory.
pub const LATEST_BASELINE: &str = "baseline-latest.json";

/// The version of the baseline file's format.
pub const BASELINE_SCHEMA_VERSION: u32 = 1;

/// The baseline `snapshot` writes and `check` reads (JSON).
///
/// ```text
/// {
///   "schema_version": 1,
///   "tool": "cargo-kitty-leakcheck", "tool_version": "0.1.0",
///   "ports": "9237-9337",
///   "run_id": "<NEXTEST_RUN_ID>" | null,
///   "run_label": "lk-0123456789abcdef" | null,   // exported to the tests as KITTY_LEAKCHECK_RUN
///   "boot_id": "<boot id>" | null,
///   "listeners": [{"port": 9240, "addr": "127.0.0.1", "inode": 123, "uid": 1000}],
///   "dashboards": [{"pid": 4242, "start_ticks": 987, "port": 9240, "project_dir": "/p"}]
/// }
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Baseline {
    /// [`BASELINE_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The tool that wrote it.
    #[serde(default)]
    pub tool: String,
    /// Its version.
    #[serde(default)]
    pub tool_version: String,
    /// The watched ports, as `--ports` spells them.
    pub ports: String,
    /// `NEXTEST_RUN_ID` when nextest ran the setup script.
    #[serde(default)]
    pub run_id: Option<String>,
    /// The run label exported to the tests ([`RUN_LABEL_ENV`]): a dashboard
    /// carrying it was started by this run.
    #[serde(default)]
    pub run_label: Option<String>,
    /// The boot it was recorded under: under another one it means nothing.
    #[serde(default)]
    pub boot_id: Option<String>,
    /// The listeners on the watched ports.
    pub listeners: Vec<Listener>,
    /// The dashboard processes alive then (any port).
    pub dashboards: Vec<BaselineDashboard>,
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
fn default_baseline_path() -> PathBuf {
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

/// What `snapshot` recorded, and where.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// The file written.
    pub path: PathBuf,
    /// The watched ports.
    pub ports: PortSet,
    /// How many listeners it holds.
    pub listeners: usize,
    /// How many dashboards were alive.
    pub dashboards: usize,
}

/// `snapshot`: writes the baseline and exports it to nextest's tests.
pub fn snapshot(common: &CommonArgs, args: &SnapshotArgs) -> anyhow::Result<Snapshot> {
    let snap =
        ListenerSnapshot::take(&common.ports).context("cannot read the listening sockets")?;
    // Inside a `cargo kitty-leakcheck` run, the tests share its label;
    // otherwise the nextest run gets one of its own.
    let label = match std::env::var_os(RUN_LABEL_ENV).filter(|l| !l.is_empty()) {
        Some(l) => l,
        None => new_run_label().context("cannot make a run label")?,
    };
    let baseline = Baseline {
        schema_version: BASELINE_SCHEMA_VERSION,
        tool: env!("CARGO_PKG_NAME").into(),
        tool_version: env!("CARGO_PKG_VERSION").into(),
        ports: common.ports.to_string(),
        run_id: std::env::var("NEXTEST_RUN_ID").ok(),
        run_label: Some(label.to_string_lossy().into_owned()),
        boot_id: boot_id(),
        listeners: snap.listeners().to_vec(),
        dashboards: find_dashboard_processes()
            .into_iter()
            .map(|d| BaselineDashboard {
                pid: d.identity.pid(),
                start_ticks: d.identity.start_ticks(),
                port: d.command.port,
                project_dir: kitty_core::mask_tokens(&d.command.project_dir.display().to_string()),
            })
            .collect(),
    };
    let path = args.output.clone().unwrap_or_else(default_baseline_path);
    write_atomically(&path, &serde_json::to_vec_pretty(&baseline)?)
        .with_context(|| format!("cannot write the baseline {}", path.display()))?;
    if args.output.is_none() {
        // `check --baseline target/kitty-leakcheck/baseline-latest.json` in the CI step after the run.
        let latest = path.with_file_name(LATEST_BASELINE);
        let _ = std::fs::remove_file(&latest);
        let _ = std::os::unix::fs::symlink(path.file_name().unwrap_or_default(), &latest);
    }
    if let Some(env_file) = std::env::var_os("NEXTEST_ENV") {
        // One write of both lines: nextest reads KEY=VALUE lines.
        let lines = format!(
            "{BASELINE_ENV}={}\n{RUN_LABEL_ENV}={}\n",
            path.display(),
            label.to_string_lossy()
        );
        kitty_core::sys::append_to_regular_file(Path::new(&env_file), lines.as_bytes())
            .with_context(|| {
                format!(
                    "cannot write to $NEXTEST_ENV ({})",
                    Path::new(&env_file).display()
                )
            })?;
    }
    Ok(Snapshot {
        path,
        ports: common.ports.clone(),
        listeners: baseline.listeners.len(),
        dashboards: baseline.dashboards.len(),
    })
}

/// Writes the baseline through the one writer of every file leakcheck
/// writes ([`write_file_atomically`](kitty_core::sys::write_file_atomically):
/// an unpredictable `O_EXCL | O_NOFOLLOW` temporary file, `0600`, renamed
/// into place, removed on error), creating its directory first.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    kitty_core::sys::write_file_atomically(path, bytes)
}

/// The largest baseline `check` reads: 16 MiB. A baseline holds a listener
/// per watched socket and a line per dashboard alive, about 100 bytes each:
/// 16 MiB is over 100,000 of them, far beyond any machine's; anything larger
/// is not a baseline, and is refused before it is read.
pub const MAX_BASELINE_BYTES: u64 = 16 << 20;

/// Reads a baseline; the error is the one line to print (exit 2). The file
/// must be a regular file of at most [`MAX_BASELINE_BYTES`]: a FIFO, a
/// device (`/dev/zero`), a directory or a huge file is refused at once,
/// without blocking or reading it. A symlink is followed (the default
/// `baseline-latest.json` is one) and what it names is checked the same way.
pub fn read_baseline(path: &Path) -> Result<Baseline, String> {
    let shown = || crate::report::visible::visible_path(path);
    let bytes =
        kitty_core::sys::read_bounded(path, MAX_BASELINE_BYTES, kitty_core::sys::Symlinks::Follow)
            .map_err(|e| format!("cannot read the baseline {}: {e}", shown()))?;
    let b: Baseline = serde_json::from_slice(&bytes)
        .map_err(|e| format!("{} is not a kitty-leakcheck baseline: {e}", shown()))?;
    if b.schema_version != BASELINE_SCHEMA_VERSION {
        return Err(format!(
            "{} has baseline schema version {}, this cargo-kitty-leakcheck reads {BASELINE_SCHEMA_VERSION}",
            shown(),
            b.schema_version
        ));
    }
    b.ports
        .parse::<PortSet>()
        .map_err(|e| format!("{}: bad ports {:?}: {e}", shown(), b.ports))?;
    if let (Some(then), Some(now)) = (&b.boot_id, boot_id())
        && *then != now
    {
        return Err(format!(
            "{} was recorded before the machine last booted; its pids and sockets mean nothing now (take a new one with `cargo-kitty-leakcheck snapshot`)",
            shown()
        ));
    }
    Ok(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A directory removed on drop (this crate has no tempfile dependency).
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> Self {
            let p = std::env::temp_dir().join(format!(
                "kitty-leakcheck-test-{name}-{}",
                std::process::id()
            ));
            std::fs::create_dir_all(&p).expect("temp dir");
            TempDir(p)
        }
        fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

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
            tool: "cargo-kitty-leakcheck".into(),
            tool_version: "0.1.0".into(),
            ports: "9237-9337".into(),
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
        write_atomically(&p, &serde_json::to_vec(&good).expect("json")).expect("write");
        let back = read_baseline(&p).expect("reads");
        assert_eq!((back.listeners[0].inode, back.dashboards[0].pid), (7, 42));

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
