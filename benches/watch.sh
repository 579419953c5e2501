#!/usr/bin/env bash
# From a new block's files landing in the watched directory to its alerts
# (`chaintrace watch`, issue 20).
#
#   benches/watch.sh SIZE [BLOCKS] [PARTS]     # e.g. 10000000 20 1
#
# 1. Builds a store of the first SIZE events of a generated world in PARTS
#    appends (as benches/append.sh does), imports the world's labels, and
#    saves cases: `hack` (haircut from the hack's seed, exchanges and the
#    mixer as stops) and `hack-poison` (the same under poison); with BUSY=1
#    also `busy` (haircut from the busiest exchange address, no stops), whose
#    taint is in nearly every block (`busy`: the address that sends most often), so that every block answers it again in
#    full (the cost a touched case has until the account trace resumes).
# 2. Starts `watch --poll-ms POLL` (default 50) on an empty directory, then
#    for each of BLOCKS blocks (the world's next BLOCK events, about one
#    block) writes its four blockchain-etl CSV files aside (`.tmp`), renames
#    them in at once, and waits for the log to record the last one done. The
#    latency is from the renames to that record: the files held still for a
#    poll (up to two polls), were appended one by one (the files found
#    ready at one poll are a batch), every case the batch's events touch
#    was answered again (the cases in parallel), and the alerts were
#    logged, synced and printed. The first block is the warm-up (every case is answered on the
#    first file a `watch` takes) and is shown apart.
# Prints each block's latency and what `watch` said of its files (cases
# answered, alerts), the median and the maximum, and the watch process's
# peak RSS. Results: benches/RESULTS.md.
#
# KEEP=DIR keeps the store, before its cases and blocks (hard links), in
# DIR, and a later run with the same KEEP, SIZE, PARTS and BUSY starts from
# it instead of building the store again (A/B runs at 10^8; the store's
# files are never changed in place, so links are safe).
set -euo pipefail
SIZE=${1:?usage: benches/watch.sh SIZE [BLOCKS] [PARTS]}
BLOCKS=${2:-10}
PARTS=${3:-1}
BLOCK=${BLOCK:-400}
POLL=${POLL:-50}
BUSY=${BUSY:-0}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
WORK=$TARGET/tmp/watch-$SIZE
rm -rf "$WORK"
mkdir -p "$WORK/incoming"
cd "$ROOT"
. "$ROOT/benches/common/bins.sh"
. "$ROOT/benches/common/world.sh"

echo "== a store of $SIZE events in $PARTS part(s)" >&2
started=$(date +%s.%N)
KEEP=${KEEP:-}
if [ -n "$KEEP" ] && [ -d "$KEEP/store" ]; then
    cp -al "$KEEP/store" "$S"
    cp "$KEEP/seed.txt" "$KEEP/labels.csv" "$WORK/"
    mkdir -p "$WORK/data"
    cp "$KEEP/transactions.csv" "$WORK/data/" 2> /dev/null || true
    rm -rf "$S/cases" "$S/watch"
else
    build_store
fi
SEED=$(cat "$WORK/seed.txt")
"$CT" case create hack --store "$S" --policy haircut --seed "$SEED" --stop-at exchange,mixer 2> /dev/null
"$CT" case create hack-poison --store "$S" --policy poison --seed "$SEED" --stop-at exchange,mixer 2> /dev/null
if [ "$BUSY" = 1 ]; then
    # The address that sends most often in the store's last part (an
    # exchange's hot wallet in the generated world).
    BUSIEST=$(awk -F, 'NR > 1 { n[$6]++ } END { for (a in n) if (n[a] > m || (n[a] == m && a < b)) { m = n[a]; b = a }; print b }' "$WORK/data/transactions.csv")
    "$CT" case create busy --store "$S" --policy haircut --seed "$BUSIEST" 2> /dev/null
