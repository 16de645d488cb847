//! The default mode: snapshot, run COMMAND as a child subreaper, snapshot,
//! find the leaks, stop them; the result is a [`Report`].
//!
//! 1. Snapshot the listeners on the watched ports (netlink, no process scan).
//! 2. Become a child subreaper, so that everything the run orphans is
//!    re-parented to leakcheck and known to descend from it.
//! 3. Run COMMAND (default `cargo test`, or `$CARGO test` under cargo) with
//!    inherited stdio, a fresh run label in its environment
//!    ([`RUN_LABEL_ENV`]), in leakcheck's own process group (a terminal's
//!    Ctrl+C reaches it directly): [`run_command`].
//! 4. [`settle`]: the snapshot after, with `--grace` for listeners still
//!    closing, and [`find_leaks`](crate::leaks::find_leaks).
//! 5. [`stop_leaks_showing`] (a progress bar on a terminal when there are many).

use std::ffi::OsString;
use std::io;

use kitty_core::PortSet;
use kitty_core::sys;
use kitty_core::{ListenerSnapshot, RUN_LABEL_ENV, new_run_label};

use crate::cli::{CommonArgs, RunArgs};
use crate::command::{
    CommandError, reap_exited_children, run_command, signal_during_cleanup, take_over_signals,
};
use crate::leaks::{Mode, Run, settle};
use crate::report::progress::Progress;
use crate::report::{Report, ReportMode};
use crate::stop_leaks::stop_leaks_showing;

/// leakcheck's own failures (not COMMAND's).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The listeners could not be read (netlink sock_diag).
    #[error("cannot read the TCP listeners on ports {ports}: {source}")]
    Snapshot {
        /// The watched ports.
        ports: PortSet,
        /// The cause.
        source: io::Error,
    },
    /// `PR_SET_CHILD_SUBREAPER` failed.
    #[error("cannot become a child subreaper: {0}")]
    Subreaper(io::Error),
    /// No run label could be made (the kernel's random bytes).
    #[error("cannot make a run label: {0}")]
    Label(io::Error),
    /// Running COMMAND failed.
    #[error(transparent)]
    Command(#[from] CommandError),
    /// The listeners after the run could not be read: nothing could be
    /// checked. The report says how COMMAND ended.
    #[error("{error}")]
    After {
        /// What went wrong.
        error: Box<RunError>,
        /// How far the run got.
        report: Box<Report>,
    },
}

/// Runs the default mode.
pub fn run(common: &CommonArgs, args: &RunArgs) -> Result<Report, RunError> {
    let argv = command_or_default(&args.command);
    let ports = &common.ports;
    let snapshot_error = |source| RunError::Snapshot {
        ports: ports.clone(),
        source,
    };
    let inbox = take_over_signals()?;
    let before = ListenerSnapshot::take(ports).map_err(snapshot_error)?;
    sys::become_child_subreaper().map_err(RunError::Subreaper)?;
    let label = new_run_label().map_err(RunError::Label)?;

    let mut report = Report::new(ReportMode::Run, ports);
    report.command = argv.clone();
    report.before = before;
    report.run_label = Some(label.to_string_lossy().into_owned());
    let finished = run_command(
        &argv,
        common.is_verbose(),
        &[(RUN_LABEL_ENV, label.as_os_str())],
        &inbox,
    )?;
    report.command_status = Some(finished.status.clone());
    report.interrupted_by = finished.forwarded;
    if common.is_verbose() && finished.orphans_reaped > 0 {
        eprintln!(
            "kitty-leakcheck: reaped {} exited orphan(s) of the run",
            finished.orphans_reaped
        );
    }
    if !finished.status.started() {
        return Ok(report);
    }

    let run = Run {
        root: std::process::id(),
        label: Some(label),
        mode: Mode::Run,
    };
    report.leaks = match settle(&report.before, ports, &run, args.grace) {
        Ok(leaks) => leaks,
        Err(source) => {
            return Err(RunError::After {
                error: Box::new(snapshot_error(source)),
                report: Box::new(report),
            });
        }
    };
    let _ = reap_exited_children();
    let quiet = common.verbosity() < 0;
    stop_leaks_showing(&mut report.leaks, args.no_reap, |n| {
        Progress::new("stopping leaked dashboards", n, quiet)
    });
    let _ = reap_exited_children();
    report.cleanup_interrupted_by = signal_during_cleanup(&inbox);
    Ok(report)
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
