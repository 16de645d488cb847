#!/usr/bin/env bash
# leakcheck-overhead: what the default mode of `cargo-kitty-leakcheck` costs.
#
# Usage: benches/leakcheck-overhead.sh [RUNS (default 30)]
#   BIN=<path>   the cargo-kitty-leakcheck to measure (default: a release build
#                of the workspace's, built first)
#   PROCS=<n>    also measure with about n processes on the machine (e.g. 1500):
#                `sleep` processes are started to get there, and stopped after
#   PORTS=<set>  the watched ports (default 9237-9337)
#
# Prints a markdown table of medians, side by side:
#   `true` vs `cargo-kitty-leakcheck --grace 0 -- true`      (whole processes)
#   `ss -ltnp` filtered on PORTS                              (whole process)
#   the netlink snapshot, and the snapshot + owners of every listener on PORTS
#     (in-process, examples/snapshot-cost.rs): with the holders among the
#     processes looked at first (after a run: its descendants), and the worst
#     case, a full /proc scan
# Two listeners (a python holding two ports at the top of PORTS) are up while
# measuring, so that there are owners to find. Uses hyperfine when installed,
# else a loop timed with bash's $EPOCHREALTIME (no fork per sample); runs of
# the compared commands alternate. Leaves nothing running.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-30}
ports=${PORTS:-9237-9337}
target=${CARGO_TARGET_DIR:-$root/target}
export CARGO_TERM_COLOR=never
die() { echo "leakcheck-overhead: error: $*" >&2; exit 1; }
[[ $runs =~ ^[1-9][0-9]*$ ]] || die "RUNS must be a positive number, not '$runs'"

if [[ -z ${BIN:-} ]]; then
    (cd "$root" && cargo build -q --release -p cargo-kitty-leakcheck --bins --example snapshot-cost)
    BIN=$target/release/cargo-kitty-leakcheck
fi
[[ -x $BIN ]] || die "$BIN is not executable"
cost=$target/release/examples/snapshot-cost
[[ -x $cost ]] || (cd "$root" && cargo build -q --release -p cargo-kitty-leakcheck --bins --example snapshot-cost)
command -v ss >/dev/null || die "ss (iproute2) is needed"
command -v python3 >/dev/null || die "python3 is needed"

# Everything started here is stopped on exit, by pid.
started=()
cleanup() { ((${#started[@]})) && kill "${started[@]}" 2>/dev/null; wait 2>/dev/null || true; }
trap cleanup EXIT

last=${ports##*[-,]}
python3 -c '
import socket, sys, time
socks = []
for p in (int(sys.argv[1]) - 1, int(sys.argv[1])):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", p)); s.listen(); socks.append(s)
print("up", flush=True); time.sleep(3600)' "$last" >/dev/null 2>&1 &
started+=($!)
holder=$!
for _ in $(seq 200); do ss -ltnH "sport = :$last" | grep -q . && break; sleep 0.01; done

ss_range() { ss -ltnpH "sport >= :${ports%%-*} and sport <= :$last" >/dev/null; }
nprocs() { local n=0 d; for d in /proc/[0-9]*; do n=$((n + 1)); done; echo "$n"; }

# median_ms CMD...: the median wall time of RUNS runs of CMD, in ms.
declare -A samples=()
sample() { # sample KEY CMD...: one timed run of CMD, appended to samples[KEY]
    local key=$1 t0 t1
    shift
    t0=$EPOCHREALTIME
    "$@" >/dev/null 2>&1 || true
    t1=$EPOCHREALTIME
    samples[$key]+="$(((${t1/./} - ${t0/./})))"$'\n'
}
median_of() { # median of samples[KEY] (microseconds) in ms
    printf '%s' "${samples[$1]}" | sort -n | awk 'NF {a[++n] = $1}
        END {m = (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2; printf "%.2f", m / 1000}'
}
hyperfine_median() { # hyperfine_median CMD: median in ms
    local json
    json=$(mktemp)
    hyperfine -N --warmup 3 --runs "$runs" --export-json "$json" "$1" >/dev/null 2>&1
    python3 -c 'import json,sys; print("%.2f" % (json.load(open(sys.argv[1]))["results"][0]["median"] * 1000))' "$json"
    rm -f "$json"
}

ratio() { awk "BEGIN {printf \"%.1f\", $1 / ($2 > 0 ? $2 : 0.001)}"; }

measure() { # one table block at the current process count
    local truebin leak_ms true_ms ss_ms line
    truebin=$(type -P true)
    if command -v hyperfine >/dev/null; then
        true_ms=$(hyperfine_median "$truebin")
        leak_ms=$(hyperfine_median "$BIN --ports $ports --grace 0 -q -- $truebin")
        ss_ms=$(hyperfine_median "ss -ltnpH 'sport >= :${ports%%-*} and sport <= :$last'")
        how="hyperfine"
    else
        samples=()
        for _ in 1 2 3; do "$truebin"; "$BIN" --ports "$ports" --grace 0 -q -- "$truebin"; ss_range; done
        for ((i = 0; i < runs; i++)); do
            sample true "$truebin"
            sample leak "$BIN" --ports "$ports" --grace 0 -q -- "$truebin"
            sample ss ss_range
        done
        true_ms=$(median_of true) leak_ms=$(median_of leak) ss_ms=$(median_of ss)
        how="bash loop, \$EPOCHREALTIME"
    fi
    line=$("$cost" "$ports" "$runs" "$holder")
    read -r _ snap_ms _ near_ms _ own_ms _ nl _ np _ <<<"$line"
    echo
    echo "### $np processes, $nl listeners on $ports, median of $runs runs ($how)"
    echo
    echo "| what | median | compared with |"
    echo "| --- | ---: | --- |"
    echo "| \`true\` (whole process) | $true_ms ms | |"
    echo "| \`cargo-kitty-leakcheck --grace 0 -- true\` (whole process) | $leak_ms ms | +$(awk "BEGIN {printf \"%.2f\", $leak_ms - $true_ms}") ms over \`true\` (target: at most 15 ms) |"
    echo "| \`ss -ltnp\` filtered on $ports (whole process) | $ss_ms ms | |"
    echo "| netlink snapshot of $ports (in-process) | $snap_ms ms | |"
    echo "| snapshot + owners, holders among the run's descendants (in-process) | $near_ms ms | $(ratio "$ss_ms" "$near_ms")x faster than \`ss -ltnp\` |"
    echo "| snapshot + owners, worst case: full /proc scan (in-process) | $own_ms ms | $(ratio "$ss_ms" "$own_ms")x faster than \`ss -ltnp\` |"
}

echo "leakcheck-overhead: $BIN" >&2
measure
if [[ -n ${PROCS:-} ]]; then
    [[ $PROCS =~ ^[0-9]+$ ]] || die "PROCS must be a number"
    have=$(nprocs)
    for ((i = have; i < PROCS; i++)); do
        sleep 3600 &
        started+=($!)
    done
    measure
fi
