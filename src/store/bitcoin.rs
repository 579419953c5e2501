//! What the builder completes before it sorts: block times and transaction
//! indices one source lacks and another has, and on Bitcoin the inputs
//! resolved against the outputs in the data (senders, fee events).

use super::builder::{Builder, InputRow};
use crate::model::amount::Amount;
use crate::model::ids::{AddrId, AssetId, TxId};
use crate::model::{Chain, NO_BLOCK, NO_TIME, NO_TX, Pseudo, flags, sub};
use rayon::prelude::*;
use std::collections::{BTreeMap, HashMap, HashSet};

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
    pub(super) fn resolve_bitcoin(&mut self) {
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
}
