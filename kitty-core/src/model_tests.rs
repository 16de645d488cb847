//! The model test of the rule: the decisions (`stop::plan_members`,
//! `permit::plan_run_group`, `judge::decide`) run against a simulated
//! process table ([`Sim`]) whose processes exit, hand their pids (and so
//! free group and session numbers) on to newcomers, exec, move to a new
//! session, change owner or namespace, between any two operations a decision
//! makes. proptest throws random tables and random event scripts at them.
//!
//! The property: nothing is ever planned for a process that was not proved
//! (checked against the simulation's ground truth, by each process's hidden
//! serial, at the moment the decision read it), and in a table that holds
//! still, everything that is proved is planned.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

use proptest::prelude::*;

use crate::RUN_LABEL_ENV;
use crate::judge::{Doubt, Grounds, Scope, decide, decide_process};
use crate::os::{DirState, Namespaces};
use crate::permit::plan_run_group;
use crate::process::ProcessIdentity;
use crate::process::table::ProcessTable;
use crate::spec_kitty::{DashboardClass, FoundDashboard, OrphanReason};
use crate::spec_kitty::{DashboardCommand, SERVER_MODULE};
use crate::stop::plan_members;

const OURS: u32 = 1000;
const HERE: Namespaces = Namespaces {
    pid: 1,
    mnt: 2,
    net: 3,
    root: (8, 2),
};
/// Where a process may live: here, or elsewhere in one respect.
const PLACES: [Namespaces; 5] = [
    HERE,
    Namespaces { pid: 9, ..HERE },
    Namespaces { mnt: 9, ..HERE },
    Namespaces { net: 9, ..HERE },
    Namespaces {
        root: (8, 99),
        ..HERE
    },
];
/// The pids of the simulation: few, so that they are reused often.
const PIDS: u32 = 24;
/// The serial of an init outside the run (pid 30, its own session): what
/// it forks is never the run's, and may take a pid the run's process had.
const OUTSIDER: u64 = 1_000_000;
/// The serial of a process in our group that is not the run's (`| tee`).
const TEE: u64 = 1_000_001;

fn server_argv(port: u16) -> Vec<OsString> {
    ["python3", "-m", SERVER_MODULE, "/p", &port.to_string()]
        .iter()
        .map(OsString::from)
        .collect()
}

fn helper_argv() -> Vec<OsString> {
    vec!["sleep".into(), "300".into()]
}

#[derive(Debug, Clone)]
struct Proc {
    serial: u64,
    pid: u32,
    parent: Option<u64>,
    pgid: u32,
    sid: u32,
    start: u64,
    uid: u32,
    argv: Vec<OsString>,
    ns: Namespaces,
    alive: bool,
}

/// What can happen between two operations.
#[derive(Debug, Clone)]
enum Event {
    /// Nothing.
    Still,
    /// The process at this index (of the live ones) exits and is reaped.
    Exit(usize),
    /// A newcomer takes the lowest free pid: forked by the live process at
    /// `parent` (an index of the live ones), in a new session (`daemon`:
    /// its group and session are its own pid, or a free number that was a
    /// group's) or its parent's, with this owner, place and program.
    Fork {
        parent: usize,
        daemon: bool,
        uid: bool,
        place: usize,
        server: bool,
    },
    /// The live process at this index execs the server, or a helper.
    Exec(usize, bool),
    /// The live process at this index moves to a session of its own.
    Setsid(usize),
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        3 => Just(Event::Still),
        3 => any::<usize>().prop_map(Event::Exit),
        4 => (any::<usize>(), any::<bool>(), prop::bool::weighted(0.2), 0..PLACES.len(), any::<bool>())
            .prop_map(|(parent, daemon, uid, place, server)| Event::Fork {
                parent,
                daemon,
                uid,
                place,
                server
            }),
        1 => (any::<usize>(), any::<bool>()).prop_map(|(i, s)| Event::Exec(i, s)),
        1 => any::<usize>().prop_map(Event::Setsid),
    ]
}

