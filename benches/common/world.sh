# Sourced by the bench scripts that grow a store of the generated world
# block by block (benches/watch.sh, benches/screen_update.sh), once WORK,
# SIZE, BLOCKS, BLOCK, PARTS, BIN and CT are set. Defines TOTAL (the
# world's events: the store and BLOCKS + 1 blocks after it), S (the
# store), TABLES (the blockchain-etl files of a window), and:
#   gen FROM TO   the world's events FROM..TO as CSV files in $WORK/data
#                 (the hack's seed address in $WORK/seed.txt);
#   load          those files ingested into $S;
#   build_store   the first SIZE events in PARTS appends, then the world's
#                 labels imported ($WORK/labels.csv).
TOTAL=$((SIZE + (BLOCKS + 1) * BLOCK))
S=$WORK/store
TABLES=(transactions traces token_transfers logs)

gen() { "$BIN/chaintrace-gen" world --events "$TOTAL" --window "$1..$2" --out "$WORK/data" > "$WORK/seed.txt" 2> "$WORK/gen.err"; }

load() {
    local files=()
    for t in "${TABLES[@]}"; do files+=("$WORK/data/$t.csv"); done
    "$CT" ingest --no-progress --store "$S" --chain ethereum --format etl "${files[@]}" > /dev/null 2> "$WORK/ingest.err"
}

build_store() {
    local k
    for ((k = 0; k < PARTS; k++)); do
        rm -rf "$WORK/data"
        gen $((SIZE * k / PARTS)) $((SIZE * (k + 1) / PARTS))
        load
    done
    cp "$WORK/data/labels.csv" "$WORK/labels.csv"
    "$CT" labels --store "$S" import "$WORK/labels.csv" > /dev/null 2>&1
}
