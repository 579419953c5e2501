//! Heuristic bridge links (TRACING.md §7, `--follow bridges-heuristic`):
//! RenBridge's renBTC burns on Ethereum (the BTC gateway's real address and
//! `LogBurn` topic, renBTC's real contract; synthetic transactions) matched
//! to their releases on Bitcoin by address, amount and time. Followed only
//! when asked for, `exact: false` with a score; without the flag the burn
//! is an ordinary transfer and the report is byte for byte the one of a
//! store without the burn's log. Outputs outside the fee or time window are
//! not matched; one output pays one burn; a malformed burn log is refused
//! at ingest. The burns' block times are `T0` and `T0 + 12`; `FEE_TO`
//! is the gateway's fee recipient (its 0.1% is minted back to it).

mod common;
use chaintrace::convert::topics::Kind;
use common::*;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// `LogBurn(bytes,uint256,uint256,bytes)` (tests/conversions.rs checks it
/// against its signature).
const LOG_BURN: &str = "0x1619fc95050ffb8c94c9077c82b3e1ebbf8d571b6234241c55ba0aaf40da019e";
/// renBTC and RenVM's BTC gateway (proxy) on Ethereum.
const RENBTC: &str = "0xeb4c2781e4eba804ce9a9803c67d0893436bb27d";
const GATEWAY: &str = "0xe4b679400f0f267212d5d812b95f58c83243ee71";

/// The burners.
const MID: &str = "0x4444444444444444444444444444444444444444";
const MID2: &str = "0x4545454545454545454545454545454545454545";

/// A burn: 1 renBTC (8 decimals), of which the gateway keeps 0.1%.
const A: u128 = 100_000_000;
const BURN_FEE: u128 = 100_000;
/// The release: the burn after the gateway's fee, less a miner fee of 20,000 sat.
const RELEASED: u128 = A - BURN_FEE - 20_000;
/// What the seed and a clean address pay `MID` before it burns.
const TAINTED: u128 = 60_000_000;

/// `LogBurn`'s data: `(bytes _to, uint256 _amount)`.
fn burn_data(to: &str, amount: u128) -> String {
    let mut b = hex::encode(to);
    while !b.len().is_multiple_of(64) {
        b.push('0');
    }
    format!("0x{}{}{}{b}", word(64), word(amount), word(to.len() as u128))
}

/// `LogBurn`'s topics: the event, `_n`, and the hash of `_indexedTo`
/// (any 32 bytes here: nothing reads it).
fn burn_topics(n: u128) -> Vec<String> {
    vec![LOG_BURN.into(), format!("0x{}", word(n)), format!("0x{}", "ab".repeat(32))]
}

/// One burn of `A` renBTC by `burner` in transaction `tx` at (block, time,
/// index): its transaction, token transfers (the burn to the zero address,
/// the fee minted to `FEE_TO`) and, with `log`, the gateway's `LogBurn`.
fn burn(tx: &str, at: (u64, i64, u32), burner: &str, n: u128, log: bool) -> (String, String, String) {
    let (block, time, index) = at;
    let txs = tx_row(tx, block, time, index, burner, GATEWAY, 0);
    let mut tok = format!("{RENBTC},{burner},{ZERO},{A},{tx},0,{block},{time},{index}\n");
    tok += &format!("{RENBTC},{ZERO},{FEE_TO},{BURN_FEE},{tx},1,{block},{time},{index}\n");
    let logs = if log { log_row(2, tx, at, GATEWAY, &burn_data(PAYEE_BTC, A - BURN_FEE), &burn_topics(n)) } else { String::new() };
    (txs, tok, logs)
}

