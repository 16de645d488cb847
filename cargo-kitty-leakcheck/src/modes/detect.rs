//! Detecting leaks: what a run left behind, from a snapshot of the watched
//! ports taken before it, one taken after it, and the processes that descend
//! from it; and judging each once ([`Leak::judgement`]): the permit to stop
//! it, or why it may never be touched.
//!
//! The default mode, `wrap` and `check` use this module (`sweep` judges
//! with its own scope): the default mode and `wrap` pass their own pid
//! as the run's root (they are child subreapers, so everything the run orphans
//! is re-parented below them); `check` has no run below it and recognises the
//! run by the label its setup script exported.
//!
//! Something **appeared** when it is
//! - (a) a TCP listener on a watched port that the snapshot before did not
//!   have (same port and socket inode), whoever holds it; or
//! - (b) a spec-kitty dashboard process that descends from the run's root and
//!   is still alive, on any port or on none (an interrupted start-up that never
//!   bound, a dashboard on a port outside the watched set).
//!
//! It is a **leak** of the run when the run started it: it descends from the
//! run's root, or its environment carries the run's label
//! ([`RUN_LABEL_ENV`]), or (`check` only) it is a proven orphan; or when its
//! holder cannot be seen at all (doubt: reported as a leak, never touched).
//! What appeared but provably was not started by the run (a developer's
//! dashboard of another project, started while the tests ran) is reported
//! apart ([`Leaks::appeared`]), left alone, and does not fail the run.
//!
//! Listeners held by anything other than a dashboard are [`LeakKind::Foreign`]
//! (or [`LeakKind::SyncDaemon`]): they are reported and fail the run, but are
//! never stopped. One process is one [`Leak`], with all its new listeners.

use std::collections::{BTreeMap, HashSet};
use std::ffi::{OsStr, OsString};
use std::io;
use std::time::{Duration, Instant};

use kitty_core::PortSet;

use crate::findings::run::{Action, Leak, LeakKind, Leaks, Refusal, ReportMode, Runner, TestLabel};
use kitty_core::server::{OptionGrammar, PortArg, ServerProfile};
use kitty_core::spec_kitty::{
    DashboardClass, DashboardCommand, FoundDashboard, OrphanReason, ProcessKind, health_confirms,
    identify_listeners, names_the_server, project_dir_of,
};
use kitty_core::{
    Doubt, Listener, ListenerSnapshot, ProcessIdentity, ProcessTree, RUN_LABEL_ENV, Scope,
    ancestors_and_self, judge, judge_process,
};

use crate::config::{Kind, Policy, PortArgSpec};

/// How often [`settle`] looks again while listeners are still closing.
pub const SETTLE_POLL: Duration = Duration::from_millis(5);

impl Leak {
    fn of_process(identity: ProcessIdentity, kind: &ProcessKind, attr: &Attribution<'_>) -> Self {
        let from_run = attr.descendants.contains(&identity.pid());
        let carries_label = attr
            .label
            .is_some_and(|want| identity.env_var(RUN_LABEL_ENV).as_deref() == Some(want));
        let mut leak = Leak {
            kind: match kind {
                ProcessKind::Dashboard(_) => LeakKind::Dashboard,
                ProcessKind::SyncDaemon => LeakKind::SyncDaemon,
                ProcessKind::Foreign => LeakKind::Foreign,
            },
            pid: Some(identity.pid()),
            port: None,
            listeners: Vec::new(),
            command_line: Some(identity.command_line()),
            project_dir: None,
            project_exists: None,
            class: None,
            health: None,
            from_run,
            carries_label,
            test: test_label_of(&identity),
            // What the run did not start merely appeared; what it started
            // but is no dashboard is never stopped (a dashboard's judgement
            // is the judge's: `judge_dashboard` sets it below).
            judgement: Err(match kind {
                _ if !from_run && !carries_label => Refusal::Doubt(Doubt::NotFromRun),
                ProcessKind::SyncDaemon => Refusal::SyncDaemon,
                ProcessKind::Dashboard(_) | ProcessKind::Foreign => Refusal::Foreign,
            }),
            action: Action::Pending,
            identity: None,
            profile: None,
            age: Some(identity.age()),
            fails: true,
            allowed: None,
        };
        if let ProcessKind::Dashboard(cmd) = kind {
            leak.judge_dashboard(&identity, cmd, attr);
        }
        leak.identity = Some(identity);
        leak
    }

