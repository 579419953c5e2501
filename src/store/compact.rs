//! Compaction: segments merged into one, so that a store built by many
//! appends opens with few mappings and its lookup structures have few runs.
//! `chaintrace compact` merges every segment; after an append the store
//! merges its newest small segments once it has more than
//! [`super::append::MAX_SEGMENTS`] (tiered, and at most [`AUTO_BYTES`]:
//! see `tiered_start`). Columns keep their bytes, so
//! every report is the same before and after; runs are merged (address
//! one address table, one transaction table, the newest balance
//! of each address). Crash-safe like every write: a new segment, then one
//! switch of `CURRENT`.

use super::columns::{Column, as_bytes};
use super::generation::{commit, lock};
use super::segment::{Run, SegmentInfo, SegmentWriter};
use super::{Store, StoreError};
use rayon::prelude::*;
use std::borrow::Cow;
use std::path::Path;

/// Final-balance records of runs in order (later runs newer) merged into
/// one run: sorted by (asset, address), the newest record of each kept.
/// A zero overrides older runs; with `drop_zeros` (no run left below) it goes.
pub(super) fn merge_balances(records: &[u8], drop_zeros: bool) -> Vec<u8> {
    let mut recs: Vec<((u32, u32), std::cmp::Reverse<usize>, u128)> = records
        .par_chunks_exact(24)
        .enumerate()
        .map(|(k, rec)| {
            let a = u32::from_le_bytes(rec[..4].try_into().expect("4 bytes"));
            let x = u32::from_le_bytes(rec[4..8].try_into().expect("4 bytes"));
            ((a, x), std::cmp::Reverse(k), u128::from_le_bytes(rec[8..].try_into().expect("16 bytes")))
        })
        .collect();
    recs.par_sort_unstable_by_key(|r| (r.0, r.1));
    recs.dedup_by_key(|r| r.0);
    let mut out = Vec::with_capacity(recs.len() * 24);
    for ((a, x), _, b) in recs {
        if b != 0 || !drop_zeros {
            out.extend_from_slice(&a.to_le_bytes());
            out.extend_from_slice(&x.to_le_bytes());
            out.extend_from_slice(&b.to_le_bytes());
        }
    }
    out
}

/// The first of the runs of a lookup structure (entry counts `runs`,
/// oldest first) to merge with a new run of `new` entries, by the tiered
/// rule of segments: from the newest, an older run joins while it holds at
/// most twice what has gathered and the merged run's bytes (`bytes` of its
/// entries) stay within [`AUTO_BYTES`]. `runs.len()`: none. A store built
/// by many appends then keeps a logarithmic number of runs, and a lookup
/// (an append's, for every address and transaction it meets and every old
/// address it touches) probes that many, not one per append.
pub(super) fn runs_to_merge(runs: &[u64], new: u64, bytes: impl Fn(u64) -> u64) -> usize {
    let (mut k, mut sum) = (runs.len(), new);
    while k > 0 && runs[k - 1] <= 2 * sum && bytes(sum + runs[k - 1]) <= AUTO_BYTES {
        sum += runs[k - 1];
        k -= 1;
    }
    k
}

/// [`runs_to_merge`] for final-balance runs (24-byte records).
pub(super) fn balance_runs_to_merge(runs: &[u64], new: u64) -> usize {
    runs_to_merge(runs, new, |n| n * 24)
}

/// [`runs_to_merge`] for hash-index runs (tables of 4-byte slots).
pub(super) fn index_runs_to_merge(runs: &[u64], new: u64) -> usize {
    runs_to_merge(runs, new, |n| super::hashindex::slot_count(n) * 4)
}

/// Which segments to merge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// All of them, into one.
    All,
    /// The newest ones, by the tiered rule.
    Tiered,
    /// None: only the runs of the lookup structures, into one each.
    Lookups,
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

/// Most bytes a compaction after an append rewrites: appends stay cheap,
/// and larger merges are left to `chaintrace compact`.
pub const AUTO_BYTES: u64 = 256 << 20;

