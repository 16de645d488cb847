//! The default mode: snapshot, run COMMAND as a child subreaper, snapshot,
//! find the leaks, reap them; the result is [`RunFindings`].
//!
//! 1. Snapshot the listeners on the watched ports (netlink, no process scan).
//! 2. Become a child subreaper, so that everything the run orphans is
//!    re-parented to leakcheck and known to descend from it.
//! 3. Run COMMAND (default `cargo test`, or `$CARGO test` under cargo) with
//!    inherited stdio, a fresh run label in its environment
//!    ([`RUN_LABEL_ENV`]), in leakcheck's own process group (a terminal's
//!    Ctrl+C reaches it directly): [`run_command`].
//! 4. [`settle`]: the snapshot after, with `--grace` for listeners still
//!    closing, and [`detect_leaks`](super::detect::detect_leaks).
//! 5. [`reap_leaks`] (ticking the progress `main` shows).

use std::ffi::{OsStr, OsString};
use std::path::PathBuf;

use kitty_core::sys;
use kitty_core::{ListenerSnapshot, RUN_LABEL_ENV, new_run_label};

use super::command::{
    collect_exited_children, run_command, signal_during_cleanup, take_over_signals,
};
use super::detect::{Run, settle};
use super::nextest::merge_recorded;
use super::reap::{Tick, reap_leaks};
use crate::cli::{CommonArgs, RunArgs};
use crate::config::Policy;
use crate::errors::Error;
use crate::findings::run::{Leaks, Notice, ReportMode, RunFindings, Timing};
use crate::records::{self, ENCLOSING_RECORDS_ENV, RECORDS_ENV};

/// Runs the default mode. `notify` hears what happens while COMMAND runs;
/// `progress` makes the [`Tick`] for the stops.
pub fn run(
    common: &CommonArgs,
    policy: &Policy,
    args: &RunArgs,
    notify: &dyn Fn(Notice<'_>),
    progress: impl FnOnce(usize) -> Tick,
) -> Result<RunFindings, Error> {
    let argv = command_or_default(&args.command);
    let ports = &common.ports;
    let snapshot_error = |source| Error::ListenersOnPorts {
        ports: ports.clone(),
        source,
    };
    let clock = Timing::start();
    let inbox = take_over_signals()?;
    let before = ListenerSnapshot::take(ports).map_err(snapshot_error)?;
    sys::become_child_subreaper().map_err(Error::Subreaper)?;
    let label = new_run_label().map_err(Error::Label)?;
    let run_label = Some(label.to_string_lossy().into_owned());

    // The wrappers of a nextest run inside record what they find here
    // (`crate::records`); removed when the run ends, on every path.
    let records_dir = RecordsDir::make(&label)?;
    let finished = run_command(
        &argv,
        notify,
        &[
            (RUN_LABEL_ENV, label.as_os_str()),
            (RECORDS_ENV, records_dir.0.as_os_str()),
            (ENCLOSING_RECORDS_ENV, records_dir.0.as_os_str()),
        ],
        &inbox,
    )?;
    if finished.orphans_collected > 0 {
        notify(Notice::OrphansCollected(finished.orphans_collected));
    }
    let findings = |leaks, cleanup_interrupted_by| RunFindings {
        mode: ReportMode::Run,
        ports: ports.clone(),
        command: argv.clone(),
        command_status: Some(finished.status.clone()),
        interrupted_by: finished.forwarded,
        cleanup_interrupted_by,
        run_label: run_label.clone(),
        before: before.clone(),
        leaks,
        timing: clock.stop(),
        recorded: Vec::new(),
    };
    if !finished.status.started() {
        return Ok(findings(Leaks::default(), None));
    }

    let run = Run {
        root: std::process::id(),
        label: Some(label),
        mode: ReportMode::Run,
        policy: policy.clone(),
    };
    let mut leaks =
        settle(&before, ports, &run, args.grace).map_err(|source| Error::Unchecked {
            error: Box::new(snapshot_error(source)),
            command: finished.status.clone(),
        })?;
    let _ = collect_exited_children();
    let records = records::read_all(&records_dir.0).map_err(|e| Error::Unchecked {
        error: Box::new(e),
        command: finished.status.clone(),
    })?;
    let recorded = merge_recorded(&mut leaks, records);
    reap_leaks(&mut leaks, args.no_reap, progress);
    let _ = collect_exited_children();
    Ok(RunFindings {
        recorded,
        ..findings(leaks, signal_during_cleanup(&inbox))
    })
}

/// The run's records directory: `<temp dir>/kitty-leakcheck-<run label>`,
/// ours alone, removed with everything in it when dropped.
struct RecordsDir(PathBuf);

impl RecordsDir {
    fn make(label: &OsStr) -> Result<Self, Error> {
        let mut name = OsString::from("kitty-leakcheck-");
        name.push(label);
        let dir = std::env::temp_dir().join(name);
        records::prepare(&dir, true)?;
        Ok(RecordsDir(dir))
    }
}

impl Drop for RecordsDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// COMMAND, or `cargo test` (`$CARGO test` when cargo runs us) when none was given.
pub fn command_or_default(command: &[OsString]) -> Vec<OsString> {
    if command.is_empty() {
        vec![
            std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()),
            "test".into(),
        ]
    } else {
        command.to_vec()
    }
}
