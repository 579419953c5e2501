//! Several chains in one trace (issue 16): `cargo bench --bench multichain`.
//!
//! Generates two worlds as blockchain-etl CSV (`chaintrace::synth::etl`,
//! swaps and their logs included): Ethereum (seed 7) and Base, an EVM L2
//! (seed 8), each ingested with the real binary into its own store; then
//! plants the laundering step the issue names, appended as new blocks:
//! the Ethereum world's exploiter sends `BRIDGES` THORChain deposits
//! (the V4.1 router's real address and `Deposit` topic, memos
//! `=:BASE.ETH:<payee>`) paid out on Base an hour later (the V6.1 router's
//! `TransferOut`, memos `OUT:<deposit hash>`) to fresh payees, less a fee.
//! The truth (`bridges_truth.csv`) is written beside the data.
//!
//! Then, best of `CHAINTRACE_BENCH_RUNS` (default 3) fresh processes each,
//! haircut, services absorbing, `--paths 0`, sweep seconds:
//! - each chain alone, as an investigator would without bridges: Ethereum
//!   from the exploiter, Base from the payees (`--follow swaps`), the first
//!   trace of each store's generation (its §7 ledger removed: the full
//!   sweep, which writes it) and a later one (the sparse sweep over it);
//! - both at once: `--store ETH --store BASE --follow swaps,bridges` from
//!   the exploiter alone (ADR 0013), first (both ledgers removed: stepped
//!   full sweeps) and later (stepped sparse sweeps over the ledgers the
//!   single-chain traces wrote);
//! - the ratios of the two-chain trace to the sum of the two single-chain
//!   traces, first to first and later to later; and the reach: the taint
//!   the two-chain trace carried into Base against the planted payouts.
//!
//! `CHAINTRACE_BENCH_EVENTS` sets each world's size (default 10^7: 3.9 GB
//! of CSV a chain, removed once ingested).

mod common;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

const SERVICES: &str = "exchange,mixer,bridge,defi,gambling,payment";
const BRIDGES: u64 = 16;
const ROUTER_ETH: &str = "0xd37bbe5744d730a1d98d8dc97c42f0ca46ad7146";
const ROUTER_BASE: &str = "0x00dc6100103bc402d490aee3f9a5560cbd91f1d4";
const VAULT: &str = "0x5a017000000000000000000000000000000000aa";
const DEPOSIT: &str = "0xef519b7eb82aaf6ac376a6df2d793843ebfd593de5f1a0601d3cc6ab49ebb395";
const TRANSFER_OUT: &str = "0xa9cd03aa3c1b4515114539cd53d22085129d495cb9e9f9af77864526240f1bf7";
const ETH: u128 = 1_000_000_000_000_000_000;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_chaintrace"))
}

/// An address as an indexed topic.
fn topic(a: &str) -> String {
    format!("0x{:0>64}", &a[2..])
}

fn word(v: u128) -> String {
    format!("{v:064x}")
}

/// An ABI `string`: its length word, then its bytes padded to words.
fn abi_string(s: &str) -> String {
    hex::encode(chaintrace::convert::abi::abi_tail(s.as_bytes()))
}

fn ingest(store: &Path, chain: &str, files: &[PathBuf]) {
    let out = bin()
        .args(["ingest", "--chain", chain, "--format", "etl", "--no-progress", "--store"])
        .arg(store)
        .args(files)
        .output()
        .expect("ingest");
    assert!(out.status.success(), "ingest failed: {}", String::from_utf8_lossy(&out.stderr));
}

/// The last block and its time of a store.
fn last_block(store: &Path) -> (u64, i64) {
    let s = chaintrace::store::Store::open(store).expect("open");
    let ev = s.events();
    (ev.block(s.len() - 1), ev.time(s.len() - 1))
}

/// Write and ingest one world; returns its exploiter.
fn world(root: &Path, name: &str, chain: &str, seed: u64, events: u64) -> String {
    let csv = root.join(format!("{name}-csv"));
    let store = root.join(name);
    let w = chaintrace::synth::etl::write_world_etl(&csv, chaintrace::synth::world::Params::new(events, seed)).expect("write world");
    let files: Vec<PathBuf> = ["transactions.csv", "traces.csv", "token_transfers.csv", "logs.csv"].iter().map(|f| csv.join(f)).collect();
    ingest(&store, chain, &files);
    let out = bin().args(["labels", "--store"]).arg(&store).arg("import").arg(csv.join("labels.csv")).output().expect("labels");
    assert!(out.status.success(), "labels failed: {}", String::from_utf8_lossy(&out.stderr));
    std::fs::remove_dir_all(&csv).expect("remove the CSV");
    w.exploiter
}

