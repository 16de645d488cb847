//! What a run leaked, as data: [`Leak`], its [`Action`], the run's [`Leaks`]
//! and their [`Verdict`]. [`crate::leaks`] finds them; [`crate::report`]
//! prints them; `sweep` records its own actions in [`Action`] too.

use std::ffi::OsString;
use std::path::PathBuf;

use kitty_core::spec_kitty::DashboardClass;
use kitty_core::{Doubt, Grounds, Listener, ListenerSnapshot, Permit, ProcessIdentity, Stopped};

/// What kind of process leaked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum LeakKind {
    /// A spec-kitty dashboard server: reaped unless `--no-reap`.
    Dashboard,
    /// spec-kitty's sync daemon listening on a watched port: never touched.
    SyncDaemon,
    /// Anything else (or a listener whose holder could not be found): never touched.
    Foreign,
}

/// Which test runner named a test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum Runner {
    /// `cargo nextest` (`NEXTEST_TEST_NAME`, `NEXTEST_BINARY_ID`).
    Nextest,
    /// pytest (`PYTEST_CURRENT_TEST`).
    Pytest,
    /// A kitty-fixtures project (`KITTY_FIXTURES_TEST`: libtest names each
    /// test's thread after the test).
    KittyFixtures,
}

/// The test that started a process, as its environment says: nextest's
/// `NEXTEST_TEST_NAME` and `NEXTEST_BINARY_ID`, else pytest's
/// `PYTEST_CURRENT_TEST` (`tests/x.py::test_name (call)`, named without the
/// phase), else the `KITTY_FIXTURES_TEST` a kitty-fixtures project sets on
/// the dashboards it starts (`cargo test` itself sets nothing).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct TestLabel {
    /// The test's name.
    pub name: Option<String>,
    /// `NEXTEST_BINARY_ID`.
    pub binary_id: Option<String>,
    /// Which runner said so.
    pub runner: Runner,
}

// The variable kitty-fixtures sets on the dashboards it starts: the name of
// the test thread that started them.
use kitty_core::TEST_ENV as FIXTURES_TEST_ENV;

impl TestLabel {
    /// Reads the label from a process's initial environment; `None` when it has none.
    pub fn of(identity: &ProcessIdentity) -> Option<Self> {
        Self::from_vars(|k| identity.env_var(k))
    }

    /// Reads the label from this process's own environment (the `wrap` mode's test).
    pub fn of_this_process() -> Option<Self> {
        Self::from_vars(|k| std::env::var_os(k))
    }

