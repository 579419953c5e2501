#!/usr/bin/env bash
# Coverage-guided fuzzing of chaintrace's parsers (issue 19):
#
#   fuzz/run.sh [SECONDS] [TARGET...]
#
# Installs cargo-fuzz (crates.io, pinned below) once and builds the targets
# in fuzz/fuzz_targets with `--sanitizer none`, which needs no nightly
# toolchain, into a target directory of their own (FUZZ_TARGET_DIR, default
# under ~/.cache). Each target (default: all) then runs for SECONDS
# (default 60) from its corpus in fuzz/corpus/TARGET, seeded from the real
# samples; inputs up to 16 KiB (a Parquet seed is 13 KiB). Inputs that
# add coverage go to a scratch copy, so the repository's corpus stays
# small. Prints each target's runs and runs a second; fails on any crash,
# whose input libFuzzer saves under fuzz/artifacts/TARGET (add it to the
# corpus once fixed: it is then a regression test). FUZZ_SEED fixes
# libFuzzer's random seed, so that a short run (CI's) is reproducible.
set -euo pipefail
SECS=${1:-60}
shift || true
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT/fuzz"
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || mapfile -t TARGETS < <(ls fuzz_targets | sed 's/\.rs$//')
FUZZ_VERSION=0.13.2
if ! cargo fuzz --version 2> /dev/null | grep -q "$FUZZ_VERSION"; then
    echo "installing cargo-fuzz $FUZZ_VERSION from crates.io (cargo install, a few minutes once)" >&2
    cargo install cargo-fuzz --locked --version "$FUZZ_VERSION" -q
fi
export CARGO_TARGET_DIR=${FUZZ_TARGET_DIR:-$HOME/.cache/chaintrace-fuzz-target}
cargo fuzz build -s none "${TARGETS[@]:0:0}" > /dev/null 2> build.log || { cat build.log; exit 1; }
# The ingest and store targets write a store every run: to memory where
# there is a tmpfs.
[ -w /dev/shm ] && export TMPDIR=/dev/shm
# One core a target. Inputs stay under 16 KiB, which the ingest never
# splits, so a pool of threads adds no paths, only idle workers spinning:
# `ingest` ran 1,749 inputs a second with one thread against 1,479 with
# the default pools (2026-12-05, 25 s each, on this machine).
export RAYON_NUM_THREADS=${RAYON_NUM_THREADS:-1} POLARS_MAX_THREADS=${POLARS_MAX_THREADS:-1}
rm -f build.log
SCRATCH=$(mktemp -d)
trap 'rm -rf "$SCRATCH"' EXIT
# The targets' own scratch stores and templates go with it.
mkdir "$SCRATCH/tmp"
export TMPDIR="$SCRATCH/tmp"
printf '%-16s %12s %10s %10s %s\n' target runs runs_per_s corpus result
FAILED=0
for t in "${TARGETS[@]}"; do
    mkdir -p "$SCRATCH/$t" "artifacts/$t"
    rc=0
    cargo fuzz run -s none "$t" "$SCRATCH/$t" "corpus/$t" -- -max_total_time="$SECS" -max_len=16384 \
        -artifact_prefix="artifacts/$t/" -print_final_stats=1 ${FUZZ_SEED:+-seed="$FUZZ_SEED"} > "$SCRATCH/$t.log" 2>&1 || rc=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$SCRATCH/$t.log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$SCRATCH/$t.log" | tail -1)
    n=$(ls "corpus/$t" "$SCRATCH/$t" | grep -vc ':$\|^$' || true)
    result=ok
    if [ "$rc" != 0 ]; then
        result="CRASH (exit $rc): $(ls -t "artifacts/$t" | head -1)"
        FAILED=1
        grep -m5 -E "panicked|ERROR|SUMMARY" "$SCRATCH/$t.log" >&2 || tail -20 "$SCRATCH/$t.log" >&2
    fi
    printf '%-16s %12s %10s %10s %s\n' "$t" "${runs:-?}" "${rate:-?}" "$n" "$result"
done
[ "$FAILED" = 0 ] || { echo "FAILED: a fuzz target crashed"; exit 1; }
