#!/usr/bin/env bash
# SIGKILL at random moments of every store write (issue 19):
#
#   tests/crash/run.sh [POINTS] [EVENTS] [SEED]
#
# Operations: an ingest into a new store, an append, a label import, an
# exposure index build (`screen`), an exposure index update (`screen` after
# an append: a delta over the older base), a compaction. Each is run once
# uninterrupted on a copy of its store to record the state after it
# (tests/crash/state.py: CURRENT, the live manifest, its segments, the
# exposure indexes). Then POINTS times (default 100) a copy of the store
# before is given to it, and it is killed with SIGKILL after a random delay
# between 0 and 1.2 times its uninterrupted duration. The store left must
# be exactly the state before or the state after, and must open and verify
# every column (`chaintrace stats`, its VERIFIED stamp removed first). Left
# in the state before, the operation runs again to its end and must leave
# exactly the state after and no debris.
#
# The data is a generated world of EVENTS events (default 200,000) in two
# parts; SEED (default: the shell's) fixes the delays. Prints a line per
# operation and fails on any other state. tests/store_safety.rs kills the
# same writers at each named point in their code; this kills them wherever
# the clock says.
set -euo pipefail
POINTS=${1:-100}
EVENTS=${2:-200000}
[ -n "${3:-}" ] && RANDOM=$3
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
export CARGO_TARGET_DIR=$TARGET
cd "$ROOT"
cargo build --release --locked --bins -q
CT=$TARGET/release/chaintrace
STATE="python3 $ROOT/tests/crash/state.py"
WORK=$TARGET/tmp/crash-$EVENTS
rm -rf "$WORK"
mkdir -p "$WORK"
trap 'umount "$WORK/mnt" 2> /dev/null || true; rm -rf "$WORK"' EXIT
for k in 0 1; do
    "$TARGET/release/chaintrace-gen" world --events "$EVENTS" --seed 7 --part "$k/2" --out "$WORK/part$k" > "$WORK/seed.txt" 2> /dev/null
done
head -200 "$WORK/part0/labels.csv" | cut -d, -f1 | grep '^0x' > "$WORK/addresses.txt"

op_ingest() { "$CT" ingest --store "$1" --chain ethereum --format etl "$WORK"/part0/{transactions,traces,token_transfers,logs}.csv; }
op_append() { "$CT" ingest --store "$1" --chain ethereum --format etl "$WORK"/part1/{transactions,traces,token_transfers,logs}.csv; }
op_labels() { "$CT" labels --store "$1" import "$WORK/part0/labels.csv"; }
op_index() { "$CT" screen --store "$1" "$WORK/addresses.txt"; }
op_compact() { "$CT" compact --store "$1"; }

# The stores before each operation, each the one after the last.
mkdir -p "$WORK/before"
op_ingest "$WORK/before/append" > /dev/null 2>&1
cp -a "$WORK/before/append" "$WORK/before/labels"
op_append "$WORK/before/labels" > /dev/null 2>&1
cp -a "$WORK/before/labels" "$WORK/before/index"
op_labels "$WORK/before/index" > /dev/null 2>&1
cp -a "$WORK/before/index" "$WORK/before/compact"
# An index built before the append: `screen` then updates it.
op_ingest "$WORK/before/update" > /dev/null 2>&1
op_labels "$WORK/before/update" > /dev/null 2>&1
op_index "$WORK/before/update" > /dev/null 2>&1
op_append "$WORK/before/update" > /dev/null 2>&1
op_update() { "$CT" screen --store "$1" "$WORK/addresses.txt"; }
cp -a "$WORK/before/update" "$WORK/check"
op_update "$WORK/check" 2>&1 > /dev/null | grep -q "updated the exposure index" || { echo "FAILED: screen after an append did not update the index"; exit 1; }
rm -rf "$WORK/check"

# given OP DIR: DIR made the store before OP (none before an ingest).
given() {
    rm -rf "$2"
    if [ "$1" != ingest ]; then cp -a "$WORK/before/$1" "$2"; fi
}

