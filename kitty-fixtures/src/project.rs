//! [`KittyProject`]: a temporary spec-kitty project that stops every dashboard
//! serving it before its directory is deleted.
//!
//! Why over 500 lines: the project, its builder and its Drop are one type's
//! public surface with their doc examples; the starting and stopping they
//! call live in `launch.rs` and `registry.rs`.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::dashboard::{Dashboard, Origin, StopReport, StoppedDashboard};
use crate::error::Error;
use crate::installation::SpecKitty;
use crate::launch::{self, Launch};
use crate::registry;
use kitty_core::PortSet;
use kitty_core::TEST_ENV;
use kitty_core::spec_kitty::DashboardFile;
use kitty_core::{self, ProcessIdentity, Scope, StopError, StopPolicy, Token};

static NEXT_PROJECT: AtomicU64 = AtomicU64::new(1);

/// [`Error::Unsupported`] unless the core can see and stop processes here.
fn supported() -> Result<(), Error> {
    if kitty_core::sys::SUPPORTED {
        Ok(())
    } else {
        Err(Error::Unsupported {
            os: std::env::consts::OS,
        })
    }
}

/// The environment variable set on every dashboard this crate starts (and
/// on [`KittyProject::spec_kitty`] commands): the pid of the test process
/// that started it. Nothing in these crates decides by it; it is there so
/// a test's own clean-up, or a person, can tell which test binary started
/// a process (this repository's end-to-end tests do).
pub const OWNER_ENV: &str = "KITTY_FIXTURES_OWNER";

/// A temporary spec-kitty project.
///
/// Dropping it stops every dashboard that serves it (the ones it started, the
/// one its `.kittify/.dashboard` names, and any dashboard process whose command
/// line names its directory), waits until each process group is gone and its
/// port is free, removes `.kittify/.dashboard`, and only then deletes the
/// directory.
///
/// # Resource leaking
///
/// Nothing leaks on return, failed assertion, panic or `#[should_panic]`
/// (`Drop`). A project that is never dropped (`std::mem::forget`, a static,
/// rstest `#[once]`, `std::process::exit`, an abandoned `#[timeout]`) has its
/// dashboards stopped by an at-exit hook; when the process is killed (SIGKILL,
/// SIGTERM, SIGINT, abort) the kernel kills the dashboards it started through a
/// parent-death signal. Dashboards started by [`KittyProject::spec_kitty`] are
/// detached by spec-kitty itself: they are stopped on drop and by the at-exit
/// hook, but not when the process is killed (nothing of ours runs then, and
/// the parent-death signal only reaches our own children).
///
/// ```no_run
/// use kitty_fixtures::KittyProject;
/// let project = KittyProject::new()?;
/// let dashboard = project.start_dashboard()?;
/// println!("{} serves {}", dashboard.url(), project.path().display());
/// drop(project); // the dashboard is stopped, then the directory deleted
/// # Ok::<(), kitty_fixtures::Error>(())
/// ```
pub struct KittyProject {
    id: u64,
    /// The process that made it: only that process stops its dashboards and
    /// deletes its directories (a `fork()`ed child shares neither).
    owner_pid: u32,
    path: PathBuf,
    dir: Option<TempDir>,
    home: Option<TempDir>,
    options: Options,
    spec_kitty: OnceLock<SpecKitty>,
}

#[derive(Debug, Clone)]
struct Options {
    ports: PortSet,
    spec_kitty: Option<PathBuf>,
    start_timeout: Duration,
    stop: StopPolicy,
    keep: bool,
    init: bool,
}

/// Builds a [`KittyProject`] with non-default options.
///
/// ```no_run
/// use std::time::Duration;
/// use kitty_fixtures::KittyProject;
/// let project = KittyProject::builder()
///     .ports("9300-9310".parse().unwrap())
///     .start_timeout(Duration::from_secs(60))
///     .keep(true) // keep the directory for a post-mortem; dashboards are still stopped
///     .build()?;
/// # Ok::<(), kitty_fixtures::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct KittyProjectBuilder {
    ports: Option<PortSet>,
    spec_kitty: Option<PathBuf>,
    start_timeout: Option<Duration>,
    stop_timeout: Option<Duration>,
    keep: bool,
    init: bool,
}

