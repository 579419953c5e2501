//! Poison over the account model on timely-dataflow (TRACING.md §2): which
//! events carry taint, from address seeds.
//!
//! An event `u -> v` carries taint when `u` is a seed or received taint
//! at an earlier key; `v` is then tainted from that key on. So an
//! address's taint starts at its earliest tainted arrival, and the set of
//! tainted events is the least fixed point of "earliest arrival" over the
//! events in key order: each worker keeps, for the addresses it owns, the
//! earliest key known so far and the events they send, and when an
//! address's earliest key moves earlier it sends the arrivals of its newly
//! tainted events to their receivers' owners. Keys only move earlier, so
//! every event is sent at most once, and the loop ends when no message is
//! in flight: timely's progress tracking says when. The order in which
//! messages arrive does not matter, so no global order is kept.
//!
//! Not yet here (the single-process sweep has them): stops, hops and the
//! horizon, windows, seed transactions, balances and the report; this
//! sweep answers which events a poison trace from address seeds without
//! stops taints, and is held equal to the single-process sweep on that.

use super::{DataflowError, Workers, owner};
use crate::model::flags;
use crate::store::Store;
use std::cell::RefCell;
use std::rc::Rc;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::{Concat, ConnectLoop, Feedback, Operator, ToStream};

/// Encoded taint start: `0` tainted from the start (a seed), `i + 1` from
/// event `i` on (it taints the events after `i`), `u64::MAX` never.
const NEVER: u64 = u64::MAX;

/// The events a poison trace of `asset` from `seeds` (address ids) taints,
/// ascending, computed by the workers `w`; every process of a cluster
/// needs the store (whole). Process 0's first worker returns the list;
/// the others return an empty one.
pub fn tainted_events(store_dir: &std::path::Path, asset: u32, seeds: &[u32], w: &Workers) -> Result<Vec<u64>, DataflowError> {
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
        let start: Rc<RefCell<Vec<u64>>> = Rc::new(RefCell::new(vec![NEVER; n_addr]));
        let tainted: Rc<RefCell<Vec<u64>>> = Rc::new(RefCell::new(Vec::new()));
        let gathered: Rc<RefCell<Vec<u64>>> = Rc::new(RefCell::new(Vec::new()));
        let (start2, tainted2, gathered2) = (start.clone(), tainted.clone(), gathered.clone());
        let initial: Vec<(u32, u64)> = if index == 0 { seeds.iter().map(|&s| (s, 0)).collect() } else { Vec::new() };
        worker.dataflow::<u64, _, _>(move |scope| {
            let (handle, cycle) = scope.feedback::<Vec<(u32, u64)>>(1);
            let arrivals = initial.to_stream(scope).container::<Vec<_>>().concat(cycle);
            let sent = arrivals.unary(Exchange::new(move |x: &(u32, u64)| owner(x.0, peers) as u64), "earliest arrival", move |_, _| {
                move |input, output| {
                    input.for_each(|time, data| {
                        let mut session = output.session(&time);
                        let mut start = start2.borrow_mut();
                        let mut tainted = tainted2.borrow_mut();
                        for &(v, k) in data.iter() {
                            let old = start[v as usize];
                            if k >= old {
                                continue;
                            }
                            start[v as usize] = k;
                            // Event j is tainted once j >= start: newly so for j in [k, old).
                            let evs = &out[v as usize];
                            let (lo, hi) = (evs.partition_point(|e| e.0 < k), evs.partition_point(|e| e.0 < old));
                            for &(i, r) in &evs[lo..hi] {
                                tainted.push(i);
                                session.give((r, i + 1));
                            }
                        }
                    });
                }
            });
            sent.connect_loop(handle);
        });
        while worker.step_or_park(None) {}
        // Gather every worker's tainted events at worker 0.
        worker.dataflow::<u64, _, _>(move |scope| {
            let mine: Vec<u64> = std::mem::take(&mut *tainted.borrow_mut());
            mine.to_stream(scope).container::<Vec<_>>().sink(Exchange::new(|_: &u64| 0), "gather", move |(input, _)| {
                input.for_each(|_, data| gathered2.borrow_mut().extend(data.iter().copied()));
            });
        });
        while worker.step_or_park(None) {}
        let _ = start;
        let mut all = std::mem::take(&mut *gathered.borrow_mut());
        all.sort_unstable();
        Ok::<Vec<u64>, String>(all)
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
