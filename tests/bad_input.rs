//! Bad input: a clear error naming file, line and field, exit status 1, and
//! the store exactly as it was. `--skip-bad-rows` counts what it skips.

mod common;
use common::*;
use std::path::Path;

const HEADER: &str = "block_number,transaction_hash,from_address,to_address,value";
const GOOD: &str = "14442835,0xc28fad5e8d5e0ce6a2eaf67b6687be5d58113e16be590824d6cfa1a94467d0b7,0x1a2a1c938ce3ec39b6d47113c7955baa9dd454f2,0x098b716b8aaf21512996dc57eb0615e2383e2f96,173600000000000000000000";

fn write(dir: &Path, name: &str, body: &[u8]) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    p
}

/// Runs one bad file against a store that already holds the Dune sample.
fn refused(name: &str, body: &[u8], line: Option<u64>, field: &str, words: &str) {
    let t = tempfile::tempdir().unwrap();
    let s = t.path().join("s");
    let dune = data("dune-lazarus-ofac-flows-dspytdao/lazarus_ofac_eth_transfers.csv");
    assert_eq!(ingest(&s, "ethereum", "transfers", &[], &[&dune]).code, 0);
    let before = snapshot(&s);
    let f = write(t.path(), name, body);
    let o = ingest(&s, "ethereum", "transfers", &[], &[&f]);
    assert_eq!(o.code, 1, "{name}: {}", o.stderr);
    let want = match line {
        Some(l) => format!("{}: line {l}, field `{field}`", f.display()),
        None => format!("{}:", f.display()),
    };
    assert!(o.stderr.contains(&want), "{name}: expected {want:?} in {}", o.stderr);
    assert!(o.stderr.contains(words), "{name}: expected {words:?} in {}", o.stderr);
    assert!(!o.stderr.contains("panicked"), "{}", o.stderr);
    assert_eq!(before, snapshot(&s), "{name}: the store changed");
}

/// A blockchain-etl `tokens` export with a bad row is refused naming file,
/// line and field, the store as it was and nothing told; with
/// `--skip-bad-rows` the good rows are told and the bad one counted.
#[test]
fn bad_tokens_rows() {
    let t = tempfile::tempdir().unwrap();
    let s = t.path().join("s");
    let dune = data("dune-lazarus-ofac-flows-dspytdao/lazarus_ofac_eth_transfers.csv");
    assert_eq!(ingest(&s, "ethereum", "transfers", &[], &[&dune]).code, 0);
    let before = snapshot(&s);
    let head = "address,symbol,name,decimals,total_supply,block_number";
    let eos = "0x86fa049857e0209aa7d9e616f7eb3b3b78ecfdb0,EOS,EOS,18,1000000000000000000000000000,";
    for (name, bad, field, words) in [
        ("addr.csv", "0x86fa0498,EOS,EOS,18,1,", "address", "not a contract address"),
        ("dec.csv", "0x86fa049857e0209aa7d9e616f7eb3b3b78ecfdb0,EOS,EOS,1e3,1,", "decimals", "not a token's decimals"),
        ("big.csv", "0x86fa049857e0209aa7d9e616f7eb3b3b78ecfdb0,EOS,EOS,78,1,", "decimals", "at most 77"),
    ] {
        let f = write(t.path(), name, format!("{head}\n{eos}\n{bad}\n").as_bytes());
        let o = ingest(&s, "ethereum", "etl", &[], &[&f]);
        assert_eq!(o.code, 1, "{name}: {}", o.stderr);
        let want = format!("{}: line 3, field `{field}`", f.display());
        assert!(o.stderr.contains(&want) && o.stderr.contains(words), "{name}: expected {want:?}, {words:?} in {}", o.stderr);
        assert_eq!(before, snapshot(&s), "{name}: the store changed");
        assert!(!s.join("tokens.tsv").exists(), "{name}: told despite the bad row");
        let o = ingest(&s, "ethereum", "etl", &["--skip-bad-rows"], &[&f]);
        assert_eq!(o.code, 0, "{name}: {}", o.stderr);
        assert!(o.stderr.contains("2 rows as etl/tokens, 0 events added, 0 already in the store, 1 bad rows skipped"), "{}", o.stderr);
        let book = chaintrace::store::tokens::book(&s).unwrap();
        assert_eq!(
            (book.told.len(), book.decimals(chaintrace::model::Chain::Ethereum, "0x86fa049857e0209aa7d9e616f7eb3b3b78ecfdb0")),
            (1, Some(18))
        );
        std::fs::remove_file(s.join("tokens.tsv")).unwrap();
    }
}

