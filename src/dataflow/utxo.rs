//! Poison, haircut and FIFO over the UTXO model on timely-dataflow
//! (TRACING.md §3, issue 17, ADR 0015): the single-process Bitcoin
//! sweep's outcome, on workers that each own a part of the transactions.
//!
//! Taint sits on outputs. The worker that owns a transaction (a hash of its
//! id) lays its inputs' taint over its outputs as `trace::utxo` does. An
//! output's taint is kept where its spender is owned: by the same worker,
//! or sent, keyed by the output, to the spender's owner (an index of who
//! spends each output, built from the input columns, says where). Order is
//! kept as in `dataflow::account`: segments of key order as timely's outer
//! time. A transaction belongs to the segment its first event is in, and a
//! segment is run again, from its start, when an arrival changes an output
//! one of its transactions spent. The first version runs every
//! transaction (as the single-process Bitcoin sweep does). It leaves out
//! the horizon (`--max-hops`: whether an address is cut off depends on its
//! first arrival anywhere), clusters and bridges, which it refuses.

use super::found::Found;
use super::{DataflowError, Workers, owner};
use crate::model::{NO_TX, flags, sub};
use crate::store::{Column, Store};
use crate::trace::rules::{IdMap, StopRule, stop_at_time, stop_rules};
use crate::trace::{Outcome, Policy, Spec, Tainted, TraceError, Wide};
use ruint::aliases::U256;
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::rc::Rc;

const NONE: u32 = u32::MAX;

/// Pieces of an output: amounts tainted or clean, in order (FIFO).
type Pieces = crate::trace::UtxoPieces;

/// An output's taint, as the single-process sweep keeps it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct OutTaint {
    taint: u128,
    hop: u32,
    pieces: Option<Pieces>,
}

/// An output's taint on its way to the owner of the transaction spending
/// it (`taint` zero takes back what an earlier round sent).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct Arrival {
    spender: u32,
    output: u64,
    t: OutTaint,
}

impl super::segments::Message for Arrival {
    type Key = u64;
    fn key(&self) -> u64 {
        self.output
    }
    fn carries(&self) -> bool {
        self.t.taint != 0
    }
    fn retract(&mut self) {
        self.t = OutTaint { taint: 0, hop: 0, pieces: None };
    }
}

/// What a worker reads and never changes.
struct Part {
    store: Store,
    policy: Policy,
    seeds: HashSet<u32>,
    seed_txs: HashSet<u32>,
    seed_outs: HashSet<(u32, u32)>,
    rules: IdMap<Vec<StopRule>>,
    window: (u64, u64),
    /// Output event -> the transaction spending it in the data (`NONE`: none).
    spender: Rc<Vec<u32>>,
    segment_bits: u32,
    me: usize,
    peers: usize,
}

/// A worker's changing state.
#[derive(Default)]
struct State {
    /// Tainted outputs of finished segments whose spender is owned here (or none).
    taint: HashMap<u64, OutTaint>,
    /// Tainted outputs other workers sent, until spent.
    inbox: HashMap<u64, OutTaint>,
    out: Outcome,
    cur: Option<u64>,
    // The segment under way, taken back whole by a later round:
    new: HashMap<u64, OutTaint>,
    spent: HashSet<u64>,
    looked: HashSet<u64>,
    seg: Outcome,
    /// The segment's tainted events with their place in the
    /// single-process sweep's list: (transaction's first event, 0 for its
    /// fee and 1 for its outputs).
    seg_tainted: Vec<(u64, u8, Tainted)>,
    /// Each tainted event's place in that list.
    place: HashMap<u64, u64>,
    /// What this worker sent on this segment's outputs.
    sent: HashMap<u64, Arrival>,
    exchange: crate::trace::Traffic,
}

fn col<T: crate::store::Pod>(store: &Store, c: Column) -> &[T] {
    crate::store::cast(store.bytes(c))
}

