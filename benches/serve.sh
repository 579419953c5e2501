#!/usr/bin/env bash
# HTTP load test of `chaintrace serve` with a real load generator (wrk), on
# loopback, in one run:
#
#   benches/serve.sh [ADDRESSES] [SECONDS] [CONNECTIONS] [BATCH]
#
# defaults: an index of 10,000,000 addresses, 30 s, 64 connections, 10,000
# addresses a batch. Builds the store of benches/screen.rs (once, cached
# under the target directory), starts the server on a free port, then runs:
#   1. GET /v1/addresses/{address}/exposure over 100,000 sample addresses
#      (half in the data, half not): requests/s and the latency percentiles;
#   2. POST /v1/screen with BATCH addresses a request: addresses/s.
# Every response must be 200: wrk's error and non-2xx counts are printed and
# the script fails when any is not zero. wrk comes from Debian's package.
set -euo pipefail
N=${1:-10000000}
SECS=${2:-30}
CONNS=${3:-64}
BATCH=${4:-10000}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
export CARGO_TARGET_DIR=$TARGET
cd "$ROOT"
command -v wrk >/dev/null || { echo "wrk is required: apt-get install wrk"; exit 1; }
# shellcheck source=benches/serve_common.sh
source "$ROOT/benches/serve_common.sh"
SERVE_ARGS=(--max-batch "$BATCH")
start_server

cat > "$WORK/get.lua" <<EOF
local addrs = {}
for line in io.lines("$SAMPLE") do addrs[#addrs + 1] = line end
local i = 0
request = function()
  i = i + 1
  return wrk.format("GET", "/v1/addresses/" .. addrs[(i % #addrs) + 1] .. "/exposure")
end
EOF
python3 - "$SAMPLE" "$BATCH" > "$WORK/batch.json" <<'EOF'
import json, sys
addrs = open(sys.argv[1]).read().split()
n = int(sys.argv[2])
print(json.dumps({"addresses": (addrs * (n // len(addrs) + 1))[:n]}))
EOF
cat > "$WORK/post.lua" <<EOF
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = io.open("$WORK/batch.json", "r")
wrk.body = f:read("*a")
f:close()
EOF

THREADS=2
echo "serve bench: index of $N addresses, $CONNS connections, $SECS s each, wrk with $THREADS threads, $(nproc) cores shared by server and load generator"
# Errors: socket errors and non-2xx responses, summed from wrk's report.
errors() { awk '/Socket errors/ {for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+,?$/) s += $i} /Non-2xx/ {s += $NF} END {print s + 0}' "$1"; }

# single LABEL WRK_PREFIX...: the single-address run, summarised.
single() {
  local label=$1; shift
  "$@" wrk -t"$WRK_THREADS" -c"$CONNS" -d"${SECS}s" --latency -s "$WORK/get.lua" "http://$ADDR" > "$WORK/get.txt"
  local rps p50 p90 p99 err
  rps=$(awk '/^Requests\/sec/ {print $2}' "$WORK/get.txt")
  p50=$(awk '/^ +50%/ {print $2}' "$WORK/get.txt")
  p90=$(awk '/^ +90%/ {print $2}' "$WORK/get.txt")
  p99=$(awk '/^ +99%/ {print $2}' "$WORK/get.txt")
  err=$(errors "$WORK/get.txt")
  echo "single address, $label: $rps requests/s, latency p50 $p50, p90 $p90, p99 $p99, errors $err"
  GET_ERR=$((GET_ERR + err))
}
GET_ERR=0
WRK_THREADS=$THREADS single "server and wrk share all cores"

wrk -t$THREADS -c"$CONNS" -d"${SECS}s" --latency --timeout 30s -s "$WORK/post.lua" "http://$ADDR/v1/screen" > "$WORK/post.txt"
BRPS=$(awk '/^Requests\/sec/ {print $2}' "$WORK/post.txt")
BP50=$(awk '/^ +50%/ {print $2}' "$WORK/post.txt")
BP99=$(awk '/^ +99%/ {print $2}' "$WORK/post.txt")
POST_ERR=$(errors "$WORK/post.txt")
APS=$(python3 -c "print(f'{float(\"$BRPS\") * $BATCH / 1e6:.2f}')")
echo "batch of $BATCH: $BRPS requests/s = $APS M addresses/s, latency p50 $BP50, p99 $BP99, errors $POST_ERR"
# The same with the server on core 0 (one worker thread) and wrk on core 1:
# no preemption between the two, the shape of a server with its own cores.
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
  kill "$PID"; wait "$PID" 2>/dev/null || true
  SERVER_THREADS=1 start_server taskset -c 0
  WRK_THREADS=1 single "server pinned to core 0, wrk to core 1" taskset -c 1
fi
if [ "$GET_ERR" != 0 ] || [ "$POST_ERR" != 0 ]; then
  echo "FAILED: some requests got errors"; cat "$WORK/get.txt" "$WORK/post.txt"; exit 1
fi