impl KittyProjectBuilder {
    /// Runs the real `spec-kitty init` (about 10 s, needs spec-kitty) instead of
    /// writing the minimal scaffold.
    pub fn init(mut self, yes: bool) -> Self {
        self.init = yes;
        self
    }

    /// The ports dashboards may use. Default: `KITTY_PORTS`, else 9237-9336.
    pub fn ports(mut self, ports: PortSet) -> Self {
        self.ports = Some(ports);
        self
    }

    /// The `spec-kitty` executable. Default: `KITTY_SPEC_KITTY`, else `spec-kitty` on `PATH`.
    pub fn spec_kitty(mut self, executable: impl Into<PathBuf>) -> Self {
        self.spec_kitty = Some(executable.into());
        self
    }

    /// How long [`KittyProject::start_dashboard`] waits for health. Default 30 s.
    pub fn start_timeout(mut self, timeout: Duration) -> Self {
        self.start_timeout = Some(timeout);
        self
    }

    /// How long a dashboard gets after SIGTERM before SIGKILL. Default 2 s.
    pub fn stop_timeout(mut self, timeout: Duration) -> Self {
        self.stop_timeout = Some(timeout);
        self
    }

    /// Keep the directory after drop for a post-mortem (its path is printed on
    /// stderr). Dashboards are stopped all the same.
    pub fn keep(mut self, keep: bool) -> Self {
        self.keep = keep;
        self
    }

    /// Creates the project.
    ///
    /// # Errors
    /// [`Error::Unsupported`] on an operating system other than Linux;
    /// [`Error::Ports`] for a malformed `KITTY_PORTS`; [`Error::Io`] when the temp
    /// dirs cannot be made; with [`init`](Self::init), the errors of locating
    /// spec-kitty and [`Error::Init`].
    pub fn build(self) -> Result<KittyProject, Error> {
        supported()?;
        let ports = match self.ports {
            Some(p) => p,
            None => PortSet::from_env_or(PortSet::spec_kitty())?,
        };
        let dir = tempfile::Builder::new()
            .prefix("kitty-project-")
            .tempdir()
            .map_err(Error::io("cannot create the project's temp dir"))?;
        let home = tempfile::Builder::new()
            .prefix("kitty-home-")
            .tempdir()
            .map_err(Error::io("cannot create the isolated spec-kitty home"))?;
        let path = dir
            .path()
            .canonicalize()
            .map_err(Error::io("cannot resolve the temp dir"))?;
        let options = Options {
            ports,
            spec_kitty: self.spec_kitty,
            start_timeout: self.start_timeout.unwrap_or(Duration::from_secs(30)),
            stop: StopPolicy {
                term_grace: self.stop_timeout.unwrap_or(Duration::from_secs(2)),
                ..StopPolicy::default()
            },
            keep: self.keep,
            init: self.init,
        };
        let project = KittyProject {
            id: NEXT_PROJECT.fetch_add(1, Ordering::Relaxed),
            owner_pid: std::process::id(),
            path,
            dir: Some(dir),
            home: Some(home),
            options,
            spec_kitty: OnceLock::new(),
        };
        registry::register_project(project.id, project.path.clone(), project.options.stop);
        if project.options.init {
            project.run_init()?;
        } else {
            project.scaffold()?;
        }
        Ok(project)
    }
}

impl KittyProject {
    /// A fresh temp dir holding a minimal spec-kitty project (a `.kittify/`
    /// scaffold, no Python needed), with default options.
    ///
    /// # Errors
    /// [`Error::Ports`] when `KITTY_PORTS` is malformed; [`Error::Io`] when the
    /// temp dirs cannot be made.
    pub fn new() -> Result<Self, Error> {
        Self::builder().build()
    }

