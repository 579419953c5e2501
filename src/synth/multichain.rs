//! A generated world on three chains (issue 16): Ethereum and Base as
//! blockchain-etl CSV ([`super::etl::write_world_etl`], one world each),
//! Bitcoin as bitcoin-etl JSON lines, with laundering across bridges
//! planted in blocks after each world's last one, and the truth beside it
//! (`truth.json`). `datasets/synthetic/README.md` describes the world.
//!
//! The planted funds all start at the Ethereum world's exploiter, a seed,
//! and pass only through fresh addresses, so under haircut each planted
//! path carries its whole value tainted and the amounts the truth gives are
//! exact: floor(x * b / a) with x = a is b at every conversion, and on
//! Bitcoin every output of a fully tainted transaction is fully tainted.

use super::Rng;
use super::etl::WorldFiles;
use super::world::Params;
use crate::convert::topics::{Kind, RECOGNISED, Venue};
use serde::Serialize;
use serde_json::json;
use std::fmt::Write as _;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// THORChain's router V4.1 on Ethereum.
pub const ROUTER_ETH: &str = "0xd37bbe5744d730a1d98d8dc97c42f0ca46ad7146";
/// THORChain's router V6.1 on Base.
pub const ROUTER_BASE: &str = "0x00dc6100103bc402d490aee3f9a5560cbd91f1d4";
/// renBTC on Ethereum.
pub const RENBTC: &str = "0xeb4c2781e4eba804ce9a9803c67d0893436bb27d";
/// RenVM's BTC gateway (proxy) on Ethereum.
pub const REN_GATEWAY: &str = "0xe4b679400f0f267212d5d812b95f58c83243ee71";
/// The token the payee buys on Base (Base's USDC contract; 6 decimals).
pub const TOKEN_BASE: &str = "0x833589fcd6edb6e08f4c7c32d4f71b54bda02913";
const ZERO: &str = "0x0000000000000000000000000000000000000000";
const ETH: u128 = 1_000_000_000_000_000_000;
const BECH32: &[u8; 32] = b"qpzry9x8gf2tvdw0s3jn54khce6mua7l";

/// blockchain-etl headers of the planted rows (the columns ingest reads).
const TXS_HEAD: &str =
    "hash,block_number,block_timestamp,transaction_index,from_address,to_address,value,gas_price,receipt_gas_used,receipt_status\n";
const TRACES_HEAD: &str =
    "block_number,transaction_hash,transaction_index,from_address,to_address,value,trace_type,call_type,trace_address,status\n";
const TOKENS_HEAD: &str =
    "token_address,from_address,to_address,value,transaction_hash,log_index,block_number,block_timestamp,transaction_index\n";
const LOGS_HEAD: &str = "log_index,transaction_hash,transaction_index,address,data,topics,block_number,block_timestamp\n";
const LABELS_HEAD: &str = "address,category,label\n";

/// Sizes and seeds of [`write_multichain_world`].
#[derive(Clone, Copy, Debug)]
pub struct MultiParams {
    /// Events of the Ethereum world.
    pub ethereum_events: u64,
    /// Events of the Base world.
    pub base_events: u64,
    /// Background Bitcoin transactions (coinbases and simple spends).
    pub bitcoin_txs: u64,
    /// The seed: Ethereum's world takes it, Base's `seed + 1`, the planted
    /// rows and Bitcoin's background `seed + 2`.
    pub seed: u64,
    /// Further renBTC burns by other holders, with their releases and
    /// decoys, to measure the heuristic against ([`Truth::heuristic`]; none
    /// by default, so the planted world is the same with or without).
    pub ren_cases: u64,
}

impl MultiParams {
    /// `events` a world, a few hundred Bitcoin transactions.
    pub fn new(events: u64, seed: u64) -> Self {
        MultiParams { ethereum_events: events, base_events: events, bitcoin_txs: 300, seed, ren_cases: 0 }
    }
}

/// What [`write_multichain_world`] wrote. Each chain's files are ingested in
/// the order given (a world's exports, then its planted blocks: an append),
/// each labels file imported into that chain's store.
#[derive(Clone, Debug)]
pub struct MultiWorld {
    /// `ethereum/`: the world's four exports, then `ethereum/planted/`'s.
    pub ethereum: [Vec<PathBuf>; 2],
    /// `base/` likewise (`ingest --chain base`).
    pub base: [Vec<PathBuf>; 2],
    /// `bitcoin/transactions.json` (`ingest --chain bitcoin --format etl`).
    pub bitcoin: PathBuf,
    /// Labels to import, per chain: Ethereum's world labels and the pool
    /// (`mixer`); Base's world labels and its exchange; Bitcoin's exchanges.
    pub labels: [Vec<PathBuf>; 3],
    /// The Ethereum world's exploiter: the seed.
    pub exploiter: String,
    /// `truth.json`.
    pub truth_file: PathBuf,
    /// The truth written there.
    pub truth: Truth,
}

