//! Writing a new generation: the builder's events sorted by key,
//! de-duplicated and written aside as columns before one atomic switch.

use super::builder::Builder;
use super::columns::{Column, EventColumns, as_bytes, sub_code};
use super::idtable::IdTable;
use super::segment::{Run, SegmentWriter};
use super::{FORMAT_NAME, FORMAT_VERSION, FeeCoverage, LoadedFile, Manifest};
use crate::model::ids::EventPos;
use crate::model::{Chain, NO_BLOCK, NO_TIME, NO_TX, OrderBy, Pseudo, flags, sub};
use crate::store::StoreError;
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::path::Path;

/// Takes one column's new bytes: writes them as a column, or continues one.
pub(super) type PutColumn<'a> = dyn FnMut(Column, &[u8]) -> Result<(), StoreError> + 'a;

/// What a write did.
#[derive(Clone, Debug, Default)]
pub struct WriteSummary {
    /// Events in the new store.
    pub events: u64,
    /// New events dropped as already present, per new file (same order as the builder's new files).
    pub duplicates: Vec<u64>,
    /// What went wrong after the write was committed (it stands).
    pub warnings: Vec<String>,
    /// The events before this position are as they were before the
    /// write, at the same positions: the store's old length after an
    /// append, where it cut in after a splice, 0 after a rewrite. What is
    /// worked out from the events in order (an exposure sweep, a case's
    /// alerts) can go on from here.
    pub unchanged: u64,
}

pub(super) fn primary_key(order: OrderBy, block: u64, time: i64) -> u64 {
    match order {
        OrderBy::Block => block,
        OrderBy::Time => (time as u64) ^ (1 << 63),
    }
}

impl Builder {
    fn file_of(&self, i: usize) -> String {
        self.files.iter().rev().find(|(_, start)| *start <= i).map_or_else(|| "the store".to_string(), |(f, _)| f.path.clone())
    }

    fn decide_order(&mut self, dir: &Path) -> Result<OrderBy, StoreError> {
        let missing_block = (0..self.len()).find(|&i| self.block[i] == NO_BLOCK);
        let missing_time = (0..self.len()).find(|&i| self.time[i] == NO_TIME);
        let order = match (self.order_by, missing_block, missing_time) {
            (Some(OrderBy::Block), None, _) | (None, None, _) => OrderBy::Block,
            (Some(OrderBy::Time), _, None) | (None, Some(_), None) => OrderBy::Time,
            (Some(OrderBy::Block), Some(i), _) => {
                return Err(StoreError::Mismatch {
                    path: dir.to_path_buf(),
                    message: format!(
                        "the store is ordered by block number but {} has events with only a block time; keep block-numbered and time-only data in separate stores",
                        self.file_of(i)
                    ),
                });
            }
            (_, _, Some(i)) => {
                return Err(StoreError::Mismatch {
                    path: dir.to_path_buf(),
                    message: format!(
                        "events of {} have neither a block number the rest of the data shares nor a block time; cannot order them",
                        self.file_of(i)
                    ),
                });
            }
        };
        self.order_by = Some(order);
        Ok(order)
    }

    /// Sort, de-duplicate and write a new generation; switch `CURRENT` to it.
    /// Over a store whose end the new rows all come after (new blocks: the
    /// usual case), this appends one segment; rows that reach back splice
    /// one in from the first block they touch; otherwise (Bitcoin, stores
    /// ordered by time, balances past 128 bits before the cut) the store is
    /// loaded and rewritten with the new rows in place.
    pub fn write(mut self, dir: &Path) -> Result<WriteSummary, StoreError> {
        if let Some(e) = self.limit.take() {
            return Err(StoreError::Limit(e));
        }
        if self.is_delta() {
            // CHAINTRACE_REWRITE=1: rewrite even what could be appended, as
            // stores were built before segments (benchmarks compare the two).
            if std::env::var_os("CHAINTRACE_REWRITE").is_none_or(|v| v != "1")
                && let Some(cut) = self.splice_point()
            {
                return self.splice(dir, cut);
            }
            self = self.into_full();
            crate::sys::timing("load the store to rewrite it");
        }
        let (order, keep, dups) = self.prepare(dir)?;
        let fees = self.fee_coverage(&keep);
        let mut manifest = self.write_segment(dir, &keep, order, fees, &dups)?;
        super::generation::commit(dir, &mut manifest)?;
        Ok(WriteSummary { events: keep.len() as u64, duplicates: dups, warnings: Vec::new(), unchanged: 0 })
    }

