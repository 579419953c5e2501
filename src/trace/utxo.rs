//! The UTXO model (TRACING.md §3): taint sits on outputs.
//!
//! Transactions are visited in key order; each consumes the outputs its
//! inputs spend (linked at ingest) and spreads their taint over its outputs
//! and fee by the policy. Outputs spent outside the data never come back;
//! inputs that spend outputs outside the data are clean.

use super::rules::{StopRule, stop_at_time};
use super::{Outcome, Policy, Spec, Tainted, TraceError, Wide};
use crate::model::{NO_TX, flags, sub};
use crate::store::{Column, Store};
use ruint::aliases::U256;
use std::collections::{HashMap, HashSet};

/// A piece of an output: `amount` units, tainted or clean, in order (FIFO).
type Pieces = Vec<(u128, bool)>;

#[derive(Clone, Debug, Default)]
struct OutTaint {
    taint: u128,
    hop: u32,
    pieces: Option<Pieces>,
}

fn col<T: crate::store::Pod>(store: &Store, c: Column) -> &[T] {
    crate::store::cast(store.bytes(c))
}

/// Lay `units` (in input order) against `sizes` (outputs, then the fee):
/// what lands on each, as pieces.
fn lay(units: &[(u128, bool)], sizes: &[u128]) -> Vec<Pieces> {
    let mut out: Vec<Pieces> = vec![Vec::new(); sizes.len()];
    let mut k = 0;
    let mut left = units.first().map_or(0, |u| u.0);
    for (j, &size) in sizes.iter().enumerate() {
        let mut need = size;
        while need > 0 && k < units.len() {
            let take = need.min(left);
            if take > 0 {
                match out[j].last_mut() {
                    Some(p) if p.1 == units[k].1 => p.0 += take,
                    _ => out[j].push((take, units[k].1)),
                }
            }
            need -= take;
            left -= take;
            if left == 0 {
                k += 1;
                left = units.get(k).map_or(0, |u| u.0);
            }
        }
    }
    out
}

