#!/usr/bin/env bash
# Two builds of chaintrace side by side on the same data: is a change to the
# store's columns as fast in the sweeps as what it replaces?
#
#   benches/sweeps_ab.sh OLD_BIN_DIR NEW_BIN_DIR SIZE [ROUNDS]   # e.g. ... 10000000 5
#
# Generates a world of SIZE events once (with NEW's chaintrace-gen), ingests
# it into one store per build (each with its own binary: the formats may
# differ), imports the labels, opens each store once (the first open hashes
# every column), then traces from the world's hack under haircut, poison and
# FIFO, alternating old and new ROUNDS times (default 5) so that the
# machine's noise falls on both alike. Prints, per build: ingest wall time
# and peak, bytes per event, and the median, minimum and maximum of each
# sweep (wall clock of the whole process and its peak RSS); the reports of
# the two builds must be byte-identical. PARTS=P writes the world a part at
# a time (each part ingested into both stores, an append, then deleted),
# for sizes whose CSV would not fit the disk. Results: benches/RESULTS.md.
set -euo pipefail
OLD=${1:?usage: benches/sweeps_ab.sh OLD_BIN_DIR NEW_BIN_DIR SIZE [ROUNDS]}
NEW=${2:?usage: benches/sweeps_ab.sh OLD_BIN_DIR NEW_BIN_DIR SIZE [ROUNDS]}
SIZE=${3:?usage: benches/sweeps_ab.sh OLD_BIN_DIR NEW_BIN_DIR SIZE [ROUNDS]}
ROUNDS=${4:-5}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
WORK=$TARGET/tmp/sweeps-ab-$SIZE
STOPS=exchange,mixer,bridge,defi,gambling,payment
mkdir -p "$WORK"
RESULTS=$WORK/results.tsv
: > "$RESULTS"

# timed NAME ENV CMD...: see benches/timed.sh.
. "$ROOT/benches/timed.sh"

PARTS=${PARTS:-1}
# ingest_into B LABEL FILES...: ingest into build B's store, timed.
ingest_into() {
    local b=$1 label=$2 bin=$OLD
    shift 2
    if [ "$b" = new ]; then bin=$NEW; fi
    timed "$b $label" "" "$bin/chaintrace" ingest --no-progress --store "$WORK/store-$b" --chain ethereum --format etl "$@"
}
rm -rf "$WORK/store-old" "$WORK/store-new"
if [ "$PARTS" -le 1 ]; then
    if [ ! -s "$WORK/data/seed.txt" ]; then
        rm -rf "$WORK/data"
        mkdir -p "$WORK/data"
        "$NEW/chaintrace-gen" world --events "$SIZE" --out "$WORK/data" > "$WORK/data/seed.txt" 2> /dev/null
    fi
    for b in old new; do ingest_into $b ingest "$WORK/data/transactions.csv" "$WORK/data/traces.csv" "$WORK/data/token_transfers.csv"; done
else
    rm -rf "$WORK/data"
    for ((k = 0; k < PARTS; k++)); do
        mkdir -p "$WORK/data"
        "$NEW/chaintrace-gen" world --events "$SIZE" --part "$k/$PARTS" --out "$WORK/data" > "$WORK/data/seed.txt" 2> /dev/null
        for b in old new; do ingest_into $b "ingest part $k" "$WORK/data/transactions.csv" "$WORK/data/traces.csv" "$WORK/data/token_transfers.csv"; done
        if [ "$k" -lt $((PARTS - 1)) ]; then rm -rf "$WORK/data"; fi
    done
    for b in old new; do
        awk -F'\t' -v b="$b" 'index($1, b " ingest part") == 1 { s += $2; if ($3 > m) m = $3 } END { printf "%s ingest\t%.3f\t%d\n", b, s, m }' "$RESULTS" >> "$RESULTS.sum"
    done
    cat "$RESULTS.sum" >> "$RESULTS"
    rm -f "$RESULTS.sum"
fi
SEED=$(cat "$WORK/data/seed.txt")
for b in old new; do
    bin=$OLD
    if [ "$b" = new ]; then bin=$NEW; fi
    "$bin/chaintrace" labels --store "$WORK/store-$b" import "$WORK/data/labels.csv" > /dev/null
    "$bin/chaintrace" stats --store "$WORK/store-$b" > /dev/null
done
for ((r = 0; r < ROUNDS; r++)); do
    for p in haircut poison fifo; do
        for b in old new; do
            bin=$OLD
            if [ "$b" = new ]; then bin=$NEW; fi
            timed "$b $p" "" "$bin/chaintrace" trace --store "$WORK/store-$b" --policy "$p" --seed "$SEED" --stop-at "$STOPS" --format json --output "$WORK/$b-$p.json"
        done
        cmp "$WORK/old-$p.json" "$WORK/new-$p.json" || { echo "the $p reports of the two builds differ" >&2; exit 1; }
    done
done

echo "== $SIZE events; old: $(cat "$OLD/COMMIT" 2> /dev/null || echo "$OLD"), new: $(cat "$NEW/COMMIT" 2> /dev/null || echo "$NEW"); $ROUNDS rounds, alternating" >&2
for b in old new; do
    events=$("$NEW/chaintrace" stats --store "$WORK/store-new" --format json | python3 -c 'import json,sys; print(json.load(sys.stdin)["events"])')
    bytes=$(cat "$WORK/store-$b"/seg-*.seg 2> /dev/null | wc -c)
    awk -F'\t' -v n="$b ingest" -v b="$b" -v bpe="$(awk "BEGIN { printf \"%.1f\", $bytes / $events }")" '$1 == n { printf "  %-4s ingest %8.3f s %6d MiB (largest peak), %s bytes per event\n", b, $2, $3, bpe }' "$RESULTS" >&2
done
printf '  %-14s %10s %10s %10s %10s\n' sweep median min max 'peak MiB' >&2
for p in haircut poison fifo; do
    for b in old new; do
        awk -F'\t' -v n="$b $p" '$1 == n { print $2 "\t" $3 }' "$RESULTS" | sort -n | awk -F'\t' -v n="$b $p" '
            { k++; t[k] = $1; if ($2 > m) m = $2 }
            END { printf "  %-14s %10.4f %10.4f %10.4f %10d\n", n, t[int((k + 1) / 2)], t[1], t[k], m }' >&2
    done
done
echo "== reports of the two builds: byte-identical (haircut, poison, FIFO)" >&2
