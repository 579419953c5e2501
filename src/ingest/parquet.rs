//! Parquet inputs with the same schemas as the text formats, read with polars.

use super::bitcoin::BitcoinBatch;
use super::csv::{Header, Row};
use super::ethereum::Receipts;
use super::{FileReport, Options};
use crate::ingest::IngestError;
use crate::model::Chain;
use crate::model::text::FieldError;
use crate::store::builder::Builder;
use polars::prelude::*;
use std::borrow::Cow;
use std::path::Path;

/// Each column's values as text (`None` for nulls).
type TextColumns = Vec<Vec<Option<String>>>;

/// Columns of a Parquet file as text, the way a CSV export would write them.
fn read_columns(path: &Path) -> Result<(Header, TextColumns, u64), IngestError> {
    let err = |m: String| IngestError::file(path, m);
    let f = std::fs::File::open(path).map_err(|source| IngestError::Io { file: path.to_path_buf(), source })?;
    let size = f.metadata().map(|m| m.len()).unwrap_or(0);
    if size == 0 {
        return Err(IngestError::file(path, "empty file: expected a Parquet file"));
    }
    let df = ParquetReader::new(f).finish().map_err(|e| err(format!("not a readable Parquet file: {e}")))?;
    let mut names = Vec::new();
    let mut cols = Vec::new();
    for c in df.columns() {
        names.push(Cow::Owned(c.name().as_bytes().to_vec()));
        let s = c.as_materialized_series();
        let text: Vec<Option<String>> = match s.dtype() {
            DataType::Binary => {
                s.binary().map_err(|e| err(e.to_string()))?.iter().map(|v| v.map(|b| format!("0x{}", hex::encode(b)))).collect()
            }
            DataType::List(_) => (0..s.len())
                .map(|i| match s.get(i) {
                    Ok(AnyValue::List(inner)) => {
                        Some(inner.iter().map(|v| v.to_string().trim_matches('"').to_string()).collect::<Vec<_>>().join(","))
                    }
                    _ => None,
                })
                .collect(),
            _ => {
                let as_text = s.cast(&DataType::String).map_err(|e| err(format!("column `{}` cannot be read as text: {e}", c.name())))?;
                as_text.str().map_err(|e| err(e.to_string()))?.iter().map(|v| v.map(str::to_string)).collect()
            }
        };
        cols.push(text);
    }
    Ok((Header::new(&names), cols, size))
}

/// Ingest one Parquet file.
pub fn ingest_parquet(
    path: &Path,
    b: &mut Builder,
    opts: &Options,
    receipts: &Receipts,
    bitcoin: &mut BitcoinBatch,
) -> Result<(FileReport, String), IngestError> {
    let hash = super::csv::hash_file(path)?;
    let mut head = [0u8; 4];
    {
        use std::io::Read;
        let mut f = std::fs::File::open(path).map_err(|source| IngestError::Io { file: path.to_path_buf(), source })?;
        let n = f.read(&mut head).map_err(|source| IngestError::Io { file: path.to_path_buf(), source })?;
        if n == 0 {
            return Err(IngestError::file(path, "empty file: expected a Parquet file"));
        }
        if &head[..n] != b"PAR1" {
            return Err(IngestError::file(path, "not a Parquet file (no PAR1 magic); use --format etl, etherscan or transfers for text"));
        }
    }
    let (header, cols, size) = read_columns(path)?;
    let nrows = cols.first().map_or(0, Vec::len);
    let row_fields =
        |i: usize| -> Vec<Cow<'_, [u8]>> { cols.iter().map(|c| Cow::Borrowed(c[i].as_deref().unwrap_or("").as_bytes())).collect() };
    if opts.chain == Chain::Bitcoin && super::ethereum::EthTable::detect_etl(&header).is_none() && header.idx("from_address").is_none() {
        let all: Vec<Vec<Cow<'_, [u8]>>> = (0..nrows).map(row_fields).collect();
        let rows = all.iter().enumerate().map(|(i, f)| (i as u64 + 1, Row { fields: f }));
        let (table, n, skipped) = bitcoin.trio_rows(path, &header, rows, opts.skip_bad_rows)?;
        return Ok((FileReport::new(path, format!("parquet/{table}"), n, 0, skipped, size), hash));
    }
    let table = super::detect(path, &header, opts)?;
    let mapper = super::make_mapper(path, &header, table, opts, receipts)?;
    let mut sink = super::FileSink::new();
    let mut skipped = 0u64;
    let mut events = Vec::new();
    for i in 0..nrows {
        let f = row_fields(i);
        let before = events.len();
        if let Err(e) = mapper.map(&Row { fields: &f }, &mut events) {
            events.truncate(before);
            if opts.skip_bad_rows {
                skipped += 1;
            } else {
                // Parquet has no lines: the row number (1-based) stands in.
                let e: FieldError = e;
                return Err(IngestError::Row {
                    file: path.to_path_buf(),
                    line: i as u64 + 1,
                    field: e.field,
                    message: format!("{} (row {})", e.message, i + 1),
                });
            }
        }
        if events.len() > 1 << 16 {
            events.iter_mut().for_each(super::fill_hashes);
            sink.push(b, std::mem::take(&mut events));
        }
    }
    events.iter_mut().for_each(super::fill_hashes);
    sink.push(b, events);
    let n = sink.finish(b);
    Ok((FileReport::new(path, format!("parquet/{}", super::table_name(table)), nrows as u64, n, skipped, size), hash))
}
