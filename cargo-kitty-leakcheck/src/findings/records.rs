//! What a `wrap` found, as it records it for the whole run: a [`Record`]
//! per leaking test, each leak a [`RecordedLeak`]. Under nextest a wrapper
//! runs once per test and its process ends with its test; the record is how
//! `check` (and an enclosing `cargo kitty-leakcheck` run) learn, after the
//! run, which tests leaked what and what the wrappers did about it.
//! [`crate::records`] writes and reads the files; [`crate::report`] makes a
//! record from a `wrap`'s findings (its words are the wrapper's own).

use serde::{Deserialize, Serialize};

use super::run::{LeakKind, TestLabel};

/// The version of a record file's format.
pub const RECORD_SCHEMA_VERSION: u32 = 1;

/// One `wrap`'s record: the test, and what it leaked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// [`RECORD_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The test, as its environment said (`NEXTEST_TEST_NAME`, `NEXTEST_BINARY_ID`).
    pub test: Option<TestLabel>,
    /// The wrapper's exit status.
    pub exit_code: i32,
    /// What it leaked, and what was done about each.
    pub leaks: Vec<RecordedLeak>,
}

/// One leak a wrapper found, said in the wrapper's words.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedLeak {
    /// The test that leaked it.
    pub test: Option<TestLabel>,
    /// What leaked.
    pub kind: LeakKind,
    /// The process.
    pub pid: Option<u32>,
    /// Its start time (clock ticks after boot): with the pid, names it for life.
    pub start_ticks: Option<u64>,
    /// Its main port.
    pub port: Option<u16>,
    /// The project it served, escaped for people and tokens masked.
    pub project: Option<String>,
    /// Its command line, escaped for people and tokens masked.
    pub command_line: Option<String>,
    /// What leaked, as the human report says it (`dashboard pid 42 on 127.0.0.1:9240, ...`).
    pub headline: String,
    /// What was done, as the human report says it (`reaped: SIGTERM to it, ...`).
    pub done: String,
    /// What was done, as a value.
    pub result: RecordedResult,
    /// From the first check to "stopped and port free", when it was stopped.
    pub elapsed_ms: Option<f64>,
    /// Whether it failed its test (an allowed survivor, or a kind the
    /// profile's `fail` does not name, did not).
    #[serde(default = "failed")]
    pub fails: bool,
    /// The leak as the wrapper's JSON report holds it (a `leaks[]` object of
    /// `schema/report-v1.json`), repeated as is in the run's JSON report.
    pub report: serde_json::Value,
}

/// What a wrapper did about a leak (the `result` of its JSON `action`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RecordedResult {
    /// Never touched.
    LeftAlone,
    /// Not stopped because of `--no-reap`.
    NotReaped,
    /// Stopped, its port confirmed free.
    Reaped,
    /// It had already exited.
    AlreadyGone,
    /// Stopping it failed: it may still run.
    Failed,
}

fn failed() -> bool {
    true
}