/// The planted paths and what each delivers where (`truth.json`).
#[derive(Clone, Debug, Serialize)]
pub struct Truth {
    /// The seed.
    pub exploiter: String,
    /// The Tornado-like pool on Ethereum (labelled `mixer`).
    pub mixer: String,
    /// The planted bridge conversions, in deposit order.
    pub paths: Vec<Planted>,
    /// Where the planted value ends, per chain and asset, exact under
    /// haircut from the exploiter (`--stop-at exchange`).
    pub holders: Vec<Holder>,
    /// Exact per-asset totals of the chains that receive only planted taint
    /// (`base:ETH`, `base:<token>`, `bitcoin:BTC`), under that trace.
    pub totals: Vec<Totals>,
    /// Every renBTC burn and its true release, if the data has one: the
    /// exploiter's (path 3) and [`MultiParams::ren_cases`] more.
    pub heuristic: Vec<RenCase>,
}

/// A renBTC burn planted to test the heuristic links.
#[derive(Clone, Debug, Serialize)]
pub struct RenCase {
    /// The burn transaction on Ethereum.
    pub burn_tx: String,
    /// The Bitcoin address it names.
    pub to: String,
    /// Satoshis burned.
    pub amount: String,
    /// The release transaction on Bitcoin, where the data has it.
    pub release_tx: Option<String>,
    /// `released` (within the heuristic's window), `late` (a day and more
    /// after: outside it), `unreleased`, `unreleased-decoy` (an unrelated
    /// payment of a fitting amount reaches the address in the window) or
    /// `decoy-first` (such a payment comes before the true release).
    pub case: String,
    /// Unrelated payments to the address that the heuristic must not take:
    /// before the burn, or of an amount outside the fee allowance.
    pub harmless_decoys: u32,
}

/// One planted bridge deposit.
#[derive(Clone, Debug, Serialize)]
pub struct Planted {
    /// What the path is (`eth-mixer-thorchain-base-swap-exchange`, ...).
    pub name: String,
    /// `thorchain` or `renbridge`.
    pub bridge: String,
    /// Whether the link is exact (by the bridge's key) or heuristic.
    pub exact: bool,
    /// The status a trace gives it (`followable`, `no-payout`).
    pub status: String,
    /// The deposit (or burn) transaction on Ethereum.
    pub deposit_tx: String,
    /// The payout transaction, if any.
    pub payout_tx: Option<String>,
    /// Chains of the deposit and of the payout.
    pub chain: String,
    /// See `chain`.
    pub to_chain: String,
    /// The depositor and the payee.
    pub payer: String,
    /// See `payer`.
    pub payee: String,
    /// `CHAIN:ASSET` in and out.
    pub asset_in: String,
    /// See `asset_in`.
    pub asset_out: String,
    /// The deposit's amount and the payee's (0 without a payout).
    pub value_in: String,
    /// See `value_in`.
    pub value_out: String,
}

/// Planted value at an address at the end of the trace.
#[derive(Clone, Debug, Serialize)]
pub struct Holder {
    /// `ethereum`, `base` or `bitcoin`.
    pub chain: String,
    /// The address.
    pub address: String,
    /// `CHAIN:ASSET`.
    pub asset: String,
    /// Base units.
    pub amount: String,
    /// `destination` (with `category`) or `dormant`.
    pub role: String,
    /// The destination's category (`exchange`, `bridge`), or empty.
    pub category: String,
    /// The planted path that brings it.
    pub path: String,
}

/// Exact totals of one asset (`totals_by_asset` of the report).
#[derive(Clone, Debug, Serialize)]
pub struct Totals {
    /// `CHAIN:ASSET`.
    pub asset: String,
    /// Taint that came in by conversions.
    pub converted_in: String,
    /// Taint that left by conversions.
    pub converted_out: String,
    /// At destinations.
    pub destinations: String,
    /// With dormant holders.
    pub dormant: String,
    /// Paid as fees.
    pub fees: String,
}

/// The last block and its time in a written `transactions.csv` (block
/// number and timestamp are its 4th and 12th columns).
fn last_block(transactions: &Path) -> io::Result<(u64, i64)> {
    let mut f = std::fs::File::open(transactions)?;
    let len = f.metadata()?.len();
    f.seek(SeekFrom::Start(len.saturating_sub(8192)))?;
    let mut tail = String::new();
    f.read_to_string(&mut tail)?;
    let line = tail.lines().rev().find(|l| !l.is_empty()).ok_or_else(|| io::Error::other("no transactions"))?;
    let cols: Vec<&str> = line.split(',').collect();
    let parse = |k: usize| cols.get(k).and_then(|c| c.parse::<i64>().ok()).ok_or_else(|| io::Error::other("no block in the last row"));
    Ok((parse(3)? as u64, parse(11)?))
}

