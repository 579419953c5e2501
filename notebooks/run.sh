#!/usr/bin/env bash
# Execute the notebooks against a fresh release build, as CI does:
#   notebooks/run.sh [NAME.ipynb ...]
# Python packages go into a virtual environment under the target directory;
# executed copies (with their plots) into $TARGET/tmp/notebooks.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
export CARGO_TARGET_DIR=$TARGET
cd "$ROOT"
cargo build --release --locked --bins -q
VENV=$TARGET/tmp/notebook-venv
if [ ! -x "$VENV/bin/python" ] || ! cmp -s notebooks/requirements.txt "$VENV/requirements.txt"; then
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q -r notebooks/requirements.txt
  cp notebooks/requirements.txt "$VENV/requirements.txt"
fi
export CHAINTRACE="$TARGET/release/chaintrace" CHAINTRACE_ROOT="$ROOT"
export CHAINTRACE_NOTEBOOK_OUT="$TARGET/tmp/notebooks"
rm -rf "$CHAINTRACE_NOTEBOOK_OUT"
"$VENV/bin/python" notebooks/execute.py "$@"
