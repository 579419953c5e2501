#!/usr/bin/env bash
# Bounded-memory ingest (ADR 0011): one input larger than the budget, read a
# window of blocks at a time, against one pass over the same files.
#
#   benches/window.sh SIZE BUDGET...      # e.g. 50000000 2GiB 1GiB
#
# Generates a world of SIZE events as one set of blockchain-etl CSV files,
# ingests it once per BUDGET (`--memory BUDGET`) and once in one pass
# (`--memory 64GiB`), each a whole process timed with /usr/bin/time (wall
# clock, peak RSS; with CHAINTRACE_TIMING=1, so WORK/*.err hold each
# window's phases and resident memory), then traces from the world's hack
# under haircut, poison and FIFO and prints whether the reports and stats of
# the first budget's store and the one-pass store are byte-identical (they
# must be). BIN_DIR: binaries already built. Results: benches/RESULTS.md.
set -euo pipefail
SIZE=${1:?usage: benches/window.sh SIZE BUDGET...}
shift
[ $# -gt 0 ] || { echo "usage: benches/window.sh SIZE BUDGET..." >&2; exit 2; }
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
WORK=$TARGET/tmp/window-$SIZE
if [ -n "${BIN_DIR:-}" ]; then
    BIN=$BIN_DIR
else
    (cd "$ROOT" && cargo build --release --locked --bins -q)
    BIN=$TARGET/release
fi
STOPS=exchange,mixer,bridge,defi,gambling,payment
rm -rf "$WORK"
mkdir -p "$WORK/data"
cd "$WORK"
"$BIN/chaintrace-gen" world --events "$SIZE" --out data > data/seed.txt 2> gen.err
FILES=(data/transactions.csv data/traces.csv data/token_transfers.csv)
echo "== $SIZE events, $(cat "${FILES[@]}" | wc -c) bytes of CSV"
ingest() { # ingest NAME BUDGET
    local t
    t=$(mktemp)
    CHAINTRACE_TIMING=1 /usr/bin/time -f '%e %M' -o "$t" "$BIN/chaintrace" ingest --no-progress --memory "$2" \
        --store "$1" --chain ethereum --format etl "${FILES[@]}" > "$1.out" 2> "$1.err"
    read -r secs kb < "$t"
    rm -f "$t"
    local windows
    windows=$(grep -c '^timing: window ' "$1.err" || true)
    printf '  %-14s %-8s %8.2f s %7d MiB peak  %3d window(s)\n' "$1" "$2" "$secs" $((kb / 1024)) "$windows"
}
first=
for m in "$@"; do
    ingest "win-$m" "$m"
    if [ -z "$first" ]; then first="win-$m"; else rm -rf "win-$m"; fi
done
ingest one 64GiB
SEED=$(cat data/seed.txt)
for s in one "$first"; do
    "$BIN/chaintrace" labels --store "$s" import data/labels.csv > /dev/null 2>&1
    for p in haircut poison fifo; do
        "$BIN/chaintrace" trace --store "$s" --policy "$p" --seed "$SEED" --stop-at "$STOPS" --format json > "$s.$p.json"
    done
    "$BIN/chaintrace" stats --store "$s" --format json > "$s.stats.json"
done
for f in haircut poison fifo stats; do
    cmp -s "one.$f.json" "$first.$f.json" || { echo "== $f: the windowed store's report differs from one pass" >&2; exit 1; }
done
echo "== reports of $first and one pass: byte-identical (haircut, poison, FIFO, stats)"
