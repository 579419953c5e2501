//! The normalised value event (TRACING.md §1) and its small exact parts.

pub mod amount;
pub mod ids;
pub mod text;
pub mod time;
pub mod tokens;

/// Helpers shared by the crate's unit tests.
#[cfg(test)]
pub(crate) mod testing {
    /// Deterministic random bits (xorshift64) for randomized tests.
    pub(crate) fn xorshift(mut seed: u64) -> impl FnMut() -> u64 {
        move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        }
    }
}

use amount::Amount;
use std::fmt;

/// Which chain a store holds; one store, one chain. Bitcoin is the UTXO
/// model; every other chain is an account chain in blockchain-etl's
/// Ethereum format (INTERFACE.md's chain names).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Chain {
    /// Account model: ETH and ERC-20 tokens.
    Ethereum,
    /// UTXO model: BTC.
    Bitcoin,
    /// Arbitrum One (native ETH).
    Arbitrum,
    /// OP Mainnet (native ETH).
    Optimism,
    /// Base (native ETH).
    Base,
    /// Polygon PoS (native POL, formerly MATIC).
    Polygon,
    /// BNB Smart Chain (native BNB).
    Bsc,
    /// Avalanche C-chain (native AVAX).
    Avalanche,
}

impl Chain {
    /// Every chain, in the order of INTERFACE.md's list.
    pub const ALL: [Chain; 8] =
        [Chain::Ethereum, Chain::Bitcoin, Chain::Arbitrum, Chain::Optimism, Chain::Base, Chain::Polygon, Chain::Bsc, Chain::Avalanche];

    /// The native asset's name.
    pub fn native(self) -> &'static str {
        match self {
            Chain::Ethereum | Chain::Arbitrum | Chain::Optimism | Chain::Base => "ETH",
            Chain::Bitcoin => "BTC",
            Chain::Polygon => "POL",
            Chain::Bsc => "BNB",
            Chain::Avalanche => "AVAX",
        }
    }

    /// The native asset's decimals (wei-like base units on account chains).
    pub fn native_decimals(self) -> u32 {
        if self == Chain::Bitcoin { 8 } else { 18 }
    }

    /// Whether it keeps accounts (every chain but Bitcoin): addresses and
    /// transaction hashes as Ethereum writes them, events in its format.
    pub fn is_account(self) -> bool {
        self != Chain::Bitcoin
    }

    /// About a day of its blocks (its usual block time; BSC's before its
    /// 2025 speed-ups), for windows that mean "within a day".
    pub fn blocks_per_day(self) -> u64 {
        match self {
            Chain::Ethereum => 7_200,
            Chain::Bitcoin => 144,
            Chain::Arbitrum => 345_600,
            Chain::Optimism | Chain::Base | Chain::Polygon | Chain::Avalanche => 43_200,
            Chain::Bsc => 28_800,
        }
    }

    /// The explorer's transaction and address pages.
    pub fn explorer(self) -> (&'static str, &'static str) {
        match self {
            Chain::Ethereum => ("https://etherscan.io/tx/", "https://etherscan.io/address/"),
            Chain::Bitcoin => ("https://mempool.space/tx/", "https://mempool.space/address/"),
            Chain::Arbitrum => ("https://arbiscan.io/tx/", "https://arbiscan.io/address/"),
            Chain::Optimism => ("https://optimistic.etherscan.io/tx/", "https://optimistic.etherscan.io/address/"),
            Chain::Base => ("https://basescan.org/tx/", "https://basescan.org/address/"),
            Chain::Polygon => ("https://polygonscan.com/tx/", "https://polygonscan.com/address/"),
            Chain::Bsc => ("https://bscscan.com/tx/", "https://bscscan.com/address/"),
            Chain::Avalanche => ("https://snowtrace.io/tx/", "https://snowtrace.io/address/"),
        }
    }

    /// The chain named `name` (as [`Chain::name`] writes it).
    pub fn from_name(name: &str) -> Option<Chain> {
        Chain::ALL.into_iter().find(|c| c.name() == name)
    }

    /// Its name as `--chain` takes it and reports write it.
    pub fn name(self) -> &'static str {
        match self {
            Chain::Ethereum => "ethereum",
            Chain::Bitcoin => "bitcoin",
            Chain::Arbitrum => "arbitrum",
            Chain::Optimism => "optimism",
            Chain::Base => "base",
            Chain::Polygon => "polygon",
            Chain::Bsc => "bsc",
            Chain::Avalanche => "avalanche",
        }
    }
}

impl fmt::Display for Chain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What the first part of the event key is (TRACING.md §1): block numbers order
/// when present; data with only block times is ordered by time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OrderBy {
    /// Block number, then transaction index.
    Block,
    /// Block time in epoch seconds.
    Time,
}

/// Event flags, one byte per event.
pub mod flags {
    /// Part of a failed transaction or an errored trace: moves nothing.
    pub const FAILED: u8 = 1;
    /// A call that carries no value of its own (delegatecall, callcode, staticcall).
    pub const NO_TRANSFER: u8 = 2;
    /// A transaction fee paid to the fee sink.
    pub const FEE: u8 = 4;
    /// Value created by the protocol (block reward, coinbase).
    pub const MINT: u8 = 8;
    /// Flags under which an event moves no value.
    pub const MOVES_NOTHING: u8 = FAILED | NO_TRANSFER;
}

