//! Poison, haircut and FIFO over the account model on timely-dataflow
//! (TRACING.md §2 and §5, issue 17, ADR 0015): the single-process sweep's
//! outcome, computed by workers that each own a part of the addresses.
//!
//! An event is split in two halves. Its sender's owner runs the send half
//! (shortfall, the taint that leaves, the sender's new state) and tells the
//! receiver's owner what arrived, by a message keyed by the event; the
//! receiver's owner runs the receive half (stops, the horizon, the
//! receiver's taint or lots). Untainted events move no message: the store's
//! sender-balance column already says what they do to balances, and the
//! receiver's owner reads every event of its own receivers that it needs
//! (seeds, FIFO queues) from the store.
//!
//! Order is kept by timely's timestamps: the events are cut into segments
//! of 2^13 in key order, and a segment's time is `(segment, round)`. A
//! worker runs its events of a segment only once every arrival from
//! earlier segments has been delivered (the frontier says so). Inside a
//! segment, each round that brings a worker changed arrivals runs again
//! what they can change: the receive halves of those events, and every
//! later half event of an address whose state that changed, from its
//! state just before (an undo chain per address takes it back). A worker
//! runs a segment's arrivals as they come, without waiting for the other
//! workers to end a round ([`Rounds::Eager`]; each arrival numbered by its
//! sender, so that the latest wins). Each event is final once the
//! arrivals before it within the segment are, so the rounds end (the
//! design sketch's fixed point). Each amount is computed once from the
//! same integers as in the single-process sweep, so rounding is the same
//! too.
//!
//! A worker visits only what can matter (as the sparse sweep does): the
//! events of addresses that hold taint or are seeds, the arrivals of seeds
//! and FIFO queues, seed transactions, and events something arrived on,
//! found through an agenda of each such address's next event. A block
//! window, or `--engine full`, keeps every balance instead and visits
//! every event.

use super::found::Found;
use super::segments::Rounds;
use super::{DataflowError, Owners, Positions, Read, Workers, bit};
use super::{Map, Set};
use crate::model::{NO_BLOCK, NO_TX, Pseudo, flags};
use crate::store::{EventColumns, Store};
use crate::trace::fifo::{Lot, Queue};
use crate::trace::num::{haircut, narrow};
use crate::trace::rules::{Rules, stop_at_time, stop_rules};
use crate::trace::{Engine, EventRow, Outcome, Policy, Spec, Tainted, TraceError, Traffic, Wide};
use ruint::aliases::U256;
use std::cell::RefCell;
use std::rc::Rc;

/// Events a segment spans, as a power of two: more events a segment mean
/// fewer rounds of progress tracking and longer chains to iterate.
pub const SEGMENT_BITS: u32 = 13;
const NONE: u32 = u32::MAX;
/// An event's halves, for [`State::event`].
const SEND: u8 = 1;
const RECEIVE: u8 = 2;
const BOTH: u8 = SEND | RECEIVE;

use crate::trace::account_state::*;

/// What arrived on an event, sent to its receiver's owner: the taint
/// delivered (zero takes back what an earlier round sent), its hop,
/// whether it is a seed transaction's, and FIFO's lots.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct Arrival {
    receiver: u32,
    event: u64,
    delivered: [u64; 4],
    hop: u32,
    seed_tx: bool,
    lots: Vec<([u64; 4], bool)>,
    /// The sender's count of rounds when it sent this: arrivals about an
    /// event all come from its sender's owner, but run as they come
    /// ([`super::segments::Rounds::Eager`]) they can overtake each other
    /// on the way, so the receiver keeps the one sent last. 0 until sent.
    seq: u64,
}

/// What an event did to the outcome, kept in event order so that a round
/// can take back what it found from an event on.
enum Effect {
    Visit,
    Seeded(Wide),
    Unknown(Wide),
    Fees(Wide),
    Tainted(Tainted),
    /// A stop absorbed `x` at hop `hop`: the rule is the index into the stop's rules.
    Absorb {
        v: u32,
        rule: u32,
        x: U256,
        hop: u32,
    },
    CutOff {
        v: u32,
        x: Wide,
        hop: u32,
    },
}

/// What the send half hands the receive half.
#[derive(Clone)]
struct Sent {
    delivered: U256,
    hop: u32,
    seed_tx: bool,
    pieces: Vec<Lot>,
}

impl super::segments::Message for Arrival {
    type Key = u64;
    fn key(&self) -> u64 {
        self.event
    }
    fn carries(&self) -> bool {
        self.delivered != [0; 4]
    }
    fn retract(&mut self) {
        self.delivered = [0; 4];
        self.lots.clear();
    }
}

impl Sent {
    fn message(&self, receiver: u32, event: u64) -> Arrival {
        Arrival {
            receiver,
            event,
            delivered: *self.delivered.as_limbs(),
            hop: self.hop,
            seed_tx: self.seed_tx,
            lots: self.pieces.iter().map(|l| (*l.amount.as_limbs(), l.tainted)).collect(),
            seq: 0,
        }
    }

    fn of(a: &Arrival) -> Sent {
        Sent {
            delivered: U256::from_limbs(a.delivered),
            hop: a.hop,
            seed_tx: a.seed_tx,
            pieces: a.lots.iter().map(|&(l, t)| Lot { amount: U256::from_limbs(l), tainted: t }).collect(),
        }
    }
}

/// One owned address's state.
#[derive(Clone)]
struct Acct {
    fl: u8,
    hop: u32,
    t: Wide,
    bal: Wide,
    queue: Option<Box<Queue>>,
}

impl Default for Acct {
    fn default() -> Self {
        Acct { fl: 0, hop: u32::MAX, t: Wide::ZERO, bal: Wide::ZERO, queue: None }
    }
}

/// What a worker knows and never changes: its part of the store's events
/// and the question.
struct Part {
    /// The events this worker reads: the whole store, or its process's
    /// part of it (`store::part`).
    store: Store,
    /// A part's events' positions in the whole store (`None`: the store is whole).
    keys: Positions,
    /// Events in the whole store.
    n: u64,
    policy: Policy,
    asset: u32,
    evidence: bool,
    max_hops: Option<u32>,
    window: Option<(u64, u64)>,
    full: bool,
    segment_bits: u32,
    rules: Rules,
    seed_txs: Set<u32>,
    fees_id: u32,
    /// Whether the fees' pseudo-address is not a seed (see `State::again`).
    fees_inert: bool,
    /// Events of seed transactions (their fees aside) owned addresses send.
    seed_tx_events: Vec<u64>,
    owners: Owners,
    /// The store ids this worker owns, a bit each: the scan asks twice an
    /// event, and a bit is one load where the owner is a hash.
    owned: Vec<u64>,
    /// Whether this worker is the only one (it owns every id).
    alone: bool,
}

