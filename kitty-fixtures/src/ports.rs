//! Port sets (`KITTY_PORTS`, `--ports`) and cross-process port reservations.
//!
//! A reservation is an exclusive `flock` on `<dir>/<port>.lock`, held for the
//! dashboard's whole life and released by the kernel when its holder dies,
//! however it dies. The file holds a JSON [`ReservationRecord`] (owner pid and
//! start time, dashboard pid and start time, project dir) so that anyone can
//! tell an orphan (lock free, dashboard still running) from a live dashboard.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::net::{Ipv4Addr, TcpListener};
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::probe::ProcessIdentity;

/// The ports spec-kitty scans: `range(9237, 9337)`.
pub const SPEC_KITTY_RANGE: RangeInclusive<u16> = 9237..=9336;

/// The environment variable that overrides the port set.
pub const PORTS_ENV: &str = "KITTY_PORTS";

/// A set of TCP ports written as inclusive ranges: `9237-9337`, `9300`,
/// `9237-9337,9990-9999`.
///
/// ```
/// use kitty_fixtures::ports::PortSet;
/// let p: PortSet = "9237-9240,9990".parse().unwrap();
/// assert!(p.contains(9240) && p.contains(9990) && !p.contains(9241));
/// assert_eq!(p.to_string(), "9237-9240,9990");
/// assert!("9337-9237".parse::<PortSet>().is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PortSet {
    ranges: Vec<RangeInclusive<u16>>,
}

/// Why a port set was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PortSetError {
    /// Nothing was given.
    #[error("empty port list; expected e.g. 9237-9337 or 9237-9337,9990-9999")]
    Empty,
    /// A part is not a number or a range.
    #[error("{part:?} is not a port or a range; expected e.g. 9237-9337")]
    NotAPort {
        /// The part.
        part: String,
    },
    /// A number above 65535 or zero.
    #[error("{part:?} is out of range: ports are 1-65535")]
    OutOfRange {
        /// The part.
        part: String,
    },
    /// A range whose start is above its end.
    #[error("range {start}-{end} is backwards; write {end}-{start}")]
    Backwards {
        /// The start.
        start: u16,
        /// The end.
        end: u16,
    },
}

impl PortSet {
    /// One inclusive range.
    pub fn range(range: RangeInclusive<u16>) -> Self {
        PortSet {
            ranges: vec![range],
        }
    }

    /// One port.
    pub fn single(port: u16) -> Self {
        PortSet {
            ranges: vec![port..=port],
        }
    }

    /// spec-kitty's own range, 9237-9336.
    pub fn spec_kitty() -> Self {
        Self::range(SPEC_KITTY_RANGE)
    }

    /// `KITTY_PORTS` when set, else `default`. A malformed value is an error, never ignored.
    pub fn from_env_or(default: PortSet) -> Result<Self, PortSetError> {
        match std::env::var(PORTS_ENV) {
            Ok(v) => v.parse(),
            Err(_) => Ok(default),
        }
    }

    /// Whether `port` is in the set.
    pub fn contains(&self, port: u16) -> bool {
        self.ranges.iter().any(|r| r.contains(&port))
    }

    /// Every port, in order.
    pub fn iter(&self) -> impl Iterator<Item = u16> + '_ {
        self.ranges.iter().flat_map(|r| r.clone())
    }

    /// How many ports.
    pub fn len(&self) -> usize {
        self.ranges.iter().map(|r| r.clone().count()).sum()
    }

    /// Never true for a parsed set; kept for the `len` convention.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn parse_port(part: &str) -> Result<u16, PortSetError> {
    let t = part.trim();
    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
        return Err(PortSetError::NotAPort {
            part: part.to_string(),
        });
    }
    match t.parse::<u32>() {
        Ok(n) if (1..=65535).contains(&n) => Ok(n as u16),
        _ => Err(PortSetError::OutOfRange {
            part: part.to_string(),
        }),
    }
}

impl FromStr for PortSet {
    type Err = PortSetError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.trim().is_empty() {
            return Err(PortSetError::Empty);
        }
        let mut ranges = Vec::new();
        for part in s.split(',') {
            if part.trim().is_empty() {
                return Err(PortSetError::Empty);
            }
            let r = match part.split_once('-') {
                Some((a, b)) => {
                    // "9300-" or "-5": name the whole part, not its empty half.
                    let whole = |e| match e {
                        PortSetError::NotAPort { .. } => PortSetError::NotAPort {
                            part: part.to_string(),
                        },
                        other => other,
                    };
                    let (start, end) =
                        (parse_port(a).map_err(whole)?, parse_port(b).map_err(whole)?);
                    if start > end {
                        return Err(PortSetError::Backwards { start, end });
                    }
                    start..=end
                }
                None => {
                    let p = parse_port(part)?;
                    p..=p
                }
            };
            ranges.push(r);
        }
        Ok(PortSet { ranges })
    }
}

impl fmt::Display for PortSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.ranges.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            if r.start() == r.end() {
                write!(f, "{}", r.start())?;
            } else {
                write!(f, "{}-{}", r.start(), r.end())?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for PortSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PortSet({self})")
    }
}

/// The environment variable that moves the reservation directory.
pub const RESERVATIONS_ENV: &str = "KITTY_RESERVATIONS_DIR";

/// Where reservations live: `$KITTY_RESERVATIONS_DIR`, else
/// `<temp dir>/kitty-fixtures-<uid>` (one per user: others' dashboards are
/// never ours to judge).
pub fn reservation_dir() -> PathBuf {
    match std::env::var_os(RESERVATIONS_ENV) {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => std::env::temp_dir().join(format!(
            "kitty-fixtures-{}",
            crate::probe::sys::current_uid()
        )),
    }
}

