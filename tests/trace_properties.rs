//! Random graphs: the engine agrees with a deliberately naive implementation
//! written here from TRACING.md alone; haircut and FIFO conserve taint exactly;
//! poison reaches everything they taint; evidence paths check out.

mod common;

use chaintrace::ingest::{self, Format, Options};
use chaintrace::model::Chain;
use chaintrace::store::Store;
use chaintrace::synth::Rng;
use chaintrace::trace::{self, Policy, Spec};
use std::collections::{BTreeMap, BTreeSet, HashMap};

#[derive(Clone, Debug)]
struct Ev {
    from: usize,
    to: usize,
    value: u128,
}

fn addr(k: usize) -> String {
    format!("0x{:040x}", k + 1)
}

/// The naive reference: explicit lots for every address under every policy.
#[derive(Default, Debug, PartialEq)]
struct Naive {
    seeded: u128,
    dest: BTreeMap<String, u128>,
    dormant: BTreeMap<String, u128>,
    horizon: BTreeMap<String, u128>,
    unknown: u128,
    seeds_hold: u128,
}

fn naive(events: &[Ev], policy: Policy, seeds: &BTreeSet<usize>, stops: &BTreeSet<usize>, max_hops: Option<u32>) -> Naive {
    let mut r = Naive::default();
    // lots[a]: (amount, tainted), oldest first. Haircut uses (balance, taint) instead.
    let mut lots: HashMap<usize, Vec<(u128, bool)>> = HashMap::new();
    let mut bal: HashMap<usize, u128> = HashMap::new();
    let mut tnt: HashMap<usize, u128> = HashMap::new();
    let mut poisoned: BTreeSet<usize> = seeds.clone();
    let mut hop: HashMap<usize, u32> = seeds.iter().map(|&s| (s, 0)).collect();
    let mut horizon: BTreeSet<usize> = BTreeSet::new();
    let mut received: HashMap<usize, u128> = HashMap::new();
    for e in events {
        let a = e.value;
        if a == 0 {
            continue;
        }
        let (u, v) = (e.from, e.to);
        let b = *bal.get(&u).unwrap_or(&0);
        if b < a {
            let s = a - b;
            let holds = match policy {
                Policy::Haircut => *tnt.get(&u).unwrap_or(&0) > 0,
                Policy::Poison => poisoned.contains(&u),
                Policy::Fifo => lots.get(&u).is_some_and(|l| l.iter().any(|x| x.1)),
            };
            if seeds.contains(&u) {
                r.seeded += s;
                r.unknown += s;
                *tnt.entry(u).or_default() += s;
            } else if holds {
                r.unknown += s;
            }
            lots.entry(u).or_default().insert(0, (s, seeds.contains(&u)));
            *bal.entry(u).or_default() += s;
        }
        if u == v {
            continue;
        }
        // What leaves u, as lots.
        let out: Vec<(u128, bool)> = if seeds.contains(&u) {
            vec![(a, true)]
        } else {
            match policy {
                Policy::Poison => vec![(a, poisoned.contains(&u))],
                Policy::Haircut => {
                    let t = *tnt.get(&u).unwrap_or(&0);
                    let b = bal[&u];
                    let x = a * t / b;
                    vec![(x, true), (a - x, false)]
                }
                Policy::Fifo => common::take_lots(lots.entry(u).or_default(), a),
            }
        };
        let x: u128 = out.iter().filter(|l| l.1).map(|l| l.0).sum();
        *bal.get_mut(&u).unwrap() -= a;
        if policy == Policy::Haircut && !seeds.contains(&u) {
            *tnt.entry(u).or_default() -= x;
        }
        if policy == Policy::Haircut && seeds.contains(&u) {
            *tnt.entry(u).or_default() -= a;
        }
        *bal.entry(v).or_default() += a;
        let h = hop.get(&u).copied().unwrap_or(u32::MAX).saturating_add(1);
        if seeds.contains(&v) {
            r.seeded += a - x;
            *tnt.entry(v).or_default() += a;
            lots.entry(v).or_default().push((a, true));
            continue;
        }
        if x > 0 && stops.contains(&v) {
            *r.dest.entry(addr(v)).or_default() += x;
            hop.entry(v).and_modify(|o| *o = (*o).min(h)).or_insert(h);
            lots.entry(v).or_default().push((a, false));
            continue;
        }
        if x > 0 && (horizon.contains(&v) || (!hop.contains_key(&v) && max_hops.is_some_and(|n| h >= n))) {
            horizon.insert(v);
            *r.horizon.entry(addr(v)).or_default() += x;
            lots.entry(v).or_default().push((a, false));
            continue;
        }
        if x > 0 {
            hop.entry(v).and_modify(|o| *o = (*o).min(h)).or_insert(h);
            poisoned.insert(v);
            *received.entry(v).or_default() += x;
            *tnt.entry(v).or_default() += x;
        }
        for l in out {
            lots.entry(v).or_default().push(l);
        }
    }
    for &s in seeds {
        r.seeds_hold += bal.get(&s).copied().unwrap_or(0);
    }
    let all: BTreeSet<usize> = bal.keys().copied().collect();
    for id in all {
        if seeds.contains(&id) || horizon.contains(&id) {
            continue;
        }
        let held = match policy {
            Policy::Haircut => tnt.get(&id).copied().unwrap_or(0),
            Policy::Fifo => lots.get(&id).map_or(0, |l| l.iter().filter(|x| x.1).map(|x| x.0).sum()),
            Policy::Poison => {
                if bal[&id] > 0 {
                    received.get(&id).copied().unwrap_or(0)
                } else {
                    0
                }
            }
        };
        if held > 0 {
            r.dormant.insert(addr(id), held);
        }
    }
    r
}

