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
    /// A bridge's payout chain.
    #[serde(skip_serializing_if = "Option::is_none")]
    to_chain: Option<String>,
    /// The bridge of a bridge deposit (`thorchain`, `avalanche-bridge`,
    /// `wormhole`, `ronin`, `renbridge`); JSON only.
    #[serde(skip_serializing_if = "Option::is_none")]
    bridge: Option<&'static str>,
    /// `false` for a link made by a heuristic (followed only with `--follow
    /// bridges-heuristic`); absent for exact ones. JSON only.
    #[serde(skip_serializing_if = "Option::is_none")]
    exact: Option<bool>,
    /// A heuristic link's score in parts per million; JSON only.
    #[serde(skip_serializing_if = "Option::is_none")]
    score: Option<u32>,
}

/// List the conversions of `stores` (one chain each): every store's swaps
/// and the bridge deposits with their payouts, sorted by chain, block and
/// transaction index. With several stores, assets are `CHAIN:ASSET`.
pub fn list(stores: &[&Store], format: Format) -> Result<String, AppError> {
    let several = stores.len() > 1;
    let name = |s: &Store, a: u32| {
        let n = s.manifest.assets.get(a as usize).cloned().unwrap_or_else(|| format!("asset {a}"));
        if several { format!("{}:{n}", s.manifest.chain.name()) } else { n }
    };
    let mut keyed: Vec<((String, u64, u32, u32), Row)> = Vec::new();
    for &s in stores {
        let chain = s.manifest.chain.name().to_string();
        for f in crate::trace::conversions::list(s) {
            let (status, sides) = match f.conversion {
                Conversion::Swap(w) => ("followable", Some(w)),
                Conversion::Ambiguous(_) => ("ambiguous", None),
            };
            let row = Row {
                tx: s.tx_text(f.tx),
                chain: chain.clone(),
                block: f.block,
                kind: "swap",
                status,
                payer: sides.map(|w| s.address_text(w.payer)),
                payee: sides.map(|w| s.address_text(w.payee)),
                venues: f.venues.iter().map(|&v| s.address_text(v)).collect(),
                asset_in: sides.map(|w| name(s, w.sold.0)),
                value_in: sides.map(|w| w.sold.1.0.to_string()),
                asset_out: sides.map(|w| name(s, w.bought.0)),
                value_out: sides.map(|w| w.bought.1.0.to_string()),
                to_tx: None,
                to_chain: None,
                bridge: None,
                exact: None,
                score: None,
            };
            keyed.push(((chain.clone(), f.block, f.tx_index, f.tx), row));
        }
    }
    // Heuristic links too: listed, marked `exact: false` with their score.
    for b in crate::trace::bridges::match_all(stores, true) {
        let s = stores[b.store];
        let ev = s.events();
        let i = b.events[0];
        let chain = s.manifest.chain.name().to_string();
        let pay = b.payout.as_ref();
        let row = Row {
            tx: s.tx_text(b.tx),
            chain: chain.clone(),
            block: ev.block(i),
            kind: "bridge",
            status: b.status.as_str(),
            payer: Some(s.address_text(b.payer)),
            payee: pay.map(|p| stores[p.store].address_text(p.payee)),
            venues: vec![s.address_text(b.holder)],
            asset_in: Some(name(s, b.asset)),
            value_in: Some(b.value.to_string()),
            asset_out: pay.map(|p| name(stores[p.store], p.asset)),
            value_out: pay.map(|p| p.value.to_string()),
            to_tx: pay.map(|p| stores[p.store].tx_text(p.tx)),
            to_chain: pay.map(|p| stores[p.store].manifest.chain.name().to_string()),
            bridge: Some(b.bridge),
            exact: (!b.exact).then_some(false),
            score: b.score_ppm,
        };
        keyed.push(((chain, ev.block(i), ev.tx_index(i), b.tx), row));
    }
    keyed.sort_by(|a, b| a.0.cmp(&b.0));
    let rows: Vec<Row> = keyed.into_iter().map(|(_, r)| r).collect();
    match format {
        Format::Json => {
            #[derive(serde::Serialize)]
            struct Out {
                conversions: Vec<Row>,
            }
            pretty_json(&Out { conversions: rows })
        }
        Format::Csv => {
            // `to_chain` only where a bridge is listed: one chain's swaps keep their columns.
            let bridges = rows.iter().any(|r| r.to_chain.is_some());
            let mut out = String::from("tx,chain,block,kind,status,payer,payee,venues,asset_in,value_in,asset_out,value_out,to_tx");
            out += if bridges { ",to_chain\n" } else { "\n" };
            let o = |x: &Option<String>| x.clone().unwrap_or_default();
            for r in &rows {
                let mut fields = vec![
                    r.tx.clone(),
                    r.chain.clone(),
                    r.block.to_string(),
                    r.kind.to_string(),
                    r.status.to_string(),
                    o(&r.payer),
                    o(&r.payee),
                    r.venues.join(";"),
                    o(&r.asset_in),
                    o(&r.value_in),
                    o(&r.asset_out),
                    o(&r.value_out),
                    o(&r.to_tx),
                ];
                if bridges {
                    fields.push(o(&r.to_chain));
                }
                out += &fields.join(",");
                out.push('\n');
            }
            Ok(out)
        }
    }
}
