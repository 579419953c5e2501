//! Label sets investigators use, imported into one taxonomy; entities in
//! reports; validity intervals; exchange deposit addresses found from sweeps.

mod common;
use chaintrace::labels::import::{Format, import};
use chaintrace::labels::{Label, precedence};
use chaintrace::model::Chain;
use common::*;
use std::path::{Path, PathBuf};

fn set(rel: &str) -> PathBuf {
    data(&format!("label-sets/{rel}"))
}

fn of<'a>(labels: &'a [Label], address: &str) -> Vec<&'a Label> {
    let mut v: Vec<&Label> = labels.iter().filter(|l| l.address == address).collect();
    v.sort_by(|a, b| precedence(a, b));
    v
}

const TORNADO_PROXY: &str = "0x722122df12d4e14e13ac3b6895a86e84145b6967";

#[test]
fn every_bundled_label_set_is_detected_and_mapped() {
    let eth = Chain::Ethereum;
    let got = |rel: &str| import(&set(rel), None, eth, false).unwrap_or_else(|e| panic!("{rel}: {e}"));

    let ofac = got("ofac-sanctioned-addresses-0xB10C/lists/sanctioned_addresses_ETH.txt");
    assert_eq!((ofac.format, ofac.rows, ofac.labels.len()), (Format::OfacList, 152, 152));
    assert!(ofac.labels.iter().all(|l| l.category == "sanctioned" && l.confidence == 100));
    let json = got("ofac-sanctioned-addresses-0xB10C/lists/sanctioned_addresses_ETH.json");
    assert_eq!(json.labels, ofac.labels, "the JSON list and the text list are the same list");
    let xbt = got("ofac-sanctioned-addresses-0xB10C/lists/sanctioned_addresses_XBT.json");
    assert_eq!((xbt.labels.len() as u64, xbt.other_chain), (0, xbt.rows), "Bitcoin addresses are not for an Ethereum store");

    let usm = got("ofac-eth-addresses-with-entity-ultrasoundmoney/data.csv");
    assert_eq!((usm.format, usm.labels.len()), (Format::OfacEntity, 97));
    assert_eq!(of(&usm.labels, LAZARUS)[0].entity, "LAZARUS GROUP");

    let es = got("etherscan-labels-brianleect/data/etherscan/combined/combinedAccountLabels.json");
    assert_eq!(es.format, Format::EtherscanJson);
    assert!(es.rows > 20_000, "{}", es.rows);
    let cats = |ls: &[Label], c: &str| ls.iter().filter(|l| l.category == c).count();
    assert!(cats(&es.labels, "exchange") > 300 && cats(&es.labels, "mixer") > 50 && cats(&es.labels, "bridge") > 100);
    let bn = got("etherscan-labels-brianleect/data/etherscan/accounts/binance.csv");
    assert_eq!(bn.format, Format::EtherscanCsv);
    assert!(bn.labels.iter().all(|l| l.category == "exchange"));
    // "Binance 14" and "Binance: Deposit 1" are Binance; "Binance US" and
    // "Wintermute: Binance Deposit" are not.
    assert!(bn.labels.iter().filter(|l| l.entity == "Binance").count() >= 45);
    assert!(bn.labels.iter().any(|l| l.entity == "Wintermute"));

    let dl = got("eth-labels-dawsbot/v1-2024-04-30/accounts_flat.csv");
    assert_eq!(dl.format, Format::EthLabels);
    assert_eq!(dl.labels.len() as u64 + dl.other_chain, dl.rows, "one label per Ethereum row; other chains left out");
    assert!(dl.other_chain > 10_000);
    // The file's own chain column names the other EVM chains (by explorer
    // or by chain): their rows go to stores of those chains.
    // (Base and Optimism each hold a row whose address is "genesis", BSC two empty ones: bad rows, skipped and counted.)
    for (chain, n, bad) in [(Chain::Arbitrum, 3047, 0), (Chain::Base, 5982, 1), (Chain::Bsc, 3163, 2), (Chain::Optimism, 2172, 1)] {
        let other = import(&set("eth-labels-dawsbot/v1-2024-04-30/accounts_flat.csv"), None, chain, true).unwrap();
        assert_eq!((other.labels.len() as u64 + other.skipped, other.rows - other.other_chain, other.skipped), (n, n, bad), "{chain}");
        assert!(other.labels.iter().all(|l| l.address.starts_with("0x")));
    }
    let tc_arb = import(&set("derived-tornado-cash-contracts/tornado_cash_addresses.csv"), None, Chain::Arbitrum, false).unwrap();
    assert_eq!(tc_arb.labels.iter().filter(|l| l.category == "mixer").count(), 4, "Tornado's four Arbitrum pools");

    for f in ["phishing_scams.csv", "malicious_smart_contracts.csv", "etherscan_malicious_labels.csv"] {
        let fo = got(&format!("forta-labelled-datasets/labels/1/{f}"));
        assert_eq!(fo.format, Format::Forta, "{f}");
        assert!(fo.labels.iter().all(|l| ["hack", "phishing", "scam"].contains(&l.category.as_str())), "{f}");
        assert!(cats(&fo.labels, "phishing") + cats(&fo.labels, "hack") > 0, "{f}");
    }

    let gs = got("graphsense-tagpacks/tags_flat.csv.gz");
    assert_eq!((gs.format, gs.rows), (Format::GraphsenseCsv, 524_170));
    assert!(gs.other_chain > 490_000, "the Bitcoin tags are left out of an Ethereum store");
    let lz = of(&gs.labels, LAZARUS);
    assert!(lz.iter().any(|l| l.category == "hack" && l.source == "graphsense:ronin_bridge"), "{lz:?}");
    assert!(lz.iter().any(|l| l.category == "sanctioned" && l.entity == "Lazarus Group"), "actor names come from actors.json: {lz:?}");

    let yaml = got("graphsense-tagpacks/packs/ronin_bridge.yaml");
    assert_eq!((yaml.format, yaml.rows, yaml.labels.len()), (Format::GraphsenseYaml, 6, 6));
    assert!(yaml.labels.iter().all(|l| l.category == "hack" && l.confidence == 80 && l.source == "graphsense:ronin_bridge"));
    let flat: Vec<&Label> = gs.labels.iter().filter(|l| l.source == "graphsense:ronin_bridge").collect();
    assert_eq!(flat.len(), 6);
    for l in &yaml.labels {
        assert!(
            flat.iter().any(|f| f.address == l.address && f.label == l.label && f.category == l.category),
            "YAML and flat CSV agree on {l:?}"
        );
    }

    let tc = got("derived-tornado-cash-contracts/tornado_cash_addresses.csv");
    assert_eq!(tc.format, Format::Tornado);
    let proxy = of(&tc.labels, TORNADO_PROXY);
    let sanctioned = proxy.iter().find(|l| l.category == "sanctioned").expect("the proxy was sanctioned");
    let t = |s: &str| chaintrace::model::time::parse_time(s.as_bytes());
    assert!(!sanctioned.applies_at(t("2021-06-01T00:00:00Z")) && sanctioned.applies_at(t("2023-06-01T00:00:00Z")));
    assert!(!sanctioned.applies_at(t("2025-06-01T00:00:00Z")), "delisted on 2025-03-21");
    assert!(proxy.iter().any(|l| l.category == "mixer" && !l.is_bounded()));
}

