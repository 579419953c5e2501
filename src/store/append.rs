//! Appends and splices. New rows that all come after the store's last
//! block are written as one new segment, and the store's columns are
//! continued rather than rewritten; the address and transaction-hash
//! indexes and the final balances gain a run each. Cost: the new rows,
//! plus under one page a column, plus the old balances of the addresses
//! the new rows touch.
//!
//! New rows that reach back (a traces file loaded after the transactions
//! of the same blocks, a late block) splice: the store's events from the
//! first block the new rows touch on are reloaded, sorted with the new
//! rows, and written as one new segment that replaces the columns from
//! that event on; everything before it stays where it is. Cost: the events
//! from the cut on, not the store.

use super::builder::Builder;
use super::columns::{BlockRun, Column, as_bytes};
use super::segment::{Run, SegmentWriter};
use super::write::WriteSummary;
use super::{Manifest, Store, StoreError};
use crate::model::{Chain, NO_BLOCK, NO_TIME, NO_TX, OrderBy};
use rayon::prelude::*;
use std::collections::HashMap;
use std::path::Path;

/// Compact on its own once a store has more segments than this.
pub(super) const MAX_SEGMENTS: usize = 12;

/// Where a splice cuts the store, and what it needs from before the cut.
pub(super) struct Cut {
    /// The first store event rewritten: the first of the first block a new
    /// row is in (the store's length for an append).
    event: usize,
    /// Balances just before it of what the reloaded events touch.
    balances: HashMap<(u32, u32), u128>,
}

/// Bytes of column `c` of store `s` that stay before event `cut`.
fn kept_bytes(s: &Store, c: Column, cut: u64) -> usize {
    // Record columns ordered by the event number in their first 8 bytes.
    let records = |size: usize| {
        let b = s.bytes(c);
        let at = |k: usize| u64::from_le_bytes(b[k * size..k * size + 8].try_into().expect("8 bytes"));
        super::partition(0, b.len() / size, |k| at(k) < cut) * size
    };
    if let Some(w) = c.event_width() {
        return (cut * w) as usize;
    }
    if let Some(&(packed, frames)) = Column::PACKED.iter().find(|(p, f)| *p == c || *f == c) {
        let (_, kept_frames, kept_bits) = super::packed::cut_at(super::packed::frames(s.bytes(frames)), s.bytes(packed).len(), cut);
        return if c == frames { kept_frames * std::mem::size_of::<super::packed::Frame>() } else { kept_bits as usize };
    }
    match c {
        Column::BlockRuns => records(std::mem::size_of::<BlockRun>()),
        Column::TxIndexOther => records(16),
        Column::BigValues => records(40),
        Column::BalanceWide => records(24),
        // Per address, per transaction, or runs: continued.
        _ => s.bytes(c).len(),
    }
}

/// Column `c` of store `s` kept up to byte `kept` and continued with `new`
/// in segment `w`; the manifest `m` lists the new parts.
fn replace_from(w: &mut SegmentWriter, m: &mut Manifest, s: &Store, c: Column, kept: usize, new: &[u8]) -> Result<(), StoreError> {
    let old = s.bytes(c);
    let parts = m.columns.get(c.file()).map_or(&[][..], Vec::as_slice);
    let parts = w.splice_column(parts, old, kept.min(old.len()), new)?;
    m.columns.insert(c.file().to_string(), parts);
    Ok(())
}

/// A new run of a lookup structure (`bytes`, `count` entries) written
/// after the runs before `k`, which end at byte `kept`: the runs from `k`
/// on are merged into it (the tiered rule,
/// [`super::compact::runs_to_merge`], picks `k`), so lookups probe a
/// logarithmic number of runs however many appends built the store.
#[allow(clippy::too_many_arguments)]
fn put_run(
    w: &mut SegmentWriter,
    m: &mut Manifest,
    s: &Store,
    c: Column,
    runs: fn(&mut Manifest) -> &mut Vec<Run>,
    k: usize,
    kept: usize,
    (bytes, count): (Vec<u8>, u64),
) -> Result<(), StoreError> {
    replace_from(w, m, s, c, kept, &bytes)?;
    let name = w.name().to_string();
    let r = runs(m);
    r.truncate(k);
    if count > 0 {
        r.push(Run { segment: name, count });
    }
    Ok(())
}

