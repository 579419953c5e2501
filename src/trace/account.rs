//! The account-model sweep (Ethereum and tokens), in its sparse and full
//! shapes (ADR 0004, ADR 0005).

use super::fifo::{Lot, Queue};
use super::num::*;
use super::records::{Bits, Hot, Packed, Records, Recs, set_bits};
use super::rules::*;
use super::types::*;
use crate::model::{NO_BLOCK, NO_TX, Pseudo, flags};
use crate::store::Store;
use ruint::aliases::U256;
use std::collections::HashSet;

/// Trace the account model (Ethereum and tokens).
///
/// The sweep runs with u128 balances (16 bytes an address, native arithmetic)
/// and runs again with 320-bit ones only if some amount or sum does not fit.
pub fn run_account(store: &Store, spec: &Spec) -> Result<Outcome, TraceError> {
    if spec.max_hops == Some(0) {
        return Err(TraceError::Usage("--max-hops must be at least 1".into()));
    }
    crate::sys::timing("account sweep: start");
    if (spec.from_block.is_some() || spec.to_block.is_some()) && store.manifest.order_by == Some(crate::model::OrderBy::Time) {
        return Err(TraceError::Usage("--from-block/--to-block need block numbers; this store has only block times".into()));
    }
    if spec.clusters.is_some() {
        return Err(TraceError::Usage("--cluster needs a Bitcoin store: clustering joins the inputs of a transaction".into()));
    }
    let rules = stop_rules(store, &spec.stop_at, &|a| a)?;
    crate::sys::timing("account sweep: stop rules read");
    let windowed = spec.from_block.is_some() || spec.to_block.is_some();
    let fast = if windowed || spec.engine == Some(Engine::Full) {
        whole::<u128, Records<u128>, false>(store, spec, &rules)
    } else {
        whole::<u128, Packed<u128>, true>(store, spec, &rules)
    };
    match fast {
        Ok(out) => Ok(out),
        Err(Overflow) => {
            // A spent budget stops the sweep as an overflow does.
            spec.budget.check()?;
            whole::<Wide, Records<Wide>, false>(store, spec, &rules).map_err(|_| spec.budget.halted_or_overflow())
        }
    }
}

/// An address's flags in the account sweeps (this one and the one across
/// workers, `dataflow::account`).
pub(crate) mod state {
    /// A seed.
    pub(crate) const IS_SEED: u8 = 1;
    /// Has a stop rule.
    pub(crate) const HAS_RULE: u8 = 2;
    /// Cut off by the horizon.
    pub(crate) const HORIZON: u8 = 4;
    /// Poison: reached.
    pub(crate) const POISONED: u8 = 8;
    /// FIFO: holds a queue of lots.
    pub(crate) const HAS_QUEUE: u8 = 16;
    /// Sparse FIFO: the queue lacks its oldest lot, the clean balance held before
    /// taint first arrived; the next send learns it from the sender-balance column.
    pub(crate) const PENDING: u8 = 32;
}
use state::*;

/// A sweep from the first event to the last, and its outcome.
fn whole<N: Num, R: Recs<N>, const SPARSE: bool>(store: &Store, spec: &Spec, rules: &Rules) -> Result<Outcome, Overflow> {
    let mut s = Sweep::<N, R, SPARSE>::new(store, spec, rules);
    s.advance(store, spec, rules)?;
    s.finish(store, spec, rules)
}

/// The account sweep. `SPARSE` visits only the events whose sender can pass
/// taint or whose receiver is a seed (or holds a FIFO queue), and takes each
/// sender's balance from the store instead of keeping every balance.
///
/// Its state lives here between calls of [`Sweep::advance`], so that a
/// sweep can run on over the events an append adds ([`Running`]).
struct Sweep<N: Num, R: Recs<N>, const SPARSE: bool> {
    out: Outcome,
    st: R,
    /// Beside the records, not in them: labelled addresses can be a large
    /// share of all (every exchange deposit address), and a record written for
    /// each would make the sparse sweep's records dense before taint moved.
    ruled: Bits,
    /// Those whose first rule has no validity interval: it names every
    /// arrival, and the rules need not be looked up again (a lookup in the
    /// map of rules is two misses, most of a wide trace's sweep).
    always: Bits,
    stops: Stops,
    /// Sparse: who can send taint, and who must see every arrival.
    hot: Hot,
    seed_txs: HashSet<u32>,
    /// Sparse: the addresses taint reached, so that the end need not scan every record.
    touched: Vec<u32>,
    queues: IdMap<Queue>,
    pieces: Vec<Lot>,
    /// Addresses the arrays have room for.
    n_addr: usize,
    /// Events swept: the next one to look at.
    at: usize,
    _n: std::marker::PhantomData<N>,
}

