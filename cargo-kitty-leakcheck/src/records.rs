//! The run-scoped records of the nextest set-up: the directory `snapshot`
//! makes (or the one an enclosing `cargo kitty-leakcheck` run made), a file
//! per leaking test that its `wrap` writes, and their reading by `check` and
//! the enclosing run.
//!
//! - **Where**: `snapshot` makes `<baseline>.records/` beside its baseline
//!   (`target/kitty-leakcheck/baseline-<NEXTEST_RUN_ID>.records/`), `0700`,
//!   and exports its path to the tests as [`RECORDS_ENV`]. Under an enclosing
//!   `cargo kitty-leakcheck` run, which exports [`ENCLOSING_RECORDS_ENV`] (a
//!   private temporary directory it removes when it ends; and [`RECORDS_ENV`]
//!   too, for wrappers without a setup script), `snapshot` passes that one
//!   on instead, and the enclosing run reports the wrappers' leaks.
//! - **What**: a `wrap` whose test leaked writes one [`Record`] (JSON) named
//!   `<binary id>.<test name>.<pid>.json`, every byte outside
//!   `[A-Za-z0-9_-]` shown as `_`, cut to 200 bytes: its test, its exit
//!   status, and each leak in its own words and as its JSON report holds it.
//!   A test that leaked nothing writes nothing (the fast path stays a
//!   `waitpid`).
//! - **Reading**: only regular `*.json` files, each at most
//!   [`MAX_RECORD_BYTES`], at most [`MAX_RECORDS`] of them, never through a
//!   symlink; a directory that is missing means no records; one that is not
//!   ours alone, or a record that is not one, is a one-line error.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use kitty_core::sys::{PrivateDirError, Symlinks, private_dir, read_bounded};

use crate::errors::Error;
use crate::findings::records::{RECORD_SCHEMA_VERSION, Record};
use crate::report::visible::visible_path;

/// The variable that names the records directory to `wrap`.
pub const RECORDS_ENV: &str = "KITTY_LEAKCHECK_RECORDS";

/// The variable an enclosing `cargo kitty-leakcheck` run names its own
/// records directory with, for a `snapshot` under it to pass on. Apart from
/// [`RECORDS_ENV`], which every test of a nextest run inherits: a nextest
/// run inside a test must not take its suite's directory for an enclosing
/// run's.
pub const ENCLOSING_RECORDS_ENV: &str = "KITTY_LEAKCHECK_RUN_RECORDS";

/// The largest record read: 4 MiB (a record holds a few leaks of one test).
pub const MAX_RECORD_BYTES: u64 = 4 << 20;

/// The most records read from one directory.
pub const MAX_RECORDS: usize = 100_000;

/// The records directory beside the baseline `baseline`:
/// `baseline-<id>.json` → `baseline-<id>.records`.
pub fn beside(baseline: &Path) -> PathBuf {
    baseline.with_extension("records")
}

/// The records directory this process's environment names to `wrap`
/// ([`RECORDS_ENV`]).
pub fn from_env() -> Option<PathBuf> {
    dir_of(RECORDS_ENV)
}

/// The records directory of an enclosing run ([`ENCLOSING_RECORDS_ENV`]).
pub fn of_enclosing_run() -> Option<PathBuf> {
    dir_of(ENCLOSING_RECORDS_ENV)
}

fn dir_of(var: &str) -> Option<PathBuf> {
    std::env::var_os(var)
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
}

fn private_dir_error(dir: &Path, e: PrivateDirError) -> Error {
    let why = match e {
        PrivateDirError::NotPrivate(why) => why,
        PrivateDirError::Io(e) => e.to_string(),
    };
    Error::Records(format!(
        "cannot use the records directory {}: {why}",
        visible_path(dir)
    ))
}

/// Makes `dir` a records directory of ours alone, or checks the one there
/// (an enclosing run's, or a previous run's of the same name, whose records
/// are removed: they are not this run's).
pub fn prepare(dir: &Path, fresh: bool) -> Result<(), Error> {
    private_dir(dir, true).map_err(|e| private_dir_error(dir, e))?;
    if fresh {
        for (path, _) in record_files(dir)? {
            let _ = std::fs::remove_file(path);
        }
    }
    Ok(())
}

/// The name of a record of `test` written by process `pid`.
fn record_name(binary_id: Option<&str>, test: Option<&str>, pid: u32) -> String {
    let clean = |s: &str| -> String {
        s.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
                    b as char
                } else {
                    '_'
                }
            })
            .collect()
    };
    let mut stem = format!(
        "{}.{}",
        clean(binary_id.unwrap_or("unknown")),
        clean(test.unwrap_or("unknown"))
    );
    stem.truncate(200);
    format!("{stem}.{pid}.json")
}

