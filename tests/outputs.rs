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
        trace_cmd(&st, "haircut", "0x098b716b8aaf21512996dc57eb0615e2383e2f96", "exchange,mixer,sanctioned", &["--format", format])
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
    // Graphviz reads it (.ci/run installs it).
    if have("dot") {
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
    // The taint flow beside them: the JSON's edges, then the rest.
    let flow = read(&chaintrace::report::parquet::flow_path(&out));
    let edges = json["flow"]["edges"].as_array().unwrap();
    assert_eq!(flow.height(), edges.len() + 1);
    let (taints, froms) = (strings(&flow, "taint"), strings(&flow, "from"));
    for (k, e) in edges.iter().enumerate() {
        assert_eq!(taints[k].as_deref(), e["taint"].as_str());
        assert_eq!(froms[k].as_deref(), e["from"].as_str());
    }
    assert_eq!(taints[edges.len()].as_deref(), json["flow"]["others"]["taint"].as_str());
    assert_eq!(froms[edges.len()], None);
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
    let out = st.join("export");
    let o = run(&["export", "--store", st.to_str().unwrap()]);
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

/// Whether a tool is on the PATH. CI sets CHAINTRACE_REQUIRE_TOOLS=1 (it
/// installs Graphviz and Chromium), so there a missing tool fails the test
/// instead of skipping its part.
fn have(tool: &str) -> bool {
    let found = std::process::Command::new(tool).arg("--version").output().is_ok();
    assert!(found || std::env::var_os("CHAINTRACE_REQUIRE_TOOLS").is_none(), "{tool} is required here");
    if !found {
        eprintln!("note: {tool} not installed; that part of the test is skipped");
    }
    found
}

fn chromium(args: &[&str], page: &std::path::Path, profile: &std::path::Path) -> std::process::Output {
    std::process::Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--virtual-time-budget=5000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap()
}

/// One self-contained page: no fetch from anywhere, labels escaped, the
/// library's licence inlined; headless Chromium draws the flow graph.
#[test]
fn trace_as_html() {
    let dir = tempfile::tempdir().unwrap();
    let st = lazarus(dir.path());
    // A hostile label: it must come out as text, never as markup.
    let l = dir.path().join("evil.csv");
    std::fs::write(&l, "address,category,label\n0x35fb6f6db4fb05e6a4ce86f2c93691425626d4b1,exchange,\"<script>alert(1)</script>\"\n")
        .unwrap();
    assert_eq!(run(&["labels", "--store", st.to_str().unwrap(), "import", l.to_str().unwrap()]).code, 0);
    let page = dir.path().join("ronin.html");
    let trace = |stops: &str, out: &std::path::Path| {
        let o = trace_cmd(
            &st,
            "haircut",
            "0x098b716b8aaf21512996dc57eb0615e2383e2f96",
            stops,
            &["--format", "html", "--output", out.to_str().unwrap()],
        );
        assert_eq!(o.code, 0, "{}", o.stderr);
    };
    trace("sanctioned", &page);
    // With only exchanges stopping, the hostile label names a destination.
    let evil = dir.path().join("evil.html");
    trace("exchange", &evil);
    let e = std::fs::read_to_string(&evil).unwrap();
    assert!(!e.contains("<script>alert(1)"), "a label was not escaped");
    assert!(e.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "the label is shown as text");
    assert!(!e.contains("\"label\":\"0x35fb6f…d4b1\\n<script"), "nor raw in the graph's data");
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.starts_with("<!doctype html>"));
    assert!(!html.contains("<script src") && !html.contains("<link"), "the page loads nothing from outside");
    assert!(html.contains("The Cytoscape Consortium") && html.contains("Permission is hereby granted"), "the licence is inlined");
    assert!(html.contains("182161956140000000000000"), "the conservation line in base units");
    assert!(html.contains("https://etherscan.io/address/0x35fb6f6db4fb05e6a4ce86f2c93691425626d4b1"));
    // The taint flow (issue 18): a band for every edge of the JSON's flow,
    // each with its exact amount on hover; amounts rounded and grouped.
    let json = trace_cmd(&st, "haircut", "0x098b716b8aaf21512996dc57eb0615e2383e2f96", "sanctioned", &["--format", "json"]);
    let json: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let edges = json["flow"]["edges"].as_array().unwrap();
    assert!(edges.len() > 7, "the flow shows the fan-out: {} edges", edges.len());
    assert!(html.contains("<svg class=\"sankey\""));
    assert_eq!(html.matches("class=\"band\"").count(), edges.len());
    for e in edges {
        assert!(html.contains(&format!("({} base units)", e["taint"].as_str().unwrap())), "{e}");
    }
    assert!(html.contains("182,161.96 ETH"), "the seeded amount, readable");
    if have("chromium") {
        let profile = dir.path().join("profile");
        let dom = chromium(&["--dump-dom"], &page, &profile);
        let dom = String::from_utf8_lossy(&dom.stdout);
        let body = dom.split("<body").nth(1).and_then(|b| b.split('>').next()).unwrap_or("");
        assert!(body.contains("data-graph-drawn=\"yes\""), "the graph did not draw: {body}");
        assert!(body.contains("data-graph-nodes=\"8\"") && body.contains("data-graph-edges=\"7\""), "{body}");
        // A screenshot to look at (kept under the target directory).
        let shot = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("trace-html.png");
        let o = chromium(&["--window-size=1280,1700", &format!("--screenshot={}", shot.display())], &page, &profile);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert!(std::fs::metadata(&shot).unwrap().len() > 10_000);
    }
}

