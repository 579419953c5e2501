//! The exposure sweep over the UTXO model (TRACING.md §4 on §3): one
//! haircut sweep per risk category, all categories in one pass over a
//! Bitcoin store's transactions.
//!
//! Taint sits on outputs. In the sweep of category `c` every output paying
//! an address labelled `c` (while the label applies) is wholly tainted, a
//! source's holdings; a transaction spreads its inputs' taint over its
//! outputs by §3's haircut rule; an output paying an address labelled with
//! a service category other than `c` takes its share and carries nothing
//! on. An output is an arrival of the address it pays unless that address
//! is among the transaction's inputs' (change): arrivals make up
//! `received`, and their taint the exposure, as on the account model.
//! Tainted change opens an entry of no amount (never answered: answers
//! list non-zero amounts) whose first arrival and predecessor let
//! evidence paths pass through addresses that only paid themselves.
//!
//! Run in steps as [`super::sweep::Sweeper`] is, for screening across
//! chains: a followed bridge deposit's output hands its taint over instead
//! of keeping it, and a payout's output carries exactly what its deposit
//! carried, scaled (`floor(x * b / a)` per category).

use super::ScreenError;
use super::index::{Index, OutputRecord, Row, Whole};
use super::sweep::{BridgeStep, Crossing, Exposure, Exposures, LabelRules, SweepState, too_large};
use crate::labels::Label;
use crate::model::{NO_TIME, NO_TX, flags, sub};
use crate::store::{Column, RunCursor, Store};
use crate::trace::IdMap;
use ruint::aliases::U256;
use std::collections::HashMap;

/// An output's taint in the categories where it has some: (category,
/// taint, hop).
pub(crate) type OutTaint = Vec<(u16, u128, u32)>;

fn col<T: crate::store::Pod>(store: &Store, c: Column) -> &[T] {
    crate::store::cast(store.bytes(c))
}

/// Run the sweep over a Bitcoin store for the categories in `cats`.
pub fn sweep(store: &Store, cats: &super::CategorySet, labels: &[Label]) -> Result<Exposures, ScreenError> {
    UtxoSweeper::new(store, cats, labels, HashMap::new())?.finish()
}

/// The UTXO exposure sweep of one store, run in steps.
pub struct UtxoSweeper<'a> {
    store: &'a Store,
    rules: LabelRules,
    book: Book,
    /// The first event not yet handled (a transaction's first).
    pos: usize,
    runs: RunCursor<'a>,
}

/// The single-process sweep's tables.
struct Book {
    /// Tainted unspent outputs, by event index.
    taint: HashMap<u64, OutTaint>,
    received: Vec<u128>,
    exposures: IdMap<Vec<Exposure>>,
    /// Bridge outputs: a followed deposit's (`Send`) or payout's (`Receive`).
    steps: HashMap<usize, BridgeStep>,
    sent: Vec<(usize, Crossing)>,
    given: HashMap<usize, Crossing>,
}

impl<'a> UtxoSweeper<'a> {
    /// A sweep of `store` (Bitcoin) with the given bridge outputs.
    pub fn new(
        store: &'a Store,
        cats: &super::CategorySet,
        labels: &[Label],
        steps: HashMap<usize, BridgeStep>,
    ) -> Result<Self, ScreenError> {
        if store.manifest.chain.is_account() {
            return Err(ScreenError::Usage("the UTXO exposure sweep was given an account-model store".into()));
        }
        Ok(UtxoSweeper {
            store,
            rules: LabelRules::new(store, cats, labels)?,
            book: Book {
                taint: HashMap::new(),
                received: vec![0u128; store.address_count()],
                exposures: IdMap::default(),
                steps,
                sent: Vec::new(),
                given: HashMap::new(),
            },
            pos: 0,
            runs: store.events().cursor(),
        })
    }

    /// The deposits handled since the last call: (bridge index, what left).
    pub fn take_sent(&mut self) -> Vec<(usize, Crossing)> {
        std::mem::take(&mut self.book.sent)
    }

    /// What deposit `k` carries to this store's payout.
    pub fn give(&mut self, k: usize, c: Crossing) {
        self.book.given.insert(k, c);
    }

