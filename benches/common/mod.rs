//! What the benchmarks that drive the real binary share.

/// The number after `after` in a line the binary printed (`CHAINTRACE_TIMING`).
pub(crate) fn field(line: &str, after: &str) -> f64 {
    line.split(after)
        .nth(1)
        .and_then(|s| s.split(|c: char| c.is_whitespace() || c == 's' || c == ',').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no {after:?} in {line:?}"))
}

/// Remove the §7 ledgers of the store in `store` (ADR 0012), so that the
/// next `--follow` trace is the first of its generation: the full sweep,
/// which writes the ledger anew.
#[allow(dead_code)]
pub(crate) fn remove_ledgers(store: &std::path::Path) {
    for e in std::fs::read_dir(store).expect("store dir").flatten() {
        if e.file_name().to_string_lossy().starts_with("gen-") {
            let _ = std::fs::remove_file(e.path().join("follow-ledger"));
        }
    }
}
