//! What the workers of a sweep found, and how it is put together at
//! worker 0 into the single-process `Outcome` (so that the report code is
//! the same, byte for byte).

use crate::trace::flow::{Edge, Flow};
use crate::trace::{Destination, FirstBy, Outcome, Tainted, Traffic, Wide};

/// Add later findings (a segment's, another worker's) to earlier ones.
/// Amounts add up and hops take the least; a destination keeps the label
/// of its first absorption by key.
pub(crate) fn merge(out: &mut Outcome, seg: Outcome) {
    out.add(seg, FirstBy::Event);
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
    /// The tainted events, each worker's in its own order (event order on
    /// the account model).
    tainted: Vec<Tainted>,
    /// Each one's place in the single-process sweep's list; empty where
    /// the event orders them.
    places: Vec<u64>,
    pred: std::collections::HashMap<u64, u64>,
    visited: u64,
    exchange: Traffic,
    /// Whether the evidence paths were walked where the events are
    /// (`super::evidence`): then `tainted` is empty, and these are the
    /// steps found and the destinations' first arrivals.
    walked: bool,
    steps: Vec<super::evidence::Step>,
    firsts: Vec<(u32, u64, i64)>,
    /// This worker's taint flow, cut to what the report keeps.
    flow: Option<FlowWire>,
}

/// A worker's flow on its way to worker 0: its edges (sender, receiver,
/// hop, taint, events, transactions) and the rest (edges, events, taint).
type FlowWire = (Vec<(u32, u32, u32, [u64; 5], u64, Vec<u32>)>, (u64, u64, [u64; 5]));

fn flow_wire(f: Flow) -> FlowWire {
    (
        f.edges.into_iter().map(|e| (e.from, e.to, e.hop, *e.taint.as_limbs(), e.events, e.txs.to_vec())).collect(),
        (f.rest_edges, f.rest_events, *f.rest_taint.as_limbs()),
    )
}

fn flow_of(w: FlowWire) -> Flow {
    Flow {
        edges: w
            .0
            .into_iter()
            .map(|(from, to, hop, taint, events, txs)| Edge {
                from,
                to,
                hop,
                taint: Wide::from_limbs(taint),
                events,
                txs: txs.into_iter().collect(),
            })
            .collect(),
        rest_edges: w.1.0,
        rest_events: w.1.1,
        rest_taint: Wide::from_limbs(w.1.2),
    }
}

impl Found {
    /// A worker's outcome, its tainted events moved as they are, not
    /// copied (on a large trace they are most of the heap); ordered by
    /// event at worker 0 unless [`Found::placed`] gives their places.
    pub(crate) fn of(o: &mut Outcome) -> Found {
        // The heap before anything is copied.
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
            tainted: std::mem::take(&mut o.tainted),
            places: Vec::new(),
            pred: std::mem::take(&mut o.pred),
            visited: o.visited,
            exchange,
            walked: false,
            steps: Vec::new(),
            firsts: Vec::new(),
            flow: None,
        }
    }

    /// What a walk of the evidence starts from: the tainted events, moved
    /// out; each destination with its first absorbed arrival; and the
    /// destinations whose paths are walked. With `top`, only this worker's
    /// `top` destinations first in report order (amount, then `text` of
    /// the address): the report's first `top` are among the workers' (a
    /// destination's absorptions are all its owner's), and the report
    /// keeps those.
    pub(crate) fn walk_inputs(&mut self, top: Option<usize>, text: impl Fn(u32) -> String) -> (Vec<Tainted>, Vec<(u32, u64)>, Vec<u32>) {
        let dests: Vec<(u32, u64)> = self.destinations.iter().map(|(d, s)| (*d, s.2)).collect();
        let ends = match top.filter(|&n| n < dests.len()) {
            None => dests.iter().map(|d| d.0).collect(),
            Some(n) => {
                let mut ranked: Vec<(Wide, String, u32)> =
                    self.destinations.iter().map(|(d, s)| (Wide::from_limbs(s.0), text(*d), *d)).collect();
                ranked.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
                ranked.into_iter().take(n).map(|r| r.2).collect()
            }
        };
        (std::mem::take(&mut self.tainted), dests, ends)
    }

    /// These findings with the evidence walked where the events are, and
    /// this worker's flow.
    pub(crate) fn with_walk(self, (steps, firsts): super::evidence::Walked, flow: Option<Flow>) -> Found {
        Found { walked: true, steps, firsts, flow: flow.map(flow_wire), ..self }
    }

    /// [`Found::of`], with `places` (one a tainted event, in the same
    /// order) ordering the tainted events as the single-process sweep
    /// lists them.
    pub(crate) fn placed(o: &mut Outcome, places: Vec<u64>) -> Found {
        // A place short would drop tainted events from the report unseen.
        assert_eq!(places.len(), o.tainted.len(), "a place for each tainted event");
        Found { places, ..Found::of(o) }
    }
}

/// The workers' findings as one outcome, tainted events in the
/// single-process sweep's order; `seed_stop_warnings` as given.
pub(crate) fn outcome(parts: Vec<Found>, seed_stop_warnings: Vec<u32>) -> Outcome {
    let w = Wide::from_limbs;
    let mut out = Outcome::default();
    // Places are appended in the order merge appends the tainted events.
    let mut places: Vec<u64> = Vec::new();
    let (mut walked, mut steps, mut firsts) = (false, Vec::new(), Vec::new());
    let mut flows: Option<Vec<Flow>> = None;
    for mut f in parts {
        if let Some(w) = f.flow.take() {
            flows.get_or_insert_with(Vec::new).push(flow_of(w));
        }
        places.append(&mut f.places);
        walked |= f.walked;
        steps.append(&mut f.steps);
        firsts.append(&mut f.firsts);
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
                tainted: f.tainted,
                pred: f.pred,
                visited: f.visited,
                exchange: f.exchange,
                ..Outcome::default()
            },
        );
    }
    let mut tainted = std::mem::take(&mut out.tainted);
    if places.is_empty() {
        // Each worker's list is in event order already: a stable sort
        // merges the runs instead of sorting afresh, and one worker's list
        // needs no sort (nor the sort's buffer).
        if !tainted.is_sorted_by_key(|t| t.event) {
            tainted.sort_by_key(|t| t.event);
        }
    } else if !places.windows(2).zip(tainted.windows(2)).all(|(p, t)| (p[0], t[0].event) <= (p[1], t[1].event)) {
        // Sorted only when the gathered list is not in place order already.
        let mut both: Vec<(u64, Tainted)> = places.into_iter().zip(tainted).collect();
        both.sort_by_key(|(p, t)| (*p, t.event));
        tainted = both.into_iter().map(|x| x.1).collect();
    }
    out.tainted = tainted;
    if walked {
        out.evidence = Some(super::evidence::assemble(steps, firsts));
    }
    out.flow = flows;
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
