//! Bitcoin exports: blockchain-etl JSON lines with nested inputs and outputs,
//! and the flat trio `transactions` / `inputs` / `outputs` (CSV or Parquet).
//!
//! Each output becomes a value event from the transaction's first input
//! address to the output's address; inputs are kept in their own table and
//! linked to the outputs they spend when the store is written.

use super::csv::{CsvReader, Header, Row};
use super::{FileReport, Options};
use crate::ingest::IngestError;
use crate::model::amount::Amount;
use crate::model::ids::{AssetId, TxId};
use crate::model::text::FieldError;
use crate::model::text::{opt_u64, show};
use crate::model::{Addr, NO_BLOCK, NO_TIME, Pseudo, TxHash, flags, sub};
use crate::store::builder::{Builder, InputRow, MemoRow};
use std::collections::HashMap;
use std::path::Path;

const COINBASE_TXID: TxHash = [0u8; 32];

#[derive(Clone, Copy, Debug)]
struct TxRow {
    block: u64,
    time: i64,
    index: Option<u32>,
    coinbase: bool,
}

#[derive(Clone, Debug)]
struct OutRow {
    tx: TxHash,
    index: u32,
    value: u64,
    to: Addr,
    memo: Option<Vec<u8>>,
}

#[derive(Clone, Debug)]
struct InRow {
    tx: TxHash,
    index: u32,
    spent_tx: TxHash,
    spent_vout: u32,
    value: Option<u64>,
    addr: Option<Addr>,
}

/// Rows of the flat trio, joined once every file of the ingest is read.
#[derive(Default)]
pub struct BitcoinBatch {
    txs: HashMap<TxHash, TxRow>,
    outputs: Vec<OutRow>,
    inputs: Vec<InRow>,
    last: (Vec<TxHash>, usize, usize),
}

fn txid(field: &str, t: &[u8]) -> Result<TxHash, FieldError> {
    crate::model::text::hex_fixed::<32>(field, t, "txid")
}

fn output_address(addr: &[u8], script_type: &[u8], script_hex: &[u8]) -> Addr {
    let a = addr.trim_ascii();
    if script_type.trim_ascii() == b"nulldata" {
        return Addr::Pseudo(Pseudo::Unspendable);
    }
    if a.is_empty() {
        let s = script_hex.trim_ascii();
        if s.starts_with(b"6a") {
            return Addr::Pseudo(Pseudo::Unspendable);
        }
        if !s.is_empty() {
            return Addr::Text(format!("script:{}", String::from_utf8_lossy(s)).into());
        }
        return Addr::Pseudo(Pseudo::Unknown);
    }
    Addr::Text(String::from_utf8_lossy(a).into())
}

/// The memo of an output: the data its script pushes after `OP_RETURN`
/// (`convert::memo`). A script that is not hex is bad input; one that
/// pushes nothing readable after `OP_RETURN` (as a chain may hold) has no
/// memo.
fn output_memo(field: &str, script_hex: &[u8]) -> Result<Option<Vec<u8>>, FieldError> {
    let s = script_hex.trim_ascii();
    if !s.get(..2).is_some_and(|op| op.eq_ignore_ascii_case(b"6a")) {
        return Ok(None);
    }
    let script = hex::decode(s).map_err(|e| FieldError::new(field, format!("malformed hex: {e}")))?;
    // An empty push says nothing a bridge could match.
    Ok(crate::convert::memo::op_return_data(&script).filter(|d| !d.is_empty()))
}

fn sats(field: &str, t: &[u8]) -> Result<u64, FieldError> {
    let a = Amount::parse_base(t).map_err(|e| FieldError::new(field, e.to_string()))?;
    a.to_u128()
        .and_then(|v| u64::try_from(v).ok())
        .ok_or_else(|| FieldError::new(field, format!("{} satoshi is more than any Bitcoin amount", show(t))))
}

#[derive(serde::Deserialize)]
struct JsonTx {
    /// `transaction` in what bitcoin-etl's `stream` prints, which mixes
    /// `block` items in; absent in what `export_blocks_and_transactions`
    /// writes.
    #[serde(rename = "type")]
    kind: Option<String>,
    hash: String,
    block_number: Option<u64>,
    block_timestamp: Option<serde_json::Value>,
    index: Option<u32>,
    #[serde(default)]
    is_coinbase: bool,
    #[serde(default)]
    inputs: Vec<JsonIn>,
    #[serde(default)]
    outputs: Vec<JsonOut>,
}

