//! The synthetic world behaves like the chain it imitates: deterministic, the
//! hack's proceeds reach exchanges and the mixer through fresh wallets, and a
//! trace of it conserves every wei.

use chaintrace::store::Store;
use chaintrace::synth::world::{HACK_AMOUNT, Params};
use chaintrace::trace::{self, Policy, Spec};

fn world(dir: &std::path::Path, events: u64) -> (Store, String) {
    let w = chaintrace::synth::write_world_store(dir, Params::new(events, 11)).unwrap();
    assert!(w.events >= events && w.events < events + 8);
    (Store::open(dir).unwrap(), w.exploiter)
}

/// A trace from the exploiter with the service categories absorbing.
fn from_exploiter(s: &Store, exploiter: &str, policy: Policy) -> Spec {
    Spec {
        policy,
        asset: 0,
        seeds: trace::resolve_seeds(s, &[exploiter.to_string()], &[]).unwrap().addresses,
        seed_txs: vec![],
        stop_at: ["exchange", "mixer", "bridge", "defi"].iter().map(|c| c.to_string()).collect(),
        max_hops: None,
        from_block: None,
        to_block: None,
        evidence: false,
        engine: None,
        clusters: None,
    }
}

#[test]
fn a_world_is_deterministic_and_its_hack_is_laundered_into_services() {
    let t = tempfile::tempdir().unwrap();
    let (s, exploiter) = world(&t.path().join("a"), 400_000);
    let (again, _) = world(&t.path().join("b"), 400_000);
    let (e1, e2) = (s.events(), again.events());
    assert!(
        e1.senders(0, e1.len()) == e2.senders(0, e2.len())
            && e1.receivers(0, e1.len()) == e2.receivers(0, e2.len())
            && e1.value == e2.value,
        "same seed, same events"
    );
    let spec = from_exploiter(&s, &exploiter, Policy::Haircut);
    let out = trace::run_account(&s, &spec).unwrap();
    assert_eq!(out.seeded, trace::Wide::from(HACK_AMOUNT), "everything the exploiter holds came from the bridge");
    assert_eq!(out.seeded, out.accounted(), "conservation");
    let by_category = |c: &str| out.destinations.values().filter(|d| d.category == c).fold(trace::Wide::ZERO, |a, d| a + d.amount);
    let (exchange, mixer) = (by_category("exchange"), by_category("mixer"));
    assert!(exchange > trace::Wide::from(HACK_AMOUNT / 4), "most proceeds reach exchanges: {exchange}");
    assert!(mixer > trace::Wide::ZERO, "some go through the mixer");
    // Laundering takes several hops through fresh wallets.
    assert!(out.destinations.values().any(|d| d.hops >= 4));
    sparse_and_full_reports_are_the_same(&s, &exploiter);
}

/// Where two JSON values first differ, for a readable failure.
fn first_difference(a: &serde_json::Value, b: &serde_json::Value, at: &str) -> Option<String> {
    use serde_json::Value;
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => x.keys().chain(y.keys()).find_map(|k| match (x.get(k), y.get(k)) {
            (Some(p), Some(q)) => first_difference(p, q, &format!("{at}.{k}")),
            _ => Some(format!("{at}.{k}: only in one")),
        }),
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            x.iter().zip(y).enumerate().find_map(|(i, (p, q))| first_difference(p, q, &format!("{at}[{i}]")))
        }
        (Value::Array(x), Value::Array(y)) => Some(format!("{at}: {} rows against {}", x.len(), y.len())),
        _ => (a != b).then(|| format!("{at}: {a} against {b}")),
    }
}

