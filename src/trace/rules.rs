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

/// Stop rules per address id: each address's rules side by side in one
/// list, in their order of precedence. One list, not a vector per address:
/// a trace stopping at every exchange deposit address of a 10^7-event set
/// made 309,000 of them.
#[derive(Default)]
pub(crate) struct Rules {
    /// Per address, its place in `ranges`.
    at: IdMap<u32>,
    /// (address, first rule, end of its rules), by address.
    ranges: Vec<(u32, u32, u32)>,
    list: Vec<StopRule>,
}

impl Rules {
    /// The rules of address `id`, first to apply first.
    #[inline]
    pub(crate) fn get(&self, id: &u32) -> Option<&[StopRule]> {
        self.at.get(id).map(|&k| {
            let (_, s, e) = self.ranges[k as usize];
            &self.list[s as usize..e as usize]
        })
    }

    /// Whether address `id` has a rule.
    #[inline]
    pub(crate) fn contains_key(&self, id: &u32) -> bool {
        self.at.contains_key(id)
    }

    /// The addresses with rules, in id order.
    pub(crate) fn keys(&self) -> impl Iterator<Item = &u32> {
        self.ranges.iter().map(|r| &r.0)
    }

    /// Each address with its rules, in id order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&u32, &[StopRule])> {
        self.ranges.iter().map(|r| (&r.0, &self.list[r.1 as usize..r.2 as usize]))
    }

    /// The first rule of each of `ids` (ascending), found by one walk
    /// beside the list instead of a lookup each.
    pub(crate) fn firsts(&self, ids: impl Iterator<Item = u32>) -> Vec<Option<&StopRule>> {
        let mut k = 0usize;
        ids.map(|id| {
            k += self.ranges[k..].partition_point(|r| r.0 < id);
            self.ranges.get(k).filter(|r| r.0 == id && r.1 < r.2).map(|r| &self.list[r.1 as usize])
        })
        .collect()
    }

    /// Add address `id`'s rules (`id` above every id added before).
    fn push(&mut self, id: u32, rules: impl IntoIterator<Item = StopRule>) {
        let start = self.list.len();
        self.list.extend(rules);
        let k = u32::try_from(self.ranges.len()).expect("fewer than 2^32 addresses");
        self.ranges.push((id, start as u32, u32::try_from(self.list.len()).expect("fewer than 2^32 stop rules")));
        self.at.insert(id, k);
    }
}

impl std::ops::Index<&u32> for Rules {
    type Output = [StopRule];
    fn index(&self, id: &u32) -> &[StopRule] {
        self.get(id).expect("an address with stop rules")
    }
}

impl<'a> IntoIterator for &'a Rules {
    type Item = (&'a u32, &'a [StopRule]);
    type IntoIter = Box<dyn Iterator<Item = (&'a u32, &'a [StopRule])> + 'a>;
    fn into_iter(self) -> Self::IntoIter {
        Box::new(self.iter())
    }
}

const ZERO_ADDRESS: &str = "0x0000000000000000000000000000000000000000";

fn null_rule() -> StopRule {
    let row = "\tburn\tNull address\t\t\t\t\t\t\t";
    StopRule { from: None, to: None, text: row.into(), row: (0, row.len() as u32) }
}

/// (unit, row's range in the label text, validity interval); a row's
/// start orders rows as the store holds them.
type Row = (u32, (u32, u32), Option<i64>, Option<i64>);

/// What of a question's stop labels named no address of the store when
/// its rules were made: an append can bring the address in (a sweep that
/// runs on between appends, [`super::account::Running`]).
#[derive(Default)]
pub(crate) struct Unresolved {
    /// The store's label rows.
    text: Option<Arc<str>>,
    /// Rows of a category asked for whose address is not in the store,
    /// as found (moved to `by_address` at the first [`Unresolved::resolve`]:
    /// a trace that does not run on does not pay for the map).
    rows: Vec<(u32, u32)>,
    /// Those rows by the address's bytes as the store keeps them: an
    /// append's new addresses are looked up here, not every row again.
    by_address: HashMap<Vec<u8>, Vec<(u32, u32)>>,
    /// The zero address (a stop whatever the categories) is not in it.
    zero: bool,
    /// Addresses the store had when last looked at.
    known: u32,
}

