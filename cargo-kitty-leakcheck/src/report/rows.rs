//! Each leak of a report as the renderers show it ([`LeakRow`]): one view
//! of a leak found now ([`Leak`]) and of one a `wrap` recorded
//! ([`RecordedLeak`], already in the wrapper's words), so that the JUnit
//! file, the job summary, the annotations and the human report say the same
//! thing about the same leaks. [`record`] makes a `wrap`'s [`Record`] from
//! the same view.

use std::time::Duration;

use kitty_core::mask_tokens;

use super::human::{action_text, headline, kind_name};
use super::visible::{visible, visible_path};
use crate::findings::records::{RECORD_SCHEMA_VERSION, Record, RecordedLeak, RecordedResult};
use crate::findings::run::{Action, Leak, LeakKind, ReportMode, RunFindings, TestLabel};

/// One leak, as every renderer shows it (text escaped and masked).
#[derive(Debug, Clone, PartialEq)]
pub struct LeakRow {
    /// What leaked.
    pub kind: LeakKind,
    /// The test that leaked it.
    pub test: Option<TestLabel>,
    /// The process.
    pub pid: Option<u32>,
    /// Its main port.
    pub port: Option<u16>,
    /// The project it served.
    pub project: Option<String>,
    /// Its command line.
    pub command_line: Option<String>,
    /// What leaked (`dashboard pid 42 on 127.0.0.1:9240, started by the run`).
    pub headline: String,
    /// What was done (`reaped: SIGTERM to it, ...`).
    pub done: String,
    /// What was done, as a value.
    pub result: RecordedResult,
    /// How long stopping it took (zero when it was not stopped).
    pub stop_time: Duration,
    /// Which mode found it: `wrap` for what a wrapper recorded.
    pub found_by: ReportMode,
    /// Whether it fails the run (an allowed survivor, or a kind the
    /// profile's `fail` does not name, is only reported).
    pub fails: bool,
}

impl LeakRow {
    /// A leak found by the mode `mode`.
    pub fn of_leak(leak: &Leak, mode: ReportMode) -> Self {
        let (result, stop_time) = match &leak.action {
            Action::Pending | Action::NotReaped { .. } => {
                (RecordedResult::NotReaped, Duration::ZERO)
            }
            Action::LeftAlone { .. } => (RecordedResult::LeftAlone, Duration::ZERO),
            Action::Reaped { stopped, .. } => (RecordedResult::Reaped, stopped.elapsed),
            Action::AlreadyGone { .. } => (RecordedResult::AlreadyGone, Duration::ZERO),
            Action::Failed { .. } => (RecordedResult::Failed, Duration::ZERO),
        };
        LeakRow {
            kind: leak.kind,
            test: leak.test.clone(),
            pid: leak.pid,
            port: leak.port,
            project: leak
                .project_dir
                .as_ref()
                .map(|d| mask_tokens(&visible_path(d))),
            command_line: leak.command_line.as_ref().map(|c| mask_tokens(&visible(c))),
            headline: mask_tokens(&headline(leak)),
            done: mask_tokens(&action_text(&leak.action)),
            result,
            stop_time,
            found_by: mode,
            fails: leak.fails,
        }
    }

    /// A leak a `wrap` recorded.
    pub fn of_recorded(leak: &RecordedLeak) -> Self {
        LeakRow {
            kind: leak.kind,
            test: leak.test.clone(),
            pid: leak.pid,
            port: leak.port,
            project: leak.project.clone(),
            command_line: leak.command_line.clone(),
            headline: leak.headline.clone(),
            done: leak.done.clone(),
            result: leak.result,
            stop_time: leak
                .elapsed_ms
                .filter(|ms| ms.is_finite() && *ms >= 0.0)
                .map(|ms| Duration::from_secs_f64(ms / 1000.0))
                .unwrap_or_default(),
            found_by: ReportMode::Wrap,
            fails: leak.fails,
        }
    }

    /// `dashboard`, `sync daemon`, `foreign listener`.
    pub fn what(&self) -> &'static str {
        kind_name(self.kind)
    }

    /// The file of its test, when its runner names one (pytest's node id
    /// `tests/x.py::test_y` names `tests/x.py`).
    pub fn file(&self) -> Option<&str> {
        let test = self.test.as_ref()?;
        if test.runner != crate::findings::run::Runner::Pytest {
            return None;
        }
        let name = test.name.as_deref()?;
        let path = name.split("::").next()?;
        (path.len() < name.len()).then_some(path)
    }
}

/// Every leak of `report`: those found now, then those its wrappers recorded.
pub fn rows(report: &RunFindings) -> Vec<LeakRow> {
    report
        .leaks
        .leaks
        .iter()
        .map(|l| LeakRow::of_leak(l, report.mode))
        .chain(report.recorded.iter().map(LeakRow::of_recorded))
        .collect()
}

/// The record a `wrap` leaves for the whole run; `None` when its test
/// leaked nothing.
pub fn record(report: &RunFindings) -> Option<Record> {
    if report.leaks.leaks.is_empty() {
        return None;
    }
    let leaks = report
        .leaks
        .leaks
        .iter()
        .map(|leak| {
            let row = LeakRow::of_leak(leak, report.mode);
            RecordedLeak {
                test: row.test,
                kind: row.kind,
                pid: row.pid,
                start_ticks: leak.identity.as_ref().map(|id| id.start_ticks()),
                port: row.port,
                project: row.project,
                command_line: row.command_line,
                headline: row.headline,
                done: row.done,
                result: row.result,
                elapsed_ms: (row.stop_time > Duration::ZERO)
                    .then_some(row.stop_time.as_secs_f64() * 1000.0),
                report: super::json::leak_value(leak, report.mode),
                fails: row.fails,
            }
        })
        .collect();
    Some(Record {
        schema_version: RECORD_SCHEMA_VERSION,
        test: report.leaks.leaks.iter().find_map(|l| l.test.clone()),
        exit_code: report.exit_code(),
        leaks,
    })
}
