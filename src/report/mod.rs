//! Trace reports: the JSON contract of INTERFACE.md, CSV, and a table for people.

pub mod dot;
pub mod export;
pub mod follow;
pub mod html;
pub mod multi;
pub mod parquet;
pub mod sankey;

use crate::model::amount::WideSum;
use crate::model::tokens::Book;
use crate::model::{Chain, NO_BLOCK, NO_TIME};
use crate::store::Store;
use crate::trace::evidence::EventRef;
use crate::trace::{Destination, Outcome, Policy, Spec, Tainted, evidence};
use rayon::prelude::*;
use serde::Serialize;
use std::collections::HashSet;

/// One step of a trace's evidence path: the event and the taint it carried.
/// Under `--follow` a step through a conversion is the conversion object of
/// INTERFACE.md; its `event` then reads payer to payee, the value and taint
/// those of the asset bought, so every renderer can draw it as an edge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// The event.
    pub event: EventRef,
    /// Taint carried, base units.
    pub taint: String,
    /// Under `--follow`: the step's asset.
    pub asset: Option<String>,
    /// Under `--follow`: the conversion this step went through.
    pub conversion: Option<Box<ConversionRow>>,
}

impl Serialize for Step {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Plain<'a> {
            #[serde(flatten)]
            event: &'a EventRef,
            #[serde(skip_serializing_if = "Option::is_none")]
            asset: &'a Option<String>,
            taint: &'a str,
        }
        match &self.conversion {
            Some(c) => c.serialize(s),
            None => Plain { event: &self.event, asset: &self.asset, taint: &self.taint }.serialize(s),
        }
    }
}

/// A followed conversion that carried taint (INTERFACE.md, TRACING.md §7).
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct ConversionRow {
    /// The transaction.
    pub tx: String,
    /// `swap` (bridges: issue 16).
    pub kind: &'static str,
    /// Payer `u`.
    pub payer: String,
    /// Payee `r`.
    pub payee: String,
    /// The venue that emitted the first recognised swap log.
    pub venue: String,
    /// Asset sold.
    pub asset_in: String,
    /// `a`, base units.
    pub value_in: String,
    /// `x`: the payer's taint that left.
    pub taint_in: String,
    /// Asset bought.
    pub asset_out: String,
    /// `b`, base units.
    pub value_out: String,
    /// `y`: the taint the payee received.
    pub taint_out: String,
    /// The payout transaction of a bridge (`null` for a swap).
    pub to_tx: Option<String>,
    /// With several stores: the chain of `tx`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chain: Option<String>,
    /// With several stores: the chain of `to_tx` (of the payee).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to_chain: Option<String>,
    /// Matched by the conversion's own key (always, for a swap); `false`
    /// for a bridge link made by a heuristic (`--follow bridges-heuristic`).
    pub exact: bool,
    /// A heuristic link's score, in parts per million (1,000,000 best;
    /// `trace::bridges::renbridge_score`); absent for exact ones.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score: Option<u32>,
    /// Block.
    pub block: Option<u64>,
    /// Block time.
    pub time: Option<String>,
    /// Every venue, in log order.
    pub venues: Vec<String>,
    /// The payee's hop.
    pub hops: u32,
    /// `x * b / a - y`, exactly (`n/d` when not whole), in the asset bought.
    pub rounding: String,
}

/// An ambiguous conversion that taint reached (INTERFACE.md `unfollowed`).
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct UnfollowedRow {
    /// The transaction.
    pub tx: String,
    /// `swap`.
    pub kind: &'static str,
    /// `ambiguous`, or `seed` (a seed took part other than as payer or payee).
    pub status: &'static str,
    /// Block.
    pub block: Option<u64>,
    /// Block time.
    pub time: Option<String>,
    /// Its venues.
    pub venues: Vec<String>,
    /// The taint that stopped there: what its legs carried into its venues, by asset.
    pub taint: std::collections::BTreeMap<String, String>,
}

/// One asset's conservation terms under `--follow` (TRACING.md §7):
/// `seeded + converted_in = destinations + dormant + horizon + fees + converted_out`.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct AssetTotals {
    /// Taint created in this asset.
    pub seeded: String,
    /// Taint that arrived through followed conversions.
    pub converted_in: String,
    /// Absorbed by stops.
    pub destinations: String,
    /// Still held (the seeds' holdings included).
    pub dormant: String,
    /// Cut off by `--max-hops`.
    pub horizon: String,
    /// Paid as fees.
    pub fees: String,
    /// Taint that left through followed conversions.
    pub converted_out: String,
    /// Rounding of the conversions into this asset, each rounded away from
    /// zero to a whole base unit (each conversion's exact figure is its `rounding`).
    pub rounding: String,
    /// What the seeds still hold.
    pub held_by_seeds: String,
    /// Shortfall credited at seeds and tainted addresses.
    pub unknown_origin: String,
}

/// A destination in the report.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct DestinationRow {
    /// Address.
    pub address: String,
    /// With several stores: the address's chain.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chain: Option<String>,
    /// Under `--follow`: the asset of this row.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub asset: Option<String>,
    /// The label's name.
    pub label: Option<String>,
    /// The entity the address belongs to (Binance, Tornado Cash).
    pub entity: Option<String>,
    /// Category that absorbed.
    pub category: String,
    /// Taint absorbed.
    pub amount: String,
    /// Smallest hop.
    pub hops: u32,
    /// Block of the first absorbed arrival.
    pub first_block: Option<u64>,
    /// Time of the first absorbed arrival.
    pub first_time: Option<String>,
    /// Evidence paths, most taint first.
    pub paths: Vec<Vec<Step>>,
    /// Over clusters (`trace --cluster`): the addresses in the cluster this
    /// row stands for; `address` is its representative.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_size: Option<u32>,
}

