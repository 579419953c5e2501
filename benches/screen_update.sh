#!/usr/bin/env bash
# The exposure index updated after an append against a full rebuild
# (issue 20 part 3, ADR 0021).
#
#   benches/screen_update.sh SIZE [BLOCKS] [PARTS]     # e.g. 10000000 10 1
#
# 1. Builds a store of the first SIZE events of a generated world in PARTS
#    appends (as benches/watch.sh does) and imports the world's labels.
# 2. The rebuild: `chaintrace screen` of 100 labelled addresses with no
#    index on disk (a full sweep of every event, the index written and
#    opened), twice; the faster counts.
# 3. BLOCKS times: the world's next BLOCK events (about one block) appended
#    with `chaintrace ingest`, then `chaintrace screen` again, which finds
#    the older generation's index and updates it (the sweep taken up over the
#    new events, a delta written). Its phases come from CHAINTRACE_TIMING:
#    `open` (the older index opened and checked, which a process holding it,
#    as `serve` does, skips), `take up` (the touched addresses' records laid
#    back), `sweep` (the new events), `write` (the delta: the rows of every
#    address touched since the base, and the slots of every address new
#    since it; or a fold into a new base once those rows pass a 64th of the
#    base's addresses).
# 4. One block more, folded (CHAINTRACE_INDEX_FOLD_AT=0): the index rewritten
#    whole, what an update costs once every base/64 touched addresses.
# Prints each block's update and its phases, the medians, and the ratios to
# the rebuild: the whole update (a fresh process) and the update without
# `open` (a process that holds the index); and the fold. Peak RSS of each
# screen run.
# What it leaves out: the store's own open and the answers (the same in
# both), and the append itself (benches/append.sh). Results:
# benches/RESULTS.md.
set -euo pipefail
SIZE=${1:?usage: benches/screen_update.sh SIZE [BLOCKS] [PARTS]}
BLOCKS=${2:-10}
PARTS=${3:-1}
BLOCK=${BLOCK:-400}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
WORK=$TARGET/tmp/screen-update-$SIZE
rm -rf "$WORK"
mkdir -p "$WORK"
cd "$ROOT"
. "$ROOT/benches/common/bins.sh"
. "$ROOT/benches/common/world.sh"

echo "== a store of $SIZE events in $PARTS part(s)" >&2
build_store
grep '^0x' "$WORK/labels.csv" | cut -d, -f1 | head -100 > "$WORK/addresses.txt"
EVENTS=$("$CT" stats --store "$S" --format json | python3 -c 'import json, sys; print(json.load(sys.stdin)["events"])')
echo "   $EVENTS events" >&2

# screen: runs `chaintrace screen` with phase timings; prints "SECONDS PEAK_KIB" and keeps stderr in $WORK/screen.err.
screen() {
    CHAINTRACE_TIMING=1 /usr/bin/time -f 'peak %M' "$CT" screen --store "$S" "$WORK/addresses.txt" > /dev/null 2> "$WORK/screen.err"
    local secs peak
    secs=$(sed -nE 's/^(built|updated) the exposure index of .* in ([0-9.]+)s$/\2/p' "$WORK/screen.err")
    peak=$(sed -nE 's/^peak ([0-9]+)$/\1/p' "$WORK/screen.err")
    echo "$secs $peak"
}
# at PHASE: when the phase ended (seconds since the first phase), from $WORK/screen.err.
at() { sed -nE "s/^timing: exposure index: $1 done at ([0-9.]+)s.*/\1/p" "$WORK/screen.err" | tail -1; }

echo "== the rebuild (a full sweep), twice" >&2
best=
for r in 1 2; do
    rm -rf "$S/exposure"
    read -r secs peak <<< "$(screen)"
    grep -q "^built the exposure index" "$WORK/screen.err" || { echo "not built:" >&2; cat "$WORK/screen.err" >&2; exit 1; }
    printf '   rebuild %d: %.3f s, peak %d MiB\n' "$r" "$secs" $((peak / 1024)) >&2
    if [ -z "$best" ] || awk -v a="$secs" -v b="$best" 'BEGIN { exit !(a < b) }'; then best=$secs; fi