fi
if [ -n "$KEEP" ] && [ ! -d "$KEEP/store" ]; then
    rm -rf "$KEEP"
    mkdir -p "$KEEP"
    cp -al "$S" "$KEEP/store"
    rm -rf "$KEEP/store/cases"
    cp "$WORK/seed.txt" "$WORK/labels.csv" "$WORK/data/transactions.csv" "$KEEP/"
fi
EVENTS=$("$CT" stats --store "$S" --format json | python3 -c 'import json, sys; print(json.load(sys.stdin)["events"])')
printf '   %s events, built in %.0f s\n' "$EVENTS" "$(echo "$(date +%s.%N) - $started" | bc)" >&2

"$CT" watch --store "$S" --incoming "$WORK/incoming" --format etl --poll-ms "$POLL" > "$WORK/alerts.jsonl" 2> "$WORK/watch.err" &
WATCH=$!
trap 'kill $WATCH 2> /dev/null || true' EXIT

: > "$WORK/latency.tsv"
echo "== $BLOCKS blocks, each as its four files, polled every $POLL ms" >&2
for ((j = 0; j < BLOCKS; j++)); do
    rm -rf "$WORK/data"
    gen $((SIZE + j * BLOCK)) $((SIZE + (j + 1) * BLOCK))
    names=()
    for ((i = 0; i < ${#TABLES[@]}; i++)); do
        name=$(printf 'b%06d-%d-%s.csv' "$j" "$i" "${TABLES[$i]}")
        cp "$WORK/data/${TABLES[$i]}.csv" "$WORK/incoming/$name.tmp"
        names+=("$name")
    done
    last=${names[-1]}
    t0=$(date +%s%N)
    for n in "${names[@]}"; do mv "$WORK/incoming/$n.tmp" "$WORK/incoming/$n"; done
    until grep -q "{\"done\":\"$last\"}" "$S/watch/alerts.log" 2> /dev/null; do
        kill -0 $WATCH 2> /dev/null || { echo "watch stopped:" >&2; cat "$WORK/watch.err" >&2; exit 1; }
        sleep 0.002
    done
    t1=$(date +%s%N)
    ms=$(((t1 - t0) / 1000000))
    prefix=$(printf 'b%06d-' "$j")
    # What watch says of the batch comes on stderr just after the log's record.
    until grep -qE "^watch: $prefix.* ms\)$" "$WORK/watch.err"; do sleep 0.002; done
    answered=$(grep -F "watch: $prefix" "$WORK/watch.err" | sed -E 's/^watch: .* \(([0-9]+) files\): .* ([0-9]+) of ([0-9]+) cases answered \(([0-9]+) taken up\), ([0-9]+) new alerts, ([0-9.]+) ms \(loading ([0-9.]+) ms\)/\1 files: \2\/\3 cases (\4 taken up), \5 alerts, \6 ms of which loading \7 ms/' | paste -sd ';' -)
    printf '%d\t%d\t%s\n' "$j" "$ms" "$answered" >> "$WORK/latency.tsv"
    printf '  block %-3d %6d ms   %s\n' "$j" "$ms" "$answered" >&2
done
HWM=$(grep -h VmHWM /proc/$WATCH/status 2> /dev/null | tr -s ' \t' ' ' || true)
kill $WATCH 2> /dev/null || true
wait $WATCH 2> /dev/null || true
ALERTS=$(wc -l < "$WORK/alerts.jsonl")
awk -F'\t' 'NR > 1 { print $2 }' "$WORK/latency.tsv" | sort -n | awk -v warm="$(awk -F'\t' 'NR == 1 { print $2 }' "$WORK/latency.tsv")" -v alerts="$ALERTS" \
    '{ t[++n] = $1 } END { if (n) printf "== file landing to its alerts: median %d ms, max %d ms over %d blocks after the first (first: %d ms); %d alerts\n", t[int((n + 1) / 2)], t[n], n, warm, alerts }' >&2
if [ -n "$HWM" ]; then echo "== watch $HWM" >&2; fi
rm -rf "$WORK/data"