#[test]
fn wrong_column_set() {
    refused("cols.csv", b"a,b,c\n1,2,3\n", None, "", "wrong column set");
}

#[test]
fn malformed_hex() {
    let body = format!("{HEADER}\n{GOOD}\n{}\n", GOOD.replace("0x098b716b", "0x098b716z"));
    refused("hex.csv", body.as_bytes(), Some(3), "to_address", "malformed hex");
}

#[test]
fn address_of_wrong_length() {
    let body = format!("{HEADER}\n{}\n", GOOD.replace("0x098b716b", "0x098b716"));
    refused("len.csv", body.as_bytes(), Some(2), "to_address", "wrong length");
}

#[test]
fn negative_value() {
    let body = format!("{HEADER}\n{}-5\n", &GOOD[..GOOD.rfind(',').unwrap() + 1]);
    refused("neg.csv", body.as_bytes(), Some(2), "value", "negative");
}

#[test]
fn non_numeric_value() {
    let body = format!("{HEADER}\n{}NaN\n", &GOOD[..GOOD.rfind(',').unwrap() + 1]);
    refused("nan.csv", body.as_bytes(), Some(2), "value", "not a decimal number");
}

#[test]
fn value_above_uint256() {
    let big = "115792089237316195423570985008687907853269984665640564039457584007913129639936";
    let body = format!("{HEADER}\n{GOOD}\n{}{big}\n", &GOOD[..GOOD.rfind(',').unwrap() + 1]);
    refused("big.csv", body.as_bytes(), Some(3), "value", "above 2^256-1");
}

#[test]
fn fraction_of_a_wei() {
    let body = format!(
        "block_time,from_address,to_address,value_eth\n2022-03-23T00:00:00Z,{},{},0.0000000000000000001\n",
        "0x1a2a1c938ce3ec39b6d47113c7955baa9dd454f2", "0x098b716b8aaf21512996dc57eb0615e2383e2f96"
    );
    refused("frac.csv", body.as_bytes(), Some(2), "value", "fraction of a base unit");
}

/// A Dune-style row at `time`.
fn timed_row(time: &str) -> String {
    format!(
        "block_time,from_address,to_address,value_eth\n2022-03-23T00:00:00Z,{a},{b},1\n{time},{a},{b},1\n",
        a = "0x1a2a1c938ce3ec39b6d47113c7955baa9dd454f2",
        b = "0x098b716b8aaf21512996dc57eb0615e2383e2f96"
    )
}

#[test]
fn impossible_dates() {
    refused("feb31.csv", timed_row("2022-02-31T00:00:00Z").as_bytes(), Some(3), "block_time", "no such date: 2022-02-31");
    refused("feb29.csv", timed_row("2021-02-29 10:00:00 UTC").as_bytes(), Some(3), "block_time", "no such date: 2021-02-29");
}

#[test]
fn epoch_in_milliseconds() {
    refused("ms.csv", timed_row("1648000000000").as_bytes(), Some(3), "block_time", "looks like milliseconds; epoch seconds are expected");
}

#[test]
fn empty_to() {
    let body = format!("{HEADER}\n{}\n", GOOD.replace(",0x098b716b8aaf21512996dc57eb0615e2383e2f96,", ",,"));
    refused("to.csv", body.as_bytes(), Some(2), "to_address", "empty address");
}

#[test]
fn empty_file() {
    refused("empty.csv", b"", None, "", "empty file");
}

#[test]
fn truncated_last_line() {
    let body = format!("{HEADER}\n{GOOD}\n{}", &GOOD[..60]);
    refused("trunc.csv", body.as_bytes(), Some(3), "from_address", "truncated");
}

#[test]
fn gzip_given_as_csv() {
    // The first bytes of a real gzip stream.
    refused("data.csv", &[0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0x4b, 0x4c], None, "", "gzip");
}