impl<N: Num, R: Recs<N>, const SPARSE: bool> Sweep<N, R, SPARSE> {
    /// A sweep of `spec` over `store` at its first event.
    fn new(store: &Store, spec: &Spec, rules: &Rules) -> Self {
        let n_addr = store.address_count();
        let mut s = Sweep {
            out: Outcome::default(),
            st: R::with_addresses(n_addr),
            ruled: Bits::new(n_addr),
            always: Bits::new(n_addr),
            stops: Stops::default(),
            hot: Hot::new(if SPARSE { n_addr } else { 0 }, spec.policy == Policy::Fifo),
            seed_txs: spec.seed_txs.iter().copied().collect(),
            touched: Vec::new(),
            queues: IdMap::default(),
            pieces: Vec::new(),
            n_addr,
            at: 0,
            _n: std::marker::PhantomData,
        };
        s.rule(rules, rules.keys().copied());
        for &seed in &spec.seeds {
            let a = &mut s.st[seed as usize];
            a.fl |= IS_SEED | POISONED;
            a.set_hop(0);
            if rules.contains_key(&seed) {
                s.out.seed_stop_warnings.push(seed);
            }
            if SPARSE {
                s.hot.mark_both(seed);
            }
        }
        s
    }

    /// Mark addresses `ids` of `rules` as having rules.
    fn rule(&mut self, rules: &Rules, ids: impl Iterator<Item = u32>) {
        for id in ids {
            self.ruled.set(id);
            if rules.get(&id).and_then(|l| l.first()).is_some_and(|r| r.from.is_none() && r.to.is_none()) {
                self.always.set(id);
            }
        }
    }

    /// Room for the addresses of `store`, which grew by an append.
    fn grow(&mut self, store: &Store) {
        let n = store.address_count();
        if n > self.n_addr {
            self.st.grow(n);
            self.ruled.grow(n);
            self.always.grow(n);
            if SPARSE {
                self.hot.grow(n);
            }
            self.n_addr = n;
        }
    }

