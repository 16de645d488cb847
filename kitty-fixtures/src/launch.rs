//! Starting a dashboard: reserve a port (from the top of the range down),
//! spawn the server, wait until its `/api/health` answers for this project
//! and token, and take another port when the bind is lost to someone else.
//!
//! Nothing but our reservations knows about our reservations: spec-kitty's
//! own CLI (and anything else) may bind a port between our check that it is
//! free and our server's bind. Ports are taken from the top of the range,
//! away from spec-kitty's own search (upwards from 9237); when the bind is
//! lost anyway (the child exits with `EADDRINUSE`, or the port answers for
//! another project), our child is stopped and the next free port is tried,
//! within the start timeout.

use std::ffi::OsString;
use std::fs;
use std::io::{self, Read, Seek, SeekFrom};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::installation::SpecKitty;
use crate::registry::{self, Entry};
use kitty_core::PortSet;
use kitty_core::reservation::Reservation;
use kitty_core::spec_kitty::{DashboardCommand, DashboardFile, FoundDashboard, ProcessKind};
use kitty_core::sys;
use kitty_core::{self, ListenerSnapshot, Permit, ProcessIdentity, Scope, StopPolicy};

/// What [`start`] needs to know about the project.
pub(crate) struct Launch<'a> {
    /// The project's registry id.
    pub project: u64,
    /// The project dir (canonical).
    pub dir: &'a Path,
    /// Where the logs go (the project's private spec-kitty home).
    pub home: &'a Path,
    /// The installation.
    pub spec_kitty: &'a SpecKitty,
    /// The ports to take one from.
    pub ports: &'a PortSet,
    /// How long the whole start may take.
    pub timeout: Duration,
    /// How the dashboard is stopped.
    pub policy: StopPolicy,
    /// Sets the environment of spec-kitty processes (isolated home, labels).
    pub isolate: &'a dyn Fn(&mut Command),
}

/// A healthy dashboard [`start`] started.
pub(crate) struct Started {
    pub port: u16,
    pub pid: u32,
    pub token: String,
}

/// How one attempt on one port ended badly.
enum Attempt {
    /// Someone else got the port first: try another one.
    Lost,
    /// A real failure.
    Failed(Error),
}

/// Starts the dashboard of `l.dir`: see the module docs.
pub(crate) fn start(l: &Launch<'_>) -> Result<Started, Error> {
    let deadline = Instant::now() + l.timeout;
    let mut lost: Vec<u16> = Vec::new();
    loop {
        let reservation = reserve_port(l.ports, l.dir, &lost, l.policy)?;
        let port = reservation.port();
        match attempt(l, reservation, deadline) {
            Ok(started) => return Ok(started),
            Err(Attempt::Lost) if Instant::now() < deadline => lost.push(port),
            Err(Attempt::Lost) => {
                return Err(Error::StartTimeout {
                    port,
                    waited: l.timeout,
                    log_tail: format!(
                        "every port tried was taken by someone else first: {lost:?} and {port}"
                    ),
                });
            }
            Err(Attempt::Failed(e)) => return Err(e),
        }
    }
}

