//! Parquet outputs for notebooks and data tools: a trace's table and its
//! evidence steps, a screening answer, and a whole store (`export`).
//!
//! Amounts stay exact: they are decimal strings in base units (Parquet's
//! decimals stop at 38 digits; wei and token amounts reach 78), which polars
//! or pandas can cast where they fit.

use super::Report;
use crate::model::{NO_BLOCK, NO_TIME, NO_TX};
use crate::screen::answer::ScreenAnswer;
use crate::store::Store;
use polars::prelude::*;
use std::path::{Path, PathBuf};

/// Writing a Parquet file failed.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct ParquetError {
    /// The file.
    pub path: PathBuf,
    /// What failed.
    pub message: String,
}

fn fail(path: &Path) -> impl Fn(String) -> ParquetError + '_ {
    move |message| ParquetError { path: path.to_path_buf(), message }
}

fn col<T, V>(name: &str, v: V) -> Column
where
    Series: NamedFrom<V, T>,
    T: ?Sized,
{
    Column::from(Series::new(name.into(), v))
}

/// A file's temporary name while it is written: one per process, so two
/// writers never share one.
pub(crate) fn tmp_path(path: &Path) -> PathBuf {
    let name = path.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    path.with_file_name(format!("{name}.tmp.{}", std::process::id()))
}

fn write(path: &Path, columns: Vec<Column>) -> Result<(), ParquetError> {
    let e = fail(path);
    let height = columns.first().map_or(0, Column::len);
    let mut df = DataFrame::new(height, columns).map_err(|x| e(x.to_string()))?;
    // Written aside and renamed: a reader never sees half a file.
    let tmp = tmp_path(path);
    let f = std::fs::File::create(&tmp).map_err(|x| e(x.to_string()))?;
    ParquetWriter::new(f).with_compression(ParquetCompression::Zstd(None)).finish(&mut df).map_err(|x| e(x.to_string()))?;
    std::fs::rename(&tmp, path).map_err(|x| e(x.to_string()))
}

/// The evidence steps' file beside a trace's: `X.parquet` → `X.steps.parquet`.
pub fn steps_path(path: &Path) -> PathBuf {
    let stem = path.file_stem().map_or_else(String::new, |s| s.to_string_lossy().into_owned());
    path.with_file_name(format!("{stem}.steps.parquet"))
}

/// A trace as two tables: `path` has one row per destination, dormant and
/// horizon address (the CSV's columns, plus `entity`); [`steps_path`] one
/// row per evidence step (destination, path number, step number, then the
/// step's fields).
pub fn write_trace(r: &Report, path: &Path) -> Result<(), ParquetError> {
    let (mut kind, mut address, mut label, mut category, mut entity, mut amount, mut hops, mut first_block, mut first_time) =
        (vec![], vec![], vec![], vec![], vec![], vec![], vec![], vec![], vec![]);
    for d in &r.destinations {
        kind.push("destination");
        address.push(d.address.clone());
        label.push(d.label.clone());
        category.push(Some(d.category.clone()));
        entity.push(d.entity.clone());
        amount.push(d.amount.clone());
        hops.push(d.hops);
        first_block.push(d.first_block);
        first_time.push(d.first_time.clone());
    }
    for (k, rows) in [("dormant", &r.dormant), ("horizon", &r.horizon)] {
        for h in rows {
            kind.push(k);
            address.push(h.address.clone());
            label.push(None);
            category.push(None);
            entity.push(None);
            amount.push(h.amount.clone());
            hops.push(h.hops);
            first_block.push(None);
            first_time.push(None);
        }
    }
    write(
        path,
        vec![
            col("kind", kind),
            col("address", address),
            col("label", label),
            col("category", category),
            col("entity", entity),
            col("amount", amount),
            col("hops", hops),
            col("first_block", first_block),
            col("first_time", first_time),
        ],
    )?;
    let (mut dest, mut path_no, mut step_no, mut tx, mut from, mut to, mut block, mut time, mut value, mut taint) =
        (vec![], vec![], vec![], vec![], vec![], vec![], vec![], vec![], vec![], vec![]);
    for d in &r.destinations {
        for (p, steps) in d.paths.iter().enumerate() {
            for (k, s) in steps.iter().enumerate() {
                dest.push(d.address.clone());
                path_no.push(p as u32);
                step_no.push(k as u32);
                tx.push(s.event.tx.clone());
                from.push(s.event.from.clone());
                to.push(s.event.to.clone());
                block.push(s.event.block);
                time.push(s.event.time.clone());
                value.push(s.event.value.clone());
                taint.push(s.taint.clone());
            }
        }
    }
    write(
        &steps_path(path),
        vec![
            col("destination", dest),
            col("path", path_no),
            col("step", step_no),
            col("tx", tx),
            col("from", from),
            col("to", to),
            col("block", block),
            col("time", time),
            col("value", value),
            col("taint", taint),
        ],
    )
}