/// One read a decision made: who had the pid, and the truth then.
#[derive(Debug, Clone)]
struct Seen {
    serial: u64,
    identity: ProcessIdentity,
    /// The serials of its ancestors, nearest first, at that moment.
    ancestors: Vec<u64>,
    /// Which serials were alive at that moment.
    alive: HashSet<u64>,
    /// Its parent's serial at that moment.
    parent: Option<u64>,
}

#[derive(Debug, Default)]
struct World {
    procs: Vec<Proc>,
    tick: u64,
    next_serial: u64,
    script: Vec<Event>,
    next_event: usize,
    seen: Vec<Seen>,
    /// The run label each process's environment carries, by serial (a fork
    /// inherits its parent's).
    labels: HashMap<u64, OsString>,
}

impl World {
    fn live(&self) -> Vec<usize> {
        (0..self.procs.len())
            .filter(|&i| self.procs[i].alive)
            .collect()
    }

    fn by_pid(&self, pid: u32) -> Option<&Proc> {
        self.procs.iter().find(|p| p.alive && p.pid == pid)
    }

    fn by_serial(&self, serial: u64) -> Option<&Proc> {
        self.procs.iter().find(|p| p.serial == serial)
    }

    /// A number is free when no live process uses it as pid, group or session.
    fn free(&self, n: u32) -> bool {
        !self
            .procs
            .iter()
            .any(|p| p.alive && (p.pid == n || p.pgid == n || p.sid == n))
    }

    fn spawn(&mut self, p: Proc) -> u64 {
        let serial = self.next_serial;
        self.next_serial += 1;
        self.procs.push(Proc { serial, ..p });
        serial
    }

    /// The live parent's pid, as the kernel shows it: 1 once it is gone.
    fn ppid(&self, p: &Proc) -> u32 {
        p.parent
            .and_then(|s| self.by_serial(s))
            .filter(|q| q.alive)
            .map_or(1, |q| q.pid)
    }

    fn identity(&self, p: &Proc) -> ProcessIdentity {
        ProcessIdentity::modelled(
            p.pid,
            self.ppid(p),
            p.pgid,
            p.sid,
            p.start,
            p.uid,
            p.argv.clone(),
            None,
            Some(p.ns),
        )
    }

    fn ancestors(&self, p: &Proc) -> Vec<u64> {
        let mut out = Vec::new();
        let mut at = p.parent;
        while let Some(s) = at {
            match self.by_serial(s).filter(|q| q.alive) {
                Some(q) => {
                    out.push(s);
                    at = q.parent;
                }
                None => break,
            }
        }
        out
    }

