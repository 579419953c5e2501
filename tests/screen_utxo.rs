//! Screening a Bitcoin store (TRACING.md §4 on §3's UTXO model): on random
//! transaction graphs written as bitcoin-etl JSON and ingested, the
//! exposure sweep agrees with a naive reference written here from the spec
//! (one output at a time, per category: a source's outputs wholly tainted,
//! §3's haircut share on every other output, a service of another category
//! keeping what reaches it; change is no arrival), address by address and
//! category by category, and every evidence path is a chain of payments
//! from a source.

use chaintrace::ingest::{self, Format, Options};
use chaintrace::model::Chain;
use chaintrace::screen::CategorySet;
use chaintrace::screen::index::{Index, write};
use chaintrace::store::Store;
use chaintrace::synth::Rng;
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet, HashMap};

const T0: i64 = 1_700_000_000;

fn btc(k: u64) -> String {
    format!("bc1qscreen{k:030}")
}

struct Out {
    to: String,
    value: u128,
}

/// An input: the output it spends ((tx, index) in the data, or none: from
/// outside it), its value and address.
type Input = (Option<(usize, usize)>, u128, String);

struct Tx {
    hash: String,
    time: i64,
    ins: Vec<Input>,
    outs: Vec<Out>,
    fee: u128,
}

/// A random graph: coinbases first, then transactions spending random
/// unspent outputs (now and then one from outside the data), paying random
/// addresses, the payer's own now and then (change).
fn random_graph(rng: &mut Rng, n_addr: u64, n_tx: usize) -> Vec<Tx> {
    let mut txs: Vec<Tx> = Vec::new();
    let mut unspent: Vec<(usize, usize)> = Vec::new();
    for n in 0..n_tx {
        let hash = format!("{:064x}", n + 1);
        let time = T0 + 600 * n as i64;
        let mut ins = Vec::new();
        if n >= 3 && !unspent.is_empty() {
            for _ in 0..1 + rng.below(3) {
                if unspent.is_empty() {
                    break;
                }
                let at = unspent.swap_remove(rng.below(unspent.len() as u64) as usize);
                let o = &txs[at.0].outs[at.1];
                ins.push((Some(at), o.value, o.to.clone()));
            }
            if rng.below(6) == 0 {
                ins.push((None, u128::from(rng.below(5_000) + 1), btc(rng.below(n_addr))));
            }
        }
        let v_in: u128 = if ins.is_empty() { u128::from(rng.below(100_000) + 1_000) } else { ins.iter().map(|i| i.1).sum() };
        let fee = if ins.is_empty() { 0 } else { u128::from(rng.below(v_in.min(50) as u64 + 1)) };
        let mut left = v_in - fee;
        let k = 1 + rng.below(3) as usize;
        let mut outs = Vec::new();
        for j in 0..k {
            let value = if j + 1 == k { left } else { u128::from(rng.below(left as u64 + 1)) };
            left -= value;
            let to = if !ins.is_empty() && rng.below(5) == 0 { ins[0].2.clone() } else { btc(rng.below(n_addr)) };
            outs.push(Out { to, value });
        }
        for j in 0..outs.len() {
            unspent.push((n, j));
        }
        txs.push(Tx { hash, time, ins, outs, fee });
    }
    txs
}

fn json_lines(txs: &[Tx]) -> String {
    let mut text = String::new();
    for (n, t) in txs.iter().enumerate() {
        let inputs: Vec<serde_json::Value> = t
            .ins
            .iter()
            .enumerate()
            .map(|(k, (at, value, addr))| {
                let (h, i) = match at {
                    Some((tx, i)) => (txs[*tx].hash.clone(), *i),
                    None => (format!("{:064x}", 0xdead_0000 + n * 8 + k), 0),
                };
                json!({"index": k, "spent_transaction_hash": h, "spent_output_index": i, "addresses": [addr], "value": *value as u64})
            })
            .collect();
        let outputs: Vec<serde_json::Value> = t
            .outs
            .iter()
            .enumerate()
            .map(|(k, o)| json!({"index": k, "addresses": [o.to], "value": o.value as u64, "type": "witness_v0_keyhash"}))
            .collect();
        let v_in: u128 = t.ins.iter().map(|i| i.1).sum();
        let v_out: u128 = t.outs.iter().map(|o| o.value).sum();
        let line = json!({"hash": t.hash, "block_number": 800_000 + n, "block_timestamp": t.time, "index": 0,
            "is_coinbase": t.ins.is_empty(), "inputs": inputs, "outputs": outputs,
            "input_value": v_in as u64, "output_value": v_out as u64, "fee": t.fee as u64});
        text += &format!("{line}\n");
    }
    text
}

