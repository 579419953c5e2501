//! THORChain router logs on an EVM store: `Deposit` and `TransferOut`
//! from a known router are kept as recognised logs, and their memos as the
//! store's memos by (transaction, log index); the same events from any
//! other address are not. Fixtures are blockchain-etl CSV written by hand.

mod common;
use chaintrace::convert::abi::abi_string;
use chaintrace::convert::topics::{Kind, RECOGNISED, THORCHAIN_ROUTERS, recognise};
use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// `Deposit(address,address,uint256,string)` and
/// `TransferOut(address,address,address,uint256,string)`.
const DEPOSIT: &str = "0xef519b7eb82aaf6ac376a6df2d793843ebfd593de5f1a0601d3cc6ab49ebb395";
const TRANSFER_OUT: &str = "0xa9cd03aa3c1b4515114539cd53d22085129d495cb9e9f9af77864526240f1bf7";
/// THORChain's Ethereum router V4.1.
const ROUTER: &str = "0xd37bbe5744d730a1d98d8dc97c42f0ca46ad7146";
const USER: &str = "0x2222222222222222222222222222222222222222";
const VAULT: &str = "0x1111111111111111111111111111111111111111";
const PAYEE: &str = "0x3333333333333333333333333333333333333333";
/// A contract that is no THORChain router (Maya's, say).
const OTHER: &str = "0x7777777777777777777777777777777777777777";
const MEMO_IN: &str = "=:BTC.BTC:bc1qxy2kgdygjrsqtzq2n0yrf2493p83kkfjhx0wlh";
/// 10 ETH in wei.
const TEN_ETH: u128 = 10_000_000_000_000_000_000;

/// The memo of the payout: `OUT:` and the inbound hash in capitals.
fn memo_out() -> String {
    format!("OUT:{}", tx_hash(0xa1)[2..].to_uppercase())
}

/// An ABI `string`'s tail: its length word, then its bytes padded to words.
fn tail(s: &str) -> String {
    hex::encode(chaintrace::convert::abi::abi_tail(s.as_bytes()))
}

/// `Deposit`'s data: `(uint256 amount, string memo)`.
fn deposit_data(amount: u128, memo: &str) -> String {
    format!("0x{}{}{}", word(amount), word(64), tail(memo))
}

/// `TransferOut`'s data: `(address asset, uint256 amount, string memo)`.
fn transfer_out_data(amount: u128, memo: &str) -> String {
    format!("0x{}{}{}{}", word(0), word(amount), word(96), tail(memo))
}

const LOGS_HEAD: &str = "log_index,transaction_hash,transaction_index,address,data,topics,block_number\n";

/// One `logs.csv` row.
fn log_row(index: u32, tx: &str, emitter: &str, data: &str, topics: &[String]) -> String {
    format!("{index},{tx},0,{emitter},{data},\"{}\",100\n", topics.join(","))
}

/// The logs: the router's deposit (log 3) in the first transaction beside
/// the same event from another contract (log 4), and the router's payout
/// (log 7) in the second.
fn logs_csv() -> String {
    let zero = padded("0x0000000000000000000000000000000000000000");
    let deposit = deposit_data(TEN_ETH, MEMO_IN);
    let mut s = String::from(LOGS_HEAD);
    s += &log_row(3, &tx_hash(0xa1), ROUTER, &deposit, &[DEPOSIT.into(), padded(VAULT), zero.clone()]);
    s += &log_row(4, &tx_hash(0xa1), OTHER, &deposit, &[DEPOSIT.into(), padded(VAULT), zero]);
    let out = transfer_out_data(TEN_ETH / 2, &memo_out());
    s += &log_row(7, &tx_hash(0xa2), ROUTER, &out, &[TRANSFER_OUT.into(), padded(VAULT), padded(PAYEE)]);
    s
}

/// The transactions and their traces: the user sends 10 ETH to the router,
/// which passes it to the vault; the vault pays 5 ETH out through the
/// router to the payee.
fn fixture(dir: &Path) -> [PathBuf; 3] {
    let (a1, a2) = (tx_hash(0xa1), tx_hash(0xa2));
    let half = TEN_ETH / 2;
    let txs = format!(
        "hash,block_number,transaction_index,from_address,to_address,value,gas_price,receipt_gas_used,receipt_status\n\
         {a1},100,0,{USER},{ROUTER},{TEN_ETH},10,50000,1\n\
         {a2},100,1,{VAULT},{ROUTER},{half},10,60000,1\n"
    );
    let traces = format!(
        "block_number,transaction_hash,transaction_index,from_address,to_address,value,trace_type,call_type,trace_address,status\n\
         100,{a1},0,{USER},{ROUTER},{TEN_ETH},call,call,,1\n\
         100,{a1},0,{ROUTER},{VAULT},{TEN_ETH},call,call,0,1\n\
         100,{a2},1,{VAULT},{ROUTER},{half},call,call,,1\n\
         100,{a2},1,{ROUTER},{PAYEE},{half},call,call,0,1\n"
    );
    let files = ["transactions.csv", "traces.csv", "logs.csv"].map(|f| dir.join(f));
    for (f, text) in files.iter().zip([txs, traces, logs_csv()]) {
        std::fs::write(f, text).unwrap();
    }
    files
}

