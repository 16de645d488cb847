//! Entry points for the fuzz targets in `fuzz/` (cargo-fuzz): the parsers of
//! untrusted bytes that are otherwise crate-private, each a pure function of
//! its bytes. Hidden, not an API: it may change with any release.

use std::ffi::OsString;

/// `/proc/PID/stat` as the process table reads it: `(state, ppid, pgid,
/// sid, start_ticks)`, or `None` for text that is not a stat line.
pub fn parse_proc_stat(text: &[u8]) -> Option<(char, u32, u32, u32, u64)> {
    crate::os::parse_stat(text).map(|s| (s.state, s.ppid, s.pgid, s.sid, s.start_ticks))
}

/// `/proc/PID/cmdline` split into argv words, as the process table reads it.
pub fn split_proc_cmdline(raw: &[u8]) -> Vec<OsString> {
    crate::os::split_cmdline(raw)
}
