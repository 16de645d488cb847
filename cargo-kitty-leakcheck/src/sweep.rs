//! `sweep`: clean a machine that already leaked.
//!
//! 1. **Survey**: the listeners on the watched ports (netlink) with their
//!    owners, and every dashboard process of every user (one read of each
//!    command line).
//! 2. **Plan**: [`judge`] each dashboard with [`Scope::Sweep`]: orphans and
//!    unrecorded dashboards (and live ones with `--all`) that are ours, live in
//!    our namespaces and are not our ancestors are selected; starting,
//!    unknown and elsewhere ones never are. Only dashboards *in scope* (they
//!    listen on a watched port, or their command line names one) are
//!    selected; the rest are listed, never touched. Foreign listeners and the
//!    sync daemon are never selected.
//! 3. **Confirm**: ask on a terminal, or require `--yes`.
//! 4. **Stop** the selection in parallel: each is judged once more right
//!    before (a prompt may have taken minutes), then stopped with
//!    [`stop_process_group`], which proves its identity again before each signal.
//! 5. **Clean** the `.kittify/.dashboard` files that name a dashboard we
//!    stopped or a process that is no longer that project's dashboard (never
//!    signalling it), in projects of ours that no dashboard of another
//!    namespace serves.
//! 6. **Render** the listing and the outcome.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::Context;
use kitty_fixtures::probe::{
    DashboardClass, DashboardFile, Doubt, FoundDashboard, Judgement, Listener, ListenerSnapshot,
    OrphanReason, Place, ProcessIdentity, ProcessKind, Scope, StopError, StopPolicy, StopSignal,
    Stopped, ancestors_and_self, find_dashboard_processes, identify_listeners, judge, mask_tokens,
    project_dir_of, serves_dir, stop_process_group,
};
use serde::Serialize;

use crate::cli::{CommonArgs, SweepArgs};
use crate::exit_codes::LeakcheckExitCode;

/// The version of the JSON `sweep` prints.
pub const SWEEP_SCHEMA_VERSION: u32 = 1;

/// After this long, print a progress line while stopping.
const PROGRESS_AFTER: Duration = Duration::from_secs(1);

/// One dashboard process, as the sweep sees it.
#[derive(Debug, Clone)]
struct Entry {
    found: FoundDashboard,
    /// Its listeners on watched ports.
    listening: Vec<Listener>,
    judgement: Judgement,
    in_scope: bool,
    selected: bool,
}

impl Entry {
    fn identity(&self) -> &ProcessIdentity {
        &self.found.identity
    }

    /// The project dir, absolute as the process sees it (a relative `.` names its cwd).
    fn project_dir(&self) -> PathBuf {
        project_dir_of(&self.found.identity, &self.found.command)
            .unwrap_or_else(|| self.found.command.project_dir.clone())
    }

    fn port(&self) -> Option<u16> {
        self.listening
            .first()
            .map(|l| l.port)
            .or(self.found.command.port)
    }
}

/// A listener on a watched port that is not a dashboard.
#[derive(Debug, Clone, Serialize)]
struct ForeignJson {
    port: u16,
    addr: String,
    uid: u32,
    pid: Option<u32>,
    /// `foreign`, `sync-daemon`, or `unknown` (owner not visible: another user's, or it just closed).
    kind: &'static str,
    command_line: Option<String>,
}

/// What happened to one dashboard.
#[derive(Debug, Clone)]
enum Outcome {
    /// Not selected.
    Kept,
    /// Selected, but the run stopped nothing (dry run, no confirmation, declined).
    WouldStop,
    /// Stopped (or already gone when we came to it).
    Stopped(Stopped),
    /// Between listing and stopping it changed (identity, class): not signalled.
    Skipped(String),
    /// Could not be stopped.
    Failed(String),
}

