#!/usr/bin/env bash
# Traces across processes (issue 17, "How it is measured"): the generated
# world (`chaintrace-gen world-store`, seed 7) traced from its exploiter,
# exchanges and the mixer absorbing, by every policy: once by the
# single-process engine, then by `--processes P --workers 1` over loopback
# for each P given. Each report is compared byte for byte with the
# single-process one (the run fails if one differs). Prints, per run:
#   - sweep seconds (process 0's `timing:` line) and wall seconds;
#   - store events per second per core (events in the store / sweep / P)
#     and visited events per second per core (the events each sweep ran,
#     summed over workers);
#   - what crossed between processes: messages, bytes (as serialised) per
#     store event and per visited event;
#   - segment rounds, events scanned (every worker scans every segment
#     once taint can reach it, repeats included) and visits repeated by
#     the within-segment fixed point;
#   - peak memory: the largest resident set of any one process of the run
#     (GNU time's %M covers the children it waited for), store pages
#     mapped in included; and the largest heap of one process (RssAnon
#     read by each worker at the end of its sweep, state live; "-" for
#     the single-process run, whose timing line gives its heap);
#   - the busiest worker's seconds inside its segment rounds (scans and
#     events): the rest of the sweep went to waiting for arrivals and
#     progress from the other processes.
# Then the same on a synthetic Bitcoin chain (`chaintrace-gen utxo`, as
# many inputs as EVENTS / 4) traced from two wallets' addresses, exchanges
# labelled on two more (the UTXO sweep: every transaction is run, so
# "visited" is not printed for it).
# Then the exposure index (screening, TRACING.md §4: every default
# category's haircut sweep in one pass) of the world store and of the
# Bitcoin chain (a wallet labelled `hack`) built by one
# process and by P processes, the answer compared byte for byte and the
# index file in every section answers read (benches/common/same_index.py:
# the sweep across processes keeps no end state for updates): build seconds, store events per second per core, and the same
# exchange figures.
# Leaves out: building the stores, and the first read of them from disk
# (run twice to see a warm cache).
#
#   bash benches/processes.sh [EVENTS=10000000] [PROCESSES="1 2 4"]
set -euo pipefail
events=${1:-10000000}
procs=${2:-"1 2 4"}
: "${CARGO_TARGET_DIR:=$HOME/.cache/chaintrace-target}"
bin="${BIN_DIR:-$CARGO_TARGET_DIR/release}"
[ -x "$bin/chaintrace" ] || cargo build --release --locked --bins
dir="$CARGO_TARGET_DIR/tmp/processes-$events"
rm -rf "$dir"
mkdir -p "$dir"
seed=$("$bin/chaintrace-gen" world-store --events "$events" --seed 7 --store "$dir/world" 2> /dev/null)
"$bin/chaintrace-gen" utxo --inputs $((events / 4)) --seed 7 --store "$dir/btc" > /dev/null 2>&1
printf 'address,category,name\nw3a0,exchange,Exchange A\nw5a0,exchange,Exchange B\nw1a0,hack,Hacker\n' > "$dir/btc-labels.csv"
"$bin/chaintrace" labels --store "$dir/btc" import "$dir/btc-labels.csv" > /dev/null 2>&1
timed() { # timed OUT ERR ARGS...: run with timing on; GNU time's figures go to ERR's last line
  local out=$1 err=$2
  shift 2
  CHAINTRACE_TIMING=1 /usr/bin/time -f "time %e %M" "$@" > "$out" 2> "$err"
}
field() { sed -n "s/.*$1.*/\\1/p" "$2" | head -1; }
exchanged() { # exchanged ERR: what crossed between processes (timing lines), wall seconds and peak KiB
  messages=$(field 'across workers \([0-9]*\) messages' "$1")
  bytes=$(field ' messages, \([0-9]*\) bytes' "$1")
  rounds=$(field 'exchanged, \([0-9]*\) segment rounds' "$1")
  repeated=$(field 'rounds, \([0-9]*\) visits repeated' "$1")
  scanned=$(field 'repeated, \([0-9]*\) events scanned' "$1")
  heap=$(field 'largest process heap \([0-9]*\) MiB' "$1")
  busy=$(field 'busiest worker \([0-9.]*\)s in rounds' "$1")
  read -r _ wall kb < <(tail -1 "$1")
}
printf '%-11s %-6s %8s %8s %14s %14s %10s %9s %9s %8s %12s %12s %9s %8s %7s\n' policy run sweep_s wall_s events/s/core visited/s/core messages B/event B/visited rounds scanned repeated peak_MiB heap_MiB busy_s
for run in poison haircut fifo btc-poison btc-haircut btc-fifo; do
  policy=${run#btc-}
  if [ "$run" = "$policy" ]; then
    args=(trace --store "$dir/world" --policy "$policy" --seed "$seed" --stop-at exchange,mixer --format json)
  else
    args=(trace --store "$dir/btc" --policy "$policy" --seed w1a0 --seed w2a0 --stop-at exchange --format json)
  fi
  timed "$dir/one.json" "$dir/one.err" "$bin/chaintrace" "${args[@]}"
  for p in single $procs; do
    if [ "$p" = single ]; then
      err="$dir/one.err"
      n=1
    else
      err="$dir/p$p.err"
      n=$p
      timed "$dir/p$p.json" "$err" "$bin/chaintrace" "${args[@]}" --processes "$p" --workers 1
      cmp -s "$dir/one.json" "$dir/p$p.json" || { echo "$run: the report of $p processes differs from one process's" >&2; exit 1; }
    fi
    [ "$run$p" = poisonsingle ] && world_events=$(field 'sweep of \([0-9]*\) events' "$err")
    [ "$run$p" = btc-poisonsingle ] && btc_events=$(field 'sweep of \([0-9]*\) events' "$err")
    sweep=$(field 'sweep of [0-9]* events in \([0-9.]*\)s' "$err")
    stored=$(field 'sweep of \([0-9]*\) events' "$err")
    visited=$(field ', \([0-9]*\) events visited' "$err")
    exchanged "$err"
    [ "$p" = single ] && heap=$(field 'heap at the end of the sweep \([0-9]*\) MiB' "$err")
    python3 - "$run" "$p" "$n" "$stored" "$sweep" "$wall" "$visited" "${messages:-0}" "${bytes:-0}" "${rounds:--}" "${scanned:--}" "${repeated:--}" "$kb" "${heap:--}" "${busy:--}" <<'PY'
import sys
policy, p, n, events, sweep, wall, visited, messages, byts, rounds, scanned, repeated, kb, heap, busy = sys.argv[1:]
n, events, sweep, visited, messages, byts = int(n), int(events), float(sweep), int(visited), int(messages), int(byts)
print(f"{policy:<11} {p:<6} {sweep:8.3f} {float(wall):8.2f} {events / sweep / n:14,.0f} {visited / sweep / n:14,.0f} "
      f"{messages:10,} {byts / events:9.2f} {byts / max(visited, 1):9.2f} {rounds:>8} {scanned:>12} {repeated:>12} {int(kb) / 1024:9.0f} {heap:>8} {busy:>7}")
PY
  done
done
printf '%s\n0x1111111111111111111111111111111111111111\n' "$seed" > "$dir/world-screen.txt"
printf '1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa\n' > "$dir/btc-screen.txt"
printf '\n%-11s %-6s %8s %8s %14s %10s %9s %8s %12s %12s %9s %8s %7s\n' screening run build_s wall_s events/s/core messages B/event rounds scanned repeated peak_MiB heap_MiB busy_s
for store in world btc; do
  events_here=$world_events
  [ "$store" = btc ] && events_here=$btc_events
  for p in single $procs; do
    rm -rf "$dir/$store/exposure"
    args=(screen --store "$dir/$store" --format json "$dir/$store-screen.txt")
    if [ "$p" = single ]; then
      n=1
      timed "$dir/s1.json" "$dir/s.err" "$bin/chaintrace" "${args[@]}"
      cp "$dir/$store"/exposure/* "$dir/index-one"
    else
      n=$p
      timed "$dir/s$p.json" "$dir/s.err" "$bin/chaintrace" "${args[@]}" --processes "$p" --workers 1
      cmp -s "$dir/s1.json" "$dir/s$p.json" || { echo "screening $store: the answer of $p processes differs from one process's" >&2; exit 1; }
      python3 "$(dirname "$0")/common/same_index.py" "$dir/index-one" "$dir/$store"/exposure/* || { echo "screening $store: the index of $p processes differs from one process's" >&2; exit 1; }
    fi
    err="$dir/s.err"
    build=$(field 'built the exposure index of [^ ]* in \([0-9.]*\)s' "$err")
    exchanged "$err"
    python3 - "$store-index" "$p" "$n" "$events_here" "$build" "$wall" "${messages:-0}" "${bytes:-0}" "${rounds:--}" "${scanned:--}" "${repeated:--}" "$kb" "${heap:--}" "${busy:--}" <<'PY'
import sys
what, p, n, events, build, wall, messages, byts, rounds, scanned, repeated, kb, heap, busy = sys.argv[1:]
n, events, build, messages, byts = int(n), int(events), float(build), int(messages), int(byts)
print(f"{what:<11} {p:<6} {build:8.3f} {float(wall):8.2f} {events / build / n:14,.0f} {messages:10,} {byts / events:9.2f} "
      f"{rounds:>8} {scanned:>12} {repeated:>12} {int(kb) / 1024:9.0f} {heap:>8} {busy:>7}")
PY
  done
done