impl Part {
    /// Whether this worker owns store id `a`.
    #[inline]
    fn owns(&self, a: u32) -> bool {
        bit(&self.owned, a)
    }

    /// Whether this worker runs the send half of an event `u -> v`, and its receive half.
    #[inline]
    fn owns_pair(&self, u: u32, v: u32) -> (bool, bool) {
        super::halves_by(u, v, self.fees_inert, |a| self.owns(a))
    }

    /// Event `e` of the whole store, which this worker reads, as evidence shows it.
    fn row(&self, e: u64) -> EventRow {
        let j = self.keys.at(e);
        debug_assert_eq!(self.keys.key(j), e, "an event this worker holds");
        EventRow::at(&self.store, j)
    }

    /// Whether event `i` (of the read store) moves anything in this trace.
    fn counts(&self, ev: &EventColumns<'_>, i: usize) -> bool {
        if ev.asset(i) != self.asset || ev.flags(i) & flags::MOVES_NOTHING != 0 || ev.value.get(i) == 0 {
            return false;
        }
        match self.window {
            Some((lo, hi)) => {
                let b = ev.block(i);
                b != NO_BLOCK && b >= lo && b <= hi
            }
            None => true,
        }
    }

    fn build(
        read: Read,
        keys: Positions,
        spec: &Spec,
        full: bool,
        segment_bits: u32,
        me: usize,
        owners: Owners,
    ) -> Result<Part, TraceError> {
        let Read { store, n, .. } = read;
        let rules = stop_rules(&store, &spec.stop_at, &|a| a)?;
        let mut part = Part {
            keys,
            n,
            policy: spec.policy,
            asset: spec.asset,
            evidence: spec.evidence,
            max_hops: spec.max_hops,
            window: (spec.from_block.is_some() || spec.to_block.is_some())
                .then(|| (spec.from_block.unwrap_or(0), spec.to_block.unwrap_or(u64::MAX))),
            full,
            segment_bits,
            rules,
            seed_txs: spec.seed_txs.iter().copied().collect(),
            fees_id: Pseudo::Fees.id(),
            fees_inert: !spec.seeds.contains(&Pseudo::Fees.id()),
            seed_tx_events: Vec::new(),
            owned: super::owned_bits(&owners, me, store.address_count()),
            alone: owners.peers() == 1,
            owners,
            store,
        };
        let mut txs = spec.seed_txs.clone();
        txs.sort_unstable();
        if !txs.is_empty() {
            let ev = part.store.events();
            part.seed_tx_events = (0..part.store.len())
                .filter(|&i| {
                    let t = ev.tx(i);
                    t != NO_TX
                        && ev.flags(i) & flags::FEE == 0
                        && txs.binary_search(&t).is_ok()
                        && part.owns(ev.sender(i))
                        && part.counts(&ev, i)
                })
                .map(|i| part.keys.key(i))
                .collect();
        }
        Ok(part)
    }
}

/// A change to an address, to take back.
struct Undo {
    event: u64,
    slot: u32,
    before: Acct,
    prev: u32,
}

/// Where a round's scan is in its sorted arrivals and seed transactions.
struct Cursor {
    inbox: Vec<u64>,
    next_in: usize,
    next_tx: usize,
}

/// An event of the segment under way that touches this worker's addresses.
#[derive(Clone, Copy)]
struct Mine {
    /// Its offset in the segment.
    off: u32,
    /// Its offset in the read store from `State::local_lo`.
    li: u32,
    /// Sender and receiver.
    u: u32,
    v: u32,
    /// Whether this worker runs its send half, and its receive half.
    owned: (bool, bool),
}

/// A worker's changing state.
struct State {
    /// The segment under way's events that touch this worker's addresses:
    /// decoded by its first round.
    mine: Vec<Mine>,
    /// The read store's first event of the segment under way.
    local_lo: usize,
    /// Store id -> the slot of an owned address that has state (`NONE`: none yet).
    slot: Vec<u32>,
    /// Slot -> store id.
    ids: Vec<u32>,
    acct: Vec<Acct>,
    /// Each change to an address in the segment under way: the event, the
    /// address, what it was before, and the address's change before this
    /// one (`NONE`: none), so that one address can be taken back alone.
    undo: Vec<Undo>,
    /// Slot -> its latest entry in `undo` (`NONE`: none).
    last_undo: Vec<u32>,
    /// Store ids whose state a later round has taken back and runs again
    /// (a bit each), and the list of them, to clear the bits.
    dirty: Vec<u64>,
    dirty_list: Vec<u32>,
    /// What the segment under way found so far, by half event ascending
    /// (event `i`'s send half `2i`, its receive half `2i + 1`), so that a
    /// later round can replace what one half found.
    log: Vec<(u64, Effect)>,
    /// What the send half of the segment's events whose two parties this
    /// worker owns handed the receive half, for a later round that runs
    /// the receive half alone.
    local: Map<u64, Sent>,
    /// Store ids whose sends, and whose arrivals, may matter, kept with
    /// each address's state (a rollback restores them), so that the scan
    /// skips every other event with two bit tests.
    hot_send: Vec<u64>,
    hot_receive: Vec<u64>,
    /// Whether any bit is set.
    any_hot: bool,
    /// Counts changes to those bits: a block's mask of the events that
    /// may matter, made at its start, holds while it is unchanged.
    hot_changes: u64,
    /// Everything finished segments found.
    out: Outcome,
    cur: Option<u64>,
    /// Arrivals on this segment's events from other workers.
    inbox: Map<u64, Arrival>,
    /// What this worker last sent on this segment's events.
    sent: Map<u64, Arrival>,
    /// What this worker sent and ran.
    exchange: Traffic,
    /// Whether a later round can come (more than one worker).
    keep_undo: bool,
}

