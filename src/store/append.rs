//! Appends: new rows that all come after the store's last key are written
//! as one new segment, and the store's columns are continued rather than
//! rewritten; the address and transaction-hash indexes and the final
//! balances gain a run each. Cost: the new rows, plus under one page a
//! column, plus the old balances of the addresses the new rows touch.

use super::builder::Builder;
use super::columns::{Column, as_bytes};
use super::segment::{Run, SegmentWriter};
use super::write::WriteSummary;
use super::{Manifest, StoreError};
use crate::model::{Chain, NO_BLOCK, NO_TX, OrderBy};
use rayon::prelude::*;
use std::path::Path;

/// Compact on its own once a store has more segments than this.
pub(super) const MAX_SEGMENTS: usize = 12;

impl Builder {
    /// Whether this delta can be appended: Ethereum, ordered by block
    /// number, every new row in a block after the store's last, and no new
    /// row of a transaction the store already has. Then filling, sorting
    /// and de-duplicating the delta alone gives what they give over the
    /// whole store (they only look within a block or a transaction), and
    /// a store built by appends reports what one ingest of the same files
    /// does (TRACING.md §8). Bitcoin deltas, whose inputs spend outputs of
    /// old blocks, are rewritten for now.
    pub(super) fn can_append(&self) -> bool {
        let Some(s) = &self.base else { return false };
        if self.chain != Chain::Ethereum || !self.inputs.is_empty() || s.manifest.order_by == Some(OrderBy::Time) {
            return false;
        }
        let ev = s.events();
        let last = ev.runs.last().map(|r| r.block);
        let tb = self.tx_base;
        (0..self.len()).into_par_iter().all(|i| {
            let b = self.block[i];
            b != NO_BLOCK && last.is_none_or(|l| b > l) && (self.tx[i] == NO_TX || self.tx[i] >= tb)
        })
    }

    /// Write the delta as one new segment continuing the store's columns.
    pub(super) fn append(mut self, dir: &Path) -> Result<WriteSummary, StoreError> {
        let (order, keep, dups) = self.prepare(dir)?;
        crate::sys::timing("sort and dedupe");
        let fees = self.fee_coverage(&keep);
        let s = self.base.take().expect("append is for deltas");
        let mut m: Manifest = s.manifest.clone();
        let mut w = SegmentWriter::create(dir)?;
        let name = w.name().to_string();
        let mut ext = |w: &mut SegmentWriter, c: Column, new: &[u8]| -> Result<(), StoreError> {
            let parts = m.columns.get(c.file()).map_or(&[][..], Vec::as_slice);
            let parts = w.extend_column(parts, s.bytes(c), new)?;
            m.columns.insert(c.file().to_string(), parts);
            Ok(())
        };
        self.put_event_columns(&keep, s.len() as u64, &mut |c, new| ext(&mut w, c, new))?;
        crate::sys::timing("event columns");
        ext(&mut w, Column::AddrBytes, &self.addr_bytes)?;
        // Appends are Ethereum only: addresses of 20 bytes, no offsets.
        let (index, addresses) = self.address_index();
        ext(&mut w, Column::AddrIndex, as_bytes(&index))?;
        ext(&mut w, Column::TxHashes, self.tx_hashes.as_flattened())?;
        ext(&mut w, Column::TxHashIndex, as_bytes(&super::hashindex::build(&self.tx_hashes)))?;
        ext(&mut w, Column::BigValues, &self.big_records(&keep, s.len() as u64))?;
        crate::sys::timing("addresses and hashes");
        let (sender, finals) = self.balances_after(&s, &keep);
        crate::sys::timing("balances");
        ext(&mut w, Column::BalanceWide, &super::columns::wide_balances(&sender, s.len() as u64))?;
        let (lo, hi) = super::columns::split_narrow::<u16>(sender.into_iter());
        ext(&mut w, Column::BalanceLo, as_bytes(&lo))?;
        ext(&mut w, Column::BalanceHi, as_bytes(&hi))?;
        ext(&mut w, Column::FinalBalances, &finals)?;
        let run = |count: usize| Run { segment: name.clone(), count: count as u64 };
        if addresses > 0 {
            m.addr_runs.push(run(addresses));
        }
        if !self.tx_hashes.is_empty() {
            m.tx_runs.push(run(self.tx_hashes.len()));
        }
        if !finals.is_empty() {
            m.balance_runs.push(run(finals.len() / 24));
        }
        let files = self.loaded_files(&dups);
        if !keep.is_empty() {
            m.order_by = Some(order);
        }
        m.events += keep.len() as u64;
        m.address_table = u64::from(self.addr_base) + (self.addr_offsets.len() - 1) as u64;
        m.tx_table = u64::from(self.tx_base) + self.tx_hashes.len() as u64;
        m.assets = self.assets.clone();
        m.files = files;
        m.skipped_rows = self.skipped_rows;
        m.fees.known_txs += fees.known_txs;
        m.fees.unknown_txs += fees.unknown_txs;
        m.written_by = format!("chaintrace {}", env!("CARGO_PKG_VERSION"));
        w.set_events(keep.len() as u64);
        m.segments.push(w.finish()?);
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
        Ok(WriteSummary { events: m.events, duplicates: dups, warnings })
    }
}
