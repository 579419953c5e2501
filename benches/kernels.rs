//! Kernel benchmarks: each stage of ingest and trace on its own, on a world
//! of 10^6 events (generated once under the target directory).
//!
//!     cargo bench --bench kernels
//!
//! Divan reports the median and spread of many samples, and throughput where
//! a kernel has a natural unit (bytes, addresses, keys, events, edges).

use chaintrace::model::Addr;
use chaintrace::store::Store;
use chaintrace::synth::world::Params;
use chaintrace::trace::{self, Policy, Spec};
use divan::Bencher;
use divan::counter::{BytesCount, ItemsCount};
use std::path::PathBuf;
use std::sync::OnceLock;

const EVENTS: u64 = 1_000_000;
const STOPS: [&str; 4] = ["exchange", "mixer", "bridge", "defi"];

fn main() {
    divan::main();
}

struct World {
    csv: Vec<u8>,
    store: Store,
    exploiter: String,
}

/// The world as etl CSV (the transactions file, for parsing) and as a store.
fn world() -> &'static World {
    static W: OnceLock<World> = OnceLock::new();
    W.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("bench-kernels-v{}", chaintrace::store::FORMAT_VERSION));
        let csv_dir = dir.join("csv");
        let store_dir = dir.join("store");
        if !dir.join("done").exists() {
            let _ = std::fs::remove_dir_all(&dir);
            chaintrace::synth::etl::write_world_etl(&csv_dir, Params::new(EVENTS, 7)).expect("write csv");
            chaintrace::synth::write_world_store(&store_dir, Params::new(EVENTS, 7)).expect("write store");
            std::fs::write(dir.join("done"), "").expect("marker");
        }
        let store = Store::open(&store_dir).expect("open store");
        let exploiter = format!(
            "0x{}",
            hex::encode(chaintrace::synth::world::World::new(Params::new(EVENTS, 7)).address(chaintrace::synth::world::Who::Exploiter))
        );
        World { csv: std::fs::read(csv_dir.join("transactions.csv")).expect("csv"), store, exploiter }
    })
}

fn spec(policy: Policy, evidence: bool, engine: Option<trace::Engine>) -> Spec {
    let w = world();
    Spec {
        policy,
        asset: 0,
        seeds: trace::resolve_seeds(&w.store, std::slice::from_ref(&w.exploiter), &[]).expect("seed").addresses,
        seed_txs: vec![],
        stop_at: STOPS.iter().map(|s| s.to_string()).collect(),
        max_hops: None,
        from_block: None,
        to_block: None,
        evidence,
        engine,
        clusters: None,
        budget: Default::default(),
    }
}

fn policy(name: &str) -> Policy {
    match name {
        "poison" => Policy::Poison,
        "haircut" => Policy::Haircut,
        _ => Policy::Fifo,
    }
}

/// Ingest: cutting a CSV file into records and fields.
#[divan::bench]
fn csv_split_fields(b: Bencher) {
    let csv = &world().csv;
    b.counter(BytesCount::new(csv.len())).bench(|| {
        let mut fields = Vec::new();
        let mut n = 0usize;
        for (line, _) in chaintrace::ingest::csv::records(csv, 1) {
            chaintrace::ingest::csv::split_record(line, &mut fields).expect("well-formed");
            n += fields.len();
        }
        n
    });
}

/// 4096 random values of `N` bytes as lowercase hex.
fn hex_texts<const N: usize>() -> Vec<Vec<u8>> {
    let mut r = chaintrace::synth::Rng::new(9);
    (0..4096).map(|_| hex::encode(std::array::from_fn::<u8, N, _>(|_| r.below(256) as u8)).into_bytes()).collect()
}

/// Ingest: hex of addresses (20 bytes) and hashes (32), by a lookup table.
#[divan::bench(consts = [20, 32])]
fn hex_table<const N: usize>(b: Bencher) {
    let texts = hex_texts::<N>();
    b.counter(ItemsCount::new(texts.len())).bench(|| {
        let mut out = [0u8; N];
        let mut acc = 0u8;
        for t in &texts {
            let ok = chaintrace::model::text::decode_hex(divan::black_box(t), &mut out);
            acc ^= out[N - 1] ^ u8::from(ok);
        }
        acc
    });
}

