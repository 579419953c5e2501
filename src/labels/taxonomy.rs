//! One taxonomy of categories that every label source maps into.
//!
//! The mapping table is in `docs/labels.md`; this module is its code. A
//! source's own word for a category (GraphSense `mixing_service`, Etherscan
//! `tornado-cash`, Forta `heist`) is kept on the label as `source_category`,
//! so every mapping can be audited after the fact.

/// A category of the taxonomy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Category {
    /// The name used in labels, `--stop-at` and reports.
    pub name: &'static str,
    /// A service (TRACING.md §4): funds that pass through it are no longer
    /// attributed to their earlier origin.
    pub service: bool,
    /// What it covers.
    pub meaning: &'static str,
}

/// Every category, in precedence order: when one address carries labels of
/// several categories with equal confidence and source rank, the earlier
/// category is the one a report shows (illicit before service before other).
pub const CATEGORIES: &[Category] = &[
    Category { name: "sanctioned", service: false, meaning: "on a sanctions list (OFAC SDN)" },
    Category { name: "hack", service: false, meaning: "exploiter, thief or hacked funds" },
    Category { name: "ransomware", service: false, meaning: "ransomware payment or operator addresses" },
    Category { name: "phishing", service: false, meaning: "phishing and wallet drainers" },
    Category { name: "scam", service: false, meaning: "fraud: scams, Ponzi and pyramid schemes, sextortion, fake tokens" },
    Category { name: "darknet", service: false, meaning: "darknet markets" },
    Category { name: "terrorism", service: false, meaning: "terrorist or violent-extremist financing" },
    Category {
        name: "mixer",
        service: true,
        meaning: "mixers, privacy pools and CoinJoin coordinators (Tornado Cash, Blender.io, Wasabi)",
    },
    Category { name: "exchange", service: true, meaning: "centralised exchanges: hot and cold wallets and deposit addresses" },
    Category { name: "bridge", service: true, meaning: "cross-chain bridges" },
    Category { name: "gambling", service: true, meaning: "casinos and betting" },
    Category { name: "payment", service: true, meaning: "payment processors and merchant services" },
    Category { name: "defi", service: true, meaning: "DEX routers and pools, lending, staking and other protocol contracts" },
    Category { name: "miner", service: false, meaning: "mining pools and payouts" },
    Category { name: "wallet", service: false, meaning: "hosted wallet services and individual users' wallets" },
    Category { name: "burn", service: false, meaning: "the zero address and other burn addresses" },
    Category { name: "other", service: false, meaning: "labelled, but none of the above (tokens, funds, projects, ...)" },
];

/// The category of a name, if it is one of the taxonomy's.
pub fn category(name: &str) -> Option<&'static Category> {
    CATEGORIES.iter().find(|c| c.name == name)
}

/// Precedence of a category (smaller first); categories outside the taxonomy
/// (a plain CSV may use its own) come after all of it.
pub fn rank(name: &str) -> usize {
    CATEGORIES.iter().position(|c| c.name == name).unwrap_or(CATEGORIES.len())
}

/// The service categories of TRACING.md §4.
pub fn services() -> impl Iterator<Item = &'static str> {
    CATEGORIES.iter().filter(|c| c.service).map(|c| c.name)
}

/// Centralised exchanges by their Etherscan / eth-labels slug.
const EXCHANGE_SLUGS: &[&str] = &[
    "binance",
    "coinbase",
    "kraken",
    "huobi",
    "okx",
    "okex",
    "kucoin",
    "ftx",
    "upbit",
    "bitfinex",
    "crypto-com",
    "gemini",
    "bitstamp",
    "bittrex",
    "gate-io",
    "hotbit",
    "bybit",
    "mexc",
    "poloniex",
    "coinsquare",
    "bithumb",
    "bitmex",
    "bitget",
    "hitbtc",
    "liquid",
    "digifinex",
    "bitmart",
    "coinone",
    "korbit",
    "bkex",
    "zb-com",
    "lbank",
    "coinex",
    "probit",
    "bilaxy",
    "exmo",
    "cex-io",
    "yobit",
    "bitkub",
    "indodax",
    "wazirx",
    "paribu",
    "btcturk",
    "bitflyer",
    "bitpanda",
    "luno",
    "coincheck",
    "zaif",
    "bitso",
    "nexo",
    "celsius-network",
    "blockfi",
    "exchange",
    "binance-deposit",
    "kraken-deposit",
    "deribit",
    "bitvavo",
    "garantex",
    "swissborg",
];

