//! A trace seeded by a transaction hash against the same trace seeded by
//! address (issue 13: at most 1.5x the time and 20 MiB more memory at 10^6
//! events), and what the transaction-hash index costs at ingest.
//!
//! `cargo bench --bench seed_tx` writes the world of `chaintrace::synth::world`
//! (10^6 events; `CHAINTRACE_BENCH_EVENTS`) as blockchain-etl CSV, ingests it
//! with the real binary and imports its labels (once, under the target
//! directory), then answers in process, alternately, the hack's trace seeded
//! by the exploiter's address and by the hack's transaction hash, with the
//! service categories absorbing: `CHAINTRACE_BENCH_RUNS` (default 9) runs
//! each after one warm-up, printing the median time of each, their ratio and
//! the memory each answer adds (peak resident memory during the answer less
//! resident memory before it; the store's pages are warm). For comparison it
//! times the map over every transaction hash that seeding by transaction
//! built before the index; then the index's build time and size.

use chaintrace::app::trace::Query;
use chaintrace::store::{Column, Store};
use chaintrace::trace::Policy;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

const SERVICES: &str = "exchange,mixer,bridge,defi,gambling,payment";

fn status(key: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines().find(|l| l.starts_with(key)).and_then(|l| l.split_whitespace().nth(1)).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0) * 1024
}

