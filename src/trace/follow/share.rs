//! The `--follow swaps` sweep as one worker of several (`dataflow::follow`,
//! issue 17, ADR 0015): the single-process sweep's own code, run over the
//! (asset, address) slots of the addresses this worker owns.
//!
//! An event's send half runs where its sender is owned, its receive half
//! where its receiver is; what an owned sender delivers to a receiver owned
//! elsewhere leaves as a [`Carry`]. A followed swap is handled whole at its
//! transaction's first event, as in one process: the payer's owner takes
//! the outflow of `a` and works out `y`, every leg's party moves its own
//! balance, and the payee's owner receives `y` from the payer's owner.
//!
//! A segment's events run again when later arrivals change what came
//! (`dataflow::segments`): the handlings whose arrivals changed, and every
//! later handling of a slot one of those left otherwise than it was, each
//! slot taken back to its value before the first of them (a chain of its
//! values before each handling that changed it). A slot that a handling
//! run again leaves as it was before (a venue's, whose taint a followed
//! swap never moves) goes back to its later value and stops the walk
//! there. What each handling found is kept apart until the segment is
//! final, and replaced where it runs again. Findings carry their place in
//! the single-process sweep's order (`Place`), so that worker 0 puts every
//! worker's findings together in that order.

use super::*;
use crate::trace::FirstBy;
use std::collections::HashSet;

/// Where a finding falls in the single-process sweep's order: the event
/// (or, for a conversion, the transaction's first event) whose handling
/// made it, 0 for what comes while the conversion moves value and 1 for
/// its fees after, and the event it is about.
pub(crate) type Place = (u64, u8, u64);

/// Taint delivered to a receiver owned by another worker.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Carry {
    /// The receiver (its owner runs the receive half).
    pub(crate) receiver: u32,
    /// Which receive half this is.
    pub(crate) place: Place,
    /// The taint delivered (zero: an earlier round's message taken back).
    pub(crate) delivered: [u64; 4],
    /// The event's hop.
    pub(crate) hop: u32,
    /// FIFO's lots (empty: one lot of the whole amount, tainted if
    /// anything was delivered).
    pub(crate) lots: Vec<([u64; 4], bool)>,
    /// Whether it is a followed conversion's payout.
    pub(crate) crossed: bool,
    /// The sender's count of rounds when it sent this (0 until sent):
    /// rounds run as arrivals come, so messages about one place can
    /// overtake each other on the way, and the receiver keeps the latest.
    pub(crate) seq: u64,
}

impl Carry {
    /// Whether it carries what `o` does (whenever each was sent).
    fn same_as(&self, o: &Carry) -> bool {
        Carry { seq: o.seq, ..self.clone() } == *o
    }

    /// Take back what it carried.
    pub(crate) fn retract(&mut self) {
        self.delivered = [0; 4];
        self.lots.clear();
    }
}

/// A worker's part in [`Sweep`].
pub(super) struct Share<N> {
    /// The store ids this worker owns, a bit each.
    owned: Vec<u64>,
    /// Whether the fees' pseudo-address is not a seed: then every worker
    /// runs the receive half of the fees its own senders pay (it only
    /// absorbs them), instead of one worker receiving every fee.
    fees_inert: bool,
    /// Whether a segment can run again (more than one worker).
    keep_undo: bool,
    /// What other workers delivered in the segment under way.
    inbox: HashMap<Place, Carry>,
    /// What this run of the segment sends.
    outbox: Vec<Carry>,
    /// Each change to a slot in the segment under way: the handling, the
    /// slot, its value and queue before, and the slot's entry before this
    /// one (`NONE`).
    undo: Vec<Undo<N>>,
    /// Slot -> its latest entry in `undo`.
    last: PairMap<usize>,
    /// The handling under way: [`Place`]'s first two parts.
    pub(super) unit: (u64, u8),
    /// The place of each of `out.arrivals`.
    akeys: Vec<Place>,
    /// What each handling of the segment under way found: the handling,
    /// its findings, their arrivals' places.
    found: BTreeMap<u64, Box<(Followed, Vec<Place>)>>,
    /// Events visited, repeats included.
    visited: u64,
    /// The segment under way's handlings on this worker: where each is,
    /// and where its slots begin in `pool`.
    units: Vec<(u64, usize)>,
    /// Each handling's slots, with the handling's index in `units`; and
    /// the same sorted by slot.
    pool: Vec<(u64, usize)>,
    by_slot: Vec<(u64, usize)>,
}