    /// Handle the transactions that start before `end`, not yet handled.
    pub fn run_to(&mut self, end: usize) -> Result<(), ScreenError> {
        let store = self.store;
        let ev = store.events();
        let n = store.len();
        let end = end.min(n);
        let mut i = self.pos;
        let mut ins: Vec<u32> = Vec::new();
        while i < end {
            // One transaction: its outputs, then its fee event.
            let tx = ev.tx(i);
            let run = self.runs.at(i);
            let (block, time) = (run.block, run.time);
            let mut j = i + 1;
            while j < n && tx != NO_TX && ev.tx(j) == tx && self.runs.at(j).block == block {
                j += 1;
            }
            let (start, stop) = (i, j);
            i = j;
            let t = Some(time).filter(|&t| t != NO_TIME);
            transaction(store, &self.rules, tx, start..stop, t, &mut ins, &mut self.book)?;
        }
        self.pos = i;
        Ok(())
    }

    /// Run to the end and hand over the result, with the state an update
    /// takes up (none when bridges were followed).
    pub fn finish(mut self) -> Result<Exposures, ScreenError> {
        self.run_to(self.store.len())?;
        let state = self.book.steps.is_empty().then(|| SweepState {
            pools: Vec::new(),
            seed_balances: Vec::new(),
            outputs: records(self.book.taint.iter().map(|(&o, t)| (o, t))),
        });
        let mut x = Exposures::gather(self.book.exposures, self.book.received, self.rules.seeds);
        x.state = state;
        Ok(x)
    }

    /// Take a sweep up where `prev`'s ended (a prefix of the store's
    /// events: a pure append since, so whole transactions after it), run
    /// it over the new transactions, and hand over the records of the
    /// addresses they pay and the tainted outputs made and spent since
    /// `prev`'s base. The outputs the new transactions spend are laid back
    /// from `prev`, and the received sums and exposures of the addresses
    /// they pay: nothing else changes.
    pub(crate) fn take_up(mut self, prev: &Index) -> Result<(Vec<Row>, Whole), ScreenError> {
        let store = self.store;
        let ev = store.events();
        let (from, n) = (prev.meta.events as usize, store.len());
        let in_spent: &[u64] = col(store, Column::InSpentEvent);
        // Outputs laid back, and whether the base held each.
        let mut laid: Vec<(u64, bool)> = Vec::new();
        let mut last_tx = NO_TX;
        for i in from..n {
            let tx = ev.tx(i);
            if tx == NO_TX || tx == last_tx {
                continue;
            }
            last_tx = tx;
            for k in store.input_rows(tx) {
                let spent = in_spent[k];
                if spent == u64::MAX || spent >= from as u64 || self.book.taint.contains_key(&spent) {
                    continue;
                }
                let (recs, in_base) = prev.unspent(spent);
                if !recs.is_empty() {
                    self.book.taint.insert(spent, recs.iter().map(|r| (r.category, r.taint, r.hop)).collect());
                    laid.push((spent, in_base));
                }
            }
        }
        let mut touched: Vec<u32> = (from..n).map(|i| ev.receiver(i)).collect();
        touched.sort_unstable();
        touched.dedup();
        for &id in &touched {
            self.book.received[id as usize] = prev.received(id);
            let x = prev.exposures_of(id);
            if !x.is_empty() {
                self.book.exposures.insert(id, x);
            }
        }
        self.pos = from;
        self.run_to(n)?;
        let rows = touched
            .iter()
            .map(|&id| {
                let mut exposures = self.book.exposures.get(&id).cloned().unwrap_or_default();
                exposures.sort_by_key(|x| x.category);
                Row { id, received: self.book.received[id as usize], exposures, pools: Vec::new() }
            })
            .collect();
        // Spent now: the laid-back outputs the new transactions took.
        let spent_now: std::collections::HashSet<u64> =
            laid.iter().filter(|(o, _)| !self.book.taint.contains_key(o)).map(|&(o, _)| o).collect();
        let (made_before, spent_before) = prev.delta_outputs();
        let mut outputs: Vec<OutputRecord> = made_before.iter().filter(|r| !spent_now.contains(&r.output)).copied().collect();
        outputs.extend(records(self.book.taint.iter().filter(|(o, _)| **o >= from as u64).map(|(&o, t)| (o, t))));
        outputs.sort_unstable_by_key(|r| (r.output, r.category));
        let mut spent: Vec<u64> = spent_before.to_vec();
        spent.extend(laid.iter().filter(|(o, in_base)| *in_base && spent_now.contains(o)).map(|&(o, _)| o));
        spent.sort_unstable();
        let whole = Whole { seeds: self.rules.seeds.clone(), seed_balances: Vec::new(), outputs, spent };
        Ok((rows, whole))
    }
}