/// A screening answer: one row per address and category (one row with
/// empty category fields for an address without exposure); `path` holds the
/// evidence path's transaction hashes, source first.
pub fn write_screen(a: &ScreenAnswer, path: &Path) -> Result<(), ParquetError> {
    use crate::screen::answer::{CategoryExposure, ScreenResult};
    let level =
        |l: crate::screen::risk::Level| serde_json::to_value(l).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
    let rows: Vec<(&ScreenResult, Option<&CategoryExposure>)> = a
        .results
        .iter()
        .flat_map(|r| {
            let xs: Vec<Option<&CategoryExposure>> = if r.exposure.is_empty() { vec![None] } else { r.exposure.iter().map(Some).collect() };
            xs.into_iter().map(move |x| (r, x))
        })
        .collect();
    let of = |f: &dyn Fn(&CategoryExposure) -> String| -> Vec<Option<String>> { rows.iter().map(|(_, x)| x.map(f)).collect() };
    write(
        path,
        vec![
            col("address", rows.iter().map(|(r, _)| r.address.clone()).collect::<Vec<_>>()),
            col("activity", rows.iter().map(|(r, _)| r.activity).collect::<Vec<_>>()),
            col("received", rows.iter().map(|(r, _)| r.received.clone()).collect::<Vec<_>>()),
            col("risk", rows.iter().map(|(r, _)| level(r.risk)).collect::<Vec<_>>()),
            col("category", of(&|x| x.category.clone())),
            col("amount", of(&|x| x.amount.clone())),
            col("share", rows.iter().map(|(_, x)| x.map(|x| x.share)).collect::<Vec<_>>()),
            col("direct", of(&|x| x.direct.clone())),
            col("indirect", of(&|x| x.indirect.clone())),
            col("hops", rows.iter().map(|(_, x)| x.map(|x| x.hops)).collect::<Vec<_>>()),
            col("category_risk", of(&|x| level(x.risk))),
            col("path", of(&|x| x.path.iter().filter_map(|s| s.tx.clone()).collect::<Vec<_>>().join(" "))),
        ],
    )
}

/// What [`export`] wrote.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Exported {
    /// Event rows.
    pub events: u64,
    /// Address rows.
    pub addresses: u64,
    /// Label rows.
    pub labels: u64,
}