/// A slot's value before a handling changed it: the handling, the slot,
/// its value and queue, and the slot's entry before this one.
type Undo<N> = (u64, u64, Slot<N>, Option<Queue>, usize);

/// A slot a handling run again has taken back: its entries of the earlier
/// run from there on, by handling ascending, and its value at the end of
/// that run; so that where it comes out as it was, the rest stands.
struct Parked<N> {
    old: Vec<(u64, usize)>,
    end: (Slot<N>, Option<Queue>),
}

/// No entry: `Share::undo`'s first entry for its slot.
const NONE: usize = usize::MAX;

#[inline]
fn owned_bit(set: &[u64], a: u32) -> bool {
    set.get(a as usize / 64).is_some_and(|w| w >> (a % 64) & 1 != 0)
}

fn limbs(x: U256) -> [u64; 4] {
    *x.as_limbs()
}

impl<N: Num> Sweep<'_, N> {
    /// Whether this sweep keeps store id `a` (a single process keeps all).
    #[inline]
    pub(super) fn owns(&self, a: u32) -> bool {
        self.share.as_ref().is_none_or(|s| owned_bit(&s.owned, a))
    }

    /// Keep slot (`asset`, `addr`) as it was before the handling under way first changes it.
    #[inline]
    pub(super) fn keep(&mut self, asset: u32, addr: u32) {
        let Some(s) = self.share.as_deref_mut() else { return };
        if !s.keep_undo {
            return;
        }
        let (k, at) = (pair(asset, addr), s.unit.0);
        let prev = s.last.get(&k).copied().unwrap_or(NONE);
        if prev != NONE && s.undo[prev].0 == at {
            return;
        }
        let slot = self.slot(k);
        let s = self.share.as_deref_mut().expect("a worker of several");
        s.last.insert(k, s.undo.len());
        s.undo.push((at, k, slot, self.queues.get(&k).cloned(), prev));
    }

    /// Slot `k` (a pair of asset and address).
    #[inline]
    fn slot(&self, k: u64) -> Slot<N> {
        self.get((k >> 32) as u32, k as u32)
    }

    /// Slot `k`'s value and queue now.
    fn value(&self, k: u64) -> (Slot<N>, Option<Queue>) {
        (self.slot(k), self.queues.get(&k).cloned())
    }

    fn set_value(&mut self, k: u64, (slot, q): (Slot<N>, Option<Queue>)) {
        self.put((k >> 32) as u32, k as u32, slot);
        match q {
            Some(q) => self.queues.insert(k, q),
            None => self.queues.remove(&k),
        };
    }

    /// Slot `k` back to its value before the handling at `from`, to be run
    /// again from there: its later entries leave its chain, parked.
    fn make_dirty(&mut self, k: u64, from: u64, parked: &mut PairMap<Parked<N>>) {
        let end = self.value(k);
        let s = self.share.as_deref_mut().expect("a worker of several");
        let (mut at, mut old) = (s.last.get(&k).copied().unwrap_or(NONE), Vec::new());
        while at != NONE && s.undo[at].0 >= from {
            old.push((s.undo[at].0, at));
            at = s.undo[at].4;
        }
        old.reverse();
        if let Some(&(_, first)) = old.first() {
            if at == NONE {
                s.last.remove(&k);
            } else {
                s.last.insert(k, at);
            }
            let e = &s.undo[first];
            let before = (e.2, e.3.clone());
            self.set_value(k, before);
        }
        parked.insert(k, Parked { old, end });
    }

    /// After the handling at `at` ran again: each parked slot of `slots`
    /// that it left as the earlier run had it there goes back to its later
    /// value and chain, and is no longer dirty.
    fn settle(&mut self, at: u64, slots: &[u64], parked: &mut PairMap<Parked<N>>) {
        for &k in slots {
            let Some(p) = parked.get_mut(&k) else { continue };
            let cut = p.old.partition_point(|e| e.0 <= at);
            p.old.drain(..cut);
            let s = self.share.as_deref().expect("a worker of several");
            let same = {
                let (slot, q) = (self.slot(k), self.queues.get(&k));
                match p.old.first() {
                    Some(&(_, next)) => {
                        let e = &s.undo[next];
                        slot == e.2 && q == e.3.as_ref()
                    }
                    None => slot == p.end.0 && q == p.end.1.as_ref(),
                }
            };
            if !same {
                continue;
            }
            let p = parked.remove(&k).expect("listed");
            let s = self.share.as_deref_mut().expect("a worker of several");
            if let (Some(&(_, first)), Some(&(_, latest))) = (p.old.first(), p.old.last()) {
                s.undo[first].4 = s.last.get(&k).copied().unwrap_or(NONE);
                s.last.insert(k, latest);
            }
            self.set_value(k, p.end);
        }
    }

    /// The slots of owned addresses the handling at `i` may touch (of
    /// conversion `tx`'s events, or of event `i` alone), in `slots`.
    fn unit_slots(&mut self, i: usize, tx: Option<u32>, slots: &mut Vec<u64>) {
        slots.clear();
        let one = [i];
        let events: &[usize] = match tx {
            Some(t) => &self.p.tx_events[&t],
            None => &one,
        };
        let s = self.share.as_ref().expect("a worker of several");
        for &k in events {
            let (u, v) = self.parties.at(k);
            let a = traced_asset(self.ev.asset(k), self.p.weth_asset);
            for x in [u, v] {
                // The fees' pseudo-address, unless a seed, only absorbs: what it holds never matters.
                if owned_bit(&s.owned, x) && !(s.fees_inert && x == self.fees_id) {
                    slots.push(pair(a, x));
                }
            }
        }
    }

    /// The handlings of events `lo..hi` on a worker of several: every one
    /// that touches this worker's addresses (`changed` is `None`: the
    /// segment's first round, which lists each handling's slots), or those
    /// that must run again: the handlings at `changed`, and every later one
    /// of a slot that one run again left otherwise than it was. Returns the
    /// handlings run.
    pub(super) fn run_shared(&mut self, (lo, hi): (usize, usize), changed: Option<&HashSet<u64>>) -> Result<Vec<u64>, Overflow> {
        let p = self.p;
        let mut slots = Vec::new();
        let Some(changed) = changed else {
            let mut ran = Vec::new();
            // A worker alone owns every address.
            let alone = self.share.as_ref().is_some_and(|s| !s.keep_undo);
            for i in lo..hi {
                let t = self.ev.tx(i);
                let tx = p.conv_bits.has(t).then_some(t);
                match tx {
                    Some(t) if p.tx_events[&t][0] != i => continue,
                    None if !alone && !self.touches_owned(i) => continue,
                    _ => {}
                }
                if self.share.as_ref().is_some_and(|s| s.keep_undo) {
                    self.unit_slots(i, tx, &mut slots);
                    let s = self.share.as_deref_mut().expect("a worker of several");
                    let u = s.units.len();
                    s.units.push((i as u64, s.pool.len()));
                    s.pool.extend(slots.iter().map(|&k| (k, u)));
                }
                ran.push(i as u64);
                self.start_unit(i as u64, false);
                self.handle(i, tx)?;
            }
            self.end_unit();
            // By slot, then handling: the later handlings of a slot, found by a search.
            let s = self.share.as_deref_mut().expect("a worker of several");
            s.by_slot.clear();
            s.by_slot.extend_from_slice(&s.pool);
            s.by_slot.sort_unstable();
            return Ok(ran);
        };
        let (mut ran, mut parked) = (Vec::new(), PairMap::<Parked<N>>::default());
        let s = self.share.as_ref().expect("a worker of several");
        let mut agenda: std::collections::BTreeSet<usize> = changed
            .iter()
            .map(|&at| s.units.binary_search_by_key(&at, |u| u.0).expect("an arrival at a handling of this worker's"))
            .collect();
        while let Some(u) = agenda.pop_first() {
            let s = self.share.as_ref().expect("a worker of several");
            let (at, from) = s.units[u];
            let to = s.units.get(u + 1).map_or(s.pool.len(), |n| n.1);
            slots.clear();
            slots.extend(s.pool[from..to].iter().map(|e| e.0));
            for &k in &slots {
                if !parked.contains_key(&k) {
                    self.make_dirty(k, at, &mut parked);
                }
            }
            ran.push(at);
            self.start_unit(at, true);
            let i = at as usize;
            let t = self.ev.tx(i);
            self.handle(i, p.conv_bits.has(t).then_some(t))?;
            self.settle(at, &slots, &mut parked);
            let s = self.share.as_ref().expect("a worker of several");
            for &k in &slots {
                if parked.contains_key(&k) {
                    // Its next handling: it goes on from there while the slot stays otherwise.
                    let next = s.by_slot.partition_point(|e| e.0 < k || (e.0 == k && e.1 <= u));
                    if let Some(e) = s.by_slot.get(next).filter(|e| e.0 == k) {
                        agenda.insert(e.1);
                    }
                }
            }
        }
        self.end_unit();
        Ok(ran)
    }

    /// The handling at event `i`: conversion `tx` whole, or the event.
    fn handle(&mut self, i: usize, tx: Option<u32>) -> Result<(), Overflow> {
        match tx {
            Some(t) => self.whole_tx(t),
            None => self.event(i).map(|_| ()),
        }
    }

    /// Whether this worker runs either half of plain event `i`.
    #[inline]
    pub(super) fn touches_owned(&mut self, i: usize) -> bool {
        let (u, v) = self.parties.at(i);
        let s = self.share.as_ref().expect("a worker of several");
        owned_bit(&s.owned, u) || (!(s.fees_inert && v == self.fees_id) && owned_bit(&s.owned, v))
    }

    /// The handling of the event (or conversion) at `pos` begins: what the
    /// one before found is kept apart, to be taken back alone.
    /// `again`: it ran before, and finds anew.
    pub(super) fn start_unit(&mut self, pos: u64, again: bool) {
        self.end_unit();
        let s = self.share.as_deref_mut().expect("a worker of several");
        s.unit = (pos, 0);
        if again {
            s.found.remove(&pos);
        }
    }

    /// What the handling under way found, kept apart with its place.
    fn end_unit(&mut self) {
        let Some(s) = self.share.as_deref_mut() else { return };
        if !s.keep_undo {
            // Alone, a worker never runs a handling again: its findings
            // stay together until the segment is final.
            return;
        }
        s.visited += std::mem::take(&mut self.out.visited);
        let o = &self.out;
        if o.by_asset.is_empty() && o.arrivals.is_empty() && o.crossed.is_empty() && o.unfollowed.is_empty() {
            // Conversions' sums come with their `crossed` entries.
            debug_assert!(o.converted_in.is_empty() && o.converted_out.is_empty() && o.rounding.is_empty());
            return;
        }
        let found = std::mem::take(&mut self.out);
        s.found.insert(s.unit.0, Box::new((found, std::mem::take(&mut s.akeys))));
    }

    /// Record an arrival of taint at event `i`.
    #[inline]
    pub(super) fn arrive(&mut self, a: Arrival, i: usize) {
        self.out.arrivals.push(a);
        if let Some(s) = self.share.as_deref_mut() {
            s.akeys.push((s.unit.0, s.unit.1, i as u64));
        }
    }

    fn place(&self, i: usize) -> Place {
        let s = self.share.as_ref().expect("a worker of several");
        (s.unit.0, s.unit.1, i as u64)
    }

    /// What another worker delivered at `place`: the taint, its hop, the
    /// receiver's lots, and whether it is a conversion's payout.
    fn delivered(&self, place: Place) -> Result<(N, u32, Lots, bool), Overflow> {
        let s = self.share.as_ref().expect("a worker of several");
        Ok(match s.inbox.get(&place) {
            Some(c) => {
                let d = N::from_u256(U256::from_limbs(c.delivered)).ok_or(Overflow)?;
                let lots = if c.lots.is_empty() {
                    Lots::One(!d.is_zero())
                } else {
                    Lots::Mapped(c.lots.iter().map(|&(x, tainted)| Lot { amount: U256::from_limbs(x), tainted }).collect())
                };
                (d, c.hop, lots, c.crossed)
            }
            None => (N::ZERO, 0, Lots::One(false), false),
        })
    }

    fn ship(&mut self, c: Carry) {
        self.share.as_deref_mut().expect("a worker of several").outbox.push(c);
    }

    /// [`Sweep::event`] on a worker of several: the halves it owns. Returns
    /// the taint delivered where this worker runs the receive half (so
    /// that a conversion not followed counts each arrival once).
    pub(super) fn event_shared(&mut self, i: usize, l: Leg<N>) -> Result<N, Overflow> {
        let s = self.share.as_ref().expect("a worker of several");
        let ou = owned_bit(&s.owned, l.from);
        let ov = if s.fees_inert && l.to == self.fees_id { ou } else { owned_bit(&s.owned, l.to) };
        if !ou && !ov {
            return Ok(N::ZERO);
        }
        let place = self.place(i);
        let (delivered, ev_hop, lots) = if ou {
            let Some(out) = self.send_event(i, &l)? else { return Ok(N::ZERO) };
            if !ov {
                if !out.0.is_zero() {
                    let lots = match out.2 {
                        Lots::Pieces => self.pieces.iter().map(|l| (limbs(l.amount), l.tainted)).collect(),
                        _ => Vec::new(),
                    };
                    let c = Carry { receiver: l.to, place, delivered: limbs(out.0.to_u256()), hop: out.1, lots, crossed: false, seq: 0 };
                    self.ship(c);
                }
                return Ok(N::ZERO);
            }
            out
        } else {
            let (d, hop, lots, _) = self.delivered(place)?;
            (d, hop, lots)
        };
        self.receive(i, l.asset, l.to, l.value, delivered, ev_hop, lots, None)?;
        Ok(delivered)
    }

    /// [`Sweep::swap_legs`] on a worker of several, from the payer's
    /// outflow on: the payer's owner works out `y`, each leg's parties'
    /// owners move their balances, the payee's owner receives.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn swap_shared(
        &mut self,
        events: &[usize],
        s: &Swap,
        venues: &[u32],
        (asset_a, asset_b, a, b): (u32, u32, N, N),
        (first, last): (usize, usize),
        legs: &[Leg<N>],
        fees: &[usize],
    ) -> Result<Option<&'static str>, Overflow> {
        let (u, r) = (s.payer, s.payee);
        let aggregated = |asset: u32, addr: u32| (asset == asset_a && addr == u) || (asset == asset_b && addr == r);
        let mut paid = None;
        if self.owns(u) {
            let (y, lots, hop, crossed) = self.pay_in(events, s, venues, (asset_a, asset_b, a, b), (first, last))?;
            paid = Some((y, hop, lots, crossed));
        }
        for l in legs {
            if !aggregated(l.asset, l.from) && self.owns(l.from) {
                self.debit(l.asset, l.from, l.value, l.event)?;
            }
            if !aggregated(l.asset, l.to) && self.owns(l.to) {
                self.credit(l.asset, l.to, l.value)?;
            }
        }
        let place = self.place(last);
        if self.owns(r) {
            let (y, hop, lots, crossed) = match paid {
                Some(p) => p,
                // The index is the payer's owner's: worker 0 numbers the conversions.
                None => self.delivered(place).map(|(y, hop, lots, c)| (y, hop, lots, c.then_some(usize::MAX)))?,
            };
            self.receive(last, asset_b, r, b, y, hop, lots, crossed)?;
        } else if let Some((y, hop, lots, crossed)) = paid
            && !y.is_zero()
        {
            let lots = match lots {
                Lots::Mapped(ls) => ls.iter().map(|l| (limbs(l.amount), l.tainted)).collect(),
                _ => Vec::new(),
            };
            self.ship(Carry { receiver: r, place, delivered: limbs(y.to_u256()), hop, lots, crossed: crossed.is_some(), seq: 0 });
        }
        if let Some(sh) = self.share.as_deref_mut() {
            sh.unit.1 = 1;
        }
        for &i in fees {
            self.event(i)?;
        }
        Ok(None)
    }
}