#[derive(Debug, Clone, Serialize)]
struct DashboardJson {
    pid: u32,
    uid: u32,
    ours: bool,
    port: Option<u16>,
    listening: bool,
    addrs: Vec<String>,
    project_dir: String,
    project_exists: bool,
    #[serde(flatten)]
    class: DashboardClass,
    in_scope: bool,
    selected: bool,
    /// Why it is kept, when it is.
    doubt: Option<Doubt>,
    /// `kept`, `would-stop`, `stopped`, `skipped`, `failed`.
    action: &'static str,
    signal: Option<StopSignal>,
    escalated: bool,
    stop_ms: Option<f64>,
    note: Option<String>,
    command_line: String,
}

#[derive(Debug, Serialize)]
struct SweepJson {
    schema_version: u32,
    mode: &'static str,
    ports: String,
    dry_run: bool,
    all: bool,
    /// Whether stopping was allowed (`--yes`, or "y" on the terminal).
    confirmed: bool,
    dashboards: Vec<DashboardJson>,
    foreign: Vec<ForeignJson>,
    to_stop: usize,
    stopped: usize,
    failed: usize,
    dashboard_files_removed: Vec<String>,
    dashboard_files_stale: Vec<String>,
    elapsed_ms: f64,
    exit_code: i32,
}

/// What the survey saw.
struct Survey {
    entries: Vec<Entry>,
    foreign: Vec<ForeignJson>,
}

/// Steps 1 and 2: see, then judge.
fn survey(common: &CommonArgs, args: &SweepArgs) -> anyhow::Result<Survey> {
    let snapshot =
        ListenerSnapshot::take(&common.ports).context("cannot read the listening sockets")?;
    let owned = identify_listeners(snapshot.listeners(), &[]);

    // Every dashboard process, merged with the owners of listeners on watched ports.
    let mut dashboards: BTreeMap<u32, (FoundDashboard, Vec<Listener>)> = BTreeMap::new();
    for d in find_dashboard_processes() {
        dashboards.insert(d.identity.pid(), (d, Vec::new()));
    }
    let mut foreign = Vec::new();
    for o in owned {
        match (o.owner, o.kind) {
            (Some(identity), ProcessKind::Dashboard(command)) => {
                dashboards
                    .entry(identity.pid())
                    .or_insert_with(|| (FoundDashboard { identity, command }, Vec::new()))
                    .1
                    .push(o.listener);
            }
            (owner, kind) => foreign.push(ForeignJson {
                port: o.listener.port,
                addr: o.listener.addr.to_string(),
                uid: o.listener.uid,
                pid: owner.as_ref().map(ProcessIdentity::pid),
                kind: match (&owner, kind) {
                    (None, _) => "unknown",
                    (_, ProcessKind::SyncDaemon) => "sync-daemon",
                    _ => "foreign",
                },
                command_line: owner.as_ref().map(ProcessIdentity::command_line),
            }),
        }
    }

    let protected = ancestors_and_self();
    let scope = Scope::Sweep { all: args.all };
    let mut entries: Vec<Entry> = dashboards
        .into_values()
        .map(|(found, listening)| {
            let judgement = judge(&found, scope, &protected, args.start_grace);
            let in_scope = !listening.is_empty()
                || found.command.port.is_some_and(|p| common.ports.contains(p));
            let selected = in_scope && judgement.may_stop();
            Entry {
                found,
                listening,
                judgement,
                in_scope,
                selected,
            }
        })
        .collect();
    entries.sort_by_key(|e| {
        (
            !e.in_scope,
            e.port().unwrap_or(u16::MAX),
            e.identity().pid(),
        )
    });
    Ok(Survey { entries, foreign })
}