    /// Resolve, fill, sort and de-duplicate: the order, the builder indexes
    /// of the events kept in key order, and the duplicates per new file.
    pub(super) fn prepare(&mut self, dir: &Path) -> Result<(OrderBy, Vec<EventPos>, Vec<u64>), StoreError> {
        self.resolve_bitcoin(dir)?;
        // Interning is over: free its tables before the write allocates.
        self.addr_ids = IdTable::default();
        self.tx_ids = IdTable::default();
        self.eth_keys = Vec::new();
        self.fill();
        let n = self.len();
        let order = if n == 0 { self.order_by.unwrap_or(OrderBy::Block) } else { self.decide_order(dir)? };
        let key =
            |i: usize| (primary_key(order, self.block[i], self.time[i]), (u64::from(self.tx_index[i]) << 32) | u64::from(self.sub[i]));
        crate::sys::timing("resolve and fill");
        let sorted = (1..n).into_par_iter().all(|i| key(i - 1) <= key(i));
        // Sorted keys with the builder index of each (none when the rows
        // came in order): the de-duplication below compares neighbours in
        // this array instead of reading four columns at random per row.
        let perm: Vec<(u64, u64, EventPos)> = if sorted {
            Vec::new()
        } else {
            let mut keys: Vec<(u64, u64, EventPos)> = (0..n)
                .into_par_iter()
                .map(|i| {
                    let (a, b) = key(i);
                    (a, b, i as EventPos)
                })
                .collect();
            keys.par_sort_unstable();
            keys
        };
        let at = |p: usize| if sorted { (key(p), p) } else { ((perm[p].0, perm[p].1), perm[p].2 as usize) };
        // Drop repeats of (transaction, position): they sit in one run of equal keys,
        // and the first loaded comes first in it.
        // Event positions are 64-bit end to end (model::ids::EventPos).
        let mut keep: Vec<EventPos> = Vec::with_capacity(n);
        let new_files: Vec<usize> = self.files[self.old_files..].iter().map(|(_, s)| *s).collect();
        let mut dups = vec![0u64; new_files.len()];
        let mut seen: Vec<u32> = Vec::new();
        let mut prev = None;
        for p in 0..n {
            const AHEAD: usize = 16;
            if let Some(&(_, _, j)) = perm.get(p + AHEAD) {
                crate::sys::prefetch(&self.tx[j as usize]);
            }
            let (k, i) = at(p);
            if prev != Some(k) {
                seen.clear();
                prev = Some(k);
            }
            let t = self.tx[i];
            if t != NO_TX {
                if seen.contains(&t) {
                    if i >= self.old_events {
                        let f = new_files.iter().rposition(|&s| s <= i).unwrap_or(0);
                        if let Some(d) = dups.get_mut(f) {
                            *d += 1;
                        }
                    }
                    continue;
                }
                seen.push(t);
            }
            keep.push(i as EventPos);
        }
        drop(perm);
        crate::sys::timing("sort and dedupe");
        Ok((order, keep, dups))
    }