/// Refuse what a `--follow swaps` question cannot ask of `store`.
pub(crate) fn check_question(store: &Store, spec: &Spec, seed_asset: Option<u32>) -> Result<(), TraceError> {
    account_only(store, spec)?;
    base_prep(store, spec, seed_asset).map(|_| ())
}

/// The question's parts for a worker of several: every asset's state in
/// the map (a worker keeps only its own addresses' slots), the store's
/// conversions listed. Bridges are not followed across processes yet.
pub(crate) fn prepare_workers(store: &Store, spec: &Spec, seed_asset: Option<u32>) -> Result<Prepared, TraceError> {
    check_question(store, spec, seed_asset)?;
    let mut p = base_prep(store, spec, seed_asset)?;
    add_conversions(store, &mut p, DENSE_PER);
    p.record = false;
    Ok(Prepared(std::sync::Arc::new(p)))
}

/// A question's parts for the workers of a process, which share them
/// (listing the conversions is a pass over the store's logs and events).
#[derive(Clone)]
pub(crate) struct Prepared(std::sync::Arc<Prep>);

/// What a worker keeps from round to round, lent to a [`Sweep`] over the
/// worker's store for each run of a segment.
struct Kept<N> {
    dense: Vec<Vec<Slot<N>>>,
    tok: PairMap<Slot<N>>,
    queues: PairMap<Queue>,
    out: Followed,
    share: Option<Box<Share<N>>>,
}

