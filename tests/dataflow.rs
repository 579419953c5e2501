//! Sweeps on timely-dataflow (issue 17): on random stores, poison from
//! address seeds computed by 1, 2 and 3 workers in one process and by 2
//! and 3 processes over loopback (1 and 2 workers each) taints exactly the
//! events the single-process sweep taints, at the same hops, exchanges
//! (some labelled for a while only) absorbing, with seed transactions and
//! block windows now and then.

mod common;
use chaintrace::dataflow::{Workers, poison};
use chaintrace::store::Store;
use chaintrace::synth::Rng;
use chaintrace::trace::{self, Policy, Spec};
use common::*;
use std::collections::BTreeSet;

fn addr(k: u64) -> String {
    format!("0x{:040x}", k + 1)
}

/// A store of `n` transfers among `n_addr` addresses, several a block,
/// some self-transfers and zero values.
fn random_store(dir: &std::path::Path, rng: &mut Rng, n_addr: u64, n: u64) -> std::path::PathBuf {
    let f = dir.join("t.csv");
    let mut s = String::from("block_number,block_timestamp,transaction_hash,log_index,from_address,to_address,value\n");
    for i in 0..n {
        let from = rng.below(n_addr);
        let to = if rng.below(12) == 0 { from } else { rng.below(n_addr) };
        let value = if rng.below(15) == 0 { 0 } else { rng.below(1000) + 1 };
        let block = 1000 + i / 3;
        // Now and then a payment to the fees' pseudo-address, which the
        // sweeps across workers treat apart.
        let to = if rng.below(10) == 0 { "(fees)".to_string() } else { addr(to) };
        s += &format!("{block},{},0x{:064x},0,{},{},{}\n", 1_600_000_000 + 12 * block as i64, i + 1, addr(from), to, value);
    }
    std::fs::write(&f, s).unwrap();
    let st = dir.join("s");
    assert_eq!(ingest(&st, "ethereum", "transfers", &[], &[&f]).code, 0);
    st
}

/// Free loopback addresses for `p` processes.
fn hosts(p: usize) -> Vec<std::net::SocketAddr> {
    let ls: Vec<std::net::TcpListener> = (0..p).map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap()).collect();
    ls.iter().map(|l| l.local_addr().unwrap()).collect()
}

/// A random case: a store, its seeds, and stops (exchanges, some labelled
/// for a while only).
fn random_case(dir: &std::path::Path, rng: &mut Rng, max_addr: u64) -> (std::path::PathBuf, Store, u64, Vec<u32>, Vec<String>) {
    let n_addr = 5 + rng.below(max_addr);
    let n = 20 + rng.below(300);
    let st = random_store(dir, rng, n_addr, n);
    let store = Store::open(&st).unwrap();
    let seeds: Vec<u32> =
        (0..1 + rng.below(2)).filter_map(|_| store.find_address(&addr(rng.below(n_addr)))).collect::<BTreeSet<_>>().into_iter().collect();
    let exchanges: Vec<chaintrace::labels::Label> = (0..rng.below(4))
        .map(|_| {
            let bounded = rng.below(3) == 0;
            chaintrace::labels::Label {
                address: addr(rng.below(n_addr)),
                category: "exchange".into(),
                valid_from: bounded.then_some(1_600_000_000 + 12 * 1000 + 12 * rng.below(n / 3 + 1) as i64),
                ..Default::default()
            }
        })
        .collect();
    chaintrace::labels::save(&st, &exchanges).unwrap();
    let store = Store::open(&st).unwrap();
    let stops = if exchanges.is_empty() { vec![] } else { vec!["exchange".to_string()] };
    (st, store, n, seeds, stops)
}

