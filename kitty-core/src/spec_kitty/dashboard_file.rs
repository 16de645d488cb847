//! `.kittify/.dashboard`: what spec-kitty records about a project's
//! dashboard, read the way spec-kitty reads it.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::token::{Token, mask_tokens};

/// The largest `.kittify/.dashboard` we read; real ones are under 100 bytes.
pub const DASHBOARD_FILE_LIMIT: u64 = 4096;

/// The contents of `.kittify/.dashboard`, read the way spec-kitty reads it:
/// non-empty lines, each stripped; line 1 the url, line 2 the port, line 3
/// the token, line 4 the pid; extra lines, trailing spaces and CRLF are fine,
/// and a line that is not a number leaves its field empty (as spec-kitty's
/// `int()` failing does). `Debug` shows no token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DashboardFile {
    /// Line 1, e.g. `http://127.0.0.1:9237` (anything like a token masked).
    pub url: String,
    /// Line 2, when it is a port.
    pub port: Option<u16>,
    token: Option<Token>,
    /// Line 4, when it is a number.
    pub pid: Option<u32>,
}

/// Why a `.kittify/.dashboard` could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DashboardFileError {
    /// It could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// It is not a dashboard file.
    #[error("{path} is not a spec-kitty dashboard file: {reason}")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
}

/// Python's `str.splitlines()` line ends.
fn is_line_end(c: char) -> bool {
    matches!(
        c,
        '\n' | '\r'
            | '\x0b'
            | '\x0c'
            | '\x1c'
            | '\x1d'
            | '\x1e'
            | '\u{85}'
            | '\u{2028}'
            | '\u{2029}'
    )
}

/// Python's `str.strip()` whitespace.
fn is_py_space(c: char) -> bool {
    c.is_whitespace() || ('\x1c'..='\x1f').contains(&c)
}

/// Python's `int()` of a stripped line, for the ASCII forms it accepts
/// (`+9237`, `9_237`); `None` where it would raise.
fn py_int(s: &str) -> Option<i64> {
    let digits = s.strip_prefix('+').unwrap_or(s);
    let ok = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit() || b == b'_')
        && !digits.starts_with('_')
        && !digits.ends_with('_')
        && !digits.contains("__");
    if !ok {
        return None;
    }
    digits.replace('_', "").parse().ok()
}

impl DashboardFile {
    /// The file's place inside a project.
    pub fn path_in(project_dir: &Path) -> PathBuf {
        project_dir.join(".kittify").join(".dashboard")
    }

    /// Builds the record for a dashboard on `port` run by `pid`.
    pub fn new(port: u16, token: Option<String>, pid: Option<u32>) -> Self {
        DashboardFile {
            url: format!("http://127.0.0.1:{port}"),
            port: Some(port),
            token: token.map(Token::new),
            pid,
        }
    }

    /// The token. Never print it.
    pub fn token(&self) -> Option<&str> {
        self.token.as_ref().map(Token::expose)
    }

    /// Whether the file records the dashboard `pid` listening on `port`: it
    /// names that pid, or (an old file without a pid) that port.
    pub fn names(&self, pid: u32, port: Option<u16>) -> bool {
        match self.pid {
            Some(p) => p == pid,
            None => self.port.is_some() && self.port == port,
        }
    }