/// Run `f`; returns its result, seconds, and the resident memory it added at
/// its peak (Linux: `VmHWM` reset through `clear_refs` before the call).
fn measure<T>(f: impl FnOnce() -> T) -> (T, f64, u64) {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let before = status("VmRSS:");
    let t = Instant::now();
    let r = f();
    let secs = t.elapsed().as_secs_f64();
    let peak = chaintrace::sys::peak_rss_bytes().unwrap_or(0);
    (r, secs, peak.saturating_sub(before))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn mib(b: f64) -> f64 {
    b / 1048576.0
}

/// Generate and ingest the world once; returns the ingest's wall time when it ran now.
fn prepare(dir: &Path, events: u64) -> Option<f64> {
    let store = dir.join("store");
    if dir.join("done").exists() {
        return None;
    }
    let _ = std::fs::remove_dir_all(dir);
    let t = Instant::now();
    let files =
        chaintrace::synth::etl::write_world_etl(&dir.join("csv"), chaintrace::synth::world::Params::new(events, 7)).expect("generate");
    eprintln!("generated {} events as CSV in {:.1}s", files.events, t.elapsed().as_secs_f64());
    let t = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_chaintrace"))
        .args(["ingest", "--no-progress", "--chain", "ethereum", "--format", "etl", "--store"])
        .arg(&store)
        .args(&files.files[..3])
        .output()
        .expect("run chaintrace");
    assert!(out.status.success(), "ingest failed: {}", String::from_utf8_lossy(&out.stderr));
    let ingest = t.elapsed().as_secs_f64();
    let labels = chaintrace::labels::read_csv(&files.files[3], chaintrace::model::Chain::Ethereum).expect("labels");
    chaintrace::labels::save(&store, &labels).expect("import labels");
    let _ = std::fs::remove_dir_all(dir.join("csv"));
    std::fs::write(dir.join("done"), format!("{ingest}")).expect("mark");
    Some(ingest)
}

fn main() {
    let events: u64 = std::env::var("CHAINTRACE_BENCH_EVENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let runs: usize = std::env::var("CHAINTRACE_BENCH_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(21).max(1);
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("bench-seed-tx-v{}", chaintrace::store::FORMAT_VERSION))
        .join(format!("world-{events}"));
    let ran = prepare(&dir, events);
    let ingest_secs: f64 = std::fs::read_to_string(dir.join("done")).ok().and_then(|s| s.trim().parse().ok()).unwrap_or(f64::NAN);
    let store = Store::open(&dir.join("store")).expect("open store");
    store.verify().expect("verify");
    let n_tx = store.manifest.tx_table;
    println!(
        "seed_tx: world of {} events, {n_tx} transactions, {} addresses{}",
        store.len(),
        store.address_count(),
        if ran.is_some() { "" } else { " (store from an earlier run)" }
    );

    // The exploiter and the hack: the first transaction that pays the exploiter.
    let exploiter = chaintrace::synth::world::World::new(chaintrace::synth::world::Params::new(events, 7))
        .address(chaintrace::synth::world::Who::Exploiter);
    let exploiter = format!("0x{}", hex::encode(exploiter));
    let xid = store.find_address(&exploiter).expect("exploiter in the store");
    let ev = store.events();
    let hack = (0..store.len())
        .find(|&i| ev.receiver(i) == xid && ev.tx(i) != chaintrace::model::NO_TX)
        .map(|i| ev.tx(i))
        .expect("a hack transaction");
    let hack = store.tx_text(hack);
    let query = |seeds: Vec<String>, seed_txs: Vec<String>| Query {
        policy: Policy::Haircut,
        seeds,
        seed_txs,
        asset: None,
        stop_at: SERVICES.split(',').map(str::to_string).collect(),
        max_hops: None,
        from_block: None,
        to_block: None,
        paths: 3,
        paths_for: chaintrace::report::PathsFor::DEFAULT,
        flow_edges: chaintrace::trace::flow::DEFAULT_EDGES,
        follow: vec![],
        engine: None,
        clusters: None,
        budget: Default::default(),
    };
    let by_addr = query(vec![exploiter.clone()], vec![]);
    let by_tx = query(vec![], vec![hack.clone()]);
    println!("  seeds: address {exploiter}, transaction {hack} (haircut, services absorb, 3 evidence paths)");

    let run = |q: &Query| {
        measure(|| {
            let (report, notes) = chaintrace::app::trace::answer(&store, q).expect("trace");
            assert!(notes.warnings.iter().all(|w| !w.contains("not in the data")), "{:?}", notes.warnings);
            ((report.destinations.len(), report.seeded.clone()), (notes.sweep_seconds, notes.visited))
        })
    };
    let ((a0, va), _, _) = run(&by_addr);
    let ((t0, vt), _, _) = run(&by_tx);
    let (mut ta, mut tt, mut ma, mut mt, mut wa, mut wt) = (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        let ((a, (w, _)), s, m) = run(&by_addr);
        assert_eq!(a, a0);
        ta.push(s);
        ma.push(m as f64);
        wa.push(w);
        let ((t, (w, _)), s, m) = run(&by_tx);
        assert_eq!(t, t0);
        tt.push(s);
        mt.push(m as f64);
        wt.push(w);
    }
    let (sa, st) = (median(ta), median(tt));
    let (pa, pt) = (median(ma), median(mt));
    let line = |name: &str, secs: f64, sweep: f64, visited: u64, peak: f64, r: &(usize, String)| {
        println!(
            "  by {name}: median of {runs} {secs:.4}s (sweep {sweep:.4}s, {visited} events visited), peak memory added {:.1} MiB; {} destinations, seeded {}",
            mib(peak),
            r.0,
            r.1
        )
    };
    line("address    ", sa, median(wa), va.1, pa, &a0);
    line("transaction", st, median(wt), vt.1, pt, &t0);
    println!("  ratio {:.2}x (goal at most 1.5x), memory difference {:+.2} MiB (goal at most 20 MiB)", st / sa, mib(pt - pa));

    // What seeding by transaction built before the index: a map over every hash.
    let (map, secs, mem) =
        measure(|| (0..n_tx as u32).map(|id| (store.tx_hash(id).to_vec(), id)).collect::<std::collections::HashMap<Vec<u8>, u32>>());
    println!("  before the index: the map over all {} hashes took {secs:.3}s and {:.1} MiB", map.len(), mib(mem as f64));
    drop(map);

    // Lookups, warm.
    let t = Instant::now();
    let mut found = 0u64;
    for id in 0..n_tx as u32 {
        found += u64::from(store.find_tx(store.tx_hash(id)) == Some(id));
    }
    assert_eq!(found, n_tx);
    println!("  find_tx: {:.0} ns a lookup (warm, every hash of the store)", t.elapsed().as_secs_f64() * 1e9 / n_tx as f64);

    // Cold lookups: page faults of the first lookups in a freshly mapped store
    // (the files are in the page cache, so each page touched is one minor
    // fault, or one per fault-around window).
    let minflt = || -> u64 {
        let s = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
        s.rsplit(')').next().and_then(|t| t.split_whitespace().nth(7)).and_then(|v| v.parse().ok()).unwrap_or(0)
    };
    let fresh = Store::open(&dir.join("store")).expect("open store");
    let hack_hash = hex::decode(hack.trim_start_matches("0x")).expect("hex");
    let f0 = minflt();
    let id = fresh.find_tx(&hack_hash);
    let f1 = minflt();
    let miss = fresh.find_tx(&[0x5a; 32]);
    let f2 = minflt();
    assert!(id.is_some() && miss.is_none());
    println!("  cold lookups in a fresh mapping: {} page faults for the hack's hash, {} for an absent hash", f1 - f0, f2 - f1);
    drop(fresh);

    // The alternative: a sorted permutation of ids by hash (4 bytes a
    // transaction), searched by bisection. Pages of the permutation and of
    // `tx_hashes.bin` one search touches, and its warm time.
    let mut perm: Vec<u32> = (0..n_tx as u32).collect();
    perm.sort_unstable_by(|&a, &b| store.tx_hash(a).cmp(store.tx_hash(b)));
    let (mut pages, mut searches) = (0usize, 0usize);
    for id in (0..n_tx as u32).step_by((n_tx as usize / 1000).max(1)) {
        let key = store.tx_hash(id);
        let mut touched = std::collections::BTreeSet::new();
        let p = perm.binary_search_by(|&x| {
            touched.insert((0, x as usize * 32 / 4096));
            store.tx_hash(x).cmp(key)
        });
        // The permutation's pages: a bisection reads the middle of each range.
        let (mut lo, mut hi) = (0usize, perm.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            touched.insert((1, mid * 4 / 4096));
            match store.tx_hash(perm[mid]).cmp(key) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => break,
            }
        }
        assert_eq!(p.map(|p| perm[p]), Ok(id));
        pages += touched.len();
        searches += 1;
    }
    let t = Instant::now();
    for id in 0..n_tx as u32 {
        std::hint::black_box(perm.binary_search_by(|&x| store.tx_hash(x).cmp(store.tx_hash(id))).is_ok());
    }
    println!(
        "  a sorted permutation instead: {:.1} pages touched a search (table and hashes), {:.0} ns a lookup warm, 4 bytes per transaction",
        pages as f64 / searches as f64,
        t.elapsed().as_secs_f64() * 1e9 / n_tx as f64
    );
    drop(perm);

    // The index at ingest: its build from the hashes, and its size.
    let hashes: Vec<[u8; 32]> = store.bytes(Column::TxHashes).chunks_exact(32).map(|c| c.try_into().expect("32 bytes")).collect();
    let builds: Vec<f64> = (0..5)
        .map(|_| {
            let t = Instant::now();
            let v = chaintrace::store::hashindex::build(&hashes);
            std::hint::black_box(v);
            t.elapsed().as_secs_f64()
        })
        .collect();
    let build = median(builds);
    let bytes = store.bytes(Column::TxHashIndex).len() as f64;
    println!(
        "  index at ingest: built in {build:.3}s (median of 5) = {:.0} ns per transaction, {:.1}% of the ingest's {ingest_secs:.1}s; {:.1} MiB = {:.2} bytes per transaction",
        build * 1e9 / n_tx as f64,
        100.0 * build / ingest_secs,
        mib(bytes),
        bytes / n_tx as f64
    );
}
