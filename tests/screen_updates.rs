//! Incremental screening (issue 20 part 3, ADR 0021): after an append the
//! exposure index is updated from the new events, not rebuilt, and is equal
//! to a rebuild to the wei: random stores cut into random appends, every
//! address and category compared after each, through deltas and folds, with
//! labels that apply for a while, addresses that appear late and values
//! past 64 bits.

mod common;
use chaintrace::labels::Label;
use chaintrace::screen::{self, CategorySet, index::Index, sweep};
use chaintrace::store::Store;
use chaintrace::synth::Rng;
use common::*;
use std::path::Path;

fn addr(k: usize) -> String {
    format!("0x{:040x}", k + 1)
}

const T0: i64 = 1_600_000_000;

/// `n` random transfers, one a block; address `k` first appears near
/// event `k * n / n_addr`, so appends bring new addresses.
fn rows(rng: &mut Rng, n_addr: usize, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            let known = (1 + i * n_addr / n).clamp(2, n_addr) as u64;
            let from = rng.below(known) as usize;
            let to = if rng.below(12) == 0 { from } else { rng.below(known.min(n_addr as u64 - 1) + 1) as usize };
            let value: u128 = match rng.below(14) {
                0 => 0,
                1 => 10u128.pow(24) + u128::from(rng.below(1 << 40)),
                _ => u128::from(rng.below(5000) + 1),
            };
            format!("{},{},{},{},{}\n", 1000 + i, T0 + 12 * i as i64, addr(from), addr(to), value)
        })
        .collect()
}

fn write_part(dir: &Path, k: usize, rows: &[String]) -> std::path::PathBuf {
    let f = dir.join(format!("part{k}.csv"));
    std::fs::write(&f, format!("block_number,block_timestamp,from_address,to_address,value\n{}", rows.concat())).unwrap();
    f
}

fn append(st: &Path, f: &Path) {
    let o = ingest(st, "ethereum", "transfers", &["--no-progress"], &[f]);
    assert_eq!(o.code, 0, "{}", o.stderr);
}

/// The index and a fresh sweep agree on everything an answer or a later
/// update reads: per address, `received` and every exposure; the sweep's
/// end state; the seed rules; the entry count.
fn same(store: &Store, ix: &Index, x: &sweep::Exposures, what: &str) {
    let n = store.address_count();
    assert_eq!(ix.meta.addresses, n as u64, "{what}");
    assert_eq!(ix.meta.events, store.len() as u64, "{what}");
    let mut entries = 0;
    for id in 0..n as u32 {
        assert_eq!(ix.received(id), x.received[id as usize], "{what}: received of {id}");
        let pred = |k: u16| ix.pred(id, k).unwrap_or(u64::MAX);
        let got: Vec<_> = ix.exposures(id).iter().map(|e| (e.category, e.amount, e.direct, e.hops, e.first_in, pred(e.category))).collect();
        let want: Vec<_> = x.by_address[id as usize].iter().map(|e| (e.category, e.amount, e.direct, e.hops, e.first_in, e.pred)).collect();
        assert_eq!(got, want, "{what}: exposures of {id}");
        entries += want.len() as u64;
        if id as usize >= chaintrace::model::Pseudo::ALL.len() {
            assert_eq!(ix.lookup_text(store, store.address_bytes(id)), Some(id), "{what}: lookup of {id}");
        }
    }
    assert_eq!(ix.meta.entries, entries, "{what}");
    let state = x.state.as_ref().expect("a single sweep keeps its state");
    let mut pools: Vec<_> = ix.all_pools().collect();
    pools.sort_by_key(|p| (p.id, p.category));
    assert_eq!(pools, state.pools, "{what}: pools");
    assert_eq!(ix.seed_balances(), &state.seed_balances[..], "{what}: seed balances");
    let mut outputs: Vec<_> = ix.all_outputs().collect();
    outputs.sort_by_key(|o| (o.output, o.category));
    assert_eq!(outputs, state.outputs, "{what}: tainted outputs");
    let seeds: Vec<_> = ix.seeds().iter().map(|r| (r.id, r.category, r.from, r.to)).collect();
    let mut want: Vec<_> =
        x.seeds.iter().flat_map(|(&id, v)| v.iter().map(move |r| (id, r.0, r.1.unwrap_or(i64::MIN), r.2.unwrap_or(i64::MAX)))).collect();
    want.sort();
    assert_eq!(seeds, want, "{what}: seed rules");
}

