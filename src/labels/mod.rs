//! Address labels: who an address belongs to (entity), what it is (a
//! category of one taxonomy), who says so (source, confidence) and when it
//! applies (validity interval).
//!
//! `chaintrace labels --store DIR import FILE...` reads the label sets
//! investigators use ([`import`]); the store keeps every label row (also for
//! addresses not in its data yet) in `labels.tsv`. Conflicting labels on one
//! address are all kept; [`precedence`] orders them.

pub mod deposits;
pub mod import;
pub mod taxonomy;

use crate::ingest::IngestError;
use crate::ingest::csv::Row;
use crate::model::Chain;
use crate::model::text::FieldError;
use std::path::Path;

/// One label row.
#[derive(Clone, Debug, PartialEq, Eq, Default, serde::Serialize)]
pub struct Label {
    /// Address text as reports print it (lowercase on Ethereum).
    pub address: String,
    /// Category, lowercased; one of [`taxonomy::CATEGORIES`] for every
    /// importer but the plain CSV, which may bring its own.
    pub category: String,
    /// The name the source gives the address ("Binance 14").
    pub label: String,
    /// First second the label applies (inclusive), if bounded.
    pub valid_from: Option<i64>,
    /// Last second the label applies (inclusive), if bounded.
    pub valid_to: Option<i64>,
    /// The entity that controls the address ("Binance", "LAZARUS GROUP").
    pub entity: String,
    /// Where the label comes from ("ofac", "graphsense:packs/binance.yaml",
    /// "detected:deposit").
    pub source: String,
    /// How sure the source is, 0-100.
    pub confidence: u8,
    /// Why, where the source says (the sweep transaction of a detected
    /// deposit address, a URL).
    pub evidence: String,
    /// The source's own category word, before mapping to the taxonomy.
    pub source_category: String,
}

impl Label {
    /// Whether the label applies at `time` (epoch seconds; `None` when the event has no time).
    pub fn applies_at(&self, time: Option<i64>) -> bool {
        within(self.valid_from, self.valid_to, time)
    }

    /// Whether the label has a validity interval.
    pub fn is_bounded(&self) -> bool {
        self.valid_from.is_some() || self.valid_to.is_some()
    }

    /// The key entities aggregate by: the entity, else the label's name
    /// without its number ("Binance 14" and "binance" are one entity).
    pub fn entity_key(&self) -> String {
        entity_key(if self.entity.is_empty() { &self.label } else { &self.entity })
    }
}

/// Rank of a source in [`precedence`]: authorities first, then curated
/// sets, then label clouds, then inference.
pub fn source_rank(source: &str) -> u8 {
    let kind = source.split(':').next().unwrap_or("");
    match kind {
        "ofac" => 0,
        "csv" => 1,
        "graphsense" => 2,
        "tornado" => 2,
        "etherscan" => 3,
        "eth-labels" => 4,
        "forta" => 4,
        "detected" => 6,
        _ => 5,
    }
}

/// The documented order of conflicting labels on one address (docs/labels.md):
/// higher confidence first, then the source's rank, then the category's
/// rank in the taxonomy, then the text. The first label that applies is the
/// one a report shows; every label still counts for `--stop-at`.
pub fn precedence(a: &Label, b: &Label) -> std::cmp::Ordering {
    b.confidence
        .cmp(&a.confidence)
        .then_with(|| source_rank(&a.source).cmp(&source_rank(&b.source)))
        .then_with(|| taxonomy::rank(&a.category).cmp(&taxonomy::rank(&b.category)))
        .then_with(|| (&a.category, &a.entity, &a.label, &a.source).cmp(&(&b.category, &b.entity, &b.label, &b.source)))
}

/// An entity name as an aggregation key: lowercase letters and digits of
/// the name before any `:` ("Tornado.Cash: Router" is Tornado Cash), without
/// a trailing number ("Binance 14") or web suffix ("binance.com").
pub fn entity_key(name: &str) -> String {
    let head = entity_name(name);
    let mut k: String = head.chars().filter(|c| c.is_alphanumeric()).flat_map(char::to_lowercase).collect();
    for suffix in ["com", "io", "net", "org"] {
        if k.len() > suffix.len() + 2 && head.to_ascii_lowercase().ends_with(&format!(".{suffix}")) {
            k.truncate(k.len() - suffix.len());
        }
    }
    k
}

/// An entity's display name from an address's name: the part before `:`,
/// without a trailing number or `#n` ("Binance 14" → "Binance").
pub fn entity_name(name: &str) -> String {
    let head = name.split(':').next().unwrap_or("").trim();
    let mut words: Vec<&str> = head.split_whitespace().collect();
    while words.len() > 1 && words.last().is_some_and(|w| w.trim_start_matches('#').chars().all(|c| c.is_ascii_digit())) {
        words.pop();
    }
    words.join(" ")
}