    /// Parses the text as spec-kitty does. Errors only where spec-kitty gets
    /// nothing at all out of the file: not UTF-8, no non-empty line, too large.
    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        if bytes.len() as u64 > DASHBOARD_FILE_LIMIT {
            return Err(format!("larger than {DASHBOARD_FILE_LIMIT} bytes"));
        }
        let text = std::str::from_utf8(bytes).map_err(|_| "not UTF-8".to_string())?;
        let lines: Vec<&str> = text
            .split(is_line_end)
            .map(|l| l.trim_matches(is_py_space))
            .filter(|l| !l.is_empty())
            .collect();
        let Some(url) = lines.first() else {
            return Err("empty".into());
        };
        let port = lines
            .get(1)
            .and_then(|l| py_int(l))
            .and_then(|p| u16::try_from(p).ok())
            .filter(|p| *p > 0);
        let token = lines.get(2).map(|t| Token::new(*t));
        let pid = lines
            .get(3)
            .and_then(|l| py_int(l))
            .and_then(|p| u32::try_from(p).ok())
            .filter(|p| *p > 0);
        Ok(DashboardFile {
            url: mask_tokens(url),
            port,
            token,
            pid,
        })
    }

    /// Reads the file of `project_dir`. `Ok(None)` when there is none.
    pub fn read(project_dir: &Path) -> Result<Option<Self>, DashboardFileError> {
        use crate::os::{BoundedReadError as E, Symlinks};
        let path = Self::path_in(project_dir);
        // Non-blocking and bounded: a FIFO or a device put there is refused
        // at once (never waited on by a drop), a huge file is never read whole.
        let bytes = match crate::os::read_bounded(&path, DASHBOARD_FILE_LIMIT, Symlinks::Follow) {
            Ok(bytes) => bytes,
            Err(E::Missing) => return Ok(None),
            Err(E::NotRegular(_)) => {
                return Err(DashboardFileError::Malformed {
                    path,
                    reason: "not a regular file".into(),
                });
            }
            Err(E::TooLarge { limit }) => {
                return Err(DashboardFileError::Malformed {
                    path,
                    reason: format!("larger than {limit} bytes"),
                });
            }
            Err(E::Io(source)) => return Err(DashboardFileError::Io { path, source }),
            Err(e @ E::Symlink) => {
                return Err(DashboardFileError::Malformed {
                    path,
                    reason: e.to_string(),
                });
            }
        };
        Self::parse(&bytes)
            .map(Some)
            .map_err(|reason| DashboardFileError::Malformed { path, reason })
    }

    /// Writes the file in spec-kitty's format, mode 0600, whole or not at
    /// all (the one atomic writer: a fresh `O_EXCL|O_NOFOLLOW` temp file,
    /// removed on error, renamed into place; a symlink at the file is refused).
    pub fn write(&self, project_dir: &Path) -> io::Result<()> {
        let path = Self::path_in(project_dir);
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir)?;
        }
        let mut text = self.url.clone();
        text.push('\n');
        if let Some(p) = self.port {
            text.push_str(&p.to_string());
        }
        text.push('\n');
        if let Some(t) = &self.token {
            text.push_str(t.expose());
            text.push('\n');
        }
        if let Some(p) = self.pid {
            text.push_str(&p.to_string());
            text.push('\n');
        }
        crate::os::write_file_atomically(&path, text.as_bytes())
    }

    /// Removes the file of `project_dir` if it still records the dashboard
    /// `pid` on `port` ([`DashboardFile::names`]). Returns whether it removed it.
    pub fn remove_if_names(project_dir: &Path, pid: u32, port: Option<u16>) -> bool {
        let names_it = match Self::read(project_dir) {
            Ok(Some(f)) => f.names(pid, port),
            Ok(None) => false,
            // An unreadable file cannot name anything; leave it for its owner.
            Err(_) => false,
        };
        names_it && fs::remove_file(Self::path_in(project_dir)).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn dashboard_file_round_trip() {
        let dir = tempfile::tempdir().expect("tmp");
        let f = DashboardFile::new(9237, Some(TOKEN.into()), Some(4242));
        f.write(dir.path()).expect("write");
        let text = fs::read_to_string(DashboardFile::path_in(dir.path())).expect("read");
        assert_eq!(
            text,
            format!("http://127.0.0.1:9237\n9237\n{TOKEN}\n4242\n")
        );
        assert_eq!(DashboardFile::read(dir.path()).expect("ok"), Some(f));
        assert!(!DashboardFile::remove_if_names(dir.path(), 1, None));
        assert!(DashboardFile::remove_if_names(dir.path(), 4242, None));
        assert_eq!(DashboardFile::read(dir.path()).expect("ok"), None);
    }

    #[test]
    fn dashboard_files_are_read_the_way_spec_kitty_reads_them() {
        let read = |b: &[u8]| DashboardFile::parse(b).expect("parses");
        let crlf = read(b"http://127.0.0.1:9237  \r\n 9237\r\n\r\ntok \r\n4242\r\nextra line\n");
        assert_eq!(
            (crlf.port, crlf.token(), crlf.pid),
            (Some(9237), Some("tok"), Some(4242))
        );
        assert!(crlf.names(4242, None) && !crlf.names(4243, Some(9237)));
        let old = read(b"http://127.0.0.1:9237\n9237\n");
        assert_eq!((old.port, old.token(), old.pid), (Some(9237), None, None));
        assert!(old.names(1, Some(9237)) && !old.names(1, Some(9238)));
        let odd = read(b"http://x\nnot a port\ntok\nnot a pid\n");
        assert_eq!((odd.port, odd.pid), (None, None));
        assert!(!odd.names(1, Some(9237)));
        assert_eq!(read(b"u\n+9_237\nt\n42\n").port, Some(9237));
        assert_eq!(read(b"u\n70000\nt\n42\n").port, None);
        for bad in [&b""[..], b"\n \n", b"\xff\xfe\x00"] {
            assert!(DashboardFile::parse(bad).is_err(), "{bad:?}");
        }
        assert!(DashboardFile::parse(&vec![b'9'; 1 << 20]).is_err());
    }

    #[test]
    #[cfg(target_os = "linux")] // makes the FIFO through os
    fn a_fifo_is_an_error_not_a_hang() {
        let dir = tempfile::tempdir().expect("tmp");
        fs::create_dir_all(dir.path().join(".kittify")).expect("mkdir");
        crate::os::make_fifo(&DashboardFile::path_in(dir.path())).expect("mkfifo");
        assert!(matches!(
            DashboardFile::read(dir.path()),
            Err(DashboardFileError::Malformed { .. })
        ));
    }
}
