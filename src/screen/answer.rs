//! The screening answer of INTERFACE.md: one result per address, in input
//! order, with per category the amount, share, direct and indirect parts,
//! hops and one evidence path.

use super::index::Index;
use super::risk::{Level, RiskConfig};
use crate::store::Store;
use crate::trace::evidence::EventRef;
use serde::Serialize;

/// Exposure to one category.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct CategoryExposure {
    /// The risk category.
    pub category: String,
    /// Taint received from its sources, base units.
    pub amount: String,
    /// `amount / received`.
    pub share: f64,
    /// Of `amount`, received straight from a source (hop 1).
    pub direct: String,
    /// The rest.
    pub indirect: String,
    /// Smallest hop.
    pub hops: u32,
    /// The level this category alone reaches.
    pub risk: Level,
    /// One evidence path, source first.
    pub path: Vec<EventRef>,
}

/// The answer for one address.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ScreenResult {
    /// The address as given, normalised (lowercase).
    pub address: String,
    /// Whether it appears in any event of the data.
    pub activity: bool,
    /// What it received from other addresses in the screened asset.
    pub received: String,
    /// The highest level any category reaches.
    pub risk: Level,
    /// Categories with a non-zero amount, largest first.
    pub exposure: Vec<CategoryExposure>,
    /// Over several stores: the chain this result is for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chain: Option<String>,
    /// Over several stores: the asset screened on that chain.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub asset: Option<String>,
    /// With clustering on: the address's cluster, over which the answer
    /// is summed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<ClusterOf>,
}

/// The cluster a clustered answer is over.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct ClusterOf {
    /// Its member with the smallest id (the name `chaintrace cluster` gives it).
    pub representative: String,
    /// Its addresses.
    pub size: u32,
}

/// Address clusters' members, for answers over clusters: one sorted list of
/// the members of every cluster of two or more, and where each cluster's
/// run starts (ADR 0021: a cluster's exposure is the sum of its members').
pub struct ClusterMembers {
    clustering: std::sync::Arc<crate::cluster::Clustering>,
    members: Vec<u32>,
    runs: crate::trace::IdMap<(u32, u32)>,
}

impl ClusterMembers {
    /// The members of every cluster of `c` over `n_addr` addresses.
    pub fn new(c: std::sync::Arc<crate::cluster::Clustering>, n_addr: usize) -> Self {
        let mut pairs: Vec<(u32, u32)> = (0..n_addr as u32).filter(|&a| c.size_of(a) > 1).map(|a| (c.rep(a), a)).collect();
        pairs.sort_unstable();
        let mut runs = crate::trace::IdMap::default();
        let mut k = 0;
        while k < pairs.len() {
            let r = pairs[k].0;
            let end = k + pairs[k..].partition_point(|p| p.0 == r);
            runs.insert(r, (k as u32, end as u32));
            k = end;
        }
        ClusterMembers { clustering: c, members: pairs.into_iter().map(|p| p.1).collect(), runs }
    }

    /// `a`'s cluster: its representative and members, ascending.
    pub fn of(&self, a: u32) -> (u32, std::borrow::Cow<'_, [u32]>) {
        let r = self.clustering.rep(a);
        match self.runs.get(&r) {
            Some(&(lo, hi)) => (r, std::borrow::Cow::Borrowed(&self.members[lo as usize..hi as usize])),
            None => (a, std::borrow::Cow::Owned(vec![a])),
        }
    }
}

