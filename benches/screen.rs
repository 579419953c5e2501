//! Screening throughput: the exposure index of 10^7 addresses.
//!
//! `cargo bench --bench screen` writes (once, under the target directory) a
//! store of 10^7 transfers that pay 10^7 fresh addresses from earlier ones,
//! a hundred of the first addresses labelled sanctioned, hack or mixer, and
//! an exchange; builds the exposure index (timed), then times on one core:
//! batch lookups of 10^7 addresses (half in the data, half not), and full
//! screening answers (risk level, amounts, evidence paths) of 10^6.
//! `CHAINTRACE_BENCH_ADDRESSES` for another size.
//!
//! Then the same for a Bitcoin store (issue 20): a synthetic chain of
//! `CHAINTRACE_BENCH_BITCOIN_INPUTS` inputs (default 10^7; written once by
//! `chaintrace::synth::utxo`), a hundred of its addresses labelled, its
//! index built, and batch lookups of addresses given as text (half in the
//! data, half well-formed addresses that are not): each hashed to its key,
//! probed, and compared with the store's text.

use chaintrace::model::amount::Amount;
use chaintrace::model::{Addr, Chain, sub};
use chaintrace::screen::{self, CategorySet};
use chaintrace::store::Store;
use chaintrace::store::builder::Builder;
use chaintrace::synth::Rng;
use std::path::PathBuf;
use std::time::Instant;

fn key(k: u64) -> [u8; 20] {
    let mut r = Rng::new(k ^ 0x5eed);
    let mut a = [0u8; 20];
    a[..8].copy_from_slice(&r.next_u64().to_le_bytes());
    a[8..16].copy_from_slice(&r.next_u64().to_le_bytes());
    a[16..].copy_from_slice(&r.next_u64().to_le_bytes()[..4]);
    a
}

fn write_store(dir: &std::path::Path, n: u64) {
    let mut rng = Rng::new(3);
    let mut b = Builder::new(Chain::Ethereum);
    b.reserve(n as usize, 0);
    let mut ids: Vec<chaintrace::model::ids::AddrId> = Vec::with_capacity(n as usize + 1);
    ids.push(b.intern_addr(&Addr::Eth(key(0))));
    for i in 1..=n {
        // Pay a new address from an earlier one; recent ones are likelier
        // payers, as fresh intermediaries are on a real chain.
        let from = if rng.below(2) == 0 {
            ids[rng.below(ids.len() as u64) as usize]
        } else {
            ids[ids.len() - 1 - rng.below(ids.len().min(1000) as u64) as usize]
        };
        let to = b.intern_addr(&Addr::Eth(key(i)));
        ids.push(to);
        let block = 15_000_000 + i / 150;
        let time = 1_650_000_000 + (i / 150) as i64 * 12;
        b.push(
            block,
            time,
            (i % 150) as u32 + 1,
            sub::TOP,
            from,
            to,
            chaintrace::model::ids::AssetId::from_stored(0),
            Amount::from_u128(u128::from(rng.below(1 << 40) + 1) * 1_000_000),
            chaintrace::model::ids::TxId::NONE,
            0,
        );
    }
    b.write(dir).expect("write store");
    let cats = ["sanctioned", "hack", "mixer", "exchange"];
    let labels: Vec<chaintrace::labels::Label> = (0..100u64)
        .map(|k| chaintrace::labels::Label {
            address: format!("0x{}", hex::encode(key(k * 7))),
            category: cats[k as usize % 4].into(),
            source: "csv:bench".into(),
            confidence: 100,
            ..Default::default()
        })
        .collect();
    chaintrace::labels::save(dir, &labels).expect("labels");
}

