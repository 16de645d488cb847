//! The documented exit statuses of `cargo kitty-leakcheck`: the constants,
//! and the table `--help` ends with, built from them (so a status is
//! written once, here).

use std::fmt::Write as _;

use kitty_core::sys::Signal;

/// Exit statuses, in the style of nextest's `NextestExitCode`: an uninhabited
/// type holding constants.
///
/// When COMMAND (or the wrapped test) fails, leakcheck exits with COMMAND's
/// own status (128 + N when a signal N killed it), leaks or not.
///
/// When leakcheck itself gets SIGINT, SIGTERM or SIGHUP after COMMAND ended
/// (in `check`: at any time; in `sweep`: once the stops are confirmed),
/// while it checks and stops leaks, it finishes
/// the clean-up under way, records the signal in the report
/// (`cleanup_interrupted_by`), and then exits `128 + N` (a shell's way of
/// saying "ended by signal N", as COMMAND's own signal death is mapped);
/// `wrap` re-raises the signal instead, as it does a test's. This wins over
/// every other status: the user asked leakcheck to end.
pub enum LeakcheckExitCode {}

impl LeakcheckExitCode {
    /// COMMAND passed and nothing leaked (or `sweep` had nothing left to stop).
    pub const OK: i32 = 0;
    /// leakcheck itself failed (it could not read the listeners or processes).
    pub const INTERNAL_ERROR: i32 = 1;
    /// Bad usage: unknown option, bad `--ports`, bad duration, a baseline file
    /// that is missing, not a regular file (a FIFO, a device, a directory),
    /// larger than 16 MiB, or not a baseline.
    pub const USAGE: i32 = 2;
    /// COMMAND passed but leaked dashboards or listeners (they were reported, and reaped unless `--no-reap`).
    pub const LEAKED: i32 = 3;
    /// `sweep` found dashboards to stop but had no terminal to ask and no `--yes`; nothing was stopped.
    pub const NEEDS_CONFIRMATION: i32 = 4;
    /// A leaked dashboard could not be stopped (it survived SIGKILL or its port stayed held).
    pub const REAP_FAILED: i32 = 5;
    /// COMMAND exists but could not be executed (permission denied, not a program).
    pub const COMMAND_NOT_EXECUTABLE: i32 = 126;
    /// COMMAND was not found.
    pub const COMMAND_NOT_FOUND: i32 = 127;
    /// Added to signal N when it came during the clean-up (see above).
    pub const SIGNAL_BASE: i32 = 128;
}

impl LeakcheckExitCode {
    /// `128 + n`: how a shell reports a job that signal `n` ended.
    pub fn of_signal(n: i32) -> i32 {
        Self::SIGNAL_BASE + n
    }

    /// The status once the clean-up is done: [`Self::of_signal`] of a signal
    /// that came during it (it wins: the user asked leakcheck to end), else
    /// `code`.
    pub fn after_cleanup(interrupted: Option<Signal>, code: i32) -> i32 {
        interrupted.map_or(code, |sig| Self::of_signal(sig.as_raw()))
    }
}

/// One row of the exit-status table: the statuses it covers (none for
/// "COMMAND's own"), its label and its meaning (one string per line).
struct Row {
    codes: &'static [i32],
    label: &'static str,
    meaning: &'static [&'static str],
}

/// The rows of [`status_table`], in the order `--help` gives them.
const ROWS: [Row; 9] = [
    Row {
        codes: &[],
        label: "COMMAND's own",
        meaning: &["COMMAND failed (128 + N for signal N); leaks are still reported and stopped"],
    },
    Row {
        codes: &[LeakcheckExitCode::OK],
        label: "",
        meaning: &["COMMAND passed and nothing leaked"],
    },
    Row {
        codes: &[LeakcheckExitCode::USAGE],
        label: "",
        meaning: &["bad usage"],
    },
    Row {
        codes: &[LeakcheckExitCode::LEAKED],
        label: "",
        meaning: &["COMMAND passed but something leaked"],
    },
    Row {
        codes: &[LeakcheckExitCode::NEEDS_CONFIRMATION],
        label: "",
        meaning: &["sweep found dashboards to stop, but had no terminal to ask and no --yes"],
    },
    Row {
        codes: &[LeakcheckExitCode::REAP_FAILED],
        label: "",
        meaning: &["a leaked dashboard could not be stopped"],
    },
    Row {
        codes: &[
            LeakcheckExitCode::COMMAND_NOT_EXECUTABLE,
            LeakcheckExitCode::COMMAND_NOT_FOUND,
        ],
        label: "",
        meaning: &["COMMAND not executable / not found"],
    },
    Row {
        codes: &[LeakcheckExitCode::SIGNAL_BASE],
        label: " + N",
        meaning: &[
            "signal N (SIGINT, SIGTERM, SIGHUP) came while leaks (or, in sweep,",
            "the confirmed dashboards) were being stopped: the clean-up was",
            "finished first (wrap re-raises the signal)",
        ],
    },
    Row {
        codes: &[LeakcheckExitCode::INTERNAL_ERROR],
        label: "",
        meaning: &["leakcheck itself failed"],
    },
];

