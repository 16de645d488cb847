//! What a [`KittyProject`](crate::KittyProject) hands out about its
//! dashboards: [`Dashboard`], and the [`StopReport`] of stopping them.

use std::path::{Path, PathBuf};
use std::time::Duration;

#[cfg(doc)]
use crate::KittyProject;
use kitty_core::{Stopped, Token};

/// Where a [`Dashboard`] came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Origin {
    /// [`KittyProject::start_dashboard`] started it (a direct child).
    Started,
    /// Something else started it (`spec-kitty dashboard`, `spec-kitty init`);
    /// the project found it by its command line or `.kittify/.dashboard`.
    Adopted,
}

/// A running dashboard serving a [`KittyProject`]. `Debug` masks the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dashboard {
    port: u16,
    pid: u32,
    url: String,
    token: Option<Token>,
    project_dir: PathBuf,
    origin: Origin,
}

impl Dashboard {
    pub(crate) fn new(
        port: u16,
        pid: u32,
        token: Option<Token>,
        project_dir: &Path,
        origin: Origin,
    ) -> Self {
        Dashboard {
            port,
            pid,
            url: format!("http://127.0.0.1:{port}"),
            token,
            project_dir: project_dir.to_path_buf(),
            origin,
        }
    }

    /// The port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }
    /// Its process id (it leads its own process group).
    pub fn pid(&self) -> u32 {
        self.pid
    }
    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> &str {
        &self.url
    }
    /// The token the API wants for `/api/shutdown`. Never print or log it.
    /// Empty for an adopted dashboard started without one.
    pub fn token(&self) -> &str {
        self.token.as_ref().map_or("", Token::expose)
    }
    /// The project it serves.
    pub fn project_dir(&self) -> &Path {
        &self.project_dir
    }
    /// Whether the project started it or adopted it.
    pub fn origin(&self) -> Origin {
        self.origin
    }
}

/// One dashboard [`KittyProject::stop_dashboards`] stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoppedDashboard {
    /// How it was stopped: its pid, the last signal (`None` when it had
    /// already exited), whether SIGKILL followed SIGTERM, how long it took.
    pub stop: Stopped,
    /// Its port.
    pub port: Option<u16>,
    /// Started here or adopted.
    pub origin: Origin,
}

/// What [`KittyProject::stop_dashboards`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StopReport {
    /// Each dashboard stopped.
    pub stopped: Vec<StoppedDashboard>,
    /// Whether `.kittify/.dashboard` was there when the stop began and is gone
    /// now (removed with the dashboard it named, or as a stale file).
    pub removed_dashboard_file: bool,
    /// The whole stop.
    pub elapsed: Duration,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_of_a_dashboard_masks_the_token() {
        let token = Token::new("0123456789abcdef0123456789abcdef");
        let d = Dashboard::new(9237, 1, Some(token), Path::new("/p"), Origin::Started);
        assert!(!format!("{d:?}").contains("0123456789abcdef"));
        assert_eq!(d.url(), "http://127.0.0.1:9237");
    }
}
