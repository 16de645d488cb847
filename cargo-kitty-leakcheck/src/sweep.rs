//! `sweep`: clean a machine that already leaked.

use crate::cli::{CommonArgs, SweepArgs};

/// `sweep`.
pub fn sweep(_common: &CommonArgs, _args: &SweepArgs) -> anyhow::Result<i32> {
    anyhow::bail!("not written yet")
}
