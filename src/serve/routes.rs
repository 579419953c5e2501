//! The HTTP routes and their JSON errors.

use super::App;
use crate::model::Chain;
use crate::report::PathsFor;
use crate::screen::answer::{Screener, bitcoin_form};
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{DefaultBodyLimit, Path, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

/// The OpenAPI document, kept in the repository.
pub(crate) const OPENAPI: &str = include_str!("../../docs/openapi.json");

/// Batches this small are answered on the async worker; larger ones on the
/// blocking pool, so one big batch does not stall other connections.
const INLINE_BATCH: usize = 256;

/// An error answer, `{"error": {"code", "message"}}`: its status, its code
/// (docs/openapi.json's `Error`) and the message. [`super::check_body`]
/// returns the refusals of a request body as the handlers answer them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// The HTTP status.
    pub status: u16,
    /// The error code.
    pub code: &'static str,
    /// What is wrong.
    pub message: String,
}

impl Refusal {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Refusal { status: status.as_u16(), code, message: message.into() }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": { "code": self.code, "message": self.message } });
        // Every status is made by `new` from a `StatusCode`.
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut r = (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response();
        // Too busy, or out of time: worth asking again shortly.
        if matches!(status, StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE) {
            r.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
        }
        r
    }
}

fn json_bytes(bytes: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], bytes).into_response()
}

fn body_error(r: BytesRejection) -> Refusal {
    if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
        Refusal::new(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large", r.body_text())
    } else {
        Refusal::new(StatusCode::BAD_REQUEST, "malformed_body", r.body_text())
    }
}

pub(crate) fn router(app: Arc<App>) -> Router {
    let limit = app.config.max_body;
    let timeout = app.config.request_timeout;
    // Only the routes that do real work get a timer: a single-address
    // answer is a few hash probes, and a timer per request costs more.
    let work = Router::new()
        .route("/v1/screen", post(screen))
        .route("/v1/trace", post(trace))
        .route_layer(axum::middleware::from_fn_with_state(timeout, time_limit));
    Router::new()
        .route("/v1/health", get(health))
        .route("/v1/addresses/{address}/exposure", get(exposure))
        .route("/v1/openapi.json", get(openapi))
        .merge(work)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(limit))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(|_: Box<dyn std::any::Any + Send>| {
            Refusal::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "the request failed inside the server").into_response()
        }))
        .with_state(app)
}

async fn time_limit(State(limit): State<Duration>, req: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(r) => r,
        Err(_) => {
            Refusal::new(StatusCode::SERVICE_UNAVAILABLE, "timeout", format!("the request took longer than {} s", limit.as_secs_f64()))
                .into_response()
        }
    }
}

async fn not_found() -> Refusal {
    Refusal::new(StatusCode::NOT_FOUND, "not_found", "no such route; see /v1/openapi.json")
}

async fn method_not_allowed() -> Refusal {
    Refusal::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "this route does not take that method; see /v1/openapi.json")
}

async fn openapi(State(app): State<Arc<App>>) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], app.document.clone()).into_response()
}

