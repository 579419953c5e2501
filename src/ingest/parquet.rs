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
    crate::sys::guard_panics(|| read_columns_unguarded(path)).unwrap_or_else(|m| {
        Err(IngestError::file(path, format!("not a readable Parquet file: the Parquet reader failed on it ({m}); is it damaged?")))
    })
}

fn read_columns_unguarded(path: &Path) -> Result<(Header, TextColumns, u64), IngestError> {
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
    check_footer(path)?;
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

/// Refuse a Parquet file whose footer could not be real before polars
/// reads it. polars sizes its vectors by the counts the footer states (a
/// list of row groups, of columns), so a damaged file of a few kilobytes
/// that claims two billion of something makes it allocate tens of
/// gigabytes and the process abort (found by `fuzz/fuzz_targets/ingest.rs`).
/// Every element of a Thrift compact list takes at least one byte, so a
/// real footer never states more elements than it has bytes left: this
/// walks the footer's Thrift structure (without decoding it) and checks
/// exactly that, and that the footer fits in the file.
fn check_footer(path: &Path) -> Result<(), IngestError> {
    use std::io::{Read, Seek, SeekFrom};
    let io = |source| IngestError::Io { file: path.to_path_buf(), source };
    let bad = |m: String| IngestError::file(path, format!("not a readable Parquet file: {m}"));
    let mut f = std::fs::File::open(path).map_err(io)?;
    let size = f.metadata().map_err(io)?.len();
    if size < 12 {
        return Err(bad(format!("{size} bytes is too short for a Parquet file")));
    }
    let mut tail = [0u8; 8];
    f.seek(SeekFrom::End(-8)).map_err(io)?;
    f.read_exact(&mut tail).map_err(io)?;
    if &tail[4..] != b"PAR1" {
        return Err(bad("no PAR1 magic at its end (cut short?)".into()));
    }
    let len = u64::from(u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]));
    if len > size - 12 {
        return Err(bad(format!("its footer says {len} bytes of metadata; the file has {size} bytes in all")));
    }
    let mut footer = vec![0u8; len as usize];
    f.seek(SeekFrom::Start(size - 8 - len)).map_err(io)?;
    f.read_exact(&mut footer).map_err(io)?;
    thrift::check_struct(&mut &footer[..], 0).map_err(|m| bad(format!("its metadata is damaged: {m}")))
}

/// Just enough of the Thrift compact protocol to walk a message and check
/// its stated sizes (see [`check_footer`]).
mod thrift {
    /// Deeper nesting than any Parquet footer has is refused, so the walk
    /// cannot exhaust the stack.
    const MAX_DEPTH: u32 = 64;

    fn byte(b: &mut &[u8]) -> Result<u8, String> {
        let (&c, rest) = b.split_first().ok_or("it ends inside a value")?;
        *b = rest;
        Ok(c)
    }

    fn varint(b: &mut &[u8]) -> Result<u64, String> {
        let mut v = 0u64;
        for shift in (0..70).step_by(7) {
            let c = byte(b)?;
            v |= u64::from(c & 0x7f).checked_shl(shift).unwrap_or(0);
            if c & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err("a number longer than ten bytes".into())
    }

    fn skip(b: &mut &[u8], n: u64) -> Result<(), String> {
        let n =
            usize::try_from(n).ok().filter(|&n| n <= b.len()).ok_or_else(|| format!("a value of {n} bytes where {} are left", b.len()))?;
        *b = &b[n..];
        Ok(())
    }

    /// Elements stated: at least a byte each must be left.
    fn count(b: &[u8], n: u64, per: u64) -> Result<u64, String> {
        if n.saturating_mul(per) > b.len() as u64 {
            return Err(format!("{n} elements stated where {} bytes are left", b.len()));
        }
        Ok(n)
    }

    fn value(b: &mut &[u8], kind: u8, depth: u32) -> Result<(), String> {
        match kind {
            // Booleans: in a field the type holds the value; in a list, a byte.
            1 | 2 => Ok(()),
            3 => byte(b).map(drop),
            4..=6 => varint(b).map(drop),
            7 => skip(b, 8),
            8 => {
                let n = varint(b)?;
                skip(b, n)
            }
            9 | 10 => {
                let head = byte(b)?;
                let n = match head >> 4 {
                    15 => varint(b)?,
                    n => u64::from(n),
                };
                let inner = head & 0x0f;
                for _ in 0..count(b, n, 1)? {
                    if matches!(inner, 1 | 2) { byte(b).map(drop)? } else { value(b, inner, depth + 1)? }
                }
                Ok(())
            }
            11 => {
                let n = varint(b)?;
                if n == 0 {
                    return Ok(());
                }
                let kinds = byte(b)?;
                for _ in 0..count(b, n, 2)? {
                    value(b, kinds >> 4, depth + 1)?;
                    value(b, kinds & 0x0f, depth + 1)?;
                }
                Ok(())
            }
            12 => check_struct(b, depth + 1),
            other => Err(format!("unknown Thrift type {other}")),
        }
    }

    /// Walk one struct: fields up to its stop byte.
    pub(super) fn check_struct(b: &mut &[u8], depth: u32) -> Result<(), String> {
        if depth > MAX_DEPTH {
            return Err(format!("nested more than {MAX_DEPTH} deep"));
        }
        loop {
            let head = byte(b)?;
            if head == 0 {
                return Ok(());
            }
            if head >> 4 == 0 {
                // A field id given in full (zigzag i16).
                varint(b)?;
            }
            value(b, head & 0x0f, depth)?;
        }
    }
}
