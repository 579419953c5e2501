//! Hand-computed cases from TRACING.md §2, one rule each.

mod common;
use common::*;
use serde_json::Value;
use std::path::Path;

const S: &str = "0x5eed000000000000000000000000000000000001";
const A: &str = "0xaaaa000000000000000000000000000000000002";
const B: &str = "0xbbbb000000000000000000000000000000000003";
const C: &str = "0xcccc000000000000000000000000000000000004";
const D: &str = "0xdddd000000000000000000000000000000000005";
const E: &str = "0xeeee000000000000000000000000000000000006";
const X: &str = "0x0e00000000000000000000000000000000000007";

/// A store from `(from, to, value)` rows, one block each, in order.
fn store(dir: &Path, rows: &[(&str, &str, u64)]) -> std::path::PathBuf {
    let mut s = String::from("block_number,from_address,to_address,value\n");
    for (i, (a, b, v)) in rows.iter().enumerate() {
        s += &format!("{},{a},{b},{v}\n", 100 + i);
    }
    store_from(dir, "transfers", &s)
}

/// A store from one file of the given format.
fn store_from(dir: &Path, format: &str, text: &str) -> std::path::PathBuf {
    let f = dir.join("input.csv");
    std::fs::write(&f, text).unwrap();
    let st = dir.join("s");
    let o = ingest(&st, "ethereum", format, &[], &[&f]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    st
}

fn labels(st: &Path, rows: &str) {
    let f = st.parent().unwrap().join("labels.csv");
    std::fs::write(&f, format!("address,category,label\n{rows}")).unwrap();
    let o = run(&["labels", "--store", st.to_str().unwrap(), "import", f.to_str().unwrap()]);
    assert_eq!(o.code, 0, "{}", o.stderr);
}

fn trace(st: &Path, policy: &str, extra: &[&str]) -> Value {
    let mut a = vec!["trace", "--store", st.to_str().unwrap(), "--policy", policy, "--format", "json"];
    a.extend_from_slice(extra);
    let o = run(&a);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let sparse: Value = serde_json::from_str(&o.stdout).unwrap();
    // Every hand case also holds the two shapes of the sweep to each other.
    a.extend_from_slice(&["--engine", "full"]);
    let o = run(&a);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let full: Value = serde_json::from_str(&o.stdout).unwrap();
    assert_eq!(sparse, full, "sparse and full sweeps differ");
    sparse
}

fn amount_of(list: &Value, addr: &str) -> Option<String> {
    list.as_array().unwrap().iter().find(|r| r["address"] == addr).map(|r| r["amount"].as_str().unwrap().to_string())
}

fn conserved(r: &Value) {
    let n = |k: &str| r["totals"][k].as_str().unwrap().parse::<u128>().unwrap();
    let seeded: u128 = r["seeded"].as_str().unwrap().parse().unwrap();
    assert_eq!(seeded, n("destinations") + n("dormant") + n("horizon") + n("fees"), "{r:#}");
}

/// Shortfall: an address that sends more than it was seen to receive is
/// credited the difference, tainted at a seed, clean elsewhere; haircut then
/// takes floor(a * t / b) and the remainder stays with the sender.
#[test]
fn haircut_with_shortfall_crediting() {
    let t = tempfile::tempdir().unwrap();
    let st = store(t.path(), &[(S, B, 10), (C, B, 5), (B, D, 6)]);
    let r = trace(&st, "haircut", &["--seed", S]);
    assert_eq!(r["seeded"], "10");
    assert_eq!(amount_of(&r["dormant"], D).as_deref(), Some("4"), "floor(6 * 10 / 15)");
    assert_eq!(amount_of(&r["dormant"], B).as_deref(), Some("6"));
    assert_eq!(r["totals"]["unknown_origin"], "10", "the seed's shortfall only: C held no taint");
    assert_eq!(r["totals"]["held_by_seeds"], "0");
    conserved(&r);
}

/// FIFO: lots leave in arrival order; unknown-origin funds are older than every lot.
#[test]
fn fifo_lot_order() {
    let t = tempfile::tempdir().unwrap();
    // B gets 5 clean, then 10 tainted; sends 6 (5 clean + 1 tainted), then 9 (tainted).
    let st = store(t.path(), &[(C, B, 5), (S, B, 10), (B, D, 6), (B, E, 9)]);
    let r = trace(&st, "fifo", &["--seed", S]);
    assert_eq!(amount_of(&r["dormant"], D).as_deref(), Some("1"));
    assert_eq!(amount_of(&r["dormant"], E).as_deref(), Some("9"));
    assert_eq!(amount_of(&r["dormant"], B), None);
    conserved(&r);
    // The shortfall lot goes to the front: B holds [10 tainted] and sends 14,
    // so 4 unknown-origin units are credited before it: [4 clean][10 tainted].
    let t2 = tempfile::tempdir().unwrap();
    let st = store(t2.path(), &[(S, B, 10), (B, D, 14), (B, E, 1)]);
    let r = trace(&st, "fifo", &["--seed", S]);
    assert_eq!(amount_of(&r["dormant"], D).as_deref(), Some("10"));
    assert_eq!(amount_of(&r["dormant"], E), None, "B's last unit is clean");
    // 10 at the seed (it sent with nothing seen) + 4 at B, which held taint.
    assert_eq!(r["totals"]["unknown_origin"], "14");
    conserved(&r);
}

/// Stops absorb; what a stop sends later carries no taint.
#[test]
fn stops_absorb() {
    let t = tempfile::tempdir().unwrap();
    let st = store(t.path(), &[(S, A, 10), (A, X, 4), (X, E, 4)]);
    labels(&st, &format!("{X},Exchange,Binance 14\n"));
    for policy in ["haircut", "fifo", "poison"] {
        let r = trace(&st, policy, &["--seed", S, "--stop-at", "exchange,mixer"]);
        let d = &r["destinations"][0];
        assert_eq!(d["address"], X);
        assert_eq!(d["category"], "exchange");
        assert_eq!(d["label"], "Binance 14");
        assert_eq!(d["amount"], "4");
        assert_eq!(d["hops"], 2);
        assert_eq!(amount_of(&r["dormant"], E), None, "{policy}: nothing leaves a stop tainted");
        if policy != "poison" {
            assert_eq!(amount_of(&r["dormant"], A).as_deref(), Some("6"));
            conserved(&r);
        }
        // The evidence path: S -> A -> X, keys increasing, taint on every step.
        let path = &d["paths"][0];
        assert_eq!(path[0]["from"], S);
        assert_eq!(path[1]["to"], X);
        assert_eq!(path[1]["taint"], "4");
    }
    // Without --stop-at the exchange is an ordinary address.
    let r = trace(&st, "haircut", &["--seed", S]);
    assert_eq!(r["destinations"].as_array().unwrap().len(), 0);
    assert_eq!(amount_of(&r["dormant"], E).as_deref(), Some("4"));
}

/// Horizon: an address first reached at hop N absorbs from then on.
#[test]
fn horizon_cuts_at_max_hops() {
    let t = tempfile::tempdir().unwrap();
    let st = store(t.path(), &[(S, A, 10), (A, B, 10), (B, C, 10), (A, B, 0)]);
    let r = trace(&st, "haircut", &["--seed", S, "--max-hops", "2"]);
    assert_eq!(amount_of(&r["horizon"], B).as_deref(), Some("10"));
    assert_eq!(r["horizon"][0]["hops"], 2);
    assert_eq!(amount_of(&r["dormant"], C), None, "nothing passes the horizon");
    assert_eq!(amount_of(&r["dormant"], A), None);
    conserved(&r);
    let o = run(&["trace", "--store", st.to_str().unwrap(), "--policy", "haircut", "--seed", S, "--max-hops", "0"]);
    assert_eq!(o.code, 1, "--max-hops 0 is a usage error");
}

/// Self-transfers move no taint but prove the balance; zero-value transfers
/// do nothing at all.
#[test]
fn self_and_zero_value_transfers() {
    let t = tempfile::tempdir().unwrap();
    let st = store(t.path(), &[(S, A, 10), (B, B, 7), (A, C, 0), (A, A, 3)]);
    let r = trace(&st, "haircut", &["--seed", S]);
    assert_eq!(amount_of(&r["dormant"], A).as_deref(), Some("10"));
    assert_eq!(amount_of(&r["dormant"], C), None, "a zero-value event reaches nobody");
    assert_eq!(amount_of(&r["dormant"], B), None);
    conserved(&r);
    let p = trace(&st, "poison", &["--seed", S]);
    assert_eq!(amount_of(&p["dormant"], C), None);
}

/// A seed transaction delivers its whole value tainted at hop 0, even from a
/// clean sender; a seed not in the data is a warning.
#[test]
fn seed_transaction() {
    let t = tempfile::tempdir().unwrap();
    let h1 = format!("0x{}", "11".repeat(32));
    let h2 = format!("0x{}", "22".repeat(32));
    let text = format!("block_number,transaction_hash,from_address,to_address,value\n100,{h1},{A},{B},10\n101,{h2},{B},{C},4\n");
    let st = store_from(t.path(), "transfers", &text);
    let missing = format!("0x{}", "33".repeat(32));
    let o =
        run(&["trace", "--store", st.to_str().unwrap(), "--policy", "haircut", "--seed-tx", &h1, "--seed", &missing, "--format", "json"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.stderr.contains("not in the data"), "{}", o.stderr);
    let r: Value = serde_json::from_str(&o.stdout).unwrap();
    assert_eq!(r["seeded"], "10");
    assert_eq!(r["seed_txs"][0], h1);
    assert_eq!(amount_of(&r["dormant"], B).as_deref(), Some("6"));
    assert_eq!(r["dormant"].as_array().unwrap().iter().find(|d| d["address"] == B).unwrap()["hops"], 0);
    assert_eq!(amount_of(&r["dormant"], C).as_deref(), Some("4"));
    conserved(&r);
}

/// Fees are an event to the fee sink; failed transactions move nothing but
/// still pay their fee.
#[test]
fn fees_and_failed_transactions() {
    let t = tempfile::tempdir().unwrap();
    let h = |b: u8| format!("0x{}", format!("{b:02x}").repeat(32));
    let mut s =
        String::from("hash,block_number,transaction_index,from_address,to_address,value,gas_price,receipt_gas_used,receipt_status\n");
    s += &format!("{},100,0,{S},{A},1000000,10,21000,1\n", h(1));
    s += &format!("{},101,0,{A},{B},400000,10,21000,0\n", h(2));
    s += &format!("{},102,0,{A},{C},500000,10,21000,1\n", h(3));
    let st = store_from(t.path(), "etl", &s);
    let r = trace(&st, "haircut", &["--seed", S]);
    assert_eq!(r["fees_modelled"], true);
    // S pays its own fee tainted (a seed): 210000. A: got 1,000,000 tainted; the failed
    // transfer moves nothing but its fee 210000 leaves tainted; then 500000 to C and its fee.
    assert_eq!(amount_of(&r["dormant"], B), None, "a failed transfer moves nothing");
    assert_eq!(amount_of(&r["dormant"], C).as_deref(), Some("500000"));
    assert_eq!(r["totals"]["fees"], "630000");
    assert_eq!(amount_of(&r["dormant"], A).as_deref(), Some("80000"));
    conserved(&r);
}

/// A label with a validity interval stops only arrivals inside it.
#[test]
fn stop_interval() {
    let t = tempfile::tempdir().unwrap();
    let st = store_from(
        t.path(),
        "transfers",
        &format!("block_time,from_address,to_address,value\n2022-08-01T00:00:00Z,{S},{X},3\n2022-08-09T00:00:00Z,{S},{X},5\n"),
    );
    let lf = t.path().join("l.csv");
    std::fs::write(&lf, format!("address,category,label,valid_from,valid_to\n{X},sanctioned,Tornado,2022-08-08,2025-03-21\n")).unwrap();
    assert_eq!(run(&["labels", "--store", st.to_str().unwrap(), "import", lf.to_str().unwrap()]).code, 0);
    let r = trace(&st, "haircut", &["--seed", S, "--stop-at", "sanctioned"]);
    assert_eq!(amount_of(&r["destinations"], X).as_deref(), Some("5"));
    assert_eq!(amount_of(&r["dormant"], X).as_deref(), Some("3"), "one address can be both");
    conserved(&r);
    assert_eq!(stats(&st)["labels"], 1);
}

/// The README demo on the real Lazarus flows with the bundled labels.
#[test]
fn ronin_exploiter_on_real_flows() {
    let t = tempfile::tempdir().unwrap();
    let st = t.path().join("s");
    let dune = data("dune-lazarus-ofac-flows-dspytdao/lazarus_ofac_eth_transfers.csv");
    assert_eq!(ingest(&st, "ethereum", "transfers", &[], &[&dune]).code, 0);
    let labels = data("labels/ethereum-labels.csv");
    assert_eq!(run(&["labels", "--store", st.to_str().unwrap(), "import", labels.to_str().unwrap()]).code, 0);
    let seed = "0x098b716b8aaf21512996dc57eb0615e2383e2f96";
    let args = ["--seed", seed, "--stop-at", "exchange,mixer,sanctioned"];
    let h = trace(&st, "haircut", &args);
    let f = trace(&st, "fifo", &args);
    let p = trace(&st, "poison", &args);
    conserved(&h);
    conserved(&f);
    // The exploiter sent straight to seven other OFAC-listed Lazarus wallets.
    let dests = h["destinations"].as_array().unwrap();
    assert_eq!(dests.len(), 7);
    assert!(dests.iter().all(|d| d["category"] == "sanctioned" && d["label"] == "LAZARUS GROUP" && d["hops"] == 1));
    assert_eq!(dests[0]["address"], "0x35fb6f6db4fb05e6a4ce86f2c93691425626d4b1");
    assert_eq!(dests[0]["amount"], "33568152000000000000000");
    // Sorted by amount, then address; every path is real and tainted.
    let amounts: Vec<u128> = dests.iter().map(|d| d["amount"].as_str().unwrap().parse().unwrap()).collect();
    assert!(amounts.windows(2).all(|w| w[0] >= w[1]));
    for d in dests {
        for path in d["paths"].as_array().unwrap() {
            assert_eq!(path[0]["from"], seed);
            assert_eq!(path.as_array().unwrap().last().unwrap()["to"], d["address"]);
        }
    }
    // Poison reaches at least what haircut and FIFO taint.
    let keys = |r: &Value| -> std::collections::BTreeSet<String> {
        ["destinations", "dormant", "horizon"]
            .iter()
            .flat_map(|k| r[*k].as_array().unwrap().iter().map(|x| x["address"].as_str().unwrap().to_string()))
            .collect()
    };
    assert!(keys(&h).is_subset(&keys(&p)));
    assert!(keys(&f).is_subset(&keys(&p)));
    // The CSV has one row per destination, dormant and horizon address.
    let o = run(&[
        "trace",
        "--store",
        st.to_str().unwrap(),
        "--policy",
        "haircut",
        "--seed",
        seed,
        "--stop-at",
        "sanctioned",
        "--format",
        "csv",
    ]);
    assert_eq!(o.code, 0);
    assert_eq!(o.stdout.lines().count(), 1 + 7 + h["dormant"].as_array().unwrap().len());
}

/// `--case NAME=SEEDFILE`: each case traced on its own, one report each,
/// identical to tracing it alone.
#[test]
fn cases_in_parallel() {
    let t = tempfile::tempdir().unwrap();
    let st = store(t.path(), &[(S, A, 10), (E, B, 7), (A, C, 4), (B, C, 2)]);
    let f1 = t.path().join("one.txt");
    let f2 = t.path().join("two.txt");
    std::fs::write(&f1, format!("# first theft\n{S}\n")).unwrap();
    std::fs::write(&f2, format!("{E}  # second\n")).unwrap();
    let out = t.path().join("reports");
    let (c1, c2) = (format!("one={}", f1.display()), format!("two={}", f2.display()));
    let o = run(&[
        "trace",
        "--store",
        st.to_str().unwrap(),
        "--policy",
        "haircut",
        "--case",
        &c1,
        "--case",
        &c2,
        "--format",
        "json",
        "--output",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let one: Value = serde_json::from_str(&std::fs::read_to_string(out.join("one.json")).unwrap()).unwrap();
    let two: Value = serde_json::from_str(&std::fs::read_to_string(out.join("two.json")).unwrap()).unwrap();
    assert_eq!(one, trace(&st, "haircut", &["--seed", S]));
    assert_eq!(two, trace(&st, "haircut", &["--seed", E]));
    let o = run(&["trace", "--store", st.to_str().unwrap(), "--policy", "fifo", "--case", &c1, "--case", &c2, "--format", "json"]);
    let both: Value = serde_json::from_str(&o.stdout).unwrap();
    assert_eq!(both["one"], trace(&st, "fifo", &["--seed", S]));
    assert_eq!(both["two"]["seeds"][0], E);
    let o = run(&["trace", "--store", st.to_str().unwrap(), "--policy", "fifo", "--case", &c1, "--seed", S]);
    assert_eq!(o.code, 1, "cases and seeds do not mix");
}

/// Amounts past u128 (ERC-20 values up to 2^256-1): the sweep falls back to
/// wide numbers and stays exact.
#[test]
fn amounts_past_u128() {
    let t = tempfile::tempdir().unwrap();
    let big = "1606938044258990275541962092341162602522202993782792835301376"; // 2^200
    let text = format!("block_number,from_address,to_address,value\n100,{S},{A},{big}\n101,{C},{A},{big}\n102,{A},{B},3\n");
    let st = store_from(t.path(), "transfers", &text);
    let r = trace(&st, "haircut", &["--seed", S]);
    assert_eq!(r["seeded"], big);
    // A holds 2^201 with 2^200 tainted; 3 units leave: floor(3 * 2^200 / 2^201) = 1.
    assert_eq!(amount_of(&r["dormant"], B).as_deref(), Some("1"));
    let rest = "1606938044258990275541962092341162602522202993782792835301375";
    assert_eq!(amount_of(&r["dormant"], A).as_deref(), Some(rest));
    conserved_wide(&r);
}

fn conserved_wide(r: &Value) {
    let n = |v: &Value| v.as_str().unwrap().parse::<ruint::Uint<320, 5>>().unwrap();
    let t = &r["totals"];
    assert_eq!(n(&r["seeded"]), n(&t["destinations"]) + n(&t["dormant"]) + n(&t["horizon"]) + n(&t["fees"]));
}