/// `sweep`.
pub fn sweep(common: &CommonArgs, args: &SweepArgs) -> anyhow::Result<i32> {
    let started = Instant::now();
    let json = common.json();
    let Survey { entries, foreign } = survey(common, args)?;

    let to_stop = entries.iter().filter(|e| e.selected).count();
    let live_to_stop = entries
        .iter()
        .filter(|e| e.selected && e.judgement.class == DashboardClass::Live)
        .count();
    let stale_before = stale_dashboard_files(&entries, &HashSet::new(), true);

    if !json {
        print_listing(common, &entries, &foreign);
    }

    // Step 3: confirmation.
    let has_work = to_stop > 0 || !stale_before.is_empty();
    let (confirmed, declined_or_unasked) = if args.dry_run || !has_work {
        (false, false)
    } else if args.yes {
        (true, false)
    } else if stdin_is_terminal() {
        let question = if to_stop == 0 {
            format!(
                "Remove {} stale .kittify/.dashboard files?",
                stale_before.len()
            )
        } else if live_to_stop > 0 {
            format!("Stop {to_stop} dashboards ({live_to_stop} of them live)?")
        } else {
            format!("Stop {to_stop} orphaned dashboards?")
        };
        let yes = ask(&question);
        (yes, !yes)
    } else {
        (false, true)
    };
    let no_terminal = declined_or_unasked && !stdin_is_terminal();

    // Step 4: stop.
    let mut outcomes: Vec<Outcome> = entries
        .iter()
        .map(|e| {
            if e.selected {
                Outcome::WouldStop
            } else {
                Outcome::Kept
            }
        })
        .collect();
    if confirmed && to_stop > 0 {
        let results = stop_all(&entries, args, json || common.quiet);
        for (i, r) in results {
            outcomes[i] = r;
        }
    }
    let stopped_pids: HashSet<u32> = entries
        .iter()
        .zip(&outcomes)
        .filter(|(_, o)| matches!(o, Outcome::Stopped(_)))
        .map(|(e, _)| e.identity().pid())
        .collect();

    // Step 5: `.kittify/.dashboard` files.
    let (removed, stale_left): (Vec<PathBuf>, Vec<PathBuf>) = if confirmed {
        let stale = stale_dashboard_files(&entries, &stopped_pids, false);
        let mut removed = Vec::new();
        let mut left = Vec::new();
        for (dir, pid, port) in stale {
            if DashboardFile::remove_if_names(&dir, pid.unwrap_or(0), port) {
                removed.push(DashboardFile::path_in(&dir));
            } else {
                left.push(DashboardFile::path_in(&dir));
            }
        }
        (removed, left)
    } else {
        (
            Vec::new(),
            stale_before
                .iter()
                .map(|(d, _, _)| DashboardFile::path_in(d))
                .collect(),
        )
    };

    let stopped = outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::Stopped(_)))
        .count();
    let failed = outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::Failed(_)))
        .count();
    let code = if failed > 0 {
        LeakcheckExitCode::REAP_FAILED
    } else if no_terminal {
        LeakcheckExitCode::NEEDS_CONFIRMATION
    } else {
        LeakcheckExitCode::OK
    };

    // Step 6: render.
    if json {
        let report = SweepJson {
            schema_version: SWEEP_SCHEMA_VERSION,
            mode: "sweep",
            ports: common.ports.to_string(),
            dry_run: args.dry_run,
            all: args.all,
            confirmed,
            dashboards: entries
                .iter()
                .zip(&outcomes)
                .map(|(e, o)| to_json(e, o))
                .collect(),
            foreign: foreign
                .iter()
                .map(|f| ForeignJson {
                    command_line: f.command_line.as_deref().map(mask_tokens),
                    ..f.clone()
                })
                .collect(),
            to_stop,
            stopped,
            failed,
            dashboard_files_removed: removed
                .iter()
                .map(|p| mask_tokens(&p.display().to_string()))
                .collect(),
            dashboard_files_stale: stale_left
                .iter()
                .map(|p| mask_tokens(&p.display().to_string()))
                .collect(),
            elapsed_ms: started.elapsed().as_secs_f64() * 1000.0,
            exit_code: code,
        };
        let mut out = std::io::stdout().lock();
        serde_json::to_writer_pretty(&mut out, &report)?;
        writeln!(out)?;
    } else {
        print_outcomes(&entries, &outcomes);
        print_summary(SummaryArgs {
            args,
            to_stop,
            stopped,
            failed,
            outcomes: &outcomes,
            removed: &removed,
            stale_left: &stale_left,
            confirmed,
            no_terminal,
            elapsed: started.elapsed(),
        });
    }
    Ok(code)
}

