#![allow(dead_code, unreachable_pub)]
use std::path::{Path, PathBuf};
use std::process::Command;

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn data(rel: &str) -> PathBuf {
    root().join("datasets").join(rel)
}

pub fn etl(rel: &str) -> PathBuf {
    data(&format!("blockchain-etl-fixtures/ethereum-etl/tests/resources/{rel}"))
}

pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// The Lazarus address the bundled sample follows (OFAC-listed, Ronin).
pub const LAZARUS: &str = "0x098b716b8aaf21512996dc57eb0615e2383e2f96";
/// The bundled sample of real Lazarus transfers, under `datasets/`.
pub const LAZARUS_TRANSFERS: &str = "dune-lazarus-ofac-flows-dspytdao/lazarus_ofac_eth_transfers.csv";

/// [`run`], which must succeed: its standard output.
pub fn ok(args: &[&str]) -> String {
    let o = run(args);
    assert_eq!(o.code, 0, "{args:?}: {}", o.stderr);
    o.stdout
}

pub fn run(args: &[&str]) -> Out {
    run_env(args, &[])
}

/// [`run`] with environment variables set.
pub fn run_env(args: &[&str], env: &[(&str, &str)]) -> Out {
    let o = Command::new(env!("CARGO_BIN_EXE_chaintrace")).args(args).envs(env.iter().copied()).output().expect("run chaintrace");
    Out {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

pub fn ingest(store: &Path, chain: &str, format: &str, extra: &[&str], files: &[&Path]) -> Out {
    ingest_env(store, chain, format, extra, files, &[])
}

/// [`ingest`] with environment variables set.
pub fn ingest_env(store: &Path, chain: &str, format: &str, extra: &[&str], files: &[&Path], env: &[(&str, &str)]) -> Out {
    let mut a: Vec<String> = vec![
        "ingest".into(),
        "--store".into(),
        store.display().to_string(),
        "--chain".into(),
        chain.into(),
        "--format".into(),
        format.into(),
    ];
    a.extend(extra.iter().map(|s| s.to_string()));
    a.extend(files.iter().map(|f| f.display().to_string()));
    let refs: Vec<&str> = a.iter().map(String::as_str).collect();
    run_env(&refs, env)
}

pub fn stats(store: &Path) -> serde_json::Value {
    let o = run(&["stats", "--store", store.to_str().unwrap(), "--format", "json"]);
    assert_eq!(o.code, 0, "stats failed: {}", o.stderr);
    serde_json::from_str(&o.stdout).expect("stats json")
}

/// Every file of a store directory with its bytes, to prove a store unchanged.
pub fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut v = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if !matches!(p.file_name().unwrap().to_str(), Some("LOCK" | "VERIFIED")) {
                // LOCK and the VERIFIED stamp are not the store's contents.
                v.push((p.clone(), std::fs::read(&p).unwrap()));
            }
        }
    }
    v.sort();
    v
}

/// `chaintrace trace --store S --policy P --seed SEED --stop-at STOPS`, then `extra`.
pub fn trace_cmd(store: &Path, policy: &str, seed: &str, stops: &str, extra: &[&str]) -> Out {
    let mut a: Vec<&str> = vec!["trace", "--store", store.to_str().unwrap(), "--policy", policy, "--seed", seed, "--stop-at", stops];
    a.extend_from_slice(extra);
    run(&a)
}

/// A store in `dir/s` of a generic transfers CSV and a blockchain-etl logs
/// CSV (the swap logs), ingested one after the other, with `stops`
/// labelled as exchanges.
pub fn swap_store(dir: &Path, transfers: &str, logs: &str, stops: &[String]) -> chaintrace::store::Store {
    use chaintrace::ingest::{self, Format, Options};
    use chaintrace::model::Chain;
    let (f, l) = (dir.join("t.csv"), dir.join("logs.csv"));
    std::fs::write(&f, transfers).unwrap();
    std::fs::write(&l, logs).unwrap();
    let st = dir.join("s");
    ingest::ingest(&st, &[f], &Options::new(Chain::Ethereum, Format::Transfers)).unwrap();
    ingest::ingest(&st, &[l], &Options::new(Chain::Ethereum, Format::Etl)).unwrap();
    if !stops.is_empty() {
        let labels: Vec<chaintrace::labels::Label> = stops
            .iter()
            .map(|a| chaintrace::labels::Label { address: a.clone(), category: "exchange".into(), ..Default::default() })
            .collect();
        chaintrace::labels::save(&st, &labels).unwrap();
    }
    chaintrace::store::Store::open(&st).unwrap()
}

/// The naive references' FIFO: take `a` from the front of queue `q`
/// (amount, tainted), splitting a lot where `a` ends inside it.
pub fn take_lots(q: &mut Vec<(u128, bool)>, a: u128) -> Vec<(u128, bool)> {
    let mut need = a;
    let mut taken = Vec::new();
    while need > 0 {
        let (amt, tainted) = q[0];
        let m = amt.min(need);
        taken.push((m, tainted));
        need -= m;
        if m == amt {
            q.remove(0);
        } else {
            q[0].0 -= m;
        }
    }
    taken
}

