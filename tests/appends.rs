//! A store built by appends reports what one ingest of the same files does,
//! byte for byte (TRACING.md §8), and compaction changes no report.
//! Appends write one segment each; reaching back before the store's end
//! splices the store from the first block touched; both are checked
//! against a one-shot ingest and a rewrite.

mod common;
use common::*;
use std::path::{Path, PathBuf};

/// Every report a script would read: the three policies' trace reports in
/// JSON and CSV, the store's statistics and a screening of the world's
/// addresses.
fn reports(s: &Path, seed: &str) -> Vec<(String, String)> {
    let st = s.to_str().unwrap();
    let mut out = Vec::new();
    for policy in ["haircut", "poison", "fifo"] {
        for format in ["json", "csv"] {
            let o = run(&["trace", "--store", st, "--policy", policy, "--seed", seed, "--format", format]);
            assert_eq!(o.code, 0, "{policy}: {}", o.stderr);
            out.push((format!("trace {policy} {format}"), o.stdout));
        }
    }
    let o = run(&["stats", "--store", st, "--format", "json"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    out.push(("stats".into(), o.stdout));
    out
}

fn manifest(s: &Path) -> serde_json::Value {
    let cur = std::fs::read_to_string(s.join("CURRENT")).unwrap();
    serde_json::from_slice(&std::fs::read(s.join(cur.split_whitespace().next().unwrap()).join("manifest.json")).unwrap()).unwrap()
}

fn segments(s: &Path) -> usize {
    manifest(s)["segments"].as_array().unwrap().len()
}

fn same(a: &[(String, String)], b: &[(String, String)], what: &str) {
    assert_eq!(a.len(), b.len());
    for ((name, x), (_, y)) in a.iter().zip(b) {
        assert!(x == y, "{what}: {name} differs");
    }
}

/// A generated world cut into parts at block boundaries (`chaintrace-gen
/// world --part`), as new blocks arrive.
fn world_parts(dir: &Path, events: u64, cuts: &[u64]) -> (Vec<Vec<PathBuf>>, PathBuf, String) {
    let params = chaintrace::synth::world::Params::new(events, 5);
    let mut parts = Vec::new();
    let mut exploiter = String::new();
    let mut labels = PathBuf::new();
    for k in 0..cuts.len() - 1 {
        let w = chaintrace::synth::etl::write_world_etl_part(&dir.join(format!("p{k}")), params.clone(), cuts[k]..cuts[k + 1]).unwrap();
        exploiter = w.exploiter.clone();
        labels = w.files[3].clone();
        // Transactions, traces, token transfers and the recognised logs.
        parts.push(vec![w.files[0].clone(), w.files[1].clone(), w.files[2].clone(), w.files[4].clone()]);
    }
    (parts, labels, exploiter)
}

fn ingest_files(s: &Path, files: &[PathBuf]) {
    let refs: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    let o = ingest(s, "ethereum", "etl", &["--no-progress"], &refs);
    assert_eq!(o.code, 0, "{}", o.stderr);
}

fn import_labels(s: &Path, labels: &Path) {
    let o = run(&["labels", "--store", s.to_str().unwrap(), "import", labels.to_str().unwrap()]);
    assert_eq!(o.code, 0, "{}", o.stderr);
}

#[test]
fn appends_report_what_one_ingest_reports() {
    let t = tempfile::tempdir().unwrap();
    let (parts, labels, exploiter) = world_parts(t.path(), 80_000, &[0, 20_000, 45_000, 46_000, u64::MAX]);
    let all: Vec<PathBuf> = parts.iter().flatten().cloned().collect();

    let once = t.path().join("once");
    ingest_files(&once, &all);
    import_labels(&once, &labels);
    assert_eq!(segments(&once), 2, "one ingest, one label import");

    let appended = t.path().join("appended");
    for (k, p) in parts.iter().enumerate() {
        ingest_files(&appended, p);
        assert_eq!(segments(&appended), k + 1, "part {k} was appended, not rewritten");
    }
    import_labels(&appended, &labels);
    let m = manifest(&appended);
    // Each append adds a run of each index, and runs merge by tiers: fewer
    // than one an append.
    for runs in ["addr_runs", "tx_runs"] {
        let n = m[runs].as_array().unwrap().len();
        assert!((1..4).contains(&n), "{runs}: {n}");
    }

    // Old addresses found by a search of the address index per address,
    // not from the table a large append preloads: the same store.
    let searched = t.path().join("searched");
    for p in &parts {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_chaintrace"));
        cmd.args(["ingest", "--no-progress", "--chain", "ethereum", "--format", "etl", "--store"]).arg(&searched).args(p);
        let o = cmd.env("CHAINTRACE_PRELOAD_ADDRESSES", "never").output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    import_labels(&searched, &labels);

    // Each append wrote only its own logs (they sort after the stored ones).
    let logs = logs_and_memos(&once);
    assert!(logs.0.len() > 100, "the world's swaps are logged: {}", logs.0.len());
    assert_eq!(logs_and_memos(&appended), logs);
    let want = reports(&once, &exploiter);
    same(&want, &reports(&searched, &exploiter), "appends without preloading");
    assert!(want[0].1.contains("\"destinations\""), "a real report: {}", &want[0].1[..want[0].1.len().min(400)]);
    same(&want, &reports(&appended, &exploiter), "appends");

    // Every lookup agrees too: the exploiter and every transaction hash.
    let a = chaintrace::store::Store::open(&once).unwrap();
    let b = chaintrace::store::Store::open(&appended).unwrap();
    assert_eq!(a.find_address(&exploiter), b.find_address(&exploiter));
    for id in (0..a.manifest.tx_table as u32).step_by(97) {
        assert_eq!(b.find_tx(a.tx_hash(id)), Some(id));
    }
    for x in (5..a.address_count() as u32).step_by(31) {
        assert_eq!(b.find_address(&a.address_text(x)), Some(x));
    }
    drop((a, b));

    // Compaction merges the segments and their runs; no report changes.
    let o = run(&["compact", "--store", appended.to_str().unwrap(), "--format", "json"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let c: serde_json::Value = serde_json::from_str(&o.stdout).unwrap();
    assert_eq!((c["segments_before"].as_u64(), c["segments_after"].as_u64()), (Some(5), Some(1)));
    assert_eq!(manifest(&appended)["addr_runs"].as_array().unwrap().len(), 1);
    same(&want, &reports(&appended, &exploiter), "after compaction");
    let names: Vec<String> = std::fs::read_dir(&appended)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("seg-"))
        .collect();
    assert_eq!(names.len(), 1, "merged segments are removed: {names:?}");
}

/// Files that reach back to the store's first block splice it from there
/// (everything reloaded), and still give what one ingest of the same files
/// in the same order gives.
#[test]
fn a_part_older_than_the_store_splices_it_from_the_start() {
    let t = tempfile::tempdir().unwrap();
    let (parts, labels, exploiter) = world_parts(t.path(), 40_000, &[0, 15_000, u64::MAX]);
    let once = t.path().join("once");
    let order: Vec<PathBuf> = parts[1].iter().chain(&parts[0]).cloned().collect();
    ingest_files(&once, &order);
    import_labels(&once, &labels);
    let twice = t.path().join("twice");
    ingest_files(&twice, &parts[1]);
    ingest_files(&twice, &parts[0]);
    import_labels(&twice, &labels);
    same(&reports(&once, &exploiter), &reports(&twice, &exploiter), "splice from event 0");
}

/// A traces file loaded after later blocks (rows of transactions the store
/// has, in blocks before its end) splices the store from the first block it
/// touches: the events before stay where they are, and every report, every
/// sender balance and every final balance is what one ingest of the same
/// files in the same order gives, and what a rewrite gives.
#[test]
fn late_rows_splice_from_the_first_block_they_touch() {
    let t = tempfile::tempdir().unwrap();
    let (parts, labels, exploiter) = world_parts(t.path(), 60_000, &[0, 20_000, 40_000, u64::MAX]);
    // Part 1's traces and logs arrive last.
    let steps: Vec<Vec<PathBuf>> = vec![
        parts[0].clone(),
        vec![parts[1][0].clone(), parts[1][2].clone()],
        parts[2].clone(),
        vec![parts[1][1].clone(), parts[1][3].clone()],
    ];
    let once = t.path().join("once");
    ingest_files(&once, &steps.concat());
    import_labels(&once, &labels);
    let spliced = t.path().join("spliced");
    let rewritten = t.path().join("rewritten");
    for (k, step) in steps.iter().enumerate() {
        ingest_files(&spliced, step);
        let refs: Vec<&Path> = step.iter().map(PathBuf::as_path).collect();
        let o = ingest_env(&rewritten, "ethereum", "etl", &["--no-progress"], &refs, &[("CHAINTRACE_REWRITE", "1")]);
        assert_eq!(o.code, 0, "step {k}: {}", o.stderr);
    }
    // The first segment (part 0's events) is still read where it was written.
    let m = manifest(&spliced);
    let first = m["segments"][0]["name"].as_str().unwrap().to_string();
    assert_eq!(first, "seg-000001.seg");
    assert!(m["columns"]["ev_value_lo.u64"][0]["segment"].as_str().unwrap() == first, "{}", m["columns"]["ev_value_lo.u64"]);
    let (x, y, z) = (
        chaintrace::store::Store::open(&once).unwrap(),
        chaintrace::store::Store::open(&spliced).unwrap(),
        chaintrace::store::Store::open(&rewritten).unwrap(),
    );
    y.verify_all().unwrap();
    for (other, what) in [(&y, "spliced"), (&z, "rewritten")] {
        assert_eq!(x.len(), other.len(), "{what}");
        assert_eq!(x.sender_balances(), other.sender_balances(), "{what}");
        let (ex, eo) = (x.events(), other.events());
        assert_eq!(
            (ex.senders(0, ex.len()), ex.receivers(0, ex.len()), ex.value, ex.subs(0, ex.len()), ex.runs),
            (eo.senders(0, eo.len()), eo.receivers(0, eo.len()), eo.value, eo.subs(0, eo.len()), eo.runs),
            "{what}"
        );
        assert!((0..x.len()).all(|i| ex.tx_index(i) == eo.tx_index(i)), "{what}");
        assert_eq!(x.big_values(), other.big_values(), "{what}");
        assert_eq!(x.manifest.fees, other.manifest.fees, "{what}");
        let ids: Vec<u32> = (5..x.address_count() as u32).collect();
        for asset in 0..x.manifest.assets.len() as u32 {
            assert_eq!(x.final_balances(asset, &ids), other.final_balances(asset, &ids), "{what}: asset {asset}");
        }
    }
    drop((x, y, z));
    // The late logs went in among the stored rows, not after them.
    let logs = logs_and_memos(&once);
    assert!(logs.0.len() > 100, "the world's swaps are logged: {}", logs.0.len());
    assert_eq!(logs_and_memos(&spliced), logs, "spliced");
    assert_eq!(logs_and_memos(&rewritten), logs, "rewritten");
    import_labels(&spliced, &labels);
    import_labels(&rewritten, &labels);
    let r = reports(&once, &exploiter);
    same(&r, &reports(&spliced, &exploiter), "spliced");
    same(&r, &reports(&rewritten, &exploiter), "rewritten");
}

/// An ingest says up to where the store's events are as they were
/// (`Summary::unchanged_events`): the old length after an append, all of
/// them when nothing was added, where a splice cut in, 0 for a new store.
/// What works through the events in order (screening, a case's alerts)
/// goes on from there; so the events before it must be exactly the same.
#[test]
fn an_ingest_says_up_to_where_the_events_are_unchanged() {
    use chaintrace::ingest::{Format, Options};
    use chaintrace::model::Chain;
    let t = tempfile::tempdir().unwrap();
    let (parts, _, _) = world_parts(t.path(), 60_000, &[0, 20_000, 40_000, u64::MAX]);
    let s = t.path().join("s");
    let opts = Options::new(Chain::Ethereum, Format::Etl);
    let events = || {
        let st = chaintrace::store::Store::open(&s).unwrap();
        let ev = st.events();
        (0..st.len()).map(|i| (ev.block(i), ev.sender(i), ev.receiver(i), ev.value.get(i), ev.sub(i))).collect::<Vec<_>>()
    };
    let mut before: Vec<_> = Vec::new();
    let mut part0 = 0;
    // Part 1's traces arrive last, and splice the store from part 1's first block.
    let steps: Vec<(Vec<PathBuf>, &str)> = vec![
        (parts[0].clone(), "new"),
        (vec![parts[1][0].clone(), parts[1][2].clone()], "append"),
        (vec![parts[1][0].clone()], "nothing"),
        (parts[2].clone(), "append"),
        (vec![parts[1][1].clone()], "splice"),
    ];
    for (files, what) in steps {
        let got = chaintrace::ingest::ingest(&s, &files, &opts).unwrap();
        let after = events();
        assert_eq!(got.store_events, after.len() as u64);
        let k = got.unchanged_events as usize;
        match what {
            "new" => {
                assert_eq!(k, 0);
                part0 = after.len();
            }
            "append" => assert_eq!((k, after.len() > before.len()), (before.len(), true)),
            "nothing" => assert_eq!((k, after.len()), (before.len(), before.len())),
            _ => assert!(k >= part0 && k < before.len(), "a splice from part 1: {k} of {} (part 0: {part0})", before.len()),
        }
        assert_eq!(after[..k], before[..k], "{what}: the events before {k} are as they were");
        if what == "splice" {
            assert_ne!(after[k..], before[k..], "the splice changed what follows");
        }
        before = after;
    }
}

/// `compact --lookups` merges the runs of every lookup structure into one
/// and changes no report; appends after it still report what one ingest
/// does.
#[test]
fn lookup_compaction_merges_runs_and_changes_no_report() {
    let t = tempfile::tempdir().unwrap();
    let (parts, labels, exploiter) = world_parts(t.path(), 40_000, &[0, 10_000, 20_000, 30_000, u64::MAX]);
    let once = t.path().join("once");
    ingest_files(&once, &parts.concat());
    import_labels(&once, &labels);
    let parted = t.path().join("parted");
    for p in &parts[..3] {
        ingest_files(&parted, p);
    }
    let runs = |s: &Path| {
        let m = manifest(s);
        ["addr_runs", "tx_runs", "balance_runs"].map(|k| m[k].as_array().unwrap().len())
    };
    assert_ne!(runs(&parted), [1, 1, 1], "runs to merge");
    let o = run(&["compact", "--store", parted.to_str().unwrap(), "--lookups", "--format", "json"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(runs(&parted), [1, 1, 1]);
    // Nothing left to merge the second time.
    let o = run(&["compact", "--store", parted.to_str().unwrap(), "--lookups"]);
    assert!(o.code == 0 && o.stdout.starts_with("nothing to merge"), "{}", o.stdout);
    ingest_files(&parted, &parts[3]);
    import_labels(&parted, &labels);
    chaintrace::store::Store::open(&parted).unwrap().verify_all().unwrap();
    same(&reports(&once, &exploiter), &reports(&parted, &exploiter), "lookups compacted");
}

/// Tiered compaction keeps a store built by many small appends at a few
/// segments, with reports unchanged.
#[test]
fn many_small_appends_stay_few_segments() {
    let t = tempfile::tempdir().unwrap();
    let cuts: Vec<u64> = (0..=30).map(|k| k * 1_000).chain([u64::MAX]).collect();
    let (parts, labels, exploiter) = world_parts(t.path(), 31_000, &cuts);
    let once = t.path().join("once");
    ingest_files(&once, &parts.iter().flatten().cloned().collect::<Vec<_>>());
    import_labels(&once, &labels);
    let many = t.path().join("many");
    let mut most = 0;
    for p in &parts {
        ingest_files(&many, p);
        most = most.max(segments(&many));
    }
    assert!(most <= 13, "at most MAX_SEGMENTS + 1 segments: {most}");
    // The verified stamps are one line a live segment, however many writes.
    let stamps = std::fs::read_to_string(many.join("VERIFIED")).unwrap();
    assert_eq!(stamps.lines().count(), segments(&many), "{stamps}");
    import_labels(&many, &labels);
    same(&reports(&once, &exploiter), &reports(&many, &exploiter), "tiered compaction");
}

/// Values past 2^128, overdrafts, self-transfers and a token: the balance
/// columns an append continues equal those of one ingest.
#[test]
fn balances_continue_across_appends() {
    let t = tempfile::tempdir().unwrap();
    let (h, a, tx) = (TRANSFERS_HEADER, byte_address, numbered_tx);
    let token = a(0xee);
    // 2^100 and 2^99: past the bits the narrow columns hold (72 for
    // values, 80 for balances), within 128; 2^75: a big value that is a
    // narrow balance once held.
    const W: &str = "1267650600228229401496703205376";
    const H: &str = "633825300114114700748351602688";
    const M: &str = "37778931862957161709568";
    let first = format!(
        "{h}\n1,{},{},{},100,\n1,{},{},{},5,{token}\n2,{},{},{},340282366920938463463374607431768211456,\n",
        tx(1),
        a(1),
        a(2),
        tx(2),
        a(1),
        a(3),
        tx(3),
        a(4),
        a(5)
    );
    let second = format!(
        "{h}\n3,{},{},{},70,\n3,{},{},{},90,\n4,{},{},{},3,{token}\n4,{},{},{},1,\n5,{},{},{},2,\n6,{},{},{},{W},\n7,{},{},{},{H},\n8,{},{},{},{M},\n9,{},{},{},1,\n",
        tx(4),
        a(2),
        a(6),
        tx(5),
        a(2),
        a(2),
        tx(6),
        a(3),
        a(1),
        tx(7),
        a(5),
        a(2),
        tx(8),
        a(7),
        a(1),
        tx(9),
        a(2),
        a(8),
        tx(10),
        a(8),
        a(9),
        tx(11),
        a(10),
        a(11),
        tx(12),
        a(11),
        a(12)
    );
    let f1 = t.path().join("first.csv");
    let f2 = t.path().join("second.csv");
    std::fs::write(&f1, first).unwrap();
    std::fs::write(&f2, second).unwrap();
    let once = t.path().join("once");
    assert_eq!(ingest(&once, "ethereum", "transfers", &[], &[&f1, &f2]).code, 0);
    let two = t.path().join("two");
    assert_eq!(ingest(&two, "ethereum", "transfers", &[], &[&f1]).code, 0);
    let o = ingest(&two, "ethereum", "transfers", &[], &[&f2]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    // Appended: the new run of each index merged with the first, as small
    // as it (every column of so small a store is a tail under a page, so
    // the first segment's bytes all moved on).
    assert_eq!(manifest(&two)["tx_runs"].as_array().unwrap().len(), 1);
    let (x, y) = (chaintrace::store::Store::open(&once).unwrap(), chaintrace::store::Store::open(&two).unwrap());
    y.verify_all().unwrap();
    assert_eq!(x.sender_balances(), y.sender_balances());
    let (ex, ey) = (x.events(), y.events());
    assert_eq!(
        (ex.senders(0, ex.len()), ex.receivers(0, ex.len()), ex.value, ex.txs(0, ex.len()), ex.runs),
        (ey.senders(0, ey.len()), ey.receivers(0, ey.len()), ey.value, ey.txs(0, ey.len()), ey.runs)
    );
    assert_eq!(x.big_values(), y.big_values());
    assert_eq!(y.big_values().len(), 4, "2^128, 2^100, 2^99 and 2^75");
    let ids: Vec<u32> = (5..x.address_count() as u32).collect();
    for asset in 0..x.manifest.assets.len() as u32 {
        assert_eq!(x.final_balances(asset, &ids), y.final_balances(asset, &ids), "asset {asset}");
    }
    // Address 2 sent 70 of its 100 and then 90 to itself (an overdraft
    // credited as unknown origin), got 1 back and sent 2^100 (another
    // overdraft): it holds nothing; address 1 has 2.
    let id = |n: u8| y.find_address(&a(n)).unwrap();
    assert_eq!(y.final_balances(0, &[id(1), id(2)]), vec![2, 0]);
    // Address 8 held 2^100 before it sent 2^99: a balance past 80 bits, exact.
    let (last, big) = (y.len() - 1, y.len() - 3);
    assert_eq!(y.sender_balances().get(big), u128::MAX, "marked in the narrow column");
    assert_eq!(y.wide_balance(big), 1 << 100);
    assert_eq!(y.value(big).to_string(), H);
    // Address 11 held 2^75, a value too big for its narrow column but a
    // balance that fits one.
    assert_eq!((y.events().value.get(last - 1), y.value(last - 1).to_string()), (u128::MAX, M.to_string()));
    assert_eq!(y.sender_balances().get(last), 1 << 75);
    assert_eq!(y.final_balances(0, &[id(8), id(9)]), vec![1 << 99, 1 << 99]);
    // And a trace through them gives the same report from both stores.
    let trace = |s: &Path| run(&["trace", "--store", s.to_str().unwrap(), "--policy", "haircut", "--seed", &a(2), "--format", "json"]);
    let (t1, t2) = (trace(&once), trace(&two));
    assert_eq!(t1.code, 0, "{}", t1.stderr);
    assert!(t1.stdout == t2.stdout && t1.stdout.contains(H), "{}", t1.stdout);
    // One segment left (every tail moved on): compaction leaves one run of
    // each structure, and nothing reads differently.
    drop((x, y));
    assert_eq!(segments(&two), 1);
    let o = run(&["compact", "--store", two.to_str().unwrap()]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(manifest(&two)["tx_runs"].as_array().unwrap().len(), 1);
    assert_eq!(manifest(&two)["addr_runs"].as_array().unwrap().len(), 1);
    assert_eq!(trace(&two).stdout, t1.stdout);
    // A late row in block 5 splices the appended store from there: the
    // balances at the cut are rebuilt from stored ones across an
    // overdraft (address 2 sends 2^100 holding 1) and a big receipt
    // (address 8), and everything equals one ingest of the three files.
    let late = t.path().join("late.csv");
    std::fs::write(&late, format!("{h}\n5,{},{},{},4,\n5,{},{},{},7,{token}\n", tx(13), a(13), a(2), tx(14), a(3), a(8))).unwrap();
    let three = t.path().join("three");
    assert_eq!(ingest(&three, "ethereum", "transfers", &[], &[&f1, &f2, &late]).code, 0);
    let o = ingest(&two, "ethereum", "transfers", &[], &[&late]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(manifest(&two)["segments"][0]["name"], manifest(&two)["columns"]["ev_value_lo.u64"][0]["segment"], "spliced, not rewritten");
    let (x, y) = (chaintrace::store::Store::open(&three).unwrap(), chaintrace::store::Store::open(&two).unwrap());
    y.verify_all().unwrap();
    assert_eq!(x.sender_balances(), y.sender_balances());
    assert_eq!(x.big_values(), y.big_values());
    let ids: Vec<u32> = (5..x.address_count() as u32).collect();
    for asset in 0..x.manifest.assets.len() as u32 {
        assert_eq!(x.final_balances(asset, &ids), y.final_balances(asset, &ids), "asset {asset}");
    }
    drop((x, y));
    assert_eq!(trace(&two).stdout, trace(&three).stdout);
}

/// Transaction indexes are kept per transaction; events without a hash but
/// with an index, or disagreeing with their transaction, keep theirs too.
#[test]
fn transaction_indexes_survive_per_transaction_storage() {
    let t = tempfile::tempdir().unwrap();
    let a = |n: u8| format!("0x{}", format!("{n:02x}").repeat(20));
    let tx = |n: u32| format!("0x{n:064x}");
    let h = "block_number,transaction_hash,transaction_index,from_address,to_address,value";
    let rows = [
        format!("1,{},4,{},{},1", tx(1), a(1), a(2)),
        format!("1,{},4,{},{},2", tx(1), a(2), a(3)),
        format!("2,,7,{},{},3", a(3), a(4)),
        format!("2,{},9,{},{},4", tx(2), a(4), a(5)),
    ];
    let f1 = t.path().join("a.csv");
    std::fs::write(&f1, format!("{h}\n{}\n{}\n", rows[0], rows[1])).unwrap();
    let f2 = t.path().join("b.csv");
    std::fs::write(&f2, format!("{h}\n{}\n{}\n", rows[2], rows[3])).unwrap();
    let s = t.path().join("s");
    assert_eq!(ingest(&s, "ethereum", "transfers", &[], &[&f1]).code, 0);
    assert_eq!(ingest(&s, "ethereum", "transfers", &[], &[&f2]).code, 0);
    let st = chaintrace::store::Store::open(&s).unwrap();
    let ev = st.events();
    assert_eq!((0..st.len()).map(|i| ev.tx_index(i)).collect::<Vec<_>>(), vec![5, 5, 8, 10]);
    assert_eq!(ev.tx_index_by_tx, &[5, 10]);
    assert_eq!(ev.tx_index_other, &[[2, 8]], "only the event without a transaction");
    drop(st);
    // Indexes past the 16 bits stored per transaction read back exact.
    let f3 = t.path().join("c.csv");
    let big = [format!("3,{},65533,{},{},5", tx(3), a(5), a(6)), format!("3,{},70000,{},{},6", tx(4), a(6), a(7))];
    std::fs::write(&f3, format!("{h}\n{}\n{}\n", big[0], big[1])).unwrap();
    assert_eq!(ingest(&s, "ethereum", "transfers", &[], &[&f3]).code, 0);
    let st = chaintrace::store::Store::open(&s).unwrap();
    let ev = st.events();
    assert_eq!((0..st.len()).map(|i| ev.tx_index(i)).collect::<Vec<_>>(), vec![5, 5, 8, 10, 65534, 70001]);
    assert_eq!(ev.tx_index_by_tx, &[5, 10, 65534, 65535]);
    assert_eq!(ev.tx_index_other, &[[2, 8], [5, 70001]]);
}

/// A manifest's list of loaded files.
fn files_listed(s: &Path) -> serde_json::Value {
    manifest(s)["files"].clone()
}

/// `ingest --memory SIZE`: the store's own output from files too large
/// for the budget, read a window of blocks at a time.
fn ingest_windowed(s: &Path, memory: &str, files: &[PathBuf], env: &[(&str, &str)]) -> Out {
    let refs: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    ingest_env(s, "ethereum", "etl", &["--no-progress", "--memory", memory], &refs, env)
}

/// A world of `events` as one set of files, and the store one pass over
/// them makes (labels imported): `(files, labels, exploiter, store)`.
fn one_pass_world(dir: &Path, events: u64) -> (Vec<PathBuf>, PathBuf, String, PathBuf) {
    let (parts, labels, exploiter) = world_parts(dir, events, &[0, u64::MAX]);
    // Without the logs: windows are of the event files.
    let files = parts[0][..3].to_vec();
    let once = dir.join("once");
    ingest_files(&once, &files);
    import_labels(&once, &labels);
    (files, labels, exploiter, once)
}

#[test]
fn windowed_ingest_reports_what_one_pass_reports() {
    let t = tempfile::tempdir().unwrap();
    let (all, labels, exploiter, once) = one_pass_world(t.path(), 40_000);
    let want = reports(&once, &exploiter);

    let win = t.path().join("win");
    let o = ingest_windowed(&win, "256KiB", &all, &[("CHAINTRACE_TIMING", "1")]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let windows = o.stderr.lines().filter(|l| l.contains("timing: window ")).count();
    assert!(windows >= 5, "{windows} windows:\n{}", o.stderr);
    assert_eq!(files_listed(&win), files_listed(&once), "the files are listed as one pass lists them");
    // What the command said of each file adds up to what one pass says.
    let one_pass =
        ingest(&t.path().join("again"), "ethereum", "etl", &["--no-progress"], &all.iter().map(PathBuf::as_path).collect::<Vec<_>>());
    let said = |s: &str| s.lines().filter(|l| l.contains(" rows as ")).map(str::to_string).collect::<Vec<_>>();
    assert_eq!(said(&o.stderr), said(&one_pass.stderr));
    // A file named twice is read once, as in one pass.
    let twice = [all[0].clone(), all[0].clone(), all[1].clone(), all[2].clone()];
    let (tw, t1) = (t.path().join("twice-windows"), t.path().join("twice-one"));
    let a = ingest_windowed(&tw, "256KiB", &twice, &[]);
    let b = ingest(&t1, "ethereum", "etl", &["--no-progress"], &twice.iter().map(PathBuf::as_path).collect::<Vec<_>>());
    assert_eq!((a.code, b.code), (0, 0), "{}", a.stderr);
    assert_eq!(said(&a.stderr), said(&b.stderr));
    assert_eq!(a.stderr.matches("already loaded").count(), 1, "{}", a.stderr);
    assert_eq!(files_listed(&tw), files_listed(&t1));
    import_labels(&win, &labels);
    same(&want, &reports(&win, &exploiter), "windows");

    // The same files again: already loaded, nothing changes.
    let before = snapshot(&win);
    let o = ingest_windowed(&win, "256KiB", &all, &[]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(o.stderr.matches("already loaded").count(), 3, "{}", o.stderr);
    assert!(snapshot(&win) == before);

    // A file not ordered by block is read whole, with a warning saying so.
    let text = std::fs::read_to_string(&all[2]).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines[1..].reverse();
    let reversed = t.path().join("token_transfers_reversed.csv");
    std::fs::write(&reversed, lines.join("\n") + "\n").unwrap();
    let mixed = t.path().join("mixed");
    let o = ingest_windowed(&mixed, "256KiB", &[all[0].clone(), all[1].clone(), reversed], &[]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.stderr.contains("not read in windows"), "{}", o.stderr);
    import_labels(&mixed, &labels);
    let got = reports(&mixed, &exploiter);
    assert!(got.iter().zip(&want).all(|((n, x), (_, y))| n == "stats" || x == y), "an unordered file gives the same traces");
}

#[test]
fn windowed_ingest_killed_between_windows_goes_on_where_it_stopped() {
    let t = tempfile::tempdir().unwrap();
    let (all, labels, exploiter, once) = one_pass_world(t.path(), 30_000);

    let win = t.path().join("win");
    let o = ingest_windowed(&win, "256KiB", &all, &[("CHAINTRACE_CRASH_AT", "ingest-window")]);
    assert_ne!(o.code, 0, "the crash point stops it");
    // One window is committed: some of every file, each listed as read through a block.
    let held = stats(&win)["events"].as_u64().unwrap();
    assert!(held > 0 && held < stats(&once)["events"].as_u64().unwrap(), "{held}");
    let listed = files_listed(&win);
    assert_eq!(listed.as_array().unwrap().len(), 3);
    assert!(listed.as_array().unwrap().iter().all(|f| f["through_block"].is_u64()), "{listed}");

    let o = ingest_windowed(&win, "256KiB", &all, &[]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(files_listed(&win), files_listed(&once));
    import_labels(&win, &labels);
    same(&reports(&once, &exploiter), &reports(&win, &exploiter), "resumed");
}

#[test]
fn bad_row_in_a_later_window_leaves_the_store_as_it_was() {
    let t = tempfile::tempdir().unwrap();
    let (parts, _, _) = world_parts(t.path(), 30_000, &[0, 10_000, u64::MAX]);
    // The last row of the second part's transactions gets a bad value.
    let text = std::fs::read_to_string(&parts[1][0]).unwrap();
    let header: Vec<&str> = text.lines().next().unwrap().split(',').collect();
    let col = header.iter().position(|h| *h == "value").unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let last = lines.len();
    let mut fields: Vec<String> = lines[last - 1].split(',').map(str::to_string).collect();
    fields[col] = "12x".into();
    lines[last - 1] = fields.join(",");
    let bad = t.path().join("transactions_bad.csv");
    std::fs::write(&bad, lines.join("\n") + "\n").unwrap();
    let files = vec![bad.clone(), parts[1][1].clone(), parts[1][2].clone()];

    // Into a store that holds the first part.
    let s = t.path().join("s");
    ingest_files(&s, &parts[0]);
    let before = snapshot(&s);
    let o = ingest_windowed(&s, "128KiB", &files, &[("CHAINTRACE_TIMING", "1")]);
    assert_eq!(o.code, 1, "{}", o.stderr);
    assert!(o.stderr.contains(&format!("line {last}, field `value`")), "{}", o.stderr);
    assert!(o.stderr.matches("timing: window ").count() >= 2, "windows were committed before the bad row:\n{}", o.stderr);
    assert!(snapshot(&s) == before, "the store is as it was");

    // Into no store: there is still none.
    let fresh = t.path().join("fresh");
    let o = ingest_windowed(&fresh, "128KiB", &files, &[]);
    assert_eq!(o.code, 1, "{}", o.stderr);
    assert!(!fresh.join("CURRENT").exists());
    let left: Vec<String> = std::fs::read_dir(&fresh).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert!(left.iter().all(|n| n == "LOCK"), "{left:?}");
}

/// The real block 702,861 as three blocks (its transactions cut at indices
/// 428 and 1500, later ones numbered 702,862 and 702,863): 17 inputs of
/// the later blocks spend outputs of earlier ones, among them
/// 2e84dd76… (index 428), which spends f5bad016…:1 and 2125175b…:1. The
/// trio format gives inputs without values or addresses, so an append
/// must find the outputs they spend in the store.
/// The real block in three parts, cut at transactions 428 and 1,500.
fn bitcoin_blocks(dir: &Path) -> Vec<Vec<PathBuf>> {
    bitcoin_block_parts(dir, &[0, 428, 1500, usize::MAX])
}

#[test]
fn bitcoin_blocks_append_as_segments_and_report_what_one_ingest_reports() {
    const SEED: &str = "f5bad016fd6449766c157115141c58fed06358cd725ed1f374d267bc076bb673:1";
    let t = tempfile::tempdir().unwrap();
    let blocks = bitcoin_blocks(t.path());
    let btc = |s: &Path, files: &[PathBuf]| {
        let refs: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
        let o = ingest(s, "bitcoin", "etl", &["--no-progress"], &refs);
        assert_eq!(o.code, 0, "{}", o.stderr);
    };
    let one = t.path().join("one");
    btc(&one, &blocks.concat());
    let appended = t.path().join("appended");
    for (k, b) in blocks.iter().enumerate() {
        btc(&appended, b);
        assert_eq!(segments(&appended), k + 1, "block {k} was appended as a segment, not rewritten");
    }
    let (m1, m2) = (manifest(&one), manifest(&appended));
    for key in ["events", "inputs", "tx_table", "address_table", "memos"] {
        assert_eq!(m1[key], m2[key], "{key}");
    }
    // The memos (the data after OP_RETURN) of the three blocks, as one ingest keeps them.
    let memos = |s: &Path| {
        let store = chaintrace::store::Store::open(s).unwrap();
        store.memos().into_iter().map(|m| (store.tx_text(m.tx), m.vout, m.data)).collect::<Vec<_>>()
    };
    assert_eq!(memos(&one).len(), 23);
    assert_eq!(memos(&one), memos(&appended));
    let mut a = reports(&one, SEED);
    let mut b = reports(&appended, SEED);
    let st = |s: &Path| s.to_str().unwrap().to_string();
    for (out, s) in [(&mut a, &one), (&mut b, &appended)] {
        // Clustering reads the inputs; the hand-checked spend's outputs are
        // in the third part of the trace.
        for args in [vec!["cluster", "--store", &st(s), "--format", "json", "stats"], vec!["stats", "--store", &st(s), "--format", "json"]]
        {
            let o = run(&args);
            assert_eq!(o.code, 0, "{}", o.stderr);
            out.push((args.join(" "), o.stdout));
        }
    }
    same(&a, &b, "three Bitcoin blocks appended against one ingest");
    // The spend across the first cut is traced through the appended block:
    // haircut keeps 829,499 sat on 3HVFVLgX… (tests/trace_bitcoin.rs).
    let h: serde_json::Value = serde_json::from_str(&b[0].1).unwrap();
    let on = h["dormant"].as_array().unwrap().iter().find(|x| x["address"] == "3HVFVLgXG72tdgfXW6aW5jiJoCBQkQWmTk").unwrap();
    assert_eq!(on["amount"], "829499");
    // And compaction keeps the per-transaction column whole.
    let o = run(&["compact", "--store", &st(&appended)]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(segments(&appended), 1);
    assert_eq!(memos(&one), memos(&appended), "compaction keeps the memos");
    let mut c = reports(&appended, SEED);
    c.truncate(b.len() - 2);
    b.truncate(b.len() - 2);
    same(&b, &c, "compacted against appended");
}

/// Time-only rows (the Dune export of the Ronin exploiter's transfers has
/// a block time and no block number) make a store ordered by time; new
/// rows after its last time append, rows that reach back splice from the
/// first time they touch, and both report what one ingest does.
#[test]
fn time_ordered_stores_append_and_splice_by_time() {
    const RONIN: &str = "0x098b716b8aaf21512996dc57eb0615e2383e2f96";
    let t = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(data("dune-lazarus-ofac-flows-dspytdao/lazarus_ofac_eth_transfers.csv")).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    // Early and late halves by time, and every fifth row of the late half
    // held back for a third file that reaches back into it.
    let mut parts = vec![format!("{header}\n"); 3];
    for (k, line) in lines.enumerate() {
        let p = if line < "2022-03-31T09:52:41" {
            0
        } else if k % 5 == 0 {
            2
        } else {
            1
        };
        parts[p] += &format!("{line}\n");
    }
    let files: Vec<PathBuf> = parts
        .iter()
        .enumerate()
        .map(|(k, p)| {
            let f = t.path().join(format!("part{k}.csv"));
            std::fs::write(&f, p).unwrap();
            f
        })
        .collect();
    let put = |s: &Path, files: &[PathBuf]| {
        let refs: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
        let o = ingest(s, "ethereum", "transfers", &["--no-progress"], &refs);
        assert_eq!(o.code, 0, "{}", o.stderr);
    };
    let one = t.path().join("one");
    put(&one, &files);
    assert_eq!(manifest(&one)["order_by"], "time");
    let parted = t.path().join("parted");
    for (k, f) in files.iter().enumerate() {
        put(&parted, std::slice::from_ref(f));
        assert_eq!(segments(&parted), k + 1, "part {k} went in as a segment, not a rewrite");
    }
    let m = manifest(&parted);
    assert_eq!(m["events"], manifest(&one)["events"]);
    let held_back = parts[2].lines().count() as u64 - 1;
    assert!(m["segments"][2]["events"].as_u64().unwrap() > held_back, "the third part spliced from inside the second");
    same(&reports(&one, RONIN), &reports(&parted, RONIN), "time-ordered parts against one ingest");
}

/// `watch` runs a case's account sweep on where its last answer left it
/// (ADR 0021): after each append, the sweep run on over the new events
/// finds exactly the tainted events a sweep of the whole store finds from
/// there on, and its outcome at the end is the whole sweep's, under every
/// policy, with and without a horizon.
#[test]
fn a_sweep_run_on_after_each_append_goes_as_one_from_the_start() {
    use chaintrace::trace::{self, Policy, Running, Spec};
    let t = tempfile::tempdir().unwrap();
    let (parts, labels, exploiter) = world_parts(t.path(), 80_000, &[0, 40_000, 55_000, 70_000, 80_000]);
    let s = t.path().join("s");
    // An exchange label on an address the first part lacks and taint
    // reaches later: the sweep that runs on must take its rule up when an
    // append brings the address in.
    let late = {
        let all = t.path().join("all");
        for part in &parts {
            ingest_files(&all, part);
        }
        ingest_files(&s, &parts[0]);
        let known = chaintrace::store::Store::open(&s).unwrap().address_count() as u32;
        let store = chaintrace::store::Store::open(&all).unwrap();
        let seeds = trace::resolve_seeds(&store, std::slice::from_ref(&exploiter), &[]).unwrap();
        let whole = trace::run_account(&store, &Spec::new(Policy::Haircut, 0, seeds.addresses, vec![])).unwrap();
        let ev = store.events();
        let to = whole.tainted.iter().map(|x| trace::EventRow::at_in(&store, &ev, x.event as usize).to).find(|&a| a >= known);
        store.address_text(to.expect("taint reaches an address the first part lacks"))
    };
    let more = t.path().join("late.csv");
    std::fs::write(&more, format!("address,category,label\n{late},exchange,Late exchange\n")).unwrap();
    import_labels(&s, &labels);
    import_labels(&s, &more);
    let cases: Vec<(Policy, Option<u32>)> =
        [Policy::Haircut, Policy::Poison, Policy::Fifo].into_iter().flat_map(|p| [(p, None), (p, Some(2))]).collect();
    let spec_of = |store: &chaintrace::store::Store, policy: Policy, max_hops: Option<u32>| {
        let seeds = trace::resolve_seeds(store, std::slice::from_ref(&exploiter), &[]).unwrap();
        assert!(seeds.missing.is_empty(), "the hack is in the first part");
        let mut spec = Spec::new(policy, 0, seeds.addresses, vec!["exchange".into(), "mixer".into()]);
        spec.max_hops = max_hops;
        spec
    };
    let rows = |v: &[trace::Tainted], from: u64| v.iter().filter(|x| x.event >= from).map(|x| (x.event, x.x, x.hop)).collect::<Vec<_>>();
    let store = chaintrace::store::Store::open(&s).unwrap();
    let mut running: Vec<Running> = cases
        .iter()
        .map(|&(p, h)| {
            let spec = spec_of(&store, p, h);
            let mut r = Running::new(&store, &spec).unwrap();
            let first = r.advance(&store).unwrap();
            assert_eq!(rows(&first, 0), rows(&trace::run_account(&store, &spec).unwrap().tainted, 0), "{p:?} {h:?}: the first advance");
            r
        })
        .collect();
    drop(store);
    let mut moved = 0;
    for part in &parts[1..] {
        let before = chaintrace::store::Store::open(&s).unwrap().len() as u64;
        ingest_files(&s, part);
        let store = chaintrace::store::Store::open(&s).unwrap();
        assert!(store.address_count() > 0);
        for (k, &(policy, max_hops)) in cases.iter().enumerate() {
            assert_eq!(running[k].swept(), before);
            let whole = trace::run_account(&store, &spec_of(&store, policy, max_hops)).unwrap();
            let new = running[k].advance(&store).unwrap();
            assert!(new.iter().all(|x| x.event >= before), "a sweep run on starts where it was left");
            let expected = rows(&whole.tainted, before);
            assert_eq!(rows(&new, 0), expected, "{policy:?} {max_hops:?}");
            moved += expected.len();
        }
    }
    assert!(moved > 100, "the appended parts move taint ({moved} tainted events)");
    let store = chaintrace::store::Store::open(&s).unwrap();
    for (r, &(policy, max_hops)) in running.into_iter().zip(&cases) {
        let whole = trace::run_account(&store, &spec_of(&store, policy, max_hops)).unwrap();
        let end = r.finish(&store).unwrap();
        let what = format!("{policy:?} {max_hops:?}");
        let dests = |o: &trace::Outcome| {
            o.destinations.iter().map(|(&a, d)| (a, d.amount, d.hops, d.first_event, d.label.clone())).collect::<Vec<_>>()
        };
        assert_eq!(dests(&end), dests(&whole), "{what}: destinations");
        assert!(!whole.destinations.is_empty() && !whole.dormant.is_empty(), "{what}: taint reaches stops and rests");
        if max_hops.is_none() && policy != Policy::Fifo {
            assert!(whole.destinations.values().any(|d| d.label == "Late exchange"), "{what}: the late label stops taint");
        }
        assert_eq!(whole.horizon.is_empty(), max_hops.is_none(), "{what}: the horizon cuts taint off");
        assert_eq!(end.dormant, whole.dormant, "{what}: dormant");
        assert_eq!(end.horizon, whole.horizon, "{what}: horizon");
        assert_eq!(
            (end.fees, end.held_by_seeds, end.unknown_origin, end.seeded),
            (whole.fees, whole.held_by_seeds, whole.unknown_origin, whole.seeded),
            "{what}"
        );
        assert_eq!(end.accounted(), whole.accounted(), "{what}: conserved");
    }
}
