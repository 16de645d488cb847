//! Small standalone crates made for one test.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::{spec_kitty, target_dir, temp_root, workspace_root};

/// A small standalone crate made for one test, depending on this workspace's
/// `kitty-fixtures` (and `kitty-core`, for a look at the listeners) by path. It builds offline with the workspace's lock file,
/// into one shared target dir so the dependencies compile once.
pub struct MiniCrate {
    pub dir: tempfile::TempDir,
}

impl MiniCrate {
    /// Writes `tests/it.rs` with `test_source`.
    pub fn new(name: &str, test_source: &str) -> MiniCrate {
        let dir = temp_root("kitty-mini-");
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
kitty-core = {{ path = "{core}" }}
rstest = {{ version = "0.29", default-features = false }}
tempfile = "3"
"#,
            fixtures = root.join("kitty-fixtures").display(),
            core = root.join("kitty-core").display()
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

    /// Makes `c` (cargo, or a tool that runs cargo) work in the crate: run in
    /// it, with the shared target dir and `KITTY_SPEC_KITTY` set, and none of
    /// the outer cargo's jobserver or nextest's env file.
    pub fn setup<'a>(&self, c: &'a mut Command) -> &'a mut Command {
        c.current_dir(self.path())
            .env("CARGO_TARGET_DIR", Self::shared_target())
            .env("KITTY_SPEC_KITTY", spec_kitty())
            .env_remove("NEXTEST_ENV")
            .env_remove("CARGO_MAKEFLAGS")
    }

    /// `cargo <args> --offline` in the crate (see [`MiniCrate::setup`]).
    pub fn cargo(&self, args: &[&str]) -> Command {
        let mut c = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
        c.args(args).arg("--offline");
        self.setup(&mut c);
        c
    }
}
