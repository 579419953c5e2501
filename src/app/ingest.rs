//! `chaintrace ingest`: options checked before any file is read, then the
//! files loaded into a new store generation.

use super::AppError;
use crate::ingest::{self, Format, Options, Summary};
use crate::model::Chain;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// What `chaintrace ingest` was asked.
#[derive(Clone, Debug)]
pub struct Request {
    /// The chain of the data.
    pub chain: Chain,
    /// The input format.
    pub format: Format,
    /// Unit of `value` in a transfers file.
    pub value_unit: Option<String>,
    /// Skip, count and report bad rows instead of stopping.
    pub skip_bad_rows: bool,
    /// `0xCONTRACT=N` decimals of tokens in Etherscan ERC-20 exports.
    pub token_decimals: Vec<String>,
    /// Draw a progress bar (on a terminal).
    pub progress: bool,
}

/// Check the options; nothing is read.
pub fn plan(r: &Request) -> Result<Options, AppError> {
    if let Some(u) = &r.value_unit
        && ingest::transfers::unit_decimals(u).is_none()
    {
        return Err(AppError::Usage(format!("--value-unit {u:?}: expected wei, gwei, eth, sat or btc")));
    }
    if r.format == Format::Etherscan && r.chain == Chain::Bitcoin {
        return Err(AppError::Usage("--format etherscan reads Etherscan's Ethereum exports: use --chain ethereum".into()));
    }
    Ok(Options {
        chain: r.chain,
        format: r.format,
        value_unit: r.value_unit.clone(),
        skip_bad_rows: r.skip_bad_rows,
        token_decimals: token_decimals(&r.token_decimals)?,
        progress: r.progress,
    })
}

fn token_decimals(items: &[String]) -> Result<HashMap<[u8; 20], u32>, AppError> {
    let mut m = HashMap::new();
    for it in items {
        let (a, d) = it.split_once('=').ok_or_else(|| AppError::Usage(format!("--token-decimals {it:?}: expected CONTRACT=N")))?;
        let addr = crate::model::text::eth_address("--token-decimals", a.as_bytes())
            .map_err(|e| AppError::Usage(format!("--token-decimals {it:?}: {}", e.message)))?;
        let d: u32 =
            d.parse().ok().filter(|d| *d <= 77).ok_or_else(|| AppError::Usage(format!("--token-decimals {it:?}: N must be 0..77")))?;
        m.insert(addr, d);
    }
    Ok(m)
}

/// Load files into the store (created if missing).
pub fn run(dir: &Path, files: &[PathBuf], opts: &Options) -> Result<Summary, AppError> {
    Ok(ingest::ingest(dir, files, opts)?)
}
