//! The taint flow of a trace (issue 18): every event that carried taint,
//! added up per (sender, receiver), the pairs that carried most kept and
//! the rest summed. Evidence paths show a few chains of single events; the
//! flow shows where all of the taint went, fan-out included, at a size a
//! page can draw.

use super::{Tainted, Wide};
use crate::model::NO_TX;

/// Transactions an edge names: those of its largest events.
pub const EDGE_TXS: usize = 3;

/// Edges a report keeps by default.
pub const DEFAULT_EDGES: usize = 200;

/// The tainted events from one address to another.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Edge {
    /// Sender.
    pub from: u32,
    /// Receiver.
    pub to: u32,
    /// The smallest hop of its events.
    pub hop: u32,
    /// Taint carried, summed.
    pub taint: Wide,
    /// Events that carried it.
    pub events: u64,
    /// The transactions of its largest events (most taint first, the
    /// earliest of equals), each once.
    pub txs: Txs,
}

/// At most [`EDGE_TXS`] transaction ids, in place: a wide trace has
/// millions of pairs, and a vector each was a heap allocation a pair for
/// the few hundred a report keeps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Txs {
    n: u8,
    ids: [u32; EDGE_TXS],
}

impl Txs {
    /// Add `tx` unless it is there already or there is no room.
    fn push_new(&mut self, tx: u32) {
        if !self.contains(&tx) && (self.n as usize) < EDGE_TXS {
            self.ids[self.n as usize] = tx;
            self.n += 1;
        }
    }
}

impl std::ops::Deref for Txs {
    type Target = [u32];
    fn deref(&self) -> &[u32] {
        &self.ids[..self.n as usize]
    }
}

impl FromIterator<u32> for Txs {
    /// The first [`EDGE_TXS`] distinct ids.
    fn from_iter<I: IntoIterator<Item = u32>>(it: I) -> Self {
        let mut t = Txs::default();
        for x in it {
            t.push_new(x);
        }
        t
    }
}

/// The flow a report shows: the edges that carried most, and the rest.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Flow {
    /// Most taint first, then sender and receiver as the report names them.
    pub edges: Vec<Edge>,
    /// Edges left out.
    pub rest_edges: u64,
    /// Their events.
    pub rest_events: u64,
    /// Their taint.
    pub rest_taint: Wide,
}

/// Every (sender, receiver) pair of `tainted`, whose parties and
/// transaction `parties` reads (sender, receiver, transaction), in the
/// order of the pairs (sender, then receiver).
///
/// The events are sorted by pair, not gathered in a map: a wide trace has
/// hundreds of thousands of pairs, and a map of them is out of cache, one
/// miss an event (0.14 s of 10^6 tainted events on the wide set, the
/// report's largest part). The sort reads and writes in streams, and the
/// events are then read in pair order with the next ones loaded ahead.
pub fn edges(tainted: &[Tainted], parties: impl Fn(&Tainted) -> (u32, u32, u32) + Sync) -> Vec<Edge> {
    use rayon::prelude::*;
    let n = tainted.len();
    // The parties are read from the store's packed columns, an event at a
    // time: on the pool, in slices that each fill their part of the keys.
    let mut keys: Vec<u64> = vec![0; n];
    let mut txs_of: Vec<u32> = vec![0; n];
    const SLICE: usize = 1 << 14;
    let widest = keys
        .par_chunks_mut(SLICE)
        .zip(txs_of.par_chunks_mut(SLICE))
        .zip(tainted.par_chunks(SLICE))
        .map(|((keys, txs), tainted)| {
            let mut widest = 0u32;
            for ((key, tx_of), t) in keys.iter_mut().zip(txs.iter_mut()).zip(tainted) {
                let (from, to, tx) = parties(t);
                *tx_of = tx;
                widest |= from | to;
                *key = u64::from(from) << 32 | u64::from(to);
            }
            widest
        })
        .reduce(|| 0, |a, b| a | b);
    let sorted = sort_by_pair(keys, 32 - widest.leading_zeros());
    let mut out = Vec::new();
    // Loads of `tainted` this far ahead of their use.
    const AHEAD: usize = 16;
    let mut j = 0;
    while j < n {
        let key = sorted[j].0;
        let (mut taint, mut events, mut hop) = (Wide::ZERO, 0u64, u32::MAX);
        // The largest events so far, most taint first, the earliest of equals.
        let mut largest = [0usize; EDGE_TXS];
        let mut m = 0usize;
        while j < n && sorted[j].0 == key {
            if let Some(&(_, p)) = sorted.get(j + AHEAD) {
                crate::sys::prefetch(&tainted[p as usize]);
            }
            let k = sorted[j].1 as usize;
            let t = &tainted[k];
            hop = hop.min(t.hop);
            taint += Wide::from(t.x);
            events += 1;
            let at = largest[..m].partition_point(|&p| {
                let o = &tainted[p];
                o.x > t.x || (o.x == t.x && o.event < t.event)
            });
            if at < EDGE_TXS {
                m = (m + 1).min(EDGE_TXS);
                largest[at..m].rotate_right(1);
                largest[at] = k;
            }
            j += 1;
        }
        let txs: Txs = largest[..m].iter().map(|&p| txs_of[p]).filter(|&tx| tx != NO_TX).collect();
        out.push(Edge { from: (key >> 32) as u32, to: key as u32, hop, taint, events, txs });
    }
    out
}

