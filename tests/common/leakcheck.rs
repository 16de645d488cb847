//! The `cargo-kitty-leakcheck` binary, as the tests run it, and its JSON report.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

use super::{show, target_dir};

/// `LEAKED` of `cargo-kitty-leakcheck` (see its exit_codes.rs).
pub const LEAKED: i32 = 3;
/// `USAGE`.
pub const USAGE: i32 = 2;

/// The built `cargo-kitty-leakcheck` binary (scripts/test-all builds it first).
pub fn leakcheck_bin() -> PathBuf {
    let p = target_dir().join("debug/cargo-kitty-leakcheck");
    assert!(
        p.is_file(),
        "{} is missing: run `cargo build -p cargo-kitty-leakcheck` (scripts/test-all does it)",
        p.display()
    );
    p
}

/// Removes from `c` what an outer nextest run (this suite's own) exported,
/// such as `NEXTEST_PROFILE`, `NEXTEST_TEST_NAME` or the suite's baseline, so
/// that the command sees only what the test gives it.
pub fn without_nextest_env(c: &mut Command) -> &mut Command {
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("NEXTEST")
            || k == "KITTY_LEAKCHECK_BASELINE"
            || k == kitty_fixtures::shared::RUN_LABEL_ENV
        {
            c.env_remove(k);
        }
    }
    c
}

/// `cargo-kitty-leakcheck` with none of the outer run's nextest variables,
/// no `KITTY_PORTS` (the ports are the test's to give), stdin on /dev/null.
pub fn leakcheck() -> Command {
    let mut c = Command::new(leakcheck_bin());
    without_nextest_env(&mut c)
        .env_remove("KITTY_PORTS")
        .stdin(Stdio::null());
    c
}

/// The JSON report on stdout: all of it (sweep prints it pretty), else its
/// last line (after COMMAND's own output). Its schema is version 1.
pub fn json_report(o: &Output) -> Value {
    let text = String::from_utf8_lossy(&o.stdout);
    let last = text
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default();
    let v: Value = serde_json::from_str(&text)
        .or_else(|_| serde_json::from_str(last))
        .unwrap_or_else(|e| panic!("no JSON report ({e}):\n{}", show(o)));
    assert_eq!(v["schema_version"], 1, "{v:#}");
    v
}
