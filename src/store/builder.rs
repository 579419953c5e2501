//! The store builder: the whole store in memory while an ingest adds to it.
//! Addresses, transactions and assets are interned here into dense ids
//! (`model::ids`: checked, never wrapped); `write` sorts and writes it.

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
    /// Bitcoin inputs.
    pub inputs: Vec<InputRow>,
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

    /// [`Builder::intern_addr`] with the hash already computed. When the id
    /// table is full an address already in it is still found; a new one
    /// records the limit (see [`Builder::id_limit`]) and gets
    /// [`AddrId::UNKNOWN`], and the builder then refuses to write.
    #[inline]
    pub fn intern_addr_hashed(&mut self, a: &Addr, h: u64) -> AddrId {
        let limit = AddrId::new(self.addr_offsets.len() - 1);
        let new_id = limit.as_ref().map_or(u32::MAX, |id| id.get());
        let (bytes, offs, keys) = (&self.addr_bytes, &self.addr_offsets, &self.eth_keys);
        let get = |id: u32| &bytes[offs[id as usize] as usize..offs[id as usize + 1] as usize];
        let (id, inserted) = match (a, &limit) {
            (Addr::Pseudo(p), _) => return p.addr(),
            (Addr::Eth(k), Ok(_)) => self.addr_ids.find_or_insert(h, new_id, |o| keys[o as usize] == *k, |o| hash20(&keys[o as usize])),
            (Addr::Text(t), Ok(_)) => self.addr_ids.find_or_insert(h, new_id, |o| get(o) == t.as_bytes(), |o| hash_bytes(get(o))),
            (Addr::Eth(k), Err(_)) => (self.addr_ids.find(h, |o| keys[o as usize] == *k).unwrap_or(u32::MAX), false),
            (Addr::Text(t), Err(_)) => (self.addr_ids.find(h, |o| get(o) == t.as_bytes()).unwrap_or(u32::MAX), false),
        };
        if let Err(e) = limit
            && id == u32::MAX
        {
            return self.exhausted(e, AddrId::UNKNOWN);
        }
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

    /// [`Builder::intern_tx`] with the hash already computed. When the id
    /// table is full a hash already in it is still found; a new one records
    /// the limit and gets [`TxId::NONE`], and the builder refuses to write.
    #[inline]
    pub fn intern_tx_hashed(&mut self, h: &TxHash, hh: u64) -> TxId {
        let hashes = &self.tx_hashes;
        let (id, inserted) = match TxId::new(hashes.len()) {
            Ok(new_id) => self.tx_ids.find_or_insert(hh, new_id.get(), |o| hashes[o as usize] == *h, |o| hash32(&hashes[o as usize])),
            Err(e) => match self.tx_ids.find(hh, |o| hashes[o as usize] == *h) {
                Some(id) => (id, false),
                None => return self.exhausted(e, TxId::NONE),
            },
        };
        if inserted {
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
}