/// Map a source's category word to the taxonomy: GraphSense categories and
/// abuse types, Etherscan and eth-labels slugs, Forta tags, OFAC. `None`
/// when the word says nothing the taxonomy can use (the label is then kept
/// as `other` only if the source has nothing better).
pub fn map_word(word: &str) -> Option<&'static str> {
    let w = word.trim().to_ascii_lowercase().replace([' ', '_'], "-");
    let w = w.as_str();
    if let Some(c) = category(w) {
        return Some(c.name);
    }
    Some(match w {
        // OFAC and blocklists
        "sanction" | "sanctions" | "ofac" | "ofac-sanctions-lists" | "ofac-sanctioned" | "sdn" => "sanctioned",
        // thefts
        "service-hack" | "heist" | "exploit" | "exploiter" | "hacker" | "hacked" | "stolen-funds" | "parity-bug" => "hack",
        "phish-hack" | "phish" | "fake-phishing" | "drainer" => "phishing",
        "sextortion" | "ponzi-scheme" | "pyramid-scheme" | "investment-fraud" | "fraud" | "scammer" | "black-list" | "blocked"
        | "honeypot" | "rug-pull" => "scam",
        "darknet-market" | "market" | "darkweb" => "darknet",
        "extremism" => "terrorism",
        // services
        "mixing-service" | "mixing" | "coinjoin" | "tornado-cash" | "ethereum-mixer" | "privacy" | "blender" | "sinbad" => "mixer",
        "exchange-wallet" | "cex" | "otc" | "otc-desk" => "exchange",
        "bridged-token" | "layer-2" | "cross-chain" => "bridge",
        "casino" | "betting" | "dice" => "gambling",
        "payment-processor" | "payments" | "merchant" => "payment",
        "defi-lending" | "defi-dex" | "dex" | "amm" | "lending" | "loans" | "staking" | "yield-farming" | "uniswap" | "sushiswap"
        | "balancer" | "curve-fi" | "aave" | "compound" | "bancor" | "1inch" | "0x-protocol" | "kyberswap" | "maker" | "lido"
        | "rocket-pool" | "yearn-finance" | "synthetix" | "liquidity-provider" => "defi",
        "mining" | "mining-pool" | "pool" => "miner",
        "wallet-service" | "wallet-app" | "user" | "wallet-provider" => "wallet",
        "null-address" | "genesis" | "burn-address" => "burn",
        _ if EXCHANGE_SLUGS.contains(&w) => "exchange",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_of_every_source_map() {
        for (w, c) in [
            ("mixing_service", "mixer"),
            ("service_hack", "hack"),
            ("Exchange", "exchange"),
            ("tornado-cash", "mixer"),
            ("binance", "exchange"),
            ("phish-hack", "phishing"),
            ("heist", "hack"),
            ("sanction", "sanctioned"),
            ("defi_dex", "defi"),
            ("sextortion", "scam"),
        ] {
            assert_eq!(map_word(w), Some(c), "{w}");
        }
        assert_eq!(map_word("airdrop-hunter"), None);
        assert!(rank("sanctioned") < rank("exchange") && rank("exchange") < rank("other") && rank("other") < rank("custom"));
        assert_eq!(services().collect::<Vec<_>>(), ["mixer", "exchange", "bridge", "gambling", "payment", "defi"]);
    }
}