/// Ethereum: the seed pays `MID` 0.6 renBTC and a clean address 0.4
/// (e1, e2); `MID` burns its 1 renBTC for `PAYEE_BTC` (b1, at `T0`). With
/// `second`, the seed pays `MID2` 1 renBTC (e3), who burns it for the same
/// address 12 s later (b2). `logs`: whether the burns' logs are there.
fn eth_files(dir: &Path, second: bool, logs: bool) -> Vec<PathBuf> {
    let (e1, e2, e3, b1, b2) = (tx_hash(0xe1), tx_hash(0xe2), tx_hash(0xe3), tx_hash(0xb1), tx_hash(0xb2));
    let t = T0 - 24;
    let mut txs = String::from(TXS_HEAD);
    txs += &tx_row(&e1, 98, t, 0, SEED, RENBTC, 0);
    txs += &tx_row(&e2, 98, t, 1, CLEAN, RENBTC, 0);
    let mut tok = String::from(TOKENS_HEAD);
    tok += &format!("{RENBTC},{SEED},{MID},{TAINTED},{e1},0,98,{t},0\n");
    tok += &format!("{RENBTC},{CLEAN},{MID},{},{e2},1,98,{t},1\n", A - TAINTED);
    let mut log = String::from(LOGS_HEAD);
    if second {
        txs += &tx_row(&e3, 98, t, 2, SEED, RENBTC, 0);
        tok += &format!("{RENBTC},{SEED},{MID2},{A},{e3},2,98,{t},2\n");
    }
    let mut burns = vec![burn(&b1, (100, T0, 0), MID, 7, logs)];
    if second {
        burns.push(burn(&b2, (101, T0 + 12, 0), MID2, 8, logs));
    }
    for (x, y, z) in burns {
        txs += &x;
        tok += &y;
        log += &z;
    }
    write_files(dir, &[("transactions.csv", txs), ("token_transfers.csv", tok), ("logs.csv", log)])
}

/// Bitcoin: RenVM's vault is funded with 5 BTC, then pays `PAYEE_BTC` each
/// release (value, block time), in its own transaction; the payee sends
/// the first on to an exchange an hour later.
fn btc_file(dir: &Path, releases: &[(u128, i64)]) -> PathBuf {
    let fund = "f1".repeat(32);
    let mut rows = vec![json!({"hash": fund, "block_number": 800_000, "block_timestamp": T0 - 3600, "index": 0, "is_coinbase": true,
        "inputs": [], "outputs": [{"index": 0, "addresses": [VAULT_BTC], "value": 500_000_000u64, "type": "witness_v0_keyhash"}],
        "input_value": 0, "output_value": 500_000_000u64, "fee": 0})];
    let (mut spend, mut left) = ((fund, 0), 500_000_000u128);
    for (k, &(value, time)) in releases.iter().enumerate() {
        let hash = format!("{:02x}", 0xb0 + k).repeat(32);
        let change = left - value - 20_000;
        rows.push(json!({"hash": hash, "block_number": 800_001 + k, "block_timestamp": time, "index": 1, "is_coinbase": false,
            "inputs": [{"index": 0, "spent_transaction_hash": spend.0, "spent_output_index": spend.1, "addresses": [VAULT_BTC], "value": left as u64}],
            "outputs": [
                {"index": 0, "addresses": [PAYEE_BTC], "value": value as u64, "type": "witness_v0_keyhash"},
                {"index": 1, "addresses": [VAULT_BTC], "value": change as u64, "type": "witness_v0_keyhash"}],
            "input_value": left as u64, "output_value": (value + change) as u64, "fee": 20_000}));
        (spend, left) = ((hash, 1), change);
    }
    if let Some(&(value, time)) = releases.first() {
        rows.push(json!({"hash": "c3".repeat(32), "block_number": 800_100, "block_timestamp": time + 3600, "index": 1, "is_coinbase": false,
            "inputs": [{"index": 0, "spent_transaction_hash": "b0".repeat(32), "spent_output_index": 0, "addresses": [PAYEE_BTC], "value": value as u64}],
            "outputs": [{"index": 0, "addresses": [EXCH_BTC], "value": (value - 10_000) as u64, "type": "witness_v0_keyhash"}],
            "input_value": value as u64, "output_value": (value - 10_000) as u64, "fee": 10_000}));
    }
    rows.sort_by_key(|r| r["block_number"].as_u64());
    std::fs::create_dir_all(dir).unwrap();
    let f = dir.join("btc.json");
    std::fs::write(&f, rows.iter().map(|r| format!("{r}\n")).collect::<String>()).unwrap();
    f
}

/// An Ethereum store (see [`eth_files`]) in `t/name`.
fn eth_store(t: &Path, name: &str, second: bool, logs: bool) -> PathBuf {
    let st = t.join(name);
    ingest_ok(&st, "ethereum", &eth_files(&t.join(format!("{name}-in")), second, logs));
    st
}

