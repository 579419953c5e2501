//! `chaintrace watch` (issue 20, ADR 0021) on the real Lazarus sample, cut
//! into batches by time: every alert is printed once, reaches a webhook on
//! loopback that fails some requests, across restarts and a `kill -9`; the
//! alerts of batches watched one by one are those of the whole data at
//! once; and they add up to what `trace` reports.

mod common;
use common::*;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

const TRANSFERS: &str = LAZARUS_TRANSFERS;

/// The sample's rows in time order, cut into `n` batch files named so that
/// name order is time order.
fn batches(dir: &Path, n: usize) -> Vec<PathBuf> {
    let text = std::fs::read_to_string(data(TRANSFERS)).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    let mut rows: Vec<&str> = lines.collect();
    rows.sort();
    let per = rows.len().div_ceil(n);
    std::fs::create_dir_all(dir).unwrap();
    rows.chunks(per)
        .enumerate()
        .map(|(k, c)| {
            let p = dir.join(format!("batch-{k:03}.csv"));
            std::fs::write(&p, format!("{header}\n{}\n", c.join("\n"))).unwrap();
            p
        })
        .collect()
}

/// A store with the first batch and the labels, and two saved cases.
fn base(s: &Path, first: &Path) {
    assert_eq!(ingest(s, "ethereum", "transfers", &[], &[first]).code, 0);
    let st = s.to_str().unwrap();
    ok(&["labels", "--store", st, "import", data("labels/ethereum-labels.csv").to_str().unwrap()]);
    ok(&["case", "create", "ronin", "--store", st, "--policy", "haircut", "--seed", LAZARUS, "--stop-at", "exchange,mixer,sanctioned"]);
    ok(&["case", "create", "reach", "--store", st, "--policy", "poison", "--seed", LAZARUS, "--max-hops", "3"]);
}

/// What a receiver saw: each request's `webhook-id`, body, and the status it answered.
type Seen = Arc<Mutex<Vec<(String, Value, u16)>>>;

