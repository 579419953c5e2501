//! Screening (TRACING.md §4): the one-pass exposure index agrees with one
//! haircut trace per category run by the trace engine; seed labels with
//! validity intervals; the `screen` command on the real Lazarus flows.

mod common;
use chaintrace::labels::Label;
use chaintrace::screen::{self, CategorySet};
use chaintrace::store::Store;
use chaintrace::synth::Rng;
use chaintrace::trace::{self, Policy, Spec};
use common::*;
use std::collections::BTreeMap;

fn addr(k: usize) -> String {
    format!("0x{:040x}", k + 1)
}

/// A store of random transfers with block numbers, and labels.
fn random_store(dir: &std::path::Path, rng: &mut Rng, n_addr: usize, n: usize, labels: &[(usize, &str)]) -> Store {
    let f = dir.join("t.csv");
    let mut s = String::from("block_number,from_address,to_address,value\n");
    for i in 0..n {
        let from = rng.below(n_addr as u64) as usize;
        let to = if rng.below(10) == 0 { from } else { rng.below(n_addr as u64) as usize };
        let value = if rng.below(12) == 0 { 0 } else { rng.below(1000) + 1 };
        s += &format!("{},{},{},{}\n", 1000 + i, addr(from), addr(to), value);
    }
    std::fs::write(&f, s).unwrap();
    let st = dir.join("s");
    assert_eq!(ingest(&st, "ethereum", "transfers", &[], &[&f]).code, 0);
    let labels: Vec<Label> =
        labels.iter().map(|&(k, c)| Label { address: addr(k), category: c.into(), source: "csv".into(), ..Default::default() }).collect();
    chaintrace::labels::save(&st, &labels).unwrap();
    Store::open(&st).unwrap()
}

/// Per address: (amount, direct, hops, first tainted arrival), from the trace
/// engine's log of tainted events.
type Expected = BTreeMap<u32, (u128, u128, u32, u64)>;

fn by_trace(store: &Store, category: &str) -> Expected {
    let labels = chaintrace::labels::load(store);
    let ids = store.find_addresses(labels.iter().map(|l| l.address.as_str()));
    let mut seeds: Vec<u32> = labels.iter().filter(|l| l.category == category).filter_map(|l| ids.get(&l.address).copied()).collect();
    seeds.sort();
    seeds.dedup();
    let stop_at: Vec<String> = chaintrace::labels::taxonomy::services().filter(|&c| c != category).map(str::to_string).collect();
    let spec = Spec::new(Policy::Haircut, 0, seeds, stop_at);
    let out = trace::run_account(store, &spec).unwrap();
    let ev = store.events();
    let mut m = Expected::new();
    for t in &out.tainted {
        let x: u128 = t.x.to::<u128>();
        let e = m.entry(ev.receiver(t.event as usize)).or_insert((0, 0, u32::MAX, t.event));
        e.0 += x;
        if t.hop == 1 {
            e.1 += x;
        }
        e.2 = e.2.min(t.hop);
        e.3 = e.3.min(t.event);
    }
    m
}

#[test]
fn one_pass_equals_one_trace_per_category() {
    let cats = ["sanctioned", "hack", "mixer"];
    let mut rng = Rng::new(11);
    let mut compared = [0usize; 3];
    for round in 0..60 {
        let dir = tempfile::tempdir().unwrap();
        let n_addr = 6 + rng.below(30) as usize;
        let mut labels: Vec<(usize, &str)> = Vec::new();
        for k in 0..n_addr {
            for c in ["sanctioned", "hack", "mixer", "exchange", "defi"] {
                if rng.below(9) == 0 {
                    labels.push((k, c));
                }
            }
        }
        let n = 40 + rng.below(400) as usize;
        let store = random_store(dir.path(), &mut rng, n_addr, n, &labels);
        let set = CategorySet::new(cats);
        let x = screen::sweep::sweep(&store, 0, &set, &chaintrace::labels::load(&store)).unwrap();
        for (k, c) in cats.iter().enumerate() {
            let want = by_trace(&store, c);
            let mut got = Expected::new();
            for (id, es) in x.by_address.iter().enumerate() {
                for e in es.iter().filter(|e| e.category == k as u16 && e.amount > 0) {
                    got.insert(id as u32, (e.amount, e.direct, e.hops, e.first_in));
                }
            }
            assert_eq!(got, want, "round {round}, category {c}");
            compared[k] += got.len();
        }
    }
    assert!(compared.iter().all(|&n| n > 200), "{compared:?}");
}

