#![allow(dead_code, unreachable_pub)]
use std::path::{Path, PathBuf};
use std::process::Command;

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn data(rel: &str) -> PathBuf {
    root().join("datasets").join(rel)
}

pub fn etl(rel: &str) -> PathBuf {
    data(&format!("blockchain-etl-fixtures/ethereum-etl/tests/resources/{rel}"))
}

pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub fn run(args: &[&str]) -> Out {
    run_env(args, &[])
}

/// [`run`] with environment variables set.
pub fn run_env(args: &[&str], env: &[(&str, &str)]) -> Out {
    let o = Command::new(env!("CARGO_BIN_EXE_chaintrace")).args(args).envs(env.iter().copied()).output().expect("run chaintrace");
    Out {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

pub fn ingest(store: &Path, chain: &str, format: &str, extra: &[&str], files: &[&Path]) -> Out {
    ingest_env(store, chain, format, extra, files, &[])
}

/// [`ingest`] with environment variables set.
pub fn ingest_env(store: &Path, chain: &str, format: &str, extra: &[&str], files: &[&Path], env: &[(&str, &str)]) -> Out {
    let mut a: Vec<String> = vec![
        "ingest".into(),
        "--store".into(),
        store.display().to_string(),
        "--chain".into(),
        chain.into(),
        "--format".into(),
        format.into(),
    ];
    a.extend(extra.iter().map(|s| s.to_string()));
    a.extend(files.iter().map(|f| f.display().to_string()));
    let refs: Vec<&str> = a.iter().map(String::as_str).collect();
    run_env(&refs, env)
}

pub fn stats(store: &Path) -> serde_json::Value {
    let o = run(&["stats", "--store", store.to_str().unwrap(), "--format", "json"]);
    assert_eq!(o.code, 0, "stats failed: {}", o.stderr);
    serde_json::from_str(&o.stdout).expect("stats json")
}

/// Every file of a store directory with its bytes, to prove a store unchanged.
pub fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut v = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if !matches!(p.file_name().unwrap().to_str(), Some("LOCK" | "VERIFIED")) {
                // LOCK and the VERIFIED stamp are not the store's contents.
                v.push((p.clone(), std::fs::read(&p).unwrap()));
            }
        }
    }
    v.sort();
    v
}

/// `chaintrace trace --store S --policy P --seed SEED --stop-at STOPS`, then `extra`.
pub fn trace_cmd(store: &Path, policy: &str, seed: &str, stops: &str, extra: &[&str]) -> Out {
    let mut a: Vec<&str> = vec!["trace", "--store", store.to_str().unwrap(), "--policy", policy, "--seed", seed, "--stop-at", stops];
    a.extend_from_slice(extra);
    run(&a)
}

/// A store in `dir/s` of a generic transfers CSV and a blockchain-etl logs
/// CSV (the swap logs), ingested one after the other, with `stops`
/// labelled as exchanges.
pub fn swap_store(dir: &Path, transfers: &str, logs: &str, stops: &[String]) -> chaintrace::store::Store {
    use chaintrace::ingest::{self, Format, Options};
    use chaintrace::model::Chain;
    let (f, l) = (dir.join("t.csv"), dir.join("logs.csv"));
    std::fs::write(&f, transfers).unwrap();
    std::fs::write(&l, logs).unwrap();
    let st = dir.join("s");
    ingest::ingest(&st, &[f], &Options::new(Chain::Ethereum, Format::Transfers)).unwrap();
    ingest::ingest(&st, &[l], &Options::new(Chain::Ethereum, Format::Etl)).unwrap();
    if !stops.is_empty() {
        let labels: Vec<chaintrace::labels::Label> = stops
            .iter()
            .map(|a| chaintrace::labels::Label { address: a.clone(), category: "exchange".into(), ..Default::default() })
            .collect();
        chaintrace::labels::save(&st, &labels).unwrap();
    }
    chaintrace::store::Store::open(&st).unwrap()
}

/// The naive references' FIFO: take `a` from the front of queue `q`
/// (amount, tainted), splitting a lot where `a` ends inside it.
pub fn take_lots(q: &mut Vec<(u128, bool)>, a: u128) -> Vec<(u128, bool)> {
    let mut need = a;
    let mut taken = Vec::new();
    while need > 0 {
        let (amt, tainted) = q[0];
        let m = amt.min(need);
        taken.push((m, tainted));
        need -= m;
        if m == amt {
            q.remove(0);
        } else {
            q[0].0 -= m;
        }
    }
    taken
}

/// A synthetic 32-byte transaction hash: byte `n` repeated, `0x` hex.
pub fn tx_hash(n: u8) -> String {
    format!("0x{}", format!("{n:02x}").repeat(32))
}

/// A 32-byte ABI word of `v`, hex without `0x`.
pub fn word(v: u128) -> String {
    format!("{v:064x}")
}

/// An address as an indexed topic or data word (left-padded to 32 bytes), `0x` hex.
pub fn padded(a: &str) -> String {
    format!("0x{:0>64}", &a[2..])
}