fn random_events(rng: &mut Rng, n_addr: usize, n: usize) -> Vec<Ev> {
    (0..n)
        .map(|_| {
            let from = rng.below(n_addr as u64) as usize;
            let to = if rng.below(10) == 0 { from } else { rng.below(n_addr as u64) as usize };
            let value = if rng.below(12) == 0 { 0 } else { u128::from(rng.below(1000) + 1) };
            Ev { from, to, value }
        })
        .collect()
}

fn build_store(dir: &std::path::Path, events: &[Ev], stops: &BTreeSet<usize>) -> Store {
    let f = dir.join("t.csv");
    let mut s = String::from("block_number,from_address,to_address,value\n");
    for (i, e) in events.iter().enumerate() {
        s += &format!("{},{},{},{}\n", 1000 + i, addr(e.from), addr(e.to), e.value);
    }
    std::fs::write(&f, s).unwrap();
    let st = dir.join("s");
    let opts = Options::new(Chain::Ethereum, Format::Transfers);
    ingest::ingest(&st, &[f], &opts).unwrap();
    if !stops.is_empty() {
        let labels: Vec<chaintrace::labels::Label> = stops
            .iter()
            .map(|&k| chaintrace::labels::Label { address: addr(k), category: "exchange".into(), ..Default::default() })
            .collect();
        chaintrace::labels::save(&st, &labels).unwrap();
    }
    Store::open(&st).unwrap()
}

fn engine_as_naive(store: &Store, out: &trace::Outcome) -> Naive {
    let to128 = |w: &trace::Wide| w.to_string().parse::<u128>().unwrap();
    Naive {
        seeded: to128(&out.seeded),
        dest: out.destinations.iter().map(|(&id, d)| (store.address_text(id), to128(&d.amount))).collect(),
        dormant: out.dormant.iter().map(|(&id, d)| (store.address_text(id), to128(&d.0))).collect(),
        horizon: out.horizon.iter().map(|(&id, d)| (store.address_text(id), to128(&d.0))).collect(),
        unknown: to128(&out.unknown_origin),
        seeds_hold: to128(&out.held_by_seeds),
    }
}

fn spec(policy: Policy, seeds: Vec<u32>, stops: bool, max_hops: Option<u32>) -> Spec {
    Spec { max_hops, ..Spec::new(policy, 0, seeds, if stops { vec!["exchange".into()] } else { vec![] }) }
}