#[derive(serde::Deserialize)]
struct JsonIn {
    index: u32,
    spent_transaction_hash: Option<String>,
    spent_output_index: Option<u64>,
    #[serde(default)]
    addresses: Option<Vec<String>>,
    value: Option<serde_json::Value>,
}

#[derive(serde::Deserialize)]
struct JsonOut {
    index: u32,
    #[serde(default)]
    addresses: Option<Vec<String>>,
    #[serde(rename = "type")]
    kind: Option<String>,
    script_hex: Option<String>,
    value: Option<serde_json::Value>,
}

fn json_num(v: &Option<serde_json::Value>) -> Vec<u8> {
    match v {
        None | Some(serde_json::Value::Null) => Vec::new(),
        Some(serde_json::Value::String(s)) => s.as_bytes().to_vec(),
        Some(o) => o.to_string().into_bytes(),
    }
}

fn join_addresses(a: &Option<Vec<String>>) -> Vec<u8> {
    a.as_ref().map(|v| v.join("+").into_bytes()).unwrap_or_default()
}

impl BitcoinBatch {
    /// Read one Bitcoin file: JSON lines go straight into the builder, trio
    /// files wait for [`BitcoinBatch::finish`].
    pub fn read(&mut self, path: &Path, b: &mut Builder, opts: &Options) -> Result<(FileReport, String), IngestError> {
        self.last = (Vec::new(), self.outputs.len(), self.inputs.len());
        let json = super::is_json_lines(path)?;
        let mut reader = CsvReader::open_as(path, !json)?;
        let header = reader.header.clone();
        let table = if json { "etl/bitcoin-json" } else { self.trio_table(path, &header)? };
        let (mut rows, mut skipped, mut events) = (0u64, 0u64, 0u64);
        let pb = super::progress_bar(opts.progress, reader.size, &path.display().to_string());
        while let Some((block, line)) = reader.next_block()? {
            let mut fields = Vec::new();
            for (rec, line) in super::csv::records_as(block, line, !json) {
                rows += 1;
                let res = if json {
                    match serde_json::from_slice::<JsonTx>(rec) {
                        Err(e) => Err(FieldError::new("(json)", format!("not a blockchain-etl Bitcoin transaction: {e}"))),
                        // A stream's block items carry nothing to trace
                        // (the transactions name their block), as the
                        // Ethereum reader ignores them.
                        Ok(t) if t.kind.as_deref().is_some_and(|k| k != "transaction") => Ok(()),
                        Ok(t) => self.json_tx(t, b).map(|n| events += n),
                    }
                } else {
                    super::csv::split_row(rec, &header, &mut fields).and_then(|()| self.trio_row(table, &header, &Row { fields: &fields }))
                };
                if let Err(e) = res {
                    if opts.skip_bad_rows {
                        skipped += 1;
                    } else {
                        return Err(IngestError::row(path, line, e));
                    }
                }
            }
            drop(fields);
            if let Some(pb) = &pb {
                pb.set_position(reader.bytes_read);
            }
        }
        Ok((FileReport::new(path, table, rows, events, skipped, reader.bytes_read), reader.content_hash()))
    }

    /// Rows of a trio table given as header + rows (Parquet uses this).
    pub fn trio_rows<'a>(
        &mut self,
        path: &Path,
        header: &Header,
        rows: impl Iterator<Item = (u64, Row<'a>)>,
        skip: bool,
    ) -> Result<(String, u64, u64), IngestError> {
        self.last = (Vec::new(), self.outputs.len(), self.inputs.len());
        let table = self.trio_table(path, header)?;
        let (mut n, mut skipped) = (0, 0);
        for (line, r) in rows {
            n += 1;
            if let Err(e) = self.trio_row(table, header, &r) {
                if skip {
                    skipped += 1;
                } else {
                    return Err(IngestError::row(path, line, e));
                }
            }
        }
        Ok((table.to_string(), n, skipped))
    }

