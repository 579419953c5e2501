//! Ethereum exports: blockchain-etl tables and Etherscan CSV exports, each
//! mapped row by row to value events (the chain-neutral transfers CSV is
//! `ingest::transfers`).

use super::csv::{Header, Row};
use crate::model::amount::Amount;
use crate::model::text::FieldError;
use crate::model::text::*;
use crate::model::{Addr, AssetKey, NO_BLOCK, NO_TIME, Pending, Pseudo, RawEvent, TxHash, flags, sub};
use std::collections::HashMap;

/// What a receipt adds to its transaction.
#[derive(Clone, Copy, Debug, Default)]
pub struct Receipt {
    /// `Some(false)` for a failed transaction.
    pub status: Option<bool>,
    /// Gas used.
    pub gas_used: Option<u64>,
    /// Price per gas actually paid (EIP-1559), in wei.
    pub effective_gas_price: Option<Amount>,
    /// The contract a creation made.
    pub contract: Option<[u8; 20]>,
}

/// Receipts by transaction hash, joined onto transactions of the same ingest.
pub type Receipts = HashMap<TxHash, Receipt>;

/// Which table a header belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EthTable {
    /// blockchain-etl `transactions` (receipt columns optional).
    Transactions,
    /// blockchain-etl `receipts`.
    Receipts,
    /// blockchain-etl `traces`.
    Traces,
    /// blockchain-etl `token_transfers`.
    TokenTransfers,
    /// Etherscan "normal transactions" export.
    EtherscanNormal,
    /// Etherscan "internal transactions" export.
    EtherscanInternal,
    /// Etherscan "ERC-20 token transfers" export.
    EtherscanErc20,
    /// The generic transfers CSV.
    Transfers,
    /// blockchain-etl `logs`: the recognised ones (swaps, wrapping,
    /// THORChain's router, the Avalanche Bridge, Wormhole, Ronin) are kept.
    Logs,
}

impl EthTable {
    /// Recognise a blockchain-etl table by its columns.
    pub fn detect_etl(h: &Header) -> Option<EthTable> {
        if h.has_all(&["trace_type", "from_address", "to_address", "value"]) {
            Some(EthTable::Traces)
        } else if h.has_all(&["log_index", "transaction_hash", "address", "topics"]) && h.idx("token_address").is_none() {
            Some(EthTable::Logs)
        } else if h.has_all(&["token_address", "from_address", "to_address", "value", "log_index"]) {
            Some(EthTable::TokenTransfers)
        } else if h.has_all(&["transaction_hash", "gas_used"]) && h.idx("value").is_none() {
            Some(EthTable::Receipts)
        } else if h.has_all(&["hash", "from_address", "to_address", "value"]) {
            Some(EthTable::Transactions)
        } else {
            None
        }
    }

    /// Recognise an Etherscan export by its columns.
    pub fn detect_etherscan(h: &Header) -> Option<EthTable> {
        let hash = h.idx_any(&["txhash", "transaction hash"]).is_some();
        if !hash {
            None
        } else if h.idx("parenttxfrom").is_some() {
            Some(EthTable::EtherscanInternal)
        } else if h.idx("tokenvalue").is_some() {
            Some(EthTable::EtherscanErc20)
        } else if h.idx("value_in(eth)").is_some() {
            Some(EthTable::EtherscanNormal)
        } else {
            None
        }
    }

    /// The columns a table must have, for the error message.
    pub fn expected_columns() -> &'static str {
        "transactions (hash,block_number,from_address,to_address,value,...), receipts (transaction_hash,gas_used,status,...), \
         traces (trace_type,trace_address,from_address,to_address,value,...), token_transfers \
         (token_address,from_address,to_address,value,transaction_hash,log_index,block_number) or logs \
         (log_index,transaction_hash,transaction_index,block_number,address,data,topics)"
    }
}

pub(super) fn col(h: &Header, name: &str) -> Option<usize> {
    h.idx(name)
}

pub(super) fn need(h: &Header, name: &str) -> Result<usize, String> {
    h.idx(name).ok_or_else(|| format!("missing column `{name}`"))
}

