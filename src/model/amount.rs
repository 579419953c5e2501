//! Exact value types: amounts in base units and their decimal forms.
//!
//! Wei needs more than 64 bits and ERC-20 values need all 256, so every amount on
//! the path that moves value is an integer of at least that width; nothing here
//! ever goes through a float.

use ruint::aliases::U256;
use std::fmt;

/// Sums of many amounts can pass 2^256-1 (INTERFACE.md: sums must not overflow).
pub type WideSum = ruint::Uint<320, 5>;

/// An amount in an asset's base unit (wei, token base unit, satoshi): 0 to 2^256-1.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Amount(pub U256);

/// Why a value field could not be read as an exact amount.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    /// The field is empty.
    #[error("empty value")]
    Empty,
    /// A leading minus sign.
    #[error("negative value {0:?}")]
    Negative(String),
    /// Not a decimal number (NaN, infinity, stray characters).
    #[error("not a decimal number: {0:?}")]
    NotNumeric(String),
    /// More fractional digits than the unit has.
    #[error("{0:?} is a fraction of a base unit")]
    Fraction(String),
    /// Larger than 2^256-1.
    #[error("{0:?} is above 2^256-1")]
    TooLarge(String),
}

impl Amount {
    /// Zero.
    pub const ZERO: Amount = Amount(U256::ZERO);

    /// The amount as u128 when it fits.
    pub fn to_u128(self) -> Option<u128> {
        u128::try_from(self.0).ok()
    }

    /// From a u128.
    pub fn from_u128(v: u128) -> Self {
        Amount(U256::from(v))
    }

    /// Whether the amount is zero.
    pub fn is_zero(self) -> bool {
        self.0.is_zero()
    }

    /// Exact product, `None` above 2^256-1.
    pub fn checked_mul(self, other: Amount) -> Option<Amount> {
        self.0.checked_mul(other.0).map(Amount)
    }

    /// Parse a value given in base units (`wei`, `sat`): a decimal integer, or a
    /// decimal/exponent form whose value is a whole number (`1.5e21`).
    pub fn parse_base(text: &[u8]) -> Result<Amount, AmountError> {
        // Fast path: plain digits that fit u128 cover nearly every real value.
        if !text.is_empty() && text.len() <= 38 && text.iter().all(u8::is_ascii_digit) {
            // Up to 19 digits at a time in u64 (10^19 - 1 fits), joined once
            // in u128: a u128 multiply per digit cost more than the rest.
            let digits = |t: &[u8]| t.iter().fold(0u64, |v, &c| v * 10 + u64::from(c - b'0'));
            let split = text.len().saturating_sub(19);
            let v = u128::from(digits(&text[..split])) * 10u128.pow(19) + u128::from(digits(&text[split..]));
            return Ok(Amount::from_u128(v));
        }
        Self::parse_decimal(text, 0)
    }

    /// Parse an exact decimal in whole units with `decimals` fractional digits per
    /// unit (`eth` is 18, `btc` 8): `0.0003`, `1e-05`, `1.5E+3`. A value that is not
    /// a whole number of base units is an error, never rounded.
    pub fn parse_decimal(text: &[u8], decimals: u32) -> Result<Amount, AmountError> {
        let show = || String::from_utf8_lossy(text).into_owned();
        let t = trim(text);
        if t.is_empty() {
            return Err(AmountError::Empty);
        }
        let (t, negative) = match t[0] {
            b'-' => (&t[1..], true),
            b'+' => (&t[1..], false),
            _ => (t, false),
        };
        let (mantissa, exp) = match t.iter().position(|&c| c == b'e' || c == b'E') {
            Some(p) => (&t[..p], parse_exp(&t[p + 1..]).ok_or_else(|| AmountError::NotNumeric(show()))?),
            None => (t, 0i64),
        };
        let (int_part, frac_part) = match mantissa.iter().position(|&c| c == b'.') {
            Some(p) => (&mantissa[..p], &mantissa[p + 1..]),
            None => (mantissa, &mantissa[..0]),
        };
        if (int_part.is_empty() && frac_part.is_empty()) || !int_part.iter().chain(frac_part).all(u8::is_ascii_digit) {
            return Err(AmountError::NotNumeric(show()));
        }
        let mut digits: Vec<u8> = int_part.iter().chain(frac_part).copied().collect();
        let shift = exp + i64::from(decimals) - frac_part.len() as i64;
        if shift < 0 {
            let cut = (-shift) as usize;
            let keep = digits.len().saturating_sub(cut);
            if digits[keep..].iter().any(|&d| d != b'0') {
                return Err(AmountError::Fraction(show()));
            }
            digits.truncate(keep);
        } else {
            let all_zero = digits.iter().all(|&d| d == b'0');
            if !all_zero {
                if shift > 100 {
                    return Err(AmountError::TooLarge(show()));
                }
                digits.extend(std::iter::repeat_n(b'0', shift as usize));
            }
        }
        let first = digits.iter().position(|&d| d != b'0').unwrap_or(digits.len());
        let digits = &digits[first..];
        if digits.is_empty() {
            return Ok(Amount::ZERO);
        }
        if negative {
            return Err(AmountError::Negative(show()));
        }
        if digits.len() > 78 {
            return Err(AmountError::TooLarge(show()));
        }
        let s = std::str::from_utf8(digits).map_err(|_| AmountError::NotNumeric(show()))?;
        U256::from_str_radix(s, 10).map(Amount).map_err(|_| AmountError::TooLarge(show()))
    }
}

