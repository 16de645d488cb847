//! Putting it together: who holds a listener, is it a dashboard, and whose.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::reservation::read_reservation;
use crate::server::{FoundServer, ServerProfile, server_at};

use crate::os::{self as sys, DirState};
use crate::process::listeners::Listener;
use crate::process::table::{Kernel, ProcessTable};
use crate::process::{Namespace, Place, ProcessIdentity, socket_owners};
use crate::spec_kitty::DashboardFile;
use crate::spec_kitty::fetch_health;
use crate::spec_kitty::{DashboardCommand, is_sync_daemon};

/// How long after its start a dashboard that its project does not record
/// counts as still starting: `spec-kitty dashboard` writes
/// `.kittify/.dashboard` only after the server answered its health check,
/// which it waits for up to ~20 s (twice, with a retry), and longer on a
/// loaded machine.
pub const START_GRACE: Duration = Duration::from_secs(60);

/// What kind of process holds a listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProcessKind {
    /// A spec-kitty dashboard server.
    Dashboard(DashboardCommand),
    /// spec-kitty's sync daemon: never a dashboard, never touched.
    SyncDaemon,
    /// Anything else.
    Foreign,
}

impl ProcessKind {
    /// Classifies a process by its interpreter and command line
    /// ([`DashboardCommand::of`]).
    pub fn of(identity: &ProcessIdentity) -> Self {
        if is_sync_daemon(identity.argv()) {
            ProcessKind::SyncDaemon
        } else if let Some(cmd) = DashboardCommand::of(identity) {
            ProcessKind::Dashboard(cmd)
        } else {
            ProcessKind::Foreign
        }
    }
}

/// A listener with the process that holds it, when that could be found.
#[derive(Debug, Clone)]
pub struct OwnedListener {
    /// The socket.
    pub listener: Listener,
    /// The process holding it (`None`: another user's, or it closed meanwhile).
    pub owner: Option<ProcessIdentity>,
    /// What the owner is.
    pub kind: ProcessKind,
}

/// Finds the owners of `listeners` (looking first among `first_look`, e.g. a
/// run's descendants) and classifies them.
pub fn identify_listeners(listeners: &[Listener], first_look: &[u32]) -> Vec<OwnedListener> {
    identify_listeners_among(listeners, first_look, &[])
}

/// [`identify_listeners`], looking first among processes whose identity was
/// just read (`sweep`'s dashboards): an owner among them is taken as read
/// when its start time is still the same (one small read, not the nine of
/// [`ProcessIdentity::read`]); any other owner is read in full.
pub fn identify_listeners_among(
    listeners: &[Listener],
    first_look: &[u32],
    known: &[&ProcessIdentity],
) -> Vec<OwnedListener> {
    let inodes: HashSet<u64> = listeners.iter().map(|l| l.inode).collect();
    let look: Vec<u32> = known
        .iter()
        .map(|id| id.pid())
        .chain(first_look.iter().copied())
        .collect();
    let owners = socket_owners(&inodes, &look);
    let mut cache: HashMap<u32, Option<ProcessIdentity>> = known
        .iter()
        .filter(|id| id.started_as_read())
        .map(|id| (id.pid(), Some((*id).clone())))
        .collect();
    listeners
        .iter()
        .map(|l| {
            // Several processes may share a socket (a forking shim): prefer a dashboard.
            let candidates: Vec<ProcessIdentity> = owners
                .get(&l.inode)
                .into_iter()
                .flatten()
                .filter_map(|&pid| {
                    cache
                        .entry(pid)
                        .or_insert_with(|| ProcessIdentity::read(pid))
                        .clone()
                })
                .collect();
            let best = candidates
                .iter()
                .find(|id| matches!(ProcessKind::of(id), ProcessKind::Dashboard(_)))
                .or(candidates.first())
                .cloned();
            let kind = best
                .as_ref()
                .map(ProcessKind::of)
                .unwrap_or(ProcessKind::Foreign);
            OwnedListener {
                listener: l.clone(),
                owner: best,
                kind,
            }
        })
        .collect()
}

/// A dashboard process found on this machine, listening or not.
#[derive(Debug, Clone)]
pub struct FoundDashboard {
    /// Who it is.
    pub identity: ProcessIdentity,
    /// What its command line says.
    pub command: DashboardCommand,
}

