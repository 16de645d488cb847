#!/usr/bin/env bash
# wrap-overhead: what `cargo-kitty-leakcheck wrap` (the nextest wrapper script)
# adds to each test, measured on a generated crate of trivial tests.
#
# Usage: benches/wrap-overhead.sh [N_TESTS (default 300)] [ROUNDS (default 3)]
#   BIN=<path>  use this cargo-kitty-leakcheck (default: a release build of the
#               workspace's, built first; BIN=target/debug/... for the debug one)
#
# Two measurements, each side by side without and with the wrapper:
#   direct   every test run as nextest runs it (`<bin> --exact <name> --nocapture`),
#            one process per test, ROUNDS passes alternating plain/wrapped;
#            wall time of each process (python perf_counter around spawn+wait)
#   nextest  `cargo nextest run` of the crate, ROUNDS times per profile; the
#            per-test time nextest records (JUnit), and the wall time of the run
# Prints a table of medians (and p90) in ms, and the overhead per test.
# Needs cargo-nextest and python3. Leaves the crate in $CARGO_TARGET_DIR/wrap-bench.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
n=${1:-300}
rounds=${2:-3}
target=${CARGO_TARGET_DIR:-$root/target}
export CARGO_TERM_COLOR=never

if [[ -z ${BIN:-} ]]; then
    (cd "$root" && cargo build -q --release -p cargo-kitty-leakcheck)
    BIN=$target/release/cargo-kitty-leakcheck
fi
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
[[ -x $BIN ]] || { echo "wrap-overhead: $BIN is not executable" >&2; exit 1; }

bench=$target/wrap-bench
mkdir -p "$bench/tests" "$bench/src" "$bench/.config"
cat >"$bench/Cargo.toml" <<TOML
[package]
name = "wrap_bench"
version = "0.0.0"
edition = "2024"
publish = false

[workspace]
TOML
: >"$bench/src/lib.rs"
{
    for i in $(seq -w 1 "$n"); do echo "#[test] fn t_$i() { assert_eq!(std::hint::black_box($i % 7), $i % 7); }"; done
} >"$bench/tests/trivial.rs"
cat >"$bench/.config/nextest.toml" <<TOML
experimental = ["wrapper-scripts"]

[scripts.wrapper.kitty-wrap]
command = ["$BIN", "wrap", "--"]

[profile.plain]
junit = { path = "junit.xml" }

[profile.wrapped]
junit = { path = "junit.xml" }

[[profile.wrapped.scripts]]
filter = "all()"
run-wrapper = "kitty-wrap"
TOML

cd "$bench"
export CARGO_TARGET_DIR=$bench/target
cargo build -q --tests --offline 2>/dev/null || cargo build -q --tests
testbin=$(cargo test --no-run --message-format=json -q 2>/dev/null |
    python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "trivial" and m.get("executable"):
        print(m["executable"])')

echo "wrap-overhead: $n trivial tests, $rounds rounds, wrapper $BIN" >&2
python3 - "$testbin" "$BIN" "$n" "$rounds" "$bench" <<'PY'
import os, statistics, subprocess, sys, time, xml.etree.ElementTree as ET

testbin, wrapper, n, rounds, bench = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
names = [f"t_{i:0{len(str(n))}d}" for i in range(1, n + 1)]
env = {k: v for k, v in os.environ.items() if not k.startswith("NEXTEST_")}
null = subprocess.DEVNULL

def run(argv):
    t = time.perf_counter()
    subprocess.run(argv, stdout=null, stderr=null, stdin=null, check=True, env=env)
    return (time.perf_counter() - t) * 1000

direct = {"plain": [], "wrapped": []}
for _ in range(rounds):
    for name in names:
        argv = [testbin, "--exact", name, "--nocapture"]
        direct["plain"].append(run(argv))
        direct["wrapped"].append(run([wrapper, "wrap", "--"] + argv))

per_test = {"plain": [], "wrapped": []}
wall = {"plain": [], "wrapped": []}
for _ in range(rounds):
    for profile in ("plain", "wrapped"):
        t = time.perf_counter()
        subprocess.run(["cargo", "nextest", "run", "--profile", profile, "--no-fail-fast"],
                       stdout=null, stderr=null, stdin=null, check=True, env=env, cwd=bench)
        wall[profile].append((time.perf_counter() - t) * 1000)
        junit = os.path.join(bench, "target", "nextest", profile, "junit.xml")
        per_test[profile] += [float(tc.get("time")) * 1000 for tc in ET.parse(junit).iter("testcase")]

def p90(xs):
    return sorted(xs)[int(len(xs) * 0.9)]

rows = [
    ("direct, one process per test", direct),
    ("nextest, per test (JUnit time)", per_test),
]
print(f"| {'measurement':<32} | {'n':>5} | {'plain median':>12} | {'wrapped median':>14} | {'overhead':>9} | {'plain p90':>9} | {'wrapped p90':>11} |")
print(f"|{'-' * 34}|{'-' * 7}|{'-' * 14}|{'-' * 16}|{'-' * 11}|{'-' * 11}|{'-' * 13}|")
for label, d in rows:
    a, b = statistics.median(d["plain"]), statistics.median(d["wrapped"])
    print(f"| {label:<32} | {len(d['plain']):>5} | {a:>9.2f} ms | {b:>11.2f} ms | {b - a:>6.2f} ms | {p90(d['plain']):>6.2f} ms | {p90(d['wrapped']):>8.2f} ms |")
a, b = statistics.median(wall["plain"]), statistics.median(wall["wrapped"])
print(f"| {'nextest, whole run of ' + str(n) + ' (wall)':<32} | {len(wall['plain']):>5} | {a:>9.0f} ms | {b:>11.0f} ms | {b - a:>6.0f} ms | {'':>9} | {'':>11} |")
print(f"\noverhead per test: {statistics.median(direct['wrapped']) - statistics.median(direct['plain']):.2f} ms direct, "
      f"{statistics.median(per_test['wrapped']) - statistics.median(per_test['plain']):.2f} ms under nextest "
      f"(target: < 5 ms)")
PY