    /// A listener whose holder could not be found: reported, never touched.
    fn ownerless(listener: Listener) -> Self {
        Leak {
            kind: LeakKind::Foreign,
            pid: None,
            port: Some(listener.port),
            command_line: None,
            project_dir: None,
            project_exists: None,
            class: None,
            health: None,
            from_run: false,
            carries_label: false,
            test: None,
            judgement: Err(Refusal::HolderUnknown { uid: listener.uid }),
            action: Action::Pending,
            identity: None,
            listeners: vec![listener],
            profile: None,
            age: None,
            fails: true,
            allowed: None,
        }
    }

    /// A process of the run alive after it that is no dashboard (nor
    /// spec-kitty's sync daemon): a [`LeakKind::Server`] when a server
    /// profile recognises it, else a [`LeakKind::Process`]; with every
    /// socket it listens on, on any port.
    fn of_leftover(
        identity: ProcessIdentity,
        profile: Option<&ServerProfile>,
        all_listeners: &ListenerSnapshot,
        attr: &Attribution<'_>,
    ) -> Self {
        let mut leak = Leak::of_process(identity.clone(), &ProcessKind::Foreign, attr);
        leak.kind = if profile.is_some() {
            LeakKind::Server
        } else {
            LeakKind::Process
        };
        leak.profile = profile.map(|p| p.name.clone());
        let held: HashSet<u64> = identity.socket_inodes().into_iter().collect();
        leak.listeners = all_listeners
            .listeners()
            .iter()
            .filter(|l| held.contains(&l.inode))
            .cloned()
            .collect();
        leak.port = leak
            .listeners
            .first()
            .map(|l| l.port)
            .or_else(|| profile.and_then(|p| p.port_of(identity.argv())));
        leak
    }

    /// Applies the profile's `allow`, `fail` and `stop` to a leak of the
    /// run: an allowed survivor is never touched and never fails; a server
    /// or other process is judged ([`judge_process`]) only when `stop`
    /// names its kind.
    fn apply_policy(&mut self, attr: &Attribution<'_>) {
        let policy = attr.policy;
        let kind = policy_kind(self.kind);
        // On the command line's own bytes (its arguments joined by spaces),
        // never a lossy or masked copy.
        let line: Option<Vec<u8>> = self.identity.as_ref().map(|id| {
            id.argv()
                .iter()
                .map(|a| a.as_encoded_bytes())
                .collect::<Vec<_>>()
                .join(&b' ')
        });
        if let Some(line) = line
            && let Some(pattern) = policy.allow.iter().find(|p| p.matches(&line))
        {
            self.allowed = Some(pattern.as_str().to_string());
            self.fails = false;
            self.judgement = Err(Refusal::Allowed {
                pattern: pattern.as_str().to_string(),
            });
            return;
        }
        self.fails = policy.fail.contains(kind);
        match self.kind {
            LeakKind::Server | LeakKind::Process => {
                if !(self.from_run || self.carries_label) {
                    return;
                }
                if !policy.stop.contains(kind) {
                    self.judgement = Err(Refusal::NotStopped { kind: kind.name() });
                    return;
                }
                let Some(identity) = &self.identity else {
                    return;
                };
                self.judgement =
                    judge_process(identity, attr.scope(), attr.protected).map_err(Refusal::Doubt);
            }
            LeakKind::Dashboard if !policy.stop.contains(kind) && self.judgement.is_ok() => {
                self.judgement = Err(Refusal::NotStopped { kind: kind.name() });
            }
            _ => {}
        }
    }

    fn judge_dashboard(
        &mut self,
        identity: &ProcessIdentity,
        cmd: &DashboardCommand,
        attr: &Attribution<'_>,
    ) {
        let found = FoundDashboard {
            identity: identity.clone(),
            command: cmd.clone(),
        };
        let scope = attr.scope();
        // The run is over: a dashboard it left is starting only if its
        // spec-kitty starter still runs, however young it is.
        let judgement = judge(&found, scope, attr.protected, Duration::ZERO);
        self.project_exists = Some(!matches!(
            judgement.class,
            DashboardClass::Orphan {
                reason: OrphanReason::ProjectGone
            }
        ));
        // Absolute, as the process sees it: a relative `.` names its cwd.
        self.project_dir =
            Some(project_dir_of(identity, cmd).unwrap_or_else(|| cmd.project_dir.clone()));
        self.port = cmd.port;
        // First whose it is: what the run did not start merely appeared,
        // whatever else keeps it (another user's, another namespace).
        let belongs = match attr.mode {
            ReportMode::Run | ReportMode::Wrap => self.from_run || self.carries_label,
            ReportMode::Check => {
                self.carries_label || (judgement.class.is_orphan() && identity.is_ours())
            }
        };
        self.judgement = match judgement.verdict {
            _ if !belongs => Err(Refusal::Doubt(Doubt::NotFromRun)),
            verdict => verdict.map_err(Refusal::Doubt),
        };
        self.class = Some(judgement.class);
    }
}

