//! The second half of `sweep`'s step 4: the `.kittify/.dashboard` files it
//! may remove (and, in step 2, the ones it predicts stale).

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};

use kitty_core::spec_kitty::{DashboardFile, ProcessKind, serves_dir};
use kitty_core::{Place, ProcessIdentity};

use crate::findings::run::Action;
use crate::findings::sweep::Entry;

/// Removes the stale `.kittify/.dashboard` files; returns `(removed, left)`.
pub(super) fn clean_files(entries: &[Entry]) -> (Vec<PathBuf>, Vec<PathBuf>) {
    let stopped: HashSet<u32> = entries
        .iter()
        .filter(|e| matches!(e.action, Action::Reaped { .. } | Action::AlreadyGone { .. }))
        .map(|e| e.identity().pid())
        .collect();
    let mut removed = Vec::new();
    let mut left = Vec::new();
    for (dir, pid, port) in stale_dashboard_files(entries, &stopped, false) {
        if DashboardFile::remove_if_names(&dir, pid.unwrap_or(0), port) {
            removed.push(DashboardFile::path_in(&dir));
        } else {
            left.push(DashboardFile::path_in(&dir));
        }
    }
    (removed, left)
}

/// The `.kittify/.dashboard` files (project dir, pid, port as named in the file)
/// that name a dashboard in `stopped`, or a process that is not (any more) a
/// dashboard of that project. Only in projects of ours in scope, here in our
/// namespaces, that no dashboard of another namespace serves (a pid written
/// there means nothing here). With `predict`, selected dashboards count as
/// stopped (for the listing before anything is done).
pub(super) fn stale_dashboard_files(
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

#[cfg(test)]
mod tests {
    use super::*;
    use kitty_core::Doubt;
    use kitty_core::Judgement;
    use kitty_core::spec_kitty::FoundDashboard;
    use kitty_core::spec_kitty::{DashboardClass, DashboardCommand};

    const TOKEN: &str = "0123456789abcdef0123456789abcdef";

    /// A dashboard of `project` (this test process, so it is alive) as the sweep lists it.
    pub(crate) fn entry(project: &Path, class: DashboardClass, selected: bool) -> Entry {
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
            action: Action::Pending,
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
}