/// The Bitcoin part: lookups of addresses as text.
fn bitcoin() {
    let inputs: u64 = std::env::var("CHAINTRACE_BENCH_BITCOIN_INPUTS").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000_000);
    if inputs == 0 {
        return;
    }
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("bench-screen-btc-{inputs}"));
    if !chaintrace::store::exists(&dir) || Store::open(&dir).is_err() {
        let t = Instant::now();
        let _ = std::fs::remove_dir_all(&dir);
        chaintrace::synth::utxo::write_store(&dir, chaintrace::synth::utxo::Params::for_inputs(inputs, 1))
            .expect("write the Bitcoin store");
        let store = Store::open(&dir).expect("open");
        let cats = ["sanctioned", "hack", "mixer", "exchange"];
        let step = (store.address_count() / 100).max(1);
        let labels: Vec<chaintrace::labels::Label> = (0..100usize)
            .filter(|k| k * step < store.address_count())
            .map(|k| chaintrace::labels::Label {
                address: store.address_text((k * step) as u32),
                category: cats[k % 4].into(),
                source: "csv:bench".into(),
                confidence: 100,
                ..Default::default()
            })
            .collect();
        drop(store);
        chaintrace::labels::save(&dir, &labels).expect("labels");
        eprintln!("wrote a Bitcoin store of {inputs} inputs in {:.1}s", t.elapsed().as_secs_f64());
    }
    let store = Store::open(&dir).expect("open");
    let _ = std::fs::remove_dir_all(dir.join("exposure"));
    let t = Instant::now();
    let (ix, _) = screen::open_or_build(&store, 0, &CategorySet::default_set()).expect("index");
    let build = t.elapsed().as_secs_f64();
    let n_addr = store.address_count();
    println!(
        "bitcoin screen bench: {} events, {n_addr} addresses; index built in {build:.2}s ({:.1} M events/s), {} exposure entries",
        store.len(),
        store.len() as f64 / build / 1e6,
        ix.meta.entries
    );
    // As many lookups as addresses (at least 10^6): half of addresses in
    // the data, half of bech32 addresses that are not, in random order.
    let n = n_addr.max(1_000_000);
    let mut rng = Rng::new(11);
    let texts: Vec<String> = (0..n)
        .map(|i| {
            if i % 2 == 0 {
                store.address_text(rng.below(n_addr as u64) as u32)
            } else {
                format!("bc1q{:038x}", rng.next_u64() as u128 * u128::from(rng.next_u64()))
            }
        })
        .collect();
    let mut out = Vec::new();
    ix.lookup_text_batch(&store, &texts, &mut out);
    let mut best = f64::MAX;
    for run in 1..=3 {
        let t = Instant::now();
        ix.lookup_text_batch(&store, &texts, &mut out);
        let secs = t.elapsed().as_secs_f64();
        best = best.min(secs);
        let found = out.iter().filter(|x| x.is_some()).count();
        println!(
            "bitcoin run {run}: {n} lookups of text in {secs:.3}s, {:.1} M lookups/s on one core ({found} found)",
            n as f64 / secs / 1e6
        );
    }
    // Its parts: the keys alone, and the probes alone.
    let t = Instant::now();
    let keys: Vec<[u8; 20]> = texts.iter().map(|x| screen::index::text_key(Chain::Bitcoin, x.as_bytes()).expect("a key")).collect();
    let hashing = t.elapsed().as_secs_f64();
    let t = Instant::now();
    ix.lookup_batch(&keys, &mut out);
    let probing = t.elapsed().as_secs_f64();
    println!(
        "bitcoin parts: keys {:.1} M/s, probes {:.1} M/s, the rest (text compares) {:.3}s",
        n as f64 / hashing / 1e6,
        n as f64 / probing / 1e6,
        best - hashing - probing
    );
    println!("bitcoin best: {:.1} M lookups/s per core (hash, probe and text compare; the texts made beforehand)", n as f64 / best / 1e6);
}

