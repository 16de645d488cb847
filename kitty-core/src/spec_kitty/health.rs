//! `GET /api/health`: the dashboard's own word on what it serves (a second
//! opinion next to its command line).

use std::ffi::OsString;
use std::io;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;
use std::time::Duration;

use crate::token::Token;

/// What `/api/health` answered (`Debug` shows no token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    /// `"ok"` for a healthy server.
    pub status: String,
    /// The project the dashboard serves (absent for the sync daemon).
    pub project_path: Option<PathBuf>,
    /// `"sync"` for spec-kitty's sync daemon, absent for a dashboard.
    pub daemon_family: Option<String>,
    token: Option<Token>,
}

impl Health {
    /// True when this is a dashboard's answer: `status` ok, a `project_path`,
    /// and not the sync daemon.
    pub fn is_dashboard(&self) -> bool {
        self.status == "ok" && self.project_path.is_some() && self.daemon_family.is_none()
    }

    /// The token the server reported. Never print it.
    pub fn token(&self) -> Option<&str> {
        self.token.as_ref().map(Token::expose)
    }

    /// Parses a health body. A `project_path` that is not valid UTF-8
    /// arrives as Python writes it, with lone surrogates (`"\\udcff"` for the
    /// byte 0xFF), and is turned back into those bytes.
    pub fn parse(body: &[u8]) -> Option<Health> {
        let body = lone_surrogates_to_private_use(body);
        let v: serde_json::Value = serde_json::from_slice(&body).ok()?;
        let raw = |k: &str| v.get(k).and_then(|x| x.as_str()).map(private_use_to_bytes);
        let s = |k: &str| raw(k).map(|b| b.to_string_lossy().into_owned());
        Some(Health {
            status: s("status")?,
            project_path: raw("project_path").map(PathBuf::from),
            daemon_family: s("daemon_family"),
            token: s("token").map(Token::new),
        })
    }
}

/// Where the bytes 0x80..0xFF of a path that is not valid UTF-8 are parked
/// while serde_json (which refuses lone surrogates) parses the answer: the
/// private-use code point U+F0000 then U+F0080..U+F00FF. A real U+F0000 is
/// doubled, so a real U+F0080..U+F00FF in a path stays itself.
const PARKED: u32 = 0xF0000;

/// U+F0000 (`PARKED`) as UTF-8 and as a JSON escape.
const PARKED_UTF8: &[u8] = "\u{F0000}".as_bytes();
const PARKED_ESCAPE: &[u8] = b"\\udb80\\udc00";

/// Rewrites every JSON escape of a lone surrogate U+DC80..U+DCFF (Python's
/// `surrogateescape` of a raw byte) as the escaped surrogate pairs of
/// `PARKED` and `PARKED + byte`, which serde_json accepts, and doubles every
/// real `PARKED` (raw or escaped).
fn lone_surrogates_to_private_use(body: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    let hex4 = |b: &[u8]| -> Option<u32> {
        u32::from_str_radix(std::str::from_utf8(b.get(..4)?).ok()?, 16).ok()
    };
    if !body.windows(3).any(|w| w.eq_ignore_ascii_case(b"\\ud"))
        && !body.windows(4).any(|w| w == PARKED_UTF8)
    {
        return body.into();
    }
    let mut out = Vec::with_capacity(body.len() + 16);
    let mut i = 0;
    let mut after_high = false;
    while i < body.len() {
        if body[i..].starts_with(PARKED_UTF8) {
            out.extend_from_slice(PARKED_UTF8);
            out.extend_from_slice(PARKED_UTF8);
            after_high = false;
            i += PARKED_UTF8.len();
            continue;
        }
        if body[i] == b'\\' && i + 1 < body.len() {
            if body[i..]
                .get(..PARKED_ESCAPE.len())
                .is_some_and(|e| e.eq_ignore_ascii_case(PARKED_ESCAPE))
                && !after_high
            {
                out.extend_from_slice(PARKED_ESCAPE);
                out.extend_from_slice(PARKED_ESCAPE);
                i += PARKED_ESCAPE.len();
                continue;
            }
            if body[i + 1] == b'u'
                && let Some(cp) = hex4(&body[i + 2..])
            {
                if (0xDC80..=0xDCFF).contains(&cp) && !after_high {
                    let parked = PARKED + (cp - 0xDC00) - 0x10000;
                    let (hi, lo) = (0xD800 + (parked >> 10), 0xDC00 + (parked & 0x3FF));
                    out.extend_from_slice(PARKED_ESCAPE);
                    out.extend_from_slice(format!("\\u{hi:04x}\\u{lo:04x}").as_bytes());
                } else {
                    out.extend_from_slice(&body[i..i + 6]);
                }
                after_high = (0xD800..=0xDBFF).contains(&cp);
                i += 6;
                continue;
            }
            out.extend_from_slice(&body[i..i + 2]);
            after_high = false;
            i += 2;
            continue;
        }
        out.push(body[i]);
        after_high = false;
        i += 1;
    }
    out.into()
}