#[test]
fn bad_row_in_second_file_keeps_store() {
    let t = tempfile::tempdir().unwrap();
    let s = t.path().join("s");
    let good = write(t.path(), "good.csv", format!("{HEADER}\n{GOOD}\n").as_bytes());
    assert_eq!(ingest(&s, "ethereum", "transfers", &[], &[&good]).code, 0);
    let before = snapshot(&s);
    let other = write(t.path(), "other.csv", format!("{HEADER}\n{}\n", GOOD.replace("14442835", "14442836")).as_bytes());
    let bad = write(t.path(), "bad.csv", format!("{HEADER}\n{}\n", GOOD.replace("0x1a2a", "0xZZ2a")).as_bytes());
    let o = ingest(&s, "ethereum", "transfers", &[], &[&other, &bad]);
    assert_eq!(o.code, 1);
    assert_eq!(before, snapshot(&s));
    assert_eq!(stats(&s)["events"], 1);
}

#[test]
fn skip_bad_rows_counts_them() {
    let t = tempfile::tempdir().unwrap();
    let s = t.path().join("s");
    let body = format!(
        "{HEADER}\n{GOOD}\n{}\n{}-1\n{}\n",
        GOOD.replace("0x098b716b", "0x098b71"),
        &GOOD[..GOOD.rfind(',').unwrap() + 1],
        GOOD.replace("14442835", "14442836")
    );
    let f = write(t.path(), "mixed.csv", body.as_bytes());
    let o = ingest(&s, "ethereum", "transfers", &["--skip-bad-rows"], &[&f]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.stderr.contains("2 bad rows skipped"), "{}", o.stderr);
    let st = stats(&s);
    assert_eq!(st["events"], 2);
    assert_eq!(st["skipped_rows"], 2);
}

#[test]
fn unknown_store_version_is_refused() {
    let t = tempfile::tempdir().unwrap();
    let s = t.path().join("s");
    let good = write(t.path(), "good.csv", format!("{HEADER}\n{GOOD}\n").as_bytes());
    assert_eq!(ingest(&s, "ethereum", "transfers", &[], &[&good]).code, 0);
    let cur = std::fs::read_to_string(s.join("CURRENT")).unwrap();
    let gen_name = cur.split_whitespace().next().unwrap();
    let mpath = s.join(gen_name).join("manifest.json");
    let m = std::fs::read_to_string(&mpath)
        .unwrap()
        .replace(&format!("\"version\": {},", chaintrace::store::FORMAT_VERSION), "\"version\": 99,");
    std::fs::write(&mpath, &m).unwrap();
    std::fs::write(s.join("CURRENT"), format!("{gen_name} {:016x}\n", xxhash_rust::xxh3::xxh3_64(m.as_bytes()))).unwrap();
    let o = run(&["stats", "--store", s.to_str().unwrap()]);
    assert_eq!(o.code, 1);
    assert!(o.stderr.contains("format version 99 is not supported"), "{}", o.stderr);
}

/// A store of one good row in `t`, checked once (its VERIFIED stamp left):
/// what a change after it must still be caught in.
fn checked_store(t: &std::path::Path) -> std::path::PathBuf {
    let s = t.join("s");
    let good = write(t, "good.csv", format!("{HEADER}\n{GOOD}\n").as_bytes());
    assert_eq!(ingest(&s, "ethereum", "transfers", &[], &[&good]).code, 0);
    assert_eq!(run(&["stats", "--store", s.to_str().unwrap()]).code, 0);
    assert!(s.join("VERIFIED").is_file());
    s
}

#[test]
fn corrupt_column_is_detected() {
    let t = tempfile::tempdir().unwrap();
    let s = checked_store(t.path());
    let cur = std::fs::read_to_string(s.join("CURRENT")).unwrap();
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(s.join(cur.split_whitespace().next().unwrap()).join("manifest.json")).unwrap()).unwrap();
    let part = &manifest["columns"]["ev_value_lo.u64"][0];
    let seg = s.join(part["segment"].as_str().unwrap());
    let mut b = std::fs::read(&seg).unwrap();
    b[part["offset"].as_u64().unwrap() as usize] ^= 1;
    std::fs::write(&seg, b).unwrap();
    let o = run(&["stats", "--store", s.to_str().unwrap()]);
    assert_eq!(o.code, 2);
    assert!(o.stderr.contains("checksum mismatch"), "{}", o.stderr);
}