#[test]
fn poison_on_workers_and_processes_taints_what_one_process_does() {
    let mut rng = Rng::new(17);
    let (mut tainted_total, mut deep) = (0usize, 0usize);
    for case in 0..60 {
        let t = tempfile::tempdir().unwrap();
        let (st, store, n, seeds, stops) = random_case(t.path(), &mut rng, 30);
        let mut spec = Spec::new(Policy::Poison, 0, seeds.clone(), stops);
        // Now and then seed transactions, and a block window.
        if rng.below(3) == 0 {
            spec.seed_txs = (0..1 + rng.below(2)).map(|_| store.events().tx(rng.below(store.len() as u64) as usize)).collect();
        }
        if rng.below(4) == 0 {
            let lo = 1000 + rng.below(n / 3 + 1);
            (spec.from_block, spec.to_block) = (Some(lo), Some(lo + rng.below(n / 3 + 1)));
        }
        let out = trace::run_account(&store, &spec).unwrap();
        let want: Vec<(u64, u32)> = out.tainted.iter().map(|x| (x.event, x.hop)).collect::<BTreeSet<_>>().into_iter().collect();
        tainted_total += want.len();
        deep += want.iter().filter(|x| x.1 >= 3).count();
        for threads in [1, 2, 3] {
            let got = poison::tainted_events(&st, &spec, &Workers::Local { threads }).unwrap();
            assert_eq!(got, want, "case {case}: {threads} workers");
        }
        // Processes connect over TCP (a second or so to start): fewer cases.
        let clusters: &[(usize, usize)] = if case % 8 == 0 { &[(2, 1), (3, 2)] } else { &[] };
        for &(p, threads) in clusters {
            let hs = hosts(p);
            let runs: Vec<_> = (0..p)
                .map(|process| {
                    let (st, spec, hs) = (st.clone(), spec.clone(), hs.clone());
                    std::thread::spawn(move || poison::tainted_events(&st, &spec, &Workers::Cluster { threads, process, hosts: hs }))
                })
                .collect();
            let got: Vec<Vec<(u64, u32)>> = runs.into_iter().map(|h| h.join().unwrap().unwrap()).collect();
            assert_eq!(got[0], want, "case {case}: {p} processes of {threads} workers");
            assert!(got[1..].iter().all(Vec::is_empty));
        }
    }
    // What the workers do not do yet is refused, not answered wrongly.
    let t = tempfile::tempdir().unwrap();
    let st = random_store(t.path(), &mut rng, 5, 20);
    let spec = Spec { max_hops: Some(2), ..Spec::new(Policy::Poison, 0, vec![], vec![]) };
    let e = poison::tainted_events(&st, &spec, &Workers::Local { threads: 1 }).unwrap_err();
    assert!(e.to_string().contains("--max-hops"), "{e}");
    assert!(tainted_total > 500 && deep > 100, "{tainted_total} tainted events in all, {deep} at hop 3 or more");
}

/// What a report is built from, in one comparable text.
fn outcome_text(o: &trace::Outcome) -> String {
    let tainted: Vec<_> = o.tainted.iter().map(|t| (t.event, t.x, t.hop)).collect();
    format!(
        "seeded {} fees {} held {} unknown {}\ndest {:?}\ndormant {:?}\nhorizon {:?}\ntainted {:?}\nwarn {:?}",
        o.seeded, o.fees, o.held_by_seeds, o.unknown_origin, o.destinations, o.dormant, o.horizon, tainted, o.seed_stop_warnings
    )
}

#[test]
fn every_policy_on_workers_and_processes_finds_what_one_process_does() {
    use chaintrace::dataflow::account;
    let mut rng = Rng::new(1717);
    let (mut compared, mut moved, mut dests) = (0usize, 0usize, 0usize);
    for case in 0..45 {
        let t = tempfile::tempdir().unwrap();
        let (st, store, n, seeds, stops) = random_case(t.path(), &mut rng, 25);
        let policy = [Policy::Poison, Policy::Haircut, Policy::Fifo][case % 3];
        let mut spec = Spec::new(policy, 0, seeds.clone(), stops);
        // The fees' pseudo-address as a seed too, as a library caller may ask.
        if case % 5 == 4 {
            spec.seeds.insert(0, chaintrace::model::Pseudo::Fees.id());
            spec.seeds.dedup();
        }
        if rng.below(3) == 0 {
            spec.seed_txs = (0..1 + rng.below(2)).map(|_| store.events().tx(rng.below(store.len() as u64) as usize)).collect();
        }
        if rng.below(4) == 0 {
            let lo = 1000 + rng.below(n / 3 + 1);
            (spec.from_block, spec.to_block) = (Some(lo), Some(lo + rng.below(n / 3 + 1)));
        }
        if rng.below(3) == 0 {
            spec.max_hops = Some(1 + rng.below(3) as u32);
        }
        if rng.below(5) == 0 {
            spec.engine = Some(trace::Engine::Full);
        }
        let single = trace::run_account(&store, &spec).unwrap();
        moved += single.tainted.len();
        dests += single.destinations.len() + single.horizon.len();
        let want = outcome_text(&single);
        // Segments of 4 and 64 events: chains within a segment and across;
        // ids owned one by one, and in blocks of 2 and 8 (as large stores
        // own them: `dataflow::Owners`); arrivals run as they come, and
        // round by round.
        use chaintrace::dataflow::Rounds::{Barrier, Eager};
        for (threads, bits, blocks, rounds) in [
            (1, 2, None, Eager),
            (2, 6, None, Eager),
            (3, 2, None, Eager),
            (2, account::SEGMENT_BITS, None, Eager),
            (2, 2, Some(1), Eager),
            (3, 3, Some(3), Eager),
            (3, 2, None, Barrier),
            (2, 3, Some(1), Barrier),
        ] {
            let got = account::trace_in_blocks(&st, &spec, &Workers::Local { threads }, bits, blocks, Some(rounds)).unwrap().unwrap();
            assert_eq!(
                outcome_text(&got),
                want,
                "case {case} ({policy:?}): {threads} workers, segments of 2^{bits}, owner blocks {blocks:?}, {rounds:?}"
            );
            compared += 1;
        }
        let clusters: &[(usize, usize)] = if case % 9 == 0 { &[(2, 1), (3, 2)] } else { &[] };
        for &(p, threads) in clusters {
            let hs = hosts(p);
            let runs: Vec<_> = (0..p)
                .map(|process| {
                    let (st, spec, hs) = (st.clone(), spec.clone(), hs.clone());
                    std::thread::spawn(move || account::trace_in_segments(&st, &spec, &Workers::Cluster { threads, process, hosts: hs }, 3))
                })
                .collect();
            let got: Vec<Option<trace::Outcome>> = runs.into_iter().map(|h| h.join().unwrap().unwrap()).collect();
            assert_eq!(outcome_text(got[0].as_ref().unwrap()), want, "case {case}: {p} processes of {threads} workers");
            assert!(got[1..].iter().all(Option::is_none));
        }
    }
    assert!(
        compared >= 360 && moved > 1000 && dests > 40,
        "{compared} runs compared, {moved} tainted events, {dests} stops and horizon rows in all"
    );
}

