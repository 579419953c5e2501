//! Stop rules from the store's labels (`--stop-at`, the zero address),
//! per address id, with their validity intervals; the id-keyed map they live in.

use super::types::TraceError;
use crate::model::NO_TIME;
use crate::store::Store;
use std::collections::HashMap;
use std::sync::Arc;

/// A stop from a label row. The row stays text, a range of the store's
/// label rows that every rule shares: a trace stopping at tens of thousands
/// of labelled addresses builds no strings for them, only for the ones taint
/// reaches (see [`Outcome::absorb`](super::types::Outcome)).
#[derive(Clone)]
pub(crate) struct StopRule {
    pub(super) from: Option<i64>,
    pub(super) to: Option<i64>,
    text: Arc<str>,
    row: (u32, u32),
}

impl StopRule {
    /// Where a bridge holds a deposit it does not pay out (TRACING.md §7):
    /// a destination of category `bridge`, named by the bridge and why.
    pub(super) fn bridge(bridge: &str, status: &str) -> StopRule {
        let entity = super::bridges::entity(bridge);
        let row = format!("\tbridge\t{entity} ({status})\t\t\t{entity}\t\t\t\t");
        StopRule { from: None, to: None, row: (0, row.len() as u32), text: row.into() }
    }

    fn fields(&self) -> ([&str; 10], usize) {
        crate::labels::tsv_fields(&self.text[self.row.0 as usize..self.row.1 as usize]).expect("a label row, read when the rule was made")
    }

    /// The label's category, name ("Binance 14") and entity.
    pub(super) fn names(&self) -> (String, String, String) {
        let (f, n) = self.fields();
        (f[1].to_string(), f[2].to_string(), crate::labels::tsv_entity(&f, n))
    }
}

/// A map keyed by address id. The ids are dense and not chosen by an
/// adversary, so a multiply-shift hash does, at a fraction of SipHash's cost
/// in the sweep's per-event lookups. Kept over rustc-hash's FxHash (issue
/// 13): with it the sparse fifo and poison sweeps of `cargo bench --bench
/// kernels` ran 3-4% slower, and a map-only loop over dense ids 4% slower
/// (1.7x over ids with a stride), since `id * K` spreads dense ids over the
/// low bits without collisions.
pub type IdMap<V> = HashMap<u32, V, std::hash::BuildHasherDefault<IdHasher>>;

/// Fibonacci hashing of one `u32` (see [`IdMap`]).
#[derive(Default, Clone, Copy)]
pub struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_u32(&mut self, i: u32) {
        self.0 = (self.0 ^ u64::from(i)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
    fn write_u64(&mut self, i: u64) {
        // The map's buckets go by the product's low bits, which depend only
        // on the key's low bits: a pair packed as `a << 32 | b` would fall
        // in `b`'s bucket for every `a` (the flow's pairs into one hub took
        // 1.7 s at 10^7 events). The high half is folded in first; a key
        // below 2^32 hashes as before.
        let i = i ^ (i >> 32).wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
        self.0 = (self.0 ^ i).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// Stop rules per address id from the store's labels.
pub(crate) fn stop_rules(store: &Store, stop_at: &[String], unit: &dyn Fn(u32) -> u32) -> Result<IdMap<Vec<StopRule>>, TraceError> {
    let mut rules: IdMap<Vec<StopRule>> = IdMap::default();
    if store.manifest.chain.is_account()
        && let Some(zero) = store.find_address("0x0000000000000000000000000000000000000000")
    {
        let row = "\tburn\tNull address\t\t\t\t\t\t\t";
        rules.entry(zero).or_default().push(StopRule { from: None, to: None, text: row.into(), row: (0, row.len() as u32) });
    }
    if stop_at.is_empty() {
        return Ok(rules);
    }
    // A handful of categories: a list scan beats hashing each row's.
    let want: Vec<&str> = stop_at.iter().map(String::as_str).collect();
    // Every trace with `--stop-at` reads the labels, so this reads a stored
    // row only as far as it must: its category, then the address's id, and
    // builds the full label only to order an address's several labels.
    let text: Arc<str> = String::from_utf8_lossy(store.label_rows()).into();
    // (unit, row number, row's range in `text`, validity interval)
    type Row = (u32, u32, (u32, u32), Option<i64>, Option<i64>);
    let mut rows: Vec<Row> = Vec::with_capacity(text.len() / 64);
    let mut bounded = None;
    let mut at = 0usize;
    for (k, line) in text.split('\n').enumerate() {
        let row = (at as u32, (at + line.len()) as u32);
        at += line.len() + 1;
        let Some((f, _)) = crate::labels::tsv_fields(line) else { continue };
        if !want.contains(&f[1]) {
            continue;
        }
        let (from, to) = (f[3].parse().ok(), f[4].parse().ok());
        if bounded.is_none() && (from.is_some() || to.is_some()) {
            bounded = Some(f[0]);
        }
        if let Some(id) = store.find_address(f[0]) {
            // Over clusters, a label on one member holds for its whole cluster.
            rows.push((unit(id), k as u32, row, from, to));
        }
    }
    // Only a validity interval needs event times; the scan is skipped otherwise.
    if let Some(address) = bounded
        && store.manifest.order_by != Some(crate::model::OrderBy::Time)
        && !store.events().any_time()
    {
        return Err(TraceError::Usage(format!(
            "label of {address} has a validity interval but the store has no event times; intervals need block times"
        )));
    }
    // The first rule that applies names the stop: an address's rules go in
    // the order of precedence of their labels, equal ones in the store's.
    rows.sort_unstable();
    rules.reserve(rows.len());
    let line = |r: (u32, u32)| &text[r.0 as usize..r.1 as usize];
    let rule = |r: &Row| StopRule { from: r.3, to: r.4, text: text.clone(), row: r.2 };
    for run in rows.chunk_by(|a, b| a.0 == b.0) {
        if run.len() > 1 {
            // A stable sort of rows in the store's order: equal labels keep it.
            let labels: Vec<_> = run.iter().map(|r| crate::labels::from_tsv_row(line(r.2)).expect("read above")).collect();
            let mut order: Vec<usize> = (0..run.len()).collect();
            order.sort_by(|&a, &b| crate::labels::precedence(&labels[a], &labels[b]));
            rules.entry(run[0].0).or_default().extend(order.into_iter().map(|k| rule(&run[k])));
        } else {
            // Not a push, which would make room for four.
            rules.entry(run[0].0).or_default().extend([rule(&run[0])]);
        }
    }
    Ok(rules)
}

pub(crate) fn stop_at_time(rules: &IdMap<Vec<StopRule>>, v: u32, time: i64) -> Option<&StopRule> {
    let t = (time != NO_TIME).then_some(time);
    rules.get(&v)?.iter().find(|r| crate::labels::within(r.from, r.to, t))
}
