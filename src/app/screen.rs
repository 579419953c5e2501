//! `chaintrace screen`: exposure answers for a file of addresses, from the
//! store's exposure index (built when missing), in the format asked for;
//! over several stores, one answer per address and store, exposure
//! crossing bridges with `--follow bridges` (ADR 0014).

use super::{AppError, pretty_json, write_text};
use crate::screen::answer::{self, MultiScreener, ScreenAnswer};
use crate::screen::risk::{Level, RiskConfig};
use crate::screen::{self as scr, CategorySet};
use crate::store::Store;
use std::path::{Path, PathBuf};

/// How a screening answer is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One JSON document.
    Json,
    /// One row per address and category.
    Csv,
    /// Parquet (needs --output).
    Parquet,
}

/// What `chaintrace screen` was asked.
#[derive(Clone, Debug)]
pub struct Request {
    /// ETH (default) or a token contract; over several stores
    /// `CHAIN:ASSET`, one a chain (each other chain its native coin).
    pub asset: Vec<String>,
    /// Bridges to carry exposure across (`bridges`, `bridges-heuristic`).
    pub follow: Vec<crate::trace::Follow>,
    /// Risk categories (empty: the default set).
    pub categories: Vec<String>,
    /// Risk thresholds as JSON (defaults otherwise).
    pub risk_config: Option<PathBuf>,
    /// Output format.
    pub format: Format,
    /// A file; standard output otherwise.
    pub output: Option<PathBuf>,
    /// Bitcoin: answer over address clusters made with these parameters.
    pub cluster: Option<crate::cluster::Params>,
}

/// The categories of a request.
pub fn categories(names: &[String]) -> CategorySet {
    if names.is_empty() { CategorySet::default_set() } else { CategorySet::new(names.iter().map(String::as_str)) }
}

/// Read `--risk-config` (defaults when not given).
pub fn risk_config(path: Option<&Path>) -> Result<RiskConfig, AppError> {
    let Some(p) = path else { return Ok(RiskConfig::default()) };
    let text = std::fs::read_to_string(p).map_err(|e| AppError::Usage(format!("{}: {e}", p.display())))?;
    RiskConfig::from_json(&text).map_err(|e| AppError::Usage(format!("{}: {e}", p.display())))
}

/// What screening found, and whether the index had to be built.
pub struct Screened {
    /// One answer per address, in input order.
    pub answer: ScreenAnswer,
    /// Seconds spent building the exposure index (`None`: it was on disk).
    pub built_index: Option<f64>,
    /// Whether it was built by updating an older generation's (after an append).
    pub updated_index: bool,
    /// The asset screened.
    pub asset: String,
    /// What the workers exchanged building the index across them.
    pub exchange: Option<crate::trace::Traffic>,
}

/// A checked request: its thresholds and the addresses to screen.
pub struct Plan {
    /// Risk thresholds.
    pub risk: RiskConfig,
    /// The address file.
    pub file: PathBuf,
    /// Addresses, in input order, with their lines.
    pub addresses: Vec<(u64, String)>,
}

/// Check a request and read its address file before any store is opened.
pub fn plan(r: &Request, address_file: &Path) -> Result<Plan, AppError> {
    if r.format == Format::Parquet && r.output.is_none() {
        return Err(AppError::Usage("--format parquet writes a file: give --output FILE".into()));
    }
    let risk = risk_config(r.risk_config.as_deref())?;
    Ok(Plan { risk, file: address_file.to_path_buf(), addresses: answer::read_address_texts(address_file)? })
}

/// Screen the planned addresses.
pub fn run(store: &Store, r: &Request, plan: &Plan) -> Result<Screened, AppError> {
    run_stores(&[store], r, plan)
}

