//! Finding spec-kitty, the interpreter that really runs it, and the server
//! command line of its release.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::Read;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use crate::error::Error;
use kitty_core::spec_kitty::{CommandForm, Release};
use kitty_core::sys;

/// The environment variable naming the `spec-kitty` executable.
pub const SPEC_KITTY_ENV: &str = "KITTY_SPEC_KITTY";

/// How long the interpreter gets to say what it really is.
const ASK_INTERPRETER: Duration = Duration::from_secs(20);

/// One spec-kitty installation: its CLI, its Python, and its release (the
/// version, and which child command line it starts a dashboard with, if any).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecKitty {
    /// The `spec-kitty` executable.
    pub executable: PathBuf,
    /// The interpreter that really runs its console script: what
    /// `sys.executable` says. A shim (pyenv's `python3`) that forks the real
    /// interpreter would take the parent-death signal itself and leave the
    /// server running when the test is killed, so the server is spawned with
    /// this one.
    pub python: PathBuf,
    /// Its version and release family, read from the installation.
    pub release: Release,
}

impl SpecKitty {
    /// Finds spec-kitty: `explicit`, else `KITTY_SPEC_KITTY`, else `spec-kitty`
    /// on `PATH`; then its real interpreter (asked once per interpreter and
    /// process, about 20 ms) and its release's command form.
    ///
    /// # Errors
    /// [`Error::SpecKittyNotFound`], [`Error::SpecKittyMissing`],
    /// [`Error::InterpreterNotFound`].
    pub fn locate(explicit: Option<&Path>) -> Result<SpecKitty, Error> {
        let executable = match explicit {
            Some(p) => existing(p, "the builder")?,
            None => match std::env::var_os(SPEC_KITTY_ENV) {
                Some(p) if !p.is_empty() => existing(Path::new(&p), SPEC_KITTY_ENV)?,
                _ => on_path("spec-kitty").ok_or(Error::SpecKittyNotFound)?,
            },
        };
        let python = real_interpreter(&interpreter_of(&executable)?);
        let release = Release::of_installation(&python);
        Ok(SpecKitty {
            executable,
            python,
            release,
        })
    }

    /// The dashboard server for `project_dir` on `port` with `token`, exactly
    /// as this release's `spec-kitty dashboard` spawns it (minus the new
    /// session: the caller decides that).
    ///
    /// # Errors
    /// [`Error::NoDashboard`] for a release without a bundled dashboard
    /// (4.0.0rc5 and later).
    pub fn server_command(
        &self,
        project_dir: &Path,
        port: u16,
        token: &str,
    ) -> Result<Command, Error> {
        let form = self.dashboard_form()?;
        let mut cmd = Command::new(&self.python);
        cmd.args(form.server_args(project_dir, port, token));
        Ok(cmd)
    }

    /// The command line this release starts its dashboard with.
    ///
    /// # Errors
    /// [`Error::NoDashboard`] when it has none (4.0.0rc5 and later).
    pub fn dashboard_form(&self) -> Result<CommandForm, Error> {
        self.release.dashboard.ok_or_else(|| Error::NoDashboard {
            spec_kitty: self.executable.clone(),
            version: self.release.describe(),
        })
    }
}

fn existing(p: &Path, source_name: &'static str) -> Result<PathBuf, Error> {
    if p.is_file() {
        Ok(p.to_path_buf())
    } else {
        Err(Error::SpecKittyMissing {
            path: p.to_path_buf(),
            source_name,
        })
    }
}

