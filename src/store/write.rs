//! Building a new generation: the existing store plus new events, filled,
//! sorted by key, de-duplicated and written aside before one atomic switch.

use super::columns::{Column, as_bytes, cast};
use super::idtable::{IdTable, hash_bytes, hash20, hash32};
use super::{ColumnInfo, FORMAT_NAME, FORMAT_VERSION, FeeCoverage, LoadedFile, Manifest, Store};
use crate::model::amount::Amount;
use crate::model::ids::{AddrId, AssetId, IdLimit, TxId};
use crate::model::{Addr, AssetKey, Chain, NO_BLOCK, NO_TIME, NO_TX, OrderBy, Pseudo, TxHash, flags, sub};
use crate::store::StoreError;
use rayon::prelude::*;
use ruint::aliases::U256;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};

/// A Bitcoin input before the spent output is resolved.
#[derive(Clone, Copy, Debug)]
pub struct InputRow {
    /// Spending transaction id.
    pub tx: u32,
    /// Input index.
    pub index: u32,
    /// Spent transaction id.
    pub spent_tx: u32,
    /// Spent output index.
    pub spent_vout: u32,
    /// Value when the export gives it (`u64::MAX`: unknown).
    pub value: u64,
    /// Address id when the export gives it (`u32::MAX`: unknown).
    pub addr: u32,
}

/// The whole store in memory while an ingest adds to it.
pub struct Builder {
    /// Chain.
    pub chain: Chain,
    /// Ordering, once known.
    pub order_by: Option<OrderBy>,
    /// Block numbers.
    pub block: Vec<u64>,
    /// Block times.
    pub time: Vec<i64>,
    /// Transaction index + 1.
    pub tx_index: Vec<u32>,
    /// Position in the transaction.
    pub sub: Vec<u32>,
    /// Sender ids.
    pub from: Vec<u32>,
    /// Receiver ids.
    pub to: Vec<u32>,
    /// Asset ids.
    pub asset: Vec<u32>,
    /// Values (`u128::MAX` means: in `big`).
    pub value: Vec<u128>,
    /// Transaction ids.
    pub tx: Vec<u32>,
    /// Flags.
    pub flags: Vec<u8>,
    /// Values of 2^128-1 and above, by builder index.
    pub big: HashMap<usize, U256>,
    addr_bytes: Vec<u8>,
    addr_offsets: Vec<u64>,
    addr_ids: IdTable,
    /// Ethereum addresses by id, for fixed-width compares (pseudo ids hold zeros).
    eth_keys: Vec<[u8; 20]>,
    tx_hashes: Vec<TxHash>,
    tx_ids: IdTable,
    /// Asset names.
    pub assets: Vec<String>,
    asset_ids: HashMap<String, u32>,
    /// Bitcoin inputs.
    pub inputs: Vec<InputRow>,
    /// Files loaded so far, with the builder index where each one's events start.
    pub files: Vec<(LoadedFile, usize)>,
    /// Events that came from the existing store.
    pub old_events: usize,
    old_files: usize,
    /// Skipped rows, all ingests.
    pub skipped_rows: u64,
    /// Label rows.
    pub labels: u64,
    /// The labels file, carried from generation to generation.
    pub labels_tsv: Vec<u8>,
    /// The first id limit the data ran into: the builder then refuses to
    /// write (ids are never wrapped).
    limit: Option<IdLimit>,
}

impl Builder {
    /// An empty store for a chain.
    pub fn new(chain: Chain) -> Self {
        let mut b = Builder {
            chain,
            order_by: None,
            block: Vec::new(),
            time: Vec::new(),
            tx_index: Vec::new(),
            sub: Vec::new(),
            from: Vec::new(),
            to: Vec::new(),
            asset: Vec::new(),
            value: Vec::new(),
            tx: Vec::new(),
            flags: Vec::new(),
            big: HashMap::new(),
            addr_bytes: Vec::new(),
            addr_offsets: vec![0],
            addr_ids: IdTable::default(),
            eth_keys: Vec::new(),
            tx_hashes: Vec::new(),
            tx_ids: IdTable::default(),
            assets: Vec::new(),
            asset_ids: HashMap::new(),
            inputs: Vec::new(),
            files: Vec::new(),
            old_events: 0,
            old_files: 0,
            skipped_rows: 0,
            labels: 0,
            labels_tsv: Vec::new(),
            limit: None,
        };
        // Pseudo addresses take the first ids and never enter the id table.
        for p in Pseudo::ALL {
            b.addr_bytes.extend_from_slice(p.name().as_bytes());
            b.addr_offsets.push(b.addr_bytes.len() as u64);
            b.eth_keys.push([0u8; 20]);
        }
        b.intern_asset_name(chain.native());
        b
    }

