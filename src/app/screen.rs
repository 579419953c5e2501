//! `chaintrace screen`: exposure answers for a file of addresses, from the
//! store's exposure index (built when missing), in the format asked for;
//! over several stores, one answer per address and store, exposure
//! crossing bridges with `--follow bridges` (ADR 0014).

use super::{AppError, pretty_json, write_text};
use crate::screen::answer::{self, MultiScreener, ScreenAnswer, Screener};
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
    /// The asset screened.
    pub asset: String,
}

/// A checked request: its thresholds and the addresses to screen.
pub struct Plan {
    /// Risk thresholds.
    pub risk: RiskConfig,
    /// Addresses, in input order.
    pub keys: Vec<[u8; 20]>,
}

/// Check a request and read its address file before any store is opened.
pub fn plan(r: &Request, address_file: &Path) -> Result<Plan, AppError> {
    if r.format == Format::Parquet && r.output.is_none() {
        return Err(AppError::Usage("--format parquet writes a file: give --output FILE".into()));
    }
    let risk = risk_config(r.risk_config.as_deref())?;
    Ok(Plan { risk, keys: answer::read_addresses(address_file)? })
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

/// Screen the planned addresses in one store or several: without
/// `--follow`, each store from its own index; with it, the stores together.
pub fn run_stores(stores: &[&Store], r: &Request, plan: &Plan) -> Result<Screened, AppError> {
    use crate::trace::Follow;
    if r.follow.contains(&Follow::Swaps) {
        return Err(AppError::Usage(
            "screening is per asset (TRACING.md §4): it follows bridges (--follow bridges), not swaps; trace with --follow swaps".into(),
        ));
    }
    let (risk, keys) = (&plan.risk, &plan.keys);
    let assets = assets(stores, &r.asset)?;
    let cats = categories(&r.categories);
    let started = std::time::Instant::now();
    let names: Vec<String> = stores.iter().zip(&assets).map(|(s, &a)| s.manifest.assets[a as usize].clone()).collect();
    if !Follow::bridges(&r.follow) {
        let mut built = false;
        let mut answers = Vec::new();
        for (s, &a) in stores.iter().zip(&assets) {
            let (ix, b) = scr::open_or_build(s, a, &cats)?;
            built |= b;
            answers.push(Screener { store: s, index: &ix, risk }.screen(keys));
        }
        let answer = if stores.len() == 1 {
            answers.remove(0)
        } else {
            // Per address, one result per store, in the order given.
            let mut results = Vec::with_capacity(keys.len() * stores.len());
            let mut per: Vec<std::vec::IntoIter<_>> = answers.into_iter().map(|a| a.results.into_iter()).collect();
            for _ in keys {
                for (j, it) in per.iter_mut().enumerate() {
                    let mut x = it.next().expect("one result per address");
                    for e in &mut x.exposure {
                        for p in &mut e.path {
                            p.chain = Some(stores[j].manifest.chain.name().to_string());
                        }
                    }
                    x.chain = Some(stores[j].manifest.chain.name().to_string());
                    x.asset = Some(names[j].clone());
                    results.push(x);
                }
            }
            ScreenAnswer { results }
        };
        let built_index = built.then(|| started.elapsed().as_secs_f64());
        return Ok(Screened { answer, built_index, asset: names.join(", ") });
    }
    let heuristic = r.follow.contains(&Follow::BridgesHeuristic);
    let (ixs, links, built) = crate::screen::multi::open_or_build_many(stores, &assets, &cats, heuristic)?;
    let built_index = built.then(|| started.elapsed().as_secs_f64());
    let answer = MultiScreener { stores, indexes: &ixs, links: &links, risk }.screen(keys);
    Ok(Screened { answer, built_index, asset: names.join(", ") })
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
