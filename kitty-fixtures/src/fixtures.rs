//! rstest fixtures (feature `rstest`, on by default). Thin on purpose: the
//! logic lives in [`KittyProject`].

use rstest::fixture;

use crate::dashboard::Dashboard;
use crate::project::KittyProject;

/// A fresh [`KittyProject`] with default options (a scaffold, no Python).
/// Panics with the error (never a token) when it cannot be made.
///
/// ```no_run
/// use kitty_fixtures::{kitty_project, KittyProject};
/// use rstest::rstest;
///
/// #[rstest]
/// fn has_a_kittify_dir(kitty_project: KittyProject) {
///     assert!(kitty_project.path().join(".kittify").is_dir());
/// }
/// ```
#[fixture]
pub fn kitty_project() -> KittyProject {
    KittyProject::new().unwrap_or_else(|e| panic!("kitty_project: {e}"))
}

/// A [`KittyProject`] whose dashboard is already running and healthy.
///
/// ```no_run
/// use kitty_fixtures::{kitty_served_project, ServedProject};
/// use rstest::rstest;
///
/// #[rstest]
/// fn answers_health(kitty_served_project: ServedProject) {
///     let url = format!("{}/api/health", kitty_served_project.dashboard.url());
///     # let _ = url;
/// }
/// ```
#[fixture]
pub fn kitty_served_project(kitty_project: KittyProject) -> ServedProject {
    let dashboard = kitty_project
        .start_dashboard()
        .unwrap_or_else(|e| panic!("kitty_served_project: {e}"));
    ServedProject {
        project: kitty_project,
        dashboard,
    }
}

/// A project and the dashboard serving it, as [`kitty_served_project`] yields
/// them. Derefs to the project; dropping it stops the dashboard.
#[derive(Debug)]
pub struct ServedProject {
    /// The project.
    pub project: KittyProject,
    /// Its running dashboard.
    pub dashboard: Dashboard,
}

impl std::ops::Deref for ServedProject {
    type Target = KittyProject;
    fn deref(&self) -> &KittyProject {
        &self.project
    }
}