/// The run whose leaks are looked for.
#[derive(Debug, Clone)]
pub struct Run {
    /// Its root: the pid of leakcheck itself (a child subreaper).
    pub root: u32,
    /// Its label ([`RUN_LABEL_ENV`]), when it has one.
    pub label: Option<OsString>,
    /// How it is recognised: the default mode and `wrap` by descent from
    /// the run's root (or its label); `check` by the label the setup script
    /// exported, or as a proven orphan.
    pub mode: ReportMode,
    /// What fails the run, what is stopped, what is allowed, which servers
    /// are recognised (`.config/kitty-leakcheck.toml`).
    pub policy: Policy,
}

/// What [`detect_leaks`] knows while it judges.
struct Attribution<'a> {
    descendants: &'a HashSet<u32>,
    label: Option<&'a OsStr>,
    protected: &'a HashSet<u32>,
    mode: ReportMode,
    policy: &'a Policy,
}

impl Attribution<'_> {
    /// The judge's scope: the run's subtree and label (run, `wrap`), or
    /// the label alone (`check`).
    fn scope(&self) -> Scope<'_> {
        match self.mode {
            ReportMode::Run | ReportMode::Wrap => Scope::Run {
                descendants: self.descendants,
                label: self.label,
            },
            ReportMode::Check => Scope::Check { label: self.label },
        }
    }
}

/// The server profiles in force: the built-in `http-server` (Python's
/// `http.server`), then each `[[server]]` of the configuration.
pub fn server_profiles(policy: &Policy) -> Vec<ServerProfile> {
    let mut profiles = vec![ServerProfile::python_http_server()];
    for spec in &policy.servers {
        let port = match &spec.port {
            PortArgSpec::Flag(flag) => PortArg::Flag {
                names: vec![flag.clone()],
                options: OptionGrammar::default(),
                default: None,
            },
            PortArgSpec::Positional { skip } => PortArg::Positional {
                options: OptionGrammar {
                    with_value: skip.clone(),
                    abbreviations: false,
                },
                default: None,
            },
        };
        profiles.push(ServerProfile {
            name: spec.name.clone(),
            program: spec.program.clone(),
            args: spec.args.iter().map(OsString::from).collect(),
            port,
            ports: None,
            health: spec.health.clone(),
            record: spec.record.clone(),
            directory: Vec::new(),
        });
    }
    profiles
}

/// The profile's name for the kind of a leak.
fn policy_kind(kind: LeakKind) -> Kind {
    match kind {
        LeakKind::Dashboard => Kind::Dashboards,
        LeakKind::SyncDaemon | LeakKind::Foreign => Kind::Listeners,
        LeakKind::Server => Kind::Servers,
        LeakKind::Process => Kind::Processes,
    }
}