impl State {
    fn lookup(&mut self, o: u64) -> Option<OutTaint> {
        self.looked.insert(o);
        if let Some(t) = self.new.remove(&o) {
            return Some(t);
        }
        if self.spent.contains(&o) {
            return None;
        }
        let t = self.taint.get(&o).or_else(|| self.inbox.get(&o)).cloned();
        if t.is_some() {
            self.spent.insert(o);
        }
        t
    }

    fn commit(&mut self) {
        if self.cur.take().is_none() {
            return;
        }
        for o in self.spent.drain() {
            self.taint.remove(&o);
            self.inbox.remove(&o);
        }
        self.taint.extend(self.new.drain());
        let mut seg = std::mem::take(&mut self.seg);
        seg.tainted = self.seg_tainted.iter().map(|x| x.2).collect();
        for (s, k, t) in self.seg_tainted.drain(..) {
            self.place.insert(t.event, s * 2 + u64::from(k));
        }
        super::found::merge(&mut self.out, seg);
        self.looked.clear();
        self.sent.clear();
    }

    /// One round of segment `s`: every owned transaction that starts in it.
    fn round(&mut self, p: &Part, s: u64, msgs: Vec<Arrival>) -> (Vec<Arrival>, Option<u64>) {
        let n = p.store.len() as u64;
        let (lo, hi) = super::segments::span(s, p.segment_bits, n);
        let first = self.cur != Some(s);
        if first {
            self.commit();
            self.cur = Some(s);
        }
        let mut rerun = first;
        for m in msgs {
            rerun |= self.looked.contains(&m.output);
            if m.t.taint == 0 {
                self.inbox.remove(&m.output);
            } else {
                self.inbox.insert(m.output, m.t);
            }
        }
        let next = (hi < n).then_some(s + 1);
        if !rerun {
            return (Vec::new(), next);
        }
        self.exchange.rounds += 1;
        self.new.clear();
        self.spent.clear();
        self.looked.clear();
        self.seg = Outcome::default();
        self.seg_tainted.clear();
        let mut now: HashMap<u64, Arrival> = HashMap::new();
        let ev = p.store.events();
        let mut runs = ev.cursor();
        let mut i = lo as usize;
        // A transaction that started in the segment before belongs to it.
        if i > 0 {
            let (tx, block) = (ev.tx(i - 1), runs.at(i - 1).block);
            while i < n as usize && tx != NO_TX && ev.tx(i) == tx && runs.at(i).block == block {
                i += 1;
            }
        }
        self.exchange.scanned += hi.saturating_sub(i as u64);
        while i < hi as usize {
            let tx = ev.tx(i);
            let block = runs.at(i).block;
            let mut j = i + 1;
            while j < n as usize && tx != NO_TX && ev.tx(j) == tx && runs.at(j).block == block {
                j += 1;
            }
            let (start, end) = (i, j);
            i = j;
            if owner(tx, p.peers) != p.me || block < p.window.0 || block > p.window.1 {
                continue;
            }
            self.transaction(p, tx, start, end, &mut now);
        }
        // What changed since the last round, and what it no longer sends.
        let outbox = super::segments::changes(&mut self.sent, now, |_| true);
        self.exchange.messages += outbox.len() as u64;
        // As serialised: spender, output, taint, hop, pieces (length, then amount and flag each).
        self.exchange.bytes += outbox.iter().map(|m| 4 + 8 + 16 + 4 + 9 + 17 * m.t.pieces.as_ref().map_or(0, Vec::len) as u64).sum::<u64>();
        (outbox, next)
    }

