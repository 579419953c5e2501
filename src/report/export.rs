//! `chaintrace export`: a whole store as Parquet (events in the columns of
//! the `transfers` format, so they ingest back; addresses; labels). Amounts
//! stay exact decimal strings.

use super::parquet::{ParquetError, col, fail, write};
use crate::model::{NO_BLOCK, NO_TIME, NO_TX};
use crate::store::Store;
use polars::prelude::*;
use std::path::Path;

/// What [`export`] wrote.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Exported {
    /// Event rows.
    pub events: u64,
    /// Address rows.
    pub addresses: u64,
    /// Label rows.
    pub labels: u64,
    /// Recognised-log rows (`logs.parquet`).
    pub logs: u64,
}

/// Write a store as `events.parquet` (key order, in the columns of the
/// `transfers` format, so `ingest --format parquet` reads it back),
/// `addresses.parquet`, `labels.parquet` and `logs.parquet` (the
/// recognised logs, in blockchain-etl's columns, THORChain router logs
/// with their memos in `data`, other bridges' logs with the topics and
/// data their matchers read) in `dir`. Events go in row
/// groups of 2^20, so memory stays flat however large the store.
pub fn export(store: &Store, dir: &Path) -> Result<Exported, ParquetError> {
    std::fs::create_dir_all(dir).map_err(|x| fail(dir)(x.to_string()))?;
    let ev = store.events();
    let n = store.len();
    let events = dir.join("events.parquet");
    let e = fail(&events);
    let tmp = crate::sys::tmp_path(&events);
    let f = std::fs::File::create(&tmp).map_err(|x| e(x.to_string()))?;
    let rows = |r: std::ops::Range<usize>| -> Result<DataFrame, ParquetError> {
        let mut cur = ev.cursor();
        let runs: Vec<_> = r.clone().map(|i| *cur.at(i)).collect();
        let cols = vec![
            col("block_number", runs.iter().map(|b| (b.block != NO_BLOCK).then_some(b.block)).collect::<Vec<_>>()),
            col(
                "block_time",
                runs.iter().map(|b| (b.time != NO_TIME).then(|| crate::model::time::format_time(b.time))).collect::<Vec<_>>(),
            ),
            col("transaction_index", r.clone().map(|i| ev.tx_index(i).checked_sub(1)).collect::<Vec<_>>()),
            col("sub_index", r.clone().map(|i| ev.sub(i)).collect::<Vec<_>>()),
            col("transaction_hash", r.clone().map(|i| (ev.tx(i) != NO_TX).then(|| store.tx_text(ev.tx(i)))).collect::<Vec<_>>()),
            col("from_address", r.clone().map(|i| store.address_text(ev.sender(i))).collect::<Vec<_>>()),
            col("to_address", r.clone().map(|i| store.address_text(ev.receiver(i))).collect::<Vec<_>>()),
            col("asset", r.clone().map(|i| store.manifest.assets[ev.asset(i) as usize].clone()).collect::<Vec<_>>()),
            col("value", r.clone().map(|i| store.value(i).to_string()).collect::<Vec<_>>()),
            col("flags", r.clone().map(|i| u32::from(ev.flags(i))).collect::<Vec<_>>()),
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
    let labels = crate::labels::load(store);
    write(
        &dir.join("labels.parquet"),
        vec![
            col("address", labels.iter().map(|l| l.address.clone()).collect::<Vec<_>>()),
            col("category", labels.iter().map(|l| l.category.clone()).collect::<Vec<_>>()),
            col("label", labels.iter().map(|l| l.label.clone()).collect::<Vec<_>>()),
            col("entity", labels.iter().map(|l| l.entity.clone()).collect::<Vec<_>>()),
            col("source", labels.iter().map(|l| l.source.clone()).collect::<Vec<_>>()),
            col("confidence", labels.iter().map(|l| u32::from(l.confidence)).collect::<Vec<_>>()),
            col("valid_from", labels.iter().map(|l| l.valid_from.map(crate::model::time::format_time)).collect::<Vec<_>>()),
            col("valid_to", labels.iter().map(|l| l.valid_to.map(crate::model::time::format_time)).collect::<Vec<_>>()),
            col("evidence", labels.iter().map(|l| l.evidence.clone()).collect::<Vec<_>>()),
        ],
    )?;
    // The recognised logs, in blockchain-etl's `logs` columns (the topic
    // each kind is recognised by), so `ingest --format parquet` reads them
    // back and conversions survive the round trip (TRACING.md §8).
    // THORChain router logs carry their memos in `data`, ABI-encoded as
    // the router writes them (its other words zero: the store keeps the
    // memo alone); the other bridges' logs their kept topics and data as
    // they were (`Kind::kept_topics`); the other kinds' data is not kept,
    // so left null.
    let logs = store.logs();
    let kind = crate::convert::topics::Kind::from_code;
    let first = |code: u8| crate::convert::topics::RECOGNISED.iter().find(|r| Some(r.kind) == kind(code)).map(|r| r.topic);
    let memos: std::collections::HashMap<(u32, u32), Vec<u8>> =
        if logs.iter().any(|l| kind(l.kind).is_some_and(|k| k.memo_word().is_some() || k.kept_topics().is_some())) {
            store.memos().into_iter().map(|m| ((m.tx, m.vout), m.data)).collect()
        } else {
            Default::default()
        };
    // A bridge log's kept fields: its topics after the first, then its data.
    let kept = |l: &crate::store::builder::LogRow| {
        let n = kind(l.kind)?.kept_topics()?;
        let memo = memos.get(&(l.tx, l.index)).filter(|m| m.len() >= 32 * n)?;
        Some(memo.split_at(32 * n))
    };
    let topic = |l: &crate::store::builder::LogRow| {
        let mut text = format!("0x{}", hex::encode(first(l.kind)?));
        if let Some((topics, _)) = kept(l) {
            for t in topics.chunks(32) {
                text += &format!(",0x{}", hex::encode(t));
            }
        }
        Some(text)
    };
    let data = |l: &crate::store::builder::LogRow| {
        if let Some((_, data)) = kept(l) {
            return Some(format!("0x{}", hex::encode(data)));
        }
        let word = kind(l.kind)?.memo_word()?;
        let memo = memos.get(&(l.tx, l.index))?;
        Some(format!("0x{}", hex::encode(crate::convert::abi::encode_abi_string(word, memo))))
    };
    write(
        &dir.join("logs.parquet"),
        vec![
            col("log_index", logs.iter().map(|l| l.index).collect::<Vec<_>>()),
            col("transaction_hash", logs.iter().map(|l| store.tx_text(l.tx)).collect::<Vec<_>>()),
            col("address", logs.iter().map(|l| store.address_text(l.emitter)).collect::<Vec<_>>()),
            col("topics", logs.iter().map(topic).collect::<Vec<_>>()),
            col("data", logs.iter().map(data).collect::<Vec<_>>()),
        ],
    )?;
    Ok(Exported { events: n as u64, addresses: ids.len() as u64, labels: labels.len() as u64, logs: logs.len() as u64 })
}
