//! The store builder: what an ingest adds, in memory. Addresses,
//! transactions and assets are interned here into dense ids (`model::ids`:
//! checked, never wrapped). Over an existing store the builder is a delta:
//! it holds only the new rows and the new addresses and transactions,
//! numbered after the store's, and finds old ones in the store's indexes;
//! `append` writes it as one new segment, or `write` loads the store and
//! rewrites it whole when the new rows reach back before its end.

use super::columns::{Column, cast};
use super::idtable::{IdTable, hash_bytes, hash20, hash32};
use super::{LoadedFile, Store};
use crate::model::amount::Amount;
use crate::model::ids::{AddrId, AssetId, IdLimit, TxId};
use crate::model::{Addr, AssetKey, Chain, OrderBy, Pseudo, TxHash};
use ruint::aliases::U256;
use std::collections::{HashMap, HashSet};

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

/// A recognised log (`convert::topics`): what a conversion is detected by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct LogRow {
    /// Transaction id.
    pub tx: u32,
    /// Log index in the block.
    pub index: u32,
    /// Address id of the contract that emitted it.
    pub emitter: u32,
    /// `convert::topics::Kind::code`.
    pub kind: u8,
}

/// One memo: on a Bitcoin store the data an output's script pushes after
/// `OP_RETURN`; on an account-model store the memo of a THORChain router
/// log (`Deposit`, `TransferOut`) or the fields of another bridge's log
/// (its topics after the first, then its data: `Kind::kept_topics`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemoRow {
    /// Transaction id.
    pub tx: u32,
    /// Bitcoin: the output index. Account model: the router log's index.
    pub vout: u32,
    /// Bitcoin: the pushed bytes (`convert::memo::op_return_data`). Account
    /// model: the log's memo string (`convert::abi::abi_string`), UTF-8.
    pub data: Vec<u8>,
}

/// What an ingest adds (and, for a rewrite, the whole store), in memory.
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
    pub(super) addr_bytes: Vec<u8>,
    pub(super) addr_offsets: Vec<u64>,
    pub(super) addr_ids: IdTable,
    /// Ethereum addresses by id, for fixed-width compares (pseudo ids hold zeros).
    pub(super) eth_keys: Vec<[u8; 20]>,
    pub(super) tx_hashes: Vec<TxHash>,
    pub(super) tx_ids: IdTable,
    /// Asset names.
    pub assets: Vec<String>,
    pub(super) asset_ids: HashMap<String, u32>,
    /// Token contracts already interned, so a token row's asset costs a
    /// lookup instead of a hex string built and hashed (cleared on rollback).
    token_ids: HashMap<[u8; 20], u32>,
    /// Bitcoin inputs.
    pub inputs: Vec<InputRow>,
    /// Recognised logs.
    pub logs: Vec<LogRow>,
    /// Memos: Bitcoin `OP_RETURN` data, or THORChain router log memos and bridge log fields.
    pub memos: Vec<MemoRow>,
    /// Files loaded so far, with the builder index where each one's events start.
    pub files: Vec<(LoadedFile, usize)>,
    /// Events that came from the existing store.
    pub old_events: usize,
    pub(super) old_files: usize,
    /// Skipped rows, all ingests.
    pub skipped_rows: u64,
    /// Label rows.
    pub labels: u64,
    /// The labels file, carried from generation to generation.
    pub labels_tsv: Vec<u8>,
    /// The first id limit the data ran into: the builder then refuses to
    /// write (ids are never wrapped).
    pub(super) limit: Option<IdLimit>,
    /// The store this is a delta of: ids below `addr_base` and `tx_base`
    /// are its; the tables here hold only the ids from there on.
    pub(super) base: Option<Store>,
    /// The first address id of this builder's own table.
    pub(super) addr_base: u32,
    /// The first transaction id of this builder's own table.
    pub(super) tx_base: u32,
    /// Every address of the base store is in `addr_ids` (a large delta):
    /// a miss there is a new address, no index search needed.
    addrs_preloaded: bool,
}