    /// Applies the next event of the script (time passes too).
    fn step(&mut self) {
        self.tick += 1;
        let Some(e) = self.script.get(self.next_event).cloned() else {
            return;
        };
        self.next_event += 1;
        let live = self.live();
        // Index 0 is the root (leakcheck, or whoever holds the permit): it
        // never exits nor moves.
        let pick = |i: usize| {
            let k = *live.get(1 + i % live.len().saturating_sub(1).max(1))?;
            (self.procs[k].serial != OUTSIDER && self.procs[k].serial != TEE).then_some(k)
        };
        match e {
            Event::Still => {}
            Event::Exit(i) => {
                if let Some(k) = pick(i) {
                    self.procs[k].alive = false;
                    // Its children go to the nearest subreaper: the root
                    // (leakcheck is one) when it descends from it, else the
                    // outsider's init.
                    let dead = self.procs[k].serial;
                    let reaper = if dead == OUTSIDER
                        || !self.ancestors(&self.procs[k].clone()).contains(&0)
                    {
                        OUTSIDER
                    } else {
                        0
                    };
                    for q in self.procs.iter_mut().filter(|q| q.parent == Some(dead)) {
                        q.parent = Some(reaper);
                    }
                }
            }
            Event::Fork {
                parent,
                daemon,
                uid,
                place,
                server,
            } => {
                let Some(pid) = (2..PIDS).find(|&n| self.free(n)) else {
                    return;
                };
                let parent = live[parent % live.len()];
                let par = self.procs[parent].clone();
                let (pgid, sid) = if daemon {
                    // A double-forked daemon's session: a free number, the
                    // lowest that once was a group's, else its own pid.
                    let old = self
                        .procs
                        .iter()
                        .map(|p| p.pgid)
                        .filter(|&n| n != pid && self.free(n))
                        .min()
                        .unwrap_or(pid);
                    (old, old)
                } else {
                    (par.pgid, par.sid)
                };
                let argv = if server {
                    server_argv(9300)
                } else {
                    helper_argv()
                };
                let label = self.labels.get(&par.serial).cloned();
                let child = self.spawn(Proc {
                    serial: 0,
                    pid,
                    parent: Some(par.serial),
                    pgid,
                    sid,
                    start: self.tick,
                    uid: if uid { OURS + 1 } else { OURS },
                    argv,
                    ns: PLACES[place],
                    alive: true,
                });
                if let Some(label) = label {
                    self.labels.insert(child, label);
                }
            }
            Event::Exec(i, server) => {
                if let Some(k) = pick(i) {
                    self.procs[k].argv = if server {
                        server_argv(9300)
                    } else {
                        helper_argv()
                    };
                }
            }
            Event::Setsid(i) => {
                if let Some(k) = pick(i) {
                    let pid = self.procs[k].pid;
                    if self.procs[k].pgid != pid {
                        self.procs[k].pgid = pid;
                        self.procs[k].sid = pid;
                    }
                }
            }
        }
    }
}

/// The simulated table: every operation lets the next scripted event happen
/// first.
struct Sim(RefCell<World>);

impl Sim {
    fn world(&self) -> std::cell::Ref<'_, World> {
        self.0.borrow()
    }
}

impl ProcessTable for Sim {
    type Pin = u64;

    fn group_members(&self, pgid: u32) -> Vec<u32> {
        let mut w = self.0.borrow_mut();
        w.step();
        w.procs
            .iter()
            .filter(|p| p.alive && p.pgid == pgid)
            .map(|p| p.pid)
            .collect()
    }

    fn below(&self, root: u32) -> Vec<(u32, u32)> {
        let mut w = self.0.borrow_mut();
        w.step();
        let Some(r) = w.by_pid(root).map(|p| p.serial) else {
            return Vec::new();
        };
        let mut out: Vec<(u32, u32)> = w
            .procs
            .iter()
            .filter(|p| p.alive && w.ancestors(p).contains(&r))
            .map(|p| (p.pid, w.ppid(p)))
            .collect();
        out.sort_unstable();
        out
    }

    fn pin(&self, pid: u32) -> Option<u64> {
        let mut w = self.0.borrow_mut();
        w.step();
        w.by_pid(pid).map(|p| p.serial)
    }

    fn read(&self, pid: u32) -> Option<ProcessIdentity> {
        let mut w = self.0.borrow_mut();
        w.step();
        let p = w.by_pid(pid)?.clone();
        let identity = w.identity(&p);
        let seen = Seen {
            serial: p.serial,
            identity: identity.clone(),
            ancestors: w.ancestors(&p),
            alive: w
                .procs
                .iter()
                .filter(|q| q.alive)
                .map(|q| q.serial)
                .collect(),
            parent: p.parent,
        };
        w.seen.push(seen);
        Some(identity)
    }

    fn exited(&self, pin: &u64) -> bool {
        let mut w = self.0.borrow_mut();
        w.step();
        !w.by_serial(*pin).is_some_and(|p| p.alive)
    }

    fn own_uid(&self) -> u32 {
        OURS
    }

    fn own_namespaces(&self) -> Option<Namespaces> {
        Some(HERE)
    }

    fn cwd_state(&self, _pid: u32) -> DirState {
        DirState::Exists
    }

    fn canonicalize(&self, path: &Path) -> Option<PathBuf> {
        Some(path.to_path_buf())
    }

