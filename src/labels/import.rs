//! Importers for the label sets investigators use, each mapped into the
//! taxonomy (`docs/labels.md` has the table).
//!
//! Label files are small next to chain exports (the largest, GraphSense's
//! 524 K tags, is 70 MB unpacked), so each is read whole; a `.gz` file is
//! unpacked first. Rows for another chain than the store's are counted and
//! left out; a row that is bad for its own format is an error naming the
//! file, line and field.

use super::taxonomy::map_word;
use super::{Label, address_text, entity_name};
use crate::ingest::IngestError;
use crate::ingest::csv::{Header, Row, records, split_record, split_row};
use crate::model::Chain;
use crate::model::text::FieldError;
use std::borrow::Cow;
use std::collections::HashMap;
use std::path::Path;

/// Label file formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// Plain CSV: `address,category[,label][,valid_from,valid_to][,entity,confidence,source]`.
    Csv,
    /// OFAC SDN addresses of one asset, one a line or a JSON array
    /// (0xB10C's `sanctioned_addresses_<ASSET>.txt|json`).
    OfacList,
    /// OFAC addresses with their SDN entity: `address,name` (ultrasoundmoney).
    OfacEntity,
    /// Etherscan label cloud as JSON `{address: {name, labels: [slug...]}}` (brianleect).
    EtherscanJson,
    /// One Etherscan label page as CSV `,Address,Name Tag,...`; the file name is the slug (brianleect).
    EtherscanCsv,
    /// dawsbot eth-labels: `chain,label,address,name_tag`, or `address,nameTag` with the file name as the label.
    EthLabels,
    /// Forta labelled datasets (phishing scams, malicious contracts, Etherscan malicious labels).
    Forta,
    /// A GraphSense TagPack (YAML).
    GraphsenseYaml,
    /// GraphSense TagPacks flattened to CSV (`pack,currency,address,label,category,abuse,actor,...`), plain or gzipped.
    GraphsenseCsv,
    /// The Tornado Cash contract list (`address,chain,name,pool_denomination,...`).
    Tornado,
}

/// What one file gave.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Imported {
    /// The format read.
    pub format: Format,
    /// Label rows for the store's chain.
    pub labels: Vec<Label>,
    /// Rows (or entries) read.
    pub rows: u64,
    /// Rows for another chain, left out.
    pub other_chain: u64,
    /// Bad rows skipped (`--skip-bad-rows`).
    pub skipped: u64,
}

/// Read a label file; `format: None` detects it. `skip_bad` skips and
/// counts bad rows of the CSV formats instead of stopping at the first.
pub fn import(path: &Path, format: Option<Format>, chain: Chain, skip_bad: bool) -> Result<Imported, IngestError> {
    let raw = std::fs::read(path).map_err(|source| IngestError::Io { file: path.to_path_buf(), source })?;
    import_bytes(path, raw, format, chain, skip_bad)
}

/// [`import`] of a file's bytes already read (`raw`, gzipped or not),
/// called `path` in errors and named by it where a format takes its label
/// from the file name.
pub fn import_bytes(path: &Path, raw: Vec<u8>, format: Option<Format>, chain: Chain, skip_bad: bool) -> Result<Imported, IngestError> {
    let bytes = gunzip(path, raw)?;
    crate::ingest::csv::check_plain_text(path, &bytes[..bytes.len().min(4096)])?;
    let format = match format {
        Some(f) => f,
        None => detect(path, &bytes).ok_or_else(|| {
            IngestError::file(path, "not a label format chaintrace knows; name one with --format (see `chaintrace labels import --help`)")
        })?,
    };
    let mut out = Imported { format, labels: Vec::new(), rows: 0, other_chain: 0, skipped: 0 };
    let cx = Context { path, chain, stem: file_stem(path), skip_bad };
    match format {
        Format::Csv => {
            (out.labels, out.skipped) = super::plain_csv(path, &bytes, chain, skip_bad)?;
            out.rows = out.labels.len() as u64 + out.skipped;
        }
        Format::OfacList => ofac_list(&cx, &bytes, &mut out)?,
        Format::EtherscanJson => etherscan_json(&cx, &bytes, &mut out)?,
        Format::GraphsenseYaml => graphsense_yaml(&cx, &bytes, &mut out)?,
        Format::OfacEntity | Format::EtherscanCsv | Format::EthLabels | Format::Forta | Format::GraphsenseCsv | Format::Tornado => {
            csv_rows(&cx, &bytes, format, &mut out)?
        }
    }
    Ok(out)
}

