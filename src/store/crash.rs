//! Crash points, for the crash tests (tests/store_safety.rs): with
//! `CHAINTRACE_CRASH_AT=NAME` the process aborts when it reaches the point
//! `NAME` (no destructors, no cleanup, as under `kill -9`); with
//! `CHAINTRACE_CRASH_AT=NAME:wait` it says so on stderr and waits there to
//! be killed. Unset, a point costs one comparison with a value read once.
//!
//! The points: `ingest-parse` (a file's first block of rows interned, the
//! next being parsed), `generation-columns` (some columns of the new
//! segment written, not all: a rewrite or an append), `compact-columns`
//! (the same inside a compaction), `labels-generation` (a label import's
//! segment created, empty), `generation-written` (the new segment and the
//! generation naming it complete, `CURRENT` untouched), `before-rename`
//! (`CURRENT.tmp` written, not renamed), `after-rename` (`CURRENT`
//! switched, older generations and segments not yet removed) and
//! `ingest-window` (a window of a bounded-memory ingest committed, the
//! next not begun).

use std::sync::OnceLock;

/// Stop here if `CHAINTRACE_CRASH_AT` names this point.
#[inline]
pub fn point(name: &str) {
    static AT: OnceLock<Option<(String, bool)>> = OnceLock::new();
    let at = AT.get_or_init(|| {
        let v = std::env::var("CHAINTRACE_CRASH_AT").ok()?;
        Some(match v.strip_suffix(":wait") {
            Some(n) => (n.to_string(), true),
            None => (v, false),
        })
    });
    if let Some((at, wait)) = at
        && at == name
    {
        eprintln!("chaintrace: crash point {name}");
        if !*wait {
            std::process::abort();
        }
        loop {
            std::thread::park();
        }
    }
}
