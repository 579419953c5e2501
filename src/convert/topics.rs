//! The logs a conversion is recognised by. A log's first topic is the
//! Keccak-256 hash of its event's signature; `tests/conversions.rs`
//! recomputes every hash below from its signature, and the real mainnet
//! blocks 17,173,049-17,173,050 (`datasets/blockchain-etl-fixtures`) hold
//! the Uniswap V2 and V3 swaps and the WETH logs. THORChain's router logs
//! (`Deposit`, `TransferOut`) are kept for their memos (`convert::abi`
//! reads them). The list, with where each event is defined, is in
//! `docs/conversions.md`.

/// What a recognised log says about its transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// The emitting address is a swap venue (a pool or vault that traded).
    Swap(Venue),
    /// WETH minted against ETH sent to the WETH contract (`Deposit`).
    Wrap,
    /// WETH burned for ETH paid by the WETH contract (`Withdrawal`).
    Unwrap,
    /// A deposit into THORChain through its router (`Deposit`): the memo
    /// names what THORChain is to do with it. Not a swap venue: the swap
    /// happens on THORChain, and the payout is another chain's transaction.
    ThorDeposit,
    /// A payout of THORChain's vault through its router (`TransferOut`):
    /// the memo (`OUT:<hash>`, `REFUND:<hash>`) names the inbound it settles.
    ThorTransferOut,
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
    /// New kinds go last, so the codes stores hold keep their meaning.
    const BY_CODE: [Kind; 11] = [
        Kind::Swap(Venue::UniswapV2),
        Kind::Swap(Venue::UniswapV3),
        Kind::Swap(Venue::UniswapV4),
        Kind::Swap(Venue::Curve),
        Kind::Swap(Venue::CurveUnderlying),
        Kind::Swap(Venue::BalancerV2),
        Kind::Swap(Venue::BalancerV1),
        Kind::Wrap,
        Kind::Unwrap,
        Kind::ThorDeposit,
        Kind::ThorTransferOut,
    ];

    /// The byte a store keeps for this kind.
    pub fn code(self) -> u8 {
        Self::BY_CODE.iter().position(|&k| k == self).expect("every kind has a code") as u8
    }

    /// The kind of a stored code (`None`: not one this build knows).
    pub fn from_code(c: u8) -> Option<Kind> {
        Self::BY_CODE.get(usize::from(c)).copied()
    }

    /// For a log that carries a memo (THORChain's router), the word of its
    /// `data` that holds the memo string's offset (`convert::abi::abi_string`):
    /// `Deposit`'s data is `(uint256 amount, string memo)`, `TransferOut`'s
    /// `(address asset, uint256 amount, string memo)`. `None` for the others.
    pub fn memo_word(self) -> Option<usize> {
        match self {
            Kind::ThorDeposit => Some(1),
            Kind::ThorTransferOut => Some(2),
            Kind::Swap(_) | Kind::Wrap | Kind::Unwrap => None,
        }
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
pub const RECOGNISED: [Recognised; 11] = [
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
    // THORChain_Router.sol ("Router Version: 4.1"): `event Deposit(address
    // indexed to, address indexed asset, uint amount, string memo)`.
    Recognised {
        signature: "Deposit(address,address,uint256,string)",
        topic: topic("ef519b7eb82aaf6ac376a6df2d793843ebfd593de5f1a0601d3cc6ab49ebb395"),
        kind: Kind::ThorDeposit,
    },
    // `event TransferOut(address indexed vault, address indexed to,
    // address asset, uint amount, string memo)`.
    Recognised {
        signature: "TransferOut(address,address,address,uint256,string)",
        topic: topic("a9cd03aa3c1b4515114539cd53d22085129d495cb9e9f9af77864526240f1bf7"),
        kind: Kind::ThorTransferOut,
    },
];

/// The ERC-20 `Transfer(address,address,uint256)` topic: these logs are
/// the token transfers an ingest already reads from `token_transfers`.
pub const TRANSFER: [u8; 32] = topic("ddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef");

/// WETH on Ethereum mainnet: its token is ETH (TRACING.md §7).
pub const WETH: [u8; 20] = hex("c02aaa39b223fe8d0a0e5c4f27ead9083c756cc2");

/// THORChain's mainnet routers (THORNode's `x/thorchain/router_upgrade_info.go`
/// and `/thorchain/inbound_addresses`): only their `Deposit` and
/// `TransferOut` logs count, since Maya Protocol's and other routers emit
/// the same events.
pub const THORCHAIN_ROUTERS: [[u8; 20]; 8] = [
    // Ethereum, router V4.1.
    hex("d37bbe5744d730a1d98d8dc97c42f0ca46ad7146"),
    // Ethereum, router V3.
    hex("3624525075b88b24ecc29ce226b0cec1ffcb6976"),
    // Ethereum, router V2.
    hex("c145990e84155416144c532e31f89b840ca8c2ce"),
    // Ethereum, router V1.
    hex("42a5ed456650a09dc10ebc6361a7480fdd61f27b"),
    // BSC, router V4.1.
    hex("b30ec53f98ff5947ede720d32ac2da7e52a5f56b"),
    // Ethereum, Base, BSC and Avalanche, router V6.1 (the same address on each).
    hex("00dc6100103bc402d490aee3f9a5560cbd91f1d4"),
    // Base, the older router V4.1.
    hex("68208d99746b805a1ae41421950a47b711e35681"),
    // Avalanche, the older router.
    hex("8f66c4ae756bebc49ec8b81966dd8bba9f127549"),
];

/// What a log with first topic `t` emitted by `emitter` marks, if anything.
/// Deposit and Withdrawal count only from the WETH contract: other tokens
/// use the same names for other things. THORChain's `Deposit` and
/// `TransferOut` count only from [`THORCHAIN_ROUTERS`].
pub fn recognise(t: &[u8; 32], emitter: &[u8; 20]) -> Option<Kind> {
    let r = RECOGNISED.iter().find(|r| &r.topic == t)?;
    match r.kind {
        Kind::Wrap | Kind::Unwrap if emitter != &WETH => None,
        Kind::ThorDeposit | Kind::ThorTransferOut if !THORCHAIN_ROUTERS.contains(emitter) => None,
        k => Some(k),
    }
}
