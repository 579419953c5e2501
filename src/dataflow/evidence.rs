//! Evidence paths (TRACING.md §5) walked on the workers that hold the
//! events, so that process 0 gathers the paths alone: neither every
//! tainted event (most of a large trace's heap) nor the whole store (a
//! run of parts gives process 0 its own part only).
//!
//! The walk is the report's (`trace::evidence::Index::paths_with`), cut
//! where it changes hands. A tainted event is logged by the worker that
//! runs its receive half, the receiver's owner, which holds the event in
//! what it reads; so each worker indexes its own tainted events by
//! receiver, and every address's arrivals are with its owner. A
//! destination's owner picks the arrivals its paths end in; each step
//! back, to the sender's largest earlier tainted arrival, is asked of the
//! sender's owner, which reads that event's row and asks on. The fees'
//! pseudo-address, whose arrivals several workers log, sends nothing, so
//! no step is asked of it.

use super::Owners;
use crate::trace::evidence::radix_by_high_half;
use crate::trace::{EventRow, Evidence, IdMap, Tainted};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::{ConnectLoop, Feedback, Operator};
use timely::worker::Worker;

/// A step of a walk on its way to `sender`'s owner: step `step` of
/// destination `dest`'s path `rank` is `sender`'s largest tainted arrival
/// before event `before`.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
struct Ask {
    dest: u32,
    rank: u32,
    /// Wide enough for any path: each step goes back to an earlier event.
    step: u64,
    before: u64,
    sender: u32,
}

/// A step found: destination, path rank, steps from the path's end, the
/// event and its row.
pub(crate) type Step = (u32, u32, u64, Tainted, EventRow);

/// What a worker's walk found: its steps, and its destinations' first
/// arrivals' block and time.
pub(crate) type Walked = (Vec<Step>, Vec<(u32, u64, i64)>);