/// `sub_index`: the position inside a transaction. The top three bits are the
/// class, so that inside one transaction the top-level transfer sorts first,
/// then traces in trace order, then token transfers by log index, then the fee.
pub mod sub {
    /// Bits left for the index inside a class.
    pub const SHIFT: u32 = 29;
    /// No position known: row order decides (the index is an occurrence count).
    pub const NONE: u32 = 0;
    /// The top-level value transfer (Bitcoin: outputs by index).
    pub const TOP: u32 = 1 << SHIFT;
    /// Internal transfers, by rank in trace order.
    pub const TRACE: u32 = 2 << SHIFT;
    /// Token transfers, by log index.
    pub const LOG: u32 = 3 << SHIFT;
    /// The fee.
    pub const FEE: u32 = 7 << SHIFT;
    /// Largest index inside a class.
    pub const MAX_INDEX: u32 = (1 << SHIFT) - 1;
    /// The class part of a sub index.
    pub fn class(s: u32) -> u32 {
        s & !MAX_INDEX
    }
}

/// Addresses that are not on chain but make the books balance.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Pseudo {
    /// Where fees go.
    Fees = 0,
    /// Where protocol-created value (rewards, coinbase) comes from.
    Mint = 1,
    /// An address the export does not give (a Bitcoin input outside the data).
    Unknown = 2,
    /// Bitcoin outputs nobody can spend (OP_RETURN).
    Unspendable = 3,
    /// A contract created by a transaction whose receipt is not in the data.
    NewContract = 4,
}

impl Pseudo {
    /// All of them, in id order: they take the first ids of every store.
    pub const ALL: [Pseudo; 5] = [Pseudo::Fees, Pseudo::Mint, Pseudo::Unknown, Pseudo::Unspendable, Pseudo::NewContract];

    /// The name shown in reports.
    pub const fn name(self) -> &'static str {
        match self {
            Pseudo::Fees => "(fees)",
            Pseudo::Mint => "(mint)",
            Pseudo::Unknown => "(unknown)",
            Pseudo::Unspendable => "(unspendable)",
            Pseudo::NewContract => "(new contract)",
        }
    }

    /// The store id.
    pub fn id(self) -> u32 {
        self as u32
    }

    /// The store id, typed.
    pub fn addr(self) -> ids::AddrId {
        ids::AddrId::from_stored(self as u32)
    }
}

/// An address as read from an export, before interning.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Addr {
    /// 20-byte Ethereum address.
    Eth([u8; 20]),
    /// A Bitcoin address string (case-sensitive).
    Text(Box<str>),
    /// A pseudo address.
    Pseudo(Pseudo),
}

impl Addr {
    /// The bytes the store keeps for it.
    pub fn store_bytes(&self) -> &[u8] {
        match self {
            Addr::Eth(a) => a,
            Addr::Text(s) => s.as_bytes(),
            Addr::Pseudo(p) => p.name().as_bytes(),
        }
    }
}

/// The asset of an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AssetKey {
    /// ETH or BTC.
    Native,
    /// An ERC-20 token by contract address.
    Token([u8; 20]),
}

/// A transaction hash (or Bitcoin txid, in display byte order).
pub type TxHash = [u8; 32];

/// A value event as parsed from one row, before interning.
#[derive(Clone, Debug)]
pub struct RawEvent {
    /// Block number, `u64::MAX` when the export has none.
    pub block: u64,
    /// Block time in epoch seconds, `i64::MIN` when unknown.
    pub time: i64,
    /// Transaction index + 1; 0 when missing (missing sorts first).
    pub tx_index: u32,
    /// Position in the transaction (see [`sub`]).
    pub sub: u32,
    /// Sender.
    pub from: Addr,
    /// Receiver.
    pub to: Addr,
    /// Asset.
    pub asset: AssetKey,
    /// Value in base units.
    pub value: Amount,
    /// Transaction hash, if the export has one.
    pub tx: Option<TxHash>,
    /// See [`flags`].
    pub flags: u8,
    /// A position that is known only once the whole file is read.
    pub pending: Pending,
    /// Id-table hashes of `from`, `to` and `tx`, computed by the parallel
    /// parsers so the sequential interning does not hash (every reader
    /// fills them before handing events to the interner).
    pub hashes: [u64; 3],
}

/// Positions assigned after a whole file is read.
#[derive(Clone, Debug, Default)]
pub enum Pending {
    /// The sub index is final.
    #[default]
    Done,
    /// A trace: ranked by its trace address among the transaction's traces.
    TracePath(Box<[u32]>),
    /// Numbered by occurrence among the transaction's rows of this class.
    Ordinal(u32),
    /// Not an event: a recognised log (`convert::topics::Kind`, by its
    /// code), kept in the store's table of logs. `from` is its emitter,
    /// `tx` its transaction and `sub` its log index. The memo a THORChain
    /// router log carries (`Kind::memo_word`), or the fields a bridge
    /// matcher reads (`Kind::kept_topics`: the topics after the first, then
    /// the raw data), kept in the store's memos by transaction and log
    /// index; `None` for the other kinds.
    Log(u8, Option<Box<[u8]>>),
}

/// Value `u64::MAX`: no block number.
pub const NO_BLOCK: u64 = u64::MAX;
/// Value `i64::MIN`: no block time.
pub const NO_TIME: i64 = i64::MIN;
/// Value `u32::MAX`: no transaction hash.
pub const NO_TX: u32 = u32::MAX;