#[test]
fn utxo_on_workers_and_processes_finds_what_one_process_does() {
    use chaintrace::dataflow::utxo;
    let mut rng = Rng::new(303);
    let (mut compared, mut moved, mut stops, mut clustered, mut cut) = (0usize, 0usize, 0usize, 0usize, 0usize);
    for case in 0..24 {
        let t = tempfile::tempdir().unwrap();
        let st = t.path().join("btc");
        chaintrace::synth::utxo::write_store(&st, chaintrace::synth::utxo::Params::for_inputs(300 + rng.below(1500), case)).unwrap();
        let store = Store::open(&st).unwrap();
        let n = store.len() as u64;
        let ev = store.events();
        let pick = |rng: &mut Rng| ev.receiver(rng.below(n) as usize);
        let seeds: Vec<u32> = (0..1 + rng.below(3)).map(|_| pick(&mut rng)).collect::<BTreeSet<_>>().into_iter().collect();
        let labels: Vec<chaintrace::labels::Label> = (0..5 + rng.below(30))
            .map(|_| chaintrace::labels::Label {
                address: store.address_text(pick(&mut rng)),
                category: "exchange".into(),
                ..Default::default()
            })
            .collect();
        chaintrace::labels::save(&st, &labels).unwrap();
        let store = Store::open(&st).unwrap();
        let policy = [Policy::Poison, Policy::Haircut, Policy::Fifo][case as usize % 3];
        let mut spec = Spec::new(policy, 0, seeds, if labels.is_empty() { vec![] } else { vec!["exchange".into()] });
        if rng.below(3) == 0 {
            spec.seed_txs = vec![store.events().tx(rng.below(n) as usize)];
        }
        if rng.below(4) == 0 {
            let b = store.events().block(rng.below(n) as usize);
            (spec.from_block, spec.to_block) = (Some(b), Some(b + rng.below(3)));
        }
        if case % 3 == 2 {
            spec.max_hops = Some(1 + rng.below(4) as u32);
        }
        if case % 4 == 1 {
            // Over address clusters: seeds, stops and rows stand for their clusters.
            let params = chaintrace::cluster::Params { guard: [0, 50][case as usize % 2], exclude_coinjoins: true };
            spec.clusters = Some(std::sync::Arc::new(chaintrace::cluster::Clustering::build(&store, params)));
            clustered += 1;
        }
        let single = trace::run_utxo(&store, &spec, &[]).unwrap();
        if case == 0 {
            utxo_budgets_stop_the_sweep(&store, &spec, &outcome_text(&single));
        }
        moved += single.tainted.len();
        stops += single.destinations.len();
        cut += single.horizon.len();
        let pred: BTreeSet<(u64, u64)> = single.pred.iter().map(|(&a, &b)| (a, b)).collect();
        let want = outcome_text(&single);
        for (threads, bits) in [(1, 13), (2, 4), (3, 7)] {
            let got = utxo::trace(&st, &spec, &[], &Workers::Local { threads }, bits).unwrap().unwrap();
            assert_eq!(outcome_text(&got), want, "case {case} ({policy:?}): {threads} workers, segments of 2^{bits}");
            assert_eq!(got.pred.iter().map(|(&a, &b)| (a, b)).collect::<BTreeSet<_>>(), pred, "case {case}: evidence links");
            compared += 1;
        }
        if case % 6 == 0 {
            let hs = hosts(2);
            let runs: Vec<_> = (0..2)
                .map(|process| {
                    let (st, spec, hs) = (st.clone(), spec.clone(), hs.clone());
                    std::thread::spawn(move || utxo::trace(&st, &spec, &[], &Workers::Cluster { threads: 1, process, hosts: hs }, 5))
                })
                .collect();
            let got: Vec<Option<trace::Outcome>> = runs.into_iter().map(|h| h.join().unwrap().unwrap()).collect();
            assert_eq!(outcome_text(got[0].as_ref().unwrap()), want, "case {case}: 2 processes");
            assert!(got[1].is_none());
        }
    }
    assert!(
        compared >= 72 && moved > 2000 && stops > 20 && clustered >= 6 && cut > 20,
        "{compared} runs compared, {moved} tainted outputs, {stops} stops, {clustered} over clusters, {cut} cut off in all"
    );
}

