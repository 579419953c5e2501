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
//! one of its transactions spent. It runs every transaction (as the
//! single-process Bitcoin sweep does), and refuses bridges. Over address
//! clusters (`--cluster`) every address stands for its cluster, as in the
//! single-process sweep. Under a horizon (`--max-hops`) whether an address
//! is cut off depends on its first kept arrival, from transactions any
//! worker may own: kept outputs are then relayed through the owner of the
//! address they pay, which decides them in event order and sends on what
//! it keeps (one more step a chain, so more rounds).
//!
//! The machinery (ownership, routing outputs to their spenders, segments
//! and re-runs) serves any rule for what a transaction does with its
//! inputs' taint ([`TxRule`]): the trace's policies here, and the exposure
//! index's categories in `super::exposure`.

use super::found::Found;
use super::{DataflowError, Owners, Workers};
use super::{Map, Set};
use crate::model::{NO_TX, flags, sub};
use crate::store::{Column, Store};
use crate::trace::rules::{Rules, stop_at_time, stop_rules};
use crate::trace::{Outcome, Policy, Spec, Tainted, TraceError, Wide};
use ruint::aliases::U256;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::{Arc, OnceLock};
use timely::ExchangeData;

const NONE: u32 = u32::MAX;

/// Pieces of an output: amounts tainted or clean, in order (FIFO).
type Pieces = crate::trace::UtxoPieces;

/// An output's taint as it travels between workers.
pub(crate) trait Taint: ExchangeData + Clone + PartialEq + std::fmt::Debug {
    /// Whether it carries any (a message that does not takes an earlier one back).
    fn carries(&self) -> bool;
    /// None at all.
    fn nothing() -> Self;
    /// Bytes of a message carrying it, as serialised.
    fn bytes(&self) -> u64;
}

/// What a sweep over the UTXO model does at each transaction a worker owns.
pub(crate) trait TxRule {
    /// An output's taint.
    type Taint: Taint;
    /// What a segment found; merged, what the finished segments found.
    type Found: Default;
    /// Whether the transactions of block `block` run.
    fn runs(&self, block: u64) -> bool;
    /// Transaction `tx` (events `events`, block time `time`): its inputs'
    /// taint from `io.spend`, what its outputs keep to `io.keep`.
    fn transaction(
        &self,
        store: &Store,
        tx: u32,
        events: std::ops::Range<usize>,
        time: i64,
        io: &mut Io<'_, Self::Taint>,
        found: &mut Self::Found,
    ) -> Result<(), String>;
    /// Add a finished segment's findings to the earlier ones.
    fn merge(&self, all: &mut Self::Found, seg: Self::Found) -> Result<(), String>;
    /// Whether kept outputs go through their address's owner first
    /// ([`Io::relay`]), which decides each in event order ([`TxRule::decide`]).
    fn relays(&self) -> bool {
        false
    }
    /// At the owner of `addr`, in event order: whether a relayed output
    /// `t` of `addr` is kept, given the address's state so far (`None`:
    /// no kept output yet; `Some(true)`: cut off; `Some(false)`: reached),
    /// and the state after it. What it does not keep is recorded in `found`.
    fn decide(&self, _addr: u32, _t: &Self::Taint, state: Option<bool>, _found: &mut Self::Found) -> (bool, Option<bool>) {
        (true, state)
    }
}

/// An output's taint, as the single-process sweep keeps it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct OutTaint {
    taint: u128,
    hop: u32,
    pieces: Option<Pieces>,
}

impl Taint for OutTaint {
    fn carries(&self) -> bool {
        self.taint != 0
    }
    fn nothing() -> Self {
        OutTaint { taint: 0, hop: 0, pieces: None }
    }
    fn bytes(&self) -> u64 {
        // Taint, hop, pieces (length, then amount and flag each).
        16 + 4 + 9 + 17 * self.pieces.as_ref().map_or(0, Vec::len) as u64
    }
}

/// An output's taint on its way to the owner of the transaction spending
/// it (`to`), or, relayed, to the owner of the address it pays (`to` that
/// address) first (no taint takes back what an earlier round sent).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Arrival<T> {
    to: u32,
    output: u64,
    t: T,
    relayed: bool,
}