struct Context<'a> {
    path: &'a Path,
    chain: Chain,
    stem: String,
    skip_bad: bool,
}

fn file_stem(path: &Path) -> String {
    let name = path.file_name().map_or(String::new(), |n| n.to_string_lossy().into_owned());
    let name = name.strip_suffix(".gz").unwrap_or(&name);
    name.rsplit_once('.').map_or(name, |(s, _)| s).to_string()
}

fn gunzip(path: &Path, raw: Vec<u8>) -> Result<Vec<u8>, IngestError> {
    use std::io::Read;
    let io = |source| IngestError::Io { file: path.to_path_buf(), source };
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(&raw[..]).read_to_end(&mut out).map_err(io)?;
        return Ok(out);
    }
    Ok(raw)
}

/// The header of CSV bytes and the offset of the first data record.
pub(super) fn csv_header(bytes: &[u8]) -> Option<(Header, usize)> {
    let end = memchr::memchr(b'\n', bytes).map_or(bytes.len(), |i| i + 1);
    let line = std::str::from_utf8(&bytes[..end]).ok()?.trim_end_matches(['\r', '\n']);
    let mut fields = Vec::new();
    split_record(line.as_bytes(), &mut fields).ok()?;
    Some((Header::new(&fields), end))
}

/// Which format a file is, from its name and first bytes.
pub fn detect(path: &Path, bytes: &[u8]) -> Option<Format> {
    let name = path.to_string_lossy().to_ascii_lowercase();
    let name = name.strip_suffix(".gz").unwrap_or(&name);
    let text = bytes.trim_ascii_start();
    if name.ends_with(".yaml") || name.ends_with(".yml") {
        return Some(Format::GraphsenseYaml);
    }
    match text.first() {
        Some(b'[') => return Some(Format::OfacList),
        Some(b'{') => return Some(Format::EtherscanJson),
        _ => {}
    }
    let (h, _) = csv_header(bytes)?;
    let has = |c: &[&str]| h.has_all(c);
    Some(if has(&["pack", "currency", "address", "label", "category", "abuse"]) {
        Format::GraphsenseCsv
    } else if has(&["address", "category"]) {
        Format::Csv
    } else if has(&["address", "chain", "name", "pool_denomination"]) {
        Format::Tornado
    } else if has(&["chain", "label", "address", "name_tag"]) || (h.names.len() == 2 && has(&["address", "nametag"])) {
        Format::EthLabels
    } else if has(&["address", "etherscan_tag"]) || has(&["contract_address", "contract_tag"]) || has(&["banned_address", "wallet_tag"]) {
        Format::Forta
    } else if has(&["address", "name tag"]) || has(&["contract address", "token name"]) {
        Format::EtherscanCsv
    } else if h.names.len() == 2 && has(&["address", "name"]) {
        Format::OfacEntity
    } else if h.names.len() == 1 && (text.starts_with(b"0x") || name.contains("sanctioned_addresses")) {
        Format::OfacList
    } else if text.starts_with(b"title:") || memchr::memmem::find(text, b"\ntags:").is_some() {
        Format::GraphsenseYaml
    } else {
        return None;
    })
}

