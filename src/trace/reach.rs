//! Poison reachability as a parallel frontier search (issue 3): who can
//! tainted funds reach at all, and by which earliest event, without the
//! sequential sweep.
//!
//! Time-respecting: an address is reached by event `j` from `u` only if `u`
//! was reached by an earlier event (seeds from the start). The search keeps,
//! per address, the index of the earliest event that reached it, and relaxes
//! the frontier's outgoing events (a CSR by sender, in key order) in parallel
//! with atomic minimums until nothing improves. It answers the same question
//! as the poison sweep's reached set, and is checked against it in tests.

use crate::model::{flags, Chain, Pseudo};
use crate::store::Store;
use rayon::prelude::*;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Not reached.
pub const UNREACHED: u64 = u64::MAX;
/// Reached before every event (a seed): the smallest mark, so never replaced.
pub const SEED: u64 = 0;

/// What a reachability search found.
pub struct Reach {
    /// Per address id: 1 + the earliest event that reached it, [`SEED`] or [`UNREACHED`].
    pub first: Vec<u64>,
    /// Outgoing events examined (edges/s is this over the run time).
    pub edges_scanned: u64,
    /// Frontier rounds.
    pub rounds: u32,
}

/// Events by sender, in key order: `events[offsets[u]..offsets[u + 1]]`.
pub struct Csr {
    offsets: Vec<u64>,
    events: Vec<u64>,
}

impl Csr {
    /// Outgoing value-moving events of one asset, by sender.
    pub fn build(store: &Store, asset: u32) -> Csr {
        let ev = store.events();
        let n_addr = store.address_count();
        let moves = |i: usize| {
            ev.asset[i] == asset && ev.flags[i] & flags::MOVES_NOTHING == 0 && ev.value[i] != 0 && ev.from[i] != ev.to[i]
        };
        let mut offsets = vec![0u64; n_addr + 1];
        for i in 0..store.len() {
            if moves(i) {
                offsets[ev.from[i] as usize + 1] += 1;
            }
        }
        for k in 1..offsets.len() {
            offsets[k] += offsets[k - 1];
        }
        let mut fill = offsets.clone();
        let mut events = vec![0u64; offsets[n_addr] as usize];
        for i in 0..store.len() {
            if moves(i) {
                let u = ev.from[i] as usize;
                events[fill[u] as usize] = i as u64;
                fill[u] += 1;
            }
        }
        Csr { offsets, events }
    }

    fn out(&self, u: usize) -> &[u64] {
        &self.events[self.offsets[u] as usize..self.offsets[u + 1] as usize]
    }

    /// Number of edges.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// Whether there are no edges.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }
}

/// Search from `seeds`; `absorbs` are reached but pass nothing on (stops; the
/// zero address and the fee sink always).
pub fn reachable(store: &Store, csr: &Csr, seeds: &[u32], absorbs: &[u32]) -> Reach {
    let ev = store.events();
    let n_addr = store.address_count();
    let first: Vec<AtomicU64> = (0..n_addr).map(|_| AtomicU64::new(UNREACHED)).collect();
    let mut stop = vec![false; n_addr];
    stop[Pseudo::Fees.id() as usize] = true;
    for &a in absorbs {
        stop[a as usize] = true;
    }
    if store.manifest.chain == Chain::Ethereum {
        if let Some(z) = store.find_address("0x0000000000000000000000000000000000000000") {
            stop[z as usize] = true;
        }
    }
    for &s in seeds {
        first[s as usize].store(SEED, Ordering::Relaxed);
        stop[s as usize] = false;
    }
    let queued: Vec<AtomicBool> = (0..n_addr).map(|_| AtomicBool::new(false)).collect();
    let mut frontier: Vec<u32> = seeds.to_vec();
    let scanned = AtomicU64::new(0);
    let mut rounds = 0;
    while !frontier.is_empty() {
        rounds += 1;
        let next: Vec<u32> = frontier
            .par_iter()
            .flat_map_iter(|&u| {
                // Only events after the one that reached u can carry its taint:
                // event j qualifies when j + 1 > mark(u).
                let mark = first[u as usize].load(Ordering::Relaxed);
                let out = csr.out(u as usize);
                let start = out.partition_point(|&j| j + 1 <= mark);
                scanned.fetch_add((out.len() - start) as u64, Ordering::Relaxed);
                let mut improved = Vec::new();
                for &j in &out[start..] {
                    let v = ev.to[j as usize] as usize;
                    let prev = first[v].fetch_min(j + 1, Ordering::Relaxed);
                    if j + 1 < prev && !stop[v] && !queued[v].swap(true, Ordering::Relaxed) {
                        improved.push(v as u32);
                    }
                }
                improved
            })
            .collect();
        for &v in &next {
            queued[v as usize].store(false, Ordering::Relaxed);
        }
        frontier = next;
    }
    Reach { first: first.into_iter().map(AtomicU64::into_inner).collect(), edges_scanned: scanned.into_inner(), rounds }
}
