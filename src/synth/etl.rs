//! The world as blockchain-etl exports: `transactions.csv` (with receipt
//! columns, so fees are modelled), `traces.csv`, `token_transfers.csv`, and
//! a `labels.csv` for `chaintrace labels import`. Streamed row by row.

use super::world::{Leg, Params, Who, World, exchange_name};
use super::{Rng, put_hex, put_u128};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// blockchain-etl `transactions` with its receipt columns.
pub const TRANSACTIONS_HEADER: &str = "hash,nonce,block_hash,block_number,transaction_index,from_address,to_address,value,gas,gas_price,input,block_timestamp,max_fee_per_gas,max_priority_fee_per_gas,transaction_type,receipt_cumulative_gas_used,receipt_gas_used,receipt_contract_address,receipt_root,receipt_status,receipt_effective_gas_price";
/// blockchain-etl `traces`.
pub const TRACES_HEADER: &str = "transaction_hash,transaction_index,from_address,to_address,value,input,output,trace_type,call_type,reward_type,gas,gas_used,subtraces,trace_address,error,status,block_timestamp,block_number,block_hash,trace_id";
/// blockchain-etl `token_transfers`.
pub const TOKEN_TRANSFERS_HEADER: &str =
    "token_address,from_address,to_address,value,transaction_hash,log_index,block_timestamp,block_number,block_hash";

/// What [`write_world_etl`] wrote.
#[derive(Clone, Debug)]
pub struct WorldFiles {
    /// `transactions.csv`, `traces.csv`, `token_transfers.csv`, `labels.csv`.
    pub files: Vec<PathBuf>,
    /// Bytes written, all files.
    pub bytes: u64,
    /// Transactions.
    pub transactions: u64,
    /// Events a store of these files holds (top calls, legs, fees).
    pub events: u64,
    /// The exploiter's address: the seed of the hack.
    pub exploiter: String,
}

/// One output file: a buffer flushed in 1 MiB writes.
struct Out {
    w: io::BufWriter<std::fs::File>,
    buf: Vec<u8>,
    bytes: u64,
}

impl Out {
    fn create(path: &Path, header: &str) -> io::Result<Out> {
        let mut o =
            Out { w: io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?), buf: Vec::with_capacity(1 << 20), bytes: 0 };
        o.buf.extend_from_slice(header.as_bytes());
        o.buf.push(b'\n');
        Ok(o)
    }
    fn row_done(&mut self) -> io::Result<()> {
        self.buf.push(b'\n');
        if self.buf.len() > (1 << 20) - 4096 {
            self.flush_buf()?;
        }
        Ok(())
    }
    fn flush_buf(&mut self) -> io::Result<()> {
        self.w.write_all(&self.buf)?;
        self.bytes += self.buf.len() as u64;
        self.buf.clear();
        Ok(())
    }
    fn finish(mut self) -> io::Result<u64> {
        self.flush_buf()?;
        self.w.flush()?;
        self.w.get_ref().sync_all()?;
        Ok(self.bytes)
    }
}

/// `block_timestamp,block_number,block_hash`, the tail of trace and log rows.
fn put_block(o: &mut Vec<u8>, time: i64, block: u64, hash: &[u8; 32]) {
    put_u128(o, u128::try_from(time).unwrap_or(0));
    o.push(b',');
    put_u128(o, u128::from(block));
    o.push(b',');
    put_hex(o, hash);
}

fn block_hash(seed: u64, block: u64) -> [u8; 32] {
    let mut r = Rng::new(seed ^ 0xB10C_0000_0000 ^ block.wrapping_mul(0x2545_F491_4F6C_DD1D));
    let mut h = [0u8; 32];
    for c in h.chunks_mut(8) {
        c.copy_from_slice(&r.next_u64().to_le_bytes());
    }
    h
}

/// Write a world of `params` into `dir` as blockchain-etl CSV exports plus
/// its labels. Nothing is held in memory but the world's own queues.
pub fn write_world_etl(dir: &Path, params: Params) -> io::Result<WorldFiles> {
    write_world_etl_part(dir, params, 0..u64::MAX)
}