/// The answer for address `id`'s cluster (TRACING.md §4 with clustering
/// on): per category, the members' amounts and direct parts summed, the
/// smallest hops, and the evidence path of the member that received most
/// (the smallest id among equals); `received` summed; the risk from the
/// sums.
pub fn cluster_result(
    store: &Store,
    index: &Index,
    risk: &RiskConfig,
    members: &ClusterMembers,
    address: String,
    id: Option<u32>,
) -> ScreenResult {
    let path = |id: u32, k: u16| EventRef::all_of(store, index.path(store, id, k).into_iter().map(|i| i as usize));
    let Some(id) = id else { return result_of(index, risk, address, None, &path) };
    let (rep, list) = members.of(id);
    /// One category summed over the members.
    struct Sum {
        k: u16,
        amount: u128,
        direct: u128,
        hops: u32,
        /// The member that received most, and how much.
        most: (u128, u32),
    }
    // Bitcoin's supply is below 2^51 units: sums over members cannot reach
    // 2^128 (they saturate rather than wrap, were it otherwise).
    let mut received: u128 = 0;
    let mut sums: std::collections::BTreeMap<u16, Sum> = std::collections::BTreeMap::new();
    for &m in list.iter() {
        received = received.saturating_add(index.received(m));
        for e in index.exposures(m).iter().filter(|e| e.amount > 0) {
            let s = sums.entry(e.category).or_insert(Sum { k: e.category, amount: 0, direct: 0, hops: u32::MAX, most: (0, u32::MAX) });
            s.amount = s.amount.saturating_add(e.amount);
            s.direct = s.direct.saturating_add(e.direct);
            s.hops = s.hops.min(e.hops);
            if e.amount > s.most.0 {
                s.most = (e.amount, m);
            }
        }
    }
    let cats = &index.meta.categories;
    // In the answer's order, as `ranked` gives one address's: largest first, then by name.
    let mut sums: Vec<Sum> = sums.into_values().collect();
    sums.sort_by(|a, b| b.amount.cmp(&a.amount).then_with(|| cats[a.k as usize].cmp(&cats[b.k as usize])));
    let exposure: Vec<CategoryExposure> = sums
        .into_iter()
        .map(|s| category_entry(&cats[s.k as usize], risk, (s.amount, s.direct, s.hops), received, path(s.most.1, s.k)))
        .collect();
    let level = exposure.iter().map(|e| e.risk).max().unwrap_or(Level::None);
    ScreenResult {
        address,
        activity: true,
        received: received.to_string(),
        risk: level,
        exposure,
        chain: None,
        asset: None,
        cluster: Some(ClusterOf { representative: store.address_text(rep), size: list.len() as u32 }),
    }
}

/// `{"results": [...]}`.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ScreenAnswer {
    /// One per input address, in input order.
    pub results: Vec<ScreenResult>,
}

/// A lookup engine over one store and its index.
pub struct Screener<'a> {
    /// The store.
    pub store: &'a Store,
    /// Its exposure index.
    pub index: &'a Index,
    /// Risk thresholds.
    pub risk: &'a RiskConfig,
}

