//! The Avalanche Bridge, Wormhole's token bridge and Ronin v1 (TRACING.md
//! §7, docs/bridges.md): hand-written blockchain-etl fixtures with the
//! bridges' real contract addresses and event topics and synthetic
//! transactions. An Avalanche Bridge deposit of USDC on Ethereum followed
//! under haircut, FIFO and poison into USDC.e on the C-chain (matched by `Mint.originTxId`);
//! a Wormhole transfer of ETH to Arbitrum matched by its sequence, and one
//! redeemed twice (`several-payouts`, held by the bridge); a Ronin deposit
//! listed as `no-payout`; a malformed `Mint` refused at ingest.

mod common;
use chaintrace::convert::topics::Kind;
use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};

// Event topics (keccak256 of the signatures; `tests/conversions.rs` checks
// them against `topics::RECOGNISED`).
/// `Mint(address,uint256,address,uint256,bytes32)` (Avalanche `BridgeToken`).
const MINT: &str = "0x918d77674bb88eaf75afb307c9723ea6037706de68d6fc07dd0c6cba423a5250";
/// `LogMessagePublished(address,uint64,uint32,bytes,uint8)` (Wormhole core).
const PUBLISHED: &str = "0x6eb224fb001ed210e379b335e35efe88672a8ce935d981a6896b27ffdf52a3b2";
/// `TransferRedeemed(uint16,bytes32,uint64)` (Wormhole token bridge).
const REDEEMED: &str = "0xcaf280c8cfeba144da67230d9b009c8f868a75bac9a528fa0474be1ba317c169";
/// `TokenDeposited(uint256,address,address,address,uint32,uint256)` (Ronin v1 MainchainGateway).
const RONIN_DEPOSITED: &str = "0x72848855a2461abf0dd243723dfcc9163eec2ea5215469d101c0d9c9ef58940d";
/// `TokenWithdrew(uint256,address,address,uint256)`.
const RONIN_WITHDREW: &str = "0x86174ea401f083b9bb1bdebca3068f27fb023c7091365ed2a8a02b8d75cf0e52";

// Real contracts.
/// The Avalanche Bridge's Ethereum wallet (Avalanche Bridge FAQ).
const AB_WALLET: &str = "0xe78388b4ce79068e89bf8aa7f218ef6b9ab0e9d0";
/// USDC on Ethereum and USDC.e on the C-chain.
const USDC: &str = "0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48";
const USDC_E: &str = "0xa7d7079b0fead91f3e65f86e8915cb59c1a4c664";
/// Wormhole's core and token bridge on Ethereum, and the token bridge on Arbitrum.
const WH_CORE_ETH: &str = "0x98f3c9e6e3face36baad05fe09d375ef1464288b";
const WH_BRIDGE_ETH: &str = "0x3ee18b2214aff97000d974cf647e7c347e8fa585";
const WH_BRIDGE_ARB: &str = "0x0b2402144bb366a632d14b83f244d2e0e21bd39c";
const WETH: &str = "0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2";
/// Ronin's v1 MainchainGateway on Ethereum.
const RONIN_GATEWAY: &str = "0x1a2a1c938ce3ec39b6d47113c7955baa9dd454f2";

// Synthetic addresses.
const USER: &str = "0x2222222222222222222222222222222222222222";
const MINTER: &str = "0x50ff3b278fcc70ec7a9465063d68029ab460ea04";
const PAYEE: &str = "0x3333333333333333333333333333333333333333";
const PAYEE2: &str = "0x4444444444444444444444444444444444444444";
const RELAYER: &str = "0x8888888888888888888888888888888888888888";

const ETH: u128 = 1_000_000_000_000_000_000;

const TRACES_HEAD: &str = "block_number,block_timestamp,transaction_hash,transaction_index,from_address,to_address,value,trace_type,call_type,trace_address,status\n";

fn trace(stores: &[&Path], policy: &str) -> Value {
    let mut args = vec!["trace"];
    for s in stores {
        args.extend(["--store", s.to_str().unwrap()]);
    }
    args.extend(["--policy", policy, "--follow", "swaps,bridges", "--seed", SEED, "--format", "json"]);
    let o = run(&args);
    assert_eq!(o.code, 0, "{}", o.stderr);
    serde_json::from_str(&o.stdout).unwrap()
}

// ---------------------------------------------------------------------
// Avalanche Bridge: USDC on Ethereum to USDC.e on the C-chain.

/// 700,000,001 clean and 300,000,000 tainted base units of USDC.
const CLEAN_USDC: u128 = 700_000_001;
const TAINTED_USDC: u128 = 300_000_000;
/// What the Mint pays the payee and the fee address.
const MINTED: u128 = 999_000_000;
const MINT_FEE: u128 = 1_000_001;
/// The seed's own deposit, never minted.
const HELD: u128 = 50_000_000;

/// `Mint`'s data: to, amount, feeAddress, feeAmount, originTxId.
fn mint_data(to: &str, amount: u128, fee_to: &str, fee: u128, origin: &str) -> String {
    format!("0x{}{}{}{}{}", &padded(to)[2..], word(amount), &padded(fee_to)[2..], word(fee), &origin[2..])
}

