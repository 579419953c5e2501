//! Each input format, on the real samples under `datasets/`.

mod common;
use chaintrace::model::{flags, sub};
use chaintrace::store::Store;
use common::*;
use std::collections::HashMap;
use std::path::Path;

const DUNE: &str = "dune-lazarus-ofac-flows-dspytdao/lazarus_ofac_eth_transfers.csv";

/// The Dune export loads exactly: every ETH decimal becomes exact wei.
#[test]
fn dune_transfers_load_exactly() {
    let t = tempfile::tempdir().unwrap();
    let s = t.path().join("s");
    let o = ingest(&s, "ethereum", "transfers", &[], &[&data(DUNE)]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let st = stats(&s);
    assert_eq!(st["events"], 436);
    assert_eq!(st["transactions"], 436);
    assert_eq!(st["addresses"], 239);
    assert_eq!(st["first_time"], "2022-03-23T13:16:57Z");
    assert_eq!(st["last_time"], "2022-09-27T16:06:23Z");
    assert_eq!(st["first_block"], serde_json::Value::Null);
    assert_eq!(st["fees_known"], false);
    // Independent sum: integer wei per row from the decimal text, by hand.
    let text = std::fs::read_to_string(data(DUNE)).unwrap();
    let mut want: u128 = 0;
    for line in text.lines().skip(1) {
        let v = line.split(',').nth(3).unwrap();
        want += decimal_eth_to_wei(v);
    }
    assert_eq!(st["assets"][0]["value"], want.to_string());
    // 1e-05 ETH is 10,000,000,000,000 wei, and that row is in the store.
    let store = Store::open(&s).unwrap();
    assert!((0..store.len()).any(|i| store.value(i).to_string() == "10000000000000"));
    // Sorted by time, whatever the file order.
    let ev = store.events();
    assert!((1..ev.len()).all(|i| ev.time(i - 1) <= ev.time(i)));
}

fn decimal_eth_to_wei(v: &str) -> u128 {
    let (mant, exp) = match v.split_once(['e', 'E']) {
        Some((m, e)) => (m, e.parse::<i32>().unwrap()),
        None => (v, 0),
    };
    let (i, f) = mant.split_once('.').unwrap_or((mant, ""));
    let digits: String = format!("{i}{f}");
    let shift = 18 + exp - f.len() as i32;
    let base: u128 = digits.parse().unwrap();
    if shift >= 0 { base * 10u128.pow(shift as u32) } else { base / 10u128.pow((-shift) as u32) }
}

/// Loading the same file twice adds nothing; the same transactions from
/// another export are recognised by hash and position.
#[test]
fn same_data_twice_counts_once() {
    let t = tempfile::tempdir().unwrap();
    let s = t.path().join("s");
    assert_eq!(ingest(&s, "ethereum", "transfers", &[], &[&data(DUNE)]).code, 0);
    let o = ingest(&s, "ethereum", "transfers", &[], &[&data(DUNE)]);
    assert_eq!(o.code, 0);
    assert!(o.stderr.contains("already loaded"), "{}", o.stderr);
    assert_eq!(stats(&s)["events"], 436);

    let s2 = t.path().join("s2");
    let json = etl("test_stream/blocks_17173049_17173050/expected_transactions.json");
    let csv = etl("test_export_blocks_job/blocks_with_transactions_and_withdrawals/expected_transactions.csv");
    assert_eq!(ingest(&s2, "ethereum", "etl", &[], &[&json]).code, 0);
    let before = stats(&s2);
    let o = ingest(&s2, "ethereum", "etl", &[], &[&csv]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.stderr.contains("0 events added, 298 already in the store"), "{}", o.stderr);
    let after = stats(&s2);
    assert_eq!(before["events"], after["events"]);
    assert_eq!(before["assets"], after["assets"]);
}

/// Transactions with receipt columns: value, fee and failure per transaction,
/// checked against the JSON itself.
#[test]
fn etl_transactions_with_receipts() {
    let t = tempfile::tempdir().unwrap();
    let s = t.path().join("s");
    let json = etl("test_stream/blocks_17173049_17173050/expected_transactions.json");
    assert_eq!(ingest(&s, "ethereum", "etl", &[], &[&json]).code, 0);
    let mut value: u128 = 0;
    let mut fees: u128 = 0;
    let mut failed = 0;
    for line in std::fs::read_to_string(&json).unwrap().lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let ok = v["receipt_status"] == 1;
        if ok {
            value += v["value"].to_string().parse::<u128>().unwrap();
        } else {
            failed += 1;
        }
        fees += v["receipt_gas_used"].as_u64().unwrap() as u128 * v["receipt_effective_gas_price"].as_u64().unwrap() as u128;
    }
    let st = stats(&s);
    assert_eq!(st["events"], 596);
    assert_eq!(st["fees_known"], true);
    assert_eq!(st["failed_events"], failed);
    assert_eq!(st["assets"][0]["value"], value.to_string());
    let store = Store::open(&s).unwrap();
    let ev = store.events();
    let fee_sum: u128 = (0..store.len()).filter(|&i| ev.flags(i) & flags::FEE != 0).map(|i| ev.value.get(i)).sum();
    assert_eq!(fee_sum, fees);
    // Inside a transaction the top-level transfer comes before the fee.
    for i in 1..store.len() {
        if ev.tx(i) == ev.tx(i - 1) {
            assert!(ev.sub(i - 1) < ev.sub(i));
        }
    }
}