/// Finds what appeared between `before` and `after` (both snapshots of
/// `ports`): (a) new listeners on watched ports and (b) live dashboard
/// processes that descend from the run's root; and sorts it into the run's
/// leaks and what merely appeared beside it. Reads only the run's subtree
/// ([`ProcessTree::read_below`]) and looks for the owners of new listeners
/// among its processes first (all of `/proc` only for those not found there).
pub fn detect_leaks(
    before: &ListenerSnapshot,
    after: &ListenerSnapshot,
    run: &Run,
    ports: &PortSet,
) -> Leaks {
    let descendants = match run.mode {
        ReportMode::Run | ReportMode::Wrap => {
            ProcessTree::read_below(run.root).descendants_of(run.root)
        }
        ReportMode::Check => Vec::new(),
    };
    let below: HashSet<u32> = descendants.iter().copied().collect();
    let new: Vec<Listener> = after
        .new_since(before)
        .filter(|l| ports.contains(l.port))
        .cloned()
        .collect();
    let protected = if new.is_empty() && descendants.is_empty() {
        HashSet::new()
    } else {
        ancestors_and_self()
    };
    let attr = Attribution {
        descendants: &below,
        label: run.label.as_deref(),
        protected: &protected,
        mode: run.mode,
        policy: &run.policy,
    };
    let servers = server_profiles(&run.policy);

    let mut by_pid: BTreeMap<u32, Leak> = BTreeMap::new();
    let mut ownerless = Vec::new();
    for owned in identify_listeners(&new, &descendants) {
        match owned.owner {
            Some(identity) => {
                let pid = identity.pid();
                by_pid
                    .entry(pid)
                    .or_insert_with(|| Leak::of_process(identity, &owned.kind, &attr))
                    .listeners
                    .push(owned.listener);
            }
            None => ownerless.push(Leak::ownerless(owned.listener)),
        }
    }
    // Every other process of the run alive after it: those below the run
    // (run, `wrap`), or those carrying its label anywhere (`check`).
    let leftovers: Vec<ProcessIdentity> = match run.mode {
        ReportMode::Run | ReportMode::Wrap => descendants
            .iter()
            .filter(|pid| !by_pid.contains_key(pid))
            .filter_map(|&pid| ProcessIdentity::read(pid))
            .collect(),
        // One read of each process: its identity carries its environment.
        ReportMode::Check => match run.label.as_deref() {
            Some(label) => ProcessTree::read()
                .pids()
                .filter(|&pid| pid != std::process::id() && !by_pid.contains_key(&pid))
                .filter_map(ProcessIdentity::read)
                .filter(|id| id.env_var(RUN_LABEL_ENV).as_deref() == Some(label))
                .collect(),
            None => Vec::new(),
        },
    };
    // Their sockets on any port, looked up once (a netlink dump) and only
    // when there are any.
    let all_listeners = if leftovers.is_empty() {
        ListenerSnapshot::default()
    } else {
        ListenerSnapshot::take(&PortSet::range(1..=u16::MAX)).unwrap_or_default()
    };
    for identity in leftovers {
        let pid = identity.pid();
        // A zombie or an exiting process reads as `None`; one caught in its
        // exec is waited out by the read. What still has no command line
        // (an exec stuck past the read's deadline) is reported as it is:
        // doubt means report.
        if protected.contains(&pid) {
            continue;
        }
        let kind = ProcessKind::of(&identity);
        if !matches!(kind, ProcessKind::Dashboard(_)) {
            if matches!(kind, ProcessKind::Foreign) {
                let profile = servers.iter().find(|p| p.matches(identity.argv()));
                by_pid.insert(
                    pid,
                    Leak::of_leftover(identity, profile, &all_listeners, &attr),
                );
            }
            continue;
        }
        // Its sockets among the watched listeners (in `wrap` mode they are
        // not new: there is no "before" to diff against).
        let held: HashSet<u64> = identity.socket_inodes().into_iter().collect();
        let mut leak = Leak::of_process(identity, &kind, &attr);
        leak.listeners = after
            .listeners()
            .iter()
            .filter(|l| held.contains(&l.inode))
            .cloned()
            .collect();
        // A dashboard told `--port 0` (4.x) names no port: the one it
        // holds, wherever it is, is its port.
        if leak.listeners.is_empty()
            && let ProcessKind::Dashboard(DashboardCommand { port: None, .. }) = &kind
        {
            leak.listeners = kitty_core::process::held_by_tree(pid).unwrap_or_default();
        }
        by_pid.insert(pid, leak);
    }

    // A listener on a watched port held by a process of the run that a
    // server profile recognises is that server.
    for leak in by_pid.values_mut() {
        if leak.kind == LeakKind::Foreign
            && (leak.from_run || leak.carries_label)
            && let Some(profile) = leak
                .identity
                .as_ref()
                .and_then(|id| servers.iter().find(|p| p.matches(id.argv())))
        {
            leak.kind = LeakKind::Server;
            leak.profile = Some(profile.name.clone());
        }
    }
    for leak in by_pid.values_mut() {
        leak.apply_policy(&attr);
    }
    let (mut appeared, mut leaks): (Vec<Leak>, Vec<Leak>) = by_pid
        .into_values()
        .chain(ownerless)
        .partition(Leak::not_from_run);
    for leak in leaks.iter_mut().chain(appeared.iter_mut()) {
        if let Some(first) = leak.listeners.first() {
            leak.port = Some(first.port);
            leak.health = match &leak.profile {
                Some(name) => servers
                    .iter()
                    .find(|p| &p.name == name)
                    .and_then(|p| p.answers(first.port, HEALTH_TIMEOUT)),
                None => second_opinion(leak, first.port),
            };
        }
    }
    leaks.sort_by_key(|l| (!l.is_dashboard(), !l.fails, l.port, l.pid));
    appeared.sort_by_key(|l| (!l.is_dashboard(), l.port, l.pid));
    Leaks {
        leaks,
        appeared,
        after: after.clone(),
    }
}

