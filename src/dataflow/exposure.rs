//! The exposure index's sweep (TRACING.md §4) on timely-dataflow (issue
//! 17, ADR 0015): every category's haircut sweep in one pass, computed by
//! workers that each own a part of the addresses, giving exactly what
//! `screen::sweep::sweep` gives in one process.
//!
//! The shape is the account-model trace's (`super::account`): an event's
//! sender's owner runs its send half (a seed's holdings turning tainted,
//! each category's share of what leaves) and tells the receiver's owner
//! what arrived in which categories, keyed by the event; the receiver's
//! owner runs the receive half (the exposure rows, seeds, absorbing
//! services). Segments of key order are timely's time; a round that brings
//! changed arrivals runs the segment again from the earliest event they
//! changed, after an undo log has taken back every later change.
//!
//! Unlike a trace, an address's exposure rows live with its state, so the
//! undo log takes them back too and there is no separate log of findings.
//! What each address received (the `share`'s denominator) does not depend
//! on taint: each worker sums it for its own addresses in a pass of its own.

use super::Map;
use super::{DataflowError, Owners, Positions, Read, Workers};
use crate::labels::Label;
use crate::model::{NO_TIME, Pseudo, flags};
use crate::screen::sweep::{Exposure, Exposures, LabelRules, SEED_RULE, too_large};
use crate::screen::{CategorySet, ScreenError};
use crate::store::{EventColumns, Store};
use crate::trace::{IdMap, Traffic};
use ruint::aliases::U256;
use std::cell::RefCell;
use std::rc::Rc;

const NONE: u32 = u32::MAX;

/// What arrived on an event in each category that moved, sent to the
/// receiver's owner: `(category, taint low, taint high, hop)`. No
/// category takes back what an earlier round sent.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct Arrival {
    receiver: u32,
    event: u64,
    x: Vec<(u16, u64, u64, u32)>,
}

impl super::segments::Message for Arrival {
    type Key = u64;
    fn key(&self) -> u64 {
        self.event
    }
    fn carries(&self) -> bool {
        !self.x.is_empty()
    }
    fn retract(&mut self) {
        self.x.clear();
    }
}

fn split(x: u128) -> (u64, u64) {
    (x as u64, (x >> 64) as u64)
}

fn join(lo: u64, hi: u64) -> u128 {
    u128::from(lo) | u128::from(hi) << 64
}

/// Taint one address holds in one category. Kept once made, as the
/// single-process sweep keeps it: a pool emptied by sends keeps its hop.
#[derive(Clone, Copy, Debug)]
struct Pool {
    k: u16,
    taint: u128,
    hop: u32,
}

/// One owned address's state.
#[derive(Clone, Default)]
struct Addr {
    /// Categories with taint held.
    held: u16,
    /// A seed-labelled address's balance, kept exactly.
    seed_bal: Option<u128>,
    pools: Vec<Pool>,
    /// Its exposure rows, in order of first arrival.
    exp: Vec<Exposure>,
}

impl Addr {
    fn pool(&mut self, k: u16, hop: u32) -> &mut Pool {
        match self.pools.iter().position(|p| p.k == k) {
            Some(j) => &mut self.pools[j],
            None => {
                self.pools.push(Pool { k, taint: 0, hop });
                self.pools.last_mut().expect("pushed")
            }
        }
    }
}

/// What a worker knows and never changes.
struct Part {
    /// The events this worker reads: the whole store, or its process's part.
    store: Store,
    /// A part's events' positions in the whole store (`None`: whole).
    keys: Positions,
    /// Events in the whole store.
    n: u64,
    /// Whether the fees' pseudo-address is everyone's (it is no seed:
    /// see `halves_by`). Its rows and received sums, made
    /// by several workers, add up where worker 0 gathers them.
    fees_inert: bool,
    asset: u32,
    rules: LabelRules,
    segment_bits: u32,
    owners: Owners,
    /// The store ids this worker owns, a bit each (`owned_bits`): the
    /// scan asks twice an event.
    owned: Vec<u64>,
}

