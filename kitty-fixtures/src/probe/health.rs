//! `GET /api/health`: the dashboard's own word on what it serves (a second
//! opinion next to its command line).

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::Duration;

/// What `/api/health` answered.
#[derive(Clone, PartialEq, Eq)]
pub struct Health {
    /// `"ok"` for a healthy server.
    pub status: String,
    /// The project the dashboard serves (absent for the sync daemon).
    pub project_path: Option<PathBuf>,
    /// `"sync"` for spec-kitty's sync daemon, absent for a dashboard.
    pub daemon_family: Option<String>,
    token: Option<String>,
}

impl std::fmt::Debug for Health {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Health")
            .field("status", &self.status)
            .field("project_path", &self.project_path)
            .field("daemon_family", &self.daemon_family)
            .field("token", &self.token.as_ref().map(|_| "<token>"))
            .finish()
    }
}

impl Health {
    /// True when this is a dashboard's answer: `status` ok, a `project_path`,
    /// and not the sync daemon.
    pub fn is_dashboard(&self) -> bool {
        self.status == "ok" && self.project_path.is_some() && self.daemon_family.is_none()
    }

    /// The token the server reported. Never print it.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// Parses a health body.
    pub fn parse(body: &[u8]) -> Option<Health> {
        let v: serde_json::Value = serde_json::from_slice(body).ok()?;
        let s = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_owned);
        Some(Health {
            status: s("status")?,
            project_path: s("project_path").map(PathBuf::from),
            daemon_family: s("daemon_family"),
            token: s("token"),
        })
    }
}

/// Asks `127.0.0.1:port` for `/api/health`, within `timeout` for each step.
///
/// A plain HTTP/1.0 GET over a `TcpStream`: the server is local and speaks
/// HTTP/1.0, so a client library would add nothing but build time.
pub fn fetch_health(port: u16, timeout: Duration) -> io::Result<Health> {
    let body = http_get(port, "/api/health", timeout)?;
    Health::parse(&body)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "not a health answer"))
}

/// A minimal loopback GET; returns the body of a 200 answer.
pub(crate) fn http_get(port: u16, path: &str, timeout: Duration) -> io::Result<Vec<u8>> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut s = TcpStream::connect_timeout(&addr, timeout)?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    write!(
        s,
        "GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    s.take(1 << 20).read_to_end(&mut raw)?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no HTTP header end"))?;
    let status_ok = raw.starts_with(b"HTTP/1.0 200") || raw.starts_with(b"HTTP/1.1 200");
    if !status_ok {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "HTTP status is not 200",
        ));
    }
    Ok(raw.split_off(split + 4))
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