impl<T: Taint> super::segments::Message for Arrival<T> {
    type Key = u64;
    fn key(&self) -> u64 {
        self.output
    }
    fn carries(&self) -> bool {
        self.t.carries()
    }
    fn retract(&mut self) {
        self.t = T::nothing();
    }
}

/// What a worker reads and never changes: the store, the rule, and who
/// spends each output.
struct Part<R> {
    store: Rc<Store>,
    rule: R,
    /// Output event -> the transaction spending it in the data (`NONE`: none).
    spender: Arc<Vec<u32>>,
    segment_bits: u32,
    me: usize,
    owners: Owners,
}

/// Tainted outputs a worker holds.
struct Outputs<T> {
    /// Of finished segments, whose spender is owned here (or none).
    taint: Map<u64, T>,
    /// Sent by other workers, until spent.
    inbox: Map<u64, T>,
    // The segment under way, taken back whole by a later round:
    new: Map<u64, T>,
    spent: Set<u64>,
    looked: Set<u64>,
}

impl<T> Default for Outputs<T> {
    fn default() -> Self {
        Outputs { taint: Map::default(), inbox: Map::default(), new: Map::default(), spent: Set::default(), looked: Set::default() }
    }
}

/// A transaction's access to the outputs: what it spends, where what it
/// lays goes.
pub(crate) struct Io<'a, T> {
    outs: &'a mut Outputs<T>,
    now: &'a mut Map<u64, Arrival<T>>,
    spender: &'a [u32],
    me: usize,
    owners: &'a Owners,
}

impl<T: Clone> Io<'_, T> {
    /// The taint of output `o`, spent now (none: untainted, or spent already).
    pub(crate) fn spend(&mut self, o: u64) -> Option<T> {
        let outs = &mut *self.outs;
        outs.looked.insert(o);
        if let Some(t) = outs.new.remove(&o) {
            return Some(t);
        }
        if outs.spent.contains(&o) {
            return None;
        }
        let t = outs.taint.get(&o).or_else(|| outs.inbox.get(&o)).cloned();
        if t.is_some() {
            outs.spent.insert(o);
        }
        t
    }

    /// Output `k` keeps `t`: here, or at its spender's owner.
    pub(crate) fn keep(&mut self, k: u64, t: T) {
        let spender = self.spender[k as usize];
        if spender == NONE || self.owners.of(spender) == self.me {
            self.outs.new.insert(k, t);
        } else {
            self.now.insert(k, Arrival { to: spender, output: k, t, relayed: false });
        }
    }

    /// Output `k`, paying `addr`, keeps `t` if the owner of `addr` decides so.
    pub(crate) fn relay(&mut self, k: u64, addr: u32, t: T) {
        self.now.insert(k, Arrival { to: addr, output: k, t, relayed: true });
    }
}

/// A worker's changing state.
struct State<R: TxRule> {
    outs: Outputs<R::Taint>,
    all: R::Found,
    seg: R::Found,
    cur: Option<u64>,
    /// What this worker sent on this segment's outputs.
    sent: Map<u64, Arrival<R::Taint>>,
    /// Relayed outputs of the segment under way paying this worker's
    /// addresses: output -> (address, taint).
    relayed: BTreeMap<u64, (u32, R::Taint)>,
    /// Each of this worker's addresses with a decided state (see [`TxRule::decide`]).
    decided: Map<u32, bool>,
    /// What the decisions of the segment under way found, and sent on.
    seg_decided: R::Found,
    forwarded: Map<u64, Arrival<R::Taint>>,
    /// The addresses the segment's decisions changed.
    seg_states: Map<u32, bool>,
    exchange: crate::trace::Traffic,
    /// The first failure (the worker then runs nothing more).
    error: Option<String>,
}

fn col<T: crate::store::Pod>(store: &Store, c: Column) -> &[T] {
    crate::store::cast(store.bytes(c))
}

