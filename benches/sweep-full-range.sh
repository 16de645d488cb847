#!/usr/bin/env bash
# sweep-full-range: how long `cargo kitty-leakcheck sweep --yes` takes to stop a
# full range of 100 orphaned dashboards (spec-kitty's own sweep takes ~30 s).
#
# Usage: benches/sweep-full-range.sh [N (default 100)]
#   BIN=<path>    the cargo-kitty-leakcheck to measure (default: a release build, built first)
#   BASE=<port>   first port (default 20000: a private range, so nothing real is touched)
#
# Starts N real dashboard servers (the pinned spec-kitty 3.2.7, detached in their
# own sessions like spec-kitty starts them) for projects that are then deleted:
# N orphans. Times `sweep --dry-run` and `sweep --yes` over exactly that range,
# prints a markdown table, and checks that every one of them is gone.
# Needs about 75 MB of memory per dashboard. Exit: 0 when all were stopped.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
n=${1:-100}
base=${BASE:-20000}
last=$((base + n - 1))
target=${CARGO_TARGET_DIR:-$root/target}
if [[ -z ${BIN:-} ]]; then
    cargo build --quiet --release -p cargo-kitty-leakcheck
    BIN=$target/release/cargo-kitty-leakcheck
fi
sk=$("$root/scripts/spec-kitty-env" 3.2.7)
python=$(dirname "$sk")/python
work=$(mktemp -d)
cleanup() { "$BIN" sweep --ports "$base-$last" --yes --all -q >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT

echo "starting $n dashboards on $base-$last ..." >&2
for ((i = 0; i < n; i++)); do
    mkdir -p "$work/p$i/.kittify"
    tok=$(head -c16 /dev/urandom | od -An -tx1 | tr -d ' \n')
    HOME=$work SPEC_KITTY_HOME=$work/.spec-kitty setsid "$python" -m specify_cli.dashboard._server_main \
        "$work/p$i" $((base + i)) "$tok" </dev/null >/dev/null 2>&1 &
done
deadline=$((SECONDS + 300))
until [[ $(ss -ltnH "sport >= :$base and sport <= :$last" | wc -l) -ge $n ]]; do
    ((SECONDS < deadline)) || { echo "sweep-full-range: dashboards did not all start" >&2; exit 1; }
    sleep 0.2
done
rm -rf "$work"/p*   # the projects are gone: every dashboard is now an orphan

ms() { echo "scale=1; ($2 - $1) * 1000 / 1" | bc; }
t0=$EPOCHREALTIME; "$BIN" sweep --ports "$base-$last" --dry-run -q >/dev/null || true; t1=$EPOCHREALTIME
"$BIN" sweep --ports "$base-$last" --yes -q >/dev/null; t2=$EPOCHREALTIME
left=$(ss -ltnH "sport >= :$base and sport <= :$last" | wc -l)
alive=$(pgrep -fc "_server_main $work/" || true)

echo "| sweep of $n orphaned dashboards ($base-$last) | wall time |"
echo "| --- | ---: |"
echo "| \`sweep --dry-run\` (list and classify) | $(ms "$t0" "$t1") ms |"
echo "| \`sweep --yes\` (stop all, ports free) | $(ms "$t1" "$t2") ms |"
echo "| listeners left / dashboards alive | $left / $alive |"
[[ $left -eq 0 && $alive -eq 0 ]]
