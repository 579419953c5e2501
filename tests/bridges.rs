//! Bridges across stores (TRACING.md §7): a THORChain deposit on Ethereum
//! (the V4.1 router's real address and `Deposit` topic; synthetic
//! transactions) paid out on Bitcoin by an output whose `OP_RETURN` memo
//! is `OUT:<inbound hash>`, traced with `--store ETH --store BTC --follow
//! swaps,bridges` under each policy, per-asset conservation across the two
//! chains asserted; a deposit with no payout stays with the bridge; a
//! payout earlier than its deposit is reported and not followed.

mod common;
use chaintrace::convert::abi::abi_tail;
use common::*;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

const DEPOSIT: &str = "0xef519b7eb82aaf6ac376a6df2d793843ebfd593de5f1a0601d3cc6ab49ebb395";
const ROUTER: &str = "0xd37bbe5744d730a1d98d8dc97c42f0ca46ad7146";
const USER: &str = "0x2222222222222222222222222222222222222222";
/// The seed's intermediary, who makes the deposit.
const MID: &str = "0x4444444444444444444444444444444444444444";
const VAULT: &str = "0x1111111111111111111111111111111111111111";
const OTHER_BTC: &str = "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq";
const ETH: u128 = 1_000_000_000_000_000_000;

fn deposit_data(amount: u128, memo: &str) -> String {
    format!("0x{}{}{}", word(amount), word(64), hex::encode(abi_tail(memo.as_bytes())))
}

/// The Ethereum side: the seed `USER` pays `MID` 10 ETH (tx a0), who
/// deposits it for `PAYEE_BTC` (tx a1, no fee); `USER` deposits 2 ETH for
/// `OTHER_BTC` (tx a2, never paid out).
fn eth_files(dir: &Path, memo_a1: &str) -> Vec<PathBuf> {
    let (a0, a1, a2) = (tx_hash(0xa0), tx_hash(0xa1), tx_hash(0xa2));
    let (ten, two) = (10 * ETH, 2 * ETH);
    let txs = format!(
        "hash,block_number,block_timestamp,transaction_index,from_address,to_address,value,gas_price,receipt_gas_used,receipt_status\n\
         {a0},99,{},0,{USER},{MID},{ten},10,50000,1\n\
         {a1},100,{T0},0,{MID},{ROUTER},{ten},0,0,1\n\
         {a2},100,{T0},1,{USER},{ROUTER},{two},10,50000,1\n",
        T0 - 12
    );
    let traces = format!(
        "block_number,transaction_hash,transaction_index,from_address,to_address,value,trace_type,call_type,trace_address,status\n\
         99,{a0},0,{USER},{MID},{ten},call,call,,1\n\
         100,{a1},0,{MID},{ROUTER},{ten},call,call,,1\n\
         100,{a1},0,{ROUTER},{VAULT},{ten},call,call,0,1\n\
         100,{a2},1,{USER},{ROUTER},{two},call,call,,1\n\
         100,{a2},1,{ROUTER},{VAULT},{two},call,call,0,1\n"
    );
    let zero = padded("0x0000000000000000000000000000000000000000");
    let mut logs = String::from("log_index,transaction_hash,transaction_index,address,data,topics,block_number\n");
    let memo_a2 = format!("=:BTC.BTC:{OTHER_BTC}");
    for (i, (tx, amount, memo)) in [(&a1, ten, memo_a1), (&a2, two, memo_a2.as_str())].into_iter().enumerate() {
        let data = deposit_data(amount, memo);
        logs += &format!("{i},{tx},{i},{ROUTER},{data},\"{DEPOSIT},{},{zero}\",100\n", padded(VAULT));
    }
    let files: Vec<PathBuf> = ["transactions.csv", "traces.csv", "logs.csv"].iter().map(|f| dir.join(f)).collect();
    for (f, text) in files.iter().zip([txs, traces, logs]) {
        std::fs::write(f, text).unwrap();
    }
    files
}

/// An `OP_RETURN` script pushing `memo`.
fn memo_script(memo: &str) -> String {
    format!("6a{:02x}{}", memo.len(), hex::encode(memo))
}

/// A coinbase transaction paying `to` 1 BTC an hour before `T0`.
fn coinbase(hash: &str, to: &str) -> Value {
    json!({"hash": hash, "block_number": 800000, "block_timestamp": T0 - 3600, "index": 0, "is_coinbase": true,
        "inputs": [], "outputs": [{"index": 0, "addresses": [to], "value": 100_000_000u64, "type": "witness_v0_keyhash"}],
        "input_value": 0, "output_value": 100_000_000u64, "fee": 0})
}

