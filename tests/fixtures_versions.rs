//! Every spec-kitty release family works (their child command lines differ):
//! 0.5.x-3.2.6 (`-c` script), 3.2.7 (`-m`, positional), 4.0.0rc1-rc4 (`-m`,
//! argparse flags), and 4.0.0rc5+ (no dashboard: a clear error at once, the
//! rest of the CLI still usable). The version comes from `KITTY_SPEC_KITTY`
//! (`scripts/spec-kitty-env VERSION` prints its path); scripts/test-all runs
//! the whole suite with 3.2.7 and 4.0.0rc4 and these tests with each pinned
//! release. Every other fixtures_* test runs with whichever is selected;
//! these check the version-specific parts.
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

/// The version `spec-kitty --version` prints (`3.2.7`, `4.0.0rc4`).
fn version() -> String {
    let sk = common::spec_kitty();
    let out = std::process::Command::new(&sk)
        .arg("--version")
        .output()
        .expect("spec-kitty --version");
    let text = String::from_utf8_lossy(&out.stdout);
    let v = text
        .split_whitespace()
        .last()
        .unwrap_or_default()
        .to_string();
    assert!(
        out.status.success() && !v.is_empty(),
        "odd `spec-kitty --version`: {text:?}"
    );
    v
}

/// The form this version's `spec-kitty dashboard` uses for its child, or
/// `None` for a release without a dashboard.
fn expected_form(v: &str) -> Option<CommandForm> {
    let (nums, pre) = v.split_at(
        v.find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(v.len()),
    );
    let n: Vec<u32> = nums.split('.').filter_map(|p| p.parse().ok()).collect();
    let rc: Option<u32> = pre.strip_prefix("rc").and_then(|r| r.parse().ok());
    match (n.as_slice(), rc) {
        ([0, ..], None) => Some(CommandForm::Script),
        ([3, 2, p, ..], None) if *p <= 6 => Some(CommandForm::Script),
        ([3, 2, p], None) if *p >= 7 => Some(CommandForm::Module),
        ([4, 0, 0], Some(1..=4)) => Some(CommandForm::ModuleFlags),
        ([4, 0, 0], Some(5..)) => None,
        _ => panic!("spec-kitty {v} is not a release family this test knows: extend it"),
    }
}

/// With a release that has no dashboard: `start_dashboard()` fails at once
/// with an error naming the version and 4.0.0rc5, nothing is spawned or
/// left, and the rest of the CLI works.
fn no_dashboard_is_a_clear_error_at_once(v: &str) {
    let ours = project();
    // The first call: locating spec-kitty and reading its release included.
    let asked = std::time::Instant::now();
    let err = ours.start_dashboard().expect_err("no dashboard to start");
    let took = asked.elapsed();
    let sk = ours.installation().expect("installation");
    assert_eq!(
        (sk.release.version.as_deref(), sk.release.dashboard),
        (Some(v), None)
    );
    let text = err.to_string();
    assert!(
        matches!(err, kitty_fixtures::Error::NoDashboard { .. }),
        "{err:?}"
    );
    assert!(text.contains(v) && text.contains("4.0.0rc5"), "{text}");
    eprintln!("spec-kitty {v}: start_dashboard() failed after {took:?}: {text}");
    assert!(ours.dashboards().is_empty());
    common::assert_no_dashboard_under(ours.path());
    let out = ours
        .spec_kitty(["--version"])
        .output()
        .expect("spec-kitty --version");
    assert!(out.status.success(), "the CLI still runs: {out:?}");
}

#[test]
fn our_child_uses_the_same_command_form_as_the_installed_spec_kitty() {
    common::export_spec_kitty();
    let v = version();
    let Some(form) = expected_form(&v) else {
        return no_dashboard_is_a_clear_error_at_once(&v);
    };
    eprintln!("spec-kitty {v}: {form:?}");
    let mut cleanup = Cleanup::new();

    let ours = project();
    let sk = ours.installation().expect("installation");
    assert_eq!(
        (sk.release.version.as_deref(), sk.release.dashboard),
        (Some(v.as_str()), Some(form))
    );
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
    if expected_form(&version()).is_none() {
        // No dashboard command at all (spec-kitty #5530): nothing to reuse.
        let project = project();
        let out = project
            .spec_kitty(["dashboard"])
            .output()
            .expect("spec-kitty");
        assert!(
            !out.status.success(),
            "a release without a dashboard ran `dashboard`: {out:?}"
        );
        common::assert_no_dashboard_under(project.path());
        return;
    }
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
    if expected_form(&version()).is_none() {
        let err = project.start_dashboard().expect_err("no dashboard");
        assert!(
            matches!(err, kitty_fixtures::Error::NoDashboard { .. }),
            "{err:?}"
        );
        return;
    }
    let d = project
        .start_dashboard()
        .expect("dashboard of an initialised project");
    let id = cleanup.dashboard(&d);
    drop_and_assert_stopped(project, &[(&id, d.port())]);
}