/// The 20 bytes of Ethereum address `id` (zeros for pseudo addresses).
#[inline]
fn eth_key<'a>(base: Option<&'a Store>, addr_base: u32, keys: &'a [[u8; 20]], id: u32) -> &'a [u8; 20] {
    match id.checked_sub(addr_base) {
        Some(k) => &keys[k as usize],
        None => base.and_then(|s| s.address_bytes(id).try_into().ok()).unwrap_or(&[0u8; 20]),
    }
}

/// The stored bytes of address `id`.
#[inline]
fn addr_key<'a>(base: Option<&'a Store>, addr_base: u32, bytes: &'a [u8], offs: &'a [u64], id: u32) -> &'a [u8] {
    match id.checked_sub(addr_base) {
        Some(k) => &bytes[offs[k as usize] as usize..offs[k as usize + 1] as usize],
        None => base.map_or(&[][..], |s| s.address_bytes(id)),
    }
}

/// The hash of transaction `id`.
#[inline]
pub(super) fn tx_key<'a>(base: Option<&'a Store>, tx_base: u32, hashes: &'a [TxHash], id: u32) -> &'a TxHash {
    match id.checked_sub(tx_base) {
        Some(k) => &hashes[k as usize],
        None => base.and_then(|s| s.tx_hash(id).try_into().ok()).unwrap_or(&[0u8; 32]),
    }
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
            token_ids: HashMap::new(),
            inputs: Vec::new(),
            logs: Vec::new(),
            memos: Vec::new(),
            files: Vec::new(),
            old_events: 0,
            old_files: 0,
            skipped_rows: 0,
            labels: 0,
            labels_tsv: Vec::new(),
            limit: None,
            base: None,
            addr_base: 0,
            tx_base: 0,
            addrs_preloaded: false,
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

    /// A delta over the store `s`: nothing of it is loaded but its asset
    /// names and the list of files it holds; old addresses and transactions
    /// are found through its indexes as the new rows name them.
    pub fn delta(s: Store) -> Self {
        let m = &s.manifest;
        let mut b = Builder::new(m.chain);
        b.order_by = m.order_by;
        b.addr_bytes.clear();
        b.addr_offsets = vec![0];
        b.eth_keys.clear();
        // Counts of a store that opened are ids that fit (checked when written).
        b.addr_base = u32::try_from(m.address_table).unwrap_or(u32::MAX);
        b.tx_base = u32::try_from(m.tx_table).unwrap_or(u32::MAX);
        b.assets.clear();
        b.asset_ids.clear();
        for a in &m.assets {
            b.intern_asset_name(a);
        }
        b.files = m.files.iter().map(|f| (f.clone(), 0)).collect();
        b.old_files = b.files.len();
        b.skipped_rows = m.skipped_rows;
        b.labels = m.labels;
        b.base = Some(s);
        b
    }

    /// Put every address of the base store into the id table. A delta of
    /// many rows then finds an old address with one probe instead of a
    /// binary search of the address index per address it meets first
    /// (which dominates an append of 10^7 events); the table costs about 11
    /// bytes an address and one pass over the stored addresses.
    pub fn preload_addresses(&mut self) {
        let Some(s) = self.base.as_ref() else { return };
        let (ab, first) = (self.addr_base, Pseudo::ALL.len() as u32);
        let (bytes, offs, keys) = (&self.addr_bytes, &self.addr_offsets, &self.eth_keys);
        let n = ab.saturating_sub(first) as usize;
        let base = Some(s);
        s.scanning(|| {
            if self.chain.is_account() {
                let key = |o: u32| hash20(eth_key(base, ab, keys, o));
                self.addr_ids.reserve(n, key);
                for id in first..ab {
                    self.addr_ids.find_or_insert(key(id), id, |_| false, key);
                }
            } else {
                let key = |o: u32| hash_bytes(addr_key(base, ab, bytes, offs, o));
                self.addr_ids.reserve(n, key);
                for id in first..ab {
                    self.addr_ids.find_or_insert(key(id), id, |_| false, key);
                }
            }
        });
        self.addrs_preloaded = true;
        s.release_lookups();
    }

    /// Drop the base store's lookup pages from the resident set (see
    /// `Store::release_lookups`); interning is over.
    pub fn release_store_pages(&self) {
        if let Some(s) = &self.base {
            s.release_lookups();
        }
    }

    /// Addresses of the base store (0 without one).
    pub fn stored_addresses(&self) -> u64 {
        u64::from(self.addr_base)
    }

    /// The store's record of a file it holds only in part (an interrupted
    /// bounded-memory ingest), taken out of the old files: the caller lists
    /// it again as a new file with what this ingest adds to it.
    pub fn reopen_file(&mut self, content_hash: &str) -> Option<LoadedFile> {
        let k = self.files[..self.old_files].iter().position(|(f, _)| f.through_block.is_some() && f.content_hash == content_hash)?;
        self.old_files -= 1;
        Some(self.files.remove(k).0)
    }

    /// Events of the base store (0 without one).
    pub fn stored_events(&self) -> u64 {
        self.base.as_ref().map_or(0, |s| s.manifest.events)
    }

    /// A delta that adds no file (each was loaded before): writing it
    /// would only make a new generation of the same store.
    pub fn adds_nothing(&self) -> bool {
        self.is_delta()
            && self.files.len() == self.old_files
            && self.is_empty()
            && self.inputs.is_empty()
            && self.logs.is_empty()
            && self.memos.is_empty()
    }

    /// Whether this is a delta over a store.
    pub fn is_delta(&self) -> bool {
        self.base.is_some()
    }

    /// A delta turned into the whole store: the base store's columns loaded,
    /// the delta's rows, addresses and transactions after them (their ids
    /// already follow the store's, so nothing is renumbered).
    pub(super) fn into_full(mut self) -> Self {
        let Some(s) = self.base.take() else { return self };
        let mut full = s.scanning(|| Builder::load(&s));
        drop(s);
        let off = full.len();
        full.block.append(&mut self.block);
        full.time.append(&mut self.time);
        full.tx_index.append(&mut self.tx_index);
        full.sub.append(&mut self.sub);
        full.from.append(&mut self.from);
        full.to.append(&mut self.to);
        full.asset.append(&mut self.asset);
        full.value.append(&mut self.value);
        full.tx.append(&mut self.tx);
        full.flags.append(&mut self.flags);
        full.big.extend(self.big.drain().map(|(i, v)| (i + off, v)));
        let bo = full.addr_bytes.len() as u64;
        full.addr_offsets.extend(self.addr_offsets[1..].iter().map(|o| o + bo));
        full.addr_bytes.append(&mut self.addr_bytes);
        full.tx_hashes.append(&mut self.tx_hashes);
        full.assets = std::mem::take(&mut self.assets);
        full.asset_ids = std::mem::take(&mut self.asset_ids);
        full.inputs.append(&mut self.inputs);
        full.logs.append(&mut self.logs);
        full.memos.append(&mut self.memos);
        full.files =
            self.files.drain(..).enumerate().map(|(k, (f, start))| (f, if k < self.old_files { 0 } else { start + off })).collect();
        full.old_files = self.old_files;
        full.skipped_rows = self.skipped_rows;
        full.labels = self.labels;
        full.order_by = self.order_by;
        full.limit = self.limit.take();
        full
    }

    /// The whole store's columns, for a rewrite (no id tables: interning is over).
    fn load(s: &Store) -> Self {
        let m = &s.manifest;
        let mut b = Builder::new(m.chain);
        b.order_by = m.order_by;
        let ev = s.events();
        let mut cur = ev.cursor();
        (b.block, b.time) = (0..ev.len()).map(|i| cur.at(i)).map(|r| (r.block, r.time)).unzip();
        b.tx_index = (0..ev.len()).map(|i| ev.tx_index(i)).collect();
        b.sub = ev.subs(0, ev.len());
        b.from = ev.senders(0, ev.len());
        b.to = ev.receivers(0, ev.len());
        b.asset = ev.assets(0, ev.len());
        b.value = (0..ev.len()).map(|i| ev.value.get(i)).collect();
        b.tx = ev.txs(0, ev.len());
        b.flags = ev.flag_range(0, ev.len());
        // Big records that fit 128 bits go back into the value column, as an
        // ingest of the same rows keeps them.
        for (i, v) in s.big_values() {
            match u128::try_from(v) {
                Ok(x) if x != u128::MAX => b.value[i as usize] = x,
                _ => {
                    b.big.insert(i as usize, v);
                }
            }
        }
        let tables = Builder::tables(s);
        (b.addr_bytes, b.addr_offsets) = (tables.addr_bytes, tables.addr_offsets);
        b.tx_hashes = tables.tx_hashes;
        let it: &[u32] = cast(s.bytes(Column::InTx));
        let ii: &[u32] = cast(s.bytes(Column::InIndex));
        let st: &[u32] = cast(s.bytes(Column::InSpentTx));
        let sv: &[u32] = cast(s.bytes(Column::InSpentVout));
        let iv: &[u64] = cast(s.bytes(Column::InValue));
        let ia: &[u32] = cast(s.bytes(Column::InAddr));
        b.inputs = (0..it.len())
            .map(|k| InputRow { tx: it[k], index: ii[k], spent_tx: st[k], spent_vout: sv[k], value: iv[k], addr: ia[k] })
            .collect();
        b.logs = super::logs::stored(s);
        b.memos = super::memos::stored(s);
        b.old_events = b.block.len();
        b.labels_tsv = s.bytes(Column::Labels).to_vec();
        b
    }

    /// The address and transaction tables of `s`, as the builder keeps them.
    fn tables(s: &Store) -> Self {
        let m = &s.manifest;
        let mut b = Builder::new(m.chain);
        b.addr_bytes = s.bytes(Column::AddrBytes).to_vec();
        b.addr_offsets = match m.chain {
            // Implied by the fixed width; the builder keeps them for both chains.
            Chain::Bitcoin => cast::<u64>(s.bytes(Column::AddrOffsets)).to_vec(),
            _ if m.address_table > 0 => {
                let starts = Pseudo::ALL.iter().scan(0u64, |at, p| Some(std::mem::replace(at, *at + p.name().len() as u64)));
                let pseudo_end = super::columns::PSEUDO_BYTES as u64;
                starts.chain((0..=m.address_table - Pseudo::ALL.len() as u64).map(|k| pseudo_end + 20 * k)).collect()
            }
            _ => vec![0],
        };
        b.tx_hashes = s.bytes(Column::TxHashes).chunks_exact(32).map(|c| c.try_into().expect("32 bytes")).collect();
        b
    }

    /// The store's events at positions `keep` (ascending) with its whole
    /// address and transaction tables, so that every id means what it
    /// means in `s`: a store part (`store::part`). Labels, logs and memos
    /// go along whole (they are keyed by address or transaction).
    pub(super) fn load_selected(s: &Store, keep: &[u64]) -> Self {
        let m = &s.manifest;
        let mut b = Builder::new(m.chain);
        b.order_by = m.order_by;
        // Every asset of the whole store, in its order: events keep their asset ids.
        b.assets.clear();
        b.asset_ids.clear();
        for a in &m.assets {
            b.intern_asset_name(a);
        }
        let ev = s.events();
        let mut cur = ev.cursor();
        // Column by column, each one's pages dropped once read: the part
        // grows in memory while the whole store's pages would otherwise
        // pile up beside it (clean, but resident).
        fn gather<T, C: FromIterator<T>>(s: &Store, keep: &[u64], f: impl FnMut(usize) -> T) -> C {
            let column = keep.iter().map(|&k| k as usize).map(f).collect();
            s.release_pages();
            column
        }
        (b.block, b.time) = gather::<_, (Vec<_>, Vec<_>)>(s, keep, |i| {
            let r = cur.at(i);
            (r.block, r.time)
        });
        b.tx_index = gather(s, keep, |i| ev.tx_index(i));
        b.sub = gather(s, keep, |i| ev.sub(i));
        b.from = gather(s, keep, |i| ev.sender(i));
        b.to = gather(s, keep, |i| ev.receiver(i));
        b.asset = gather(s, keep, |i| ev.asset(i));
        b.value = gather(s, keep, |i| ev.value.get(i));
        b.tx = gather(s, keep, |i| ev.tx(i));
        b.flags = gather(s, keep, |i| ev.flags(i));
        for (i, v) in s.big_values() {
            let Ok(k) = keep.binary_search(&i) else { continue };
            match u128::try_from(v) {
                Ok(x) if x != u128::MAX => b.value[k] = x,
                _ => {
                    b.big.insert(k, v);
                }
            }
        }
        let whole = Builder::tables(s);
        (b.addr_bytes, b.addr_offsets, b.tx_hashes) = (whole.addr_bytes, whole.addr_offsets, whole.tx_hashes);
        b.eth_keys = Vec::new();
        b.logs = super::logs::stored(s);
        b.memos = super::memos::stored(s);
        b.old_events = b.block.len();
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

    /// [`Builder::intern_addr`] with the hash already computed. When the id
    /// table is full an address already in it is still found; a new one
    /// records the limit (see [`Builder::id_limit`]) and gets
    /// [`AddrId::UNKNOWN`], and the builder then refuses to write.
    #[inline]
    pub fn intern_addr_hashed(&mut self, a: &Addr, h: u64) -> AddrId {
        let limit = AddrId::new(self.addr_base as usize + self.addr_offsets.len() - 1);
        let new_id = limit.as_ref().map_or(u32::MAX, |id| id.get());
        let (base, ab) = (self.base.as_ref(), self.addr_base);
        let (bytes, offs, keys) = (&self.addr_bytes, &self.addr_offsets, &self.eth_keys);
        let eth = |o: u32| eth_key(base, ab, keys, o);
        let get = |o: u32| addr_key(base, ab, bytes, offs, o);
        let key: &[u8] = match a {
            Addr::Pseudo(p) => return p.addr(),
            Addr::Eth(k) => k,
            Addr::Text(t) => t.as_bytes(),
        };
        let find = |table: &IdTable| match a {
            Addr::Eth(k) => table.find(h, |o| eth(o) == k),
            _ => table.find(h, |o| get(o) == key),
        };
        // Over a store, an address not yet seen in this ingest may be an old one.
        let old = match base {
            Some(s) => match find(&self.addr_ids) {
                Some(id) => return AddrId::from_stored(id),
                None if self.addrs_preloaded => None,
                None => s.address_id(key),
            },
            None => None,
        };
        let insert = match (old, &limit) {
            (Some(id), _) => id,
            (None, Ok(_)) => new_id,
            (None, Err(e)) => {
                // At the limit an address already numbered is still found.
                if let Some(id) = find(&self.addr_ids) {
                    return AddrId::from_stored(id);
                }
                self.limit.get_or_insert(e.clone());
                return AddrId::UNKNOWN;
            }
        };
        let (id, inserted) = match a {
            Addr::Eth(k) => self.addr_ids.find_or_insert(h, insert, |o| eth(o) == k, |o| hash20(eth(o))),
            _ => self.addr_ids.find_or_insert(h, insert, |o| get(o) == key, |o| hash_bytes(get(o))),
        };
        if inserted && old.is_none() {
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
                && let Some(k) = id.checked_sub(self.addr_base).and_then(|k| self.eth_keys.get(k as usize))
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

    /// [`Builder::intern_tx`] with the hash already computed. When the id
    /// table is full a hash already in it is still found; a new one records
    /// the limit and gets [`TxId::NONE`], and the builder refuses to write.
    #[inline]
    pub fn intern_tx_hashed(&mut self, h: &TxHash, hh: u64) -> TxId {
        let (base, tb, hashes) = (self.base.as_ref(), self.tx_base, &self.tx_hashes);
        let get = |o: u32| tx_key(base, tb, hashes, o);
        let limit = TxId::new(tb as usize + hashes.len());
        // Over a store, a hash not yet seen in this ingest may be an old one.
        let old = match base {
            Some(s) => match self.tx_ids.find(hh, |o| get(o) == h) {
                Some(id) => return TxId::from_stored(id),
                None => s.find_tx(h),
            },
            None => None,
        };
        let insert = match (old, &limit) {
            (Some(id), _) => id,
            (None, Ok(id)) => id.get(),
            (None, Err(e)) => {
                if let Some(id) = self.tx_ids.find(hh, |o| get(o) == h) {
                    return TxId::from_stored(id);
                }
                self.limit.get_or_insert(e.clone());
                return TxId::NONE;
            }
        };
        let (id, inserted) = self.tx_ids.find_or_insert(hh, insert, |o| get(o) == h, |o| hash32(get(o)));
        if inserted && old.is_none() {
            self.tx_hashes.push(*h);
        }
        TxId::from_stored(id)
    }

    pub(super) fn intern_asset_name(&mut self, name: &str) -> AssetId {
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
            AssetKey::Token(t) => {
                if let Some(&id) = self.token_ids.get(&t) {
                    return AssetId::from_stored(id);
                }
                let id = self.intern_asset_name(&format!("0x{}", hex::encode(t)));
                if self.limit.is_none() {
                    self.token_ids.insert(t, id.get());
                }
                id
            }
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
    pub fn mark(&self) -> (usize, usize, usize, usize, (usize, usize, usize)) {
        (
            self.len(),
            self.addr_offsets.len() - 1,
            self.tx_hashes.len(),
            self.assets.len(),
            (self.inputs.len(), self.logs.len(), self.memos.len()),
        )
    }

    /// Undo everything added since `mark` (a file that turned out to be loaded already).
    pub fn rollback(&mut self, mark: (usize, usize, usize, usize, (usize, usize, usize))) {
        let (ev, na, nt, nas, (ni, nl, nm)) = mark;
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
        // Old ids of the base store met since the mark stay: they are right.
        let (base, ab, tb) = (self.base.as_ref(), self.addr_base, self.tx_base);
        if self.chain.is_account() {
            let keys = &self.eth_keys;
            self.addr_ids.truncate(ab + na as u32, |id| hash20(eth_key(base, ab, keys, id)));
        } else {
            let (bytes, offs) = (&self.addr_bytes, &self.addr_offsets);
            self.addr_ids.truncate(ab + na as u32, |id| hash_bytes(addr_key(base, ab, bytes, offs, id)));
        }
        self.tx_hashes.truncate(nt);
        let hashes = &self.tx_hashes;
        self.tx_ids.truncate(tb + nt as u32, |id| hash32(tx_key(base, tb, hashes, id)));
        for a in self.assets.drain(nas..) {
            self.asset_ids.remove(&a);
        }
        self.token_ids.clear();
        self.inputs.truncate(ni);
        self.logs.truncate(nl);
        self.memos.truncate(nm);
    }

    /// Content hashes already loaded.
    pub fn loaded_hashes(&self) -> HashSet<String> {
        self.files.iter().filter(|(f, _)| f.through_block.is_none()).map(|(f, _)| f.content_hash.clone()).collect()
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
        let (base, tb, hashes) = (self.base.as_ref(), self.tx_base, &self.tx_hashes);
        self.tx_ids.reserve(txs, |id| hash32(tx_key(base, tb, hashes, id)));
    }
}