/// Destinations of one entity together.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct EntityRow {
    /// Entity name (as the first of its destinations names it).
    pub entity: String,
    /// Under `--follow`: the asset (an entity has a row per asset).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub asset: Option<String>,
    /// Category of its largest destination.
    pub category: String,
    /// Taint absorbed by all its addresses.
    pub amount: String,
    /// Smallest hop over its addresses.
    pub hops: u32,
    /// Its destination addresses, most taint first (details in `destinations`).
    pub addresses: Vec<String>,
}

/// Which destinations a report walks evidence paths for (issue 18): the
/// `top` listed first (the largest), or all of them. A wide trace reaches
/// tens of thousands of destinations, and their paths were most of the
/// time and bytes of its report, where an investigator reads the largest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PathsFor {
    /// Every destination.
    All,
    /// The first `n` in report order.
    Top(usize),
}

impl PathsFor {
    /// The default: paths for the 100 largest destinations.
    pub const DEFAULT: PathsFor = PathsFor::Top(100);

    /// How many of `rows` destinations get paths.
    pub fn of(self, rows: usize) -> usize {
        match self {
            PathsFor::All => rows,
            PathsFor::Top(n) => n.min(rows),
        }
    }
}

impl std::str::FromStr for PathsFor {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s.eq_ignore_ascii_case("all") {
            return Ok(PathsFor::All);
        }
        s.parse().map(PathsFor::Top).map_err(|_| format!("{s:?}: expected a count of destinations or `all`"))
    }
}

impl std::fmt::Display for PathsFor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PathsFor::All => f.write_str("all"),
            PathsFor::Top(n) => write!(f, "{n}"),
        }
    }
}

impl Serialize for PathsFor {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            PathsFor::All => s.serialize_str("all"),
            PathsFor::Top(n) => s.serialize_u64(*n as u64),
        }
    }
}

impl<'de> serde::Deserialize<'de> for PathsFor {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(serde::Deserialize)]
        #[serde(untagged)]
        enum Given {
            Count(u64),
            Word(String),
        }
        match Given::deserialize(d)? {
            Given::Count(n) => usize::try_from(n).map(PathsFor::Top).map_err(serde::de::Error::custom),
            // JSON says a count as a number: the one word is `all`.
            Given::Word(w) if w == "all" => Ok(PathsFor::All),
            Given::Word(w) => Err(serde::de::Error::custom(format!("{w:?}: expected a count of destinations or \"all\""))),
        }
    }
}

/// The evidence a report carries: up to `each` paths a destination, for
/// the destinations `paths_for` names, and the `flow` edges that carried
/// most (0: no flow).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Paths {
    /// Paths a destination.
    pub each: usize,
    /// Which destinations.
    pub paths_for: PathsFor,
    /// Edges of the taint flow.
    pub flow: usize,
}

impl Paths {
    /// Every destination's `each` paths (what reports did before issue
    /// 18), and the default flow.
    pub fn all(each: usize) -> Self {
        Paths { each, paths_for: PathsFor::All, flow: crate::trace::flow::DEFAULT_EDGES }
    }

    /// The report's `paths_for` field: the limit, when paths are walked
    /// and limited.
    pub fn field(self) -> Option<PathsFor> {
        (self.each > 0 && self.paths_for != PathsFor::All).then_some(self.paths_for)
    }
}

/// The taint flow of a trace (issue 18): every event that carried taint,
/// added up per sender and receiver; the edges that carried most, most
/// first, and the rest summed.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct FlowView {
    /// The edges kept.
    pub edges: Vec<FlowRow>,
    /// What the edges left out carried.
    pub others: FlowRest,
}

/// The tainted events from one address to another.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct FlowRow {
    /// Sender.
    pub from: String,
    /// Receiver.
    pub to: String,
    /// The smallest hop of its events.
    pub hop: u32,
    /// Taint carried, base units.
    pub taint: String,
    /// Events that carried it.
    pub events: u64,
    /// The transactions of its largest events, most taint first.
    pub txs: Vec<String>,
}

/// The edges a flow leaves out.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct FlowRest {
    /// How many.
    pub edges: u64,
    /// Their events.
    pub events: u64,
    /// Their taint, base units.
    pub taint: String,
}

impl FlowView {
    /// A flow in the report's words.
    pub fn of(store: &Store, f: &crate::trace::flow::Flow, unit_text: impl Fn(u32) -> String) -> FlowView {
        FlowView {
            edges: f
                .edges
                .iter()
                .map(|e| FlowRow {
                    from: unit_text(e.from),
                    to: unit_text(e.to),
                    hop: e.hop,
                    taint: e.taint.to_string(),
                    events: e.events,
                    txs: e.txs.iter().map(|&t| store.tx_text(t)).collect(),
                })
                .collect(),
            others: FlowRest { edges: f.rest_edges, events: f.rest_events, taint: f.rest_taint.to_string() },
        }
    }
}