impl State {
    fn new(p: &Part, seeds: &[u32]) -> State {
        let mut st = State {
            mine: Vec::new(),
            local_lo: 0,
            slot: vec![NONE; p.store.address_count()],
            ids: Vec::new(),
            acct: Vec::new(),
            undo: Vec::new(),
            last_undo: Vec::new(),
            dirty: vec![0; if p.owners.peers() > 1 { p.store.address_count().div_ceil(64) } else { 0 }],
            dirty_list: Vec::new(),
            local: Map::default(),
            log: Vec::new(),
            hot_send: vec![0; p.store.address_count().div_ceil(64)],
            hot_receive: vec![0; p.store.address_count().div_ceil(64)],
            // Keeping every balance, every worker scans every segment.
            any_hot: p.full,
            hot_changes: 0,
            out: Outcome::default(),
            cur: None,
            inbox: Map::default(),
            sent: Map::default(),
            exchange: Traffic::default(),
            keep_undo: p.owners.peers() > 1,
        };
        for &id in p.rules.keys() {
            if p.owns(id) {
                let l = st.slot(id);
                st.acct[l as usize].fl |= HAS_RULE;
            }
        }
        for &s in seeds {
            if p.owns(s) {
                let l = st.slot(s);
                let a = &mut st.acct[l as usize];
                a.fl |= IS_SEED | POISONED;
                a.hop = 0;
            }
        }
        for &s in seeds {
            if p.owns(s) {
                st.mark_hot(p, s);
            }
        }
        st
    }

    /// The slot of owned store id `a`, made on first use.
    fn slot(&mut self, a: u32) -> u32 {
        match self.slot[a as usize] {
            NONE => {
                let l = self.acct.len() as u32;
                self.acct.push(Acct::default());
                self.last_undo.push(NONE);
                self.ids.push(a);
                self.slot[a as usize] = l;
                l
            }
            l => l,
        }
    }

    /// Set the bits of store id `a` (owned) that its state calls for.
    fn mark_hot(&mut self, p: &Part, a: u32) {
        let (w, b) = (a as usize / 64, 1u64 << (a % 64));
        let was = (self.hot_send[w] & b, self.hot_receive[w] & b);
        // Cleared too when an address cools (a FIFO queue gone clean), as
        // the sparse sweep does: the scan then skips its events again.
        if self.send_hot(p, a) {
            self.hot_send[w] |= b;
            self.any_hot = true;
        } else {
            self.hot_send[w] &= !b;
        }
        if self.receive_hot(p, a) {
            self.hot_receive[w] |= b;
            self.any_hot = true;
        } else {
            self.hot_receive[w] &= !b;
        }
        if was != (self.hot_send[w] & b, self.hot_receive[w] & b) {
            self.hot_changes += 1;
        }
    }

    /// Whether the sends of owned store id `a` can carry taint.
    fn send_hot(&self, p: &Part, a: u32) -> bool {
        if p.full {
            return true;
        }
        let Some(a) = self.acct.get(self.slot[a as usize] as usize) else { return false };
        a.fl & IS_SEED != 0
            || match p.policy {
                Policy::Poison => a.fl & POISONED != 0,
                Policy::Haircut => !a.t.is_zero(),
                Policy::Fifo => a.fl & HAS_QUEUE != 0,
            }
    }

    /// Whether owned store id `a` must see every arrival.
    fn receive_hot(&self, p: &Part, a: u32) -> bool {
        p.full || self.acct.get(self.slot[a as usize] as usize).is_some_and(|a| a.fl & (IS_SEED | HAS_QUEUE) != 0)
    }

    /// Address `l`, about to change at event `i`.
    fn touch(&mut self, l: u32, i: u64) -> &mut Acct {
        // Alone, a worker never runs a segment twice: nothing to undo.
        if self.keep_undo {
            let prev = self.last_undo[l as usize];
            self.last_undo[l as usize] = self.undo.len() as u32;
            self.undo.push(Undo { event: i, slot: l, before: self.acct[l as usize].clone(), prev });
        }
        &mut self.acct[l as usize]
    }

    /// Whether a later round runs owned store id `a` again.
    #[inline]
    fn is_dirty(&self, a: u32) -> bool {
        bit(&self.dirty, a)
    }

    /// Owned store id `a` back to its state just before event `e` of the
    /// segment under way, to be run again from there: every later event of
    /// it in the round too.
    fn make_dirty(&mut self, p: &Part, a: u32, e: u64) {
        self.dirty[a as usize / 64] |= 1 << (a % 64);
        self.dirty_list.push(a);
        let l = self.slot[a as usize];
        if l == NONE {
            return;
        }
        // Its changes from e on are the latest of its chain.
        let mut k = self.last_undo[l as usize];
        let mut first = NONE;
        while k != NONE && self.undo[k as usize].event >= e {
            first = k;
            k = self.undo[k as usize].prev;
        }
        if first != NONE {
            self.acct[l as usize] = std::mem::take(&mut self.undo[first as usize].before);
            self.last_undo[l as usize] = k;
            self.mark_hot(p, a);
        }
    }

    /// The segment under way is final.
    fn commit(&mut self, rules: &Rules) {
        if self.cur.take().is_none() {
            return;
        }
        for u in &self.undo {
            self.last_undo[u.slot as usize] = NONE;
        }
        self.undo.clear();
        let mut seg = Outcome::default();
        for (k, e) in self.log.drain(..) {
            let i = k >> 1;
            match e {
                Effect::Visit => seg.visited += 1,
                Effect::Seeded(x) => seg.seeded += x,
                Effect::Unknown(x) => seg.unknown_origin += x,
                Effect::Fees(x) => seg.fees += x,
                Effect::Tainted(t) => seg.tainted.push(t),
                Effect::Absorb { v, rule, x, hop } => seg.absorb(v, i, &rules[&v][rule as usize], x, hop),
                Effect::CutOff { v, x, hop } => seg.cut_off(v, x, hop),
            }
        }
        super::found::merge(&mut self.out, seg);
        self.inbox.clear();
        self.sent.clear();
        self.local.clear();
    }