/// Like [`write_world_etl`], but only the blocks whose first event falls
/// in `window` (events counted from the start of the world): the world in
/// parts, each ingested after the one before, when the whole would not fit
/// the disk. The parts of one world concatenate to the whole, and each
/// part's blocks all come after the last one's, as new blocks do (so each
/// ingest of a part is an append).
pub fn write_world_etl_part(dir: &Path, params: Params, window: std::ops::Range<u64>) -> io::Result<WorldFiles> {
    std::fs::create_dir_all(dir)?;
    let seed = params.seed;
    let mut w = World::new(params);
    let paths: Vec<PathBuf> = ["transactions.csv", "traces.csv", "token_transfers.csv", "labels.csv"].iter().map(|f| dir.join(f)).collect();
    let mut txs = Out::create(&paths[0], TRANSACTIONS_HEADER)?;
    let mut traces = Out::create(&paths[1], TRACES_HEADER)?;
    let mut logs = Out::create(&paths[2], TOKEN_TRANSFERS_HEADER)?;
    let (mut transactions, mut events) = (0u64, 0u64);
    let (mut cur_block, mut bhash, mut log_index, mut cumulative) = (u64::MAX, [0u8; 32], 0u64, 0u64);
    let mut calldata = Vec::new();
    let mut before = 0u64;
    let mut block_first = 0u64;
    // Deposit addresses that received something: the truth the deposit
    // detector is measured against.
    let mut deposits: std::collections::BTreeSet<(u64, u64)> = std::collections::BTreeSet::new();
    while w.advance() {
        let t = w.tx();
        let first = before;
        before += t.events();
        if t.block != cur_block {
            (cur_block, bhash, log_index, cumulative) = (t.block, block_hash(seed, t.block), 0, 0);
            block_first = first;
        }
        if !window.contains(&block_first) {
            // Block-wide counters go on as if the row were written.
            cumulative += t.gas;
            log_index += t.legs.iter().filter(|l| matches!(l.0, Leg::Token(_))).count() as u64;
            if block_first >= window.end {
                break;
            }
            continue;
        }
        transactions += 1;
        events += t.events();
        for who in std::iter::once(t.to).chain(t.legs.iter().map(|l| l.2)) {
            if let Who::Deposit(e, k) = who {
                deposits.insert((e, k));
            }
        }
        let hash = w.tx_hash(t.seq);
        let (from, to) = (w.address(t.from), w.address(t.to));
        cumulative += t.gas;
        // transactions.csv
        let o = &mut txs.buf;
        put_hex(o, &hash);
        o.extend_from_slice(b",0,");
        put_hex(o, &bhash);
        o.push(b',');
        put_u128(o, u128::from(t.block));
        o.push(b',');
        put_u128(o, u128::from(t.index));
        o.push(b',');
        put_hex(o, &from);
        o.push(b',');
        put_hex(o, &to);
        o.push(b',');
        put_u128(o, t.value);
        o.push(b',');
        put_u128(o, u128::from(t.gas + t.gas / 4));
        o.push(b',');
        put_u128(o, t.gas_price);
        o.push(b',');
        calldata.clear();
        if let Some(words) = t.call_words {
            let mut r = Rng::new(seed ^ t.seq.wrapping_mul(0x9E37_79B9_7F4A_7C15));
            calldata.resize(4 + 32 * usize::from(words), 0);
            for c in calldata.chunks_mut(8) {
                let x = r.next_u64().to_le_bytes();
                c.copy_from_slice(&x[..c.len()]);
            }
        }
        put_hex(o, &calldata);
        o.push(b',');
        put_u128(o, u128::try_from(t.time).unwrap_or(0));
        o.push(b',');
        put_u128(o, t.gas_price + 2_000_000_000);
        o.extend_from_slice(b",1000000000,2,");
        put_u128(o, u128::from(cumulative));
        o.push(b',');
        put_u128(o, u128::from(t.gas));
        o.extend_from_slice(b",,,1,");
        put_u128(o, t.gas_price);
        txs.row_done()?;
        // traces.csv: the top call, then each internal transfer.
        let mut internal = 0u32;
        let trace = |traces: &mut Out, from: &[u8; 20], to: &[u8; 20], value: u128, path: Option<u32>| -> io::Result<()> {
            let o = &mut traces.buf;
            put_hex(o, &hash);
            o.push(b',');
            put_u128(o, u128::from(t.index));
            o.push(b',');
            put_hex(o, from);
            o.push(b',');
            put_hex(o, to);
            o.push(b',');
            put_u128(o, value);
            o.extend_from_slice(b",0x,0x,call,call,,0,0,0,");
            if let Some(p) = path {
                put_u128(o, u128::from(p));
            }
            o.extend_from_slice(b",,1,");
            put_block(o, t.time, t.block, &bhash);
            o.extend_from_slice(b",call_");
            put_hex(o, &hash);
            o.push(b'_');
            match path {
                Some(p) => put_u128(o, u128::from(p)),
                None => o.extend_from_slice(b"top"),
            }
            traces.row_done()
        };
        trace(&mut traces, &from, &to, t.value, None)?;
        for &(leg, f, r, v) in &t.legs {
            let (f, r) = (w.address(f), w.address(r));
            match leg {
                Leg::Internal => {
                    trace(&mut traces, &f, &r, v, Some(internal))?;
                    internal += 1;
                }
                Leg::Token(tk) => {
                    let o = &mut logs.buf;
                    put_hex(o, &w.address(Who::Token(tk)));
                    o.push(b',');
                    put_hex(o, &f);
                    o.push(b',');
                    put_hex(o, &r);
                    o.push(b',');
                    put_u128(o, v);
                    o.push(b',');
                    put_hex(o, &hash);
                    o.push(b',');
                    put_u128(o, u128::from(log_index));
                    o.push(b',');
                    put_block(o, t.time, t.block, &bhash);
                    logs.row_done()?;
                    log_index += 1;
                }
            }
        }
    }
    let mut labels = Out::create(&paths[3], "address,category,label")?;
    for (who, category, label) in w.labels() {
        let o = &mut labels.buf;
        put_hex(o, &w.address(who));
        o.push(b',');
        o.extend_from_slice(category.as_bytes());
        o.push(b',');
        o.extend_from_slice(label.as_bytes());
        labels.row_done()?;
    }
    let mut truth = Out::create(&dir.join("deposits_truth.csv"), "address,entity")?;
    for (e, k) in deposits {
        let o = &mut truth.buf;
        put_hex(o, &w.address(Who::Deposit(e, k)));
        o.push(b',');
        o.extend_from_slice(exchange_name(e).as_bytes());
        truth.row_done()?;
    }
    let mut bytes = 0;
    for o in [txs, traces, logs, labels, truth] {
        bytes += o.finish()?;
    }
    Ok(WorldFiles { files: paths, bytes, transactions, events, exploiter: format!("0x{}", hex::encode(w.address(Who::Exploiter))) })
}