/// The exposure sweep's result as text: every field, every address.
fn exposures_text(x: &chaintrace::screen::sweep::Exposures) -> String {
    let mut s = format!("received {:?}\n", x.received);
    for (id, es) in x.by_address.iter().enumerate() {
        if !es.is_empty() {
            s += &format!("{id}: {es:?}\n");
        }
    }
    let mut seeds: Vec<_> = x.seeds.iter().collect();
    seeds.sort();
    s + &format!("seeds {seeds:?}\n")
}

#[test]
fn the_exposure_index_on_workers_and_processes_is_the_single_process_one() {
    use chaintrace::dataflow::exposure;
    use chaintrace::screen::{self, CategorySet};
    let cats = CategorySet::new(["sanctioned", "hack", "mixer", "phishing"]);
    let mut rng = Rng::new(4242);
    let (mut compared, mut rows) = (0usize, 0usize);
    for case in 0..40 {
        let t = tempfile::tempdir().unwrap();
        let n_addr = 5 + rng.below(30);
        let n = 20 + rng.below(400);
        let st = random_store(t.path(), &mut rng, n_addr, n);
        // Seeds and services, some for a while only; now and then the zero address.
        let mut labels = Vec::new();
        for k in 0..n_addr {
            for c in ["sanctioned", "hack", "mixer", "phishing", "exchange", "defi"] {
                if rng.below(10) == 0 {
                    let bounded = rng.below(3) == 0;
                    let from = 1_600_000_000 + 12 * 1000 + 12 * rng.below(n / 3 + 1) as i64;
                    labels.push(chaintrace::labels::Label {
                        address: addr(k),
                        category: c.into(),
                        valid_from: bounded.then_some(from),
                        valid_to: (bounded && rng.below(2) == 0).then_some(from + 12 * rng.below(n / 3 + 1) as i64),
                        ..Default::default()
                    });
                }
            }
        }
        chaintrace::labels::save(&st, &labels).unwrap();
        let store = Store::open(&st).unwrap();
        let labels = chaintrace::labels::load(&store);
        let single = screen::sweep::sweep(&store, 0, &cats, &labels).unwrap();
        rows += single.by_address.iter().map(Vec::len).sum::<usize>();
        let want = exposures_text(&single);
        for (threads, bits) in [(1, 2), (2, 6), (3, 2), (2, 13)] {
            let (got, _) = exposure::sweep_in_segments(&st, 0, &cats, &labels, &Workers::Local { threads }, bits).unwrap().unwrap();
            assert_eq!(exposures_text(&got), want, "case {case}: {threads} workers, segments of 2^{bits}");
            compared += 1;
        }
        if case % 8 == 0 {
            for (p, threads) in [(2, 1), (3, 2)] {
                let hs = hosts(p);
                let runs: Vec<_> = (0..p)
                    .map(|process| {
                        let (st, cats, labels, hs) = (st.clone(), cats.clone(), labels.clone(), hs.clone());
                        std::thread::spawn(move || {
                            exposure::sweep_in_segments(&st, 0, &cats, &labels, &Workers::Cluster { threads, process, hosts: hs }, 3)
                                .map(|o| o.map(|x| x.0))
                        })
                    })
                    .collect();
                let got: Vec<_> = runs.into_iter().map(|h| h.join().unwrap().unwrap()).collect();
                assert_eq!(exposures_text(got[0].as_ref().unwrap()), want, "case {case}: {p} processes of {threads} workers");
                assert!(got[1..].iter().all(Option::is_none));
            }
        }
    }
    assert!(compared >= 160 && rows > 300, "{compared} runs compared, {rows} exposure rows in all");
}

