//! `chaintrace trace` and `POST /v1/trace`: one question or several cases,
//! answered in parallel and rendered by format.

use super::{AppError, create_dir, pretty_json, write_text};
use crate::model::Chain;
use crate::model::tokens::Book;
use crate::report::{self, Report};
use crate::store::Store;
use crate::trace::{Policy, Spec, TraceError, resolve_asset, resolve_seeds, run_account, run_utxo};
use std::path::{Path, PathBuf};

/// How a trace report is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// The JSON of INTERFACE.md.
    Json,
    /// One row per destination and holder.
    Csv,
    /// A table for people, with the conservation totals last.
    Table,
    /// Graphviz: the flow along the evidence paths (`dot -Tsvg`).
    Dot,
    /// Parquet tables (needs --output): the rows, and the evidence steps beside them.
    Parquet,
    /// One self-contained HTML page: summary, tables, an interactive flow graph, evidence paths.
    Html,
}

impl Format {
    /// The file extension of one case's report in an output directory.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Csv => "csv",
            Format::Table => "txt",
            Format::Dot => "dot",
            Format::Parquet => "parquet",
            Format::Html => "html",
        }
    }
}

/// What `chaintrace trace` was asked, before any data is read.
#[derive(Clone, Debug)]
pub struct Request {
    /// The question; its seeds are those of `--seed`.
    pub query: Query,
    /// `--seed-file`: more seeds, one a line.
    pub seed_files: Vec<PathBuf>,
    /// `--case NAME=SEEDFILE`: separate questions, one report each.
    pub cases: Vec<String>,
    /// Output format.
    pub format: Format,
    /// A file (a directory with cases); standard output otherwise.
    pub output: Option<PathBuf>,
    /// Bitcoin: trace over address clusters built with these parameters.
    pub cluster: Option<crate::cluster::Params>,
}

/// A checked request: every case with its seeds read.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Named cases (one unnamed case without `--case`), in name order.
    pub cases: Vec<(String, Query)>,
    /// Output format.
    pub format: Format,
    /// Where the reports go.
    pub output: Option<PathBuf>,
    /// Cluster parameters.
    pub cluster: Option<crate::cluster::Params>,
}

/// Read a seed file: one address or transaction hash a line, `#` comments.
pub fn read_seed_file(path: &Path) -> Result<Vec<String>, AppError> {
    let text = std::fs::read_to_string(path).map_err(|e| AppError::Usage(format!("{}: {e}", path.display())))?;
    Ok(text.lines().map(|l| l.split('#').next().unwrap_or("").trim().to_string()).filter(|l| !l.is_empty()).collect())
}

/// Check a request and read its seed files; no store is opened.
pub fn plan(r: Request) -> Result<Plan, AppError> {
    if r.query.max_hops == Some(0) {
        return Err(AppError::Usage("--max-hops must be at least 1".into()));
    }
    if r.format == Format::Parquet && r.output.is_none() {
        return Err(AppError::Usage("--format parquet writes files: give --output FILE (a directory with --case)".into()));
    }
    let mut items = r.query.seeds.clone();
    for f in &r.seed_files {
        items.extend(read_seed_file(f)?);
    }
    let mut cases: Vec<(String, Query)> = Vec::new();
    for c in &r.cases {
        let (name, file) = c.split_once('=').ok_or_else(|| AppError::Usage(format!("--case {c:?}: expected NAME=SEEDFILE")))?;
        if name.is_empty() || name.contains(['/', '\\']) {
            return Err(AppError::Usage(format!("--case {c:?}: the name must be non-empty and have no slashes")));
        }
        if cases.iter().any(|(n, _)| n == name) {
            return Err(AppError::Usage(format!("--case {name}: given twice; each case needs its own name (its report is NAME.*)")));
        }
        let seeds = read_seed_file(Path::new(file))?;
        cases.push((name.to_string(), Query { seeds, seed_txs: Vec::new(), ..r.query.clone() }));
    }
    if !cases.is_empty() && (!items.is_empty() || !r.query.seed_txs.is_empty()) {
        return Err(AppError::Usage("--case cannot be combined with --seed, --seed-tx or --seed-file".into()));
    }
    if cases.is_empty() {
        if items.is_empty() && r.query.seed_txs.is_empty() {
            return Err(AppError::Usage("give at least one --seed, --seed-tx, --seed-file or --case".into()));
        }
        cases.push((String::new(), Query { seeds: items, ..r.query }));
    }
    cases.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(Plan { cases, format: r.format, output: r.output, cluster: r.cluster })
}

