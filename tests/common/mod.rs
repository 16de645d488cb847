//! Shared helpers of the end-to-end tests. Tests that need spec-kitty FAIL
//! when it is missing (never skip): run `scripts/spec-kitty-env` or
//! `scripts/test-all`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The target directory the workspace builds into.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|p| if p.is_absolute() { p } else { workspace_root().join(p) })
        .unwrap_or_else(|| workspace_root().join("target"))
}

/// The `spec-kitty` executable: `KITTY_SPEC_KITTY`, else `spec-kitty` on `PATH`,
/// else the project's own venv for 3.2.7. Panics (fails the test) when none exists.
pub fn spec_kitty() -> PathBuf {
    if let Some(p) = std::env::var_os("KITTY_SPEC_KITTY") {
        let p = PathBuf::from(p);
        assert!(p.is_file(), "KITTY_SPEC_KITTY={} does not exist; run scripts/spec-kitty-env", p.display());
        return p;
    }
    if let Some(p) = std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|d| d.join("spec-kitty"))
        .find(|p| p.is_file())
    {
        return p;
    }
    let venv = target_dir().join("spec-kitty/3.2.7/bin/spec-kitty");
    assert!(
        venv.is_file(),
        "spec-kitty is not installed: set KITTY_SPEC_KITTY or put spec-kitty on PATH; \
         install the pinned one with `scripts/spec-kitty-env` (scripts/test-all does it)"
    );
    venv
}

/// Sets `KITTY_SPEC_KITTY` for this process when it is not set, so that the
/// fixtures find the same spec-kitty as [`spec_kitty`].
pub fn export_spec_kitty() -> PathBuf {
    let p = spec_kitty();
    if std::env::var_os("KITTY_SPEC_KITTY").is_none() {
        // SAFETY: called before any test thread reads the environment concurrently
        // is not guaranteed in general; tests call it first thing, and the value is
        // the same in every thread.
        unsafe { std::env::set_var("KITTY_SPEC_KITTY", &p) };
    }
    p
}

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

/// A small standalone crate made for one test, depending on this workspace's
/// `kitty-fixtures` by path. It builds offline with the workspace's lock file,
/// into one shared target dir so the dependencies compile once.
pub struct MiniCrate {
    pub dir: tempfile::TempDir,
}

impl MiniCrate {
    /// Writes `tests/it.rs` with `test_source` (and any extra dev-dependency lines).
    pub fn new(name: &str, test_source: &str) -> MiniCrate {
        let dir = tempfile::Builder::new().prefix("kitty-mini-").tempdir().expect("temp dir");
        let root = workspace_root();
        let manifest = format!(
            r#"[package]
name = "{name}"
version = "0.0.0"
edition = "2024"
publish = false

[workspace]

[dev-dependencies]
kitty-fixtures = {{ path = "{fixtures}" }}
rstest = {{ version = "0.29", default-features = false }}
tempfile = "3"
"#,
            fixtures = root.join("kitty-fixtures").display()
        );
        std::fs::write(dir.path().join("Cargo.toml"), manifest).expect("manifest");
        std::fs::copy(root.join("Cargo.lock"), dir.path().join("Cargo.lock")).expect("lock");
        std::fs::create_dir_all(dir.path().join("src")).expect("src");
        std::fs::write(dir.path().join("src/lib.rs"), "").expect("lib");
        std::fs::create_dir_all(dir.path().join("tests")).expect("tests");
        std::fs::write(dir.path().join("tests/it.rs"), test_source).expect("it.rs");
        MiniCrate { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The target dir all mini crates share.
    pub fn shared_target() -> PathBuf {
        target_dir().join("e2e-mini")
    }

    /// `cargo <args>` in the crate, offline, with the shared target dir and
    /// `KITTY_SPEC_KITTY` set.
    pub fn cargo(&self, args: &[&str]) -> Command {
        let mut c = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
        c.args(args)
            .arg("--offline")
            .current_dir(self.path())
            .env("CARGO_TARGET_DIR", Self::shared_target())
            .env("KITTY_SPEC_KITTY", spec_kitty())
            .env_remove("NEXTEST_ENV")
            .env_remove("CARGO_MAKEFLAGS");
        c
    }
}

/// Every live dashboard process whose project dir lies under `root`.
pub fn dashboards_under(root: &Path) -> Vec<kitty_fixtures::probe::FoundDashboard> {
    kitty_fixtures::probe::find_dashboard_processes()
        .into_iter()
        .filter(|d| d.command.project_dir.starts_with(root))
        .collect()
}

/// Fails the test if any dashboard serving a project under `root` is alive.
pub fn assert_no_dashboard_under(root: &Path) {
    let left = dashboards_under(root);
    assert!(left.is_empty(), "dashboards left behind under {}: {left:#?}", root.display());
}