/// Evidence paths from the index are real chains of tainted events from a
/// seed of the category to the screened address.
#[test]
fn evidence_paths_chain_from_a_seed() {
    let mut rng = Rng::new(5);
    let dir = tempfile::tempdir().unwrap();
    let labels = [(0, "sanctioned"), (1, "hack"), (2, "exchange")];
    let store = random_store(dir.path(), &mut rng, 25, 600, &labels);
    let set = CategorySet::new(["sanctioned", "hack"]);
    let (ix, built) = screen::open_or_build(&store, 0, &set).unwrap();
    assert!(built);
    let ev = store.events();
    let mut checked = 0;
    for id in 5..store.address_count() as u32 {
        for e in ix.exposures(id) {
            let p = ix.path(&store, id, e.category);
            assert!(!p.is_empty());
            assert_eq!(ev.receiver(*p.last().unwrap() as usize), id);
            assert!(ix.is_seed(ev.sender(p[0] as usize), e.category), "path starts at a seed");
            for w in p.windows(2) {
                assert!(w[0] < w[1]);
                assert_eq!(ev.receiver(w[0] as usize), ev.sender(w[1] as usize));
            }
            checked += 1;
        }
    }
    assert!(checked > 10, "{checked}");
    // Opening again reuses the file.
    let (_, built) = screen::open_or_build(&store, 0, &set).unwrap();
    assert!(!built);
}

/// The batch answer written straight as JSON is serde's, byte for byte:
/// exposed addresses, addresses in the data with nothing to show, and
/// addresses not in it, in one batch.
#[test]
fn batch_json_is_the_answer_serialised() {
    let mut rng = Rng::new(23);
    let dir = tempfile::tempdir().unwrap();
    let store = random_store(dir.path(), &mut rng, 40, 500, &[(0, "sanctioned"), (1, "hack"), (2, "exchange")]);
    let set = CategorySet::new(["sanctioned", "hack"]);
    let (ix, _) = screen::open_or_build(&store, 0, &set).unwrap();
    let risk = chaintrace::screen::risk::RiskConfig::default();
    let screener = chaintrace::screen::answer::Screener { store: &store, index: &ix, risk: &risk };
    let mut keys: Vec<[u8; 20]> = (5..store.address_count() as u32).map(|id| store.address_bytes(id).try_into().unwrap()).collect();
    keys.extend([[0x11; 20], [0xab; 20]]);
    keys.push(keys[3]);
    let want = serde_json::to_vec(&screener.screen(&keys)).unwrap();
    assert_eq!(String::from_utf8(screener.screen_json(&keys)).unwrap(), String::from_utf8(want.clone()).unwrap());
    let v: serde_json::Value = serde_json::from_slice(&want).unwrap();
    let results = v["results"].as_array().unwrap();
    let exposed = results.iter().filter(|r| !r["exposure"].as_array().unwrap().is_empty()).count();
    let quiet = results.iter().filter(|r| r["activity"] == true && r["exposure"].as_array().unwrap().is_empty()).count();
    assert!(exposed > 5 && quiet > 0 && results.iter().any(|r| r["activity"] == false), "{exposed} exposed, {quiet} quiet");
    assert_eq!(screener.screen_json(&[]), b"{\"results\":[]}");
}

