# Sourced by benches/serve.sh and benches/serve_open.sh, with N (the
# index's addresses) and TARGET set: builds the binaries, has the screen
# benchmark write its store and address sample once (STORE, SAMPLE), and
# makes a work directory removed at exit with the server (WORK).
cargo build --release --locked --bins -q
CHAINTRACE_BENCH_ADDRESSES=$N cargo bench --locked --bench screen -q > /dev/null
STORE=$TARGET/tmp/bench-screen-$N
SAMPLE=$STORE/addresses.txt
WORK=$(mktemp -d)
trap 'kill "$PID" 2>/dev/null || true; rm -rf "$WORK"' EXIT
# shellcheck source=benches/listening.sh
source "$(dirname "${BASH_SOURCE[0]}")/listening.sh"

# SERVE_ARGS: an array of further `serve` options.
#
# start_server [PREFIX...]: start `chaintrace serve` on a free loopback port
# (under PREFIX, e.g. taskset; SERVER_THREADS=N for N worker threads), wait
# until it listens, and set PID and ADDR.
start_server() {
  : > "$WORK/serve.err"
  "$@" "$TARGET/release/chaintrace" serve --store "$STORE" --listen 127.0.0.1:0 "${SERVE_ARGS[@]}" \
    ${SERVER_THREADS:+--threads $SERVER_THREADS} 2> "$WORK/serve.err" &
  PID=$!
  await_listening
}