/// The final balances of the new events ([`Builder::balances_after`])
/// as a new run, merged with the newest runs by tiers.
fn put_final_balances(w: &mut SegmentWriter, m: &mut Manifest, s: &Store, finals: Vec<u8>) -> Result<(), StoreError> {
    let counts: Vec<u64> = m.balance_runs.iter().map(|r| r.count).collect();
    let k = super::compact::balance_runs_to_merge(&counts, (finals.len() / 24) as u64);
    let raw = s.bytes(Column::FinalBalances);
    let from = (counts[..k].iter().sum::<u64>() as usize * 24).min(raw.len());
    let bytes = if k < counts.len() {
        let mut all = raw[from..].to_vec();
        all.extend_from_slice(&finals);
        super::compact::merge_balances(&all, k == 0)
    } else {
        finals
    };
    let count = (bytes.len() / 24) as u64;
    put_run(w, m, s, Column::FinalBalances, |m| &mut m.balance_runs, k, from, (bytes, count))
}

impl Builder {
    /// Where this delta can be spliced into the store, if it can: every new
    /// row with the field the store is ordered by (block number, or time
    /// for time-only data), and every row of a transaction the store
    /// already has at or after the cut. The cut is the first event of the
    /// first block (or time) a new row is in, so every block the new rows
    /// touch is rewritten whole: filling, sorting and de-duplicating only
    /// look within a block or a transaction, and the balances before the
    /// cut are rebuilt exactly (`balances_at`), so a store built so reports
    /// what one ingest of the same files does (TRACING.md §8). Bitcoin
    /// deltas append only after the store's end, with inputs of new
    /// transactions only: their inputs then spend old outputs that stay
    /// where they are (found through `Column::TxEvent`); anything else
    /// rewrites.
    pub(super) fn splice_point(&self) -> Option<Cut> {
        let s = self.base.as_ref()?;
        if self.chain == Chain::Bitcoin
            && (!s.manifest.columns.contains_key(Column::TxEvent.file()) || self.inputs.iter().any(|r| r.tx < self.tx_base))
        {
            return None;
        }
        // A store ordered by time (rows without block numbers) is cut by
        // time as one ordered by block is cut by block.
        let order = s.manifest.order_by.unwrap_or(OrderBy::Block);
        let key = |block: u64, time: i64| match order {
            OrderBy::Block if block == NO_BLOCK => None,
            OrderBy::Time if time == NO_TIME => None,
            _ => Some(super::write::primary_key(order, block, time)),
        };
        // Nothing new (files loaded before): an append of nothing.
        let Some(first_key) = (0..self.len()).into_par_iter().map(|i| key(self.block[i], self.time[i])).min() else {
            return Some(Cut { event: s.len(), balances: HashMap::new() });
        };
        // `None` sorts first: some row lacks the field the store is ordered by.
        let first_key = first_key?;
        let ev = s.events();
        let k = ev.runs.partition_point(|r| key(r.block, r.time).is_some_and(|x| x < first_key));
        let event = ev.runs.get(k).map_or(s.len(), |r| r.first as usize);
        if self.chain == Chain::Bitcoin && event != s.len() {
            return None;
        }
        // Rows of old transactions: each must have its events after the cut.
        let tb = self.tx_base;
        let mut old: Vec<u32> = (0..self.len()).map(|i| self.tx[i]).filter(|&t| t != NO_TX && t < tb).collect();
        if !old.is_empty() {
            old.sort_unstable();
            old.dedup();
            let mut seen = vec![false; old.len()];
            for t in ev.txs(event, s.len()) {
                if let Ok(p) = old.binary_search(&t) {
                    seen[p] = true;
                }
            }
            if !seen.iter().all(|&x| x) {
                return None;
            }
        }
        let balances = if event == s.len() { HashMap::new() } else { s.scanning(|| super::balances::balances_at(s, event))? };
        Some(Cut { event, balances })
    }

    /// Put the store's events from `cut` on ahead of this delta's rows, in
    /// store order, as a rewrite's load would (big values that fit 128 bits
    /// back in the value column).
    fn reload_from(&mut self, cut: usize) {
        let Some(s) = self.base.as_ref() else { return };
        let ev = s.events();
        let n = ev.len() - cut;
        if n == 0 {
            return;
        }
        let mut cur = ev.cursor();
        let (block, time): (Vec<u64>, Vec<i64>) = (cut..ev.len()).map(|i| cur.at(i)).map(|r| (r.block, r.time)).unzip();
        fn ahead<T>(old: Vec<T>, new: &mut Vec<T>) {
            let mut v = old;
            v.append(new);
            *new = v;
        }
        ahead(block, &mut self.block);
        ahead(time, &mut self.time);
        ahead((cut..ev.len()).map(|i| ev.tx_index(i)).collect(), &mut self.tx_index);
        ahead(ev.subs(cut, ev.len()), &mut self.sub);
        ahead(ev.senders(cut, ev.len()), &mut self.from);
        ahead(ev.receivers(cut, ev.len()), &mut self.to);
        ahead(ev.assets(cut, ev.len()), &mut self.asset);
        ahead((cut..ev.len()).map(|i| ev.value.get(i)).collect(), &mut self.value);
        ahead(ev.txs(cut, ev.len()), &mut self.tx);
        ahead(ev.flag_range(cut, ev.len()), &mut self.flags);
        let mut big: HashMap<usize, ruint::aliases::U256> = self.big.drain().map(|(i, v)| (i + n, v)).collect();
        let raw = s.bytes(Column::BigValues);
        let from = kept_bytes(s, Column::BigValues, cut as u64);
        for r in raw[from..].chunks_exact(40) {
            let i = u64::from_le_bytes(r[..8].try_into().expect("8 bytes")) as usize - cut;
            let v = ruint::aliases::U256::from_le_slice(&r[8..]);
            match u128::try_from(v) {
                Ok(x) if x != u128::MAX => self.value[i] = x,
                _ => {
                    big.insert(i, v);
                }
            }
        }
        self.big = big;
        let old_files = self.old_files;
        for (k, (_, start)) in self.files.iter_mut().enumerate() {
            if k >= old_files {
                *start += n;
            }
        }
        self.old_events = n;
    }

