//! Whole ingests of any bytes, as `chaintrace ingest` runs them: files on
//! disk, every format of both chain models (blockchain-etl CSV and JSON
//! lines, Etherscan, the transfers CSV, the Bitcoin JSON lines and trio,
//! Parquet), through interning and the store write. Slower than the
//! in-memory targets (a store is written every run) and so kept to what
//! only a whole ingest does: an error, never a panic; a store that opens
//! and verifies after every ingest that succeeds; no trace of one that
//! failed. The first byte picks chain, format, `--skip-bad-rows` and how
//! the rest is cut into files (at NUL bytes, which text never holds).
//!
//! Holds on every input:
//! - an ingest that succeeds leaves a store that opens, passes
//!   `verify_all` and holds the events the ingest reports;
//! - one that fails names a file and leaves the store as it was: none
//!   after a first ingest, the same generation after an append.
#![no_main]
use chaintrace::ingest::{Format, Options, ingest};
use chaintrace::model::Chain;
use chaintrace::store::Store;
use libfuzzer_sys::fuzz_target;
use std::path::{Path, PathBuf};

/// What a reader of the store sees: its CURRENT and that generation's
/// manifest (segments are never changed once written), or nothing.
fn state(store: &Path) -> Option<(String, Vec<u8>)> {
    let current = std::fs::read_to_string(store.join("CURRENT")).ok()?;
    let generation = current.split_whitespace().next()?.to_string();
    Some((current, std::fs::read(store.join(generation).join("manifest.json")).ok()?))
}

fn once(store: &Path, files: &[PathBuf], opts: &Options) {
    let before = state(store);
    match ingest(store, files, opts) {
        Ok(summary) => {
            let s = Store::open(store).unwrap_or_else(|e| panic!("a committed ingest opens: {e}"));
            s.verify_all().unwrap_or_else(|e| panic!("a committed ingest verifies: {e}"));
            assert_eq!(s.len() as u64, summary.store_events);
        }
        Err(e) => {
            let m = e.to_string();
            let scratch = store.parent().expect("the store is in the scratch directory").to_string_lossy();
            assert!(m.contains(&*scratch), "an error names its file or the store: {m}");
            assert_eq!(state(store), before, "a failed ingest changed the store: {m}");
        }
    }
}

/// libFuzzer's hook aborts at any panic, before it unwinds. polars's
/// Parquet reader panics on some damaged files, which chaintrace catches
/// and reports as the file's error (`sys::guard_panics`): those panics
/// unwind to it, so this target checks they end as errors. Any other panic
/// aborts as before.
fn let_guarded_panics_unwind() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| chaintrace::sys::quiet_panics(chaintrace::sys::panic_is_guarded));
}

fuzz_target!(|data: &[u8]| {
    let_guarded_panics_unwind();
    let Some((&pick, body)) = data.split_first() else { return };
    let (chain, format, appends) = match pick & 7 {
        0 => (Chain::Ethereum, Format::Etl, false),
        1 => (Chain::Ethereum, Format::Etherscan, false),
        2 => (Chain::Ethereum, Format::Transfers, false),
        3 => (Chain::Bitcoin, Format::Etl, false),
        4 => (Chain::Ethereum, Format::Parquet, false),
        5 => (Chain::Bitcoin, Format::Parquet, false),
        6 => (Chain::Ethereum, Format::Etl, true),
        _ => (Chain::Bitcoin, Format::Etl, true),
    };
    let mut opts = Options::new(chain, format);
    opts.skip_bad_rows = pick & 8 != 0;
    // Parquet is binary: one file, whole.
    let parts: Vec<&[u8]> = if format == Format::Parquet { vec![body] } else { body.splitn(3, |&c| c == 0).collect() };
    let dir = std::env::temp_dir().join(format!("chaintrace-fuzz-ingest-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    let files: Vec<PathBuf> = parts
        .iter()
        .enumerate()
        .map(|(k, p)| {
            let f = dir.join(format!("in{k}"));
            std::fs::write(&f, p).expect("a scratch file");
            f
        })
        .collect();
    let store = dir.join("store");
    if appends {
        // One ingest a file: each after the first appends (a Bitcoin file
        // spending outputs of the one before is resolved from the store).
        for f in &files {
            once(&store, std::slice::from_ref(f), &opts);
        }
    } else {
        once(&store, &files, &opts);
    }
    let _ = std::fs::remove_dir_all(&dir);
});
