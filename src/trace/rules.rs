//! Stop rules from the store's labels (`--stop-at`, the zero address),
//! per address id, with their validity intervals; the id-keyed map they live in.

use super::types::TraceError;
use crate::model::NO_TIME;
use crate::store::Store;
use std::collections::{HashMap, HashSet};

#[derive(Clone)]
pub(crate) struct StopRule {
    pub(super) from: Option<i64>,
    pub(super) to: Option<i64>,
    pub(super) category: String,
    pub(super) label: String,
    pub(super) entity: String,
}

impl StopRule {
    /// Where a bridge holds a deposit it does not pay out (TRACING.md §7):
    /// a destination of category `bridge`, named by the bridge and why.
    pub(super) fn bridge(bridge: &str, status: &str) -> StopRule {
        let entity = super::bridges::entity(bridge);
        StopRule { from: None, to: None, category: "bridge".into(), label: format!("{entity} ({status})"), entity: entity.into() }
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
        rules.entry(zero).or_default().push(StopRule {
            from: None,
            to: None,
            category: "burn".into(),
            label: "Null address".into(),
            entity: String::new(),
        });
    }
    if stop_at.is_empty() {
        return Ok(rules);
    }
    let want: HashSet<&str> = stop_at.iter().map(String::as_str).collect();
    let mut labels: Vec<_> = crate::labels::load(store).into_iter().filter(|l| want.contains(l.category.as_str())).collect();
    // The first rule that applies names the stop: the label of highest precedence.
    labels.sort_by(crate::labels::precedence);
    if labels.is_empty() {
        return Ok(rules);
    }
    let by_text = store.find_addresses(labels.iter().map(|l| l.address.as_str()));
    // Only a validity interval needs event times; the scan is skipped otherwise.
    let has_times =
        !labels.iter().any(|l| l.is_bounded()) || store.manifest.order_by == Some(crate::model::OrderBy::Time) || store.events().any_time();
    for l in labels {
        if l.is_bounded() && !has_times {
            return Err(TraceError::Usage(format!(
                "label of {} has a validity interval but the store has no event times; intervals need block times",
                l.address
            )));
        }
        if let Some(&id) = by_text.get(&l.address) {
            // Over clusters, a label on one member holds for its whole cluster.
            rules.entry(unit(id)).or_default().push(StopRule {
                from: l.valid_from,
                to: l.valid_to,
                entity: l.entity,
                category: l.category,
                label: l.label,
            });
        }
    }
    Ok(rules)
}

pub(crate) fn stop_at_time(rules: &IdMap<Vec<StopRule>>, v: u32, time: i64) -> Option<&StopRule> {
    let t = (time != NO_TIME).then_some(time);
    rules.get(&v)?.iter().find(|r| crate::labels::within(r.from, r.to, t))
}
