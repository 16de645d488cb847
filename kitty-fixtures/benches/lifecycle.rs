//! `cargo bench -p kitty-fixtures`: how long the lifecycle of a dashboard
//! takes with kitty-fixtures, next to the ways spec-kitty offers, measured
//! side by side in one run with the real dashboard. Prints a markdown table
//! of medians. Not a test: nothing here fails on a slow number.
//!
//! - stop: drop of a project with a healthy dashboard (begins -> the process
//!   reaped, the port free, the dir deleted) vs `GET /api/shutdown?token=` vs
//!   `spec-kitty dashboard --kill` (each until the process is gone and the
//!   port free);
//! - start: `start_dashboard()` (-> healthy) vs the server alone (the same
//!   command line spawned directly, `/api/health` polled every 1 ms: the
//!   server's own start-up time), alternating, and vs `spec-kitty dashboard`
//!   (-> it returns, after its own health check);
//! - creating a scaffold project;
//! - parallel: 32 dashboards started at once by 8 processes (4 threads each)
//!   sharing the default range 9237-9336: wall time until all are healthy,
//!   port collisions (two with one port, or a start that failed), and what is
//!   left (dashboards of their projects alive, ports still held) after every
//!   process dropped its projects. Only with `parallel` named (it uses the
//!   default range, which a real dashboard may need).
//!
//! ```sh
//! cargo bench -p kitty-fixtures                      # stop, start, cli, scaffold
//! cargo bench -p kitty-fixtures -- start parallel    # only these
//! ```
//!
//! `KITTY_BENCH_RUNS=<n>` sets the runs of start and stop (default 20);
//! `KITTY_BENCH_JSON=<file>` also appends one JSON line per row there (name,
//! runs, median/min/max in ms, extra fields), which `scripts/bench` reads.
//!
//! spec-kitty: `KITTY_SPEC_KITTY`, else `spec-kitty` on `PATH`, else
//! `target/spec-kitty/3.2.7` (`scripts/spec-kitty-env`). Ports 9750-9759.
//! Leaves nothing behind: every project is dropped, and the end checks that
//! no dashboard of its projects runs and the ports are free.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kitty_core::PortSet;
use kitty_core::spec_kitty::{fetch_health, find_dashboard_processes};
use kitty_core::{ListenerSnapshot, ProcessIdentity};
use kitty_fixtures::{KittyProject, SpecKitty};

const PORTS: &str = "9750-9759";
/// The default range, which the parallel row shares as test suites do.
const DEFAULT_RANGE: &str = "9237-9336";
/// Processes and dashboards per process of the parallel row.
const PARALLEL_PROCESSES: usize = 8;
const PARALLEL_EACH: usize = 4;
/// How long each of the parallel row's dashboards may take to answer.
const PARALLEL_START_TIMEOUT: Duration = Duration::from_secs(180);
/// The variable that makes this binary one of the parallel row's processes.
const PARALLEL_CHILD_ENV: &str = "KITTY_BENCH_PARALLEL_CHILD";
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

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

impl Series {
    fn push(&mut self, d: Duration) {
        self.0.push(d);
    }
    fn sorted(&self) -> Vec<Duration> {
        let mut v = self.0.clone();
        v.sort();
        v
    }
    fn median(&self) -> Duration {
        let v = self.sorted();
        match v.len() {
            0 => Duration::ZERO,
            n if n % 2 == 1 => v[n / 2],
            n => (v[n / 2 - 1] + v[n / 2]) / 2,
        }
    }
    fn row(&self, key: &str, what: &str, target: &str) -> String {
        let v = self.sorted();
        let first = *v.first().unwrap_or(&Duration::ZERO);
        let last = *v.last().unwrap_or(&Duration::ZERO);
        emit_json(serde_json::json!({
            "name": key, "what": what, "runs": v.len(), "median_ms": ms(self.median()),
            "min_ms": ms(first), "max_ms": ms(last), "note": target,
        }));
        format!(
            "| {what} | {} | {:.1} ms | {:.1}-{:.1} ms | {target} |",
            v.len(),
            ms(self.median()),
            ms(first),
            ms(last),
        )
    }
}

/// Appends one JSON line to `KITTY_BENCH_JSON`, if set.
fn emit_json(v: serde_json::Value) {
    if let Some(path) = std::env::var_os("KITTY_BENCH_JSON") {
        let line = format!("{v}\n");
        let _ = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .and_then(|mut f| f.write_all(line.as_bytes()));
    }
}

