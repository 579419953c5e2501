//! The chain-neutral transfers CSV of INTERFACE.md
//! (`from_address,to_address,value` and a block number or time), for
//! Ethereum and Bitcoin alike.

use super::csv::{Header, Row};
use super::ethereum::{check_block_or_time, col, event, need};
use crate::model::text::*;
use crate::model::{Addr, AssetKey, Pending, RawEvent, sub};

/// The generic transfers CSV of INTERFACE.md.
pub struct Transfers {
    from: usize,
    to: usize,
    value: usize,
    decimals: u32,
    block: Option<usize>,
    time: Option<usize>,
    hash: Option<usize>,
    index: Option<usize>,
    log_index: Option<usize>,
    asset: Option<usize>,
    /// `export`'s exact position in the transaction and flags, so its
    /// output reads back as it was stored (TRACING.md §8).
    sub_index: Option<usize>,
    flags: Option<usize>,
    bitcoin: bool,
    /// The chain's native coin as an `asset` cell names it (`ETH`, `BNB`, ...).
    native: &'static str,
}

/// Decimals of a value unit name (`wei`, `gwei`, `eth`, `sat`, `btc`).
pub fn unit_decimals(unit: &str) -> Option<u32> {
    match unit.to_ascii_lowercase().as_str() {
        "wei" | "sat" | "sats" | "satoshi" | "base" => Some(0),
        "gwei" => Some(9),
        "eth" | "ether" => Some(18),
        "btc" => Some(8),
        _ => None,
    }
}

impl Transfers {
    /// Resolve columns. A `value_eth`/`value_btc` column names its own unit;
    /// `unit` (from `--value-unit`) must agree with it when given.
    pub fn new(h: &Header, unit: Option<&str>, chain: crate::model::Chain) -> Result<Self, String> {
        let bitcoin = !chain.is_account();
        let (value, col_unit) = if let Some(v) = h.idx("value") {
            (v, None)
        } else if let Some(v) = h.idx("value_eth") {
            (v, Some("eth"))
        } else if let Some(v) = h.idx("value_btc") {
            (v, Some("btc"))
        } else if let Some(v) = h.idx("value_wei") {
            (v, Some("wei"))
        } else {
            return Err("missing column `value`".into());
        };
        let decimals = match (unit, col_unit) {
            (Some(u), Some(c)) if unit_decimals(u) != unit_decimals(c) => {
                return Err(format!("--value-unit {u} contradicts the column `value_{c}`"));
            }
            (Some(u), _) => unit_decimals(u).ok_or_else(|| format!("unknown --value-unit {u:?}"))?,
            (None, Some(c)) => unit_decimals(c).unwrap_or(0),
            (None, None) => 0,
        };
        let block = h.idx("block_number");
        let time = h.idx_any(&["block_time", "block_timestamp"]);
        if block.is_none() && time.is_none() {
            return Err("missing column `block_number` or `block_time`".into());
        }
        Ok(Transfers {
            from: need(h, "from_address")?,
            to: need(h, "to_address")?,
            value,
            decimals,
            block,
            time,
            hash: h.idx_any(&["transaction_hash", "tx_hash", "hash"]),
            index: col(h, "transaction_index"),
            log_index: col(h, "log_index"),
            asset: col(h, "asset"),
            sub_index: col(h, "sub_index"),
            flags: col(h, "flags"),
            bitcoin,
            native: chain.native(),
        })
    }

    fn address(&self, field: &str, t: &[u8]) -> Result<Addr, FieldError> {
        if t.trim_ascii().is_empty() {
            return Err(FieldError::new(field, "empty address"));
        }
        // The pseudo addresses by their report names (`export` writes them).
        if let Some(p) = crate::model::Pseudo::ALL.into_iter().find(|p| p.name().as_bytes() == t.trim_ascii()) {
            return Ok(Addr::Pseudo(p));
        }
        if self.bitcoin { btc_address(field, t) } else { eth_address(field, t).map(Addr::Eth) }
    }

    /// Map one row.
    pub fn map(&self, r: &Row<'_>, out: &mut Vec<RawEvent>) -> Result<(), FieldError> {
        let block = opt_u64("block_number", r.get(self.block))?;
        let time = opt_time("block_time", r.get(self.time))?;
        check_block_or_time(block, time, if self.block.is_some() { "block_number" } else { "block_time" })?;
        let from = self.address("from_address", r.get(Some(self.from)))?;
        let to = self.address("to_address", r.get(Some(self.to)))?;
        let value = amount("value", r.get(Some(self.value)), self.decimals)?;
        // Bitcoin amounts fit 64 bits, as the etl readers hold them: the
        // UTXO sums (a transaction's outputs, inputs, fee) rely on it.
        if self.bitcoin && value.to_u128().is_none_or(|v| v > u128::from(u64::MAX)) {
            return Err(FieldError::new("value", format!("{value} satoshi is more than any Bitcoin amount")));
        }
        let index = opt_index("transaction_index", r.get(self.index))?;
        let mut e = event(block, time, index, from, to, value);
        e.asset = match r.get(self.asset).trim_ascii() {
            b"" => AssetKey::Native,
            a if a.eq_ignore_ascii_case(self.native.as_bytes()) => AssetKey::Native,
            a if !self.bitcoin => AssetKey::Token(eth_address("asset", a)?),
            a => return Err(FieldError::new("asset", format!("unknown asset {:?} on bitcoin", show(a)))),
        };
        e.tx = match r.get(self.hash) {
            t if t.trim_ascii().is_empty() => None,
            t if self.bitcoin => Some(hex_fixed::<32>("transaction_hash", t, "transaction hash")?),
            t => Some(tx_hash("transaction_hash", t)?),
        };
        match (opt_u32("sub_index", r.get(self.sub_index))?, opt_index("log_index", r.get(self.log_index))?) {
            (Some(s), _) => e.sub = s,
            (None, Some(li)) => e.sub = sub::LOG | li,
            (None, None) if e.tx.is_some() => e.pending = Pending::Ordinal(sub::NONE),
            (None, None) => {}
        }
        if let Some(f) = opt_u32("flags", r.get(self.flags))? {
            e.flags = u8::try_from(f).map_err(|_| FieldError::new("flags", format!("{f} is not a flags byte")))?;
        }
        out.push(e);
        Ok(())
    }
}

/// An optional unsigned 32-bit field (empty or `null`: none).
fn opt_u32(field: &str, t: &[u8]) -> Result<Option<u32>, FieldError> {
    match crate::model::text::opt_u64(field, t)? {
        None => Ok(None),
        Some(v) => u32::try_from(v).map(Some).map_err(|_| FieldError::new(field, format!("{v} is above 2^32-1"))),
    }
}
