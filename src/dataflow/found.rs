//! What the workers of a sweep found, and how it is put together at
//! worker 0 into the single-process `Outcome` (so that the report code is
//! the same, byte for byte).

use crate::trace::{Destination, Outcome, Tainted, Traffic, Wide};
use ruint::aliases::U256;

/// Add later findings (a segment's, another worker's) to earlier ones.
/// Amounts add up and hops take the least; a destination keeps the label
/// of its first absorption by key.
pub(crate) fn merge(out: &mut Outcome, seg: Outcome) {
    out.seeded += seg.seeded;
    out.unknown_origin += seg.unknown_origin;
    out.fees += seg.fees;
    out.held_by_seeds += seg.held_by_seeds;
    out.visited += seg.visited;
    out.exchange.add(seg.exchange);
    for (k, d) in seg.destinations {
        match out.destinations.entry(k) {
            std::collections::btree_map::Entry::Occupied(mut e) => {
                let o = e.get_mut();
                o.amount += d.amount;
                o.hops = o.hops.min(d.hops);
                if d.first_event < o.first_event {
                    (o.first_event, o.category, o.label, o.entity) = (d.first_event, d.category, d.label, d.entity);
                }
            }
            std::collections::btree_map::Entry::Vacant(e) => {
                e.insert(d);
            }
        }
    }
    for (map, rows) in [(&mut out.dormant, seg.dormant), (&mut out.horizon, seg.horizon)] {
        for (k, (x, h)) in rows {
            let o = map.entry(k).or_insert((Wide::ZERO, h));
            o.0 += x;
            o.1 = o.1.min(h);
        }
    }
    out.tainted.extend(seg.tainted);
    out.pred.extend(seg.pred);
}

/// A destination on its way to worker 0: amount, hops, first event, and
/// category, label and entity.
type Stop = ([u64; 5], u32, u64, [String; 3]);

/// A worker's findings on their way to worker 0.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub(crate) struct Found {
    /// Seeded, unknown origin, fees, held by seeds.
    sums: [[u64; 5]; 4],
    destinations: Vec<(u32, Stop)>,
    dormant: Vec<(u32, [u64; 5], u32)>,
    horizon: Vec<(u32, [u64; 5], u32)>,
    /// (place in the single-process sweep's list, event, taint, hop).
    tainted: Vec<(u64, u64, [u64; 4], u32)>,
    pred: Vec<(u64, u64)>,
    visited: u64,
    exchange: Traffic,
}

impl Found {
    /// A worker's outcome; `place` orders its tainted events as the
    /// single-process sweep lists them.
    pub(crate) fn of(o: &Outcome, place: impl Fn(&Tainted) -> u64) -> Found {
        // The heap before this copy of the findings is made.
        let exchange = o.exchange.with_heap();
        Found {
            sums: [*o.seeded.as_limbs(), *o.unknown_origin.as_limbs(), *o.fees.as_limbs(), *o.held_by_seeds.as_limbs()],
            destinations: o
                .destinations
                .iter()
                .map(|(&k, d)| (k, (*d.amount.as_limbs(), d.hops, d.first_event, [d.category.clone(), d.label.clone(), d.entity.clone()])))
                .collect(),
            dormant: o.dormant.iter().map(|(&k, &(x, h))| (k, *x.as_limbs(), h)).collect(),
            horizon: o.horizon.iter().map(|(&k, &(x, h))| (k, *x.as_limbs(), h)).collect(),
            tainted: o.tainted.iter().map(|t| (place(t), t.event, *t.x.as_limbs(), t.hop)).collect(),
            pred: o.pred.iter().map(|(&a, &b)| (a, b)).collect(),
            visited: o.visited,
            exchange,
        }
    }
}

/// The workers' findings as one outcome, tainted events in the
/// single-process sweep's order; `seed_stop_warnings` as given.
pub(crate) fn outcome(parts: Vec<Found>, seed_stop_warnings: Vec<u32>) -> Outcome {
    let w = Wide::from_limbs;
    let mut out = Outcome::default();
    let mut tainted = Vec::new();
    for f in parts {
        tainted.extend(f.tainted);
        merge(
            &mut out,
            Outcome {
                seeded: w(f.sums[0]),
                unknown_origin: w(f.sums[1]),
                fees: w(f.sums[2]),
                held_by_seeds: w(f.sums[3]),
                destinations: f
                    .destinations
                    .into_iter()
                    .map(|(k, (x, hops, first_event, [category, label, entity]))| {
                        (k, Destination { amount: w(x), hops, first_event, category, label, entity })
                    })
                    .collect(),
                dormant: f.dormant.into_iter().map(|(k, x, h)| (k, (w(x), h))).collect(),
                horizon: f.horizon.into_iter().map(|(k, x, h)| (k, (w(x), h))).collect(),
                pred: f.pred.into_iter().collect(),
                visited: f.visited,
                exchange: f.exchange,
                ..Outcome::default()
            },
        );
    }
    tainted.sort_unstable_by_key(|t| (t.0, t.1));
    out.tainted = tainted.into_iter().map(|(_, event, x, hop)| Tainted { event, x: U256::from_limbs(x), hop }).collect();
    out.seed_stop_warnings = seed_stop_warnings;
    out.sweep_heap_bytes = crate::sys::anon_rss_bytes().unwrap_or(0);
    out
}

/// The outcomes of a run's questions, from every worker's findings for
/// each (`results`, one a worker), with each question's seed stop
/// warnings: process 0 gets them, the others `None`.
pub(crate) fn outcomes(
    results: Vec<Result<Vec<Vec<Found>>, String>>,
    warnings: Vec<Vec<u32>>,
    first: bool,
) -> Result<Option<Vec<Outcome>>, super::DataflowError> {
    let mut per_question: Vec<Vec<Found>> = vec![Vec::new(); warnings.len()];
    for r in results {
        for (k, found) in r.map_err(super::DataflowError::Worker)?.into_iter().enumerate() {
            per_question[k].extend(found);
        }
    }
    if !first {
        return Ok(None);
    }
    Ok(Some(per_question.into_iter().zip(warnings).map(|(parts, w)| outcome(parts, w)).collect()))
}
