//! Saved cases (`chaintrace case`, issue 20, ADR 0021) on the real Lazarus
//! sample: a case answers exactly as `trace` with its options, every run
//! keeps the generation, files and version that made it, and `case diff`
//! says what an append changed.

mod common;
use common::*;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

const TRANSFERS: &str = LAZARUS_TRANSFERS;

fn import_labels(s: &Path) {
    ok(&["labels", "--store", s.to_str().unwrap(), "import", data("labels/ethereum-labels.csv").to_str().unwrap()]);
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

/// The Lazarus transfers in two files by time: the rows before `cut` and
/// the rest (each with the header).
fn halves(dir: &Path, cut: usize) -> (PathBuf, PathBuf) {
    let text = std::fs::read_to_string(data(TRANSFERS)).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    let mut rows: Vec<&str> = lines.collect();
    // block_time first, ISO 8601: text order is time order.
    rows.sort();
    let write = |name: &str, rows: &[&str]| {
        let p = dir.join(name);
        std::fs::write(&p, format!("{header}\n{}\n", rows.join("\n"))).unwrap();
        p
    };
    (write("first.csv", &rows[..cut]), write("second.csv", &rows[cut..]))
}

#[test]
fn a_case_answers_as_trace_does_and_keeps_what_made_it() {
    let t = tempfile::tempdir().unwrap();
    let s = t.path().join("s");
    assert_eq!(ingest(&s, "ethereum", "transfers", &[], &[&data(TRANSFERS)]).code, 0);
    import_labels(&s);
    let st = s.to_str().unwrap();
    let question = ["--policy", "haircut", "--seed", LAZARUS, "--stop-at", "exchange,mixer", "--paths", "2"];
    let mut create = vec!["case", "create", "ronin", "--store", st];
    create.extend(question);
    create.extend(["--note", "first look"]);
    ok(&create);

    // The same report as `trace` with the same options, in every text format.
    for format in ["json", "table", "csv"] {
        let mut trace = vec!["trace", "--store", st, "--format", format];
        trace.extend(question);
        assert_eq!(ok(&["case", "run", "ronin", "--store", st, "--format", format]), ok(&trace), "{format}");
    }
    let mut trace = vec!["trace", "--store", st, "--format", "json"];
    trace.extend(question);
    let report = json(&ok(&trace));

    // Each run is saved with the data it answered on and the version.
    let runs: Vec<PathBuf> = (1..=3).map(|r| s.join(format!("cases/ronin/runs/{r:06}.json"))).collect();
    let first: Value = json(&std::fs::read_to_string(&runs[0]).unwrap());
    assert_eq!(first["case"], "ronin");
    assert_eq!(first["run"], 1);
    assert_eq!(first["chaintrace"], env!("CARGO_PKG_VERSION"));
    assert_eq!(first["report"], report, "the saved report is the report");
    let current = std::fs::read_to_string(s.join("CURRENT")).unwrap();
    assert_eq!(first["data"]["generation"].as_str(), current.split_whitespace().next());
    let st0 = stats(&s);
    assert_eq!(first["data"]["events"], st0["events"]);
    assert_eq!(first["data"]["labels"], st0["labels"]);
    assert_eq!(first["data"]["last_time"], st0["last_time"]);
    let files = first["data"]["files"].as_array().unwrap();
    assert_eq!(files.len(), 1);
    assert!(files[0]["path"].as_str().unwrap().ends_with("lazarus_ofac_eth_transfers.csv"));
    assert_eq!(files[0]["content_hash"].as_str().unwrap().len(), 32, "xxh3-128, hex");
    assert_eq!(first["question"]["seeds"], serde_json::json!([LAZARUS]));
    assert_eq!(first["question"]["paths"], 2);
    assert!(runs.iter().all(|r| r.exists()));

    // list, show, notes.
    let listed = json(&ok(&["case", "list", "--store", st, "--format", "json"]));
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(
        (&listed[0]["name"], &listed[0]["runs"], &listed[0]["notes"], &listed[0]["seeds"]),
        (&"ronin".into(), &3.into(), &1.into(), &1.into())
    );
    assert_eq!(listed[0]["last_generation"], first["data"]["generation"]);
    ok(&["case", "note", "ronin", "--store", st, "moved again"]);
    let shown = json(&ok(&["case", "show", "ronin", "--store", st, "--format", "json"]));
    let notes: Vec<&str> = shown["notes"].as_array().unwrap().iter().map(|n| n["text"].as_str().unwrap()).collect();
    assert_eq!(notes, ["first look", "moved again"]);
    assert_eq!(shown["runs"].as_array().unwrap().len(), 3);
    assert_eq!(shown["runs"][0]["destinations"], report["totals"]["destinations"]);
    let table = ok(&["case", "list", "--store", st]);
    assert!(table.lines().nth(1).unwrap().starts_with("ronin"), "{table}");

    // A seed file is read when the case is made: the case stands without it.
    let seeds = t.path().join("seeds.txt");
    std::fs::write(&seeds, format!("# the Ronin exploiter\n{LAZARUS}\n")).unwrap();
    ok(&["case", "create", "from-file", "--store", st, "--policy", "poison", "--seed-file", seeds.to_str().unwrap()]);
    std::fs::remove_file(&seeds).unwrap();
    let poison = ok(&["case", "run", "from-file", "--store", st, "--format", "json"]);
    assert_eq!(poison, ok(&["trace", "--store", st, "--policy", "poison", "--seed", LAZARUS, "--format", "json"]));

    // Refusals, each naming what is wrong, status 1.
    let refused = |args: &[&str], says: &str| {
        let o = run(args);
        assert_eq!(o.code, 1, "{args:?}: {}", o.stderr);
        assert!(o.stderr.contains(says), "{args:?}: {}", o.stderr);
    };
    refused(&create, "case ronin already exists");
    refused(&["case", "run", "nope", "--store", st], "no case nope");
    refused(&["case", "create", "../up", "--store", st, "--policy", "poison", "--seed", LAZARUS], "case name \"../up\"");
    refused(&["case", "create", "none", "--store", st, "--policy", "poison"], "at least one --seed");
    refused(&["case", "diff", "ronin", "--store", st, "--from", "9"], "case ronin has no run 9");
    // Refused before any work: no run is saved for it.
    refused(&["case", "run", "ronin", "--store", st, "--format", "parquet"], "give --output");
    assert!(!s.join("cases/ronin/runs/000004.json").exists());
    let empty = t.path().join("empty");
    refused(&["case", "create", "x", "--store", empty.to_str().unwrap(), "--policy", "poison", "--seed", LAZARUS], "no store here");
    // A refused case leaves nothing behind.
    assert!(!s.join("cases/none").exists() && !s.join("cases/..").join("up").exists());
    // The store is as it was: cases live beside it.
    assert_eq!(stats(&s), st0);
}

/// The rows a report lists, by address: (amount, hops).
fn rows(report: &Value, list: &str) -> std::collections::BTreeMap<String, (String, u64)> {
    report[list]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["address"].as_str().unwrap().to_string(), (r["amount"].as_str().unwrap().to_string(), r["hops"].as_u64().unwrap_or(0))))
        .collect()
}

