//! Column files and typed views over them.

use super::Manifest;
use super::packed::Packed;
use crate::model::{Chain, NO_TIME, Pseudo};

/// Every file of a generation besides the manifest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Column {
    /// Block number and block time of runs of events ([`BlockRun`]): one
    /// record per block, not 16 bytes per event.
    BlockRuns,
    /// Transaction index + 1 per transaction (0: missing), from its first
    /// event: the events of a transaction share it. 16 bits (65,535 and
    /// up: see `TxIndexOther`).
    TxIndex,
    /// `(u64 event, u64 transaction index + 1)` records, by event, for the
    /// events whose index is not their transaction's, or that have no
    /// transaction but an index (Ethereum block rewards: one a block).
    TxIndexOther,
    /// Position inside the transaction, rotated left by 3 bits (the class
    /// low), bit-packed (see `packed`; frames in `SubFrames`).
    Sub,
    /// Sender id, bit-packed (frames in `FromFrames`): about log2 of the
    /// addresses a block's ids span, not 32 bits.
    From,
    /// Receiver id, bit-packed (frames in `ToFrames`).
    To,
    /// Asset id, bit-packed (frames in `AssetFrames`).
    Asset,
    /// Value, low 64 bits (see [`Narrow`]).
    ValueLo,
    /// Value, bits 64 to 71; all ones with `ValueLo` all ones: a big value.
    ValueHi,
    /// Transaction id (`u32::MAX`: none), bit-packed (frames in `TxFrames`).
    Tx,
    /// Flags, bit-packed (frames in `FlagsFrames`).
    Flags,
    /// `(u64 event index, U256 little-endian)` records, by event, for
    /// values of 2^72-1 and above.
    BigValues,
    /// Address bytes, concatenated: the pseudo addresses' names, then 20
    /// bytes an address on Ethereum, the text on Bitcoin.
    AddrBytes,
    /// Bitcoin: address offsets into `AddrBytes` (`n + 1` entries); empty on
    /// Ethereum, whose addresses all take 20 bytes.
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
    /// Bitcoin: the first event of each transaction (`u64::MAX`: none in
    /// the data), so an append finds the old outputs its inputs spend
    /// without a scan. Empty on Ethereum, and on Bitcoin stores written
    /// before it (their appends rewrite, which writes it).
    TxEvent,
    /// Recognised logs (`convert::topics`): transaction id, by transaction
    /// id then log index (see `logs`).
    LogTx,
    /// Recognised logs: log index.
    LogIndex,
    /// Recognised logs: address id of the emitting contract.
    LogEmitter,
    /// Recognised logs: `convert::topics::Kind::code`.
    LogKind,
    /// Memos (Bitcoin: the data after `OP_RETURN`, `convert::memo`;
    /// account model: THORChain router log memos, bridge log fields): transaction id, by
    /// transaction id then output or log index (see `memos`).
    MemoTx,
    /// Memos: output index (Bitcoin) or log index (account model).
    MemoVout,
    /// Memos: where each memo's bytes end in `MemoBytes`.
    MemoEnd,
    /// Memos: their bytes, back to back.
    MemoBytes,
    /// Address labels, tab-separated text (see `labels`).
    Labels,
    /// The sender's balance in the event's asset just before the event, before
    /// any unknown-origin credit (0 where nothing moves): low 64 bits.
    BalanceLo,
    /// The sender's balance, bits 64 to 79; all ones with `BalanceLo` all
    /// ones: see `BalanceWide` (2^80-1 or more, see [`Narrow`]).
    BalanceHi,
    /// `(u64 event index, u128 balance)` records, by event, for sender
    /// balances from 2^80-1 to 2^128-2; a marked balance without a record
    /// does not fit 128 bits.
    BalanceWide,
    /// `(u32 asset, u32 address, u128 balance)` records, sorted, of every
    /// non-zero balance after the last event (`u128::MAX`: does not fit).
    FinalBalances,
    /// Address ids (pseudo addresses excluded) in open-addressing tables by
    /// their bytes, one per address run (see `hashindex`).
    AddrIndex,
    /// Transaction ids in an open-addressing table by hash (see `hashindex`).
    TxHashIndex,
    /// Frames of `Sub`: one [`super::packed::Frame`] per 4096 events.
    SubFrames,
    /// Frames of `Asset`.
    AssetFrames,
    /// Frames of `Tx`.
    TxFrames,
    /// Frames of `Flags`.
    FlagsFrames,
    /// Frames of `From`.
    FromFrames,
    /// Frames of `To`.
    ToFrames,
}

