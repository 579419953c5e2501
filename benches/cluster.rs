//! Address clustering throughput and memory on a generated Bitcoin chain.
//!
//! `cargo bench --bench cluster` generates a store of 10^7 inputs once
//! (wallets, consolidations, change, 2% CoinJoin rounds; see
//! `src/synth/utxo.rs`) under the target directory, then clusters it
//! (common-input ownership, CoinJoins detected and left out, the guard on)
//! and prints inputs/s, the heap the clustering holds, and peak memory.
//! `CHAINTRACE_BENCH_INPUTS=1000000` for a quick run.

use chaintrace::cluster::{Clustering, Params};
use chaintrace::store::Store;
use std::path::PathBuf;
use std::time::Instant;

fn main() {
    let inputs: u64 = std::env::var("CHAINTRACE_BENCH_INPUTS").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000_000);
    let runs: u32 = std::env::var("CHAINTRACE_BENCH_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(3);
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("bench-cluster-{inputs}"));
    // A store kept from an earlier run of another format is written anew.
    if !chaintrace::store::exists(&dir) || chaintrace::store::Store::open(&dir).is_err() {
        let t = Instant::now();
        let _ = std::fs::remove_dir_all(&dir);
        let truth = chaintrace::synth::utxo::write_store(&dir, chaintrace::synth::utxo::Params::for_inputs(inputs, 1)).expect("generate");
        eprintln!(
            "generated {} transactions, {} inputs, {} CoinJoin rounds in {:.1}s",
            truth.transactions,
            truth.inputs,
            truth.coinjoins.len(),
            t.elapsed().as_secs_f64()
        );
    }
    let store = Store::open(&dir).expect("open");
    store.verify().expect("verify");
    // Fault the mapped columns in so runs time the clustering, not the disk.
    let touch = |c| store.bytes(c).iter().step_by(4096).map(|&b| u64::from(b)).sum::<u64>();
    use chaintrace::store::Column;
    let _ = touch(Column::InTx) + touch(Column::InAddr) + touch(Column::Tx) + touch(Column::Sub) + touch(Column::ValueLo);
    println!(
        "cluster bench: {} inputs, {} events, {} addresses, {} transactions; 1 core (the union-find is sequential: key order decides the guard and the explanations)",
        store.manifest.inputs,
        store.len(),
        store.address_count(),
        store.manifest.tx_table
    );
    let mut best = f64::MAX;
    for run in 1..=runs {
        let t = Instant::now();
        let c = Clustering::build(&store, Params::default());
        let secs = t.elapsed().as_secs_f64();
        let held = c.heap_bytes();
        best = best.min(secs);
        println!(
            "run {run}: {secs:.3}s  {:.1} M inputs/s  clusters {}  merges {}  CoinJoins left out {}  flagged {}  heap held {:.0} MiB ({:.1} B/address)",
            store.manifest.inputs as f64 / secs / 1e6,
            c.cluster_count(),
            c.counts.merges,
            c.counts.coinjoins,
            c.counts.flagged,
            held as f64 / 1048576.0,
            held as f64 / store.address_count() as f64
        );
    }
    println!(
        "best: {:.1} M inputs/s; peak memory {:.0} MiB (the mapped store included)",
        store.manifest.inputs as f64 / best / 1e6,
        chaintrace::sys::peak_rss_bytes().unwrap_or(0) as f64 / 1048576.0
    );
}
