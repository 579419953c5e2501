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
        budget: Default::default(),
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
    budgets_stop_the_sweeps(&s, &spec, out.visited);
}

/// A trace whose budget is spent stops with the reason, in every sweep
/// (sparse, full, across assets); one within its budget is the trace.
fn budgets_stop_the_sweeps(s: &Store, spec: &Spec, visited: u64) {
    use trace::{Budget, Halt, TraceError};
    let halted = |r: Result<(), TraceError>| match r {
        Err(TraceError::Halted(h)) => h,
        other => panic!("expected a halt, got {other:?}"),
    };
    let cancelled = Budget::new(None);
    cancelled.cancel();
    for engine in [None, Some(trace::Engine::Full)] {
        let with = |budget: Budget| Spec { budget, engine, ..spec.clone() };
        assert_eq!(halted(trace::run_account(s, &with(cancelled.clone())).map(drop)), Halt::Cancelled);
        assert_eq!(halted(trace::run_account(s, &with(Budget::new(Some(1_000)))).map(drop)), Halt::TooManyEvents(1_000));
        assert_eq!(halted(trace::run_follow(s, &with(cancelled.clone()), None).map(drop)), Halt::Cancelled);
        assert_eq!(halted(trace::run_follow(s, &with(Budget::new(Some(1_000))), None).map(drop)), Halt::TooManyEvents(1_000));
    }
    // The sparse sweep visits `visited` events: a budget of exactly that is enough.
    let within = trace::run_account(s, &Spec { budget: Budget::new(Some(visited)), ..spec.clone() }).unwrap();
    assert_eq!((within.seeded, within.visited), (trace::Wide::from(HACK_AMOUNT), visited));
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
                    paths_for: chaintrace::report::PathsFor::DEFAULT,
                    flow_edges: chaintrace::trace::flow::DEFAULT_EDGES,
                    follow: vec![],
                    engine: Some(engine),
                    clusters: None,
                    budget: Default::default(),
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
    ingest::ingest(&st, &files.exports(), &opts).unwrap();
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
    let file = |w: &chaintrace::synth::etl::WorldFiles, f: usize| if f < 5 { w.files[f].clone() } else { w.truth[f - 5].clone() };
    // Every file but the labels, which each part writes whole.
    for f in [0, 1, 2, 4, 5, 6] {
        let text = |p: &std::path::Path| std::fs::read_to_string(p).unwrap();
        let mut joined = String::new();
        for (k, p) in parts.iter().enumerate() {
            let body = text(&file(p, f));
            joined += if k == 0 { &body } else { body.split_once('\n').unwrap().1 };
        }
        assert_eq!(joined, text(&file(&whole, f)), "{}", file(&whole, f).display());
    }
}