/// Tainted outputs as records, ascending by output and category.
fn records<'a>(taint: impl Iterator<Item = (u64, &'a OutTaint)>) -> Vec<OutputRecord> {
    let mut out: Vec<OutputRecord> = taint
        .flat_map(|(o, t)| t.iter().map(move |&(category, taint, hop)| OutputRecord { taint, output: o, hop, category, reserved: 0 }))
        .collect();
    out.sort_unstable_by_key(|r| (r.output, r.category));
    out
}

/// Where a transaction's findings go: the single-process sweep's own
/// tables, or a worker's (`dataflow::exposure`).
pub(crate) trait Ledger {
    /// The taint of spent output `output`, taken (none: untainted).
    fn spend(&mut self, output: u64) -> Option<OutTaint>;
    /// `addr` received `v` from others.
    fn receive(&mut self, addr: u32, v: u128) -> Result<(), ScreenError>;
    /// `addr`'s exposure rows.
    fn rows(&mut self, addr: u32) -> &mut Vec<Exposure>;
    /// Output `output` keeps taint until it is spent.
    fn keep(&mut self, output: u64, t: OutTaint);
    /// A bridge's say on output `k`: the taint laid there (per category:
    /// amount, hop, predecessor) may be replaced; `true` hands it over
    /// instead, and the output keeps nothing.
    fn bridge(&mut self, _k: usize, _lay: &mut Lay) -> Result<bool, ScreenError> {
        Ok(false)
    }
}

/// Per category: the taint laid on an output, its hop, its predecessor.
pub(crate) type Lay = ([u128; 16], [u32; 16], [u64; 16]);