/// A Bitcoin store (see [`btc_file`]) in `t/name`, the exchange labelled.
fn btc_store(t: &Path, name: &str, releases: &[(u128, i64)]) -> PathBuf {
    let st = t.join(name);
    ingest_ok(&st, "bitcoin", &[btc_file(&t.join(format!("{name}-in")), releases)]);
    let labels = t.join(format!("{name}-labels.csv"));
    std::fs::write(&labels, format!("address,category,label\n{EXCH_BTC},exchange,Example Exchange\n")).unwrap();
    let o = run(&["labels", "--store", st.to_str().unwrap(), "import", labels.to_str().unwrap()]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    st
}

/// `trace` over both stores from the seed, exchanges as stops.
fn trace_out(e: &Path, b: &Path, policy: &str, follow: &str, format: &str) -> Out {
    let (e, b) = (e.to_str().unwrap(), b.to_str().unwrap());
    run(&[
        "trace",
        "--store",
        e,
        "--store",
        b,
        "--policy",
        policy,
        "--follow",
        follow,
        "--seed",
        SEED,
        "--stop-at",
        "exchange",
        "--format",
        format,
    ])
}

fn trace(e: &Path, b: &Path, policy: &str, follow: &str) -> Value {
    let o = trace_out(e, b, policy, follow, "json");
    assert_eq!(o.code, 0, "{}", o.stderr);
    serde_json::from_str(&o.stdout).unwrap()
}

fn renbtc() -> String {
    format!("ethereum:{RENBTC}")
}

#[test]
fn a_renbridge_burn_is_followed_only_with_bridges_heuristic() {
    let t = tempfile::tempdir().unwrap();
    let e = eth_store(t.path(), "eth", false, true);
    let bare = eth_store(t.path(), "eth-bare", false, false);
    let b = btc_store(t.path(), "btc", &[(RELEASED, T0 + 1800)]);
    // The gateway's log is kept: its `_n` and `_indexedTo` topics, then its data.
    let (logs, memos) = logs_and_memos(&e);
    assert_eq!(logs, vec![(tx_hash(0xb1), 2, GATEWAY.to_string(), Some(Kind::RenBurn))]);
    let mut kept: Vec<u8> = burn_topics(7)[1..].iter().flat_map(|t| hex::decode(&t[2..]).unwrap()).collect();
    kept.extend(hex::decode(&burn_data(PAYEE_BTC, A - BURN_FEE)[2..]).unwrap());
    assert_eq!(memos, vec![(tx_hash(0xb1), 2, kept)]);
    export_round_trip(t.path(), &e, "ethereum");

    let r = trace(&e, &b, "haircut", "swaps,bridges-heuristic");
    let by = &r["totals_by_asset"];
    assert!(by.as_object().unwrap().values().all(conserved), "{by:#}");
    // MID's 1 renBTC carried the seed's 0.6 out; the release carries
    // floor(x * v / a) of it into Bitcoin.
    let y = TAINTED * RELEASED / A;
    assert_eq!(y, 59_928_000);
    assert_eq!((n(&by[renbtc()]["converted_out"]), n(&by["bitcoin:BTC"]["converted_in"])), (TAINTED, y));
    assert_eq!(n(&by["bitcoin:BTC"]["seeded"]), 0);
    let conv = r["conversions"].as_array().unwrap();
    assert_eq!(conv.len(), 1, "{conv:#?}");
    let c = &conv[0];
    // 1,000,000 - 1,000,000 * 120,000 / 10^8 - 250,000 * 1,800 / 86,400.
    let score = 1_000_000 - 1_200 - 5_208;
    assert_eq!((c["kind"].as_str(), c["exact"].as_bool(), c["score"].as_u64()), (Some("bridge"), Some(false), Some(score)));
    assert_eq!((c["tx"].as_str(), c["to_tx"].as_str()), (Some(tx_hash(0xb1).as_str()), Some("b0".repeat(32).as_str())));
    assert_eq!((c["payer"].as_str(), c["payee"].as_str(), c["venue"].as_str()), (Some(MID), Some(PAYEE_BTC), Some(ZERO)));
    assert_eq!((n(&c["value_in"]), n(&c["value_out"]), n(&c["taint_in"]), n(&c["taint_out"])), (A, RELEASED, TAINTED, y));
    assert_eq!((c["asset_in"].as_str(), c["asset_out"].as_str()), (Some(renbtc().as_str()), Some("bitcoin:BTC")));
    // The taint that crossed by heuristics, per asset.
    assert_eq!(
        r["heuristic"],
        json!({"taint_in": {renbtc(): TAINTED.to_string()}, "taint_out": {"bitcoin:BTC": y.to_string()}, "links": 1})
    );
    // The exchange's evidence path crosses the link, which says so.
    let exch = r["destinations"].as_array().unwrap().iter().find(|d| d["address"] == EXCH_BTC).cloned().expect("the exchange");
    assert_eq!(n(&exch["amount"]), (RELEASED - 10_000) * y / RELEASED);
    let path = exch["paths"][0].as_array().unwrap();
    assert_eq!(path.len(), 3, "{path:#?}");
    assert_eq!((path[0]["from"].as_str(), path[0]["to"].as_str()), (Some(SEED), Some(MID)));
    assert_eq!(path[1], *c);
    assert_eq!((path[2]["from"].as_str(), path[2]["to"].as_str()), (Some(PAYEE_BTC), Some(EXCH_BTC)));
    // FIFO and poison follow it too; the report is the same on every run.
    let f = trace(&e, &b, "fifo", "swaps,bridges-heuristic");
    assert!(f["totals_by_asset"].as_object().unwrap().values().all(conserved), "{:#}", f["totals_by_asset"]);
    assert_eq!(f["conversions"][0]["exact"], false);
    assert_eq!(trace(&e, &b, "poison", "swaps,bridges-heuristic")["heuristic"]["links"], 1);
    assert_eq!(trace(&e, &b, "haircut", "bridges-heuristic,swaps"), r);
    let table = trace_out(&e, &b, "haircut", "swaps,bridges-heuristic", "table");
    assert_eq!(table.code, 0, "{}", table.stderr);
    if std::env::var("SHOW").is_ok() {
        eprintln!("{}\n{r:#}", table.stdout);
    }
    assert!(table.stdout.contains(&format!("(heuristic, score {score} ppm)")), "{}", table.stdout);
    assert!(table.stdout.contains("crossed by heuristic links (1, exact: false)"), "{}", table.stdout);
    for format in ["csv", "html", "dot"] {
        let o = trace_out(&e, &b, "haircut", "swaps,bridges-heuristic", format);
        assert_eq!(o.code, 0, "{format}: {}", o.stderr);
    }

    // Not asked for: the burn is an ordinary transfer (to the zero address,
    // a stop), and the report is the one of a store without the burn's log.
    let plain = trace_out(&e, &b, "haircut", "swaps,bridges", "json");
    let without = trace_out(&bare, &b, "haircut", "swaps,bridges", "json");
    assert_eq!((plain.code, without.code), (0, 0), "{}{}", plain.stderr, without.stderr);
    assert_eq!(plain.stdout, without.stdout);
    let p: Value = serde_json::from_str(&plain.stdout).unwrap();
    assert!(
        p.get("heuristic").is_none() && p["conversions"].as_array().unwrap().is_empty() && p["unfollowed"].as_array().unwrap().is_empty()
    );
    assert_eq!(n(&p["totals_by_asset"][renbtc()]["converted_out"]), 0);
    assert!(p["destinations"].as_array().unwrap().iter().all(|d| d["category"] != "bridge"), "the bridge holds nothing");
    // Nothing to match: the heuristic changes nothing either.
    assert_eq!(trace_out(&bare, &b, "haircut", "swaps,bridges-heuristic", "json").stdout, without.stdout);

    // `conversions` lists the link, marked, with its score; exact bridges and
    // swaps have neither field.
    let rows = conversions(&[&e, &b]);
    assert_eq!(rows.len(), 1, "{rows:#?}");
    let w = &rows[0];
    assert_eq!(
        (w["bridge"].as_str(), w["status"].as_str(), w["exact"].as_bool(), w["score"].as_u64()),
        (Some("renbridge"), Some("followable"), Some(false), Some(score))
    );
    assert_eq!(
        (w["to_tx"].as_str(), w["to_chain"].as_str(), w["value_out"].as_str()),
        (Some("b0".repeat(32).as_str()), Some("bitcoin"), Some("99880000"))
    );
}

/// Fee window `[a - (0.5% of a + 100,000), a]` and time window (later than
/// the burn in the order of all chains, at most a day of block time).
#[test]
fn outputs_outside_the_fee_or_time_window_are_not_matched() {
    let t = tempfile::tempdir().unwrap();
    let e = eth_store(t.path(), "eth", false, true);
    let floor = A - (A * 50 / 10_000 + 100_000);
    assert_eq!(floor, 99_400_000);
    for (k, (value, time, status, score)) in [
        // At both edges: matched, a quarter of the score lost to the delay.
        (floor, T0 + 86_400, "followable", Some(1_000_000 - 6_000 - 250_000)),
        (A, T0 + 1, "followable", Some(1_000_000 - 2)),
        (floor - 1, T0 + 1800, "no-payout", None),
        (A + 1, T0 + 1800, "no-payout", None),
        (RELEASED, T0 + 86_401, "no-payout", None),
        (RELEASED, T0 - 60, "no-payout", None),
        // The same second: Bitcoin's name sorts before Ethereum's, so the output is earlier.
        (RELEASED, T0, "no-payout", None),
    ]
    .into_iter()
    .enumerate()
    {
        let b = btc_store(t.path(), &format!("btc{k}"), &[(value, time)]);
        let rows = conversions(&[&e, &b]);
        let w = &rows[0];
        assert_eq!((w["status"].as_str(), w["score"].as_u64()), (Some(status), score), "{value} at {time}: {rows:#?}");
        let r = trace(&e, &b, "haircut", "swaps,bridges-heuristic");
        assert!(r["totals_by_asset"].as_object().unwrap().values().all(conserved), "{:#}", r["totals_by_asset"]);
        assert_eq!(r["conversions"].as_array().unwrap().len(), usize::from(status == "followable"), "{value} at {time}");
        if status != "followable" {
            // The bridge holds the burn's taint, as for an exact bridge with no payout.
            assert!(r.get("heuristic").is_none());
            let held = r["destinations"].as_array().unwrap().iter().find(|d| d["category"] == "bridge").cloned().expect("held");
            assert_eq!((held["address"].as_str(), held["entity"].as_str(), n(&held["amount"])), (Some(ZERO), Some("RenBridge"), TAINTED));
            assert_eq!(r["unfollowed"][0]["status"], "no-payout");
        }
    }
}

#[test]
fn two_burns_to_one_address_and_one_output_match_once() {
    let t = tempfile::tempdir().unwrap();
    let e = eth_store(t.path(), "eth", true, true);
    let one = btc_store(t.path(), "one", &[(RELEASED, T0 + 1800)]);
    let rows = conversions(&[&e, &one]);
    let status: Vec<(&str, Option<&str>)> = rows.iter().map(|w| (w["status"].as_str().unwrap(), w["to_tx"].as_str())).collect();
    let first = "b0".repeat(32);
    assert_eq!(status, [("followable", Some(first.as_str())), ("claimed", None)], "the earlier burn takes the output");
    let r = trace(&e, &one, "haircut", "swaps,bridges-heuristic");
    let by = &r["totals_by_asset"];
    assert!(by.as_object().unwrap().values().all(conserved), "{by:#}");
    assert_eq!(r["heuristic"]["links"], 1);
    assert_eq!(n(&by[renbtc()]["converted_out"]), TAINTED);
    // The second burn's taint (all of MID2's renBTC) stays with the bridge.
    let held = r["destinations"].as_array().unwrap().iter().find(|d| d["category"] == "bridge").cloned().expect("held");
    assert_eq!((held["label"].as_str(), n(&held["amount"])), (Some("RenBridge (claimed)"), A));
    let unf = r["unfollowed"].as_array().unwrap();
    assert_eq!((unf.len(), unf[0]["status"].as_str(), unf[0]["tx"].as_str()), (1, Some("claimed"), Some(tx_hash(0xb2).as_str())));
    // A second release pays the second burn.
    let two = btc_store(t.path(), "two", &[(RELEASED, T0 + 1800), (RELEASED, T0 + 3600)]);
    let rows = conversions(&[&e, &two]);
    let second = "b1".repeat(32);
    let to: Vec<Option<&str>> = rows.iter().map(|w| w["to_tx"].as_str()).collect();
    assert_eq!(to, [Some(first.as_str()), Some(second.as_str())]);
    let r = trace(&e, &two, "haircut", "swaps,bridges-heuristic");
    assert!(r["totals_by_asset"].as_object().unwrap().values().all(conserved), "{:#}", r["totals_by_asset"]);
    assert_eq!(r["heuristic"]["links"], 2);
    assert_eq!(r["heuristic"]["taint_in"][renbtc()], (TAINTED + A).to_string());
    assert_eq!(r["heuristic"]["taint_out"]["bitcoin:BTC"], (TAINTED * RELEASED / A + RELEASED).to_string());
}

/// A gateway `LogBurn` whose topics or data do not fit the event is bad
/// input naming file, line and field; the same row from another contract
/// is not read.
#[test]
fn a_burn_log_with_bad_data_is_refused_at_ingest() {
    let t = tempfile::tempdir().unwrap();
    let good = burn_data(PAYEE_BTC, A);
    let f = t.path().join("logs.csv");
    let past = format!("0x{}{}", word(4096), word(A));
    let empty = format!("0x{}{}{}", word(64), word(A), word(0));
    for (k, (bad, field, says)) in [
        (&good[..2 + 64], "data", "32 bytes of data, fewer than its 2 head words"),
        ("", "data", "0 bytes of data"),
        (past.as_str(), "data", "cannot be read"),
        (empty.as_str(), "data", "_to is empty"),
        (good.as_str(), "topics", "2 topics, not 3"),
    ]
    .into_iter()
    .enumerate()
    {
        let topics = if field == "topics" { burn_topics(1)[..2].to_vec() } else { burn_topics(1) };
        let at = (100, T0, 0);
        let rows = format!(
            "{LOGS_HEAD}{}{}",
            log_row(0, &tx_hash(0xb1), at, GATEWAY, &good, &burn_topics(0)),
            log_row(1, &tx_hash(0xb1), at, GATEWAY, bad, &topics)
        );
        std::fs::write(&f, rows).unwrap();
        let st = t.path().join(format!("s{k}"));
        let o = ingest(&st, "ethereum", "etl", &["--no-progress"], &[&f]);
        assert_eq!(o.code, 1, "{says}: {}", o.stderr);
        assert!(
            o.stderr.contains("logs.csv") && o.stderr.contains("line 3") && o.stderr.contains(field) && o.stderr.contains(says),
            "{says}: {}",
            o.stderr
        );
        assert!(!st.join("CURRENT").exists(), "nothing written");
    }
    // From another contract (renBTC itself, another gateway): not RenVM's BTC gateway, not read.
    for emitter in [OTHER, RENBTC] {
        std::fs::write(&f, format!("{LOGS_HEAD}{}", log_row(1, &tx_hash(0xb1), (100, T0, 0), emitter, "0x", &burn_topics(1)))).unwrap();
        let st = t.path().join(format!("other-{emitter}"));
        let o = ingest(&st, "ethereum", "etl", &["--no-progress"], &[&f]);
        assert_eq!(o.code, 0, "{}", o.stderr);
        assert_eq!(logs_and_memos(&st), (vec![], vec![]));
    }
}

#[test]
fn the_burn_kind_comes_last_and_counts_only_from_the_gateway() {
    use chaintrace::convert::topics::{RENBTC as RENBTC_BYTES, RENBTC_GATEWAYS, recognise};
    let bytes = |a: &str| -> [u8; 20] { hex::decode(&a[2..]).unwrap().try_into().unwrap() };
    let topic: [u8; 32] = hex::decode(&LOG_BURN[2..]).unwrap().try_into().unwrap();
    assert_eq!(Kind::RenBurn.code(), 16, "after the older kinds, whose codes keep their meaning");
    assert_eq!(Kind::from_code(16), Some(Kind::RenBurn));
    assert_eq!((RENBTC_BYTES, RENBTC_GATEWAYS), (bytes(RENBTC), [bytes(GATEWAY)]));
    assert_eq!(recognise(&topic, &bytes(GATEWAY)), Some(Kind::RenBurn));
    assert_eq!((recognise(&topic, &bytes(RENBTC)), recognise(&topic, &bytes(OTHER))), (None, None));
    // The score: an integer label, a million for an immediate release of the whole burn.
    use chaintrace::trace::bridges::renbridge_score;
    use ruint::aliases::U256;
    let a = U256::from(A);
    assert_eq!(renbridge_score(a, a, 0), 1_000_000);
    assert_eq!(renbridge_score(a, U256::from(RELEASED), 1800), 993_592);
    assert_eq!(renbridge_score(a, U256::ZERO, 86_400), 0, "floored at zero");
}
