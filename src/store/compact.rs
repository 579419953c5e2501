//! Compaction: segments merged into one, so that a store built by many
//! appends opens with few mappings and its lookup structures have few runs.
//! `chaintrace compact` merges every segment; after an append the store
//! merges its newest segments once it has more than
//! [`super::append::MAX_SEGMENTS`] (tiered: a segment is merged only once
//! the segments newer than it add up to its size, so each byte is
//! rewritten a logarithmic number of times). Columns keep their bytes, so
//! every report is the same before and after; runs are merged (address
//! ids re-sorted by their bytes, one transaction table, the newest balance
//! of each address). Crash-safe like every write: a new segment, then one
//! switch of `CURRENT`.

use super::columns::{Column, as_bytes};
use super::generation::{commit, lock};
use super::segment::{Run, SegmentInfo, SegmentWriter};
use super::{Store, StoreError};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::Path;

/// Which segments to merge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// All of them, into one.
    All,
    /// The newest ones, by the tiered rule.
    Tiered,
}

/// What a compaction did.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct CompactSummary {
    /// Segments before.
    pub segments_before: usize,
    /// Segments after.
    pub segments_after: usize,
    /// Segments merged into one (0: nothing to do).
    pub merged: usize,
    /// Bytes of segment files before.
    pub bytes_before: u64,
    /// Bytes of segment files after.
    pub bytes_after: u64,
}

fn number(segment: &str) -> u64 {
    segment.strip_prefix("seg-").and_then(|s| s.strip_suffix(".seg")).and_then(|n| n.parse().ok()).unwrap_or(0)
}

/// The first of the segments to merge: the oldest one no bigger than all
/// the newer ones together, and at least the newest two.
fn tiered_start(segs: &[SegmentInfo]) -> usize {
    let n = segs.len();
    let mut start = n.saturating_sub(2);
    let mut newer = 0u64;
    for i in (0..n).rev() {
        if i + 1 < n && segs[i].bytes <= newer {
            start = i;
        }
        newer += segs[i].bytes;
    }
    start.min(n.saturating_sub(2))
}

/// Take the write lock and compact.
pub fn compact(dir: &Path, scope: Scope) -> Result<CompactSummary, StoreError> {
    let _lock = lock(dir)?;
    compact_locked(dir, scope)
}

