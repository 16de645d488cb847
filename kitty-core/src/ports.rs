//! Port sets: `KITTY_PORTS`, `--ports`, a single port, spec-kitty's range.

use std::fmt;
use std::ops::RangeInclusive;
use std::str::FromStr;

/// The environment variable that overrides the port set.
pub const PORTS_ENV: &str = "KITTY_PORTS";

/// A set of TCP ports written as inclusive ranges: `9237-9336`, `9300`,
/// `9237-9336,9990-9999`.
///
/// ```
/// use kitty_core::PortSet;
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
    #[error("empty port list; expected e.g. 9237-9336 or 9237-9336,9990-9999")]
    Empty,
    /// A part is not a number or a range.
    #[error("{part:?} is not a port or a range; expected e.g. 9237-9336")]
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

    /// spec-kitty's own range, 9237-9336
    /// ([`DASHBOARD_PORTS`](crate::spec_kitty::DASHBOARD_PORTS)): the default
    /// of kitty-fixtures and of `cargo kitty-leakcheck --ports`.
    pub fn spec_kitty() -> Self {
        Self::range(crate::spec_kitty::DASHBOARD_PORTS)
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

    /// Every port, from the highest down: the fixtures take ports from the
    /// top of the range, away from spec-kitty's own search, which goes up from
    /// the bottom.
    pub fn iter_descending(&self) -> impl Iterator<Item = u16> + '_ {
        let mut all: Vec<u16> = self.iter().collect();
        all.sort_unstable_by(|a, b| b.cmp(a));
        all.dedup();
        all.into_iter()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_refuses() {
        let ok = |s: &str| s.parse::<PortSet>().expect(s);
        assert_eq!(ok("9237-9336").len(), 100);
        assert_eq!(ok(" 9300 ").len(), 1);
        assert_eq!(ok("9237-9336,9990-9999").to_string(), "9237-9336,9990-9999");
        let down: Vec<u16> = ok("9300-9302,9240").iter_descending().collect();
        assert_eq!(down, [9302, 9301, 9300, 9240]);
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
}
