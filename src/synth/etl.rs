//! The world as blockchain-etl exports: `transactions.csv` (with receipt
//! columns, so fees are modelled), `traces.csv`, `token_transfers.csv`,
//! `logs.csv` (the swap and WETH logs), a `labels.csv` for `chaintrace
//! labels import`, and the truth the world was made with. Streamed row by row.

use super::world::{Asset, Leg, Log, Params, Truth, Who, World, exchange_name};
use super::{Rng, put_hex, put_u128};
use crate::convert::topics::{Kind, RECOGNISED, Venue};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// blockchain-etl `transactions` with its receipt columns.
pub const TRANSACTIONS_HEADER: &str = "hash,nonce,block_hash,block_number,transaction_index,from_address,to_address,value,gas,gas_price,input,block_timestamp,max_fee_per_gas,max_priority_fee_per_gas,transaction_type,receipt_cumulative_gas_used,receipt_gas_used,receipt_contract_address,receipt_root,receipt_status,receipt_effective_gas_price";
/// blockchain-etl `traces`.
pub const TRACES_HEADER: &str = "transaction_hash,transaction_index,from_address,to_address,value,input,output,trace_type,call_type,reward_type,gas,gas_used,subtraces,trace_address,error,status,block_timestamp,block_number,block_hash,trace_id";
/// blockchain-etl `token_transfers`.
pub const TOKEN_TRANSFERS_HEADER: &str =
    "token_address,from_address,to_address,value,transaction_hash,log_index,block_timestamp,block_number,block_hash";

/// blockchain-etl `logs` (`export_receipts_and_logs`).
pub const LOGS_HEADER: &str = "log_index,transaction_hash,transaction_index,block_hash,block_number,address,data,topics";
/// The hack's laundering swaps, one a row (`swaps_truth.csv`).
pub const SWAPS_TRUTH_HEADER: &str = "transaction_hash,block_number,path,payer,payee,asset_in,amount_in,asset_out,amount_out";
/// The swapped value's payments into planted destinations, one a row
/// (`swap_destinations_truth.csv`).
pub const DESTINATIONS_TRUTH_HEADER: &str = "transaction_hash,block_number,path,from_address,to_address,destination,category,value";

/// What [`write_world_etl`] wrote.
#[derive(Clone, Debug)]
pub struct WorldFiles {
    /// `transactions.csv`, `traces.csv`, `token_transfers.csv`, `labels.csv`
    /// and `logs.csv`: the first three and the last are what `chaintrace
    /// ingest --format etl` reads, the fourth is for `labels import`
    /// (kept fourth so that callers from before `logs.csv` still find it).
    pub files: Vec<PathBuf>,
    /// `swaps_truth.csv` and `swap_destinations_truth.csv`: the truth of the
    /// hack's swap laundering (`datasets/synthetic/README.md`).
    pub truth: Vec<PathBuf>,
    /// Bytes written, all files.
    pub bytes: u64,
    /// Transactions.
    pub transactions: u64,
    /// Events a store of these files holds (top calls, legs, fees).
    pub events: u64,
    /// The exploiter's address: the seed of the hack.
    pub exploiter: String,
}