/// Compact a store whose write lock the caller holds.
pub fn compact_locked(dir: &Path, scope: Scope) -> Result<CompactSummary, StoreError> {
    let s = Store::open(dir)?;
    s.verify()?;
    let segs = &s.manifest.segments;
    let bytes_before: u64 = segs.iter().map(|g| g.bytes).sum();
    let mut summary =
        CompactSummary { segments_before: segs.len(), segments_after: segs.len(), merged: 0, bytes_before, bytes_after: bytes_before };
    let j = match scope {
        Scope::All => 0,
        Scope::Tiered => tiered_start(segs),
    };
    if segs.len() < 2 || j + 1 >= segs.len() {
        return Ok(summary);
    }
    let min = number(&segs[j].name);
    let mut m = s.manifest.clone();
    let mut w = SegmentWriter::create(dir)?;
    let name = w.name().to_string();
    let first_run = |runs: &[Run]| runs.iter().position(|r| number(&r.segment) >= min).unwrap_or(runs.len());
    let (ra, rt, rb) = (first_run(&m.addr_runs), first_run(&m.tx_runs), first_run(&m.balance_runs));
    let before = |runs: &[Run], k: usize| runs[..k].iter().map(|r| r.count).sum::<u64>() as usize;
    let merged_run = |runs: &[Run], k: usize| -> Vec<Run> {
        let mut out = runs[..k].to_vec();
        let count: u64 = runs[k..].iter().map(|r| r.count).sum();
        if count > 0 {
            out.push(Run { segment: name.clone(), count });
        }
        out
    };
    for (col, parts) in &s.manifest.columns {
        let Some(k) = parts.iter().position(|p| number(&p.segment) >= min) else { continue };
        let Some(c) = Column::ALL.into_iter().find(|c| c.file() == col) else {
            return Err(StoreError::Corrupt { path: s.gen_dir.join("manifest.json"), message: format!("unknown column {col}") });
        };
        let part_start = parts[..k].iter().map(|p| p.bytes).sum::<u64>() as usize;
        let bytes = s.bytes(c);
        // Runs of the merged segments start at or after their first part.
        let (keep_to, merged): (usize, Cow<'_, [u8]>) = match c {
            Column::AddrIndex => {
                let from = before(&m.addr_runs, ra);
                let ids: &[u32] = super::cast(bytes);
                let mut v = ids[from..].to_vec();
                v.sort_unstable_by(|&a, &b| s.address_bytes(a).cmp(s.address_bytes(b)));
                (from * 4, Cow::Owned(as_bytes(&v).to_vec()))
            }
            Column::TxHashIndex => {
                let first = before(&m.tx_runs, rt);
                let slots: usize = m.tx_runs[..rt].iter().map(|r| super::txindex::slot_count(r.count) as usize).sum();
                let hashes: &[[u8; 32]] = bytemuck::cast_slice(&s.bytes(Column::TxHashes)[first * 32..]);
                (slots * 4, Cow::Owned(as_bytes(&super::txindex::build(hashes)).to_vec()))
            }
            Column::FinalBalances => {
                let from = before(&m.balance_runs, rb);
                let mut newest: BTreeMap<(u32, u32), u128> = BTreeMap::new();
                for rec in bytes[from * 24..].chunks_exact(24) {
                    let a = u32::from_le_bytes(rec[..4].try_into().expect("4 bytes"));
                    let x = u32::from_le_bytes(rec[4..8].try_into().expect("4 bytes"));
                    newest.insert((a, x), u128::from_le_bytes(rec[8..].try_into().expect("16 bytes")));
                }
                // Zeros override older runs; with none left below, they go.
                let mut out = Vec::with_capacity(newest.len() * 24);
                for ((a, x), b) in newest {
                    if b != 0 || rb > 0 {
                        out.extend_from_slice(&a.to_le_bytes());
                        out.extend_from_slice(&x.to_le_bytes());
                        out.extend_from_slice(&b.to_le_bytes());
                    }
                }
                (from * 24, Cow::Owned(out))
            }
            _ => (bytes.len(), Cow::Borrowed(&[][..])),
        };
        if part_start > keep_to || keep_to > bytes.len() {
            return Err(StoreError::Corrupt {
                path: s.gen_dir.join("manifest.json"),
                message: format!("{col}: runs and parts of the merged segments do not line up"),
            });
        }
        let mut content = bytes[part_start..keep_to].to_vec();
        content.extend_from_slice(&merged);
        let mut np = parts[..k].to_vec();
        np.extend(w.put_column(&content)?);
        m.columns.insert(col.clone(), np);
        if c == Column::Flags {
            crate::store::crash::point("compact-columns");
        }
    }
    m.addr_runs = merged_run(&m.addr_runs, ra);
    m.tx_runs = merged_run(&m.tx_runs, rt);
    // Merging keeps one record an address and asset: count what is there.
    let total = m.columns.get(Column::FinalBalances.file()).map_or(0, |p| p.iter().map(|p| p.bytes).sum::<u64>()) / 24;
    let kept = before(&m.balance_runs, rb) as u64;
    m.balance_runs.truncate(rb);
    if total > kept {
        m.balance_runs.push(Run { segment: name.clone(), count: total - kept });
    }
    let events: u64 = segs[j..].iter().map(|g| g.events).sum();
    w.set_events(events);
    m.segments.truncate(j);
    m.segments.push(w.finish()?);
    drop(s);
    commit(dir, &mut m)?;
    summary.merged = summary.segments_before - j;
    summary.segments_after = m.segments.len();
    summary.bytes_after = m.segments.iter().map(|g| g.bytes).sum();
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(n: u64, bytes: u64) -> SegmentInfo {
        SegmentInfo { name: format!("seg-{n:06}.seg"), bytes, events: 0 }
    }

    #[test]
    fn tiers() {
        let big_then_small: Vec<_> = std::iter::once(seg(1, 100)).chain((2..14).map(|n| seg(n, 1))).collect();
        assert_eq!(tiered_start(&big_then_small), 1, "the small ones merge, the big one stays");
        let grown = vec![seg(1, 100), seg(2, 60), seg(3, 50)];
        assert_eq!(tiered_start(&grown), 0, "once the newer ones reach it, the big one merges too");
        assert_eq!(tiered_start(&[seg(1, 100), seg(2, 1)]), 0);
    }
}
