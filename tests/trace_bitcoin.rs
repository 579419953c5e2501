//! The UTXO model on the real block 702,861, checked by hand against the
//! block's transactions.
//!
//! Transaction 2e84dd76… (index 428) spends two outputs created earlier in the
//! same block: f5bad016…:1 (1,352,486 sat) and 2125175b…:1 (1,202,731 sat),
//! 2,555,217 sat in all. It pays 1,567,153 sat to 3HVFVLgX… and 986,067 sat to
//! 1PurX695…; the fee is 2,555,217 - 2,553,220 = 1,997 sat. Seeding the
//! outpoint f5bad016…:1 taints T = 1,352,486 sat:
//! - haircut: floor(1,567,153 * T / 2,555,217) = 829,499 and
//!   floor(986,067 * T / 2,555,217) = 521,928; the fee takes the rest, 1,059;
//! - FIFO: the tainted input comes first, so all of T lands on output 0;
//! - poison: both outputs and the fee are wholly tainted.

mod common;
use common::*;
use serde_json::Value;

const SEED: &str = "f5bad016fd6449766c157115141c58fed06358cd725ed1f374d267bc076bb673:1";
const OUT0: &str = "3HVFVLgXG72tdgfXW6aW5jiJoCBQkQWmTk";
const OUT1: &str = "1PurX695YXo34kusLYietMts3M5NQaa8wT";

fn block_store(dir: &std::path::Path) -> std::path::PathBuf {
    let d = |f: &str| data(&format!("bitcoin-mainnet-block-702861/{f}"));
    let st = dir.join("s");
    let o = ingest(&st, "bitcoin", "etl", &[], &[&d("transactions.csv"), &d("inputs.csv"), &d("outputs.csv")]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    st
}

fn trace(st: &std::path::Path, policy: &str, extra: &[&str]) -> Value {
    let mut a = vec!["trace", "--store", st.to_str().unwrap(), "--policy", policy, "--seed", SEED, "--format", "json"];
    a.extend_from_slice(extra);
    let o = run(&a);
    assert_eq!(o.code, 0, "{}", o.stderr);
    serde_json::from_str(&o.stdout).unwrap()
}

fn holder(r: &Value, list: &str, addr: &str) -> Option<String> {
    r[list].as_array().unwrap().iter().find(|x| x["address"] == addr).map(|x| x["amount"].as_str().unwrap().to_string())
}

#[test]
fn one_output_traced_by_hand() {
    let t = tempfile::tempdir().unwrap();
    let st = block_store(t.path());
    let h = trace(&st, "haircut", &[]);
    assert_eq!(h["seeded"], "1352486");
    assert_eq!(holder(&h, "dormant", OUT0).as_deref(), Some("829499"));
    assert_eq!(holder(&h, "dormant", OUT1).as_deref(), Some("521928"));
    assert_eq!(h["totals"]["fees"], "1059");
    assert_eq!(h["totals"]["dormant"], "1351427");
    let f = trace(&st, "fifo", &[]);
    assert_eq!(holder(&f, "dormant", OUT0).as_deref(), Some("1352486"));
    assert_eq!(holder(&f, "dormant", OUT1), None);
    assert_eq!(f["totals"]["fees"], "0");
    let p = trace(&st, "poison", &[]);
    assert_eq!(holder(&p, "dormant", OUT0).as_deref(), Some("1567153"));
    assert_eq!(holder(&p, "dormant", OUT1).as_deref(), Some("986067"));
    assert_eq!(p["totals"]["fees"], "1997");
    for r in [&h, &f, &p] {
        assert!(r["dormant"].as_array().unwrap().iter().all(|d| d["hops"] == 1));
    }
}

#[test]
fn a_labelled_output_absorbs_with_evidence() {
    let t = tempfile::tempdir().unwrap();
    let st = block_store(t.path());
    let lf = t.path().join("labels.csv");
    std::fs::write(&lf, format!("address,category,label\n{OUT0},exchange,Example Exchange\n")).unwrap();
    assert_eq!(run(&["labels", "--store", st.to_str().unwrap(), "import", lf.to_str().unwrap()]).code, 0);
    let h = trace(&st, "haircut", &["--stop-at", "exchange"]);
    let d = &h["destinations"][0];
    assert_eq!(d["address"], OUT0);
    assert_eq!(d["amount"], "829499");
    assert_eq!(d["first_block"], 702861);
    let path = d["paths"][0].as_array().unwrap();
    assert_eq!(path.len(), 2, "the seed output, then the output that paid the exchange");
    assert_eq!(path[0]["tx"], SEED.split(':').next().unwrap());
    assert_eq!(path[1]["tx"], "2e84dd76e415e2efee63aed1048b4d3441fe5b099244acf1091504332b1e8851");
    assert_eq!(path[1]["from"], path[0]["to"]);
    assert_eq!(path[1]["taint"], "829499");
    let n = |k: &str| h["totals"][k].as_str().unwrap().parse::<u128>().unwrap();
    assert_eq!(h["seeded"].as_str().unwrap().parse::<u128>().unwrap(), n("destinations") + n("dormant") + n("horizon") + n("fees"));
}

/// `--follow swaps` traces account-model stores alone: on this block, in
/// one process, across processes, and with clusters, a clear refusal.
#[test]
fn follow_swaps_refuses_a_bitcoin_store() {
    let t = tempfile::tempdir().unwrap();
    let st = block_store(t.path());
    let s = st.to_str().unwrap();
    for extra in [&[][..], &["--processes", "2"][..], &["--cluster"][..]] {
        let mut a = vec!["trace", "--store", s, "--policy", "haircut", "--seed", SEED, "--follow", "swaps"];
        a.extend_from_slice(extra);
        let o = run(&a);
        assert_eq!(o.code, 1, "{extra:?}: {}", o.stderr);
        assert!(o.stderr.contains("--follow swaps needs an account-model store (Ethereum)"), "{extra:?}: {}", o.stderr);
    }
}
