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
    /// COMMAND passed and nothing leaked (`snapshot`: the baseline was
    /// written; `check`: nothing leaked since it; `sweep`: nothing left to stop).
    pub const OK: i32 = 0;
    /// leakcheck itself failed (it could not read the listeners or processes,
    /// or write a report file).
    pub const INTERNAL_ERROR: i32 = 1;
    /// Bad usage: unknown option, bad `--ports`, bad duration, a baseline file
    /// that is missing, not a regular file (a FIFO, a device, a directory),
    /// larger than 16 MiB, or not a baseline.
    pub const USAGE: i32 = 2;
    /// COMMAND passed but leaked dashboards or listeners (they were reported, and reaped unless `--no-reap`).
    pub const LEAKED: i32 = 3;
    /// `sweep` had something to stop (or a stale file to remove) but was not
    /// told to: the answer on the terminal was not `y`, or there was no
    /// terminal to ask and no `--yes`; nothing was stopped. (A `--dry-run`
    /// asks for nothing to be stopped, and exits 0.)
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

/// Whose `--help` an exit-status table is for: the top-level one (every
/// mode's statuses, COMMAND's wording) or one mode's (only the statuses it
/// can exit with, in its own words).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HelpOf {
    /// `cargo kitty-leakcheck --help`: the default mode, and every status.
    All,
    /// `wrap --help`.
    Wrap,
    /// `snapshot --help`.
    Snapshot,
    /// `check --help`.
    Check,
    /// `sweep --help`.
    Sweep,
}

/// What one row says in the help of `modes`: its label (none for a row of
/// codes, the suffix ` + N` of one, or the whole label of "COMMAND's own")
/// and its meaning, a string per line.
struct Says {
    modes: &'static [HelpOf],
    label: &'static str,
    meaning: &'static [&'static str],
}

/// One row of the exit-status table: the statuses it covers (none for
/// "COMMAND's own") and what it says in each help that lists it (the first
/// [`Says`] naming the mode; a mode none names does not list the row).
struct Row {
    codes: &'static [i32],
    says: &'static [Says],
}

use HelpOf::{All, Check, Snapshot, Sweep, Wrap};