#[test]
fn a_segment_cut_short_is_detected_even_in_its_padding() {
    let t = tempfile::tempdir().unwrap();
    let s = checked_store(t.path());
    // The last byte of a segment is alignment padding no column covers.
    let seg = std::fs::read_dir(&s).unwrap().map(|e| e.unwrap().path()).find(|p| p.extension().is_some_and(|x| x == "seg")).unwrap();
    let len = std::fs::metadata(&seg).unwrap().len();
    std::fs::OpenOptions::new().write(true).open(&seg).unwrap().set_len(len - 1).unwrap();
    let o = run(&["stats", "--store", s.to_str().unwrap()]);
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(o.stderr.contains(&format!("{} bytes where the manifest wrote {len}", len - 1)), "{}", o.stderr);
    assert!(o.stderr.contains(&seg.file_name().unwrap().to_string_lossy().into_owned()), "names the file: {}", o.stderr);
}

#[test]
fn missing_store_and_usage_errors() {
    let o = run(&["stats", "--store", "/nonexistent/store"]);
    assert_eq!(o.code, 1);
    assert!(o.stderr.contains("not a chaintrace store"));
    let o = run(&["ingest", "--store", "/tmp/x", "--chain", "ethereum", "--format", "nope", "f.csv"]);
    assert_eq!(o.code, 1);
}

#[test]
fn block_and_time_data_do_not_mix() {
    let t = tempfile::tempdir().unwrap();
    let s = t.path().join("s");
    let good = write(t.path(), "good.csv", format!("{HEADER}\n{GOOD}\n").as_bytes());
    assert_eq!(ingest(&s, "ethereum", "transfers", &[], &[&good]).code, 0);
    let before = snapshot(&s);
    let dune = data("dune-lazarus-ofac-flows-dspytdao/lazarus_ofac_eth_transfers.csv");
    let o = ingest(&s, "ethereum", "transfers", &[], &[&dune]);
    assert_eq!(o.code, 1);
    assert!(o.stderr.contains("ordered by block number"), "{}", o.stderr);
    assert_eq!(before, snapshot(&s));
}

#[test]
fn truncated_label_row_names_the_missing_column() {
    let t = tempfile::tempdir().unwrap();
    let s = t.path().join("s");
    let good = write(t.path(), "good.csv", format!("{HEADER}\n{GOOD}\n").as_bytes());
    assert_eq!(ingest(&s, "ethereum", "transfers", &[], &[&good]).code, 0);
    let before = snapshot(&s);
    let labels = write(t.path(), "labels.csv", b"address,category,label\n0x098b716b8aaf21512996dc57eb0615e2383e2f96,sanctioned,LAZARUS\n0x098b716b8aaf21512996dc57eb0615e2383e2f96\n");
    let o = run(&["labels", "--store", s.to_str().unwrap(), "import", labels.to_str().unwrap()]);
    assert_eq!(o.code, 1);
    assert!(o.stderr.contains(&format!("{}: line 3, field `category`", labels.display())), "{}", o.stderr);
    assert_eq!(before, snapshot(&s));
}

/// A file of many read blocks (8 MiB each), where parsing runs ahead of
/// interning: the error is the first bad row's, on its exact line, however
/// far in it lies and whatever the reader met after it; a quoted record on
/// the way is read as any other; skipping counts every bad row of every block.
#[test]
fn bad_rows_deep_in_a_file_of_many_blocks() {
    let rows = 120_000; // about 27 MB
    let good = |k: usize| GOOD.replace("14442835", &(14_000_000 + k / 50).to_string());
    let mut body = format!("{HEADER}\n");
    for k in 0..rows {
        let row = match k {
            1_000 => format!("\"{}\"", good(k).replace(',', "\",\"")),
            70_000 => good(k).replace("0x098b716b", "0x098b716z"),
            100_000 => good(k).replace("0x1a2a1c93", "0x1a2a1c9"),
            _ => good(k),
        };
        body.push_str(&row);
        body.push('\n');
    }
    refused("deep.csv", body.as_bytes(), Some(70_002), "to_address", "malformed hex");

    let t = tempfile::tempdir().unwrap();
    let s = t.path().join("s");
    let f = write(t.path(), "deep.csv", body.as_bytes());
    let o = ingest(&s, "ethereum", "transfers", &["--skip-bad-rows"], &[&f]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.stderr.contains("2 bad rows skipped"), "{}", o.stderr);
    assert_eq!(stats(&s)["skipped_rows"], 2);
}

