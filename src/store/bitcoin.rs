//! What the builder completes before it sorts: block times and transaction
//! indices one source lacks and another has, and on Bitcoin the inputs
//! resolved against the outputs in the data (senders, fee events).

use super::Store;
use super::builder::{Builder, InputRow};
use super::columns::{Column, EventColumns, as_bytes, cast};
use super::write::PutColumn;
use crate::model::amount::Amount;
use crate::model::ids::EventPos;
use crate::model::ids::{AddrId, AssetId, TxId};
use crate::model::{Chain, NO_BLOCK, NO_TIME, NO_TX, Pseudo, flags, sub};
use crate::store::StoreError;
use rayon::prelude::*;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

impl Builder {
    /// Fill what one source lacks from another: block times from events of
    /// the same block, transaction indices from events of the same transaction.
    pub(super) fn fill(&mut self) {
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
            // Ids from `tx_base` on, and from the lowest of the store's
            // transactions whose events a splice reloaded.
            let tb = (0..n).map(|i| self.tx[i]).filter(|&t| t != NO_TX).min().map_or(self.tx_base, |t| t.min(self.tx_base));
            let mut pos: Vec<(u64, u32)> = vec![(NO_BLOCK, 0); (self.tx_base - tb) as usize + self.tx_hashes.len()];
            for i in 0..n {
                let t = self.tx[i];
                if t != NO_TX && self.tx_index[i] != 0 && self.tx_index[i] != u32::MAX && pos[(t - tb) as usize].1 == 0 {
                    pos[(t - tb) as usize] = (self.block[i], self.tx_index[i]);
                }
            }
            for i in 0..n {
                let t = self.tx[i];
                if self.tx_index[i] == 0 && t != NO_TX {
                    let (b, ix) = pos[(t - tb) as usize];
                    if ix != 0 && b == self.block[i] {
                        self.tx_index[i] = ix;
                    }
                }
            }
        }
    }

    /// Bitcoin: resolve inputs against outputs in the data, set each output's
    /// sender to its transaction's first input address, add fee events.
    pub(super) fn resolve_bitcoin(&mut self, dir: &Path) -> Result<(), StoreError> {
        if self.chain != Chain::Bitcoin {
            return Ok(());
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
                let spent = u64::try_from(self.value[o]).unwrap_or(u64::MAX);
                let to = self.to[o];
                if fill_input(&mut self.inputs[k], spent, to).is_err() {
                    return Err(self.disagree(dir, self.base.as_ref(), &inp, spent));
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
        Ok(())
    }
}

/// Fill what an export left out of an input from the output it spends
/// (worth `spent`, paying `to`), as one ingest and an append both do.
/// `Err` when the input states another value (`Builder::disagree`).
fn fill_input(inp: &mut InputRow, spent: u64, to: u32) -> Result<(), ()> {
    if inp.value == u64::MAX {
        inp.value = spent;
    } else if inp.value != spent {
        return Err(());
    }
    if inp.addr == u32::MAX {
        inp.addr = to;
    }
    Ok(())
}

/// Outputs of the store that a delta's inputs spend: outpoint to event.
pub(super) type StoredOutputs = HashMap<(u32, u32), u64>;

/// The event of output `vout` of stored transaction `tx`, found from the
/// transaction's first event (`Column::TxEvent`): its events follow it
/// in the same block (all of them, when the data gives transaction
/// indices; otherwise the rest of the block is searched).
fn stored_output(ev: &EventColumns<'_>, first_event: &[u64], (tx, vout): (u32, u32)) -> Option<u64> {
    let &first = first_event.get(tx as usize)?;
    if first >= ev.len() as u64 {
        return None;
    }
    let is_it = |k: usize| ev.tx(k) == tx && sub::class(ev.sub(k)) == sub::TOP && ev.sub(k) & sub::MAX_INDEX == vout;
    // The end of the block run holding the first event (runs by event).
    let next = ev.runs.partition_point(|r| r.first <= first);
    let end = ev.runs.get(next).map_or(ev.len(), |r| r.first as usize);
    let mut k = first as usize;
    while k < end && ev.tx(k) == tx {
        if is_it(k) {
            return Some(k as u64);
        }
        k += 1;
    }
    (k..end).find(|&k| is_it(k)).map(|k| k as u64)
}

impl Builder {
    /// Bitcoin, a delta appended after the store's end: fill the value and
    /// address of each new input that spends an old transaction's output
    /// from that output in the store, as one ingest of all the files fills
    /// them from the output in its data (`resolve_bitcoin`), and return
    /// where those outputs are (the inputs' `InSpentEvent`).
    pub(super) fn resolve_from_store(&mut self, s: &Store, dir: &Path) -> Result<StoredOutputs, StoreError> {
        let mut found = StoredOutputs::new();
        if self.chain != Chain::Bitcoin {
            return Ok(found);
        }
        let first_event: &[u64] = cast(s.bytes(Column::TxEvent));
        let ev = s.events();
        for k in 0..self.inputs.len() {
            let inp = self.inputs[k];
            if inp.spent_tx >= self.tx_base {
                continue;
            }
            let key = (inp.spent_tx, inp.spent_vout);
            let o = match found.get(&key) {
                Some(&o) => o,
                None => {
                    let Some(o) = stored_output(&ev, first_event, key) else { continue };
                    found.insert(key, o);
                    o
                }
            };
            let spent = s.value(o as usize).to_u128().and_then(|v| u64::try_from(v).ok()).unwrap_or(u64::MAX);
            if fill_input(&mut self.inputs[k], spent, ev.receiver(o as usize)).is_err() {
                // The store these inputs spend from is `s` (taken out of
                // `self.base` while this runs): its txids name them.
                return Err(self.disagree(dir, Some(s), &inp, spent));
            }
        }
        Ok(found)
    }

    /// Bitcoin's per-transaction and per-input columns for the kept events,
    /// numbered from event `first` (a rewrite's 0, an append's store
    /// length): each transaction's first event, and the inputs, first copy
    /// first, by spending transaction and index, with the event each
    /// spends (in these events, or in the store: `stored`). Returns the
    /// number of inputs written.
    pub(super) fn put_bitcoin_columns(
        &self,
        keep: &[EventPos],
        first: u64,
        stored: &StoredOutputs,
        put: &mut PutColumn<'_>,
    ) -> Result<u64, StoreError> {
        if self.chain != Chain::Bitcoin {
            put(Column::TxEvent, &[])?;
        } else {
            let mut first_event = vec![u64::MAX; self.tx_hashes.len()];
            for (pos, &i) in keep.iter().enumerate() {
                let t = self.tx[i as usize];
                if let Some(f) = t.checked_sub(self.tx_base).and_then(|t| first_event.get_mut(t as usize))
                    && *f == u64::MAX
                {
                    *f = first + pos as u64;
                }
            }
            put(Column::TxEvent, as_bytes(&first_event))?;
        }
        let mut seen = HashSet::new();
        let mut inputs: Vec<InputRow> = self.inputs.iter().copied().filter(|r| seen.insert((r.tx, r.index))).collect();
        inputs.sort_by_key(|r| (r.tx, r.index));
        let mut out_pos: HashMap<(u32, u32), u64> = HashMap::new();
        if !inputs.is_empty() {
            for (pos, &i) in keep.iter().enumerate() {
                let i = i as usize;
                if self.tx[i] != NO_TX && sub::class(self.sub[i]) == sub::TOP {
                    out_pos.insert((self.tx[i], self.sub[i] & sub::MAX_INDEX), first + pos as u64);
                }
            }
        }
        put(Column::InTx, as_bytes(&inputs.iter().map(|r| r.tx).collect::<Vec<_>>()))?;
        put(Column::InIndex, as_bytes(&inputs.iter().map(|r| r.index).collect::<Vec<_>>()))?;
        put(Column::InSpentTx, as_bytes(&inputs.iter().map(|r| r.spent_tx).collect::<Vec<_>>()))?;
        put(Column::InSpentVout, as_bytes(&inputs.iter().map(|r| r.spent_vout).collect::<Vec<_>>()))?;
        put(Column::InValue, as_bytes(&inputs.iter().map(|r| r.value).collect::<Vec<_>>()))?;
        put(Column::InAddr, as_bytes(&inputs.iter().map(|r| r.addr).collect::<Vec<_>>()))?;
        let spent: Vec<u64> = inputs
            .iter()
            .map(|r| {
                let o = (r.spent_tx, r.spent_vout);
                out_pos.get(&o).or_else(|| stored.get(&o)).copied().unwrap_or(u64::MAX)
            })
            .collect();
        put(Column::InSpentEvent, as_bytes(&spent))?;
        Ok(inputs.len() as u64)
    }
}

impl Builder {
    /// An input whose export states another value than the output it
    /// spends holds. In Bitcoin an input is worth exactly the output it
    /// spends; a disagreement is a damaged export, and taken either way it
    /// would let a transaction pass on more taint than its inputs hold.
    fn disagree(&self, dir: &Path, base: Option<&Store>, inp: &InputRow, spent: u64) -> StoreError {
        // Txids are kept in display order, as the exports give them.
        let hash = |id: u32| hex::encode(super::builder::tx_key(base, self.tx_base, &self.tx_hashes, id));
        StoreError::Mismatch {
            path: dir.to_path_buf(),
            message: format!(
                "input {} of transaction {} states {} satoshi, but the output it spends ({}:{}) holds {spent}: the inputs and outputs disagree",
                inp.index,
                hash(inp.tx),
                inp.value,
                hash(inp.spent_tx),
                inp.spent_vout
            ),
        }
    }
}