/// A dormant or horizon address.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct HolderRow {
    /// Address.
    pub address: String,
    /// With several stores: the address's chain.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chain: Option<String>,
    /// Under `--follow`: the asset of this row.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub asset: Option<String>,
    /// Amount.
    pub amount: String,
    /// Smallest hop.
    pub hops: u32,
    /// Over clusters: the addresses in the cluster this row stands for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_size: Option<u32>,
}

/// Totals.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Totals {
    /// Sum over destinations.
    pub destinations: String,
    /// Sum over dormant addresses plus what the seeds hold.
    pub dormant: String,
    /// Sum over horizon addresses.
    pub horizon: String,
    /// Taint paid as fees.
    pub fees: String,
    /// What the seeds still hold.
    pub held_by_seeds: String,
    /// Shortfall credited at seeds and tainted addresses.
    pub unknown_origin: String,
}

/// The trace report of INTERFACE.md.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Report {
    /// Policy.
    pub policy: Policy,
    /// Asset (`ETH`, `BTC` or a token contract).
    pub asset: String,
    /// Seed addresses, lowercase, sorted.
    pub seeds: Vec<String>,
    /// Seed transactions, lowercase, sorted.
    pub seed_txs: Vec<String>,
    /// Whether fees are in the data.
    pub fees_modelled: bool,
    /// Taint created.
    pub seeded: String,
    /// Absorbing addresses.
    pub destinations: Vec<DestinationRow>,
    /// Destinations aggregated by entity (those with a named entity).
    pub entities: Vec<EntityRow>,
    /// Still holding taint.
    pub dormant: Vec<HolderRow>,
    /// Cut off by `--max-hops`.
    pub horizon: Vec<HolderRow>,
    /// Totals.
    pub totals: Totals,
    /// Under `--follow`: each asset's conservation terms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub totals_by_asset: Option<std::collections::BTreeMap<String, AssetTotals>>,
    /// Under `--follow`: the followed conversions that carried taint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conversions: Option<Vec<ConversionRow>>,
    /// Under `--follow`: the conversions taint reached that were not followed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unfollowed: Option<Vec<UnfollowedRow>>,
    /// With `--follow bridges-heuristic`: how much taint crossed by
    /// heuristic links (absent when none was followed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub heuristic: Option<HeuristicTotals>,
    /// How many destinations, first in order, carry evidence paths (absent
    /// when all do, or none were asked for): the others' `paths` are empty.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paths_for: Option<PathsFor>,
    /// The taint flow (absent with `--flow-edges 0`, and under `--follow`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flow: Option<FlowView>,
}

/// The taint that crossed bridges by heuristic links (`exact: false`), per
/// asset: what left each deposit's asset and what arrived in each payout's.
#[derive(Clone, Debug, Serialize, PartialEq, Eq, Default)]
pub struct HeuristicTotals {
    /// Per asset in: the sum of the links' `taint_in`.
    pub taint_in: std::collections::BTreeMap<String, String>,
    /// Per asset out: the sum of the links' `taint_out`.
    pub taint_out: std::collections::BTreeMap<String, String>,
    /// The followed heuristic links that carried taint (rows of `conversions`).
    pub links: u64,
}

impl HeuristicTotals {
    /// The totals of the heuristic rows of `conversions`; `None` if there are none.
    pub fn of(conversions: &[ConversionRow]) -> Option<HeuristicTotals> {
        use ruint::aliases::U512;
        let rows: Vec<&ConversionRow> = conversions.iter().filter(|c| !c.exact).collect();
        if rows.is_empty() {
            return None;
        }
        let (mut taint_in, mut taint_out) = (std::collections::BTreeMap::new(), std::collections::BTreeMap::new());
        let add = |m: &mut std::collections::BTreeMap<String, U512>, asset: &str, v: &str| {
            let v: U512 = v.parse().unwrap_or_default();
            *m.entry(asset.to_string()).or_insert(U512::ZERO) += v;
        };
        for c in &rows {
            add(&mut taint_in, &c.asset_in, &c.taint_in);
            add(&mut taint_out, &c.asset_out, &c.taint_out);
        }
        let text = |m: std::collections::BTreeMap<String, U512>| m.into_iter().map(|(a, v)| (a, v.to_string())).collect();
        Some(HeuristicTotals { taint_in: text(taint_in), taint_out: text(taint_out), links: rows.len() as u64 })
    }
}

fn step(store: &Store, t: &Tainted) -> Step {
    Step { event: EventRef::of(store, t.event as usize), taint: t.x.to_string(), asset: None, conversion: None }
}

/// A step of a path walked where its events are (`Outcome::evidence`).
fn step_of_row(store: &Store, t: &Tainted, row: &crate::trace::EventRow) -> Step {
    Step { event: EventRef::of_row(store, row), taint: t.x.to_string(), asset: None, conversion: None }
}

/// On Bitcoin a step's sender is the address of the output the previous step
/// created, so consecutive steps link up (`to` of one is `from` of the next).
fn utxo_senders(store: &Store, mut steps: Vec<Step>) -> Vec<Step> {
    if store.manifest.chain == Chain::Bitcoin {
        for k in 1..steps.len() {
            steps[k].event.from = steps[k - 1].event.to.clone();
        }
    }
    steps
}