impl Screener<'_> {
    /// The answer for one address (20 bytes; `id` from the index's lookup).
    pub fn result(&self, key: &[u8; 20], id: Option<u32>) -> ScreenResult {
        let path = |id: u32, k: u16| EventRef::all_of(self.store, self.index.path(self.store, id, k).into_iter().map(|i| i as usize));
        result_of(self.index, self.risk, crate::model::text::encode_hex("0x", key), id, &path)
    }

    /// Answers for many addresses, in order.
    pub fn screen(&self, keys: &[[u8; 20]]) -> ScreenAnswer {
        let mut results = Vec::with_capacity(keys.len());
        self.each(keys, |key, id| results.push(self.result(key, id)));
        ScreenAnswer { results }
    }

    /// [`Screener::screen`] as compact JSON (`serde_json::to_vec` of it,
    /// byte for byte). An address with no exposure, most of a batch, is
    /// written straight into the buffer: its answer has a fixed shape, and
    /// building its strings to escape them again was a third of a batch.
    pub fn screen_json(&self, keys: &[[u8; 20]]) -> Vec<u8> {
        let mut out = Vec::with_capacity(keys.len() * 120 + 16);
        out.extend_from_slice(b"{\"results\":[");
        let mut first = true;
        self.each(keys, |key, id| {
            if !std::mem::take(&mut first) {
                out.push(b',');
            }
            self.result_json(&mut out, key, id);
        });
        out.extend_from_slice(b"]}");
        out
    }

    /// [`Screener::result`] as compact JSON appended to `out`, serde's
    /// bytes, without the answer's strings: an answer with a long evidence
    /// path is a hundred of them, each made to be escaped and copied again.
    pub fn result_json(&self, out: &mut Vec<u8>, key: &[u8; 20], id: Option<u32>) {
        out.extend_from_slice(b"{\"address\":\"");
        crate::model::text::push_hex(out, "0x", key);
        self.rest_json(out, id);
    }

    /// The answers for Bitcoin addresses (as [`Screener::screen_json`]
    /// gives them for 20-byte ones), each checked by the API's pattern
    /// and normalised ([`bitcoin_form`]): looked up a batch at a time, then
    /// each compared with the store's text.
    pub fn screen_text_json(&self, texts: &[String]) -> Vec<u8> {
        let mut out = Vec::with_capacity(texts.len() * 120 + 16);
        out.extend_from_slice(b"{\"results\":[");
        let mut ids = Vec::with_capacity(texts.len());
        self.index.lookup_text_batch(self.store, texts, &mut ids);
        for (k, (text, id)) in texts.iter().zip(ids).enumerate() {
            if k > 0 {
                out.push(b',');
            }
            self.text_result_json(&mut out, text, id);
        }
        out.extend_from_slice(b"]}");
        out
    }

    /// One Bitcoin address's answer as compact JSON.
    pub fn text_result_json(&self, out: &mut Vec<u8>, text: &str, id: Option<u32>) {
        out.extend_from_slice(b"{\"address\":");
        serde_json::to_writer(&mut *out, text).expect("JSON into memory");
        out.pop();
        self.rest_json(out, id);
    }

    /// An answer after its address's text (and the quote that ends it).
    fn rest_json(&self, out: &mut Vec<u8>, id: Option<u32>) {
        use std::io::Write;
        let w = "JSON into memory";
        let Some(id) = id else {
            return out.extend_from_slice(b"\",\"activity\":false,\"received\":\"0\",\"risk\":\"none\",\"exposure\":[]}");
        };
        let received = self.index.received(id);
        write!(out, "\",\"activity\":true,\"received\":\"{received}\",\"risk\":").expect(w);
        let cats = &self.index.meta.categories;
        let exposure = ranked(self.index, id);
        let level = |e: &super::index::Entry| self.risk.level(&cats[e.category as usize], e.amount, received);
        serde_json::to_writer(&mut *out, &exposure.iter().map(|e| level(e)).max().unwrap_or(Level::None)).expect(w);
        out.extend_from_slice(b",\"exposure\":[");
        let ev = self.store.events();
        for (k, e) in exposure.iter().enumerate() {
            if k > 0 {
                out.push(b',');
            }
            out.extend_from_slice(b"{\"category\":");
            serde_json::to_writer(&mut *out, &cats[e.category as usize]).expect(w);
            write!(out, ",\"amount\":\"{}\",\"share\":", e.amount).expect(w);
            serde_json::to_writer(&mut *out, &share(e.amount, received)).expect(w);
            write!(out, ",\"direct\":\"{}\",\"indirect\":\"{}\",\"hops\":{},\"risk\":", e.direct, e.amount - e.direct, e.hops).expect(w);
            serde_json::to_writer(&mut *out, &level(e)).expect(w);
            out.extend_from_slice(b",\"path\":[");
            for (j, i) in self.index.path(self.store, id, e.category).into_iter().enumerate() {
                let r = crate::trace::EventRow::at_in(self.store, &ev, i as usize);
                out.extend_from_slice(if j > 0 { b",{\"tx\":" } else { b"{\"tx\":" });
                if r.tx == crate::model::NO_TX {
                    out.extend_from_slice(b"null");
                } else {
                    out.push(b'"');
                    self.store.push_tx_text(out, r.tx);
                    out.push(b'"');
                }
                out.extend_from_slice(b",\"from\":\"");
                self.store.push_address_text(out, r.from);
                out.extend_from_slice(b"\",\"to\":\"");
                self.store.push_address_text(out, r.to);
                out.extend_from_slice(b"\",\"block\":");
                if r.block == crate::model::NO_BLOCK {
                    out.extend_from_slice(b"null")
                } else {
                    write!(out, "{}", r.block).expect(w)
                }
                out.extend_from_slice(b",\"time\":");
                if r.time == crate::model::NO_TIME {
                    out.extend_from_slice(b"null");
                } else {
                    out.push(b'"');
                    crate::model::time::push_time(out, r.time);
                    out.push(b'"');
                }
                write!(out, ",\"value\":\"{}\"}}", crate::model::amount::Amount(r.value)).expect(w);
            }
            out.extend_from_slice(b"]}");
        }
        out.extend_from_slice(b"]}");
    }

    /// `f(key, id)` for each key in order, the index's reads for each
    /// answer loaded a few answers ahead: each one's first reads miss the
    /// cache (a random place in an index of millions of addresses, most of
    /// a batch's time); the entries are loaded in a second stage.
    fn each(&self, keys: &[[u8; 20]], mut f: impl FnMut(&[u8; 20], Option<u32>)) {
        let mut ids = Vec::with_capacity(keys.len());
        self.index.lookup_batch(keys, &mut ids);
        const AHEAD: usize = 8;
        for (k, key) in keys.iter().enumerate() {
            if let Some(&Some(a)) = ids.get(k + AHEAD) {
                self.index.prefetch(a);
            }
            if let Some(&Some(a)) = ids.get(k + AHEAD / 2) {
                self.index.prefetch_entries(a);
            }
            f(key, ids[k]);
        }
    }
}