impl Part {
    #[inline]
    fn owns(&self, a: u32) -> bool {
        super::bit(&self.owned, a)
    }

    /// Whether this worker runs the send half of an event `u -> v`, and its receive half.
    #[inline]
    fn owns_pair(&self, u: u32, v: u32) -> (bool, bool) {
        super::halves_by(u, v, self.fees_inert, |a| self.owns(a))
    }

    /// Whether event `i` can move anything in the screened asset.
    #[inline]
    fn counts(&self, ev: &EventColumns<'_>, i: usize) -> bool {
        ev.asset(i) == self.asset && ev.flags(i) & flags::MOVES_NOTHING == 0 && ev.value.get(i) != 0
    }

    /// The value of the read store's event `i`, the whole store's `e`.
    fn value_of(&self, i: usize, e: u64) -> Result<u128, ScreenError> {
        match self.store.events().value.get(i) {
            u128::MAX => {
                self.store.value(i).to_u128().filter(|&v| v != u128::MAX).ok_or_else(|| too_large(&format!("the value of event {e}")))
            }
            v => Ok(v),
        }
    }

    fn seed(&self, a: u32) -> bool {
        self.rules.flag[a as usize] & SEED_RULE != 0
    }
}

/// A worker's changing state.
struct State {
    slot: Vec<u32>,
    ids: Vec<u32>,
    addr: Vec<Addr>,
    /// Each change in the segment under way: event, slot, state before.
    undo: Vec<(u64, u32, Addr)>,
    /// Owned addresses that hold taint in some category.
    hot: Vec<u64>,
    cur: Option<u64>,
    inbox: Map<u64, Arrival>,
    sent: Map<u64, Arrival>,
    exchange: Traffic,
    /// Events visited in the segment under way (a rollback counts the
    /// ones it takes back as repeated).
    seg_visits: Vec<u64>,
    visited: u64,
    keep_undo: bool,
    /// The first value that did not fit (the sweep then stops here).
    error: Option<String>,
}

impl State {
    fn new(p: &Part) -> State {
        let n = p.store.address_count();
        State {
            slot: vec![NONE; n],
            ids: Vec::new(),
            addr: Vec::new(),
            undo: Vec::new(),
            hot: vec![0; n.div_ceil(64)],
            cur: None,
            inbox: Map::default(),
            sent: Map::default(),
            exchange: Traffic::default(),
            seg_visits: Vec::new(),
            visited: 0,
            keep_undo: p.owners.peers() > 1,
            error: None,
        }
    }

    fn slot(&mut self, a: u32) -> u32 {
        match self.slot[a as usize] {
            NONE => {
                let l = self.addr.len() as u32;
                self.addr.push(Addr::default());
                self.ids.push(a);
                self.slot[a as usize] = l;
                l
            }
            l => l,
        }
    }

    fn touch(&mut self, l: u32, i: u64) -> &mut Addr {
        if self.keep_undo {
            self.undo.push((i, l, self.addr[l as usize].clone()));
        }
        &mut self.addr[l as usize]
    }

    fn mark_hot(&mut self, l: u32) {
        let a = self.ids[l as usize];
        let (w, b) = (a as usize / 64, 1u64 << (a % 64));
        if self.addr[l as usize].held != 0 { self.hot[w] |= b } else { self.hot[w] &= !b }
    }

    fn rollback(&mut self, e0: u64) {
        while self.undo.last().is_some_and(|u| u.0 >= e0) {
            let (_, l, a) = self.undo.pop().expect("checked");
            self.addr[l as usize] = a;
            self.mark_hot(l);
        }
        let keep = self.seg_visits.partition_point(|&e| e < e0);
        self.exchange.repeated_visits += (self.seg_visits.len() - keep) as u64;
        self.seg_visits.truncate(keep);
    }

