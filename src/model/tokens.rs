//! Mainnet tokens common enough that chaintrace knows their symbol and
//! decimals without being told: amounts of them can be shown in whole
//! tokens. Addresses as the bundled Etherscan token lists give them
//! (`../shared/datasets/etherscan-labels-brianleect/data/etherscan/tokens/`);
//! decimals as each contract's `decimals()` returns (Etherscan's token
//! pages show the same).

/// A token known by its contract.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Known {
    /// The contract, lower-case hex without `0x`.
    pub contract: &'static str,
    /// Its symbol.
    pub symbol: &'static str,
    /// Its decimals.
    pub decimals: u32,
}

/// The tokens known.
pub const KNOWN: [Known; 9] = [
    Known { contract: "dac17f958d2ee523a2206206994597c13d831ec7", symbol: "USDT", decimals: 6 },
    Known { contract: "a0b86991c6218b36c1d19d4a2e9eb0ce3606eb48", symbol: "USDC", decimals: 6 },
    Known { contract: "c02aaa39b223fe8d0a0e5c4f27ead9083c756cc2", symbol: "WETH", decimals: 18 },
    Known { contract: "6b175474e89094c44da98b954eedeac495271d0f", symbol: "DAI", decimals: 18 },
    Known { contract: "2260fac5e5542a773aa44fbcfedf7c193bc2c599", symbol: "WBTC", decimals: 8 },
    Known { contract: "4fabb145d64652a948d72533023f6e7a623c7c53", symbol: "BUSD", decimals: 18 },
    Known { contract: "514910771af9ca656af840dff83e8264ecf986ca", symbol: "LINK", decimals: 18 },
    Known { contract: "1f9840a85d5af5bf1d1762f925bdaddc4201f984", symbol: "UNI", decimals: 18 },
    Known { contract: "ae7ab96520de3a18e5e111b5eaab095312d7fe84", symbol: "stETH", decimals: 18 },
];

/// The known token of asset `name` (`0x` and 40 hex digits, any case).
pub fn known(name: &str) -> Option<&'static Known> {
    let hex = name.strip_prefix("0x")?;
    KNOWN.iter().find(|k| k.contract.eq_ignore_ascii_case(hex))
}

/// The contract of the known token with `symbol`.
pub fn by_symbol(symbol: &str) -> Option<&'static Known> {
    KNOWN.iter().find(|k| k.symbol == symbol)
}

/// What a store was told of a token contract (a blockchain-etl `tokens`
/// export: `symbol` and `decimals` as its calls returned them).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Told {
    /// Its symbol, where it gave one people can read.
    pub symbol: Option<String>,
    /// Its decimals, where it gave them.
    pub decimals: Option<u32>,
}

/// Token symbols and decimals for reports: the tokens known here first
/// (on Ethereum), then what the store was told.
#[derive(Clone, Debug, Default)]
pub struct Book {
    /// By contract, lower-case hex without `0x`.
    pub told: std::collections::BTreeMap<String, Told>,
}

impl Book {
    fn told(&self, name: &str) -> Option<&Told> {
        let hex = name.strip_prefix("0x")?;
        self.told.get(&hex.to_ascii_lowercase())
    }

