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
//! Stops keep this monotone: an arrival a stop absorbs (its label applies
//! at the arrival's time) sets the address's hop but does not start its
//! taint. A seed transaction's events are tainted at hop 0 from the start;
//! a block window drops the events outside it. Not yet here (the
//! single-process sweep has them): the horizon (whose status is fixed at
//! an address's first arrival: it needs order), balances and the report.
//! This sweep answers which events a poison trace taints, at which hop,
//! and is held equal to the single-process sweep on that.

use super::{DataflowError, Owners, Workers};
use crate::model::flags;
use crate::store::Store;
use crate::trace::{Policy, Spec};
use std::cell::RefCell;
use std::rc::Rc;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::{Concat, ConnectLoop, Feedback, Operator, ToStream};

/// An arrival's key, encoded: `0` from the start (a seed), `i + 1` from
/// event `i` (it reaches the events after `i`).
type Key = u64;

/// What an owned address knows of its taint: when it starts (its
/// earliest arrival that a stop did not absorb), the arrivals that set its
/// hop (absorbed ones too; key ascending, hop descending: a later arrival
/// matters only with a smaller hop), and the hop each event it sends
/// carries (`u32::MAX`: untainted so far).
struct Owned {
    start: Key,
    front: Vec<(Key, u32)>,
    sent: Vec<u32>,
}

impl Default for Owned {
    fn default() -> Self {
        Owned { start: Key::MAX, front: Vec::new(), sent: Vec::new() }
    }
}