/// The store's memos as (transaction, log index, memo text).
fn memos(st: &Path) -> Vec<(String, u32, String)> {
    let s = chaintrace::store::Store::open(st).unwrap();
    s.memos().into_iter().map(|m| (s.tx_text(m.tx), m.vout, String::from_utf8(m.data).unwrap())).collect()
}

/// The store's recognised logs as (transaction, log index, emitter, kind).
fn logs(st: &Path) -> Vec<(String, u32, String, Option<Kind>)> {
    let s = chaintrace::store::Store::open(st).unwrap();
    s.logs().iter().map(|r| (s.tx_text(r.tx), r.index, s.address_text(r.emitter), Kind::from_code(r.kind))).collect()
}

fn expected_memos() -> Vec<(String, u32, String)> {
    vec![(tx_hash(0xa1), 3, MEMO_IN.to_string()), (tx_hash(0xa2), 7, memo_out())]
}

fn expected_logs() -> Vec<(String, u32, String, Option<Kind>)> {
    vec![
        (tx_hash(0xa1), 3, ROUTER.to_string(), Some(Kind::ThorDeposit)),
        (tx_hash(0xa2), 7, ROUTER.to_string(), Some(Kind::ThorTransferOut)),
    ]
}

#[test]
fn router_events_count_only_from_thorchain_routers() {
    let topic = |t: &str| -> [u8; 32] { hex::decode(&t[2..]).unwrap().try_into().unwrap() };
    let addr = |a: &str| -> [u8; 20] { hex::decode(&a[2..]).unwrap().try_into().unwrap() };
    for router in THORCHAIN_ROUTERS {
        assert_eq!(recognise(&topic(DEPOSIT), &router), Some(Kind::ThorDeposit));
        assert_eq!(recognise(&topic(TRANSFER_OUT), &router), Some(Kind::ThorTransferOut));
    }
    assert!(THORCHAIN_ROUTERS.contains(&addr(ROUTER)));
    assert!(THORCHAIN_ROUTERS.contains(&addr("0x00dc6100103bc402d490aee3f9a5560cbd91f1d4")), "V6.1");
    assert_eq!(recognise(&topic(DEPOSIT), &addr(OTHER)), None);
    assert_eq!(recognise(&topic(TRANSFER_OUT), &addr(OTHER)), None);
    // The codes older stores hold keep their kinds; the new ones follow.
    assert_eq!(Kind::Unwrap.code(), 8);
    assert_eq!((Kind::ThorDeposit.code(), Kind::ThorTransferOut.code()), (9, 10));
    for r in RECOGNISED {
        assert_eq!(Kind::from_code(r.kind.code()), Some(r.kind));
    }
    // The fixtures' data decodes as the router wrote it.
    let data = |d: String| hex::decode(&d[2..]).unwrap();
    assert_eq!(abi_string(&data(deposit_data(TEN_ETH, MEMO_IN)), 1).unwrap(), MEMO_IN.as_bytes());
    assert_eq!(abi_string(&data(transfer_out_data(1, &memo_out())), 2).unwrap(), memo_out().as_bytes());
}