/// A fresh address of `tag` (two hex digits) and `k`.
fn eth_addr(tag: u8, k: u64) -> String {
    format!("0x{tag:02x}{:038x}", 0xa5a5_0000_0000u64 + k)
}

/// A Bitcoin address (bech32 letters, P2WPKH length) from the generator.
fn btc_addr(rng: &mut Rng) -> String {
    let mut s = String::from("bc1q");
    for _ in 0..38 {
        s.push(BECH32[rng.below(32) as usize] as char);
    }
    s
}

fn word(v: u128) -> String {
    format!("{v:064x}")
}

fn topic(a: &str) -> String {
    format!("0x{:0>64}", &a[2..])
}

/// ABI `bytes`/`string`: its length word, then its bytes padded to words.
fn abi_bytes(s: &str) -> String {
    hex::encode(crate::convert::abi::abi_tail(s.as_bytes()))
}

fn topic_of(kind: Kind) -> String {
    format!("0x{}", hex::encode(RECOGNISED.iter().find(|r| r.kind == kind).expect("a recognised kind").topic))
}

/// The planted blockchain-etl rows of one EVM chain.
#[derive(Default)]
struct Evm {
    txs: String,
    traces: String,
    tokens: String,
    logs: String,
    /// The next transaction's hash counter.
    next: u64,
    tag: u64,
}

impl Evm {
    fn new(tag: u64) -> Self {
        Evm { txs: TXS_HEAD.into(), traces: TRACES_HEAD.into(), tokens: TOKENS_HEAD.into(), logs: LOGS_HEAD.into(), next: 0, tag }
    }

    fn hash(&mut self) -> String {
        self.next += 1;
        format!("0x{:016x}{:048x}", self.tag, self.next)
    }

    /// A transaction of `value` from `from` to `to` at (block, time,
    /// index), its top call traced, no fee; then `inner` internal calls.
    fn tx(&mut self, at: (u64, i64, u32), from: &str, to: &str, value: u128, inner: &[(&str, &str, u128)]) -> String {
        let h = self.hash();
        let (b, t, i) = at;
        writeln!(self.txs, "{h},{b},{t},{i},{from},{to},{value},0,0,1").unwrap();
        writeln!(self.traces, "{b},{h},{i},{from},{to},{value},call,call,,1").unwrap();
        for (k, (f, r, v)) in inner.iter().enumerate() {
            writeln!(self.traces, "{b},{h},{i},{f},{r},{v},call,call,{k},1").unwrap();
        }
        h
    }

    /// A token transfer `(token, from, to, value)` as log `log` of `h`.
    fn token(&mut self, h: &str, at: (u64, i64, u32), log: u32, leg: (&str, &str, &str, u128)) {
        let ((b, t, i), (token, from, to, value)) = (at, leg);
        writeln!(self.tokens, "{token},{from},{to},{value},{h},{log},{b},{t},{i}").unwrap();
    }

    fn log(&mut self, h: &str, at: (u64, i64, u32), log: u32, emitter: &str, data: &str, topics: &[String]) {
        let (b, t, i) = at;
        writeln!(self.logs, "{log},{h},{i},{emitter},{data},\"{}\",{b},{t}", topics.join(",")).unwrap();
    }

    /// A THORChain router `Deposit` of `a` wei from `from` with `memo`.
    fn thor_deposit(&mut self, at: (u64, i64, u32), from: &str, vault: &str, a: u128, memo: &str) -> String {
        let h = self.tx(at, from, ROUTER_ETH, a, &[(ROUTER_ETH, vault, a)]);
        let data = format!("0x{}{}{}", word(a), word(64), abi_bytes(memo));
        self.log(&h, at, 0, ROUTER_ETH, &data, &[topic_of(Kind::ThorDeposit), topic(vault), topic(ZERO)]);
        h
    }

    fn write(&self, dir: &Path) -> io::Result<Vec<PathBuf>> {
        std::fs::create_dir_all(dir)?;
        let mut v = Vec::new();
        for (name, text) in
            [("transactions.csv", &self.txs), ("traces.csv", &self.traces), ("token_transfers.csv", &self.tokens), ("logs.csv", &self.logs)]
        {
            std::fs::write(dir.join(name), text)?;
            v.push(dir.join(name));
        }
        Ok(v)
    }
}

/// Bitcoin transactions: (block time, JSON without block fields).
#[derive(Default)]
struct Btc {
    rows: Vec<(i64, serde_json::Value)>,
    next: u64,
}

impl Btc {
    fn hash(&mut self) -> String {
        self.next += 1;
        format!("{:064x}", 0xb7c0_0000_0000_0000u64 + self.next)
    }

