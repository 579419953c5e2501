#!/usr/bin/env bash
# A store that grows with the chain: build it, then append new blocks.
#
#   benches/append.sh SIZE [APPENDS] [PARTS]     # e.g. 10000000 20 1
#
# 1. Builds a store of the first SIZE events of a generated world (ADR 0010)
#    in PARTS ingests, each part written as blockchain-etl CSV, ingested (an
#    append: its blocks follow the store's end) and deleted, so sizes whose
#    CSV would not fit the disk still build. Labels are imported after.
#    With COMPACT=1 the store is then compacted (`chaintrace compact`, timed):
#    a bulk load followed by a merge, as an operator would run it.
# 2. Appends APPENDS single blocks, the world's next ones (BLOCK events of the
#    world each, about one block; the event count of each is printed).
# Every ingest is timed as a whole process: wall clock and peak RSS
# (/usr/bin/time), which is what a user waits for and what it costs.
# 3. With CHECK=1 (the default) the same parts and blocks also go into a
#    second store with CHAINTRACE_REWRITE=1, which rewrites the whole store
#    on every ingest as stores were built before segments (and as one ingest
#    of all the files does); the reports of both stores (trace from the
#    hack's seed under haircut, poison and FIFO, JSON, and stats) must be
#    byte-identical, and both stores' ingests are in the table.
# With TRACE=1 (the default) the appended store is then traced from the
# hack's seed under each policy (the JSON report written to a file), timed the same way.
# With TIMING=1 every chaintrace step runs with CHAINTRACE_TIMING=1 and its
# phase lines (time, resident and peak memory) go to WORK/timing.txt.
# With BUILT=K only the first K of the PARTS parts are built (the first
# K/PARTS of a world too large for the disk: the blocks then appended come
# after the world's end, still new blocks).
# Prints the store's bytes per event. Results: benches/RESULTS.md.
set -euo pipefail
SIZE=${1:?usage: benches/append.sh SIZE [APPENDS] [PARTS]}
APPENDS=${2:-20}
PARTS=${3:-1}
BLOCK=${BLOCK:-400}
CHECK=${CHECK:-1}
TRACE=${TRACE:-1}
COMPACT=${COMPACT:-0}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
WORK=$TARGET/tmp/append-$SIZE
rm -rf "$WORK"
mkdir -p "$WORK"
cd "$ROOT"
. "$ROOT/benches/common/bins.sh"
TOTAL=$((SIZE + (APPENDS + 1) * BLOCK))
RESULTS=$WORK/results.tsv
: > "$RESULTS"
STORES=("$WORK/store")
if [ "$CHECK" = 1 ]; then STORES+=("$WORK/rewrite"); fi

# timed NAME ENV CMD...: see benches/timed.sh.
. "$ROOT/benches/timed.sh"

# ingest_window A B LABEL: write the world's blocks starting in events A..B, ingest them into each store.
ingest_window() {
    local a=$1 b=$2 label=$3
    rm -rf "$WORK/data"
    "$BIN/chaintrace-gen" world --events "$TOTAL" --window "$a..$b" --out "$WORK/data" > "$WORK/seed.txt" 2> "$WORK/gen.err"
    local files=("$WORK/data/transactions.csv" "$WORK/data/traces.csv" "$WORK/data/token_transfers.csv" "$WORK/data/logs.csv")
    for s in "${STORES[@]}"; do
        local env="CHAINTRACE_REWRITE=0" kind=append
        if [ "$s" = "$WORK/rewrite" ]; then env="CHAINTRACE_REWRITE=1" kind=rewrite; fi
        timed "$label $kind" "$env" "$CT" ingest --no-progress --store "$s" --chain ethereum --format etl "${files[@]}"
    done
    local before=${EVENTS:-0}
    EVENTS=$(grep -ho '[0-9]* events in the store' "$WORK/last.out" "$WORK/last.err" | head -1 | cut -d' ' -f1)
    EVENTS_ADDED=$((EVENTS - before))
}

echo "== a store of $SIZE events in $PARTS part(s)${BUILT:+, the first $BUILT built}" >&2
for ((k = 0; k < ${BUILT:-$PARTS}; k++)); do
    ingest_window $((SIZE * k / PARTS)) $((SIZE * (k + 1) / PARTS)) "part $k"
    awk -F'\t' -v p="part $k" 'index($1, p) == 1 { printf "  %-22s %9.3f s %7d MiB\n", $1, $2, $3 }' "$RESULTS" >&2