    fn commit(&mut self) {
        if self.cur.take().is_some() {
            self.visited += self.seg_visits.len() as u64;
            self.seg_visits.clear();
            self.undo.clear();
            self.inbox.clear();
            self.sent.clear();
        }
    }

    /// One round of segment `s` with the arrivals `msgs`.
    fn round(&mut self, p: &Part, s: u64, msgs: Vec<Arrival>) -> (Vec<Arrival>, Option<u64>) {
        let n = p.n;
        let (lo, hi) = super::segments::span(s, p.segment_bits, n);
        let first = self.cur != Some(s);
        if first {
            self.commit();
            self.cur = Some(s);
        }
        let e0 = if first { lo } else { msgs.iter().map(|m| m.event).min().unwrap_or(hi) };
        for m in msgs {
            self.inbox.insert(m.event, m);
        }
        self.exchange.rounds += 1;
        self.rollback(e0);
        let mut inbox: Vec<u64> = self.inbox.keys().copied().filter(|&e| e >= e0).collect();
        inbox.sort_unstable();
        let mut next_in = 0usize;
        let mut now_sent: Map<u64, Arrival> = Map::default();
        const BLOCK: usize = 64;
        let (mut from, mut to, mut keys) = ([0u32; BLOCK], [0u32; BLOCK], [0u64; BLOCK]);
        let ev = p.store.events();
        let (mut i, lb) = p.keys.local(e0, hi);
        while i < lb && self.error.is_none() {
            let k = (lb - i).min(BLOCK);
            ev.parties(i, &mut from[..k], &mut to[..k]);
            p.keys.fill(i, &mut keys[..k]);
            self.exchange.scanned += k as u64;
            for j in 0..k {
                let e = keys[j];
                let (u, v) = (from[j], to[j]);
                let arrived = next_in < inbox.len() && inbox[next_in] == e;
                if arrived {
                    next_in += 1;
                }
                let hot = self.hot[u as usize / 64] >> (u % 64) & 1 != 0;
                let (ou, ov) = p.owns_pair(u, v);
                let want = arrived || ((hot || p.seed(u)) && ou) || (p.seed(v) && ov);
                if want
                    && p.counts(&ev, i + j)
                    && let Err(err) = self.event(p, &ev, (e, i + j), (u, v), &mut now_sent)
                {
                    self.error.get_or_insert(err.to_string());
                    break;
                }
            }
            i += k;
        }
        let outbox = super::segments::changes(&mut self.sent, now_sent, |&i| i >= e0);
        self.exchange.messages += outbox.len() as u64;
        // As serialised: receiver, event, length, and 22 bytes a category.
        self.exchange.bytes += outbox.iter().map(|m| 20 + 22 * m.x.len() as u64).sum::<u64>();
        let next = (hi < n && self.error.is_none()).then_some(s + 1);
        (outbox, next)
    }