/// A JSON line whose keys make no table is a bad line like any other: the
/// first bad line of the file is the one named, whichever part of a block
/// the parallel parsers found each in, and `--skip-bad-rows` skips and
/// counts it.
#[test]
fn a_json_line_of_no_table_is_a_bad_line() {
    let t = tempfile::tempdir().unwrap();
    let good = std::fs::read_to_string(data(
        "blockchain-etl-fixtures/ethereum-etl/tests/resources/test_stream/blocks_17173049_17173050/expected_token_transfers.json",
    ))
    .unwrap();
    let first = good.lines().next().unwrap();
    let bad_value = first.replace("7056176614974947328", "\"seven\"");
    // Many good lines between, so the two bad ones fall in different parts.
    let filler: String = good.lines().cycle().take(2000).map(|l| format!("{l}\n")).collect();
    let body = format!("{first}\n{bad_value}\n{filler}{{\"colour\": \"blue\"}}\n");
    let f = write(t.path(), "mixed.json", body.as_bytes());
    let s = t.path().join("s");
    let o = ingest(&s, "ethereum", "etl", &[], &[&f]);
    assert_eq!(o.code, 1, "{}", o.stderr);
    assert!(o.stderr.contains(&format!("{}: line 2, field `value`", f.display())), "{}", o.stderr);
    let only_unknown = format!("{first}\n{{\"colour\": \"blue\"}}\n");
    let g = write(t.path(), "unknown.json", only_unknown.as_bytes());
    let o = ingest(&s, "ethereum", "etl", &[], &[&g]);
    assert_eq!(o.code, 1, "{}", o.stderr);
    let want = format!("{}: line 2, field `(json)`: wrong column set", g.display());
    assert!(o.stderr.contains(&want) && !o.stderr.contains("panicked"), "{}", o.stderr);
    let o = ingest(&s, "ethereum", "etl", &["--skip-bad-rows"], &[&g]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.stderr.contains("2 rows as etl/json, 1 events added, 0 already in the store, 1 bad rows skipped"), "{}", o.stderr);
}

/// Damaged Parquet files the fuzz target `ingest` found (its regression
/// inputs, whose first byte picks the format): one whose footer states 14
/// billion elements in 2 KB, which made polars allocate 73 GB and abort;
/// one whose column ranges run past its end, which made polars panic; one
/// that made polars reserve 31 GB by a field's number; one whose page
/// states a negative count of values.
/// Each is a clear error naming the file, and no store.
#[test]
fn damaged_parquet_files_are_refused() {
    let t = tempfile::tempdir().unwrap();
    for (name, words) in [
        ("regression-parquet-footer-states-14-billion-elements", "its metadata is damaged: 14403716204 elements stated"),
        ("regression-parquet-column-range-past-end", "not a readable Parquet file"),
        // Passes that walk; polars reserved 31 GB for it until patched (ADR 0020).
        ("regression-parquet-footer-31-gb-by-field-number", "SchemaElement.name missing"),
        // A page stating -1 values, read as 2^64 - 1: polars reserved 2 EB.
        // Its columns are read in parallel and more than one is damaged, so
        // which column's error is told first varies.
        ("regression-parquet-page-negative-value-count", "File out of specification"),
    ] {
        let input = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/ingest").join(name)).unwrap();
        let f = write(t.path(), &format!("{name}.parquet"), &input[1..]);
        let s = t.path().join(name);
        let o = ingest(&s, "ethereum", "parquet", &[], &[&f]);
        assert_eq!(o.code, 1, "{}", o.stderr);
        assert!(o.stderr.contains(&format!("{}: not a readable Parquet file", f.display())), "{}", o.stderr);
        assert!(o.stderr.contains(words) && !o.stderr.contains("panicked"), "{}", o.stderr);
        assert!(chaintrace::store::Store::open(&s).is_err(), "{name}: a store was left");
    }
}

