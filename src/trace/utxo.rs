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
pub(crate) type Pieces = Vec<(u128, bool)>;

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

/// A transaction's inputs as §3 weighs them, in input order.
pub(crate) struct Inputs {
    /// Each input's units, tainted or clean (an input's own pieces under FIFO).
    pub units: Pieces,
    /// Their taint.
    pub t_in: u128,
    /// The inputs' known value.
    pub v_known: u128,
    /// The smallest hop of a tainted input.
    pub in_hop: u32,
    /// The output whose taint funds the most (for evidence).
    pub pred: Option<(u64, u128)>,
}

impl Inputs {
    /// Transaction `tx`'s inputs, the taint of what each spends from
    /// `taint_of(spent output event)`: (taint, hop, pieces).
    pub(crate) fn gather(store: &Store, tx: u32, mut taint_of: impl FnMut(u64) -> Option<(u128, u32, Option<Pieces>)>) -> Inputs {
        let in_value: &[u64] = col(store, Column::InValue);
        let in_spent: &[u64] = col(store, Column::InSpentEvent);
        let mut i = Inputs { units: Vec::new(), t_in: 0, v_known: 0, in_hop: u32::MAX, pred: None };
        for k in store.input_rows(tx) {
            let spent = in_spent[k];
            let v = if in_value[k] != u64::MAX { u128::from(in_value[k]) } else { 0 };
            i.v_known += v;
            match if spent != u64::MAX { taint_of(spent) } else { None } {
                Some((taint, hop, pieces)) if taint > 0 => {
                    i.t_in += taint;
                    i.in_hop = i.in_hop.min(hop);
                    if i.pred.is_none_or(|p| taint > p.1) {
                        i.pred = Some((spent, taint));
                    }
                    match pieces {
                        Some(p) => i.units.extend(p),
                        None => i.units.push((v, true)),
                    }
                }
                _ => i.units.push((v, false)),
            }
        }
        i
    }