    /// Event `i`: its send half where this worker owns a sender that holds
    /// taint or is a seed, then its receive half where it owns the
    /// receiver and something arrived or the receiver is a seed.
    fn event(
        &mut self,
        p: &Part,
        ev: &EventColumns<'_>,
        (i, iu): (u64, usize),
        (u, v): (u32, u32),
        now_sent: &mut Map<u64, Arrival>,
    ) -> Result<(), ScreenError> {
        let a = p.value_of(iu, i)?;
        self.seg_visits.push(i);
        let t = Some(ev.time(iu)).filter(|&t| t != NO_TIME);
        let (ou, ov) = p.owns_pair(u, v);
        let mut here: Vec<(u16, u128, u32)> = Vec::new();
        let hot_u = self.hot[u as usize / 64] >> (u % 64) & 1 != 0;
        if ou && (hot_u || p.seed(u)) {
            let b = match p.store.sender_balances().get(iu) {
                u128::MAX => p.store.wide_balance(iu),
                b => b,
            };
            if b == u128::MAX {
                return Err(too_large(&format!("the sender's balance before event {i}")));
            }
            // The shortfall rule: what the sender lacks is credited first.
            let b1 = b.max(a);
            let lu = self.slot(u);
            let seeding = if p.seed(u) { p.rules.seed_mask(u, t) } else { 0 };
            let k_n = p.rules.names.len();
            let st = self.touch(lu, i);
            if p.seed(u) {
                st.seed_bal = Some(if u == v { b1 } else { b1 - a });
            }
            if u == v {
                return Ok(());
            }
            for k in 0..k_n {
                let bit = 1u16 << k;
                if seeding & bit != 0 {
                    here.push((k as u16, a, 1));
                    let rest = b1 - a;
                    let pool = st.pool(k as u16, 0);
                    (pool.taint, pool.hop) = (rest, 0);
                    if rest > 0 { st.held |= bit } else { st.held &= !bit }
                } else if st.held & bit != 0 {
                    let pool = st.pool(k as u16, 0);
                    let x = if pool.taint == b1 { a } else { (U256::from(a) * U256::from(pool.taint) / U256::from(b1)).to::<u128>() };
                    pool.taint -= x;
                    let hop = pool.hop.saturating_add(1);
                    if pool.taint == 0 {
                        st.held &= !bit;
                    }
                    if x > 0 {
                        here.push((k as u16, x, hop));
                    }
                }
            }
            self.mark_hot(lu);
            if !ov {
                if !here.is_empty() {
                    let x = here.iter().map(|&(k, x, h)| (k, split(x).0, split(x).1, h)).collect();
                    now_sent.insert(i, Arrival { receiver: v, event: i, x });
                }
                return Ok(());
            }
        }
        if u == v || !ov {
            return Ok(());
        }
        if !ou && let Some(m) = self.inbox.get(&i) {
            here = m.x.iter().map(|&(k, lo, hi, h)| (k, join(lo, hi), h)).collect();
        }
        if here.is_empty() && !p.seed(v) {
            return Ok(());
        }
        self.receive(p, i, v, a, t, &here)
    }

    /// The receive half of event `i` at owned `v`: `xs` arrived.
    fn receive(&mut self, p: &Part, i: u64, v: u32, a: u128, t: Option<i64>, xs: &[(u16, u128, u32)]) -> Result<(), ScreenError> {
        let lv = self.slot(v);
        let fv_seed = p.seed(v);
        let v_seeding = if fv_seed { p.rules.seed_mask(v, t) } else { 0 };
        let v_absorbing = p.rules.absorb_mask(v, t);
        let k_n = p.rules.names.len();
        let st = self.touch(lv, i);
        if fv_seed {
            let b = st.seed_bal.unwrap_or(0).checked_add(a).ok_or_else(|| too_large("a seed's balance"))?;
            st.seed_bal = Some(b);
        }
        for k in 0..k_n {
            let bit = 1u16 << k;
            let moved = xs.iter().find(|m| m.0 == k as u16);
            if let Some(&(_, x, hop)) = moved {
                let slot = match st.exp.iter().position(|e| e.category == k as u16) {
                    Some(j) => j,
                    None => {
                        st.exp.push(Exposure { category: k as u16, amount: 0, direct: 0, hops: u32::MAX, first_in: i, pred: u64::MAX });
                        st.exp.len() - 1
                    }
                };
                let e = &mut st.exp[slot];
                e.amount = e.amount.checked_add(x).ok_or_else(|| too_large("an exposure sum"))?;
                if hop == 1 {
                    e.direct += x;
                }
                e.hops = e.hops.min(hop);
            }
            if v_seeding & bit != 0 {
                let bal = st.seed_bal.expect("a seed's balance, set above");
                let pool = st.pool(k as u16, 0);
                (pool.taint, pool.hop) = (bal, 0);
                st.held |= bit;
            } else if let Some(&(_, x, hop)) = moved
                && v_absorbing & bit == 0
            {
                let pool = st.pool(k as u16, u32::MAX);
                pool.taint += x;
                pool.hop = pool.hop.min(hop);
                st.held |= bit;
            }
        }
        self.mark_hot(lv);
        Ok(())
    }
}