    /// Start from an existing store.
    pub fn from_store(s: &Store) -> Self {
        let m = &s.manifest;
        let mut b = Builder::new(m.chain);
        b.order_by = m.order_by;
        let ev = s.events();
        b.block = ev.block.to_vec();
        b.time = ev.time.to_vec();
        b.tx_index = ev.tx_index.to_vec();
        b.sub = ev.sub.to_vec();
        b.from = ev.from.to_vec();
        b.to = ev.to.to_vec();
        b.asset = ev.asset.to_vec();
        b.value = ev.value.to_vec();
        b.tx = ev.tx.to_vec();
        b.flags = ev.flags.to_vec();
        b.big = s.big_values().iter().map(|(&i, &v)| (i as usize, v)).collect();
        b.addr_bytes = s.bytes(Column::AddrBytes).to_vec();
        b.addr_offsets = cast::<u64>(s.bytes(Column::AddrOffsets)).to_vec();
        let n_addr = b.addr_offsets.len() - 1;
        b.addr_ids = IdTable::default();
        b.eth_keys = vec![[0u8; 20]; Pseudo::ALL.len()];
        let first = Pseudo::ALL.len() as u32;
        if b.chain == Chain::Ethereum {
            let (bytes, offs) = (&b.addr_bytes, &b.addr_offsets);
            b.eth_keys.extend((first..n_addr as u32).map(|id| {
                let k = &bytes[offs[id as usize] as usize..offs[id as usize + 1] as usize];
                k.try_into().unwrap_or([0u8; 20])
            }));
            let keys = &b.eth_keys;
            b.addr_ids.reserve(n_addr, |id| hash20(&keys[id as usize]));
            for id in first..n_addr as u32 {
                b.addr_ids.find_or_insert(hash20(&keys[id as usize]), id, |_| false, |o| hash20(&keys[o as usize]));
            }
        } else {
            let (bytes, offs) = (&b.addr_bytes, &b.addr_offsets);
            let key = |id: u32| &bytes[offs[id as usize] as usize..offs[id as usize + 1] as usize];
            b.addr_ids.reserve(n_addr, |id| hash_bytes(key(id)));
            for id in first..n_addr as u32 {
                b.addr_ids.find_or_insert(hash_bytes(key(id)), id, |_| false, |o| hash_bytes(key(o)));
            }
        }
        b.tx_hashes = s.bytes(Column::TxHashes).chunks_exact(32).map(|c| c.try_into().expect("32 bytes")).collect();
        {
            let hashes = &b.tx_hashes;
            b.tx_ids.reserve(hashes.len(), |id| hash32(&hashes[id as usize]));
            for id in 0..hashes.len() as u32 {
                b.tx_ids.find_or_insert(hash32(&hashes[id as usize]), id, |_| false, |o| hash32(&hashes[o as usize]));
            }
        }
        b.assets.clear();
        b.asset_ids.clear();
        for a in &m.assets {
            b.intern_asset_name(a);
        }
        let it: &[u32] = cast(s.bytes(Column::InTx));
        let ii: &[u32] = cast(s.bytes(Column::InIndex));
        let st: &[u32] = cast(s.bytes(Column::InSpentTx));
        let sv: &[u32] = cast(s.bytes(Column::InSpentVout));
        let iv: &[u64] = cast(s.bytes(Column::InValue));
        let ia: &[u32] = cast(s.bytes(Column::InAddr));
        b.inputs = (0..it.len())
            .map(|k| InputRow { tx: it[k], index: ii[k], spent_tx: st[k], spent_vout: sv[k], value: iv[k], addr: ia[k] })
            .collect();
        b.files = m.files.iter().map(|f| (f.clone(), 0)).collect();
        b.old_events = b.block.len();
        b.old_files = b.files.len();
        b.skipped_rows = m.skipped_rows;
        b.labels = m.labels;
        b.labels_tsv = s.bytes(Column::Labels).to_vec();
        b
    }