    /// One round of segment `s` with the arrivals `msgs`: returns the
    /// messages to send and the next segment this worker has work in.
    fn round(&mut self, p: &Part, s: u64, msgs: Vec<Arrival>) -> (Vec<Arrival>, Option<u64>) {
        let n = p.n;
        let (lo, hi) = super::segments::span(s, p.segment_bits, n);
        let first = self.cur != Some(s);
        if first {
            self.commit(&p.rules);
            self.cur = Some(s);
        }
        let mut changed: Vec<u64> = msgs.iter().map(|m| m.event).collect();
        for m in msgs {
            if self.inbox.get(&m.event).is_none_or(|o| o.seq < m.seq) {
                self.inbox.insert(m.event, m);
            }
        }
        self.exchange.rounds += 1;
        let mut now_sent: Map<u64, Arrival> = Map::default();
        let ev = p.store.events();
        let mut outbox = if first {
            let mut inbox: Vec<u64> = self.inbox.keys().copied().collect();
            inbox.sort_unstable();
            let next_tx = p.seed_tx_events.partition_point(|&e| e < lo);
            let mut at = Cursor { inbox, next_in: 0, next_tx };
            // The scan: parties decoded a block at a time, two bit tests an
            // event. The events of this worker's addresses are kept, decoded,
            // for the segment's later rounds.
            self.mine.clear();
            const BLOCK: usize = 64;
            let (mut from, mut to, mut keys) = ([0u32; BLOCK], [0u32; BLOCK], [0u64; BLOCK]);
            let (la, lb) = p.keys.local(lo, hi);
            self.local_lo = la;
            let mut i = la;
            while i < lb {
                let k = (lb - i).min(BLOCK);
                ev.parties(i, &mut from[..k], &mut to[..k]);
                p.keys.fill(i, &mut keys[..k]);
                self.exchange.scanned += k as u64;
                // Which of the block's events this worker runs a half of, as
                // masks made without a branch an event.
                let (mut own_u, mut own_v) = (0u64, 0u64);
                if p.alone {
                    (own_u, own_v) = (!0 >> (BLOCK - k), !0 >> (BLOCK - k));
                } else {
                    for j in 0..k {
                        let (ou, ov) = p.owns_pair(from[j], to[j]);
                        own_u |= u64::from(ou) << j;
                        own_v |= u64::from(ov) << j;
                    }
                }
                let own = own_u | own_v;
                // Arrivals and seed transactions call at events this worker
                // runs a half of; with every balance kept, every such event does.
                let last = keys[k - 1];
                let mut called = if p.full { own } else { 0 };
                while at.next_in < at.inbox.len() && at.inbox[at.next_in] <= last {
                    if let Ok(j) = keys[..k].binary_search(&at.inbox[at.next_in]) {
                        called |= 1 << j;
                    }
                    at.next_in += 1;
                }
                while at.next_tx < p.seed_tx_events.len() && p.seed_tx_events[at.next_tx] <= last {
                    if let Ok(j) = keys[..k].binary_search(&p.seed_tx_events[at.next_tx]) {
                        called |= 1 << j;
                    }
                    at.next_tx += 1;
                }
                called &= own;
                // Alone, a worker never runs a segment again.
                if self.keep_undo {
                    let mut m = own;
                    while m != 0 {
                        let j = m.trailing_zeros() as usize;
                        m &= m - 1;
                        let owned = (own_u >> j & 1 != 0, own_v >> j & 1 != 0);
                        self.mine.push(Mine { off: (keys[j] - lo) as u32, li: (i + j - la) as u32, u: from[j], v: to[j], owned });
                    }
                }
                // The events that may matter; made again for the rest of the
                // block when an event changes a hot bit.
                let mut at_changes = self.hot_changes;
                let mut m = called | self.hot_mask(&from[..k], &to[..k], (own_u, own_v), 0);
                while m != 0 {
                    let j = m.trailing_zeros() as usize;
                    m &= m - 1;
                    if p.counts(&ev, i + j) {
                        self.event(p, &ev, (keys[j], i + j), (from[j], to[j]), &mut now_sent, BOTH);
                    }
                    if self.hot_changes != at_changes && j + 1 < k {
                        at_changes = self.hot_changes;
                        m = (called | self.hot_mask(&from[..k], &to[..k], (own_u, own_v), j + 1)) & (!0u64 << (j + 1));
                    }
                }
                i += k;
            }
            super::segments::changes(&mut self.sent, now_sent, |_| true)
        } else {
            changed.sort_unstable();
            changed.dedup();
            let rerun = self.again(p, &ev, lo, &changed, &mut now_sent);
            // What an earlier round sent on an event run again, and this one does not: take it back.
            let sends = rerun.iter().filter(|&&k| k & 1 == 0).map(|&k| k >> 1);
            super::segments::changes_among(&mut self.sent, now_sent, sends)
        };
        for m in &mut outbox {
            m.seq = self.exchange.rounds;
        }
        self.exchange.messages += outbox.len() as u64;
        // As serialised: receiver, event, amount, hop, flag, lots (length, then amount and flag each), seq.
        self.exchange.bytes += outbox.iter().map(|m| 65 + 33 * m.lots.len() as u64).sum::<u64>();
        // Once anything may matter here, every later segment is scanned;
        // before, only seed transactions call.
        let next = if self.any_hot {
            (hi < n).then_some(s + 1)
        } else {
            let next_tx = p.seed_tx_events.partition_point(|&e| e < hi);
            p.seed_tx_events.get(next_tx).map(|&e| e >> p.segment_bits).filter(|&t| t > s)
        };
        (outbox, next)
    }