/// One case's answer.
#[derive(Clone, Debug)]
pub struct Traced {
    /// The case name (empty without `--case`).
    pub name: String,
    /// The report.
    pub report: Report,
    /// Warnings and timings.
    pub notes: Notes,
}

/// Answer every case of a plan, in parallel (cases are independent).
pub fn run(store: &Store, plan: &Plan) -> Result<Vec<Traced>, AppError> {
    use rayon::prelude::*;
    let clusters = match plan.cluster {
        Some(p) => Some(std::sync::Arc::new(super::bitcoin_clusters(store, p)?)),
        None => None,
    };
    plan.cases
        .par_iter()
        .map(|(name, q)| {
            let q = Query { clusters: clusters.clone(), ..q.clone() };
            let (report, notes) = answer(store, &q)?;
            Ok(Traced { name: name.clone(), report, notes })
        })
        .collect()
}

/// One report as text in a format that is not Parquet.
pub fn render(r: &Report, format: Format, chain: Chain, book: &Book) -> Result<String, AppError> {
    Ok(match format {
        Format::Json => pretty_json(r)?,
        Format::Csv => report::to_csv(r),
        Format::Table => report::to_table(r, chain, book),
        Format::Dot => report::dot::to_dot(r, chain, book),
        Format::Html => report::html::to_html(r, chain, book),
        Format::Parquet => return Err(AppError::Internal("Parquet is written to files, not rendered as text".into())),
    })
}

/// A report as [`pretty_json`] writes it, streamed to a file.
fn write_json(path: &Path, r: &Report) -> Result<(), AppError> {
    super::write_with(path, |w| {
        serde_json::to_writer_pretty(&mut *w, r)?;
        std::io::Write::write_all(w, b"\n")
    })
}

/// Write the reports where the plan says; returns the text for standard
/// output, if any goes there.
pub fn deliver(plan: &Plan, traced: &[Traced], chain: Chain, book: &Book) -> Result<Option<String>, AppError> {
    let single = traced.len() == 1 && traced[0].name.is_empty();
    match (&plan.output, plan.format) {
        (Some(out), Format::Parquet) if single => {
            report::parquet::write_trace(&traced[0].report, out)?;
            Ok(None)
        }
        (Some(out), Format::Json) if single => {
            write_json(out, &traced[0].report)?;
            Ok(None)
        }
        (Some(out), Format::Csv) if single => {
            super::write_with(out, |w| report::write_csv(w, &traced[0].report))?;
            Ok(None)
        }
        (Some(out), _) if single => {
            write_text(out, &render(&traced[0].report, plan.format, chain, book)?)?;
            Ok(None)
        }
        (None, _) if single => Ok(Some(render(&traced[0].report, plan.format, chain, book)?)),
        (Some(dir), format) => {
            create_dir(dir)?;
            for t in traced {
                let p = dir.join(format!("{}.{}", t.name, format.extension()));
                if format == Format::Parquet {
                    report::parquet::write_trace(&t.report, &p)?;
                } else if format == Format::Json {
                    write_json(&p, &t.report)?;
                } else if format == Format::Csv {
                    super::write_with(&p, |w| report::write_csv(w, &t.report))?;
                } else {
                    write_text(&p, &render(&t.report, format, chain, book)?)?;
                }
            }
            Ok(None)
        }
        (None, Format::Json) => {
            let map: std::collections::BTreeMap<&str, &Report> = traced.iter().map(|t| (t.name.as_str(), &t.report)).collect();
            Ok(Some(pretty_json(&map)?))
        }
        (None, format) => {
            let mut text = String::new();
            for t in traced {
                text += &format!("== case {} ==\n{}\n", t.name, render(&t.report, format, chain, book)?);
            }
            Ok(Some(text))
        }
    }
}