fn main() {
    let n: u64 = std::env::var("CHAINTRACE_BENCH_ADDRESSES").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000_000);
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("bench-screen-{n}"));
    // A store kept from an earlier run of another format is written anew.
    if !chaintrace::store::exists(&dir) || chaintrace::store::Store::open(&dir).is_err() {
        let t = Instant::now();
        let _ = std::fs::remove_dir_all(&dir);
        write_store(&dir, n);
        eprintln!("wrote a store of {n} transfers in {:.1}s", t.elapsed().as_secs_f64());
    }
    // Addresses for the HTTP load test (benches/serve.sh): half in the data,
    // half not, shuffled.
    let sample = dir.join("addresses.txt");
    if !sample.exists() {
        let mut rng = Rng::new(17);
        let mut text = String::new();
        for i in 0..100_000u64 {
            let k = if i % 2 == 0 { rng.below(n + 1) } else { n + 1 + rng.below(1 << 40) };
            text += &format!("0x{}\n", hex::encode(key(k)));
        }
        std::fs::write(&sample, text).expect("write the address sample");
    }
    let store = Store::open(&dir).expect("open");
    store.verify().expect("verify");
    let _ = std::fs::remove_dir_all(dir.join("exposure"));
    let cats = CategorySet::default_set();
    let t = Instant::now();
    let (ix, _) = screen::open_or_build(&store, 0, &cats).expect("index");
    let build = t.elapsed().as_secs_f64();
    let path = screen::index::path_for(&store, "ETH");
    let bytes = std::fs::metadata(&path).map_or(0, |m| m.len());
    println!(
        "screen bench: {} events, {} addresses; index built in {build:.2}s ({:.1} M events/s), {:.0} MiB on disk ({:.1} B/address), {} exposure entries",
        store.len(),
        store.address_count(),
        store.len() as f64 / build / 1e6,
        bytes as f64 / 1048576.0,
        bytes as f64 / store.address_count() as f64,
        ix.meta.entries
    );
    // Half known addresses, half unknown, in random order.
    let mut rng = Rng::new(9);
    let keys: Vec<[u8; 20]> = (0..n).map(|i| if i % 2 == 0 { key(rng.below(n + 1)) } else { key(n + 1 + rng.below(1 << 40)) }).collect();
    // Fault the index in once so the runs time lookups, not the disk.
    let mut out = Vec::new();
    ix.lookup_batch(&keys, &mut out);
    let mut best = f64::MAX;
    for run in 1..=3 {
        let t = Instant::now();
        ix.lookup_batch(&keys, &mut out);
        let secs = t.elapsed().as_secs_f64();
        best = best.min(secs);
        let found = out.iter().filter(|x| x.is_some()).count();
        println!("run {run}: {n} lookups in {secs:.3}s, {:.1} M lookups/s on one core ({found} found)", n as f64 / secs / 1e6);
    }
    let t = Instant::now();
    let found = keys.iter().filter(|k| ix.lookup(k).is_some()).count();
    println!("one at a time: {:.1} M lookups/s ({found} found)", n as f64 / t.elapsed().as_secs_f64() / 1e6);
    // Full answers: exposure rows, risk levels and evidence paths.
    let risk = screen::risk::RiskConfig::default();
    let s = screen::answer::Screener { store: &store, index: &ix, risk: &risk };
    let m = (n / 10).max(1) as usize;
    let t = Instant::now();
    let a = s.screen(&keys[..m]);
    let secs = t.elapsed().as_secs_f64();
    let exposed = a.results.iter().filter(|r| !r.exposure.is_empty()).count();
    let steps: usize = a.results.iter().flat_map(|r| r.exposure.iter()).map(|e| e.path.len()).sum();
    println!("answers: {m} in {secs:.3}s, {:.2} M answers/s ({exposed} exposed, {steps} evidence steps)", m as f64 / secs / 1e6);
    println!(
        "best: {:.1} M lookups/s per core; peak memory {:.0} MiB (the mapped store and index included)",
        n as f64 / best / 1e6,
        chaintrace::sys::peak_rss_bytes().unwrap_or(0) as f64 / 1048576.0
    );
    bitcoin();
}
