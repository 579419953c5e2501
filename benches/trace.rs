//! Tracing throughput and memory on a generated store.
//!
//! `cargo bench --bench trace` builds a store of 10^7 random transfers (once,
//! under the target directory) and traces it from ten hot addresses under each
//! policy with the real `chaintrace trace` binary (`--paths 0`: no evidence
//! log), printing events/s (the sweep is one pass on one core), poison's
//! edges/s, and peak memory per event.
//! `CHAINTRACE_BENCH_EVENTS=100000000` for 10^8 (about 6 GB of store).

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let events: u64 = std::env::var("CHAINTRACE_BENCH_EVENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000_000);
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("bench-trace-{events}"));
    let seeds_file = dir.join("seeds.txt");
    if !seeds_file.exists() {
        let t = std::time::Instant::now();
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("bench dir");
        let seeds = chaintrace::synth::write_store(&dir.join("store"), events, 7).expect("generate store");
        std::fs::write(&seeds_file, seeds.join("\n")).expect("seeds");
        eprintln!("generated a store of {events} events in {:.1}s", t.elapsed().as_secs_f64());
    }
    println!("trace bench: {events} events, 10 seeds, one sweep per policy");
    for policy in ["poison", "haircut", "fifo"] {
        let out = Command::new(env!("CARGO_BIN_EXE_chaintrace"))
            .args(["trace", "--policy", policy, "--format", "json", "--paths", "0", "--output", "/dev/null", "--store"])
            .arg(dir.join("store"))
            .arg("--seed-file")
            .arg(&seeds_file)
            .env("CHAINTRACE_TIMING", "1")
            .output()
            .expect("run chaintrace");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "trace failed: {stderr}");
        let seconds = |prefix: &str| -> f64 {
            let line = stderr.lines().find(|l| l.starts_with(prefix)).expect("timing line");
            line.split(" in ").nth(1).and_then(|s| s.split('s').next()).and_then(|s| s.parse().ok()).expect("seconds")
        };
        let (sweep, total) = (seconds("timing: sweep"), seconds("timing: trace"));
        let heap: f64 = stderr
            .lines()
            .find(|l| l.starts_with("timing: sweep"))
            .and_then(|l| l.split("heap at the end of the sweep ").nth(1))
            .and_then(|s| s.split_whitespace().next())
            .and_then(|s| s.parse().ok())
            .expect("heap");
        let line = stderr.lines().find(|l| l.starts_with("timing: trace")).expect("timing line");
        let peak: f64 =
            line.split("peak memory ").nth(1).and_then(|s| s.split_whitespace().next()).and_then(|s| s.parse().ok()).expect("peak");
        println!(
            "{policy:>7}: sweep {sweep:.2}s  {:.1} M events/s on one core{}  sweep heap {:.1} bytes/event  (with report {total:.2}s, peak RSS with the mapped store {:.1} bytes/event)",
            events as f64 / sweep / 1e6,
            if policy == "poison" { format!(" = {:.1} M edges/s", events as f64 / sweep / 1e6) } else { String::new() },
            heap * 1048576.0 / events as f64,
            peak * 1048576.0 / events as f64
        );
    }
    // Poison reachability as a parallel frontier search, in process.
    let store = chaintrace::store::Store::open(&dir.join("store")).expect("open store");
    let seeds_text: Vec<String> = std::fs::read_to_string(&seeds_file).expect("seeds").lines().map(str::to_string).collect();
    let seeds = chaintrace::trace::resolve_seeds(&store, &seeds_text, &[]).expect("seeds").addresses;
    let t = std::time::Instant::now();
    let mut csr = chaintrace::trace::reach::Csr::build(&store, 0);
    let built = t.elapsed().as_secs_f64();
    let t = std::time::Instant::now();
    let r = chaintrace::trace::reach::reachable(&store, &mut csr, &seeds, &[]);
    let secs = t.elapsed().as_secs_f64();
    let cores = rayon::current_num_threads();
    let reached = r.first.iter().filter(|&&f| f != chaintrace::trace::reach::UNREACHED).count();
    println!(
        "  reach: frontier search {secs:.2}s over {} edges ({} scanned, {} messages, {} rounds, {reached} addresses reached): {:.1} M edges/s per core on {cores} threads; CSR built in {built:.2}s",
        csr.len(),
        r.edges_scanned,
        r.messages,
        r.rounds,
        csr.len() as f64 / secs / 1e6 / cores as f64
    );
    println!("goals: 100 M events/s per core (haircut), 100 M edges/s per core (poison), 32 bytes/event");
}
