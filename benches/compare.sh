#!/usr/bin/env bash
# chaintrace side by side with the tools an investigator would otherwise use,
# on the same generated files, in one run.
#
#   benches/compare.sh SIZE        # SIZE events, e.g. 1000000
#   SET=wide benches/compare.sh SIZE   # the wide set: SIZE random transfers
#                                      # (chaintrace-gen wide), taint everywhere
#
# Generates a structured world of SIZE events as blockchain-etl CSV exports
# (chaintrace-gen world), then times, with wall clock and peak memory:
#   - the floor: reading the CSV bytes (cat > /dev/null), and streaming once
#     over the stored event columns (chaintrace-gen scan);
#   - chaintrace: ingest, labels import, trace from the exploiter with the
#     service categories absorbing, under each policy;
#   - NetworkX: a MultiDiGraph from the CSVs, then a time-ordered haircut and
#     poison; polars (Python): the ingest step; DuckDB: time-respecting poison
#     reachability as one recursive SQL query.
# It checks that every peer finds the destinations chaintrace finds (haircut
# amounts to the wei, and the dormant addresses' too) and prints two
# tables: end to end from the CSV, and the two costs apart (issue 18):
# loading the data once (chaintrace ingest, labels and first open; DuckDB
# load; polars read; NetworkX graph build) and answering one question on
# loaded data (chaintrace trace with its default report, written; each
# peer's query and report, written). Python packages go into a virtual
# environment under the target directory. COLD=1 also times a read from disk;
# PARTS=P writes and ingests the world a part at a time (chaintrace only), for
# sizes whose CSV would not fit the disk;
# PEERS=0 skips the Python peers;
# NETWORKX_MAX (default 10000000) and DUCKDB_MAX (default 10000000) skip the
# slow peers above those sizes.
set -euo pipefail
SIZE=${1:?usage: benches/compare.sh SIZE}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
SET=${SET:-world}
case "$SET" in
    world) WORK=$TARGET/tmp/compare-$SIZE STOPS=exchange,mixer,bridge,defi,gambling,payment ;;
    wide) WORK=$TARGET/tmp/compare-wide-$SIZE STOPS=exchange ;;
    *) echo "SET=$SET: world or wide" >&2; exit 1 ;;
esac
VENV=$TARGET/tmp/compare-venv
mkdir -p "$WORK"
cd "$ROOT"
. "$ROOT/benches/common/bins.sh"
RESULTS=$WORK/results.tsv
: > "$RESULTS"

# run NAME CMD...: wall seconds and peak RSS (MiB) of CMD into the results.
run() {
    local name=$1
    shift
    local t start end secs kib
    t=$(mktemp)
    start=$(date +%s%N)
    /usr/bin/time -f '%M' -o "$t" "$@" > "$WORK/$name.out" 2> "$WORK/$name.err" || {
        echo "$name failed:" >&2
        cat "$WORK/$name.err" >&2
        exit 1
    }
    end=$(date +%s%N)
    secs=$(awk "BEGIN { printf \"%.3f\", ($end - $start) / 1e9 }")
    kib=$(tail -1 "$t")
    rm -f "$t"
    printf '%s\t%s\t%s\n' "$name" "$secs" "$((kib / 1024))" >> "$RESULTS"
    printf '  %-22s %8.3f s %8d MiB\n' "$name" "$secs" "$((kib / 1024))" >&2
}

# sum NAME ROWS...: one row for NAME, the sum of the times and the largest peak of ROWS.
sum_rows() {
    local name=$1
    shift
    awk -F'\t' -v name="$name" -v rows="$*" 'BEGIN { n = split(rows, r, "|"); for (i = 1; i <= n; i++) want[r[i]] = 1 }
        ($1 in want) { s += $2; if ($3 > m) m = $3 } END { printf "%s\t%.3f\t%d\n", name, s, m }' "$RESULTS" >> "$RESULTS"
}

PARTS=${PARTS:-1}
if [ "$SET" = wide ]; then
    echo "== generating the wide set of $SIZE transfers in $WORK/data" >&2
    if [ ! -s "$WORK/data/seed.txt" ]; then
        rm -rf "$WORK/data"
        mkdir -p "$WORK/data"
        "$BIN/chaintrace-gen" wide --rows "$SIZE" --out "$WORK/data" > "$WORK/data/seed.txt.new"
        mv "$WORK/data/seed.txt.new" "$WORK/data/seed.txt"
    fi
    SEED=$(cat "$WORK/data/seed.txt")
    CSV_BYTES=$(wc -c < "$WORK/data/transactions.csv")
    echo "== floor" >&2
    run "floor: cat csv" sh -c "cat '$WORK'/data/transactions.csv > /dev/null"
    echo "== chaintrace" >&2
    rm -rf "$WORK/store"
    run "chaintrace ingest" "$CT" ingest --store "$WORK/store" --chain ethereum --format etl "$WORK/data/transactions.csv"
