//! A killed ingest or label import never leaves a half-written store; opening is cheap.
//!
//! The writer has named crash points (`src/store/crash.rs`): with
//! `CHAINTRACE_CRASH_AT=NAME` the real binary aborts there (no destructors,
//! no cleanup, as under `kill -9`); with `NAME:wait` it waits there and the
//! test sends SIGKILL. Every crash is checked to have happened at its point,
//! and the store it leaves is checked byte for byte: the previous store for
//! a crash before `CURRENT` is switched, the new one for a crash after, and
//! after the next write exactly what a write that was never killed gives.

mod common;
use common::*;
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::BufRead;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const SIGABRT: i32 = 6;
const SIGKILL: i32 = 9;

/// Where a crash is, as seen from the store: before the switch of `CURRENT`
/// the previous store must be live, after it the new one.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Side {
    Before,
    After,
}

/// How the process dies at the point.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Death {
    /// `std::process::abort` at the point.
    Abort,
    /// The process waits at the point and the test sends SIGKILL.
    Kill,
}

/// The live generation's name.
fn live_gen(dir: &Path) -> String {
    let cur = std::fs::read_to_string(dir.join("CURRENT")).unwrap();
    cur.split_whitespace().next().unwrap().to_string()
}

/// The segment files the live manifest lists.
fn listed(dir: &Path) -> Vec<String> {
    let m: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join(live_gen(dir)).join("manifest.json")).unwrap()).unwrap();
    m["segments"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap().to_string()).collect()
}

/// The live store's files but `CURRENT`: the manifest and the segments it lists.
fn gen_files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut m = BTreeMap::new();
    m.insert("manifest.json".to_string(), std::fs::read(dir.join(live_gen(dir)).join("manifest.json")).unwrap());
    for n in listed(dir) {
        m.insert(n.clone(), std::fs::read(dir.join(&n)).unwrap());
    }
    m
}

/// The live store: `CURRENT`, the manifest of the generation it names and
/// the segment files that lists, by path relative to the store directory.
fn live(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let g = live_gen(dir);
    let mut m: BTreeMap<String, Vec<u8>> =
        gen_files(dir).into_iter().map(|(n, b)| (if n == "manifest.json" { format!("{g}/{n}") } else { n }, b)).collect();
    m.insert("CURRENT".into(), std::fs::read(dir.join("CURRENT")).unwrap());
    m
}

/// Entries of the store directory (LOCK and the VERIFIED stamp left out).
fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "LOCK" && n != "VERIFIED")
        .collect();
    v.sort();
    v
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

/// The events a store holds, read and fully checked by the library
/// (every column against its checksum) and by `chaintrace stats`.
fn checked_events(dir: &Path) -> u64 {
    let s = chaintrace::store::Store::open(dir).unwrap();
    s.verify_all().unwrap();
    let n = stats(dir)["events"].as_u64().unwrap();
    assert_eq!(n, s.len() as u64);
    n
}

fn ingest_args(store: &Path, file: &Path) -> Vec<OsString> {
    let mut a: Vec<OsString> =
        ["ingest", "--no-progress", "--chain", "ethereum", "--format", "etl", "--store"].iter().map(OsString::from).collect();
    a.push(store.into());
    a.push(file.into());
    a
}

fn ingest_files_args(store: &Path, files: &[PathBuf]) -> Vec<OsString> {
    let mut a = ingest_args(store, &files[0]);
    a.extend(files[1..].iter().map(OsString::from));
    a
}

fn compact_args(store: &Path) -> Vec<OsString> {
    vec!["compact".into(), "--store".into(), store.into()]
}

fn compact_lookups_args(store: &Path) -> Vec<OsString> {
    vec!["compact".into(), "--store".into(), store.into(), "--lookups".into()]
}

fn labels_args(store: &Path, file: &Path) -> Vec<OsString> {
    vec!["labels".into(), "--store".into(), store.into(), "import".into(), file.into()]
}