pub(super) fn event(block: Option<u64>, time: Option<i64>, tx_index: Option<u32>, from: Addr, to: Addr, value: Amount) -> RawEvent {
    RawEvent {
        block: block.unwrap_or(NO_BLOCK),
        time: time.unwrap_or(NO_TIME),
        tx_index: tx_index.map_or(0, |i| i + 1),
        sub: sub::NONE,
        from,
        to,
        asset: AssetKey::Native,
        value,
        tx: None,
        flags: 0,
        pending: Pending::Done,
        hashes: [0; 3],
    }
}

/// The fee of a transaction: an event from its sender to the fee sink, last in the transaction.
fn fee_event(block: Option<u64>, time: Option<i64>, index: Option<u32>, from: [u8; 20], hash: TxHash, fee: Amount) -> RawEvent {
    let mut f = event(block, time, index, Addr::Eth(from), Addr::Pseudo(Pseudo::Fees), fee);
    f.tx = Some(hash);
    f.sub = sub::FEE;
    f.flags = flags::FEE;
    f
}

pub(super) fn check_block_or_time(block: Option<u64>, time: Option<i64>, field: &str) -> Result<(), FieldError> {
    if block.is_none() && time.is_none() {
        return Err(FieldError::new(field, "empty: each row needs a block number or a block time"));
    }
    Ok(())
}

/// blockchain-etl `transactions`.
pub struct Transactions<'r> {
    hash: usize,
    block: Option<usize>,
    time: Option<usize>,
    index: Option<usize>,
    from: usize,
    to: usize,
    value: usize,
    gas_price: Option<usize>,
    gas_used: Option<usize>,
    status: Option<usize>,
    eff_price: Option<usize>,
    contract: Option<usize>,
    receipts: &'r Receipts,
}

impl<'r> Transactions<'r> {
    /// Resolve columns.
    pub fn new(h: &Header, receipts: &'r Receipts) -> Result<Self, String> {
        Ok(Transactions {
            hash: need(h, "hash")?,
            block: col(h, "block_number"),
            time: col(h, "block_timestamp"),
            index: col(h, "transaction_index"),
            from: need(h, "from_address")?,
            to: need(h, "to_address")?,
            value: need(h, "value")?,
            gas_price: col(h, "gas_price"),
            gas_used: h.idx_any(&["receipt_gas_used", "gas_used"]),
            status: h.idx_any(&["receipt_status", "status"]),
            eff_price: h.idx_any(&["receipt_effective_gas_price", "effective_gas_price"]),
            contract: h.idx_any(&["receipt_contract_address", "contract_address"]),
            receipts,
        })
    }

    /// Whether fees can be modelled from the columns alone.
    pub fn has_receipt_columns(&self) -> bool {
        self.gas_used.is_some()
    }

    /// Map one row.
    pub fn map(&self, r: &Row<'_>, out: &mut Vec<RawEvent>) -> Result<(), FieldError> {
        let hash = tx_hash("hash", r.get(Some(self.hash)))?;
        let block = opt_u64("block_number", r.get(self.block))?;
        let time = opt_time("block_timestamp", r.get(self.time))?;
        check_block_or_time(block, time, "block_number")?;
        let index = opt_index("transaction_index", r.get(self.index))?;
        let from = eth_address("from_address", r.get(Some(self.from)))?;
        let value = amount("value", r.get(Some(self.value)), 0)?;
        let joined = self.receipts.get(&hash);
        let mut rc = Receipt {
            status: opt_status("receipt_status", r.get(self.status))?,
            gas_used: opt_u64("receipt_gas_used", r.get(self.gas_used))?,
            effective_gas_price: match r.get(self.eff_price).trim_ascii() {
                b"" | b"null" => None,
                t => Some(amount("receipt_effective_gas_price", t, 0)?),
            },
            contract: opt_eth_address("receipt_contract_address", r.get(self.contract))?,
        };
        if let Some(j) = joined {
            rc.status = rc.status.or(j.status);
            rc.gas_used = rc.gas_used.or(j.gas_used);
            rc.effective_gas_price = rc.effective_gas_price.or(j.effective_gas_price);
            rc.contract = rc.contract.or(j.contract);
        }
        let to = match opt_eth_address("to_address", r.get(Some(self.to)))? {
            Some(a) => Addr::Eth(a),
            None => match rc.contract {
                Some(c) => Addr::Eth(c),
                None => Addr::Pseudo(Pseudo::NewContract),
            },
        };
        let failed = rc.status == Some(false);
        let mut e = event(block, time, index, Addr::Eth(from), to, value);
        e.tx = Some(hash);
        e.sub = sub::TOP;
        if failed {
            e.flags |= flags::FAILED;
        }
        out.push(e);
        let price = match rc.effective_gas_price {
            Some(p) => Some(p),
            None => match r.get(self.gas_price).trim_ascii() {
                b"" | b"null" => None,
                t => Some(amount("gas_price", t, 0)?),
            },
        };
        if let (Some(gas), Some(price)) = (rc.gas_used, price) {
            let fee =
                price.checked_mul(Amount::from_u128(u128::from(gas))).ok_or_else(|| FieldError::new("gas_price", "fee above 2^256-1"))?;
            out.push(fee_event(block, time, index, from, hash, fee));
        }
        Ok(())
    }
}