impl Column {
    /// All columns, in declaration order (`c as usize` is a column's position).
    pub const ALL: [Column; 44] = [
        Column::BlockRuns,
        Column::TxIndex,
        Column::TxIndexOther,
        Column::Sub,
        Column::From,
        Column::To,
        Column::Asset,
        Column::ValueLo,
        Column::ValueHi,
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
        Column::TxEvent,
        Column::LogTx,
        Column::LogIndex,
        Column::LogEmitter,
        Column::LogKind,
        Column::MemoTx,
        Column::MemoVout,
        Column::MemoEnd,
        Column::MemoBytes,
        Column::Labels,
        Column::BalanceLo,
        Column::BalanceHi,
        Column::BalanceWide,
        Column::FinalBalances,
        Column::AddrIndex,
        Column::TxHashIndex,
        Column::SubFrames,
        Column::AssetFrames,
        Column::TxFrames,
        Column::FlagsFrames,
        Column::FromFrames,
        Column::ToFrames,
    ];

    /// The bit-packed event columns and their frames.
    pub const PACKED: [(Column, Column); 6] = [
        (Column::Sub, Column::SubFrames),
        (Column::From, Column::FromFrames),
        (Column::To, Column::ToFrames),
        (Column::Asset, Column::AssetFrames),
        (Column::Tx, Column::TxFrames),
        (Column::Flags, Column::FlagsFrames),
    ];