/// An EVM chain other than Ethereum in blockchain-etl's format (`--chain
/// bsc`; the rows are the real Ethereum fixture, read as BSC's would be):
/// the same events, the chain's native asset named, its explorer linked,
/// and a store of one chain refuses data of another.
#[test]
fn other_evm_chains_take_the_ethereum_format() {
    let t = tempfile::tempdir().unwrap();
    let (s, eth) = (t.path().join("bsc"), t.path().join("eth"));
    let json = etl("test_stream/blocks_17173049_17173050/expected_transactions.json");
    assert_eq!(ingest(&s, "bsc", "etl", &[], &[&json]).code, 0);
    assert_eq!(ingest(&eth, "ethereum", "etl", &[], &[&json]).code, 0);
    let (st, se) = (stats(&s), stats(&eth));
    assert_eq!((st["chain"].as_str(), st["assets"][0]["asset"].as_str()), (Some("bsc"), Some("BNB")), "{st}");
    assert_eq!((st["events"].clone(), st["assets"][0]["value"].clone()), (se["events"].clone(), se["assets"][0]["value"].clone()));
    let first: serde_json::Value = serde_json::from_str(std::fs::read_to_string(&json).unwrap().lines().next().unwrap()).unwrap();
    let seed = first["from_address"].as_str().unwrap();
    let trace = |store: &Path, format: &str| {
        let o = run(&["trace", "--store", store.to_str().unwrap(), "--policy", "haircut", "--seed", seed, "--format", format]);
        assert_eq!(o.code, 0, "{}", o.stderr);
        o.stdout
    };
    let (bsc_json, eth_json): (serde_json::Value, serde_json::Value) =
        (serde_json::from_str(&trace(&s, "json")).unwrap(), serde_json::from_str(&trace(&eth, "json")).unwrap());
    assert_eq!(bsc_json["asset"].as_str(), Some("BNB"));
    assert_eq!(bsc_json["totals"], eth_json["totals"], "the same taint, named for the chain");
    let html = trace(&s, "html");
    assert!(html.contains("https://bscscan.com/address/") && !html.contains("etherscan.io"), "explorer links");
    assert!(trace(&s, "table").contains("amounts in BNB"));
    let o = ingest(&s, "ethereum", "etl", &[], &[&json]);
    assert_eq!(o.code, 1, "{}", o.stderr);
    assert!(o.stderr.contains("the store holds bsc data; this ingest is --chain ethereum"), "{}", o.stderr);
    // The transfers format names the native coin as the chain does (`export` writes it so); `eth` is not BSC's.
    let head = "block_number,from_address,to_address,value,asset\n";
    let row = |asset: &str| {
        format!("{head}20000000,0x1a2a1c938ce3ec39b6d47113c7955baa9dd454f2,0x098b716b8aaf21512996dc57eb0615e2383e2f96,5,{asset}\n")
    };
    let f = t.path().join("bnb.csv");
    std::fs::write(&f, row("BNB")).unwrap();
    let b = t.path().join("bnb");
    assert_eq!(ingest(&b, "bsc", "transfers", &[], &[&f]).code, 0);
    assert_eq!((stats(&b)["assets"][0]["asset"].as_str(), stats(&b)["assets"][0]["value"].as_str()), (Some("BNB"), Some("5")));
    std::fs::write(&f, row("eth")).unwrap();
    let o = ingest(&t.path().join("eth-on-bsc"), "bsc", "transfers", &[], &[&f]);
    assert_eq!(o.code, 1, "{}", o.stderr);
    assert!(o.stderr.contains("line 2, field `asset`"), "{}", o.stderr);
    // Etherscan-family exports count in ETH; BscScan's would be misread.
    let o = ingest(&t.path().join("scan"), "bsc", "etherscan", &[], &[&f]);
    assert_eq!(o.code, 1, "{}", o.stderr);
    assert!(o.stderr.contains("bsc counts in BNB: use --format etl"), "{}", o.stderr);
}

/// A separate receipts file is joined by hash and gives the same store as
/// the inline receipt columns.
#[test]
fn receipts_file_is_joined_by_hash() {
    let t = tempfile::tempdir().unwrap();
    let json = etl("test_stream/blocks_17173049_17173050/expected_transactions.json");
    let csv = etl("test_export_blocks_job/blocks_with_transactions_and_withdrawals/expected_transactions.csv");
    // A receipts export of the same transactions, cut from the real JSON.
    let receipts = t.path().join("receipts.csv");
    let mut r = String::from(
        "transaction_hash,transaction_index,block_hash,block_number,cumulative_gas_used,gas_used,contract_address,root,status,effective_gas_price\n",
    );
    for line in std::fs::read_to_string(&json).unwrap().lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        r += &format!(
            "{},{},{},{},{},{},,,{},{}\n",
            v["hash"].as_str().unwrap(),
            v["transaction_index"],
            v["block_hash"].as_str().unwrap(),
            v["block_number"],
            v["receipt_cumulative_gas_used"],
            v["receipt_gas_used"],
            v["receipt_status"],
            v["receipt_effective_gas_price"]
        );
    }
    std::fs::write(&receipts, r).unwrap();
    let a = t.path().join("a");
    let b = t.path().join("b");
    assert_eq!(ingest(&a, "ethereum", "etl", &[], &[&json]).code, 0);
    // Receipts given after the transactions still join.
    let o = ingest(&b, "ethereum", "etl", &[], &[&csv, &receipts]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let (sa, sb) = (stats(&a), stats(&b));
    for k in ["events", "transactions", "assets", "fees_known", "failed_events", "fee_transactions"] {
        assert_eq!(sa[k], sb[k], "{k}");
    }
    // Without receipts, fees are not modelled.
    let c = t.path().join("c");
    assert_eq!(ingest(&c, "ethereum", "etl", &[], &[&csv]).code, 0);
    assert_eq!(stats(&c)["fees_known"], false);
}

