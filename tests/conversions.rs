//! Swap detection (TRACING.md §7) on real data, and the recognised log
//! topics recomputed from their event signatures.

mod common;
use chaintrace::convert::detect::{Conversion, Leg, classify, with_weth_as_eth};
use chaintrace::convert::topics::{Kind, RECOGNISED, THORCHAIN_ROUTERS, TRANSFER, WETH, recognise};
use chaintrace::model::amount::Amount;
use common::*;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};

fn keccak(text: &str) -> [u8; 32] {
    use tiny_keccak::{Hasher, Keccak};
    let mut k = Keccak::v256();
    k.update(text.as_bytes());
    let mut out = [0u8; 32];
    k.finalize(&mut out);
    out
}

#[test]
fn every_topic_is_the_keccak_of_its_signature() {
    for r in RECOGNISED {
        assert_eq!(hex::encode(r.topic), hex::encode(keccak(r.signature)), "{}", r.signature);
    }
    assert_eq!(TRANSFER, keccak("Transfer(address,address,uint256)"));
    // Wrapping counts only from the WETH contract.
    let deposit = keccak("Deposit(address,uint256)");
    assert_eq!(recognise(&deposit, &WETH), Some(Kind::Wrap));
    assert_eq!(recognise(&deposit, &[7u8; 20]), None);
    // THORChain's router events (THORChain_Router V4.1) count only from its routers.
    let thor = keccak("Deposit(address,address,uint256,string)");
    assert_eq!(hex::encode(thor), "ef519b7eb82aaf6ac376a6df2d793843ebfd593de5f1a0601d3cc6ab49ebb395");
    let out = keccak("TransferOut(address,address,address,uint256,string)");
    assert_eq!(hex::encode(out), "a9cd03aa3c1b4515114539cd53d22085129d495cb9e9f9af77864526240f1bf7");
    assert_eq!(recognise(&thor, &THORCHAIN_ROUTERS[0]), Some(Kind::ThorDeposit));
    assert_eq!(recognise(&out, &THORCHAIN_ROUTERS[5]), Some(Kind::ThorTransferOut));
    assert_eq!((recognise(&thor, &[7u8; 20]), recognise(&out, &WETH)), (None, None));
}

/// The two real mainnet blocks 17,173,049-17,173,050 as §7 reads them:
/// legs (successful transactions' ETH values and token transfers, WETH as
/// ETH) and venues (emitters of recognised swap logs), by transaction.
struct Blocks {
    legs: BTreeMap<String, Vec<Leg>>,
    venues: BTreeMap<String, Vec<u32>>,
    ids: HashMap<String, u32>,
    swap_logs: usize,
}

fn blocks() -> Blocks {
    let dir = etl("test_stream/blocks_17173049_17173050");
    let rows = |f: &str| -> Vec<Value> {
        std::fs::read_to_string(dir.join(f)).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    };
    let mut ids: HashMap<String, u32> = HashMap::new();
    let mut id = |s: &str| {
        let n = ids.len() as u32;
        *ids.entry(s.to_string()).or_insert(n)
    };
    let eth = id("ETH");
    let text = |v: &Value| v.as_str().map_or_else(|| v.to_string(), str::to_string);
    let amount = |v: &Value| Amount::parse_base(text(v).as_bytes()).unwrap();
    let mut legs: BTreeMap<String, Vec<Leg>> = BTreeMap::new();
    let mut ok = std::collections::HashSet::new();
    for t in rows("expected_transactions.json") {
        if t["receipt_status"] != 1 {
            continue;
        }
        let h = text(&t["hash"]);
        ok.insert(h.clone());
        let v = amount(&t["value"]);
        if !v.is_zero() {
            let (from, to) = (id(&text(&t["from_address"])), id(&text(&t["to_address"])));
            legs.entry(h).or_default().push(Leg { from, to, asset: eth, value: v });
        }
    }
    for t in rows("expected_token_transfers.json") {
        let h = text(&t["transaction_hash"]);
        if ok.contains(&h) {
            let (from, to, asset) = (id(&text(&t["from_address"])), id(&text(&t["to_address"])), id(&text(&t["token_address"])));
            legs.entry(h).or_default().push(Leg { from, to, asset, value: amount(&t["value"]) });
        }
    }
    let mut venues: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    let mut swap_logs = 0;
    for l in rows("expected_logs.json") {
        let Some(first) = l["topics"].as_array().and_then(|t| t.first()) else { continue };
        let topic: [u8; 32] = hex::decode(&text(first)[2..]).unwrap().try_into().unwrap();
        let emitter: [u8; 20] = hex::decode(&text(&l["address"])[2..]).unwrap().try_into().unwrap();
        if let Some(Kind::Swap(_)) = recognise(&topic, &emitter) {
            swap_logs += 1;
            let v = venues.entry(text(&l["transaction_hash"])).or_default();
            let a = id(&text(&l["address"]));
            if !v.contains(&a) {
                v.push(a);
            }
        }
    }
    let weth = id(&format!("0x{}", hex::encode(WETH)));
    for l in legs.values_mut() {
        *l = with_weth_as_eth(l, eth, Some(weth), Some(weth));
    }
    Blocks { legs, venues, ids, swap_logs }
}

