//! leakcheck's own failures (not COMMAND's, which are findings), as one enum
//! whose [`Error::exit_code`] says how leakcheck ends on each, in the style
//! of nextest's `ExpectedError`.

use std::io;
use std::path::PathBuf;

use kitty_core::PortSet;

use crate::config::ConfigError;
use crate::exit_codes::LeakcheckExitCode;
use crate::findings::run::{CommandStatus, Outcome, Verdict};

/// Everything that stops a mode before it has its findings.
///
/// `main` prints an error as `error: ` and the error with its causes, `: `
/// between them (the form `anyhow` printed before); [`Error::Unchecked`] as
/// `kitty-leakcheck: error: ` and its own message.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `check` cannot use its baseline (missing, not a regular file, too
    /// large, not a baseline, another version, bad ports, another boot):
    /// the one line to print. Bad usage.
    #[error("{0}")]
    BadBaseline(String),
    /// `.config/kitty-leakcheck.toml` (or `--config FILE`, `--profile`)
    /// cannot be used: its one line, naming the file's line. Bad usage.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The run's records (what each nextest `wrap` found) cannot be made,
    /// written or read: a records directory that is not ours alone, a
    /// record that is not one (too large, another version, not JSON, a
    /// symlink): the one line to print.
    #[error("{0}")]
    Records(String),
    /// The signals could not be blocked and read (signalfd).
    #[error("cannot take over SIGINT, SIGTERM, SIGHUP and SIGCHLD: {0}")]
    Signals(io::Error),
    /// Waiting for COMMAND failed.
    #[error("cannot wait for `{command}`: {source}")]
    Wait {
        /// COMMAND, masked.
        command: String,
        /// The cause.
        source: io::Error,
    },
    /// The default mode could not read the listeners on its ports (netlink sock_diag).
    #[error("cannot read the TCP listeners on ports {ports}: {source}")]
    ListenersOnPorts {
        /// The watched ports.
        ports: PortSet,
        /// The cause.
        source: io::Error,
    },
    /// `wrap`, `snapshot`, `check` or `sweep` could not read the listeners.
    #[error("cannot read the listening sockets")]
    Listeners(#[source] io::Error),
    /// `PR_SET_CHILD_SUBREAPER` failed.
    #[error("cannot become a child subreaper: {0}")]
    Subreaper(io::Error),
    /// No run label could be made (the kernel's random bytes).
    #[error("cannot make a run label: {0}")]
    Label(io::Error),
    /// The baseline could not be encoded.
    #[error(transparent)]
    EncodeBaseline(serde_json::Error),
    /// The baseline could not be written.
    #[error("cannot write the baseline {}", .path.display())]
    WriteBaseline {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// `$NEXTEST_ENV` could not be appended to.
    #[error("cannot write to $NEXTEST_ENV ({})", .path.display())]
    NextestEnv {
        /// The file it names.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// COMMAND ran, but the listeners after it could not be read: nothing
    /// could be checked. COMMAND's own failure still decides the status.
    #[error("{error}")]
    Unchecked {
        /// What went wrong.
        error: Box<Error>,
        /// How COMMAND ended.
        command: CommandStatus,
    },
}

impl Error {
    /// The status leakcheck exits with: [`LeakcheckExitCode::USAGE`] for a
    /// bad baseline or config, COMMAND's own when it failed and nothing could be
    /// checked, else [`LeakcheckExitCode::INTERNAL_ERROR`].
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::BadBaseline(_) | Error::Config(_) => LeakcheckExitCode::USAGE,
            Error::Unchecked { command, .. } if !command.passed() => {
                Outcome::of(Some(command), Verdict::Clean).exit_code()
            }
            Error::Unchecked { .. }
            | Error::Signals(_)
            | Error::Wait { .. }
            | Error::ListenersOnPorts { .. }
            | Error::Listeners(_)
            | Error::Subreaper(_)
            | Error::Label(_)
            | Error::Records(_)
            | Error::EncodeBaseline(_)
            | Error::WriteBaseline { .. }
            | Error::NextestEnv { .. } => LeakcheckExitCode::INTERNAL_ERROR,
        }
    }

    /// The error and its causes, `: ` between them.
    pub fn with_causes(&self) -> String {
        let mut text = self.to_string();
        let mut cause = std::error::Error::source(self);
        while let Some(c) = cause {
            text.push_str(": ");
            text.push_str(&c.to_string());
            cause = c.source();
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;
    use std::process::ExitStatus;

    fn io() -> io::Error {
        io::Error::other("boom")
    }

    #[test]
    fn each_error_has_its_exit_code() {
        let ran = |raw| CommandStatus::Ran(ExitStatus::from_raw(raw));
        let unchecked = |command| Error::Unchecked {
            error: Box::new(Error::Listeners(io())),
            command,
        };
        let encode = serde_json::from_str::<u8>("x").expect_err("not json");
        let cases = [
            (Error::BadBaseline("b".into()), LeakcheckExitCode::USAGE),
            (
                Error::Config(ConfigError::NoConfigFile {
                    profile: "ci".into(),
                    searched_from: "/p".into(),
                }),
                LeakcheckExitCode::USAGE,
            ),
            (Error::Signals(io()), LeakcheckExitCode::INTERNAL_ERROR),
            (
                Error::Wait {
                    command: "c".into(),
                    source: io(),
                },
                LeakcheckExitCode::INTERNAL_ERROR,
            ),
            (
                Error::ListenersOnPorts {
                    ports: PortSet::single(9240),
                    source: io(),
                },
                LeakcheckExitCode::INTERNAL_ERROR,
            ),
            (Error::Listeners(io()), LeakcheckExitCode::INTERNAL_ERROR),
            (Error::Subreaper(io()), LeakcheckExitCode::INTERNAL_ERROR),
            (Error::Label(io()), LeakcheckExitCode::INTERNAL_ERROR),
            (
                Error::EncodeBaseline(encode),
                LeakcheckExitCode::INTERNAL_ERROR,
            ),
            (
                Error::WriteBaseline {
                    path: "b".into(),
                    source: io(),
                },
                LeakcheckExitCode::INTERNAL_ERROR,
            ),
            (
                Error::NextestEnv {
                    path: "e".into(),
                    source: io(),
                },
                LeakcheckExitCode::INTERNAL_ERROR,
            ),
            (unchecked(ran(0)), LeakcheckExitCode::INTERNAL_ERROR),
            (unchecked(ran(7 << 8)), 7),
            (unchecked(ran(15)), 128 + 15),
        ];
        for (error, code) in cases {
            assert_eq!(error.exit_code(), code, "{error:?}");
        }
    }

    #[test]
    fn a_config_error_is_its_one_line() {
        let e = Error::from(ConfigError::Invalid {
            path: ".config/kitty-leakcheck.toml".into(),
            line: 7,
            message: "unknown kind \"dashbords\" in fail".into(),
            text: "fail = [\"dashbords\"]".into(),
        });
        assert_eq!(
            e.with_causes(),
            ".config/kitty-leakcheck.toml:7: unknown kind \"dashbords\" in fail"
        );
    }

    #[test]
    fn causes_follow_the_error() {
        let e = Error::Listeners(io());
        assert_eq!(e.with_causes(), "cannot read the listening sockets: boom");
        let unchecked = Error::Unchecked {
            error: Box::new(e),
            command: CommandStatus::NotFound,
        };
        assert_eq!(
            unchecked.with_causes(),
            "cannot read the listening sockets",
            "the inner error is its message, not a cause"
        );
    }
}
