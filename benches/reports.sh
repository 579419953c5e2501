#!/usr/bin/env bash
# What answering costs beyond the sweep (issue 18): the report's rows and
# evidence paths, and writing its bytes.
#
#   benches/reports.sh ROWS       # e.g. 1000000
#
# Writes the wide set (`chaintrace-gen wide`: ROWS random transfers, every
# fourth address of the pool an exchange, traced from the hottest address,
# so taint reaches most of the pool), ingests it and imports its labels,
# then traces it under each policy with the default report (paths for the
# 100 largest destinations) and with `--paths-for all`, JSON to a file.
# Per run (CHAINTRACE_TIMING's figures): the sweep, building the report,
# writing it, the whole command's wall time and peak memory, the bytes,
# and the goal's bound: 2 x (sweep + bytes at 1 GB/s). Then the haircut
# case's HTML page: its size, and how long headless Chromium takes to load
# it and take a screenshot (when chromium is installed). Leaves out the
# first open of the store (a run before the timed ones does it).
# BIN_DIR: binaries already built.
set -euo pipefail
ROWS=${1:?usage: benches/reports.sh ROWS}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
WORK=$TARGET/tmp/reports-$ROWS
if [ -n "${BIN_DIR:-}" ]; then
    BIN=$BIN_DIR
else
    (cd "$ROOT" && cargo build --release --locked --bins -q)
    BIN=$TARGET/release
fi
CT=$BIN/chaintrace
mkdir -p "$WORK"
if [ ! -s "$WORK/seed.txt" ] || [ ! -d "$WORK/store" ]; then
    rm -rf "$WORK/store" "$WORK/data"
    mkdir -p "$WORK/data"
    "$BIN/chaintrace-gen" wide --rows "$ROWS" --out "$WORK/data" > "$WORK/seed.txt.new" 2> /dev/null
    "$CT" ingest --store "$WORK/store" --chain ethereum --format etl --no-progress "$WORK/data/transactions.csv" > /dev/null
    "$CT" labels --store "$WORK/store" import "$WORK/data/labels.csv" > /dev/null
    mv "$WORK/seed.txt.new" "$WORK/seed.txt"
fi
SEED=$(cat "$WORK/seed.txt")
"$CT" stats --store "$WORK/store" > /dev/null
printf '%-8s %-9s %8s %8s %8s %8s %11s %8s %9s %8s\n' policy paths sweep_s build_s write_s wall_s bytes peak_MiB bound_s "wall/bound"
for policy in poison haircut fifo; do
    for pf in 100 all; do
        out=$WORK/$policy-$pf.json
        t=$(mktemp)
        start=$(date +%s%N)
        CHAINTRACE_TIMING=1 /usr/bin/time -f 'peak %M' "$CT" trace --store "$WORK/store" --policy "$policy" --seed "$SEED" \
            --stop-at exchange --paths-for "$pf" --format json --output "$out" 2> "$t"
        end=$(date +%s%N)
        wall=$(awk "BEGIN { printf \"%.3f\", ($end - $start) / 1e9 }")
        sweep=$(sed -n 's/.*sweep of [0-9]* events in \([0-9.]*\)s.*/\1/p' "$t")
        build=$(sed -n 's/.*report built in \([0-9.]*\)s.*/\1/p' "$t")
        write=$(sed -n 's/.*report written in \([0-9.]*\)s.*/\1/p' "$t")
        peak=$(sed -n 's/^peak \([0-9]*\)/\1/p' "$t")
        bytes=$(stat -c %s "$out")
        rm -f "$t"
        bound=$(awk "BEGIN { printf \"%.3f\", 2 * ($sweep + $bytes / 1e9) }")
        printf '%-8s %-9s %8s %8s %8s %8s %11s %8d %9s %8s\n' "$policy" "$pf" "$sweep" "$build" "$write" "$wall" "$bytes" \
            "$((peak / 1024))" "$bound" "$(awk "BEGIN { printf \"%.2f\", $wall / $bound }")"
    done
    # The default report is the full one with the paths after the first 100 taken out.
    python3 - "$WORK/$policy-100.json" "$WORK/$policy-all.json" <<'EOF'
import json, sys
few, every = (json.load(open(p)) for p in sys.argv[1:])
for d in every["destinations"][100:]:
    d["paths"] = []
every["paths_for"] = 100
assert few == every, "the default report is not the full one cut after 100 destinations"
EOF
done
echo "destinations: $(python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print(len(r['destinations']), 'destinations,', len(r['dormant']), 'dormant')" "$WORK/haircut-100.json")"
# The investigator's page of the haircut case, and Chromium drawing it.
page=$WORK/haircut.html
"$CT" trace --store "$WORK/store" --policy haircut --seed "$SEED" --stop-at exchange --format html --output "$page"
echo "html: $(stat -c %s "$page") bytes"
if command -v chromium > /dev/null; then
    rm -rf "$WORK/profile"
    start=$(date +%s%N)
    chromium --headless --no-sandbox --disable-gpu --no-first-run --disable-background-networking --user-data-dir="$WORK/profile" \
        --window-size=1280,1400 --screenshot="$WORK/haircut.png" "file://$page" > /dev/null 2>&1
    end=$(date +%s%N)
    echo "html: drawn and captured by headless Chromium in $(awk "BEGIN { printf \"%.2f\", ($end - $start) / 1e9 }") s ($WORK/haircut.png)"
fi