impl Unresolved {
    /// Add to `rules` the rows whose address `store` now has, and return
    /// their addresses, ascending; the rows still unresolved stay. `None`:
    /// an address found is not above every address with rules (not a pure
    /// append), so the rules must be made again. Cost: the addresses added
    /// since the last call.
    pub(crate) fn resolve(&mut self, store: &Store, rules: &mut Rules) -> Option<Vec<u32>> {
        let n = store.address_count() as u32;
        if n <= self.known {
            return Some(Vec::new());
        }
        let from = std::mem::replace(&mut self.known, n);
        if let Some(text) = &self.text {
            for m in std::mem::take(&mut self.rows) {
                // A text that is no address of the chain can never become one.
                let Some((f, _)) = crate::labels::tsv_fields(&text[m.0 as usize..m.1 as usize]) else { continue };
                let key = if store.manifest.chain.is_account() {
                    match crate::model::text::eth_address("address", f[0].as_bytes()) {
                        Ok(a) => a.to_vec(),
                        Err(_) => continue,
                    }
                } else {
                    f[0].as_bytes().to_vec()
                };
                self.by_address.entry(key).or_default().push(m);
            }
        }
        let zero = if self.zero { store.find_address(ZERO_ADDRESS) } else { None };
        self.zero &= zero.is_none();
        let mut rows: Vec<Row> = Vec::new();
        if let Some(text) = &self.text
            && !self.by_address.is_empty()
        {
            for id in from..n {
                for r in self.by_address.remove(store.address_bytes(id)).unwrap_or_default() {
                    let Some((f, _)) = crate::labels::tsv_fields(&text[r.0 as usize..r.1 as usize]) else { continue };
                    rows.push((id, r, f[3].parse().ok(), f[4].parse().ok()));
                }
            }
        }
        if rows.is_empty() && zero.is_none() {
            return Some(Vec::new());
        }
        rows.sort_unstable();
        let last = rules.ranges.last().map(|r| r.0);
        let lowest = rows.first().map(|r| r.0).into_iter().chain(zero).min().expect("a row or the zero address");
        if last.is_some_and(|l| lowest <= l) {
            return None;
        }
        let text = self.text.clone().unwrap_or_else(|| "".into());
        add_rows(rules, &rows, &text, zero);
        let mut ids: Vec<u32> = rows.iter().map(|r| r.0).chain(zero).collect();
        ids.sort_unstable();
        ids.dedup();
        Some(ids)
    }
}

/// Stop rules per address id from the store's labels.
pub(crate) fn stop_rules(store: &Store, stop_at: &[String], unit: &(dyn Fn(u32) -> u32 + Sync)) -> Result<Rules, TraceError> {
    stop_rules_and_unresolved(store, stop_at, unit).map(|r| r.0)
}

/// [`stop_rules`], and the label rows that named no address of the store.
pub(crate) fn stop_rules_and_unresolved(
    store: &Store,
    stop_at: &[String],
    unit: &(dyn Fn(u32) -> u32 + Sync),
) -> Result<(Rules, Unresolved), TraceError> {
    use rayon::prelude::*;
    let zero = if store.manifest.chain.is_account() { store.find_address(ZERO_ADDRESS) } else { None };
    let mut unresolved = Unresolved {
        zero: store.manifest.chain.is_account() && zero.is_none(),
        known: store.address_count() as u32,
        ..Unresolved::default()
    };
    let mut rules = Rules::default();
    if stop_at.is_empty() {
        if let Some(z) = zero {
            rules.push(z, [null_rule()]);
        }
        return Ok((rules, unresolved));
    }
    // A handful of categories: a list scan beats hashing each row's.
    let want: Vec<&str> = stop_at.iter().map(String::as_str).collect();
    // Every trace with `--stop-at` reads the labels, so this reads a stored
    // row only as far as it must: its category, then the address's id, and
    // builds the full label only to order an address's several labels.
    let text: Arc<str> = String::from_utf8_lossy(store.label_rows()).into();
    // A rule names its row by 32-bit offsets.
    if u32::try_from(text.len()).is_err() {
        return Err(TraceError::Usage(format!("the store's label rows are {} bytes; stop rules read at most 4 GiB of them", text.len())));
    }
    store.prepare_address_lookups(text.len() / 64);
    // Read in slices on the pool, each from a row's start: a lookup in the
    // address index is a miss or two a row.
    let cuts = {
        let b = text.as_bytes();
        let pieces = (b.len() / (1 << 16)).clamp(1, 256);
        let mut cuts: Vec<usize> = (0..pieces).map(|k| b.len() * k / pieces).collect();
        for c in cuts.iter_mut().skip(1) {
            *c = b[*c..].iter().position(|&x| x == b'\n').map_or(b.len(), |p| *c + p + 1);
        }
        cuts.push(b.len());
        cuts.dedup();
        cuts
    };
    type Read<'t> = (Vec<Row>, Option<&'t str>, Vec<(u32, u32)>);
    let read: Vec<Read> = cuts
        .par_windows(2)
        .map(|w| {
            let mut rows = Vec::new();
            let mut missing = Vec::new();
            let mut bounded = None;
            let mut at = w[0];
            for line in text[w[0]..w[1]].split_terminator('\n') {
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
                match store.find_address(f[0]) {
                    // Over clusters, a label on one member holds for its whole cluster.
                    Some(id) => rows.push((unit(id), row, from, to)),
                    None => missing.push(row),
                }
            }
            (rows, bounded, missing)
        })
        .collect();
    let bounded = read.iter().find_map(|r| r.1);
    // Only a validity interval needs event times; the scan is skipped otherwise.
    if let Some(address) = bounded
        && store.manifest.order_by != Some(crate::model::OrderBy::Time)
        && !store.events().any_time()
    {
        return Err(TraceError::Usage(format!(
            "label of {address} has a validity interval but the store has no event times; intervals need block times"
        )));
    }
    let mut rows: Vec<Row> = Vec::with_capacity(read.iter().map(|r| r.0.len()).sum());
    for (r, _, missing) in read {
        rows.extend(r);
        unresolved.rows.extend(missing);
    }
    // The first rule that applies names the stop: an address's rules go in
    // the order of precedence of their labels, equal ones in the store's.
    rows.par_sort_unstable();
    rules.at.reserve(rows.len() + 1);
    rules.list.reserve(rows.len() + 1);
    add_rows(&mut rules, &rows, &text, zero);
    unresolved.text = Some(text);
    Ok((rules, unresolved))
}