/// One worker of a `--follow swaps` sweep across workers: the store it
/// reads (whole), the question, and its state, in numbers of type `N`
/// (u128 where no sum can pass it, else 320 bits).
pub(crate) struct Shared(Kind);

enum Kind {
    Narrow(Box<Work<u128>>),
    Wide(Box<Work<Wide>>),
}

impl Shared {
    /// A worker of `peers` that owns the store ids of `owned` (a bit each),
    /// for the question `spec` with seeds sources in `seed_asset` only
    /// (`--asset`; `None`: every asset).
    ///
    /// Its numbers are u128 where every value of the store is below 2^72
    /// (no value is in the store's side table of big ones): a balance is
    /// then at most two values an event, which u128 holds for 2^55
    /// events; the single process runs u128 first for the same reason,
    /// and any sum that would pass it makes it run again in 320 bits, so
    /// the answers are the same.
    /// `p`: the question's parts ([`prepare_workers`]) for the same store.
    pub(crate) fn new(store: Store, spec: Spec, p: &Prepared, owned: Vec<u64>, peers: usize) -> Shared {
        let narrow = store.big_values().is_empty() && (store.len() as u64) < 1 << 55;
        let p = p.0.clone();
        Shared(if narrow {
            Kind::Narrow(Box::new(Work::new(store, spec, p, owned, peers)))
        } else {
            Kind::Wide(Box::new(Work::new(store, spec, p, owned, peers)))
        })
    }

