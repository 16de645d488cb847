//! The unit tests' temporary directory (this crate has no tempfile
//! dependency): one helper, for every module's tests.

use std::path::{Path, PathBuf};

/// A fresh directory under the system's temporary one, named after the
/// test and this process, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    /// `<tmp>/kitty-leakcheck-test-<name>-<pid>`, empty.
    pub fn new(name: &str) -> Self {
        let p = std::env::temp_dir().join(format!(
            "kitty-leakcheck-test-{name}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("temp dir");
        TempDir(p)
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
