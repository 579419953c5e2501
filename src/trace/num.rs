//! The numbers a sweep keeps per address: u128 where everything fits
//! (native arithmetic), 320 bits otherwise, and the exact haircut
//! `floor(a * t / b)`.

use super::types::Wide;
use crate::store::BigReads;
use ruint::aliases::U256;

pub(super) type Product = ruint::Uint<576, 9>;

/// A sum or value that does not fit the sweep's number type.
#[derive(Debug, Clone, Copy)]
pub(super) struct Overflow;

/// The numbers a sweep keeps per address: u128 (fast, checked) or 320 bits.
pub(super) trait Num: Copy + PartialOrd + std::ops::Sub<Output = Self> + Send + Sync {
    const ZERO: Self;
    fn from_u256(a: U256) -> Option<Self>;
    /// A stored balance (`u128::MAX`: does not fit).
    fn from_u128(a: u128) -> Option<Self>;
    /// The value of event `i`, from its raw column entry (`u128::MAX` marks a big value).
    fn value(big: &mut BigReads<'_>, i: usize, raw: u128) -> Option<Self>;
    fn add(self, o: Self) -> Result<Self, Overflow>;
    fn is_zero(&self) -> bool;
    /// floor(a * t / b), exactly; `t <= b`.
    fn haircut(a: Self, t: Self, b: Self) -> Self;
    fn to_wide(self) -> Wide;
    fn to_u256(self) -> U256;
    /// As a stored balance (`u128::MAX`: does not fit).
    fn stored(self) -> u128;
}

impl Num for u128 {
    const ZERO: Self = 0;
    #[inline]
    fn from_u128(a: u128) -> Option<Self> {
        (a != u128::MAX).then_some(a)
    }
    fn from_u256(a: U256) -> Option<Self> {
        u128::try_from(a).ok()
    }
    #[inline]
    fn value(big: &mut BigReads<'_>, i: usize, raw: u128) -> Option<Self> {
        // The narrow column marks values of 2^72-1 and more: most still fit.
        if raw != u128::MAX { Some(raw) } else { big.value(i).to_u128().filter(|&v| v != u128::MAX) }
    }
    #[inline]
    fn add(self, o: Self) -> Result<Self, Overflow> {
        self.checked_add(o).ok_or(Overflow)
    }
    #[inline]
    fn is_zero(&self) -> bool {
        *self == 0
    }
    #[inline]
    fn haircut(a: Self, t: Self, b: Self) -> Self {
        if t == 0 {
            0
        } else if t == b {
            a
        } else {
            match a.checked_mul(t) {
                Some(p) => p / b,
                None => (U256::from(a) * U256::from(t) / U256::from(b)).to::<u128>(),
            }
        }
    }
    fn to_wide(self) -> Wide {
        Wide::from(self)
    }
    #[inline]
    fn to_u256(self) -> U256 {
        U256::from(self)
    }
    #[inline]
    fn stored(self) -> u128 {
        self
    }
}

impl Num for Wide {
    const ZERO: Self = Wide::ZERO;
    fn from_u128(a: u128) -> Option<Self> {
        (a != u128::MAX).then(|| Wide::from(a))
    }
    fn from_u256(a: U256) -> Option<Self> {
        Some(Wide::from(a))
    }
    fn value(big: &mut BigReads<'_>, i: usize, raw: u128) -> Option<Self> {
        Some(if raw != u128::MAX { Wide::from(raw) } else { Wide::from(big.value(i).0) })
    }
    fn add(self, o: Self) -> Result<Self, Overflow> {
        self.checked_add(o).ok_or(Overflow)
    }
    fn is_zero(&self) -> bool {
        Wide::is_zero(self)
    }
    fn haircut(a: Self, t: Self, b: Self) -> Self {
        Wide::from(haircut(narrow(a), t, b))
    }
    fn to_wide(self) -> Wide {
        self
    }
    fn to_u256(self) -> U256 {
        narrow(self)
    }
    fn stored(self) -> u128 {
        u128::try_from(self).unwrap_or(u128::MAX)
    }
}

pub(crate) fn narrow(w: Wide) -> U256 {
    U256::from_limbs_slice(&w.as_limbs()[..4])
}

/// floor(a * t / b) exactly; `t <= b` so the result fits `a`.
pub(crate) fn haircut(a: U256, t: Wide, b: Wide) -> U256 {
    if t.is_zero() {
        return U256::ZERO;
    }
    if t == b {
        return a;
    }
    // Nearly every real amount fits u128 and so does their product: exact and cheap.
    if let (Ok(a128), Ok(t128), Ok(b128)) = (u128::try_from(a), u128::try_from(t), u128::try_from(b))
        && let Some(p) = a128.checked_mul(t128)
    {
        return U256::from(p / b128);
    }
    let p: Product = a.widening_mul(t);
    narrow(Wide::from_limbs_slice(&(p / Product::from(b)).as_limbs()[..5]))
}
