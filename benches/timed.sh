# Sourced by the bench scripts (append.sh, sweeps_ab.sh), which set WORK
# and RESULTS.
#
# timed NAME ENV CMD...: run CMD as a whole process with the variables ENV
# ("A=1 B=2", or ""), its output in WORK/last.out and WORK/last.err, and
# append "NAME<tab>wall seconds<tab>peak RSS MiB" (/usr/bin/time) to
# RESULTS. A failure prints CMD's stderr and exits. With TIMING=1 the
# command runs with CHAINTRACE_TIMING=1 and its phase lines (time,
# resident and peak memory) go to WORK/timing.txt.
timed() {
    local name=$1 env=$2
    shift 2
    local t start end
    t=$(mktemp)
    if [ "${TIMING:-0}" = 1 ]; then env="$env CHAINTRACE_TIMING=1"; fi
    start=$(date +%s%N)
    env $env /usr/bin/time -f '%M' -o "$t" "$@" > "$WORK/last.out" 2> "$WORK/last.err" || {
        echo "$name failed:" >&2
        cat "$WORK/last.err" >&2
        exit 1
    }
    end=$(date +%s%N)
    if [ "${TIMING:-0}" = 1 ]; then
        { echo "== $name"; grep '^timing:' "$WORK/last.err" || true; } >> "$WORK/timing.txt"
    fi
    printf '%s\t%s\t%s\n' "$name" "$(awk "BEGIN { printf \"%.4f\", ($end - $start) / 1e9 }")" "$(($(tail -1 "$t") / 1024))" >> "$RESULTS"
    rm -f "$t"
}
