//! Tracing through swaps (issue 15): `cargo bench --bench follow`.
//!
//! Generates the world with its swaps as blockchain-etl CSV (`logs.csv`
//! included) under the target directory, ingests it with the real binary
//! (timed: the logs ride along with the usual files), and then:
//!
//! - speed: the exploiter traced under each policy with the services
//!   absorbing, as the single-asset sparse sweep (`--engine sparse`, the
//!   default) and with `--follow swaps` twice: the first trace of the
//!   store's generation (its §7 ledger removed before each run: the full
//!   sweep, which writes the ledger) and a later one (the sparse sweep over
//!   the ledger; FIFO always sweeps in full); best of
//!   `CHAINTRACE_BENCH_RUNS` (default 3) fresh processes each, `--paths 0`;
//!   sweep seconds, the ratios, and peak memory;
//! - reach: the share of the value planted through the hack's swaps
//!   (`swap_destinations_truth.csv`) that each trace carries on the planted
//!   deliveries into exchanges and the mixer (haircut, stops at exchange and
//!   mixer), from the evidence logs (`chaintrace::app::score`).
//!
//! `CHAINTRACE_BENCH_EVENTS` sets the size (default 10^7: 3.9 GB of CSV).

mod common;

use std::path::Path;
use std::process::Command;

const SERVICES: &str = "exchange,mixer,bridge,defi,gambling,payment";

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_chaintrace"))
}

fn main() {
    let events: u64 = std::env::var("CHAINTRACE_BENCH_EVENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000_000);
    let runs: usize = std::env::var("CHAINTRACE_BENCH_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(3).max(1);
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("bench-follow-v{}-{events}", chaintrace::store::FORMAT_VERSION));
    let csv = root.join("csv");
    let store = root.join("store");
    let params = chaintrace::synth::world::Params::new(events, 7);
    let done = root.join("done");
    if !done.exists() {
        let _ = std::fs::remove_dir_all(&root);
        let t = std::time::Instant::now();
        let w = chaintrace::synth::etl::write_world_etl(&csv, params).expect("write the world");
        std::fs::write(root.join("exploiter.txt"), &w.exploiter).expect("exploiter");
        eprintln!("wrote {} in {:.1}s", csv.display(), t.elapsed().as_secs_f64());
    }
    let exploiter = std::fs::read_to_string(root.join("exploiter.txt")).expect("exploiter").trim().to_string();
    let exports: Vec<_> = ["transactions.csv", "traces.csv", "token_transfers.csv", "logs.csv"].iter().map(|f| csv.join(f)).collect();
    let (labels, truth) = (csv.join("labels.csv"), csv.join("swap_destinations_truth.csv"));
    if !done.exists() {
        let bytes: u64 = exports.iter().map(|f| std::fs::metadata(f).map(|m| m.len()).unwrap_or(0)).sum();
        let logs = std::fs::metadata(&exports[3]).map(|m| m.len()).unwrap_or(0);
        let t = std::time::Instant::now();
        let out = bin()
            .args(["ingest", "--chain", "ethereum", "--format", "etl", "--no-progress", "--store"])
            .arg(&store)
            .args(&exports)
            .output()
            .expect("run chaintrace ingest");
        assert!(out.status.success(), "ingest failed: {}", String::from_utf8_lossy(&out.stderr));
        let s = t.elapsed().as_secs_f64();
        let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        let peak = said.lines().find(|l| l.contains("events in the store")).unwrap_or("").to_string();
        println!(
            "ingest: {:.2} GB of CSV ({:.0} MB of logs.csv) in {s:.1}s = {:.0} MB/s ({:.0} MB/s per core on {} cores); {peak}",
            bytes as f64 / 1e9,
            logs as f64 / 1e6,
            bytes as f64 / 1e6 / s,
            bytes as f64 / 1e6 / s / rayon::current_num_threads() as f64,
            rayon::current_num_threads()
        );
        let out = bin().args(["labels", "--store"]).arg(&store).arg("import").arg(&labels).output().expect("labels");
        assert!(out.status.success(), "labels failed: {}", String::from_utf8_lossy(&out.stderr));
        std::fs::write(&done, "").expect("marker");
    }
    let s = chaintrace::store::Store::open(&store).expect("open store");
    let n = s.len() as f64;
    let conversions = chaintrace::trace::conversions::list(&s);
    println!("world: {} events, {} addresses, {} conversions (the hack's three among them)", s.len(), s.address_count(), conversions.len());
    for policy in ["poison", "haircut", "fifo"] {
        let mut best = [(f64::MAX, 0.0, 0.0); 3];
        for (k, shape) in [&["--engine", "sparse"][..], &["--follow", "swaps"][..], &["--follow", "swaps"][..]].iter().enumerate() {
            for _ in 0..runs {
                if k == 1 {
                    common::remove_ledgers(&store);
                }
                let t = common::timed_trace(
                    bin()
                        .args([
                            "trace",
                            "--policy",
                            policy,
                            "--format",
                            "json",
                            "--paths",
                            "0",
                            "--output",
                            "/dev/null",
                            "--stop-at",
                            SERVICES,
                        ])
                        .args(*shape)
                        .args(["--seed", &exploiter, "--store"])
                        .arg(&store),
                );
                if t.sweep < best[k].0 {
                    best[k] = (t.sweep, t.peak, t.visited);
                }
            }
        }
        println!(
            "  {policy:>7}: single-asset sparse {:.3}s ({:.1} M events/s, peak {:.0} MiB); --follow swaps, first of the generation {:.3}s (peak {:.0} MiB, {:.1}x), later {:.3}s ({:.1} M events/s, peak {:.0} MiB): {:.1}x; events visited {:.0} single-asset, {:.0} later --follow",
            best[0].0,
            n / best[0].0 / 1e6,
            best[0].1,
            best[1].0,
            best[1].1,
            best[1].0 / best[0].0,
            best[2].0,
            n / best[2].0 / 1e6,
            best[2].1,
            best[2].0 / best[0].0,
            best[0].2,
            best[2].2
        );
    }
    // Reach: haircut from the exploiter, stopping at exchanges and the mixer.
    let seeds = chaintrace::trace::resolve_seeds(&s, std::slice::from_ref(&exploiter), &[]).expect("seed").addresses;
    let spec = chaintrace::trace::Spec::new(chaintrace::trace::Policy::Haircut, 0, seeds, vec!["exchange".into(), "mixer".into()]);
    let cross = chaintrace::trace::run_follow(&s, &spec, None).expect("follow");
    let single = chaintrace::trace::run_account(&s, &spec).expect("single");
    let p = chaintrace::app::score::planted(&s, &truth, &cross, &single).expect("score");
    let pct = |x: chaintrace::trace::Wide| {
        if p.value.is_zero() {
            0.0
        } else {
            x.to_string().parse::<f64>().unwrap_or(0.0) / p.value.to_string().parse::<f64>().unwrap_or(1.0) * 100.0
        }
    };
    println!(
        "reach (haircut, stops at exchange and mixer): {} planted deliveries of swapped ETH, {} wei; --follow swaps carried {} ({:.2}%), the single-asset trace {} ({:.2}%)",
        p.deliveries,
        p.value,
        p.by_cross,
        pct(p.by_cross),
        p.by_single,
        pct(p.by_single)
    );
}