/// The asset screened in each store: `--asset` (one store: as it is named
/// there; several: `CHAIN:ASSET` for that chain), else the native coin.
fn assets(stores: &[&Store], wanted: &[String]) -> Result<Vec<u32>, AppError> {
    if stores.len() == 1 {
        if wanted.len() > 1 {
            return Err(AppError::Usage("one --asset for one store (several stores take one CHAIN:ASSET a chain)".into()));
        }
        return Ok(vec![crate::trace::resolve_asset(stores[0], wanted.first().map(String::as_str))?]);
    }
    let mut out = vec![0u32; stores.len()];
    let mut named = vec![false; stores.len()];
    for w in wanted {
        let Some((chain, asset)) = w.split_once(':') else {
            return Err(AppError::Usage(format!("--asset {w:?}: over several stores name the chain, as CHAIN:ASSET")));
        };
        let Some(j) = stores.iter().position(|s| s.manifest.chain.name().eq_ignore_ascii_case(chain)) else {
            return Err(AppError::Usage(format!("--asset {w:?}: no store of chain {chain:?} was given")));
        };
        if std::mem::replace(&mut named[j], true) {
            return Err(AppError::Usage(format!("--asset {w:?}: chain {chain} already has an asset")));
        }
        out[j] = crate::trace::resolve_asset(stores[j], Some(asset))?;
    }
    Ok(out)
}

/// Check a request against its stores: one store a chain, every address
/// one of some store's chain, not swaps. Returns the asset of each store.
fn check(stores: &[&Store], r: &Request, plan: &Plan) -> Result<Vec<u32>, AppError> {
    if r.follow.contains(&crate::trace::Follow::Swaps) {
        return Err(AppError::Usage(
            "screening is per asset (TRACING.md §4): it follows bridges (--follow bridges), not swaps; trace with --follow swaps".into(),
        ));
    }
    // One store a chain: results are named by chain.
    for (n, s) in stores.iter().enumerate() {
        if let Some(t) = stores[..n].iter().find(|t| t.manifest.chain == s.manifest.chain) {
            return Err(AppError::Usage(format!(
                "{} and {} are both {} stores: screen one store a chain",
                t.dir.display(),
                s.dir.display(),
                s.manifest.chain.name()
            )));
        }
    }
    if r.cluster.is_some() && !(stores.len() == 1 && stores[0].manifest.chain == crate::model::Chain::Bitcoin) {
        return Err(AppError::Usage("--cluster screens one Bitcoin store: clustering joins the inputs of a transaction".into()));
    }
    // Every address must be one of some store's chain.
    if let Some((line, a)) = plan.addresses.iter().find(|(_, a)| !stores.iter().any(|s| answer::fits(s.manifest.chain, a))) {
        let chains: Vec<&str> = stores.iter().map(|s| s.manifest.chain.name()).collect();
        return Err(crate::ingest::IngestError::row(
            &plan.file,
            *line,
            crate::model::text::FieldError::new("address", format!("{a} is not an address of {}", chains.join(" or "))),
        )
        .into());
    }
    assets(stores, &r.asset)
}

/// Screen the planned addresses in one store or several: without
/// `--follow`, each store from its own index; with it, the stores together.
pub fn run_stores(stores: &[&Store], r: &Request, plan: &Plan) -> Result<Screened, AppError> {
    use crate::trace::Follow;
    let assets = check(stores, r, plan)?;
    let cats = categories(&r.categories);
    let started = std::time::Instant::now();
    let names: Vec<String> = stores.iter().zip(&assets).map(|(s, &a)| s.manifest.assets[a as usize].clone()).collect();
    let mut updated = false;
    let (ixs, links, built) = if Follow::bridges(&r.follow) {
        let heuristic = r.follow.contains(&Follow::BridgesHeuristic);
        crate::screen::multi::open_or_build_many(stores, &assets, &cats, heuristic)?
    } else {
        let mut ixs = Vec::new();
        let mut built = false;
        for (s, &a) in stores.iter().zip(&assets) {
            let (ix, made) = scr::open_or_update(s, a, &cats, None)?;
            built |= made == scr::Made::Built;
            updated |= made == scr::Made::Updated;
            ixs.push(ix);
        }
        (ixs, Vec::new(), built || updated)
    };
    let built_index = built.then(|| started.elapsed().as_secs_f64());
    let texts: Vec<String> = plan.addresses.iter().map(|(_, a)| a.clone()).collect();
    let clusters = match r.cluster {
        Some(p) => {
            Some(answer::ClusterMembers::new(std::sync::Arc::new(super::bitcoin_clusters(stores[0], p)?), stores[0].address_count()))
        }
        None => None,
    };
    let answer = MultiScreener { stores, indexes: &ixs, links: &links, risk: &plan.risk, clusters: clusters.as_ref() }.screen(&texts);
    Ok(Screened { answer, built_index, updated_index: updated, asset: names.join(", "), exchange: None })
}