/// Add the rules of `rows` (sorted, every address above those `rules`
/// has) and the zero address's, to `rules`.
fn add_rows(rules: &mut Rules, rows: &[Row], text: &Arc<str>, zero: Option<u32>) {
    let line = |r: (u32, u32)| &text[r.0 as usize..r.1 as usize];
    let rule = |r: &Row| StopRule { from: r.2, to: r.3, text: text.clone(), row: r.1 };
    // The zero address's own rule comes before its labels.
    let mut zero = zero;
    for run in rows.chunk_by(|a, b| a.0 == b.0) {
        let id = run[0].0;
        if let Some(z) = zero.filter(|&z| z < id) {
            rules.push(z, [null_rule()]);
            zero = None;
        }
        let first = (zero == Some(id)).then(|| {
            zero = None;
            null_rule()
        });
        if run.len() > 1 {
            // A stable sort of rows in the store's order: equal labels keep it.
            let labels: Vec<_> = run.iter().map(|r| crate::labels::from_tsv_row(line(r.1)).expect("read above")).collect();
            let mut order: Vec<usize> = (0..run.len()).collect();
            order.sort_by(|&a, &b| crate::labels::precedence(&labels[a], &labels[b]));
            rules.push(id, first.into_iter().chain(order.into_iter().map(|k| rule(&run[k]))));
        } else {
            rules.push(id, first.into_iter().chain([rule(&run[0])]));
        }
    }
    if let Some(z) = zero {
        rules.push(z, [null_rule()]);
    }
}

pub(crate) fn stop_at_time(rules: &Rules, v: u32, time: i64) -> Option<&StopRule> {
    let t = (time != NO_TIME).then_some(time);
    rules.get(&v)?.iter().find(|r| crate::labels::within(r.from, r.to, t))
}

/// The stop labels of a question as its sweep reads them: which label, if
/// any, makes an address a stop at a given time. Alerts (`watch`) name the
/// stop that taint arrived at with it, so that they agree with the trace.
pub struct StopLabels {
    pub(super) rules: Rules,
    clusters: Option<Arc<crate::cluster::Clustering>>,
}

impl StopLabels {
    /// The stops of question `spec` in `store`.
    pub fn new(store: &Store, spec: &super::Spec) -> Result<Self, TraceError> {
        Ok(StopLabels { rules: stop_rules(store, &spec.stop_at, &|a| spec.unit(a))?, clusters: spec.clusters.clone() })
    }

    /// Stops by address id alone (no clusters), from `rules`.
    pub(super) fn of_addresses(rules: Rules) -> Self {
        StopLabels { rules, clusters: None }
    }

    /// The category and label that make `address` a stop at `time`
    /// (`NO_TIME`: none known).
    pub fn at(&self, address: u32, time: i64) -> Option<(String, String)> {
        let unit = self.clusters.as_ref().map_or(address, |c| c.rep(address));
        stop_at_time(&self.rules, unit, time).map(|r| {
            let (category, label, _) = r.names();
            (category, label)
        })
    }
}