/// One trace question in the words of INTERFACE.md: the command line's
/// options (`chaintrace trace`) and the body of `POST /v1/trace` are this
/// one type, so the two cannot drift apart.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, clap::Args)]
#[serde(deny_unknown_fields)]
pub struct Query {
    /// poison (who is reachable), haircut (proportional) or fifo.
    #[arg(long, value_enum)]
    pub policy: Policy,
    /// A seed address (repeatable); a 0x-prefixed 64-hex-digit value is a
    /// transaction, and on Bitcoin `txid:vout` an output.
    #[serde(default)]
    #[arg(long = "seed")]
    pub seeds: Vec<String>,
    /// A seed transaction hash (repeatable).
    #[serde(default)]
    #[arg(long = "seed-tx")]
    pub seed_txs: Vec<String>,
    /// ETH/BTC (default) or a token contract.
    #[serde(default)]
    #[arg(long)]
    pub asset: Option<String>,
    /// Categories that absorb taint, comma-separated (e.g. exchange,mixer).
    #[serde(default)]
    #[arg(long, value_delimiter = ',')]
    pub stop_at: Vec<String>,
    /// Stop following funds after N hops (N >= 1).
    #[serde(default)]
    #[arg(long)]
    pub max_hops: Option<u32>,
    /// First block (inclusive).
    #[serde(default)]
    #[arg(long)]
    pub from_block: Option<u64>,
    /// Last block (inclusive).
    #[serde(default)]
    #[arg(long)]
    pub to_block: Option<u64>,
    /// Follow taint through conversions into the asset bought (TRACING.md
    /// §7): `swaps`, `bridges` (matched by the bridge's own key), and
    /// `bridges-heuristic` (also RenBridge's releases, matched by address,
    /// amount and time; implies `bridges`). Every asset is traced at once;
    /// `--asset` then narrows the assets in which the seeds are sources.
    #[serde(default)]
    #[arg(long, value_enum, value_delimiter = ',')]
    pub follow: Vec<crate::trace::Follow>,
    /// Evidence paths per destination.
    #[serde(default = "default_paths")]
    #[arg(long, default_value_t = DEFAULT_PATHS)]
    pub paths: usize,
    /// Which destinations get evidence paths: the N largest (listed first),
    /// or `all`. The others keep their amount, hops and first arrival; the
    /// report's `paths_for` says where the paths stop.
    #[serde(default = "default_paths_for")]
    #[arg(long, value_name = "N|all", default_value_t = report::PathsFor::DEFAULT)]
    pub paths_for: report::PathsFor,
    /// The taint flow's edges to keep: every event that carried taint,
    /// added up per sender and receiver, the N that carried most (the
    /// rest summed); 0 leaves the flow out.
    #[serde(default = "default_flow_edges")]
    #[arg(long, value_name = "N", default_value_t = crate::trace::flow::DEFAULT_EDGES)]
    pub flow_edges: usize,
    /// Force the account sweep's shape: sparse (only events that can move
    /// taint) or full (every event); both give the same report. Default:
    /// sparse unless a block window asks for full. Command line only.
    #[serde(skip)]
    #[arg(long, value_enum, hide_short_help = true)]
    pub engine: Option<crate::trace::Engine>,
    /// Trace over these address clusters (set from `--cluster`, never from a request body).
    #[serde(skip)]
    #[arg(skip)]
    pub clusters: Option<std::sync::Arc<crate::cluster::Clustering>>,
    /// What the trace may spend (set by the server, never from a request
    /// body): cancelled when the request's time is up, and its events
    /// capped.
    #[serde(skip)]
    #[arg(skip)]
    pub budget: crate::trace::Budget,
}

/// Evidence paths a destination when a question does not say.
pub const DEFAULT_PATHS: usize = 3;

fn default_paths() -> usize {
    DEFAULT_PATHS
}

fn default_paths_for() -> report::PathsFor {
    report::PathsFor::DEFAULT
}

fn default_flow_edges() -> usize {
    crate::trace::flow::DEFAULT_EDGES
}

impl Query {
    /// The evidence paths its report walks.
    pub fn evidence(&self) -> report::Paths {
        report::Paths { each: self.paths, paths_for: self.paths_for, flow: self.flow_edges }
    }
}

/// What [`answer`] returns besides the report.
#[derive(Clone, Debug, Default)]
pub struct Notes {
    /// Warnings for the user (seeds not in the data, seeds with stop labels).
    pub warnings: Vec<String>,
    /// Seconds the sweep took.
    pub sweep_seconds: f64,
    /// Seconds building the report took (its rows and evidence paths).
    pub report_seconds: f64,
    /// Heap at the end of the sweep.
    pub sweep_heap_bytes: u64,
    /// Events the sweep visited.
    pub visited: u64,
    /// Across workers: what moved between them.
    pub exchange: crate::trace::Traffic,
}