    /// [`Work::segment`].
    pub(crate) fn segment(&mut self, s: u64, span: (usize, usize), msgs: Vec<Carry>) -> (Vec<Carry>, HashSet<u64>) {
        match &mut self.0 {
            Kind::Narrow(w) => w.segment(s, span, msgs),
            Kind::Wide(w) => w.segment(s, span, msgs),
        }
    }

    /// [`Work::finish`].
    pub(crate) fn finish(&mut self) -> (Followed, Vec<Place>) {
        match &mut self.0 {
            Kind::Narrow(w) => w.finish(),
            Kind::Wide(w) => w.finish(),
        }
    }

    /// Every worker's [`Shared::finish`] as the single-process answer.
    pub(crate) fn assemble(&self, parts: Vec<(Followed, Vec<Place>)>) -> Followed {
        match &self.0 {
            Kind::Narrow(w) => assemble(parts, &w.spec, &w.p),
            Kind::Wide(w) => assemble(parts, &w.spec, &w.p),
        }
    }
}

/// [`Shared`] in numbers of type `N`.
struct Work<N> {
    store: Store,
    spec: Spec,
    p: std::sync::Arc<Prep>,
    kept: Kept<N>,
    /// What the finished segments found, with the places of its arrivals
    /// and conversions.
    total: Followed,
    akeys: Vec<Place>,
    /// The segment under way.
    cur: Option<u64>,
}

