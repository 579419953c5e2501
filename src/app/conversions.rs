//! `chaintrace conversions`: every conversion the data shows (INTERFACE.md).

use super::{AppError, pretty_json};
use crate::convert::detect::Conversion;
use crate::store::Store;

/// How `conversions` prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `{ "conversions": [...] }`.
    Json,
    /// One row a conversion, the same fields (venues joined by `;`).
    Csv,
}

#[derive(serde::Serialize)]
struct Row {
    tx: String,
    chain: String,
    block: u64,
    kind: &'static str,
    status: &'static str,
    payer: Option<String>,
    payee: Option<String>,
    venues: Vec<String>,
    asset_in: Option<String>,
    value_in: Option<String>,
    asset_out: Option<String>,
    value_out: Option<String>,
    to_tx: Option<String>,
}

/// List the store's conversions, sorted by block and transaction index.
pub fn list(s: &Store, format: Format) -> Result<String, AppError> {
    let chain = serde_json::to_value(s.manifest.chain)?.as_str().unwrap_or_default().to_string();
    let asset = |a: u32| s.manifest.assets.get(a as usize).cloned().unwrap_or_else(|| format!("asset {a}"));
    let rows: Vec<Row> = crate::trace::conversions::list(s)
        .into_iter()
        .map(|f| {
            let (status, sides) = match f.conversion {
                Conversion::Swap(w) => ("followable", Some(w)),
                Conversion::Ambiguous(_) => ("ambiguous", None),
            };
            Row {
                tx: s.tx_text(f.tx),
                chain: chain.clone(),
                block: f.block,
                kind: "swap",
                status,
                payer: sides.map(|w| s.address_text(w.payer)),
                payee: sides.map(|w| s.address_text(w.payee)),
                venues: f.venues.iter().map(|&v| s.address_text(v)).collect(),
                asset_in: sides.map(|w| asset(w.sold.0)),
                value_in: sides.map(|w| w.sold.1.0.to_string()),
                asset_out: sides.map(|w| asset(w.bought.0)),
                value_out: sides.map(|w| w.bought.1.0.to_string()),
                to_tx: None,
            }
        })
        .collect();
    match format {
        Format::Json => {
            #[derive(serde::Serialize)]
            struct Out {
                conversions: Vec<Row>,
            }
            pretty_json(&Out { conversions: rows })
        }
        Format::Csv => {
            let mut out = String::from("tx,chain,block,kind,status,payer,payee,venues,asset_in,value_in,asset_out,value_out,to_tx\n");
            let o = |x: &Option<String>| x.clone().unwrap_or_default();
            for r in &rows {
                out += &format!(
                    "{},{},{},{},{},{},{},{},{},{},{},{},{}\n",
                    r.tx,
                    r.chain,
                    r.block,
                    r.kind,
                    r.status,
                    o(&r.payer),
                    o(&r.payee),
                    r.venues.join(";"),
                    o(&r.asset_in),
                    o(&r.value_in),
                    o(&r.asset_out),
                    o(&r.value_out),
                    o(&r.to_tx)
                );
            }
            Ok(out)
        }
    }
}