/// Exposure as the reference keeps it: amount, direct, smallest hop, first
/// tainted arrival (transaction, output).
type Naive = BTreeMap<(String, usize), (u128, u128, u32, (usize, usize))>;

fn naive(txs: &[Tx], n_cats: usize, seeds: &[BTreeSet<String>], absorbs: &[BTreeSet<String>]) -> (Naive, BTreeMap<String, u128>) {
    let mut taint: HashMap<(usize, usize), Vec<(u128, u32)>> = HashMap::new();
    let (mut exp, mut received) = (Naive::new(), BTreeMap::new());
    for (n, t) in txs.iter().enumerate() {
        let mut t_in = vec![0u128; n_cats];
        let mut hop = vec![u32::MAX; n_cats];
        for (at, _, _) in &t.ins {
            if let Some(x) = at.and_then(|a| taint.remove(&a)) {
                for c in 0..n_cats {
                    if x[c].0 > 0 {
                        t_in[c] += x[c].0;
                        hop[c] = hop[c].min(x[c].1);
                    }
                }
            }
        }
        let payers: BTreeSet<&String> = t.ins.iter().map(|i| &i.2).collect();
        let v_in: u128 = if t.ins.is_empty() { t.outs.iter().map(|o| o.value).sum() } else { t.ins.iter().map(|i| i.1).sum() };
        for (j, o) in t.outs.iter().enumerate() {
            let change = payers.contains(&o.to);
            if o.value > 0 && !change {
                *received.entry(o.to.clone()).or_default() += o.value;
            }
            let mut kept = vec![(0u128, 0u32); n_cats];
            for c in 0..n_cats {
                let x = if t_in[c] > 0 && v_in > 0 { o.value * t_in[c] / v_in } else { 0 };
                let h = hop[c].saturating_add(1);
                // Tainted change opens an entry of no amount (its first
                // arrival is where evidence paths pass through).
                if x > 0 {
                    let e = exp.entry((o.to.clone(), c)).or_insert((0, 0, u32::MAX, (n, j)));
                    if !change {
                        e.0 += x;
                        if h == 1 {
                            e.1 += x;
                        }
                        e.2 = e.2.min(h);
                    }
                }
                if seeds[c].contains(&o.to) {
                    kept[c] = (o.value, 0);
                } else if !absorbs[c].contains(&o.to) {
                    kept[c] = (x, h);
                }
            }
            taint.insert((n, j), kept);
        }
    }
    (exp, received)
}