/// The OpenAPI document as this server serves it: the repository's, its
/// per-request limits replaced by `config`'s (the repository's file holds
/// the defaults), so that what it promises is what this server accepts.
pub(crate) fn document(config: &super::Config, chain: Chain) -> String {
    fn body<'d>(d: &'d mut serde_json::Value, path: &str) -> &'d mut serde_json::Value {
        &mut d["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]["properties"]
    }
    let mut d: serde_json::Value = serde_json::from_str(OPENAPI).expect("docs/openapi.json is JSON (a test parses it)");
    if !chain.is_account() {
        // A Bitcoin store's server takes Bitcoin's forms where the
        // repository's document (an account-model store's) takes 0x ones.
        let address = serde_json::json!({ "type": "string", "pattern": BITCOIN_ADDRESS, "description": BITCOIN_ADDRESS_TEXT });
        d["paths"]["/v1/addresses/{address}/exposure"]["get"]["parameters"][0]["description"] = BITCOIN_ADDRESS_TEXT.into();
        d["paths"]["/v1/addresses/{address}/exposure"]["get"]["parameters"][0]["schema"] = address.clone();
        body(&mut d, "/v1/screen")["addresses"]["items"] = address;
        let trace = body(&mut d, "/v1/trace");
        trace["seeds"]["items"] = serde_json::json!({
            "type": "string",
            "pattern": format!("^({}|[0-9a-fA-F]{{64}}:[0-9]{{1,9}})$", &BITCOIN_ADDRESS[2..BITCOIN_ADDRESS.len() - 2]),
            "description": "A Bitcoin address (base58 or bech32) or an output: its transaction id, ':' and its index.",
        });
        trace["seed_txs"]["items"] = serde_json::json!({ "type": "string", "pattern": "^[0-9a-fA-F]{64}$" });
    }
    let l = &config.limits;
    body(&mut d, "/v1/screen")["addresses"]["maxItems"] = config.max_batch.into();
    let trace = body(&mut d, "/v1/trace");
    trace["paths"]["maximum"] = l.paths.into();
    trace["flow_edges"]["maximum"] = l.flow_edges.into();
    trace["paths_for"]["anyOf"] = match l.paths_for {
        PathsFor::Top(n) => serde_json::json!([{ "type": "integer", "minimum": 0, "maximum": n }]),
        PathsFor::All => serde_json::json!([{ "type": "integer", "minimum": 0 }, { "type": "string", "enum": ["all"] }]),
    };
    for (k, v) in defaults(l) {
        trace[k]["default"] = v.into();
    }
    d.to_string()
}

/// The answer to a connection past `serve --max-connections`.
pub(crate) fn too_many_connections() -> Response {
    Refusal::new(StatusCode::SERVICE_UNAVAILABLE, "too_many_connections", "the server has as many connections as it takes; try again")
        .into_response()
}

async fn health(State(app): State<Arc<App>>) -> Response {
    let s = app.snapshot();
    let body = serde_json::json!({
        "status": "ok",
        "generation": s.store.gen_dir.file_name().map(|n| n.to_string_lossy().into_owned()),
        "events": s.store.len(),
        "addresses": s.store.address_count(),
        "asset": s.index.meta.asset,
        "categories": s.index.meta.categories,
        "exposure_entries": s.index.meta.entries,
    });
    json_bytes(body.to_string().into_bytes())
}

/// A Bitcoin address as a Bitcoin store's server takes it: what
/// [`bitcoin_form`] accepts, as a pattern.
const BITCOIN_ADDRESS: &str = "^([123mn2][1-9A-HJ-NP-Za-km-z]{24,34}|(bc|tb)1[qpzry9x8gf2tvdw0s3jn54khce6mua7l]{6,87}|bcrt1[qpzry9x8gf2tvdw0s3jn54khce6mua7l]{6,85}|(BC|TB)1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{6,87}|BCRT1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{6,85})$";
const BITCOIN_ADDRESS_TEXT: &str = "A Bitcoin address: base58 (1, 3, m, n or 2 first) or bech32 (bc1, tb1 or bcrt1 first; one case).";

/// The addresses of a screening request, in the forms of the store's chain.
pub(crate) enum Keys {
    /// Account-model addresses, 20 bytes each.
    Account(Vec<[u8; 20]>),
    /// Bitcoin addresses, normalised ([`bitcoin_form`]).
    Text(Vec<String>),
}

impl Keys {
    pub(crate) fn len(&self) -> usize {
        match self {
            Keys::Account(k) => k.len(),
            Keys::Text(t) => t.len(),
        }
    }
}

/// An address as the API takes it (docs/openapi.json): `0x` or `0X` and
/// 40 hex digits, nothing around them. The command line also takes bare
/// hex and spaces; the API holds to its document.
fn parse_address(text: &str) -> Result<[u8; 20], String> {
    strict_hex(text, 40).map_err(|m| format!("address {m}"))?;
    crate::model::text::eth_address("address", text.as_bytes()).map_err(|e| e.message)
}

/// `Err` unless `text` is `0x` (or `0X`) and `digits` hex digits.
fn strict_hex(text: &str, digits: usize) -> Result<(), String> {
    let b = text.as_bytes();
    let ok = b.len() == digits + 2 && b[0] == b'0' && (b[1] == b'x' || b[1] == b'X') && b[2..].iter().all(u8::is_ascii_hexdigit);
    if ok { Ok(()) } else { Err(format!("{text:?} is not 0x and {digits} hex digits")) }
}

