//! Swap detection (TRACING.md §7) over one successful transaction: its
//! legs (value events, the fee left out), the venues that emitted a
//! recognised swap log in it, each address's net change per asset, the
//! takers, and whether the transaction is a followable swap or an
//! ambiguous conversion.

use crate::model::amount::Amount;
use ruint::aliases::U256;
use std::collections::BTreeMap;

/// One value event of a transaction: `value` of `asset` from `from` to `to`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Leg {
    /// Sender id.
    pub from: u32,
    /// Receiver id.
    pub to: u32,
    /// Asset id.
    pub asset: u32,
    /// Base units.
    pub value: Amount,
}

/// An address's net change in one asset over a transaction's legs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NetChange {
    /// Address id.
    pub address: u32,
    /// Asset id.
    pub asset: u32,
    /// Received more than sent (`amount` up), or sent more (down).
    pub up: bool,
    /// The size of the change, not zero.
    pub amount: Amount,
}

/// A followable swap: the payer's `a` of asset `A` became the payee's `b`
/// of asset `B`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Swap {
    /// The taker whose balance went down (`u`).
    pub payer: u32,
    /// Asset `A` and amount `a` the payer gave.
    pub sold: (u32, Amount),
    /// The taker whose balance went up (`r`, possibly the payer).
    pub payee: u32,
    /// Asset `B` and amount `b` the payee got.
    pub bought: (u32, Amount),
}

/// What a transaction with a venue and a taker is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Conversion {
    /// Exactly one taker down in one asset and one up in another: followed.
    Swap(Swap),
    /// Any other shape: listed, never followed. The takers' net changes,
    /// by address then asset.
    Ambiguous(Vec<NetChange>),
}

/// The legs of a transaction as §7 reads them: WETH (`weth_asset`) is ETH
/// (`eth_asset`), and ETH that moves between an address and the WETH
/// contract (`weth_contract`) changes nothing, so it is dropped. Without
/// WETH in the store both are `None` and the legs stay as they are.
pub fn with_weth_as_eth(legs: &[Leg], eth_asset: u32, weth_asset: Option<u32>, weth_contract: Option<u32>) -> Vec<Leg> {
    legs.iter()
        .map(|l| Leg { asset: if Some(l.asset) == weth_asset { eth_asset } else { l.asset }, ..*l })
        .filter(|l| !(l.asset == eth_asset && (Some(l.from) == weth_contract || Some(l.to) == weth_contract)))
        .collect()
}

/// Each address's non-zero net change per asset over `legs`, by address
/// then asset. `None` if a sum passes 2^256-1 (no real transaction does;
/// such a transaction is then no swap).
pub fn net_changes(legs: &[Leg]) -> Option<Vec<NetChange>> {
    // (received, sent) per (address, asset).
    let mut sums: BTreeMap<(u32, u32), (U256, U256)> = BTreeMap::new();
    for l in legs {
        if l.from == l.to || l.value.is_zero() {
            continue;
        }
        let s = &mut sums.entry((l.from, l.asset)).or_default().1;
        *s = s.checked_add(l.value.0)?;
        let r = &mut sums.entry((l.to, l.asset)).or_default().0;
        *r = r.checked_add(l.value.0)?;
    }
    Some(
        sums.into_iter()
            .filter(|(_, (r, s))| r != s)
            .map(|((address, asset), (r, s))| {
                let up = r > s;
                NetChange { address, asset, up, amount: Amount(if up { r - s } else { s - r }) }
            })
            .collect(),
    )
}