#[test]
fn a_bad_row_names_file_line_and_field_and_can_be_skipped() {
    // A real defect: a spreadsheet turned one address into a float.
    let f = set("eth-labels-dawsbot/master-2022-05-25/phish-hack.csv");
    let e = import(&f, None, Chain::Ethereum, false).unwrap_err().to_string();
    assert!(e.contains("phish-hack.csv: line 1009, field `address`"), "{e}");
    let ok = import(&f, None, Chain::Ethereum, true).unwrap();
    assert_eq!((ok.skipped, ok.labels.len() as u64 + ok.skipped), (4, ok.rows));
    assert!(ok.labels.iter().any(|l| l.category == "hack" && l.label.contains("Hacker")));
    assert!(ok.labels.iter().any(|l| l.category == "phishing"));
}

fn dune_store(dir: &Path) -> PathBuf {
    let s = dir.join("s");
    let dune = data("dune-lazarus-ofac-flows-dspytdao/lazarus_ofac_eth_transfers.csv");
    assert_eq!(ingest(&s, "ethereum", "transfers", &["--value-unit", "eth"], &[&dune]).code, 0);
    s
}

#[test]
fn labels_cli_import_show_list_stats() {
    let t = tempfile::tempdir().unwrap();
    let s = dune_store(t.path());
    let st = s.to_str().unwrap();
    let files = [
        set("ofac-sanctioned-addresses-0xB10C/lists/sanctioned_addresses_ETH.txt"),
        set("ofac-eth-addresses-with-entity-ultrasoundmoney/data.csv"),
        set("graphsense-tagpacks/packs/ronin_bridge.yaml"),
    ];
    let mut args = vec!["labels", "--store", st, "import"];
    args.extend(files.iter().map(|f| f.to_str().unwrap()));
    let o = run(&args);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.stdout.contains("255 label rows read, 255 new"), "{}", o.stdout);
    // Again: nothing new.
    let o = run(&args);
    assert!(o.stdout.contains("255 label rows read, 0 new, 255 in the store"), "{}", o.stdout);

    let o = run(&["labels", "--store", st, "show", "0x098B716B8Aaf21512996dC57EB0615e2383E2f96", "--format", "json"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let rows: serde_json::Value = serde_json::from_str(&o.stdout).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 3);
    // Precedence: confidence, then source rank (OFAC first), then category.
    assert_eq!((rows[0]["source"].as_str(), rows[0]["category"].as_str()), (Some("ofac"), Some("sanctioned")));
    assert_eq!(rows[1]["entity"], "LAZARUS GROUP");
    assert_eq!((rows[2]["category"].as_str(), rows[2]["confidence"].as_u64()), (Some("hack"), Some(80)));

    let o = run(&["labels", "--store", st, "stats", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&o.stdout).unwrap();
    assert_eq!(v["labels"], 255);
    let distinct: std::collections::HashSet<String> =
        files.iter().flat_map(|f| import(f, None, Chain::Ethereum, false).unwrap().labels).map(|l| l.address).collect();
    assert_eq!(v["addresses"], distinct.len());
    assert!(v["addresses_in_data"].as_u64().unwrap() >= 8, "{v}");
    assert!(v["conflicting_addresses"].as_u64().unwrap() >= 1, "the exploiter is both sanctioned and a hack: {v}");

    let o = run(&["labels", "--store", st, "list", "--category", "hack"]);
    assert_eq!(o.stdout.lines().count(), 1 + 6, "{}", o.stdout);
}

fn write(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    p
}

/// A store under `dir` of `seed`'s transfers (time, receiver, value), one
/// transaction each, from the plain transfers CSV.
fn transfers_from(dir: &Path, seed: &str, rows: &[(&str, &str, u64)]) -> PathBuf {
    let mut csv = String::from("block_time,transaction_hash,from_address,to_address,value\n");
    for (k, (time, to, value)) in rows.iter().enumerate() {
        csv += &format!("{time},0x{:064x},{seed},{to},{value}\n", k + 1);
    }
    let f = write(dir, "t.csv", &csv);
    let s = dir.join("s");
    assert_eq!(ingest(&s, "ethereum", "transfers", &[], &[&f]).code, 0);
    s
}

fn trace_json(store: &Path, args: &[&str]) -> serde_json::Value {
    let mut a = vec!["trace", "--store", store.to_str().unwrap(), "--format", "json"];
    a.extend_from_slice(args);
    let o = run(&a);
    assert_eq!(o.code, 0, "{}", o.stderr);
    serde_json::from_str(&o.stdout).unwrap()
}

#[test]
fn sanctions_apply_inside_their_interval_and_entities_aggregate() {
    let t = tempfile::tempdir().unwrap();
    let seed = "0x1111111111111111111111111111111111111111";
    // Two real Binance hot wallets (Etherscan's label cloud) and the Tornado
    // Cash proxy, sanctioned from 2022-08-08 to 2025-03-21.
    let (b14, b7) = ("0x28c6c06298d514db089934071355e5743bf21d60", "0xbe0eb53f46cd790cd13851d5eff43d12404d33e8");
    let s = transfers_from(
        t.path(),
        seed,
        &[
            ("2021-06-01T00:00:00Z", TORNADO_PROXY, 100),
            ("2023-06-01T00:00:00Z", TORNADO_PROXY, 40),
            ("2023-06-02T00:00:00Z", b14, 30),
            ("2023-06-03T00:00:00Z", b7, 20),
        ],
    );
    let st = s.to_str().unwrap();
    let bn = set("etherscan-labels-brianleect/data/etherscan/accounts/binance.csv");
    let tc = set("derived-tornado-cash-contracts/tornado_cash_addresses.csv");
    let o = run(&["labels", "--store", st, "import", bn.to_str().unwrap(), tc.to_str().unwrap()]);
    assert_eq!(o.code, 0, "{}", o.stderr);

    let r = trace_json(&s, &["--policy", "haircut", "--seed", seed, "--stop-at", "sanctioned"]);
    let d = &r["destinations"][0];
    assert_eq!((d["address"].as_str(), d["amount"].as_str()), (Some(TORNADO_PROXY), Some("40")), "only the 2023 arrival is absorbed: {r}");
    assert_eq!(d["entity"], "Tornado Cash");
    assert_eq!(r["dormant"][0]["address"], TORNADO_PROXY, "the 2021 arrival stays with the proxy");
    assert_eq!(r["dormant"][0]["amount"], "100");

    let r = trace_json(&s, &["--policy", "haircut", "--seed", seed, "--stop-at", "exchange,mixer"]);
    let ents = r["entities"].as_array().unwrap();
    assert_eq!(ents.len(), 2, "{r}");
    assert_eq!((ents[0]["entity"].as_str(), ents[0]["amount"].as_str()), (Some("Tornado Cash"), Some("140")));
    assert_eq!((ents[1]["entity"].as_str(), ents[1]["amount"].as_str()), (Some("Binance"), Some("50")));
    assert_eq!(ents[1]["addresses"], serde_json::json!([b14, b7]));
    assert_eq!(r["destinations"].as_array().unwrap().len(), 3, "per-address detail kept");
}

#[test]
fn a_stop_is_named_by_the_label_of_highest_precedence() {
    // Rules are grouped by address before they are ordered (stop_rules reads
    // tens of thousands of labels a trace): the order must still be the
    // labels' precedence, whatever the order of import.
    let t = tempfile::tempdir().unwrap();
    let seed = "0x1111111111111111111111111111111111111111";
    let (x, y) = ("0x2222222222222222222222222222222222222222", "0x3333333333333333333333333333333333333333");
    let s = transfers_from(t.path(), seed, &[("2023-06-01T00:00:00Z", x, 70), ("2023-06-02T00:00:00Z", y, 30)]);
    let st = s.to_str().unwrap();
    let a = write(t.path(), "a.csv", &format!("address,category,label\n{x},exchange,Zeta Exchange 1\n{y},exchange,Yonder 2\n"));
    let b = write(t.path(), "b.csv", &format!("address,category,label\n{x},sanctioned,Bad Actor\n{x},exchange,Alpha Exchange 3\n"));
    for file in [&a, &b] {
        assert_eq!(run(&["labels", "--store", st, "import", file.to_str().unwrap()]).code, 0);
    }
    let first_label = |address: &str, category: Option<&str>| {
        let o = run(&["labels", "--store", st, "show", address, "--format", "json"]);
        let rows: Vec<serde_json::Value> = serde_json::from_str(&o.stdout).unwrap();
        let row = rows.into_iter().find(|r| category.is_none_or(|c| r["category"] == c)).unwrap();
        (row["category"].as_str().unwrap().to_string(), row["label"].as_str().unwrap().to_string())
    };
    for (stops, only) in [("exchange,sanctioned", None), ("exchange", Some("exchange")), ("sanctioned", Some("sanctioned"))] {
        let r = trace_json(&s, &["--policy", "haircut", "--seed", seed, "--stop-at", stops]);
        let d = r["destinations"].as_array().unwrap().iter().find(|d| d["address"] == x).unwrap().clone();
        let want = first_label(x, only);
        assert_eq!((d["category"].as_str().unwrap(), d["label"].as_str().unwrap()), (want.0.as_str(), want.1.as_str()), "{stops}: {r}");
        assert_eq!(d["amount"], "70");
    }
    let r = trace_json(&s, &["--policy", "haircut", "--seed", seed, "--stop-at", "exchange"]);
    let d = r["destinations"].as_array().unwrap().iter().find(|d| d["address"] == y).unwrap().clone();
    assert_eq!((d["label"].as_str(), d["entity"].as_str()), (Some("Yonder 2"), Some("Yonder")));
}

#[test]
fn the_zero_address_is_a_burn_before_any_label_of_its_own() {
    // The stop rules are one list with a range per address, the zero
    // address's own rule put first in its range: whether or not it has
    // labels, and whatever labelled addresses come before and after it.
    let t = tempfile::tempdir().unwrap();
    let seed = "0x1111111111111111111111111111111111111111";
    let zero = "0x0000000000000000000000000000000000000000";
    let (x, y) = ("0x2222222222222222222222222222222222222222", "0x3333333333333333333333333333333333333333");
    let s = transfers_from(
        t.path(),
        seed,
        &[("2023-06-01T00:00:00Z", x, 50), ("2023-06-02T00:00:00Z", zero, 30), ("2023-06-03T00:00:00Z", y, 20)],
    );
    let st = s.to_str().unwrap();
    let named = |r: &serde_json::Value, a: &str| {
        r["destinations"].as_array().unwrap().iter().find(|d| d["address"] == a).map(|d| {
            (
                d["category"].as_str().unwrap().to_string(),
                d["label"].as_str().unwrap().to_string(),
                d["amount"].as_str().unwrap().to_string(),
            )
        })
    };
    let burn = Some(("burn".to_string(), "Null address".to_string(), "30".to_string()));
    // No labels, no --stop-at: the zero address alone is a stop.
    let r = trace_json(&s, &["--policy", "haircut", "--seed", seed]);
    assert_eq!(named(&r, zero), burn, "{r}");
    assert_eq!(r["destinations"].as_array().unwrap().len(), 1, "{r}");
    let labels = write(
        t.path(),
        "l.csv",
        &format!("address,category,label\n{y},exchange,Yonder 2\n{zero},exchange,Zero Exchange 9\n{x},exchange,Xeno 1\n"),
    );
    assert_eq!(run(&["labels", "--store", st, "import", labels.to_str().unwrap()]).code, 0);
    for stops in [None, Some("exchange")] {
        let mut args = vec!["--policy", "haircut", "--seed", seed];
        args.extend(stops.iter().flat_map(|s| ["--stop-at", *s]));
        let r = trace_json(&s, &args);
        assert_eq!(named(&r, zero), burn, "{stops:?}: {r}");
        let exchange = |label: &str, amount: &str| Some(("exchange".to_string(), label.to_string(), amount.to_string()));
        let (want_x, want_y) = if stops.is_some() { (exchange("Xeno 1", "50"), exchange("Yonder 2", "20")) } else { (None, None) };
        assert_eq!((named(&r, x), named(&r, y)), (want_x, want_y), "{stops:?}: {r}");
    }
}

#[test]
fn deposit_addresses_found_from_sweeps_on_a_world_with_known_truth() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("w");
    let made = std::process::Command::new(env!("CARGO_BIN_EXE_chaintrace-gen"))
        .args(["world", "--events", "200000", "--out", d.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(made.status.success());
    let seed = String::from_utf8(made.stdout).unwrap().trim().to_string();
    let s = t.path().join("s");
    let files: Vec<PathBuf> = ["transactions.csv", "traces.csv", "token_transfers.csv"].iter().map(|f| d.join(f)).collect();
    let refs: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    assert_eq!(ingest(&s, "ethereum", "etl", &[], &refs).code, 0);
    let st = s.to_str().unwrap();
    assert_eq!(run(&["labels", "--store", st, "import", d.join("labels.csv").to_str().unwrap()]).code, 0);
    // Basis points past 100% are a usage error, before any work.
    for bad in [["--tolerance-bps", "10001"], ["--min-share-bps", "4294967295"]] {
        let o = run(&["labels", "--store", st, "detect-deposits", bad[0], bad[1]]);
        assert_eq!(o.code, 1, "{bad:?}: {}", o.stderr);
        assert!(o.stderr.contains("basis points run from 0 to 10,000"), "{}", o.stderr);
    }
    let o = run(&["labels", "--store", st, "detect-deposits"]);
    assert_eq!(o.code, 0, "{}", o.stderr);

    let truth: std::collections::HashMap<String, String> = std::fs::read_to_string(d.join("deposits_truth.csv"))
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| {
            let (a, e) = l.split_once(',').unwrap();
            (a.to_string(), e.to_string())
        })
        .collect();
    let o = run(&["labels", "--store", st, "list", "--category", "exchange", "--format", "json"]);
    let found: Vec<Label> = serde_json::from_str::<Vec<serde_json::Value>>(&o.stdout)
        .unwrap()
        .into_iter()
        .filter(|l| l["source"] == "detected:deposit")
        .map(|l| Label {
            address: l["address"].as_str().unwrap().into(),
            entity: l["entity"].as_str().unwrap().into(),
            evidence: l["evidence"].as_str().unwrap().into(),
            ..Label::default()
        })
        .collect();
    let right = found.iter().filter(|l| truth.get(&l.address) == Some(&l.entity)).count();
    let precision = right as f64 / found.len() as f64;
    let recall = right as f64 / truth.len() as f64;
    eprintln!("deposit detector: {} found, {} true deposits, precision {precision:.4}, recall {recall:.4}", found.len(), truth.len());
    assert!(precision >= 0.95 && recall >= 0.9, "precision {precision}, recall {recall}");
    assert!(found.iter().all(|l| l.evidence.len() == 66), "each names its sweep transaction");

    // The hack's money now stops at the deposit addresses, grouped by exchange.
    let r = trace_json(&s, &["--policy", "haircut", "--seed", &seed, "--stop-at", "exchange,mixer,bridge,defi"]);
    let dests = r["destinations"].as_array().unwrap();
    let at_deposits = dests.iter().filter(|d| truth.contains_key(d["address"].as_str().unwrap())).count();
    assert!(at_deposits > 0, "{r}");
    let ents = r["entities"].as_array().unwrap();
    assert!(
        ents.iter().any(|e| e["entity"].as_str().unwrap().starts_with("Exchange-") && e["addresses"].as_array().unwrap().len() > 1),
        "{ents:?}"
    );
}

#[test]
fn bitcoin_tags_label_a_bitcoin_store() {
    let t = tempfile::tempdir().unwrap();
    let s = t.path().join("s");
    let b = data("bitcoin-mainnet-block-702861");
    let files: Vec<PathBuf> = ["transactions.csv", "inputs.csv", "outputs.csv"].iter().map(|f| b.join(f)).collect();
    let refs: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    let o = ingest(&s, "bitcoin", "etl", &[], &refs);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let gs = import(&set("graphsense-tagpacks/tags_flat.csv.gz"), None, Chain::Bitcoin, false).unwrap();
    assert!(gs.labels.len() > 490_000, "{}", gs.labels.len());
    assert!(gs.labels.iter().all(|l| !l.address.starts_with("0x")));
    let xbt = import(&set("ofac-sanctioned-addresses-0xB10C/lists/sanctioned_addresses_XBT.txt"), None, Chain::Bitcoin, false).unwrap();
    assert_eq!((xbt.labels.len() as u64, xbt.other_chain), (xbt.rows, 0));
    // A list not named after an asset is of the store's chain.
    let own = write(t.path(), "our_watchlist.txt", "# case 12\n12t9YDPgwueZ9NyMgw519p7AA8isjr6SMw\n");
    let own = import(&own, Some(Format::OfacList), Chain::Bitcoin, false).unwrap();
    assert_eq!((own.format, own.labels.len(), own.other_chain), (Format::OfacList, 1, 0));
    assert_eq!(own.labels[0].category, "sanctioned");
    let st = s.to_str().unwrap();
    let o = run(&["labels", "--store", st, "import", set("graphsense-tagpacks/tags_curated.csv").to_str().unwrap()]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let o = run(&["labels", "--store", st, "stats", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&o.stdout).unwrap();
    assert!(v["labels"].as_u64().unwrap() > 15_000, "{v}");
}