    fn env_var(&self, pid: u32, name: &str) -> Option<OsString> {
        let mut w = self.0.borrow_mut();
        w.step();
        let serial = w.by_pid(pid)?.serial;
        (name == RUN_LABEL_ENV)
            .then(|| w.labels.get(&serial).cloned())
            .flatten()
    }

    fn live_reservation_owner(
        &self,
        _identity: &ProcessIdentity,
        _command: &DashboardCommand,
    ) -> Option<u32> {
        None
    }
}

/// The root (pid 1, us: leakcheck, a subreaper) and a dashboard leading its
/// own session (pid 2).
fn root_and_leader() -> Vec<Proc> {
    vec![
        Proc {
            serial: 0,
            pid: 1,
            parent: None,
            pgid: 1,
            sid: 1,
            start: 0,
            uid: OURS,
            argv: vec!["leakcheck".into()],
            ns: HERE,
            alive: true,
        },
        Proc {
            serial: 1,
            pid: 2,
            parent: Some(0),
            pgid: 2,
            sid: 2,
            start: 1,
            uid: OURS,
            argv: server_argv(9300),
            ns: HERE,
            alive: true,
        },
    ]
}

/// A starting table: the root (pid 1, us), a dashboard leading its own
/// session (pid 2) and `members` in its group; `others` elsewhere.
fn table() -> impl Strategy<Value = Vec<Proc>> {
    let member = (
        any::<bool>(),
        any::<bool>(),
        prop::bool::weighted(0.2),
        0..PLACES.len(),
        any::<bool>(),
    );
    prop::collection::vec(member, 0..8).prop_map(|members| {
        let mut procs = root_and_leader();
        for (i, (child_of_leader, in_group, other_uid, place, server)) in
            members.into_iter().enumerate()
        {
            let pid = 3 + i as u32;
            let (pgid, sid) = if in_group { (2, 2) } else { (1, 1) };
            procs.push(Proc {
                serial: 2 + i as u64,
                pid,
                parent: Some(if child_of_leader { 1 } else { 0 }),
                pgid,
                sid,
                start: 2 + i as u64,
                uid: if other_uid { OURS + 1 } else { OURS },
                argv: if server {
                    server_argv(9300)
                } else {
                    helper_argv()
                },
                ns: PLACES[place],
                alive: true,
            });
        }
        procs
    })
}

fn world(mut procs: Vec<Proc>, script: Vec<Event>) -> Sim {
    let next_serial = procs.len() as u64;
    procs.push(Proc {
        serial: OUTSIDER,
        pid: 30,
        parent: None,
        pgid: 30,
        sid: 30,
        start: 0,
        uid: OURS,
        argv: vec!["init".into()],
        ns: HERE,
        alive: true,
    });
    // `leakcheck ... | tee log`: the shell put tee in our process group, but
    // it is not the run's; what it forks is in our group too.
    procs.push(Proc {
        serial: TEE,
        pid: 31,
        parent: Some(OUTSIDER),
        pgid: 1,
        sid: 1,
        start: 0,
        uid: OURS,
        argv: vec!["tee".into()],
        ns: HERE,
        alive: true,
    });
    Sim(RefCell::new(World {
        procs,
        tick: 100,
        next_serial,
        script,
        next_event: 0,
        seen: Vec::new(),
        labels: HashMap::new(),
    }))
}

/// The read through which `identity` was seen of `serial`, if it was.
fn seen_of<'a>(w: &'a World, serial: u64, identity: &ProcessIdentity) -> Option<&'a Seen> {
    w.seen
        .iter()
        .rev()
        .find(|s| s.serial == serial && &s.identity == identity)
}

