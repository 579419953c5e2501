//! Address clustering on the real block 702,861 and on a generated chain
//! whose owners are known.
//!
//! The block's inputs carry the addresses they spend from, derived from the
//! raw block (datasets/bitcoin-mainnet-block-702861/derive_input_addresses.py,
//! checked against the 327 outputs the block spends itself). Its CoinJoins
//! were checked by hand: seven Whirlpool mixes (five inputs, five outputs of
//! 100,000 or 1,000,000 sat, the 0.001 and 0.01 BTC pools), a Wasabi 1 round
//! (5c2f55fc…: 100 inputs, 60 outputs of 10,944,832 sat and the doubled
//! mixing levels 21,887,656 / 43,775,312 / 87,550,624), and two small
//! equal-output joins (1631a276…, a18d2f47…).

mod common;
use chaintrace::cluster::{Clustering, Params};
use chaintrace::store::Store;
use common::*;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};

const BLOCK: &str = "bitcoin-mainnet-block-702861";

fn block_store(dir: &std::path::Path) -> std::path::PathBuf {
    let d = |f: &str| data(&format!("{BLOCK}/{f}"));
    let st = dir.join("s");
    let o = ingest(&st, "bitcoin", "etl", &[], &[&d("transactions.csv"), &d("inputs_with_addresses.csv"), &d("outputs.csv")]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    st
}

fn csv_rows(file: &str) -> Vec<HashMap<String, String>> {
    let text = std::fs::read_to_string(data(&format!("{BLOCK}/{file}"))).unwrap();
    let mut lines = text.lines();
    let head: Vec<String> = lines.next().unwrap().split(',').map(str::to_string).collect();
    lines.map(|l| head.iter().cloned().zip(l.split(',').map(str::to_string)).collect()).collect()
}

fn run_json(args: &[&str]) -> Value {
    let o = run(args);
    assert_eq!(o.code, 0, "{args:?}: {}", o.stderr);
    serde_json::from_str(&o.stdout).unwrap()
}

const WHIRLPOOL: [&str; 7] = [
    "d6b212a663c85b03fb391fe69c59520e61b8a5970678ef7f376889a145e215a6",
    "c57e3e496a6bb496498b54632b2637472c59feb7a3b0485121140425f115cb51",
    "c31d23f5e8b881bc3339a918e71cadc4622f73c5a1f68aadd4741e0da7e66756",
    "e2e92bcdca6104f82deaa31f221d71c47cfdcebe64db924484be98dd9662d29b",
    "f35a8cdd9b490213af78692c2bb88dcf17dae0649447c94786f59e3a884cb2ce",
    "cba457a11d9674afa95ba12187306d70978baf6396c5ee476272ea41670e8ae2",
    "118970792f15cdb90645be0d265ba6c04ab3f3d36a16efe2c4b97801a730b3fa",
];
const WASABI: &str = "5c2f55fc17854a18f447d74e32356c9ff6faf43bf937ed13611857b2bb3fef3a";

#[test]
fn real_block_coinjoins_are_found_and_left_out() {
    let dir = tempfile::tempdir().unwrap();
    let st = block_store(dir.path());
    let rows = run_json(&["cluster", "--store", st.to_str().unwrap(), "--format", "json", "coinjoins"]);
    let got: BTreeMap<String, (u64, String)> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["tx"].as_str().unwrap().to_string(), (r["inputs"].as_u64().unwrap(), r["shape"].as_str().unwrap().to_string())))
        .collect();
    for w in WHIRLPOOL {
        assert_eq!(got.get(w), Some(&(5, "equal-outputs".to_string())), "Whirlpool {w}");
    }
    assert_eq!(got.get(WASABI).map(|g| g.1.as_str()), Some("denominations"));
    assert_eq!(got.len(), 10, "{got:?}");
    // The Whirlpool participants stay apart: no two inputs of a mix share a cluster
    // unless another transaction joined them.
    let s = Store::open(&st).unwrap();
    let c = Clustering::build(&s, Params::default());
    let inputs = csv_rows("inputs_with_addresses.csv");
    for w in WHIRLPOOL {
        let reps: BTreeSet<u32> = inputs.iter().filter(|r| r["txid"] == w).map(|r| c.rep(s.find_address(&r["address"]).unwrap())).collect();
        assert_eq!(reps.len(), 5, "{w}");
    }
    let keep = Clustering::build(&s, Params { exclude_coinjoins: false, ..Params::default() });
    assert!(keep.cluster_count() < c.cluster_count());
    assert!(keep.coinjoins.is_empty());
}