    /// A later round of the segment from `lo`, whose arrivals changed on
    /// the events `changed` (ascending): each such event runs again, and so
    /// does every later event of an address an event run again touched,
    /// from that address's state just before it (its changes since are
    /// taken back). Every other event keeps what it did: its parties' state
    /// and its arrival are what they were. Only the halves whose inputs may
    /// differ run again. Returns the halves run again (as `log` keys),
    /// ascending; their findings replace the earlier rounds'.
    fn again(&mut self, p: &Part, ev: &EventColumns<'_>, lo: u64, changed: &[u64], now_sent: &mut Map<u64, Arrival>) -> Vec<u64> {
        let Some(&e0) = changed.first() else { return Vec::new() };
        let start = self.mine.partition_point(|m| lo + u64::from(m.off) < e0);
        let mine = std::mem::take(&mut self.mine);
        // What the halves before the first change found stays as it is.
        let kept = self.log.partition_point(|x| x.0 < 2 * e0);
        let before = self.log.split_off(kept);
        self.exchange.scanned += (mine.len() - start) as u64;
        let (mut rerun, mut ci) = (Vec::new(), 0);
        let mut ti = p.seed_tx_events.partition_point(|&e| e < e0);
        for &Mine { off, li, u, v, owned: (ou, ov) } in &mine[start..] {
            let (e, j) = (lo + u64::from(off), self.local_lo + li as usize);
            while ci < changed.len() && changed[ci] < e {
                ci += 1;
            }
            let ch = ci < changed.len() && changed[ci] == e;
            let ov = ov && v != u;
            // The fees' pseudo-address absorbs all it gets and sends
            // nothing: what it holds never matters (unless it is a seed),
            // so it is never taken back, else each of its many arrivals
            // would run again. Its undo entries are then never walked.
            let inert = v == p.fees_id && p.fees_inert;
            let (du, dv) = (ou && self.is_dirty(u), ov && !inert && self.is_dirty(v));
            // The send half depends on the sender's state alone; the
            // receive half on the receiver's and on what arrived.
            let send = du;
            let receive = ov && (ch || dv || du);
            if !(send || receive) {
                continue;
            }
            if receive && !dv && !inert {
                self.make_dirty(p, v, e);
            }
            if send {
                rerun.push(2 * e);
            }
            if receive {
                rerun.push(2 * e + 1);
            }
            while ti < p.seed_tx_events.len() && p.seed_tx_events[ti] < e {
                ti += 1;
            }
            let seed_tx = ti < p.seed_tx_events.len() && p.seed_tx_events[ti] == e;
            let want = p.full
                || (send && (seed_tx || bit(&self.hot_send, u)))
                || (receive && (bit(&self.hot_receive, v) || ch || self.inbox.contains_key(&e) || self.local.contains_key(&e)));
            if want && p.counts(ev, j) {
                self.exchange.repeated_visits += 1;
                let halves = if send { SEND } else { 0 } | if receive { RECEIVE } else { 0 };
                self.event(p, ev, (e, j), (u, v), now_sent, halves);
            } else if send {
                // The send half does nothing now: nothing arrives from it.
                self.local.remove(&e);
            }
        }
        self.mine = mine;
        for a in std::mem::take(&mut self.dirty_list) {
            self.dirty[a as usize / 64] &= !(1 << (a % 64));
        }
        // The findings: the earlier rounds' of the events not run again,
        // merged in event order with this round's.
        let fresh = self.log.split_off(kept);
        let mut log = std::mem::take(&mut self.log);
        log.reserve(before.len() + fresh.len());
        let mut fresh = fresh.into_iter().peekable();
        let mut ri = 0;
        for (e, x) in before {
            while ri < rerun.len() && rerun[ri] < e {
                ri += 1;
            }
            if ri < rerun.len() && rerun[ri] == e {
                continue;
            }
            while let Some(f) = fresh.next_if(|f| f.0 < e) {
                log.push(f);
            }
            log.push((e, x));
        }
        log.extend(fresh);
        self.log = log;
        rerun
    }

    /// The events `from..` of a block (senders `us`, receivers `vs`) whose
    /// half this worker runs (`own`: the send halves', the receive halves'
    /// masks) and whose party there has its hot bit, as a mask.
    #[inline]
    fn hot_mask(&self, us: &[u32], vs: &[u32], (own_u, own_v): (u64, u64), from: usize) -> u64 {
        let mut m = 0u64;
        for j in from..us.len() {
            let s = u64::from(bit(&self.hot_send, us[j])) & own_u >> j;
            let r = u64::from(bit(&self.hot_receive, vs[j])) & own_v >> j;
            m |= (s | r) << j;
        }
        m
    }

    /// Event `i`: its send half where this worker owns the sender and it
    /// can matter, then its receive half likewise.
    /// `halves`: [`SEND`], [`RECEIVE`] or both, the halves to run (a later
    /// round may run one alone).
    fn event(
        &mut self,
        p: &Part,
        ev: &EventColumns<'_>,
        (i, iu): (u64, usize),
        (u, v): (u32, u32),
        now_sent: &mut Map<u64, Arrival>,
        halves: u8,
    ) {
        let run_send = halves & SEND != 0;
        // A receive half run alone keeps the event's earlier visit.
        if run_send {
            self.log.push((2 * i, Effect::Visit));
        }
        let (ou, ov) = p.owns_pair(u, v);
        let aw = Wide::from(p.store.value(iu).0);
        let tx = ev.tx(iu);
        let seed_tx = !p.seed_txs.is_empty() && ev.flags(iu) & flags::FEE == 0 && tx != NO_TX && p.seed_txs.contains(&tx);
        let mut here: Option<Sent> = None;
        if run_send && ou && (self.send_hot(p, u) || seed_tx) {
            let lu = self.slot(u);
            let sent = self.send(p, (i, iu), lu, u == v, aw, seed_tx);
            if let Some(sent) = sent {
                if !ov {
                    if !sent.delivered.is_zero() {
                        now_sent.insert(i, sent.message(v, i));
                    }
                } else {
                    here = Some(sent);
                }
            }
            self.mark_hot(p, u);
        }
        if u == v || !ov {
            return;
        }
        if ou && self.keep_undo {
            if run_send {
                match &here {
                    Some(h) => self.local.insert(i, h.clone()),
                    None => self.local.remove(&i),
                };
            } else {
                here = self.local.get(&i).cloned();
            }
        }
        if halves & RECEIVE == 0 {
            return;
        }
        let arrived = if ou { here } else { self.inbox.get(&i).map(Sent::of) };
        let tainted = arrived.as_ref().is_some_and(|a| !a.delivered.is_zero());
        if tainted || self.receive_hot(p, v) {
            let lv = self.slot(v);
            self.receive(p, (i, iu), lv, v, aw, arrived);
            self.mark_hot(p, v);
        }
    }

