//! What the benchmarks that drive the real binary share.

/// The number after `after` in a line the binary printed (`CHAINTRACE_TIMING`).
pub(crate) fn field(line: &str, after: &str) -> f64 {
    line.split(after)
        .nth(1)
        .and_then(|s| s.split(|c: char| c.is_whitespace() || c == 's' || c == ',').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no {after:?} in {line:?}"))
}

/// Remove the §7 ledger of the store in `store` (ADR 0012), so that the
/// next `--follow` trace is the first over its events: the full sweep,
/// which writes the ledger anew.
#[allow(dead_code)]
pub(crate) fn remove_ledgers(store: &std::path::Path) {
    for f in ["follow-ledger", "follow-ledger.verified"] {
        let _ = std::fs::remove_file(store.join(f));
    }
}

/// What one `chaintrace trace` run printed with `CHAINTRACE_TIMING`:
/// sweep seconds, heap at its end (MiB), events visited, the whole trace's
/// seconds and peak memory (MiB).
#[allow(dead_code)]
pub(crate) struct Timed {
    pub(crate) sweep: f64,
    pub(crate) heap: f64,
    pub(crate) visited: f64,
    pub(crate) total: f64,
    pub(crate) peak: f64,
}

/// Run `trace` (a `chaintrace trace` command, arguments set) with
/// `CHAINTRACE_TIMING`; it must succeed.
#[allow(dead_code)]
pub(crate) fn timed_trace(trace: &mut std::process::Command) -> Timed {
    let out = trace.env("CHAINTRACE_TIMING", "1").output().expect("run chaintrace trace");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "trace failed: {err}");
    let sweep = err.lines().find(|l| l.starts_with("timing: sweep of ")).expect("sweep timing");
    let total = err.lines().find(|l| l.starts_with("timing: trace of ")).expect("trace timing");
    Timed {
        sweep: field(sweep, " in "),
        heap: field(sweep, "heap at the end of the sweep "),
        visited: field(sweep, " MiB, "),
        total: field(total, " in "),
        peak: field(total, "peak memory "),
    }
}