/// The chain a label file's own `chain` column names: eth-labels writes
/// its explorers' names (`etherscan`, `basescan`, `bscscan`) or the
/// chain's (`arbitrum`, `optimism`), the Tornado list the chain's. `None`
/// for a chain no store holds (Celo, Gnosis, ...).
fn chain_named(name: &str) -> Option<Chain> {
    Some(match name.trim().to_ascii_lowercase().as_str() {
        "ethereum" | "eth" | "mainnet" | "etherscan" => Chain::Ethereum,
        "bitcoin" | "btc" => Chain::Bitcoin,
        "arbitrum" | "arbiscan" | "arbitrum one" => Chain::Arbitrum,
        "optimism" | "optimistic.etherscan" | "op mainnet" => Chain::Optimism,
        "base" | "basescan" => Chain::Base,
        "polygon" | "polygonscan" | "matic" => Chain::Polygon,
        "bsc" | "bscscan" | "binance smart chain" | "bnb chain" => Chain::Bsc,
        "avalanche" | "snowtrace" | "avalanche c-chain" => Chain::Avalanche,
        _ => return None,
    })
}

/// Whether an address of `currency` belongs in a store of `chain`.
fn same_chain(chain: Chain, currency: &str, address: &str) -> bool {
    let c = currency.trim().to_ascii_uppercase();
    match chain {
        // Tokens on Ethereum share its addresses; a USDT tag may be Tron's,
        // so the address's shape decides.
        Chain::Ethereum => {
            matches!(c.as_str(), "ETH" | "ETHEREUM" | "ERC20" | "USDT" | "USDC" | "DAI" | "WETH") && address.starts_with("0x")
        }
        Chain::Bitcoin => matches!(c.as_str(), "BTC" | "XBT" | "BITCOIN"),
        Chain::Arbitrum => matches!(c.as_str(), "ARB" | "ARBITRUM") && address.starts_with("0x"),
        Chain::Optimism => matches!(c.as_str(), "OP" | "OPTIMISM") && address.starts_with("0x"),
        Chain::Base => c == "BASE" && address.starts_with("0x"),
        Chain::Polygon => matches!(c.as_str(), "MATIC" | "POL" | "POLYGON") && address.starts_with("0x"),
        Chain::Bsc => matches!(c.as_str(), "BSC" | "BNB" | "BEP20") && address.starts_with("0x"),
        Chain::Avalanche => matches!(c.as_str(), "AVAX" | "AVALANCHE") && address.starts_with("0x"),
    }
}

fn phishing_or_hack(name: &str) -> &'static str {
    let n = name.to_ascii_lowercase();
    if ["exploit", "hack", "heist", "attacker", "thief", "drain"].iter().any(|w| n.contains(w)) && !n.contains("phish") {
        "hack"
    } else {
        "phishing"
    }
}

fn mk(address: String, category: &str, label: &str, source: String, confidence: u8, source_category: &str) -> Label {
    Label {
        address,
        category: category.to_string(),
        label: label.to_string(),
        entity: entity_name(label),
        source,
        confidence,
        source_category: source_category.to_string(),
        ..Label::default()
    }
}

/// 0xB10C's per-asset lists: the asset is in the file name.
fn ofac_list(cx: &Context<'_>, bytes: &[u8], out: &mut Imported) -> Result<(), IngestError> {
    // 0xB10C names the asset in the file name; any other list is taken to be
    // of the store's chain.
    let asset = cx.stem.strip_prefix("sanctioned_addresses_").map(str::to_ascii_uppercase);
    let entries: Vec<(String, u64)> = if bytes.trim_ascii_start().starts_with(b"[") {
        let v: Vec<String> =
            serde_json::from_slice(bytes).map_err(|e| IngestError::file(cx.path, format!("not a JSON list of addresses: {e}")))?;
        v.into_iter().enumerate().map(|(i, a)| (a, i as u64 + 2)).collect()
    } else {
        std::str::from_utf8(bytes)
            .map_err(|_| IngestError::file(cx.path, "not UTF-8 text"))?
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
            .map(|(i, l)| (l.trim().to_string(), i as u64 + 1))
            .collect()
    };
    for (a, line) in entries {
        out.rows += 1;
        let ours = match &asset {
            Some(asset) => same_chain(cx.chain, asset, &a),
            None => !cx.chain.is_account() || a.starts_with("0x"),
        };
        if !ours {
            out.other_chain += 1;
            continue;
        }
        let address = address_text(cx.chain, "address", a.as_bytes()).map_err(|e| IngestError::row(cx.path, line, e))?;
        let mut l = mk(address, "sanctioned", "OFAC SDN", "ofac".into(), 100, "sdn");
        l.entity = String::new();
        out.labels.push(l);
    }
    Ok(())
}

