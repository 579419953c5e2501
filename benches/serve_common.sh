# Sourced by benches/serve.sh and benches/serve_open.sh (WORK, TARGET and
# STORE set, SERVE_ARGS an array of further `serve` options).
#
# start_server [PREFIX...]: start `chaintrace serve` on a free loopback port
# (under PREFIX, e.g. taskset; SERVER_THREADS=N for N worker threads), wait
# until it listens, and set PID and ADDR.
start_server() {
  : > "$WORK/serve.err"
  "$@" "$TARGET/release/chaintrace" serve --store "$STORE" --listen 127.0.0.1:0 "${SERVE_ARGS[@]}" \
    ${SERVER_THREADS:+--threads $SERVER_THREADS} 2> "$WORK/serve.err" &
  PID=$!
  for _ in $(seq 1 600); do
    grep -q "listening on" "$WORK/serve.err" 2>/dev/null && break
    sleep 0.1
  done
  ADDR=$(sed -n 's/^listening on http:\/\///p' "$WORK/serve.err")
  [ -n "$ADDR" ] || { cat "$WORK/serve.err"; exit 1; }
}