impl<R: TxRule> State<R> {
    fn commit(&mut self, p: &Part<R>) {
        if self.cur.take().is_none() {
            return;
        }
        let outs = &mut self.outs;
        for o in outs.spent.drain() {
            outs.taint.remove(&o);
            outs.inbox.remove(&o);
        }
        outs.taint.extend(outs.new.drain());
        outs.looked.clear();
        if let Err(e) = p.rule.merge(&mut self.all, std::mem::take(&mut self.seg)) {
            self.error.get_or_insert(e);
        }
        if let Err(e) = p.rule.merge(&mut self.all, std::mem::take(&mut self.seg_decided)) {
            self.error.get_or_insert(e);
        }
        self.decided.extend(self.seg_states.drain());
        self.relayed.clear();
        self.forwarded.clear();
        self.sent.clear();
    }

    /// Decide the segment's relayed outputs again, in event order, from
    /// the addresses' states at its start: what to send on.
    fn decide(&mut self, p: &Part<R>) -> Vec<Arrival<R::Taint>> {
        self.seg_decided = R::Found::default();
        self.seg_states.clear();
        let mut now = Map::default();
        for (&k, (addr, t)) in &self.relayed {
            let state = self.seg_states.get(addr).or_else(|| self.decided.get(addr)).copied();
            let (keep, after) = p.rule.decide(*addr, t, state, &mut self.seg_decided);
            if let Some(a) = after {
                self.seg_states.insert(*addr, a);
            }
            if keep {
                // Unspent outputs stay with their address's owner.
                let spender = p.spender[k as usize];
                let to = if spender == NONE { *addr } else { spender };
                now.insert(k, Arrival { to, output: k, t: t.clone(), relayed: false });
            }
        }
        super::segments::changes(&mut self.forwarded, now, |_| true)
    }

    /// One round of segment `s`: every owned transaction that starts in it.
    fn round(&mut self, p: &Part<R>, s: u64, msgs: Vec<Arrival<R::Taint>>) -> (Vec<Arrival<R::Taint>>, Option<u64>) {
        let n = p.store.len() as u64;
        let (lo, hi) = super::segments::span(s, p.segment_bits, n);
        let first = self.cur != Some(s);
        if first {
            self.commit(p);
            self.cur = Some(s);
        }
        let mut rerun = first;
        let mut redecide = first && p.rule.relays();
        for m in msgs {
            if m.relayed {
                redecide = true;
                if m.t.carries() {
                    self.relayed.insert(m.output, (m.to, m.t));
                } else {
                    self.relayed.remove(&m.output);
                }
                continue;
            }
            rerun |= self.outs.looked.contains(&m.output);
            if m.t.carries() {
                self.outs.inbox.insert(m.output, m.t);
            } else {
                self.outs.inbox.remove(&m.output);
            }
        }
        let next = (hi < n && self.error.is_none()).then_some(s + 1);
        if self.error.is_some() {
            return (Vec::new(), next);
        }
        let mut outbox = if redecide { self.decide(p) } else { Vec::new() };
        if !rerun {
            self.count(&outbox);
            return (outbox, next);
        }
        self.exchange.rounds += 1;
        self.outs.new.clear();
        self.outs.spent.clear();
        self.outs.looked.clear();
        self.seg = R::Found::default();
        let mut now: Map<u64, Arrival<R::Taint>> = Map::default();
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
            let run = runs.at(i);
            let mut j = i + 1;
            while j < n as usize && tx != NO_TX && ev.tx(j) == tx && runs.at(j).block == run.block {
                j += 1;
            }
            let (start, end) = (i, j);
            i = j;
            if p.owners.of(tx) != p.me || !p.rule.runs(run.block) {
                continue;
            }
            let mut io = Io { outs: &mut self.outs, now: &mut now, spender: &p.spender, me: p.me, owners: &p.owners };
            if let Err(e) = p.rule.transaction(&p.store, tx, start..end, run.time, &mut io, &mut self.seg) {
                self.error.get_or_insert(e);
                return (Vec::new(), None);
            }
        }
        // What changed since the last round, and what it no longer sends.
        outbox.extend(super::segments::changes(&mut self.sent, now, |_| true));
        self.count(&outbox);
        (outbox, next)
    }

    fn count(&mut self, outbox: &[Arrival<R::Taint>]) {
        self.exchange.messages += outbox.len() as u64;
        // As serialised: destination, output, the taint, the relay flag.
        self.exchange.bytes += outbox.iter().map(|m| 4 + 8 + m.t.bytes() + 1).sum::<u64>();
    }
}