/// Walk the paths of this worker's destinations `ends`, up to `k` each
/// (of `dests`, each with its first absorbed arrival), over every worker's
/// `tainted` (this worker's: the events whose receive half it ran).
/// `receiver` and `row` read an event this worker holds; `is_source`
/// says where a walk ends. Every worker calls this, with its own. Returns
/// the steps this worker found, and each destination's first arrival's
/// block and time.
pub(crate) fn walk(
    worker: &mut Worker,
    owners: Owners,
    tainted: Vec<Tainted>,
    (dests, ends): (&[(u32, u64)], &[u32]),
    k: usize,
    (receiver, row): (impl Fn(u64) -> u32, impl Fn(u64) -> EventRow + 'static),
    is_source: impl Fn(&Tainted, &EventRow) -> bool + 'static,
) -> Result<Walked, String> {
    let firsts: Vec<(u32, u64, i64)> = dests
        .iter()
        .map(|&(d, e)| {
            let r = row(e);
            (d, r.block, r.time)
        })
        .collect();
    // Its arrivals are logged by every sender's owner, so no one worker
    // could pick its paths' ends. Labels cannot name it, so it is never a
    // stop; should that change, this says so rather than miss its paths.
    if dests.iter().any(|&(d, _)| d == crate::model::Pseudo::Fees.id()) {
        return Err("the fees' pseudo-address is a destination: trace it on one process".into());
    }
    let count = tainted.len();
    let mut arrivals = Arrivals::new(if k > 0 { tainted } else { Vec::new() }, receiver).ok_or_else(|| {
        format!("a worker logged {count} tainted events, more than evidence paths index (2^32): run more workers, or --paths 0")
    })?;
    let found: Rc<RefCell<Vec<Step>>> = Rc::new(RefCell::new(Vec::new()));
    // The paths' ends: a destination's largest arrivals, as the report picks them.
    let mut first = Vec::new();
    for &dest in ends {
        let Some(at) = arrivals.at(dest) else { continue };
        let mut last: Vec<&Tainted> = at.collect();
        let order = |a: &&Tainted, b: &&Tainted| b.x.cmp(&a.x).then(a.event.cmp(&b.event));
        // An exchange can take most of the tainted events: its `k` largest
        // picked out first (the order is total, events being distinct).
        if last.len() > k {
            last.select_nth_unstable_by(k, order);
            last.truncate(k);
        }
        last.sort_by(order);
        for (rank, &end) in last.iter().enumerate() {
            let r = row(end.event);
            let rank = rank as u32;
            found.borrow_mut().push((dest, rank, 0, *end, r));
            if !is_source(end, &r) {
                first.push(Ask { dest, rank, step: 1, before: end.event, sender: r.from });
            }
        }
    }
    let f2 = found.clone();
    let step = move |asks: &mut Vec<Ask>| -> Vec<Ask> {
        let mut next = Vec::new();
        for a in asks.drain(..) {
            // As the report walks: the largest, then the earliest.
            let prev = arrivals.largest_before(a.sender, a.before);
            let Some(p) = prev else { continue };
            let r = row(p.event);
            f2.borrow_mut().push((a.dest, a.rank, a.step, p, r));
            if !is_source(&p, &r) {
                next.push(Ask { step: a.step + 1, before: p.event, sender: r.from, ..a });
            }
        }
        next
    };
    relay(worker, first, move |a: &Ask| owners.of(a.sender) as u64, step);
    let steps = std::mem::take(&mut *found.borrow_mut());
    Ok((steps, firsts))
}

/// A worker's tainted events by receiver.
struct Arrivals {
    /// In event order.
    tainted: Vec<Tainted>,
    /// Receiver (high half) and place in `tainted` (low half), by receiver then event.
    keys: Vec<u64>,
    /// Receiver -> its range in `keys`.
    by_to: IdMap<(usize, usize)>,
    /// For a receiver a step back asked about, and each of its arrivals,
    /// the place in `keys` of its largest arrival so far (the earliest of
    /// equals): a step back asks for the largest before an event, a hub
    /// has many, and paths pass hubs again and again. Worked out when first
    /// asked: the receivers asked about are few, and a pass over all of
    /// them would read every tainted event out of order.
    best: IdMap<Vec<u32>>,
}

impl Arrivals {
    /// Index `tainted` (event order) by receiver, `receiver` reading each
    /// one's; `None` past 2^32 of them. A key holds a receiver in its high
    /// half and a place in `tainted` in its low, sorted by a stable radix
    /// sort of the receivers. The tainted events stay where they are: on a
    /// large trace they are most of a worker's heap, and moving them costs
    /// two cache misses each.
    fn new(tainted: Vec<Tainted>, receiver: impl Fn(u64) -> u32) -> Option<Arrivals> {
        let n = u32::try_from(tainted.len()).ok()?;
        let mut keys: Vec<u64> = tainted.iter().zip(0..n).map(|(t, i)| u64::from(receiver(t.event)) << 32 | u64::from(i)).collect();
        radix_by_high_half(&mut keys);
        let mut by_to: IdMap<(usize, usize)> = IdMap::default();
        let mut at = 0;
        while at < keys.len() {
            let r = keys[at] >> 32;
            let end = at + keys[at..].partition_point(|&x| x >> 32 == r);
            by_to.insert(r as u32, (at, end));
            at = end;
        }
        Some(Arrivals { tainted, keys, by_to, best: IdMap::default() })
    }

    /// The event at place `k` of `keys`.
    fn get(&self, k: usize) -> &Tainted {
        &self.tainted[self.keys[k] as u32 as usize]
    }

    /// The tainted events `to` received, in event order.
    fn at(&self, to: u32) -> Option<impl Iterator<Item = &Tainted> + Clone> {
        self.by_to.get(&to).map(|&(s, e)| (s..e).map(|k| self.get(k)))
    }

    /// `to`'s largest tainted arrival before event `before`, the earliest
    /// of equals: the report's step back.
    fn largest_before(&mut self, to: u32, before: u64) -> Option<Tainted> {
        let &(s, e) = self.by_to.get(&to)?;
        if !self.best.contains_key(&to) {
            let mut b = s;
            let mut best = Vec::with_capacity(e - s);
            for k in s..e {
                // Strictly larger: of equals, the earliest stays.
                if self.get(k).x > self.get(b).x {
                    b = k;
                }
                best.push(b as u32);
            }
            self.best.insert(to, best);
        }
        // The first place at or after `before` (events ascend in a range).
        let (mut lo, mut hi) = (s, e);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.get(mid).event < before {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        (lo > s).then(|| *self.get(self.best[&to][lo - 1 - s] as usize))
    }
}

/// Messages passed from worker to worker until none is left: `first`
/// from this worker, each to the worker `route` names, where `step`
/// turns what arrives into what to send on.
fn relay<M>(worker: &mut Worker, first: Vec<M>, route: impl Fn(&M) -> u64 + 'static, mut step: impl FnMut(&mut Vec<M>) -> Vec<M> + 'static)
where
    M: timely::ExchangeData + Clone,
{
    worker.dataflow::<u64, _, _>(move |scope| {
        let (handle, cycle) = scope.feedback::<Vec<M>>(1);
        let sent = cycle.unary_frontier(Exchange::new(route), "relay", move |cap, _| {
            let mut start = Some((cap, first));
            move |(input, _), output| {
                if let Some((cap, first)) = start.take()
                    && !first.is_empty()
                {
                    let mut session = output.session(&cap);
                    for m in first {
                        session.give(m);
                    }
                }
                input.for_each(|c, data| {
                    let next = step(data);
                    if next.is_empty() {
                        return;
                    }
                    let Some(c) = c.retain_least(output.output_index()) else { return };
                    let mut session = output.session(&c);
                    for m in next {
                        session.give(m);
                    }
                });
            }
        });
        sent.connect_loop(handle);
    });
    super::net::drive(worker);
}

/// The paths of every worker's steps, each from its source on.
pub(crate) fn assemble(mut steps: Vec<Step>, firsts: Vec<(u32, u64, i64)>) -> Evidence {
    // From the source on: the walk went back from the end.
    steps.sort_unstable_by_key(|&(dest, rank, step, ..)| (dest, rank, std::cmp::Reverse(step)));
    let mut paths: BTreeMap<u32, Vec<Vec<(Tainted, EventRow)>>> = BTreeMap::new();
    let mut at = None;
    for (dest, rank, _, t, r) in steps {
        let of = paths.entry(dest).or_default();
        if at != Some((dest, rank)) {
            at = Some((dest, rank));
            of.push(Vec::new());
        }
        of.last_mut().expect("pushed").push((t, r));
    }
    Evidence { paths, first: firsts.into_iter().map(|(d, b, t)| (d, (b, t))).collect() }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_radix_sort_orders_by_the_high_half_and_keeps_ties_in_place() {
        let mut rng = crate::synth::Rng::new(5);
        for (n, span) in [(0usize, 1u64), (1, 1), (7, 3), (1000, 50), (5000, 1 << 32)] {
            let mut keys: Vec<u64> = (0..n as u64).map(|i| rng.below(span) << 32 | i).collect();
            let mut want = keys.clone();
            want.sort_by_key(|x| x >> 32);
            super::radix_by_high_half(&mut keys);
            assert_eq!(keys, want, "{n} keys below {span}");
        }
    }
}