    /// Options: real `spec-kitty init`, ports, executable, timeouts, keep.
    pub fn builder() -> KittyProjectBuilder {
        KittyProjectBuilder::default()
    }

    /// The project directory (canonical).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The isolated `HOME` of spec-kitty processes of this project (their
    /// `SPEC_KITTY_HOME` is `<home>/.spec-kitty`).
    pub fn home(&self) -> &Path {
        self.home.as_ref().map_or(self.path.as_path(), |h| h.path())
    }

    /// The ports this project's dashboards may use.
    pub fn ports(&self) -> &PortSet {
        &self.options.ports
    }

    fn scaffold(&self) -> Result<(), Error> {
        for d in [".kittify", "kitty-specs"] {
            fs::create_dir_all(self.path.join(d))
                .map_err(Error::io(format!("cannot create {d}/")))?;
        }
        Ok(())
    }

    fn run_init(&self) -> Result<(), Error> {
        let sk = self.installation()?;
        let args = sk.release.init_args();
        let out = self
            .spec_kitty(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|source| Error::Spawn {
                program: sk.executable.clone(),
                source,
            })?;
        if !out.status.success() {
            let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
            text.push_str(&String::from_utf8_lossy(&out.stderr));
            let tail: String = text
                .chars()
                .rev()
                .take(1500)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            return Err(Error::Init {
                dir: self.path.clone(),
                status: out.status.to_string(),
                output: kitty_core::mask_tokens(tail.trim()),
            });
        }
        Ok(())
    }

    /// The spec-kitty installation this project uses (located once).
    ///
    /// # Errors
    /// [`Error::SpecKittyNotFound`], [`Error::SpecKittyMissing`], [`Error::InterpreterNotFound`].
    pub fn installation(&self) -> Result<&SpecKitty, Error> {
        if let Some(sk) = self.spec_kitty.get() {
            return Ok(sk);
        }
        let sk = SpecKitty::locate(self.options.spec_kitty.as_deref())?;
        Ok(self.spec_kitty.get_or_init(|| sk))
    }