/// An HTTP receiver on loopback that answers `fail(n)` requests (n counts
/// from 0) with 503 and the others with 200.
fn receiver(fail: impl Fn(usize) -> bool + Send + 'static) -> (String, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/alerts", listener.local_addr().unwrap());
    let seen: Seen = Arc::default();
    let log = Arc::clone(&seen);
    std::thread::spawn(move || {
        for (n, stream) in listener.incoming().enumerate() {
            let Ok(stream) = stream else { continue };
            let mut r = BufReader::new(stream);
            let (mut id, mut length, mut line) = (String::new(), 0usize, String::new());
            r.read_line(&mut line).unwrap();
            assert!(line.starts_with("POST /alerts HTTP/1.1"), "{line:?}");
            loop {
                line.clear();
                r.read_line(&mut line).unwrap();
                if line == "\r\n" || line.is_empty() {
                    break;
                }
                let (k, v) = line.split_once(':').unwrap();
                match k.to_ascii_lowercase().as_str() {
                    "webhook-id" => id = v.trim().to_string(),
                    "content-length" => length = v.trim().parse().unwrap(),
                    "content-type" => assert_eq!(v.trim(), "application/json"),
                    _ => {}
                }
            }
            let mut body = vec![0u8; length];
            r.read_exact(&mut body).unwrap();
            let status = if fail(n) { 503 } else { 200 };
            log.lock().unwrap().push((id, serde_json::from_slice(&body).unwrap(), status));
            let mut s = r.into_inner();
            let _ = write!(s, "HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        }
    });
    (url, seen)
}

fn watch_once(s: &Path, incoming: &Path, url: &str) -> Vec<Value> {
    let out = ok(&[
        "watch",
        "--store",
        s.to_str().unwrap(),
        "--incoming",
        incoming.to_str().unwrap(),
        "--format",
        "transfers",
        "--webhook",
        url,
        "--retry-ms",
        "5",
        "--once",
        // A batch a file: each case's sweep is taken up from the last file's end.
        "--max-batch",
        "1",
    ]);
    out.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn log_entries(s: &Path) -> Vec<Value> {
    std::fs::read_to_string(s.join("watch/alerts.log")).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// Ids answered 2xx, with how often.
fn acknowledged(seen: &Seen) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for (id, _, status) in seen.lock().unwrap().iter() {
        if *status == 200 {
            *m.entry(id.clone()).or_default() += 1;
        }
    }
    m
}

#[test]
fn every_alert_is_made_and_delivered_once_across_restarts_and_matches_the_whole_data() {
    let t = tempfile::tempdir().unwrap();
    let files = batches(&t.path().join("batches"), 6);
    let s = t.path().join("s");
    base(&s, &files[0]);
    let incoming = t.path().join("incoming");
    std::fs::create_dir(&incoming).unwrap();
    // Every third request fails: each alert is sent until it is acknowledged.
    let (url, seen) = receiver(|n| n % 3 == 1);

    // Three batches, then a restart with two more; a dot-file and an
    // unfinished `.tmp` are left alone.
    for f in &files[1..4] {
        std::fs::copy(f, incoming.join(f.file_name().unwrap())).unwrap();
    }
    std::fs::write(incoming.join(".hidden.csv"), "not a batch\n").unwrap();
    std::fs::write(incoming.join("batch-999.csv.tmp"), "half a").unwrap();
    let mut alerts = watch_once(&s, &incoming, &url);
    let first_run = alerts.len();
    for f in &files[4..] {
        std::fs::copy(f, incoming.join(f.file_name().unwrap())).unwrap();
    }
    alerts.extend(watch_once(&s, &incoming, &url));
    // A third start finds nothing new: no alert is made or sent again.
    let sent = seen.lock().unwrap().len();
    assert!(watch_once(&s, &incoming, &url).is_empty());
    assert_eq!(seen.lock().unwrap().len(), sent);
    assert!(first_run > 0 && alerts.len() > first_run, "{first_run} then {}", alerts.len());

    // Printed once each, and each acknowledged exactly once, with the
    // printed object as its body.
    let ids: Vec<&str> = alerts.iter().map(|a| a["id"].as_str().unwrap()).collect();
    assert_eq!(ids.iter().collect::<BTreeSet<_>>().len(), ids.len(), "an id printed twice");
    let acks = acknowledged(&seen);
    assert_eq!(acks.keys().map(String::as_str).collect::<BTreeSet<_>>(), ids.iter().copied().collect(), "every alert acknowledged");
    assert!(acks.values().all(|&n| n == 1), "an alert acknowledged twice");
    assert!(seen.lock().unwrap().iter().any(|(_, _, s)| *s == 503), "the receiver refused some");
    for (id, body, _) in seen.lock().unwrap().iter() {
        assert_eq!(body["id"].as_str(), Some(id.as_str()));
        assert!(alerts.contains(body));
    }
    // The log holds each alert once, each file done, each delivery.
    let log = log_entries(&s);
    let logged: Vec<&str> = log.iter().filter_map(|e| e["id"].as_str()).collect();
    assert_eq!(logged.len(), ids.len());
    assert_eq!(log.iter().filter(|e| e.get("done").is_some()).count(), 5);
    assert_eq!(log.iter().filter(|e| e.get("delivered").is_some()).count(), ids.len());

    // Every kind of movement the sample has, with the INTERFACE fields.
    for a in &alerts {
        for k in ["case", "kind", "tx", "block", "time", "from", "to", "asset", "taint", "hops", "category", "label", "id"] {
            assert!(a.get(k).is_some(), "{k} missing from {a}");
        }
        assert!(a["taint"].as_str().unwrap().parse::<u128>().unwrap() > 0 || a["case"] == "reach");
    }
    let kinds: BTreeSet<(&str, &str)> = alerts.iter().map(|a| (a["case"].as_str().unwrap(), a["kind"].as_str().unwrap())).collect();
    assert!(
        kinds.contains(&("ronin", "moved")) && kinds.contains(&("ronin", "arrived")) && kinds.contains(&("reach", "moved")),
        "{kinds:?}"
    );

    // The same alerts as the whole data loaded at once, from the first
    // batch's end on: watching batch by batch skips or answers cases
    // without losing or changing one.
    let whole = t.path().join("whole");
    let refs: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    assert_eq!(ingest(&whole, "ethereum", "transfers", &[], &refs).code, 0);
    ok(&["labels", "--store", whole.to_str().unwrap(), "import", data("labels/ethereum-labels.csv").to_str().unwrap()]);
    let store = chaintrace::store::Store::open(&whole).unwrap();
    let start = stats_events(&files[0], t.path());
    let mut expected = Vec::new();
    for name in ["reach", "ronin"] {
        let case = chaintrace::app::case::load(&s, name).unwrap();
        let (a, _) = chaintrace::app::watch::alerts(&store, name, &case, start).unwrap();
        expected.extend(a.into_iter().map(|a| serde_json::to_value(a).unwrap()));
    }
    let key = |v: &Value| v["id"].as_str().unwrap().to_string();
    let mut got = alerts.clone();
    got.sort_by_key(key);
    expected.sort_by_key(key);
    assert_eq!(got, expected);

    // From the start of the data, the alerts that arrived add up to the
    // trace's destinations, address by address, to the wei.
    let case = chaintrace::app::case::load(&s, "ronin").unwrap();
    let (all, _) = chaintrace::app::watch::alerts(&store, "ronin", &case, 0).unwrap();
    let mut arrived: BTreeMap<String, u128> = BTreeMap::new();
    for a in all.iter().filter(|a| a.kind == chaintrace::app::watch::Kind::Arrived) {
        *arrived.entry(a.to.clone()).or_default() += a.taint.parse::<u128>().unwrap();
    }
    let report: Value = serde_json::from_str(&ok(&[
        "trace",
        "--store",
        whole.to_str().unwrap(),
        "--policy",
        "haircut",
        "--seed",
        LAZARUS,
        "--stop-at",
        "exchange,mixer,sanctioned",
        "--format",
        "json",
    ]))
    .unwrap();
    let destinations: BTreeMap<String, u128> = report["destinations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["category"] != "burn")
        .map(|d| (d["address"].as_str().unwrap().to_string(), d["amount"].as_str().unwrap().parse().unwrap()))
        .collect();
    assert!(!destinations.is_empty());
    assert_eq!(arrived, destinations);
}

/// Events in a store of one file.
fn stats_events(file: &Path, tmp: &Path) -> u64 {
    let s = tmp.join("one");
    assert_eq!(ingest(&s, "ethereum", "transfers", &[], &[file]).code, 0);
    stats(&s)["events"].as_u64().unwrap()
}

#[test]
fn a_killed_watch_loses_no_alert_and_makes_none_twice() {
    let t = tempfile::tempdir().unwrap();
    let files = batches(&t.path().join("batches"), 8);
    let s = t.path().join("s");
    base(&s, &files[0]);
    let incoming = t.path().join("incoming");
    std::fs::create_dir(&incoming).unwrap();
    // Down at first: nothing is acknowledged before the kill.
    let up = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = Arc::clone(&up);
    let (url, seen) = receiver(move |_| !flag.load(std::sync::atomic::Ordering::SeqCst));
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_chaintrace"))
        .args(["watch", "--store", s.to_str().unwrap(), "--incoming", incoming.to_str().unwrap(), "--format", "transfers"])
        .args(["--webhook", &url, "--retry-ms", "5", "--poll-ms", "10"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Files arrive as a producer should write them: aside, then renamed.
    for f in &files[1..] {
        let tmp = incoming.join(format!("{}.tmp", f.file_name().unwrap().to_str().unwrap()));
        std::fs::copy(f, &tmp).unwrap();
        std::fs::rename(&tmp, incoming.join(f.file_name().unwrap())).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(15));
    }
    // Killed once some files are done and requests have failed.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !(s.join("watch/alerts.log").exists()
        && log_entries(&s).iter().filter(|e| e.get("done").is_some()).count() >= 2
        && seen.lock().unwrap().len() >= 3)
    {
        assert!(std::time::Instant::now() < deadline, "watch made no progress");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let mut printed = String::new();
    child.stdout.take().unwrap().read_to_string(&mut printed).unwrap();
    let before: Vec<Value> = printed.lines().map(|l| serde_json::from_str(l).unwrap()).collect();

    up.store(true, std::sync::atomic::Ordering::SeqCst);
    let after = watch_once(&s, &incoming, &url);
    let log = log_entries(&s);
    assert_eq!(log.iter().filter(|e| e.get("done").is_some()).count(), files.len() - 1, "every file finished");
    let logged: Vec<&str> = log.iter().filter_map(|e| e["id"].as_str()).collect();
    let unique: BTreeSet<&str> = logged.iter().copied().collect();
    assert_eq!(unique.len(), logged.len(), "an alert logged twice");
    // Printed at most once: before the kill or after it.
    let printed: Vec<&str> = before.iter().chain(&after).map(|a| a["id"].as_str().unwrap()).collect();
    assert_eq!(printed.iter().collect::<BTreeSet<_>>().len(), printed.len(), "an alert printed twice");
    assert!(printed.iter().all(|id| unique.contains(id)));
    // Every logged alert acknowledged once: nothing was acknowledged before the kill.
    let acks = acknowledged(&seen);
    assert_eq!(acks.keys().map(String::as_str).collect::<BTreeSet<_>>(), unique);
    assert!(acks.values().all(|&n| n == 1));
    assert!(!unique.is_empty());
}

/// A case whose sums pass 128 bits cannot run on: it is answered from
/// the start each batch, without trying to run on again, with the alerts
/// of a sweep of the whole store; a case beside it runs on.
#[test]
fn a_case_past_128_bits_is_answered_from_the_start_and_the_others_run_on() {
    use chaintrace::app::watch::{alerts, answer};
    let t = tempfile::tempdir().unwrap();
    let (h, a, tx) = (TRANSFERS_HEADER, byte_address, numbered_tx);
    const BIG: &str = "340282366920938463463374607431768211456"; // 2^128
    let rows = |r: &[(u64, u32, u8, u8, &str)]| {
        let mut out = format!("{h}\n");
        for &(block, t, from, to, value) in r {
            out += &format!("{block},{},{},{},{value},\n", tx(t), a(from), a(to));
        }
        out
    };
    let parts = [
        rows(&[(1, 1, 9, 1, BIG), (2, 2, 1, 2, BIG), (2, 3, 8, 3, "1000"), (2, 10, 3, 4, "100")]),
        rows(&[(3, 4, 2, 4, "5"), (3, 5, 9, 1, BIG), (3, 6, 3, 5, "400")]),
        rows(&[(4, 7, 1, 6, BIG), (5, 8, 4, 7, "1"), (5, 9, 5, 6, "300")]),
    ];
    let s = t.path().join("s");
    let st = s.to_str().unwrap().to_string();
    let mut kept = [None, None];
    let names = ["big", "small"];
    for (k, part) in parts.iter().enumerate() {
        let f = t.path().join(format!("part{k}.csv"));
        std::fs::write(&f, part).unwrap();
        let start = if k == 0 { 0 } else { chaintrace::store::Store::open(&s).unwrap().len() as u64 };
        assert_eq!(ingest(&s, "ethereum", "transfers", &[], &[&f]).code, 0);
        if k == 0 {
            ok(&["case", "create", "big", "--store", &st, "--policy", "haircut", "--seed", &a(1)]);
            ok(&["case", "create", "small", "--store", &st, "--policy", "haircut", "--seed", &a(3)]);
        }
        let store = chaintrace::store::Store::open(&s).unwrap();
        for (c, name) in names.iter().enumerate() {
            let case = chaintrace::app::case::load(&s, name).unwrap();
            let got = answer(&store, name, &case, start, kept[c].take()).unwrap();
            let (want, _) = alerts(&store, name, &case, start).unwrap();
            let v = |x: &[chaintrace::app::watch::Alert]| x.iter().map(|a| serde_json::to_value(a).unwrap()).collect::<Vec<_>>();
            assert_eq!(v(&got.alerts), v(&want), "{name}, part {k}");
            assert!(!got.alerts.is_empty(), "{name}, part {k}: taint moves");
            let runs_on = got.kept.as_ref().map(|k| k.runs_on());
            match *name {
                "big" => {
                    assert_eq!(runs_on, Some(false), "part {k}: known not to run on");
                    assert!(!got.resumed);
                }
                _ => {
                    assert_eq!(runs_on, Some(true), "part {k}");
                    assert_eq!(got.resumed, k > 0, "part {k}");
                }
            }
            kept[c] = got.kept;
        }
    }
}