async fn exposure(State(app): State<Arc<App>>, address: Result<Path<String>, PathRejection>) -> Result<Response, Refusal> {
    let Path(address) = address.map_err(|r| Refusal::new(StatusCode::BAD_REQUEST, "malformed_address", r.body_text()))?;
    let malformed = |m| Refusal::new(StatusCode::BAD_REQUEST, "malformed_address", format!("{address:?}: {m}"));
    let s = app.snapshot();
    let screener = Screener { store: &s.store, index: &s.index, risk: &app.config.risk };
    let mut out = Vec::with_capacity(512);
    if app.chain.is_account() {
        let key = parse_address(&address).map_err(malformed)?;
        screener.result_json(&mut out, &key, s.index.lookup(&key));
    } else {
        let text = bitcoin_form(&address).map_err(malformed)?;
        let id = s.index.lookup_text(&s.store, text.as_bytes());
        match &s.clusters {
            Some(c) => {
                let r = crate::screen::answer::cluster_result(&s.store, &s.index, &app.config.risk, c, text, id);
                serde_json::to_writer(&mut out, &r).map_err(internal)?;
            }
            None => screener.text_result_json(&mut out, &text, id),
        }
    }
    Ok(json_bytes(out))
}

fn internal(e: impl std::fmt::Display) -> Refusal {
    Refusal::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ScreenRequest<'a> {
    #[serde(borrow)]
    addresses: Vec<Cow<'a, str>>,
}

/// The addresses of a `POST /v1/screen` body, or why it is refused.
pub(crate) fn screen_keys(body: &[u8], max_batch: usize, chain: Chain) -> Result<Keys, Refusal> {
    let req: ScreenRequest<'_> =
        serde_json::from_slice(body).map_err(|e| Refusal::new(StatusCode::BAD_REQUEST, "malformed_body", e.to_string()))?;
    if req.addresses.len() > max_batch {
        return Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            "batch_too_large",
            format!("{} addresses; at most {} a request", req.addresses.len(), max_batch),
        ));
    }
    let malformed =
        |i: usize, a: &str, m: String| Refusal::new(StatusCode::BAD_REQUEST, "malformed_address", format!("addresses[{i}] {a:?}: {m}"));
    if !chain.is_account() {
        let texts = req.addresses.iter().enumerate().map(|(i, a)| bitcoin_form(a).map_err(|m| malformed(i, a, m)));
        return Ok(Keys::Text(texts.collect::<Result<_, _>>()?));
    }
    let mut keys = Vec::with_capacity(req.addresses.len());
    for (i, a) in req.addresses.iter().enumerate() {
        keys.push(parse_address(a).map_err(|m| malformed(i, a, m))?);
    }
    Ok(Keys::Account(keys))
}

async fn screen(State(app): State<Arc<App>>, body: Result<Bytes, BytesRejection>) -> Result<Response, Refusal> {
    let body = body.map_err(body_error)?;
    let keys = screen_keys(&body, app.config.max_batch, app.chain)?;
    let small = keys.len() <= INLINE_BATCH;
    let work = move || -> Result<Vec<u8>, Refusal> {
        let s = app.snapshot();
        let screener = Screener { store: &s.store, index: &s.index, risk: &app.config.risk };
        Ok(match (&keys, &s.clusters) {
            (Keys::Account(k), _) => screener.screen_json(k),
            (Keys::Text(t), None) => screener.screen_text_json(t),
            (Keys::Text(t), Some(c)) => {
                let mut ids = Vec::with_capacity(t.len());
                s.index.lookup_text_batch(&s.store, t, &mut ids);
                let results = t
                    .iter()
                    .zip(ids)
                    .map(|(text, id)| crate::screen::answer::cluster_result(&s.store, &s.index, &app.config.risk, c, text.clone(), id))
                    .collect();
                serde_json::to_vec(&crate::screen::answer::ScreenAnswer { results }).map_err(internal)?
            }
        })
    };
    let bytes = if small { work()? } else { tokio::task::spawn_blocking(work).await.map_err(internal)?? };
    Ok(json_bytes(bytes))
}