/// Ethereum: `CLEAN` and the seed fund `USER` (e0, e1); `USER` sends its
/// whole 1,000,000,001 USDC to the bridge wallet (d1); the seed sends
/// 50 USDC there too (d2, never minted).
fn avalanche_eth_files(dir: &Path) -> Vec<PathBuf> {
    let (e0, e1, d1, d2) = (tx_hash(0xe0), tx_hash(0xe1), tx_hash(0xd1), tx_hash(0xd2));
    let (t1, t2) = (T0 + 12, T0 + 24);
    let mut txs = String::from(TXS_HEAD);
    txs += &tx_row(&e0, 100, T0, 0, CLEAN, USDC, 0);
    txs += &tx_row(&e1, 100, T0, 1, SEED, USDC, 0);
    txs += &tx_row(&d1, 101, t1, 0, USER, USDC, 0);
    txs += &tx_row(&d2, 102, t2, 0, SEED, USDC, 0);
    let mut tok = String::from(TOKENS_HEAD);
    tok += &format!("{USDC},{CLEAN},{USER},{CLEAN_USDC},{e0},0,100,{T0},0\n");
    tok += &format!("{USDC},{SEED},{USER},{TAINTED_USDC},{e1},1,100,{T0},1\n");
    tok += &format!("{USDC},{USER},{AB_WALLET},{},{d1},0,101,{t1},0\n", CLEAN_USDC + TAINTED_USDC);
    tok += &format!("{USDC},{SEED},{AB_WALLET},{HELD},{d2},0,102,{t2},0\n");
    write_files(dir, &[("transactions.csv", txs), ("token_transfers.csv", tok)])
}

/// The C-chain: the bridge's minter calls USDC.e's `mint` for d1 (m1): the
/// payee gets 999,000,000 and the fee address 1,000,001, both minted from
/// the zero address. Another contract's `Mint` names d2 (m2): not the
/// bridge's, so d2 stays unpaid.
fn avalanche_c_files(dir: &Path, mint_data_d1: &str) -> Vec<PathBuf> {
    let (m1, m2) = (tx_hash(0x31), tx_hash(0x32));
    let (block, time) = (5000, T0 + 600);
    let mut txs = String::from(TXS_HEAD);
    txs += &tx_row(&m1, block, time, 0, MINTER, USDC_E, 0);
    txs += &tx_row(&m2, block, time, 1, MINTER, OTHER, 0);
    let mut tok = String::from(TOKENS_HEAD);
    tok += &format!("{USDC_E},{ZERO},{USER},{MINTED},{m1},0,{block},{time},0\n");
    tok += &format!("{USDC_E},{ZERO},{FEE_TO},{MINT_FEE},{m1},1,{block},{time},0\n");
    tok += &format!("{OTHER},{ZERO},{USER},{HELD},{m2},0,{block},{time},1\n");
    let mut logs = String::from(LOGS_HEAD);
    logs += &log_row(2, &m1, (block, time, 0), USDC_E, mint_data_d1, &[MINT.into()]);
    logs += &log_row(1, &m2, (block, time, 1), OTHER, &mint_data(USER, HELD, FEE_TO, 0, &tx_hash(0xd2)), &[MINT.into()]);
    write_files(dir, &[("transactions.csv", txs), ("token_transfers.csv", tok), ("logs.csv", logs)])
}