    fn from_vars(var: impl Fn(&str) -> Option<OsString>) -> Option<Self> {
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

    /// `leaks_one in mini::it`, `tests/x.py::test_y`.
    pub fn describe(&self) -> String {
        let name = self.name.as_deref().unwrap_or("?");
        match &self.binary_id {
            Some(b) => format!("{name} in {b}"),
            None => name.to_string(),
        }
    }
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

/// What was done about a leak (set by [`crate::stop_leaks::stop_leaks`]) or a
/// dashboard `sweep` saw.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case", tag = "result")]
pub enum Action {
    /// Nothing decided yet (before reaping).
    Pending,
    /// Never touched, and why (not a dashboard, another user's, in another
    /// namespace, not started by the run, an ancestor of leakcheck).
    LeftAlone {
        /// Why.
        reason: String,
    },
    /// A dashboard that was not stopped because of `--no-reap`.
    NotReaped {
        /// Why.
        reason: String,
    },
    /// Stopped, its port confirmed free.
    Reaped {
        /// What `stop` did (last signal, escalation, proved members, members left alone, elapsed ms).
        #[serde(flatten)]
        stopped: Stopped,
        /// Whether the project's `.kittify/.dashboard` named it and was removed.
        dashboard_file_removed: bool,
    },
    /// It had already exited when we came to stop it.
    AlreadyGone {
        /// Whether the project's `.kittify/.dashboard` named it and was removed.
        dashboard_file_removed: bool,
    },
    /// Stopping it failed: it may still be running (exit status REAP_FAILED).
    Failed {
        /// Why (token-free).
        error: String,
    },
}

/// One leaked process (or one listener whose holder could not be found).
#[derive(Debug, Clone, serde::Serialize)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct Leak {
    /// What leaked.
    pub kind: LeakKind,
    /// The process, when known.
    pub pid: Option<u32>,
    /// The main port: its first new listener's, else the port its command line names.
    pub port: Option<u16>,
    /// Its new listeners on watched ports (empty for a dashboard that never bound a watched port).
    pub listeners: Vec<Listener>,
    /// The command line with every token masked.
    pub command_line: Option<String>,
    /// The project a dashboard serves.
    pub project_dir: Option<PathBuf>,
    /// Whether that project directory still exists.
    pub project_exists: Option<bool>,
    /// The dashboard's class (orphan / unrecorded / starting / live /
    /// unknown / elsewhere), as `sweep` would see it.
    pub class: Option<DashboardClass>,
    /// The second opinion of a listening dashboard: whether its own
    /// `/api/health` names the project its command line names. `None` when it
    /// did not answer (or listens on no watched port).
    pub health: Option<bool>,
    /// Whether the process descends from the run (a child subreaper knows).
    pub from_run: bool,
    /// Whether its environment carries the run's label (`KITTY_LEAKCHECK_RUN`).
    pub carries_label: bool,
    /// The live process outside the run whose port reservation holds this
    /// dashboard (a kitty-fixtures test of another run): it is never stopped.
    pub held_by: Option<u32>,
    /// The test that started it, when its environment says.
    pub test: Option<TestLabel>,
    /// The proof on which a dashboard may be stopped.
    pub grounds: Option<Grounds>,
    /// Why it may not be touched (the first rule that failed).
    pub doubt: Option<Doubt>,
    /// What was done about it.
    pub action: Action,
    /// Who it is (as read when it was found).
    #[serde(skip)]
    pub identity: Option<ProcessIdentity>,
    /// The permit to stop it: the process pinned when it was judged the
    /// run's ([`Leak::grounds`] are its grounds). `None`: it may not be stopped.
    #[serde(skip)]
    pub permit: Option<Permit>,
}

impl Leak {
    pub(crate) fn ownerless(listener: Listener) -> Self {
        Leak {
            kind: LeakKind::Foreign,
            pid: None,
            port: Some(listener.port),
            listeners: vec![listener],
            command_line: None,
            project_dir: None,
            project_exists: None,
            class: None,
            health: None,
            from_run: false,
            carries_label: false,
            held_by: None,
            test: None,
            grounds: None,
            doubt: None,
            action: Action::Pending,
            identity: None,
            permit: None,
        }
    }

    /// True when this leak is a dashboard.
    pub fn is_dashboard(&self) -> bool {
        self.kind == LeakKind::Dashboard
    }

    /// True when it appeared but provably was not started by the run.
    pub fn not_from_run(&self) -> bool {
        self.doubt == Some(Doubt::NotFromRun)
    }
}

/// Everything a run leaked, what appeared beside it, and the snapshot it was found in.
#[derive(Debug, Clone, Default)]
pub struct Leaks {
    /// The leaks, dashboards first, then by port.
    pub leaks: Vec<Leak>,
    /// What appeared during the run (or since the baseline) but was not
    /// started by it: reported, never touched, not a failure.
    pub appeared: Vec<Leak>,
    /// The listeners on the watched ports after the run.
    pub after: ListenerSnapshot,
}

impl Leaks {
    /// True when nothing leaked.
    pub fn is_empty(&self) -> bool {
        self.leaks.is_empty()
    }

    /// What the leaks come to: none, some (stopped, left with `--no-reap`,
    /// or never to be touched), or a dashboard that could not be stopped.
    /// What merely appeared beside the run does not count.
    pub fn verdict(&self) -> Verdict {
        if self.leaks.is_empty() {
            Verdict::Clean
        } else if self
            .leaks
            .iter()
            .any(|l| matches!(l.action, Action::Failed { .. }))
        {
            Verdict::StopFailed
        } else {
            Verdict::Leaked
        }
    }
}

/// What a run's leaks come to (see [`Leaks::verdict`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing leaked.
    Clean,
    /// Something leaked; every leaked dashboard we could stop is stopped.
    Leaked,
    /// A leaked dashboard could not be stopped.
    StopFailed,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn label(vars: &[(&str, &str)]) -> Option<TestLabel> {
        let vars: HashMap<&str, &str> = vars.iter().copied().collect();
        TestLabel::from_vars(|k| vars.get(k).map(OsString::from))
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
