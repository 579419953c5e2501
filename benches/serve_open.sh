#!/usr/bin/env bash
# Open-loop HTTP latency of `chaintrace serve` (issue 18), on loopback:
#
#   benches/serve_open.sh [ADDRESSES] [SECONDS] ["RATES"] [CONNECTIONS]
#
# defaults: an index of 10,000,000 addresses (the store of benches/screen.rs,
# built once under the target directory), 10 s a rate, rates "5000 10000
# 20000 40000 60000 80000 100000" requests/s, 64 connections.
#
# A closed-loop generator (wrk, benches/serve.sh) waits for each answer
# before it asks again, so its latency is set by its connection count. Here
# oha (crates.io, installed by this script with cargo) sends at a fixed rate
# whatever the answers take (-q), and counts each request's latency from
# when it was due (--latency-correction), so a stall shows in the
# percentiles. The server runs on core 0 with one worker thread, oha on
# core 1. Every request is GET /v1/addresses/{address}/exposure for the one
# sample address whose answer carries the longest evidence path; then a
# run with no rate limit gives the saturation throughput of the server's
# core, and two more the floor under it (`chaintrace-gen http-floor`: the
# same bytes with no work behind them). Prints a line a rate; fails on any
# error or non-200 answer.
set -euo pipefail
N=${1:-10000000}
SECS=${2:-10}
RATES=${3:-5000 10000 20000 40000 60000 80000 100000}
CONNS=${4:-64}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
export CARGO_TARGET_DIR=$TARGET
cd "$ROOT"
OHA_VERSION=1.16.0
OHA=$(command -v oha || echo "$HOME/.cargo/bin/oha")
if ! "$OHA" --version 2> /dev/null | grep -q "$OHA_VERSION"; then
    echo "installing oha $OHA_VERSION from crates.io (cargo install, a few minutes once)" >&2
    cargo install oha --locked --version "$OHA_VERSION" -q
    OHA=$HOME/.cargo/bin/oha
fi
# shellcheck source=benches/serve_common.sh
source "$ROOT/benches/serve_common.sh"
PIN0="" PIN1=""
if command -v taskset > /dev/null && [ "$(nproc)" -ge 2 ]; then PIN0="taskset -c 0" PIN1="taskset -c 1"; fi
SERVE_ARGS=()
# shellcheck disable=SC2086
SERVER_THREADS=1 start_server $PIN0
# The sample address whose answer carries the longest path.
PICK=$(python3 - "$ADDR" "$SAMPLE" <<'EOF'
import json, sys, urllib.request
addr, sample = sys.argv[1], sys.argv[2]
best, steps = None, -1
for a in open(sample).read().split()[:400]:
    r = json.load(urllib.request.urlopen(f"http://{addr}/v1/addresses/{a}/exposure"))
    n = max((len(x.get("path") or []) for x in r.get("exposure", [])), default=0)
    if n > steps:
        best, steps = a, n
print(best, steps)
EOF
)
read -r PICKED STEPS <<< "$PICK"
URL="http://$ADDR/v1/addresses/$PICKED/exposure"
echo "serve open loop: index of $N addresses, server on core 0 (one thread), oha $OHA_VERSION on core 1, $CONNS connections, $SECS s a rate"
echo "address $PICKED: an answer of $(curl -s "$URL" | wc -c) bytes, its evidence path $STEPS steps"
printf '%10s %12s %10s %10s %10s %10s %8s\n' rate achieved p50_ms p90_ms p99_ms p99.9_ms errors
FAILED=0
# run RATE: one run of oha (RATE 0: no limit), one line.
run() {
    local q=()
    [ "$1" != 0 ] && q=(-q "$1" --latency-correction)
    $PIN1 "$OHA" -z "${SECS}s" -w -c "$CONNS" "${q[@]}" --no-tui --output-format json "$URL" > "$WORK/oha.json"
    python3 - "$WORK/oha.json" "$1" <<'EOF' || FAILED=1
import json, sys
r = json.load(open(sys.argv[1]))
p = r["latencyPercentiles"]
ms = lambda k: f"{(p.get(k) or 0) * 1000:.3f}"
codes = r.get("statusCodeDistribution", {})
errors = sum(r.get("errorDistribution", {}).values()) + sum(v for k, v in codes.items() if k != "200")
rate = "max" if sys.argv[2] == "0" else sys.argv[2]
for k, v in r.get("errorDistribution", {}).items():
    print(f"  error: {k}: {v}", file=sys.stderr)
print(f"{rate:>10} {r['summary']['requestsPerSec']:12.0f} {ms('p50'):>10} {ms('p90'):>10} {ms('p99'):>10} {ms('p99.9'):>10} {errors:8d}")
sys.exit(1 if errors else 0)
EOF
}
for rate in $RATES; do run "$rate"; done
run 0
# The floor: the same answer's bytes served with no work behind them, on
# the same core, first through hyper as `serve` runs it, then with no HTTP
# library at all. What the stack and loopback TCP cost for an answer of
# this size bounds the saturation any handler can reach here.
curl -s "$URL" > "$WORK/answer.json"
kill "$PID" 2> /dev/null || true
wait "$PID" 2> /dev/null || true
for stack in hyper raw; do
    : > "$WORK/serve.err"
    $PIN0 "$TARGET/release/chaintrace-gen" http-floor --body "$WORK/answer.json" --stack "$stack" 2> "$WORK/serve.err" &
    PID=$!
    await_listening
    URL="http://$ADDR/v1/addresses/$PICKED/exposure"
    cmp -s <(curl -s "$URL") "$WORK/answer.json" || { echo "FAILED: the floor server answers other bytes"; exit 1; }
    printf 'floor, the same %s bytes (%s):\n' "$(wc -c < "$WORK/answer.json")" "$stack"
    for rate in $RATES; do run "$rate"; done
    run 0
    kill "$PID" 2> /dev/null || true
    wait "$PID" 2> /dev/null || true
done
if [ "$FAILED" != 0 ]; then echo "FAILED: some requests got errors or other answers than 200"; exit 1; fi