/// The bytes of a parsed string, with parked raw bytes restored and
/// doubled `PARKED`s undoubled.
fn private_use_to_bytes(s: &str) -> OsString {
    let mut out = Vec::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if u32::from(c) == PARKED
            && let Some(&next) = chars.peek()
        {
            match u32::from(next) {
                PARKED => {
                    chars.next();
                }
                cp @ 0xF0080..=0xF00FF => {
                    chars.next();
                    out.push((cp - PARKED) as u8);
                    continue;
                }
                _ => {}
            }
        }
        out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
    }
    OsString::from_vec(out)
}

/// Asks `127.0.0.1:port` for `/api/health`; the whole exchange (connect,
/// request, answer) must end within `timeout`, so a server that trickles one
/// byte at a time cannot stall a stop or a report.
///
/// A plain HTTP/1.0 GET over a `TcpStream`: the server is local and speaks
/// HTTP/1.0, so a client library would add nothing but build time.
pub fn fetch_health(port: u16, timeout: Duration) -> io::Result<Health> {
    let body = crate::server::http_get(port, "/api/health", timeout)?;
    Health::parse(&body)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "not a health answer"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 4.0.0rc1-rc4 answer with less: no `sync`, no `websocket_status`.
    #[test]
    fn the_smaller_payload_of_4x_is_a_dashboard() {
        let h = Health::parse(
            br#"{"status": "ok", "project_path": "/tmp/p", "token": "t", "preflight_warning": null}"#,
        )
        .expect("parse");
        assert!(h.is_dashboard());
        assert_eq!(
            h.project_path.as_deref(),
            Some(std::path::Path::new("/tmp/p"))
        );
    }

    #[test]
    fn parses_both_kinds() {
        let d = Health::parse(
            br#"{"status": "ok", "project_path": "/tmp/p", "token": "t", "sync": {}}"#,
        )
        .expect("parse");
        assert!(d.is_dashboard());
        assert!(!format!("{d:?}").contains("\"t\""));
        let sync = Health::parse(br#"{"status": "ok", "daemon_family": "sync"}"#).expect("parse");
        assert!(!sync.is_dashboard());
        assert!(Health::parse(b"<html>").is_none());
    }

    #[test]
    fn a_path_that_is_not_utf8_comes_back_as_its_bytes() {
        use std::os::unix::ffi::OsStrExt;
        let body = br#"{"status": "ok", "project_path": "/tmp/p-\udcff\udcfe \u00e9 \ud83d\ude00 \\udcff"}"#;
        let h = Health::parse(body).expect("parse");
        let want = [
            &b"/tmp/p-\xff\xfe "[..],
            "\u{e9} \u{1f600} \\udcff".as_bytes(),
        ]
        .concat();
        assert_eq!(
            h.project_path.expect("path").as_os_str().as_bytes(),
            want.as_slice()
        );
        // Real private-use code points (raw, escaped, next to a raw byte)
        // are not taken for parked bytes.
        let body = "{\"status\": \"ok\", \"project_path\": \"/\\udb80\\udc80 \u{f0000}\u{f0081} \\udb80\\udc00\\udcff\\udb80\\udc00\"}";
        let h = Health::parse(body.as_bytes()).expect("parse");
        let want = [
            "/\u{f0080} \u{f0000}\u{f0081} \u{f0000}".as_bytes(),
            b"\xff",
            "\u{f0000}".as_bytes(),
        ]
        .concat();
        assert_eq!(
            h.project_path.expect("path").as_os_str().as_bytes(),
            want.as_slice()
        );
    }

    #[test]
    fn a_trickling_server_cannot_stall_the_health_check() {
        use std::io::Write as _;
        use std::time::Instant;
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = l.local_addr().expect("addr").port();
        let server = std::thread::spawn(move || {
            let (mut c, _) = l.accept().expect("accept");
            // One byte every 50 ms for up to a minute, until the client hangs up.
            for _ in 0..1200 {
                if c.write_all(b"H").is_err() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        let began = Instant::now();
        assert!(fetch_health(port, Duration::from_millis(300)).is_err());
        // A hang guard, not a speed check: without a total deadline this
        // takes the server's whole minute.
        assert!(
            began.elapsed() < Duration::from_secs(20),
            "{:?}",
            began.elapsed()
        );
        server.join().expect("server");
    }
}