/// On Bitcoin an outpoint seed is drawn where its paths start, so the
/// graph is connected: source → intermediary → the exchange cluster.
#[test]
fn bitcoin_outpoint_flow_is_connected() {
    let dir = tempfile::tempdir().unwrap();
    let d = |f: &str| data(&format!("bitcoin-mainnet-block-702861/{f}"));
    let st = dir.path().join("b");
    assert_eq!(ingest(&st, "bitcoin", "etl", &[], &[&d("transactions.csv"), &d("inputs_with_addresses.csv"), &d("outputs.csv")]).code, 0);
    let l = dir.path().join("l.csv");
    std::fs::write(&l, "address,category,label\nbc1qn6le92dk9jgcwyqsemllljfscg9tcl8ew3gw7s,exchange,Example Exchange 1\n").unwrap();
    assert_eq!(run(&["labels", "--store", st.to_str().unwrap(), "import", l.to_str().unwrap()]).code, 0);
    let seed = "6f834119c3a92efb309521457ae808e634fd6f8e875414ae0d1b27283bd23b17:1";
    let o = trace_cmd(&st, "haircut", seed, "exchange", &["--cluster", "--format", "dot"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(o.stdout.matches(" shape=").count(), 3, "{}", o.stdout);
    assert_eq!(o.stdout.matches(" -> ").count(), 2);
    assert!(o.stdout.contains("tooltip=\"bc1qg4d47xs37ucqppj6y082w8dp4sfn5n0rlha58t\" shape=doubleoctagon"), "{}", o.stdout);
    let page = dir.path().join("b.html");
    let o = trace_cmd(&st, "haircut", seed, "exchange", &["--cluster", "--format", "html", "--output", page.to_str().unwrap()]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("https://mempool.space/tx/498ec7a333e14baa38d92984719318681f9ac3006d6116a94adf884a5497e6dd"));
}

/// The wide set of `rows` transfers (`chaintrace-gen wide`, every fourth
/// address an exchange) ingested into `dir/wide-store` with its labels:
/// the store and the seed that reaches most of it.
fn wide_store(dir: &std::path::Path, rows: u64, seed: u64) -> (std::path::PathBuf, String) {
    let csv = dir.join("wide");
    std::fs::create_dir_all(&csv).unwrap();
    let made = chaintrace::synth::write_wide(&csv, rows, seed, 4).unwrap();
    let st = dir.join("wide-store");
    assert_eq!(ingest(&st, "ethereum", "etl", &[], &[&csv.join("transactions.csv")]).code, 0);
    assert_eq!(run(&["labels", "--store", st.to_str().unwrap(), "import", csv.join("labels.csv").to_str().unwrap()]).code, 0);
    (st, made.seed)
}

/// Issue 18: by default a report walks the paths of its largest
/// destinations only. `--paths-for N` is the `--paths-for all` report with
/// the paths of every destination after the first N taken out, and says
/// so in `paths_for`; the amounts, hops and first arrivals of the others
/// are all there. On the generated world, every policy, and on the wide
/// set, where taint reaches most addresses.
#[test]
fn paths_for_the_largest_destinations_only() {
    let t = tempfile::tempdir().unwrap();
    let st = t.path().join("world");
    let w = chaintrace::synth::write_world_store(&st, chaintrace::synth::world::Params::new(100_000, 3)).unwrap();
    let (wide_st, wide_seed) = wide_store(t.path(), 40_000, 5);
    for (store, seed, stops) in [(&st, &w.exploiter, "exchange,mixer"), (&wide_st, &wide_seed, "exchange")] {
        for policy in ["poison", "haircut", "fifo"] {
            let report = |extra: &[&str]| -> serde_json::Value {
                let o = trace_cmd(store, policy, seed, stops, &[&["--format", "json"], extra].concat());
                assert_eq!(o.code, 0, "{}", o.stderr);
                serde_json::from_str(&o.stdout).unwrap()
            };
            let all = report(&["--paths-for", "all"]);
            assert!(all.get("paths_for").is_none(), "{policy}: all paths, no limit named");
            let n_dests = all["destinations"].as_array().unwrap().len();
            assert!(n_dests > 5, "{policy}: {n_dests} destinations");
            for n in [0usize, 1, 5, 100] {
                let mut want = all.clone();
                for d in want["destinations"].as_array_mut().unwrap().iter_mut().skip(n) {
                    d["paths"] = serde_json::json!([]);
                }
                want["paths_for"] = serde_json::json!(n);
                let got = if n == 100 { report(&[]) } else { report(&["--paths-for", &n.to_string()]) };
                assert_eq!(got, want, "{policy}, --paths-for {n}");
                let walked = got["destinations"].as_array().unwrap().iter().filter(|d| !d["paths"].as_array().unwrap().is_empty()).count();
                assert_eq!(walked, n.min(n_dests), "{policy}, --paths-for {n}: every destination of the first {n} has a path");
            }
            // No paths asked: no limit to name, and the same flow.
            let none = report(&["--paths", "0"]);
            assert!(none.get("paths_for").is_none());
            assert_eq!(none["flow"], all["flow"], "{policy}: the flow without paths");
            assert!(!all["flow"]["edges"].as_array().unwrap().is_empty(), "{policy}: a flow");
            assert!(report(&["--paths", "0", "--flow-edges", "0"]).get("flow").is_none());
        }
    }
    let o = trace_cmd(&st, "haircut", &w.exploiter, "exchange", &["--paths-for", "some"]);
    assert_eq!(o.code, 1);
    assert!(o.stderr.contains("expected a count of destinations or `all`"), "{}", o.stderr);
}

/// Issue 18: the page of a trace whose taint reaches most of the addresses
/// stays small (tables show the largest rows, the flow its largest edges,
/// the graph the destinations with paths) and Chromium draws it.
#[test]
fn a_wide_trace_as_html_stays_small_and_draws() {
    let t = tempfile::tempdir().unwrap();
    let (st, seed) = wide_store(t.path(), 100_000, 9);
    let page = t.path().join("wide.html");
    let o = trace_cmd(&st, "haircut", &seed, "exchange", &["--format", "html", "--output", page.to_str().unwrap()]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let json = trace_cmd(&st, "haircut", &seed, "exchange", &["--format", "json"]);
    let json: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let dests = json["destinations"].as_array().unwrap().len();
    assert!(dests > 1000, "{dests} destinations");
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.len() < 3_000_000, "a page of {} bytes", html.len());
    assert!(html.contains(&format!("The 1000 largest of {dests} destinations")));
    assert_eq!(html.matches("class=\"band\"").count(), 200);
    assert!(html.matches("<h3>").count() <= 100, "evidence listed for the destinations with paths only");
    if have("chromium") {
        let profile = t.path().join("profile");
        let dom = chromium(&["--dump-dom"], &page, &profile);
        let dom = String::from_utf8_lossy(&dom.stdout);
        let body = dom.split("<body").nth(1).and_then(|b| b.split('>').next()).unwrap_or("");
        assert!(body.contains("data-graph-drawn=\"yes\""), "the graph did not draw: {body}");
        let shot = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("wide-trace-html.png");
        let o = chromium(&["--window-size=1280,1400", &format!("--screenshot={}", shot.display())], &page, &profile);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert!(std::fs::metadata(&shot).unwrap().len() > 10_000);
    }
}