impl<N: Num> Work<N> {
    fn new(store: Store, spec: Spec, p: std::sync::Arc<Prep>, owned: Vec<u64>, peers: usize) -> Work<N> {
        let fees_inert = !spec.seeds.contains(&Pseudo::Fees.id());
        let share = Share {
            owned,
            fees_inert,
            keep_undo: peers > 1,
            inbox: HashMap::new(),
            outbox: Vec::new(),
            undo: Vec::new(),
            last: PairMap::default(),
            unit: (0, 0),
            akeys: Vec::new(),
            found: BTreeMap::new(),
            visited: 0,
            units: Vec::new(),
            pool: Vec::new(),
            by_slot: Vec::new(),
        };
        let fresh = Followed { seed_asset: p.seed_asset, ..Default::default() };
        Work {
            kept: Kept {
                dense: dense_slots(&store, &p),
                tok: PairMap::default(),
                queues: PairMap::default(),
                out: fresh.clone(),
                share: Some(Box::new(share)),
            },
            total: fresh,
            akeys: Vec::new(),
            cur: None,
            store,
            spec,
            p,
        }
    }

    fn share(&mut self) -> &mut Share<N> {
        self.kept.share.as_deref_mut().expect("made in new")
    }

    /// Run the events `lo..hi` of segment `s` with the arrivals `msgs`. A
    /// later round of the same segment runs again the handlings whose
    /// arrivals changed and those they reach (none changed: nothing runs).
    /// Returns what this run delivers to other workers, and the handlings
    /// it ran (the messages about the others stand).
    fn segment(&mut self, s: u64, (lo, hi): (usize, usize), msgs: Vec<Carry>) -> (Vec<Carry>, HashSet<u64>) {
        let changed = if self.cur == Some(s) {
            let sh = self.share();
            let mut changed = HashSet::new();
            for m in msgs {
                let was = sh.inbox.get(&m.place);
                if was.is_none_or(|o| o.seq < m.seq) {
                    if !was.is_some_and(|o| o.same_as(&m)) {
                        changed.insert(m.place.0);
                    }
                    sh.inbox.insert(m.place, m);
                }
            }
            if changed.is_empty() {
                return (Vec::new(), changed);
            }
            Some(changed)
        } else {
            self.commit();
            self.cur = Some(s);
            let sh = self.share();
            sh.inbox.clear();
            for m in msgs {
                if sh.inbox.get(&m.place).is_none_or(|o| o.seq < m.seq) {
                    sh.inbox.insert(m.place, m);
                }
            }
            None
        };
        let Work { store, spec, p, kept, .. } = self;
        let mut sw: Sweep<'_, N> = Sweep::with_slots(store, spec, p, None, Vec::new());
        lend(kept, &mut sw);
        let ran = sw.run_shared((lo, hi), changed.as_ref());
        take_back(kept, &mut sw);
        let ran: HashSet<u64> = ran.expect("a sum that fits its numbers (Shared::new)").into_iter().collect();
        (std::mem::take(&mut self.share().outbox), ran)
    }