/// blockchain-etl `receipts`, collected for the join.
pub struct ReceiptRows {
    hash: usize,
    gas_used: Option<usize>,
    status: Option<usize>,
    eff_price: Option<usize>,
    contract: Option<usize>,
}

impl ReceiptRows {
    /// Resolve columns.
    pub fn new(h: &Header) -> Result<Self, String> {
        Ok(ReceiptRows {
            hash: need(h, "transaction_hash")?,
            gas_used: col(h, "gas_used"),
            status: col(h, "status"),
            eff_price: col(h, "effective_gas_price"),
            contract: col(h, "contract_address"),
        })
    }

    /// Map one row.
    pub fn map(&self, r: &Row<'_>, out: &mut Vec<(TxHash, Receipt)>) -> Result<(), FieldError> {
        let hash = tx_hash("transaction_hash", r.get(Some(self.hash)))?;
        let rc = Receipt {
            status: opt_status("status", r.get(self.status))?,
            gas_used: opt_u64("gas_used", r.get(self.gas_used))?,
            effective_gas_price: match r.get(self.eff_price).trim_ascii() {
                b"" | b"null" => None,
                t => Some(amount("effective_gas_price", t, 0)?),
            },
            contract: opt_eth_address("contract_address", r.get(self.contract))?,
        };
        out.push((hash, rc));
        Ok(())
    }
}

/// blockchain-etl `traces`: internal ETH transfers.
pub struct Traces {
    block: Option<usize>,
    time: Option<usize>,
    hash: Option<usize>,
    index: Option<usize>,
    from: usize,
    to: usize,
    value: usize,
    trace_type: usize,
    call_type: Option<usize>,
    trace_address: Option<usize>,
    error: Option<usize>,
    status: Option<usize>,
}

impl Traces {
    /// Resolve columns.
    pub fn new(h: &Header) -> Result<Self, String> {
        Ok(Traces {
            block: col(h, "block_number"),
            time: col(h, "block_timestamp"),
            hash: col(h, "transaction_hash"),
            index: col(h, "transaction_index"),
            from: need(h, "from_address")?,
            to: need(h, "to_address")?,
            value: need(h, "value")?,
            trace_type: need(h, "trace_type")?,
            call_type: col(h, "call_type"),
            trace_address: col(h, "trace_address"),
            error: col(h, "error"),
            status: col(h, "status"),
        })
    }

    /// Map one row.
    pub fn map(&self, r: &Row<'_>, out: &mut Vec<RawEvent>) -> Result<(), FieldError> {
        let block = opt_u64("block_number", r.get(self.block))?;
        let time = opt_time("block_timestamp", r.get(self.time))?;
        check_block_or_time(block, time, "block_number")?;
        let hash = opt_tx_hash("transaction_hash", r.get(self.hash))?;
        let value = amount("value", r.get(Some(self.value)), 0)?;
        let ttype = r.get(Some(self.trace_type)).trim_ascii();
        let call_type = r.get(self.call_type).trim_ascii();
        let status = opt_status("status", r.get(self.status))?;
        let errored = !matches!(r.get(self.error).trim_ascii(), b"" | b"null");
        let mut fl = 0;
        if status == Some(false) || errored {
            fl |= flags::FAILED;
        }
        if matches!(call_type, b"delegatecall" | b"callcode" | b"staticcall") {
            fl |= flags::NO_TRANSFER;
        }
        let minted = matches!(ttype, b"reward" | b"genesis");
        let from = match opt_eth_address("from_address", r.get(Some(self.from)))? {
            Some(a) => Addr::Eth(a),
            None if minted => {
                fl |= flags::MINT;
                Addr::Pseudo(Pseudo::Mint)
            }
            None if fl & flags::MOVES_NOTHING != 0 || value.is_zero() => Addr::Pseudo(Pseudo::Unknown),
            None => return Err(FieldError::new("from_address", "empty on a trace that moves value")),
        };
        let to = match opt_eth_address("to_address", r.get(Some(self.to)))? {
            Some(a) => Addr::Eth(a),
            None if fl & flags::MOVES_NOTHING != 0 || value.is_zero() => Addr::Pseudo(Pseudo::Unknown),
            None => return Err(FieldError::new("to_address", "empty on a trace that moves value")),
        };
        let index = opt_index("transaction_index", r.get(self.index))?;
        let mut e = event(block, time, index, from, to, value);
        e.flags = fl;
        e.tx = hash;
        if minted || hash.is_none() {
            // Rewards are credited once the block's transactions are done.
            e.tx_index = u32::MAX;
        } else {
            let path = parse_trace_address(r.get(self.trace_address))?;
            if path.is_empty() {
                e.sub = sub::TOP;
            } else {
                e.pending = Pending::TracePath(path.into_boxed_slice());
            }
        }
        out.push(e);
        Ok(())
    }
}