/// A synthetic 32-byte transaction hash: byte `n` repeated, `0x` hex.
pub fn tx_hash(n: u8) -> String {
    format!("0x{}", format!("{n:02x}").repeat(32))
}

/// A 32-byte ABI word of `v`, hex without `0x`.
pub fn word(v: u128) -> String {
    format!("{v:064x}")
}

/// An address as an indexed topic or data word (left-padded to 32 bytes), `0x` hex.
pub fn padded(a: &str) -> String {
    format!("0x{:0>64}", &a[2..])
}

// Hand-written blockchain-etl fixtures of bridges (tests/bridges.rs,
// tests/more_bridges.rs, tests/heuristic_bridges.rs): their synthetic
// addresses and times, the headers and rows they write, and what they
// read back.

/// The fixtures' first block time (Ethereum block 100's); other blocks and
/// chains come later, or earlier to test the order.
pub const T0: i64 = 1_700_000_000;
/// A seed.
pub const SEED: &str = "0x5eed000000000000000000000000000000000001";
/// An address whose funds are clean.
pub const CLEAN: &str = "0xc1ea000000000000000000000000000000000002";
/// A bridge's fee recipient.
pub const FEE_TO: &str = "0xfee0000000000000000000000000000000000003";
/// The zero address (mints and burns).
pub const ZERO: &str = "0x0000000000000000000000000000000000000000";
/// A contract that is not the bridge's.
pub const OTHER: &str = "0x7777777777777777777777777777777777777777";
/// A bridge payout's payee on Bitcoin.
pub const PAYEE_BTC: &str = "bc1qxy2kgdygjrsqtzq2n0yrf2493p83kkfjhx0wlh";
/// A bridge's vault on Bitcoin.
pub const VAULT_BTC: &str = "bc1qvaultvaultvaultvaultvaultvaultvaultvlt";
/// An exchange's deposit address on Bitcoin, where the payee sends the payout on.
pub const EXCH_BTC: &str = "bc1qexchangeexchangeexchangeexchangeexchng";

/// blockchain-etl `transactions` header.
pub const TXS_HEAD: &str =
    "hash,block_number,block_timestamp,transaction_index,from_address,to_address,value,gas_price,receipt_gas_used,receipt_status\n";
/// blockchain-etl `token_transfers` header.
pub const TOKENS_HEAD: &str =
    "token_address,from_address,to_address,value,transaction_hash,log_index,block_number,block_timestamp,transaction_index\n";
/// blockchain-etl `logs` header.
pub const LOGS_HEAD: &str = "log_index,transaction_hash,transaction_index,address,data,topics,block_number,block_timestamp\n";

/// A transaction row: (hash, block, time, index, from, to, value).
pub fn tx_row(hash: &str, block: u64, time: i64, index: u32, from: &str, to: &str, value: u128) -> String {
    format!("{hash},{block},{time},{index},{from},{to},{value},10,50000,1\n")
}

/// One `logs.csv` row: log `index` of `tx` at (block, time, transaction index).
pub fn log_row(index: u32, tx: &str, at: (u64, i64, u32), emitter: &str, data: &str, topics: &[String]) -> String {
    let (block, time, tx_index) = at;
    format!("{index},{tx},{tx_index},{emitter},{data},\"{}\",{block},{time}\n", topics.join(","))
}

/// Write `files` (name, text) into `dir`; their paths.
pub fn write_files(dir: &Path, files: &[(&str, String)]) -> Vec<PathBuf> {
    std::fs::create_dir_all(dir).unwrap();
    files
        .iter()
        .map(|(name, text)| {
            let f = dir.join(name);
            std::fs::write(&f, text).unwrap();
            f
        })
        .collect()
}

/// `ingest --format etl` of `files` into `store` on `chain`, which must succeed.
pub fn ingest_ok(store: &Path, chain: &str, files: &[PathBuf]) {
    let refs: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    let o = ingest(store, chain, "etl", &["--no-progress"], &refs);
    assert_eq!(o.code, 0, "{}", o.stderr);
}

/// `conversions --store ...` as JSON rows.
pub fn conversions(stores: &[&Path]) -> Vec<serde_json::Value> {
    let mut args = vec!["conversions"];
    for s in stores {
        args.extend(["--store", s.to_str().unwrap()]);
    }
    let o = run(&args);
    assert_eq!(o.code, 0, "{}", o.stderr);
    serde_json::from_str::<serde_json::Value>(&o.stdout).unwrap()["conversions"].as_array().unwrap().clone()
}