/// Plant the bridges: deposits on Ethereum after its last block, payouts
/// on Base an hour after each deposit and after Base's last block.
fn plant(root: &Path, exploiter: &str) {
    let (eth, base) = (root.join("ethereum"), root.join("base"));
    let ((eb, et), (bb, bt)) = (last_block(&eth), last_block(&base));
    let dir = root.join("planted");
    std::fs::create_dir_all(&dir).expect("dir");
    let tx_head =
        "hash,block_number,block_timestamp,transaction_index,from_address,to_address,value,gas_price,receipt_gas_used,receipt_status\n";
    let tr_head =
        "block_number,transaction_hash,transaction_index,from_address,to_address,value,trace_type,call_type,trace_address,status\n";
    let log_head = "log_index,transaction_hash,transaction_index,address,data,topics,block_number\n";
    let (mut etx, mut etr, mut elog) = (tx_head.to_string(), tr_head.to_string(), log_head.to_string());
    let (mut btx, mut btr, mut blog) = (tx_head.to_string(), tr_head.to_string(), log_head.to_string());
    let mut truth = String::from("deposit_tx,payout_tx,payee,value_in,value_out\n");
    let start = et.max(bt) + 12;
    for k in 0..BRIDGES {
        let (a, b) = (100 * ETH, 99 * ETH);
        let (dep, pay) = (format!("0x{:064x}", 0xb00000 + k), format!("0x{:064x}", 0xb10000 + k));
        let payee = format!("0x{:040x}", 0xfa7ee000 + k);
        let (blk, time) = (eb + 1 + k, start + 12 * k as i64);
        writeln!(etx, "{dep},{blk},{time},0,{exploiter},{ROUTER_ETH},{a},0,0,1").unwrap();
        writeln!(etr, "{blk},{dep},0,{exploiter},{ROUTER_ETH},{a},call,call,,1").unwrap();
        writeln!(etr, "{blk},{dep},0,{ROUTER_ETH},{VAULT},{a},call,call,0,1").unwrap();
        let data = format!("0x{}{}{}", word(a), word(64), abi_string(&format!("=:BASE.ETH:{payee}")));
        writeln!(elog, "0,{dep},0,{ROUTER_ETH},{data},\"{DEPOSIT},{},0x{:064x}\",{blk}", topic(VAULT), 0).unwrap();
        let (pblk, ptime) = (bb + 1 + k, time + 3600);
        writeln!(btx, "{pay},{pblk},{ptime},0,{VAULT},{ROUTER_BASE},{b},0,0,1").unwrap();
        writeln!(btr, "{pblk},{pay},0,{VAULT},{ROUTER_BASE},{b},call,call,,1").unwrap();
        writeln!(btr, "{pblk},{pay},0,{ROUTER_BASE},{payee},{b},call,call,0,1").unwrap();
        let memo = format!("OUT:{}", dep[2..].to_uppercase());
        let data = format!("0x{}{}{}{}", word(0), word(b), word(96), abi_string(&memo));
        writeln!(blog, "0,{pay},0,{ROUTER_BASE},{data},\"{TRANSFER_OUT},{},{}\",{pblk}", topic(VAULT), topic(&payee)).unwrap();
        writeln!(truth, "{dep},{pay},{payee},{a},{b}").unwrap();
    }
    let write = |sub: &str, texts: [&String; 3]| -> Vec<PathBuf> {
        let d = dir.join(sub);
        std::fs::create_dir_all(&d).expect("dir");
        ["transactions.csv", "traces.csv", "logs.csv"]
            .iter()
            .zip(texts)
            .map(|(f, t)| {
                std::fs::write(d.join(f), t).expect("write");
                d.join(f)
            })
            .collect()
    };
    ingest(&eth, "ethereum", &write("ethereum", [&etx, &etr, &elog]));
    ingest(&base, "base", &write("base", [&btx, &btr, &blog]));
    std::fs::write(root.join("bridges_truth.csv"), truth).expect("truth");
}

fn best(runs: usize, before: &dyn Fn(), args: &[&str], stores: &[&Path]) -> common::Timed {
    let mut best: Option<common::Timed> = None;
    for _ in 0..runs {
        before();
        let mut c = bin();
        c.args(["trace", "--policy", "haircut", "--format", "json", "--paths", "0", "--output", "/dev/null", "--stop-at", SERVICES]);
        for s in stores {
            c.arg("--store").arg(s);
        }
        let t = common::timed_trace(c.args(args));
        if best.as_ref().is_none_or(|b| t.sweep < b.sweep) {
            best = Some(t);
        }
    }
    best.expect("at least one run")
}

