//! Tracing throughput and memory on generated stores.
//!
//! `cargo bench --bench trace` builds two stores of 10^7 events (once, under
//! the target directory) and traces each under every policy with the real
//! `chaintrace trace` binary (`--paths 0`: no evidence log), printing events/s
//! of the sweep on one core, poison's edges/s, how many events the sweep had
//! to look at, and memory per event.
//!
//! - `world`: the structured synthetic chain of `chaintrace::synth::world`
//!   (exchanges with deposit addresses, a mixer, DEX contracts, tokens, a
//!   heavy tail of activity, a hack laundered through peel chains), traced
//!   from the exploiter with the service categories absorbing, as an
//!   investigator would.
//! - `uniform`: random transfers among a pool with a hot 1% and no labels,
//!   traced from ten hot addresses: taint reaches almost everyone, the worst
//!   case for a tracer that works only where taint is.
//!
//! Each policy runs in four shapes: the sparse and the full single-asset
//! sweep, and `--follow swaps` (every asset traced at once) twice: `follow1`,
//! the first trace of a generation (its ledger removed before each run: the
//! full sweep keeping every (asset, address) balance, which writes the
//! store's §7 ledger), and `follow`, a later trace (the sparse sweep over
//! that ledger for poison and haircut; FIFO always sweeps in full).
//!
//! `CHAINTRACE_BENCH_EVENTS=100000000` for 10^8 (about 15 GB of stores);
//! `CHAINTRACE_BENCH_ONLY=world|uniform` for one store; each figure is the
//! best of `CHAINTRACE_BENCH_RUNS` (default 3) runs.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

const SERVICES: &str = "exchange,mixer,bridge,defi,gambling,payment";

fn main() {
    let events: u64 = std::env::var("CHAINTRACE_BENCH_EVENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000_000);
    let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("bench-trace-v{}", chaintrace::store::FORMAT_VERSION));
    let only = std::env::var("CHAINTRACE_BENCH_ONLY").unwrap_or_default();
    if only.is_empty() || only == "world" {
        let dir = root.join(format!("world-{events}"));
        let seeds = prepare(&dir, |store| {
            let w = chaintrace::synth::write_world_store(store, chaintrace::synth::world::Params::new(events, 7)).expect("generate world");
            eprintln!("world: {} transactions, {} addresses", w.transactions, w.addresses);
            vec![w.exploiter]
        });
        run("world", &dir, &seeds, &["--stop-at", SERVICES]);
    }
    if only.is_empty() || only == "uniform" {
        let dir = root.join(format!("uniform-{events}"));
        let seeds = prepare(&dir, |store| chaintrace::synth::write_store(store, events, 7).expect("generate store"));
        run("uniform", &dir, &seeds, &[]);
    }
    println!("goals: 100 M events/s per core (haircut), 100 M edges/s per core (poison), 32 bytes/event");
}

/// Generate the store once; returns the seed file.
fn prepare(dir: &Path, make: impl FnOnce(&Path) -> Vec<String>) -> PathBuf {
    let seeds_file = dir.join("seeds.txt");
    if !seeds_file.exists() {
        let t = std::time::Instant::now();
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir).expect("bench dir");
        let seeds = make(&dir.join("store"));
        std::fs::write(&seeds_file, seeds.join("\n")).expect("seeds");
        eprintln!("generated {} in {:.1}s", dir.display(), t.elapsed().as_secs_f64());
    }
    seeds_file
}

fn run(name: &str, dir: &Path, seeds_file: &Path, extra: &[&str]) {
    let store = chaintrace::store::Store::open(&dir.join("store")).expect("open store");
    let events = store.len() as f64;
    println!(
        "{name}: {} events, {} addresses, seeds {}, {}",
        store.len(),
        store.address_count(),
        seeds_file.display(),
        if extra.is_empty() { "no stops".to_string() } else { extra.join(" ") }
    );
    for policy in ["poison", "haircut", "fifo"] {
        // `follow1` and `follow`: `--follow swaps`, every asset at once
        // (TRACING.md §7); the ratio of `follow` to `sparse` is the cost of following.
        for engine in ["sparse", "full", "follow1", "follow"] {
            let shape: [&str; 2] = if engine.starts_with("follow") { ["--follow", "swaps"] } else { ["--engine", engine] };
            // Best of `runs` (the machine is shared): each run is a fresh process.
            let runs: usize = std::env::var("CHAINTRACE_BENCH_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(3);
            let (mut sweep, mut heap, mut visited, mut total, mut peak) = (f64::MAX, 0.0, 0.0, 0.0, 0.0);
            for _ in 0..runs.max(1) {
                if engine == "follow1" {
                    common::remove_ledgers(&dir.join("store"));
                }
                let t = common::timed_trace(
                    Command::new(env!("CARGO_BIN_EXE_chaintrace"))
                        .args(["trace", "--policy", policy, "--format", "json", "--paths", "0", "--output", "/dev/null"])
                        .args(shape)
                        .arg("--store")
                        .arg(dir.join("store"))
                        .arg("--seed-file")
                        .arg(seeds_file)
                        .args(extra),
                );
                if t.sweep < sweep {
                    (sweep, heap, visited, total, peak) = (t.sweep, t.heap, t.visited, t.total, t.peak);
                }
            }
            println!(
                "  {policy:>7} {engine:>7}: sweep (best of {runs}) {sweep:.3}s = {:.1} M events/s on one core{}, visited {:.2}% of events; heap {:.1} B/event (report included {total:.2}s, peak RSS with the mapped store {:.1} B/event)",
                events / sweep / 1e6,
                if policy == "poison" { format!(" ({:.1} M edges/s)", events / sweep / 1e6) } else { String::new() },
                100.0 * visited / events,
                heap * 1048576.0 / events,
                peak * 1048576.0 / events
            );
        }
    }
}