/// Rows by amount (largest first), then their text key.
pub(crate) fn sort_rows<T: Send>(rows: &mut [(WideSum, String, T)]) {
    rows.par_sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
}

/// Destinations (already in report order) with their amounts, grouped by
/// entity key; groups sorted like destinations, by amount then name.
pub(crate) fn entity_rows<'a>(dests: impl Iterator<Item = (&'a WideSum, &'a DestinationRow)>) -> Vec<EntityRow> {
    let mut groups: std::collections::HashMap<(String, Option<String>), (WideSum, EntityRow)> = std::collections::HashMap::new();
    // Destinations share a few entity names: each name's key is made once.
    let mut keys: std::collections::HashMap<&str, String> = std::collections::HashMap::new();
    for (amount, d) in dests {
        let Some(name) = &d.entity else { continue };
        let key = (keys.entry(name.as_str()).or_insert_with(|| crate::labels::entity_key(name)).clone(), d.asset.clone());
        let g = groups.entry(key).or_insert_with(|| {
            (
                WideSum::ZERO,
                EntityRow {
                    entity: name.clone(),
                    asset: d.asset.clone(),
                    category: d.category.clone(),
                    amount: String::new(),
                    hops: u32::MAX,
                    addresses: Vec::new(),
                },
            )
        });
        g.0 += *amount;
        g.1.hops = g.1.hops.min(d.hops);
        g.1.addresses.push(d.address.clone());
    }
    let mut rows: Vec<(WideSum, String, EntityRow)> = groups
        .into_values()
        .map(|(sum, mut row)| {
            row.amount = sum.to_string();
            let key = match &row.asset {
                Some(a) => format!("{}\0{a}", row.entity),
                None => row.entity.clone(),
            };
            (sum, key, row)
        })
        .collect();
    sort_rows(&mut rows);
    rows.into_iter().map(|r| r.2).collect()
}

/// Build the report of a trace.
pub fn build(store: &Store, spec: &Spec, out: &Outcome, seeds_text: &[String], seed_txs_text: &[String], paths: Paths) -> Report {
    // The flow adds up every tainted event: done beside the rows and paths.
    let (flow, report) =
        rayon::join(|| flow_view(store, spec, out, paths), || build_rows(store, spec, out, (seeds_text, seed_txs_text), paths));
    Report { flow, ..report }
}

/// The taint flow of a trace's outcome, `paths.flow` edges kept.
fn flow_view(store: &Store, spec: &Spec, out: &Outcome, paths: Paths) -> Option<FlowView> {
    let ev = store.events();
    (paths.flow > 0).then(|| {
        let text = |id: u32| store.address_text(id);
        let f = match &out.flow {
            Some(parts) => crate::trace::flow::Flow::join(parts.iter().cloned(), paths.flow, text),
            None => {
                let all = crate::trace::flow::edges(&out.tainted, |t| {
                    let i = t.event as usize;
                    // On Bitcoin the taint came from the output it spent
                    // (an account trace logs no spends: no hashing then).
                    let spent = if out.pred.is_empty() { None } else { out.pred.get(&t.event) };
                    let from = match spent {
                        Some(&p) => ev.receiver(p as usize),
                        None => ev.sender(i),
                    };
                    (spec.unit(from), spec.unit(ev.receiver(i)), ev.tx(i))
                });
                crate::sys::timing("report: flow edges gathered");
                crate::trace::flow::Flow::keep(all, paths.flow, text)
            }
        };
        crate::sys::timing("report: flow edges kept");
        let v = FlowView::of(store, &f, text);
        crate::sys::timing("report: flow drawn");
        v
    })
}