/// Traces: errored ones move nothing, rewards come from the mint, the
/// top-level trace is the transaction's own transfer.
#[test]
fn traces_internal_transfers() {
    let t = tempfile::tempdir().unwrap();
    let s = t.path().join("s");
    let err = etl("test_export_traces_job/block_with_error/expected_traces.csv");
    let subtraces = etl("test_export_traces_job/block_with_subtraces/expected_traces.csv");
    assert_eq!(ingest(&s, "ethereum", "etl", &[], &[&err, &subtraces]).code, 0);
    let st = stats(&s);
    assert_eq!(st["events"], 7);
    assert_eq!(st["failed_events"], 1);
    // Moves: 1.1 ETH + reward 5 (block 1000895), 100 + 100 (callcode moves nothing) + 0.43719498 + reward 5 (block 1000000).
    let want: u128 = 1_100_000_000_000_000_000
        + 5_000_000_000_000_000_000
        + 100_000_000_000_000_000_000
        + 437_194_980_000_000_000
        + 5_000_000_000_000_000_000;
    assert_eq!(st["assets"][0]["value"], want.to_string());
    let store = Store::open(&s).unwrap();
    let ev = store.events();
    let mints = (0..store.len()).filter(|&i| ev.flags(i) & flags::MINT != 0).count();
    assert_eq!(mints, 2);
    let traces = (0..store.len()).filter(|&i| sub::class(ev.sub(i)) == sub::TRACE).count();
    assert_eq!(traces, 1, "only the callcode is below the top level");
}

/// ERC-20 transfers: each token its own asset, exact uint256 values, and
/// transaction indices taken from the transactions of the same store.
#[test]
fn token_transfers_are_assets() {
    let t = tempfile::tempdir().unwrap();
    let s = t.path().join("s");
    let tx = etl("test_stream/blocks_17173049_17173050/expected_transactions.json");
    let tt = etl("test_stream/blocks_17173049_17173050/expected_token_transfers.json");
    assert_eq!(ingest(&s, "ethereum", "etl", &[], &[&tt, &tx]).code, 0);
    let mut want: HashMap<String, (u64, ruint::aliases::U256)> = HashMap::new();
    for line in std::fs::read_to_string(&tt).unwrap().lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let e = want.entry(v["token_address"].as_str().unwrap().to_string()).or_default();
        e.0 += 1;
        e.1 += v["value"].to_string().parse::<ruint::aliases::U256>().unwrap();
    }
    let st = stats(&s);
    let assets = st["assets"].as_array().unwrap();
    assert_eq!(assets.len(), want.len() + 1);
    for a in &assets[1..] {
        let (n, v) = want[a["asset"].as_str().unwrap()];
        assert_eq!(a["events"], n);
        assert_eq!(a["value"], v.to_string());
    }
    let store = Store::open(&s).unwrap();
    let ev = store.events();
    assert!((0..store.len()).all(|i| ev.tx_index(i) > 0), "every token transfer found its transaction index");
    for i in 1..store.len() {
        assert!((ev.block(i - 1), ev.tx_index(i - 1), ev.sub(i - 1)) <= (ev.block(i), ev.tx_index(i), ev.sub(i)));
    }
}

