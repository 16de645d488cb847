//! A demo suite: two tests written with kitty-fixtures (clean) and one written
//! the old way (it leaks a real spec-kitty dashboard ON PURPOSE, to show
//! `cargo kitty-leakcheck` catching, reporting and reaping it).

use std::process::Command;

use kitty_fixtures::{kitty_project, kitty_served_project, KittyProject, ServedProject};
use rstest::rstest;

/// Clean: the fixture stops the dashboard before deleting the project.
#[rstest]
fn dashboard_serves_the_project(kitty_project: KittyProject) {
    let dashboard = kitty_project.start_dashboard().expect("dashboard starts");
    assert!(dashboard.url().starts_with("http://127.0.0.1:"));
    assert_eq!(kitty_project.dashboards().len(), 1);
}

/// Clean: a project with a running dashboard, straight from a fixture.
#[rstest]
fn served_project_has_a_dashboard_file(kitty_served_project: ServedProject) {
    assert!(kitty_served_project.path().join(".kittify/.dashboard").is_file());
}

/// LEAKS ON PURPOSE: starts `spec-kitty dashboard` in a plain TempDir and lets
/// the TempDir go. The dashboard runs in its own session with its output in a
/// log file, so nothing in `cargo test` notices; it would hold its port forever.
#[test]
fn leaks_a_dashboard_on_purpose() {
    let project = tempfile::tempdir().expect("temp dir");
    let home = tempfile::tempdir().expect("temp home");
    std::fs::create_dir(project.path().join(".kittify")).expect(".kittify");
    let spec_kitty = std::env::var_os("KITTY_SPEC_KITTY").unwrap_or_else(|| "spec-kitty".into());
    let status = Command::new(spec_kitty)
        .arg("dashboard")
        .current_dir(project.path())
        .env("HOME", home.path())
        .env("SPEC_KITTY_HOME", home.path().join(".spec-kitty"))
        .status()
        .expect("spec-kitty runs");
    assert!(status.success());
} // the TempDirs are deleted here; the dashboard is not stopped