/// Stops the selected dashboards in parallel; returns `(index, outcome)`.
fn stop_all(entries: &[Entry], args: &SweepArgs, quiet: bool) -> Vec<(usize, Outcome)> {
    let started = Instant::now();
    let selected: Vec<usize> = (0..entries.len())
        .filter(|&i| entries[i].selected)
        .collect();
    let total = selected.len();
    let protected = ancestors_and_self();
    let (tx, rx) = mpsc::channel();
    let mut results = Vec::with_capacity(total);
    std::thread::scope(|scope| {
        for &i in &selected {
            let tx = tx.clone();
            let e = &entries[i];
            let protected = &protected;
            scope.spawn(move || {
                let _ = tx.send((i, stop_one(e, args, protected)));
            });
        }
        drop(tx);
        let mut next_progress = started + PROGRESS_AFTER;
        while results.len() < total {
            let wait = next_progress.saturating_duration_since(Instant::now());
            match rx.recv_timeout(wait) {
                Ok(r) => results.push(r),
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if !quiet {
                        eprintln!(
                            "sweep: stopping dashboards: {}/{total} done after {:.1} s",
                            results.len(),
                            started.elapsed().as_secs_f64()
                        );
                    }
                    next_progress += PROGRESS_AFTER;
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
    });
    results
}

/// Stops one dashboard, after judging it once more (a prompt may have taken minutes).
fn stop_one(e: &Entry, args: &SweepArgs, protected: &HashSet<u32>) -> Outcome {
    let pid = e.identity().pid();
    let Some(now) = ProcessIdentity::read(pid) else {
        return Outcome::Stopped(Stopped {
            pid,
            signal: None,
            escalated: false,
            group: false,
            elapsed: Duration::ZERO,
        });
    };
    if !now.is_same_process(e.identity()) {
        return Outcome::Skipped("the pid now names another process; not signalled".into());
    }
    let fresh = FoundDashboard {
        identity: now,
        command: e.found.command.clone(),
    };
    if let Err(doubt) = judge(
        &fresh,
        Scope::Sweep { all: args.all },
        protected,
        args.start_grace,
    )
    .verdict
    {
        return Outcome::Skipped(format!("{doubt}; not signalled"));
    }
    let port = e.listening.first().map(|l| l.port);
    match stop_process_group(e.identity(), port, StopPolicy::default()) {
        Ok(s) => Outcome::Stopped(s),
        Err(err @ StopError::IdentityChanged { .. }) => Outcome::Skipped(err.to_string()),
        Err(err) => Outcome::Failed(err.to_string()),
    }
}

/// The `.kittify/.dashboard` files (project dir, pid, port as named in the file)
/// that name a dashboard in `stopped`, or a process that is not (any more) a
/// dashboard of that project. Only in projects of ours in scope, here in our
/// namespaces, that no dashboard of another namespace serves (a pid written
/// there means nothing here). With `predict`, selected dashboards count as
/// stopped (for the listing before anything is done).
fn stale_dashboard_files(
    entries: &[Entry],
    stopped: &HashSet<u32>,
    predict: bool,
) -> Vec<(PathBuf, Option<u32>, Option<u16>)> {
    let is_stopped = |pid: u32| {
        stopped.contains(&pid)
            || (predict
                && entries
                    .iter()
                    .any(|e| e.selected && e.identity().pid() == pid))
    };
    let served_from_elsewhere = |dir: &Path| {
        entries
            .iter()
            .any(|e| e.identity().place() != Place::Here && e.found.command.project_dir == dir)
    };
    let dirs: BTreeSet<PathBuf> = entries
        .iter()
        .filter(|e| e.in_scope && e.identity().is_ours() && e.identity().place() == Place::Here)
        .map(Entry::project_dir)
        .collect();
    let mut out = Vec::new();
    for dir in dirs {
        let dir = dir.as_path();
        if served_from_elsewhere(dir) {
            continue;
        }
        let Ok(Some(file)) = DashboardFile::read(dir) else {
            continue;
        };
        let stale = match file.pid {
            Some(pid) => {
                is_stopped(pid)
                    || !ProcessIdentity::read(pid)
                        .is_some_and(|p| serves(&p, dir) && !is_stopped(pid))
            }
            None => !entries.iter().any(|e| {
                e.project_dir() == dir
                    && e.port().is_some()
                    && e.port() == file.port
                    && !is_stopped(e.identity().pid())
                    && e.identity().is_still_alive()
            }),
        };
        if stale {
            out.push((
                dir.to_path_buf(),
                file.pid,
                if file.pid.is_none() { file.port } else { None },
            ));
        }
    }
    out
}

/// Whether `p` is a dashboard serving `dir`.
fn serves(p: &ProcessIdentity, dir: &Path) -> bool {
    matches!(ProcessKind::of(p), ProcessKind::Dashboard(c) if serves_dir(p, &c, dir))
}

fn stdin_is_terminal() -> bool {
    // SAFETY: isatty only inspects the descriptor.
    unsafe { libc::isatty(libc::STDIN_FILENO) == 1 }
}

/// Asks `question [y/N]` on stderr and reads one line from stdin.
fn ask(question: &str) -> bool {
    eprint!("{question} [y/N] ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    if std::io::stdin().lock().read_line(&mut line).is_err() {
        return false;
    }
    matches!(line.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}

fn class_label(class: &DashboardClass) -> String {
    match class {
        DashboardClass::Orphan {
            reason: OrphanReason::ProjectGone,
        } => "orphan (project gone)".into(),
        DashboardClass::Orphan {
            reason: OrphanReason::OwnerDead { owner_pid },
        } => {
            format!("orphan (owner {owner_pid} dead)")
        }
        DashboardClass::Unrecorded => "unrecorded".into(),
        DashboardClass::Starting { .. } => "starting".into(),
        DashboardClass::Live => "live".into(),
        DashboardClass::Unknown { .. } => "unknown".into(),
        DashboardClass::Elsewhere { namespaces } => {
            let names: Vec<String> = namespaces.iter().map(ToString::to_string).collect();
            format!("elsewhere ({} ns)", names.join("+"))
        }
    }
}

fn port_label(port: Option<u16>, listening: bool) -> String {
    match (port, listening) {
        (Some(p), true) => p.to_string(),
        (Some(p), false) => format!("({p})"),
        (None, _) => "-".into(),
    }
}

fn project_label(e: &Entry) -> String {
    let dir = mask_tokens(&e.project_dir().display().to_string());
    if matches!(
        e.judgement.class,
        DashboardClass::Orphan {
            reason: OrphanReason::ProjectGone
        }
    ) {
        format!("{dir} (gone)")
    } else {
        dir
    }
}

fn plan_label(e: &Entry) -> String {
    if e.selected {
        return "stop".into();
    }
    if !e.in_scope {
        return "keep (outside the watched ports)".into();
    }
    let why = match &e.judgement.verdict {
        Ok(_) => "keep",
        Err(Doubt::NotOurs { .. }) => "keep (another user's)",
        Err(Doubt::Ancestor) => "keep (runs this sweep)",
        Err(Doubt::Live) => "keep (live; --all stops it)",
        Err(Doubt::Starting) => "keep (may still be starting)",
        Err(Doubt::Unknown { .. }) => "keep (state unknown)",
        Err(Doubt::Elsewhere { .. }) | Err(Doubt::PlaceUnknown) => "keep (another namespace)",
        Err(_) => "keep",
    };
    why.into()
}

fn print_listing(common: &CommonArgs, entries: &[Entry], foreign: &[ForeignJson]) {
    let in_scope = entries.iter().filter(|e| e.in_scope).count();
    let outside = entries.len() - in_scope;
    if common.quiet {
        return;
    }
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "sweep: ports {}: {in_scope} dashboard(s), {} other listener(s){}",
        common.ports,
        foreign.len(),
        if outside > 0 {
            format!("; {outside} dashboard(s) elsewhere, not touched")
        } else {
            String::new()
        }
    );
    for e in entries.iter().filter(|e| e.in_scope || common.verbose) {
        let _ = writeln!(
            out,
            "  {:>6}  pid {:<8} {:<26} {:<34} {}",
            port_label(e.port(), !e.listening.is_empty()),
            e.identity().pid(),
            class_label(&e.judgement.class),
            plan_label(e),
            project_label(e),
        );
        if common.verbose {
            let _ = writeln!(out, "          {}", e.identity().command_line());
            if let Err(doubt) = &e.judgement.verdict {
                let _ = writeln!(out, "          kept: {doubt}");
            }
        }
    }
    for f in foreign {
        let who = match f.pid {
            Some(pid) => format!("pid {pid:<8}"),
            None => format!("uid {:<8}", f.uid),
        };
        let _ = writeln!(
            out,
            "  {:>6}  {who} {:<26} {:<34} {}",
            f.port,
            f.kind,
            "never touched",
            mask_tokens(f.command_line.as_deref().unwrap_or("(owner not visible)")),
        );
    }
}

fn print_outcomes(entries: &[Entry], outcomes: &[Outcome]) {
    for (e, o) in entries.iter().zip(outcomes) {
        match o {
            Outcome::Skipped(why) => {
                eprintln!(
                    "sweep: pid {} on {}: skipped: {why}",
                    e.identity().pid(),
                    port_label(e.port(), true)
                )
            }
            Outcome::Failed(why) => eprintln!(
                "sweep: error: pid {} on {}: {}",
                e.identity().pid(),
                port_label(e.port(), true),
                mask_tokens(why)
            ),
            _ => {}
        }
    }
}

struct SummaryArgs<'a> {
    args: &'a SweepArgs,
    to_stop: usize,
    stopped: usize,
    failed: usize,
    outcomes: &'a [Outcome],
    removed: &'a [PathBuf],
    stale_left: &'a [PathBuf],
    confirmed: bool,
    no_terminal: bool,
    elapsed: Duration,
}

fn print_summary(s: SummaryArgs<'_>) {
    let files = |n: usize| if n == 1 { "file" } else { "files" };
    if s.args.dry_run {
        println!(
            "sweep: dry run: would stop {} dashboard(s) and remove {} stale .kittify/.dashboard {}; nothing done",
            s.to_stop,
            s.stale_left.len(),
            files(s.stale_left.len())
        );
    } else if s.to_stop == 0 && s.stale_left.is_empty() && s.removed.is_empty() {
        println!("sweep: nothing to stop");
    } else if s.no_terminal {
        eprintln!(
            "sweep: {} dashboard(s) to stop and {} stale .kittify/.dashboard {}; nothing done: no terminal to ask. \
             Re-run with --yes to stop them (or --dry-run to only list).",
            s.to_stop,
            s.stale_left.len(),
            files(s.stale_left.len())
        );
    } else if !s.confirmed {
        println!("sweep: nothing done");
    } else {
        let kills = s
            .outcomes
            .iter()
            .filter(|o| matches!(o, Outcome::Stopped(st) if st.escalated))
            .count();
        println!(
            "sweep: stopped {} of {} dashboard(s) ({} needed SIGKILL){}; removed {} .kittify/.dashboard {}; {:.0} ms",
            s.stopped,
            s.to_stop,
            kills,
            if s.failed > 0 {
                format!(", {} FAILED", s.failed)
            } else {
                String::new()
            },
            s.removed.len(),
            files(s.removed.len()),
            s.elapsed.as_secs_f64() * 1000.0
        );
    }
}

fn to_json(e: &Entry, o: &Outcome) -> DashboardJson {
    let (action, signal, escalated, stop_ms, note) = match o {
        Outcome::Kept => ("kept", None, false, None, None),
        Outcome::WouldStop => ("would-stop", None, false, None, None),
        Outcome::Stopped(s) => (
            "stopped",
            s.signal,
            s.escalated,
            Some(s.elapsed.as_secs_f64() * 1000.0),
            None,
        ),
        Outcome::Skipped(why) => ("skipped", None, false, None, Some(why.clone())),
        Outcome::Failed(why) => ("failed", None, false, None, Some(mask_tokens(why))),
    };
    DashboardJson {
        pid: e.identity().pid(),
        uid: e.identity().uid(),
        ours: e.identity().is_ours(),
        port: e.port(),
        listening: !e.listening.is_empty(),
        addrs: e.listening.iter().map(|l| l.addr.to_string()).collect(),
        project_dir: mask_tokens(&e.project_dir().display().to_string()),
        project_exists: !matches!(
            e.judgement.class,
            DashboardClass::Orphan {
                reason: OrphanReason::ProjectGone
            }
        ),
        class: e.judgement.class.clone(),
        in_scope: e.in_scope,
        selected: e.selected,
        doubt: e.judgement.verdict.clone().err(),
        action,
        signal,
        escalated,
        stop_ms,
        note,
        command_line: e.identity().command_line(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kitty_fixtures::probe::DashboardCommand;

    const TOKEN: &str = "0123456789abcdef0123456789abcdef";

    fn entry(project: &Path, class: DashboardClass, selected: bool) -> Entry {
        let dir = project.to_string_lossy();
        let argv = [
            "python",
            "-m",
            "specify_cli.dashboard._server_main",
            &dir,
            "9300",
            TOKEN,
        ];
        Entry {
            found: FoundDashboard {
                identity: ProcessIdentity::read(std::process::id()).expect("self"),
                command: DashboardCommand::parse(&argv).expect("a dashboard command"),
            },
            listening: Vec::new(),
            judgement: Judgement {
                class,
                verdict: Err(Doubt::Live),
            },
            in_scope: true,
            selected,
        }
    }

    #[test]
    fn a_dashboard_file_is_stale_unless_it_names_a_live_dashboard_of_its_project() {
        let dir = std::env::temp_dir().join(format!("kitty-sweep-unit-{}", std::process::id()));
        let project = dir.join("p");
        std::fs::create_dir_all(project.join(".kittify")).expect("project");
        let entries = [entry(&project, DashboardClass::Unrecorded, false)];
        assert!(
            stale_dashboard_files(&entries, &HashSet::new(), false).is_empty(),
            "no file, nothing stale"
        );

        // Names this test process: alive, but not a dashboard of the project (a reused pid).
        DashboardFile::new(9300, Some(TOKEN.into()), Some(std::process::id()))
            .write(&project)
            .expect("write");
        let stale = stale_dashboard_files(&entries, &HashSet::new(), false);
        assert_eq!(
            stale,
            vec![(project.clone(), Some(std::process::id()), None)]
        );

        // Names a pid we stopped.
        let stopped: HashSet<u32> = [std::process::id()].into();
        assert_eq!(stale_dashboard_files(&entries, &stopped, false).len(), 1);

        // Out of scope or not ours: never looked at.
        let mut other = entry(&project, DashboardClass::Live, false);
        other.in_scope = false;
        assert!(stale_dashboard_files(&[other], &HashSet::new(), false).is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn labels() {
        let gone = DashboardClass::Orphan {
            reason: OrphanReason::ProjectGone,
        };
        assert_eq!(class_label(&gone), "orphan (project gone)");
        let dead = DashboardClass::Orphan {
            reason: OrphanReason::OwnerDead { owner_pid: 7 },
        };
        assert_eq!(class_label(&dead), "orphan (owner 7 dead)");
        assert_eq!(port_label(Some(9300), true), "9300");
        assert_eq!(port_label(Some(9300), false), "(9300)");
        let e = entry(Path::new("/nonexistent"), DashboardClass::Live, false);
        assert_eq!(plan_label(&e), "keep (live; --all stops it)");
    }
}