done
cp "$WORK/data/labels.csv" "$WORK/labels.csv"
for s in "${STORES[@]}"; do "$CT" labels --store "$s" import "$WORK/labels.csv" > /dev/null 2>&1; done
SEED=$(cat "$WORK/seed.txt")
if [ "$COMPACT" = 1 ]; then
    timed "compact" "CHAINTRACE_REWRITE=0" "$CT" compact --store "$WORK/store"
    awk -F'\t' '$1 == "compact" { printf "== compact after the parts: %.3f s, %d MiB peak\n", $2, $3 }' "$RESULTS" >&2
fi

echo "== $APPENDS appends of one block each" >&2
for ((j = 0; j < APPENDS; j++)); do
    ingest_window $((SIZE + j * BLOCK)) $((SIZE + (j + 1) * BLOCK)) "block $j"
    printf '  block %-3d %5d events  append %8.4f s %5d MiB' "$j" "$EVENTS_ADDED" \
        "$(awk -F'\t' -v n="block $j append" '$1 == n { print $2 }' "$RESULTS")" "$(awk -F'\t' -v n="block $j append" '$1 == n { print $3 }' "$RESULTS")" >&2
    if [ "$CHECK" = 1 ]; then
        printf '   rewrite %8.3f s %6d MiB' "$(awk -F'\t' -v n="block $j rewrite" '$1 == n { print $2 }' "$RESULTS")" "$(awk -F'\t' -v n="block $j rewrite" '$1 == n { print $3 }' "$RESULTS")" >&2
    fi
    echo >&2
done

BYTES=$(cat "$WORK"/store/seg-*.seg | wc -c)
SEGS=$(ls "$WORK"/store/seg-*.seg | wc -l)
echo "== store: $EVENTS events, $BYTES bytes in $SEGS segment file(s): $((BYTES / EVENTS)) bytes per event" >&2
awk -F'\t' '/^block .* append$/ { print $2 "\t" $3 }' "$RESULTS" | sort -n | awk -F'\t' '{ n++; t[n] = $1; if ($2 > m) m = $2 }
    END { if (n) printf "== appends of one block: median %.4f s, max %.4f s, peak RSS at most %d MiB (%d appends)\n", t[int((n + 1) / 2)], t[n], m, n }' >&2

if [ "$TRACE" = 1 ]; then
    for p in haircut poison fifo; do
        timed "trace $p" "CHAINTRACE_REWRITE=0" "$CT" trace --store "$WORK/store" --policy "$p" --seed "$SEED" --format json
        awk -F'\t' -v n="trace $p" '$1 == n { printf "== %s of the appended store: %.3f s, %d MiB peak\n", n, $2, $3 }' "$RESULTS" >&2
    done
fi

if [ "$CHECK" = 1 ]; then
    for p in haircut poison fifo; do
        for s in "${STORES[@]}"; do
            "$CT" trace --store "$s" --policy "$p" --seed "$SEED" --format json > "$s.$p.json"
        done
        cmp "$WORK/store.$p.json" "$WORK/rewrite.$p.json" || { echo "the $p reports differ" >&2; exit 1; }
    done
    # Across swaps (ADR 0012): the first trace of each store sweeps in full
    # and writes its ledger; the appended store's second trace reads it.
    for p in haircut poison; do
        for s in "${STORES[@]}"; do
            "$CT" trace --store "$s" --policy "$p" --seed "$SEED" --follow swaps --format json > "$s.$p.follow.json"
        done
        "$CT" trace --store "$WORK/store" --policy "$p" --seed "$SEED" --follow swaps --format json > "$WORK/store.$p.follow2.json"
        cmp "$WORK/store.$p.follow.json" "$WORK/rewrite.$p.follow.json" || { echo "the $p --follow reports differ" >&2; exit 1; }
        cmp "$WORK/store.$p.follow.json" "$WORK/store.$p.follow2.json" || { echo "the $p --follow report over the ledger differs" >&2; exit 1; }
    done
    for s in "${STORES[@]}"; do "$CT" stats --store "$s" --format json > "$s.stats.json"; done
    cmp "$WORK/store.stats.json" "$WORK/rewrite.stats.json" || { echo "the stats differ" >&2; exit 1; }
    echo "== reports of the appended store and the rewritten one: byte-identical (haircut, poison, FIFO, --follow swaps full and over the ledger, stats)" >&2
fi
rm -rf "$WORK/data"