/// `0,1,3` (CSV) or `[0, 1, 3]` (JSON) into a path.
fn parse_trace_address(t: &[u8]) -> Result<Vec<u32>, FieldError> {
    let t = t.trim_ascii();
    let t = t.strip_prefix(b"[").unwrap_or(t);
    let t = t.strip_suffix(b"]").unwrap_or(t);
    let mut path = Vec::new();
    for part in t.split(|&c| c == b',') {
        let p = part.trim_ascii();
        if p.is_empty() || p == b"null" {
            continue;
        }
        let v = opt_u64("trace_address", p)?.unwrap_or(0);
        path.push(u32::try_from(v).map_err(|_| FieldError::new("trace_address", "index out of range"))?);
    }
    Ok(path)
}

/// blockchain-etl `token_transfers`: each token its own asset.
pub struct TokenTransfers {
    token: usize,
    from: usize,
    to: usize,
    value: usize,
    hash: Option<usize>,
    log_index: Option<usize>,
    block: Option<usize>,
    time: Option<usize>,
    index: Option<usize>,
}

impl TokenTransfers {
    /// Resolve columns.
    pub fn new(h: &Header) -> Result<Self, String> {
        Ok(TokenTransfers {
            token: need(h, "token_address")?,
            from: need(h, "from_address")?,
            to: need(h, "to_address")?,
            value: need(h, "value")?,
            hash: col(h, "transaction_hash"),
            log_index: col(h, "log_index"),
            block: col(h, "block_number"),
            time: col(h, "block_timestamp"),
            index: col(h, "transaction_index"),
        })
    }

    /// Map one row.
    pub fn map(&self, r: &Row<'_>, out: &mut Vec<RawEvent>) -> Result<(), FieldError> {
        let block = opt_u64("block_number", r.get(self.block))?;
        let time = opt_time("block_timestamp", r.get(self.time))?;
        check_block_or_time(block, time, "block_number")?;
        let token = eth_address("token_address", r.get(Some(self.token)))?;
        let from = eth_address("from_address", r.get(Some(self.from)))?;
        let to = eth_address("to_address", r.get(Some(self.to)))?;
        let value = amount("value", r.get(Some(self.value)), 0)?;
        let index = opt_index("transaction_index", r.get(self.index))?;
        let mut e = event(block, time, index, Addr::Eth(from), Addr::Eth(to), value);
        e.asset = AssetKey::Token(token);
        e.tx = opt_tx_hash("transaction_hash", r.get(self.hash))?;
        match opt_index("log_index", r.get(self.log_index))? {
            Some(li) => e.sub = sub::LOG | li,
            None if e.tx.is_some() => e.pending = Pending::Ordinal(sub::LOG),
            None => {}
        }
        out.push(e);
        Ok(())
    }
}

/// blockchain-etl `logs` (`export_receipts_and_logs`, stream exports):
/// the logs `convert::topics` recognises become log rows of the store
/// (a THORChain router log's memo, decoded from `data`, a memo row too;
/// a bridge log of `Kind::kept_topics` its topics after the first and its
/// raw `data`, checked against the event's signature);
/// the rest, `Transfer` logs included (they are the `token_transfers`
/// rows), are read, checked and dropped.
pub struct Logs {
    hash: usize,
    log_index: usize,
    address: usize,
    topics: usize,
    data: Option<usize>,
    block: Option<usize>,
    time: Option<usize>,
    index: Option<usize>,
}

