//! A stand-in for a leaked spec-kitty dashboard, for `scripts/bench`: it has
//! a dashboard's command line and answers `/api/health` like one, but starts
//! in a millisecond instead of Python's second, so that what a benchmark of
//! leakcheck's run mode measures is leakcheck, not Python.
//!
//! ```sh
//! ln -s target/release/examples/fake-dashboard /tmp/x/python3
//! /tmp/x/python3 -m specify_cli.dashboard._server_main /tmp/gone 9801 0123456789abcdef0123456789abcdef
//! ```
//!
//! Called so (through a link named `python3`: argv\[0\] is what makes it a
//! Python interpreter to leakcheck), it starts a copy of itself through
//! `setsid` (so the copy leads its own session, as spec-kitty's dashboards
//! do), waits until the copy listens on 127.0.0.1:PORT, prints the copy's
//! pid, and exits 0: the copy is left behind, re-parented to the nearest
//! child subreaper, as a leaked dashboard is. The copy answers every request
//! with the health JSON of a dashboard of PROJECT_DIR and ends on SIGTERM
//! (the default action). With `KITTY_FAKE_PIDFILE=<file>`, the copy writes
//! its pid there (so a benchmark can stop the ones leakcheck did not).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, TcpListener};
use std::process::{Command, Stdio};

const CHILD_ENV: &str = "KITTY_FAKE_DASHBOARD_CHILD";

fn usage() -> ! {
    eprintln!(
        "usage: python3 -m specify_cli.dashboard._server_main PROJECT_DIR PORT TOKEN (through a link named python3)"
    );
    std::process::exit(2);
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(dir), Some(port)) = (args.get(3), args.get(4).and_then(|p| p.parse::<u16>().ok()))
    else {
        usage();
    };
    if args.get(1).map(String::as_str) != Some("-m") {
        usage();
    }
    if std::env::var_os(CHILD_ENV).is_some() {
        serve(dir, port);
    }
    // The parent: start the copy in a session of its own, wait until it listens.
    let mut child = Command::new("setsid")
        .args(&args)
        .env(CHILD_ENV, "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| {
            eprintln!("fake-dashboard: cannot run setsid: {e}");
            std::process::exit(1);
        });
    let mut line = String::new();
    let read = child
        .stdout
        .take()
        .map(|out| BufReader::new(out).read_line(&mut line));
    if !matches!(read, Some(Ok(n)) if n > 0) {
        eprintln!("fake-dashboard: the copy did not start");
        std::process::exit(1);
    }
    // setsid exec'd the copy (it was no group leader): the child is the copy.
    print!("{line}");
    // Not waited for: it is left behind, as a leaked dashboard is.
    std::mem::forget(child);
}

fn serve(dir: &str, port: u16) -> ! {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, port)).unwrap_or_else(|e| {
        eprintln!("fake-dashboard: cannot listen on {port}: {e}");
        std::process::exit(1);
    });
    if let Some(file) = std::env::var_os("KITTY_FAKE_PIDFILE") {
        let _ = std::fs::write(file, format!("{}\n", std::process::id()));
    }
    println!("{}", std::process::id());
    let _ = std::io::stdout().flush();
    let body = serde_json::json!({
        "status": "ok",
        "project_path": dir,
        "port": port,
    })
    .to_string();
    for conn in listener.incoming() {
        let Ok(mut conn) = conn else { continue };
        let mut req = [0u8; 2048];
        let _ = conn.read(&mut req);
        let _ = write!(
            conn,
            "HTTP/1.0 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
    }
    std::process::exit(0);
}