    /// A transaction at `time` spending `inputs` (outpoint, address,
    /// value) into `outputs` (address, value; an address starting `6a` is
    /// an `OP_RETURN` script of value 0); returns its hash.
    fn tx(&mut self, time: i64, inputs: &[((String, u32), String, u64)], outputs: &[(String, u64)]) -> String {
        let h = self.hash();
        let ins: Vec<_> = inputs
            .iter()
            .enumerate()
            .map(|(k, ((t, o), a, v))| json!({"index": k, "spent_transaction_hash": t, "spent_output_index": o, "addresses": [a], "value": v}))
            .collect();
        let outs: Vec<_> = outputs
            .iter()
            .enumerate()
            .map(|(k, (a, v))| {
                if a.starts_with("6a") {
                    json!({"index": k, "addresses": [], "value": 0, "type": "nulldata", "script_hex": a})
                } else {
                    json!({"index": k, "addresses": [a], "value": v, "type": "witness_v0_keyhash"})
                }
            })
            .collect();
        let (iv, ov): (u64, u64) = (inputs.iter().map(|i| i.2).sum(), outputs.iter().map(|o| o.1).sum());
        let coinbase = inputs.is_empty();
        let fee = if coinbase { 0 } else { iv - ov };
        let row =
            json!({"hash": h, "is_coinbase": coinbase, "inputs": ins, "outputs": outs, "input_value": iv, "output_value": ov, "fee": fee});
        self.rows.push((time, row));
        h
    }

    /// Blocks every 600 s from `t0`; each row goes into the first block not
    /// earlier than its time, in the order written.
    fn write(mut self, path: &Path, t0: i64) -> io::Result<()> {
        self.rows.sort_by_key(|r| (r.0 - t0 + 599).div_euclid(600));
        let mut text = String::new();
        let mut index = (i64::MIN, 0u64);
        for (time, mut row) in self.rows {
            let k = (time - t0 + 599).div_euclid(600);
            index = if index.0 == k { (k, index.1 + 1) } else { (k, 0) };
            row["block_number"] = json!(800_000 + k);
            row["block_timestamp"] = json!(t0 + 600 * k);
            row["index"] = json!(index.1);
            writeln!(text, "{row}").unwrap();
        }
        std::fs::write(path, text)
    }
}

fn write_labels(path: &Path, rows: &[(&str, &str, &str)]) -> io::Result<PathBuf> {
    let mut s = String::from(LABELS_HEAD);
    for (a, c, l) in rows {
        writeln!(s, "{a},{c},{l}").unwrap();
    }
    std::fs::write(path, s)?;
    Ok(path.to_path_buf())
}

