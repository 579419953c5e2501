//! Evidence paths (TRACING.md §5): chains of tainted events from a source to
//! the address they explain, keys strictly increasing, each carrying taint.

use super::Tainted;
use crate::model::{NO_BLOCK, NO_TIME, NO_TX};
use crate::store::Store;
use serde::Serialize;
use std::collections::HashMap;

/// Tainted events by receiving address, in key order.
pub struct Index<'a> {
    // Looked up, never iterated: a multiply for a hash, not SipHash (the
    // index of a large trace was 4-5% of its time).
    by_to: super::rules::IdMap<Vec<&'a Tainted>>,
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
        let mut by_to: super::rules::IdMap<Vec<&'a Tainted>> = Default::default();
        for t in tainted {
            by_to.entry(key(ev.receiver(t.event as usize))).or_default().push(t);
        }
        Index { by_to }
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
        let Some(arrivals) = self.by_to.get(&dest) else { return Vec::new() };
        let mut last: Vec<&Tainted> = arrivals.clone();
        last.sort_by(|a, b| b.x.cmp(&a.x).then(a.event.cmp(&b.event)));
        let mut paths = Vec::new();
        for &end in last.iter().take(k) {
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
                let prev = self
                    .by_to
                    .get(&sender)
                    .and_then(|v| v.iter().filter(|t| t.event < cur.event).max_by(|a, b| a.x.cmp(&b.x).then(b.event.cmp(&a.event))));
                match prev {
                    Some(p) => {
                        path.push(**p);
                        cur = **p;
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
