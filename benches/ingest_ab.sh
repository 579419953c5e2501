#!/usr/bin/env bash
# Two builds' ingest side by side on the same generated world: is a change
# to the reader, the interner or the write faster end to end?
#
#   benches/ingest_ab.sh OLD_BIN_DIR NEW_BIN_DIR SIZE [ROUNDS]   # e.g. ... 10000000 3
#
# Generates a world of SIZE events once (NEW's chaintrace-gen; reused from
# benches/sweeps_ab.sh's directory when there), then ingests, ROUNDS times
# (default 3) and alternating the builds so that the machine's noise falls
# on both alike: the world's three files into an empty store, and its
# transactions.csv alone. Prints per build and input the median, minimum
# and maximum wall time, the median user CPU and largest peak RSS, and the
# median's MB/s per core (input bytes / wall / cores). The two builds'
# stores must hold the same events (`chaintrace stats`). Results:
# benches/RESULTS.md.
set -euo pipefail
OLD=${1:?usage: benches/ingest_ab.sh OLD_BIN_DIR NEW_BIN_DIR SIZE [ROUNDS]}
NEW=${2:?usage: benches/ingest_ab.sh OLD_BIN_DIR NEW_BIN_DIR SIZE [ROUNDS]}
SIZE=${3:?usage: benches/ingest_ab.sh OLD_BIN_DIR NEW_BIN_DIR SIZE [ROUNDS]}
ROUNDS=${4:-3}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
DATA=$TARGET/tmp/sweeps-ab-$SIZE/data
WORK=$TARGET/tmp/ingest-ab-$SIZE
mkdir -p "$WORK"
if [ ! -s "$DATA/seed.txt" ]; then
    rm -rf "$DATA"
    mkdir -p "$DATA"
    "$NEW/chaintrace-gen" world --events "$SIZE" --out "$DATA" > "$DATA/seed.txt" 2> /dev/null
fi
WORLD=("$DATA/transactions.csv" "$DATA/traces.csv" "$DATA/token_transfers.csv")
TXS=("$DATA/transactions.csv")
cores=$(nproc)
RESULTS=$WORK/results.tsv
: > "$RESULTS"

# run B SET: one ingest of input SET (world or tx) with build B.
run() {
    local b=$1 set=$2 bin=$OLD t files
    if [ "$b" = new ]; then bin=$NEW; fi
    if [ "$set" = world ]; then files=("${WORLD[@]}"); else files=("${TXS[@]}"); fi
    rm -rf "$WORK/store-$b"
    t=$(mktemp)
    /usr/bin/time -f '%e %U %M' -o "$t" "$bin/chaintrace" ingest --no-progress --store "$WORK/store-$b" --chain ethereum --format etl "${files[@]}" > /dev/null 2> "$WORK/last.err" || {
        echo "$b $set failed:" >&2
        cat "$WORK/last.err" >&2
        exit 1
    }
    printf '%s\t%s\t%s\n' "$b" "$set" "$(cat "$t")" >> "$RESULTS"
    rm -f "$t"
}

for ((r = 0; r < ROUNDS; r++)); do
    for set in world tx; do
        for b in old new; do run $b $set; done
        a=$("$OLD/chaintrace" stats --store "$WORK/store-old" --format json | python3 -c 'import json,sys; print(json.load(sys.stdin)["events"])')
        n=$("$NEW/chaintrace" stats --store "$WORK/store-new" --format json | python3 -c 'import json,sys; print(json.load(sys.stdin)["events"])')
        if [ "$a" != "$n" ]; then
            echo "the builds' stores differ: $a events against $n ($set)" >&2
            exit 1
        fi
    done
done
rm -rf "$WORK/store-old" "$WORK/store-new"

echo "== ingest of a $SIZE-event world; old: $OLD, new: $NEW; $ROUNDS rounds, alternating; $cores cores"
for set in world tx; do
    bytes=0
    if [ "$set" = world ]; then for f in "${WORLD[@]}"; do bytes=$((bytes + $(stat -L -c %s "$f"))); done; else bytes=$(stat -L -c %s "${TXS[0]}"); fi
    for b in old new; do
        python3 - "$RESULTS" "$b" "$set" "$bytes" "$cores" <<'PY'
import statistics, sys
path, b, s, size, cores = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
rows = [l.rstrip("\n").split("\t") for l in open(path)]
runs = [tuple(float(x) for x in r[2].split()) for r in rows if r[0] == b and r[1] == s]
wall, user = sorted(r[0] for r in runs), sorted(r[1] for r in runs)
m = statistics.median_low(wall)
print(f"  {b} {s:5} {size / 1e9:6.2f} GB  wall median {m:7.2f} s (min {wall[0]:.2f}, max {wall[-1]:.2f})"
      f"  user {statistics.median_low(user):7.2f} s  peak {max(r[2] for r in runs) / 1024:5.0f} MiB  {size / 1e6 / m / cores:4.0f} MB/s a core")
PY
    done
done