    /// File name inside the generation directory.
    pub fn file(self) -> &'static str {
        match self {
            Column::BlockRuns => "ev_block_runs.bin",
            Column::TxIndex => "tx_index.u16",
            Column::TxIndexOther => "ev_tx_index_other.bin",
            Column::Sub => "ev_sub.packed",
            Column::From => "ev_from.packed",
            Column::To => "ev_to.packed",
            Column::Asset => "ev_asset.packed",
            Column::ValueLo => "ev_value_lo.u64",
            Column::ValueHi => "ev_value_hi.u8",
            Column::Tx => "ev_tx.packed",
            Column::Flags => "ev_flags.packed",
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
            Column::TxEvent => "tx_event.u64",
            Column::LogTx => "log_tx.u32",
            Column::LogIndex => "log_index.u32",
            Column::LogEmitter => "log_emitter.u32",
            Column::LogKind => "log_kind.u8",
            Column::MemoTx => "memo_tx.u32",
            Column::MemoVout => "memo_vout.u32",
            Column::MemoEnd => "memo_end.u64",
            Column::MemoBytes => "memo_bytes.bin",
            Column::Labels => "labels.tsv",
            Column::BalanceLo => "ev_balance_lo.u64",
            Column::BalanceHi => "ev_balance_hi.u16",
            Column::BalanceWide => "ev_balance_wide.bin",
            Column::FinalBalances => "final_balances.bin",
            Column::AddrIndex => "addr_hash_index.u32",
            Column::TxHashIndex => "tx_hash_index.u32",
            Column::SubFrames => "ev_sub.frames",
            Column::AssetFrames => "ev_asset.frames",
            Column::TxFrames => "ev_tx.frames",
            Column::FlagsFrames => "ev_flags.frames",
            Column::FromFrames => "ev_from.frames",
            Column::ToFrames => "ev_to.frames",
        }
    }

    /// Bytes an event of a column with one entry per event.
    pub fn event_width(self) -> Option<u64> {
        Some(match self {
            Column::ValueLo | Column::BalanceLo => 8,
            Column::BalanceHi => 2,
            Column::ValueHi => 1,
            _ => return None,
        })
    }

    /// The length the manifest implies, where it implies one.
    pub fn expected_len(self, m: &Manifest) -> Option<u64> {
        let inp = m.inputs;
        let pseudo_bytes = PSEUDO_BYTES as u64;
        let real = m.address_table.saturating_sub(Pseudo::ALL.len() as u64);
        Some(match self {
            Column::ValueLo | Column::BalanceLo | Column::BalanceHi | Column::ValueHi => {
                m.events * self.event_width()?
            }
            Column::SubFrames
            | Column::AssetFrames
            | Column::TxFrames
            | Column::FlagsFrames
            | Column::FromFrames
            | Column::ToFrames => {
                m.events.div_ceil(super::packed::BLOCK as u64) * std::mem::size_of::<super::packed::Frame>() as u64
            }
            Column::TxIndex => m.tx_table * 2,
            Column::AddrOffsets if m.chain.is_account() => 0,
            Column::AddrOffsets => (m.address_table + 1) * 8,
            Column::AddrBytes if m.chain.is_account() && m.address_table > 0 => pseudo_bytes + real * 20,
            Column::TxHashes => m.tx_table * 32,
            Column::InTx | Column::InIndex | Column::InSpentTx | Column::InSpentVout | Column::InAddr => inp * 4,
            Column::InValue | Column::InSpentEvent => inp * 8,
            Column::TxEvent if m.chain == Chain::Bitcoin && m.columns.contains_key(self.file()) => m.tx_table * 8,
            Column::TxEvent => 0,
            Column::LogTx | Column::LogIndex | Column::LogEmitter => m.logs * 4,
            Column::LogKind => m.logs,
            Column::MemoTx | Column::MemoVout => m.memos * 4,
            Column::MemoEnd => m.memos * 8,
            Column::BigValues
            | Column::AddrBytes
            | Column::MemoBytes
            | Column::Labels
            | Column::FinalBalances
            | Column::BlockRuns
            | Column::BalanceWide
            | Column::TxIndexOther
            | Column::AddrIndex
            | Column::TxHashIndex
            // Checked against their frames (`packed::check`).
            | Column::Sub
            | Column::From
            | Column::To
            | Column::Asset
            | Column::Tx
            | Column::Flags => return None,
        })
    }
}

/// Plain numeric types and `repr(C)` records that columns hold: every bit
/// pattern valid, no padding (bytemuck's derive checks records).
pub(crate) use bytemuck::Pod;

/// View little-endian column bytes as a typed slice. A length that is not a
/// multiple of the element size, or a misaligned start, panics with a clear
/// message (store columns are checked against the manifest when opened).
pub(crate) fn cast<T: Pod>(b: &[u8]) -> &[T] {
    try_cast(b).unwrap_or_else(|e| panic!("{e}"))
}

/// [`cast`], with an error instead of a panic, for files read as they are.
pub(crate) fn try_cast<T: Pod>(b: &[u8]) -> Result<&[T], String> {
    const { assert!(cfg!(target_endian = "little"), "store columns are little-endian") };
    if b.is_empty() {
        return Ok(&[]);
    }
    bytemuck::try_cast_slice(b).map_err(|e| match e {
        bytemuck::PodCastError::OutputSliceWouldHaveSlop => {
            format!("column length {} is not a multiple of its element size {}", b.len(), std::mem::size_of::<T>())
        }
        bytemuck::PodCastError::TargetAlignmentGreaterAndInputNotAligned => "column is not aligned".to_string(),
        e => format!("column cannot be read as its type: {e:?}"),
    })
}

/// The bytes of a typed slice.
pub(crate) fn as_bytes<T: Pod>(v: &[T]) -> &[u8] {
    bytemuck::cast_slice(v)
}

/// Bytes of the pseudo addresses' names at the start of `AddrBytes`.
pub(crate) const PSEUDO_BYTES: usize = {
    let mut n = 0;
    let mut k = 0;
    while k < Pseudo::ALL.len() {
        n += Pseudo::ALL[k].name().len();
        k += 1;
    }
    n
};