fn on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// Reads the interpreter from a console script: `#!/venv/bin/python3`, or
/// pip's long-path form `#!/bin/sh` + `'''exec' "/venv/bin/python3" "$0" "$@"`;
/// falls back to a `python3` next to the script.
fn interpreter_of(script: &Path) -> Result<PathBuf, Error> {
    let mut head = Vec::new();
    fs::File::open(script)
        .and_then(|f| f.take(4096).read_to_end(&mut head))
        .map_err(|e| Error::InterpreterNotFound {
            spec_kitty: script.to_path_buf(),
            reason: e.to_string(),
        })?;
    let mut lines = head.split(|&b| b == b'\n');
    let first = lines.next().unwrap_or_default();
    let path_of = |b: &[u8]| PathBuf::from(OsStr::from_bytes(b));
    let from_shebang = first
        .strip_prefix(b"#!")
        .map(<[u8]>::trim_ascii)
        .and_then(|s| {
            let first_word = s.split(u8::is_ascii_whitespace).next()?;
            if s.ends_with(b"/sh") {
                let exec = lines.next()?;
                let at = exec.windows(7).position(|w| w == b"exec' \"")? + 7;
                let len = exec[at..].iter().position(|&b| b == b'"')?;
                Some(path_of(&exec[at..at + len]))
            } else if first_word == b"/usr/bin/env" {
                let name = s[first_word.len()..].trim_ascii();
                on_path(std::str::from_utf8(name.split(u8::is_ascii_whitespace).next()?).ok()?)
            } else {
                let named_python = first_word.windows(6).any(|w| w == b"python");
                named_python.then(|| path_of(first_word))
            }
        });
    let sibling = script
        .parent()
        .map(|d| d.join("python3"))
        .filter(|p| p.is_file());
    from_shebang
        .filter(|p| p.is_file())
        .or(sibling)
        .ok_or_else(|| Error::InterpreterNotFound {
            spec_kitty: script.to_path_buf(),
            reason: format!(
                "its first line {:?} names no Python, and no python3 sits next to it",
                String::from_utf8_lossy(first)
            ),
        })
}

/// What `python -c 'import sys; print(sys.executable)'` says, cached per
/// interpreter for the life of the process; `python` itself when it cannot
/// say (within [`ASK_INTERPRETER`]).
fn real_interpreter(python: &Path) -> PathBuf {
    static KNOWN: Mutex<Option<HashMap<PathBuf, PathBuf>>> = Mutex::new(None);
    let cached = |k: &Path| {
        KNOWN
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .and_then(|m| m.get(k).cloned())
    };
    if let Some(real) = cached(python) {
        return real;
    }
    let mut ask = Command::new(python);
    ask.args(["-c", "import sys; sys.stdout.write(sys.executable)"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .stdout(Stdio::piped());
    let real = sys::output_within(&mut ask, ASK_INTERPRETER)
        .map(|out| PathBuf::from(OsString::from_vec(out.trim_ascii().to_vec())))
        .filter(|p| p.is_absolute() && p.is_file())
        .unwrap_or_else(|| python.to_path_buf());
    KNOWN
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get_or_insert_with(HashMap::new)
        .insert(python.to_path_buf(), real.clone());
    real
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpreter_from_both_shebang_forms() {
        let dir = tempfile::tempdir().expect("tmp");
        let py = dir.path().join("python3");
        fs::write(&py, "").expect("py");
        let a = dir.path().join("a");
        fs::write(&a, format!("#!{}\nimport sys\n", py.display())).expect("a");
        assert_eq!(interpreter_of(&a).expect("a"), py);
        let b = dir.path().join("b");
        fs::write(
            &b,
            format!(
                "#!/bin/sh\n'''exec' \"{}\" \"$0\" \"$@\"\n' '''\n",
                py.display()
            ),
        )
        .expect("b");
        assert_eq!(interpreter_of(&b).expect("b"), py);
        let other = tempfile::tempdir().expect("tmp");
        let c = other.path().join("c");
        fs::write(&c, "#!/bin/false\n").expect("c");
        assert!(matches!(
            interpreter_of(&c),
            Err(Error::InterpreterNotFound { .. })
        ));
    }

    #[test]
    fn a_forking_shim_is_resolved_to_the_interpreter_it_runs() {
        let dir = tempfile::tempdir().expect("tmp");
        let real = Path::new("/usr/bin/python3");
        let shim = dir.path().join("python3");
        fs::write(
            &shim,
            format!("#!/bin/sh\n\"{}\" \"$@\" &\nwait $!\n", real.display()),
        )
        .expect("shim");
        fs::set_permissions(&shim, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .expect("chmod");
        let resolved = real_interpreter(&shim);
        assert_ne!(resolved, shim);
        assert!(
            resolved
                .file_name()
                .is_some_and(|n| n.as_bytes().starts_with(b"python"))
        );
        let not_python = dir.path().join("false");
        fs::write(&not_python, "#!/bin/sh\nexit 1\n").expect("false");
        fs::set_permissions(
            &not_python,
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .expect("chmod");
        assert_eq!(real_interpreter(&not_python), not_python);
    }
}
