//! The documented exit statuses of `cargo kitty-leakcheck`.

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
