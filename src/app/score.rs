//! Scoring a trace of the generated world against the truth written beside
//! it (`swap_destinations_truth.csv`): how much of the value laundered
//! through the hack's swaps each trace carried on the planted deliveries.
//! Used by `tests/synth_world.rs` and `benches/follow.rs`.

use crate::store::Store;
use crate::trace::follow::{Arrival, Followed};
use crate::trace::{Outcome, Wide};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// The planted deliveries and what two traces carried on them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Planted {
    /// Deliveries of swapped ether into exchanges and the mixer.
    pub deliveries: usize,
    /// Their value, wei.
    pub value: Wide,
    /// The taint the `--follow swaps` trace carried on them (ETH).
    pub by_cross: Wide,
    /// The taint the single-asset trace carried on them.
    pub by_single: Wide,
}

/// The rows of a truth CSV (the world writes no quoted fields), by header.
pub fn truth_rows(path: &Path) -> std::io::Result<Vec<BTreeMap<String, String>>> {
    let text = std::fs::read_to_string(path)?;
    let mut lines = text.lines();
    let head: Vec<&str> = lines.next().unwrap_or("").split(',').collect();
    Ok(lines.map(|l| head.iter().map(|h| h.to_string()).zip(l.split(',').map(str::to_string)).collect()).collect())
}

/// Score two traces with evidence logs against `swap_destinations_truth.csv`.
pub fn planted(store: &Store, deliveries_truth: &Path, cross: &Followed, single: &Outcome) -> std::io::Result<Planted> {
    let rows = truth_rows(deliveries_truth)?;
    let bad = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{}: {what}", deliveries_truth.display()));
    let mut wanted: HashMap<(String, String), Wide> = HashMap::new();
    let mut value = Wide::ZERO;
    for d in &rows {
        let (Some(tx), Some(to), Some(v)) = (d.get("transaction_hash"), d.get("to_address"), d.get("value")) else {
            return Err(bad("a row without transaction_hash, to_address or value"));
        };
        let v: Wide = v.parse().map_err(|_| bad("a value that is not an integer"))?;
        value += v;
        wanted.insert((tx.clone(), to.clone()), v);
    }
    // The planted events: found by transaction, receiver and value.
    let ev = store.events();
    let mut events: HashMap<u64, Wide> = HashMap::new();
    for i in 0..store.len() {
        if ev.tx(i) == crate::model::NO_TX {
            continue;
        }
        if let Some(&v) = wanted.get(&(store.tx_text(ev.tx(i)), store.address_text(ev.receiver(i))))
            && Wide::from(store.value(i).0) == v
        {
            events.insert(i as u64, v);
        }
    }
    if events.len() != rows.len() {
        return Err(bad(&format!("{} deliveries, {} of them found in the store", rows.len(), events.len())));
    }
    let by_cross = cross
        .arrivals
        .iter()
        .filter_map(|a| match a {
            Arrival::Event { event, asset: 0, x, .. } if events.contains_key(event) => Some(Wide::from(*x)),
            _ => None,
        })
        .fold(Wide::ZERO, |a, b| a + b);
    let by_single = single.tainted.iter().filter(|e| events.contains_key(&e.event)).fold(Wide::ZERO, |a, e| a + Wide::from(e.x));
    Ok(Planted { deliveries: rows.len(), value, by_cross, by_single })
}