impl FoundDashboard {
    /// The project dir as the process sees it (see [`project_dir_of`]).
    pub fn project_dir(&self) -> Option<PathBuf> {
        project_dir_of(&self.identity, &self.command)
    }

    /// Whether it serves `dir` or a directory below it (see [`serves_dir`]).
    pub fn serves(&self, dir: &Path) -> bool {
        serves_dir(&self.identity, &self.command, dir)
    }
}

/// The project dir a dashboard's command line names, made absolute against
/// the process's working directory when it is relative (`.`). `None` when it
/// is relative and the working directory cannot be read or was removed
/// (asked of the directory through `/proc/PID/cwd`, not of how its path is
/// spelled).
pub fn project_dir_of(identity: &ProcessIdentity, command: &DashboardCommand) -> Option<PathBuf> {
    project_dir_in(&Kernel, identity, command)
}

/// [`project_dir_of`], its working directory looked at in `table`.
pub(crate) fn project_dir_in<T: ProcessTable>(
    table: &T,
    identity: &ProcessIdentity,
    command: &DashboardCommand,
) -> Option<PathBuf> {
    let named = &command.project_dir;
    if named.is_absolute() {
        return Some(named.clone());
    }
    let cwd = identity.cwd()?;
    (table.cwd_state(identity.pid()) == DirState::Exists).then(|| cwd.join(named))
}

/// Whether the dashboard serves `dir` or a directory below it, compared
/// canonically: the path its command line names (made absolute, see
/// [`project_dir_of`]) with `.`, `..` and symlinks resolved by the kernel,
/// against `dir`, which should be canonical. Never by the spelling: the
/// dashboard of `<dir>/../other` does not serve `dir`. A path that cannot be
/// resolved (it is gone, or not ours to look at) proves nothing: false.
/// Call it only for a dashboard under our root ([`ProcessIdentity::lives_here`]):
/// only there do its paths mean what ours mean.
pub fn serves_dir(identity: &ProcessIdentity, command: &DashboardCommand, dir: &Path) -> bool {
    serves_dir_in(&Kernel, identity, command, dir)
}

/// [`serves_dir`], its paths resolved in `table`.
pub(crate) fn serves_dir_in<T: ProcessTable>(
    table: &T,
    identity: &ProcessIdentity,
    command: &DashboardCommand,
    dir: &Path,
) -> bool {
    project_dir_in(table, identity, command)
        .and_then(|p| table.canonicalize(&p))
        .is_some_and(|p| p.starts_with(dir))
}

/// Every dashboard process of every user and every namespace that `/proc`
/// shows us. One read of each process's command line (one `openat`, `read`,
/// `close`; the processes spread over the CPUs), and the full identity only
/// of those whose command line names the server: the cost grows with the
/// number of processes, divided by the CPUs, plus a few reads per dashboard.
/// Zombies and unreadable processes are skipped. Sorted by pid.
pub fn find_dashboard_processes() -> Vec<FoundDashboard> {
    sys::scan_command_lines(&dashboard_at)
        .into_iter()
        .map(|(_, found)| found)
        .collect()
}

/// What [`find_dashboards_and_servers`] found.
#[derive(Debug, Clone, Default)]
pub struct DashboardsAndServers {
    /// Every dashboard process, as [`find_dashboard_processes`] finds them.
    pub dashboards: Vec<FoundDashboard>,
    /// Every other process one of the profiles recognises, as
    /// [`find_servers`](crate::server::find_servers) finds them.
    pub servers: Vec<FoundServer>,
}

/// [`find_dashboard_processes`] and [`find_servers`](crate::server::find_servers)
/// in one look at every command line (a sweep needs both, and the scan is
/// most of its cost). A dashboard is listed as a dashboard only, even when a
/// profile would recognise it too. Each sorted by pid.
pub fn find_dashboards_and_servers(profiles: &[ServerProfile]) -> DashboardsAndServers {
    enum Seen {
        Dashboard(FoundDashboard),
        Server(FoundServer),
    }
    let seen = sys::scan_command_lines(&|pid, raw| {
        if let Some(d) = dashboard_at(pid, raw) {
            return Some(Seen::Dashboard(d));
        }
        server_at(pid, raw, profiles).map(Seen::Server)
    });
    let mut found = DashboardsAndServers::default();
    for (_, s) in seen {
        match s {
            Seen::Dashboard(d) => found.dashboards.push(d),
            Seen::Server(s) => found.servers.push(s),
        }
    }
    found
}