/// brianleect's combined Etherscan JSON.
fn etherscan_json(cx: &Context<'_>, bytes: &[u8], out: &mut Imported) -> Result<(), IngestError> {
    #[derive(serde::Deserialize)]
    struct Entry {
        #[serde(default)]
        name: String,
        #[serde(default)]
        labels: Vec<String>,
    }
    let map: std::collections::BTreeMap<String, Entry> =
        serde_json::from_slice(bytes).map_err(|e| IngestError::file(cx.path, format!("not an Etherscan label map: {e}")))?;
    if cx.chain != Chain::Ethereum {
        out.rows = map.len() as u64;
        out.other_chain = out.rows;
        return Ok(());
    }
    for (a, e) in map {
        out.rows += 1;
        let address = address_text(cx.chain, "address", a.as_bytes())
            .map_err(|err| IngestError::file(cx.path, format!("entry {a:?}: {}", err.message)))?;
        etherscan_labels(&address, &e.name, &e.labels, "etherscan", 70, &mut out.labels);
    }
    Ok(())
}

/// Labels of an address from its Etherscan slugs: one per distinct
/// category, `other` when no slug maps.
fn etherscan_labels(address: &str, name: &str, slugs: &[String], source: &str, confidence: u8, out: &mut Vec<Label>) {
    let mut seen: Vec<&str> = Vec::new();
    for slug in slugs {
        let Some(mut c) = map_word(slug) else { continue };
        if c == "phishing" {
            c = phishing_or_hack(name);
        }
        if !seen.contains(&c) {
            seen.push(c);
            let mut l = mk(address.to_string(), c, name, source.to_string(), confidence, slug);
            if l.entity.is_empty() && c == "exchange" {
                l.entity = slug_title(slug);
            }
            out.push(l);
        }
    }
    if seen.is_empty() {
        out.push(mk(address.to_string(), "other", name, source.to_string(), confidence, &slugs.join(" ")));
    }
}