/// Who spends each output of the store (`NONE`: nobody in the data),
/// built once a process from the input columns by its first worker to ask
/// and shared by the others (`shared` is the run's).
pub(crate) fn spenders_once(shared: &OnceLock<Arc<Vec<u32>>>, store: &Store) -> Arc<Vec<u32>> {
    shared.get_or_init(|| Arc::new(spenders(store))).clone()
}

fn spenders(store: &Store) -> Vec<u32> {
    let mut spender = vec![NONE; store.len()];
    let in_tx: &[u32] = col(store, Column::InTx);
    let in_spent: &[u64] = col(store, Column::InSpentEvent);
    for (k, &o) in in_spent.iter().enumerate() {
        if o != u64::MAX && (o as usize) < spender.len() {
            spender[o as usize] = in_tx[k];
        }
    }
    spender
}

/// What one worker's run of a rule leaves: its findings, its tainted
/// outputs left unspent (with those sent to it), what it exchanged, and
/// its first failure.
pub(crate) struct Swept<R: TxRule> {
    pub(crate) found: R::Found,
    pub(crate) left: Vec<(u64, R::Taint)>,
    pub(crate) exchange: crate::trace::Traffic,
    pub(crate) error: Option<String>,
}

/// Run `rule` over the store on this worker, every worker together, in
/// segments of `2^segment_bits` events.
pub(crate) fn sweep_rule<R: TxRule + 'static>(
    worker: &mut timely::worker::Worker,
    store: Rc<Store>,
    rule: R,
    spender: Arc<Vec<u32>>,
    (segment_bits, owners): (u32, Owners),
) -> Swept<R> {
    let me = worker.index();
    let part = Rc::new(Part { store, rule, spender, segment_bits, me, owners: owners.clone() });
    let state: Rc<RefCell<State<R>>> = Rc::new(RefCell::new(State {
        outs: Outputs::default(),
        all: R::Found::default(),
        seg: R::Found::default(),
        cur: None,
        sent: Map::default(),
        relayed: BTreeMap::new(),
        decided: Map::default(),
        seg_decided: R::Found::default(),
        forwarded: Map::default(),
        seg_states: Map::default(),
        exchange: crate::trace::Traffic::default(),
        error: None,
    }));
    let (p2, s2) = (part.clone(), state.clone());
    let first = (!part.store.is_empty()).then_some(0);
    let busy = super::segments::run(
        worker,
        first,
        super::segments::Rounds::Barrier,
        move |m: &Arrival<R::Taint>| owners.of(m.to) as u64,
        move |seg, msgs| s2.borrow_mut().round(&p2, seg, msgs),
    );
    let mut st = state.borrow_mut();
    st.commit(&part);
    let st = &mut *st;
    let left: Vec<(u64, R::Taint)> = st.outs.taint.drain().chain(st.outs.inbox.drain()).collect();
    Swept {
        found: std::mem::take(&mut st.all),
        left,
        exchange: crate::trace::Traffic { busy_ns: busy, ..st.exchange },
        error: st.error.take(),
    }
}

/// The trace's rule: poison, haircut or FIFO from its seeds, with stops.
struct Trace {
    policy: Policy,
    seeds: Set<u32>,
    seed_txs: Set<u32>,
    seed_outs: Set<(u32, u32)>,
    rules: Rules,
    window: (u64, u64),
    clusters: Option<Arc<crate::cluster::Clustering>>,
    max_hops: Option<u32>,
}

impl Trace {
    /// The cluster of an address when tracing over clusters, else the address.
    fn unit(&self, a: u32) -> u32 {
        self.clusters.as_ref().map_or(a, |c| c.rep(a))
    }
}

/// What a trace found.
#[derive(Default)]
struct TraceFound {
    out: Outcome,
    /// The segment's tainted events with their place in the
    /// single-process sweep's list: (transaction's first event, 0 for its
    /// fee and 1 for its outputs).
    tainted: Vec<(u64, u8, Tainted)>,
    /// The place in that list of each of `out`'s tainted events (finished
    /// segments), in the same order.
    place: Vec<u64>,
}