/// [`build`] but the flow.
fn build_rows(store: &Store, spec: &Spec, out: &Outcome, (seeds_text, seed_txs_text): (&[String], &[String]), paths: Paths) -> Report {
    let ev = store.events();
    // Paths are walked here only for destinations, when asked, and when
    // the workers did not walk them: skip indexing otherwise (the flow
    // logs the tainted events too).
    let none: [Tainted; 0] = [];
    let walk_here = paths.each > 0 && out.evidence.is_none() && !out.destinations.is_empty();
    crate::sys::timing("report: rows begun");
    let index = evidence::Index::keyed(store, if walk_here { &out.tainted } else { &none }, |a| spec.unit(a));
    let cluster_size = |id: u32| spec.clusters.as_ref().map(|c| c.size_of(id));
    let seed_set: HashSet<u32> = spec.seeds.iter().copied().collect();
    let seed_txs: HashSet<u32> = spec.seed_txs.iter().copied().collect();
    let utxo = !out.pred.is_empty() || store.manifest.chain == Chain::Bitcoin;
    let is_source = |t: &Tainted| {
        let i = t.event as usize;
        if utxo {
            return t.hop == 0;
        }
        evidence::starts_path(t, ev.sender(i), ev.tx(i), |a| seed_set.contains(&a), |x| seed_txs.contains(&x))
    };
    let by_event: std::collections::HashMap<u64, Tainted> =
        if utxo && walk_here { out.tainted.iter().map(|t| (t.event, *t)).collect() } else { Default::default() };
    // Rows are put in order by their amounts and ids, then formatted in
    // parallel in that order, and the paths of the ones listed first walked.
    // Each row carries what it is made of: a search of the ordered map per
    // row, at random, was an eighth of a wide report's time.
    fn order<T: Send>(store: &Store, rows: &mut [(WideSum, u32, T)]) {
        rows.par_sort_unstable_by(|a, b| b.0.cmp(&a.0).then_with(|| store.address_text_cmp(a.1, b.1)));
    }
    let mut ids: Vec<(WideSum, u32, &Destination)> = out.destinations.iter().map(|(&id, d)| (d.amount, id, d)).collect();
    order(store, &mut ids);
    let mut dests: Vec<(u32, DestinationRow)> = ids
        .par_iter()
        .map(|&(_, id, d)| {
            let i = d.first_event as usize;
            let (first_block, first_time) = match &out.evidence {
                Some(e) => e.first.get(&id).copied().unwrap_or((NO_BLOCK, NO_TIME)),
                None => (ev.block(i), ev.time(i)),
            };
            let row = DestinationRow {
                chain: None,
                address: store.address_text(id),
                asset: None,
                label: (!d.label.is_empty()).then(|| d.label.clone()),
                entity: (!d.entity.is_empty()).then(|| d.entity.clone()),
                category: d.category.clone(),
                amount: d.amount.to_string(),
                hops: d.hops,
                first_block: (first_block != NO_BLOCK).then_some(first_block),
                first_time: (first_time != NO_TIME).then(|| crate::model::time::format_time(first_time)),
                paths: Vec::new(),
                cluster_size: cluster_size(id),
            };
            (id, row)
        })
        .collect();
    crate::sys::timing("report: destination rows made");
    let walked = if paths.each == 0 { 0 } else { paths.paths_for.of(dests.len()) };
    dests[..walked].par_iter_mut().for_each(|(id, row)| {
        row.paths = match &out.evidence {
            Some(e) => e
                .paths
                .get(id)
                .map(|ps| ps.iter().take(paths.each).map(|p| p.iter().map(|(t, r)| step_of_row(store, t, r)).collect()).collect())
                .unwrap_or_default(),
            None => index
                .paths_with(store, *id, paths.each, &is_source, &out.pred, &by_event)
                .iter()
                .map(|p| utxo_senders(store, p.iter().map(|t| step(store, t)).collect()))
                .collect(),
        };
    });
    crate::sys::timing("report: paths walked");
    let entities = entity_rows(ids.iter().zip(&dests).map(|((w, _, _), (_, d))| (w, d)));
    let holders = |m: &std::collections::BTreeMap<u32, (WideSum, u32)>| {
        let mut ids: Vec<(WideSum, u32, u32)> = m.iter().map(|(&id, &(amount, hops))| (amount, id, hops)).collect();
        order(store, &mut ids);
        ids.par_iter()
            .map(|&(amount, id, hops)| HolderRow {
                address: store.address_text(id),
                chain: None,
                asset: None,
                amount: amount.to_string(),
                hops,
                cluster_size: cluster_size(id),
            })
            .collect::<Vec<_>>()
    };
    crate::sys::timing("report: entities summed");
    let sum = |it: &mut dyn Iterator<Item = WideSum>| it.fold(WideSum::ZERO, |a, b| a + b);
    let dest_total = sum(&mut out.destinations.values().map(|d| d.amount));
    let dormant_total = sum(&mut out.dormant.values().map(|d| d.0)) + out.held_by_seeds;
    let horizon_total = sum(&mut out.horizon.values().map(|d| d.0));
    let dormant = holders(&out.dormant);
    crate::sys::timing("report: dormant rows made");
    let mut seeds = seeds_text.to_vec();
    seeds.sort();
    seeds.dedup();
    let mut stx = seed_txs_text.to_vec();
    stx.sort();
    stx.dedup();
    Report {
        policy: spec.policy,
        asset: store.manifest.assets[spec.asset as usize].clone(),
        seeds,
        seed_txs: stx,
        fees_modelled: store.manifest.fees.known_txs > 0,
        seeded: out.seeded.to_string(),
        destinations: dests.into_iter().map(|r| r.1).collect(),
        entities,
        dormant,
        horizon: holders(&out.horizon),
        totals: Totals {
            destinations: dest_total.to_string(),
            dormant: dormant_total.to_string(),
            horizon: horizon_total.to_string(),
            fees: out.fees.to_string(),
            held_by_seeds: out.held_by_seeds.to_string(),
            unknown_origin: out.unknown_origin.to_string(),
        },
        totals_by_asset: None,
        conversions: None,
        unfollowed: None,
        heuristic: None,
        paths_for: paths.field(),
        flow: None,
    }
}

/// One row per destination, dormant and horizon address. Fields are quoted
/// where they must be (a comma, a quote, `\n` or `\r`), as the csv crate
/// quotes them (a test holds the two equal).
pub fn to_csv(r: &Report) -> String {
    let mut out = Vec::new();
    write_csv(&mut out, r).expect("CSV into memory");
    String::from_utf8(out).expect("CSV of UTF-8 fields is UTF-8")
}

