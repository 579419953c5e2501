//! What the benchmarks that drive the real binary share.

/// The number after `after` in a line the binary printed (`CHAINTRACE_TIMING`).
pub(crate) fn field(line: &str, after: &str) -> f64 {
    line.split(after)
        .nth(1)
        .and_then(|s| s.split(|c: char| c.is_whitespace() || c == 's' || c == ',').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no {after:?} in {line:?}"))
}
