//! Evidence paths (TRACING.md §5): chains of tainted events from a source to
//! the address they explain, keys strictly increasing, each carrying taint.

use super::Tainted;
use crate::model::{NO_BLOCK, NO_TIME, NO_TX};
use crate::store::Store;
use serde::Serialize;
use std::collections::HashMap;

/// Tainted events by receiving address, in key order: the report's walk
/// over every tainted event, and each worker's over those it logged
/// (`dataflow::evidence`), take their steps here.
pub struct Index<'a> {
    tainted: std::borrow::Cow<'a, [Tainted]>,
    /// Places in `tainted`, by receiver, then event.
    order: Vec<u64>,
    /// The receivers (keys) in order, each with the start of its places in
    /// `order` (one start more, the end): looked up by binary search, where
    /// a hash map of lists was a quarter of a wide report's time.
    receivers: Vec<u32>,
    starts: Vec<usize>,
    /// For each receiver, the place in its arrivals of its largest so far
    /// (the earliest of equals): a step back asks for the sender's largest
    /// arrival before an event, hubs have many, and paths pass hubs again
    /// and again, so each step is a binary search, not a scan (issue 18).
    /// Worked out when first asked: a report walks the paths of its
    /// largest destinations, whose steps visit few receivers.
    best: Vec<std::sync::OnceLock<Vec<u32>>>,
}

impl<'a> Index<'a> {
    /// Index the tainted events of a trace.
    pub fn new(store: &Store, tainted: &'a [Tainted]) -> Self {
        Self::keyed(store, tainted, |a| a)
    }

    /// Index the tainted events by `key(receiver)`: over clusters, paths end
    /// at any member of a cluster.
    pub fn keyed(store: &Store, tainted: &'a [Tainted], key: impl Fn(u32) -> u32) -> Self {
        let ev = store.events();
        Self::by(std::borrow::Cow::Borrowed(tainted), |t| key(ev.receiver(t.event as usize)))
    }

    /// Index `tainted` (borrowed, or owned by the index) by the receiver
    /// (or its key) `key_of` reads for each.
    pub fn by(tainted: std::borrow::Cow<'a, [Tainted]>, key_of: impl Fn(&Tainted) -> u32) -> Self {
        // Places and their receivers' keys, by key, stably (so in list order).
        let (mut order, keys): (Vec<u64>, Vec<u32>) = match u32::try_from(tainted.len()) {
            Ok(n) => {
                let mut keys: Vec<u64> = tainted.iter().zip(0..n).map(|(t, i)| u64::from(key_of(t)) << 32 | u64::from(i)).collect();
                radix_by_high_half(&mut keys);
                keys.iter().map(|&x| (x & 0xffff_ffff, (x >> 32) as u32)).unzip()
            }
            // Past 2^32 places a key does not hold one: sorted the slow way.
            Err(_) => {
                let mut places: Vec<u64> = (0..tainted.len() as u64).collect();
                places.sort_by_key(|&i| key_of(&tainted[i as usize]));
                let keys = places.iter().map(|&i| key_of(&tainted[i as usize])).collect();
                (places, keys)
            }
        };
        let (mut receivers, mut starts) = (Vec::new(), Vec::new());
        for (k, &r) in keys.iter().enumerate() {
            if receivers.last() != Some(&r) {
                receivers.push(r);
                starts.push(k);
            }
        }
        starts.push(order.len());
        // The sweeps list them in event order; a merge of workers' lists
        // might not.
        if !tainted.is_sorted_by_key(|t| t.event) {
            for w in starts.windows(2) {
                order[w[0]..w[1]].sort_by_key(|&i| tainted[i as usize].event);
            }
        }
        let best = (0..receivers.len()).map(|_| std::sync::OnceLock::new()).collect();
        Index { tainted, order, receivers, starts, best }
    }

    /// Where `dest`'s paths end: its `k` largest tainted arrivals, the most
    /// taint first, the earliest of equals.
    pub fn ends(&self, dest: u32, k: usize) -> Vec<&Tainted> {
        let Ok(r) = self.receivers.binary_search(&dest) else { return Vec::new() };
        let mut last: Vec<&Tainted> = self.order[self.starts[r]..self.starts[r + 1]].iter().map(|&i| &self.tainted[i as usize]).collect();
        let order = |a: &&Tainted, b: &&Tainted| b.x.cmp(&a.x).then(a.event.cmp(&b.event));
        // An exchange can take most of the tainted events: its `k` largest
        // picked out first.
        if last.len() > k {
            if k == 0 {
                return Vec::new();
            }
            last.select_nth_unstable_by(k - 1, order);
            last.truncate(k);
        }
        last.sort_by(order);
        last
    }

    /// `to`'s largest arrival before event `before`, the earliest of
    /// equals: a path's step back.
    pub fn largest_before(&self, to: u32, before: u64) -> Option<&Tainted> {
        let r = self.receivers.binary_search(&to).ok()?;
        let places = &self.order[self.starts[r]..self.starts[r + 1]];
        let at = |k: usize| &self.tainted[places[k] as usize];
        let best = self.best[r].get_or_init(|| {
            let mut b = 0;
            let mut best = Vec::with_capacity(places.len());
            for k in 0..places.len() {
                // Strictly larger: of equals, the earliest stays.
                if at(k).x > at(b).x {
                    b = k;
                }
                best.push(b as u32);
            }
            best
        });
        let n = places.partition_point(|&i| self.tainted[i as usize].event < before);
        (n > 0).then(|| at(best[n - 1] as usize))
    }

