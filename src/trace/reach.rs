//! Poison reachability as a parallel frontier search (issue 3): who can
//! tainted funds reach at all, and by which earliest event, without the
//! sequential sweep.
//!
//! Time-respecting: an address is reached by event `j` from `u` only if `u`
//! was reached by an earlier event (seeds from the start). The search is
//! shaped for distribution: a [`Worker`] owns a shard of addresses (id modulo
//! the shard count), their marks and their outgoing events, and talks to the
//! others only through [`Msg`]s `(address, payload)`. The driver here runs the
//! shards in parallel in one process and routes messages between rounds; a
//! multi-machine driver would route them over the network instead.

use crate::model::{Chain, Pseudo, flags};
use crate::store::Store;
use rayon::prelude::*;

/// Not reached.
pub const UNREACHED: u64 = u64::MAX;
/// Reached before every event (a seed): the smallest mark, so never replaced.
pub const SEED: u64 = 0;

/// A message to the shard that owns `to`: "`to` is reached by event `mark - 1`".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Msg {
    /// Address id.
    pub to: u32,
    /// 1 + the event that reaches it.
    pub mark: u64,
}

/// One shard's state: marks and outgoing events of the addresses it owns.
pub struct Worker {
    shard: u32,
    shards: u32,
    /// Per owned address (local index id / shards): 1 + earliest reaching event.
    marks: Vec<u64>,
    /// Whether an owned address passes nothing on (stop, zero address, fee sink).
    absorbs: Vec<bool>,
    /// Outgoing events by owned sender, in key order: (event, receiver).
    offsets: Vec<u64>,
    edges: Vec<(u64, u32)>,
    /// Owned addresses whose mark or absorb flag a search set, to undo them
    /// (not the whole shard) before the next search.
    dirty: Vec<u32>,
}

impl Worker {
    fn local(&self, id: u32) -> usize {
        (id / self.shards) as usize
    }

    /// Apply messages; returns the owned addresses whose mark improved.
    pub fn deliver(&mut self, msgs: &[Msg]) -> Vec<u32> {
        let mut improved = Vec::new();
        for m in msgs {
            debug_assert_eq!(m.to % self.shards, self.shard);
            let l = self.local(m.to);
            if m.mark < self.marks[l] {
                if self.marks[l] == UNREACHED {
                    self.dirty.push(m.to);
                }
                self.marks[l] = m.mark;
                // An absorbing address is reached but passes nothing on.
                if !self.absorbs[l] {
                    improved.push(m.to);
                }
            }
        }
        improved.sort_unstable();
        improved.dedup();
        improved
    }

    /// Messages for the receivers of the events that can carry the taint of
    /// these owned addresses (those after the event that reached each),
    /// already split by the shard that owns each receiver.
    pub fn expand(&self, frontier: &[u32]) -> (Vec<Vec<Msg>>, u64) {
        let mut out = vec![Vec::new(); self.shards as usize];
        let mut scanned = 0;
        for &u in frontier {
            let l = self.local(u);
            let mark = self.marks[l];
            let edges = &self.edges[self.offsets[l] as usize..self.offsets[l + 1] as usize];
            let start = edges.partition_point(|&(j, _)| j < mark);
            scanned += (edges.len() - start) as u64;
            for &(j, v) in &edges[start..] {
                out[(v % self.shards) as usize].push(Msg { to: v, mark: j + 1 });
            }
        }
        (out, scanned)
    }

    /// Forget the last search: only the addresses it touched.
    fn reset(&mut self) {
        for k in 0..self.dirty.len() {
            let l = self.local(self.dirty[k]);
            self.marks[l] = UNREACHED;
            self.absorbs[l] = false;
        }
        self.dirty.clear();
    }
}

/// What a reachability search found.
pub struct Reach {
    /// The addresses reached, ascending, each with 1 + the earliest event
    /// that reached it ([`SEED`] for seeds).
    pub reached: Vec<(u32, u64)>,
    /// Outgoing events examined.
    pub edges_scanned: u64,
    /// Frontier rounds.
    pub rounds: u32,
    /// Messages exchanged between shards.
    pub messages: u64,
}

/// Value-moving events of one asset, split into shards by sender.
pub struct Csr {
    workers: Vec<Worker>,
    edges: usize,
}

impl Reach {
    /// 1 + the earliest event that reached `a`, [`SEED`] or [`UNREACHED`].
    pub fn first(&self, a: u32) -> u64 {
        self.reached.binary_search_by_key(&a, |r| r.0).map_or(UNREACHED, |k| self.reached[k].1)
    }
}

impl Csr {
    /// Build `shards` workers' edge lists (events in key order per sender).
    pub fn build(store: &Store, asset: u32) -> Csr {
        Self::build_sharded(store, asset, (rayon::current_num_threads() * 4) as u32)
    }