    /// Write the delta as one new segment continuing the store's columns
    /// from event `cut.event` on (an append when that is the store's end).
    pub(super) fn splice(mut self, dir: &Path, cut: Cut) -> Result<WriteSummary, StoreError> {
        self.reload_from(cut.event);
        crate::sys::timing("reload from the cut");
        let reloaded = self.old_events;
        // Bitcoin: new inputs that spend old outputs take their values and
        // addresses from the store before the new outputs are resolved.
        let base = self.base.take();
        let stored = match base.as_ref() {
            Some(s) => self.resolve_from_store(s, dir)?,
            None => Default::default(),
        };
        self.base = base;
        let (order, keep, dups) = self.prepare(dir)?;
        let before = self.fee_coverage(&(0..reloaded as crate::model::ids::EventPos).collect::<Vec<_>>());
        let fees = self.fee_coverage(&keep);
        let s = self.base.take().expect("splices are of deltas");
        let first = cut.event as u64;
        let mut m: Manifest = s.manifest.clone();
        let mut w = SegmentWriter::create(dir)?;
        let mut ext = |w: &mut SegmentWriter, c: Column, new: &[u8]| replace_from(w, &mut m, &s, c, kept_bytes(&s, c, first), new);
        // The balance replay runs beside the column writes, as in a rewrite.
        let (written, (sender, finals)) = rayon::join(
            || -> Result<u64, StoreError> {
                self.put_event_columns(&keep, first, Some(&s), &mut |c, new| ext(&mut w, c, new))?;
                crate::sys::timing("event columns");
                ext(&mut w, Column::AddrBytes, &self.addr_bytes)?;
                ext(&mut w, Column::TxHashes, self.tx_hashes.as_flattened())?;
                ext(&mut w, Column::BigValues, &self.big_records(&keep, first))?;
                crate::sys::timing("addresses and hashes");
                if self.chain == Chain::Bitcoin {
                    let bytes_before = s.bytes(Column::AddrBytes).len() as u64;
                    let offsets: Vec<u64> = self.addr_offsets[1..].iter().map(|o| o + bytes_before).collect();
                    ext(&mut w, Column::AddrOffsets, as_bytes(&offsets))?;
                    return self.put_bitcoin_columns(&keep, first, &stored, &mut |c, new| ext(&mut w, c, new));
                }
                Ok(0)
            },
            || self.balances_after(&s, &keep, &cut.balances),
        );
        let inputs = written?;
        s.release_lookups();
        crate::sys::timing("balances");
        ext(&mut w, Column::BalanceWide, &super::columns::wide_balances(&sender, first))?;
        let (lo, hi) = super::columns::split_narrow::<u16>(sender.into_iter());
        ext(&mut w, Column::BalanceLo, as_bytes(&lo))?;
        ext(&mut w, Column::BalanceHi, as_bytes(&hi))?;
        put_final_balances(&mut w, &mut m, &s, finals)?;
        s.release_lookups();
        crate::sys::timing("final balances");
        self.put_address_index(&mut w, &mut m, &s)?;
        self.put_tx_index(&mut w, &mut m, &s)?;
        // Only the rows from the first new one's place on are written
        // (after an append: the new ones), not the table.
        if !self.logs.is_empty() {
            m.logs = super::logs::append(&s, &self.logs, &mut |c, kept, new| replace_from(&mut w, &mut m, &s, c, kept, new))?;
        }
        if !self.memos.is_empty() {
            m.memos = super::memos::append(&s, &self.memos, &mut |c, kept, new| replace_from(&mut w, &mut m, &s, c, kept, new))?;
        }
        let files = self.loaded_files(&dups);
        if !keep.is_empty() {
            m.order_by = Some(order);
        }
        m.events = first + keep.len() as u64;
        m.address_table = u64::from(self.addr_base) + (self.addr_offsets.len() - 1) as u64;
        m.tx_table = u64::from(self.tx_base) + self.tx_hashes.len() as u64;
        m.inputs += inputs;
        m.assets = self.assets.clone();
        m.files = files;
        m.skipped_rows = self.skipped_rows;
        // The reloaded transactions were counted when first written.
        m.fees.known_txs = m.fees.known_txs.saturating_sub(before.known_txs) + fees.known_txs;
        m.fees.unknown_txs = m.fees.unknown_txs.saturating_sub(before.unknown_txs) + fees.unknown_txs;
        m.written_by = format!("chaintrace {}", env!("CARGO_PKG_VERSION"));
        w.set_events(keep.len() as u64);
        m.segments.push(w.finish()?);
        // An append keeps the mark of the events before it; a splice
        // rewrote some of them, so no earlier mark holds.
        if first < s.manifest.events || s.manifest.lineage.is_empty() {
            m.marks.clear();
        } else {
            m.marks.push(super::Mark { events: s.manifest.events, lineage: s.manifest.lineage.clone() });
            let over = m.marks.len().saturating_sub(super::MARKS);
            m.marks.drain(..over);
        }
        m.lineage = m.new_lineage(&s.manifest.lineage, first);
        crate::sys::timing("segment written");
        drop(s);
        drop(self);
        super::generation::commit(dir, &mut m)?;
        crate::sys::timing("append");
        // The append is committed: a merge that fails (a full disk) is
        // reported beside it, never as the ingest's failure, and leaves
        // the store as the append made it.
        let mut warnings = Vec::new();
        if m.segments.len() > MAX_SEGMENTS && super::compact::tiered_start(&m.segments) < m.segments.len() {
            if let Err(e) = super::compact::compact_locked(dir, super::compact::Scope::Tiered) {
                warnings.push(format!("the append is in the store, but merging its newest segments failed: {e}"));
            }
            crate::sys::timing("compact");
        }
        // A tiered merge moves no event: what the splice left is as it was.
        Ok(WriteSummary { events: m.events, duplicates: dups, warnings, unchanged: first })
    }

