//! chaintrace follows stolen cryptocurrency through public blockchain exports.
//!
//! The library is split by domain: [`ingest`] reads exports into value events,
//! [`store`] keeps them on disk in key order as flat columns, [`stats`]
//! describes a store. Semantics follow `TRACING.md` and the command contract
//! `INTERFACE.md` (copies in `docs/spec/`).

#![warn(missing_docs, unreachable_pub)]

pub mod amount;
pub mod cluster;
pub mod error;
pub mod ingest;
pub mod labels;
pub mod model;
pub mod report;
pub mod screen;
pub mod serve;
pub mod stats;
pub mod store;
pub mod synth;
pub mod time;
pub mod trace;

/// Anonymous (heap) resident memory of this process now, in bytes (Linux
/// `RssAnon`): what the process holds beyond mapped files, which the kernel
/// can drop and read again.
pub fn anon_rss_bytes() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("RssAnon:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Peak resident memory of this process so far, in bytes (Linux `VmHWM`).
pub fn peak_rss_bytes() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}