/// One transaction (events `events`, at time `t`) under §3's haircut rule
/// in every category of `rules`: its inputs' taint from the ledger, its
/// outputs' taint, arrivals and exposure rows into it. `ins` is scratch.
pub(crate) fn transaction<L: Ledger>(
    store: &Store,
    rules: &LabelRules,
    tx: u32,
    events: std::ops::Range<usize>,
    t: Option<i64>,
    ins: &mut Vec<u32>,
    l: &mut L,
) -> Result<(), ScreenError> {
    let ev = store.events();
    let outs: Vec<usize> = events.clone().filter(|&k| sub::class(ev.sub(k)) == sub::TOP).collect();
    if outs.is_empty() {
        return Ok(());
    }
    let in_value: &[u64] = col(store, Column::InValue);
    let in_spent: &[u64] = col(store, Column::InSpentEvent);
    let in_addr: &[u32] = col(store, Column::InAddr);
    let k_n = rules.names.len();
    let fee_event = events.clone().find(|&k| ev.flags(k) & flags::FEE != 0);
    // Inputs: what they spend, per category.
    let mut t_in = [0u128; 16];
    let mut in_hop = [u32::MAX; 16];
    let mut pred = [(u64::MAX, 0u128); 16];
    let mut v_known: u128 = 0;
    ins.clear();
    for k in store.input_rows(tx) {
        v_known += if in_value[k] != u64::MAX { u128::from(in_value[k]) } else { 0 };
        ins.push(in_addr[k]);
        let spent = in_spent[k];
        if spent == u64::MAX {
            continue;
        }
        for (c, x, h) in l.spend(spent).unwrap_or_default() {
            let c = c as usize;
            t_in[c] = t_in[c].checked_add(x).ok_or_else(|| too_large("a transaction's input taint"))?;
            in_hop[c] = in_hop[c].min(h);
            if x > pred[c].1 {
                pred[c] = (spent, x);
            }
        }
    }
    let values: Vec<u128> = outs.iter().map(|&k| ev.value.get(k)).collect();
    let v_out: u128 = values.iter().sum();
    let fee: u128 = fee_event.map_or(0, |k| ev.value.get(k));
    // Inputs of unknown value are clean and make up whatever the known ones lack.
    let v_in = v_known.max(v_out + fee);
    for (o, &k) in outs.iter().enumerate() {
        let v = values[o];
        let addr = ev.receiver(k);
        let change = ins.contains(&addr);
        if v > 0 && !change {
            l.receive(addr, v)?;
        }
        let mut lay: Lay = ([0u128; 16], [0u32; 16], [u64::MAX; 16]);
        for c in 0..k_n {
            if t_in[c] > 0 && v_in > 0 {
                lay.0[c] = (U256::from(v) * U256::from(t_in[c]) / U256::from(v_in)).to::<u128>();
                lay.1[c] = in_hop[c].saturating_add(1);
                lay.2[c] = pred[c].0;
            }
        }
        if l.bridge(k, &mut lay)? {
            continue;
        }
        let (xs, hops, preds) = lay;
        let seeding = rules.seed_mask(addr, t);
        let absorbing = rules.absorb_mask(addr, t);
        let mut kept: OutTaint = Vec::new();
        for c in 0..k_n {
            let (x, bit) = (xs[c], 1u16 << c);
            // Change carries taint on without arriving: it opens an
            // entry of no amount, so that evidence paths can pass
            // through an address that only ever paid itself.
            if x > 0 {
                let e = l.rows(addr);
                let slot = match e.iter().position(|x| x.category == c as u16) {
                    Some(p) => p,
                    None => {
                        e.push(Exposure { category: c as u16, amount: 0, direct: 0, hops: u32::MAX, first_in: k as u64, pred: preds[c] });
                        e.len() - 1
                    }
                };
                let s = &mut e[slot];
                if !change {
                    s.amount = s.amount.checked_add(x).ok_or_else(|| too_large("an exposure sum"))?;
                    if hops[c] == 1 {
                        s.direct += x;
                    }
                    s.hops = s.hops.min(hops[c]);
                }
            }
            if seeding & bit != 0 {
                // A source's output: all of it is taint of this category.
                if v > 0 {
                    kept.push((c as u16, v, 0));
                }
            } else if x > 0 && absorbing & bit == 0 {
                kept.push((c as u16, x, hops[c]));
            }
        }
        if !kept.is_empty() {
            l.keep(k as u64, kept);
        }
    }
    Ok(())
}

impl Ledger for Book {
    fn spend(&mut self, output: u64) -> Option<OutTaint> {
        self.taint.remove(&output)
    }

    fn receive(&mut self, addr: u32, v: u128) -> Result<(), ScreenError> {
        let r = &mut self.received[addr as usize];
        *r = r.checked_add(v).ok_or_else(|| too_large("an address's received sum"))?;
        Ok(())
    }

    fn rows(&mut self, addr: u32) -> &mut Vec<Exposure> {
        self.exposures.entry(addr).or_default()
    }

    fn keep(&mut self, output: u64, t: OutTaint) {
        self.taint.insert(output, t);
    }

    fn bridge(&mut self, k: usize, lay: &mut Lay) -> Result<bool, ScreenError> {
        match self.steps.get(&k) {
            Some(BridgeStep::Send(d)) => {
                // The deposit's taint crosses the bridge, not to its vault.
                self.sent.push((d.k, Crossing { x: lay.0, hop: lay.1 }));
                Ok(true)
            }
            Some(BridgeStep::Receive(p)) => {
                // What §3 would lay here goes to the fee (§7).
                let c = self.given.remove(&p.k).unwrap_or_default();
                for cat in 0..16 {
                    let y = U256::from(c.x[cat]) * U256::from(p.b) / U256::from(p.a);
                    lay.0[cat] = u128::try_from(y).map_err(|_| too_large("a bridge payout's taint"))?;
                    lay.1[cat] = c.hop[cat];
                    lay.2[cat] = u64::MAX;
                }
                Ok(false)
            }
            _ => Ok(false),
        }
    }
}