/// `chaintrace` run on `args`: its stdout, having checked it succeeded.
fn chaintrace(args: &[&std::ffi::OsStr]) -> String {
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_chaintrace")).args(args).output().unwrap();
    assert!(o.status.success(), "chaintrace {args:?}: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).unwrap()
}

/// A truth file's rows, by column name.
fn truth_rows(path: &std::path::Path) -> Vec<std::collections::BTreeMap<String, String>> {
    chaintrace::app::score::truth_rows(path).unwrap()
}

/// The world's swaps as `chaintrace conversions` reads them from its
/// exports: every DEX swap (ordinary and the hack's) is followable, the
/// hack's with the amounts the truth gives; and the hack's swapped ether,
/// traced from the exploiter across assets, reaches the planted
/// destinations whole, where a single-asset trace of the same seed loses
/// it at the first swap.
#[test]
fn the_worlds_swaps_are_followable_and_a_cross_asset_trace_reaches_the_planted_destinations() {
    use serde_json::Value;
    use std::collections::{BTreeSet, HashMap};
    use std::ffi::OsStr;
    let t = tempfile::tempdir().unwrap();
    let w = chaintrace::synth::etl::write_world_etl(&t.path().join("csv"), Params::new(400_000, 11)).unwrap();
    let st = t.path().join("s");
    let mut args: Vec<&OsStr> = ["ingest", "--store", st.to_str().unwrap(), "--chain", "ethereum", "--format", "etl", "--no-progress"]
        .into_iter()
        .map(OsStr::new)
        .collect();
    let exports = w.exports();
    args.extend(exports.iter().map(|p| p.as_os_str()));
    chaintrace(&args);
    chaintrace(&["labels", "--store", st.to_str().unwrap(), "import", w.files[3].to_str().unwrap()].map(OsStr::new));
    let json: Value =
        serde_json::from_str(&chaintrace(&["conversions", "--store", st.to_str().unwrap(), "--format", "json"].map(OsStr::new))).unwrap();
    let rows = json["conversions"].as_array().unwrap();
    // Every transaction with a swap log is a conversion, and every one is followable.
    let v2 = chaintrace::convert::topics::RECOGNISED[0].topic;
    let logs = std::fs::read_to_string(&w.files[4]).unwrap();
    let swap_txs: BTreeSet<&str> = logs
        .lines()
        .skip(1)
        .filter(|l| !l.contains(&hex::encode(chaintrace::convert::topics::RECOGNISED[7].topic)))
        .map(|l| l.split(',').nth(1).unwrap())
        .collect();
    assert_eq!(rows.len(), swap_txs.len());
    assert!(rows.iter().all(|r| r["status"] == "followable"), "every swap is followable");
    let ordinary = rows.iter().filter(|r| r["payer"] == r["payee"] && r["payer"] != w.exploiter.as_str()).count();
    assert_eq!((rows.len(), ordinary), (18_749, 18_746), "the ordinary DEX swaps (not through the WETH pair) and the hack's three");
    assert_eq!(logs.matches(&hex::encode(v2)).count(), ordinary + 1, "one pool a swap, and the hack's DAI pool");
    // The hack's: USDC -> DAI -> ETH to a fresh wallet, ETH (wrapped) -> stETH, stETH -> ETH to a fresh wallet.
    let swaps = truth_rows(&w.truth[0]);
    let by_tx: HashMap<&str, &Value> = rows.iter().map(|r| (r["tx"].as_str().unwrap(), r)).collect();
    let mut shape: Vec<(String, String, String)> =
        swaps.iter().map(|s| (s["path"].clone(), s["asset_in"].clone(), s["asset_out"].clone())).collect();
    shape.sort();
    let world = chaintrace::synth::world::World::new(Params::new(400_000, 11));
    let token = |t: u16| format!("0x{}", hex::encode(world.address(chaintrace::synth::world::Who::Token(t))));
    let (usdc, steth) = (token(1), token(5));
    let mut planted_shape = [("usdc", usdc.as_str(), "ETH"), ("steth", "ETH", steth.as_str()), ("steth", steth.as_str(), "ETH")]
        .map(|(p, a, b)| (p.to_string(), a.to_string(), b.to_string()));
    planted_shape.sort();
    assert_eq!(shape, planted_shape);
    let swap_of = |asset_in: &str| swaps.iter().find(|s| s["asset_in"] == asset_in).unwrap();
    let (of_usdc, of_eth, of_steth) = (swap_of(&usdc), swap_of("ETH"), swap_of(&steth));
    assert_eq!(of_usdc["amount_in"], "25500000000000");
    assert_eq!(of_usdc["amount_out"], "8576891866351670604117", "8,577 ETH at $2,969");
    assert_eq!(of_steth["amount_in"], of_eth["amount_out"], "the stETH bought is the stETH sold");
    for s in &swaps {
        let r = by_tx[s["transaction_hash"].as_str()];
        assert_eq!(r["status"], "followable");
        for (truth, listed) in [
            ("payer", "payer"),
            ("payee", "payee"),
            ("asset_in", "asset_in"),
            ("amount_in", "value_in"),
            ("asset_out", "asset_out"),
            ("amount_out", "value_out"),
        ] {
            assert_eq!(r[listed].as_str(), Some(s[truth].as_str()), "{truth} of {}", s["transaction_hash"]);
        }
        assert_eq!(s["payer"], w.exploiter);
    }
    assert!(of_usdc["payee"] != w.exploiter && of_steth["payee"] != w.exploiter && of_eth["payee"] == w.exploiter);
    assert_eq!(by_tx[of_usdc["transaction_hash"].as_str()]["venues"].as_array().unwrap().len(), 2, "two pools");

    // Trace from the exploiter, stopping at exchanges and the mixer.
    let s = Store::open(&st).unwrap();
    let mut spec = from_exploiter(&s, &w.exploiter, Policy::Haircut);
    spec.stop_at = vec!["exchange".into(), "mixer".into()];
    spec.evidence = true;
    let cross = trace::run_follow(&s, &spec, None).unwrap();
    let single = trace::run_account(&s, &spec).unwrap();
    // The planted deliveries: each is the top call of its transaction.
    let deliveries = truth_rows(&w.truth[1]);
    let score = chaintrace::app::score::planted(&s, &w.truth[1], &cross, &single).unwrap();
    let (planted, by_cross, by_single) = (score.value, score.by_cross, score.by_single);
    // 8,878 of the 13,692 swapped ether reach exchanges and the mixer before the world ends.
    assert_eq!((score.deliveries, planted), (128, trace::Wide::from(8_878_228_453_462_479_372_323u128)));
    assert!(deliveries.iter().any(|d| d["path"] == "usdc") && deliveries.iter().any(|d| d["path"] == "steth"));
    assert!(deliveries.iter().any(|d| d["category"] == "mixer") && deliveries.iter().any(|d| d["category"] == "exchange"));
    assert_eq!(by_cross, planted, "the cross-asset trace carries every planted wei");
    assert_eq!(by_single, trace::Wide::ZERO, "the single-asset trace loses it at the first swap");
    // At the planted destinations themselves (where the main laundering also arrives).
    let dests: BTreeSet<u32> = deliveries.iter().map(|d| s.find_address(&d["destination"]).unwrap()).collect();
    let at =
        |o: &trace::Outcome| o.destinations.iter().filter(|(a, _)| dests.contains(a)).fold(trace::Wide::ZERO, |x, (_, d)| x + d.amount);
    let (cross_at, single_at) = (at(&cross.by_asset[&0]), at(&single));
    // Their totals count the main laundering too, which both traces follow.
    assert_eq!(dests.len(), 27);
    assert!(cross_at > single_at, "{cross_at} against {single_at}");
    let (seeded, accounted) = cross.balance(0);
    assert_eq!(seeded, accounted, "conservation in ether");
}
