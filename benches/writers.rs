//! Report writers' throughput on a wide trace (issue 18: writers at 1 GB/s).
//!
//! `cargo bench --bench writers` generates issue 18's wide set once under the
//! target directory. That is 10^6 transfers with every fourth address an
//! exchange; `CHAINTRACE_BENCH_EVENTS` gives another size. The bench
//! ingests the set and imports its labels with the real binaries. It then
//! answers a poison and a haircut trace in process, with the default
//! report, and times each writer over the same report (best of
//! `CHAINTRACE_BENCH_RUNS`, default 3):
//!
//! - `serde`: JSON as serde's pretty printer writes it, into a buffer in
//!   memory (kept from run to run);
//! - `one thread`: the same into a file through a 1 MB buffer, as the
//!   command wrote it before (a new file each run, so the page cache's
//!   copy counts);
//! - `file`: the same through the command's file writer, `app::write_with`,
//!   which hands each megabyte to a thread of its own;
//! - `csv`: the CSV rows (`report::write_csv`), into memory;
//! - `csv file`: the same through the command's file writer;
//! - `parquet`: the Parquet files, to disk.
//!
//! Throughput counts the bytes each writer produced. The report's build is
//! not timed here: `benches/reports.sh` times the sweep, build and write of
//! the command.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

fn main() {
    let rows: u64 = std::env::var("CHAINTRACE_BENCH_EVENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let runs: usize = std::env::var("CHAINTRACE_BENCH_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(3).max(1);
    let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("bench-writers-v{}-{rows}", chaintrace::store::FORMAT_VERSION));
    let seed = prepare(&root, rows);
    let store = chaintrace::app::open_verified(&root.join("store")).expect("open the store");
    println!("wide set: {} events, {} addresses, seed {seed}, stops at exchanges", store.len(), store.address_count());
    for policy in ["poison", "haircut"] {
        let q: chaintrace::app::trace::Query =
            serde_json::from_value(serde_json::json!({"policy": policy, "seeds": [seed], "stop_at": ["exchange"]})).expect("a query");
        let (report, _) = chaintrace::app::trace::answer(&store, &q).expect("trace");
        println!(
            "{policy}: {} destinations, {} dormant, {} entities",
            report.destinations.len(),
            report.dormant.len(),
            report.entities.len()
        );
        let out = root.join("out");
        std::fs::create_dir_all(&out).expect("output directory");
        let time = |what: &str, write: &mut dyn FnMut() -> u64| {
            let (mut best, mut bytes) = (f64::MAX, 0);
            for _ in 0..runs {
                let t = Instant::now();
                bytes = write();
                best = best.min(t.elapsed().as_secs_f64());
            }
            println!("  {what:>10}: {bytes:>11} bytes in {best:.3}s = {:.2} GB/s", bytes as f64 / best / 1e9);
        };
        let mut memory: Vec<u8> = Vec::new();
        time("serde", &mut || {
            memory.clear();
            serde_json::to_writer_pretty(&mut memory, &report).expect("serde");
            memory.len() as u64
        });
        // A new file each run; the old ones are removed between writers,
        // so that no run counts the freeing of another's pages.
        let mut k = 0;
        let mut fresh = || {
            k += 1;
            out.join(format!("{policy}-{k}.json"))
        };
        let clear = || {
            for e in std::fs::read_dir(&out).expect("output directory").flatten() {
                let _ = std::fs::remove_file(e.path());
            }
        };
        time("one thread", &mut || {
            let path = fresh();
            let mut w = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&path).expect("create"));
            serde_json::to_writer_pretty(&mut w, &report).expect("serde");
            w.flush().expect("write");
            drop(w);
            std::fs::metadata(&path).expect("written").len()
        });
        clear();
        time("file", &mut || {
            let path = fresh();
            chaintrace::app::write_with(&path, |w| serde_json::to_writer_pretty(w, &report).map_err(std::io::Error::other)).expect("write");
            std::fs::metadata(&path).expect("written").len()
        });
        clear();
        time("csv", &mut || {
            memory.clear();
            chaintrace::report::write_csv(&mut memory, &report).expect("csv");
            memory.len() as u64
        });
        time("csv file", &mut || {
            let path = fresh();
            chaintrace::app::write_with(&path, |w| chaintrace::report::write_csv(w, &report)).expect("write");
            std::fs::metadata(&path).expect("written").len()
        });
        clear();
        time("parquet", &mut || {
            let path = out.join(format!("{policy}.parquet"));
            chaintrace::report::parquet::write_trace(&report, &path).expect("parquet");
            let flow = path.with_extension("flow.parquet");
            std::fs::metadata(&path).expect("written").len() + std::fs::metadata(&flow).map_or(0, |m| m.len())
        });
    }
}

/// Generate, ingest and label the wide set once; returns the seed.
fn prepare(root: &Path, rows: u64) -> String {
    let seed_file = root.join("seed.txt");
    if let Ok(s) = std::fs::read_to_string(&seed_file) {
        return s.trim().to_string();
    }
    let t = Instant::now();
    let _ = std::fs::remove_dir_all(root);
    let data = root.join("data");
    let run = |c: &mut Command| {
        let o = c.output().expect("run");
        assert!(o.status.success(), "{c:?}: {}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    };
    let seed = run(Command::new(env!("CARGO_BIN_EXE_chaintrace-gen")).args(["wide", "--rows", &rows.to_string(), "--out"]).arg(&data));
    let ct = env!("CARGO_BIN_EXE_chaintrace");
    let store = root.join("store");
    run(Command::new(ct)
        .args(["ingest", "--chain", "ethereum", "--format", "etl", "--store"])
        .arg(&store)
        .arg(data.join("transactions.csv")));
    run(Command::new(ct).arg("labels").arg("--store").arg(&store).arg("import").arg(data.join("labels.csv")));
    std::fs::write(&seed_file, &seed).expect("seed file");
    eprintln!("generated {} in {:.1}s", root.display(), t.elapsed().as_secs_f64());
    seed
}
