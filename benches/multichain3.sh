#!/usr/bin/env bash
# The generated three-chain world (issue 16, `chaintrace-gen multichain`):
# Ethereum and Base worlds of N events each and a Bitcoin background, with
# the planted laundering of `src/synth/multichain.rs` (a mixer, THORChain to
# Base and to Bitcoin, a swap on Base, a Bitcoin peel chain, a RenBridge
# burn, a deposit never paid out). Ingested with the binary, then, best of
# RUNS, haircut, exchanges absorbing, `--paths 0`, sweep seconds:
#   - each chain alone, as an investigator would follow the bridges by hand:
#     Ethereum from the exploiter, Base from the Base payee (`--follow
#     swaps`), Bitcoin from the two Bitcoin payees; first (ledger removed:
#     full sweep) and later (sparse over the ledger);
#   - the three stores at once from the exploiter (`--follow
#     swaps,bridges-heuristic`), first and later;
# and prints the ratios, first to first and later to later.
#
#   bash benches/multichain3.sh [EVENTS_PER_CHAIN=1000000] [RUNS=3]
set -euo pipefail
events=${1:-1000000}
runs=${2:-3}
source "$(dirname "${BASH_SOURCE[0]}")/three_chain_world.sh"
three_chain_world "$events" "$CARGO_TARGET_DIR/tmp/multichain3-$events"
# The payees of the planted bridges, from the truth.
read -r base_payee btc_payees < <(python3 - <<'EOF'
import json
t = json.load(open("world/truth.json"))
base = [p["payee"] for p in t["paths"] if p["payee"].startswith("0x") and p.get("payout_tx")]
btc = [p["payee"] for p in t["paths"] if not p["payee"].startswith("0x") and p.get("payout_tx")]
print(base[0], ",".join(btc))
EOF
)
sweep() {
  CHAINTRACE_TIMING=1 "$bin/chaintrace" trace "$@" --policy haircut --paths 0 --stop-at exchange --format json --output /dev/null 2>&1 \
    | sed -n 's/^timing: sweep of [0-9]* events in \([0-9.]*\)s.*/\1/p'
}
best() { # before-command, trace arguments...
  local before=$1 b=
  shift
  for _ in $(seq "$runs"); do
    eval "$before"
    local s
    s=$(sweep "$@")
    if [ -z "$b" ] || awk "BEGIN{exit !($s < $b)}"; then b=$s; fi
  done
  echo "$b"
}
btc_seeds=()
IFS=, read -ra payees <<< "$btc_payees"
for p in "${payees[@]}"; do btc_seeds+=(--seed "$p"); done
all=(--store ethereum --store base --store bitcoin --follow swaps,bridges-heuristic --seed "$exploiter")
eth_first=$(best "rm -f ethereum/follow-ledger*" --store ethereum --follow swaps --seed "$exploiter")
eth_later=$(best ":" --store ethereum --follow swaps --seed "$exploiter")
base_first=$(best "rm -f base/follow-ledger*" --store base --follow swaps --seed "$base_payee")
base_later=$(best ":" --store base --follow swaps --seed "$base_payee")
btc=$(best ":" --store bitcoin "${btc_seeds[@]}")
multi_later=$(best ":" "${all[@]}")
multi_first=$(best "rm -f ethereum/follow-ledger* base/follow-ledger*" "${all[@]}")
awk -v ef="$eth_first" -v el="$eth_later" -v bf="$base_first" -v bl="$base_later" -v btc="$btc" \
    -v mf="$multi_first" -v ml="$multi_later" -v n="$events" 'BEGIN {
  printf "three chains (ethereum and base %d events each, bitcoin background), best of the runs, sweep seconds:\n", n
  printf "  alone: ethereum first %.3f later %.3f; base first %.3f later %.3f; bitcoin %.3f\n", ef, el, bf, bl, btc
  printf "  all three at once: first %.3f = %.2fx the single-chain first traces (%.3f); later %.3f = %.2fx the later ones (%.3f)\n", \
    mf, mf / (ef + bf + btc), ef + bf + btc, ml, ml / (el + bl + btc), el + bl + btc
}'
# The planted truth against the report.
"$bin/chaintrace" trace "${all[@]}" --policy haircut --paths 0 --stop-at exchange --format json > report.json
python3 - <<'EOF'
import json
t, r = json.load(open("world/truth.json")), json.load(open("report.json"))
bad = [e["asset"] for e in t["totals"] if r["totals_by_asset"][e["asset"]]["converted_in"] != e["converted_in"]]
bridges = [c for c in r["conversions"] if c["kind"] == "bridge"]
print(f"  truth: {len(bridges)} bridge conversions followed ({sum(1 for c in bridges if not c['exact'])} heuristic); "
      f"converted_in as planted on {len(t['totals']) - len(bad)} of {len(t['totals'])} assets")
assert not bad, bad
EOF