    /// Number of events.
    pub fn len(&self) -> usize {
        self.block.len()
    }

    /// Whether there are no events.
    pub fn is_empty(&self) -> bool {
        self.block.is_empty()
    }

    /// The id-table hash of an address (0 for pseudo addresses, which are not in it).
    #[inline]
    pub fn addr_hash(a: &Addr) -> u64 {
        match a {
            Addr::Pseudo(_) => 0,
            Addr::Eth(k) => hash20(k),
            Addr::Text(t) => hash_bytes(t.as_bytes()),
        }
    }

    /// The id of an address, interning it.
    #[inline]
    pub fn intern_addr(&mut self, a: &Addr) -> AddrId {
        self.intern_addr_hashed(a, Self::addr_hash(a))
    }

    /// [`Builder::intern_addr`] with the hash already computed. Past the
    /// id limit it records the limit (see [`Builder::id_limit`]) and
    /// returns [`AddrId::UNKNOWN`]; the builder then refuses to write.
    #[inline]
    pub fn intern_addr_hashed(&mut self, a: &Addr, h: u64) -> AddrId {
        let new_id = match AddrId::new(self.addr_offsets.len() - 1) {
            Ok(id) => id.get(),
            Err(e) => return self.exhausted(e, AddrId::UNKNOWN),
        };
        let (id, inserted) = match a {
            Addr::Pseudo(p) => return p.addr(),
            Addr::Eth(k) => {
                let keys = &self.eth_keys;
                self.addr_ids.find_or_insert(h, new_id, |o| keys[o as usize] == *k, |o| hash20(&keys[o as usize]))
            }
            Addr::Text(t) => {
                let key = t.as_bytes();
                let (bytes, offs) = (&self.addr_bytes, &self.addr_offsets);
                let get = |id: u32| &bytes[offs[id as usize] as usize..offs[id as usize + 1] as usize];
                self.addr_ids.find_or_insert(h, new_id, |o| get(o) == key, |o| hash_bytes(get(o)))
            }
        };
        if inserted {
            self.addr_bytes.extend_from_slice(a.store_bytes());
            self.addr_offsets.push(self.addr_bytes.len() as u64);
            self.eth_keys.push(if let Addr::Eth(k) = a { *k } else { [0u8; 20] });
        }
        AddrId::from_stored(id)
    }

    /// Record the first id limit reached; `placeholder` stands in for the id.
    #[cold]
    fn exhausted<T>(&mut self, e: IdLimit, placeholder: T) -> T {
        self.limit.get_or_insert(e);
        placeholder
    }

    /// The id limit the data ran into, if any: such a builder cannot be written.
    pub fn id_limit(&self) -> Option<&IdLimit> {
        self.limit.as_ref()
    }

    /// Start loading the id-table slots for these hashes (addresses, transactions).
    #[inline]
    pub fn prefetch_slots(&self, addr_hashes: impl Iterator<Item = u64>, tx_hashes: impl Iterator<Item = u64>) {
        for h in addr_hashes {
            self.addr_ids.prefetch(h);
        }
        for h in tx_hashes {
            self.tx_ids.prefetch(h);
        }
    }

    /// Start loading the keys the slots for these address hashes point at.
    #[inline]
    pub fn prefetch_keys(&self, addr_hashes: impl Iterator<Item = u64>) {
        for h in addr_hashes {
            if let Some(id) = self.addr_ids.candidate(h)
                && let Some(k) = self.eth_keys.get(id as usize)
            {
                crate::sys::prefetch(k);
            }
        }
    }

    /// The id of a transaction hash, interning it.
    #[inline]
    pub fn intern_tx(&mut self, h: &TxHash) -> TxId {
        self.intern_tx_hashed(h, hash32(h))
    }