/// Write a store as `events.parquet` (key order, in the columns of the
/// `transfers` format, so `ingest --format parquet` reads it back),
/// `addresses.parquet` and `labels.parquet` in `dir`. Events go in row
/// groups of 2^20, so memory stays flat however large the store.
pub fn export(store: &Store, dir: &Path) -> Result<Exported, ParquetError> {
    std::fs::create_dir_all(dir).map_err(|x| fail(dir)(x.to_string()))?;
    let ev = store.events();
    let n = store.len();
    let events = dir.join("events.parquet");
    let e = fail(&events);
    let tmp = tmp_path(&events);
    let f = std::fs::File::create(&tmp).map_err(|x| e(x.to_string()))?;
    let rows = |r: std::ops::Range<usize>| -> Result<DataFrame, ParquetError> {
        let cols = vec![
            col("block_number", r.clone().map(|i| (ev.block[i] != NO_BLOCK).then_some(ev.block[i])).collect::<Vec<_>>()),
            col("block_time", r.clone().map(|i| (ev.time[i] != NO_TIME).then(|| crate::time::format_time(ev.time[i]))).collect::<Vec<_>>()),
            col("transaction_index", r.clone().map(|i| ev.tx_index[i].checked_sub(1)).collect::<Vec<_>>()),
            col("sub_index", r.clone().map(|i| ev.sub[i]).collect::<Vec<_>>()),
            col("transaction_hash", r.clone().map(|i| (ev.tx[i] != NO_TX).then(|| store.tx_text(ev.tx[i]))).collect::<Vec<_>>()),
            col("from_address", r.clone().map(|i| store.address_text(ev.from[i])).collect::<Vec<_>>()),
            col("to_address", r.clone().map(|i| store.address_text(ev.to[i])).collect::<Vec<_>>()),
            col("asset", r.clone().map(|i| store.manifest.assets[ev.asset[i] as usize].clone()).collect::<Vec<_>>()),
            col("value", r.clone().map(|i| store.value(i).to_string()).collect::<Vec<_>>()),
            col("flags", r.clone().map(|i| u32::from(ev.flags[i])).collect::<Vec<_>>()),
        ];
        DataFrame::new(r.len(), cols).map_err(|x| e(x.to_string()))
    };
    const CHUNK: usize = 1 << 20;
    // The first row group gives the schema the writer needs.
    let first = rows(0..n.min(CHUNK))?;
    let mut writer =
        ParquetWriter::new(f).with_compression(ParquetCompression::Zstd(None)).batched(first.schema()).map_err(|x| e(x.to_string()))?;
    writer.write_batch(&first).map_err(|x| e(x.to_string()))?;
    for start in (CHUNK..n).step_by(CHUNK) {
        writer.write_batch(&rows(start..n.min(start + CHUNK))?).map_err(|x| e(x.to_string()))?;
    }
    writer.finish().map_err(|x| e(x.to_string()))?;
    std::fs::rename(&tmp, &events).map_err(|x| e(x.to_string()))?;
    let ids: Vec<u32> = (0..store.address_count() as u32).collect();
    write(
        &dir.join("addresses.parquet"),
        vec![col("id", ids.clone()), col("address", ids.iter().map(|&a| store.address_text(a)).collect::<Vec<_>>())],
    )?;
    let labels = store.labels();
    write(
        &dir.join("labels.parquet"),
        vec![
            col("address", labels.iter().map(|l| l.address.clone()).collect::<Vec<_>>()),
            col("category", labels.iter().map(|l| l.category.clone()).collect::<Vec<_>>()),
            col("label", labels.iter().map(|l| l.label.clone()).collect::<Vec<_>>()),
            col("entity", labels.iter().map(|l| l.entity.clone()).collect::<Vec<_>>()),
            col("source", labels.iter().map(|l| l.source.clone()).collect::<Vec<_>>()),
            col("confidence", labels.iter().map(|l| u32::from(l.confidence)).collect::<Vec<_>>()),
            col("valid_from", labels.iter().map(|l| l.valid_from.map(crate::time::format_time)).collect::<Vec<_>>()),
            col("valid_to", labels.iter().map(|l| l.valid_to.map(crate::time::format_time)).collect::<Vec<_>>()),
            col("evidence", labels.iter().map(|l| l.evidence.clone()).collect::<Vec<_>>()),
        ],
    )?;
    Ok(Exported { events: n as u64, addresses: ids.len() as u64, labels: labels.len() as u64 })
}
