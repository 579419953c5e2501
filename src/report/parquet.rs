//! Parquet outputs for notebooks and data tools: a trace's table and its
//! evidence steps, and a screening answer (a whole store: `report::export`).
//!
//! Amounts stay exact: they are decimal strings in base units (Parquet's
//! decimals stop at 38 digits; wei and token amounts reach 78), which polars
//! or pandas can cast where they fit.

use super::Report;
use crate::screen::answer::ScreenAnswer;
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

pub(super) fn fail(path: &Path) -> impl Fn(String) -> ParquetError + '_ {
    move |message| ParquetError { path: path.to_path_buf(), message }
}

pub(super) fn col<T, V>(name: &str, v: V) -> Column
where
    Series: NamedFrom<V, T>,
    T: ?Sized,
{
    Column::from(Series::new(name.into(), v))
}

pub(super) fn write(path: &Path, columns: Vec<Column>) -> Result<(), ParquetError> {
    let e = fail(path);
    let height = columns.first().map_or(0, Column::len);
    let mut df = DataFrame::new(height, columns).map_err(|x| e(x.to_string()))?;
    // Written aside and renamed: a reader never sees half a file.
    let tmp = crate::sys::tmp_path(path);
    let f = std::fs::File::create(&tmp).map_err(|x| e(x.to_string()))?;
    ParquetWriter::new(f).with_compression(ParquetCompression::Zstd(None)).finish(&mut df).map_err(|x| e(x.to_string()))?;
    std::fs::rename(&tmp, path).map_err(|x| e(x.to_string()))
}

/// The evidence steps' file beside a trace's: `X.parquet` → `X.steps.parquet`.
pub fn steps_path(path: &Path) -> PathBuf {
    beside(path, "steps")
}

/// `path`'s companion table `what`: `trace.parquet` -> `trace.WHAT.parquet`.
fn beside(path: &Path, what: &str) -> PathBuf {
    let stem = path.file_stem().map_or_else(String::new, |s| s.to_string_lossy().into_owned());
    path.with_file_name(format!("{stem}.{what}.parquet"))
}

/// A trace as tables: `path` has one row per destination, dormant and
/// horizon address (the CSV's columns, plus `entity`); [`steps_path`] one
/// row per evidence step (destination, path number, step number, then the
/// step's fields); [`flow_path`], where the report has a flow, one row per
/// flow edge and one for the rest.
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
    let mut rows = vec![
        col("kind", kind),
        col("address", address),
        col("label", label),
        col("category", category),
        col("entity", entity),
        col("amount", amount),
        col("hops", hops),
        col("first_block", first_block),
        col("first_time", first_time),
    ];
    // Under `--follow` every row names its asset and a step through a swap
    // its venue and the asset, value and taint that went in (its `value`
    // and `taint` are those that came out).
    let follow = r.totals_by_asset.is_some();
    if follow {
        let assets: Vec<Option<String>> =
            r.destinations.iter().map(|d| d.asset.clone()).chain(r.dormant.iter().chain(&r.horizon).map(|h| h.asset.clone())).collect();
        rows.push(col("asset", assets));
    }
    write(path, rows)?;
    let (mut dest, mut path_no, mut step_no, mut tx, mut from, mut to, mut block, mut time, mut value, mut taint) =
        (vec![], vec![], vec![], vec![], vec![], vec![], vec![], vec![], vec![], vec![]);
    let mut all_steps: Vec<&super::Step> = Vec::new();
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
                all_steps.push(s);
            }
        }
    }
    let mut cols = vec![
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
    ];
    if follow {
        let conv = |f: &dyn Fn(&super::ConversionRow) -> String| -> Vec<Option<String>> {
            all_steps.iter().map(|s| s.conversion.as_deref().map(f)).collect()
        };
        cols.push(col("asset", all_steps.iter().map(|s| s.asset.clone()).collect::<Vec<_>>()));
        cols.push(col("kind", all_steps.iter().map(|s| if s.conversion.is_some() { "swap" } else { "transfer" }).collect::<Vec<_>>()));
        cols.push(col("venue", conv(&|c| c.venue.clone())));
        cols.push(col("asset_in", conv(&|c| c.asset_in.clone())));
        cols.push(col("value_in", conv(&|c| c.value_in.clone())));
        cols.push(col("taint_in", conv(&|c| c.taint_in.clone())));
    }
    write(&steps_path(path), cols)?;
    // The taint flow (issue 18): its edges, then one row for the rest
    // (`from` and `to` empty).
    if let Some(f) = &r.flow {
        let rest = std::iter::once(&f.others);
        let cols = vec![
            col("from", f.edges.iter().map(|e| Some(e.from.clone())).chain(rest.clone().map(|_| None)).collect::<Vec<Option<String>>>()),
            col("to", f.edges.iter().map(|e| Some(e.to.clone())).chain(rest.clone().map(|_| None)).collect::<Vec<Option<String>>>()),
            col("hop", f.edges.iter().map(|e| Some(e.hop)).chain(rest.clone().map(|_| None)).collect::<Vec<Option<u32>>>()),
            col("taint", f.edges.iter().map(|e| e.taint.clone()).chain(rest.clone().map(|o| o.taint.clone())).collect::<Vec<String>>()),
            col("events", f.edges.iter().map(|e| e.events).chain(rest.clone().map(|o| o.events)).collect::<Vec<u64>>()),
            col("edges", f.edges.iter().map(|_| 1u64).chain(rest.clone().map(|o| o.edges)).collect::<Vec<u64>>()),
            col("txs", f.edges.iter().map(|e| e.txs.join(" ")).chain(rest.map(|_| String::new())).collect::<Vec<String>>()),
        ];
        write(&flow_path(path), cols)?;
    }
    Ok(())
}

/// Where the taint flow of a trace written to `path` goes, beside it:
/// `trace.parquet` -> `trace.flow.parquet` (as [`steps_path`]).
pub fn flow_path(path: &Path) -> PathBuf {
    beside(path, "flow")
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
    let mut cols = vec![
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
    ];
    // Over several stores each row names its chain and asset.
    if a.results.iter().any(|r| r.chain.is_some()) {
        cols.push(col("chain", rows.iter().map(|(r, _)| r.chain.clone()).collect::<Vec<_>>()));
        cols.push(col("asset", rows.iter().map(|(r, _)| r.asset.clone()).collect::<Vec<_>>()));
    }
    write(path, cols)
}
