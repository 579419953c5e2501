#!/usr/bin/env bash
# Bitcoin blocks appended to a store that grows.
#
#   benches/append_bitcoin.sh INPUTS [ROUNDS]     # e.g. 3000000 3
#
# 1. Writes a synthetic Bitcoin store of INPUTS inputs (`chaintrace-gen
#    utxo`: blocks 700,000 on, 2,000 transactions each), once per size.
# 2. ROUNDS times, on two fresh copies of it, ingests the real block
#    702,861 (datasets/bitcoin-mainnet-block-702861: 2,500 transactions,
#    6,518 inputs, 6,015 outputs; the trio format, whose inputs carry no
#    values, so the 5,700-odd inputs whose outputs are outside the data stay
#    unresolved, as in one ingest): once as an append (one new segment) and
#    once with CHAINTRACE_REWRITE=1, which rewrites the whole store as
#    Bitcoin ingests did before appends; each timed as a whole process
#    (wall clock, peak RSS). The copies are made and checked before the
#    timing and the page cache keeps the store, so neither side reads the
#    disk cold.
# 3. The two stores' reports (trace of an output of the block under
#    haircut, poison and FIFO, and stats) must be byte-identical.
# Results: benches/RESULTS.md.
set -euo pipefail
INPUTS=${1:?usage: benches/append_bitcoin.sh INPUTS [ROUNDS]}
ROUNDS=${2:-3}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
WORK=$TARGET/tmp/append-bitcoin-$INPUTS
mkdir -p "$WORK"
cd "$ROOT"
cargo build --release --locked --bins -q
CT=$TARGET/release/chaintrace
RESULTS=$WORK/results.tsv
: > "$RESULTS"
. "$ROOT/benches/timed.sh"
if [ ! -d "$WORK/base" ]; then
    "$TARGET/release/chaintrace-gen" utxo --inputs "$INPUTS" --store "$WORK/base"
fi
D=datasets/bitcoin-mainnet-block-702861
FILES=("$D/transactions.csv" "$D/inputs.csv" "$D/outputs.csv")
SEED=f5bad016fd6449766c157115141c58fed06358cd725ed1f374d267bc076bb673:1
EVENTS=$("$CT" stats --store "$WORK/base" --format json | grep -o '"events": *[0-9]*' | head -1 | grep -o '[0-9]*$')
echo "== a synthetic Bitcoin store of $EVENTS events ($INPUTS inputs), $(du -sb "$WORK/base" | cut -f1) bytes; the real block 702,861 ingested into it" >&2
for ((r = 0; r < ROUNDS; r++)); do
    for kind in append rewrite; do
        rm -rf "$WORK/$kind"
        cp -r "$WORK/base" "$WORK/$kind"
        # A copy is a new file to the checksum cache (ADR 0010): verify it
        # before the timing, as the store an operator appends to is.
        "$CT" stats --store "$WORK/$kind" > /dev/null
        env=CHAINTRACE_REWRITE=0
        if [ "$kind" = rewrite ]; then env=CHAINTRACE_REWRITE=1; fi
        timed "$kind" "$env" "$CT" ingest --no-progress --store "$WORK/$kind" --chain bitcoin --format etl "${FILES[@]}"
    done
done
awk -F'\t' '{ n[$1]++; t[$1, n[$1]] = $2; if ($3 > m[$1]) m[$1] = $3 }
    END { for (k in n) { s = ""; for (i = 1; i <= n[k]; i++) s = s sprintf(" %.3f", t[k, i]); printf "  %-8s%s s, peak RSS at most %d MiB\n", k, s, m[k] } }' "$RESULTS" | sort >&2
for s in append rewrite; do
    echo "  $s: $(ls "$WORK/$s"/seg-*.seg | wc -l) segment file(s)" >&2
    for p in haircut poison fifo; do
        "$CT" trace --store "$WORK/$s" --policy "$p" --seed "$SEED" --format json > "$WORK/$s.$p.json"
    done
    "$CT" stats --store "$WORK/$s" --format json > "$WORK/$s.stats.json"
done
for r in haircut poison fifo stats; do
    cmp "$WORK/append.$r.json" "$WORK/rewrite.$r.json" || { echo "the $r reports differ" >&2; exit 1; }
done
echo "== reports of the appended store and the rewritten one: byte-identical (haircut, poison, FIFO, stats)" >&2
rm -rf "$WORK/append" "$WORK/rewrite"