impl TxRule for Trace {
    type Taint = OutTaint;
    type Found = TraceFound;

    fn runs(&self, block: u64) -> bool {
        block >= self.window.0 && block <= self.window.1
    }

    fn merge(&self, all: &mut TraceFound, seg: TraceFound) -> Result<(), String> {
        let mut o = seg.out;
        o.tainted = seg.tainted.iter().map(|x| x.2).collect();
        all.place.extend(seg.tainted.iter().map(|&(s, k, _)| s * 2 + u64::from(k)));
        super::found::merge(&mut all.out, o);
        Ok(())
    }

    fn relays(&self) -> bool {
        self.max_hops.is_some()
    }

    /// trace::utxo's horizon: an address whose first kept arrival comes at
    /// the horizon or beyond is cut off from then on (seeds never are).
    fn decide(&self, addr: u32, t: &OutTaint, state: Option<bool>, f: &mut TraceFound) -> (bool, Option<bool>) {
        let beyond = self.max_hops.is_some_and(|n| t.hop >= n);
        if t.hop > 0 && (state == Some(true) || (state.is_none() && beyond)) {
            f.out.cut_off(addr, Wide::from(t.taint), t.hop);
            return (false, Some(true));
        }
        (true, Some(state.unwrap_or(false)))
    }

    /// Transaction `tx`, as `trace::utxo` runs it.
    fn transaction(
        &self,
        store: &Store,
        tx: u32,
        events: std::ops::Range<usize>,
        time: i64,
        io: &mut Io<'_, OutTaint>,
        f: &mut TraceFound,
    ) -> Result<(), String> {
        let _ = time;
        let ev = store.events();
        let (start, end) = (events.start, events.end);
        f.out.visited += (end - start) as u64;
        let outs: Vec<usize> = (start..end).filter(|&k| sub::class(ev.sub(k)) == sub::TOP).collect();
        let fee_event = (start..end).find(|&k| ev.flags(k) & flags::FEE != 0);
        if outs.is_empty() {
            return Ok(());
        }
        let inputs = crate::trace::UtxoInputs::gather(store, tx, |spent| io.spend(spent).map(|t| (t.taint, t.hop, t.pieces)));
        let values: Vec<u128> = outs.iter().map(|&k| ev.value.get(k)).collect();
        let fee: u128 = fee_event.map_or(0, |k| ev.value.get(k));
        let is_seed_tx = self.seed_txs.contains(&tx);
        let (in_hop, pred) = (inputs.in_hop, inputs.pred);
        let (shares, laid, to_fee) = inputs.spread(self.policy, &values, fee);
        if to_fee > 0 {
            f.out.fees += Wide::from(to_fee);
            if let Some(k) = fee_event {
                f.tainted.push((start as u64, 0, Tainted { event: k as u64, x: U256::from(to_fee), hop: in_hop.saturating_add(1) }));
            }
        }
        for (o, &k) in outs.iter().enumerate() {
            let v = values[o];
            let vout = ev.sub(k) & sub::MAX_INDEX;
            let addr = self.unit(ev.receiver(k));
            let mut x = shares[o];
            let mut hop = in_hop.saturating_add(1);
            if self.seeds.contains(&addr) || is_seed_tx || self.seed_outs.contains(&(tx, vout)) {
                f.out.seeded += Wide::from(v - x);
                x = v;
                hop = 0;
            }
            if x == 0 {
                continue;
            }
            f.tainted.push((start as u64, 1, Tainted { event: k as u64, x: U256::from(x), hop }));
            if let Some((pk, _)) = pred
                && hop > 0
            {
                f.out.pred.insert(k as u64, pk);
            }
            if hop > 0
                && let Some(rule) = stop_at_time(&self.rules, addr, ev.time(k))
                && !self.seeds.contains(&addr)
            {
                f.out.absorb(addr, k as u64, rule, U256::from(x), hop);
                continue;
            }
            let pieces = match self.policy {
                Policy::Fifo if x < v && x > 0 => Some(laid[o].clone()),
                _ => None,
            };
            let t = OutTaint { taint: x, hop, pieces };
            // Under a horizon the address's first arrival decides, wherever its transactions are.
            if self.max_hops.is_some() && !self.seeds.contains(&addr) {
                io.relay(k as u64, addr, t);
            } else {
                io.keep(k as u64, t);
            }
        }
        Ok(())
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
        if spec.max_hops == Some(0) {
            return Err(TraceError::Usage("--max-hops must be at least 1".into()).into());
        }
        if (spec.from_block.is_some() || spec.to_block.is_some()) && store.manifest.order_by == Some(crate::model::OrderBy::Time) {
            return Err(TraceError::Usage("--from-block/--to-block need block numbers; this store has only block times".into()).into());
        }
        let rules = stop_rules(&store, &spec.stop_at, &|a| spec.unit(a))?;
        warnings.push(spec.seeds.iter().copied().filter(|&s| rules.contains_key(&spec.unit(s))).collect());
    }
    let identity = super::whole_identity(&store);
    let owner_bits = super::owner_bits_of(&store)?;
    drop(store);
    // Clusters by their parameters: every process builds them from the same store.
    let asked: Vec<String> = questions
        .iter()
        .map(|(spec, outs)| {
            let params = spec.clusters.as_ref().map(|c| c.params);
            format!("{:?} {outs:?} {params:?}", Spec { clusters: None, ..spec.clone() })
        })
        .collect();
    let (processes, threads) = w.layout();
    let owners = Owners::new(processes, threads, owner_bits);
    let key = super::net::key_of(&format!("utxo {identity} {segment_bits} {owners:?} {asked:?}"));
    let (dir, qs) = (store_dir.to_path_buf(), questions.to_vec());
    let shared = OnceLock::new();
    let results = super::net::execute(w, key, move |worker| -> Result<Vec<Vec<Found>>, String> {
        let store = Store::open(&dir).map_err(|e| super::net::give_up(e.to_string()))?;
        // Who spends each output, once for every question.
        let spender = spenders_once(&shared, &store);
        qs.iter().map(|(spec, outs)| sweep_on(worker, &dir, spec, outs, spender.clone(), (segment_bits, owners.clone()))).collect()
    })?;
    super::found::outcomes(results, warnings, w.is_first())
}