/// The CoinJoin rules of docs/clustering.md, written again from its table
/// for the reference (not the engine's `cluster::coinjoin`): `k` = the
/// largest number of outputs sharing one value above the 2,730-sat dust;
/// `equal-outputs` when `2 <= k <= input addresses` and outputs `<= 2k + 1`;
/// else `denominations` when there are at least 10 input addresses and 10
/// outputs and at least half the outputs share a (non-dust) value with
/// another. One input address, or one output, is never a CoinJoin.
fn reference_shape(input_addresses: usize, outputs: &[u64]) -> Option<&'static str> {
    if input_addresses < 2 || outputs.len() < 2 {
        return None;
    }
    let mut by_value: BTreeMap<u64, usize> = BTreeMap::new();
    for &v in outputs {
        *by_value.entry(v).or_default() += 1;
    }
    let common: Vec<usize> = by_value.iter().filter(|&(&v, _)| v > 2_730).map(|(_, &n)| n).collect();
    let k = common.iter().copied().max().unwrap_or(0);
    if (2..=input_addresses).contains(&k) && outputs.len() <= 2 * k + 1 {
        return Some("equal-outputs");
    }
    let sharing: usize = common.iter().filter(|&&n| n >= 2).sum();
    if input_addresses >= 10 && outputs.len() >= 10 && 2 * sharing >= outputs.len() {
        return Some("denominations");
    }
    None
}

/// The reference's view of the block, from the CSV alone: each spending
/// transaction's distinct input addresses, and its CoinJoins
/// (txid -> (input addresses, outputs, shape)) by [`reference_shape`].
#[allow(clippy::type_complexity)]
fn reference_block() -> (BTreeMap<String, BTreeSet<String>>, BTreeMap<String, (u32, u32, String)>) {
    let mut inputs: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for r in csv_rows("inputs_with_addresses.csv") {
        if !r["address"].is_empty() {
            inputs.entry(r["txid"].clone()).or_default().insert(r["address"].clone());
        }
    }
    let mut outputs: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for r in csv_rows("outputs.csv") {
        outputs.entry(r["txid"].clone()).or_default().push(r["value_sats"].parse().unwrap());
    }
    let coinjoins = inputs
        .iter()
        .filter_map(|(tx, addrs)| {
            let outs = outputs.get(tx).map_or(&[][..], Vec::as_slice);
            reference_shape(addrs.len(), outs).map(|shape| (tx.clone(), (addrs.len() as u32, outs.len() as u32, shape.to_string())))
        })
        .collect();
    (inputs, coinjoins)
}

#[test]
fn the_reference_rules_follow_the_documented_examples() {
    assert_eq!(reference_shape(5, &[1_000_000; 5]), Some("equal-outputs"));
    assert_eq!(reference_shape(3, &[10_000_000, 10_000_000, 10_000_000, 1_234_567, 7_654_321, 30_000]), Some("equal-outputs"));
    assert_eq!(reference_shape(40, &[123_456_789]), None);
    assert_eq!(reference_shape(2, &[50_000, 1_000_000]), None);
    assert_eq!(reference_shape(2, &[70_000; 4]), None, "more equal outputs than input owners");
    assert_eq!(reference_shape(2, &[546, 546, 99_000]), None, "dust is no common value");
    let mut denominations: Vec<u64> = [100_000, 200_000, 500_000, 1_000_000].iter().flat_map(|&d| [d; 4]).collect();
    denominations.extend([111_111, 222_222, 333_333]);
    assert_eq!(reference_shape(12, &denominations), Some("denominations"));
    assert_eq!(reference_shape(4, &denominations), None);
}