    /// Sweep the events from where the sweep stands to the last of `store`.
    fn advance(&mut self, store: &Store, spec: &Spec, rules: &Rules) -> Result<(), Overflow> {
        let Sweep { out, st, ruled, always, stops, hot, seed_txs, touched, queues, pieces, .. } = self;
        let ev = store.events();
        let sender_balance = store.sender_balances();
        let mut big = store.big_reads();
        let fees_id = Pseudo::Fees.id() as usize;
        let start = self.at;
        let n_events = store.len();
        // Sparse: the events of seed transactions, in order.
        let seed_tx_events: Vec<usize> =
            if SPARSE { super::records::seed_tx_events_in(store, &spec.seed_txs, start..n_events) } else { Vec::new() };
        let mut next_seed_tx = 0;
        let from_block = spec.from_block.unwrap_or(0);
        let to_block = spec.to_block.unwrap_or(u64::MAX);
        let windowed = spec.from_block.is_some() || spec.to_block.is_some();

        // Events go in blocks of 16 whose senders and receivers are decoded
        // together, the block after one block early so that its records load
        // ahead. Sparse: a block's "may matter" bits are one branch-free mask;
        // a block of nothing but cold events is skipped whole; the mask of the
        // block after is made early too, and reused unless a hot bit changed
        // meanwhile.
        const BLOCK: usize = 16;
        // About 20 cache lines of each packed column ahead of the decode.
        const PARTIES_AHEAD: usize = 512;
        let (mut block_start, mut block_end, mut mask, mut mask_at) = (start, start, 0u64, 0u64);
        let mut ahead: (usize, u64, u64) = (usize::MAX, 0, 0);
        // Senders and receivers of this block and the block after, decoded
        // once a block from their packed columns.
        let (mut cur_f, mut cur_t, mut next_f, mut next_t) = ([0u32; BLOCK], [0u32; BLOCK], [0u32; BLOCK], [0u32; BLOCK]);
        let mut next_seed_event = seed_tx_events.get(next_seed_tx).copied().unwrap_or(usize::MAX);
        let mut next = start;
        let mut runs = ev.cursor();
        while next < n_events {
            let i = next;
            next += 1;
            if i == block_end {
                if !spec.budget.go_on(out.visited) {
                    return Err(Overflow);
                }
                let end = (i + BLOCK).min(n_events);
                let n = end - i;
                if ahead.0 == i {
                    (cur_f, cur_t) = (next_f, next_t);
                } else {
                    ev.parties(i, &mut cur_f[..n], &mut cur_t[..n]);
                }
                let ahead_end = (end + BLOCK).min(n_events);
                let an = ahead_end - end;
                ev.parties(end, &mut next_f[..an], &mut next_t[..an]);
                ev.prefetch_parties(i + PARTIES_AHEAD);
                (block_start, block_end) = (i, end);
                if SPARSE && !st.is_dense() {
                    mask = if ahead.0 == i && ahead.2 == hot.changes { ahead.1 } else { hot.mask(&cur_f[..n], &cur_t[..n]) };
                    mask_at = hot.changes;
                    let m = hot.mask(&next_f[..an], &next_t[..an]);
                    ahead = (end, m, hot.changes);
                    // Load the records and column entries of the next block's hot
                    // events ahead: they are random.
                    for k in set_bits(m) {
                        let j = end + k;
                        st.prefetch(next_f[k]);
                        st.prefetch(next_t[k]);
                        crate::sys::prefetch(&sender_balance.lo[j]);
                        crate::sys::prefetch(&sender_balance.hi[j]);
                        crate::sys::prefetch(&ev.value.lo[j]);
                        crate::sys::prefetch(&ev.value.hi[j]);
                        ev.prefetch_kind(j);
                    }
                    // This block's slots were loaded a block ago: now their records.
                    for k in set_bits(mask) {
                        st.prefetch_record(cur_f[k]);
                        st.prefetch_record(cur_t[k]);
                    }
                    if mask == 0 && next_seed_event >= end {
                        next = end;
                        continue;
                    }
                } else {
                    // No mask to reuse.
                    ahead = (end, 0, u64::MAX);
                    // Addresses are read in random order: start loading the next block's now.
                    for k in 0..an {
                        st.prefetch(next_f[k]);
                        st.prefetch(next_t[k]);
                    }
                }
            }
            // Once taint is dense (the records went to a full array) most events
            // are visited anyway: drop the skip test and visit every one, which is
            // safe (an event that moves no taint changes nothing but the sender's
            // stored balance, read afresh at its next send).
            if SPARSE && !st.is_dense() {
                let may_matter = if mask_at == hot.changes {
                    mask >> (i - block_start) & 1 != 0
                } else {
                    hot.event(cur_f[i - block_start], cur_t[i - block_start])
                };
                if i == next_seed_event {
                    next_seed_tx += 1;
                    next_seed_event = seed_tx_events.get(next_seed_tx).copied().unwrap_or(usize::MAX);
                } else if !may_matter {
                    continue;
                }
            }
            out.visited += 1;
            if ev.asset(i) != spec.asset || ev.flags(i) & flags::MOVES_NOTHING != 0 {
                continue;
            }
            if windowed && {
                let b = runs.at(i).block;
                b == NO_BLOCK || b < from_block || b > to_block
            } {
                continue;
            }
            let aw = N::value(&mut big, i, ev.value.get(i)).ok_or(Overflow)?;
            if aw.is_zero() {
                continue;
            }
            let (u, v) = (cur_f[i - block_start] as usize, cur_t[i - block_start] as usize);
            if SPARSE {
                let b = match sender_balance.get(i) {
                    u128::MAX => big.wide_balance(i),
                    b => b,
                };
                st[u].bal = N::from_u128(b).ok_or(Overflow)?;
                if st[u].fl & PENDING != 0 {
                    st[u].fl &= !PENDING;
                    if let Some(q) = queues.get_mut(&(u as u32)) {
                        // Everything but the oldest lot arrived since the queue began.
                        let held = st[u].bal.to_u256();
                        q.push_front(Lot { amount: held - q.total(), tainted: false });
                    }
                }
            }
            let su = st[u];
            let u_seed = su.fl & IS_SEED != 0;
            // Unknown origin: the export does not show how u came to hold a.
            if su.bal < aw {
                let s = aw - su.bal;
                let holds = match spec.policy {
                    Policy::Haircut => !su.t.is_zero(),
                    Policy::Poison => su.fl & POISONED != 0,
                    Policy::Fifo => su.fl & HAS_QUEUE != 0,
                };
                if u_seed {
                    out.seeded += s.to_wide();
                    out.unknown_origin += s.to_wide();
                } else if holds {
                    out.unknown_origin += s.to_wide();
                }
                // Seeds hold nothing but taint (their balance is their taint) and a
                // poisoned address's every unit counts: only FIFO queues need the lot.
                if spec.policy == Policy::Fifo
                    && !u_seed
                    && su.fl & HAS_QUEUE != 0
                    && let Some(q) = queues.get_mut(&(u as u32))
                {
                    q.push_front(Lot { amount: s.to_u256(), tainted: false });
                }
                st[u].bal = su.bal.add(s)?;
            }
            if u == v {
                continue;
            }
            // The taint that leaves u.
            pieces.clear();
            let x: N = if u_seed {
                aw
            } else {
                match spec.policy {
                    Policy::Poison => {
                        if su.fl & POISONED != 0 {
                            aw
                        } else {
                            N::ZERO
                        }
                    }
                    Policy::Haircut => N::haircut(aw, st[u].t, st[u].bal),
                    Policy::Fifo if su.fl & HAS_QUEUE != 0 => match queues.get_mut(&(u as u32)) {
                        Some(q) => {
                            q.take(aw.to_u256(), pieces);
                            let x = pieces.iter().filter(|l| l.tainted).fold(U256::ZERO, |s, l| s + l.amount);
                            if q.is_clean() {
                                queues.remove(&(u as u32));
                                st[u].fl &= !HAS_QUEUE;
                                if SPARSE && !u_seed {
                                    hot.clear_both(u as u32);
                                }
                            }
                            N::from_u256(x).ok_or(Overflow)?
                        }
                        None => N::ZERO,
                    },
                    Policy::Fifo => N::ZERO,
                }
            };
            st[u].bal = st[u].bal - aw;
            if spec.policy == Policy::Haircut && !u_seed {
                st[u].t = st[u].t - x;
            }
            // Sparse: only a seed's balance is kept (every event of a seed is visited).
            if !SPARSE || st[v].fl & IS_SEED != 0 {
                st[v].bal = st[v].bal.add(aw)?;
            }
            let is_fee = ev.flags(i) & flags::FEE != 0;
            let seed_tx = !seed_txs.is_empty() && !is_fee && ev.tx(i) != NO_TX && seed_txs.contains(&ev.tx(i));
            let (delivered, ev_hop) = if seed_tx {
                out.seeded += (aw - x).to_wide();
                (aw, 0)
            } else {
                (x, su.hop().saturating_add(1))
            };
            let sv = st[v];
            if sv.fl & IS_SEED != 0 {
                // Every unit a seed receives is tainted; only what arrives clean is new.
                out.seeded += (aw - delivered).to_wide();
                if !delivered.is_zero() && spec.evidence {
                    out.tainted.push(Tainted { event: i as u64, x: delivered.to_u256(), hop: ev_hop });
                }
                continue;
            }
            if delivered.is_zero() {
                if spec.policy == Policy::Fifo
                    && sv.fl & HAS_QUEUE != 0
                    && let Some(q) = queues.get_mut(&(v as u32))
                {
                    q.push_back(Lot { amount: aw.to_u256(), tainted: false });
                }
                continue;
            }
            if spec.evidence {
                out.tainted.push(Tainted { event: i as u64, x: delivered.to_u256(), hop: ev_hop });
            }
            let vid = v as u32;
            let absorbing = if v == fees_id {
                out.fees += delivered.to_wide();
                true
            } else if always.get(vid) {
                stops.absorb(&mut st[v].stop, vid, i as u64, None, delivered.to_u256(), ev_hop);
                st[v].set_hop(sv.hop().min(ev_hop));
                true
            } else if let Some(rule) = if ruled.get(vid) { stop_at_time(rules, vid, ev.time(i)) } else { None } {
                stops.absorb(&mut st[v].stop, vid, i as u64, Some(rule), delivered.to_u256(), ev_hop);
                st[v].set_hop(sv.hop().min(ev_hop));
                true
            } else if sv.fl & HORIZON != 0 || (sv.hop() == u32::MAX && spec.max_hops.is_some_and(|n| ev_hop >= n)) {
                st[v].fl |= HORIZON;
                out.cut_off(vid, delivered.to_wide(), ev_hop);
                true
            } else {
                false
            };
            if absorbing {
                if spec.policy == Policy::Fifo
                    && sv.fl & HAS_QUEUE != 0
                    && let Some(q) = queues.get_mut(&vid)
                {
                    q.push_back(Lot { amount: aw.to_u256(), tainted: false });
                }
                continue;
            }
            st[v].set_hop(sv.hop().min(ev_hop));
            match spec.policy {
                Policy::Poison => {
                    st[v].fl |= POISONED;
                    st[v].t = sv.t.add(delivered)?;
                    if SPARSE && hot.mark_send(vid) {
                        touched.push(vid);
                    }
                }
                Policy::Haircut => {
                    st[v].t = sv.t.add(delivered)?;
                    if SPARSE && hot.mark_send(vid) {
                        touched.push(vid);
                    }
                }
                Policy::Fifo => {
                    let lots = if seed_tx {
                        vec![Lot { amount: aw.to_u256(), tainted: true }]
                    } else if pieces.is_empty() {
                        vec![Lot { amount: aw.to_u256(), tainted: !x.is_zero() }]
                    } else {
                        pieces.clone()
                    };
                    let q = queues.entry(vid).or_insert_with(|| {
                        if SPARSE {
                            st[v].fl |= PENDING;
                            hot.mark_both(vid);
                            Queue::default()
                        } else {
                            Queue::with((st[v].bal - aw).to_u256(), false)
                        }
                    });
                    for l in lots {
                        q.push_back(l);
                    }
                    st[v].fl |= HAS_QUEUE;
                }
            }
        }
        self.at = n_events;
        Ok(())
    }