fn slug_title(slug: &str) -> String {
    slug.split('-')
        .map(|w| {
            let mut c = w.chars();
            c.next().map_or(String::new(), |f| f.to_uppercase().chain(c).collect())
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The confidence a GraphSense confidence level stands for (our reading of
/// its levels; `docs/labels.md`).
fn graphsense_confidence(level: &str) -> u8 {
    match level {
        "ownership" | "ledger_immanent" | "override" => 100,
        "authority_data" => 90,
        "service_data" => 80,
        "forensic" => 70,
        "web_crawl" => 50,
        "untrusted_transaction" => 20,
        _ => 50,
    }
}

/// Pack metadata and actor names found next to a flattened TagPack file.
#[derive(Default)]
struct GraphsenseMeta {
    confidence: HashMap<String, u8>,
    source: HashMap<String, String>,
    actors: HashMap<String, String>,
}

fn graphsense_meta(path: &Path) -> GraphsenseMeta {
    let mut m = GraphsenseMeta::default();
    // Beside the file, or one folder up for a pack under `packs/`.
    let here = path.parent().unwrap_or(Path::new("."));
    let dir = if here.join("packs_meta.json").exists() { here } else { here.parent().unwrap_or(here) };
    if let Ok(b) = std::fs::read(dir.join("packs_meta.json"))
        && let Ok(v) = serde_json::from_slice::<HashMap<String, serde_json::Value>>(&b)
    {
        for (pack, meta) in v {
            let level = meta.get("confidence").and_then(|c| c.as_str()).unwrap_or("");
            m.confidence.insert(pack.clone(), graphsense_confidence(level));
            if let Some(s) = meta.get("source").and_then(|s| s.as_str()) {
                m.source.insert(pack, s.to_string());
            }
        }
    }
    if let Ok(b) = std::fs::read(dir.join("actors.json"))
        && let Ok(v) = serde_json::from_slice::<serde_json::Value>(&b)
        && let Some(list) = v.get("actors").and_then(|a| a.as_array())
    {
        for a in list {
            if let (Some(id), Some(label)) = (a.get("id").and_then(|x| x.as_str()), a.get("label").and_then(|x| x.as_str())) {
                m.actors.insert(id.to_string(), label.to_string());
            }
        }
    }
    m
}

/// One GraphSense tag: a label for its category and one for its abuse
/// (a hacked exchange is both), `other` when neither maps.
#[allow(clippy::too_many_arguments)]
fn graphsense_tag(
    address: String,
    label: &str,
    category: &str,
    abuse: &str,
    actor: &str,
    source: String,
    confidence: u8,
    evidence: &str,
    actors: &HashMap<String, String>,
    out: &mut Vec<Label>,
) {
    let entity = if actor.is_empty() { entity_name(label) } else { actors.get(actor).cloned().unwrap_or_else(|| actor.to_string()) };
    let mut cats: Vec<(&'static str, &str)> = Vec::new();
    for w in [abuse, category] {
        if let Some(c) = (!w.is_empty()).then(|| map_word(w)).flatten()
            && !cats.iter().any(|(x, _)| *x == c)
        {
            cats.push((c, w));
        }
    }
    if cats.is_empty() {
        cats.push(("other", if category.is_empty() { abuse } else { category }));
    }
    for (c, w) in cats {
        let mut l = mk(address.clone(), c, label, source.clone(), confidence, w);
        l.entity = entity.clone();
        l.evidence = evidence.to_string();
        out.push(l);
    }
}

/// A GraphSense TagPack in its YAML form: header fields are the defaults of every tag.
fn graphsense_yaml(cx: &Context<'_>, bytes: &[u8], out: &mut Imported) -> Result<(), IngestError> {
    use serde_yaml_ng::Value;
    let doc: Value = serde_yaml_ng::from_slice(bytes).map_err(|e| {
        let at = e.location().map_or(String::new(), |l| format!("line {}: ", l.line()));
        IngestError::file(cx.path, format!("{at}not a TagPack: {e}"))
    })?;
    let text = |v: Option<&Value>| -> String {
        match v {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            Some(Value::Bool(b)) => b.to_string(),
            _ => String::new(),
        }
    };
    let tags = doc.get("tags").and_then(|t| t.as_sequence()).ok_or_else(|| IngestError::file(cx.path, "not a TagPack: no `tags` list"))?;
    let field = |tag: &Value, k: &str| -> String {
        let own = text(tag.get(k));
        if own.is_empty() { text(doc.get(k)) } else { own }
    };
    let pack = format!("graphsense:{}", cx.stem);
    let meta = graphsense_meta(cx.path);
    for (i, tag) in tags.iter().enumerate() {
        out.rows += 1;
        let where_ = |f: &str, m: String| IngestError::file(cx.path, format!("tag {} (`{f}`): {m}", i + 1));
        let a = field(tag, "address");
        if a.is_empty() {
            return Err(where_("address", "missing".into()));
        }
        let currency = { field(tag, "currency") + &field(tag, "network") };
        if !same_chain(cx.chain, &currency, &a) {
            out.other_chain += 1;
            continue;
        }
        let address = address_text(cx.chain, "address", a.as_bytes()).map_err(|e| where_("address", e.message))?;
        let confidence = match tag.get("confidence").or_else(|| doc.get("confidence")) {
            Some(Value::Number(n)) => n.as_u64().map_or(50, |n| n.min(100) as u8),
            Some(Value::String(s)) => graphsense_confidence(s),
            _ => 50,
        };
        let evidence = field(tag, "source");
        graphsense_tag(
            address,
            &field(tag, "label"),
            &field(tag, "category"),
            &field(tag, "abuse"),
            &field(tag, "actor"),
            pack.clone(),
            confidence,
            &evidence,
            &meta.actors,
            &mut out.labels,
        );
    }
    Ok(())
}

/// The CSV-shaped formats, row by row.
fn csv_rows(cx: &Context<'_>, bytes: &[u8], format: Format, out: &mut Imported) -> Result<(), IngestError> {
    let (h, start) = csv_header(bytes).ok_or_else(|| IngestError::file(cx.path, "no CSV header"))?;
    let meta = if format == Format::GraphsenseCsv { graphsense_meta(cx.path) } else { GraphsenseMeta::default() };
    let col = |names: &[&str]| h.idx_any(names);
    let mut fields: Vec<Cow<'_, [u8]>> = Vec::new();
    let s = |b: &[u8]| String::from_utf8_lossy(b.trim_ascii()).into_owned();
    for (rec, line) in records(&bytes[start..], 2) {
        out.rows += 1;
        let res = (|| -> Result<(), FieldError> {
            split_row(rec, &h, &mut fields)?;
            let r = Row { fields: &fields };
            let addr = |names: &[&str]| -> Result<String, FieldError> {
                let i = col(names);
                address_text(cx.chain, names[0], r.get(i))
            };
            match format {
                Format::OfacEntity => {
                    if cx.chain != Chain::Ethereum {
                        out.other_chain += 1;
                        return Ok(());
                    }
                    let name = s(r.get(col(&["name"])));
                    let mut l = mk(addr(&["address"])?, "sanctioned", &name, "ofac:ultrasoundmoney".into(), 100, "sdn");
                    l.entity = name;
                    out.labels.push(l);
                }
                Format::EtherscanCsv => {
                    if cx.chain != Chain::Ethereum {
                        out.other_chain += 1;
                        return Ok(());
                    }
                    let name = s(r.get(col(&["name tag", "token name"])));
                    let a = addr(&["address", "contract address"])?;
                    etherscan_labels(&a, &name, std::slice::from_ref(&cx.stem), "etherscan", 70, &mut out.labels);
                }
                Format::EthLabels => {
                    let (slug, name) = match col(&["label"]) {
                        Some(i) => (s(r.get(Some(i))), s(r.get(col(&["name_tag"])))),
                        None => (cx.stem.clone(), s(r.get(col(&["nametag"])))),
                    };
                    let chain_ok = match col(&["chain"]) {
                        Some(i) => chain_named(&s(r.get(Some(i)))) == Some(cx.chain),
                        // The per-label files are Etherscan's, of Ethereum.
                        None => cx.chain == Chain::Ethereum,
                    };
                    if !chain_ok {
                        out.other_chain += 1;
                        return Ok(());
                    }
                    let a = addr(&["address"])?;
                    etherscan_labels(&a, &name, std::slice::from_ref(&slug), "eth-labels", 60, &mut out.labels);
                }
                Format::Forta => {
                    if cx.chain != Chain::Ethereum {
                        out.other_chain += 1;
                        return Ok(());
                    }
                    let source = format!("forta:{}", cx.stem);
                    if col(&["contract_address"]).is_some() {
                        // A malicious contract, and the address that deployed it.
                        let tag = s(r.get(col(&["contract_tag"])));
                        let creator_tag = s(r.get(col(&["contract_creator_tag"])));
                        let word = s(r.get(col(&["contract_creator_etherscan_label"])));
                        let c = map_word(&word)
                            .map_or("scam", |c| if c == "phishing" { phishing_or_hack(&format!("{tag} {creator_tag}")) } else { c });
                        let tx = s(r.get(col(&["contract_creation_tx"])));
                        let mut l = mk(
                            addr(&["contract_address"])?,
                            c,
                            &tag,
                            source.clone(),
                            60,
                            if word.is_empty() { "malicious-contract" } else { &word },
                        );
                        l.evidence = tx.clone();
                        out.labels.push(l);
                        if !r.get(col(&["contract_creator"])).trim_ascii().is_empty() {
                            let mut l = mk(addr(&["contract_creator"])?, c, &creator_tag, source, 60, "malicious-contract-creator");
                            l.evidence = tx;
                            out.labels.push(l);
                        }
                    } else {
                        let tag = s(r.get(col(&["etherscan_tag", "wallet_tag"])));
                        let words = s(r.get(col(&["etherscan_labels", "data_source"])));
                        let c = match map_word(words.trim_start_matches("etherscan-").trim_end_matches("-list")) {
                            Some("phishing") | None => phishing_or_hack(&tag),
                            Some(c) => c,
                        };
                        out.labels.push(mk(addr(&["address", "banned_address"])?, c, &tag, source, 60, &words));
                    }
                }
                Format::GraphsenseCsv => {
                    let a = s(r.get(col(&["address"])));
                    if !same_chain(cx.chain, &s(r.get(col(&["currency"]))), &a) {
                        out.other_chain += 1;
                        return Ok(());
                    }
                    let pack = s(r.get(col(&["pack"])));
                    let address = address_text(cx.chain, "address", a.as_bytes())?;
                    let tag_source = s(r.get(col(&["tag_source"])));
                    let evidence = if tag_source.is_empty() { meta.source.get(&pack).cloned().unwrap_or_default() } else { tag_source };
                    let confidence = meta.confidence.get(&pack).copied().unwrap_or(50);
                    graphsense_tag(
                        address,
                        &s(r.get(col(&["label"]))),
                        &s(r.get(col(&["category"]))),
                        &s(r.get(col(&["abuse"]))),
                        &s(r.get(col(&["actor"]))),
                        format!("graphsense:{}", pack.trim_start_matches("packs/").trim_end_matches(".yaml")),
                        confidence,
                        &evidence,
                        &meta.actors,
                        &mut out.labels,
                    );
                }
                Format::Tornado => {
                    if chain_named(&s(r.get(col(&["chain"])))) != Some(cx.chain) {
                        out.other_chain += 1;
                        return Ok(());
                    }
                    let name = s(r.get(col(&["name"])));
                    let address = addr(&["address"])?;
                    let mut l = mk(address.clone(), "mixer", &name, "tornado".into(), 90, "tornado-cash");
                    l.entity = "Tornado Cash".into();
                    out.labels.push(l);
                    // The pools, router and proxies were on the SDN list from
                    // 2022-08-08 until the delisting of 2025-03-21.
                    if s(r.get(col(&["in_ofac_eth_list"]))).eq_ignore_ascii_case("true") {
                        let mut l = mk(address, "sanctioned", &name, "ofac:tornado".into(), 100, "sdn");
                        l.entity = "Tornado Cash".into();
                        l.valid_from = super::bound("valid_from", b"2022-08-08", false)?;
                        l.valid_to = super::bound("valid_to", b"2025-03-21", true)?;
                        out.labels.push(l);
                    }
                }
                Format::Csv | Format::OfacList | Format::EtherscanJson | Format::GraphsenseYaml => unreachable!("not CSV rows"),
            }
            Ok(())
        })();
        match res {
            Ok(()) => {}
            Err(_) if cx.skip_bad => out.skipped += 1,
            Err(e) => return Err(IngestError::row(cx.path, line, e)),
        }
    }
    Ok(())
}
