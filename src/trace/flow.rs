//! The taint flow of a trace (issue 18): every event that carried taint,
//! added up per (sender, receiver), the pairs that carried most kept and
//! the rest summed. Evidence paths show a few chains of single events; the
//! flow shows where all of the taint went, fan-out included, at a size a
//! page can draw.

use super::{IdHasher, Tainted, Wide};
use crate::model::NO_TX;
use std::collections::HashMap;

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
    pub txs: Vec<u32>,
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
/// transaction `parties` reads (sender, receiver, transaction), in no
/// particular order.
pub fn edges(tainted: &[Tainted], parties: impl Fn(&Tainted) -> (u32, u32, u32)) -> Vec<Edge> {
    // Kept small (a wide trace has hundreds of thousands of pairs): the
    // largest events are places in `tainted`, read when compared.
    struct Acc {
        taint: Wide,
        events: u64,
        hop: u32,
        /// The largest events so far, `n` of them, most taint first, the
        /// earliest of equals.
        largest: [usize; EDGE_TXS],
        n: u8,
    }
    let mut by_pair: HashMap<u64, Acc, std::hash::BuildHasherDefault<IdHasher>> = HashMap::default();
    let mut txs_of: Vec<u32> = Vec::with_capacity(tainted.len());
    for (k, t) in tainted.iter().enumerate() {
        let (from, to, tx) = parties(t);
        txs_of.push(tx);
        let a = by_pair.entry(u64::from(from) << 32 | u64::from(to)).or_insert(Acc {
            taint: Wide::ZERO,
            events: 0,
            hop: t.hop,
            largest: [0; EDGE_TXS],
            n: 0,
        });
        a.hop = a.hop.min(t.hop);
        a.taint += Wide::from(t.x);
        a.events += 1;
        let n = usize::from(a.n);
        let at = a.largest[..n].partition_point(|&p| {
            let o = &tainted[p];
            o.x > t.x || (o.x == t.x && o.event < t.event)
        });
        if at < EDGE_TXS {
            let n = (n + 1).min(EDGE_TXS);
            a.largest[at..n].rotate_right(1);
            a.largest[at] = k;
            a.n = n as u8;
        }
    }
    by_pair
        .into_iter()
        .map(|(k, a)| {
            let mut txs: Vec<u32> = Vec::new();
            for &p in &a.largest[..usize::from(a.n)] {
                let tx = txs_of[p];
                if tx != NO_TX && !txs.contains(&tx) {
                    txs.push(tx);
                }
            }
            Edge { from: (k >> 32) as u32, to: k as u32, hop: a.hop, taint: a.taint, events: a.events, txs }
        })
        .collect()
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
        assert_eq!(first.txs, vec![11, 10]);
        assert_eq!((f.edges[1].from, f.edges[1].to), (2, 3));
        assert_eq!((f.rest_edges, f.rest_events, f.rest_taint), (1, 2, Wide::from(2u64)));
        // Split in two parts and joined: the same.
        let (a, b): (Vec<Edge>, Vec<Edge>) = all.into_iter().partition(|e| e.to == 2);
        let j = Flow::join([Flow::keep(a, 2, |a| format!("a{a}")), Flow::keep(b, 1, |a| format!("a{a}"))], 2, |a| format!("a{a}"));
        assert_eq!(j, f);
    }
}