#[test]
fn a_case_diff_says_what_new_blocks_changed() {
    let t = tempfile::tempdir().unwrap();
    let (first, second) = halves(t.path(), 150);
    let s = t.path().join("s");
    let st = s.to_str().unwrap();
    assert_eq!(ingest(&s, "ethereum", "transfers", &[], &[&first]).code, 0);
    import_labels(&s);
    let question = ["--policy", "haircut", "--seed", LAZARUS, "--stop-at", "exchange,mixer"];
    let mut create = vec!["case", "create", "ronin", "--store", st];
    create.extend(question);
    ok(&create);
    let before = json(&ok(&["case", "run", "ronin", "--store", st, "--format", "json"]));

    // Nothing new: nothing changed.
    let d = json(&ok(&["case", "diff", "ronin", "--store", st, "--format", "json"]));
    assert_eq!((d["rows"].as_array().unwrap().len(), d["totals"].as_array().unwrap().len()), (0, 0), "{d}");
    assert_eq!(d["before"]["run"], 1);
    assert_eq!(d["after"]["run"], Value::Null);
    assert!(ok(&["case", "diff", "ronin", "--store", st]).ends_with("no change\n"));

    // The later blocks arrive.
    assert_eq!(ingest(&s, "ethereum", "transfers", &[], &[&second]).code, 0);
    let mut trace = vec!["trace", "--store", st, "--format", "json"];
    trace.extend(question);
    let after = json(&ok(&trace));
    let d = json(&ok(&["case", "diff", "ronin", "--store", st, "--format", "json"]));
    assert_ne!(d["after"]["events"], d["before"]["events"]);
    // Each change, checked against the two reports.
    let changes = |list: &str, change: &str| -> BTreeSet<String> {
        d["rows"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["list"] == list && r["change"] == change)
            .map(|r| r["address"].as_str().unwrap().to_string())
            .collect()
    };
    let mut some = 0;
    for list in ["destinations", "dormant", "horizon"] {
        let (b, a) = (rows(&before, list), rows(&after, list));
        let new: BTreeSet<String> = a.keys().filter(|k| !b.contains_key(*k)).cloned().collect();
        let gone: BTreeSet<String> = b.keys().filter(|k| !a.contains_key(*k)).cloned().collect();
        let changed: BTreeSet<String> = a.iter().filter(|(k, v)| b.get(*k).is_some_and(|w| w != *v)).map(|(k, _)| k.clone()).collect();
        assert_eq!(changes(list, "new"), new, "{list}");
        assert_eq!(changes(list, "gone"), gone, "{list}");
        assert!(changed.is_subset(&changes(list, "changed")), "{list}");
        some += new.len() + gone.len() + changed.len();
    }
    assert!(some > 0, "the later half of the sample moves the seed's funds on");
    for t in d["totals"].as_array().unwrap() {
        let k = t["total"].as_str().unwrap();
        let total = |r: &Value| if k == "seeded" { r["seeded"].clone() } else { r["totals"][k].clone() };
        assert_eq!((&t["before"], &t["after"]), (&total(&before), &total(&after)), "{k}");
    }
    assert_ne!(before["totals"], after["totals"]);
    assert!(!d["totals"].as_array().unwrap().is_empty());
    let table = ok(&["case", "diff", "ronin", "--store", st]);
    assert!(table.starts_with("case ronin: run 1 ("), "{table}");
    assert_eq!(table.lines().count(), 1 + d["rows"].as_array().unwrap().len() + d["totals"].as_array().unwrap().len(), "{table}");

    // Saved, the new answer is the last run: no change since; and the two
    // runs compare as the answer did.
    assert_eq!(json(&ok(&["case", "run", "ronin", "--store", st, "--format", "json"])), after);
    let since = json(&ok(&["case", "diff", "ronin", "--store", st, "--format", "json"]));
    assert_eq!((since["rows"].as_array().unwrap().len(), since["totals"].as_array().unwrap().len()), (0, 0));
    let saved = json(&ok(&["case", "diff", "ronin", "--store", st, "--from", "1", "--to", "2", "--format", "json"]));
    assert_eq!((&saved["rows"], &saved["totals"]), (&d["rows"], &d["totals"]));
    assert_eq!(saved["after"]["run"], 2);
    // `--to` alone compares with the run before it.
    let to = json(&ok(&["case", "diff", "ronin", "--store", st, "--to", "2", "--format", "json"]));
    assert_eq!((&to["before"]["run"], &to["rows"], &to["totals"]), (&1.into(), &d["rows"], &d["totals"]));
}