/// The rows of [`status_table`], in the order `--help` gives them.
const ROWS: [Row; 9] = [
    Row {
        codes: &[],
        says: &[
            Says {
                modes: &[All],
                label: "COMMAND's own",
                meaning: &[
                    "COMMAND failed (128 + N for signal N); leaks are still reported and stopped",
                ],
            },
            Says {
                modes: &[Wrap],
                label: "the test's own",
                meaning: &[
                    "the test failed; leaks are still reported and stopped (a test that",
                    "signal N killed: wrap ends by signal N too, so nextest names it)",
                ],
            },
        ],
    },
    Row {
        codes: &[LeakcheckExitCode::OK],
        says: &[
            Says {
                modes: &[All],
                label: "",
                meaning: &["COMMAND passed and nothing leaked (sweep: nothing left to stop)"],
            },
            Says {
                modes: &[Wrap],
                label: "",
                meaning: &["the test passed and leaked nothing"],
            },
            Says {
                modes: &[Snapshot],
                label: "",
                meaning: &["the baseline was written"],
            },
            Says {
                modes: &[Check],
                label: "",
                meaning: &["nothing leaked since the baseline"],
            },
            Says {
                modes: &[Sweep],
                label: "",
                meaning: &["done, or nothing left to stop (--dry-run: listed only)"],
            },
        ],
    },
    Row {
        codes: &[LeakcheckExitCode::USAGE],
        says: &[
            Says {
                modes: &[Check],
                label: "",
                meaning: &["bad usage, or a baseline that is missing or is not one"],
            },
            Says {
                modes: &[All, Wrap, Snapshot, Sweep],
                label: "",
                meaning: &["bad usage"],
            },
        ],
    },
    Row {
        codes: &[LeakcheckExitCode::LEAKED],
        says: &[
            Says {
                modes: &[All],
                label: "",
                meaning: &["COMMAND passed but something leaked"],
            },
            Says {
                modes: &[Wrap],
                label: "",
                meaning: &["the test passed but leaked a dashboard"],
            },
            Says {
                modes: &[Check],
                label: "",
                meaning: &["something leaked since the baseline"],
            },
        ],
    },
    Row {
        codes: &[LeakcheckExitCode::NEEDS_CONFIRMATION],
        says: &[
            Says {
                modes: &[All],
                label: "",
                meaning: &[
                    "sweep had something to stop but was not told to: the answer was not y,",
                    "or there was no terminal to ask and no --yes; nothing was stopped",
                ],
            },
            Says {
                modes: &[Sweep],
                label: "",
                meaning: &[
                    "something to stop, but not confirmed: the answer was not y, or there",
                    "was no terminal to ask and no --yes; nothing was stopped",
                ],
            },
        ],
    },
    Row {
        codes: &[LeakcheckExitCode::REAP_FAILED],
        says: &[
            Says {
                modes: &[All, Wrap, Check],
                label: "",
                meaning: &["a leaked dashboard could not be stopped"],
            },
            Says {
                modes: &[Sweep],
                label: "",
                meaning: &["a dashboard or server could not be stopped"],
            },
        ],
    },
    Row {
        codes: &[
            LeakcheckExitCode::COMMAND_NOT_EXECUTABLE,
            LeakcheckExitCode::COMMAND_NOT_FOUND,
        ],
        says: &[
            Says {
                modes: &[All],
                label: "",
                meaning: &["COMMAND not executable / not found"],
            },
            Says {
                modes: &[Wrap],
                label: "",
                meaning: &["the test not executable / not found"],
            },
        ],
    },
    Row {
        codes: &[LeakcheckExitCode::SIGNAL_BASE],
        says: &[
            Says {
                modes: &[All],
                label: " + N",
                meaning: &[
                    "signal N (SIGINT, SIGTERM, SIGHUP) came while leaks (or, in sweep,",
                    "the confirmed dashboards) were being stopped: the clean-up was",
                    "finished first (wrap re-raises the signal)",
                ],
            },
            Says {
                modes: &[Wrap],
                label: " + N",
                meaning: &[
                    "signal N (SIGINT, SIGTERM, SIGHUP) came while leaks were being",
                    "stopped: the clean-up was finished first, then wrap ends by signal N",
                ],
            },
            Says {
                modes: &[Check],
                label: " + N",
                meaning: &[
                    "signal N (SIGINT, SIGTERM, SIGHUP) came: the leaks being stopped",
                    "were stopped first",
                ],
            },
            Says {
                modes: &[Sweep],
                label: " + N",
                meaning: &[
                    "signal N (SIGINT, SIGTERM, SIGHUP) came while the confirmed stops",
                    "ran: they were finished first",
                ],
            },
        ],
    },
    Row {
        codes: &[LeakcheckExitCode::INTERNAL_ERROR],
        says: &[
            Says {
                modes: &[Snapshot],
                label: "",
                meaning: &[
                    "leakcheck itself failed (it could not read the listeners, or write",
                    "the baseline or a report file)",
                ],
            },
            Says {
                modes: &[All, Wrap, Check, Sweep],
                label: "",
                meaning: &["leakcheck itself failed (or could not write a report file)"],
            },
        ],
    },
];

/// The width of the label column.
const LABEL_WIDTH: usize = 15;