/// The server alone: `sk`'s own server command for `dir` on `port`, spawned
/// directly (HOME isolated like the fixtures do), `/api/health` polled every
/// 1 ms until it names `dir`. Returns the time from spawn to that answer; the
/// server is then killed and waited for, and its port is free.
fn server_alone(sk: &SpecKitty, dir: &Path, home: &Path, port: u16) -> Duration {
    let token = "0123456789abcdef0123456789abcdef";
    let mut cmd = sk
        .server_command(dir, port, token)
        .expect("a release with a dashboard");
    cmd.current_dir(dir)
        .env("HOME", home)
        .env("SPEC_KITTY_HOME", home.join(".spec-kitty"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let t = Instant::now();
    let mut child = cmd.spawn().expect("spawn the server");
    let healthy = loop {
        let answered = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_ok()
            && fetch_health(port, Duration::from_secs(2))
                .is_ok_and(|h| h.project_path.as_deref() == Some(dir));
        if answered {
            break t.elapsed();
        }
        assert!(
            child.try_wait().expect("try_wait").is_none(),
            "the server alone exited before it was healthy"
        );
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "the server alone never got healthy"
        );
        std::thread::sleep(Duration::from_millis(1));
    };
    let _ = child.kill();
    let _ = child.wait();
    wait_gone(child.id(), port, Duration::from_secs(10));
    healthy
}

/// One of the parallel row's processes: makes `PARALLEL_EACH` projects in the
/// default range, says `ready`, waits for `go` on stdin, starts their
/// dashboards at once (a thread each), prints `started <port> <pid> <ms>` or
/// `failed <error>` per dashboard and `dirs <dir>...`, waits for `stop`,
/// drops them and exits.
fn parallel_child(sk: &Path) {
    let projects: Vec<KittyProject> = (0..PARALLEL_EACH)
        .map(|_| {
            KittyProject::builder()
                .spec_kitty(sk)
                .ports(DEFAULT_RANGE.parse().expect("ports"))
                // 32 Python servers starting at once on a 2-core machine take
                // ~30 s to all answer: the row measures that, not a timeout.
                .start_timeout(PARALLEL_START_TIMEOUT)
                .build()
                .expect("project")
        })
        .collect();
    let mut out = std::io::stdout().lock();
    let dirs: Vec<String> = projects
        .iter()
        .map(|p| p.path().display().to_string())
        .collect();
    writeln!(out, "dirs {}", dirs.join(" ")).expect("stdout");
    writeln!(out, "ready").expect("stdout");
    out.flush().expect("stdout");
    let mut stdin = BufReader::new(std::io::stdin().lock());
    let mut line = String::new();
    stdin.read_line(&mut line).expect("go");
    let go = Instant::now();
    let results: Vec<Result<(u16, u32, Duration), String>> = std::thread::scope(|s| {
        let starts: Vec<_> = projects
            .iter()
            .map(|p| {
                s.spawn(move || {
                    p.start_dashboard()
                        .map(|d| (d.port(), d.pid(), go.elapsed()))
                        .map_err(|e| e.to_string().replace('\n', " "))
                })
            })
            .collect();
        starts
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err("panicked".into())))
            .collect()
    });
    for r in results {
        match r {
            Ok((port, pid, t)) => writeln!(out, "started {port} {pid} {:.3}", ms(t)),
            Err(e) => writeln!(out, "failed {e}"),
        }
        .expect("stdout");
    }
    writeln!(out, "done").expect("stdout");
    out.flush().expect("stdout");
    line.clear();
    let _ = stdin.read_line(&mut line);
    drop(projects);
}