/// Run chaintrace with `args`, crashing at `point`; returns its stderr once
/// it is dead, after checking it died at that point and by that death.
fn crash(args: &[OsString], point: &str, death: Death) -> String {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_chaintrace"));
    cmd.args(args).stdout(Stdio::null()).stderr(Stdio::piped());
    let reached = format!("chaintrace: crash point {point}");
    match death {
        Death::Abort => {
            let o = cmd.env("CHAINTRACE_CRASH_AT", point).output().unwrap();
            let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
            assert!(!o.status.success(), "{point}: the process finished instead of crashing: {stderr}");
            assert_eq!(o.status.signal(), Some(SIGABRT), "{point}: {:?}: {stderr}", o.status);
            assert!(stderr.contains(&reached), "{point}: not reached: {stderr}");
            stderr
        }
        Death::Kill => {
            let mut child = cmd.env("CHAINTRACE_CRASH_AT", format!("{point}:wait")).spawn().unwrap();
            let mut err = std::io::BufReader::new(child.stderr.take().unwrap());
            let mut seen = String::new();
            loop {
                let mut line = String::new();
                if err.read_line(&mut line).unwrap() == 0 {
                    let status = child.wait().unwrap();
                    panic!("{point}: the process ended ({status:?}) without reaching the point: {seen}");
                }
                seen += &line;
                if line.trim_end() == reached {
                    break;
                }
            }
            // It waits at the point: SIGKILL it there.
            child.kill().unwrap();
            let status = child.wait().unwrap();
            assert_eq!(status.signal(), Some(SIGKILL), "{point}: {status:?}");
            seen
        }
    }
}

/// What a crash test starts from and should end with.
struct Case {
    /// The store before the write.
    base: PathBuf,
    /// The base store after the same write, never killed.
    reference: PathBuf,
    base_events: u64,
    new_events: u64,
}

/// Crash the write `args(store)` on a copy of the base store at `point`,
/// check what it leaves, then that the write run again gives the reference
/// and leaves one generation.
fn crash_and_recover(case: &Case, work: &Path, args: impl Fn(&Path) -> Vec<OsString>, point: &str, side: Side, death: Death) {
    let s = work.join(format!("{point}-{death:?}"));
    copy_dir(&case.base, &s);
    let before = live(&s);
    let before_gen = live_gen(&s);
    crash(&args(&s), point, death);
    match side {
        Side::Before => {
            // The previous store, byte for byte, and nothing of it changed.
            assert!(live(&s) == before, "{point}: the live store changed");
            // Beside it, at most an unfinished segment, generation and CURRENT.tmp.
            let before_segs = listed(&s);
            for n in entries(&s) {
                assert!(n == "CURRENT" || n == "CURRENT.tmp" || n.starts_with("gen-") || n.starts_with("seg-"), "{point}: unexpected {n}");
            }
            // And the leftovers show where the write stopped.
            let unfinished: Vec<PathBuf> =
                entries(&s).iter().filter(|n| n.starts_with("gen-") && **n != before_gen).map(|n| s.join(n)).collect();
            let new_segments: Vec<String> = entries(&s).into_iter().filter(|n| n.starts_with("seg-") && !before_segs.contains(n)).collect();
            let has_manifest = |g: &Path| g.join("manifest.json").exists();
            match point {
                "ingest-parse" => assert!(unfinished.is_empty() && new_segments.is_empty(), "{point}: {unfinished:?} {new_segments:?}"),
                "generation-columns" | "labels-generation" | "compact-columns" => {
                    assert!(unfinished.is_empty(), "{point}: {unfinished:?}");
                    assert_eq!(new_segments.len(), 1, "{point}: not inside the segment write");
                }
                _ => {
                    assert_eq!(unfinished.len(), 1, "{point}");
                    assert_eq!(new_segments.len(), 1, "{point}");
                    assert!(has_manifest(&unfinished[0]), "{point}: the generation is not complete");
                }
            }
            assert_eq!(s.join("CURRENT.tmp").exists(), point == "before-rename", "{point}");
            assert_eq!(checked_events(&s), case.base_events, "{point}");
        }
        Side::After => {
            // The new store, byte for byte, exactly as a write never killed
            // leaves it; the old generation still beside it (the crash came
            // before the clean-up).
            assert!(live(&s) == live(&case.reference), "{point}: the live store is not the new one");
            assert!(s.join(&before_gen).is_dir(), "{point}: the old generation was already removed");
            assert_eq!(checked_events(&s), case.new_events, "{point}");
        }
    }
    // The write again: it succeeds, gives exactly the reference and removes leftovers.
    let o = Command::new(env!("CARGO_BIN_EXE_chaintrace")).args(args(&s)).output().unwrap();
    assert!(o.status.success(), "{point}: the next write failed: {}", String::from_utf8_lossy(&o.stderr));
    let names = entries(&s);
    assert_eq!(names.iter().filter(|n| n.starts_with("gen-")).count(), 1, "{point}: leftovers {names:?}");
    assert_eq!(names.len(), 2 + listed(&s).len(), "{point}: leftovers {names:?}");
    assert!(gen_files(&s) == gen_files(&case.reference), "{point}: the store after the next write differs from the reference");
    assert_eq!(checked_events(&s), case.new_events, "{point}");
}