    /// Transaction `tx`, events `start..end`, as `trace::utxo` runs it.
    fn transaction(&mut self, p: &Part, tx: u32, start: usize, end: usize, now: &mut HashMap<u64, Arrival>) {
        let (store, ev) = (&p.store, p.store.events());
        self.seg.visited += (end - start) as u64;
        let outs: Vec<usize> = (start..end).filter(|&k| sub::class(ev.sub(k)) == sub::TOP).collect();
        let fee_event = (start..end).find(|&k| ev.flags(k) & flags::FEE != 0);
        if outs.is_empty() {
            return;
        }
        let inputs = crate::trace::UtxoInputs::gather(store, tx, |spent| self.lookup(spent).map(|t| (t.taint, t.hop, t.pieces)));
        let values: Vec<u128> = outs.iter().map(|&k| ev.value.get(k)).collect();
        let fee: u128 = fee_event.map_or(0, |k| ev.value.get(k));
        let is_seed_tx = p.seed_txs.contains(&tx);
        let (in_hop, pred) = (inputs.in_hop, inputs.pred);
        let (shares, laid, to_fee) = inputs.spread(p.policy, &values, fee);
        if to_fee > 0 {
            self.seg.fees += Wide::from(to_fee);
            if let Some(k) = fee_event {
                self.seg_tainted.push((start as u64, 0, Tainted { event: k as u64, x: U256::from(to_fee), hop: in_hop.saturating_add(1) }));
            }
        }
        for (o, &k) in outs.iter().enumerate() {
            let v = values[o];
            let vout = ev.sub(k) & sub::MAX_INDEX;
            let addr = ev.receiver(k);
            let mut x = shares[o];
            let mut hop = in_hop.saturating_add(1);
            if p.seeds.contains(&addr) || is_seed_tx || p.seed_outs.contains(&(tx, vout)) {
                self.seg.seeded += Wide::from(v - x);
                x = v;
                hop = 0;
            }
            if x == 0 {
                continue;
            }
            self.seg_tainted.push((start as u64, 1, Tainted { event: k as u64, x: U256::from(x), hop }));
            if let Some((pk, _)) = pred
                && hop > 0
            {
                self.seg.pred.insert(k as u64, pk);
            }
            if hop > 0
                && let Some(rule) = stop_at_time(&p.rules, addr, ev.time(k))
                && !p.seeds.contains(&addr)
            {
                self.seg.absorb(addr, k as u64, rule, U256::from(x), hop);
                continue;
            }
            let pieces = match p.policy {
                Policy::Fifo if x < v && x > 0 => Some(laid[o].clone()),
                _ => None,
            };
            let t = OutTaint { taint: x, hop, pieces };
            let spender = p.spender[k];
            if spender == NONE || owner(spender, p.peers) == p.me {
                self.new.insert(k as u64, t);
            } else {
                now.insert(k as u64, Arrival { spender, output: k as u64, t });
            }
        }
    }
}

/// The outcome of the UTXO trace `spec` (with seed outpoints `outpoints`)
/// of the Bitcoin store at `store_dir`, on the workers `w`, in segments of
/// `2^segment_bits` events. Process 0 gets it, the others `None`.
pub fn trace(
    store_dir: &std::path::Path,
    spec: &Spec,
    outpoints: &[(u32, u32)],
    w: &Workers,
    segment_bits: u32,
) -> Result<Option<Outcome>, DataflowError> {
    Ok(trace_many(store_dir, &[(spec.clone(), outpoints.to_vec())], w, segment_bits)?.map(|mut v| v.remove(0)))
}

