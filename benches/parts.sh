#!/usr/bin/env bash
# Traces from a store's parts (issue 17, "Memory per process"): the
# generated world (`chaintrace-gen world-store`, seed 7) cut by
# `chaintrace partition` into one part per process, then traced from its
# exploiter (exchanges and the mixer absorbing) by each policy, with P
# processes started one by one as on P hosts (`--process I --hosts FILE`,
# loopback ports), each under GNU time:
#   - whole: every process reads the whole store;
#   - parts: process I reads DIR/part-I alone (`--parts DIR`), and is
#     given its part as `--store` too, as a host that holds only its part
#     would be; process 0 among them (the evidence paths are walked where
#     the events are, so its report needs no other events).
# Every report is compared byte for byte with the single-process one (the
# run fails if one differs). Prints, per run: the sweep's seconds
# (process 0's timing line), the busiest worker's seconds in rounds, and
# each process's peak resident set (store pages mapped in included) and
# heap at the end of its sweep (RssAnon, largest process), against the
# single process's; then the parts' events and bytes on disk.
# Leaves out: building the store, cutting it (timed apart), and the first
# read of it from disk (run twice to see a warm cache).
#
#   bash benches/parts.sh [EVENTS=10000000] [PROCESSES="2 4"] [POLICIES="poison haircut fifo"]
set -euo pipefail
events=${1:-10000000}
procs=${2:-"2 4"}
policies=${3:-"poison haircut fifo"}
: "${CARGO_TARGET_DIR:=$HOME/.cache/chaintrace-target}"
bin="${BIN_DIR:-$CARGO_TARGET_DIR/release}"
[ -x "$bin/chaintrace" ] || cargo build --release --locked --bins
dir="$CARGO_TARGET_DIR/tmp/parts-$events"
rm -rf "$dir"
mkdir -p "$dir"
seed=$("$bin/chaintrace-gen" world-store --events "$events" --seed 7 --store "$dir/world" 2> /dev/null)
field() { sed -n "s/.*$1.*/\\1/p" "$2" | head -1; }
mib() { echo $(($(tail -1 "$1" | awk '{print $3}') / 1024)); }
for p in $procs; do
  /usr/bin/time -f "time %e %M" "$bin/chaintrace" partition --store "$dir/world" --processes "$p" --out "$dir/parts$p" --format json > "$dir/cut$p.json" 2> "$dir/cut$p.err"
  python3 - "$dir" "$p" <<'PY'
import json, os, sys
d, p = sys.argv[1], sys.argv[2]
cut = json.load(open(f"{d}/cut{p}.json"))
t = open(f"{d}/cut{p}.err").read().split()
size = lambda root: sum(os.path.getsize(os.path.join(a, f)) for a, _, fs in os.walk(root) for f in fs)
whole = size(f"{d}/world")
print(f"partition for {p}: {float(t[-2]):.2f} s, peak {int(t[-1]) // 1024} MiB; whole store {whole / 2**20:.0f} MiB on disk")
for i, n in enumerate(cut["part_events"]):
    b = size(f"{d}/parts{p}/part-{i}")
    print(f"  part-{i}: {n:,} events ({100 * n / cut['whole_events']:.1f}%), {b / 2**20:.0f} MiB on disk ({100 * b / whole:.1f}%)")
PY
done
printf '\n%-8s %-7s %8s %8s %10s %s\n' policy run sweep_s busy_s heap_MiB "peak MiB per process (0 first)"
for policy in $policies; do
  args=(trace --policy "$policy" --seed "$seed" --stop-at exchange,mixer --format json)
  CHAINTRACE_TIMING=1 /usr/bin/time -f "time %e %M" "$bin/chaintrace" "${args[@]}" --store "$dir/world" > "$dir/one.json" 2> "$dir/one.err"
  printf '%-8s %-7s %8s %8s %10s %s\n' "$policy" single "$(field 'sweep of [0-9]* events in \([0-9.]*\)s' "$dir/one.err")" - \
    "$(field 'heap at the end of the sweep \([0-9]*\) MiB' "$dir/one.err")" "$(mib "$dir/one.err")"
  for p in $procs; do
    for mode in whole parts; do
      # Free loopback ports, as `--processes P` picks them.
      python3 -c "import socket,sys; ss=[socket.socket() for _ in range(int(sys.argv[1]))]; [x.bind(('127.0.0.1', 0)) for x in ss]; print('\n'.join(f'127.0.0.1:{x.getsockname()[1]}' for x in ss))" "$p" > "$dir/hosts"
      pids=()
      for i in $(seq $((p - 1)) -1 1); do
        store="$dir/world" extra=()
        [ "$mode" = parts ] && store="$dir/parts$p/part-$i" extra=(--parts "$dir/parts$p")
        /usr/bin/time -f "time %e %M" "$bin/chaintrace" "${args[@]}" --store "$store" --processes "$p" --process "$i" --hosts "$dir/hosts" \
          --workers 1 "${extra[@]}" > /dev/null 2> "$dir/p$i.err" &
        pids+=($!)
      done
      store="$dir/world" extra=()
      [ "$mode" = parts ] && store="$dir/parts$p/part-0" extra=(--parts "$dir/parts$p")
      CHAINTRACE_TIMING=1 /usr/bin/time -f "time %e %M" "$bin/chaintrace" "${args[@]}" --store "$store" --processes "$p" --process 0 \
        --hosts "$dir/hosts" --workers 1 "${extra[@]}" > "$dir/p.json" 2> "$dir/p0.err"
      for pid in "${pids[@]}"; do wait "$pid"; done
      cmp -s "$dir/one.json" "$dir/p.json" || { echo "$policy: the report of $p processes ($mode) differs from one process's" >&2; exit 1; }
      peaks=$(for i in $(seq 0 $((p - 1))); do printf '%s ' "$(mib "$dir/p$i.err")"; done)
      printf '%-8s %-7s %8s %8s %10s %s\n' "$policy" "$p-$mode" "$(field 'sweep of [0-9]* events in \([0-9.]*\)s' "$dir/p0.err")" \
        "$(field 'busiest worker \([0-9.]*\)s in rounds' "$dir/p0.err")" "$(field 'largest process heap \([0-9]*\) MiB' "$dir/p0.err")" "$peaks"
    done
  done
done
