//! The HTTP API, started for real on a free loopback port: answers,
//! stable JSON errors for malformed and hostile input (bad hex, huge and
//! deep bodies, invalid UTF-8, slow clients), a store re-ingested while
//! serving, and a graceful stop on SIGTERM.

mod common;
use common::*;
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Server {
    child: Child,
    addr: String,
}

impl Server {
    // The child is waited for in Drop.
    #[allow(clippy::zombie_processes)]
    fn start(store: &std::path::Path, extra: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_chaintrace"))
            .args(["serve", "--store", store.to_str().unwrap(), "--listen", "127.0.0.1:0"])
            .args(extra)
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let mut err = BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        loop {
            line.clear();
            assert!(err.read_line(&mut line).unwrap() > 0, "server exited before listening");
            if let Some(a) = line.trim().strip_prefix("listening on http://") {
                let addr = a.to_string();
                // Keep draining stderr so the server never blocks on it.
                std::thread::spawn(move || for _ in err.lines() {});
                return Server { child, addr };
            }
        }
    }

    /// One request on its own connection: (status, body).
    fn raw(&self, request: &[u8]) -> (u16, Vec<u8>) {
        let (status, _, body) = self.raw_with_head(request);
        (status, body)
    }

    /// One request on its own connection: (status, head, body).
    fn raw_with_head(&self, request: &[u8]) -> (u16, String, Vec<u8>) {
        let mut s = TcpStream::connect(&self.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        s.write_all(request).unwrap();
        let mut buf = Vec::new();
        let _ = s.read_to_end(&mut buf);
        let head_end = buf.windows(4).position(|w| w == b"\r\n\r\n").map_or(buf.len(), |p| p + 4);
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        let status = head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
        let mut body = buf[head_end..].to_vec();
        if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
            body = dechunk(&body);
        }
        (status, head, body)
    }

    fn get(&self, path: &str) -> (u16, Value) {
        let (c, b) = self.raw(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes());
        (c, serde_json::from_slice(&b).unwrap_or(Value::Null))
    }

