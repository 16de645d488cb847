//! nextest integration: `wrap` (per-test wrapper script), `snapshot` (setup script), `check`.

use crate::cli::{CheckArgs, CommonArgs, SnapshotArgs, WrapArgs};

/// `wrap -- <test-binary> <args...>`.
pub fn wrap(_common: &CommonArgs, _args: &WrapArgs) -> anyhow::Result<i32> {
    anyhow::bail!("not written yet")
}

/// `snapshot`.
pub fn snapshot(_common: &CommonArgs, _args: &SnapshotArgs) -> anyhow::Result<i32> {
    anyhow::bail!("not written yet")
}

/// `check --baseline FILE`.
pub fn check(_common: &CommonArgs, _args: &CheckArgs) -> anyhow::Result<i32> {
    anyhow::bail!("not written yet")
}
