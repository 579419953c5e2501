//! The loop the ordered sweeps run (`account`, `utxo`, `exposure`):
//! segments of key order as timely's time, rounds within a segment, and
//! the gathering of the workers' findings at worker 0.
//!
//! A timestamp is `(segment, round)` in one `u64` (rounds in the low
//! [`ROUND_BITS`]), so the order is total: every round of a segment comes
//! before the next segment. A worker holds a capability for the next
//! segment it has work in (the driver) and runs it when the frontier shows
//! that every earlier arrival is in. Within a segment, arrivals at
//! `(segment, round)` run once every arrival of that time is in
//! ([`Rounds::Barrier`]), or as they come ([`Rounds::Eager`]). What a
//! round sends goes through the loop's feedback to the next round.

use super::Map;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use timely::ExchangeData;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::{Capability, ConnectLoop, Feedback, Operator, ToStream};
use timely::worker::Worker;

/// Bits of a timestamp that count rounds within a segment.
pub(crate) const ROUND_BITS: u32 = 24;

/// The events of segment `s` of `2^bits` events, of `n` in all.
pub(crate) fn span(s: u64, bits: u32, n: u64) -> (u64, u64) {
    (s << bits, ((s + 1) << bits).min(n))
}

/// How a worker takes the arrivals of the segment it is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rounds {
    /// Round by round: the arrivals at `(segment, round)` run once every
    /// arrival of that time is in, so each round waits for every worker.
    Barrier,
    /// As they come: once a worker has run a segment's first round, it
    /// runs each later arrival of that segment when it comes, without
    /// waiting for the round to close. Only a segment's start waits, for
    /// every earlier segment to end. A round's outcome must depend on the
    /// latest arrival about each key alone, never on which arrivals came
    /// together, so the fixed point is the same: each event is final once
    /// the arrivals it depends on are, and those come from events with
    /// smaller keys. Which arrival is the latest, the messages must say
    /// themselves: a worker that runs arrivals as they come can send about
    /// a key at an earlier time than before, and across processes timely
    /// delivered such messages out of the order sent (seen at three
    /// processes), so a sender numbers what it sends.
    Eager,
}

impl Rounds {
    /// `CHAINTRACE_ROUNDS` (`barrier` or `eager`), else `default`: the
    /// benches compare the two.
    pub(crate) fn from_env(default: Rounds) -> Result<Rounds, super::DataflowError> {
        match std::env::var("CHAINTRACE_ROUNDS").as_deref() {
            Err(_) => Ok(default),
            Ok("barrier") => Ok(Rounds::Barrier),
            Ok("eager") => Ok(Rounds::Eager),
            Ok(v) => Err(super::DataflowError::Unsupported(format!("CHAINTRACE_ROUNDS={v}: not barrier or eager"))),
        }
    }
}