/// The first of the segments to merge after an append: from the newest,
/// the suffix grows while the next older segment is at most twice what it
/// holds (so merged segments double, and a byte is rewritten a logarithmic
/// number of times) and the merge stays within [`AUTO_BYTES`]. `n` (none)
/// when fewer than two segments qualify: large segments, such as parts of
/// a bulk load, are never merged behind an append.
pub(super) fn tiered_start(segs: &[SegmentInfo]) -> usize {
    let n = segs.len();
    let Some(last) = segs.last() else { return n };
    let (mut start, mut sum) = (n - 1, last.bytes);
    while start > 0 {
        let b = segs[start - 1].bytes;
        if b > 2 * sum || sum + b > AUTO_BYTES {
            break;
        }
        sum += b;
        start -= 1;
    }
    if start + 1 < n && sum <= AUTO_BYTES { start } else { n }
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
    s.scanning(|| merge(dir, scope, &s))
}

/// The lookup structures (address and transaction-hash indexes, final
/// balances) rebuilt as one run each in one new segment; no event column
/// moves. The old runs' bytes stay in their segments until a full
/// compaction rewrites those (a few bytes an event).
fn merge_lookups(dir: &Path, s: &Store) -> Result<CompactSummary, StoreError> {
    let m0 = &s.manifest;
    let bytes_before: u64 = m0.segments.iter().map(|g| g.bytes).sum();
    let mut summary = CompactSummary {
        segments_before: m0.segments.len(),
        segments_after: m0.segments.len(),
        merged: 0,
        bytes_before,
        bytes_after: bytes_before,
    };
    let runs = m0.addr_runs.len() + m0.tx_runs.len() + m0.balance_runs.len();
    if m0.addr_runs.len() <= 1 && m0.tx_runs.len() <= 1 && m0.balance_runs.len() <= 1 {
        return Ok(summary);
    }
    let mut m = m0.clone();
    let mut w = SegmentWriter::create(dir)?;
    let name = w.name().to_string();
    let one = |count: u64| if count == 0 { Vec::new() } else { vec![Run { segment: name.clone(), count }] };
    let index = s.address_index_from(crate::model::Pseudo::ALL.len());
    m.columns.insert(Column::AddrIndex.file().to_string(), w.put_column(as_bytes(&index))?);
    m.addr_runs = one(s.address_count().saturating_sub(crate::model::Pseudo::ALL.len()) as u64);
    drop(index);
    let hashes: &[[u8; 32]] = bytemuck::cast_slice(s.bytes(Column::TxHashes));
    m.columns.insert(Column::TxHashIndex.file().to_string(), w.put_column(as_bytes(&super::hashindex::build(hashes)))?);
    m.tx_runs = one(hashes.len() as u64);
    crate::store::crash::point("compact-columns");
    let finals = merge_balances(s.bytes(Column::FinalBalances), true);
    m.columns.insert(Column::FinalBalances.file().to_string(), w.put_column(&finals)?);
    m.balance_runs = one((finals.len() / 24) as u64);
    m.segments.push(w.finish()?);
    commit(dir, &mut m)?;
    summary.merged = runs;
    summary.segments_after = m.segments.len();
    summary.bytes_after = m.segments.iter().map(|g| g.bytes).sum();
    Ok(summary)
}