/// An exposure row on its way: category, amount, direct, hops, first
/// arrival, predecessor.
type Row = (u16, [u64; 2], [u64; 2], u32, u64, u64);

/// What one worker found, on its way to worker 0.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
struct Found {
    /// Per owned address: (category, amount, direct, hops, first arrival).
    exposures: Vec<(u32, Vec<Row>)>,
    /// Per owned address with arrivals: what it received.
    received: Vec<(u32, [u64; 2])>,
    visited: u64,
    exchange: Traffic,
    error: Option<String>,
}

impl Found {
    /// A worker's rows (any order, empty ones skipped) and sums.
    fn of<'a>(
        rows: impl Iterator<Item = (u32, &'a Vec<Exposure>)>,
        received: impl Iterator<Item = (u32, u128)>,
        visited: u64,
        x: Traffic,
        error: Option<String>,
    ) -> Found {
        // The heap before this copy of the rows is made.
        let x = x.with_heap();
        let mut exposures: Vec<(u32, Vec<Row>)> = rows
            .filter(|(_, r)| !r.is_empty())
            .map(|(id, r)| {
                let r = r
                    .iter()
                    .map(|e| {
                        let (al, ah) = split(e.amount);
                        let (dl, dh) = split(e.direct);
                        (e.category, [al, ah], [dl, dh], e.hops, e.first_in, e.pred)
                    })
                    .collect();
                (id, r)
            })
            .collect();
        exposures.sort_unstable_by_key(|e| e.0);
        Found {
            exposures,
            received: received.filter(|&(_, x)| x > 0).map(|(v, x)| (v, [split(x).0, split(x).1])).collect(),
            visited,
            exchange: x,
            error,
        }
    }
}

/// Add rows found elsewhere (another worker's, a later segment's) to an
/// address's: amounts add up, hops take the least, and the first arrival
/// (with its predecessor) is the earliest.
fn merge_rows(into: &mut Vec<Exposure>, from: impl IntoIterator<Item = Exposure>) -> Result<(), ScreenError> {
    for e in from {
        match into.iter_mut().find(|x| x.category == e.category) {
            Some(x) => {
                x.amount = x.amount.checked_add(e.amount).ok_or_else(|| too_large("an exposure sum"))?;
                x.direct += e.direct;
                x.hops = x.hops.min(e.hops);
                if e.first_in < x.first_in {
                    (x.first_in, x.pred) = (e.first_in, e.pred);
                }
            }
            None => into.push(e),
        }
    }
    Ok(())
}

/// What each owned address received from others in the asset (§4's
/// `received`): a pass of its own, as it does not depend on taint. The sums
/// sit in a flat array over the owned addresses (a map's lookup per event
/// was most of an index build's time at 10^8 events).
fn received(p: &Part) -> Result<Vec<(u32, u128)>, ScreenError> {
    let ev = p.store.events();
    let n_addr = p.store.address_count();
    let mut rank = vec![u32::MAX; n_addr];
    let mut owned: Vec<u32> = Vec::new();
    for a in 0..n_addr as u32 {
        if p.owns(a) || (p.fees_inert && a == Pseudo::Fees.id()) {
            rank[a as usize] = owned.len() as u32;
            owned.push(a);
        }
    }
    let mut sums = vec![0u128; owned.len()];
    const BLOCK: usize = 64;
    let (mut from, mut to) = ([0u32; BLOCK], [0u32; BLOCK]);
    let n = p.store.len();
    let mut i = 0;
    while i < n {
        let k = (n - i).min(BLOCK);
        ev.parties(i, &mut from[..k], &mut to[..k]);
        for j in 0..k {
            let (u, v) = (from[j], to[j]);
            let r = rank[v as usize];
            if u != v && r != u32::MAX && p.owns_pair(u, v).1 && p.counts(&ev, i + j) {
                let a = p.value_of(i + j, p.keys.key(i + j))?;
                let s = &mut sums[r as usize];
                *s = s.checked_add(a).ok_or_else(|| too_large("an address's received sum"))?;
            }
        }
        i += k;
    }
    Ok(owned.into_iter().zip(sums).collect())
}