/// Asks a leaked dashboard's `/api/health` whether it serves the project its
/// command line names (a live dashboard answers in about a millisecond).
fn second_opinion(leak: &Leak, port: u16) -> Option<bool> {
    let identity = leak.identity.as_ref()?;
    let cmd = DashboardCommand::of(identity)?;
    health_confirms(port, &cmd, HEALTH_TIMEOUT)
}

/// How long a leaked dashboard gets to answer `/api/health`.
const HEALTH_TIMEOUT: Duration = Duration::from_millis(300);

/// Takes the snapshot after the run and finds its leaks, waiting up to
/// `grace` for listeners that are still closing: it looks every
/// [`SETTLE_POLL`] and returns as soon as nothing has leaked, or at the
/// deadline with what is still there (`grace` zero: one look).
pub fn settle(
    before: &ListenerSnapshot,
    ports: &PortSet,
    run: &Run,
    grace: Duration,
) -> io::Result<Leaks> {
    let deadline = Instant::now() + grace;
    loop {
        let after = ListenerSnapshot::take(ports)?;
        // Poll on the cheap signs (a 0.1 ms netlink dump, the run's own
        // subtree); owners are looked up once, at the end.
        let quiet =
            after.new_since(before).next().is_none() && server_below(run.root) == Below::Nothing;
        if quiet || Instant::now() >= deadline {
            return Ok(detect_leaks(before, &after, run, ports));
        }
        std::thread::sleep(SETTLE_POLL.min(deadline.saturating_duration_since(Instant::now())));
    }
}

/// What the run's subtree holds that names the dashboard server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Below {
    /// Nothing.
    Nothing,
    /// A process whose command line names the server but which is not (yet)
    /// one: a wrapper, or a dashboard between its fork and its exec (`setsid
    /// python -m ...` reads as `setsid` until it execs).
    Pending,
    /// A live dashboard process (rule (b)).
    Dashboard,
}

/// Whether a live dashboard process descends from `root`, or one may be
/// about to (see [`Below::Pending`]).
pub fn server_below(root: u32) -> Below {
    let mut seen = Below::Nothing;
    for id in ProcessTree::read_below(root)
        .descendants_of(root)
        .into_iter()
        .filter_map(ProcessIdentity::read)
    {
        if matches!(ProcessKind::of(&id), ProcessKind::Dashboard(_)) {
            return Below::Dashboard;
        }
        // A process still in its execve (no argv yet) is not a case of its
        // own: ProcessIdentity::read has already waited that window out.
        if names_the_server(id.argv()) {
            seen = Below::Pending;
        }
    }
    seen
}

/// Waits up to `limit` while something below `root` may be about to exec into
/// a dashboard ([`Below::Pending`]), so that it is seen as one; returns at
/// once when nothing is pending (the common case: one look at the subtree).
pub fn wait_for_pending_exec(root: u32, limit: Duration) {
    let deadline = Instant::now() + limit;
    while server_below(root) == Below::Pending && Instant::now() < deadline {
        std::thread::sleep(SETTLE_POLL);
    }
}

// The variable kitty-fixtures sets on the dashboards it starts: the name of
// the test thread that started them.
use kitty_core::TEST_ENV as FIXTURES_TEST_ENV;

/// From a process's initial environment; `None` when it has none.
pub fn test_label_of(identity: &ProcessIdentity) -> Option<TestLabel> {
    test_label_from_vars(|k| identity.env_var(k))
}

/// [`test_label_of`] this process's own environment (the `wrap` mode's test).
pub fn test_label_of_this_process() -> Option<TestLabel> {
    test_label_from_vars(|k| std::env::var_os(k))
}

