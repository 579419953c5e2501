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
use crate::trace::evidence::Index;
use crate::trace::{EventRow, Evidence, Tainted};
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
    if u32::try_from(count).is_err() {
        return Err(format!(
            "a worker logged {count} tainted events, more than evidence paths index (2^32): run more workers, or --paths 0"
        ));
    }
    // The report's index (an owned copy of nothing: the events move in).
    let arrivals = Index::by(std::borrow::Cow::Owned(if k > 0 { tainted } else { Vec::new() }), |t| receiver(t.event));
    let found: Rc<RefCell<Vec<Step>>> = Rc::new(RefCell::new(Vec::new()));
    // The paths' ends: a destination's largest arrivals, as the report picks them.
    let mut first = Vec::new();
    for &dest in ends {
        for (rank, &end) in arrivals.ends(dest, k).iter().enumerate() {
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
            let Some(&p) = arrivals.largest_before(a.sender, a.before) else { continue };
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
