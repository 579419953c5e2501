//! Column files and typed views over them.

use super::Manifest;

/// Every file of a generation besides the manifest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Column {
    /// Block number per event (`u64::MAX`: none).
    Block,
    /// Block time per event, epoch seconds (`i64::MIN`: unknown).
    Time,
    /// Transaction index + 1 per event (0: missing).
    TxIndex,
    /// Position inside the transaction.
    Sub,
    /// Sender id.
    From,
    /// Receiver id.
    To,
    /// Asset id.
    Asset,
    /// Value (`u128::MAX`: see big values).
    Value,
    /// Transaction id (`u32::MAX`: none).
    Tx,
    /// Flags.
    Flags,
    /// `(u64 event index, U256 little-endian)` records for values ≥ 2^128-1.
    BigValues,
    /// Address bytes, concatenated.
    AddrBytes,
    /// Address offsets into `AddrBytes` (`n + 1` entries).
    AddrOffsets,
    /// 32 bytes per transaction.
    TxHashes,
    /// Bitcoin input: spending transaction id.
    InTx,
    /// Bitcoin input: index in the spending transaction.
    InIndex,
    /// Bitcoin input: spent transaction id.
    InSpentTx,
    /// Bitcoin input: spent output index.
    InSpentVout,
    /// Bitcoin input: value (`u64::MAX`: unknown).
    InValue,
    /// Bitcoin input: address id of the spent output.
    InAddr,
    /// Bitcoin input: the event of the output it spends (`u64::MAX`: outside the data).
    InSpentEvent,
    /// Address labels, tab-separated text (see `labels`).
    Labels,
    /// The sender's balance in the event's asset just before the event, before
    /// any unknown-origin credit (`u128::MAX`: does not fit; 0 where nothing moves).
    SenderBalance,
    /// `(u32 asset, u32 address, u128 balance)` records, sorted, of every
    /// non-zero balance after the last event (`u128::MAX`: does not fit).
    FinalBalances,
    /// Address ids (pseudo addresses excluded) in the order of their bytes, for lookups.
    AddrIndex,
    /// Transaction ids in an open-addressing table by hash (see `txindex`).
    TxHashIndex,
}

impl Column {
    /// All columns.
    pub const ALL: [Column; 26] = [
        Column::Block,
        Column::Time,
        Column::TxIndex,
        Column::Sub,
        Column::From,
        Column::To,
        Column::Asset,
        Column::Value,
        Column::Tx,
        Column::Flags,
        Column::BigValues,
        Column::AddrBytes,
        Column::AddrOffsets,
        Column::TxHashes,
        Column::InTx,
        Column::InIndex,
        Column::InSpentTx,
        Column::InSpentVout,
        Column::InValue,
        Column::InAddr,
        Column::InSpentEvent,
        Column::Labels,
        Column::SenderBalance,
        Column::FinalBalances,
        Column::AddrIndex,
        Column::TxHashIndex,
    ];

    /// File name inside the generation directory.
    pub fn file(self) -> &'static str {
        match self {
            Column::Block => "ev_block.u64",
            Column::Time => "ev_time.i64",
            Column::TxIndex => "ev_tx_index.u32",
            Column::Sub => "ev_sub.u32",
            Column::From => "ev_from.u32",
            Column::To => "ev_to.u32",
            Column::Asset => "ev_asset.u32",
            Column::Value => "ev_value.u128",
            Column::Tx => "ev_tx.u32",
            Column::Flags => "ev_flags.u8",
            Column::BigValues => "big_values.bin",
            Column::AddrBytes => "addr_bytes.bin",
            Column::AddrOffsets => "addr_offsets.u64",
            Column::TxHashes => "tx_hashes.bin",
            Column::InTx => "in_tx.u32",
            Column::InIndex => "in_index.u32",
            Column::InSpentTx => "in_spent_tx.u32",
            Column::InSpentVout => "in_spent_vout.u32",
            Column::InValue => "in_value.u64",
            Column::InAddr => "in_addr.u32",
            Column::InSpentEvent => "in_spent_event.u64",
            Column::Labels => "labels.tsv",
            Column::SenderBalance => "ev_sender_balance.u128",
            Column::FinalBalances => "final_balances.bin",
            Column::AddrIndex => "addr_index.u32",
            Column::TxHashIndex => "tx_hash_index.u32",
        }
    }

    /// The length the manifest implies, where it implies one.
    pub fn expected_len(self, m: &Manifest) -> Option<u64> {
        let ev = m.events;
        let inp = m.inputs;
        Some(match self {
            Column::Block | Column::Time => ev * 8,
            Column::TxIndex | Column::Sub | Column::From | Column::To | Column::Asset | Column::Tx => ev * 4,
            Column::Value | Column::SenderBalance => ev * 16,
            Column::Flags => ev,
            Column::AddrOffsets => (m.address_table + 1) * 8,
            Column::AddrIndex => m.address_table.saturating_sub(crate::model::Pseudo::ALL.len() as u64) * 4,
            Column::TxHashes => m.tx_table * 32,
            Column::TxHashIndex => super::txindex::slot_count(m.tx_table) * 4,
            Column::InTx | Column::InIndex | Column::InSpentTx | Column::InSpentVout | Column::InAddr => inp * 4,
            Column::InValue | Column::InSpentEvent => inp * 8,
            Column::BigValues | Column::AddrBytes | Column::Labels | Column::FinalBalances => return None,
        })
    }
}

/// Plain numeric types that columns hold.
pub(crate) trait Pod: Copy + 'static {}
impl Pod for u8 {}
impl Pod for u32 {}
impl Pod for u64 {}
impl Pod for i64 {}
impl Pod for u128 {}

/// View little-endian column bytes as a typed slice.
pub(crate) fn cast<T: Pod>(b: &[u8]) -> &[T] {
    const { assert!(cfg!(target_endian = "little"), "store columns are little-endian") };
    if b.is_empty() {
        return &[];
    }
    let size = std::mem::size_of::<T>();
    assert!(b.len().is_multiple_of(size), "column length is not a multiple of its element size");
    assert!((b.as_ptr() as usize).is_multiple_of(std::mem::align_of::<T>()), "column is not aligned");
    // SAFETY: length and alignment are checked above and T is a plain integer
    // type for which every bit pattern is valid.
    unsafe { std::slice::from_raw_parts(b.as_ptr().cast::<T>(), b.len() / size) }
}

/// The bytes of a typed slice.
pub(crate) fn as_bytes<T: Pod>(v: &[T]) -> &[u8] {
    // SAFETY: T is a plain integer type without padding.
    unsafe { std::slice::from_raw_parts(v.as_ptr().cast::<u8>(), std::mem::size_of_val(v)) }
}

/// Borrowed event columns, index `i` is event `i` in key order.
#[derive(Clone, Copy)]
pub struct EventColumns<'a> {
    /// Block numbers.
    pub block: &'a [u64],
    /// Block times.
    pub time: &'a [i64],
    /// Transaction index + 1.
    pub tx_index: &'a [u32],
    /// Position inside the transaction.
    pub sub: &'a [u32],
    /// Sender ids.
    pub from: &'a [u32],
    /// Receiver ids.
    pub to: &'a [u32],
    /// Asset ids.
    pub asset: &'a [u32],
    /// Values (`u128::MAX`: look up the big value).
    pub value: &'a [u128],
    /// Transaction ids.
    pub tx: &'a [u32],
    /// Flags.
    pub flags: &'a [u8],
}