/// A seed label with a validity interval: the address is a source only
/// while it applies. Worked by hand:
///
/// - t1 (before the label): S receives 100 clean from A, sends 40 to B: clean.
/// - t2 (labelled): S sends 10 to C: all taint (hop 1); S's remaining 50 turn
///   tainted.
/// - t3 (after the label): S receives 50 clean from A, sends 20 to D:
///   haircut 20 * 50/100 = 10 (hop 1: S held taint as a source).
/// - t4: D sends 20 to E: 20 * 10/20 = 10, hop 2.
#[test]
fn seed_intervals() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("t.csv");
    let (a, s, b, c, d, e) = (addr(100), addr(1), addr(2), addr(3), addr(4), addr(5));
    std::fs::write(
        &f,
        format!(
            "block_time,from_address,to_address,value\n\
             2022-01-01T00:00:00Z,{a},{s},100\n2022-01-02T00:00:00Z,{s},{b},40\n\
             2022-06-01T00:00:00Z,{s},{c},10\n\
             2023-01-01T00:00:00Z,{a},{s},50\n2023-01-02T00:00:00Z,{s},{d},20\n2023-01-03T00:00:00Z,{d},{e},20\n"
        ),
    )
    .unwrap();
    let st = dir.path().join("s");
    assert_eq!(ingest(&st, "ethereum", "transfers", &[], &[&f]).code, 0);
    let l = dir.path().join("l.csv");
    std::fs::write(&l, format!("address,category,label,valid_from,valid_to\n{s},sanctioned,S,2022-05-01,2022-12-31\n")).unwrap();
    assert_eq!(run(&["labels", "--store", st.to_str().unwrap(), "import", l.to_str().unwrap()]).code, 0);
    let list = dir.path().join("a.txt");
    std::fs::write(&list, format!("{b}\n{c}\n{d}\n{e}\n")).unwrap();
    let o = run(&["screen", "--store", st.to_str().unwrap(), list.to_str().unwrap()]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let v: serde_json::Value = serde_json::from_str(&o.stdout).unwrap();
    let r = v["results"].as_array().unwrap();
    let ex = |k: usize| r[k]["exposure"].as_array().unwrap().clone();
    assert!(ex(0).is_empty(), "B was paid before the label applied");
    assert_eq!(ex(1)[0]["amount"], "10");
    assert_eq!(ex(1)[0]["direct"], "10");
    assert_eq!(ex(2)[0]["amount"], "10");
    assert_eq!(ex(2)[0]["hops"], 1);
    assert_eq!(ex(3)[0]["amount"], "10");
    assert_eq!(ex(3)[0]["indirect"], "10");
    assert_eq!(ex(3)[0]["hops"], 2);
    assert_eq!(r[3]["received"], "20");
    assert_eq!(ex(3)[0]["share"], 0.5);
    let path = ex(3)[0]["path"].as_array().unwrap().clone();
    assert_eq!(path.len(), 2);
    assert_eq!(path[0]["from"], s.as_str());
    assert_eq!(path[1]["to"], e.as_str());
}