/// One worker's share of the sweep: every worker's findings at worker 0.
fn sweep_on(worker: &mut timely::worker::Worker, dir: &std::path::Path, q: &Question) -> Vec<Found> {
    let me = worker.index();
    let built = Read::open(dir, me / q.owners.threads()).map_err(|e| e.to_string()).and_then(|read| {
        let keys = read.positions(&q.positions)?;
        let Read { store, n, .. } = read;
        let rules = LabelRules::new(&store, &q.cats, &q.labels).map_err(|e| e.to_string())?;
        let fees_inert = rules.flag[Pseudo::Fees.id() as usize] & SEED_RULE == 0;
        let owned = super::owned_bits(&q.owners, me, store.address_count());
        Ok(Part { store, keys, n, fees_inert, asset: q.asset, rules, segment_bits: q.segment_bits, owners: q.owners.clone(), owned })
    });
    // A worker that cannot start (its host's store, the labels) stops the
    // run with its error, as a trace's does: not an input's amount error.
    let part = match built.and_then(|p| super::net::failpoint_error(me).map(|()| p)) {
        Ok(p) => Rc::new(p),
        Err(e) => {
            super::net::give_up(format!("worker {me}: {e}"));
            return Vec::new();
        }
    };
    let state = Rc::new(RefCell::new(State::new(&part)));
    let first = (part.n > 0).then_some(0);
    let (p2, s2, owners) = (part.clone(), state.clone(), part.owners.clone());
    let busy = super::segments::run(
        worker,
        first,
        super::segments::Rounds::Barrier,
        move |m: &Arrival| owners.of(m.receiver) as u64,
        move |seg, msgs| s2.borrow_mut().round(&p2, seg, msgs),
    );
    let found = {
        let mut st = state.borrow_mut();
        st.commit();
        // A run stopped by a failed worker reports that, not these.
        let rec = if super::net::stopped() { Ok(Vec::new()) } else { received(&part) };
        let (rec, rec_error) = match rec {
            Ok(r) => (r, None),
            Err(e) => (Vec::new(), Some(e.to_string())),
        };
        let x = Traffic { busy_ns: busy, ..st.exchange };
        let rows = st.addr.iter().enumerate().map(|(l, a)| (st.ids[l], &a.exp));
        Found::of(rows, rec.into_iter(), st.visited, x, st.error.clone().or(rec_error))
    };
    super::segments::gather(worker, found)
}

/// One screening question as every worker gets it.
#[derive(Clone)]
struct Question {
    /// Who spends each output (Bitcoin), once a process.
    spenders: std::sync::Arc<std::sync::OnceLock<std::sync::Arc<Vec<u32>>>>,
    asset: u32,
    cats: CategorySet,
    labels: Vec<Label>,
    segment_bits: u32,
    owners: Owners,
    /// Where the process's part's events sit in the whole store, read once.
    positions: super::PositionsOnce,
}

/// The exposure of every address of the store at `store_dir` to every
/// category of `cats` in `asset` (as `screen::sweep::sweep` computes it),
/// on the workers `w`: every process of a run calls this with the same
/// arguments and the store whole. Process 0 gets the exposures and what
/// the workers exchanged, the others `None`.
pub fn sweep(
    store_dir: &std::path::Path,
    asset: u32,
    cats: &CategorySet,
    labels: &[Label],
    w: &Workers,
) -> Result<Option<(Exposures, Traffic)>, DataflowError> {
    sweep_in_segments(store_dir, asset, cats, labels, w, super::account::segment_bits()?)
}