/// What a reservation file says about its port.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ReservationRecord {
    /// The port.
    pub port: u16,
    /// The process holding the lock (the test process).
    pub owner_pid: u32,
    /// Its start time in clock ticks.
    pub owner_start_ticks: u64,
    /// The dashboard started on the port, once spawned.
    pub dashboard_pid: Option<u32>,
    /// Its start time in clock ticks.
    pub dashboard_start_ticks: Option<u64>,
    /// The project the dashboard serves.
    pub project_dir: PathBuf,
}

/// A port held for one dashboard, across threads and processes. Dropping it
/// releases the port; so does the death of the process holding it.
#[derive(Debug)]
pub struct Reservation {
    port: u16,
    file: File,
    record: ReservationRecord,
}

impl Reservation {
    /// Tries to reserve `port` for a dashboard of `project_dir`: takes the lock
    /// and then checks the port can be bound on 127.0.0.1. `Ok(None)` when
    /// someone else has it.
    pub fn try_acquire(port: u16, project_dir: &Path) -> io::Result<Option<Self>> {
        let dir = reservation_dir();
        fs::create_dir_all(&dir)?;
        let path = dir.join(format!("{port}.lock"));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => return Ok(None),
            Err(fs::TryLockError::Error(e)) => return Err(e),
        }
        if TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_err() {
            return Ok(None);
        }
        let me = ProcessIdentity::read(std::process::id());
        let record = ReservationRecord {
            port,
            owner_pid: std::process::id(),
            owner_start_ticks: me.map(|m| m.start_ticks()).unwrap_or(0),
            dashboard_pid: None,
            dashboard_start_ticks: None,
            project_dir: project_dir.to_path_buf(),
        };
        let mut r = Reservation { port, file, record };
        r.persist()?;
        Ok(Some(r))
    }

    /// The reserved port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Records the dashboard now running on the port.
    pub fn record_dashboard(&mut self, dashboard: &ProcessIdentity) -> io::Result<()> {
        self.record.dashboard_pid = Some(dashboard.pid());
        self.record.dashboard_start_ticks = Some(dashboard.start_ticks());
        self.persist()
    }

    fn persist(&mut self) -> io::Result<()> {
        let text = serde_json::to_vec(&self.record).map_err(io::Error::other)?;
        self.file.set_len(0)?;
        self.file.rewind()?;
        self.file.write_all(&text)
    }
}

/// Someone's reservation of a port, as read from its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReservationState {
    /// What the file says.
    pub record: ReservationRecord,
    /// Whether its owner still holds the lock (a dead owner's lock is released
    /// by the kernel).
    pub owner_alive: bool,
}

/// Reads the reservation of `port`, if any file is there and parses.
pub fn read_reservation(port: u16) -> Option<ReservationState> {
    let path = reservation_dir().join(format!("{port}.lock"));
    let mut file = OpenOptions::new().read(true).write(true).open(path).ok()?;
    let mut text = Vec::new();
    (&mut file).take(64 * 1024).read_to_end(&mut text).ok()?;
    let record: ReservationRecord = serde_json::from_slice(&text).ok()?;
    let owner_alive = match file.try_lock() {
        Ok(()) => {
            let _ = file.unlock();
            false
        }
        Err(_) => true,
    };
    Some(ReservationState {
        record,
        owner_alive,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_refuses() {
        let ok = |s: &str| s.parse::<PortSet>().expect(s);
        assert_eq!(ok("9237-9337").len(), 101);
        assert_eq!(ok(" 9300 ").len(), 1);
        assert_eq!(ok("9237-9337,9990-9999").to_string(), "9237-9337,9990-9999");
        assert_eq!("".parse::<PortSet>(), Err(PortSetError::Empty));
        assert_eq!("9237,".parse::<PortSet>(), Err(PortSetError::Empty));
        assert!(matches!(
            "x".parse::<PortSet>(),
            Err(PortSetError::NotAPort { .. })
        ));
        assert_eq!(
            "-5".parse::<PortSet>(),
            Err(PortSetError::NotAPort { part: "-5".into() })
        );
        assert_eq!(
            "9300-".parse::<PortSet>(),
            Err(PortSetError::NotAPort {
                part: "9300-".into()
            })
        );
        assert!(matches!(
            "9237-70000".parse::<PortSet>(),
            Err(PortSetError::OutOfRange { .. })
        ));
        assert!(matches!(
            "0".parse::<PortSet>(),
            Err(PortSetError::OutOfRange { .. })
        ));
        assert_eq!(
            "9337-9237".parse::<PortSet>(),
            Err(PortSetError::Backwards {
                start: 9337,
                end: 9237
            })
        );
    }

    #[test]
    fn a_reservation_excludes_others_until_dropped() {
        let dir = tempfile::tempdir().expect("tmp");
        // SAFETY of env: this test only reads its own variable through reservation_dir.
        let port = {
            let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
            l.local_addr().expect("addr").port()
        };
        let r = Reservation::try_acquire(port, dir.path())
            .expect("io")
            .expect("free");
        assert!(
            Reservation::try_acquire(port, dir.path())
                .expect("io")
                .is_none()
        );
        let state = read_reservation(port).expect("record");
        assert!(state.owner_alive);
        assert_eq!(state.record.owner_pid, std::process::id());
        drop(r);
        let state = read_reservation(port).expect("record");
        assert!(!state.owner_alive);
        assert!(
            Reservation::try_acquire(port, dir.path())
                .expect("io")
                .is_some()
        );
    }
}