/// The test that started a process ([`TestLabel`]), as its environment says: nextest's
/// `NEXTEST_TEST_NAME` and `NEXTEST_BINARY_ID`, else pytest's
/// `PYTEST_CURRENT_TEST` (`tests/x.py::test_name (call)`, named without the
/// phase), else the `KITTY_FIXTURES_TEST` a kitty-fixtures project sets on
/// the dashboards it starts (`cargo test` itself sets nothing).
fn test_label_from_vars(var: impl Fn(&str) -> Option<OsString>) -> Option<TestLabel> {
    let text = |k| {
        var(k)
            .map(|v| v.to_string_lossy().into_owned())
            .filter(|v| !v.is_empty())
    };
    let (name, binary_id) = (text("NEXTEST_TEST_NAME"), text("NEXTEST_BINARY_ID"));
    if name.is_some() || binary_id.is_some() {
        return Some(TestLabel {
            name,
            binary_id,
            runner: Runner::Nextest,
        });
    }
    if let Some(current) = text("PYTEST_CURRENT_TEST") {
        return Some(TestLabel {
            name: Some(pytest_test_name(&current).to_string()),
            binary_id: None,
            runner: Runner::Pytest,
        });
    }
    text(FIXTURES_TEST_ENV).map(|name| TestLabel {
        name: Some(name),
        binary_id: None,
        runner: Runner::KittyFixtures,
    })
}

/// `tests/x.py::test_name (call)` -> `tests/x.py::test_name`.
fn pytest_test_name(current: &str) -> &str {
    for phase in [" (setup)", " (call)", " (teardown)"] {
        if let Some(name) = current.strip_suffix(phase) {
            return name;
        }
    }
    current
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::findings::run::Runner;
    use crate::findings::run::Verdict;
    use std::collections::HashMap;
    use std::net::{Ipv4Addr, TcpListener};

    fn this_run() -> Run {
        Run {
            root: std::process::id(),
            label: None,
            mode: ReportMode::Run,
            policy: Policy::default(),
        }
    }

    fn free_port_set() -> (TcpListener, PortSet) {
        let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
        let port = l.local_addr().expect("addr").port();
        (l, PortSet::single(port))
    }

    #[test]
    fn a_listener_there_before_is_not_a_leak() {
        let (l, ports) = free_port_set();
        let before = ListenerSnapshot::take(&ports).expect("snapshot");
        let after = ListenerSnapshot::take(&ports).expect("snapshot");
        let leaks = detect_leaks(&before, &after, &this_run(), &ports);
        assert!(leaks.is_empty(), "{leaks:?}");
        assert_eq!(leaks.verdict(), Verdict::Clean);
        drop(l);
    }

    #[test]
    fn a_new_listener_not_from_the_run_is_reported_apart_and_fails_nothing() {
        let (l, ports) = free_port_set();
        let port = l.local_addr().expect("addr").port();
        drop(l);
        let before = ListenerSnapshot::take(&ports).expect("snapshot");
        let Ok(l) = TcpListener::bind((Ipv4Addr::LOCALHOST, port)) else {
            return;
        };
        let leaks = settle(&before, &ports, &this_run(), Duration::ZERO).expect("settle");
        assert!(leaks.leaks.is_empty(), "{leaks:?}");
        assert_eq!(leaks.appeared.len(), 1, "{leaks:?}");
        let seen = &leaks.appeared[0];
        assert_eq!(
            (seen.kind, seen.pid, seen.port),
            (LeakKind::Foreign, Some(std::process::id()), Some(port))
        );
        assert!(!seen.from_run, "we are not our own descendant");
        assert_eq!(seen.doubt(), Some(&Doubt::NotFromRun));
        assert_eq!(leaks.verdict(), Verdict::Clean, "not the run's: no failure");
        drop(l);
    }

    fn label(vars: &[(&str, &str)]) -> Option<TestLabel> {
        let vars: HashMap<&str, &str> = vars.iter().copied().collect();
        test_label_from_vars(|k| vars.get(k).map(OsString::from))
    }

    #[test]
    fn a_test_is_named_by_nextest_then_pytest_then_the_fixtures() {
        let pytest =
            label(&[("PYTEST_CURRENT_TEST", "tests/x.py::test_leaks (call)")]).expect("pytest");
        assert_eq!(
            (pytest.name.as_deref(), pytest.runner),
            (Some("tests/x.py::test_leaks"), Runner::Pytest)
        );
        let both = label(&[
            ("PYTEST_CURRENT_TEST", "tests/x.py::test_leaks (setup)"),
            ("NEXTEST_TEST_NAME", "it::leaks"),
            ("NEXTEST_BINARY_ID", "mini::it"),
        ])
        .expect("nextest");
        assert_eq!(both.describe(), "it::leaks in mini::it");
        assert_eq!(both.runner, Runner::Nextest);
        let fixtures = label(&[(FIXTURES_TEST_ENV, "tests::serves")]).expect("fixtures");
        assert_eq!(fixtures.runner, Runner::KittyFixtures);
        assert!(label(&[]).is_none());
        assert!(label(&[(FIXTURES_TEST_ENV, "")]).is_none());
    }
}
