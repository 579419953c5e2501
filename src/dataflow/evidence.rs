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
    step: u32,
    before: u64,
    sender: u32,
}

/// A step found: destination, path rank, steps from the path's end, the
/// event and its row.
pub(crate) type Step = (u32, u32, u32, Tainted, EventRow);

/// Walk the paths of this worker's destinations `dests` (each with its
/// first absorbed arrival), up to `k` each, over every worker's
/// `tainted` (this worker's: the events whose receive half it ran);
/// `receiver` and `row` read an event this worker holds, `is_source` says where a walk
/// ends. Every worker calls this, with its own. Returns the steps this
/// worker found, and each destination's first arrival's block and time.
pub(crate) fn walk(
    worker: &mut Worker,
    owners: Owners,
    tainted: Vec<Tainted>,
    dests: &[(u32, u64)],
    k: usize,
    (receiver, row): (impl Fn(u64) -> u32, impl Fn(u64) -> EventRow + 'static),
    is_source: impl Fn(&Tainted, &EventRow) -> bool + 'static,
) -> (Vec<Step>, Vec<(u32, u64, i64)>) {
    let firsts: Vec<(u32, u64, i64)> = dests
        .iter()
        .map(|&(d, e)| {
            let r = row(e);
            (d, r.block, r.time)
        })
        .collect();
    // By receiver, each one's in event order, moved in place: on a large
    // trace the tainted events are most of a worker's heap.
    let mut tainted = tainted;
    let mut by_to: IdMap<(usize, usize)> = IdMap::default();
    if k > 0 {
        // Read in event order, as the events lie.
        let to: Vec<u32> = tainted.iter().map(|t| receiver(t.event)).collect();
        // Position k takes event order[k]: by receiver, then event.
        let mut order: Vec<usize> = (0..tainted.len()).collect();
        order.sort_unstable_by_key(|&i| (to[i], i));
        let mut at = 0;
        while at < order.len() {
            let r = to[order[at]];
            let end = at + order[at..].partition_point(|&i| to[i] == r);
            by_to.insert(r, (at, end));
            at = end;
        }
        permute(&mut tainted, order);
    } else {
        tainted = Vec::new();
    }
    let arrivals = Arrivals { tainted, by_to };
    let found: Rc<RefCell<Vec<Step>>> = Rc::new(RefCell::new(Vec::new()));
    // The paths' ends: a destination's largest arrivals, as the report picks them.
    let mut first = Vec::new();
    for &(dest, _) in dests {
        let Some(at) = arrivals.at(dest) else { continue };
        let mut last: Vec<&Tainted> = at.iter().collect();
        last.sort_by(|a, b| b.x.cmp(&a.x).then(a.event.cmp(&b.event)));
        for (rank, &end) in last.iter().take(k).enumerate() {
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
            let prev = arrivals
                .at(a.sender)
                .and_then(|v| v.iter().filter(|t| t.event < a.before).max_by(|x, y| x.x.cmp(&y.x).then(y.event.cmp(&x.event))));
            let Some(p) = prev else { continue };
            let r = row(p.event);
            f2.borrow_mut().push((a.dest, a.rank, a.step, *p, r));
            if !is_source(p, &r) {
                next.push(Ask { step: a.step + 1, before: p.event, sender: r.from, ..a });
            }
        }
        next
    };
    relay(worker, first, move |a: &Ask| owners.of(a.sender) as u64, step);
    let steps = std::mem::take(&mut *found.borrow_mut());
    (steps, firsts)
}

/// Put `order[k]`'s element at `k`, for every `k`, in place (the
/// cycles of the permutation followed one by one).
fn permute<T: Copy>(v: &mut [T], mut order: Vec<usize>) {
    for start in 0..v.len() {
        if order[start] == start {
            continue;
        }
        let held = v[start];
        let mut k = start;
        loop {
            let from = order[k];
            order[k] = k;
            if from == start {
                v[k] = held;
                break;
            }
            v[k] = v[from];
            k = from;
        }
    }
}

/// A worker's tainted events by receiver.
struct Arrivals {
    /// By receiver, then event.
    tainted: Vec<Tainted>,
    /// Receiver -> its range in `tainted`.
    by_to: IdMap<(usize, usize)>,
}

impl Arrivals {
    /// The tainted events `to` received, in event order.
    fn at(&self, to: u32) -> Option<&[Tainted]> {
        self.by_to.get(&to).map(|&(s, e)| &self.tainted[s..e])
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
    fn permute_puts_each_element_where_the_order_says() {
        let mut rng = crate::synth::Rng::new(5);
        for n in [0usize, 1, 2, 7, 100] {
            let v: Vec<u64> = (0..n as u64).map(|_| rng.below(1000)).collect();
            let mut order: Vec<usize> = (0..n).collect();
            for i in (1..n).rev() {
                order.swap(i, rng.below(i as u64 + 1) as usize);
            }
            let want: Vec<u64> = order.iter().map(|&i| v[i]).collect();
            let mut got = v.clone();
            super::permute(&mut got, order);
            assert_eq!(got, want);
        }
    }
}