fn attempt(
    l: &Launch<'_>,
    mut reservation: Reservation,
    deadline: Instant,
) -> Result<Started, Attempt> {
    let port = reservation.port();
    let failed = Attempt::Failed;
    let token = sys::random_hex(16)
        .map_err(Error::io("cannot read random bytes"))
        .map_err(failed)?;
    let log_path = l.home.join(format!(
        "dashboard-{port}-{}-{}.log",
        std::process::id(),
        sys::random_hex(4).unwrap_or_default()
    ));
    let log = sys::create_private_file(&log_path)
        .map_err(Error::io("cannot create the dashboard log"))
        .map_err(failed)?;
    let log2 = log
        .try_clone()
        .map_err(Error::io("cannot create the dashboard log"))
        .map_err(failed)?;
    let mut cmd = l
        .spec_kitty
        .server_command(l.dir, port, &token)
        .map_err(failed)?;
    let expected: Vec<OsString> = std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(ToOwned::to_owned)
        .collect();
    cmd.current_dir(l.dir)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2);
    (l.isolate)(&mut cmd);
    let child = registry::spawn(cmd).map_err(|e| match e {
        registry::SpawnError::ForkedChild => Attempt::Failed(Error::ForkedChild),
        registry::SpawnError::Io(source) => Attempt::Failed(Error::Spawn {
            program: l.spec_kitty.python.clone(),
            source,
        }),
    })?;
    let pid = child.id();
    // Our child, unreaped: its pid is ours to hold, so the permit minted
    // once it runs the server names it (a pidfd), whoever reaps it later.
    let permit = identity_after_exec(pid, &expected)
        .and_then(|_| Permit::for_child(&child, DashboardCommand::parse(&expected)).ok());
    drop(child); // the registry and stop path reap it through its pidfd

    let Some(permit) = permit else {
        let status = sys::reap_if_child(pid).or_else(|| sys::wait_child(pid).ok());
        let reason = match status {
            Some(s) => format!("it exited at once ({})", describe_status(s)),
            None => "it exited at once".into(),
        };
        return Err(failed(start_failed(port, reason, status, &log_path)));
    };
    let _ = reservation.record_dashboard(permit.identity());
    let watch = permit.clone();
    registry::register(Entry {
        project: l.project,
        permit,
        port,
        project_dir: l.dir.to_path_buf(),
        policy: l.policy,
        reservation: Some(reservation),
    });

    if let Err(why) = wait_ready(&watch, port, l.dir, &token, deadline) {
        for entry in registry::take_where(|e| e.permit.pid() == pid) {
            let _ = registry::stop_entry(entry);
        }
        return Err(match why {
            NotReady::SomeoneElse => Attempt::Lost,
            NotReady::Exited(_) if port_taken(port) || log_says_in_use(&log_path) => Attempt::Lost,
            NotReady::Exited(status) => failed(start_failed(
                port,
                format!("it exited ({})", describe_status(status)),
                Some(status),
                &log_path,
            )),
            NotReady::WrongPort(other) => failed(start_failed(
                port,
                format!("it bound port {other} instead"),
                None,
                &log_path,
            )),
            NotReady::Timeout => failed(Error::StartTimeout {
                port,
                waited: l.timeout,
                log_tail: log_tail(&log_path, 2048),
            }),
        });
    }
    DashboardFile::new(port, Some(token.clone()), Some(pid))
        .write(l.dir)
        .map_err(Error::io("cannot write .kittify/.dashboard"))
        .map_err(failed)?;
    Ok(Started { port, pid, token })
}

/// Whether anything listens on `port` (after our own child was stopped: someone else).
fn port_taken(port: u16) -> bool {
    ListenerSnapshot::take(&PortSet::single(port)).is_ok_and(|s| s.holds(port))
}

fn log_says_in_use(log: &Path) -> bool {
    log_tail(log, 4096).contains("Address already in use")
}

/// The identity of a child just spawned, once the kernel shows the command
/// line we asked for (right after `spawn` it may still read empty, and an
/// identity recorded then would never match the process again). `None` when
/// the child already exited.
fn identity_after_exec(pid: u32, expected: &[OsString]) -> Option<ProcessIdentity> {
    let deadline = Instant::now() + Duration::from_millis(500);
    loop {
        let id = ProcessIdentity::read(pid)?;
        if id.argv() == expected || Instant::now() >= deadline {
            return Some(id);
        }
        std::thread::sleep(Duration::from_micros(50));
    }
}

/// Reserves a port of `ports` (from the top down) that is free, is not in
/// `lost`, and nobody else reserved; when none is, stops the orphaned
/// dashboards in the range (proven orphans only) and tries once more.
fn reserve_port(
    ports: &PortSet,
    dir: &Path,
    lost: &[u16],
    policy: StopPolicy,
) -> Result<Reservation, Error> {
    for attempt in 0..2 {
        let held =
            ListenerSnapshot::take(ports).map_err(Error::io("cannot list listening sockets"))?;
        for port in ports
            .iter_descending()
            .filter(|p| !held.holds(*p) && !lost.contains(p))
        {
            if let Some(r) = Reservation::try_acquire(port, dir)? {
                return Ok(r);
            }
        }
        if attempt == 1 || sweep_orphans(&held, policy) == 0 {
            return Err(Error::PortRangeFull {
                range: ports.clone(),
                holders: describe_holders(&held),
            });
        }
    }
    unreachable!("the second attempt returns")
}

/// Stops the proven orphans among the dashboards holding `held` (see
/// [`kitty_core::judge`] with [`Scope::Orphans`]). Returns how many it stopped.
fn sweep_orphans(held: &ListenerSnapshot, policy: StopPolicy) -> usize {
    let protected = kitty_core::ancestors_and_self();
    kitty_core::spec_kitty::identify_listeners(held.listeners(), &[])
        .into_iter()
        .filter_map(|l| match (l.owner, l.kind) {
            (Some(identity), ProcessKind::Dashboard(command)) => {
                Some((FoundDashboard { identity, command }, l.listener.port))
            }
            _ => None,
        })
        .filter_map(|(d, port)| {
            let permit = kitty_core::judge(
                &d,
                Scope::Orphans,
                &protected,
                kitty_core::spec_kitty::START_GRACE,
            )
            .verdict
            .ok()?;
            Some((permit, port))
        })
        .filter(|(permit, port)| kitty_core::stop(permit, Some(*port), policy).is_ok())
        .count()
}