/// Checked by hand against the blocks' raw legs (ids as the explorer shows
/// them); why each is what it is:
/// - `ec7cc4df…`: 0x64a018b2… sends 7.4 ETH to a router contract
///   (0xef1c6e67…), which wraps it (WETH `Deposit`, log 4: nothing moves
///   for §7), moves the WETH to itself (log 5) and then to the Uniswap V2
///   pair 0x7054b0f9… (log 6); the pair emits `Sync` and `Swap` (logs 8, 9)
///   and pays 151,553,041,876,899,159,101,915,312,117 base units of token
///   0x1ce27055… to 0x64a018b2… (log 7). The router nets to zero; one taker,
///   down 7.4 ETH and up in the token: followable, payer and payee the same.
/// - `eb107a40…` (a searcher's bundle): the searcher's contract
///   0x6b75d8af… pays 7.056 ETH of WETH to the pair and gets the token,
///   and the transaction's sender 0xae2fc483… pays the contract 1.64 gwei:
///   two takers down in ETH: ambiguous.
/// - `da46ac19…`: token 0xb02edbcc… sells its own fee balance through the
///   router; the ETH the router pays out is an internal transfer, which
///   these fixtures (no traces file) lack, so the router looks like a
///   taker up in ETH: ambiguous here, as any reading without traces is.
#[test]
fn real_blocks_hold_followable_and_ambiguous_swaps() {
    let b = blocks();
    assert_eq!(b.swap_logs, 79, "69 Uniswap V2 and 10 V3 swap logs");
    assert_eq!(b.venues.len(), 68);
    let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
    let mut all = BTreeMap::new();
    for (h, legs) in &b.legs {
        let c = classify(legs, b.venues.get(h).map_or(&[][..], Vec::as_slice));
        if b.venues.contains_key(h) {
            assert!(c.is_some(), "{h}: a venue and a taker");
        } else {
            assert!(c.is_none(), "{h}: no venue, no conversion");
        }
        if let Some(c) = c {
            *kinds.entry(if matches!(c, Conversion::Swap(_)) { "followable" } else { "ambiguous" }).or_default() += 1;
            all.insert(h.clone(), c);
        }
    }
    assert_eq!(kinds, BTreeMap::from([("ambiguous", 18), ("followable", 50)]));
    let id = |a: &str| b.ids[a];
    let Conversion::Swap(s) = &all["0xec7cc4df1ff542793053335700f18d59c3f870e1e4820a42d558c76db832bd14"] else { panic!("followable") };
    let buyer = id("0x64a018b23b4d7a077dffa6723462bc722861c5ad");
    assert_eq!((s.payer, s.payee), (buyer, buyer));
    assert_eq!(s.sold, (id("ETH"), Amount::from_u128(7_400_000_000_000_000_000)));
    assert_eq!(s.bought, (id("0x1ce270557c1f68cfb577b856766310bf8b47fd9c"), Amount::from_u128(151_553_041_876_899_159_101_915_312_117)));
    let Conversion::Ambiguous(t) = &all["0xeb107a40ba73a50c79a9f2026e902d758d1c5e5e211f7a7db1b294f88f118dd0"] else { panic!("ambiguous") };
    let down: Vec<u32> = t.iter().filter(|c| !c.up).map(|c| c.address).collect();
    assert_eq!(down.len(), 2);
    assert!(
        down.contains(&id("0xae2fc483527b8ef99eb5d9b44875f005ba1fae13"))
            && down.contains(&id("0x6b75d8af000000e20b7a7ddf000ba900b4009a80"))
    );
    let Conversion::Ambiguous(t) = &all["0xda46ac19eb2e326349727fc79e339c813e2eda40cbb406cb06ad85a98844e856"] else { panic!("ambiguous") };
    assert!(
        t.iter().any(|c| c.address == id("0x7a250d5630b4cf539739df2c5dacb4c659f2488d") && c.up && c.asset == id("ETH")),
        "the router, paid in WETH, pays its ETH out internally"
    );
}