/// `keys` (sender in the high half, receiver in the low, each below
/// `2^bits`) with their places, sorted by key, equal keys in their order:
/// least significant digit first over the `2 * bits` bits in use, 11 at a
/// time.
fn sort_by_pair(keys: Vec<u64>, bits: u32) -> Vec<(u64, u32)> {
    assert!(u32::try_from(keys.len()).is_ok(), "fewer than 2^32 tainted events in one flow");
    // The two halves side by side, so that the digits are contiguous bits.
    let digits = |x: u64| (x >> 32) << bits | (x & 0xffff_ffff);
    const DIGIT: u32 = 11;
    let mut cur: Vec<(u64, u32)> = keys.into_iter().enumerate().map(|(p, k)| (k, p as u32)).collect();
    let mut other = vec![(0u64, 0u32); cur.len()];
    let mut shift = 0;
    while shift < 2 * bits {
        let mut start = vec![0usize; 1 << DIGIT];
        for &(k, _) in &cur {
            start[(digits(k) >> shift) as usize & ((1 << DIGIT) - 1)] += 1;
        }
        let mut sum = 0;
        for c in start.iter_mut() {
            let here = *c;
            *c = sum;
            sum += here;
        }
        for &x in &cur {
            let d = (digits(x.0) >> shift) as usize & ((1 << DIGIT) - 1);
            other[start[d]] = x;
            start[d] += 1;
        }
        std::mem::swap(&mut cur, &mut other);
        shift += DIGIT;
    }
    cur
}

impl Flow {
    /// The `n` edges of `all` that carried most (ties by the names `text`
    /// gives sender and receiver), the others summed.
    pub fn keep(all: Vec<Edge>, n: usize, text: impl Fn(u32) -> String) -> Flow {
        Flow { edges: all, ..Flow::default() }.cut(n, text)
    }

    /// Flows of disjoint sets of edges (each edge wholly in one: workers
    /// log an event where its receiver is owned) as one, cut to `n`.
    pub fn join(parts: impl IntoIterator<Item = Flow>, n: usize, text: impl Fn(u32) -> String) -> Flow {
        let mut all = Flow::default();
        for p in parts {
            all.edges.extend(p.edges);
            all.rest_edges += p.rest_edges;
            all.rest_events += p.rest_events;
            all.rest_taint += p.rest_taint;
        }
        all.cut(n, text)
    }

    fn cut(mut self, n: usize, text: impl Fn(u32) -> String) -> Flow {
        let mut edges = std::mem::take(&mut self.edges);
        if edges.len() > n {
            // Picked by taint alone; names are made only for the edges kept
            // and those tied with the last one kept (a wide trace has
            // hundreds of thousands of edges).
            let by_taint = |a: &Edge, b: &Edge| b.taint.cmp(&a.taint);
            let (mut keep, mut ties) = (Vec::with_capacity(n), Vec::new());
            if n > 0 {
                edges.select_nth_unstable_by(n - 1, by_taint);
                let last = edges[n - 1].taint;
                for e in edges.drain(..) {
                    match e.taint.cmp(&last) {
                        std::cmp::Ordering::Greater => keep.push(e),
                        std::cmp::Ordering::Equal => ties.push(e),
                        std::cmp::Ordering::Less => self.leave_out(&e),
                    }
                }
            } else {
                for e in edges.drain(..) {
                    self.leave_out(&e);
                }
            }
            let mut named: Vec<(String, String, Edge)> = ties.into_iter().map(|e| (text(e.from), text(e.to), e)).collect();
            named.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
            let room = n - keep.len();
            for (k, (_, _, e)) in named.into_iter().enumerate() {
                if k < room { keep.push(e) } else { self.leave_out(&e) }
            }
            edges = keep;
        }
        let mut named: Vec<(String, String, Edge)> = edges.into_iter().map(|e| (text(e.from), text(e.to), e)).collect();
        named.sort_by(|a, b| b.2.taint.cmp(&a.2.taint).then_with(|| a.0.cmp(&b.0)).then_with(|| a.1.cmp(&b.1)));
        self.edges = named.into_iter().map(|x| x.2).collect();
        self
    }

