//! Which spec-kitty is installed: its version and its release family, read
//! from the installation on disk (starting Python to ask costs about 50 ms).

use std::path::{Path, PathBuf};

use super::CommandForm;

/// The part of `_server_main.py` that tells the 4.0.0rc1-rc4 module apart
/// from 3.2.7's: its argparse flags.
const FLAGS_MARK: &[u8] = b"--project-dir";
/// How much of `_server_main.py` is read to tell (it is about 2 KiB).
const SERVER_MAIN_LIMIT: u64 = 256 << 10;

/// One installed spec-kitty release, as far as this crate cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    /// Its version (`spec_kitty_cli-<version>.dist-info`), when the
    /// installation says.
    pub version: Option<String>,
    /// The command line its `spec-kitty dashboard` starts the server with;
    /// `None` when it has no bundled dashboard (4.0.0rc5 and later).
    pub dashboard: Option<CommandForm>,
}

impl Release {
    /// The release installed beside the interpreter `python` (in its venv or
    /// prefix: `lib/python*/site-packages`).
    ///
    /// - `specify_cli/dashboard/_server_main.py` that takes `--project-dir`:
    ///   [`CommandForm::ModuleFlags`] (4.0.0rc1-rc4); without it:
    ///   [`CommandForm::Module`] (3.2.7);
    /// - no such module but `specify_cli/dashboard/server.py`:
    ///   [`CommandForm::Script`] (0.5.x to 3.2.6);
    /// - no `specify_cli/dashboard` at all: no dashboard (4.0.0rc5 and later).
    ///
    /// An installation that cannot be read says [`CommandForm::Script`], as
    /// the oldest releases did before there was anything to look for.
    pub fn of_installation(python: &Path) -> Release {
        let Some(site) = site_packages(python) else {
            return Release {
                version: None,
                dashboard: Some(CommandForm::Script),
            };
        };
        let dashboard = site.join("specify_cli/dashboard");
        let server_main = dashboard.join("_server_main.py");
        let form = if server_main.is_file() {
            let text = crate::os::read_bounded(
                &server_main,
                SERVER_MAIN_LIMIT,
                crate::os::Symlinks::Follow,
            )
            .unwrap_or_default();
            Some(if text.windows(FLAGS_MARK.len()).any(|w| w == FLAGS_MARK) {
                CommandForm::ModuleFlags
            } else {
                CommandForm::Module
            })
        } else if dashboard.join("server.py").is_file() {
            Some(CommandForm::Script)
        } else if site.join("specify_cli").is_dir() {
            None
        } else {
            Some(CommandForm::Script)
        };
        Release {
            version: version_in(&site),
            dashboard: form,
        }
    }

    /// The arguments of `spec-kitty init` that make a project in the current
    /// directory without asking anything, for this release's CLI. By the
    /// version, not the dashboard's form: 3.2.6.2 still starts its dashboard
    /// with the `-c` script of 0.x, but its `init` already lost `--here` and
    /// `--no-git`. 0.x (and an installation that does not say its version,
    /// as the oldest did not) takes the old flags; every later release
    /// `--ai claude --non-interactive`.
    pub fn init_args(&self) -> &'static [&'static str] {
        let major = self
            .version
            .as_deref()
            .and_then(|v| v.split('.').next()?.parse::<u32>().ok());
        match major {
            // 0.x refuses to init without the agent's CLI installed unless
            // told not to check.
            Some(0) | None => &[
                "init",
                "--here",
                "--ai",
                "claude",
                "--no-git",
                "--force",
                "--ignore-agent-tools",
            ],
            Some(_) => &["init", "--ai", "claude", "--non-interactive"],
        }
    }

    /// The version for a person: `4.0.0rc7`, or `of unknown version`.
    pub fn describe(&self) -> String {
        match &self.version {
            Some(v) => v.clone(),
            None => "of unknown version".into(),
        }
    }
}

/// `<prefix>/lib/python*/site-packages` of the interpreter `python`
/// (`<prefix>/bin/python`) that holds `specify_cli` or spec-kitty's
/// dist-info; else the first one.
fn site_packages(python: &Path) -> Option<PathBuf> {
    let prefix = python.parent()?.parent()?;
    let mut found: Vec<PathBuf> = std::fs::read_dir(prefix.join("lib"))
        .ok()?
        .filter_map(Result::ok)
        .map(|lib| lib.path().join("site-packages"))
        .filter(|p| p.is_dir())
        .collect();
    found.sort();
    let holds = |p: &PathBuf| p.join("specify_cli").is_dir() || version_in(p).is_some();
    found.iter().find(|p| holds(p)).or(found.first()).cloned()
}

/// The version in `spec_kitty_cli-<version>.dist-info` under `site`.
fn version_in(site: &Path) -> Option<String> {
    std::fs::read_dir(site)
        .ok()?
        .filter_map(Result::ok)
        .find_map(|e| {
            let name = e.file_name();
            let name = name.to_str()?;
            let v = name
                .strip_prefix("spec_kitty_cli-")?
                .strip_suffix(".dist-info")?;
            (!v.is_empty()).then(|| v.to_string())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A venv laid out as pip lays one out, with the files of a release.
    fn venv(files: &[&str], version: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tmp");
        let site = dir.path().join("lib/python3.11/site-packages");
        std::fs::create_dir_all(dir.path().join("bin")).expect("bin");
        std::fs::create_dir_all(site.join(format!("spec_kitty_cli-{version}.dist-info")))
            .expect("dist-info");
        std::fs::create_dir_all(site.join("specify_cli")).expect("specify_cli");
        for f in files {
            let (name, text) = f.split_once('=').unwrap_or((f, ""));
            let path = site.join(name);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("dir");
            std::fs::write(path, text).expect("file");
        }
        dir
    }

    #[test]
    fn each_release_family_is_told_apart_by_its_files() {
        let cases: [(&[&str], &str, Option<CommandForm>); 4] = [
            (
                &["specify_cli/dashboard/server.py"],
                "3.2.6.2",
                Some(CommandForm::Script),
            ),
            (
                &["specify_cli/dashboard/_server_main.py=sys.argv[1], sys.argv[2]"],
                "3.2.7",
                Some(CommandForm::Module),
            ),
            (
                &["specify_cli/dashboard/_server_main.py=parser.add_argument(\"--project-dir\")"],
                "4.0.0rc4",
                Some(CommandForm::ModuleFlags),
            ),
            (&["specify_cli/cli/__init__.py"], "4.0.0rc7", None),
        ];
        for (files, version, form) in cases {
            let v = venv(files, version);
            let r = Release::of_installation(&v.path().join("bin/python"));
            assert_eq!(r.version.as_deref(), Some(version));
            assert_eq!(r.dashboard, form, "{version}");
        }
    }

    #[test]
    fn init_flags_follow_the_version() {
        let release = |v: &str, dashboard| Release {
            version: Some(v.into()),
            dashboard,
        };
        assert!(
            release("0.5.3", Some(CommandForm::Script))
                .init_args()
                .contains(&"--here")
        );
        for r in [
            release("3.2.6.2", Some(CommandForm::Script)),
            release("3.2.7", Some(CommandForm::Module)),
            release("4.0.0rc4", Some(CommandForm::ModuleFlags)),
            release("4.0.0rc7", None),
        ] {
            assert_eq!(
                r.init_args(),
                ["init", "--ai", "claude", "--non-interactive"],
                "{r:?}"
            );
        }
    }
}