impl Logs {
    /// Resolve columns.
    pub fn new(h: &Header) -> Result<Self, String> {
        Ok(Logs {
            hash: need(h, "transaction_hash")?,
            log_index: need(h, "log_index")?,
            address: need(h, "address")?,
            topics: need(h, "topics")?,
            data: col(h, "data"),
            block: col(h, "block_number"),
            time: col(h, "block_timestamp"),
            index: col(h, "transaction_index"),
        })
    }

    /// Map one row.
    pub fn map(&self, r: &Row<'_>, out: &mut Vec<RawEvent>) -> Result<(), FieldError> {
        let hash = tx_hash("transaction_hash", r.get(Some(self.hash)))?;
        let log_index = opt_index("log_index", r.get(Some(self.log_index)))?.ok_or_else(|| FieldError::new("log_index", "empty"))?;
        let emitter = eth_address("address", r.get(Some(self.address)))?;
        let topics = all_topics(r.get(Some(self.topics)))?;
        let data = r.get(self.data).trim_ascii();
        if !data.is_empty() && data != b"null" && !is_hex_data(data) {
            return Err(FieldError::new("data", "not 0x-prefixed hex bytes"));
        }
        let Some(kind) = crate::convert::topics::recognise_log(&topics, &emitter) else { return Ok(()) };
        let memo = match (kind.memo_word(), kind.kept_topics()) {
            (Some(word), _) => Some(router_memo(data, word)?.into_boxed_slice()),
            (None, Some(n)) => Some(bridge_fields(kind, n, &topics, data)?.into_boxed_slice()),
            (None, None) => None,
        };
        let block = opt_u64("block_number", r.get(self.block))?;
        let time = opt_time("block_timestamp", r.get(self.time))?;
        let index = opt_index("transaction_index", r.get(self.index))?;
        let mut e = event(block, time, index, Addr::Eth(emitter), Addr::Pseudo(Pseudo::Unknown), Amount::ZERO);
        e.tx = Some(hash);
        e.sub = log_index;
        e.pending = Pending::Log(kind.code(), memo);
        out.push(e);
        Ok(())
    }
}

/// The memo of a THORChain router log: the UTF-8 `string` whose offset is
/// in word `word` of its `data` (already checked to be hex or empty).
fn router_memo(data: &[u8], word: usize) -> Result<Vec<u8>, FieldError> {
    let bad = |what: String| FieldError::new("data", format!("a THORChain router log's memo cannot be read: {what}"));
    let hex = match data {
        b"" | b"null" => return Err(bad("the data is empty".into())),
        d => d.strip_prefix(b"0x").unwrap_or(d),
    };
    let mut bytes = vec![0u8; hex.len() / 2];
    if !crate::model::text::decode_hex(hex, &mut bytes) {
        return Err(bad("not hex".into()));
    }
    let memo = crate::convert::abi::decode_abi_string(&bytes, word).map_err(bad)?;
    if let Err(e) = std::str::from_utf8(&memo) {
        return Err(bad(format!("the memo is not UTF-8 (at byte {})", e.valid_up_to())));
    }
    Ok(memo)
}