/// Whether `time` is inside `[from, to]` (both inclusive, either open). An
/// event without a time is inside only an unbounded interval.
pub fn within(from: Option<i64>, to: Option<i64>, time: Option<i64>) -> bool {
    match time {
        Some(t) => from.is_none_or(|f| t >= f) && to.is_none_or(|e| t <= e),
        None => from.is_none() && to.is_none(),
    }
}

/// Parse a validity bound. A date alone as the end covers that whole day.
fn bound(field: &str, t: &[u8], end: bool) -> Result<Option<i64>, FieldError> {
    let t = t.trim_ascii();
    if t.is_empty() {
        return Ok(None);
    }
    let v = crate::model::time::parse_time(t).ok_or_else(|| {
        let why = crate::model::time::time_problem(t).unwrap_or_else(|| format!("not a date or time: {:?}", crate::model::text::show(t)));
        FieldError::new(field, why)
    })?;
    let date_only = t.len() == 10 && t[4] == b'-' && t[7] == b'-';
    Ok(Some(if end && date_only { v + 86_399 } else { v }))
}

/// Read a plain labels CSV: `address,category[,label][,valid_from,valid_to]`,
/// and optionally `entity`, `confidence` (0-100), `source`.
pub fn read_csv(path: &Path, chain: Chain) -> Result<Vec<Label>, IngestError> {
    import::import(path, Some(import::Format::Csv), chain, false).map(|i| i.labels)
}

/// The rows of a plain labels CSV already read into `bytes`, and the number
/// of bad rows skipped when `skip_bad`.
fn plain_csv(path: &Path, bytes: &[u8], chain: Chain, skip_bad: bool) -> Result<(Vec<Label>, u64), IngestError> {
    let mut skipped = 0;
    let (h, start) = import::csv_header(bytes).ok_or_else(|| IngestError::file(path, "no CSV header"))?;
    let (Some(ai), Some(ci)) = (h.idx("address"), h.idx("category")) else {
        return Err(IngestError::file(
            path,
            format!("wrong column set: found {}; expected address,category[,label][,valid_from,valid_to]", h.names.join(",")),
        ));
    };
    let (li, fi, ti) = (h.idx("label"), h.idx("valid_from"), h.idx("valid_to"));
    let (ei, ki, si) = (h.idx("entity"), h.idx("confidence"), h.idx("source"));
    let file_source = format!("csv:{}", path.file_name().map_or(String::new(), |n| n.to_string_lossy().into_owned()));
    let mut out = Vec::new();
    let mut fields = Vec::new();
    for (rec, line) in crate::ingest::csv::records(&bytes[start..], 2) {
        let res = (|| -> Result<Label, FieldError> {
            crate::ingest::csv::split_row(rec, &h, &mut fields)?;
            let row = Row { fields: &fields };
            let address = address_text(chain, "address", row.get(Some(ai)))?;
            let raw = String::from_utf8_lossy(row.get(Some(ci)).trim_ascii()).to_ascii_lowercase();
            if raw.is_empty() {
                return Err(FieldError::new("category", "empty"));
            }
            // A word of the taxonomy's sources maps into it; any other is
            // the user's own category and stays as written.
            let category = taxonomy::map_word(&raw).map_or_else(|| raw.clone(), str::to_string);
            let label = String::from_utf8_lossy(row.get(li).trim_ascii()).into_owned();
            let valid_from = bound("valid_from", row.get(fi), false)?;
            let valid_to = bound("valid_to", row.get(ti), true)?;
            if let (Some(f), Some(t)) = (valid_from, valid_to)
                && f > t
            {
                return Err(FieldError::new("valid_to", "before valid_from"));
            }
            let entity = match String::from_utf8_lossy(row.get(ei).trim_ascii()).into_owned() {
                e if e.is_empty() => entity_name(&label),
                e => e,
            };
            let confidence =
                match row.get(ki).trim_ascii() {
                    b"" => 100,
                    t => std::str::from_utf8(t).ok().and_then(|t| t.parse::<u8>().ok()).filter(|&c| c <= 100).ok_or_else(|| {
                        FieldError::new("confidence", format!("not a whole number 0-100: {:?}", crate::model::text::show(t)))
                    })?,
                };
            let source = match String::from_utf8_lossy(row.get(si).trim_ascii()).into_owned() {
                s if s.is_empty() => file_source.clone(),
                s => format!("csv:{s}"),
            };
            let source_category = if raw == category { String::new() } else { raw };
            Ok(Label {
                address,
                category,
                label,
                valid_from,
                valid_to,
                entity,
                source,
                confidence,
                evidence: String::new(),
                source_category,
            })
        })();
        match res {
            Ok(l) => out.push(l),
            Err(_) if skip_bad => skipped += 1,
            Err(e) => return Err(IngestError::row(path, line, e)),
        }
    }
    Ok((out, skipped))
}