/// The parallel row: see the module docs. Returns the table row.
fn parallel(sk: &Path) -> String {
    let range: PortSet = DEFAULT_RANGE.parse().expect("ports");
    let before = ListenerSnapshot::take(&range).expect("listeners");
    let exe = std::env::current_exe().expect("this bench");
    let mut children: Vec<_> = (0..PARALLEL_PROCESSES)
        .map(|_| {
            Command::new(&exe)
                .env(PARALLEL_CHILD_ENV, "1")
                .env("KITTY_SPEC_KITTY", sk)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .expect("a parallel process")
        })
        .collect();
    let mut readers: Vec<_> = children
        .iter_mut()
        .map(|c| BufReader::new(c.stdout.take().expect("stdout")))
        .collect();
    let mut dirs: Vec<PathBuf> = Vec::new();
    for r in &mut readers {
        let mut line = String::new();
        loop {
            line.clear();
            assert!(
                r.read_line(&mut line).expect("read") > 0,
                "a parallel process died"
            );
            if let Some(d) = line.trim().strip_prefix("dirs ") {
                dirs.extend(d.split(' ').map(PathBuf::from));
            }
            if line.trim() == "ready" {
                break;
            }
        }
    }
    let go = Instant::now();
    for c in &mut children {
        let _ = writeln!(c.stdin.as_mut().expect("stdin"), "go");
    }
    let (mut ports, mut failures, mut last) = (Vec::new(), Vec::new(), Duration::ZERO);
    for r in &mut readers {
        let mut line = String::new();
        loop {
            line.clear();
            if r.read_line(&mut line).expect("read") == 0 || line.trim() == "done" {
                break;
            }
            let words: Vec<&str> = line.split_whitespace().collect();
            match words.as_slice() {
                ["started", port, _pid, _ms] => ports.push(port.parse::<u16>().expect("port")),
                ["failed", ..] => failures.push(line.trim().to_string()),
                _ => {}
            }
        }
        last = last.max(go.elapsed());
    }
    let wall = last;
    for c in &mut children {
        let _ = writeln!(c.stdin.as_mut().expect("stdin"), "stop");
    }
    for mut c in children {
        let _ = c.wait();
    }
    let mut distinct = ports.clone();
    distinct.sort_unstable();
    distinct.dedup();
    // A collision is one port handed to two dashboards; a failure to start
    // (a timeout) is counted apart.
    let collisions = ports.len() - distinct.len();
    let left_dashboards = find_dashboard_processes()
        .into_iter()
        .filter(|d| {
            dirs.iter()
                .any(|dir| d.command.project_dir.starts_with(dir))
        })
        .count();
    let after = ListenerSnapshot::take(&range).expect("listeners");
    let left_ports = after.new_since(&before).count();
    for f in &failures {
        eprintln!("lifecycle bench: parallel: {f}");
    }
    let total = PARALLEL_PROCESSES * PARALLEL_EACH;
    emit_json(serde_json::json!({
        "name": "parallel", "dashboards": total, "started": ports.len(), "processes": PARALLEL_PROCESSES,
        "wall_ms": ms(wall), "collisions": collisions, "failed": failures.len(), "dashboards_left": left_dashboards,
        "ports_left": left_ports,
    }));
    format!(
        "| parallel: {total} dashboards started at once by {PARALLEL_PROCESSES} processes in {DEFAULT_RANGE} | 1 | {:.0} ms (wall, until the last is healthy) | {} started, {} failed | collisions {collisions} (target 0), dashboards left {left_dashboards}, ports left {left_ports} (target 0) |",
        ms(wall),
        ports.len(),
        failures.len(),
    )
}

