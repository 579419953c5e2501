//! The HTTP routes and their JSON errors.

use super::App;
use crate::screen::answer::Screener;
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

/// An error answer: `{"error": {"code", "message"}}`.
pub(crate) struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError { status, code, message: message.into() }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": { "code": self.code, "message": self.message } });
        (self.status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
    }
}

fn json_bytes(bytes: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], bytes).into_response()
}

fn body_error(r: BytesRejection) -> ApiError {
    if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large", r.body_text())
    } else {
        ApiError::new(StatusCode::BAD_REQUEST, "malformed_body", r.body_text())
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
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "the request failed inside the server").into_response()
        }))
        .with_state(app)
}

async fn time_limit(State(limit): State<Duration>, req: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(r) => r,
        Err(_) => {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "timeout", format!("the request took longer than {} s", limit.as_secs_f64()))
                .into_response()
        }
    }
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route; see /v1/openapi.json")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "this route does not take that method; see /v1/openapi.json")
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
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

fn parse_address(text: &str) -> Result<[u8; 20], String> {
    crate::model::text::eth_address("address", text.as_bytes()).map_err(|e| e.message)
}

async fn exposure(State(app): State<Arc<App>>, address: Result<Path<String>, PathRejection>) -> Result<Response, ApiError> {
    let Path(address) = address.map_err(|r| ApiError::new(StatusCode::BAD_REQUEST, "malformed_address", r.body_text()))?;
    let key =
        parse_address(&address).map_err(|m| ApiError::new(StatusCode::BAD_REQUEST, "malformed_address", format!("{address:?}: {m}")))?;
    let s = app.snapshot();
    let screener = Screener { store: &s.store, index: &s.index, risk: &app.config.risk };
    let mut out = Vec::with_capacity(512);
    screener.result_json(&mut out, &key, s.index.lookup(&key));
    Ok(json_bytes(out))
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ScreenRequest<'a> {
    #[serde(borrow)]
    addresses: Vec<Cow<'a, str>>,
}

async fn screen(State(app): State<Arc<App>>, body: Result<Bytes, BytesRejection>) -> Result<Response, ApiError> {
    let body = body.map_err(body_error)?;
    let req: ScreenRequest<'_> =
        serde_json::from_slice(&body).map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "malformed_body", e.to_string()))?;
    if req.addresses.len() > app.config.max_batch {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "batch_too_large",
            format!("{} addresses; at most {} a request", req.addresses.len(), app.config.max_batch),
        ));
    }
    let mut keys = Vec::with_capacity(req.addresses.len());
    for (i, a) in req.addresses.iter().enumerate() {
        keys.push(
            parse_address(a)
                .map_err(|m| ApiError::new(StatusCode::BAD_REQUEST, "malformed_address", format!("addresses[{i}] {a:?}: {m}")))?,
        );
    }
    let small = keys.len() <= INLINE_BATCH;
    drop(req);
    let work = move || -> Result<Vec<u8>, ApiError> {
        let s = app.snapshot();
        Ok(Screener { store: &s.store, index: &s.index, risk: &app.config.risk }.screen_json(&keys))
    };
    let bytes = if small { work()? } else { tokio::task::spawn_blocking(work).await.map_err(internal)?? };
    Ok(json_bytes(bytes))
}

async fn trace(State(app): State<Arc<App>>, body: Result<Bytes, BytesRejection>) -> Result<Response, ApiError> {
    let body = body.map_err(body_error)?;
    let q: crate::app::trace::Query =
        serde_json::from_slice(&body).map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "malformed_body", e.to_string()))?;
    let bytes = tokio::task::spawn_blocking(move || -> Result<Vec<u8>, ApiError> {
        let s = app.snapshot();
        let (report, notes) = crate::app::trace::answer(&s.store, &q).map_err(|e| match e {
            crate::trace::TraceError::Usage(m) => ApiError::new(StatusCode::BAD_REQUEST, "bad_request", m),
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