/// What `--help` of `of` ends with: every status it can exit with and what
/// it means, built from the constants (`126 / 127`, `128 + N`).
pub fn status_table(of: HelpOf) -> String {
    let rows: Vec<(String, &Says)> = ROWS
        .iter()
        .filter_map(|row| {
            let says = row.says.iter().find(|s| s.modes.contains(&of))?;
            let codes: Vec<String> = row.codes.iter().map(i32::to_string).collect();
            Some((format!("{}{}", codes.join(" / "), says.label), says))
        })
        .collect();
    let width = rows
        .iter()
        .map(|(label, _)| label.len() + 2)
        .fold(LABEL_WIDTH, usize::max);
    let mut out = String::from("Exit status:");
    for (label, says) in &rows {
        for (i, line) in says.meaning.iter().enumerate() {
            let label = if i == 0 { label.as_str() } else { "" };
            let _ = write!(out, "\n  {label:<width$}{line}");
        }
    }
    out
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

    const MODES: [HelpOf; 5] = [All, Wrap, Snapshot, Check, Sweep];

    #[test]
    fn the_table_lists_every_constant_once_with_its_meaning() {
        for (name, code) in ALL {
            let rows: Vec<&Row> = ROWS.iter().filter(|r| r.codes.contains(&code)).collect();
            assert_eq!(rows.len(), 1, "{name} ({code}) is in {} rows", rows.len());
        }
        let listed: usize = ROWS.iter().map(|r| r.codes.len()).sum();
        assert_eq!(
            listed,
            ALL.len(),
            "a row lists a status that is no constant"
        );
        for row in &ROWS {
            assert!(
                row.says.iter().any(|s| s.modes.contains(&All)),
                "the top-level help lists every row: {:?}",
                row.codes
            );
            for mode in MODES {
                let naming = row.says.iter().filter(|s| s.modes.contains(&mode)).count();
                assert!(naming <= 1, "{mode:?} is named twice for {:?}", row.codes);
            }
            for says in row.says {
                assert!(says.meaning.iter().all(|l| !l.is_empty()));
            }
        }
        let table = status_table(All);
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
            status_table(All),
            "\
Exit status:
  COMMAND's own  COMMAND failed (128 + N for signal N); leaks are still reported and stopped
  0              COMMAND passed and nothing leaked (sweep: nothing left to stop)
  2              bad usage
  3              COMMAND passed but something leaked
  4              sweep had something to stop but was not told to: the answer was not y,
                 or there was no terminal to ask and no --yes; nothing was stopped
  5              a leaked dashboard could not be stopped
  126 / 127      COMMAND not executable / not found
  128 + N        signal N (SIGINT, SIGTERM, SIGHUP) came while leaks (or, in sweep,
                 the confirmed dashboards) were being stopped: the clean-up was
                 finished first (wrap re-raises the signal)
  1              leakcheck itself failed (or could not write a report file)"
        );
        assert_eq!(
            status_table(Snapshot),
            "\
Exit status:
  0              the baseline was written
  2              bad usage
  1              leakcheck itself failed (it could not read the listeners, or write
                 the baseline or a report file)"
        );
        assert_eq!(
            status_table(Sweep),
            "\
Exit status:
  0              done, or nothing left to stop (--dry-run: listed only)
  2              bad usage
  4              something to stop, but not confirmed: the answer was not y, or there
                 was no terminal to ask and no --yes; nothing was stopped
  5              a dashboard or server could not be stopped
  128 + N        signal N (SIGINT, SIGTERM, SIGHUP) came while the confirmed stops
                 ran: they were finished first
  1              leakcheck itself failed (or could not write a report file)"
        );
    }

    #[test]
    fn each_mode_lists_only_its_own_statuses_in_its_own_words() {
        let codes = |of| {
            ROWS.iter()
                .filter(|r| r.says.iter().any(|s| s.modes.contains(&of)))
                .flat_map(|r| r.codes.iter().copied())
                .collect::<Vec<_>>()
        };
        use LeakcheckExitCode as C;
        assert_eq!(
            codes(Wrap),
            [
                C::OK,
                C::USAGE,
                C::LEAKED,
                C::REAP_FAILED,
                126,
                127,
                C::SIGNAL_BASE,
                C::INTERNAL_ERROR
            ]
        );
        assert_eq!(
            codes(Check),
            [
                C::OK,
                C::USAGE,
                C::LEAKED,
                C::REAP_FAILED,
                C::SIGNAL_BASE,
                C::INTERNAL_ERROR
            ]
        );
        assert_eq!(
            codes(Sweep),
            [
                C::OK,
                C::USAGE,
                C::NEEDS_CONFIRMATION,
                C::REAP_FAILED,
                C::SIGNAL_BASE,
                C::INTERNAL_ERROR
            ]
        );
        for of in [Wrap, Snapshot, Check, Sweep] {
            let table = status_table(of);
            assert!(!table.contains("COMMAND"), "{of:?}: {table}");
        }
        assert!(status_table(Wrap).contains("the test's own"));
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