    /// Every event column's rows for the kept events (builder indexes in
    /// key order), numbered from event `first`, handed to `put` one column
    /// at a time: a rewrite writes them as new columns, an append continues
    /// the store's. Rows already in order with nothing dropped (the common
    /// case) go as they are, without a gathered copy.
    /// `old`: the store a splice continues (from event `first`), for the
    /// index by transaction of the rows of its transactions that the splice
    /// reloaded, and for the bit-packed columns, whose block holding the
    /// cut is encoded again with the store's values before the cut.
    pub(super) fn put_event_columns(
        &self,
        keep: &[EventPos],
        first: u64,
        old: Option<&super::Store>,
        put: &mut PutColumn<'_>,
    ) -> Result<(), StoreError> {
        let old_by_tx: &[u16] = old.map_or(&[], |s| super::columns::cast(s.bytes(Column::TxIndex)));
        let stored = old.map(|s| s.events());
        let pack = |c: Column,
                    frames: Column,
                    prefix: &dyn Fn(&EventColumns<'_>, usize, usize) -> Vec<u32>,
                    new: &(dyn Fn(usize) -> u32 + Sync)| {
            let (from, offset, mut values) = match (old, &stored) {
                (Some(s), Some(ev)) => {
                    let (from, _, offset) = super::packed::cut_at(super::packed::frames(s.bytes(frames)), s.bytes(c).len(), first);
                    (from, offset, prefix(ev, from as usize, first as usize))
                }
                _ => (first, 0, Vec::new()),
            };
            values.reserve(keep.len());
            values.par_extend(keep.par_iter().map(|&i| new(i as usize)));
            super::packed::encode(&values, from, offset)
        };
        macro_rules! packed {
            ($c:expr, $frames:expr, $prefix:expr, $new:expr) => {{
                let (f, bits) = pack($c, $frames, $prefix, $new);
                put($frames, as_bytes(&f))?;
                put($c, &bits)?;
            }};
        }
        let runs = super::columns::block_runs(&self.block, &self.time, keep, first);
        put(Column::BlockRuns, as_bytes(&runs))?;
        let old = |t: u32| old_by_tx.get(t as usize).copied().unwrap_or(0);
        let (by_tx, other) = super::columns::tx_indexes(&self.tx, &self.tx_index, keep, first, (self.tx_base, self.tx_hashes.len()), old);
        put(Column::TxIndex, as_bytes(&by_tx))?;
        put(Column::TxIndexOther, bytemuck::cast_slice(&other))?;
        packed!(Column::Sub, Column::SubFrames, &|ev, a, b| ev.subs(a, b).into_iter().map(sub_code).collect(), &|i| sub_code(self.sub[i]));
        packed!(Column::From, Column::FromFrames, &|ev, a, b| ev.senders(a, b), &|i| self.from[i]);
        packed!(Column::To, Column::ToFrames, &|ev, a, b| ev.receivers(a, b), &|i| self.to[i]);
        crate::store::crash::point("generation-columns");
        packed!(Column::Asset, Column::AssetFrames, &|ev, a, b| ev.assets(a, b), &|i| self.asset[i]);
        let (lo, hi) = super::columns::split_narrow::<u8>(keep.iter().map(|&i| self.value[i as usize]));
        put(Column::ValueLo, as_bytes(&lo))?;
        put(Column::ValueHi, as_bytes(&hi))?;
        drop((lo, hi));
        packed!(Column::Tx, Column::TxFrames, &|ev, a, b| ev.txs(a, b), &|i| self.tx[i]);
        let flag_prefix = |ev: &EventColumns<'_>, a, b| ev.flag_range(a, b).into_iter().map(u32::from).collect();
        packed!(Column::Flags, Column::FlagsFrames, &flag_prefix, &|i| u32::from(self.flags[i]));
        Ok(())
    }

    /// The files the store will list: the old ones, then the new ones with
    /// the events each added less its duplicates.
    pub(super) fn loaded_files(&self, dups: &[u64]) -> Vec<LoadedFile> {
        let mut files: Vec<LoadedFile> = self.files.iter().map(|(f, _)| f.clone()).collect();
        for (f, d) in files[self.old_files..].iter_mut().zip(dups) {
            // A reopened file keeps the duplicates of its earlier windows.
            f.duplicates += *d;
            f.events = f.events.saturating_sub(*d);
        }
        files
    }

    /// The big-value records of the kept events, numbered from event
    /// `first`: every value of [`super::Values::LIMIT`] or more.
    pub(super) fn big_records(&self, keep: &[EventPos], first: u64) -> Vec<u8> {
        let mut big = Vec::new();
        for (pos, &i) in keep.iter().enumerate() {
            let v = self.value[i as usize];
            if v >= super::Values::LIMIT {
                let wide = if v == u128::MAX { self.big.get(&(i as usize)).copied() } else { Some(ruint::aliases::U256::from(v)) };
                if let Some(wide) = wide {
                    big.extend_from_slice(&(first + pos as u64).to_le_bytes());
                    big.extend_from_slice(&wide.to_le_bytes::<32>());
                }
            }
        }
        big
    }

    pub(super) fn fee_coverage(&self, keep: &[EventPos]) -> FeeCoverage {
        const FEE: u8 = 1;
        const TOP: u8 = 2;
        const MINTED: u8 = 4;
        // A delta's rows belong to its own transactions, and to the store's
        // whose events a splice reloaded: ids from the lowest of those.
        let lo = keep.iter().map(|&i| self.tx[i as usize]).filter(|&t| t != NO_TX).min().map_or(self.tx_base, |t| t.min(self.tx_base));
        let mut seen = vec![0u8; (self.tx_base - lo) as usize + self.tx_hashes.len()];
        for &i in keep {
            let i = i as usize;
            let t = self.tx[i];
            if t == NO_TX {
                continue;
            }
            let s = &mut seen[(t - lo) as usize];
            if self.flags[i] & flags::FEE != 0 {
                *s |= FEE;
            } else if sub::class(self.sub[i]) == sub::TOP {
                *s |= TOP;
            }
            if self.flags[i] & flags::MINT != 0 {
                *s |= MINTED;
            }
        }
        let mut c = FeeCoverage::default();
        for s in seen {
            if s & FEE != 0 || (s & MINTED != 0 && self.chain == Chain::Bitcoin) {
                c.known_txs += 1;
            } else if s & TOP != 0 {
                c.unknown_txs += 1;
            }
        }
        c
    }

    /// The address index of this builder's own addresses (pseudo
    /// addresses have none): the whole index, or a delta's run of it; and
    /// the number of addresses it holds (the run's count).
    pub(super) fn address_index(&self) -> (Vec<u32>, usize) {
        let first = if self.addr_base == 0 { Pseudo::ALL.len() } else { 0 };
        let n = self.addr_offsets.len() - 1 - first;
        let bytes = |k: usize| &self.addr_bytes[self.addr_offsets[k] as usize..self.addr_offsets[k + 1] as usize];
        (super::hashindex::build_with(n, |rel| super::hashindex::key_hash(bytes(first + rel))), n)
    }

    fn write_segment(
        &self,
        dir: &Path,
        keep: &[EventPos],
        order: OrderBy,
        fees: FeeCoverage,
        dups: &[u64],
    ) -> Result<Manifest, StoreError> {
        let mut w = SegmentWriter::create(dir)?;
        let mut cols = BTreeMap::new();
        let mut put = |c: Column, bytes: &[u8]| -> Result<(), StoreError> {
            cols.insert(c.file().to_string(), w.put_column(bytes)?);
            Ok(())
        };
        // The balance replay is one sequential pass: it runs beside the
        // column encoding and index building instead of after them.
        let (written, (sender, finals)) = rayon::join(
            || -> Result<usize, StoreError> {
                self.put_event_columns(keep, 0, None, &mut put)?;
                crate::sys::timing("event columns");
                put(Column::AddrBytes, &self.addr_bytes)?;
                // Ethereum addresses are 20 bytes each: their offsets are implied.
                put(Column::AddrOffsets, if self.chain.is_account() { &[] } else { as_bytes(&self.addr_offsets) })?;
                let (index, addresses) = self.address_index();
                put(Column::AddrIndex, as_bytes(&index))?;
                put(Column::TxHashes, self.tx_hashes.as_flattened())?;
                put(Column::TxHashIndex, as_bytes(&super::hashindex::build(&self.tx_hashes)))?;
                put(Column::BigValues, &self.big_records(keep, 0))?;
                put(Column::Labels, &self.labels_tsv)?;
                crate::sys::timing("addresses and hashes");
                Ok(addresses)
            },
            || self.balances(keep),
        );
        let addresses = written?;
        put(Column::BalanceWide, &super::columns::wide_balances(&sender, 0))?;
        let (lo, hi) = super::columns::split_narrow::<u16>(sender.into_iter());
        put(Column::BalanceLo, as_bytes(&lo))?;
        put(Column::BalanceHi, as_bytes(&hi))?;
        drop((lo, hi));
        put(Column::FinalBalances, &finals)?;
        crate::sys::timing("balances");
        let inputs = self.put_bitcoin_columns(keep, 0, &Default::default(), &mut put)?;
        let logs = super::logs::put(&self.logs, &mut put)?;
        let memos = super::memos::put(&self.memos, &mut put)?;

        let files = self.loaded_files(dups);
        w.set_events(keep.len() as u64);
        let name = w.name().to_string();
        let segment = w.finish()?;
        crate::sys::timing("segment synced");
        let run = |count: usize| if count == 0 { Vec::new() } else { vec![Run { segment: name.clone(), count: count as u64 }] };
        let mut m = Manifest {
            format: FORMAT_NAME.to_string(),
            version: FORMAT_VERSION,
            chain: self.chain,
            order_by: if keep.is_empty() && self.order_by.is_none() { None } else { Some(order) },
            events: keep.len() as u64,
            address_table: (self.addr_offsets.len() - 1) as u64,
            tx_table: self.tx_hashes.len() as u64,
            inputs,
            logs,
            memos,
            assets: self.assets.clone(),
            files,
            skipped_rows: self.skipped_rows,
            fees,
            labels: self.labels,
            columns: cols,
            segments: vec![segment],
            addr_runs: run(addresses),
            tx_runs: run(self.tx_hashes.len()),
            balance_runs: run(finals.len() / 24),
            written_by: format!("chaintrace {}", env!("CARGO_PKG_VERSION")),
            lineage: String::new(),
            marks: Vec::new(),
        };
        m.lineage = m.new_lineage("", 0);
        Ok(m)
    }
}
