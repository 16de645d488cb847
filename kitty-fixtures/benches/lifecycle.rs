//! `cargo bench -p kitty-fixtures`: how long the lifecycle of a dashboard
//! takes with kitty-fixtures, next to the ways spec-kitty offers, measured
//! side by side in one run with the real dashboard. Prints a markdown table
//! of medians. Not a test: nothing here fails on a slow number.
//!
//! - stop: drop of a project with a healthy dashboard (begins -> the process
//!   reaped, the port free, the dir deleted) vs `GET /api/shutdown?token=` vs
//!   `spec-kitty dashboard --kill` (each until the process is gone and the
//!   port free);
//! - start: `start_dashboard()` (-> healthy) vs `spec-kitty dashboard` (-> it
//!   returns, after its own health check);
//! - creating a scaffold project.
//!
//! spec-kitty: `KITTY_SPEC_KITTY`, else `spec-kitty` on `PATH`, else
//! `target/spec-kitty/3.2.7` (`scripts/spec-kitty-env`). Ports 9750-9759.
//! Leaves nothing behind: every project is dropped, and the end checks that
//! no dashboard of its projects runs and the ports are free.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kitty_fixtures::ports::PortSet;
use kitty_fixtures::shared::{ListenerSnapshot, ProcessIdentity, find_dashboard_processes};
use kitty_fixtures::{KittyProject, SpecKitty};

const PORTS: &str = "9750-9759";
const RUNS: usize = 20;
const HTTP_RUNS: usize = 10;
const CLI_RUNS: usize = 5;
const SCAFFOLD_RUNS: usize = 200;

fn spec_kitty() -> PathBuf {
    if let Ok(sk) = SpecKitty::locate(None) {
        return sk.executable;
    }
    let venv =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/spec-kitty/3.2.7/bin/spec-kitty");
    assert!(
        venv.is_file(),
        "spec-kitty not found: set KITTY_SPEC_KITTY, put it on PATH, or run scripts/spec-kitty-env"
    );
    venv
}

fn project(sk: &Path) -> KittyProject {
    KittyProject::builder()
        .spec_kitty(sk)
        .ports(PORTS.parse().expect("ports"))
        .build()
        .expect("project")
}

fn port_free(port: u16) -> bool {
    ListenerSnapshot::take(&PortSet::single(port)).is_ok_and(|s| s.listeners().is_empty())
}

/// Polls (every 0.5 ms) until `pid` has exited (gone or a zombie) and `port` is free.
fn wait_gone(pid: u32, port: u16, limit: Duration) {
    let start = Instant::now();
    while ProcessIdentity::read(pid).is_some() || !port_free(port) {
        assert!(
            start.elapsed() < limit,
            "pid {pid} / port {port} still there after {limit:?}"
        );
        std::thread::sleep(Duration::from_micros(500));
    }
}

fn shutdown_over_http(port: u16, token: &str) {
    let mut s = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).expect("connect");
    write!(
        s,
        "GET /api/shutdown?token={token} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n"
    )
    .expect("send");
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer);
    assert!(
        answer.starts_with(b"HTTP/1.0 200") || answer.starts_with(b"HTTP/1.1 200"),
        "shutdown refused"
    );
}

#[derive(Default)]
struct Series(Vec<Duration>);

impl Series {
    fn push(&mut self, d: Duration) {
        self.0.push(d);
    }
    fn row(&self, what: &str, target: &str) -> String {
        let mut v = self.0.clone();
        v.sort();
        let ms = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1000.0);
        let median = if v.is_empty() {
            Duration::ZERO
        } else {
            v[v.len() / 2]
        };
        format!(
            "| {what} | {} | {} | {} | {} | {target} |",
            v.len(),
            ms(median),
            ms(*v.first().unwrap_or(&Duration::ZERO)),
            ms(*v.last().unwrap_or(&Duration::ZERO)),
        )
    }
}