/// `held` taken to the store's live generation one of three ways (the
/// older index found on disk; the one held open, as `serve` holds it,
/// which must stay a delta when `held_stays_delta`; an update folding past
/// a random bound below `fold_below`), then compared with a rebuild's
/// `whole`, as written and as a later process reopens it. `counts`:
/// (deltas, folds).
fn take_up_and_compare(
    store: &Store,
    cats: &CategorySet,
    held: &Index,
    whole: &sweep::Exposures,
    (rng, fold_below, held_stays_delta): (&mut Rng, u64, bool),
    counts: &mut (usize, usize),
    what: &str,
) -> Index {
    let ix = match rng.below(3) {
        0 => screen::open_or_build(store, 0, cats).unwrap().0,
        1 => {
            let ix = screen::open_or_update(store, 0, cats, Some(held)).unwrap().0;
            assert!(ix.has_delta() || !held_stays_delta, "{what}: an index held open was folded");
            ix
        }
        _ => screen::update(store, 0, cats, held, rng.below(fold_below)).unwrap(),
    };
    if ix.has_delta() {
        counts.0 += 1;
    } else {
        counts.1 += 1;
    }
    same(store, &ix, whole, what);
    let reopened = screen::open_fresh(store, 0, cats).expect("the update is on disk for this generation");
    same(store, &reopened, whole, &format!("{what}, reopened"));
    ix
}

#[test]
fn updates_after_random_appends_equal_a_rebuild_to_the_wei() {
    let cats = CategorySet::new(["sanctioned", "hack", "mixer"]);
    let mut rng = Rng::new(20);
    let (mut counts, mut moved) = ((0, 0), 0u128);
    for round in 0..24 {
        let t = tempfile::tempdir().unwrap();
        let n_addr = 8 + rng.below(40) as usize;
        let n = 150 + rng.below(500) as usize;
        let all = rows(&mut rng, n_addr, n);
        // Cuts at random events: each event is its own block, so every part is a pure append.
        let mut cuts: Vec<usize> = (0..1 + rng.below(5)).map(|_| 1 + rng.below(n as u64 - 1) as usize).collect();
        cuts.extend([0, n]);
        cuts.sort();
        cuts.dedup();
        let st = t.path().join("s");
        append(&st, &write_part(t.path(), 0, &all[cuts[0]..cuts[1]]));
        // Labels, some on addresses that appear only in later parts, some for a while only.
        let mut labels = Vec::new();
        for k in 0..n_addr {
            for c in ["sanctioned", "hack", "mixer", "exchange", "defi"] {
                if rng.below(10) == 0 {
                    let (from, to) = match rng.below(4) {
                        0 => (Some(T0 + 12 * rng.below(n as u64) as i64), None),
                        1 => (None, Some(T0 + 12 * rng.below(n as u64) as i64)),
                        _ => (None, None),
                    };
                    labels.push(Label {
                        address: addr(k),
                        category: c.into(),
                        source: "csv".into(),
                        valid_from: from,
                        valid_to: to,
                        ..Default::default()
                    });
                }
            }
        }
        chaintrace::labels::save(&st, &labels).unwrap();
        let store = Store::open(&st).unwrap();
        let (mut held, built) = screen::open_or_build(&store, 0, &cats).unwrap();
        assert!(built && !held.has_delta());
        for (k, w) in cuts.windows(2).enumerate().skip(1) {
            append(&st, &write_part(t.path(), k, &all[w[0]..w[1]]));
            let store = Store::open(&st).unwrap();
            assert!(screen::can_take_up(&store, 0, &cats, &held), "round {round} part {k}: a pure append is taken up");
            let whole = sweep::sweep(&store, 0, &cats, &chaintrace::labels::load(&store)).unwrap();
            // Held open, no update here touches 1,024 addresses: never folded.
            let ix =
                take_up_and_compare(&store, &cats, &held, &whole, (&mut rng, 12, true), &mut counts, &format!("round {round} part {k}"));
            moved += (0..store.address_count() as u32).flat_map(|id| whole.by_address[id as usize].iter().map(|e| e.amount)).sum::<u128>();
            held = ix;
        }
    }
    let (deltas, folds) = counts;
    eprintln!("deltas {deltas} folds {folds} moved {moved}");
    assert!(deltas > 10 && folds > 5, "both deltas ({deltas}) and folds ({folds}) were compared");
    assert!(moved > 0);
}