    /// The outcome: what arrived where, what is left where.
    fn finish(mut self, store: &Store, spec: &Spec, rules: &Rules) -> Result<Outcome, Overflow> {
        let mut out = std::mem::take(&mut self.out);
        let st = &self.st;
        out.destinations = self.stops.into_map(rules);
        crate::sys::timing("account sweep: done");
        for &s in &spec.seeds {
            out.held_by_seeds += st[s as usize].bal.to_wide();
        }
        // In address order: the records are read in order and the maps are appended to.
        self.touched.sort_unstable();
        let reached: Box<dyn Iterator<Item = u32>> =
            if SPARSE { Box::new(self.touched.iter().copied()) } else { Box::new(0..self.n_addr as u32) };
        match spec.policy {
            Policy::Haircut => {
                for id in reached {
                    let a = &st[id as usize];
                    if !a.t.is_zero() && a.fl & IS_SEED == 0 {
                        out.dormant.insert(id, (a.t.to_wide(), a.hop()));
                    }
                }
            }
            Policy::Fifo => {
                for (&id, q) in &self.queues {
                    let t = q.tainted();
                    let a = &st[id as usize];
                    if !t.is_zero() && a.fl & IS_SEED == 0 {
                        out.dormant.insert(id, (Wide::from(t), a.hop()));
                    }
                }
            }
            Policy::Poison => {
                let sorted: Vec<u32> = reached.filter(|&id| !st[id as usize].t.is_zero() && st[id as usize].fl & IS_SEED == 0).collect();
                let finals = if SPARSE { store.final_balances(spec.asset, &sorted) } else { Vec::new() };
                for (k, &id) in sorted.iter().enumerate() {
                    let a = &st[id as usize];
                    let holds = if SPARSE {
                        match finals[k] {
                            u128::MAX => return Err(Overflow),
                            b => b != 0,
                        }
                    } else {
                        !a.bal.is_zero()
                    };
                    if holds {
                        out.dormant.insert(id, (a.t.to_wide(), a.hop()));
                    }
                }
            }
        }
        out.sweep_heap_bytes = crate::sys::anon_rss_bytes().unwrap_or(0);
        out.seed_stop_warnings.sort_unstable();
        Ok(out)
    }
}

