//! Guarantee 6 of issue 3: both spec-kitty 3.2.7 and 0.5.3 work (their child
//! command lines differ). The version comes from `KITTY_SPEC_KITTY`
//! (`scripts/spec-kitty-env [3.2.7|0.5.3]` prints its path); scripts/test-all
//! runs the whole suite once with each. Every other fixtures_* test runs with
//! whichever is selected; these check the version-specific parts.
//!
//! Ports: 9504-9509 (see tests/common): 9504-9505 reserved by projects,
//! 9506 taken by the CLI with `--port`, 9508-9509 for the `init` project.

mod common;

use common::cleanup::*;
use common::*;
use kitty_core::spec_kitty::{CommandForm, DashboardCommand, DashboardFile};
use kitty_fixtures::{KittyProject, Origin};

fn project() -> KittyProject {
    project_on("9504-9505")
}

/// `(major, minor, patch)` from `spec-kitty --version`.
fn version() -> (u32, u32, u32) {
    let sk = common::spec_kitty();
    let out = std::process::Command::new(&sk)
        .arg("--version")
        .output()
        .expect("spec-kitty --version");
    let text = String::from_utf8_lossy(&out.stdout);
    let v = text.split_whitespace().last().unwrap_or_default();
    let parts: Vec<u32> = v.split('.').filter_map(|p| p.parse().ok()).collect();
    assert!(
        out.status.success() && parts.len() == 3,
        "odd `spec-kitty --version`: {text:?}"
    );
    (parts[0], parts[1], parts[2])
}

/// The form this version's `spec-kitty dashboard` uses for its child.
fn expected_form((major, minor, patch): (u32, u32, u32)) -> CommandForm {
    match (major, minor, patch) {
        (3, 2, p) if p >= 7 => CommandForm::Module,
        (0, _, _) => CommandForm::Script,
        v => panic!("spec-kitty {v:?} is neither 3.2.7+ nor 0.x: extend this test"),
    }
}

#[test]
fn our_child_uses_the_same_command_form_as_the_installed_spec_kitty() {
    common::export_spec_kitty();
    let v = version();
    let form = expected_form(v);
    eprintln!("spec-kitty {v:?}: {form:?}");
    let mut cleanup = Cleanup::new();

    let ours = project();
    assert_eq!(ours.installation().expect("installation").form, form);
    let d = ours.start_dashboard().expect("dashboard");
    let id = cleanup.dashboard(&d);
    let cmd = DashboardCommand::parse(id.argv()).expect("our child is recognised as a dashboard");
    assert_eq!(
        (cmd.form, cmd.port, cmd.project_dir.as_path()),
        (form, Some(d.port()), ours.path())
    );
    assert!(
        cmd.token() == Some(d.token()),
        "the command line carries our token"
    );

    // spec-kitty's own child, for another project, has the same form.
    let theirs = project();
    let (found, _) = cleanup.dashboard_cli(
        &mut theirs.spec_kitty(["dashboard", "--port", "9506"]),
        theirs.path(),
    );
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(
        found[0].command.form, form,
        "spec-kitty's own child uses another form than ours"
    );

    let (dirs, ports) = (
        [ours.path().to_path_buf(), theirs.path().to_path_buf()],
        [d.port(), found[0].command.port.expect("port")],
    );
    drop(ours);
    drop(theirs);
    assert!(!id.is_still_alive() && !found[0].identity.is_still_alive());
    for (dir, port) in dirs.iter().zip(ports) {
        assert!(port_free(port), "{port}");
        common::assert_no_dashboard_under(dir);
    }
}

#[test]
fn spec_kitty_reuses_the_dashboard_our_dashboard_file_names() {
    common::export_spec_kitty();
    let mut cleanup = Cleanup::new();
    let project = project();
    let d = project.start_dashboard().expect("dashboard");
    let id = cleanup.dashboard(&d);
    let file = DashboardFile::read(project.path())
        .expect("readable")
        .expect("written");
    assert_eq!(
        (file.url.as_str(), file.port, file.token(), file.pid),
        (d.url(), Some(d.port()), Some(d.token()), Some(d.pid()))
    );

    // spec-kitty reads our four-line file, checks health with our token, and
    // reuses our dashboard instead of starting a second one.
    let (_, out) = cleanup.dashboard_cli(&mut project.spec_kitty(["dashboard"]), project.path());
    assert!(
        out.contains(&format!("http://127.0.0.1:{}", d.port())),
        "{out}"
    );
    let listed: Vec<(u32, Origin)> = project
        .dashboards()
        .iter()
        .map(|x| (x.pid(), x.origin()))
        .collect();
    assert_eq!(
        listed,
        vec![(d.pid(), Origin::Started)],
        "spec-kitty started a second dashboard:\n{out}"
    );
    assert_serves(d.port(), project.path());
    drop_and_assert_stopped(project, &[(&id, d.port())]);
}

/// `builder().init(true)` runs the real `spec-kitty init` with this version's
/// flags; the project can serve a dashboard, and whatever `init` itself
/// started (0.x starts a detached dashboard from `init`: the original bug)
/// is adopted and stopped on drop.
#[test]
fn a_real_spec_kitty_init_project_serves_and_leaves_nothing() {
    common::export_spec_kitty();
    let mut cleanup = Cleanup::new();
    let project = KittyProject::builder()
        .init(true)
        .ports("9508-9509".parse().expect("ports"))
        .build()
        .expect("spec-kitty init");
    let kittify = project.path().join(".kittify");
    assert!(
        kittify.join("memory").is_dir(),
        "init wrote more than the scaffold: {:?}",
        std::fs::read_dir(&kittify).map(|d| d.count())
    );
    for adopted in project.dashboards() {
        assert_eq!(adopted.origin(), Origin::Adopted);
        cleanup.dashboard(&adopted);
    }
    let d = project
        .start_dashboard()
        .expect("dashboard of an initialised project");
    let id = cleanup.dashboard(&d);
    drop_and_assert_stopped(project, &[(&id, d.port())]);
}