/// The width of the label column.
const LABEL_WIDTH: usize = 15;

/// What `--help` ends with: every status and what it means, built from the
/// constants (`126 / 127`, `128 + N`).
pub fn status_table() -> String {
    let mut out = String::from("Exit status:");
    for row in &ROWS {
        let codes: Vec<String> = row.codes.iter().map(i32::to_string).collect();
        let label = format!("{}{}", codes.join(" / "), row.label);
        for (i, line) in row.meaning.iter().enumerate() {
            let label = if i == 0 { label.as_str() } else { "" };
            let _ = write!(out, "\n  {label:<LABEL_WIDTH$}{line}");
        }
    }
    out
}

/// The exit statuses of `sweep` in one paragraph (its `--help` ends with it).
pub fn sweep_statuses() -> String {
    use LeakcheckExitCode as C;
    format!(
        "Exit status: {} done (or nothing to do); {} needs --yes (no terminal to ask);\n\
         {} a dashboard could not be stopped; {} bad usage; {} leakcheck itself failed;\n\
         {} + N signal N came while the confirmed stops ran (they were finished first).",
        C::OK,
        C::NEEDS_CONFIRMATION,
        C::REAP_FAILED,
        C::USAGE,
        C::INTERNAL_ERROR,
        C::SIGNAL_BASE,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every constant, by name.
    const ALL: [(&str, i32); 9] = [
        ("OK", LeakcheckExitCode::OK),
        ("INTERNAL_ERROR", LeakcheckExitCode::INTERNAL_ERROR),
        ("USAGE", LeakcheckExitCode::USAGE),
        ("LEAKED", LeakcheckExitCode::LEAKED),
        ("NEEDS_CONFIRMATION", LeakcheckExitCode::NEEDS_CONFIRMATION),
        ("REAP_FAILED", LeakcheckExitCode::REAP_FAILED),
        (
            "COMMAND_NOT_EXECUTABLE",
            LeakcheckExitCode::COMMAND_NOT_EXECUTABLE,
        ),
        ("COMMAND_NOT_FOUND", LeakcheckExitCode::COMMAND_NOT_FOUND),
        ("SIGNAL_BASE", LeakcheckExitCode::SIGNAL_BASE),
    ];

    #[test]
    fn the_table_lists_every_constant_once_with_its_meaning() {
        for (name, code) in ALL {
            let rows: Vec<&Row> = ROWS.iter().filter(|r| r.codes.contains(&code)).collect();
            assert_eq!(rows.len(), 1, "{name} ({code}) is in {} rows", rows.len());
            assert!(
                rows[0].meaning.iter().all(|l| !l.is_empty()),
                "{name} has no meaning"
            );
        }
        let listed: usize = ROWS.iter().map(|r| r.codes.len()).sum();
        assert_eq!(
            listed,
            ALL.len(),
            "a row lists a status that is no constant"
        );
        let table = status_table();
        let words: Vec<&str> = table.split_whitespace().collect();
        for (name, code) in ALL {
            assert!(
                words.contains(&code.to_string().as_str()),
                "{name}: {table}"
            );
        }
    }

    #[test]
    fn the_table_reads_as_help_prints_it() {
        assert_eq!(
            status_table(),
            "\
Exit status:
  COMMAND's own  COMMAND failed (128 + N for signal N); leaks are still reported and stopped
  0              COMMAND passed and nothing leaked
  2              bad usage
  3              COMMAND passed but something leaked
  4              sweep found dashboards to stop, but had no terminal to ask and no --yes
  5              a leaked dashboard could not be stopped
  126 / 127      COMMAND not executable / not found
  128 + N        signal N (SIGINT, SIGTERM, SIGHUP) came while leaks (or, in sweep,
                 the confirmed dashboards) were being stopped: the clean-up was
                 finished first (wrap re-raises the signal)
  1              leakcheck itself failed"
        );
        assert_eq!(
            sweep_statuses(),
            "Exit status: 0 done (or nothing to do); 4 needs --yes (no terminal to ask);
5 a dashboard could not be stopped; 2 bad usage; 1 leakcheck itself failed;
128 + N signal N came while the confirmed stops ran (they were finished first)."
        );
    }

    #[test]
    fn a_signal_during_the_clean_up_wins() {
        assert_eq!(
            LeakcheckExitCode::after_cleanup(Some(Signal::TERM), LeakcheckExitCode::LEAKED),
            128 + 15
        );
        assert_eq!(
            LeakcheckExitCode::after_cleanup(None, LeakcheckExitCode::LEAKED),
            LeakcheckExitCode::LEAKED
        );
    }
}