/// The events a poison trace of `asset` from `seeds` (address ids) taints,
/// with the hop each carries, ascending by event, computed by the workers
/// `w`; every process of a cluster needs the store (whole). Process 0
/// returns the list; the others return an empty one.
pub fn tainted_events(store_dir: &std::path::Path, spec: &Spec, w: &Workers) -> Result<Vec<(u64, u32)>, DataflowError> {
    if spec.policy != Policy::Poison || spec.max_hops.is_some() {
        return Err(DataflowError::Unsupported("across workers so far: poison, without --max-hops".into()));
    }
    let dir = store_dir.to_path_buf();
    let (asset, seeds, stop_at) = (spec.asset, spec.seeds.clone(), spec.stop_at.clone());
    let seed_txs: std::collections::HashSet<u32> = spec.seed_txs.iter().copied().collect();
    let (from_block, to_block) = (spec.from_block.unwrap_or(0), spec.to_block.unwrap_or(u64::MAX));
    let windowed = spec.from_block.is_some() || spec.to_block.is_some();
    let owners = {
        let store = Store::open(store_dir).map_err(|e| DataflowError::Trace(e.into()))?;
        let (processes, threads) = w.layout();
        Owners::new(processes, threads, super::owner_bits_of(&store)?)
    };
    let key = super::net::key_of(&format!("poison {spec:?} {} {owners:?}", store_dir.display()));
    let results = super::net::execute(w, key, move |worker| {
        let index = worker.index();
        // Each worker maps the store itself: workers share nothing.
        let store = Store::open(&dir).map_err(|e| super::net::give_up(e.to_string()))?;
        let ev = store.events();
        let n_addr = store.address_count();
        let rules = crate::trace::rules::stop_rules(&store, &stop_at, &|a| a).map_err(|e| super::net::give_up(e.to_string()))?;
        let mut is_seed = vec![false; n_addr];
        for &s in &seeds {
            is_seed[s as usize] = true;
        }
        // The events the owned addresses send, by sender: (event, receiver).
        let mut out: Vec<Vec<(u64, u32)>> = vec![Vec::new(); n_addr];
        for i in 0..store.len() {
            if ev.asset(i) != asset || ev.flags(i) & flags::MOVES_NOTHING != 0 || ev.value.get(i) == 0 {
                continue;
            }
            // Outside the window an event moves nothing (the shortfall
            // rule covers the missing history).
            if windowed && {
                let b = ev.block(i);
                b == crate::model::NO_BLOCK || b < from_block || b > to_block
            } {
                continue;
            }
            let (u, v) = (ev.sender(i), ev.receiver(i));
            if u != v && owners.of(u) == index {
                out[u as usize].push((i as u64, v));
            }
        }
        // A seed transaction's events (its fee aside) deliver their whole
        // value at hop 0, whatever their sender holds.
        let mut from_seed_txs: Vec<(u32, u64, u32)> = Vec::new();
        let mut state_init: Vec<Owned> = (0..n_addr).map(|_| Owned::default()).collect();
        if !seed_txs.is_empty() {
            for (u, evs) in out.iter().enumerate() {
                for (n, &(i, r)) in evs.iter().enumerate() {
                    let i = i as usize;
                    if ev.flags(i) & flags::FEE == 0 && ev.tx(i) != crate::model::NO_TX && seed_txs.contains(&ev.tx(i)) {
                        let o = &mut state_init[u];
                        if o.sent.is_empty() {
                            o.sent = vec![u32::MAX; evs.len()];
                        }
                        o.sent[n] = 0;
                        from_seed_txs.push((r, i as u64 + 1, 0));
                    }
                }
            }
        }
        let state: Rc<RefCell<Vec<Owned>>> = Rc::new(RefCell::new(state_init));
        let state2 = state.clone();
        let out = Rc::new(out);
        let out2 = out.clone();
        let store = Rc::new(store);
        let mut initial: Vec<(u32, Key, u32)> = if index == 0 { seeds.iter().map(|&s| (s, 0, 0)).collect() } else { Vec::new() };
        initial.extend(from_seed_txs);
        let owners = owners.clone();
        worker.dataflow::<u64, _, _>(move |scope| {
            let (handle, cycle) = scope.feedback::<Vec<(u32, Key, u32)>>(1);
            let arrivals = initial.to_stream(scope).container::<Vec<_>>().concat(cycle);
            let sent = arrivals.unary(Exchange::new(move |x: &(u32, Key, u32)| owners.of(x.0) as u64), "earliest arrival", move |_, _| {
                move |input, output| {
                    input.for_each(|time, data| {
                        let mut session = output.session(&time);
                        let mut state = state2.borrow_mut();
                        for &(v, k, h) in data.iter() {
                            let o = &mut state[v as usize];
                            // A stop absorbs what reaches it while its label applies (a seed
                            // stays a source): its hop still counts.
                            let absorbed = k > 0
                                && !is_seed[v as usize]
                                && crate::trace::rules::stop_at_time(&rules, v, store.events().time((k - 1) as usize)).is_some();
                            let hop_news = !o.front.iter().any(|&(k2, h2)| k2 <= k && h2 <= h);
                            let start_news = !absorbed && k < o.start;
                            if !hop_news && !start_news {
                                continue;
                            }
                            let mut until = o.start.max(k);
                            if hop_news {
                                o.front.retain(|&(k2, h2)| !(k2 >= k && h2 >= h));
                                let at = o.front.partition_point(|f| f.0 < k);
                                o.front.insert(at, (k, h));
                                // Better for the events from k up to the next arrival with a hop <= h.
                                until = until.max(o.front[at + 1..].iter().find(|f| f.1 <= h).map_or(Key::MAX, |f| f.0));
                            }
                            if start_news {
                                o.start = k;
                            }
                            let evs = &out2[v as usize];
                            if o.sent.is_empty() && !evs.is_empty() {
                                o.sent = vec![u32::MAX; evs.len()];
                            }
                            // Event j is tainted once j >= start, at one more than the smallest
                            // hop of the arrivals at keys <= j.
                            let (lo, hi) = (evs.partition_point(|e| e.0 < k.max(o.start)), evs.partition_point(|e| e.0 < until));
                            for (n, &(i, r)) in evs.iter().enumerate().take(hi).skip(lo) {
                                let at = o.front.partition_point(|f| f.0 <= i);
                                let Some(best) = o.front[..at].last() else { continue };
                                let hop = best.1.saturating_add(1);
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
        super::net::drive(worker);
        // Gather every worker's tainted events at worker 0.
        let mine: Vec<(u64, u32)> = state
            .borrow()
            .iter()
            .zip(out.iter())
            .flat_map(|(o, evs)| o.sent.iter().zip(evs).filter(|(h, _)| **h != u32::MAX).map(|(&h, e)| (e.0, h)))
            .collect();
        let mut all: Vec<(u64, u32)> = super::segments::gather(worker, mine).into_iter().flatten().collect();
        all.sort_unstable();
        Ok::<Vec<(u64, u32)>, String>(all)
    })?;
    let mut first = None;
    for (k, r) in results.into_iter().enumerate() {
        let r = r.map_err(DataflowError::Worker)?;
        if k == 0 {
            first = Some(r);
        }
    }
    let is_first = w.is_first();
    Ok(if is_first { first.unwrap_or_default() } else { Vec::new() })
}
