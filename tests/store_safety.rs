//! A killed ingest never leaves a half-written store; opening is cheap.

mod common;
use common::*;
use std::process::Command;
use std::time::Duration;

/// SIGKILL an ingest while it parses: the store is the previous one, byte
/// for byte, and the next ingest cleans up and succeeds.
#[test]
fn killed_ingest_leaves_previous_store() {
    let t = tempfile::tempdir().unwrap();
    let s = t.path().join("s");
    let dune = data("dune-lazarus-ofac-flows-dspytdao/lazarus_ofac_eth_transfers.csv");
    // Block-ordered store first: the big file is block-ordered too.
    let small = t.path().join("small.csv");
    let mut w = std::io::BufWriter::new(std::fs::File::create(&small).unwrap());
    chaintrace::synth::write_transactions(&mut w, 1000, 9).unwrap();
    drop(w);
    assert_eq!(ingest(&s, "ethereum", "etl", &[], &[&small]).code, 0);
    let before = snapshot(&s);
    let big = t.path().join("big.csv");
    let mut w = std::io::BufWriter::new(std::fs::File::create(&big).unwrap());
    chaintrace::synth::write_transactions(&mut w, 1_500_000, 3).unwrap();
    drop(w);
    let mut child = Command::new(env!("CARGO_BIN_EXE_chaintrace"))
        .args(["ingest", "--no-progress", "--chain", "ethereum", "--format", "etl", "--store"])
        .arg(&s)
        .arg(&big)
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(150));
    let finished_first = child.try_wait().unwrap().is_some();
    child.kill().ok();
    child.wait().unwrap();
    if !finished_first {
        let after = snapshot(&s);
        // Only a partial generation directory may have appeared beside the live one.
        let live: Vec<_> = after.iter().filter(|(p, _)| before.iter().any(|(q, _)| q == p)).cloned().collect();
        assert_eq!(before, live, "the live generation changed");
        let cur = std::fs::read_to_string(s.join("CURRENT")).unwrap();
        assert_eq!(cur, String::from_utf8(before.iter().find(|(p, _)| p.ends_with("CURRENT")).unwrap().1.clone()).unwrap());
    }
    assert_eq!(stats(&s)["events"], if finished_first { 1_501_000 } else { 1000 });
    // The next ingest works and removes leftovers.
    let o = ingest(&s, "ethereum", "etl", &[], &[&big]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(stats(&s)["events"], 1_501_000);
    let gens = std::fs::read_dir(&s).unwrap().filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().starts_with("gen-")).count();
    assert_eq!(gens, 1);
    let _ = dune;
}

/// A header-only file is valid and adds nothing; Etherscan is Ethereum only.
#[test]
fn header_only_and_chain_checks() {
    let t = tempfile::tempdir().unwrap();
    let s = t.path().join("s");
    let f = t.path().join("empty-rows.csv");
    std::fs::write(&f, "block_number,from_address,to_address,value\n").unwrap();
    let o = ingest(&s, "ethereum", "transfers", &[], &[&f]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(stats(&s)["events"], 0);
    let o = ingest(&t.path().join("b"), "bitcoin", "etherscan", &[], &[&f]);
    assert_eq!(o.code, 1);
    assert!(o.stderr.contains("Ethereum"), "{}", o.stderr);
    // A Bitcoin store refuses Ethereum data.
    let d = |n: &str| data(&format!("bitcoin-mainnet-block-702861/{n}"));
    let btc = t.path().join("btc");
    assert_eq!(ingest(&btc, "bitcoin", "etl", &[], &[&d("transactions.csv"), &d("inputs.csv"), &d("outputs.csv")]).code, 0);
    let dune = data("dune-lazarus-ofac-flows-dspytdao/lazarus_ofac_eth_transfers.csv");
    let o = ingest(&btc, "ethereum", "transfers", &[], &[&dune]);
    assert_eq!(o.code, 1);
    assert!(o.stderr.contains("holds bitcoin data"), "{}", o.stderr);
}