fn trim(t: &[u8]) -> &[u8] {
    let s = t.iter().position(|c| !c.is_ascii_whitespace()).unwrap_or(t.len());
    let e = t.iter().rposition(|c| !c.is_ascii_whitespace()).map_or(s, |p| p + 1);
    &t[s..e]
}

fn parse_exp(t: &[u8]) -> Option<i64> {
    let (t, neg) = match t.first()? {
        b'-' => (&t[1..], true),
        b'+' => (&t[1..], false),
        _ => (t, false),
    };
    if t.is_empty() || t.len() > 6 || !t.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let v: i64 = std::str::from_utf8(t).ok()?.parse().ok()?;
    Some(if neg { -v } else { v })
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// Add an amount to a wide sum.
pub fn add_wide(sum: &mut WideSum, a: Amount) {
    *sum += WideSum::from(a.0);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eth(s: &str) -> Result<String, AmountError> {
        Amount::parse_decimal(s.as_bytes(), 18).map(|a| a.to_string())
    }

    #[test]
    fn exact_decimal_ether() {
        assert_eq!(eth("1e-05").unwrap(), "10000000000000");
        assert_eq!(eth("0.0003").unwrap(), "300000000000000");
        assert_eq!(eth("0.0").unwrap(), "0");
        assert_eq!(eth("1.5E+3").unwrap(), "1500000000000000000000");
        assert_eq!(eth("173600").unwrap(), "173600000000000000000000");
        assert_eq!(eth("0.000000000000000001").unwrap(), "1");
        assert!(matches!(eth("0.0000000000000000001"), Err(AmountError::Fraction(_))));
        assert!(matches!(eth("-1"), Err(AmountError::Negative(_))));
        assert!(matches!(eth("NaN"), Err(AmountError::NotNumeric(_))));
        assert!(matches!(eth("inf"), Err(AmountError::NotNumeric(_))));
        assert!(matches!(eth(""), Err(AmountError::Empty)));
        assert_eq!(eth("-0.0").unwrap(), "0");
    }

    #[test]
    fn base_units_to_the_limit() {
        let max = "115792089237316195423570985008687907853269984665640564039457584007913129639935";
        assert_eq!(Amount::parse_base(max.as_bytes()).unwrap().to_string(), max);
        let over = "115792089237316195423570985008687907853269984665640564039457584007913129639936";
        assert!(matches!(Amount::parse_base(over.as_bytes()), Err(AmountError::TooLarge(_))));
        assert_eq!(Amount::parse_base(b"64655529900000002048").unwrap().to_string(), "64655529900000002048");
        // The fast path (up to 38 digits) against the general one, at every
        // length, with the largest digits and with leading zeros.
        for len in 1..=40 {
            for text in ["9".repeat(len), format!("{}{}", "0".repeat(len / 2), "7".repeat(len - len / 2)), "1".repeat(len)] {
                assert_eq!(Amount::parse_base(text.as_bytes()).unwrap(), Amount::parse_decimal(text.as_bytes(), 0).unwrap(), "{text}");
            }
        }
        assert_eq!(Amount::parse_base(b"1.5e3").unwrap().to_string(), "1500");
        assert!(matches!(Amount::parse_base(b"1.5"), Err(AmountError::Fraction(_))));
        assert!(matches!(Amount::parse_base(b"0x10"), Err(AmountError::NotNumeric(_))));
    }

    #[test]
    fn wide_sums_pass_u256() {
        let max = Amount(U256::MAX);
        let mut s = WideSum::ZERO;
        add_wide(&mut s, max);
        add_wide(&mut s, max);
        assert_eq!(s, WideSum::from(U256::MAX) * WideSum::from(2u8));
    }
}