    fn leave_out(&mut self, e: &Edge) {
        self.rest_edges += 1;
        self.rest_events += e.events;
        self.rest_taint += e.taint;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ruint::aliases::U256;

    fn t(event: u64, x: u64, hop: u32) -> Tainted {
        Tainted { event, x: U256::from(x), hop }
    }

    #[test]
    fn the_sort_by_pair_agrees_with_a_map_at_every_width() {
        // Ids of 1 to 32 bits: the digits span the two halves of the key.
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for bits in [1u32, 5, 11, 17, 22, 32] {
            let id = |r: u64| (r as u32) & (u32::MAX >> (32 - bits));
            let tainted: Vec<Tainted> = (0..3000).map(|e| t(e, next() % 50, (next() % 4) as u32)).collect();
            let parties: Vec<(u32, u32, u32)> = (0..3000).map(|_| (id(next() % 7), id(next()), (next() % 100) as u32)).collect();
            let got = edges(&tainted, |t| parties[t.event as usize]);
            type Sums = (Wide, u64, u32);
            let mut want: std::collections::BTreeMap<(u32, u32), Sums> = Default::default();
            for (t, p) in tainted.iter().zip(&parties) {
                let e = want.entry((p.0, p.1)).or_insert((Wide::ZERO, 0, u32::MAX));
                e.0 += Wide::from(t.x);
                e.1 += 1;
                e.2 = e.2.min(t.hop);
            }
            let got: Vec<((u32, u32), Sums)> = got.iter().map(|e| ((e.from, e.to), (e.taint, e.events, e.hop))).collect();
            assert_eq!(got, want.into_iter().collect::<Vec<_>>(), "{bits} bits");
        }
    }

    #[test]
    fn pairs_add_up_and_the_largest_are_kept() {
        // Events 0..6: (from, to, tx) by event.
        let parties = [(1, 2, 10), (1, 2, 11), (1, 2, 10), (2, 3, 12), (2, 4, 13), (1, 2, NO_TX), (2, 4, 14)];
        let tainted = [t(0, 5, 1), t(1, 9, 2), t(2, 9, 1), t(3, 7, 2), t(4, 1, 2), t(5, 9, 3), t(6, 1, 3)];
        let all = edges(&tainted, |x| parties[x.event as usize]);
        let total: Wide = all.iter().map(|e| e.taint).fold(Wide::ZERO, |a, b| a + b);
        assert_eq!(total, Wide::from(41u64));
        let f = Flow::keep(all.clone(), 2, |a| format!("a{a}"));
        assert_eq!(f.edges.len(), 2);
        let first = &f.edges[0];
        assert_eq!((first.from, first.to, first.hop, first.events), (1, 2, 1, 4));
        assert_eq!(first.taint, Wide::from(32u64));
        // Its largest events are 1, 2 and 5 (9 each, the earliest first):
        // transactions 11 and 10, and none for 5.
        assert_eq!(&*first.txs, &[11, 10]);
        assert_eq!((f.edges[1].from, f.edges[1].to), (2, 3));
        assert_eq!((f.rest_edges, f.rest_events, f.rest_taint), (1, 2, Wide::from(2u64)));
        // Split in two parts and joined: the same.
        let (a, b): (Vec<Edge>, Vec<Edge>) = all.into_iter().partition(|e| e.to == 2);
        let j = Flow::join([Flow::keep(a, 2, |a| format!("a{a}")), Flow::keep(b, 1, |a| format!("a{a}"))], 2, |a| format!("a{a}"));
        assert_eq!(j, f);
    }
}