fn lazarus(dir: &std::path::Path) -> std::path::PathBuf {
    let st = dir.join("laz");
    let o = ingest(&st, "ethereum", "transfers", &[], &[&data("dune-lazarus-ofac-flows-dspytdao/lazarus_ofac_eth_transfers.csv")]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(run(&["labels", "--store", st.to_str().unwrap(), "import", data("labels/ethereum-labels.csv").to_str().unwrap()]).code, 0);
    st
}

/// On the real flows: 0xdd6458eb… received 5,238.1 ETH in one transfer from
/// the OFAC-listed 0xa0e1c89e…, so all it received is direct sanctioned
/// exposure; an address never seen answers "no activity".
#[test]
fn screen_command_on_the_lazarus_flows() {
    let dir = tempfile::tempdir().unwrap();
    let st = lazarus(dir.path());
    let list = dir.path().join("a.txt");
    std::fs::write(
        &list,
        "address\n# deposits\n0xDD6458EB5090832EB88BFFC7ADF39B0F3CDD6683\n0x1111111111111111111111111111111111111111\n\n0x3cffd56b47b7b41c56258d9c7731abadc360e073\n",
    )
    .unwrap();
    let o = run(&["screen", "--store", st.to_str().unwrap(), "--format", "json", list.to_str().unwrap()]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.stderr.contains("built the exposure index"), "{}", o.stderr);
    let v: serde_json::Value = serde_json::from_str(&o.stdout).unwrap();
    let r = v["results"].as_array().unwrap();
    assert_eq!(r.len(), 3);
    assert_eq!(r[0]["address"], "0xdd6458eb5090832eb88bffc7adf39b0f3cdd6683");
    assert_eq!(r[0]["received"], "5238100000000000000000");
    assert_eq!(r[0]["risk"], "severe");
    let e = &r[0]["exposure"][0];
    assert_eq!(
        (e["category"].as_str(), e["amount"].as_str(), e["direct"].as_str(), e["share"].as_f64()),
        (Some("sanctioned"), Some("5238100000000000000000"), Some("5238100000000000000000"), Some(1.0))
    );
    assert_eq!(e["path"][0]["from"], "0xa0e1c89ef1a489c9c7de96311ed5ce5d32c20e4b");
    assert_eq!(r[1]["activity"], false);
    assert_eq!(r[1]["risk"], "none");
    assert!(r[1]["exposure"].as_array().unwrap().is_empty());
    // The second run reuses the index; --fail-above gates a pipeline.
    let o = run(&["screen", "--store", st.to_str().unwrap(), "--fail-above", "high", "--format", "csv", list.to_str().unwrap()]);
    assert_eq!(o.code, 3, "{}", o.stderr);
    assert!(!o.stderr.contains("built"), "{}", o.stderr);
    assert!(o.stdout.starts_with("address,activity,received,risk,category"));
    assert!(o.stdout.contains("0x1111111111111111111111111111111111111111,false,0,none,,,,,,,,\n"), "{}", o.stdout);
    let clean = dir.path().join("clean.txt");
    std::fs::write(&clean, "0x1111111111111111111111111111111111111111\n").unwrap();
    assert_eq!(run(&["screen", "--store", st.to_str().unwrap(), "--fail-above", "low", clean.to_str().unwrap()]).code, 0);
    // New labels make a new generation: the index is rebuilt for it.
    let l = dir.path().join("l.csv");
    std::fs::write(&l, "address,category\n0x1111111111111111111111111111111111111112,hack\n").unwrap();
    assert_eq!(run(&["labels", "--store", st.to_str().unwrap(), "import", l.to_str().unwrap()]).code, 0);
    let o = run(&["screen", "--store", st.to_str().unwrap(), list.to_str().unwrap()]);
    assert!(o.stderr.contains("built the exposure index"), "{}", o.stderr);
    assert_eq!(std::fs::read_dir(st.join("exposure")).unwrap().count(), 1, "the old generation's index is removed");
}

#[test]
fn malformed_addresses_name_their_line() {
    let dir = tempfile::tempdir().unwrap();
    let st = lazarus(dir.path());
    let list = dir.path().join("a.txt");
    std::fs::write(&list, "0xdd6458eb5090832eb88bffc7adf39b0f3cdd6683\n\n0xdd6458eb5090832eb88bffc7adf39b0f3cdd66\n").unwrap();
    let o = run(&["screen", "--store", st.to_str().unwrap(), list.to_str().unwrap()]);
    assert_eq!(o.code, 1);
    assert!(o.stderr.contains("a.txt: line 3, field `address`"), "{}", o.stderr);
    let cfg = dir.path().join("risk.json");
    std::fs::write(&cfg, r#"{"categories": {"sanctioned": {"hgh": 1}}}"#).unwrap();
    std::fs::write(&list, "0xdd6458eb5090832eb88bffc7adf39b0f3cdd6683\n").unwrap();
    let o = run(&["screen", "--store", st.to_str().unwrap(), "--risk-config", cfg.to_str().unwrap(), list.to_str().unwrap()]);
    assert_eq!(o.code, 1);
    assert!(o.stderr.contains("risk.json") && o.stderr.contains("hgh"), "{}", o.stderr);
}

/// An index whose section length is not a whole number of records is
/// refused as corrupt, never read past or misinterpreted.
#[test]
fn a_section_of_broken_length_is_corrupt() {
    let mut rng = Rng::new(11);
    let dir = tempfile::tempdir().unwrap();
    let store = random_store(dir.path(), &mut rng, 25, 300, &[(0, "sanctioned")]);
    let set = CategorySet::new(["sanctioned"]);
    let (ix, _) = screen::open_or_build(&store, 0, &set).unwrap();
    assert!(ix.meta.entries > 0);
    drop(ix);
    let path = screen::index::path_for(&store, &store.manifest.assets[0]);
    let mut bytes = std::fs::read(&path).unwrap();
    let len = u64::from_le_bytes(bytes[8..16].try_into().unwrap()) as usize;
    let mut meta: serde_json::Value = serde_json::from_slice(&bytes[16..16 + len]).unwrap();
    let entries = meta["sections"][3]["bytes"].as_u64().unwrap();
    meta["sections"][3]["bytes"] = (entries - 1).into();
    let json = serde_json::to_vec(&meta).unwrap();
    bytes[8..16].copy_from_slice(&(json.len() as u64).to_le_bytes());
    bytes[16..16 + json.len()].copy_from_slice(&json);
    bytes[16 + json.len()..4096].fill(0);
    std::fs::write(&path, &bytes).unwrap();
    let e = screen::index::Index::open(&path).err().expect("refused");
    assert!(e.to_string().contains("a section cannot be read: column length"), "{e}");
}

/// Damaged contents of well-formed sections (offsets out of order, an
/// entry of no category, a slot naming no address, an arrival past the
/// store's end) are refused or ignored, never trusted: `open_or_build`
/// rebuilds, and the answers equal those of a fresh build.
#[test]
fn damaged_index_contents_are_refused_and_rebuilt() {
    let mut rng = Rng::new(12);
    let dir = tempfile::tempdir().unwrap();
    let store = random_store(dir.path(), &mut rng, 25, 300, &[(0, "sanctioned"), (1, "hack")]);
    let set = CategorySet::new(["sanctioned", "hack"]);
    let (ix, _) = screen::open_or_build(&store, 0, &set).unwrap();
    let keys: Vec<[u8; 20]> = (0..store.address_count() as u32).filter_map(|k| store.address_bytes(k).try_into().ok()).collect();
    let risk = chaintrace::screen::risk::RiskConfig::default();
    let want = chaintrace::screen::answer::Screener { store: &store, index: &ix, risk: &risk }.screen(&keys);
    assert!(want.results.iter().any(|r| !r.exposure.is_empty()));
    drop(ix);
    let path = screen::index::path_for(&store, &store.manifest.assets[0]);
    let good = std::fs::read(&path).unwrap();
    let len = u64::from_le_bytes(good[8..16].try_into().unwrap()) as usize;
    let meta: serde_json::Value = serde_json::from_slice(&good[16..16 + len]).unwrap();
    let at = |k: usize| meta["sections"][k]["offset"].as_u64().unwrap() as usize;
    let entries = meta["entries"].as_u64().unwrap() as usize;
    assert!(entries > 0);
    // (what, where, the bytes written there)
    let damage: [(&str, usize, Vec<u8>); 3] = [
        // The second address's offset beyond the entries.
        ("entry offsets", at(2) + 4, u32::MAX.to_le_bytes().to_vec()),
        // The first entry's category (bytes 44..46 of its 48).
        ("category", at(3) + 44, 9u16.to_le_bytes().to_vec()),
        // The first entry's first arrival (bytes 32..40) past the store.
        ("events", at(3) + 32, u64::MAX.to_le_bytes().to_vec()),
    ];
    for (what, offset, patch) in damage {
        let mut bytes = good.clone();
        bytes[offset..offset + patch.len()].copy_from_slice(&patch);
        std::fs::write(&path, &bytes).unwrap();
        let (ix, built) = screen::open_or_build(&store, 0, &set).unwrap();
        assert!(built, "{what}: the damaged index was trusted");
        let got = chaintrace::screen::answer::Screener { store: &store, index: &ix, risk: &risk }.screen(&keys);
        assert_eq!(got, want, "{what}");
    }
    // A slot naming no address is no hit, not a panic.
    let mut bytes = good.clone();
    let slots = meta["slots"].as_u64().unwrap() as usize;
    for s in 0..slots {
        let id = at(0) + 24 * s + 20;
        if bytes[id..id + 4] != u32::MAX.to_le_bytes() {
            bytes[id..id + 4].copy_from_slice(&(u32::MAX - 1).to_le_bytes());
        }
    }
    std::fs::write(&path, &bytes).unwrap();
    let ix = screen::index::Index::open(&path).unwrap();
    assert!(keys.iter().all(|k| ix.lookup(k).is_none()));
}