/// An address as the store prints it, checked for the chain.
pub fn address_text(chain: Chain, field: &str, t: &[u8]) -> Result<String, FieldError> {
    Ok(match chain {
        Chain::Bitcoin => match crate::model::text::btc_address(field, t)? {
            crate::model::Addr::Text(t) => t.to_string(),
            _ => unreachable!("btc_address returns text"),
        },
        _ => format!("0x{}", hex::encode(crate::model::text::eth_address(field, t)?)),
    })
}

fn clean(x: &str) -> String {
    x.replace(['\t', '\n', '\r'], " ")
}

fn opt_num(v: Option<i64>) -> String {
    v.map_or(String::new(), |v| v.to_string())
}

/// The labels imported into a store.
pub fn load(store: &crate::store::Store) -> Vec<Label> {
    from_tsv(&String::from_utf8_lossy(store.label_rows()))
}

/// Add labels to a store (a new generation; rows already there are not
/// added again). Returns the rows added and the rows in the store.
pub fn save(dir: &std::path::Path, labels: &[Label]) -> Result<(u64, u64), crate::store::StoreError> {
    crate::store::generation::import_label_rows(dir, to_tsv(labels).lines())
}

/// Serialise labels for the store: one tab-separated row each.
pub fn to_tsv(labels: &[Label]) -> String {
    let mut s = String::new();
    for l in labels {
        s += &format!(
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\n",
            l.address,
            clean(&l.category),
            clean(&l.label),
            opt_num(l.valid_from),
            opt_num(l.valid_to),
            clean(&l.entity),
            clean(&l.source),
            l.confidence,
            clean(&l.evidence),
            clean(&l.source_category),
        );
    }
    s
}

/// Read the store's labels (rows of stores written before entities and
/// sources get the plain CSV's defaults).
pub fn from_tsv(text: &str) -> Vec<Label> {
    text.lines().filter_map(from_tsv_row).collect()
}

/// A stored label row's fields: 5 (rows written before entities and
/// sources) or 10; any other count is not a label row.
pub(crate) fn tsv_fields(l: &str) -> Option<([&str; 10], usize)> {
    let mut f = [""; 10];
    let mut n = 0;
    let mut start = 0;
    // Tabs found bytewise: every trace with `--stop-at` splits every row.
    for (k, &b) in l.as_bytes().iter().enumerate().chain(std::iter::once((l.len(), &b'\t'))) {
        if b == b'\t' {
            *f.get_mut(n)? = &l[start..k];
            n += 1;
            start = k + 1;
        }
    }
    matches!(n, 5 | 10).then_some((f, n))
}

/// The entity of a stored row: its own field, or for a 5-field row the
/// plain CSV's default, the name before its number.
pub(crate) fn tsv_entity(f: &[&str; 10], n: usize) -> String {
    if n == 5 { entity_name(f[2]) } else { f[5].to_string() }
}