/// Ingest: the same hex by `hex::decode_to_slice`.
#[divan::bench(consts = [20, 32])]
fn hex_crate<const N: usize>(b: Bencher) {
    let texts = hex_texts::<N>();
    b.counter(ItemsCount::new(texts.len())).bench(|| {
        let mut out = [0u8; N];
        let mut acc = 0u8;
        for t in &texts {
            let ok = hex::decode_to_slice(divan::black_box(t), &mut out).is_ok();
            acc ^= out[N - 1] ^ u8::from(ok);
        }
        acc
    });
}

/// Ingest: a whole address field as the parsers read it (`0x`, length, hex).
#[divan::bench]
fn eth_address_field(b: Bencher) {
    let texts: Vec<Vec<u8>> = hex_texts::<20>().into_iter().map(|t| [b"0x".as_slice(), &t].concat()).collect();
    b.counter(ItemsCount::new(texts.len())).bench(|| {
        texts
            .iter()
            .map(|t| chaintrace::model::text::eth_address("to_address", divan::black_box(t)).map_or(0, |a| a[19]))
            .fold(0u8, |x, y| x ^ y)
    });
}

/// Ingest: interning 20-byte addresses into dense ids (a million, with repeats).
#[divan::bench]
fn intern_addresses(b: Bencher) {
    let mut r = chaintrace::synth::Rng::new(3);
    let keys: Vec<Addr> = (0..1_000_000)
        .map(|_| {
            let k = r.below(300_000);
            let mut a = [0u8; 20];
            a[..8].copy_from_slice(&k.to_le_bytes());
            a[12..].copy_from_slice(&k.wrapping_mul(0x9E37_79B9_7F4A_7C15).to_le_bytes());
            Addr::Eth(a)
        })
        .collect();
    b.counter(ItemsCount::new(keys.len())).bench(|| {
        let mut builder = chaintrace::store::builder::Builder::new(chaintrace::model::Chain::Ethereum);
        keys.iter().map(|a| builder.intern_addr(a)).max()
    });
}

/// Ingest: sorting events by their key, in parallel.
#[divan::bench]
fn sort_keys(b: Bencher) {
    use rayon::prelude::*;
    let mut r = chaintrace::synth::Rng::new(5);
    let keys: Vec<(u64, u64, u32)> = (0..1_000_000u32).map(|i| (r.below(10_000), r.next_u64(), i)).collect();
    b.counter(ItemsCount::new(keys.len())).with_inputs(|| keys.clone()).bench_local_values(|mut k| {
        k.par_sort_unstable();
        k
    });
}

/// Trace: one sweep per policy, the sparse shape the CLI uses.
#[divan::bench(args = ["poison", "haircut", "fifo"])]
fn sweep_sparse(b: Bencher, name: &str) {
    let s = spec(policy(name), false, None);
    let store = &world().store;
    b.counter(ItemsCount::new(store.len())).bench(|| trace::run_account(store, &s).expect("trace"));
}

/// Trace: one sweep per policy, the full shape (every event, its own balances).
#[divan::bench(args = ["poison", "haircut", "fifo"])]
fn sweep_full(b: Bencher, name: &str) {
    let s = spec(policy(name), false, Some(trace::Engine::Full));
    let store = &world().store;
    b.counter(ItemsCount::new(store.len())).bench(|| trace::run_account(store, &s).expect("trace"));
}

/// Trace: evidence paths (3 per destination) and the report around them.
#[divan::bench(args = ["haircut", "poison"])]
fn evidence_and_report(b: Bencher, name: &str) {
    let w = world();
    let s = spec(policy(name), true, None);
    let out = trace::run_account(&w.store, &s).expect("trace");
    b.counter(ItemsCount::new(out.destinations.len() + out.dormant.len())).bench(|| {
        chaintrace::report::build(&w.store, &s, &out, std::slice::from_ref(&w.exploiter), &[], chaintrace::report::Paths::all(3))
    });
}

/// Report: the JSON a script reads.
#[divan::bench]
fn report_json(b: Bencher) {
    let w = world();
    let s = spec(Policy::Haircut, true, None);
    let out = trace::run_account(&w.store, &s).expect("trace");
    let report = chaintrace::report::build(&w.store, &s, &out, std::slice::from_ref(&w.exploiter), &[], chaintrace::report::Paths::all(3));
    b.bench(|| serde_json::to_vec(&report).expect("json").len());
}
