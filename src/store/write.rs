//! Writing a new generation: the builder's events sorted by key,
//! de-duplicated and written aside as columns before one atomic switch.

use super::builder::{Builder, InputRow};
use super::columns::{Column, as_bytes};
use super::generation::{new_generation_dir, switch_current, sync_dir, write_column, write_file};
use super::idtable::IdTable;
use super::{ColumnInfo, FORMAT_NAME, FORMAT_VERSION, FeeCoverage, LoadedFile, Manifest};
use crate::model::ids::EventPos;
use crate::model::{Chain, NO_BLOCK, NO_TIME, NO_TX, OrderBy, Pseudo, flags, sub};
use crate::store::StoreError;
use rayon::prelude::*;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

/// Writes one column file and records its checksum.
type PutColumn<'a> = dyn Fn(Column, &[u8]) -> Result<(), StoreError> + Sync + 'a;

/// What a write did.
#[derive(Clone, Debug, Default)]
pub struct WriteSummary {
    /// Events in the new store.
    pub events: u64,
    /// New events dropped as already present, per new file (same order as the builder's new files).
    pub duplicates: Vec<u64>,
}

fn primary_key(order: OrderBy, block: u64, time: i64) -> u64 {
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
    pub fn write(mut self, dir: &Path) -> Result<WriteSummary, StoreError> {
        if let Some(e) = self.limit.take() {
            return Err(StoreError::Limit(e));
        }
        self.resolve_bitcoin();
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
        let perm: Vec<EventPos> = if sorted {
            (0..n as EventPos).collect()
        } else {
            let mut keys: Vec<(u64, u64, EventPos)> = (0..n)
                .into_par_iter()
                .map(|i| {
                    let (a, b) = key(i);
                    (a, b, i as EventPos)
                })
                .collect();
            keys.par_sort_unstable();
            keys.into_iter().map(|k| k.2).collect()
        };
        // Drop repeats of (transaction, position): they sit in one run of equal keys,
        // and the first loaded comes first in it.
        // Event positions are 64-bit end to end (model::ids::EventPos).
        let mut keep: Vec<EventPos> = Vec::with_capacity(n);
        let new_files: Vec<usize> = self.files[self.old_files..].iter().map(|(_, s)| *s).collect();
        let mut dups = vec![0u64; new_files.len()];
        let mut seen: Vec<u32> = Vec::new();
        for (p, &i) in perm.iter().enumerate() {
            let i = i as usize;
            if p == 0 || key(perm[p - 1] as usize) != key(i) {
                seen.clear();
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
        let fees = self.fee_coverage(&keep);
        let tmp = new_generation_dir(dir)?;
        let result = self.write_generation(&tmp, &keep, order, fees, &dups);
        if let Err(e) = result {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(e);
        }
        crate::store::crash::point("generation-written");
        switch_current(dir, &tmp)?;
        Ok(WriteSummary { events: keep.len() as u64, duplicates: dups })
    }

    fn fee_coverage(&self, keep: &[EventPos]) -> FeeCoverage {
        const FEE: u8 = 1;
        const TOP: u8 = 2;
        const MINTED: u8 = 4;
        let mut seen = vec![0u8; self.tx_hashes.len()];
        for &i in keep {
            let i = i as usize;
            let t = self.tx[i];
            if t == NO_TX {
                continue;
            }
            let s = &mut seen[t as usize];
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

    /// Address ids in the order of their bytes (pseudo addresses have none).
    fn address_index(&self) -> Vec<u32> {
        let bytes = |id: u32| &self.addr_bytes[self.addr_offsets[id as usize] as usize..self.addr_offsets[id as usize + 1] as usize];
        let mut ids: Vec<u32> = (Pseudo::ALL.len() as u32..(self.addr_offsets.len() - 1) as u32).collect();
        ids.par_sort_unstable_by(|&a, &b| bytes(a).cmp(bytes(b)));
        ids
    }

    fn write_generation(
        &self,
        gen_dir: &Path,
        keep: &[EventPos],
        order: OrderBy,
        fees: FeeCoverage,
        dups: &[u64],
    ) -> Result<(), StoreError> {
        let cols: std::sync::Mutex<BTreeMap<String, ColumnInfo>> = std::sync::Mutex::new(BTreeMap::new());
        let put = |c: Column, bytes: &[u8]| -> Result<(), StoreError> {
            let info = write_column(gen_dir, c, bytes)?;
            cols.lock().expect("no panics while holding the lock").insert(c.file().to_string(), info);
            Ok(())
        };
        // Already in order with nothing dropped (the common append): write the
        // columns as they are, without a gathered copy.
        let identity = keep.len() == self.len() && keep.iter().enumerate().all(|(p, &i)| p == i as usize);
        fn put_col<T: super::columns::Pod + Send + Sync>(
            put: &PutColumn<'_>,
            c: Column,
            src: &[T],
            keep: &[EventPos],
            identity: bool,
        ) -> Result<(), StoreError> {
            if identity {
                put(c, as_bytes(src))
            } else {
                let v: Vec<T> = keep.par_iter().map(|&i| src[i as usize]).collect();
                put(c, as_bytes(&v))
            }
        }
        type Job<'a> = Box<dyn Fn() -> Result<(), StoreError> + Send + Sync + 'a>;
        let jobs: Vec<Job<'_>> = vec![
            Box::new(|| put_col(&put, Column::Block, &self.block, keep, identity)),
            Box::new(|| put_col(&put, Column::Time, &self.time, keep, identity)),
            Box::new(|| put_col(&put, Column::TxIndex, &self.tx_index, keep, identity)),
            Box::new(|| put_col(&put, Column::Sub, &self.sub, keep, identity)),
            Box::new(|| put_col(&put, Column::From, &self.from, keep, identity)),
            Box::new(|| put_col(&put, Column::To, &self.to, keep, identity)),
            Box::new(|| put_col(&put, Column::Asset, &self.asset, keep, identity)),
            Box::new(|| put_col(&put, Column::Value, &self.value, keep, identity)),
            Box::new(|| put_col(&put, Column::Tx, &self.tx, keep, identity)),
            Box::new(|| put_col(&put, Column::Flags, &self.flags, keep, identity)),
            Box::new(|| put(Column::AddrBytes, &self.addr_bytes)),
            Box::new(|| put(Column::AddrOffsets, as_bytes(&self.addr_offsets))),
            Box::new(|| put(Column::AddrIndex, as_bytes(&self.address_index()))),
            Box::new(|| put(Column::TxHashes, self.tx_hashes.as_flattened())),
            Box::new(|| put(Column::TxHashIndex, as_bytes(&super::txindex::build(&self.tx_hashes)))),
        ];
        // Two at a time: enough to overlap copying with syncing without
        // holding several gathered columns at once.
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .map_err(|e| StoreError::Io { path: gen_dir.to_path_buf(), source: std::io::Error::other(e.to_string()) })?;
        pool.install(|| jobs.par_iter().with_max_len(1).try_for_each(|j| j()))?;
        drop(jobs);
        crate::store::crash::point("generation-columns");
        let mut big = Vec::new();
        if !self.big.is_empty() {
            for (pos, &i) in keep.iter().enumerate() {
                if let Some(v) = self.big.get(&(i as usize)) {
                    big.extend_from_slice(&(pos as u64).to_le_bytes());
                    big.extend_from_slice(&v.to_le_bytes::<32>());
                }
            }
        }
        put(Column::BigValues, &big)?;
        put(Column::Labels, &self.labels_tsv)?;
        let (sender, finals) = self.balances(keep);
        put(Column::SenderBalance, as_bytes(&sender))?;
        drop(sender);
        put(Column::FinalBalances, &finals)?;
        // Bitcoin inputs: first copy wins, sorted by spending transaction and index.
        let mut seen = HashSet::new();
        let mut inputs: Vec<InputRow> = self.inputs.iter().copied().filter(|r| seen.insert((r.tx, r.index))).collect();
        inputs.sort_by_key(|r| (r.tx, r.index));
        let mut out_pos: HashMap<(u32, u32), u64> = HashMap::new();
        if !inputs.is_empty() {
            for (pos, &i) in keep.iter().enumerate() {
                let i = i as usize;
                if self.tx[i] != NO_TX && sub::class(self.sub[i]) == sub::TOP {
                    out_pos.insert((self.tx[i], self.sub[i] & sub::MAX_INDEX), pos as u64);
                }
            }
        }
        put(Column::InTx, as_bytes(&inputs.iter().map(|r| r.tx).collect::<Vec<_>>()))?;
        put(Column::InIndex, as_bytes(&inputs.iter().map(|r| r.index).collect::<Vec<_>>()))?;
        put(Column::InSpentTx, as_bytes(&inputs.iter().map(|r| r.spent_tx).collect::<Vec<_>>()))?;
        put(Column::InSpentVout, as_bytes(&inputs.iter().map(|r| r.spent_vout).collect::<Vec<_>>()))?;
        put(Column::InValue, as_bytes(&inputs.iter().map(|r| r.value).collect::<Vec<_>>()))?;
        put(Column::InAddr, as_bytes(&inputs.iter().map(|r| r.addr).collect::<Vec<_>>()))?;
        let spent: Vec<u64> = inputs.iter().map(|r| out_pos.get(&(r.spent_tx, r.spent_vout)).copied().unwrap_or(u64::MAX)).collect();
        put(Column::InSpentEvent, as_bytes(&spent))?;

        let mut files: Vec<LoadedFile> = self.files.iter().map(|(f, _)| f.clone()).collect();
        for (f, d) in files[self.old_files..].iter_mut().zip(dups) {
            f.duplicates = *d;
            f.events = f.events.saturating_sub(*d);
        }
        let cols = cols.into_inner().expect("no panics while holding the lock");
        let manifest = Manifest {
            format: FORMAT_NAME.to_string(),
            version: FORMAT_VERSION,
            chain: self.chain,
            order_by: if keep.is_empty() && self.order_by.is_none() { None } else { Some(order) },
            events: keep.len() as u64,
            address_table: (self.addr_offsets.len() - 1) as u64,
            tx_table: self.tx_hashes.len() as u64,
            inputs: inputs.len() as u64,
            assets: self.assets.clone(),
            files,
            skipped_rows: self.skipped_rows,
            fees,
            labels: self.labels,
            columns: cols,
            written_by: format!("chaintrace {}", env!("CARGO_PKG_VERSION")),
        };
        let json = serde_json::to_vec_pretty(&manifest)
            .map_err(|e| StoreError::Corrupt { path: gen_dir.to_path_buf(), message: e.to_string() })?;
        write_file(&gen_dir.join("manifest.json"), &json)?;
        sync_dir(gen_dir)?;
        Ok(())
    }
}