/// Events from `first` on, up to the next run, share this block number
/// (`u64::MAX`: none) and block time (epoch seconds, `i64::MIN`: unknown).
/// Events are sorted by block, so a block is one run (or a few, where
/// sources disagree on its time): its number and time are stored once.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct BlockRun {
    /// The run's first event.
    pub first: u64,
    /// Block number.
    pub block: u64,
    /// Block time.
    pub time: i64,
}

/// The runs of events `keep` (indexes into `block` and `time`, in key
/// order), numbered from event `first`.
pub(crate) fn block_runs(block: &[u64], time: &[i64], keep: &[crate::model::ids::EventPos], first: u64) -> Vec<BlockRun> {
    let mut runs: Vec<BlockRun> = Vec::new();
    for (p, &i) in keep.iter().enumerate() {
        let (b, t) = (block[i as usize], time[i as usize]);
        if runs.last().is_none_or(|r| r.block != b || r.time != t) {
            runs.push(BlockRun { first: first + p as u64, block: b, time: t });
        }
    }
    runs
}

/// Finds the run of increasing event indexes in amortized constant time
/// (a sweep's order); an index behind it is found by binary search.
#[derive(Clone, Copy)]
pub struct RunCursor<'a> {
    runs: &'a [BlockRun],
    k: usize,
}

impl<'a> RunCursor<'a> {
    /// The run of event `i`.
    #[inline]
    pub fn at(&mut self, i: usize) -> &'a BlockRun {
        let i = i as u64;
        if self.runs[self.k].first > i {
            self.k = self.runs.partition_point(|r| r.first <= i).max(1) - 1;
        }
        while self.k + 1 < self.runs.len() && self.runs[self.k + 1].first <= i {
            self.k += 1;
        }
        &self.runs[self.k]
    }
}

/// Senders and receivers for a scan in event order: the 16 around the
/// event asked for are decoded together from their packed columns, and
/// those 512 events on are asked for from memory.
pub struct PartyCursor<'a> {
    ev: EventColumns<'a>,
    start: usize,
    from: [u32; 16],
    to: [u32; 16],
}

impl PartyCursor<'_> {
    /// Sender and receiver of event `i` (any order works; increasing is
    /// the fast one).
    #[inline]
    pub fn at(&mut self, i: usize) -> (u32, u32) {
        let start = i & !15;
        if start != self.start {
            let n = (self.ev.len - start).min(16);
            self.ev.parties(start, &mut self.from[..n], &mut self.to[..n]);
            self.ev.prefetch_parties(start + 512);
            self.start = start;
        }
        (self.from[i & 15], self.to[i & 15])
    }
}

/// The high part of a [`Narrow`] amount.
pub trait High: Pod + PartialEq {
    /// Its bits.
    const BITS: u32;
    /// All ones: with `u64::MAX` below it, the marker.
    const ONES: Self;
    /// As an integer.
    fn widen(self) -> u128;
    /// The bits of `x` from 64 up, which must fit.
    fn cut(x: u128) -> Self;
}

macro_rules! high {
    ($($t:ty),*) => {$(
        impl High for $t {
            const BITS: u32 = <$t>::BITS;
            const ONES: Self = <$t>::MAX;
            #[inline]
            fn widen(self) -> u128 {
                u128::from(self)
            }
            #[inline]
            fn cut(x: u128) -> Self {
                (x >> 64) as $t
            }
        }
    )*};
}
high!(u8, u16);

/// Amounts as two columns: the low 64 bits and the next 8 (values, see
/// [`Values`]) or 16 (balances, see [`Balances`]). Most amounts fit: in the
/// generated world 98.5% of values are below 2^72 base units (4,722 ETH)
/// and 99.6% of sender balances below 2^80 (1.2 million ETH); a column of
/// each is 9 or 10 bytes an event instead of 16. One of [`Narrow::LIMIT`]
/// or more is stored as all ones, and [`Narrow::get`] gives `u128::MAX` for
/// it: a value is then read exactly from the store's big values, a balance
/// from the wide balances (or counts as not fitting: the tracer's wide
/// sweep).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Narrow<'a, H: High> {
    /// Low 64 bits.
    pub lo: &'a [u64],
    /// Bits 64 and up.
    pub hi: &'a [H],
}