/// What cannot be taken up is rebuilt: a splice (rows reaching back), a
/// label import, other categories; and an index written by the sweep
/// across processes or over bridges is never taken up.
#[test]
fn splices_and_label_imports_rebuild() {
    let cats = CategorySet::new(["hack", "mixer"]);
    let mut rng = Rng::new(21);
    let t = tempfile::tempdir().unwrap();
    let all = rows(&mut rng, 20, 400);
    let st = t.path().join("s");
    append(&st, &write_part(t.path(), 0, &all[..200]));
    let labels = vec![
        Label { address: addr(0), category: "hack".into(), source: "csv".into(), ..Default::default() },
        Label { address: addr(3), category: "exchange".into(), source: "csv".into(), ..Default::default() },
    ];
    chaintrace::labels::save(&st, &labels).unwrap();
    let (held, _) = screen::open_or_build(&Store::open(&st).unwrap(), 0, &cats).unwrap();
    // An append: taken up.
    append(&st, &write_part(t.path(), 1, &all[200..300]));
    let store = Store::open(&st).unwrap();
    assert!(screen::can_take_up(&store, 0, &cats, &held));
    assert!(!screen::can_take_up(&store, 0, &CategorySet::new(["hack"]), &held), "other categories");
    let (held, written) = screen::open_or_build(&store, 0, &cats).unwrap();
    assert!(written && held.has_delta());
    // Damage in what an update carries on (a pool) is found by its checksum: rebuilt, not copied on.
    append(&st, &write_part(t.path(), 3, &all[300..320]));
    let store = Store::open(&st).unwrap();
    let (base, _) = screen::index::delta_paths_for(&Store::open(&st).unwrap(), "ETH");
    let older: Vec<std::path::PathBuf> = std::fs::read_dir(st.join("exposure"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "base"))
        .collect();
    assert_eq!(older.len(), 1, "{older:?}");
    assert_ne!(older[0], base);
    let mut bytes = std::fs::read(&older[0]).unwrap();
    let len = u64::from_le_bytes(bytes[8..16].try_into().unwrap()) as usize;
    let meta: serde_json::Value = serde_json::from_slice(&bytes[16..16 + len]).unwrap();
    let pools = meta["sections"][6]["offset"].as_u64().unwrap() as usize;
    assert!(meta["sections"][6]["bytes"].as_u64().unwrap() >= 32, "the base holds pools");
    bytes[pools] ^= 1;
    // Written aside and renamed: a new file, as a damaged disk would show it to a new process.
    std::fs::write(older[0].with_extension("damaged"), &bytes).unwrap();
    std::fs::rename(older[0].with_extension("damaged"), &older[0]).unwrap();
    let (ix, made) = screen::open_or_update(&store, 0, &cats, None).unwrap();
    assert_eq!(made, screen::Made::Built, "a damaged pool was taken up");
    same(&store, &ix, &sweep::sweep(&store, 0, &cats, &chaintrace::labels::load(&store)).unwrap(), "after a damaged pool");
    let held = ix;
    // Rows reaching back before the store's last block splice it: a new line of events.
    let late: Vec<String> =
        (250..260).map(|i| format!("{},{},{},{},{}\n", 1000 + i, T0 + 12 * i as i64, addr(0), addr(7), 7 + i)).collect();
    append(&st, &write_part(t.path(), 2, &late));
    let store = Store::open(&st).unwrap();
    assert!(!screen::can_take_up(&store, 0, &cats, &held), "a splice rewrote events the index was swept over");
    let (ix, _) = screen::open_or_build(&store, 0, &cats).unwrap();
    assert!(!ix.has_delta(), "rebuilt");
    same(&store, &ix, &sweep::sweep(&store, 0, &cats, &chaintrace::labels::load(&store)).unwrap(), "after the splice");
    // A label import: the sweep's past decisions change, so it is rebuilt.
    chaintrace::labels::save(&st, &[Label { address: addr(5), category: "mixer".into(), source: "csv".into(), ..Default::default() }])
        .unwrap();
    let store = Store::open(&st).unwrap();
    assert!(!screen::can_take_up(&store, 0, &cats, &ix), "new labels");
    let (ix, _) = screen::open_or_build(&store, 0, &cats).unwrap();
    assert!(!ix.has_delta());
    same(&store, &ix, &sweep::sweep(&store, 0, &cats, &chaintrace::labels::load(&store)).unwrap(), "after the label import");
}