done
echo "   index: $(du -sh "$S/exposure" | cut -f1)" >&2

echo "== $BLOCKS blocks of $BLOCK events, each appended, then the index updated" >&2
printf '   %-5s %9s %8s %8s %8s %8s %8s %9s %s\n' block update_s open_s takeup_s sweep_s write_s peak_MiB delta_KiB how >&2
: > "$WORK/updates.tsv"
for ((j = 0; j < BLOCKS; j++)); do
    rm -rf "$WORK/data"
    gen $((SIZE + j * BLOCK)) $((SIZE + (j + 1) * BLOCK))
    load
    read -r secs peak <<< "$(screen)"
    how=$(sed -nE 's/^(built|updated) the exposure index.*/\1/p' "$WORK/screen.err")
    [ "$how" = updated ] || { echo "block $j: the index was $how, not updated:" >&2; cat "$WORK/screen.err" >&2; exit 1; }
    t0=$(at "none for this generation"); t1=$(at "an older generation's opened"); t2=$(at "records taken up"); t3=$(at "new events swept")
    t4=$(at "delta written"); written=delta
    [ -n "$t4" ] || { t4=$(at "folded into a new base"); written=fold; }
    delta=$(find "$S/exposure" -name '*.delta' -printf '%s\n' | head -1)
    row=$(awk -v a="$t0" -v b="$t1" -v c="$t2" -v d="$t3" -v e="$t4" 'BEGIN { printf "%.4f\t%.4f\t%.4f\t%.4f\t%.4f", e - a, b - a, c - b, d - c, e - d }')
    printf '%d\t%s\t%d\t%d\t%s\n' "$j" "$row" $((peak / 1024)) $(( ${delta:-0} / 1024 )) "$written" >> "$WORK/updates.tsv"
    printf '   %-5d %9.4f %8.4f %8.4f %8.4f %8.4f %8d %9d %s\n' "$j" $(echo "$row" | tr '\t' ' ') $((peak / 1024)) $(( ${delta:-0} / 1024 )) "$written" >&2
done
# One more block folded (CHAINTRACE_INDEX_FOLD_AT=0): what a fold costs, once every base/64 rows.
rm -rf "$WORK/data"
gen $((SIZE + BLOCKS * BLOCK)) $((SIZE + (BLOCKS + 1) * BLOCK))
load
export CHAINTRACE_INDEX_FOLD_AT=0
read -r secs peak <<< "$(screen)"
unset CHAINTRACE_INDEX_FOLD_AT
t0=$(at "none for this generation"); t4=$(at "folded into a new base")
[ -n "$t4" ] || { echo "the last block was not folded:" >&2; cat "$WORK/screen.err" >&2; exit 1; }
fold=$(awk -v a="$t0" -v e="$t4" 'BEGIN { printf "%.4f", e - a }')
printf '   fold  %9.4f s (the index rewritten whole), peak %d MiB\n' "$fold" $((peak / 1024)) >&2
median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
m=$(cut -f2 "$WORK/updates.tsv" | median)
mx=$(cut -f2 "$WORK/updates.tsv" | sort -g | tail -1)
mw=$(awk -F'\t' '{ print $2 - $3 }' "$WORK/updates.tsv" | median)
awk -v r="$best" -v m="$m" -v mx="$mx" -v mw="$mw" -v f="$fold" 'BEGIN {
    printf "== rebuild %.3f s; update median %.4f s (%.2f%% of the rebuild), max %.4f s; without opening the index (a process holding it) median %.4f s (%.2f%%); a fold %.3f s (%.1f%%)\n", r, m, 100 * m / r, mx, mw, 100 * mw / r, f, 100 * f / r }' >&2
rm -rf "$WORK/data"