fn main() {
    let events: u64 = std::env::var("CHAINTRACE_BENCH_EVENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000_000);
    let runs: usize = std::env::var("CHAINTRACE_BENCH_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(3).max(1);
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("bench-multichain-v{}-{events}", chaintrace::store::FORMAT_VERSION));
    let done = root.join("done");
    if !done.exists() {
        let _ = std::fs::remove_dir_all(&root);
        let t = std::time::Instant::now();
        let exploiter = world(&root, "ethereum", "ethereum", 7, events);
        world(&root, "base", "base", 8, events);
        std::fs::write(root.join("exploiter.txt"), &exploiter).expect("exploiter");
        plant(&root, &exploiter);
        std::fs::write(&done, "").expect("marker");
        eprintln!("two worlds of {events} events written, ingested and bridged in {:.0}s", t.elapsed().as_secs_f64());
    }
    let exploiter = std::fs::read_to_string(root.join("exploiter.txt")).expect("exploiter").trim().to_string();
    let (eth, base) = (root.join("ethereum"), root.join("base"));
    let truth = std::fs::read_to_string(root.join("bridges_truth.csv")).expect("truth");
    let payees: Vec<String> = truth.lines().skip(1).map(|l| l.split(',').nth(2).expect("payee").to_string()).collect();
    let planted: u128 = truth.lines().skip(1).map(|l| l.split(',').nth(4).expect("value").parse::<u128>().expect("number")).sum();
    let payee_file = root.join("payees.txt");
    std::fs::write(&payee_file, payees.join("\n")).expect("payees");
    let n = |s: &Path| chaintrace::store::Store::open(s).expect("open").len();
    println!("two worlds: ethereum {} events, base {} events, {BRIDGES} THORChain bridges planted", n(&eth), n(&base));
    let seed = ["--follow", "swaps", "--seed", exploiter.as_str()];
    let seed_b = ["--follow", "swaps", "--seed-file", payee_file.to_str().expect("path")];
    let clear = |s: &Path| common::remove_ledgers(s);
    let a_first = best(runs, &|| clear(&eth), &seed, &[&eth]);
    let a_later = best(runs, &|| (), &seed, &[&eth]);
    let b_first = best(runs, &|| clear(&base), &seed_b, &[&base]);
    let b_later = best(runs, &|| (), &seed_b, &[&base]);
    let both = ["--follow", "swaps,bridges", "--seed", exploiter.as_str()];
    // Later: both stores' ledgers are there (the single-chain traces wrote
    // them); first: removed before each run, so both sweep in full.
    let multi_later = best(runs, &|| (), &both, &[&eth, &base]);
    let multi_first = best(
        runs,
        &|| {
            clear(&eth);
            clear(&base);
        },
        &both,
        &[&eth, &base],
    );
    println!(
        "  ethereum alone: first {:.3}s, later {:.3}s; base alone (from the payees): first {:.3}s, later {:.3}s",
        a_first.sweep, a_later.sweep, b_first.sweep, b_later.sweep
    );
    println!(
        "  both, first (stepped full sweeps): {:.3}s (peak {:.0} MiB, {:.0} events visited) = {:.2}x the two first single-chain traces ({:.3}s)",
        multi_first.sweep,
        multi_first.peak,
        multi_first.visited,
        multi_first.sweep / (a_first.sweep + b_first.sweep),
        a_first.sweep + b_first.sweep
    );
    println!(
        "  both, later (stepped sparse sweeps over the ledgers): {:.3}s (peak {:.0} MiB, {:.0} events visited) = {:.2}x the two later single-chain traces ({:.3}s)",
        multi_later.sweep,
        multi_later.peak,
        multi_later.visited,
        multi_later.sweep / (a_later.sweep + b_later.sweep),
        a_later.sweep + b_later.sweep
    );
    // Reach: what the two-chain trace carried into Base against the planted payouts.
    let out = bin()
        .args([
            "trace",
            "--policy",
            "haircut",
            "--format",
            "json",
            "--paths",
            "0",
            "--stop-at",
            SERVICES,
            "--follow",
            "swaps,bridges",
            "--seed",
            &exploiter,
        ])
        .arg("--store")
        .arg(&eth)
        .arg("--store")
        .arg(&base)
        .output()
        .expect("trace");
    assert!(out.status.success(), "trace failed: {}", String::from_utf8_lossy(&out.stderr));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let got: u128 = r["totals_by_asset"]["base:ETH"]["converted_in"].as_str().unwrap_or("0").parse().expect("number");
    let bridged = r["conversions"].as_array().map_or(0, |c| c.iter().filter(|c| c["kind"] == "bridge").count());
    println!(
        "reach: {bridged} of {BRIDGES} planted bridges followed; taint into base:ETH {got} wei of {planted} planted ({:.1}%)",
        got as f64 / planted as f64 * 100.0
    );
}