/// The real Bitcoin block 702861 cut at random transactions into blocks
/// appended one by one (the outputs a later part spends were made in an
/// earlier one), addresses that are paid and spend again in it labelled:
/// each update equals a rebuild to the satoshi.
#[test]
fn bitcoin_updates_after_appended_blocks_equal_a_rebuild() {
    let n_tx = std::fs::read_to_string(data("bitcoin-mainnet-block-702861/transactions.csv")).unwrap().lines().count() - 1;
    let cats = CategorySet::new(["hack", "sanctioned", "mixer"]);
    let mut rng = Rng::new(22);
    let (mut counts, mut tainted) = ((0, 0), 0);
    for round in 0..6 {
        let t = tempfile::tempdir().unwrap();
        let mut cuts: Vec<usize> = (0..2 + rng.below(3)).map(|_| 1 + rng.below(n_tx as u64 - 1) as usize).collect();
        cuts.extend([0, n_tx]);
        cuts.sort();
        cuts.dedup();
        let paths = bitcoin_block_parts(t.path(), &cuts);
        let st = t.path().join("s");
        let btc = |files: &[std::path::PathBuf]| {
            let refs: Vec<&Path> = files.iter().map(std::path::PathBuf::as_path).collect();
            let o = ingest(&st, "bitcoin", "etl", &["--no-progress"], &refs);
            assert_eq!(o.code, 0, "{}", o.stderr);
        };
        btc(&paths[0]);
        // Label addresses of the whole block that are paid and spend again in it (some not yet in the store).
        {
            let whole = t.path().join("whole");
            let all = paths.concat();
            let refs: Vec<&Path> = all.iter().map(|p| p.as_path()).collect();
            assert_eq!(ingest(&whole, "bitcoin", "etl", &["--no-progress"], &refs).code, 0);
            let store = Store::open(&whole).unwrap();
            let ev = store.events();
            let paid: std::collections::BTreeSet<u32> = (0..store.len()).map(|i| ev.receiver(i)).collect();
            let again: std::collections::BTreeSet<u32> = (0..store.len()).map(|i| ev.sender(i)).filter(|a| paid.contains(a)).collect();
            let mut labels: Vec<Label> = Vec::new();
            for &a in &again {
                if rng.below(3) == 0 {
                    let c = ["hack", "sanctioned", "mixer", "exchange"][rng.below(4) as usize];
                    labels.push(Label { address: store.address_text(a), category: c.into(), source: "csv".into(), ..Default::default() });
                }
            }
            assert!(labels.len() > 3);
            chaintrace::labels::save(&st, &labels).unwrap();
        }
        let store = Store::open(&st).unwrap();
        let (mut held, built) = screen::open_or_build(&store, 0, &cats).unwrap();
        assert!(built);
        for (k, files) in paths.iter().enumerate().skip(1) {
            btc(files);
            let store = Store::open(&st).unwrap();
            assert!(screen::can_take_up(&store, 0, &cats, &held), "round {round} part {k}");
            let whole = screen::utxo::sweep(&store, &cats, &chaintrace::labels::load(&store)).unwrap();
            // A part may touch more than 1,024 addresses: held open, it may fold.
            let ix = take_up_and_compare(
                &store,
                &cats,
                &held,
                &whole,
                (&mut rng, 4000, false),
                &mut counts,
                &format!("Bitcoin round {round} part {k}"),
            );
            tainted += whole.state.as_ref().unwrap().outputs.len();
            held = ix;
        }
    }
    let (deltas, folds) = counts;
    eprintln!("Bitcoin: deltas {deltas} folds {folds} tainted outputs {tainted}");
    assert!(deltas > 2 && folds > 0 && tainted > 0, "deltas {deltas}, folds {folds}, tainted outputs {tainted}");
}