/// The answer for one address from an index, its evidence paths from
/// `path(id, category)`.
fn result_of(index: &Index, risk: &RiskConfig, address: String, id: Option<u32>, path: &dyn Fn(u32, u16) -> Vec<EventRef>) -> ScreenResult {
    let Some(id) = id else {
        return ScreenResult {
            address,
            activity: false,
            received: "0".into(),
            risk: Level::None,
            exposure: Vec::new(),
            chain: None,
            asset: None,
            cluster: None,
        };
    };
    let received = index.received(id);
    let exposure: Vec<CategoryExposure> = ranked(index, id)
        .into_iter()
        .map(|e| {
            category_entry(&index.meta.categories[e.category as usize], risk, (e.amount, e.direct, e.hops), received, path(id, e.category))
        })
        .collect();
    let risk = exposure.iter().map(|e| e.risk).max().unwrap_or(Level::None);
    ScreenResult { address, activity: true, received: received.to_string(), risk, exposure, chain: None, asset: None, cluster: None }
}

/// One category's row of an answer: `(amount, direct, hops)` of what
/// `received` came with, its risk level, and its evidence path.
fn category_entry(
    category: &str,
    risk: &RiskConfig,
    (amount, direct, hops): (u128, u128, u32),
    received: u128,
    path: Vec<EventRef>,
) -> CategoryExposure {
    CategoryExposure {
        amount: amount.to_string(),
        share: share(amount, received),
        direct: direct.to_string(),
        indirect: (amount - direct).to_string(),
        hops,
        risk: risk.level(category, amount, received),
        path,
        category: category.to_string(),
    }
}