    /// The tokens known here, on `chain` (their contracts are Ethereum's).
    fn known_on(chain: crate::model::Chain, name: &str) -> Option<&'static Known> {
        (chain == crate::model::Chain::Ethereum).then(|| known(name)).flatten()
    }

    /// The decimals of token `name` (`0x` and 40 hex digits) on `chain`, if
    /// known: the tokens known here first (checked constants), then what
    /// the store was told.
    pub fn decimals(&self, chain: crate::model::Chain, name: &str) -> Option<u32> {
        Self::known_on(chain, name).map(|k| k.decimals).or_else(|| self.told(name).and_then(|t| t.decimals))
    }

    /// The symbol of token `name` on `chain`, if known. A told symbol that
    /// is a native coin's name, or on Ethereum a known token's, is not used:
    /// any contract may call itself `ETH` or `USDT`, and a report must not
    /// pass it off as that.
    pub fn symbol(&self, chain: crate::model::Chain, name: &str) -> Option<&str> {
        Self::known_on(chain, name).map(|k| k.symbol).or_else(|| {
            self.told(name).and_then(|t| t.symbol.as_deref()).filter(|s| {
                let u = s.to_ascii_uppercase();
                u != "XBT"
                    && !crate::model::Chain::ALL.iter().any(|c| c.native() == u)
                    && (chain != crate::model::Chain::Ethereum || !KNOWN.iter().any(|k| k.symbol.eq_ignore_ascii_case(s)))
            })
        })
    }

    /// Add what a store was told, field by field: a row that lacks a field
    /// (a failed call) keeps what an earlier row gave. Returns whether
    /// anything changed.
    pub fn tell(&mut self, hex: &str, t: &Told) -> bool {
        if t.symbol.is_none() && t.decimals.is_none() {
            return false;
        }
        let e = self.told.entry(hex.to_string()).or_default();
        let before = e.clone();
        if t.symbol.is_some() {
            e.symbol.clone_from(&t.symbol);
        }
        if t.decimals.is_some() {
            e.decimals = t.decimals;
        }
        *e != before
    }
}

/// The most decimals a 256-bit amount can have digits for.
pub const MAX_DECIMALS: u32 = 77;

/// A token's symbol as reports may print it: printable, at most 32
/// characters, not empty (a contract's `symbol()` is whatever its author
/// returned: control characters and markup included).
pub fn readable_symbol(s: &str) -> Option<String> {
    let s = s.trim();
    // Control characters, and the invisible and direction-changing ones
    // (zero-width, bidi embeddings and isolates, BOM) that make text read
    // other than it is.
    let invisible = |c: char| matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2069}' | '\u{feff}');
    (!s.is_empty() && s.chars().count() <= 32 && s.chars().all(|c| !c.is_control() && !invisible(c))).then(|| s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contracts_are_addresses_and_lookups_agree() {
        for k in &KNOWN {
            assert!(k.contract.len() == 40 && k.contract.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
            assert_eq!(known(&format!("0x{}", k.contract.to_uppercase())), Some(k));
            assert_eq!(by_symbol(k.symbol), Some(k));
        }
        assert_eq!(known("ETH"), None);
        let mut book = Book::default();
        book.tell(KNOWN[0].contract, &Told { symbol: Some("TETHER".into()), decimals: Some(0) });
        let usdt = format!("0x{}", KNOWN[0].contract);
        use crate::model::Chain::{Bsc, Ethereum};
        assert_eq!((book.symbol(Ethereum, &usdt), book.decimals(Ethereum, &usdt)), (Some("USDT"), Some(6)), "known first");
        assert_eq!((book.symbol(Bsc, &usdt), book.decimals(Bsc, &usdt)), (Some("TETHER"), Some(0)), "mainnet's constants are not BSC's");
        let fake = "0x00000000000000000000000000000000000000aa";
        book.tell(&fake[2..], &Told { symbol: Some("eth".into()), decimals: Some(18) });
        assert_eq!((book.symbol(Ethereum, fake), book.decimals(Ethereum, fake)), (None, Some(18)), "no contract passes as ETH");
        book.tell(&fake[2..], &Told { symbol: Some("USDC".into()), decimals: None });
        assert_eq!((book.symbol(Ethereum, fake), book.symbol(Bsc, fake)), (None, Some("USDC")), "a known token's name only on Ethereum");
        assert!(!book.tell(&fake[2..], &Told { symbol: None, decimals: None }), "a failed row keeps what was told");
        assert_eq!(readable_symbol("US\u{202e}DT"), None);
        assert_eq!(readable_symbol(" <b>\u{7}"), None);
        assert_eq!(readable_symbol(" DAI "), Some("DAI".into()));
        assert_eq!(known("0x0000000000000000000000000000000000000001"), None);
    }
}