    /// [`Builder::intern_tx`] with the hash already computed (past the id
    /// limit: [`TxId::NONE`], and the builder refuses to write).
    #[inline]
    pub fn intern_tx_hashed(&mut self, h: &TxHash, hh: u64) -> TxId {
        let new_id = match TxId::new(self.tx_hashes.len()) {
            Ok(id) => id.get(),
            Err(e) => return self.exhausted(e, TxId::NONE),
        };
        let hashes = &self.tx_hashes;
        let (id, inserted) = self.tx_ids.find_or_insert(hh, new_id, |o| hashes[o as usize] == *h, |o| hash32(&hashes[o as usize]));
        if inserted {
            self.tx_hashes.push(*h);
        }
        TxId::from_stored(id)
    }

    fn intern_asset_name(&mut self, name: &str) -> AssetId {
        if let Some(&id) = self.asset_ids.get(name) {
            return AssetId::from_stored(id);
        }
        let id = match AssetId::new(self.assets.len()) {
            Ok(id) => id,
            Err(e) => return self.exhausted(e, AssetId::from_stored(0)),
        };
        self.assets.push(name.to_string());
        self.asset_ids.insert(name.to_string(), id.get());
        id
    }

    /// The id of an asset.
    pub fn intern_asset(&mut self, a: AssetKey) -> AssetId {
        match a {
            AssetKey::Native => AssetId::from_stored(0),
            AssetKey::Token(t) => self.intern_asset_name(&format!("0x{}", hex::encode(t))),
        }
    }

    /// Append one event (ids already interned).
    #[allow(clippy::too_many_arguments)]
    #[inline]
    pub fn push(
        &mut self,
        block: u64,
        time: i64,
        tx_index: u32,
        sub: u32,
        from: AddrId,
        to: AddrId,
        asset: AssetId,
        value: Amount,
        tx: TxId,
        fl: u8,
    ) {
        let i = self.block.len();
        self.block.push(block);
        self.time.push(time);
        self.tx_index.push(tx_index);
        self.sub.push(sub);
        self.from.push(from.get());
        self.to.push(to.get());
        self.asset.push(asset.get());
        match value.to_u128() {
            Some(v) if v != u128::MAX => self.value.push(v),
            _ => {
                self.value.push(u128::MAX);
                self.big.insert(i, value.0);
            }
        }
        self.tx.push(tx.get());
        self.flags.push(fl);
    }

    /// Size of the address table and of the transaction table, for rollback.
    pub fn mark(&self) -> (usize, usize, usize, usize, usize) {
        (self.len(), self.addr_offsets.len() - 1, self.tx_hashes.len(), self.assets.len(), self.inputs.len())
    }

    /// Undo everything added since `mark` (a file that turned out to be loaded already).
    pub fn rollback(&mut self, mark: (usize, usize, usize, usize, usize)) {
        let (ev, na, nt, nas, ni) = mark;
        for v in [&mut self.tx_index, &mut self.sub, &mut self.from, &mut self.to, &mut self.asset, &mut self.tx] {
            v.truncate(ev);
        }
        self.block.truncate(ev);
        self.time.truncate(ev);
        self.value.truncate(ev);
        self.flags.truncate(ev);
        self.big.retain(|&i, _| i < ev);
        self.addr_offsets.truncate(na + 1);
        self.addr_bytes.truncate(self.addr_offsets[na] as usize);
        self.eth_keys.truncate(na);
        if self.chain == Chain::Ethereum {
            let keys = &self.eth_keys;
            self.addr_ids.truncate(na as u32, |id| hash20(&keys[id as usize]));
        } else {
            let (bytes, offs) = (&self.addr_bytes, &self.addr_offsets);
            self.addr_ids.truncate(na as u32, |id| hash_bytes(&bytes[offs[id as usize] as usize..offs[id as usize + 1] as usize]));
        }
        self.tx_hashes.truncate(nt);
        let hashes = &self.tx_hashes;
        self.tx_ids.truncate(nt as u32, |id| hash32(&hashes[id as usize]));
        for a in self.assets.drain(nas..) {
            self.asset_ids.remove(&a);
        }
        self.inputs.truncate(ni);
    }

