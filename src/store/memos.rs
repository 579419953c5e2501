//! The store's memos, in four columns, by transaction id and a position
//! in the transaction. On a Bitcoin store (`convert::memo`): one row per
//! output whose script pushes data after `OP_RETURN`, by output index. On
//! an account-model store: one row per THORChain router log (`Deposit`,
//! `TransferOut`: `convert::topics`, `convert::abi`), its memo by log
//! index, and one per other bridge log a matcher reads (`Kind::kept_topics`:
//! its topics after the first, then its raw data). A write that adds some
//! keeps the stored rows before the first new one's place, as the logs
//! table does.

use super::Store;
use super::StoreError;
use super::builder::MemoRow;
use super::columns::{Column, as_bytes, cast};
use super::write::PutColumn;

/// Every stored memo, in table order.
pub(super) fn stored(s: &Store) -> Vec<MemoRow> {
    stored_from(s, 0)
}

/// The stored memos from row `from` on.
fn stored_from(s: &Store, from: usize) -> Vec<MemoRow> {
    let (tx, vout, end): (&[u32], &[u32], &[u64]) =
        (cast(s.bytes(Column::MemoTx)), cast(s.bytes(Column::MemoVout)), cast(s.bytes(Column::MemoEnd)));
    let bytes = s.bytes(Column::MemoBytes);
    let mut start = if from == 0 { 0 } else { end.get(from - 1).map_or(bytes.len(), |&e| (e as usize).min(bytes.len())) };
    (from..tx.len().min(vout.len()).min(end.len()))
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
    write_after(rows.to_vec(), (0, 0), &mut |c, _, new| put(c, new))
}

/// Add `new` rows to the table of `s` as [`put`] would write the stored
/// rows and them, writing only the stored rows from the first new one's
/// place on again. Returns the rows the table then holds.
pub(super) fn append(s: &Store, new: &[MemoRow], put_after: &mut super::logs::PutAfter<'_>) -> Result<u64, StoreError> {
    let (tx, vout, end): (&[u32], &[u32], &[u64]) =
        (cast(s.bytes(Column::MemoTx)), cast(s.bytes(Column::MemoVout)), cast(s.bytes(Column::MemoEnd)));
    let n = tx.len().min(vout.len()).min(end.len());
    let Some(first) = new.iter().map(|r| (r.tx, r.vout)).min() else {
        return Ok(n as u64);
    };
    let keep = super::partition(0, n, |k| (tx[k], vout[k]) < first);
    let kept_bytes = if keep == 0 { 0 } else { end[keep - 1] as usize };
    if kept_bytes > s.bytes(Column::MemoBytes).len() {
        return Err(StoreError::Corrupt {
            path: s.gen_dir.join("manifest.json"),
            message: format!("memo {} ends at byte {kept_bytes}, past the memos' bytes", keep - 1),
        });
    }
    let mut rows: Vec<MemoRow> = stored_from(s, keep);
    rows.extend_from_slice(new);
    write_after(rows, (keep, kept_bytes), put_after)
}

/// Write `rows` sorted, the first copy of a repeated one kept, after the
/// first `kept` rows (and their bytes) of the table.
fn write_after(mut rows: Vec<MemoRow>, kept: (usize, usize), put_after: &mut super::logs::PutAfter<'_>) -> Result<u64, StoreError> {
    let (keep, kept_bytes) = kept;
    rows.sort_by_key(|r| (r.tx, r.vout));
    rows.dedup_by_key(|r| (r.tx, r.vout));
    let mut ends = Vec::with_capacity(rows.len());
    let mut bytes = Vec::new();
    for r in &rows {
        bytes.extend_from_slice(&r.data);
        ends.push((kept_bytes + bytes.len()) as u64);
    }
    put_after(Column::MemoTx, keep * 4, as_bytes(&rows.iter().map(|r| r.tx).collect::<Vec<_>>()))?;
    put_after(Column::MemoVout, keep * 4, as_bytes(&rows.iter().map(|r| r.vout).collect::<Vec<_>>()))?;
    put_after(Column::MemoEnd, keep * 8, as_bytes(&ends))?;
    put_after(Column::MemoBytes, kept_bytes, &bytes)?;
    Ok((keep + rows.len()) as u64)
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