/// Found reading the code for sums of what users give (docs/reliability.md):
/// Bitcoin input the UTXO arithmetic could not hold is refused at the
/// ingest with a clear error. An index past the positions a store keeps
/// (the JSON reader took any u32, and `index + 1` overflowed at the top);
/// a value past 64 bits on a Bitcoin store (the transfers CSV took 256);
/// an input that states another value than the output it spends holds
/// (a haircut then handed an output more taint than its value).
#[test]
fn bitcoin_input_the_utxo_sums_cannot_hold_is_refused() {
    let t = tempfile::tempdir().unwrap();
    let json = std::fs::read_to_string(data(
        "blockchain-etl-fixtures/bitcoin-etl/tests/resources/test_export_blocks_job/bitcoin/block_with_transactions/expected_transactions.json",
    ))
    .unwrap();
    let first = json.lines().next().unwrap();
    assert!(first.contains("\"index\": 0, \"inputs\""));
    let f = write(t.path(), "index.json", first.replace("\"index\": 0, \"inputs\"", "\"index\": 4294967295, \"inputs\"").as_bytes());
    let o = ingest(&t.path().join("a"), "bitcoin", "etl", &[], &[&f]);
    assert_eq!(o.code, 1, "{}", o.stderr);
    assert!(o.stderr.contains(&format!("{}: line 1, field `index`: index 4294967295 out of range", f.display())), "{}", o.stderr);

    let a = "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa";
    let big =
        write(t.path(), "big.csv", format!("block_number,from_address,to_address,value\n1,{a},{a},18446744073709551616\n").as_bytes());
    let o = ingest(&t.path().join("b"), "bitcoin", "transfers", &[], &[&big]);
    assert_eq!(o.code, 1, "{}", o.stderr);
    assert!(o.stderr.contains("line 2, field `value`: 18446744073709551616 satoshi is more than any Bitcoin amount"), "{}", o.stderr);

    let (ta, tb) = ("aa".repeat(32), "bb".repeat(32));
    let txs = write(
        t.path(),
        "transactions.csv",
        format!("txid,block_number,block_timestamp_unix,index_in_block,is_coinbase\n{ta},1,1600000000,0,1\n{tb},2,1600000600,1,0\n")
            .as_bytes(),
    );
    let outs = write(
        t.path(),
        "outputs.csv",
        format!("txid,output_index,value_sats,script_type,address\n{ta},0,1000,p2pkh,{a}\n{tb},0,900,p2pkh,{a}\n").as_bytes(),
    );
    let ins =
        write(t.path(), "inputs.csv", format!("txid,input_index,spent_txid,spent_output_index,value\n{tb},0,{ta},0,999\n").as_bytes());
    let s = t.path().join("c");
    let o = ingest(&s, "bitcoin", "etl", &[], &[&txs, &ins, &outs]);
    assert_eq!(o.code, 1, "{}", o.stderr);
    let want = format!("input 0 of transaction {tb} states 999 satoshi, but the output it spends ({ta}:0) holds 1000");
    assert!(o.stderr.contains(&want) && !o.stderr.contains("panicked"), "{}", o.stderr);
    assert!(chaintrace::store::Store::open(&s).is_err());
    // The same at an append that spends an output already in the store:
    // the message names the stored transaction too.
    let one = |name: &str, head: &str, row: String| write(t.path(), name, format!("{head}\n{row}\n").as_bytes());
    let tx_head = "txid,block_number,block_timestamp_unix,index_in_block,is_coinbase";
    let out_head = "txid,output_index,value_sats,script_type,address";
    let first = [
        one("tx_a.csv", tx_head, format!("{ta},1,1600000000,0,1")),
        one("out_a.csv", out_head, format!("{ta},0,1000,p2pkh,{a}")),
        one("in_a.csv", "txid,input_index,spent_txid,spent_output_index,value", String::new()),
    ];
    let second = [
        one("tx_b.csv", tx_head, format!("{tb},2,1600000600,1,0")),
        ins.clone(),
        one("out_b.csv", out_head, format!("{tb},0,900,p2pkh,{a}")),
    ];
    let s2 = t.path().join("d");
    assert_eq!(ingest(&s2, "bitcoin", "etl", &[], &first.iter().map(|p| p.as_path()).collect::<Vec<_>>()).code, 0);
    let o = ingest(&s2, "bitcoin", "etl", &[], &second.iter().map(|p| p.as_path()).collect::<Vec<_>>());
    assert_eq!(o.code, 1, "{}", o.stderr);
    assert!(o.stderr.contains(&want), "{}", o.stderr);
    // Stated right, both load.
    std::fs::write(&ins, format!("txid,input_index,spent_txid,spent_output_index,value\n{tb},0,{ta},0,1000\n")).unwrap();
    assert_eq!(ingest(&s, "bitcoin", "etl", &[], &[&txs, &ins, &outs]).code, 0);
    assert_eq!(ingest(&s2, "bitcoin", "etl", &[], &second.iter().map(|p| p.as_path()).collect::<Vec<_>>()).code, 0);
}