/// [`to_csv`] streamed to `w`, a row at a time: no field is allocated, and
/// a wide report's hundreds of thousands of rows go out at the speed of
/// the file (the csv crate's record writer made 0.56 GB/s into memory).
pub fn write_csv(w: &mut impl std::io::Write, r: &Report) -> std::io::Result<()> {
    // Under `--follow` every row names its asset (a last column, so that the
    // single-asset CSV stays what it was).
    let follow = r.totals_by_asset.is_some();
    let mut line: Vec<u8> = Vec::with_capacity(256);
    let mut row = |w: &mut dyn std::io::Write, fields: &[&[u8]], asset: Option<&str>| {
        line.clear();
        for (k, f) in fields.iter().chain(follow.then_some(&asset.unwrap_or("").as_bytes())).enumerate() {
            if k > 0 {
                line.push(b',');
            }
            csv_field(&mut line, f);
        }
        line.push(b'\n');
        w.write_all(&line)
    };
    let header: [&[u8]; 9] = [b"kind", b"address", b"label", b"category", b"amount", b"hops", b"first_block", b"first_time", b"entity"];
    row(w, &header, Some("asset"))?;
    use crate::model::text::Decimal;
    for d in &r.destinations {
        let (hops, block) = (Decimal::of(d.hops.into()), d.first_block.map(Decimal::of));
        let fields: [&[u8]; 9] = [
            b"destination",
            d.address.as_bytes(),
            d.label.as_deref().unwrap_or("").as_bytes(),
            d.category.as_bytes(),
            d.amount.as_bytes(),
            hops.as_bytes(),
            block.as_ref().map_or(&b""[..], Decimal::as_bytes),
            d.first_time.as_deref().unwrap_or("").as_bytes(),
            d.entity.as_deref().unwrap_or("").as_bytes(),
        ];
        row(w, &fields, d.asset.as_deref())?;
    }
    for (kind, rows) in [("dormant", &r.dormant), ("horizon", &r.horizon)] {
        for h in rows {
            let hops = Decimal::of(h.hops.into());
            let fields: [&[u8]; 9] = [kind.as_bytes(), h.address.as_bytes(), b"", b"", h.amount.as_bytes(), hops.as_bytes(), b"", b"", b""];
            row(w, &fields, h.asset.as_deref())?;
        }
    }
    Ok(())
}

/// A CSV field as the csv crate writes it by default: quoted, with its
/// quotes doubled, only if it holds a comma, a quote, `\n` or `\r`.
fn csv_field(out: &mut Vec<u8>, f: &[u8]) {
    if !f.iter().any(|&b| matches!(b, b',' | b'"' | b'\n' | b'\r')) {
        return out.extend_from_slice(f);
    }
    out.push(b'"');
    for &b in f {
        if b == b'"' {
            out.push(b'"');
        }
        out.push(b);
    }
    out.push(b'"');
}

/// Decimals of the asset for whole-coin display, when known.
pub fn decimals(chain: Chain, asset: &str) -> Option<u32> {
    (asset == chain.native()).then(|| chain.native_decimals())
}

/// Decimals of an asset of a `--follow` report, where each row names its
/// asset: the native coin's, or a known token's (`model::tokens`). The
/// single-asset reports keep [`decimals`], so they stay as they were.
pub fn asset_decimals(chain: Chain, book: &Book, asset: &str) -> Option<u32> {
    let (on, asset) = on_chain(chain, asset);
    // The book is the first store's: another chain's tokens are not in it.
    decimals(on, asset).or_else(|| if on == chain { book.decimals(chain, asset) } else { None })
}

/// A `CHAIN:ASSET` name of a report over several stores as its chain and
/// asset; a plain name is the report's chain's.
fn on_chain(chain: Chain, asset: &str) -> (Chain, &str) {
    match asset.split_once(':').and_then(|(c, a)| Some((Chain::from_name(c)?, a))) {
        Some(x) => x,
        None => (chain, asset),
    }
}

/// An asset of a `--follow` report as people read it: `ETH`, the token's
/// symbol where the store was told it or it is known, or the token
/// contract shortened.
pub fn asset_label(chain: Chain, book: &Book, asset: &str) -> String {
    let (on, name) = on_chain(chain, asset);
    // The book is the first store's; on another chain only its known tokens name themselves.
    let none = Book::default();
    let symbol = if on == chain { book.symbol(chain, name) } else { none.symbol(on, name) };
    let label = match symbol {
        Some(k) => k.to_string(),
        None if name.len() == 42 => format!("{}..{}", &name[..6], &name[38..]),
        None => name.to_string(),
    };
    if name.len() == asset.len() { label } else { format!("{label} on {}", on.name()) }
}

/// A base-unit amount in whole coins, exact, trailing zeros trimmed.
pub fn whole(amount: &str, decimals: Option<u32>) -> String {
    let Some(d) = decimals else { return amount.to_string() };
    let d = d as usize;
    let padded = format!("{amount:0>width$}", width = d + 1);
    let (int, frac) = padded.split_at(padded.len() - d);
    let frac = frac.trim_end_matches('0');
    if frac.is_empty() { int.to_string() } else { format!("{int}.{frac}") }
}