/// The compaction itself, over the open store `s`.
fn merge(dir: &Path, scope: Scope, s: &Store) -> Result<CompactSummary, StoreError> {
    if scope == Scope::Lookups {
        return merge_lookups(dir, s);
    }
    let segs = &s.manifest.segments;
    let bytes_before: u64 = segs.iter().map(|g| g.bytes).sum();
    let mut summary =
        CompactSummary { segments_before: segs.len(), segments_after: segs.len(), merged: 0, bytes_before, bytes_after: bytes_before };
    let j = match scope {
        Scope::All | Scope::Lookups => 0,
        Scope::Tiered => tiered_start(segs),
    };
    // `All` also merges runs whose segments left the list (their bytes
    // moved on), so a store of one segment may still have runs to merge.
    let runs = |r: &[Run]| r.len() > 1;
    let m0 = &s.manifest;
    let more_runs = runs(&m0.addr_runs) || runs(&m0.tx_runs) || runs(&m0.balance_runs);
    let nothing = match scope {
        Scope::All | Scope::Lookups => segs.len() < 2 && !more_runs,
        Scope::Tiered => j + 1 >= segs.len(),
    };
    if segs.is_empty() || nothing {
        return Ok(summary);
    }
    let min = if scope == Scope::All { 0 } else { number(&segs[j].name) };
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
                // Runs hold consecutive ids from the first after the pseudo addresses.
                let first = crate::model::Pseudo::ALL.len() + before(&m.addr_runs, ra);
                let slots = super::hashindex::slots_of(&m.addr_runs[..ra]) as usize;
                (slots * 4, Cow::Owned(as_bytes(&s.address_index_from(first)).to_vec()))
            }
            Column::TxHashIndex => {
                let first = before(&m.tx_runs, rt);
                let slots = super::hashindex::slots_of(&m.tx_runs[..rt]) as usize;
                let hashes: &[[u8; 32]] = bytemuck::cast_slice(&s.bytes(Column::TxHashes)[first * 32..]);
                (slots * 4, Cow::Owned(as_bytes(&super::hashindex::build(hashes)).to_vec()))
            }
            Column::FinalBalances => {
                let from = before(&m.balance_runs, rb);
                let out = merge_balances(&bytes[from * 24..], rb == 0);
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
        let mut np = parts[..k].to_vec();
        np.extend(w.put_column_pieces(&[&bytes[part_start..keep_to], &merged])?);
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
    fn balance_runs_merge_by_tiers() {
        // Equal runs merge like a binary counter; a big run waits.
        assert_eq!(balance_runs_to_merge(&[], 10), 0);
        assert_eq!(balance_runs_to_merge(&[10], 10), 0);
        assert_eq!(balance_runs_to_merge(&[1000, 10], 10), 1);
        assert_eq!(balance_runs_to_merge(&[1000, 30, 10], 10), 1);
        assert_eq!(balance_runs_to_merge(&[1000, 100], 10), 2);
        // Never past the byte cap.
        let big = AUTO_BYTES / 24;
        assert_eq!(balance_runs_to_merge(&[big, big], big), 2);
        assert_eq!(balance_runs_to_merge(&[big, 1], big), 2);
    }

    #[test]
    fn merged_balances_keep_the_newest_record() {
        let rec = |a: u32, x: u32, b: u128| [&a.to_le_bytes()[..], &x.to_le_bytes(), &b.to_le_bytes()].concat();
        let runs = [rec(0, 7, 5), rec(0, 9, 1), rec(1, 7, 3), rec(0, 7, 0), rec(0, 9, 4)].concat();
        assert_eq!(merge_balances(&runs, false), [rec(0, 7, 0), rec(0, 9, 4), rec(1, 7, 3)].concat());
        assert_eq!(merge_balances(&runs, true), [rec(0, 9, 4), rec(1, 7, 3)].concat());
    }

    #[test]
    fn tiers() {
        let big_then_small: Vec<_> = std::iter::once(seg(1, 100 << 20)).chain((2..14).map(|n| seg(n, 1 << 20))).collect();
        assert_eq!(tiered_start(&big_then_small), 1, "the small ones merge, the big one stays");
        let parts: Vec<_> = (1..14).map(|n| seg(n, 700 << 20)).collect();
        assert_eq!(tiered_start(&parts), 13, "bulk parts are left to chaintrace compact");
        let parts_then_blocks: Vec<_> = (1..11).map(|n| seg(n, 700 << 20)).chain((11..14).map(|n| seg(n, 20 << 10))).collect();
        assert_eq!(tiered_start(&parts_then_blocks), 10, "the blocks merge");
        let doubling = vec![seg(1, 8 << 20), seg(2, 5 << 20), seg(3, 2 << 20), seg(4, 1 << 20), seg(5, 1 << 20)];
        assert_eq!(tiered_start(&doubling), 0);
        assert_eq!(tiered_start(&[seg(1, 100 << 20), seg(2, 1 << 20)]), 2, "a segment far larger than the newer ones stays");
    }
}