/// The full sweep (every event, its own balances) gives what the sparse one
/// (events that can move taint, stored balances) gave: the same outcome and
/// the same evidence log.
fn same_as_full_sweep(store: &Store, spec: &Spec, sparse: &trace::Outcome, what: &str) {
    let full = trace::run_account(store, &Spec { engine: Some(trace::Engine::Full), ..spec.clone() }).unwrap();
    assert_eq!(engine_as_naive(store, &full), engine_as_naive(store, sparse), "{what}: full vs sparse");
    let log = |o: &trace::Outcome| o.tainted.iter().map(|t| (t.event, t.x, t.hop)).collect::<Vec<_>>();
    assert_eq!(log(&full), log(sparse), "{what}: full vs sparse evidence log");
}

/// Issue 18's flow: every tainted event, added up here per sender and
/// receiver, is the report's flow with room for every edge; cut to `n`
/// edges it keeps the `n` that carried most (ties by sender, then
/// receiver) and sums the rest.
fn same_flow(store: &Store, spec: &Spec, out: &trace::Outcome, what: &str) {
    use chaintrace::model::amount::WideSum;
    let mut want: BTreeMap<(String, String), (WideSum, u64, u32)> = BTreeMap::new();
    for t in &out.tainted {
        let r = trace::EventRow::at(store, t.event as usize);
        let e = want.entry((store.address_text(r.from), store.address_text(r.to))).or_insert((WideSum::ZERO, 0, u32::MAX));
        e.0 += WideSum::from(t.x);
        e.1 += 1;
        e.2 = e.2.min(t.hop);
    }
    let flow = |n: usize| {
        let paths = chaintrace::report::Paths { flow: n, ..chaintrace::report::Paths::all(0) };
        chaintrace::report::build(store, spec, out, &[], &[], paths).flow
    };
    let every = flow(usize::MAX).expect("a flow");
    let got: BTreeMap<(String, String), (WideSum, u64, u32)> =
        every.edges.iter().map(|e| ((e.from.clone(), e.to.clone()), (e.taint.parse().unwrap(), e.events, e.hop))).collect();
    assert_eq!(got, want, "{what}: the flow adds up every tainted event");
    assert_eq!((every.others.edges, every.others.events, every.others.taint.as_str()), (0, 0, "0"), "{what}");
    let mut ranked: Vec<_> = want.iter().collect();
    ranked.sort_by(|a, b| b.1.0.cmp(&a.1.0).then_with(|| a.0.cmp(b.0)));
    for n in [0, 1, 2] {
        let cut = flow(n);
        if n == 0 {
            assert!(cut.is_none(), "{what}: no flow asked, none written");
            continue;
        }
        let cut = cut.unwrap();
        let kept: Vec<(String, String)> = cut.edges.iter().map(|e| (e.from.clone(), e.to.clone())).collect();
        let first: Vec<(String, String)> = ranked.iter().take(n).map(|x| x.0.clone()).collect();
        assert_eq!(kept, first, "{what}: the {n} that carried most");
        let rest: WideSum = ranked.iter().skip(n).map(|x| x.1.0).fold(WideSum::ZERO, |a, b| a + b);
        assert_eq!(cut.others.taint, rest.to_string(), "{what}: the rest summed");
        assert_eq!(cut.others.edges, ranked.len().saturating_sub(n) as u64, "{what}");
    }
}