    /// The segment under way is final: its findings join the total.
    fn commit(&mut self) {
        if self.cur.take().is_none() {
            return;
        }
        let Work { p, kept, total, akeys, .. } = self;
        let sh = kept.share.as_deref_mut().expect("made in new");
        sh.undo.clear();
        sh.last.clear();
        sh.units.clear();
        sh.pool.clear();
        let mut add = |found: Followed, places: Vec<Place>| {
            akeys.extend(places);
            add_found(total, found);
        };
        for (_, b) in std::mem::take(&mut sh.found) {
            let (found, places) = *b;
            add(found, places);
        }
        // A worker alone keeps the segment's findings together.
        let rest = std::mem::replace(&mut kept.out, Followed { seed_asset: p.seed_asset, ..Default::default() });
        add(rest, std::mem::take(&mut sh.akeys));
    }

    /// What this worker found, once every segment is final, with what its
    /// addresses hold at the end; and the places of its arrivals.
    fn finish(&mut self) -> (Followed, Vec<Place>) {
        self.commit();
        let Work { store, spec, p, kept, .. } = self;
        let mut sw: Sweep<'_, N> = Sweep::with_slots(store, spec, p, None, Vec::new());
        lend(kept, &mut sw);
        let done = sw.finish();
        take_back(kept, &mut sw);
        done.expect("a sum that fits its numbers (Shared::new)");
        let end = std::mem::take(&mut self.kept.out);
        add_found(&mut self.total, end);
        self.total.visited += self.share().visited;
        (std::mem::take(&mut self.total), std::mem::take(&mut self.akeys))
    }
}

