//! Address labels: categories that make an address a stop (exchange, mixer,
//! sanctioned, ...), with an optional validity interval.
//!
//! `chaintrace labels --store DIR import FILE` reads a CSV
//! `address,category[,label][,valid_from,valid_to]`; the store keeps every
//! label row (also for addresses not in its data yet) in `labels.tsv`.

use crate::error::{FieldError, IngestError};
use crate::ingest::csv::{CsvReader, Row};
use crate::model::Chain;
use std::path::Path;

/// One label row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Label {
    /// Address text as reports print it (lowercase on Ethereum).
    pub address: String,
    /// Category, lowercased.
    pub category: String,
    /// Name of the entity (may be empty).
    pub label: String,
    /// First second the label applies (inclusive), if bounded.
    pub valid_from: Option<i64>,
    /// Last second the label applies (inclusive), if bounded.
    pub valid_to: Option<i64>,
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
    let v = crate::time::parse_time(t)
        .ok_or_else(|| FieldError::new(field, format!("not a date or time: {:?}", crate::ingest::fields::show(t))))?;
    let date_only = t.len() == 10 && t[4] == b'-' && t[7] == b'-';
    Ok(Some(if end && date_only { v + 86_399 } else { v }))
}

/// Read a labels CSV.
pub fn read_csv(path: &Path, chain: Chain) -> Result<Vec<Label>, IngestError> {
    let mut r = CsvReader::open(path)?;
    let h = r.header.clone();
    let (Some(ai), Some(ci)) = (h.idx("address"), h.idx("category")) else {
        return Err(IngestError::file(
            path,
            format!("wrong column set: found {}; expected address,category[,label][,valid_from,valid_to]", h.names.join(",")),
        ));
    };
    let (li, fi, ti) = (h.idx("label"), h.idx("valid_from"), h.idx("valid_to"));
    let mut out = Vec::new();
    while let Some((block, line)) = r.next_block()? {
        let mut fields = Vec::new();
        for (rec, line) in crate::ingest::csv::records(block, line) {
            let res = (|| -> Result<Label, FieldError> {
                crate::ingest::csv::split_row(rec, &h, &mut fields)?;
                let row = Row { fields: &fields };
                let address = match chain {
                    Chain::Ethereum => format!("0x{}", hex::encode(crate::ingest::fields::eth_address("address", row.get(Some(ai)))?)),
                    Chain::Bitcoin => match crate::ingest::fields::btc_address("address", row.get(Some(ai)))? {
                        crate::model::Addr::Text(t) => t.to_string(),
                        _ => unreachable!("btc_address returns text"),
                    },
                };
                let category = String::from_utf8_lossy(row.get(Some(ci)).trim_ascii()).to_ascii_lowercase();
                if category.is_empty() {
                    return Err(FieldError::new("category", "empty"));
                }
                let label = String::from_utf8_lossy(row.get(li).trim_ascii()).into_owned();
                let valid_from = bound("valid_from", row.get(fi), false)?;
                let valid_to = bound("valid_to", row.get(ti), true)?;
                if let (Some(f), Some(t)) = (valid_from, valid_to)
                    && f > t
                {
                    return Err(FieldError::new("valid_to", "before valid_from"));
                }
                Ok(Label { address, category, label, valid_from, valid_to })
            })();
            out.push(res.map_err(|e| IngestError::row(path, line, e))?);
        }
    }
    Ok(out)
}

/// Serialise labels for the store: one tab-separated row each.
pub fn to_tsv(labels: &[Label]) -> String {
    let mut s = String::new();
    for l in labels {
        let clean = |x: &str| x.replace(['\t', '\n', '\r'], " ");
        s += &format!(
            "{}\t{}\t{}\t{}\t{}\n",
            l.address,
            clean(&l.category),
            clean(&l.label),
            l.valid_from.map_or(String::new(), |v| v.to_string()),
            l.valid_to.map_or(String::new(), |v| v.to_string())
        );
    }
    s
}

/// Read the store's labels.
pub fn from_tsv(text: &str) -> Vec<Label> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f.len() == 5).then(|| Label {
                address: f[0].to_string(),
                category: f[1].to_string(),
                label: f[2].to_string(),
                valid_from: f[3].parse().ok(),
                valid_to: f[4].parse().ok(),
            })
        })
        .collect()
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
        };
        let t = |s: &str| crate::time::parse_time(s.as_bytes());
        assert!(!l.applies_at(t("2022-08-07T23:59:59Z")));
        assert!(l.applies_at(t("2022-08-08T00:00:00Z")));
        assert!(l.applies_at(t("2025-03-21T23:59:59Z")));
        assert!(!l.applies_at(t("2025-03-22T00:00:00Z")));
        assert_eq!(from_tsv(&to_tsv(std::slice::from_ref(&l))), vec![l]);
    }
}
