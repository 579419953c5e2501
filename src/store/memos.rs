//! The store's memos, in four columns, by transaction id and a position
//! in the transaction. On a Bitcoin store (`convert::memo`): one row per
//! output whose script pushes data after `OP_RETURN`, by output index. On
//! an account-model store: one row per THORChain router log (`Deposit`,
//! `TransferOut`: `convert::topics`, `convert::abi`), its memo by log
//! index, and one per other bridge log a matcher reads (`Kind::kept_topics`:
//! its topics after the first, then its raw data). A block holds a few dozen, so every write that adds some
//! rewrites the table whole, as the logs table is.

use super::Store;
use super::StoreError;
use super::builder::MemoRow;
use super::columns::{Column, as_bytes, cast};
use super::write::PutColumn;

/// Every stored memo, in table order.
pub(super) fn stored(s: &Store) -> Vec<MemoRow> {
    let (tx, vout, end): (&[u32], &[u32], &[u64]) =
        (cast(s.bytes(Column::MemoTx)), cast(s.bytes(Column::MemoVout)), cast(s.bytes(Column::MemoEnd)));
    let bytes = s.bytes(Column::MemoBytes);
    let mut start = 0usize;
    (0..tx.len().min(vout.len()).min(end.len()))
        .map(|k| {
            // A damaged end reads an empty memo, never out of bounds (the
            // column checksums catch the damage first).
            let e = (end[k] as usize).clamp(start, bytes.len());
            let data = bytes.get(start..e).unwrap_or_default().to_vec();
            start = e;
            MemoRow { tx: tx[k], vout: vout[k], data }
        })
        .collect()
}

/// Write `rows` (the store's first, then new ones) as the table: sorted by
/// transaction and output (or log) index, the first copy of a repeated one kept. Returns
/// the rows written.
pub(super) fn put(rows: &[MemoRow], put: &mut PutColumn<'_>) -> Result<u64, StoreError> {
    let mut rows = rows.to_vec();
    rows.sort_by_key(|r| (r.tx, r.vout));
    rows.dedup_by_key(|r| (r.tx, r.vout));
    let mut end = Vec::with_capacity(rows.len());
    let mut bytes = Vec::new();
    for r in &rows {
        bytes.extend_from_slice(&r.data);
        end.push(bytes.len() as u64);
    }
    put(Column::MemoTx, as_bytes(&rows.iter().map(|r| r.tx).collect::<Vec<_>>()))?;
    put(Column::MemoVout, as_bytes(&rows.iter().map(|r| r.vout).collect::<Vec<_>>()))?;
    put(Column::MemoEnd, as_bytes(&end))?;
    put(Column::MemoBytes, &bytes)?;
    Ok(rows.len() as u64)
}

impl Store {
    /// The memos, by transaction id and `vout`: on a Bitcoin store the data
    /// after `OP_RETURN`, `vout` the output index; on an account-model
    /// store THORChain router logs' memos and other bridge logs' fields
    /// (`Kind::kept_topics`), `vout` the log index (the log
    /// is in [`Store::logs`] at the same transaction and index).
    pub fn memos(&self) -> Vec<MemoRow> {
        stored(self)
    }
}