/// Trace Bitcoin outputs.
pub(super) fn run(
    store: &Store,
    spec: &Spec,
    rules: &super::IdMap<Vec<StopRule>>,
    outpoints: &[(u32, u32)],
) -> Result<Outcome, TraceError> {
    let ev = store.events();
    let in_tx: &[u32] = col(store, Column::InTx);
    let in_value: &[u64] = col(store, Column::InValue);
    let in_spent: &[u64] = col(store, Column::InSpentEvent);
    let mut out = Outcome::default();
    // Over clusters every address below stands for its cluster.
    let seeds: HashSet<u32> = spec.seeds.iter().map(|&a| spec.unit(a)).collect();
    let seed_txs: HashSet<u32> = spec.seed_txs.iter().copied().collect();
    let seed_outs: HashSet<(u32, u32)> = outpoints.iter().copied().collect();
    let mut taint: HashMap<u64, OutTaint> = HashMap::new();
    let mut reached: HashMap<u32, u32> = HashMap::new();
    let mut horizon: HashSet<u32> = HashSet::new();
    let from_block = spec.from_block.unwrap_or(0);
    let to_block = spec.to_block.unwrap_or(u64::MAX);
    let n = store.len();
    let mut i = 0;
    let mut runs = ev.cursor();
    while i < n {
        // One transaction: its outputs, then its fee event.
        let tx = ev.tx(i);
        let block = runs.at(i).block;
        let mut j = i + 1;
        while j < n && tx != NO_TX && ev.tx(j) == tx && runs.at(j).block == block {
            j += 1;
        }
        let (start, end) = (i, j);
        i = j;
        if block < from_block || block > to_block {
            continue;
        }
        let outs: Vec<usize> = (start..end).filter(|&k| sub::class(ev.sub(k)) == sub::TOP).collect();
        let fee_event = (start..end).find(|&k| ev.flags(k) & flags::FEE != 0);
        if outs.is_empty() {
            continue;
        }
        // Inputs, in input order, with the taint of what they spend.
        let lo = in_tx.partition_point(|&t| t < tx);
        let hi = in_tx.partition_point(|&t| t <= tx);
        let mut units: Pieces = Vec::new();
        let mut t_in: u128 = 0;
        let mut v_known: u128 = 0;
        let mut in_hop = u32::MAX;
        let mut pred: Option<(u64, u128)> = None;
        for k in lo..hi {
            let spent = in_spent[k];
            let v = if in_value[k] != u64::MAX { u128::from(in_value[k]) } else { 0 };
            v_known += v;
            let t = if spent != u64::MAX { taint.remove(&spent) } else { None };
            match t {
                Some(t) if t.taint > 0 => {
                    t_in += t.taint;
                    in_hop = in_hop.min(t.hop);
                    if pred.is_none_or(|p| t.taint > p.1) {
                        pred = Some((spent, t.taint));
                    }
                    match t.pieces {
                        Some(p) => units.extend(p),
                        None => units.push((v, true)),
                    }
                }
                _ => units.push((v, false)),
            }
        }
        let values: Vec<u128> = outs.iter().map(|&k| ev.value.get(k)).collect();
        let v_out: u128 = values.iter().sum();
        let fee: u128 = fee_event.map_or(0, |k| ev.value.get(k));
        // Inputs of unknown value are clean and make up whatever the known ones lack.
        let v_in = v_known.max(v_out + fee);
        if v_in > v_known {
            units.push((v_in - v_known, false));
        }
        let is_seed_tx = seed_txs.contains(&tx);
        let mut shares: Vec<u128> = match spec.policy {
            Policy::Poison => values.iter().map(|&v| if t_in > 0 { v } else { 0 }).collect(),
            Policy::Haircut => values
                .iter()
                .map(|&v| if t_in == 0 || v_in == 0 { 0 } else { (U256::from(v) * U256::from(t_in) / U256::from(v_in)).to::<u128>() })
                .collect(),
            Policy::Fifo => Vec::new(),
        };
        let mut laid: Vec<Pieces> = Vec::new();
        if spec.policy == Policy::Fifo {
            let mut sizes = values.clone();
            sizes.push(v_in - v_out);
            laid = lay(&units, &sizes);
            shares = laid.iter().take(values.len()).map(|p| p.iter().filter(|x| x.1).map(|x| x.0).sum()).collect();
        }
        let to_fee: u128 = match spec.policy {
            Policy::Poison => {
                if t_in > 0 {
                    v_in - v_out
                } else {
                    0
                }
            }
            Policy::Haircut => t_in - shares.iter().sum::<u128>(),
            Policy::Fifo => laid.last().map_or(0, |p| p.iter().filter(|x| x.1).map(|x| x.0).sum()),
        };
        if to_fee > 0 {
            out.fees += Wide::from(to_fee);
            if let Some(k) = fee_event {
                out.tainted.push(Tainted { event: k as u64, x: U256::from(to_fee), hop: in_hop.saturating_add(1) });
            }
        }
        for (o, &k) in outs.iter().enumerate() {
            let v = values[o];
            let vout = ev.sub(k) & sub::MAX_INDEX;
            let addr = spec.unit(ev.receiver(k));
            let mut x = shares[o];
            let mut hop = in_hop.saturating_add(1);
            if seeds.contains(&addr) || is_seed_tx || seed_outs.contains(&(tx, vout)) {
                out.seeded += Wide::from(v - x);
                x = v;
                hop = 0;
            }
            if x == 0 {
                continue;
            }
            out.tainted.push(Tainted { event: k as u64, x: U256::from(x), hop });
            if let Some((p, _)) = pred
                && hop > 0
            {
                out.pred.insert(k as u64, p);
            }
            if hop > 0 {
                if let Some(rule) = stop_at_time(rules, addr, ev.time(k))
                    && !seeds.contains(&addr)
                {
                    out.absorb(addr, k as u64, rule, U256::from(x), hop);
                    continue;
                }
                if !seeds.contains(&addr)
                    && (horizon.contains(&addr) || (!reached.contains_key(&addr) && spec.max_hops.is_some_and(|n| hop >= n)))
                {
                    horizon.insert(addr);
                    out.cut_off(addr, Wide::from(x), hop);
                    continue;
                }
            }
            let r = reached.entry(addr).or_insert(hop);
            *r = (*r).min(hop);
            let pieces = match spec.policy {
                Policy::Fifo if x < v && x > 0 => Some(laid[o].clone()),
                _ => None,
            };
            taint.insert(k as u64, OutTaint { taint: x, hop, pieces });
        }
    }
    // Unspent tainted outputs: where the taint sits now.
    for (&k, t) in &taint {
        let addr = spec.unit(ev.receiver(k as usize));
        if seeds.contains(&addr) {
            out.held_by_seeds += Wide::from(t.taint);
        } else {
            let d = out.dormant.entry(addr).or_insert((Wide::ZERO, t.hop));
            d.0 += Wide::from(t.taint);
            d.1 = d.1.min(t.hop);
        }
    }
    out.sweep_heap_bytes = crate::sys::anon_rss_bytes().unwrap_or(0);
    out.visited = store.len() as u64;
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn laying_units_in_order() {
        let got = super::lay(&[(5, false), (3, true), (4, false)], &[6, 4, 2]);
        assert_eq!(got, vec![vec![(5, false), (1, true)], vec![(2, true), (2, false)], vec![(2, false)]]);
    }
}