/// The Bitcoin side: the vault is funded with 1 BTC, then pays `PAYEE_BTC`
/// 0.5 BTC with the memo `OUT:<a1's hash>` at `payout_time`; the payee
/// sends it on to an exchange an hour later.
fn btc_file(dir: &Path, payout_time: i64, twice: bool) -> PathBuf {
    let (f1, p1) = ("f1".repeat(32), "b2".repeat(32));
    let script = memo_script(&format!("OUT:{}", tx_hash(0xa1)[2..].to_uppercase()));
    let fund = coinbase(&f1, VAULT_BTC);
    let pay = json!({"hash": p1, "block_number": 800001, "block_timestamp": payout_time, "index": 1, "is_coinbase": false,
        "inputs": [{"index": 0, "spent_transaction_hash": f1, "spent_output_index": 0, "addresses": [VAULT_BTC], "value": 100_000_000u64}],
        "outputs": [
            {"index": 0, "addresses": [PAYEE_BTC], "value": 50_000_000u64, "type": "witness_v0_keyhash"},
            {"index": 1, "addresses": [VAULT_BTC], "value": 49_990_000u64, "type": "witness_v0_keyhash"},
            {"index": 2, "addresses": [], "value": 0, "type": "nulldata", "script_hex": script}],
        "input_value": 100_000_000u64, "output_value": 99_990_000u64, "fee": 10_000});
    let on = json!({"hash": "c3".repeat(32), "block_number": 800002, "block_timestamp": payout_time + 3600, "index": 1, "is_coinbase": false,
        "inputs": [{"index": 0, "spent_transaction_hash": p1, "spent_output_index": 0, "addresses": [PAYEE_BTC], "value": 50_000_000u64}],
        "outputs": [{"index": 0, "addresses": [EXCH_BTC], "value": 49_990_000u64, "type": "witness_v0_keyhash"}],
        "input_value": 50_000_000u64, "output_value": 49_990_000u64, "fee": 10_000});
    let mut text = format!("{fund}\n{pay}\n{on}\n");
    if twice {
        // The vault pays the same inbound hash again from its change, beside
        // a memo whose hash is not one.
        let bad = format!("OUT:{}", "ZZ".repeat(32));
        let again = json!({"hash": "d4".repeat(32), "block_number": 800003, "block_timestamp": payout_time + 7200, "index": 1, "is_coinbase": false,
            "inputs": [{"index": 0, "spent_transaction_hash": p1, "spent_output_index": 1, "addresses": [VAULT_BTC], "value": 49_990_000u64}],
            "outputs": [
                {"index": 0, "addresses": [PAYEE_BTC], "value": 10_000_000u64, "type": "witness_v0_keyhash"},
                {"index": 1, "addresses": [VAULT_BTC], "value": 39_980_000u64, "type": "witness_v0_keyhash"},
                {"index": 2, "addresses": [], "value": 0, "type": "nulldata", "script_hex": script},
                {"index": 3, "addresses": [], "value": 0, "type": "nulldata", "script_hex": memo_script(&bad)}],
            "input_value": 49_990_000u64, "output_value": 49_980_000u64, "fee": 10_000});
        text += &format!("{again}\n");
    }
    let f = dir.join("btc.json");
    std::fs::write(&f, text).unwrap();
    f
}

fn stores(t: &Path, payout_time: i64) -> (PathBuf, PathBuf) {
    stores_with(t, payout_time, &format!("=:BTC.BTC:{PAYEE_BTC}"), false)
}