    /// Build with an explicit shard count.
    pub fn build_sharded(store: &Store, asset: u32, shards: u32) -> Csr {
        let ev = store.events();
        let n_addr = store.address_count() as u32;
        let shards = shards.max(1);
        let moves =
            |i: usize| ev.asset[i] == asset && ev.flags[i] & flags::MOVES_NOTHING == 0 && ev.value[i] != 0 && ev.from[i] != ev.to[i];
        let mut edges = 0;
        let workers: Vec<Worker> = (0..shards)
            .into_par_iter()
            .map(|shard| {
                let owned = n_addr.saturating_sub(shard).div_ceil(shards) as usize;
                let mut offsets = vec![0u64; owned + 1];
                for i in 0..store.len() {
                    if ev.from[i] % shards == shard && moves(i) {
                        offsets[(ev.from[i] / shards) as usize + 1] += 1;
                    }
                }
                for k in 1..offsets.len() {
                    offsets[k] += offsets[k - 1];
                }
                let mut fill = offsets.clone();
                let mut list = vec![(0u64, 0u32); offsets[owned] as usize];
                for i in 0..store.len() {
                    if ev.from[i] % shards == shard && moves(i) {
                        let l = (ev.from[i] / shards) as usize;
                        list[fill[l] as usize] = (i as u64, ev.to[i]);
                        fill[l] += 1;
                    }
                }
                Worker {
                    shard,
                    shards,
                    marks: vec![UNREACHED; owned],
                    absorbs: vec![false; owned],
                    offsets,
                    edges: list,
                    dirty: Vec::new(),
                }
            })
            .collect();
        for w in &workers {
            edges += w.edges.len();
        }
        Csr { workers, edges }
    }

    /// Number of edges.
    pub fn len(&self) -> usize {
        self.edges
    }

    /// Whether there are no edges.
    pub fn is_empty(&self) -> bool {
        self.edges == 0
    }
}

/// Search from `seeds`; `absorbs` are reached but pass nothing on (stops; the
/// zero address and the fee sink always).
pub fn reachable(store: &Store, csr: &mut Csr, seeds: &[u32], absorbs: &[u32]) -> Reach {
    let shards = csr.workers.len() as u32;
    let owner = |a: u32| (a % shards) as usize;
    let mut stops: Vec<u32> = absorbs.to_vec();
    stops.push(Pseudo::Fees.id());
    if store.manifest.chain == Chain::Ethereum
        && let Some(z) = store.find_address("0x0000000000000000000000000000000000000000")
    {
        stops.push(z);
    }
    csr.workers.par_iter_mut().for_each(Worker::reset);
    for &a in &stops {
        if !seeds.contains(&a) {
            let w = &mut csr.workers[owner(a)];
            let l = w.local(a);
            w.absorbs[l] = true;
            w.dirty.push(a);
        }
    }
    // Round 0: the seeds reach themselves before every event.
    let mut inbox: Vec<Vec<Msg>> = vec![Vec::new(); shards as usize];
    for &s in seeds {
        inbox[owner(s)].push(Msg { to: s, mark: SEED });
    }
    let (mut rounds, mut scanned, mut messages) = (0u32, 0u64, 0u64);
    loop {
        messages += inbox.iter().map(|m| m.len() as u64).sum::<u64>();
        // Each shard applies its messages and expands what improved.
        let outs: Vec<(Vec<Vec<Msg>>, u64)> = csr
            .workers
            .par_iter_mut()
            .zip(inbox.par_iter())
            .map(|(w, msgs)| {
                let frontier = w.deliver(msgs);
                w.expand(&frontier)
            })
            .collect();
        let produced: usize = outs.iter().map(|o| o.0.iter().map(Vec::len).sum::<usize>()).sum();
        if produced == 0 {
            break;
        }
        rounds += 1;
        // Route: each shard's inbox is every worker's part for it.
        scanned += outs.iter().map(|o| o.1).sum::<u64>();
        let mut parts: Vec<std::vec::IntoIter<Vec<Msg>>> = outs.into_iter().map(|o| o.0.into_iter()).collect();
        inbox = (0..shards).map(|_| parts.iter_mut().flat_map(|p| p.next().unwrap_or_default()).collect()).collect();
    }
    let mut reached: Vec<(u32, u64)> = csr
        .workers
        .par_iter()
        .flat_map_iter(|w| w.dirty.iter().map(move |&a| (a, w.marks[w.local(a)])).filter(|r| r.1 != UNREACHED))
        .collect();
    reached.par_sort_unstable();
    reached.dedup_by_key(|r| r.0);
    Reach { reached, edges_scanned: scanned, rounds, messages }
}