/// A trace request's defaults for evidence (INTERFACE.md's), each no
/// more than `l` allows.
fn defaults(l: &super::Limits) -> [(&'static str, usize); 3] {
    let most = |p: PathsFor| match p {
        PathsFor::Top(n) => n,
        PathsFor::All => usize::MAX,
    };
    [
        ("paths", crate::app::trace::DEFAULT_PATHS.min(l.paths)),
        ("paths_for", most(PathsFor::DEFAULT).min(most(l.paths_for))),
        ("flow_edges", crate::trace::flow::DEFAULT_EDGES.min(l.flow_edges)),
    ]
}

/// JSON Schema counts `3.0` and `3e2` as integers: the integer fields of a
/// trace request take them as `3` and `300`, so that the document's
/// `"type": "integer"` means what it says.
fn whole_numbers(v: &mut serde_json::Value) {
    for k in ["paths", "paths_for", "flow_edges", "max_hops", "from_block", "to_block"] {
        let Some(serde_json::Value::Number(n)) = v.get(k) else { continue };
        if n.is_u64() || n.is_i64() {
            continue;
        }
        let text = n.to_string();
        // Digits and a fraction of zeros: exact at any size.
        let exact =
            text.split_once('.').filter(|(i, f)| !i.is_empty() && i.bytes().all(|c| c.is_ascii_digit()) && f.bytes().all(|c| c == b'0'));
        let whole = match exact {
            Some((i, _)) => i.parse::<u64>().ok(),
            // Else as a double, where that is exact (below 2^53).
            None => n.as_f64().filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f < 9_007_199_254_740_992.0).map(|f| f as u64),
        };
        if let Some(w) = whole {
            v[k] = w.into();
        }
    }
}

/// Cancels a trace's budget when its request is dropped: the time limit
/// passed (the answer is then 503) or the client went away.
struct CancelOnDrop(crate::trace::Budget);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

/// What a trace request asks checked against the document before any work:
/// seeds of the right forms, and paths and flow edges within the limits.
fn check_trace(q: &mut crate::app::trace::Query, l: &super::Limits, chain: Chain) -> Result<(), Refusal> {
    let bad = |code, m: String| Err(Refusal::new(StatusCode::BAD_REQUEST, code, m));
    if q.seeds.is_empty() && q.seed_txs.is_empty() {
        return bad("bad_request", "give at least one seed or seed transaction".into());
    }
    if q.max_hops == Some(0) {
        return bad("bad_request", "max_hops must be at least 1".into());
    }
    if !chain.is_account() {
        let hex64 = |t: &str| t.len() == 64 && t.bytes().all(|c| c.is_ascii_hexdigit());
        for (i, t) in q.seeds.iter_mut().enumerate() {
            let output =
                t.split_once(':').is_some_and(|(tx, n)| hex64(tx) && (1..=9).contains(&n.len()) && n.bytes().all(|c| c.is_ascii_digit()));
            if output {
                continue;
            }
            match bitcoin_form(t) {
                Ok(normal) => *t = normal,
                Err(m) => return bad("malformed_seed", format!("seeds[{i}]: {m}, nor an output (TXID:N)")),
            }
        }
        for (i, t) in q.seed_txs.iter().enumerate() {
            if !hex64(t) {
                return bad("malformed_seed", format!("seed_txs[{i}] {t:?}: expected 64 hex digits"));
            }
        }
    }
    for (i, t) in q.seeds.iter().enumerate().filter(|_| chain.is_account()) {
        // A transaction takes a lowercase 0x, as the command line reads it.
        if strict_hex(t, 40).is_err() && !(t.starts_with("0x") && strict_hex(t, 64).is_ok()) {
            return bad("malformed_seed", format!("seeds[{i}] {t:?}: expected 0x and 40 hex digits (an address) or 64 (a transaction)"));
        }
    }
    for (i, t) in q.seed_txs.iter().enumerate().filter(|_| chain.is_account()) {
        if let Err(m) = strict_hex(t, 64) {
            return bad("malformed_seed", format!("seed_txs[{i}]: {m}"));
        }
    }
    let limit = |what: &str, n: usize, max: usize| {
        if n > max { bad("too_costly", format!("{what} {n}: this server's limit is {max}")) } else { Ok(()) }
    };
    limit("paths", q.paths, l.paths)?;
    limit("flow_edges", q.flow_edges, l.flow_edges)?;
    match (q.paths_for, l.paths_for) {
        (PathsFor::Top(n), PathsFor::Top(max)) => limit("paths_for", n, max),
        (PathsFor::All, PathsFor::Top(max)) => {
            bad("too_costly", format!("paths_for \"all\": this server walks paths for at most {max} destinations"))
        }
        (_, PathsFor::All) => Ok(()),
    }
}