/// What a bridge log's matcher reads (`Kind::kept_topics`): its indexed
/// topics after the first (32 bytes each), then its raw `data`, each
/// checked to be as long as the event's signature makes it.
fn bridge_fields(kind: crate::convert::topics::Kind, n: usize, topics: &[[u8; 32]], data: &[u8]) -> Result<Vec<u8>, FieldError> {
    let name = crate::convert::topics::RECOGNISED.iter().find(|r| r.kind == kind).map_or("", |r| r.signature);
    if topics.len() != 1 + n {
        return Err(FieldError::new("topics", format!("{name} has {} topics, not {}", topics.len(), 1 + n)));
    }
    let hex = match data {
        b"" | b"null" => &b""[..],
        d => d.strip_prefix(b"0x").unwrap_or(d),
    };
    let mut bytes = vec![0u8; hex.len() / 2];
    if !crate::model::text::decode_hex(hex, &mut bytes) {
        return Err(FieldError::new("data", "not 0x-prefixed hex bytes"));
    }
    match kind.data_len() {
        Some(len) if bytes.len() != len => {
            return Err(FieldError::new("data", format!("{name} has {} bytes of data, not {len} ({} words)", bytes.len(), len / 32)));
        }
        Some(_) => {}
        // A `bytes` field (`LogMessagePublished`'s payload, `LogBurn`'s
        // `_to`): the head words, then the field, which must be readable.
        None => {
            let (head, word) = kind.dynamic_data().unwrap_or((0, 0));
            if bytes.len() < head * 32 {
                return Err(FieldError::new("data", format!("{name} has {} bytes of data, fewer than its {head} head words", bytes.len())));
            }
            let field = crate::convert::abi::decode_abi_string(&bytes, word)
                .map_err(|e| FieldError::new("data", format!("{name}'s bytes field (word {word}) cannot be read: {e}")))?;
            if kind == crate::convert::topics::Kind::RenBurn && field.is_empty() {
                return Err(FieldError::new("data", format!("{name}'s _to is empty (the gateway refuses an empty recipient)")));
            }
        }
    }
    let mut out = Vec::with_capacity(32 * n + bytes.len());
    for t in &topics[1..] {
        out.extend_from_slice(t);
    }
    out.extend_from_slice(&bytes);
    Ok(out)
}

/// The topics of a `topics` field: blockchain-etl CSV joins them with
/// commas (`0xab..,0xcd..`), JSON gives an array (`["0xab..", ...]`);
/// none for a log without topics. Every topic must be 32 bytes of hex.
fn all_topics(field: &[u8]) -> Result<Vec<[u8; 32]>, FieldError> {
    let inner = field.trim_ascii();
    let inner = inner.strip_prefix(b"[").and_then(|x| x.strip_suffix(b"]")).unwrap_or(inner);
    let mut all = Vec::new();
    for t in inner.split(|&c| c == b',') {
        let t = t.trim_ascii();
        let t = t.strip_prefix(b"\"").and_then(|x| x.strip_suffix(b"\"")).unwrap_or(t);
        if t.is_empty() && inner.trim_ascii().is_empty() {
            break;
        }
        let mut topic = [0u8; 32];
        let hex = t.strip_prefix(b"0x").unwrap_or(b"");
        if hex.len() != 64 || !crate::model::text::decode_hex(hex, &mut topic) {
            return Err(FieldError::new("topics", format!("{:?} is not a 32-byte 0x-hex topic", String::from_utf8_lossy(t))));
        }
        all.push(topic);
    }
    Ok(all)
}

/// Whether `d` is `0x` followed by whole bytes of hex.
fn is_hex_data(d: &[u8]) -> bool {
    d.strip_prefix(b"0x").is_some_and(|h| h.len() % 2 == 0 && h.iter().all(u8::is_ascii_hexdigit))
}

/// Etherscan's CSV exports (normal, internal and ERC-20 transfers).
pub struct Etherscan {
    table: EthTable,
    hash: usize,
    block: Option<usize>,
    time: Option<usize>,
    datetime: Option<usize>,
    from: usize,
    to: usize,
    contract: Option<usize>,
    value_in: Option<usize>,
    value_out: Option<usize>,
    token_value: Option<usize>,
    fee: Option<usize>,
    status: Option<usize>,
    err: Option<usize>,
    decimals: HashMap<[u8; 20], u32>,
}

/// Decimals of tokens common enough to need no flag (`model::tokens`);
/// `--token-decimals` adds more.
pub fn builtin_token_decimals() -> HashMap<[u8; 20], u32> {
    crate::model::tokens::KNOWN
        .iter()
        .map(|t| {
            let mut k = [0u8; 20];
            hex::decode_to_slice(t.contract, &mut k).expect("literal address");
            (k, t.decimals)
        })
        .collect()
}