/// Classify a successful transaction by its legs (WETH already read as
/// ETH: [`with_weth_as_eth`]) and the addresses that emitted a recognised
/// swap log in it. `None` when it converts nothing: no venue, or no taker
/// (everyone but the venues nets to zero).
pub fn classify(legs: &[Leg], venues: &[u32]) -> Option<Conversion> {
    if venues.is_empty() {
        return None;
    }
    let Some(changes) = net_changes(legs) else {
        return Some(Conversion::Ambiguous(Vec::new()));
    };
    let takers: Vec<NetChange> = changes.into_iter().filter(|c| !venues.contains(&c.address)).collect();
    if takers.is_empty() {
        return None;
    }
    if let [x, y] = takers.as_slice()
        && x.asset != y.asset
        && x.up != y.up
    {
        let (down, up) = if x.up { (y, x) } else { (x, y) };
        return Some(Conversion::Swap(Swap {
            payer: down.address,
            sold: (down.asset, down.amount),
            payee: up.address,
            bought: (up.asset, up.amount),
        }));
    }
    Some(Conversion::Ambiguous(takers))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ETH: u32 = 0;
    const USDC: u32 = 1;
    const WETH: u32 = 2;
    const STETH: u32 = 3;
    // Addresses.
    const THIEF: u32 = 10;
    const FRESH: u32 = 11;
    const ROUTER: u32 = 20;
    const POOL1: u32 = 21;
    const POOL2: u32 = 22;
    const WETH_C: u32 = 30;

    fn leg(from: u32, to: u32, asset: u32, value: u128) -> Leg {
        Leg { from, to, asset, value: Amount::from_u128(value) }
    }

    fn swap(payer: u32, a: (u32, u128), payee: u32, b: (u32, u128)) -> Option<Conversion> {
        Some(Conversion::Swap(Swap { payer, sold: (a.0, Amount::from_u128(a.1)), payee, bought: (b.0, Amount::from_u128(b.1)) }))
    }

    fn weth(legs: &[Leg]) -> Vec<Leg> {
        with_weth_as_eth(legs, ETH, Some(WETH), Some(WETH_C))
    }

    #[test]
    fn one_pool_swap_is_followable() {
        let legs = [leg(THIEF, POOL1, USDC, 1_000), leg(POOL1, THIEF, ETH, 7)];
        assert_eq!(classify(&legs, &[POOL1]), swap(THIEF, (USDC, 1_000), THIEF, (ETH, 7)));
        // No venue: no conversion, whatever the legs.
        assert_eq!(classify(&legs, &[]), None);
    }

    #[test]
    fn a_router_and_two_pools_net_to_zero_and_the_output_may_go_elsewhere() {
        // USDC -> pool 1 -> WETH -> pool 2 -> stETH, paid to a fresh address.
        let legs = [
            leg(THIEF, ROUTER, USDC, 1_000),
            leg(ROUTER, POOL1, USDC, 1_000),
            leg(POOL1, POOL2, WETH, 5),
            leg(POOL2, ROUTER, STETH, 6),
            leg(ROUTER, FRESH, STETH, 6),
        ];
        let legs = weth(&legs);
        assert_eq!(classify(&legs, &[POOL1, POOL2]), swap(THIEF, (USDC, 1_000), FRESH, (STETH, 6)));
    }

    #[test]
    fn wrapping_and_unwrapping_change_nothing() {
        // ETH into WETH (the contract mints), WETH swapped for USDC.
        let legs = [leg(THIEF, WETH_C, ETH, 9), leg(WETH_C, THIEF, WETH, 9), leg(THIEF, POOL1, WETH, 9), leg(POOL1, THIEF, USDC, 20)];
        assert_eq!(classify(&weth(&legs), &[POOL1]), swap(THIEF, (ETH, 9), THIEF, (USDC, 20)));
        // Wrapping alone converts nothing (the WETH contract is no venue).
        assert_eq!(classify(&weth(&legs[..2]), &[]), None);
        // USDC for WETH, unwrapped by the router and paid out as ETH.
        let legs = [
            leg(THIEF, POOL1, USDC, 20),
            leg(POOL1, ROUTER, WETH, 9),
            leg(ROUTER, WETH_C, WETH, 9),
            leg(WETH_C, ROUTER, ETH, 9),
            leg(ROUTER, THIEF, ETH, 9),
        ];
        assert_eq!(classify(&weth(&legs), &[POOL1]), swap(THIEF, (USDC, 20), THIEF, (ETH, 9)));
    }

    #[test]
    fn two_takers_on_one_side_or_a_taker_in_two_assets_are_ambiguous() {
        // Two payers into one swap.
        let legs = [leg(THIEF, POOL1, USDC, 600), leg(FRESH, POOL1, USDC, 400), leg(POOL1, THIEF, ETH, 7)];
        let Some(Conversion::Ambiguous(t)) = classify(&legs, &[POOL1]) else { panic!("two payers") };
        assert_eq!(t.len(), 3);
        assert!(t.iter().all(|c| c.address != POOL1), "venues are never takers");
        // The payee also pays in a third asset.
        let legs = [leg(THIEF, POOL1, USDC, 600), leg(POOL1, THIEF, ETH, 7), leg(THIEF, POOL2, STETH, 1), leg(POOL2, FRESH, STETH, 1)];
        assert!(matches!(classify(&legs, &[POOL1, POOL2]), Some(Conversion::Ambiguous(_))));
        // Down and up in the same asset (a refund, not a conversion).
        let legs = [leg(THIEF, POOL1, USDC, 600), leg(POOL1, FRESH, USDC, 500)];
        assert!(matches!(classify(&legs, &[POOL1]), Some(Conversion::Ambiguous(_))));
    }

    #[test]
    fn a_transaction_where_only_venues_move_converts_nothing() {
        let legs = [leg(POOL1, POOL2, USDC, 5), leg(POOL2, POOL1, ETH, 1)];
        assert_eq!(classify(&legs, &[POOL1, POOL2]), None);
    }

    #[test]
    fn sums_are_exact_past_128_bits() {
        let big = Amount(U256::from(u128::MAX) * U256::from(4u8));
        let legs = [Leg { from: THIEF, to: POOL1, asset: USDC, value: big }, leg(POOL1, THIEF, ETH, 1)];
        let Some(Conversion::Swap(s)) = classify(&legs, &[POOL1]) else { panic!("a swap") };
        assert_eq!(s.sold, (USDC, big));
        let max = Amount(U256::MAX);
        let legs = [Leg { from: THIEF, to: POOL1, asset: USDC, value: max }, Leg { from: THIEF, to: POOL1, asset: USDC, value: max }];
        assert_eq!(classify(&legs, &[POOL1]), Some(Conversion::Ambiguous(Vec::new())), "a sum past 2^256-1 is no swap");
    }
}
