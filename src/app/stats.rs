//! `chaintrace stats` and `chaintrace export`: what a store holds.

use super::{AppError, TextFormat, bitcoin_clusters, pretty_json};
use crate::store::Store;
use std::path::Path;

/// Describe a store, with its address clusters when `cluster` is given (Bitcoin).
pub fn describe(s: &Store, format: TextFormat, cluster: Option<crate::cluster::Params>) -> Result<String, AppError> {
    let st = crate::stats::compute(s);
    let clusters = match cluster {
        Some(p) => Some(crate::cluster::summary(s, &bitcoin_clusters(s, p)?, 10)),
        None => None,
    };
    match format {
        TextFormat::Json => {
            let mut v = serde_json::to_value(&st)?;
            if let Some(c) = &clusters {
                v["clusters"] = serde_json::to_value(c)?;
            }
            pretty_json(&v)
        }
        TextFormat::Table => {
            let mut t = crate::stats::table(&st);
            if let Some(c) = &clusters {
                use crate::cluster::view::Table;
                t += &format!("\naddress clusters (common-input ownership)\n{}", c.table());
            }
            Ok(t)
        }
    }
}

/// Write a store's events, addresses and labels as Parquet into `out`.
pub fn export(s: &Store, out: &Path) -> Result<crate::report::export::Exported, AppError> {
    Ok(crate::report::export::export(s, out)?)
}

/// `chaintrace partition`: cut the store into parts for `processes`
/// processes, under the new directory `out`.
pub fn partition(s: &Store, processes: usize, out: &Path, format: TextFormat) -> Result<String, AppError> {
    let parts = crate::dataflow::parts::partition(s, processes, out)?;
    match format {
        TextFormat::Json => pretty_json(&serde_json::to_value(&parts)?),
        TextFormat::Table => {
            let mut t = format!(
                "{} events cut into {} parts (ownership blocks of 2^{} ids) under {}\n",
                parts.whole_events,
                parts.processes,
                parts.owner_bits,
                out.display()
            );
            for (p, &n) in parts.part_events.iter().enumerate() {
                let share = if parts.whole_events == 0 { 0.0 } else { 100.0 * n as f64 / parts.whole_events as f64 };
                t += &format!("part-{p}: {n} events ({share:.1}% of the store)\n");
            }
            Ok(t)
        }
    }
}

/// `chaintrace compact`: merge the store's segments into one, or with
/// `lookups` only its lookup runs.
pub fn compact(dir: &Path, lookups: bool, format: TextFormat) -> Result<String, AppError> {
    use crate::store::compact::Scope;
    let c = crate::store::compact::compact(dir, if lookups { Scope::Lookups } else { Scope::All })?;
    match format {
        TextFormat::Json => pretty_json(&serde_json::to_value(&c)?),
        TextFormat::Table if lookups => Ok(if c.merged == 0 {
            "nothing to merge: one run of each lookup structure\n".to_string()
        } else {
            format!("merged {} lookup runs into 3 in a new segment: {} -> {} bytes\n", c.merged, c.bytes_before, c.bytes_after)
        }),
        TextFormat::Table => Ok(if c.merged == 0 {
            format!("nothing to merge: {} segment(s), {} bytes\n", c.segments_after, c.bytes_after)
        } else {
            format!(
                "merged {} segments into one: {} -> {} segment(s), {} -> {} bytes\n",
                c.merged, c.segments_before, c.segments_after, c.bytes_before, c.bytes_after
            )
        }),
    }
}