/// The case of a write `args(reference)` over a copy of `base` at `reference`.
fn written_case(base: PathBuf, reference: PathBuf, args: impl Fn(&Path) -> Vec<OsString>) -> Case {
    copy_dir(&base, &reference);
    let o = Command::new(env!("CARGO_BIN_EXE_chaintrace")).args(args(&reference)).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    Case { base_events: checked_events(&base), new_events: checked_events(&reference), base, reference }
}

fn write_csv(p: &Path, rows: u64, seed: u64) {
    let mut w = std::io::BufWriter::new(std::fs::File::create(p).unwrap());
    chaintrace::synth::write_transactions(&mut w, rows, seed).unwrap();
}

/// A store of 1,000 transactions and a file of 120,000 more (several 8 MiB
/// reading blocks, so the parse point falls inside the file).
fn ingest_case(t: &Path) -> (Case, PathBuf) {
    let base = t.join("base");
    let small = t.join("small.csv");
    write_csv(&small, 1000, 9);
    assert_eq!(ingest(&base, "ethereum", "etl", &[], &[&small]).code, 0);
    let big = t.join("big.csv");
    write_csv(&big, 120_000, 3);
    assert!(std::fs::metadata(&big).unwrap().len() > 3 * (8 << 20), "the file must span several reading blocks");
    let case = written_case(base, t.join("reference"), |s| ingest_args(s, &big));
    assert_eq!((case.base_events, case.new_events), (1000, 121_000));
    (case, big)
}

/// An ingest killed at each point of its write: while parsing, inside the
/// generation write, with the generation complete, before the rename of
/// `CURRENT` and after it.
#[test]
fn ingest_killed_at_every_point_leaves_one_whole_store() {
    let t = tempfile::tempdir().unwrap();
    let (case, big) = ingest_case(t.path());
    let args = |s: &Path| ingest_args(s, &big);
    for (point, side) in [
        ("ingest-parse", Side::Before),
        ("generation-columns", Side::Before),
        ("generation-written", Side::Before),
        ("before-rename", Side::Before),
        ("after-rename", Side::After),
    ] {
        crash_and_recover(&case, t.path(), args, point, side, Death::Abort);
    }
}

/// A real SIGKILL, delivered while the ingest parses and while it writes
/// its generation (it waits at the point to be killed, so the kill always
/// lands there).
#[test]
fn sigkill_while_parsing_and_while_writing_leaves_the_previous_store() {
    let t = tempfile::tempdir().unwrap();
    let (case, big) = ingest_case(t.path());
    let args = |s: &Path| ingest_args(s, &big);
    crash_and_recover(&case, t.path(), args, "ingest-parse", Side::Before, Death::Kill);
    crash_and_recover(&case, t.path(), args, "generation-columns", Side::Before, Death::Kill);
}