/// One worker's sweep of one question: its findings, gathered at worker 0.
fn sweep_on(
    worker: &mut timely::worker::Worker,
    dir: &std::path::Path,
    spec: &Spec,
    outpoints: &[(u32, u32)],
    spender: Arc<Vec<u32>>,
    bits: (u32, Owners),
) -> Result<Vec<Found>, String> {
    let store = Rc::new(Store::open(dir).map_err(|e| super::net::give_up(e.to_string()))?);
    let rules = stop_rules(&store, &spec.stop_at, &|a| spec.unit(a)).map_err(|e| super::net::give_up(e.to_string()))?;
    let rule = Trace {
        policy: spec.policy,
        seeds: spec.seeds.iter().map(|&a| spec.unit(a)).collect(),
        seed_txs: spec.seed_txs.iter().copied().collect(),
        seed_outs: outpoints.iter().copied().collect(),
        rules,
        window: (spec.from_block.unwrap_or(0), spec.to_block.unwrap_or(u64::MAX)),
        clusters: spec.clusters.clone(),
        max_hops: spec.max_hops,
    };
    let seeds = rule.seeds.clone();
    let Swept { mut found, left, exchange, .. } = sweep_rule(worker, store.clone(), rule, spender, bits);
    // Unspent tainted outputs (and those whose spender never ran) are where the taint sits.
    let ev = store.events();
    for (k, t) in left {
        let addr = spec.unit(ev.receiver(k as usize));
        if seeds.contains(&addr) {
            found.out.held_by_seeds += Wide::from(t.taint);
        } else {
            let d = found.out.dormant.entry(addr).or_insert((Wide::ZERO, t.hop));
            d.0 += Wide::from(t.taint);
            d.1 = d.1.min(t.hop);
        }
    }
    found.out.exchange = exchange;
    let places = std::mem::take(&mut found.place);
    let all = Found::placed(&mut found.out, places);
    Ok(super::segments::gather(worker, all))
}