/// The categories `id` is exposed to (a non-zero amount), in the answer's
/// order: largest amount first, then by name.
fn ranked(index: &Index, id: u32) -> Vec<&super::index::Entry> {
    let cats = &index.meta.categories;
    let mut exposure: Vec<&super::index::Entry> = index.exposures(id).iter().filter(|e| e.amount > 0).collect();
    exposure.sort_by(|a, b| b.amount.cmp(&a.amount).then_with(|| cats[a.category as usize].cmp(&cats[b.category as usize])));
    exposure
}

/// `amount / received` (0 where nothing was received).
fn share(amount: u128, received: u128) -> f64 {
    if received == 0 { 0.0 } else { amount as f64 / received as f64 }
}

/// Screening over several stores screened together
/// ([`super::multi::open_or_build_many`]).
pub struct MultiScreener<'a> {
    /// The stores, in the order given.
    pub stores: &'a [&'a Store],
    /// Their exposure indexes.
    pub indexes: &'a [Index],
    /// The bridges followed.
    pub links: &'a [super::multi::Link],
    /// Risk thresholds.
    pub risk: &'a RiskConfig,
    /// With clustering on (one Bitcoin store): its clusters.
    pub clusters: Option<&'a ClusterMembers>,
}

impl MultiScreener<'_> {
    /// Per address, in input order, one result per store whose chain its
    /// form fits (an `0x` address every account-model store, any other a
    /// Bitcoin store), in the order given; over several stores each names
    /// its chain and asset, and evidence paths each step's chain (one
    /// store: the answer of [`Screener`]).
    pub fn screen(&self, addresses: &[String]) -> ScreenAnswer {
        let several = self.stores.len() > 1;
        let chain = |j: usize| self.stores[j].manifest.chain.name().to_string();
        let mut results = Vec::with_capacity(addresses.len());
        for text in addresses {
            for (j, (s, ix)) in self.stores.iter().zip(self.indexes).enumerate() {
                if !fits(s.manifest.chain, text) {
                    continue;
                }
                let id = match s.manifest.chain.is_account() {
                    true => crate::model::text::eth_address("address", text.as_bytes()).ok().and_then(|k| ix.lookup(&k)),
                    false => ix.lookup_text(s, text.as_bytes()),
                };
                let path = |id: u32, k: u16| {
                    super::multi::path(self.stores, self.indexes, self.links, j, id, k)
                        .into_iter()
                        .map(|(j, i)| EventRef { chain: several.then(|| chain(j)), ..EventRef::of(self.stores[j], i as usize) })
                        .collect()
                };
                let mut r = match self.clusters {
                    Some(c) if !s.manifest.chain.is_account() => cluster_result(s, ix, self.risk, c, text.clone(), id),
                    _ => result_of(ix, self.risk, text.clone(), id, &path),
                };
                if several {
                    r.chain = Some(s.manifest.chain.name().to_string());
                    r.asset = Some(ix.meta.asset.clone());
                }
                results.push(r);
            }
        }
        ScreenAnswer { results }
    }
}

/// A Bitcoin address as the API takes it (docs/openapi.json, served for a
/// Bitcoin store): base58 (`1`, `3`, `m`, `n` or `2`, then 24 to 34
/// base58 digits) or bech32 (`bc1`, `tb1` or `bcrt1`, then at least 6 of
/// its digits, 90 characters at most, one case). Bech32 comes back in
/// lower case, as the chain's exports write it; no checksum is checked (an
/// address not in the data answers `activity: false`).
pub fn bitcoin_form(text: &str) -> Result<String, String> {
    const BASE58: &[u8] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
    const BECH32: &[u8] = b"qpzry9x8gf2tvdw0s3jn54khce6mua7l";
    let b = text.as_bytes();
    let base58 = matches!(b.first(), Some(b'1' | b'3' | b'm' | b'n' | b'2'))
        && (25..=35).contains(&b.len())
        && b[1..].iter().all(|c| BASE58.contains(c));
    if base58 {
        return Ok(text.to_string());
    }
    let lower = text.to_ascii_lowercase();
    let one_case = text == lower || text == text.to_ascii_uppercase();
    let bech32 = one_case
        && ["bc1", "tb1", "bcrt1"].iter().any(|hrp| {
            lower.strip_prefix(hrp).is_some_and(|d| d.len() >= 6 && lower.len() <= 90 && d.bytes().all(|c| BECH32.contains(&c)))
        });
    if bech32 { Ok(lower) } else { Err(format!("{text:?} is not a Bitcoin address (base58 or bech32)")) }
}