    /// The send half of event `i` from owned address `lu` (`None`: a
    /// transfer to itself, which only credits a shortfall).
    fn send(&mut self, p: &Part, (i, iu): (u64, usize), lu: u32, to_self: bool, aw: Wide, seed_tx: bool) -> Option<Sent> {
        let full = p.full;
        let policy = p.policy;
        let column = if full {
            None
        } else {
            Some(match p.store.sender_balances().get(iu) {
                u128::MAX => p.store.wide_balance(iu),
                b => b,
            })
        };
        let (mut seeded, mut unknown) = (Wide::ZERO, Wide::ZERO);
        let a = self.touch(lu, i);
        if let Some(b) = column {
            a.bal = Wide::from(b);
            if a.fl & PENDING != 0 {
                a.fl &= !PENDING;
                let held = narrow(a.bal);
                if let Some(q) = a.queue.as_mut() {
                    // Everything but the oldest lot arrived since the queue began.
                    let lot = Lot { amount: held - q.total(), tainted: false };
                    q.push_front(lot);
                }
            }
        }
        let (fl, hop) = (a.fl, a.hop);
        let u_seed = fl & IS_SEED != 0;
        if a.bal < aw {
            let s = aw - a.bal;
            let holds = match policy {
                Policy::Haircut => !a.t.is_zero(),
                Policy::Poison => fl & POISONED != 0,
                Policy::Fifo => fl & HAS_QUEUE != 0,
            };
            if u_seed {
                seeded += s;
                unknown += s;
            } else if holds {
                unknown += s;
            }
            if policy == Policy::Fifo
                && !u_seed
                && fl & HAS_QUEUE != 0
                && let Some(q) = a.queue.as_mut()
            {
                q.push_front(Lot { amount: narrow(s), tainted: false });
            }
            a.bal += s;
        }
        let mut pieces = Vec::new();
        let out = if to_self {
            None
        } else {
            let x: Wide = if u_seed {
                aw
            } else {
                match policy {
                    Policy::Poison if fl & POISONED != 0 => aw,
                    Policy::Poison => Wide::ZERO,
                    Policy::Haircut => Wide::from(haircut(narrow(aw), a.t, a.bal)),
                    Policy::Fifo if fl & HAS_QUEUE != 0 => match a.queue.as_mut() {
                        Some(q) => {
                            q.take(narrow(aw), &mut pieces);
                            let x = pieces.iter().filter(|l| l.tainted).fold(U256::ZERO, |s, l| s + l.amount);
                            if q.is_clean() {
                                a.queue = None;
                                a.fl &= !HAS_QUEUE;
                            }
                            Wide::from(x)
                        }
                        None => Wide::ZERO,
                    },
                    Policy::Fifo => Wide::ZERO,
                }
            };
            a.bal -= aw;
            if policy == Policy::Haircut && !u_seed {
                a.t -= x;
            }
            Some(if seed_tx {
                seeded += aw - x;
                Sent { delivered: narrow(aw), hop: 0, seed_tx, pieces }
            } else {
                Sent { delivered: narrow(x), hop: hop.saturating_add(1), seed_tx, pieces }
            })
        };
        if !seeded.is_zero() {
            self.log.push((2 * i, Effect::Seeded(seeded)));
        }
        if !unknown.is_zero() {
            self.log.push((2 * i, Effect::Unknown(unknown)));
        }
        out
    }

    /// The receive half of event `i` at owned address `lv` (store id `v`).
    fn receive(&mut self, p: &Part, (i, iu): (u64, usize), lv: u32, v: u32, aw: Wide, arrived: Option<Sent>) {
        let Sent { delivered, hop: ev_hop, seed_tx, pieces } =
            arrived.unwrap_or(Sent { delivered: U256::ZERO, hop: u32::MAX, seed_tx: false, pieces: Vec::new() });
        let full = p.full;
        let a = self.touch(lv, i);
        if full || a.fl & IS_SEED != 0 {
            a.bal += aw;
        }
        let (fl, hop) = (a.fl, a.hop);
        let dw = Wide::from(delivered);
        let tainted = Tainted { event: i, x: delivered, hop: ev_hop };
        if fl & IS_SEED != 0 {
            // Every unit a seed receives is tainted; only what arrives clean is new.
            self.log.push((2 * i + 1, Effect::Seeded(aw - dw)));
            if !delivered.is_zero() && p.evidence {
                self.log.push((2 * i + 1, Effect::Tainted(tainted)));
            }
            return;
        }
        let fifo = p.policy == Policy::Fifo;
        if delivered.is_zero() {
            if fifo && let Some(q) = a.queue.as_mut() {
                q.push_back(Lot { amount: narrow(aw), tainted: false });
            }
            return;
        }
        if p.evidence {
            self.log.push((2 * i + 1, Effect::Tainted(tainted)));
        }
        let rule = if fl & HAS_RULE != 0 { stop_at_time(&p.rules, v, p.store.events().time(iu)) } else { None };
        let absorbing = if v == p.fees_id {
            self.log.push((2 * i + 1, Effect::Fees(dw)));
            true
        } else if let Some(rule) = rule {
            self.acct[lv as usize].hop = hop.min(ev_hop);
            let rule = p.rules[&v].iter().position(|r| std::ptr::eq(r, rule)).expect("a rule of v") as u32;
            self.log.push((2 * i + 1, Effect::Absorb { v, rule, x: delivered, hop: ev_hop }));
            true
        } else if fl & HORIZON != 0 || (hop == u32::MAX && p.max_hops.is_some_and(|n| ev_hop >= n)) {
            self.acct[lv as usize].fl |= HORIZON;
            self.log.push((2 * i + 1, Effect::CutOff { v, x: dw, hop: ev_hop }));
            true
        } else {
            false
        };
        let a = &mut self.acct[lv as usize];
        if absorbing {
            if fifo && let Some(q) = a.queue.as_mut() {
                q.push_back(Lot { amount: narrow(aw), tainted: false });
            }
            return;
        }
        a.hop = hop.min(ev_hop);
        match p.policy {
            Policy::Poison => {
                a.fl |= POISONED;
                a.t += dw;
            }
            Policy::Haircut => a.t += dw,
            Policy::Fifo => {
                let lots = if seed_tx || pieces.is_empty() { vec![Lot { amount: narrow(aw), tainted: true }] } else { pieces };
                if a.queue.is_none() {
                    a.queue = Some(Box::new(if full {
                        Queue::with(narrow(a.bal - aw), false)
                    } else {
                        a.fl |= PENDING;
                        Queue::default()
                    }));
                }
                let q = a.queue.as_mut().expect("made above");
                for l in lots {
                    q.push_back(l);
                }
                a.fl |= HAS_QUEUE;
            }
        }
    }
}

/// Whether every sender balance of the store fits the sparse sweep's
/// reading of the balance column (else every balance is kept, as the
/// single-process sweep then does).
pub(crate) fn balances_fit(store: &Store) -> bool {
    let b = store.sender_balances();
    (0..store.len()).all(|i| b.get(i) != u128::MAX || store.wide_balance(i) != u128::MAX)
}