/// Writes `record` into `dir` (which must be ours alone), through the one
/// writer of every file leakcheck writes; returns its path.
pub fn write(dir: &Path, record: &Record) -> Result<PathBuf, Error> {
    private_dir(dir, false)
        .map_err(|e| private_dir_error(dir, e))
        .and_then(|there| {
            there.then_some(()).ok_or_else(|| {
                Error::Records(format!(
                    "the records directory {} does not exist",
                    visible_path(dir)
                ))
            })
        })?;
    let test = record.test.as_ref();
    let name = record_name(
        test.and_then(|t| t.binary_id.as_deref()),
        test.and_then(|t| t.name.as_deref()),
        std::process::id(),
    );
    let path = dir.join(name);
    let bytes = serde_json::to_vec(record)
        .map_err(|e| Error::Records(format!("cannot encode the record of this test: {e}")))?;
    kitty_core::sys::write_file_atomically(&path, &bytes).map_err(|e| {
        Error::Records(format!(
            "cannot write the record {}: {e}",
            visible_path(&path)
        ))
    })?;
    Ok(path)
}

/// The `*.json` files in `dir`, sorted by name.
fn record_files(dir: &Path) -> Result<Vec<(PathBuf, OsString)>, Error> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        Error::Records(format!(
            "cannot list the records directory {}: {e}",
            visible_path(dir)
        ))
    })?;
    let mut files = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let bytes = name.as_encoded_bytes();
        if bytes.starts_with(b".") || !bytes.ends_with(b".json") {
            continue;
        }
        if files.len() == MAX_RECORDS {
            return Err(Error::Records(format!(
                "the records directory {} holds more than {MAX_RECORDS} records",
                visible_path(dir)
            )));
        }
        files.push((entry.path(), name));
    }
    files.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(files)
}

/// Every record in `dir`, in name order; none when `dir` does not exist.
pub fn read_all(dir: &Path) -> Result<Vec<Record>, Error> {
    if !private_dir(dir, false).map_err(|e| private_dir_error(dir, e))? {
        return Ok(Vec::new());
    }
    let mut records = Vec::new();
    for (path, _) in record_files(dir)? {
        let bad = |why: String| Error::Records(format!("{}: {why}", visible_path(&path)));
        let bytes = read_bounded(&path, MAX_RECORD_BYTES, Symlinks::Refuse)
            .map_err(|e| bad(format!("cannot read the record: {e}")))?;
        let record: Record = serde_json::from_slice(&bytes)
            .map_err(|e| bad(format!("not a kitty-leakcheck record: {e}")))?;
        if record.schema_version != RECORD_SCHEMA_VERSION {
            return Err(bad(format!(
                "record schema version {}, this cargo-kitty-leakcheck reads {RECORD_SCHEMA_VERSION}",
                record.schema_version
            )));
        }
        records.push(record);
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::findings::records::{RecordedLeak, RecordedResult};
    use crate::findings::run::{LeakKind, Runner, TestLabel};

    fn temp(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("kitty-records-{name}-{}", std::process::id()))
    }

    fn record(test: &str) -> Record {
        let label = TestLabel {
            name: Some(test.into()),
            binary_id: Some("my-crate::it".into()),
            runner: Runner::Nextest,
        };
        Record {
            schema_version: RECORD_SCHEMA_VERSION,
            test: Some(label.clone()),
            exit_code: 3,
            leaks: vec![RecordedLeak {
                test: Some(label),
                kind: LeakKind::Dashboard,
                pid: Some(42),
                start_ticks: Some(7),
                port: Some(9240),
                project: Some("/tmp/p".into()),
                command_line: Some("python -m http.server".into()),
                headline: "dashboard pid 42 on 127.0.0.1:9240".into(),
                done: "reaped".into(),
                result: RecordedResult::Reaped,
                elapsed_ms: Some(8.5),
                report: serde_json::json!({"kind": "dashboard"}),
                fails: true,
            }],
        }
    }

    #[test]
    fn records_round_trip_in_name_order_and_a_missing_dir_holds_none() {
        let dir = temp("round-trip");
        assert!(read_all(&dir).expect("missing is none").is_empty());
        prepare(&dir, true).expect("made");
        let a = write(&dir, &record("a / test")).expect("written");
        assert!(
            a.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("my-crate__it.a___test.")),
            "{}",
            a.display()
        );
        write(&dir, &record("b")).expect("written");
        let back = read_all(&dir).expect("read");
        assert_eq!(back, vec![record("a / test"), record("b")]);
        prepare(&dir, true).expect("fresh again");
        assert!(
            read_all(&dir).expect("read").is_empty(),
            "a fresh dir holds no old records"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_bad_record_or_a_planted_symlink_is_a_one_line_error() {
        let dir = temp("bad");
        prepare(&dir, true).expect("made");
        std::fs::write(dir.join("x.json"), "{\"schema_version\": 1").expect("write");
        let e = read_all(&dir).expect_err("refused").to_string();
        assert!(!e.contains('\n') && e.contains("x.json"), "{e}");
        std::fs::remove_file(dir.join("x.json")).expect("rm");
        std::os::unix::fs::symlink("/etc/passwd", dir.join("y.json")).expect("plant");
        let e = read_all(&dir).expect_err("refused").to_string();
        assert!(!e.contains('\n') && e.contains("y.json"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);

        let link = temp("link");
        std::os::unix::fs::symlink("/tmp", &link).expect("plant");
        let e = read_all(&link).expect_err("refused").to_string();
        assert!(e.contains("symlink"), "{e}");
        let _ = std::fs::remove_file(&link);
    }
}