#[test]
fn avalanche_bridge_usdc_followed_into_usdc_e_under_each_policy() {
    let t = tempfile::tempdir().unwrap();
    let (e, a) = (t.path().join("eth"), t.path().join("avax"));
    ingest_ok(&e, "ethereum", &avalanche_eth_files(&t.path().join("eth-in")));
    let d1_mint = mint_data(USER, MINTED, FEE_TO, MINT_FEE, &tx_hash(0xd1));
    ingest_ok(&a, "avalanche", &avalanche_c_files(&t.path().join("avax-in"), &d1_mint));
    // Only USDC.e's Mint is kept, with its data as the memo.
    let (logs, memos) = logs_and_memos(&a);
    assert_eq!(logs, vec![(tx_hash(0x31), 2, USDC_E.to_string(), Some(Kind::AvalancheMint))]);
    assert_eq!(memos, vec![(tx_hash(0x31), 2, hex::decode(&d1_mint[2..]).unwrap())]);
    export_round_trip(t.path(), &a, "avalanche");

    let r = trace(&[&e, &a], "haircut");
    let by = &r["totals_by_asset"];
    let (usdc, usdc_e) = (&by[format!("ethereum:{USDC}")], &by[format!("avalanche:{USDC_E}")]);
    assert!(by.as_object().unwrap().values().all(conserved), "{by:#}");
    // d1 carried USER's whole taint; d2's stays with the bridge wallet.
    assert_eq!(n(&usdc["converted_out"]), TAINTED_USDC, "{by:#}");
    assert_eq!(n(&usdc["destinations"]), HELD);
    let y = TAINTED_USDC * MINTED / (CLEAN_USDC + TAINTED_USDC);
    assert_eq!(y, 299_699_999);
    assert_eq!((n(&usdc_e["converted_in"]), n(&usdc_e["seeded"])), (y, 0));
    let conv = r["conversions"].as_array().unwrap();
    assert_eq!(conv.len(), 1, "{conv:#?}");
    let c = &conv[0];
    assert_eq!((c["kind"].as_str(), c["chain"].as_str(), c["to_chain"].as_str()), (Some("bridge"), Some("ethereum"), Some("avalanche")));
    assert_eq!((c["tx"].as_str(), c["to_tx"].as_str()), (Some(tx_hash(0xd1).as_str()), Some(tx_hash(0x31).as_str())));
    assert_eq!((c["payer"].as_str(), c["payee"].as_str()), (Some(USER), Some(USER)));
    let (x, a_in, b_out) = (n(&c["taint_in"]), n(&c["value_in"]), n(&c["value_out"]));
    assert_eq!((x, a_in, b_out), (TAINTED_USDC, CLEAN_USDC + TAINTED_USDC, MINTED));
    assert_eq!(n(&c["taint_out"]), x * b_out / a_in, "taint_out = floor(x*b/a)");
    assert_eq!(
        (c["asset_in"].as_str(), c["asset_out"].as_str()),
        (Some(format!("ethereum:{USDC}").as_str()), Some(format!("avalanche:{USDC_E}").as_str()))
    );
    let payee = r["dormant"].as_array().unwrap().iter().find(|h| h["address"] == USER && h["chain"] == "avalanche").cloned();
    assert_eq!(n(&payee.expect("the payee holds the mint")["amount"]), y);
    let dest = r["destinations"].as_array().unwrap().iter().find(|d| d["address"] == AB_WALLET).cloned().expect("the wallet holds d2");
    assert_eq!((dest["category"].as_str(), n(&dest["amount"])), (Some("bridge"), HELD));
    let unf = r["unfollowed"].as_array().unwrap();
    assert_eq!((unf.len(), unf[0]["status"].as_str(), unf[0]["kind"].as_str()), (1, Some("no-payout"), Some("bridge")), "{unf:#?}");
    // FIFO conserves too; under poison the mint is wholly tainted (y = b);
    // the report is the same on every run.
    let f = trace(&[&e, &a], "fifo");
    assert!(f["totals_by_asset"].as_object().unwrap().values().all(conserved), "{:#}", f["totals_by_asset"]);
    assert_eq!(n(&f["totals_by_asset"][format!("avalanche:{USDC_E}")]["converted_in"]), n(&f["conversions"][0]["taint_out"]));
    let p = trace(&[&e, &a], "poison");
    assert_eq!((n(&p["conversions"][0]["taint_out"]), p["conversions"][0]["to_chain"].as_str()), (MINTED, Some("avalanche")));
    assert_eq!(trace(&[&e, &a], "haircut"), r);

    // conversions: the followed deposit with its mint, the other no-payout.
    let rows = conversions(&[&e, &a]);
    assert_eq!(rows.len(), 2, "{rows:#?}");
    assert_eq!(
        (rows[0]["status"].as_str(), rows[0]["tx"].as_str(), rows[0]["to_tx"].as_str(), rows[0]["to_chain"].as_str()),
        (Some("followable"), Some(tx_hash(0xd1).as_str()), Some(tx_hash(0x31).as_str()), Some("avalanche"))
    );
    assert_eq!((rows[0]["venues"][0].as_str(), rows[0]["value_out"].as_str()), (Some(AB_WALLET), Some("999000000")));
    assert_eq!((rows[0]["bridge"].as_str(), rows[1]["bridge"].as_str()), (Some("avalanche-bridge"), Some("avalanche-bridge")));
    assert_eq!((rows[1]["status"].as_str(), rows[1]["payer"].as_str(), rows[1]["to_tx"].as_str()), (Some("no-payout"), Some(SEED), None));

    // A Mint that pays nobody it names (the log without its transfer): no-payee.
    let bare = t.path().join("bare");
    let files = avalanche_c_files(&t.path().join("bare-in"), &d1_mint);
    ingest_ok(&bare, "avalanche", &[files[0].clone(), files[2].clone()]);
    let rows = conversions(&[&e, &bare]);
    assert_eq!((rows[0]["status"].as_str(), rows[0]["to_tx"].as_str()), (Some("no-payee"), None), "{rows:#?}");
}

