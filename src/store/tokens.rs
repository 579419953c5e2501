//! What a store was told of token contracts (symbols and decimals, from
//! blockchain-etl `tokens` exports), kept beside its generations in
//! `DIR/tokens.tsv`: reports read it to show amounts in whole tokens. It
//! describes contracts, not events, so telling it more makes no new
//! generation and leaves the ledger and every JSON report as they were.

use super::StoreError;
use crate::model::tokens::{Book, MAX_DECIMALS, Told};
use std::path::Path;

const FILE: &str = "tokens.tsv";

/// The store's book; empty where it was told nothing.
pub fn book(dir: &Path) -> Result<Book, StoreError> {
    let path = dir.join(FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Book::default()),
        Err(source) => return Err(StoreError::Io { path, source }),
    };
    let mut book = Book::default();
    for (k, line) in text.lines().enumerate() {
        let f: Vec<&str> = line.split('\t').collect();
        let decimals = match f.get(2) {
            Some(&"") => Some(None),
            Some(d) => d.parse::<u32>().ok().filter(|&d| d <= MAX_DECIMALS).map(Some),
            None => None,
        };
        match (f.as_slice(), decimals) {
            ([hex, symbol, _], Some(decimals)) if hex.len() == 40 && hex.bytes().all(|b| b.is_ascii_hexdigit()) => {
                book.told.insert(hex.to_ascii_lowercase(), Told { symbol: (!symbol.is_empty()).then(|| symbol.to_string()), decimals });
            }
            _ => return Err(StoreError::Corrupt { path, message: format!("line {}: not `contract<TAB>symbol<TAB>decimals`", k + 1) }),
        }
    }
    Ok(book)
}

/// Tell the store about tokens (field by field: a later row's symbol or
/// decimals replace an earlier one's, a missing one keeps it): a new file
/// renamed over. The caller holds the store's
/// lock. Returns the contracts whose entry changed and the contracts known.
pub fn tell(dir: &Path, told: &[(String, Told)]) -> Result<(u64, u64), StoreError> {
    let mut b = book(dir)?;
    let mut changed = 0u64;
    for (hex, t) in told {
        changed += u64::from(b.tell(hex, t));
    }
    if changed > 0 {
        let text: String = b
            .told
            .iter()
            .map(|(hex, t)| {
                format!("{hex}\t{}\t{}\n", t.symbol.as_deref().unwrap_or(""), t.decimals.map_or(String::new(), |d| d.to_string()))
            })
            .collect();
        let path = dir.join(FILE);
        let tmp = dir.join(format!("{FILE}.tmp"));
        let io = |source| StoreError::Io { path: path.clone(), source };
        std::fs::create_dir_all(dir).map_err(io)?;
        std::fs::write(&tmp, text).map_err(io)?;
        std::fs::rename(&tmp, &path).map_err(io)?;
    }
    Ok((changed, b.told.len() as u64))
}