/// An independent reference, from the CSV alone: it finds the CoinJoins
/// itself (the documented rules, [`reference_shape`]), and the engine's
/// CoinJoin list must equal it; then the connected components
/// (breadth-first) of every other transaction's input addresses must equal
/// the engine's clusters exactly.
#[test]
fn real_block_clusters_equal_the_components_of_co_spent_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let st = block_store(dir.path());
    let s = Store::open(&st).unwrap();
    let c = Clustering::build(&s, Params::default());
    let (by_tx, coinjoins) = reference_block();
    // The reference finds the joins checked by hand (see the top of this file) ...
    for w in WHIRLPOOL {
        assert_eq!(coinjoins.get(w), Some(&(5, 5, "equal-outputs".to_string())), "Whirlpool {w}");
    }
    assert_eq!(coinjoins[WASABI].2, "denominations");
    assert_eq!(coinjoins.len(), 10, "{coinjoins:?}");
    // ... and the engine's list is the reference's, transaction for transaction.
    let engine_joins: BTreeMap<String, (u32, u32, String)> = c
        .coinjoins
        .iter()
        .map(|j| (s.tx_text(j.tx), (j.inputs, j.outputs, serde_json::to_value(j.shape).unwrap().as_str().unwrap().to_string())))
        .collect();
    assert_eq!(engine_joins.len(), c.coinjoins.len(), "a CoinJoin listed twice");
    assert_eq!(engine_joins, coinjoins);
    // Nothing held back by the guard, so the clusters are plain components.
    assert!(c.flagged.is_empty(), "{:?}", c.flagged);
    let mut adj: HashMap<String, Vec<String>> = HashMap::new();
    for (tx, set) in &by_tx {
        if coinjoins.contains_key(tx) {
            continue;
        }
        let v: Vec<&String> = set.iter().collect();
        for w in v.windows(2) {
            adj.entry(w[0].clone()).or_default().push(w[1].clone());
            adj.entry(w[1].clone()).or_default().push(w[0].clone());
        }
    }
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut reference: BTreeSet<BTreeSet<String>> = BTreeSet::new();
    for start in adj.keys() {
        if seen.contains(start) {
            continue;
        }
        let mut comp = BTreeSet::new();
        let mut queue = vec![start.clone()];
        while let Some(a) = queue.pop() {
            if seen.insert(a.clone()) {
                queue.extend(adj[&a].iter().cloned());
                comp.insert(a);
            }
        }
        reference.insert(comp);
    }
    let engine: BTreeSet<BTreeSet<String>> = c
        .clusters()
        .into_iter()
        .filter(|&(_, n)| n > 1)
        .map(|(r, _)| c.members(r).into_iter().map(|m| s.address_text(m)).collect())
        .collect();
    assert_eq!(engine.len(), reference.len());
    assert!(engine == reference, "clusters differ from the reference components");
    // The largest is the 1,012-input consolidation 2a570190…, one owner.
    let largest = c.clusters()[0];
    assert_eq!(largest.1, 1012);
    assert_eq!(by_tx["2a570190f8c8bda77f44e7baf5e48e301c2e89a0efe7a1f25d9a8a8a3a0ed756"].len(), 1012);
    assert_eq!(c.counts.merges as usize, engine.iter().map(|m| m.len() - 1).sum::<usize>(), "a merge forest: one union per joined address");
}

#[test]
fn real_block_merges_explain_a_cluster() {
    let dir = tempfile::tempdir().unwrap();
    let st = block_store(dir.path());
    let (a, b) = ("31h8meJqjNtsCSrW4ASQ9wsfdb5BHg8ot5", "3ESKpu3hpnKTr6Kmp5L13iR2sBctuX2wRu");
    let steps = run_json(&["cluster", "--store", st.to_str().unwrap(), "--format", "json", "explain", a, b]);
    let steps = steps.as_array().unwrap();
    assert!(!steps.is_empty());
    assert_eq!(steps[0]["from"], a);
    assert_eq!(steps[steps.len() - 1]["to"], b);
    let inputs = csv_rows("inputs_with_addresses.csv");
    for (k, st) in steps.iter().enumerate() {
        if k > 0 {
            assert_eq!(st["from"], steps[k - 1]["to"], "steps chain");
        }
        // Each step names a transaction that really spent inputs of both addresses.
        for side in ["from", "to"] {
            assert!(inputs.iter().any(|r| r["txid"] == st["tx"].as_str().unwrap() && r["address"] == st[side].as_str().unwrap()), "{st}");
        }
    }
    // Addresses of different clusters: a usage error, exit 1.
    let o = run(&["cluster", "--store", st.to_str().unwrap(), "explain", a, "32cEixHivB9r7DuoV359gBy1VTVUTupoGy"]);
    assert_eq!(o.code, 1);
    assert!(o.stderr.contains("different clusters"), "{}", o.stderr);
}

