//! The store's recognised logs (`convert::topics`): one row per log, by
//! transaction id and log index, in four columns. Only logs that mark a
//! conversion are kept (a few in a hundred of a chain's logs). A write
//! that adds some keeps the stored rows before the first new one's place
//! and writes the rest again with the new ones: after an append, whose
//! transactions sort after every stored one, only the new rows.

use super::Store;
use super::StoreError;
use super::builder::LogRow;
use super::columns::{Column, as_bytes, cast};
use super::write::PutColumn;

/// Every stored log row, in table order.
pub(super) fn stored(s: &Store) -> Vec<LogRow> {
    stored_from(s, 0)
}

/// The stored log rows from row `from` on.
fn stored_from(s: &Store, from: usize) -> Vec<LogRow> {
    let (tx, index, emitter, kind): (&[u32], &[u32], &[u32], &[u8]) =
        (cast(s.bytes(Column::LogTx)), cast(s.bytes(Column::LogIndex)), cast(s.bytes(Column::LogEmitter)), s.bytes(Column::LogKind));
    (from..tx.len()).map(|k| LogRow { tx: tx[k], index: index[k], emitter: emitter[k], kind: kind[k] }).collect()
}

/// Write `rows` (the store's first, then new ones) as the table: sorted
/// by transaction and log index, the first copy of a repeated log kept.
/// Returns the rows written.
pub(super) fn put(rows: &[LogRow], put: &mut PutColumn<'_>) -> Result<u64, StoreError> {
    write_after(rows.to_vec(), 0, &mut |c, _, new| put(c, new))
}

/// What to keep of a column (its first bytes) and what follows them.
pub(super) type PutAfter<'a> = dyn FnMut(Column, usize, &[u8]) -> Result<(), StoreError> + 'a;

/// Add `new` rows to the table of `s` as [`put`] would write the stored
/// rows and them, writing only the stored rows from the first new one's
/// place on again. Returns the rows the table then holds.
pub(super) fn append(s: &Store, new: &[LogRow], put_after: &mut PutAfter<'_>) -> Result<u64, StoreError> {
    let (tx, index): (&[u32], &[u32]) = (cast(s.bytes(Column::LogTx)), cast(s.bytes(Column::LogIndex)));
    let Some(first) = new.iter().map(|r| (r.tx, r.index)).min() else {
        return Ok(tx.len() as u64);
    };
    // Sorted by (tx, index) and without repeats: the rows below the first
    // new one can neither move nor be repeated by a new one.
    let keep = tx.len().min(index.len());
    let keep = super::partition(0, keep, |k| (tx[k], index[k]) < first);
    let mut rows: Vec<LogRow> = stored_from(s, keep);
    rows.extend_from_slice(new);
    write_after(rows, keep, put_after)
}

/// Write `rows` sorted, the first copy of a repeated log kept, after the
/// first `keep` rows of the table.
fn write_after(mut rows: Vec<LogRow>, keep: usize, put_after: &mut PutAfter<'_>) -> Result<u64, StoreError> {
    rows.sort_by_key(|r| (r.tx, r.index));
    rows.dedup_by_key(|r| (r.tx, r.index));
    put_after(Column::LogTx, keep * 4, as_bytes(&rows.iter().map(|r| r.tx).collect::<Vec<_>>()))?;
    put_after(Column::LogIndex, keep * 4, as_bytes(&rows.iter().map(|r| r.index).collect::<Vec<_>>()))?;
    put_after(Column::LogEmitter, keep * 4, as_bytes(&rows.iter().map(|r| r.emitter).collect::<Vec<_>>()))?;
    put_after(Column::LogKind, keep, &rows.iter().map(|r| r.kind).collect::<Vec<_>>())?;
    Ok((keep + rows.len()) as u64)
}

impl Store {
    /// The recognised logs (swaps, wrapping), by transaction id and log index.
    pub fn logs(&self) -> Vec<LogRow> {
        stored(self)
    }
}