fn describe_holders(held: &ListenerSnapshot) -> String {
    let owned = kitty_core::spec_kitty::identify_listeners(held.listeners(), &[]);
    let mut parts: Vec<String> = owned
        .iter()
        .take(5)
        .map(|l| match &l.owner {
            Some(o) => {
                let what = match &l.kind {
                    ProcessKind::Dashboard(c) => {
                        format!("dashboard of {}", c.project_dir.display())
                    }
                    ProcessKind::SyncDaemon => "sync daemon".into(),
                    ProcessKind::Foreign => o.command_line(),
                };
                format!("{} pid {} {}", l.listener.port, o.pid(), what)
            }
            None => format!("{} held by another user", l.listener.port),
        })
        .collect();
    if owned.len() > 5 {
        parts.push(format!("and {} more", owned.len() - 5));
    }
    kitty_core::mask_tokens(&parts.join("; "))
}

/// `exit status 3`, `killed by signal 9 (SIGKILL)`.
fn describe_status(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (_, Some(sig)) => format!("killed by signal {sig}"),
        _ => status.to_string(),
    }
}

fn start_failed(port: u16, reason: String, status: Option<ExitStatus>, log: &Path) -> Error {
    Error::StartFailed {
        port,
        reason,
        exit_status: status.and_then(|s| s.code()),
        log_tail: log_tail(log, 2048),
    }
}

/// Why a spawned dashboard is not ready.
pub(crate) enum NotReady {
    /// The child exited.
    Exited(ExitStatus),
    /// It listens on another port.
    WrongPort(u16),
    /// Something else answered on the port: someone else got it first.
    SomeoneElse,
    /// The deadline passed.
    Timeout,
}

/// Waits until `/api/health` on `port` answers with `project_dir` and `token`.
///
/// Each round checks whether the child exited (`waitpid` WNOHANG), then
/// tries to connect (refused at once until the server listens), and asks for
/// health once a connection succeeds; between rounds it waits up to 5 ms on
/// the child's pidfd, so an exit ends the wait at once. Readiness is
/// therefore seen within ~5 ms of the server answering. Every 20th round it
/// also checks that the child has not bound some other port.
pub(crate) fn wait_ready(
    child: &Permit,
    port: u16,
    project_dir: &Path,
    token: &str,
    deadline: Instant,
) -> Result<(), NotReady> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let pid = child.pid();
    for round in 0u64.. {
        if let Some(status) = sys::reap_if_child(pid) {
            return Err(NotReady::Exited(status));
        }
        if TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok() {
            match kitty_core::spec_kitty::fetch_health(port, Duration::from_secs(2)) {
                Ok(h)
                    if h.project_path.as_deref() == Some(project_dir)
                        && h.token() == Some(token) =>
                {
                    return Ok(());
                }
                Ok(_) => return Err(NotReady::SomeoneElse),
                Err(_) => {}
            }
        } else if round % 20 == 19
            && let Some(other) = listening_elsewhere(pid, port)
        {
            return Err(NotReady::WrongPort(other));
        }
        if Instant::now() >= deadline {
            return Err(NotReady::Timeout);
        }
        child.wait_exit(Duration::from_millis(5));
    }
    Err(NotReady::Timeout)
}

/// A port other than `port` on which `pid`, or a process below it, listens,
/// if any (an interpreter shim's forked child holds the socket).
fn listening_elsewhere(pid: u32, port: u16) -> Option<u16> {
    kitty_core::process::held_by_tree(pid)
        .ok()?
        .into_iter()
        .find(|l| l.port != port)
        .map(|l| l.port)
}

/// The last `max` bytes of a log file, lossy UTF-8, tokens masked.
pub(crate) fn log_tail(path: &Path, max: u64) -> String {
    let read = || -> io::Result<String> {
        let mut f = fs::File::open(path)?;
        let len = f.metadata()?.len();
        f.seek(SeekFrom::Start(len.saturating_sub(max)))?;
        let mut buf = Vec::new();
        f.read_to_end(&mut buf)?;
        Ok(String::from_utf8_lossy(&buf).trim().to_string())
    };
    read()
        .map(|t| kitty_core::mask_tokens(&t))
        .unwrap_or_default()
}