pub(crate) fn from_tsv_row(l: &str) -> Option<Label> {
    let (f, n) = tsv_fields(l)?;
    let base = Label {
        address: f[0].to_string(),
        category: f[1].to_string(),
        label: f[2].to_string(),
        valid_from: f[3].parse().ok(),
        valid_to: f[4].parse().ok(),
        entity: tsv_entity(&f, n),
        ..Label::default()
    };
    Some(if n == 5 {
        Label { source: "csv".into(), confidence: 100, ..base }
    } else {
        Label {
            source: f[6].to_string(),
            confidence: f[7].parse().unwrap_or(0),
            evidence: f[8].to_string(),
            source_category: f[9].to_string(),
            ..base
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_end_covers_the_day() {
        let l = Label {
            address: "0x".into(),
            category: "sanctioned".into(),
            label: String::new(),
            valid_from: bound("f", b"2022-08-08", false).unwrap(),
            valid_to: bound("t", b"2025-03-21", true).unwrap(),
            entity: "Tornado Cash".into(),
            source: "ofac".into(),
            confidence: 100,
            ..Label::default()
        };
        let t = |s: &str| crate::model::time::parse_time(s.as_bytes());
        assert!(!l.applies_at(t("2022-08-07T23:59:59Z")));
        assert!(l.applies_at(t("2022-08-08T00:00:00Z")));
        assert!(l.applies_at(t("2025-03-21T23:59:59Z")));
        assert!(!l.applies_at(t("2025-03-22T00:00:00Z")));
        assert_eq!(from_tsv(&to_tsv(std::slice::from_ref(&l))), vec![l]);
    }

    #[test]
    fn impossible_bounds_are_refused() {
        let e = bound("valid_from", b"2021-02-29", false).unwrap_err();
        assert_eq!((e.field.as_str(), e.message.as_str()), ("valid_from", "no such date: 2021-02-29"));
        let e = bound("valid_to", b"1648000000000", true).unwrap_err();
        assert!(e.message.contains("milliseconds"), "{}", e.message);
        assert!(bound("valid_to", b"2024-02-29", true).unwrap().is_some());
    }

    #[test]
    fn entities_aggregate_by_name() {
        assert_eq!(entity_name("Binance 14"), "Binance");
        assert_eq!(entity_name("Tornado.Cash: 10,000 DAI 2"), "Tornado.Cash");
        assert_eq!(entity_key("Binance 14"), entity_key("binance.com"));
        assert_eq!(entity_key("KuCoin #3"), "kucoin");
        assert_eq!(entity_key("LAZARUS GROUP"), "lazarusgroup");
    }

    #[test]
    fn precedence_prefers_confidence_then_source_then_category() {
        let l = |c: &str, s: &str, k: u8| Label { category: c.into(), source: s.into(), confidence: k, ..Label::default() };
        let mut v =
            [l("exchange", "etherscan", 80), l("sanctioned", "ofac", 100), l("exchange", "graphsense:x", 80), l("hack", "etherscan", 80)];
        v.sort_by(precedence);
        let got: Vec<_> = v.iter().map(|l| (l.category.as_str(), l.source.as_str())).collect();
        assert_eq!(got, [("sanctioned", "ofac"), ("exchange", "graphsense:x"), ("hack", "etherscan"), ("exchange", "etherscan")]);
    }
}

/// Labels grouped by address, each group in [`precedence`] order, the
/// addresses sorted: what `labels list` prints.
pub fn by_address(mut labels: Vec<Label>) -> Vec<Label> {
    labels.sort_by(|a, b| a.address.cmp(&b.address).then_with(|| precedence(a, b)));
    labels
}

/// Counts for `labels stats`.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Stats {
    /// Label rows.
    pub labels: u64,
    /// Distinct labelled addresses.
    pub addresses: u64,
    /// Of those, the ones that appear in the store's events.
    pub addresses_in_data: u64,
    /// Distinct entities.
    pub entities: u64,
    /// Rows with a validity interval.
    pub bounded: u64,
    /// Rows per category, most first.
    pub categories: Vec<(String, u64)>,
    /// Rows per source kind (`graphsense`, `etherscan`, ...), most first.
    pub sources: Vec<(String, u64)>,
    /// Addresses whose labels disagree on the category.
    pub conflicting_addresses: u64,
}

/// Count the labels of a store.
pub fn stats(labels: &[Label], in_data: impl Fn(&str) -> bool) -> Stats {
    use std::collections::{BTreeMap, BTreeSet, HashMap};
    let mut cats: BTreeMap<&str, u64> = BTreeMap::new();
    let mut srcs: BTreeMap<&str, u64> = BTreeMap::new();
    let mut addr_cats: HashMap<&str, BTreeSet<&str>> = HashMap::new();
    let mut entities = BTreeSet::new();
    let mut bounded = 0;
    for l in labels {
        *cats.entry(&l.category).or_default() += 1;
        *srcs.entry(l.source.split(':').next().unwrap_or("")).or_default() += 1;
        addr_cats.entry(&l.address).or_default().insert(&l.category);
        let k = l.entity_key();
        if !k.is_empty() {
            entities.insert(k);
        }
        bounded += u64::from(l.is_bounded());
    }
    let sorted = |m: BTreeMap<&str, u64>| {
        let mut v: Vec<(String, u64)> = m.into_iter().map(|(k, n)| (k.to_string(), n)).collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        v
    };
    Stats {
        labels: labels.len() as u64,
        addresses: addr_cats.len() as u64,
        addresses_in_data: addr_cats.keys().filter(|a| in_data(a)).count() as u64,
        entities: entities.len() as u64,
        bounded,
        conflicting_addresses: addr_cats.values().filter(|c| c.len() > 1).count() as u64,
        categories: sorted(cats),
        sources: sorted(srcs),
    }
}

/// A label as one table line.
pub fn table_line(l: &Label) -> String {
    let t = |v: Option<i64>| v.map_or_else(|| "-".to_string(), crate::model::time::format_time);
    format!(
        "{}\t{}\t{}\t{}\t{}\t{}\t{}..{}\t{}",
        l.address,
        l.category,
        if l.entity.is_empty() { "-" } else { &l.entity },
        if l.label.is_empty() { "-" } else { &l.label },
        l.source,
        l.confidence,
        t(l.valid_from),
        t(l.valid_to),
        l.evidence
    )
}