impl Etherscan {
    /// Resolve columns.
    pub fn new(h: &Header, table: EthTable, decimals: HashMap<[u8; 20], u32>) -> Result<Self, String> {
        let hash = h.idx_any(&["txhash", "transaction hash"]).ok_or("missing column `Txhash`")?;
        let (from, to) = match table {
            EthTable::EtherscanInternal => (need(h, "from")?, need(h, "txto")?),
            _ => (need(h, "from")?, need(h, "to")?),
        };
        Ok(Etherscan {
            table,
            hash,
            block: col(h, "blockno"),
            time: col(h, "unixtimestamp"),
            datetime: h.idx_any(&["datetime (utc)", "datetime"]),
            from,
            to,
            contract: col(h, "contractaddress"),
            value_in: col(h, "value_in(eth)"),
            value_out: col(h, "value_out(eth)"),
            token_value: col(h, "tokenvalue"),
            fee: col(h, "txnfee(eth)"),
            status: col(h, "status"),
            err: col(h, "errcode"),
            decimals,
        })
    }

    fn eth_value(&self, r: &Row<'_>) -> Result<Amount, FieldError> {
        let vin = r.get(self.value_in);
        let vout = r.get(self.value_out);
        let a = if vin.trim_ascii().is_empty() { Amount::ZERO } else { amount("Value_IN(ETH)", &strip_commas(vin), 18)? };
        let b = if vout.trim_ascii().is_empty() { Amount::ZERO } else { amount("Value_OUT(ETH)", &strip_commas(vout), 18)? };
        match (a.is_zero(), b.is_zero()) {
            (_, true) => Ok(a),
            (true, false) => Ok(b),
            // A self-transfer shows the value on both sides.
            (false, false) if a == b => Ok(a),
            _ => Err(FieldError::new("Value_OUT(ETH)", "both Value_IN and Value_OUT are set and differ")),
        }
    }

    /// Map one row.
    pub fn map(&self, r: &Row<'_>, out: &mut Vec<RawEvent>) -> Result<(), FieldError> {
        let hash = tx_hash("Txhash", r.get(Some(self.hash)))?;
        let block = opt_u64("Blockno", r.get(self.block))?;
        let time = match opt_time("UnixTimestamp", r.get(self.time))? {
            Some(t) => Some(t),
            None => opt_time("DateTime (UTC)", r.get(self.datetime))?,
        };
        check_block_or_time(block, time, "Blockno")?;
        let from = eth_address("From", r.get(Some(self.from)))?;
        let to = match opt_eth_address("To", r.get(Some(self.to)))? {
            Some(a) => Addr::Eth(a),
            None => match opt_eth_address("ContractAddress", r.get(self.contract))? {
                Some(c) if self.table != EthTable::EtherscanErc20 => Addr::Eth(c),
                None if self.table == EthTable::EtherscanNormal => Addr::Pseudo(Pseudo::NewContract),
                _ => return Err(FieldError::new("To", "empty address")),
            },
        };
        let status = r.get(self.status).trim_ascii();
        let failed = !r.get(self.err).trim_ascii().is_empty() || status.windows(5).any(|w| w.eq_ignore_ascii_case(b"error"));
        let mut e = event(block, time, None, Addr::Eth(from), to, Amount::ZERO);
        e.tx = Some(hash);
        if failed {
            e.flags |= flags::FAILED;
        }
        match self.table {
            EthTable::EtherscanErc20 => {
                let token = eth_address("ContractAddress", r.get(self.contract))?;
                let dec = *self.decimals.get(&token).ok_or_else(|| {
                    FieldError::new(
                        "TokenValue",
                        format!(
                            "Etherscan gives token amounts in whole tokens; decimals of token 0x{} are unknown: pass --token-decimals 0x{}=N",
                            hex::encode(token),
                            hex::encode(token)
                        ),
                    )
                })?;
                e.value = amount("TokenValue", &strip_commas(r.get(self.token_value)), dec)?;
                e.asset = AssetKey::Token(token);
                e.pending = Pending::Ordinal(sub::LOG);
                out.push(e);
            }
            EthTable::EtherscanInternal => {
                e.value = self.eth_value(r)?;
                e.pending = Pending::Ordinal(sub::TRACE);
                out.push(e);
            }
            _ => {
                e.value = self.eth_value(r)?;
                e.sub = sub::TOP;
                out.push(e);
                let fee = r.get(self.fee);
                if !fee.trim_ascii().is_empty() {
                    let fee = amount("TxnFee(ETH)", &strip_commas(fee), 18)?;
                    out.push(fee_event(block, time, None, from, hash, fee));
                }
            }
        }
        Ok(())
    }
}

fn strip_commas(t: &[u8]) -> Vec<u8> {
    t.iter().copied().filter(|&c| c != b',').collect()
}
