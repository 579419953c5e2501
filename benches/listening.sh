# Sourced by the scripts that start a server (benches/serve_common.sh,
# tests/api/run.sh), with WORK set.
#
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
