#!/usr/bin/env bash
# Two builds' sweeps across processes side by side (issue 17): is a change
# to the dataflow sweeps faster than what it replaces? The generated world
# (`chaintrace-gen world-store`, seed 7, written once with NEW's generator)
# traced from its exploiter, exchanges and the mixer absorbing, by every
# policy, with `--processes P --workers 1` over the whole store, OLD and
# NEW alternately ROUNDS times so that the machine's noise falls on both
# alike. Prints, per run: the sweep's seconds (process 0's timing line)
# and the busiest worker's seconds inside its segment rounds; every
# report is compared byte for byte with NEW's single-process one (the run
# fails if one differs).
# Leaves out: building the store, and its first read from disk.
#
#   bash benches/processes_ab.sh OLD_BIN_DIR NEW_BIN_DIR [EVENTS=10000000] [PROCESSES="1 2"] [ROUNDS=3]
set -euo pipefail
old=${1:?usage: benches/processes_ab.sh OLD_BIN_DIR NEW_BIN_DIR [EVENTS] [PROCESSES] [ROUNDS]}
new=${2:?usage: benches/processes_ab.sh OLD_BIN_DIR NEW_BIN_DIR [EVENTS] [PROCESSES] [ROUNDS]}
events=${3:-10000000}
procs=${4:-"1 2"}
rounds=${5:-3}
root=$(cd "$(dirname "$0")/.." && pwd)
dir="${CARGO_TARGET_DIR:-$root/target}/tmp/processes-ab-$events"
rm -rf "$dir"
mkdir -p "$dir"
seed=$("$new/chaintrace-gen" world-store --events "$events" --seed 7 --store "$dir/world" 2> /dev/null)
args=(trace --store "$dir/world" --seed "$seed" --stop-at exchange,mixer --format json)
printf '%-8s %-4s %-3s %-5s %9s %9s\n' policy P run build sweep_s busy_s
for policy in poison haircut fifo; do
  "$new/chaintrace" "${args[@]}" --policy "$policy" > "$dir/one.json" 2> /dev/null
  for p in $procs; do
    for r in $(seq "$rounds"); do
      for build in old new; do
        bin=$old
        [ "$build" = new ] && bin=$new
        CHAINTRACE_TIMING=1 "$bin/chaintrace" "${args[@]}" --policy "$policy" --processes "$p" --workers 1 > "$dir/got.json" 2> "$dir/got.err"
        cmp -s "$dir/got.json" "$dir/one.json" || { echo "$build, $policy, $p processes: another report than one process's" >&2; exit 1; }
        sweep=$(sed -n 's/.*sweep of [0-9]* events in \([0-9.]*\)s.*/\1/p' "$dir/got.err" | head -1)
        busy=$(sed -n 's/.*busiest worker \([0-9.]*\)s in rounds.*/\1/p' "$dir/got.err" | head -1)
        printf '%-8s %-4s %-3s %-5s %9s %9s\n' "$policy" "$p" "$r" "$build" "$sweep" "${busy:--}"
      done
    done
  done
done
