//! The logs a conversion is recognised by. A log's first topic is the
//! Keccak-256 hash of its event's signature; `tests/conversions.rs`
//! recomputes every hash below from its signature, and the real mainnet
//! blocks 17,173,049-17,173,050 (`datasets/blockchain-etl-fixtures`) hold
//! the Uniswap V2 and V3 swaps and the WETH logs. The list, with where each
//! event is defined, is in `docs/conversions.md`.

/// What a recognised log says about its transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// The emitting address is a swap venue (a pool or vault that traded).
    Swap(Venue),
    /// WETH minted against ETH sent to the WETH contract (`Deposit`).
    Wrap,
    /// WETH burned for ETH paid by the WETH contract (`Withdrawal`).
    Unwrap,
}

/// The exchange whose swap log it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Venue {
    /// Uniswap V2 pairs and their forks (SushiSwap, PancakeSwap on Ethereum, ...).
    UniswapV2,
    /// Uniswap V3 pools and their forks.
    UniswapV3,
    /// Uniswap V4's pool manager (one singleton for every pool).
    UniswapV4,
    /// Curve pools (`TokenExchange`).
    Curve,
    /// Curve pools' trades of underlying tokens (`TokenExchangeUnderlying`).
    CurveUnderlying,
    /// Balancer V2's vault (one singleton for every pool).
    BalancerV2,
    /// Balancer V1 pools (`LOG_SWAP`).
    BalancerV1,
}

impl Kind {
    /// Every kind, by its code (`Kind::code`).
    const BY_CODE: [Kind; 9] = [
        Kind::Swap(Venue::UniswapV2),
        Kind::Swap(Venue::UniswapV3),
        Kind::Swap(Venue::UniswapV4),
        Kind::Swap(Venue::Curve),
        Kind::Swap(Venue::CurveUnderlying),
        Kind::Swap(Venue::BalancerV2),
        Kind::Swap(Venue::BalancerV1),
        Kind::Wrap,
        Kind::Unwrap,
    ];

    /// The byte a store keeps for this kind.
    pub fn code(self) -> u8 {
        Self::BY_CODE.iter().position(|&k| k == self).expect("every kind has a code") as u8
    }

    /// The kind of a stored code (`None`: not one this build knows).
    pub fn from_code(c: u8) -> Option<Kind> {
        Self::BY_CODE.get(usize::from(c)).copied()
    }
}

/// One recognised event: its signature, the hash that is its first
/// topic, and what it marks.
#[derive(Clone, Copy, Debug)]
pub struct Recognised {
    /// Solidity event signature, as hashed.
    pub signature: &'static str,
    /// Keccak-256 of the signature: the log's first topic.
    pub topic: [u8; 32],
    /// What the log marks.
    pub kind: Kind,
}

/// `N` bytes from `2 * N` lowercase hex digits, at compile time.
const fn hex<const N: usize>(text: &str) -> [u8; N] {
    let b = text.as_bytes();
    assert!(b.len() == 2 * N, "two hex digits a byte");
    let mut out = [0u8; N];
    let mut i = 0;
    while i < N {
        out[i] = nibble(b[2 * i]) << 4 | nibble(b[2 * i + 1]);
        i += 1;
    }
    out
}

/// A topic: 32 bytes of hex.
const fn topic(text: &str) -> [u8; 32] {
    hex(text)
}

const fn nibble(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        _ => panic!("topics are lowercase hex"),
    }
}

/// Every recognised event (see `docs/conversions.md`).
pub const RECOGNISED: [Recognised; 9] = [
    Recognised {
        signature: "Swap(address,uint256,uint256,uint256,uint256,address)",
        topic: topic("d78ad95fa46c994b6551d0da85fc275fe613ce37657fb8d5e3d130840159d822"),
        kind: Kind::Swap(Venue::UniswapV2),
    },
    Recognised {
        signature: "Swap(address,address,int256,int256,uint160,uint128,int24)",
        topic: topic("c42079f94a6350d7e6235f29174924f928cc2ac818eb64fed8004e115fbcca67"),
        kind: Kind::Swap(Venue::UniswapV3),
    },
    Recognised {
        signature: "Swap(bytes32,address,int128,int128,uint160,uint128,int24,uint24)",
        topic: topic("40e9cecb9f5f1f1c5b9c97dec2917b7ee92e57ba5563708daca94dd84ad7112f"),
        kind: Kind::Swap(Venue::UniswapV4),
    },
    Recognised {
        signature: "TokenExchange(address,int128,uint256,int128,uint256)",
        topic: topic("8b3e96f2b889fa771c53c981b40daf005f63f637f1869f707052d15a3dd97140"),
        kind: Kind::Swap(Venue::Curve),
    },
    Recognised {
        signature: "TokenExchangeUnderlying(address,int128,uint256,int128,uint256)",
        topic: topic("d013ca23e77a65003c2c659c5442c00c805371b7fc1ebd4c206c41d1536bd90b"),
        kind: Kind::Swap(Venue::CurveUnderlying),
    },
    Recognised {
        signature: "Swap(bytes32,address,address,uint256,uint256)",
        topic: topic("2170c741c41531aec20e7c107c24eecfdd15e69c9bb0a8dd37b1840b9e0b207b"),
        kind: Kind::Swap(Venue::BalancerV2),
    },
    Recognised {
        signature: "LOG_SWAP(address,address,address,uint256,uint256)",
        topic: topic("908fb5ee8f16c6bc9bc3690973819f32a4d4b10188134543c88706e0e1d43378"),
        kind: Kind::Swap(Venue::BalancerV1),
    },
    Recognised {
        signature: "Deposit(address,uint256)",
        topic: topic("e1fffcc4923d04b559f4d29a8bfc6cda04eb5b0d3c460751c2402c5c5cc9109c"),
        kind: Kind::Wrap,
    },
    Recognised {
        signature: "Withdrawal(address,uint256)",
        topic: topic("7fcf532c15f0a6db0bd6d0e038bea71d30d808c7d98cb3bf7268a95bf5081b65"),
        kind: Kind::Unwrap,
    },
];

/// The ERC-20 `Transfer(address,address,uint256)` topic: these logs are
/// the token transfers an ingest already reads from `token_transfers`.
pub const TRANSFER: [u8; 32] = topic("ddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef");

/// WETH on Ethereum mainnet: its token is ETH (TRACING.md §7).
pub const WETH: [u8; 20] = hex("c02aaa39b223fe8d0a0e5c4f27ead9083c756cc2");

/// What a log with first topic `t` emitted by `emitter` marks, if anything.
/// Deposit and Withdrawal count only from the WETH contract: other tokens
/// use the same names for other things.
pub fn recognise(t: &[u8; 32], emitter: &[u8; 20]) -> Option<Kind> {
    let r = RECOGNISED.iter().find(|r| &r.topic == t)?;
    match r.kind {
        Kind::Wrap | Kind::Unwrap if emitter != &WETH => None,
        k => Some(k),
    }
}