/// The question in store ids.
pub(super) fn spec_of(q: &Query, asset: u32, resolved: &crate::trace::Seeds) -> Spec {
    Spec {
        policy: q.policy,
        asset,
        seeds: resolved.addresses.clone(),
        seed_txs: resolved.txs.clone(),
        stop_at: q.stop_at.iter().map(|c| c.trim().to_ascii_lowercase()).filter(|c| !c.is_empty()).collect(),
        max_hops: q.max_hops,
        from_block: q.from_block,
        to_block: q.to_block,
        // The flow adds up the same log of tainted events the paths walk.
        evidence: q.paths > 0 || q.flow_edges > 0,
        engine: q.engine,
        clusters: q.clusters.clone(),
        budget: q.budget.clone(),
    }
}

/// A `--follow` question: every asset at once (TRACING.md §7), conservation
/// checked per asset.
fn answer_follow(store: &Store, q: &Query, asset: u32, resolved: crate::trace::Seeds) -> Result<(Report, Notes), TraceError> {
    let spec = spec_of(q, asset, &resolved);
    let started = std::time::Instant::now();
    let followed = crate::trace::run_follow(store, &spec, q.asset.is_some().then_some(asset))?;
    conclude_follow(store, q, &spec, &resolved, followed, started.elapsed().as_secs_f64())
}

/// A `--follow` sweep's answer made a report: conservation checked per
/// asset (a report that does not balance is an internal error), warnings
/// listed.
fn conclude_follow(
    store: &Store,
    q: &Query,
    spec: &Spec,
    resolved: &crate::trace::Seeds,
    followed: crate::trace::Followed,
    sweep_seconds: f64,
) -> Result<(Report, Notes), TraceError> {
    if q.policy != Policy::Poison {
        let assets: std::collections::BTreeSet<u32> = followed.by_asset.keys().chain(followed.converted_in.keys()).copied().collect();
        for a in assets {
            let (l, r) = followed.balance(a);
            if l != r {
                return Err(TraceError::Internal(format!(
                    "taint is not conserved in {} (seeded + converted_in {l} != accounted + converted_out {r})",
                    store.manifest.assets[a as usize]
                )));
            }
        }
    }
    let mut warnings: Vec<String> = resolved.missing.iter().map(|m| format!("seed {m} is not in the data")).collect();
    warnings.extend(
        followed.seed_stop_warnings.iter().map(|id| format!("seed {} has a stop label; it is traced as a source", store.address_text(*id))),
    );
    // A trace cancelled during its sweep builds no report.
    spec.budget.check()?;
    let built = std::time::Instant::now();
    let report = report::follow::build_follow(store, spec, &followed, &resolved.address_text, &resolved.tx_text, q.evidence());
    Ok((
        report,
        Notes {
            warnings,
            sweep_seconds,
            report_seconds: built.elapsed().as_secs_f64(),
            sweep_heap_bytes: crate::sys::anon_rss_bytes().unwrap_or(0),
            visited: followed.visited,
            exchange: followed.exchange,
        },
    ))
}

/// Answer a trace question: resolve the seeds and asset, sweep, check
/// conservation (a report that does not balance is an internal error), and
/// build the report.
pub fn answer(store: &Store, q: &Query) -> Result<(Report, Notes), TraceError> {
    if q.seeds.is_empty() && q.seed_txs.is_empty() {
        return Err(TraceError::Usage("give at least one seed or seed transaction".into()));
    }
    if crate::trace::Follow::bridges(&q.follow) {
        return answer_many(&[store], q);
    }
    let asset = resolve_asset(store, q.asset.as_deref())?;
    let resolved = resolve_seeds(store, &q.seeds, &q.seed_txs)?;
    if !q.follow.is_empty() {
        return answer_follow(store, q, asset, resolved);
    }
    let spec = spec_of(q, asset, &resolved);
    let started = std::time::Instant::now();
    let outcome = if store.manifest.chain == Chain::Bitcoin && store.manifest.inputs > 0 {
        run_utxo(store, &spec, &resolved.outpoints)?
    } else {
        run_account(store, &spec)?
    };
    conclude(store, q, &spec, &resolved, outcome, started.elapsed().as_secs_f64())
}