/// The outcome of the account-model trace `spec` of the store at
/// `store_dir`, computed by the workers `w`: every process of a cluster
/// calls this with the same arguments and needs the store (whole).
/// Process 0 gets the outcome, the others `None`.
pub fn trace(store_dir: &std::path::Path, spec: &Spec, w: &Workers) -> Result<Option<Outcome>, DataflowError> {
    trace_in_segments(store_dir, spec, w, SEGMENT_BITS)
}

/// [`trace`] with segments of `2^segment_bits` events (tests use small
/// ones, so that a small store spans many).
pub fn trace_in_segments(
    store_dir: &std::path::Path,
    spec: &Spec,
    w: &Workers,
    segment_bits: u32,
) -> Result<Option<Outcome>, DataflowError> {
    trace_in_blocks(store_dir, spec, w, segment_bits, None, None)
}

/// [`trace_in_segments`] with ownership blocks of `2^owner_bits` ids
/// (`None`: as [`super::owner_bits`] sizes them), so that tests on small
/// stores can own by blocks too, and rounds run as `rounds` says (`None`:
/// `CHAINTRACE_ROUNDS`, else as arrivals come).
pub fn trace_in_blocks(
    store_dir: &std::path::Path,
    spec: &Spec,
    w: &Workers,
    segment_bits: u32,
    owner_bits: Option<u32>,
    rounds: Option<Rounds>,
) -> Result<Option<Outcome>, DataflowError> {
    Ok(sweep_all(store_dir, std::slice::from_ref(spec), w, (segment_bits, owner_bits, rounds), None)?.map(|mut v| v.remove(0)))
}

/// [`trace`] for several questions, one after another on the same
/// connections (a run's processes connect once).
///
/// `paths`: each question's evidence paths a destination, and for how many
/// destinations (the largest, in report order; `None`: all), walked on the
/// workers that hold the events, so that process 0 gathers the paths
/// alone (`Outcome::evidence`) instead of every tainted event; `None`:
/// every tainted event is gathered (`Outcome::tainted`).
///
/// `CHAINTRACE_SEGMENT_BITS` sets the segments' size (2^bits events,
/// [`SEGMENT_BITS`] unless set): every process of a run needs the same.
pub fn trace_many(
    store_dir: &std::path::Path,
    specs: &[Spec],
    w: &Workers,
    paths: Option<&[Walk]>,
) -> Result<Option<Vec<Outcome>>, DataflowError> {
    sweep_all(store_dir, specs, w, (segment_bits()?, None, None), paths)
}

/// Evidence paths a destination, and for how many destinations: the
/// largest, in report order (`None`: all); and the flow's edges the
/// report keeps (0: no flow).
pub type Walk = (usize, Option<usize>, usize);

/// The segments' size: `CHAINTRACE_SEGMENT_BITS`, else [`SEGMENT_BITS`].
pub fn segment_bits() -> Result<u32, DataflowError> {
    segment_bits_or(SEGMENT_BITS)
}

/// The segments' size: `CHAINTRACE_SEGMENT_BITS`, else `default` (a
/// sweep's own size).
pub fn segment_bits_or(default: u32) -> Result<u32, DataflowError> {
    match std::env::var("CHAINTRACE_SEGMENT_BITS") {
        Ok(v) => v.parse().map_err(|_| DataflowError::Unsupported(format!("CHAINTRACE_SEGMENT_BITS={v}: not a number of bits"))),
        Err(_) => Ok(default),
    }
}

/// What a question needs besides its `Spec`, settled before the workers start.
#[derive(Clone)]
struct Settled {
    spec: Spec,
    full: bool,
    warnings: Vec<u32>,
    /// Evidence paths a destination, walked where the events are
    /// (`super::evidence`); `None`: every tainted event is gathered.
    walk: Option<Walk>,
}

/// `fits`: whether the store's balances fit the sparse sweep, worked out
/// (a pass over the store) once for all the questions that need it.
fn settle(read: &Read, spec: &Spec, segment_bits: u32, fits: &std::cell::OnceCell<bool>) -> Result<Settled, DataflowError> {
    let store = &read.store;
    if spec.max_hops == Some(0) {
        return Err(TraceError::Usage("--max-hops must be at least 1".into()).into());
    }
    let windowed = spec.from_block.is_some() || spec.to_block.is_some();
    if windowed && store.manifest.order_by == Some(crate::model::OrderBy::Time) {
        return Err(TraceError::Usage("--from-block/--to-block need block numbers; this store has only block times".into()).into());
    }
    if spec.clusters.is_some() || !store.manifest.chain.is_account() {
        return Err(DataflowError::Unsupported("across processes so far: account-model stores (Ethereum and tokens)".into()));
    }
    if (read.n >> segment_bits) >= 1 << (64 - super::segments::ROUND_BITS) {
        return Err(DataflowError::Unsupported(format!("{} events: more than a timestamp can order", read.n)));
    }
    let fit = || read.info.as_ref().map_or_else(|| balances_fit(store), |i| i.balances_fit);
    let full = windowed || spec.engine == Some(Engine::Full) || !*fits.get_or_init(fit);
    let rules = stop_rules(store, &spec.stop_at, &|a| a)?;
    let mut warnings: Vec<u32> = spec.seeds.iter().copied().filter(|s| rules.contains_key(s)).collect();
    warnings.sort_unstable();
    Ok(Settled { spec: spec.clone(), full, warnings, walk: None })
}

