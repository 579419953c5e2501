# Sourced by the bench scripts once ROOT and TARGET are set and the working
# directory is ROOT: sets BIN (the directory of the chaintrace binaries) and
# CT (chaintrace). BIN_DIR names binaries already built (a long run keeps
# them while the tree changes); otherwise they are built here.
if [ -n "${BIN_DIR:-}" ]; then
    BIN=$BIN_DIR
else
    cargo build --release --locked --bins -q
    BIN=$TARGET/release
fi
CT=$BIN/chaintrace
