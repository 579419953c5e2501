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

# await_listening: wait until the server started last prints `listening on
# http://ADDR` to $WORK/serve.err, and set ADDR.
await_listening() {
  for _ in $(seq 1 600); do
    grep -q "listening on" "$WORK/serve.err" 2>/dev/null && break
    sleep 0.1
  done
  ADDR=$(sed -n 's/^listening on http:\/\///p' "$WORK/serve.err")
  [ -n "$ADDR" ] || { cat "$WORK/serve.err"; exit 1; }
}