#[test]
fn utxo_screening_agrees_with_naive() {
    let mut rng = Rng::new(20_261_203);
    let cats = ["hack", "mixer"];
    let (mut exposed, mut indirect, mut steps) = (0usize, 0usize, 0usize);
    for case in 0..120 {
        let t = tempfile::tempdir().unwrap();
        let n_addr = 4 + rng.below(8);
        let n_tx = 8 + rng.below(30) as usize;
        let txs = random_graph(&mut rng, n_addr, n_tx);
        let file = t.path().join("btc.json");
        std::fs::write(&file, json_lines(&txs)).unwrap();
        let st = t.path().join("s");
        ingest::ingest(&st, &[file], &Options::new(Chain::Bitcoin, Format::Etl)).unwrap();
        let pick = |rng: &mut Rng, most: u64| -> BTreeSet<String> { (0..rng.below(most + 1)).map(|_| btc(rng.below(n_addr))).collect() };
        let hack: BTreeSet<String> = pick(&mut rng, 1).into_iter().chain([btc(rng.below(n_addr))]).collect();
        let mixer: BTreeSet<String> = pick(&mut rng, 1).difference(&hack).cloned().collect();
        let exchange: BTreeSet<String> = pick(&mut rng, 2).difference(&hack).filter(|a| !mixer.contains(*a)).cloned().collect();
        let label = |set: &BTreeSet<String>, category: &str| -> Vec<chaintrace::labels::Label> {
            set.iter().map(|a| chaintrace::labels::Label { address: a.clone(), category: category.into(), ..Default::default() }).collect()
        };
        chaintrace::labels::save(&st, &[label(&hack, "hack"), label(&mixer, "mixer"), label(&exchange, "exchange")].concat()).unwrap();
        let store = Store::open(&st).unwrap();
        let seeds = [hack.clone(), mixer.clone()];
        let absorbs = [mixer.union(&exchange).cloned().collect(), exchange.clone()];
        let (want, want_received) = naive(&txs, 2, &seeds, &absorbs);
        let set = CategorySet::new(cats);
        let x = chaintrace::screen::utxo::sweep(&store, &set, &chaintrace::labels::load(&store)).unwrap();
        let ev = store.events();
        let place = |i: u64| -> (usize, usize) {
            let r = chaintrace::trace::evidence::EventRef::of(&store, i as usize);
            let n =
                txs.iter().position(|t| Some(&t.hash) == r.tx.as_ref().map(|h| h.trim_start_matches("0x").to_string()).as_ref()).unwrap();
            (n, (ev.sub(i as usize) & chaintrace::model::sub::MAX_INDEX) as usize)
        };
        let mut have = Naive::new();
        let mut have_received = BTreeMap::new();
        for (id, es) in x.by_address.iter().enumerate() {
            let a = store.address_text(id as u32);
            if x.received[id] > 0 {
                have_received.insert(a.clone(), x.received[id]);
            }
            for e in es {
                have.insert((a.clone(), e.category as usize), (e.amount, e.direct, e.hops, place(e.first_in)));
            }
        }
        assert_eq!(have_received, want_received, "case {case}: received");
        if have != want {
            let mut d = String::new();
            for k in have.keys().chain(want.keys()).collect::<BTreeSet<_>>() {
                if have.get(k) != want.get(k) {
                    d += &format!("{k:?}: engine {:?} naive {:?}\n", have.get(k), want.get(k));
                }
            }
            panic!("case {case}: hack {hack:?} mixer {mixer:?} exchange {exchange:?}\n{d}");
        }
        exposed += want.values().filter(|e| e.0 > 0).count();
        indirect += want.values().filter(|e| e.0 > 0 && e.2 > 1).count();
        // Evidence: each step's transaction spends an output of the
        // address the previous step paid; the first spends a source's.
        let p = t.path().join("x.idx");
        write(&store, "BTC", &set.names, &x, &p).unwrap();
        let ix = Index::open(&p).unwrap();
        for ((a, c), _) in want.iter().filter(|e| e.1.0 > 0) {
            let id = store.find_address(a).unwrap();
            let path = ix.path(&store, id, *c as u16);
            let at: Vec<(usize, usize)> = path.iter().map(|&e| place(e)).collect();
            assert_eq!(txs[at.last().unwrap().0].outs[at.last().unwrap().1].to, *a, "case {case}: the path ends at {a}");
            let spends = |n: usize, addr: &str| txs[n].ins.iter().any(|i| i.2 == addr);
            assert!(
                seeds[*c].iter().any(|s| spends(at[0].0, s)),
                "case {case}: the path to {a} ({c}) does not start at a source: {at:?}, its inputs {:?}, pred {:?}, seeds {:?}",
                txs.iter()
                    .enumerate()
                    .map(|(n, t)| format!(
                        "tx {n}: {:?} -> {:?}\n",
                        t.ins.iter().map(|i| (i.0, &i.2[28..], i.1)).collect::<Vec<_>>(),
                        t.outs.iter().map(|o| (&o.to[28..], o.value)).collect::<Vec<_>>()
                    ))
                    .collect::<String>(),
                ix.pred(id, *c as u16).map(place),
                seeds[*c]
            );
            for w in at.windows(2) {
                assert!(w[0].0 < w[1].0, "case {case}: out of order {at:?}");
                assert!(spends(w[1].0, &txs[w[0].0].outs[w[0].1].to), "case {case}: a broken path to {a}: {at:?}");
                steps += 1;
            }
        }
    }
    assert!(exposed > 300 && indirect > 100 && steps > 100, "{exposed} exposures, {indirect} indirect, {steps} path steps");
}