/// The two stores with a1's memo and a second payout of a1 as given.
fn stores_with(t: &Path, payout_time: i64, memo_a1: &str, twice: bool) -> (PathBuf, PathBuf) {
    let (e, b) = (t.join("eth"), t.join("btc"));
    let files = eth_files(t, memo_a1);
    let refs: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    let o = ingest(&e, "ethereum", "etl", &[], &refs);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let o = ingest(&b, "bitcoin", "etl", &[], &[&btc_file(t, payout_time, twice)]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let labels = t.join("labels.csv");
    std::fs::write(&labels, format!("address,category,label\n{EXCH_BTC},exchange,Example Exchange\n")).unwrap();
    let o = run(&["labels", "--store", b.to_str().unwrap(), "import", labels.to_str().unwrap()]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    (e, b)
}

/// `trace` over the two stores, following swaps and bridges from `USER`,
/// with exchanges as stops.
fn run_trace(e: &Path, b: &Path, policy: &str, format: &str) -> Out {
    let (e, b) = (e.to_str().unwrap(), b.to_str().unwrap());
    let args = ["trace", "--store", e, "--store", b, "--policy", policy, "--follow", "swaps,bridges", "--seed", USER];
    run(&[&args[..], &["--stop-at", "exchange", "--format", format]].concat())
}

fn trace(e: &Path, b: &Path, policy: &str) -> Value {
    let o = run_trace(e, b, policy, "json");
    assert_eq!(o.code, 0, "{}", o.stderr);
    serde_json::from_str(&o.stdout).unwrap()
}

#[test]
fn thorchain_eth_to_bitcoin_under_each_policy() {
    let t = tempfile::tempdir().unwrap();
    let (e, b) = stores(t.path(), T0 + 1200);
    let r = trace(&e, &b, "haircut");
    let by = &r["totals_by_asset"];
    let (eth, btc) = (&by["ethereum:ETH"], &by["bitcoin:BTC"]);
    assert!(conserved(eth) && conserved(btc), "{by:#}");
    // All 10 ETH of a1 left through the bridge; a2's 2 ETH stay with it.
    assert_eq!(n(&eth["converted_out"]), 10 * ETH);
    assert_eq!(n(&eth["destinations"]), 2 * ETH);
    // The payout output carries exactly y = floor(x * b / a) = 0.5 BTC.
    assert_eq!(n(&btc["converted_in"]), 50_000_000);
    assert_eq!(n(&btc["seeded"]), 0);
    let conv = r["conversions"].as_array().unwrap();
    assert_eq!(conv.len(), 1, "{conv:#?}");
    let c = &conv[0];
    assert_eq!((c["kind"].as_str(), c["chain"].as_str(), c["to_chain"].as_str()), (Some("bridge"), Some("ethereum"), Some("bitcoin")));
    assert_eq!(c["tx"], tx_hash(0xa1));
    assert_eq!(c["to_tx"], "b2".repeat(32));
    assert_eq!((c["payer"].as_str(), c["payee"].as_str()), (Some(MID), Some(PAYEE_BTC)));
    assert_eq!((n(&c["taint_in"]), n(&c["taint_out"])), (10 * ETH, 50_000_000));
    assert_eq!((c["asset_in"].as_str(), c["asset_out"].as_str()), (Some("ethereum:ETH"), Some("bitcoin:BTC")));
    // The payee sent it on to the exchange (the fee keeps its share); the
    // undelivered deposit is a bridge destination.
    let dests = r["destinations"].as_array().unwrap();
    let exch = dests.iter().find(|d| d["address"] == EXCH_BTC).expect("the exchange on Bitcoin");
    assert_eq!((n(&exch["amount"]), exch["chain"].as_str(), exch["asset"].as_str()), (49_990_000, Some("bitcoin"), Some("bitcoin:BTC")));
    assert_eq!(n(&btc["fees"]), 10_000);
    // Its evidence path crosses the bridge: the seed's payment to the payer
    // on Ethereum, the bridge conversion, the payee's payment on Bitcoin.
    let path = exch["paths"][0].as_array().unwrap();
    assert_eq!(path.len(), 3, "{path:#?}");
    assert_eq!(
        (path[0]["tx"].as_str(), path[0]["from"].as_str(), path[0]["to"].as_str()),
        (Some(tx_hash(0xa0).as_str()), Some(USER), Some(MID))
    );
    assert_eq!(
        (path[0]["asset"].as_str(), path[1]["kind"].as_str(), path[1]["to_tx"].as_str()),
        (Some("ethereum:ETH"), Some("bridge"), Some("b2".repeat(32).as_str()))
    );
    assert_eq!(
        (path[2]["tx"].as_str(), path[2]["from"].as_str(), path[2]["to"].as_str()),
        (Some("c3".repeat(32).as_str()), Some(PAYEE_BTC), Some(EXCH_BTC))
    );
    let dest = dests.iter().find(|d| d["address"] == VAULT).unwrap();
    assert_eq!((dest["category"].as_str(), n(&dest["amount"])), (Some("bridge"), 2 * ETH));
    let unf = r["unfollowed"].as_array().unwrap();
    assert_eq!((unf.len(), unf[0]["status"].as_str(), unf[0]["kind"].as_str()), (1, Some("no-payout"), Some("bridge")));
    // FIFO: the one tainted lot maps onto the whole payout; poison taints it whole.
    let f = trace(&e, &b, "fifo");
    assert!(f["totals_by_asset"].as_object().unwrap().values().all(conserved), "{:#}", f["totals_by_asset"]);
    assert_eq!(n(&f["totals_by_asset"]["bitcoin:BTC"]["converted_in"]), 50_000_000);
    let p = trace(&e, &b, "poison");
    let exch = p["destinations"].as_array().unwrap().iter().find(|h| h["address"] == EXCH_BTC).cloned().unwrap();
    assert_eq!(n(&exch["amount"]), 49_990_000);
    // The same report, byte for byte, on every run.
    assert_eq!(trace(&e, &b, "haircut"), r);
    // Every format names the payee on Bitcoin and the bridge step.
    for format in ["csv", "table", "html", "dot"] {
        let o = run_trace(&e, &b, "haircut", format);
        assert_eq!(o.code, 0, "{format}: {}", o.stderr);
        if std::env::var("SHOW").is_ok() {
            eprintln!("==== {format}\n{}", o.stdout);
        }
        // The HTML page lists destinations and the by-asset table, not dormant holders.
        let shows = if format == "html" { "bitcoin:BTC" } else { EXCH_BTC };
        assert!(o.stdout.contains(shows) || format == "dot", "{format}: {}", o.stdout);
        if format == "html" {
            // Each address and transaction on its own chain's explorer.
            assert!(o.stdout.contains(&format!("https://mempool.space/address/{EXCH_BTC}")), "html links the exchange on Bitcoin");
            assert!(o.stdout.contains(&format!("https://etherscan.io/address/{MID}")) && o.stdout.contains("bridge by"), "html");
        }
        if format == "table" {
            // Whole coins of each chain's native asset, named with its chain.
            assert!(
                o.stdout.contains("0.5 BTC on bitcoin") && o.stdout.contains("10 ETH on ethereum -> 0.5 BTC on bitcoin"),
                "{}",
                o.stdout
            );
        }
    }
}

#[test]
fn a_payout_earlier_than_its_deposit_is_reported_not_followed() {
    let t = tempfile::tempdir().unwrap();
    let (e, b) = stores(t.path(), T0 - 60);
    let r = trace(&e, &b, "haircut");
    let by = &r["totals_by_asset"];
    assert!(by.as_object().unwrap().values().all(conserved), "{by:#}");
    assert_eq!(n(&by["ethereum:ETH"]["converted_out"]), 0);
    assert_eq!(n(&by["ethereum:ETH"]["destinations"]), 12 * ETH);
    assert!(r["conversions"].as_array().unwrap().is_empty());
    let mut status: Vec<&str> = r["unfollowed"].as_array().unwrap().iter().map(|u| u["status"].as_str().unwrap()).collect();
    status.sort();
    assert_eq!(status, ["no-payout", "payout-first"]);
    assert!(r["destinations"].as_array().unwrap().iter().all(|h| h["address"] != EXCH_BTC), "nothing reached the exchange");
}

#[test]
fn conversions_lists_bridge_deposits_with_both_transactions_and_chains() {
    let t = tempfile::tempdir().unwrap();
    let (e, b) = stores(t.path(), T0 + 1200);
    let o = run(&["conversions", "--store", e.to_str().unwrap(), "--store", b.to_str().unwrap()]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let v: Value = serde_json::from_str(&o.stdout).unwrap();
    let rows = v["conversions"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{rows:#?}");
    let r = &rows[0];
    assert_eq!(
        (r["kind"].as_str(), r["status"].as_str(), r["chain"].as_str(), r["to_chain"].as_str()),
        (Some("bridge"), Some("followable"), Some("ethereum"), Some("bitcoin"))
    );
    assert_eq!((r["tx"].as_str(), r["to_tx"].as_str()), (Some(tx_hash(0xa1).as_str()), Some("b2".repeat(32).as_str())));
    assert_eq!(
        (r["asset_in"].as_str(), r["asset_out"].as_str(), r["value_out"].as_str()),
        (Some("ethereum:ETH"), Some("bitcoin:BTC"), Some("50000000"))
    );
    assert_eq!((rows[1]["status"].as_str(), rows[1]["to_tx"].as_str()), (Some("no-payout"), None));
    // The Ethereum store alone: the deposit finds no payout; its own swaps' columns stay.
    let o = run(&["conversions", "--store", e.to_str().unwrap(), "--format", "csv"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let lines: Vec<&str> = o.stdout.lines().collect();
    assert_eq!(lines[0], "tx,chain,block,kind,status,payer,payee,venues,asset_in,value_in,asset_out,value_out,to_tx");
    assert_eq!(lines.len(), 3);
    assert!(lines[1].starts_with(&format!("{},ethereum,100,bridge,no-payout,{MID},", tx_hash(0xa1))), "{}", lines[1]);
    // Two stores of one chain are refused.
    let o = run_trace(&e, &e, "haircut", "json");
    assert_eq!(o.code, 1, "{}", o.stderr);
    assert!(o.stderr.contains("different chain"), "{}", o.stderr);
}

/// Bad input that is still data: a deposit memo that names no destination,
/// one that asks for no swap, and a deposit paid out twice (beside a payout
/// memo whose hash is not one): each is reported with its status and held
/// by the bridge, none is followed, nothing is counted twice.
#[test]
fn malformed_memos_and_double_payouts_are_reported_not_followed() {
    for (memo, twice, status) in [
        ("=:BTC.BTC", false, "not-a-swap"),
        (&format!("+:BTC.BTC:{PAYEE_BTC}")[..], false, "not-a-swap"),
        (&format!("=:b:{PAYEE_BTC}")[..], true, "several-payouts"),
    ] {
        let t = tempfile::tempdir().unwrap();
        let (e, b) = stores_with(t.path(), T0 + 1200, memo, twice);
        let r = trace(&e, &b, "haircut");
        let by = &r["totals_by_asset"];
        assert!(by.as_object().unwrap().values().all(conserved), "{memo}: {by:#}");
        assert_eq!((n(&by["ethereum:ETH"]["converted_out"]), n(&by["ethereum:ETH"]["destinations"])), (0, 12 * ETH), "{memo}");
        assert!(by.get("bitcoin:BTC").is_none_or(|t| n(&t["converted_in"]) == 0), "{memo}: {by:#}");
        assert!(r["conversions"].as_array().unwrap().is_empty(), "{memo}");
        let mut got: Vec<&str> = r["unfollowed"].as_array().unwrap().iter().map(|u| u["status"].as_str().unwrap()).collect();
        got.sort();
        let mut want = vec!["no-payout", status];
        want.sort();
        assert_eq!(got, want, "{memo}");
        let o = run(&["conversions", "--store", e.to_str().unwrap(), "--store", b.to_str().unwrap()]);
        let rows: Value = serde_json::from_str(&o.stdout).unwrap();
        assert_eq!(rows["conversions"][0]["status"], status, "{memo}: {rows:#}");
    }
}

/// A THORChain inbound on Bitcoin (the vault first, the memo, the change)
/// paid out on Ethereum by the router's `TransferOut` with `OUT:<txid>`:
/// the vault output's taint leaves with the deposit and the payee receives
/// `y` in ETH, conserved per asset on both chains; without the payout the
/// vault holds it.
#[test]
fn thorchain_bitcoin_to_eth() {
    const SEED_BTC: &str = "bc1qseedseedseedseedseedseedseedseedseedsd";
    const PAYEE: &str = "0x3333333333333333333333333333333333333333";
    let (f, d) = ("f0".repeat(32), "d0".repeat(32));
    let script = memo_script(&format!("=:ETH.ETH:{PAYEE}"));
    let fund = coinbase(&f, SEED_BTC);
    let dep = json!({"hash": d, "block_number": 800001, "block_timestamp": T0, "index": 1, "is_coinbase": false,
        "inputs": [{"index": 0, "spent_transaction_hash": f, "spent_output_index": 0, "addresses": [SEED_BTC], "value": 100_000_000u64}],
        "outputs": [
            {"index": 0, "addresses": [VAULT_BTC], "value": 60_000_000u64, "type": "witness_v0_keyhash"},
            {"index": 1, "addresses": [], "value": 0, "type": "nulldata", "script_hex": script},
            {"index": 2, "addresses": [SEED_BTC], "value": 39_000_000u64, "type": "witness_v0_keyhash"}],
        "input_value": 100_000_000u64, "output_value": 99_000_000u64, "fee": 1_000_000});
    let out_memo = format!("OUT:{}", d.to_uppercase());
    let out_data = format!("0x{}{}{}{}", word(0), word(20 * ETH), word(96), hex::encode(abi_tail(out_memo.as_bytes())));
    let p1 = tx_hash(0xe1);
    const TRANSFER_OUT: &str = "0xa9cd03aa3c1b4515114539cd53d22085129d495cb9e9f9af77864526240f1bf7";
    for paid in [true, false] {
        let t = tempfile::tempdir().unwrap();
        let (e, b) = (t.path().join("eth"), t.path().join("btc"));
        std::fs::write(t.path().join("btc.json"), format!("{fund}\n{dep}\n")).unwrap();
        assert_eq!(ingest(&b, "bitcoin", "etl", &[], &[&t.path().join("btc.json")]).code, 0);
        let (tx, tr, lg) = (t.path().join("transactions.csv"), t.path().join("traces.csv"), t.path().join("logs.csv"));
        let twenty = 20 * ETH;
        std::fs::write(&tx, format!("hash,block_number,block_timestamp,transaction_index,from_address,to_address,value,gas_price,receipt_gas_used,receipt_status\n{p1},200,{},0,{VAULT},{ROUTER},{twenty},0,0,1\n", T0 + 600)).unwrap();
        std::fs::write(&tr, format!("block_number,transaction_hash,transaction_index,from_address,to_address,value,trace_type,call_type,trace_address,status\n200,{p1},0,{VAULT},{ROUTER},{twenty},call,call,,1\n200,{p1},0,{ROUTER},{PAYEE},{twenty},call,call,0,1\n")).unwrap();
        let log = if paid {
            format!("3,{p1},0,{ROUTER},{out_data},\"{TRANSFER_OUT},{},{}\",200\n", padded(VAULT), padded(PAYEE))
        } else {
            String::new()
        };
        std::fs::write(&lg, format!("log_index,transaction_hash,transaction_index,address,data,topics,block_number\n{log}")).unwrap();
        assert_eq!(ingest(&e, "ethereum", "etl", &[], &[&tx, &tr, &lg]).code, 0);
        for policy in ["haircut", "fifo", "poison"] {
            let o = run(&[
                "trace",
                "--store",
                b.to_str().unwrap(),
                "--store",
                e.to_str().unwrap(),
                "--policy",
                policy,
                "--follow",
                "swaps,bridges",
                "--seed",
                SEED_BTC,
                "--format",
                "json",
            ]);
            assert_eq!(o.code, 0, "{}", o.stderr);
            let r: Value = serde_json::from_str(&o.stdout).unwrap();
            let by = &r["totals_by_asset"];
            if policy != "poison" {
                assert!(by.as_object().unwrap().values().all(conserved), "{policy}: {by:#}");
            }
            let btc = &by["bitcoin:BTC"];
            assert_eq!((n(&btc["seeded"]), n(&btc["fees"]), n(&btc["held_by_seeds"])), (100_000_000, 1_000_000, 39_000_000), "{policy}");
            if paid {
                assert_eq!(n(&btc["converted_out"]), 60_000_000, "{policy}: {btc:#}");
                assert_eq!(n(&by["ethereum:ETH"]["converted_in"]), twenty, "{policy}");
                let c = &r["conversions"][0];
                assert_eq!(
                    (c["chain"].as_str(), c["to_chain"].as_str(), c["tx"].as_str(), c["to_tx"].as_str()),
                    (Some("bitcoin"), Some("ethereum"), Some(d.as_str()), Some(p1.as_str()))
                );
                assert_eq!((c["payer"].as_str(), c["payee"].as_str(), n(&c["taint_in"])), (Some(SEED_BTC), Some(PAYEE), 60_000_000));
                let payee = r["dormant"].as_array().unwrap().iter().find(|h| h["address"] == PAYEE).cloned().unwrap();
                assert_eq!((n(&payee["amount"]), payee["chain"].as_str()), (twenty, Some("ethereum")));
            } else {
                // The vault holds the deposit: a bridge destination on Bitcoin.
                let v = r["destinations"].as_array().unwrap().iter().find(|h| h["address"] == VAULT_BTC).cloned().unwrap();
                assert_eq!(
                    (n(&v["amount"]), v["category"].as_str(), v["chain"].as_str()),
                    (60_000_000, Some("bridge"), Some("bitcoin")),
                    "{policy}"
                );
                assert_eq!(r["unfollowed"][0]["status"], "no-payout");
                assert!(by.get("ethereum:ETH").is_none_or(|t| n(&t["converted_in"]) == 0));
            }
        }
        // Screening: the seed's output is a source; its deposit output
        // crosses to the payee whole (y = b), one hop from the source.
        let labels = t.path().join("hack.csv");
        std::fs::write(&labels, format!("address,category\n{SEED_BTC},hack\n")).unwrap();
        assert_eq!(run(&["labels", "--store", b.to_str().unwrap(), "import", labels.to_str().unwrap()]).code, 0);
        let addresses = t.path().join("addresses.txt");
        std::fs::write(&addresses, format!("{PAYEE}\n{VAULT_BTC}\n")).unwrap();
        let a = screen(&[&b, &e], &addresses, &["--follow", "bridges"]);
        let (payee, vault) = (&a["results"][0], &a["results"][1]);
        assert_eq!((payee["chain"].as_str(), vault["chain"].as_str()), (Some("ethereum"), Some("bitcoin")));
        if paid {
            let x = &payee["exposure"][0];
            assert_eq!((n(&x["amount"]), n(&x["direct"]), x["hops"].as_u64()), (twenty, twenty, Some(1)), "{payee:#}");
            let chains: Vec<&str> = x["path"].as_array().unwrap().iter().map(|s| s["chain"].as_str().unwrap()).collect();
            assert_eq!(chains, ["bitcoin", "ethereum"], "{x:#}");
            assert_eq!(x["path"][0]["tx"].as_str(), Some(d.as_str()));
            assert!(vault["exposure"].as_array().unwrap().is_empty(), "{vault:#}");
        } else {
            assert!(payee["exposure"].as_array().unwrap().is_empty(), "{payee:#}");
            assert_eq!(n(&vault["exposure"][0]["amount"]), 60_000_000, "{vault:#}");
        }
    }
}

/// `screen` over the given stores with `--categories hack` and `extra`.
fn screen(stores: &[&Path], addresses: &Path, extra: &[&str]) -> Value {
    let o = screen_hack(stores, addresses, extra);
    assert_eq!(o.code, 0, "{}", o.stderr);
    serde_json::from_str(&o.stdout).unwrap()
}

#[test]
fn screening_carries_exposure_from_ethereum_into_bitcoin() {
    let t = tempfile::tempdir().unwrap();
    let (e, b) = stores(t.path(), T0 + 600);
    let labels = t.path().join("hack.csv");
    std::fs::write(&labels, format!("address,category\n{USER},hack\n")).unwrap();
    let o = run(&["labels", "--store", e.to_str().unwrap(), "import", labels.to_str().unwrap()]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let addresses = t.path().join("addresses.txt");
    std::fs::write(&addresses, format!("{MID}\n{PAYEE_BTC}\n{EXCH_BTC}\n{VAULT_BTC}\n{ROUTER}\n")).unwrap();
    let a = screen(&[&e, &b], &addresses, &["--follow", "bridges"]);
    let rs = a["results"].as_array().unwrap();
    // Each address on the chains its form fits: 0x on Ethereum, the rest on Bitcoin.
    let at: Vec<(&str, &str)> = rs.iter().map(|r| (r["address"].as_str().unwrap(), r["chain"].as_str().unwrap())).collect();
    assert_eq!(at, [(MID, "ethereum"), (PAYEE_BTC, "bitcoin"), (EXCH_BTC, "bitcoin"), (VAULT_BTC, "bitcoin"), (ROUTER, "ethereum")]);
    let x = |r: &Value| (n(&r["exposure"][0]["amount"]), n(&r["exposure"][0]["direct"]), r["exposure"][0]["hops"].as_u64().unwrap());
    assert_eq!(x(&rs[0]), (10 * ETH, 10 * ETH, 1));
    // a1 carried all of MID's 10 ETH: the payout output carries b, 0.5 BTC.
    assert_eq!(x(&rs[1]), (50_000_000, 0, 2), "{:#}", rs[1]);
    assert_eq!((rs[1]["asset"].as_str(), n(&rs[1]["received"])), (Some("BTC"), 50_000_000));
    let path: Vec<(&str, &str, &str)> = rs[1]["exposure"][0]["path"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["chain"].as_str().unwrap(), s["from"].as_str().unwrap(), s["to"].as_str().unwrap()))
        .collect();
    assert_eq!(path, [("ethereum", USER, MID), ("ethereum", MID, ROUTER), ("bitcoin", VAULT_BTC, PAYEE_BTC)]);
    // §3 on: the exchange's output takes it all but the fee.
    assert_eq!(x(&rs[2]), (49_990_000, 0, 3));
    assert_eq!(rs[2]["exposure"][0]["path"].as_array().unwrap().len(), 4);
    // The vault's change is no arrival; the router took only a2, never paid out.
    assert!(rs[3]["exposure"].as_array().unwrap().is_empty(), "{:#}", rs[3]);
    assert_eq!(x(&rs[4]), (2 * ETH, 2 * ETH, 1), "{:#}", rs[4]);
    // Without bridges, nothing reaches Bitcoin; a Bitcoin store alone screens its addresses.
    let plain = screen(&[&e, &b], &addresses, &[]);
    assert!(plain["results"][1]["exposure"].as_array().unwrap().is_empty());
    assert_eq!(n(&plain["results"][4]["exposure"][0]["amount"]), 12 * ETH);
    let btc_only = t.path().join("btc.txt");
    std::fs::write(&btc_only, format!("{PAYEE_BTC}\n{OTHER_BTC}\n")).unwrap();
    let one = screen(&[&b], &btc_only, &[]);
    let rs = one["results"].as_array().unwrap();
    assert_eq!((rs[0]["activity"].as_bool(), n(&rs[0]["received"]), rs[0].get("chain")), (Some(true), 50_000_000, None));
    assert_eq!(rs[1]["activity"], false);
    // An address no store's chain takes is bad input naming its line.
    let o = run(&["screen", "--store", b.to_str().unwrap(), addresses.to_str().unwrap()]);
    assert_eq!(o.code, 1, "{}", o.stderr);
    assert!(o.stderr.contains("line 1") && o.stderr.contains("not an address of bitcoin"), "{}", o.stderr);
}

/// A followed deposit's fee is an ordinary event: the payer's taint pool
/// loses the fee's share with it, so what it sends on later never carries
/// more taint than value (a fee taken as a bridge leg would leave the pool
/// above the balance).
#[test]
fn screening_counts_a_deposits_fee_as_an_ordinary_event() {
    let t = tempfile::tempdir().unwrap();
    let (e, b) = (t.path().join("eth"), t.path().join("btc"));
    let (a0, a1, a3) = (tx_hash(0xa0), tx_hash(0xa1), tx_hash(0xa3));
    const ON: &str = "0x5555555555555555555555555555555555555555";
    let (ten, five, rest) = (10 * ETH, 5 * ETH, 5 * ETH - ETH / 100);
    // a1 pays a fee of 0.01 ETH (10^12 wei a unit of gas, 10^4 units).
    let txs = format!(
        "hash,block_number,block_timestamp,transaction_index,from_address,to_address,value,gas_price,receipt_gas_used,receipt_status\n\
         {a0},99,{},0,{USER},{MID},{ten},0,0,1\n\
         {a1},100,{T0},0,{MID},{ROUTER},{five},1000000000000,10000,1\n\
         {a3},101,{},0,{MID},{ON},{rest},0,0,1\n",
        T0 - 12,
        T0 + 12
    );
    let traces = format!(
        "block_number,transaction_hash,transaction_index,from_address,to_address,value,trace_type,call_type,trace_address,status\n\
         99,{a0},0,{USER},{MID},{ten},call,call,,1\n\
         100,{a1},0,{MID},{ROUTER},{five},call,call,,1\n\
         100,{a1},0,{ROUTER},{VAULT},{five},call,call,0,1\n\
         101,{a3},0,{MID},{ON},{rest},call,call,,1\n"
    );
    let zero = padded("0x0000000000000000000000000000000000000000");
    let data = deposit_data(five, &format!("=:BTC.BTC:{PAYEE_BTC}"));
    let logs = format!(
        "log_index,transaction_hash,transaction_index,address,data,topics,block_number\n0,{a1},0,{ROUTER},{data},\"{DEPOSIT},{},{zero}\",100\n",
        padded(VAULT)
    );
    let files: Vec<PathBuf> = ["transactions.csv", "traces.csv", "logs.csv"].iter().map(|f| t.path().join(f)).collect();
    for (f, text) in files.iter().zip([txs, traces, logs]) {
        std::fs::write(f, text).unwrap();
    }
    ingest_ok(&e, "ethereum", &files);
    ingest_ok(&b, "bitcoin", &[btc_file(t.path(), T0 + 600, false)]);
    let labels = t.path().join("hack.csv");
    std::fs::write(&labels, format!("address,category\n{USER},hack\n")).unwrap();
    assert_eq!(run(&["labels", "--store", e.to_str().unwrap(), "import", labels.to_str().unwrap()]).code, 0);
    let addresses = t.path().join("addresses.txt");
    std::fs::write(&addresses, format!("{ON}\n{PAYEE_BTC}\n")).unwrap();
    let a = screen(&[&e, &b], &addresses, &["--follow", "bridges"]);
    let on = &a["results"][0];
    assert_eq!((n(&on["received"]), n(&on["exposure"][0]["amount"])), (rest, rest), "{on:#}");
    assert_eq!(on["exposure"][0]["share"].as_f64(), Some(1.0));
    // The payout carried the deposit's taint: all 5 of MID's 10 tainted ETH.
    assert_eq!(n(&a["results"][1]["exposure"][0]["amount"]), 50_000_000, "{:#}", a["results"][1]);
}