/// A sweep's outcome made a report: conservation checked (a report that
/// does not balance is an internal error), warnings listed.
fn conclude(
    store: &Store,
    q: &Query,
    spec: &Spec,
    resolved: &crate::trace::Seeds,
    outcome: crate::trace::Outcome,
    sweep_seconds: f64,
) -> Result<(Report, Notes), TraceError> {
    if q.policy != Policy::Poison && outcome.seeded != outcome.accounted() {
        return Err(TraceError::Internal(format!(
            "taint is not conserved (seeded {} != accounted {})",
            outcome.seeded,
            outcome.accounted()
        )));
    }
    let mut warnings: Vec<String> = resolved.missing.iter().map(|m| format!("seed {m} is not in the data")).collect();
    warnings.extend(
        outcome.seed_stop_warnings.iter().map(|id| format!("seed {} has a stop label; it is traced as a source", store.address_text(*id))),
    );
    // A trace cancelled during its sweep builds no report.
    spec.budget.check()?;
    let built = std::time::Instant::now();
    let report = report::build(store, spec, &outcome, &resolved.address_text, &resolved.tx_text, q.evidence());
    let notes = Notes {
        warnings,
        sweep_seconds,
        report_seconds: built.elapsed().as_secs_f64(),
        sweep_heap_bytes: outcome.sweep_heap_bytes,
        visited: outcome.visited,
        exchange: outcome.exchange,
    };
    // The sweep's log of tainted events and maps (tens of MB on a wide
    // trace) are freed on the pool while the report is written.
    rayon::spawn(move || drop(outcome));
    Ok((report, notes))
}

/// Answer every case of a plan on the workers `w` (timely-dataflow, issue
/// 17, ADR 0015), all on one set of connections. Every process of a run
/// calls this with the same plan and the same store; process 0 gets the
/// answers, the others `None`. The reports are the ones [`run`] gives.
///
/// `parts`: the directory of the store's parts (`chaintrace partition`)
/// the workers read instead of the whole store.
pub fn run_on_workers(
    store: &Store,
    plan: &Plan,
    w: &crate::dataflow::Workers,
    parts: Option<&std::path::Path>,
) -> Result<Option<Vec<Traced>>, AppError> {
    let utxo = store.manifest.chain == Chain::Bitcoin && store.manifest.inputs > 0;
    let read = super::processes::read_from(store, w, parts, true)?;
    // Every process clusters the store itself: the same store and parameters give the same clusters.
    let clusters = match plan.cluster {
        Some(p) => Some(std::sync::Arc::new(super::bitcoin_clusters(store, p)?)),
        None => None,
    };
    let mut asked = Vec::new();
    for (name, q) in &plan.cases {
        let q = Query { clusters: clusters.clone(), ..q.clone() };
        if q.seeds.is_empty() && q.seed_txs.is_empty() {
            return Err(AppError::Usage("give at least one seed or seed transaction".into()));
        }
        if crate::trace::Follow::bridges(&q.follow) {
            return Err(AppError::Usage("--follow bridges does not run across processes yet: trace it in one".into()));
        }
        let asset = resolve_asset(store, q.asset.as_deref())?;
        let resolved = resolve_seeds(store, &q.seeds, &q.seed_txs)?;
        let spec = spec_of(&q, asset, &resolved);
        asked.push((name, q, resolved, spec));
    }
    // A plan's cases share the command's --follow.
    if plan.cases.iter().any(|(_, q)| !q.follow.is_empty()) {
        if parts.is_some() {
            return Err(AppError::Usage(
                "--follow across processes reads the whole store on every process: give --store, not --parts".into(),
            ));
        }
        return follow_on_workers(store, asked, w);
    }
    let specs: Vec<Spec> = asked.iter().map(|a| a.3.clone()).collect();
    let started = std::time::Instant::now();
    let outcomes = if utxo {
        let questions: Vec<(Spec, Vec<(u32, u32)>)> = asked.iter().map(|a| (a.3.clone(), a.2.outpoints.clone())).collect();
        crate::dataflow::utxo::trace_many(&store.dir, &questions, w, crate::dataflow::account::segment_bits()?)?
    } else {
        // The paths are walked where the events are: process 0 gathers
        // them, not every tainted event, and needs no events of others.
        let paths: Vec<crate::dataflow::account::Walk> = asked
            .iter()
            .map(|a| {
                let limit = a.1.evidence();
                (
                    limit.each,
                    match limit.paths_for {
                        report::PathsFor::All => None,
                        report::PathsFor::Top(n) => Some(n),
                    },
                    limit.flow,
                )
            })
            .collect();
        crate::dataflow::account::trace_many(read, &specs, w, Some(&paths))?
    };
    let Some(outcomes) = outcomes else { return Ok(None) };
    // The cases shared one run: each is given its share of the time.
    let seconds = started.elapsed().as_secs_f64() / asked.len().max(1) as f64;
    let mut traced = Vec::new();
    for ((name, q, resolved, spec), outcome) in asked.into_iter().zip(outcomes) {
        let (report, notes) = conclude(store, &q, &spec, &resolved, outcome, seconds)?;
        traced.push(Traced { name: name.clone(), report, notes });
    }
    Ok(Some(traced))
}