#[test]
fn engine_agrees_with_naive_and_conserves() {
    let mut rng = Rng::new(20_260_324);
    for case in 0..200 {
        let t = tempfile::tempdir().unwrap();
        let n_addr = 3 + rng.below(10) as usize;
        let n_events = 5 + rng.below(60) as usize;
        let events = random_events(&mut rng, n_addr, n_events);
        let seeds: BTreeSet<usize> = (0..1 + rng.below(2)).map(|_| rng.below(n_addr as u64) as usize).collect();
        let stops: BTreeSet<usize> = (0..rng.below(3)).map(|_| rng.below(n_addr as u64) as usize).filter(|s| !seeds.contains(s)).collect();
        let max_hops = if rng.below(3) == 0 { Some(1 + rng.below(3) as u32) } else { None };
        let store = build_store(t.path(), &events, &stops);
        let seed_ids: Vec<u32> = seeds.iter().filter_map(|&s| store.find_address(&addr(s))).collect();
        let mut reached: BTreeMap<Policy, BTreeSet<String>> = BTreeMap::new();
        for policy in [Policy::Poison, Policy::Haircut, Policy::Fifo] {
            let spec = spec(policy, seed_ids.clone(), !stops.is_empty(), max_hops);
            let out = trace::run_account(&store, &spec).unwrap();
            same_as_full_sweep(&store, &spec, &out, &format!("case {case} {policy:?}"));
            let seeds_present: BTreeSet<usize> = seeds.iter().copied().filter(|s| store.find_address(&addr(*s)).is_some()).collect();
            let want = naive(&events, policy, &seeds_present, &stops, max_hops);
            let got = engine_as_naive(&store, &out);
            assert_eq!(got, want, "case {case} {policy:?}: {events:?} seeds {seeds:?} stops {stops:?} max_hops {max_hops:?}");
            if policy != Policy::Poison {
                assert_eq!(out.seeded, out.accounted(), "case {case} {policy:?}: conservation");
            }
            let keys: BTreeSet<String> = got.dest.keys().chain(got.dormant.keys()).chain(got.horizon.keys()).cloned().collect();
            reached.insert(policy, keys);
            // Evidence: every path is real, linked, increasing and tainted.
            let report = chaintrace::report::build(&store, &spec, &out, &[], &[], chaintrace::report::Paths::all(3));
            same_flow(&store, &spec, &out, &format!("case {case} {policy:?}"));
            for d in &report.destinations {
                assert!(!d.paths.is_empty());
                for p in &d.paths {
                    let first = &p[0];
                    assert!(seeds_present.iter().any(|&s| addr(s) == first.event.from), "path starts at a seed");
                    assert_eq!(p.last().unwrap().event.to, d.address);
                    for w in p.windows(2) {
                        assert_eq!(w[0].event.to, w[1].event.from);
                        assert!(w[0].event.block < w[1].event.block, "keys strictly increase");
                    }
                    assert!(p.iter().all(|s| s.taint != "0"));
                }
            }
        }
        for p in [Policy::Haircut, Policy::Fifo] {
            assert!(reached[&p].is_subset(&reached[&Policy::Poison]), "case {case}: poison reaches all {p:?} taints");
        }
    }
}

/// Larger random graphs, where the sparse sweep's packed records fill up and
/// move to a full array mid-sweep: it still agrees with the full sweep.
#[test]
fn sparse_sweep_agrees_when_taint_turns_dense() {
    let mut rng = Rng::new(77);
    for case in 0..6 {
        let t = tempfile::tempdir().unwrap();
        let n_addr = 300 + rng.below(300) as usize;
        let events = random_events(&mut rng, n_addr, 4000);
        let stops: BTreeSet<usize> = (0..5).map(|_| rng.below(n_addr as u64) as usize).collect();
        let store = build_store(t.path(), &events, &stops);
        let seeds: Vec<u32> = (0..2).filter_map(|k| store.find_address(&addr(k))).collect();
        for policy in [Policy::Poison, Policy::Haircut, Policy::Fifo] {
            let seeds = seeds.iter().copied().filter(|s| !stops.iter().any(|&k| store.find_address(&addr(k)) == Some(*s))).collect();
            let spec = spec(policy, seeds, true, None);
            let sparse = trace::run_account(&store, &spec).unwrap();
            if policy == Policy::Poison {
                assert!(sparse.dormant.len() + sparse.destinations.len() > 64, "case {case}: taint should reach past the packed records");
            }
            same_as_full_sweep(&store, &spec, &sparse, &format!("case {case} {policy:?}"));
        }
    }
}