FAILED=0
printf '%-8s %6s %6s %6s %6s %8s %8s\n' op kills before after ended debris run_s
for op in ingest append labels index update compact; do
    s="$WORK/store"
    given "$op" "$s"
    want_before=$($STATE "$s" | cut -d' ' -f1)
    t0=$(date +%s.%N)
    "op_$op" "$s" > /dev/null 2>&1
    t1=$(date +%s.%N)
    secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
    want_after=$($STATE "$s" | cut -d' ' -f1)
    [ "$want_before" != "$want_after" ] || { echo "FAILED: $op changed nothing"; exit 1; }
    nb=0 na=0 ended=0 debris=0
    for ((k = 0; k < POINTS; k++)); do
        given "$op" "$s"
        delay=$(awk -v r=$((RANDOM * 32768 + RANDOM)) -v t="$secs" 'BEGIN { printf "%.4f", 0.001 + r / 1073741824 * t * 1.2 }')
        rc=0
        { timeout -s KILL "$delay" bash -c "$(declare -f "op_$op"); CT='$CT' WORK='$WORK' op_$op '$s'" > /dev/null 2>&1; } 2> /dev/null || rc=$?
        [ "$rc" = 0 ] && ended=$((ended + 1))
        read -r got extra <<< "$($STATE "$s")"
        [ "${extra:-debris=0}" != debris=0 ] && debris=$((debris + 1))
        if [ "$got" != none ]; then
            rm -f "$s/VERIFIED"
            if ! "$CT" stats --store "$s" > /dev/null 2> "$WORK/stats.err"; then
                echo "FAILED: $op killed after ${delay}s (exit $rc): the store does not open: $(cat "$WORK/stats.err")"
                FAILED=1
                continue
            fi
        fi
        if [ "$got" = "$want_after" ]; then
            na=$((na + 1))
        elif [ "$got" = "$want_before" ] || { [ "$op" = ingest ] && [ "$got" = none ]; }; then
            nb=$((nb + 1))
            # The next run of the operation finishes what the killed one began.
            if ! "op_$op" "$s" > /dev/null 2> "$WORK/op.err"; then
                echo "FAILED: $op killed after ${delay}s: running it again fails: $(cat "$WORK/op.err")"
                FAILED=1
            elif [ "$($STATE "$s")" != "$want_after debris=0" ]; then
                echo "FAILED: $op killed after ${delay}s, then run again: $($STATE "$s"), not $want_after with no debris"
                FAILED=1
            fi
        else
            echo "FAILED: $op killed after ${delay}s (exit $rc) left neither the state before nor after: $got"
            FAILED=1
        fi
    done
    printf '%-8s %6d %6d %6d %6d %8d %8s\n' "$op" "$POINTS" "$nb" "$na" "$ended" "$debris" "$secs"
done
[ "$FAILED" = 0 ] || { echo "FAILED: a killed write left a store it should not"; exit 1; }

# Faults other than a kill: each must give a clear error, a non-zero exit
# and the state before, and the store must still open.
# expect NAME WANT_STATE MESSAGE CMD...: CMD fails, says MESSAGE, and leaves WANT_STATE in $s.
expect() {
    local name=$1 want=$2 message=$3
    shift 3
    local rc=0
    "$@" > /dev/null 2> "$WORK/fault.err" || rc=$?
    local got
    got=$($STATE "$s" | cut -d' ' -f1)
    if [ "$rc" = 0 ] || ! grep -q "$message" "$WORK/fault.err" || [ "$got" != "$want" ]; then
        echo "FAILED: $name: exit $rc, state $got (want $want), said: $(head -c 300 "$WORK/fault.err")"
        FAILED=1
        return
    fi
    if [ "$want" != none ]; then
        rm -f "$s/VERIFIED" 2> /dev/null || true
        "$CT" stats --store "$s" > /dev/null 2>&1 || { echo "FAILED: $name: the store does not open after"; FAILED=1; return; }
    fi
    printf '  %-44s exit %d: %s\n' "$name" "$rc" "$(grep -m1 -o "$message.*" "$WORK/fault.err" | head -c 90)"
}
echo "faults:"
s="$WORK/store"
given append "$s"
append_before=$($STATE "$s" | cut -d' ' -f1)
# Two writers at once: the first holds the lock, waiting inside its write.
CHAINTRACE_CRASH_AT=generation-columns:wait "$CT" ingest --store "$s" --chain ethereum --format etl \
    "$WORK"/part1/{transactions,traces,token_transfers,logs}.csv > /dev/null 2> "$WORK/first.err" &
