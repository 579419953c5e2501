#!/usr/bin/env bash
# The HTTP API against its document and under load (issue 19):
#
#   tests/api/run.sh [EXAMPLES] [SEED]
#
# 1. schemathesis (PyPI, pinned in tests/api/requirements.txt, installed
#    into a virtual environment under the target directory) generates
#    requests from the OpenAPI document a real `chaintrace serve` serves,
#    with every check on: valid requests must be accepted, invalid ones
#    refused with a documented 4xx, every answer must match its schema, no
#    5xx. Twice, on the bundled Lazarus sample: with the default limits and
#    with small ones (the served document states them). EXAMPLES requests
#    an operation and phase (default 100); SEED fixes the generation
#    (default: a new one each run, printed). Fails on any finding.
# 2. Bursts of concurrent traces on a generated world of 400,000 events:
#    with --max-traces 2, every answer is 200 or 429; with a 5 ms time
#    limit, every answer is 503 or 429, and the stopped traces' permits come
#    back at once. Prints each burst's statuses and the server's peak memory.
set -euo pipefail
EXAMPLES=${1:-100}
SEED=${2:-}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
export CARGO_TARGET_DIR=$TARGET
cd "$ROOT"
VENV=$TARGET/tmp/api-venv
if ! "$VENV/bin/st" --version 2> /dev/null | grep -q "$(sed -n 's/^schemathesis==//p' tests/api/requirements.txt)"; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check -r tests/api/requirements.txt
fi
cargo build --release --locked --bins -q
CT=$TARGET/release/chaintrace
WORK=$(mktemp -d)
PID=""
trap 'kill "$PID" 2> /dev/null || true; rm -rf "$WORK"' EXIT

# serve STORE ARGS...: start a server on a free port; set PID and ADDR.
serve() {
    local store=$1
    shift
    "$CT" serve --store "$store" --listen 127.0.0.1:0 "$@" 2> "$WORK/serve.err" &
    PID=$!
    await_listening
}
# shellcheck source=benches/listening.sh
source "$ROOT/benches/listening.sh"
stop() {
    kill "$PID" 2> /dev/null || true
    wait "$PID" 2> /dev/null || true
}

"$CT" ingest --store "$WORK/laz" --chain ethereum --format transfers \
    datasets/dune-lazarus-ofac-flows-dspytdao/lazarus_ofac_eth_transfers.csv > /dev/null 2>&1
"$CT" labels --store "$WORK/laz" import datasets/labels/ethereum-labels.csv > /dev/null 2>&1
FAILED=0
for limits in "" "--max-batch 3 --max-paths 5 --max-paths-for 7 --max-flow-edges 9"; do
    # shellcheck disable=SC2086
    serve "$WORK/laz" $limits
    echo "schemathesis $("$VENV/bin/st" --version | awk '{print $NF}'), every check, ${limits:-default limits}:"
    if ! "$VENV/bin/st" run "http://$ADDR/v1/openapi.json" --url "http://$ADDR" --checks all \
        --max-examples "$EXAMPLES" ${SEED:+--seed "$SEED"} --no-color > "$WORK/st.out" 2>&1; then
        FAILED=1
        cat "$WORK/st.out"
    fi
    grep -E "generated|Seed:|No issues|failures? in" "$WORK/st.out" | sed 's/^/  /'
    stop
done
[ "$FAILED" = 0 ] || { echo "FAILED: schemathesis found what the document does not say"; exit 1; }

WORLD=$("$TARGET/release/chaintrace-gen" world-store --events 400000 --seed 11 --store "$WORK/world" 2> /dev/null)
echo "bursts of traces, a world of 400,000 events:"
serve "$WORK/world" --max-traces 2
python3 tests/api/burst.py "$ADDR" "$PID" "$WORLD" 32 200,429
stop
serve "$WORK/world" --max-traces 2 --request-timeout-ms 5
python3 tests/api/burst.py "$ADDR" "$PID" "$WORLD" 32 503,429
stop
