//! [`Error`]: everything that can go wrong, each with what to do about it.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use kitty_core::StopError;
use kitty_core::reservation::ReservationError;
use kitty_core::{PortSet, PortSetError};

/// How to install spec-kitty, for a user of the published crate (nothing
/// here names a script of this repository).
pub(crate) const INSTALL_HINT: &str = "install it with `pip install spec-kitty-cli==3.2.7` (in a venv of its own; the kitty-fixtures README lists the releases that work)";

/// Everything `kitty-fixtures` can fail with. No variant ever holds a token.
///
/// `Debug` says what `Display` says, after the variant's name: the
/// `.unwrap()` and `?` of a test print `Debug`, and the name alone
/// (`SpecKittyNotFound`) would not say what to do.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No spec-kitty executable was found.
    #[error(
        "spec-kitty not found: set KITTY_SPEC_KITTY to the `spec-kitty` executable or put it on PATH; {INSTALL_HINT}"
    )]
    SpecKittyNotFound,

    /// `KITTY_SPEC_KITTY` (or the builder) names something that is not a file.
    #[error(
        "spec-kitty executable {path} does not exist (from {source_name}): set KITTY_SPEC_KITTY to the `spec-kitty` executable or put it on PATH; {INSTALL_HINT}"
    )]
    SpecKittyMissing {
        /// The path given.
        path: PathBuf,
        /// Where the path came from.
        source_name: &'static str,
    },

    /// The installed spec-kitty has no dashboard to start: its release
    /// retired the bundled dashboard (4.0.0rc5 and later). Nothing was
    /// spawned; [`KittyProject::spec_kitty`](crate::KittyProject::spec_kitty)
    /// still runs the rest of its CLI.
    #[error(
        "spec-kitty {version} ({spec_kitty}) has no dashboard: spec-kitty retired its bundled dashboard in 4.0.0rc5; start dashboards with 3.2.7 or 4.0.0rc1-rc4"
    )]
    NoDashboard {
        /// The spec-kitty executable.
        spec_kitty: PathBuf,
        /// Its version, as its installation says.
        version: String,
    },

    /// The Python interpreter of the spec-kitty installation could not be found.
    #[error("cannot find the Python interpreter of {spec_kitty}: {reason}")]
    InterpreterNotFound {
        /// The spec-kitty executable.
        spec_kitty: PathBuf,
        /// Why.
        reason: String,
    },

    /// `KITTY_PORTS` (or the builder's ports) is malformed.
    #[error("bad KITTY_PORTS: {0}")]
    Ports(#[from] PortSetError),

    /// Every port of the range is held by something that is not an orphan.
    #[error(
        "no free port in {range}: every port is held and none by an orphaned dashboard ({holders})"
    )]
    PortRangeFull {
        /// The range.
        range: PortSet,
        /// Who holds the ports, summarised (`port pid command`, tokens masked).
        holders: String,
    },

    /// The port reservation directory cannot be used (another user's, a
    /// symlink, unreadable).
    #[error(transparent)]
    Reservations(#[from] ReservationError),

    /// Called in a `fork()`ed child of the process that made the project:
    /// its dashboards belong to the parent, and the thread that spawns
    /// dashboards does not exist here.
    #[error(
        "kitty-fixtures: called in a fork()ed child of the process that made the project; start and stop dashboards in that process"
    )]
    ForkedChild,

    /// The dashboard process could not be spawned.
    #[error("cannot start {program}: {source}")]
    Spawn {
        /// The program.
        program: PathBuf,
        /// The cause.
        source: io::Error,
    },

    /// The dashboard exited, never bound, bound another port, or served
    /// something else before it became healthy. It was stopped.
    #[error("dashboard on port {port} failed to start: {reason}{}", log_tail_suffix(.log_tail))]
    StartFailed {
        /// The port it was told to bind.
        port: u16,
        /// What went wrong (with the exit status when it exited).
        reason: String,
        /// The exit status, when it exited.
        exit_status: Option<i32>,
        /// The end of its log, tokens masked.
        log_tail: String,
    },

    /// The dashboard did not become healthy in time. It was stopped.
    #[error("dashboard on port {port} not healthy after {waited:?}{}", log_tail_suffix(.log_tail))]
    StartTimeout {
        /// The port.
        port: u16,
        /// How long we waited.
        waited: Duration,
        /// The end of its log, tokens masked.
        log_tail: String,
    },

    /// A dashboard could not be stopped.
    #[error("cannot stop dashboard: {0}")]
    Stop(#[from] StopError),

    /// Several dashboards could not be stopped.
    #[error("cannot stop {} dashboards: {}", .0.len(), join_errors(.0))]
    StopMany(Vec<StopError>),

    /// This operating system is not supported yet (Linux only): nothing
    /// was started or stopped.
    #[error("kitty-fixtures supports Linux only for now; this is {os}")]
    Unsupported {
        /// `std::env::consts::OS`.
        os: &'static str,
    },

    /// `spec-kitty init` failed.
    #[error("`spec-kitty init` failed in {dir} ({status}): {output}")]
    Init {
        /// The project dir.
        dir: PathBuf,
        /// Its exit status.
        status: String,
        /// The end of its output, tokens masked.
        output: String,
    },

    /// Some other file-system or OS operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The cause.
        source: io::Error,
    },
}

impl Error {
    /// The variant's name, for `Debug`.
    fn name(&self) -> &'static str {
        match self {
            Error::SpecKittyNotFound => "SpecKittyNotFound",
            Error::SpecKittyMissing { .. } => "SpecKittyMissing",
            Error::NoDashboard { .. } => "NoDashboard",
            Error::InterpreterNotFound { .. } => "InterpreterNotFound",
            Error::Ports(_) => "Ports",
            Error::PortRangeFull { .. } => "PortRangeFull",
            Error::Reservations(_) => "Reservations",
            Error::ForkedChild => "ForkedChild",
            Error::Spawn { .. } => "Spawn",
            Error::StartFailed { .. } => "StartFailed",
            Error::StartTimeout { .. } => "StartTimeout",
            Error::Stop(_) => "Stop",
            Error::StopMany(_) => "StopMany",
            Error::Unsupported { .. } => "Unsupported",
            Error::Init { .. } => "Init",
            Error::Io { .. } => "Io",
        }
    }

    pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(io::Error) -> Error {
        let what = what.into();
        move |source| Error::Io { what, source }
    }
}

impl std::fmt::Debug for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {self}", self.name())
    }
}

fn log_tail_suffix(tail: &str) -> String {
    if tail.is_empty() {
        String::new()
    } else {
        format!("; log tail:\n{tail}")
    }
}

fn join_errors(errors: &[StopError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `.unwrap()` and `?` print (Debug) is the variant's name and the
    /// whole message, and the install hint is a command anyone can run,
    /// naming no script of this repository.
    #[test]
    fn debug_is_the_name_and_the_message_and_the_hint_runs_anywhere() {
        let e = Error::SpecKittyNotFound;
        assert_eq!(format!("{e:?}"), format!("SpecKittyNotFound: {e}"));
        let shown = format!("{e:?}");
        assert!(
            shown.contains("pip install spec-kitty-cli==3.2.7") && !shown.contains("scripts/"),
            "{shown}"
        );
        let io = Error::io("reading x")(io::Error::other("boom"));
        assert_eq!(format!("{io:?}"), "Io: reading x: boom");
    }
}
