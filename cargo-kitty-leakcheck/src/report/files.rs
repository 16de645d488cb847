//! Writing a report file: whole or not at all, never through a symlink.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::SinkError;

/// Writes `text` to `path` atomically: a fresh temporary file beside it
/// (created, never opened through a symlink), renamed over `path`. A reader
/// never sees half a report; a symlink planted at `path` is replaced, not
/// followed.
pub fn write(path: &Path, what: &'static str, text: String) -> Result<(), SinkError> {
    let err = |source: io::Error| SinkError {
        what,
        path: path.to_path_buf(),
        source,
    };
    let tmp = temp_beside(path);
    let result = (|| {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .custom_flags(rustix_nofollow())
            .open(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_data()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(err)
}

fn temp_beside(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".tmp.{}", std::process::id()));
    path.with_file_name(name)
}

/// `O_NOFOLLOW`, as std's `custom_flags` wants it.
fn rustix_nofollow() -> i32 {
    kitty_fixtures::os::O_NOFOLLOW
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_file_replaces_a_planted_symlink_and_never_writes_through_it() {
        let dir = std::env::temp_dir().join(format!("kitty-report-file-{}", std::process::id()));
        fs::create_dir_all(&dir).expect("dir");
        let precious = dir.join("precious");
        fs::write(&precious, "keep").expect("precious");
        let report = dir.join("report.json");
        std::os::unix::fs::symlink(&precious, &report).expect("plant");
        write(&report, "the JSON report", "{}\n".into()).expect("written");
        assert_eq!(fs::read_to_string(&precious).expect("read"), "keep");
        assert_eq!(fs::read_to_string(&report).expect("read"), "{}\n");
        assert!(
            !fs::symlink_metadata(&report)
                .expect("meta")
                .file_type()
                .is_symlink()
        );
        let _ = fs::remove_dir_all(&dir);
    }
}
