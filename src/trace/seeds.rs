//! Seeds and assets as the user gives them, resolved against a store:
//! addresses, transaction hashes (a lookup in the store's index), Bitcoin
//! outpoints.

use super::types::TraceError;
use crate::model::Chain;
use crate::store::Store;

/// Seeds as given on the command line, resolved against a store.
#[derive(Clone, Debug, Default)]
pub struct Seeds {
    /// Address ids found.
    pub addresses: Vec<u32>,
    /// Transaction ids found.
    pub txs: Vec<u32>,
    /// Seed addresses as reported (lowercase on Ethereum).
    pub address_text: Vec<String>,
    /// Seed transactions as reported.
    pub tx_text: Vec<String>,
    /// Seeds not found in the data (a warning, not an error).
    pub missing: Vec<String>,
    /// Bitcoin outpoints `txid:vout`: (transaction id, output index).
    pub outpoints: Vec<(u32, u32)>,
}

/// Resolve seeds: `0x` and 64 hex digits is a transaction hash, anything else an address.
pub fn resolve_seeds(store: &Store, items: &[String], tx_items: &[String]) -> Result<Seeds, TraceError> {
    let mut s = Seeds::default();
    let chain = store.manifest.chain;
    let is_tx = |t: &str| {
        let h = t.strip_prefix("0x").unwrap_or(t);
        h.len() == 64 && h.bytes().all(|c| c.is_ascii_hexdigit()) && (t.starts_with("0x") || chain == Chain::Bitcoin)
    };
    let mut addrs = Vec::new();
    let mut txs: Vec<String> = tx_items.to_vec();
    let mut outpoints: Vec<(String, u32)> = Vec::new();
    for it in items {
        if let (Chain::Bitcoin, Some((txid, vout))) = (chain, it.split_once(':')) {
            let vout: u32 = vout.parse().map_err(|_| TraceError::Usage(format!("seed {it:?}: expected txid:vout")))?;
            outpoints.push((txid.to_string(), vout));
        } else if chain.is_account() && is_tx(it) {
            txs.push(it.clone());
        } else {
            addrs.push(it.clone());
        }
    }
    let mut norms = Vec::new();
    for a in &addrs {
        norms.push(match chain {
            Chain::Bitcoin => a.clone(),
            _ => {
                let raw = crate::model::text::eth_address("--seed", a.as_bytes())
                    .map_err(|e| TraceError::Usage(format!("seed {a:?}: {}", e.message)))?;
                format!("0x{}", hex::encode(raw))
            }
        });
    }
    let by_text = store.find_addresses(norms.iter().map(String::as_str));
    for norm in norms {
        match by_text.get(&norm) {
            Some(&id) => s.addresses.push(id),
            None => s.missing.push(norm.clone()),
        }
        s.address_text.push(norm);
    }
    if !txs.is_empty() || !outpoints.is_empty() {
        for t in txs {
            let h = crate::model::text::tx_hash("--seed-tx", t.as_bytes())
                .map_err(|e| TraceError::Usage(format!("seed transaction {t:?}: {}", e.message)))?;
            let norm = match chain {
                Chain::Bitcoin => hex::encode(h),
                _ => format!("0x{}", hex::encode(h)),
            };
            match store.find_tx(&h) {
                Some(id) => s.txs.push(id),
                None => s.missing.push(norm.clone()),
            }
            s.tx_text.push(norm);
        }
        for (txid, vout) in outpoints {
            let h = crate::model::text::tx_hash("--seed", txid.as_bytes())
                .map_err(|e| TraceError::Usage(format!("seed outpoint {txid}:{vout}: {}", e.message)))?;
            let norm = format!("{}:{vout}", hex::encode(h));
            match store.find_tx(&h) {
                Some(id) => s.outpoints.push((id, vout)),
                None => s.missing.push(norm.clone()),
            }
            s.address_text.push(norm);
        }
    }
    s.addresses.sort_unstable();
    s.addresses.dedup();
    s.txs.sort_unstable();
    s.txs.dedup();
    Ok(s)
}

/// The asset id for `--asset` (`ETH`/`BTC` or a token contract; default native).
pub fn resolve_asset(store: &Store, asset: Option<&str>) -> Result<u32, TraceError> {
    let Some(a) = asset else { return Ok(0) };
    let want = a.to_ascii_lowercase();
    store.manifest.assets.iter().position(|x| x.to_ascii_lowercase() == want).map(|p| p as u32).ok_or_else(|| {
        let all = &store.manifest.assets;
        let some: Vec<&str> = all.iter().take(5).map(String::as_str).collect();
        let more = if all.len() > 5 { format!(", ... {} in all; `chaintrace stats` lists them", all.len()) } else { String::new() };
        TraceError::Usage(format!("asset {a:?} is not in the store (it has {}{more})", some.join(", ")))
    })
}