/// The dashboard `pid` is, when `raw`, its command line as `/proc` gives
/// it, names the server, and then its identity read afresh shows a
/// dashboard: the look [`find_dashboard_processes`] takes at each process.
fn dashboard_at(pid: u32, raw: &[u8]) -> Option<FoundDashboard> {
    if !mentions_the_server(raw) {
        return None;
    }
    let identity = ProcessIdentity::read(pid)?;
    match ProcessKind::of(&identity) {
        ProcessKind::Dashboard(command) => Some(FoundDashboard { identity, command }),
        _ => None,
    }
}

/// Whether a command line names the dashboard server at all (a dashboard, a
/// wrapper of one, or one still between fork and exec): the cheap first look.
pub fn names_the_server<S: AsRef<std::ffi::OsStr>>(argv: &[S]) -> bool {
    use std::os::unix::ffi::OsStrExt;
    argv.iter()
        .any(|a| mentions_the_server(a.as_ref().as_bytes()))
}

fn mentions_the_server(raw: &[u8]) -> bool {
    let has = |needle: &str| raw.windows(needle.len()).any(|w| w == needle.as_bytes());
    has(crate::spec_kitty::SERVER_MODULE) || has(crate::spec_kitty::SERVER_FUNCTION)
}

/// Why a dashboard (or a server: [`crate::server`]) is an orphan.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case", tag = "reason")]
pub enum OrphanReason {
    /// Its project directory no longer exists (in our mount namespace, which
    /// it shares).
    ProjectGone,
    /// The test process that reserved its port is dead (by a reservation
    /// record in our private reservation directory, whose lock its dead owner
    /// no longer holds).
    OwnerDead {
        /// The dead owner's pid.
        owner_pid: u32,
    },
    /// The directory a server serves (its working directory, or the one
    /// its command line names) was deleted (see
    /// [`classify_server`](crate::server::classify_server)).
    ServedDirGone,
}

/// Why a dashboard counts as still starting.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum StartingBecause {
    /// It is younger than [`START_GRACE`].
    Young,
    /// The `spec-kitty` CLI that started it is alive (it writes
    /// `.kittify/.dashboard` once the server is healthy).
    StarterAlive,
}

/// Whose a dashboard is, for sweeping.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case", tag = "class")]
pub enum DashboardClass {
    /// Nobody will ever stop it: its project is gone or its owner died.
    Orphan {
        /// Why.
        #[serde(flatten)]
        reason: OrphanReason,
    },
    /// Its project exists but its `.kittify/.dashboard` does not name it (an
    /// interrupted start-up), and it is not starting.
    Unrecorded,
    /// Its project does not record it yet, but it may still be starting.
    Starting {
        /// Why it may be.
        because: StartingBecause,
    },
    /// Its project records it, or a live test process owns it.
    Live,
    /// Its `.kittify/.dashboard` or project dir could not be read: no proof either way.
    Unknown {
        /// What could not be read.
        reason: String,
    },
    /// It lives in another namespace (a container, `unshare`): its project
    /// dir and pids mean nothing here.
    Elsewhere {
        /// The namespaces it does not share with us.
        namespaces: Vec<Namespace>,
    },
}

impl DashboardClass {
    /// True for [`DashboardClass::Orphan`].
    pub fn is_orphan(&self) -> bool {
        matches!(self, DashboardClass::Orphan { .. })
    }
}

/// The class of a process that does not live where we live:
/// [`Elsewhere`](DashboardClass::Elsewhere), or
/// [`Unknown`](DashboardClass::Unknown) when its place cannot be read;
/// `None` when it lives here. The first step of every classification.
pub(crate) fn not_here(identity: &ProcessIdentity) -> Option<DashboardClass> {
    match identity.place() {
        Place::Here => None,
        Place::Elsewhere(namespaces) => Some(DashboardClass::Elsewhere { namespaces }),
        Place::Unknown => Some(DashboardClass::Unknown {
            reason: "its namespaces cannot be read".into(),
        }),
    }
}