/// A `Mint` from a bridge token whose data is not 5 words is bad input
/// naming file, line and field; the same row from another contract is not read.
#[test]
fn a_mint_whose_data_is_not_five_words_is_refused() {
    let t = tempfile::tempdir().unwrap();
    let good = mint_data(USER, MINTED, FEE_TO, MINT_FEE, &tx_hash(0xd1));
    let four = good[..2 + 4 * 64].to_string();
    let six = format!("{good}{}", word(1));
    let f = t.path().join("logs.csv");
    for (bad, field, says) in [
        (four.as_str(), "data", "128 bytes of data, not 160 (5 words)"),
        (six.as_str(), "data", "192 bytes of data, not 160"),
        ("", "data", "0 bytes"),
        (good.as_str(), "topics", "2 topics, not 1"),
    ] {
        let topics: Vec<String> = if field == "topics" { vec![MINT.into(), padded(USER)] } else { vec![MINT.into()] };
        let rows = format!(
            "{LOGS_HEAD}{}{}",
            log_row(0, &tx_hash(0x31), (5000, T0, 0), USDC_E, &good, &[MINT.into()]),
            log_row(1, &tx_hash(0x31), (5000, T0, 0), USDC_E, bad, &topics)
        );
        std::fs::write(&f, rows).unwrap();
        let st = t.path().join("s");
        let o = ingest(&st, "avalanche", "etl", &["--no-progress"], &[&f]);
        assert_eq!(o.code, 1, "{says}: {}", o.stderr);
        assert!(
            o.stderr.contains("logs.csv") && o.stderr.contains("line 3") && o.stderr.contains(field) && o.stderr.contains(says),
            "{says}: {}",
            o.stderr
        );
        assert!(!st.join("CURRENT").exists(), "nothing written");
    }
    let rows = format!("{LOGS_HEAD}{}", log_row(1, &tx_hash(0x31), (5000, T0, 0), OTHER, &four, &[MINT.into()]));
    std::fs::write(&f, rows).unwrap();
    let st = t.path().join("other");
    let o = ingest(&st, "avalanche", "etl", &["--no-progress"], &[&f]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(logs_and_memos(&st), (vec![], vec![]));
}

// ---------------------------------------------------------------------
// Wormhole: ETH from Ethereum to Arbitrum.

/// The token bridge's transfer payload (id 1): amount (8 decimals), token,
/// token chain, to, toChain, fee; 133 bytes.
fn transfer_payload(amount: u128, to: &str, to_chain: u16) -> Vec<u8> {
    let mut p = vec![1u8];
    p.extend(hex::decode(word(amount)).unwrap());
    p.extend(hex::decode(&padded(WETH)[2..]).unwrap());
    p.extend(2u16.to_be_bytes());
    p.extend(hex::decode(&padded(to)[2..]).unwrap());
    p.extend(to_chain.to_be_bytes());
    p.extend([0u8; 32]);
    assert_eq!(p.len(), 133);
    p
}

/// `LogMessagePublished`'s data: sequence, nonce, the payload's offset,
/// consistency level, then the payload's length and bytes (padded).
fn published_data(sequence: u64, payload: &[u8]) -> String {
    let mut b = hex::encode(payload);
    while !b.len().is_multiple_of(64) {
        b.push('0');
    }
    format!("0x{}{}{}{}{}{b}", word(sequence.into()), word(0), word(128), word(1), word(payload.len() as u128))
}

/// Ethereum: the seed sends 1 ETH through the token bridge for `PAYEE` on
/// Arbitrum (w1, sequence 7) and 0.5 ETH for `PAYEE2` (w2, sequence 8).
/// The core also logs a message of another sender (w1, not the token
/// bridge's: dropped).
fn wormhole_eth_files(dir: &Path) -> Vec<PathBuf> {
    let (w1, w2) = (tx_hash(0xb1), tx_hash(0xb2));
    let (one, half) = (ETH, ETH / 2);
    let t1 = T0 + 12;
    let mut txs = String::from(TXS_HEAD);
    txs += &tx_row(&w1, 100, T0, 0, SEED, WH_BRIDGE_ETH, one);
    txs += &tx_row(&w2, 101, t1, 0, SEED, WH_BRIDGE_ETH, half);
    let mut traces = String::from(TRACES_HEAD);
    traces += &format!("100,{T0},{w1},0,{SEED},{WH_BRIDGE_ETH},{one},call,call,,1\n");
    traces += &format!("101,{t1},{w2},0,{SEED},{WH_BRIDGE_ETH},{half},call,call,,1\n");
    let sender = padded(WH_BRIDGE_ETH);
    let mut logs = String::from(LOGS_HEAD);
    let to_payee = published_data(7, &transfer_payload(100_000_000, PAYEE, 23));
    logs += &log_row(3, &w1, (100, T0, 0), WH_CORE_ETH, &to_payee, &[PUBLISHED.into(), sender.clone()]);
    let not_the_bridge = published_data(7, &transfer_payload(1, OTHER, 23));
    logs += &log_row(4, &w1, (100, T0, 0), WH_CORE_ETH, &not_the_bridge, &[PUBLISHED.into(), padded(OTHER)]);
    let to_payee2 = published_data(8, &transfer_payload(50_000_000, PAYEE2, 23));
    logs += &log_row(5, &w2, (101, t1, 0), WH_CORE_ETH, &to_payee2, &[PUBLISHED.into(), sender]);
    write_files(dir, &[("transactions.csv", txs), ("traces.csv", traces), ("logs.csv", logs)])
}

/// `TransferRedeemed`'s topics for a message of Ethereum's token bridge.
fn redeemed_topics(sequence: u128) -> Vec<String> {
    vec![REDEEMED.into(), format!("0x{}", word(2)), padded(WH_BRIDGE_ETH), format!("0x{}", word(sequence))]
}

/// Arbitrum: the token bridge is funded (f0), then redeems sequence 6
/// (r0, paying `OTHER`: no deposit here), 7 (r1, 0.999 ETH to `PAYEE`) and
/// 8 twice (r2, r3, 0.25 ETH each to `PAYEE2`).
fn wormhole_arb_files(dir: &Path) -> Vec<PathBuf> {
    let (f0, r0, r1, r2, r3) = (tx_hash(0xf0), tx_hash(0xc0), tx_hash(0xc1), tx_hash(0xc2), tx_hash(0xc3));
    let (block, time) = (9000, T0 + 1200);
    let paid = [(&r0, OTHER, ETH / 10), (&r1, PAYEE, 999 * ETH / 1000), (&r2, PAYEE2, ETH / 4), (&r3, PAYEE2, ETH / 4)];
    let mut txs = String::from(TXS_HEAD);
    txs += &tx_row(&f0, block - 1, time - 1, 0, OTHER, WH_BRIDGE_ARB, 5 * ETH);
    let mut traces = String::from(TRACES_HEAD);
    traces += &format!("{},{},{f0},0,{OTHER},{WH_BRIDGE_ARB},{},call,call,,1\n", block - 1, time - 1, 5 * ETH);
    let mut logs = String::from(LOGS_HEAD);
    for (i, ((tx, to, value), seq)) in paid.into_iter().zip([6, 7, 8, 8]).enumerate() {
        let i = i as u32;
        txs += &tx_row(tx, block, time, i, RELAYER, WH_BRIDGE_ARB, 0);
        traces += &format!("{block},{time},{tx},{i},{RELAYER},{WH_BRIDGE_ARB},0,call,call,,1\n");
        traces += &format!("{block},{time},{tx},{i},{WH_BRIDGE_ARB},{to},{value},call,call,0,1\n");
        logs += &log_row(10 + i, tx, (block, time, i), WH_BRIDGE_ARB, "0x", &redeemed_topics(seq));
    }
    write_files(dir, &[("transactions.csv", txs), ("traces.csv", traces), ("logs.csv", logs)])
}

#[test]
fn wormhole_eth_to_arbitrum_matched_by_sequence_under_each_policy() {
    let t = tempfile::tempdir().unwrap();
    let (e, b) = (t.path().join("eth"), t.path().join("arb"));
    ingest_ok(&e, "ethereum", &wormhole_eth_files(&t.path().join("eth-in")));
    ingest_ok(&b, "arbitrum", &wormhole_arb_files(&t.path().join("arb-in")));
    // The core's message from another sender is not kept; the token
    // bridge's are, with their sender topic then their data.
    let (logs, memos) = logs_and_memos(&e);
    assert_eq!(logs.iter().map(|l| (l.1, l.3)).collect::<Vec<_>>(), [(3, Some(Kind::WormholeMessage)), (5, Some(Kind::WormholeMessage))]);
    assert_eq!(&memos[0].2[..32], &hex::decode(&padded(WH_BRIDGE_ETH)[2..]).unwrap()[..]);
    assert_eq!(memos[0].2.len(), 32 + 5 * 32 + 160);
    let (logs, memos) = logs_and_memos(&b);
    assert_eq!(logs.len(), 4);
    assert!(logs.iter().all(|l| l.2 == WH_BRIDGE_ARB && l.3 == Some(Kind::WormholeRedeemed)));
    assert!(memos.iter().all(|m| m.2.len() == 96));
    export_round_trip(t.path(), &e, "ethereum");
    export_round_trip(t.path(), &b, "arbitrum");

    let r = trace(&[&e, &b], "haircut");
    let by = &r["totals_by_asset"];
    assert!(by.as_object().unwrap().values().all(conserved), "{by:#}");
    let (eth, arb) = (&by["ethereum:ETH"], &by["arbitrum:ETH"]);
    // w1 (sequence 7) is followed to r1; w2 (sequence 8, redeemed twice) stays with the bridge.
    assert_eq!(n(&eth["converted_out"]), ETH, "{by:#}");
    assert_eq!(n(&eth["destinations"]), ETH / 2);
    assert_eq!(n(&arb["converted_in"]), 999 * ETH / 1000);
    let conv = r["conversions"].as_array().unwrap();
    assert_eq!(conv.len(), 1, "{conv:#?}");
    let c = &conv[0];
    assert_eq!((c["chain"].as_str(), c["to_chain"].as_str()), (Some("ethereum"), Some("arbitrum")));
    assert_eq!((c["tx"].as_str(), c["to_tx"].as_str()), (Some(tx_hash(0xb1).as_str()), Some(tx_hash(0xc1).as_str())));
    assert_eq!((c["payer"].as_str(), c["payee"].as_str()), (Some(SEED), Some(PAYEE)));
    assert_eq!((n(&c["taint_in"]), n(&c["taint_out"])), (ETH, 999 * ETH / 1000));
    let dormant = r["dormant"].as_array().unwrap();
    assert!(dormant.iter().any(|h| h["address"] == PAYEE && h["chain"] == "arbitrum"), "{dormant:#?}");
    assert!(dormant.iter().all(|h| h["address"] != PAYEE2 && h["address"] != OTHER), "nothing reached the other payees");
    // Several redemptions of one sequence: not followed, held by the bridge.
    let dest = r["destinations"].as_array().unwrap().iter().find(|d| d["address"] == WH_BRIDGE_ETH).cloned().expect("bridge destination");
    assert_eq!((dest["category"].as_str(), n(&dest["amount"])), (Some("bridge"), ETH / 2));
    assert_eq!(dest["entity"].as_str(), Some("Wormhole"), "{dest:#}");
    let unf = r["unfollowed"].as_array().unwrap();
    assert_eq!((unf.len(), unf[0]["status"].as_str(), unf[0]["kind"].as_str()), (1, Some("several-payouts"), Some("bridge")), "{unf:#?}");
    assert_eq!(unf[0]["tx"].as_str(), Some(tx_hash(0xb2).as_str()));

    // FIFO: the whole 1 ETH crosses as one tainted lot; poison: all of b.
    let f = trace(&[&e, &b], "fifo");
    assert!(f["totals_by_asset"].as_object().unwrap().values().all(conserved), "{:#}", f["totals_by_asset"]);
    assert_eq!(n(&f["totals_by_asset"]["arbitrum:ETH"]["converted_in"]), 999 * ETH / 1000);
    let p = trace(&[&e, &b], "poison");
    assert_eq!(n(&p["conversions"][0]["taint_out"]), 999 * ETH / 1000);

    let rows = conversions(&[&e, &b]);
    assert_eq!(rows.len(), 2, "{rows:#?}");
    assert_eq!(
        (rows[0]["status"].as_str(), rows[0]["to_tx"].as_str(), rows[0]["payee"].as_str()),
        (Some("followable"), Some(tx_hash(0xc1).as_str()), Some(PAYEE))
    );
    assert_eq!((rows[1]["status"].as_str(), rows[1]["to_tx"].as_str()), (Some("several-payouts"), None));
    assert!(rows.iter().all(|r| r["bridge"] == "wormhole"));
    // Ethereum alone: no redemption in the data.
    let rows = conversions(&[&e]);
    assert!(rows.iter().all(|r| r["status"] == "no-payout"), "{rows:#?}");
}

// ---------------------------------------------------------------------
// Ronin v1: a deposit on Ethereum, its Ronin side not loadable.

#[test]
fn a_ronin_deposit_is_listed_as_no_payout() {
    let t = tempfile::tempdir().unwrap();
    let (d1, w1) = (tx_hash(0x91), tx_hash(0x92));
    let two = 2 * ETH;
    let mut txs = String::from(TXS_HEAD);
    txs += &tx_row(&d1, 100, T0, 0, SEED, RONIN_GATEWAY, two);
    txs += &tx_row(&w1, 101, T0 + 12, 0, RELAYER, RONIN_GATEWAY, 0);
    let mut traces = String::from(TRACES_HEAD);
    traces += &format!("100,{T0},{d1},0,{SEED},{RONIN_GATEWAY},{two},call,call,,1\n");
    traces += &format!("101,{},{w1},0,{RELAYER},{RONIN_GATEWAY},0,call,call,,1\n", T0 + 12);
    traces += &format!("101,{},{w1},0,{RONIN_GATEWAY},{USER},{ETH},call,call,0,1\n", T0 + 12);
    let sidechain_weth = "0x9999999999999999999999999999999999999999";
    let deposited = format!("0x{}{}{}", &padded(sidechain_weth)[2..], word(20), word(two));
    let withdrew = format!("0x{}", word(ETH));
    let mut logs = String::from(LOGS_HEAD);
    let dep_topics = [RONIN_DEPOSITED.to_string(), format!("0x{}", word(42)), padded(SEED), padded(WETH)];
    logs += &log_row(0, &d1, (100, T0, 0), RONIN_GATEWAY, &deposited, &dep_topics);
    let wd_topics = [RONIN_WITHDREW.to_string(), format!("0x{}", word(9)), padded(USER), padded(WETH)];
    logs += &log_row(0, &w1, (101, T0 + 12, 0), RONIN_GATEWAY, &withdrew, &wd_topics);
    // The same events from another contract are not kept.
    logs += &log_row(1, &w1, (101, T0 + 12, 0), OTHER, &withdrew, &wd_topics);
    let files = write_files(&t.path().join("in"), &[("transactions.csv", txs), ("traces.csv", traces), ("logs.csv", logs)]);
    let e = t.path().join("eth");
    ingest_ok(&e, "ethereum", &files);
    let (logs, memos) = logs_and_memos(&e);
    assert_eq!(
        logs,
        vec![
            (d1.clone(), 0, RONIN_GATEWAY.to_string(), Some(Kind::RoninDeposit)),
            (w1.clone(), 0, RONIN_GATEWAY.to_string(), Some(Kind::RoninWithdrawal)),
        ]
    );
    let topics_then_data = |topics: &[String], data: &str| {
        let mut b: Vec<u8> = topics[1..].iter().flat_map(|t| hex::decode(&t[2..]).unwrap()).collect();
        b.extend(hex::decode(&data[2..]).unwrap());
        b
    };
    assert_eq!(memos, vec![(d1.clone(), 0, topics_then_data(&dep_topics, &deposited)), (w1, 0, topics_then_data(&wd_topics, &withdrew))]);
    export_round_trip(t.path(), &e, "ethereum");

    let rows = conversions(&[&e]);
    assert_eq!(rows.len(), 1, "{rows:#?}");
    let r = &rows[0];
    assert_eq!((r["kind"].as_str(), r["status"].as_str(), r["tx"].as_str()), (Some("bridge"), Some("no-payout"), Some(d1.as_str())));
    assert_eq!(r["bridge"].as_str(), Some("ronin"));
    assert_eq!((r["payer"].as_str(), r["venues"][0].as_str()), (Some(SEED), Some(RONIN_GATEWAY)));
    assert_eq!((r["asset_in"].as_str(), r["value_in"].as_str(), r["to_tx"].as_str()), (Some("ETH"), Some(two.to_string().as_str()), None));
    // Traced, the deposit stays with the gateway.
    let tr = trace(&[&e], "haircut");
    let dest = tr["destinations"].as_array().unwrap().iter().find(|d| d["address"] == RONIN_GATEWAY).cloned().expect("gateway");
    assert_eq!((dest["category"].as_str(), dest["entity"].as_str(), n(&dest["amount"])), (Some("bridge"), Some("Ronin Bridge"), two));
}

// ---------------------------------------------------------------------
// Recognition: each bridge's events count only from its contracts.

#[test]
fn bridge_events_count_only_from_their_contracts() {
    use chaintrace::convert::topics::{
        AVALANCHE_BRIDGE_TOKENS, AVALANCHE_BRIDGE_WALLETS, RECOGNISED, RONIN_GATEWAYS, WORMHOLE, padded as pad, recognise, recognise_log,
        wormhole,
    };
    use chaintrace::model::Chain;
    let topic = |t: &str| -> [u8; 32] { hex::decode(&t[2..]).unwrap().try_into().unwrap() };
    let addr = |a: &str| -> [u8; 20] { hex::decode(&a[2..]).unwrap().try_into().unwrap() };
    // New kinds follow the older codes, which keep their meaning.
    let kinds = [Kind::AvalancheMint, Kind::WormholeMessage, Kind::WormholeRedeemed, Kind::RoninDeposit, Kind::RoninWithdrawal];
    assert_eq!(kinds.map(Kind::code), [11, 12, 13, 14, 15]);
    assert_eq!(Kind::ThorTransferOut.code(), 10);
    for r in RECOGNISED {
        assert_eq!(Kind::from_code(r.kind.code()), Some(r.kind));
    }
    let other = addr(OTHER);
    assert_eq!(recognise(&topic(MINT), &addr(USDC_E)), Some(Kind::AvalancheMint));
    assert!(AVALANCHE_BRIDGE_TOKENS.iter().all(|t| recognise(&topic(MINT), t) == Some(Kind::AvalancheMint)));
    assert_eq!(recognise(&topic(MINT), &other), None);
    assert_eq!(AVALANCHE_BRIDGE_WALLETS[0], addr(AB_WALLET));
    // Every chain's core, with its own token bridge as sender.
    for w in WORMHOLE {
        let topics = [topic(PUBLISHED), pad(&w.token_bridge)];
        assert_eq!(recognise_log(&topics, &w.core), Some(Kind::WormholeMessage), "{:?}", w.chain);
        assert_eq!(recognise_log(&[topic(PUBLISHED), pad(&other)], &w.core), None);
        assert_eq!(recognise(&topic(REDEEMED), &w.token_bridge), Some(Kind::WormholeRedeemed));
    }
    assert_eq!(recognise(&topic(PUBLISHED), &other), None);
    assert_eq!(recognise(&topic(REDEEMED), &other), None);
    assert_eq!(recognise_log(&[topic(PUBLISHED)], &addr(WH_CORE_ETH)), None, "no sender topic");
    let ids: Vec<(Chain, u16)> = WORMHOLE.iter().map(|w| (w.chain, w.id)).collect();
    assert_eq!(
        ids,
        [
            (Chain::Ethereum, 2),
            (Chain::Bsc, 4),
            (Chain::Polygon, 5),
            (Chain::Avalanche, 6),
            (Chain::Arbitrum, 23),
            (Chain::Optimism, 24),
            (Chain::Base, 30)
        ]
    );
    assert_eq!(wormhole(Chain::Arbitrum).unwrap().token_bridge, addr(WH_BRIDGE_ARB));
    assert!(wormhole(Chain::Bitcoin).is_none());
    assert_eq!(RONIN_GATEWAYS, [addr(RONIN_GATEWAY)]);
    assert_eq!(recognise(&topic(RONIN_DEPOSITED), &addr(RONIN_GATEWAY)), Some(Kind::RoninDeposit));
    assert_eq!(recognise(&topic(RONIN_WITHDREW), &addr(RONIN_GATEWAY)), Some(Kind::RoninWithdrawal));
    assert_eq!((recognise(&topic(RONIN_DEPOSITED), &other), recognise(&topic(RONIN_WITHDREW), &other)), (None, None));
}

// ---------------------------------------------------------------------
// Screening across the Wormhole transfer (TRACING.md §4 with §7).

/// `screen` over the given stores with `extra` options: status, the JSON
/// answer (when it is JSON) and standard error.
fn screen(stores: &[&Path], addresses: &Path, extra: &[&str]) -> (i32, Value, String, String) {
    let o = screen_hack(stores, addresses, extra);
    (o.code, serde_json::from_str(&o.stdout).unwrap_or(Value::Null), o.stdout, o.stderr)
}

#[test]
fn screening_carries_exposure_across_a_wormhole_transfer() {
    let t = tempfile::tempdir().unwrap();
    let (e, b) = (t.path().join("eth"), t.path().join("arb"));
    ingest_ok(&e, "ethereum", &wormhole_eth_files(&t.path().join("eth-in")));
    ingest_ok(&b, "arbitrum", &wormhole_arb_files(&t.path().join("arb-in")));
    let labels = t.path().join("labels.csv");
    std::fs::write(&labels, format!("address,category\n{SEED},hack\n")).unwrap();
    let o = run(&["labels", "--store", e.to_str().unwrap(), "import", labels.to_str().unwrap()]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let addresses = t.path().join("addresses.txt");
    std::fs::write(&addresses, format!("{PAYEE}\n{PAYEE2}\n{WH_BRIDGE_ETH}\n")).unwrap();

    let (code, a, _, err) = screen(&[&e, &b], &addresses, &["--follow", "bridges"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("built the exposure index"), "{err}");
    let rs = a["results"].as_array().unwrap();
    let at: Vec<(&str, &str, &str)> =
        rs.iter().map(|r| (r["address"].as_str().unwrap(), r["chain"].as_str().unwrap(), r["asset"].as_str().unwrap())).collect();
    assert_eq!(
        at,
        [
            (PAYEE, "ethereum", "ETH"),
            (PAYEE, "arbitrum", "ETH"),
            (PAYEE2, "ethereum", "ETH"),
            (PAYEE2, "arbitrum", "ETH"),
            (WH_BRIDGE_ETH, "ethereum", "ETH"),
            (WH_BRIDGE_ETH, "arbitrum", "ETH")
        ],
        "one result per address and store, in input then store order"
    );
    assert_eq!(rs[0]["activity"], false);
    // w1 crossed: y = x * b / a = 0.999 ETH, straight from the source.
    let x = &rs[1]["exposure"][0];
    assert_eq!(
        (x["category"].as_str(), n(&x["amount"]), n(&x["direct"]), x["hops"].as_u64()),
        (Some("hack"), 999 * ETH / 1000, 999 * ETH / 1000, Some(1)),
        "{x:#}"
    );
    assert_eq!(n(&rs[1]["received"]), 999 * ETH / 1000);
    let path = x["path"].as_array().unwrap();
    let steps: Vec<(&str, &str, &str, &str)> = path
        .iter()
        .map(|s| (s["chain"].as_str().unwrap(), s["tx"].as_str().unwrap(), s["from"].as_str().unwrap(), s["to"].as_str().unwrap()))
        .collect();
    let (w1, r1) = (tx_hash(0xb1), tx_hash(0xc1));
    assert_eq!(steps, [("ethereum", w1.as_str(), SEED, WH_BRIDGE_ETH), ("arbitrum", r1.as_str(), WH_BRIDGE_ARB, PAYEE)], "{path:#?}");
    // w2 was redeemed twice: not followed, an ordinary arrival at the bridge.
    assert!(rs[3]["exposure"].as_array().unwrap().is_empty(), "{:#}", rs[3]);
    assert_eq!(n(&rs[3]["received"]), ETH / 2);
    assert_eq!(n(&rs[4]["exposure"][0]["amount"]), ETH / 2, "{:#}", rs[4]);

    // Asked again: the indexes are read, not built, and say the same.
    let (code, again, _, err) = screen(&[&e, &b], &addresses, &["--follow", "bridges"]);
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("built"), "{err}");
    assert_eq!(again, a);

    // Without --follow each store alone: nothing crosses.
    let (code, plain, _, err) = screen(&[&e, &b], &addresses, &[]);
    assert_eq!(code, 0, "{err}");
    let rs = plain["results"].as_array().unwrap();
    assert_eq!(rs.len(), 6);
    assert!(rs[1]["exposure"].as_array().unwrap().is_empty());
    assert_eq!(n(&rs[4]["exposure"][0]["amount"]), ETH + ETH / 2);
    assert_eq!(rs[4]["exposure"][0]["path"][0]["chain"], "ethereum");
    // One store: the answer as before, with or without --follow.
    let (_, _, one, _) = screen(&[&e], &addresses, &[]);
    let (code, _, one_follow, err) = screen(&[&e], &addresses, &["--follow", "bridges"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(one_follow, one);
    assert!(!one.contains("\"chain\""), "{one}");

    // CSV rows name their chain and asset; --fail-above gates on any of them.
    let (code, _, csv, _) = screen(&[&e, &b], &addresses, &["--follow", "bridges", "--format", "csv", "--fail-above", "low"]);
    assert_eq!(code, 3);
    let mut lines = csv.lines();
    assert!(lines.next().unwrap().ends_with(",path,chain,asset"), "{csv}");
    assert!(csv.contains(&format!("{PAYEE},true,{},", 999 * ETH / 1000)) && csv.contains(",arbitrum,ETH\n"), "{csv}");

    // Screening is per asset: swaps are a usage error; --asset names its chain.
    let (code, _, _, err) = screen(&[&e, &b], &addresses, &["--follow", "swaps,bridges"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("not swaps"), "{err}");
    let (code, _, _, err) = screen(&[&e, &b], &addresses, &["--asset", "ETH"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("CHAIN:ASSET"), "{err}");
    let (code, _, _, err) = screen(&[&e, &b], &addresses, &["--asset", "optimism:ETH"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("no store of chain"), "{err}");
    let (code, _, _, err) = screen(&[&e, &b], &addresses, &["--asset", "arbitrum:ETH", "--follow", "bridges"]);
    assert_eq!(code, 0, "{err}");
    let (code, _, _, err) = screen(&[&e, &b, &e], &addresses, &[]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("both ethereum stores"), "{err}");
}