impl WorldFiles {
    /// The blockchain-etl exports, for `chaintrace ingest --format etl`:
    /// transactions, traces, token transfers and logs.
    pub fn exports(&self) -> Vec<PathBuf> {
        let mut v = self.files[..3].to_vec();
        v.push(self.files[4].clone());
        v
    }
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

/// A 32-byte big-endian word holding `v`.
fn put_word(o: &mut Vec<u8>, v: u128) {
    for _ in 0..32 {
        o.extend_from_slice(b"00");
    }
    let hex = format!("{v:x}");
    let at = o.len() - hex.len();
    o[at..].copy_from_slice(hex.as_bytes());
}

/// `-v` as a 32-byte two's-complement word (Uniswap V3's amount paid out).
fn put_negative_word(o: &mut Vec<u8>, v: u128) {
    let high: &[u8] = if v == 0 { b"00" } else { b"ff" };
    for _ in 0..16 {
        o.extend_from_slice(high);
    }
    o.extend_from_slice(format!("{:032x}", v.wrapping_neg()).as_bytes());
}

/// One `logs.csv` row: the event's data words and indexed topics as the
/// real contracts write them, amounts included.
/// `at` is the transaction's hash, index, block number and block hash.
fn put_log(o: &mut Vec<u8>, w: &World, l: &Log, log_index: u64, at: (&[u8; 32], u32, u64, &[u8; 32])) {
    let (hash, tx_index, block, bhash) = at;
    put_u128(o, u128::from(log_index));
    o.push(b',');
    put_hex(o, hash);
    o.push(b',');
    put_u128(o, u128::from(tx_index));
    o.push(b',');
    put_hex(o, bhash);
    o.push(b',');
    put_u128(o, u128::from(block));
    o.push(b',');
    put_hex(o, &w.address(l.emitter));
    o.extend_from_slice(b",0x");
    let indexed: &[Who] = match l.kind {
        Kind::Swap(Venue::UniswapV2) => {
            // amount0In, amount1In, amount0Out, amount1Out: the asset in as token 0.
            for v in [l.amount_in, 0, 0, l.amount_out] {
                put_word(o, v);
            }
            &[l.sender, l.recipient]
        }
        Kind::Swap(Venue::UniswapV3) => {
            // amount0, amount1 (negative: paid out), sqrtPriceX96, liquidity, tick.
            put_word(o, l.amount_in);
            put_negative_word(o, l.amount_out);
            for v in [1u128 << 96, 1 << 80, 0] {
                put_word(o, v);
            }
            &[l.sender, l.recipient]
        }
        Kind::Swap(_) => {
            // Curve's sold_id, tokens_sold, bought_id, tokens_bought.
            for v in [u128::from(l.coins.0), l.amount_in, u128::from(l.coins.1), l.amount_out] {
                put_word(o, v);
            }
            &[l.sender]
        }
        Kind::Wrap | Kind::Unwrap => {
            put_word(o, l.amount_in);
            &[l.sender]
        }
        Kind::ThorDeposit | Kind::ThorTransferOut => {
            // The world makes none; written as THORChain's router would,
            // ether with an empty memo: TransferOut's asset (zero), the
            // amount, the memo's offset and its zero length.
            let out = l.kind == Kind::ThorTransferOut;
            if out {
                put_word(o, 0);
            }
            for v in [l.amount_in, if out { 96 } else { 64 }, 0] {
                put_word(o, v);
            }
            // Deposit's `to` (the vault); TransferOut's vault and `to`.
            if out { &[l.sender, l.recipient] } else { &[l.recipient] }
        }
        Kind::AvalancheMint
        | Kind::WormholeMessage
        | Kind::WormholeRedeemed
        | Kind::RoninDeposit
        | Kind::RoninWithdrawal
        | Kind::RenBurn => {
            unreachable!("the generated world makes no bridge logs")
        }
    };
    let topic = RECOGNISED.iter().find(|r| r.kind == l.kind).expect("the world writes recognised logs").topic;
    o.extend_from_slice(b",\"");
    put_hex(o, &topic);
    for &who in indexed {
        o.extend_from_slice(b",0x000000000000000000000000");
        o.extend_from_slice(hex::encode(w.address(who)).as_bytes());
    }
    o.push(b'"');
}

/// An asset as a store names it: `ETH`, or the token's address.
/// The columns both truth files start with: `transaction_hash,block_number,path,`.
fn put_truth_key(o: &mut Vec<u8>, hash: &[u8; 32], block: u64, path: &str) {
    put_hex(o, hash);
    o.push(b',');
    put_u128(o, u128::from(block));
    o.push(b',');
    o.extend_from_slice(path.as_bytes());
    o.push(b',');
}

fn put_asset(o: &mut Vec<u8>, w: &World, a: Asset) {
    match a {
        Asset::Eth => o.extend_from_slice(b"ETH"),
        Asset::Token(t) => put_hex(o, &w.address(Who::Token(t))),
    }
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
    let paths: Vec<PathBuf> =
        ["transactions.csv", "traces.csv", "token_transfers.csv", "labels.csv", "logs.csv"].iter().map(|f| dir.join(f)).collect();
    let truth_paths: Vec<PathBuf> = ["swaps_truth.csv", "swap_destinations_truth.csv"].iter().map(|f| dir.join(f)).collect();
    let mut txs = Out::create(&paths[0], TRANSACTIONS_HEADER)?;
    let mut traces = Out::create(&paths[1], TRACES_HEADER)?;
    let mut logs = Out::create(&paths[2], TOKEN_TRANSFERS_HEADER)?;
    let mut other_logs = Out::create(&paths[4], LOGS_HEADER)?;
    let mut swaps_truth = Out::create(&truth_paths[0], SWAPS_TRUTH_HEADER)?;
    let mut destinations_truth = Out::create(&truth_paths[1], DESTINATIONS_TRUTH_HEADER)?;
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
            log_index += (t.legs.iter().filter(|l| matches!(l.0, Leg::Token(_))).count() + t.logs.len()) as u64;
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
        // The other logs interleave with the token transfers by when they
        // are emitted: one log index order for the block.
        let mut pending_logs = t.logs.iter().peekable();
        for (k, &(leg, f, r, v)) in t.legs.iter().enumerate() {
            while let Some(l) = pending_logs.next_if(|l| usize::from(l.after) <= k) {
                put_log(&mut other_logs.buf, &w, l, log_index, (&hash, t.index, t.block, &bhash));
                other_logs.row_done()?;
                log_index += 1;
            }
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
        for l in pending_logs {
            put_log(&mut other_logs.buf, &w, l, log_index, (&hash, t.index, t.block, &bhash));
            other_logs.row_done()?;
            log_index += 1;
        }
        match t.truth {
            Truth::None => {}
            Truth::Swap { path, payer, sold, payee, bought } => {
                let o = &mut swaps_truth.buf;
                put_truth_key(o, &hash, t.block, path.name());
                put_hex(o, &w.address(payer));
                o.push(b',');
                put_hex(o, &w.address(payee));
                o.push(b',');
                put_asset(o, &w, sold.0);
                o.push(b',');
                put_u128(o, sold.1);
                o.push(b',');
                put_asset(o, &w, bought.0);
                o.push(b',');
                put_u128(o, bought.1);
                swaps_truth.row_done()?;
            }
            Truth::Delivery { path, service } => {
                let o = &mut destinations_truth.buf;
                put_truth_key(o, &hash, t.block, path.name());
                put_hex(o, &from);
                o.push(b',');
                put_hex(o, &to);
                o.push(b',');
                put_hex(o, &w.address(service));
                o.extend_from_slice(if matches!(service, Who::Pool(_)) { b",mixer," } else { b",exchange," });
                put_u128(o, t.value);
                destinations_truth.row_done()?;
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
    for o in [txs, traces, logs, other_logs, labels, truth, swaps_truth, destinations_truth] {
        bytes += o.finish()?;
    }
    Ok(WorldFiles {
        files: paths,
        truth: truth_paths,
        bytes,
        transactions,
        events,
        exploiter: format!("0x{}", hex::encode(w.address(Who::Exploiter))),
    })
}