/// An amount for people to read at a glance: whole coins (`decimals` of
/// them in a base unit) rounded to two places, digits grouped by
/// thousands, with the unit: `15,711.88 ETH`; `<0.01` for a positive
/// amount that rounds to nothing. Base units, grouped, where the decimals
/// are unknown. The exact figure goes beside it (a title, a table).
pub fn readable(amount: &str, decimals: Option<u32>, unit: &str) -> String {
    let group = |digits: &str| {
        let mut g = String::with_capacity(digits.len() + digits.len() / 3);
        for (k, c) in digits.chars().enumerate() {
            if k > 0 && (digits.len() - k).is_multiple_of(3) {
                g.push(',');
            }
            g.push(c);
        }
        g
    };
    let Ok(v) = amount.parse::<WideSum>() else { return amount.to_string() };
    let Some(d) = decimals else { return format!("{} {unit} (base units)", group(&v.to_string())) };
    // In hundredths, rounded half up.
    let cents = if d >= 2 {
        let scale = WideSum::from(10u8).pow(WideSum::from(d - 2));
        (v + scale / WideSum::from(2u8)) / scale
    } else {
        v * WideSum::from(10u8).pow(WideSum::from(2 - d))
    };
    if cents.is_zero() && !v.is_zero() {
        return format!("<0.01 {unit}");
    }
    let whole = cents / WideSum::from(100u8);
    let frac = cents % WideSum::from(100u8);
    format!("{}.{:02} {unit}", group(&whole.to_string()), frac.to::<u64>())
}

