//! Writing a report file: whole or not at all, never through a symlink,
//! through the one writer of every file leakcheck writes.

use std::path::Path;

use super::SinkError;

/// Writes `text` to `path` with
/// [`write_file_atomically`](kitty_core::sys::write_file_atomically): a
/// temporary file with an unpredictable name beside it (`O_CREAT | O_EXCL |
/// O_NOFOLLOW`, `0600`), renamed over `path`, removed on every error. A
/// reader never sees half a report; a symlink planted at `path` is refused,
/// and its target stays untouched.
pub fn write(path: &Path, what: &'static str, text: String) -> Result<(), SinkError> {
    kitty_core::sys::write_file_atomically(path, text.as_bytes()).map_err(|source| SinkError {
        what,
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn a_report_file_refuses_a_planted_symlink_and_never_writes_through_it() {
        let dir = std::env::temp_dir().join(format!("kitty-report-file-{}", std::process::id()));
        fs::create_dir_all(&dir).expect("dir");
        let precious = dir.join("precious");
        fs::write(&precious, "keep").expect("precious");
        let report = dir.join("report.json");
        std::os::unix::fs::symlink(&precious, &report).expect("plant");
        let e = write(&report, "the JSON report", "{}\n".into()).expect_err("refused");
        assert!(!e.to_string().contains('\n'), "{e}");
        assert_eq!(fs::read_to_string(&precious).expect("read"), "keep");
        let fresh = dir.join("fresh.json");
        write(&fresh, "the JSON report", "{}\n".into()).expect("written");
        assert_eq!(fs::read_to_string(&fresh).expect("read"), "{}\n");
        let _ = fs::remove_dir_all(&dir);
    }
}