/// Whether the store already has the exposure index this request needs,
/// or an older one an update takes up (then no run across workers is
/// needed to answer it: one process updates it in O(new events)).
pub fn has_index(store: &Store, r: &Request, plan: &Plan) -> Result<bool, AppError> {
    let assets = check(&[store], r, plan)?;
    let cats = categories(&r.categories);
    Ok(scr::open_fresh(store, assets[0], &cats).is_some()
        || (!crate::trace::Follow::bridges(&r.follow) && scr::can_update(store, assets[0], &cats)))
}

/// Build the store's exposure index on the workers `w` (timely-dataflow,
/// issue 17, ADR 0015) and answer from it: every process of a run calls
/// this with the same request and store; process 0 writes the index and
/// gets the answer (the one [`run`] gives), the others `None`.
///
/// `parts`: the directory of the store's parts (`chaintrace partition`)
/// the workers read instead of the whole store.
pub fn run_on_workers(
    store: &Store,
    r: &Request,
    plan: &Plan,
    w: &crate::dataflow::Workers,
    parts: Option<&std::path::Path>,
) -> Result<Option<Screened>, AppError> {
    let assets = check(&[store], r, plan)?;
    if crate::trace::Follow::bridges(&r.follow) {
        return Err(AppError::Usage("--follow bridges does not run across processes yet: screen it in one".into()));
    }
    if r.cluster.is_some() {
        return Err(AppError::Usage("--cluster does not run across processes yet: screen it in one".into()));
    }
    let read = super::processes::read_from(store, w, parts, false)?;
    let asset = assets[0];
    let cats = categories(&r.categories);
    let started = std::time::Instant::now();
    let labels = crate::labels::load(store);
    let Some((x, traffic)) = crate::dataflow::exposure::sweep(read, asset, &cats, &labels, w)? else {
        return Ok(None);
    };
    let ix = scr::keep(store, asset, &cats, &x)?;
    let built_index = Some(started.elapsed().as_secs_f64());
    let texts: Vec<String> = plan.addresses.iter().map(|(_, a)| a.clone()).collect();
    let answer =
        MultiScreener { stores: &[store], indexes: std::slice::from_ref(&ix), links: &[], risk: &plan.risk, clusters: None }.screen(&texts);
    Ok(Some(Screened {
        answer,
        built_index,
        updated_index: false,
        asset: store.manifest.assets[asset as usize].clone(),
        exchange: Some(traffic),
    }))
}

/// Write the answer where the request says; returns the text for standard
/// output, if any goes there.
pub fn deliver(r: &Request, a: &ScreenAnswer) -> Result<Option<String>, AppError> {
    let text = match r.format {
        Format::Json => pretty_json(a)?,
        Format::Csv => answer::to_csv(a),
        Format::Parquet => {
            let out = r.output.as_deref().ok_or_else(|| AppError::Usage("--format parquet writes a file: give --output FILE".into()))?;
            crate::report::parquet::write_screen(a, out)?;
            return Ok(None);
        }
    };
    match &r.output {
        Some(p) => write_text(p, &text).map(|()| None),
        None => Ok(Some(text)),
    }
}

/// How many answers reach `level` (for `--fail-above`).
pub fn at_or_above(a: &ScreenAnswer, level: Level) -> usize {
    a.results.iter().filter(|r| r.risk >= level).count()
}