/// A report's amount (a decimal string) as a number.
pub fn n(v: &serde_json::Value) -> u128 {
    v.as_str().unwrap_or_else(|| panic!("{v} is no amount")).parse().unwrap()
}

/// `seeded + converted_in = destinations + dormant + horizon + fees + converted_out`.
pub fn conserved(t: &serde_json::Value) -> bool {
    n(&t["seeded"]) + n(&t["converted_in"])
        == n(&t["destinations"]) + n(&t["dormant"]) + n(&t["horizon"]) + n(&t["fees"]) + n(&t["converted_out"])
}

/// The store's recognised logs as (transaction, log index, emitter, kind)
/// and its memos as (transaction, log index, bytes).
pub type Logs = Vec<(String, u32, String, Option<chaintrace::convert::topics::Kind>)>;
/// See [`Logs`].
pub type Memos = Vec<(String, u32, Vec<u8>)>;

/// [`Logs`] and [`Memos`] of the store at `st`.
pub fn logs_and_memos(st: &Path) -> (Logs, Memos) {
    use chaintrace::convert::topics::Kind;
    let s = chaintrace::store::Store::open(st).unwrap();
    let logs = s.logs().iter().map(|r| (s.tx_text(r.tx), r.index, s.address_text(r.emitter), Kind::from_code(r.kind))).collect();
    let memos = s.memos().into_iter().map(|m| (s.tx_text(m.tx), m.vout, m.data)).collect();
    (logs, memos)
}

/// Export `st` and ingest the export on `chain`: the same logs and memos.
pub fn export_round_trip(t: &Path, st: &Path, chain: &str) {
    let out = t.join(format!("{chain}-export"));
    let o = run(&["export", "--store", st.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let again = t.join(format!("{chain}-again"));
    let o = ingest(&again, chain, "parquet", &["--no-progress"], &[&out.join("events.parquet"), &out.join("logs.parquet")]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(logs_and_memos(&again), logs_and_memos(st));
}

/// `screen` over the given stores with `--categories hack` and `extra`.
pub fn screen_hack(stores: &[&Path], addresses: &Path, extra: &[&str]) -> Out {
    let mut args = vec!["screen"];
    for s in stores {
        args.extend(["--store", s.to_str().unwrap()]);
    }
    args.extend(["--categories", "hack"]);
    args.extend(extra);
    args.push(addresses.to_str().unwrap());
    run(&args)
}

/// The real Bitcoin block 702861 (bitcoin-etl CSV) cut into blocks at
/// transaction indexes `cuts` (ascending, from 0 to past the last), each
/// part numbered as the next block, written as its three files under
/// `dir`: the outputs a later part spends were made in an earlier one.
pub fn bitcoin_block_parts(dir: &Path, cuts: &[usize]) -> Vec<Vec<PathBuf>> {
    let d = |f: &str| std::fs::read_to_string(data(&format!("bitcoin-mainnet-block-702861/{f}"))).unwrap();
    let (txs, ins, outs) = (d("transactions.csv"), d("inputs.csv"), d("outputs.csv"));
    let part = |index: usize| cuts.partition_point(|&c| c <= index) - 1;
    let mut part_of = std::collections::HashMap::new();
    let mut files: Vec<[String; 3]> = vec![Default::default(); cuts.len() - 1];
    for (k, line) in txs.lines().enumerate() {
        if k == 0 {
            files.iter_mut().for_each(|f| f[0] = format!("{line}\n"));
            continue;
        }
        let mut cols: Vec<String> = line.split(',').map(str::to_string).collect();
        let p = part(cols[3].parse().unwrap());
        cols[1] = (702_861 + p).to_string();
        part_of.insert(cols[0].clone(), p);
        files[p][0] += &(cols.join(",") + "\n");
    }
    for (slot, text) in [(1, &ins), (2, &outs)] {
        for (k, line) in text.lines().enumerate() {
            if k == 0 {
                files.iter_mut().for_each(|f| f[slot] = format!("{line}\n"));
            } else {
                files[part_of[line.split(',').next().unwrap()]][slot] += &format!("{line}\n");
            }
        }
    }
    files
        .iter()
        .enumerate()
        .map(|(p, f)| {
            ["transactions", "inputs", "outputs"]
                .iter()
                .zip(f)
                .map(|(name, text)| {
                    let path = dir.join(format!("{name}-{p}.csv"));
                    std::fs::write(&path, text).unwrap();
                    path
                })
                .collect()
        })
        .collect()
}

/// The header of a `--format transfers` file.
pub const TRANSFERS_HEADER: &str = "block_number,transaction_hash,from_address,to_address,value,asset";

/// An Ethereum address of one repeated byte, for hand-made transfers.
pub fn byte_address(n: u8) -> String {
    format!("0x{}", format!("{n:02x}").repeat(20))
}

/// A transaction hash of number `n`, for hand-made transfers.
pub fn numbered_tx(n: u32) -> String {
    format!("0x{n:064x}")
}