/// The proof of a group member, on the truth of one moment.
fn proved_member(seen: &Seen, leader: &Proc, dashboard: &DashboardCommand, since: u64) -> bool {
    let id = &seen.identity;
    seen.alive.contains(&leader.serial)
        && id.pgid() == leader.pid
        && id.sid() == leader.sid
        && id.uid() == OURS
        && id.place_from(Some(HERE)) == crate::process::Place::Here
        && id.start_ticks() >= leader.start
        && (DashboardCommand::of(id).as_ref() == Some(dashboard)
            || (seen.parent == Some(leader.serial) && id.start_ticks() >= since))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]

    /// The group plan: every member planned was, when read, the process the
    /// pin holds, and proved by the truth of that moment (the leader alive,
    /// in its group and session, ours, here, no older than it, the same
    /// dashboard or its child since `since`); with no events, every proved
    /// member is planned.
    #[test]
    fn the_group_plan_proves_every_member_it_plans(
        procs in table(),
        script in prop::collection::vec(event(), 0..40),
        since in 0u64..12,
    ) {
        let still = script.is_empty();
        let sim = world(procs, script);
        let leader = sim.world().procs[1].clone();
        let leader_id = sim.world().identity(&leader);
        let dashboard = DashboardCommand::of(&leader_id).expect("the leader is a dashboard");
        let plan = plan_members(&sim, &leader.serial, &leader_id, Some(&dashboard), since);
        let w = sim.world();
        for (pin, id) in &plan.proved {
            let seen = seen_of(&w, *pin, id);
            prop_assert!(seen.is_some(), "planned {id:?} was never read of its pin {pin}");
            let seen = seen.expect("checked");
            prop_assert!(
                proved_member(seen, &leader, &dashboard, since),
                "planned without proof: {seen:?}"
            );
        }
        if still {
            let planned: HashSet<u64> = plan.proved.iter().map(|(p, _)| *p).collect();
            for p in w.procs.iter().filter(|p| p.alive && p.serial != leader.serial) {
                let seen = Seen {
                    serial: p.serial,
                    identity: w.identity(p),
                    ancestors: w.ancestors(p),
                    alive: w.procs.iter().filter(|q| q.alive).map(|q| q.serial).collect(),
                    parent: p.parent,
                };
                if proved_member(&seen, &leader, &dashboard, since) {
                    prop_assert!(planned.contains(&p.serial), "a proved member was left out: {p:?}");
                }
            }
        }
    }

    /// Once the leader is gone, nothing is planned in its name, whoever has
    /// its number now.
    #[test]
    fn a_gone_leader_plans_nothing(
        procs in table(),
        script in prop::collection::vec(event(), 0..40),
    ) {
        let sim = world(procs, script);
        let leader = sim.world().procs[1].clone();
        let leader_id = sim.world().identity(&leader);
        let dashboard = DashboardCommand::of(&leader_id).expect("dashboard");
        sim.0.borrow_mut().procs[1].alive = false;
        let plan = plan_members(&sim, &leader.serial, &leader_id, Some(&dashboard), 0);
        prop_assert!(plan.proved.is_empty(), "planned for a gone leader: {:?}", plan.proved);
    }

    /// The forwarder's plan: every process planned was, when read, the one
    /// its pin holds, a descendant of the root and in the root's group; with
    /// no events, every such process is planned.
    #[test]
    fn the_forwarders_plan_reaches_only_the_runs_processes_in_our_group(
        procs in table(),
        script in prop::collection::vec(event(), 0..40),
    ) {
        let still = script.is_empty();
        let sim = world(procs, script);
        let plan = plan_run_group(&sim, 1, 1, &HashSet::new());
        let w = sim.world();
        for (pin, id) in &plan {
            let seen = seen_of(&w, **pin, id);
            prop_assert!(seen.is_some(), "planned {id:?} was never read of its pin");
            let seen = seen.expect("checked");
            prop_assert!(seen.ancestors.contains(&0), "not the run's: {seen:?}");
            prop_assert_eq!(seen.identity.pgid(), 1, "not in our group: {:?}", seen);
        }
        if still {
            let planned: HashSet<u64> = plan.iter().map(|(p, _)| **p).collect();
            for p in w
                .procs
                .iter()
                .filter(|p| p.alive && p.pgid == 1 && w.ancestors(p).contains(&0))
            {
                prop_assert!(planned.contains(&p.serial), "left out: {p:?}");
            }
        }
    }

    /// judge's rule: never for another uid, place or an ancestor, and the
    /// scope decides the rest as judge.rs documents.
    #[test]
    fn judge_never_passes_another_user_place_or_an_ancestor(
        uid_other in any::<bool>(),
        place in 0..PLACES.len(),
        ancestor in any::<bool>(),
        descends in any::<bool>(),
        class in 0usize..4,
        scope in 0usize..4,
    ) {
        let sim = world(Vec::new(), Vec::new());
        let proc_ = Proc {
            serial: 0,
            pid: 7,
            parent: None,
            pgid: 7,
            sid: 7,
            start: 1,
            uid: if uid_other { OURS + 1 } else { OURS },
            argv: server_argv(9300),
            ns: PLACES[place],
            alive: true,
        };
        let identity = sim.world().identity(&proc_);
        let command = DashboardCommand::of(&identity).expect("dashboard");
        let found = FoundDashboard { identity, command };
        let class = match class {
            0 => DashboardClass::Orphan { reason: OrphanReason::ProjectGone },
            1 => DashboardClass::Unrecorded,
            2 => DashboardClass::Live,
            _ => DashboardClass::Starting { because: crate::spec_kitty::StartingBecause::Young },
        };
        let descendants: HashSet<u32> = if descends { HashSet::from([7]) } else { HashSet::new() };
        let scope = match scope {
            0 => Scope::Run { descendants: &descendants, label: None },
            1 => Scope::Sweep { all: false },
            2 => Scope::Orphans,
            _ => Scope::Project { dir: Path::new("/p") },
        };
        let protected: HashSet<u32> = if ancestor { HashSet::from([7]) } else { HashSet::new() };
        let verdict = decide(&sim, &found, &class, scope, &protected);
        let here = place == 0;
        if !here || uid_other || ancestor {
            prop_assert!(verdict.is_err(), "passed: {verdict:?}");
            return Ok(());
        }
        let want = match (scope, &class) {
            (Scope::Run { .. }, _) if descends => Ok(Grounds::DescendsFromRun),
            (Scope::Run { .. }, _) => Err(Doubt::NotFromRun),
            (Scope::Sweep { .. } | Scope::Orphans, DashboardClass::Orphan { reason }) => {
                Ok(Grounds::Orphan { reason: reason.clone() })
            }
            (Scope::Sweep { .. }, DashboardClass::Unrecorded) => Ok(Grounds::Unrecorded),
            (Scope::Project { .. }, _) => Ok(Grounds::ServesProject),
            _ => Err(Doubt::NotAnOrphan),
        };
        match (&verdict, &want) {
            (Ok(got), Ok(want)) => prop_assert_eq!(got, want),
            (Err(_), Err(_)) => {}
            _ => prop_assert!(false, "{verdict:?}, wanted {want:?}"),
        }
    }
}