/// The recognised logs of a store, as text: (transaction, log index,
/// emitter, kind code), in table order.
fn stored_logs(st: &std::path::Path) -> Vec<(String, u32, String, u8)> {
    let s = chaintrace::store::Store::open(st).unwrap();
    s.logs().iter().map(|r| (s.tx_text(r.tx), r.index, s.address_text(r.emitter), r.kind)).collect()
}

#[test]
fn logs_are_ingested_once_whether_with_the_transfers_or_after_them() {
    let t = tempfile::tempdir().unwrap();
    let dir = etl("test_stream/blocks_17173049_17173050");
    let (txs, tokens, logs) =
        (dir.join("expected_transactions.json"), dir.join("expected_token_transfers.json"), dir.join("expected_logs.json"));
    let one = t.path().join("one");
    let o = ingest(&one, "ethereum", "etl", &["--no-progress"], &[&txs, &tokens, &logs]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.stderr.contains("681 rows as etl/json, 0 events added") || o.stdout.contains("681 rows"), "{}{}", o.stdout, o.stderr);
    let rows = stored_logs(&one);
    // 79 swap logs, and the WETH contract's deposits and withdrawals.
    let (swaps, wraps): (Vec<_>, Vec<_>) = rows.iter().partition(|r| matches!(Kind::from_code(r.3), Some(Kind::Swap(_))));
    assert_eq!(swaps.len(), 79);
    assert!(wraps.iter().all(|r| r.2 == format!("0x{}", hex::encode(WETH))));
    assert_eq!(wraps.len(), 61);
    // The same logs appended after the transfers: the same table.
    let later = t.path().join("later");
    assert_eq!(ingest(&later, "ethereum", "etl", &["--no-progress"], &[&txs, &tokens]).code, 0);
    let o = ingest(&later, "ethereum", "etl", &["--no-progress"], &[&logs]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(stored_logs(&later), rows);
    let (a, b) = (stats(&one), stats(&later));
    assert_eq!(a["events"], b["events"], "logs add no events");
    // Ingesting the logs again changes nothing.
    assert_eq!(ingest(&later, "ethereum", "etl", &["--no-progress"], &[&logs]).code, 0);
    assert_eq!(stored_logs(&later), rows);
}

#[test]
fn a_malformed_topic_or_data_names_file_line_and_field() {
    let t = tempfile::tempdir().unwrap();
    let f = t.path().join("logs.csv");
    let head = "log_index,transaction_hash,transaction_index,address,data,topics,block_number\n";
    let hash = "0xec7cc4df1ff542793053335700f18d59c3f870e1e4820a42d558c76db832bd14";
    let pair = "0x7054b0f980a7eb5b3a6b3446f3c947d80162775c";
    let swap = "0xd78ad95fa46c994b6551d0da85fc275fe613ce37657fb8d5e3d130840159d822";
    let good = format!("9,{hash},0,{pair},0x00,\"{swap},0x{}\",17173049\n", "00".repeat(32));
    std::fs::write(&f, format!("{head}{good}9,{hash},0,{pair},0x00,\"{swap},0x12\",17173049\n")).unwrap();
    let o = ingest(&t.path().join("s"), "ethereum", "etl", &[], &[&f]);
    assert_ne!(o.code, 0);
    assert!(o.stderr.contains("logs.csv") && o.stderr.contains("line 3") && o.stderr.contains("topics"), "{}", o.stderr);
    std::fs::write(&f, format!("{head}{good}10,{hash},0,{pair},0xzz,{swap},17173049\n")).unwrap();
    let o = ingest(&t.path().join("s"), "ethereum", "etl", &[], &[&f]);
    assert_ne!(o.code, 0);
    assert!(o.stderr.contains("line 3") && o.stderr.contains("data"), "{}", o.stderr);
    // The good row alone: one swap log from the pair.
    std::fs::write(&f, format!("{head}{good}")).unwrap();
    let st = t.path().join("s");
    assert_eq!(ingest(&st, "ethereum", "etl", &[], &[&f]).code, 0);
    assert_eq!(
        stored_logs(&st),
        vec![(hash.to_string(), 9, pair.to_string(), Kind::Swap(chaintrace::convert::topics::Venue::UniswapV2).code())]
    );
}

/// A store of the real blocks' transactions, token transfers and logs in
/// `dir`, and the three files.
fn real_store(dir: &std::path::Path) -> (std::path::PathBuf, [std::path::PathBuf; 3]) {
    let d = etl("test_stream/blocks_17173049_17173050");
    let st = dir.join("s");
    let files = ["expected_transactions.json", "expected_token_transfers.json", "expected_logs.json"].map(|f| d.join(f));
    let o = ingest(&st, "ethereum", "etl", &["--no-progress"], &files.iter().map(|f| f.as_path()).collect::<Vec<_>>());
    assert_eq!(o.code, 0, "{}", o.stderr);
    (st, files)
}

/// `chaintrace conversions` over a store of the real blocks lists what the
/// detection above finds from the raw files, in block and index order.
#[test]
fn the_conversions_command_lists_the_stores_swaps() {
    let t = tempfile::tempdir().unwrap();
    let (st, files) = real_store(t.path());
    let o = run(&["conversions", "--store", st.to_str().unwrap()]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let v: Value = serde_json::from_str(&o.stdout).unwrap();
    let rows = v["conversions"].as_array().unwrap();
    assert_eq!(rows.len(), 68);
    // The same classification as from the raw files.
    let b = blocks();
    let mut by_file: Vec<(String, bool)> = b
        .legs
        .iter()
        .filter_map(|(h, legs)| {
            classify(legs, b.venues.get(h).map_or(&[][..], Vec::as_slice)).map(|c| (h.clone(), matches!(c, Conversion::Swap(_))))
        })
        .collect();
    let mut by_store: Vec<(String, bool)> =
        rows.iter().map(|r| (r["tx"].as_str().unwrap().to_string(), r["status"] == "followable")).collect();
    by_file.sort();
    by_store.sort();
    assert_eq!(by_store, by_file);
    let blocks: Vec<u64> = rows.iter().map(|r| r["block"].as_u64().unwrap()).collect();
    assert!(blocks.windows(2).all(|w| w[0] <= w[1]) && blocks[0] == 17_173_049 && blocks[67] == 17_173_050);
    let r = rows.iter().find(|r| r["tx"] == "0xec7cc4df1ff542793053335700f18d59c3f870e1e4820a42d558c76db832bd14").unwrap();
    assert_eq!(r["payer"], "0x64a018b23b4d7a077dffa6723462bc722861c5ad");
    assert_eq!((r["asset_in"].as_str(), r["value_in"].as_str()), (Some("ETH"), Some("7400000000000000000")));
    assert_eq!(r["asset_out"], "0x1ce270557c1f68cfb577b856766310bf8b47fd9c");
    assert_eq!(r["value_out"], "151553041876899159101915312117");
    assert_eq!(r["venues"], serde_json::json!(["0x7054b0f980a7eb5b3a6b3446f3c947d80162775c"]));
    assert_eq!((r["kind"].as_str(), r["chain"].as_str(), r["to_tx"].is_null()), (Some("swap"), Some("ethereum"), true));
    let a = rows.iter().find(|r| r["status"] == "ambiguous").unwrap();
    assert!(a["payer"].is_null() && a["asset_in"].is_null() && a["value_out"].is_null());
    let csv = run(&["conversions", "--store", st.to_str().unwrap(), "--format", "csv"]);
    assert_eq!(csv.code, 0);
    assert_eq!(csv.stdout.lines().count(), 69);
    assert!(csv.stdout.starts_with("tx,chain,block,kind,status,payer,payee,venues,asset_in,value_in,asset_out,value_out,to_tx\n"));
    // A store without logs lists none.
    let bare = t.path().join("bare");
    assert_eq!(ingest(&bare, "ethereum", "etl", &["--no-progress"], &[&files[0], &files[1]]).code, 0);
    let o = run(&["conversions", "--store", bare.to_str().unwrap()]);
    assert_eq!(serde_json::from_str::<Value>(&o.stdout).unwrap()["conversions"], serde_json::json!([]));
}

/// `export` writes the recognised logs beside the events, so a store
/// ingested from the export lists the same conversions (TRACING.md §8).
#[test]
fn conversions_survive_an_export_round_trip() {
    let t = tempfile::tempdir().unwrap();
    let (st, _) = real_store(t.path());
    let out = t.path().join("export");
    let o = run(&["export", "--store", st.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.stdout.contains("140 logs"), "{}", o.stdout);
    let again = t.path().join("again");
    let o = ingest(&again, "ethereum", "parquet", &["--no-progress"], &[&out.join("events.parquet"), &out.join("logs.parquet")]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(stored_logs(&again), stored_logs(&st));
    let list = |s: &std::path::Path| run(&["conversions", "--store", s.to_str().unwrap()]).stdout;
    assert_eq!(list(&again), list(&st));
    // The events read back as stored: fees to `(fees)`, positions and flags
    // (the files loaded differ: two Parquet files against three JSON).
    let without_files = |mut v: Value| {
        v.as_object_mut().unwrap().remove("files");
        v
    };
    assert_eq!(without_files(stats(&again)), without_files(stats(&st)));
}