    /// Spread the inputs' taint over outputs of `values` and a fee of
    /// `fee` by `policy`: each output's share, the pieces laid on each
    /// (FIFO; the fee's last), and the taint that goes to the fee.
    pub(crate) fn spread(mut self, policy: Policy, values: &[u128], fee: u128) -> (Vec<u128>, Vec<Pieces>, u128) {
        let t_in = self.t_in;
        let v_out: u128 = values.iter().sum();
        // Inputs of unknown value are clean and make up whatever the known ones lack.
        let v_in = self.v_known.max(v_out + fee);
        if v_in > self.v_known {
            self.units.push((v_in - self.v_known, false));
        }
        let mut shares: Vec<u128> = match policy {
            Policy::Poison => values.iter().map(|&v| if t_in > 0 { v } else { 0 }).collect(),
            Policy::Haircut => values
                .iter()
                .map(|&v| if t_in == 0 || v_in == 0 { 0 } else { (U256::from(v) * U256::from(t_in) / U256::from(v_in)).to::<u128>() })
                .collect(),
            Policy::Fifo => Vec::new(),
        };
        let mut laid: Vec<Pieces> = Vec::new();
        if policy == Policy::Fifo {
            let mut sizes = values.to_vec();
            sizes.push(v_in - v_out);
            laid = lay(&self.units, &sizes);
            shares = laid.iter().take(values.len()).map(|p| p.iter().filter(|x| x.1).map(|x| x.0).sum()).collect();
        }
        let to_fee: u128 = match policy {
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
        (shares, laid, to_fee)
    }
}

/// Trace Bitcoin outputs.
pub(super) fn run(store: &Store, spec: &Spec, rules: &super::rules::Rules, outpoints: &[(u32, u32)]) -> Result<Outcome, TraceError> {
    let mut u = Utxo::new(store, spec, rules, outpoints, HashMap::new(), HashMap::new());
    // In steps, so that a spent budget (a server's time limit, a cap on the
    // events a trace visits) stops the sweep as it stops the account
    // sweep; every event up to a step's end counts as visited.
    const STEP: usize = 4096;
    let mut at = 0;
    while at < store.len() {
        at = (at + STEP).min(store.len());
        if !spec.budget.go_on(at as u64) {
            return Err(spec.budget.halted_or_overflow());
        }
        u.run_to(at);
    }
    Ok(u.finish().outcome)
}

/// A bridge payout on Bitcoin (TRACING.md §7): output `event` of
/// transaction `tx` pays the payee `b`, which carries exactly `y`.
#[derive(Clone, Debug)]
pub(super) struct UtxoPayout {
    /// Index of the bridge conversion.
    pub k: usize,
    /// The output's event.
    pub event: usize,
    /// `a`, the deposit's amount (FIFO lots are mapped from it).
    pub a: U256,
}

/// What the Bitcoin sweep found, bridges included.
#[derive(Clone, Debug)]
pub struct Finished {
    /// The §3 outcome.
    pub outcome: Outcome,
    /// The bridge payouts that carried taint into the store.
    pub paid: Vec<PaidOut>,
    /// Their taint, summed.
    pub converted_in: Wide,
    /// Taint that left through followed deposits.
    pub converted_out: Wide,
    /// Deposits not followed that taint reached: (bridge index, taint).
    pub held: Vec<(usize, u128)>,
}

/// A bridge deposit on Bitcoin: output `event` pays the bridge `a`.
#[derive(Clone, Debug)]
pub(super) struct UtxoDeposit {
    /// Index of the bridge conversion.
    pub k: usize,
    /// The output paying the bridge.
    pub event: usize,
    /// Matched to a payout that is followed: the output's taint leaves
    /// with it; otherwise the bridge holds it (a destination of category
    /// `bridge` at the output's address).
    pub followed: bool,
    /// The bridge, for the destination's entity and label.
    pub bridge: &'static str,
    /// Why not followed, or `followable`.
    pub status: &'static str,
}

/// A bridge payout that carried taint, as the Bitcoin sweep counted it.
#[derive(Clone, Debug)]
pub struct PaidOut {
    /// Index of the bridge conversion.
    pub k: usize,
    /// The output's event.
    pub event: usize,
    /// `y`.
    pub y: u128,
    /// The payee's hop.
    pub hop: u32,
}

/// The Bitcoin sweep, run in steps when several stores are traced
/// together ([`super::multi`]): bridge payouts take their taint from the
/// deposit, handed in before the sweep reaches them.
pub(super) struct Utxo<'a> {
    store: &'a Store,
    spec: &'a Spec,
    rules: &'a super::rules::Rules,
    seeds: HashSet<u32>,
    seed_txs: HashSet<u32>,
    seed_outs: HashSet<(u32, u32)>,
    taint: HashMap<u64, OutTaint>,
    reached: HashMap<u32, u32>,
    horizon: HashSet<u32>,
    out: Outcome,
    pos: usize,
    /// Payouts by transaction id.
    payouts: HashMap<u32, UtxoPayout>,
    /// What their deposits carried, by bridge index.
    received: HashMap<usize, super::follow::Carried>,
    /// The payouts that carried taint.
    paid: Vec<PaidOut>,
    /// Taint that arrived through payouts.
    converted_in: Wide,
    /// Deposits by transaction id.
    deposits: HashMap<u32, UtxoDeposit>,
    /// Followed deposits handled, until the coordinator takes them.
    sent: Vec<(usize, super::follow::Carried)>,
    /// Taint that left through followed deposits.
    converted_out: Wide,
    /// Deposits not followed that taint reached: (bridge index, taint).
    held: Vec<(usize, u128)>,
}

