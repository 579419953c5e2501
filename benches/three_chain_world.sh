# Sourced by the three-chain benches (multichain3.sh, bridge_reach.sh):
# `three_chain_world EVENTS DIR [GEN_ARGS...]` writes the generated world
# (`chaintrace-gen multichain --seed 11`) under DIR (emptied first), cds
# there, ingests it with the binary into the stores `ethereum`, `base` and
# `bitcoin` with their labels, and sets `exploiter`. Sourcing it sets
# `CARGO_TARGET_DIR` (if unset) and `bin` (BIN_DIR, or the target's
# release directory), building the binaries if they are not there.
: "${CARGO_TARGET_DIR:=$HOME/.cache/chaintrace-target}"
bin="${BIN_DIR:-$CARGO_TARGET_DIR/release}"
[ -x "$bin/chaintrace" ] || cargo build --release --locked --bins
three_chain_world() {
  local events=$1 dir=$2
  shift 2
  rm -rf "$dir"
  mkdir -p "$dir"
  cd "$dir"
  "$bin/chaintrace-gen" multichain --events "$events" --seed 11 "$@" --out world > gen.txt
  exploiter=$(head -1 gen.txt)
  local c
  for c in ethereum base; do
    "$bin/chaintrace" ingest --store "$c" --chain "$c" --format etl --no-progress \
      world/$c/transactions.csv world/$c/traces.csv world/$c/token_transfers.csv world/$c/logs.csv > /dev/null
    "$bin/chaintrace" ingest --store "$c" --chain "$c" --format etl --no-progress world/$c/planted/*.csv > /dev/null
    "$bin/chaintrace" labels --store "$c" import world/$c/labels.csv world/$c/planted_labels.csv > /dev/null
  done
  "$bin/chaintrace" ingest --store bitcoin --chain bitcoin --format etl --no-progress world/bitcoin/transactions.json > /dev/null
  "$bin/chaintrace" labels --store bitcoin import world/bitcoin/planted_labels.csv > /dev/null
}
