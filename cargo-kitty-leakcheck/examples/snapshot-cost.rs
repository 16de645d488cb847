//! What leakcheck's look at the watched ports costs, in-process: the netlink
//! snapshot alone (what is taken before a run); the snapshot plus the owners
//! of every listener found when the holders are among the processes given
//! (what happens after a run: new sockets are looked for among the run's
//! descendants first); and the worst case, owners looked for in all of `/proc`.
//!
//! ```sh
//! cargo run --release -p cargo-kitty-leakcheck --example snapshot-cost -- [PORTS] [RUNS] [FIRST_LOOK_PID...]
//! ```
//!
//! Prints one line: `snapshot_ms <median> owners_first_look_ms <median> owners_full_scan_ms <median>
//! listeners <n> processes <n> runs <n>` (`benches/leakcheck-overhead.sh` reads it).

use std::time::{Duration, Instant};

use kitty_fixtures::ports::PortSet;
use kitty_fixtures::shared::{ListenerSnapshot, ProcessTree, identify_listeners};

fn median(mut xs: Vec<Duration>) -> f64 {
    xs.sort_unstable();
    let mid = xs.len() / 2;
    let m = if xs.len() % 2 == 1 {
        xs[mid]
    } else {
        (xs[mid - 1] + xs[mid]) / 2
    };
    m.as_secs_f64() * 1000.0
}

fn main() {
    let mut args = std::env::args().skip(1);
    let ports: PortSet = match args.next().unwrap_or_else(|| "9237-9337".into()).parse() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("snapshot-cost: bad ports: {e}");
            std::process::exit(2);
        }
    };
    let runs: usize = match args.next().map(|r| r.parse()) {
        None => 30,
        Some(Ok(n)) if n > 0 => n,
        Some(_) => {
            eprintln!("snapshot-cost: RUNS must be a positive number");
            std::process::exit(2);
        }
    };
    let first_look: Vec<u32> = args.filter_map(|p| p.parse().ok()).collect();
    let (mut plain, mut near, mut full, mut listeners) = (Vec::new(), Vec::new(), Vec::new(), 0);
    for _ in 0..runs {
        for (look, out) in [
            (None, &mut plain),
            (Some(first_look.as_slice()), &mut near),
            (Some(&[][..]), &mut full),
        ] {
            let t = Instant::now();
            let snap = match ListenerSnapshot::take(&ports) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("snapshot-cost: cannot read the listeners: {e}");
                    std::process::exit(1);
                }
            };
            if let Some(look) = look {
                listeners = identify_listeners(snap.listeners(), look)
                    .iter()
                    .filter(|o| o.owner.is_some())
                    .count();
            }
            out.push(t.elapsed());
        }
    }
    let processes = ProcessTree::read().pids().count();
    println!(
        "snapshot_ms {:.3} owners_first_look_ms {:.3} owners_full_scan_ms {:.3} listeners {listeners} processes {processes} runs {runs}",
        median(plain),
        median(near),
        median(full)
    );
}