/// A label on one member stops the whole cluster under `trace --cluster`.
///
/// Output 6f834119…:1 is spent in this block by 498ec7a3…, which pays
/// 582,604 sat to 1FPwWDqt…; that address and bc1qn6le… are inputs of one
/// transaction elsewhere in the block, so one owner. Labelling bc1qn6le… an
/// exchange makes the payment to 1FPwWDqt… a deposit at that exchange.
#[test]
fn trace_over_clusters_spreads_labels() {
    let dir = tempfile::tempdir().unwrap();
    let st = block_store(dir.path());
    let labels = dir.path().join("labels.csv");
    std::fs::write(&labels, "address,category,label\nbc1qn6le92dk9jgcwyqsemllljfscg9tcl8ew3gw7s,exchange,Example Exchange 1\n").unwrap();
    assert_eq!(run(&["labels", "--store", st.to_str().unwrap(), "import", labels.to_str().unwrap()]).code, 0);
    let trace = |extra: &[&str]| {
        let o = trace_cmd(
            &st,
            "haircut",
            "6f834119c3a92efb309521457ae808e634fd6f8e875414ae0d1b27283bd23b17:1",
            "exchange",
            &[&["--format", "json"], extra].concat(),
        );
        assert_eq!(o.code, 0, "{}", o.stderr);
        serde_json::from_str::<Value>(&o.stdout).unwrap()
    };
    let plain = trace(&[]);
    assert!(plain["destinations"].as_array().unwrap().is_empty());
    let r = trace(&["--cluster"]);
    let d = &r["destinations"][0];
    assert_eq!(d["address"], "1FPwWDqtxfmoxf3AJWGguoK6UU4NKQWm1q");
    assert_eq!(d["label"], "Example Exchange 1");
    assert_eq!(d["cluster_size"], 3);
    assert_eq!(d["amount"], "582604");
    assert_eq!(d["hops"], 1);
    let path = d["paths"][0].as_array().unwrap();
    assert_eq!(path.last().unwrap()["tx"], "498ec7a333e14baa38d92984719318681f9ac3006d6116a94adf884a5497e6dd");
    // Conservation holds over clusters too.
    let t = &r["totals"];
    let n = |v: &Value| v.as_str().unwrap().parse::<u128>().unwrap();
    assert_eq!(n(&r["seeded"]), n(&t["destinations"]) + n(&t["dormant"]) + n(&t["horizon"]) + n(&t["fees"]));
    assert_eq!(n(&plain["seeded"]), n(&r["seeded"]));
    // `cluster show` lists the spread label for every member.
    let v =
        run_json(&["cluster", "--store", st.to_str().unwrap(), "--format", "json", "show", "bc1qqhx2ac4vv905nxk45xjvsl7ww2fg26lwplazud"]);
    assert_eq!(v["size"], 3);
    assert_eq!(v["labels"][0]["label"], "Example Exchange 1");
    // Stats at cluster level.
    let s = run_json(&["stats", "--store", st.to_str().unwrap(), "--cluster", "--format", "json"]);
    assert_eq!(s["clusters"]["counts"]["coinjoins"], 10);
    assert_eq!(s["clusters"]["largest"][0]["size"], 1012);
    assert_eq!(s["events"], 6269);
}