/// blockchain-etl `tokens` exports (the real fixtures: CSV from
/// `export_tokens`, JSON lines from the stream, one contract whose calls
/// failed) tell the store symbols and decimals, beside the events, in any
/// order among the event files; the events are as without them.
#[test]
fn tokens_exports_tell_symbols_and_decimals() {
    let t = tempfile::tempdir().unwrap();
    let (s, plain) = (t.path().join("s"), t.path().join("plain"));
    let tx = etl("test_stream/blocks_17173049_17173050/expected_transactions.json");
    let tt = etl("test_stream/blocks_17173049_17173050/expected_token_transfers.json");
    let eos = etl("test_export_tokens_job/token_with_alternative_return_type/expected_tokens.csv");
    let other = etl("test_export_tokens_job/token_with_invalid_data/expected_tokens.csv");
    let failed = etl("test_stream/blocks_2112234_2112234/expected_tokens.json");
    let o = ingest(&s, "ethereum", "etl", &[], &[&eos, &tt, &failed, &tx, &other]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let lines: Vec<&str> = o.stderr.lines().filter(|l| l.contains(" rows as ")).collect();
    assert_eq!(lines.len(), 5, "{}", o.stderr);
    assert!(lines[0].contains("expected_tokens.csv: 1 rows as etl/tokens, 0 events added"), "{}", lines[0]);
    assert!(lines[1].contains("expected_token_transfers.json"), "reports in the order given: {}", lines[1]);
    assert_eq!(ingest(&plain, "ethereum", "etl", &[], &[&tt, &tx]).code, 0);
    assert_eq!(stats(&s), stats(&plain), "the events are as without the tokens");
    let book = chaintrace::store::tokens::book(&s).unwrap();
    let told = |hex: &str| book.told.get(hex).cloned().unwrap_or_default();
    let t = |symbol: Option<&str>, decimals| chaintrace::model::tokens::Told { symbol: symbol.map(str::to_string), decimals };
    assert_eq!(told("86fa049857e0209aa7d9e616f7eb3b3b78ecfdb0"), t(Some("EOS"), Some(18)));
    assert_eq!(told("f763be8b3263c268e9789abfb3934564a7b80054"), t(Some("ETH"), Some(18)));
    // A contract calling itself ETH is not shown as ether.
    assert_eq!(book.symbol(chaintrace::model::Chain::Ethereum, "0xf763be8b3263c268e9789abfb3934564a7b80054"), None);
    // Its `symbol()` and `decimals()` calls failed: the stream wrote "" and 0, read as unknown.
    assert_eq!(told("dbdacfc9eb9d42559ac1efbdb40460c728139e6a"), t(None, None));
    assert_eq!(book.decimals(chaintrace::model::Chain::Ethereum, "0x86FA049857E0209AA7D9E616F7EB3B3B78ECFDB0"), Some(18));
    // A tokens export alone tells a store without touching its events.
    let o = ingest(&plain, "ethereum", "etl", &[], &[&eos]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(stats(&s), stats(&plain));
    assert_eq!(
        chaintrace::store::tokens::book(&plain)
            .unwrap()
            .symbol(chaintrace::model::Chain::Ethereum, "0x86fa049857e0209aa7d9e616f7eb3b3b78ecfdb0"),
        Some("EOS")
    );
}

/// The real block 702861: outputs become events, inputs link to outputs of the
/// same block, fees are in − out for transactions whose inputs are all known.
#[test]
fn bitcoin_block_trio() {
    let t = tempfile::tempdir().unwrap();
    let s = t.path().join("s");
    let d = |f: &str| data(&format!("bitcoin-mainnet-block-702861/{f}"));
    let o = ingest(&s, "bitcoin", "etl", &[], &[&d("transactions.csv"), &d("inputs.csv"), &d("outputs.csv")]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    // Independent reckoning from the CSVs.
    let outs = std::fs::read_to_string(d("outputs.csv")).unwrap();
    let mut out_val: HashMap<(String, u32), u64> = HashMap::new();
    let mut out_sum: HashMap<String, u64> = HashMap::new();
    for l in outs.lines().skip(1) {
        let f: Vec<&str> = l.split(',').collect();
        out_val.insert((f[0].into(), f[1].parse().unwrap()), f[2].parse().unwrap());
        *out_sum.entry(f[0].into()).or_default() += f[2].parse::<u64>().unwrap();
    }
    let ins = std::fs::read_to_string(d("inputs.csv")).unwrap();
    let mut in_sum: HashMap<String, Option<u64>> = HashMap::new();
    let mut linked = 0;
    for l in ins.lines().skip(1) {
        let f: Vec<&str> = l.split(',').collect();
        if f[2].chars().all(|c| c == '0') {
            continue;
        }
        let v = out_val.get(&(f[2].to_string(), f[3].parse().unwrap())).copied();
        linked += v.is_some() as u32;
        let e = in_sum.entry(f[0].into()).or_insert(Some(0));
        *e = match (*e, v) {
            (Some(a), Some(b)) => Some(a + b),
            _ => None,
        };
    }
    assert_eq!(linked, 327, "PROVENANCE: 327 inputs spend outputs of the same block");
    let fees: Vec<u64> = in_sum.iter().filter_map(|(tx, s)| s.map(|s| s - out_sum[tx])).collect();
    let store = Store::open(&s).unwrap();
    let ev = store.events();
    let fee_events: Vec<usize> = (0..store.len()).filter(|&i| ev.flags(i) & flags::FEE != 0).collect();
    assert_eq!(fee_events.len(), fees.len());
    assert_eq!(fee_events.iter().map(|&i| ev.value.get(i)).sum::<u128>(), fees.iter().map(|&f| f as u128).sum::<u128>());
    assert_eq!(store.len(), 6015 + fees.len());
    let spent: &[u64] = chaintrace_spent(&store);
    assert_eq!(spent.iter().filter(|&&e| e != u64::MAX).count(), 327);
    let st = stats(&s);
    assert_eq!(st["inputs"], 6518 - 1);
    assert_eq!(st["transactions"], 2500);
    // Its 23 OP_RETURN outputs keep their data; two are THORChain payouts
    // naming the inbound they settle (issue 16, docs/bridges.md).
    let memos = store.memos();
    assert_eq!(memos.len(), 23);
    let payouts: Vec<(String, u32, String)> = memos
        .iter()
        .filter_map(|m| match chaintrace::convert::memo::parse(&m.data) {
            Ok(chaintrace::convert::memo::Memo::Out(h)) => Some((store.tx_text(m.tx), m.vout, hex::encode_upper(h))),
            _ => None,
        })
        .collect();
    assert_eq!(
        payouts,
        [
            (
                "35991d6e10424a637cb93f661b66df895a692ce91ae9aca2896ceba8af5be089".to_string(),
                2,
                "BD292BDD60707F967D0088417495E5BDC38B9FABAB5CE1809296BC39E325DA23".to_string()
            ),
            (
                "10bed6fdffe95104d7ee6ea1d3bb257a410ae3d36e00faa38beb868be5e4eee4".to_string(),
                2,
                "B7CECDE56CE45114C3C3A46705AAA6313AF9179654BA7A02D80104E91FDE88FE".to_string()
            ),
        ]
    );
}

fn chaintrace_spent(store: &Store) -> &[u64] {
    let b = store.bytes(chaintrace::store::Column::InSpentEvent);
    // SAFETY-free view: mmap'd columns are page aligned.
    let (pre, mid, post) = unsafe { b.align_to::<u64>() };
    assert!(pre.is_empty() && post.is_empty());
    mid
}

/// blockchain-etl Bitcoin JSON lines with nested inputs and outputs.
#[test]
fn bitcoin_json_lines() {
    let t = tempfile::tempdir().unwrap();
    let s = t.path().join("s");
    let f = data(
        "blockchain-etl-fixtures/bitcoin-etl/tests/resources/test_export_blocks_job/bitcoin/stream_50001_50002/expected_transactions.json",
    );
    assert_eq!(ingest(&s, "bitcoin", "etl", &[], &[&f]).code, 0);
    let mut fee = 0u64;
    let mut outputs = 0;
    let mut total = 0u128;
    for l in std::fs::read_to_string(&f).unwrap().lines() {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        fee += v["fee"].as_u64().unwrap();
        for o in v["outputs"].as_array().unwrap() {
            outputs += 1;
            total += o["value"].as_u64().unwrap() as u128;
        }
    }
    let store = Store::open(&s).unwrap();
    let ev = store.events();
    let got_fee: u128 = (0..store.len()).filter(|&i| ev.flags(i) & flags::FEE != 0).map(|i| ev.value.get(i)).sum();
    assert_eq!(got_fee, fee as u128, "fee = inputs - outputs, as the export says");
    let st = stats(&s);
    assert_eq!(st["assets"][0]["value"], total.to_string());
    assert_eq!(store.len() - (0..store.len()).filter(|&i| ev.flags(i) & flags::FEE != 0).count(), outputs);
    assert!(store.memos().is_empty(), "no output of these blocks pushes data after OP_RETURN");
    // An output that does, in the nested JSON: its memo is kept by transaction and output.
    let first: serde_json::Value = serde_json::from_str(std::fs::read_to_string(&f).unwrap().lines().next().unwrap()).unwrap();
    let mut tx = first.clone();
    let memo = b"OUT:BD292BDD60707F967D0088417495E5BDC38B9FABAB5CE1809296BC39E325DA23";
    let script = format!("6a{:02x}{}", memo.len(), hex::encode(memo));
    tx["outputs"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({"index": 7, "script_hex": script, "type": "nulldata", "value": 0, "addresses": []}));
    let g = t.path().join("memo.json");
    std::fs::write(&g, format!("{tx}\n")).unwrap();
    let s2 = t.path().join("s2");
    let o = ingest(&s2, "bitcoin", "etl", &[], &[&g]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let store = Store::open(&s2).unwrap();
    let m = store.memos();
    assert_eq!((m.len(), m[0].vout, &m[0].data[..]), (1, 7, &memo[..]));
    assert_eq!(store.tx_text(m[0].tx), first["hash"].as_str().unwrap());
    // A script that is not hex names the output's field.
    tx["outputs"].as_array_mut().unwrap().last_mut().unwrap()["script_hex"] = "6azz".into();
    std::fs::write(&g, format!("{tx}\n")).unwrap();
    let o = ingest(&t.path().join("s3"), "bitcoin", "etl", &[], &[&g]);
    assert_eq!(o.code, 1, "{}", o.stderr);
    assert!(o.stderr.contains("line 1, field `outputs.script_hex`: malformed hex"), "{}", o.stderr);
    // A transaction with a bad input, skipped with --skip-bad-rows, leaves
    // nothing of itself behind: the store is that of the other rows alone.
    let lines: Vec<String> = std::fs::read_to_string(&f).unwrap().lines().map(str::to_string).collect();
    let k = lines.iter().position(|l| l.contains("\"spent_transaction_hash\": \"") && !l.contains("\"is_coinbase\": true")).unwrap();
    let mut bad: serde_json::Value = serde_json::from_str(&lines[k]).unwrap();
    let input = bad["inputs"].as_array_mut().unwrap().iter_mut().find(|i| i["spent_transaction_hash"].is_string()).unwrap();
    input["spent_transaction_hash"] = "zz".into();
    let mut with_bad = lines.clone();
    with_bad[k] = bad.to_string();
    let without: Vec<String> = lines.iter().enumerate().filter(|(j, _)| *j != k).map(|(_, l)| l.clone()).collect();
    let (fb, fw) = (t.path().join("bad.json"), t.path().join("without.json"));
    std::fs::write(&fb, with_bad.join("\n") + "\n").unwrap();
    std::fs::write(&fw, without.join("\n") + "\n").unwrap();
    let (sb, sw) = (t.path().join("sb"), t.path().join("sw"));
    let o = ingest(&sb, "bitcoin", "etl", &["--skip-bad-rows"], &[&fb]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.stderr.contains("1 bad rows skipped"), "{}", o.stderr);
    assert_eq!(ingest(&sw, "bitcoin", "etl", &[], &[&fw]).code, 0);
    let (mut a, mut b) = (stats(&sb), stats(&sw));
    for st in [&mut a, &mut b] {
        st.as_object_mut().unwrap().retain(|k, _| !["skipped_rows", "files"].contains(&k.as_str()));
    }
    assert_eq!(a, b, "the skipped transaction left nothing behind");
}

/// What `ethereumetl stream` prints to a file: one batch's `block` items,
/// then its transactions, logs and token transfers, every line with its
/// `type`, in one file. It is the store of the three exports given apart.
#[test]
fn an_ethereum_etl_stream_file_ingests() {
    let t = tempfile::tempdir().unwrap();
    let d = etl("test_stream/blocks_17173049_17173050");
    let parts = ["expected_transactions.json", "expected_logs.json", "expected_token_transfers.json"].map(|f| d.join(f));
    let text: Vec<String> = parts.iter().map(|f| std::fs::read_to_string(f).unwrap()).collect();
    let txs: Vec<serde_json::Value> = text[0].lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let mut blocks: Vec<(u64, String, u64)> = txs
        .iter()
        .map(|v| (v["block_number"].as_u64().unwrap(), v["block_hash"].as_str().unwrap().into(), v["block_timestamp"].as_u64().unwrap()))
        .collect();
    blocks.dedup();
    assert_eq!(blocks.len(), 2);
    let mut all: String = blocks
        .iter()
        .map(|(n, h, ts)| {
            serde_json::json!({"type": "block", "number": n, "hash": h, "timestamp": ts, "item_id": format!("block_{h}")}).to_string()
                + "\n"
        })
        .collect();
    all += &text.concat();
    let g = t.path().join("batch_17173049_17173050.json");
    std::fs::write(&g, all).unwrap();
    let (a, b) = (t.path().join("a"), t.path().join("b"));
    let o = ingest(&a, "ethereum", "etl", &[], &[&g]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(ingest(&b, "ethereum", "etl", &[], &[&parts[0], &parts[1], &parts[2]]).code, 0);
    let (mut sa, mut sb) = (stats(&a), stats(&b));
    assert_eq!((sa["files"].as_u64(), sb["files"].as_u64()), (Some(1), Some(3)));
    for st in [&mut sa, &mut sb] {
        st.as_object_mut().unwrap().remove("files");
    }
    assert_eq!(sa, sb);
    assert!(sa["assets"].as_array().unwrap().len() > 1, "the token transfers are in");
    assert_eq!(sa["skipped_rows"], 0);
}

/// What bitcoin-etl's `stream` prints: a batch's `block` items, then its
/// transactions, each line with its `type`. The blocks carry nothing to
/// trace: the store is the one of the transactions alone.
#[test]
fn a_bitcoin_etl_stream_file_ingests() {
    let t = tempfile::tempdir().unwrap();
    let f = data(
        "blockchain-etl-fixtures/bitcoin-etl/tests/resources/test_export_blocks_job/bitcoin/stream_50001_50002/expected_transactions.json",
    );
    let txs: Vec<serde_json::Value> = std::fs::read_to_string(&f).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(txs.iter().all(|v| v["type"] == "transaction"), "the fixture is stream output");
    // The block items as the stream writes them (bitcoin-etl's
    // `btc_streamer_adapter`: blocks first), from the blocks the
    // transactions name.
    let mut blocks: Vec<(u64, String, u64, usize)> = Vec::new();
    for v in &txs {
        let n = v["block_number"].as_u64().unwrap();
        match blocks.iter_mut().find(|b| b.0 == n) {
            Some(b) => b.3 += 1,
            None => blocks.push((n, v["block_hash"].as_str().unwrap().into(), v["block_timestamp"].as_u64().unwrap(), 1)),
        }
    }
    assert_eq!(blocks.len(), 2);
    let mut lines: Vec<String> = blocks
        .iter()
        .map(|(n, h, ts, c)| {
            serde_json::json!({"type": "block", "hash": h, "number": n, "timestamp": ts, "transaction_count": c, "item_id": format!("block_{h}")})
                .to_string()
        })
        .collect();
    lines.extend(txs.iter().map(|v| v.to_string()));
    let g = t.path().join("batch_50001_50002.json");
    std::fs::write(&g, lines.join("\n") + "\n").unwrap();
    let (a, b) = (t.path().join("a"), t.path().join("b"));
    let o = ingest(&a, "bitcoin", "etl", &[], &[&g]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(ingest(&b, "bitcoin", "etl", &[], &[&f]).code, 0);
    let sa = stats(&a);
    assert_eq!(sa, stats(&b));
    assert_eq!(sa["skipped_rows"], 0, "no line was skipped as bad");
}

/// Etherscan exports (normal with fees, internal, ERC-20 in whole tokens),
/// made from the real transactions of block 17173049 in Etherscan's layout.
#[test]
fn etherscan_exports() {
    let t = tempfile::tempdir().unwrap();
    let json = etl("test_stream/blocks_17173049_17173050/expected_transactions.json");
    let normal = t.path().join("normal.csv");
    let mut n = String::from(
        "\"Txhash\",\"Blockno\",\"UnixTimestamp\",\"DateTime (UTC)\",\"From\",\"To\",\"ContractAddress\",\"Value_IN(ETH)\",\"Value_OUT(ETH)\",\"CurrentValue @ $1/Eth\",\"TxnFee(ETH)\",\"TxnFee(USD)\",\"Historical $Price/Eth\",\"Status\",\"ErrCode\",\"Method\"\n",
    );
    let eth = |wei: u128| format!("{}.{:018}", wei / 10u128.pow(18), wei % 10u128.pow(18));
    let mut want_value = 0u128;
    let mut want_fee = 0u128;
    for line in std::fs::read_to_string(&json).unwrap().lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let wei: u128 = v["value"].to_string().parse().unwrap();
        let fee = v["receipt_gas_used"].as_u64().unwrap() as u128 * v["receipt_effective_gas_price"].as_u64().unwrap() as u128;
        let ok = v["receipt_status"] == 1;
        if ok {
            want_value += wei;
        }
        want_fee += fee;
        n += &format!(
            "\"{}\",\"{}\",\"{}\",\"2023-05-02 12:19:59\",\"{}\",\"{}\",\"{}\",\"0\",\"{}\",\"0.00\",\"{}\",\"0\",\"1800\",\"{}\",\"\",\"Transfer\"\n",
            v["hash"].as_str().unwrap(),
            v["block_number"],
            v["block_timestamp"],
            v["from_address"].as_str().unwrap(),
            v["to_address"].as_str().unwrap_or(""),
            v["receipt_contract_address"].as_str().unwrap_or(""),
            eth(wei),
            eth(fee),
            if ok { "" } else { "Error(0)" }
        );
    }
    std::fs::write(&normal, n).unwrap();
    let erc20 = t.path().join("erc20.csv");
    std::fs::write(&erc20, "\"Txhash\",\"Blockno\",\"UnixTimestamp\",\"DateTime (UTC)\",\"From\",\"To\",\"TokenValue\",\"USDValueDayOfTx\",\"ContractAddress\",\"TokenName\",\"TokenSymbol\"\n\
\"0xeb107a40ba73a50c79a9f2026e902d758d1c5e5e211f7a7db1b294f88f118dd0\",\"17173049\",\"1683029999\",\"2023-05-02 12:19:59\",\"0x6b75d8af000000e20b7a7ddf000ba900b4009a80\",\"0x7054b0f980a7eb5b3a6b3446f3c947d80162775c\",\"7.056176614974947328\",\"$0.00\",\"0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2\",\"Wrapped Ether\",\"WETH\"\n\
\"0xeb107a40ba73a50c79a9f2026e902d758d1c5e5e211f7a7db1b294f88f118dd0\",\"17173049\",\"1683029999\",\"2023-05-02 12:19:59\",\"0x7054b0f980a7eb5b3a6b3446f3c947d80162775c\",\"0x6b75d8af000000e20b7a7ddf000ba900b4009a80\",\"1,234.5\",\"$0.00\",\"0x1ce270557c1f68cfb577b856766310bf8b47fd9c\",\"Some\",\"TKN\"\n").unwrap();
    let s = t.path().join("s");
    // The second token's decimals are unknown: a clear error until given.
    let o = ingest(&s, "ethereum", "etherscan", &[], &[&normal, &erc20]);
    assert_eq!(o.code, 1);
    assert!(o.stderr.contains("erc20.csv: line 3, field `TokenValue`") && o.stderr.contains("--token-decimals"), "{}", o.stderr);
    let o = ingest(&s, "ethereum", "etherscan", &["--token-decimals", "0x1ce270557c1f68cfb577b856766310bf8b47fd9c=6"], &[&normal, &erc20]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let st = stats(&s);
    assert_eq!(st["assets"][0]["value"], want_value.to_string());
    assert_eq!(st["fees_known"], true);
    assert_eq!(st["assets"][1]["value"], "7056176614974947328");
    assert_eq!(st["assets"][2]["value"], "1234500000");
    let store = Store::open(&s).unwrap();
    let ev = store.events();
    let fee_sum: u128 = (0..store.len()).filter(|&i| ev.flags(i) & flags::FEE != 0).map(|i| ev.value.get(i)).sum();
    assert_eq!(fee_sum, want_fee);
}

/// Parquet with the transfers schema gives the same store as the CSV.
#[test]
fn parquet_same_as_csv() {
    use polars::prelude::*;
    let t = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(data(DUNE)).unwrap();
    let mut cols: [Vec<String>; 4] = Default::default();
    for l in text.lines().skip(1) {
        for (k, f) in l.split(',').take(4).enumerate() {
            cols[k].push(f.to_string());
        }
    }
    let mut df = DataFrame::new_infer_height(vec![
        Column::new("block_time".into(), &cols[0]),
        Column::new("from_address".into(), &cols[1]),
        Column::new("to_address".into(), &cols[2]),
        Column::new("value_eth".into(), &cols[3]),
    ])
    .unwrap();
    let pq = t.path().join("flows.parquet");
    ParquetWriter::new(std::fs::File::create(&pq).unwrap()).finish(&mut df).unwrap();
    let (a, b) = (t.path().join("a"), t.path().join("b"));
    assert_eq!(ingest(&a, "ethereum", "transfers", &[], &[&data(DUNE)]).code, 0);
    let o = ingest(&b, "ethereum", "parquet", &[], &[&pq]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let (sa, sb) = (stats(&a), stats(&b));
    for k in ["events", "addresses", "transactions", "first_time", "last_time", "assets"] {
        assert_eq!(sa[k], sb[k], "{k}");
    }
}

/// Rows in any order give the same event columns: the store is sorted by key.
#[test]
fn unsorted_input_gives_the_same_store() {
    let t = tempfile::tempdir().unwrap();
    let csv = etl("test_export_blocks_job/blocks_with_transactions_and_withdrawals/expected_transactions.csv");
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    let header = lines.remove(0);
    // A fixed shuffle: reversed, then every other row rotated.
    lines.reverse();
    let third = lines.len() / 3;
    lines.rotate_left(third);
    let shuffled = t.path().join("shuffled.csv");
    std::fs::write(&shuffled, format!("{header}\n{}\n", lines.join("\n"))).unwrap();
    let (a, b) = (t.path().join("a"), t.path().join("b"));
    assert_eq!(ingest(&a, "ethereum", "etl", &[], &[&csv]).code, 0);
    assert_eq!(ingest(&b, "ethereum", "etl", &[], &[&shuffled]).code, 0);
    let (sa, sb) = (Store::open(&a).unwrap(), Store::open(&b).unwrap());
    let (ea, eb) = (sa.events(), sb.events());
    assert_eq!(ea.runs, eb.runs);
    assert!((0..sa.len()).all(|i| ea.tx_index(i) == eb.tx_index(i)));
    assert_eq!(ea.value, eb.value);
    for i in 0..sa.len() {
        assert_eq!(sa.address_text(ea.sender(i)), sb.address_text(eb.sender(i)));
        assert_eq!(sa.tx_text(ea.tx(i)), sb.tx_text(eb.tx(i)));
    }
}

/// Two equal transfers in one second are two events when there is no hash.
#[test]
fn identical_hashless_rows_are_distinct() {
    let t = tempfile::tempdir().unwrap();
    let f = t.path().join("twice.csv");
    let row = "2022-03-23T13:16:57Z,0x098b716b8aaf21512996dc57eb0615e2383e2f96,0x03cf40b900971561ac6bd997ef1fe939dcbc95e2,1.5";
    std::fs::write(&f, format!("block_time,from_address,to_address,value\n{row}\n{row}\n")).unwrap();
    let s = t.path().join("s");
    assert_eq!(ingest(&s, "ethereum", "transfers", &["--value-unit", "eth"], &[&f]).code, 0);
    let st = stats(&s);
    assert_eq!(st["events"], 2);
    assert_eq!(st["transactions"], 2);
    assert_eq!(st["assets"][0]["value"], "3000000000000000000");
}

/// Parquet with the blockchain-etl transactions schema (integer columns,
/// nulls) gives the same store as the JSON export it was made from.
#[test]
fn parquet_etl_transactions() {
    use polars::prelude::*;
    let t = tempfile::tempdir().unwrap();
    let json = etl("test_stream/blocks_17173049_17173050/expected_transactions.json");
    let rows: Vec<serde_json::Value> = std::fs::read_to_string(&json).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let s = |k: &str| -> Vec<Option<String>> { rows.iter().map(|r| r[k].as_str().map(str::to_string)).collect() };
    let n = |k: &str| -> Vec<Option<i64>> { rows.iter().map(|r| r[k].as_i64()).collect() };
    let mut df = DataFrame::new_infer_height(vec![
        Column::new("hash".into(), s("hash")),
        Column::new("block_number".into(), n("block_number")),
        Column::new("transaction_index".into(), n("transaction_index")),
        Column::new("from_address".into(), s("from_address")),
        Column::new("to_address".into(), s("to_address")),
        Column::new("value".into(), rows.iter().map(|r| r["value"].to_string()).collect::<Vec<_>>()),
        Column::new("gas_price".into(), n("gas_price")),
        Column::new("block_timestamp".into(), n("block_timestamp")),
        Column::new("receipt_gas_used".into(), n("receipt_gas_used")),
        Column::new("receipt_status".into(), n("receipt_status")),
        Column::new("receipt_effective_gas_price".into(), n("receipt_effective_gas_price")),
        Column::new("receipt_contract_address".into(), s("receipt_contract_address")),
    ])
    .unwrap();
    let pq = t.path().join("transactions.parquet");
    ParquetWriter::new(std::fs::File::create(&pq).unwrap()).finish(&mut df).unwrap();
    let (a, b) = (t.path().join("a"), t.path().join("b"));
    assert_eq!(ingest(&a, "ethereum", "etl", &[], &[&json]).code, 0);
    let o = ingest(&b, "ethereum", "parquet", &[], &[&pq]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let (sa, sb) = (stats(&a), stats(&b));
    for k in ["events", "addresses", "transactions", "assets", "fees_known", "failed_events", "first_block", "last_time"] {
        assert_eq!(sa[k], sb[k], "{k}");
    }
}

/// The Bitcoin trio as Parquet gives the same store as the CSV trio.
#[test]
fn parquet_bitcoin_trio() {
    use polars::prelude::*;
    let t = tempfile::tempdir().unwrap();
    let d = |f: &str| data(&format!("bitcoin-mainnet-block-702861/{f}"));
    let mut pqs = Vec::new();
    for name in ["transactions", "inputs", "outputs"] {
        let text = std::fs::read_to_string(d(&format!("{name}.csv"))).unwrap();
        let mut lines = text.lines();
        let header: Vec<&str> = lines.next().unwrap().split(',').collect();
        let mut cols: Vec<Vec<String>> = vec![Vec::new(); header.len()];
        for l in lines {
            for (k, f) in l.split(',').enumerate() {
                cols[k].push(f.to_string());
            }
        }
        let columns: Vec<Column> = header.iter().zip(cols).map(|(h, c)| Column::new((*h).into(), c)).collect();
        let mut df = DataFrame::new_infer_height(columns).unwrap();
        let p = t.path().join(format!("{name}.parquet"));
        ParquetWriter::new(std::fs::File::create(&p).unwrap()).finish(&mut df).unwrap();
        pqs.push(p);
    }
    let (a, b) = (t.path().join("a"), t.path().join("b"));
    assert_eq!(ingest(&a, "bitcoin", "etl", &[], &[&d("transactions.csv"), &d("inputs.csv"), &d("outputs.csv")]).code, 0);
    let refs: Vec<&std::path::Path> = pqs.iter().map(|p| p.as_path()).collect();
    let o = ingest(&b, "bitcoin", "parquet", &[], &refs);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let (sa, sb) = (stats(&a), stats(&b));
    for k in ["events", "addresses", "transactions", "assets", "fee_transactions", "inputs"] {
        assert_eq!(sa[k], sb[k], "{k}");
    }
}

/// The parse floor (`chaintrace-gen parse`) reads what an ingest reads:
/// the same rows of every file, and events that an ingest keeps once each
/// (the traces repeat the transactions' top-level calls).
#[test]
fn the_parse_floor_reads_what_an_ingest_reads() {
    let t = tempfile::tempdir().unwrap();
    let w =
        chaintrace::synth::etl::write_world_etl_part(&t.path().join("w"), chaintrace::synth::world::Params::new(20_000, 3), 0..u64::MAX)
            .unwrap();
    let opts = chaintrace::ingest::Options::new(chaintrace::model::Chain::Ethereum, chaintrace::ingest::Format::Etl);
    let files = &w.files[..3];
    let st = t.path().join("s");
    let o = ingest(&st, "ethereum", "etl", &["--no-progress"], &files.iter().map(|f| f.as_path()).collect::<Vec<_>>());
    assert_eq!(o.code, 0, "{}", o.stderr);
    let mut parsed = 0;
    for f in files {
        let (rows, events, bytes) = chaintrace::ingest::parse_floor(f, &opts).unwrap();
        assert_eq!(bytes, std::fs::metadata(f).unwrap().len(), "every byte, header included");
        let line = o.stderr.lines().chain(o.stdout.lines()).find(|l| l.starts_with(&f.display().to_string())).unwrap().to_string();
        assert!(line.contains(&format!(": {rows} rows as")), "{line}");
        parsed += events;
    }
    assert_eq!(parsed, w.events + w.transactions, "events once each, and the traces' copies of top-level calls");
    assert_eq!(Store::open(&st).unwrap().len() as u64, w.events);
}

/// `ingest::parse_text` (what the fuzz target `rows` drives) parses every
/// blockchain-etl fixture alike in one part or in many, and as the ingest
/// does: the same rows.
#[test]
fn parse_text_is_the_ingest_in_any_number_of_parts() {
    use chaintrace::ingest::{Format, Options, parse_text};
    let root = data("blockchain-etl-fixtures/ethereum-etl/tests/resources");
    let mut files = Vec::new();
    let mut dirs = vec![root];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
            } else if !p.to_string_lossy().contains("token") && !p.to_string_lossy().contains("receipts") {
                files.push(p);
            }
        }
    }
    files.sort();
    assert!(files.len() >= 8, "{files:?}");
    let opts = Options::new(chaintrace::model::Chain::Ethereum, Format::Etl);
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        let one = parse_text(f, bytes.clone(), &opts, 1).unwrap();
        for parts in [2, 3, 7] {
            let many = parse_text(f, bytes.clone(), &opts, parts).unwrap();
            assert_eq!(format!("{:?}", many.events), format!("{:?}", one.events), "{} in {parts} parts", f.display());
            assert_eq!((many.rows, many.table.as_str()), (one.rows, one.table.as_str()));
        }
        let t = tempfile::tempdir().unwrap();
        let o = ingest(&t.path().join("s"), "ethereum", "etl", &[], &[f]);
        assert_eq!(o.code, 0, "{}", o.stderr);
        assert!(o.stderr.contains(&format!("{} rows as {}", one.rows, one.table)), "{}: {}", f.display(), o.stderr);
    }
}