/// A store of a world's first 100,000 events and the files of its next
/// 300,000 (new blocks: an append; the transactions file spans several
/// reading blocks).
fn append_case(t: &Path) -> (Case, Vec<PathBuf>) {
    let params = chaintrace::synth::world::Params::new(400_000, 21);
    let part = |k: usize, w| chaintrace::synth::etl::write_world_etl_part(&t.join(format!("part{k}")), params.clone(), w).unwrap();
    let (first, second) = (part(0, 0..100_000), part(1, 100_000..u64::MAX));
    assert!(std::fs::metadata(&second.files[0]).unwrap().len() > 2 * (8 << 20), "the file must span several reading blocks");
    let base = t.join("abase");
    let o = Command::new(env!("CARGO_BIN_EXE_chaintrace")).args(ingest_files_args(&base, &first.files[..3])).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let case = written_case(base, t.join("areference"), |s| ingest_files_args(s, &second.files[..3]));
    assert_eq!(listed(&case.reference).len(), 2, "the second part is appended as one segment");
    assert_eq!(case.new_events, first.events + second.events);
    (case, second.files[..3].to_vec())
}

/// An append killed at each point: while parsing, inside the segment
/// write (SIGKILL too), with the segment and generation complete, before
/// the rename of `CURRENT` and after it.
#[test]
fn append_killed_at_every_point_leaves_one_whole_store() {
    let t = tempfile::tempdir().unwrap();
    let (case, files) = append_case(t.path());
    let args = |s: &Path| ingest_files_args(s, &files);
    crash_and_recover(&case, t.path(), args, "ingest-parse", Side::Before, Death::Abort);
    kill_at_every_write_point(&case, t.path(), args, "generation-columns");
}