/// One worker's sweep of one question: its findings, gathered at worker 0.
fn sweep_on(
    worker: &mut timely::worker::Worker,
    dir: &std::path::Path,
    q: &Settled,
    (segment_bits, owners, rounds): (u32, Owners, Rounds),
    positions: &super::PositionsOnce,
) -> Result<Vec<Found>, String> {
    let me = worker.index();
    let spec = &q.spec;
    // Each worker maps the store itself: workers share nothing.
    super::net::failpoint_error(me)?;
    let read = Read::open(dir, me / owners.threads()).map_err(|e| super::net::give_up(e.to_string()))?;
    let keys = read.positions(positions).map_err(super::net::give_up)?;
    let part =
        Rc::new(Part::build(read, keys, spec, q.full, segment_bits, me, owners.clone()).map_err(|e| super::net::give_up(e.to_string()))?);
    let state = Rc::new(RefCell::new(State::new(&part, &spec.seeds)));
    // Seeds here: from the first segment; else the first seed transaction, or an arrival.
    let first = if state.borrow().any_hot { Some(0) } else { part.seed_tx_events.first().map(|&e| e >> segment_bits) };
    let (p2, s2) = (part.clone(), state.clone());
    let busy = super::segments::run(
        worker,
        first,
        rounds,
        {
            let owners = owners.clone();
            move |m: &Arrival| owners.of(m.receiver) as u64
        },
        move |seg, msgs| s2.borrow_mut().round(&p2, seg, msgs),
    );
    // The last segment is final; what is left where.
    let found = {
        let mut st = state.borrow_mut();
        st.commit(&part.rules);
        finish(&part, &mut st);
        st.out.exchange = Traffic { busy_ns: busy, ..st.exchange };
        Found::of(&mut st.out)
    };
    let found = match q.walk {
        None => found,
        Some((k, top, edges)) => {
            let mut found = found;
            let (tainted, dests, ends) = found.walk_inputs(top, |id| part.store.address_text(id));
            // The flow of the events this worker logged: each pair's
            // events are all its receiver's owner's.
            let flow = (edges > 0).then(|| {
                let shared: &Part = &part;
                let all = crate::trace::flow::edges(&tainted, |t| {
                    let r = shared.row(t.event);
                    (r.from, r.to, r.tx)
                });
                crate::trace::flow::Flow::keep(all, edges, |id| part.store.address_text(id))
            });
            let seeds: Set<u32> = spec.seeds.iter().copied().collect();
            let seed_txs = part.seed_txs.clone();
            let is_source = move |t: &Tainted, r: &EventRow| {
                crate::trace::evidence::starts_path(t, r.from, r.tx, |a| seeds.contains(&a), |x| seed_txs.contains(&x))
            };
            let p2 = part.clone();
            let ev = part.store.events();
            let rows = (|e| ev.receiver(part.keys.at(e)), move |e| p2.row(e));
            found.with_walk(
                super::evidence::walk(worker, owners.clone(), tainted, (&dests, &ends), k, rows, is_source).map_err(super::net::give_up)?,
                flow,
            )
        }
    };
    let all = super::segments::gather(worker, found);
    Ok(all)
}

/// Sweep every question of `specs` on the workers `w`, on one set of
/// connections. Process 0 gets the outcomes, in order; the others `None`.
fn sweep_all(
    store_dir: &std::path::Path,
    specs: &[Spec],
    w: &Workers,
    (segment_bits, owner_bits, rounds): (u32, Option<u32>, Option<Rounds>),
    paths: Option<&[Walk]>,
) -> Result<Option<Vec<Outcome>>, DataflowError> {
    if !(1..=32).contains(&segment_bits) {
        return Err(DataflowError::Unsupported(format!("segments of 2^{segment_bits} events")));
    }
    let read = Read::open(store_dir, w.process()).map_err(|e| DataflowError::Trace(e.into()))?;
    let fits = std::cell::OnceCell::new();
    let mut settled: Vec<Settled> = specs.iter().map(|s| settle(&read, s, segment_bits, &fits)).collect::<Result<_, _>>()?;
    if let Some(ks) = paths {
        for (q, &k) in settled.iter_mut().zip(ks) {
            q.walk = Some(k);
        }
    }
    // Labels count too: they make the stops.
    if read.info.is_some() && specs.iter().any(|s| s.seeds.contains(&Pseudo::Fees.id())) {
        return Err(DataflowError::Unsupported(
            "a store's parts give each fee to its sender's process alone: trace the fees' pseudo-address as a seed from the whole store"
                .into(),
        ));
    }
    let identity = read.identity();
    let owners = read.owners(w, owner_bits)?;
    drop(read);
    let questions: Vec<String> = settled.iter().map(|q| format!("{:?} {} {:?}", q.spec, q.full, q.walk)).collect();
    // Arrivals run as they come: a segment's rounds wait for no one (the
    // default; `CHAINTRACE_ROUNDS=barrier` for the benches' comparison).
    let rounds = match rounds {
        Some(r) => r,
        None => Rounds::from_env(Rounds::Eager)?,
    };
    let key = super::net::key_of(&format!("account {identity} {segment_bits} {owners:?} {rounds:?} {questions:?}"));
    let dir = store_dir.to_path_buf();
    let all = settled.clone();
    let positions = super::PositionsOnce::default();
    let results = super::net::execute(w, key, move |worker| {
        all.iter()
            .map(|q| sweep_on(worker, &dir, q, (segment_bits, owners.clone(), rounds), &positions))
            .collect::<Result<Vec<Vec<Found>>, String>>()
    })?;
    super::found::outcomes(results, settled.into_iter().map(|q| q.warnings).collect(), w.is_first())
}

/// What the owned addresses hold at the end: the seeds' holdings and the
/// dormant rows.
fn finish(p: &Part, st: &mut State) {
    let mut dormant = Vec::new();
    let mut held = Wide::ZERO;
    let mut poisoned = Vec::new();
    for (l, a) in st.acct.iter().enumerate() {
        let id = st.ids[l];
        if a.fl & IS_SEED != 0 {
            held += a.bal;
            continue;
        }
        match p.policy {
            Policy::Haircut if !a.t.is_zero() => dormant.push((id, (a.t, a.hop))),
            Policy::Fifo => {
                if let Some(q) = &a.queue {
                    let t = q.tainted();
                    if !t.is_zero() {
                        dormant.push((id, (Wide::from(t), a.hop)));
                    }
                }
            }
            Policy::Poison if !a.t.is_zero() => {
                if p.full {
                    if !a.bal.is_zero() {
                        dormant.push((id, (a.t, a.hop)));
                    }
                } else {
                    poisoned.push(id);
                }
            }
            _ => {}
        }
    }
    if !poisoned.is_empty() {
        poisoned.sort_unstable();
        // A balance that does not fit is not zero either.
        let finals = p.store.final_balances(p.asset, &poisoned);
        for (k, &id) in poisoned.iter().enumerate() {
            if finals[k] != 0 {
                let a = &st.acct[st.slot[id as usize] as usize];
                dormant.push((id, (a.t, a.hop)));
            }
        }
    }
    st.out.held_by_seeds += held;
    st.out.dormant.extend(dormant);
}