/// Run segments on this worker until no worker has any left: from segment
/// `first` (`None`: only when an arrival comes), each message to the
/// worker `route` names; `round(segment, arrivals)` returns what to send
/// and the next segment this worker has work in. Returns the time spent
/// inside `round`, in nanoseconds.
pub(crate) fn run<M, R>(worker: &mut Worker, first: Option<u64>, rounds: Rounds, route: impl Fn(&M) -> u64 + 'static, mut round: R) -> u64
where
    M: ExchangeData + Clone,
    R: FnMut(u64, Vec<M>) -> (Vec<M>, Option<u64>) + 'static,
{
    let index = worker.index();
    let busy = Rc::new(std::cell::Cell::new(0u64));
    let busy2 = busy.clone();
    let eager = rounds == Rounds::Eager;
    worker.dataflow::<u64, _, _>(move |scope| {
        let (handle, cycle) = scope.feedback::<Vec<M>>(1);
        let sent = cycle.unary_frontier(Exchange::new(route), "segments", move |cap, _| {
            let mut driver: Option<Capability<u64>> = first.map(|s| cap.delayed(&(s << ROUND_BITS)));
            drop(cap);
            // Arrivals not run yet, by time (eager: by segment, at the
            // latest time among them, so that a segment starts with all of
            // its arrivals so far).
            let mut pending: BTreeMap<u64, (Capability<u64>, Vec<M>)> = BTreeMap::new();
            // The segment whose first round this worker has run (eager only).
            let mut cur: Option<u64> = None;
            move |(input, frontier), output| {
                // Eager: the arrivals of the segment under way, to run now.
                let mut now: Option<(Capability<u64>, Vec<M>)> = None;
                input.for_each_stamp(|c, data| {
                    let Some(c) = c.retain_least(output.output_index()) else { return };
                    let t = *c.time();
                    let seg_start = t >> ROUND_BITS << ROUND_BITS;
                    let e = if eager && cur == Some(t >> ROUND_BITS) {
                        now.get_or_insert_with(|| (c.clone(), Vec::new()))
                    } else {
                        pending.entry(if eager { seg_start } else { t }).or_insert_with(|| (c.clone(), Vec::new()))
                    };
                    if *e.0.time() < t {
                        e.0 = c;
                    }
                    for d in data {
                        e.1.append(d);
                    }
                });
                loop {
                    let job = if let Some(j) = now.take() {
                        j
                    } else {
                        let t_msg = pending.keys().next().copied();
                        let t_drv = driver.as_ref().map(|c| *c.time());
                        let Some(t) = t_msg.into_iter().chain(t_drv).min() else { break };
                        if !eager {
                            if frontier.less_equal(&t) {
                                break;
                            }
                            if t_msg == Some(t) {
                                pending.remove(&t).expect("listed")
                            } else {
                                (driver.take().expect("listed"), Vec::new())
                            }
                        } else {
                            // A segment starts once every earlier one has ended,
                            // with all its arrivals so far.
                            let seg = t >> ROUND_BITS;
                            if frontier.less_than(&(seg << ROUND_BITS)) {
                                break;
                            }
                            cur = Some(seg);
                            // The driver is at the segment's start, before its arrivals.
                            let d = driver.take_if(|d| *d.time() == t);
                            match pending.remove(&t) {
                                Some(j) => j,
                                None => (d.expect("the least time listed"), Vec::new()),
                            }
                        }
                    };
                    let (c, msgs) = job;
                    let t = *c.time();
                    let (seg, r) = (t >> ROUND_BITS, t & ((1 << ROUND_BITS) - 1));
                    if r + 1 >= 1 << ROUND_BITS {
                        panic!("segment {seg}: more rounds than a timestamp can count");
                    }
                    super::net::failpoint(index);
                    let started = std::time::Instant::now();
                    let (outbox, next) = round(seg, msgs);
                    busy2.set(busy2.get() + started.elapsed().as_nanos() as u64);
                    if !outbox.is_empty() {
                        let mut session = output.session(&c);
                        for m in outbox {
                            session.give(m);
                        }
                    }
                    if let Some(ns) = next {
                        let tn = ns << ROUND_BITS;
                        if driver.as_ref().is_none_or(|d| *d.time() > tn) {
                            driver = Some(c.delayed(&tn));
                        }
                    }
                }
            }
        });
        sent.connect_loop(handle);
    });
    super::net::drive(worker);
    busy.get()
}

/// Every worker's `found` at worker 0 (the others get none).
pub(crate) fn gather<T: ExchangeData + Clone>(worker: &mut Worker, found: T) -> Vec<T> {
    let gathered: Rc<RefCell<Vec<T>>> = Rc::new(RefCell::new(Vec::new()));
    let g2 = gathered.clone();
    worker.dataflow::<u64, _, _>(move |scope| {
        vec![found].to_stream(scope).container::<Vec<_>>().sink(Exchange::new(|_: &T| 0), "gather", move |(input, _)| {
            input.for_each(|_, data| g2.borrow_mut().append(data));
        });
    });
    super::net::drive(worker);
    std::mem::take(&mut *gathered.borrow_mut())
}

/// A message a round sends, keyed by what it is about (an event, an
/// output), that can take back what an earlier round's message carried.
pub(crate) trait Message: Clone + PartialEq {
    /// What the message is about.
    type Key: Ord + Copy + std::hash::Hash + Eq;
    fn key(&self) -> Self::Key;
    /// Whether it carries anything (a taken-back message does not).
    fn carries(&self) -> bool;
    /// Make it take back what it carried.
    fn retract(&mut self);
}

/// What a round sends: each message of `now` that differs from what an
/// earlier round of the segment sent about its key, and each earlier
/// message about a key this round ran again (`rerun`) that carried
/// something and has no successor in `now`, taken back. `sent` becomes
/// what was last sent. In key order.
pub(crate) fn changes<M: Message>(sent: &mut Map<M::Key, M>, now: Map<M::Key, M>, rerun: impl Fn(&M::Key) -> bool) -> Vec<M> {
    let again: Vec<M::Key> = sent.keys().filter(|k| rerun(k)).copied().collect();
    changes_among(sent, now, again)
}

/// [`changes`] where the keys run again are listed (each at most once),
/// so that a round that ran few looks at those alone.
pub(crate) fn changes_among<M: Message>(sent: &mut Map<M::Key, M>, now: Map<M::Key, M>, again: impl IntoIterator<Item = M::Key>) -> Vec<M> {
    let mut out = Vec::new();
    for k in again {
        if let Some(m) = sent.get_mut(&k)
            && m.carries()
            && !now.contains_key(&k)
        {
            m.retract();
            out.push(m.clone());
        }
    }
    for (k, m) in now {
        if sent.get(&k) != Some(&m) {
            sent.insert(k, m.clone());
            out.push(m);
        }
    }
    out.sort_unstable_by_key(|m| m.key());
    out
}