fn lend<N: Num>(kept: &mut Kept<N>, sw: &mut Sweep<'_, N>) {
    std::mem::swap(&mut sw.dense, &mut kept.dense);
    std::mem::swap(&mut sw.tok, &mut kept.tok);
    std::mem::swap(&mut sw.queues, &mut kept.queues);
    std::mem::swap(&mut sw.out, &mut kept.out);
    std::mem::swap(&mut sw.share, &mut kept.share);
}

fn take_back<N: Num>(kept: &mut Kept<N>, sw: &mut Sweep<'_, N>) {
    lend(kept, sw);
}

/// Add a later segment's findings (arrivals and conversions appended, in order).
fn add_found(total: &mut Followed, seg: Followed) {
    add_sums(total, &seg);
    for (asset, o) in seg.by_asset {
        total.by_asset.entry(asset).or_default().add(o, FirstBy::Order);
    }
    total.arrivals.extend(seg.arrivals);
    total.crossed.extend(seg.crossed);
    total.unfollowed.extend(seg.unfollowed);
    total.visited += seg.visited;
}

fn add_sums(total: &mut Followed, more: &Followed) {
    for (a, x) in &more.converted_in {
        *total.converted_in.entry(*a).or_default() += *x;
    }
    for (a, x) in &more.converted_out {
        *total.converted_out.entry(*a).or_default() += *x;
    }
    for (a, x) in &more.rounding {
        *total.rounding.entry(*a).or_default() += *x;
    }
}

/// Every worker's findings (`Shared::finish`) as the single-process sweep's
/// [`Followed`]: arrivals and conversions in its order, each conversion's
/// payout pointing at its place in that order, the conversions not
/// followed put together from what each worker saw of them.
fn assemble(parts: Vec<(Followed, Vec<Place>)>, spec: &Spec, p: &Prep) -> Followed {
    let mut out = Followed { seed_asset: p.seed_asset, ..Default::default() };
    let mut arrivals: Vec<(Place, Arrival)> = Vec::new();
    let mut crossed: Vec<(u64, Crossed)> = Vec::new();
    let mut unfollowed: BTreeMap<u64, Unfollowed> = BTreeMap::new();
    for (f, akeys) in parts {
        assert_eq!(akeys.len(), f.arrivals.len(), "a place for each arrival");
        for (asset, o) in f.by_asset {
            out.by_asset.entry(asset).or_default().add(o, FirstBy::Order);
        }
        let sums = Followed { converted_in: f.converted_in, converted_out: f.converted_out, rounding: f.rounding, ..Default::default() };
        add_sums(&mut out, &sums);
        out.visited += f.visited;
        arrivals.extend(akeys.into_iter().zip(f.arrivals));
        // A conversion's place is its transaction's first event.
        crossed.extend(f.crossed.into_iter().map(|c| (p.tx_events[&c.tx][0] as u64, c)));
        for u in f.unfollowed {
            match unfollowed.entry(u.first_event) {
                std::collections::btree_map::Entry::Occupied(mut e) => {
                    for (a, x) in u.taint {
                        *e.get_mut().taint.entry(a).or_default() += x;
                    }
                }
                std::collections::btree_map::Entry::Vacant(e) => {
                    e.insert(u);
                }
            }
        }
    }
    crossed.sort_by_key(|c| c.0);
    let index: HashMap<u64, usize> = crossed.iter().enumerate().map(|(k, c)| (c.0, k)).collect();
    arrivals.sort_by_key(|a| a.0);
    out.arrivals = arrivals
        .into_iter()
        .map(|(place, a)| match a {
            Arrival::Crossed(_) => Arrival::Crossed(index[&place.0]),
            a => a,
        })
        .collect();
    out.crossed = crossed.into_iter().map(|c| c.1).collect();
    out.unfollowed = unfollowed.into_values().collect();
    with_warnings(out, spec, p)
}
