//! CoinJoin detection: transactions whose inputs belong to several owners
//! by design, so common-input ownership must not join them.
//!
//! The rules (docs/clustering.md) follow the shape every equal-output
//! CoinJoin has (Wasabi 1, Whirlpool, JoinMarket: each participant gets one
//! output of a common value and perhaps change; Möser & Böhme 2017, BlockSci's
//! `isCoinjoin`), plus one for many-participant rounds with several
//! denominations (Wasabi 2).

/// Output values at or below this are dust (colored-coin markers, 546-sat
/// outputs) and never count as a CoinJoin's common value.
pub const DUST: u128 = 2_730;

/// Distinct input addresses from which a round with several denominations
/// counts as a CoinJoin.
pub const MANY_PARTICIPANTS: usize = 10;

/// Which rule recognised a CoinJoin.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Shape {
    /// `k >= 2` outputs of one value, no more than the distinct input
    /// addresses, and at most one other output per participant plus one.
    EqualOutputs,
    /// At least [`MANY_PARTICIPANTS`] input addresses and outputs, and at
    /// least half the outputs share their value with another output.
    Denominations,
}

/// Whether a transaction with `input_addresses` distinct input addresses and
/// these output values (sorted in place) is a CoinJoin, and by which rule.
pub fn is_coinjoin(input_addresses: usize, outputs: &mut [u128]) -> Option<Shape> {
    let n_out = outputs.len();
    if input_addresses < 2 || n_out < 2 {
        return None;
    }
    outputs.sort_unstable();
    let (mut k_max, mut repeated) = (0usize, 0usize);
    let mut i = 0;
    while i < n_out {
        let mut j = i + 1;
        while j < n_out && outputs[j] == outputs[i] {
            j += 1;
        }
        let run = j - i;
        if outputs[i] > DUST {
            k_max = k_max.max(run);
            if run >= 2 {
                repeated += run;
            }
        }
        i = j;
    }
    if k_max >= 2 && k_max <= input_addresses && n_out <= 2 * k_max + 1 {
        return Some(Shape::EqualOutputs);
    }
    if input_addresses >= MANY_PARTICIPANTS && n_out >= MANY_PARTICIPANTS && 2 * repeated >= n_out {
        return Some(Shape::Denominations);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whirlpool_five_by_five_is_a_coinjoin() {
        assert_eq!(is_coinjoin(5, &mut [5_000_000; 5]), Some(Shape::EqualOutputs));
    }

    #[test]
    fn equal_outputs_with_change_and_a_coordinator_fee() {
        // Wasabi 1 style: 3 participants, 3 equal outputs, 2 changes, 1 fee.
        let mut v = [10_000_000, 10_000_000, 10_000_000, 1_234_567, 7_654_321, 30_000];
        assert_eq!(is_coinjoin(3, &mut v), Some(Shape::EqualOutputs));
    }

    #[test]
    fn ordinary_spends_are_not() {
        // One owner's consolidation: many inputs, one output.
        assert_eq!(is_coinjoin(40, &mut [123_456_789]), None);
        // Payment and change.
        assert_eq!(is_coinjoin(2, &mut [50_000, 1_000_000]), None);
        // Batch payout with one repeated amount among many others.
        let mut batch: Vec<u128> = (1..=20).map(|k| k * 100_000).collect();
        batch.push(100_000);
        assert_eq!(is_coinjoin(2, &mut batch), None);
        // More equal outputs than input owners: a payout, not a join.
        assert_eq!(is_coinjoin(2, &mut [70_000; 4]), None);
    }

    #[test]
    fn dust_markers_do_not_make_a_coinjoin() {
        assert_eq!(is_coinjoin(2, &mut [546, 546, 99_000]), None);
    }

    #[test]
    fn many_denominations() {
        let mut v: Vec<u128> = Vec::new();
        for d in [100_000u128, 200_000, 500_000, 1_000_000] {
            v.extend([d; 4]);
        }
        v.extend([111_111, 222_222, 333_333]);
        assert_eq!(is_coinjoin(12, &mut v), Some(Shape::Denominations));
        assert_eq!(is_coinjoin(4, &mut v.clone()), None);
    }
}