/// [`sweep`] with segments of `2^segment_bits` events.
pub fn sweep_in_segments(
    store_dir: &std::path::Path,
    asset: u32,
    cats: &CategorySet,
    labels: &[Label],
    w: &Workers,
    segment_bits: u32,
) -> Result<Option<(Exposures, Traffic)>, DataflowError> {
    if !(1..=32).contains(&segment_bits) {
        return Err(DataflowError::Unsupported(format!("segments of 2^{segment_bits} events")));
    }
    let read = Read::open(store_dir, w.process()).map_err(|e| DataflowError::Screen(e.into()))?;
    let store = &read.store;
    let utxo = !store.manifest.chain.is_account();
    if (read.n >> segment_bits) >= 1 << (64 - super::segments::ROUND_BITS) {
        return Err(DataflowError::Unsupported(format!("{} events: more than a timestamp can order", read.n)));
    }
    // The rules are checked here once, so that a bad label fails before any connection.
    let rules = LabelRules::new(store, cats, labels)?;
    if read.info.is_some() && rules.flag[Pseudo::Fees.id() as usize] & SEED_RULE != 0 {
        return Err(DataflowError::Unsupported(
            "a store's parts give each fee to its sender's process alone: screen with the fees' pseudo-address labelled as a source from the whole store".into(),
        ));
    }
    let identity = read.identity();
    let owners = read.owners(w, None)?;
    let key =
        super::net::key_of(&format!("exposure {utxo} {identity} {asset} {:?} {} {segment_bits} {owners:?}", cats.names, labels.len()));
    let n_addr = store.address_count();
    drop(read);
    let q = Question {
        spenders: Default::default(),
        asset,
        cats: cats.clone(),
        labels: labels.to_vec(),
        segment_bits,
        owners,
        positions: Default::default(),
    };
    let dir = store_dir.to_path_buf();
    let results =
        super::net::execute(w, key, move |worker| if utxo { sweep_utxo_on(worker, &dir, &q) } else { sweep_on(worker, &dir, &q) })?;
    if !w.is_first() {
        return Ok(None);
    }
    let found: Vec<Found> = results.into_iter().flatten().collect();
    if let Some(e) = found.iter().find_map(|f| f.error.clone()) {
        return Err(DataflowError::Screen(ScreenError::TooLarge(e)));
    }
    let mut received = vec![0u128; n_addr];
    let mut exposures: IdMap<Vec<Exposure>> = IdMap::default();
    let mut traffic = Traffic::default();
    for f in found {
        for (v, [lo, hi]) in f.received {
            let r = &mut received[v as usize];
            *r = r.checked_add(join(lo, hi)).ok_or_else(|| too_large("an address's received sum"))?;
        }
        for (v, rows) in f.exposures {
            let rows = rows.into_iter().map(|(category, a, d, hops, first_in, pred)| Exposure {
                category,
                amount: join(a[0], a[1]),
                direct: join(d[0], d[1]),
                hops,
                first_in,
                pred,
            });
            merge_rows(exposures.entry(v).or_default(), rows)?;
        }
        traffic.add(f.exchange);
    }
    Ok(Some((Exposures::gather(exposures, received, rules.seeds), traffic)))
}

/// An output's taint in the categories where it has some: (category,
/// taint low, taint high, hop).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct Cats(Vec<(u16, u64, u64, u32)>);

impl super::utxo::Taint for Cats {
    fn carries(&self) -> bool {
        !self.0.is_empty()
    }
    fn nothing() -> Self {
        Cats(Vec::new())
    }
    fn bytes(&self) -> u64 {
        8 + 22 * self.0.len() as u64
    }
}