#[test]
fn the_bitcoin_exposure_index_on_workers_and_processes_is_the_single_process_one() {
    use chaintrace::dataflow::exposure;
    use chaintrace::screen::{self, CategorySet};
    let cats = CategorySet::new(["sanctioned", "hack", "mixer"]);
    let mut rng = Rng::new(5151);
    let (mut compared, mut rows, mut linked) = (0usize, 0usize, 0usize);
    for case in 0..16 {
        let t = tempfile::tempdir().unwrap();
        let st = t.path().join("btc");
        chaintrace::synth::utxo::write_store(&st, chaintrace::synth::utxo::Params::for_inputs(300 + rng.below(1500), 100 + case)).unwrap();
        let store = Store::open(&st).unwrap();
        let (n, ev) = (store.len() as u64, store.events());
        // Sources and services, some for a while only.
        let labels: Vec<chaintrace::labels::Label> = (0..4 + rng.below(20))
            .map(|_| {
                let k = rng.below(n) as usize;
                let bounded = rng.below(3) == 0;
                chaintrace::labels::Label {
                    address: store.address_text(ev.receiver(k)),
                    category: ["sanctioned", "hack", "mixer", "exchange", "exchange"][rng.below(5) as usize].into(),
                    valid_from: bounded.then(|| ev.time(k)),
                    ..Default::default()
                }
            })
            .collect();
        chaintrace::labels::save(&st, &labels).unwrap();
        let store = Store::open(&st).unwrap();
        let labels = chaintrace::labels::load(&store);
        let single = screen::utxo::sweep(&store, &cats, &labels).unwrap();
        rows += single.by_address.iter().map(Vec::len).sum::<usize>();
        linked += single.by_address.iter().flatten().filter(|e| e.pred != u64::MAX).count();
        let want = exposures_text(&single);
        for (threads, bits) in [(1, 13), (2, 4), (3, 7)] {
            let (got, _) = exposure::sweep_in_segments(&st, 0, &cats, &labels, &Workers::Local { threads }, bits).unwrap().unwrap();
            assert_eq!(exposures_text(&got), want, "case {case}: {threads} workers, segments of 2^{bits}");
            compared += 1;
        }
        if case % 5 == 0 {
            let hs = hosts(2);
            let runs: Vec<_> = (0..2)
                .map(|process| {
                    let (st, cats, labels, hs) = (st.clone(), cats.clone(), labels.clone(), hs.clone());
                    std::thread::spawn(move || {
                        exposure::sweep_in_segments(&st, 0, &cats, &labels, &Workers::Cluster { threads: 1, process, hosts: hs }, 5)
                            .map(|o| o.map(|x| x.0))
                    })
                })
                .collect();
            let got: Vec<_> = runs.into_iter().map(|h| h.join().unwrap().unwrap()).collect();
            assert_eq!(exposures_text(got[0].as_ref().unwrap()), want, "case {case}: 2 processes");
            assert!(got[1].is_none());
        }
    }
    assert!(compared >= 48 && rows > 500 && linked > 200, "{compared} runs compared, {rows} exposure rows, {linked} with a predecessor");
}

/// A Bitcoin trace whose budget is spent stops with the reason, as the
/// account sweeps do; one within its budget is the trace.
fn utxo_budgets_stop_the_sweep(store: &Store, spec: &Spec, want: &str) {
    use trace::{Budget, Halt, TraceError};
    let halted = |budget: Budget| match trace::run_utxo(store, &Spec { budget, ..spec.clone() }, &[]) {
        Err(TraceError::Halted(h)) => h,
        other => panic!("expected a halt, got {:?}", other.map(|o| o.visited)),
    };
    let cancelled = Budget::new(None);
    cancelled.cancel();
    assert_eq!(halted(cancelled), Halt::Cancelled);
    assert_eq!(halted(Budget::new(Some(10))), Halt::TooManyEvents(10));
    let within = trace::run_utxo(store, &Spec { budget: Budget::new(Some(store.len() as u64)), ..spec.clone() }, &[]).unwrap();
    assert_eq!(outcome_text(&within), want);
}