elif [ "$PARTS" -le 1 ]; then
    echo "== generating a world of $SIZE events in $WORK/data" >&2
    if [ ! -s "$WORK/data/seed.txt" ]; then
        rm -rf "$WORK/data"
        mkdir -p "$WORK/data"
        "$BIN/chaintrace-gen" world --events "$SIZE" --out "$WORK/data" > "$WORK/data/seed.txt"
    fi
    SEED=$(cat "$WORK/data/seed.txt")
    CSV_BYTES=$(cat "$WORK"/data/transactions.csv "$WORK"/data/traces.csv "$WORK"/data/token_transfers.csv | wc -c)
    echo "== floor" >&2
    # COLD=1 (as root) drops the page cache first and times a read from disk.
    # Either way every tool after this reads the files from the page cache.
    if [ "${COLD:-0}" = 1 ] && [ -w /proc/sys/vm/drop_caches ]; then
        sync
        echo 1 > /proc/sys/vm/drop_caches
        run "floor: cat csv cold" sh -c "cat '$WORK'/data/transactions.csv '$WORK'/data/traces.csv '$WORK'/data/token_transfers.csv > /dev/null"
    fi
    run "floor: cat csv" sh -c "cat '$WORK'/data/transactions.csv '$WORK'/data/traces.csv '$WORK'/data/token_transfers.csv > /dev/null"
    echo "== chaintrace" >&2
    rm -rf "$WORK/store"
    run "chaintrace ingest" "$CT" ingest --store "$WORK/store" --chain ethereum --format etl \
        "$WORK/data/transactions.csv" "$WORK/data/traces.csv" "$WORK/data/token_transfers.csv"
else
    # PARTS=P: a world too large for the disk as one set of files is written
    # and ingested a part at a time (each ingest appends to the store); only
    # chaintrace runs. Generating a part is not timed; reading and ingesting
    # it are, and their sums are the rows.
    PEERS=0
    echo "== a world of $SIZE events in $PARTS parts, each written, read, ingested and deleted" >&2
    rm -rf "$WORK/store" "$WORK/data"
    CSV_BYTES=0
    cats=() ingests=()
    for ((k = 0; k < PARTS; k++)); do
        mkdir -p "$WORK/data"
        "$BIN/chaintrace-gen" world --events "$SIZE" --part "$k/$PARTS" --out "$WORK/data" > "$WORK/seed.txt"
        CSV_BYTES=$((CSV_BYTES + $(cat "$WORK"/data/transactions.csv "$WORK"/data/traces.csv "$WORK"/data/token_transfers.csv | wc -c)))
        run "floor: cat csv part $k" sh -c "cat '$WORK'/data/transactions.csv '$WORK'/data/traces.csv '$WORK'/data/token_transfers.csv > /dev/null"
        run "chaintrace ingest part $k" "$CT" ingest --store "$WORK/store" --chain ethereum --format etl \
            "$WORK/data/transactions.csv" "$WORK/data/traces.csv" "$WORK/data/token_transfers.csv"
        cats+=("floor: cat csv part $k") ingests+=("chaintrace ingest part $k")
        if [ "$k" -lt $((PARTS - 1)) ]; then rm -rf "$WORK/data"; fi
    done
    sum_rows "floor: cat csv" "$(IFS='|'; echo "${cats[*]}")"
    sum_rows "chaintrace ingest" "$(IFS='|'; echo "${ingests[*]}")"
    SEED=$(cat "$WORK/seed.txt")
    echo "== chaintrace" >&2
fi
run "chaintrace labels" "$CT" labels --store "$WORK/store" import "$WORK/data/labels.csv"
# The first open of a new generation hashes every column once (later opens
# find the VERIFIED stamp): timed on its own, and counted in end to end.
run "chaintrace first open" "$CT" stats --store "$WORK/store"
run "floor: scan columns" "$BIN/chaintrace-gen" scan --store "$WORK/store"
for p in poison haircut fifo; do
    run "chaintrace $p" "$CT" trace --store "$WORK/store" --policy "$p" --seed "$SEED" --stop-at "$STOPS" --format json --output "$WORK/chaintrace-$p.json"
done
EVENTS=$("$CT" stats --store "$WORK/store" --format json | python3 -c 'import json,sys; print(json.load(sys.stdin)["events"])')

if [ "${PEERS:-1}" != 0 ]; then
    echo "== Python peers (virtual environment $VENV)" >&2
    if [ ! -x "$VENV/bin/python" ]; then
        python3 -m venv "$VENV"
        "$VENV/bin/pip" install -q --disable-pip-version-check -r "$ROOT/benches/peers/requirements.txt"
    fi
    PY="$VENV/bin/python $ROOT/benches/peers/peers.py"
    run "polars ingest" $PY polars-ingest "$WORK/data"
    if [ "$SIZE" -le "${NETWORKX_MAX:-10000000}" ]; then
        run "networkx haircut" $PY networkx-haircut "$WORK/data" "$SEED" "$STOPS"
        run "networkx poison" $PY networkx-poison "$WORK/data" "$SEED" "$STOPS"
    fi
    if [ "$SIZE" -le "${DUCKDB_MAX:-10000000}" ]; then
        run "duckdb poison" $PY duckdb-poison "$WORK/data" "$SEED" "$STOPS"
    fi
fi

echo "== checking answers and writing the table" >&2
python3 "$ROOT/benches/peers/table.py" "$WORK" "$SIZE" "$EVENTS" "$CSV_BYTES" "$SET"