/// Event values: 9 bytes an event.
pub type Values<'a> = Narrow<'a, u8>;

/// Sender balances: 10 bytes an event.
pub type Balances<'a> = Narrow<'a, u16>;

impl<H: High> Narrow<'_, H> {
    /// The smallest amount stored as the marker: 2^(64 + bits) - 1.
    pub const LIMIT: u128 = (1 << (64 + H::BITS)) - 1;

    /// Entry `i`, or `u128::MAX` for the marker.
    #[inline]
    pub fn get(&self, i: usize) -> u128 {
        let (l, h) = (self.lo[i], self.hi[i]);
        if l == u64::MAX && h == H::ONES { u128::MAX } else { (h.widen() << 64) | u128::from(l) }
    }

    /// Entries.
    pub fn len(&self) -> usize {
        self.lo.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.lo.is_empty()
    }
}

/// Split amounts into a [`Narrow`] pair of columns (`LIMIT` and above:
/// the marker).
pub(crate) fn split_narrow<H: High>(v: impl ExactSizeIterator<Item = u128>) -> (Vec<u64>, Vec<H>) {
    let (mut lo, mut hi) = (Vec::with_capacity(v.len()), Vec::with_capacity(v.len()));
    for x in v {
        let x = x.min(Narrow::<H>::LIMIT);
        lo.push(x as u64);
        hi.push(H::cut(x));
    }
    (lo, hi)
}

/// The `BalanceWide` records of balances `v` (kept events in order,
/// numbered from event `first`): those of `LIMIT` or more that fit 128 bits.
pub(crate) fn wide_balances(v: &[u128], first: u64) -> Vec<u8> {
    let mut out = Vec::new();
    for (p, &b) in v.iter().enumerate() {
        if b >= Balances::LIMIT && b != u128::MAX {
            out.extend_from_slice(&(first + p as u64).to_le_bytes());
            out.extend_from_slice(&b.to_le_bytes());
        }
    }
    out
}

/// The transaction-index columns of events `keep` (builder indexes, in key
/// order, numbered from event `first`) whose new transactions are ids
/// `tx_base` to `tx_base + txs`: each new transaction's index (that of its
/// first event), and the events that differ from their transaction's.
/// An older transaction (a splice reloads events of the store's) keeps the
/// index the store has for it, `old(id)`.
pub(crate) fn tx_indexes(
    tx: &[u32],
    tx_index: &[u32],
    keep: &[crate::model::ids::EventPos],
    first: u64,
    (tx_base, txs): (u32, usize),
    old: impl Fn(u32) -> u16,
) -> (Vec<u16>, Vec<[u64; 2]>) {
    let mut by_tx = vec![0u16; txs];
    let mut set = vec![false; txs];
    let mut other = Vec::new();
    for (p, &i) in keep.iter().enumerate() {
        let (t, x) = (tx[i as usize], tx_index[i as usize]);
        let want = if t == crate::model::NO_TX {
            0
        } else if t < tx_base {
            u32::from(old(t))
        } else {
            let k = (t - tx_base) as usize;
            if !set[k] {
                // Indexes past 16 bits (no chain has blocks that large)
                // keep the largest; their events differ from it, so each
                // is an exception record and reads back exact.
                (by_tx[k], set[k]) = (x.min(u32::from(u16::MAX)) as u16, true);
            }
            u32::from(by_tx[k])
        };
        if x != want {
            other.push([first + p as u64, u64::from(x)]);
        }
    }
    (by_tx, other)
}