#[test]
fn clustering_is_refused_on_ethereum() {
    let dir = tempfile::tempdir().unwrap();
    let st = dir.path().join("e");
    let o = ingest(&st, "ethereum", "transfers", &[], &[&data("dune-lazarus-ofac-flows-dspytdao/lazarus_ofac_eth_transfers.csv")]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    for args in [
        vec!["cluster", "--store", st.to_str().unwrap(), "stats"],
        vec!["stats", "--store", st.to_str().unwrap(), "--cluster"],
        vec![
            "trace",
            "--store",
            st.to_str().unwrap(),
            "--policy",
            "poison",
            "--seed",
            "0x098b716b8aaf21512996dc57eb0615e2383e2f96",
            "--cluster",
        ],
    ] {
        let o = run(&args);
        assert_eq!(o.code, 1, "{args:?}");
        assert!(o.stderr.contains("Bitcoin store"), "{}", o.stderr);
    }
}

fn generated(dir: &std::path::Path, inputs: u64) -> (Store, chaintrace::synth::utxo::Truth) {
    let st = dir.join("g");
    let truth = chaintrace::synth::utxo::write_store(&st, chaintrace::synth::utxo::Params::for_inputs(inputs, 7)).unwrap();
    (Store::open(&st).unwrap(), truth)
}

/// Addresses in clusters that hold more than one owner.
fn mixed(s: &Store, c: &Clustering) -> u64 {
    let owner = |a: u32| chaintrace::synth::utxo::owner(&s.address_text(a)).unwrap();
    let mut first: HashMap<u32, u32> = HashMap::new();
    let mut bad: BTreeSet<u32> = BTreeSet::new();
    for a in 5..s.address_count() as u32 {
        let r = c.rep(a);
        if *first.entry(r).or_insert(owner(a)) != owner(a) {
            bad.insert(r);
        }
    }
    bad.iter().map(|&r| u64::from(c.size_of(r))).sum()
}

#[test]
fn generated_chain_clusters_never_join_two_owners() {
    let dir = tempfile::tempdir().unwrap();
    let (s, truth) = generated(dir.path(), 60_000);
    let c = Clustering::build(&s, Params::default());
    // Every CoinJoin round is recognised, and nothing else.
    let found: BTreeSet<String> = c.coinjoins.iter().map(|j| s.tx_text(j.tx)).collect();
    assert!(truth.coinjoins.len() > 20, "{}", truth.coinjoins.len());
    assert_eq!(found, truth.coinjoins.iter().cloned().collect::<BTreeSet<String>>());
    assert_eq!(mixed(&s, &c), 0, "a cluster holds two owners");
    // Recall: most of a wallet's co-spent addresses end in one cluster; the
    // wallets outnumber the clusters that hold more than one address.
    assert!(c.counts.merges > truth.inputs / 4, "{:?}", c.counts);
    // Without CoinJoin detection the rounds fuse owners, and once clusters
    // are large the guard holds such rounds back.
    let keep = Clustering::build(&s, Params { exclude_coinjoins: false, guard: 0 });
    assert!(mixed(&s, &keep) > 0);
    let guarded = Clustering::build(&s, Params { exclude_coinjoins: false, guard: 20 });
    assert!(!guarded.flagged.is_empty());
    for f in &guarded.flagged {
        assert!(f.clusters.iter().filter(|c| c.1 >= 20).count() >= 2, "{f:?}");
    }
    assert!(guarded.cluster_count() > keep.cluster_count());
}

#[test]
fn cluster_cli_flags_held_back_merges() {
    let dir = tempfile::tempdir().unwrap();
    let (s, _) = generated(dir.path(), 20_000);
    let st = s.dir.to_str().unwrap().to_string();
    let rows = run_json(&["cluster", "--store", &st, "--keep-coinjoins", "--cluster-guard", "10", "--format", "json", "flagged"]);
    let rows = rows.as_array().unwrap();
    assert!(!rows.is_empty());
    for r in rows {
        let sides = r["clusters"].as_array().unwrap();
        assert!(sides.iter().filter(|x| x[1].as_u64().unwrap() >= 10).count() >= 2, "{r}");
    }
    let table = run(&["cluster", "--store", &st, "--keep-coinjoins", "--cluster-guard", "10", "stats"]);
    assert!(table.stdout.contains(&format!("held back by the guard (>= 10 addresses on two sides)\t{}", rows.len())), "{}", table.stdout);
}
