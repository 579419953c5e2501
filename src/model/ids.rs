//! Ids of the store's tables and event positions.
//!
//! Addresses, transactions and assets are numbered densely from 0 in `u32`
//! (the hot columns stay 4 bytes an entry); the top value of each is a
//! sentinel (`NO_TX`, an input's unknown address). An id is only ever made
//! by [`AddrId::new`], [`TxId::new`] or [`AssetId::new`], which refuse a
//! count past the limit instead of wrapping onto the pseudo addresses and
//! the sentinels. Event positions are `u64` everywhere ([`EventPos`]).

use std::sync::OnceLock;

/// The position of an event in the store's key order.
pub type EventPos = u64;

/// An id space is full: the data needs more ids than the store format holds.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the data needs more than {limit} {what}; this store format numbers them in 32 bits and refuses rather than wrap")]
pub struct IdLimit {
    /// What ran out (`addresses`, `transactions`, `assets`).
    pub what: &'static str,
    /// How many ids the format holds.
    pub limit: u64,
}

/// A lower limit for tests (`CHAINTRACE_ID_LIMIT`), so that a test can
/// drive a store to its limit without 2^32 rows. It can only lower a limit.
fn test_cap() -> Option<u64> {
    static CAP: OnceLock<Option<u64>> = OnceLock::new();
    *CAP.get_or_init(|| std::env::var("CHAINTRACE_ID_LIMIT").ok().and_then(|v| v.parse().ok()))
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $what:literal, $limit:expr) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[repr(transparent)]
        pub struct $name(u32);

        impl $name {
            /// How many ids this table holds: ids are `0..LIMIT`.
            pub const LIMIT: u64 = $limit;

            /// The id numbered `n`, if the table holds that many.
            #[inline]
            pub fn new(n: usize) -> Result<Self, IdLimit> {
                let limit = test_cap().map_or(Self::LIMIT, |c| c.min(Self::LIMIT));
                match u32::try_from(n) {
                    Ok(v) if u64::from(v) < limit => Ok($name(v)),
                    _ => Err(IdLimit { what: $what, limit }),
                }
            }

            /// An id read back from a column this build wrote (already checked when made).
            #[inline]
            pub const fn from_stored(v: u32) -> Self {
                $name(v)
            }

            /// The id as stored in a column.
            #[inline]
            pub const fn get(self) -> u32 {
                self.0
            }

            /// The id as an index into a table.
            #[inline]
            pub const fn index(self) -> usize {
                self.0 as usize
            }
        }
    };
}

id_type!(
    /// An address id. `u32::MAX` marks an input whose address the export does not give.
    AddrId,
    "addresses",
    u32::MAX as u64
);
id_type!(
    /// A transaction id. `u32::MAX` is `NO_TX`: no transaction hash.
    TxId,
    "transactions",
    u32::MAX as u64
);
id_type!(
    /// An asset id: 0 is the chain's native coin, then token contracts.
    AssetId,
    "assets",
    u32::MAX as u64
);

impl TxId {
    /// No transaction hash (`NO_TX`).
    pub const NONE: TxId = TxId(u32::MAX);
}

impl AddrId {
    /// An input's address that the export does not give.
    pub const UNKNOWN: AddrId = AddrId(u32::MAX);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_stop_below_the_sentinel() {
        assert_eq!(AddrId::new(0).unwrap().get(), 0);
        assert_eq!(TxId::new(u32::MAX as usize - 1).unwrap().get(), u32::MAX - 1);
        assert!(TxId::new(u32::MAX as usize).is_err(), "NO_TX is never a transaction id");
        assert!(AddrId::new(u32::MAX as usize + 5).is_err(), "never wraps");
        assert_eq!(TxId::NONE.get(), super::super::NO_TX);
    }
}