/// Whether an address's form fits a chain: `0x` and 40 hex digits an
/// account-model chain, anything else Bitcoin.
pub fn fits(chain: crate::model::Chain, address: &str) -> bool {
    is_eth_form(address) == chain.is_account()
}

fn is_eth_form(a: &str) -> bool {
    a.len() == 42 && a.starts_with("0x") && a[2..].bytes().all(|b| b.is_ascii_hexdigit())
}

/// One CSV row per address and category (one row with empty category
/// fields for an address without exposure); the path as transaction hashes
/// separated by spaces.
pub fn to_csv(a: &ScreenAnswer) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut row = |fields: &[&str]| w.write_record(fields).expect("CSV into memory");
    // Over several stores each row names its chain and asset.
    let chains = a.results.iter().any(|r| r.chain.is_some());
    let head: &[&str] =
        &["address", "activity", "received", "risk", "category", "amount", "share", "direct", "indirect", "hops", "category_risk", "path"];
    row(&if chains { [head, &["chain", "asset"]].concat() } else { head.to_vec() });
    let level = |l: Level| serde_json::to_value(l).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
    for r in &a.results {
        let (activity, risk) = (r.activity.to_string(), level(r.risk));
        let head = [r.address.as_str(), &activity, &r.received, &risk];
        let tail: &[&str] = if chains { &[r.chain.as_deref().unwrap_or(""), r.asset.as_deref().unwrap_or("")] } else { &[] };
        if r.exposure.is_empty() {
            row(&[&head[..], &[""; 8], tail].concat());
        }
        for e in &r.exposure {
            let path: Vec<&str> = e.path.iter().filter_map(|p| p.tx.as_deref()).collect();
            let (share, hops, category_risk, path) = (e.share.to_string(), e.hops.to_string(), level(e.risk), path.join(" "));
            row(&[&head[..], &[&e.category, &e.amount, &share, &e.direct, &e.indirect, &hops, &category_risk, &path], tail].concat());
        }
    }
    crate::model::text::csv_text(w)
}

