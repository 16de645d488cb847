//! One leakcheck test's scene: a temp root for its projects, a fake HOME
//! inside it, and its own window of ports.

use std::path::{Path, PathBuf};

use kitty_core::PortSet;

use super::cleanup::stop_leftover;
use super::{assert_nothing_left, dashboards_under, root_and_home};

/// A temp root (canonical, so that it matches the project dirs spec-kitty
/// resolves) with a fake HOME (`<root>/home`), and a port window. Dropping it
/// stops any dashboard left under the root (only reached when an assertion
/// failed before [`Scene::assert_clean`]).
pub struct Scene {
    root: tempfile::TempDir,
    home: PathBuf,
    /// The window of ports the test watches.
    pub ports: &'static str,
}

impl Scene {
    pub fn new(prefix: &str, ports: &'static str) -> Scene {
        let (root, home) = root_and_home(prefix);
        let canonical = root.path().canonicalize().expect("canonical root");
        assert_eq!(
            canonical,
            root.path(),
            "the temp root must not sit behind a symlink"
        );
        Scene { root, home, ports }
    }

    /// The temp root.
    pub fn path(&self) -> &Path {
        self.root.path()
    }

    /// The fake HOME (see [`super::isolate_home`]).
    pub fn home(&self) -> &Path {
        &self.home
    }

    pub fn port_set(&self) -> PortSet {
        self.ports.parse().expect("ports")
    }

    /// The `i`th port of the window.
    pub fn port(&self, i: u16) -> u16 {
        self.port_set()
            .iter()
            .nth(usize::from(i))
            .expect("a port of the window")
    }

    /// The end of the test: nothing listens on the window and no dashboard
    /// serves a project under the root.
    pub fn assert_clean(&self) {
        assert_nothing_left(self.ports, self.path());
    }
}

impl Drop for Scene {
    fn drop(&mut self) {
        for d in dashboards_under(self.root.path()) {
            stop_leftover(&d.identity, d.command.port);
        }
    }
}