    /// The real spec-kitty CLI with `args`, run in the project, with spec-kitty's
    /// home isolated in a temp dir. Dashboards it starts (`spec-kitty dashboard`)
    /// are adopted: [`dashboards`](Self::dashboards) lists them and drop stops them.
    ///
    /// When spec-kitty cannot be located the program is the bare name
    /// `spec-kitty`, so spawning fails with "not found".
    ///
    /// ```no_run
    /// # let project = kitty_fixtures::KittyProject::new().unwrap();
    /// let status = project.spec_kitty(["dashboard"]).status().unwrap();
    /// assert!(status.success());
    /// assert_eq!(project.dashboards().len(), 1);
    /// ```
    pub fn spec_kitty<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let program = self
            .installation()
            .map(|sk| sk.executable.clone())
            .unwrap_or_else(|_| "spec-kitty".into());
        let mut cmd = Command::new(program);
        cmd.args(args).current_dir(&self.path);
        self.isolate(&mut cmd);
        cmd
    }

    /// `HOME` is the private temp dir and `SPEC_KITTY_HOME` a folder inside it
    /// (spec-kitty's own default, `~/.spec-kitty`). It must not be the temp dir
    /// itself: spec-kitty deletes every `.kittify_update_*` staging dir beside
    /// `SPEC_KITTY_HOME`, which, directly under `/tmp`, are other runs' dirs.
    fn isolate(&self, cmd: &mut Command) {
        cmd.env("HOME", self.home())
            .env("SPEC_KITTY_HOME", self.home().join(".spec-kitty"))
            .env(OWNER_ENV, std::process::id().to_string());
        match std::thread::current().name() {
            Some(test) if test != "main" => cmd.env(TEST_ENV, test),
            _ => cmd.env_remove(TEST_ENV),
        };
    }

    /// Starts the real dashboard server of the installed spec-kitty for this
    /// project as a direct child of this process, on a port it reserved, with a
    /// fresh token; waits until `/api/health` answers with this project and
    /// token; writes `.kittify/.dashboard`.
    ///
    /// # Errors
    /// Locating spec-kitty ([`Error::SpecKittyNotFound`] and friends);
    /// [`Error::NoDashboard`] at once for a release without a dashboard
    /// (4.0.0rc5 and later); [`Error::PortRangeFull`] when no port is free after sweeping orphans;
    /// [`Error::StartFailed`] / [`Error::StartTimeout`] (the child was stopped,
    /// the error carries its exit status and log tail).
    pub fn start_dashboard(&self) -> Result<Dashboard, Error> {
        supported()?;
        self.in_owner_process()?;
        let sk = self.installation()?;
        // A release without a dashboard fails here, before a port is
        // reserved or a file made.
        sk.dashboard_form()?;
        let started = launch::start(&Launch {
            project: self.id,
            dir: &self.path,
            home: self.home(),
            spec_kitty: sk,
            ports: &self.options.ports,
            timeout: self.options.start_timeout,
            policy: self.options.stop,
            isolate: &|cmd| self.isolate(cmd),
        })?;
        Ok(Dashboard::new(
            started.port,
            started.pid,
            Some(Token::new(started.token)),
            &self.path,
            Origin::Started,
        ))
    }

    /// [`Error::ForkedChild`] unless this is the process that made the project.
    fn in_owner_process(&self) -> Result<(), Error> {
        if self.owner_pid == std::process::id() {
            Ok(())
        } else {
            Err(Error::ForkedChild)
        }
    }

    /// The dashboards serving this project now: the ones it started that are
    /// still alive, and adopted ones (any dashboard process whose command line
    /// names this directory).
    pub fn dashboards(&self) -> Vec<Dashboard> {
        let mut out: Vec<Dashboard> = registry::snapshot(self.id)
            .into_iter()
            .filter(|(id, _)| id.is_still_alive())
            .map(|(id, port)| self.dashboard_of(&id, Some(port), Origin::Started))
            .collect();
        for permit in self.adoptable() {
            let id = permit.identity();
            out.push(self.dashboard_of(id, command_port(id), Origin::Adopted));
        }
        out
    }

    fn dashboard_of(&self, id: &ProcessIdentity, port: Option<u16>, origin: Origin) -> Dashboard {
        let token = kitty_core::spec_kitty::DashboardCommand::of(id)
            .and_then(|c| c.token().map(Token::new));
        Dashboard::new(port.unwrap_or(0), id.pid(), token, &self.path, origin)
    }

    /// Dashboard processes that serve this directory (or one below it,
    /// compared canonically), that this project did not start, and that
    /// [`kitty_core::judge`] lets it stop (ours, in our namespaces and root, not
    /// our ancestors): their permits.
    fn adoptable(&self) -> Vec<kitty_core::Permit> {
        let started: Vec<u32> = registry::snapshot(self.id)
            .iter()
            .map(|(id, _)| id.pid())
            .collect();
        let protected = kitty_core::ancestors_and_self();
        kitty_core::spec_kitty::find_dashboard_processes()
            .into_iter()
            .filter(|d| !started.contains(&d.identity.pid()))
            .filter_map(|d| {
                kitty_core::judge(
                    &d,
                    Scope::Project { dir: &self.path },
                    &protected,
                    kitty_core::spec_kitty::START_GRACE,
                )
                .verdict
                .ok()
            })
            .collect()
    }

    /// Stops every dashboard serving this project now (see the type's docs)
    /// and removes `.kittify/.dashboard`.
    ///
    /// # Errors
    /// [`Error::Stop`] / [`Error::StopMany`] when a dashboard could not be
    /// stopped; every other dashboard is still stopped.
    pub fn stop_dashboards(&self) -> Result<StopReport, Error> {
        self.in_owner_process()?;
        let began = Instant::now();
        let mut report = StopReport::default();
        let file = DashboardFile::path_in(&self.path);
        let had_file = file.symlink_metadata().is_ok();
        let mut errors: Vec<StopError> = Vec::new();
        for entry in registry::take_where(|e| e.project == self.id) {
            let port = entry.port;
            match registry::stop_entry(entry) {
                Ok(s) => report.stopped.push(StoppedDashboard {
                    stop: s,
                    port: Some(port),
                    origin: Origin::Started,
                }),
                Err(e) => errors.push(e),
            }
        }
        for permit in self.adoptable() {
            let port = command_port(permit.identity());
            match kitty_core::stop(&permit, port, self.options.stop) {
                Ok(s) => report.stopped.push(StoppedDashboard {
                    stop: s,
                    port,
                    origin: Origin::Adopted,
                }),
                Err(e) => errors.push(e),
            }
        }
        if errors.is_empty() && file.is_file() {
            let _ = fs::remove_file(&file);
        }
        report.removed_dashboard_file = had_file && file.symlink_metadata().is_err();
        report.elapsed = began.elapsed();
        match errors.len() {
            0 => Ok(report),
            1 => Err(Error::Stop(errors.remove(0))),
            _ => Err(Error::StopMany(errors)),
        }
    }
}