/// Classifies a dashboard, in this order:
/// 1. [`Elsewhere`](DashboardClass::Elsewhere) when it does not share our
///    pid, mount and network namespaces ([`Unknown`](DashboardClass::Unknown)
///    when they cannot be read);
/// 2. [`Orphan`](DashboardClass::Orphan) when its project dir is gone, or a
///    trusted reservation record names it and its owner is dead;
///    [`Live`](DashboardClass::Live) when that record's owner is alive;
/// 3. [`Live`](DashboardClass::Live) when its project's `.kittify/.dashboard`
///    names it, [`Unknown`](DashboardClass::Unknown) when that file cannot be
///    read;
/// 4. else [`Starting`](DashboardClass::Starting) when it is younger than
///    `start_grace` or its `spec-kitty` starter is alive, else
///    [`Unrecorded`](DashboardClass::Unrecorded).
pub fn classify_dashboard(
    identity: &ProcessIdentity,
    command: &DashboardCommand,
    start_grace: Duration,
) -> DashboardClass {
    if let Some(class) = not_here(identity) {
        return class;
    }
    let gone = DashboardClass::Orphan {
        reason: OrphanReason::ProjectGone,
    };
    let Some(project_dir) = project_dir_of(identity, command) else {
        return match sys::cwd_state(identity.pid()) {
            DirState::Gone => gone,
            _ => DashboardClass::Unknown {
                reason: "its working directory cannot be read".into(),
            },
        };
    };
    match sys::dir_state(project_dir.as_os_str()) {
        DirState::Exists => {}
        DirState::Gone => return gone,
        DirState::Unknown => {
            return DashboardClass::Unknown {
                reason: "its project directory cannot be read".into(),
            };
        }
    }
    if let Some(port) = command.port
        && let Some(state) = read_reservation(port)
        && state.record.dashboard_pid == Some(identity.pid())
        && state.record.dashboard_start_ticks == Some(identity.start_ticks())
    {
        return if state.owner_alive {
            DashboardClass::Live
        } else {
            DashboardClass::Orphan {
                reason: OrphanReason::OwnerDead {
                    owner_pid: state.record.owner_pid,
                },
            }
        };
    }
    match DashboardFile::read(&project_dir) {
        Ok(Some(f)) if f.names(identity.pid(), command.port) => return DashboardClass::Live,
        Ok(_) => {}
        Err(e) => {
            return DashboardClass::Unknown {
                reason: crate::mask_tokens(&e.to_string()),
            };
        }
    }
    if identity.age() < start_grace {
        DashboardClass::Starting {
            because: StartingBecause::Young,
        }
    } else if starter_alive(identity) {
        DashboardClass::Starting {
            because: StartingBecause::StarterAlive,
        }
    } else {
        DashboardClass::Unrecorded
    }
}

/// Whether the dashboard's parent is a live `spec-kitty` CLI (its console
/// script is in its command line), which will record it once it is healthy.
fn starter_alive(identity: &ProcessIdentity) -> bool {
    if identity.ppid() <= 1 {
        return false;
    }
    ProcessIdentity::read(identity.ppid()).is_some_and(|parent| {
        parent
            .argv()
            .iter()
            .take(3)
            .any(|a| Path::new(a).file_name().is_some_and(|n| n == "spec-kitty"))
    })
}

