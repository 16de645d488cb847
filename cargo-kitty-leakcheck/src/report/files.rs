//! Writing a report file: whole or not at all, never through a symlink,
//! through the one writer of every file leakcheck writes, its missing
//! directories made first (as nextest makes its output directories).

use std::path::Path;

use super::SinkError;

/// Writes `text` to `path` with
/// [`write_file_atomically_creating_dirs`](kitty_core::sys::write_file_atomically_creating_dirs):
/// the missing directories of its parent made `0755` (never through a
/// symlink), then a temporary file with an unpredictable name beside it
/// (`O_CREAT | O_EXCL | O_NOFOLLOW`, `0600`), renamed over `path`, removed on
/// every error. A reader never sees half a report; a symlink planted at
/// `path` is refused, and its target stays untouched.
pub fn write(path: &Path, what: &'static str, text: String) -> Result<(), SinkError> {
    kitty_core::sys::write_file_atomically_creating_dirs(path, text.as_bytes()).map_err(|source| {
        SinkError {
            what,
            path: path.to_path_buf(),
            source,
        }
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

    #[test]
    fn a_report_file_in_a_missing_directory_makes_it_but_not_through_a_symlink() {
        let dir = std::env::temp_dir().join(format!("kitty-report-dirs-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("dir");
        let nested = dir.join("target/reports/leaks.json");
        write(&nested, "the JSON report", "{}\n".into()).expect("written");
        assert_eq!(fs::read_to_string(&nested).expect("read"), "{}\n");
        let elsewhere = dir.join("elsewhere");
        std::os::unix::fs::symlink(&elsewhere, dir.join("planted")).expect("plant");
        let e = write(
            &dir.join("planted/junit.xml"),
            "the JUnit report",
            "<x/>".into(),
        )
        .expect_err("refused");
        assert!(e.to_string().contains("symlink"), "{e}");
        assert!(!elsewhere.exists(), "nothing made at the link's target");
        let _ = fs::remove_dir_all(&dir);
    }
}
