//! The conversions a store holds (TRACING.md §7): every successful
//! transaction with a recognised swap log, classified by
//! [`crate::convert::detect`] over the transaction's value events.

use crate::convert::detect::{Conversion, Leg, classify, with_weth_as_eth};
use crate::convert::topics::{Kind, WETH};
use crate::model::{flags, sub};
use crate::store::Store;
use std::collections::BTreeMap;

/// A set of transaction ids, a bit each, for a test on every event of a sweep.
#[derive(Clone, Debug, Default)]
pub(crate) struct TxBits(Vec<u64>);

impl TxBits {
    /// Add `t`.
    pub(crate) fn set(&mut self, t: u32) {
        let w = t as usize / 64;
        if self.0.len() <= w {
            self.0.resize(w + 1, 0);
        }
        self.0[w] |= 1 << (t % 64);
    }

    /// Whether `t` is in (never `NO_TX`, which no one sets).
    #[inline]
    pub(crate) fn has(&self, t: u32) -> bool {
        self.0.get(t as usize / 64).is_some_and(|w| w >> (t % 64) & 1 != 0)
    }
}

/// One transaction with a venue and a taker.
#[derive(Clone, Debug)]
pub struct Found {
    /// Transaction id.
    pub tx: u32,
    /// Its block number.
    pub block: u64,
    /// Its transaction index + 1 (0: unknown).
    pub tx_index: u32,
    /// The addresses that emitted a recognised swap log in it, by id.
    pub venues: Vec<u32>,
    /// Followable or ambiguous.
    pub conversion: Conversion,
    /// Its events (the fee and failed calls included), in key order.
    pub events: Vec<usize>,
}

/// Every conversion in the store, by block, transaction index and id.
/// One pass over the events, reading only those of transactions with a
/// swap log; a failed transaction converts nothing.
pub fn list(s: &Store) -> Vec<Found> {
    let mut venues: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
    for r in s.logs() {
        if let Some(Kind::Swap(_)) = Kind::from_code(r.kind) {
            let v = venues.entry(r.tx).or_default();
            if !v.contains(&r.emitter) {
                v.push(r.emitter);
            }
        }
    }
    if venues.is_empty() {
        return Vec::new();
    }
    let weth_name = format!("0x{}", hex::encode(WETH));
    let weth_asset = s.manifest.assets.iter().position(|a| *a == weth_name).map(|k| k as u32);
    let weth_contract = s.find_address(&weth_name);
    // Per transaction: (block, index, failed, legs, events).
    type Seen = (u64, u32, bool, Vec<Leg>, Vec<usize>);
    let mut txs: BTreeMap<u32, Seen> = BTreeMap::new();
    let ev = s.events();
    let mut runs = ev.cursor();
    // One bit test an event instead of a tree lookup: this pass reads every event.
    let mut has_log = TxBits::default();
    for &t in venues.keys() {
        has_log.set(t);
    }
    for i in 0..s.len() {
        let t = ev.tx(i);
        if !has_log.has(t) {
            continue;
        }
        let f = ev.flags(i);
        let e = txs.entry(t).or_insert_with(|| (runs.at(i).block, ev.tx_index(i), false, Vec::new(), Vec::new()));
        e.2 |= f & flags::FAILED != 0;
        e.4.push(i);
        if f & (flags::MOVES_NOTHING | flags::FEE) != 0 || sub::class(ev.sub(i)) == sub::FEE {
            continue;
        }
        e.3.push(Leg { from: ev.sender(i), to: ev.receiver(i), asset: ev.asset(i), value: s.value(i) });
    }
    let mut found: Vec<Found> = txs
        .into_iter()
        .filter(|(_, (_, _, failed, _, _))| !failed)
        .filter_map(|(tx, (block, tx_index, _, legs, events))| {
            let v = venues.remove(&tx).unwrap_or_default();
            let legs = with_weth_as_eth(&legs, 0, weth_asset, weth_contract);
            classify(&legs, &v).map(|conversion| Found { tx, block, tx_index, venues: v, conversion, events })
        })
        .collect();
    found.sort_by_key(|f| (f.block, f.tx_index, f.tx));
    found
}
