//! `chaintrace screen`: exposure answers for a file of addresses, from the
//! store's exposure index (built when missing), in the format asked for.

use super::{AppError, pretty_json, write_text};
use crate::screen::answer::{self, ScreenAnswer, Screener};
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
    /// ETH (default) or a token contract.
    pub asset: Option<String>,
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
    let (risk, keys) = (&plan.risk, &plan.keys);
    let asset = crate::trace::resolve_asset(store, r.asset.as_deref())?;
    let started = std::time::Instant::now();
    let (ix, built) = scr::open_or_build(store, asset, &categories(&r.categories))?;
    let built_index = built.then(|| started.elapsed().as_secs_f64());
    let answer = Screener { store, index: &ix, risk }.screen(keys);
    Ok(Screened { answer, built_index, asset: store.manifest.assets[asset as usize].clone() })
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