/// Borrowed event columns, index `i` is event `i` in key order.
#[derive(Clone, Copy)]
pub struct EventColumns<'a> {
    /// Block number and time runs (see [`EventColumns::block`]).
    pub runs: &'a [BlockRun],
    /// Transaction index + 1 by transaction (see [`EventColumns::tx_index`]).
    pub tx_index_by_tx: &'a [u16],
    /// Events whose index is not their transaction's: `(event, index + 1)`.
    pub tx_index_other: &'a [[u64; 2]],
    /// Positions inside the transaction (read with [`EventColumns::sub`]).
    pub(super) sub: Packed<'a>,
    /// Number of events.
    pub(super) len: usize,
    /// Sender ids (read with [`EventColumns::sender`]).
    pub(super) from: Packed<'a>,
    /// Receiver ids (read with [`EventColumns::receiver`]).
    pub(super) to: Packed<'a>,
    /// Asset ids (read with [`EventColumns::asset`]).
    pub(super) asset: Packed<'a>,
    /// Values (`u128::MAX` from `get`: look the value up with `Store::value`).
    pub value: Values<'a>,
    /// Transaction ids (read with [`EventColumns::tx`]).
    pub(super) tx: Packed<'a>,
    /// Flags (read with [`EventColumns::flags`]).
    pub(super) flags: Packed<'a>,
}

/// How `Sub` is stored: rotated so that the class (3 high bits) is low and
/// the positions of a block, mostly small, are close together.
pub(super) fn sub_code(s: u32) -> u32 {
    s.rotate_left(3)
}