    /// Up to `k` paths ending at `dest`, the ones whose last event carried the
    /// most taint first. Each is walked back greedily: the predecessor of an
    /// event is the sender's largest earlier tainted arrival, until a source
    /// (a seed address, or an event of a seed transaction) is reached.
    pub fn paths(&self, store: &Store, dest: u32, k: usize, is_source: &dyn Fn(&Tainted) -> bool) -> Vec<Vec<Tainted>> {
        self.paths_with(store, dest, k, is_source, &HashMap::new(), &HashMap::new())
    }

    /// Like [`Index::paths`]; on Bitcoin `pred` names the spent output whose
    /// taint funded each tainted output, and the walk follows it.
    pub fn paths_with(
        &self,
        store: &Store,
        dest: u32,
        k: usize,
        is_source: &dyn Fn(&Tainted) -> bool,
        pred: &HashMap<u64, u64>,
        by_event: &HashMap<u64, Tainted>,
    ) -> Vec<Vec<Tainted>> {
        let ev = store.events();
        let mut paths = Vec::new();
        for end in self.ends(dest, k) {
            let mut path = vec![*end];
            let mut cur = *end;
            while !is_source(&cur) {
                if !pred.is_empty() {
                    match pred.get(&cur.event).and_then(|p| by_event.get(p)) {
                        Some(p) => {
                            path.push(*p);
                            cur = *p;
                            continue;
                        }
                        None => break,
                    }
                }
                let sender = ev.sender(cur.event as usize);
                match self.largest_before(sender, cur.event) {
                    Some(p) => {
                        path.push(*p);
                        cur = *p;
                    }
                    None => break,
                }
            }
            path.reverse();
            paths.push(path);
        }
        paths
    }
}

/// Sort `keys` by their high 32 bits, stably (least significant digit
/// first, 16 bits a pass): equal high halves keep their order.
pub(crate) fn radix_by_high_half(keys: &mut Vec<u64>) {
    let mut other = vec![0u64; keys.len()];
    for shift in [32, 48] {
        let mut start = vec![0usize; 1 << 16];
        for &x in keys.iter() {
            start[(x >> shift) as usize & 0xffff] += 1;
        }
        let mut sum = 0;
        for c in start.iter_mut() {
            let here = *c;
            *c = sum;
            sum += here;
        }
        for &x in keys.iter() {
            let d = (x >> shift) as usize & 0xffff;
            other[start[d]] = x;
            start[d] += 1;
        }
        std::mem::swap(keys, &mut other);
    }
}

/// Whether tainted event `t` (sent by `sender` in transaction `tx`)
/// starts an account-model evidence path: a seed sends it, or it belongs
/// to a seed transaction and is at hop 0. The report's walk and the walk
/// across workers (`dataflow::evidence`) both stop there.
pub fn starts_path(t: &Tainted, sender: u32, tx: u32, is_seed: impl Fn(u32) -> bool, is_seed_tx: impl Fn(u32) -> bool) -> bool {
    is_seed(sender) || (tx != NO_TX && is_seed_tx(tx) && t.hop == 0)
}

/// One event as evidence names it: what anyone can check on an explorer.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct EventRef {
    /// Transaction hash, where the export has one.
    pub tx: Option<String>,
    /// Sender.
    pub from: String,
    /// Receiver.
    pub to: String,
    /// Block number (null for time-only data).
    pub block: Option<u64>,
    /// Block time, ISO 8601 UTC.
    pub time: Option<String>,
    /// Value moved, base units.
    pub value: String,
    /// The event's chain, where a path crosses chains (screening over
    /// several stores).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chain: Option<String>,
}

impl EventRef {
    /// Event `i` of a store.
    pub fn of(store: &Store, i: usize) -> Self {
        Self::of_row(store, &super::EventRow::at(store, i))
    }

    /// Events `events` of a store, in order.
    pub fn all_of(store: &Store, events: impl IntoIterator<Item = usize>) -> Vec<Self> {
        let ev = store.events();
        events.into_iter().map(|i| Self::of_row(store, &super::EventRow::at_in(store, &ev, i))).collect()
    }

    /// An event read where it is stored (`Outcome::evidence`), named with
    /// `store`'s address and transaction tables.
    pub fn of_row(store: &Store, r: &super::EventRow) -> Self {
        EventRef {
            tx: (r.tx != NO_TX).then(|| store.tx_text(r.tx)),
            from: store.address_text(r.from),
            to: store.address_text(r.to),
            block: (r.block != NO_BLOCK).then_some(r.block),
            time: (r.time != NO_TIME).then(|| crate::model::time::format_time(r.time)),
            value: crate::model::amount::Amount(r.value).to_string(),
            chain: None,
        }
    }
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