/// The exposure index's rule over the UTXO model: `screen::utxo`'s
/// transaction in every category, on the transactions a worker owns.
struct UtxoExposure {
    rules: LabelRules,
}

/// What a worker's transactions found: partial rows and sums, merged at
/// worker 0 (an address is paid by transactions of any worker).
#[derive(Default)]
struct Book {
    rows: IdMap<Vec<Exposure>>,
    received: IdMap<u128>,
}

/// `screen::utxo`'s ledger on a worker: outputs through the dataflow,
/// findings into the segment's book.
struct OnWorker<'a, 'b> {
    io: &'a mut super::utxo::Io<'b, Cats>,
    book: &'a mut Book,
}

impl crate::screen::utxo::Ledger for OnWorker<'_, '_> {
    fn spend(&mut self, output: u64) -> Option<crate::screen::utxo::OutTaint> {
        self.io.spend(output).map(|c| c.0.into_iter().map(|(k, lo, hi, h)| (k, join(lo, hi), h)).collect())
    }

    fn receive(&mut self, addr: u32, v: u128) -> Result<(), ScreenError> {
        let r = self.book.received.entry(addr).or_insert(0);
        *r = r.checked_add(v).ok_or_else(|| too_large("an address's received sum"))?;
        Ok(())
    }

    fn rows(&mut self, addr: u32) -> &mut Vec<Exposure> {
        self.book.rows.entry(addr).or_default()
    }

    fn keep(&mut self, output: u64, t: crate::screen::utxo::OutTaint) {
        self.io.keep(output, Cats(t.into_iter().map(|(k, x, h)| (k, split(x).0, split(x).1, h)).collect()));
    }
}

impl super::utxo::TxRule for UtxoExposure {
    type Taint = Cats;
    type Found = Book;

    fn runs(&self, _block: u64) -> bool {
        true
    }

    fn transaction(
        &self,
        store: &Store,
        tx: u32,
        events: std::ops::Range<usize>,
        time: i64,
        io: &mut super::utxo::Io<'_, Cats>,
        book: &mut Book,
    ) -> Result<(), String> {
        let t = Some(time).filter(|&t| t != NO_TIME);
        let mut ledger = OnWorker { io, book };
        crate::screen::utxo::transaction(store, &self.rules, tx, events, t, &mut Vec::new(), &mut ledger).map_err(|e| e.to_string())
    }

    fn merge(&self, all: &mut Book, seg: Book) -> Result<(), String> {
        for (v, rows) in seg.rows {
            merge_rows(all.rows.entry(v).or_default(), rows).map_err(|e| e.to_string())?;
        }
        for (v, x) in seg.received {
            let r = all.received.entry(v).or_insert(0);
            *r = r.checked_add(x).ok_or_else(|| too_large("an address's received sum").to_string())?;
        }
        Ok(())
    }
}

/// One worker's share of the sweep over a Bitcoin store.
fn sweep_utxo_on(worker: &mut timely::worker::Worker, dir: &std::path::Path, q: &Question) -> Vec<Found> {
    let me = worker.index();
    let built = Store::open(dir).map_err(|e| e.to_string()).and_then(|store| {
        let rules = LabelRules::new(&store, &q.cats, &q.labels).map_err(|e| e.to_string())?;
        super::net::failpoint_error(me)?;
        Ok((Rc::new(store), rules))
    });
    let (store, rules) = match built {
        Ok(b) => b,
        Err(e) => {
            super::net::give_up(format!("worker {me}: {e}"));
            return Vec::new();
        }
    };
    let spender = super::utxo::spenders_once(&q.spenders, &store);
    let swept = super::utxo::sweep_rule(worker, store, UtxoExposure { rules }, spender, (q.segment_bits, q.owners.clone()));
    let (book, x) = (swept.found, swept.exchange);
    let found = Found::of(book.rows.iter().map(|(&v, r)| (v, r)), book.received.into_iter(), x.scanned, x, swept.error);
    super::segments::gather(worker, found)
}