/// The question of a `POST /v1/trace` body, checked against the document
/// and the server's limits before any work, or why it is refused.
pub(crate) fn trace_query(body: &[u8], limits: &super::Limits, chain: Chain) -> Result<crate::app::trace::Query, Refusal> {
    let malformed = |e: serde_json::Error| Refusal::new(StatusCode::BAD_REQUEST, "malformed_body", e.to_string());
    let mut v: serde_json::Value = serde_json::from_slice(body).map_err(malformed)?;
    whole_numbers(&mut v);
    // What a request leaves out is the default, within this server's limits.
    if let Some(fields) = v.as_object_mut() {
        for (k, d) in defaults(limits) {
            fields.entry(k).or_insert(d.into());
        }
    }
    let mut q: crate::app::trace::Query = serde_json::from_value(v).map_err(malformed)?;
    check_trace(&mut q, limits, chain)?;
    Ok(q)
}

async fn trace(State(app): State<Arc<App>>, body: Result<Bytes, BytesRejection>) -> Result<Response, Refusal> {
    let body = body.map_err(body_error)?;
    let mut q = trace_query(&body, &app.config.limits, app.chain)?;
    // One store generation for the whole request. An asset it does not
    // hold is not there: 404, as a route would be.
    let s = app.snapshot();
    crate::trace::resolve_asset(&s.store, q.asset.as_deref())
        .map_err(|e| Refusal::new(StatusCode::NOT_FOUND, "not_found", e.to_string()))?;
    let permit = app.traces.clone().try_acquire_owned().map_err(|_| {
        Refusal::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_traces",
            format!("{} traces are running, this server's limit; try again", app.config.limits.traces),
        )
    })?;
    q.budget = crate::trace::Budget::new(app.config.limits.trace_events);
    let _cancel = CancelOnDrop(q.budget.clone());
    let bytes = tokio::task::spawn_blocking(move || -> Result<Vec<u8>, Refusal> {
        let _permit = permit;
        let (report, notes) = crate::app::trace::answer(&s.store, &q).map_err(|e| match e {
            // The request was checked against the document: what is left is
            // a store that cannot answer it (block numbers it lacks, labels
            // with intervals but no times).
            crate::trace::TraceError::Usage(m) => Refusal::new(StatusCode::CONFLICT, "store_cannot_answer", m),
            crate::trace::TraceError::Halted(h @ crate::trace::Halt::TooManyEvents(_)) => {
                Refusal::new(StatusCode::UNPROCESSABLE_ENTITY, "too_costly", h.to_string())
            }
            crate::trace::TraceError::Halted(h @ crate::trace::Halt::Cancelled) => {
                Refusal::new(StatusCode::SERVICE_UNAVAILABLE, "timeout", h.to_string())
            }
            other => internal(other),
        })?;
        // The report straight to bytes, its closing brace giving way to the
        // warnings: a JSON value tree of a wide report first took longer
        // than the trace.
        let mut bytes = serde_json::to_vec(&report).map_err(internal)?;
        if bytes.pop() != Some(b'}') {
            return Err(internal("the report is not a JSON object"));
        }
        bytes.extend_from_slice(b",\"warnings\":");
        serde_json::to_writer(&mut bytes, &notes.warnings).map_err(internal)?;
        bytes.push(b'}');
        Ok(bytes)
    })
    .await
    .map_err(internal)??;
    Ok(json_bytes(bytes))
}
