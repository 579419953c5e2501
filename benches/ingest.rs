//! Ingest throughput and memory on a generated blockchain-etl `transactions.csv`.
//!
//! `cargo bench --bench ingest` (10 million rows, about 4.2 GB, generated once
//! into the target directory); `CHAINTRACE_BENCH_ROWS=1000000` for a quick run.
//! Runs the real `chaintrace ingest` binary so the peak memory is the ingest's
//! own, and prints rows/s, MB/s, MB/s per core, peak memory and its ratio to
//! the size of the store it wrote.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

fn dir_size(p: &Path) -> u64 {
    let mut total = 0;
    if let Ok(rd) = std::fs::read_dir(p) {
        for e in rd.flatten() {
            let m = e.metadata().expect("metadata");
            total += if m.is_dir() { dir_size(&e.path()) } else { m.len() };
        }
    }
    total
}

fn main() {
    let rows: u64 = std::env::var("CHAINTRACE_BENCH_ROWS").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000_000);
    let runs: u32 = std::env::var("CHAINTRACE_BENCH_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(3);
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("bench-ingest");
    std::fs::create_dir_all(&dir).expect("bench dir");
    let input = dir.join(format!("transactions-{rows}.csv"));
    if !input.exists() {
        let t = Instant::now();
        let tmp = dir.join("generating.csv");
        let mut w = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&tmp).expect("create"));
        chaintrace::synth::write_transactions(&mut w, rows, 1).expect("generate");
        drop(w);
        std::fs::rename(&tmp, &input).expect("rename");
        eprintln!("generated {} in {:.1}s", input.display(), t.elapsed().as_secs_f64());
    }
    let bytes = std::fs::metadata(&input).expect("input").len();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    // Warm the page cache so runs measure the engine, not the disk.
    let _ = std::fs::read(&input).map(|v| v.len());
    println!("ingest bench: {rows} rows, {:.2} GB blockchain-etl transactions.csv, {cores} cores", bytes as f64 / 1e9);
    let mut best = f64::MAX;
    for run in 1..=runs {
        let store = dir.join("store");
        let _ = std::fs::remove_dir_all(&store);
        let t = Instant::now();
        let out = Command::new(env!("CARGO_BIN_EXE_chaintrace"))
            .args(["ingest", "--no-progress", "--chain", "ethereum", "--format", "etl", "--store"])
            .arg(&store)
            .arg(&input)
            .output()
            .expect("run chaintrace");
        let secs = t.elapsed().as_secs_f64();
        assert!(out.status.success(), "ingest failed: {}", String::from_utf8_lossy(&out.stderr));
        let stdout = String::from_utf8_lossy(&out.stdout);
        let peak_mib: f64 =
            stdout.split("peak memory ").nth(1).and_then(|s| s.split_whitespace().next()).and_then(|s| s.parse().ok()).unwrap_or(f64::NAN);
        let store_bytes = dir_size(&store);
        best = best.min(secs);
        println!(
            "run {run}: {secs:.2}s  {:.2} M rows/s  {:.0} MB/s  {:.0} MB/s per core  peak {:.0} MiB  store {:.0} MiB  peak/store {:.2}",
            rows as f64 / secs / 1e6,
            bytes as f64 / secs / 1e6,
            bytes as f64 / secs / 1e6 / cores as f64,
            peak_mib,
            store_bytes as f64 / 1048576.0,
            peak_mib * 1048576.0 / store_bytes as f64
        );
    }
    println!(
        "best: {:.0} MB/s per core end to end (goal 1000; a plain polars read plus interning: ~340)",
        bytes as f64 / best / 1e6 / cores as f64
    );
    let _ = std::fs::remove_dir_all(dir.join("store"));
}