/// The second opinion: does the server on `port` say it is a dashboard of
/// `command.project_dir`? `None` when it did not answer within `timeout`.
pub fn health_confirms(port: u16, command: &DashboardCommand, timeout: Duration) -> Option<bool> {
    let h = fetch_health(port, timeout).ok()?;
    Some(h.is_dashboard() && h.project_path.as_deref() == Some(command.project_dir.as_path()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec_kitty::SERVER_MODULE;

    /// The sweep's one look: a (fake) dashboard is found as a dashboard, and
    /// only as one even though a profile would take it for a server; a
    /// process only a profile recognises is found as a server.
    #[test]
    #[cfg(target_os = "linux")]
    fn one_look_finds_dashboards_and_servers_and_a_dashboard_only_as_a_dashboard() {
        use crate::server::PortArg;
        use crate::spec_kitty::CommandForm;
        // A fake dashboard: python3 running a module of the server's name,
        // from a temp dir on PYTHONPATH, that says it is up, then sleeps.
        let dir = tempfile::tempdir().expect("tempdir");
        let pkg = dir.path().join("specify_cli/dashboard");
        std::fs::create_dir_all(&pkg).expect("mkdir");
        for f in [
            "specify_cli/__init__.py",
            "specify_cli/dashboard/__init__.py",
        ] {
            std::fs::write(dir.path().join(f), "").expect("write");
        }
        std::fs::write(
            pkg.join("_server_main.py"),
            "import time\nprint('ready', flush=True)\ntime.sleep(30)\n",
        )
        .expect("write");
        let token = "0123456789abcdef0123456789abcdef";
        let mut dash = std::process::Command::new("python3")
            .env("PYTHONPATH", dir.path())
            .args(CommandForm::Module.server_args(dir.path(), 9, token))
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python3");
        // python3 may be a launcher (pyenv's shim) that execs the real one:
        // the module's line says the dashboard's command line is in place.
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(dash.stdout.take().expect("stdout")),
            &mut line,
        )
        .expect("read");
        assert_eq!(line, "ready\n");
        let mut sleeper = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("sleep");
        // A scan's first look skips a process still in its exec (its command
        // line is empty for a moment); reading its identity waits that out.
        ProcessIdentity::read(sleeper.id()).expect("sleep's identity");
        let profile = |name: &str, program: &str| ServerProfile {
            name: name.into(),
            program: vec![program.into()],
            args: Vec::new(),
            port: PortArg::Unnamed,
            ports: None,
            health: None,
            record: None,
            directory: Vec::new(),
        };
        let profiles = [profile("python", "python3*"), profile("sleeper", "sleep")];
        let found = find_dashboards_and_servers(&profiles);
        let dashboards: Vec<u32> = found.dashboards.iter().map(|d| d.identity.pid()).collect();
        let servers: Vec<u32> = found.servers.iter().map(|s| s.identity.pid()).collect();
        assert!(dashboards.contains(&dash.id()), "{dashboards:?}");
        assert!(!servers.contains(&dash.id()), "{servers:?}");
        assert!(servers.contains(&sleeper.id()), "{servers:?}");
        let sleeper_found = found
            .servers
            .iter()
            .find(|s| s.identity.pid() == sleeper.id());
        assert_eq!(
            sleeper_found.map(|s| s.profile.name.as_str()),
            Some("sleeper")
        );
        // Without profiles: the dashboards alone, as find_dashboard_processes has them.
        let alone = find_dashboards_and_servers(&[]);
        assert!(alone.servers.is_empty());
        assert!(
            alone
                .dashboards
                .iter()
                .any(|d| d.identity.pid() == dash.id())
        );
        assert!(
            find_dashboard_processes()
                .iter()
                .any(|d| d.identity.pid() == dash.id())
        );
        for child in [&mut dash, &mut sleeper] {
            child.kill().expect("kill");
            child.wait().expect("wait");
        }
    }

    #[test]
    fn a_relative_project_dir_is_resolved_against_the_process_cwd() {
        let me = ProcessIdentity::read(std::process::id()).expect("self");
        let cwd = std::env::current_dir()
            .expect("cwd")
            .canonicalize()
            .expect("canonical");
        let dot = DashboardCommand::parse(&["python", "-m", SERVER_MODULE, ".", "9300"])
            .expect("dashboard");
        assert_eq!(
            project_dir_of(&me, &dot)
                .expect("resolved")
                .canonicalize()
                .expect("exists"),
            cwd
        );
        assert!(serves_dir(&me, &dot, &cwd));
        assert!(!serves_dir(&me, &dot, Path::new("/nonexistent-kitty-dir")));
        let abs = DashboardCommand::parse(&[
            "python",
            "-m",
            SERVER_MODULE,
            "/nonexistent-kitty-dir",
            "9300",
        ])
        .expect("dashboard");
        assert_eq!(
            classify_dashboard(&me, &abs, START_GRACE),
            DashboardClass::Orphan {
                reason: OrphanReason::ProjectGone
            }
        );
    }
}