/// [`trace`] for several questions (each a spec and its seed outpoints),
/// one after another on the same connections.
pub fn trace_many(
    store_dir: &std::path::Path,
    questions: &[(Spec, Vec<(u32, u32)>)],
    w: &Workers,
    segment_bits: u32,
) -> Result<Option<Vec<Outcome>>, DataflowError> {
    if !(1..=32).contains(&segment_bits) {
        return Err(DataflowError::Unsupported(format!("segments of 2^{segment_bits} events")));
    }
    let store = Store::open(store_dir).map_err(|e| DataflowError::Trace(e.into()))?;
    if store.manifest.chain.is_account() || store.manifest.inputs == 0 {
        return Err(TraceError::Usage("the UTXO sweep needs a Bitcoin store with inputs".into()).into());
    }
    if (store.len() as u64 >> segment_bits) >= 1 << (64 - super::segments::ROUND_BITS) {
        return Err(DataflowError::Unsupported(format!("{} events: more than a timestamp can order", store.len())));
    }
    let mut warnings = Vec::new();
    for (spec, _) in questions {
        if spec.max_hops.is_some() || spec.clusters.is_some() {
            return Err(DataflowError::Unsupported("Bitcoin across processes: --max-hops and --cluster are not run there yet".into()));
        }
        if (spec.from_block.is_some() || spec.to_block.is_some()) && store.manifest.order_by == Some(crate::model::OrderBy::Time) {
            return Err(TraceError::Usage("--from-block/--to-block need block numbers; this store has only block times".into()).into());
        }
        let rules = stop_rules(&store, &spec.stop_at, &|a| a)?;
        let mut w: Vec<u32> = spec.seeds.iter().copied().filter(|s| rules.contains_key(s)).collect();
        w.sort_unstable();
        warnings.push(w);
    }
    let identity = format!("{} labels {}", store.manifest.events_identity(), super::net::key_of_bytes(store.label_rows()));
    drop(store);
    let key = super::net::key_of(&format!("utxo {identity} {segment_bits} {questions:?}"));
    let (dir, qs) = (store_dir.to_path_buf(), questions.to_vec());
    let results = super::net::execute(w, key, move |worker| -> Result<Vec<Vec<Found>>, String> {
        let store = Store::open(&dir).map_err(|e| e.to_string())?;
        // Who spends each output: from the input columns, once for every question.
        let mut spender = vec![NONE; store.len()];
        {
            let in_tx: &[u32] = col(&store, Column::InTx);
            let in_spent: &[u64] = col(&store, Column::InSpentEvent);
            for (k, &o) in in_spent.iter().enumerate() {
                if o != u64::MAX && (o as usize) < spender.len() {
                    spender[o as usize] = in_tx[k];
                }
            }
        }
        let spender = Rc::new(spender);
        qs.iter().map(|(spec, outs)| sweep_on(worker, &dir, spec, outs, spender.clone(), segment_bits)).collect()
    })?;
    super::found::outcomes(results, warnings, w.is_first())
}

/// One worker's sweep of one question: its findings, gathered at worker 0.
fn sweep_on(
    worker: &mut timely::worker::Worker,
    dir: &std::path::Path,
    spec: &Spec,
    outpoints: &[(u32, u32)],
    spender: Rc<Vec<u32>>,
    segment_bits: u32,
) -> Result<Vec<Found>, String> {
    let (me, peers) = (worker.index(), worker.peers());
    let store = Store::open(dir).map_err(|e| e.to_string())?;
    let rules = stop_rules(&store, &spec.stop_at, &|a| a).map_err(|e| e.to_string())?;
    let part = Rc::new(Part {
        policy: spec.policy,
        seeds: spec.seeds.iter().copied().collect(),
        seed_txs: spec.seed_txs.iter().copied().collect(),
        seed_outs: outpoints.iter().copied().collect(),
        rules,
        window: (spec.from_block.unwrap_or(0), spec.to_block.unwrap_or(u64::MAX)),
        spender,
        segment_bits,
        me,
        peers,
        store,
    });
    let state = Rc::new(RefCell::new(State::default()));
    let (p2, s2) = (part.clone(), state.clone());
    let first = (!part.store.is_empty()).then_some(0);
    super::segments::run(
        worker,
        first,
        move |m: &Arrival| owner(m.spender, peers) as u64,
        move |seg, msgs| s2.borrow_mut().round(&p2, seg, msgs),
    );
    let found = {
        let mut st = state.borrow_mut();
        st.commit();
        // Unspent tainted outputs (and those whose spender never ran) are where the taint sits.
        let ev = part.store.events();
        let st = &mut *st;
        let left: Vec<(u64, OutTaint)> = st.taint.drain().chain(st.inbox.drain()).collect();
        for (k, t) in left {
            let addr = ev.receiver(k as usize);
            if part.seeds.contains(&addr) {
                st.out.held_by_seeds += Wide::from(t.taint);
            } else {
                let d = st.out.dormant.entry(addr).or_insert((Wide::ZERO, t.hop));
                d.0 += Wide::from(t.taint);
                d.1 = d.1.min(t.hop);
            }
        }
        st.out.exchange = st.exchange;
        Found::of(&st.out, |t| st.place[&t.event])
    };
    let all = super::segments::gather(worker, found);
    Ok(all)
}