#[test]
fn the_simulation_reuses_pids_and_group_numbers() {
    // The model is only worth its properties if reuse happens in it.
    let procs = root_and_leader();
    let sim = world(
        procs,
        vec![
            Event::Exit(0),
            Event::Fork {
                parent: 0,
                daemon: true,
                uid: false,
                place: 0,
                server: false,
            },
        ],
    );
    let _ = sim.pin(2);
    let _ = sim.pin(2);
    let w = sim.world();
    let newcomer = w.by_pid(2).expect("pid 2 was handed on");
    assert_ne!(newcomer.serial, 1);
    assert_eq!(
        (newcomer.pgid, newcomer.sid),
        (2, 2),
        "a daemon in the old group's number"
    );
}

/// The run's label in the simulation, and another run's.
const LABEL: &str = "lk-the-run";
const OTHER_LABEL: &str = "lk-another-run";

/// One process that is not a dashboard, as [`decide_process`] may meet it.
#[derive(Debug, Clone)]
struct Generic {
    other_uid: bool,
    /// An index of [`PLACES`], or `PLACES.len()`: its namespaces unreadable.
    place: usize,
    ancestor: bool,
    descends: bool,
    /// 0: no label; 1: the run's; 2: another run's.
    label: u8,
    server: bool,
}

