#!/usr/bin/env bash
# `trace --follow swaps` across processes (issue 17; TRACING.md §7): the
# generated world written as blockchain-etl CSV (`chaintrace-gen world`,
# seed 7: its DEX swaps and the hack's own are conversions) and ingested,
# traced from its exploiter into the assets bought, exchanges and the mixer
# absorbing, by every policy: by the single-process engine in full
# (`--engine full`, which writes the store's §7 ledger), by it again over
# the ledger (the sparse sweep; FIFO always sweeps in full), then by
# `--processes P --workers 1` over loopback for each P given. Each report
# is compared byte for byte with the single-process one (the run fails if
# one differs). Prints, per run:
#   - sweep seconds (process 0's `timing:` line) and wall seconds;
#   - store events per second per core (events in the store / sweep / P)
#     and visited events per second per core (the events each sweep
#     handled, summed over workers, repeats included);
#   - what crossed between processes: messages and bytes (as serialised)
#     per store event;
#   - segment rounds, and the handlings run again by later rounds;
#   - peak memory: the largest resident set of any one process of the run
#     (GNU time's %M covers the children it waited for), store pages
#     mapped in included;
#   - the busiest worker's seconds inside its segment rounds: the rest of
#     the sweep went to waiting for arrivals and progress from the others.
# Leaves out: writing and ingesting the CSV, and the first read of the
# store from disk (run twice to see a warm cache).
#
#   bash benches/follow_processes.sh [EVENTS=1000000] [PROCESSES="2 4"]
set -euo pipefail
events=${1:-1000000}
procs=${2:-"2 4"}
: "${CARGO_TARGET_DIR:=$HOME/.cache/chaintrace-target}"
bin="${BIN_DIR:-$CARGO_TARGET_DIR/release}"
[ -x "$bin/chaintrace" ] || cargo build --release --locked --bins
dir="$CARGO_TARGET_DIR/tmp/follow-processes-$events"
rm -rf "$dir"
mkdir -p "$dir"
"$bin/chaintrace-gen" world --events "$events" --seed 7 --out "$dir/csv" > "$dir/gen.out" 2> /dev/null
seed=$(tail -1 "$dir/gen.out")
"$bin/chaintrace" ingest --store "$dir/world" --chain ethereum --format etl --no-progress \
  "$dir"/csv/{transactions,traces,token_transfers,logs}.csv > /dev/null 2>&1
"$bin/chaintrace" labels --store "$dir/world" import "$dir/csv/labels.csv" > /dev/null 2>&1
rm -rf "$dir/csv"
timed() { # timed OUT ERR ARGS...: run with timing on; GNU time's figures go to ERR's last line
  local out=$1 err=$2
  shift 2
  CHAINTRACE_TIMING=1 /usr/bin/time -f "time %e %M" "$@" > "$out" 2> "$err"
}
field() { sed -n "s/.*$1.*/\\1/p" "$2" | head -1; }
printf '%-8s %-6s %8s %8s %14s %14s %10s %9s %8s %10s %9s %7s\n' policy run sweep_s wall_s events/s/core visited/s/core messages B/event rounds again peak_MiB busy_s
for policy in poison haircut fifo; do
  args=(trace --store "$dir/world" --policy "$policy" --seed "$seed" --stop-at exchange,mixer --follow swaps --format json)
  for run in full sparse $procs; do
    n=1
    case $run in
      full) timed "$dir/one.json" "$dir/$run.err" "$bin/chaintrace" "${args[@]}" --engine full ;;
      sparse) timed "$dir/$run.json" "$dir/$run.err" "$bin/chaintrace" "${args[@]}" ;;
      *)
        n=$run
        timed "$dir/$run.json" "$dir/$run.err" "$bin/chaintrace" "${args[@]}" --processes "$run" --workers 1
        ;;
    esac
    [ "$run" = full ] || cmp -s "$dir/one.json" "$dir/$run.json" || { echo "$policy: the report of run $run differs from one process's" >&2; exit 1; }
    err="$dir/$run.err"
    read -r _ wall kb < <(tail -1 "$err")
    python3 - "$policy" "$run" "$n" "$wall" "$kb" \
      "$(field 'sweep of \([0-9]*\) events' "$err")" "$(field 'sweep of [0-9]* events in \([0-9.]*\)s' "$err")" \
      "$(field ', \([0-9]*\) events visited' "$err")" "$(field 'across workers \([0-9]*\) messages' "$err")" \
      "$(field ' messages, \([0-9]*\) bytes' "$err")" "$(field 'exchanged, \([0-9]*\) segment rounds' "$err")" \
      "$(field 'rounds, \([0-9]*\) visits repeated' "$err")" "$(field 'busiest worker \([0-9.]*\)s in rounds' "$err")" <<'PY'
import sys
policy, run, n, wall, kb, events, sweep, visited, messages, byts, rounds, again, busy = sys.argv[1:]
n, events, sweep, visited = int(n), int(events), float(sweep), int(visited)
messages, byts = int(messages or 0), int(byts or 0)
print(f"{policy:<8} {run:<6} {sweep:8.3f} {float(wall):8.2f} {events / sweep / n:14,.0f} {visited / sweep / n:14,.0f} "
      f"{messages:10,} {byts / events:9.2f} {rounds or '-':>8} {again or '-':>10} {int(kb) / 1024:9.0f} {busy or '-':>7}")
PY
  done
done