impl<'a> Utxo<'a> {
    pub(super) fn new(
        store: &'a Store,
        spec: &'a Spec,
        rules: &'a super::rules::Rules,
        outpoints: &[(u32, u32)],
        payouts: HashMap<u32, UtxoPayout>,
        deposits: HashMap<u32, UtxoDeposit>,
    ) -> Self {
        Utxo {
            store,
            spec,
            rules,
            // Over clusters every address below stands for its cluster.
            seeds: spec.seeds.iter().map(|&a| spec.unit(a)).collect(),
            seed_txs: spec.seed_txs.iter().copied().collect(),
            seed_outs: outpoints.iter().copied().collect(),
            taint: HashMap::new(),
            reached: HashMap::new(),
            horizon: HashSet::new(),
            out: Outcome::default(),
            pos: 0,
            payouts,
            received: HashMap::new(),
            paid: Vec::new(),
            converted_in: Wide::ZERO,
            deposits,
            sent: Vec::new(),
            converted_out: Wide::ZERO,
            held: Vec::new(),
        }
    }

    /// The deposits handled since the last call: (bridge index, what left).
    pub(super) fn take_sent(&mut self) -> Vec<(usize, super::follow::Carried)> {
        std::mem::take(&mut self.sent)
    }

    /// What deposit `k` carries to this store's payout.
    pub(crate) fn give(&mut self, k: usize, c: super::follow::Carried) {
        self.received.insert(k, c);
    }

