//! The default mode: snapshot, run COMMAND as a child subreaper, snapshot, diff, report, reap.

use crate::cli::{CommonArgs, RunArgs};

/// Runs the default mode; returns the exit status.
pub fn run(_common: &CommonArgs, _args: &RunArgs) -> anyhow::Result<i32> {
    anyhow::bail!("not written yet")
}