    /// Content hashes already loaded.
    pub fn loaded_hashes(&self) -> HashSet<String> {
        self.files.iter().map(|(f, _)| f.content_hash.clone()).collect()
    }
}

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
    /// Fill what one source lacks from another: block times from events of
    /// the same block, transaction indices from events of the same transaction.
    fn fill(&mut self) {
        let n = self.len();
        let need_time = (0..n).into_par_iter().any(|i| self.time[i] == NO_TIME && self.block[i] != NO_BLOCK);
        let need_index = (0..n).into_par_iter().any(|i| self.tx_index[i] == 0 && self.tx[i] != NO_TX);
        if need_time {
            let mut block_time: HashMap<u64, i64> = HashMap::new();
            for i in 0..n {
                if self.block[i] != NO_BLOCK && self.time[i] != NO_TIME {
                    block_time.entry(self.block[i]).or_insert(self.time[i]);
                }
            }
            for i in 0..n {
                if self.time[i] == NO_TIME
                    && self.block[i] != NO_BLOCK
                    && let Some(&t) = block_time.get(&self.block[i])
                {
                    self.time[i] = t;
                }
            }
        }
        if need_index {
            // Index and block per transaction id, from events that have both.
            let mut pos: Vec<(u64, u32)> = vec![(NO_BLOCK, 0); self.tx_hashes.len()];
            for i in 0..n {
                let t = self.tx[i];
                if t != NO_TX && self.tx_index[i] != 0 && self.tx_index[i] != u32::MAX && pos[t as usize].1 == 0 {
                    pos[t as usize] = (self.block[i], self.tx_index[i]);
                }
            }
            for i in 0..n {
                let t = self.tx[i];
                if self.tx_index[i] == 0 && t != NO_TX {
                    let (b, ix) = pos[t as usize];
                    if ix != 0 && b == self.block[i] {
                        self.tx_index[i] = ix;
                    }
                }
            }
        }
    }

    /// Make room for about `events` more events and `txs` more transactions,
    /// so columns do not double (and briefly triple) as they grow.
    pub fn reserve(&mut self, events: usize, txs: usize) {
        let need = self.len() + events;
        if self.block.capacity() >= need {
            return;
        }
        let extra = need - self.len();
        self.block.reserve_exact(extra);
        self.time.reserve_exact(extra);
        self.tx_index.reserve_exact(extra);
        self.sub.reserve_exact(extra);
        self.from.reserve_exact(extra);
        self.to.reserve_exact(extra);
        self.asset.reserve_exact(extra);
        self.value.reserve_exact(extra);
        self.tx.reserve_exact(extra);
        self.flags.reserve_exact(extra);
        self.tx_hashes.reserve_exact(txs);
        let hashes = &self.tx_hashes;
        self.tx_ids.reserve(txs, |id| hash32(&hashes[id as usize]));
    }

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

    /// Bitcoin: resolve inputs against outputs in the data, set each output's
    /// sender to its transaction's first input address, add fee events.
    fn resolve_bitcoin(&mut self) {
        if self.chain != Chain::Bitcoin {
            return;
        }
        let mut outputs: HashMap<(u32, u32), usize> = HashMap::new();
        let mut fee_txs: HashSet<u32> = HashSet::new();
        for i in 0..self.len() {
            if self.tx[i] == NO_TX {
                continue;
            }
            if sub::class(self.sub[i]) == sub::TOP {
                outputs.insert((self.tx[i], self.sub[i] & sub::MAX_INDEX), i);
            } else if self.flags[i] & flags::FEE != 0 {
                fee_txs.insert(self.tx[i]);
            }
        }
        for k in 0..self.inputs.len() {
            let inp = self.inputs[k];
            if let Some(&o) = outputs.get(&(inp.spent_tx, inp.spent_vout)) {
                if inp.value == u64::MAX {
                    self.inputs[k].value = u64::try_from(self.value[o]).unwrap_or(u64::MAX);
                }
                if inp.addr == u32::MAX {
                    self.inputs[k].addr = self.to[o];
                }
            }
        }
        // Inputs of each spending transaction, in input order.
        let mut by_tx: BTreeMap<u32, Vec<InputRow>> = BTreeMap::new();
        for inp in &self.inputs {
            by_tx.entry(inp.tx).or_default().push(*inp);
        }
        let mut out_events: HashMap<u32, Vec<usize>> = HashMap::new();
        for (&(tx, _), &i) in &outputs {
            out_events.entry(tx).or_default().push(i);
        }
        for (tx, mut ins) in by_tx {
            ins.sort_by_key(|r| r.index);
            let Some(outs) = out_events.get(&tx) else { continue };
            let first_addr = ins.first().map_or(u32::MAX, |r| r.addr);
            if first_addr != u32::MAX {
                for &o in outs {
                    if self.from[o] == Pseudo::Unknown.id() {
                        self.from[o] = first_addr;
                    }
                }
            }
            if fee_txs.contains(&tx) || ins.iter().any(|r| r.value == u64::MAX) {
                continue;
            }
            let total_in: u128 = ins.iter().map(|r| u128::from(r.value)).sum();
            let total_out: u128 = outs.iter().map(|&o| self.value[o]).sum();
            let o0 = outs[0];
            let fee = total_in.saturating_sub(total_out);
            let (b, t, ix) = (self.block[o0], self.time[o0], self.tx_index[o0]);
            let from = if first_addr == u32::MAX { Pseudo::Unknown.id() } else { first_addr };
            // Ids read back from the builder's own columns: already checked when made.
            self.push(
                b,
                t,
                ix,
                sub::FEE,
                AddrId::from_stored(from),
                Pseudo::Fees.addr(),
                AssetId::from_stored(0),
                Amount::from_u128(fee),
                TxId::from_stored(tx),
                flags::FEE,
            );
        }
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
        let perm: Vec<u32> = if sorted {
            (0..n as u32).collect()
        } else {
            let mut keys: Vec<(u64, u64, u32)> = (0..n)
                .into_par_iter()
                .map(|i| {
                    let (a, b) = key(i);
                    (a, b, i as u32)
                })
                .collect();
            keys.par_sort_unstable();
            keys.into_iter().map(|k| k.2).collect()
        };
        // Drop repeats of (transaction, position): they sit in one run of equal keys,
        // and the first loaded comes first in it.
        let mut keep: Vec<u32> = Vec::with_capacity(n);
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
            keep.push(i as u32);
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

    fn fee_coverage(&self, keep: &[u32]) -> FeeCoverage {
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

    /// Every address's running balance, per asset, replayed in key order with
    /// the tracer's rules (nothing moves on failed or no-transfer events, an
    /// overdraft is first credited as unknown origin, a self-transfer moves
    /// nothing): the sender's balance before each event, and the balances left
    /// at the end. With these the tracer need not keep balances itself and can
    /// skip every event between addresses that hold no taint. A balance that
    /// does not fit 128 bits stays `u128::MAX` and sends the tracer back to its
    /// full 320-bit sweep.
    fn balances(&self, keep: &[u32]) -> (Vec<u128>, Vec<u8>) {
        let n_addr = self.addr_offsets.len() - 1;
        let mut native = vec![0u128; n_addr];
        let mut tokens: HashMap<(u32, u32), u128> = HashMap::new();
        let mut sender = vec![0u128; keep.len()];
        const AHEAD: usize = 16;
        for (p, &i) in keep.iter().enumerate() {
            if let Some(&j) = keep.get(p + AHEAD) {
                crate::sys::prefetch(&native[self.from[j as usize] as usize]);
                crate::sys::prefetch(&native[self.to[j as usize] as usize]);
            }
            let i = i as usize;
            if self.flags[i] & flags::MOVES_NOTHING != 0 || self.value[i] == 0 {
                continue;
            }
            let (u, v, asset) = (self.from[i], self.to[i], self.asset[i]);
            sender[p] = if asset == 0 {
                replay(&mut native, u, v, self.value[i])
            } else {
                replay(&mut Token { map: &mut tokens, asset }, u, v, self.value[i])
            };
        }
        let mut finals: Vec<(u32, u32, u128)> =
            native.iter().enumerate().filter(|(_, b)| **b != 0).map(|(x, &b)| (0, x as u32, b)).collect();
        let mut tok: Vec<(u32, u32, u128)> = tokens.into_iter().filter(|(_, b)| *b != 0).map(|((a, x), b)| (a, x, b)).collect();
        tok.sort_unstable();
        finals.extend(tok);
        let mut bytes = Vec::with_capacity(finals.len() * 24);
        for (a, x, b) in finals {
            bytes.extend_from_slice(&a.to_le_bytes());
            bytes.extend_from_slice(&x.to_le_bytes());
            bytes.extend_from_slice(&b.to_le_bytes());
        }
        (sender, bytes)
    }

    fn write_generation(&self, gen_dir: &Path, keep: &[u32], order: OrderBy, fees: FeeCoverage, dups: &[u64]) -> Result<(), StoreError> {
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
            keep: &[u32],
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

/// Balances of one asset by address id; `UNFIT` where they do not fit 128 bits.
trait Balances {
    fn get(&self, x: u32) -> u128;
    fn set(&mut self, x: u32, b: u128);
}

const UNFIT: u128 = u128::MAX;

impl Balances for Vec<u128> {
    fn get(&self, x: u32) -> u128 {
        self[x as usize]
    }
    fn set(&mut self, x: u32, b: u128) {
        self[x as usize] = b;
    }
}

struct Token<'a> {
    map: &'a mut HashMap<(u32, u32), u128>,
    asset: u32,
}

impl Balances for Token<'_> {
    fn get(&self, x: u32) -> u128 {
        self.map.get(&(self.asset, x)).copied().unwrap_or(0)
    }
    fn set(&mut self, x: u32, b: u128) {
        self.map.insert((self.asset, x), b);
    }
}

/// Move `a` from `u` to `v` (a big value, ≥ 2^128-1, is itself `UNFIT`);
/// returns `u`'s balance before. An overdraft is first credited as unknown
/// origin, so a sender that fits is left with `max(b, a) - a`: zero after a
/// big value. Only what is truly unknown becomes `UNFIT`.
fn replay(bal: &mut impl Balances, u: u32, v: u32, a: u128) -> u128 {
    let bu = bal.get(u);
    let after_u = match (bu, a) {
        (UNFIT, _) => UNFIT,
        (_, UNFIT) => 0,
        _ => bu.max(a) - a,
    };
    if u == v {
        // Nothing moves, but an overdraft is still credited.
        bal.set(u, if bu == UNFIT || a == UNFIT { UNFIT } else { bu.max(a) });
        return bu;
    }
    bal.set(u, after_u);
    let bv = bal.get(v);
    let after_v = if bv == UNFIT || a == UNFIT { UNFIT } else { bv.checked_add(a).filter(|&s| s != UNFIT).unwrap_or(UNFIT) };
    bal.set(v, after_v);
    bu
}

/// Write one column file of a generation; returns its size and checksum for the manifest.
fn write_column(gen_dir: &Path, c: Column, bytes: &[u8]) -> Result<ColumnInfo, StoreError> {
    write_file(&gen_dir.join(c.file()), bytes)?;
    Ok(ColumnInfo { bytes: bytes.len() as u64, xxh3: format!("{:016x}", xxhash_rust::xxh3::xxh3_64(bytes)) })
}

fn write_file(p: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let io = |source| StoreError::Io { path: p.to_path_buf(), source };
    let mut f = std::fs::File::create(p).map_err(io)?;
    f.write_all(bytes).map_err(io)?;
    f.sync_all().map_err(io)?;
    Ok(())
}

fn sync_dir(p: &Path) -> Result<(), StoreError> {
    std::fs::File::open(p).and_then(|f| f.sync_all()).map_err(|source| StoreError::Io { path: p.to_path_buf(), source })
}

fn current_generation(dir: &Path) -> Option<String> {
    let cur = std::fs::read_to_string(dir.join("CURRENT")).ok()?;
    cur.split_whitespace().next().map(str::to_string)
}

fn new_generation_dir(dir: &Path) -> Result<PathBuf, StoreError> {
    let io = |source| StoreError::Io { path: dir.to_path_buf(), source };
    std::fs::create_dir_all(dir).map_err(io)?;
    let mut next = 1u64;
    for e in std::fs::read_dir(dir).map_err(io)? {
        let name = e.map_err(io)?.file_name().to_string_lossy().into_owned();
        if let Some(n) = name.strip_prefix("gen-").and_then(|s| s.parse::<u64>().ok()) {
            next = next.max(n + 1);
        }
    }
    let p = dir.join(format!("gen-{next:06}"));
    std::fs::create_dir(&p).map_err(|source| StoreError::Io { path: p.clone(), source })?;
    Ok(p)
}

/// Point `CURRENT` at `gen` with one atomic rename, then remove older generations.
fn switch_current(dir: &Path, gen_dir: &Path) -> Result<(), StoreError> {
    let name = gen_dir.file_name().expect("generation has a name").to_string_lossy().into_owned();
    let mpath = gen_dir.join("manifest.json");
    let m = std::fs::read(&mpath).map_err(|source| StoreError::Io { path: mpath.clone(), source })?;
    let tmp = dir.join("CURRENT.tmp");
    write_file(&tmp, format!("{name} {:016x}\n", xxhash_rust::xxh3::xxh3_64(&m)).as_bytes())?;
    let old = current_generation(dir);
    crate::store::crash::point("before-rename");
    std::fs::rename(&tmp, dir.join("CURRENT")).map_err(|source| StoreError::Io { path: dir.join("CURRENT"), source })?;
    sync_dir(dir)?;
    crate::store::crash::point("after-rename");
    // Old generations and leftovers of killed ingests; readers that still map
    // an old one keep their pages until they close.
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if n.starts_with("gen-") && n != name && (Some(&n) == old.as_ref() || n < name) {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
    Ok(())
}

/// Add label rows (lines of the labels column; `labels::save` writes them
/// from its schema, which the store does not read): a new generation whose
/// columns are hard links to the live one's (they never change once
/// written), with the longer labels file. Returns the rows added and the
/// rows in the store.
pub fn import_label_rows<'a>(dir: &Path, rows: impl Iterator<Item = &'a str>) -> Result<(u64, u64), StoreError> {
    let _lock = lock(dir)?;
    let store = Store::open(dir)?;
    store.verify()?;
    let mut manifest = store.manifest.clone();
    let new_rows = std::cell::Cell::new(0u64);
    let gen_dir = new_generation_dir(dir)?;
    let result = (|| -> Result<(), StoreError> {
        for name in manifest.columns.keys() {
            if name == Column::Labels.file() {
                continue;
            }
            let (from, to) = (store.gen_dir.join(name), gen_dir.join(name));
            if std::fs::hard_link(&from, &to).is_err() {
                std::fs::copy(&from, &to).map_err(|source| StoreError::Io { path: to.clone(), source })?;
            }
        }
        crate::store::crash::point("labels-generation");
        // A row already in the store (same address, category, name and
        // interval) is not added again, so importing a file twice is harmless.
        let mut text = store.bytes(Column::Labels).to_vec();
        let existing: std::collections::HashSet<String> = String::from_utf8_lossy(&text).lines().map(str::to_string).collect();
        let mut added = 0u64;
        for line in rows {
            if !existing.contains(line) {
                text.extend_from_slice(line.as_bytes());
                text.push(b'\n');
                added += 1;
            }
        }
        new_rows.set(added);
        manifest.columns.insert(Column::Labels.file().to_string(), write_column(&gen_dir, Column::Labels, &text)?);
        manifest.labels += new_rows.get();
        let json =
            serde_json::to_vec_pretty(&manifest).map_err(|e| StoreError::Corrupt { path: gen_dir.clone(), message: e.to_string() })?;
        write_file(&gen_dir.join("manifest.json"), &json)?;
        sync_dir(&gen_dir)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_dir_all(&gen_dir);
        return Err(e);
    }
    drop(store);
    switch_current(dir, &gen_dir)?;
    Ok((new_rows.get(), manifest.labels))
}

/// Take the store's write lock for the life of the returned file.
pub fn lock(dir: &Path) -> Result<std::fs::File, StoreError> {
    let io = |source| StoreError::Io { path: dir.to_path_buf(), source };
    std::fs::create_dir_all(dir).map_err(io)?;
    let f = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(dir.join("LOCK")).map_err(io)?;
    match f.try_lock() {
        Ok(()) => Ok(f),
        Err(std::fs::TryLockError::WouldBlock) => {
            Err(StoreError::Mismatch { path: dir.to_path_buf(), message: "another chaintrace process is writing this store".into() })
        }
        Err(std::fs::TryLockError::Error(e)) => Err(io(e)),
    }
}