/// A sparse account sweep that runs on as its store grows by appends
/// (`watch`, ADR 0021): its records, queues and stop rules stay alive
/// between batches, so that a batch costs its own events, not every
/// address that ever held the taint. Each [`Running::advance`] sweeps the
/// events added since the last one and returns those that carried taint;
/// [`Running::finish`] gives the outcome a sweep of the whole store from
/// the start gives.
///
/// It needs a pure append between calls (no event before the last swept
/// changed, the same labels), which the caller checks: an append never
/// renumbers addresses, so the records stay theirs.
pub struct Running {
    spec: Spec,
    /// Its stop rules, which also name the stops of its alerts.
    labels: StopLabels,
    unresolved: super::rules::Unresolved,
    sweep: Sweep<u128, Packed<u128>, true>,
    /// An advance failed part way: the state is no longer a sweep's.
    spoiled: bool,
}

impl Running {
    /// The sweep of `spec` over `store`, standing at its first event.
    /// The sparse shape only: no block window, no clusters, no forced full
    /// sweep.
    pub fn new(store: &Store, spec: &Spec) -> Result<Running, TraceError> {
        if spec.max_hops == Some(0) {
            return Err(TraceError::Usage("--max-hops must be at least 1".into()));
        }
        if spec.from_block.is_some() || spec.to_block.is_some() || spec.engine == Some(Engine::Full) || spec.clusters.is_some() {
            return Err(TraceError::Internal("a sweep that runs on needs the sparse shape, no block window and no clusters".into()));
        }
        let (rules, unresolved) = super::rules::stop_rules_and_unresolved(store, &spec.stop_at, &|a| a)?;
        let sweep = Sweep::new(store, spec, &rules);
        Ok(Running { spec: spec.clone(), labels: StopLabels::of_addresses(rules), unresolved, sweep, spoiled: false })
    }

