//! Venvs whose `python3` is a FAKE interpreter from `tests/fakes/` (see its
//! README): for start-up faults the real dashboard cannot show.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use kitty_core::ProcessIdentity;

use super::cleanup::stop_leftover;
use super::{temp_root, workspace_root};

/// A temp venv whose `bin/python3` is `tests/fakes/<fake>` (with `@PIDFILE@`
/// and the given placeholders filled in) and whose `bin/spec-kitty` names it
/// in its shebang. Dropping it stops whatever the fake ran that is still
/// alive and ours (it carries this process's pid in `KITTY_FIXTURES_OWNER`,
/// which kitty-fixtures sets on every dashboard): what a failing test left.
pub struct FakeVenv {
    dir: tempfile::TempDir,
}

impl FakeVenv {
    /// The fake `fake`, with `@NAME@` replaced by each `(NAME, value)`.
    pub fn new(fake: &str, fill: &[(&str, String)]) -> FakeVenv {
        let dir = temp_root("kitty-e2e-fake-venv-");
        let bin = dir.path().join("bin");
        std::fs::create_dir_all(&bin).expect("bin");
        let source = workspace_root().join("tests/fakes").join(fake);
        let mut text = std::fs::read_to_string(&source)
            .expect("fake script")
            .replace("@PIDFILE@", &dir.path().join("pids").display().to_string());
        for (name, value) in fill {
            text = text.replace(&format!("@{name}@"), value);
        }
        let python = bin.join("python3");
        std::fs::write(&python, text).expect("write python3");
        make_executable(&python);
        let exe = bin.join("spec-kitty");
        std::fs::write(
            &exe,
            format!("#!{}\n# fake spec-kitty console script\n", python.display()),
        )
        .expect("spec-kitty");
        make_executable(&exe);
        FakeVenv { dir }
    }

    /// Links the real venv's `lib/` in, so that kitty-fixtures finds the
    /// release's command form next to the fake.
    pub fn with_lib_of(self, real_python: &Path) -> FakeVenv {
        std::os::unix::fs::symlink(
            venv_of(real_python).join("lib"),
            self.dir.path().join("lib"),
        )
        .expect("symlink lib/");
        self
    }

    /// Its `spec-kitty`.
    pub fn spec_kitty(&self) -> PathBuf {
        self.dir.path().join("bin/spec-kitty")
    }

    /// Every pid the fake recorded: itself, then what it forked.
    pub fn pids(&self) -> Vec<u32> {
        std::fs::read_to_string(self.dir.path().join("pids"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect()
    }
}

impl Drop for FakeVenv {
    fn drop(&mut self) {
        let me = std::process::id().to_string();
        for pid in self.pids() {
            let Some(id) = ProcessIdentity::read(pid) else {
                continue;
            };
            if id.env_var(kitty_fixtures::OWNER_ENV).as_deref() == Some(std::ffi::OsStr::new(&me)) {
                stop_leftover(&id, None);
            }
        }
    }
}

/// The venv of `<venv>/bin/python`.
pub fn venv_of(python: &Path) -> PathBuf {
    python
        .parent()
        .and_then(Path::parent)
        .expect("<venv>/bin/python")
        .to_path_buf()
}

/// `chmod 755`.
pub fn make_executable(path: &Path) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}
