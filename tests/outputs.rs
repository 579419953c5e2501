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