impl<'a> EventColumns<'a> {
    /// Number of events.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The run of event `i` (the store checks on opening that runs cover
    /// every event from 0).
    #[inline]
    pub fn run(&self, i: usize) -> &'a BlockRun {
        // At least 1 whatever the order (a damaged column gives a wrong
        // run, caught by its checksum, never a panic).
        let k = self.runs.partition_point(|r| r.first <= i as u64).max(1);
        &self.runs[k - 1]
    }

    /// Block number of event `i` (`u64::MAX`: none).
    #[inline]
    pub fn block(&self, i: usize) -> u64 {
        self.run(i).block
    }

    /// Block time of event `i` (`i64::MIN`: unknown).
    #[inline]
    pub fn time(&self, i: usize) -> i64 {
        self.run(i).time
    }

    /// Transaction index + 1 of event `i` (0: missing).
    #[inline]
    pub fn tx_index(&self, i: usize) -> u32 {
        if !self.tx_index_other.is_empty()
            && let Ok(k) = self.tx_index_other.binary_search_by_key(&(i as u64), |r| r[0])
        {
            return self.tx_index_other[k][1] as u32;
        }
        match self.tx(i) {
            crate::model::NO_TX => 0,
            t => self.tx_index_by_tx.get(t as usize).map_or(0, |&x| u32::from(x)),
        }
    }

    /// Position inside the transaction of event `i` (`model::sub`).
    #[inline]
    pub fn sub(&self, i: usize) -> u32 {
        self.sub.get(i).rotate_right(3)
    }

    /// Sender id of event `i`.
    #[inline]
    pub fn sender(&self, i: usize) -> u32 {
        self.from.get(i)
    }

    /// Receiver id of event `i`.
    #[inline]
    pub fn receiver(&self, i: usize) -> u32 {
        self.to.get(i)
    }

    /// Senders and receivers of events `start..start + from.len()`
    /// (`from` and `to` of one length): 16 from a multiple of 16 fastest.
    #[inline]
    pub fn parties(&self, start: usize, from: &mut [u32], to: &mut [u32]) {
        debug_assert!(from.len() == to.len() && start + from.len() <= self.len);
        self.from.fill(start, from);
        self.to.fill(start, to);
    }

    /// A cursor over senders and receivers for a scan in event order.
    pub fn party_cursor(&self) -> PartyCursor<'a> {
        PartyCursor { ev: *self, start: usize::MAX, from: [0; 16], to: [0; 16] }
    }

    /// Load the packed senders and receivers of event `i` into the cache:
    /// a scan that decodes them a block at a time asks a few hundred
    /// events ahead, as the hardware's own prefetch falls behind between
    /// the random reads of the records.
    #[inline]
    pub fn prefetch_parties(&self, i: usize) {
        self.from.prefetch(i);
        self.to.prefetch(i);
    }

    /// Sender ids of events `from..to`.
    pub fn senders(&self, from: usize, to: usize) -> Vec<u32> {
        self.from.range(from, to)
    }

    /// Receiver ids of events `from..to`.
    pub fn receivers(&self, from: usize, to: usize) -> Vec<u32> {
        self.to.range(from, to)
    }

    /// Asset id of event `i`.
    #[inline]
    pub fn asset(&self, i: usize) -> u32 {
        self.asset.get(i)
    }

    /// Transaction id of event `i` (`NO_TX`: none).
    #[inline]
    pub fn tx(&self, i: usize) -> u32 {
        self.tx.get(i)
    }

    /// Flags of event `i` (`model::flags`).
    #[inline]
    pub fn flags(&self, i: usize) -> u8 {
        self.flags.get(i) as u8
    }

    /// Load what [`EventColumns::asset`] and [`EventColumns::flags`] read
    /// of event `i` into the cache.
    #[inline]
    pub fn prefetch_kind(&self, i: usize) {
        self.asset.prefetch(i);
        self.flags.prefetch(i);
    }

    /// Transaction ids of events `from..to`.
    pub fn txs(&self, from: usize, to: usize) -> Vec<u32> {
        self.tx.range(from, to)
    }

    /// Positions of events `from..to`.
    pub fn subs(&self, from: usize, to: usize) -> Vec<u32> {
        self.sub.range(from, to).into_iter().map(|s| s.rotate_right(3)).collect()
    }

    /// Asset ids of events `from..to`.
    pub fn assets(&self, from: usize, to: usize) -> Vec<u32> {
        self.asset.range(from, to)
    }

    /// Flags of events `from..to`.
    pub fn flag_range(&self, from: usize, to: usize) -> Vec<u8> {
        self.flags.range(from, to).into_iter().map(|f| f as u8).collect()
    }

    /// A cursor for increasing event indexes.
    pub fn cursor(&self) -> RunCursor<'a> {
        RunCursor { runs: self.runs, k: 0 }
    }

    /// Whether any event has a block time.
    pub fn any_time(&self) -> bool {
        self.runs.iter().any(|r| r.time != NO_TIME)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn narrow_amounts_keep_what_fits_and_mark_the_rest() {
        fn check<H: High>() {
            let limit = Narrow::<H>::LIMIT;
            let amounts = [0, 1, u128::from(u64::MAX), u128::from(u64::MAX) + 1, limit - 1, limit, limit + 1, u128::MAX];
            let (lo, hi) = split_narrow::<H>(amounts.iter().copied());
            let n = Narrow { lo: &lo, hi: &hi };
            let got: Vec<u128> = (0..n.len()).map(|i| n.get(i)).collect();
            let m = u128::MAX;
            assert_eq!(got, [0, 1, u128::from(u64::MAX), u128::from(u64::MAX) + 1, limit - 1, m, m, m], "{} bits", H::BITS);
        }
        check::<u8>();
        check::<u16>();
        assert_eq!((Values::LIMIT, Balances::LIMIT), ((1 << 72) - 1, (1 << 80) - 1));
    }

    #[test]
    fn all_is_in_declaration_order() {
        for (k, c) in Column::ALL.into_iter().enumerate() {
            assert_eq!(c as usize, k, "{c:?}");
        }
    }

    #[test]
    fn casts_are_checked() {
        let v: Vec<u64> = vec![1, 2, u64::MAX];
        let b = as_bytes(&v);
        assert_eq!(b.len(), 24);
        assert_eq!(cast::<u64>(b), &v[..]);
        assert_eq!(cast::<u32>(b).len(), 6);
        assert!(cast::<u128>(&[]).is_empty());
        assert_eq!(try_cast::<u64>(&b[..20]).unwrap_err(), "column length 20 is not a multiple of its element size 8");
        assert_eq!(try_cast::<u64>(&b[4..20]).unwrap_err(), "column is not aligned");
    }

    #[test]
    #[should_panic(expected = "not a multiple of its element size")]
    fn a_wrong_length_panics_clearly() {
        let v = [0u32; 3];
        let _ = cast::<u64>(as_bytes(&v));
    }
}