/// The parallel row's floor: the same number of servers spawned directly at
/// once, by one process, on distinct ports of the default range (no
/// reservation, no fixture), `/api/health` of each polled every 5 ms until
/// it answers. Returns the wall time until the last answered; all are killed
/// and waited for, their ports free.
fn parallel_floor(sk: &Path) -> String {
    let sk = SpecKitty::locate(Some(sk)).expect("spec-kitty");
    let base: u16 = 9237;
    let total = PARALLEL_PROCESSES * PARALLEL_EACH;
    let home = tempfile::tempdir().expect("home");
    let dirs: Vec<tempfile::TempDir> = (0..total)
        .map(|_| tempfile::tempdir().expect("dir"))
        .collect();
    let t = Instant::now();
    let mut children: Vec<_> = dirs
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let port = base + u16::try_from(i).expect("port");
            let mut cmd = sk
                .server_command(d.path(), port, "0123456789abcdef0123456789abcdef")
                .expect("a release with a dashboard");
            cmd.current_dir(d.path())
                .env("HOME", home.path())
                .env("SPEC_KITTY_HOME", home.path().join(".spec-kitty"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            (
                port,
                d.path().to_path_buf(),
                cmd.spawn().expect("spawn a server"),
            )
        })
        .collect();
    let mut waiting: Vec<usize> = (0..children.len()).collect();
    while !waiting.is_empty() {
        waiting.retain(|&i| {
            let (port, dir, _) = &children[i];
            !(TcpStream::connect((Ipv4Addr::LOCALHOST, *port)).is_ok()
                && fetch_health(*port, Duration::from_secs(2))
                    .is_ok_and(|h| h.project_path.as_deref() == Some(dir.as_path())))
        });
        assert!(
            t.elapsed() < PARALLEL_START_TIMEOUT,
            "the servers alone never all got healthy"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let wall = t.elapsed();
    for (port, _, child) in &mut children {
        let _ = child.kill();
        let _ = child.wait();
        wait_gone(child.id(), *port, Duration::from_secs(10));
    }
    emit_json(
        serde_json::json!({ "name": "parallel_floor", "servers": total, "wall_ms": ms(wall) }),
    );
    format!(
        "| parallel floor: {total} servers spawned directly at once by 1 process | 1 | {:.0} ms (wall, until the last is healthy) | | the Python start-up of {total} servers on these cores |",
        ms(wall)
    )
}

fn main() {
    // `cargo bench` passes `--bench`; `--list` asks for nothing we do.
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let sk = spec_kitty();
    if std::env::var_os(PARALLEL_CHILD_ENV).is_some() {
        parallel_child(&sk);
        return;
    }
    let named: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let wanted = |what: &str| {
        if named.is_empty() {
            what != "parallel"
        } else {
            named.iter().any(|n| n == what)
        }
    };
    let runs: usize = std::env::var("KITTY_BENCH_RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .filter(|&r| r > 0)
        .unwrap_or(RUNS);
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
    let mut rows: Vec<String> = Vec::new();
    let sk_found = SpecKitty::locate(Some(&sk)).expect("spec-kitty");

    if wanted("stop") {
        // Stop with kitty-fixtures: the drop, and the stop alone.
        let (mut drop_time, mut stop_only) = (Series::default(), Series::default());
        for _ in 0..runs {
            let p = project(&sk);
            dirs.push(p.path().to_path_buf());
            let d = p.start_dashboard().expect("start_dashboard");
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
        rows.push(drop_time.row(
            "stop_drop",
            "stop: drop of a project (drop begins -> reaped, port free, dir deleted)",
            "median <= 50 ms",
        ));
        rows.push(stop_only.row(
            "stop_only",
            "stop: `stop_dashboards()` (StopReport.elapsed)",
            "SIGTERM to the group",
        ));
        rows.push(http.row(
            "stop_http",
            "stop: `GET /api/shutdown?token=` -> process gone, port free",
            "about 600 ms (0.5 s poll)",
        ));
    }

    if wanted("start") {
        // start_dashboard() and the server alone, alternating.
        let (mut start, mut alone) = (Series::default(), Series::default());
        let free = |port: &u16| port_free(*port);
        for _ in 0..runs {
            let p = project(&sk);
            dirs.push(p.path().to_path_buf());
            let t = Instant::now();
            let d = p.start_dashboard().expect("start_dashboard");
            start.push(t.elapsed());
            drop(p);
            assert!(port_free(d.port()), "not stopped by drop");

            let p = project(&sk);
            dirs.push(p.path().to_path_buf());
            let port = (9750..=9759)
                .rev()
                .find(free)
                .expect("a free port in 9750-9759");
            alone.push(server_alone(&sk_found, p.path(), p.home(), port));
            drop(p);
        }
        let gap = ms(start.median()) - ms(alone.median());
        rows.push(start.row(
            "start_fixture",
            "start: `start_dashboard()` -> healthy",
            &format!(
                "{gap:+.1} ms over the server alone (target: within 20 ms); readiness polled every 5 ms"
            ),
        ));
        rows.push(alone.row(
            "start_server_alone",
            "start: the server alone, spawned directly -> `/api/health` answers (polled every 1 ms)",
            "the server's own start-up time",
        ));
        emit_json(serde_json::json!({
            "name": "start_gap", "gap_ms": gap, "fixture_ms": ms(start.median()),
            "server_ms": ms(alone.median()),
        }));
    }

    if wanted("cli") {
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
        rows.push(cli_kill.row(
            "stop_cli",
            "stop: `spec-kitty dashboard --kill` -> process gone, port free",
            "about 2.1 s (CLI imports)",
        ));
        rows.push(cli_start.row(
            "start_cli",
            "start: `spec-kitty dashboard` -> returns healthy",
            "about 3.5 s",
        ));
    }

    if wanted("scaffold") {
        let mut scaffold = Series::default();
        for _ in 0..SCAFFOLD_RUNS {
            let t = Instant::now();
            let p = project(&sk);
            scaffold.push(t.elapsed());
            drop(p);
        }
        rows.push(scaffold.row(
            "scaffold",
            "create a scaffold project (`build()`)",
            "< 5 ms",
        ));
    }

    if wanted("parallel") {
        rows.push(parallel(&sk));
        rows.push(parallel_floor(&sk));
    }

    println!("\nkitty-fixtures lifecycle, {version}, medians (one run, side by side)\n");
    println!("| measure | runs | median | min-max | target / note |");
    println!("| --- | --- | --- | --- | --- |");
    for r in &rows {
        println!("{r}");
    }

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