fn generic() -> impl Strategy<Value = Generic> {
    (
        prop::bool::weighted(0.2),
        prop_oneof![3 => Just(0usize), 2 => 1..=PLACES.len()],
        prop::bool::weighted(0.2),
        any::<bool>(),
        0u8..3,
        any::<bool>(),
    )
        .prop_map(
            |(other_uid, place, ancestor, descends, label, server)| Generic {
                other_uid,
                place,
                ancestor,
                descends,
                label,
                server,
            },
        )
}

/// A random scope: `(what to build, --all)`.
fn scope_kind() -> impl Strategy<Value = (usize, bool)> {
    (0usize..7, any::<bool>())
}

fn make_scope<'a>(kind: (usize, bool), descendants: &'a HashSet<u32>) -> Scope<'a> {
    let label = Some(OsStr::new(LABEL));
    match kind.0 {
        0 => Scope::Run { descendants, label },
        1 => Scope::Run {
            descendants,
            label: None,
        },
        2 => Scope::Check { label },
        3 => Scope::Check { label: None },
        4 => Scope::Sweep { all: kind.1 },
        5 => Scope::Orphans,
        _ => Scope::Project {
            dir: Path::new("/p"),
        },
    }
}

/// The root (pid 1), a dashboard (pid 2, never judged here) and the
/// generic processes from pid 3 on, children of the root or of each other,
/// in the root's group or a session of their own; with their labels and
/// the snapshot identities a caller would have read (unreadable namespaces
/// where asked), and the `descendants` and `protected` sets it would pass.
#[allow(clippy::type_complexity, reason = "one test's fixture")]
fn generic_world(
    gens: &[Generic],
    script: Vec<Event>,
) -> (Sim, Vec<(u64, ProcessIdentity)>, HashSet<u32>, HashSet<u32>) {
    let mut procs = root_and_leader();
    for (i, g) in gens.iter().enumerate() {
        let pid = 3 + i as u32;
        let own_session = i % 3 == 2;
        procs.push(Proc {
            serial: 2 + i as u64,
            pid,
            parent: Some(if i % 2 == 1 { 1 + i as u64 } else { 0 }),
            pgid: if own_session { pid } else { 1 },
            sid: if own_session { pid } else { 1 },
            start: 2 + i as u64,
            uid: if g.other_uid { OURS + 1 } else { OURS },
            argv: if g.server {
                server_argv(9300)
            } else {
                helper_argv()
            },
            ns: PLACES[g.place.min(PLACES.len() - 1)],
            alive: true,
        });
    }
    let sim = world(procs, script);
    let mut judged = Vec::new();
    let mut descendants = HashSet::new();
    let mut protected = HashSet::from([1]);
    {
        let mut w = sim.0.borrow_mut();
        for (i, g) in gens.iter().enumerate() {
            let serial = 2 + i as u64;
            let p = w.by_serial(serial).expect("made").clone();
            let mut identity = w.identity(&p);
            if g.place == PLACES.len() {
                identity = ProcessIdentity::modelled(
                    p.pid,
                    w.ppid(&p),
                    p.pgid,
                    p.sid,
                    p.start,
                    p.uid,
                    p.argv.clone(),
                    None,
                    None,
                );
            }
            match g.label {
                1 => w.labels.insert(serial, LABEL.into()),
                2 => w.labels.insert(serial, OTHER_LABEL.into()),
                _ => None,
            };
            if g.descends {
                descendants.insert(p.pid);
            }
            if g.ancestor {
                protected.insert(p.pid);
            }
            judged.push((serial, identity));
        }
    }
    (sim, judged, descendants, protected)
}