/// The router's logs and memos are kept; the other contract's `Deposit`
/// is not; the deposit is no conversion.
#[test]
fn router_memos_are_kept_by_transaction_and_log_index() {
    let t = tempfile::tempdir().unwrap();
    let files = fixture(t.path());
    let st = t.path().join("s");
    let o = ingest(&st, "ethereum", "etl", &["--no-progress"], &files.iter().map(PathBuf::as_path).collect::<Vec<_>>());
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(logs(&st), expected_logs());
    assert_eq!(memos(&st), expected_memos());
    assert_eq!(memos(&st)[1].2.len(), 4 + 64);
    // Neither a swap nor an ambiguous conversion (the router is no venue):
    // one bridge deposit, whose payout here pays no address of this chain.
    let o = run(&["conversions", "--store", st.to_str().unwrap()]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let rows = serde_json::from_str::<Value>(&o.stdout).unwrap()["conversions"].clone();
    assert_eq!(rows.as_array().unwrap().len(), 1, "{rows:#}");
    assert_eq!((rows[0]["kind"].as_str(), rows[0]["status"].as_str()), (Some("bridge"), Some("no-payee")));
    assert_eq!((rows[0]["payer"].as_str(), rows[0]["venues"][0].as_str()), (Some(USER), Some(VAULT)));
    // The export carries the memos in the logs' data, so they ingest back.
    let out = t.path().join("export");
    let o = run(&["export", "--store", st.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let again = t.path().join("again");
    let o = ingest(&again, "ethereum", "parquet", &["--no-progress"], &[&out.join("events.parquet"), &out.join("logs.parquet")]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(logs(&again), expected_logs());
    assert_eq!(memos(&again), expected_memos());
}

/// Logs appended after the transactions add the memos; a later append and
/// a compaction keep them; the same logs again change nothing.
#[test]
fn appends_keep_the_memos() {
    let t = tempfile::tempdir().unwrap();
    let [txs, traces, logs_file] = fixture(t.path());
    let st = t.path().join("s");
    assert_eq!(ingest(&st, "ethereum", "etl", &["--no-progress"], &[&txs, &traces]).code, 0);
    assert!(memos(&st).is_empty());
    let o = ingest(&st, "ethereum", "etl", &["--no-progress"], &[&logs_file]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(memos(&st), expected_memos());
    let more = t.path().join("more.csv");
    std::fs::write(
        &more,
        format!("hash,block_number,transaction_index,from_address,to_address,value\n{},101,0,{PAYEE},{USER},7\n", tx_hash(0xb1)),
    )
    .unwrap();
    let o = ingest(&st, "ethereum", "etl", &["--no-progress"], &[&more]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(stats(&st)["events"], 7, "four transfers and two fees, then one more");
    assert_eq!(memos(&st), expected_memos());
    assert_eq!(logs(&st), expected_logs());
    assert_eq!(ingest(&st, "ethereum", "etl", &["--no-progress"], &[&logs_file]).code, 0);
    assert_eq!(memos(&st), expected_memos());
    let o = run(&["compact", "--store", st.to_str().unwrap()]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(memos(&st), expected_memos());
    assert_eq!(logs(&st), expected_logs());
}

/// A router log whose memo cannot be read is bad input naming file, line
/// and field; the same data from another contract is not read at all.
#[test]
fn an_unreadable_router_memo_names_file_line_and_field() {
    let t = tempfile::tempdir().unwrap();
    let f = t.path().join("logs.csv");
    let zero = padded("0x0000000000000000000000000000000000000000");
    let topics = [DEPOSIT.to_string(), padded(VAULT), zero];
    let good = deposit_data(TEN_ETH, MEMO_IN);
    // The string's length claims one byte more than the data holds.
    let long = format!("0x{}{}{}", word(TEN_ETH), word(64), &tail(MEMO_IN).replacen(&word(MEMO_IN.len() as u128), &word(65), 1));
    // Cut short inside the offset word; an offset past the end; not UTF-8.
    let short = good[..2 + 64 + 20].to_string();
    let far = format!("0x{}{}", word(TEN_ETH), word(4096));
    let latin = deposit_data(TEN_ETH, "caf\u{e9}").replace(&hex::encode("caf\u{e9}"), &hex::encode(b"caf\xe9\x00"));
    for (bad, says) in [
        (&long, "runs past the end"),
        (&short, "no word 1"),
        (&far, "offset 4096"),
        (&latin, "not UTF-8"),
        (&"0x".to_string(), "no word 1"),
        (&String::new(), "empty"),
    ] {
        let rows = format!(
            "{LOGS_HEAD}{}{}",
            log_row(3, &tx_hash(0xa1), ROUTER, &good, &topics),
            log_row(5, &tx_hash(0xa1), ROUTER, bad, &topics)
        );
        std::fs::write(&f, rows).unwrap();
        let st = t.path().join("s");
        let o = ingest(&st, "ethereum", "etl", &["--no-progress"], &[&f]);
        assert_eq!(o.code, 1, "{says}: {}", o.stderr);
        assert!(
            o.stderr.contains("logs.csv") && o.stderr.contains("line 3") && o.stderr.contains("data") && o.stderr.contains(says),
            "{says}: {}",
            o.stderr
        );
        assert!(!st.join("CURRENT").exists(), "nothing written");
    }
    // From a contract that is no router the same rows are not read.
    let rows = format!("{LOGS_HEAD}{}", log_row(5, &tx_hash(0xa1), OTHER, &long, &topics));
    std::fs::write(&f, rows).unwrap();
    let st = t.path().join("other");
    let o = ingest(&st, "ethereum", "etl", &["--no-progress"], &[&f]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(logs(&st).is_empty() && memos(&st).is_empty());
}
