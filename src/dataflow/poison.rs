//! Poison over the account model on timely-dataflow (TRACING.md §2): which
//! events carry taint from address seeds, and at which hop.
//!
//! An event `u -> v` carries taint when `u` is a seed or received taint
//! at an earlier key, at a hop one more than the smallest hop of `u`'s
//! tainted arrivals before it (a seed's is 0). So what matters of an
//! address is the staircase of its arrivals: key ascending, hop
//! descending (a later arrival matters only with a smaller hop). The
//! tainted events and their hops are the least fixed point of that rule,
//! and any order of relaxation reaches it:
//! - Each worker keeps the staircase of the addresses it owns, and the hop
//!   each of their events has been sent with.
//! - An arrival that improves a staircase improves the hops of the events
//!   after it, up to the next arrival with a hop as small; the worker
//!   sends those arrivals on to their receivers' owners.
//! - Hops only fall, so an event is sent once per improvement (at most its
//!   hop count of times), and the loop ends when no message is in flight:
//!   timely's progress tracking says when. No global order is kept.
//!
//! Not yet here (the single-process sweep has them): stops and the
//! horizon (which break monotony: they need order), windows, seed
//! transactions, balances and the report. This sweep answers which events
//! a poison trace from address seeds without stops taints, at which hop,
//! and is held equal to the single-process sweep on that.

use super::{DataflowError, Workers, owner};
use crate::model::flags;
use crate::store::Store;
use std::cell::RefCell;
use std::rc::Rc;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::{Concat, ConnectLoop, Feedback, Operator, ToStream};

/// An arrival's key, encoded: `0` from the start (a seed), `i + 1` from
/// event `i` (it reaches the events after `i`).
type Key = u64;

/// What an owned address knows of its taint: the arrivals that matter
/// (key ascending, hop descending: a later arrival matters only with a
/// smaller hop), and the hop each event it sends carries (`u32::MAX`:
/// untainted so far).
#[derive(Default)]
struct Owned {
    front: Vec<(Key, u32)>,
    sent: Vec<u32>,
}

/// The events a poison trace of `asset` from `seeds` (address ids) taints,
/// with the hop each carries, ascending by event, computed by the workers
/// `w`; every process of a cluster needs the store (whole). Process 0
/// returns the list; the others return an empty one.
pub fn tainted_events(store_dir: &std::path::Path, asset: u32, seeds: &[u32], w: &Workers) -> Result<Vec<(u64, u32)>, DataflowError> {
    let dir = store_dir.to_path_buf();
    let seeds = seeds.to_vec();
    let guards = timely::execute(w.config(), move |worker| {
        let (index, peers) = (worker.index(), worker.peers());
        // Each worker maps the store itself: workers share nothing.
        let store = Store::open(&dir).map_err(|e| e.to_string())?;
        let ev = store.events();
        let n_addr = store.address_count();
        // The events the owned addresses send, by sender: (event, receiver).
        let mut out: Vec<Vec<(u64, u32)>> = vec![Vec::new(); n_addr];
        for i in 0..store.len() {
            if ev.asset(i) != asset || ev.flags(i) & flags::MOVES_NOTHING != 0 || ev.value.get(i) == 0 {
                continue;
            }
            let (u, v) = (ev.sender(i), ev.receiver(i));
            if u != v && owner(u, peers) == index {
                out[u as usize].push((i as u64, v));
            }
        }
        let state: Rc<RefCell<Vec<Owned>>> = Rc::new(RefCell::new((0..n_addr).map(|_| Owned::default()).collect()));
        let gathered: Rc<RefCell<Vec<(u64, u32)>>> = Rc::new(RefCell::new(Vec::new()));
        let (state2, gathered2) = (state.clone(), gathered.clone());
        let out = Rc::new(out);
        let out2 = out.clone();
        let initial: Vec<(u32, Key, u32)> = if index == 0 { seeds.iter().map(|&s| (s, 0, 0)).collect() } else { Vec::new() };
        worker.dataflow::<u64, _, _>(move |scope| {
            let (handle, cycle) = scope.feedback::<Vec<(u32, Key, u32)>>(1);
            let arrivals = initial.to_stream(scope).container::<Vec<_>>().concat(cycle);
            let sent =
                arrivals.unary(Exchange::new(move |x: &(u32, Key, u32)| owner(x.0, peers) as u64), "earliest arrival", move |_, _| {
                    move |input, output| {
                        input.for_each(|time, data| {
                            let mut session = output.session(&time);
                            let mut state = state2.borrow_mut();
                            for &(v, k, h) in data.iter() {
                                let o = &mut state[v as usize];
                                // Applies to the events at keys >= k; no news if an
                                // arrival as early has as small a hop.
                                if o.front.iter().any(|&(k2, h2)| k2 <= k && h2 <= h) {
                                    continue;
                                }
                                o.front.retain(|&(k2, h2)| !(k2 >= k && h2 >= h));
                                let at = o.front.partition_point(|f| f.0 < k);
                                o.front.insert(at, (k, h));
                                // Better for the events from k up to the next arrival with a hop <= h.
                                let until = o.front[at + 1..].iter().find(|f| f.1 <= h).map_or(Key::MAX, |f| f.0);
                                let evs = &out2[v as usize];
                                if o.sent.is_empty() && !evs.is_empty() {
                                    o.sent = vec![u32::MAX; evs.len()];
                                }
                                let (lo, hi) = (evs.partition_point(|e| e.0 < k), evs.partition_point(|e| e.0 < until));
                                for (n, &(i, r)) in evs.iter().enumerate().take(hi).skip(lo) {
                                    let hop = h.saturating_add(1);
                                    if hop < o.sent[n] {
                                        o.sent[n] = hop;
                                        session.give((r, i + 1, hop));
                                    }
                                }
                            }
                        });
                    }
                });
            sent.connect_loop(handle);
        });
        while worker.step_or_park(None) {}
        // Gather every worker's tainted events at worker 0.
        let mine: Vec<(u64, u32)> = state
            .borrow()
            .iter()
            .zip(out.iter())
            .flat_map(|(o, evs)| o.sent.iter().zip(evs).filter(|(h, _)| **h != u32::MAX).map(|(&h, e)| (e.0, h)))
            .collect();
        worker.dataflow::<u64, _, _>(move |scope| {
            mine.to_stream(scope).container::<Vec<_>>().sink(Exchange::new(|_: &(u64, u32)| 0), "gather", move |(input, _)| {
                input.for_each(|_, data| gathered2.borrow_mut().extend(data.iter().copied()));
            });
        });
        while worker.step_or_park(None) {}
        let mut all = std::mem::take(&mut *gathered.borrow_mut());
        all.sort_unstable();
        Ok::<Vec<(u64, u32)>, String>(all)
    })
    .map_err(DataflowError::Start)?;
    let mut first = None;
    for (k, r) in guards.join().into_iter().enumerate() {
        let r = r.map_err(DataflowError::Worker)?.map_err(DataflowError::Worker)?;
        if k == 0 {
            first = Some(r);
        }
    }
    let is_first = matches!(w, Workers::Local { .. }) || matches!(w, Workers::Cluster { process: 0, .. });
    Ok(if is_first { first.unwrap_or_default() } else { Vec::new() })
}