    /// Handle the transactions that start before `end`, not yet handled.
    pub(crate) fn run_to(&mut self, end: usize) {
        let (store, spec) = (self.store, self.spec);
        let ev = store.events();
        let from_block = spec.from_block.unwrap_or(0);
        let to_block = spec.to_block.unwrap_or(u64::MAX);
        let n = store.len();
        let end = end.min(n);
        let mut i = self.pos;
        let mut runs = ev.cursor();
        while i < end {
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
            let inputs = Inputs::gather(store, tx, |spent| self.taint.remove(&spent).map(|t| (t.taint, t.hop, t.pieces)));
            let values: Vec<u128> = outs.iter().map(|&k| ev.value.get(k)).collect();
            let fee: u128 = fee_event.map_or(0, |k| ev.value.get(k));
            let is_seed_tx = self.seed_txs.contains(&tx);
            let (in_hop, pred) = (inputs.in_hop, inputs.pred);
            let (mut shares, mut laid, mut to_fee) = inputs.spread(spec.policy, &values, fee);
            // A bridge payout: its output carries exactly `y`; what §3
            // would have laid on it goes to the fee (§7).
            let mut payout: Option<(usize, u32)> = None;
            if let Some(q) = self.payouts.get(&tx)
                && let Some(c) = self.received.remove(&q.k)
                && let Some(o) = outs.iter().position(|&k| k == q.event)
            {
                let b = values[o];
                let (y, lots) = match spec.policy {
                    Policy::Poison => (if c.x.is_zero() { 0 } else { b }, None),
                    Policy::Haircut => {
                        let y = if q.a.is_zero() { U256::ZERO } else { U256::from(b) * c.x / q.a };
                        (y.to::<u128>(), None)
                    }
                    Policy::Fifo => {
                        let whole = if c.lots.is_empty() {
                            vec![super::fifo::Lot { amount: q.a, tainted: !c.x.is_zero() }]
                        } else {
                            c.lots.clone()
                        };
                        let (lots, y) = super::follow::map_lots(&whole, q.a, U256::from(b));
                        (y.to::<u128>(), Some(lots.iter().map(|l| (l.amount.to::<u128>(), l.tainted)).collect::<Pieces>()))
                    }
                };
                if spec.policy != Policy::Poison {
                    to_fee += shares[o];
                }
                shares[o] = y;
                if let Some(p) = lots {
                    laid[o] = p;
                }
                if y > 0 {
                    self.converted_in += Wide::from(y);
                    self.paid.push(PaidOut { k: q.k, event: q.event, y, hop: c.hop });
                }
                payout = Some((o, c.hop));
            }
            if to_fee > 0 {
                self.out.fees += Wide::from(to_fee);
                if let Some(k) = fee_event {
                    self.out.tainted.push(Tainted { event: k as u64, x: U256::from(to_fee), hop: in_hop.saturating_add(1) });
                }
            }
            for (o, &k) in outs.iter().enumerate() {
                let v = values[o];
                let vout = ev.sub(k) & sub::MAX_INDEX;
                let addr = spec.unit(ev.receiver(k));
                let mut x = shares[o];
                let mut hop = in_hop.saturating_add(1);
                let paid = payout.is_some_and(|p| p.0 == o);
                if let Some((_, h)) = payout.filter(|_| paid) {
                    hop = h;
                }
                if self.seeds.contains(&addr) || is_seed_tx || self.seed_outs.contains(&(tx, vout)) {
                    self.out.seeded += Wide::from(v - x);
                    x = v;
                    hop = 0;
                }
                if x == 0 {
                    if let Some(d) = self.deposits.get(&tx).filter(|d| d.event == k && d.followed) {
                        self.sent.push((d.k, super::follow::Carried::default()));
                    }
                    continue;
                }
                self.out.tainted.push(Tainted { event: k as u64, x: U256::from(x), hop });
                // A bridge deposit's output: its taint leaves with the deposit
                // (followed) or stays with the bridge, never on the output.
                if let Some(d) = self.deposits.get(&tx).filter(|d| d.event == k) {
                    if d.followed {
                        let lots = match spec.policy {
                            Policy::Fifo => {
                                laid[o].iter().map(|&(amount, tainted)| super::fifo::Lot { amount: U256::from(amount), tainted }).collect()
                            }
                            _ => Vec::new(),
                        };
                        self.converted_out += Wide::from(x);
                        self.sent.push((d.k, super::follow::Carried { x: U256::from(x), hop, lots }));
                    } else {
                        let rule = StopRule::bridge(d.bridge, d.status);
                        self.out.absorb(addr, k as u64, &rule, U256::from(x), hop);
                        self.held.push((d.k, x));
                    }
                    continue;
                }
                if let Some((p, _)) = pred
                    && hop > 0
                    && !paid
                {
                    self.out.pred.insert(k as u64, p);
                }
                if hop > 0 {
                    if let Some(rule) = stop_at_time(self.rules, addr, ev.time(k))
                        && !self.seeds.contains(&addr)
                    {
                        self.out.absorb(addr, k as u64, rule, U256::from(x), hop);
                        continue;
                    }
                    if !self.seeds.contains(&addr)
                        && (self.horizon.contains(&addr) || (!self.reached.contains_key(&addr) && spec.max_hops.is_some_and(|n| hop >= n)))
                    {
                        self.horizon.insert(addr);
                        self.out.cut_off(addr, Wide::from(x), hop);
                        continue;
                    }
                }
                let r = self.reached.entry(addr).or_insert(hop);
                *r = (*r).min(hop);
                let pieces = match spec.policy {
                    Policy::Fifo if x < v && x > 0 => Some(laid[o].clone()),
                    _ => None,
                };
                self.taint.insert(k as u64, OutTaint { taint: x, hop, pieces });
            }
        }
        self.pos = i;
    }

    /// Run to the end: unspent tainted outputs are where the taint sits
    /// now. With the payouts that carried taint and their sum.
    pub(crate) fn finish(mut self) -> Finished {
        self.run_to(self.store.len());
        let ev = self.store.events();
        for (&k, t) in &self.taint {
            let addr = self.spec.unit(ev.receiver(k as usize));
            if self.seeds.contains(&addr) {
                self.out.held_by_seeds += Wide::from(t.taint);
            } else {
                let d = self.out.dormant.entry(addr).or_insert((Wide::ZERO, t.hop));
                d.0 += Wide::from(t.taint);
                d.1 = d.1.min(t.hop);
            }
        }
        self.out.sweep_heap_bytes = crate::sys::anon_rss_bytes().unwrap_or(0);
        self.out.visited = self.store.len() as u64;
        Finished { outcome: self.out, paid: self.paid, converted_in: self.converted_in, converted_out: self.converted_out, held: self.held }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn laying_units_in_order() {
        let got = super::lay(&[(5, false), (3, true), (4, false)], &[6, 4, 2]);
        assert_eq!(got, vec![vec![(5, false), (1, true)], vec![(2, true), (2, false)], vec![(2, false)]]);
    }
}