/// The port in a dashboard's command line.
fn command_port(id: &ProcessIdentity) -> Option<u16> {
    kitty_core::spec_kitty::DashboardCommand::parse(id.argv()).and_then(|c| c.port)
}

impl fmt::Debug for KittyProject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KittyProject")
            .field("path", &self.path)
            .field("ports", &self.options.ports)
            .field("keep", &self.options.keep)
            .finish_non_exhaustive()
    }
}

impl Drop for KittyProject {
    fn drop(&mut self) {
        if self.in_owner_process().is_err() {
            // A fork()ed child dropping its copy: the dashboards and the
            // directories are its parent's. Leave them all alone.
            for dir in [self.dir.take(), self.home.take()].into_iter().flatten() {
                let _ = dir.keep();
            }
            return;
        }
        if let Err(e) = self.stop_dashboards() {
            eprintln!("kitty-fixtures: {e}");
        }
        registry::unregister_project(self.id);
        for dir in [self.dir.take(), self.home.take()].into_iter().flatten() {
            if self.options.keep {
                let kept = dir.keep();
                eprintln!("kitty-fixtures: kept {} for post-mortem", kept.display());
            } else if let Err(e) = dir.close() {
                eprintln!("kitty-fixtures: cannot delete the temp dir: {e}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn project_is_send_and_sync() {
        assert_send_sync::<KittyProject>();
        assert_send_sync::<Dashboard>();
        assert_send_sync::<Error>();
    }

    #[test]
    fn scaffold_needs_no_python_and_is_deleted_on_drop() {
        let p = KittyProject::builder()
            .spec_kitty("/nonexistent/spec-kitty")
            .build()
            .expect("scaffold");
        assert!(p.path().join(".kittify").is_dir());
        let path = p.path().to_path_buf();
        drop(p);
        assert!(!path.exists());
    }

    #[test]
    fn missing_spec_kitty_names_the_fix() {
        let p = KittyProject::builder()
            .spec_kitty("/nonexistent/spec-kitty")
            .build()
            .expect("scaffold");
        let e = p.start_dashboard().expect_err("no spec-kitty");
        let msg = e.to_string();
        assert!(
            msg.contains("KITTY_SPEC_KITTY") && msg.contains("pip install spec-kitty-cli"),
            "{msg}"
        );
        // What `.unwrap()` prints says it too, not only the variant's name.
        let debug = format!("{e:?}");
        assert!(
            debug.starts_with("SpecKittyMissing: ") && debug.contains("KITTY_SPEC_KITTY"),
            "{debug}"
        );
    }
}