/// Write the three-chain world under `dir` (see the module's docs and
/// `datasets/synthetic/README.md`): `ethereum/`, `base/` (each a world's
/// blockchain-etl exports and `planted/`), `bitcoin/transactions.json`, the
/// planted labels and `truth.json`.
///
/// Planted, after both worlds' last blocks (time `S` = the later one + 60):
/// 1. the exploiter pays a Tornado-like pool 3 x 10 ETH; the pool pays
///    three fresh addresses 10 ETH each, which pay one collector, which
///    deposits 30 ETH to THORChain for Base (`=:BASE.ETH:<payee>`); paid
///    out on Base 15 minutes later (29.85 ETH), swapped at a Uniswap V2
///    style pool for 100,000 of [`TOKEN_BASE`], sent to an exchange;
/// 2. the exploiter deposits 20 ETH for Bitcoin (`=:BTC.BTC:<addr>`), paid
///    out 30 minutes later (0.7 BTC, `OUT:` memo), then peeled in 6 hops,
///    each 2-10% to one of two exchange addresses, the rest to a fresh one;
/// 3. the exploiter receives 1 renBTC and burns it to a Bitcoin address,
///    released there 40 minutes later (a heuristic link);
/// 4. the exploiter deposits 5 ETH for Bitcoin, never paid out.
pub fn write_multichain_world(dir: &Path, p: MultiParams) -> io::Result<MultiWorld> {
    let eth: WorldFiles = super::etl::write_world_etl(&dir.join("ethereum"), Params::new(p.ethereum_events, p.seed))?;
    let base: WorldFiles = super::etl::write_world_etl(&dir.join("base"), Params::new(p.base_events, p.seed + 1))?;
    let (eb, et) = last_block(&eth.files[0])?;
    let (bb, bt) = last_block(&base.files[0])?;
    let s = et.max(bt) + 60;
    let mut rng = Rng::new(p.seed + 2);
    let x = eth.exploiter.clone();
    let (mut e, mut b, mut btc) = (Evm::new(0xe7e7), Evm::new(0xba5e), Btc::default());
    // Ethereum blocks: block eb + 1 + k at time s + 12 k.
    let at = |k: u64, i: u32| (eb + 1 + k, s + 12 * k as i64, i);
    let (pool, collector, vault) = (eth_addr(0x70, 0), eth_addr(0xc0, 0), eth_addr(0x5a, 0));
    let withdrawn: Vec<String> = (1..=3).map(|k| eth_addr(0x77, k)).collect();
    let (ren_holder, ren_fee) = (eth_addr(0x4e, 1), eth_addr(0xfe, 1));
    for i in 0..3 {
        e.tx(at(0, i), &x, &pool, 10 * ETH, &[]);
    }
    let r = e.tx(at(1, 0), &ren_holder, RENBTC, 0, &[]);
    const REN_A: u128 = 100_000_000;
    const REN_FEE: u128 = 100_000;
    e.token(&r, at(1, 0), 0, (RENBTC, &ren_holder, &x, REN_A));
    for (i, w) in withdrawn.iter().enumerate() {
        e.tx(at(50, i as u32), &pool, w, 10 * ETH, &[]);
        e.tx(at(100, i as u32), w, &collector, 10 * ETH, &[]);
    }
    // The payees.
    let payee_base = eth_addr(0xbe, 1);
    let (payee_btc, lost_btc, ren_btc) = (btc_addr(&mut rng), btc_addr(&mut rng), btc_addr(&mut rng));
    let d1 = e.thor_deposit(at(150, 0), &collector, &vault, 30 * ETH, &format!("=:BASE.ETH:{payee_base}"));
    let d2 = e.thor_deposit(at(151, 0), &x, &vault, 20 * ETH, &format!("=:BTC.BTC:{payee_btc}"));
    // The burn: the exploiter's renBTC to the zero address, the gateway's
    // fee minted back to its recipient, `LogBurn(_to, _amount)`.
    let burn_at = at(152, 0);
    let d3 = e.tx(burn_at, &x, REN_GATEWAY, 0, &[]);
    e.token(&d3, burn_at, 0, (RENBTC, &x, ZERO, REN_A));
    e.token(&d3, burn_at, 1, (RENBTC, ZERO, &ren_fee, REN_FEE));
    let burn_data = format!("0x{}{}{}", word(64), word(REN_A - REN_FEE), abi_bytes(&ren_btc));
    let burn_topics = [topic_of(Kind::RenBurn), format!("0x{}", word(1)), format!("0x{}", "ab".repeat(32))];
    e.log(&d3, burn_at, 2, REN_GATEWAY, &burn_data, &burn_topics);
    let d4 = e.thor_deposit(at(153, 0), &x, &vault, 5 * ETH, &format!("=:BTC.BTC:{lost_btc}"));
    let (d1_time, d2_time, d3_time) = (at(150, 0).1, at(151, 0).1, burn_at.1);

    // Base: the payout 15 minutes after d1, the swap an hour after, the
    // exchange deposit ten minutes later (blocks of 2 s after Base's last).
    let bat = |t: i64, i: u32| (bb + 1 + ((t - bt) / 2) as u64, t, i);
    let (vault_base, swap_pool, exchange_base) = (eth_addr(0x5b, 0), eth_addr(0xd0, 0), eth_addr(0xec, 1));
    let b1 = 29_850_000_000_000_000_000u128;
    const TOKENS_OUT: u128 = 100_000_000_000;
    let pay_at = bat(d1_time + 900, 0);
    let p1 = b.tx(pay_at, &vault_base, ROUTER_BASE, b1, &[(ROUTER_BASE, &payee_base, b1)]);
    let memo = format!("OUT:{}", d1[2..].to_uppercase());
    let data = format!("0x{}{}{}{}", word(0), word(b1), word(96), abi_bytes(&memo));
    b.log(&p1, pay_at, 0, ROUTER_BASE, &data, &[topic_of(Kind::ThorTransferOut), topic(&vault_base), topic(&payee_base)]);
    let swap_at = bat(d1_time + 3600, 0);
    let sw = b.tx(swap_at, &payee_base, &swap_pool, b1, &[]);
    b.token(&sw, swap_at, 0, (TOKEN_BASE, &swap_pool, &payee_base, TOKENS_OUT));
    let data = format!("0x{}{}{}{}", word(b1), word(0), word(0), word(TOKENS_OUT));
    b.log(&sw, swap_at, 1, &swap_pool, &data, &[topic_of(Kind::Swap(Venue::UniswapV2)), topic(&payee_base), topic(&payee_base)]);
    let ex_at = bat(d1_time + 4200, 0);
    let ex = b.tx(ex_at, &payee_base, TOKEN_BASE, 0, &[]);
    b.token(&ex, ex_at, 0, (TOKEN_BASE, &payee_base, &exchange_base, TOKENS_OUT));

    // Bitcoin: background from a day before S to three hours after the
    // last deposit; the vaults funded by coinbases.
    let t0 = s - 86_400;
    let (vault_btc, ren_vault) = (btc_addr(&mut rng), btc_addr(&mut rng));
    let miners: Vec<String> = (0..4).map(|_| btc_addr(&mut rng)).collect();
    let wallets: Vec<String> = (0..40).map(|_| btc_addr(&mut rng)).collect();
    let exchanges_btc = [btc_addr(&mut rng), btc_addr(&mut rng)];
    let fund_vault = btc.tx(t0, &[], &[(vault_btc.clone(), 500_000_000)]);
    let fund_ren = btc.tx(t0, &[], &[(ren_vault.clone(), 500_000_000)]);
    let span = d3_time + 3 * 3600 - t0;
    let mut unspent: std::collections::VecDeque<((String, u32), String, u64, i64)> = std::collections::VecDeque::new();
    for k in 0..p.bitcoin_txs {
        let time = t0 + (span as u64 * k / p.bitcoin_txs.max(1)) as i64;
        let ready = unspent.front().is_some_and(|u| u.3 + 600 <= time);
        if k % 8 == 0 || !ready {
            let m = &miners[rng.below(4) as usize];
            let h = btc.tx(time, &[], &[(m.clone(), 625_000_000)]);
            unspent.push_back(((h, 0), m.clone(), 625_000_000, time));
        } else {
            let (op, a, v, _) = unspent.pop_front().expect("ready");
            let to = wallets[rng.below(40) as usize].clone();
            let fee = 1_000 + rng.below(4_000);
            let pay = (v - fee) / 100 * (10 + rng.below(80));
            let outs = [(to.clone(), pay), (a.clone(), v - fee - pay)];
            let h = btc.tx(time, &[(op, a.clone(), v)], &outs);
            unspent.push_back(((h.clone(), 0), to, pay, time));
            unspent.push_back(((h, 1), a, v - fee - pay, time));
        }
    }
    // Path 2's payout: 0.7 BTC to the payee with `OUT:<d2>`, 30 minutes on.
    let script = |m: &str| format!("6a{:02x}{}", m.len(), hex::encode(m));
    let b2: u64 = 70_000_000;
    let memo = format!("OUT:{}", d2[2..].to_uppercase());
    let change = 500_000_000 - b2 - 10_000;
    let p2 = btc.tx(
        d2_time + 1800,
        &[((fund_vault, 0), vault_btc.clone(), 500_000_000)],
        &[(payee_btc.clone(), b2), (vault_btc.clone(), change), (script(&memo), 0)],
    );
    // The peel chain: 6 hops, 20 minutes apart.
    let mut holders = Vec::new();
    let mut exch = [0u64; 2];
    let (mut op, mut who, mut v) = ((p2.clone(), 0u32), payee_btc.clone(), b2);
    let mut peel_fees = 0u64;
    for hop in 0..6u64 {
        let pct = 2 + rng.below(9);
        let (out, fee) = (v * pct / 100, 2_000);
        let next = btc_addr(&mut rng);
        let k = (hop % 2) as usize;
        let h = btc.tx(
            d2_time + 1800 + 1200 * (hop as i64 + 1),
            &[(op, who, v)],
            &[(exchanges_btc[k].clone(), out), (next.clone(), v - out - fee)],
        );
        exch[k] += out;
        peel_fees += fee;
        (op, who, v) = ((h, 1), next, v - out - fee);
    }
    let peel_end = (who.clone(), v);
    // Path 3's release: 40 minutes after the burn, less the gateway's fee
    // and 20,000 sat.
    let released = (REN_A - REN_FEE - 20_000) as u64;
    let p3 = btc.tx(
        d3_time + 2400,
        &[((fund_ren, 0), ren_vault.clone(), 500_000_000)],
        &[(ren_btc.clone(), released), (ren_vault.clone(), 500_000_000 - released - 10_000)],
    );
    let mut heuristic = vec![RenCase {
        burn_tx: d3.clone(),
        to: ren_btc.clone(),
        amount: REN_A.to_string(),
        release_tx: Some(p3.clone()),
        case: "released".into(),
        harmless_decoys: 0,
    }];
    // More burns, by other holders, to test the heuristic: each holder gets
    // renBTC minted, burns it to a fresh Bitcoin address, and RenVM releases
    // it (or not, or late); unrelated payments to the same addresses come
    // before and after, some of a fitting amount within the window.
    let (ren_vault2, hot) = if p.ren_cases > 0 { (btc_addr(&mut rng), btc_addr(&mut rng)) } else { Default::default() };
    for c in 0..p.ren_cases {
        let holder = eth_addr(0x4d, c + 1);
        let a: u128 = u128::from(10_000_000 + rng.below(490_000_000));
        let (mint_at, burn_at) = (at(200 + c, 0), at(200 + c, 1));
        let m = e.tx(mint_at, &ren_holder, RENBTC, 0, &[]);
        e.token(&m, mint_at, 0, (RENBTC, ZERO, &holder, a));
        let to = btc_addr(&mut rng);
        let fee = a / 1000;
        let h = e.tx(burn_at, &holder, REN_GATEWAY, 0, &[]);
        e.token(&h, burn_at, 0, (RENBTC, &holder, ZERO, a));
        e.token(&h, burn_at, 1, (RENBTC, ZERO, &ren_fee, fee));
        let data = format!("0x{}{}{}", word(64), word(a - fee), abi_bytes(&to));
        e.log(
            &h,
            burn_at,
            2,
            REN_GATEWAY,
            &data,
            &[topic_of(Kind::RenBurn), format!("0x{}", word(u128::from(c) + 2)), format!("0x{}", "cd".repeat(32))],
        );
        let t = burn_at.1;
        // A payment from an exchange's hot wallet, funded just before.
        let pay = |btc: &mut Btc, when: i64, v: u64, from: &str| -> String {
            let f = btc.tx(when - 1, &[], &[(from.to_string(), v + 10_000)]);
            btc.tx(when, &[((f, 0), from.to_string(), v + 10_000)], &[(to.clone(), v)])
        };
        let fitting = (a - fee) as u64 - 20_000 - rng.below(30_000);
        let r = rng.below(100);
        let (case, release) = match r {
            0..70 => ("released", Some(pay(&mut btc, t + 600 + rng.below(21_000) as i64, fitting, &ren_vault2))),
            70..78 => ("late", Some(pay(&mut btc, t + 90_000 + rng.below(20_000) as i64, fitting, &ren_vault2))),
            78..88 => ("unreleased", None),
            88..94 => {
                pay(&mut btc, t + 300 + rng.below(1_000) as i64, fitting - 5_000, &hot);
                ("unreleased-decoy", None)
            }
            _ => {
                pay(&mut btc, t + 300 + rng.below(1_000) as i64, fitting + 3_000, &hot);
                ("decoy-first", Some(pay(&mut btc, t + 3_600 + rng.below(3_600) as i64, fitting, &ren_vault2)))
            }
        };
        let mut harmless = 0;
        if rng.below(5) == 0 {
            // Before the burn, of a fitting amount.
            pay(&mut btc, t - 3_600 - rng.below(3_600) as i64, fitting, &hot);
            harmless += 1;
        }
        if rng.below(5) == 0 {
            // In the window, more than was burned.
            pay(&mut btc, t + 200 + rng.below(600) as i64, a as u64 + 50_000, &hot);
            harmless += 1;
        }
        heuristic.push(RenCase {
            burn_tx: h,
            to: to.clone(),
            amount: a.to_string(),
            release_tx: release,
            case: case.into(),
            harmless_decoys: harmless,
        });
    }
    std::fs::create_dir_all(dir.join("bitcoin"))?;
    let bitcoin = dir.join("bitcoin").join("transactions.json");
    btc.write(&bitcoin, t0)?;

    let ethereum = [eth.exports(), e.write(&dir.join("ethereum").join("planted"))?];
    let base_files = [base.exports(), b.write(&dir.join("base").join("planted"))?];
    let labels = [
        vec![
            eth.files[3].clone(),
            write_labels(&dir.join("ethereum").join("planted_labels.csv"), &[(&pool, "mixer", "Tornado-like pool")])?,
        ],
        vec![
            base.files[3].clone(),
            write_labels(&dir.join("base").join("planted_labels.csv"), &[(&exchange_base, "exchange", "Base exchange deposit")])?,
        ],
        vec![write_labels(
            &dir.join("bitcoin").join("planted_labels.csv"),
            &[(&exchanges_btc[0], "exchange", "Bitcoin exchange A"), (&exchanges_btc[1], "exchange", "Bitcoin exchange B")],
        )?],
    ];

    let s = |v: u128| v.to_string();
    let thor = |name: &str, dep: &str, pay: Option<&String>, to: &str, payer: &str, payee: &str, a: u128, out: (&str, u128)| Planted {
        name: name.into(),
        bridge: "thorchain".into(),
        exact: true,
        status: if pay.is_some() { "followable" } else { "no-payout" }.into(),
        deposit_tx: dep.into(),
        payout_tx: pay.cloned(),
        chain: "ethereum".into(),
        to_chain: to.into(),
        payer: payer.into(),
        payee: payee.into(),
        asset_in: "ethereum:ETH".into(),
        asset_out: out.0.into(),
        value_in: s(a),
        value_out: s(out.1),
    };
    let (n1, n2, n3, n4) =
        ("mixer-thorchain-base-swap-exchange", "thorchain-bitcoin-peel-chain", "renbridge-bitcoin", "thorchain-no-payout");
    let token = format!("base:{TOKEN_BASE}");
    let paths = vec![
        thor(n1, &d1, Some(&p1), "base", &collector, &payee_base, 30 * ETH, ("base:ETH", b1)),
        thor(n2, &d2, Some(&p2), "bitcoin", &x, &payee_btc, 20 * ETH, ("bitcoin:BTC", u128::from(b2))),
        Planted {
            name: n3.into(),
            bridge: "renbridge".into(),
            exact: false,
            status: "followable".into(),
            deposit_tx: d3.clone(),
            payout_tx: Some(p3.clone()),
            chain: "ethereum".into(),
            to_chain: "bitcoin".into(),
            payer: x.clone(),
            payee: ren_btc.clone(),
            asset_in: format!("ethereum:{RENBTC}"),
            asset_out: "bitcoin:BTC".into(),
            value_in: s(REN_A),
            value_out: s(u128::from(released)),
        },
        thor(n4, &d4, None, "bitcoin", &x, &lost_btc, 5 * ETH, ("bitcoin:BTC", 0)),
    ];
    let holder = |chain: &str, address: &str, asset: &str, amount: u128, category: &str, path: &str| Holder {
        chain: chain.into(),
        address: address.into(),
        asset: asset.into(),
        amount: s(amount),
        role: if category.is_empty() { "dormant" } else { "destination" }.into(),
        category: category.into(),
        path: path.into(),
    };
    holders.push(holder("base", &exchange_base, &token, TOKENS_OUT, "exchange", n1));
    for k in 0..2 {
        holders.push(holder("bitcoin", &exchanges_btc[k], "bitcoin:BTC", u128::from(exch[k]), "exchange", n2));
    }
    holders.push(holder("bitcoin", &peel_end.0, "bitcoin:BTC", u128::from(peel_end.1), "", n2));
    holders.push(holder("bitcoin", &ren_btc, "bitcoin:BTC", u128::from(released), "", n3));
    holders.push(holder("ethereum", &vault, "ethereum:ETH", 5 * ETH, "bridge", n4));
    let totals = |asset: &str, cin: u128, cout: u128, dest: u128, dormant: u128, fees: u128| Totals {
        asset: asset.into(),
        converted_in: s(cin),
        converted_out: s(cout),
        destinations: s(dest),
        dormant: s(dormant),
        fees: s(fees),
    };
    let btc_in = u128::from(b2 + released);
    let truth = Truth {
        exploiter: x.clone(),
        mixer: pool.clone(),
        paths,
        holders,
        totals: vec![
            totals("base:ETH", b1, b1, 0, 0, 0),
            totals(&token, TOKENS_OUT, 0, TOKENS_OUT, 0, 0),
            totals("bitcoin:BTC", btc_in, 0, u128::from(exch[0] + exch[1]), u128::from(peel_end.1 + released), u128::from(peel_fees)),
        ],
        heuristic,
    };
    let truth_file = dir.join("truth.json");
    std::fs::write(&truth_file, serde_json::to_string_pretty(&truth).map_err(io::Error::other)?)?;
    Ok(MultiWorld { ethereum, base: base_files, bitcoin, labels, exploiter: x, truth_file, truth })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_world_is_deterministic_and_its_truth_adds_up() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let p = MultiParams { ethereum_events: 3_000, base_events: 2_000, bitcoin_txs: 100, seed: 5, ren_cases: 0 };
        let (wa, wb) = (write_multichain_world(a.path(), p).unwrap(), write_multichain_world(b.path(), p).unwrap());
        for (x, y) in wa.ethereum.iter().chain(&wa.base).flatten().zip(wb.ethereum.iter().chain(&wb.base).flatten()) {
            assert_eq!(std::fs::read(x).unwrap(), std::fs::read(y).unwrap());
        }
        assert_eq!(std::fs::read(&wa.bitcoin).unwrap(), std::fs::read(&wb.bitcoin).unwrap());
        assert_eq!(std::fs::read(&wa.truth_file).unwrap(), std::fs::read(&wb.truth_file).unwrap());
        // Bitcoin: the background and the 9 planted transactions, in
        // block order, every block time after the one before.
        let text = std::fs::read_to_string(&wa.bitcoin).unwrap();
        let rows: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(rows.len(), 100 + 2 + 1 + 6 + 1);
        assert!(rows.windows(2).all(|w| w[0]["block_number"].as_u64() <= w[1]["block_number"].as_u64()));
        // Every conserved total: converted in = what the chain's holders keep.
        let n = |s: &String| s.parse::<u128>().unwrap();
        for t in &wa.truth.totals {
            assert_eq!(n(&t.converted_in), n(&t.converted_out) + n(&t.destinations) + n(&t.dormant) + n(&t.fees), "{t:?}");
        }
    }
}