/// Both shapes of the account sweep give the same report, whole: every
/// destination, entity, dormant and horizon row with its amount, hops,
/// category and evidence paths, the totals (fees among them) and what was
/// seeded, under every policy, with and without a hop horizon.
fn sparse_and_full_reports_are_the_same(s: &Store, exploiter: &str) {
    for policy in [Policy::Poison, Policy::Haircut, Policy::Fifo] {
        for max_hops in [None, Some(3)] {
            let report = |engine: trace::Engine| {
                let q = chaintrace::app::trace::Query {
                    policy,
                    seeds: vec![exploiter.to_string()],
                    seed_txs: vec![],
                    asset: None,
                    stop_at: ["exchange", "mixer", "bridge", "defi"].iter().map(|c| c.to_string()).collect(),
                    max_hops,
                    from_block: None,
                    to_block: None,
                    paths: 3,
                    follow: vec![],
                    engine: Some(engine),
                    clusters: None,
                };
                serde_json::to_value(chaintrace::app::trace::answer(s, &q).unwrap().0).unwrap()
            };
            let (sparse, full) = (report(trace::Engine::Sparse), report(trace::Engine::Full));
            let what = format!("{policy:?}, max hops {max_hops:?}");
            // Something to compare: destinations with evidence, dormant rows, rows cut off by the horizon.
            let rows = |k: &str| sparse[k].as_array().unwrap().len();
            assert!(rows("destinations") > 0, "{what}");
            assert!(rows("dormant") > 0, "{what}");
            assert!(sparse["destinations"][0]["paths"].as_array().is_some_and(|p| !p.is_empty()), "{what}");
            if max_hops.is_some() {
                assert!(rows("horizon") > 0, "{what}");
            } else {
                assert_eq!(rows("horizon"), 0, "{what}");
            }
            assert!(sparse == full, "{what}: sparse and full reports differ at {:?}", first_difference(&sparse, &full, "report"));
        }
    }
}

/// The world written as blockchain-etl CSV and ingested gives the store the
/// direct writer gives: the same trace, to the wei, and the same labels.
#[test]
fn the_world_as_etl_csv_ingests_to_the_same_trace() {
    use chaintrace::ingest::{self, Format, Options};
    use chaintrace::model::Chain;
    let t = tempfile::tempdir().unwrap();
    let params = Params::new(200_000, 11);
    let files = chaintrace::synth::etl::write_world_etl(&t.path().join("csv"), params.clone()).unwrap();
    let st = t.path().join("from-csv");
    let opts = Options::new(Chain::Ethereum, Format::Etl);
    ingest::ingest(&st, &files.files[..3], &opts).unwrap();
    let labels = chaintrace::labels::read_csv(&files.files[3], Chain::Ethereum).unwrap();
    chaintrace::labels::save(&st, &labels).unwrap();
    let from_csv = Store::open(&st).unwrap();
    let (direct, exploiter) = world(&t.path().join("direct"), 200_000);
    assert_eq!(exploiter, files.exploiter);
    assert_eq!(from_csv.len() as u64, files.events);
    assert_eq!(from_csv.len(), direct.len());
    for policy in [Policy::Haircut, Policy::Poison, Policy::Fifo] {
        let run = |s: &Store| {
            let out = trace::run_account(s, &from_exploiter(s, &exploiter, policy)).unwrap();
            let dest: Vec<(String, String, String)> =
                out.destinations.iter().map(|(&a, d)| (s.address_text(a), d.category.clone(), d.amount.to_string())).collect();
            (out.seeded, dest)
        };
        assert_eq!(run(&from_csv), run(&direct), "{policy:?}");
    }
}

/// A world written in parts is the world written whole, row for row.
#[test]
fn world_parts_concatenate_to_the_whole() {
    let t = tempfile::tempdir().unwrap();
    let params = Params::new(60_000, 3);
    let whole = chaintrace::synth::etl::write_world_etl(&t.path().join("whole"), params.clone()).unwrap();
    let cuts = [0, 17_000, 40_000, u64::MAX];
    let parts: Vec<_> = (0..3)
        .map(|k| {
            chaintrace::synth::etl::write_world_etl_part(&t.path().join(format!("p{k}")), params.clone(), cuts[k]..cuts[k + 1]).unwrap()
        })
        .collect();
    assert_eq!(parts.iter().map(|p| p.events).sum::<u64>(), whole.events);
    for f in 0..3 {
        let text = |p: &std::path::Path| std::fs::read_to_string(p).unwrap();
        let mut joined = String::new();
        for (k, p) in parts.iter().enumerate() {
            let body = text(&p.files[f]);
            joined += if k == 0 { &body } else { body.split_once('\n').unwrap().1 };
        }
        assert_eq!(joined, text(&whole.files[f]), "{}", whole.files[f].display());
    }
}
