//! The logs a conversion is recognised by. A log's first topic is the
//! Keccak-256 hash of its event's signature; `tests/conversions.rs`
//! recomputes every hash below from its signature, and the real mainnet
//! blocks 17,173,049-17,173,050 (`datasets/blockchain-etl-fixtures`) hold
//! the Uniswap V2 and V3 swaps and the WETH logs. THORChain's router logs
//! (`Deposit`, `TransferOut`) are kept for their memos (`convert::abi`
//! reads them). The Avalanche Bridge's, Wormhole's and Ronin's logs are
//! kept for the fields their matchers read (`trace::bridges`), each only
//! from its bridge's contracts; so is RenVM's renBTC `LogBurn`, which the
//! heuristic matcher reads. The list, with where each event is
//! defined, is in `docs/conversions.md`.

use crate::model::Chain;

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
    /// An Avalanche Bridge payout on the C-chain: a `BridgeToken`'s `Mint`,
    /// whose `originTxId` is the Ethereum deposit's hash.
    AvalancheMint,
    /// A Wormhole message (`LogMessagePublished`) from a chain's core
    /// contract whose sender is that chain's token bridge: a transfer out
    /// (payload 1 or 3) or an attestation (payload 2).
    WormholeMessage,
    /// A Wormhole token bridge's redemption (`TransferRedeemed`): the
    /// message's (emitter chain, emitter, sequence) it paid out.
    WormholeRedeemed,
    /// A deposit into Ronin's v1 MainchainGateway on Ethereum (`TokenDeposited`).
    RoninDeposit,
    /// A withdrawal from Ronin's v1 MainchainGateway on Ethereum (`TokenWithdrew`).
    RoninWithdrawal,
    /// A burn of renBTC by RenVM's BTC gateway on Ethereum (`LogBurn`): its
    /// `_to` (a Bitcoin address as text) and `_amount` (satoshis) are what
    /// the heuristic matcher reads; RenVM's release on Bitcoin carries no key.
    RenBurn,
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
    const BY_CODE: [Kind; 17] = [
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
        Kind::AvalancheMint,
        Kind::WormholeMessage,
        Kind::WormholeRedeemed,
        Kind::RoninDeposit,
        Kind::RoninWithdrawal,
        Kind::RenBurn,
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
            _ => None,
        }
    }

    /// For a bridge log whose fields a matcher reads (`trace::bridges`),
    /// how many indexed topics it has after the first: the store keeps
    /// them (32 bytes each) followed by the raw `data` as the log's memo.
    /// `None` for the others.
    pub fn kept_topics(self) -> Option<usize> {
        match self {
            Kind::AvalancheMint => Some(0),
            Kind::WormholeMessage => Some(1),
            // `_n`, and the Keccak-256 of `_indexedTo` (an indexed `bytes`).
            Kind::RenBurn => Some(2),
            Kind::WormholeRedeemed | Kind::RoninDeposit | Kind::RoninWithdrawal => Some(3),
            _ => None,
        }
    }

    /// How long the `data` of a log of [`Kind::kept_topics`] is, in bytes:
    /// `Some(n)` exactly `n` (the events with static fields only); `None`
    /// for the events with a `bytes` field ([`Kind::dynamic_data`]), whose
    /// length it sets.
    pub fn data_len(self) -> Option<usize> {
        match self {
            // to, amount, feeAddress, feeAmount, originTxId.
            Kind::AvalancheMint => Some(5 * 32),
            // All three fields indexed.
            Kind::WormholeRedeemed => Some(0),
            // sidechainAddress, standard, tokenNumber.
            Kind::RoninDeposit => Some(3 * 32),
            // tokenNumber.
            Kind::RoninWithdrawal => Some(32),
            _ => None,
        }
    }

    /// For a kept log whose `data` holds a `bytes` field: (its head words,
    /// the head word holding that field's offset). The data must hold the
    /// head words and a readable field (`convert::abi::decode_abi_string`).
    /// `LogMessagePublished` is `(sequence, nonce, payload, consistencyLevel)`;
    /// `LogBurn` is `(bytes _to, uint256 _amount)`, whose `_to` must not be
    /// empty (the gateway refuses an empty one).
    pub fn dynamic_data(self) -> Option<(usize, usize)> {
        match self {
            Kind::WormholeMessage => Some((4, 2)),
            Kind::RenBurn => Some((2, 0)),
            _ => None,
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
pub const RECOGNISED: [Recognised; 17] = [
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
    // ava-labs/avalanche-bridge-resources `SmartContracts/BridgeToken.sol`:
    // `event Mint(address to, uint256 amount, address feeAddress, uint256
    // feeAmount, bytes32 originTxId)`, nothing indexed.
    Recognised {
        signature: "Mint(address,uint256,address,uint256,bytes32)",
        topic: topic("918d77674bb88eaf75afb307c9723ea6037706de68d6fc07dd0c6cba423a5250"),
        kind: Kind::AvalancheMint,
    },
    // wormhole-foundation/wormhole `ethereum/contracts/Implementation.sol`
    // (and `interfaces/IWormhole.sol`): `event LogMessagePublished(address
    // indexed sender, uint64 sequence, uint32 nonce, bytes payload, uint8
    // consistencyLevel)`.
    Recognised {
        signature: "LogMessagePublished(address,uint64,uint32,bytes,uint8)",
        topic: topic("6eb224fb001ed210e379b335e35efe88672a8ce935d981a6896b27ffdf52a3b2"),
        kind: Kind::WormholeMessage,
    },
    // wormhole-foundation/wormhole `ethereum/contracts/bridge/Bridge.sol`
    // (since 2023-07): `event TransferRedeemed(uint16 indexed emitterChainId,
    // bytes32 indexed emitterAddress, uint64 indexed sequence)`.
    Recognised {
        signature: "TransferRedeemed(uint16,bytes32,uint64)",
        topic: topic("caf280c8cfeba144da67230d9b009c8f868a75bac9a528fa0474be1ba317c169"),
        kind: Kind::WormholeRedeemed,
    },
    // axieinfinity/ronin-smart-contracts
    // `contracts/v0.5/chain/mainchain/MainchainGatewayStorage.sol`:
    // `event TokenDeposited(uint256 indexed _depositId, address indexed
    // _owner, address indexed _tokenAddress, address _sidechainAddress,
    // uint32 _standard, uint256 _tokenNumber)`.
    Recognised {
        signature: "TokenDeposited(uint256,address,address,address,uint32,uint256)",
        topic: topic("72848855a2461abf0dd243723dfcc9163eec2ea5215469d101c0d9c9ef58940d"),
        kind: Kind::RoninDeposit,
    },
    // The same file: `event TokenWithdrew(uint256 indexed _withdrawId,
    // address indexed _owner, address indexed _tokenAddress, uint256 _tokenNumber)`.
    Recognised {
        signature: "TokenWithdrew(uint256,address,address,uint256)",
        topic: topic("86174ea401f083b9bb1bdebca3068f27fb023c7091365ed2a8a02b8d75cf0e52"),
        kind: Kind::RoninWithdrawal,
    },
    // renproject/darknode-sol `contracts/Gateway/Gateway.sol` (the gateway
    // behind the BTC gateway proxy from 2020) and renproject/gateway-sol
    // `src/Gateways/interfaces/IMintGateway.sol` (its upgrade, which keeps
    // the event "for backwards compatibility"): `event LogBurn(bytes _to,
    // uint256 _amount, uint256 indexed _n, bytes indexed _indexedTo)`.
    Recognised {
        signature: "LogBurn(bytes,uint256,uint256,bytes)",
        topic: topic("1619fc95050ffb8c94c9077c82b3e1ebbf8d571b6234241c55ba0aaf40da019e"),
        kind: Kind::RenBurn,
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

/// The Avalanche Bridge's wallets on Ethereum: a deposit is a plain
/// transfer to one of them (the bridge holds no contract there).
pub const AVALANCHE_BRIDGE_WALLETS: [[u8; 20]; 2] = [
    // ava-labs/avalanche-docs `learn/avalanche-bridge-faq.md` ("What is the
    // Bridge's address on Ethereum and Avalanche?").
    hex("e78388b4ce79068e89bf8aa7f218ef6b9ab0e9d0"),
    // Attested only by a third party: DefiLlama's `avalanche-bridge` TVL
    // adapter counts the bridge's Ethereum balances at it; no Ava Labs
    // source read here names it.
    hex("8eb8a3b98659cce290402893d0123abb75e3ab28"),
];

/// The Avalanche Bridge's `BridgeToken` contracts on the C-chain (the
/// `.e` tokens), whose `Mint` logs are its payouts. Every address is from
/// ava-labs/avalanche-bridge-resources `avalanche_contract_address.json`
/// (the same since 2021-07-23; the file's first version of 2021-07-14
/// held other addresses, replaced before launch).
pub const AVALANCHE_BRIDGE_TOKENS: [[u8; 20]; 25] = [
    hex("49d5c2bdffac6ce2bfdb6640f4f80f226bc10bab"), // WETH.e
    hex("a7d7079b0fead91f3e65f86e8915cb59c1a4c664"), // USDC.e
    hex("c7198437980c041c805a1edcba50c1ce5db95118"), // USDT.e
    hex("50b7545627a5162f82a992c33b87adc75187b218"), // WBTC.e
    hex("d586e7f844cea2f87f50152665bcbc2c279d8d70"), // DAI.e
    hex("5947bb275c521040051d82396192181b413227a3"), // LINK.e
    hex("63a72806098bd3d9520cc43356dd78afe5d386d9"), // AAVE.e
    hex("d501281565bf7789224523144fe5d98e8b28f267"), // 1INCH.e
    hex("98443b96ea4b0858fdf3219cd13e98c7a4690588"), // BAT.e
    hex("19860ccb0a68fd4213ab9d8266f7bbf05a8dde98"), // BUSD.e
    hex("c3048e19e76cb9a3aa9d77d8c03c29fc906e2437"), // COMP.e
    hex("249848beca43ac405b8102ec90dd5f22ca513c06"), // CRV.e
    hex("8a0cac13c7da965a312f08ea4229c37869e85cb9"), // GRT.e
    hex("a4fb4f0ff2431262d236778495145ecbc975c38b"), // INFRA.e
    hex("88128fd4b259552a9a1d457f435a6527aab72d42"), // MKR.e
    hex("bec243c995409e6520d7c41e404da5deba4b209b"), // SNX.e
    hex("37b608519f91f70f2eeb0e5ed9af4061722e4f76"), // SUSHI.e
    hex("c7b5d72c836e718cda8888eaf03707faef675079"), // SWAP.e
    hex("3bd2b1c7ed8d396dbb98ded3aebb41350a5b2339"), // UMA.e
    hex("8ebaf22b6f053dffeaf46f4dd9efa95d89ba8580"), // UNI.e
    hex("9eaac1b23d935365bd7b542fe22ceee2922f52dc"), // YFI.e
    hex("596fa47043f99a4e0f122243b841e55375cde0d2"), // ZRX.e
    hex("2147efff675e4a4ee1c2f918d181cdbd7a8e208f"), // ALPHA.e
    hex("abc9547b534519ff73921b1fba6e672b5f58d083"), // WOO.e
    hex("02d980a0d7af3fb7cf7df8cb35d9edbcf355f665"), // SHIB.e
];

/// One chain's Wormhole contracts (mainnet).
#[derive(Clone, Copy, Debug)]
pub struct WormholeChain {
    /// The chain.
    pub chain: Chain,
    /// Its Wormhole chain id (wormhole-foundation/wormhole `sdk/vaa/structs.go`).
    pub id: u16,
    /// The core contract, which emits `LogMessagePublished`.
    pub core: [u8; 20],
    /// The token bridge ("Portal"): the emitter of its transfers' messages,
    /// and the contract that emits `TransferRedeemed`.
    pub token_bridge: [u8; 20],
}

/// Wormhole's core contracts and token bridges on the chains a store can
/// hold. Addresses from wormhole-foundation/wormhole `sdk/js/src/utils/consts.ts`
/// (`MAINNET`), the same in wormhole-foundation/wormhole-sdk-ts
/// `core/base/src/constants/contracts/{core,tokenBridge}.ts` and (the token
/// bridges) `sdk/mainnet_consts.go`. Ethereum and BSC share a core address,
/// so a log is read with its store's chain.
pub const WORMHOLE: [WormholeChain; 7] = [
    WormholeChain {
        chain: Chain::Ethereum,
        id: 2,
        core: hex("98f3c9e6e3face36baad05fe09d375ef1464288b"),
        token_bridge: hex("3ee18b2214aff97000d974cf647e7c347e8fa585"),
    },
    WormholeChain {
        chain: Chain::Bsc,
        id: 4,
        core: hex("98f3c9e6e3face36baad05fe09d375ef1464288b"),
        token_bridge: hex("b6f6d86a8f9879a9c87f643768d9efc38c1da6e7"),
    },
    WormholeChain {
        chain: Chain::Polygon,
        id: 5,
        core: hex("7a4b5a56256163f07b2c80a7ca55abe66c4ec4d7"),
        token_bridge: hex("5a58505a96d1dbf8df91cb21b54419fc36e93fde"),
    },
    WormholeChain {
        chain: Chain::Avalanche,
        id: 6,
        core: hex("54a8e5f9c4cba08f9943965859f6c34eaf03e26c"),
        token_bridge: hex("0e082f06ff657d94310cb8ce8b0d9a04541d8052"),
    },
    WormholeChain {
        chain: Chain::Arbitrum,
        id: 23,
        core: hex("a5f208e072434bc67592e4c49c1b991ba79bca46"),
        token_bridge: hex("0b2402144bb366a632d14b83f244d2e0e21bd39c"),
    },
    WormholeChain {
        chain: Chain::Optimism,
        id: 24,
        core: hex("ee91c335eab126df5fdb3797ea9d6ad93aec9722"),
        token_bridge: hex("1d68124e65fafc907325e3edbf8c4d84499daa8b"),
    },
    WormholeChain {
        chain: Chain::Base,
        id: 30,
        core: hex("bebdb6c8ddc678ffa9f8748f85c815c556dd8ac6"),
        token_bridge: hex("8d2de8d2f73f1f4cab472ac9a881c9b123c79627"),
    },
];

/// The Wormhole contracts of `chain`, if Wormhole's token bridge is on it.
pub fn wormhole(chain: Chain) -> Option<&'static WormholeChain> {
    WORMHOLE.iter().find(|w| w.chain == chain)
}

/// Ronin's v1 MainchainGateway (proxy) on Ethereum, drained 2022-03-23 and
/// replaced by MainchainGatewayV2. No Axie or Ronin repository or document
/// read here names it: the address is corroborated by third-party code only
/// (a cross-chain rules validator's configuration labels it; the event
/// definitions are axieinfinity/ronin-smart-contracts
/// `contracts/v0.5/chain/mainchain/MainchainGatewayStorage.sol`).
pub const RONIN_GATEWAYS: [[u8; 20]; 1] = [hex("1a2a1c938ce3ec39b6d47113c7955baa9dd454f2")];

/// renBTC on Ethereum (8 decimals: its base unit is the satoshi), and
/// RenVM's BTC gateway (proxy) that burns it, the emitter of `LogBurn`.
/// Both from RenVM's own deployment records: renproject/darknode-sol
/// `migrations/networks.js` (`mainnet`: `renBTC`, `BTCGateway`; removed
/// from that file in commit ae5fa14 of 2021-08-19, read at its parent) and
/// renproject/gateway-sol `deploy/networks.ts` (`ethereumMainnet`
/// `mintGateways`, symbol BTC, `legacy: true`) with
/// `deployments/ethereumMainnet/renBTC_Proxy.json` and
/// `renBTC_MintGateway_Proxy.json`.
pub const RENBTC: [u8; 20] = hex("eb4c2781e4eba804ce9a9803c67d0893436bb27d");

/// RenVM's BTC gateways on Ethereum: only their `LogBurn` counts (every
/// RenVM gateway, renZEC's and renBCH's among them, emits the same event).
pub const RENBTC_GATEWAYS: [[u8; 20]; 1] = [hex("e4b679400f0f267212d5d812b95f58c83243ee71")];

/// An address as an indexed topic: left-padded to 32 bytes.
pub fn padded(a: &[u8; 20]) -> [u8; 32] {
    let mut t = [0u8; 32];
    t[12..].copy_from_slice(a);
    t
}

/// What a log with first topic `t` emitted by `emitter` marks, if anything.
/// Deposit and Withdrawal count only from the WETH contract: other tokens
/// use the same names for other things. THORChain's `Deposit` and
/// `TransferOut` count only from [`THORCHAIN_ROUTERS`]; the other bridges'
/// events only from their contracts ([`AVALANCHE_BRIDGE_TOKENS`], the
/// cores and token bridges of [`WORMHOLE`], [`RONIN_GATEWAYS`],
/// [`RENBTC_GATEWAYS`]).
pub fn recognise(t: &[u8; 32], emitter: &[u8; 20]) -> Option<Kind> {
    let r = RECOGNISED.iter().find(|r| &r.topic == t)?;
    let from = |list: &[[u8; 20]]| list.contains(emitter);
    match r.kind {
        Kind::Wrap | Kind::Unwrap if emitter != &WETH => None,
        Kind::ThorDeposit | Kind::ThorTransferOut if !from(&THORCHAIN_ROUTERS) => None,
        Kind::AvalancheMint if !from(&AVALANCHE_BRIDGE_TOKENS) => None,
        Kind::WormholeMessage if !WORMHOLE.iter().any(|w| &w.core == emitter) => None,
        Kind::WormholeRedeemed if !WORMHOLE.iter().any(|w| &w.token_bridge == emitter) => None,
        Kind::RoninDeposit | Kind::RoninWithdrawal if !from(&RONIN_GATEWAYS) => None,
        Kind::RenBurn if !from(&RENBTC_GATEWAYS) => None,
        k => Some(k),
    }
}

/// [`recognise`] with the log's every topic: a Wormhole core's message
/// counts only when its sender (`topics[1]`) is a token bridge whose
/// chain has that core (the core carries every Wormhole application's
/// messages; only the token bridge's move tokens).
pub fn recognise_log(topics: &[[u8; 32]], emitter: &[u8; 20]) -> Option<Kind> {
    let kind = recognise(topics.first()?, emitter)?;
    if kind == Kind::WormholeMessage {
        let sender = topics.get(1)?;
        if !WORMHOLE.iter().any(|w| &w.core == emitter && &padded(&w.token_bridge) == sender) {
            return None;
        }
    }
    Some(kind)
}
