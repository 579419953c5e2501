//! Checks the application layer makes before it reads any data, exit
//! statuses of INTERFACE.md, and the id limit a store refuses to pass.

mod common;
use common::*;

const DUNE: &str = "dune-lazarus-ofac-flows-dspytdao/lazarus_ofac_eth_transfers.csv";
const RONIN: &str = "0x098b716b8aaf21512996dc57eb0615e2383e2f96";

fn dune_store(dir: &std::path::Path) -> std::path::PathBuf {
    let s = dir.join("s");
    let o = ingest(&s, "ethereum", "transfers", &[], &[&data(DUNE)]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    s
}

/// `--format parquet` without `--output` is refused before the store is
/// even opened: a store that does not exist is not the error reported.
#[test]
fn parquet_without_output_is_refused_before_any_data() {
    let t = tempfile::tempdir().unwrap();
    let missing = t.path().join("no-such-store");
    let o = trace_cmd(&missing, "haircut", RONIN, "exchange", &["--format", "parquet"]);
    assert_eq!(o.code, 1, "{}", o.stderr);
    assert!(o.stderr.contains("--output"), "{}", o.stderr);
    assert!(!o.stderr.contains("not a chaintrace store"), "the store was looked at first: {}", o.stderr);
}

/// Two `--case` of one name would write one report over the other.
#[test]
fn duplicate_case_names_are_refused() {
    let t = tempfile::tempdir().unwrap();
    let s = dune_store(t.path());
    let seeds = t.path().join("seeds.txt");
    std::fs::write(&seeds, format!("{RONIN}\n")).unwrap();
    let case = format!("ronin={}", seeds.display());
    let out = t.path().join("reports");
    let cases = |names: &[&str]| {
        let mut a =
            vec!["trace", "--store", s.to_str().unwrap(), "--policy", "haircut", "--format", "json", "--output", out.to_str().unwrap()];
        for n in names {
            a.extend(["--case", n]);
        }
        run(&a)
    };
    let o = cases(&[&case, &case]);
    assert_eq!(o.code, 1, "{}", o.stderr);
    assert!(o.stderr.contains("given twice"), "{}", o.stderr);
    assert!(!out.exists(), "nothing is written");
    // Two names work and give one report each, the same as one trace alone.
    let other = format!("ronin2={}", seeds.display());
    let o = cases(&[&case, &other]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let a = std::fs::read_to_string(out.join("ronin.json")).unwrap();
    let b = std::fs::read_to_string(out.join("ronin2.json")).unwrap();
    assert_eq!(a, b);
    let alone = trace_cmd(&s, "haircut", RONIN, "", &["--format", "json"]);
    assert_eq!(alone.code, 0, "{}", alone.stderr);
    assert_eq!(a, alone.stdout);
}

/// INTERFACE.md: bad input or usage exits 1.
#[test]
fn usage_errors_exit_1() {
    let t = tempfile::tempdir().unwrap();
    let s = dune_store(t.path());
    let missing = t.path().join("no-such-store");
    for args in [&["list"][..], &["stats"], &["show", RONIN], &["detect-deposits"]] {
        let mut a = vec!["labels", "--store", missing.to_str().unwrap()];
        a.extend_from_slice(args);
        let o = run(&a);
        assert_eq!(o.code, 1, "labels {args:?} on a missing store: {}", o.stderr);
        assert!(o.stderr.contains("not a chaintrace store"), "{}", o.stderr);
    }
    let o = run(&["labels", "--store", s.to_str().unwrap(), "show", "0xnot-an-address"]);
    assert_eq!(o.code, 1, "labels show with a malformed address: {}", o.stderr);
    assert!(o.stderr.contains("0xnot-an-address"), "{}", o.stderr);
    let b = |n: &str| data(&format!("bitcoin-mainnet-block-702861/{n}"));
    let btc = t.path().join("btc");
    let o = ingest(&btc, "bitcoin", "etl", &[], &[&b("transactions.csv"), &b("inputs.csv"), &b("outputs.csv")]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let o = run(&["labels", "--store", btc.to_str().unwrap(), "detect-deposits"]);
    assert_eq!(o.code, 1, "detect-deposits on Bitcoin: {}", o.stderr);
    assert!(o.stderr.contains("Ethereum"), "{}", o.stderr);
}

/// A store that would pass an id limit refuses the ingest with a clear
/// error and is left exactly as it was. The limit is 2^32-1 addresses;
/// `CHAINTRACE_ID_LIMIT` lowers it so a test can reach it.
#[test]
fn id_limit_refuses_and_leaves_the_store() {
    let t = tempfile::tempdir().unwrap();
    let s = t.path().join("s");
    // A transfers file of (block, from, to, value) rows, addresses as one repeated hex digit.
    let transfers = |name: &str, rows: &[(u32, char, char, u32)]| {
        let mut text = String::from("block_number,from_address,to_address,value\n");
        for (b, f, to, v) in rows {
            text += &format!("{b},0x{},0x{},{v}\n", f.to_string().repeat(40), to.to_string().repeat(40));
        }
        let p = t.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let first = transfers("first.csv", &[(1, '1', '2', 5)]);
    assert_eq!(ingest(&s, "ethereum", "transfers", &[], &[&first]).code, 0);
    let before = snapshot(&s);
    let run_capped = |cap: &str, file: &std::path::Path| {
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_chaintrace"))
            .env("CHAINTRACE_ID_LIMIT", cap)
            .args(["ingest", "--no-progress", "--chain", "ethereum", "--format", "transfers", "--store"])
            .arg(&s)
            .arg(file)
            .output()
            .unwrap();
        (o.status.code(), String::from_utf8_lossy(&o.stderr).into_owned())
    };
    // Pseudo addresses take ids 0..5; the two real ones 5 and 6; a cap of 8 holds one more.
    let more = transfers("more.csv", &[(2, '2', '3', 1), (3, '3', '4', 1)]);
    let (code, err) = run_capped("8", &more);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("more than 8 addresses") && err.contains("more.csv"), "{err}");
    assert_eq!(snapshot(&s), before, "the store changed");
    // At the limit, data among addresses already numbered still loads, and
    // a file loaded before is still recognised: only a new id is refused.
    let (code, err) = run_capped("7", &first);
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("already loaded"), "{err}");
    let known = transfers("known.csv", &[(4, '2', '1', 2)]);
    let (code, err) = run_capped("7", &known);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(stats(&s)["events"], 2);
    // Under a cap it fits, the same ingest works.
    let (code, err) = run_capped("9", &more);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(stats(&s)["events"], 4);
}