/// The `--follow swaps` cases of a plan, on the workers `w`: each
/// process reads the whole store.
fn follow_on_workers(
    store: &Store,
    asked: Vec<(&String, Query, crate::trace::Seeds, Spec)>,
    w: &crate::dataflow::Workers,
) -> Result<Option<Vec<Traced>>, AppError> {
    let questions: Vec<crate::dataflow::follow::Question> =
        asked.iter().map(|(_, q, _, spec)| (spec.clone(), q.asset.is_some().then_some(spec.asset))).collect();
    let started = std::time::Instant::now();
    let Some(answers) = crate::dataflow::follow::trace_many(&store.dir, &questions, w)? else { return Ok(None) };
    let seconds = started.elapsed().as_secs_f64() / asked.len().max(1) as f64;
    let mut traced = Vec::new();
    for ((name, q, resolved, spec), followed) in asked.into_iter().zip(answers) {
        let (report, notes) = conclude_follow(store, &q, &spec, &resolved, followed, seconds)?;
        traced.push(Traced { name: name.clone(), report, notes });
    }
    Ok(Some(traced))
}

/// Whether a seed's text can name something on `chain`: `0x` hex on an
/// account-model chain, anything else on Bitcoin.
fn fits(chain: Chain, text: &str) -> bool {
    chain.is_account() == text.starts_with("0x")
}

/// Answer every case of a plan over the stores given: one store as
/// [`run`] does, unless a case follows bridges; several with [`run_many`].
pub fn run_stores(stores: &[&Store], plan: &Plan) -> Result<Vec<Traced>, AppError> {
    let bridges = plan.cases.iter().any(|(_, q)| crate::trace::Follow::bridges(&q.follow));
    match stores {
        [one] if !bridges => run(one, plan),
        _ => run_many(stores, plan),
    }
}

/// Answer every case of a plan over several stores (one chain each), or
/// over one with `--follow bridges`: bridges join the stores (TRACING.md §7).
pub fn run_many(stores: &[&Store], plan: &Plan) -> Result<Vec<Traced>, AppError> {
    if plan.cluster.is_some() {
        return Err(AppError::Usage("--cluster traces one Bitcoin store; it cannot be combined with several stores".into()));
    }
    plan.cases
        .iter()
        .map(|(name, q)| {
            let (report, notes) = answer_many(stores, q)?;
            Ok(Traced { name: name.clone(), report, notes })
        })
        .collect()
}

