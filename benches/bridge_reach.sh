#!/usr/bin/env bash
# What the bridges carry, against the truth (issue 16, "How it is
# measured"): the generated three-chain world (`chaintrace-gen multichain`,
# Ethereum and Base worlds of N events each, a Bitcoin background, the
# planted laundering of `src/synth/multichain.rs`) with R more renBTC burns
# by other holders: most released by RenVM within hours, some a day and
# more later, some never, and unrelated payments to the same Bitcoin
# addresses (before the burn, of amounts outside the fee allowance, and of
# fitting amounts inside the window: the heuristic's traps). Prints:
#   - the share of the planted value on the far chains (Base, Bitcoin) that
#     the three-store trace from the exploiter delivers to the planted
#     holders, haircut, exchanges absorbing: with exact links only
#     (`--follow swaps,bridges`) and with heuristics (`bridges-heuristic`);
#   - the heuristic's precision and recall against every planted burn
#     (`conversions` over Ethereum and Bitcoin): a link is correct when it
#     names the burn's true release transaction.
#
#   bash benches/bridge_reach.sh [EVENTS_PER_CHAIN=1000000] [REN_CASES=2000]
set -euo pipefail
events=${1:-1000000}
cases=${2:-2000}
source "$(dirname "${BASH_SOURCE[0]}")/three_chain_world.sh"
three_chain_world "$events" "$CARGO_TARGET_DIR/tmp/bridge-reach-$events-$cases" --ren-cases "$cases"
stores=(--store ethereum --store base --store bitcoin)
for follow in bridges bridges-heuristic; do
  "$bin/chaintrace" trace "${stores[@]}" --follow "swaps,$follow" --seed "$exploiter" --policy haircut \
    --paths 0 --stop-at exchange --format json --output "trace-$follow.json"
done
"$bin/chaintrace" conversions --store ethereum --store bitcoin --format json > conversions.json
python3 - "$events" "$cases" <<'PY'
import json, sys
events, cases = sys.argv[1], sys.argv[2]
t = json.load(open("world/truth.json"))
far = [h for h in t["holders"] if h["chain"] != "ethereum"]
print(f"bridge reach (three chains, {events} events a world, {cases} more renBTC burns):")
for follow in ["bridges", "bridges-heuristic"]:
    r = json.load(open(f"trace-{follow}.json"))
    rows = {(d["chain"], d["address"], d["asset"]): int(d["amount"]) for d in r["destinations"] + r["dormant"]}
    parts = []
    for asset in sorted({h["asset"] for h in far}):
        want = sum(int(h["amount"]) for h in far if h["asset"] == asset)
        got = sum(min(rows.get((h["chain"], h["address"], h["asset"]), 0), int(h["amount"])) for h in far if h["asset"] == asset)
        parts.append(f"{asset} {100 * got / want:.2f}% ({got} of {want})")
    print(f"  planted value reaching the far chains' planted holders, --follow swaps,{follow}: " + "; ".join(parts))
rows = [c for c in json.load(open("conversions.json"))["conversions"] if c.get("bridge") == "renbridge"]
links = {c["tx"]: c.get("to_tx") for c in rows if c["status"] == "followable"}
truth = {h["burn_tx"]: h for h in t["heuristic"]}
true_links = {b: h["release_tx"] for b, h in truth.items() if h["release_tx"]}
correct = sum(1 for b, r in links.items() if true_links.get(b) == r)
wrong = [b for b, r in links.items() if true_links.get(b) != r]
missed = [b for b in true_links if links.get(b) != true_links[b]]
by_case = {}
for b in sorted(set(wrong) | set(missed)):
    k = truth[b]["case"] if b in truth else "not planted"
    by_case[k] = by_case.get(k, 0) + 1
precision = correct / len(links) if links else 1.0
recall = correct / len(true_links) if true_links else 1.0
print(f"  renBTC heuristic: {len(truth)} burns, {len(true_links)} released in the data, {len(links)} linked, {correct} correctly:"
      f" precision {precision:.4f}, recall {recall:.4f}")
mix = {}
for h in truth.values():
    mix[h["case"]] = mix.get(h["case"], 0) + 1
print("  planted burns by case: " + ", ".join(f"{k} {v}" for k, v in sorted(mix.items())))
print("  burns linked wrongly or not at all, by case: " + ", ".join(f"{k} {v}" for k, v in sorted(by_case.items())))
harmless = sum(h["harmless_decoys"] for h in t["heuristic"])
taken = [b for b, h in truth.items() if h["case"] not in ("unreleased-decoy", "decoy-first") and links.get(b) not in (None, h["release_tx"])]
print(f"  unrelated payments before a burn or beyond its amount: {harmless}, taken by a link: {len(taken)}")
exact = [p for p in t["paths"] if p["exact"] and p.get("payout_tx")]
assert all(any(c["tx"] == p["deposit_tx"] and c.get("to_tx") == p["payout_tx"] for c in json.load(open("trace-bridges.json"))["conversions"]) for p in exact), "an exact link missed"
PY
