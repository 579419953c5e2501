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
        assert_eq!(known("0x0000000000000000000000000000000000000001"), None);
    }
}
