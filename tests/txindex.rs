//! The transaction-hash index (`Store::find_tx`): every transaction hash of a
//! store is found and no other, after a first ingest, after an ingest that
//! appends (the index gains a run for the new transactions) and after a
//! label import (which leaves the index as it was).

use chaintrace::ingest::{self, Format, Options};
use chaintrace::model::Chain;
use chaintrace::store::{Column, Store};
use chaintrace::synth::Rng;
use std::path::Path;

/// Check the index of the store at `dir`; returns its transaction count.
fn check(dir: &Path) -> u64 {
    let s = Store::open(dir).unwrap();
    s.verify_all().unwrap();
    let n = s.manifest.tx_table;
    assert!(n > 0);
    let runs = &s.manifest.tx_runs;
    assert_eq!(runs.iter().map(|r| r.count).sum::<u64>(), n);
    assert_eq!(
        s.bytes(Column::TxHashIndex).len() as u64,
        runs.iter().map(|r| chaintrace::store::hashindex::slot_count(r.count) * 4).sum::<u64>()
    );
    for id in 0..n as u32 {
        assert_eq!(s.find_tx(s.tx_hash(id)), Some(id), "transaction {}", s.tx_text(id));
    }
    // Hashes that are not in the store: random ones, and each of the first
    // hundred with one bit flipped.
    // (Far from the small seeds the generators derive hashes from.)
    let mut rng = Rng::new(0x5EED_0000_0000_0099);
    for _ in 0..2000 {
        let mut h = [0u8; 32];
        h.chunks_mut(8).for_each(|c| c.copy_from_slice(&rng.next_u64().to_le_bytes()));
        assert_eq!(s.find_tx(&h), None);
    }
    for id in 0..(n as u32).min(100) {
        let mut h: [u8; 32] = s.tx_hash(id).try_into().unwrap();
        h[(id % 32) as usize] ^= 1 << (id % 8);
        assert_eq!(s.find_tx(&h), None);
    }
    assert_eq!(s.find_tx(&[0u8; 32]), None);
    assert_eq!(s.find_tx(&s.tx_hash(0)[..31]), None);
    n
}

#[test]
fn every_transaction_is_found_after_ingest_append_and_label_import() {
    let t = tempfile::tempdir().unwrap();
    let params = chaintrace::synth::world::Params::new(50_000, 5);
    let part =
        |k: usize, window| chaintrace::synth::etl::write_world_etl_part(&t.path().join(format!("p{k}")), params.clone(), window).unwrap();
    // The second part under half the first: its run stays apart (runs of
    // comparable size merge, see the tiered rule).
    let (first, second) = (part(0, 0..30_000), part(1, 30_000..40_000));
    let st = t.path().join("store");
    let opts = Options::new(Chain::Ethereum, Format::Etl);
    ingest::ingest(&st, &first.files[..3], &opts).unwrap();
    let n1 = check(&st);
    assert_eq!(n1, first.transactions);
    ingest::ingest(&st, &second.files[..3], &opts).unwrap();
    let n2 = check(&st);
    assert_eq!(n2, first.transactions + second.transactions);
    // The first part's transactions keep their ids and their run; the
    // second part's are a run of their own.
    let s = Store::open(&st).unwrap();
    assert_eq!(s.manifest.tx_runs.iter().map(|r| r.count).collect::<Vec<_>>(), vec![first.transactions, second.transactions]);
    let before = s.bytes(Column::TxHashIndex).to_vec();
    drop(s);
    let labels = chaintrace::labels::read_csv(&second.files[3], Chain::Ethereum).unwrap();
    chaintrace::labels::save(&st, &labels).unwrap();
    let s = Store::open(&st).unwrap();
    assert!(s.manifest.labels > 0);
    assert_eq!(s.bytes(Column::TxHashIndex), &before[..]);
    assert_eq!(check(&st), n2);
    drop(s);
    // A third part, as large as the second: the runs merge by tiers (here
    // all three into one table), and every transaction is still found.
    let third = part(2, 40_000..u64::MAX);
    ingest::ingest(&st, &third.files[..3], &opts).unwrap();
    assert_eq!(check(&st), n2 + third.transactions);
    let s = Store::open(&st).unwrap();
    let runs: Vec<u64> = s.manifest.tx_runs.iter().map(|r| r.count).collect();
    assert_eq!(runs.iter().sum::<u64>(), n2 + third.transactions);
    assert!(runs.len() < 3, "the third run merged: {runs:?}");
}

#[test]
fn every_bitcoin_transaction_is_found() {
    let t = tempfile::tempdir().unwrap();
    let truth = chaintrace::synth::utxo::write_store(t.path(), chaintrace::synth::utxo::Params::for_inputs(5_000, 3)).unwrap();
    assert_eq!(check(t.path()), truth.transactions);
}

#[test]
fn a_store_without_transactions_finds_none() {
    let t = tempfile::tempdir().unwrap();
    chaintrace::synth::write_store(t.path(), 5_000, 1).unwrap();
    let s = Store::open(t.path()).unwrap();
    s.verify_all().unwrap();
    assert_eq!(s.manifest.tx_table, 0);
    assert!(s.bytes(Column::TxHashIndex).is_empty());
    assert_eq!(s.find_tx(&[1u8; 32]), None);
}