    /// The address-index run of this delta's addresses, merged with the
    /// newest runs by tiers (runs hold consecutive ids).
    fn put_address_index(&self, w: &mut SegmentWriter, m: &mut Manifest, s: &Store) -> Result<(), StoreError> {
        use super::hashindex::{build_with, key_hash, slots_of};
        let (pseudo, base) = (crate::model::Pseudo::ALL.len(), self.addr_base as usize);
        let addresses = self.addr_offsets.len() - 1;
        let counts: Vec<u64> = m.addr_runs.iter().map(|r| r.count).collect();
        let k = if base >= pseudo { super::compact::index_runs_to_merge(&counts, addresses as u64) } else { counts.len() };
        let first = if k < counts.len() { pseudo + counts[..k].iter().sum::<u64>() as usize } else { base };
        let key = |id: usize| match id.checked_sub(base) {
            Some(j) => &self.addr_bytes[self.addr_offsets[j] as usize..self.addr_offsets[j + 1] as usize],
            None => s.address_bytes(id as u32),
        };
        let n = base + addresses - first;
        let index = build_with(n, |rel| key_hash(key(first + rel)));
        let kept = slots_of(&m.addr_runs[..k]) as usize * 4;
        put_run(w, m, s, Column::AddrIndex, |m| &mut m.addr_runs, k, kept, (as_bytes(&index).to_vec(), n as u64))
    }

    /// The transaction-hash index run of this delta's transactions, merged
    /// with the newest runs by tiers.
    fn put_tx_index(&self, w: &mut SegmentWriter, m: &mut Manifest, s: &Store) -> Result<(), StoreError> {
        use super::hashindex::{build_with, key_hash, slots_of};
        let counts: Vec<u64> = m.tx_runs.iter().map(|r| r.count).collect();
        let k = super::compact::index_runs_to_merge(&counts, self.tx_hashes.len() as u64);
        let stored = s.bytes(Column::TxHashes);
        let from = (counts[..k].iter().sum::<u64>() as usize * 32).min(stored.len());
        let old: &[[u8; 32]] = if k < counts.len() { bytemuck::cast_slice(&stored[from..]) } else { &[] };
        let n = old.len() + self.tx_hashes.len();
        let table = build_with(n, |j| key_hash(if j < old.len() { &old[j] } else { &self.tx_hashes[j - old.len()] }));
        let kept = slots_of(&m.tx_runs[..k]) as usize * 4;
        put_run(w, m, s, Column::TxHashIndex, |m| &mut m.tx_runs, k, kept, (as_bytes(&table).to_vec(), n as u64))
    }
}
