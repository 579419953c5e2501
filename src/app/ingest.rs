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
    /// `--memory`: the budget (`8GiB`, `512MiB`, bytes); `None`: the default.
    pub memory: Option<String>,
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
    // Its readers name value columns in ether (`Value_IN(ETH)`): the
    // scanners of chains with another coin name theirs in it.
    if r.format == Format::Etherscan && r.chain.native() != "ETH" {
        return Err(AppError::Usage(format!(
            "--format etherscan reads exports whose values are in ETH; {} counts in {}: use --format etl",
            r.chain,
            r.chain.native()
        )));
    }
    Ok(Options {
        chain: r.chain,
        format: r.format,
        value_unit: r.value_unit.clone(),
        skip_bad_rows: r.skip_bad_rows,
        token_decimals: token_decimals(&r.token_decimals)?,
        progress: r.progress,
        memory: match &r.memory {
            Some(m) => memory_size(m)
                .ok_or_else(|| AppError::Usage(format!("--memory {m:?}: expected a size such as 8GiB, 512MiB or a number of bytes")))?,
            None => ingest::window::default_memory(),
        },
    })
}

/// `8GiB`, `8G`, `512MiB`, `64KiB`, `1000000`: bytes (K, M, G and T are
/// powers of 1024 with or without `iB`), never 0.
fn memory_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let digits = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let n: u64 = s[..digits].parse().ok()?;
    let unit = s[digits..].trim().to_ascii_lowercase();
    let shift = match unit.trim_end_matches("ib").trim_end_matches('b') {
        "" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        "t" => 40,
        _ => return None,
    };
    n.checked_mul(1u64 << shift).filter(|&b| b > 0)
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

#[cfg(test)]
mod tests {
    #[test]
    fn memory_sizes() {
        use super::memory_size as m;
        assert_eq!(m("8GiB"), Some(8 << 30));
        assert_eq!(m("8G"), Some(8 << 30));
        assert_eq!(m("512MiB"), Some(512 << 20));
        assert_eq!(m("64k"), Some(64 << 10));
        assert_eq!(m("1000000"), Some(1_000_000));
        assert_eq!(m("0"), None);
        assert_eq!(m("8 GB"), Some(8 << 30));
        assert_eq!(m("1.5G"), None);
        assert_eq!(m("99999999999T"), None);
        assert_eq!(m("lots"), None);
    }
}