/// [`answer`] over several stores: seeds are looked up in every store
/// whose chain their form fits, `--asset` is `CHAIN:ASSET`, and each
/// chain's conservation is checked per asset before the joined report is
/// built.
pub fn answer_many(stores: &[&Store], q: &Query) -> Result<(Report, Notes), TraceError> {
    use crate::trace::multi::{ChainOutcome, Part, run_multi};
    if q.seeds.is_empty() && q.seed_txs.is_empty() {
        return Err(TraceError::Usage("give at least one seed or seed transaction".into()));
    }
    if q.follow.is_empty() {
        return Err(TraceError::Usage("several stores are traced together with --follow (swaps, bridges)".into()));
    }
    let mut chains: Vec<Chain> = stores.iter().map(|s| s.manifest.chain).collect();
    chains.sort();
    if chains.windows(2).any(|w| w[0] == w[1]) {
        return Err(TraceError::Usage("each --store must hold a different chain".into()));
    }
    // One store's report names its assets as a single-store report does.
    let several = stores.len() > 1;
    let asset_of = |s: &Store| {
        let a = s.manifest.assets.first().map_or(s.manifest.chain.native(), |a| a.as_str());
        if several { format!("{}:{a}", s.manifest.chain.name()) } else { a.to_string() }
    };
    let (asset_chain, asset_name) = match &q.asset {
        Some(a) if !several => (Some(stores[0].manifest.chain.name().to_string()), Some(a.clone())),
        Some(a) => {
            let (c, n) = a
                .split_once(':')
                .ok_or_else(|| TraceError::Usage(format!("--asset {a:?}: with several stores name it CHAIN:ASSET (ethereum:ETH)")))?;
            if !stores.iter().any(|s| s.manifest.chain.name() == c) {
                return Err(TraceError::Usage(format!("--asset {a:?}: no store holds chain {c}")));
            }
            (Some(c.to_string()), Some(n.to_string()))
        }
        None => (None, None),
    };
    let report_asset = match (&asset_chain, &asset_name) {
        (Some(c), Some(n)) if several => format!("{c}:{n}"),
        (Some(_), Some(_)) => asset_of(stores[0]),
        _ => asset_of(stores[0]),
    };
    let mut parts = Vec::new();
    let (mut seeds_text, mut txs_text, mut found) = (Vec::new(), Vec::new(), std::collections::BTreeSet::new());
    for s in stores {
        let chain = s.manifest.chain;
        let items: Vec<String> = q.seeds.iter().filter(|t| fits(chain, t)).cloned().collect();
        let txs: Vec<String> = q.seed_txs.iter().filter(|t| fits(chain, t)).cloned().collect();
        let mut resolved = resolve_seeds(s, &items, &txs)?;
        let seed_asset = match (&asset_chain, &asset_name) {
            (Some(c), Some(n)) if c == chain.name() => Some(resolve_asset(s, Some(n))?),
            (Some(_), _) => {
                // Seeds are sources only in the asset named, on its chain.
                resolved.addresses.clear();
                resolved.txs.clear();
                resolved.outpoints.clear();
                Some(u32::MAX)
            }
            _ => None,
        };
        for t in resolved.address_text.iter().filter(|t| !resolved.missing.contains(t)) {
            found.insert(t.clone());
            seeds_text.push(t.clone());
        }
        txs_text.extend(resolved.tx_text.iter().cloned());
        let spec = spec_of(q, 0, &resolved);
        parts.push(Part { store: s, spec, seed_asset, outpoints: resolved.outpoints.clone() });
    }
    let started = std::time::Instant::now();
    let m = run_multi(&parts, &q.follow)?;
    let sweep_seconds = started.elapsed().as_secs_f64();
    let mut visited = 0;
    for (p, c) in parts.iter().zip(&m.chains) {
        let chain = p.store.manifest.chain.name();
        match c {
            ChainOutcome::Account(f) => {
                visited += f.visited;
                if q.policy == Policy::Poison {
                    continue;
                }
                let assets: std::collections::BTreeSet<u32> = f.by_asset.keys().chain(f.converted_in.keys()).copied().collect();
                for a in assets {
                    let (l, r) = f.balance(a);
                    if l != r {
                        return Err(TraceError::Internal(format!(
                            "taint is not conserved in {chain}:{} (seeded + converted_in {l} != accounted + converted_out {r})",
                            p.store.manifest.assets[a as usize]
                        )));
                    }
                }
            }
            ChainOutcome::Utxo(u) => {
                let o = &u.outcome;
                visited += o.visited;
                if q.policy != Policy::Poison && o.seeded + u.converted_in != o.accounted() + u.converted_out {
                    return Err(TraceError::Internal(format!(
                        "taint is not conserved in {chain} (seeded + converted_in {} != accounted + converted_out {})",
                        o.seeded + u.converted_in,
                        o.accounted() + u.converted_out
                    )));
                }
            }
        }
    }
    let mut warnings: Vec<String> = q
        .seeds
        .iter()
        .filter(|t| !(t.len() == 66 && t.starts_with("0x")))
        .filter(|t| !found.contains(*t) && !found.contains(&t.to_ascii_lowercase()))
        .map(|t| format!("seed {t} is not in the data"))
        .collect();
    warnings.sort();
    let stores_v: Vec<&Store> = parts.iter().map(|p| p.store).collect();
    let specs: Vec<Spec> = parts.iter().map(|p| p.spec.clone()).collect();
    for s in &specs {
        s.budget.check()?;
    }
    let report = report::multi::build_multi(&stores_v, &specs, &m, &seeds_text, &txs_text, q.evidence(), &report_asset);
    Ok((
        report,
        Notes { warnings, sweep_seconds, sweep_heap_bytes: crate::sys::anon_rss_bytes().unwrap_or(0), visited, ..Notes::default() },
    ))
}