    fn post(&self, path: &str, body: &[u8]) -> (u16, Value) {
        let mut r = format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .into_bytes();
        r.extend_from_slice(body);
        let (c, b) = self.raw(&r);
        (c, serde_json::from_slice(&b).unwrap_or(Value::Null))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = b.windows(2).position(|w| w == b"\r\n") {
        let n = usize::from_str_radix(std::str::from_utf8(&b[..eol]).unwrap().trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.extend_from_slice(&b[eol + 2..eol + 2 + n]);
        b = &b[eol + 2 + n + 2..];
    }
    out
}

fn lazarus(dir: &std::path::Path) -> std::path::PathBuf {
    let st = dir.join("laz");
    let o = ingest(&st, "ethereum", "transfers", &[], &[&data("dune-lazarus-ofac-flows-dspytdao/lazarus_ofac_eth_transfers.csv")]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(run(&["labels", "--store", st.to_str().unwrap(), "import", data("labels/ethereum-labels.csv").to_str().unwrap()]).code, 0);
    st
}

const DEPOSIT: &str = "0xdd6458eb5090832eb88bffc7adf39b0f3cdd6683";

fn code(v: &Value) -> &str {
    v["error"]["code"].as_str().unwrap_or("")
}

#[test]
fn answers_and_agrees_with_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let st = lazarus(dir.path());
    let srv = Server::start(&st, &[]);
    let (c, h) = srv.get("/v1/health");
    assert_eq!((c, h["status"].as_str()), (200, Some("ok")));
    assert_eq!(h["events"], 436);
    let (c, one) = srv.get(&format!("/v1/addresses/{}/exposure", DEPOSIT.to_uppercase().replace("0X", "0x")));
    assert_eq!(c, 200);
    assert_eq!(one["exposure"][0]["category"], "sanctioned");
    // The batch answer equals the CLI's, result for result.
    let list = dir.path().join("a.txt");
    std::fs::write(&list, format!("{DEPOSIT}\n0x1111111111111111111111111111111111111111\n")).unwrap();
    let cli: Value = serde_json::from_str(&run(&["screen", "--store", st.to_str().unwrap(), list.to_str().unwrap()]).stdout).unwrap();
    let (c, batch) =
        srv.post("/v1/screen", format!(r#"{{"addresses": ["{DEPOSIT}", "0x1111111111111111111111111111111111111111"]}}"#).as_bytes());
    assert_eq!(c, 200);
    assert_eq!(batch, cli);
    assert_eq!(batch["results"][0], one);
    // The trace of INTERFACE.md, as the CLI gives it.
    let (c, t) = srv
        .post("/v1/trace", br#"{"policy": "haircut", "seeds": ["0x098b716b8aaf21512996dc57eb0615e2383e2f96"], "stop_at": ["sanctioned"]}"#);
    assert_eq!(c, 200, "{t}");
    let cli: Value = serde_json::from_str(
        &trace_cmd(&st, "haircut", "0x098b716b8aaf21512996dc57eb0615e2383e2f96", "sanctioned", &["--format", "json"]).stdout,
    )
    .unwrap();
    // The whole report, field for field, and the warnings beside it (the
    // command line prints those to standard error).
    assert!(t["warnings"].is_array(), "{t}");
    let mut whole = cli.clone();
    whole["warnings"] = t["warnings"].clone();
    assert_eq!(t, whole);
    // `follow` is the command line's `--follow`: the same report.
    let body = br#"{"policy": "haircut", "seeds": ["0x098b716b8aaf21512996dc57eb0615e2383e2f96"], "stop_at": ["sanctioned"], "follow": ["swaps"]}"#;
    let (c, f) = srv.post("/v1/trace", body);
    assert_eq!(c, 200, "{f}");
    let cli: Value = serde_json::from_str(
        &trace_cmd(&st, "haircut", "0x098b716b8aaf21512996dc57eb0615e2383e2f96", "sanctioned", &["--format", "json", "--follow", "swaps"])
            .stdout,
    )
    .unwrap();
    for k in ["destinations", "dormant", "totals", "totals_by_asset", "conversions", "unfollowed"] {
        assert_eq!(f[k], cli[k], "{k}");
    }
    assert_eq!(f["totals_by_asset"]["ETH"]["seeded"], t["seeded"], "one asset and no swaps: the single-asset figures");
    assert_eq!(f["destinations"][0]["asset"], "ETH");
    // `bridges-heuristic` implies `bridges`: in one store without bridge
    // logs, the report of `--follow bridges`.
    let (c, h) = srv.post(
        "/v1/trace",
        br#"{"policy": "haircut", "seeds": ["0x098b716b8aaf21512996dc57eb0615e2383e2f96"], "stop_at": ["sanctioned"], "follow": ["bridges-heuristic"]}"#,
    );
    assert_eq!(c, 200, "{h}");
    let (c, b) = srv.post(
        "/v1/trace",
        br#"{"policy": "haircut", "seeds": ["0x098b716b8aaf21512996dc57eb0615e2383e2f96"], "stop_at": ["sanctioned"], "follow": ["bridges"]}"#,
    );
    assert_eq!((c, &h), (200, &b));
    assert!(h.get("heuristic").is_none(), "no heuristic link: no heuristic totals");
    // The OpenAPI document is the one in the repository, and every path in it is routed.
    let (c, doc) = srv.get("/v1/openapi.json");
    assert_eq!(c, 200);
    let file: Value = serde_json::from_str(&std::fs::read_to_string(root().join("docs/openapi.json")).unwrap()).unwrap();
    assert_eq!(doc, file);
    for (path, ops) in file["paths"].as_object().unwrap() {
        let path = path.replace("{address}", DEPOSIT);
        for method in ops.as_object().unwrap().keys() {
            let (c, v) = if method == "get" { srv.get(&path) } else { srv.post(&path, b"{}") };
            assert_ne!(code(&v), "not_found", "{method} {path}: {c}");
            assert_ne!(c, 404, "{method} {path}");
        }
    }
}

#[test]
fn one_thread_serves_what_the_pool_serves() {
    // `--threads 1` runs on tokio's current-thread runtime: connections,
    // the blocking pool (large batches, traces) and the answers are those of
    // the multi-thread runtime.
    let dir = tempfile::tempdir().unwrap();
    let st = lazarus(dir.path());
    let (pool, one) = (Server::start(&st, &[]), Server::start(&st, &["--threads", "1"]));
    let path = format!("/v1/addresses/{DEPOSIT}/exposure");
    assert_eq!(pool.get(&path), one.get(&path));
    // Past the inline batch size: answered on the blocking pool.
    let many: Vec<String> = (0..300).map(|k| if k % 3 == 0 { DEPOSIT.to_string() } else { format!("0x{k:040x}") }).collect();
    let body = serde_json::json!({ "addresses": many }).to_string();
    let (c, b) = one.post("/v1/screen", body.as_bytes());
    assert_eq!(c, 200, "{b}");
    assert_eq!(b["results"].as_array().unwrap().len(), 300);
    assert_eq!((c, b), pool.post("/v1/screen", body.as_bytes()));
    let q = br#"{"policy": "poison", "seeds": ["0x098b716b8aaf21512996dc57eb0615e2383e2f96"], "stop_at": ["sanctioned"]}"#;
    let (c, t) = one.post("/v1/trace", q);
    assert_eq!(c, 200, "{t}");
    assert!(!t["destinations"].as_array().unwrap().is_empty());
    assert_eq!((c, t), pool.post("/v1/trace", q));
}

#[test]
fn hostile_input_gets_clear_errors_and_the_server_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let st = lazarus(dir.path());
    let srv = Server::start(&st, &["--max-batch", "3", "--max-body", "4096", "--header-timeout-ms", "300"]);
    // Bad hex, wrong lengths, non-addresses.
    for bad in ["0xzz6458eb5090832eb88bffc7adf39b0f3cdd6683", "0xdd64", "hello", "0x", "%FF%FE"] {
        let (c, v) = srv.get(&format!("/v1/addresses/{bad}/exposure"));
        assert_eq!((c, code(&v)), (400, "malformed_address"), "{bad}: {v}");
    }
    let (c, v) = srv.post("/v1/screen", format!(r#"{{"addresses": ["{DEPOSIT}", "0x12"]}}"#).as_bytes());
    assert_eq!((c, code(&v)), (400, "malformed_address"));
    assert!(v["error"]["message"].as_str().unwrap().contains("addresses[1]"), "{v}");
    // Malformed, deep, non-UTF-8 and unexpected bodies.
    for body in [&b"{"[..], b"[]", b"{\"addresses\": 5}", b"{\"adresses\": []}", b"\xff\xfe{\"addresses\": []}", b""] {
        let (c, v) = srv.post("/v1/screen", body);
        assert_eq!((c, code(&v)), (400, "malformed_body"), "{:?}: {v}", String::from_utf8_lossy(body));
    }
    // Well-formed but deeply nested: refused at the first level that is not
    // what the route takes (and serde_json stops any descent at depth 128).
    let deep = format!("{{\"addresses\": {}{}}}", "[".repeat(1500), "]".repeat(1500));
    let (c, v) = srv.post("/v1/screen", deep.as_bytes());
    assert_eq!((c, code(&v)), (400, "malformed_body"), "{v}");
    let (c, v) = srv.post("/v1/trace", "[".repeat(2000).as_bytes());
    assert_eq!((c, code(&v)), (400, "malformed_body"), "{v}");
    // Too many addresses, too large a body.
    let (c, v) = srv.post("/v1/screen", format!(r#"{{"addresses": ["{DEPOSIT}", "{DEPOSIT}", "{DEPOSIT}", "{DEPOSIT}"]}}"#).as_bytes());
    assert_eq!((c, code(&v)), (400, "batch_too_large"));
    let huge = format!(r#"{{"addresses": ["{}"]}}"#, "a".repeat(100_000));
    let (c, v) = srv.post("/v1/screen", huge.as_bytes());
    assert_eq!((c, code(&v)), (413, "body_too_large"), "{v}");
    // Trace questions the engine refuses.
    let (c, v) = srv.post("/v1/trace", br#"{"policy": "haircut"}"#);
    assert_eq!((c, code(&v)), (400, "bad_request"), "{v}");
    let (c, v) = srv.post("/v1/trace", br#"{"policy": "sideways", "seeds": ["0x01"]}"#);
    assert_eq!((c, code(&v)), (400, "malformed_body"), "{v}");
    let (c, v) = srv.post("/v1/trace", br#"{"policy": "poison", "seeds": ["0x098b716b8aaf21512996dc57eb0615e2383e2f96"], "max_hops": 0}"#);
    assert_eq!((c, code(&v)), (400, "bad_request"), "{v}");
    // Each refusal is what `serve::check_body` makes of the body, message
    // and all: the fuzz target `http_body` drives that with any bytes.
    let mut config = chaintrace::serve::Config::new(([127, 0, 0, 1], 0).into());
    config.max_batch = 3;
    let four = format!(r#"{{"addresses": ["{DEPOSIT}", "{DEPOSIT}", "{DEPOSIT}", "{DEPOSIT}"]}}"#);
    let bad_address = format!(r#"{{"addresses": ["{DEPOSIT}", "0x12"]}}"#);
    for (route, body) in [
        ("screen", bad_address.as_bytes()),
        ("screen", four.as_bytes()),
        ("screen", b"{\"adresses\": []}"),
        ("trace", br#"{"policy": "haircut"}"#),
        ("trace", br#"{"policy": "poison", "seeds": ["0x098b716b8aaf21512996dc57eb0615e2383e2f96"], "paths": 101}"#),
        ("trace", br#"{"policy": "poison", "seeds": ["0x098b716b8aaf21512996dc57eb0615e2383e2f9"]}"#),
    ] {
        let want = chaintrace::serve::check_body(route, body, &config, chaintrace::model::Chain::Ethereum).unwrap_err();
        let (c, v) = srv.post(&format!("/v1/{route}"), body);
        assert_eq!((c, code(&v)), (want.status, want.code), "{v}");
        assert_eq!(v["error"]["message"].as_str(), Some(want.message.as_str()));
    }
    // Unknown routes and methods.
    let (c, v) = srv.get("/v2/anything");
    assert_eq!((c, code(&v)), (404, "not_found"));
    let (c, v) = srv.post("/v1/health", b"{}");
    assert_eq!((c, code(&v)), (405, "method_not_allowed"));
    // A slow client that never finishes its headers is cut off...
    let started = Instant::now();
    let mut slow = TcpStream::connect(&srv.addr).unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    slow.write_all(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n").unwrap();
    let mut buf = Vec::new();
    let _ = slow.read_to_end(&mut buf);
    assert!(started.elapsed() < Duration::from_secs(5), "the slow client was not cut off");
    // ...and garbage is refused, while everyone else is still served.
    let (c, _) = srv.raw(b"\x00\x01\x02 not http\r\n\r\n");
    assert!(c == 0 || c == 400, "{c}");
    let (c, h) = srv.get("/v1/health");
    assert_eq!((c, h["status"].as_str()), (200, Some("ok")));
}

#[test]
fn follows_a_reingested_store_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let st = lazarus(dir.path());
    let srv = Server::start(&st, &[]);
    let probe = "0x1111111111111111111111111111111111111111";
    let (_, before) = srv.get(&format!("/v1/addresses/{probe}/exposure"));
    assert_eq!(before["activity"], false);
    let (_, h0) = srv.get("/v1/health");
    // New transfers: a sanctioned wallet pays the probe address.
    let f = dir.path().join("more.csv");
    std::fs::write(
        &f,
        format!(
            "block_time,from_address,to_address,value_eth\n2022-10-01T00:00:00Z,0x098b716b8aaf21512996dc57eb0615e2383e2f96,{probe},1.5\n"
        ),
    )
    .unwrap();
    assert_eq!(ingest(&st, "ethereum", "transfers", &[], &[&f]).code, 0);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (c, v) = srv.get(&format!("/v1/addresses/{probe}/exposure"));
        assert_eq!(c, 200);
        if v["activity"] == true {
            assert_eq!(v["received"], "1500000000000000000");
            assert_eq!(v["exposure"][0]["category"], "sanctioned");
            assert_eq!(v["exposure"][0]["direct"], "1500000000000000000");
            break;
        }
        assert!(Instant::now() < deadline, "the new generation was not picked up");
        std::thread::sleep(Duration::from_millis(100));
    }
    let (_, h1) = srv.get("/v1/health");
    assert_ne!(h0["generation"], h1["generation"]);
    assert_eq!(h1["events"], 437);
    // A pure append: the index was updated (a delta over the older base), not rebuilt.
    let live = h1["generation"].as_str().unwrap().to_string();
    let files: Vec<String> =
        std::fs::read_dir(st.join("exposure")).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert!(files.iter().any(|f| f.starts_with(&format!("{live}.")) && f.ends_with(".delta")), "{files:?}");
    // SIGTERM: the server drains and exits cleanly.
    let mut srv = srv;
    let pid = srv.child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = srv.child.try_wait().unwrap() {
            assert!(status.success(), "{status}");
            break;
        }
        assert!(Instant::now() < deadline, "no exit after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_api_keeps_its_document_and_its_limits() {
    let dir = tempfile::tempdir().unwrap();
    let st = lazarus(dir.path());
    let limits = ["--max-batch", "3", "--max-paths", "5", "--max-paths-for", "7", "--max-flow-edges", "9", "--max-trace-events", "1"];
    let srv = Server::start(&st, &limits);
    // The document served states this server's limits.
    let (c, doc) = srv.get("/v1/openapi.json");
    assert_eq!(c, 200);
    let screen = &doc["paths"]["/v1/screen"]["post"]["requestBody"]["content"]["application/json"]["schema"]["properties"];
    assert_eq!(screen["addresses"]["maxItems"], 3);
    let trace = &doc["paths"]["/v1/trace"]["post"]["requestBody"]["content"]["application/json"]["schema"]["properties"];
    assert_eq!((&trace["paths"]["maximum"], &trace["flow_edges"]["maximum"]), (&Value::from(5), &Value::from(9)));
    assert_eq!(trace["paths_for"]["anyOf"], serde_json::json!([{ "type": "integer", "minimum": 0, "maximum": 7 }]));
    // ... and refuses what it does not state, before any work.
    let q = |extra: &str| format!(r#"{{"policy": "poison", "seeds": ["0x098b716b8aaf21512996dc57eb0615e2383e2f96"]{extra}}}"#);
    for (extra, status, code_) in [
        (r#", "paths": 6"#, 400, "too_costly"),
        (r#", "paths_for": 8"#, 400, "too_costly"),
        (r#", "paths_for": "all""#, 400, "too_costly"),
        (r#", "paths_for": "5""#, 400, "malformed_body"),
        (r#", "flow_edges": 10"#, 400, "too_costly"),
        (r#", "asset": "0x0000000000000000000000000000000000000001""#, 404, "not_found"),
        (r#", "seed_txs": ["0x1234"]"#, 400, "malformed_seed"),
        // Within the limits (3.0 is an integer to JSON Schema), the sweep
        // stops past its one event.
        (r#", "paths": 5, "paths_for": 7.0, "flow_edges": 9"#, 422, "too_costly"),
    ] {
        let (c, v) = srv.post("/v1/trace", q(extra).as_bytes());
        assert_eq!((c, code(&v)), (status, code_), "{extra}: {v}");
    }
    let (c, v) = srv.post("/v1/trace", br#"{"policy": "poison", "seeds": ["098b716b8aaf21512996dc57eb0615e2383e2f96"]}"#);
    assert_eq!((c, code(&v)), (400, "malformed_seed"), "bare hex is not the document's form: {v}");
    // Addresses as the document writes them, and no other way.
    let (c, v) = srv.get(&format!("/v1/addresses/{}/exposure", &DEPOSIT[2..]));
    assert_eq!((c, code(&v)), (400, "malformed_address"), "{v}");
    let (c, v) = srv.post("/v1/screen", br#"{"addresses": [""]}"#);
    assert_eq!((c, code(&v)), (400, "malformed_address"), "{v}");

    // A screening server that runs no traces, with room for one connection.
    let busy = Server::start(&st, &["--max-traces", "0", "--max-connections", "1"]);
    let body = q("");
    let request = format!(
        "POST /v1/trace HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let (c, head, b) = busy.raw_with_head(request.as_bytes());
    let v: Value = serde_json::from_slice(&b).unwrap();
    assert_eq!((c, code(&v)), (429, "too_many_traces"));
    assert!(head.to_ascii_lowercase().contains("retry-after: 1"), "{head}");
    // One connection held open: the next is answered 503 and closed. (The
    // last request's connection frees its place just after its answer: a
    // held connection may come in before it does, and is then the one
    // refused; so try again.)
    let started = Instant::now();
    let held = loop {
        let held = TcpStream::connect(&busy.addr).unwrap();
        std::thread::sleep(Duration::from_millis(20));
        let (c, head, b) = busy.raw_with_head(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n");
        let v: Value = serde_json::from_slice(&b).unwrap_or(Value::Null);
        if (c, code(&v)) == (503, "too_many_connections") {
            assert!(head.to_ascii_lowercase().contains("retry-after: 1"), "{head}");
            break held;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "no connection was refused: {c} {v}");
    };
    drop(held);
    // Its slot is free again once it closes.
    let started = Instant::now();
    while busy.get("/v1/health").0 != 200 {
        assert!(started.elapsed() < Duration::from_secs(10), "the closed connection's slot was not freed");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A Bitcoin store is served (issue 20): the real block, some of its
/// spenders labelled a risk category; every answer is `chaintrace
/// screen`'s, addresses in Bitcoin's forms are taken (bech32 in either
/// case) and 0x ones refused, and the document served states the forms.
#[test]
fn a_bitcoin_store_is_served_as_screen_answers() {
    let t = tempfile::tempdir().unwrap();
    let d = |f: &str| data(&format!("bitcoin-mainnet-block-702861/{f}"));
    let st = t.path().join("btc");
    let o = ingest(&st, "bitcoin", "etl", &[], &[&d("transactions.csv"), &d("inputs_with_addresses.csv"), &d("outputs.csv")]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let column = |file: &str, k: usize| -> Vec<String> {
        let text = std::fs::read_to_string(d(file)).unwrap();
        let mut seen = std::collections::BTreeSet::new();
        text.lines()
            .skip(1)
            .filter_map(|l| l.split(',').nth(k))
            .filter(|a| !a.is_empty() && seen.insert(a.to_string()))
            .map(str::to_string)
            .collect()
    };
    let payees = column("outputs.csv", 4);
    // Outputs spent in the block itself: their addresses, labelled, taint
    // what the spending transactions pay (the others spend outputs from
    // before the block, of unknown origin).
    let rows = |file: &str| -> Vec<Vec<String>> {
        std::fs::read_to_string(d(file)).unwrap().lines().skip(1).map(|l| l.split(',').map(str::to_string).collect()).collect()
    };
    let outputs: std::collections::HashMap<(String, String), String> =
        rows("outputs.csv").into_iter().map(|r| ((r[0].clone(), r[1].clone()), r[4].clone())).collect();
    let mut spenders: Vec<String> = Vec::new();
    for r in rows("inputs_with_addresses.csv") {
        if let Some(a) = outputs.get(&(r[2].clone(), r[3].clone())).filter(|a| !a.is_empty() && !spenders.contains(a)) {
            spenders.push(a.clone());
        }
    }
    let labels = t.path().join("labels.csv");
    let rows: String = spenders.iter().step_by(7).take(12).map(|a| format!("{a},hack,Test hack\n")).collect();
    std::fs::write(&labels, format!("address,category,label\n{rows}")).unwrap();
    let o = run(&["labels", "--store", st.to_str().unwrap(), "import", labels.to_str().unwrap()]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let mut asked: Vec<String> = payees.clone();
    asked.push("bc1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq".into());
    let file = t.path().join("asked.txt");
    std::fs::write(&file, asked.join("\n") + "\n").unwrap();
    let o = run(&["screen", "--store", st.to_str().unwrap(), "--format", "json", file.to_str().unwrap()]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let cli: Value = serde_json::from_str(&o.stdout).unwrap();
    let exposed = cli["results"].as_array().unwrap().iter().filter(|r| !r["exposure"].as_array().unwrap().is_empty()).count();
    assert!(exposed > 0, "some payees are exposed to the labelled spenders");

    let srv = Server::start(&st, &[]);
    let body = serde_json::json!({ "addresses": asked }).to_string();
    let (c, v) = srv.post("/v1/screen", body.as_bytes());
    assert_eq!(c, 200, "{v}");
    assert_eq!(v, cli);
    // One address: the batch's answer; bech32 in capitals is the same address.
    let bech32 = asked.iter().find(|a| a.starts_with("bc1")).unwrap();
    let k = asked.iter().position(|a| a == bech32).unwrap();
    let (c, one) = srv.get(&format!("/v1/addresses/{}/exposure", bech32.to_ascii_uppercase()));
    assert_eq!((c, &one), (200, &cli["results"][k]));
    let base58 = asked.iter().position(|a| a.starts_with('1') || a.starts_with('3')).unwrap();
    let (c, one) = srv.get(&format!("/v1/addresses/{}/exposure", asked[base58]));
    assert_eq!((c, &one), (200, &cli["results"][base58]));
    // 0x addresses and mixed-case bech32 are not Bitcoin addresses.
    for bad in ["0x098b716b8aaf21512996dc57eb0615e2383e2f96", "bC1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq", "1short"] {
        let (c, v) = srv.get(&format!("/v1/addresses/{bad}/exposure"));
        assert_eq!((c, code(&v)), (400, "malformed_address"), "{bad}: {v}");
    }
    // The document served takes Bitcoin's forms, and what it takes is taken.
    let (_, doc) = srv.get("/v1/openapi.json");
    let pattern = doc["paths"]["/v1/addresses/{address}/exposure"]["get"]["parameters"][0]["schema"]["pattern"].as_str().unwrap();
    assert!(pattern.contains("bc|tb") && !pattern.contains("0[xX]"), "{pattern}");
    // A trace from a labelled spender over the API is `trace`'s report.
    let seed = spenders[0].clone();
    let (c, v) = srv.post("/v1/trace", format!(r#"{{"policy": "haircut", "seeds": ["{seed}"]}}"#).as_bytes());
    assert_eq!(c, 200, "{v}");
    let o = run(&["trace", "--store", st.to_str().unwrap(), "--policy", "haircut", "--seed", &seed, "--format", "json"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let mut report: Value = serde_json::from_str(&o.stdout).unwrap();
    report["warnings"] = serde_json::json!([]);
    assert_eq!(v, report);
    drop(srv);

    // With clustering on, an address's answer is its cluster's: every
    // member's received and exposure summed, the smallest hops (TRACING.md
    // §4). Checked against the per-address answers of the members.
    let store = chaintrace::store::Store::open(&st).unwrap();
    let clustering = chaintrace::cluster::Clustering::build(&store, chaintrace::cluster::Params::default());
    let id_of = |a: &str| store.find_address(a).unwrap();
    let mut everyone: Vec<String> = asked.clone();
    for a in &asked[..asked.len() - 1] {
        everyone.extend(clustering.members(id_of(a)).into_iter().map(|m| store.address_text(m)));
    }
    everyone.sort();
    everyone.dedup();
    std::fs::write(&file, everyone.join("\n") + "\n").unwrap();
    let o = run(&["screen", "--store", st.to_str().unwrap(), "--format", "json", file.to_str().unwrap()]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let single: Value = serde_json::from_str(&o.stdout).unwrap();
    let by_address: std::collections::HashMap<&str, &Value> =
        single["results"].as_array().unwrap().iter().map(|r| (r["address"].as_str().unwrap(), r)).collect();
    std::fs::write(&file, asked.join("\n") + "\n").unwrap();
    let o = run(&["screen", "--store", st.to_str().unwrap(), "--format", "json", "--cluster", file.to_str().unwrap()]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let clustered: Value = serde_json::from_str(&o.stdout).unwrap();
    let n = |v: &Value| v.as_str().unwrap().parse::<u128>().unwrap();
    let mut joined = 0;
    for r in clustered["results"].as_array().unwrap() {
        let a = r["address"].as_str().unwrap();
        let Some(id) = store.find_address(a) else {
            assert_eq!(r["activity"], false);
            continue;
        };
        let members = clustering.members(id);
        joined += usize::from(members.len() > 1);
        assert_eq!(r["cluster"]["size"].as_u64(), Some(members.len() as u64), "{a}");
        assert_eq!(r["cluster"]["representative"].as_str(), Some(store.address_text(members[0]).as_str()));
        let rows: Vec<&Value> = members.iter().map(|&m| by_address[store.address_text(m).as_str()]).collect();
        assert_eq!(n(&r["received"]), rows.iter().map(|x| n(&x["received"])).sum::<u128>(), "{a}");
        let mut want: std::collections::BTreeMap<String, (u128, u128, u64)> = Default::default();
        for x in &rows {
            for e in x["exposure"].as_array().unwrap() {
                let w = want.entry(e["category"].as_str().unwrap().to_string()).or_insert((0, 0, u64::MAX));
                w.0 += n(&e["amount"]);
                w.1 += n(&e["direct"]);
                w.2 = w.2.min(e["hops"].as_u64().unwrap());
            }
        }
        let got: std::collections::BTreeMap<String, (u128, u128, u64)> = r["exposure"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| (e["category"].as_str().unwrap().to_string(), (n(&e["amount"]), n(&e["direct"]), e["hops"].as_u64().unwrap())))
            .collect();
        assert_eq!(got, want, "{a}");
    }
    assert!(joined > 0, "some asked addresses share a cluster with others");
    // `serve --cluster` answers as `screen --cluster`.
    let srv = Server::start(&st, &["--cluster"]);
    let (c, v) = srv.post("/v1/screen", body.as_bytes());
    assert_eq!((c, &v), (200, &clustered));
    let (c, one) = srv.get(&format!("/v1/addresses/{bech32}/exposure"));
    assert_eq!((c, &one), (200, &clustered["results"][k]));
}