/// A store of a world's first 100,000 events and the transactions and
/// token transfers of its next 300,000, then the traces of those blocks,
/// late: a splice from the first of them.
fn splice_case(t: &Path) -> (Case, Vec<PathBuf>) {
    let params = chaintrace::synth::world::Params::new(400_000, 23);
    let part = |k: usize, w| chaintrace::synth::etl::write_world_etl_part(&t.join(format!("spart{k}")), params.clone(), w).unwrap();
    let (first, second) = (part(0, 0..100_000), part(1, 100_000..u64::MAX));
    let base = t.join("sbase");
    for files in [&first.files[..3], &[second.files[0].clone(), second.files[2].clone()][..]] {
        let o = Command::new(env!("CARGO_BIN_EXE_chaintrace")).args(ingest_files_args(&base, files)).output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let late = vec![second.files[1].clone()];
    let case = written_case(base, t.join("sreference"), |s| ingest_files_args(s, &late));
    assert_eq!(listed(&case.reference)[0], listed(&case.base)[0], "spliced: the first segment stays");
    assert!(case.new_events > case.base_events);
    (case, late)
}

/// A splice killed at each point, as an append is.
#[test]
fn splice_killed_at_every_point_leaves_one_whole_store() {
    let t = tempfile::tempdir().unwrap();
    let (case, files) = splice_case(t.path());
    let args = |s: &Path| ingest_files_args(s, &files);
    kill_at_every_write_point(&case, t.path(), args, "generation-columns");
}

/// Kill a write inside its segment (abort, then SIGKILL), with segment and
/// generation complete, before the rename of `CURRENT` and after it.
fn kill_at_every_write_point(case: &Case, work: &Path, args: impl Fn(&Path) -> Vec<OsString> + Copy, inside: &str) {
    for (point, side) in
        [(inside, Side::Before), ("generation-written", Side::Before), ("before-rename", Side::Before), ("after-rename", Side::After)]
    {
        crash_and_recover(case, work, args, point, side, Death::Abort);
    }
    crash_and_recover(case, work, args, inside, Side::Before, Death::Kill);
}

/// Compaction killed at each point: inside its segment write (SIGKILL
/// too), complete, before and after the rename.
#[test]
fn compaction_killed_at_every_point_leaves_one_whole_store() {
    let t = tempfile::tempdir().unwrap();
    let (appended, _) = append_case(t.path());
    // The store of two segments is the base; compacted, the reference.
    let reference = t.path().join("creference");
    copy_dir(&appended.reference, &reference);
    let o = Command::new(env!("CARGO_BIN_EXE_chaintrace")).args(compact_args(&reference)).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(listed(&reference).len(), 1);
    let n = appended.new_events;
    let case = Case { base: appended.reference.clone(), reference, base_events: n, new_events: n };
    kill_at_every_write_point(&case, t.path(), compact_args, "compact-columns");
}

/// `compact --lookups` killed at each point: the two runs of each lookup
/// structure merge into one in a third segment.
#[test]
fn lookup_compaction_killed_at_every_point_leaves_one_whole_store() {
    let t = tempfile::tempdir().unwrap();
    // A large part, then one under half its size: their runs stay apart.
    let params = chaintrace::synth::world::Params::new(400_000, 25);
    let base = t.path().join("lbase");
    for (k, w) in [0..300_000, 300_000..u64::MAX].into_iter().enumerate() {
        let part = chaintrace::synth::etl::write_world_etl_part(&t.path().join(format!("lpart{k}")), params.clone(), w).unwrap();
        let o = Command::new(env!("CARGO_BIN_EXE_chaintrace")).args(ingest_files_args(&base, &part.files[..3])).output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let n = checked_events(&base);
    let case = written_case(base, t.path().join("lreference"), compact_lookups_args);
    assert_eq!(listed(&case.reference).len(), 3, "the lookups in a segment of their own");
    assert_eq!(case.new_events, n);
    kill_at_every_write_point(&case, t.path(), compact_lookups_args, "compact-columns");
}

/// A label import makes a generation too: killed while writing it, before
/// and after the rename.
#[test]
fn label_import_killed_at_every_point_leaves_one_whole_store() {
    let t = tempfile::tempdir().unwrap();
    let base = t.path().join("base");
    let small = t.path().join("small.csv");
    write_csv(&small, 1000, 9);
    assert_eq!(ingest(&base, "ethereum", "etl", &[], &[&small]).code, 0);
    let first = t.path().join("first.csv");
    std::fs::write(&first, "address,category,label\n0x1111111111111111111111111111111111111111,exchange,Example 1\n").unwrap();
    assert_eq!(run(&["labels", "--store", base.to_str().unwrap(), "import", first.to_str().unwrap()]).code, 0);
    let more = t.path().join("more.csv");
    std::fs::write(
        &more,
        "address,category,label\n0x2222222222222222222222222222222222222222,mixer,Example Mixer\n0x3333333333333333333333333333333333333333,hack,Example Hack\n",
    )
    .unwrap();
    let reference = t.path().join("reference");
    copy_dir(&base, &reference);
    let o = Command::new(env!("CARGO_BIN_EXE_chaintrace")).args(labels_args(&reference, &more)).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let label_rows = |s: &Path| chaintrace::labels::load(&chaintrace::store::Store::open(s).unwrap()).len();
    assert_eq!((label_rows(&base), label_rows(&reference)), (1, 3));
    let case = Case { base_events: checked_events(&base), new_events: checked_events(&reference), base, reference };
    let args = |s: &Path| labels_args(s, &more);
    for (point, side) in [("labels-generation", Side::Before), ("before-rename", Side::Before), ("after-rename", Side::After)] {
        crash_and_recover(&case, t.path(), args, point, side, Death::Abort);
        let s = t.path().join(format!("{point}-Abort"));
        assert_eq!(label_rows(&s), 3, "{point}");
    }
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