/// What `judge_process`'s rule says of `g` in `scope`, from the truth.
fn process_rule(g: &Generic, scope: Scope<'_>) -> Result<Grounds, Doubt> {
    if g.place == PLACES.len() {
        return Err(Doubt::PlaceUnknown);
    }
    if g.place != 0 {
        return Err(Doubt::Elsewhere {
            namespaces: Vec::new(),
        });
    }
    if g.other_uid {
        return Err(Doubt::NotOurs { uid: OURS + 1 });
    }
    if g.ancestor {
        return Err(Doubt::Ancestor);
    }
    let labelled = |label: Option<&OsStr>| label.is_some() && g.label == 1;
    match scope {
        Scope::Run { .. } if g.descends => Ok(Grounds::DescendsFromRun),
        Scope::Run { label, .. } | Scope::Check { label } if labelled(label) => {
            Ok(Grounds::CarriesRunLabel)
        }
        _ => Err(Doubt::NotFromRun),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]

    /// `judge_process`'s decision in a table that holds still: exactly the
    /// rule. Never for a process elsewhere (another namespace or root, or
    /// unreadable), of another uid, an ancestor, or one that neither
    /// descends from the run nor carries its label (another run's label is
    /// no label); never in a sweep, an orphans' sweep or a project's drop;
    /// always for one of ours, here, that descends or carries the label.
    #[test]
    fn judge_process_passes_exactly_the_runs_own_processes(
        gens in prop::collection::vec(generic(), 1..8),
        kind in scope_kind(),
    ) {
        let (sim, judged, descendants, protected) = generic_world(&gens, Vec::new());
        let scope = make_scope(kind, &descendants);
        for (g, (_, identity)) in gens.iter().zip(&judged) {
            let got = decide_process(&sim, identity, scope, &protected);
            let want = process_rule(g, scope);
            match (&got, &want) {
                (Ok(got), Ok(want)) => prop_assert_eq!(got, want),
                (Err(got), Err(want)) => prop_assert_eq!(
                    std::mem::discriminant(got),
                    std::mem::discriminant(want),
                    "{:?}: {:?}, wanted {:?}", g, got, want
                ),
                _ => prop_assert!(false, "{g:?} in {scope:?}: {got:?}, wanted {want:?}"),
            }
        }
    }

    /// `judge_process` with the pin that follows it, while processes exit,
    /// hand their pids (and their labels, through forks) on, exec and move:
    /// a process that gets a permit (its decision passed, and the pinned
    /// process read again is the same process, ours and here) is the very
    /// process judged, and the truth of it passes the rule.
    #[test]
    fn judge_process_pins_only_a_proved_process(
        gens in prop::collection::vec(generic(), 1..8),
        kind in scope_kind(),
        script in prop::collection::vec(event(), 0..40),
    ) {
        let (sim, judged, descendants, protected) = generic_world(&gens, script);
        let scope = make_scope(kind, &descendants);
        for (g, (serial, identity)) in gens.iter().zip(&judged) {
            let Ok(grounds) = decide_process(&sim, identity, scope, &protected) else {
                continue;
            };
            // Permit::pin: a pidfd, then the same process read through it.
            let Some((pin, now)) = sim.pin_and_read(identity.pid()) else {
                continue;
            };
            if !(now.is_same_process(identity) && sim.is_ours(&now) && sim.lives_here(&now)) {
                continue;
            }
            prop_assert_eq!(pin, *serial, "pinned another process than the one judged");
            prop_assert_eq!(process_rule(g, scope), Ok(grounds), "{:?} in {:?}", g, scope);
        }
    }

    /// A permit that names no dashboard (`judge_process`'s: `Permit::pin`
    /// with `None` sets `children_since` to `u64::MAX`) proves no member of
    /// its group, whatever the group holds: not a process running the same
    /// command line, not its own child started after the proof.
    #[test]
    fn a_permit_without_a_dashboard_proves_no_member(
        procs in table(),
        script in prop::collection::vec(event(), 0..40),
    ) {
        let sim = world(procs, script);
        let leader = sim.world().procs[1].clone();
        let leader_id = sim.world().identity(&leader);
        let plan = plan_members(&sim, &leader.serial, &leader_id, None, u64::MAX);
        prop_assert!(plan.proved.is_empty(), "proved through no dashboard: {:?}", plan.proved);
    }
}