/// An index of events that were replaced (a rolled-back ingest, then
/// other rows in their place, under the same generation number) is never
/// trusted: two stores share their first part, then each appends as many
/// other events; the one's index files laid into the other's directory are
/// refused there, and the other's own older index is taken up instead.
#[test]
fn an_index_of_events_since_replaced_is_refused() {
    let cats = CategorySet::new(["hack", "mixer"]);
    let mut rng = Rng::new(23);
    let t = tempfile::tempdir().unwrap();
    let all = rows(&mut rng, 20, 300);
    let a = t.path().join("a");
    append(&a, &write_part(t.path(), 0, &all[..200]));
    let labels = vec![
        Label { address: addr(0), category: "hack".into(), source: "csv".into(), ..Default::default() },
        Label { address: addr(1), category: "mixer".into(), source: "csv".into(), ..Default::default() },
    ];
    chaintrace::labels::save(&a, &labels).unwrap();
    screen::open_or_build(&Store::open(&a).unwrap(), 0, &cats).unwrap();
    let b = t.path().join("b");
    assert!(std::process::Command::new("cp").args(["-a", a.to_str().unwrap(), b.to_str().unwrap()]).status().unwrap().success());
    // As many new events each, other values.
    append(&a, &write_part(t.path(), 1, &all[200..300]));
    let other: Vec<String> =
        (200..300).map(|i| format!("{},{},{},{},{}\n", 1000 + i, T0 + 12 * i as i64, addr(0), addr(i % 20), 1 + i)).collect();
    append(&b, &write_part(t.path(), 2, &other));
    let (sa, sb) = (Store::open(&a).unwrap(), Store::open(&b).unwrap());
    assert_eq!((sa.len(), sa.gen_dir.file_name()), (sb.len(), sb.gen_dir.file_name()), "the same count under the same generation");
    let (ia, made) = screen::open_or_update(&sa, 0, &cats, None).unwrap();
    assert_eq!(made, screen::Made::Updated);
    assert!(!screen::can_take_up(&sb, 0, &cats, &ia), "a's events are not b's");
    // a's files for the generation, laid into b's directory.
    for e in std::fs::read_dir(a.join("exposure")).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), b.join("exposure").join(e.file_name())).unwrap();
    }
    assert!(screen::open_fresh(&sb, 0, &cats).is_none(), "a's index is refused for b");
    let (ib, _) = screen::open_or_build(&sb, 0, &cats).unwrap();
    same(&sb, &ib, &sweep::sweep(&sb, 0, &cats, &chaintrace::labels::load(&sb)).unwrap(), "b after a's files");
}
