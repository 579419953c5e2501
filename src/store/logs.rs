//! The store's recognised logs (`convert::topics`): one row per log, by
//! transaction id and log index, in four columns. Only logs that mark a
//! conversion are kept (a few in a hundred of a chain's logs), so every
//! write that adds some rewrites the table whole rather than in runs.

use super::Store;
use super::StoreError;
use super::builder::LogRow;
use super::columns::{Column, as_bytes, cast};
use super::write::PutColumn;

/// Every stored log row, in table order.
pub(super) fn stored(s: &Store) -> Vec<LogRow> {
    let (tx, index, emitter, kind): (&[u32], &[u32], &[u32], &[u8]) =
        (cast(s.bytes(Column::LogTx)), cast(s.bytes(Column::LogIndex)), cast(s.bytes(Column::LogEmitter)), s.bytes(Column::LogKind));
    (0..tx.len()).map(|k| LogRow { tx: tx[k], index: index[k], emitter: emitter[k], kind: kind[k] }).collect()
}

/// Write `rows` (the store's first, then new ones) as the table: sorted
/// by transaction and log index, the first copy of a repeated log kept.
/// Returns the rows written.
pub(super) fn put(rows: &[LogRow], put: &mut PutColumn<'_>) -> Result<u64, StoreError> {
    let mut rows = rows.to_vec();
    rows.sort_by_key(|r| (r.tx, r.index));
    rows.dedup_by_key(|r| (r.tx, r.index));
    put(Column::LogTx, as_bytes(&rows.iter().map(|r| r.tx).collect::<Vec<_>>()))?;
    put(Column::LogIndex, as_bytes(&rows.iter().map(|r| r.index).collect::<Vec<_>>()))?;
    put(Column::LogEmitter, as_bytes(&rows.iter().map(|r| r.emitter).collect::<Vec<_>>()))?;
    put(Column::LogKind, &rows.iter().map(|r| r.kind).collect::<Vec<_>>())?;
    Ok(rows.len() as u64)
}

impl Store {
    /// The recognised logs (swaps, wrapping), by transaction id and log index.
    pub fn logs(&self) -> Vec<LogRow> {
        stored(self)
    }
}
