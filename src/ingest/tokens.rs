//! blockchain-etl `tokens` exports (`ethereumetl export_tokens`, and the
//! stream's `token` items): each contract's `symbol` and `decimals`, told
//! to the store (`store::tokens`) so that reports show amounts of any
//! exported token in whole tokens, not only the tokens known here.

use super::csv::{self, CsvReader, Header, Row};
use super::{FileReport, IngestError, JsonObject, Options, json_header, json_row};
use crate::model::text::FieldError;
use crate::model::tokens::{MAX_DECIMALS, Told, readable_symbol};
use std::path::Path;

/// Whether a header is a `tokens` table's: contract, symbol and decimals,
/// and none of the transfer tables' columns.
fn is_tokens_header(h: &Header) -> bool {
    h.has_all(&["address", "symbol", "decimals"]) && h.idx("topics").is_none() && h.idx("from_address").is_none()
}

/// Whether `path` is a `tokens` export (CSV or JSON lines).
pub(super) fn is_tokens_file(path: &Path) -> Result<bool, IngestError> {
    if super::is_json_lines(path)? {
        let first = super::first_json_line(path)?;
        let token = |line: &str| {
            let obj: JsonObject = serde_json::from_str(line).unwrap_or_default();
            match obj.get("type").and_then(|t| t.as_str()) {
                Some(t) => t == "token",
                None => is_tokens_header(&json_header(&obj)),
            }
        };
        if !token(&first) {
            return Ok(false);
        }
        // A stream file mixes item types: it is a tokens export only if
        // every item is a token (else the events reader takes it, and
        // passes its token items over).
        let text = std::fs::read_to_string(path).map_err(|source| IngestError::Io { file: path.to_path_buf(), source })?;
        return Ok(text.lines().filter(|l| !l.trim().is_empty()).all(token));
    }
    Ok(is_tokens_header(&CsvReader::open_as(path, true)?.header))
}

/// One row: the contract, lower-case hex without `0x`, and what it said.
fn token(h: &Header, row: &Row<'_>) -> Result<(String, Told), FieldError> {
    let text = |name: &str| String::from_utf8_lossy(row.get(h.idx(name))).trim().to_string();
    let address = text("address");
    let hex = address
        .strip_prefix("0x")
        .filter(|x| x.len() == 40 && x.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or_else(|| FieldError::new("address", format!("`{address}` is not a contract address (0x and 40 hex digits)")))?;
    let symbol = readable_symbol(&text("symbol"));
    let decimals = match text("decimals").as_str() {
        // A contract whose `decimals()` call failed: the CSV export leaves
        // it empty; the stream writes 0 beside an empty symbol and name.
        "" => None,
        "0" if symbol.is_none() && text("name").is_empty() => None,
        d => Some(d.parse::<u32>().ok().filter(|&d| d <= MAX_DECIMALS).ok_or_else(|| {
            FieldError::new("decimals", format!("`{d}` is not a token's decimals (a whole number, at most {MAX_DECIMALS})"))
        })?),
    };
    Ok((hex.to_ascii_lowercase(), Told { symbol, decimals }))
}

/// Read a `tokens` export. Bad rows stop it (naming file, line and field)
/// or, with `--skip-bad-rows`, are counted.
pub(super) fn read(path: &Path, opts: &Options) -> Result<(Vec<(String, Told)>, FileReport), IngestError> {
    let json = super::is_json_lines(path)?;
    let mut reader = CsvReader::open_as(path, !json)?;
    let header = reader.header.clone();
    let (mut rows, mut skipped, mut told) = (0u64, 0u64, Vec::new());
    while let Some((block, line)) = reader.next_block()? {
        let mut fields = Vec::new();
        for (rec, line) in csv::records_as(block, line, !json) {
            rows += 1;
            let res = if json {
                match serde_json::from_slice::<JsonObject>(rec) {
                    Err(e) => Err(FieldError::new("(json)", e.to_string())),
                    Ok(obj) => {
                        let h = json_header(&obj);
                        token(&h, &Row { fields: &json_row(&h, &obj) })
                    }
                }
            } else {
                csv::split_row(rec, &header, &mut fields).and_then(|()| token(&header, &Row { fields: &fields }))
            };
            match res {
                Ok(t) => told.push(t),
                Err(_) if opts.skip_bad_rows => skipped += 1,
                Err(e) => return Err(IngestError::row(path, line, e)),
            }
        }
    }
    let report = FileReport::new(path, "etl/tokens", rows, 0, skipped, reader.bytes_read);
    Ok((told, report))
}