/// A table for people: whole coins, with base units on the totals line.
pub fn to_table(r: &Report, chain: Chain, book: &Book) -> String {
    if r.totals_by_asset.is_some() {
        return follow::to_table(r, chain, book);
    }
    let dec = decimals(chain, &r.asset);
    let unit = if dec.is_some() { r.asset.clone() } else { format!("{} (base units)", r.asset) };
    let mut s = format!(
        "{} trace of {} from {} seed(s){}, amounts in {unit}\n\n",
        format!("{:?}", r.policy).to_lowercase(),
        r.asset,
        r.seeds.len() + r.seed_txs.len(),
        if r.fees_modelled { "" } else { "; fees not modelled" }
    );
    s += &format!("{:<44} {:<12} {:<26} {:>28} {:>4}\n", "destination", "category", "label", "amount", "hops");
    for d in &r.destinations {
        let label: String = d.label.clone().unwrap_or_default().chars().take(26).collect();
        s += &format!("{:<44} {:<12} {:<26} {:>28} {:>4}\n", d.address, d.category, label, whole(&d.amount, dec), d.hops);
    }
    if !r.entities.is_empty() {
        s += &format!("\n{:<44} {:<12} {:>9} {:>28} {:>4}\n", "entity", "category", "addresses", "amount", "hops");
        for e in &r.entities {
            let name: String = e.entity.chars().take(44).collect();
            s += &format!("{:<44} {:<12} {:>9} {:>28} {:>4}\n", name, e.category, e.addresses.len(), whole(&e.amount, dec), e.hops);
        }
    }
    s += &format!("\n{:<44} {:>28} {:>4}\n", "dormant (still holding taint)", "amount", "hops");
    for h in r.dormant.iter().take(20) {
        s += &format!("{:<44} {:>28} {:>4}\n", h.address, whole(&h.amount, dec), h.hops);
    }
    if r.dormant.len() > 20 {
        s += &format!("... {} more (see --format json or csv)\n", r.dormant.len() - 20);
    }
    if !r.horizon.is_empty() {
        s += &format!("\n{:<44} {:>28} {:>4}\n", "horizon (cut off by --max-hops)", "amount", "hops");
        for h in r.horizon.iter().take(20) {
            s += &format!("{:<44} {:>28} {:>4}\n", h.address, whole(&h.amount, dec), h.hops);
        }
    }
    let t = &r.totals;
    s += &format!(
        "\nseeded {} = destinations {} + dormant {} (seeds hold {}) + horizon {} + fees {}\n",
        whole(&r.seeded, dec),
        whole(&t.destinations, dec),
        whole(&t.dormant, dec),
        whole(&t.held_by_seeds, dec),
        whole(&t.horizon, dec),
        whole(&t.fees, dec)
    );
    s += &format!(
        "in base units: {} = {} + {} + {} + {}{}\n",
        r.seeded,
        t.destinations,
        t.dormant,
        t.horizon,
        t.fees,
        if r.policy == Policy::Poison { " (poison does not conserve amounts)" } else { "" }
    );
    s += &format!("unknown origin credited at tainted addresses: {}\n", whole(&t.unknown_origin, dec));
    s
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A small report: one destination (`label`, `entity`) reached from
    /// `seed` over one step through `via`, one dormant holder.
    pub(crate) fn sample(seed: &str, via: &str, dest: &str, label: &str, entity: &str) -> Report {
        let ev = |from: &str, to: &str| EventRef {
            tx: Some(format!("0x{}", "ab".repeat(32))),
            from: from.into(),
            to: to.into(),
            block: Some(702_861),
            time: Some("2021-10-01T00:00:00Z".into()),
            value: "5000".into(),
            chain: None,
        };
        Report {
            policy: Policy::Haircut,
            asset: "BTC".into(),
            seeds: vec![seed.into()],
            seed_txs: vec![],
            fees_modelled: true,
            seeded: "5000".into(),
            destinations: vec![DestinationRow {
                chain: None,
                address: dest.into(),
                asset: None,
                label: Some(label.into()),
                entity: Some(entity.into()),
                category: "exchange".into(),
                amount: "4000".into(),
                hops: 2,
                first_block: Some(702_861),
                first_time: Some("2021-10-01T00:00:00Z".into()),
                paths: vec![vec![
                    Step { event: ev(seed, via), taint: "5000".into(), asset: None, conversion: None },
                    Step { event: ev(via, dest), taint: "4000".into(), asset: None, conversion: None },
                ]],
                cluster_size: None,
            }],
            entities: vec![],
            dormant: vec![HolderRow { address: via.into(), chain: None, asset: None, amount: "1000".into(), hops: 1, cluster_size: None }],
            horizon: vec![],
            totals: Totals {
                destinations: "4000".into(),
                dormant: "1000".into(),
                horizon: "0".into(),
                fees: "0".into(),
                held_by_seeds: "0".into(),
                unknown_origin: "0".into(),
            },
            totals_by_asset: None,
            conversions: None,
            unfollowed: None,
            heuristic: None,
            paths_for: None,
            flow: None,
        }
    }

    #[test]
    fn amounts_read_at_a_glance() {
        assert_eq!(readable("15711879237623596268541", Some(18), "ETH"), "15,711.88 ETH");
        assert_eq!(readable("5000000000000000", Some(18), "ETH"), "<0.01 ETH".replace("<0.01", "0.01"));
        assert_eq!(readable("4999999999999999", Some(18), "ETH"), "<0.01 ETH");
        assert_eq!(readable("0", Some(18), "ETH"), "0.00 ETH");
        assert_eq!(readable("123456789", Some(8), "BTC"), "1.23 BTC");
        assert_eq!(readable("1999", Some(1), "X"), "199.90 X");
        assert_eq!(readable("1234567", None, "0xabc"), "1,234,567 0xabc (base units)");
        assert_eq!(readable("100000000000000000000000000", Some(18), "ETH"), "100,000,000.00 ETH");
    }

    #[test]
    fn csv_of_ordinary_fields_is_unquoted() {
        let r = sample("bc1qseed", "bc1qvia", "bc1qdest", "Hot wallet", "Binance");
        assert_eq!(
            to_csv(&r),
            "kind,address,label,category,amount,hops,first_block,first_time,entity\n\
             destination,bc1qdest,Hot wallet,exchange,4000,2,702861,2021-10-01T00:00:00Z,Binance\n\
             dormant,bc1qvia,,,1000,1,,,\n"
        );
    }

    #[test]
    fn csv_is_what_the_csv_crate_writes() {
        let odd = ["", "plain", "a,b", "say \"hi\"", "\"", "line\nbreak", "cr\r", "#hash", " spaced ", "Ünïcode, ok", ",", "\"\""];
        for (k, label) in odd.iter().enumerate() {
            let entity = odd[(k + 3) % odd.len()];
            let dest = format!("bc1q{}", odd[(k + 5) % odd.len()]);
            let mut r = sample("bc1qseed", "bc1qvia", &dest, label, entity);
            for follow in [false, true] {
                if follow {
                    r.totals_by_asset = Some(Default::default());
                    r.destinations[0].asset = Some(odd[(k + 7) % odd.len()].to_string());
                }
                let mut w = csv::Writer::from_writer(Vec::new());
                let tail = |row: Vec<String>, asset: &Option<String>| {
                    let mut row = row;
                    if follow {
                        row.push(asset.clone().unwrap_or_default());
                    }
                    row
                };
                let header = ["kind", "address", "label", "category", "amount", "hops", "first_block", "first_time", "entity"];
                w.write_record(tail(header.map(String::from).to_vec(), &Some("asset".into()))).unwrap();
                for d in &r.destinations {
                    let row = vec![
                        "destination".to_string(),
                        d.address.clone(),
                        d.label.clone().unwrap_or_default(),
                        d.category.clone(),
                        d.amount.clone(),
                        d.hops.to_string(),
                        d.first_block.map_or(String::new(), |b| b.to_string()),
                        d.first_time.clone().unwrap_or_default(),
                        d.entity.clone().unwrap_or_default(),
                    ];
                    w.write_record(tail(row, &d.asset)).unwrap();
                }
                for h in &r.dormant {
                    let row = ["dormant", &h.address, "", "", &h.amount, &h.hops.to_string(), "", "", ""].map(String::from).to_vec();
                    w.write_record(tail(row, &h.asset)).unwrap();
                }
                assert_eq!(to_csv(&r), crate::model::text::csv_text(w), "label {label:?}, follow {follow}");
            }
        }
    }

    #[test]
    fn csv_quotes_what_needs_quoting() {
        let (label, entity, dest) = ("Hot\r wallet, \"3\"", "Bin\nance", "bc1q,\"odd\"\r");
        let r = sample("bc1qseed", "bc1qvia", dest, label, entity);
        let text = to_csv(&r);
        assert!(text.contains("\"Hot\r wallet, \"\"3\"\"\""), "{text:?}");
        let mut rd = csv::Reader::from_reader(text.as_bytes());
        let rows: Vec<csv::StringRecord> = rd.records().map(|r| r.unwrap()).collect();
        assert_eq!(rows.len(), 2);
        assert_eq!((&rows[0][1], &rows[0][2], &rows[0][8]), (dest, label, entity));
        assert_eq!(&rows[1][1], "bc1qvia");
    }

    #[test]
    fn whole_coins_are_exact() {
        assert_eq!(super::whole("10000000000000", Some(18)), "0.00001");
        assert_eq!(super::whole("173600000000000000000000", Some(18)), "173600");
        assert_eq!(super::whole("0", Some(18)), "0");
        assert_eq!(super::whole("123", None), "123");
    }
}