    /// Events swept: the store's length at the last advance.
    pub fn swept(&self) -> u64 {
        self.sweep.at as u64
    }

    /// Sweep the events `store` gained since the last advance (a pure
    /// append of the store it last saw), and return those that carried
    /// taint, in event order. An error (an amount past 128 bits, a spent
    /// budget) spoils the sweep: answer from the start instead.
    pub fn advance(&mut self, store: &Store) -> Result<Vec<Tainted>, TraceError> {
        if self.spoiled || store.len() < self.sweep.at {
            return Err(TraceError::Internal("a sweep that runs on needs the store it swept, appended to".into()));
        }
        self.spoiled = true;
        self.sweep.grow(store);
        let new = self
            .unresolved
            .resolve(store, &mut self.labels.rules)
            .ok_or_else(|| TraceError::Internal("an address of a stop label came in below the others: answer from the start".into()))?;
        self.sweep.rule(&self.labels.rules, new.into_iter());
        if let Err(Overflow) = self.sweep.advance(store, &self.spec, &self.labels.rules) {
            self.spec.budget.check()?;
            return Err(TraceError::Internal("a sweep that runs on needs amounts below 2^128: answer from the start".into()));
        }
        self.spoiled = false;
        Ok(std::mem::take(&mut self.sweep.out.tainted))
    }

    /// Take events up to `events` as swept without looking at them: the
    /// caller knows none of them touches an address the sweep would visit
    /// (no holder of the taint sends or receives in them, `watch`'s test).
    pub fn skip_to(&mut self, events: u64) {
        self.sweep.at = self.sweep.at.max(events as usize);
    }

    /// The stops as the sweep reads them.
    pub fn stop_labels(&self) -> &StopLabels {
        &self.labels
    }

    /// The outcome so far, as [`run_account`] over the same store gives
    /// it (the tainted events since the last advance only).
    pub fn finish(self, store: &Store) -> Result<Outcome, TraceError> {
        if self.spoiled {
            return Err(TraceError::Internal("a sweep that runs on failed part way".into()));
        }
        let Running { spec, labels, sweep, .. } = self;
        sweep
            .finish(store, &spec, &labels.rules)
            .map_err(|_| TraceError::Internal("an amount past 128 bits at the end of a sweep that runs on".into()))
    }
}
