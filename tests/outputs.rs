//! Investigator outputs (issue 7): the trace as a Graphviz graph.

mod common;
use common::*;

/// The Ronin exploiter's flows: seven destinations, each reached straight
/// from the seed, so the graph is the seed, seven boxes and seven edges
/// whose labels carry the exact amounts of the JSON report.
#[test]
fn trace_as_dot() {
    let dir = tempfile::tempdir().unwrap();
    let st = dir.path().join("laz");
    assert_eq!(
        ingest(&st, "ethereum", "transfers", &[], &[&data("dune-lazarus-ofac-flows-dspytdao/lazarus_ofac_eth_transfers.csv")]).code,
        0
    );
    assert_eq!(run(&["labels", "--store", st.to_str().unwrap(), "import", data("labels/ethereum-labels.csv").to_str().unwrap()]).code, 0);
    let args = |format: &str| {
        run(&[
            "trace",
            "--store",
            st.to_str().unwrap(),
            "--policy",
            "haircut",
            "--seed",
            "0x098b716b8aaf21512996dc57eb0615e2383e2f96",
            "--stop-at",
            "exchange,mixer,sanctioned",
            "--format",
            format,
        ])
    };
    let o = args("dot");
    assert_eq!(o.code, 0, "{}", o.stderr);
    let dot = o.stdout;
    assert!(dot.starts_with("digraph trace {"), "{dot}");
    let json: serde_json::Value = serde_json::from_str(&args("json").stdout).unwrap();
    let dests = json["destinations"].as_array().unwrap();
    assert_eq!(dests.len(), 7);
    assert_eq!(dot.matches("shape=box").count(), dests.len());
    assert_eq!(dot.matches("shape=doubleoctagon").count(), 1);
    assert_eq!(dot.matches(" -> ").count(), 7);
    for d in dests {
        let addr = d["address"].as_str().unwrap();
        assert!(dot.contains(&format!("tooltip=\"{addr}\"")), "{addr}");
        let whole = chaintrace::report::whole(d["amount"].as_str().unwrap(), Some(18));
        assert!(dot.contains(&format!("label=\"{whole} ETH")), "{whole}");
    }
    // Graphviz reads it, where installed (.ci/run installs it).
    if std::process::Command::new("dot").arg("-V").output().is_ok() {
        let f = dir.path().join("t.dot");
        std::fs::write(&f, &dot).unwrap();
        let out = std::process::Command::new("dot").args(["-Tsvg", f.to_str().unwrap()]).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert!(String::from_utf8_lossy(&out.stdout).contains("<svg"));
    }
}

fn lazarus(dir: &std::path::Path) -> std::path::PathBuf {
    let st = dir.join("laz");
    assert_eq!(
        ingest(&st, "ethereum", "transfers", &[], &[&data("dune-lazarus-ofac-flows-dspytdao/lazarus_ofac_eth_transfers.csv")]).code,
        0
    );
    assert_eq!(run(&["labels", "--store", st.to_str().unwrap(), "import", data("labels/ethereum-labels.csv").to_str().unwrap()]).code, 0);
    st
}

fn read(path: &std::path::Path) -> polars::prelude::DataFrame {
    use polars::prelude::*;
    ParquetReader::new(std::fs::File::open(path).unwrap()).finish().unwrap()
}

fn strings(df: &polars::prelude::DataFrame, name: &str) -> Vec<Option<String>> {
    df.column(name).unwrap().as_materialized_series().str().unwrap().iter().map(|v| v.map(str::to_string)).collect()
}

/// Parquet tables hold what the JSON report holds, amounts exact.
#[test]
fn trace_and_screen_as_parquet() {
    let dir = tempfile::tempdir().unwrap();
    let st = lazarus(dir.path());
    let s = st.to_str().unwrap();
    let seed = "0x098b716b8aaf21512996dc57eb0615e2383e2f96";
    let base = ["trace", "--store", s, "--policy", "haircut", "--seed", seed, "--stop-at", "sanctioned"];
    let json: serde_json::Value = serde_json::from_str(&run(&[&base[..], &["--format", "json"]].concat()).stdout).unwrap();
    let out = dir.path().join("ronin.parquet");
    let o = run(&[&base[..], &["--format", "parquet", "--output", out.to_str().unwrap()]].concat());
    assert_eq!(o.code, 0, "{}", o.stderr);
    let t = read(&out);
    let n = json["destinations"].as_array().unwrap().len() + json["dormant"].as_array().unwrap().len();
    assert_eq!(t.height(), n);
    let amounts = strings(&t, "amount");
    for (k, d) in json["destinations"].as_array().unwrap().iter().enumerate() {
        assert_eq!(strings(&t, "address")[k].as_deref(), d["address"].as_str());
        assert_eq!(amounts[k].as_deref(), d["amount"].as_str());
    }
    let steps = read(&chaintrace::report::parquet::steps_path(&out));
    let want: usize = json["destinations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["paths"].as_array().unwrap().iter().map(|p| p.as_array().unwrap().len()).sum::<usize>())
        .sum();
    assert_eq!(steps.height(), want);
    assert!(strings(&steps, "from").iter().all(|f| f.as_deref() == Some(seed)));
    // Without a file to write to, Parquet is a usage error.
    assert_eq!(run(&[&base[..], &["--format", "parquet"]].concat()).code, 1);
    // Screening.
    let list = dir.path().join("a.txt");
    std::fs::write(&list, "0xdd6458eb5090832eb88bffc7adf39b0f3cdd6683\n0x1111111111111111111111111111111111111111\n").unwrap();
    let sp = dir.path().join("s.parquet");
    assert_eq!(run(&["screen", "--store", s, "--format", "parquet", "--output", sp.to_str().unwrap(), list.to_str().unwrap()]).code, 0);
    let a = read(&sp);
    assert_eq!(a.height(), 2);
    assert_eq!(strings(&a, "category"), vec![Some("sanctioned".to_string()), None]);
    assert_eq!(strings(&a, "amount")[0].as_deref(), Some("5238100000000000000000"));
}

/// `export` writes the events in the `transfers` columns: ingesting them
/// again gives a store with the same statistics.
#[test]
fn export_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let st = lazarus(dir.path());
    let out = dir.path().join("out");
    let o = run(&["export", "--store", st.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(read(&out.join("events.parquet")).height(), 436);
    assert_eq!(read(&out.join("labels.parquet")).height(), 819);
    let again = dir.path().join("again");
    assert_eq!(ingest(&again, "ethereum", "parquet", &[], &[&out.join("events.parquet")]).code, 0);
    let stats = |p: &std::path::Path| -> serde_json::Value {
        let mut v: serde_json::Value =
            serde_json::from_str(&run(&["stats", "--store", p.to_str().unwrap(), "--format", "json"]).stdout).unwrap();
        v.as_object_mut().unwrap().remove("labels");
        v
    };
    assert_eq!(stats(&st), stats(&again));
}