first=$!
for _ in $(seq 1 200); do grep -q "crash point" "$WORK/first.err" 2> /dev/null && break; sleep 0.05; done
grep -q "crash point" "$WORK/first.err" || { echo "FAILED: the first writer never reached its write"; exit 1; }
expect "a second writer while one writes" "$append_before" "another chaintrace process is writing this store" op_append "$s"
{
    kill -9 "$first"
    wait "$first"
} 2> /dev/null || true
# A disk that fills mid-write, a read-only store, damaged columns: on a
# small filesystem of their own (tmpfs, which needs root to mount).
MNT=$WORK/mnt
mkdir -p "$MNT"
if mount -t tmpfs -o size=1m tmpfs "$MNT" 2> /dev/null; then
    umount "$MNT"
    kib=$(du -sk "$WORK/before/append" | cut -f1)
    mount -t tmpfs -o size=$((kib + 1024))k tmpfs "$MNT"
    s=$MNT/store
    cp -a "$WORK/before/append" "$s"
    expect "an append onto a disk that fills" "$append_before" "No space left on device" op_append "$s"
    rm -rf "$s"
    umount "$MNT"
    mount -t tmpfs -o size=1m tmpfs "$MNT"
    expect "an ingest onto a disk that fills" none "No space left on device" op_ingest "$s"
    umount "$MNT"
    mount -t tmpfs -o size=$((kib * 3))k tmpfs "$MNT"
    cp -a "$WORK/before/index" "$s"
    index_before=$($STATE "$s" | cut -d' ' -f1)
    "$CT" stats --store "$s" > /dev/null 2>&1
    mount -o remount,ro "$MNT"
    if "$CT" stats --store "$s" > /dev/null 2>&1 && "$CT" trace --store "$s" --policy haircut --seed "$(cat "$WORK/seed.txt")" --stop-at exchange > /dev/null 2>&1; then
        echo "  a read-only store is read (stats, trace)"
    else
        echo "FAILED: a read-only store cannot be read"
        FAILED=1
    fi
    expect "a label import into a read-only store" "$index_before" "Read-only file system" op_labels "$s"
    umount "$MNT"
else
    echo "  (not root: the disk-full and read-only cases need a tmpfs of their own; skipped)"
fi
# A column file one byte short, and one bit flipped, in a copy of the store.
s=$WORK/store
given index "$s"
seg=$(ls -S "$s"/seg-*.seg | head -1)
truncate -s -1 "$seg"
rm -f "$s/VERIFIED"
rc=0
"$CT" stats --store "$s" > /dev/null 2> "$WORK/fault.err" || rc=$?
[ "$rc" = 2 ] && grep -q "$(basename "$seg")" "$WORK/fault.err" && echo "  a segment one byte short: exit 2, $(head -c 100 "$WORK/fault.err")" ||
    { echo "FAILED: a truncated segment: exit $rc, $(cat "$WORK/fault.err")"; FAILED=1; }
given index "$s"
seg=$(ls -S "$s"/seg-*.seg | head -1)
python3 - "$seg" <<'PY'
import os, sys
p = sys.argv[1]
with open(p, "r+b") as f:
    f.seek(os.path.getsize(p) // 2)
    b = f.read(1)
    f.seek(-1, 1)
    f.write(bytes([b[0] ^ 1]))
PY
rm -f "$s/VERIFIED"
rc=0
"$CT" stats --store "$s" > /dev/null 2> "$WORK/fault.err" || rc=$?
[ "$rc" = 2 ] && grep -q "checksum mismatch" "$WORK/fault.err" && echo "  a bit flipped inside a segment: exit 2, $(head -c 100 "$WORK/fault.err")" ||
    { echo "FAILED: a flipped bit: exit $rc, $(cat "$WORK/fault.err")"; FAILED=1; }
[ "$FAILED" = 0 ] || { echo "FAILED: a fault was not met with a clear error and the state before"; exit 1; }