fn main() {
    // `cargo bench` passes `--bench`; a filter or `--list` asks for nothing we do.
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let sk = spec_kitty();
    let version = Command::new(&sk)
        .arg("--version")
        .output()
        .expect("spec-kitty --version");
    let version = String::from_utf8_lossy(&version.stdout).trim().to_string();
    eprintln!(
        "lifecycle bench: {version} ({}), ports {PORTS}",
        sk.display()
    );
    let mut dirs: Vec<PathBuf> = Vec::new();

    // Start and stop with kitty-fixtures.
    let (mut start, mut drop_time, mut stop_only) =
        (Series::default(), Series::default(), Series::default());
    for _ in 0..RUNS {
        let p = project(&sk);
        dirs.push(p.path().to_path_buf());
        let t = Instant::now();
        let d = p.start_dashboard().expect("start_dashboard");
        start.push(t.elapsed());
        let t = Instant::now();
        drop(p);
        drop_time.push(t.elapsed());
        assert!(
            ProcessIdentity::read(d.pid()).is_none() && port_free(d.port()),
            "not stopped by drop"
        );
        // The stop alone, as the report measures it (first check -> reaped and port free).
        let p = project(&sk);
        dirs.push(p.path().to_path_buf());
        let d = p.start_dashboard().expect("start_dashboard");
        let report = p.stop_dashboards().expect("stop");
        assert_eq!(report.stopped.len(), 1);
        stop_only.push(report.elapsed);
        assert!(port_free(d.port()));
    }

    // HTTP shutdown with the token.
    let mut http = Series::default();
    for _ in 0..HTTP_RUNS {
        let p = project(&sk);
        dirs.push(p.path().to_path_buf());
        let d = p.start_dashboard().expect("start_dashboard");
        let t = Instant::now();
        shutdown_over_http(d.port(), d.token());
        wait_gone(d.pid(), d.port(), Duration::from_secs(10));
        http.push(t.elapsed());
    }

    // spec-kitty's own commands: `dashboard` (start) and `dashboard --kill` (stop).
    let (mut cli_start, mut cli_kill) = (Series::default(), Series::default());
    for i in 0..CLI_RUNS {
        let p = project(&sk);
        dirs.push(p.path().to_path_buf());
        let port = 9755 + (i % 5) as u16;
        let t = Instant::now();
        let out = p
            .spec_kitty(["dashboard", "--port", &port.to_string()])
            .stdin(Stdio::null())
            .output()
            .expect("spec-kitty dashboard");
        cli_start.push(t.elapsed());
        assert!(out.status.success(), "spec-kitty dashboard failed");
        drop(p); // stops the adopted dashboard

        let p = project(&sk);
        dirs.push(p.path().to_path_buf());
        let d = p.start_dashboard().expect("start_dashboard");
        let t = Instant::now();
        let out = p
            .spec_kitty(["dashboard", "--kill"])
            .stdin(Stdio::null())
            .output()
            .expect("spec-kitty dashboard --kill");
        wait_gone(d.pid(), d.port(), Duration::from_secs(10));
        cli_kill.push(t.elapsed());
        assert!(out.status.success(), "spec-kitty dashboard --kill failed");
    }

    // Scaffold projects.
    let mut scaffold = Series::default();
    for _ in 0..SCAFFOLD_RUNS {
        let t = Instant::now();
        let p = project(&sk);
        scaffold.push(t.elapsed());
        drop(p);
    }

    println!("\nkitty-fixtures lifecycle, {version}, medians (one run, side by side)\n");
    println!("| measure | runs | median | min | max | target / note |");
    println!("| --- | --- | --- | --- | --- | --- |");
    println!(
        "{}",
        drop_time.row(
            "stop: drop of a project (drop begins -> reaped, port free, dir deleted)",
            "median <= 50 ms"
        )
    );
    println!(
        "{}",
        stop_only.row(
            "stop: `stop_dashboards()` (StopReport.elapsed)",
            "SIGTERM to the group"
        )
    );
    println!(
        "{}",
        http.row(
            "stop: `GET /api/shutdown?token=` -> process gone, port free",
            "about 600 ms (0.5 s poll)"
        )
    );
    println!(
        "{}",
        cli_kill.row(
            "stop: `spec-kitty dashboard --kill` -> process gone, port free",
            "about 2.1 s (CLI imports)"
        )
    );
    println!(
        "{}",
        start.row(
            "start: `start_dashboard()` -> healthy",
            "readiness polled every 5 ms"
        )
    );
    println!(
        "{}",
        cli_start.row(
            "start: `spec-kitty dashboard` -> returns healthy",
            "about 3.5 s"
        )
    );
    println!(
        "{}",
        scaffold.row("create a scaffold project (`build()`)", "< 5 ms")
    );

    // Nothing left behind.
    let left: Vec<u32> = find_dashboard_processes()
        .into_iter()
        .filter(|d| {
            dirs.iter()
                .any(|dir| d.command.project_dir.starts_with(dir))
        })
        .map(|d| d.identity.pid())
        .collect();
    assert!(left.is_empty(), "dashboards left behind: {left:?}");
    let held = ListenerSnapshot::take(&PORTS.parse().expect("ports")).expect("listeners");
    assert!(
        held.listeners().is_empty(),
        "ports still held: {:?}",
        held.ports()
    );
    assert!(
        dirs.iter().all(|d| !d.exists()),
        "a project dir was left behind"
    );
    eprintln!("lifecycle bench: nothing left behind");
}