/// Read a file of addresses of any chain: one a line, `#` comments, blank
/// lines and an `address` header skipped; an Ethereum-form address
/// lowercased, a Bitcoin address (14 to 90 letters and digits, as base58
/// and bech32 write them) kept as written. With its 1-based line each.
pub fn read_address_texts(path: &std::path::Path) -> Result<Vec<(u64, String)>, crate::ingest::IngestError> {
    let text = std::fs::read(path).map_err(|source| crate::ingest::IngestError::Io { file: path.to_path_buf(), source })?;
    let mut out = Vec::new();
    for (n, line) in text.split(|&b| b == b'\n').enumerate() {
        let line = line.split(|&b| b == b'#').next().unwrap_or(b"").trim_ascii();
        let line = line.strip_suffix(b",").unwrap_or(line).trim_ascii();
        if line.is_empty() || (n == 0 && line.eq_ignore_ascii_case(b"address")) {
            continue;
        }
        let row = |e| crate::ingest::IngestError::row(path, n as u64 + 1, e);
        let hexish = line.starts_with(b"0x") || line.starts_with(b"0X") || line.starts_with(b"\\x") || line.len() == 40;
        if let Ok(a) = crate::model::text::eth_address("address", line) {
            out.push((n as u64 + 1, crate::model::text::encode_hex("0x", &a)));
        } else if hexish && !line[..2].eq_ignore_ascii_case(b"bc") {
            // Meant as an 0x address: its own error says what is wrong.
            crate::model::text::eth_address("address", line).map_err(row)?;
        } else if (14..=90).contains(&line.len()) && line.iter().all(u8::is_ascii_alphanumeric) {
            // Bech32 is case-insensitive and stored lowercase; base58 is not.
            let text = String::from_utf8_lossy(line).into_owned();
            let bech32 = ["bc1", "tb1", "bcrt1"].iter().any(|p| text.len() > p.len() && text[..p.len()].eq_ignore_ascii_case(p));
            out.push((n as u64 + 1, if bech32 { text.to_ascii_lowercase() } else { text }));
        } else {
            let shown = String::from_utf8_lossy(&line[..line.len().min(100)]).into_owned();
            return Err(row(crate::model::text::FieldError::new(
                "address",
                format!("{shown:?} is neither an 0x address nor a Bitcoin address"),
            )));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_files_take_every_form() {
        let dir = std::env::temp_dir().join(format!("ct-addr-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("a.txt");
        let hex = "098b716b8aaf21512996dc57eb0615e2383e2f96";
        let text = format!(
            "address\n0x{hex}\n{hex} # bare\n\\x{hex}\n0X{}\nBC1QXY2KGDYGJRSQTZQ2N0YRF2493P83KKFJHX0WLH\n1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa,\n",
            hex.to_uppercase()
        );
        std::fs::write(&f, text).unwrap();
        let got: Vec<String> = read_address_texts(&f).unwrap().into_iter().map(|x| x.1).collect();
        let eth = format!("0x{hex}");
        assert_eq!(
            got,
            [&eth, &eth, &eth, &eth, "bc1qxy2kgdygjrsqtzq2n0yrf2493p83kkfjhx0wlh", "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"]
                .map(|s| s.to_string())
        );
        for (bad, line) in [("0x123\n", 1), (&format!("{hex}\n{}zz\n", &hex[..38]), 2), ("a b c\n", 1)] {
            std::fs::write(&f, bad).unwrap();
            let e = read_address_texts(&f).unwrap_err().to_string();
            assert!(e.contains(&format!("line {line}")) && e.contains("address"), "{bad:?}: {e}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn csv_rows_and_quoting() {
        let exposure = |category: &str| CategoryExposure {
            category: category.into(),
            amount: "10".into(),
            share: 0.5,
            direct: "4".into(),
            indirect: "6".into(),
            hops: 2,
            risk: Level::High,
            path: vec![],
        };
        let odd = "mixer, \"tornado\"\r\nhot";
        let a = ScreenAnswer {
            results: vec![
                ScreenResult {
                    address: "0x11".into(),
                    activity: true,
                    received: "20".into(),
                    risk: Level::High,
                    exposure: vec![exposure("sanctioned"), exposure(odd)],
                    chain: None,
                    asset: None,
                    cluster: None,
                },
                ScreenResult {
                    address: "0x22".into(),
                    activity: false,
                    received: "0".into(),
                    risk: Level::None,
                    exposure: vec![],
                    chain: None,
                    asset: None,
                    cluster: None,
                },
            ],
        };
        let text = to_csv(&a);
        assert!(text.starts_with("address,activity,received,risk,category,amount,share,direct,indirect,hops,category_risk,path\n"));
        assert!(text.contains("\n0x11,true,20,high,sanctioned,10,0.5,4,6,2,high,\n"), "{text:?}");
        assert!(text.ends_with("\n0x22,false,0,none,,,,,,,,\n"), "{text:?}");
        let rows: Vec<csv::StringRecord> = csv::Reader::from_reader(text.as_bytes()).records().map(|r| r.unwrap()).collect();
        assert_eq!(rows.len(), 3);
        assert_eq!(&rows[1][4], odd);
        assert_eq!(&rows[1][10], "high");
    }
}