    fn trio_table(&self, path: &Path, h: &Header) -> Result<&'static str, IngestError> {
        if h.idx_any(&["spent_txid", "spent_transaction_hash"]).is_some() {
            Ok("bitcoin/inputs")
        } else if h.idx_any(&["value_sats", "value"]).is_some()
            && h.idx_any(&["output_index", "index"]).is_some()
            && h.idx_any(&["address", "addresses"]).is_some()
        {
            Ok("bitcoin/outputs")
        } else if h.idx_any(&["txid", "hash"]).is_some() && h.idx("block_number").is_some() {
            Ok("bitcoin/transactions")
        } else {
            Err(IngestError::file(
                path,
                format!(
                    "wrong column set for Bitcoin: found {}; expected blockchain-etl JSON lines, or the trio transactions (txid,block_number,block_timestamp_unix,index_in_block,is_coinbase), inputs (txid,input_index,spent_txid,spent_output_index) and outputs (txid,output_index,value_sats,script_type,address)",
                    h.names.join(",")
                ),
            ))
        }
    }

    fn trio_row(&mut self, table: &str, h: &Header, r: &Row<'_>) -> Result<(), FieldError> {
        let g = |names: &[&str]| r.get(h.idx_any(names));
        match table {
            "bitcoin/transactions" => {
                let tx = txid("txid", g(&["txid", "hash", "transaction_hash"]))?;
                let block = opt_u64("block_number", g(&["block_number"]))?;
                let time = crate::model::text::opt_time("block_timestamp", g(&["block_timestamp_unix", "block_timestamp"]))?;
                if block.is_none() && time.is_none() {
                    return Err(FieldError::new("block_number", "empty: each row needs a block number or a block time"));
                }
                let index = crate::model::text::opt_index("index_in_block", g(&["index_in_block", "index"]))?;
                let coinbase = matches!(g(&["is_coinbase"]).trim_ascii(), b"1" | b"true" | b"True" | b"TRUE");
                if self.txs.insert(tx, TxRow { block: block.unwrap_or(NO_BLOCK), time: time.unwrap_or(NO_TIME), index, coinbase }).is_none()
                {
                    self.last.0.push(tx);
                }
            }
            "bitcoin/outputs" => {
                let tx = txid("txid", g(&["txid", "transaction_hash"]))?;
                let index = crate::model::text::opt_index("output_index", g(&["output_index", "index"]))?
                    .ok_or_else(|| FieldError::new("output_index", "empty"))?;
                let value = sats("value_sats", g(&["value_sats", "value"]))?;
                let script = g(&["script_pubkey_hex", "script_hex"]);
                let to = output_address(g(&["address", "addresses"]), g(&["script_type", "type"]), script);
                let memo = output_memo(if h.idx("script_pubkey_hex").is_some() { "script_pubkey_hex" } else { "script_hex" }, script)?;
                self.outputs.push(OutRow { tx, index, value, to, memo });
            }
            _ => {
                let tx = txid("txid", g(&["txid", "transaction_hash"]))?;
                let index = crate::model::text::opt_index("input_index", g(&["input_index", "index"]))?
                    .ok_or_else(|| FieldError::new("input_index", "empty"))?;
                let spent_tx = txid("spent_txid", g(&["spent_txid", "spent_transaction_hash"]))?;
                let vout = opt_u64("spent_output_index", g(&["spent_output_index"]))?.unwrap_or(u64::from(u32::MAX));
                if spent_tx == COINBASE_TXID {
                    return Ok(());
                }
                let vout = u32::try_from(vout).map_err(|_| FieldError::new("spent_output_index", "out of range"))?;
                let value = match g(&["value", "value_sats"]).trim_ascii() {
                    b"" | b"null" => None,
                    t => Some(sats("value", t)?),
                };
                let addr = match g(&["address", "addresses"]).trim_ascii() {
                    b"" => None,
                    a => Some(Addr::Text(String::from_utf8_lossy(a).into())),
                };
                self.inputs.push(InRow { tx, index, spent_tx, spent_vout: vout, value, addr });
            }
        }
        Ok(())
    }

    fn json_tx(&mut self, t: JsonTx, b: &mut Builder) -> Result<u64, FieldError> {
        let hash = txid("hash", t.hash.as_bytes())?;
        let time = match &t.block_timestamp {
            None | Some(serde_json::Value::Null) => None,
            v => crate::model::text::opt_time("block_timestamp", &json_num(v))?,
        };
        if t.block_number.is_none() && time.is_none() {
            return Err(FieldError::new("block_number", "empty: each row needs a block number or a block time"));
        }
        // Indexes as the trio reads them.
        let index = |field: &str, i: u32| crate::model::text::index(field, u64::from(i));
        let tx_index = t.index.map(|i| index("index", i)).transpose()?;
        let row =
            TxRow { block: t.block_number.unwrap_or(NO_BLOCK), time: time.unwrap_or(NO_TIME), index: tx_index, coinbase: t.is_coinbase };
        // The whole transaction is read before anything of it reaches the
        // builder: a bad field leaves none of it behind (`--skip-bad-rows`
        // then skips it whole, ids included).
        let mut outs = Vec::with_capacity(t.outputs.len());
        for o in &t.outputs {
            let value = sats("outputs.value", &json_num(&o.value))?;
            let script = o.script_hex.as_deref().unwrap_or("").as_bytes();
            let to = output_address(&join_addresses(&o.addresses), o.kind.as_deref().unwrap_or("").as_bytes(), script);
            outs.push((index("outputs.index", o.index)?, value, to, output_memo("outputs.script_hex", script)?));
        }
        let mut ins = Vec::with_capacity(t.inputs.len());
        for i in &t.inputs {
            let Some(spent) = &i.spent_transaction_hash else { continue };
            let spent = txid("inputs.spent_transaction_hash", spent.as_bytes())?;
            if spent == COINBASE_TXID {
                continue;
            }
            let vout = i.spent_output_index.unwrap_or(0);
            let vout = u32::try_from(vout).map_err(|_| FieldError::new("inputs.spent_output_index", "out of range"))?;
            let value = match json_num(&i.value) {
                v if v.is_empty() => u64::MAX,
                v => sats("inputs.value", &v)?,
            };
            ins.push((index("inputs.index", i.index)?, spent, vout, value, join_addresses(&i.addresses)));
        }
        let txid_id = b.intern_tx(&hash);
        let mut n = 0;
        for (index, value, to, memo) in outs {
            push_output(b, &row, txid_id, index, value, &to);
            if let Some(data) = memo {
                b.memos.push(MemoRow { tx: txid_id.get(), vout: index, data });
            }
            n += 1;
        }
        for (index, spent, vout, value, addr) in ins {
            let addr = if addr.is_empty() { u32::MAX } else { b.intern_addr(&Addr::Text(String::from_utf8_lossy(&addr).into())).get() };
            let spent_tx = b.intern_tx(&spent);
            b.inputs.push(InputRow { tx: txid_id.get(), index, spent_tx: spent_tx.get(), spent_vout: vout, value, addr });
        }
        Ok(n)
    }

    /// Undo the last file's trio rows (it was loaded before).
    pub fn rollback(&mut self) {
        let (keys, o, i) = std::mem::take(&mut self.last);
        for k in keys {
            self.txs.remove(&k);
        }
        self.outputs.truncate(o);
        self.inputs.truncate(i);
    }

    /// Join the trio and add its events and inputs to the builder; returns
    /// the number of events added.
    pub fn finish(&mut self, b: &mut Builder, dir: &Path) -> Result<u64, IngestError> {
        if self.outputs.is_empty() && self.inputs.is_empty() {
            return Ok(0);
        }
        let outputs = std::mem::take(&mut self.outputs);
        for o in &outputs {
            let Some(row) = self.txs.get(&o.tx) else {
                return Err(IngestError::File {
                    file: dir.to_path_buf(),
                    message: format!(
                        "output {}:{} has no row in the transactions file: give transactions, inputs and outputs in one ingest",
                        hex::encode(o.tx),
                        o.index
                    ),
                });
            };
            let id = b.intern_tx(&o.tx);
            push_output(b, &row.clone(), id, o.index, o.value, &o.to);
            if let Some(data) = &o.memo {
                b.memos.push(MemoRow { tx: id.get(), vout: o.index, data: data.clone() });
            }
        }
        for i in std::mem::take(&mut self.inputs) {
            let tx = b.intern_tx(&i.tx);
            let spent_tx = b.intern_tx(&i.spent_tx);
            let addr = i.addr.as_ref().map_or(u32::MAX, |a| b.intern_addr(a).get());
            b.inputs.push(InputRow {
                tx: tx.get(),
                index: i.index,
                spent_tx: spent_tx.get(),
                spent_vout: i.spent_vout,
                value: i.value.unwrap_or(u64::MAX),
                addr,
            });
        }
        Ok(outputs.len() as u64)
    }
}

fn push_output(b: &mut Builder, row: &TxRow, tx: TxId, index: u32, value: u64, to: &Addr) {
    let from = if row.coinbase { Pseudo::Mint.addr() } else { Pseudo::Unknown.addr() };
    let to = b.intern_addr(to);
    let fl = if row.coinbase { flags::MINT } else { 0 };
    let tx_index = row.index.map_or(0, |i| i + 1);
    debug_assert!(tx != TxId::NONE);
    b.push(
        row.block,
        row.time,
        tx_index,
        sub::TOP | index.min(sub::MAX_INDEX),
        from,
        to,
        AssetId::from_stored(0),
        Amount::from_u128(u128::from(value)),
        tx,
        fl,
    );
}
